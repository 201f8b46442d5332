//! Reading the audit log (admins only).

use plinth_metastore as store;
use plinth_types::AuditEvent;

use super::{IdentityService, Principal};
use crate::CoreResult;

/// Which audit events to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only actions starting with this (`login.` matches `login.success` and `login.failure`).
    pub action_prefix: Option<String>,
    /// Only this actor name.
    pub actor_name: Option<String>,
    /// Only at or after this time, ms since the epoch.
    pub since_ms: Option<i64>,
    /// Only before this time, ms since the epoch.
    pub until_ms: Option<i64>,
    /// Only events older than this id (keyset paging).
    pub before_id: Option<i64>,
    /// At most this many; the service keeps it within 1 to 10 000.
    pub limit: i64,
}

impl IdentityService {
    /// Lists audit events newest first (admins only).
    pub async fn list_audit(
        &self,
        principal: &Principal,
        query: AuditQuery,
    ) -> CoreResult<Vec<AuditEvent>> {
        principal.require_admin()?;
        let query = store::AuditQuery {
            action_prefix: query.action_prefix,
            actor_name: query.actor_name,
            since_ms: query.since_ms,
            until_ms: query.until_ms,
            before_id: query.before_id,
            limit: query.limit.clamp(1, 10_000),
        };
        Ok(self.store.list_audit(&query).await?)
    }
}
