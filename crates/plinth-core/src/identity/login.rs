//! Logging in and staying logged in: passwords with throttling, the TOTP second step,
//! browser sessions, API-token authentication, MFA enrollment, and the first admin.

use std::time::Duration;

use plinth_auth::{
    generate_recovery_codes, generate_secret, hash_secret, normalize_recovery_code, qr_svg,
    SecretKind, Totp,
};
use plinth_metastore::{NewSession, NewUser, UserRecord};
use plinth_types::{User, UserId, Username};
use serde_json::json;

use super::cache::{CachedSession, CachedToken};
use super::{Actor, ClientInfo, Credential, IdentityService, Principal};
use crate::{CoreError, CoreResult};

/// How many recovery codes a user gets.
const RECOVERY_CODE_COUNT: usize = 10;
/// Activity on a session or token is written at most this often.
const TOUCH_INTERVAL_MS: i64 = 60_000;
/// The message for every failed password check: it never says which part was wrong.
const BAD_CREDENTIALS: &str = "invalid username or password";

/// Proof that the password step passed (and, once `mfa_required` is false, the second
/// step too). Only [`IdentityService`] creates it, so holding one means the checks ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginOutcome {
    user: User,
    mfa_required: bool,
}

impl LoginOutcome {
    /// Returns the user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Returns whether the TOTP step is still due.
    pub fn mfa_required(&self) -> bool {
        self.mfa_required
    }
}

/// A new browser session: the cookie value (shown to the browser only) and its CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie {
    /// The session id, for the cookie.
    pub id: String,
    /// The token forms must echo.
    pub csrf_token: String,
    /// When it ends at the latest.
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SessionCookie")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// What a user needs to enroll an authenticator app; shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaEnrollment {
    /// The base32 secret, for typing in.
    pub secret: String,
    /// The `otpauth://` URL the QR code holds.
    pub otpauth_url: String,
    /// The QR code as SVG.
    pub qr_svg: String,
}

impl std::fmt::Debug for MfaEnrollment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("MfaEnrollment([redacted])")
    }
}

fn minutes_until(until_ms: i64, now_ms: i64) -> i64 {
    ((until_ms - now_ms).max(0) + 59_999) / 60_000
}

impl IdentityService {
    /// Creates the platform admin `admin` when there is no user yet. Uses `password` when
    /// given, else generates one and returns it (to be printed once). Returns `None` when
    /// users already exist.
    pub async fn bootstrap_admin(&self, password: Option<String>) -> CoreResult<Option<String>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let username = Username::parse("admin")?;
        let (password, generated) = match password {
            Some(password) => (password, false),
            None => (
                generate_secret(SecretKind::Csrf)
                    .plaintext
                    .trim_start_matches("plc_")
                    .chars()
                    .take(24)
                    .collect(),
                true,
            ),
        };
        self.settings
            .password_policy
            .check(&password, username.as_str(), "")?;
        let new = NewUser {
            username,
            email: "admin@plinth.invalid".to_string(),
            display_name: "Platform admin".to_string(),
            password_hash: Some(self.hasher.hash(&password)?),
            is_admin: true,
        };
        match self.store.create_user(&new, self.now()).await {
            Ok(user) => {
                self.audit(
                    Actor::User(&user),
                    "user.bootstrap",
                    "user:admin",
                    &ClientInfo::default(),
                    true,
                    json!({}),
                )
                .await;
                Ok(generated.then_some(password))
            }
            // Another replica created it first.
            Err(plinth_metastore::StoreError::AlreadyExists { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Checks a username (or email) and password. Failures count against the account and
    /// the client address; too many lock them. Unknown users take as long as known ones.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let login = login.trim().to_lowercase();
        let account_key = format!("user:{login}");
        let address_key = format!("ip:{}", client.ip);
        let now = self.now();
        for key in [&account_key, &address_key] {
            if let Some(state) = self.store.get_throttle(key).await? {
                if let Some(until) = state.locked_until_ms.filter(|until| *until > now) {
                    self.audit(
                        Actor::Anonymous(&login),
                        "login.locked",
                        &format!("user:{login}"),
                        client,
                        false,
                        json!({ "key": key }),
                    )
                    .await;
                    return Err(CoreError::RateLimited(format!(
                        "too many failed logins; try again in {} minute(s)",
                        minutes_until(until, now)
                    )));
                }
            }
        }
        let record = if self.directories.is_empty() {
            self.authenticator.verify(&login, password).await?
        } else {
            // Local accounts with a password (the `admin`) log in locally first: they are
            // the break-glass way in while the directory is down.
            let local = self.store.find_user_by_login(&login).await?;
            if local.is_some_and(|record| record.password_hash.is_some()) {
                self.authenticator.verify(&login, password).await?
            } else {
                self.directory_login(&login, password, client).await?
            }
        };
        let Some(record) = record else {
            self.login_failed(
                &login,
                &account_key,
                &address_key,
                client,
                "wrong password or unknown user",
            )
            .await?;
            return Err(CoreError::Unauthenticated(BAD_CREDENTIALS.to_string()));
        };
        self.store.clear_throttle(&account_key).await?;
        let provider = self
            .store
            .federated_providers_of(&record.user.id)
            .await?
            .into_iter()
            .next()
            .filter(|_| record.password_hash.is_none())
            .unwrap_or_else(|| "local".to_string());
        self.finish_login(record, client, &provider).await
    }

    /// The end of every successful first step (password, directory or provider): refuses
    /// deactivated accounts, records the login, audits it.
    pub(super) async fn finish_login(
        &self,
        record: UserRecord,
        client: &ClientInfo,
        provider: &str,
    ) -> CoreResult<LoginOutcome> {
        let now = self.now();
        let login = record.user.username.to_string();
        if !record.user.is_active {
            self.audit(
                Actor::User(&record.user),
                "login.failure",
                &format!("user:{login}"),
                client,
                false,
                json!({ "reason": "deactivated", "provider": provider }),
            )
            .await;
            return Err(CoreError::Unauthenticated(
                "this account is deactivated; ask an administrator".to_string(),
            ));
        }
        let mfa_required = record.user.mfa_enabled;
        if !mfa_required {
            self.store.record_login(&record.user.id, now).await?;
        }
        let action = if mfa_required {
            "login.password"
        } else {
            "login.success"
        };
        self.audit(
            Actor::User(&record.user),
            action,
            &format!("user:{}", record.user.username),
            client,
            true,
            json!({ "provider": provider }),
        )
        .await;
        Ok(LoginOutcome {
            user: record.user,
            mfa_required,
        })
    }

    async fn login_failed(
        &self,
        login: &str,
        account_key: &str,
        address_key: &str,
        client: &ClientInfo,
        reason: &str,
    ) -> CoreResult<()> {
        let now = self.now();
        let window = self.settings.failure_window.as_millis() as i64;
        let lock = self.settings.lockout_duration.as_millis() as i64;
        let account = self
            .store
            .register_login_failure(
                account_key,
                now,
                window,
                self.settings.max_failures_per_account,
                lock,
            )
            .await?;
        let address = self
            .store
            .register_login_failure(
                address_key,
                now,
                window,
                self.settings.max_failures_per_address,
                lock,
            )
            .await?;
        self.audit(
            Actor::Anonymous(login),
            "login.failure",
            &format!("user:{login}"),
            client,
            false,
            json!({ "reason": reason, "failures": account.failures }),
        )
        .await;
        for (key, state, max) in [
            (account_key, account, self.settings.max_failures_per_account),
            (address_key, address, self.settings.max_failures_per_address),
        ] {
            if state.failures == max {
                if let Some(until) = state.locked_until_ms {
                    self.audit(
                        Actor::Anonymous(login),
                        "login.lockout",
                        key,
                        client,
                        false,
                        json!({ "until_ms": until }),
                    )
                    .await;
                }
            }
        }
        // Slow down guessing: each failure in the window costs a little more, up to 2 s.
        let delay_ms = (account.failures.max(address.failures) * 200).min(2_000) as u64;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        Ok(())
    }

    /// Completes a login whose TOTP step is due with a TOTP code or a recovery code.
    pub async fn verify_second_factor(
        &self,
        outcome: &LoginOutcome,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        if outcome.mfa_required {
            self.check_user_second_factor(&outcome.user.id, code, client)
                .await?;
        }
        Ok(LoginOutcome {
            user: outcome.user.clone(),
            mfa_required: false,
        })
    }

    /// Completes a browser session waiting for its TOTP step.
    pub async fn verify_session_second_factor(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        self.check_user_second_factor(&principal.user.id, code, client)
            .await?;
        self.complete_session_mfa(principal).await
    }

    async fn check_user_second_factor(
        &self,
        user_id: &UserId,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let record = self.store.get_user_record(user_id).await?;
        let username = record.user.username.to_string();
        let account_key = format!("user:{username}");
        let now = self.now();
        if let Some(until) = self
            .store
            .get_throttle(&account_key)
            .await?
            .and_then(|state| state.locked_until_ms)
            .filter(|until| *until > now)
        {
            return Err(CoreError::RateLimited(format!(
                "too many failed attempts; try again in {} minute(s)",
                minutes_until(until, now)
            )));
        }
        if self.check_second_factor(&record, code).await? {
            self.store.clear_throttle(&account_key).await?;
            self.store.record_login(user_id, now).await?;
            self.audit(
                Actor::User(&record.user),
                "login.success",
                &format!("user:{username}"),
                client,
                true,
                json!({ "mfa": true }),
            )
            .await;
            return Ok(());
        }
        let address_key = format!("ip:{}", client.ip);
        self.login_failed(
            &username,
            &account_key,
            &address_key,
            client,
            "wrong second factor",
        )
        .await?;
        Err(CoreError::Unauthenticated(
            "invalid authentication code".to_string(),
        ))
    }

    async fn check_second_factor(&self, record: &UserRecord, code: &str) -> CoreResult<bool> {
        let Some(sealed) = record
            .mfa_secret_sealed
            .as_deref()
            .filter(|_| record.user.mfa_enabled)
        else {
            return Ok(false);
        };
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let totp = self.totp_for(&record.user, &self.secret_box.open(sealed)?)?;
            let now_seconds = (self.now() / 1000) as u64;
            let last = record.mfa_last_step.map(|step| step as u64);
            return match totp.verify(&digits, now_seconds, last) {
                Some(step) => Ok(self
                    .store
                    .advance_mfa_step(&record.user.id, step as i64)
                    .await?),
                None => Ok(false),
            };
        }
        let normalized = normalize_recovery_code(code);
        if normalized.len() != 12 {
            return Ok(false);
        }
        Ok(self
            .store
            .consume_recovery_code(&record.user.id, &hash_secret(&normalized), self.now())
            .await?)
    }

    fn totp_for(&self, user: &User, secret: &str) -> CoreResult<Totp> {
        Ok(Totp::new(
            secret,
            &self.settings.totp_issuer,
            user.username.as_str(),
        )?)
    }

    /// Starts a browser session after a login; while its TOTP step is due the session
    /// reaches only that step.
    pub async fn start_session(
        &self,
        outcome: &LoginOutcome,
        client: &ClientInfo,
    ) -> CoreResult<SessionCookie> {
        let user = &outcome.user;
        let mfa_pending = outcome.mfa_required;
        let session = generate_secret(SecretKind::Session);
        let csrf = generate_secret(SecretKind::Csrf);
        let now = self.now();
        let expires_at_ms = now + self.settings.session_absolute_timeout.as_millis() as i64;
        self.store
            .create_session(&NewSession {
                id_hash: session.hash,
                user_id: user.id.clone(),
                csrf_token: csrf.plaintext.clone(),
                mfa_pending,
                created_at_ms: now,
                expires_at_ms,
                client_ip: client.ip.clone(),
                user_agent: client.user_agent.chars().take(256).collect(),
            })
            .await?;
        Ok(SessionCookie {
            id: session.plaintext,
            csrf_token: csrf.plaintext,
            expires_at_ms,
        })
    }

    /// Returns the principal of a session cookie and whether its TOTP step is still due.
    /// Expired sessions (idle or absolute) are deleted and refused.
    pub async fn authenticate_session(&self, cookie: &str) -> CoreResult<(Principal, bool)> {
        let expired =
            || CoreError::Unauthenticated("your session has ended; log in again".to_string());
        let id_hash = hash_secret(cookie);
        let now = self.now();
        let epoch = self.store.identity_epoch();
        if let Some(cached) = self.cache.session(&id_hash, epoch) {
            let idle_limit =
                cached.last_seen_at_ms + self.settings.session_idle_timeout.as_millis() as i64;
            // A session that looks expired, or is due a touch, takes the database path.
            if now < cached.expires_at_ms
                && now < idle_limit
                && now - cached.last_seen_at_ms < TOUCH_INTERVAL_MS
            {
                let principal = Principal {
                    user: cached.user,
                    credential: Credential::Session {
                        id_hash,
                        csrf_token: cached.csrf_token,
                    },
                };
                return Ok((principal, cached.mfa_pending));
            }
        }
        let session = self
            .store
            .get_session(&id_hash)
            .await?
            .ok_or_else(expired)?;
        let idle_limit =
            session.last_seen_at_ms + self.settings.session_idle_timeout.as_millis() as i64;
        if now >= session.expires_at_ms || now >= idle_limit {
            self.store.delete_session(&id_hash).await?;
            return Err(expired());
        }
        let user = self.store.get_user_record(&session.user_id).await?.user;
        if !user.is_active {
            self.store.delete_session(&id_hash).await?;
            return Err(CoreError::Unauthenticated(
                "this account is deactivated".to_string(),
            ));
        }
        let mut last_seen_at_ms = session.last_seen_at_ms;
        if now - session.last_seen_at_ms >= TOUCH_INTERVAL_MS {
            self.store.touch_session(&id_hash, now).await?;
            last_seen_at_ms = now;
        }
        self.cache.put_session(
            id_hash.clone(),
            CachedSession {
                user: user.clone(),
                csrf_token: session.csrf_token.clone(),
                mfa_pending: session.mfa_pending,
                last_seen_at_ms,
                expires_at_ms: session.expires_at_ms,
            },
            epoch,
        );
        let principal = Principal {
            user,
            credential: Credential::Session {
                id_hash,
                csrf_token: session.csrf_token,
            },
        };
        Ok((principal, session.mfa_pending))
    }

    async fn complete_session_mfa(&self, principal: &Principal) -> CoreResult<()> {
        if let Credential::Session { id_hash, .. } = &principal.credential {
            self.store.complete_session_mfa(id_hash).await?;
        }
        Ok(())
    }

    /// Ends the session used by `principal` (a token stays valid: revoke it instead).
    pub async fn logout(&self, principal: &Principal, client: &ClientInfo) -> CoreResult<()> {
        if let Credential::Session { id_hash, .. } = &principal.credential {
            self.store.delete_session(id_hash).await?;
        }
        self.audit(
            Actor::User(&principal.user),
            "logout",
            &format!("user:{}", principal.user.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Returns the principal of a bearer token. Revoked, expired and deactivated-user
    /// tokens are refused at once.
    pub async fn authenticate_token(&self, token: &str) -> CoreResult<Principal> {
        let invalid = |reason: &str| CoreError::Unauthenticated(format!("invalid token: {reason}"));
        let token_hash = hash_secret(token.trim());
        let now = self.now();
        let epoch = self.store.identity_epoch();
        if let Some(cached) = self.cache.token(&token_hash, epoch) {
            // An expired token takes the database path, which refuses it.
            if cached.expires_at_ms.is_none_or(|expires| now < expires) {
                return Ok(Principal {
                    user: cached.user,
                    credential: cached.credential,
                });
            }
        }
        let (info, user_id) = self
            .store
            .find_api_token(&token_hash)
            .await?
            .ok_or_else(|| invalid("unknown"))?;
        if info.revoked_at_ms.is_some() {
            return Err(invalid("revoked"));
        }
        if info.expires_at_ms.is_some_and(|expires| expires <= now) {
            return Err(invalid("expired"));
        }
        let user = self.store.get_user_record(&user_id).await?.user;
        if !user.is_active {
            return Err(invalid("its account is deactivated"));
        }
        if info
            .last_used_at_ms
            .is_none_or(|last| now - last >= TOUCH_INTERVAL_MS)
        {
            self.store.touch_api_token(&info.id, now).await?;
        }
        let credential = Credential::Token {
            token_id: info.id,
            project_id: info.project_id,
            read_only: info.read_only,
        };
        self.cache.put_token(
            token_hash,
            CachedToken {
                user: user.clone(),
                credential: credential.clone(),
                expires_at_ms: info.expires_at_ms,
            },
            epoch,
        );
        Ok(Principal { user, credential })
    }

    /// Starts TOTP enrollment: a new secret is stored (sealed) but not yet required.
    pub async fn begin_mfa_enrollment(&self, principal: &Principal) -> CoreResult<MfaEnrollment> {
        principal.require_unscoped()?;
        principal.require_write()?;
        if principal.user.mfa_enabled {
            return Err(CoreError::Conflict(
                "two-factor authentication is already enabled; disable it first".to_string(),
            ));
        }
        let secret = Totp::generate_secret();
        let totp = self.totp_for(&principal.user, &secret)?;
        self.store
            .set_mfa(
                &principal.user.id,
                Some(&self.secret_box.seal(&secret)),
                false,
                self.now(),
            )
            .await?;
        let otpauth_url = totp.otpauth_url();
        let qr_svg = qr_svg(&otpauth_url).unwrap_or_default();
        Ok(MfaEnrollment {
            secret,
            otpauth_url,
            qr_svg,
        })
    }

    /// Finishes enrollment with a code from the app; returns the recovery codes (shown once).
    pub async fn confirm_mfa_enrollment(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<Vec<String>> {
        let record = self.store.get_user_record(&principal.user.id).await?;
        if record.user.mfa_enabled {
            return Err(CoreError::Conflict(
                "two-factor authentication is already enabled".to_string(),
            ));
        }
        let sealed = record.mfa_secret_sealed.ok_or_else(|| {
            CoreError::Conflict(
                "start enrollment first: no authenticator secret was issued".to_string(),
            )
        })?;
        let totp = self.totp_for(&record.user, &self.secret_box.open(&sealed)?)?;
        let step = totp
            .verify(code, (self.now() / 1000) as u64, None)
            .ok_or_else(|| {
                CoreError::InvalidArgument(
                    "invalid `code`: it does not match the authenticator app".to_string(),
                )
            })?;
        self.store
            .set_mfa(&record.user.id, Some(&sealed), true, self.now())
            .await?;
        self.store
            .advance_mfa_step(&record.user.id, step as i64)
            .await?;
        let codes = generate_recovery_codes(RECOVERY_CODE_COUNT);
        let hashes: Vec<String> = codes.iter().map(|(_, hash)| hash.clone()).collect();
        self.store
            .replace_recovery_codes(&record.user.id, &hashes)
            .await?;
        self.audit(
            Actor::User(&record.user),
            "mfa.enable",
            &format!("user:{}", record.user.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(codes.into_iter().map(|(code, _)| code).collect())
    }

    /// Turns MFA off for the caller, who proves it with a current code.
    pub async fn disable_own_mfa(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_unscoped()?;
        let record = self.store.get_user_record(&principal.user.id).await?;
        if !record.user.mfa_enabled {
            return Err(CoreError::Conflict(
                "two-factor authentication is not enabled".to_string(),
            ));
        }
        if !self.check_second_factor(&record, code).await? {
            return Err(CoreError::InvalidArgument(
                "invalid `code`: it does not match".to_string(),
            ));
        }
        self.store
            .set_mfa(&record.user.id, None, false, self.now())
            .await?;
        self.audit(
            Actor::User(&record.user),
            "mfa.disable",
            &format!("user:{}", record.user.username),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Returns how many unused recovery codes the caller has.
    pub async fn recovery_codes_left(&self, principal: &Principal) -> CoreResult<i64> {
        Ok(self.store.count_recovery_codes(&principal.user.id).await?)
    }
}
