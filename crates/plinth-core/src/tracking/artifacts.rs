//! Artifacts the server proxies (`mlflow-artifacts:`): every path a client names is
//! validated as an [`ObjectKey`] and resolved under `projects/{project_id}/mlflow/`, so no
//! client-supplied path reaches outside the project's prefix. Large files go through
//! MLflow's proxied multipart upload: the client asks for an upload, `PUT`s each part to the
//! URL it is given (the upload id, 128 random bits, is the capability: the client sends
//! no credentials with parts), then completes or aborts it. Each upload's session is also
//! written to the object store (`mlflow-uploads/{upload_id}`), so uploads in flight survive
//! a restart of the server.

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use plinth_artifacts::{ArtifactResult, ObjectInfo, ObjectKey};
use plinth_types::HasErrorKind;

use super::{TrackingPass, TrackingService, MLFLOW_ARTIFACTS_SCHEME};
use crate::{CoreError, CoreResult};

/// Most parts one multipart upload may have (S3's limit).
const MAX_UPLOAD_PARTS: i64 = 10_000;
/// Multipart uploads not completed within this long are forgotten (their parts deleted at
/// the next upload's creation).
const UPLOAD_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// One entry of an artifact listing, as MLflow's `FileInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactFile {
    /// The path (relative to what was listed, or to the run's root for run listings).
    pub path: String,
    /// A folder.
    pub is_dir: bool,
    /// Size in bytes, for files.
    pub file_size: Option<u64>,
}

/// A listing of a run's or logged model's artifacts.
#[derive(Clone, Debug)]
pub struct ArtifactListing {
    /// The artifact root URI.
    pub root_uri: String,
    /// The entries, by path.
    pub files: Vec<ArtifactFile>,
}

/// A multipart upload that was created.
#[derive(Clone, Debug)]
pub struct UploadParts {
    /// The upload's id (also the capability to upload its parts).
    pub upload_id: String,
    /// The part numbers to upload, 1-based.
    pub part_numbers: Vec<i64>,
}

#[derive(Debug)]
struct UploadSession {
    project_id: String,
    key: ObjectKey,
    num_parts: i64,
}

/// An upload session as the object store keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSession {
    project_id: String,
    key: String,
    num_parts: i64,
    created_ms: i64,
}

/// Where an upload's session is kept, or `None` for an id the server cannot have issued
/// (64 lower-case hex digits).
fn session_key(upload_id: &str) -> Option<ObjectKey> {
    let issued = upload_id.len() == 64
        && upload_id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    issued
        .then(|| ObjectKey::parse(&format!("{UPLOAD_SESSIONS}/{upload_id}")).ok())
        .flatten()
}

/// The prefix of the stored upload sessions.
const UPLOAD_SESSIONS: &str = "mlflow-uploads";

fn unknown_upload(upload_id: &str) -> CoreError {
    CoreError::NotFound {
        entity: "multipart upload",
        id: upload_id.to_string(),
    }
}

/// Returns the path of an `mlflow-artifacts:` URI (`mlflow-artifacts:/5/abc/artifacts` →
/// `5/abc/artifacts`), refusing URIs with a host and paths that are not plain object keys.
pub(crate) fn proxied_path(uri: &str) -> Result<String, String> {
    let Some(rest) = uri.strip_prefix(MLFLOW_ARTIFACTS_SCHEME) else {
        return Err("Plinth stores artifacts itself: use an `mlflow-artifacts:/…` URI".to_string());
    };
    if rest.starts_with("//") {
        return Err("an `mlflow-artifacts:` URI must not name a host".to_string());
    }
    let path = rest.trim_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    ObjectKey::parse(path).map_err(|error| error.to_string())?;
    Ok(path.to_string())
}

/// MLflow's one answer for a path it will not use ("Invalid path"): it names neither the
/// reason nor where the path would have led.
fn invalid_path() -> CoreError {
    CoreError::InvalidArgument("Invalid path".to_string())
}

/// Checks a relative artifact path as MLflow's `validate_path_is_safe` does, and returns it
/// decoded: percent-escapes are decoded (repeatedly, as MLflow does), and a path with `#`,
/// a `..` segment, or that is absolute (POSIX or Windows, or a `file:` URI of one) is
/// refused with "Invalid path". What passes is then checked again as an object key.
pub fn safe_relative_path(path: &str) -> CoreResult<String> {
    let mut decoded = path.to_string();
    for _ in 0..10 {
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let mut path = decoded;
    if path.contains('#') {
        return Err(invalid_path());
    }
    if let Some(local) = path
        .strip_prefix("file://")
        .or_else(|| path.strip_prefix("file:"))
    {
        path = local.to_string();
    }
    let bytes = path.as_bytes();
    let windows_absolute = (bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'/' | b'\\'))
        || path.starts_with("\\\\")
        || path.starts_with("//");
    if path.split('/').any(|segment| segment == "..") || path.starts_with('/') || windows_absolute {
        return Err(invalid_path());
    }
    Ok(path)
}

fn join_path(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (false, true) => parent.to_string(),
        (false, false) => format!("{parent}/{child}"),
    }
}

impl TrackingService {
    fn project_root(&self, pass: &TrackingPass) -> CoreResult<ObjectKey> {
        Ok(ObjectKey::parse(&format!(
            "projects/{}/mlflow",
            pass.project_id()
        ))?)
    }

    /// The object key of an artifact path (what follows `/mlflow-artifacts/artifacts/`).
    fn artifact_key(&self, pass: &TrackingPass, path: &str) -> CoreResult<ObjectKey> {
        let path = path.trim_matches('/');
        let root = self.project_root(pass)?;
        if path.is_empty() {
            return Ok(root);
        }
        if path == ".uploads" || path.starts_with(".uploads/") {
            return Err(CoreError::InvalidArgument(format!(
                "Invalid artifact path '{path}': `.uploads` is reserved"
            )));
        }
        root.join(path).map_err(|_| invalid_path())
    }

    /// Stores an artifact from a stream of chunks (never held whole in memory).
    pub async fn put_artifact<E>(
        &self,
        pass: &TrackingPass,
        path: &str,
        chunks: BoxStream<'_, Result<Bytes, E>>,
    ) -> CoreResult<u64>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        pass.require_write()?;
        let key = self.artifact_key(pass, path)?;
        if path.trim_matches('/').is_empty() {
            return Err(CoreError::InvalidArgument(
                "Invalid artifact path '': names no file".to_string(),
            ));
        }
        Ok(self.inner.objects.put_stream(&key, chunks).await?)
    }

    /// Returns an artifact's size and a stream of its bytes.
    pub async fn get_artifact(
        &self,
        pass: &TrackingPass,
        path: &str,
    ) -> CoreResult<(ObjectInfo, BoxStream<'static, ArtifactResult<Bytes>>)> {
        let key = self.artifact_key(pass, path)?;
        match self.inner.objects.get_stream(&key).await {
            Ok(found) => Ok(found),
            Err(error) if error.kind() == plinth_types::ErrorKind::NotFound => {
                Err(CoreError::NotFound {
                    entity: "artifact",
                    id: path.to_string(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Lists one level under an artifact path: entries are named by their base name, as
    /// MLflow's artifact server does. A file (or nothing) lists as empty.
    pub async fn list_artifacts(
        &self,
        pass: &TrackingPass,
        path: &str,
    ) -> CoreResult<Vec<ArtifactFile>> {
        let key = self.artifact_key(pass, path)?;
        let listing = self.inner.objects.list_directory(Some(&key)).await?;
        let base = |key: &ObjectKey| key.segments().last().unwrap_or_default().to_string();
        let mut files: Vec<ArtifactFile> = listing
            .directories
            .iter()
            .filter(|directory| !path.trim_matches('/').is_empty() || base(directory) != ".uploads")
            .map(|directory| ArtifactFile {
                path: base(directory),
                is_dir: true,
                file_size: None,
            })
            .chain(listing.objects.iter().map(|object| ArtifactFile {
                path: base(&object.key),
                is_dir: false,
                file_size: Some(object.size),
            }))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Deletes an artifact, or everything under a folder.
    pub async fn delete_artifact(&self, pass: &TrackingPass, path: &str) -> CoreResult<()> {
        pass.require_write()?;
        if path.trim_matches('/').is_empty() {
            return Err(CoreError::InvalidArgument(
                "Invalid artifact path '': refusing to delete every artifact of the project"
                    .to_string(),
            ));
        }
        let key = self.artifact_key(pass, path)?;
        self.inner.objects.delete_prefix(&key).await?;
        self.inner.objects.delete(&key).await?;
        Ok(())
    }

    async fn list_under_root(
        &self,
        pass: &TrackingPass,
        root_uri: &str,
        path: Option<&str>,
    ) -> CoreResult<ArtifactListing> {
        let root = proxied_path(root_uri).map_err(|reason| {
            CoreError::InvalidArgument(format!("cannot list artifacts at '{root_uri}': {reason}"))
        })?;
        let sub = match path {
            Some(path) => safe_relative_path(path)?,
            None => String::new(),
        };
        let sub = sub.trim_matches('/');
        let files = self
            .list_artifacts(pass, &join_path(&root, sub))
            .await?
            .into_iter()
            .map(|file| ArtifactFile {
                path: join_path(sub, &file.path),
                ..file
            })
            .collect();
        Ok(ArtifactListing {
            root_uri: root_uri.to_string(),
            files,
        })
    }

    /// Lists a run's artifacts under `path` (MLflow's `artifacts/list`).
    pub async fn list_run_artifacts(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        path: Option<&str>,
    ) -> CoreResult<ArtifactListing> {
        let run = self.get_run(pass, run_id).await?;
        self.list_under_root(pass, &run.info.artifact_uri, path)
            .await
    }

    /// Returns one of a run's artifacts (`path` relative to the run's artifact root, checked
    /// as MLflow checks it) with a stream of its bytes; runs of other projects are not found.
    pub async fn get_run_artifact(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        path: &str,
    ) -> CoreResult<(ObjectInfo, BoxStream<'static, ArtifactResult<Bytes>>)> {
        let path = safe_relative_path(path)?;
        let run = self.get_run(pass, run_id).await?;
        self.get_artifact_under(pass, &run.info.artifact_uri, &path)
            .await
    }

    /// Stores one artifact of a run from a stream (MLflow's `upload-artifact`, which the UI
    /// uses for small files): `path` is relative to the run's artifact root.
    pub async fn put_run_artifact<E>(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        path: &str,
        chunks: BoxStream<'_, Result<Bytes, E>>,
    ) -> CoreResult<u64>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        pass.require_write()?;
        let path = safe_relative_path(path)?;
        let run = self.get_run(pass, run_id).await?;
        let root = proxied_path(&run.info.artifact_uri).map_err(|_| invalid_path())?;
        let sub = path.trim_matches('/');
        if sub.is_empty() {
            return Err(invalid_path());
        }
        self.put_artifact(pass, &join_path(&root, sub), chunks)
            .await
    }

    /// Returns one file of a registered model version's artifacts (MLflow's
    /// `model-versions/get-artifact`): `path` is relative to the version's download URI.
    pub async fn get_model_version_artifact(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
        path: &str,
    ) -> CoreResult<(ObjectInfo, BoxStream<'static, ArtifactResult<Bytes>>)> {
        let path = safe_relative_path(path)?;
        let uri = self
            .get_model_version_download_uri(pass, name, version)
            .await?;
        self.get_artifact_under(pass, &uri, &path).await
    }

    /// Returns the file at `path` under an `mlflow-artifacts:` root.
    async fn get_artifact_under(
        &self,
        pass: &TrackingPass,
        root_uri: &str,
        path: &str,
    ) -> CoreResult<(ObjectInfo, BoxStream<'static, ArtifactResult<Bytes>>)> {
        let root = proxied_path(root_uri).map_err(|_| invalid_path())?;
        let sub = path.trim_matches('/');
        if sub.is_empty() {
            return Err(invalid_path());
        }
        let full = join_path(&root, sub);
        match self.get_artifact(pass, &full).await {
            Err(CoreError::NotFound { .. }) => {
                // A folder is not a file; neither message names where it is stored.
                let folder = self.list_artifacts(pass, &full).await.unwrap_or_default();
                Err(if folder.is_empty() {
                    CoreError::Missing(format!("No such artifact: '{sub}'"))
                } else {
                    CoreError::InvalidArgument(format!(
                        "Artifact path refers to a directory, not a file: '{sub}'"
                    ))
                })
            }
            other => other,
        }
    }

    /// Lists a logged model's artifacts under `path`.
    pub async fn list_logged_model_artifacts(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        path: Option<&str>,
    ) -> CoreResult<ArtifactListing> {
        let model = self.get_logged_model(pass, model_id).await?;
        self.list_under_root(pass, &model.artifact_location, path)
            .await
    }

    // ---------- multipart uploads ----------

    fn part_key(&self, project_id: &str, upload_id: &str, part: i64) -> CoreResult<ObjectKey> {
        Ok(ObjectKey::parse(&format!(
            "projects/{project_id}/mlflow/.uploads/{upload_id}/{part:05}"
        ))?)
    }

    /// Starts a multipart upload of `num_parts` parts to an artifact path.
    pub async fn create_multipart_upload(
        &self,
        pass: &TrackingPass,
        path: &str,
        num_parts: i64,
    ) -> CoreResult<UploadParts> {
        pass.require_write()?;
        if !(1..=MAX_UPLOAD_PARTS).contains(&num_parts) {
            return Err(CoreError::InvalidArgument(format!(
                "Invalid value {num_parts} for parameter 'num_parts': must be 1 to {MAX_UPLOAD_PARTS}"
            )));
        }
        if path.trim_matches('/').is_empty() {
            return Err(CoreError::InvalidArgument(
                "Invalid artifact path '': names no file".to_string(),
            ));
        }
        let key = self.artifact_key(pass, path)?;
        let upload_id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = self.now();
        let stored = StoredSession {
            project_id: pass.project_id().to_string(),
            key: key.as_str().to_string(),
            num_parts,
            created_ms: now,
        };
        let manifest = session_key(&upload_id).ok_or_else(|| unknown_upload(&upload_id))?;
        let json = serde_json::to_vec(&stored).expect("a session serializes");
        self.inner.objects.put(&manifest, Bytes::from(json)).await?;
        self.delete_orphaned_parts(pass.project_id(), now).await;
        self.delete_expired_sessions(now).await;
        Ok(UploadParts {
            upload_id,
            part_numbers: (1..=num_parts).collect(),
        })
    }

    /// Returns an upload's session, kept in the object store (so every server of the
    /// platform, and one restarted, knows it). Expired sessions are unknown.
    async fn session(&self, upload_id: &str) -> CoreResult<UploadSession> {
        let manifest = session_key(upload_id).ok_or_else(|| unknown_upload(upload_id))?;
        let bytes = match self.inner.objects.get(&manifest).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == plinth_types::ErrorKind::NotFound => {
                return Err(unknown_upload(upload_id))
            }
            Err(error) => return Err(error.into()),
        };
        let stored: StoredSession = serde_json::from_slice(&bytes).map_err(|error| {
            tracing::warn!(%error, upload_id, "a multipart upload's session is unreadable");
            unknown_upload(upload_id)
        })?;
        if self.now() - stored.created_ms > UPLOAD_LIFETIME_MS {
            return Err(unknown_upload(upload_id));
        }
        Ok(UploadSession {
            project_id: stored.project_id,
            key: ObjectKey::parse(&stored.key)?,
            num_parts: stored.num_parts,
        })
    }

    async fn session_project(&self, upload_id: &str, part: i64) -> CoreResult<String> {
        let session = self.session(upload_id).await?;
        if !(1..=session.num_parts).contains(&part) {
            return Err(CoreError::InvalidArgument(format!(
                "Invalid part number {part}: the upload has parts 1 to {}",
                session.num_parts
            )));
        }
        Ok(session.project_id)
    }

    /// Stores one part of a multipart upload; the upload id is the capability.
    pub async fn put_upload_part<E>(
        &self,
        upload_id: &str,
        part: i64,
        chunks: BoxStream<'_, Result<Bytes, E>>,
    ) -> CoreResult<String>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let project_id = self.session_project(upload_id, part).await?;
        let key = self.part_key(&project_id, upload_id, part)?;
        let size = self.inner.objects.put_stream(&key, chunks).await?;
        Ok(format!("\"{upload_id}-{part}-{size}\""))
    }

    /// Returns an upload's session for completion or abortion: it must be the project's.
    async fn take_session(
        &self,
        pass: &TrackingPass,
        upload_id: &str,
    ) -> CoreResult<UploadSession> {
        let session = self.session(upload_id).await?;
        if session.project_id != pass.project_id() {
            return Err(unknown_upload(upload_id));
        }
        Ok(session)
    }

    /// Deletes the parts of the project's uploads that are older than an upload may live
    /// (their uploads were neither completed nor aborted).
    async fn delete_orphaned_parts(&self, project_id: &str, now: i64) {
        let Ok(prefix) = ObjectKey::parse(&format!("projects/{project_id}/mlflow/.uploads")) else {
            return;
        };
        let parts = match self.inner.objects.list(Some(&prefix)).await {
            Ok(parts) => parts,
            Err(error) => {
                tracing::warn!(%error, "cannot list the parts of multipart uploads");
                return;
            }
        };
        for part in parts {
            if now - part.last_modified_ms > UPLOAD_LIFETIME_MS {
                if let Err(error) = self.inner.objects.delete(&part.key).await {
                    tracing::warn!(%error, key = %part.key, "cannot delete an orphaned upload part");
                }
            }
        }
    }

    /// Deletes the stored sessions of uploads that have expired.
    async fn delete_expired_sessions(&self, now: i64) {
        let Ok(prefix) = ObjectKey::parse(UPLOAD_SESSIONS) else {
            return;
        };
        let stored = match self.inner.objects.list(Some(&prefix)).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "cannot list the sessions of multipart uploads");
                return;
            }
        };
        for manifest in stored {
            if now - manifest.last_modified_ms > UPLOAD_LIFETIME_MS {
                if let Err(error) = self.inner.objects.delete(&manifest.key).await {
                    tracing::warn!(%error, key = %manifest.key, "cannot delete an expired upload session");
                }
            }
        }
    }

    /// Deletes an upload's parts and its stored session.
    async fn delete_parts(&self, project_id: &str, upload_id: &str) {
        if let Some(manifest) = session_key(upload_id) {
            if let Err(error) = self.inner.objects.delete(&manifest).await {
                tracing::warn!(%error, upload_id, "cannot delete a multipart upload's session");
            }
        }
        if let Ok(prefix) = ObjectKey::parse(&format!(
            "projects/{project_id}/mlflow/.uploads/{upload_id}"
        )) {
            if let Err(error) = self.inner.objects.delete_prefix(&prefix).await {
                tracing::warn!(%error, upload_id, "cannot delete the parts of a multipart upload");
            }
        }
    }

    /// Completes a multipart upload: its parts, in order, become the artifact (streamed,
    /// never held whole), then the parts are deleted.
    pub async fn complete_multipart_upload(
        &self,
        pass: &TrackingPass,
        upload_id: &str,
    ) -> CoreResult<u64> {
        pass.require_write()?;
        let session = self.take_session(pass, upload_id).await?;
        let mut keys = Vec::new();
        for part in 1..=session.num_parts {
            let key = self.part_key(&session.project_id, upload_id, part)?;
            if let Err(error) = self.inner.objects.head(&key).await {
                // The store's error names where the part was kept: not for the client.
                tracing::info!(upload_id, part, error = %error, "multipart upload misses a part");
                self.delete_parts(&session.project_id, upload_id).await;
                return Err(CoreError::InvalidArgument(format!(
                    "multipart upload `{upload_id}` is missing part {part}"
                )));
            }
            keys.push(key);
        }
        let objects = self.inner.objects.clone();
        let chunks = futures::stream::iter(keys)
            .then(move |key| {
                let objects = objects.clone();
                async move { objects.get_stream(&key).await.map(|(_, stream)| stream) }
            })
            .map(|opened| match opened {
                Ok(stream) => stream.boxed(),
                Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
            })
            .flatten()
            .boxed();
        let written = self.inner.objects.put_stream(&session.key, chunks).await;
        self.delete_parts(&session.project_id, upload_id).await;
        Ok(written?)
    }

    /// Aborts a multipart upload and deletes its parts.
    pub async fn abort_multipart_upload(
        &self,
        pass: &TrackingPass,
        upload_id: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        let session = self.take_session(pass, upload_id).await?;
        self.delete_parts(&session.project_id, upload_id).await;
        Ok(())
    }
}
