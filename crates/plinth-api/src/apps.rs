//! Handlers of Apps: `/api/v1/orgs/{organization}/projects/{project}/apps…` (create,
//! list, show, stop, logs). Each authenticates and calls the runtime service, which
//! authorizes, validates and audits; the gateway (`plinth-gateway`) serves the Apps
//! themselves on their own origins.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use plinth_api_types::LogQuery;
use plinth_core::{Principal, ProjectPass};
use plinth_types::{AppRequest, AppView, Role};

use crate::identity::{Authenticated, ClientInfoExtractor};
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

async fn project_pass(
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

/// Deploys an App (contributors) from a snapshot and a command, on its own origin
/// (`url`); a stopped App of the same name is deployed again.
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/apps", tag = "apps", params(("organization" = String, Path), ("project" = String, Path)), request_body = AppRequest, responses((status = 201, body = AppView)))]
pub(crate) async fn create_app(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(request): ApiJson<AppRequest>,
) -> ApiResult<(StatusCode, Json<AppView>)> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    let app = state
        .runtime()
        .create_app(&principal, &pass, &request, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(app)))
}

/// The project's Apps, by name (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/apps", tag = "apps", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = Vec<AppView>)))]
pub(crate) async fn list_apps(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<Vec<AppView>>> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    Ok(Json(state.runtime().list_apps(&pass).await?))
}

/// One App (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/apps/{app}", tag = "apps", params(("organization" = String, Path), ("project" = String, Path), ("app" = String, Path)), responses((status = 200, body = AppView)))]
pub(crate) async fn get_app(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, app)): Path<(String, String, String)>,
) -> ApiResult<Json<AppView>> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    Ok(Json(state.runtime().get_app(&pass, &app).await?))
}

/// Stops an App (contributors).
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/apps/{app}/stop", tag = "apps", params(("organization" = String, Path), ("project" = String, Path), ("app" = String, Path)), responses((status = 200, body = AppView)))]
pub(crate) async fn stop_app(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, app)): Path<(String, String, String)>,
) -> ApiResult<Json<AppView>> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    Ok(Json(
        state
            .runtime()
            .stop_app(&principal, &pass, &app, &client)
            .await?,
    ))
}

/// An App's output as plain text (members); `follow=true` streams until it ends.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/apps/{app}/logs", tag = "apps", params(("organization" = String, Path), ("project" = String, Path), ("app" = String, Path), LogQuery), responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn app_logs(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, app)): Path<(String, String, String)>,
    Query(params): Query<LogQuery>,
) -> ApiResult<Response> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    let stream = state
        .runtime()
        .app_logs(&pass, &app, crate::runtime::log_options(&params))
        .await?;
    Ok(crate::runtime::streamed_log(stream))
}
