//! Runs, their metrics, params, tags and inputs/outputs, and MLflow 3 logged models.

use plinth_metastore::{self as store, NewRun};
pub use plinth_metastore::{
    DatasetFilter, DatasetSummary, ExperimentKeys, ExperimentRunStats, LoggedModelOrderBy,
    MetricBucket, MetricChart, MetricPoint, MAX_CHART_BUCKETS, MAX_RUNS_PER_PAGE,
};
use plinth_types::{
    DatasetInput, LoggedModel, LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric,
    MetricWithRunId, ModelInput, ModelOutput, Page, Param, Run, RunInfo, RunStatus, RunTag,
    ViewType,
};

use plinth_types::HasErrorKind;

use super::{TrackingPass, TrackingService};
use crate::{CoreError, CoreResult};

/// A run to create, as the client sends it.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// The experiment on the wire (`0`: the default one).
    pub experiment_id: String,
    /// The run's name, if given.
    pub run_name: Option<String>,
    /// Start, ms since the epoch; now when not given.
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: Vec<RunTag>,
}

/// Changes to a run's fixed part; `None` keeps the field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunUpdate {
    /// New status.
    pub status: Option<RunStatus>,
    /// End, ms since the epoch.
    pub end_time: Option<i64>,
    /// New name (the `mlflow.runName` tag follows).
    pub run_name: Option<String>,
}

impl From<&RunUpdate> for store::RunUpdate {
    fn from(update: &RunUpdate) -> Self {
        store::RunUpdate {
            status: update.status,
            end_time: update.end_time,
            run_name: update.run_name.clone(),
        }
    }
}

/// Metrics, params and tags to log in one transaction (within the store's
/// `MAX_*_PER_BATCH` limits, which it checks with MLflow's messages).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogBatch {
    /// Metric points.
    pub metrics: Vec<Metric>,
    /// Params, keys unique.
    pub params: Vec<Param>,
    /// Tags.
    pub tags: Vec<RunTag>,
}

impl From<LogBatch> for store::LogBatch {
    fn from(batch: LogBatch) -> Self {
        store::LogBatch {
            metrics: batch.metrics,
            params: batch.params,
            tags: batch.tags,
        }
    }
}

/// A search over runs; the experiments to search are named separately, as on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSearch {
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl From<&BulkIntervalQuery> for store::BulkIntervalQuery {
    fn from(query: &BulkIntervalQuery) -> Self {
        store::BulkIntervalQuery {
            run_ids: query.run_ids.clone(),
            metric_key: query.metric_key.clone(),
            start_step: query.start_step,
            end_step: query.end_step,
            max_results: query.max_results,
        }
    }
}

/// A downsampled read of one metric of one run for a chart: the history in a step range,
/// cut into at most `max_buckets` equal step ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl From<&MetricChartQuery> for store::MetricChartQuery {
    fn from(query: &MetricChartQuery) -> Self {
        store::MetricChartQuery {
            run_id: query.run_id.clone(),
            metric_key: query.metric_key.clone(),
            min_step: query.min_step,
            max_step: query.max_step,
            max_buckets: query.max_buckets,
        }
    }
}

/// A logged model to create; its experiment is named separately, as on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewLoggedModel {
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

/// A search over logged models; the experiments to search are named separately, as on
/// the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedModelSearch {
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

/// The run tag naming the job (workload id) whose token created the run. Only the server
/// sets it: clients may neither set nor delete it.
pub const JOB_ID_TAG: &str = "plinth.job_id";

/// Refuses tags only the server sets.
fn refuse_server_tags<'a>(keys: impl IntoIterator<Item = &'a str>) -> CoreResult<()> {
    for key in keys {
        if key == JOB_ID_TAG {
            return Err(CoreError::InvalidArgument(format!(
                "the tag `{JOB_ID_TAG}` is set by the server for runs a job creates; \
                 it cannot be set or deleted"
            )));
        }
    }
    Ok(())
}

impl TrackingService {
    /// Creates a run. Its `user_id` is the caller's login name, whatever the client says.
    ///
    /// A run created with a job's token gets the job in the tag [`JOB_ID_TAG`], set here
    /// and never taken from a client.
    pub async fn create_run(&self, pass: &TrackingPass, request: RunRequest) -> CoreResult<Run> {
        pass.require_write()?;
        refuse_server_tags(request.tags.iter().map(|tag| tag.key.as_str()))?;
        let experiment_id = self.experiment_id(pass, &request.experiment_id).await?;
        let mut tags = request.tags;
        if let Some(token_id) = pass.token_id.as_deref() {
            if let Some(job) = self
                .store()
                .workload_for_token(pass.project_id(), token_id)
                .await?
            {
                tags.push(RunTag {
                    key: JOB_ID_TAG.to_string(),
                    value: job,
                });
            }
        }
        let run = NewRun {
            experiment_id,
            user_id: pass.username().to_string(),
            start_time: request.start_time.unwrap_or_else(|| self.now()),
            run_name: request.run_name.filter(|name| !name.is_empty()),
            tags,
        };
        Ok(self.store().create_run(pass.project_id(), &run).await?)
    }

    /// Returns a run with everything it logged.
    pub async fn get_run(&self, pass: &TrackingPass, run_id: &str) -> CoreResult<Run> {
        Ok(self.store().get_run(pass.project_id(), run_id).await?)
    }

    /// Changes a run's status, end time or name.
    pub async fn update_run(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        update: &RunUpdate,
    ) -> CoreResult<RunInfo> {
        pass.require_write()?;
        Ok(self
            .store()
            .update_run(pass.project_id(), run_id, &update.into())
            .await?)
    }

    /// Soft-deletes a run.
    pub async fn delete_run(&self, pass: &TrackingPass, run_id: &str) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_run(pass.project_id(), run_id, self.now())
            .await?)
    }

    /// Restores a deleted run.
    pub async fn restore_run(&self, pass: &TrackingPass, run_id: &str) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self.store().restore_run(pass.project_id(), run_id).await?)
    }

    /// Sets a tag on a run.
    pub async fn set_run_tag(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        tag: &RunTag,
    ) -> CoreResult<()> {
        pass.require_write()?;
        refuse_server_tags([tag.key.as_str()])?;
        Ok(self
            .store()
            .set_run_tag(pass.project_id(), run_id, tag)
            .await?)
    }

    /// Removes a tag from a run.
    pub async fn delete_run_tag(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        key: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        refuse_server_tags([key])?;
        Ok(self
            .store()
            .delete_run_tag(pass.project_id(), run_id, key)
            .await?)
    }

    /// Logs a param.
    pub async fn log_param(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        param: &Param,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .log_param(pass.project_id(), run_id, param)
            .await?)
    }

    /// Logs one metric point.
    pub async fn log_metric(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        metric: &Metric,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .log_metric(pass.project_id(), run_id, metric)
            .await?)
    }

    /// Logs metrics, params and tags in one transaction.
    pub async fn log_batch(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        batch: LogBatch,
    ) -> CoreResult<()> {
        pass.require_write()?;
        refuse_server_tags(batch.tags.iter().map(|tag| tag.key.as_str()))?;
        Ok(self
            .store()
            .log_batch(pass.project_id(), run_id, &batch.into())
            .await?)
    }

    /// Records datasets and logged models a run used.
    pub async fn log_inputs(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .log_inputs(pass.project_id(), run_id, datasets, models)
            .await?)
    }

    /// Records logged models a run produced.
    pub async fn log_outputs(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        models: &[ModelOutput],
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .log_outputs(pass.project_id(), run_id, models)
            .await?)
    }

    /// Returns one metric's history as bare points, paged when `max_results` is given:
    /// what `get-history` encodes (see [`TrackingService::get_metric_history`]).
    pub async fn get_metric_history_points(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> CoreResult<Page<MetricPoint>> {
        Ok(self
            .store()
            .get_metric_history_points(
                pass.project_id(),
                run_id,
                metric_key,
                max_results,
                page_token,
            )
            .await?)
    }

    /// Returns one metric's history, paged when `max_results` is given.
    pub async fn get_metric_history(
        &self,
        pass: &TrackingPass,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> CoreResult<Page<Metric>> {
        Ok(self
            .store()
            .get_metric_history(
                pass.project_id(),
                run_id,
                metric_key,
                max_results,
                page_token,
            )
            .await?)
    }

    /// Returns a metric's whole history over several runs, as MLflow's
    /// `get-history-bulk` (which the UI uses): runs by id, each run's points by timestamp,
    /// step and value, at most `max_results` points in all. Runs the project does not have
    /// add nothing, as in MLflow.
    pub async fn get_metric_history_bulk(
        &self,
        pass: &TrackingPass,
        run_ids: &[String],
        metric_key: &str,
        max_results: usize,
    ) -> CoreResult<Vec<MetricWithRunId>> {
        let mut run_ids: Vec<&String> = run_ids.iter().collect();
        run_ids.sort();
        run_ids.dedup();
        let mut metrics = Vec::new();
        for run_id in run_ids {
            if metrics.len() >= max_results {
                break;
            }
            let history = match self
                .store()
                .get_metric_history(pass.project_id(), run_id, metric_key, None, None)
                .await
            {
                Ok(history) => history.items,
                Err(error) if error.kind() == plinth_types::ErrorKind::NotFound => continue,
                Err(error) => return Err(error.into()),
            };
            let mut points: Vec<Metric> = history;
            // MLflow stores NaN as 0 and sorts by the stored value.
            let sort_value = |metric: &Metric| {
                if metric.value.is_nan() {
                    0.0
                } else {
                    metric.value
                }
            };
            points.sort_by(|a, b| {
                (a.timestamp, a.step)
                    .cmp(&(b.timestamp, b.step))
                    .then(sort_value(a).total_cmp(&sort_value(b)))
            });
            metrics.extend(
                points
                    .into_iter()
                    .take(max_results - metrics.len())
                    .map(|metric| MetricWithRunId {
                        key: metric.key,
                        value: metric.value,
                        timestamp: metric.timestamp,
                        step: metric.step,
                        run_id: run_id.clone(),
                    }),
            );
        }
        Ok(metrics)
    }

    /// The datasets used by runs of the experiments named on the wire (MLflow's
    /// `search-datasets`).
    pub async fn search_datasets(
        &self,
        pass: &TrackingPass,
        experiment_ids: &[String],
    ) -> CoreResult<Vec<DatasetSummary>> {
        let ids = self.experiment_ids(pass, experiment_ids).await?;
        Ok(self
            .store()
            .search_dataset_summaries(pass.project_id(), &ids)
            .await?)
    }

    /// Returns a metric sampled over several runs.
    pub async fn get_metric_history_bulk_interval(
        &self,
        pass: &TrackingPass,
        query: &BulkIntervalQuery,
    ) -> CoreResult<Vec<MetricWithRunId>> {
        Ok(self
            .store()
            .get_metric_history_bulk_interval(pass.project_id(), &query.into())
            .await?)
    }

    /// Returns one metric of a run downsampled by step for a chart.
    pub async fn get_metric_chart(
        &self,
        pass: &TrackingPass,
        query: &MetricChartQuery,
    ) -> CoreResult<MetricChart> {
        Ok(self
            .store()
            .get_metric_chart(pass.project_id(), &query.into())
            .await?)
    }

    /// The distinct metric, param and tag keys an experiment's runs logged (the runs
    /// table's column chooser), each list at most `MAX_EXPERIMENT_KEYS` long.
    pub async fn experiment_keys(
        &self,
        pass: &TrackingPass,
        experiment_id: &str,
    ) -> CoreResult<ExperimentKeys> {
        let id = self.experiment_id(pass, experiment_id).await?;
        Ok(self.store().experiment_keys(pass.project_id(), id).await?)
    }

    /// Counts the runs (of the view) of the project's experiments named.
    pub async fn experiment_run_stats(
        &self,
        pass: &TrackingPass,
        experiment_ids: &[i64],
        view_type: ViewType,
    ) -> CoreResult<Vec<ExperimentRunStats>> {
        Ok(self
            .store()
            .experiment_run_stats(pass.project_id(), experiment_ids, view_type)
            .await?)
    }

    /// Searches runs of the experiments named on the wire (`0`: the default one).
    pub async fn search_runs(
        &self,
        pass: &TrackingPass,
        experiment_ids: &[String],
        search: RunSearch,
    ) -> CoreResult<Page<Run>> {
        let search = store::RunSearch {
            experiment_ids: self.experiment_ids(pass, experiment_ids).await?,
            filter: search.filter,
            run_view_type: search.run_view_type,
            max_results: search.max_results,
            order_by: search.order_by,
            page_token: search.page_token,
        };
        Ok(self.store().search_runs(pass.project_id(), &search).await?)
    }

    /// The runs a job created (their [`JOB_ID_TAG`] names it), newest first, at most
    /// `max_results`, across the project's newest 1000 experiments (deleted ones and their
    /// runs included).
    pub async fn runs_of_job(
        &self,
        pass: &TrackingPass,
        job_id: &str,
        max_results: i64,
    ) -> CoreResult<Vec<Run>> {
        let search = store::RunSearch {
            experiment_ids: self.newest_experiments(pass, ViewType::All).await?,
            filter: Some(format!(
                "tags.`{JOB_ID_TAG}` = '{}'",
                job_id.replace('\\', "\\\\").replace('\'', "\\'")
            )),
            run_view_type: ViewType::All,
            max_results,
            order_by: vec!["attributes.start_time DESC".to_string()],
            page_token: None,
        };
        Ok(self
            .store()
            .search_runs(pass.project_id(), &search)
            .await?
            .items)
    }

    /// The project's most recently started active runs, at most `max_results`, across its
    /// newest 1000 active experiments (the home page's "recent runs").
    pub async fn recent_runs(&self, pass: &TrackingPass, max_results: i64) -> CoreResult<Vec<Run>> {
        let experiment_ids = self.newest_experiments(pass, ViewType::ActiveOnly).await?;
        if experiment_ids.is_empty() {
            return Ok(Vec::new());
        }
        let search = store::RunSearch {
            experiment_ids,
            filter: None,
            run_view_type: ViewType::ActiveOnly,
            max_results,
            order_by: vec!["attributes.start_time DESC".to_string()],
            page_token: None,
        };
        Ok(self
            .store()
            .search_runs(pass.project_id(), &search)
            .await?
            .items)
    }

    /// The ids of the project's newest 1000 experiments of the view.
    async fn newest_experiments(
        &self,
        pass: &TrackingPass,
        view: ViewType,
    ) -> CoreResult<Vec<i64>> {
        let experiments = self
            .search_experiments(
                pass,
                &super::ExperimentSearch {
                    view_type: view,
                    filter: None,
                    order_by: Vec::new(),
                    max_results: 1_000,
                    page_token: None,
                },
            )
            .await?;
        Ok(experiments
            .items
            .iter()
            .map(|experiment| experiment.experiment_id)
            .collect())
    }

    // ---------- logged models ----------

    /// Creates a logged model in an experiment named on the wire.
    pub async fn create_logged_model(
        &self,
        pass: &TrackingPass,
        experiment_id: &str,
        model: NewLoggedModel,
    ) -> CoreResult<LoggedModel> {
        pass.require_write()?;
        let model = store::NewLoggedModel {
            experiment_id: self.experiment_id(pass, experiment_id).await?,
            name: model.name,
            source_run_id: model.source_run_id,
            model_type: model.model_type,
            tags: model.tags,
            params: model.params,
        };
        Ok(self
            .store()
            .create_logged_model(pass.project_id(), &model, self.now())
            .await?)
    }

    /// Returns a logged model.
    pub async fn get_logged_model(
        &self,
        pass: &TrackingPass,
        model_id: &str,
    ) -> CoreResult<LoggedModel> {
        Ok(self
            .store()
            .get_logged_model(pass.project_id(), model_id)
            .await?)
    }

    /// Sets a logged model's status.
    pub async fn finalize_logged_model(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> CoreResult<LoggedModel> {
        pass.require_write()?;
        Ok(self
            .store()
            .finalize_logged_model(pass.project_id(), model_id, status, self.now())
            .await?)
    }

    /// Sets tags on a logged model and returns it.
    pub async fn set_logged_model_tags(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        tags: &[LoggedModelTag],
    ) -> CoreResult<LoggedModel> {
        pass.require_write()?;
        self.store()
            .set_logged_model_tags(pass.project_id(), model_id, tags)
            .await?;
        self.get_logged_model(pass, model_id).await
    }

    /// Removes a tag from a logged model.
    pub async fn delete_logged_model_tag(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        key: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_logged_model_tag(pass.project_id(), model_id, key)
            .await?)
    }

    /// Sets params on a logged model.
    pub async fn log_logged_model_params(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        params: &[LoggedModelParameter],
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .log_logged_model_params(pass.project_id(), model_id, params)
            .await?)
    }

    /// Soft-deletes a logged model.
    pub async fn delete_logged_model(&self, pass: &TrackingPass, model_id: &str) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_logged_model(pass.project_id(), model_id, self.now())
            .await?)
    }

    /// Searches logged models of the experiments named on the wire.
    pub async fn search_logged_models(
        &self,
        pass: &TrackingPass,
        experiment_ids: &[String],
        search: LoggedModelSearch,
    ) -> CoreResult<Page<LoggedModel>> {
        let search = store::LoggedModelSearch {
            experiment_ids: self.experiment_ids(pass, experiment_ids).await?,
            filter: search.filter,
            datasets: search.datasets,
            order_by: search.order_by,
            max_results: search.max_results,
            page_token: search.page_token,
        };
        Ok(self
            .store()
            .search_logged_models(pass.project_id(), &search)
            .await?)
    }
}
