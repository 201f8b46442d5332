//! Plinth's workload runtime: one backend-neutral [`WorkloadSpec`] and the [`Executor`]
//! trait every backend implements — local processes ([`LocalExecutor`], the embedded
//! default) now, Kubernetes later. Pipelines steps, workspaces, model servers, apps and
//! image builds will all run through it.
//!
//! This crate starts, watches and stops workloads; it does not decide who may run what, or
//! keep desired state (the reconciler in `plinth-core` will).

mod error;
mod image;
mod local;
pub mod sandbox;
mod spec;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use error::{ExecError, ExecResult};
pub use image::{BuiltImage, ImageBuildSpec, ImageBuilder};
pub use local::{LocalExecutor, LocalExecutorBuilder, PodmanSettings, SandboxSettings};
pub use spec::{
    port_variable, Capabilities, Gpu, Isolation, IsolationLevel, LogOptions, Mechanism, Mount,
    Placement, Resources, RestartPolicy, Taint, WorkingFiles, WorkloadHandle, WorkloadKind,
    WorkloadSpec, WorkloadStatus,
};

/// Runs workloads on some backend.
///
/// Every method is keyed by the workload's id, so a server that restarts can pick up what
/// it started before: `status`, `logs` and `stop` work on workloads submitted by an earlier
/// process of the server, and `list` returns every workload the backend still holds.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Returns the backend's name: `local` or `kubernetes`.
    fn backend(&self) -> &'static str;

    /// How limits are enforced and which GPUs there are.
    fn capabilities(&self) -> Capabilities;

    /// Starts a workload; fails at once, leaving nothing behind, when it cannot start.
    /// An id that already exists is `AlreadyExists`.
    async fn submit(&self, spec: WorkloadSpec) -> ExecResult<WorkloadHandle>;

    /// Returns the workload's state now.
    async fn status(&self, handle: &WorkloadHandle) -> ExecResult<WorkloadStatus>;

    /// Streams the workload's state: the current one first, then each change, ending after
    /// a finished state.
    async fn watch(
        &self,
        handle: &WorkloadHandle,
    ) -> ExecResult<BoxStream<'static, ExecResult<WorkloadStatus>>>;

    /// Returns the workload's output (stdout and stderr, interleaved); with `follow`, the
    /// stream goes on until the workload ends.
    async fn logs(
        &self,
        handle: &WorkloadHandle,
        options: LogOptions,
    ) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>>;

    /// Stops the workload and everything it started: a polite signal, then a forceful one
    /// after `grace`. Stopping a finished workload does nothing.
    async fn stop(&self, handle: &WorkloadHandle, grace: std::time::Duration) -> ExecResult<()>;

    /// Returns every workload this backend holds (running or finished and not yet removed).
    async fn list(&self) -> ExecResult<Vec<WorkloadHandle>>;

    /// Forgets a finished workload: deletes its backend objects (Kubernetes) or its state
    /// (local; the log file stays for the retention period).
    async fn remove(&self, handle: &WorkloadHandle) -> ExecResult<()>;

    /// Returns the host a server workload's ports answer on, for the platform's gateway:
    /// the local backend's loopback address (its ports are allocated there), Kubernetes the
    /// DNS name of the workload's Service.
    fn endpoint_host(&self, spec: &WorkloadSpec) -> ExecResult<String> {
        let _ = spec;
        Ok("127.0.0.1".to_string())
    }
}
