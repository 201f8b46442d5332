//! The layers every request passes through, outermost first: request id, tracing span,
//! metrics, panic catching, security headers, error normalisation, body limit.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use http::header::{self, HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use plinth_types::ErrorBody;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::{error::kind_of, metrics::record_request, ui, AppState};

/// The header carrying each request's id, set by the server unless the client sent one.
pub(crate) const REQUEST_ID: &str = "x-request-id";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub(crate) fn apply(app: Router<AppState>, state: AppState) -> Router<AppState> {
    let request_id = http::HeaderName::from_static(REQUEST_ID);
    let max_body_bytes = usize::try_from(state.settings().max_body_bytes).unwrap_or(usize::MAX);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                    )
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, _span: &Span| {
                    tracing::debug!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "answered"
                    );
                })
                .on_failure(()),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(middleware::from_fn_with_state(state, ui::signed_in_errors))
        .layer(middleware::from_fn(normalize_errors))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(max_body_bytes, limit_body))
        .layer(middleware::from_fn(read_small_bodies));
    app.layer(layers)
}

/// The largest declared body [`read_small_bodies`] reads before the handler runs.
const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// Reads a small request body (a declared `Content-Length` up to 64 KiB) before any
/// extractor or handler sees the request. A request refused before its body is read (a
/// 401 or 403 decided from the headers alone, now often without a database read) would
/// otherwise leave the body's late bytes on the connection: hyper then closes it after the
/// answer, and a client that pooled the connection (the mlflow client's `requests`
/// session) fails its next POST with "Remote end closed connection without response".
/// Larger and chunked bodies stream as before.
async fn read_small_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let Some(length @ 1..=SMALL_BODY_BYTES) = declared else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    // `length` is at most 64 KiB, so it fits any usize.
    match axum::body::to_bytes(body, length as usize).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        // The body broke off (or outgrew its declared length): the error layer words it.
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Returns whether a request streams a large upload that its handler limits itself (a
/// snapshot is limited by `runtime.max_snapshot_bytes`, not `server.max_body_bytes`).
/// MLflow artifact uploads (`PUT …/mlflow-artifacts/artifacts/…` and multipart parts) are
/// streamed to the object store whatever their size.
fn is_streamed_upload(method: &http::Method, path: &str) -> bool {
    let snapshot = path.starts_with("/api/v1/orgs/")
        && path
            .rsplit_once('/')
            .is_some_and(|(parent, _)| parent.ends_with("/snapshots"));
    let mlflow_artifact = crate::mlflow::is_mlflow_path(path)
        && (path.contains("/mlflow-artifacts/artifacts/")
            || path.contains("/mlflow-artifacts/mpu/part/"));
    method == http::Method::PUT && (snapshot || mlflow_artifact)
}

/// `server.max_body_bytes` for every request but streamed uploads.
async fn limit_body(
    axum::extract::State(max_body_bytes): axum::extract::State<usize>,
    request: Request,
    next: middleware::Next,
) -> Response {
    if is_streamed_upload(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body_bytes as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, max_body_bytes)));
    next.run(request).await
}

/// Returns whether `path` belongs to a machine API (JSON errors) rather than to the UI
/// (HTML errors).
pub(crate) fn is_api_path(path: &str) -> bool {
    ["/api/", "/ajax-api/", "/apis/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || crate::serving::is_model_path(path)
        || ["/api", "/healthz", "/readyz", "/metrics"].contains(&path)
}

/// The fallback: a JSON 404 for API paths, an HTML page for the rest.
pub(crate) async fn not_found(request: Request) -> Response {
    let path = request.uri().path();
    let message = format!(
        "no route for `{} {}`",
        request.method(),
        path.escape_debug()
    );
    if is_api_path(path) {
        (
            StatusCode::NOT_FOUND,
            Json(ErrorBody {
                code: kind_of(StatusCode::NOT_FOUND),
                message,
            }),
        )
            .into_response()
    } else {
        ui::error_page(StatusCode::NOT_FOUND, "This page does not exist.")
    }
}

/// Turns error responses that no handler shaped (a 405 from the router, a 413 from the body
/// limit) into the format of their surface: `{code, message}` JSON for APIs, a page for the UI.
async fn normalize_errors(request: Request, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let mlflow = crate::mlflow::is_mlflow_path(request.uri().path());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let shaped =
        content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if shaped {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "method `{method}` is not allowed on `{}`",
            path.escape_debug()
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "request body is larger than the server accepts".to_string()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    };
    let mut normalized = if mlflow {
        crate::mlflow::normalized_error(status, message)
    } else if api {
        (
            status,
            Json(ErrorBody {
                code: kind_of(status),
                message,
            }),
        )
            .into_response()
    } else {
        ui::error_page(status, &message)
    };
    if let Some(allow) = response.headers().get(header::ALLOW) {
        normalized
            .headers_mut()
            .insert(header::ALLOW, allow.clone());
    }
    normalized
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(ErrorBody::internal()),
    )
        .into_response()
}
