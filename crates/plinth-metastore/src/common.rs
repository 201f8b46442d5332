//! The parts of the SQL backends that are the same text for SQLite and PostgreSQL: both
//! accept `$N` placeholders, `ON CONFLICT … DO UPDATE` and `RETURNING`. Each backend's
//! module instantiates [`impl_shared_queries!`] with its own pool type, so the code is
//! type-checked once per backend while the SQL is written once.

use crate::{StoreError, StoreResult};

/// Largest server metadata value accepted, in bytes.
pub(crate) const MAX_METADATA_VALUE_BYTES: usize = 1024 * 1024;

/// Checks a server metadata value: at most 1 MiB and no NUL (PostgreSQL `TEXT` refuses it).
pub(crate) fn validate_metadata_value(value: &str) -> StoreResult<()> {
    if value.len() > MAX_METADATA_VALUE_BYTES {
        return Err(StoreError::InvalidArgument {
            field: "value",
            reason: format!(
                "{} bytes is more than the {MAX_METADATA_VALUE_BYTES} allowed",
                value.len()
            ),
        });
    }
    if value.contains('\0') {
        return Err(StoreError::InvalidArgument {
            field: "value",
            reason: "must not contain NUL characters".to_string(),
        });
    }
    Ok(())
}

pub(crate) const SCHEMA_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

pub(crate) const RECORD_STARTUP: &str = "\
INSERT INTO installation
    (id, installation_id, created_at_ms, last_started_at_ms, last_started_version, start_count)
VALUES (1, $1, $2, $2, $3, 1)
ON CONFLICT (id) DO UPDATE SET
    last_started_at_ms = excluded.last_started_at_ms,
    last_started_version = excluded.last_started_version,
    start_count = installation.start_count + 1
RETURNING installation_id, created_at_ms, last_started_at_ms, last_started_version, start_count";

pub(crate) const GET_INSTALLATION: &str = "\
SELECT installation_id, created_at_ms, last_started_at_ms, last_started_version, start_count
FROM installation WHERE id = 1";

pub(crate) const GET_METADATA: &str = "SELECT value FROM server_metadata WHERE key = $1";

pub(crate) const SET_METADATA: &str = "\
INSERT INTO server_metadata (key, value, updated_at_ms) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms";

pub(crate) const DELETE_METADATA: &str = "DELETE FROM server_metadata WHERE key = $1";

pub(crate) const LIST_METADATA: &str = "SELECT key, value FROM server_metadata ORDER BY key";

/// Implements [`MetadataStore`](crate::MetadataStore) for `$store`, whose `pool` field is a
/// sqlx pool of the backend, with the shared SQL above.
impl From<sqlx::SqlitePool> for crate::SharedPool {
    fn from(pool: sqlx::SqlitePool) -> Self {
        crate::SharedPool::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for crate::SharedPool {
    fn from(pool: sqlx::PgPool) -> Self {
        crate::SharedPool::Postgres(pool)
    }
}

macro_rules! impl_shared_queries {
    ($store:ty, $backend:literal) => {
        #[async_trait::async_trait]
        impl $crate::MetadataStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn shared_pool(&self) -> $crate::SharedPool {
                self.pool.clone().into()
            }

            async fn check_connectivity(&self) -> $crate::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn schema_version(&self) -> $crate::StoreResult<i64> {
                let version: i64 = sqlx::query_scalar($crate::common::SCHEMA_VERSION)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(version)
            }

            async fn record_startup(
                &self,
                version: &str,
            ) -> $crate::StoreResult<plinth_types::Installation> {
                let row: (String, i64, i64, String, i64) =
                    sqlx::query_as($crate::common::RECORD_STARTUP)
                        .bind($crate::new_installation_id())
                        .bind($crate::now_ms())
                        .bind(version)
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::common::installation_from_row(row))
            }

            async fn installation(&self) -> $crate::StoreResult<plinth_types::Installation> {
                let row: Option<(String, i64, i64, String, i64)> =
                    sqlx::query_as($crate::common::GET_INSTALLATION)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::common::installation_from_row)
                    .ok_or_else(|| $crate::StoreError::NotFound {
                        entity: "installation",
                        id: "1".to_string(),
                    })
            }

            async fn get_server_metadata(&self, key: &str) -> $crate::StoreResult<Option<String>> {
                $crate::validate_metadata_key(key)?;
                let value: Option<String> = sqlx::query_scalar($crate::common::GET_METADATA)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(value)
            }

            async fn set_server_metadata(&self, key: &str, value: &str) -> $crate::StoreResult<()> {
                $crate::validate_metadata_key(key)?;
                $crate::common::validate_metadata_value(value)?;
                sqlx::query($crate::common::SET_METADATA)
                    .bind(key)
                    .bind(value)
                    .bind($crate::now_ms())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_server_metadata(&self, key: &str) -> $crate::StoreResult<()> {
                $crate::validate_metadata_key(key)?;
                let result = sqlx::query($crate::common::DELETE_METADATA)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                if result.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        entity: "server metadata",
                        id: key.to_string(),
                    });
                }
                Ok(())
            }

            async fn list_server_metadata(&self) -> $crate::StoreResult<Vec<(String, String)>> {
                let rows: Vec<(String, String)> = sqlx::query_as($crate::common::LIST_METADATA)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows)
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub(crate) use impl_shared_queries;

pub(crate) fn installation_from_row(
    (installation_id, created_at_ms, last_started_at_ms, last_started_version, start_count): (
        String,
        i64,
        i64,
        String,
        i64,
    ),
) -> plinth_types::Installation {
    plinth_types::Installation {
        installation_id,
        created_at_ms,
        last_started_at_ms,
        last_started_version,
        start_count,
    }
}
