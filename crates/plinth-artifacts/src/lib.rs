//! Plinth's object storage: [`ArtifactStore`] over the `object_store` crate (a local folder,
//! S3/MinIO, or memory), which owns the key layout and refuses any key that could escape
//! its prefix ([`ObjectKey`]).
//!
//! Domain services decide what is stored under which key (`projects/{p}/…`); this crate
//! decides how keys reach the backend and guarantees they stay inside the store's root.

mod error;
mod key;
#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use plinth_config::ResolvedS3;

pub use error::{ArtifactError, ArtifactResult};
pub use key::{ObjectKey, MAX_KEY_BYTES};

/// Size of each part of a multipart upload (S3 wants at least 5 MiB per part but the last).
const MULTIPART_CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploaded at once by a multipart upload.
const MULTIPART_CONCURRENCY: usize = 4;

/// What the store knows of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key, relative to the store (and to the scope, for a scoped store).
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, in milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// The backend's entity tag, when it has one.
    pub e_tag: Option<String>,
}

/// One level of a listing: the objects directly under a prefix and its sub-prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryListing {
    /// Prefixes one level down, like folders.
    pub directories: Vec<ObjectKey>,
    /// Objects directly under the prefix.
    pub objects: Vec<ObjectInfo>,
}

/// The object store, rooted at a prefix; every key is validated and resolved under it.
#[derive(Clone)]
pub struct ArtifactStore {
    inner: Arc<dyn ObjectStore>,
    root: Path,
    backend: &'static str,
    location: String,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ArtifactStore")
            .field("backend", &self.backend)
            .field("location", &self.location)
            .field("root", &self.root.as_ref())
            .finish()
    }
}

impl ArtifactStore {
    /// Opens the store named by `url`: `file:///PATH` (the folder is created),
    /// `s3://BUCKET[/PREFIX]` (with `s3` settings) or `memory://`.
    pub fn open(url: &str, s3: &ResolvedS3) -> ArtifactResult<Self> {
        let parsed = url::Url::parse(url).map_err(|error| ArtifactError::InvalidUrl {
            url: url.to_string(),
            reason: error.to_string(),
        })?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| ArtifactError::InvalidUrl {
                        url: url.to_string(),
                        reason: "expected an absolute path, `file:///PATH`".to_string(),
                    })?;
                fs_err::create_dir_all(&dir).map_err(|error| ArtifactError::Open {
                    location: url.to_string(),
                    reason: error.to_string(),
                })?;
                let local = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|error| ArtifactError::Open {
                        location: url.to_string(),
                        reason: error.to_string(),
                    })?
                    .with_automatic_cleanup(true);
                Ok(Self::from_parts(
                    Arc::new(local),
                    Path::default(),
                    "local",
                    url.to_string(),
                ))
            }
            "memory" => Ok(Self::in_memory()),
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|bucket| !bucket.is_empty())
                    .ok_or_else(|| ArtifactError::InvalidUrl {
                        url: url.to_string(),
                        reason: "names no bucket; write `s3://BUCKET[/PREFIX]`".to_string(),
                    })?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".to_string()))
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(s3.virtual_hosted_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let store = builder.build().map_err(|error| ArtifactError::Open {
                    location: url.to_string(),
                    reason: error.to_string(),
                })?;
                let prefix = parsed.path().trim_matches('/');
                let root = if prefix.is_empty() {
                    Path::default()
                } else {
                    let key = ObjectKey::parse(prefix)?;
                    Path::parse(key.as_str()).map_err(|error| ArtifactError::InvalidUrl {
                        url: url.to_string(),
                        reason: error.to_string(),
                    })?
                };
                Ok(Self::from_parts(
                    Arc::new(store),
                    root,
                    "s3",
                    url.to_string(),
                ))
            }
            other => Err(ArtifactError::InvalidUrl {
                url: url.to_string(),
                reason: format!("unknown scheme `{other}`; use `file://`, `s3://` or `memory://`"),
            }),
        }
    }

    /// Returns an empty store held in memory, for tests and throwaway servers.
    pub fn in_memory() -> Self {
        Self::from_parts(
            Arc::new(InMemory::new()),
            Path::default(),
            "memory",
            "memory://".to_string(),
        )
    }

    fn from_parts(
        inner: Arc<dyn ObjectStore>,
        root: Path,
        backend: &'static str,
        location: String,
    ) -> Self {
        ArtifactStore {
            inner,
            root,
            backend,
            location,
        }
    }

    /// Returns the backend's name: `local`, `s3` or `memory`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Returns the URL the store was opened with (it carries no secret).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Returns a store rooted at `prefix` inside this one: what it stores, lists and deletes
    /// stays under `prefix`.
    pub fn scoped(&self, prefix: &ObjectKey) -> ArtifactStore {
        ArtifactStore {
            inner: Arc::clone(&self.inner),
            root: self.path(prefix),
            backend: self.backend,
            location: format!("{}/{}", self.location.trim_end_matches('/'), prefix),
        }
    }

    fn path(&self, key: &ObjectKey) -> Path {
        // `ObjectKey` has no empty, `.` or `..` segment, so each segment is a valid `PathPart`.
        self.root
            .parts()
            .chain(key.segments().map(Into::into))
            .collect()
    }

    fn key_of(&self, path: &Path) -> ArtifactResult<ObjectKey> {
        let relative = path.prefix_match(&self.root).ok_or_else(|| {
            ArtifactError::Backend(
                format!("backend returned `{path}` outside the root `{}`", self.root).into(),
            )
        })?;
        let relative: Vec<String> = relative.map(|part| part.as_ref().to_string()).collect();
        ObjectKey::parse(&relative.join("/"))
    }

    fn info(&self, meta: object_store::ObjectMeta) -> ArtifactResult<ObjectInfo> {
        Ok(ObjectInfo {
            key: self.key_of(&meta.location)?,
            size: meta.size,
            last_modified_ms: meta.last_modified.timestamp_millis(),
            e_tag: meta.e_tag,
        })
    }

    /// Stores `bytes` under `key`, replacing any object there.
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> ArtifactResult<()> {
        let path = self.path(key);
        self.inner
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        Ok(())
    }

    /// Stores a stream of chunks under `key` as a multipart upload, so objects of any size
    /// pass through without being held in memory; returns the number of bytes written.
    /// On any error the upload is aborted and nothing is left under `key`.
    pub async fn put_stream<E>(
        &self,
        key: &ObjectKey,
        mut chunks: BoxStream<'_, Result<Bytes, E>>,
    ) -> ArtifactResult<u64>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let path = self.path(key);
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK_BYTES);
        let mut written: u64 = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(ArtifactError::Upload {
                        key: key.to_string(),
                        source: Box::new(error),
                    });
                }
            };
            if let Err(error) = writer.wait_for_capacity(MULTIPART_CONCURRENCY).await {
                let _ = writer.abort().await;
                return Err(ArtifactError::from_backend(key, error));
            }
            written += chunk.len() as u64;
            writer.put(chunk);
        }
        writer
            .finish()
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        Ok(written)
    }

    /// Returns the whole object under `key`.
    pub async fn get(&self, key: &ObjectKey) -> ArtifactResult<Bytes> {
        let result = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        result
            .bytes()
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))
    }

    /// Returns `range` (byte offsets, end exclusive) of the object under `key`.
    pub async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> ArtifactResult<Bytes> {
        self.inner
            .get_range(&self.path(key), range)
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))
    }

    /// Returns the object's metadata and a stream of its bytes, for serving large objects.
    pub async fn get_stream(
        &self,
        key: &ObjectKey,
    ) -> ArtifactResult<(ObjectInfo, BoxStream<'static, ArtifactResult<Bytes>>)> {
        let result = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        let info = self.info(result.meta.clone())?;
        let owned_key = key.clone();
        let stream = result
            .into_stream()
            .map_err(move |error| ArtifactError::from_backend(&owned_key, error))
            .boxed();
        Ok((info, stream))
    }

    /// Returns the metadata of the object under `key`.
    pub async fn head(&self, key: &ObjectKey) -> ArtifactResult<ObjectInfo> {
        let meta = self
            .inner
            .head(&self.path(key))
            .await
            .map_err(|error| ArtifactError::from_backend(key, error))?;
        self.info(meta)
    }

    /// Deletes the object under `key`; deleting a missing object succeeds (as S3 does).
    pub async fn delete(&self, key: &ObjectKey) -> ArtifactResult<()> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(ArtifactError::from_backend(key, error)),
        }
    }

    /// Deletes every object under `prefix`; returns how many were deleted.
    pub async fn delete_prefix(&self, prefix: &ObjectKey) -> ArtifactResult<u64> {
        let objects = self.list(Some(prefix)).await?;
        let count = objects.len() as u64;
        for object in objects {
            self.delete(&object.key).await?;
        }
        Ok(count)
    }

    /// Returns every object under `prefix` (or the whole store), at any depth, by key.
    pub async fn list(&self, prefix: Option<&ObjectKey>) -> ArtifactResult<Vec<ObjectInfo>> {
        let path = prefix.map_or_else(|| self.root.clone(), |prefix| self.path(prefix));
        let metas: Vec<object_store::ObjectMeta> = self
            .inner
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|error| ArtifactError::backend_at(&self.location, error))?;
        let mut objects = metas
            .into_iter()
            .map(|meta| self.info(meta))
            .collect::<ArtifactResult<Vec<_>>>()?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// Returns the objects and sub-prefixes directly under `prefix` (or the root).
    pub async fn list_directory(
        &self,
        prefix: Option<&ObjectKey>,
    ) -> ArtifactResult<DirectoryListing> {
        let path = prefix.map_or_else(|| self.root.clone(), |prefix| self.path(prefix));
        let listing = self
            .inner
            .list_with_delimiter(Some(&path))
            .await
            .map_err(|error| ArtifactError::backend_at(&self.location, error))?;
        let mut directories = listing
            .common_prefixes
            .iter()
            .map(|path| self.key_of(path))
            .collect::<ArtifactResult<Vec<_>>>()?;
        directories.sort();
        let mut objects = listing
            .objects
            .into_iter()
            .map(|meta| self.info(meta))
            .collect::<ArtifactResult<Vec<_>>>()?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(DirectoryListing {
            directories,
            objects,
        })
    }

    /// Returns `Ok` when the backend answers a listing of the root (cheap; for readiness).
    pub async fn check_connectivity(&self) -> ArtifactResult<()> {
        self.inner
            .list_with_delimiter(Some(&self.root))
            .await
            .map(|_| ())
            .map_err(|error| ArtifactError::Unavailable {
                location: self.location.clone(),
                source: Box::new(error),
            })
    }

    /// Writes, reads back and deletes a probe object: proves at startup that the store is
    /// reachable and writable, with a message naming the location when it is not.
    pub async fn check_read_write(&self) -> ArtifactResult<()> {
        let key = ObjectKey::parse(&format!(".plinth/probe-{}", uuid::Uuid::new_v4().simple()))?;
        let probe = Bytes::from_static(b"plinth probe");
        let unavailable = |error: ArtifactError| ArtifactError::Unavailable {
            location: self.location.clone(),
            source: Box::new(error),
        };
        self.put(&key, probe.clone()).await.map_err(unavailable)?;
        let read = self.get(&key).await.map_err(unavailable)?;
        self.delete(&key).await.map_err(unavailable)?;
        if read != probe {
            return Err(ArtifactError::Unavailable {
                location: self.location.clone(),
                source: "probe object read back differently".into(),
            });
        }
        Ok(())
    }
}
