//! [`FilesService`]: per-user S3 access keys (created, listed, revoked) and what the S3
//! endpoint asks of Plinth — who signed a request, which project a bucket is and whether
//! the caller may read or write it, where its objects and multipart uploads live — with
//! every call authorized through [`IdentityService`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use plinth_artifacts::{ArtifactStore, ObjectKey};
use plinth_auth::SecretBox;
use plinth_core::{Clock, CoreError, IdentityService, Principal, ProjectPass};
use plinth_types::{Role, S3AccessKey, UserId};

use crate::error::{FilesError, FilesResult};
use crate::names::{self, bucket_name, parse_bucket, parse_project_ref};
use crate::store::{AccessKeyRecord, FileStore, PartRecord, UploadRecord};

/// A key's last use is written at most this often.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Project files, S3 access keys and the S3 endpoint's view of Plinth.
#[derive(Clone)]
pub struct FilesService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn FileStore>,
    identity: IdentityService,
    artifacts: ArtifactStore,
    secret_box: SecretBox,
    clock: Arc<dyn Clock>,
    endpoint_url: RwLock<String>,
}

impl std::fmt::Debug for FilesService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FilesService")
            .field("endpoint_url", &self.endpoint_url())
            .finish_non_exhaustive()
    }
}

/// A bucket the caller may use: its project and where its objects live.
#[derive(Clone, Debug)]
pub struct Bucket {
    name: String,
    pass: ProjectPass,
    files: ArtifactStore,
    uploads: ArtifactStore,
}

impl Bucket {
    /// Returns the bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the project and the caller's role in it.
    pub fn pass(&self) -> &ProjectPass {
        &self.pass
    }

    /// Returns the store of the project's files (`projects/{project_id}/files`): every key
    /// resolves under it.
    pub fn files(&self) -> &ArtifactStore {
        &self.files
    }

    /// Returns where the parts of the project's multipart uploads wait
    /// (`projects/{project_id}/uploads`).
    pub fn uploads(&self) -> &ArtifactStore {
        &self.uploads
    }
}

/// The key of part `part_number` of upload `upload_id` in [`Bucket::uploads`].
pub fn part_key(upload_id: &str, part_number: i64) -> FilesResult<ObjectKey> {
    Ok(ObjectKey::parse(&format!("{upload_id}/{part_number:05}"))?)
}

fn project_prefix(project_id: &str, area: &str) -> FilesResult<ObjectKey> {
    Ok(ObjectKey::parse(&format!("projects/{project_id}/{area}"))?)
}

impl FilesService {
    /// Returns the service. `endpoint_url` is where S3 clients reach the endpoint (set
    /// again with [`FilesService::set_endpoint_url`] once its listener is bound).
    pub fn new(
        store: Arc<dyn FileStore>,
        identity: IdentityService,
        artifacts: ArtifactStore,
        secret_box: SecretBox,
        clock: Arc<dyn Clock>,
        endpoint_url: String,
    ) -> Self {
        FilesService {
            inner: Arc::new(Inner {
                store,
                identity,
                artifacts,
                secret_box,
                clock,
                endpoint_url: RwLock::new(endpoint_url),
            }),
        }
    }

    /// Returns the S3 endpoint's URL, as clients should use it.
    pub fn endpoint_url(&self) -> String {
        self.inner
            .endpoint_url
            .read()
            .map(|url| url.clone())
            .unwrap_or_default()
    }

    /// Sets the S3 endpoint's URL (once its listener is bound).
    pub fn set_endpoint_url(&self, url: String) {
        if let Ok(mut current) = self.inner.endpoint_url.write() {
            *current = url;
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Creates an S3 access key for the caller and returns it with its secret (shown once).
    /// A key never reaches further than the credential creating it: a project-scoped
    /// token creates keys scoped to its project, a read-only token read-only keys.
    pub async fn create_key(
        &self,
        principal: &Principal,
        project: Option<&str>,
        read_only: bool,
    ) -> FilesResult<(S3AccessKey, String)> {
        if principal.is_read_only() && !read_only {
            return Err(FilesError::Core(CoreError::Forbidden(
                "a read-only token can create only read-only keys (`read_only`)".to_string(),
            )));
        }
        let scope = match project {
            Some(text) => {
                let (organization, name) = parse_project_ref(text)?;
                let pass = self
                    .inner
                    .identity
                    .authorize_project(principal, &organization, &name, Role::Viewer)
                    .await?;
                Some(pass.project().clone())
            }
            None => {
                if principal.project_scope().is_some() {
                    return Err(FilesError::Core(CoreError::Forbidden(
                        "a project-scoped token can create only keys scoped to its project (`project`)"
                            .to_string(),
                    )));
                }
                None
            }
        };
        let secret = names::new_secret_access_key();
        let record = AccessKeyRecord {
            id: names::new_access_key_id(),
            user_id: principal.user().id.as_str().to_string(),
            secret_sealed: self.inner.secret_box.seal(&secret),
            project_id: scope.as_ref().map(|project| project.id.clone()),
            read_only,
            created_at_ms: self.now(),
            last_used_at_ms: None,
            revoked_at_ms: None,
        };
        self.inner.store.insert_key(&record).await?;
        tracing::info!(
            user = %principal.user().username,
            access_key_id = %record.id,
            project_id = ?record.project_id,
            read_only,
            "created S3 access key"
        );
        let mut key = view(&record);
        key.project = scope.map(|project| format!("{}/{}", project.organization, project.name));
        Ok((key, secret))
    }

    /// Lists the caller's access keys, newest first (revoked ones too).
    pub async fn list_keys(&self, principal: &Principal) -> FilesResult<Vec<S3AccessKey>> {
        let records = self
            .inner
            .store
            .list_keys(principal.user().id.as_str())
            .await?;
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let mut key = view(&record);
            if let Some(project_id) = &record.project_id {
                // Named when the caller still sees the project.
                if let Ok(pass) = self
                    .inner
                    .identity
                    .authorize_project_by_id(principal, project_id, Role::Viewer)
                    .await
                {
                    key.project = Some(format!(
                        "{}/{}",
                        pass.project().organization,
                        pass.project().name
                    ));
                }
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// Revokes one of the caller's keys: the next request signed with it is refused.
    pub async fn revoke_key(&self, principal: &Principal, access_key_id: &str) -> FilesResult<()> {
        let revoked = self
            .inner
            .store
            .revoke_key(principal.user().id.as_str(), access_key_id, self.now())
            .await?;
        if !revoked {
            return Err(FilesError::NotFound {
                entity: "access key",
                id: access_key_id.to_string(),
            });
        }
        tracing::info!(user = %principal.user().username, access_key_id, "revoked S3 access key");
        Ok(())
    }

    async fn live_key(&self, access_key_id: &str) -> FilesResult<AccessKeyRecord> {
        if !names::is_access_key_id(access_key_id) {
            return Err(FilesError::InvalidAccessKeyId);
        }
        match self.inner.store.get_key(access_key_id).await? {
            Some(record) if record.revoked_at_ms.is_none() => Ok(record),
            _ => Err(FilesError::InvalidAccessKeyId),
        }
    }

    /// Returns the secret of a live access key, for checking a request's signature.
    pub async fn secret_key(&self, access_key_id: &str) -> FilesResult<String> {
        let record = self.live_key(access_key_id).await?;
        self.inner
            .secret_box
            .open(&record.secret_sealed)
            .map_err(FilesError::Sealed)
    }

    /// Returns who signed a request with `access_key_id` (whose signature was checked):
    /// the key's owner, limited as the key is. Read again on every request, so a revoked
    /// key or a deactivated owner is refused at once.
    pub async fn caller(&self, access_key_id: &str) -> FilesResult<Principal> {
        let record = self.live_key(access_key_id).await?;
        let now = self.now();
        if record
            .last_used_at_ms
            .is_none_or(|last| now - last >= TOUCH_INTERVAL_MS)
        {
            self.inner.store.touch_key(&record.id, now).await?;
        }
        let principal = self
            .inner
            .identity
            .access_key_principal(
                &UserId::from_stored(record.user_id.clone()),
                &record.id,
                record.project_id.clone(),
                record.read_only,
            )
            .await
            .map_err(|error| match error {
                CoreError::Unauthenticated(reason) => FilesError::AccessDenied(reason),
                other => FilesError::Core(other),
            })?;
        Ok(principal)
    }

    /// Returns the bucket named `name` when the caller may read it (`write`: change it, as a
    /// Contributor with a key that may write). Buckets the caller may not see do not exist.
    pub async fn bucket(
        &self,
        principal: &Principal,
        name: &str,
        write: bool,
    ) -> FilesResult<Bucket> {
        let no_such_bucket = || FilesError::NoSuchBucket(name.to_string());
        let (organization, project) = parse_bucket(name).ok_or_else(no_such_bucket)?;
        let needed = if write {
            Role::Contributor
        } else {
            Role::Viewer
        };
        let pass = self
            .inner
            .identity
            .authorize_project(principal, &organization, &project, needed)
            .await
            .map_err(|error| match error {
                CoreError::NotFound { .. } => no_such_bucket(),
                CoreError::Forbidden(reason) => FilesError::AccessDenied(reason),
                other => FilesError::Core(other),
            })?;
        let project_id = pass.project().id.clone();
        Ok(Bucket {
            name: name.to_string(),
            files: self
                .inner
                .artifacts
                .scoped(&project_prefix(&project_id, "files")?),
            uploads: self
                .inner
                .artifacts
                .scoped(&project_prefix(&project_id, "uploads")?),
            pass,
        })
    }

    /// Lists the buckets the caller may read: their projects (one, for a scoped key), by
    /// name, with each project's creation time.
    pub async fn list_buckets(&self, principal: &Principal) -> FilesResult<Vec<(String, i64)>> {
        let projects = self
            .inner
            .identity
            .list_projects(principal, false, None)
            .await?;
        let mut buckets: Vec<(String, i64)> = projects
            .into_iter()
            .map(|(project, _)| {
                (
                    bucket_name(project.organization.as_str(), project.name.as_str()),
                    project.created_at_ms,
                )
            })
            .collect();
        buckets.sort();
        Ok(buckets)
    }

    /// Starts a multipart upload into `key` of `bucket` (checked for writing).
    pub async fn start_upload(
        &self,
        principal: &Principal,
        bucket: &Bucket,
        key: &ObjectKey,
    ) -> FilesResult<String> {
        let upload_id = uuid::Uuid::now_v7().simple().to_string();
        self.inner
            .store
            .insert_upload(&UploadRecord {
                upload_id: upload_id.clone(),
                project_id: bucket.pass.project().id.clone(),
                object_key: key.as_str().to_string(),
                created_by: principal.user().id.as_str().to_string(),
                created_at_ms: self.now(),
            })
            .await?;
        Ok(upload_id)
    }

    /// Returns the upload `upload_id` into `key` of `bucket`; any other is `NoSuchUpload`.
    pub async fn upload(
        &self,
        bucket: &Bucket,
        upload_id: &str,
        key: &ObjectKey,
    ) -> FilesResult<UploadRecord> {
        match self.inner.store.get_upload(upload_id).await? {
            Some(upload)
                if upload.project_id == bucket.pass.project().id
                    && upload.object_key == key.as_str() =>
            {
                Ok(upload)
            }
            _ => Err(FilesError::NoSuchUpload(upload_id.to_string())),
        }
    }

    /// Records an uploaded part (its bytes are in [`Bucket::uploads`] already).
    pub async fn record_part(&self, upload: &UploadRecord, part: &PartRecord) -> FilesResult<()> {
        self.inner.store.put_part(&upload.upload_id, part).await
    }

    /// Lists an upload's parts by number.
    pub async fn parts(&self, upload: &UploadRecord) -> FilesResult<Vec<PartRecord>> {
        self.inner.store.list_parts(&upload.upload_id).await
    }

    /// Removes an upload's parts and its record (after completion, or abort).
    pub async fn discard_upload(&self, upload: &UploadRecord) -> FilesResult<()> {
        let parts = self
            .inner
            .artifacts
            .scoped(&project_prefix(&upload.project_id, "uploads")?);
        parts
            .delete_prefix(&ObjectKey::parse(&upload.upload_id)?)
            .await?;
        self.inner.store.delete_upload(&upload.upload_id).await?;
        Ok(())
    }

    /// Removes multipart uploads started longer than `older_than` ago and never completed
    /// nor aborted; returns how many.
    pub async fn collect_abandoned_uploads(&self, older_than: Duration) -> FilesResult<u64> {
        let before = self.now() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let uploads = self.inner.store.uploads_started_before(before).await?;
        let mut removed = 0;
        for upload in uploads {
            self.discard_upload(&upload).await?;
            tracing::info!(upload_id = %upload.upload_id, project_id = %upload.project_id, "removed an abandoned multipart upload");
            removed += 1;
        }
        Ok(removed)
    }
}

fn view(record: &AccessKeyRecord) -> S3AccessKey {
    S3AccessKey {
        access_key_id: record.id.clone(),
        project_id: record.project_id.clone(),
        project: None,
        read_only: record.read_only,
        created_at_ms: record.created_at_ms,
        last_used_at_ms: record.last_used_at_ms,
        revoked_at_ms: record.revoked_at_ms,
    }
}
