//! The identity part of the metadata store: users, second factors, sessions, API tokens,
//! organizations, projects, memberships, the audit log and login throttling.
//!
//! Listing methods that filter by what a user may see do so in SQL (a join on the
//! membership tables), never by fetching everything and filtering afterwards.

use async_trait::async_trait;
use plinth_types::{ApiTokenInfo, AuditEvent, Member, Organization, Project, Role, User, UserId};
pub use plinth_types::{OrgMember, OrgRole};

use crate::StoreResult;

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name, already validated.
    pub username: plinth_types::Username,
    /// Email, already validated and lowercased.
    pub email: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// argon2id PHC string; `None` for accounts of an external directory.
    pub password_hash: Option<String>,
    /// Platform administrator.
    pub is_admin: bool,
}

/// A user with the credentials the identity service needs; never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed with the server key.
    pub mfa_secret_sealed: Option<String>,
    /// The last TOTP step accepted (replay protection).
    pub mfa_last_step: Option<i64>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UserRecord")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    /// New email, validated and lowercased.
    pub email: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// Grant or revoke platform admin.
    pub is_admin: Option<bool>,
    /// Deactivate or reactivate.
    pub is_active: Option<bool>,
}

/// A browser session to create.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// SHA-256 of the session id in the cookie.
    pub id_hash: String,
    /// Its user.
    pub user_id: UserId,
    /// The CSRF token forms must echo.
    pub csrf_token: String,
    /// The password step passed but the TOTP step is still due.
    pub mfa_pending: bool,
    /// Creation time.
    pub created_at_ms: i64,
    /// Absolute expiry.
    pub expires_at_ms: i64,
    /// Client address at login.
    pub client_ip: String,
    /// Browser at login.
    pub user_agent: String,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its user.
    pub user_id: UserId,
    /// The CSRF token forms must echo.
    pub csrf_token: String,
    /// The TOTP step is still due.
    pub mfa_pending: bool,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last request.
    pub last_seen_at_ms: i64,
    /// Absolute expiry.
    pub expires_at_ms: i64,
}

/// An API token to create.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    /// Its owner.
    pub user_id: UserId,
    /// The owner's name for it, unique among their tokens.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: String,
    /// First characters, for display.
    pub display_prefix: String,
    /// The only project it may reach.
    pub project_id: Option<String>,
    /// It may only read.
    pub read_only: bool,
    /// Creation time.
    pub created_at_ms: i64,
    /// Expiry.
    pub expires_at_ms: Option<i64>,
}

/// A project together with the caller's role in it (`None` for admins who are not members).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectAccess {
    /// The project.
    pub project: Project,
    /// The caller's role.
    pub role: Option<Role>,
}

/// An audit event to append.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEvent {
    /// When.
    pub at_ms: i64,
    /// Who (user id), if known.
    pub actor_id: Option<String>,
    /// Who, as a name.
    pub actor_name: String,
    /// What happened.
    pub action: String,
    /// To what.
    pub target: String,
    /// From where.
    pub client_ip: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Details as JSON text.
    pub details: String,
}

/// Which audit events to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only actions starting with this (`login.` matches `login.success` and `login.failure`).
    pub action_prefix: Option<String>,
    /// Only this actor name.
    pub actor_name: Option<String>,
    /// Only at or after this time.
    pub since_ms: Option<i64>,
    /// Only before this time.
    pub until_ms: Option<i64>,
    /// Only events older than this id (keyset paging).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// Failed logins counted against one key (`user:NAME` or `ip:ADDRESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures in the current window.
    pub failures: i64,
    /// Locked until then, if locked.
    pub locked_until_ms: Option<i64>,
}

/// Stores identities, memberships, sessions, tokens and the audit log.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// A counter this store advances after every change that can alter what a credential
    /// may do or what it reads back: a user updated (deactivated, admin flag) or logged in, a password or two-factor change, a
    /// session ended or its two-factor step done, a token revoked, an organization or
    /// project changed or deleted, a membership set or removed. Callers that cache
    /// authentication results tag them with the value read *before* their reads and drop
    /// them once it moves (see `plinth-core`'s authentication cache). It counts only this
    /// process's changes: another process writing the same database is not seen.
    fn identity_epoch(&self) -> u64;

    // --- users ---
    /// Creates a user; `AlreadyExists` names the username or email already taken.
    async fn create_user(&self, user: &NewUser, now_ms: i64) -> StoreResult<User>;
    /// Counts users.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Returns a user with credentials.
    async fn get_user_record(&self, id: &UserId) -> StoreResult<UserRecord>;
    /// Finds a user by username or email (both compared lowercase).
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>>;
    /// Lists users by username, optionally those whose username, email or display name
    /// contains `search`, after `after_username`, at most `limit`.
    async fn list_users(
        &self,
        search: Option<&str>,
        after_username: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<User>>;
    /// Changes a user.
    async fn update_user(&self, id: &UserId, update: &UserUpdate, now_ms: i64)
        -> StoreResult<User>;
    /// Replaces a user's password hash.
    async fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Records a successful login.
    async fn record_login(&self, id: &UserId, now_ms: i64) -> StoreResult<()>;
    /// Sets the sealed TOTP secret and whether MFA is enabled (`None`, `false` removes MFA
    /// and its recovery codes).
    async fn set_mfa(
        &self,
        id: &UserId,
        secret_sealed: Option<&str>,
        enabled: bool,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Records the TOTP step just accepted; `false` if it is not newer than the last one
    /// (a replay, or a race with another login).
    async fn advance_mfa_step(&self, id: &UserId, step: i64) -> StoreResult<bool>;
    /// Replaces a user's recovery codes with these hashes.
    async fn replace_recovery_codes(&self, id: &UserId, code_hashes: &[String]) -> StoreResult<()>;
    /// Marks the recovery code with this hash used; `false` if there is no such unused code.
    async fn consume_recovery_code(
        &self,
        id: &UserId,
        code_hash: &str,
        now_ms: i64,
    ) -> StoreResult<bool>;
    /// Counts a user's unused recovery codes.
    async fn count_recovery_codes(&self, id: &UserId) -> StoreResult<i64>;

    // --- sessions ---
    /// Stores a session.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// Returns a session by the hash of its id.
    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// Records activity on a session.
    async fn touch_session(&self, id_hash: &str, now_ms: i64) -> StoreResult<()>;
    /// Marks a session's TOTP step passed.
    async fn complete_session_mfa(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes a session (logout).
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes every session of a user but the one whose id hashes to `keep`; returns how many.
    async fn delete_user_sessions(&self, id: &UserId, keep: Option<&str>) -> StoreResult<u64>;

    // --- API tokens ---
    /// Stores a token; `AlreadyExists` if the user has a token of that name.
    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<ApiTokenInfo>;
    /// Returns the token with this hash and its owner.
    async fn find_api_token(&self, token_hash: &str)
        -> StoreResult<Option<(ApiTokenInfo, UserId)>>;
    /// Lists a user's tokens, newest first.
    async fn list_api_tokens(&self, id: &UserId) -> StoreResult<Vec<ApiTokenInfo>>;
    /// Revokes a user's token; `NotFound` if the user has no such token.
    async fn revoke_api_token(&self, id: &UserId, token_id: &str, now_ms: i64) -> StoreResult<()>;
    /// Records a token's use.
    async fn touch_api_token(&self, token_id: &str, now_ms: i64) -> StoreResult<()>;

    // --- organizations ---
    /// Creates an organization.
    async fn create_organization(
        &self,
        name: &str,
        display_name: &str,
        now_ms: i64,
    ) -> StoreResult<Organization>;
    /// Returns an organization by name.
    async fn get_organization(&self, name: &str) -> StoreResult<Organization>;
    /// Lists organizations by name: all of them, or those `visible_to` belongs to (directly or
    /// through a project).
    async fn list_organizations(
        &self,
        visible_to: Option<&UserId>,
    ) -> StoreResult<Vec<Organization>>;
    /// Deletes an organization and everything in it.
    async fn delete_organization(&self, organization_id: &str) -> StoreResult<()>;
    /// Adds or changes an organization member.
    async fn set_organization_member(
        &self,
        organization_id: &str,
        user_id: &UserId,
        role: OrgRole,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Removes an organization member; `NotFound` if not a member.
    async fn remove_organization_member(
        &self,
        organization_id: &str,
        user_id: &UserId,
    ) -> StoreResult<()>;
    /// Returns a user's role in an organization.
    async fn get_organization_role(
        &self,
        organization_id: &str,
        user_id: &UserId,
    ) -> StoreResult<Option<OrgRole>>;
    /// Lists an organization's members by username.
    async fn list_organization_members(&self, organization_id: &str)
        -> StoreResult<Vec<OrgMember>>;

    // --- projects ---
    /// Creates a project with `owner` as its first owner, in one transaction.
    async fn create_project(
        &self,
        organization_id: &str,
        name: &str,
        display_name: &str,
        description: &str,
        owner: &UserId,
        now_ms: i64,
    ) -> StoreResult<Project>;
    /// Returns a project by organization and project name, with `user`'s role in it.
    async fn get_project(
        &self,
        organization: &str,
        name: &str,
        user: &UserId,
    ) -> StoreResult<ProjectAccess>;
    /// Returns a project by id, with `user`'s role in it.
    async fn get_project_by_id(&self, id: &str, user: &UserId) -> StoreResult<ProjectAccess>;
    /// Lists projects by organization and name: all (with the caller's role where a member),
    /// or only those `visible_to` is a member of; optionally in one organization.
    async fn list_projects(
        &self,
        user: &UserId,
        all: bool,
        organization: Option<&str>,
    ) -> StoreResult<Vec<ProjectAccess>>;
    /// Changes a project's display name and description.
    async fn update_project(
        &self,
        id: &str,
        display_name: &str,
        description: &str,
    ) -> StoreResult<()>;
    /// Deletes a project and everything in it.
    async fn delete_project(&self, id: &str) -> StoreResult<()>;
    /// Adds or changes a project member.
    async fn set_project_member(
        &self,
        project_id: &str,
        user_id: &UserId,
        role: Role,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Removes a project member; `NotFound` if not a member.
    async fn remove_project_member(&self, project_id: &str, user_id: &UserId) -> StoreResult<()>;
    /// Lists a project's members by username.
    async fn list_project_members(&self, project_id: &str) -> StoreResult<Vec<Member>>;

    // --- audit ---
    /// Appends an event; returns its id.
    async fn append_audit(&self, event: &NewAuditEvent) -> StoreResult<i64>;
    /// Lists events newest first.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;

    // --- throttling ---
    /// Counts a failed login against `key`: failures older than `window_ms` are forgotten,
    /// and reaching `max_failures` locks the key for `lock_ms`.
    async fn register_login_failure(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
        max_failures: i64,
        lock_ms: i64,
    ) -> StoreResult<ThrottleState>;
    /// Returns the state of `key`.
    async fn get_throttle(&self, key: &str) -> StoreResult<Option<ThrottleState>>;
    /// Forgets the failures of `key` (after a successful login).
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;

    // --- federation ---
    /// Links the external identity `subject` of `provider` to `user` (or notes that it was
    /// seen again, at `now_ms`).
    async fn link_federated_identity(
        &self,
        provider: &str,
        subject: &str,
        user: &UserId,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Returns the account `subject` of `provider` logs in as.
    async fn find_federated_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>>;
    /// Lists the `(subject, user)` links of `provider`, by subject.
    async fn list_federated_identities(&self, provider: &str)
        -> StoreResult<Vec<(String, UserId)>>;
    /// Returns the providers `user` is linked to.
    async fn federated_providers_of(&self, user: &UserId) -> StoreResult<Vec<String>>;
}
