//! Plinth's metadata store: the [`MetadataStore`] trait every domain service talks to, its
//! SQLite backend (the embedded default) and its PostgreSQL backend (feature `postgres`),
//! each with its own migrations, and one conformance suite ([`metadata_store_suite!`]) that
//! both must pass unchanged.
//!
//! This crate owns SQL and schemas; it knows nothing of HTTP or of the domain services that
//! call it. `sqlx` types never appear in the trait.

mod common;
mod error;
mod group_commit;
mod identity;
mod identity_sql;
#[cfg(feature = "postgres")]
mod postgres;
mod registry;
mod registry_sql;
mod runtime;
mod runtime_sql;
mod sqlite;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
mod tracking;
mod tracking_sql;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plinth_types::Installation;

pub use error::{OpenError, StoreError, StoreResult};
pub use identity::{
    AuditQuery, IdentityStore, NewApiToken, NewAuditEvent, NewSession, NewUser, OrgMember, OrgRole,
    ProjectAccess, SessionRecord, ThrottleState, UserRecord, UserUpdate,
};
#[cfg(feature = "postgres")]
pub use postgres::PostgresMetadataStore;
pub use registry::{
    NewModelVersion, NewRegisteredModel, RegisteredModelUpdate, RegistrySearch, RegistryStore,
    MAX_MODEL_VERSIONS_PER_PAGE, MAX_REGISTERED_MODELS_PER_PAGE,
};
pub use runtime::{
    NewWorkload, RuntimeStore, UsageDelta, UsageQuery, WorkloadQuery, WorkloadTransition,
};
pub use sqlite::SqliteMetadataStore;
pub use tracking::{
    BulkIntervalQuery, DatasetFilter, DatasetSummary, ExperimentKeys, ExperimentRunStats,
    ExperimentSearch, LogBatch, LoggedModelOrderBy, LoggedModelSearch, MetricBucket, MetricChart,
    MetricChartQuery, MetricPoint, NewExperiment, NewLoggedModel, NewRun, RunSearch, RunUpdate,
    TrackingStore, MAX_CHART_BUCKETS, MAX_DATASET_SUMMARIES, MAX_ENTITIES_PER_BATCH,
    MAX_EXPERIMENTS_PER_PAGE, MAX_EXPERIMENT_KEYS, MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH, MAX_RUNS_PER_PAGE,
};

/// Stores platform metadata. One trait, several backends; every method is domain-shaped.
///
/// Each capability is a supertrait (identity, runtime, experiment tracking, model
/// registry …) with its migrations in both backends and its cases in the conformance suite.
#[async_trait]
pub trait MetadataStore:
    IdentityStore + RuntimeStore + TrackingStore + RegistryStore + Send + Sync + 'static
{
    /// Returns the backend's name: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Returns `Ok` when the database answers a trivial query.
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// Returns the version of the newest migration applied to the database.
    async fn schema_version(&self) -> StoreResult<i64>;

    /// Records that a server of `version` starts against this store and returns the
    /// installation; the first call creates it with a new random id.
    async fn record_startup(&self, version: &str) -> StoreResult<Installation>;

    /// Returns the installation, or `NotFound` before the first [`record_startup`](Self::record_startup).
    async fn installation(&self) -> StoreResult<Installation>;

    /// Returns the value of one server metadata entry, if set.
    async fn get_server_metadata(&self, key: &str) -> StoreResult<Option<String>>;

    /// Sets one server metadata entry, replacing any previous value.
    async fn set_server_metadata(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Removes one server metadata entry; `NotFound` if it was not set.
    async fn delete_server_metadata(&self, key: &str) -> StoreResult<()>;

    /// Returns every server metadata entry, ordered by key.
    async fn list_server_metadata(&self) -> StoreResult<Vec<(String, String)>>;

    /// Waits for in-flight queries and closes every connection.
    async fn close(&self);

    /// Returns the connection pool, for a capability crate that keeps its own tables in
    /// this database (`plinth-envs`): it shares these connections and the migrations this
    /// crate applies, and writes its own SQL behind its own trait.
    fn shared_pool(&self) -> SharedPool;
}

/// The connection pool of a metadata store, handed to capability crates with tables of
/// their own in the same database (their migrations live in `migrations/` here, so one
/// migrator owns the schema).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SharedPool {
    /// A SQLite database.
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// How to open a metadata store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for the database, at startup and for a pooled connection.
    pub connect_timeout: Duration,
    /// When a SQLite commit of the hot tracking writes reaches the disk (every other
    /// write is synced at its commit; PostgreSQL ignores it).
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

/// When a SQLite commit of the hot tracking writes (log-metric, log-batch, log-param,
/// set-tag, create-run, update-run: the group-commit writer) reaches the disk; every other
/// write (accounts, tokens, projects, jobs, the registry…) is synced at its commit either
/// way. Both survive `kill -9` of the server: a commit is in the write-ahead log (in the
/// OS's page cache at least) before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// SQLite's `synchronous = NORMAL`: the log is synced by checkpoints, which the store
    /// runs every [`SQLITE_CHECKPOINT_INTERVAL`] while there are writes, so a power loss or
    /// kernel crash loses at most about that much of acknowledged writes (never consistency).
    #[default]
    Normal,
    /// SQLite's `synchronous = FULL`: every commit waits for an fsync of the log.
    Full,
}

/// How often a SQLite store in [`SqliteSynchronous::Normal`] checkpoints (and so syncs)
/// its write-ahead log.
pub const SQLITE_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Opens the store named by `url` (`sqlite://…`, `postgres://…`) and applies its migrations.
pub async fn open_metadata_store(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn MetadataStore>, OpenError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme).or_else(|| {
        // sqlx also accepts `sqlite::memory:` and `sqlite:PATH`.
        url.strip_prefix("sqlite:").map(|_| "sqlite")
    });
    match scheme {
        Some("sqlite") => Ok(Arc::new(SqliteMetadataStore::connect(url, options).await?)),
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => Ok(Arc::new(
            PostgresMetadataStore::connect(url, options).await?,
        )),
        #[cfg(not(feature = "postgres"))]
        Some("postgres" | "postgresql") => Err(OpenError::NotCompiledIn {
            backend: "postgres",
            feature: "postgres",
        }),
        Some(other) => Err(OpenError::UnknownScheme(other.to_string())),
        None => Err(OpenError::InvalidUrl {
            url: plinth_types::redact_url(url),
            reason: "expected `sqlite://PATH` or `postgres://USER@HOST/DB`".to_string(),
        }),
    }
}

/// Checks a server metadata key: 1 to 128 characters of `a-z 0-9 . _ -`.
pub(crate) fn validate_metadata_key(key: &str) -> StoreResult<()> {
    let valid_chars = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if key.is_empty() || key.len() > 128 || !valid_chars {
        return Err(StoreError::InvalidArgument {
            field: "key",
            reason: format!(
                "`{}` must be 1 to 128 characters of lowercase letters, digits, `.`, `_` or `-`",
                key.escape_debug()
            ),
        });
    }
    Ok(())
}

/// Returns the current time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Returns a new random installation id: 128 random bits as 32 hex digits.
pub(crate) fn new_installation_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
