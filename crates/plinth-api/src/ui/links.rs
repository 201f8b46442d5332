//! The links the mlflow client prints for every run, `HOST/#/experiments/ID/runs/RUN` and
//! the same under `/projects/ORG/NAME/`: the fragment never reaches the server, so
//! `assets/plinth.js` on the page they land on sends the browser on — to `/runs/{run_id}`
//! (which finds the run among the caller's projects) or to the project's run page. The
//! project form ends in a slash, which `project_slash` redirects away (browsers keep the
//! fragment across a redirect whose target has none).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use plinth_core::ProjectSelector;

use super::session::{urlencode, PageUser};
use crate::AppState;

/// Projects a run is looked for in, at most (one store read each).
const FIND_IN_PROJECTS: usize = 500;

/// `GET /projects/{organization}/{project}/`: the project page, without the slash.
pub(crate) async fn project_slash(
    Path((organization, project)): Path<(String, String)>,
) -> Response {
    Redirect::permanent(&format!(
        "/projects/{}/{}",
        urlencode(&organization),
        urlencode(&project)
    ))
    .into_response()
}

/// `GET /runs/{run_id}`: the run's page in whichever of the caller's projects holds it.
pub(crate) async fn find_run(
    State(state): State<AppState>,
    user: PageUser,
    Path(run_id): Path<String>,
) -> Response {
    let projects = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    for (project, _) in projects.iter().take(FIND_IN_PROJECTS) {
        let selector = ProjectSelector::Named {
            organization: project.organization.to_string(),
            project: project.name.to_string(),
        };
        let Ok(tracking) = state.tracking().authorize(&user.principal, &selector).await else {
            continue;
        };
        if state.tracking().get_run(&tracking, &run_id).await.is_ok() {
            return Redirect::to(&format!(
                "/projects/{}/{}/runs/{}",
                urlencode(&project.organization.to_string()),
                urlencode(&project.name.to_string()),
                urlencode(&run_id)
            ))
            .into_response();
        }
    }
    super::layout::error_page_for(
        &user.viewer,
        StatusCode::NOT_FOUND,
        &format!("Run `{run_id}` is not in any project you can see."),
        ("/experiments", "Experiments"),
    )
}
