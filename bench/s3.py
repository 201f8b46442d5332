"""The files S3 endpoint with boto3: one large object up and down, many small PUTs, and a
1,000-key listing page, against the disk's own speed for the same bytes (the limit).

Environment: S3_ENDPOINT, S3_KEY, S3_SECRET, S3_BUCKET; optional BENCH_LARGE_MB (256),
BENCH_SMALL (1000), BENCH_DIR (a folder on the disk Plinth stores to, for the disk figure).
"""

import os
import statistics
import tempfile
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1024 * 1024
large_mb = int(os.environ.get("BENCH_LARGE_MB", "256"))
small = int(os.environ.get("BENCH_SMALL", "1000"))
bucket = os.environ["S3_BUCKET"]
client = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT"],
    aws_access_key_id=os.environ["S3_KEY"],
    aws_secret_access_key=os.environ["S3_SECRET"],
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
)
transfer = TransferConfig(multipart_threshold=64 * MIB, multipart_chunksize=64 * MIB, max_concurrency=4)

with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as scratch:
    source = os.path.join(scratch, "large.bin")
    chunk = os.urandom(MIB)
    started = time.perf_counter()
    with open(source, "wb") as handle:
        for _ in range(large_mb):
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    disk = large_mb / (time.perf_counter() - started)
    started = time.perf_counter()
    client.upload_file(source, bucket, "bench/large.bin", Config=transfer)
    up = large_mb / (time.perf_counter() - started)
    target = os.path.join(scratch, "back.bin")
    started = time.perf_counter()
    client.download_file(bucket, "bench/large.bin", target, Config=transfer)
    down = large_mb / (time.perf_counter() - started)
    print(f"large object, {large_mb} MiB: disk write {disk:.0f} MiB/s; upload {up:.0f} MiB/s ({up / disk:.0%} of disk); download {down:.0f} MiB/s")

body = b"x" * 1024
started = time.perf_counter()
for index in range(small):
    client.put_object(Bucket=bucket, Key=f"bench/small/{index:06d}.txt", Body=body)
puts = small / (time.perf_counter() - started)
print(f"{small} small PUTs (1 KiB, one connection, sequential): {puts:.0f} PUTs/s")

timings = []
for _ in range(5):
    started = time.perf_counter()
    page = client.list_objects_v2(Bucket=bucket, Prefix="bench/small/", MaxKeys=1000)
    timings.append((time.perf_counter() - started) * 1000)
print(f"a {page['KeyCount']}-key list page: median {statistics.median(timings):.1f} ms")
