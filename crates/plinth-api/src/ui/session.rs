//! Browser sessions for pages: the [`PageUser`] extractor (redirects to the login page
//! instead of answering 401), session cookies, form CSRF checks and safe redirects.

use axum::extract::{FromRequest, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use plinth_core::{Credential, Principal};

use super::layout::Viewer;
use crate::identity::{constant_time_eq, SESSION_COOKIE};
use crate::AppState;

/// A signed-in browser user. Without a valid session the request is redirected to
/// `/login?next=…`; with the TOTP step due, to `/login/mfa`.
#[derive(Clone, Debug)]
pub(crate) struct PageUser {
    pub(crate) principal: Principal,
    pub(crate) viewer: Viewer,
}

impl PageUser {
    /// Returns the refusal to answer unless `csrf` is this session's token (forms send it
    /// as `_csrf`).
    fn csrf_rejection(&self, csrf: &str) -> Option<Response> {
        if constant_time_eq(csrf.as_bytes(), self.viewer.csrf.as_bytes()) && !csrf.is_empty() {
            None
        } else {
            Some(super::error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from Plinth (missing or wrong CSRF token). Reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let here = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.to_string(), |OriginalUri(uri)| uri.to_string());
        let to_login =
            || Redirect::to(&format!("/login?next={}", urlencode(&here))).into_response();
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else {
            return Err(to_login());
        };
        let Ok((principal, mfa_pending)) =
            state.identity().authenticate_session(cookie.value()).await
        else {
            return Err(to_login());
        };
        if mfa_pending {
            return Err(
                Redirect::to(&format!("/login/mfa?next={}", urlencode(&here))).into_response(),
            );
        }
        let enrolling = here.starts_with("/profile") || here.starts_with("/logout");
        if !enrolling
            && state
                .identity()
                .must_enroll_mfa(principal.user())
                .await
                .unwrap_or(false)
        {
            return Err(Redirect::to(&format!(
                "/profile?error={}#mfa",
                urlencode(
                    "Two-factor authentication is required on this server: set it up to continue."
                )
            ))
            .into_response());
        }
        let csrf = match principal.credential() {
            Credential::Session { csrf_token, .. } => csrf_token.clone(),
            Credential::Token { .. } | Credential::AppVisit { .. } => String::new(),
        };
        // The project the page is in (from its path), and the caller's projects for the
        // switcher: the sidebar stays inside the project.
        let project = project_of_path(parts.uri.path());
        let projects = state
            .identity()
            .list_projects(&principal, false, None)
            .await
            .unwrap_or_default()
            .into_iter()
            .take(super::layout::SWITCHER_PROJECTS)
            .map(|(project, _)| super::layout::ProjectLink {
                organization: project.organization.to_string(),
                name: project.name.to_string(),
                display_name: project.display_name,
            })
            .collect();
        let viewer = Viewer {
            user: Some(principal.user().clone()),
            csrf,
            project,
            projects,
        };
        Ok(PageUser { principal, viewer })
    }
}

/// The `(organization, project)` of a path under `/projects/{organization}/{project}`.
fn project_of_path(path: &str) -> Option<(String, String)> {
    let mut segments = path.strip_prefix("/projects/")?.split('/');
    let organization = segments.next().filter(|s| !s.is_empty())?;
    let project = segments.next().filter(|s| !s.is_empty())?;
    Some((organization.to_string(), project.to_string()))
}

/// Percent-encodes `text` for a query value.
pub(crate) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Returns `next` if it is a path on this site (`/…` but not `//…`), else `/`: redirects
/// after login never leave the site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Returns whether the request came over TLS (directly or through the ingress).
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Returns the `Set-Cookie` value of a new session cookie.
pub(crate) fn session_cookie(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    max_age_seconds: i64,
) -> HeaderValue {
    let secure = state
        .settings()
        .secure_cookies
        .unwrap_or_else(|| is_https(headers));
    // The id is URL-safe base64, so it needs no quoting.
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        max_age_seconds.max(0),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).expect("cookie values are ASCII")
}

/// Returns the `Set-Cookie` value that deletes the session cookie.
pub(crate) fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .expect("ASCII")
}

/// Returns the refusal of a cross-site form post that carries no session yet (the login
/// and sign-up forms): when the browser names an `Origin`, it must be this site.
pub(crate) fn cross_site_rejection(headers: &HeaderMap) -> Option<Response> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())?;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if origin == "null" || origin_host != host {
        return Some(super::error_page(
            StatusCode::FORBIDDEN,
            "This form was sent from another site.",
        ));
    }
    None
}

/// A redirect that also sets or clears a cookie.
pub(crate) fn redirect_with_cookie(to: &str, cookie: HeaderValue) -> Response {
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// A `303 See Other` to `to` with a short notice (`?ok=` or `?error=`) shown by the page.
pub(crate) fn back(to: &str, key: &str, message: &str) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{separator}{key}={}", urlencode(message))).into_response()
}

/// A form that carries nothing but the CSRF token (logout, revoke, remove buttons).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub(crate) _csrf: String,
}

/// Redirects back to `to` with the error's message as the notice.
pub(crate) fn fail(to: &str, error: plinth_core::CoreError) -> Response {
    back(to, "error", crate::ApiError::from(error).message())
}

/// A form posted by a signed-in user, its CSRF token (`_csrf`) checked before the handler
/// runs: every page form is taken through this extractor, so none can forget the check.
pub(crate) struct PageForm<T> {
    pub(crate) user: PageUser,
    pub(crate) form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    _csrf: String,
}

impl<T> FromRequest<AppState> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let user = PageUser::from_request_parts(&mut parts, state).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        // `Bytes` honours the body limit.
        let bytes = bytes::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
            _csrf: String::new(),
        });
        if let Some(rejection) = user.csrf_rejection(&csrf._csrf) {
            return Err(rejection);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|error| {
            super::error_page(
                StatusCode::BAD_REQUEST,
                &format!("This form is incomplete or malformed: {error}."),
            )
        })?;
        Ok(PageForm { user, form })
    }
}
