//! Apps: a project's list of Apps and an App's page (its URL, state, readiness path and
//! latest output), and the gateway's handshake page on the main origin, which sends a
//! signed-in visitor back to an App's own origin with a one-time code.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use maud::html;
use plinth_executor::LogOptions;
use plinth_types::{AppView, HasErrorKind};
use serde::Deserialize;

use super::layout::{error_page, page};
use super::session::PageUser;
use super::{
    core_error_page, format_ms, project_crumbs, project_tabs, shown_message, state_badge,
    viewer_pass,
};
use crate::{ApiError, AppState};

/// Lines of output the App page shows.
const TAIL_LINES: u32 = 200;

fn apps_path(organization: &str, project: &str) -> String {
    format!("/projects/{organization}/{project}/apps")
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let apps = match state.runtime().list_apps(&pass).await {
        Ok(apps) => apps,
        Err(error) => return core_error_page(error),
    };
    let details = pass.project();
    let base = apps_path(&organization, &project);
    page(
        &user.viewer,
        &format!("Apps · {}", details.display_name),
        "/projects",
        html! {
            (project_crumbs(&pass))
            h1 { (details.display_name) " " span.muted { code { (details.name) } } }
            (project_tabs(&pass, "apps"))
            p.muted {
                "Web apps of this project, each on an origin of its own. Deploy one with "
                code { "plinth apps create NAME -- COMMAND" } "."
            }
            @if apps.is_empty() {
                p.muted #no-apps { "No apps yet." }
            } @else {
                table #apps {
                    thead { tr { th { "State" } th { "Name" } th { "URL" } th { "Access" } th { "By" } th { "Deployed" } } }
                    tbody {
                        @for app in &apps {
                            tr {
                                td { (state_badge(app.state, None)) }
                                td { a href=(format!("{base}/{}", app.name)) { (app.name) } }
                                td { a href=(app.url) rel="noopener" { (app.url) } }
                                td { (access_text(app)) }
                                td { (app.created_by_username) }
                                td { (format_ms(app.created_at_ms)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn access_text(app: &AppView) -> &'static str {
    if app.public {
        "public"
    } else {
        "project members"
    }
}

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, name)): Path<(String, String, String)>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let app = match state.runtime().get_app(&pass, &name).await {
        Ok(app) => app,
        Err(error) => return core_error_page(error),
    };
    let output = match state
        .runtime()
        .app_logs(
            &pass,
            &name,
            LogOptions {
                follow: false,
                from_offset: 0,
                tail_lines: Some(TAIL_LINES),
            },
        )
        .await
    {
        Ok(mut stream) => {
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.extend_from_slice(&chunk);
            }
            Ok(String::from_utf8_lossy(&text).into_owned())
        }
        Err(error) => Err(shown_message(&ApiError::from(error))),
    };
    let base = apps_path(&organization, &project);
    page(
        &user.viewer,
        &format!("{} · App", app.name),
        "/projects",
        html! {
            (super::crumbs(&pass, &[(base.clone(), "Apps".to_string()), (String::new(), app.name.clone())]))
            h1 { (app.name) " " (state_badge(app.state, Some("app-state"))) }
            dl.facts #app-facts {
                dt { "URL" } dd { a #app-url href=(app.url) rel="noopener" { (app.url) } }
                dt { "Access" } dd { (access_text(&app)) }
                dt { "State" } dd { (app.state.as_str()) }
                dt { "Reason" } dd { (if app.reason.is_empty() { "—" } else { &app.reason }) }
                dt { "Readiness path" } dd { code { (app.health_path) } }
                dt { "Workload" } dd { a href=(format!("/projects/{organization}/{project}/jobs/{}", app.workload_id)) { code { (app.workload_id) } } }
                dt { "Deployed by" } dd { (app.created_by_username) " · " (format_ms(app.created_at_ms)) }
            }
            h2 { "Latest output" }
            @match &output {
                Ok(text) if text.is_empty() => p.muted { "No output yet." },
                Ok(text) => pre.log #app-log tabindex="0" { (text) },
                Err(message) => p.error { (message) },
            }
        },
    )
    .into_response()
}

/// `?app=LABEL&next=PATH`.
#[derive(Debug, Deserialize)]
pub(crate) struct HandshakeQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    next: Option<String>,
}

/// `GET /gateway/handshake`: the main origin's half of an App's sign-in. A signed-in
/// visitor who may view the App's project goes back to the App's origin with a one-time
/// code; others see why not (those not signed in log in first).
pub(crate) async fn handshake(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<HandshakeQuery>,
) -> Response {
    let next = query.next.as_deref().unwrap_or("/");
    match state
        .gateway()
        .handshake(&user.principal, &query.app, next)
        .await
    {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(error) => {
            let status = StatusCode::from_u16(error.kind().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status.is_server_error() {
                tracing::error!(error = %error, "app handshake failed");
                "internal error".to_string()
            } else {
                error.to_string()
            };
            error_page(status, &message)
        }
    }
}
