//! The SQL of [`TrackingStore`](crate::TrackingStore), written once for SQLite and
//! PostgreSQL, and the row types it decodes. Searches are compiled in
//! `tracking/query.rs`; MLflow's input rules live in `tracking/validate.rs`.

use std::collections::HashMap;

use plinth_types::{
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LifecycleStage, LoggedModel,
    LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric, ModelInput, ModelOutput,
    Param, Run, RunData, RunInfo, RunInputs, RunOutputs, RunStatus, RunTag,
};

use crate::tracking::filter::invalid;
use crate::tracking::query::loaded_metric_value;
use crate::{StoreError, StoreResult};

/// Rows per multi-row `INSERT` (6 values each: far below SQLite's 32766 bound parameters).
pub(crate) const INSERT_CHUNK: usize = 500;
/// Ids per `IN (…)` list.
pub(crate) const ID_CHUNK: usize = 500;

pub(crate) const RUN_NAME_TAG: &str = "mlflow.runName";

pub(crate) const EXPERIMENT_COLUMNS: &str =
    "id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, is_default";

pub(crate) const RUN_COLUMNS: &str =
    "id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage";

pub(crate) const LOGGED_MODEL_COLUMNS: &str =
    "id, experiment_id, name, artifact_location, creation_timestamp, last_updated_timestamp, \
     status, status_message, lifecycle_stage, model_type, source_run_id";

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} cannot be read: {detail}").into())
}

fn lifecycle(text: &str) -> StoreResult<LifecycleStage> {
    LifecycleStage::parse(text).ok_or_else(|| corrupt("lifecycle stage", text))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExperimentRow {
    id: i64,
    name: String,
    artifact_location: String,
    lifecycle_stage: String,
    creation_time: i64,
    last_update_time: i64,
    is_default: bool,
}

impl ExperimentRow {
    pub(crate) fn into_experiment(self, tags: Vec<ExperimentTag>) -> StoreResult<Experiment> {
        Ok(Experiment {
            experiment_id: self.id,
            lifecycle_stage: lifecycle(&self.lifecycle_stage)?,
            name: self.name,
            artifact_location: self.artifact_location,
            creation_time: self.creation_time,
            last_update_time: self.last_update_time,
            tags,
            is_default: self.is_default,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: String,
    experiment_id: i64,
    name: String,
    user_id: String,
    status: String,
    start_time: i64,
    end_time: Option<i64>,
    artifact_uri: String,
    lifecycle_stage: String,
}

impl TryFrom<RunRow> for RunInfo {
    type Error = StoreError;

    fn try_from(row: RunRow) -> StoreResult<Self> {
        Ok(RunInfo {
            status: RunStatus::parse(&row.status)
                .ok_or_else(|| corrupt("run status", &row.status))?,
            lifecycle_stage: lifecycle(&row.lifecycle_stage)?,
            run_id: row.id,
            run_name: row.name,
            experiment_id: row.experiment_id,
            user_id: row.user_id,
            start_time: row.start_time,
            end_time: row.end_time,
            artifact_uri: row.artifact_uri,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OwnedMetricRow {
    owner: String,
    key: String,
    value: f64,
    timestamp: i64,
    step: i64,
    is_nan: bool,
}

impl OwnedMetricRow {
    fn into_metric(self) -> (String, Metric) {
        (
            self.owner,
            Metric::new(
                self.key,
                loaded_metric_value(self.value, self.is_nan),
                self.timestamp,
                self.step,
            ),
        )
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct HistoryRow {
    pub(crate) step: i64,
    pub(crate) timestamp: i64,
    pub(crate) value: f64,
    pub(crate) is_nan: bool,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DatasetInputRow {
    run_id: String,
    input_id: String,
    name: String,
    digest: String,
    source_type: String,
    source: String,
    dataset_schema: Option<String>,
    dataset_profile: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct LoggedModelRow {
    id: String,
    experiment_id: i64,
    name: String,
    artifact_location: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    status: String,
    status_message: Option<String>,
    lifecycle_stage: String,
    model_type: Option<String>,
    source_run_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct LoggedModelMetricRow {
    model_id: String,
    key: String,
    value: f64,
    timestamp: i64,
    step: i64,
    is_nan: bool,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
}

/// Rows of the tables a run's children live in, keyed by owner, assembled into runs.
#[derive(Default)]
pub(crate) struct RunParts {
    pub(crate) metrics: Vec<OwnedMetricRow>,
    pub(crate) params: Vec<(String, String, String)>,
    pub(crate) tags: Vec<(String, String, String)>,
    pub(crate) inputs: Vec<DatasetInputRow>,
    pub(crate) input_tags: Vec<(String, String, String)>,
    pub(crate) model_inputs: Vec<(String, String)>,
    pub(crate) model_outputs: Vec<(String, String, i64)>,
}

/// Assembles runs from their rows, in the order of `ids` (unknown ids are skipped).
pub(crate) fn assemble_runs(
    ids: &[String],
    rows: Vec<RunRow>,
    parts: RunParts,
) -> StoreResult<Vec<Run>> {
    let mut runs: HashMap<String, Run> = HashMap::with_capacity(rows.len());
    for row in rows {
        let info = RunInfo::try_from(row)?;
        runs.insert(
            info.run_id.clone(),
            Run {
                info,
                data: RunData::default(),
                inputs: RunInputs::default(),
                outputs: RunOutputs::default(),
            },
        );
    }
    for row in parts.metrics {
        let (owner, metric) = row.into_metric();
        if let Some(run) = runs.get_mut(&owner) {
            run.data.metrics.push(metric);
        }
    }
    for (owner, key, value) in parts.params {
        if let Some(run) = runs.get_mut(&owner) {
            run.data.params.push(Param { key, value });
        }
    }
    for (owner, key, value) in parts.tags {
        if let Some(run) = runs.get_mut(&owner) {
            run.data.tags.push(RunTag { key, value });
        }
    }
    let mut input_tags: HashMap<String, Vec<InputTag>> = HashMap::new();
    for (input, key, value) in parts.input_tags {
        input_tags
            .entry(input)
            .or_default()
            .push(InputTag { key, value });
    }
    for row in parts.inputs {
        if let Some(run) = runs.get_mut(&row.run_id) {
            run.inputs.dataset_inputs.push(DatasetInput {
                tags: input_tags.remove(&row.input_id).unwrap_or_default(),
                dataset: Dataset {
                    name: row.name,
                    digest: row.digest,
                    source_type: row.source_type,
                    source: row.source,
                    schema: row.dataset_schema,
                    profile: row.dataset_profile,
                },
            });
        }
    }
    for (owner, model_id) in parts.model_inputs {
        if let Some(run) = runs.get_mut(&owner) {
            run.inputs.model_inputs.push(ModelInput { model_id });
        }
    }
    for (owner, model_id, step) in parts.model_outputs {
        if let Some(run) = runs.get_mut(&owner) {
            run.outputs
                .model_outputs
                .push(ModelOutput { model_id, step });
        }
    }
    Ok(ids.iter().filter_map(|id| runs.remove(id)).collect())
}

/// Assembles logged models from their rows, in the order of `ids`.
pub(crate) fn assemble_logged_models(
    ids: &[String],
    rows: Vec<LoggedModelRow>,
    params: Vec<(String, String, String)>,
    tags: Vec<(String, String, String)>,
    metrics: Vec<LoggedModelMetricRow>,
) -> StoreResult<Vec<LoggedModel>> {
    let mut models: HashMap<String, LoggedModel> = HashMap::with_capacity(rows.len());
    for row in rows {
        let model = LoggedModel {
            status: LoggedModelStatus::parse(&row.status)
                .ok_or_else(|| corrupt("logged model status", &row.status))?,
            lifecycle_stage: lifecycle(&row.lifecycle_stage)?,
            model_id: row.id,
            experiment_id: row.experiment_id,
            name: row.name,
            artifact_location: row.artifact_location,
            creation_timestamp: row.creation_timestamp,
            last_updated_timestamp: row.last_updated_timestamp,
            status_message: row.status_message,
            model_type: row.model_type,
            source_run_id: row.source_run_id,
            tags: Vec::new(),
            params: Vec::new(),
            metrics: Vec::new(),
            registrations: Vec::new(),
        };
        models.insert(model.model_id.clone(), model);
    }
    for (owner, key, value) in params {
        if let Some(model) = models.get_mut(&owner) {
            model.params.push(LoggedModelParameter { key, value });
        }
    }
    for (owner, key, value) in tags {
        if let Some(model) = models.get_mut(&owner) {
            model.tags.push(LoggedModelTag { key, value });
        }
    }
    for row in metrics {
        if let Some(model) = models.get_mut(&row.model_id) {
            model.metrics.push(Metric {
                key: row.key,
                value: loaded_metric_value(row.value, row.is_nan),
                timestamp: row.timestamp,
                step: row.step,
                dataset_name: row.dataset_name,
                dataset_digest: row.dataset_digest,
                model_id: Some(row.model_id.clone()),
            });
        }
    }
    Ok(ids.iter().filter_map(|id| models.remove(id)).collect())
}

/// Refuses writes to a run that is not active, with MLflow's message.
pub(crate) fn check_active_run(run_id: &str, stage: &str) -> StoreResult<()> {
    if stage != LifecycleStage::Active.as_str() {
        return Err(invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(())
}

/// Refuses writes to an experiment that is not active, with MLflow's message.
pub(crate) fn check_active_experiment(experiment_id: i64, stage: &str) -> StoreResult<()> {
    if stage != LifecycleStage::Active.as_str() {
        return Err(invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(())
}

/// Appends path segments to a URI's path (MLflow's `append_to_uri_path`, for the URIs the
/// store builds: no query strings).
pub(crate) fn append_to_uri(base: &str, segments: &[&str]) -> String {
    let mut uri = base.trim_end_matches('/').to_string();
    for segment in segments {
        uri.push('/');
        uri.push_str(segment.trim_matches('/'));
    }
    uri
}

/// The default artifact location of an experiment (the server proxies `mlflow-artifacts:`).
pub(crate) fn default_artifact_location(experiment_id: i64) -> String {
    format!("mlflow-artifacts:/{experiment_id}")
}

/// A new run id: 32 lower-case hex digits (uuid4), as MLflow's.
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new logged-model id: `m-` + 32 lower-case hex digits, as MLflow 3's.
pub(crate) fn new_model_id() -> String {
    format!("m-{}", uuid::Uuid::new_v4().simple())
}

/// A new row id for datasets and inputs.
pub(crate) fn new_row_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A random name like MLflow's (`brave-owl-482`), at most 20 characters.
pub(crate) fn generate_name() -> String {
    const ADJECTIVES: &[&str] = &[
        "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "gentle",
        "glad", "keen", "kind", "lucid", "merry", "noble", "proud", "quick", "quiet", "rapid",
        "sharp", "shy", "sleek", "smart", "snowy", "sunny", "swift", "tidy", "vivid", "warm",
        "wise", "witty",
    ];
    const NOUNS: &[&str] = &[
        "ant", "bat", "bee", "crab", "crow", "deer", "dove", "duck", "eel", "elk", "fox", "frog",
        "goat", "hare", "hawk", "jay", "koi", "lark", "lynx", "mole", "moth", "newt", "owl",
        "puma", "ram", "seal", "slug", "swan", "toad", "vole", "wasp", "wolf",
    ];
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let adjective = ADJECTIVES[usize::from(bytes[0]) % ADJECTIVES.len()];
    let noun = NOUNS[usize::from(bytes[1]) % NOUNS.len()];
    let number = u16::from_le_bytes([bytes[2], bytes[3]]) % 1000;
    format!("{adjective}-{noun}-{number}")
}

/// Keeps the last value of each repeated key, in first-seen key order.
pub(crate) fn last_value_per_key(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in pairs {
        match out.iter_mut().find(|(seen, _)| *seen == key) {
            Some(entry) => entry.1 = value,
            None => out.push((key, value)),
        }
    }
    out
}

/// A metric point as stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredPoint<'a> {
    pub(crate) key: &'a str,
    pub(crate) step: i64,
    pub(crate) timestamp: i64,
    pub(crate) value: f64,
    pub(crate) is_nan: bool,
}

/// The latest point of each key of a batch: greatest `(step, timestamp, value)` (the
/// stored value: NaN counts as 0), the first one logged winning ties, as MLflow.
pub(crate) fn latest_points<'a>(points: &[StoredPoint<'a>]) -> Vec<StoredPoint<'a>> {
    let mut latest: Vec<StoredPoint<'a>> = Vec::new();
    for point in points {
        match latest.iter_mut().find(|seen| seen.key == point.key) {
            Some(seen) => {
                let newer = (point.step, point.timestamp)
                    .cmp(&(seen.step, seen.timestamp))
                    .then_with(|| point.value.total_cmp(&seen.value))
                    .is_gt();
                if newer {
                    *seen = point.clone();
                }
            }
            None => latest.push(point.clone()),
        }
    }
    latest
}

/// Where MLflow's `NTILE(buckets)` over `total` ordered rows starts each bucket: the first
/// `total % buckets` buckets hold one row more than the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BucketStarts {
    /// Rows in each of the first, larger buckets.
    pub(crate) large_size: i64,
    /// Rows in each of the remaining buckets (0 when there are fewer rows than buckets).
    pub(crate) small_size: i64,
    /// The position (0-based) where the smaller buckets begin.
    pub(crate) first_small_bucket: i64,
}

impl BucketStarts {
    pub(crate) fn new(total: i64, buckets: i64) -> Self {
        let buckets = buckets.max(1);
        let small_size = total / buckets;
        let larger = total % buckets;
        BucketStarts {
            large_size: small_size + 1,
            small_size,
            first_small_bucket: larger * (small_size + 1),
        }
    }

    /// Whether the row at `position` starts a bucket.
    #[cfg(test)]
    fn starts(&self, position: i64) -> bool {
        if position < self.first_small_bucket {
            position % self.large_size == 0
        } else {
            self.small_size > 0 && (position - self.first_small_bucket) % self.small_size == 0
        }
    }
}

/// Samples `max_results` points evenly over an ordered history the way MLflow's
/// `get-history-bulk-interval` does: `NTILE(max_results)` buckets keep their first row, and
/// the very last point replaces the final sample (or is appended) when missing.
pub(crate) fn include_last_point(
    mut rows: Vec<HistoryRow>,
    last: Option<HistoryRow>,
    max_results: usize,
) -> Vec<HistoryRow> {
    if let Some(last) = last {
        let key = |row: &HistoryRow| (row.step, row.timestamp, row.value.to_bits(), row.is_nan);
        let missing = rows.last().is_none_or(|tail| key(tail) != key(&last));
        if missing {
            if rows.len() >= max_results && !rows.is_empty() {
                let end = rows.len() - 1;
                rows[end] = last;
            } else {
                rows.push(last);
            }
        }
    }
    rows
}

/// The steps per bucket that cut `[low, high]` into at most `buckets` equal ranges, or
/// `None` when `high - low` does not fit in an `i64` (the SQL computes `step - low`).
pub(crate) fn bucket_width(low: i64, high: i64, buckets: i64) -> Option<i64> {
    let span = i128::from(high) - i128::from(low);
    if span < 0 || span > i128::from(i64::MAX) {
        return None;
    }
    let buckets = i128::from(buckets.max(1));
    i64::try_from((span + buckets) / buckets).ok()
}

/// One bucket of a chart as the SQL returns it (all `NULL` but `points` when empty).
#[derive(sqlx::FromRow)]
pub(crate) struct ChartBucketRow {
    pub(crate) first_step: Option<i64>,
    pub(crate) last_step: Option<i64>,
    pub(crate) min_timestamp: Option<i64>,
    pub(crate) max_timestamp: Option<i64>,
    pub(crate) min_value: Option<f64>,
    pub(crate) max_value: Option<f64>,
    pub(crate) points: i64,
    pub(crate) last_value: Option<f64>,
    pub(crate) last_is_nan: Option<bool>,
    pub(crate) last_timestamp: Option<i64>,
}

impl ChartBucketRow {
    /// Returns the bucket, `None` when it holds no point.
    pub(crate) fn into_bucket(self) -> Option<crate::MetricBucket> {
        Some(crate::MetricBucket {
            first_step: self.first_step?,
            last_step: self.last_step?,
            min_timestamp: self.min_timestamp?,
            max_timestamp: self.max_timestamp?,
            min: self.min_value,
            max: self.max_value,
            last: loaded_metric_value(self.last_value?, self.last_is_nan?),
            last_timestamp: self.last_timestamp?,
            points: self.points,
        })
        .filter(|bucket| bucket.points > 0)
    }
}

/// The `VALUES` rows `(run_id, key, value, experiment_id)` of a multi-row insert of a run's
/// params or tags.
pub(crate) fn key_value_rows(
    sql: &mut crate::tracking::query::Sql,
    run_id: &str,
    experiment_id: i64,
    pairs: &[(String, String)],
) -> String {
    let rows: Vec<String> = pairs
        .iter()
        .map(|(key, value)| {
            format!(
                "({}, {}, {}, {})",
                sql.bind(run_id),
                sql.bind(key),
                sql.bind(value),
                sql.bind(experiment_id)
            )
        })
        .collect();
    rows.join(", ")
}

/// Implements [`TrackingStore`](crate::TrackingStore) for `$store` (a struct with a sqlx
/// `pool` field of database `$db`), `$dialect` naming the SQL dialect.
macro_rules! impl_tracking_queries {
    ($store:ty, $db:ty, $dialect:expr) => {
        impl $store {
            /// The rows of a search plan's statements, each run while fewer than
            /// `limit + 1` rows are found.
            async fn keyset_rows(
                connection: &mut <$db as sqlx::Database>::Connection,
                plan: &$crate::tracking::query::SearchPlan,
            ) -> $crate::StoreResult<Vec<<$db as sqlx::Database>::Row>> {
                let mut rows = Vec::new();
                for sql in std::iter::once(&plan.sql).chain(&plan.then) {
                    if rows.len() > plan.limit {
                        break;
                    }
                    let arguments = $crate::tracking::query::arguments::<$db>(&sql.binds)?;
                    rows.extend(sqlx::query_with(&sql.text, arguments).fetch_all(&mut *connection).await?);
                }
                Ok(rows)
            }

            /// Runs a keyset search plan and returns the page's keys, read from each row
            /// with `key`, and the next page token. Every search of the tracking and
            /// registry stores goes through here.
            async fn keyset_search<K>(
                &self,
                plan: &$crate::tracking::query::SearchPlan,
                key: impl Fn(&<$db as sqlx::Database>::Row) -> Result<K, sqlx::Error>,
            ) -> $crate::StoreResult<(Vec<K>, Option<String>)> {
                let rows = if plan.settings.is_empty() {
                    Self::keyset_rows(&mut *self.pool.acquire().await?, plan).await?
                } else {
                    let mut transaction = self.pool.begin().await?;
                    for setting in plan.settings {
                        sqlx::query(setting).execute(&mut *transaction).await?;
                    }
                    let rows = Self::keyset_rows(&mut transaction, plan).await?;
                    transaction.commit().await?;
                    rows
                };
                plan.page(&rows, key)
            }

            /// Reads a metric's history points (`step, timestamp, value, is_nan`, in
            /// that order) through sqlx.
            async fn tracking_history_rows_sqlx(
                connection: &mut <$db as sqlx::Database>::Connection,
                sql: &$crate::tracking::query::Sql,
            ) -> $crate::StoreResult<Vec<$crate::tracking_sql::HistoryRow>> {
                let arguments = $crate::tracking::query::arguments::<$db>(&sql.binds)?;
                Ok(sqlx::query_as_with(&sql.text, arguments)
                    .fetch_all(connection)
                    .await?)
            }

            /// Loads experiments (with tags) by id, in that order.
            async fn tracking_load_experiments(
                &self,
                ids: &[i64],
            ) -> $crate::StoreResult<Vec<plinth_types::Experiment>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let list = sql.list(chunk);
                    let rows: Vec<$crate::tracking_sql::ExperimentRow> = sqlx::query_as_with(
                        &format!("SELECT {} FROM experiments WHERE id IN {list}", $crate::tracking_sql::EXPERIMENT_COLUMNS),
                        arguments::<$db>(&sql.binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let tags: Vec<(i64, String, String)> = sqlx::query_as_with(
                        &format!("SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN {list} ORDER BY experiment_id, key"),
                        arguments::<$db>(&sql.binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let mut by_id: std::collections::HashMap<i64, $crate::tracking_sql::ExperimentRow> =
                        rows.into_iter().map(|row| (row.id_value(), row)).collect();
                    let mut tags_by_id: std::collections::HashMap<i64, Vec<plinth_types::ExperimentTag>> =
                        std::collections::HashMap::new();
                    for (id, key, value) in tags {
                        tags_by_id.entry(id).or_default().push(plinth_types::ExperimentTag { key, value });
                    }
                    for id in chunk {
                        if let Some(row) = by_id.remove(id) {
                            out.push(row.into_experiment(tags_by_id.remove(id).unwrap_or_default())?);
                        }
                    }
                }
                Ok(out)
            }

            /// Loads one experiment of the project.
            async fn tracking_experiment(
                &self,
                project_id: &str,
                experiment_id: i64,
            ) -> $crate::StoreResult<plinth_types::Experiment> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM experiments WHERE id = $1 AND project_id = $2",
                )
                .bind(experiment_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
                let not_found = || $crate::StoreError::NotFound {
                    entity: "experiment",
                    id: experiment_id.to_string(),
                };
                found.ok_or_else(not_found)?;
                self.tracking_load_experiments(&[experiment_id])
                    .await?
                    .pop()
                    .ok_or_else(not_found)
            }

            /// Loads runs with everything they logged, in the order of `ids`.
            async fn tracking_load_runs(&self, ids: &[String]) -> $crate::StoreResult<Vec<plinth_types::Run>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let list = sql.list(chunk);
                    let binds = &sql.binds;
                    let rows: Vec<$crate::tracking_sql::RunRow> = sqlx::query_as_with(
                        &format!("SELECT {} FROM runs WHERE id IN {list}", $crate::tracking_sql::RUN_COLUMNS),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let mut parts = $crate::tracking_sql::RunParts::default();
                    parts.metrics = sqlx::query_as_with(
                        &format!("SELECT run_id AS owner, key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_id IN {list} ORDER BY run_id, key"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.params = sqlx::query_as_with(
                        &format!("SELECT run_id, key, value FROM params WHERE run_id IN {list} ORDER BY run_id, key"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.tags = sqlx::query_as_with(
                        &format!("SELECT run_id, key, value FROM run_tags WHERE run_id IN {list} ORDER BY run_id, key"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.inputs = sqlx::query_as_with(
                        &format!(
                            "SELECT i.run_id, i.id AS input_id, d.name, d.digest, d.source_type, d.source, \
                             d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d ON d.id = i.dataset_id \
                             WHERE i.run_id IN {list} ORDER BY i.run_id, d.name, d.digest"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.input_tags = sqlx::query_as_with(
                        &format!(
                            "SELECT t.input_id, t.key, t.value FROM input_tags t JOIN inputs i ON i.id = t.input_id \
                             WHERE i.run_id IN {list} ORDER BY t.input_id, t.key"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.model_inputs = sqlx::query_as_with(
                        &format!("SELECT run_id, model_id FROM run_model_inputs WHERE run_id IN {list} ORDER BY run_id, model_id"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    parts.model_outputs = sqlx::query_as_with(
                        &format!("SELECT run_id, model_id, step FROM run_model_outputs WHERE run_id IN {list} ORDER BY run_id, step, model_id"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    out.extend($crate::tracking_sql::assemble_runs(chunk, rows, parts)?);
                }
                Ok(out)
            }

            /// Loads logged models with tags, params and metrics, in the order of `ids`.
            async fn tracking_load_logged_models(
                &self,
                ids: &[String],
            ) -> $crate::StoreResult<Vec<plinth_types::LoggedModel>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let list = sql.list(chunk);
                    let binds = &sql.binds;
                    let rows: Vec<$crate::tracking_sql::LoggedModelRow> = sqlx::query_as_with(
                        &format!("SELECT {} FROM logged_models WHERE id IN {list}", $crate::tracking_sql::LOGGED_MODEL_COLUMNS),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let params: Vec<(String, String, String)> = sqlx::query_as_with(
                        &format!("SELECT model_id, key, value FROM logged_model_params WHERE model_id IN {list} ORDER BY model_id, key"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let tags: Vec<(String, String, String)> = sqlx::query_as_with(
                        &format!("SELECT model_id, key, value FROM logged_model_tags WHERE model_id IN {list} ORDER BY model_id, key"),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let metrics: Vec<$crate::tracking_sql::LoggedModelMetricRow> = sqlx::query_as_with(
                        &format!(
                            "SELECT model_id, key, value, timestamp, step, is_nan, dataset_name, dataset_digest \
                             FROM logged_model_metrics WHERE model_id IN {list} ORDER BY model_id, key, step, timestamp, run_id"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let registrations: Vec<(String, String, i64)> = sqlx::query_as_with(
                        &format!(
                            "SELECT mv.model_id, m.name, mv.version FROM model_versions mv \
                             JOIN registered_models m ON m.id = mv.registered_model_id \
                             WHERE mv.model_id IN {list} AND mv.current_stage != 'Deleted_Internal' \
                             ORDER BY mv.model_id, m.name, mv.version"
                        ),
                        arguments::<$db>(binds)?,
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    let mut models = $crate::tracking_sql::assemble_logged_models(chunk, rows, params, tags, metrics)?;
                    for model in &mut models {
                        model.registrations = registrations
                            .iter()
                            .filter(|(owner, _, _)| *owner == model.model_id)
                            .map(|(_, name, version)| plinth_types::LoggedModelRegistration {
                                name: name.clone(),
                                version: *version,
                            })
                            .collect();
                    }
                    out.extend(models);
                }
                Ok(out)
            }

            /// Returns the artifact location of an active experiment of the project;
            /// `NotFound` or MLflow's refusal of a deleted one otherwise.
            async fn tracking_active_experiment_location(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                experiment_id: i64,
            ) -> $crate::StoreResult<String> {
                let experiment: Option<(String, String)> = sqlx::query_as(
                    "SELECT lifecycle_stage, artifact_location FROM experiments WHERE id = $1 AND project_id = $2",
                )
                .bind(experiment_id)
                .bind(project_id)
                .fetch_optional(&mut *connection)
                .await?;
                let (stage, location) = experiment.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "experiment",
                    id: experiment_id.to_string(),
                })?;
                $crate::tracking_sql::check_active_experiment(experiment_id, &stage)?;
                Ok(location)
            }

            /// Returns `(experiment_id, lifecycle_stage)` of a run of the project.
            async fn tracking_run_state(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                run_id: &str,
            ) -> $crate::StoreResult<(i64, String)> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT experiment_id, lifecycle_stage FROM runs WHERE id = $1 AND project_id = $2",
                )
                .bind(run_id)
                .bind(project_id)
                .fetch_optional(&mut *connection)
                .await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "run",
                    id: run_id.to_string(),
                })
            }

            /// Refuses model ids that are not logged models of the project.
            async fn tracking_check_models(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                model_ids: &[String],
            ) -> $crate::StoreResult<()> {
                use $crate::tracking::query::{arguments, Sql};
                let mut wanted: Vec<String> = model_ids.to_vec();
                wanted.sort();
                wanted.dedup();
                for chunk in wanted.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let project = sql.bind(project_id);
                    let list = sql.list(chunk);
                    let found: Vec<String> = sqlx::query_scalar_with(
                        &format!("SELECT id FROM logged_models WHERE project_id = {project} AND id IN {list}"),
                        arguments::<$db>(&sql.binds)?,
                    )
                    .fetch_all(&mut *connection)
                    .await?;
                    if let Some(missing) = chunk.iter().find(|id| !found.contains(id)) {
                        return Err($crate::StoreError::NotFound {
                            entity: "logged model",
                            id: missing.clone(),
                        });
                    }
                }
                Ok(())
            }

            /// Sets run tags (already validated) in `connection`'s transaction; with
            /// `rename`, a `mlflow.runName` tag renames the run (a new run is inserted
            /// with its name already).
            async fn tracking_write_run_tags(
                connection: &mut <$db as sqlx::Database>::Connection,
                experiment_id: i64,
                run_id: &str,
                tags: &[(String, String)],
                rename: bool,
            ) -> $crate::StoreResult<()> {
                use $crate::tracking::query::{arguments, Sql};
                for chunk in tags.chunks($crate::tracking_sql::INSERT_CHUNK) {
                    let mut sql = Sql::new("INSERT INTO run_tags (run_id, key, value, experiment_id) VALUES ");
                    let rows = $crate::tracking_sql::key_value_rows(&mut sql, run_id, experiment_id, chunk);
                    sql.push(&rows);
                    sql.push(" ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value");
                    let sql = ($dialect).finish(sql);
                    sqlx::query_with(&sql.text, arguments::<$db>(&sql.binds)?)
                        .execute(&mut *connection)
                        .await?;
                }
                let name_tag = tags.iter().find(|(key, _)| key == $crate::tracking_sql::RUN_NAME_TAG);
                if let Some((_, name)) = name_tag.filter(|_| rename) {
                    sqlx::query("UPDATE runs SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(run_id)
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            }

            /// Hands metrics, params and tags (validated) for one run to the group-commit
            /// writer and waits for their commit: log-metric, log-param, set-tag and
            /// log-batch all go through here.
            async fn tracking_submit_log(
                &self,
                project_id: &str,
                run_id: &str,
                metrics: Vec<plinth_types::Metric>,
                params: Vec<(String, String)>,
                tags: Vec<(String, String)>,
                single_param: bool,
            ) -> $crate::StoreResult<()> {
                self.writes
                    .submit($crate::group_commit::TrackingWrite::Log {
                        project_id: project_id.to_string(),
                        run_id: run_id.to_string(),
                        metrics,
                        params,
                        tags,
                        single_param,
                    })
                    .await
                    .map(|_| ())
            }

            /// Starts the store's group-commit writer (see `group_commit.rs`) over `pool`.
            fn tracking_spawn_writer(pool: sqlx::Pool<$db>) -> $crate::group_commit::WriteQueue {
                let (queue, receiver) = $crate::group_commit::WriteQueue::new();
                $crate::group_commit::spawn_writer(receiver, move |batch| {
                    let pool = pool.clone();
                    async move { Self::tracking_commit_batch(&pool, batch).await }
                });
                queue
            }

            /// Applies a batch of writes in one transaction, each in its own savepoint when
            /// there are several, commits, and answers every caller.
            async fn tracking_commit_batch(
                pool: &sqlx::Pool<$db>,
                batch: Vec<$crate::group_commit::PendingWrite>,
            ) {
                let (writes, replies): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|pending| (pending.write, pending.reply))
                    .unzip();
                let mut transaction = match pool.begin_with(($dialect).begin_write()).await {
                    Ok(transaction) => transaction,
                    Err(error) => {
                        return $crate::group_commit::fail_all(replies, &error.into());
                    }
                };
                let mut results = Vec::with_capacity(writes.len());
                if let [write] = writes.as_slice() {
                    // Alone in its transaction: no savepoint, a failure rolls it all back.
                    let result = Self::tracking_apply_write(&mut *transaction, write).await;
                    if result.is_err() {
                        drop(transaction);
                        return $crate::group_commit::answer(replies, vec![result], Ok(()));
                    }
                    results.push(result);
                } else {
                    for write in &writes {
                        let step: $crate::StoreResult<$crate::StoreResult<$crate::group_commit::WriteOutcome>> = async {
                            sqlx::query("SAVEPOINT plinth_call").execute(&mut *transaction).await?;
                            let result = Self::tracking_apply_write(&mut *transaction, write).await;
                            if result.is_err() {
                                sqlx::query("ROLLBACK TO SAVEPOINT plinth_call")
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                            sqlx::query("RELEASE SAVEPOINT plinth_call").execute(&mut *transaction).await?;
                            Ok(result)
                        }
                        .await;
                        match step {
                            Ok(result) => results.push(result),
                            // The transaction itself is broken: nothing of it commits.
                            Err(error) => return $crate::group_commit::fail_all(replies, &error),
                        }
                    }
                }
                let committed = transaction.commit().await.map_err($crate::StoreError::from);
                $crate::group_commit::answer(replies, results, committed);
            }

            /// Applies one write of a batch in `connection`'s transaction.
            async fn tracking_apply_write(
                connection: &mut <$db as sqlx::Database>::Connection,
                write: &$crate::group_commit::TrackingWrite,
            ) -> $crate::StoreResult<$crate::group_commit::WriteOutcome> {
                use $crate::group_commit::{TrackingWrite, WriteOutcome};
                match write {
                    TrackingWrite::Log { project_id, run_id, metrics, params, tags, single_param } => {
                        Self::tracking_log(connection, project_id, run_id, metrics, params, tags, *single_param).await?;
                        Ok(WriteOutcome::Done)
                    }
                    TrackingWrite::CreateRun { project_id, run_id, experiment_id, name, user_id, start_time, tags } => {
                        let location =
                            Self::tracking_active_experiment_location(&mut *connection, project_id, *experiment_id).await?;
                        let artifact_uri = $crate::tracking_sql::append_to_uri(&location, &[run_id, "artifacts"]);
                        sqlx::query(
                            "INSERT INTO runs (id, experiment_id, project_id, name, user_id, status, start_time, end_time, \
                             lifecycle_stage, deleted_time, artifact_uri) \
                             VALUES ($1, $2, $3, $4, $5, 'RUNNING', $6, NULL, 'active', NULL, $7)",
                        )
                        .bind(run_id)
                        .bind(experiment_id)
                        .bind(project_id)
                        .bind(name)
                        .bind(user_id)
                        .bind(start_time)
                        .bind(&artifact_uri)
                        .execute(&mut *connection)
                        .await?;
                        Self::tracking_write_run_tags(connection, *experiment_id, run_id, tags, false).await?;
                        Ok(WriteOutcome::RunCreated { artifact_uri })
                    }
                    TrackingWrite::UpdateRun { project_id, run_id, status, end_time, name } => {
                        let (experiment_id, stage) = Self::tracking_run_state(&mut *connection, project_id, run_id).await?;
                        $crate::tracking_sql::check_active_run(run_id, &stage)?;
                        sqlx::query(
                            "UPDATE runs SET status = COALESCE($1, status), end_time = COALESCE($2, end_time) WHERE id = $3",
                        )
                        .bind(status.map(|status| status.as_str()))
                        .bind(end_time)
                        .bind(run_id)
                        .execute(&mut *connection)
                        .await?;
                        if let Some(name) = name {
                            Self::tracking_write_run_tags(
                                connection,
                                experiment_id,
                                run_id,
                                &[($crate::tracking_sql::RUN_NAME_TAG.to_string(), name.clone())],
                                true,
                            )
                            .await?;
                        }
                        Ok(WriteOutcome::Done)
                    }
                }
            }

            /// Logs metrics, params and tags (validated) to an active run, in
            /// `connection`'s transaction.
            async fn tracking_log(
                connection: &mut <$db as sqlx::Database>::Connection,
                project_id: &str,
                run_id: &str,
                metrics: &[plinth_types::Metric],
                params: &[(String, String)],
                tags: &[(String, String)],
                single_param: bool,
            ) -> $crate::StoreResult<()> {
                use $crate::tracking::query::{arguments, stored_metric_value, Sql};
                use $crate::tracking_sql::StoredPoint;
                let transaction = connection;
                let (experiment_id, stage) =
                    Self::tracking_run_state(&mut *transaction, project_id, run_id).await?;
                $crate::tracking_sql::check_active_run(run_id, &stage)?;

                if !params.is_empty() {
                    let mut sql = Sql::new("INSERT INTO params (run_id, key, value, experiment_id) VALUES ");
                    let rows = $crate::tracking_sql::key_value_rows(&mut sql, run_id, experiment_id, params);
                    sql.push(&rows);
                    sql.push(" ON CONFLICT (run_id, key) DO NOTHING");
                    let sql = ($dialect).finish(sql);
                    sqlx::query_with(&sql.text, arguments::<$db>(&sql.binds)?)
                        .execute(&mut *transaction)
                        .await?;
                    let mut check = Sql::default();
                    let run = check.bind(run_id);
                    let keys: Vec<String> = params.iter().map(|(key, _)| key.clone()).collect();
                    let list = check.list(&keys);
                    check.text = format!("SELECT key, value FROM params WHERE run_id = {run} AND key IN {list}");
                    let check = ($dialect).finish(check);
                    let stored: Vec<(String, String)> = sqlx::query_as_with(&check.text, arguments::<$db>(&check.binds)?)
                        .fetch_all(&mut *transaction)
                        .await?;
                    let mut changed = Vec::new();
                    for (key, value) in params {
                        if let Some((_, old)) = stored.iter().find(|(stored_key, _)| stored_key == key) {
                            if old != value {
                                changed.push((key.clone(), old.clone(), value.clone()));
                            }
                        }
                    }
                    if let Some((key, old, new)) = changed.first() {
                        use $crate::tracking::filter::python_repr;
                        return Err($crate::tracking::filter::invalid(if single_param {
                            format!(
                                "Changing param values is not allowed. Param with key='{key}' was already \
                                 logged with value='{old}' for run ID='{run_id}'. Attempted logging new value '{new}'."
                            )
                        } else {
                            let listed: Vec<String> = changed
                                .iter()
                                .map(|(key, old, new)| {
                                    format!(
                                        "{{'key': {}, 'old_value': {}, 'new_value': {}}}",
                                        python_repr(key),
                                        python_repr(old),
                                        python_repr(new)
                                    )
                                })
                                .collect();
                            format!(
                                "Changing param values is not allowed. Params were already logged='[{}]' \
                                 for run ID='{run_id}'.",
                                listed.join(", ")
                            )
                        }));
                    }
                }

                if !metrics.is_empty() {
                    let points: Vec<StoredPoint<'_>> = metrics
                        .iter()
                        .map(|metric| {
                            let (value, is_nan) = stored_metric_value(metric.value);
                            StoredPoint {
                                key: &metric.key,
                                step: metric.step,
                                timestamp: metric.timestamp,
                                value,
                                is_nan,
                            }
                        })
                        .collect();
                    for chunk in points.chunks($crate::tracking_sql::INSERT_CHUNK) {
                        let mut sql = Sql::new("INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) VALUES ");
                        let rows: Vec<String> = chunk
                            .iter()
                            .map(|point| {
                                format!(
                                    "({}, {}, {}, {}, {}, {})",
                                    sql.bind(run_id),
                                    sql.bind(point.key),
                                    sql.bind(point.step),
                                    sql.bind(point.timestamp),
                                    sql.bind(point.value),
                                    sql.bind(point.is_nan)
                                )
                            })
                            .collect();
                        sql.push(&rows.join(", "));
                        sql.push(" ON CONFLICT (run_id, key, step, timestamp, value, is_nan) DO NOTHING");
                        let sql = ($dialect).finish(sql);
                        sqlx::query_with(&sql.text, arguments::<$db>(&sql.binds)?)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let latest = $crate::tracking_sql::latest_points(&points);
                    for chunk in latest.chunks($crate::tracking_sql::INSERT_CHUNK) {
                        let mut sql = Sql::new(
                            "INSERT INTO latest_metrics (run_id, key, value, timestamp, step, is_nan, experiment_id) VALUES ",
                        );
                        let rows: Vec<String> = chunk
                            .iter()
                            .map(|point| {
                                format!(
                                    "({}, {}, {}, {}, {}, {}, {})",
                                    sql.bind(run_id),
                                    sql.bind(point.key),
                                    sql.bind(point.value),
                                    sql.bind(point.timestamp),
                                    sql.bind(point.step),
                                    sql.bind(point.is_nan),
                                    sql.bind(experiment_id)
                                )
                            })
                            .collect();
                        sql.push(&rows.join(", "));
                        sql.push(
                            " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, \
                             timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan \
                             WHERE (excluded.step, excluded.timestamp, excluded.value) > \
                             (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                        );
                        let sql = ($dialect).finish(sql);
                        sqlx::query_with(&sql.text, arguments::<$db>(&sql.binds)?)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let model_metrics: Vec<&plinth_types::Metric> =
                        metrics.iter().filter(|metric| metric.model_id.is_some()).collect();
                    if !model_metrics.is_empty() {
                        let ids: Vec<String> = model_metrics.iter().filter_map(|metric| metric.model_id.clone()).collect();
                        Self::tracking_check_models(&mut *transaction, project_id, &ids).await?;
                        for chunk in model_metrics.chunks($crate::tracking_sql::INSERT_CHUNK) {
                            let mut sql = Sql::new(
                                "INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, is_nan, \
                                 dataset_name, dataset_digest) VALUES ",
                            );
                            let rows: Vec<String> = chunk
                                .iter()
                                .map(|metric| {
                                    let (value, is_nan) = stored_metric_value(metric.value);
                                    format!(
                                        "({}, {}, {}, {}, {}, {}, {}, {}, {})",
                                        sql.bind(metric.model_id.clone()),
                                        sql.bind(&metric.key),
                                        sql.bind(metric.timestamp),
                                        sql.bind(metric.step),
                                        sql.bind(run_id),
                                        sql.bind(value),
                                        sql.bind(is_nan),
                                        sql.bind(metric.dataset_name.clone()),
                                        sql.bind(metric.dataset_digest.clone())
                                    )
                                })
                                .collect();
                            sql.push(&rows.join(", "));
                            sql.push(" ON CONFLICT (model_id, key, timestamp, step, run_id) DO NOTHING");
                            let sql = ($dialect).finish(sql);
                            sqlx::query_with(&sql.text, arguments::<$db>(&sql.binds)?)
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                }

                if !tags.is_empty() {
                    Self::tracking_write_run_tags(&mut *transaction, experiment_id, run_id, tags, true).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::TrackingStore for $store {
            async fn create_experiment(
                &self,
                project_id: &str,
                experiment: &$crate::NewExperiment,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::Experiment> {
                use $crate::tracking::validate;
                validate::validate_experiment_name(&experiment.name)?;
                if let Some(location) = &experiment.artifact_location {
                    if location.starts_with("runs:") {
                        return Err($crate::tracking::filter::invalid(format!(
                            "Artifact location cannot be a runs:/ URI. Given: '{location}'"
                        )));
                    }
                    validate::no_nul(location, "artifact_location")?;
                }
                for tag in &experiment.tags {
                    validate::validate_experiment_tag(&tag.key, &tag.value)?;
                }
                let tags = $crate::tracking_sql::last_value_per_key(
                    experiment.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())),
                );
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO experiments (project_id, name, artifact_location, lifecycle_stage, is_default, \
                     creation_time, last_update_time) VALUES ($1, $2, $3, 'active', FALSE, $4, $4) RETURNING id",
                )
                .bind(project_id)
                .bind(&experiment.name)
                .bind(experiment.artifact_location.clone().unwrap_or_default())
                .bind(now_ms)
                .fetch_one(&mut *transaction)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "experiment", &experiment.name)]))?;
                if experiment.artifact_location.is_none() {
                    sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE id = $2")
                        .bind($crate::tracking_sql::default_artifact_location(id))
                        .bind(id)
                        .execute(&mut *transaction)
                        .await?;
                }
                for (key, value) in &tags {
                    sqlx::query("INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(key)
                        .bind(value)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                self.tracking_experiment(project_id, id).await
            }

            async fn default_experiment_id(&self, project_id: &str, now_ms: i64) -> $crate::StoreResult<i64> {
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM experiments WHERE project_id = $1 AND is_default = TRUE")
                        .bind(project_id)
                        .fetch_optional(&self.pool)
                        .await?;
                match existing {
                    Some(id) => Ok(id),
                    None => Ok(self.ensure_default_experiment(project_id, now_ms).await?.experiment_id),
                }
            }

            async fn ensure_default_experiment(
                &self,
                project_id: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::Experiment> {
                const FIND: &str = "SELECT id FROM experiments WHERE project_id = $1 AND is_default = TRUE";
                let existing: Option<i64> = sqlx::query_scalar(FIND)
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(id) = existing {
                    return self.tracking_experiment(project_id, id).await;
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO experiments (project_id, name, artifact_location, lifecycle_stage, is_default, \
                     creation_time, last_update_time) VALUES ($1, 'Default', '', 'active', TRUE, $2, $2) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(project_id)
                .bind(now_ms)
                .fetch_optional(&mut *transaction)
                .await?;
                let id = match inserted {
                    Some(id) => {
                        sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE id = $2")
                            .bind($crate::tracking_sql::default_artifact_location(id))
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?;
                        id
                    }
                    None => {
                        let concurrent: Option<i64> = sqlx::query_scalar(FIND)
                            .bind(project_id)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        match concurrent {
                            Some(id) => id,
                            // A user experiment is already called `Default`: it becomes the default.
                            None => sqlx::query_scalar(
                                "UPDATE experiments SET is_default = TRUE WHERE project_id = $1 AND name = 'Default' RETURNING id",
                            )
                            .bind(project_id)
                            .fetch_one(&mut *transaction)
                            .await?,
                        }
                    }
                };
                transaction.commit().await?;
                self.tracking_experiment(project_id, id).await
            }

            async fn get_experiment(
                &self,
                project_id: &str,
                experiment_id: i64,
            ) -> $crate::StoreResult<plinth_types::Experiment> {
                self.tracking_experiment(project_id, experiment_id).await
            }

            async fn get_experiment_by_name(
                &self,
                project_id: &str,
                name: &str,
            ) -> $crate::StoreResult<plinth_types::Experiment> {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM experiments WHERE project_id = $1 AND name = $2",
                )
                .bind(project_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                let id = id.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "experiment name",
                    id: name.to_string(),
                })?;
                self.tracking_experiment(project_id, id).await
            }

            async fn search_experiments(
                &self,
                project_id: &str,
                search: &$crate::ExperimentSearch,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::Experiment>> {
                use sqlx::Row as _;
                let plan = $crate::tracking::query::experiment_search($dialect, project_id, search)?;
                let (ids, next_page_token) = self.keyset_search(&plan, |row| row.try_get::<i64, _>("kid")).await?;
                Ok(plinth_types::Page {
                    items: self.tracking_load_experiments(&ids).await?,
                    next_page_token,
                })
            }

            async fn rename_experiment(
                &self,
                project_id: &str,
                experiment_id: i64,
                new_name: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_experiment_name(new_name)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let stage: Option<String> = sqlx::query_scalar(
                    "SELECT lifecycle_stage FROM experiments WHERE id = $1 AND project_id = $2",
                )
                .bind(experiment_id)
                .bind(project_id)
                .fetch_optional(&mut *transaction)
                .await?;
                let stage = stage.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "experiment",
                    id: experiment_id.to_string(),
                })?;
                if stage != "active" {
                    return Err($crate::StoreError::Conflict(
                        "Cannot rename a non-active experiment.".to_string(),
                    ));
                }
                sqlx::query("UPDATE experiments SET name = $1, last_update_time = $2 WHERE id = $3")
                    .bind(new_name)
                    .bind(now_ms)
                    .bind(experiment_id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "experiment", new_name)]))?;
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_experiment(
                &self,
                project_id: &str,
                experiment_id: i64,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let changed = sqlx::query(
                    "UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = $1 \
                     WHERE id = $2 AND project_id = $3 AND lifecycle_stage = 'active'",
                )
                .bind(now_ms)
                .bind(experiment_id)
                .bind(project_id)
                .execute(&mut *transaction)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "experiment", experiment_id.to_string())?;
                sqlx::query("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 WHERE experiment_id = $2")
                    .bind(now_ms)
                    .bind(experiment_id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn restore_experiment(
                &self,
                project_id: &str,
                experiment_id: i64,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let changed = sqlx::query(
                    "UPDATE experiments SET lifecycle_stage = 'active', last_update_time = $1 \
                     WHERE id = $2 AND project_id = $3 AND lifecycle_stage = 'deleted'",
                )
                .bind(now_ms)
                .bind(experiment_id)
                .bind(project_id)
                .execute(&mut *transaction)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "experiment", experiment_id.to_string())?;
                sqlx::query("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = $1")
                    .bind(experiment_id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn set_experiment_tag(
                &self,
                project_id: &str,
                experiment_id: i64,
                tag: &plinth_types::ExperimentTag,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_experiment_tag(&tag.key, &tag.value)?;
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let stage: Option<String> = sqlx::query_scalar(
                    "SELECT lifecycle_stage FROM experiments WHERE id = $1 AND project_id = $2",
                )
                .bind(experiment_id)
                .bind(project_id)
                .fetch_optional(&mut *transaction)
                .await?;
                let stage = stage.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "experiment",
                    id: experiment_id.to_string(),
                })?;
                $crate::tracking_sql::check_active_experiment(experiment_id, &stage)?;
                sqlx::query(
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                )
                .bind(experiment_id)
                .bind(&tag.key)
                .bind(&tag.value)
                .execute(&mut *transaction)
                .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_experiment_tag(
                &self,
                project_id: &str,
                experiment_id: i64,
                key: &str,
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let stage: Option<String> = sqlx::query_scalar(
                    "SELECT lifecycle_stage FROM experiments WHERE id = $1 AND project_id = $2",
                )
                .bind(experiment_id)
                .bind(project_id)
                .fetch_optional(&mut *transaction)
                .await?;
                let stage = stage.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "experiment",
                    id: experiment_id.to_string(),
                })?;
                $crate::tracking_sql::check_active_experiment(experiment_id, &stage)?;
                let deleted = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
                    .bind(experiment_id)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StoreError::Missing(format!(
                        "No tag with name: {key} in experiment with id {experiment_id}"
                    )));
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn create_run(
                &self,
                project_id: &str,
                run: &$crate::NewRun,
            ) -> $crate::StoreResult<plinth_types::Run> {
                use $crate::tracking::validate;
                let mut tags = Vec::with_capacity(run.tags.len() + 1);
                for (index, tag) in run.tags.iter().enumerate() {
                    let value = validate::validate_run_tag(&tag.key, &tag.value, &format!("tags[{index}]"))?;
                    tags.push((tag.key.clone(), value));
                }
                let mut tags = $crate::tracking_sql::last_value_per_key(tags);
                validate::no_nul(&run.user_id, "user_id")?;
                let name_tag = tags
                    .iter()
                    .find(|(key, _)| key == $crate::tracking_sql::RUN_NAME_TAG)
                    .map(|(_, value)| value.clone());
                let run_name = run.run_name.clone().filter(|name| !name.is_empty());
                if let (Some(name), Some(tag)) = (&run_name, &name_tag) {
                    if name != tag {
                        return Err($crate::tracking::filter::invalid(format!(
                            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                             different values (run_name='{name}', mlflow.runName='{tag}')."
                        )));
                    }
                }
                let name = run_name
                    .or(name_tag.clone())
                    .unwrap_or_else($crate::tracking_sql::generate_name);
                validate::no_nul(&name, "run_name")?;
                if name_tag.is_none() {
                    tags.push(($crate::tracking_sql::RUN_NAME_TAG.to_string(), name.clone()));
                }
                let run_id = $crate::tracking_sql::new_run_id();
                // The new run is known in full (no metrics, params or inputs yet): answer it
                // from memory instead of reading it back. Tags sort by key as stored ones do.
                let mut sorted_tags: Vec<plinth_types::RunTag> = tags
                    .iter()
                    .map(|(key, value)| plinth_types::RunTag { key: key.clone(), value: value.clone() })
                    .collect();
                sorted_tags.sort_by(|a, b| a.key.cmp(&b.key));
                let outcome = self
                    .writes
                    .submit($crate::group_commit::TrackingWrite::CreateRun {
                        project_id: project_id.to_string(),
                        run_id: run_id.clone(),
                        experiment_id: run.experiment_id,
                        name: name.clone(),
                        user_id: run.user_id.clone(),
                        start_time: run.start_time,
                        tags,
                    })
                    .await?;
                let $crate::group_commit::WriteOutcome::RunCreated { artifact_uri } = outcome else {
                    return Err($crate::tracking_sql::corrupt("create-run outcome", format!("{outcome:?}")));
                };
                Ok(plinth_types::Run {
                    info: plinth_types::RunInfo {
                        run_id,
                        run_name: name,
                        experiment_id: run.experiment_id,
                        user_id: run.user_id.clone(),
                        status: plinth_types::RunStatus::Running,
                        start_time: run.start_time,
                        end_time: None,
                        artifact_uri,
                        lifecycle_stage: plinth_types::LifecycleStage::Active,
                    },
                    data: plinth_types::RunData {
                        tags: sorted_tags,
                        ..plinth_types::RunData::default()
                    },
                    inputs: plinth_types::RunInputs::default(),
                    outputs: plinth_types::RunOutputs::default(),
                })
            }

            async fn get_run(&self, project_id: &str, run_id: &str) -> $crate::StoreResult<plinth_types::Run> {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM runs WHERE id = $1 AND project_id = $2")
                    .bind(run_id)
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let not_found = || $crate::StoreError::NotFound {
                    entity: "run",
                    id: run_id.to_string(),
                };
                let id = found.ok_or_else(not_found)?;
                self.tracking_load_runs(&[id]).await?.pop().ok_or_else(not_found)
            }

            async fn update_run(
                &self,
                project_id: &str,
                run_id: &str,
                update: &$crate::RunUpdate,
            ) -> $crate::StoreResult<plinth_types::RunInfo> {
                let name = update.run_name.clone().filter(|name| !name.is_empty());
                if let Some(name) = &name {
                    $crate::tracking::validate::validate_run_tag($crate::tracking_sql::RUN_NAME_TAG, name, "")?;
                }
                self.writes
                    .submit($crate::group_commit::TrackingWrite::UpdateRun {
                        project_id: project_id.to_string(),
                        run_id: run_id.to_string(),
                        status: update.status,
                        end_time: update.end_time,
                        name,
                    })
                    .await?;
                let row: $crate::tracking_sql::RunRow = sqlx::query_as(&format!(
                    "SELECT {} FROM runs WHERE id = $1 AND project_id = $2",
                    $crate::tracking_sql::RUN_COLUMNS
                ))
                .bind(run_id)
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
                plinth_types::RunInfo::try_from(row)
            }

            async fn delete_run(&self, project_id: &str, run_id: &str, now_ms: i64) -> $crate::StoreResult<()> {
                let changed = sqlx::query(
                    "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 WHERE id = $2 AND project_id = $3",
                )
                .bind(now_ms)
                .bind(run_id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "run", run_id)
            }

            async fn restore_run(&self, project_id: &str, run_id: &str) -> $crate::StoreResult<()> {
                let changed = sqlx::query(
                    "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE id = $1 AND project_id = $2",
                )
                .bind(run_id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "run", run_id)
            }

            async fn set_run_tag(
                &self,
                project_id: &str,
                run_id: &str,
                tag: &plinth_types::RunTag,
            ) -> $crate::StoreResult<()> {
                let value = $crate::tracking::validate::validate_run_tag(&tag.key, &tag.value, "")?;
                self.tracking_submit_log(project_id, run_id, Vec::new(), Vec::new(), vec![(tag.key.clone(), value)], false)
                    .await
            }

            async fn delete_run_tag(&self, project_id: &str, run_id: &str, key: &str) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let (_, stage) = Self::tracking_run_state(&mut *transaction, project_id, run_id).await?;
                $crate::tracking_sql::check_active_run(run_id, &stage)?;
                let deleted = sqlx::query("DELETE FROM run_tags WHERE run_id = $1 AND key = $2")
                    .bind(run_id)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StoreError::Missing(format!(
                        "No tag with name: {key} in run with id {run_id}"
                    )));
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn log_param(
                &self,
                project_id: &str,
                run_id: &str,
                param: &plinth_types::Param,
            ) -> $crate::StoreResult<()> {
                let value = $crate::tracking::validate::validate_param(&param.key, &param.value, "")?;
                self.tracking_submit_log(project_id, run_id, Vec::new(), vec![(param.key.clone(), value)], Vec::new(), true)
                    .await
            }

            async fn log_metric(
                &self,
                project_id: &str,
                run_id: &str,
                metric: &plinth_types::Metric,
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_metric(metric, "")?;
                self.tracking_submit_log(project_id, run_id, vec![metric.clone()], Vec::new(), Vec::new(), false)
                    .await
            }

            async fn log_batch(
                &self,
                project_id: &str,
                run_id: &str,
                batch: &$crate::LogBatch,
            ) -> $crate::StoreResult<()> {
                use $crate::tracking::validate;
                for (index, metric) in batch.metrics.iter().enumerate() {
                    validate::validate_metric(metric, &format!("metrics[{index}]"))?;
                }
                let mut params = Vec::with_capacity(batch.params.len());
                for (index, param) in batch.params.iter().enumerate() {
                    let value = validate::validate_param(&param.key, &param.value, &format!("params[{index}]"))?;
                    params.push((param.key.clone(), value));
                }
                let mut tags = Vec::with_capacity(batch.tags.len());
                for (index, tag) in batch.tags.iter().enumerate() {
                    let value = validate::validate_run_tag(&tag.key, &tag.value, &format!("tags[{index}]"))?;
                    tags.push((tag.key.clone(), value));
                }
                validate::validate_batch_limits(batch.metrics.len(), batch.params.len(), batch.tags.len())?;
                validate::validate_param_keys_unique(batch.params.iter().map(|param| param.key.as_str()))?;
                let tags = $crate::tracking_sql::last_value_per_key(tags);
                self.tracking_submit_log(project_id, run_id, batch.metrics.clone(), params, tags, false)
                    .await
            }

            async fn log_inputs(
                &self,
                project_id: &str,
                run_id: &str,
                datasets: &[plinth_types::DatasetInput],
                models: &[plinth_types::ModelInput],
            ) -> $crate::StoreResult<()> {
                $crate::tracking::validate::validate_dataset_inputs(datasets)?;
                // The first of several inputs with the same (name, digest) wins, as in MLflow.
                let mut unique: Vec<&plinth_types::DatasetInput> = Vec::new();
                for input in datasets {
                    if !unique.iter().any(|seen| {
                        seen.dataset.name == input.dataset.name && seen.dataset.digest == input.dataset.digest
                    }) {
                        unique.push(input);
                    }
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let (experiment_id, stage) = Self::tracking_run_state(&mut *transaction, project_id, run_id).await?;
                $crate::tracking_sql::check_active_run(run_id, &stage)?;
                for input in unique {
                    let dataset = &input.dataset;
                    sqlx::query(
                        "INSERT INTO datasets (id, experiment_id, name, digest, source_type, source, dataset_schema, \
                         dataset_profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (experiment_id, name, digest) DO NOTHING",
                    )
                    .bind($crate::tracking_sql::new_row_id())
                    .bind(experiment_id)
                    .bind(&dataset.name)
                    .bind(&dataset.digest)
                    .bind(&dataset.source_type)
                    .bind(&dataset.source)
                    .bind(&dataset.schema)
                    .bind(&dataset.profile)
                    .execute(&mut *transaction)
                    .await?;
                    let dataset_id: String = sqlx::query_scalar(
                        "SELECT id FROM datasets WHERE experiment_id = $1 AND name = $2 AND digest = $3",
                    )
                    .bind(experiment_id)
                    .bind(&dataset.name)
                    .bind(&dataset.digest)
                    .fetch_one(&mut *transaction)
                    .await?;
                    let input_id: Option<String> = sqlx::query_scalar(
                        "INSERT INTO inputs (id, run_id, dataset_id) VALUES ($1, $2, $3) \
                         ON CONFLICT (run_id, dataset_id) DO NOTHING RETURNING id",
                    )
                    .bind($crate::tracking_sql::new_row_id())
                    .bind(run_id)
                    .bind(&dataset_id)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    // An input logged again keeps its first tags, as in MLflow.
                    if let Some(input_id) = input_id {
                        let tags = $crate::tracking_sql::last_value_per_key(
                            input.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())),
                        );
                        for (key, value) in tags {
                            sqlx::query("INSERT INTO input_tags (input_id, key, value) VALUES ($1, $2, $3)")
                                .bind(&input_id)
                                .bind(key)
                                .bind(value)
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                }
                if !models.is_empty() {
                    let ids: Vec<String> = models.iter().map(|model| model.model_id.clone()).collect();
                    Self::tracking_check_models(&mut *transaction, project_id, &ids).await?;
                    for model_id in ids {
                        sqlx::query(
                            "INSERT INTO run_model_inputs (run_id, model_id) VALUES ($1, $2) \
                             ON CONFLICT (run_id, model_id) DO NOTHING",
                        )
                        .bind(run_id)
                        .bind(model_id)
                        .execute(&mut *transaction)
                        .await?;
                    }
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn log_outputs(
                &self,
                project_id: &str,
                run_id: &str,
                models: &[plinth_types::ModelOutput],
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let (_, stage) = Self::tracking_run_state(&mut *transaction, project_id, run_id).await?;
                $crate::tracking_sql::check_active_run(run_id, &stage)?;
                let ids: Vec<String> = models.iter().map(|model| model.model_id.clone()).collect();
                Self::tracking_check_models(&mut *transaction, project_id, &ids).await?;
                for model in models {
                    sqlx::query(
                        "INSERT INTO run_model_outputs (run_id, model_id, step) VALUES ($1, $2, $3) \
                         ON CONFLICT (run_id, model_id, step) DO NOTHING",
                    )
                    .bind(run_id)
                    .bind(&model.model_id)
                    .bind(model.step)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn get_metric_history(
                &self,
                project_id: &str,
                run_id: &str,
                metric_key: &str,
                max_results: Option<i64>,
                page_token: Option<&str>,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::Metric>> {
                let page = self
                    .get_metric_history_points(project_id, run_id, metric_key, max_results, page_token)
                    .await?;
                Ok(plinth_types::Page {
                    items: page
                        .items
                        .into_iter()
                        .map(|point| plinth_types::Metric::new(metric_key, point.value, point.timestamp, point.step))
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            }

            async fn get_metric_history_points(
                &self,
                project_id: &str,
                run_id: &str,
                metric_key: &str,
                max_results: Option<i64>,
                page_token: Option<&str>,
            ) -> $crate::StoreResult<plinth_types::Page<$crate::MetricPoint>> {
                use $crate::tracking::query::Sql;
                let mut connection = self.pool.acquire().await?;
                Self::tracking_run_state(&mut *connection, project_id, run_id).await?;
                if let Some(max) = max_results {
                    if max < 1 {
                        return Err($crate::tracking::filter::invalid(format!(
                            "Invalid value {max} for parameter 'max_results' supplied. It must be a positive integer"
                        )));
                    }
                }
                let fingerprint = $crate::tracking::query::fingerprint(&format!("history\0{project_id}\0{run_id}\0{metric_key}"));
                let mut sql = Sql::default();
                let run = sql.bind(run_id);
                let key = sql.bind(metric_key);
                let mut text = format!(
                    "SELECT step, timestamp, value, is_nan FROM metrics WHERE run_id = {run} AND key = {key}"
                );
                if let Some(token) = page_token.filter(|token| !token.is_empty()) {
                    let (step, timestamp, value, is_nan) =
                        $crate::tracking::query::decode_history_token(token, &fingerprint)?;
                    text.push_str(&format!(
                        " AND (step, timestamp, value, is_nan) > ({}, {}, {}, {})",
                        sql.bind(step),
                        sql.bind(timestamp),
                        sql.bind(value),
                        sql.bind(is_nan)
                    ));
                }
                text.push_str(" ORDER BY step, timestamp, value, is_nan");
                if let Some(max) = max_results {
                    text.push_str(&format!(" LIMIT {}", max + 1));
                }
                sql.text = text;
                let mut rows = self.tracking_history_rows(&mut *connection, &sql).await?;
                let mut next_page_token = None;
                if let Some(max) = max_results {
                    let max = usize::try_from(max).unwrap_or(usize::MAX);
                    if rows.len() > max {
                        rows.truncate(max);
                        if let Some(last) = rows.last() {
                            next_page_token = Some($crate::tracking::query::history_token(
                                &fingerprint,
                                last.step,
                                last.timestamp,
                                last.value,
                                last.is_nan,
                            ));
                        }
                    }
                }
                let items = rows
                    .into_iter()
                    .map(|row| $crate::MetricPoint {
                        value: $crate::tracking::query::loaded_metric_value(row.value, row.is_nan),
                        timestamp: row.timestamp,
                        step: row.step,
                    })
                    .collect();
                Ok(plinth_types::Page { items, next_page_token })
            }

            async fn get_metric_history_bulk_interval(
                &self,
                project_id: &str,
                query: &$crate::BulkIntervalQuery,
            ) -> $crate::StoreResult<Vec<plinth_types::MetricWithRunId>> {
                use $crate::tracking::query::{arguments, Sql};
                if query.start_step.is_some() != query.end_step.is_some() {
                    return Err($crate::tracking::filter::invalid(
                        "Both start_step and end_step must be specified together, or neither may be specified.",
                    ));
                }
                let max_results = query.max_results.max(1);
                let mut connection = self.pool.acquire().await?;
                for run_id in &query.run_ids {
                    Self::tracking_run_state(&mut *connection, project_id, run_id).await?;
                }
                let mut out = Vec::new();
                for run_id in &query.run_ids {
                    let mut sql = Sql::default();
                    let run = sql.bind(run_id);
                    let key = sql.bind(&query.metric_key);
                    let mut range = String::new();
                    if let (Some(start), Some(end)) = (query.start_step, query.end_step) {
                        range = format!(" AND step >= {} AND step <= {}", sql.bind(start), sql.bind(end));
                    }
                    let filtered = format!("FROM metrics WHERE run_id = {run} AND key = {key}{range}");
                    let total: i64 = sqlx::query_scalar_with(&format!("SELECT COUNT(*) {filtered}"), arguments::<$db>(&sql.binds)?)
                        .fetch_one(&mut *connection)
                        .await?;
                    // The first row of each of MLflow's `NTILE(max_results)` buckets, found by
                    // position in one ordered pass (much cheaper than NTILE + ROW_NUMBER).
                    let sample = $crate::tracking_sql::BucketStarts::new(total, max_results);
                    let mut sampled = sql.clone();
                    let below = sampled.bind(sample.first_small_bucket);
                    let large = sampled.bind(sample.large_size);
                    let small = sampled.bind(sample.small_size.max(1));
                    let small_exists = sampled.bind(sample.small_size);
                    sampled.text = format!(
                        "SELECT step, timestamp, value, is_nan FROM (\
                         SELECT step, timestamp, value, is_nan, \
                         ROW_NUMBER() OVER (ORDER BY step, timestamp, value, is_nan) - 1 AS position {filtered}) numbered \
                         WHERE (position < {below} AND position % {large} = 0) \
                         OR (position >= {below} AND {small_exists} > 0 AND (position - {below}) % {small} = 0) \
                         ORDER BY step, timestamp, value, is_nan"
                    );
                    let rows: Vec<$crate::tracking_sql::HistoryRow> =
                        sqlx::query_as_with(&sampled.text, arguments::<$db>(&sampled.binds)?)
                            .fetch_all(&mut *connection)
                            .await?;
                    let last_sql = format!(
                        "SELECT step, timestamp, value, is_nan {filtered} \
                         ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1"
                    );
                    let last: Option<$crate::tracking_sql::HistoryRow> =
                        sqlx::query_as_with(&last_sql, arguments::<$db>(&sql.binds)?)
                            .fetch_optional(&mut *connection)
                            .await?;
                    let limit = usize::try_from(max_results).unwrap_or(usize::MAX);
                    for row in $crate::tracking_sql::include_last_point(rows, last, limit) {
                        out.push(plinth_types::MetricWithRunId {
                            run_id: run_id.clone(),
                            key: query.metric_key.clone(),
                            value: $crate::tracking::query::loaded_metric_value(row.value, row.is_nan),
                            timestamp: row.timestamp,
                            step: row.step,
                        });
                    }
                }
                Ok(out)
            }

            async fn search_dataset_summaries(
                &self,
                project_id: &str,
                experiment_ids: &[i64],
            ) -> $crate::StoreResult<Vec<$crate::DatasetSummary>> {
                use $crate::tracking::query::{arguments, Sql};
                if experiment_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut sql = Sql::default();
                let project = sql.bind(project_id);
                let ids = sql.list(experiment_ids);
                let context = sql.bind("mlflow.data.context");
                sql.text = format!(
                    "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value FROM datasets d \
                     JOIN inputs i ON i.dataset_id = d.id \
                     LEFT JOIN input_tags t ON t.input_id = i.id AND t.key = {context} \
                     WHERE d.experiment_id IN (SELECT id FROM experiments WHERE project_id = {project} AND id IN {ids}) \
                     ORDER BY d.experiment_id, d.name, d.digest, t.value LIMIT {}",
                    $crate::MAX_DATASET_SUMMARIES
                );
                let rows: Vec<(i64, String, String, Option<String>)> =
                    sqlx::query_as_with(&sql.text, arguments::<$db>(&sql.binds)?)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(experiment_id, name, digest, context)| $crate::DatasetSummary {
                        experiment_id,
                        name,
                        digest,
                        context,
                    })
                    .collect())
            }

            async fn experiment_run_stats(
                &self,
                project_id: &str,
                experiment_ids: &[i64],
                view_type: plinth_types::ViewType,
            ) -> $crate::StoreResult<Vec<$crate::ExperimentRunStats>> {
                use $crate::tracking::query::{arguments, Sql};
                let mut out = Vec::new();
                for chunk in experiment_ids.chunks($crate::tracking_sql::ID_CHUNK) {
                    let mut sql = Sql::default();
                    let project = sql.bind(project_id);
                    let ids = sql.list(chunk);
                    let stages: Vec<&str> = view_type.stages().iter().map(|stage| stage.as_str()).collect();
                    let stages = sql.list(&stages);
                    // The experiments are checked against the project; the runs are then
                    // counted from the `runs_experiment` index alone.
                    sql.text = format!(
                        "SELECT experiment_id, COUNT(*) AS runs, MAX(start_time) AS last_start_time FROM runs \
                         WHERE experiment_id IN (SELECT id FROM experiments WHERE project_id = {project} AND id IN {ids}) \
                         AND lifecycle_stage IN {stages} GROUP BY experiment_id ORDER BY experiment_id"
                    );
                    let rows: Vec<(i64, i64, Option<i64>)> =
                        sqlx::query_as_with(&sql.text, arguments::<$db>(&sql.binds)?)
                            .fetch_all(&self.pool)
                            .await?;
                    out.extend(rows.into_iter().map(|(experiment_id, runs, last_start_time)| {
                        $crate::ExperimentRunStats { experiment_id, runs, last_start_time }
                    }));
                }
                Ok(out)
            }

            async fn experiment_keys(
                &self,
                project_id: &str,
                experiment_id: i64,
            ) -> $crate::StoreResult<$crate::ExperimentKeys> {
                // The experiment must be the project's (and exist).
                self.tracking_experiment(project_id, experiment_id).await?;
                let mut keys = $crate::ExperimentKeys::default();
                // One more than the cap tells a cut list from a full one.
                let limit = i64::try_from($crate::MAX_EXPERIMENT_KEYS).unwrap_or(i64::MAX) + 1;
                let mut truncated = false;
                for (table, out) in [
                    ("latest_metrics", &mut keys.metrics),
                    ("params", &mut keys.params),
                    ("run_tags", &mut keys.tags),
                ] {
                    // A loose index scan: each step seeks the next key after the last one
                    // in `(experiment_id, key, …)`, so an experiment of a million runs and
                    // twenty keys costs twenty seeks.
                    let sql = format!(
                        "WITH RECURSIVE found(key) AS ( \
                           SELECT MIN(key) FROM {table} WHERE experiment_id = $1 \
                           UNION ALL \
                           SELECT (SELECT MIN(t.key) FROM {table} t WHERE t.experiment_id = $1 AND t.key > found.key) \
                           FROM found WHERE found.key IS NOT NULL \
                         ) SELECT key FROM found WHERE key IS NOT NULL LIMIT $2"
                    );
                    let found: Vec<String> = sqlx::query_scalar(&sql)
                        .bind(experiment_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    *out = found;
                    if out.len() > $crate::MAX_EXPERIMENT_KEYS {
                        out.truncate($crate::MAX_EXPERIMENT_KEYS);
                        truncated = true;
                    }
                }
                keys.truncated = truncated;
                Ok(keys)
            }

            async fn get_metric_chart(
                &self,
                project_id: &str,
                query: &$crate::MetricChartQuery,
            ) -> $crate::StoreResult<$crate::MetricChart> {
                use $crate::tracking::filter::invalid;
                if !(1..=$crate::MAX_CHART_BUCKETS).contains(&query.max_buckets) {
                    return Err(invalid(format!(
                        "Invalid value {} for parameter 'max_buckets' supplied. It must be between 1 and {}",
                        query.max_buckets,
                        $crate::MAX_CHART_BUCKETS
                    )));
                }
                if let (Some(min), Some(max)) = (query.min_step, query.max_step) {
                    if min > max {
                        return Err(invalid(format!(
                            "Invalid step range: min_step {min} is greater than max_step {max}"
                        )));
                    }
                }
                let mut connection = self.pool.acquire().await?;
                Self::tracking_run_state(&mut *connection, project_id, &query.run_id).await?;
                // Each bound alone, so both backends read it from the primary key's end.
                let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT (SELECT MIN(step) FROM metrics WHERE run_id = $1 AND key = $2), \
                     (SELECT MAX(step) FROM metrics WHERE run_id = $1 AND key = $2)",
                )
                .bind(&query.run_id)
                .bind(&query.metric_key)
                .fetch_one(&mut *connection)
                .await?;
                let (Some(first), Some(last)) = (first, last) else {
                    return Ok($crate::MetricChart { history_steps: None, range: None, buckets: Vec::new() });
                };
                let low = query.min_step.map_or(first, |min| min.max(first));
                let high = query.max_step.map_or(last, |max| max.min(last));
                if low > high {
                    return Ok($crate::MetricChart {
                        history_steps: Some((first, last)),
                        range: None,
                        buckets: Vec::new(),
                    });
                }
                let width = $crate::tracking_sql::bucket_width(low, high, query.max_buckets).ok_or_else(|| {
                    invalid(format!("Invalid step range: {low} to {high} is too wide to chart; give min_step and max_step"))
                })?;
                // One aggregate per bucket over its primary-key range: the history is read
                // once, in order, with no sort (a single `GROUP BY` over a computed bucket
                // makes SQLite sort every point, several times slower on 1M points).
                const BUCKET_SQL: &str = "SELECT MIN(step) AS first_step, MAX(step) AS last_step, \
                     MIN(timestamp) AS min_timestamp, MAX(timestamp) AS max_timestamp, \
                     MIN(CASE WHEN is_nan THEN NULL ELSE value END) AS min_value, \
                     MAX(CASE WHEN is_nan THEN NULL ELSE value END) AS max_value, COUNT(*) AS points, \
                     (SELECT m.value FROM metrics m WHERE m.run_id = $1 AND m.key = $2 AND m.step >= $3 AND m.step <= $4 \
                      ORDER BY m.step DESC, m.timestamp DESC, m.value DESC, m.is_nan DESC LIMIT 1) AS last_value, \
                     (SELECT m.is_nan FROM metrics m WHERE m.run_id = $1 AND m.key = $2 AND m.step >= $3 AND m.step <= $4 \
                      ORDER BY m.step DESC, m.timestamp DESC, m.value DESC, m.is_nan DESC LIMIT 1) AS last_is_nan, \
                     (SELECT m.timestamp FROM metrics m WHERE m.run_id = $1 AND m.key = $2 AND m.step >= $3 AND m.step <= $4 \
                      ORDER BY m.step DESC, m.timestamp DESC, m.value DESC, m.is_nan DESC LIMIT 1) AS last_timestamp \
                     FROM metrics WHERE run_id = $1 AND key = $2 AND step >= $3 AND step <= $4";
                let mut buckets = Vec::new();
                let mut start = low;
                loop {
                    let end = start.saturating_add(width - 1).min(high);
                    let row: $crate::tracking_sql::ChartBucketRow = sqlx::query_as(BUCKET_SQL)
                        .bind(&query.run_id)
                        .bind(&query.metric_key)
                        .bind(start)
                        .bind(end)
                        .fetch_one(&mut *connection)
                        .await?;
                    buckets.extend(row.into_bucket());
                    if end >= high {
                        break;
                    }
                    start = end + 1;
                }
                Ok($crate::MetricChart {
                    history_steps: Some((first, last)),
                    range: Some((low, high)),
                    buckets,
                })
            }

            async fn search_runs(
                &self,
                project_id: &str,
                search: &$crate::RunSearch,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::Run>> {
                use sqlx::Row as _;
                use $crate::tracking::query::{arguments, run_driver_cap, run_search, run_search_probes};
                // The filter clause matching the fewest runs drives the search when it
                // matches few enough (see `RUN_DRIVER_CAP`).
                let mut driver = None;
                let mut fewest = run_driver_cap();
                for (index, probe) in run_search_probes($dialect, search)? {
                    let probe = ($dialect).finish(probe);
                    let matches: i64 = sqlx::query_scalar_with(&probe.text, arguments::<$db>(&probe.binds)?)
                        .fetch_one(&self.pool)
                        .await?;
                    if matches < fewest {
                        fewest = matches;
                        driver = Some(index);
                    }
                }
                let plan = run_search($dialect, project_id, search, driver)?;
                let (ids, next_page_token) = self.keyset_search(&plan, |row| row.try_get::<String, _>("kid")).await?;
                Ok(plinth_types::Page {
                    items: self.tracking_load_runs(&ids).await?,
                    next_page_token,
                })
            }

            async fn create_logged_model(
                &self,
                project_id: &str,
                model: &$crate::NewLoggedModel,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::LoggedModel> {
                use $crate::tracking::validate;
                if let Some(name) = &model.name {
                    validate::validate_logged_model_name(name)?;
                }
                for param in &model.params {
                    validate::no_nul(&param.key, "params.key")?;
                    validate::no_nul(&param.value, "params.value")?;
                }
                for tag in &model.tags {
                    validate::no_nul(&tag.key, "tags.key")?;
                    validate::no_nul(&tag.value, "tags.value")?;
                }
                for value in [&model.model_type, &model.source_run_id].into_iter().flatten() {
                    validate::no_nul(value, "model")?;
                }
                let model_id = $crate::tracking_sql::new_model_id();
                let name = model.name.clone().unwrap_or_else($crate::tracking_sql::generate_name);
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                let location =
                    Self::tracking_active_experiment_location(&mut *transaction, project_id, model.experiment_id).await?;
                sqlx::query(
                    "INSERT INTO logged_models (id, experiment_id, project_id, name, artifact_location, \
                     creation_timestamp, last_updated_timestamp, status, status_message, lifecycle_stage, \
                     model_type, source_run_id) VALUES ($1, $2, $3, $4, $5, $6, $6, 'PENDING', NULL, 'active', $7, $8)",
                )
                .bind(&model_id)
                .bind(model.experiment_id)
                .bind(project_id)
                .bind(&name)
                .bind($crate::tracking_sql::append_to_uri(&location, &["models", &model_id, "artifacts"]))
                .bind(now_ms)
                .bind(&model.model_type)
                .bind(&model.source_run_id)
                .execute(&mut *transaction)
                .await?;
                for (table, pairs) in [
                    ("logged_model_params", model.params.iter().map(|p| (p.key.clone(), p.value.clone())).collect::<Vec<_>>()),
                    ("logged_model_tags", model.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect::<Vec<_>>()),
                ] {
                    for (key, value) in $crate::tracking_sql::last_value_per_key(pairs) {
                        sqlx::query(&format!("INSERT INTO {table} (model_id, key, value) VALUES ($1, $2, $3)"))
                            .bind(&model_id)
                            .bind(key)
                            .bind(value)
                            .execute(&mut *transaction)
                            .await?;
                    }
                }
                transaction.commit().await?;
                self.get_logged_model(project_id, &model_id).await
            }

            async fn get_logged_model(
                &self,
                project_id: &str,
                model_id: &str,
            ) -> $crate::StoreResult<plinth_types::LoggedModel> {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM logged_models WHERE id = $1 AND project_id = $2 AND lifecycle_stage = 'active'",
                )
                .bind(model_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
                let not_found = || $crate::StoreError::NotFound {
                    entity: "logged model",
                    id: model_id.to_string(),
                };
                let id = found.ok_or_else(not_found)?;
                self.tracking_load_logged_models(&[id]).await?.pop().ok_or_else(not_found)
            }

            async fn finalize_logged_model(
                &self,
                project_id: &str,
                model_id: &str,
                status: plinth_types::LoggedModelStatus,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::LoggedModel> {
                let changed = sqlx::query(
                    "UPDATE logged_models SET status = $1, last_updated_timestamp = $2 WHERE id = $3 AND project_id = $4",
                )
                .bind(status.as_str())
                .bind(now_ms)
                .bind(model_id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "logged model", model_id)?;
                self.tracking_load_logged_models(&[model_id.to_string()])
                    .await?
                    .pop()
                    .ok_or_else(|| $crate::StoreError::NotFound {
                        entity: "logged model",
                        id: model_id.to_string(),
                    })
            }

            async fn set_logged_model_tags(
                &self,
                project_id: &str,
                model_id: &str,
                tags: &[plinth_types::LoggedModelTag],
            ) -> $crate::StoreResult<()> {
                for tag in tags {
                    $crate::tracking::validate::no_nul(&tag.key, "key")?;
                    $crate::tracking::validate::no_nul(&tag.value, "value")?;
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                Self::tracking_check_models(&mut *transaction, project_id, &[model_id.to_string()]).await?;
                let pairs = $crate::tracking_sql::last_value_per_key(tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())));
                for (key, value) in pairs {
                    sqlx::query(
                        "INSERT INTO logged_model_tags (model_id, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(model_id)
                    .bind(key)
                    .bind(value)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_logged_model_tag(
                &self,
                project_id: &str,
                model_id: &str,
                key: &str,
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                Self::tracking_check_models(&mut *transaction, project_id, &[model_id.to_string()]).await?;
                let deleted = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
                    .bind(model_id)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StoreError::Missing(format!(
                        "No tag with key {} found for model with ID {}.",
                        $crate::tracking::filter::python_repr(key),
                        $crate::tracking::filter::python_repr(model_id)
                    )));
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn log_logged_model_params(
                &self,
                project_id: &str,
                model_id: &str,
                params: &[plinth_types::LoggedModelParameter],
            ) -> $crate::StoreResult<()> {
                for param in params {
                    $crate::tracking::validate::no_nul(&param.key, "key")?;
                    $crate::tracking::validate::no_nul(&param.value, "value")?;
                }
                let mut transaction = self.pool.begin_with(($dialect).begin_write()).await?;
                Self::tracking_check_models(&mut *transaction, project_id, &[model_id.to_string()]).await?;
                let pairs = $crate::tracking_sql::last_value_per_key(params.iter().map(|param| (param.key.clone(), param.value.clone())));
                for (key, value) in pairs {
                    sqlx::query(
                        "INSERT INTO logged_model_params (model_id, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(model_id)
                    .bind(key)
                    .bind(value)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn delete_logged_model(
                &self,
                project_id: &str,
                model_id: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let changed = sqlx::query(
                    "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp = $1 \
                     WHERE id = $2 AND project_id = $3",
                )
                .bind(now_ms)
                .bind(model_id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(changed.rows_affected(), "logged model", model_id)
            }

            async fn search_logged_models(
                &self,
                project_id: &str,
                search: &$crate::LoggedModelSearch,
            ) -> $crate::StoreResult<plinth_types::Page<plinth_types::LoggedModel>> {
                use sqlx::Row as _;
                let plan = $crate::tracking::query::logged_model_search($dialect, project_id, search)?;
                let (ids, next_page_token) = self.keyset_search(&plan, |row| row.try_get::<String, _>("kid")).await?;
                Ok(plinth_types::Page {
                    items: self.tracking_load_logged_models(&ids).await?,
                    next_page_token,
                })
            }
        }
    };
}

pub(crate) use impl_tracking_queries;

impl ExperimentRow {
    pub(crate) fn id_value(&self) -> i64 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(key: &str, step: i64, timestamp: i64, value: f64) -> StoredPoint<'_> {
        StoredPoint {
            key,
            step,
            timestamp,
            value,
            is_nan: false,
        }
    }

    #[test]
    fn latest_point_is_greatest_step_then_timestamp_then_value() {
        let points = [
            point("a", 1, 10, 5.0),
            point("a", 2, 5, 1.0),
            point("b", 0, 0, 1.0),
            point("a", 2, 5, 3.0),
            point("a", 2, 4, 9.0),
            point("b", 0, 0, 0.5),
        ];
        let latest = latest_points(&points);
        assert_eq!(latest, vec![point("a", 2, 5, 3.0), point("b", 0, 0, 1.0)]);
    }

    #[test]
    fn bucket_widths_cover_the_range_in_at_most_the_asked_buckets() {
        assert_eq!(bucket_width(0, 999, 10), Some(100));
        assert_eq!(bucket_width(0, 1000, 10), Some(101));
        assert_eq!(bucket_width(5, 5, 10), Some(1));
        assert_eq!(bucket_width(0, 9, 100), Some(1));
        assert_eq!(bucket_width(-10, 9, 4), Some(5));
        assert_eq!(bucket_width(0, i64::MAX, 2), Some(i64::MAX / 2 + 1));
        assert_eq!(
            bucket_width(-1, i64::MAX, 2),
            None,
            "step - low would overflow"
        );
        assert_eq!(bucket_width(9, 0, 2), None);
        for (low, high, buckets) in [(0, 999, 7), (3, 1_000_003, 333), (-50, 50, 9)] {
            let width = bucket_width(low, high, buckets).unwrap();
            assert!((high - low) / width < buckets, "{low}..{high} in {buckets}");
        }
    }

    #[test]
    fn bucket_starts_match_ntile() {
        // NTILE semantics: sizes differ by at most one, larger buckets first.
        for (total, buckets) in [
            (1000, 10),
            (1003, 10),
            (7, 10),
            (10, 10),
            (11, 3),
            (0, 5),
            (5, 1),
        ] {
            let starts = BucketStarts::new(total, buckets);
            let mut expected = Vec::new();
            let (size, extra) = (total / buckets, total % buckets);
            let mut position = 0;
            for bucket in 0..buckets.min(total) {
                expected.push(position);
                position += size + i64::from(bucket < extra);
            }
            let actual: Vec<i64> = (0..total).filter(|p| starts.starts(*p)).collect();
            assert_eq!(actual, expected, "{total} rows in {buckets} buckets");
        }
    }

    #[test]
    fn the_last_point_completes_a_sample() {
        let row = |step| HistoryRow {
            step,
            timestamp: 0,
            value: 0.0,
            is_nan: false,
        };
        let kept = include_last_point(vec![row(0), row(5)], Some(row(9)), 2);
        assert_eq!(kept.iter().map(|row| row.step).collect::<Vec<_>>(), [0, 9]);
        let kept = include_last_point(vec![row(0), row(5)], Some(row(9)), 3);
        assert_eq!(
            kept.iter().map(|row| row.step).collect::<Vec<_>>(),
            [0, 5, 9]
        );
        let kept = include_last_point(vec![row(0), row(9)], Some(row(9)), 2);
        assert_eq!(kept.len(), 2);
        assert!(generate_name().len() <= 20);
        assert_eq!(
            append_to_uri("mlflow-artifacts:/7/", &["r", "artifacts"]),
            "mlflow-artifacts:/7/r/artifacts"
        );
    }
}
