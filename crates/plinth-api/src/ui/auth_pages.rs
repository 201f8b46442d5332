//! Logging in (password, then the TOTP step), logging out, and signing up.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::CookieJar;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{csrf_field, notice, page, Viewer};
use super::session::{
    back, clear_session_cookie, cross_site_rejection, redirect_with_cookie, safe_next,
    session_cookie, urlencode, CsrfOnly, PageForm,
};
use crate::identity::{ClientInfoExtractor, SESSION_COOKIE};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    pub(crate) next: Option<String>,
    pub(crate) ok: Option<String>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

fn login_page(
    next: &str,
    username: &str,
    ok: Option<&str>,
    error: Option<&str>,
    signup_enabled: bool,
    providers: &[plinth_federation::ProviderInfo],
) -> Markup {
    page(
        &Viewer::default(),
        "Log in",
        "/login",
        html! {
            div.narrow {
                h1 { "Log in to Plinth" }
                (notice(ok, error))
                form.stack method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "Username or email" input type="text" name="username" value=(username) autocomplete="username" required autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button.primary type="submit" { "Log in" }
                }
                @if !providers.is_empty() {
                    div.stack #sso-buttons {
                        @for provider in providers {
                            a.button href={"/auth/oidc/" (urlencode(&provider.name)) "/login?next=" (urlencode(next))} {
                                "Log in with " (provider.display_name)
                            }
                        }
                    }
                }
                @if signup_enabled {
                    p.muted { "No account yet? " a href="/signup" { "Sign up" } }
                }
            }
        },
    )
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
) -> Markup {
    let signup = state
        .identity()
        .auth_settings()
        .await
        .map(|settings| settings.signup_enabled)
        .unwrap_or(false);
    login_page(
        &safe_next(query.next.as_deref()),
        "",
        query.ok.as_deref(),
        query.error.as_deref(),
        signup,
        &state.oidc().providers(),
    )
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(response) = cross_site_rejection(&headers) {
        return response;
    }
    let next = safe_next(form.next.as_deref());
    let identity = state.identity();
    let outcome = match identity
        .login(&form.username, &form.password, &client)
        .await
    {
        Ok(outcome) => outcome,
        Err(error) => {
            let status = crate::ApiError::from(error);
            let markup = login_page(
                &next,
                &form.username,
                None,
                Some(status.message()),
                false,
                &state.oidc().providers(),
            );
            return (status.status(), markup).into_response();
        }
    };
    let cookie = match identity.start_session(&outcome, &client).await {
        Ok(cookie) => cookie,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let max_age = identity.settings().session_absolute_timeout.as_secs() as i64;
    let set_cookie = session_cookie(&state, &headers, cookie.id, max_age);
    let to = if outcome.mfa_required() {
        format!("/login/mfa?next={}", urlencode(&next))
    } else {
        next
    };
    redirect_with_cookie(&to, set_cookie)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    code: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    _csrf: String,
}

/// The TOTP step accepts a session whose password step passed.
async fn pending_session(
    state: &AppState,
    jar: &CookieJar,
) -> Option<(plinth_core::Principal, String)> {
    let cookie = jar.get(SESSION_COOKIE)?;
    let (principal, _) = state
        .identity()
        .authenticate_session(cookie.value())
        .await
        .ok()?;
    let csrf = match principal.credential() {
        plinth_core::Credential::Session { csrf_token, .. } => csrf_token.clone(),
        plinth_core::Credential::Token { .. } | plinth_core::Credential::AppVisit { .. } => {
            return None
        }
    };
    Some((principal, csrf))
}

fn mfa_page(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    let viewer = Viewer {
        user: None,
        csrf: csrf.to_string(),
        ..Viewer::default()
    };
    page(
        &viewer,
        "Two-factor step",
        "/login",
        html! {
            div.narrow {
                h1 { "Enter your authentication code" }
                p.lead { "Open your authenticator app and type the 6-digit code for Plinth, or one of your recovery codes." }
                (notice(None, error))
                form.stack method="post" action="/login/mfa" {
                    (csrf_field(&viewer))
                    input type="hidden" name="next" value=(next);
                    label { "Code" input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus; }
                    button.primary type="submit" { "Verify" }
                }
            }
        },
    )
}

pub(crate) async fn mfa_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Response {
    match pending_session(&state, &jar).await {
        Some((_, csrf)) => mfa_page(
            &csrf,
            &safe_next(query.next.as_deref()),
            query.error.as_deref(),
        )
        .into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

pub(crate) async fn mfa(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some((principal, csrf)) = pending_session(&state, &jar).await else {
        return Redirect::to("/login").into_response();
    };
    if !crate::identity::constant_time_eq(form._csrf.as_bytes(), csrf.as_bytes()) {
        return super::error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        );
    }
    let next = safe_next(form.next.as_deref());
    match state
        .identity()
        .verify_session_second_factor(&principal, &form.code, &client)
        .await
    {
        Ok(()) => Redirect::to(&next).into_response(),
        Err(error) => {
            let error = crate::ApiError::from(error);
            (
                error.status(),
                mfa_page(&csrf, &next, Some(error.message())),
            )
                .into_response()
        }
    }
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    // An account from a provider that offers RP-initiated logout ends that session too.
    let mut provider_logout = None;
    for provider in state
        .identity()
        .federated_providers(&user.principal)
        .await
        .unwrap_or_default()
    {
        if state.oidc().has_provider(&provider) {
            let back_to = format!("{}/login", state.oidc().base_url());
            provider_logout = state.oidc().logout_url(&provider, &back_to).await;
            if provider_logout.is_some() {
                break;
            }
        }
    }
    if let Err(error) = state.identity().logout(&user.principal, &client).await {
        return crate::ApiError::from(error).into_response();
    }
    redirect_with_cookie(
        provider_logout
            .as_deref()
            .unwrap_or("/login?ok=You%20are%20logged%20out."),
        clear_session_cookie(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignupForm {
    username: String,
    email: String,
    #[serde(default)]
    display_name: String,
    password: String,
}

fn signup_page(
    enabled: bool,
    domains: &[String],
    error: Option<&str>,
    form: Option<&SignupForm>,
) -> Markup {
    page(
        &Viewer::default(),
        "Sign up",
        "/login",
        html! {
            div.narrow {
                h1 { "Create an account" }
                @if !enabled {
                    div.callout.pending { "Sign-up is disabled on this server. Ask an administrator for an account." }
                } @else {
                    @if !domains.is_empty() {
                        p.muted { "Sign-up is open to addresses at " (domains.join(", ")) "." }
                    }
                    (notice(None, error))
                    form.stack method="post" action="/signup" {
                        label { "Username" input type="text" name="username" value=[form.map(|f| f.username.as_str())] autocomplete="username" required; }
                        label { "Email" input type="email" name="email" value=[form.map(|f| f.email.as_str())] autocomplete="email" required; }
                        label { "Display name" input type="text" name="display_name" value=[form.map(|f| f.display_name.as_str())] autocomplete="name"; }
                        label { "Password" input type="password" name="password" autocomplete="new-password" required minlength="12"; }
                        p.muted { "At least 12 characters; not your username or email; not a common password." }
                        button.primary type="submit" { "Create account" }
                    }
                }
                p.muted { "Already have an account? " a href="/login" { "Log in" } }
            }
        },
    )
}

pub(crate) async fn signup_form(State(state): State<AppState>) -> Markup {
    let settings = state.identity().auth_settings().await.unwrap_or_default();
    signup_page(
        settings.signup_enabled,
        &settings.signup_domains,
        None,
        None,
    )
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Form(form): Form<SignupForm>,
) -> Response {
    if let Some(response) = cross_site_rejection(&headers) {
        return response;
    }
    match state
        .identity()
        .sign_up(
            &form.username,
            &form.email,
            &form.display_name,
            &form.password,
            &client,
        )
        .await
    {
        Ok(_) => back("/login", "ok", "Your account is ready. Log in."),
        Err(error) => {
            let settings = state.identity().auth_settings().await.unwrap_or_default();
            let error = crate::ApiError::from(error);
            (
                error.status(),
                signup_page(
                    settings.signup_enabled,
                    &settings.signup_domains,
                    Some(error.message()),
                    Some(&form),
                ),
            )
                .into_response()
        }
    }
}
