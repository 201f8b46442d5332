//! Pipelines: a project's pipeline runs, and a run's page (its tasks and states, the root
//! DAG drawn as SVG on the server, nodes colored by state).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_core::ProjectSelector;
use plinth_pipelines::model::{RunState, TaskRecord, TaskState};
use plinth_pipelines::PipelinePass;

use super::layout::{error_page, page};
use super::session::PageUser;
use super::{format_ms, project_crumbs, project_tabs, shown_message, viewer_pass};
use crate::{ApiError, AppState};

fn runs_path(organization: &str, project: &str) -> String {
    format!("/projects/{organization}/{project}/pipelines")
}

fn failure(error: plinth_pipelines::PipelineError) -> Response {
    let error = ApiError::from(error);
    error_page(error.status(), &shown_message(&error))
}

async fn pipeline_pass(
    state: &AppState,
    user: &PageUser,
    organization: &str,
    project: &str,
) -> Result<PipelinePass, Response> {
    state
        .pipelines()
        .authorize(
            &user.principal,
            &ProjectSelector::Named {
                organization: organization.to_string(),
                project: project.to_string(),
            },
        )
        .await
        .map_err(failure)
}

fn run_badge(state: RunState) -> Markup {
    html! { span class=(format!("badge state-{}", state.as_str().to_lowercase())) { (state.as_str()) } }
}

fn task_badge(state: TaskState) -> Markup {
    html! { span class=(format!("badge state-{}", state.as_str().to_lowercase())) { (state.as_str()) } }
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
    let pipelines = match pipeline_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let runs = match state.pipelines().list_runs(&pipelines, None).await {
        Ok(runs) => runs,
        Err(error) => return failure(error),
    };
    let details = pass.project();
    let base = runs_path(&organization, &project);
    page(
        &user.viewer,
        &format!("Pipeline runs · {}", details.display_name),
        "/projects",
        html! {
            (project_crumbs(&pass))
            h1 { (details.display_name) " " span.muted { code { (details.name) } } }
            (project_tabs(&pass, "pipelines"))
            p.muted {
                "Kubeflow Pipelines compiled with the kfp SDK, run unchanged. Submit with "
                code { "plinth pipelines run FILE.yaml" } " or "
                code { (format!("kfp.Client(host=\"…/projects/{organization}/{project}\")")) } "."
            }
            @if runs.is_empty() {
                p.muted #no-pipeline-runs { "No pipeline runs yet." }
            } @else {
                table #pipeline-runs {
                    thead { tr { th { "State" } th { "Name" } th { "Started" } th { "Ended" } } }
                    tbody {
                        @for run in &runs {
                            tr {
                                td { (run_badge(run.state)) }
                                td { a href=(format!("{base}/runs/{}", run.id)) { (run.display_name) } }
                                td { (format_ms(run.created_at_ms)) }
                                td { (run.finished_at_ms.map(format_ms).unwrap_or_else(|| "—".to_string())) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

/// Fill colors of the DAG's nodes by state.
fn fill(state: Option<TaskState>) -> &'static str {
    match state {
        Some(TaskState::Succeeded) => "#2e7d32",
        Some(TaskState::Running) => "#1565c0",
        Some(TaskState::Failed) => "#c62828",
        Some(TaskState::Canceled) => "#6d4c41",
        Some(TaskState::Skipped) => "#9e9e9e",
        Some(TaskState::Pending) | None => "#757575",
    }
}

/// The root DAG as SVG: a column per depth (longest chain of upstream tasks), edges from
/// each task to those that need it, nodes colored by state.
fn dag_svg(spec: &serde_json::Value, tasks: &BTreeMap<String, TaskRecord>) -> Option<Markup> {
    let spec = plinth_pipelines::ir::parse_spec_value(spec.clone()).ok()?;
    let dag = spec.root.dag.as_ref()?;
    let upstream = plinth_pipelines::ir::dependencies(dag);
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    // The DAG is acyclic (checked at submission): relax depths until they settle.
    for _ in 0..=dag.tasks.len() {
        for (name, before) in &upstream {
            let wanted = before
                .iter()
                .map(|other| depth.get(other.as_str()).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            depth.insert(name.as_str(), wanted);
        }
    }
    let mut columns: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (name, level) in &depth {
        columns.entry(*level).or_default().push(name);
    }
    let (width, height, gap_x, gap_y) = (150.0, 36.0, 60.0, 18.0);
    let mut position: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (level, names) in &columns {
        for (row, name) in names.iter().enumerate() {
            position.insert(
                name,
                (
                    10.0 + *level as f64 * (width + gap_x),
                    10.0 + row as f64 * (height + gap_y),
                ),
            );
        }
    }
    let total_width = 20.0 + columns.len() as f64 * (width + gap_x);
    let rows = columns.values().map(Vec::len).max().unwrap_or(1);
    let total_height = 20.0 + rows as f64 * (height + gap_y);
    Some(html! {
        svg #pipeline-dag role="img" aria-label="The pipeline's tasks and their order"
            width=(total_width) height=(total_height) viewBox=(format!("0 0 {total_width} {total_height}")) {
            @for (name, before) in &upstream {
                @for other in before {
                    @if let (Some((x1, y1)), Some((x2, y2))) = (position.get(other.as_str()), position.get(name.as_str())) {
                        line x1=(x1 + width) y1=(y1 + height / 2.0) x2=(x2) y2=(y2 + height / 2.0) stroke="#888" stroke-width="1.5" {}
                    }
                }
            }
            @for (name, (x, y)) in &position {
                @let state = tasks.get(*name).map(|task| task.state);
                g {
                    title { (name) ": " (state.map_or("NOT STARTED", TaskState::as_str)) }
                    rect x=(x) y=(y) width=(width) height=(height) rx="6" fill=(fill(state)) {}
                    text x=(x + 8.0) y=(y + 23.0) fill="#ffffff" font-size="13" {
                        (name.chars().take(20).collect::<String>())
                    }
                }
            }
        }
    })
}

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, run_id)): Path<(String, String, String)>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let pipelines = match pipeline_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let view = match state.pipelines().get_run(&pipelines, &run_id).await {
        Ok(view) => view,
        Err(error) => return failure(error),
    };
    let run = &view.run;
    let tasks: BTreeMap<String, TaskRecord> = view
        .tasks
        .iter()
        .map(|task| (task.key.clone(), task.clone()))
        .collect();
    let base = runs_path(&organization, &project);
    page(
        &user.viewer,
        &format!("{} · pipeline run", run.display_name),
        "/projects",
        html! {
            (super::crumbs(&pass, &[(base.clone(), "Pipeline runs".to_string()), (String::new(), run.display_name.clone())]))
            h1 { (run.display_name) " " (run_badge(run.state)) }
            dl.facts #pipeline-run-facts {
                dt { "Run" } dd { code { (run.id) } }
                dt { "Started" } dd { (format_ms(run.created_at_ms)) }
                dt { "Ended" } dd { (run.finished_at_ms.map(format_ms).unwrap_or_else(|| "—".to_string())) }
                @if let Some(error) = &run.error {
                    dt { "Error" } dd #pipeline-run-error { (error) }
                }
                dt { "Parameters" } dd { code { (serde_json::Value::from(serde_json::Map::from_iter(run.parameters.clone()))) } }
            }
            @if let Some(svg) = dag_svg(&run.spec, &tasks) {
                h2 { "Graph" }
                div.dag { (svg) }
            }
            h2 { "Tasks" }
            @if view.tasks.is_empty() {
                p.muted #no-pipeline-tasks { "No task has started yet." }
            } @else {
                table #pipeline-tasks {
                    thead { tr { th { "State" } th { "Task" } th { "Job" } th { "Outputs" } th { "Note" } } }
                    tbody {
                        @for task in &view.tasks {
                            tr {
                                td { (task_badge(task.state)) }
                                td { code { (task.key) } }
                                td {
                                    @if let Some(job) = &task.workload_id {
                                        a href=(format!("/projects/{organization}/{project}/jobs/{job}")) { "job" }
                                    } @else { "—" }
                                }
                                td { code { (serde_json::Value::from(serde_json::Map::from_iter(task.outputs.clone()))) } }
                                td { (task.error.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
