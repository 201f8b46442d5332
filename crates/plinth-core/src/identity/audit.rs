//! Reading the audit log (admins only).

use plinth_metastore::AuditQuery;
use plinth_types::AuditEvent;

use super::{IdentityService, Principal};
use crate::CoreResult;

impl IdentityService {
    /// Lists audit events newest first (admins only).
    pub async fn list_audit(
        &self,
        principal: &Principal,
        mut query: AuditQuery,
    ) -> CoreResult<Vec<AuditEvent>> {
        principal.require_admin()?;
        query.limit = query.limit.clamp(1, 10_000);
        Ok(self.store.list_audit(&query).await?)
    }
}
