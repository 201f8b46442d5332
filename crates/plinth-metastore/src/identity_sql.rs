//! The SQL of [`IdentityStore`](crate::IdentityStore), written once for SQLite and
//! PostgreSQL (see `common.rs` for why that works), and the row types it decodes.

use plinth_types::{
    ApiTokenInfo, AuditEvent, Member, Organization, Project, ResourceName, Role, User, UserId,
    Username,
};

use crate::identity::{OrgMember, OrgRole, ProjectAccess, SessionRecord, UserRecord};
use crate::{StoreError, StoreResult};

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, display_name, password_hash, is_admin, is_active, \
     mfa_secret_sealed, mfa_enabled, mfa_last_step, created_at_ms, last_login_at_ms";

pub(crate) const TOKEN_COLUMNS: &str =
    "id, name, display_prefix, project_id, read_only, created_at_ms, \
     expires_at_ms, last_used_at_ms, revoked_at_ms";

pub(crate) const PROJECT_COLUMNS: &str =
    "p.id, o.name AS organization, p.name, p.display_name, p.description, \
     p.created_at_ms";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    email: String,
    display_name: String,
    password_hash: Option<String>,
    is_admin: bool,
    is_active: bool,
    mfa_secret_sealed: Option<String>,
    mfa_enabled: bool,
    mfa_last_step: Option<i64>,
    created_at_ms: i64,
    last_login_at_ms: Option<i64>,
}

impl From<UserRow> for UserRecord {
    fn from(row: UserRow) -> Self {
        UserRecord {
            user: User {
                id: UserId::from_stored(row.id),
                username: Username::from_stored(row.username),
                email: row.email,
                display_name: row.display_name,
                is_admin: row.is_admin,
                is_active: row.is_active,
                mfa_enabled: row.mfa_enabled,
                created_at_ms: row.created_at_ms,
                last_login_at_ms: row.last_login_at_ms,
            },
            password_hash: row.password_hash,
            mfa_secret_sealed: row.mfa_secret_sealed,
            mfa_last_step: row.mfa_last_step,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    user_id: String,
    csrf_token: String,
    mfa_pending: bool,
    created_at_ms: i64,
    last_seen_at_ms: i64,
    expires_at_ms: i64,
}

impl From<SessionRow> for SessionRecord {
    fn from(row: SessionRow) -> Self {
        SessionRecord {
            user_id: UserId::from_stored(row.user_id),
            csrf_token: row.csrf_token,
            mfa_pending: row.mfa_pending,
            created_at_ms: row.created_at_ms,
            last_seen_at_ms: row.last_seen_at_ms,
            expires_at_ms: row.expires_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: String,
    name: String,
    display_prefix: String,
    project_id: Option<String>,
    read_only: bool,
    created_at_ms: i64,
    expires_at_ms: Option<i64>,
    last_used_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
}

impl From<TokenRow> for ApiTokenInfo {
    fn from(row: TokenRow) -> Self {
        ApiTokenInfo {
            id: row.id,
            name: row.name,
            display_prefix: row.display_prefix,
            project_id: row.project_id,
            read_only: row.read_only,
            created_at_ms: row.created_at_ms,
            expires_at_ms: row.expires_at_ms,
            last_used_at_ms: row.last_used_at_ms,
            revoked_at_ms: row.revoked_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrganizationRow {
    id: String,
    name: String,
    display_name: String,
    created_at_ms: i64,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization {
            id: row.id,
            name: ResourceName::from_stored(row.name),
            display_name: row.display_name,
            created_at_ms: row.created_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    id: String,
    organization: String,
    name: String,
    display_name: String,
    description: String,
    created_at_ms: i64,
    role: Option<String>,
}

impl ProjectRow {
    pub(crate) fn into_access(self) -> StoreResult<ProjectAccess> {
        let role = self.role.as_deref().map(parse_role).transpose()?;
        Ok(ProjectAccess {
            project: Project {
                id: self.id,
                organization: ResourceName::from_stored(self.organization),
                name: ResourceName::from_stored(self.name),
                display_name: self.display_name,
                description: self.description,
                created_at_ms: self.created_at_ms,
            },
            role,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: String,
    username: String,
    display_name: String,
    role: String,
    added_at_ms: i64,
}

impl MemberRow {
    pub(crate) fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            user_id: UserId::from_stored(self.user_id),
            username: Username::from_stored(self.username),
            display_name: self.display_name,
            role: parse_role(&self.role)?,
            added_at_ms: self.added_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrgMemberRow {
    user_id: String,
    username: String,
    role: String,
}

impl OrgMemberRow {
    pub(crate) fn into_member(self) -> StoreResult<OrgMember> {
        Ok(OrgMember {
            user_id: UserId::from_stored(self.user_id),
            username: Username::from_stored(self.username),
            role: OrgRole::parse(&self.role)
                .map_err(|error| StoreError::Backend(Box::new(error)))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at_ms: i64,
    actor_id: Option<String>,
    actor_name: String,
    action: String,
    target: String,
    client_ip: String,
    outcome: String,
    details: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            id: row.id,
            at_ms: row.at_ms,
            actor_id: row.actor_id,
            actor_name: row.actor_name,
            action: row.action,
            target: row.target,
            client_ip: row.client_ip,
            outcome: row.outcome,
            details: row.details,
        }
    }
}

pub(crate) fn parse_role(text: &str) -> StoreResult<Role> {
    Role::parse(text).map_err(|error| StoreError::Backend(Box::new(error)))
}

/// Maps a unique-constraint violation to `AlreadyExists`, naming which of `candidates`
/// (column name → (entity, value)) collided; other errors pass through.
pub(crate) fn unique_violation(
    error: sqlx::Error,
    candidates: &[(&str, &'static str, &str)],
) -> StoreError {
    if let sqlx::Error::Database(database_error) = &error {
        if database_error.is_unique_violation() {
            let text = format!(
                "{} {}",
                database_error.message(),
                database_error.constraint().unwrap_or_default()
            );
            let (_, entity, value) = candidates
                .iter()
                .find(|(column, _, _)| text.contains(column))
                .or(candidates.first())
                .copied()
                .unwrap_or(("", "object", ""));
            return StoreError::AlreadyExists {
                entity,
                id: value.to_string(),
            };
        }
        if database_error.is_foreign_key_violation() {
            return StoreError::NotFound {
                entity: "referenced object",
                id: String::new(),
            };
        }
    }
    StoreError::from(error)
}

/// Returns `NotFound` for `entity` `id` when a statement touched no row.
pub(crate) fn found(
    rows_affected: u64,
    entity: &'static str,
    id: impl Into<String>,
) -> StoreResult<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound {
            entity,
            id: id.into(),
        });
    }
    Ok(())
}

/// The store's [`IdentityStore::identity_epoch`](crate::IdentityStore::identity_epoch),
/// shared by the store's clones.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdentityEpoch(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl IdentityEpoch {
    pub(crate) fn current(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Returns a guard that advances the epoch when dropped: a write method holds it from
    /// its start, so the epoch moves after its statements finished (committed or not), on
    /// every return path, and also when the caller stops waiting for it.
    pub(crate) fn change(&self) -> EpochAdvance<'_> {
        EpochAdvance(self)
    }
}

/// Advances an [`IdentityEpoch`] when dropped.
pub(crate) struct EpochAdvance<'a>(&'a IdentityEpoch);

impl Drop for EpochAdvance<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(search: &str) -> String {
    let escaped = search
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Implements [`IdentityStore`](crate::IdentityStore) for `$store` (a struct with a sqlx
/// `pool` field) with SQL both backends accept.
macro_rules! impl_identity_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::IdentityStore for $store {
            fn identity_epoch(&self) -> u64 {
                self.identity_epoch.current()
            }

            async fn create_user(
                &self,
                user: &$crate::NewUser,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::User> {
                let id = plinth_types::UserId::generate();
                sqlx::query(
                    "INSERT INTO users (id, username, email, display_name, password_hash, is_admin, is_active, \
                     mfa_enabled, created_at_ms, updated_at_ms, password_changed_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, TRUE, FALSE, $7, $7, $7)",
                )
                .bind(id.as_str())
                .bind(user.username.as_str())
                .bind(&user.email)
                .bind(&user.display_name)
                .bind(&user.password_hash)
                .bind(user.is_admin)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    $crate::identity_sql::unique_violation(
                        error,
                        &[("username", "user", user.username.as_str()), ("email", "email", &user.email)],
                    )
                })?;
                Ok(self.get_user_record(&id).await?.user)
            }

            async fn count_users(&self) -> $crate::StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            async fn get_user_record(
                &self,
                id: &plinth_types::UserId,
            ) -> $crate::StoreResult<$crate::UserRecord> {
                let sql = format!("SELECT {} FROM users WHERE id = $1", $crate::identity_sql::USER_COLUMNS);
                let row: Option<$crate::identity_sql::UserRow> =
                    sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&self.pool).await?;
                row.map(Into::into).ok_or_else(|| $crate::StoreError::NotFound { entity: "user", id: id.to_string() })
            }

            async fn find_user_by_login(&self, login: &str) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                let sql = format!(
                    "SELECT {} FROM users WHERE username = $1 OR email = $1",
                    $crate::identity_sql::USER_COLUMNS
                );
                let row: Option<$crate::identity_sql::UserRow> =
                    sqlx::query_as(&sql).bind(login.trim().to_lowercase()).fetch_optional(&self.pool).await?;
                Ok(row.map(Into::into))
            }

            async fn list_users(
                &self,
                search: Option<&str>,
                after_username: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<plinth_types::User>> {
                let sql = format!(
                    "SELECT {} FROM users \
                     WHERE ($1 IS NULL OR username LIKE $1 ESCAPE '\\' OR email LIKE $1 ESCAPE '\\' \
                            OR LOWER(display_name) LIKE $1 ESCAPE '\\') \
                       AND ($2 IS NULL OR username > $2) \
                     ORDER BY username LIMIT $3",
                    $crate::identity_sql::USER_COLUMNS
                );
                let rows: Vec<$crate::identity_sql::UserRow> = sqlx::query_as(&sql)
                    .bind(search.map($crate::identity_sql::like_pattern))
                    .bind(after_username)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|row| $crate::UserRecord::from(row).user).collect())
            }

            async fn update_user(
                &self,
                id: &plinth_types::UserId,
                update: &$crate::UserUpdate,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::User> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query(
                    "UPDATE users SET email = COALESCE($2, email), display_name = COALESCE($3, display_name), \
                     is_admin = COALESCE($4, is_admin), is_active = COALESCE($5, is_active), updated_at_ms = $6 \
                     WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(&update.email)
                .bind(&update.display_name)
                .bind(update.is_admin)
                .bind(update.is_active)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    $crate::identity_sql::unique_violation(
                        error,
                        &[("email", "email", update.email.as_deref().unwrap_or_default())],
                    )
                })?;
                if result.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound { entity: "user", id: id.to_string() });
                }
                Ok(self.get_user_record(id).await?.user)
            }

            async fn set_password_hash(
                &self,
                id: &plinth_types::UserId,
                password_hash: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query(
                    "UPDATE users SET password_hash = $2, password_changed_at_ms = $3, updated_at_ms = $3 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(password_hash)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(result.rows_affected(), "user", id.to_string())
            }

            async fn record_login(&self, id: &plinth_types::UserId, now_ms: i64) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query("UPDATE users SET last_login_at_ms = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_mfa(
                &self,
                id: &plinth_types::UserId,
                secret_sealed: Option<&str>,
                enabled: bool,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let mut transaction = self.pool.begin().await?;
                let result = sqlx::query(
                    "UPDATE users SET mfa_secret_sealed = $2, mfa_enabled = $3, mfa_last_step = NULL, \
                     updated_at_ms = $4 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(secret_sealed)
                .bind(enabled)
                .bind(now_ms)
                .execute(&mut *transaction)
                .await?;
                if result.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound { entity: "user", id: id.to_string() });
                }
                if secret_sealed.is_none() {
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(id.as_str())
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn advance_mfa_step(&self, id: &plinth_types::UserId, step: i64) -> $crate::StoreResult<bool> {
                let result = sqlx::query(
                    "UPDATE users SET mfa_last_step = $2 WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2)",
                )
                .bind(id.as_str())
                .bind(step)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn replace_recovery_codes(
                &self,
                id: &plinth_types::UserId,
                code_hashes: &[String],
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(id.as_str())
                    .execute(&mut *transaction)
                    .await?;
                for hash in code_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(id.as_str())
                        .bind(hash)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn consume_recovery_code(
                &self,
                id: &plinth_types::UserId,
                code_hash: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<bool> {
                let result = sqlx::query(
                    "UPDATE recovery_codes SET used_at_ms = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at_ms IS NULL",
                )
                .bind(id.as_str())
                .bind(code_hash)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn count_recovery_codes(&self, id: &plinth_types::UserId) -> $crate::StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at_ms IS NULL")
                    .bind(id.as_str())
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn create_session(&self, session: &$crate::NewSession) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf_token, mfa_pending, created_at_ms, last_seen_at_ms, \
                     expires_at_ms, client_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
                )
                .bind(&session.id_hash)
                .bind(session.user_id.as_str())
                .bind(&session.csrf_token)
                .bind(session.mfa_pending)
                .bind(session.created_at_ms)
                .bind(session.expires_at_ms)
                .bind(&session.client_ip)
                .bind(&session.user_agent)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_session(&self, id_hash: &str) -> $crate::StoreResult<Option<$crate::SessionRecord>> {
                let row: Option<$crate::identity_sql::SessionRow> = sqlx::query_as(
                    "SELECT user_id, csrf_token, mfa_pending, created_at_ms, last_seen_at_ms, expires_at_ms \
                     FROM sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn touch_session(&self, id_hash: &str, now_ms: i64) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE sessions SET last_seen_at_ms = $2 WHERE id_hash = $1")
                    .bind(id_hash)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn complete_session_mfa(&self, id_hash: &str) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query("UPDATE sessions SET mfa_pending = FALSE WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_user_sessions(
                &self,
                id: &plinth_types::UserId,
                keep: Option<&str>,
            ) -> $crate::StoreResult<u64> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)")
                    .bind(id.as_str())
                    .bind(keep)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected())
            }

            async fn create_api_token(
                &self,
                token: &$crate::NewApiToken,
            ) -> $crate::StoreResult<plinth_types::ApiTokenInfo> {
                let id = plinth_types::new_id();
                sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, display_prefix, project_id, read_only, \
                     created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&id)
                .bind(token.user_id.as_str())
                .bind(&token.name)
                .bind(&token.token_hash)
                .bind(&token.display_prefix)
                .bind(&token.project_id)
                .bind(token.read_only)
                .bind(token.created_at_ms)
                .bind(token.expires_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "token", &token.name)]))?;
                let sql = format!("SELECT {} FROM api_tokens WHERE id = $1", $crate::identity_sql::TOKEN_COLUMNS);
                let row: $crate::identity_sql::TokenRow = sqlx::query_as(&sql).bind(&id).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            async fn find_api_token(
                &self,
                token_hash: &str,
            ) -> $crate::StoreResult<Option<(plinth_types::ApiTokenInfo, plinth_types::UserId)>> {
                let sql = format!(
                    "SELECT {}, user_id FROM api_tokens WHERE token_hash = $1",
                    $crate::identity_sql::TOKEN_COLUMNS
                );
                let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await?;
                let Some(row) = row else { return Ok(None) };
                let user_id: String = sqlx::Row::try_get(&row, "user_id")?;
                let token: $crate::identity_sql::TokenRow = sqlx::FromRow::from_row(&row)?;
                Ok(Some((token.into(), plinth_types::UserId::from_stored(user_id))))
            }

            async fn list_api_tokens(
                &self,
                id: &plinth_types::UserId,
            ) -> $crate::StoreResult<Vec<plinth_types::ApiTokenInfo>> {
                let sql = format!(
                    "SELECT {} FROM api_tokens WHERE user_id = $1 ORDER BY created_at_ms DESC, id DESC",
                    $crate::identity_sql::TOKEN_COLUMNS
                );
                let rows: Vec<$crate::identity_sql::TokenRow> =
                    sqlx::query_as(&sql).bind(id.as_str()).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_api_token(
                &self,
                id: &plinth_types::UserId,
                token_id: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query(
                    "UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $3) WHERE user_id = $1 AND id = $2",
                )
                .bind(id.as_str())
                .bind(token_id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                $crate::identity_sql::found(result.rows_affected(), "token", token_id.to_string())
            }

            async fn touch_api_token(&self, token_id: &str, now_ms: i64) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at_ms = $2 WHERE id = $1")
                    .bind(token_id)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_organization(
                &self,
                name: &str,
                display_name: &str,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::Organization> {
                let id = plinth_types::new_id();
                sqlx::query("INSERT INTO organizations (id, name, display_name, created_at_ms) VALUES ($1, $2, $3, $4)")
                    .bind(&id)
                    .bind(name)
                    .bind(display_name)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "organization", name)]))?;
                self.get_organization(name).await
            }

            async fn get_organization(&self, name: &str) -> $crate::StoreResult<plinth_types::Organization> {
                let row: Option<$crate::identity_sql::OrganizationRow> =
                    sqlx::query_as("SELECT id, name, display_name, created_at_ms FROM organizations WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(Into::into)
                    .ok_or_else(|| $crate::StoreError::NotFound { entity: "organization", id: name.to_string() })
            }

            async fn list_organizations(
                &self,
                visible_to: Option<&plinth_types::UserId>,
            ) -> $crate::StoreResult<Vec<plinth_types::Organization>> {
                let rows: Vec<$crate::identity_sql::OrganizationRow> = sqlx::query_as(
                    "SELECT o.id, o.name, o.display_name, o.created_at_ms FROM organizations o \
                     WHERE $1 IS NULL \
                        OR EXISTS (SELECT 1 FROM organization_members m WHERE m.organization_id = o.id AND m.user_id = $1) \
                        OR EXISTS (SELECT 1 FROM projects p JOIN project_members pm ON pm.project_id = p.id \
                                   WHERE p.organization_id = o.id AND pm.user_id = $1) \
                     ORDER BY o.name",
                )
                .bind(visible_to.map(|id| id.as_str()))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn delete_organization(&self, organization_id: &str) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("DELETE FROM organizations WHERE id = $1")
                    .bind(organization_id)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "organization", organization_id.to_string())
            }

            async fn set_organization_member(
                &self,
                organization_id: &str,
                user_id: &plinth_types::UserId,
                role: $crate::OrgRole,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query(
                    "INSERT INTO organization_members (organization_id, user_id, role, added_at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(organization_id)
                .bind(user_id.as_str())
                .bind(role.as_str())
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[]))?;
                Ok(())
            }

            async fn remove_organization_member(
                &self,
                organization_id: &str,
                user_id: &plinth_types::UserId,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2")
                    .bind(organization_id)
                    .bind(user_id.as_str())
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "organization member", user_id.to_string())
            }

            async fn get_organization_role(
                &self,
                organization_id: &str,
                user_id: &plinth_types::UserId,
            ) -> $crate::StoreResult<Option<$crate::OrgRole>> {
                let role: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM organization_members WHERE organization_id = $1 AND user_id = $2",
                )
                .bind(organization_id)
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                role.map(|role| $crate::OrgRole::parse(&role).map_err(|error| $crate::StoreError::Backend(Box::new(error))))
                    .transpose()
            }

            async fn list_organization_members(
                &self,
                organization_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::OrgMember>> {
                let rows: Vec<$crate::identity_sql::OrgMemberRow> = sqlx::query_as(
                    "SELECT m.user_id, u.username, m.role FROM organization_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.organization_id = $1 ORDER BY u.username",
                )
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::identity_sql::OrgMemberRow::into_member).collect()
            }

            async fn create_project(
                &self,
                organization_id: &str,
                name: &str,
                display_name: &str,
                description: &str,
                owner: &plinth_types::UserId,
                now_ms: i64,
            ) -> $crate::StoreResult<plinth_types::Project> {
                let id = plinth_types::new_id();
                let mut transaction = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO projects (id, organization_id, name, display_name, description, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(organization_id)
                .bind(name)
                .bind(display_name)
                .bind(description)
                .bind(now_ms)
                .execute(&mut *transaction)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("name", "project", name)]))?;
                sqlx::query("INSERT INTO project_members (project_id, user_id, role, added_at_ms) VALUES ($1, $2, 'owner', $3)")
                    .bind(&id)
                    .bind(owner.as_str())
                    .bind(now_ms)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(self.get_project_by_id(&id, owner).await?.project)
            }

            async fn get_project(
                &self,
                organization: &str,
                name: &str,
                user: &plinth_types::UserId,
            ) -> $crate::StoreResult<$crate::ProjectAccess> {
                let sql = format!(
                    "SELECT {}, pm.role FROM projects p JOIN organizations o ON o.id = p.organization_id \
                     LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $3 \
                     WHERE o.name = $1 AND p.name = $2",
                    $crate::identity_sql::PROJECT_COLUMNS
                );
                let row: Option<$crate::identity_sql::ProjectRow> = sqlx::query_as(&sql)
                    .bind(organization)
                    .bind(name)
                    .bind(user.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "project",
                    id: format!("{organization}/{name}"),
                })?
                .into_access()
            }

            async fn get_project_by_id(
                &self,
                id: &str,
                user: &plinth_types::UserId,
            ) -> $crate::StoreResult<$crate::ProjectAccess> {
                let sql = format!(
                    "SELECT {}, pm.role FROM projects p JOIN organizations o ON o.id = p.organization_id \
                     LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $2 WHERE p.id = $1",
                    $crate::identity_sql::PROJECT_COLUMNS
                );
                let row: Option<$crate::identity_sql::ProjectRow> =
                    sqlx::query_as(&sql).bind(id).bind(user.as_str()).fetch_optional(&self.pool).await?;
                row.ok_or_else(|| $crate::StoreError::NotFound { entity: "project", id: id.to_string() })?.into_access()
            }

            async fn list_projects(
                &self,
                user: &plinth_types::UserId,
                all: bool,
                organization: Option<&str>,
            ) -> $crate::StoreResult<Vec<$crate::ProjectAccess>> {
                let sql = format!(
                    "SELECT {}, pm.role FROM projects p JOIN organizations o ON o.id = p.organization_id \
                     LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $1 \
                     WHERE ($2 OR pm.role IS NOT NULL) AND ($3 IS NULL OR o.name = $3) \
                     ORDER BY o.name, p.name",
                    $crate::identity_sql::PROJECT_COLUMNS
                );
                let rows: Vec<$crate::identity_sql::ProjectRow> = sqlx::query_as(&sql)
                    .bind(user.as_str())
                    .bind(all)
                    .bind(organization)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::identity_sql::ProjectRow::into_access).collect()
            }

            async fn update_project(&self, id: &str, display_name: &str, description: &str) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("UPDATE projects SET display_name = $2, description = $3 WHERE id = $1")
                    .bind(id)
                    .bind(display_name)
                    .bind(description)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "project", id.to_string())
            }

            async fn delete_project(&self, id: &str) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("DELETE FROM projects WHERE id = $1").bind(id).execute(&self.pool).await?;
                $crate::identity_sql::found(result.rows_affected(), "project", id.to_string())
            }

            async fn set_project_member(
                &self,
                project_id: &str,
                user_id: &plinth_types::UserId,
                role: plinth_types::Role,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query(
                    "INSERT INTO project_members (project_id, user_id, role, added_at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(user_id.as_str())
                .bind(role.as_str())
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[]))?;
                Ok(())
            }

            async fn remove_project_member(
                &self,
                project_id: &str,
                user_id: &plinth_types::UserId,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                let result = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id.as_str())
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "project member", user_id.to_string())
            }

            async fn list_project_members(&self, project_id: &str) -> $crate::StoreResult<Vec<plinth_types::Member>> {
                let rows: Vec<$crate::identity_sql::MemberRow> = sqlx::query_as(
                    "SELECT m.user_id, u.username, u.display_name, m.role, m.added_at_ms \
                     FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.username",
                )
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::identity_sql::MemberRow::into_member).collect()
            }

            async fn append_audit(&self, event: &$crate::NewAuditEvent) -> $crate::StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO audit_log (at_ms, actor_id, actor_name, action, target, client_ip, outcome, details) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(event.at_ms)
                .bind(&event.actor_id)
                .bind(&event.actor_name)
                .bind(&event.action)
                .bind(&event.target)
                .bind(&event.client_ip)
                .bind(&event.outcome)
                .bind(&event.details)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_audit(&self, query: &$crate::AuditQuery) -> $crate::StoreResult<Vec<plinth_types::AuditEvent>> {
                let rows: Vec<$crate::identity_sql::AuditRow> = sqlx::query_as(
                    "SELECT id, at_ms, actor_id, actor_name, action, target, client_ip, outcome, details FROM audit_log \
                     WHERE ($1 IS NULL OR action LIKE $1 ESCAPE '\\') AND ($2 IS NULL OR actor_name = $2) \
                       AND ($3 IS NULL OR at_ms >= $3) AND ($4 IS NULL OR at_ms < $4) AND ($5 IS NULL OR id < $5) \
                     ORDER BY id DESC LIMIT $6",
                )
                .bind(query.action_prefix.as_deref().map(|prefix| {
                    format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
                }))
                .bind(&query.actor_name)
                .bind(query.since_ms)
                .bind(query.until_ms)
                .bind(query.before_id)
                .bind(query.limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn register_login_failure(
                &self,
                key: &str,
                now_ms: i64,
                window_ms: i64,
                max_failures: i64,
                lock_ms: i64,
            ) -> $crate::StoreResult<$crate::ThrottleState> {
                let (failures, locked_until_ms): (i64, Option<i64>) = sqlx::query_as(
                    "INSERT INTO login_throttle (key, failures, first_failure_at_ms, locked_until_ms) VALUES ($1, 1, $2, NULL) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_throttle.first_failure_at_ms < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
                       first_failure_at_ms = CASE WHEN login_throttle.first_failure_at_ms < $3 THEN $2 \
                                                  ELSE login_throttle.first_failure_at_ms END, \
                       locked_until_ms = CASE WHEN login_throttle.locked_until_ms > $2 THEN login_throttle.locked_until_ms \
                                              ELSE NULL END \
                     RETURNING failures, locked_until_ms",
                )
                .bind(key)
                .bind(now_ms)
                .bind(now_ms - window_ms)
                .fetch_one(&self.pool)
                .await?;
                if failures >= max_failures && locked_until_ms.is_none() {
                    let until = now_ms + lock_ms;
                    sqlx::query("UPDATE login_throttle SET locked_until_ms = $2 WHERE key = $1")
                        .bind(key)
                        .bind(until)
                        .execute(&self.pool)
                        .await?;
                    return Ok($crate::ThrottleState { failures, locked_until_ms: Some(until) });
                }
                Ok($crate::ThrottleState { failures, locked_until_ms })
            }

            async fn get_throttle(&self, key: &str) -> $crate::StoreResult<Option<$crate::ThrottleState>> {
                let row: Option<(i64, Option<i64>)> =
                    sqlx::query_as("SELECT failures, locked_until_ms FROM login_throttle WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(failures, locked_until_ms)| $crate::ThrottleState { failures, locked_until_ms }))
            }

            async fn link_federated_identity(
                &self,
                provider: &str,
                subject: &str,
                user: &plinth_types::UserId,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let _changed = self.identity_epoch.change();
                sqlx::query(
                    "INSERT INTO federated_identities (provider, subject, user_id, created_at_ms, last_seen_at_ms) \
                     VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (provider, subject) DO UPDATE SET user_id = excluded.user_id, \
                     last_seen_at_ms = excluded.last_seen_at_ms",
                )
                .bind(provider)
                .bind(subject)
                .bind(user.as_str())
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn find_federated_identity(
                &self,
                provider: &str,
                subject: &str,
            ) -> $crate::StoreResult<Option<plinth_types::UserId>> {
                let id: Option<String> = sqlx::query_scalar(
                    "SELECT user_id FROM federated_identities WHERE provider = $1 AND subject = $2",
                )
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                Ok(id.map(plinth_types::UserId::from_stored))
            }

            async fn list_federated_identities(
                &self,
                provider: &str,
            ) -> $crate::StoreResult<Vec<(String, plinth_types::UserId)>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT subject, user_id FROM federated_identities WHERE provider = $1 ORDER BY subject",
                )
                .bind(provider)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(subject, user)| (subject, plinth_types::UserId::from_stored(user)))
                    .collect())
            }

            async fn federated_providers_of(
                &self,
                user: &plinth_types::UserId,
            ) -> $crate::StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT provider FROM federated_identities WHERE user_id = $1 ORDER BY provider",
                )
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn clear_throttle(&self, key: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_identity_queries;
