use plinth_types::{ErrorKind, HasErrorKind};

/// The result of a pipelines call.
pub type PipelineResult<T> = Result<T, PipelineError>;

/// Why a pipelines call failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The request or the pipeline is wrong; the message names the task and field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The addressed object does not exist (or the caller may not know it exists).
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its id or name.
        id: String,
    },
    /// An object with the same name exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The state forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// The domain services refused (authorization, the runtime …).
    #[error(transparent)]
    Core(#[from] plinth_core::CoreError),
    /// The object store failed.
    #[error(transparent)]
    Artifacts(#[from] plinth_artifacts::ArtifactError),
    /// The database failed.
    #[error("pipeline store error")]
    Store(#[source] sqlx::Error),
    /// A file of a task failed.
    #[error("pipeline task files error")]
    Io(#[from] std::io::Error),
    /// Something the store holds cannot be read back.
    #[error("corrupt pipeline record: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for PipelineError {
    fn from(error: sqlx::Error) -> Self {
        PipelineError::Store(error)
    }
}

impl PipelineError {
    /// Returns the message a client sees (generic for internal errors).
    pub fn message(&self) -> String {
        match self.kind() {
            ErrorKind::Internal => "internal error".to_string(),
            _ => self.to_string(),
        }
    }
}

impl HasErrorKind for PipelineError {
    fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            PipelineError::NotFound { .. } => ErrorKind::NotFound,
            PipelineError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            PipelineError::Conflict(_) => ErrorKind::Conflict,
            PipelineError::Core(error) => error.kind(),
            PipelineError::Artifacts(error) => error.kind(),
            PipelineError::Store(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ErrorKind::Unavailable
            }
            PipelineError::Store(_) | PipelineError::Io(_) | PipelineError::Corrupt(_) => {
                ErrorKind::Internal
            }
        }
    }
}
