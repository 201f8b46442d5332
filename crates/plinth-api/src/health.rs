//! Liveness (`/healthz`), readiness (`/readyz`, with per-dependency detail) and the status
//! document behind the UI's status page (`/api/v1/status`).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_api_types::{BackendInfo, DependencyCheck, Health, Readiness, Status};

use crate::AppState;

/// How long one dependency may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: answers while the process serves HTTP; checks no dependency.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_string(),
    })
}

/// Readiness: 200 when the metadata store and the object store answer, else 503; the body
/// says which dependency failed and why.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "every dependency answers", body = Readiness),
        (status = 503, description = "a dependency does not answer", body = Readiness),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = check_readiness(&state).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// The server's version, backends, installation and live readiness.
#[utoipa::path(get, path = "/api/v1/status", tag = "operations", responses((status = 200, body = Status)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: crate::identity::Authenticated,
) -> Result<Json<Status>, crate::ApiError> {
    Ok(Json(collect_status(&state, caller.0.is_admin()).await?))
}

/// Gathers the status document (shared by the API and the UI page).
/// Backend locations (hosts, paths, buckets) are shown to platform admins only.
pub(crate) async fn collect_status(
    state: &AppState,
    show_locations: bool,
) -> Result<Status, crate::ApiError> {
    let location = |location: &str| {
        if show_locations {
            location.to_string()
        } else {
            "(visible to admins)".to_string()
        }
    };
    let readiness = check_readiness(state).await;
    let schema_version = if readiness.metastore.is_ok() {
        state.metastore().schema_version().await?
    } else {
        0
    };
    Ok(Status {
        version: plinth_types::VERSION.to_string(),
        uptime_seconds: state.started_at().elapsed().as_secs(),
        installation: state.installation().clone(),
        schema_version,
        metastore: BackendInfo {
            backend: state.metastore().backend().to_string(),
            location: location(state.metastore_location()),
        },
        objects: BackendInfo {
            backend: state.artifacts().backend().to_string(),
            location: location(state.artifacts().location()),
        },
        readiness,
        resident_memory_bytes: crate::metrics::resident_memory_bytes(),
    })
}

/// Checks both dependencies at once, each bounded by [`CHECK_TIMEOUT`].
pub(crate) async fn check_readiness(state: &AppState) -> Readiness {
    let metastore = timed(state.metastore().backend(), async {
        state
            .metastore()
            .check_connectivity()
            .await
            .map_err(|error| crate::error::error_chain(&error))
    });
    let objects = timed(state.artifacts().backend(), async {
        state
            .artifacts()
            .check_connectivity()
            .await
            .map_err(|error| crate::error::error_chain(&error))
    });
    let (metastore, objects) = tokio::join!(metastore, objects);
    let ready = metastore.is_ok() && objects.is_ok();
    Readiness {
        status: if ready { "ready" } else { "unavailable" }.to_string(),
        metastore,
        objects,
    }
}

async fn timed(
    backend: &'static str,
    check: impl std::future::Future<Output = Result<(), String>>,
) -> DependencyCheck {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    if let Some(error) = &error {
        tracing::warn!(backend, %error, "readiness check failed");
    }
    DependencyCheck {
        status: if error.is_none() { "ok" } else { "unavailable" }.to_string(),
        backend: backend.to_string(),
        latency_ms,
        error,
    }
}
