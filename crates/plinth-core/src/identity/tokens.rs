//! Personal API tokens: created with a name, an expiry, optionally one project and
//! read-only; shown once; stored hashed; listed with their last use; revocable.

use std::time::Duration;

use plinth_auth::{generate_secret, SecretKind};
use plinth_metastore::NewApiToken;
use plinth_types::{ApiTokenInfo, Role};
use serde_json::json;

use super::{Actor, ClientInfo, IdentityService, Principal};
use crate::{CoreError, CoreResult};

/// What a new token should be.
#[derive(Clone, Debug, Default)]
pub struct NewTokenRequest {
    /// The owner's name for it (1–64 characters).
    pub name: String,
    /// How long it lives; `None` means the longest allowed.
    pub lifetime: Option<Duration>,
    /// `organization/project` it is limited to.
    pub project: Option<(String, String)>,
    /// It may only read.
    pub read_only: bool,
}

impl IdentityService {
    /// Creates a token for the caller and returns it with its secret (shown once).
    /// A token cannot have more reach than the credential that creates it.
    pub async fn create_token(
        &self,
        principal: &Principal,
        request: &NewTokenRequest,
        client: &ClientInfo,
    ) -> CoreResult<(ApiTokenInfo, String)> {
        principal.require_write()?;
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(CoreError::InvalidArgument(
                "invalid `name`: must be 1 to 64 printable characters".to_string(),
            ));
        }
        let max = self.settings.max_token_lifetime;
        let lifetime = request.lifetime.unwrap_or(max);
        if lifetime.is_zero() || lifetime > max {
            return Err(CoreError::InvalidArgument(format!(
                "invalid `expires`: must be between 1 second and {} days",
                max.as_secs() / 86_400
            )));
        }
        let project_id = match &request.project {
            Some((organization, project)) => Some(
                self.authorize_project(principal, organization, project, Role::Viewer)
                    .await?
                    .project()
                    .id
                    .clone(),
            ),
            None => {
                principal.require_unscoped()?;
                None
            }
        };
        let secret = generate_secret(SecretKind::ApiToken);
        let now = self.now();
        let token = self
            .store
            .create_api_token(&NewApiToken {
                user_id: principal.user().id.clone(),
                name: name.to_string(),
                token_hash: secret.hash,
                display_prefix: secret.display_prefix,
                project_id,
                read_only: request.read_only || principal.is_read_only(),
                created_at_ms: now,
                expires_at_ms: Some(now + lifetime.as_millis() as i64),
            })
            .await?;
        let details = json!({ "token_id": token.id, "name": token.name, "project": request.project.as_ref().map(|(o, p)| format!("{o}/{p}")), "read_only": token.read_only, "expires_at_ms": token.expires_at_ms });
        self.audit(
            Actor::User(principal.user()),
            "token.create",
            &format!("user:{}", principal.user().username),
            client,
            true,
            details,
        )
        .await;
        Ok((token, secret.plaintext))
    }

    /// Issues a personal token to a user who just logged in (password and, when enabled,
    /// the TOTP step): what `plinth login` and scripts exchange credentials for.
    pub async fn issue_login_token(
        &self,
        outcome: &super::LoginOutcome,
        name: String,
        lifetime: Option<Duration>,
        client: &ClientInfo,
    ) -> CoreResult<(ApiTokenInfo, String)> {
        if outcome.mfa_required() {
            return Err(CoreError::MfaRequired(
                "this account uses two-factor authentication: send `totp_code`".to_string(),
            ));
        }
        let principal = Principal {
            user: outcome.user().clone(),
            credential: super::Credential::Token {
                token_id: String::new(),
                project_id: None,
                read_only: false,
            },
        };
        let request = NewTokenRequest {
            name,
            lifetime,
            project: None,
            read_only: false,
        };
        self.create_token(&principal, &request, client).await
    }

    /// Lists the caller's tokens, newest first.
    pub async fn list_tokens(&self, principal: &Principal) -> CoreResult<Vec<ApiTokenInfo>> {
        Ok(self.store.list_api_tokens(&principal.user().id).await?)
    }

    /// Revokes one of the caller's tokens; it stops working at once.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        token_id: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_write()?;
        self.store
            .revoke_api_token(&principal.user().id, token_id, self.now())
            .await
            .map_err(|error| match error {
                plinth_metastore::StoreError::NotFound { .. } => CoreError::NotFound {
                    entity: "token",
                    id: token_id.to_string(),
                },
                other => other.into(),
            })?;
        self.audit(
            Actor::User(principal.user()),
            "token.revoke",
            &format!("user:{}", principal.user().username),
            client,
            true,
            json!({ "token_id": token_id }),
        )
        .await;
        Ok(())
    }
}

impl IdentityService {
    /// Issues a token for a workload: owned by the user who submitted it, limited to the
    /// workload's project, living at most `lifetime` (it is revoked when the workload ends).
    /// Returns the token's id and secret.
    pub(crate) async fn issue_workload_token(
        &self,
        user_id: &plinth_types::UserId,
        project_id: &str,
        workload_id: &str,
        lifetime: Duration,
    ) -> CoreResult<(String, String)> {
        let secret = generate_secret(SecretKind::ApiToken);
        let now = self.now();
        let token = self
            .store
            .create_api_token(&NewApiToken {
                user_id: user_id.clone(),
                name: format!("workload {workload_id}"),
                token_hash: secret.hash,
                display_prefix: secret.display_prefix,
                project_id: Some(project_id.to_string()),
                read_only: false,
                created_at_ms: now,
                expires_at_ms: Some(now + lifetime.as_millis() as i64),
            })
            .await?;
        Ok((token.id, secret.plaintext))
    }

    /// Revokes a workload's token; one already gone is fine.
    pub(crate) async fn revoke_workload_token(
        &self,
        user_id: &plinth_types::UserId,
        token_id: &str,
    ) -> CoreResult<()> {
        match self
            .store
            .revoke_api_token(user_id, token_id, self.now())
            .await
        {
            Ok(()) | Err(plinth_metastore::StoreError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Appends an audit event for an action of `user`.
    pub async fn audit_user_action(
        &self,
        user: &plinth_types::User,
        action: &str,
        target: &str,
        client: &ClientInfo,
        details: serde_json::Value,
    ) {
        self.audit(Actor::User(user), action, target, client, true, details)
            .await;
    }
}

impl IdentityService {
    /// Returns the principal of a request signed with an S3 access key (`plinth-files`
    /// checked the signature and that the key is not revoked): the key's owner, limited as
    /// the key is (one project, read-only), acting like a token of the same reach.
    /// A deactivated or deleted owner is refused.
    pub async fn access_key_principal(
        &self,
        user_id: &plinth_types::UserId,
        access_key_id: &str,
        project_id: Option<String>,
        read_only: bool,
    ) -> CoreResult<Principal> {
        let user = match self.store.get_user_record(user_id).await {
            Ok(record) => record.user,
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                return Err(CoreError::Unauthenticated(
                    "the access key's account no longer exists".to_string(),
                ))
            }
            Err(error) => return Err(error.into()),
        };
        if !user.is_active {
            return Err(CoreError::Unauthenticated(
                "the access key's account is deactivated".to_string(),
            ));
        }
        Ok(Principal {
            user,
            credential: super::Credential::Token {
                token_id: access_key_id.to_string(),
                project_id,
                read_only,
            },
        })
    }
}
