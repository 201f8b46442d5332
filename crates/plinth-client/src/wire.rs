//! Request and answer bodies of the API that have no home in `plinth-types`. They mirror
//! the server's types in `plinth-api/src/identity/handlers.rs`, `plinth-api/src/runtime.rs`
//! and `plinth-core/src/runtime/jobs.rs` (this crate does not depend on the server's
//! crates); the server refuses unknown fields, so requests send nothing it does not know.

use std::collections::BTreeMap;

use plinth_types::{
    ApiTokenInfo, PoolTaint, Project, ProjectQuota, ProjectUsageNow, Role, User, Workload,
};
use serde::{Deserialize, Serialize};

/// Credentials exchanged for a personal API token (`POST /api/v1/auth/login`).
#[derive(Clone, Default, Serialize)]
pub struct LoginRequest {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
    /// The current TOTP code (or a recovery code), when the account has MFA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<String>,
    /// Name of the token to create; the server picks one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    /// Days until the token expires; the server's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("totp_code", &self.totp_code.as_ref().map(|_| "[redacted]"))
            .field("token_name", &self.token_name)
            .field("expires_in_days", &self.expires_in_days)
            .finish()
    }
}

/// The result of a login.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The new token: send it as `Authorization: Bearer …`.
    pub token: String,
    /// What the server keeps of it.
    pub info: ApiTokenInfo,
    /// Who logged in.
    pub user: User,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginResponse")
            .field("token", &"[redacted]")
            .field("info", &self.info)
            .field("user", &self.user)
            .finish()
    }
}

/// The caller, as `GET /api/v1/me` describes them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeResponse {
    /// The account.
    pub user: User,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// How the caller authenticated: `session` or `token`.
    pub credential: String,
    /// For sessions: the token to send in `X-CSRF-Token` with changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// A new personal API token (`POST /api/v1/me/tokens`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenRequest {
    /// A name to tell it apart.
    pub name: String,
    /// Days until it expires; the server's default (365) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
    /// `organization/project` to limit it to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Allow only reads.
    pub read_only: bool,
}

/// A new token and what the server keeps of it.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The token: shown this once, never again.
    pub token: String,
    /// What the server keeps of it.
    pub info: ApiTokenInfo,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenResponse")
            .field("token", &"[redacted]")
            .field("info", &self.info)
            .finish()
    }
}

/// A user created by an admin (`POST /api/v1/users`).
#[derive(Clone, Default, Serialize)]
pub struct CreateUserRequest {
    /// Login name.
    pub username: String,
    /// Email.
    pub email: String,
    /// Initial password.
    pub password: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Make a platform admin.
    pub is_admin: bool,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("is_admin", &self.is_admin)
            .finish()
    }
}

/// Changes to a user, by an admin (`PATCH /api/v1/users/{username}`); absent fields stay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UpdateUserRequest {
    /// New email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Grant or revoke admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    /// Deactivate (`false`) or reactivate (`true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// Which users to list (`GET /api/v1/users`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct UserListQuery {
    /// Part of a username, email or display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Continue after this username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// At most this many (1–500; the server's default is 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// A new organization (`POST /api/v1/orgs`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateOrganizationRequest {
    /// Unique name.
    pub name: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Username of its first owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A new project (`POST /api/v1/orgs/{organization}/projects`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CreateProjectRequest {
    /// Name, unique in the organization.
    pub name: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Free text.
    pub description: String,
}

/// Which projects to list (`GET /api/v1/projects`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProjectListQuery {
    /// Admins: every project, not only their own.
    pub all: bool,
    /// Only in this organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

/// A project and the caller's role in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// The caller's role, if a member.
    pub role: Option<Role>,
}

/// A role to give (`PUT …/members/{username}`).
#[derive(Serialize)]
pub(crate) struct RoleRequest<'a> {
    pub role: &'a str,
}

/// A password set by an admin (`POST /api/v1/users/{username}/password`).
#[derive(Serialize)]
pub(crate) struct PasswordReset<'a> {
    pub password: &'a str,
}

// ---------- runtime ----------

/// The runtime's backend and what it can do (`GET /api/v1/runtime`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// `local` or `kubernetes`.
    pub backend: String,
    /// How per-class limits are enforced, in words.
    pub limits: String,
    /// GPUs the backend can hand out.
    pub gpus: Vec<GpuInfo>,
}

/// One GPU of the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Its index.
    pub index: u32,
    /// Its model.
    pub name: String,
}

/// A node pool to create or replace (`PUT /api/v1/pools/{name}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolRequest {
    /// Free text.
    pub description: String,
    /// Labels the pool's nodes carry.
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pool's nodes carry.
    pub taints: Vec<PoolTaint>,
}

/// A resource class to create or replace (`PUT /api/v1/classes/{name}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassRequest {
    /// The pool its workloads run on.
    pub pool: String,
    /// Free text.
    pub description: String,
    /// CPU in thousandths of a core (`1500` = 1.5 cores).
    pub cpu_millis: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Whole GPUs.
    pub gpus: u32,
}

/// A project's quota and what it uses now (`GET …/quota`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaView {
    /// The limits (`None` = unlimited).
    pub quota: ProjectQuota,
    /// What admitted, unfinished workloads hold now, and how many jobs wait.
    pub usage: ProjectUsageNow,
}

/// Which days of the usage ledger to read (`GET …/usage`); both ends inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageQuery {
    /// First day, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A stored snapshot of working files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

// ---------- jobs ----------

/// A job to submit (`POST …/jobs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobRequest {
    /// A name for listings; the server derives one from the command when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource class.
    pub class: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// The SHA-256 of a snapshot uploaded to the project, unpacked as the working folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The container image (Kubernetes backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A job as the server shows it: the record plus its place in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// The recorded job.
    #[serde(flatten)]
    pub job: Workload,
    /// 1-based position in the project's queue while queued.
    pub queue_position: Option<u32>,
    /// Run time so far (or in total), in milliseconds.
    pub duration_ms: Option<i64>,
}

/// A page of jobs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// Which jobs to list (`GET …/jobs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobListQuery {
    /// Only jobs in these states, comma-separated (`queued,running`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Continue after this cursor (the `next` of the previous page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (1–500; the server's default is 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Which part of a job's output to read (`GET …/jobs/{id}/logs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogQuery {
    /// Keep the response open and send output as it comes, until the job ends.
    pub follow: bool,
    /// Start this many bytes into the output (to resume after a broken stream).
    pub offset: u64,
    /// Only the last this many lines (before following).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<u32>,
}
