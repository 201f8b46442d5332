//! Plinth's gateway: the one reverse proxy inside `plinth serve` between visitors and the
//! server workloads users run (`docs/design/gateway.md`).
//!
//! It owns: recognising an App's own origin from the `Host` header
//! (`{app}--{project}--{organization}.{apps domain}`), signing visitors in there (the
//! redirect handshake with the main origin, a one-time code, a short-lived cookie bound to
//! that origin, or `Authorization: Bearer plt_…`) and checking their role on every request,
//! choosing a healthy replica round-robin from the endpoints the runtime recorded (readiness
//! probed here), and proxying HTTP/1.1 with streamed bodies both ways, Server-Sent Events
//! and WebSockets, with per-route timeouts, a retry only for idempotent requests that never
//! reached a replica, and JSON 502/503/504 bodies that say which replica or why.
//!
//! It does not: decide what runs or where it listens (`plinth-core`'s runtime records the
//! endpoints), or mount itself: `plinth-api` sends requests for an App's host here before
//! its own routes see them, and serves the handshake page on the main origin.

mod auth;
mod error;
mod proxy;
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use plinth_core::{AppsOrigin, IdentityService, Principal, RuntimeService};

pub use error::GatewayError;

/// The path on an App's origin where the gateway exchanges a handshake code for its cookie.
pub const AUTH_PATH: &str = "/__plinth/auth";
/// The path on the main origin that starts the handshake.
pub const HANDSHAKE_PATH: &str = "/gateway/handshake";
/// The cookie that signs a visitor in on one App's origin.
pub const APP_COOKIE: &str = "plinth_app";
/// Plinth's own session cookie (main origin), never forwarded.
pub const SESSION_COOKIE: &str = "plinth_session";

/// How the gateway behaves.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// The main origin's URL (Plinth's UI), where the handshake starts.
    pub main_url: String,
    /// How long connecting to a replica may take.
    pub connect_timeout: Duration,
    /// How long an App's replica may take to answer with its headers (the body then streams
    /// for as long as it lasts: Server-Sent Events, downloads).
    pub app_response_timeout: Duration,
    /// How long a readiness probe may take.
    pub probe_timeout: Duration,
    /// How long a probe's verdict is trusted.
    pub probe_interval: Duration,
    /// How long a handshake code may wait to be exchanged.
    pub code_lifetime: Duration,
    /// How long an App cookie signs its visitor in.
    pub visit_lifetime: Duration,
    /// How long a visitor's role check is reused.
    pub role_cache: Duration,
}

impl GatewaySettings {
    /// The defaults, for a server whose UI is at `main_url`.
    pub fn new(main_url: impl Into<String>) -> Self {
        GatewaySettings {
            main_url: main_url.into().trim_end_matches('/').to_string(),
            connect_timeout: Duration::from_secs(3),
            app_response_timeout: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(2),
            probe_interval: Duration::from_secs(2),
            code_lifetime: Duration::from_secs(60),
            visit_lifetime: Duration::from_secs(3600),
            role_cache: Duration::from_secs(5),
        }
    }
}

/// The gateway. Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: RuntimeService,
    identity: IdentityService,
    settings: GatewaySettings,
    client: proxy::Client,
    auth: auth::AuthState,
    replicas: replicas::Replicas,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Gateway")
            .field("main_url", &self.inner.settings.main_url)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Returns the gateway over the runtime's recorded endpoints and the platform's
    /// identities.
    pub fn new(
        runtime: RuntimeService,
        identity: IdentityService,
        settings: GatewaySettings,
    ) -> Self {
        let client = proxy::client(settings.connect_timeout);
        Gateway {
            inner: Arc::new(Inner {
                runtime,
                identity,
                client,
                auth: auth::AuthState::default(),
                replicas: replicas::Replicas::default(),
                settings,
            }),
        }
    }

    /// Where Apps are served.
    pub fn apps_origin(&self) -> &AppsOrigin {
        self.inner.runtime.apps_origin()
    }

    /// Returns the App host label the request is for, from its `Host` header (HTTP/1.1) or
    /// its URI's authority (HTTP/2), or `None` for the main origin.
    pub fn app_label<B>(&self, request: &Request<B>) -> Option<String> {
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            })?;
        self.apps_origin().label_of_host(host)
    }

    /// Serves one request for the App served as `label`: the code exchange, the sign-in
    /// check, then the proxy. Never fails: errors are JSON bodies.
    pub async fn serve_app(&self, label: String, request: Request<Body>) -> Response<Body> {
        match self.try_serve_app(&label, request).await {
            Ok(response) => response,
            Err(error) => {
                if error.is_server_fault() {
                    tracing::warn!(app = %label, error = %error, "gateway error");
                }
                error.into_response()
            }
        }
    }

    async fn try_serve_app(
        &self,
        label: &str,
        request: Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        if request.uri().path() == AUTH_PATH {
            return self.exchange_code(label, &request);
        }
        let route = match self.inner.runtime.app_route(label).await {
            Ok(route) => route,
            Err(plinth_core::CoreError::NotFound { .. }) => {
                return Err(GatewayError::NoSuchApp(label.to_string()))
            }
            Err(error) => return Err(GatewayError::Core(error)),
        };
        let (parts, body) = request.into_parts();
        let visitor = match self.visitor(label, &route, &parts).await? {
            auth::Admission::Visitor(visitor) => visitor,
            auth::Admission::Redirect(location) => return Ok(auth::redirect(&location, None)),
        };
        proxy::forward(self, &route, visitor, Request::from_parts(parts, body)).await
    }

    /// Starts the handshake on the main origin for a signed-in `principal` who wants to
    /// open `next` (a path) on the App served as `label`: checks that they may (viewers of
    /// its project and up), and returns the URL on the App's origin that signs them in there
    /// with a one-time code.
    pub async fn handshake(
        &self,
        principal: &Principal,
        label: &str,
        next: &str,
    ) -> Result<String, GatewayError> {
        self.start_handshake(principal, label, next).await
    }
}
