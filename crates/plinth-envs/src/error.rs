use plinth_types::{ErrorKind, HasErrorKind};

/// The result of an environments call.
pub type EnvResult<T> = Result<T, EnvError>;

/// Why an environments call failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A field has a value that cannot be accepted.
    #[error("invalid `{field}`: {reason}")]
    InvalidArgument {
        /// The field's name (`name`, `python`, `packages`, …).
        field: &'static str,
        /// Why, and what would work.
        reason: String,
    },
    /// The addressed object does not exist (or the caller may not know it exists).
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its name.
        id: String,
    },
    /// An object with the same name exists.
    #[error("`{field}`: {entity} `{id}` already exists")]
    AlreadyExists {
        /// The field that clashes.
        field: &'static str,
        /// What kind of object.
        entity: &'static str,
        /// Its name.
        id: String,
    },
    /// The state forbids the change (another change came first).
    #[error("{0}")]
    Conflict(String),
    /// The resolver refused the request: the package and its reason, in its words.
    #[error("resolution failed: {0}")]
    Resolution(String),
    /// Building the environment failed.
    #[error("build failed: {0}")]
    Build(String),
    /// The platform cannot do this here (no `uv`, no such Python …).
    #[error("{0}")]
    Unavailable(String),
    /// The domain services refused (authorization, …).
    #[error(transparent)]
    Core(#[from] plinth_core::CoreError),
    /// The executor failed.
    #[error(transparent)]
    Executor(#[from] plinth_executor::ExecError),
    /// The database failed.
    #[error("environment store error")]
    Store(#[source] sqlx::Error),
    /// A file operation of the environment cache failed.
    #[error("environment cache error")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for EnvError {
    fn from(error: sqlx::Error) -> Self {
        EnvError::Store(error)
    }
}

impl HasErrorKind for EnvError {
    fn kind(&self) -> ErrorKind {
        match self {
            EnvError::InvalidArgument { .. } | EnvError::Resolution(_) | EnvError::Build(_) => {
                ErrorKind::InvalidArgument
            }
            EnvError::NotFound { .. } => ErrorKind::NotFound,
            EnvError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            EnvError::Conflict(_) => ErrorKind::Conflict,
            EnvError::Unavailable(_) => ErrorKind::Unavailable,
            EnvError::Core(error) => error.kind(),
            EnvError::Executor(error) => error.kind(),
            EnvError::Store(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ErrorKind::Unavailable
            }
            EnvError::Store(_) | EnvError::Io(_) => ErrorKind::Internal,
        }
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> EnvError {
    EnvError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}
