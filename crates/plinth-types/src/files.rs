//! The file manager's shared types: S3 access keys as their owners see them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A personal S3 access key, as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct S3AccessKey {
    /// The access key id (`PLK…`), what S3 clients send as `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// The only project the key may reach, if scoped: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// That project as `organization/project`, if scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The key may only read.
    pub read_only: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last use, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<i64>,
    /// Revocation time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
}
