//! Jobs: the overview of every project's jobs, a project's job list with the submit form,
//! and the job page with its live log (`assets/job.js` follows it; without JavaScript the
//! page shows the output as of loading, and a refresh link).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use maud::{html, Markup};
use plinth_core::runtime::{format_bytes, format_cpu};
use plinth_core::ProjectPass;
use plinth_executor::LogOptions;
use plinth_types::{JobRequest, JobView};
use plinth_types::{ResourceClass, WorkloadState};
use serde::Deserialize;

use super::layout::{csrf_field, notice, page, page_with_script};
use super::session::{back, urlencode, CsrfOnly, PageForm, PageUser};
use super::{
    core_error_page, format_ms, human_duration_ms, may_submit, or_dash, project_crumbs,
    project_tabs, shown_message, state_badge, viewer_pass,
};
use crate::identity::ClientInfoExtractor;
use crate::{ApiError, AppState};

/// Jobs per page of the list.
const PAGE_SIZE: i64 = 50;
/// Lines of output the job page shows as it loads.
pub(crate) const TAIL_LINES: u32 = 2000;
/// Most bytes of output the job page shows as it loads (one long line can be huge).
const MAX_SHOWN_BYTES: usize = 1024 * 1024;

/// The state filters offered above the list: query value and label.
const FILTERS: &[(&str, &str)] = &[
    ("", "All states"),
    ("queued,starting,pending,running", "Active"),
    ("succeeded,failed,stopped,lost", "Finished"),
    ("queued", "queued"),
    ("starting", "starting"),
    ("pending", "pending"),
    ("running", "running"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("stopped", "stopped"),
    ("lost", "lost"),
];

fn project_path(pass: &ProjectPass) -> String {
    let project = pass.project();
    format!("/projects/{}/{}", project.organization, project.name)
}

fn job_path(pass: &ProjectPass, id: &str) -> String {
    format!("{}/jobs/{id}", project_path(pass))
}

fn api_job_path(pass: &ProjectPass, id: &str) -> String {
    let project = pass.project();
    format!(
        "/api/v1/orgs/{}/projects/{}/jobs/{id}",
        project.organization, project.name
    )
}

/// `1 CPU, 2 GiB` (and GPUs when there are any).
pub(crate) fn size_text(cpu_millis: u32, memory_bytes: u64, gpus: u32) -> String {
    let mut text = format!(
        "{} CPU, {}",
        format_cpu(cpu_millis.into()),
        format_bytes(memory_bytes)
    );
    if gpus > 0 {
        text.push_str(&format!(", {gpus} GPU"));
        if gpus > 1 {
            text.push('s');
        }
    }
    text
}

// ---------- the overview ----------

pub(crate) async fn overview(State(state): State<AppState>, user: PageUser) -> Response {
    let projects = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (project, role) in projects.iter().take(200) {
        let Ok(pass) = super::viewer_pass(
            &state,
            &user,
            project.organization.as_str(),
            project.name.as_str(),
        )
        .await
        else {
            continue;
        };
        let usage = state
            .runtime()
            .project_quota(&pass)
            .await
            .map(|(_, usage)| usage)
            .ok();
        rows.push((pass, *role, usage));
    }
    page(
        &user.viewer,
        "Jobs",
        "/jobs",
        html! {
            h1 { "Jobs" }
            (isolation_warning(&state))
            p.lead { "Batch work runs in a project, in one of the resource classes, and waits in the project's queue while its quota is full. Pick a project to submit a job, follow its output or see what the project used." }
            @if rows.is_empty() {
                div.callout.pending { "You are not a member of any project yet: jobs belong to projects. " a href="/projects" { "See projects" } "." }
            } @else {
                table #job-projects {
                    thead { tr { th { "Project" } th { "Organization" } th.num { "Running" } th.num { "Queued" } th { "Your role" } th { "" } } }
                    tbody {
                        @for (pass, role, usage) in &rows {
                            @let base = project_path(pass);
                            tr {
                                td { a href=(format!("{base}/jobs")) { (pass.project().display_name) } " " span.muted { code { (pass.project().name) } } }
                                td { (pass.project().organization) }
                                td.num { (or_dash(usage.as_ref().map(|usage| usage.jobs.to_string()))) }
                                td.num { (or_dash(usage.as_ref().map(|usage| usage.queued.to_string()))) }
                                td { @match role { Some(role) => span.badge.role { (role) }, None => span.muted { "admin" } } }
                                td { a href=(format!("{base}/jobs")) { "Jobs" } " · " a href=(format!("{base}/usage")) { "Quota & usage" } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

// ---------- a project's jobs ----------

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The submit form's fields, kept to show the form again after an error.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct JobForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    command: String,
    #[serde(default)]
    env: String,
    /// `NAME` or `NAME:VERSION`; empty for the default environment.
    #[serde(default)]
    environment: String,
}

fn parse_states(list: &str) -> Result<Vec<WorkloadState>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            WorkloadState::parse(part).ok_or_else(|| {
                let names: Vec<&str> = WorkloadState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "invalid `state`: `{part}` is not one of {}",
                    names.join(", ")
                )
            })
        })
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), String> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .ok_or_else(|| format!("invalid `cursor`: `{cursor}` is not a cursor this server gave"))
}

fn encode_cursor(job: &JobView) -> String {
    format!("{}.{}", job.job.created_at_ms, job.job.id)
}

/// Reads `NAME=value` lines (blank lines and `#` comments skipped; spaces around the name
/// and the value trimmed).
pub(crate) fn parse_env(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "invalid `env`: line {}: `{line}` is not `NAME=value`",
                index + 1
            ));
        };
        let name = name.trim();
        if env
            .insert(name.to_string(), value.trim().to_string())
            .is_some()
        {
            return Err(format!("invalid `env`: `{name}` is set twice"));
        }
    }
    Ok(env)
}

/// Turns the form into a request: the command split like a shell would, the environment
/// from its lines. What the service checks (class, program, variable names) it checks.
pub(crate) fn job_request(form: &JobForm) -> Result<JobRequest, String> {
    let command = shell_words::split(form.command.trim())
        .map_err(|error| format!("invalid `command`: {error} (quote with '…' or \"…\")"))?;
    let env = parse_env(&form.env)?;
    let name = Some(form.name.trim().to_string()).filter(|name| !name.is_empty());
    Ok(JobRequest {
        name,
        class: form.class.trim().to_string(),
        command,
        env,
        snapshot: None,
        image: None,
        custom_size: None,
        environment: Some(form.environment.trim().to_string()).filter(|text| !text.is_empty()),
    })
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
    jobs_page(&state, &user, &pass, &query)
        .await
        .into_response()
}

/// The page of the job submission form (`…/jobs/new`), also drawn again with the
/// submitted values and the refusal when a submission fails.
pub(crate) async fn new_job(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    new_job_page(&state, &user, &pass, &JobForm::default(), None)
        .await
        .into_response()
}

async fn new_job_page(
    state: &AppState,
    user: &PageUser,
    pass: &ProjectPass,
    draft: &JobForm,
    form_error: Option<&str>,
) -> Markup {
    let classes = state
        .runtime()
        .list_resource_classes()
        .await
        .unwrap_or_default();
    let viewer = &user.viewer;
    let base = project_path(pass);
    let project = pass.project();
    page(
        viewer,
        &format!("New job · {}", project.display_name),
        "/jobs",
        html! {
            (super::crumbs(pass, &[(format!("{base}/jobs"), "Jobs".to_string()), (String::new(), "New job".to_string())]))
            h1 { "New job" }
            (project_tabs(pass, "jobs"))
            (isolation_warning(state))
            @if may_submit(pass) {
                section.card-section #submit-job {
                    (submit_form(viewer, &base, &classes, draft, form_error))
                }
            } @else {
                div.callout.bad role="alert" #submit-error {
                    (form_error.unwrap_or("Submitting jobs needs the contributor role in this project."))
                }
            }
            p { a href=(format!("{base}/jobs")) { "← All jobs" } }
        },
    )
}

async fn jobs_page(
    state: &AppState,
    user: &PageUser,
    pass: &ProjectPass,
    query: &ListQuery,
) -> Markup {
    let mut problems = Vec::new();
    let filter = query.state.as_deref().unwrap_or_default();
    let states = parse_states(filter).unwrap_or_else(|error| {
        problems.push(error);
        Vec::new()
    });
    let before = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => decode_cursor(cursor)
            .map_err(|error| problems.push(error))
            .ok(),
        None => None,
    };
    let jobs = match state
        .runtime()
        .list_jobs(pass, states, before.clone(), PAGE_SIZE)
        .await
    {
        Ok(jobs) => jobs,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            Vec::new()
        }
    };
    let next = (jobs.len() as i64 == PAGE_SIZE)
        .then(|| jobs.last().map(encode_cursor))
        .flatten();
    let viewer = &user.viewer;
    let base = project_path(pass);
    let project = pass.project();
    let list_error = query
        .error
        .clone()
        .or_else(|| (!problems.is_empty()).then(|| problems.join("; ")));

    page(
        viewer,
        &format!("Jobs · {}", project.display_name),
        "/jobs",
        html! {
            (project_crumbs(pass))
            h1 { (project.display_name) " " span.muted { code { (project.name) } } }
            (project_tabs(pass, "jobs"))
            (isolation_warning(state))
            (notice(query.ok.as_deref(), list_error.as_deref()))
            @if may_submit(pass) {
                p.actions { a.button.primary #new-job-link href=(format!("{base}/jobs/new")) { "New job" } }
            }
            form.grid-form #job-filter method="get" action=(format!("{base}/jobs")) {
                label { "State"
                    select name="state" {
                        @for (value, label) in FILTERS {
                            option value=(value) selected[*value == filter] { (label) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if jobs.is_empty() {
                p.muted #no-jobs { @if before.is_some() { "No older jobs." } @else if filter.is_empty() { "No jobs yet." } @else { "No jobs in this state." } }
            } @else {
                (jobs_table(pass, &jobs))
            }
            p.pager {
                @if before.is_some() {
                    a href=(format!("{base}/jobs?state={}", urlencode(filter))) { "← Newest" } " "
                }
                @if let Some(next) = &next {
                    a #older-jobs href=(format!("{base}/jobs?state={}&cursor={}", urlencode(filter), urlencode(next))) { "Older jobs →" }
                }
            }
        },
    )
}

fn submit_form(
    viewer: &super::layout::Viewer,
    base: &str,
    classes: &[ResourceClass],
    draft: &JobForm,
    error: Option<&str>,
) -> Markup {
    // Classes by pool (smallest first within each); jobs default to the compute pool's
    // smallest class.
    let mut by_pool: BTreeMap<&str, Vec<&ResourceClass>> = BTreeMap::new();
    for class in classes {
        by_pool.entry(class.pool.as_str()).or_default().push(class);
    }
    let chosen = if draft.class.is_empty() {
        classes
            .iter()
            .find(|class| class.pool == "compute")
            .or(classes.first())
            .map(|class| class.name.as_str())
            .unwrap_or_default()
    } else {
        draft.class.as_str()
    };
    html! {
        @if let Some(error) = error {
            div.callout.bad role="alert" #submit-error { (error) }
        }
        form.stack #new-job method="post" action=(format!("{base}/jobs")) {
            (csrf_field(viewer))
            div.form-row {
                label { "Resource class"
                    select name="class" required {
                        @for (pool, members) in &by_pool {
                            optgroup label=(format!("pool {pool}")) {
                                @for class in members {
                                    option value=(class.name) selected[class.name == chosen] {
                                        (class.name) " — " (size_text(class.cpu_millis, class.memory_bytes, class.gpus))
                                    }
                                }
                            }
                        }
                    }
                }
                label { "Name (optional)"
                    input type="text" name="name" value=(draft.name) maxlength="200" placeholder="defaults to the program's name";
                }
            }
            label { "Command"
                input.mono type="text" name="command" value=(draft.command) required
                    placeholder="python train.py --epochs 10" autocomplete="off" spellcheck="false"
                    aria-describedby="command-help";
                span.hint #command-help { "One line, split like a shell does: quote an argument with spaces in '…' or \"…\". For pipes or variables run " code { "sh -c '…'" } "." }
            }
            label { "Software environment (optional)"
                input.mono type="text" name="environment" value=(draft.environment) maxlength="80"
                    placeholder="default" autocomplete="off" spellcheck="false"
                    aria-describedby="environment-help";
                span.hint #environment-help { code { "NAME" } " (its latest version) or " code { "NAME:VERSION" } "; empty for the default environment. " a href=(format!("{base}/environments")) { "Environments" } }
            }
            label { "Environment variables (optional)"
                textarea.mono name="env" rows="3" placeholder="EPOCHS=10\nLEARNING_RATE=0.01" spellcheck="false"
                    aria-describedby="env-help" { (draft.env) }
                span.hint #env-help { "One " code { "NAME=value" } " per line." }
            }
            div { button.primary type="submit" { "Submit job" } }
        }
    }
}

fn queue_text(job: &JobView) -> Markup {
    html! {
        @if job.job.state == WorkloadState::Queued {
            @if let Some(position) = job.queue_position { strong { "#" (position) } " " }
            span.muted { (job.job.reason) }
        } @else if !job.job.reason.is_empty() && !job.job.state.is_finished() {
            span.muted { (job.job.reason) }
        }
    }
}

fn jobs_table(pass: &ProjectPass, jobs: &[JobView]) -> Markup {
    html! {
        table #jobs {
            thead { tr {
                th { "State" } th { "Name" } th { "Class" } th { "By" } th { "Started" }
                th.num { "Duration" } th { "Queue" } th.num { "Exit code" }
            } }
            tbody {
                @for job in jobs {
                    tr {
                        td { (state_badge(job.job.state, None)) }
                        td { a href=(job_path(pass, &job.job.id)) { (job.job.name) } }
                        td { (job.job.class) }
                        td { (job.job.created_by_username) }
                        td { (or_dash(job.job.started_at_ms.map(format_ms))) }
                        td.num { (or_dash(job.duration_ms.map(human_duration_ms))) }
                        td { (queue_text(job)) }
                        td.num { (or_dash(job.job.exit_code.map(|code| code.to_string()))) }
                    }
                }
            }
        }
    }
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    PageForm { user, form }: PageForm<JobForm>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let submitted = match job_request(&form) {
        Ok(request) => state
            .runtime()
            .submit_job(&user.principal, &pass, &request, &client)
            .await
            .map_err(ApiError::from),
        Err(message) => Err(ApiError::invalid(message)),
    };
    match submitted {
        Ok(job) => Redirect::to(&job_path(&pass, &job.job.id)).into_response(),
        Err(error) => {
            let message = shown_message(&error);
            let markup = new_job_page(&state, &user, &pass, &form, Some(&message)).await;
            (error.status(), markup).into_response()
        }
    }
}

// ---------- one job ----------

/// The output a job page shows as it loads.
pub(crate) struct LogTail {
    pub(crate) text: String,
    /// The byte offset where the shown text ends, when the text is all output so far (the
    /// page script then follows from there); `None` when older output was left out (the
    /// script then reads the tail again and follows it).
    pub(crate) offset: Option<u64>,
}

async fn log_tail(
    state: &AppState,
    pass: &ProjectPass,
    id: &str,
) -> Result<LogTail, plinth_core::CoreError> {
    let mut stream = state
        .runtime()
        .job_logs(
            pass,
            id,
            LogOptions {
                follow: false,
                from_offset: 0,
                tail_lines: Some(TAIL_LINES),
            },
        )
        .await?;
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > 2 * MAX_SHOWN_BYTES {
            bytes.drain(..bytes.len() - MAX_SHOWN_BYTES);
            cut = true;
        }
    }
    if bytes.len() > MAX_SHOWN_BYTES {
        bytes.drain(..bytes.len() - MAX_SHOWN_BYTES);
        cut = true;
    }
    // `tail -n` semantics: fewer than `TAIL_LINES` lines means the whole output.
    let newlines = bytes.iter().filter(|byte| **byte == b'\n').count();
    let inner_newlines = newlines - usize::from(bytes.ends_with(b"\n"));
    let whole = !cut && inner_newlines + 1 < TAIL_LINES as usize;
    Ok(LogTail {
        offset: whole.then_some(bytes.len() as u64),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Runs of a job listed on its page at most.
const JOB_RUNS_SHOWN: i64 = 100;

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, id)): Path<(String, String, String)>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let view = match state.runtime().get_job(&pass, &id).await {
        Ok(view) => view,
        Err(error) => return core_error_page(error),
    };
    let (tail, log_error) = match log_tail(&state, &pass, &id).await {
        Ok(tail) => (tail, None),
        Err(error) => (
            LogTail {
                text: String::new(),
                offset: None,
            },
            Some(shown_message(&ApiError::from(error))),
        ),
    };
    // The runs this job logged (created with its token): at most a page of them.
    let runs = match super::experiments::tracking_pass(&state, &user, &organization, &project).await
    {
        Ok((_, tracking)) => state
            .tracking()
            .runs_of_job(&tracking, &id, JOB_RUNS_SHOWN)
            .await
            .map_err(|error| shown_message(&ApiError::from(error))),
        Err(_) => Ok(Vec::new()),
    };
    let job = &view.job;
    let here = job_path(&pass, &job.id);
    let finished = job.state.is_finished();
    let viewer = &user.viewer;
    let project_base = project_path(&pass);
    let command_line = shell_words::join(&job.spec.command);
    page_with_script(
        viewer,
        &format!("{} · Job", job.name),
        "/jobs",
        Some("/assets/job.js"),
        html! {
            (super::crumbs(&pass, &[(format!("{project_base}/jobs"), "Jobs".to_string()), (String::new(), job.name.clone())]))
            h1 { (job.name) " " (state_badge(job.state, Some("job-state"))) }
            (isolation_warning(&state))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            @if may_submit(&pass) {
                div.actions {
                    form.inline #rerun-form method="post" action=(format!("{here}/rerun")) {
                        (csrf_field(viewer))
                        button.primary type="submit" { "Re-run" }
                    }
                    @if !finished {
                        form.inline #stop-form method="post" action=(format!("{here}/stop")) {
                            (csrf_field(viewer))
                            button.danger type="submit" { @if job.state == WorkloadState::Queued { "Remove from queue" } @else { "Stop" } }
                        }
                    }
                }
            }
            dl.facts #job-facts aria-live="polite" {
                dt { "State" } dd #job-state-text { (job.state.as_str()) }
                dt { "Reason" } dd #job-reason { (if job.reason.is_empty() { "—" } else { &job.reason }) }
                dt { "Queue position" } dd #job-queue { (or_dash(view.queue_position.map(|position| format!("#{position}")))) }
                dt { "Exit code" } dd #job-exit-code { (or_dash(job.exit_code.map(|code| code.to_string()))) }
                dt { "Class" } dd { strong { (job.class) } " — " (size_text(job.cpu_millis, job.memory_bytes, job.gpus)) " on pool " code { (job.pool) } }
                dt { "Environment" }
                dd {
                    @if let Some(environment) = &job.spec.environment {
                        code { (environment.label()) } " — Python " (environment.python_version) ", lock " code title=(environment.lock_hash) { (environment.lock_hash.get(..12).unwrap_or(&environment.lock_hash)) }
                    } @else {
                        "none (the host's programs)"
                    }
                }
                dt { "Submitted by" } dd { (job.created_by_username) }
                dt { "Submitted" } dd { (format_ms(job.created_at_ms)) }
                dt { "Started" } dd #job-started { (or_dash(job.started_at_ms.map(format_ms))) }
                dt { "Finished" } dd #job-finished { (or_dash(job.finished_at_ms.map(format_ms))) }
                dt { "Duration" } dd #job-duration { (or_dash(view.duration_ms.map(human_duration_ms))) }
                @if let Some(original) = &job.rerun_of {
                    dt { "Re-run of" } dd { a href=(job_path(&pass, original)) { code { (original) } } }
                }
                @if let Some(snapshot) = &job.spec.snapshot {
                    dt { "Working files" } dd { "snapshot " code { (snapshot) } }
                }
                @if let Some(image) = &job.spec.image {
                    dt { "Image" } dd { code { (image) } }
                }
                dt { "Backend" } dd { code { (job.backend) } }
                dt { "Job ID" } dd { code { (job.id) } }
            }
            h2 { "Runs" }
            @match &runs {
                Ok(runs) if runs.is_empty() => {
                    p.muted #job-runs { "No runs logged by this job. Runs the job creates through " code { "MLFLOW_TRACKING_URI" } " show here." }
                }
                Ok(runs) => {
                    table #job-runs {
                        thead { tr { th { "Run" } th { "State" } th { "Experiment" } th { "Started" } } }
                        tbody {
                            @for run in runs {
                                tr {
                                    td { a href=(format!("{project_base}/runs/{}", run.info.run_id)) { (run.info.run_name) } }
                                    td { (super::experiments::run_status_badge(run.info.status)) }
                                    td { a href=(format!("{project_base}/experiments/{}", run.info.experiment_id)) { (run.info.experiment_id) } }
                                    td { (format_ms(run.info.start_time)) }
                                }
                            }
                        }
                    }
                    @if runs.len() as i64 == JOB_RUNS_SHOWN {
                        p.muted { "The newest " (JOB_RUNS_SHOWN) " runs." }
                    }
                }
                Err(error) => { div.callout.bad role="alert" { (error) } }
            }
            h2 { "Command" }
            pre.command #job-command { code { (command_line) } }
            h2 { "Environment" }
            @if job.spec.env.is_empty() {
                p.muted { "No extra variables; Plinth sets " code { "PLINTH_URL" } ", " code { "PLINTH_PROJECT" } ", " code { "PLINTH_JOB_ID" } ", " code { "MLFLOW_TRACKING_URI" } " and the job's tokens." }
            } @else {
                table #job-env {
                    thead { tr { th { "Name" } th { "Value" } } }
                    tbody {
                        @for (name, value) in &job.spec.env {
                            tr { td { code { (name) } } td { code { (value) } } }
                        }
                    }
                }
            }
            h2 { "Output" }
            p.muted #job-live {
                @if finished {
                    "The job has ended; this is its output"
                    @if tail.offset.is_none() { " (the last " (TAIL_LINES) " lines)" }
                    "."
                } @else {
                    "Stdout and stderr as they are written (the last " (TAIL_LINES) " lines when the page loaded). "
                    a href=(here) { "Refresh" }
                }
                " "
                a href=(format!("{}/logs", api_job_path(&pass, &job.id))) { "Whole output as text" }
            }
            @if let Some(error) = &log_error {
                div.callout.bad role="alert" { "The output cannot be read: " (error) }
            }
            pre.log #job-log tabindex="0" aria-label="Job output"
                data-logs=(format!("{}/logs", api_job_path(&pass, &job.id)))
                data-job=(api_job_path(&pass, &job.id))
                data-offset=[tail.offset]
                data-tail=(TAIL_LINES)
                data-finished=(if finished { "true" } else { "false" }) { (tail.text) }
        },
    )
    .into_response()
}

pub(crate) async fn stop(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let here = job_path(&pass, &id);
    match state
        .runtime()
        .stop_job(&user.principal, &pass, &id, &client)
        .await
    {
        Ok(view) if view.job.state.is_finished() && view.job.state != WorkloadState::Stopped => {
            back(&here, "ok", "The job had already ended.")
        }
        Ok(view) if view.job.state == WorkloadState::Stopped => {
            back(&here, "ok", "The job is stopped.")
        }
        Ok(_) => back(
            &here,
            "ok",
            "Stop requested: the job gets SIGTERM, then SIGKILL after the grace period.",
        ),
        Err(error) => back(&here, "error", &shown_message(&ApiError::from(error))),
    }
}

pub(crate) async fn rerun(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    match state
        .runtime()
        .rerun_job(&user.principal, &pass, &id, &client)
        .await
    {
        Ok(job) => Redirect::to(&job_path(&pass, &job.job.id)).into_response(),
        Err(error) => back(
            &job_path(&pass, &id),
            "error",
            &shown_message(&ApiError::from(error)),
        ),
    }
}

/// The warning every job page carries when workloads run less than fully sandboxed (an
/// admin allowed it with `runtime.local.when_unsandboxed`).
fn isolation_warning(state: &AppState) -> Markup {
    let isolation = state.runtime().capabilities().isolation;
    html! {
        @if isolation.level != plinth_executor::IsolationLevel::Full {
            div.callout.bad #isolation-warning role="alert" {
                strong { "Jobs here are not fully sandboxed. " }
                (isolation.summary) ". A job may read what the server's user can read; run only code you trust. "
                a href="/status#isolation" { "What is missing" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_become_variables() {
        let env = parse_env("A=1\n\n# a comment\n B = two words \nEMPTY=\nURL=http://x/?a=b\r\n")
            .unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "two words");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env["URL"], "http://x/?a=b");
        assert_eq!(
            parse_env("A=1\nnonsense").unwrap_err(),
            "invalid `env`: line 2: `nonsense` is not `NAME=value`"
        );
        assert_eq!(
            parse_env("A=1\nA=2").unwrap_err(),
            "invalid `env`: `A` is set twice"
        );
    }

    #[test]
    fn commands_are_split_like_a_shell() {
        let form = JobForm {
            class: "small".to_string(),
            command: r#"sh -c 'echo "a b"; sleep 1' --flag="x y""#.to_string(),
            ..JobForm::default()
        };
        let request = job_request(&form).unwrap();
        assert_eq!(
            request.command,
            ["sh", "-c", "echo \"a b\"; sleep 1", "--flag=x y"]
        );
        assert_eq!(request.name, None);
        let open = JobForm {
            command: "echo 'unbalanced".to_string(),
            ..form
        };
        assert!(job_request(&open)
            .unwrap_err()
            .starts_with("invalid `command`: missing closing quote"));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration_ms(0), "0s");
        assert_eq!(human_duration_ms(12_400), "12s");
        assert_eq!(human_duration_ms(72_000), "1m 12s");
        assert_eq!(human_duration_ms(2 * 3_600_000 + 5 * 60_000), "2h 5m");
        assert_eq!(human_duration_ms(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
    }

    #[test]
    fn sizes_name_cpu_memory_and_gpus() {
        assert_eq!(size_text(1000, 2 << 30, 0), "1 CPU, 2 GiB");
        assert_eq!(size_text(500, 512 << 20, 1), "0.5 CPU, 512 MiB, 1 GPU");
        assert_eq!(size_text(8000, 32 << 30, 2), "8 CPU, 32 GiB, 2 GPUs");
    }
}
