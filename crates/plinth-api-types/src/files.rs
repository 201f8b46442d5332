//! Bodies of the files API (`/api/v1/users/me/s3-keys`).

use plinth_types::S3AccessKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new S3 access key for the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct S3KeyRequest {
    /// Limit the key to one project, `organization/project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The key may only read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// A new S3 access key with its secret, shown only in this answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct S3KeyCreated {
    /// The key.
    pub key: S3AccessKey,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`); it cannot be read again.
    pub secret_access_key: String,
    /// The S3 endpoint's URL (`AWS_ENDPOINT_URL`).
    pub endpoint_url: String,
}

impl std::fmt::Debug for S3KeyCreated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("S3KeyCreated")
            .field("key", &self.key)
            .field("secret_access_key", &"[redacted]")
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// The caller's S3 access keys and the endpoint they work with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct S3KeyList {
    /// The keys, newest first (revoked ones included).
    pub keys: Vec<S3AccessKey>,
    /// The S3 endpoint's URL.
    pub endpoint_url: String,
}
