//! The pipeline store: [`PipelineStore`] and its one implementation over the metadata
//! store's database, SQLite or PostgreSQL ([`SqlPipelineStore`]), whose statements
//! sea-query writes in each dialect. Tables: migrations `*_pipelines.sql` in
//! `plinth-metastore/migrations`; what is queried or unique has a column, the rest of a
//! record is its JSON `body`.

use async_trait::async_trait;
use plinth_metastore::SharedPool;
use sea_query::{Alias, Expr, OnConflict, Order, Query, QueryStatementWriter, SimpleExpr};
use sea_query_binder::SqlxBinder;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{PipelineError, PipelineResult};
use crate::model::{ExperimentRecord, PipelineRecord, RunRecord, TaskRecord, VersionRecord};

/// Stores experiments, pipelines, versions, runs and tasks.
#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    /// Adds an experiment; a name taken in the project is `AlreadyExists`.
    async fn create_experiment(&self, experiment: &ExperimentRecord) -> PipelineResult<()>;
    /// Rewrites an experiment (archive, restore).
    async fn update_experiment(&self, experiment: &ExperimentRecord) -> PipelineResult<()>;
    /// Returns one experiment of a project.
    async fn get_experiment(&self, project_id: &str, id: &str) -> PipelineResult<ExperimentRecord>;
    /// Returns a project's experiment by name, if any.
    async fn find_experiment(
        &self,
        project_id: &str,
        name: &str,
    ) -> PipelineResult<Option<ExperimentRecord>>;
    /// Lists a project's experiments, oldest first.
    async fn list_experiments(&self, project_id: &str) -> PipelineResult<Vec<ExperimentRecord>>;

    /// Adds a pipeline and its first version.
    async fn create_pipeline(
        &self,
        pipeline: &PipelineRecord,
        version: &VersionRecord,
    ) -> PipelineResult<()>;
    /// Adds a version.
    async fn add_version(&self, version: &VersionRecord) -> PipelineResult<()>;
    /// Returns one pipeline of a project.
    async fn get_pipeline(&self, project_id: &str, id: &str) -> PipelineResult<PipelineRecord>;
    /// Returns a project's pipeline by name, if any.
    async fn find_pipeline(
        &self,
        project_id: &str,
        name: &str,
    ) -> PipelineResult<Option<PipelineRecord>>;
    /// Lists a project's pipelines, oldest first.
    async fn list_pipelines(&self, project_id: &str) -> PipelineResult<Vec<PipelineRecord>>;
    /// Returns a version of a pipeline.
    async fn get_version(&self, pipeline_id: &str, id: &str) -> PipelineResult<VersionRecord>;
    /// Lists a pipeline's versions, oldest first.
    async fn list_versions(&self, pipeline_id: &str) -> PipelineResult<Vec<VersionRecord>>;

    /// Adds a run.
    async fn create_run(&self, run: &RunRecord) -> PipelineResult<()>;
    /// Rewrites a run (state, terminate request, storage state).
    async fn update_run(&self, run: &RunRecord) -> PipelineResult<()>;
    /// Returns a run by id (any project: the engine's view).
    async fn get_run(&self, id: &str) -> PipelineResult<RunRecord>;
    /// Lists a project's runs, newest first.
    async fn list_runs(&self, project_id: &str) -> PipelineResult<Vec<RunRecord>>;
    /// Lists the runs that have not ended, every project (what the engine drives).
    async fn list_active_runs(&self) -> PipelineResult<Vec<RunRecord>>;
    /// Writes a task's record (insert or replace).
    async fn put_task(&self, task: &TaskRecord) -> PipelineResult<()>;
    /// Lists a run's tasks by key.
    async fn list_tasks(&self, run_id: &str) -> PipelineResult<Vec<TaskRecord>>;
}

/// The pipeline store over the metadata store's database.
#[derive(Clone, Debug)]
pub struct SqlPipelineStore {
    pool: SharedPool,
}

#[derive(sqlx::FromRow)]
struct Body {
    body: String,
}

fn table(name: &str) -> Alias {
    Alias::new(name)
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn body_of<T: Serialize>(record: &T) -> PipelineResult<String> {
    serde_json::to_string(record).map_err(|error| PipelineError::Corrupt(error.to_string()))
}

fn decode<T: DeserializeOwned>(rows: Vec<Body>) -> PipelineResult<Vec<T>> {
    rows.into_iter()
        .map(|row| {
            serde_json::from_str(&row.body)
                .map_err(|error| PipelineError::Corrupt(error.to_string()))
        })
        .collect()
}

fn is_unique_violation(error: &PipelineError) -> bool {
    matches!(error, PipelineError::Store(sqlx::Error::Database(db)) if db.is_unique_violation())
}

impl SqlPipelineStore {
    /// Returns the store over the metadata store's pool (whose migrations made the tables).
    pub fn new(pool: SharedPool) -> Self {
        SqlPipelineStore { pool }
    }

    async fn execute(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> PipelineResult<u64> {
        let count = match &self.pool {
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
            _ => {
                return Err(PipelineError::Corrupt(
                    "unknown database backend".to_string(),
                ))
            }
        };
        Ok(count)
    }

    async fn bodies<T: DeserializeOwned>(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> PipelineResult<Vec<T>> {
        let rows: Vec<Body> = match &self.pool {
            SharedPool::Sqlite(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::SqliteQueryBuilder);
                sqlx::query_as_with(&sql, values).fetch_all(pool).await?
            }
            #[cfg(feature = "postgres")]
            SharedPool::Postgres(pool) => {
                let (sql, values) = statement.build_sqlx(sea_query::PostgresQueryBuilder);
                sqlx::query_as_with(&sql, values).fetch_all(pool).await?
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(PipelineError::Corrupt(
                    "unknown database backend".to_string(),
                ))
            }
        };
        decode(rows)
    }

    async fn insert(
        &self,
        name: &str,
        columns: &[&str],
        values: Vec<SimpleExpr>,
        duplicate: impl FnOnce() -> String,
    ) -> PipelineResult<()> {
        let mut statement = Query::insert();
        statement
            .into_table(table(name))
            .columns(columns.iter().map(|column| col(column)))
            .values_panic(values);
        match self.execute(&statement).await {
            Err(error) if is_unique_violation(&error) => {
                Err(PipelineError::AlreadyExists(duplicate()))
            }
            other => other.map(|_| ()),
        }
    }

    async fn update_body(
        &self,
        name: &str,
        id: &str,
        body: String,
        extra: Vec<(&str, SimpleExpr)>,
    ) -> PipelineResult<()> {
        let mut statement = Query::update();
        statement
            .table(table(name))
            .value(col("body"), body)
            .and_where(Expr::col(col("id")).eq(id));
        for (column, value) in extra {
            statement.value(col(column), value);
        }
        self.execute(&statement).await?;
        Ok(())
    }

    fn select(name: &str) -> sea_query::SelectStatement {
        let mut statement = Query::select();
        statement.column(col("body")).from(table(name));
        statement
    }

    async fn one<T: DeserializeOwned>(
        &self,
        statement: sea_query::SelectStatement,
        entity: &'static str,
        id: &str,
    ) -> PipelineResult<T> {
        self.bodies(&statement)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| PipelineError::NotFound {
                entity,
                id: id.to_string(),
            })
    }
}

#[async_trait]
impl PipelineStore for SqlPipelineStore {
    async fn create_experiment(&self, experiment: &ExperimentRecord) -> PipelineResult<()> {
        self.insert(
            "pipeline_experiments",
            &["id", "project_id", "name", "created_at_ms", "body"],
            vec![
                experiment.id.clone().into(),
                experiment.project_id.clone().into(),
                experiment.display_name.clone().into(),
                experiment.created_at_ms.into(),
                body_of(experiment)?.into(),
            ],
            || {
                format!(
                    "an experiment named `{}` already exists",
                    experiment.display_name
                )
            },
        )
        .await
    }

    async fn update_experiment(&self, experiment: &ExperimentRecord) -> PipelineResult<()> {
        self.update_body(
            "pipeline_experiments",
            &experiment.id,
            body_of(experiment)?,
            Vec::new(),
        )
        .await
    }

    async fn get_experiment(&self, project_id: &str, id: &str) -> PipelineResult<ExperimentRecord> {
        let mut statement = Self::select("pipeline_experiments");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .and_where(Expr::col(col("id")).eq(id));
        self.one(statement, "experiment", id).await
    }

    async fn find_experiment(
        &self,
        project_id: &str,
        name: &str,
    ) -> PipelineResult<Option<ExperimentRecord>> {
        let mut statement = Self::select("pipeline_experiments");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .and_where(Expr::col(col("name")).eq(name));
        Ok(self.bodies(&statement).await?.into_iter().next())
    }

    async fn list_experiments(&self, project_id: &str) -> PipelineResult<Vec<ExperimentRecord>> {
        let mut statement = Self::select("pipeline_experiments");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .order_by(col("created_at_ms"), Order::Asc)
            .order_by(col("id"), Order::Asc);
        self.bodies(&statement).await
    }

    async fn create_pipeline(
        &self,
        pipeline: &PipelineRecord,
        version: &VersionRecord,
    ) -> PipelineResult<()> {
        self.insert(
            "pipelines",
            &["id", "project_id", "name", "created_at_ms", "body"],
            vec![
                pipeline.id.clone().into(),
                pipeline.project_id.clone().into(),
                pipeline.display_name.clone().into(),
                pipeline.created_at_ms.into(),
                body_of(pipeline)?.into(),
            ],
            || {
                format!(
                    "a pipeline named `{}` already exists",
                    pipeline.display_name
                )
            },
        )
        .await?;
        self.add_version(version).await
    }

    async fn add_version(&self, version: &VersionRecord) -> PipelineResult<()> {
        self.insert(
            "pipeline_versions",
            &["id", "pipeline_id", "name", "created_at_ms", "body"],
            vec![
                version.id.clone().into(),
                version.pipeline_id.clone().into(),
                version.display_name.clone().into(),
                version.created_at_ms.into(),
                body_of(version)?.into(),
            ],
            || {
                format!(
                    "the pipeline has a version named `{}` already",
                    version.display_name
                )
            },
        )
        .await
    }

    async fn get_pipeline(&self, project_id: &str, id: &str) -> PipelineResult<PipelineRecord> {
        let mut statement = Self::select("pipelines");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .and_where(Expr::col(col("id")).eq(id));
        self.one(statement, "pipeline", id).await
    }

    async fn find_pipeline(
        &self,
        project_id: &str,
        name: &str,
    ) -> PipelineResult<Option<PipelineRecord>> {
        let mut statement = Self::select("pipelines");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .and_where(Expr::col(col("name")).eq(name));
        Ok(self.bodies(&statement).await?.into_iter().next())
    }

    async fn list_pipelines(&self, project_id: &str) -> PipelineResult<Vec<PipelineRecord>> {
        let mut statement = Self::select("pipelines");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .order_by(col("created_at_ms"), Order::Asc)
            .order_by(col("id"), Order::Asc);
        self.bodies(&statement).await
    }

    async fn get_version(&self, pipeline_id: &str, id: &str) -> PipelineResult<VersionRecord> {
        let mut statement = Self::select("pipeline_versions");
        statement
            .and_where(Expr::col(col("pipeline_id")).eq(pipeline_id))
            .and_where(Expr::col(col("id")).eq(id));
        self.one(statement, "pipeline version", id).await
    }

    async fn list_versions(&self, pipeline_id: &str) -> PipelineResult<Vec<VersionRecord>> {
        let mut statement = Self::select("pipeline_versions");
        statement
            .and_where(Expr::col(col("pipeline_id")).eq(pipeline_id))
            .order_by(col("created_at_ms"), Order::Asc)
            .order_by(col("id"), Order::Asc);
        self.bodies(&statement).await
    }

    async fn create_run(&self, run: &RunRecord) -> PipelineResult<()> {
        self.insert(
            "pipeline_runs",
            &[
                "id",
                "project_id",
                "experiment_id",
                "state",
                "created_at_ms",
                "body",
            ],
            vec![
                run.id.clone().into(),
                run.project_id.clone().into(),
                run.experiment_id.clone().into(),
                run.state.as_str().into(),
                run.created_at_ms.into(),
                body_of(run)?.into(),
            ],
            || format!("run `{}` already exists", run.id),
        )
        .await
    }

    async fn update_run(&self, run: &RunRecord) -> PipelineResult<()> {
        self.update_body(
            "pipeline_runs",
            &run.id,
            body_of(run)?,
            vec![("state", run.state.as_str().into())],
        )
        .await
    }

    async fn get_run(&self, id: &str) -> PipelineResult<RunRecord> {
        let mut statement = Self::select("pipeline_runs");
        statement.and_where(Expr::col(col("id")).eq(id));
        self.one(statement, "run", id).await
    }

    async fn list_runs(&self, project_id: &str) -> PipelineResult<Vec<RunRecord>> {
        let mut statement = Self::select("pipeline_runs");
        statement
            .and_where(Expr::col(col("project_id")).eq(project_id))
            .order_by(col("created_at_ms"), Order::Desc)
            .order_by(col("id"), Order::Desc);
        self.bodies(&statement).await
    }

    async fn list_active_runs(&self) -> PipelineResult<Vec<RunRecord>> {
        let mut statement = Self::select("pipeline_runs");
        statement
            .and_where(Expr::col(col("state")).is_in(["PENDING", "RUNNING", "CANCELING"]))
            .order_by(col("created_at_ms"), Order::Asc);
        self.bodies(&statement).await
    }

    async fn put_task(&self, task: &TaskRecord) -> PipelineResult<()> {
        let mut statement = Query::insert();
        statement
            .into_table(table("pipeline_tasks"))
            .columns([col("run_id"), col("task_key"), col("body")])
            .values_panic([
                task.run_id.clone().into(),
                task.key.clone().into(),
                body_of(task)?.into(),
            ])
            .on_conflict(
                OnConflict::columns([col("run_id"), col("task_key")])
                    .update_column(col("body"))
                    .to_owned(),
            );
        self.execute(&statement).await?;
        Ok(())
    }

    async fn list_tasks(&self, run_id: &str) -> PipelineResult<Vec<TaskRecord>> {
        let mut statement = Self::select("pipeline_tasks");
        statement
            .and_where(Expr::col(col("run_id")).eq(run_id))
            .order_by(col("task_key"), Order::Asc);
        self.bodies(&statement).await
    }
}
