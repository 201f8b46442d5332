use serde::{Deserialize, Serialize};

/// The identity of one Plinth installation, kept in its metadata store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Installation {
    /// A random id chosen at the first start; stable for the life of the metadata store.
    pub installation_id: String,
    /// When the metadata store was first initialised, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When a server last started against this store, in milliseconds since the Unix epoch.
    pub last_started_at_ms: i64,
    /// The Plinth version that last started against this store.
    pub last_started_version: String,
    /// How many times a server has started against this store.
    pub start_count: i64,
}
