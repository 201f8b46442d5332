//! Handlers of the workload runtime: `/api/v1/runtime`, `/api/v1/pools`, `/api/v1/classes`,
//! `/api/v1/usage`, and per project `…/quota`, `…/usage`, `…/snapshots/{sha256}` and
//! `…/jobs`. Each one authenticates, calls the runtime service (which authorizes, validates
//! and audits), and maps the result to JSON (or streams bytes, for logs and snapshots).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use plinth_api_types::{
    ClassRequest, GpuInfo, IsolationInfo, JobListQuery, JobPage, LogQuery, MechanismInfo,
    PoolRequest, QuotaView, RuntimeInfo, UsageQuery,
};
use plinth_core::runtime::UsageFilter;
use plinth_core::{Principal, ProjectPass};
use plinth_executor::{Capabilities, LogOptions};
use plinth_types::{
    JobRequest, JobView, NodePool, ProjectQuota, ResourceClass, Role, SnapshotInfo, UsageRecord,
    WorkloadState,
};

use crate::identity::{Authenticated, ClientInfoExtractor};
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

// ---------- helpers ----------

async fn project_pass(
    state: &AppState,
    principal: &Principal,
    organization: &str,
    project: &str,
    needed: Role,
) -> ApiResult<ProjectPass> {
    Ok(state
        .identity()
        .authorize_project(principal, organization, project, needed)
        .await?)
}

fn isolation_info(isolation: plinth_executor::Isolation) -> IsolationInfo {
    IsolationInfo {
        level: match isolation.level {
            plinth_executor::IsolationLevel::Full => "full",
            plinth_executor::IsolationLevel::Partial => "partial",
            plinth_executor::IsolationLevel::None => "none",
        }
        .to_string(),
        summary: isolation.summary,
        mechanisms: isolation
            .mechanisms
            .into_iter()
            .map(|mechanism| MechanismInfo {
                name: mechanism.name,
                active: mechanism.active,
                detail: mechanism.detail,
            })
            .collect(),
    }
}

fn usage_filter(params: &UsageQuery) -> UsageFilter {
    UsageFilter {
        from_day: params.from.clone(),
        to_day: params.to.clone(),
    }
}

fn usage_response(
    records: Vec<UsageRecord>,
    format: Option<&str>,
    names: &dyn Fn(&str) -> String,
    filename: &str,
) -> ApiResult<Response> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(records).into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            plinth_core::runtime::usage_csv(&records, names),
        )
            .into_response()),
        other => Err(ApiError::invalid(format!(
            "invalid `format`: `{other}` must be `json` or `csv`"
        ))),
    }
}

fn encode_cursor(job: &JobView) -> String {
    format!("{}.{}", job.job.created_at_ms, job.job.id)
}

fn decode_cursor(cursor: &str) -> ApiResult<(i64, String)> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "invalid `cursor`: `{cursor}` is not a cursor this server gave"
            ))
        })
}

fn parse_states(list: &str) -> ApiResult<Vec<WorkloadState>> {
    list.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            WorkloadState::parse(part.trim()).ok_or_else(|| {
                let names: Vec<&str> = WorkloadState::ALL
                    .iter()
                    .map(|state| state.as_str())
                    .collect();
                ApiError::invalid(format!(
                    "invalid `state`: `{part}` is not one of {}",
                    names.join(", ")
                ))
            })
        })
        .collect()
}

// ---------- platform ----------

/// The runtime's backend, how it enforces limits, and its GPUs (any signed-in user).
#[utoipa::path(get, path = "/api/v1/runtime", tag = "runtime", responses((status = 200, body = RuntimeInfo)))]
pub(crate) async fn runtime_info(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> ApiResult<Json<RuntimeInfo>> {
    let runtime = state.runtime();
    let Capabilities {
        limits,
        gpus,
        isolation,
    } = runtime.capabilities();
    Ok(Json(RuntimeInfo {
        backend: runtime.backend().to_string(),
        limits,
        gpus: gpus
            .into_iter()
            .map(|gpu| GpuInfo {
                index: gpu.index,
                name: gpu.name,
            })
            .collect(),
        isolation: isolation_info(isolation),
    }))
}

/// Lists node pools (any signed-in user).
#[utoipa::path(get, path = "/api/v1/pools", tag = "runtime", responses((status = 200, body = Vec<NodePool>)))]
pub(crate) async fn list_pools(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> ApiResult<Json<Vec<NodePool>>> {
    Ok(Json(state.runtime().list_node_pools().await?))
}

/// Creates or replaces a node pool (admins).
#[utoipa::path(put, path = "/api/v1/pools/{name}", tag = "runtime", params(("name" = String, Path)), request_body = PoolRequest, responses((status = 200, body = NodePool)))]
pub(crate) async fn put_pool(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<PoolRequest>,
) -> ApiResult<Json<NodePool>> {
    let pool = NodePool {
        name,
        description: request.description,
        node_selector: request.node_selector,
        taints: request.taints,
        updated_at_ms: 0,
    };
    Ok(Json(
        state
            .runtime()
            .put_node_pool(&principal, pool, &client)
            .await?,
    ))
}

/// Deletes a node pool no class uses (admins).
#[utoipa::path(delete, path = "/api/v1/pools/{name}", tag = "runtime", params(("name" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_pool(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .runtime()
        .delete_node_pool(&principal, &name, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists resource classes, smallest first (any signed-in user).
#[utoipa::path(get, path = "/api/v1/classes", tag = "runtime", responses((status = 200, body = Vec<ResourceClass>)))]
pub(crate) async fn list_classes(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> ApiResult<Json<Vec<ResourceClass>>> {
    Ok(Json(state.runtime().list_resource_classes().await?))
}

/// Creates or replaces a resource class (admins).
#[utoipa::path(put, path = "/api/v1/classes/{name}", tag = "runtime", params(("name" = String, Path)), request_body = ClassRequest, responses((status = 200, body = ResourceClass)))]
pub(crate) async fn put_class(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<ClassRequest>,
) -> ApiResult<Json<ResourceClass>> {
    let class = ResourceClass {
        name,
        pool: request.pool,
        description: request.description,
        cpu_millis: request.cpu_millis,
        memory_bytes: request.memory_bytes,
        gpus: request.gpus,
        updated_at_ms: 0,
    };
    Ok(Json(
        state
            .runtime()
            .put_resource_class(&principal, class, &client)
            .await?,
    ))
}

/// Deletes a resource class (admins); running work keeps its size.
#[utoipa::path(delete, path = "/api/v1/classes/{name}", tag = "runtime", params(("name" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_class(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .runtime()
        .delete_resource_class(&principal, &name, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole platform's usage ledger by day, project, user and class (admins); `format=csv`
/// downloads it.
#[utoipa::path(get, path = "/api/v1/usage", tag = "runtime", params(UsageQuery), responses((status = 200, body = Vec<UsageRecord>), (status = 200, content_type = "text/csv", body = String)))]
pub(crate) async fn platform_usage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<UsageQuery>,
) -> ApiResult<Response> {
    let records = state
        .runtime()
        .platform_usage(&principal, &usage_filter(&params))
        .await?;
    let projects = state
        .identity()
        .list_projects(&principal, true, None)
        .await?;
    let names: BTreeMap<String, String> = projects
        .into_iter()
        .map(|(project, _)| {
            (
                project.id.clone(),
                format!("{}/{}", project.organization, project.name),
            )
        })
        .collect();
    usage_response(
        records,
        params.format.as_deref(),
        &|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()),
        "plinth-usage.csv",
    )
}

// ---------- per project ----------

/// A project's quota and current usage (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/quota", tag = "runtime", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = QuotaView)))]
pub(crate) async fn get_quota(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<QuotaView>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let (quota, usage) = state.runtime().project_quota(&pass).await?;
    Ok(Json(QuotaView { quota, usage }))
}

/// Sets a project's quota (admins).
#[utoipa::path(put, path = "/api/v1/orgs/{organization}/projects/{project}/quota", tag = "runtime", params(("organization" = String, Path), ("project" = String, Path)), request_body = ProjectQuota, responses((status = 200, body = QuotaView)))]
pub(crate) async fn put_quota(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(quota): ApiJson<ProjectQuota>,
) -> ApiResult<Json<QuotaView>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    state
        .runtime()
        .set_project_quota(&principal, &pass, &quota, &client)
        .await?;
    let (quota, usage) = state.runtime().project_quota(&pass).await?;
    Ok(Json(QuotaView { quota, usage }))
}

/// A project's usage ledger (members); `format=csv` downloads it.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/usage", tag = "runtime", params(("organization" = String, Path), ("project" = String, Path), UsageQuery), responses((status = 200, body = Vec<UsageRecord>), (status = 200, content_type = "text/csv", body = String)))]
pub(crate) async fn project_usage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
    Query(params): Query<UsageQuery>,
) -> ApiResult<Response> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let records = state
        .runtime()
        .project_usage(&pass, &usage_filter(&params))
        .await?;
    let name = format!("{organization}/{project}");
    usage_response(
        records,
        params.format.as_deref(),
        &|_| name.clone(),
        &format!("plinth-usage-{organization}-{project}.csv"),
    )
}

/// Uploads a snapshot of working files (`.tar.gz`) named by its SHA-256 (contributors).
/// The body streams to the object store; `runtime.max_snapshot_bytes` limits it.
#[utoipa::path(put, path = "/api/v1/orgs/{organization}/projects/{project}/snapshots/{sha256}", tag = "runtime", params(("organization" = String, Path), ("project" = String, Path), ("sha256" = String, Path)), request_body(content = Vec<u8>, content_type = "application/gzip"), responses((status = 200, body = SnapshotInfo)))]
pub(crate) async fn put_snapshot(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, digest)): Path<(String, String, String)>,
    body: Body,
) -> ApiResult<Json<SnapshotInfo>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let stream = body
        .into_data_stream()
        .map_err(|error| std::io::Error::other(error.to_string()))
        .boxed();
    Ok(Json(
        state
            .runtime()
            .upload_snapshot(&principal, &pass, &digest, stream)
            .await?,
    ))
}

/// Downloads a snapshot (members; the Kubernetes init container uses the job's token).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/snapshots/{sha256}", tag = "runtime", params(("organization" = String, Path), ("project" = String, Path), ("sha256" = String, Path)), responses((status = 200, content_type = "application/gzip", body = Vec<u8>)))]
pub(crate) async fn get_snapshot(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, digest)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let (size, stream) = state.runtime().download_snapshot(&pass, &digest).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Lists a project's jobs, newest first (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/jobs", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path), JobListQuery), responses((status = 200, body = JobPage)))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
    Query(params): Query<JobListQuery>,
) -> ApiResult<Json<JobPage>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("invalid `limit`: must be 1 to 500"));
    }
    let states = params
        .state
        .as_deref()
        .map(parse_states)
        .transpose()?
        .unwrap_or_default();
    let before = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let jobs = state
        .runtime()
        .list_jobs(&pass, states, before, limit)
        .await?;
    let next = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(encode_cursor))
        .flatten();
    Ok(Json(JobPage { jobs, next }))
}

/// Submits a job (contributors): it starts at once, or waits in the project's queue when
/// the quota is full (`state` = `queued`, `reason` and `queue_position` say why and where).
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/jobs", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path)), request_body = JobRequest, responses((status = 201, body = JobView)))]
pub(crate) async fn submit_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(request): ApiJson<JobRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let job = state
        .runtime()
        .submit_job(&principal, &pass, &request, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// One job (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path), ("id" = String, Path)), responses((status = 200, body = JobView)))]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<JobView>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    Ok(Json(state.runtime().get_job(&pass, &id).await?))
}

/// Stops a job (contributors): a queued one leaves the queue, a running one gets SIGTERM and
/// then SIGKILL after `runtime.stop_grace_period`.
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/stop", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path), ("id" = String, Path)), responses((status = 200, body = JobView)))]
pub(crate) async fn stop_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<JobView>> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    Ok(Json(
        state
            .runtime()
            .stop_job(&principal, &pass, &id, &client)
            .await?,
    ))
}

/// Submits a job again with the same class, command, environment and files (contributors).
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/rerun", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path), ("id" = String, Path)), responses((status = 201, body = JobView)))]
pub(crate) async fn rerun_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let job = state
        .runtime()
        .rerun_job(&principal, &pass, &id, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// A job's output, stdout and stderr interleaved, as plain text (members). With
/// `follow=true` the response stays open until the job ends.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/logs", tag = "jobs", params(("organization" = String, Path), ("project" = String, Path), ("id" = String, Path), LogQuery), responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn job_logs(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, id)): Path<(String, String, String)>,
    Query(params): Query<LogQuery>,
) -> ApiResult<Response> {
    let pass = project_pass(&state, &principal, &organization, &project, Role::Viewer).await?;
    let stream = state
        .runtime()
        .job_logs(&pass, &id, log_options(&params))
        .await?;
    Ok(streamed_log(stream))
}

/// What a log request asks for (jobs and Apps alike).
pub(crate) fn log_options(params: &LogQuery) -> LogOptions {
    LogOptions {
        follow: params.follow,
        from_offset: params.offset,
        tail_lines: params.tail,
    }
}

/// A workload's log (a job's or an App's) as a streamed plain-text answer.
pub(crate) fn streamed_log(stream: plinth_core::runtime::LogStream) -> Response {
    let body = Body::from_stream(stream.map(|chunk| {
        chunk.map_err(|error| {
            tracing::warn!(%error, "log stream broke off");
            std::io::Error::other(error.to_string())
        })
    }));
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Tell proxies not to buffer a followed stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response()
}
