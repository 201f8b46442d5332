//! Identity federation: the admin's view of the configured directories and the results of
//! their "test connection" and "test login" buttons.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A configured LDAP / Active Directory directory (`[[auth.ldap]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryView {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// `ldaps`, `starttls` or `plain`.
    pub security: String,
    /// Where users are searched.
    pub user_base: String,
    /// The search filter (`{username}` is the typed name, escaped).
    pub user_filter: String,
}

/// The answer of a "test connection" or "test login".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryTestResult {
    /// Whether it worked.
    pub ok: bool,
    /// What worked, or why not.
    pub message: String,
    /// For a successful "test login": the account the user would get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<DirectoryAccountView>,
}

/// What a directory user's account would look like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryAccountView {
    /// The Plinth username.
    pub username: String,
    /// The email.
    pub email: String,
    /// The display name.
    pub display_name: String,
    /// The groups found (DNs), nested ones included.
    pub groups: Vec<String>,
    /// Whether the groups make a platform admin.
    pub platform_admin: bool,
    /// `organization: role` granted.
    pub organizations: Vec<String>,
    /// `organization/project: role` granted.
    pub projects: Vec<String>,
}

/// A directory user's name and password, to test a login without logging in.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryLoginTest {
    /// The name as the user would type it.
    pub username: String,
    /// Their directory password.
    pub password: String,
}

impl std::fmt::Debug for DirectoryLoginTest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DirectoryLoginTest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What one directory's sync did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectorySyncView {
    /// The directory.
    pub directory: String,
    /// Accounts looked up.
    pub checked: u64,
    /// Accounts updated.
    pub updated: u64,
    /// Accounts deactivated.
    pub deactivated: u64,
    /// Why it stopped early (nothing is deactivated on an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An OpenID Connect provider's login button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OidcProviderView {
    /// Its name (in `/auth/oidc/{name}/login`).
    pub name: String,
    /// What the button says after "Log in with".
    pub display_name: String,
    /// The issuer URL.
    pub issuer: String,
}
