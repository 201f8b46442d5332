//! The environments API: a project's environments under
//! `/api/v1/orgs/{organization}/projects/{project}/environments` (members read,
//! Contributors change and build), global ones under `/api/v1/environments` (everyone
//! signed in reads, admins change and build). `{name}` is `NAME` (the latest version) or
//! `NAME:VERSION` where a version is meant. A project sees its own environments and the
//! global ones; its own win on a clash of names.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_api_types::{CreateEnvironmentRequest, EnvironmentDetail, EnvironmentHistory};
use plinth_core::{Principal, ProjectPass};
use plinth_types::{Environment, EnvironmentSpec, EnvironmentVersion, Role};

use crate::identity::Authenticated;
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

async fn pass(
    state: &AppState,
    principal: &Principal,
    organization: &str,
    project: &str,
) -> ApiResult<ProjectPass> {
    Ok(state
        .identity()
        .authorize_project(principal, organization, project, Role::Viewer)
        .await?)
}

async fn create(
    state: &AppState,
    principal: &Principal,
    pass: Option<&ProjectPass>,
    request: CreateEnvironmentRequest,
) -> ApiResult<(StatusCode, Json<EnvironmentDetail>)> {
    let (environment, version) = state
        .environments()
        .create(principal, pass, &request.name, request.spec())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnvironmentDetail {
            environment,
            version,
            build: None,
        }),
    ))
}

async fn show(
    state: &AppState,
    pass: Option<&ProjectPass>,
    name: &str,
) -> ApiResult<Json<EnvironmentDetail>> {
    let (environment, version, build) = state.environments().show(pass, name).await?;
    Ok(Json(EnvironmentDetail {
        environment,
        version,
        build,
    }))
}

async fn history(
    state: &AppState,
    pass: Option<&ProjectPass>,
    name: &str,
) -> ApiResult<Json<EnvironmentHistory>> {
    let (environment, versions) = state.environments().versions(pass, name).await?;
    Ok(Json(EnvironmentHistory {
        environment,
        versions,
    }))
}

async fn build(
    state: &AppState,
    principal: &Principal,
    pass: Option<&ProjectPass>,
    name: &str,
) -> ApiResult<Json<EnvironmentDetail>> {
    let (resolved, build) = state.environments().build(principal, pass, name).await?;
    Ok(Json(EnvironmentDetail {
        environment: resolved.environment,
        version: resolved.version,
        build: Some(build),
    }))
}

async fn logs(state: &AppState, pass: Option<&ProjectPass>, name: &str) -> ApiResult<Response> {
    let text = state.environments().logs(pass, name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// A project's environments and the global ones (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/environments", tag = "environments", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = Vec<Environment>)))]
pub(crate) async fn list_project_environments(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Environment>>> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    Ok(Json(state.environments().list(Some(&pass)).await?))
}

/// Creates an environment of the project, version 1 (contributors). Nothing is resolved
/// or built until it is built or first used.
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/environments", tag = "environments", params(("organization" = String, Path), ("project" = String, Path)), request_body = CreateEnvironmentRequest, responses((status = 201, body = EnvironmentDetail)))]
pub(crate) async fn create_project_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(request): ApiJson<CreateEnvironmentRequest>,
) -> ApiResult<(StatusCode, Json<EnvironmentDetail>)> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    create(&state, &principal, Some(&pass), request).await
}

/// One version of an environment (`NAME` or `NAME:VERSION`) with its lock and build (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), responses((status = 200, body = EnvironmentDetail)))]
pub(crate) async fn get_project_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> ApiResult<Json<EnvironmentDetail>> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    show(&state, Some(&pass), &name).await
}

/// Makes a new version of the project's environment asking for the body (contributors);
/// refused when nothing changed.
#[utoipa::path(put, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), request_body = EnvironmentSpec, responses((status = 200, body = EnvironmentVersion)))]
pub(crate) async fn update_project_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
    ApiJson(spec): ApiJson<EnvironmentSpec>,
) -> ApiResult<Json<EnvironmentVersion>> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    Ok(Json(
        state
            .environments()
            .update(&principal, Some(&pass), &name, spec)
            .await?,
    ))
}

/// Deletes the project's environment and its versions (contributors).
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_project_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    state
        .environments()
        .delete(&principal, Some(&pass), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of an environment, newest first (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/versions", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), responses((status = 200, body = EnvironmentHistory)))]
pub(crate) async fn project_environment_versions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> ApiResult<Json<EnvironmentHistory>> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    history(&state, Some(&pass), &name).await
}

/// Resolves (once) and builds (once per lock) a version, and answers when it is ready
/// (contributors). A failed resolution names the package and the resolver's reason.
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/build", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), responses((status = 200, body = EnvironmentDetail)))]
pub(crate) async fn build_project_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> ApiResult<Json<EnvironmentDetail>> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    build(&state, &principal, Some(&pass), &name).await
}

/// A version's resolution and build logs, as text (members); they grow while it builds.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/logs", tag = "environments", params(("organization" = String, Path), ("project" = String, Path), ("name" = String, Path)), responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn project_environment_logs(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let pass = pass(&state, &principal, &organization, &project).await?;
    logs(&state, Some(&pass), &name).await
}

/// The global environments (everyone signed in).
#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", responses((status = 200, body = Vec<Environment>)))]
pub(crate) async fn list_global_environments(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> ApiResult<Json<Vec<Environment>>> {
    Ok(Json(state.environments().list(None).await?))
}

/// Creates a global environment (admins).
#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", request_body = CreateEnvironmentRequest, responses((status = 201, body = EnvironmentDetail)))]
pub(crate) async fn create_global_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(request): ApiJson<CreateEnvironmentRequest>,
) -> ApiResult<(StatusCode, Json<EnvironmentDetail>)> {
    create(&state, &principal, None, request).await
}

/// One version of a global environment (everyone signed in).
#[utoipa::path(get, path = "/api/v1/environments/{name}", tag = "environments", params(("name" = String, Path)), responses((status = 200, body = EnvironmentDetail)))]
pub(crate) async fn get_global_environment(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<EnvironmentDetail>> {
    show(&state, None, &name).await
}

/// Makes a new version of a global environment (admins).
#[utoipa::path(put, path = "/api/v1/environments/{name}", tag = "environments", params(("name" = String, Path)), request_body = EnvironmentSpec, responses((status = 200, body = EnvironmentVersion)))]
pub(crate) async fn update_global_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(name): Path<String>,
    ApiJson(spec): ApiJson<EnvironmentSpec>,
) -> ApiResult<Json<EnvironmentVersion>> {
    Ok(Json(
        state
            .environments()
            .update(&principal, None, &name, spec)
            .await?,
    ))
}

/// Deletes a global environment (admins).
#[utoipa::path(delete, path = "/api/v1/environments/{name}", tag = "environments", params(("name" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_global_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.environments().delete(&principal, None, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of a global environment (everyone signed in).
#[utoipa::path(get, path = "/api/v1/environments/{name}/versions", tag = "environments", params(("name" = String, Path)), responses((status = 200, body = EnvironmentHistory)))]
pub(crate) async fn global_environment_versions(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<EnvironmentHistory>> {
    history(&state, None, &name).await
}

/// Resolves and builds a global environment's version (admins; projects build it by
/// using it).
#[utoipa::path(post, path = "/api/v1/environments/{name}/build", tag = "environments", params(("name" = String, Path)), responses((status = 200, body = EnvironmentDetail)))]
pub(crate) async fn build_global_environment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<EnvironmentDetail>> {
    build(&state, &principal, None, &name).await
}

/// A global environment's resolution and build logs (everyone signed in).
#[utoipa::path(get, path = "/api/v1/environments/{name}/logs", tag = "environments", params(("name" = String, Path)), responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn global_environment_logs(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    logs(&state, None, &name).await
}
