//! The pages of this build: the start page, the status page and one page per area.

use axum::extract::{MatchedPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use plinth_core::tracking::RegistrySearch;
use plinth_core::ProjectPass;
use plinth_types::{JobView, ModelVersionStage, RegisteredModel, Run};

use super::layout::{error_page, page};
use super::session::PageUser;
use super::{format_ms, AREAS};
use crate::health::collect_status;
use crate::AppState;
use plinth_api_types::DependencyCheck;

/// Projects the home page looks into at most, and rows per list.
const HOME_PROJECTS: usize = 20;
const HOME_ROWS: usize = 8;

/// What the home page lists: the newest runs, jobs and models across the caller's projects.
#[derive(Default)]
struct Recent {
    runs: Vec<(ProjectPass, Run)>,
    jobs: Vec<(ProjectPass, JobView)>,
    models: Vec<(ProjectPass, RegisteredModel)>,
}

async fn recent(state: &AppState, user: &PageUser) -> Recent {
    let projects = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    let mut recent = Recent::default();
    let rows = HOME_ROWS as i64;
    for (project, _) in projects.iter().take(HOME_PROJECTS) {
        let Ok((pass, tracking)) = super::experiments::tracking_pass(
            state,
            user,
            project.organization.as_str(),
            project.name.as_str(),
        )
        .await
        else {
            continue;
        };
        let tracking_service = state.tracking();
        let runtime = state.runtime();
        let model_search = RegistrySearch {
            order_by: vec!["last_updated_timestamp DESC".to_string()],
            max_results: rows,
            filter: None,
            page_token: None,
        };
        let (runs, jobs, models) = tokio::join!(
            tracking_service.recent_runs(&tracking, rows),
            runtime.list_jobs(&pass, Vec::new(), None, rows),
            tracking_service.search_registered_models(&tracking, &model_search),
        );
        recent.runs.extend(
            runs.unwrap_or_default()
                .into_iter()
                .map(|run| (pass.clone(), run)),
        );
        recent.jobs.extend(
            jobs.unwrap_or_default()
                .into_iter()
                .map(|job| (pass.clone(), job)),
        );
        if let Ok(models) = models {
            recent
                .models
                .extend(models.items.into_iter().map(|model| (pass.clone(), model)));
        }
    }
    recent
        .runs
        .sort_by_key(|(_, run)| std::cmp::Reverse(run.info.start_time));
    recent.runs.truncate(HOME_ROWS);
    recent
        .jobs
        .sort_by_key(|(_, job)| std::cmp::Reverse(job.job.created_at_ms));
    recent.jobs.truncate(HOME_ROWS);
    recent
        .models
        .sort_by_key(|(_, model)| std::cmp::Reverse(model.last_updated_timestamp));
    recent.models.truncate(HOME_ROWS);
    recent
}

fn project_base(pass: &ProjectPass) -> String {
    let project = pass.project();
    format!("/projects/{}/{}", project.organization, project.name)
}

fn project_cell(pass: &ProjectPass) -> Markup {
    html! { td { a href=(project_base(pass)) { (pass.project().display_name) } } }
}

pub(crate) async fn home(State(state): State<AppState>, user: PageUser) -> Markup {
    let (readiness, recent) = tokio::join!(
        crate::health::check_readiness(&state),
        recent(&state, &user)
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    let nothing = recent.runs.is_empty() && recent.jobs.is_empty() && recent.models.is_empty();
    page(
        &user.viewer,
        "Home",
        "/",
        html! {
            h1 { "Welcome, " (user.principal.user().display_name) }
            p.lead { "One self-hosted platform for the whole machine-learning lifecycle, behind one login." }
            div.callout.(if readiness.is_ready() { "ok" } else { "bad" }) {
                @if readiness.is_ready() {
                    "All systems ready: metadata store (" (readiness.metastore.backend) ") and object store ("
                    (readiness.objects.backend) ") answer."
                } @else {
                    "Something needs attention: see the " a href="/status" { "status page" } "."
                }
            }
            @if nothing {
                p.muted #home-empty { "Nothing here yet: runs you log, jobs you submit and models you register in your projects show here. " a href="/projects" { "Your projects" } "." }
            } @else {
                div.home-lists {
                    section.card-section #recent-runs {
                        h2 { "Recent runs" }
                        @if recent.runs.is_empty() {
                            p.muted { "No runs yet." }
                        } @else {
                            table {
                                thead { tr { th { "Run" } th { "State" } th { "Project" } th { "Started" } } }
                                tbody {
                                    @for (pass, run) in &recent.runs {
                                        tr {
                                            td { a href=(format!("{}/runs/{}", project_base(pass), run.info.run_id)) { (super::long_value(&run.info.run_name)) } }
                                            td { (super::experiments::run_status_badge(run.info.status)) }
                                            (project_cell(pass))
                                            td { (super::relative_time(run.info.start_time, now_ms)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section.card-section #recent-jobs {
                        h2 { "Recent jobs" }
                        @if recent.jobs.is_empty() {
                            p.muted { "No jobs yet." }
                        } @else {
                            table {
                                thead { tr { th { "Job" } th { "State" } th { "Project" } th { "Submitted" } } }
                                tbody {
                                    @for (pass, job) in &recent.jobs {
                                        tr {
                                            td { a href=(format!("{}/jobs/{}", project_base(pass), job.job.id)) { (super::long_value(&job.job.name)) } }
                                            td { (super::state_badge(job.job.state, None)) }
                                            (project_cell(pass))
                                            td { (super::relative_time(job.job.created_at_ms, now_ms)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section.card-section #recent-models {
                        h2 { "Recently changed models" }
                        @if recent.models.is_empty() {
                            p.muted { "No registered models yet." }
                        } @else {
                            table {
                                thead { tr { th { "Model" } th { "Latest version" } th { "Project" } th { "Changed" } } }
                                tbody {
                                    @for (pass, model) in &recent.models {
                                        @let latest = model.latest_versions.iter().max_by_key(|version| version.version);
                                        tr {
                                            td { a href=(format!("{}/models/{}", project_base(pass), super::session::urlencode(&model.name))) { (super::long_value(&model.name)) } }
                                            td {
                                                @if let Some(version) = latest {
                                                    "v" (version.version)
                                                    @if version.current_stage != ModelVersionStage::None { " " span.badge { (version.current_stage.as_str()) } }
                                                } @else { span.muted { "none" } }
                                                @for alias in &model.aliases { " " span.badge.role { "@" (alias.alias) } }
                                            }
                                            (project_cell(pass))
                                            td { (super::relative_time(model.last_updated_timestamp, now_ms)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.cards {
                @for area in AREAS.iter().filter(|area| area.built) {
                    a.card href=(area.path) {
                        h2 { (area.title) }
                        p { (area.summary) }
                    }
                }
            }
        },
    )
}

pub(crate) async fn status(State(state): State<AppState>, user: PageUser) -> Response {
    let status = match collect_status(&state, user.principal.is_admin()).await {
        Ok(status) => status,
        Err(error) => return error_page(error.status(), error.message()),
    };
    let runtime = state.runtime();
    let capabilities = runtime.capabilities();
    let code = if status.readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let markup = page(
        &user.viewer,
        "Status",
        "/status",
        html! {
            h1 { "Status" }
            p.lead {
                @if status.readiness.is_ready() { span.badge.ok { "ready" } } @else { span.badge.bad { "unavailable" } }
                " Plinth " (status.version) ", up " (human_duration(status.uptime_seconds)) "."
            }
            h2 { "Dependencies" }
            table {
                thead { tr { th { "Dependency" } th { "Backend" } th { "Location" } th { "State" } th.num { "Latency" } } }
                tbody {
                    (dependency_row("Metadata store", &status.metastore.location, &status.readiness.metastore))
                    (dependency_row("Object store", &status.objects.location, &status.readiness.objects))
                }
            }
            h2 { "Server" }
            dl.facts {
                dt { "Version" } dd { (status.version) }
                dt { "Installation" } dd { code { (status.installation.installation_id) } }
                dt { "Installed" } dd { (format_ms(status.installation.created_at_ms)) }
                dt { "Starts" } dd { (status.installation.start_count) }
                dt { "Schema version" } dd { (status.schema_version) }
                @if let Some(rss) = status.resident_memory_bytes {
                    dt { "Memory (RSS)" } dd { (format!("{:.1} MiB", rss as f64 / 1048576.0)) }
                }
            }
            h2 { "Workload runtime" }
            dl.facts #runtime {
                dt { "Backend" } dd { code { (runtime.backend()) } }
                dt { "Limits" } dd { (capabilities.limits) }
                dt { "GPUs" } dd {
                    @if capabilities.gpus.is_empty() { span.muted { "none" } }
                    @for gpu in &capabilities.gpus { (gpu.index) ": " (gpu.name) br; }
                }
                @if user.viewer.is_admin() {
                    dt { "Configure" } dd { a href="/admin/pools" { "Node pools" } ", " a href="/admin/classes" { "resource classes" } ", " a href="/admin/usage" { "usage" } }
                }
            }
            h2 #isolation { "Workload isolation" }
            p {
                @match capabilities.isolation.level {
                    plinth_executor::IsolationLevel::Full => span.badge.ok { "full" },
                    plinth_executor::IsolationLevel::Partial => span.badge.bad { "partial" },
                    plinth_executor::IsolationLevel::None => span.badge.bad { "none" },
                }
                " " (capabilities.isolation.summary) "."
            }
            table #isolation-mechanisms {
                thead { tr { th { "Mechanism" } th { "Holds" } th { "What it does" } } }
                tbody {
                    @for mechanism in &capabilities.isolation.mechanisms {
                        tr {
                            td { (mechanism.name) }
                            td { @if mechanism.active { span.badge.ok { "yes" } } @else { span.badge.bad { "no" } } }
                            td { (mechanism.detail) }
                        }
                    }
                }
            }
            p.muted {
                "Machine-readable: " a href="/readyz" { "/readyz" } ", " a href="/api/v1/status" { "/api/v1/status" }
                ", " a href="/api/v1/runtime" { "/api/v1/runtime" } ", " a href="/metrics" { "/metrics" } "."
            }
        },
    );
    (code, markup).into_response()
}

fn dependency_row(name: &str, location: &str, check: &DependencyCheck) -> Markup {
    html! {
        tr {
            td { (name) }
            td { code { (check.backend) } }
            td { code { (location) } }
            td {
                @if check.status == "ok" { span.badge.ok { "ok" } }
                @else { span.badge.bad { "unavailable" } " " span.muted { (check.error.as_deref().unwrap_or("")) } }
            }
            td.num { (format!("{:.1} ms", check.latency_ms)) }
        }
    }
}

pub(crate) async fn area(path: MatchedPath, user: PageUser) -> Response {
    let Some(area) = AREAS.iter().find(|area| area.path == path.as_str()) else {
        return error_page(StatusCode::NOT_FOUND, "This page does not exist.");
    };
    page(
        &user.viewer,
        area.title,
        area.path,
        html! {
            h1 { (area.title) }
            p.lead { (area.summary) }
            div.callout.pending {
                strong { "Not in this version yet. " }
                "This area is part of Plinth's plan and arrives in a coming release; "
                "the navigation already shows where it will live."
            }
        },
    )
    .into_response()
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", seconds / 60),
        3600..=86_399 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}
