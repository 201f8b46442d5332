//! Accounts: admins create, change, deactivate and reactivate users and reset passwords
//! and MFA; users change their own profile and password; self sign-up when enabled.

use plinth_metastore::{self as store, NewUser};
pub use plinth_types::AuthSettingsView;
use plinth_types::{parse_email, User, Username};
use serde_json::json;

use super::{Actor, ClientInfo, IdentityService, Principal};
use crate::{CoreError, CoreResult};

const SIGNUP_ENABLED: &str = "auth.signup_enabled";
const SIGNUP_DOMAINS: &str = "auth.signup_domains";
const MFA_REQUIRED: &str = "auth.mfa_required";

/// An account an admin creates.
#[derive(Clone, Debug, Default)]
pub struct NewAccount {
    /// Login name.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Name shown in the UI; empty means the username.
    pub display_name: String,
    /// Initial password (checked against the policy).
    pub password: String,
    /// Make a platform admin.
    pub is_admin: bool,
}

/// Changes an admin makes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New email (validated and lowercased by the service).
    pub email: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// Grant or revoke platform admin.
    pub is_admin: Option<bool>,
    /// Deactivate (`false`) or reactivate (`true`).
    pub is_active: Option<bool>,
}

impl IdentityService {
    /// Returns the run-time auth settings.
    pub async fn auth_settings(&self) -> CoreResult<AuthSettingsView> {
        let flag = |value: Option<String>| value.as_deref() == Some("true");
        Ok(AuthSettingsView {
            // A directory turns local sign-up off, whatever the stored setting says.
            signup_enabled: flag(self.store.get_server_metadata(SIGNUP_ENABLED).await?)
                && !self.federation_enabled(),
            signup_domains: self
                .store
                .get_server_metadata(SIGNUP_DOMAINS)
                .await?
                .map(|domains| {
                    domains
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            mfa_required: flag(self.store.get_server_metadata(MFA_REQUIRED).await?),
        })
    }

    /// Returns whether `user` must enroll two-factor authentication before doing anything
    /// else (an admin requires MFA for everyone and the user has none yet).
    pub async fn must_enroll_mfa(&self, user: &User) -> CoreResult<bool> {
        Ok(!user.mfa_enabled && self.auth_settings().await?.mfa_required)
    }

    /// Changes the run-time auth settings (admins only).
    pub async fn update_auth_settings(
        &self,
        principal: &Principal,
        settings: &AuthSettingsView,
        client: &ClientInfo,
    ) -> CoreResult<AuthSettingsView> {
        principal.require_admin()?;
        principal.require_write()?;
        let mut domains = Vec::new();
        for domain in &settings.signup_domains {
            let domain = domain.trim().trim_start_matches('@').to_lowercase();
            if domain.is_empty() {
                continue;
            }
            if !domain.contains('.')
                || domain.contains(|c: char| c.is_whitespace() || c == '@' || c == ',')
            {
                return Err(CoreError::InvalidArgument(format!(
                    "invalid `signup_domains`: `{domain}` is not a domain"
                )));
            }
            domains.push(domain);
        }
        self.store
            .set_server_metadata(SIGNUP_ENABLED, &settings.signup_enabled.to_string())
            .await?;
        self.store
            .set_server_metadata(SIGNUP_DOMAINS, &domains.join(","))
            .await?;
        self.store
            .set_server_metadata(MFA_REQUIRED, &settings.mfa_required.to_string())
            .await?;
        let updated = self.auth_settings().await?;
        self.audit(
            Actor::User(principal.user()),
            "settings.auth",
            "settings:auth",
            client,
            true,
            json!(updated),
        )
        .await;
        Ok(updated)
    }

    fn new_user(
        &self,
        username: &str,
        email: &str,
        display_name: &str,
        password: &str,
        is_admin: bool,
    ) -> CoreResult<NewUser> {
        let username = Username::parse(username)?;
        let email = parse_email(email)?;
        self.settings
            .password_policy
            .check(password, username.as_str(), &email)?;
        let display_name = display_name.trim();
        if display_name.chars().count() > 128 {
            return Err(CoreError::InvalidArgument(
                "invalid `display_name`: must be at most 128 characters".to_string(),
            ));
        }
        Ok(NewUser {
            display_name: if display_name.is_empty() {
                username.to_string()
            } else {
                display_name.to_string()
            },
            username,
            email,
            password_hash: Some(self.hasher.hash(password)?),
            is_admin,
        })
    }

    /// Creates a user (admins only).
    pub async fn create_user(
        &self,
        principal: &Principal,
        account: &NewAccount,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        principal.require_admin()?;
        principal.require_write()?;
        let new = self.new_user(
            &account.username,
            &account.email,
            &account.display_name,
            &account.password,
            account.is_admin,
        )?;
        let user = self.store.create_user(&new, self.now()).await?;
        self.audit(
            Actor::User(principal.user()),
            "user.create",
            &format!("user:{}", user.username),
            client,
            true,
            json!({ "is_admin": account.is_admin }),
        )
        .await;
        Ok(user)
    }

    /// Creates an account for a visitor, when sign-up is enabled (and the email's domain is
    /// allowed).
    pub async fn sign_up(
        &self,
        username: &str,
        email: &str,
        display_name: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        if self.federation_enabled() {
            return Err(CoreError::Forbidden(
                "sign-up is off while a directory is configured; log in with your directory account"
                    .to_string(),
            ));
        }
        let settings = self.auth_settings().await?;
        if !settings.signup_enabled {
            return Err(CoreError::Forbidden(
                "sign-up is disabled; ask an administrator for an account".to_string(),
            ));
        }
        let new = self.new_user(username, email, display_name, password, false)?;
        let domain = new.email.rsplit('@').next().unwrap_or_default();
        if !settings.signup_domains.is_empty()
            && !settings
                .signup_domains
                .iter()
                .any(|allowed| allowed == domain)
        {
            return Err(CoreError::Forbidden(format!(
                "sign-up is limited to addresses at {}",
                settings
                    .signup_domains
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let user = self.store.create_user(&new, self.now()).await?;
        self.audit(
            Actor::User(&user),
            "user.signup",
            &format!("user:{}", user.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(user)
    }

    /// Returns a user by username (admins, or the user themself).
    pub async fn get_user(&self, principal: &Principal, username: &str) -> CoreResult<User> {
        if principal.user().username.as_str() != username.to_lowercase() {
            principal.require_admin()?;
        }
        self.find_user_by_username(username).await
    }

    /// Lists users by username (admins see all fields; other users may look up names to add
    /// members, which the API layer limits).
    pub async fn list_users(
        &self,
        principal: &Principal,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> CoreResult<Vec<User>> {
        principal.require_admin()?;
        Ok(self
            .store
            .list_users(search, after, limit.clamp(1, 500))
            .await?)
    }

    /// Changes a user (admins only). Deactivation ends the user's sessions at once; their
    /// tokens stop working at the next request.
    pub async fn update_user(
        &self,
        principal: &Principal,
        username: &str,
        update: UserUpdate,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        principal.require_admin()?;
        principal.require_write()?;
        let target = self.get_user(principal, username).await?;
        if target.id == principal.user().id
            && (update.is_active == Some(false) || update.is_admin == Some(false))
        {
            return Err(CoreError::Conflict(
                "you cannot deactivate yourself or drop your own admin role".to_string(),
            ));
        }
        let update = store::UserUpdate {
            email: update.email.as_deref().map(parse_email).transpose()?,
            display_name: update.display_name,
            is_admin: update.is_admin,
            is_active: update.is_active,
        };
        let user = self
            .store
            .update_user(&target.id, &update, self.now())
            .await?;
        if update.is_active == Some(false) {
            self.store.delete_user_sessions(&user.id, None).await?;
        }
        let action = match update.is_active {
            Some(false) => "user.deactivate",
            Some(true) if !target.is_active => "user.reactivate",
            _ => "user.update",
        };
        let details = json!({ "email": update.email, "display_name": update.display_name, "is_admin": update.is_admin, "is_active": update.is_active });
        self.audit(
            Actor::User(principal.user()),
            action,
            &format!("user:{}", user.username),
            client,
            true,
            details,
        )
        .await;
        Ok(user)
    }

    /// Changes the caller's own display name and email.
    pub async fn update_profile(
        &self,
        principal: &Principal,
        display_name: Option<String>,
        email: Option<String>,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        principal.require_unscoped()?;
        principal.require_write()?;
        let update = store::UserUpdate {
            email: email.as_deref().map(parse_email).transpose()?,
            display_name: display_name
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty()),
            ..store::UserUpdate::default()
        };
        let user = self
            .store
            .update_user(&principal.user().id, &update, self.now())
            .await?;
        self.audit(
            Actor::User(&user),
            "user.profile",
            &format!("user:{}", user.username),
            client,
            true,
            json!({ "email": update.email }),
        )
        .await;
        Ok(user)
    }

    /// Changes the caller's password, proven by the current one. Other sessions end.
    pub async fn change_own_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_unscoped()?;
        principal.require_write()?;
        let record = self.store.get_user_record(&principal.user().id).await?;
        let matches = match record.password_hash.as_deref() {
            Some(hash) => self.hasher.verify(current, hash)?,
            None => false,
        };
        if !matches {
            self.audit(
                Actor::User(&record.user),
                "user.password",
                &format!("user:{}", record.user.username),
                client,
                false,
                json!({}),
            )
            .await;
            return Err(CoreError::InvalidArgument(
                "invalid `current_password`: it is not your current password".to_string(),
            ));
        }
        self.settings.password_policy.check(
            new,
            record.user.username.as_str(),
            &record.user.email,
        )?;
        self.store
            .set_password_hash(&record.user.id, &self.hasher.hash(new)?, self.now())
            .await?;
        let current_session = match principal.credential() {
            super::Credential::Session { id_hash, .. } => Some(id_hash.as_str()),
            super::Credential::Token { .. } | super::Credential::AppVisit { .. } => None,
        };
        self.store
            .delete_user_sessions(&record.user.id, current_session)
            .await?;
        self.audit(
            Actor::User(&record.user),
            "user.password",
            &format!("user:{}", record.user.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Sets a user's password (admins only); the user's sessions end.
    pub async fn reset_password(
        &self,
        principal: &Principal,
        username: &str,
        new: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        let target = self.get_user(principal, username).await?;
        self.settings
            .password_policy
            .check(new, target.username.as_str(), &target.email)?;
        self.store
            .set_password_hash(&target.id, &self.hasher.hash(new)?, self.now())
            .await?;
        self.store.delete_user_sessions(&target.id, None).await?;
        self.audit(
            Actor::User(principal.user()),
            "user.password_reset",
            &format!("user:{}", target.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Removes a user's MFA so they can enroll again (admins only).
    pub async fn reset_mfa(
        &self,
        principal: &Principal,
        username: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        let target = self.get_user(principal, username).await?;
        self.store
            .set_mfa(&target.id, None, false, self.now())
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "mfa.reset",
            &format!("user:{}", target.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }
}
