//! Bodies of the operations endpoints: liveness (`/healthz`), readiness (`/readyz`) and the
//! status document (`/api/v1/status`).

use plinth_types::Installation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Liveness: the process is up and serving HTTP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// The state of one dependency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependencyCheck {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Which backend: `sqlite`, `postgres`, `local`, `s3`, `memory`.
    pub backend: String,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it is unavailable, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DependencyCheck {
    /// Returns whether the dependency answered.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Readiness: whether every dependency answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check is `ok`, else `unavailable`.
    pub status: String,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackendInfo {
    /// The backend's name.
    pub backend: String,
    /// Its URL, without secrets.
    pub location: String,
}

/// What the server is, what it runs on, and whether it is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The Plinth version.
    pub version: String,
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
