//! Plinth's shared vocabulary: the error kinds every crate maps its errors to, and the
//! wire types that more than one crate needs. This crate does no I/O and knows no backend.

mod environments;
mod error;
mod files;
mod identity;
mod installation;
mod python;
mod redact;
mod runtime;
mod tracking;

pub use environments::{
    BuildState, Environment, EnvironmentBuild, EnvironmentLock, EnvironmentSpec,
    EnvironmentVersion, LockedPackage, ResolutionState,
};
pub use error::{ErrorBody, ErrorKind, HasErrorKind};
pub use files::S3AccessKey;
pub use identity::{
    new_id, parse_email, ApiTokenInfo, AuditEvent, AuthSettingsView, InvalidValue, Member,
    OrgMember, OrgRole, Organization, Project, ResourceName, Role, User, UserId, Username,
};
pub use installation::Installation;
pub use python::python_float;
pub use redact::redact_url;
pub use runtime::{
    App, AppRequest, AppView, CustomSize, JobRequest, JobView, NodePool, PoolTaint, ProjectQuota,
    ProjectUsageNow, ResourceClass, SnapshotInfo, UsageRecord, Workload, WorkloadCommand,
    WorkloadEndpoint, WorkloadEnvironment, WorkloadKind, WorkloadState,
};
pub use tracking::{
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LifecycleStage, LoggedModel,
    LoggedModelParameter, LoggedModelRegistration, LoggedModelStatus, LoggedModelTag, Metric,
    MetricWithRunId, ModelInput, ModelOutput, ModelVersion, ModelVersionStage, ModelVersionStatus,
    ModelVersionTag, Page, Param, RegisteredModel, RegisteredModelAlias, RegisteredModelTag, Run,
    RunData, RunInfo, RunInputs, RunOutputs, RunStatus, RunTag, ViewType,
};

/// The version of this build of Plinth, as set in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
