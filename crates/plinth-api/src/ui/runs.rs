//! Experiment tracking pages, part two: a run's page (facts, metrics with charts, params,
//! tags, datasets, logged models, artifacts), the artifacts browser with previews (text,
//! images, CSV), artifact downloads, the chart data as JSON for `assets/charts.js`, and the
//! comparison of 2 to 10 runs.
//!
//! Every handler resolves the run through the project in the URL, so a run of another
//! project is not found here.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures::StreamExt;
use maud::{html, Markup};
use plinth_core::tracking::ArtifactFile;
use plinth_core::tracking::{MetricBucket, MetricChartQuery, MAX_CHART_BUCKETS};
use plinth_core::{ProjectPass, ProjectSelector, TrackingPass};
use plinth_types::{LifecycleStage, Run};
use serde_json::{json, Value};

use super::experiments::{
    project_base, query_pairs, query_value, query_values, run_duration, run_status_badge,
    tracking_pass,
};
use super::layout::{notice, page_with_script};
use super::session::{urlencode, PageUser};
use super::{core_error_page, format_ms, long_value, number, or_dash, project_tabs, shown_message};
use crate::mlflow::artifacts::{artifact_response, preview_image_type, Disposition};
use crate::{ApiError, AppState};

/// Bytes of a text artifact the preview shows.
const TEXT_PREVIEW_BYTES: usize = 64 * 1024;
/// Rows of a CSV artifact the preview shows (the header included).
const CSV_PREVIEW_ROWS: usize = 51;
/// Columns of a CSV artifact the preview shows.
const CSV_PREVIEW_COLUMNS: usize = 40;
/// Buckets a chart asks for unless told.
const DEFAULT_CHART_POINTS: i64 = 500;
/// Runs a comparison needs at least, and may have at most.
pub(crate) const COMPARE_MIN: usize = 2;
pub(crate) const COMPARE_MAX: usize = 10;
fn run_path(pass: &ProjectPass, run_id: &str) -> String {
    format!("{}/runs/{run_id}", project_base(pass))
}

/// The chart data URL of a run's metric.
fn chart_url(pass: &ProjectPass, run_id: &str, key: &str) -> String {
    format!(
        "{}/metrics/{}/chart.json",
        run_path(pass, run_id),
        urlencode(key).replace('/', "%2F")
    )
}

/// A figure for one metric, drawn by `charts.js` with uPlot from the chart data of each
/// series (`data-series`: one entry per run: its `chart.json`, a label, a color).
fn chart_figure(key: &str, anchor: &str, series: &[(String, String, usize, String)]) -> Markup {
    let data: Vec<Value> = series
        .iter()
        .map(|(url, label, color, run)| json!({ "url": url, "label": label, "color": color % 8, "run": run }))
        .collect();
    html! {
        figure.chart-figure.metric-chart id=(anchor) data-key=(key) data-series=(Value::Array(data).to_string()) {
            figcaption { strong title=(key) { (key) } span.chart-note.muted {} }
            div.chart-body {
                noscript { p.muted.chart-empty { "Charts are drawn by JavaScript; the table above has the latest values." } }
            }
        }
    }
}

/// The chart controls (x axis, log scale, smoothing, step range), shown by `charts.js`:
/// without it they would do nothing.
fn chart_controls() -> Markup {
    html! {
        form.chart-controls #chart-controls hidden {
            fieldset.axis-choice {
                legend { "X axis" }
                label.check { input type="radio" name="axis" value="step" checked; "Step" }
                label.check { input type="radio" name="axis" value="time"; "Time (UTC)" }
                label.check { input type="radio" name="axis" value="relative"; "Relative time" }
            }
            label.check { input #log-scale type="checkbox" name="log"; "Log scale" }
            label.smoothing { "Smoothing " output #smoothing-value for="smoothing" { "0%" }
                input #smoothing type="range" name="smoothing" min="0" max="99" step="1" value="0";
            }
            label { "From step" input #min-step type="number" name="min_step" step="1"; }
            label { "To step" input #max-step type="number" name="max_step" step="1"; }
            button #zoom-apply type="submit" { "Zoom" }
            button #zoom-reset type="button" { "Reset" }
            span.muted { "Or drag across a chart to zoom; hover for exact values." }
        }
    }
}

fn anchor_of(index: usize) -> String {
    format!("chart-{index}")
}

/// Authorizes the caller and loads a run of the project in the URL (the 404 page for runs
/// of other projects).
async fn project_run(
    state: &AppState,
    user: &PageUser,
    organization: &str,
    project: &str,
    run_id: &str,
) -> Result<(ProjectPass, TrackingPass, Run), Response> {
    let (pass, tracking) = tracking_pass(state, user, organization, project).await?;
    let run = state
        .tracking()
        .get_run(&tracking, run_id)
        .await
        .map_err(core_error_page)?;
    Ok((pass, tracking, run))
}

// ---------- the run page ----------

/// A run's tag, when set and not empty.
pub(crate) fn tag_value<'a>(run: &'a Run, key: &str) -> Option<&'a str> {
    run.data
        .tags
        .iter()
        .find(|tag| tag.key == key)
        .map(|tag| tag.value.as_str())
        .filter(|value| !value.is_empty())
}

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let (pass, tracking, run) =
        match project_run(&state, &user, &organization, &project, &run_id).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let service = state.tracking();
    let experiment = service
        .get_experiment(&tracking, &run.info.experiment_id.to_string())
        .await
        .ok();
    let mut problems = Vec::new();
    let listing = match service.list_run_artifacts(&tracking, &run_id, None).await {
        Ok(listing) => listing.files,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            Vec::new()
        }
    };
    let mut metrics = run.data.metrics.clone();
    metrics.sort_by(|a, b| a.key.cmp(&b.key));
    let figures: Vec<Markup> = metrics
        .iter()
        .enumerate()
        .map(|(index, metric)| {
            chart_figure(
                &metric.key,
                &anchor_of(index),
                &[(
                    chart_url(&pass, &run_id, &metric.key),
                    run.info.run_name.clone(),
                    0,
                    run_id.clone(),
                )],
            )
        })
        .collect();
    let base = project_base(&pass);
    let here = run_path(&pass, &run_id);
    let project = pass.project();
    let error = (!problems.is_empty()).then(|| problems.join("; "));
    let (system_tags, user_tags): (Vec<_>, Vec<_>) = run
        .data
        .tags
        .iter()
        .partition(|tag| tag.key.starts_with("mlflow.") || tag.key.starts_with("plinth."));
    let mut params = run.data.params.clone();
    params.sort_by(|a, b| a.key.cmp(&b.key));
    page_with_script(
        &user.viewer,
        &format!("{} · Run · {}", run.info.run_name, project.display_name),
        "/experiments",
        Some("/assets/charts.js"),
        html! {
            (super::crumbs(&pass, &[
                (format!("{base}/experiments"), "Experiments".to_string()),
                (format!("{base}/experiments/{}", run.info.experiment_id), experiment.as_ref().map_or_else(|| format!("experiment {}", run.info.experiment_id), |e| e.name.clone())),
                (String::new(), run.info.run_name.clone()),
            ]))
            h1 { (run.info.run_name) " " (run_status_badge(run.info.status)) }
            (project_tabs(&pass, "experiments"))
            p {
                a href=(format!("{base}/experiments/{}", run.info.experiment_id)) {
                    "← " (experiment.as_ref().map_or_else(|| format!("experiment {}", run.info.experiment_id), |e| e.name.clone()))
                }
            }
            (notice(query_value(&pairs, "ok"), error.as_deref().or(query_value(&pairs, "error"))))
            @if run.info.lifecycle_stage == LifecycleStage::Deleted {
                div.callout.pending { "This run is deleted." }
            }
            @if let Some(note) = run.data.tags.iter().find(|tag| tag.key == super::tracking_forms::NOTE_TAG).filter(|tag| !tag.value.is_empty()) {
                p.lead #run-description { (note.value) }
            }
            @if super::may_submit(&pass) {
                (super::tracking_forms::run_actions(&user.viewer, &here, &run))
            }
            dl.facts #run-facts {
                @if let Some(job) = tag_value(&run, plinth_core::tracking::JOB_ID_TAG) {
                    dt { "Job" } dd { a #run-job href=(format!("{base}/jobs/{}", urlencode(job))) { code { (job) } } }
                }
                @if let Some(source) = tag_value(&run, "mlflow.source.name") {
                    dt { "Source" } dd #run-source { (long_value(source)) }
                }
                @if let Some(commit) = tag_value(&run, "mlflow.source.git.commit") {
                    dt { "Git commit" } dd { code #run-commit title=(commit) { (commit.chars().take(12).collect::<String>()) } }
                }
                @if let Some(parent) = tag_value(&run, "mlflow.parentRunId") {
                    dt { "Parent run" } dd { a #run-parent href=(run_path(&pass, &urlencode(parent))) { code { (parent) } } }
                }
                dt { "Run id" } dd { (long_value(&run.info.run_id)) }
                dt { "User" } dd { (run.info.user_id) }
                dt { "Started" } dd { (format_ms(run.info.start_time)) }
                dt { "Ended" } dd { (or_dash(run.info.end_time.map(format_ms))) }
                dt { "Duration" } dd { (or_dash(run_duration(&run))) }
                dt { "Artifacts" } dd { (long_value(&run.info.artifact_uri)) }
            }
            h2 #metrics-heading { "Metrics" }
            @if metrics.is_empty() {
                p.muted { "No metrics logged." }
            } @else {
                table #metrics {
                    thead { tr { th { "Metric" } th.num { "Latest value" } th.num { "Step" } th { "Logged" } } }
                    tbody {
                        @for (index, metric) in metrics.iter().enumerate() {
                            tr {
                                td { a href=(format!("#{}", anchor_of(index))) { (metric.key) } }
                                td.num { (number(metric.value)) }
                                td.num { (metric.step) }
                                td { (format_ms(metric.timestamp)) }
                            }
                        }
                    }
                }
                h2 { "Charts" }
                (chart_controls())
                div.chart-grid #charts { @for figure in &figures { (figure) } }
            }
            h2 { "Parameters" }
            @if params.is_empty() {
                p.muted { "No parameters logged." }
            } @else {
                table #params {
                    thead { tr { th { "Parameter" } th { "Value" } } }
                    tbody { @for param in &params { tr { td { (long_value(&param.key)) } td { (long_value(&param.value)) } } } }
                }
            }
            h2 { "Tags" }
            @if user_tags.is_empty() {
                p.muted { "No tags." }
            } @else {
                table #tags {
                    thead { tr { th { "Tag" } th { "Value" } } }
                    tbody { @for tag in &user_tags { tr { td { (long_value(&tag.key)) } td { (long_value(&tag.value)) } } } }
                }
            }
            @if !system_tags.is_empty() {
                details #system-tags {
                    summary.muted { (system_tags.len()) " tags set by MLflow or Plinth" }
                    table {
                        tbody { @for tag in &system_tags { tr { td { (long_value(&tag.key)) } td { (long_value(&tag.value)) } } } }
                    }
                }
            }
            @if !run.inputs.dataset_inputs.is_empty() {
                h2 { "Datasets" }
                table #datasets {
                    thead { tr { th { "Name" } th { "Digest" } th { "Source" } th { "Context" } } }
                    tbody {
                        @for input in &run.inputs.dataset_inputs {
                            tr {
                                td { (input.dataset.name) }
                                td { (long_value(&input.dataset.digest)) }
                                td { (input.dataset.source_type) }
                                td { (or_dash(input.tags.iter().find(|t| t.key == "mlflow.data.context").map(|t| t.value.clone()))) }
                            }
                        }
                    }
                }
            }
            @if !run.outputs.model_outputs.is_empty() || !run.inputs.model_inputs.is_empty() {
                h2 { "Logged models" }
                table #logged-models {
                    thead { tr { th { "Model" } th { "Role" } th.num { "Step" } } }
                    tbody {
                        @for output in &run.outputs.model_outputs {
                            tr { td { (long_value(&output.model_id)) } td { "produced" } td.num { (output.step) } }
                        }
                        @for input in &run.inputs.model_inputs {
                            tr { td { (long_value(&input.model_id)) } td { "used" } td.num { "—" } }
                        }
                    }
                }
            }
            h2 { "Artifacts" }
            (artifact_table(&here, &listing))
            p { a #browse-artifacts href=(format!("{here}/artifacts")) { "Browse artifacts" } }
        },
    )
    .into_response()
}

/// One level of a run's artifacts: folders open in the browser, files in its preview.
fn artifact_table(run_here: &str, files: &[ArtifactFile]) -> Markup {
    html! {
        @if files.is_empty() {
            p.muted #no-artifacts { "No artifacts here." }
        } @else {
            table.artifacts #artifact-list {
                thead { tr { th { "Name" } th.num { "Size" } th { "" } } }
                tbody {
                    @for file in files {
                        @let name = file.path.rsplit('/').next().unwrap_or(&file.path);
                        tr {
                            @if file.is_dir {
                                td { a.dir href=(format!("{run_here}/artifacts?path={}", urlencode(&file.path))) { (super::icon("folder")) " " (name) "/" } }
                                td.num { "—" }
                                td {}
                            } @else {
                                td { a.file href=(format!("{run_here}/artifacts?file={}", urlencode(&file.path))) { (super::icon("file")) " " (name) } }
                                td.num { (or_dash(file.file_size.map(plinth_core::runtime::format_bytes))) }
                                td { a href=(format!("{run_here}/artifacts/download?path={}", urlencode(&file.path))) { "Download" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------- the artifacts browser ----------

/// What a preview shows.
#[derive(Debug, PartialEq)]
pub(crate) enum Preview {
    Text {
        text: String,
        truncated: bool,
    },
    Csv {
        rows: Vec<Vec<String>>,
        truncated: bool,
    },
    Image,
    None,
}

/// Reads at most `limit` bytes of a stream (and whether there was more).
async fn read_head<S, E>(mut stream: S, limit: usize) -> Result<(Vec<u8>, bool), E>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut head = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - head.len();
        if chunk.len() > room {
            head.extend_from_slice(&chunk[..room]);
            return Ok((head, true));
        }
        head.extend_from_slice(&chunk);
        if head.len() == limit {
            // Exactly full: more only if the stream has another non-empty chunk.
            let more = loop {
                match stream.next().await {
                    Some(Ok(chunk)) if chunk.is_empty() => continue,
                    Some(Ok(_)) => break true,
                    Some(Err(error)) => return Err(error),
                    None => break false,
                }
            };
            return Ok((head, more));
        }
    }
    Ok((head, false))
}

/// The text of `bytes` if they are text (UTF-8 without NULs; a character cut by the limit
/// is dropped).
fn as_text(bytes: &[u8], truncated: bool) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_string()),
        Err(error) if truncated && error.error_len().is_none() => {
            Some(String::from_utf8_lossy(&bytes[..error.valid_up_to()]).into_owned())
        }
        Err(_) => None,
    }
}

/// Parses CSV (RFC 4180: quoted fields with `""` escapes and line breaks) into at most
/// `max_rows` rows of at most `max_columns` fields. Returns the rows and whether any were
/// cut.
pub(crate) fn parse_csv(
    text: &str,
    delimiter: char,
    max_rows: usize,
    max_columns: usize,
) -> (Vec<Vec<String>>, bool) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut cut = false;
    let mut chars = text.chars().peekable();
    let finish_row = |row: &mut Vec<String>, rows: &mut Vec<Vec<String>>, cut: &mut bool| {
        if row.len() > max_columns {
            row.truncate(max_columns);
            *cut = true;
        }
        rows.push(std::mem::take(row));
    };
    while let Some(c) = chars.next() {
        if rows.len() >= max_rows {
            cut = true;
            break;
        }
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, c) if c == delimiter => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                finish_row(&mut row, &mut rows, &mut cut);
            }
            (false, c) => field.push(c),
        }
    }
    if rows.len() < max_rows && (!field.is_empty() || !row.is_empty()) {
        row.push(field);
        finish_row(&mut row, &mut rows, &mut cut);
    }
    (rows, cut)
}

/// Decides how to preview a file from its name and first bytes.
pub(crate) fn preview_of(name: &str, head: &[u8], truncated: bool) -> Preview {
    if preview_image_type(name).is_some() {
        return Preview::Image;
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(text) = as_text(head, truncated) else {
        return Preview::None;
    };
    if extension == "csv" || extension == "tsv" {
        let delimiter = if extension == "tsv" { '\t' } else { ',' };
        // A cut file's last line may be partial: leave it out.
        let whole = if truncated {
            text.rsplit_once('\n').map_or("", |(whole, _)| whole)
        } else {
            &text
        };
        let (rows, cut) = parse_csv(whole, delimiter, CSV_PREVIEW_ROWS, CSV_PREVIEW_COLUMNS);
        return Preview::Csv {
            rows,
            truncated: truncated || cut,
        };
    }
    Preview::Text { text, truncated }
}

pub(crate) async fn artifacts(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (pass, tracking, run) =
        match project_run(&state, &user, &organization, &project, &run_id).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let service = state.tracking();
    let pairs = query_pairs(raw.as_deref());
    let file = query_value(&pairs, "file").map(|f| f.trim_matches('/').to_string());
    // The folder listed: the file's, or the one asked for.
    let folder = match &file {
        Some(file) => file.rsplit_once('/').map_or("", |(dir, _)| dir).to_string(),
        None => query_value(&pairs, "path")
            .unwrap_or_default()
            .trim_matches('/')
            .to_string(),
    };
    let mut status = StatusCode::OK;
    let mut problems = Vec::new();
    let listing = match service
        .list_run_artifacts(&tracking, &run_id, Some(&folder))
        .await
    {
        Ok(listing) => listing.files,
        Err(error) => {
            let error = ApiError::from(error);
            status = error.status();
            problems.push(shown_message(&error));
            Vec::new()
        }
    };
    let here = run_path(&pass, &run_id);
    let preview = match &file {
        None => None,
        Some(file) => match service.get_run_artifact(&tracking, &run_id, file).await {
            Ok((info, stream)) => {
                let name = file.rsplit('/').next().unwrap_or(file);
                match read_head(stream, TEXT_PREVIEW_BYTES).await {
                    Ok((head, truncated)) => {
                        Some((file.clone(), info.size, preview_of(name, &head, truncated)))
                    }
                    Err(error) => {
                        let error = ApiError::from(error);
                        status = error.status();
                        problems.push(shown_message(&error));
                        None
                    }
                }
            }
            Err(error) => {
                let error = ApiError::from(error);
                status = error.status();
                problems.push(shown_message(&error));
                None
            }
        },
    };
    let project = pass.project();
    let error = (!problems.is_empty()).then(|| problems.join("; "));
    // Breadcrumbs of the folder: root / a / a/b.
    let mut crumbs = vec![("artifacts".to_string(), String::new())];
    let mut so_far = String::new();
    for segment in folder.split('/').filter(|s| !s.is_empty()) {
        so_far = if so_far.is_empty() {
            segment.to_string()
        } else {
            format!("{so_far}/{segment}")
        };
        crumbs.push((segment.to_string(), so_far.clone()));
    }
    let markup = page_with_script(
        &user.viewer,
        &format!(
            "Artifacts · {} · {}",
            run.info.run_name, project.display_name
        ),
        "/experiments",
        None,
        html! {
            (super::crumbs(&pass, &[
                (format!("{}/experiments", project_base(&pass)), "Experiments".to_string()),
                (format!("{}/experiments/{}", project_base(&pass), run.info.experiment_id), format!("experiment {}", run.info.experiment_id)),
                (here.clone(), run.info.run_name.clone()),
                (String::new(), "Artifacts".to_string()),
            ]))
            h1 { "Artifacts of " a href=(here) { (run.info.run_name) } }
            (project_tabs(&pass, "experiments"))
            (notice(None, error.as_deref()))
            p.artifact-path #artifact-path {
                @for (index, (title, path)) in crumbs.iter().enumerate() {
                    @if index > 0 { " / " }
                    a href=(format!("{here}/artifacts?path={}", urlencode(path))) { (title) }
                }
            }
            (artifact_table(&here, &listing))
            @if let Some((file, size, preview)) = &preview {
                section.card-section #artifact-preview {
                    h2 { code { (file) } " " span.muted { "(" (plinth_core::runtime::format_bytes(*size)) ")" } }
                    p.actions { a.button #download-artifact href=(format!("{here}/artifacts/download?path={}", urlencode(file))) { "Download" } }
                    @match preview {
                        Preview::Text { text, truncated } => {
                            pre.log.preview-text #preview-text { (text) }
                            @if *truncated { p.muted { "Showing the first " (TEXT_PREVIEW_BYTES / 1024) " KiB." } }
                        }
                        Preview::Csv { rows, truncated } => {
                            div.table-scroll {
                                table.csv-preview #preview-csv {
                                    @if let Some((head, body)) = rows.split_first() {
                                        thead { tr { @for cell in head { th { (cell) } } } }
                                        tbody { @for row in body { tr { @for cell in row { td { (cell) } } } } }
                                    }
                                }
                            }
                            @if *truncated { p.muted { "Showing the first rows and columns only." } }
                        }
                        Preview::Image => {
                            img.preview-image #preview-image src=(format!("{here}/artifacts/download?inline=true&path={}", urlencode(file))) alt=(file);
                        }
                        Preview::None => {
                            p.muted #no-preview { "No preview for this kind of file: download it." }
                        }
                    }
                }
            }
        },
    );
    (status, markup).into_response()
}

async fn serve_artifact(
    state: AppState,
    user: PageUser,
    organization: String,
    project: String,
    run_id: String,
    raw: Option<String>,
) -> Response {
    let (_, tracking) = match tracking_pass(&state, &user, &organization, &project).await {
        Ok(passes) => passes,
        Err(response) => return response,
    };
    let pairs = query_pairs(raw.as_deref());
    let disposition = match query_value(&pairs, "inline") {
        None | Some("false") => Disposition::Attachment,
        Some("true") => Disposition::InlineImage,
        Some(other) => {
            return super::error_page(
                StatusCode::BAD_REQUEST,
                &format!("invalid `inline`: `{other}` is not true or false"),
            )
        }
    };
    let Some(path) = query_value(&pairs, "path") else {
        return super::error_page(
            StatusCode::BAD_REQUEST,
            "missing `path`: name the artifact to download",
        );
    };
    let name = path.rsplit('/').next().unwrap_or(path).to_string();
    if disposition == Disposition::InlineImage && preview_image_type(&name).is_none() {
        return super::error_page(
            StatusCode::BAD_REQUEST,
            &format!("invalid `path`: `{name}` is not an image shown in pages (png, jpeg, gif, webp, svg)"),
        );
    }
    match state
        .tracking()
        .get_run_artifact(&tracking, &run_id, path)
        .await
    {
        Ok((info, stream)) => artifact_response(info.size, stream, &name, disposition),
        Err(error) => core_error_page(error),
    }
}

/// `GET …/runs/{run_id}/artifacts/download?path=…`: the artifact as a download, or with
/// `inline=true` an image the page shows.
pub(crate) async fn download(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve_artifact(state, user, organization, project, run_id, raw).await
}

// ---------- chart data ----------

/// Reads an optional integer query value, naming the field when it is not one.
fn int_param(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, ApiError> {
    query_value(pairs, key)
        .map(|text| {
            text.trim().parse::<i64>().map_err(|_| {
                ApiError::invalid(format!("invalid `{key}`: `{text}` is not a whole number"))
            })
        })
        .transpose()
}

fn bucket_json(bucket: &MetricBucket) -> Value {
    // JSON has no NaN or infinities: those values are null.
    let number = |value: f64| {
        if value.is_finite() {
            json!(value)
        } else {
            Value::Null
        }
    };
    json!({
        "first_step": bucket.first_step,
        "last_step": bucket.last_step,
        "min_timestamp": bucket.min_timestamp,
        "max_timestamp": bucket.max_timestamp,
        "min": bucket.min.map_or(Value::Null, number),
        "max": bucket.max.map_or(Value::Null, number),
        "last": number(bucket.last),
        "last_timestamp": bucket.last_timestamp,
        "points": bucket.points,
    })
}

/// `GET …/runs/{run_id}/metrics/{key}/chart.json?min_step=&max_step=&points=`: the metric
/// downsampled to at most `points` step buckets (min, max, last), for `charts.js`.
pub(crate) async fn chart_json(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, run_id, key)): Path<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Response> {
    let tracking = state
        .tracking()
        .authorize(
            &user.principal,
            &ProjectSelector::Named {
                organization,
                project,
            },
        )
        .await
        .map_err(|error| ApiError::from(error).into_response())?;
    let pairs = query_pairs(raw.as_deref());
    let (min_step, max_step, points) = chart_range(&pairs).map_err(IntoResponse::into_response)?;
    chart_answer(&state, &tracking, &run_id, &key, min_step, max_step, points)
        .await
        .map(Json)
        .map_err(IntoResponse::into_response)
}

/// Keys one `compare/charts.json` request may name at most.
const BULK_CHART_KEYS: usize = 200;

/// `GET …/compare/charts.json?runs=A&runs=B&keys=K…&min_step=&max_step=&points=`: the
/// chart data of every named metric of every named run (2–10 runs, at most
/// [`BULK_CHART_KEYS`] keys) in one answer, `{"charts": [{run_id, key, …}]}`; a run that
/// did not log a key has no buckets. The compare page's charts read it in one request.
pub(crate) async fn bulk_chart_json(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Response> {
    let tracking = state
        .tracking()
        .authorize(
            &user.principal,
            &ProjectSelector::Named {
                organization,
                project,
            },
        )
        .await
        .map_err(|error| ApiError::from(error).into_response())?;
    let pairs = query_pairs(raw.as_deref());
    let (min_step, max_step, points) = chart_range(&pairs).map_err(IntoResponse::into_response)?;
    let mut runs: Vec<String> = Vec::new();
    for run in query_values(&pairs, "runs") {
        if !runs.contains(&run) {
            runs.push(run);
        }
    }
    if runs.len() > COMPARE_MAX || runs.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid `runs`: name 1 to {COMPARE_MAX} runs ({} named)",
            runs.len()
        ))
        .into_response());
    }
    let mut keys: Vec<String> = Vec::new();
    for key in query_values(&pairs, "keys") {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.len() > BULK_CHART_KEYS {
        return Err(ApiError::invalid(format!(
            "invalid `keys`: at most {BULK_CHART_KEYS} per request ({} named)",
            keys.len()
        ))
        .into_response());
    }
    let mut charts = Vec::with_capacity(runs.len() * keys.len());
    for run in &runs {
        for key in &keys {
            charts.push(
                chart_answer(&state, &tracking, run, key, min_step, max_step, points)
                    .await
                    .map_err(IntoResponse::into_response)?,
            );
        }
    }
    Ok(Json(json!({ "charts": charts })))
}

/// The step range and bucket count of a chart request.
fn chart_range(pairs: &[(String, String)]) -> Result<(Option<i64>, Option<i64>, i64), ApiError> {
    let parsed = (|| {
        let min_step = int_param(pairs, "min_step")?;
        let max_step = int_param(pairs, "max_step")?;
        let points = int_param(pairs, "points")?.unwrap_or(DEFAULT_CHART_POINTS);
        if !(1..=MAX_CHART_BUCKETS).contains(&points) {
            return Err(ApiError::invalid(format!(
                "invalid `points`: {points} is not between 1 and {MAX_CHART_BUCKETS}"
            )));
        }
        if let (Some(min), Some(max)) = (min_step, max_step) {
            if min > max {
                return Err(ApiError::invalid(format!(
                    "invalid `min_step`: {min} is greater than `max_step` {max}"
                )));
            }
        }
        Ok((min_step, max_step, points))
    })();
    parsed
}

/// One run's metric downsampled for a chart, as `charts.js` reads it.
async fn chart_answer(
    state: &AppState,
    tracking: &TrackingPass,
    run_id: &str,
    key: &str,
    min_step: Option<i64>,
    max_step: Option<i64>,
    points: i64,
) -> Result<Value, ApiError> {
    let chart = state
        .tracking()
        .get_metric_chart(
            tracking,
            &MetricChartQuery {
                run_id: run_id.to_string(),
                metric_key: key.to_string(),
                min_step,
                max_step,
                max_buckets: points,
            },
        )
        .await?;
    let range = |range: Option<(i64, i64)>| {
        range.map_or(
            Value::Null,
            |(min, max)| json!({ "min_step": min, "max_step": max }),
        )
    };
    Ok(json!({
        "run_id": run_id,
        "key": key,
        "history": range(chart.history_steps),
        "range": range(chart.range),
        "buckets": chart.buckets.iter().map(bucket_json).collect::<Vec<_>>(),
    }))
}

// ---------- comparing runs ----------

pub(crate) async fn compare(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (pass, tracking) = match tracking_pass(&state, &user, &organization, &project).await {
        Ok(passes) => passes,
        Err(response) => return response,
    };
    let pairs = query_pairs(raw.as_deref());
    let mut ids: Vec<String> = Vec::new();
    for id in query_values(&pairs, "runs") {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if !(COMPARE_MIN..=COMPARE_MAX).contains(&ids.len()) {
        return super::error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "invalid `runs`: pick {COMPARE_MIN} to {COMPARE_MAX} runs to compare ({} picked)",
                ids.len()
            ),
        );
    }
    let service = state.tracking();
    let mut runs: Vec<Run> = Vec::with_capacity(ids.len());
    for id in &ids {
        match service.get_run(&tracking, id).await {
            Ok(run) => runs.push(run),
            Err(error) => return core_error_page(error),
        }
    }
    // One chart per metric any run logged, with a series for each run that logged it.
    let metric_keys: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| run.data.metrics.iter().map(|m| m.key.clone()))
        .collect();
    let mut experiment_names: BTreeMap<String, String> = BTreeMap::new();
    for run in &runs {
        let id = run.info.experiment_id.to_string();
        if let std::collections::btree_map::Entry::Vacant(entry) = experiment_names.entry(id) {
            let id = entry.key().clone();
            let name = service
                .get_experiment(&tracking, &id)
                .await
                .map_or_else(|_| format!("experiment {id}"), |e| e.name);
            entry.insert(name);
        }
    }
    let figures: Vec<Markup> = metric_keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let feeds: Vec<(String, String, usize, String)> = runs
                .iter()
                .enumerate()
                .filter(|(_, run)| run.data.metrics.iter().any(|m| &m.key == key))
                .map(|(color, run)| {
                    (
                        chart_url(&pass, &run.info.run_id, key),
                        run.info.run_name.clone(),
                        color,
                        run.info.run_id.clone(),
                    )
                })
                .collect();
            chart_figure(key, &anchor_of(index), &feeds)
        })
        .collect();
    // Every chart's data in one request (`compare/charts.json`), not one per metric and run.
    let bulk_url = format!(
        "{}/compare/charts.json?{}",
        project_base(&pass),
        runs.iter()
            .map(|run| format!("runs={}", urlencode(&run.info.run_id)))
            .collect::<Vec<_>>()
            .join("&")
    );
    // What the scatter and parallel-coordinates plots read: each run's params and latest
    // metrics (non-finite metrics left out: JSON has no NaN).
    let plot_data: Vec<Value> = runs
        .iter()
        .enumerate()
        .map(|(color, run)| {
            let params: serde_json::Map<String, Value> = run
                .data
                .params
                .iter()
                .map(|p| (p.key.clone(), Value::String(p.value.clone())))
                .collect();
            let metrics: serde_json::Map<String, Value> = run
                .data
                .metrics
                .iter()
                .filter(|m| m.value.is_finite())
                .map(|m| (m.key.clone(), json!(m.value)))
                .collect();
            json!({ "id": run.info.run_id, "name": run.info.run_name, "color": color % 8, "params": params, "metrics": metrics })
        })
        .collect();
    let param_keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| run.data.params.iter().map(|p| p.key.as_str()))
        .collect();
    let param_rows: Vec<(&str, Vec<Option<&str>>, bool)> = param_keys
        .iter()
        .map(|key| {
            let values: Vec<Option<&str>> = runs
                .iter()
                .map(|run| {
                    run.data
                        .params
                        .iter()
                        .find(|p| p.key == *key)
                        .map(|p| p.value.as_str())
                })
                .collect();
            let differs = values.iter().any(|value| *value != values[0]);
            (*key, values, differs)
        })
        .collect();
    let differing = param_rows.iter().filter(|(_, _, differs)| *differs).count();
    let latest: BTreeMap<&str, Vec<Option<f64>>> = metric_keys
        .iter()
        .map(|key| {
            (
                key.as_str(),
                runs.iter()
                    .map(|run| {
                        run.data
                            .metrics
                            .iter()
                            .find(|m| &m.key == key)
                            .map(|m| m.value)
                    })
                    .collect(),
            )
        })
        .collect();
    let project = pass.project();
    let base = project_base(&pass);
    let run_header = || {
        html! {
            @for (color, run) in runs.iter().enumerate() {
                th { span class=(format!("swatch series-{}", color % 8)) {} " " a href=(format!("{base}/runs/{}", run.info.run_id)) { (run.info.run_name) } }
            }
        }
    };
    page_with_script(
        &user.viewer,
        &format!("Compare {} runs · {}", runs.len(), project.display_name),
        "/experiments",
        Some("/assets/charts.js"),
        html! {
            (super::crumbs(&pass, &[(format!("{base}/experiments"), "Experiments".to_string()), (String::new(), format!("Compare {} runs", runs.len()))]))
            h1 { "Compare " (runs.len()) " runs" }
            (project_tabs(&pass, "experiments"))
            table #compare-runs {
                thead { tr { th { "" } (run_header()) } }
                tbody {
                    tr { th scope="row" { "Status" } @for run in &runs { td { (run_status_badge(run.info.status)) } } }
                    tr { th scope="row" { "Started" } @for run in &runs { td { (format_ms(run.info.start_time)) } } }
                    tr { th scope="row" { "Duration" } @for run in &runs { td { (or_dash(run_duration(run))) } } }
                    tr { th scope="row" { "User" } @for run in &runs { td { (run.info.user_id) } } }
                    tr { th scope="row" { "Experiment" } @for run in &runs { td { a href=(format!("{base}/experiments/{}", run.info.experiment_id)) { (experiment_names.get(&run.info.experiment_id.to_string()).cloned().unwrap_or_default()) } } } }
                }
            }
            h2 { "Parameters" }
            p.muted { (differing) " of " (param_rows.len()) " parameters differ (highlighted)." }
            @if !param_rows.is_empty() {
                div.table-scroll {
                    table #param-diff {
                        thead { tr { th { "Parameter" } (run_header()) } }
                        tbody {
                            @for (key, values, differs) in &param_rows {
                                tr class=[differs.then_some("differs")] {
                                    th scope="row" { (long_value(key)) }
                                    @for value in values { td { @match value { Some(value) => (long_value(value)), None => span.muted { "—" } } } }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Metrics" }
            @if latest.is_empty() {
                p.muted { "No metrics logged." }
            } @else {
                div.table-scroll {
                    table #metric-diff {
                        thead { tr { th { "Metric (latest)" } (run_header()) } }
                        tbody {
                            @for (key, values) in &latest {
                                tr {
                                    th scope="row" { (long_value(key)) }
                                    @for value in values { td.num { @match value { Some(value) => (number(*value)), None => "—" } } }
                                }
                            }
                        }
                    }
                }
            }
            section #compare-plots hidden data-runs=(Value::Array(plot_data).to_string()) {
                h2 { "Params and metrics against each other" }
                div.chart-grid {
                    figure.chart-figure #scatter {
                        figcaption {
                            strong { "Scatter" }
                            div.scatter-axes {
                                label { "X" select #scatter-x {} }
                                label { "Y" select #scatter-y {} }
                            }
                        }
                        div.chart-body {}
                    }
                    figure.chart-figure #parallel {
                        figcaption { strong { "Parallel coordinates" } span.muted { " (hover a line for its run)" } }
                        div.chart-body {}
                    }
                }
            }
            @if !figures.is_empty() {
                h2 { "Charts" }
                p.muted { "Every metric any of the runs logged, one color per run." }
                ul.legend #compare-legend {
                    @for (color, run) in runs.iter().enumerate() {
                        li { span class=(format!("swatch series-{}", color % 8)) {} (run.info.run_name) }
                    }
                }
                (chart_controls())
                div.chart-grid #charts data-bulk=(bulk_url) { @for figure in &figures { (figure) } }
            }
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_line_breaks_and_limits() {
        let (rows, cut) = parse_csv(
            "a,b,c\r\n1,\"x, \"\"y\"\"\",3\n2,\"two\nlines\",\n",
            ',',
            10,
            10,
        );
        assert_eq!(
            rows,
            [
                vec!["a", "b", "c"],
                vec!["1", "x, \"y\"", "3"],
                vec!["2", "two\nlines", ""]
            ]
        );
        assert!(!cut);
        let (rows, cut) = parse_csv("a,b,c\n1,2,3\n4,5,6", ',', 2, 2);
        assert_eq!(rows, [vec!["a", "b"], vec!["1", "2"]]);
        assert!(cut);
        let (rows, _) = parse_csv("x\ty\n1\t2", '\t', 10, 10);
        assert_eq!(rows, [vec!["x", "y"], vec!["1", "2"]]);
    }

    #[test]
    fn previews_follow_the_name_and_the_bytes() {
        assert_eq!(preview_of("plot.PNG", b"\x89PNG", false), Preview::Image);
        assert_eq!(
            preview_of("notes.txt", "héllo <b>".as_bytes(), false),
            Preview::Text {
                text: "héllo <b>".to_string(),
                truncated: false
            }
        );
        assert_eq!(
            preview_of("model.bin", b"\x00\x01\x02", false),
            Preview::None
        );
        assert_eq!(
            preview_of("latin1.txt", b"caf\xe9 au lait", false),
            Preview::None
        );
        // A character cut by the limit is dropped, not a reason to refuse the text.
        let cut = "ab\u{e9}".as_bytes();
        assert_eq!(
            preview_of("x.log", &cut[..cut.len() - 1], true),
            Preview::Text {
                text: "ab".to_string(),
                truncated: true
            }
        );
        // A cut CSV leaves out its partial last line.
        assert_eq!(
            preview_of("t.csv", b"a,b\n1,2\n3,", true),
            Preview::Csv {
                rows: vec![
                    vec!["a".to_string(), "b".to_string()],
                    vec!["1".to_string(), "2".to_string()]
                ],
                truncated: true
            }
        );
    }

    #[tokio::test]
    async fn heads_stop_at_the_limit() {
        let chunks = |parts: &[&'static [u8]]| {
            futures::stream::iter(
                parts
                    .iter()
                    .map(|part| Ok::<_, std::io::Error>(Bytes::from_static(part)))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            read_head(chunks(&[b"abc", b"def"]), 4).await.unwrap(),
            (b"abcd".to_vec(), true)
        );
        assert_eq!(
            read_head(chunks(&[b"ab", b"cd"]), 4).await.unwrap(),
            (b"abcd".to_vec(), false)
        );
        assert_eq!(
            read_head(chunks(&[b"ab", b"cd", b"", b"e"]), 4)
                .await
                .unwrap(),
            (b"abcd".to_vec(), true)
        );
        assert_eq!(
            read_head(chunks(&[b"ab"]), 4).await.unwrap(),
            (b"ab".to_vec(), false)
        );
    }
}
