//! What can go wrong between a visitor and a replica, each with the status and the JSON
//! body the visitor gets: which replica, or why there was none.

use axum::body::Body;
use http::{header, HeaderValue, Response, StatusCode};
use plinth_types::{ErrorKind, HasErrorKind};

/// A gateway failure, answered as JSON `{code, message, reason, replica?}`.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No App is served under this host name.
    #[error("no App is served at `{0}`")]
    NoSuchApp(String),
    /// The visitor is not signed in and cannot be redirected (not a page load).
    #[error(
        "sign in required: open the App in a browser, or send `Authorization: Bearer <token>`"
    )]
    Unauthenticated,
    /// The credential was refused.
    #[error("{0}")]
    BadCredential(String),
    /// The visitor may not open this App.
    #[error("you may not open this App: {0}")]
    Forbidden(String),
    /// The handshake request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The App's workload is not running.
    #[error("the App is {state}{reason}")]
    NotRunning {
        /// `stopped`, `failed`, …
        state: String,
        /// `: why`, or empty.
        reason: String,
    },
    /// The App's workload is starting: no replica answers yet.
    #[error("the App is starting: {0}")]
    Starting(String),
    /// No replica passed its readiness probe.
    #[error("no healthy replica: {0}")]
    NoHealthyReplica(String),
    /// A replica could not be reached or broke the exchange.
    #[error("replica {replica} ({address}) {what}")]
    BadGateway {
        /// Its index.
        replica: u32,
        /// `host:port`.
        address: String,
        /// What happened.
        what: String,
    },
    /// A replica did not answer in time.
    #[error("replica {replica} ({address}) did not answer within {seconds} s")]
    Timeout {
        /// Its index.
        replica: u32,
        /// `host:port`.
        address: String,
        /// The route's timeout.
        seconds: u64,
    },
    /// The platform failed (store, identity).
    #[error(transparent)]
    Core(#[from] plinth_core::CoreError),
}

impl GatewayError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoSuchApp(_) => StatusCode::NOT_FOUND,
            GatewayError::Unauthenticated | GatewayError::BadCredential(_) => {
                StatusCode::UNAUTHORIZED
            }
            GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotRunning { .. }
            | GatewayError::Starting(_)
            | GatewayError::NoHealthyReplica(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Core(error) => StatusCode::from_u16(error.kind().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The stable word for why, in the body's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::NoSuchApp(_) => "no_such_app",
            GatewayError::Unauthenticated => "sign_in_required",
            GatewayError::BadCredential(_) => "bad_credential",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::NotRunning { .. } => "not_running",
            GatewayError::Starting(_) => "starting",
            GatewayError::NoHealthyReplica(_) => "no_healthy_replica",
            GatewayError::BadGateway { .. } => "replica_failed",
            GatewayError::Timeout { .. } => "timeout",
            GatewayError::Core(_) => "internal",
        }
    }

    /// Whether this is the platform's fault (logged).
    pub fn is_server_fault(&self) -> bool {
        self.status().is_server_error()
    }

    fn code(&self) -> &'static str {
        match self.status() {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::BAD_REQUEST => "invalid_argument",
            StatusCode::BAD_GATEWAY => "bad_gateway",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
            _ => "internal",
        }
    }

    /// The visitor's answer. Platform failures get a generic message (the cause is logged).
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let message = match &self {
            GatewayError::Core(error) if status.is_server_error() => {
                let _ = error;
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({
            "code": self.code(),
            "message": message,
            "reason": self.reason(),
        });
        if let GatewayError::BadGateway { replica, .. } | GatewayError::Timeout { replica, .. } =
            &self
        {
            body["replica"] = (*replica).into();
        }
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl HasErrorKind for GatewayError {
    fn kind(&self) -> ErrorKind {
        match self.status() {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorKind::Forbidden,
            StatusCode::BAD_REQUEST => ErrorKind::InvalidArgument,
            StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}
