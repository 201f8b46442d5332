//! MLflow's REST API, wire-compatible with the unmodified `mlflow` Python client: the
//! tracking API (`/api/2.0/mlflow/…`), the registry, MLflow 3 logged models, the artifact
//! proxy (`/api/2.0/mlflow-artifacts/…`), `server-info`, `/health` and `/version`; each also
//! under `/ajax-api/…`, and all of it again under `/projects/{organization}/{project}/…` for
//! callers whose token is not scoped to a project.
//!
//! Handlers authenticate and resolve the project ([`Scoped`]), read the request as MLflow's
//! server does ([`wire::Message`]: the query for `GET`, the JSON body otherwise), call
//! [`plinth_core::TrackingService`] (which authorizes each operation) and answer MLflow's
//! JSON. Every error under these prefixes is MLflow's `{"error_code", "message"}`; MLflow
//! endpoints Plinth does not offer answer `501 NOT_IMPLEMENTED`, other paths
//! `404 ENDPOINT_NOT_FOUND`.
//!
//! These routes are not in the OpenAPI document (MLflow documents them); their
//! authorization matrix is `mlflow_authz_tests.rs`.

pub(crate) mod artifacts;
mod entities;
mod graphql;
mod registry;
pub(crate) mod schema;
mod tracking;
mod ui_api;
pub(crate) mod wire;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, MethodFilter};
use axum::{Json, Router};
use plinth_core::{ProjectSelector, TrackingPass, TrackingService};
use serde_json::json;

use crate::AppState;
use wire::MlflowError;

/// The MLflow client version this API is written against.
pub(crate) const MLFLOW_VERSION: &str = "3.17.2";

/// An authenticated caller and the project the request acts in.
pub(crate) struct Scoped(pub(crate) TrackingService, pub(crate) TrackingPass);

/// Returns the project a request path names (`/projects/{organization}/{project}/…`).
fn selector_of(path: &str) -> ProjectSelector {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("projects"), Some(organization), Some(project)) => {
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(text)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            ProjectSelector::Named {
                organization: decode(organization),
                project: decode(project),
            }
        }
        _ => ProjectSelector::FromToken,
    }
}

impl FromRequestParts<AppState> for Scoped {
    type Rejection = MlflowError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.extensions.get::<OriginalUri>().map_or_else(
            || parts.uri.path().to_string(),
            |uri| uri.path().to_string(),
        );
        let principal = crate::identity::authenticate_caller(parts, state).await?;
        let pass = state
            .tracking()
            .authorize(&principal, &selector_of(&path))
            .await?;
        Ok(Scoped(state.tracking().clone(), pass))
    }
}

/// Path parameters by name (nested routes also carry `{organization}` and `{project}`).
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Result<String, MlflowError> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| MlflowError::invalid(format!("missing path parameter `{name}`")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(params) =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| MlflowError::invalid(rejection.body_text()))?;
        Ok(Params(params))
    }
}

/// Endpoint families of MLflow's API that Plinth does not offer (yet).
const UNSUPPORTED: [&str; 20] = [
    "/mlflow/traces",
    "/mlflow/unified-traces",
    "/mlflow/get-online-trace-details",
    "/mlflow/workspaces",
    "/mlflow/issues",
    "/mlflow/label-schemas",
    "/mlflow/datasets",
    "/mlflow/scorers",
    "/mlflow/scorer",
    "/mlflow/gateway",
    "/mlflow/prompt-optimization",
    "/mlflow/review-queues",
    "/mlflow/webhooks",
    "/mlflow/artifacts/presigned-upload-url",
    "/mlflow/artifacts/presigned-download-url",
    "/mlflow/jobs",
    "/mlflow/server-features",
    "/mlflow/genai",
    "/mlflow/demo",
    "/mlflow/online-scoring",
];

async fn fallback(OriginalUri(uri): OriginalUri, request: Request) -> MlflowError {
    let inner = request.uri().path();
    match UNSUPPORTED
        .iter()
        .find(|family| inner == **family || inner.starts_with(&format!("{family}/")))
    {
        Some(family) => MlflowError::not_implemented(family.trim_start_matches("/mlflow/")),
        None => MlflowError::endpoint_not_found(request.method(), uri.path()),
    }
}

/// What the client asks before choosing how to move artifacts. It answers without
/// credentials, as MLflow's does, and says nothing about the caller or the data.
async fn server_info() -> Json<serde_json::Value> {
    Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": true,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": { "gateway": false },
    }))
}

async fn health() -> &'static str {
    "OK"
}

async fn version() -> &'static str {
    MLFLOW_VERSION
}

/// Builds a router while listing its `(method, path)` pairs, so the authorization matrix
/// can prove it covers every route.
#[derive(Default)]
pub(crate) struct MlflowRoutes {
    router: Router<AppState>,
    listed: Vec<(&'static str, String)>,
}

impl MlflowRoutes {
    fn add<H, T>(mut self, method: &'static str, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => unreachable!("no MLflow route uses {other}"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.listed.push((method, path.to_string()));
        self
    }
}

/// Every MLflow route of a project, as `(method, path template)` relative to the project's
/// prefix: `/api/2.0/…` (each also served under `/ajax-api/2.0/…`), the routes MLflow
/// serves only under `/ajax-api/2.0/…`, and those at the root (`/graphql` …).
#[cfg(test)]
pub(crate) fn every_route() -> Vec<(&'static str, String)> {
    let api = api_v2_routes()
        .listed
        .into_iter()
        .map(|(method, path)| (method, format!("/api/2.0{path}")));
    let ajax = ajax_only_routes()
        .listed
        .into_iter()
        .map(|(method, path)| (method, format!("/ajax-api/2.0{path}")));
    api.chain(ajax).chain(root_routes("").listed).collect()
}

/// The routes MLflow's server keeps for its web UI under `/ajax-api/2.0` only.
pub(crate) fn ajax_only_routes() -> MlflowRoutes {
    use self::ui_api as u;
    MlflowRoutes::default()
        .add(
            "GET",
            "/mlflow/metrics/get-history-bulk",
            u::get_metric_history_bulk,
        )
        .add("POST", "/mlflow/upload-artifact", u::upload_artifact)
        .add(
            "POST",
            "/mlflow/experiments/search-datasets",
            u::search_datasets,
        )
        .add("GET", "/mlflow/gateway-proxy", u::gateway_proxy)
        .add("POST", "/mlflow/gateway-proxy", u::gateway_proxy)
        .add(
            "POST",
            "/mlflow/runs/create-promptlab-run",
            u::create_promptlab_run,
        )
}

/// MLflow's routes outside its API prefixes, under `prefix` (empty, or a project's).
fn root_routes(prefix: &str) -> MlflowRoutes {
    use self::ui_api as u;
    MlflowRoutes::default()
        .add("GET", &format!("{prefix}/graphql"), graphql::graphql)
        .add("POST", &format!("{prefix}/graphql"), graphql::graphql)
        .add("GET", &format!("{prefix}/get-artifact"), u::get_artifact)
        .add(
            "GET",
            &format!("{prefix}/model-versions/get-artifact"),
            u::get_model_version_artifact,
        )
}

/// MLflow's `/api/2.0` routes (also under `/ajax-api/2.0` and the project prefix).
pub(crate) fn api_v2_routes() -> MlflowRoutes {
    use self::artifacts as a;
    use self::registry as r;
    use self::tracking as t;
    MlflowRoutes::default()
        .add("POST", "/mlflow/experiments/create", t::create_experiment)
        .add("GET", "/mlflow/experiments/search", t::search_experiments)
        .add("POST", "/mlflow/experiments/search", t::search_experiments)
        .add("GET", "/mlflow/experiments/get", t::get_experiment)
        .add(
            "GET",
            "/mlflow/experiments/get-by-name",
            t::get_experiment_by_name,
        )
        .add("POST", "/mlflow/experiments/delete", t::delete_experiment)
        .add("POST", "/mlflow/experiments/restore", t::restore_experiment)
        .add("POST", "/mlflow/experiments/update", t::update_experiment)
        .add(
            "POST",
            "/mlflow/experiments/set-experiment-tag",
            t::set_experiment_tag,
        )
        .add(
            "POST",
            "/mlflow/experiments/delete-experiment-tag",
            t::delete_experiment_tag,
        )
        .add("POST", "/mlflow/runs/create", t::create_run)
        .add("GET", "/mlflow/runs/get", t::get_run)
        .add("POST", "/mlflow/runs/update", t::update_run)
        .add("POST", "/mlflow/runs/delete", t::delete_run)
        .add("POST", "/mlflow/runs/restore", t::restore_run)
        .add("POST", "/mlflow/runs/set-tag", t::set_tag)
        .add("POST", "/mlflow/runs/delete-tag", t::delete_tag)
        .add("POST", "/mlflow/runs/log-parameter", t::log_param)
        .add("POST", "/mlflow/runs/log-metric", t::log_metric)
        .add("POST", "/mlflow/runs/log-batch", t::log_batch)
        .add("POST", "/mlflow/runs/log-inputs", t::log_inputs)
        .add("POST", "/mlflow/runs/outputs", t::log_outputs)
        .add("POST", "/mlflow/runs/log-model", t::log_model)
        .add("POST", "/mlflow/runs/search", t::search_runs)
        .add("GET", "/mlflow/metrics/get-history", t::get_metric_history)
        .add(
            "GET",
            "/mlflow/metrics/get-history-bulk-interval",
            t::get_metric_history_bulk_interval,
        )
        .add("GET", "/mlflow/artifacts/list", t::list_run_artifacts)
        .add("POST", "/mlflow/logged-models", t::create_logged_model)
        .add(
            "POST",
            "/mlflow/logged-models/search",
            t::search_logged_models,
        )
        .add(
            "GET",
            "/mlflow/logged-models/{model_id}",
            t::get_logged_model,
        )
        .add(
            "PATCH",
            "/mlflow/logged-models/{model_id}",
            t::finalize_logged_model,
        )
        .add(
            "DELETE",
            "/mlflow/logged-models/{model_id}",
            t::delete_logged_model,
        )
        .add(
            "PATCH",
            "/mlflow/logged-models/{model_id}/tags",
            t::set_logged_model_tags,
        )
        .add(
            "DELETE",
            "/mlflow/logged-models/{model_id}/tags/{tag_key}",
            t::delete_logged_model_tag,
        )
        .add(
            "POST",
            "/mlflow/logged-models/{model_id}/params",
            t::log_logged_model_params,
        )
        .add(
            "GET",
            "/mlflow/logged-models/{model_id}/artifacts/directories",
            t::list_logged_model_artifacts,
        )
        .add(
            "POST",
            "/mlflow/registered-models/create",
            r::create_registered_model,
        )
        .add(
            "GET",
            "/mlflow/registered-models/get",
            r::get_registered_model,
        )
        .add(
            "GET",
            "/mlflow/registered-models/search",
            r::search_registered_models,
        )
        .add(
            "POST",
            "/mlflow/registered-models/rename",
            r::rename_registered_model,
        )
        .add(
            "PATCH",
            "/mlflow/registered-models/update",
            r::update_registered_model,
        )
        .add(
            "DELETE",
            "/mlflow/registered-models/delete",
            r::delete_registered_model,
        )
        .add(
            "POST",
            "/mlflow/registered-models/set-tag",
            r::set_registered_model_tag,
        )
        .add(
            "DELETE",
            "/mlflow/registered-models/delete-tag",
            r::delete_registered_model_tag,
        )
        .add(
            "POST",
            "/mlflow/registered-models/alias",
            r::set_registered_model_alias,
        )
        .add(
            "DELETE",
            "/mlflow/registered-models/alias",
            r::delete_registered_model_alias,
        )
        .add(
            "GET",
            "/mlflow/registered-models/alias",
            r::get_model_version_by_alias,
        )
        .add(
            "GET",
            "/mlflow/registered-models/get-latest-versions",
            r::get_latest_versions,
        )
        .add(
            "POST",
            "/mlflow/registered-models/get-latest-versions",
            r::get_latest_versions,
        )
        .add(
            "POST",
            "/mlflow/model-versions/create",
            r::create_model_version,
        )
        .add("GET", "/mlflow/model-versions/get", r::get_model_version)
        .add(
            "PATCH",
            "/mlflow/model-versions/update",
            r::update_model_version,
        )
        .add(
            "POST",
            "/mlflow/model-versions/transition-stage",
            r::transition_model_version_stage,
        )
        .add(
            "DELETE",
            "/mlflow/model-versions/delete",
            r::delete_model_version,
        )
        .add(
            "GET",
            "/mlflow/model-versions/search",
            r::search_model_versions,
        )
        .add(
            "GET",
            "/mlflow/model-versions/get-download-uri",
            r::get_model_version_download_uri,
        )
        .add(
            "POST",
            "/mlflow/model-versions/set-tag",
            r::set_model_version_tag,
        )
        .add(
            "DELETE",
            "/mlflow/model-versions/delete-tag",
            r::delete_model_version_tag,
        )
        .add("GET", "/mlflow-artifacts/artifacts", a::list_artifacts)
        .add(
            "GET",
            "/mlflow-artifacts/artifacts/{*artifact_path}",
            a::download_artifact,
        )
        .add(
            "PUT",
            "/mlflow-artifacts/artifacts/{*artifact_path}",
            a::upload_artifact,
        )
        .add(
            "DELETE",
            "/mlflow-artifacts/artifacts/{*artifact_path}",
            a::delete_artifact,
        )
        .add(
            "POST",
            "/mlflow-artifacts/mpu/create/{*artifact_path}",
            a::create_multipart_upload,
        )
        .add(
            "POST",
            "/mlflow-artifacts/mpu/complete/{*artifact_path}",
            a::complete_multipart_upload,
        )
        .add(
            "POST",
            "/mlflow-artifacts/mpu/abort/{*artifact_path}",
            a::abort_multipart_upload,
        )
        .add(
            "PUT",
            "/mlflow-artifacts/mpu/part/{upload_id}/{part_number}",
            a::upload_part,
        )
        .add(
            "GET",
            "/mlflow-artifacts/presigned/{*artifact_path}",
            a::presigned_download,
        )
}

fn api_v2() -> Router<AppState> {
    api_v2_routes().router.fallback(fallback)
}

fn ajax_v2() -> Router<AppState> {
    api_v2_routes()
        .router
        .merge(ajax_only_routes().router)
        .fallback(fallback)
}

fn api_v3() -> Router<AppState> {
    Router::new()
        .route("/mlflow/server-info", get(server_info))
        .fallback(fallback)
}

/// Every MLflow route, at the root and under `/projects/{organization}/{project}`.
pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["", "/projects/{organization}/{project}"] {
        router = router
            .nest(&format!("{prefix}/api/2.0"), api_v2())
            .nest(&format!("{prefix}/ajax-api/2.0"), ajax_v2())
            .nest(&format!("{prefix}/api/3.0"), api_v3())
            .nest(&format!("{prefix}/ajax-api/3.0"), api_v3())
            .route(&format!("{prefix}/health"), get(health))
            .route(&format!("{prefix}/version"), get(version))
            .merge(root_routes(prefix).router);
    }
    router
}

/// MLflow's paths outside its API prefixes.
const ROOT_PATHS: [&str; 3] = ["graphql", "get-artifact", "model-versions/get-artifact"];

/// Returns whether a path belongs to MLflow's API (errors in MLflow's format).
pub(crate) fn is_mlflow_path(path: &str) -> bool {
    let rest = match path.strip_prefix("/projects/") {
        Some(rest) => {
            let mut parts = rest.splitn(3, '/');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(_), Some(_), Some(rest)) => rest,
                _ => return false,
            }
        }
        None => path.trim_start_matches('/'),
    };
    ["api/2.0/", "api/3.0/", "ajax-api/2.0/", "ajax-api/3.0/"]
        .iter()
        .any(|prefix| rest.starts_with(prefix))
        || ROOT_PATHS.contains(&rest)
}

/// Reshapes an error response no handler shaped (405, 413) on an MLflow path.
pub(crate) fn normalized_error(status: http::StatusCode, message: String) -> Response {
    MlflowError::from_status(status, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_selectors_come_from_the_path() {
        assert_eq!(
            selector_of("/projects/acme/churn/api/2.0/mlflow/runs/get"),
            ProjectSelector::Named {
                organization: "acme".to_string(),
                project: "churn".to_string()
            }
        );
        assert_eq!(
            selector_of("/api/2.0/mlflow/runs/get"),
            ProjectSelector::FromToken
        );
        assert!(is_mlflow_path("/api/2.0/mlflow/x"));
        assert!(is_mlflow_path("/projects/a/b/ajax-api/2.0/mlflow/x"));
        assert!(!is_mlflow_path("/projects/a/b/jobs"));
        assert!(!is_mlflow_path("/api/v1/me"));
    }
}
