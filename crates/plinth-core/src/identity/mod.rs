//! Identity and access: who the caller is ([`Principal`]), what they may do
//! ([`ProjectPass`], [`OrgPass`], admin checks), and the audit log of it all.

mod audit;
mod authenticator;
mod cache;
mod federation;
mod login;
mod orgs;
mod tokens;
mod users;

use std::sync::Arc;
use std::time::Duration;

use plinth_auth::{PasswordHasher, PasswordPolicy, SecretBox};
use plinth_metastore::{MetadataStore, NewAuditEvent, OrgRole};
use plinth_types::{Organization, Project, Role, User};

pub use audit::AuditQuery;
pub use authenticator::{LocalAuthenticator, PasswordAuthenticator};
pub use cache::AUTH_CACHE_TTL;
pub use federation::{
    Directory, DirectoryInfo, DirectoryLogin, DirectoryLookup, DirectorySync, ExternalAccount,
    LinkPolicy, RoleGrants,
};
pub use login::{LoginOutcome, MfaEnrollment, SessionCookie};
pub use tokens::NewTokenRequest;
pub use users::{AuthSettingsView, NewAccount, UserUpdate};

use crate::{Clock, CoreError, CoreResult};

/// Rules of authentication that operators configure.
#[derive(Clone, Debug)]
pub struct IdentitySettings {
    /// A session ends after this long without a request.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub session_absolute_timeout: Duration,
    /// Failed logins per account within `failure_window` before the account is locked.
    pub max_failures_per_account: i64,
    /// Failed logins per client address within `failure_window` before it is locked.
    pub max_failures_per_address: i64,
    /// How far back failures count.
    pub failure_window: Duration,
    /// How long a lock lasts.
    pub lockout_duration: Duration,
    /// Longest lifetime of a personal API token.
    pub max_token_lifetime: Duration,
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// The name authenticator apps show.
    pub totp_issuer: String,
    /// How long this process may reuse what a token, session or project role resolved to
    /// (`Duration::ZERO`: never). Changes made through this process take effect at once
    /// whatever the value; this bounds how long another replica's changes take.
    pub auth_cache_ttl: Duration,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            session_idle_timeout: Duration::from_secs(2 * 3600),
            session_absolute_timeout: Duration::from_secs(12 * 3600),
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(15 * 60),
            lockout_duration: Duration::from_secs(15 * 60),
            max_token_lifetime: Duration::from_secs(365 * 24 * 3600),
            password_policy: PasswordPolicy::default(),
            totp_issuer: "Plinth".to_string(),
            auth_cache_ttl: AUTH_CACHE_TTL,
        }
    }
}

/// Where a request comes from, for the audit log and per-address throttling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address.
    pub ip: String,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (cookie); state-changing forms must echo `csrf_token`.
    Session {
        /// SHA-256 of the session id.
        id_hash: String,
        /// The session's CSRF token.
        csrf_token: String,
    },
    /// A personal API token (`Authorization: Bearer`).
    Token {
        /// The token's id.
        token_id: String,
        /// The only project it may reach.
        project_id: Option<String>,
        /// It may only read.
        read_only: bool,
    },
    /// A visitor signed in on one App's origin by the gateway's cookie: limited to the
    /// App's project, read-only, never accepted by the API.
    AppVisit {
        /// The App's project.
        project_id: String,
    },
}

/// An authenticated caller. Only [`IdentityService`] creates principals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    user: User,
    credential: Credential,
}

impl Principal {
    /// Returns the user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Returns the credential used.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Returns whether the caller is a platform admin (through an unscoped credential).
    pub fn is_admin(&self) -> bool {
        self.user.is_admin && self.project_scope().is_none()
    }

    /// Returns the project a scoped token is limited to.
    pub fn project_scope(&self) -> Option<&str> {
        match &self.credential {
            Credential::Token { project_id, .. } => project_id.as_deref(),
            Credential::AppVisit { project_id } => Some(project_id),
            Credential::Session { .. } => None,
        }
    }

    /// Returns whether the credential may only read.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.credential,
            Credential::Token {
                read_only: true,
                ..
            } | Credential::AppVisit { .. }
        )
    }

    /// Fails unless the caller is a platform admin.
    pub fn require_admin(&self) -> CoreResult<()> {
        if self.is_admin() {
            Ok(())
        } else if self.user.is_admin {
            Err(CoreError::Forbidden(
                "a project-scoped token cannot act as platform admin".to_string(),
            ))
        } else {
            Err(CoreError::Forbidden(
                "needs the platform `admin` role".to_string(),
            ))
        }
    }

    /// Fails for read-only credentials.
    pub fn require_write(&self) -> CoreResult<()> {
        if self.is_read_only() {
            return Err(CoreError::Forbidden("this token is read-only".to_string()));
        }
        Ok(())
    }

    /// Fails for project-scoped tokens: the action is outside any one project.
    pub fn require_unscoped(&self) -> CoreResult<()> {
        if self.project_scope().is_some() {
            return Err(CoreError::Forbidden(
                "a project-scoped token can reach only its project".to_string(),
            ));
        }
        Ok(())
    }
}

/// Proof that the caller may act on a project with at least some role. Only
/// [`IdentityService::authorize_project`] creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectPass {
    project: Project,
    role: Option<Role>,
}

impl ProjectPass {
    /// Returns the project.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Returns the caller's role (`None` for a platform admin who is not a member).
    pub fn role(&self) -> Option<Role> {
        self.role
    }
}

/// Proof that the caller may act on an organization. Only [`IdentityService`] creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgPass {
    organization: Organization,
    role: Option<OrgRole>,
}

impl OrgPass {
    /// Returns the organization.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// Returns the caller's role in it (`None` for an admin who is not a member).
    pub fn role(&self) -> Option<OrgRole> {
        self.role
    }
}

/// Who an audit event is about: a known user, or a name typed at the login form.
#[derive(Clone, Copy, Debug)]
enum Actor<'a> {
    User(&'a User),
    Anonymous(&'a str),
}

/// Accounts, sessions, tokens, organizations, projects, roles, MFA and the audit log.
#[derive(Clone)]
pub struct IdentityService {
    store: Arc<dyn MetadataStore>,
    authenticator: Arc<dyn PasswordAuthenticator>,
    hasher: PasswordHasher,
    secret_box: SecretBox,
    settings: IdentitySettings,
    clock: Arc<dyn Clock>,
    cache: Arc<cache::AuthCache>,
    directories: Arc<Vec<Arc<dyn federation::Directory>>>,
}

impl IdentityService {
    /// Returns the service over `store`, checking passwords against the local accounts.
    pub fn new(
        store: Arc<dyn MetadataStore>,
        hasher: PasswordHasher,
        secret_box: SecretBox,
        settings: IdentitySettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let authenticator = Arc::new(LocalAuthenticator::new(store.clone(), hasher.clone()));
        let cache = Arc::new(cache::AuthCache::new(settings.auth_cache_ttl));
        IdentityService {
            store,
            authenticator,
            hasher,
            secret_box,
            settings,
            clock,
            cache,
            directories: Arc::new(Vec::new()),
        }
    }

    /// Returns the service checking passwords with `authenticator` instead (a directory).
    pub fn with_authenticator(mut self, authenticator: Arc<dyn PasswordAuthenticator>) -> Self {
        self.authenticator = authenticator;
        self
    }

    /// Returns the settings.
    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Appends to the audit log. A failure to audit is logged, never hidden, and does not
    /// undo the action it describes (which already happened).
    async fn audit(
        &self,
        actor: Actor<'_>,
        action: &str,
        target: &str,
        client: &ClientInfo,
        success: bool,
        details: serde_json::Value,
    ) {
        let (actor_id, actor_name) = match actor {
            Actor::User(user) => (Some(user.id.to_string()), user.username.to_string()),
            Actor::Anonymous(name) => (None, name.to_string()),
        };
        let event = NewAuditEvent {
            at_ms: self.now(),
            actor_id,
            actor_name,
            action: action.to_string(),
            target: target.to_string(),
            client_ip: client.ip.clone(),
            outcome: if success { "success" } else { "failure" }.to_string(),
            details: details.to_string(),
        };
        if let Err(error) = self.store.append_audit(&event).await {
            tracing::error!(%error, action, target, "cannot write audit event");
        }
    }

    /// Checks that `principal` may act on project `organization/project` with at least
    /// `needed`. Projects the caller may not see are `NotFound`, so their existence does
    /// not leak; a visible project with too small a role is `Forbidden`, naming the role.
    pub async fn authorize_project(
        &self,
        principal: &Principal,
        organization: &str,
        project: &str,
        needed: Role,
    ) -> CoreResult<ProjectPass> {
        let not_found = || CoreError::NotFound {
            entity: "project",
            id: format!("{organization}/{project}"),
        };
        let key = cache::ProjectKey::Named {
            user_id: principal.user.id.as_str().to_string(),
            organization: organization.to_string(),
            project: project.to_string(),
        };
        let epoch = self.store.identity_epoch();
        if let Some(access) = self.cache.project(&key, epoch) {
            return self.check_project_access(principal, access, needed, not_found);
        }
        let access = match self
            .store
            .get_project(organization, project, &principal.user.id)
            .await
        {
            Ok(access) => {
                self.cache.put_project(key, access.clone(), epoch);
                access
            }
            Err(plinth_metastore::StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error.into()),
        };
        self.check_project_access(principal, access, needed, not_found)
    }

    /// Returns the principal of a visitor the gateway signed in on an App's origin (its
    /// cookie names the user), once it has checked that they are still active and may still
    /// view `project_id`, the App's project: a read-only principal limited to that project.
    pub async fn app_visitor(
        &self,
        user_id: &plinth_types::UserId,
        project_id: &str,
    ) -> CoreResult<Principal> {
        let user = match self.store.get_user_record(user_id).await {
            Ok(record) => record.user,
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                return Err(CoreError::Unauthenticated(
                    "this account no longer exists".to_string(),
                ))
            }
            Err(error) => return Err(error.into()),
        };
        if !user.is_active {
            return Err(CoreError::Unauthenticated(
                "this account is deactivated".to_string(),
            ));
        }
        let principal = Principal {
            user,
            credential: Credential::AppVisit {
                project_id: project_id.to_string(),
            },
        };
        self.authorize_project_by_id(&principal, project_id, Role::Viewer)
            .await?;
        Ok(principal)
    }

    /// Returns the principal a pipeline run's tasks act as: the user who started the run,
    /// still active and still at least a Contributor of `project_id` (checked again at
    /// every task, so a member removed mid-run stops the run), with a credential limited
    /// to that project.
    pub async fn pipeline_actor(
        &self,
        user_id: &plinth_types::UserId,
        project_id: &str,
        run_id: &str,
    ) -> CoreResult<(Principal, ProjectPass)> {
        let user = match self.store.get_user_record(user_id).await {
            Ok(record) => record.user,
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                return Err(CoreError::Forbidden(
                    "the run's creator no longer exists".to_string(),
                ))
            }
            Err(error) => return Err(error.into()),
        };
        if !user.is_active {
            return Err(CoreError::Forbidden(
                "the run's creator is deactivated".to_string(),
            ));
        }
        let principal = Principal {
            user,
            credential: Credential::Token {
                token_id: format!("pipeline-run:{run_id}"),
                project_id: Some(project_id.to_string()),
                read_only: false,
            },
        };
        let pass = self
            .authorize_project_by_id(&principal, project_id, Role::Contributor)
            .await?;
        Ok((principal, pass))
    }

    /// Like [`IdentityService::authorize_project`], for a project named by its id (what a
    /// project-scoped token carries).
    pub async fn authorize_project_by_id(
        &self,
        principal: &Principal,
        project_id: &str,
        needed: Role,
    ) -> CoreResult<ProjectPass> {
        let not_found = || CoreError::NotFound {
            entity: "project",
            id: project_id.to_string(),
        };
        let key = cache::ProjectKey::Id {
            user_id: principal.user.id.as_str().to_string(),
            project_id: project_id.to_string(),
        };
        let epoch = self.store.identity_epoch();
        if let Some(access) = self.cache.project(&key, epoch) {
            return self.check_project_access(principal, access, needed, not_found);
        }
        let access = match self
            .store
            .get_project_by_id(project_id, &principal.user.id)
            .await
        {
            Ok(access) => {
                self.cache.put_project(key, access.clone(), epoch);
                access
            }
            Err(plinth_metastore::StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error.into()),
        };
        self.check_project_access(principal, access, needed, not_found)
    }

    fn check_project_access(
        &self,
        principal: &Principal,
        access: plinth_metastore::ProjectAccess,
        needed: Role,
        not_found: impl Fn() -> CoreError,
    ) -> CoreResult<ProjectPass> {
        if principal
            .project_scope()
            .is_some_and(|scope| scope != access.project.id)
        {
            return Err(not_found());
        }
        let effective = if principal.user.is_admin {
            Some(Role::Owner)
        } else {
            access.role
        };
        let Some(effective) = effective else {
            return Err(not_found());
        };
        if effective < needed {
            return Err(CoreError::Forbidden(format!(
                "needs the `{needed}` role in project `{}/{}`; you have `{effective}`",
                access.project.organization, access.project.name
            )));
        }
        if needed > Role::Viewer {
            principal.require_write()?;
        }
        Ok(ProjectPass {
            project: access.project,
            role: access.role,
        })
    }
}

#[cfg(test)]
mod tests;
