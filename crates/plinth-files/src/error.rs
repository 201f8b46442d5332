use plinth_types::{ErrorKind, HasErrorKind};

/// The result of a files call.
pub type FilesResult<T> = Result<T, FilesError>;

/// Why a files call failed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A field has a value that cannot be accepted.
    #[error("invalid `{field}`: {reason}")]
    InvalidArgument {
        /// The field's name.
        field: &'static str,
        /// Why, and what would work.
        reason: String,
    },
    /// An object key that could escape the project's files, or that S3 would refuse.
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    /// The key is longer than S3 allows.
    #[error("object key is longer than 1024 bytes")]
    KeyTooLong,
    /// The addressed object does not exist (or the caller may not know it exists).
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its name.
        id: String,
    },
    /// No bucket of that name the caller may see.
    #[error("bucket `{0}` does not exist")]
    NoSuchBucket(String),
    /// No object under that key.
    #[error("object `{0}` does not exist")]
    NoSuchKey(String),
    /// No multipart upload of that id for this object.
    #[error("multipart upload `{0}` does not exist")]
    NoSuchUpload(String),
    /// A part of a completion is missing or differs from the one uploaded.
    #[error("{0}")]
    InvalidPart(String),
    /// The access key is unknown or revoked.
    #[error("the access key is unknown or revoked")]
    InvalidAccessKeyId,
    /// The caller may not do this.
    #[error("{0}")]
    AccessDenied(String),
    /// The domain services refused (authorization, …).
    #[error(transparent)]
    Core(#[from] plinth_core::CoreError),
    /// The object store failed.
    #[error(transparent)]
    Artifact(#[from] plinth_artifacts::ArtifactError),
    /// A sealed secret cannot be opened (another server key?).
    #[error("cannot open a sealed access key secret")]
    Sealed(#[source] plinth_auth::AuthError),
    /// The database failed.
    #[error("files store error")]
    Store(#[source] sqlx::Error),
}

impl From<sqlx::Error> for FilesError {
    fn from(error: sqlx::Error) -> Self {
        FilesError::Store(error)
    }
}

impl HasErrorKind for FilesError {
    fn kind(&self) -> ErrorKind {
        match self {
            FilesError::InvalidArgument { .. }
            | FilesError::InvalidKey(_)
            | FilesError::KeyTooLong
            | FilesError::InvalidPart(_) => ErrorKind::InvalidArgument,
            FilesError::NotFound { .. }
            | FilesError::NoSuchBucket(_)
            | FilesError::NoSuchKey(_)
            | FilesError::NoSuchUpload(_) => ErrorKind::NotFound,
            FilesError::InvalidAccessKeyId => ErrorKind::Unauthenticated,
            FilesError::AccessDenied(_) => ErrorKind::Forbidden,
            FilesError::Core(error) => error.kind(),
            FilesError::Artifact(error) => error.kind(),
            FilesError::Store(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ErrorKind::Unavailable
            }
            FilesError::Sealed(_) | FilesError::Store(_) => ErrorKind::Internal,
        }
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> FilesError {
    FilesError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}
