//! The server-rendered UI: maud templates compiled into the binary, static assets embedded
//! with rust-embed, no JavaScript build step. Pages answer HTML errors; `/api/*` keeps JSON.

mod admin;
mod apps;
mod assets;
mod auth_pages;
mod deployments;
mod directories;
mod environments;
mod errors;
mod experiments;
mod files;
mod jobs;
mod layout;
mod links;
mod models;
#[cfg(test)]
mod models_tests;
mod oidc;
mod pages;
mod pipelines;
mod profile;
mod projects;
mod runs;
mod runtime_admin;
mod session;
#[cfg(test)]
pub(crate) mod tests;
mod tracking_forms;
#[cfg(test)]
pub(crate) mod tracking_tests;
mod usage;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use plinth_core::ProjectPass;
use plinth_types::WorkloadState;

pub(crate) use errors::signed_in_errors;
pub(crate) use layout::error_page;

use crate::AppState;

/// The areas of the platform, in navigation order: path, title, what it is for, and
/// whether this build serves it yet.
pub(crate) const AREAS: &[Area] = &[
    Area {
        path: "/projects",
        title: "Projects",
        summary: "Organizations, projects, members and roles: who may see and change what.",
        built: true,
    },
    Area {
        path: "/jobs",
        title: "Jobs",
        summary: "Batch jobs on the compute pool: submit, follow the live log, stop, re-run; each project's quota and usage.",
        built: true,
    },
    Area {
        path: "/experiments",
        title: "Experiments",
        summary:
            "Runs, parameters, metrics and artifacts, logged with the unmodified mlflow client.",
        built: true,
    },
    Area {
        path: "/models",
        title: "Models",
        summary:
            "The model registry: versions, aliases, stages and lineage to the run that made them.",
        built: true,
    },
    Area {
        path: "/pipelines",
        title: "Pipelines",
        summary: "Pipelines compiled with the kfp SDK, their runs, schedules and outputs.",
        built: false,
    },
    Area {
        path: "/workspaces",
        title: "Workspaces",
        summary: "Notebook and IDE workspaces on the compute pool, with idle culling.",
        built: false,
    },
    Area {
        path: "/deployments",
        title: "Deployments",
        summary: "Models served as APIs (MLflow scoring and KServe v2 protocols) and apps.",
        built: false,
    },
    Area {
        path: "/files",
        title: "Files",
        summary: "Project files in the object store, also reachable with boto3 and the aws CLI.",
        built: false,
    },
    Area {
        path: "/features",
        title: "Features",
        summary: "Feature definitions, offline retrieval and online serving.",
        built: false,
    },
    Area {
        path: "/admin",
        title: "Admin",
        summary: "Users, node pools, resource classes, quotas, usage and the audit log.",
        built: true,
    },
];

/// One area of the platform.
pub(crate) struct Area {
    pub(crate) path: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: &'static str,
    /// Whether this build serves the area (else its page says it is coming).
    pub(crate) built: bool,
}

/// The UI routes, listed as they are added so tests can walk every one of them.
pub(crate) struct UiRoutes {
    router: Router<AppState>,
    listed: Vec<(&'static str, &'static str)>,
}

impl UiRoutes {
    fn new() -> Self {
        UiRoutes {
            router: Router::new(),
            listed: Vec::new(),
        }
    }

    fn get<H, T>(mut self, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, get(handler));
        self.listed.push(("GET", path));
        self
    }

    fn post<H, T>(mut self, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, post(handler));
        self.listed.push(("POST", path));
        self
    }

    /// Returns every `(method, path template)` of the UI.
    pub(crate) fn listed(&self) -> &[(&'static str, &'static str)] {
        &self.listed
    }
}

/// Returns the UI routes.
pub(crate) fn routes() -> UiRoutes {
    let mut routes = UiRoutes::new()
        .get("/", pages::home)
        .get("/status", pages::status)
        .get("/assets/{*path}", assets::serve)
        .get("/favicon.ico", assets::favicon)
        .get("/login", auth_pages::login_form)
        .post("/login", auth_pages::login)
        .get("/auth/oidc/{provider}/login", oidc::login)
        .get("/auth/oidc/{provider}/callback", oidc::callback)
        .get("/login/mfa", auth_pages::mfa_form)
        .post("/login/mfa", auth_pages::mfa)
        .post("/logout", auth_pages::logout)
        .get("/signup", auth_pages::signup_form)
        .post("/signup", auth_pages::signup)
        .get("/profile", profile::show)
        .post("/profile", profile::update)
        .post("/profile/password", profile::password)
        .post("/profile/mfa/start", profile::mfa_start)
        .post("/profile/mfa/confirm", profile::mfa_confirm)
        .post("/profile/mfa/disable", profile::mfa_disable)
        .post("/profile/tokens", profile::create_token)
        .post("/profile/tokens/{token_id}/revoke", profile::revoke_token)
        .post("/profile/s3-keys", profile::create_s3_key)
        .post(
            "/profile/s3-keys/{access_key_id}/revoke",
            profile::revoke_s3_key,
        )
        .get("/projects", projects::list)
        .post("/projects", projects::create)
        .post("/orgs", projects::create_organization)
        .get("/orgs/{organization}", projects::organization)
        .post(
            "/orgs/{organization}/members",
            projects::set_organization_member,
        )
        .post(
            "/orgs/{organization}/members/{username}/remove",
            projects::remove_organization_member,
        )
        .get("/projects/{organization}/{project}", projects::project)
        .get("/projects/{organization}/{project}/", links::project_slash)
        .get("/runs/{run_id}", links::find_run)
        .post(
            "/projects/{organization}/{project}/members",
            projects::set_project_member,
        )
        .post(
            "/projects/{organization}/{project}/members/{username}/remove",
            projects::remove_project_member,
        )
        .post(
            "/projects/{organization}/{project}/settings",
            projects::update_project,
        )
        .post(
            "/projects/{organization}/{project}/delete",
            projects::delete_project,
        )
        .get("/jobs", jobs::overview)
        .get("/projects/{organization}/{project}/jobs", jobs::list)
        .post("/projects/{organization}/{project}/jobs", jobs::submit)
        .get("/projects/{organization}/{project}/jobs/new", jobs::new_job)
        .get("/projects/{organization}/{project}/jobs/{id}", jobs::show)
        .get("/projects/{organization}/{project}/apps", apps::list)
        .get("/projects/{organization}/{project}/apps/{app}", apps::show)
        .get(
            "/projects/{organization}/{project}/pipelines",
            pipelines::list,
        )
        .get(
            "/projects/{organization}/{project}/pipelines/runs/{pipeline_run}",
            pipelines::show,
        )
        .get(
            "/projects/{organization}/{project}/deployments",
            deployments::list,
        )
        .post(
            "/projects/{organization}/{project}/deployments",
            deployments::create,
        )
        .get("/gateway/handshake", apps::handshake)
        .get("/projects/{organization}/{project}/files", files::list)
        .get(
            "/projects/{organization}/{project}/files/download",
            files::download,
        )
        .get(
            "/projects/{organization}/{project}/environments",
            environments::list,
        )
        .get(
            "/projects/{organization}/{project}/environments/{name}",
            environments::show,
        )
        .post(
            "/projects/{organization}/{project}/jobs/{id}/stop",
            jobs::stop,
        )
        .post(
            "/projects/{organization}/{project}/jobs/{id}/rerun",
            jobs::rerun,
        )
        .get("/models", models::overview)
        .get("/projects/{organization}/{project}/models", models::list)
        .post("/projects/{organization}/{project}/models", models::create)
        .get(
            "/projects/{organization}/{project}/models/{name}",
            models::show,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/update",
            models::update,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/rename",
            models::rename,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/delete",
            models::delete,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/tags",
            models::set_tag,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/tags/delete",
            models::delete_tag,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/aliases",
            models::set_alias,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/aliases/{alias}/delete",
            models::delete_alias,
        )
        .get(
            "/projects/{organization}/{project}/models/{name}/versions/{version}",
            models::version,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/versions/{version}/update",
            models::update_version,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/versions/{version}/stage",
            models::transition,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/versions/{version}/tags",
            models::set_version_tag,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/versions/{version}/tags/delete",
            models::delete_version_tag,
        )
        .post(
            "/projects/{organization}/{project}/models/{name}/versions/{version}/delete",
            models::delete_version,
        )
        .get("/projects/{organization}/{project}/usage", usage::project)
        .get("/experiments", experiments::overview)
        .get(
            "/projects/{organization}/{project}/experiments",
            experiments::list,
        )
        .post(
            "/projects/{organization}/{project}/experiments",
            tracking_forms::create_experiment,
        )
        .post(
            "/projects/{organization}/{project}/experiments/{experiment_id}/rename",
            tracking_forms::rename_experiment,
        )
        .post(
            "/projects/{organization}/{project}/experiments/{experiment_id}/delete",
            tracking_forms::delete_experiment,
        )
        .post(
            "/projects/{organization}/{project}/experiments/{experiment_id}/restore",
            tracking_forms::restore_experiment,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/rename",
            tracking_forms::rename_run,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/delete",
            tracking_forms::delete_run,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/restore",
            tracking_forms::restore_run,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/tags",
            tracking_forms::set_run_tag,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/tags/delete",
            tracking_forms::delete_run_tag,
        )
        .post(
            "/projects/{organization}/{project}/runs/{run_id}/description",
            tracking_forms::set_run_description,
        )
        .get(
            "/projects/{organization}/{project}/experiments/{experiment_id}",
            experiments::runs,
        )
        .get(
            "/projects/{organization}/{project}/runs/{run_id}",
            runs::show,
        )
        .get(
            "/projects/{organization}/{project}/runs/{run_id}/artifacts",
            runs::artifacts,
        )
        .get(
            "/projects/{organization}/{project}/runs/{run_id}/artifacts/download",
            runs::download,
        )
        .get(
            "/projects/{organization}/{project}/runs/{run_id}/metrics/{key}/chart.json",
            runs::chart_json,
        )
        .get("/projects/{organization}/{project}/compare", runs::compare)
        .get(
            "/projects/{organization}/{project}/compare/charts.json",
            runs::bulk_chart_json,
        )
        .post("/projects/{organization}/{project}/quota", usage::set_quota)
        .get("/admin", admin::users)
        .post("/admin/users", admin::create_user)
        .get("/admin/users/{username}", admin::user_detail)
        .post("/admin/users/{username}/update", admin::update_user)
        .post("/admin/users/{username}/password", admin::reset_password)
        .post("/admin/users/{username}/reset-mfa", admin::reset_mfa)
        .get("/admin/settings", admin::settings)
        .post("/admin/settings", admin::save_settings)
        .get("/admin/directories", directories::list)
        .post(
            "/admin/directories/{name}/test-connection",
            directories::test_connection,
        )
        .post(
            "/admin/directories/{name}/test-login",
            directories::test_login,
        )
        .get("/admin/audit", admin::audit)
        .get("/admin/pools", runtime_admin::pools)
        .post("/admin/pools", runtime_admin::create_pool)
        .get("/admin/pools/{name}", runtime_admin::pool)
        .post("/admin/pools/{name}", runtime_admin::save_pool)
        .post("/admin/pools/{name}/delete", runtime_admin::delete_pool)
        .get("/admin/classes", runtime_admin::classes)
        .post("/admin/classes", runtime_admin::create_class)
        .get("/admin/classes/{name}", runtime_admin::class)
        .post("/admin/classes/{name}", runtime_admin::save_class)
        .post("/admin/classes/{name}/delete", runtime_admin::delete_class)
        .get("/admin/usage", usage::platform);
    for area in AREAS.iter().filter(|area| !area.built) {
        routes = routes.get(area.path, pages::area);
    }
    routes
}

pub(crate) fn router() -> Router<AppState> {
    routes().router
}

/// Formats milliseconds since the epoch as a UTC time for people.
pub(crate) fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Formats milliseconds since the epoch as a UTC time to the second.
pub(crate) fn format_ms_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Formats milliseconds since the epoch as RFC 3339 (a `<time datetime>`).
pub(crate) fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A time as "3 min ago" (relative to `now_ms`), with the UTC time on hover and in
/// `<time datetime>`.
pub(crate) fn relative_time(ms: i64, now_ms: i64) -> Markup {
    let ago = now_ms - ms;
    let text = if ago < 0 {
        format_ms(ms)
    } else if ago < 60_000 {
        "just now".to_string()
    } else if ago < 3_600_000 {
        format!("{} min ago", ago / 60_000)
    } else if ago < 86_400_000 {
        format!("{} h ago", ago / 3_600_000)
    } else if ago < 30 * 86_400_000 {
        format!("{} d ago", ago / 86_400_000)
    } else {
        format_ms(ms)
    };
    html! { time datetime=(iso_ms(ms)) title=(format_ms_seconds(ms)) { (text) } }
}

/// Returns the text, or an em dash for nothing.
pub(crate) fn or_dash(text: Option<String>) -> String {
    text.unwrap_or_else(|| "—".to_string())
}

/// Formats a duration for people: `12s`, `1m 12s`, `2h 5m`, `3d 4h`.
pub(crate) fn human_duration_ms(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m {}s", seconds / 60, seconds % 60),
        3600..=86_399 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// A job's state as a colored badge (`#id` when given, so the page script can update it).
pub(crate) fn state_badge(state: WorkloadState, id: Option<&str>) -> Markup {
    html! {
        span id=[id] class=(format!("badge state-{}", state.as_str())) { (state.as_str()) }
    }
}

/// The tabs of a project's pages (they wrap on narrow screens); `active` is `overview`,
/// `jobs`, `environments`, `experiments`, `models`, `files` or `usage`.
pub(crate) fn project_tabs(pass: &ProjectPass, active: &str) -> Markup {
    let project = pass.project();
    let base = format!("/projects/{}/{}", project.organization, project.name);
    let tabs = [
        ("overview", base.clone(), "Overview"),
        ("jobs", format!("{base}/jobs"), "Jobs"),
        ("apps", format!("{base}/apps"), "Apps"),
        ("pipelines", format!("{base}/pipelines"), "Pipelines"),
        ("deployments", format!("{base}/deployments"), "Deployments"),
        (
            "environments",
            format!("{base}/environments"),
            "Environments",
        ),
        ("experiments", format!("{base}/experiments"), "Experiments"),
        ("models", format!("{base}/models"), "Models"),
        ("files", format!("{base}/files"), "Files"),
        ("usage", format!("{base}/usage"), "Quota & usage"),
    ];
    html! {
        nav.tabs aria-label="Project" {
            @for (key, href, title) in &tabs {
                a href=(href) class=[(*key == active).then_some("active")]
                    aria-current=[(*key == active).then_some("page")] { (title) }
            }
        }
    }
}

/// The breadcrumb above a project's pages.
pub(crate) fn project_crumbs(pass: &ProjectPass) -> Markup {
    crumbs(pass, &[])
}

/// The breadcrumb down from the project to the page: `trail` is `(href, title)` of each
/// level below the project, the last one the page itself (not a link).
pub(crate) fn crumbs(pass: &ProjectPass, trail: &[(String, String)]) -> Markup {
    let project = pass.project();
    let base = format!("/projects/{}/{}", project.organization, project.name);
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            ol {
                li { a href="/projects" { "Projects" } }
                li { a href=(format!("/orgs/{}", project.organization)) { (project.organization) } }
                li { a href=(base) { (project.display_name) } }
                @for (index, (href, title)) in trail.iter().enumerate() {
                    @if index + 1 == trail.len() {
                        li aria-current="page" { (title) }
                    } @else {
                        li { a href=(href) { (title) } }
                    }
                }
            }
        }
    }
}

/// Returns the message a page shows for `error`: the service's message, or (for server
/// errors, which are logged) a generic one.
pub(crate) fn shown_message(error: &crate::ApiError) -> String {
    if error.status().is_server_error() {
        tracing::error!(error = ?error, "page request failed");
        "Something went wrong on the server; the error is logged. Try again later.".to_string()
    } else {
        error.message().to_string()
    }
}

/// The error page for a service error.
pub(crate) fn core_error_page(error: plinth_core::CoreError) -> Response {
    let error = crate::ApiError::from(error);
    error_page(error.status(), &shown_message(&error))
}

/// Authorizes `user` as at least a viewer of the project, or answers the error page.
pub(crate) async fn viewer_pass(
    state: &AppState,
    user: &session::PageUser,
    organization: &str,
    project: &str,
) -> Result<ProjectPass, Response> {
    state
        .identity()
        .authorize_project(
            &user.principal,
            organization,
            project,
            plinth_types::Role::Viewer,
        )
        .await
        .map_err(core_error_page)
}

/// Whether the pass may submit, stop and re-run work (contributors and up, admins).
pub(crate) fn may_submit(pass: &ProjectPass) -> bool {
    pass.role()
        .is_none_or(|role| role >= plinth_core::RuntimeService::SUBMIT_ROLE)
}

/// A `403` page for non-admins on admin pages and forms.
pub(crate) fn admin_only(user: &session::PageUser) -> Option<Response> {
    (!user.viewer.is_admin()).then(|| {
        error_page(
            StatusCode::FORBIDDEN,
            "This page is for platform administrators.",
        )
    })
}

/// A number as a scientist scans it: four significant digits, or scientific notation when
/// it is very small or very large (`-1.5e-300`, never 300 digits); NaN and infinities
/// spelled out.
pub(crate) fn short_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "∞" } else { "−∞" }.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let size = value.abs();
    if !(1e-3..1e6).contains(&size) {
        let text = format!("{value:.3e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = trim_fraction(mantissa);
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (3 - size.log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    trim_fraction(&text).to_string()
}

fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// The exact text of a double: as Python prints it (what the mlflow client logged, to the
/// last digit, and what copies and exports carry).
pub(crate) fn exact_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        plinth_types::python_float(value)
    }
}

/// A number shown short, with the exact value on hover (`title`) and for copying
/// (`data-exact`).
pub(crate) fn number(value: f64) -> Markup {
    let exact = exact_number(value);
    html! { span.number title=(exact) data-exact=(exact) { (short_number(value)) } }
}

/// Values longer than this many characters are cut with an ellipsis (by the stylesheet:
/// the whole value stays in the page), shown whole on hover and copied whole by a button.
pub(crate) const LONG_VALUE: usize = 40;

/// A param, tag or id value: whole when short; else truncated, the full value on hover and
/// a copy button (`plinth.js`).
pub(crate) fn long_value(text: &str) -> Markup {
    if text.chars().count() <= LONG_VALUE {
        return html! { code.kv { (text) } };
    }
    html! {
        span.long-value {
            code.kv.truncated title=(text) { (text) }
            button.copy type="button" data-copy=(text) title="Copy the whole value" aria-label="Copy the whole value" { (icon("copy")) span.copy-label { "Copy" } }
        }
    }
}

/// An icon of the vendored Lucide set (ISC, `assets/vendor/lucide`), inline so it takes the
/// text's color; decorative (`aria-hidden`), the text beside it says what it means.
pub(crate) fn icon(name: &str) -> Markup {
    let svg = match name {
        "folder" => include_str!("../../assets/vendor/lucide/folder.svg"),
        "file" => include_str!("../../assets/vendor/lucide/file.svg"),
        "copy" => include_str!("../../assets/vendor/lucide/copy.svg"),
        "menu" => include_str!("../../assets/vendor/lucide/menu.svg"),
        _ => return html! {},
    };
    // Drop the license comment (the license is beside the files) and size the icon.
    let svg = svg
        .find("<svg")
        .map_or(svg, |start| &svg[start..])
        .replacen("<svg", r#"<svg aria-hidden="true" focusable="false""#, 1)
        .replace(r#"width="24""#, r#"width="16""#)
        .replace(r#"height="24""#, r#"height="16""#);
    html! { (maud::PreEscaped(svg)) }
}

#[cfg(test)]
mod number_tests {
    use super::{exact_number, short_number};

    #[test]
    fn times_read_relative_with_the_time_on_hover() {
        let now = 1_765_000_000_000;
        let text = |ms| super::relative_time(ms, now).into_string();
        assert!(text(now - 5_000).contains(">just now</time>"));
        assert!(text(now - 3 * 60_000).contains(">3 min ago</time>"));
        assert!(text(now - 5 * 3_600_000).contains(">5 h ago</time>"));
        assert!(text(now - 2 * 86_400_000).contains(">2 d ago</time>"));
        assert!(text(now - 90 * 86_400_000).contains(" UTC</time>"));
        assert!(text(now).contains("title=\"2025-12-06 05:46:40 UTC\""));
    }

    #[test]
    fn numbers_read_short_and_copy_exact() {
        for (value, short) in [
            (-1.5e-300, "-1.5e-300"),
            (0.123456, "0.1235"),
            (1.0, "1"),
            (12345.6, "12346"),
            (0.001234, "0.001234"),
            (2.5e9, "2.5e9"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e-4, "1e-4"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "−∞"),
        ] {
            assert_eq!(short_number(value), short, "{value:e}");
        }
        assert_eq!(exact_number(-1.5e-300), "-1.5e-300");
        assert_eq!(exact_number(0.1 + 0.2), "0.30000000000000004");
    }
}
