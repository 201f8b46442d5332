//! The experiment-tracking part of the metastore, shaped after what MLflow 3's tracking
//! server needs: experiments, runs (params, tags, metric history and latest values, dataset
//! and model inputs, model outputs), search with MLflow's filter grammar compiled to SQL,
//! and MLflow 3 logged models. Every method takes the project and filters by it in SQL, so
//! no call sees another project's rows.
//!
//! The store enforces MLflow's own rules (names, lengths, batch limits, params that never
//! change, active-only writes) and refuses with MLflow's messages
//! ([`StoreError::InvalidValue`](crate::StoreError::InvalidValue)); MLflow's
//! `RESOURCE_DOES_NOT_EXIST` is [`StoreError::NotFound`](crate::StoreError::NotFound),
//! `RESOURCE_ALREADY_EXISTS` is [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists)
//! and `INVALID_STATE` is [`StoreError::Conflict`](crate::StoreError::Conflict).

pub(crate) mod filter;
pub(crate) mod query;
pub(crate) mod validate;

use async_trait::async_trait;
use plinth_types::{
    DatasetInput, Experiment, ExperimentTag, LoggedModel, LoggedModelParameter, LoggedModelStatus,
    LoggedModelTag, Metric, MetricWithRunId, ModelInput, ModelOutput, Page, Param, Run, RunInfo,
    RunStatus, RunTag, ViewType,
};

use crate::StoreResult;

/// The most results one search-runs page may hold (MLflow's `SEARCH_MAX_RESULTS_THRESHOLD`).
pub const MAX_RUNS_PER_PAGE: i64 = 50_000;
/// The most experiments one search-experiments page may hold.
pub const MAX_EXPERIMENTS_PER_PAGE: i64 = 50_000;
/// The most metrics one log-batch call may carry.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// The most params (and, separately, tags) one log-batch call may carry.
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// The most metrics, params and tags together one log-batch call may carry.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;

/// An experiment to create.
#[derive(Clone, Debug, Default)]
pub struct NewExperiment {
    /// Unique within the project.
    pub name: String,
    /// Where runs' artifacts go; `None`: `mlflow-artifacts:/{experiment_id}`.
    pub artifact_location: Option<String>,
    /// Initial tags.
    pub tags: Vec<ExperimentTag>,
}

/// A search over a project's experiments.
#[derive(Clone, Debug)]
pub struct ExperimentSearch {
    /// Active, deleted or both.
    pub view_type: ViewType,
    /// MLflow's experiment filter (`name LIKE 'x%' AND tags.team = 'ml'`).
    pub filter: Option<String>,
    /// MLflow's `order_by` entries; empty: `creation_time DESC, experiment_id ASC`.
    pub order_by: Vec<String>,
    /// Page size, 1 to [`MAX_EXPERIMENTS_PER_PAGE`].
    pub max_results: i64,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A run to create.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// The experiment (of the same project, active).
    pub experiment_id: i64,
    /// Who starts it.
    pub user_id: String,
    /// Start, ms since the epoch.
    pub start_time: i64,
    /// The name; else the `mlflow.runName` tag; else a generated `adjective-noun-123`.
    pub run_name: Option<String>,
    /// Initial tags.
    pub tags: Vec<RunTag>,
}

/// Changes to a run's fixed part; `None` keeps the field.
#[derive(Clone, Debug, Default)]
pub struct RunUpdate {
    /// New status.
    pub status: Option<RunStatus>,
    /// End, ms since the epoch.
    pub end_time: Option<i64>,
    /// New name (the `mlflow.runName` tag follows).
    pub run_name: Option<String>,
}

/// Metrics, params and tags logged in one transaction.
#[derive(Clone, Debug, Default)]
pub struct LogBatch {
    /// Up to [`MAX_METRICS_PER_BATCH`] metric points.
    pub metrics: Vec<Metric>,
    /// Up to [`MAX_PARAMS_TAGS_PER_BATCH`] params, keys unique.
    pub params: Vec<Param>,
    /// Up to [`MAX_PARAMS_TAGS_PER_BATCH`] tags.
    pub tags: Vec<RunTag>,
}

/// A search over runs of some of a project's experiments.
#[derive(Clone, Debug)]
pub struct RunSearch {
    /// The experiments to search (others' and unknown ids match nothing).
    pub experiment_ids: Vec<i64>,
    /// MLflow's run filter (`metrics.acc > 0.9 AND params.lr = '0.01'`).
    pub filter: Option<String>,
    /// Active, deleted or both.
    pub run_view_type: ViewType,
    /// Page size, 1 to [`MAX_RUNS_PER_PAGE`].
    pub max_results: i64,
    /// MLflow's `order_by` entries; runs then sort by `start_time DESC`, then `run_id`.
    pub order_by: Vec<String>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A downsampled read of one metric over several runs (MLflow's
/// `get-history-bulk-interval`).
#[derive(Clone, Debug)]
pub struct BulkIntervalQuery {
    /// The runs (all of the project).
    pub run_ids: Vec<String>,
    /// The metric.
    pub metric_key: String,
    /// First step, inclusive; given together with `end_step` or not at all.
    pub start_step: Option<i64>,
    /// Last step, inclusive.
    pub end_step: Option<i64>,
    /// Points per run at most (values below 1 count as 1).
    pub max_results: i64,
}

/// How many runs an experiment holds and when the latest of them started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentRunStats {
    /// The experiment.
    pub experiment_id: i64,
    /// Its runs in the view asked for.
    pub runs: i64,
    /// The latest start time among them, ms since the epoch.
    pub last_start_time: Option<i64>,
}

/// One dataset used by runs of an experiment, with the context it was used in (MLflow's
/// `DatasetSummary`, which its UI lists per experiment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSummary {
    /// The experiment.
    pub experiment_id: i64,
    /// The dataset's name.
    pub name: String,
    /// Its digest.
    pub digest: String,
    /// The `mlflow.data.context` tag of a use of it (`training` …), if it had one.
    pub context: Option<String>,
}

/// The most dataset summaries one search returns (MLflow's).
pub const MAX_DATASET_SUMMARIES: i64 = 1_000;

/// The most keys of one kind [`TrackingStore::experiment_keys`] returns.
pub const MAX_EXPERIMENT_KEYS: usize = 1_000;

/// The distinct metric, param and tag keys logged by an experiment's runs (deleted runs
/// included), each list sorted and at most [`MAX_EXPERIMENT_KEYS`] long.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExperimentKeys {
    /// Metric keys (of the runs' latest values).
    pub metrics: Vec<String>,
    /// Param keys.
    pub params: Vec<String>,
    /// Run tag keys, MLflow's system tags (`mlflow.…`) included.
    pub tags: Vec<String>,
    /// Whether a list was cut at [`MAX_EXPERIMENT_KEYS`].
    pub truncated: bool,
}

/// The most buckets one [`MetricChartQuery`] may ask for.
pub const MAX_CHART_BUCKETS: i64 = 2_000;

/// A downsampled read of one metric of one run for a chart: the history in a step range,
/// cut into at most `max_buckets` equal step ranges.
#[derive(Clone, Debug)]
pub struct MetricChartQuery {
    /// The run (of the project).
    pub run_id: String,
    /// The metric.
    pub metric_key: String,
    /// First step, inclusive; `None`: the history's first.
    pub min_step: Option<i64>,
    /// Last step, inclusive; `None`: the history's last.
    pub max_step: Option<i64>,
    /// Buckets at most, 1 to [`MAX_CHART_BUCKETS`].
    pub max_buckets: i64,
}

/// The points of one step range of a [`MetricChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct MetricBucket {
    /// The range's first step that has a point.
    pub first_step: i64,
    /// The range's last step that has a point.
    pub last_step: i64,
    /// The earliest timestamp (ms) in the range.
    pub min_timestamp: i64,
    /// The latest timestamp (ms) in the range.
    pub max_timestamp: i64,
    /// The smallest value, NaN left out (`None` when every value is NaN).
    pub min: Option<f64>,
    /// The largest value, NaN left out.
    pub max: Option<f64>,
    /// The value of the range's last point (at `last_step`: greatest timestamp, then
    /// value); NaN when that point is NaN.
    pub last: f64,
    /// The last point's timestamp (ms).
    pub last_timestamp: i64,
    /// How many points the range holds.
    pub points: i64,
}

/// One metric of one run, downsampled by step.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricChart {
    /// The first and last step of the whole history (`None`: no points at all).
    pub history_steps: Option<(i64, i64)>,
    /// The step range the buckets cover (`None`: no points in it).
    pub range: Option<(i64, i64)>,
    /// The buckets in step order; empty ones are left out.
    pub buckets: Vec<MetricBucket>,
}

/// A logged model to create.
#[derive(Clone, Debug, Default)]
pub struct NewLoggedModel {
    /// The experiment (of the same project, active).
    pub experiment_id: i64,
    /// Its name; `None`: a generated one.
    pub name: Option<String>,
    /// The run that creates it.
    pub source_run_id: Option<String>,
    /// A free-form type.
    pub model_type: Option<String>,
    /// Initial tags.
    pub tags: Vec<LoggedModelTag>,
    /// Initial params.
    pub params: Vec<LoggedModelParameter>,
}

/// A dataset a logged-model search restricts metrics to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFilter {
    /// The dataset's name.
    pub dataset_name: String,
    /// Its digest, if the filter names one.
    pub dataset_digest: Option<String>,
}

/// One ordering of a logged-model search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedModelOrderBy {
    /// An attribute (`creation_timestamp`, `name` …) or `metrics.<key>`.
    pub field_name: String,
    /// Ascending (the default) or not.
    pub ascending: bool,
    /// For metrics: only values on this dataset.
    pub dataset_name: Option<String>,
    /// For metrics: only values on this dataset digest.
    pub dataset_digest: Option<String>,
}

/// A search over a project's logged models.
#[derive(Clone, Debug)]
pub struct LoggedModelSearch {
    /// The experiments to search.
    pub experiment_ids: Vec<i64>,
    /// MLflow's logged-model filter (`metrics.acc > 0.9 AND params.lr = '0.01'`).
    pub filter: Option<String>,
    /// Metric filters count only values on these datasets.
    pub datasets: Vec<DatasetFilter>,
    /// Orderings; then `creation_timestamp DESC`, then `model_id`.
    pub order_by: Vec<LoggedModelOrderBy>,
    /// Page size (at least 1).
    pub max_results: i64,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One point of a metric's history (its key is the one asked for).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricPoint {
    /// The value, bit for bit as logged (NaN as NaN).
    pub value: f64,
    /// When it was measured, ms since the epoch.
    pub timestamp: i64,
    /// The training step.
    pub step: i64,
}

/// Stores experiments, runs and logged models, per project.
#[async_trait]
pub trait TrackingStore: Send + Sync {
    // --- experiments ---

    /// Creates an experiment; `AlreadyExists` when the project has one of that name.
    async fn create_experiment(
        &self,
        project_id: &str,
        experiment: &NewExperiment,
        now_ms: i64,
    ) -> StoreResult<Experiment>;

    /// Returns the id of the project's default experiment (`0` on the wire), creating it
    /// on first use: one indexed read once it exists, where
    /// [`TrackingStore::ensure_default_experiment`] also loads the experiment and its tags.
    async fn default_experiment_id(&self, project_id: &str, now_ms: i64) -> StoreResult<i64>;

    /// Returns the project's default experiment (MLflow's experiment `0`), creating it as
    /// `Default` on first use; concurrent callers get the same one.
    async fn ensure_default_experiment(
        &self,
        project_id: &str,
        now_ms: i64,
    ) -> StoreResult<Experiment>;

    /// Returns an experiment of the project, active or deleted.
    async fn get_experiment(&self, project_id: &str, experiment_id: i64)
        -> StoreResult<Experiment>;

    /// Returns the project's experiment of that name, active or deleted.
    async fn get_experiment_by_name(&self, project_id: &str, name: &str)
        -> StoreResult<Experiment>;

    /// Searches the project's experiments with MLflow's filter and order, keyset-paged.
    async fn search_experiments(
        &self,
        project_id: &str,
        search: &ExperimentSearch,
    ) -> StoreResult<Page<Experiment>>;

    /// Renames an active experiment.
    async fn rename_experiment(
        &self,
        project_id: &str,
        experiment_id: i64,
        new_name: &str,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Soft-deletes an active experiment and every run in it.
    async fn delete_experiment(
        &self,
        project_id: &str,
        experiment_id: i64,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Restores a deleted experiment and every run in it.
    async fn restore_experiment(
        &self,
        project_id: &str,
        experiment_id: i64,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Sets a tag on an active experiment.
    async fn set_experiment_tag(
        &self,
        project_id: &str,
        experiment_id: i64,
        tag: &ExperimentTag,
    ) -> StoreResult<()>;

    /// Removes a tag from an active experiment; `NotFound` when it has none of that key.
    async fn delete_experiment_tag(
        &self,
        project_id: &str,
        experiment_id: i64,
        key: &str,
    ) -> StoreResult<()>;

    // --- runs ---

    /// Creates a run (status `RUNNING`) with a new id, in an active experiment.
    async fn create_run(&self, project_id: &str, run: &NewRun) -> StoreResult<Run>;

    /// Returns a run with its latest metrics, params, tags, inputs and outputs.
    async fn get_run(&self, project_id: &str, run_id: &str) -> StoreResult<Run>;

    /// Changes an active run's status, end time or name.
    async fn update_run(
        &self,
        project_id: &str,
        run_id: &str,
        update: &RunUpdate,
    ) -> StoreResult<RunInfo>;

    /// Soft-deletes a run.
    async fn delete_run(&self, project_id: &str, run_id: &str, now_ms: i64) -> StoreResult<()>;

    /// Restores a deleted run.
    async fn restore_run(&self, project_id: &str, run_id: &str) -> StoreResult<()>;

    /// Sets a tag on an active run (`mlflow.runName` renames the run).
    async fn set_run_tag(&self, project_id: &str, run_id: &str, tag: &RunTag) -> StoreResult<()>;

    /// Removes a tag from an active run; `NotFound` when it has none of that key.
    async fn delete_run_tag(&self, project_id: &str, run_id: &str, key: &str) -> StoreResult<()>;

    /// Logs a param; logging the same key with another value is refused.
    async fn log_param(&self, project_id: &str, run_id: &str, param: &Param) -> StoreResult<()>;

    /// Logs one metric point (history and latest value, in one transaction).
    async fn log_metric(&self, project_id: &str, run_id: &str, metric: &Metric) -> StoreResult<()>;

    /// Logs metrics, params and tags in one transaction within MLflow's batch limits.
    async fn log_batch(&self, project_id: &str, run_id: &str, batch: &LogBatch) -> StoreResult<()>;

    /// Records datasets (deduplicated per experiment by name and digest) and logged models
    /// an active run used.
    async fn log_inputs(
        &self,
        project_id: &str,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> StoreResult<()>;

    /// Records logged models an active run produced.
    async fn log_outputs(
        &self,
        project_id: &str,
        run_id: &str,
        models: &[ModelOutput],
    ) -> StoreResult<()>;

    /// Returns one metric's history by `(step, timestamp)`, keyset-paged when `max_results`
    /// is given (else everything), as bare points: what `get-history` answers, without a
    /// copy of the key (and of the rest of a [`Metric`]) per point.
    async fn get_metric_history_points(
        &self,
        project_id: &str,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> StoreResult<Page<MetricPoint>>;

    /// Returns one metric's history by `(step, timestamp)`, keyset-paged when `max_results`
    /// is given (else everything).
    async fn get_metric_history(
        &self,
        project_id: &str,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> StoreResult<Page<Metric>>;

    /// Returns up to `max_results` points per run, sampled evenly over each run's history
    /// (first and last points kept), as MLflow's `get-history-bulk-interval`.
    async fn get_metric_history_bulk_interval(
        &self,
        project_id: &str,
        query: &BulkIntervalQuery,
    ) -> StoreResult<Vec<MetricWithRunId>>;

    /// The datasets runs of the project's experiments named have used, one entry per
    /// distinct (experiment, name, digest, context), at most [`MAX_DATASET_SUMMARIES`]
    /// (MLflow's `search-datasets`; other projects' and unknown experiments add nothing).
    async fn search_dataset_summaries(
        &self,
        project_id: &str,
        experiment_ids: &[i64],
    ) -> StoreResult<Vec<DatasetSummary>>;

    /// Counts the runs of the view in each of the project's experiments named (others'
    /// and unknown ids are left out, as are experiments without such runs).
    async fn experiment_run_stats(
        &self,
        project_id: &str,
        experiment_ids: &[i64],
        view_type: ViewType,
    ) -> StoreResult<Vec<ExperimentRunStats>>;

    /// The distinct metric, param and tag keys of an experiment of the project (a skip
    /// scan of each table's `(experiment_id, key, …)` index: one index seek per key, so
    /// the cost follows the number of keys, not of runs). An experiment of another
    /// project is `NotFound`.
    async fn experiment_keys(
        &self,
        project_id: &str,
        experiment_id: i64,
    ) -> StoreResult<ExperimentKeys>;

    /// Returns one metric of a run downsampled for a chart: the step range (given, else
    /// the history's) split into at most `max_buckets` equal step ranges, each with its
    /// min, max and last value, computed in SQL.
    async fn get_metric_chart(
        &self,
        project_id: &str,
        query: &MetricChartQuery,
    ) -> StoreResult<MetricChart>;

    /// Searches runs with MLflow's filter and order, compiled to SQL, keyset-paged.
    async fn search_runs(&self, project_id: &str, search: &RunSearch) -> StoreResult<Page<Run>>;

    // --- logged models (MLflow 3) ---

    /// Creates a logged model (status `PENDING`) in an active experiment.
    async fn create_logged_model(
        &self,
        project_id: &str,
        model: &NewLoggedModel,
        now_ms: i64,
    ) -> StoreResult<LoggedModel>;

    /// Returns a logged model that is not deleted.
    async fn get_logged_model(&self, project_id: &str, model_id: &str) -> StoreResult<LoggedModel>;

    /// Sets a logged model's status (`READY` once its artifacts are uploaded).
    async fn finalize_logged_model(
        &self,
        project_id: &str,
        model_id: &str,
        status: LoggedModelStatus,
        now_ms: i64,
    ) -> StoreResult<LoggedModel>;

    /// Sets tags on a logged model (the last value of a repeated key wins).
    async fn set_logged_model_tags(
        &self,
        project_id: &str,
        model_id: &str,
        tags: &[LoggedModelTag],
    ) -> StoreResult<()>;

    /// Removes a tag; `NotFound` when the model has none of that key.
    async fn delete_logged_model_tag(
        &self,
        project_id: &str,
        model_id: &str,
        key: &str,
    ) -> StoreResult<()>;

    /// Sets params on a logged model.
    async fn log_logged_model_params(
        &self,
        project_id: &str,
        model_id: &str,
        params: &[LoggedModelParameter],
    ) -> StoreResult<()>;

    /// Soft-deletes a logged model.
    async fn delete_logged_model(
        &self,
        project_id: &str,
        model_id: &str,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Searches logged models that are not deleted, keyset-paged.
    async fn search_logged_models(
        &self,
        project_id: &str,
        search: &LoggedModelSearch,
    ) -> StoreResult<Page<LoggedModel>>;
}
