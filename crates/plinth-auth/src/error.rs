use plinth_types::{ErrorKind, HasErrorKind};

/// The result of an authentication primitive.
pub type AuthResult<T> = Result<T, AuthError>;

/// Why an authentication primitive failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A password breaks the policy; the message says which rule.
    #[error("invalid `password`: {0}")]
    WeakPassword(String),
    /// A stored hash or sealed secret cannot be read (corrupt, or sealed with another key).
    #[error("stored credential is unreadable")]
    Corrupt(String),
    /// The server key file cannot be read or written.
    #[error("server key `{path}`: {reason}")]
    KeyFile {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl HasErrorKind for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::WeakPassword(_) => ErrorKind::InvalidArgument,
            AuthError::Corrupt(_) | AuthError::KeyFile { .. } => ErrorKind::Internal,
        }
    }
}
