//! Identity and access: users, organizations, projects, roles, tokens, sessions and the
//! audit log, as every layer sees them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ErrorKind, HasErrorKind};

/// A value refused by a validated newtype; names the field and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {reason}")]
pub struct InvalidValue {
    /// The field.
    pub field: &'static str,
    /// The rule it breaks.
    pub reason: String,
}

impl HasErrorKind for InvalidValue {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Returns the value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A user's stable id (a UUIDv7, hex).
    UserId
);
string_newtype!(
    /// A login name: 2–64 characters of `a-z 0-9 . _ -`, starting with a letter, stored lowercase.
    Username
);
string_newtype!(
    /// An organization or project name: 2–63 characters of `a-z 0-9 -`, starting with a
    /// letter and not ending with `-` (it becomes part of URLs and Kubernetes namespaces).
    ResourceName
);

impl UserId {
    /// Returns a new, time-ordered id.
    pub fn generate() -> Self {
        UserId(new_id())
    }

    /// Wraps an id read from storage.
    pub fn from_stored(id: String) -> Self {
        UserId(id)
    }
}

/// Returns a new time-ordered id: UUIDv7 as 32 hex digits.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Username {
    /// Validates and lowercases `name`.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        let lowered = name.trim().to_lowercase();
        let invalid = |reason: &str| InvalidValue {
            field: "username",
            reason: reason.to_string(),
        };
        if lowered.len() < 2 || lowered.len() > 64 {
            return Err(invalid("must be 2 to 64 characters long"));
        }
        if !lowered.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("must start with a letter"));
        }
        if !lowered
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            return Err(invalid(
                "may contain only letters, digits, `.`, `_` and `-`",
            ));
        }
        Ok(Username(lowered))
    }

    /// Wraps a name read from storage (already validated when written).
    pub fn from_stored(name: String) -> Self {
        Username(name)
    }
}

impl ResourceName {
    /// Validates `name` as the name of `field` (`organization`, `project`).
    pub fn parse(field: &'static str, name: &str) -> Result<Self, InvalidValue> {
        let invalid = |reason: &str| InvalidValue {
            field,
            reason: reason.to_string(),
        };
        if name.len() < 2 || name.len() > 63 {
            return Err(invalid("must be 2 to 63 characters long"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("must start with a lowercase letter"));
        }
        if name.ends_with('-') {
            return Err(invalid("must not end with `-`"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "may contain only lowercase letters, digits and `-`",
            ));
        }
        Ok(ResourceName(name.to_string()))
    }

    /// Wraps a name read from storage.
    pub fn from_stored(name: String) -> Self {
        ResourceName(name)
    }
}

/// Validates an email address loosely (one `@`, a dot in the domain, no spaces) and
/// lowercases it; real validation is the confirmation mail a later release may send.
pub fn parse_email(email: &str) -> Result<String, InvalidValue> {
    let email = email.trim().to_lowercase();
    let invalid = || InvalidValue {
        field: "email",
        reason: format!("`{email}` is not an email address"),
    };
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.contains(char::is_whitespace)
        || domain.contains('@')
        || email.len() > 254
    {
        return Err(invalid());
    }
    Ok(email)
}

/// A role in a project. Platform admins are above all roles.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the project.
    Viewer,
    /// Creates and changes content.
    Contributor,
    /// Manages members and settings.
    Owner,
}

impl Role {
    /// Returns the wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Contributor => "contributor",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored or submitted role name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "contributor" => Ok(Role::Contributor),
            "owner" => Ok(Role::Owner),
            other => Err(InvalidValue {
                field: "role",
                reason: format!("`{other}` is not a role; use `viewer`, `contributor` or `owner`"),
            }),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Login name, lowercase.
    pub username: Username,
    /// Email address, lowercase.
    pub email: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Platform administrator.
    pub is_admin: bool,
    /// Deactivated users cannot log in and their tokens stop working.
    pub is_active: bool,
    /// Whether TOTP is enrolled and required at login.
    pub mfa_enabled: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last successful login, ms since the epoch.
    pub last_login_at_ms: Option<i64>,
}

/// An organization: holds projects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: ResourceName,
    /// Name shown in the UI.
    pub display_name: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
}

/// A project: owns every resource and grants roles to its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    /// Stable id.
    pub id: String,
    /// The organization's name.
    pub organization: ResourceName,
    /// Name, unique within the organization.
    pub name: ResourceName,
    /// Name shown in the UI.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
}

/// A member of a project and their role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their login name.
    pub username: Username,
    /// Their display name.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// When they were added, ms since the epoch.
    pub added_at_ms: i64,
}

/// A personal API token, as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenInfo {
    /// Stable id.
    pub id: String,
    /// The owner's chosen name.
    pub name: String,
    /// First characters of the token, to tell tokens apart.
    pub display_prefix: String,
    /// The only project the token may reach, if scoped (its id).
    pub project_id: Option<String>,
    /// The token may only read.
    pub read_only: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Expiry, ms since the epoch.
    pub expires_at_ms: Option<i64>,
    /// Last use, ms since the epoch.
    pub last_used_at_ms: Option<i64>,
    /// Revocation time, ms since the epoch.
    pub revoked_at_ms: Option<i64>,
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Position in the log (increasing).
    pub id: i64,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Who acted (user id), if known.
    pub actor_id: Option<String>,
    /// Who acted, as a name (kept even if the user is renamed).
    pub actor_name: String,
    /// What happened, e.g. `login.failure`, `token.create`.
    pub action: String,
    /// What it happened to, e.g. `user:alice`, `project:acme/churn`.
    pub target: String,
    /// The client address.
    pub client_ip: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Details as JSON text.
    pub details: String,
}

/// A role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Manages the organization and its members; creates projects.
    Owner,
    /// Creates projects in the organization.
    Member,
}

impl OrgRole {
    /// Returns the storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Member => "member",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "owner" => Ok(OrgRole::Owner),
            "member" => Ok(OrgRole::Member),
            other => Err(InvalidValue {
                field: "role",
                reason: format!("`{other}` is not an organization role; use `owner` or `member`"),
            }),
        }
    }
}

/// A member of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrgMember {
    /// The user.
    pub user_id: UserId,
    /// Their login name.
    pub username: Username,
    /// Their role.
    pub role: OrgRole,
}

/// The sign-up and MFA settings admins change at run time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthSettingsView {
    /// Anyone who reaches the server may create an account.
    pub signup_enabled: bool,
    /// When not empty, sign-up is limited to emails of these domains.
    pub signup_domains: Vec<String>,
    /// Every user must enroll MFA before using the platform.
    pub mfa_required: bool,
}
