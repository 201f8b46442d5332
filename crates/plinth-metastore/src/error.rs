use plinth_types::{ErrorKind, HasErrorKind};

/// The result of a metadata store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a metadata store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed object does not exist.
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object, e.g. `server metadata`.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// An object with the same identity exists.
    #[error("{entity} `{id}` already exists")]
    AlreadyExists {
        /// What kind of object.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The change contradicts the stored state (e.g. deleting a pool classes still use).
    #[error("{0}")]
    Conflict(String),
    /// A field has a value the store cannot accept.
    #[error("invalid `{field}`: {reason}")]
    InvalidArgument {
        /// The field's name.
        field: &'static str,
        /// Why the value is refused.
        reason: String,
    },
    /// A request refused with a complete message, worded as MLflow words it (the tracking
    /// and registry stores answer the unmodified MLflow client, which shows it verbatim).
    #[error("{0}")]
    InvalidValue(String),
    /// The database cannot be reached or has no free connection.
    #[error("metadata store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Any other database failure.
    #[error("metadata backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl HasErrorKind for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            StoreError::InvalidArgument { .. } | StoreError::InvalidValue(_) => {
                ErrorKind::InvalidArgument
            }
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Backend(_) => ErrorKind::Internal,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

/// Why a metadata store could not be opened. Each message names the culprit.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL's scheme names no backend.
    #[error("unknown metadata store scheme `{0}`; use `sqlite://` or `postgres://`")]
    UnknownScheme(String),
    /// The backend is known but this binary was built without it.
    #[error(
        "metadata store backend `{backend}` is not compiled in; rebuild with feature `{feature}`"
    )]
    NotCompiledIn {
        /// The backend's name.
        backend: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The URL does not parse.
    #[error("invalid metadata store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with any password redacted.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The database cannot be reached or refuses the connection.
    #[error("cannot connect to {backend} metadata store at `{url}`: {reason}")]
    Unreachable {
        /// The backend's name.
        backend: &'static str,
        /// The URL with any password redacted.
        url: String,
        /// The connection error, on one line.
        reason: String,
    },
    /// The schema migrations failed.
    #[error("cannot migrate {backend} metadata store at `{url}`: {reason}")]
    Migrate {
        /// The backend's name.
        backend: &'static str,
        /// The URL with any password redacted.
        url: String,
        /// The migration error, on one line.
        reason: String,
    },
}

/// Renders an error and its sources on one line, `outer: inner: innermost`.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}
