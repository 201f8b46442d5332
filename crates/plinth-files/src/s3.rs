//! The S3 endpoint: s3s parses requests, checks SigV4 signatures (headers and presigned
//! URLs) with the secrets [`FilesService`] keeps, and calls [`PlinthS3`], which maps each
//! operation onto a project's files in the [`ArtifactStore`](plinth_artifacts::ArtifactStore).
//!
//! The endpoint has a listener of its own (`files.s3_listen`): SigV4 signs the request's
//! path, and s3s reads the bucket from the same path, so it cannot sit under a prefix
//! such as `/s3` of the main listener.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use plinth_artifacts::{ArtifactError, ObjectInfo, ObjectKey};
use plinth_core::Principal;
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

use crate::error::FilesError;
use crate::names::{self, listing_directory};
use crate::service::{part_key, Bucket as ProjectBucket, FilesService};
use crate::store::PartRecord;

/// Most keys a listing returns per page.
const MAX_KEYS: usize = 1000;
/// Highest part number S3 allows.
const MAX_PART_NUMBER: i32 = 10_000;

/// Returns the S3 error a files error is, in S3's codes.
pub fn s3_error_of(error: FilesError) -> S3Error {
    let message = error.to_string();
    let code = match &error {
        FilesError::InvalidArgument { .. } | FilesError::InvalidKey(_) => {
            S3ErrorCode::InvalidArgument
        }
        FilesError::KeyTooLong => S3ErrorCode::KeyTooLongError,
        FilesError::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        FilesError::NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        FilesError::NotFound { .. } => S3ErrorCode::NoSuchKey,
        FilesError::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        FilesError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        FilesError::InvalidAccessKeyId => S3ErrorCode::InvalidAccessKeyId,
        FilesError::AccessDenied(_) => S3ErrorCode::AccessDenied,
        FilesError::Core(core) => match core {
            plinth_core::CoreError::Forbidden(_) | plinth_core::CoreError::Unauthenticated(_) => {
                S3ErrorCode::AccessDenied
            }
            plinth_core::CoreError::NotFound { .. } => S3ErrorCode::NoSuchBucket,
            _ => return internal(error),
        },
        FilesError::Artifact(ArtifactError::NotFound { .. }) => S3ErrorCode::NoSuchKey,
        FilesError::Artifact(ArtifactError::InvalidKey { .. }) => S3ErrorCode::InvalidArgument,
        FilesError::Artifact(_) | FilesError::Sealed(_) | FilesError::Store(_) => {
            return internal(error)
        }
    };
    S3Error::with_message(code, message)
}

fn internal(error: FilesError) -> S3Error {
    tracing::error!(error = %plinth_error_chain(&error), "S3 request failed");
    S3Error::with_message(S3ErrorCode::InternalError, "internal error")
}

fn plinth_error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Checks signatures with the secrets of live access keys.
#[derive(Clone, Debug)]
pub struct AccessKeyAuth {
    files: FilesService,
}

impl AccessKeyAuth {
    /// Returns the checker over `files`' keys.
    pub fn new(files: FilesService) -> Self {
        AccessKeyAuth { files }
    }
}

#[async_trait::async_trait]
impl S3Auth for AccessKeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.files
            .secret_key(access_key)
            .await
            .map(SecretKey::from)
            .map_err(s3_error_of)
    }
}

/// Accepts the bucket names that can be projects (up to 127 bytes: `org.project`).
#[derive(Clone, Copy, Debug)]
pub struct ProjectBucketNames;

impl s3s::validation::NameValidation for ProjectBucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        // Names that cannot be projects pass too, so the handler answers `NoSuchBucket`
        // rather than the parser an `InvalidBucketName`; what is left must be non-empty
        // and free of `/`.
        !name.is_empty() && !name.contains('/') && name.len() <= 255
    }
}

/// The S3 operations over Plinth's projects.
#[derive(Clone, Debug)]
pub struct PlinthS3 {
    files: FilesService,
}

impl PlinthS3 {
    /// Returns the operations over `files`.
    pub fn new(files: FilesService) -> Self {
        PlinthS3 { files }
    }

    async fn caller<T>(&self, request: &S3Request<T>) -> S3Result<Principal> {
        let Some(credentials) = &request.credentials else {
            return Err(s3_error!(
                AccessDenied,
                "requests must be signed with an access key"
            ));
        };
        self.files
            .caller(&credentials.access_key)
            .await
            .map_err(s3_error_of)
    }

    async fn bucket<T>(
        &self,
        request: &S3Request<T>,
        name: &str,
        write: bool,
    ) -> S3Result<(Principal, ProjectBucket)> {
        let principal = self.caller(request).await?;
        let bucket = self
            .files
            .bucket(&principal, name, write)
            .await
            .map_err(s3_error_of)?;
        Ok((principal, bucket))
    }
}

fn key_of(key: &str) -> S3Result<ObjectKey> {
    names::object_key(key).map_err(s3_error_of)
}

fn not_found_as_no_such_key(key: &str) -> impl Fn(ArtifactError) -> S3Error + '_ {
    move |error| match error {
        ArtifactError::NotFound { .. } => S3Error::with_message(
            S3ErrorCode::NoSuchKey,
            format!("object `{key}` does not exist"),
        ),
        other => s3_error_of(FilesError::Artifact(other)),
    }
}

fn timestamp(ms: i64) -> Timestamp {
    let since_epoch = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Timestamp::from(SystemTime::UNIX_EPOCH + since_epoch)
}

/// The object's ETag: the backend's (an S3 backend's MD5, the local backend's inode,
/// time and size), the same in every answer so `If-Match` holds across requests.
fn e_tag(info: &ObjectInfo) -> ETag {
    let value = match &info.e_tag {
        Some(tag) => tag.trim_matches('"').to_string(),
        None => format!("{:x}-{:x}", info.last_modified_ms, info.size),
    };
    ETag::Strong(value)
}

fn matches(condition: &ETagCondition, tag: &ETag) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(expected) => expected.value() == tag.value(),
    }
}

fn io_error(error: s3s::StdError) -> std::io::Error {
    std::io::Error::other(error)
}

/// Percent-encodes a key for `encoding-type=url` listings: everything but unreserved
/// characters and `/`.
fn url_encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// One entry of a listing page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An object.
    Object(ObjectInfo),
    /// A common prefix (a "folder", with the delimiter at its end).
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Object(info) => info.key.as_str(),
            Entry::Prefix(prefix) => prefix,
        }
    }
}

/// Pages a sorted list of objects as ListObjectsV2 does: those under `prefix`, after
/// `after` (a continuation token or `start-after`: the last key or common prefix of the
/// page before), objects below a `delimiter` folded into one common prefix, at most
/// `max_keys` entries; returns them and whether more follow.
pub(crate) fn page(
    objects: Vec<ObjectInfo>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: usize,
) -> (Vec<Entry>, bool) {
    let mut entries: Vec<Entry> = Vec::new();
    for object in objects {
        let key = object.key.as_str();
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let entry = match delimiter.and_then(|delimiter| {
            rest.find(delimiter)
                .map(|at| format!("{prefix}{}", &rest[..at + delimiter.len()]))
        }) {
            Some(common) => {
                if entries.last().is_some_and(|last| last.name() == common) {
                    continue;
                }
                Entry::Prefix(common)
            }
            None => Entry::Object(object),
        };
        if after.is_some_and(|after| entry.name() <= after) {
            continue;
        }
        entries.push(entry);
        if entries.len() > max_keys {
            break;
        }
    }
    let truncated = entries.len() > max_keys;
    entries.truncate(max_keys);
    (entries, truncated)
}

#[async_trait::async_trait]
impl S3 for PlinthS3 {
    async fn list_buckets(
        &self,
        request: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let principal = self.caller(&request).await?;
        let buckets = self
            .files
            .list_buckets(&principal)
            .await
            .map_err(s3_error_of)?;
        let buckets = buckets
            .into_iter()
            .map(|(name, created_at_ms)| Bucket {
                name: Some(name),
                creation_date: Some(timestamp(created_at_ms)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some(principal.user().username.to_string()),
                id: Some(principal.user().id.as_str().to_string()),
            }),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        request: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&request, &request.input.bucket, false).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        request: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&request, &request.input.bucket, false).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        request: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let (_, bucket) = self.bucket(&request, &request.input.bucket, false).await?;
        let input = request.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input
            .delimiter
            .clone()
            .filter(|delimiter| !delimiter.is_empty());
        let max_keys = match input.max_keys {
            Some(max) if max < 0 => {
                return Err(s3_error!(
                    InvalidArgument,
                    "`max-keys` must not be negative"
                ))
            }
            Some(max) => usize::try_from(max).unwrap_or(MAX_KEYS).min(MAX_KEYS),
            None => MAX_KEYS,
        };
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone())
            .filter(|after| !after.is_empty());
        let objects = bucket
            .files()
            .list(listing_directory(&prefix).as_ref())
            .await
            .map_err(|error| s3_error_of(FilesError::Artifact(error)))?;
        let (entries, truncated) = page(
            objects,
            &prefix,
            delimiter.as_deref(),
            after.as_deref(),
            max_keys,
        );
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|encoding| encoding.as_str() == EncodingType::URL);
        let shown = |text: &str| {
            if encode {
                url_encode(text)
            } else {
                text.to_string()
            }
        };
        let next = if truncated {
            entries.last().map(|entry| entry.name().to_string())
        } else {
            None
        };
        let mut contents = Vec::new();
        let mut common_prefixes = Vec::new();
        for entry in entries {
            match entry {
                Entry::Object(info) => contents.push(Object {
                    e_tag: Some(e_tag(&info)),
                    key: Some(shown(info.key.as_str())),
                    last_modified: Some(timestamp(info.last_modified_ms)),
                    size: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                }),
                Entry::Prefix(common) => common_prefixes.push(CommonPrefix {
                    prefix: Some(shown(&common)),
                }),
            }
        }
        let key_count = i32::try_from(contents.len() + common_prefixes.len()).unwrap_or(i32::MAX);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(bucket.name().to_string()),
            prefix: Some(shown(&prefix)),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(truncated),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            delimiter: delimiter.map(|delimiter| shown(&delimiter)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|after| shown(&after)),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        request: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let marker = request.input.marker.clone();
        let v2 = request.map_input(|input| ListObjectsV2Input {
            bucket: input.bucket,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            max_keys: input.max_keys,
            prefix: input.prefix,
            start_after: input.marker,
            ..Default::default()
        });
        let answer = self.list_objects_v2(v2).await?;
        Ok(answer.map_output(|v2| ListObjectsOutput {
            name: v2.name,
            prefix: v2.prefix,
            marker,
            next_marker: v2.next_continuation_token,
            max_keys: v2.max_keys,
            is_truncated: v2.is_truncated,
            contents: v2.contents,
            common_prefixes: v2.common_prefixes,
            delimiter: v2.delimiter,
            encoding_type: v2.encoding_type,
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        request: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let body = match request.input.body {
            Some(body) => body.map_err(io_error).boxed(),
            None => futures::stream::empty().boxed(),
        };
        let size = bucket
            .files()
            .put_stream(&key, body)
            .await
            .map_err(|error| s3_error_of(FilesError::Artifact(error)))?;
        let info = bucket
            .files()
            .head(&key)
            .await
            .map_err(not_found_as_no_such_key(key.as_str()))?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(e_tag(&info)),
            size: Some(i64::try_from(size).unwrap_or(i64::MAX)),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        request: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, false).await?;
        let info = bucket
            .files()
            .head(&key)
            .await
            .map_err(not_found_as_no_such_key(key.as_str()))?;
        let tag = e_tag(&info);
        if let Some(condition) = &request.input.if_match {
            if !matches(condition, &tag) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".to_string()),
            content_length: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
            content_type: Some("application/octet-stream".to_string()),
            e_tag: Some(tag),
            last_modified: Some(timestamp(info.last_modified_ms)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        request: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, false).await?;
        let input = request.input;
        let missing = not_found_as_no_such_key(key.as_str());
        let info = bucket.files().head(&key).await.map_err(&missing)?;
        let tag = e_tag(&info);
        if let Some(condition) = &input.if_match {
            if !matches(condition, &tag) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        if let Some(condition) = &input.if_none_match {
            if matches(condition, &tag) {
                let mut error = s3_error!(NotModified);
                error.set_status_code(http::StatusCode::NOT_MODIFIED);
                return Err(error);
            }
        }
        let (body, content_length, content_range) = match input.range {
            None => {
                let (_, stream) = bucket.files().get_stream(&key).await.map_err(&missing)?;
                (
                    StreamingBlob::wrap(sync_wrapper::SyncStream::new(stream)),
                    info.size,
                    None,
                )
            }
            Some(range) => {
                let range = range
                    .check(info.size)
                    .map_err(|_| s3_error!(InvalidRange, "the range is outside the object"))?;
                let bytes: Bytes = bucket
                    .files()
                    .get_range(&key, range.clone())
                    .await
                    .map_err(&missing)?;
                (
                    StreamingBlob::from(s3s::Body::from(bytes)),
                    range.end - range.start,
                    Some(format!(
                        "bytes {}-{}/{}",
                        range.start,
                        range.end - 1,
                        info.size
                    )),
                )
            }
        };
        Ok(S3Response::new(GetObjectOutput {
            accept_ranges: Some("bytes".to_string()),
            body: Some(body),
            content_length: Some(i64::try_from(content_length).unwrap_or(i64::MAX)),
            content_range,
            content_type: Some("application/octet-stream".to_string()),
            e_tag: Some(tag),
            last_modified: Some(timestamp(info.last_modified_ms)),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        request: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        bucket
            .files()
            .delete(&key)
            .await
            .map_err(|error| s3_error_of(FilesError::Artifact(error)))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        request: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let quiet = request.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in request.input.delete.objects {
            let outcome = match key_of(&object.key) {
                Ok(key) => bucket
                    .files()
                    .delete(&key)
                    .await
                    .map_err(|error| s3_error_of(FilesError::Artifact(error))),
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(error) => errors.push(Error {
                    code: Some(error.code().as_str().to_string()),
                    key: Some(object.key),
                    message: error.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        request: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &request.input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "copy from an access point is not supported"
            ));
        };
        let source_key = key_of(source_key)?;
        let key = key_of(&request.input.key)?;
        let (principal, target) = self.bucket(&request, &request.input.bucket, true).await?;
        let source = self
            .files
            .bucket(&principal, source_bucket, false)
            .await
            .map_err(s3_error_of)?;
        let missing = not_found_as_no_such_key(source_key.as_str());
        let info = source.files().head(&source_key).await.map_err(&missing)?;
        if let Some(condition) = &request.input.copy_source_if_match {
            if !matches(condition, &e_tag(&info)) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        let (_, stream) = source
            .files()
            .get_stream(&source_key)
            .await
            .map_err(&missing)?;
        target
            .files()
            .put_stream(&key, stream)
            .await
            .map_err(|error| s3_error_of(FilesError::Artifact(error)))?;
        let copied = target
            .files()
            .head(&key)
            .await
            .map_err(not_found_as_no_such_key(key.as_str()))?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(e_tag(&copied)),
                last_modified: Some(timestamp(copied.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        request: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let key = key_of(&request.input.key)?;
        let (principal, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let upload_id = self
            .files
            .start_upload(&principal, &bucket, &key)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(request.input.bucket),
            key: Some(request.input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        request: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let input = request.input;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "`partNumber` must be 1 to 10000"
            ));
        }
        let upload = self
            .files
            .upload(&bucket, &input.upload_id, &key)
            .await
            .map_err(s3_error_of)?;
        let part_number = i64::from(input.part_number);
        let stored_at = part_key(&upload.upload_id, part_number).map_err(s3_error_of)?;
        let mut hasher = Md5::new();
        let size = {
            let body = match input.body {
                Some(body) => body
                    .map_err(io_error)
                    .inspect_ok(|chunk| hasher.update(chunk))
                    .boxed(),
                None => futures::stream::empty().boxed(),
            };
            bucket
                .uploads()
                .put_stream(&stored_at, body)
                .await
                .map_err(|error| s3_error_of(FilesError::Artifact(error)))?
        };
        let md5 = hex(&hasher.finalize());
        self.files
            .record_part(
                &upload,
                &PartRecord {
                    part_number,
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    e_tag: md5.clone(),
                },
            )
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(md5)),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        request: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, false).await?;
        let input = request.input;
        let upload = self
            .files
            .upload(&bucket, &input.upload_id, &key)
            .await
            .map_err(s3_error_of)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max_parts =
            usize::try_from(input.max_parts.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
        let mut parts: Vec<PartRecord> = self
            .files
            .parts(&upload)
            .await
            .map_err(s3_error_of)?
            .into_iter()
            .filter(|part| part.part_number > i64::from(marker))
            .collect();
        let truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        let next = parts
            .last()
            .and_then(|part| i32::try_from(part.part_number).ok())
            .filter(|_| truncated);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: i32::try_from(max_parts).ok(),
            is_truncated: Some(truncated),
            parts: Some(
                parts
                    .into_iter()
                    .map(|part| Part {
                        e_tag: Some(ETag::Strong(part.e_tag)),
                        part_number: i32::try_from(part.part_number).ok(),
                        size: Some(part.size),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        request: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let input = request.input;
        let upload = self
            .files
            .upload(&bucket, &input.upload_id, &key)
            .await
            .map_err(s3_error_of)?;
        let asked = input
            .multipart_upload
            .and_then(|upload| upload.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "the completion must list at least one part"
            ));
        }
        let uploaded = self.files.parts(&upload).await.map_err(s3_error_of)?;
        let mut previous = 0;
        let mut part_keys = Vec::with_capacity(asked.len());
        for part in &asked {
            let number = part.part_number.unwrap_or(0);
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "parts must be listed in ascending order"
                ));
            }
            previous = number;
            let stored = uploaded
                .iter()
                .find(|stored| stored.part_number == i64::from(number))
                .ok_or_else(|| {
                    s3_error_of(FilesError::InvalidPart(format!(
                        "part {number} was not uploaded"
                    )))
                })?;
            if part
                .e_tag
                .as_ref()
                .is_some_and(|tag| tag.value().trim_matches('"') != stored.e_tag)
            {
                return Err(s3_error_of(FilesError::InvalidPart(format!(
                    "part {number}'s ETag differs from the one uploaded"
                ))));
            }
            part_keys.push(part_key(&upload.upload_id, i64::from(number)).map_err(s3_error_of)?);
        }
        let parts_store = bucket.uploads().clone();
        let joined = futures::stream::iter(part_keys)
            .then(move |part| {
                let store = parts_store.clone();
                async move { store.get_stream(&part).await.map(|(_, stream)| stream) }
            })
            .try_flatten()
            .boxed();
        bucket
            .files()
            .put_stream(&key, joined)
            .await
            .map_err(|error| s3_error_of(FilesError::Artifact(error)))?;
        self.files
            .discard_upload(&upload)
            .await
            .map_err(s3_error_of)?;
        let info = bucket
            .files()
            .head(&key)
            .await
            .map_err(not_found_as_no_such_key(key.as_str()))?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(e_tag(&info)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        request: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let key = key_of(&request.input.key)?;
        let (_, bucket) = self.bucket(&request, &request.input.bucket, true).await?;
        let upload = self
            .files
            .upload(&bucket, &request.input.upload_id, &key)
            .await
            .map_err(s3_error_of)?;
        self.files
            .discard_upload(&upload)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns the S3 endpoint as an axum router: every path and method goes to s3s.
pub fn router(files: FilesService) -> axum::Router {
    let mut builder = s3s::service::S3ServiceBuilder::new(PlinthS3::new(files.clone()));
    builder.set_auth(AccessKeyAuth::new(files));
    builder.set_validation(ProjectBucketNames);
    let service = builder.build();
    axum::Router::new().fallback_service(axum::error_handling::HandleError::new(
        service,
        |error: s3s::HttpError| async move {
            tracing::error!(error = ?error, "S3 request failed");
            (http::StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        },
    ))
}

/// Serves the S3 endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    files: FilesService,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(files))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> Vec<ObjectInfo> {
        keys.iter()
            .map(|key| ObjectInfo {
                key: ObjectKey::parse(key).unwrap(),
                size: 1,
                last_modified_ms: 0,
                e_tag: None,
            })
            .collect()
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(Entry::name).collect()
    }

    const KEYS: &[&str] = &[
        "a.txt",
        "data/1.csv",
        "data/2.csv",
        "data/deep/3.csv",
        "logs/x",
        "z",
    ];

    #[test]
    fn pages_without_a_delimiter_walk_every_key() {
        let (entries, more) = page(objects(KEYS), "", None, None, 4);
        assert_eq!(
            names(&entries),
            ["a.txt", "data/1.csv", "data/2.csv", "data/deep/3.csv"]
        );
        assert!(more);
        let (entries, more) = page(objects(KEYS), "", None, Some("data/deep/3.csv"), 4);
        assert_eq!(names(&entries), ["logs/x", "z"]);
        assert!(!more);
    }

    #[test]
    fn delimiters_fold_folders_into_common_prefixes() {
        let (entries, more) = page(objects(KEYS), "", Some("/"), None, 1000);
        assert_eq!(names(&entries), ["a.txt", "data/", "logs/", "z"]);
        assert!(!more);
        let (entries, _) = page(objects(KEYS), "data/", Some("/"), None, 1000);
        assert_eq!(names(&entries), ["data/1.csv", "data/2.csv", "data/deep/"]);
        assert!(matches!(entries[2], Entry::Prefix(_)));
    }

    #[test]
    fn a_common_prefix_as_the_token_skips_its_whole_folder() {
        let (entries, more) = page(objects(KEYS), "", Some("/"), None, 2);
        assert_eq!(names(&entries), ["a.txt", "data/"]);
        assert!(more);
        let (entries, more) = page(objects(KEYS), "", Some("/"), Some("data/"), 2);
        assert_eq!(names(&entries), ["logs/", "z"]);
        assert!(!more);
    }

    #[test]
    fn prefixes_are_plain_string_prefixes() {
        let (entries, _) = page(objects(KEYS), "data/d", None, None, 1000);
        assert_eq!(names(&entries), ["data/deep/3.csv"]);
        let (entries, _) = page(objects(KEYS), "nothing", None, None, 1000);
        assert!(entries.is_empty());
    }

    #[test]
    fn listed_keys_are_url_encoded_on_request() {
        assert_eq!(url_encode("a b/c+d%e~f"), "a%20b/c%2Bd%25e~f");
    }

    #[test]
    fn errors_keep_s3_codes() {
        let code = |error: FilesError| s3_error_of(error).code().as_str().to_string();
        assert_eq!(code(FilesError::NoSuchBucket("x".into())), "NoSuchBucket");
        assert_eq!(code(FilesError::AccessDenied("no".into())), "AccessDenied");
        assert_eq!(code(FilesError::InvalidAccessKeyId), "InvalidAccessKeyId");
        assert_eq!(code(FilesError::KeyTooLong), "KeyTooLongError");
        assert_eq!(code(FilesError::InvalidKey("..".into())), "InvalidArgument");
        assert_eq!(
            code(FilesError::Core(plinth_core::CoreError::Forbidden(
                "x".into()
            ))),
            "AccessDenied"
        );
    }
}
