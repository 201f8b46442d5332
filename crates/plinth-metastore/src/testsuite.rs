//! The conformance suite every [`MetadataStore`] backend must pass unchanged.
//!
//! A backend instantiates it with [`metadata_store_suite!`](crate::metadata_store_suite),
//! passing a future that opens a fresh, empty store. Later capabilities add their cases here
//! and to the macro, so both backends get them at once.

mod registry;
mod tracking;

use std::ops::Deref;
use std::sync::Arc;

use plinth_types::{
    App, NodePool, PoolTaint, ProjectQuota, ProjectUsageNow, ResourceClass, Role, UserId, Username,
    WorkloadCommand, WorkloadEndpoint, WorkloadKind, WorkloadState,
};

pub use registry::{
    model_versions_are_numbered_staged_aliased_and_deleted,
    registered_models_are_created_renamed_tagged_and_deleted,
    registry_search_filters_orders_and_pages,
};
pub use tracking::{
    awkward_doubles, bulk_interval_history_samples_evenly,
    concurrent_log_calls_each_get_their_own_result, datasets_and_model_inputs_are_logged_once,
    default_experiment_is_created_once_per_project, deleting_a_project_removes_its_tracking_data,
    experiment_keys_are_distinct_per_experiment, experiment_run_stats_count_per_view,
    experiment_search_filters_orders_and_pages, experiments_are_created_found_renamed_and_tagged,
    experiments_are_soft_deleted_with_their_runs, log_batch_enforces_mlflow_limits,
    logged_models_are_created_finalized_tagged_and_searched,
    metric_charts_downsample_by_step_in_sql, metric_history_pages_through_twenty_thousand_points,
    metric_values_are_stored_bit_for_bit, metrics_keep_history_and_latest_value,
    params_never_change_value, runs_are_created_read_updated_and_deleted,
    search_runs_filters_like_mlflow, search_runs_orders_nulls_and_nans_last,
    search_runs_pages_two_thousand_runs, search_runs_plans_agree,
};

use crate::{
    open_metadata_store, AuditQuery, MetadataStore, NewApiToken, NewAuditEvent, NewSession,
    NewUser, NewWorkload, OrgRole, StoreError, StoreOptions, UsageDelta, UsageQuery, UserUpdate,
    WorkloadQuery, WorkloadTransition,
};

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
            users_are_unique_by_username_and_email
            users_are_updated_listed_and_searched
            mfa_steps_only_advance_and_recovery_codes_are_single_use
            sessions_round_trip_and_end
            api_tokens_are_found_by_hash_listed_and_revoked
            projects_are_listed_only_to_their_members
            organizations_are_visible_through_membership
            audit_log_filters_and_pages_newest_first
            login_failures_lock_then_expire
            federated_identities_link_accounts
            pools_and_classes_are_seeded_and_edited
            quotas_and_usage_now
            workloads_move_through_their_states
            endpoints_and_apps_are_recorded
            usage_is_accrued_once
            experiments_are_created_found_renamed_and_tagged
            default_experiment_is_created_once_per_project
            experiments_are_soft_deleted_with_their_runs
            experiment_search_filters_orders_and_pages
            runs_are_created_read_updated_and_deleted
            params_never_change_value
            metrics_keep_history_and_latest_value
            metric_values_are_stored_bit_for_bit
            log_batch_enforces_mlflow_limits
            concurrent_log_calls_each_get_their_own_result
            metric_history_pages_through_twenty_thousand_points
            bulk_interval_history_samples_evenly
            metric_charts_downsample_by_step_in_sql
            experiment_keys_are_distinct_per_experiment
            experiment_run_stats_count_per_view
            search_runs_filters_like_mlflow
            search_runs_orders_nulls_and_nans_last
            search_runs_pages_two_thousand_runs
            search_runs_plans_agree
            datasets_and_model_inputs_are_logged_once
            logged_models_are_created_finalized_tagged_and_searched
            registered_models_are_created_renamed_tagged_and_deleted
            model_versions_are_numbered_staged_aliased_and_deleted
            registry_search_filters_orders_and_pages
            deleting_a_project_removes_its_tracking_data
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

async fn user(store: &dyn MetadataStore, name: &str) -> plinth_types::User {
    let new = NewUser {
        username: Username::parse(name).unwrap(),
        email: format!("{name}@example.com"),
        display_name: format!("{name} display"),
        password_hash: Some("$argon2id$fake".to_string()),
        is_admin: false,
    };
    store.create_user(&new, 1_000).await.expect("create user")
}

/// Usernames and emails are unique; logins find users by either, in any case.
pub async fn users_are_unique_by_username_and_email(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    assert_eq!(alice.username.as_str(), "alice");
    assert!(alice.is_active && !alice.is_admin && !alice.mfa_enabled);
    assert_eq!(alice.id.as_str().len(), 32);
    let found = store
        .find_user_by_login("ALICE")
        .await
        .unwrap()
        .expect("by username");
    assert_eq!(found.user, alice);
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$fake"));
    assert_eq!(
        store
            .find_user_by_login(" Alice@Example.com ")
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        alice.id
    );
    assert!(store.find_user_by_login("nobody").await.unwrap().is_none());
    let mut duplicate = NewUser {
        username: Username::parse("alice").unwrap(),
        email: "other@example.com".to_string(),
        display_name: String::new(),
        password_hash: None,
        is_admin: false,
    };
    let error = store.create_user(&duplicate, 2_000).await.unwrap_err();
    assert_eq!(error.to_string(), "user `alice` already exists");
    duplicate.username = Username::parse("alice2").unwrap();
    duplicate.email = "alice@example.com".to_string();
    let error = store.create_user(&duplicate, 2_000).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "email `alice@example.com` already exists"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
}

/// Users change; lists are ordered, searchable and paged by username.
pub async fn users_are_updated_listed_and_searched(store: &dyn MetadataStore) {
    for name in ["carol", "alice", "bob", "dave_x"] {
        user(store, name).await;
    }
    let alice = store
        .find_user_by_login("alice")
        .await
        .unwrap()
        .unwrap()
        .user;
    let update = UserUpdate {
        display_name: Some("Alice A.".to_string()),
        is_admin: Some(true),
        is_active: Some(false),
        email: None,
    };
    let updated = store.update_user(&alice.id, &update, 5_000).await.unwrap();
    assert_eq!(updated.display_name, "Alice A.");
    assert!(updated.is_admin && !updated.is_active);
    assert_eq!(updated.email, "alice@example.com");
    let names = |users: Vec<plinth_types::User>| {
        users
            .into_iter()
            .map(|u| u.username.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_users(None, None, 10).await.unwrap()),
        ["alice", "bob", "carol", "dave_x"]
    );
    assert_eq!(
        names(store.list_users(None, Some("bob"), 10).await.unwrap()),
        ["carol", "dave_x"]
    );
    assert_eq!(
        names(store.list_users(None, None, 2).await.unwrap()),
        ["alice", "bob"]
    );
    assert_eq!(
        names(store.list_users(Some("ALICE A"), None, 10).await.unwrap()),
        ["alice"]
    );
    // `_` is a literal, not a LIKE wildcard.
    assert_eq!(
        names(store.list_users(Some("e_x"), None, 10).await.unwrap()),
        ["dave_x"]
    );
    assert!(store
        .list_users(Some("%"), None, 10)
        .await
        .unwrap()
        .is_empty());
    let taken = UserUpdate {
        email: Some("bob@example.com".to_string()),
        ..UserUpdate::default()
    };
    assert!(matches!(
        store.update_user(&alice.id, &taken, 6_000).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let missing = UserId::from_stored("0".repeat(32));
    assert!(matches!(
        store.update_user(&missing, &UserUpdate::default(), 1).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .set_password_hash(&alice.id, "$argon2id$new", 7_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user_record(&alice.id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    store.record_login(&alice.id, 8_000).await.unwrap();
    assert_eq!(
        store
            .get_user_record(&alice.id)
            .await
            .unwrap()
            .user
            .last_login_at_ms,
        Some(8_000)
    );
}

/// A TOTP step is accepted once; recovery codes work once each and go with MFA.
pub async fn mfa_steps_only_advance_and_recovery_codes_are_single_use(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    store
        .set_mfa(&alice.id, Some("v1:sealed"), true, 2_000)
        .await
        .unwrap();
    let record = store.get_user_record(&alice.id).await.unwrap();
    assert!(record.user.mfa_enabled);
    assert_eq!(record.mfa_secret_sealed.as_deref(), Some("v1:sealed"));
    assert!(store.advance_mfa_step(&alice.id, 100).await.unwrap());
    assert!(
        !store.advance_mfa_step(&alice.id, 100).await.unwrap(),
        "replay"
    );
    assert!(
        !store.advance_mfa_step(&alice.id, 99).await.unwrap(),
        "older step"
    );
    assert!(store.advance_mfa_step(&alice.id, 101).await.unwrap());
    let hashes: Vec<String> = (0..3).map(|i| format!("hash{i}")).collect();
    store
        .replace_recovery_codes(&alice.id, &hashes)
        .await
        .unwrap();
    assert_eq!(store.count_recovery_codes(&alice.id).await.unwrap(), 3);
    assert!(store
        .consume_recovery_code(&alice.id, "hash1", 3_000)
        .await
        .unwrap());
    assert!(
        !store
            .consume_recovery_code(&alice.id, "hash1", 3_001)
            .await
            .unwrap(),
        "used twice"
    );
    assert!(!store
        .consume_recovery_code(&alice.id, "nope", 3_002)
        .await
        .unwrap());
    assert_eq!(store.count_recovery_codes(&alice.id).await.unwrap(), 2);
    store.set_mfa(&alice.id, None, false, 4_000).await.unwrap();
    let record = store.get_user_record(&alice.id).await.unwrap();
    assert!(
        !record.user.mfa_enabled
            && record.mfa_secret_sealed.is_none()
            && record.mfa_last_step.is_none()
    );
    assert_eq!(store.count_recovery_codes(&alice.id).await.unwrap(), 0);
}

/// Sessions are found by hash, pass their MFA step, and end alone or all together.
pub async fn sessions_round_trip_and_end(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    let session = |hash: &str| NewSession {
        id_hash: hash.to_string(),
        user_id: alice.id.clone(),
        csrf_token: format!("csrf-{hash}"),
        mfa_pending: true,
        created_at_ms: 1_000,
        expires_at_ms: 9_000,
        client_ip: "127.0.0.1".to_string(),
        user_agent: "test".to_string(),
    };
    store.create_session(&session("s1")).await.unwrap();
    store.create_session(&session("s2")).await.unwrap();
    let found = store.get_session("s1").await.unwrap().expect("session");
    assert_eq!(
        (
            found.user_id.clone(),
            found.csrf_token.as_str(),
            found.mfa_pending
        ),
        (alice.id.clone(), "csrf-s1", true)
    );
    store.complete_session_mfa("s1").await.unwrap();
    store.touch_session("s1", 2_000).await.unwrap();
    let found = store.get_session("s1").await.unwrap().unwrap();
    assert!(!found.mfa_pending);
    assert_eq!((found.last_seen_at_ms, found.expires_at_ms), (2_000, 9_000));
    store.delete_session("s1").await.unwrap();
    assert!(store.get_session("s1").await.unwrap().is_none());
    store.create_session(&session("s3")).await.unwrap();
    assert_eq!(
        store
            .delete_user_sessions(&alice.id, Some("s3"))
            .await
            .unwrap(),
        1,
        "all but s3"
    );
    assert!(store.get_session("s2").await.unwrap().is_none());
    assert!(store.get_session("s3").await.unwrap().is_some());
    assert_eq!(
        store.delete_user_sessions(&alice.id, None).await.unwrap(),
        1
    );
    assert!(store.get_session("s3").await.unwrap().is_none());
}

/// Tokens are found by hash only, named uniquely per user, and revoked only by their owner.
pub async fn api_tokens_are_found_by_hash_listed_and_revoked(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let token = |owner: &UserId, name: &str, hash: &str, at: i64| NewApiToken {
        user_id: owner.clone(),
        name: name.to_string(),
        token_hash: hash.to_string(),
        display_prefix: "plt_abcdefgh".to_string(),
        project_id: None,
        read_only: true,
        created_at_ms: at,
        expires_at_ms: Some(at + 1_000),
    };
    let first = store
        .create_api_token(&token(&alice.id, "laptop", "h1", 1_000))
        .await
        .unwrap();
    assert!(first.read_only && first.revoked_at_ms.is_none() && first.last_used_at_ms.is_none());
    store
        .create_api_token(&token(&alice.id, "ci", "h2", 2_000))
        .await
        .unwrap();
    store
        .create_api_token(&token(&bob.id, "laptop", "h3", 3_000))
        .await
        .unwrap();
    let error = store
        .create_api_token(&token(&alice.id, "laptop", "h4", 4_000))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "token `laptop` already exists");
    let (found, owner) = store.find_api_token("h1").await.unwrap().expect("token");
    assert_eq!(
        (found.id.as_str(), owner),
        (first.id.as_str(), alice.id.clone())
    );
    assert!(store.find_api_token("nope").await.unwrap().is_none());
    let names: Vec<String> = store
        .list_api_tokens(&alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ci", "laptop"]);
    assert!(matches!(
        store.revoke_api_token(&bob.id, &first.id, 5_000).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .revoke_api_token(&alice.id, &first.id, 5_000)
        .await
        .unwrap();
    store
        .revoke_api_token(&alice.id, &first.id, 6_000)
        .await
        .unwrap();
    store.touch_api_token(&first.id, 5_500).await.unwrap();
    let (found, _) = store.find_api_token("h1").await.unwrap().unwrap();
    assert_eq!(
        (found.revoked_at_ms, found.last_used_at_ms),
        (Some(5_000), Some(5_500)),
        "first revocation time kept"
    );
}

/// Non-members cannot list a project; the listing filters in SQL and carries the role.
pub async fn projects_are_listed_only_to_their_members(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let org = store
        .create_organization("acme", "Acme Inc.", 1_000)
        .await
        .unwrap();
    let other = store
        .create_organization("globex", "Globex", 1_000)
        .await
        .unwrap();
    let churn = store
        .create_project(&org.id, "churn", "Churn", "predict churn", &alice.id, 2_000)
        .await
        .unwrap();
    assert_eq!(
        (churn.organization.as_str(), churn.name.as_str()),
        ("acme", "churn")
    );
    store
        .create_project(&org.id, "fraud", "Fraud", "", &bob.id, 2_000)
        .await
        .unwrap();
    store
        .create_project(&other.id, "ads", "Ads", "", &bob.id, 2_000)
        .await
        .unwrap();
    let error = store
        .create_project(&org.id, "churn", "again", "", &bob.id, 3_000)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "project `churn` already exists");

    let listed = |all: bool, user: &UserId, org: Option<&'static str>| {
        let user = user.clone();
        async move {
            store
                .list_projects(&user, all, org)
                .await
                .unwrap()
                .into_iter()
                .map(|access| {
                    (
                        format!("{}/{}", access.project.organization, access.project.name),
                        access.role,
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(false, &alice.id, None).await,
        [("acme/churn".to_string(), Some(Role::Owner))]
    );
    assert_eq!(
        listed(true, &alice.id, None).await,
        [
            ("acme/churn".to_string(), Some(Role::Owner)),
            ("acme/fraud".to_string(), None),
            ("globex/ads".to_string(), None)
        ]
    );
    assert_eq!(
        listed(false, &bob.id, Some("globex")).await,
        [("globex/ads".to_string(), Some(Role::Owner))]
    );

    store
        .set_project_member(&churn.id, &bob.id, Role::Viewer, 4_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_project("acme", "churn", &bob.id)
            .await
            .unwrap()
            .role,
        Some(Role::Viewer)
    );
    store
        .set_project_member(&churn.id, &bob.id, Role::Contributor, 4_500)
        .await
        .unwrap();
    let members: Vec<(String, Role)> = store
        .list_project_members(&churn.id)
        .await
        .unwrap()
        .into_iter()
        .map(|member| (member.username.to_string(), member.role))
        .collect();
    assert_eq!(
        members,
        [
            ("alice".to_string(), Role::Owner),
            ("bob".to_string(), Role::Contributor)
        ]
    );
    store
        .remove_project_member(&churn.id, &bob.id)
        .await
        .unwrap();
    assert!(matches!(
        store.remove_project_member(&churn.id, &bob.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store
            .get_project_by_id(&churn.id, &bob.id)
            .await
            .unwrap()
            .role,
        None
    );
    assert!(matches!(
        store.get_project("acme", "nope", &bob.id).await,
        Err(StoreError::NotFound { .. })
    ));

    store
        .update_project(&churn.id, "Churn v2", "new text")
        .await
        .unwrap();
    let changed = store
        .get_project("acme", "churn", &alice.id)
        .await
        .unwrap()
        .project;
    assert_eq!(
        (changed.display_name.as_str(), changed.description.as_str()),
        ("Churn v2", "new text")
    );
    // A token scoped to a project goes with it.
    let scoped = NewApiToken {
        user_id: alice.id.clone(),
        name: "scoped".to_string(),
        token_hash: "scoped-hash".to_string(),
        display_prefix: "plt_".to_string(),
        project_id: Some(churn.id.clone()),
        read_only: false,
        created_at_ms: 1,
        expires_at_ms: None,
    };
    store.create_api_token(&scoped).await.unwrap();
    store.delete_project(&churn.id).await.unwrap();
    assert!(store.find_api_token("scoped-hash").await.unwrap().is_none());
    assert!(matches!(
        store.delete_project(&churn.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Organizations show to their members and to members of their projects.
pub async fn organizations_are_visible_through_membership(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let carol = user(store, "carol").await;
    let acme = store
        .create_organization("acme", "Acme", 1_000)
        .await
        .unwrap();
    let globex = store
        .create_organization("globex", "Globex", 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .create_organization("acme", "x", 1)
            .await
            .unwrap_err()
            .to_string(),
        "organization `acme` already exists"
    );
    store
        .set_organization_member(&acme.id, &alice.id, OrgRole::Owner, 2_000)
        .await
        .unwrap();
    store
        .create_project(&globex.id, "ads", "Ads", "", &bob.id, 2_000)
        .await
        .unwrap();
    let names = |orgs: Vec<plinth_types::Organization>| {
        orgs.into_iter()
            .map(|o| o.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_organizations(None).await.unwrap()),
        ["acme", "globex"]
    );
    assert_eq!(
        names(store.list_organizations(Some(&alice.id)).await.unwrap()),
        ["acme"]
    );
    assert_eq!(
        names(store.list_organizations(Some(&bob.id)).await.unwrap()),
        ["globex"]
    );
    assert!(store
        .list_organizations(Some(&carol.id))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .get_organization_role(&acme.id, &alice.id)
            .await
            .unwrap(),
        Some(OrgRole::Owner)
    );
    store
        .set_organization_member(&acme.id, &carol.id, OrgRole::Member, 3_000)
        .await
        .unwrap();
    let members: Vec<(String, OrgRole)> = store
        .list_organization_members(&acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|member| (member.username.to_string(), member.role))
        .collect();
    assert_eq!(
        members,
        [
            ("alice".to_string(), OrgRole::Owner),
            ("carol".to_string(), OrgRole::Member)
        ]
    );
    store
        .remove_organization_member(&acme.id, &carol.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_organization_role(&acme.id, &carol.id)
            .await
            .unwrap(),
        None
    );
    store.delete_organization(&globex.id).await.unwrap();
    assert!(
        store
            .list_projects(&bob.id, true, None)
            .await
            .unwrap()
            .is_empty(),
        "projects go with their organization"
    );
    assert!(matches!(
        store.get_organization("globex").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// The audit log lists newest first, filters by action prefix, actor and time, and pages.
pub async fn audit_log_filters_and_pages_newest_first(store: &dyn MetadataStore) {
    for (at, actor, action) in [
        (1_000, "alice", "login.success"),
        (2_000, "bob", "login.failure"),
        (3_000, "alice", "token.create"),
        (4_000, "alice", "login_x.other"),
        (5_000, "bob", "login.success"),
    ] {
        let event = NewAuditEvent {
            at_ms: at,
            actor_name: actor.to_string(),
            action: action.to_string(),
            target: format!("user:{actor}"),
            client_ip: "10.0.0.1".to_string(),
            outcome: if action.ends_with("failure") {
                "failure"
            } else {
                "success"
            }
            .to_string(),
            details: "{}".to_string(),
            ..NewAuditEvent::default()
        };
        store.append_audit(&event).await.unwrap();
    }
    let actions = |events: Vec<plinth_types::AuditEvent>| {
        events.into_iter().map(|e| e.action).collect::<Vec<_>>()
    };
    let all = store
        .list_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|pair| pair[0].id > pair[1].id));
    let logins = store
        .list_audit(&AuditQuery {
            action_prefix: Some("login.".to_string()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        actions(logins),
        ["login.success", "login.failure", "login.success"],
        "`_` and `.` are literal"
    );
    let page = store
        .list_audit(&AuditQuery {
            actor_name: Some("alice".to_string()),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(actions(page.clone()), ["login_x.other", "token.create"]);
    let next = store
        .list_audit(&AuditQuery {
            actor_name: Some("alice".to_string()),
            before_id: Some(page[1].id),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(actions(next), ["login.success"]);
    let window = store
        .list_audit(&AuditQuery {
            since_ms: Some(2_000),
            until_ms: Some(4_000),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(actions(window), ["token.create", "login.failure"]);
}

/// Failures within the window add up to a lock; the lock ends; success forgets them.
pub async fn login_failures_lock_then_expire(store: &dyn MetadataStore) {
    let (window, max, lock) = (60_000, 3, 30_000);
    let first = store
        .register_login_failure("user:alice", 1_000, window, max, lock)
        .await
        .unwrap();
    assert_eq!((first.failures, first.locked_until_ms), (1, None));
    store
        .register_login_failure("user:alice", 2_000, window, max, lock)
        .await
        .unwrap();
    let third = store
        .register_login_failure("user:alice", 3_000, window, max, lock)
        .await
        .unwrap();
    assert_eq!((third.failures, third.locked_until_ms), (3, Some(33_000)));
    let during = store
        .register_login_failure("user:alice", 4_000, window, max, lock)
        .await
        .unwrap();
    assert_eq!(
        during.locked_until_ms,
        Some(33_000),
        "the lock does not grow while locked"
    );
    assert_eq!(
        store
            .get_throttle("user:alice")
            .await
            .unwrap()
            .unwrap()
            .locked_until_ms,
        Some(33_000)
    );
    // Long after the window, counting starts again.
    let later = store
        .register_login_failure("user:alice", 200_000, window, max, lock)
        .await
        .unwrap();
    assert_eq!((later.failures, later.locked_until_ms), (1, None));
    store.clear_throttle("user:alice").await.unwrap();
    assert!(store.get_throttle("user:alice").await.unwrap().is_none());
    assert!(store.get_throttle("ip:10.0.0.1").await.unwrap().is_none());
}

/// An external identity links to one account; a second provider may link to the same one;
/// deleting the user removes the links.
pub async fn federated_identities_link_accounts(store: &dyn MetadataStore) {
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    assert!(store
        .find_federated_identity("corp", "alice")
        .await
        .unwrap()
        .is_none());
    let epoch = store.identity_epoch();
    store
        .link_federated_identity("corp", "alice", &alice.id, 1_000)
        .await
        .unwrap();
    assert!(store.identity_epoch() > epoch, "a link changes the epoch");
    store
        .link_federated_identity("corp", "bob", &bob.id, 1_000)
        .await
        .unwrap();
    store
        .link_federated_identity("sso", "sub-1", &alice.id, 2_000)
        .await
        .unwrap();
    // Seen again: same link, no duplicate.
    store
        .link_federated_identity("corp", "alice", &alice.id, 3_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_federated_identity("corp", "alice")
            .await
            .unwrap(),
        Some(alice.id.clone())
    );
    assert!(store
        .find_federated_identity("sso", "alice")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.list_federated_identities("corp").await.unwrap(),
        vec![
            ("alice".to_string(), alice.id.clone()),
            ("bob".to_string(), bob.id.clone())
        ]
    );
    assert_eq!(
        store.federated_providers_of(&alice.id).await.unwrap(),
        vec!["corp".to_string(), "sso".to_string()]
    );
    assert!(store
        .federated_providers_of(&bob.id)
        .await
        .unwrap()
        .contains(&"corp".to_string()));
}

// ---------------------------------------------------------------------------------------
// The workload runtime.

async fn project(store: &dyn MetadataStore, owner: &plinth_types::User, name: &str) -> String {
    let org = match store.create_organization("lab", "Lab", 1_000).await {
        Ok(org) => org,
        Err(StoreError::AlreadyExists { .. }) => store
            .list_organizations(None)
            .await
            .unwrap()
            .into_iter()
            .find(|org| org.name.as_str() == "lab")
            .unwrap(),
        Err(error) => panic!("{error}"),
    };
    store
        .create_project(&org.id, name, name, "", &owner.id, 1_000)
        .await
        .unwrap()
        .id
}

fn new_workload(
    id: &str,
    project_id: &str,
    owner: &plinth_types::User,
    class: &ResourceClass,
    state: WorkloadState,
    created_at_ms: i64,
) -> NewWorkload {
    NewWorkload {
        id: id.to_string(),
        project_id: project_id.to_string(),
        kind: WorkloadKind::Job,
        name: format!("job {id}"),
        class: class.clone(),
        spec: WorkloadCommand {
            command: vec!["python".into(), "train.py".into()],
            env: [("LR".to_string(), "0.01".to_string())].into(),
            snapshot: Some("ab".repeat(32)),
            image: None,
            ports: Vec::new(),
            environment: None,
            task_dir: None,
        },
        state,
        reason: String::new(),
        created_by: owner.id.clone(),
        rerun_of: None,
        backend: "local".to_string(),
        created_at_ms,
    }
}

/// Endpoints of a server workload are replaced as a whole and go with their workload;
/// Apps are unique by project and name and by host label, and redeploying one points it at
/// its new workload.
pub async fn endpoints_and_apps_are_recorded(store: &dyn MetadataStore) {
    let owner = user(store, "alice").await;
    let project_id = project(store, &owner, "vision").await;
    let other_project = project(store, &owner, "speech").await;
    let small = store.get_resource_class("small").await.unwrap();
    for id in ["s1", "s2", "s3"] {
        let mut workload =
            new_workload(id, &project_id, &owner, &small, WorkloadState::Starting, 1);
        workload.kind = WorkloadKind::Deployment;
        store.create_workload(&workload).await.unwrap();
    }
    assert!(store.workload_endpoints("s1").await.unwrap().is_empty());
    let endpoint = |replica: u32, host: &str, port: u16| WorkloadEndpoint {
        replica,
        host: host.to_string(),
        port,
    };
    store
        .set_workload_endpoints(
            "s1",
            &[
                endpoint(1, "127.0.0.1", 41001),
                endpoint(0, "127.0.0.1", 41000),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.workload_endpoints("s1").await.unwrap(),
        [
            endpoint(0, "127.0.0.1", 41000),
            endpoint(1, "127.0.0.1", 41001)
        ]
    );
    store
        .set_workload_endpoints("s1", &[endpoint(0, "plinth-s1.p-vision.svc", 8000)])
        .await
        .unwrap();
    assert_eq!(
        store.workload_endpoints("s1").await.unwrap(),
        [endpoint(0, "plinth-s1.p-vision.svc", 8000)]
    );
    assert!(matches!(
        store
            .set_workload_endpoints("missing", &[endpoint(0, "h", 1)])
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let app = App {
        project_id: project_id.clone(),
        name: "dash".to_string(),
        host_label: "dash--vision--lab".to_string(),
        workload_id: "s1".to_string(),
        public: false,
        health_path: "/".to_string(),
        created_by: owner.id.as_str().to_string(),
        created_at_ms: 10,
    };
    assert_eq!(store.put_app(&app).await.unwrap(), app);
    assert_eq!(store.get_app(&project_id, "dash").await.unwrap(), app);
    assert_eq!(
        store.get_app_by_host("dash--vision--lab").await.unwrap(),
        app
    );
    assert!(matches!(
        store.get_app(&project_id, "nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_app(&other_project, "dash").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_app_by_host("dash--vision").await,
        Err(StoreError::NotFound { .. })
    ));
    // Redeployed: same row, new workload and settings.
    let redeployed = App {
        workload_id: "s2".to_string(),
        public: true,
        health_path: "/healthz".to_string(),
        created_at_ms: 20,
        ..app.clone()
    };
    assert_eq!(store.put_app(&redeployed).await.unwrap(), redeployed);
    // Another App may not take the host label.
    let squatter = App {
        name: "other".to_string(),
        workload_id: "s3".to_string(),
        ..app.clone()
    };
    assert!(matches!(
        store.put_app(&squatter).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let second = App {
        name: "board".to_string(),
        host_label: "board--vision--lab".to_string(),
        workload_id: "s3".to_string(),
        ..app.clone()
    };
    store.put_app(&second).await.unwrap();
    let names: Vec<String> = store
        .list_apps(&project_id)
        .await
        .unwrap()
        .into_iter()
        .map(|app| app.name)
        .collect();
    assert_eq!(names, ["board", "dash"]);
    assert!(store.list_apps(&other_project).await.unwrap().is_empty());
    // A workload's endpoints and App go with it.
    store.delete_workload("s3").await.unwrap();
    assert!(matches!(
        store.get_app(&project_id, "board").await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete_workload("s1").await.unwrap();
    assert!(store.workload_endpoints("s1").await.unwrap().is_empty());
}

/// The four pools and the default classes are there on a fresh store, and admins edit them.
pub async fn pools_and_classes_are_seeded_and_edited(store: &dyn MetadataStore) {
    let pools: Vec<String> = store
        .list_node_pools()
        .await
        .unwrap()
        .into_iter()
        .map(|pool| pool.name)
        .collect();
    assert_eq!(pools, ["compute", "deployment", "gpu", "platform"]);
    let gpu = store.get_node_pool("gpu").await.unwrap();
    assert_eq!(gpu.node_selector["plinth.dev/pool"], "gpu");
    assert!(gpu.taints.iter().any(|taint| taint.key == "nvidia.com/gpu"));
    let small = store.get_resource_class("small").await.unwrap();
    assert_eq!(
        (
            small.pool.as_str(),
            small.cpu_millis,
            small.memory_bytes,
            small.gpus
        ),
        ("compute", 1000, 2 << 30, 0)
    );
    let gpu_1 = store.get_resource_class("gpu-1").await.unwrap();
    assert_eq!(
        (gpu_1.pool.as_str(), gpu_1.cpu_millis, gpu_1.gpus),
        ("gpu", 8000, 1)
    );

    let edited = store
        .put_node_pool(&NodePool {
            description: "A100 nodes".to_string(),
            taints: vec![PoolTaint {
                key: "dedicated".to_string(),
                value: "ml".to_string(),
                effect: "NoExecute".to_string(),
            }],
            updated_at_ms: 5_000,
            ..gpu.clone()
        })
        .await
        .unwrap();
    assert_eq!(edited.taints.len(), 1);
    assert_eq!(store.get_node_pool("gpu").await.unwrap(), edited);

    let orphan = store
        .put_resource_class(&ResourceClass {
            name: "tiny".to_string(),
            pool: "nowhere".to_string(),
            ..small.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(orphan.to_string(), "node pool `nowhere` not found");
    let bad_name = store
        .put_resource_class(&ResourceClass {
            name: "Tiny Class".to_string(),
            ..small.clone()
        })
        .await
        .unwrap_err();
    assert!(
        bad_name.to_string().starts_with("invalid `name`"),
        "{bad_name}"
    );
    let zero = store
        .put_resource_class(&ResourceClass {
            name: "zero".to_string(),
            cpu_millis: 0,
            ..small.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        zero.to_string(),
        "invalid `cpu_millis`: must be more than 0"
    );

    let in_use = store.delete_node_pool("gpu").await.unwrap_err();
    assert_eq!(
        in_use.to_string(),
        "node pool `gpu` is used by the classes gpu-1; move or delete them first"
    );
    store.delete_resource_class("gpu-1").await.unwrap();
    store.delete_node_pool("gpu").await.unwrap();
    assert!(matches!(
        store.get_node_pool("gpu").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_resource_class("gpu-1").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Quotas default to unlimited, round-trip, and the usage now counts only admitted work.
pub async fn quotas_and_usage_now(store: &dyn MetadataStore) {
    let owner = user(store, "quinn").await;
    let project_id = project(store, &owner, "quota").await;
    assert_eq!(
        store.get_project_quota(&project_id).await.unwrap(),
        ProjectQuota::default()
    );
    let quota = ProjectQuota {
        cpu_millis: Some(4_000),
        memory_bytes: Some(16 << 30),
        gpus: Some(0),
        max_jobs: Some(3),
        max_workspaces: None,
        max_deployments: Some(1),
        allow_custom_sizes: true,
    };
    store
        .set_project_quota(&project_id, &quota, 2_000)
        .await
        .unwrap();
    assert_eq!(store.get_project_quota(&project_id).await.unwrap(), quota);
    assert!(store
        .set_project_quota("no-such-project", &quota, 2_000)
        .await
        .is_err());

    let small = store.get_resource_class("small").await.unwrap();
    let medium = store.get_resource_class("medium").await.unwrap();
    for (id, class, state) in [
        ("q1", &small, WorkloadState::Running),
        ("q2", &medium, WorkloadState::Starting),
        ("q3", &medium, WorkloadState::Queued),
        ("q4", &small, WorkloadState::Queued),
    ] {
        store
            .create_workload(&new_workload(id, &project_id, &owner, class, state, 3_000))
            .await
            .unwrap();
    }
    store
        .create_workload(&NewWorkload {
            kind: WorkloadKind::Deployment,
            ..new_workload(
                "q5",
                &project_id,
                &owner,
                &small,
                WorkloadState::Pending,
                3_000,
            )
        })
        .await
        .unwrap();
    let now = store.project_usage_now(&project_id).await.unwrap();
    assert_eq!(
        now,
        ProjectUsageNow {
            cpu_millis: 4_000,
            memory_bytes: (2 << 30) + (8 << 30) + (2 << 30),
            gpus: 0,
            jobs: 2,
            workspaces: 0,
            deployments: 1,
            queued: 2,
        }
    );
    store
        .transition_workload(
            "q1",
            &WorkloadTransition {
                state: WorkloadState::Succeeded,
                reason: String::new(),
                exit_code: Some(0),
                at_ms: 4_000,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .project_usage_now(&project_id)
            .await
            .unwrap()
            .cpu_millis,
        3_000
    );
}

/// Workloads move forward through their states, never out of a finished one, and list
/// newest first with keyset pages.
pub async fn workloads_move_through_their_states(store: &dyn MetadataStore) {
    let owner = user(store, "wanda").await;
    let project_id = project(store, &owner, "flow").await;
    let other_project = project(store, &owner, "other").await;
    let small = store.get_resource_class("small").await.unwrap();
    let created = store
        .create_workload(&new_workload(
            "w1",
            &project_id,
            &owner,
            &small,
            WorkloadState::Starting,
            10_000,
        ))
        .await
        .unwrap();
    assert_eq!(created.created_by_username, "wanda");
    assert_eq!(created.spec.env["LR"], "0.01");
    assert_eq!(
        (created.pool.as_str(), created.cpu_millis),
        ("compute", 1000)
    );
    let again = store
        .create_workload(&new_workload(
            "w1",
            &project_id,
            &owner,
            &small,
            WorkloadState::Starting,
            10_000,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.to_string(), "workload `w1` already exists");

    let move_to = |state, at_ms, exit_code: Option<i32>| WorkloadTransition {
        state,
        reason: format!("now {state:?}"),
        exit_code,
        at_ms,
    };
    let running = store
        .transition_workload("w1", &move_to(WorkloadState::Running, 11_000, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.started_at_ms, Some(11_000));
    // A second report of `running` keeps the first start time.
    let still = store
        .transition_workload("w1", &move_to(WorkloadState::Running, 12_000, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.started_at_ms, Some(11_000));
    let failed = store
        .transition_workload("w1", &move_to(WorkloadState::Failed, 13_000, Some(3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (failed.state, failed.exit_code, failed.finished_at_ms),
        (WorkloadState::Failed, Some(3), Some(13_000))
    );
    assert!(store
        .transition_workload("w1", &move_to(WorkloadState::Lost, 14_000, None))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.get_workload("w1").await.unwrap().state,
        WorkloadState::Failed
    );
    assert!(matches!(
        store
            .transition_workload("nope", &move_to(WorkloadState::Lost, 14_000, None))
            .await,
        Err(StoreError::NotFound { .. })
    ));

    for index in 2..=6 {
        let project = if index == 6 {
            &other_project
        } else {
            &project_id
        };
        store
            .create_workload(&new_workload(
                &format!("w{index}"),
                project,
                &owner,
                &small,
                WorkloadState::Queued,
                10_000 + index,
            ))
            .await
            .unwrap();
    }
    store
        .set_workload_reason("w2", "waiting for CPU")
        .await
        .unwrap();
    assert_eq!(
        store.get_workload("w2").await.unwrap().reason,
        "waiting for CPU"
    );
    let stopped = store.request_workload_stop("w3").await.unwrap();
    assert!(stopped.stop_requested);
    store
        .set_workload_token("w3", Some("token-1"))
        .await
        .unwrap();
    assert_eq!(
        store.workload_token("w3").await.unwrap().as_deref(),
        Some("token-1")
    );
    // The workload a token was issued to, within its project only.
    assert_eq!(
        store
            .workload_for_token(&project_id, "token-1")
            .await
            .unwrap()
            .as_deref(),
        Some("w3")
    );
    assert_eq!(
        store
            .workload_for_token("another-project", "token-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .workload_for_token(&project_id, "token-2")
            .await
            .unwrap(),
        None
    );
    store.set_workload_token("w3", None).await.unwrap();
    assert_eq!(
        store
            .workload_for_token(&project_id, "token-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.workload_token("w3").await.unwrap(), None);

    let page = |before: Option<(i64, String)>| WorkloadQuery {
        project_ids: Some(vec![project_id.clone()]),
        before,
        limit: 2,
        ..WorkloadQuery::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let batch = store.list_workloads(&page(cursor.clone())).await.unwrap();
        if batch.is_empty() {
            break;
        }
        let last = batch.last().unwrap();
        cursor = Some((last.created_at_ms, last.id.clone()));
        seen.extend(batch.into_iter().map(|workload| workload.id));
    }
    assert_eq!(seen, ["w5", "w4", "w3", "w2", "w1"]);
    let queued = store
        .list_workloads(&WorkloadQuery {
            states: vec![WorkloadState::Queued],
            limit: 100,
            ..WorkloadQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 5, "every project without a project filter");
    assert!(store
        .list_workloads(&WorkloadQuery {
            project_ids: Some(Vec::new()),
            limit: 10,
            ..WorkloadQuery::default()
        })
        .await
        .unwrap()
        .is_empty());
    let active: Vec<String> = store
        .list_active_workloads()
        .await
        .unwrap()
        .into_iter()
        .map(|workload| workload.id)
        .collect();
    assert_eq!(active, ["w2", "w3", "w4", "w5", "w6"], "oldest first");
}

/// Usage lands in the ledger once per interval, split by day, summed per user and class.
pub async fn usage_is_accrued_once(store: &dyn MetadataStore) {
    let owner = user(store, "uma").await;
    let project_id = project(store, &owner, "ledger").await;
    let small = store.get_resource_class("small").await.unwrap();
    let workload = store
        .create_workload(&new_workload(
            "u1",
            &project_id,
            &owner,
            &small,
            WorkloadState::Running,
            1_000,
        ))
        .await
        .unwrap();
    let hour = |day: &str| UsageDelta {
        day: day.to_string(),
        cpu_milli_seconds: 1000 * 3600,
        memory_mib_seconds: 2048 * 3600,
        gpu_seconds: 0,
        wall_seconds: 3600,
    };
    store
        .accrue_usage(
            &workload,
            7_200_000,
            &[hour("2026-11-28"), hour("2026-11-29")],
        )
        .await
        .unwrap();
    // The same (stale) workload again would count twice: refused.
    let twice = store
        .accrue_usage(&workload, 7_200_000, &[hour("2026-11-29")])
        .await
        .unwrap_err();
    assert!(matches!(twice, StoreError::Conflict(_)), "{twice}");
    let fresh = store.get_workload("u1").await.unwrap();
    assert_eq!(fresh.accounted_until_ms, Some(7_200_000));
    store
        .accrue_usage(&fresh, 10_800_000, &[hour("2026-11-29")])
        .await
        .unwrap();

    let report = store
        .usage_report(&UsageQuery {
            project_ids: Some(vec![project_id.clone()]),
            ..UsageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(report.len(), 2);
    assert_eq!(
        (
            report[1].day.as_str(),
            report[1].username.as_str(),
            report[1].class.as_str()
        ),
        ("2026-11-29", "uma", "small")
    );
    assert!((report[1].cpu_hours - 2.0).abs() < 1e-9);
    assert!((report[1].memory_gib_hours - 4.0).abs() < 1e-9);
    assert!((report[0].wall_hours - 1.0).abs() < 1e-9);
    let one_day = store
        .usage_report(&UsageQuery {
            project_ids: None,
            from_day: Some("2026-11-29".to_string()),
            to_day: Some("2026-11-29".to_string()),
        })
        .await
        .unwrap();
    assert_eq!(one_day.len(), 1);
    assert!(store
        .usage_report(&UsageQuery {
            project_ids: Some(vec!["elsewhere".to_string()]),
            ..UsageQuery::default()
        })
        .await
        .unwrap()
        .is_empty());
}
