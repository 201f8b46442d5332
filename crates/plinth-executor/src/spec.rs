//! The backend-neutral description of a workload and its observed state.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to run. The same spec runs as a local process or (later) a Kubernetes Job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// A name for logs and listings.
    pub name: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Environment variables, on top of a minimal inherited environment.
    pub env: BTreeMap<String, String>,
    /// The working directory; `None` means a fresh one the executor creates.
    pub working_dir: Option<PathBuf>,
    /// Named ports the workload listens on; each is allocated and handed over as
    /// `PLINTH_PORT_<NAME>` (upper case).
    pub ports: Vec<String>,
    /// Labels for listings (project, kind, run id).
    pub labels: BTreeMap<String, String>,
}

/// Identifies a submitted workload on its backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadHandle {
    /// The backend-assigned id.
    pub id: String,
    /// The ports allocated, by name.
    pub ports: BTreeMap<String, u16>,
}

/// A workload's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkloadStatus {
    /// Running.
    Running {
        /// The process id (local backend).
        pid: Option<u32>,
    },
    /// Ended with exit code 0.
    Succeeded,
    /// Ended with a non-zero exit code or a signal.
    Failed {
        /// The exit code, when there is one.
        exit_code: Option<i32>,
        /// What happened, in words.
        reason: String,
    },
    /// Stopped on request.
    Stopped,
}

impl WorkloadStatus {
    /// Returns whether the workload has ended.
    pub fn is_finished(&self) -> bool {
        !matches!(self, WorkloadStatus::Running { .. })
    }
}
