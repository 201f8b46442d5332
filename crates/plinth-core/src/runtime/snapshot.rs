//! Snapshots of working files: `.tar.gz` archives a client uploads to a project, addressed
//! by their SHA-256, stored under `projects/{id}/snapshots/` in the object store, and
//! unpacked into a workload's working folder (local backend) or fetched by an init
//! container (Kubernetes).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use plinth_artifacts::{ArtifactError, ObjectKey};
use plinth_types::Role;
pub use plinth_types::SnapshotInfo;
use sha2::{Digest, Sha256};

use super::RuntimeService;
use crate::{CoreError, CoreResult, Principal, ProjectPass};

/// Checks that `digest` is a SHA-256 in lower-case hex (and so safe in an object key).
pub(crate) fn check_digest(digest: &str) -> CoreResult<()> {
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(CoreError::InvalidArgument(
            "invalid `snapshot`: must be a SHA-256 digest (64 lower-case hex digits)".to_string(),
        ));
    }
    Ok(())
}

fn snapshot_key(project_id: &str, digest: &str) -> CoreResult<ObjectKey> {
    check_digest(digest)?;
    ObjectKey::parse(&format!("projects/{project_id}/snapshots/{digest}.tar.gz"))
        .map_err(CoreError::Objects)
}

/// A stream error that carries a reason (too large, digest mismatch).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UploadRefused(String);

impl RuntimeService {
    /// Stores a snapshot the client names by its SHA-256 (contributors). The body is
    /// streamed to the object store while being hashed; a body larger than the limit or
    /// with another digest is refused and nothing is kept. Uploading one that exists
    /// already is cheap: it is kept as it is.
    pub async fn upload_snapshot(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        digest: &str,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> CoreResult<SnapshotInfo> {
        principal.require_write()?;
        if pass.role().is_some_and(|role| role < Role::Contributor) {
            return Err(CoreError::Forbidden(
                "needs the `contributor` role in the project".to_string(),
            ));
        }
        let key = snapshot_key(&pass.project().id, digest)?;
        if let Ok(existing) = self.inner.objects.head(&key).await {
            return Ok(SnapshotInfo {
                sha256: digest.to_string(),
                size: existing.size,
            });
        }
        let limit = self.inner.settings.max_snapshot_bytes;
        let expected = digest.to_string();
        let mut hasher = Sha256::new();
        let mut seen: u64 = 0;
        let mut pending = Some(body);
        let checked = futures::stream::poll_fn(move |context| {
            let Some(body) = pending.as_mut() else {
                return std::task::Poll::Ready(None);
            };
            match body.poll_next_unpin(context) {
                std::task::Poll::Ready(Some(Ok(chunk))) => {
                    seen += chunk.len() as u64;
                    if seen > limit {
                        pending = None;
                        return std::task::Poll::Ready(Some(Err(UploadRefused(format!(
                            "the snapshot is larger than the {limit} bytes allowed (`runtime.max_snapshot_bytes`); \
                             add large files to .plinthignore"
                        )))));
                    }
                    hasher.update(&chunk);
                    std::task::Poll::Ready(Some(Ok(chunk)))
                }
                std::task::Poll::Ready(Some(Err(error))) => {
                    pending = None;
                    std::task::Poll::Ready(Some(Err(UploadRefused(format!(
                        "the upload broke off: {error}"
                    )))))
                }
                std::task::Poll::Ready(None) => {
                    pending = None;
                    let actual = format!("{:x}", std::mem::take(&mut hasher).finalize());
                    if actual == expected {
                        std::task::Poll::Ready(None)
                    } else {
                        std::task::Poll::Ready(Some(Err(UploadRefused(format!(
                            "the snapshot's SHA-256 is {actual}, not {expected} as named"
                        )))))
                    }
                }
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        });
        match self.inner.objects.put_stream(&key, checked.boxed()).await {
            Ok(size) => Ok(SnapshotInfo {
                sha256: digest.to_string(),
                size,
            }),
            Err(ArtifactError::Upload { source, .. }) => {
                let message = source.to_string();
                if message.starts_with("the snapshot is larger") {
                    Err(CoreError::PayloadTooLarge(message))
                } else {
                    Err(CoreError::InvalidArgument(format!(
                        "invalid snapshot: {message}"
                    )))
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A snapshot's size; `NotFound` when the project has none with that digest.
    pub(crate) async fn snapshot_info(
        &self,
        project_id: &str,
        digest: &str,
    ) -> CoreResult<SnapshotInfo> {
        let key = snapshot_key(project_id, digest)?;
        match self.inner.objects.head(&key).await {
            Ok(info) => Ok(SnapshotInfo {
                sha256: digest.to_string(),
                size: info.size,
            }),
            Err(ArtifactError::NotFound { .. }) => Err(CoreError::NotFound {
                entity: "snapshot",
                id: digest.to_string(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Streams a snapshot (viewers; the Kubernetes init container uses the workload's token).
    pub async fn download_snapshot(
        &self,
        pass: &ProjectPass,
        digest: &str,
    ) -> CoreResult<(u64, BoxStream<'static, CoreResult<Bytes>>)> {
        let key = snapshot_key(&pass.project().id, digest)?;
        match self.inner.objects.get_stream(&key).await {
            Ok((info, stream)) => Ok((
                info.size,
                stream
                    .map(|chunk| chunk.map_err(CoreError::Objects))
                    .boxed(),
            )),
            Err(ArtifactError::NotFound { .. }) => Err(CoreError::NotFound {
                entity: "snapshot",
                id: digest.to_string(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    fn working_dir(&self, workload_id: &str) -> PathBuf {
        self.inner.settings.work_root.join(workload_id)
    }

    /// Unpacks a workload's snapshot into its working folder and returns the folder.
    pub(super) async fn materialize(
        &self,
        workload: &plinth_types::Workload,
        digest: &str,
    ) -> CoreResult<PathBuf> {
        let key = snapshot_key(&workload.project_id, digest)?;
        let archive = match self.inner.objects.get(&key).await {
            Ok(archive) => archive,
            Err(ArtifactError::NotFound { .. }) => {
                return Err(CoreError::InvalidArgument(format!(
                    "invalid `snapshot`: {digest} is no longer stored in the project"
                )))
            }
            Err(error) => return Err(error.into()),
        };
        let dir = self.working_dir(&workload.id);
        let target = dir.clone();
        tokio::task::spawn_blocking(move || unpack(&archive, &target))
            .await
            .map_err(|error| {
                CoreError::InvalidArgument(format!("cannot unpack the snapshot: {error}"))
            })??;
        Ok(dir)
    }

    /// Removes a workload's working folder, if it has one.
    pub(super) async fn remove_working_dir(&self, workload_id: &str) {
        let dir = self.working_dir(workload_id);
        if let Err(error) = tokio::fs::remove_dir_all(&dir).await {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), %error, "cannot remove a working folder");
            }
        }
    }
}

/// Unpacks a `.tar.gz` into `dir` (created). Only regular files and folders are written;
/// entries with absolute paths or `..` are refused by `tar::Entry::unpack_in`, links and
/// devices are skipped, so nothing lands outside `dir`.
fn unpack(archive: &[u8], dir: &Path) -> CoreResult<()> {
    let bad = |error: std::io::Error| {
        CoreError::InvalidArgument(format!("invalid snapshot: cannot unpack it: {error}"))
    };
    fs_err::create_dir_all(dir).map_err(bad)?;
    let decoder = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let written = entry.unpack_in(dir).map_err(bad)?;
        if !written {
            let path = entry
                .path()
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            return Err(CoreError::InvalidArgument(format!(
                "invalid snapshot: the entry `{path}` points outside the working folder"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Write the raw name so hostile paths survive into the archive.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn snapshots_unpack_inside_their_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("work");
        unpack(&archive(&[("src/train.py", b"print(1)\n")]), &target).unwrap();
        assert_eq!(
            fs_err::read_to_string(target.join("src/train.py")).unwrap(),
            "print(1)\n"
        );
        let escape = unpack(&archive(&[("../evil.txt", b"x")]), &target).unwrap_err();
        assert!(
            escape.to_string().contains("outside the working folder"),
            "{escape}"
        );
        assert!(!dir.path().join("evil.txt").try_exists().unwrap());
        let garbage = unpack(b"not a gzip file", &target).unwrap_err();
        assert!(
            garbage.to_string().starts_with("invalid snapshot"),
            "{garbage}"
        );
    }

    #[test]
    fn digests_are_checked_before_they_become_keys() {
        assert!(check_digest(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "../x",
            &"A".repeat(64),
            &"a".repeat(63),
            &format!("{}/", "a".repeat(63)),
        ] {
            assert!(check_digest(bad).is_err(), "{bad}");
        }
    }
}
