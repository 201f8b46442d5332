use plinth_auth::AuthError;
use plinth_metastore::StoreError;
use plinth_types::{ErrorKind, HasErrorKind, InvalidValue};

/// The result of a domain service call.
pub type CoreResult<T> = Result<T, CoreError>;

/// Why a domain service call failed. Messages are written for the person who caused them.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A field has a bad value.
    #[error("{0}")]
    InvalidArgument(String),
    /// The object does not exist, or the caller may not know it exists.
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its name.
        id: String,
    },
    /// The object does not exist, described by a complete message (MLflow's words for the
    /// tracking API: "No such artifact: 'model/MLmodel'").
    #[error("{0}")]
    Missing(String),
    /// The caller is not authenticated, or the credentials are wrong.
    #[error("{0}")]
    Unauthenticated(String),
    /// The password was right; the TOTP code (or a recovery code) is still due.
    #[error("{0}")]
    MfaRequired(String),
    /// The caller is authenticated but lacks a permission; the message names it.
    #[error("{0}")]
    Forbidden(String),
    /// The state forbids the change (e.g. removing the last owner).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed attempts.
    #[error("{0}")]
    RateLimited(String),
    /// The platform cannot do this here and now (e.g. run workloads it cannot sandbox).
    #[error("{0}")]
    Unavailable(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workload executor failed.
    #[error(transparent)]
    Executor(#[from] plinth_executor::ExecError),
    /// The object store failed.
    #[error(transparent)]
    Objects(#[from] plinth_artifacts::ArtifactError),
    /// The request is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An authentication primitive failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<InvalidValue> for CoreError {
    fn from(error: InvalidValue) -> Self {
        CoreError::InvalidArgument(error.to_string())
    }
}

impl HasErrorKind for CoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            CoreError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            CoreError::NotFound { .. } | CoreError::Missing(_) => ErrorKind::NotFound,
            CoreError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            CoreError::MfaRequired(_) => ErrorKind::MfaRequired,
            CoreError::Forbidden(_) => ErrorKind::Forbidden,
            CoreError::Conflict(_) => ErrorKind::Conflict,
            CoreError::RateLimited(_) => ErrorKind::RateLimited,
            CoreError::Unavailable(_) => ErrorKind::Unavailable,
            CoreError::Store(error) => error.kind(),
            CoreError::Auth(error) => error.kind(),
            CoreError::Executor(error) => error.kind(),
            CoreError::Objects(error) => error.kind(),
            CoreError::PayloadTooLarge(_) => ErrorKind::PayloadTooLarge,
        }
    }
}
