//! The SQLite backend, the embedded default: one file in the data folder, WAL journal,
//! `synchronous = FULL` so an acknowledged write survives a crash, foreign keys on, and a
//! busy timeout so concurrent writers wait instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::common::impl_shared_queries;
use crate::error::one_line;
use crate::{OpenError, StoreOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A metadata store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteMetadataStore {
    pool: SqlitePool,
    /// The group-commit writer of the hot tracking writes.
    writes: crate::group_commit::WriteQueue,
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
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));

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
            .connect_with(connect_options)
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
        tracing::debug!(path = %filename.display(), "opened sqlite metadata store");
        let writes = Self::tracking_spawn_writer(pool.clone());
        Ok(SqliteMetadataStore { pool, writes })
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
