//! The environments pages of a project: the project's and the global environments, and one
//! environment's versions with a version's request, lock, build and logs.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_types::{Environment, EnvironmentVersion};
use serde::Deserialize;

use super::layout::page;
use super::session::PageUser;
use super::{error_page, project_crumbs, project_tabs, shown_message, viewer_pass};
use crate::{ApiError, AppState};

fn env_error_page(error: plinth_envs::EnvError) -> Response {
    let error = ApiError::from(error);
    error_page(error.status(), &shown_message(&error))
}

fn scope_text(environment: &Environment) -> &'static str {
    if environment.project_id.is_some() {
        "project"
    } else {
        "global"
    }
}

/// `GET /projects/{organization}/{project}/environments`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let environments = match state.environments().list(Some(&pass)).await {
        Ok(environments) => environments,
        Err(error) => return env_error_page(error),
    };
    let base = format!("/projects/{organization}/{project}/environments");
    page(
        &user.viewer,
        "Environments",
        "/jobs",
        html! {
            (project_crumbs(&pass))
            h1 { "Environments" }
            (project_tabs(&pass, "environments"))
            p.muted {
                "Jobs run in an environment: " code { "plinth jobs run --env NAME[:VERSION]" } ". "
                "Each version is resolved once into a lock and built once per lock. "
                "Create and change them with " code { "plinth envs" } "."
            }
            table #environments {
                thead { tr { th { "Name" } th { "Scope" } th { "Latest version" } th { "Created by" } } }
                tbody {
                    @for environment in &environments {
                        tr {
                            td { a href=(format!("{base}/{}", environment.name)) { (environment.name) } }
                            td { (scope_text(environment)) }
                            td { (environment.latest_version) }
                            td { (environment.created_by) }
                        }
                    }
                    @if environments.is_empty() {
                        tr { td colspan="4" { "No environments yet." } }
                    }
                }
            }
        },
    )
    .into_response()
}

/// Which version a page shows.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct VersionQuery {
    #[serde(default)]
    version: Option<u32>,
}

/// `GET /projects/{organization}/{project}/environments/{name}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, name)): Path<(String, String, String)>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let reference = match query.version {
        Some(version) => format!("{name}:{version}"),
        None => name.clone(),
    };
    let service = state.environments();
    let (environment, version, build) = match service.show(Some(&pass), &reference).await {
        Ok(found) => found,
        Err(error) => return env_error_page(error),
    };
    let versions = match service.versions(Some(&pass), &name).await {
        Ok((_, versions)) => versions,
        Err(error) => return env_error_page(error),
    };
    let logs = service
        .logs(Some(&pass), &reference)
        .await
        .unwrap_or_default();
    let here = format!("/projects/{organization}/{project}/environments/{name}");
    page(
        &user.viewer,
        &format!("{name} · Environment"),
        "/jobs",
        html! {
            (project_crumbs(&pass))
            h1 { (environment.name) ":" (version.version) " " span.badge { (scope_text(&environment)) } }
            (project_tabs(&pass, "environments"))
            (version_facts(&version, build.as_ref()))
            h2 { "Versions" }
            table #environment-versions {
                thead { tr { th { "Version" } th { "By" } th { "Changed" } th { "Python" } th { "Resolution" } th { "Lock" } } }
                tbody {
                    @for each in &versions {
                        tr {
                            td { a href=(format!("{here}?version={}", each.version)) { (each.version) } }
                            td { (each.created_by) }
                            td { (each.changes.join(", ")) }
                            td { (each.spec.python) }
                            td { (each.resolution.as_str()) }
                            td { code { (each.lock_hash.as_deref().and_then(|hash| hash.get(..12)).unwrap_or("-")) } }
                        }
                    }
                }
            }
            @if let Some(lock) = &version.lock {
                h2 { "Lock" }
                p.muted { "Python " (lock.python_version) ", " (lock.platform) ", resolved with uv " (lock.uv_version) ": "
                    (lock.packages.len()) " packages, each pinned with its archives' hashes." }
                pre.log #environment-lock { (lock.requirements) }
            }
            h2 { "Resolution and build log" }
            @if logs.is_empty() {
                p.muted { "Nothing has run yet: the version is resolved and built by " code { "plinth envs build" } " or its first job." }
            } @else {
                pre.log #environment-log { (logs) }
            }
        },
    )
    .into_response()
}

fn version_facts(
    version: &EnvironmentVersion,
    build: Option<&plinth_types::EnvironmentBuild>,
) -> Markup {
    let spec = &version.spec;
    html! {
        dl.facts #environment-facts {
            dt { "Python" } dd { (spec.python) }
            dt { "Packages" } dd { @if spec.packages.is_empty() { "-" } @else { code { (spec.packages.join(" ")) } } }
            dt { "Requirements" } dd { @if spec.requirements.is_empty() { "-" } @else { pre { (spec.requirements) } } }
            @if !spec.env.is_empty() {
                dt { "Variables" } dd { code { (spec.env.keys().cloned().collect::<Vec<_>>().join(", ")) } }
            }
            dt { "Created" } dd { "by " (version.created_by) "; changed: " (version.changes.join(", ")) }
            dt { "Resolution" } dd {
                (version.resolution.as_str())
                @if let Some(error) = &version.resolution_error { " — " span.error { (error) } }
            }
            dt { "Lock hash" } dd { code { (version.lock_hash.as_deref().unwrap_or("-")) } }
            dt { "Build" } dd {
                @match build {
                    Some(build) => {
                        (build.state.as_str())
                        @if let Some(error) = &build.error { " — " span.error { (error) } }
                    }
                    None => "not built",
                }
            }
        }
    }
}
