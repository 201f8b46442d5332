//! The service over a real SQLite metastore and an in-memory object store: keys sealed,
//! checked and revoked at once; buckets mapped to projects with the key's limits; abandoned
//! multipart uploads collected.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plinth_artifacts::{ArtifactStore, ObjectKey};
use plinth_auth::{HashingParams, PasswordHasher, SecretBox};
use plinth_core::{IdentityService, IdentitySettings, ManualClock, Principal};
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use plinth_metastore::{MetadataStore, NewUser};
use plinth_types::Username;

use crate::{FileStore, FilesError, FilesService, PartRecord, SqlFileStore};

struct World {
    files: FilesService,
    store: SqlFileStore,
    identity: IdentityService,
    secret_box: SecretBox,
    clock: ManualClock,
    olga: plinth_types::UserId,
    _guard: TestStore,
}

async fn world() -> World {
    world_on(open_sqlite_temp().await).await
}

async fn world_on(guard: TestStore) -> World {
    let metadata: Arc<dyn MetadataStore> = guard.shared();
    let olga = metadata
        .create_user(
            &NewUser {
                username: Username::parse("olga").unwrap(),
                email: "olga@example.com".to_string(),
                display_name: "Olga".to_string(),
                password_hash: None,
                is_admin: false,
            },
            1,
        )
        .await
        .unwrap();
    let org = metadata
        .create_organization("acme", "Acme", 1)
        .await
        .unwrap();
    for name in ["alpha", "beta"] {
        metadata
            .create_project(&org.id, name, name, "", &olga.id, 1)
            .await
            .unwrap();
    }
    let clock = ManualClock::new(1_000_000);
    let secret_box = SecretBox::random();
    let identity = IdentityService::new(
        metadata.clone(),
        PasswordHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }),
        secret_box.clone(),
        IdentitySettings::default(),
        Arc::new(clock.clone()),
    );
    let store = SqlFileStore::new(metadata.shared_pool());
    let files = FilesService::new(
        Arc::new(store.clone()),
        identity.clone(),
        ArtifactStore::in_memory(),
        secret_box.clone(),
        Arc::new(clock.clone()),
        "http://127.0.0.1:9".to_string(),
    );
    World {
        files,
        store,
        identity,
        secret_box,
        clock,
        olga: olga.id,
        _guard: guard,
    }
}

impl World {
    /// Olga, signed in with an unlimited credential.
    async fn olga(&self) -> Principal {
        self.identity
            .access_key_principal(&self.olga, "test", None, false)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn secrets_are_sealed_checked_and_revoked_at_once() {
    secrets_are_sealed_checked_and_revoked_at_once_on(world().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
async fn secrets_are_sealed_checked_and_revoked_at_once_on_postgres() {
    secrets_are_sealed_checked_and_revoked_at_once_on(
        world_on(plinth_metastore::testsuite::open_postgres_from_env().await).await,
    )
    .await;
}

async fn secrets_are_sealed_checked_and_revoked_at_once_on(world: World) {
    let olga = world.olga().await;
    let (key, secret) = world.files.create_key(&olga, None, false).await.unwrap();
    let stored = world
        .store
        .get_key(&key.access_key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.secret_sealed.contains(&secret),
        "the secret is stored in plaintext"
    );
    assert_eq!(
        world.secret_box.open(&stored.secret_sealed).unwrap(),
        secret
    );
    assert_eq!(
        world.files.secret_key(&key.access_key_id).await.unwrap(),
        secret
    );
    let caller = world.files.caller(&key.access_key_id).await.unwrap();
    assert_eq!(caller.user().username.as_str(), "olga");
    assert_eq!(world.files.list_keys(&olga).await.unwrap().len(), 1);

    world
        .files
        .revoke_key(&olga, &key.access_key_id)
        .await
        .unwrap();
    assert!(matches!(
        world.files.secret_key(&key.access_key_id).await,
        Err(FilesError::InvalidAccessKeyId)
    ));
    assert!(matches!(
        world.files.caller(&key.access_key_id).await,
        Err(FilesError::InvalidAccessKeyId)
    ));
    // Revoking twice, or a key of nobody, is `NotFound`.
    assert!(matches!(
        world.files.revoke_key(&olga, &key.access_key_id).await,
        Err(FilesError::NotFound { .. })
    ));
    assert!(matches!(
        world.files.secret_key("AKIAIOSFODNN7EXAMPLE").await,
        Err(FilesError::InvalidAccessKeyId)
    ));
}

#[tokio::test]
async fn keys_carry_their_limits_to_buckets() {
    keys_carry_their_limits_to_buckets_on(world().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
async fn keys_carry_their_limits_to_buckets_on_postgres() {
    keys_carry_their_limits_to_buckets_on(
        world_on(plinth_metastore::testsuite::open_postgres_from_env().await).await,
    )
    .await;
}

async fn keys_carry_their_limits_to_buckets_on(world: World) {
    let olga = world.olga().await;
    let (scoped, _) = world
        .files
        .create_key(&olga, Some("acme/alpha"), true)
        .await
        .unwrap();
    assert_eq!(scoped.project.as_deref(), Some("acme/alpha"));
    let caller = world.files.caller(&scoped.access_key_id).await.unwrap();
    let alpha = world
        .files
        .bucket(&caller, "acme.alpha", false)
        .await
        .unwrap();
    assert_eq!(alpha.pass().project().name.as_str(), "alpha");
    assert!(matches!(
        world.files.bucket(&caller, "acme.alpha", true).await,
        Err(FilesError::AccessDenied(_))
    ));
    assert!(matches!(
        world.files.bucket(&caller, "acme.beta", false).await,
        Err(FilesError::NoSuchBucket(_))
    ));
    assert!(matches!(
        world.files.bucket(&olga, "acme.gamma", false).await,
        Err(FilesError::NoSuchBucket(_))
    ));
    assert!(matches!(
        world.files.bucket(&olga, "not-a-project", false).await,
        Err(FilesError::NoSuchBucket(_))
    ));
    let names: Vec<String> = world
        .files
        .list_buckets(&caller)
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["acme.alpha"]);
    let all: Vec<String> = world
        .files
        .list_buckets(&olga)
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(all, ["acme.alpha", "acme.beta"]);
    // A key never reaches further than the credential creating it.
    let read_only = world
        .identity
        .access_key_principal(&world.olga, "ro", None, true)
        .await
        .unwrap();
    assert!(world
        .files
        .create_key(&read_only, None, false)
        .await
        .is_err());
    assert!(world.files.create_key(&read_only, None, true).await.is_ok());
    assert!(world
        .files
        .create_key(&olga, Some("acme/gamma"), false)
        .await
        .is_err());
}

#[tokio::test]
async fn abandoned_uploads_are_collected() {
    abandoned_uploads_are_collected_on(world().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
async fn abandoned_uploads_are_collected_on_postgres() {
    abandoned_uploads_are_collected_on(
        world_on(plinth_metastore::testsuite::open_postgres_from_env().await).await,
    )
    .await;
}

async fn abandoned_uploads_are_collected_on(world: World) {
    let olga = world.olga().await;
    let bucket = world.files.bucket(&olga, "acme.alpha", true).await.unwrap();
    let key = ObjectKey::parse("big/model.bin").unwrap();
    let old = world
        .files
        .start_upload(&olga, &bucket, &key)
        .await
        .unwrap();
    let upload = world.files.upload(&bucket, &old, &key).await.unwrap();
    let part = crate::part_key(&old, 1).unwrap();
    bucket
        .uploads()
        .put(&part, Bytes::from_static(b"part one"))
        .await
        .unwrap();
    world
        .files
        .record_part(
            &upload,
            &PartRecord {
                part_number: 1,
                size: 8,
                e_tag: "x".to_string(),
            },
        )
        .await
        .unwrap();
    world.clock.advance(2 * 24 * 3600 * 1000);
    let fresh = world
        .files
        .start_upload(&olga, &bucket, &key)
        .await
        .unwrap();
    let removed = world
        .files
        .collect_abandoned_uploads(Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(world.store.get_upload(&old).await.unwrap().is_none());
    assert!(world.store.list_parts(&old).await.unwrap().is_empty());
    assert!(bucket.uploads().list(None).await.unwrap().is_empty());
    assert!(world.files.upload(&bucket, &fresh, &key).await.is_ok());
    // An upload is reachable only through its own bucket and key.
    let beta = world.files.bucket(&olga, "acme.beta", true).await.unwrap();
    assert!(matches!(
        world.files.upload(&beta, &fresh, &key).await,
        Err(FilesError::NoSuchUpload(_))
    ));
    let other = ObjectKey::parse("other.bin").unwrap();
    assert!(matches!(
        world.files.upload(&bucket, &fresh, &other).await,
        Err(FilesError::NoSuchUpload(_))
    ));
}
