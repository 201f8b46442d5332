//! Model APIs: a project's deployments (state, model version, endpoint URL, a copyable
//! `curl` example) and the form that deploys a registered model version (Contributors;
//! the model version page's "Deploy" button opens it with the version filled in).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_api_types::DeploymentState;
use serde::Deserialize;

use super::layout::{csrf_field, notice, page};
use super::session::{back, PageForm, PageUser};
use super::{format_ms, may_submit, project_crumbs, project_tabs, viewer_pass};
use crate::{ApiError, AppState};

fn deployments_path(organization: &str, project: &str) -> String {
    format!("/projects/{organization}/{project}/deployments")
}

/// The page's query: a model to prefill (`?model=iris/3`) and the notices.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    model: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

fn state_badge(state: DeploymentState) -> Markup {
    let class = match state {
        DeploymentState::Loading => "badge state-starting",
        DeploymentState::Ready => "badge state-running",
        DeploymentState::Failed => "badge state-failed",
    };
    html! { span class=(class) { (state.as_str()) } }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let deployments = match state.serving().list(&pass).await {
        Ok(deployments) => deployments,
        Err(error) => {
            let error = ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let details = pass.project();
    let viewer = &user.viewer;
    let writable = may_submit(&pass);
    page(
        viewer,
        &format!("Deployments · {}", details.display_name),
        "/projects",
        html! {
            (project_crumbs(&pass))
            h1 { (details.display_name) " " span.muted { code { (details.name) } } }
            (project_tabs(&pass, "deployments"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            p.muted {
                "Registered model versions served as HTTP APIs: MLflow scoring at "
                code { "…/invocations" } " and the Open Inference Protocol at " code { "…/v2/…" }
                ", for the project's members with a token (" code { "Authorization: Bearer plt_…" } ")."
            }
            @if deployments.is_empty() {
                p.muted #no-deployments { "No deployments yet." }
            } @else {
                table #deployments {
                    thead { tr { th { "State" } th { "Name" } th { "Model" } th { "Endpoint" } th { "By" } th { "Deployed" } } }
                    tbody {
                        @for deployment in &deployments {
                            @let view = crate::deployments::view(&pass, deployment.clone());
                            @let curl = format!(
                                "curl -H \"Authorization: Bearer $PLINTH_TOKEN\" -H 'Content-Type: application/json' -d '{{\"dataframe_split\": {{\"columns\": [...], \"data\": [[...]]}}}}' $PLINTH_URL{}/invocations",
                                view.path
                            );
                            tr {
                                td { (state_badge(view.state))
                                    @if let Some(message) = &view.message { br; span.muted { (message) } } }
                                td { (view.name) }
                                td { a href=(format!("/projects/{}/{}/models/{}/versions/{}", details.organization, details.name, view.model, view.model_version)) {
                                        (view.model) " v" (view.model_version) }
                                     " " span.muted { "(" (view.model_ref) ")" } }
                                td { code { (view.path) } " " (super::long_value(&curl)) }
                                td { (view.created_by) }
                                td { (format_ms(view.created_at_ms)) }
                            }
                        }
                    }
                }
            }
            @if writable {
                section.card-section #deploy {
                    h2 { "Deploy a model version" }
                    p.muted { "The version needs an ONNX flavor (" code { "mlflow.onnx.log_model" } "). Name the model as "
                        code { "MODEL/VERSION" } " or " code { "MODEL@ALIAS" } "." }
                    form method="post" action=(deployments_path(&organization, &project)) {
                        (csrf_field(viewer))
                        div.form-row {
                            label { "Name" input type="text" name="name" required pattern="[a-z][a-z0-9-]{0,62}" placeholder="iris"; }
                            label { "Model" input type="text" name="model" required placeholder="iris@champion" value=[query.model.as_deref()]; }
                        }
                        button type="submit" { "Deploy" }
                    }
                }
            }
        },
    )
    .into_response()
}

/// The deploy form.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    model: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Path((organization, project)): Path<(String, String)>,
    PageForm { user, form }: PageForm<CreateForm>,
) -> Result<Response, Response> {
    let pass = viewer_pass(&state, &user, &organization, &project).await?;
    let here = deployments_path(&organization, &project);
    let request = plinth_api_types::CreateDeploymentRequest {
        name: form.name.trim().to_string(),
        model: form.model.trim().to_string(),
    };
    let client = plinth_core::ClientInfo::default();
    Ok(
        match state
            .serving()
            .create(&user.principal, &pass, &request, &client)
            .await
        {
            Ok(deployment) => back(
                &here,
                "ok",
                &format!(
                    "Deployment `{}` of `{}` version {} is loading.",
                    deployment.name, deployment.model_name, deployment.model_version
                ),
            ),
            Err(error) => back(&here, "error", ApiError::from(error).message()),
        },
    )
}
