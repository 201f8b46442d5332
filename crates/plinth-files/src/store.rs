//! The files store: [`FileStore`], with one implementation over SQLite and PostgreSQL
//! ([`SqlFileStore`]) whose statements sea-query writes in each database's dialect.
//!
//! The tables live in the metadata store's database (migrations
//! `plinth-metastore/migrations/*/20261208030001_files.sql`): the store borrows its pool.

use async_trait::async_trait;
use plinth_metastore::SharedPool;
use sea_query::{Expr, Iden, OnConflict, Order, Query, QueryStatementWriter};
use sea_query_binder::SqlxBinder;

use crate::error::{FilesError, FilesResult};

/// An access key as stored: its owner, its reach and its sealed secret.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessKeyRecord {
    /// The access key id (`PLK…`).
    pub id: String,
    /// The owner's user id.
    pub user_id: String,
    /// The secret, sealed with the server key.
    pub secret_sealed: String,
    /// The only project it may reach.
    pub project_id: Option<String>,
    /// It may only read.
    pub read_only: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last use, ms since the epoch.
    pub last_used_at_ms: Option<i64>,
    /// Revocation time, ms since the epoch.
    pub revoked_at_ms: Option<i64>,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AccessKeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("read_only", &self.read_only)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish_non_exhaustive()
    }
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadRecord {
    /// Its id.
    pub upload_id: String,
    /// The project (bucket) it uploads into.
    pub project_id: String,
    /// The object key it will complete into.
    pub object_key: String,
    /// Who started it (user id).
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PartRecord {
    /// Its number, 1 to 10 000.
    pub part_number: i64,
    /// Its size in bytes.
    pub size: i64,
    /// The MD5 of its bytes, hex (its S3 ETag without quotes).
    pub e_tag: String,
}

/// Stores access keys and multipart uploads.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Records a new access key.
    async fn insert_key(&self, key: &AccessKeyRecord) -> FilesResult<()>;
    /// Returns an access key by id, revoked or not.
    async fn get_key(&self, id: &str) -> FilesResult<Option<AccessKeyRecord>>;
    /// Lists a user's keys, newest first.
    async fn list_keys(&self, user_id: &str) -> FilesResult<Vec<AccessKeyRecord>>;
    /// Revokes a user's key; returns whether it was theirs and not yet revoked.
    async fn revoke_key(&self, user_id: &str, id: &str, now_ms: i64) -> FilesResult<bool>;
    /// Records a use of a key.
    async fn touch_key(&self, id: &str, now_ms: i64) -> FilesResult<()>;
    /// Records a new multipart upload.
    async fn insert_upload(&self, upload: &UploadRecord) -> FilesResult<()>;
    /// Returns a multipart upload.
    async fn get_upload(&self, upload_id: &str) -> FilesResult<Option<UploadRecord>>;
    /// Records (or replaces) an uploaded part.
    async fn put_part(&self, upload_id: &str, part: &PartRecord) -> FilesResult<()>;
    /// Lists an upload's parts by number.
    async fn list_parts(&self, upload_id: &str) -> FilesResult<Vec<PartRecord>>;
    /// Forgets an upload and its parts; returns whether it existed.
    async fn delete_upload(&self, upload_id: &str) -> FilesResult<bool>;
    /// Lists uploads started before `before_ms`, oldest first.
    async fn uploads_started_before(&self, before_ms: i64) -> FilesResult<Vec<UploadRecord>>;
}

#[derive(Iden)]
enum FileAccessKeys {
    Table,
    Id,
    UserId,
    SecretSealed,
    ProjectId,
    ReadOnly,
    CreatedAtMs,
    LastUsedAtMs,
    RevokedAtMs,
}

#[derive(Iden)]
enum FileUploads {
    Table,
    UploadId,
    ProjectId,
    ObjectKey,
    CreatedBy,
    CreatedAtMs,
}

#[derive(Iden)]
enum FileUploadParts {
    Table,
    UploadId,
    PartNumber,
    Size,
    #[iden = "e_tag"]
    ETag,
}

const KEY_COLUMNS: [FileAccessKeys; 8] = [
    FileAccessKeys::Id,
    FileAccessKeys::UserId,
    FileAccessKeys::SecretSealed,
    FileAccessKeys::ProjectId,
    FileAccessKeys::ReadOnly,
    FileAccessKeys::CreatedAtMs,
    FileAccessKeys::LastUsedAtMs,
    FileAccessKeys::RevokedAtMs,
];

const UPLOAD_COLUMNS: [FileUploads; 5] = [
    FileUploads::UploadId,
    FileUploads::ProjectId,
    FileUploads::ObjectKey,
    FileUploads::CreatedBy,
    FileUploads::CreatedAtMs,
];

/// The files store over the metadata store's database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlFileStore {
    pool: SharedPool,
}

fn unknown_backend() -> FilesError {
    FilesError::Store(sqlx::Error::Configuration(
        "the metadata store's backend has no files store in this build".into(),
    ))
}

/// Rows PostgreSQL can decode too (nothing when the `postgres` feature is off).
#[cfg(feature = "postgres")]
pub(crate) trait PgRow: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> {}
#[cfg(feature = "postgres")]
impl<T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>> PgRow for T {}
#[cfg(not(feature = "postgres"))]
pub(crate) trait PgRow {}
#[cfg(not(feature = "postgres"))]
impl<T> PgRow for T {}

impl SqlFileStore {
    /// Returns the store over the metadata store's pool (whose migrations made the tables).
    pub fn new(pool: SharedPool) -> Self {
        SqlFileStore { pool }
    }

    async fn execute(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> FilesResult<u64> {
        let result = match &self.pool {
            SharedPool::Sqlite(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::SqliteQueryBuilder);
                sqlx::query_with(&sql, values)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            #[cfg(feature = "postgres")]
            SharedPool::Postgres(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::PostgresQueryBuilder);
                sqlx::query_with(&sql, values)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            #[allow(unreachable_patterns)]
            _ => return Err(unknown_backend()),
        };
        Ok(result)
    }

    async fn fetch_all<T>(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> FilesResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
        T: PgRow,
    {
        let rows = match &self.pool {
            SharedPool::Sqlite(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::SqliteQueryBuilder);
                sqlx::query_as_with::<_, T, _>(&sql, values)
                    .fetch_all(pool)
                    .await?
            }
            #[cfg(feature = "postgres")]
            SharedPool::Postgres(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::PostgresQueryBuilder);
                sqlx::query_as_with::<_, T, _>(&sql, values)
                    .fetch_all(pool)
                    .await?
            }
            #[allow(unreachable_patterns)]
            _ => return Err(unknown_backend()),
        };
        Ok(rows)
    }
}

#[async_trait]
impl FileStore for SqlFileStore {
    async fn insert_key(&self, key: &AccessKeyRecord) -> FilesResult<()> {
        let statement = Query::insert()
            .into_table(FileAccessKeys::Table)
            .columns(KEY_COLUMNS)
            .values_panic([
                key.id.clone().into(),
                key.user_id.clone().into(),
                key.secret_sealed.clone().into(),
                key.project_id.clone().into(),
                key.read_only.into(),
                key.created_at_ms.into(),
                key.last_used_at_ms.into(),
                key.revoked_at_ms.into(),
            ])
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn get_key(&self, id: &str) -> FilesResult<Option<AccessKeyRecord>> {
        let statement = Query::select()
            .columns(KEY_COLUMNS)
            .from(FileAccessKeys::Table)
            .and_where(Expr::col(FileAccessKeys::Id).eq(id))
            .to_owned();
        Ok(self.fetch_all(&statement).await?.into_iter().next())
    }

    async fn list_keys(&self, user_id: &str) -> FilesResult<Vec<AccessKeyRecord>> {
        let statement = Query::select()
            .columns(KEY_COLUMNS)
            .from(FileAccessKeys::Table)
            .and_where(Expr::col(FileAccessKeys::UserId).eq(user_id))
            .order_by(FileAccessKeys::CreatedAtMs, Order::Desc)
            .order_by(FileAccessKeys::Id, Order::Asc)
            .to_owned();
        self.fetch_all(&statement).await
    }

    async fn revoke_key(&self, user_id: &str, id: &str, now_ms: i64) -> FilesResult<bool> {
        let statement = Query::update()
            .table(FileAccessKeys::Table)
            .value(FileAccessKeys::RevokedAtMs, now_ms)
            .and_where(Expr::col(FileAccessKeys::Id).eq(id))
            .and_where(Expr::col(FileAccessKeys::UserId).eq(user_id))
            .and_where(Expr::col(FileAccessKeys::RevokedAtMs).is_null())
            .to_owned();
        Ok(self.execute(&statement).await? == 1)
    }

    async fn touch_key(&self, id: &str, now_ms: i64) -> FilesResult<()> {
        let statement = Query::update()
            .table(FileAccessKeys::Table)
            .value(FileAccessKeys::LastUsedAtMs, now_ms)
            .and_where(Expr::col(FileAccessKeys::Id).eq(id))
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn insert_upload(&self, upload: &UploadRecord) -> FilesResult<()> {
        let statement = Query::insert()
            .into_table(FileUploads::Table)
            .columns(UPLOAD_COLUMNS)
            .values_panic([
                upload.upload_id.clone().into(),
                upload.project_id.clone().into(),
                upload.object_key.clone().into(),
                upload.created_by.clone().into(),
                upload.created_at_ms.into(),
            ])
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn get_upload(&self, upload_id: &str) -> FilesResult<Option<UploadRecord>> {
        let statement = Query::select()
            .columns(UPLOAD_COLUMNS)
            .from(FileUploads::Table)
            .and_where(Expr::col(FileUploads::UploadId).eq(upload_id))
            .to_owned();
        Ok(self.fetch_all(&statement).await?.into_iter().next())
    }

    async fn put_part(&self, upload_id: &str, part: &PartRecord) -> FilesResult<()> {
        let statement = Query::insert()
            .into_table(FileUploadParts::Table)
            .columns([
                FileUploadParts::UploadId,
                FileUploadParts::PartNumber,
                FileUploadParts::Size,
                FileUploadParts::ETag,
            ])
            .values_panic([
                upload_id.into(),
                part.part_number.into(),
                part.size.into(),
                part.e_tag.clone().into(),
            ])
            .on_conflict(
                OnConflict::columns([FileUploadParts::UploadId, FileUploadParts::PartNumber])
                    .update_columns([FileUploadParts::Size, FileUploadParts::ETag])
                    .to_owned(),
            )
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn list_parts(&self, upload_id: &str) -> FilesResult<Vec<PartRecord>> {
        let statement = Query::select()
            .columns([
                FileUploadParts::PartNumber,
                FileUploadParts::Size,
                FileUploadParts::ETag,
            ])
            .from(FileUploadParts::Table)
            .and_where(Expr::col(FileUploadParts::UploadId).eq(upload_id))
            .order_by(FileUploadParts::PartNumber, Order::Asc)
            .to_owned();
        self.fetch_all(&statement).await
    }

    async fn delete_upload(&self, upload_id: &str) -> FilesResult<bool> {
        // Parts first: SQLite enforces the cascade only with foreign keys on.
        let parts = Query::delete()
            .from_table(FileUploadParts::Table)
            .and_where(Expr::col(FileUploadParts::UploadId).eq(upload_id))
            .to_owned();
        self.execute(&parts).await?;
        let upload = Query::delete()
            .from_table(FileUploads::Table)
            .and_where(Expr::col(FileUploads::UploadId).eq(upload_id))
            .to_owned();
        Ok(self.execute(&upload).await? == 1)
    }

    async fn uploads_started_before(&self, before_ms: i64) -> FilesResult<Vec<UploadRecord>> {
        let statement = Query::select()
            .columns(UPLOAD_COLUMNS)
            .from(FileUploads::Table)
            .and_where(Expr::col(FileUploads::CreatedAtMs).lt(before_ms))
            .order_by(FileUploads::CreatedAtMs, Order::Asc)
            .to_owned();
        self.fetch_all(&statement).await
    }
}
