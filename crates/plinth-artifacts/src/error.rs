use plinth_types::{ErrorKind, HasErrorKind};

use crate::ObjectKey;

/// The result of an object store call.
pub type ArtifactResult<T> = Result<T, ArtifactError>;

/// Why an object store call failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The key could escape the store's root or is otherwise unusable.
    #[error("invalid object key `{key}`: {reason}")]
    InvalidKey {
        /// The refused key, escaped for display.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// No object under that key.
    #[error("object `{key}` not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The store URL does not parse or names an unknown backend.
    #[error("invalid object store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The backend could not be set up.
    #[error("cannot open object store at `{location}`: {reason}")]
    Open {
        /// The store's URL.
        location: String,
        /// Why.
        reason: String,
    },
    /// The backend cannot be reached, or refuses access.
    #[error("object store at `{location}` is unavailable")]
    Unavailable {
        /// The store's URL.
        location: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stream being uploaded failed; the upload was aborted.
    #[error("upload of `{key}` failed and was aborted")]
    Upload {
        /// The key.
        key: String,
        /// What the stream reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other backend failure.
    #[error("object store backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ArtifactError {
    pub(crate) fn from_backend(key: &ObjectKey, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => ArtifactError::NotFound {
                key: key.to_string(),
            },
            object_store::Error::InvalidPath { .. } => ArtifactError::InvalidKey {
                key: key.to_string(),
                reason: error.to_string(),
            },
            other => ArtifactError::Backend(Box::new(other)),
        }
    }

    pub(crate) fn backend_at(location: &str, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } | object_store::Error::InvalidPath { .. } => {
                ArtifactError::Backend(Box::new(error))
            }
            other => ArtifactError::Unavailable {
                location: location.to_string(),
                source: Box::new(other),
            },
        }
    }
}

impl HasErrorKind for ArtifactError {
    fn kind(&self) -> ErrorKind {
        match self {
            ArtifactError::InvalidKey { .. } | ArtifactError::InvalidUrl { .. } => {
                ErrorKind::InvalidArgument
            }
            ArtifactError::NotFound { .. } => ErrorKind::NotFound,
            ArtifactError::Unavailable { .. } | ArtifactError::Open { .. } => {
                ErrorKind::Unavailable
            }
            ArtifactError::Upload { .. } => ErrorKind::InvalidArgument,
            ArtifactError::Backend(_) => ErrorKind::Internal,
        }
    }
}
