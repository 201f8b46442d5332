//! Authentication extractors: who is calling, from where, and CSRF protection for
//! cookie-authenticated changes.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum_extra::extract::CookieJar;
use plinth_core::{ClientInfo, CoreError, Credential, Principal};
use plinth_types::ErrorKind;

use crate::{ApiError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "plinth_session";
/// The header carrying the CSRF token on cookie-authenticated API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller, by `Authorization: Bearer` token or session cookie.
///
/// Cookie-authenticated requests that change state must carry the session's CSRF token in
/// `X-CSRF-Token` (forms check their `_csrf` field instead, in the page handlers). Read-only
/// tokens cannot change state at all.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

/// Like [`Authenticated`], but a session still waiting for its TOTP step is accepted.
#[derive(Clone, Debug)]
pub struct PendingOrAuthenticated {
    /// The caller.
    pub principal: Principal,
    /// The TOTP step is still due.
    pub mfa_pending: bool,
}

impl FromRequestParts<AppState> for ClientInfoExtractor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfoExtractor(client_info(parts)))
    }
}

/// Where the request comes from.
#[derive(Clone, Debug)]
pub struct ClientInfoExtractor(pub ClientInfo);

/// Returns the client's address (the TCP peer) and user agent.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ClientInfo { ip, user_agent }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates the request without the CSRF and MFA-pending checks.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<PendingOrAuthenticated, ApiError> {
    if let Some(token) = bearer(parts) {
        let principal = state.identity().authenticate_token(token).await?;
        return Ok(PendingOrAuthenticated {
            principal,
            mfa_pending: false,
        });
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            "authentication required: send `Authorization: Bearer <token>` or log in",
        ));
    };
    let (principal, mfa_pending) = state
        .identity()
        .authenticate_session(cookie.value())
        .await?;
    Ok(PendingOrAuthenticated {
        principal,
        mfa_pending,
    })
}

/// Returns whether `method` changes state.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for PendingOrAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        check_csrf(parts, &caller.principal)?;
        Ok(caller)
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate_caller(parts, state).await?;
        if is_unsafe(&parts.method) {
            principal.require_write().map_err(ApiError::from)?;
        }
        Ok(Authenticated(principal))
    }
}

/// Authenticates a caller as [`Authenticated`] does (two-factor step done, CSRF token on
/// cookie-authenticated changes, MFA enrolment when required), without refusing read-only
/// credentials by method: for APIs whose reads use `POST` (MLflow's searches), where the
/// domain service refuses writes itself.
pub async fn authenticate_caller(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let caller = authenticate(parts, state).await?;
    if caller.mfa_pending {
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            "finish logging in: the two-factor step is still due",
        ));
    }
    check_csrf(parts, &caller.principal)?;
    let session = matches!(caller.principal.credential(), Credential::Session { .. });
    if session
        && !parts.uri.path().starts_with("/api/v1/me")
        && state
            .identity()
            .must_enroll_mfa(caller.principal.user())
            .await?
    {
        return Err(ApiError::from(CoreError::Forbidden(
            "two-factor authentication is required on this server: enroll it on your profile first"
                .to_string(),
        )));
    }
    Ok(caller.principal)
}

fn check_csrf(parts: &Parts, principal: &Principal) -> Result<(), ApiError> {
    let Credential::Session { csrf_token, .. } = principal.credential() else {
        return Ok(());
    };
    if !is_unsafe(&parts.method) {
        return Ok(());
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if constant_time_eq(sent.as_bytes(), csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::from(CoreError::Forbidden(
            "missing or wrong CSRF token: send the session's token in `X-CSRF-Token`".to_string(),
        )))
    }
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
