//! Request and answer bodies of the identity API that have no home in `plinth-types`.
//! They mirror the server's types in `plinth-api/src/identity/handlers.rs`; the server
//! refuses unknown fields, so requests send nothing it does not know.

use plinth_types::{ApiTokenInfo, Project, Role, User};
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
