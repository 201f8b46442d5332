//! Plinth's Kubernetes workload backend: [`KubernetesExecutor`] runs a
//! [`plinth_executor::WorkloadSpec`] as a `batch/v1` Job (batch work) or an `apps/v1`
//! Deployment plus a `v1` Service (servers), in one namespace per project guarded by a
//! default-deny NetworkPolicy, and reads their state back in user words.
//!
//! The crate owns the translation (the pure functions in [`manifests`] and [`status`]) and
//! the API calls. It does not decide what runs (`plinth-core` does), and it never installs
//! anything cluster-wide beyond project namespaces: the Plinth gateway, RBAC and node pools
//! are the operator's.
//!
//! TLS is rustls with the `ring` provider, as in the rest of the binary.
//!
//! # How workloads map to objects
//!
//! - Every object of workload `id` is named `plinth-<id>` and labelled
//!   `app.kubernetes.io/managed-by=plinth`, `plinth.dev/workload=<id>`,
//!   `plinth.dev/project=<project>`; a workload is found again by those labels, so the
//!   handle's id is all `status`, `logs`, `stop` and `remove` need.
//! - `submit` creates the Job or Deployment first (idle when a Secret must exist before any
//!   pod starts: a suspended Job, 0 replicas), then the Secret and Service owned by it, then
//!   lets it run. A step that fails deletes what the earlier steps created.
//! - `stop` keeps the objects, so that the state stays readable (`Stopped`) until `remove`:
//!   it marks the Job or Deployment (`plinth.dev/stopped`), suspends it or scales it to 0,
//!   and deletes its pods with `gracePeriodSeconds` = the grace (SIGTERM, then SIGKILL).
//!   Kubernetes only shortens a pending deletion, so a grace longer than the pods' own
//!   `terminationGracePeriodSeconds` (30 s) ends after those 30 s.
//! - `remove` deletes the Job or Deployment (its pods go with it), its Service and Secret.
//!
//! # Permissions the platform's service account needs
//!
//! Cluster-wide: `create` namespaces; `list` jobs (batch) and deployments (apps) in all
//! namespaces (to find workloads by id). In the project namespaces (a ClusterRole bound
//! cluster-wide, or an aggregated role): `create` networkpolicies; `create`, `get`,
//! `list`, `watch`, `patch`, `delete` jobs and deployments; `create`, `delete` secrets and
//! services; `list`, `watch`, `delete`, `deletecollection` pods; `get` pods/log. For
//! environment image builds (`image_build`) also `create` configmaps in the project
//! namespaces (and `{prefix}global`), and `get` the registry credentials Secret in the
//! platform namespace.

mod connect;
mod error;
mod executor;
pub mod image_build;
pub mod manifests;
pub mod samples;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use plinth_executor::WorkloadKind;

pub use connect::{ClusterAccess, ConnectError};
pub use error::KubeCallError;
pub use image_build::{ImageBuildSettings, KubeImageBuilder};

/// How the Kubernetes backend places and builds workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeSettings {
    /// Prefix of the project namespaces: a project's workloads run in
    /// `{namespace_prefix}{project id}`. Default `plinth-`.
    pub namespace_prefix: String,
    /// The image of a workload whose spec names none; empty means such a spec is refused.
    pub default_image: String,
    /// The image of the init container fetching working files; it needs `sh`, `wget`,
    /// `sha256sum` and `tar`. Default `busybox:1.36`, whose `wget` does not verify HTTPS
    /// certificates: the archive's SHA-256 guards what is unpacked, but the token goes to
    /// whoever answers, so serve the files over the cluster network (or pick an image
    /// whose `wget` verifies).
    pub init_image: String,
    /// The namespace the Plinth gateway runs in: the only one whose pods may connect to
    /// workloads. Default `plinth`.
    pub platform_namespace: String,
    /// How often a batch workload with `restart: on_failure` is retried (Job
    /// `backoffLimit`); `restart: never` always means 0. Default 3.
    pub backoff_limit: i32,
    /// The labels of the Plinth server's pods in the platform namespace: the only pods
    /// of that namespace workloads may connect to (egress policy). Default
    /// `app.kubernetes.io/name: plinth`.
    pub platform_pod_labels: BTreeMap<String, String>,
    /// The port the Plinth server's pods listen on (the API). Default 8080.
    pub platform_api_port: u16,
    /// Address ranges workload pods may not reach outside the cluster's own pods: private
    /// networks (where the platform's PostgreSQL, Redis or object store may live), link-local
    /// (cloud metadata servers). Default: the RFC 1918, CGNAT, link-local and IPv6
    /// unique- and link-local ranges.
    pub egress_blocked_cidrs: Vec<String>,
    /// A cluster-scoped owner (for example the platform Namespace) put on every project
    /// namespace, Job and Deployment, so that deleting it deletes them. Namespaced owners
    /// are invalid here: Kubernetes ignores references across namespaces.
    pub owner: Option<OwnerReference>,
}

/// What workload pods may not reach by default: private, shared and link-local ranges.
pub const DEFAULT_EGRESS_BLOCKED_CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl Default for KubeSettings {
    fn default() -> Self {
        KubeSettings {
            namespace_prefix: "plinth-".to_string(),
            default_image: String::new(),
            init_image: "busybox:1.36".to_string(),
            platform_namespace: "plinth".to_string(),
            backoff_limit: 3,
            platform_pod_labels: BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "plinth".to_string(),
            )]),
            platform_api_port: 8080,
            egress_blocked_cidrs: DEFAULT_EGRESS_BLOCKED_CIDRS
                .iter()
                .map(|cidr| (*cidr).to_string())
                .collect(),
            owner: None,
        }
    }
}

/// Runs workloads on a Kubernetes cluster.
///
/// A workload is found again by its id alone (a label on its objects), so a restarted
/// server picks up what it started before; where each id lives is cached after the first
/// lookup.
pub struct KubernetesExecutor {
    client: kube::Client,
    settings: KubeSettings,
    /// Where each workload known to this process lives.
    located: Mutex<HashMap<String, Location>>,
    /// The API server's address, when the executor was built by `connect`.
    server: Option<String>,
}

/// Where a workload's objects are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Location {
    namespace: String,
    kind: WorkloadKind,
}

impl std::fmt::Debug for KubernetesExecutor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KubernetesExecutor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KubernetesExecutor {
    /// Returns an executor calling the API server through `client`.
    pub fn new(client: kube::Client, settings: KubeSettings) -> Self {
        KubernetesExecutor {
            client,
            settings,
            located: Mutex::new(HashMap::new()),
            server: None,
        }
    }

    /// Returns the settings.
    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }
}
