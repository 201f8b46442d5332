//! The SQLite backend, the embedded default: one file in the data folder, WAL journal (a
//! commit is in the log before it is acknowledged, so it survives a crash of the server),
//! `synchronous = FULL` (every commit synced) except, by default, on the group-commit
//! writer's own connection for the hot tracking writes ([`SqliteSynchronous`]: `NORMAL`
//! there, its commits synced by the next synced commit or by the checkpoint a background
//! task runs every second), foreign keys on, and a busy timeout so concurrent writers wait
//! instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::common::impl_shared_queries;
use crate::error::one_line;
use crate::{OpenError, SqliteSynchronous, StoreOptions, SQLITE_CHECKPOINT_INTERVAL};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for a lock another connection holds.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A metadata store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteMetadataStore {
    pool: SqlitePool,
    /// The group-commit writer of the hot tracking writes.
    writes: crate::group_commit::WriteQueue,
    /// Direct read connections for large reads, when the database is a file.
    direct_reads: Option<DirectReads>,
    /// Advanced by every change to credentials, users, memberships or projects.
    identity_epoch: crate::identity_sql::IdentityEpoch,
}

impl SqliteMetadataStore {
    /// Opens (creating if missing) the database named by `url` and applies the migrations.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let invalid = |reason: String| OpenError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let connect_options = SqliteConnectOptions::from_str(url)
            .map_err(|error| invalid(one_line(&error)))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);

        let filename = connect_options.get_filename().to_path_buf();
        let in_memory = filename.as_os_str() == ":memory:" || url.contains("mode=memory");
        if !in_memory {
            if let Some(parent) = filename
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                fs_err::create_dir_all(parent).map_err(|error| OpenError::Unreachable {
                    backend: "sqlite",
                    url: url.to_string(),
                    reason: one_line(&error),
                })?;
            }
        }

        let mut pool_options = SqlitePoolOptions::new().acquire_timeout(options.connect_timeout);
        pool_options = if in_memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool_options.max_connections(options.max_connections)
        };
        let pool = pool_options
            .connect_with(connect_options.clone())
            .await
            .map_err(|error| OpenError::Unreachable {
                backend: "sqlite",
                url: url.to_string(),
                reason: one_line(&error),
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| OpenError::Migrate {
                backend: "sqlite",
                url: url.to_string(),
                reason: one_line(&error),
            })?;
        // The hot tracking writes (metrics, params, tags, runs) go through the group-commit
        // writer. With `Normal` it has a connection of its own that does not sync each
        // commit; every other write keeps syncing its commit (and with it the log so far).
        let writer_pool = if !in_memory && options.sqlite_synchronous == SqliteSynchronous::Normal {
            spawn_checkpointer(pool.clone());
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.connect_timeout)
                .connect_with(connect_options.synchronous(sqlx::sqlite::SqliteSynchronous::Normal))
                .await
                .map_err(|error| OpenError::Unreachable {
                    backend: "sqlite",
                    url: url.to_string(),
                    reason: one_line(&error),
                })?
        } else {
            pool.clone()
        };
        tracing::debug!(
            path = %filename.display(),
            tracking_writes = ?options.sqlite_synchronous,
            "opened sqlite metadata store"
        );
        let writes = Self::tracking_spawn_writer(writer_pool);
        // `sqlite::memory:` names a shared in-memory database `file:sqlx-in-memory-N`, which
        // only sqlx's connections reach: direct reads need a path to open.
        let plain_file = !in_memory && !filename.to_string_lossy().starts_with("file:");
        let direct_reads =
            plain_file.then(|| DirectReads::new(filename.clone(), SQLITE_BUSY_TIMEOUT));
        Ok(SqliteMetadataStore {
            pool,
            writes,
            direct_reads,
            identity_epoch: Default::default(),
        })
    }
}

/// Checkpoints the write-ahead log every [`SQLITE_CHECKPOINT_INTERVAL`] (`PASSIVE`: it
/// never blocks readers or the writer). With `synchronous = NORMAL` a checkpoint first
/// syncs the log, so this bounds what a power loss can take to about one interval of
/// acknowledged writes. Stops when the pool closes.
fn spawn_checkpointer(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SQLITE_CHECKPOINT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if pool.is_closed() {
                break;
            }
            // Returns (busy, frames in the log, frames checkpointed).
            let result: Result<(i64, i64, i64), sqlx::Error> =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&pool)
                    .await;
            match result {
                Ok(_) => {}
                Err(sqlx::Error::PoolClosed) => break,
                Err(error) => tracing::warn!(error = %one_line(&error), "sqlite checkpoint failed"),
            }
        }
    });
}

impl SqliteMetadataStore {
    /// Reads a metric's history points (`step, timestamp, value, is_nan`, in that order):
    /// off a direct read connection when the database is a file, else through sqlx.
    async fn tracking_history_rows(
        &self,
        connection: &mut sqlx::SqliteConnection,
        sql: &crate::tracking::query::Sql,
    ) -> crate::StoreResult<Vec<crate::tracking_sql::HistoryRow>> {
        let Some(reads) = &self.direct_reads else {
            return Self::tracking_history_rows_sqlx(connection, sql).await;
        };
        let sql = sql.positional();
        reads
            .run(move |connection| {
                let mut statement = connection.prepare_cached(&sql.text)?;
                let values = sql.binds.iter().map(direct_value);
                let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
                    Ok(crate::tracking_sql::HistoryRow {
                        step: row.get(0)?,
                        timestamp: row.get(1)?,
                        value: row.get(2)?,
                        is_nan: row.get(3)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }
}

/// Read-only connections of their own to the database file, for the few reads too large
/// to go row by row through sqlx: it copies every value and sends every row over a
/// channel, ~1.5 µs a row. A 100,000-point metric history is one ~20 ms index range scan
/// read directly, ~170 ms through sqlx.
#[derive(Clone, Debug)]
struct DirectReads {
    path: std::path::PathBuf,
    busy_timeout: Duration,
    idle: std::sync::Arc<std::sync::Mutex<Vec<rusqlite::Connection>>>,
}

impl DirectReads {
    /// Connections kept open between reads; more are opened when reads overlap.
    const KEEP_IDLE: usize = 2;

    fn new(path: std::path::PathBuf, busy_timeout: Duration) -> Self {
        DirectReads {
            path,
            busy_timeout,
            idle: Default::default(),
        }
    }

    /// Runs `read` on a blocking thread with a read-only connection.
    async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> crate::StoreResult<T> {
        let reads = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let idle = reads
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop();
            let connection = match idle {
                Some(connection) => connection,
                None => {
                    use rusqlite::OpenFlags;
                    let connection = rusqlite::Connection::open_with_flags(
                        &reads.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    connection.busy_timeout(reads.busy_timeout)?;
                    connection
                }
            };
            let result = read(&connection);
            let mut idle = reads
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < Self::KEEP_IDLE {
                idle.push(connection);
            }
            result
        })
        .await
        .map_err(|error| crate::StoreError::Backend(Box::new(error)))?;
        result.map_err(|error| crate::StoreError::Backend(Box::new(error)))
    }
}

/// A bind value as rusqlite takes it.
fn direct_value(bind: &crate::tracking::query::Bind) -> rusqlite::types::Value {
    use crate::tracking::query::Bind;
    use rusqlite::types::Value;
    match bind {
        Bind::Text(text) => Value::Text(text.clone()),
        Bind::OptText(text) => text.clone().map_or(Value::Null, Value::Text),
        Bind::Int(value) => Value::Integer(*value),
        Bind::OptInt(value) => value.map_or(Value::Null, Value::Integer),
        Bind::Float(value) => Value::Real(*value),
        Bind::Bool(value) => Value::Integer(i64::from(*value)),
    }
}

crate::identity_sql::impl_identity_queries!(SqliteMetadataStore);
crate::runtime_sql::impl_runtime_queries!(SqliteMetadataStore, sqlx::Sqlite);
crate::tracking_sql::impl_tracking_queries!(
    SqliteMetadataStore,
    sqlx::Sqlite,
    crate::tracking::query::Dialect::Sqlite
);
crate::registry_sql::impl_registry_queries!(
    SqliteMetadataStore,
    sqlx::Sqlite,
    crate::tracking::query::Dialect::Sqlite
);
impl_shared_queries!(SqliteMetadataStore, "sqlite");

#[cfg(test)]
mod tests {
    use crate::testsuite;

    crate::metadata_store_suite!(testsuite::open_sqlite_temp());

    #[tokio::test]
    async fn reopening_keeps_data_and_schema() {
        testsuite::reopen_keeps_data(testsuite::sqlite_temp_url()).await;
    }

    /// Calls made at once share transactions: fewer commits than calls, each call still
    /// answered on its own (the conformance case checks every result).
    #[tokio::test]
    async fn concurrent_log_calls_share_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/plinth.db", dir.path().display());
        let store = super::SqliteMetadataStore::connect(&url, &crate::StoreOptions::default())
            .await
            .expect("open");
        let before = store.writes.stats().snapshot();
        testsuite::concurrent_log_calls_each_get_their_own_result(&store).await;
        let (calls, commits) = store.writes.stats().snapshot();
        let (calls, commits) = (calls - before.0, commits - before.1);
        assert!(calls >= 240, "{calls} calls");
        assert!(commits * 4 < calls, "{calls} calls in {commits} commits");
    }

    /// With `synchronous = NORMAL` the background checkpoint moves committed writes from the
    /// log into the database file (syncing the log first) within about a second: a reader
    /// of the database file alone, ignoring the log, sees them.
    #[tokio::test]
    async fn normal_synchronous_checkpoints_within_a_second() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plinth.db");
        let store = crate::open_metadata_store(
            &format!("sqlite://{}", path.display()),
            &crate::StoreOptions::default(),
        )
        .await
        .expect("open");
        store
            .set_server_metadata("durability.probe", "written")
            .await
            .expect("write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            // `immutable`: reads the database file only, as if the log were lost.
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .read_only(true)
                .immutable(true);
            let mut file_only = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("open the file");
            // Before the first checkpoint even the tables are only in the log.
            let found: Option<String> = sqlx::query_scalar(
                "SELECT value FROM server_metadata WHERE key = 'durability.probe'",
            )
            .fetch_optional(&mut file_only)
            .await
            .unwrap_or_default();
            let _ = file_only.close().await;
            if found.as_deref() == Some("written") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the write never reached the database file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        store.close().await;
    }

    /// `synchronous = FULL` is still offered and passes a round trip of tracking writes.
    #[tokio::test]
    async fn full_synchronous_opens_and_logs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = crate::StoreOptions {
            sqlite_synchronous: crate::SqliteSynchronous::Full,
            ..crate::StoreOptions::default()
        };
        let store = crate::open_metadata_store(
            &format!("sqlite://{}/plinth.db", dir.path().display()),
            &options,
        )
        .await
        .expect("open");
        testsuite::params_never_change_value(&*store).await;
    }

    /// A file database reads large histories off its own read connections (and they see
    /// what the group-commit writer has just committed); an in-memory one, which other
    /// connections cannot open, reads through sqlx.
    #[tokio::test]
    async fn file_databases_read_histories_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/plinth.db", dir.path().display());
        let store = super::SqliteMetadataStore::connect(&url, &crate::StoreOptions::default())
            .await
            .expect("open");
        assert!(store.direct_reads.is_some());
        testsuite::metric_history_pages_through_twenty_thousand_points(&store).await;
        let memory =
            super::SqliteMetadataStore::connect("sqlite::memory:", &crate::StoreOptions::default())
                .await
                .expect("open");
        assert!(memory.direct_reads.is_none());
        testsuite::metric_history_pages_through_twenty_thousand_points(&memory).await;
    }

    /// Moving params, run tags and latest metrics to clustered (WITHOUT ROWID) tables keeps
    /// every row of a database made before it.
    #[tokio::test]
    async fn clustering_the_run_key_tables_keeps_their_rows() {
        use sqlx::Connection;
        const CLUSTERED: &str = "20261201000001_tracking_clustered_keys.sql";
        let dir = tempfile::tempdir().expect("tempdir");
        // The migrations before it, applied to a new database.
        let before = dir.path().join("before");
        fs_err::create_dir(&before).expect("mkdir");
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut found = false;
        for entry in fs_err::read_dir(&source).expect("read migrations") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().to_string();
            found |= name == CLUSTERED;
            if name.as_str() < CLUSTERED {
                fs_err::copy(entry.path(), before.join(&name)).expect("copy");
            }
        }
        assert!(found, "{CLUSTERED} is not among the migrations");
        let path = dir.path().join("plinth.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(false);
        let mut old = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .expect("migrations")
            .run(&mut old)
            .await
            .expect("migrate");
        // Foreign keys off: a run without its experiment and project is enough here.
        for statement in [
            "INSERT INTO runs (id, experiment_id, project_id, name, user_id, status, start_time, \
             lifecycle_stage, artifact_uri) VALUES ('r1', 1, 'p', 'n', 'u', 'RUNNING', 1, 'active', 'a')",
            "INSERT INTO params (run_id, key, value) VALUES ('r1', 'lr', '0.01'), ('r1', 'depth', '7')",
            "INSERT INTO run_tags (run_id, key, value) VALUES ('r1', 'team', 'risk')",
            "INSERT INTO latest_metrics (run_id, key, value, timestamp, step, is_nan) \
             VALUES ('r1', 'loss', 0.25, 5, 3, 0)",
        ] {
            sqlx::query(statement).execute(&mut old).await.expect(statement);
        }
        old.close().await.expect("close");

        let store = super::SqliteMetadataStore::connect(
            &format!("sqlite://{}", path.display()),
            &crate::StoreOptions::default(),
        )
        .await
        .expect("open and migrate");
        let params: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM params WHERE run_id = 'r1' ORDER BY key")
                .fetch_all(&store.pool)
                .await
                .expect("params");
        assert_eq!(
            params,
            [("depth".into(), "7".into()), ("lr".into(), "0.01".into())]
        );
        let tags: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM run_tags")
            .fetch_all(&store.pool)
            .await
            .expect("tags");
        assert_eq!(tags, [("team".into(), "risk".into())]);
        let latest: (f64, i64, i64) =
            sqlx::query_as("SELECT value, timestamp, step FROM latest_metrics WHERE key = 'loss'")
                .fetch_one(&store.pool)
                .await
                .expect("latest");
        assert_eq!(latest, (0.25, 5, 3));
        // Issue 20's search indexes: each row learned its run's experiment.
        let experiments: Vec<i64> = sqlx::query_scalar(
            "SELECT experiment_id FROM params UNION ALL SELECT experiment_id FROM run_tags \
             UNION ALL SELECT experiment_id FROM latest_metrics",
        )
        .fetch_all(&store.pool)
        .await
        .expect("experiments");
        assert_eq!(experiments, [1, 1, 1, 1]);
        let clustered: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%' \
             AND name IN ('params', 'run_tags', 'latest_metrics') ORDER BY name",
        )
        .fetch_all(&store.pool)
        .await
        .expect("schema");
        assert_eq!(clustered, ["latest_metrics", "params", "run_tags"]);
    }

    #[tokio::test]
    async fn unwritable_path_names_the_culprit() {
        let error = crate::open_metadata_store(
            "sqlite:///proc/plinth-cannot-write-here/x.db",
            &crate::StoreOptions::default(),
        )
        .await
        .err()
        .expect("cannot open");
        let message = error.to_string();
        assert!(
            message.starts_with("cannot connect to sqlite metadata store at `sqlite:///proc/"),
            "{message}"
        );
    }
}
