//! Plinth's workload runtime: one backend-neutral [`WorkloadSpec`] and the [`Executor`]
//! trait every backend implements — local processes ([`LocalExecutor`], the embedded
//! default) now, Kubernetes later. Pipelines steps, workspaces, model servers, apps and
//! image builds will all run through it.
//!
//! This crate starts, watches and stops workloads; it does not decide who may run what, or
//! keep desired state (the reconciler in `plinth-core` will).

mod error;
mod local;
mod spec;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use error::{ExecError, ExecResult};
pub use local::LocalExecutor;
pub use spec::{WorkloadHandle, WorkloadSpec, WorkloadStatus};

/// Runs workloads on some backend.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Returns the backend's name: `local` or `kubernetes`.
    fn backend(&self) -> &'static str;

    /// Starts a workload; fails at once, leaving nothing behind, when it cannot start.
    async fn submit(&self, spec: WorkloadSpec) -> ExecResult<WorkloadHandle>;

    /// Returns the workload's state now.
    async fn status(&self, handle: &WorkloadHandle) -> ExecResult<WorkloadStatus>;

    /// Returns the workload's output (stdout and stderr, interleaved); with `follow`, the
    /// stream goes on until the workload ends.
    async fn logs(
        &self,
        handle: &WorkloadHandle,
        follow: bool,
    ) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>>;

    /// Stops the workload and everything it started: a polite signal, then a forceful one
    /// after `grace`.
    async fn stop(&self, handle: &WorkloadHandle, grace: std::time::Duration) -> ExecResult<()>;
}
