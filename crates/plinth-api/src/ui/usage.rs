//! Quotas and usage: a project's quota next to what it uses now (admins also set it there),
//! its usage ledger with a chart, and the whole platform's ledger for admins. The charts
//! are SVG drawn here (stacked bars of CPU-hours per day); the tables below them carry the
//! same numbers for screen readers and copying.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped};
use plinth_core::runtime::{format_bytes, format_cpu, UsageFilter};
use plinth_core::ProjectPass;
use plinth_types::{ProjectQuota, ProjectUsageNow, UsageRecord};
use serde::Deserialize;

use super::layout::{csrf_field, notice, page};
use super::session::{back, urlencode, PageForm, PageUser};
use super::{admin_only, project_crumbs, project_tabs, shown_message, viewer_pass};
use crate::identity::ClientInfoExtractor;
use crate::{ApiError, AppState};

/// How many days the ledger shows unless asked otherwise.
const DEFAULT_DAYS: i64 = 30;
/// Series drawn in their own color; the rest are summed as "others".
const MAX_SERIES: usize = 8;
/// Longest range drawn day by day; longer ones draw only the days with usage.
const MAX_CHART_DAYS: i64 = 400;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsageQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// What the chart's bars are split by: `user`, `class` (and `project` for admins).
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The date range asked for, with the defaults filled in (the last 30 days, UTC).
struct Range {
    from: String,
    to: String,
}

impl Range {
    fn of(query: &UsageQuery) -> Range {
        let today = Utc::now().date_naive();
        let from = query
            .from
            .clone()
            .filter(|day| !day.trim().is_empty())
            .unwrap_or_else(|| (today - Duration::days(DEFAULT_DAYS - 1)).to_string());
        let to = query
            .to
            .clone()
            .filter(|day| !day.trim().is_empty())
            .unwrap_or_else(|| today.to_string());
        Range { from, to }
    }

    fn filter(&self) -> UsageFilter {
        UsageFilter {
            from_day: Some(self.from.clone()),
            to_day: Some(self.to.clone()),
        }
    }

    fn query(&self) -> String {
        format!("from={}&to={}", urlencode(&self.from), urlencode(&self.to))
    }

    /// Every day of the range when it is short enough to draw day by day.
    fn days(&self) -> Option<Vec<String>> {
        let from = NaiveDate::parse_from_str(&self.from, "%Y-%m-%d").ok()?;
        let to = NaiveDate::parse_from_str(&self.to, "%Y-%m-%d").ok()?;
        let span = (to - from).num_days();
        (0..MAX_CHART_DAYS).contains(&span).then(|| {
            (0..=span)
                .map(|n| (from + Duration::days(n)).to_string())
                .collect()
        })
    }
}

// ---------- the chart ----------

/// Rounds `max` up to 1, 2, 2.5 or 5 times a power of ten.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|candidate| *candidate >= max * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// Formats an axis value with as many decimals as `step` needs to be exact (at most 6).
pub(crate) fn axis_label(value: f64, step: f64) -> String {
    let decimals = (0..=6)
        .find(|decimals| {
            let scaled = step * 10f64.powi(*decimals);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Formats hours for tables and tooltips.
fn hours(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else if value < 0.01 {
        format!("{value:.4}")
    } else {
        format!("{value:.2}")
    }
}

/// Draws CPU-hours per day as bars stacked by `series_of`. Returns nothing when there is
/// no usage to draw.
fn usage_chart(
    records: &[UsageRecord],
    days: Option<Vec<String>>,
    series_of: &dyn Fn(&UsageRecord) -> String,
    split_label: &str,
) -> Option<Markup> {
    let total: f64 = records.iter().map(|record| record.cpu_hours).sum();
    if records.is_empty() || total <= 0.0 {
        return None;
    }
    // Series, largest first; past `MAX_SERIES - 1` the rest are "others".
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for record in records {
        *totals.entry(series_of(record)).or_default() += record.cpu_hours;
    }
    let mut ranked: Vec<(String, f64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut names: Vec<String> = ranked.iter().map(|(name, _)| name.clone()).collect();
    if names.len() > MAX_SERIES {
        names.truncate(MAX_SERIES - 1);
        names.push("others".to_string());
    }
    let index_of = |name: &str| {
        names
            .iter()
            .position(|known| known == name)
            .unwrap_or(names.len() - 1)
    };
    // Day → CPU-hours per series.
    let mut by_day: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for record in records {
        let values = by_day
            .entry(record.day.clone())
            .or_insert_with(|| vec![0.0; names.len()]);
        values[index_of(&series_of(record))] += record.cpu_hours;
    }
    let days: Vec<String> = days.unwrap_or_else(|| by_day.keys().cloned().collect());
    let day_max = by_day
        .values()
        .map(|values| values.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let top = nice_ceiling(day_max);
    let step = top / 4.0;

    let (width, height) = (760.0, 260.0);
    let (left, right, top_margin, bottom) = (60.0, 12.0, 26.0, 30.0);
    let plot_width = width - left - right;
    let plot_height = height - top_margin - bottom;
    let slot = plot_width / days.len().max(1) as f64;
    let bar = (slot * 0.72).max(1.0);
    let y = |value: f64| top_margin + plot_height * (1.0 - value / top);
    let label_every = days.len().div_ceil(10).max(1);
    let description = format!(
        "CPU-hours per day from {} to {}, split by {split_label}: {} CPU-hours in all.",
        days.first().map(String::as_str).unwrap_or(""),
        days.last().map(String::as_str).unwrap_or(""),
        hours(total)
    );

    let mut svg = String::new();
    svg.push_str(&format!(
        r#"<svg class="chart usage-chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">CPU-hours per day by {}</title><desc id="chart-desc">{}</desc>"#,
        escape(split_label),
        escape(&description)
    ));
    for tick in 0..=4 {
        let value = step * f64::from(tick);
        let at = y(value);
        svg.push_str(&format!(
            r#"<line class="grid" x1="{left}" x2="{}" y1="{at:.1}" y2="{at:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            width - right,
            left - 6.0,
            at + 4.0,
            axis_label(value, step)
        ));
    }
    svg.push_str(r#"<text class="axis" x="4" y="12">CPU-hours</text>"#);
    for (index, day) in days.iter().enumerate() {
        let x = left + slot * index as f64 + (slot - bar) / 2.0;
        if let Some(values) = by_day.get(day) {
            let mut base = 0.0;
            for (series, value) in values.iter().enumerate() {
                if *value <= 0.0 {
                    continue;
                }
                let (y_top, y_bottom) = (y(base + value), y(base));
                svg.push_str(&format!(
                    r#"<rect class="bar series-{series}" x="{x:.1}" y="{y_top:.1}" width="{bar:.1}" height="{:.1}"><title>{} · {}: {} CPU-h</title></rect>"#,
                    (y_bottom - y_top).max(0.5),
                    escape(day),
                    escape(&names[series]),
                    hours(*value)
                ));
                base += value;
            }
        }
        if index % label_every == 0 {
            svg.push_str(&format!(
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                height - bottom + 16.0,
                escape(day.get(5..).unwrap_or(day))
            ));
        }
    }
    svg.push_str(&format!(
        r#"<line class="axis-line" x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        width - right,
        y(0.0),
        y(0.0)
    ));
    Some(html! {
        figure.chart-figure {
            (PreEscaped(svg))
            figcaption {
                ul.legend {
                    @for (index, name) in names.iter().enumerate() {
                        li { span class=(format!("swatch series-{index}")) {} (name) }
                    }
                }
            }
        }
    })
}

/// Escapes text for SVG built as a string.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn range_form(action: &str, range: &Range, by: &str, splits: &[(&str, &str)]) -> Markup {
    html! {
        form.grid-form #usage-range method="get" action=(action) {
            label { "From" input type="date" name="from" value=(range.from); }
            label { "To" input type="date" name="to" value=(range.to); }
            label { "Split the chart by"
                select name="by" {
                    @for (value, label) in splits {
                        option value=(value) selected[*value == by] { (label) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

fn ledger_table(records: &[UsageRecord], project_name: Option<&dyn Fn(&str) -> String>) -> Markup {
    let sum = |pick: fn(&UsageRecord) -> f64| records.iter().map(pick).sum::<f64>();
    html! {
        table #usage {
            thead { tr {
                th { "Day" } @if project_name.is_some() { th { "Project" } } th { "User" } th { "Class" }
                th.num { "CPU-h" } th.num { "GiB-h" } th.num { "GPU-h" }
            } }
            tbody {
                @for record in records {
                    tr {
                        td { (record.day) }
                        @if let Some(name) = project_name { td { (name(&record.project_id)) } }
                        td { (record.username) }
                        td { (record.class) }
                        td.num { (hours(record.cpu_hours)) }
                        td.num { (hours(record.memory_gib_hours)) }
                        td.num { (hours(record.gpu_hours)) }
                    }
                }
            }
            tfoot {
                tr {
                    th colspan=(if project_name.is_some() { 4 } else { 3 }) { "Total" }
                    th.num { (hours(sum(|record| record.cpu_hours))) }
                    th.num { (hours(sum(|record| record.memory_gib_hours))) }
                    th.num { (hours(sum(|record| record.gpu_hours))) }
                }
            }
        }
    }
}

// ---------- a project's quota and usage ----------

/// The quota form: blank fields are unlimited.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct QuotaForm {
    #[serde(default)]
    cpu: String,
    #[serde(default)]
    memory_gib: String,
    #[serde(default)]
    gpus: String,
    #[serde(default)]
    max_jobs: String,
    #[serde(default)]
    max_workspaces: String,
    #[serde(default)]
    max_deployments: String,
    #[serde(default)]
    allow_custom_sizes: Option<String>,
}

fn decimal_text(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl QuotaForm {
    fn of(quota: &ProjectQuota) -> QuotaForm {
        let count = |value: Option<u32>| value.map(|v| v.to_string()).unwrap_or_default();
        QuotaForm {
            cpu: quota.cpu_millis.map(format_cpu).unwrap_or_default(),
            memory_gib: quota
                .memory_bytes
                .map(|bytes| decimal_text(bytes as f64 / GIB))
                .unwrap_or_default(),
            gpus: count(quota.gpus),
            max_jobs: count(quota.max_jobs),
            max_workspaces: count(quota.max_workspaces),
            max_deployments: count(quota.max_deployments),
            allow_custom_sizes: quota.allow_custom_sizes.then(|| "true".to_string()),
        }
    }

    fn quota(&self) -> Result<ProjectQuota, String> {
        fn amount(field: &str, text: &str, unit: f64, what: &str) -> Result<Option<u64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() && value >= 0.0 => {
                    Ok(Some((value * unit).round() as u64))
                }
                _ => Err(format!(
                    "invalid `{field}`: `{text}` is not {what} (leave it blank for unlimited)"
                )),
            }
        }
        fn count(field: &str, text: &str) -> Result<Option<u32>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u32>().map(Some).map_err(|_| {
                format!("invalid `{field}`: `{text}` is not a whole number (leave it blank for unlimited)")
            })
        }
        Ok(ProjectQuota {
            cpu_millis: amount("cpu", &self.cpu, 1000.0, "a number of cores like 8 or 1.5")?,
            memory_bytes: amount("memory", &self.memory_gib, GIB, "a number of GiB like 32")?,
            gpus: count("gpus", &self.gpus)?,
            max_jobs: count("max_jobs", &self.max_jobs)?,
            max_workspaces: count("max_workspaces", &self.max_workspaces)?,
            max_deployments: count("max_deployments", &self.max_deployments)?,
            allow_custom_sizes: self.allow_custom_sizes.as_deref() == Some("true"),
        })
    }
}

/// One row of the quota table: a bar of `used` out of `limit`, or "unlimited".
fn quota_row(
    resource: &str,
    id: &str,
    used: u64,
    limit: Option<u64>,
    show: &dyn Fn(u64) -> String,
    note: Option<String>,
) -> Markup {
    html! {
        tr #(format!("quota-{id}")) {
            th scope="row" { (resource) }
            td.num { (show(used)) }
            td.num { @match limit { Some(limit) => (show(limit)), None => span.muted { "unlimited" } } }
            td.bar-cell {
                @match limit {
                    Some(limit) => {
                        @let fraction = if limit == 0 { if used > 0 { 1.0 } else { 0.0 } } else { (used as f64 / limit as f64).min(1.0) };
                        @let full = limit == 0 || used >= limit;
                        svg.quota-bar viewBox="0 0 200 10" preserveAspectRatio="none" role="img"
                            aria-label=(format!("{} of {} in use", show(used), show(limit))) {
                            rect.track x="0" y="0" width="200" height="10" rx="3" {}
                            rect class=(if full { "fill full" } else { "fill" }) x="0" y="0"
                                width=(format!("{:.1}", 200.0 * fraction)) height="10" rx="3" {}
                        }
                    }
                    None => {}
                }
                @if let Some(note) = note { " " span.muted { (note) } }
            }
        }
    }
}

fn quota_table(quota: &ProjectQuota, usage: &ProjectUsageNow) -> Markup {
    let cores = |millis: u64| format!("{} cores", format_cpu(millis));
    let bytes = |value: u64| format_bytes(value);
    let plain = |value: u64| value.to_string();
    html! {
        table #quota {
            thead { tr { th { "Resource" } th.num { "In use" } th.num { "Limit" } th { "" } } }
            tbody {
                (quota_row("CPU", "cpu", usage.cpu_millis, quota.cpu_millis, &cores, None))
                (quota_row("Memory", "memory", usage.memory_bytes, quota.memory_bytes, &bytes, None))
                (quota_row("GPUs", "gpus", usage.gpus.into(), quota.gpus.map(u64::from), &plain, None))
                (quota_row("Running jobs", "jobs", usage.jobs.into(), quota.max_jobs.map(u64::from), &plain,
                    (usage.queued > 0).then(|| format!("{} queued", usage.queued))))
                (quota_row("Workspaces", "workspaces", usage.workspaces.into(), quota.max_workspaces.map(u64::from), &plain, None))
                (quota_row("Deployments", "deployments", usage.deployments.into(), quota.max_deployments.map(u64::from), &plain, None))
            }
        }
        p.muted {
            @if quota.allow_custom_sizes { "Members may ask for sizes no resource class names." }
            @else { "Work runs in one of the " a href="/admin/classes" { "resource classes" } " only." }
        }
    }
}

fn quota_form(viewer: &super::layout::Viewer, action: &str, form: &QuotaForm) -> Markup {
    html! {
        form.grid-form #quota-form method="post" action=(action) {
            (csrf_field(viewer))
            label { "CPU (cores)" input type="text" inputmode="decimal" name="cpu" value=(form.cpu) placeholder="unlimited"; }
            label { "Memory (GiB)" input type="text" inputmode="decimal" name="memory_gib" value=(form.memory_gib) placeholder="unlimited"; }
            label { "GPUs" input type="text" inputmode="numeric" name="gpus" value=(form.gpus) placeholder="unlimited"; }
            label { "Running jobs" input type="text" inputmode="numeric" name="max_jobs" value=(form.max_jobs) placeholder="unlimited"; }
            label { "Workspaces" input type="text" inputmode="numeric" name="max_workspaces" value=(form.max_workspaces) placeholder="unlimited"; }
            label { "Deployments" input type="text" inputmode="numeric" name="max_deployments" value=(form.max_deployments) placeholder="unlimited"; }
            label.check { input type="checkbox" name="allow_custom_sizes" value="true" checked[form.allow_custom_sizes.as_deref() == Some("true")]; " allow custom sizes" }
            button.primary type="submit" { "Save quota" }
        }
    }
}

pub(crate) async fn project(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<UsageQuery>,
) -> Response {
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    project_page(&state, &user, &pass, &query, None, None)
        .await
        .into_response()
}

async fn project_page(
    state: &AppState,
    user: &PageUser,
    pass: &ProjectPass,
    query: &UsageQuery,
    draft: Option<&QuotaForm>,
    form_error: Option<&str>,
) -> Markup {
    let mut problems = Vec::new();
    let (quota, usage) = match state.runtime().project_quota(pass).await {
        Ok(found) => found,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            Default::default()
        }
    };
    let range = Range::of(query);
    let records = match state.runtime().project_usage(pass, &range.filter()).await {
        Ok(records) => records,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            Vec::new()
        }
    };
    let by = match query.by.as_deref() {
        Some("class") => "class",
        _ => "user",
    };
    let chart = usage_chart(
        &records,
        range.days(),
        &|record: &UsageRecord| {
            if by == "class" {
                record.class.clone()
            } else {
                record.username.clone()
            }
        },
        by,
    );
    let project = pass.project();
    let base = format!("/projects/{}/{}", project.organization, project.name);
    let csv = format!(
        "/api/v1/orgs/{}/projects/{}/usage?format=csv&{}",
        project.organization,
        project.name,
        range.query()
    );
    let viewer = &user.viewer;
    let error = query
        .error
        .clone()
        .or_else(|| (!problems.is_empty()).then(|| problems.join("; ")));
    let current_form = QuotaForm::of(&quota);
    page(
        viewer,
        &format!("Quota & usage · {}", project.display_name),
        "/projects",
        html! {
            (project_crumbs(pass))
            h1 { (project.display_name) " " span.muted { code { (project.name) } } }
            (project_tabs(pass, "usage"))
            (notice(query.ok.as_deref(), error.as_deref()))
            h2 { "Quota and current use" }
            p.muted { "What the project's admitted, unfinished work holds now, against its limits. Jobs beyond a limit wait in the queue; workspaces and deployments are refused." }
            (quota_table(&quota, &usage))
            @if viewer.is_admin() {
                section.card-section #set-quota {
                    h2 { "Set the quota" }
                    p.muted { "Blank fields are unlimited. A smaller quota stops nothing that runs; new work waits until usage fits." }
                    @if let Some(error) = form_error {
                        div.callout.bad role="alert" #quota-error { (error) }
                    }
                    (quota_form(viewer, &format!("{base}/quota"), draft.unwrap_or(&current_form)))
                }
            }
            h2 { "Usage" }
            (range_form(&format!("{base}/usage"), &range, by, &[("user", "user"), ("class", "class")]))
            p { a.button #usage-csv href=(csv) download { "Download CSV" } }
            @match &chart {
                Some(chart) => (chart),
                None => p.muted #no-usage { "No usage recorded from " (range.from) " to " (range.to) "." },
            }
            @if !records.is_empty() {
                (ledger_table(&records, None))
            }
        },
    )
}

pub(crate) async fn set_quota(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    PageForm { user, form }: PageForm<QuotaForm>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let pass = match viewer_pass(&state, &user, &organization, &project).await {
        Ok(pass) => pass,
        Err(response) => return response,
    };
    let saved = match form.quota() {
        Ok(quota) => state
            .runtime()
            .set_project_quota(&user.principal, &pass, &quota, &client)
            .await
            .map_err(ApiError::from),
        Err(message) => Err(ApiError::invalid(message)),
    };
    match saved {
        Ok(()) => back(
            &format!("/projects/{organization}/{project}/usage"),
            "ok",
            "Quota saved.",
        ),
        Err(error) => {
            let message = shown_message(&error);
            let markup = project_page(
                &state,
                &user,
                &pass,
                &UsageQuery::default(),
                Some(&form),
                Some(&message),
            )
            .await;
            (error.status(), markup).into_response()
        }
    }
}

// ---------- the platform ----------

pub(crate) async fn platform(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<UsageQuery>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let range = Range::of(&query);
    let mut problems = Vec::new();
    let records = match state
        .runtime()
        .platform_usage(&user.principal, &range.filter())
        .await
    {
        Ok(records) => records,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            Vec::new()
        }
    };
    let names: BTreeMap<String, String> = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(project, _)| {
            (
                project.id.clone(),
                format!("{}/{}", project.organization, project.name),
            )
        })
        .collect();
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let by = match query.by.as_deref() {
        Some("user") => "user",
        Some("class") => "class",
        _ => "project",
    };
    let chart = usage_chart(
        &records,
        range.days(),
        &|record: &UsageRecord| match by {
            "user" => record.username.clone(),
            "class" => record.class.clone(),
            _ => name_of(&record.project_id),
        },
        by,
    );
    let projects: BTreeSet<&str> = records.iter().map(|r| r.project_id.as_str()).collect();
    let error = query
        .error
        .clone()
        .or_else(|| (!problems.is_empty()).then(|| problems.join("; ")));
    page(
        &user.viewer,
        "Usage",
        "/admin",
        html! {
            h1 { "Administration" }
            (super::admin::admin_tabs("/admin/usage"))
            (notice(query.ok.as_deref(), error.as_deref()))
            p.lead { "CPU-, memory- and GPU-hours of every project by day, user and class (UTC days)." }
            (range_form("/admin/usage", &range, by, &[("project", "project"), ("user", "user"), ("class", "class")]))
            p {
                a.button #usage-csv href=(format!("/api/v1/usage?format=csv&{}", range.query())) download { "Download CSV" }
                " " span.muted { (projects.len()) " project(s) used the runtime in this range." }
            }
            @match &chart {
                Some(chart) => (chart),
                None => p.muted #no-usage { "No usage recorded from " (range.from) " to " (range.to) "." },
            }
            @if !records.is_empty() {
                (ledger_table(&records, Some(&name_of)))
            }
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(day: &str, user: &str, class: &str, cpu_hours: f64) -> UsageRecord {
        UsageRecord {
            day: day.to_string(),
            project_id: "p".to_string(),
            user_id: user.to_string(),
            username: user.to_string(),
            class: class.to_string(),
            cpu_hours,
            memory_gib_hours: cpu_hours * 2.0,
            gpu_hours: 0.0,
            wall_hours: cpu_hours,
        }
    }

    #[test]
    fn axis_tops_are_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(0.0003), 0.0005);
        assert_eq!(axis_label(2.5, 1.25), "2.5");
        assert_eq!(axis_label(3.75, 1.25), "3.75");
        assert_eq!(axis_label(0.0, 1.25), "0");
        assert_eq!(axis_label(0.000375, 0.000125), "0.000375");
        assert_eq!(axis_label(10.0, 5.0), "10");
    }

    #[test]
    fn the_chart_stacks_each_days_series() {
        let records = [
            record("2026-11-27", "ann", "small", 1.0),
            record("2026-11-27", "bob", "small", 3.0),
            record("2026-11-29", "ann", "large", 1.5),
        ];
        let days = Range {
            from: "2026-11-27".to_string(),
            to: "2026-11-29".to_string(),
        }
        .days();
        assert_eq!(days.as_ref().unwrap().len(), 3);
        let chart = usage_chart(&records, days, &|r| r.username.clone(), "user")
            .unwrap()
            .into_string();
        assert_eq!(chart.matches("<rect class=\"bar ").count(), 3);
        // Bob used most, so he is the first series.
        assert!(chart.contains("2026-11-27 · bob: 3.00 CPU-h"), "{chart}");
        assert!(chart.contains("class=\"bar series-0\""));
        assert!(chart.contains("<span class=\"swatch series-1\"></span>ann"));
        assert!(usage_chart(&[], None, &|r| r.username.clone(), "user").is_none());
    }

    #[test]
    fn the_quota_form_reads_blank_as_unlimited() {
        let form = QuotaForm {
            cpu: "1.5".to_string(),
            memory_gib: " 32 ".to_string(),
            max_jobs: "0".to_string(),
            ..QuotaForm::default()
        };
        let quota = form.quota().unwrap();
        assert_eq!(quota.cpu_millis, Some(1500));
        assert_eq!(quota.memory_bytes, Some(32 << 30));
        assert_eq!(quota.gpus, None);
        assert_eq!(quota.max_jobs, Some(0));
        assert!(!quota.allow_custom_sizes);
        let again = QuotaForm::of(&quota);
        assert_eq!(
            (again.cpu.as_str(), again.memory_gib.as_str()),
            ("1.5", "32")
        );
        let bad = QuotaForm {
            gpus: "two".to_string(),
            ..QuotaForm::default()
        };
        assert_eq!(
            bad.quota().unwrap_err(),
            "invalid `gpus`: `two` is not a whole number (leave it blank for unlimited)"
        );
    }
}
