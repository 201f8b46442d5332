//! Liveness (`/healthz`), readiness (`/readyz`, with per-dependency detail) and the status
//! document behind the UI's status page (`/api/v1/status`).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_types::Installation;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// How long one dependency may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving HTTP.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// The state of one dependency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Which backend: `sqlite`, `postgres`, `local`, `s3`, `memory`.
    pub backend: &'static str,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it is unavailable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness: whether every dependency answers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check is `ok`, else `unavailable`.
    pub status: &'static str,
    /// The metadata store.
    pub metastore: DependencyCheck,
    /// The object store.
    pub objects: DependencyCheck,
}

impl Readiness {
    /// Returns whether every dependency answered.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// One backend and where it points (passwords redacted).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackendInfo {
    /// The backend's name.
    pub backend: &'static str,
    /// Its URL, without secrets.
    pub location: String,
}

/// What the server is, what it runs on, and whether it is ready.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Status {
    /// The Plinth version.
    pub version: &'static str,
    /// Seconds since this server started.
    pub uptime_seconds: u64,
    /// This installation's identity.
    pub installation: Installation,
    /// The newest metadata schema migration applied.
    pub schema_version: i64,
    /// The metadata store.
    pub metastore: BackendInfo,
    /// The object store.
    pub objects: BackendInfo,
    /// The live readiness checks.
    pub readiness: Readiness,
    /// Resident memory of the server process, in bytes, where the platform reports it.
    pub resident_memory_bytes: Option<u64>,
}

/// Liveness: answers while the process serves HTTP; checks no dependency.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
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
    let schema_version = if readiness.metastore.status == "ok" {
        state.metastore().schema_version().await?
    } else {
        0
    };
    Ok(Status {
        version: plinth_types::VERSION,
        uptime_seconds: state.started_at().elapsed().as_secs(),
        installation: state.installation().clone(),
        schema_version,
        metastore: BackendInfo {
            backend: state.metastore().backend(),
            location: location(state.metastore_location()),
        },
        objects: BackendInfo {
            backend: state.artifacts().backend(),
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
    let ready = metastore.status == "ok" && objects.status == "ok";
    Readiness {
        status: if ready { "ready" } else { "unavailable" },
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
        status: if error.is_none() { "ok" } else { "unavailable" },
        backend,
        latency_ms,
        error,
    }
}
