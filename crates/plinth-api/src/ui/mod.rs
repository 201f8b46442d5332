//! The server-rendered UI: maud templates compiled into the binary, static assets embedded
//! with rust-embed, no JavaScript build step. Pages answer HTML errors; `/api/*` keeps JSON.

mod assets;
mod layout;
mod pages;

use axum::routing::get;
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
    },
    Area {
        path: "/experiments",
        title: "Experiments",
        summary:
            "Runs, parameters, metrics and artifacts, logged with the unmodified mlflow client.",
    },
    Area {
        path: "/models",
        title: "Models",
        summary:
            "The model registry: versions, aliases, stages and lineage to the run that made them.",
    },
    Area {
        path: "/pipelines",
        title: "Pipelines",
        summary: "Pipelines compiled with the kfp SDK, their runs, schedules and outputs.",
    },
    Area {
        path: "/workspaces",
        title: "Workspaces",
        summary: "Notebook and IDE workspaces on the compute pool, with idle culling.",
    },
    Area {
        path: "/deployments",
        title: "Deployments",
        summary: "Models served as APIs (MLflow scoring and KServe v2 protocols) and apps.",
    },
    Area {
        path: "/files",
        title: "Files",
        summary: "Project files in the object store, also reachable with boto3 and the aws CLI.",
    },
    Area {
        path: "/features",
        title: "Features",
        summary: "Feature definitions, offline retrieval and online serving.",
    },
    Area {
        path: "/admin",
        title: "Admin",
        summary: "Users, node pools, resource classes, quotas, usage and the audit log.",
    },
];

/// One area of the platform.
pub(crate) struct Area {
    pub(crate) path: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: &'static str,
}

pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(pages::home))
        .route("/status", get(pages::status))
        .route("/assets/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon));
    for area in AREAS {
        router = router.route(area.path, get(pages::area));
    }
    router
}
