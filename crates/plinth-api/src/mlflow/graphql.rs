//! MLflow's `/graphql` endpoint, which its web UI queries: the same schema (type, field,
//! input and enum names of `mlflow/server/graphql/`, generated there from the protobuf
//! messages by graphene), the same resolvers' behaviour, and the same answer,
//! `{"data": …, "errors": [messages] | null}`.
//!
//! As graphene reads MLflow's protobuf messages, fields a message leaves unset read as
//! their defaults (`""`, `"0"`, `[]`); int64 fields are `LongString`s; a metric's `value` is
//! `null` when it is NaN (and, in Plinth, when it is infinite: GraphQL's `Float` has no
//! infinities; MLflow clamps those to ±1.8e308 when it stores them). The UI's queries carry
//! `@component(name: …)` on the operation, which is accepted and ignored, as in MLflow.
//! MLflow's query limits apply before anything runs: depth 10, 1000 selections, 10 root
//! fields, 10 aliases per selection set.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{
    Context, EmptySubscription, Enum, InputObject, InputValueError, InputValueResult, Object,
    Positioned, Scalar, ScalarType, Schema, SimpleObject,
};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_core::tracking::ArtifactFile;
use plinth_core::tracking::{
    BulkIntervalQuery, RegistrySearch, RunSearch, MAX_MODEL_VERSIONS_PER_PAGE, MAX_RUNS_PER_PAGE,
};
use plinth_core::{TrackingPass, TrackingService};
use plinth_types::{
    Experiment, MetricWithRunId, ModelVersion, ModelVersionStatus, Run, RunStatus, ViewType,
};
use serde_json::{json, Value};

use super::wire::{Message, MlflowError, MlflowResult};
use super::Scoped;

/// MLflow's limits on a query (`graphql_no_batching.py`, and the defaults of
/// `MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS` and `MLFLOW_SERVER_GRAPHQL_MAX_ALIASES`).
const MAX_DEPTH: usize = 10;
const MAX_SELECTIONS: usize = 1000;
const MAX_ROOT_FIELDS: usize = 10;
const MAX_ALIASES: usize = 10;

type GqlResult<T> = async_graphql::Result<T>;

fn gql_error(error: impl Into<MlflowError>) -> async_graphql::Error {
    async_graphql::Error::new(error.into().message().to_string())
}

/// A resolver's answer as graphene gives it: on an error the field is `null` and the
/// error's message is listed, the rest of the answer stays.
fn or_null<T>(ctx: &Context<'_>, result: GqlResult<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            ctx.add_error(error.into_server_error(ctx.item.pos));
            None
        }
    }
}

fn tracking<'a>(ctx: &'a Context<'_>) -> (&'a TrackingService, &'a TrackingPass) {
    (
        ctx.data_unchecked::<TrackingService>(),
        ctx.data_unchecked::<TrackingPass>(),
    )
}

// ---------- scalars and enums ----------

/// graphene's `LongString`: an int64 written as a string (JavaScript would round it).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LongString(i64);

#[Scalar(name = "LongString")]
impl ScalarType for LongString {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        match &value {
            async_graphql::Value::Number(number) => number
                .as_i64()
                .map(LongString)
                .ok_or_else(|| InputValueError::custom("not an integer")),
            async_graphql::Value::String(text) => text
                .trim()
                .parse()
                .map(LongString)
                .map_err(|_| InputValueError::custom("not an integer")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.to_string())
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MlflowRunStatus")]
enum MlflowRunStatus {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl From<RunStatus> for MlflowRunStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Running => MlflowRunStatus::Running,
            RunStatus::Scheduled => MlflowRunStatus::Scheduled,
            RunStatus::Finished => MlflowRunStatus::Finished,
            RunStatus::Failed => MlflowRunStatus::Failed,
            RunStatus::Killed => MlflowRunStatus::Killed,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MlflowViewType")]
enum MlflowViewType {
    ActiveOnly,
    DeletedOnly,
    All,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MlflowModelVersionStatus")]
enum MlflowModelVersionStatus {
    PendingRegistration,
    FailedRegistration,
    Ready,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MlflowDeploymentJobConnectionState")]
enum MlflowDeploymentJobConnectionState {
    DeploymentJobConnectionStateUnspecified,
    NotSetUp,
    Connected,
    NotFound,
    RequiredParametersChanged,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "MlflowModelVersionDeploymentJobStateDeploymentJobRunState")]
enum MlflowDeploymentJobRunState {
    DeploymentJobRunStateUnspecified,
    NoValidDeploymentJobFound,
    Running,
    Succeeded,
    Failed,
    Pending,
    Approval,
}

// ---------- output types ----------

#[derive(SimpleObject, Default)]
#[graphql(name = "ErrorDetail")]
struct ErrorDetail {
    field: Option<String>,
    message: Option<String>,
}

/// MLflow's `ApiError` (never set by its own server: errors go to `errors`).
#[derive(SimpleObject, Default)]
#[graphql(name = "ApiError")]
struct ApiError {
    code: Option<String>,
    message: Option<String>,
    help_url: Option<String>,
    trace_id: Option<String>,
    error_details: Option<Vec<Option<ErrorDetail>>>,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "MlflowExperimentTag")]
struct MlflowExperimentTag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "MlflowExperiment")]
struct MlflowExperiment {
    experiment_id: Option<String>,
    name: Option<String>,
    artifact_location: Option<String>,
    lifecycle_stage: Option<String>,
    last_update_time: Option<LongString>,
    creation_time: Option<LongString>,
    tags: Option<Vec<MlflowExperimentTag>>,
    effective_trace_archival_retention: Option<String>,
    workspace: Option<String>,
}

impl From<&Experiment> for MlflowExperiment {
    fn from(experiment: &Experiment) -> Self {
        MlflowExperiment {
            experiment_id: Some(experiment.experiment_id.to_string()),
            name: Some(experiment.name.clone()),
            artifact_location: Some(experiment.artifact_location.clone()),
            lifecycle_stage: Some(experiment.lifecycle_stage.as_str().to_string()),
            last_update_time: Some(LongString(experiment.last_update_time)),
            creation_time: Some(LongString(experiment.creation_time)),
            tags: Some(
                experiment
                    .tags
                    .iter()
                    .map(|tag| MlflowExperimentTag {
                        key: Some(tag.key.clone()),
                        value: Some(tag.value.clone()),
                    })
                    .collect(),
            ),
            effective_trace_archival_retention: Some(String::new()),
            workspace: Some(String::new()),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowGetExperimentResponse")]
struct MlflowGetExperimentResponse {
    experiment: Option<MlflowExperiment>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowRunInfo")]
struct MlflowRunInfo {
    run_id: Option<String>,
    run_uuid: Option<String>,
    run_name: Option<String>,
    experiment_id: Option<String>,
    user_id: Option<String>,
    status: Option<MlflowRunStatus>,
    start_time: Option<LongString>,
    end_time: Option<LongString>,
    artifact_uri: Option<String>,
    lifecycle_stage: Option<String>,
}

/// A metric of a run (graphene's `MlflowMetricExtension`: `value` is null for NaN).
#[derive(SimpleObject)]
#[graphql(name = "MlflowMetricExtension")]
struct MlflowMetricExtension {
    key: Option<String>,
    value: Option<f64>,
    timestamp: Option<LongString>,
    step: Option<LongString>,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
    model_id: Option<String>,
    run_id: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowParam")]
struct MlflowParam {
    key: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowRunTag")]
struct MlflowRunTag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowRunData")]
struct MlflowRunData {
    metrics: Option<Vec<MlflowMetricExtension>>,
    params: Option<Vec<MlflowParam>>,
    tags: Option<Vec<MlflowRunTag>>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowDataset")]
struct MlflowDataset {
    name: Option<String>,
    digest: Option<String>,
    source_type: Option<String>,
    source: Option<String>,
    schema: Option<String>,
    profile: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowInputTag")]
struct MlflowInputTag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowDatasetInput")]
struct MlflowDatasetInput {
    tags: Option<Vec<MlflowInputTag>>,
    dataset: Option<MlflowDataset>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelInput")]
struct MlflowModelInput {
    model_id: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowRunInputs")]
struct MlflowRunInputs {
    dataset_inputs: Option<Vec<MlflowDatasetInput>>,
    model_inputs: Option<Vec<MlflowModelInput>>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelOutput")]
struct MlflowModelOutput {
    model_id: Option<String>,
    step: Option<LongString>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowRunOutputs")]
struct MlflowRunOutputs {
    model_outputs: Option<Vec<MlflowModelOutput>>,
}

/// A finite value, else `null` (GraphQL's `Float` has no NaN or infinities).
fn graphql_float(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// A run (graphene's `MlflowRunExtension`: its experiment and model versions resolved on
/// demand).
#[derive(SimpleObject)]
#[graphql(name = "MlflowRunExtension", complex)]
struct MlflowRunExtension {
    info: Option<MlflowRunInfo>,
    data: Option<MlflowRunData>,
    inputs: Option<MlflowRunInputs>,
    outputs: Option<MlflowRunOutputs>,
    #[graphql(skip)]
    experiment_id: String,
    #[graphql(skip)]
    run_id: String,
}

#[async_graphql::ComplexObject]
impl MlflowRunExtension {
    async fn experiment(&self, ctx: &Context<'_>) -> Option<MlflowExperiment> {
        let (service, pass) = tracking(ctx);
        let experiment = service
            .get_experiment(pass, &self.experiment_id)
            .await
            .map_err(gql_error);
        or_null(ctx, experiment).map(|experiment| MlflowExperiment::from(&experiment))
    }

    async fn model_versions(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<Vec<MlflowModelVersion>>> {
        let (service, pass) = tracking(ctx);
        let search = RegistrySearch {
            filter: Some(format!("run_id='{}'", self.run_id)),
            order_by: Vec::new(),
            max_results: MAX_MODEL_VERSIONS_PER_PAGE,
            page_token: None,
        };
        let page = service
            .search_model_versions(pass, &search)
            .await
            .map_err(gql_error)?;
        Ok(Some(
            page.items.iter().map(MlflowModelVersion::from).collect(),
        ))
    }
}

impl From<&Run> for MlflowRunExtension {
    fn from(run: &Run) -> Self {
        let info = &run.info;
        MlflowRunExtension {
            info: Some(MlflowRunInfo {
                run_id: Some(info.run_id.clone()),
                run_uuid: Some(info.run_id.clone()),
                run_name: Some(info.run_name.clone()),
                experiment_id: Some(info.experiment_id.to_string()),
                user_id: Some(info.user_id.clone()),
                status: Some(info.status.into()),
                start_time: Some(LongString(info.start_time)),
                end_time: Some(LongString(info.end_time.unwrap_or(0))),
                artifact_uri: Some(info.artifact_uri.clone()),
                lifecycle_stage: Some(info.lifecycle_stage.as_str().to_string()),
            }),
            data: Some(MlflowRunData {
                metrics: Some(
                    run.data
                        .metrics
                        .iter()
                        .map(|metric| MlflowMetricExtension {
                            key: Some(metric.key.clone()),
                            value: graphql_float(metric.value),
                            timestamp: Some(LongString(metric.timestamp)),
                            step: Some(LongString(metric.step)),
                            dataset_name: Some(metric.dataset_name.clone().unwrap_or_default()),
                            dataset_digest: Some(metric.dataset_digest.clone().unwrap_or_default()),
                            model_id: Some(metric.model_id.clone().unwrap_or_default()),
                            run_id: Some(String::new()),
                        })
                        .collect(),
                ),
                params: Some(
                    run.data
                        .params
                        .iter()
                        .map(|param| MlflowParam {
                            key: Some(param.key.clone()),
                            value: Some(param.value.clone()),
                        })
                        .collect(),
                ),
                tags: Some(
                    run.data
                        .tags
                        .iter()
                        .map(|tag| MlflowRunTag {
                            key: Some(tag.key.clone()),
                            value: Some(tag.value.clone()),
                        })
                        .collect(),
                ),
            }),
            inputs: Some(MlflowRunInputs {
                dataset_inputs: Some(
                    run.inputs
                        .dataset_inputs
                        .iter()
                        .map(|input| MlflowDatasetInput {
                            tags: Some(
                                input
                                    .tags
                                    .iter()
                                    .map(|tag| MlflowInputTag {
                                        key: Some(tag.key.clone()),
                                        value: Some(tag.value.clone()),
                                    })
                                    .collect(),
                            ),
                            dataset: Some(MlflowDataset {
                                name: Some(input.dataset.name.clone()),
                                digest: Some(input.dataset.digest.clone()),
                                source_type: Some(input.dataset.source_type.clone()),
                                source: Some(input.dataset.source.clone()),
                                schema: Some(input.dataset.schema.clone().unwrap_or_default()),
                                profile: Some(input.dataset.profile.clone().unwrap_or_default()),
                            }),
                        })
                        .collect(),
                ),
                model_inputs: Some(
                    run.inputs
                        .model_inputs
                        .iter()
                        .map(|input| MlflowModelInput {
                            model_id: Some(input.model_id.clone()),
                        })
                        .collect(),
                ),
            }),
            outputs: Some(MlflowRunOutputs {
                model_outputs: Some(
                    run.outputs
                        .model_outputs
                        .iter()
                        .map(|output| MlflowModelOutput {
                            model_id: Some(output.model_id.clone()),
                            step: Some(LongString(output.step)),
                        })
                        .collect(),
                ),
            }),
            experiment_id: info.experiment_id.to_string(),
            run_id: info.run_id.clone(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowGetRunResponse")]
struct MlflowGetRunResponse {
    run: Option<MlflowRunExtension>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowSearchRunsResponse")]
struct MlflowSearchRunsResponse {
    runs: Option<Vec<MlflowRunExtension>>,
    next_page_token: Option<String>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowMetricWithRunId")]
struct MlflowMetricWithRunId {
    key: Option<String>,
    value: Option<f64>,
    timestamp: Option<LongString>,
    step: Option<LongString>,
    run_id: Option<String>,
}

impl From<&MetricWithRunId> for MlflowMetricWithRunId {
    fn from(metric: &MetricWithRunId) -> Self {
        MlflowMetricWithRunId {
            key: Some(metric.key.clone()),
            value: graphql_float(metric.value),
            timestamp: Some(LongString(metric.timestamp)),
            step: Some(LongString(metric.step)),
            run_id: Some(metric.run_id.clone()),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowGetMetricHistoryBulkIntervalResponse")]
struct MlflowGetMetricHistoryBulkIntervalResponse {
    metrics: Option<Vec<MlflowMetricWithRunId>>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowFileInfo")]
struct MlflowFileInfo {
    path: Option<String>,
    is_dir: Option<bool>,
    file_size: Option<LongString>,
}

impl From<&ArtifactFile> for MlflowFileInfo {
    fn from(file: &ArtifactFile) -> Self {
        MlflowFileInfo {
            path: Some(file.path.clone()),
            is_dir: Some(file.is_dir),
            file_size: Some(LongString(
                file.file_size
                    .map_or(0, |size| i64::try_from(size).unwrap_or(i64::MAX)),
            )),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowListArtifactsResponse")]
struct MlflowListArtifactsResponse {
    root_uri: Option<String>,
    files: Option<Vec<MlflowFileInfo>>,
    next_page_token: Option<String>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelVersionTag")]
struct MlflowModelVersionTag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelParam")]
struct MlflowModelParam {
    name: Option<String>,
    value: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelMetric")]
struct MlflowModelMetric {
    key: Option<String>,
    value: Option<f64>,
    timestamp: Option<LongString>,
    step: Option<LongString>,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
    model_id: Option<String>,
    run_id: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelVersionDeploymentJobState")]
struct MlflowModelVersionDeploymentJobState {
    job_id: Option<String>,
    run_id: Option<String>,
    job_state: Option<MlflowDeploymentJobConnectionState>,
    run_state: Option<MlflowDeploymentJobRunState>,
    current_task_name: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowModelVersion")]
struct MlflowModelVersion {
    name: Option<String>,
    version: Option<String>,
    creation_timestamp: Option<LongString>,
    last_updated_timestamp: Option<LongString>,
    user_id: Option<String>,
    current_stage: Option<String>,
    description: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    status: Option<MlflowModelVersionStatus>,
    status_message: Option<String>,
    tags: Option<Vec<MlflowModelVersionTag>>,
    run_link: Option<String>,
    aliases: Option<Vec<Option<String>>>,
    model_id: Option<String>,
    model_params: Option<Vec<MlflowModelParam>>,
    model_metrics: Option<Vec<MlflowModelMetric>>,
    deployment_job_state: Option<MlflowModelVersionDeploymentJobState>,
}

impl From<&ModelVersion> for MlflowModelVersion {
    fn from(version: &ModelVersion) -> Self {
        MlflowModelVersion {
            name: Some(version.name.clone()),
            version: Some(version.version.to_string()),
            creation_timestamp: Some(LongString(version.creation_timestamp)),
            last_updated_timestamp: Some(LongString(version.last_updated_timestamp)),
            user_id: Some(version.user_id.clone().unwrap_or_default()),
            current_stage: Some(version.current_stage.as_str().to_string()),
            description: Some(version.description.clone().unwrap_or_default()),
            source: Some(version.source.clone()),
            run_id: Some(version.run_id.clone().unwrap_or_default()),
            status: Some(match version.status {
                ModelVersionStatus::PendingRegistration => {
                    MlflowModelVersionStatus::PendingRegistration
                }
                ModelVersionStatus::FailedRegistration => {
                    MlflowModelVersionStatus::FailedRegistration
                }
                ModelVersionStatus::Ready => MlflowModelVersionStatus::Ready,
            }),
            status_message: Some(version.status_message.clone().unwrap_or_default()),
            tags: Some(
                version
                    .tags
                    .iter()
                    .map(|tag| MlflowModelVersionTag {
                        key: Some(tag.key.clone()),
                        value: Some(tag.value.clone()),
                    })
                    .collect(),
            ),
            run_link: Some(version.run_link.clone().unwrap_or_default()),
            aliases: Some(version.aliases.iter().cloned().map(Some).collect()),
            model_id: Some(version.model_id.clone().unwrap_or_default()),
            model_params: Some(Vec::new()),
            model_metrics: Some(Vec::new()),
            deployment_job_state: None,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowSearchModelVersionsResponse")]
struct MlflowSearchModelVersionsResponse {
    model_versions: Option<Vec<MlflowModelVersion>>,
    next_page_token: Option<String>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowDatasetSummary")]
struct MlflowDatasetSummary {
    experiment_id: Option<String>,
    name: Option<String>,
    digest: Option<String>,
    context: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "MlflowSearchDatasetsResponse")]
struct MlflowSearchDatasetsResponse {
    dataset_summaries: Option<Vec<MlflowDatasetSummary>>,
    api_error: Option<ApiError>,
}

#[derive(SimpleObject)]
#[graphql(name = "Test")]
struct Test {
    /// Echoes the input string
    output: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "TestMutation")]
struct TestMutation {
    /// Echoes the input string
    output: Option<String>,
}

// ---------- inputs ----------

#[derive(InputObject)]
#[graphql(name = "MlflowGetExperimentInput")]
struct MlflowGetExperimentInput {
    experiment_id: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowGetRunInput")]
struct MlflowGetRunInput {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowGetMetricHistoryBulkIntervalInput")]
struct MlflowGetMetricHistoryBulkIntervalInput {
    run_ids: Option<Vec<Option<String>>>,
    metric_key: Option<String>,
    start_step: Option<i32>,
    end_step: Option<i32>,
    max_results: Option<i32>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowListArtifactsInput")]
struct MlflowListArtifactsInput {
    run_id: Option<String>,
    run_uuid: Option<String>,
    path: Option<String>,
    page_token: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowSearchModelVersionsInput")]
struct MlflowSearchModelVersionsInput {
    filter: Option<String>,
    max_results: Option<LongString>,
    order_by: Option<Vec<Option<String>>>,
    page_token: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowSearchRunsInput")]
struct MlflowSearchRunsInput {
    experiment_ids: Option<Vec<Option<String>>>,
    filter: Option<String>,
    run_view_type: Option<MlflowViewType>,
    max_results: Option<i32>,
    order_by: Option<Vec<Option<String>>>,
    page_token: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "MlflowSearchDatasetsInput")]
struct MlflowSearchDatasetsInput {
    experiment_ids: Option<Vec<Option<String>>>,
}

fn strings(list: Option<Vec<Option<String>>>) -> Vec<String> {
    list.unwrap_or_default().into_iter().flatten().collect()
}

/// Resolvers get no `input` when the query passes none; MLflow's fail the same way.
fn input_of<T>(input: Option<T>) -> GqlResult<T> {
    input.ok_or_else(|| async_graphql::Error::new("missing required argument 'input'"))
}

// ---------- resolvers ----------

async fn search_runs(
    ctx: &Context<'_>,
    input: MlflowSearchRunsInput,
) -> GqlResult<MlflowSearchRunsResponse> {
    let (service, pass) = tracking(ctx);
    let max_results = i64::from(input.max_results.unwrap_or(1000));
    if !(1..=MAX_RUNS_PER_PAGE).contains(&max_results) {
        return Err(async_graphql::Error::new(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
             most {MAX_RUNS_PER_PAGE} and at least 1"
        )));
    }
    let search = RunSearch {
        filter: input.filter.filter(|filter| !filter.is_empty()),
        run_view_type: match input.run_view_type {
            None | Some(MlflowViewType::ActiveOnly) => ViewType::ActiveOnly,
            Some(MlflowViewType::DeletedOnly) => ViewType::DeletedOnly,
            Some(MlflowViewType::All) => ViewType::All,
        },
        max_results,
        order_by: strings(input.order_by),
        page_token: input.page_token.filter(|token| !token.is_empty()),
    };
    let page = service
        .search_runs(pass, &strings(input.experiment_ids), search)
        .await
        .map_err(gql_error)?;
    Ok(MlflowSearchRunsResponse {
        runs: Some(page.items.iter().map(MlflowRunExtension::from).collect()),
        next_page_token: Some(page.next_page_token.unwrap_or_default()),
        api_error: None,
    })
}

/// The resolvers' work; the roots turn an error into `null` and a listed message.
struct Resolve;

impl Resolve {
    async fn mlflow_get_experiment(
        ctx: &Context<'_>,
        input: Option<MlflowGetExperimentInput>,
    ) -> GqlResult<MlflowGetExperimentResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let experiment = service
            .get_experiment(pass, &input.experiment_id.unwrap_or_default())
            .await
            .map_err(gql_error)?;
        Ok(MlflowGetExperimentResponse {
            experiment: Some(MlflowExperiment::from(&experiment)),
            api_error: None,
        })
    }

    async fn mlflow_get_metric_history_bulk_interval(
        ctx: &Context<'_>,
        input: Option<MlflowGetMetricHistoryBulkIntervalInput>,
    ) -> GqlResult<MlflowGetMetricHistoryBulkIntervalResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let query = BulkIntervalQuery {
            run_ids: strings(input.run_ids),
            metric_key: input.metric_key.unwrap_or_default(),
            start_step: None,
            end_step: None,
            max_results: 2500,
        };
        let metrics = service
            .get_metric_history_bulk_interval(pass, &query)
            .await
            .map_err(gql_error)?;
        Ok(MlflowGetMetricHistoryBulkIntervalResponse {
            metrics: Some(metrics.iter().map(MlflowMetricWithRunId::from).collect()),
            api_error: None,
        })
    }

    async fn mlflow_get_run(
        ctx: &Context<'_>,
        input: Option<MlflowGetRunInput>,
    ) -> GqlResult<MlflowGetRunResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let run_id = input
            .run_id
            .filter(|id| !id.is_empty())
            .or(input.run_uuid)
            .unwrap_or_default();
        let run = service.get_run(pass, &run_id).await.map_err(gql_error)?;
        Ok(MlflowGetRunResponse {
            run: Some(MlflowRunExtension::from(&run)),
            api_error: None,
        })
    }

    async fn mlflow_list_artifacts(
        ctx: &Context<'_>,
        input: Option<MlflowListArtifactsInput>,
    ) -> GqlResult<MlflowListArtifactsResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let run_id = input
            .run_id
            .filter(|id| !id.is_empty())
            .or(input.run_uuid)
            .unwrap_or_default();
        let listing = service
            .list_run_artifacts(pass, &run_id, input.path.as_deref())
            .await
            .map_err(gql_error)?;
        Ok(MlflowListArtifactsResponse {
            root_uri: Some(listing.root_uri.clone()),
            files: Some(listing.files.iter().map(MlflowFileInfo::from).collect()),
            next_page_token: Some(String::new()),
            api_error: None,
        })
    }

    async fn mlflow_search_model_versions(
        ctx: &Context<'_>,
        input: Option<MlflowSearchModelVersionsInput>,
    ) -> GqlResult<MlflowSearchModelVersionsResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let search = RegistrySearch {
            filter: input.filter.filter(|filter| !filter.is_empty()),
            order_by: strings(input.order_by),
            max_results: input
                .max_results
                .map_or(MAX_MODEL_VERSIONS_PER_PAGE, |max| max.0),
            page_token: input.page_token.filter(|token| !token.is_empty()),
        };
        let page = service
            .search_model_versions(pass, &search)
            .await
            .map_err(gql_error)?;
        Ok(MlflowSearchModelVersionsResponse {
            model_versions: Some(page.items.iter().map(MlflowModelVersion::from).collect()),
            next_page_token: Some(page.next_page_token.unwrap_or_default()),
            api_error: None,
        })
    }

    async fn mlflow_search_runs(
        ctx: &Context<'_>,
        input: Option<MlflowSearchRunsInput>,
    ) -> GqlResult<MlflowSearchRunsResponse> {
        search_runs(ctx, input_of(input)?).await
    }

    async fn mlflow_search_datasets(
        ctx: &Context<'_>,
        input: Option<MlflowSearchDatasetsInput>,
    ) -> GqlResult<MlflowSearchDatasetsResponse> {
        let input = input_of(input)?;
        let (service, pass) = tracking(ctx);
        let experiment_ids = strings(input.experiment_ids);
        if experiment_ids.is_empty() {
            return Err(async_graphql::Error::new(
                "SearchDatasets request must specify at least one experiment_id.",
            ));
        }
        if experiment_ids.len() > 20 {
            return Err(async_graphql::Error::new(format!(
                "SearchDatasets request cannot specify more than 20 experiment_ids. Received {} \
                 experiment_ids.",
                experiment_ids.len()
            )));
        }
        let summaries = service
            .search_datasets(pass, &experiment_ids)
            .await
            .map_err(gql_error)?;
        Ok(MlflowSearchDatasetsResponse {
            dataset_summaries: Some(
                summaries
                    .into_iter()
                    .map(|summary| MlflowDatasetSummary {
                        experiment_id: Some(summary.experiment_id.to_string()),
                        name: Some(summary.name),
                        digest: Some(summary.digest),
                        context: Some(summary.context.unwrap_or_default()),
                    })
                    .collect(),
            ),
            api_error: None,
        })
    }
}

/// The query root (graphene's `Query`).
pub(crate) struct Query;

#[Object(name = "Query")]
impl Query {
    async fn mlflow_get_experiment(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowGetExperimentInput>,
    ) -> Option<MlflowGetExperimentResponse> {
        let answer = Resolve::mlflow_get_experiment(ctx, input).await;
        or_null(ctx, answer)
    }

    /// As MLflow's: the sampling reads its range and size from the HTTP query, which a
    /// GraphQL request has none of, so every run's whole history is sampled to 2500 points.
    async fn mlflow_get_metric_history_bulk_interval(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowGetMetricHistoryBulkIntervalInput>,
    ) -> Option<MlflowGetMetricHistoryBulkIntervalResponse> {
        let answer = Resolve::mlflow_get_metric_history_bulk_interval(ctx, input).await;
        or_null(ctx, answer)
    }

    async fn mlflow_get_run(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowGetRunInput>,
    ) -> Option<MlflowGetRunResponse> {
        let answer = Resolve::mlflow_get_run(ctx, input).await;
        or_null(ctx, answer)
    }

    async fn mlflow_list_artifacts(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowListArtifactsInput>,
    ) -> Option<MlflowListArtifactsResponse> {
        let answer = Resolve::mlflow_list_artifacts(ctx, input).await;
        or_null(ctx, answer)
    }

    async fn mlflow_search_model_versions(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowSearchModelVersionsInput>,
    ) -> Option<MlflowSearchModelVersionsResponse> {
        let answer = Resolve::mlflow_search_model_versions(ctx, input).await;
        or_null(ctx, answer)
    }

    /// Simple echoing field
    async fn test(&self, input_string: Option<String>) -> Option<Test> {
        Some(Test {
            output: input_string,
        })
    }

    async fn mlflow_search_runs(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowSearchRunsInput>,
    ) -> Option<MlflowSearchRunsResponse> {
        let answer = Resolve::mlflow_search_runs(ctx, input).await;
        or_null(ctx, answer)
    }
}

/// The mutation root (graphene's `Mutation`).
pub(crate) struct Mutation;

#[Object(name = "Mutation")]
impl Mutation {
    async fn mlflow_search_datasets(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowSearchDatasetsInput>,
    ) -> Option<MlflowSearchDatasetsResponse> {
        let answer = Resolve::mlflow_search_datasets(ctx, input).await;
        or_null(ctx, answer)
    }

    async fn mlflow_search_runs(
        &self,
        ctx: &Context<'_>,
        input: Option<MlflowSearchRunsInput>,
    ) -> Option<MlflowSearchRunsResponse> {
        let answer = Resolve::mlflow_search_runs(ctx, input).await;
        or_null(ctx, answer)
    }

    /// Simple echoing field — which answers `null` in MLflow: graphene looks for a
    /// resolver named after the field, `resolve_testMutation`, and MLflow names its own
    /// `resolve_test_mutation`.
    async fn test_mutation(&self, input_string: Option<String>) -> Option<TestMutation> {
        let _ = input_string;
        None
    }
}

pub(crate) type MlflowSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema.
pub(crate) fn schema() -> MlflowSchema {
    Schema::build(Query, Mutation, EmptySubscription).finish()
}

/// The schema, built on first use.
fn shared_schema() -> &'static MlflowSchema {
    static SCHEMA: std::sync::OnceLock<MlflowSchema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(schema)
}

// ---------- MLflow's query limits ----------

fn collect_fields<'a>(
    selection_set: &'a Positioned<SelectionSet>,
    document: &'a ExecutableDocument,
    visited: &mut Vec<&'a str>,
    fields: &mut Vec<&'a Positioned<async_graphql::parser::types::Field>>,
) -> usize {
    let mut aliases = 0;
    for selection in &selection_set.node.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.alias.is_some() {
                    aliases += 1;
                }
                fields.push(field);
            }
            Selection::InlineFragment(fragment) => {
                aliases += collect_fields(&fragment.node.selection_set, document, visited, fields);
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if !visited.contains(&name) {
                    visited.push(name);
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        aliases +=
                            collect_fields(&fragment.node.selection_set, document, visited, fields);
                    }
                }
            }
        }
    }
    aliases
}

/// MLflow's `check_query_safety`: the first limit a query exceeds, as its message.
fn exceeded_limit(document: &ExecutableDocument) -> Option<String> {
    let operations: Vec<&Positioned<OperationDefinition>> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    let (mut root_fields, mut max_aliases, mut selections) = (0, 0, 0);
    for operation in operations {
        let mut stack = vec![(&operation.node.selection_set, 1usize, Vec::new())];
        while let Some((set, depth, visited)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Some(format!("Query exceeds maximum depth of {MAX_DEPTH}"));
            }
            let mut fields = Vec::new();
            let mut seen = visited.clone();
            let aliases = collect_fields(set, document, &mut seen, &mut fields);
            for field in fields {
                if depth == 1 {
                    root_fields += 1;
                }
                if !field.node.selection_set.node.items.is_empty() {
                    stack.push((&field.node.selection_set, depth + 1, visited.clone()));
                }
                selections += 1;
                if selections > MAX_SELECTIONS {
                    return Some(format!(
                        "Query exceeds maximum total selections of {MAX_SELECTIONS}"
                    ));
                }
            }
            max_aliases = max_aliases.max(aliases);
        }
    }
    let (what, variable, count, limit) = if root_fields > MAX_ROOT_FIELDS {
        (
            "root fields",
            "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS",
            root_fields,
            MAX_ROOT_FIELDS,
        )
    } else if max_aliases > MAX_ALIASES {
        (
            "aliases",
            "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES",
            max_aliases,
            MAX_ALIASES,
        )
    } else {
        return None;
    };
    Some(format!(
        "GraphQL queries should have at most {limit} {what}, got {count} {what}. To increase \
         the limit, set the {variable} environment variable."
    ))
}

fn answer(data: Value, errors: Vec<String>) -> Response {
    let errors = if errors.is_empty() {
        Value::Null
    } else {
        json!(errors)
    };
    Json(json!({ "data": data, "errors": errors })).into_response()
}

/// `POST /graphql` (and `GET`, as MLflow routes both; it reads the query from a JSON body
/// either way): `{"query", "variables", "operationName"}`.
pub(crate) async fn graphql(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Response> {
    let Some(query) = message.opt_str("query")?.filter(|query| !query.is_empty()) else {
        return Err(MlflowError::invalid(
            "Missing value for required parameter 'query'.",
        ));
    };
    let mut document = match async_graphql::parser::parse_query(&query) {
        Ok(document) => document,
        Err(error) => return Ok(answer(Value::Null, vec![format!("Syntax Error: {error}")])),
    };
    if let Some(limit) = exceeded_limit(&document) {
        return Ok(answer(Value::Null, vec![limit]));
    }
    // The UI marks its operations `@component(name: …)`; MLflow declares the directive and
    // ignores it.
    let strip = |operation: &mut Positioned<OperationDefinition>| {
        operation
            .node
            .directives
            .retain(|directive| directive.node.name.node.as_str() != "component");
    };
    match &mut document.operations {
        DocumentOperations::Single(operation) => strip(operation),
        DocumentOperations::Multiple(operations) => operations.values_mut().for_each(strip),
    }
    let mut request = async_graphql::Request::new(query).data(service).data(pass);
    if let Some(Value::Object(variables)) = message.get("variables") {
        request = request.variables(async_graphql::Variables::from_json(Value::Object(
            variables.clone(),
        )));
    }
    if let Some(operation) = message
        .opt_str("operationName")?
        .filter(|name| !name.is_empty())
    {
        request = request.operation_name(operation);
    }
    request.set_parsed_query(document);
    let response = shared_schema().execute(request).await;
    let data = response.data.into_json().unwrap_or(Value::Null);
    let errors = response
        .errors
        .into_iter()
        .map(|error| error.message)
        .collect();
    Ok(answer(data, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_over_mlflows_limits_are_refused_in_its_words() {
        let deep = format!("{{ {}x{} }}", "a { ".repeat(10), " }".repeat(10));
        let document = async_graphql::parser::parse_query(&deep).unwrap();
        assert_eq!(
            exceeded_limit(&document).as_deref(),
            Some("Query exceeds maximum depth of 10")
        );
        let wide = format!(
            "{{ {} }}",
            (0..11)
                .map(|i| format!("f{i}: test {{ output }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let document = async_graphql::parser::parse_query(&wide).unwrap();
        assert!(exceeded_limit(&document).unwrap().starts_with(
            "GraphQL queries should have at most 10 root fields, got 11 root fields."
        ));
        let fine =
            async_graphql::parser::parse_query("{ test(inputString: \"x\") { output } }").unwrap();
        assert!(exceeded_limit(&fine).is_none());
    }

    #[test]
    fn the_schema_names_what_mlflows_names() {
        let sdl = schema().sdl();
        for name in [
            "type MlflowRunExtension",
            "mlflowGetMetricHistoryBulkInterval(input: MlflowGetMetricHistoryBulkIntervalInput)",
            "scalar LongString",
            "input MlflowSearchRunsInput",
            "mlflowSearchDatasets(input: MlflowSearchDatasetsInput)",
            "enum MlflowRunStatus",
            "effectiveTraceArchivalRetention: String",
        ] {
            assert!(sdl.contains(name), "{name} missing from\n{sdl}");
        }
    }
}
