//! A typed HTTP client of Plinth's public REST API (`/api/v1/…`): login and logout, the
//! caller's profile and tokens, users, organizations and projects; the workload runtime's
//! node pools, resource classes, quotas and usage ledger; snapshots of working files
//! (streamed up and down) and jobs, with their output streamed as it comes; and MLflow's
//! tracking, registry and artifact API of a project ([`Client::mlflow`], [`mlflow`]). The
//! `plinth` CLI and the end-to-end tests use it; it owns no state beyond one server URL and
//! one bearer token, and it does not store credentials (the CLI does).
//!
//! **http and https.** For an `https://` server the client trusts the system's root
//! certificates and, with [`Client::try_new_with`], a PEM file of further certificate
//! authorities (a company's own); an http server costs no certificate loading (reading the
//! system's store takes about 100 ms, at every start of every CLI command). `reqwest` is
//! built with the rustls backend that `object_store` already brings into the binary (with
//! `ring`: a second crypto provider would make rustls refuse to pick one at the first
//! handshake).
//!
//! **One set of types.** The request, response and query types are the server's own
//! (`plinth-api-types`, and the entities of `plinth-types`), re-exported here: what this
//! client sends is what the server's handlers parse, field for field.
//!
//! Every failure is a [`ClientError`]: the server's own `{code, message}` error answers
//! become [`ClientError::Api`] with the message untouched, so callers can show it as is.

mod client;
mod error;
pub mod mlflow;
pub mod pipelines;

pub use client::{parse_server_url, ByteStream, Client};
pub use error::{ClientError, ClientResult};
/// The API's request, response and query types (the server's, from `plinth-api-types`).
pub use plinth_api_types::{
    ClassRequest, CreateDeploymentRequest, CreateEnvironmentRequest, CreateOrganizationRequest,
    CreateProjectRequest, CreateUserRequest, DeploymentState, DeploymentView, DirectoryAccountView,
    DirectoryLoginTest, DirectorySyncView, DirectoryTestResult, DirectoryView, EnvironmentDetail,
    EnvironmentHistory, GpuInfo, IsolationInfo, JobListQuery, JobPage, LogQuery, LoginRequest,
    LoginResponse, MeResponse, MechanismInfo, PoolRequest, ProjectListQuery, ProjectView,
    QuotaView, RuntimeInfo, TokenRequest, TokenResponse, UpdateUserRequest, UsageQuery,
    UserListQuery,
};
pub use plinth_api_types::{S3KeyCreated, S3KeyList, S3KeyRequest};
pub use plinth_types::S3AccessKey;

/// The shared wire types this client sends and answers with, re-exported for convenience.
pub use plinth_types::{
    ApiTokenInfo, AppRequest, AppView, BuildState, CustomSize, Environment, EnvironmentBuild,
    EnvironmentLock, EnvironmentSpec, EnvironmentVersion, JobRequest, JobView, LockedPackage,
    Member, NodePool, OrgMember, OrgRole, Organization, PoolTaint, Project, ProjectQuota,
    ProjectUsageNow, ResolutionState, ResourceClass, Role, SnapshotInfo, UsageRecord, User,
    Workload, WorkloadCommand, WorkloadEnvironment, WorkloadKind, WorkloadState,
};

#[cfg(test)]
mod tests;
