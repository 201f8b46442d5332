"""The real boto3 and aws CLI against Plinth's S3 endpoint (crates/plinth/tests/it/files.rs).

Environment: S3_ENDPOINT, BUCKET (the owner's project), OTHER_BUCKET (a project the scoped
and the viewer's keys cannot see), and KEY/SECRET pairs: OWNER_* (read-write, all projects),
SCOPED_RO_* (read-only, scoped to BUCKET), VIEWER_* (a Viewer of BUCKET), REVOKED_*.
AWS_CLI is the `aws` executable.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
BUCKET = os.environ["BUCKET"]
OTHER_BUCKET = os.environ["OTHER_BUCKET"]
MIB = 1024 * 1024


def s3(prefix, secret=None, signature_version="s3v4"):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=os.environ[f"{prefix}_KEY"],
        aws_secret_access_key=secret or os.environ[f"{prefix}_SECRET"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, signature_version=signature_version),
    )


def code_of(call):
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError("the call succeeded but should have been refused")


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok: {name}", flush=True)


owner = s3("OWNER")

# ---- buckets ----
buckets = [bucket["Name"] for bucket in owner.list_buckets()["Buckets"]]
check("list_buckets shows the caller's projects", BUCKET in buckets and OTHER_BUCKET in buckets, buckets)
scoped_buckets = [bucket["Name"] for bucket in s3("SCOPED_RO").list_buckets()["Buckets"]]
check("a scoped key lists only its project", scoped_buckets == [BUCKET], scoped_buckets)
owner.head_bucket(Bucket=BUCKET)
check("head_bucket of an unknown project", code_of(lambda: owner.head_bucket(Bucket="acme.nothing")) in ("404", "NoSuchBucket"))

# ---- put, get with ranges, head ----
body = bytes(range(256)) * 40  # 10240 bytes
put = owner.put_object(Bucket=BUCKET, Key="top.bin", Body=body)
check("put_object answers an ETag", put["ETag"].startswith('"'), put)
got = owner.get_object(Bucket=BUCKET, Key="top.bin")
check("get_object returns the bytes", got["Body"].read() == body)
ranged = owner.get_object(Bucket=BUCKET, Key="top.bin", Range="bytes=100-199")
check("a byte range", ranged["Body"].read() == body[100:200] and ranged["ContentRange"] == "bytes 100-199/10240", ranged.get("ContentRange"))
check("a range's status is 206", ranged["ResponseMetadata"]["HTTPStatusCode"] == 206)
suffix = owner.get_object(Bucket=BUCKET, Key="top.bin", Range="bytes=-16")["Body"].read()
check("a suffix range", suffix == body[-16:])
open_ended = owner.get_object(Bucket=BUCKET, Key="top.bin", Range="bytes=10000-")["Body"].read()
check("an open-ended range", open_ended == body[10000:])
check("a range past the end", code_of(lambda: owner.get_object(Bucket=BUCKET, Key="top.bin", Range="bytes=20000-30000")) == "InvalidRange")
head = owner.head_object(Bucket=BUCKET, Key="top.bin")
check("head_object", head["ContentLength"] == len(body) and head["ETag"] == put["ETag"], head)
check("a missing key", code_of(lambda: owner.get_object(Bucket=BUCKET, Key="missing.bin")) == "NoSuchKey")
odd = "odd names/with space+plus=eq&amp;ünï.txt"
owner.put_object(Bucket=BUCKET, Key=odd, Body=b"odd")
check("keys with spaces, +, & and UTF-8", owner.get_object(Bucket=BUCKET, Key=odd)["Body"].read() == b"odd")
owner.put_object(Bucket=BUCKET, Key="empty.txt", Body=b"")
check("an empty object", owner.get_object(Bucket=BUCKET, Key="empty.txt")["Body"].read() == b"")

# ---- list v2: prefix, delimiter, pagination ----
for key in ["data/a.csv", "data/b.csv", "data/sub/c.csv", "data/sub/deeper/d.csv", "datalake.txt", "logs/x.txt"]:
    owner.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
listing = owner.list_objects_v2(Bucket=BUCKET, Prefix="data/", Delimiter="/")
keys = [item["Key"] for item in listing.get("Contents", [])]
prefixes = [item["Prefix"] for item in listing.get("CommonPrefixes", [])]
check("prefix and delimiter", keys == ["data/a.csv", "data/b.csv"] and prefixes == ["data/sub/"], (keys, prefixes))
listing = owner.list_objects_v2(Bucket=BUCKET, Prefix="data")
keys = [item["Key"] for item in listing.get("Contents", [])]
check("a prefix is a string prefix", keys == ["data/a.csv", "data/b.csv", "data/sub/c.csv", "data/sub/deeper/d.csv", "datalake.txt"], keys)
root = owner.list_objects_v2(Bucket=BUCKET, Delimiter="/")
check(
    "the root's folders",
    [item["Prefix"] for item in root["CommonPrefixes"]] == ["data/", "logs/", "odd names/"],
    root.get("CommonPrefixes"),
)
everything = [item["Key"] for item in owner.list_objects_v2(Bucket=BUCKET)["Contents"]]
pages = list(owner.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 3}))
paged = [item["Key"] for page in pages for item in page.get("Contents", [])]
check("pagination walks every key once, in order", paged == everything and len(pages) == -(-len(everything) // 3), (len(pages), paged, everything))
first = owner.list_objects_v2(Bucket=BUCKET, MaxKeys=2)
check("max-keys truncates", first["IsTruncated"] and first["KeyCount"] == 2 and "NextContinuationToken" in first, first)
after = owner.list_objects_v2(Bucket=BUCKET, StartAfter="data/sub/deeper/d.csv")
check("start-after", [item["Key"] for item in after["Contents"]][0] == "datalake.txt")

# ---- copy ----
copied = owner.copy_object(Bucket=BUCKET, Key="copies/top.bin", CopySource={"Bucket": BUCKET, "Key": "top.bin"})
check("copy_object", owner.get_object(Bucket=BUCKET, Key="copies/top.bin")["Body"].read() == body, copied)
owner.copy_object(Bucket=OTHER_BUCKET, Key="from-churn.bin", CopySource={"Bucket": BUCKET, "Key": "top.bin"})
check("copy across the caller's projects", owner.get_object(Bucket=OTHER_BUCKET, Key="from-churn.bin")["Body"].read() == body)

# ---- multipart: small parts by hand, list parts, abort, and boto3's own transfer ----
upload = owner.create_multipart_upload(Bucket=BUCKET, Key="multi/by-hand.bin")
parts_data = [b"a" * 1000, b"b" * 2000, b"c" * 10]
etags = []
for number, data in enumerate(parts_data, start=1):
    answer = owner.upload_part(Bucket=BUCKET, Key="multi/by-hand.bin", UploadId=upload["UploadId"], PartNumber=number, Body=data)
    etags.append(answer["ETag"])
    check(f"part {number}'s ETag is its MD5", answer["ETag"].strip('"') == hashlib.md5(data).hexdigest(), answer["ETag"])
listed = owner.list_parts(Bucket=BUCKET, Key="multi/by-hand.bin", UploadId=upload["UploadId"])
check("list_parts", [(part["PartNumber"], part["Size"]) for part in listed["Parts"]] == [(1, 1000), (2, 2000), (3, 10)], listed["Parts"])
check(
    "a completion naming a part never uploaded",
    code_of(lambda: owner.complete_multipart_upload(Bucket=BUCKET, Key="multi/by-hand.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 9, "ETag": etags[0]}]})) == "InvalidPart",
)
owner.complete_multipart_upload(
    Bucket=BUCKET,
    Key="multi/by-hand.bin",
    UploadId=upload["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": tag} for n, tag in enumerate(etags, start=1)]},
)
check("a completed upload is the parts in order", owner.get_object(Bucket=BUCKET, Key="multi/by-hand.bin")["Body"].read() == b"".join(parts_data))
check("a completed upload is gone", code_of(lambda: owner.list_parts(Bucket=BUCKET, Key="multi/by-hand.bin", UploadId=upload["UploadId"])) == "NoSuchUpload")
aborted = owner.create_multipart_upload(Bucket=BUCKET, Key="multi/aborted.bin")
owner.upload_part(Bucket=BUCKET, Key="multi/aborted.bin", UploadId=aborted["UploadId"], PartNumber=1, Body=b"x" * 100)
owner.abort_multipart_upload(Bucket=BUCKET, Key="multi/aborted.bin", UploadId=aborted["UploadId"])
check("an aborted upload is gone", code_of(lambda: owner.list_parts(Bucket=BUCKET, Key="multi/aborted.bin", UploadId=aborted["UploadId"])) == "NoSuchUpload")
check("an aborted upload made no object", code_of(lambda: owner.head_object(Bucket=BUCKET, Key="multi/aborted.bin")) in ("404", "NoSuchKey"))
check(
    "an upload id of another key",
    code_of(lambda: owner.upload_part(Bucket=BUCKET, Key="multi/other.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")) == "NoSuchUpload",
)
with tempfile.TemporaryDirectory() as scratch:
    big = os.path.join(scratch, "big.bin")
    with open(big, "wb") as handle:
        handle.write(os.urandom(12 * MIB + 123))
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=3)
    owner.upload_file(big, BUCKET, "multi/big.bin", Config=config)
    back = os.path.join(scratch, "back.bin")
    owner.download_file(BUCKET, "multi/big.bin", back, Config=config)
    check("boto3's multipart upload and ranged download", open(big, "rb").read() == open(back, "rb").read())
    check("no upload is left over", owner.list_objects_v2(Bucket=BUCKET, Prefix="multi/")["KeyCount"] == 2)

# ---- presigned URLs ----
url = owner.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "top.bin"}, ExpiresIn=300)
check("presigned URLs are SigV4", "X-Amz-Signature=" in url, url)
with urllib.request.urlopen(url) as answer:
    check("a presigned GET", answer.read() == body)
v2_url = s3("OWNER", signature_version="s3").generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "top.bin"}, ExpiresIn=300)
with urllib.request.urlopen(v2_url) as answer:
    check("a presigned GET signed the older way (SigV2, boto3's default)", "Signature=" in v2_url and answer.read() == body)
url = owner.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "presigned/put.txt"}, ExpiresIn=300)
request = urllib.request.Request(url, data=b"put through a presigned URL", method="PUT")
with urllib.request.urlopen(request) as answer:
    check("a presigned PUT", answer.status == 200)
check("the presigned PUT's object", owner.get_object(Bucket=BUCKET, Key="presigned/put.txt")["Body"].read() == b"put through a presigned URL")


def http_error_code(url, method="GET", data=None):
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=data, method=method))
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else str(error.code)
    raise AssertionError(f"{method} {url} succeeded but should have been refused")


tampered = owner.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "top.bin"}, ExpiresIn=300).replace("top.bin", "empty.txt")
check("a presigned URL for another key", http_error_code(tampered) == "SignatureDoesNotMatch")
expired = owner.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "top.bin"}, ExpiresIn=1)
time.sleep(2)
expired_code = http_error_code(expired)
check("an expired presigned URL", expired_code in ("AccessDenied", "ExpiredToken", "RequestTimeTooSkewed"), expired_code)

# ---- refusals ----
wrong = s3("OWNER", secret="x" * 40)
check("a wrong secret", code_of(lambda: wrong.get_object(Bucket=BUCKET, Key="top.bin")) == "SignatureDoesNotMatch")
revoked = s3("REVOKED")
revoked_code = code_of(lambda: revoked.list_objects_v2(Bucket=BUCKET))
check("a revoked key", revoked_code == "InvalidAccessKeyId", revoked_code)
unknown = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="PLKAAAAAAAAAAAAAAAAA", aws_secret_access_key="y" * 40, region_name="us-east-1")
check("an unknown key", code_of(lambda: unknown.list_buckets()) == "InvalidAccessKeyId")
scoped = s3("SCOPED_RO")
check("a scoped key reads its project", scoped.get_object(Bucket=BUCKET, Key="top.bin")["Body"].read() == body)
other_code = code_of(lambda: scoped.get_object(Bucket=OTHER_BUCKET, Key="from-churn.bin"))
check("a scoped key and another project", other_code in ("NoSuchBucket", "AccessDenied"), other_code)
check("a read-only key cannot put", code_of(lambda: scoped.put_object(Bucket=BUCKET, Key="ro.txt", Body=b"no")) == "AccessDenied")
check("a read-only key cannot delete", code_of(lambda: scoped.delete_object(Bucket=BUCKET, Key="top.bin")) == "AccessDenied")
check("a read-only key cannot start an upload", code_of(lambda: scoped.create_multipart_upload(Bucket=BUCKET, Key="ro.bin")) == "AccessDenied")
viewer = s3("VIEWER")
check("a Viewer reads", viewer.get_object(Bucket=BUCKET, Key="top.bin")["Body"].read() == body)
check("a Viewer cannot write", code_of(lambda: viewer.put_object(Bucket=BUCKET, Key="viewer.txt", Body=b"no")) == "AccessDenied")
check("a Viewer cannot copy into the project", code_of(lambda: viewer.copy_object(Bucket=BUCKET, Key="v.bin", CopySource={"Bucket": BUCKET, "Key": "top.bin"})) == "AccessDenied")
viewer_other = code_of(lambda: viewer.list_objects_v2(Bucket=OTHER_BUCKET))
check("a project the Viewer is not in", viewer_other == "NoSuchBucket", viewer_other)
check("a copy out of a project the caller cannot see", code_of(lambda: viewer.copy_object(Bucket=BUCKET, Key="x.bin", CopySource={"Bucket": OTHER_BUCKET, "Key": "from-churn.bin"})) in ("AccessDenied", "NoSuchBucket"))
for bad_key in ["a/../../escape.txt", "../escape.txt", "a/./b.txt", "%2e%2e/escape.txt", "a%2fb.txt", "nul\x00.txt", "k" * 1025, "a//b.txt"]:
    code = code_of(lambda: owner.put_object(Bucket=BUCKET, Key=bad_key, Body=b"no"))
    check(f"the key {bad_key[:20]!r} is refused", code in ("InvalidArgument", "KeyTooLongError", "InvalidURI"), code)

# ---- delete ----
owner.delete_object(Bucket=BUCKET, Key="copies/top.bin")
check("delete_object", code_of(lambda: owner.get_object(Bucket=BUCKET, Key="copies/top.bin")) == "NoSuchKey")
deleted = owner.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "data/a.csv"}, {"Key": "data/b.csv"}, {"Key": "../bad"}]})
check("delete_objects", sorted(item["Key"] for item in deleted["Deleted"]) == ["data/a.csv", "data/b.csv"] and deleted["Errors"][0]["Key"] == "../bad", deleted)
left = [item["Key"] for item in owner.list_objects_v2(Bucket=BUCKET, Prefix="data/")["Contents"]]
check("deleted keys are gone", left == ["data/sub/c.csv", "data/sub/deeper/d.csv"], left)

# ---- the aws CLI ----
aws_env = dict(
    os.environ,
    AWS_ACCESS_KEY_ID=os.environ["OWNER_KEY"],
    AWS_SECRET_ACCESS_KEY=os.environ["OWNER_SECRET"],
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE="/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
)


def aws(*args, env=aws_env, ok=True):
    result = subprocess.run([os.environ["AWS_CLI"], "--endpoint-url", ENDPOINT, *args], env=env, capture_output=True, text=True)
    if ok and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {result.stdout}\n{result.stderr}")
    return result


with tempfile.TemporaryDirectory() as scratch:
    small = os.path.join(scratch, "small.txt")
    with open(small, "w") as handle:
        handle.write("from the aws CLI\n")
    big = os.path.join(scratch, "big.bin")
    with open(big, "wb") as handle:
        handle.write(os.urandom(9 * MIB + 7))
    aws("s3", "cp", small, f"s3://{BUCKET}/cli/small.txt")
    aws("s3", "cp", big, f"s3://{BUCKET}/cli/big.bin")
    listing = aws("s3", "ls", f"s3://{BUCKET}/cli/").stdout
    check("aws s3 ls", "small.txt" in listing and "big.bin" in listing and str(9 * MIB + 7) in listing, listing)
    back = os.path.join(scratch, "back.bin")
    aws("s3", "cp", f"s3://{BUCKET}/cli/big.bin", back)
    check("aws s3 cp, multipart both ways", open(big, "rb").read() == open(back, "rb").read())
    folders = json.loads(aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--delimiter", "/", "--prefix", "data/").stdout)
    check("aws s3api list-objects-v2", [p["Prefix"] for p in folders["CommonPrefixes"]] == ["data/sub/"], folders)
    buckets = aws("s3", "ls").stdout
    check("aws s3 ls (buckets)", BUCKET in buckets and OTHER_BUCKET in buckets, buckets)
    synced = os.path.join(scratch, "synced")
    aws("s3", "sync", f"s3://{BUCKET}/data/", synced)
    check("aws s3 sync down", open(os.path.join(synced, "sub/deeper/d.csv")).read() == "data/sub/deeper/d.csv")
    aws("s3", "rm", "--recursive", f"s3://{BUCKET}/cli/")
    check("aws s3 rm --recursive", "Contents" not in json.loads(aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "cli/").stdout or "{}"))
    wrong_env = dict(aws_env, AWS_SECRET_ACCESS_KEY="z" * 40)
    refused = aws("s3", "ls", f"s3://{BUCKET}/", env=wrong_env, ok=False)
    check("aws with a wrong secret", refused.returncode != 0 and "SignatureDoesNotMatch" in refused.stderr, refused.stderr)

print("all S3 client checks passed")
sys.exit(0)
