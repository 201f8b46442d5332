//! The errors of Model APIs, each with its [`ErrorKind`].

use plinth_types::{ErrorKind, HasErrorKind};

/// The result of a serving call.
pub type ServingResult<T> = Result<T, ServingError>;

/// Why a serving call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// A field of a management request has a value that cannot be accepted.
    #[error("invalid `{field}`: {reason}")]
    InvalidArgument {
        /// The field's name.
        field: &'static str,
        /// Why, and what would work.
        reason: String,
    },
    /// A scoring request does not fit the model (a missing or unknown column, a wrong type
    /// or shape, a malformed body): the message names the column or input.
    #[error("{0}")]
    BadInput(String),
    /// A scoring request's content type is not one the protocol takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A scoring request's body is larger than `serving.max_request_bytes`.
    #[error("request body is larger than {0} bytes (`serving.max_request_bytes`)")]
    TooLarge(u64),
    /// The model version has no flavor Plinth can serve.
    #[error(
        "the model version cannot be served: it has the flavors {}; Plinth serves `onnx` \
         (log it with `mlflow.onnx.log_model`, e.g. after converting a scikit-learn model with \
         skl2onnx)",
        list(.flavors)
    )]
    NotServable {
        /// The flavors it has.
        flavors: Vec<String>,
    },
    /// The model's files are not what its flavor promises.
    #[error("the model cannot be served: {0}")]
    BadModel(String),
    /// The addressed object does not exist (or the caller may not know it exists).
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its name.
        id: String,
    },
    /// A deployment of that name exists.
    #[error("`name`: deployment `{0}` already exists in this project")]
    AlreadyExists(String),
    /// The deployment is not ready (loading, or failed with the reason).
    #[error("{0}")]
    NotReady(String),
    /// No ONNX Runtime library could be found or loaded.
    #[error("ONNX Runtime is not available on this server: {0}")]
    RuntimeUnavailable(String),
    /// ONNX Runtime failed to run the model on a request that passed validation.
    #[error("the model failed on this input: {0}")]
    Inference(String),
    /// The domain services refused (authorization, registry lookups …).
    #[error(transparent)]
    Core(#[from] plinth_core::CoreError),
    /// The object store failed.
    #[error(transparent)]
    Artifacts(#[from] plinth_artifacts::ArtifactError),
    /// The database failed.
    #[error("deployment store error")]
    Store(#[source] sqlx::Error),
    /// A blocking task could not finish.
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(flavors: &[String]) -> String {
    if flavors.is_empty() {
        return "none".to_string();
    }
    flavors
        .iter()
        .map(|flavor| format!("`{flavor}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<sqlx::Error> for ServingError {
    fn from(error: sqlx::Error) -> Self {
        ServingError::Store(error)
    }
}

impl HasErrorKind for ServingError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServingError::InvalidArgument { .. }
            | ServingError::BadInput(_)
            | ServingError::UnsupportedMediaType(_)
            | ServingError::NotServable { .. }
            | ServingError::BadModel(_)
            | ServingError::Inference(_) => ErrorKind::InvalidArgument,
            ServingError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            ServingError::NotFound { .. } => ErrorKind::NotFound,
            ServingError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            ServingError::NotReady(_) | ServingError::RuntimeUnavailable(_) => {
                ErrorKind::Unavailable
            }
            ServingError::Core(error) => error.kind(),
            ServingError::Artifacts(error) => error.kind(),
            ServingError::Store(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ErrorKind::Unavailable
            }
            ServingError::Store(_) | ServingError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl ServingError {
    /// Returns the HTTP status the scoring protocols answer this error with: the kind's
    /// status, except `415 Unsupported Media Type` for a content type the protocol does
    /// not take (the platform API has no such kind; only the protocols need it).
    pub fn protocol_status(&self) -> u16 {
        match self {
            ServingError::UnsupportedMediaType(_) => 415,
            other => other.kind().http_status(),
        }
    }
}

pub(crate) fn bad_input(message: impl Into<String>) -> ServingError {
    ServingError::BadInput(message.into())
}
