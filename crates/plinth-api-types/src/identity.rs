//! Bodies and queries of `/api/v1/auth`, `/api/v1/me`, `/api/v1/users`, `/api/v1/orgs`,
//! `/api/v1/projects` and `/api/v1/audit`. Types that carry a password, token or secret
//! print it as `[redacted]` in `Debug`.

use std::fmt;

use plinth_types::{ApiTokenInfo, Project, Role, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const REDACTED: &str = "[redacted]";

fn redacted<T>(secret: &Option<T>) -> Option<&'static str> {
    secret.as_ref().map(|_| REDACTED)
}

// ---------- auth ----------

/// Credentials exchanged for a personal API token (what `plinth login` and scripts use).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
    /// The current TOTP code (or a recovery code), when the account has MFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<String>,
    /// Name of the token to create; default `login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    /// Days until the token expires; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("totp_code", &redacted(&self.totp_code))
            .field("token_name", &self.token_name)
            .field("expires_in_days", &self.expires_in_days)
            .finish()
    }
}

/// The result of a login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The new token: send it as `Authorization: Bearer …`.
    pub token: String,
    /// What the server keeps of it.
    pub info: ApiTokenInfo,
    /// Who logged in.
    pub user: User,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LoginResponse")
            .field("token", &REDACTED)
            .field("info", &self.info)
            .field("user", &self.user)
            .finish()
    }
}

/// A self-service account request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Login name.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Password (see the password policy).
    pub password: String,
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
}

impl fmt::Debug for SignupRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SignupRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("display_name", &self.display_name)
            .finish()
    }
}

// ---------- me ----------

/// The caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// Changes to the caller's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A password change.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

impl fmt::Debug for PasswordChange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PasswordChange")
            .field("current_password", &REDACTED)
            .field("new_password", &REDACTED)
            .finish()
    }
}

/// What to enroll in an authenticator app; shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MfaEnrollmentResponse {
    /// The base32 secret.
    pub secret: String,
    /// The `otpauth://` URL.
    pub otpauth_url: String,
    /// The QR code, SVG.
    pub qr_svg: String,
}

impl fmt::Debug for MfaEnrollmentResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("MfaEnrollmentResponse")
            .field("secret", &REDACTED)
            .field("otpauth_url", &REDACTED)
            .field("qr_svg", &REDACTED)
            .finish()
    }
}

/// A TOTP or recovery code.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The code.
    pub code: String,
}

impl fmt::Debug for CodeRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CodeRequest")
            .field("code", &REDACTED)
            .finish()
    }
}

/// Recovery codes; shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each works once in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RecoveryCodes")
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}

/// A new personal API token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A name to tell it apart.
    pub name: String,
    /// Days until it expires; default and most: 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
    /// `organization/project` to limit it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Allow only reads.
    #[serde(default)]
    pub read_only: bool,
}

/// A new token and its owner.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The token: shown this once, never again.
    pub token: String,
    /// What the server keeps of it.
    pub info: ApiTokenInfo,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TokenResponse")
            .field("token", &REDACTED)
            .field("info", &self.info)
            .finish()
    }
}

// ---------- users (admins) ----------

/// A user created by an admin.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name.
    pub username: String,
    /// Email.
    pub email: String,
    /// Initial password.
    pub password: String,
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
    /// Make a platform admin.
    #[serde(default)]
    pub is_admin: bool,
}

impl fmt::Debug for CreateUserRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("display_name", &self.display_name)
            .field("is_admin", &self.is_admin)
            .finish()
    }
}

/// Changes to a user, by an admin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Grant or revoke admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    /// Deactivate (`false`) or reactivate (`true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// A password set by an admin.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password.
    pub password: String,
}

impl fmt::Debug for PasswordReset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PasswordReset")
            .field("password", &REDACTED)
            .finish()
    }
}

/// Which users to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Part of a username, email or display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Continue after this username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// At most this many (1–500, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

// ---------- organizations and projects ----------

/// A new organization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Unique name.
    pub name: String,
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
    /// Username of its first owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A role to give.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// For projects `viewer`, `contributor` or `owner`; for organizations `member` or `owner`.
    pub role: String,
}

/// A new project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// Name, unique in the organization.
    pub name: String,
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// Changes to a project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    /// Name shown in the UI.
    pub display_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A project and the caller's role in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// The caller's role, if a member.
    pub role: Option<Role>,
}

/// Which projects to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProjectListQuery {
    /// Admins: every project, not only their own.
    #[serde(default)]
    pub all: bool,
    /// Only in this organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

// ---------- audit ----------

/// Which audit events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditListQuery {
    /// Actions starting with this, e.g. `login.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only this actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// At or after, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// Before, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// Older than this event id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_id: Option<i64>,
    /// At most this many (default 100; export: 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}
