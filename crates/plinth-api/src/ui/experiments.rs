//! Experiment tracking pages, part one: the overview of projects, a project's experiments,
//! and an experiment's runs table (MLflow's filter grammar, sortable columns, chosen
//! param/metric/tag columns, keyset pages, checkboxes to compare runs). The run page,
//! artifacts, charts and comparison are in `runs.rs`.

use std::collections::BTreeSet;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_core::tracking::{ExperimentSearch, RunSearch};
use plinth_core::{ProjectPass, ProjectSelector, TrackingPass};
use plinth_types::{Experiment, LifecycleStage, Page, Run, RunStatus, ViewType};

use super::layout::{notice, page};
use super::session::{urlencode, PageUser};
use super::{
    core_error_page, format_ms, human_duration_ms, or_dash, project_crumbs, project_tabs,
    shown_message, viewer_pass,
};
use crate::{ApiError, AppState};

/// Experiments per page of the list.
const EXPERIMENTS_PER_PAGE: i64 = 100;
/// Runs per page of the runs table.
const RUNS_PER_PAGE: i64 = 50;
/// Param/metric columns shown when none are chosen: the first keys seen, per kind.
const DEFAULT_COLUMNS_PER_KIND: usize = 3;
/// Chosen columns at most.
const MAX_COLUMNS: usize = 30;

/// Authorizes `user` to read the project's tracking data: the project pass (tabs, crumbs)
/// and the tracking pass (service calls). Outsiders get the 404 page.
pub(crate) async fn tracking_pass(
    state: &AppState,
    user: &PageUser,
    organization: &str,
    project: &str,
) -> Result<(ProjectPass, TrackingPass), Response> {
    let pass = viewer_pass(state, user, organization, project).await?;
    let tracking = state
        .tracking()
        .authorize(
            &user.principal,
            &ProjectSelector::Named {
                organization: organization.to_string(),
                project: project.to_string(),
            },
        )
        .await
        .map_err(core_error_page)?;
    Ok((pass, tracking))
}

/// The path of a project's page.
pub(crate) fn project_base(pass: &ProjectPass) -> String {
    let project = pass.project();
    format!("/projects/{}/{}", project.organization, project.name)
}

/// Reads a query string as `(key, value)` pairs, repeated keys kept (`columns=a&columns=b`).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|raw| serde_urlencoded::from_str(raw).ok())
        .unwrap_or_default()
}

/// The last value of `key` in `pairs`, blank ones ignored.
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(name, value)| name == key && !value.trim().is_empty())
        .map(|(_, value)| value.as_str())
}

/// Every value of `key`, comma-separated lists split.
pub(crate) fn query_values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(name, _)| name == key)
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `view` query value: `active` (the default), `deleted` or `all`.
fn view_type(pairs: &[(String, String)]) -> Result<ViewType, String> {
    match query_value(pairs, "view") {
        None | Some("active") => Ok(ViewType::ActiveOnly),
        Some("deleted") => Ok(ViewType::DeletedOnly),
        Some("all") => Ok(ViewType::All),
        Some(other) => Err(format!(
            "invalid `view`: `{other}` is not one of active, deleted, all"
        )),
    }
}

fn view_name(view: ViewType) -> &'static str {
    match view {
        ViewType::ActiveOnly => "active",
        ViewType::DeletedOnly => "deleted",
        ViewType::All => "all",
    }
}

/// A run's status as a badge, colored like job states.
pub(crate) fn run_status_badge(status: RunStatus) -> Markup {
    let state = run_state_word(status);
    html! {
        span class=(format!("badge run-status state-{state}")) title=(format!("MLflow status {}", status.as_str())) { (state) }
    }
}

/// A run's status in the words jobs use (one vocabulary across runs and jobs): MLflow's
/// `FINISHED` is `succeeded`, `KILLED` is `stopped`, `SCHEDULED` is `pending`.
pub(crate) fn run_state_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Scheduled => "pending",
        RunStatus::Finished => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Killed => "stopped",
    }
}

/// How long a run ran (or has run so far, while it runs).
pub(crate) fn run_duration(run: &Run) -> Option<String> {
    run.info
        .end_time
        .map(|end| human_duration_ms(end - run.info.start_time))
}

/// Formats a metric value for people: exact (shortest round-trip form), NaN and infinities
/// by name.
pub(crate) fn metric_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "∞" } else { "−∞" }.to_string()
    } else {
        // As Python prints it (what the client logged, to the last digit): `1.0`, `-0.0`,
        // `1e-300`, never 300 zeros.
        plinth_types::python_float(value)
    }
}

/// The notice for what went wrong reading a page's query (`None` when nothing did) and the
/// page's status: `400` when something did (the page still shows, with the form to fix it).
pub(crate) fn problems_notice(problems: &[String]) -> (Option<String>, StatusCode) {
    if problems.is_empty() {
        (None, StatusCode::OK)
    } else {
        (Some(problems.join("; ")), StatusCode::BAD_REQUEST)
    }
}

/// A page with nothing on it (shown under an error).
fn empty_page<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next_page_token: None,
    }
}

// ---------- the overview ----------

pub(crate) async fn overview(State(state): State<AppState>, user: PageUser) -> Response {
    let projects = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    page(
        &user.viewer,
        "Experiments",
        "/experiments",
        html! {
            h1 { "Experiments" }
            p.lead { "Runs, parameters, metrics and artifacts logged with the unmodified mlflow client. Point it at a project: "
                code { "MLFLOW_TRACKING_URI=http://HOST/projects/ORG/PROJECT" } " and " code { "MLFLOW_TRACKING_TOKEN" } " (a token from your profile)." }
            @if projects.is_empty() {
                div.callout.pending { "You are not a member of any project yet: experiments belong to projects. " a href="/projects" { "See projects" } "." }
            } @else {
                table #experiment-projects {
                    thead { tr { th { "Project" } th { "Organization" } th { "Your role" } } }
                    tbody {
                        @for (project, role) in projects.iter().take(500) {
                            tr {
                                td { a href=(format!("/projects/{}/{}/experiments", project.organization, project.name)) { (project.display_name) } " " span.muted { code { (project.name) } } }
                                td { (project.organization) }
                                td { @match role { Some(role) => span.badge.role { (role) }, None => span.muted { "admin" } } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

// ---------- a project's experiments ----------

pub(crate) async fn list(
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
    let mut problems = Vec::new();
    let view = view_type(&pairs).unwrap_or_else(|error| {
        problems.push(error);
        ViewType::ActiveOnly
    });
    let page_token = query_value(&pairs, "page_token").map(str::to_string);
    let search = ExperimentSearch {
        view_type: view,
        filter: None,
        order_by: vec!["last_update_time DESC".to_string()],
        max_results: EXPERIMENTS_PER_PAGE,
        page_token: page_token.clone(),
    };
    let service = state.tracking();
    let found = match service.search_experiments(&tracking, &search).await {
        Ok(found) => found,
        Err(error) => {
            problems.push(shown_message(&ApiError::from(error)));
            empty_page()
        }
    };
    let ids: Vec<i64> = found.items.iter().map(|e| e.experiment_id).collect();
    let stats = service
        .experiment_run_stats(&tracking, &ids, view)
        .await
        .unwrap_or_else(|error| {
            problems.push(shown_message(&ApiError::from(error)));
            Vec::new()
        });
    let stats_of = |id: i64| stats.iter().find(|s| s.experiment_id == id);
    let base = project_base(&pass);
    let project = pass.project();
    let (error, status) = problems_notice(&problems);
    let views = [("active", "Active"), ("deleted", "Deleted"), ("all", "All")];
    let markup = page(
        &user.viewer,
        &format!("Experiments · {}", project.display_name),
        "/experiments",
        html! {
            (project_crumbs(&pass))
            h1 { (project.display_name) " " span.muted { code { (project.name) } } }
            (project_tabs(&pass, "experiments"))
            (notice(query_value(&pairs, "ok"), error.as_deref().or(query_value(&pairs, "error"))))
            p.muted { "Log runs here with " code { (format!("MLFLOW_TRACKING_URI=<this server>{base}")) } "." }
            @if super::may_submit(&pass) {
                (super::tracking_forms::new_experiment_form(&user.viewer, &base))
            }
            nav.tabs.small #experiment-view aria-label="Which experiments" {
                @for (value, title) in views {
                    a href=(format!("{base}/experiments?view={value}")) class=[(view_name(view) == value).then_some("active")] { (title) }
                }
            }
            @if found.items.is_empty() {
                p.muted #no-experiments { "No experiments to show." }
            } @else {
                table #experiments {
                    thead { tr { th { "Name" } th.num { "Id" } th.num { "Runs" } th { "Last run" } th { "Last update" } th { "Tags" } } }
                    tbody {
                        @for experiment in &found.items {
                            @let stats = stats_of(experiment.experiment_id);
                            tr {
                                td {
                                    a href=(format!("{base}/experiments/{}{}", experiment.experiment_id, if view == ViewType::ActiveOnly { "" } else { "?view=all" })) { (experiment.name) }
                                    @if experiment.is_default { " " span.badge.role { "default" } }
                                    @if experiment.lifecycle_stage == LifecycleStage::Deleted { " " span.badge.bad { "deleted" } }
                                }
                                td.num { (experiment.experiment_id) }
                                td.num { (stats.map_or(0, |s| s.runs)) }
                                td { (or_dash(stats.and_then(|s| s.last_start_time).map(format_ms))) }
                                td { (format_ms(experiment.last_update_time)) }
                                td { (experiment_tags(experiment)) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &found.next_page_token {
                div.pager {
                    @if page_token.is_some() { a href=(format!("{base}/experiments?view={}", view_name(view))) { "First page" } }
                    a #next-page href=(format!("{base}/experiments?view={}&page_token={}", view_name(view), urlencode(next))) { "Next page" }
                }
            }
        },
    );
    (status, markup).into_response()
}

fn experiment_tags(experiment: &Experiment) -> Markup {
    html! {
        @for tag in experiment.tags.iter().filter(|tag| !tag.key.starts_with("mlflow.")) {
            code.kv { (tag.key) "=" (tag.value) } " "
        }
    }
}

// ---------- an experiment's runs ----------

/// A column of the runs table chosen by the user: `metrics.loss`, `params.lr`, `tags.team`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Column {
    entity: Entity,
    key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Entity {
    Metric,
    Param,
    Tag,
}

/// The column groups of the runs table: a title and how many columns, in order.
fn column_groups(columns: &[&Column]) -> Vec<(&'static str, usize)> {
    let mut groups: Vec<(&'static str, usize)> = Vec::new();
    for column in columns {
        let title = match column.entity {
            Entity::Metric => "Metrics",
            Entity::Param => "Params",
            Entity::Tag => "Tags",
        };
        match groups.last_mut() {
            Some((last, count)) if *last == title => *count += 1,
            _ => groups.push((title, 1)),
        }
    }
    groups
}

impl Entity {
    fn prefix(self) -> &'static str {
        match self {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
        }
    }
}

impl Column {
    /// Parses `metrics.KEY`, `params.KEY` or `tags.KEY`.
    pub(crate) fn parse(text: &str) -> Result<Column, String> {
        let (prefix, key) = text.split_once('.').unwrap_or((text, ""));
        let entity = match prefix {
            "metrics" | "metric" => Entity::Metric,
            "params" | "param" => Entity::Param,
            "tags" | "tag" => Entity::Tag,
            _ => {
                return Err(format!(
                    "invalid `columns`: `{text}` is not `metrics.KEY`, `params.KEY` or `tags.KEY`"
                ))
            }
        };
        if key.is_empty() {
            return Err(format!("invalid `columns`: `{text}` names no key"));
        }
        Ok(Column {
            entity,
            key: key.to_string(),
        })
    }

    /// The column's name in the query string.
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.entity.prefix(), self.key)
    }

    /// The column as an `order_by` term (the key in backticks unless it is a plain word).
    fn order_key(&self) -> String {
        format!("{}.{}", self.entity.prefix(), quoted_key(&self.key))
    }

    /// The cell of `run` in this column: numbers short (exact on hover), long values cut.
    fn cell(&self, run: &Run) -> Markup {
        match self.entity {
            Entity::Metric => match run.data.metrics.iter().find(|m| m.key == self.key) {
                Some(metric) => super::number(metric.value),
                None => html! { "—" },
            },
            _ => match self.value(run) {
                Some(value) => super::long_value(&value),
                None => html! { "—" },
            },
        }
    }

    fn value(&self, run: &Run) -> Option<String> {
        match self.entity {
            Entity::Metric => run
                .data
                .metrics
                .iter()
                .find(|metric| metric.key == self.key)
                .map(|metric| metric_text(metric.value)),
            Entity::Param => run
                .data
                .params
                .iter()
                .find(|param| param.key == self.key)
                .map(|param| param.value.clone()),
            Entity::Tag => run
                .data
                .tags
                .iter()
                .find(|tag| tag.key == self.key)
                .map(|tag| tag.value.clone()),
        }
    }
}

/// A key as MLflow's grammar reads it: bare when it is a plain identifier, else in
/// backticks.
fn quoted_key(key: &str) -> String {
    let plain = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty();
    if plain {
        key.to_string()
    } else {
        format!("`{key}`")
    }
}

/// The sortable attribute columns: header, `order_by` key.
const ATTRIBUTE_COLUMNS: &[(&str, &str)] = &[
    ("Name", "attributes.run_name"),
    ("Status", "attributes.status"),
    ("Start", "attributes.start_time"),
    ("User", "attributes.user_id"),
];

/// What the runs table shows: the query, parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunsView {
    filter: String,
    /// `KEY ASC|DESC`, as MLflow's `order_by`.
    order: Option<(String, bool)>,
    columns: Vec<Column>,
    /// Whether columns were chosen (else defaults from the runs seen).
    chosen: bool,
    view: ViewType,
    page_token: Option<String>,
}

impl RunsView {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<RunsView, String> {
        let filter = query_value(pairs, "filter").unwrap_or_default().to_string();
        let order = match query_value(pairs, "order") {
            None => None,
            Some(order) => {
                let order = order.trim();
                let (key, direction) = order.rsplit_once(' ').unwrap_or((order, "ASC"));
                let ascending = match direction.to_ascii_uppercase().as_str() {
                    "ASC" => true,
                    "DESC" => false,
                    _ => {
                        return Err(format!(
                            "invalid `order`: `{order}` does not end in ASC or DESC"
                        ))
                    }
                };
                Some((key.trim().to_string(), ascending))
            }
        };
        let mut columns = Vec::new();
        for name in query_values(pairs, "columns") {
            let column = Column::parse(&name)?;
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        if columns.len() > MAX_COLUMNS {
            return Err(format!(
                "invalid `columns`: {} chosen, at most {MAX_COLUMNS}",
                columns.len()
            ));
        }
        Ok(RunsView {
            filter,
            order,
            chosen: !columns.is_empty(),
            columns,
            view: view_type(pairs)?,
            page_token: query_value(pairs, "page_token").map(str::to_string),
        })
    }

    /// The query string of this view, with another page token (or none).
    fn query(&self, page_token: Option<&str>, order: Option<&(String, bool)>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.filter.is_empty() {
            pairs.push(("filter", self.filter.clone()));
        }
        if let Some((key, ascending)) = order {
            pairs.push((
                "order",
                format!("{key} {}", if *ascending { "ASC" } else { "DESC" }),
            ));
        }
        if self.chosen {
            pairs.push((
                "columns",
                self.columns
                    .iter()
                    .map(Column::name)
                    .collect::<Vec<_>>()
                    .join(","),
            ));
        }
        if self.view != ViewType::ActiveOnly {
            pairs.push(("view", view_name(self.view).to_string()));
        }
        if let Some(token) = page_token {
            pairs.push(("page_token", token.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    /// The order a click on `key`'s header asks for: ascending first, then flipped.
    fn order_after_click(&self, key: &str) -> (String, bool) {
        match &self.order {
            Some((current, ascending)) if current == key => (key.to_string(), !ascending),
            _ => (key.to_string(), true),
        }
    }

    fn sort_mark(&self, key: &str) -> &'static str {
        match &self.order {
            Some((current, true)) if current == key => " ▲",
            Some((current, false)) if current == key => " ▼",
            _ => "",
        }
    }
}

pub(crate) async fn runs(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, experiment_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (pass, tracking) = match tracking_pass(&state, &user, &organization, &project).await {
        Ok(passes) => passes,
        Err(response) => return response,
    };
    let service = state.tracking();
    let experiment = match service.get_experiment(&tracking, &experiment_id).await {
        Ok(experiment) if experiment_id != "0" => experiment,
        // `0` is MLflow's alias of the default experiment, not a page of its own.
        Ok(_) => {
            return super::error_page(
                StatusCode::NOT_FOUND,
                &format!("experiment `{experiment_id}` not found"),
            )
        }
        Err(error) => return core_error_page(error),
    };
    let pairs = query_pairs(raw.as_deref());
    let mut problems = Vec::new();
    let mut view = RunsView::parse(&pairs).unwrap_or_else(|error| {
        problems.push(error);
        RunsView::default()
    });
    let search = RunSearch {
        filter: Some(view.filter.clone()).filter(|filter| !filter.trim().is_empty()),
        run_view_type: view.view,
        max_results: RUNS_PER_PAGE,
        order_by: view
            .order
            .iter()
            .map(|(key, ascending)| format!("{key} {}", if *ascending { "ASC" } else { "DESC" }))
            .collect(),
        page_token: view.page_token.clone(),
    };
    let found = if problems.is_empty() {
        match service
            .search_runs(&tracking, &[experiment.experiment_id.to_string()], search)
            .await
        {
            Ok(found) => found,
            Err(error) => {
                problems.push(shown_message(&ApiError::from(error)));
                empty_page()
            }
        }
    } else {
        empty_page()
    };
    // Keys seen on this page, for the column picker and the default columns.
    let mut seen: BTreeSet<Column> = BTreeSet::new();
    for run in &found.items {
        for metric in &run.data.metrics {
            seen.insert(Column {
                entity: Entity::Metric,
                key: metric.key.clone(),
            });
        }
        for param in &run.data.params {
            seen.insert(Column {
                entity: Entity::Param,
                key: param.key.clone(),
            });
        }
        for tag in run
            .data
            .tags
            .iter()
            .filter(|t| !t.key.starts_with("mlflow."))
        {
            seen.insert(Column {
                entity: Entity::Tag,
                key: tag.key.clone(),
            });
        }
    }
    if !view.chosen {
        for entity in [Entity::Metric, Entity::Param] {
            view.columns.extend(
                seen.iter()
                    .filter(|column| column.entity == entity)
                    .take(DEFAULT_COLUMNS_PER_KIND)
                    .cloned(),
            );
        }
    }
    // The chooser offers every key the experiment's runs logged, not only this page's.
    let mut keys_cut = false;
    let mut offered = seen.clone();
    match service
        .experiment_keys(&tracking, &experiment.experiment_id.to_string())
        .await
    {
        Ok(keys) => {
            keys_cut = keys.truncated;
            let column = |entity, key: String| Column { entity, key };
            offered.extend(keys.metrics.into_iter().map(|k| column(Entity::Metric, k)));
            offered.extend(keys.params.into_iter().map(|k| column(Entity::Param, k)));
            offered.extend(
                keys.tags
                    .into_iter()
                    .filter(|k| !k.starts_with("mlflow."))
                    .map(|k| column(Entity::Tag, k)),
            );
        }
        Err(error) => problems.push(shown_message(&ApiError::from(error))),
    }
    offered.extend(view.columns.iter().cloned());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let nested = nest_runs(&found.items);
    // The table groups its chosen columns: metrics, then params, then tags.
    let mut shown: Vec<&Column> = view.columns.iter().collect();
    shown.sort_by_key(|column| column.entity);
    if query_value(&pairs, "format") == Some("csv") && problems.is_empty() {
        return runs_csv(&experiment.name, &found.items, &view.columns);
    }

    let base = project_base(&pass);
    let here = format!("{base}/experiments/{}", experiment.experiment_id);
    let project = pass.project();
    let (error, status) = problems_notice(&problems);
    let header = |title: &str, key: &str| {
        let order = view.order_after_click(key);
        html! {
            th { a.sort href=(format!("{here}?{}", view.query(None, Some(&order)))) data-order=(key) { (title) (view.sort_mark(key)) } }
        }
    };
    let markup = page(
        &user.viewer,
        &format!(
            "{} · Experiments · {}",
            experiment.name, project.display_name
        ),
        "/experiments",
        html! {
            (super::crumbs(&pass, &[(format!("{base}/experiments"), "Experiments".to_string()), (String::new(), experiment.name.clone())]))
            h1 { (experiment.name) " " span.muted { "experiment " (experiment.experiment_id) } }
            (project_tabs(&pass, "experiments"))
            p { a href=(format!("{base}/experiments")) { "← All experiments" } }
            @if experiment.lifecycle_stage == LifecycleStage::Deleted {
                div.callout.pending { "This experiment is deleted; its runs show under “deleted”." }
            }
            (notice(query_value(&pairs, "ok"), error.as_deref().or(query_value(&pairs, "error"))))
            @if super::may_submit(&pass) {
                (super::tracking_forms::experiment_actions(&user.viewer, &here, &experiment.name, experiment.lifecycle_stage))
            }
            form.run-filter #run-filter method="get" action=(here) {
                label.grow { "Filter (MLflow's search syntax)"
                    input.mono type="search" name="filter" value=(view.filter)
                        placeholder="metrics.loss < 0.5 and params.lr = '0.01'";
                }
                label { "Runs"
                    select name="view" {
                        @for (value, title) in [("active", "Active"), ("deleted", "Deleted"), ("all", "All")] {
                            option value=(value) selected[view_name(view.view) == value] { (title) }
                        }
                    }
                }
                @if let Some((key, ascending)) = &view.order {
                    input type="hidden" name="order" value=(format!("{key} {}", if *ascending { "ASC" } else { "DESC" }));
                }
                @if view.chosen {
                    input type="hidden" name="columns" value=(view.columns.iter().map(Column::name).collect::<Vec<_>>().join(","));
                }
                button.primary type="submit" { "Search" }
            }
            details.card-section #column-picker {
                summary { "Columns" }
                form method="get" action=(here) {
                    input type="hidden" name="filter" value=(view.filter);
                    input type="hidden" name="view" value=(view_name(view.view));
                    @if let Some((key, ascending)) = &view.order {
                        input type="hidden" name="order" value=(format!("{key} {}", if *ascending { "ASC" } else { "DESC" }));
                    }
                    @if offered.is_empty() {
                        p.muted { "No params, metrics or tags in this experiment yet." }
                    }
                    @if keys_cut {
                        p.muted { "This experiment has too many keys to list them all; type the others below." }
                    }
                    div.picker {
                        @for column in &offered {
                            label.check { input type="checkbox" name="columns" value=(column.name()) checked[view.columns.contains(column)]; code { (column.name()) } }
                        }
                    }
                    p.muted { "Or type them, comma-separated: " input.mono type="text" name="columns" placeholder="metrics.loss,params.lr"; }
                    button type="submit" { "Show these columns" }
                }
            }
            @if found.items.is_empty() {
                p.muted #no-runs { @if error.is_some() { "No runs: fix the search above." } @else { "No runs match." } }
            } @else {
                form #compare-form method="get" action=(format!("{base}/compare")) {
                    div.table-scroll {
                        table #runs {
                            thead {
                            @if !view.columns.is_empty() {
                                tr.column-groups {
                                    th colspan="6" { span.visually-hidden { "Run" } }
                                    @for (entity, count) in column_groups(&shown) {
                                        th colspan=(count) scope="colgroup" { (entity) }
                                    }
                                }
                            }
                            tr {
                                th { span.visually-hidden { "Compare" } }
                                (header("Name", "attributes.run_name"))
                                (header("Status", "attributes.status"))
                                (header("Start", "attributes.start_time"))
                                th { "Duration" }
                                (header("User", "attributes.user_id"))
                                @for column in &shown {
                                    (header(&column.key, &column.order_key()))
                                }
                            } }
                            tbody {
                                @for (run, depth) in &nested {
                                    tr data-run=(run.info.run_id) data-depth=(depth) {
                                        td { input type="checkbox" name="runs" value=(run.info.run_id) aria-label=(format!("compare {}", run.info.run_name)); }
                                        td class=[(*depth > 0).then(|| format!("nested nest-{}", depth.min(&4)))] {
                                            @if *depth > 0 { span.nest-mark aria-hidden="true" { "↳ " } }
                                            a.run-link href=(format!("{base}/runs/{}", run.info.run_id)) { (run.info.run_name) }
                                            @if *depth == 0 {
                                                @if let Some(parent) = super::runs::tag_value(run, PARENT_RUN_TAG) {
                                                    " " a.muted.parent-link href=(format!("{base}/runs/{}", super::session::urlencode(parent))) title=(format!("parent run {parent}")) { "(child run)" }
                                                }
                                            }
                                            @if run.info.lifecycle_stage == LifecycleStage::Deleted { " " span.badge.bad { "deleted" } }
                                        }
                                        td { (run_status_badge(run.info.status)) }
                                        td { (super::relative_time(run.info.start_time, now_ms)) }
                                        td { (or_dash(run_duration(run))) }
                                        td { (run.info.user_id) }
                                        @for column in &shown {
                                            td class=[(column.entity == Entity::Metric).then_some("num")] { (column.cell(run)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div.actions {
                        button #compare-button type="submit" { "Compare selected runs" }
                        span.muted { "Pick 2 to 10 runs." }
                        a.button #runs-csv href=(format!("{here}?{}&format=csv", view.query(view.page_token.as_deref(), view.order.as_ref()))) download { "Download CSV" }
                    }
                }
            }
            div.pager {
                @if view.page_token.is_some() {
                    a #first-page href=(format!("{here}?{}", view.query(None, view.order.as_ref()))) { "First page" }
                }
                @if let Some(next) = &found.next_page_token {
                    a #next-page href=(format!("{here}?{}", view.query(Some(next), view.order.as_ref()))) { "Next page" }
                }
            }
            p.muted { "Sortable by " @for (index, (title, _)) in ATTRIBUTE_COLUMNS.iter().enumerate() { @if index > 0 { ", " } (title) } " and every chosen column: click a header." }
        },
    );
    (status, markup).into_response()
}

/// MLflow's tag naming a nested run's parent.
pub(crate) const PARENT_RUN_TAG: &str = "mlflow.parentRunId";

/// The runs of a page with nested runs right under their parent (when the parent is on the
/// page too), each with its depth; otherwise in the page's order.
fn nest_runs<'a>(runs: &'a [Run]) -> Vec<(&'a Run, usize)> {
    use std::collections::{BTreeMap, HashSet};
    let on_page: HashSet<&str> = runs.iter().map(|run| run.info.run_id.as_str()).collect();
    let parent_of = |run: &'a Run| -> Option<&'a str> {
        super::runs::tag_value(run, PARENT_RUN_TAG)
            .filter(|parent| on_page.contains(parent) && *parent != run.info.run_id)
    };
    let mut children: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        if let Some(parent) = parent_of(run) {
            children.entry(parent).or_default().push(run);
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    let mut placed: HashSet<&str> = HashSet::new();
    // Depth first from each run whose parent is not on the page; a cycle of parents (a
    // client can write any tag) is broken by `placed`, and what it leaves out comes last.
    let mut stack: Vec<(&Run, usize)> = runs
        .iter()
        .rev()
        .filter(|run| parent_of(run).is_none())
        .map(|run| (run, 0))
        .collect();
    while let Some((run, depth)) = stack.pop() {
        if !placed.insert(run.info.run_id.as_str()) {
            continue;
        }
        out.push((run, depth));
        if let Some(kids) = children.get(run.info.run_id.as_str()) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    for run in runs {
        if placed.insert(run.info.run_id.as_str()) {
            out.push((run, 0));
        }
    }
    out
}

/// The runs of a page as CSV (the shown columns; numbers exact, times RFC 3339 UTC).
fn runs_csv(experiment: &str, runs: &[Run], columns: &[Column]) -> Response {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let mut header = vec![
        "run_id".to_string(),
        "run_name".to_string(),
        "status".to_string(),
        "start_time".to_string(),
        "end_time".to_string(),
        "user".to_string(),
    ];
    header.extend(columns.iter().map(Column::name));
    let mut out = header
        .iter()
        .map(|h| field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for run in runs {
        let mut row = vec![
            run.info.run_id.clone(),
            run.info.run_name.clone(),
            run.info.status.as_str().to_string(),
            super::iso_ms(run.info.start_time),
            run.info.end_time.map(super::iso_ms).unwrap_or_default(),
            run.info.user_id.clone(),
        ];
        for column in columns {
            row.push(match column.entity {
                Entity::Metric => run
                    .data
                    .metrics
                    .iter()
                    .find(|m| m.key == column.key)
                    .map(|m| super::exact_number(m.value))
                    .unwrap_or_default(),
                _ => column.value(run).unwrap_or_default(),
            });
        }
        out.push_str(
            &row.iter()
                .map(|value| field(value))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    let name: String = experiment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-runs.csv\""),
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        query_pairs(Some(query))
    }

    #[test]
    fn columns_come_repeated_or_comma_separated_and_are_checked() {
        let view = RunsView::parse(&pairs(
            "columns=metrics.loss,params.lr&columns=tags.team&columns=metrics.loss",
        ))
        .unwrap();
        let names: Vec<String> = view.columns.iter().map(Column::name).collect();
        assert_eq!(names, ["metrics.loss", "params.lr", "tags.team"]);
        assert!(view.chosen);
        assert_eq!(
            RunsView::parse(&pairs("columns=loss")).unwrap_err(),
            "invalid `columns`: `loss` is not `metrics.KEY`, `params.KEY` or `tags.KEY`"
        );
        assert_eq!(
            RunsView::parse(&pairs("columns=metrics.")).unwrap_err(),
            "invalid `columns`: `metrics.` names no key"
        );
    }

    #[test]
    fn orders_flip_on_a_second_click_and_keys_are_quoted() {
        let view = RunsView::parse(&pairs("order=metrics.loss+DESC")).unwrap();
        assert_eq!(view.order, Some(("metrics.loss".to_string(), false)));
        assert_eq!(
            view.order_after_click("metrics.loss"),
            ("metrics.loss".to_string(), true)
        );
        assert_eq!(
            view.order_after_click("attributes.start_time"),
            ("attributes.start_time".to_string(), true)
        );
        assert_eq!(
            RunsView::parse(&pairs("order=metrics.loss+UP")).unwrap_err(),
            "invalid `order`: `metrics.loss UP` does not end in ASC or DESC"
        );
        assert_eq!(
            Column::parse("metrics.train/loss").unwrap().order_key(),
            "metrics.`train/loss`"
        );
        assert_eq!(Column::parse("params.lr").unwrap().order_key(), "params.lr");
    }

    #[test]
    fn the_query_string_keeps_the_view_across_pages() {
        let view = RunsView::parse(&pairs(
            "filter=metrics.loss+%3C+0.5&columns=params.lr&view=all",
        ))
        .unwrap();
        assert_eq!(
            view.query(Some("tok"), Some(&("metrics.loss".to_string(), true))),
            "filter=metrics.loss+%3C+0.5&order=metrics.loss+ASC&columns=params.lr&view=all&page_token=tok"
        );
        assert_eq!(
            RunsView::parse(&pairs("view=gone")).unwrap_err(),
            "invalid `view`: `gone` is not one of active, deleted, all"
        );
    }
}
