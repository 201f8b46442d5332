//! What can go wrong talking to a Plinth server.

use plinth_types::ErrorKind;

/// The result of a client call.
pub type ClientResult<T> = Result<T, ClientError>;

/// A failed client call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL cannot be used (wrong scheme, a query string, …).
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    /// The certificate authority file to trust cannot be used.
    #[error("cannot use the certificate authority file `{}`: {reason}", path.display())]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The request got no answer: connection refused, unknown host, timeout, broken
    /// connection.
    #[error("cannot reach the server at `{server}`: {cause}")]
    Http {
        /// The server URL.
        server: String,
        /// The innermost cause, readable on its own.
        cause: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the request with its `{code, message}` error body; the message
    /// is shown to people as is.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error kind's wire name, e.g. `unauthenticated`, `not_found`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A local file to send could not be read.
    #[error("cannot read `{path}`: {cause}")]
    File {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// The server answered with something that is not a Plinth API answer (an HTML page
    /// from a proxy, a body that does not parse, …).
    #[error("unexpected answer from `{server}` (HTTP {status}): {reason}")]
    UnexpectedResponse {
        /// The server URL.
        server: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// Returns the HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Returns the server's error kind, when it answered with a known one.
    pub fn kind(&self) -> Option<ErrorKind> {
        let ClientError::Api { code, .. } = self else {
            return None;
        };
        ErrorKind::from_wire_name(code)
    }

    /// Returns whether the server refused the caller's credentials (HTTP 401).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, ClientError::Api { status: 401, .. })
    }

    /// Returns whether a login was refused only because the account needs a TOTP code.
    pub fn needs_totp_code(&self) -> bool {
        matches!(self, ClientError::Api { status: 401, code, .. } if code == "mfa_required")
    }
}
