//! The SQL of [`RegistryStore`](crate::RegistryStore), written once for SQLite and
//! PostgreSQL, and the row types it decodes. Registered models have a row id, so a rename
//! is one update and versions, tags and aliases follow it; version numbers come from a
//! per-model counter bumped atomically, so concurrent registrations never collide and a
//! deleted number is never reused.

use std::collections::HashMap;

use plinth_types::{
    ModelVersion, ModelVersionStage, ModelVersionStatus, ModelVersionTag, RegisteredModel,
    RegisteredModelAlias, RegisteredModelTag,
};

use crate::tracking::query::Sql;
use crate::tracking_sql::corrupt;
use crate::{StoreError, StoreResult};

pub(crate) const VERSION_COLUMNS: &str =
    "mv.registered_model_id, m.name, mv.version, mv.creation_time, mv.last_updated_time, \
     mv.description, mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, \
     mv.status_message, mv.model_id";

pub(crate) const VERSION_FROM: &str =
    "FROM model_versions mv JOIN registered_models m ON m.id = mv.registered_model_id";

#[derive(sqlx::FromRow)]
pub(crate) struct RegisteredModelRow {
    pub(crate) id: i64,
    name: String,
    description: Option<String>,
    creation_time: i64,
    last_updated_time: i64,
    user_id: Option<String>,
    deployment_job_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ModelVersionRow {
    registered_model_id: i64,
    name: String,
    version: i64,
    creation_time: i64,
    last_updated_time: i64,
    description: Option<String>,
    user_id: Option<String>,
    current_stage: String,
    source: String,
    run_id: Option<String>,
    run_link: Option<String>,
    status: String,
    status_message: Option<String>,
    model_id: Option<String>,
}

/// `(registered model row id, version)`.
pub(crate) type VersionKey = (i64, i64);

/// `(m = $a AND v = $b) OR …` over `keys`, for columns `model_column`/`version_column`.
pub(crate) fn keys_condition(sql: &mut Sql, keys: &[VersionKey]) -> Vec<(String, String)> {
    keys.iter()
        .map(|(model, version)| (sql.bind(*model), sql.bind(*version)))
        .collect()
}

pub(crate) fn render_keys(
    placeholders: &[(String, String)],
    model_column: &str,
    version_column: &str,
) -> String {
    let parts: Vec<String> = placeholders
        .iter()
        .map(|(model, version)| {
            format!("({model_column} = {model} AND {version_column} = {version})")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// Assembles versions in the order of `keys`.
pub(crate) fn assemble_versions(
    keys: &[VersionKey],
    rows: Vec<ModelVersionRow>,
    tags: Vec<(i64, i64, String, String)>,
    aliases: Vec<(i64, i64, String)>,
) -> StoreResult<Vec<ModelVersion>> {
    let mut versions: HashMap<VersionKey, ModelVersion> = HashMap::with_capacity(rows.len());
    for row in rows {
        let version = ModelVersion {
            current_stage: ModelVersionStage::parse(&row.current_stage)
                .ok_or_else(|| corrupt("model version stage", &row.current_stage))?,
            status: ModelVersionStatus::parse(&row.status)
                .ok_or_else(|| corrupt("model version status", &row.status))?,
            name: row.name,
            version: row.version,
            creation_timestamp: row.creation_time,
            last_updated_timestamp: row.last_updated_time,
            description: row.description,
            user_id: row.user_id,
            source: row.source,
            run_id: row.run_id,
            status_message: row.status_message,
            tags: Vec::new(),
            run_link: row.run_link,
            aliases: Vec::new(),
            model_id: row.model_id,
        };
        versions.insert((row.registered_model_id, row.version), version);
    }
    for (model, number, key, value) in tags {
        if let Some(version) = versions.get_mut(&(model, number)) {
            version.tags.push(ModelVersionTag { key, value });
        }
    }
    for (model, number, alias) in aliases {
        if let Some(version) = versions.get_mut(&(model, number)) {
            version.aliases.push(alias);
        }
    }
    Ok(keys.iter().filter_map(|key| versions.remove(key)).collect())
}

/// Assembles registered models in the order of `ids`.
pub(crate) fn assemble_models(
    ids: &[i64],
    rows: Vec<RegisteredModelRow>,
    tags: Vec<(i64, String, String)>,
    aliases: Vec<(i64, String, i64)>,
    latest: Vec<(i64, ModelVersion)>,
) -> Vec<RegisteredModel> {
    let mut models: HashMap<i64, RegisteredModel> = rows
        .into_iter()
        .map(|row| {
            (
                row.id,
                RegisteredModel {
                    name: row.name,
                    creation_timestamp: row.creation_time,
                    last_updated_timestamp: row.last_updated_time,
                    description: row.description,
                    latest_versions: Vec::new(),
                    tags: Vec::new(),
                    aliases: Vec::new(),
                    user_id: row.user_id,
                    deployment_job_id: row.deployment_job_id,
                },
            )
        })
        .collect();
    for (id, key, value) in tags {
        if let Some(model) = models.get_mut(&id) {
            model.tags.push(RegisteredModelTag { key, value });
        }
    }
    for (id, alias, version) in aliases {
        if let Some(model) = models.get_mut(&id) {
            model.aliases.push(RegisteredModelAlias { alias, version });
        }
    }
    for (id, version) in latest {
        if let Some(model) = models.get_mut(&id) {
            model.latest_versions.push(version);
        }
    }
    ids.iter().filter_map(|id| models.remove(id)).collect()
}

/// The storage location a `models:/…` source points to, when the store can resolve it:
/// `Some((model_id, None))` for `models:/m-…`, `Some((name, Some(version)))` for
/// `models:/name/3`.
pub(crate) fn parse_models_uri(source: &str) -> Option<(String, Option<i64>)> {
    let rest = source.strip_prefix("models:/")?;
    let rest = rest.trim_start_matches('/');
    match rest.split_once('/') {
        None if rest.starts_with("m-") => Some((rest.to_string(), None)),
        Some((name, version)) => version
            .trim_end_matches('/')
            .parse::<i64>()
            .ok()
            .map(|version| (name.to_string(), Some(version))),
        None => None,
    }
}

pub(crate) fn model_not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        entity: "registered model",
        id: name.to_string(),
    }
}

pub(crate) fn version_not_found(name: &str, version: i64) -> StoreError {
    StoreError::NotFound {
        entity: "model version",
        id: format!("{name}/{version}"),
    }
}

/// Implements [`RegistryStore`](crate::RegistryStore) for `$store` (a struct with a sqlx
/// `pool` field of database `$db`), `$dialect` naming the SQL dialect.
macro_rules! impl_registry_queries {
    ($store:ty, $db:ty, $dialect:expr) => {
        impl $store {
            /// The row id of a registered model of the project.
            async fn registry_model_id(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                name: &str,
            ) -> $crate::StoreResult<i64> {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM registered_models WHERE project_id = $1 AND name = $2",
                )
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *connection)
                .await?;
                id.ok_or_else(|| $crate::registry_sql::model_not_found(name))
            }

            /// The registered model row id of a live version of the project.
            async fn registry_version_key(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                name: &str,
                version: i64,
            ) -> $crate::StoreResult<i64> {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT m.id FROM registered_models m JOIN model_versions mv ON mv.registered_model_id = m.id \
                     WHERE m.project_id = $1 AND m.name = $2 AND mv.version = $3 AND mv.current_stage != 'Deleted_Internal'",
                )
                .bind(project_id)
                .bind(name)
                .bind(version)
                .fetch_optional(&mut *connection)
                .await?;
                id.ok_or_else(|| $crate::registry_sql::version_not_found(name, version))
            }

            /// Loads versions with tags and aliases, in the order of `keys`.
            async fn registry_load_versions(
                &self,
                keys: &[$crate::registry_sql::VersionKey],
            ) -> $crate::StoreResult<Vec<plinth_types::ModelVersion>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(200) {
                    let mut sql = Sql::default();
                    let placeholders = $crate::registry_sql::keys_condition(&mut sql, chunk);
                    let binds = &sql.binds;
                    let rows: Vec<$crate::registry_sql::ModelVersionRow> = sqlx::query_as_with(
                        &format!(
                            "SELECT {} {} WHERE {}",
                            $crate::registry_sql::VERSION_COLUMNS,
                            $crate::registry_sql::VERSION_FROM,
                            $crate::registry_sql::render_keys(&placeholders, "mv.registered_model_id", "mv.version")
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let tags: Vec<(i64, i64, String, String)> = sqlx::query_as_with(
                        &format!(
                            "SELECT registered_model_id, version, key, value FROM model_version_tags WHERE {} \
                             ORDER BY registered_model_id, version, key",
                            $crate::registry_sql::render_keys(&placeholders, "registered_model_id", "version")
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let aliases: Vec<(i64, i64, String)> = sqlx::query_as_with(
                        &format!(
                            "SELECT registered_model_id, version, alias FROM registered_model_aliases WHERE {} \
                             ORDER BY registered_model_id, version, alias",
                            $crate::registry_sql::render_keys(&placeholders, "registered_model_id", "version")
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    out.extend($crate::registry_sql::assemble_versions(chunk, rows, tags, aliases)?);
                }
                Ok(out)
            }

            /// The newest live version per stage of each model, by model then version.
            async fn registry_latest_keys(
                &self,
                ids: &[i64],
            ) -> $crate::StoreResult<Vec<(i64, i64, String)>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::new();
                for chunk in ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let list = sql.list(chunk);
                    let rows: Vec<(i64, i64, String)> = sqlx::query_as_with(
                        &format!(
                            "SELECT mv.registered_model_id, mv.version, mv.current_stage FROM model_versions mv \
                             WHERE mv.registered_model_id IN {list} AND mv.current_stage != 'Deleted_Internal' \
                             AND mv.version = (SELECT MAX(v.version) FROM model_versions v \
                             WHERE v.registered_model_id = mv.registered_model_id AND v.current_stage = mv.current_stage) \
                             ORDER BY mv.registered_model_id, mv.version"
                        ),
                        arguments::<$db>(&sql.binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    out.extend(rows);
                }
                Ok(out)
            }

            /// Loads registered models with latest versions, tags and aliases, in order.
            async fn registry_load_models(
                &self,
                ids: &[i64],
            ) -> $crate::StoreResult<Vec<plinth_types::RegisteredModel>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let list = sql.list(chunk);
                    let binds = &sql.binds;
                    let rows: Vec<$crate::registry_sql::RegisteredModelRow> = sqlx::query_as_with(
                        &format!(
                            "SELECT id, name, description, creation_time, last_updated_time, user_id, \
                             deployment_job_id FROM registered_models WHERE id IN {list}"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let tags: Vec<(i64, String, String)> = sqlx::query_as_with(
                        &format!(
                            "SELECT registered_model_id, key, value FROM registered_model_tags \
                             WHERE registered_model_id IN {list} ORDER BY registered_model_id, key"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let aliases: Vec<(i64, String, i64)> = sqlx::query_as_with(
                        &format!(
                            "SELECT registered_model_id, alias, version FROM registered_model_aliases \
                             WHERE registered_model_id IN {list} ORDER BY registered_model_id, alias"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let latest_keys: Vec<$crate::registry_sql::VersionKey> = self
                        .registry_latest_keys(chunk)
                        .await?
                        .into_iter()
                        .map(|(model, version, _)| (model, version))
                        .collect();
                    let latest = self
                        .registry_load_versions(&latest_keys)
                        .await?
                        .into_iter()
                        .zip(latest_keys.iter().map(|(model, _)| *model))
                        .map(|(version, model)| (model, version))
                        .collect();
                    out.extend($crate::registry_sql::assemble_models(chunk, rows, tags, aliases, latest));
                }
                Ok(out)
            }

            async fn registry_model(
                &self,
                project_id: &str,
                name: &str,
            ) -> $crate::StoreResult<plinth_types::RegisteredModel> {
                let mut connection = self.pool.acquire().await?;
                let id = Self::registry_model_id(&mut *connection, project_id, name).await?;
                drop(connection);
                self.registry_load_models(&[id])
                    .await?
                    .pop()
                    .ok_or_else(|| $crate::registry_sql::model_not_found(name))
            }

            async fn registry_version(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                let mut connection = self.pool.acquire().await?;
                let id = Self::registry_version_key(&mut *connection, project_id, name, version).await?;
                drop(connection);
                self.registry_load_versions(&[(id, version)])
                    .await?
                    .pop()
                    .ok_or_else(|| $crate::registry_sql::version_not_found(name, version))
            }
        }

        #[async_trait::async_trait]
        impl $crate::RegistryStore for $store {
            async fn create_registered_model(
                &self,
                project_id: &str,
                model: &$crate::NewRegisteredModel,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::RegisteredModel> {
                use $crate::tracking::validate;
                validate::validate_model_name(&model.name)?;
                for tag in &model.tags {
                    validate::validate_registry_tag(&tag.key, &tag.value)?;
                }
                for (value, what) in [
                    (&model.description, "description"),
                    (&model.user_id, "user_id"),
                    (&model.deployment_job_id, "deployment_job_id"),
                ] {
                    if let Some(value) = value {
                        validate::no_nul(value, what)?;
                    }
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO registered_models (project_id, name, description, creation_time, last_updated_time, \
                     last_version, user_id, deployment_job_id) VALUES ($1, $2, $3, $4, $4, 0, $5, $6) RETURNING id",
                )
                .bind(project_id)
                .bind(&model.name)
                .bind(&model.description)
                .bind(now_ms)
                .bind(&model.user_id)
                .bind(&model.deployment_job_id)
                .fetch_one(&mut *transaction)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "registered model", &model.name)]))?;
                let tags = $crate::tracking_sql::last_value_per_key(
                    model.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())),
                );
                for (key, value) in tags {
                    sqlx::query("INSERT INTO registered_model_tags (registered_model_id, key, value) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(key)
                        .bind(value)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                self.registry_model(project_id, &model.name).await
            }

            async fn get_registered_model(
                &self,
                project_id: &str,
                name: &str,
            ) -> $crate::StoreResult<plinth_types::RegisteredModel> {
                self.registry_model(project_id, name).await
            }

            async fn search_registered_models(
                &self,
                project_id: &str,
                search: &$crate::RegistrySearch,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::RegisteredModel>> {
                use sqlx::Row as _;
                let plan = $crate::tracking::query::registered_model_search($dialect, project_id, search)?;
                let (ids, next_page_token) = self.keyset_search(&plan, |row| row.try_get::<i64, _>("kid")).await?;
                Ok(plinth_types::Page {
                    items: self.registry_load_models(&ids).await?,
                    next_page_token,
                })
            }

            async fn rename_registered_model(
                &self,
                project_id: &str,
                name: &str,
                new_name: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::RegisteredModel> {
                if new_name.trim().is_empty() {
                    return Err($crate::tracking::filter::invalid("Missing value for required parameter 'new_name'."));
                }
                $crate::tracking::validate::validate_model_name(new_name)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "UPDATE registered_models SET name = $1, last_updated_time = $2 \
                     WHERE project_id = $3 AND name = $4 RETURNING id",
                )
                .bind(new_name)
                .bind(now_ms)
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "registered model", new_name)]))?;
                let id = id.ok_or_else(|| $crate::registry_sql::model_not_found(name))?;
                sqlx::query("UPDATE model_versions SET last_updated_time = $1 WHERE registered_model_id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                self.registry_model(project_id, new_name).await
            }

            async fn update_registered_model(
                &self,
                project_id: &str,
                name: &str,
                update: &$crate::RegisteredModelUpdate,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::RegisteredModel> {
                for (value, what) in [
                    (&update.description, "description"),
                    (&update.deployment_job_id, "deployment_job_id"),
                ] {
                    if let Some(value) = value {
                        $crate::tracking::validate::no_nul(value, what)?;
                    }
                }
                let changed = sqlx::query(
                    "UPDATE registered_models SET description = $1, last_updated_time = $2, \
                     deployment_job_id = COALESCE($5, deployment_job_id) WHERE project_id = $3 AND name = $4",
                )
                .bind(&update.description)
                .bind(now_ms)
                .bind(project_id)
                .bind(name)
                .bind(&update.deployment_job_id)
                .execute(&self.pool)
                .await?;
                if changed.rows_affected() == 0 {
                    return Err($crate::registry_sql::model_not_found(name));
                }
                self.registry_model(project_id, name).await
            }

            async fn delete_registered_model(&self, project_id: &str, name: &str) -> $crate::StoreResult<()> {
                let deleted = sqlx::query("DELETE FROM registered_models WHERE project_id = $1 AND name = $2")
                    .bind(project_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::registry_sql::model_not_found(name));
                }
                Ok(())
            }

            async fn set_registered_model_tag(
                &self,
                project_id: &str,
                name: &str,
                tag: &plinth_types::RegisteredModelTag,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_registry_tag(&tag.key, &tag.value)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_model_id(&mut *transaction, project_id, name).await?;
                sqlx::query(
                    "INSERT INTO registered_model_tags (registered_model_id, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (registered_model_id, key) DO UPDATE SET value = excluded.value",
                )
                .bind(id)
                .bind(&tag.key)
                .bind(&tag.value)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_registered_model_tag(
                &self,
                project_id: &str,
                name: &str,
                key: &str,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_tag_key(key)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_model_id(&mut *transaction, project_id, name).await?;
                sqlx::query("DELETE FROM registered_model_tags WHERE registered_model_id = $1 AND key = $2")
                    .bind(id)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn set_registered_model_alias(
                &self,
                project_id: &str,
                name: &str,
                alias: &str,
                version: i64,
            ) -> $crate::StoreResult<()> {
                use $crate::tracking::validate;
                validate::validate_model_name(name)?;
                validate::validate_alias(alias)?;
                validate::validate_alias_not_reserved(alias)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                sqlx::query(
                    "INSERT INTO registered_model_aliases (registered_model_id, alias, version) VALUES ($1, $2, $3) \
                     ON CONFLICT (registered_model_id, alias) DO UPDATE SET version = excluded.version",
                )
                .bind(id)
                .bind(alias)
                .bind(version)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_registered_model_alias(
                &self,
                project_id: &str,
                name: &str,
                alias: &str,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_alias(alias)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_model_id(&mut *transaction, project_id, name).await?;
                sqlx::query("DELETE FROM registered_model_aliases WHERE registered_model_id = $1 AND alias = $2")
                    .bind(id)
                    .bind(alias)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn get_model_version_by_alias(
                &self,
                project_id: &str,
                name: &str,
                alias: &str,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_alias(alias)?;
                let mut connection = self.pool.acquire().await?;
                let id = Self::registry_model_id(&mut *connection, project_id, name).await?;
                let version: Option<i64> = if alias.eq_ignore_ascii_case("latest") {
                    let latest: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(version) FROM model_versions WHERE registered_model_id = $1 \
                         AND current_stage != 'Deleted_Internal'",
                    )
                    .bind(id)
                    .fetch_one(&mut *connection)
                    .await?;
                    Some(latest.ok_or_else(|| $crate::StoreError::NotFound {
                        entity: "latest version of registered model",
                        id: name.to_string(),
                    })?)
                } else {
                    sqlx::query_scalar(
                        "SELECT version FROM registered_model_aliases WHERE registered_model_id = $1 AND alias = $2",
                    )
                    .bind(id)
                    .bind(alias)
                    .fetch_optional(&mut *connection)
                    .await?
                };
                drop(connection);
                let version = version.ok_or_else(|| {
                    $crate::tracking::filter::invalid(format!("Registered model alias {alias} not found."))
                })?;
                self.registry_version(project_id, name, version).await
            }

            async fn create_model_version(
                &self,
                project_id: &str,
                version: &$crate::NewModelVersion,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                use $crate::tracking::validate;
                validate::validate_model_name(&version.name)?;
                for tag in &version.tags {
                    validate::validate_registry_tag(&tag.key, &tag.value)?;
                }
                validate::no_nul(&version.source, "source")?;
                for (value, what) in [
                    (&version.run_id, "run_id"),
                    (&version.model_id, "model_id"),
                    (&version.run_link, "run_link"),
                    (&version.description, "description"),
                    (&version.user_id, "user_id"),
                ] {
                    if let Some(value) = value {
                        validate::no_nul(value, what)?;
                    }
                }
                let mut run_id = version.run_id.clone().filter(|run_id| !run_id.is_empty());
                let mut storage_location = version.source.clone();
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let mut promoted = version.model_id.clone();
                if let Some((target, number)) = $crate::registry_sql::parse_models_uri(&version.source) {
                    match number {
                        None => {
                            promoted = promoted.or(Some(target));
                        }
                        Some(number) => {
                            let location: Option<String> = sqlx::query_scalar(
                                "SELECT mv.storage_location FROM model_versions mv JOIN registered_models m \
                                 ON m.id = mv.registered_model_id WHERE m.project_id = $1 AND m.name = $2 \
                                 AND mv.version = $3 AND mv.current_stage != 'Deleted_Internal'",
                            )
                            .bind(project_id)
                            .bind(&target)
                            .bind(number)
                            .fetch_optional(&mut *transaction)
                            .await?;
                            storage_location = location.ok_or_else(|| $crate::registry_sql::version_not_found(&target, number))?;
                        }
                    }
                }
                if let Some(model_id) = &promoted {
                    let model: Option<(String, Option<String>)> = sqlx::query_as(
                        "SELECT artifact_location, source_run_id FROM logged_models WHERE id = $1 AND project_id = $2 \
                         AND lifecycle_stage = 'active'",
                    )
                    .bind(model_id)
                    .bind(project_id)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    let (location, source_run) = model.ok_or_else(|| $crate::StoreError::NotFound {
                        entity: "logged model",
                        id: model_id.clone(),
                    })?;
                    if version.source.starts_with("models:/") {
                        storage_location = location;
                    }
                    run_id = run_id.or(source_run);
                }
                let allocated: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE registered_models SET last_version = last_version + 1, last_updated_time = $1 \
                     WHERE project_id = $2 AND name = $3 RETURNING id, last_version",
                )
                .bind(now_ms)
                .bind(project_id)
                .bind(&version.name)
                .fetch_optional(&mut *transaction)
                .await?;
                let (id, number) = allocated.ok_or_else(|| $crate::registry_sql::model_not_found(&version.name))?;
                sqlx::query(
                    "INSERT INTO model_versions (registered_model_id, version, creation_time, last_updated_time, \
                     description, user_id, current_stage, source, storage_location, run_id, run_link, status, \
                     status_message, model_id) VALUES ($1, $2, $3, $3, $4, $5, 'None', $6, $7, $8, $9, 'READY', NULL, $10)",
                )
                .bind(id)
                .bind(number)
                .bind(now_ms)
                .bind(&version.description)
                .bind(&version.user_id)
                .bind(&version.source)
                .bind(&storage_location)
                .bind(&run_id)
                .bind(&version.run_link)
                .bind(&promoted)
                .execute(&mut *transaction)
                .await?;
                let tags = $crate::tracking_sql::last_value_per_key(
                    version.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())),
                );
                for (key, value) in tags {
                    sqlx::query(
                        "INSERT INTO model_version_tags (registered_model_id, version, key, value) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id)
                    .bind(number)
                    .bind(key)
                    .bind(value)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                self.registry_version(project_id, &version.name, number).await
            }

            async fn get_model_version(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                self.registry_version(project_id, name, version).await
            }

            async fn update_model_version(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
                description: Option<&str>,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                if let Some(description) = description {
                    $crate::tracking::validate::no_nul(description, "description")?;
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                sqlx::query(
                    "UPDATE model_versions SET description = $1, last_updated_time = $2 \
                     WHERE registered_model_id = $3 AND version = $4",
                )
                .bind(description)
                .bind(now_ms)
                .bind(id)
                .bind(version)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                self.registry_version(project_id, name, version).await
            }

            async fn transition_model_version_stage(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
                stage: plinth_types::ModelVersionStage,
                archive_existing_versions: bool,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::ModelVersion> {
                use plinth_types::ModelVersionStage;
                let active = matches!(stage, ModelVersionStage::Staging | ModelVersionStage::Production);
                if archive_existing_versions && !active {
                    return Err($crate::tracking::filter::invalid(format!(
                        "Model version transition cannot archive existing model versions because '{stage}' is \
                         not an Active stage. Valid stages are ['Staging', 'Production']"
                    )));
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                if archive_existing_versions {
                    sqlx::query(
                        "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $1 \
                         WHERE registered_model_id = $2 AND version != $3 AND current_stage = $4",
                    )
                    .bind(now_ms)
                    .bind(id)
                    .bind(version)
                    .bind(stage.as_str())
                    .execute(&mut *transaction)
                    .await?;
                }
                sqlx::query(
                    "UPDATE model_versions SET current_stage = $1, last_updated_time = $2 \
                     WHERE registered_model_id = $3 AND version = $4",
                )
                .bind(stage.as_str())
                .bind(now_ms)
                .bind(id)
                .bind(version)
                .execute(&mut *transaction)
                .await?;
                sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                self.registry_version(project_id, name, version).await
            }

            async fn delete_model_version(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                sqlx::query("DELETE FROM registered_model_aliases WHERE registered_model_id = $1 AND version = $2")
                    .bind(id)
                    .bind(version)
                    .execute(&mut *transaction)
                    .await?;
                // Hidden, not removed: its number stays used and its details are redacted, as in MLflow.
                sqlx::query(
                    "UPDATE model_versions SET current_stage = 'Deleted_Internal', last_updated_time = $1, \
                     description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', \
                     storage_location = 'REDACTED-SOURCE-PATH', run_id = 'REDACTED-RUN-ID', \
                     run_link = 'REDACTED-RUN-LINK', status_message = NULL \
                     WHERE registered_model_id = $2 AND version = $3",
                )
                .bind(now_ms)
                .bind(id)
                .bind(version)
                .execute(&mut *transaction)
                .await?;
                sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn get_latest_versions(
                &self,
                project_id: &str,
                name: &str,
                stages: &[plinth_types::ModelVersionStage],
            ) -> $crate::StoreResult<Vec<plinth_types::ModelVersion>> {
                let mut connection = self.pool.acquire().await?;
                let id = Self::registry_model_id(&mut *connection, project_id, name).await?;
                drop(connection);
                let keys: Vec<$crate::registry_sql::VersionKey> = self
                    .registry_latest_keys(&[id])
                    .await?
                    .into_iter()
                    .filter(|(_, _, stage)| {
                        stages.is_empty() || stages.iter().any(|wanted| wanted.as_str() == stage)
                    })
                    .map(|(model, version, _)| (model, version))
                    .collect();
                self.registry_load_versions(&keys).await
            }

            async fn search_model_versions(
                &self,
                project_id: &str,
                search: &$crate::RegistrySearch,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::ModelVersion>> {
                use sqlx::Row as _;
                let plan = $crate::tracking::query::model_version_search($dialect, project_id, search)?;
                let (keys, next_page_token) = self.keyset_search(&plan, |row| Ok((row.try_get::<i64, _>("kid")?, row.try_get::<i64, _>("kver")?))).await?;
                Ok(plinth_types::Page {
                    items: self.registry_load_versions(&keys).await?,
                    next_page_token,
                })
            }

            async fn set_model_version_tag(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
                tag: &plinth_types::ModelVersionTag,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_registry_tag(&tag.key, &tag.value)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                sqlx::query(
                    "INSERT INTO model_version_tags (registered_model_id, version, key, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (registered_model_id, version, key) DO UPDATE SET value = excluded.value",
                )
                .bind(id)
                .bind(version)
                .bind(&tag.key)
                .bind(&tag.value)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_model_version_tag(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
                key: &str,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_model_name(name)?;
                $crate::tracking::validate::validate_tag_key(key)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id = Self::registry_version_key(&mut *transaction, project_id, name, version).await?;
                sqlx::query(
                    "DELETE FROM model_version_tags WHERE registered_model_id = $1 AND version = $2 AND key = $3",
                )
                .bind(id)
                .bind(version)
                .bind(key)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn get_model_version_download_uri(
                &self,
                project_id: &str,
                name: &str,
                version: i64,
            ) -> $crate::StoreResult<String> {
                let mut connection = self.pool.acquire().await?;
                let id = Self::registry_version_key(&mut *connection, project_id, name, version).await?;
                let location: String = sqlx::query_scalar(
                    "SELECT storage_location FROM model_versions WHERE registered_model_id = $1 AND version = $2",
                )
                .bind(id)
                .bind(version)
                .fetch_one(&mut *connection)
                .await?;
                Ok(location)
            }
        }
    };
}

pub(crate) use impl_registry_queries;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_uris_resolve_to_logged_models_or_versions() {
        assert_eq!(
            parse_models_uri("models:/m-0123"),
            Some(("m-0123".to_string(), None))
        );
        assert_eq!(
            parse_models_uri("models:/fraud/3"),
            Some(("fraud".to_string(), Some(3)))
        );
        assert_eq!(parse_models_uri("models:/fraud/Production"), None);
        assert_eq!(parse_models_uri("s3://bucket/model"), None);
    }
}
