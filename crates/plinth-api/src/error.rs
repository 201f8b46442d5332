//! The one error type of the HTTP layer. Any crate error with an [`ErrorKind`] converts into
//! it; the kind picks the status (in [`ErrorKind::http_status`], the only table), 4xx bodies
//! carry the message, and 5xx bodies carry nothing internal: the cause is logged instead.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use plinth_types::{ErrorBody, ErrorKind, HasErrorKind};

/// An error answered by the platform API as `{"code": …, "message": …}`.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// Returns an error of `kind` with a message for the client.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }

    /// Returns an error of `kind` with `message` for the caller.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Returns the error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Returns the error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns the status this error is answered with.
    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }
}

/// Returns the HTTP status of `kind`.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Returns the kind that best describes a bare HTTP status (for responses that no handler
/// produced, such as a 405 or 413 from the router or a layer).
pub fn kind_of(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::Forbidden,
        404 | 405 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::RateLimited,
        503 | 504 => ErrorKind::Unavailable,
        code if code >= 500 => ErrorKind::Internal,
        _ => ErrorKind::InvalidArgument,
    }
}

impl<E> From<E> for ApiError
where
    E: HasErrorKind + std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        ApiError {
            kind: error.kind(),
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            let chain = self
                .source
                .as_deref()
                .map(|source| error_chain(source))
                .unwrap_or_else(|| self.message.clone());
            tracing::error!(error = %chain, kind = self.kind.as_str(), "request failed");
            let body = if self.kind == ErrorKind::Unavailable {
                // Which dependency is down is useful to the client and reveals nothing internal.
                ErrorBody {
                    code: self.kind,
                    message: self.message,
                }
            } else {
                ErrorBody::internal()
            };
            return (status, Json(body)).into_response();
        }
        (
            status,
            Json(ErrorBody {
                code: self.kind,
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// Renders an error and all its sources on one line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("backend exploded at /var/lib/secret/path")]
    struct Exploded;

    impl HasErrorKind for Exploded {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Internal
        }
    }

    #[tokio::test]
    async fn server_errors_hide_their_cause() {
        let response = ApiError::from(Exploded).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[tokio::test]
    async fn client_errors_carry_their_message() {
        let response = ApiError::new(
            ErrorKind::InvalidArgument,
            "invalid `name`: must not be empty",
        )
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"code":"invalid_argument","message":"invalid `name`: must not be empty"}"#
        );
    }
}
