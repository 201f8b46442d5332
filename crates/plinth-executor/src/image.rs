//! Image builds: what a backend that runs workloads from container images (Kubernetes)
//! needs to build one. `plinth-envs` decides what goes into an image (the Dockerfile, the
//! lock) and whether it must be built; the backend runs the build and pushes the image.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::ExecResult;

/// One image to build and push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBuildSpec {
    /// The build's id (lower-case letters, digits, `-`; at most 40 characters), as a
    /// workload's: its objects are named after it.
    pub id: String,
    /// The project it is built for (its id); the build runs in that project's namespace.
    /// `""` for global environments (built in the platform's build namespace).
    pub project: String,
    /// Where the image is pushed: `host[:port]/path:tag`.
    pub image: String,
    /// The build context: file name → content (`Dockerfile` and the files it copies).
    pub context: BTreeMap<String, String>,
    /// Labels for listings.
    pub labels: BTreeMap<String, String>,
}

/// What a finished build reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// The pushed manifest's digest (`sha256:…`), as the builder reported it.
    pub digest: Option<String>,
    /// The builder's output.
    pub log: String,
}

/// Builds images from a build context and pushes them to a registry.
#[async_trait]
pub trait ImageBuilder: Send + Sync + 'static {
    /// The Docker `config.json` with the registry's credentials, if any are configured
    /// (the caller checks the registry with them before building).
    async fn registry_credentials(&self) -> ExecResult<Option<Vec<u8>>>;

    /// Builds `spec` and pushes it; waits for the end. A failed build is
    /// `ExecError::CannotStart` with the builder's last lines.
    async fn build(&self, spec: ImageBuildSpec) -> ExecResult<BuiltImage>;
}
