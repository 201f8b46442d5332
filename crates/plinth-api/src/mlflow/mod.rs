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

mod artifacts;
mod entities;
mod registry;
mod tracking;
pub(crate) mod wire;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
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
const UNSUPPORTED: [&str; 21] = [
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
    "/mlflow/experiments/search-datasets",
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

fn api_v2() -> Router<AppState> {
    use self::artifacts as a;
    use self::registry as r;
    use self::tracking as t;
    Router::new()
        .route("/mlflow/experiments/create", post(t::create_experiment))
        .route(
            "/mlflow/experiments/search",
            get(t::search_experiments).post(t::search_experiments),
        )
        .route("/mlflow/experiments/get", get(t::get_experiment))
        .route(
            "/mlflow/experiments/get-by-name",
            get(t::get_experiment_by_name),
        )
        .route("/mlflow/experiments/delete", post(t::delete_experiment))
        .route("/mlflow/experiments/restore", post(t::restore_experiment))
        .route("/mlflow/experiments/update", post(t::update_experiment))
        .route(
            "/mlflow/experiments/set-experiment-tag",
            post(t::set_experiment_tag),
        )
        .route(
            "/mlflow/experiments/delete-experiment-tag",
            post(t::delete_experiment_tag),
        )
        .route("/mlflow/runs/create", post(t::create_run))
        .route("/mlflow/runs/get", get(t::get_run))
        .route("/mlflow/runs/update", post(t::update_run))
        .route("/mlflow/runs/delete", post(t::delete_run))
        .route("/mlflow/runs/restore", post(t::restore_run))
        .route("/mlflow/runs/set-tag", post(t::set_tag))
        .route("/mlflow/runs/delete-tag", post(t::delete_tag))
        .route("/mlflow/runs/log-parameter", post(t::log_param))
        .route("/mlflow/runs/log-metric", post(t::log_metric))
        .route("/mlflow/runs/log-batch", post(t::log_batch))
        .route("/mlflow/runs/log-inputs", post(t::log_inputs))
        .route("/mlflow/runs/outputs", post(t::log_outputs))
        .route("/mlflow/runs/log-model", post(t::log_model))
        .route("/mlflow/runs/search", post(t::search_runs))
        .route("/mlflow/metrics/get-history", get(t::get_metric_history))
        .route(
            "/mlflow/metrics/get-history-bulk-interval",
            get(t::get_metric_history_bulk_interval),
        )
        .route("/mlflow/artifacts/list", get(t::list_run_artifacts))
        .route("/mlflow/logged-models", post(t::create_logged_model))
        .route(
            "/mlflow/logged-models/search",
            post(t::search_logged_models),
        )
        .route(
            "/mlflow/logged-models/{model_id}",
            get(t::get_logged_model)
                .patch(t::finalize_logged_model)
                .delete(t::delete_logged_model),
        )
        .route(
            "/mlflow/logged-models/{model_id}/tags",
            patch(t::set_logged_model_tags),
        )
        .route(
            "/mlflow/logged-models/{model_id}/tags/{tag_key}",
            delete(t::delete_logged_model_tag),
        )
        .route(
            "/mlflow/logged-models/{model_id}/params",
            post(t::log_logged_model_params),
        )
        .route(
            "/mlflow/logged-models/{model_id}/artifacts/directories",
            get(t::list_logged_model_artifacts),
        )
        .route(
            "/mlflow/registered-models/create",
            post(r::create_registered_model),
        )
        .route(
            "/mlflow/registered-models/get",
            get(r::get_registered_model),
        )
        .route(
            "/mlflow/registered-models/search",
            get(r::search_registered_models),
        )
        .route(
            "/mlflow/registered-models/rename",
            post(r::rename_registered_model),
        )
        .route(
            "/mlflow/registered-models/update",
            patch(r::update_registered_model),
        )
        .route(
            "/mlflow/registered-models/delete",
            delete(r::delete_registered_model),
        )
        .route(
            "/mlflow/registered-models/set-tag",
            post(r::set_registered_model_tag),
        )
        .route(
            "/mlflow/registered-models/delete-tag",
            delete(r::delete_registered_model_tag),
        )
        .route(
            "/mlflow/registered-models/alias",
            post(r::set_registered_model_alias)
                .delete(r::delete_registered_model_alias)
                .get(r::get_model_version_by_alias),
        )
        .route(
            "/mlflow/registered-models/get-latest-versions",
            get(r::get_latest_versions).post(r::get_latest_versions),
        )
        .route(
            "/mlflow/model-versions/create",
            post(r::create_model_version),
        )
        .route("/mlflow/model-versions/get", get(r::get_model_version))
        .route(
            "/mlflow/model-versions/update",
            patch(r::update_model_version),
        )
        .route(
            "/mlflow/model-versions/transition-stage",
            post(r::transition_model_version_stage),
        )
        .route(
            "/mlflow/model-versions/delete",
            delete(r::delete_model_version),
        )
        .route(
            "/mlflow/model-versions/search",
            get(r::search_model_versions),
        )
        .route(
            "/mlflow/model-versions/get-download-uri",
            get(r::get_model_version_download_uri),
        )
        .route(
            "/mlflow/model-versions/set-tag",
            post(r::set_model_version_tag),
        )
        .route(
            "/mlflow/model-versions/delete-tag",
            delete(r::delete_model_version_tag),
        )
        .route("/mlflow-artifacts/artifacts", get(a::list_artifacts))
        .route(
            "/mlflow-artifacts/artifacts/{*artifact_path}",
            get(a::download_artifact)
                .put(a::upload_artifact)
                .delete(a::delete_artifact),
        )
        .route(
            "/mlflow-artifacts/mpu/create/{*artifact_path}",
            post(a::create_multipart_upload),
        )
        .route(
            "/mlflow-artifacts/mpu/complete/{*artifact_path}",
            post(a::complete_multipart_upload),
        )
        .route(
            "/mlflow-artifacts/mpu/abort/{*artifact_path}",
            post(a::abort_multipart_upload),
        )
        .route(
            "/mlflow-artifacts/mpu/part/{upload_id}/{part_number}",
            put(a::upload_part),
        )
        .route(
            "/mlflow-artifacts/presigned/{*artifact_path}",
            get(a::presigned_download),
        )
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
            .nest(&format!("{prefix}/ajax-api/2.0"), api_v2())
            .nest(&format!("{prefix}/api/3.0"), api_v3())
            .nest(&format!("{prefix}/ajax-api/3.0"), api_v3())
            .route(&format!("{prefix}/health"), get(health))
            .route(&format!("{prefix}/version"), get(version));
    }
    router
}

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
