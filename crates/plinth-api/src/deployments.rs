//! The Model APIs' management API:
//! `/api/v1/orgs/{organization}/projects/{project}/deployments…` (create, list, show,
//! delete). Each authenticates and calls `plinth-serving`, which authorizes (members read,
//! Contributors change), resolves the model in the registry and audits. The endpoints
//! themselves are `serving.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_api_types::{CreateDeploymentRequest, DeploymentView};
use plinth_core::{Principal, ProjectPass};
use plinth_serving::Deployment;
use plinth_types::Role;

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

/// Returns how users see a deployment of the project `pass` names.
pub(crate) fn view(pass: &ProjectPass, deployment: Deployment) -> DeploymentView {
    let project = pass.project();
    DeploymentView {
        path: format!(
            "/{}/{}/models/{}",
            project.organization, project.name, deployment.name
        ),
        name: deployment.name,
        model: deployment.model_name,
        model_version: deployment.model_version,
        model_ref: deployment.model_ref,
        flavor: deployment.flavor,
        state: deployment.state,
        message: deployment.message,
        created_by: deployment.created_by,
        created_at_ms: deployment.created_at_ms,
        updated_at_ms: deployment.updated_at_ms,
    }
}

/// Deploys a registered model version (contributors): `model` is `MODEL/VERSION` or
/// `MODEL@ALIAS`; the version needs an `onnx` flavor. Answers at once with state
/// `loading`; the model loads in the background (`ready` or `failed` with the reason).
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects/{project}/deployments", tag = "deployments", params(("organization" = String, Path), ("project" = String, Path)), request_body = CreateDeploymentRequest, responses((status = 201, body = DeploymentView)))]
pub(crate) async fn create_deployment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(request): ApiJson<CreateDeploymentRequest>,
) -> ApiResult<(StatusCode, Json<DeploymentView>)> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    let deployment = state
        .serving()
        .create(&principal, &pass, &request, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&pass, deployment))))
}

/// The project's deployments, by name (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/deployments", tag = "deployments", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = Vec<DeploymentView>)))]
pub(crate) async fn list_deployments(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<Vec<DeploymentView>>> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    let deployments = state.serving().list(&pass).await?;
    Ok(Json(
        deployments
            .into_iter()
            .map(|deployment| view(&pass, deployment))
            .collect(),
    ))
}

/// One deployment (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/deployments/{deployment}", tag = "deployments", params(("organization" = String, Path), ("project" = String, Path), ("deployment" = String, Path)), responses((status = 200, body = DeploymentView)))]
pub(crate) async fn get_deployment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project, deployment)): Path<(String, String, String)>,
) -> ApiResult<Json<DeploymentView>> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    let found = state.serving().get(&pass, &deployment).await?;
    Ok(Json(view(&pass, found)))
}

/// Deletes a deployment (contributors): its endpoint answers 404 from then on.
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}/projects/{project}/deployments/{deployment}", tag = "deployments", params(("organization" = String, Path), ("project" = String, Path), ("deployment" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_deployment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, deployment)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let pass = project_pass(&state, &principal, &organization, &project).await?;
    state
        .serving()
        .delete(&principal, &pass, &deployment, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
