//! Wire types of environments: named, versioned software environments that jobs (and
//! later pipelines, workspaces and Model APIs) run in. The domain lives in `plinth-envs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an environment version asks for. Every field is part of the version: changing any
/// of them makes a new version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The Python version: `3.11` or `3.11.7`.
    pub python: String,
    /// The text of a `requirements.txt` (one requirement a line; comments allowed;
    /// options such as `-e`, `-r` or `--index-url` are refused).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requirements: String,
    /// Further requirements, one each (`pandas>=2`, `mlflow==3.17.2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// System packages (Debian names), for image builds; the local backend refuses them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apt_packages: Vec<String>,
    /// The base image of image builds (Kubernetes backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// Environment variables every workload of this environment gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl EnvironmentSpec {
    /// Returns the names of the fields that differ between `self` and `earlier`, in a
    /// fixed order: `python`, `requirements`, `packages`, `apt_packages`, `base_image`, `env`.
    pub fn changes_from(&self, earlier: &EnvironmentSpec) -> Vec<String> {
        let mut changed = Vec::new();
        let mut check = |name: &str, differs: bool| {
            if differs {
                changed.push(name.to_string());
            }
        };
        check("python", self.python != earlier.python);
        check("requirements", self.requirements != earlier.requirements);
        check("packages", self.packages != earlier.packages);
        check("apt_packages", self.apt_packages != earlier.apt_packages);
        check("base_image", self.base_image != earlier.base_image);
        check("env", self.env != earlier.env);
        changed
    }
}

/// Whether a version's request has been turned into a lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionState {
    /// Not resolved yet (it is resolved at its first build).
    #[default]
    Pending,
    /// Resolved: the lock is set and never changes.
    Resolved,
    /// The resolver refused the request; the reason is kept (and the full log).
    Failed,
}

impl ResolutionState {
    /// The state's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionState::Pending => "pending",
            ResolutionState::Resolved => "resolved",
            ResolutionState::Failed => "failed",
        }
    }
}

/// One package of a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LockedPackage {
    /// The normalized project name (`scikit-learn`).
    pub name: String,
    /// The exact version.
    pub version: String,
}

/// What a resolution produced: exact versions with their archives' hashes, for one Python
/// and platform. Builds install exactly this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentLock {
    /// The format of this record (`1`).
    pub format: u32,
    /// The `uv` version that resolved it.
    pub uv_version: String,
    /// The exact Python version it was resolved for (`3.11.2`).
    pub python_version: String,
    /// The platform it was resolved for (`linux-x86_64`).
    pub platform: String,
    /// `uv pip compile --generate-hashes` output: every package pinned (`==`) with
    /// `--hash=sha256:…` for each of its archives.
    pub requirements: String,
    /// The packages, by name.
    pub packages: Vec<LockedPackage>,
}

/// One immutable version of an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentVersion {
    /// The environment's id.
    pub environment_id: String,
    /// 1, 2, 3 …
    pub version: u32,
    /// What it asks for.
    pub spec: EnvironmentSpec,
    /// The fields that changed from the version before (every set field for version 1).
    pub changes: Vec<String>,
    /// Who made it (login).
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
    /// Whether it has been resolved.
    pub resolution: ResolutionState,
    /// Why the resolution failed, in the resolver's words (the package and the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_error: Option<String>,
    /// The lock, once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<EnvironmentLock>,
    /// The lock's SHA-256 (hex): the key of its builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_hash: Option<String>,
    /// When it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<i64>,
}

/// An environment: a name in a project (or global) with its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Environment {
    /// Stable id.
    pub id: String,
    /// Its name, unique in its project (or among global environments).
    pub name: String,
    /// The project it belongs to; `None` for a global environment (admins define them,
    /// every project may use them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The newest version, the one used when none is pinned.
    pub latest_version: u32,
    /// Who created it (login).
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// The state of a built environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuildState {
    /// Being built now.
    Building,
    /// Built and usable.
    Ready,
    /// The build failed; the reason and the log are kept.
    Failed,
}

impl BuildState {
    /// The state's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildState::Building => "building",
            BuildState::Ready => "ready",
            BuildState::Failed => "failed",
        }
    }
}

/// A build of one lock in one scope (a project, or the global environments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentBuild {
    /// The project's id, or `""` for global environments.
    pub scope: String,
    /// The lock's hash.
    pub lock_hash: String,
    /// Its state.
    pub state: BuildState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it started, ms since the epoch.
    pub started_at_ms: i64,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    /// When a workload last used it (unused builds are collected).
    pub last_used_at_ms: i64,
    /// The image it produced, by digest (`registry/plinth/<scope>/<env>@sha256:…`), on the
    /// Kubernetes backend; workloads of this lock run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}
