//! OpenID Connect logins: `/auth/oidc/{provider}/login` sends the browser to the provider
//! (state, nonce and PKCE verifier kept server-side, bound to this browser by a short-lived
//! cookie), `/auth/oidc/{provider}/callback` checks what comes back and ends in a normal
//! session — the same cookie, CSRF token and audit entries as a password login.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::session::{redirect_with_cookie, safe_next, session_cookie, urlencode};
use crate::identity::ClientInfoExtractor;
use crate::AppState;

/// The cookie binding a login under way to the browser that started it.
pub(crate) const OIDC_COOKIE: &str = "plinth_oidc";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

fn login_error(message: &str) -> Response {
    Redirect::to(&format!("/login?error={}", urlencode(message))).into_response()
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let broker = state.oidc();
    if !broker.has_provider(&provider) {
        return super::error_page(StatusCode::NOT_FOUND, "There is no such sign-on provider.");
    }
    let next = safe_next(query.next.as_deref());
    match broker.begin(&provider, &next).await {
        Ok(start) => {
            let secure = state.settings().secure_cookies.unwrap_or_else(|| {
                headers
                    .get("x-forwarded-proto")
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
            });
            let cookie = format!(
                "{OIDC_COOKIE}={}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600{}",
                start.browser_binding,
                if secure { "; Secure" } else { "" }
            );
            let mut response = Redirect::to(&start.authorize_url).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => login_error(crate::ApiError::from(error).message()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let broker = state.oidc();
    if !broker.has_provider(&provider) {
        return super::error_page(StatusCode::NOT_FOUND, "There is no such sign-on provider.");
    }
    if let Some(error) = &query.error {
        let description = query.error_description.as_deref().unwrap_or_default();
        return login_error(&format!(
            "The sign-on provider refused the login: {error} {description}"
        ));
    }
    let (Some(login_state), Some(code)) = (query.state.as_deref(), query.code.as_deref()) else {
        return login_error("The sign-on provider's answer lacks `state` or `code`.");
    };
    let binding = jar
        .get(OIDC_COOKIE)
        .map(|cookie| cookie.value().to_string());
    let identity = state.identity();
    let login = match broker
        .finish(&provider, login_state, code, binding.as_deref())
        .await
    {
        Ok(login) => login,
        Err(error) => {
            identity
                .audit_external_refusal(&provider, &error.to_string(), &client)
                .await;
            let error = crate::ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let outcome = match identity
        .external_login(&login.account, login.link, &client)
        .await
    {
        Ok(outcome) => outcome,
        Err(error) => {
            let error = crate::ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let cookie = match identity.start_session(&outcome, &client).await {
        Ok(cookie) => cookie,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let max_age = identity.settings().session_absolute_timeout.as_secs() as i64;
    let set_cookie = session_cookie(&state, &headers, cookie.id, max_age);
    let to = if outcome.mfa_required() {
        format!("/login/mfa?next={}", urlencode(&login.next))
    } else {
        login.next
    };
    let mut response = redirect_with_cookie(&to, set_cookie);
    if let Ok(clear) = HeaderValue::from_str(&format!(
        "{OIDC_COOKIE}=; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0"
    )) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}
