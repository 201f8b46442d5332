//! The deployment store: [`DeploymentStore`], one implementation over SQLite and
//! PostgreSQL ([`SqlDeploymentStore`]) whose statements sea-query writes in each dialect.
//! The table lives in the metadata store's database (migrations
//! `plinth-metastore/migrations/*/20261208010001_serving.sql`).

use async_trait::async_trait;
use plinth_api_types::DeploymentState;
use plinth_metastore::SharedPool;
use sea_query::{Expr, Iden, Order, Query, QueryStatementWriter};
use sea_query_binder::SqlxBinder;

use crate::error::{ServingError, ServingResult};

/// A deployment's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// Its id (a UUID).
    pub id: String,
    /// Its project's id.
    pub project_id: String,
    /// Its name, unique in the project.
    pub name: String,
    /// The registered model.
    pub model_name: String,
    /// The version served.
    pub model_version: i64,
    /// What was asked for (`iris/3`, `iris@champion`).
    pub model_ref: String,
    /// The flavor served (`onnx`).
    pub flavor: String,
    /// The MLflow signature's inputs (JSON), if the model has one.
    pub signature: Option<String>,
    /// Where it stands.
    pub state: DeploymentState,
    /// Why it failed.
    pub message: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
    /// When its state last changed.
    pub updated_at_ms: i64,
}

/// Stores deployments.
#[async_trait]
pub trait DeploymentStore: Send + Sync + 'static {
    /// Records a new deployment; a name taken in the project is `AlreadyExists`.
    async fn create(&self, deployment: &Deployment) -> ServingResult<()>;
    /// Returns a project's deployment by name; `NotFound` otherwise.
    async fn get(&self, project_id: &str, name: &str) -> ServingResult<Deployment>;
    /// Lists a project's deployments by name.
    async fn list(&self, project_id: &str) -> ServingResult<Vec<Deployment>>;
    /// Sets a deployment's state and message; returns whether it still exists.
    async fn set_state(
        &self,
        id: &str,
        state: DeploymentState,
        message: Option<&str>,
        now_ms: i64,
    ) -> ServingResult<bool>;
    /// Deletes a deployment; `NotFound` if there is none of that name.
    async fn delete(&self, project_id: &str, name: &str) -> ServingResult<Deployment>;
}

#[derive(Iden)]
enum Deployments {
    Table,
    Id,
    ProjectId,
    Name,
    ModelName,
    ModelVersion,
    ModelRef,
    Flavor,
    Signature,
    State,
    Message,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

const COLUMNS: [Deployments; 13] = [
    Deployments::Id,
    Deployments::ProjectId,
    Deployments::Name,
    Deployments::ModelName,
    Deployments::ModelVersion,
    Deployments::ModelRef,
    Deployments::Flavor,
    Deployments::Signature,
    Deployments::State,
    Deployments::Message,
    Deployments::CreatedBy,
    Deployments::CreatedAtMs,
    Deployments::UpdatedAtMs,
];

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    project_id: String,
    name: String,
    model_name: String,
    model_version: i64,
    model_ref: String,
    flavor: String,
    signature: Option<String>,
    state: String,
    message: Option<String>,
    created_by: String,
    created_at_ms: i64,
    updated_at_ms: i64,
}

fn parse_state(state: &str) -> DeploymentState {
    match state {
        "ready" => DeploymentState::Ready,
        "failed" => DeploymentState::Failed,
        _ => DeploymentState::Loading,
    }
}

impl Row {
    fn into_deployment(self) -> Deployment {
        Deployment {
            id: self.id,
            project_id: self.project_id,
            name: self.name,
            model_name: self.model_name,
            model_version: self.model_version,
            model_ref: self.model_ref,
            flavor: self.flavor,
            signature: self.signature,
            state: parse_state(&self.state),
            message: self.message,
            created_by: self.created_by,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

#[cfg(feature = "postgres")]
trait PgRow: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> {}
#[cfg(feature = "postgres")]
impl<T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>> PgRow for T {}
#[cfg(not(feature = "postgres"))]
trait PgRow {}
#[cfg(not(feature = "postgres"))]
impl<T> PgRow for T {}

/// The deployment store over the metadata store's database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlDeploymentStore {
    pool: SharedPool,
}

fn unknown_backend() -> ServingError {
    ServingError::Internal(
        "the metadata store's backend has no deployment store in this build".to_string(),
    )
}

impl SqlDeploymentStore {
    /// Returns the store over the metadata store's pool (whose migrations made the table).
    pub fn new(pool: SharedPool) -> Self {
        SqlDeploymentStore { pool }
    }

    async fn execute(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> ServingResult<u64> {
        Ok(match &self.pool {
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
        })
    }

    async fn fetch_all<T>(
        &self,
        statement: &(impl QueryStatementWriter + SqlxBinder + Sync),
    ) -> ServingResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + PgRow,
    {
        Ok(match &self.pool {
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
        })
    }

    fn select() -> sea_query::SelectStatement {
        Query::select()
            .columns(COLUMNS)
            .from(Deployments::Table)
            .to_owned()
    }
}

#[async_trait]
impl DeploymentStore for SqlDeploymentStore {
    async fn create(&self, deployment: &Deployment) -> ServingResult<()> {
        let statement = Query::insert()
            .into_table(Deployments::Table)
            .columns(COLUMNS)
            .values_panic([
                deployment.id.clone().into(),
                deployment.project_id.clone().into(),
                deployment.name.clone().into(),
                deployment.model_name.clone().into(),
                deployment.model_version.into(),
                deployment.model_ref.clone().into(),
                deployment.flavor.clone().into(),
                deployment.signature.clone().into(),
                deployment.state.as_str().into(),
                deployment.message.clone().into(),
                deployment.created_by.clone().into(),
                deployment.created_at_ms.into(),
                deployment.updated_at_ms.into(),
            ])
            .to_owned();
        match self.execute(&statement).await {
            Err(ServingError::Store(sqlx::Error::Database(error)))
                if error.is_unique_violation() =>
            {
                Err(ServingError::AlreadyExists(deployment.name.clone()))
            }
            other => other.map(|_| ()),
        }
    }

    async fn get(&self, project_id: &str, name: &str) -> ServingResult<Deployment> {
        let statement = Self::select()
            .and_where(Expr::col(Deployments::ProjectId).eq(project_id))
            .and_where(Expr::col(Deployments::Name).eq(name))
            .to_owned();
        self.fetch_all::<Row>(&statement)
            .await?
            .into_iter()
            .next()
            .map(Row::into_deployment)
            .ok_or_else(|| ServingError::NotFound {
                entity: "deployment",
                id: name.to_string(),
            })
    }

    async fn list(&self, project_id: &str) -> ServingResult<Vec<Deployment>> {
        let statement = Self::select()
            .and_where(Expr::col(Deployments::ProjectId).eq(project_id))
            .order_by(Deployments::Name, Order::Asc)
            .to_owned();
        Ok(self
            .fetch_all::<Row>(&statement)
            .await?
            .into_iter()
            .map(Row::into_deployment)
            .collect())
    }

    async fn set_state(
        &self,
        id: &str,
        state: DeploymentState,
        message: Option<&str>,
        now_ms: i64,
    ) -> ServingResult<bool> {
        let statement = Query::update()
            .table(Deployments::Table)
            .values([
                (Deployments::State, state.as_str().into()),
                (Deployments::Message, message.map(str::to_string).into()),
                (Deployments::UpdatedAtMs, now_ms.into()),
            ])
            .and_where(Expr::col(Deployments::Id).eq(id))
            .to_owned();
        Ok(self.execute(&statement).await? > 0)
    }

    async fn delete(&self, project_id: &str, name: &str) -> ServingResult<Deployment> {
        let found = self.get(project_id, name).await?;
        let statement = Query::delete()
            .from_table(Deployments::Table)
            .and_where(Expr::col(Deployments::Id).eq(found.id.as_str()))
            .to_owned();
        if self.execute(&statement).await? == 0 {
            return Err(ServingError::NotFound {
                entity: "deployment",
                id: name.to_string(),
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use plinth_metastore::testsuite::TestStore;
    use plinth_metastore::NewUser;
    use plinth_types::Username;

    use super::*;

    async fn project_of(guard: &TestStore) -> String {
        let metadata = guard.shared();
        let owner = metadata
            .create_user(
                &NewUser {
                    username: Username::parse("owner").unwrap(),
                    email: "owner@example.com".to_string(),
                    display_name: "Owner".to_string(),
                    password_hash: None,
                    is_admin: true,
                },
                1,
            )
            .await
            .unwrap();
        let org = metadata
            .create_organization("acme", "Acme", 1)
            .await
            .unwrap();
        metadata
            .create_project(&org.id, "churn", "Churn", "", &owner.id, 1)
            .await
            .unwrap()
            .id
    }

    fn deployment(project_id: &str, name: &str) -> Deployment {
        Deployment {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: project_id.to_string(),
            name: name.to_string(),
            model_name: "iris".to_string(),
            model_version: 3,
            model_ref: "iris@champion".to_string(),
            flavor: "onnx".to_string(),
            signature: Some(r#"[{"type": "double", "name": "x"}]"#.to_string()),
            state: DeploymentState::Loading,
            message: None,
            created_by: "owner".to_string(),
            created_at_ms: 10,
            updated_at_ms: 10,
        }
    }

    /// Every operation, as both backends must do it.
    async fn conformance(guard: TestStore) {
        let project = project_of(&guard).await;
        let store = SqlDeploymentStore::new(guard.shared().shared_pool());
        let iris = deployment(&project, "iris");
        store.create(&iris).await.unwrap();
        store.create(&deployment(&project, "alpha")).await.unwrap();
        assert_eq!(store.get(&project, "iris").await.unwrap(), iris);
        let again = store
            .create(&deployment(&project, "iris"))
            .await
            .unwrap_err();
        assert!(
            matches!(again, ServingError::AlreadyExists(ref name) if name == "iris"),
            "{again}"
        );
        let names: Vec<String> = store
            .list(&project)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["alpha", "iris"]);
        assert!(store
            .set_state(&iris.id, DeploymentState::Failed, Some("broken graph"), 20)
            .await
            .unwrap());
        let failed = store.get(&project, "iris").await.unwrap();
        assert_eq!(
            (
                failed.state,
                failed.message.as_deref(),
                failed.updated_at_ms
            ),
            (DeploymentState::Failed, Some("broken graph"), 20)
        );
        assert_eq!(store.delete(&project, "iris").await.unwrap().id, iris.id);
        assert!(matches!(
            store.get(&project, "iris").await,
            Err(ServingError::NotFound { .. })
        ));
        assert!(matches!(
            store.delete(&project, "iris").await,
            Err(ServingError::NotFound { .. })
        ));
        assert!(!store
            .set_state(&iris.id, DeploymentState::Ready, None, 30)
            .await
            .unwrap());
        assert!(store.list("no-such-project").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sqlite_store_conforms() {
        conformance(plinth_metastore::testsuite::open_sqlite_temp().await).await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    #[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
    async fn postgres_store_conforms() {
        conformance(plinth_metastore::testsuite::open_postgres_from_env().await).await;
    }
}
