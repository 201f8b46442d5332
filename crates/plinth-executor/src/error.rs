use plinth_types::{ErrorKind, HasErrorKind};

/// The result of an executor call.
pub type ExecResult<T> = Result<T, ExecError>;

/// Why an executor call failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The spec is unusable; names the field.
    #[error("invalid `{field}`: {reason}")]
    InvalidSpec {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The command cannot be started.
    #[error("cannot start `{command}`: {reason}")]
    CannotStart {
        /// The program.
        command: String,
        /// Why (not found, not executable, …).
        reason: String,
    },
    /// No workload with that handle.
    #[error("workload `{0}` not found")]
    NotFound(String),
    /// A workload with that id exists already.
    #[error("workload `{0}` already exists")]
    AlreadyExists(String),
    /// The request cannot be met by this backend (no GPU on this machine, …).
    #[error("{0}")]
    Unsatisfiable(String),
    /// The backend failed.
    #[error("executor backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl HasErrorKind for ExecError {
    fn kind(&self) -> ErrorKind {
        match self {
            ExecError::InvalidSpec { .. } | ExecError::CannotStart { .. } => {
                ErrorKind::InvalidArgument
            }
            ExecError::NotFound(_) => ErrorKind::NotFound,
            ExecError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            ExecError::Unsatisfiable(_) => ErrorKind::InvalidArgument,
            ExecError::Backend(_) => ErrorKind::Internal,
        }
    }
}
