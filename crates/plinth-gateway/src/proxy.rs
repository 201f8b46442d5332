//! Forwarding one request to a replica: Plinth's credentials taken out, `X-Forwarded-*`
//! and the visitor's name put in, bodies streamed both ways frame by frame (so Server-Sent
//! Events arrive as they are written), WebSocket and other upgrades joined end to end, a
//! retry on the next replica only for a bodiless idempotent request whose connection was
//! refused, and the route's timeout on the answer's headers.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use plinth_core::AppRoute;
use plinth_types::WorkloadEndpoint;

use crate::auth::{cookies, is_plinth_token, Visitor};
use crate::replicas::address;
use crate::{Gateway, GatewayError, APP_COOKIE, SESSION_COOKIE};

/// The HTTP/1.1 client to replicas (pooled connections, upgrades allowed).
pub(crate) type Client = hyper_util::client::legacy::Client<HttpConnector, Body>;

/// The header telling the App who is visiting (set by the gateway only).
pub const USER_HEADER: &str = "x-plinth-user";

pub(crate) fn client(connect_timeout: Duration) -> Client {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded as they are.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the `Connection` header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Whether the request asks to switch protocols (WebSocket).
fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Takes Plinth's own credentials out of a request bound for an App: its session and App
/// cookies (others stay), its bearer tokens, and any `X-Plinth-User` a visitor made up.
pub(crate) fn strip_credentials(headers: &mut HeaderMap) {
    let kept: Vec<String> = cookies(headers)
        .into_iter()
        .filter(|(name, _)| name != APP_COOKIE && name != SESSION_COOKIE)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
    let plinth_bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && is_plinth_token(token.trim())
        });
    if plinth_bearer {
        headers.remove(header::AUTHORIZATION);
    }
    headers.remove(USER_HEADER);
}

/// Drops what an App may not set through the gateway: a cookie with Plinth's names, or a
/// cookie for a wider domain than its own origin (which would reach the main origin or
/// other Apps).
fn strip_response_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|value| {
            let Ok(text) = value.to_str() else {
                return false;
            };
            let name = text.split('=').next().unwrap_or_default().trim();
            let widened = text
                .split(';')
                .skip(1)
                .any(|attribute| attribute.trim().to_ascii_lowercase().starts_with("domain"));
            name != APP_COOKIE && name != SESSION_COOKIE && !widened
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
}

fn forwarded_headers(headers: &mut HeaderMap, peer: Option<SocketAddr>, proto: &str) {
    if let Some(peer) = peer {
        let ip = peer.ip().to_string();
        let value = match headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
        {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
    if let Ok(proto) = HeaderValue::from_str(proto) {
        headers.insert("x-forwarded-proto", proto);
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

pub(crate) async fn forward(
    gateway: &Gateway,
    route: &AppRoute,
    visitor: Visitor,
    request: Request<Body>,
) -> Result<Response<Body>, GatewayError> {
    let replicas = gateway.ready_replicas(route).await?;
    let (mut parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let upgrade = upgrade_of(&parts.headers);
    let client_upgrade = upgrade
        .as_ref()
        .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
    remove_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = &upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }
    strip_credentials(&mut parts.headers);
    if let Some(username) = visitor
        .username
        .as_deref()
        .and_then(|name| HeaderValue::from_str(name).ok())
    {
        parts.headers.insert(USER_HEADER, username);
    }
    forwarded_headers(
        &mut parts.headers,
        peer,
        &gateway.apps_origin().scheme.clone(),
    );
    // Only a request without a body can be sent again.
    let retryable = is_idempotent(&parts.method) && axum::body::HttpBody::is_end_stream(&body);
    let path = parts
        .uri
        .path_and_query()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let timeout = gateway.inner.settings.app_response_timeout;
    let mut body = Some(body);
    let mut last_error = None;
    for endpoint in &replicas {
        let Some(this_body) = body.take().or_else(|| retryable.then(Body::empty)) else {
            break;
        };
        let uri: Uri = format!("http://{}{path}", address(endpoint))
            .parse()
            .map_err(|error| GatewayError::BadGateway {
                replica: endpoint.replica,
                address: address(endpoint),
                what: format!("cannot be addressed: {error}"),
            })?;
        let mut attempt = Request::new(this_body);
        *attempt.method_mut() = parts.method.clone();
        *attempt.uri_mut() = uri;
        *attempt.headers_mut() = parts.headers.clone();
        match tokio::time::timeout(timeout, gateway.inner.client.request(attempt)).await {
            Err(_) => {
                return Err(GatewayError::Timeout {
                    replica: endpoint.replica,
                    address: address(endpoint),
                    seconds: timeout.as_secs(),
                })
            }
            Ok(Err(error)) if error.is_connect() => {
                gateway.mark_failed(endpoint, &route.app.health_path, "refused a connection");
                last_error = Some(bad_gateway(endpoint, "refused the connection"));
                if !retryable {
                    break;
                }
            }
            Ok(Err(error)) => {
                return Err(bad_gateway(
                    endpoint,
                    &format!("broke off the exchange: {}", error_chain(&error)),
                ))
            }
            Ok(Ok(response)) => {
                return Ok(answer(response, client_upgrade, endpoint));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        GatewayError::NoHealthyReplica("every replica refused the connection".to_string())
    }))
}

fn bad_gateway(endpoint: &WorkloadEndpoint, what: &str) -> GatewayError {
    GatewayError::BadGateway {
        replica: endpoint.replica,
        address: address(endpoint),
        what: what.to_string(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns the replica's answer into the visitor's: streamed body, hop-by-hop headers and
/// forbidden cookies out; a `101 Switching Protocols` joins the two connections.
fn answer(
    mut response: Response<hyper::body::Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    endpoint: &WorkloadEndpoint,
) -> Response<Body> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return bad_gateway(endpoint, "switched protocols without being asked").into_response();
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let address = address(endpoint);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    if let Err(error) =
                        tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        tracing::debug!(%address, %error, "upgraded connection ended");
                    }
                }
                Err(error) => tracing::debug!(%address, %error, "upgrade failed"),
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    strip_response_cookies(&mut parts.headers);
    Response::from_parts(parts, Body::new(body.map_err(axum::Error::new)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plinth_credentials_are_taken_out_and_others_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; plinth_session=s3cret; plinth_app=a1; lang=en"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer plt_abc"),
        );
        headers.insert(USER_HEADER, HeaderValue::from_static("admin"));
        strip_credentials(&mut headers);
        assert_eq!(headers[header::COOKIE], "theme=dark; lang=en");
        assert!(headers.get(header::AUTHORIZATION).is_none());
        assert!(headers.get(USER_HEADER).is_none());

        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("plinth_app=a1"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        strip_credentials(&mut headers);
        assert!(headers.get(header::COOKIE).is_none());
        // The App's own scheme stays.
        assert_eq!(headers[header::AUTHORIZATION], "Basic dXNlcjpwdw==");
    }

    #[test]
    fn apps_cannot_set_plinth_or_wider_cookies() {
        let mut headers = HeaderMap::new();
        for cookie in [
            "own=1; Path=/",
            "plinth_session=evil; Path=/",
            "plinth_app=evil",
            "wide=1; Domain=localhost",
            "wide2=1; path=/; domain=.example.com",
        ] {
            headers.append(header::SET_COOKIE, HeaderValue::from_static(cookie));
        }
        strip_response_cookies(&mut headers);
        let left: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(left, ["own=1; Path=/"]);
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_are_seen() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        assert!(upgrade_of(&headers).is_none());
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(upgrade_of(&headers).unwrap(), "websocket");
    }
}
