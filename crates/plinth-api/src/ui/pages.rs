//! The pages of this build: the start page, the status page and one page per area.

use axum::extract::{MatchedPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::layout::{error_page, page};
use super::session::PageUser;
use super::{format_ms, AREAS};
use crate::health::collect_status;
use crate::AppState;
use plinth_api_types::DependencyCheck;

pub(crate) async fn home(State(state): State<AppState>, user: PageUser) -> Markup {
    let readiness = crate::health::check_readiness(&state).await;
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
            div.cards {
                @for area in AREAS {
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
