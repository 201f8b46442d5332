//! The conformance suite every [`MetadataStore`] backend must pass unchanged.
//!
//! A backend instantiates it with [`metadata_store_suite!`](crate::metadata_store_suite),
//! passing a future that opens a fresh, empty store. Later capabilities add their cases here
//! and to the macro, so both backends get them at once.

use std::ops::Deref;
use std::sync::Arc;

use crate::{open_metadata_store, MetadataStore, StoreError, StoreOptions};

/// A fresh store plus whatever must live as long as it (a temporary folder).
pub struct TestStore {
    store: Arc<dyn MetadataStore>,
    _guard: Option<tempfile::TempDir>,
}

impl TestStore {
    /// Returns the store as the shared handle servers hold.
    pub fn shared(&self) -> Arc<dyn MetadataStore> {
        Arc::clone(&self.store)
    }
}

impl Deref for TestStore {
    type Target = dyn MetadataStore;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

/// Returns the URL of a new SQLite database in a folder that is never removed by the test
/// (reopen tests need the file to outlive the first store); it lives under the system tmp.
pub fn sqlite_temp_url() -> String {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    format!("sqlite://{}/plinth.db", dir.display())
}

/// Opens a fresh SQLite store in a temporary folder, removed when the store drops.
pub async fn open_sqlite_temp() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/plinth.db", dir.path().display());
    let store = open_metadata_store(&url, &StoreOptions::default())
        .await
        .expect("open sqlite");
    TestStore {
        store,
        _guard: Some(dir),
    }
}

/// Creates a new, empty database on the server named by `PLINTH_TEST_POSTGRES_URL` and
/// returns its URL. Each test gets its own database, so tests run in parallel.
pub async fn postgres_fresh_database_url() -> String {
    use sqlx::Connection;
    let admin_url = std::env::var("PLINTH_TEST_POSTGRES_URL")
        .expect("PLINTH_TEST_POSTGRES_URL must name a PostgreSQL server for this test");
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to test postgres");
    let name = format!("plinth_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let _ = admin.close().await;
    let mut url = url::Url::parse(&admin_url).expect("PLINTH_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Opens a fresh PostgreSQL store in a new database (see [`postgres_fresh_database_url`]).
#[cfg(feature = "postgres")]
pub async fn open_postgres_from_env() -> TestStore {
    let url = postgres_fresh_database_url().await;
    let store = open_metadata_store(&url, &StoreOptions::default())
        .await
        .expect("open postgres");
    TestStore {
        store,
        _guard: None,
    }
}

/// Instantiates the conformance suite for one backend.
///
/// `$open` is an expression yielding a future of something that derefs to
/// `dyn MetadataStore`; attributes after it (e.g. `#[ignore = "…"]`) go on every test.
#[macro_export]
macro_rules! metadata_store_suite {
    ($open:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::metadata_store_suite!(@cases ($open) [$(#[$attr])*]
            fresh_store_is_migrated_and_reachable
            startup_creates_then_keeps_the_installation
            concurrent_startups_agree_on_one_installation
            installation_is_not_found_before_first_startup
            server_metadata_round_trips
            server_metadata_rejects_bad_keys_and_values
            deleting_missing_metadata_is_not_found
        );
    };
    (@cases ($open:expr) [$($attrs:tt)*] $case:ident $($rest:ident)*) => {
        $($attrs)*
        #[tokio::test]
        async fn $case() {
            let store = $open.await;
            $crate::testsuite::$case(&*store).await;
        }
        $crate::metadata_store_suite!(@cases ($open) [$($attrs)*] $($rest)*);
    };
    (@cases ($open:expr) [$($attrs:tt)*]) => {};
}

/// A fresh store has every migration applied and answers.
pub async fn fresh_store_is_migrated_and_reachable(store: &dyn MetadataStore) {
    store.check_connectivity().await.expect("reachable");
    let version = store.schema_version().await.expect("schema version");
    assert!(version >= 20261128000001, "schema version {version}");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

/// The first startup creates the installation; later ones keep its id and count up.
pub async fn startup_creates_then_keeps_the_installation(store: &dyn MetadataStore) {
    let first = store.record_startup("0.1.0").await.expect("first startup");
    assert_eq!(first.installation_id.len(), 32);
    assert_eq!(first.start_count, 1);
    assert_eq!(first.created_at_ms, first.last_started_at_ms);
    let second = store.record_startup("0.2.0").await.expect("second startup");
    assert_eq!(second.installation_id, first.installation_id);
    assert_eq!(second.created_at_ms, first.created_at_ms);
    assert_eq!(second.start_count, 2);
    assert_eq!(second.last_started_version, "0.2.0");
    assert!(second.last_started_at_ms >= first.last_started_at_ms);
    assert_eq!(store.installation().await.expect("installation"), second);
}

/// Replicas starting at once (the PostgreSQL case) must not create two installations.
pub async fn concurrent_startups_agree_on_one_installation(store: &dyn MetadataStore) {
    let results = futures::future::join_all((0..8).map(|_| store.record_startup("0.1.0"))).await;
    let ids: std::collections::BTreeSet<String> = results
        .into_iter()
        .map(|result| result.expect("startup").installation_id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        store
            .installation()
            .await
            .expect("installation")
            .start_count,
        8
    );
}

/// Before any startup there is no installation, and asking says so.
pub async fn installation_is_not_found_before_first_startup(store: &dyn MetadataStore) {
    let error = store.installation().await.expect_err("no installation yet");
    assert!(
        matches!(
            error,
            StoreError::NotFound {
                entity: "installation",
                ..
            }
        ),
        "{error:?}"
    );
}

/// Entries are set, replaced, listed in key order and read back byte for byte.
pub async fn server_metadata_round_trips(store: &dyn MetadataStore) {
    assert_eq!(store.get_server_metadata("ui.banner").await.unwrap(), None);
    store
        .set_server_metadata("ui.banner", "hello")
        .await
        .unwrap();
    store
        .set_server_metadata("ui.banner", "héllo, wörld ✓ 'quoted' \"double\"")
        .await
        .unwrap();
    let large = "x".repeat(crate::common::MAX_METADATA_VALUE_BYTES);
    store
        .set_server_metadata("a-large_value", &large)
        .await
        .unwrap();
    store.set_server_metadata("empty", "").await.unwrap();
    assert_eq!(
        store
            .get_server_metadata("ui.banner")
            .await
            .unwrap()
            .as_deref(),
        Some("héllo, wörld ✓ 'quoted' \"double\"")
    );
    let listed = store.list_server_metadata().await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["a-large_value", "empty", "ui.banner"]);
    assert_eq!(listed[0].1.len(), large.len());
    assert_eq!(listed[1].1, "");
    store.delete_server_metadata("ui.banner").await.unwrap();
    assert_eq!(store.get_server_metadata("ui.banner").await.unwrap(), None);
}

/// Bad keys and values are refused with the field named, and nothing is stored.
pub async fn server_metadata_rejects_bad_keys_and_values(store: &dyn MetadataStore) {
    let too_long = "k".repeat(129);
    for key in [
        "",
        "Upper",
        "with space",
        "../etc",
        "nul\0",
        too_long.as_str(),
    ] {
        let error = store
            .set_server_metadata(key, "v")
            .await
            .expect_err("bad key");
        assert!(
            matches!(error, StoreError::InvalidArgument { field: "key", .. }),
            "{key:?}: {error:?}"
        );
    }
    let error = store
        .set_server_metadata("ok", "nul\0inside")
        .await
        .expect_err("NUL value");
    assert!(
        matches!(error, StoreError::InvalidArgument { field: "value", .. }),
        "{error:?}"
    );
    let huge = "x".repeat(crate::common::MAX_METADATA_VALUE_BYTES + 1);
    let error = store
        .set_server_metadata("ok", &huge)
        .await
        .expect_err("huge value");
    assert!(error.to_string().contains("more than"), "{error}");
    assert!(store.list_server_metadata().await.unwrap().is_empty());
}

/// Deleting what is not there is `NotFound`, naming the key.
pub async fn deleting_missing_metadata_is_not_found(store: &dyn MetadataStore) {
    let error = store
        .delete_server_metadata("missing")
        .await
        .expect_err("not found");
    assert_eq!(error.to_string(), "server metadata `missing` not found");
}

/// Opening the same database twice applies no migration twice and keeps the data.
pub async fn reopen_keeps_data(url: String) {
    let first = open_metadata_store(&url, &StoreOptions::default())
        .await
        .expect("first open");
    let installation = first.record_startup("0.1.0").await.unwrap();
    first.set_server_metadata("kept", "yes").await.unwrap();
    let version = first.schema_version().await.unwrap();
    first.close().await;
    let second = open_metadata_store(&url, &StoreOptions::default())
        .await
        .expect("second open");
    assert_eq!(second.schema_version().await.unwrap(), version);
    assert_eq!(
        second.get_server_metadata("kept").await.unwrap().as_deref(),
        Some("yes")
    );
    assert_eq!(second.installation().await.unwrap(), installation);
    second.close().await;
}
