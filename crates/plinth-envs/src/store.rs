//! The environment store: [`EnvironmentStore`], one implementation over SQLite and
//! PostgreSQL ([`SqlEnvironmentStore`]) whose statements sea-query writes in each
//! database's dialect, and the conformance suite both run (`testsuite`).
//!
//! The tables live in the metadata store's database (migrations
//! `plinth-metastore/migrations/*/20261207200001_environments.sql`): the store borrows its
//! connection pool ([`plinth_metastore::SharedPool`]).

use async_trait::async_trait;
use plinth_metastore::SharedPool;
use plinth_types::{
    BuildState, Environment, EnvironmentBuild, EnvironmentLock, EnvironmentSpec,
    EnvironmentVersion, ResolutionState,
};
use sea_query::{Expr, Iden, OnConflict, Order, Query, QueryStatementWriter};
use sea_query_binder::SqlxBinder;

use crate::error::{EnvError, EnvResult};

/// A new environment and its first version.
#[derive(Clone, Debug)]
pub struct NewEnvironment {
    /// The project's id; `None` for a global environment.
    pub project_id: Option<String>,
    /// Its name (validated).
    pub name: String,
    /// What version 1 asks for.
    pub spec: EnvironmentSpec,
    /// Who creates it (login).
    pub created_by: String,
    /// When, ms since the epoch.
    pub now_ms: i64,
}

/// How a resolution ended.
#[derive(Clone, Debug)]
pub enum ResolutionOutcome {
    /// A lock and its hash.
    Resolved {
        /// The lock.
        lock: EnvironmentLock,
        /// Its hash.
        lock_hash: String,
    },
    /// The resolver's reason.
    Failed(String),
}

/// Stores environments, their versions and their builds.
#[async_trait]
pub trait EnvironmentStore: Send + Sync + 'static {
    /// Creates an environment with version 1; a name taken in the same scope is
    /// `AlreadyExists` naming `name`.
    async fn create_environment(
        &self,
        new: NewEnvironment,
    ) -> EnvResult<(Environment, EnvironmentVersion)>;

    /// Adds version `expected_latest + 1`; `Conflict` when another version came first.
    async fn add_version(
        &self,
        environment_id: &str,
        expected_latest: u32,
        spec: EnvironmentSpec,
        changes: Vec<String>,
        created_by: &str,
        now_ms: i64,
    ) -> EnvResult<EnvironmentVersion>;

    /// Returns the environment named `name` of a project (`Some(id)`) or the global one
    /// (`None`); `NotFound` otherwise.
    async fn find_environment(
        &self,
        project_id: Option<&str>,
        name: &str,
    ) -> EnvResult<Environment>;

    /// Returns an environment by id.
    async fn get_environment(&self, environment_id: &str) -> EnvResult<Environment>;

    /// Lists a project's environments (with `include_global`, the global ones too), or the
    /// global ones alone (`None`), by name, the project's first.
    async fn list_environments(
        &self,
        project_id: Option<&str>,
        include_global: bool,
    ) -> EnvResult<Vec<Environment>>;

    /// Returns one version.
    async fn get_version(
        &self,
        environment_id: &str,
        version: u32,
    ) -> EnvResult<EnvironmentVersion>;

    /// Lists every version, newest first.
    async fn list_versions(&self, environment_id: &str) -> EnvResult<Vec<EnvironmentVersion>>;

    /// Records a resolution. A lock, once set, never changes: recording another outcome
    /// for a resolved version is `Conflict`.
    async fn record_resolution(
        &self,
        environment_id: &str,
        version: u32,
        outcome: ResolutionOutcome,
        now_ms: i64,
    ) -> EnvResult<EnvironmentVersion>;

    /// Deletes an environment and its versions (builds stay until collected).
    async fn delete_environment(&self, environment_id: &str) -> EnvResult<()>;

    /// Records that a build of `lock_hash` in `scope` starts (or starts again).
    async fn start_build(&self, scope: &str, lock_hash: &str, now_ms: i64) -> EnvResult<()>;

    /// Records how a build ended.
    async fn finish_build(
        &self,
        scope: &str,
        lock_hash: &str,
        error: Option<String>,
        now_ms: i64,
    ) -> EnvResult<()>;

    /// Records the image a build produced (`repository@sha256:…`, Kubernetes backend).
    async fn record_image(&self, scope: &str, lock_hash: &str, image: &str) -> EnvResult<()>;

    /// Returns a build, if one was recorded.
    async fn get_build(&self, scope: &str, lock_hash: &str) -> EnvResult<Option<EnvironmentBuild>>;

    /// Records that a workload uses the build now.
    async fn touch_build(&self, scope: &str, lock_hash: &str, now_ms: i64) -> EnvResult<()>;

    /// Lists every build, oldest use first.
    async fn list_builds(&self) -> EnvResult<Vec<EnvironmentBuild>>;

    /// Forgets a build that is ready or failed and was last used before `unused_before_ms`;
    /// returns whether it did (a build used meanwhile is kept).
    async fn forget_build(
        &self,
        scope: &str,
        lock_hash: &str,
        unused_before_ms: i64,
    ) -> EnvResult<bool>;
}

#[derive(Iden)]
enum Environments {
    Table,
    Id,
    Scope,
    ProjectId,
    Name,
    LatestVersion,
    CreatedBy,
    CreatedAtMs,
}

#[derive(Iden)]
enum EnvironmentVersions {
    Table,
    EnvironmentId,
    Version,
    Spec,
    Changes,
    CreatedBy,
    CreatedAtMs,
    Resolution,
    ResolutionError,
    Lock,
    LockHash,
    ResolvedAtMs,
}

#[derive(Iden)]
enum EnvironmentBuilds {
    Table,
    Scope,
    LockHash,
    State,
    Error,
    StartedAtMs,
    FinishedAtMs,
    LastUsedAtMs,
    Image,
}

#[derive(sqlx::FromRow)]
struct EnvironmentRow {
    id: String,
    project_id: Option<String>,
    name: String,
    latest_version: i64,
    created_by: String,
    created_at_ms: i64,
}

impl EnvironmentRow {
    fn into_environment(self) -> Environment {
        Environment {
            id: self.id,
            name: self.name,
            project_id: self.project_id,
            latest_version: u32::try_from(self.latest_version).unwrap_or(u32::MAX),
            created_by: self.created_by,
            created_at_ms: self.created_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    environment_id: String,
    version: i64,
    spec: String,
    changes: String,
    created_by: String,
    created_at_ms: i64,
    resolution: String,
    resolution_error: Option<String>,
    lock: Option<String>,
    lock_hash: Option<String>,
    resolved_at_ms: Option<i64>,
}

impl VersionRow {
    fn into_version(self) -> EnvResult<EnvironmentVersion> {
        let corrupt = |what: &str, error: serde_json::Error| {
            EnvError::Store(sqlx::Error::Decode(
                format!(
                    "environment `{}` version {}: {what}: {error}",
                    self.environment_id, self.version
                )
                .into(),
            ))
        };
        let spec = serde_json::from_str(&self.spec).map_err(|error| corrupt("spec", error))?;
        let changes =
            serde_json::from_str(&self.changes).map_err(|error| corrupt("changes", error))?;
        let lock = match &self.lock {
            Some(text) => Some(serde_json::from_str(text).map_err(|error| corrupt("lock", error))?),
            None => None,
        };
        let resolution = match self.resolution.as_str() {
            "resolved" => ResolutionState::Resolved,
            "failed" => ResolutionState::Failed,
            _ => ResolutionState::Pending,
        };
        Ok(EnvironmentVersion {
            environment_id: self.environment_id,
            version: u32::try_from(self.version).unwrap_or(u32::MAX),
            spec,
            changes,
            created_by: self.created_by,
            created_at_ms: self.created_at_ms,
            resolution,
            resolution_error: self.resolution_error,
            lock,
            lock_hash: self.lock_hash,
            resolved_at_ms: self.resolved_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BuildRow {
    scope: String,
    lock_hash: String,
    state: String,
    error: Option<String>,
    started_at_ms: i64,
    finished_at_ms: Option<i64>,
    last_used_at_ms: i64,
    image: Option<String>,
}

impl BuildRow {
    fn into_build(self) -> EnvironmentBuild {
        EnvironmentBuild {
            scope: self.scope,
            lock_hash: self.lock_hash,
            state: match self.state.as_str() {
                "ready" => BuildState::Ready,
                "failed" => BuildState::Failed,
                _ => BuildState::Building,
            },
            error: self.error,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            last_used_at_ms: self.last_used_at_ms,
            image: self.image,
        }
    }
}

/// The environment store over the metadata store's database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlEnvironmentStore {
    pool: SharedPool,
}

/// Names `scope` the way the tables do: the project's id, or `""` for global.
fn scope_of(project_id: Option<&str>) -> &str {
    project_id.unwrap_or("")
}

fn unknown_backend() -> EnvError {
    EnvError::Unavailable(
        "the metadata store's backend has no environment store in this build".to_string(),
    )
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

const VERSION_COLUMNS: [EnvironmentVersions; 11] = [
    EnvironmentVersions::EnvironmentId,
    EnvironmentVersions::Version,
    EnvironmentVersions::Spec,
    EnvironmentVersions::Changes,
    EnvironmentVersions::CreatedBy,
    EnvironmentVersions::CreatedAtMs,
    EnvironmentVersions::Resolution,
    EnvironmentVersions::ResolutionError,
    EnvironmentVersions::Lock,
    EnvironmentVersions::LockHash,
    EnvironmentVersions::ResolvedAtMs,
];

const ENVIRONMENT_COLUMNS: [Environments; 6] = [
    Environments::Id,
    Environments::ProjectId,
    Environments::Name,
    Environments::LatestVersion,
    Environments::CreatedBy,
    Environments::CreatedAtMs,
];

const BUILD_COLUMNS: [EnvironmentBuilds; 8] = [
    EnvironmentBuilds::Scope,
    EnvironmentBuilds::LockHash,
    EnvironmentBuilds::State,
    EnvironmentBuilds::Error,
    EnvironmentBuilds::StartedAtMs,
    EnvironmentBuilds::FinishedAtMs,
    EnvironmentBuilds::LastUsedAtMs,
    EnvironmentBuilds::Image,
];

impl SqlEnvironmentStore {
    /// Returns the store over the metadata store's pool (whose migrations made the tables).
    pub fn new(pool: SharedPool) -> Self {
        SqlEnvironmentStore { pool }
    }

    /// Returns the backend's name: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match &self.pool {
            SharedPool::Sqlite(_) => "sqlite",
            #[allow(unreachable_patterns)]
            _ => "postgres",
        }
    }

    async fn execute(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> EnvResult<u64> {
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
    ) -> EnvResult<Vec<T>>
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

    async fn fetch_optional<T>(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> EnvResult<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
        T: PgRow,
    {
        Ok(self.fetch_all(statement).await?.into_iter().next())
    }

    /// Runs `statements` in one transaction, all or none; returns each one's row count.
    /// With `guarded`, a first statement that changes no row ends it there, rolled back.
    async fn in_transaction(
        &self,
        guarded: bool,
        statements: &[&dyn QueryStatementWriterDyn],
    ) -> EnvResult<Vec<u64>> {
        let mut counts = Vec::with_capacity(statements.len());
        match &self.pool {
            SharedPool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for statement in statements {
                    let (sql, values) = statement.build_sqlite();
                    counts.push(
                        sqlx::query_with(&sql, values)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                    if guarded && counts == [0] {
                        tx.rollback().await?;
                        return Ok(counts);
                    }
                }
                tx.commit().await?;
            }
            #[cfg(feature = "postgres")]
            SharedPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for statement in statements {
                    let (sql, values) = statement.build_postgres();
                    counts.push(
                        sqlx::query_with(&sql, values)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                    if guarded && counts == [0] {
                        tx.rollback().await?;
                        return Ok(counts);
                    }
                }
                tx.commit().await?;
            }
            #[allow(unreachable_patterns)]
            _ => return Err(unknown_backend()),
        }
        Ok(counts)
    }

    fn select_versions() -> sea_query::SelectStatement {
        Query::select()
            .columns(VERSION_COLUMNS)
            .from(EnvironmentVersions::Table)
            .to_owned()
    }

    fn select_environments() -> sea_query::SelectStatement {
        Query::select()
            .columns(ENVIRONMENT_COLUMNS)
            .from(Environments::Table)
            .to_owned()
    }
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

/// A statement built for either dialect, for [`SqlEnvironmentStore::in_transaction`].
trait QueryStatementWriterDyn: Send + Sync {
    fn build_sqlite(&self) -> (String, sea_query_binder::SqlxValues);
    #[cfg(feature = "postgres")]
    fn build_postgres(&self) -> (String, sea_query_binder::SqlxValues);
}

impl<S: QueryStatementWriter + SqlxBinder + Send + Sync> QueryStatementWriterDyn for S {
    fn build_sqlite(&self) -> (String, sea_query_binder::SqlxValues) {
        self.build_sqlx(sea_query::SqliteQueryBuilder)
    }
    #[cfg(feature = "postgres")]
    fn build_postgres(&self) -> (String, sea_query_binder::SqlxValues) {
        self.build_sqlx(sea_query::PostgresQueryBuilder)
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("environment records serialize")
}

#[async_trait]
impl EnvironmentStore for SqlEnvironmentStore {
    async fn create_environment(
        &self,
        new: NewEnvironment,
    ) -> EnvResult<(Environment, EnvironmentVersion)> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let changes = new.spec.changes_from(&EnvironmentSpec::default());
        let environment = Query::insert()
            .into_table(Environments::Table)
            .columns([
                Environments::Id,
                Environments::Scope,
                Environments::ProjectId,
                Environments::Name,
                Environments::LatestVersion,
                Environments::CreatedBy,
                Environments::CreatedAtMs,
            ])
            .values_panic([
                id.clone().into(),
                scope_of(new.project_id.as_deref()).into(),
                new.project_id.clone().into(),
                new.name.clone().into(),
                1i64.into(),
                new.created_by.clone().into(),
                new.now_ms.into(),
            ])
            .to_owned();
        let version = Query::insert()
            .into_table(EnvironmentVersions::Table)
            .columns([
                EnvironmentVersions::EnvironmentId,
                EnvironmentVersions::Version,
                EnvironmentVersions::Spec,
                EnvironmentVersions::Changes,
                EnvironmentVersions::CreatedBy,
                EnvironmentVersions::CreatedAtMs,
            ])
            .values_panic([
                id.clone().into(),
                1i64.into(),
                json(&new.spec).into(),
                json(&changes).into(),
                new.created_by.clone().into(),
                new.now_ms.into(),
            ])
            .to_owned();
        match self.in_transaction(false, &[&environment, &version]).await {
            Ok(_) => {}
            Err(EnvError::Store(error)) if is_unique_violation(&error) => {
                return Err(EnvError::AlreadyExists {
                    field: "name",
                    entity: if new.project_id.is_some() {
                        "environment"
                    } else {
                        "global environment"
                    },
                    id: new.name,
                })
            }
            Err(error) => return Err(error),
        }
        let environment = Environment {
            id: id.clone(),
            name: new.name,
            project_id: new.project_id,
            latest_version: 1,
            created_by: new.created_by.clone(),
            created_at_ms: new.now_ms,
        };
        let version = EnvironmentVersion {
            environment_id: id,
            version: 1,
            spec: new.spec,
            changes,
            created_by: new.created_by,
            created_at_ms: new.now_ms,
            resolution: ResolutionState::Pending,
            resolution_error: None,
            lock: None,
            lock_hash: None,
            resolved_at_ms: None,
        };
        Ok((environment, version))
    }

    async fn add_version(
        &self,
        environment_id: &str,
        expected_latest: u32,
        spec: EnvironmentSpec,
        changes: Vec<String>,
        created_by: &str,
        now_ms: i64,
    ) -> EnvResult<EnvironmentVersion> {
        let next = i64::from(expected_latest) + 1;
        let bump = Query::update()
            .table(Environments::Table)
            .value(Environments::LatestVersion, next)
            .and_where(Expr::col(Environments::Id).eq(environment_id))
            .and_where(Expr::col(Environments::LatestVersion).eq(i64::from(expected_latest)))
            .to_owned();
        // Inserted only when the bump matched: the row is selected from the bumped row.
        let insert = Query::insert()
            .into_table(EnvironmentVersions::Table)
            .columns([
                EnvironmentVersions::EnvironmentId,
                EnvironmentVersions::Version,
                EnvironmentVersions::Spec,
                EnvironmentVersions::Changes,
                EnvironmentVersions::CreatedBy,
                EnvironmentVersions::CreatedAtMs,
            ])
            .select_from(
                Query::select()
                    .expr(Expr::col(Environments::Id))
                    .expr(Expr::col(Environments::LatestVersion))
                    .expr(Expr::val(json(&spec)))
                    .expr(Expr::val(json(&changes)))
                    .expr(Expr::val(created_by))
                    .expr(Expr::val(now_ms))
                    .from(Environments::Table)
                    .and_where(Expr::col(Environments::Id).eq(environment_id))
                    .and_where(Expr::col(Environments::LatestVersion).eq(next))
                    .to_owned(),
            )
            .map_err(|error| EnvError::Conflict(error.to_string()))?
            .to_owned();
        let counts = self.in_transaction(true, &[&bump, &insert]).await?;
        if counts.first() != Some(&1) {
            let current = self.get_environment(environment_id).await?;
            return Err(EnvError::Conflict(format!(
                "environment `{}` is at version {} now, not {expected_latest}: another change came first; look at it again and retry",
                current.name, current.latest_version
            )));
        }
        self.get_version(environment_id, expected_latest + 1).await
    }

    async fn find_environment(
        &self,
        project_id: Option<&str>,
        name: &str,
    ) -> EnvResult<Environment> {
        let statement = Self::select_environments()
            .and_where(Expr::col(Environments::Scope).eq(scope_of(project_id)))
            .and_where(Expr::col(Environments::Name).eq(name))
            .to_owned();
        self.fetch_optional::<EnvironmentRow>(&statement)
            .await?
            .map(EnvironmentRow::into_environment)
            .ok_or_else(|| EnvError::NotFound {
                entity: if project_id.is_some() {
                    "environment"
                } else {
                    "global environment"
                },
                id: name.to_string(),
            })
    }

    async fn get_environment(&self, environment_id: &str) -> EnvResult<Environment> {
        let statement = Self::select_environments()
            .and_where(Expr::col(Environments::Id).eq(environment_id))
            .to_owned();
        self.fetch_optional::<EnvironmentRow>(&statement)
            .await?
            .map(EnvironmentRow::into_environment)
            .ok_or_else(|| EnvError::NotFound {
                entity: "environment",
                id: environment_id.to_string(),
            })
    }

    async fn list_environments(
        &self,
        project_id: Option<&str>,
        include_global: bool,
    ) -> EnvResult<Vec<Environment>> {
        let mut scopes = vec![scope_of(project_id)];
        if include_global && project_id.is_some() {
            scopes.push("");
        }
        let statement = Self::select_environments()
            .and_where(Expr::col(Environments::Scope).is_in(scopes))
            .order_by(Environments::Scope, Order::Desc)
            .order_by(Environments::Name, Order::Asc)
            .to_owned();
        Ok(self
            .fetch_all::<EnvironmentRow>(&statement)
            .await?
            .into_iter()
            .map(EnvironmentRow::into_environment)
            .collect())
    }

    async fn get_version(
        &self,
        environment_id: &str,
        version: u32,
    ) -> EnvResult<EnvironmentVersion> {
        let statement = Self::select_versions()
            .and_where(Expr::col(EnvironmentVersions::EnvironmentId).eq(environment_id))
            .and_where(Expr::col(EnvironmentVersions::Version).eq(i64::from(version)))
            .to_owned();
        self.fetch_optional::<VersionRow>(&statement)
            .await?
            .ok_or_else(|| EnvError::NotFound {
                entity: "environment version",
                id: version.to_string(),
            })?
            .into_version()
    }

    async fn list_versions(&self, environment_id: &str) -> EnvResult<Vec<EnvironmentVersion>> {
        let statement = Self::select_versions()
            .and_where(Expr::col(EnvironmentVersions::EnvironmentId).eq(environment_id))
            .order_by(EnvironmentVersions::Version, Order::Desc)
            .to_owned();
        self.fetch_all::<VersionRow>(&statement)
            .await?
            .into_iter()
            .map(VersionRow::into_version)
            .collect()
    }

    async fn record_resolution(
        &self,
        environment_id: &str,
        version: u32,
        outcome: ResolutionOutcome,
        now_ms: i64,
    ) -> EnvResult<EnvironmentVersion> {
        let mut statement = Query::update();
        statement.table(EnvironmentVersions::Table);
        match &outcome {
            ResolutionOutcome::Resolved { lock, lock_hash } => {
                statement
                    .value(
                        EnvironmentVersions::Resolution,
                        ResolutionState::Resolved.as_str(),
                    )
                    .value(EnvironmentVersions::ResolutionError, Option::<String>::None)
                    .value(EnvironmentVersions::Lock, json(lock))
                    .value(EnvironmentVersions::LockHash, lock_hash.as_str())
                    .value(EnvironmentVersions::ResolvedAtMs, now_ms);
            }
            ResolutionOutcome::Failed(reason) => {
                statement
                    .value(
                        EnvironmentVersions::Resolution,
                        ResolutionState::Failed.as_str(),
                    )
                    .value(EnvironmentVersions::ResolutionError, reason.as_str())
                    .value(EnvironmentVersions::ResolvedAtMs, now_ms);
            }
        }
        statement
            .and_where(Expr::col(EnvironmentVersions::EnvironmentId).eq(environment_id))
            .and_where(Expr::col(EnvironmentVersions::Version).eq(i64::from(version)))
            .and_where(
                Expr::col(EnvironmentVersions::Resolution).ne(ResolutionState::Resolved.as_str()),
            );
        let changed = self.execute(&statement).await?;
        let stored = self.get_version(environment_id, version).await?;
        if changed == 0 {
            let same = matches!(&outcome, ResolutionOutcome::Resolved { lock_hash, .. } if stored.lock_hash.as_deref() == Some(lock_hash.as_str()));
            if !same {
                return Err(EnvError::Conflict(format!(
                    "version {version} is resolved already; its lock never changes (make a new version to change it)"
                )));
            }
        }
        Ok(stored)
    }

    async fn delete_environment(&self, environment_id: &str) -> EnvResult<()> {
        let versions = Query::delete()
            .from_table(EnvironmentVersions::Table)
            .and_where(Expr::col(EnvironmentVersions::EnvironmentId).eq(environment_id))
            .to_owned();
        let environment = Query::delete()
            .from_table(Environments::Table)
            .and_where(Expr::col(Environments::Id).eq(environment_id))
            .to_owned();
        let counts = self
            .in_transaction(false, &[&versions, &environment])
            .await?;
        if counts.get(1) != Some(&1) {
            return Err(EnvError::NotFound {
                entity: "environment",
                id: environment_id.to_string(),
            });
        }
        Ok(())
    }

    async fn start_build(&self, scope: &str, lock_hash: &str, now_ms: i64) -> EnvResult<()> {
        let statement = Query::insert()
            .into_table(EnvironmentBuilds::Table)
            .columns([
                EnvironmentBuilds::Scope,
                EnvironmentBuilds::LockHash,
                EnvironmentBuilds::State,
                EnvironmentBuilds::StartedAtMs,
                EnvironmentBuilds::LastUsedAtMs,
            ])
            .values_panic([
                scope.into(),
                lock_hash.into(),
                BuildState::Building.as_str().into(),
                now_ms.into(),
                now_ms.into(),
            ])
            .on_conflict(
                OnConflict::columns([EnvironmentBuilds::Scope, EnvironmentBuilds::LockHash])
                    .value(EnvironmentBuilds::State, BuildState::Building.as_str())
                    .value(EnvironmentBuilds::Error, Option::<String>::None)
                    .value(EnvironmentBuilds::StartedAtMs, now_ms)
                    .value(EnvironmentBuilds::FinishedAtMs, Option::<i64>::None)
                    .value(EnvironmentBuilds::LastUsedAtMs, now_ms)
                    .to_owned(),
            )
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn finish_build(
        &self,
        scope: &str,
        lock_hash: &str,
        error: Option<String>,
        now_ms: i64,
    ) -> EnvResult<()> {
        let state = if error.is_some() {
            BuildState::Failed
        } else {
            BuildState::Ready
        };
        let statement = Query::update()
            .table(EnvironmentBuilds::Table)
            .value(EnvironmentBuilds::State, state.as_str())
            .value(EnvironmentBuilds::Error, error)
            .value(EnvironmentBuilds::FinishedAtMs, now_ms)
            .value(EnvironmentBuilds::LastUsedAtMs, now_ms)
            .and_where(Expr::col(EnvironmentBuilds::Scope).eq(scope))
            .and_where(Expr::col(EnvironmentBuilds::LockHash).eq(lock_hash))
            .to_owned();
        if self.execute(&statement).await? == 0 {
            return Err(EnvError::NotFound {
                entity: "environment build",
                id: lock_hash.to_string(),
            });
        }
        Ok(())
    }

    async fn record_image(&self, scope: &str, lock_hash: &str, image: &str) -> EnvResult<()> {
        let statement = Query::update()
            .table(EnvironmentBuilds::Table)
            .value(EnvironmentBuilds::Image, image)
            .and_where(Expr::col(EnvironmentBuilds::Scope).eq(scope))
            .and_where(Expr::col(EnvironmentBuilds::LockHash).eq(lock_hash))
            .to_owned();
        if self.execute(&statement).await? == 0 {
            return Err(EnvError::NotFound {
                entity: "environment build",
                id: lock_hash.to_string(),
            });
        }
        Ok(())
    }

    async fn get_build(&self, scope: &str, lock_hash: &str) -> EnvResult<Option<EnvironmentBuild>> {
        let statement = Query::select()
            .columns(BUILD_COLUMNS)
            .from(EnvironmentBuilds::Table)
            .and_where(Expr::col(EnvironmentBuilds::Scope).eq(scope))
            .and_where(Expr::col(EnvironmentBuilds::LockHash).eq(lock_hash))
            .to_owned();
        Ok(self
            .fetch_optional::<BuildRow>(&statement)
            .await?
            .map(BuildRow::into_build))
    }

    async fn touch_build(&self, scope: &str, lock_hash: &str, now_ms: i64) -> EnvResult<()> {
        let statement = Query::update()
            .table(EnvironmentBuilds::Table)
            .value(
                EnvironmentBuilds::LastUsedAtMs,
                Expr::expr(Func::greatest_of(EnvironmentBuilds::LastUsedAtMs, now_ms)),
            )
            .and_where(Expr::col(EnvironmentBuilds::Scope).eq(scope))
            .and_where(Expr::col(EnvironmentBuilds::LockHash).eq(lock_hash))
            .to_owned();
        self.execute(&statement).await?;
        Ok(())
    }

    async fn list_builds(&self) -> EnvResult<Vec<EnvironmentBuild>> {
        let statement = Query::select()
            .columns(BUILD_COLUMNS)
            .from(EnvironmentBuilds::Table)
            .order_by(EnvironmentBuilds::LastUsedAtMs, Order::Asc)
            .order_by(EnvironmentBuilds::LockHash, Order::Asc)
            .to_owned();
        Ok(self
            .fetch_all::<BuildRow>(&statement)
            .await?
            .into_iter()
            .map(BuildRow::into_build)
            .collect())
    }

    async fn forget_build(
        &self,
        scope: &str,
        lock_hash: &str,
        unused_before_ms: i64,
    ) -> EnvResult<bool> {
        let statement = Query::delete()
            .from_table(EnvironmentBuilds::Table)
            .and_where(Expr::col(EnvironmentBuilds::Scope).eq(scope))
            .and_where(Expr::col(EnvironmentBuilds::LockHash).eq(lock_hash))
            .and_where(Expr::col(EnvironmentBuilds::State).ne(BuildState::Building.as_str()))
            .and_where(Expr::col(EnvironmentBuilds::LastUsedAtMs).lt(unused_before_ms))
            .to_owned();
        Ok(self.execute(&statement).await? == 1)
    }
}

/// `MAX(a, b)` for SQLite, `GREATEST(a, b)` for PostgreSQL: sea-query has neither across
/// dialects, so the touch is written with `CASE`.
struct Func;

impl Func {
    fn greatest_of(column: EnvironmentBuilds, value: i64) -> sea_query::SimpleExpr {
        sea_query::Expr::case(Expr::col(column).lt(value), Expr::val(value))
            .finally(Expr::col(EnvironmentBuilds::LastUsedAtMs))
            .into()
    }
}
