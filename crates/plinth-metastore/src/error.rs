use plinth_types::{ErrorKind, HasErrorKind};

/// The result of a metadata store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a metadata store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed object does not exist. Tracking and registry objects are named as
    /// MLflow names them ("Run with id=… not found"): its client shows the message verbatim
    /// and scripts match on it.
    #[error("{}", not_found_message(entity, id))]
    NotFound {
        /// What kind of object, e.g. `server metadata`.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// An object with the same identity exists (MLflow's words for its objects, as above).
    #[error("{}", already_exists_message(entity, id))]
    AlreadyExists {
        /// What kind of object.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// An object that does not exist, described by a complete message in MLflow's words
    /// when the entity and id cannot say it ("No tag with name: … in run with id …").
    #[error("{0}")]
    Missing(String),
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
            StoreError::NotFound { .. } | StoreError::Missing(_) => ErrorKind::NotFound,
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

/// What a missing object is called: MLflow's sentences for tracking and registry objects,
/// "{entity} `{id}` not found" for the rest of the platform.
fn not_found_message(entity: &str, id: &str) -> String {
    match entity {
        "run" => format!("Run with id={id} not found"),
        "experiment" => format!("No Experiment with id={id} exists"),
        "experiment name" => format!("Could not find experiment with name '{id}'"),
        "logged model" => format!("Logged model with ID '{id}' not found."),
        "registered model" => format!("Registered Model with name={id} not found"),
        "model version" => match id.rsplit_once('/') {
            Some((name, version)) => {
                format!("Model Version (name={name}, version={version}) not found")
            }
            None => format!("Model Version ({id}) not found"),
        },
        "latest version of registered model" => format!("Latest version not found for model {id}."),
        _ => format!("{entity} `{id}` not found"),
    }
}

/// What a duplicate is called (as [`not_found_message`]).
fn already_exists_message(entity: &str, id: &str) -> String {
    match entity {
        "experiment" => format!("Experiment(name={id}) already exists."),
        "registered model" => format!("Registered Model (name={id}) already exists."),
        _ => format!("{entity} `{id}` already exists"),
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
