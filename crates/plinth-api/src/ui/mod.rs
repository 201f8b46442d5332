//! The server-rendered UI: maud templates compiled into the binary, static assets embedded
//! with rust-embed, no JavaScript build step. Pages answer HTML errors; `/api/*` keeps JSON.

mod admin;
mod assets;
mod auth_pages;
mod layout;
mod pages;
mod profile;
mod projects;
mod session;

use axum::routing::{get, post};
use axum::Router;

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
        path: "/experiments",
        title: "Experiments",
        summary:
            "Runs, parameters, metrics and artifacts, logged with the unmodified mlflow client.",
        built: false,
    },
    Area {
        path: "/models",
        title: "Models",
        summary:
            "The model registry: versions, aliases, stages and lineage to the run that made them.",
        built: false,
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

pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(pages::home))
        .route("/status", get(pages::status))
        .route("/assets/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route(
            "/login",
            get(auth_pages::login_form).post(auth_pages::login),
        )
        .route(
            "/login/mfa",
            get(auth_pages::mfa_form).post(auth_pages::mfa),
        )
        .route("/logout", post(auth_pages::logout))
        .route(
            "/signup",
            get(auth_pages::signup_form).post(auth_pages::signup),
        )
        .route("/profile", get(profile::show).post(profile::update))
        .route("/profile/password", post(profile::password))
        .route("/profile/mfa/start", post(profile::mfa_start))
        .route("/profile/mfa/confirm", post(profile::mfa_confirm))
        .route("/profile/mfa/disable", post(profile::mfa_disable))
        .route("/profile/tokens", post(profile::create_token))
        .route(
            "/profile/tokens/{token_id}/revoke",
            post(profile::revoke_token),
        )
        .route("/projects", get(projects::list).post(projects::create))
        .route("/orgs", post(projects::create_organization))
        .route("/orgs/{organization}", get(projects::organization))
        .route(
            "/orgs/{organization}/members",
            post(projects::set_organization_member),
        )
        .route(
            "/orgs/{organization}/members/{username}/remove",
            post(projects::remove_organization_member),
        )
        .route("/projects/{organization}/{project}", get(projects::project))
        .route(
            "/projects/{organization}/{project}/members",
            post(projects::set_project_member),
        )
        .route(
            "/projects/{organization}/{project}/members/{username}/remove",
            post(projects::remove_project_member),
        )
        .route(
            "/projects/{organization}/{project}/settings",
            post(projects::update_project),
        )
        .route(
            "/projects/{organization}/{project}/delete",
            post(projects::delete_project),
        )
        .route("/admin", get(admin::users))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{username}", get(admin::user_detail))
        .route("/admin/users/{username}/update", post(admin::update_user))
        .route(
            "/admin/users/{username}/password",
            post(admin::reset_password),
        )
        .route("/admin/users/{username}/reset-mfa", post(admin::reset_mfa))
        .route(
            "/admin/settings",
            get(admin::settings).post(admin::save_settings),
        )
        .route("/admin/audit", get(admin::audit));
    for area in AREAS.iter().filter(|area| !area.built) {
        router = router.route(area.path, get(pages::area));
    }
    router
}

/// Formats milliseconds since the epoch as a UTC time for people.
pub(crate) fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Returns the text, or an em dash for nothing.
pub(crate) fn or_dash(text: Option<String>) -> String {
    text.unwrap_or_else(|| "—".to_string())
}
