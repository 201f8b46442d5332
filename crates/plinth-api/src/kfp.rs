//! Kubeflow Pipelines' REST API (`/apis/v2beta1`), enough for the unmodified
//! `kfp.Client`: healthz, experiments, runs, pipelines and versions; under
//! `/apis/v2beta1/…` for a project-scoped token and under
//! `/projects/{organization}/{project}/apis/v2beta1/…` for any token (the client's `host`).
//!
//! JSON is KFP's (the protobuf's snake_case names, RFC 3339 times, states as KFP's
//! strings, an empty list as `{}`); errors are KFP's `{code, message, error_message,
//! details}`. Handlers authenticate, resolve the project ([`KfpScope`]) and call
//! [`plinth_pipelines::PipelineService`], which authorizes: Viewer reads, Contributor
//! submits. Not in the OpenAPI document; the matrix is `kfp_authz_tests.rs`.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Multipart, OriginalUri, Path, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use axum::{Json, Router};
use plinth_core::ProjectSelector;
use plinth_pipelines::model::{
    ExperimentRecord, PipelineRecord, RunRecord, TaskRecord, VersionRecord,
};
use plinth_pipelines::{NewRun, PipelinePass, PipelineService, RunView};
use plinth_types::{ErrorKind, HasErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

/// A KFP error: `{code, message, error_message, error_details, details}`.
pub(crate) struct KfpError {
    kind: ErrorKind,
    message: String,
}

impl KfpError {
    fn invalid(message: impl Into<String>) -> Self {
        KfpError {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }
}

impl<E: HasErrorKind + std::fmt::Display> From<E> for KfpError {
    fn from(error: E) -> Self {
        let kind = error.kind();
        let message = if kind == ErrorKind::Internal {
            tracing::error!(error = %error, "kfp request failed");
            "internal server error; the server log has the details".to_string()
        } else {
            error.to_string()
        };
        KfpError { kind, message }
    }
}

/// gRPC's code for each kind (what KFP's gateway answers in `code`).
fn grpc_code(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidArgument | ErrorKind::PayloadTooLarge => 3,
        ErrorKind::NotFound => 5,
        ErrorKind::AlreadyExists => 6,
        ErrorKind::Forbidden => 7,
        ErrorKind::RateLimited => 8,
        ErrorKind::Conflict => 9,
        ErrorKind::Unavailable => 14,
        ErrorKind::Unauthenticated | ErrorKind::MfaRequired => 16,
        ErrorKind::Internal => 13,
    }
}

impl IntoResponse for KfpError {
    fn into_response(self) -> Response {
        let status = crate::status_of(self.kind);
        let body = json!({
            "code": grpc_code(self.kind),
            "message": self.message,
            "error_message": self.message,
            "error_details": self.message,
            "details": [],
        });
        (status, Json(body)).into_response()
    }
}

type KfpResult<T> = Result<T, KfpError>;

/// The service and the caller's pass on the project the request names.
pub(crate) struct KfpScope(PipelineService, PipelinePass);

fn selector_of(path: &str) -> ProjectSelector {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("projects"), Some(organization), Some(project)) => {
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(text)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            ProjectSelector::Named {
                organization: decode(organization),
                project: decode(project),
            }
        }
        _ => ProjectSelector::FromToken,
    }
}

impl FromRequestParts<AppState> for KfpScope {
    type Rejection = KfpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, KfpError> {
        let path = parts.extensions.get::<OriginalUri>().map_or_else(
            || parts.uri.path().to_string(),
            |uri| uri.path().to_string(),
        );
        let principal = crate::identity::authenticate_caller(parts, state)
            .await
            .map_err(|error| KfpError {
                kind: error.kind(),
                message: error.message().to_string(),
            })?;
        let service = state.pipelines().clone();
        let pass = service.authorize(&principal, &selector_of(&path)).await?;
        Ok(KfpScope(service, pass))
    }
}

fn time(ms: Option<i64>) -> Value {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(at) => json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => json!("1970-01-01T00:00:00Z"),
    }
}

fn experiment_json(experiment: &ExperimentRecord) -> Value {
    json!({
        "experiment_id": experiment.id,
        "display_name": experiment.display_name,
        "description": experiment.description,
        "created_at": time(Some(experiment.created_at_ms)),
        "namespace": "",
        "storage_state": experiment.storage_state,
    })
}

fn pipeline_json(pipeline: &PipelineRecord) -> Value {
    json!({
        "pipeline_id": pipeline.id,
        "display_name": pipeline.display_name,
        "name": pipeline.display_name,
        "description": pipeline.description,
        "created_at": time(Some(pipeline.created_at_ms)),
        "namespace": "",
    })
}

fn version_json(version: &VersionRecord) -> Value {
    json!({
        "pipeline_id": version.pipeline_id,
        "pipeline_version_id": version.id,
        "display_name": version.display_name,
        "name": version.display_name,
        "description": version.description,
        "created_at": time(Some(version.created_at_ms)),
        "pipeline_spec": version.spec,
    })
}

fn task_json(task: &TaskRecord) -> Value {
    let artifacts: BTreeMap<&String, Value> = task
        .artifacts
        .iter()
        .filter(|(name, _)| !name.starts_with("input:"))
        .map(|(name, artifact)| {
            (
                name,
                json!({
                    "key": artifact.key,
                    "schema_title": artifact.schema_title,
                    "files": artifact.files,
                    "metadata": artifact.metadata,
                }),
            )
        })
        .collect();
    json!({
        "run_id": task.run_id,
        "task_id": format!("{}/{}", task.run_id, task.key),
        "display_name": task.name,
        "create_time": time(task.started_at_ms),
        "start_time": time(task.started_at_ms),
        "end_time": time(task.finished_at_ms),
        "state": task.state.as_str(),
        "error": task.error.as_ref().map(|message| json!({ "code": 2, "message": message })),
        "executor_detail": { "main_job": task.workload_id.clone().unwrap_or_default() },
        // Plinth's view of what the task got and gave (KFP keeps these in its MLMD).
        "plinth_task_key": task.key,
        "plinth_job_id": task.workload_id,
        "plinth_inputs": task.inputs,
        "plinth_outputs": { "parameters": task.outputs, "artifacts": artifacts },
    })
}

fn run_json(run: &RunRecord, tasks: Option<&[TaskRecord]>) -> Value {
    let mut body = json!({
        "experiment_id": run.experiment_id,
        "run_id": run.id,
        "display_name": run.display_name,
        "description": run.description,
        "storage_state": run.storage_state,
        "runtime_config": { "parameters": run.arguments },
        "service_account": "",
        "created_at": time(Some(run.created_at_ms)),
        "scheduled_at": time(run.started_at_ms.or(Some(run.created_at_ms))),
        "finished_at": time(run.finished_at_ms),
        "state": run.state.as_str(),
        "state_history": [],
    });
    match (&run.pipeline_id, &run.pipeline_version_id) {
        (Some(pipeline), Some(version)) => {
            body["pipeline_version_reference"] =
                json!({ "pipeline_id": pipeline, "pipeline_version_id": version });
        }
        _ => body["pipeline_spec"] = run.spec.clone(),
    }
    if let Some(error) = &run.error {
        body["error"] = json!({ "code": 2, "message": error, "details": [] });
    }
    if let Some(tasks) = tasks {
        body["run_details"] =
            json!({ "task_details": tasks.iter().map(task_json).collect::<Vec<_>>() });
    }
    body
}

/// A list answer: `{}` when empty (as KFP's gateway omits empty fields).
fn list(field: &str, items: Vec<Value>) -> Json<Value> {
    if items.is_empty() {
        return Json(json!({}));
    }
    Json(json!({ field: items.clone(), "total_size": items.len(), "next_page_token": "" }))
}

/// KFP's list query: `filter` (JSON predicates), paging and sorting (accepted, one page).
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    page_token: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    page_size: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    sort_by: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    namespace: Option<String>,
    #[serde(default, rename = "resource_reference_key.type")]
    #[allow(dead_code)]
    reference_type: Option<String>,
    #[serde(default, rename = "resource_reference_key.id")]
    #[allow(dead_code)]
    reference_id: Option<String>,
}

/// The filter's predicates on string fields: (key, operation, value).
fn predicates(filter: Option<&str>) -> KfpResult<Vec<(String, String, String)>> {
    let Some(text) = filter.filter(|text| !text.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|error| KfpError::invalid(format!("invalid `filter`: not JSON: {error}")))?;
    let mut out = Vec::new();
    for predicate in value["predicates"].as_array().cloned().unwrap_or_default() {
        let key = predicate["key"].as_str().unwrap_or_default().to_string();
        let operation = match &predicate["operation"] {
            Value::String(text) => text.clone(),
            Value::Number(number) => match number.as_u64() {
                Some(1) => "EQUALS".to_string(),
                Some(2) => "NOT_EQUALS".to_string(),
                _ => number.to_string(),
            },
            _ => "EQUALS".to_string(),
        };
        let value = predicate["string_value"]
            .as_str()
            .or_else(|| predicate["stringValue"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                KfpError::invalid(format!(
                    "invalid `filter`: predicate on `{key}`: only `string_value` predicates are supported"
                ))
            })?;
        if !matches!(operation.as_str(), "EQUALS" | "NOT_EQUALS") {
            return Err(KfpError::invalid(format!(
                "invalid `filter`: operation `{operation}` on `{key}` is not supported (EQUALS, NOT_EQUALS)"
            )));
        }
        if !matches!(key.as_str(), "display_name" | "name" | "storage_state") {
            return Err(KfpError::invalid(format!(
                "invalid `filter`: key `{key}` is not supported (display_name, name, storage_state)"
            )));
        }
        out.push((key, operation, value));
    }
    Ok(out)
}

fn matches(predicates: &[(String, String, String)], name: &str, storage: &str) -> bool {
    predicates.iter().all(|(key, operation, value)| {
        let actual = if key == "storage_state" {
            storage
        } else {
            name
        };
        (actual == value) == (operation == "EQUALS")
    })
}

async fn healthz(KfpScope(_, _): KfpScope) -> Json<Value> {
    Json(json!({
        "commit_sha": "plinth",
        "tag_name": plinth_types::VERSION,
        "multi_user": false,
        "pipeline_store": "database",
    }))
}

#[derive(Debug, Deserialize)]
struct ExperimentBody {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
}

async fn create_experiment(
    KfpScope(service, pass): KfpScope,
    body: axum::body::Bytes,
) -> KfpResult<Json<Value>> {
    let body: ExperimentBody = serde_json::from_slice(&body)
        .map_err(|error| KfpError::invalid(format!("invalid experiment: {error}")))?;
    let experiment = service
        .create_experiment(&pass, &body.display_name, &body.description)
        .await?;
    Ok(Json(experiment_json(&experiment)))
}

async fn list_experiments(
    KfpScope(service, pass): KfpScope,
    Query(query): Query<ListQuery>,
) -> KfpResult<Json<Value>> {
    let predicates = predicates(query.filter.as_deref())?;
    let items = service
        .list_experiments(&pass)
        .await?
        .iter()
        .filter(|experiment| {
            matches(
                &predicates,
                &experiment.display_name,
                &experiment.storage_state,
            )
        })
        .map(experiment_json)
        .collect();
    Ok(list("experiments", items))
}

async fn get_experiment(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let id = params.get("experiment_id").cloned().unwrap_or_default();
    Ok(Json(experiment_json(
        &service.get_experiment(&pass, &id).await?,
    )))
}

/// `POST …/experiments/{id}:archive` (and `:unarchive`).
async fn experiment_action(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let target = params.get("experiment_id").cloned().unwrap_or_default();
    let (id, action) = target
        .rsplit_once(':')
        .ok_or_else(|| KfpError::invalid(format!("unknown experiment action `{target}`")))?;
    let archived = match action {
        "archive" => true,
        "unarchive" => false,
        _ => {
            return Err(KfpError::invalid(format!(
                "unknown experiment action `{action}`"
            )))
        }
    };
    service.set_experiment_archived(&pass, id, archived).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct RunBody {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    pipeline_spec: Option<Value>,
    #[serde(default)]
    pipeline_version_reference: Option<VersionReference>,
    #[serde(default)]
    runtime_config: Option<RuntimeConfig>,
}

#[derive(Debug, Deserialize)]
struct VersionReference {
    #[serde(default)]
    pipeline_id: String,
    #[serde(default)]
    pipeline_version_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RuntimeConfig {
    #[serde(default)]
    parameters: Option<BTreeMap<String, Value>>,
}

async fn create_run(
    KfpScope(service, pass): KfpScope,
    body: axum::body::Bytes,
) -> KfpResult<Json<Value>> {
    let body: RunBody = serde_json::from_slice(&body)
        .map_err(|error| KfpError::invalid(format!("invalid run: {error}")))?;
    let run = service
        .create_run(
            &pass,
            NewRun {
                display_name: body.display_name,
                description: body.description,
                experiment_id: body.experiment_id,
                pipeline_spec: body.pipeline_spec.filter(|spec| !spec.is_null()),
                version: body.pipeline_version_reference.map(|reference| {
                    (
                        reference.pipeline_id,
                        reference.pipeline_version_id.filter(|id| !id.is_empty()),
                    )
                }),
                arguments: body
                    .runtime_config
                    .and_then(|config| config.parameters)
                    .unwrap_or_default(),
            },
        )
        .await?;
    Ok(Json(run_json(&run, Some(&[]))))
}

async fn list_runs(
    KfpScope(service, pass): KfpScope,
    Query(query): Query<ListQuery>,
) -> KfpResult<Json<Value>> {
    let predicates = predicates(query.filter.as_deref())?;
    let items = service
        .list_runs(&pass, query.experiment_id.as_deref())
        .await?
        .iter()
        .filter(|run| matches(&predicates, &run.display_name, &run.storage_state))
        .map(|run| run_json(run, None))
        .collect();
    Ok(list("runs", items))
}

async fn get_run(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let id = params.get("run_id").cloned().unwrap_or_default();
    let RunView { run, tasks } = service.get_run(&pass, &id).await?;
    Ok(Json(run_json(&run, Some(&tasks))))
}

/// `POST …/runs/{id}:terminate` (and `:archive`, `:unarchive`).
async fn run_action(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let target = params.get("run_id").cloned().unwrap_or_default();
    let (id, action) = target
        .rsplit_once(':')
        .ok_or_else(|| KfpError::invalid(format!("unknown run action `{target}`")))?;
    match action {
        "terminate" => {
            service.terminate_run(&pass, id).await?;
        }
        "archive" => {
            service.set_run_archived(&pass, id, true).await?;
        }
        "unarchive" => {
            service.set_run_archived(&pass, id, false).await?;
        }
        _ => return Err(KfpError::invalid(format!("unknown run action `{action}`"))),
    }
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
struct UploadQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    pipelineid: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    namespace: Option<String>,
}

async fn read_upload(mut multipart: Multipart) -> KfpResult<String> {
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| KfpError::invalid(format!("invalid upload: {error}")))?
    {
        if field.name() == Some("uploadfile") {
            let bytes = field
                .bytes()
                .await
                .map_err(|error| KfpError::invalid(format!("invalid `uploadfile`: {error}")))?;
            return String::from_utf8(bytes.to_vec())
                .map_err(|_| KfpError::invalid("invalid `uploadfile`: not UTF-8 text"));
        }
    }
    Err(KfpError::invalid(
        "invalid upload: the multipart field `uploadfile` is missing",
    ))
}

async fn upload_pipeline(
    KfpScope(service, pass): KfpScope,
    Query(query): Query<UploadQuery>,
    multipart: Multipart,
) -> KfpResult<Json<Value>> {
    let text = read_upload(multipart).await?;
    let name = query.display_name.or(query.name).unwrap_or_default();
    let (pipeline, _) = service
        .upload_pipeline(&pass, &name, &query.description.unwrap_or_default(), &text)
        .await?;
    Ok(Json(pipeline_json(&pipeline)))
}

async fn upload_version(
    KfpScope(service, pass): KfpScope,
    Query(query): Query<UploadQuery>,
    multipart: Multipart,
) -> KfpResult<Json<Value>> {
    let text = read_upload(multipart).await?;
    let pipeline_id = query
        .pipelineid
        .ok_or_else(|| KfpError::invalid("invalid upload: `pipelineid` is required"))?;
    let name = query.display_name.or(query.name).unwrap_or_default();
    let version = service
        .upload_version(
            &pass,
            &pipeline_id,
            &name,
            &query.description.unwrap_or_default(),
            &text,
        )
        .await?;
    Ok(Json(version_json(&version)))
}

async fn list_pipelines(
    KfpScope(service, pass): KfpScope,
    Query(query): Query<ListQuery>,
) -> KfpResult<Json<Value>> {
    let predicates = predicates(query.filter.as_deref())?;
    let items = service
        .list_pipelines(&pass)
        .await?
        .iter()
        .filter(|pipeline| matches(&predicates, &pipeline.display_name, "AVAILABLE"))
        .map(pipeline_json)
        .collect();
    Ok(list("pipelines", items))
}

async fn get_pipeline(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let id = params.get("pipeline_id").cloned().unwrap_or_default();
    Ok(Json(pipeline_json(
        &service.get_pipeline(&pass, &id).await?,
    )))
}

async fn list_versions(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let id = params.get("pipeline_id").cloned().unwrap_or_default();
    let items = service
        .list_versions(&pass, &id)
        .await?
        .iter()
        .rev()
        .map(version_json)
        .collect();
    Ok(list("pipeline_versions", items))
}

async fn get_version(
    KfpScope(service, pass): KfpScope,
    Path(params): Path<BTreeMap<String, String>>,
) -> KfpResult<Json<Value>> {
    let id = params.get("pipeline_id").cloned().unwrap_or_default();
    let version = params
        .get("pipeline_version_id")
        .cloned()
        .unwrap_or_default();
    Ok(Json(version_json(
        &service.get_version(&pass, &id, &version).await?,
    )))
}

/// The routes under `/apis/v2beta1`, as (method, path) while they are added.
#[derive(Default)]
pub(crate) struct KfpRoutes {
    pub(crate) router: Router<AppState>,
    pub(crate) listed: Vec<(&'static str, &'static str)>,
}

impl KfpRoutes {
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::PUT,
        };
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        self.listed.push((method, path));
        self
    }
}

/// Every route, relative to `/apis/v2beta1`.
pub(crate) fn routes() -> KfpRoutes {
    KfpRoutes::default()
        .add("GET", "/healthz", healthz)
        .add("POST", "/experiments", create_experiment)
        .add("GET", "/experiments", list_experiments)
        .add("GET", "/experiments/{experiment_id}", get_experiment)
        .add("POST", "/experiments/{experiment_id}", experiment_action)
        .add("POST", "/runs", create_run)
        .add("GET", "/runs", list_runs)
        .add("GET", "/runs/{run_id}", get_run)
        .add("POST", "/runs/{run_id}", run_action)
        .add("POST", "/pipelines/upload", upload_pipeline)
        .add("POST", "/pipelines/upload_version", upload_version)
        .add("GET", "/pipelines", list_pipelines)
        .add("GET", "/pipelines/{pipeline_id}", get_pipeline)
        .add("GET", "/pipelines/{pipeline_id}/versions", list_versions)
        .add(
            "GET",
            "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
            get_version,
        )
}

async fn not_found(uri: OriginalUri) -> KfpError {
    KfpError {
        kind: ErrorKind::NotFound,
        message: format!("`{}` is not an endpoint of Plinth's KFP API", uri.path()),
    }
}

/// KFP's API at both prefixes.
pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["", "/projects/{organization}/{project}"] {
        router = router.nest(
            &format!("{prefix}/apis/v2beta1"),
            routes().router.fallback(not_found),
        );
    }
    router
}
