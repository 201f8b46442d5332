//! The request, response and query types of Plinth's REST API (`/api/v1/…` and the
//! operations endpoints), defined once: the server's handlers take and return them, the
//! OpenAPI document is generated from their `ToSchema`/`IntoParams` derives, and
//! `plinth-client` sends and decodes the same types, so a field cannot drift between
//! server and client.
//!
//! The wire forms are the server's: requests refuse unknown fields and default what a
//! client may leave out; optional fields a client leaves unset are not sent at all. The
//! entities these bodies carry (`User`, `Project`, `Workload`, `JobView` …), which the
//! domain services take and return too, live in `plinth-types`; this crate holds only
//! the shapes the HTTP API adds around them. It does no I/O and depends on nothing but
//! `plinth-types`, serde and utoipa.
//!
//! MLflow's REST API is not here: its server side is checked and written as MLflow's own
//! protobuf JSON (`plinth-api/src/mlflow`), not with serde types.

mod environments;
mod federation;
mod files;
mod identity;
mod operations;
mod runtime;
mod serving;

pub use environments::{CreateEnvironmentRequest, EnvironmentDetail, EnvironmentHistory};
pub use federation::{
    DirectoryAccountView, DirectoryLoginTest, DirectorySyncView, DirectoryTestResult,
    DirectoryView, OidcProviderView,
};
pub use files::{S3KeyCreated, S3KeyList, S3KeyRequest};
pub use identity::{
    AuditListQuery, CodeRequest, CreateOrganizationRequest, CreateProjectRequest,
    CreateUserRequest, LoginRequest, LoginResponse, MeResponse, MfaEnrollmentResponse,
    PasswordChange, PasswordReset, ProfileUpdate, ProjectListQuery, ProjectView, RecoveryCodes,
    RoleRequest, SignupRequest, TokenRequest, TokenResponse, UpdateProjectRequest,
    UpdateUserRequest, UserListQuery,
};
pub use operations::{BackendInfo, DependencyCheck, Health, Readiness, Status};
pub use runtime::{
    ClassRequest, GpuInfo, IsolationInfo, JobListQuery, JobPage, LogQuery, MechanismInfo,
    PoolRequest, QuotaView, RuntimeInfo, UsageQuery,
};
pub use serving::{CreateDeploymentRequest, DeploymentState, DeploymentView};

#[cfg(test)]
mod tests;
