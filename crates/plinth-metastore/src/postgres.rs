//! The PostgreSQL backend, for installations that outgrow one machine. Several API server
//! replicas may start at once: sqlx's migrator holds an advisory lock while it migrates.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::common::impl_shared_queries;
use crate::error::one_line;
use crate::{OpenError, StoreOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A metadata store in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresMetadataStore {
    pool: PgPool,
    /// The group-commit writer of the hot tracking writes.
    writes: crate::group_commit::WriteQueue,
    /// Advanced by every change to credentials, users, memberships or projects.
    identity_epoch: crate::identity_sql::IdentityEpoch,
}

impl PostgresMetadataStore {
    /// Connects to the database named by `url` and applies the migrations.
    ///
    /// One direct connection is tried first, so an unreachable server or a refused login is
    /// reported with its real reason instead of a pool timeout.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let redacted = plinth_types::redact_url(url);
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|error| OpenError::InvalidUrl {
                url: redacted.clone(),
                reason: one_line(&error),
            })?
            .application_name("plinth");
        let unreachable = |reason: String| OpenError::Unreachable {
            backend: "postgres",
            url: redacted.clone(),
            reason,
        };

        let probe = tokio::time::timeout(
            options.connect_timeout,
            sqlx::PgConnection::connect_with(&connect_options),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {:?}", options.connect_timeout)))?
        .map_err(|error| unreachable(one_line(&error)))?;
        let _ = probe.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect_options)
            .await
            .map_err(|error| unreachable(one_line(&error)))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| OpenError::Migrate {
                backend: "postgres",
                url: redacted.clone(),
                reason: one_line(&error),
            })?;
        tracing::debug!(url = %redacted, "opened postgres metadata store");
        let writes = Self::tracking_spawn_writer(pool.clone());
        Ok(PostgresMetadataStore {
            pool,
            writes,
            identity_epoch: Default::default(),
        })
    }
}

impl PostgresMetadataStore {
    /// Reads a metric's history points (`step, timestamp, value, is_nan`, in that order).
    async fn tracking_history_rows(
        &self,
        connection: &mut sqlx::PgConnection,
        sql: &crate::tracking::query::Sql,
    ) -> crate::StoreResult<Vec<crate::tracking_sql::HistoryRow>> {
        Self::tracking_history_rows_sqlx(connection, sql).await
    }
}

crate::identity_sql::impl_identity_queries!(PostgresMetadataStore);
crate::runtime_sql::impl_runtime_queries!(PostgresMetadataStore, sqlx::Postgres);
crate::tracking_sql::impl_tracking_queries!(
    PostgresMetadataStore,
    sqlx::Postgres,
    crate::tracking::query::Dialect::Postgres
);
crate::registry_sql::impl_registry_queries!(
    PostgresMetadataStore,
    sqlx::Postgres,
    crate::tracking::query::Dialect::Postgres
);
impl_shared_queries!(PostgresMetadataStore, "postgres");

#[cfg(test)]
mod tests {
    use crate::testsuite;

    crate::metadata_store_suite!(
        testsuite::open_postgres_from_env(),
        #[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
    );

    #[tokio::test]
    #[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
    async fn reopening_keeps_data_and_schema() {
        testsuite::reopen_keeps_data(testsuite::postgres_fresh_database_url().await).await;
    }

    #[tokio::test]
    async fn refused_connection_names_the_culprit_and_hides_the_password() {
        let options = crate::StoreOptions {
            connect_timeout: std::time::Duration::from_secs(2),
            ..crate::StoreOptions::default()
        };
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let error =
            crate::open_metadata_store("postgres://plinth:hunter2@127.0.0.1:1/plinth", &options)
                .await
                .err()
                .expect("cannot connect");
        let message = error.to_string();
        assert!(message.starts_with("cannot connect to postgres metadata store at `postgres://plinth:***@127.0.0.1:1/plinth`"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("Connection refused"), "{message}");
    }
}
