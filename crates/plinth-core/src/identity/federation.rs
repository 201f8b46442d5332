//! Accounts that come from outside: LDAP / Active Directory directories (users type their
//! directory password at Plinth's login form) and OpenID Connect providers (users log in
//! at the provider). The clients live in `plinth-federation`; this module is what the
//! identity service does with their answers: create the account at the first login,
//! update its email, name and roles at each login and each directory sync, and deactivate
//! it when the directory no longer has it (its sessions and tokens end at once through the
//! identity epoch).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plinth_metastore::{self as store, NewUser, OrgRole, StoreError, UserRecord};
use plinth_types::{parse_email, Role, User, Username};
use serde::Serialize;
use serde_json::json;

use super::{Actor, ClientInfo, IdentityService, Principal};
use crate::{CoreError, CoreResult};

/// The roles an external account's groups grant, and the scope the mapping owns: roles in
/// a managed organization or project that no group grants any more are taken away;
/// memberships elsewhere (granted by hand) are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RoleGrants {
    /// Whether the groups make the user a platform admin.
    pub platform_admin: bool,
    /// Whether the mapping decides the admin flag at all (some mapping grants it).
    pub manages_admin: bool,
    /// Organization name → the highest role granted.
    pub organizations: BTreeMap<String, OrgRole>,
    /// `(organization, project)` → the highest role granted.
    pub projects: BTreeMap<(String, String), Role>,
    /// Every organization some mapping names.
    pub managed_organizations: Vec<String>,
    /// Every project some mapping names.
    pub managed_projects: Vec<(String, String)>,
}

/// A user as a directory or provider describes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExternalAccount {
    /// The directory or provider's configured name.
    pub provider: String,
    /// The stable id there: the username attribute's value (LDAP) or the `sub` claim.
    pub subject: String,
    /// The Plinth username.
    pub username: String,
    /// The email address (may be empty: a placeholder is used).
    pub email: String,
    /// Whether the provider vouches for the email (always false for LDAP).
    pub email_verified: bool,
    /// The display name.
    pub display_name: String,
    /// The groups found (DNs or group names), for the admin's "test login".
    pub groups: Vec<String>,
    /// What the groups grant.
    pub grants: RoleGrants,
}

/// A directory's answer to a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryLogin {
    /// The password is right.
    Accepted(Box<ExternalAccount>),
    /// Unknown user or wrong password (not told apart).
    Refused,
    /// The directory has the user but marks them disabled.
    Disabled,
}

/// A directory's answer to "do you still have this user?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryLookup {
    /// Yes, as this.
    Found(Box<ExternalAccount>),
    /// No such entry any more.
    Gone,
    /// The entry is disabled.
    Disabled,
}

/// What an admin sees of a configured directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryInfo {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// `ldaps`, `starttls` or `plain`.
    pub security: String,
    /// The user search base.
    pub user_base: String,
    /// The user filter.
    pub user_filter: String,
}

/// A directory users log in with by password. Errors reaching it are
/// [`CoreError::Unavailable`].
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Returns what an admin sees of it.
    fn info(&self) -> DirectoryInfo;

    /// Checks `login`'s password (search with the service account, then bind as the user).
    async fn authenticate(&self, login: &str, password: &str) -> CoreResult<DirectoryLogin>;

    /// Looks `subject` up again (for the periodic sync).
    async fn lookup(&self, subject: &str) -> CoreResult<DirectoryLookup>;

    /// Connects and binds with the service account; returns a line saying what worked.
    async fn test_connection(&self) -> CoreResult<String>;
}

/// What one directory's sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectorySync {
    /// The directory.
    pub directory: String,
    /// Accounts looked up.
    pub checked: usize,
    /// Accounts whose email, name or roles changed.
    pub updated: usize,
    /// Accounts deactivated (gone or disabled in the directory).
    pub deactivated: usize,
    /// Why the sync stopped early (the directory was unreachable): nothing is deactivated
    /// on an error.
    pub error: Option<String>,
}

/// How a first external login may be matched to an existing account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPolicy {
    /// Only accounts this provider created or linked before.
    Never,
    /// Also an existing account with the same email, when the provider says it is verified.
    VerifiedEmail,
}

impl IdentityService {
    /// Returns the service with password logins also checked against `directories` (in
    /// order). Local accounts that have a password still log in locally first.
    pub fn with_directories(mut self, directories: Vec<Arc<dyn Directory>>) -> Self {
        self.directories = Arc::new(directories);
        self
    }

    /// Returns whether a directory is configured (local sign-up is then off).
    pub fn federation_enabled(&self) -> bool {
        !self.directories.is_empty()
    }

    fn directory(&self, name: &str) -> CoreResult<&Arc<dyn Directory>> {
        self.directories
            .iter()
            .find(|directory| directory.info().name == name)
            .ok_or_else(|| CoreError::NotFound {
                entity: "directory",
                id: name.to_string(),
            })
    }

    /// Lists the configured directories (admins only).
    pub fn list_directories(&self, principal: &Principal) -> CoreResult<Vec<DirectoryInfo>> {
        principal.require_admin()?;
        Ok(self.directories.iter().map(|d| d.info()).collect())
    }

    /// Connects to directory `name` with its service account (admins only).
    pub async fn test_directory_connection(
        &self,
        principal: &Principal,
        name: &str,
        client: &ClientInfo,
    ) -> CoreResult<String> {
        principal.require_admin()?;
        let result = self.directory(name)?.test_connection().await;
        self.audit(
            Actor::User(principal.user()),
            "federation.test_connection",
            &format!("directory:{name}"),
            client,
            result.is_ok(),
            json!({ "error": result.as_ref().err().map(ToString::to_string) }),
        )
        .await;
        result
    }

    /// Checks a directory user's password and returns what their account would be,
    /// without creating or changing it (admins only).
    pub async fn test_directory_login(
        &self,
        principal: &Principal,
        name: &str,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<ExternalAccount> {
        principal.require_admin()?;
        principal.require_write()?;
        let answer = self
            .directory(name)?
            .authenticate(username.trim(), password)
            .await;
        let outcome = match &answer {
            Ok(DirectoryLogin::Accepted(_)) => "accepted",
            Ok(DirectoryLogin::Refused) => "refused",
            Ok(DirectoryLogin::Disabled) => "disabled",
            Err(_) => "unavailable",
        };
        self.audit(
            Actor::User(principal.user()),
            "federation.test_login",
            &format!("directory:{name}"),
            client,
            matches!(answer, Ok(DirectoryLogin::Accepted(_))),
            json!({ "username": username.trim(), "outcome": outcome }),
        )
        .await;
        match answer? {
            DirectoryLogin::Accepted(account) => {
                Username::parse(&account.username)?;
                Ok(*account)
            }
            DirectoryLogin::Refused => Err(CoreError::Unauthenticated(format!(
                "directory `{name}` refused the login: unknown user or wrong password"
            ))),
            DirectoryLogin::Disabled => Err(CoreError::Unauthenticated(format!(
                "directory `{name}` has this user disabled"
            ))),
        }
    }

    /// Checks a password against the directories, in order; creates or updates the
    /// account of the first that accepts. `None`: every reachable directory refused.
    pub(super) async fn directory_login(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<Option<UserRecord>> {
        let mut unavailable = Vec::new();
        for directory in self.directories.iter() {
            let name = directory.info().name;
            match directory.authenticate(login, password).await {
                Ok(DirectoryLogin::Accepted(account)) => {
                    return match self
                        .provision_external(&account, LinkPolicy::Never, client)
                        .await
                    {
                        Ok(record) => Ok(Some(record)),
                        Err(error) => {
                            self.audit(
                                Actor::Anonymous(login),
                                "login.failure",
                                &format!("user:{login}"),
                                client,
                                false,
                                json!({ "reason": error.to_string(), "directory": name }),
                            )
                            .await;
                            Err(error)
                        }
                    };
                }
                Ok(DirectoryLogin::Refused) => {}
                Ok(DirectoryLogin::Disabled) => {
                    self.audit(
                        Actor::Anonymous(login),
                        "login.failure",
                        &format!("user:{login}"),
                        client,
                        false,
                        json!({ "reason": "disabled in the directory", "directory": name }),
                    )
                    .await;
                    return Err(CoreError::Unauthenticated(
                        "this account is disabled in the directory; ask an administrator"
                            .to_string(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(directory = %name, %error, "directory unavailable at login");
                    unavailable.push((name, error.to_string()));
                }
            }
        }
        if let Some((name, error)) = unavailable.first() {
            self.audit(
                Actor::Anonymous(login),
                "login.failure",
                &format!("user:{login}"),
                client,
                false,
                json!({ "reason": "directory unavailable", "directory": name, "error": error }),
            )
            .await;
            return Err(CoreError::Unavailable(format!(
                "the directory `{name}` is unavailable; try again later (local accounts can still log in)"
            )));
        }
        Ok(None)
    }

    /// Logs in an account an OpenID Connect provider vouched for: creates it at the first
    /// login (or links it to an existing account by verified email, when `link` allows),
    /// updates it and its roles, and audits like a password login.
    pub async fn external_login(
        &self,
        account: &ExternalAccount,
        link: LinkPolicy,
        client: &ClientInfo,
    ) -> CoreResult<super::LoginOutcome> {
        let record = match self.provision_external(account, link, client).await {
            Ok(record) => record,
            Err(error) => {
                self.audit(
                    Actor::Anonymous(&account.username),
                    "login.failure",
                    &format!("user:{}", account.username),
                    client,
                    false,
                    json!({ "provider": account.provider, "reason": error.to_string() }),
                )
                .await;
                return Err(error);
            }
        };
        self.finish_login(record, client, &account.provider).await
    }

    /// Audits a refused single sign-on callback (bad state, token, nonce …).
    pub async fn audit_external_refusal(&self, provider: &str, reason: &str, client: &ClientInfo) {
        self.audit(
            Actor::Anonymous(&format!("{provider}:?")),
            "login.failure",
            &format!("provider:{provider}"),
            client,
            false,
            json!({ "provider": provider, "reason": reason }),
        )
        .await;
    }

    /// Returns the directories and providers the caller's account is linked to.
    pub async fn federated_providers(&self, principal: &Principal) -> CoreResult<Vec<String>> {
        Ok(self
            .store
            .federated_providers_of(&principal.user().id)
            .await?)
    }

    /// Finds, links or creates the account of `account`, then brings its email, name,
    /// admin flag and memberships up to date.
    async fn provision_external(
        &self,
        account: &ExternalAccount,
        link: LinkPolicy,
        client: &ClientInfo,
    ) -> CoreResult<UserRecord> {
        let username = Username::parse(&account.username).map_err(|error| {
            CoreError::InvalidArgument(format!(
                "`{}` from `{}` cannot be a Plinth username: {}",
                account.username, account.provider, error.reason
            ))
        })?;
        let email = external_email(account, &username);
        let now = self.now();
        let linked = self
            .store
            .find_federated_identity(&account.provider, &account.subject)
            .await?;
        let record = match linked {
            Some(user_id) => self.store.get_user_record(&user_id).await?,
            None => {
                let by_email = if link == LinkPolicy::VerifiedEmail && account.email_verified {
                    self.store
                        .find_user_by_login(&email)
                        .await?
                        .filter(|record| record.user.email == email)
                } else {
                    None
                };
                if let Some(record) = by_email {
                    self.store
                        .link_federated_identity(
                            &account.provider,
                            &account.subject,
                            &record.user.id,
                            now,
                        )
                        .await?;
                    self.audit(
                        Actor::User(&record.user),
                        "federation.link",
                        &format!("user:{}", record.user.username),
                        client,
                        true,
                        json!({ "provider": account.provider, "subject": account.subject, "by": "verified email" }),
                    )
                    .await;
                    record
                } else {
                    if self
                        .store
                        .find_user_by_login(username.as_str())
                        .await?
                        .is_some()
                    {
                        return Err(CoreError::Conflict(format!(
                            "an account named `{username}` already exists and is not linked to `{}`; an administrator must rename or remove it",
                            account.provider
                        )));
                    }
                    let new = NewUser {
                        username: username.clone(),
                        email: email.clone(),
                        display_name: display_name_of(account, &username),
                        password_hash: None,
                        is_admin: account.grants.manages_admin && account.grants.platform_admin,
                    };
                    let user = match self.store.create_user(&new, now).await {
                        Ok(user) => user,
                        Err(StoreError::AlreadyExists { entity, id }) => {
                            return Err(CoreError::Conflict(format!(
                                "cannot create the account of `{username}` from `{}`: {entity} `{id}` is already taken",
                                account.provider
                            )))
                        }
                        Err(error) => return Err(error.into()),
                    };
                    self.store
                        .link_federated_identity(&account.provider, &account.subject, &user.id, now)
                        .await?;
                    self.audit(
                        Actor::User(&user),
                        "federation.account.create",
                        &format!("user:{username}"),
                        client,
                        true,
                        json!({ "provider": account.provider, "subject": account.subject }),
                    )
                    .await;
                    self.store.get_user_record(&user.id).await?
                }
            }
        };
        self.update_external(&record.user, account, client).await?;
        self.store
            .link_federated_identity(&account.provider, &account.subject, &record.user.id, now)
            .await?;
        Ok(self.store.get_user_record(&record.user.id).await?)
    }

    /// Brings `user`'s email, name, admin flag and managed memberships in line with
    /// `account`. Returns whether anything changed.
    async fn update_external(
        &self,
        user: &User,
        account: &ExternalAccount,
        client: &ClientInfo,
    ) -> CoreResult<bool> {
        let now = self.now();
        let mut changes = Vec::new();
        let email = external_email(account, &user.username);
        let display_name = display_name_of(account, &user.username);
        let mut update = store::UserUpdate::default();
        if email != user.email {
            update.email = Some(email);
            changes.push("email".to_string());
        }
        if display_name != user.display_name {
            update.display_name = Some(display_name);
            changes.push("display_name".to_string());
        }
        if account.grants.manages_admin && account.grants.platform_admin != user.is_admin {
            update.is_admin = Some(account.grants.platform_admin);
            changes.push(format!("is_admin={}", account.grants.platform_admin));
        }
        if !changes.is_empty() {
            match self.store.update_user(&user.id, &update, now).await {
                Ok(_) => {}
                Err(StoreError::AlreadyExists { entity, id }) => {
                    return Err(CoreError::Conflict(format!(
                        "cannot update the account `{}` from `{}`: {entity} `{id}` is already taken",
                        user.username, account.provider
                    )))
                }
                Err(error) => return Err(error.into()),
            }
        }
        for organization in &account.grants.managed_organizations {
            let org = match self.store.get_organization(organization).await {
                Ok(org) => org,
                Err(StoreError::NotFound { .. }) => {
                    tracing::warn!(%organization, provider = %account.provider, "a role mapping names an organization that does not exist");
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let wanted = account.grants.organizations.get(organization).copied();
            let current = self.store.get_organization_role(&org.id, &user.id).await?;
            if wanted == current {
                continue;
            }
            match wanted {
                Some(role) => {
                    self.store
                        .set_organization_member(&org.id, &user.id, role, now)
                        .await?;
                    changes.push(format!("organization {organization}: {}", role.as_str()));
                }
                None => {
                    self.store
                        .remove_organization_member(&org.id, &user.id)
                        .await?;
                    changes.push(format!("organization {organization}: removed"));
                }
            }
        }
        for key in &account.grants.managed_projects {
            let (organization, project) = key;
            let access = match self
                .store
                .get_project(organization, project, &user.id)
                .await
            {
                Ok(access) => access,
                Err(StoreError::NotFound { .. }) => {
                    tracing::warn!(%organization, %project, provider = %account.provider, "a role mapping names a project that does not exist");
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let wanted = account.grants.projects.get(key).copied();
            if wanted == access.role {
                continue;
            }
            match wanted {
                Some(role) => {
                    self.store
                        .set_project_member(&access.project.id, &user.id, role, now)
                        .await?;
                    changes.push(format!("project {organization}/{project}: {role}"));
                }
                None => {
                    self.store
                        .remove_project_member(&access.project.id, &user.id)
                        .await?;
                    changes.push(format!("project {organization}/{project}: removed"));
                }
            }
        }
        if changes.is_empty() {
            return Ok(false);
        }
        self.audit(
            Actor::User(user),
            "federation.account.update",
            &format!("user:{}", user.username),
            client,
            true,
            json!({ "provider": account.provider, "changes": changes }),
        )
        .await;
        Ok(true)
    }

    /// Looks every linked account of every directory up again: updates the found ones,
    /// deactivates (and logs out) the ones deleted or disabled there. A directory that
    /// cannot be reached is skipped whole: nobody is deactivated on an error.
    pub async fn sync_directories(&self) -> Vec<DirectorySync> {
        let mut reports = Vec::new();
        for directory in self.directories.iter() {
            reports.push(self.sync_directory(directory.as_ref()).await);
        }
        reports
    }

    /// Runs [`IdentityService::sync_directories`] for an admin (the API's "sync now").
    pub async fn sync_directories_now(
        &self,
        principal: &Principal,
    ) -> CoreResult<Vec<DirectorySync>> {
        principal.require_admin()?;
        principal.require_write()?;
        Ok(self.sync_directories().await)
    }

    async fn sync_directory(&self, directory: &dyn Directory) -> DirectorySync {
        let name = directory.info().name;
        let mut report = DirectorySync {
            directory: name.clone(),
            ..DirectorySync::default()
        };
        let client = ClientInfo {
            ip: "directory-sync".to_string(),
            user_agent: String::new(),
        };
        let links = match self.store.list_federated_identities(&name).await {
            Ok(links) => links,
            Err(error) => {
                report.error = Some(error.to_string());
                return report;
            }
        };
        for (subject, user_id) in links {
            report.checked += 1;
            let answer = match directory.lookup(&subject).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::warn!(directory = %name, %error, "directory sync stopped");
                    report.error = Some(error.to_string());
                    break;
                }
            };
            let result = self
                .sync_one(&name, &subject, &user_id, answer, &client)
                .await;
            match result {
                Ok(SyncChange::None) => {}
                Ok(SyncChange::Updated) => report.updated += 1,
                Ok(SyncChange::Deactivated) => report.deactivated += 1,
                Err(error) => {
                    tracing::warn!(directory = %name, %subject, %error, "cannot sync an account");
                }
            }
        }
        if report.updated + report.deactivated > 0 || report.error.is_some() {
            tracing::info!(directory = %name, checked = report.checked, updated = report.updated, deactivated = report.deactivated, error = ?report.error, "directory sync");
        }
        report
    }

    async fn sync_one(
        &self,
        directory: &str,
        subject: &str,
        user_id: &plinth_types::UserId,
        answer: DirectoryLookup,
        client: &ClientInfo,
    ) -> CoreResult<SyncChange> {
        let user = match self.store.get_user_record(user_id).await {
            Ok(record) => record.user,
            Err(StoreError::NotFound { .. }) => return Ok(SyncChange::None),
            Err(error) => return Err(error.into()),
        };
        let reason = match answer {
            DirectoryLookup::Found(account) => {
                if !user.is_active {
                    return Ok(SyncChange::None);
                }
                return Ok(if self.update_external(&user, &account, client).await? {
                    SyncChange::Updated
                } else {
                    SyncChange::None
                });
            }
            DirectoryLookup::Gone => "deleted from the directory",
            DirectoryLookup::Disabled => "disabled in the directory",
        };
        if !user.is_active {
            return Ok(SyncChange::None);
        }
        self.deactivate_external(&user, directory, subject, reason, client)
            .await?;
        Ok(SyncChange::Deactivated)
    }

    async fn deactivate_external(
        &self,
        user: &User,
        directory: &str,
        subject: &str,
        reason: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let update = store::UserUpdate {
            is_active: Some(false),
            ..store::UserUpdate::default()
        };
        self.store
            .update_user(&user.id, &update, self.now())
            .await?;
        self.store.delete_user_sessions(&user.id, None).await?;
        self.audit(
            Actor::User(user),
            "federation.account.deactivate",
            &format!("user:{}", user.username),
            client,
            true,
            json!({ "provider": directory, "subject": subject, "reason": reason }),
        )
        .await;
        Ok(())
    }
}

enum SyncChange {
    None,
    Updated,
    Deactivated,
}

fn external_email(account: &ExternalAccount, username: &Username) -> String {
    parse_email(&account.email).unwrap_or_else(|_| {
        // Every account needs a unique email; a directory entry without one gets a
        // placeholder the user cannot receive mail at.
        format!("{username}@{}.invalid", account.provider)
    })
}

fn display_name_of(account: &ExternalAccount, username: &Username) -> String {
    let name: String = account.display_name.trim().chars().take(128).collect();
    if name.is_empty() {
        username.to_string()
    } else {
        name
    }
}
