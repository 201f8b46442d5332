//! The profile page: display name and email, password, two-factor authentication
//! (enroll with a QR code, recovery codes, disable), personal API tokens and S3 access keys.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use plinth_core::NewTokenRequest;
use serde::Deserialize;

use super::auth_pages::NextQuery;
use super::layout::{csrf_field, notice, page};
use super::session::{back, fail, CsrfOnly, PageForm, PageUser};
use super::{format_ms, or_dash};
use crate::identity::ClientInfoExtractor;
use crate::AppState;

async fn render(
    state: &AppState,
    user: &PageUser,
    extra: Option<Markup>,
    ok: Option<&str>,
    error: Option<&str>,
) -> Response {
    let identity = state.identity();
    let principal = &user.principal;
    let tokens = identity.list_tokens(principal).await.unwrap_or_default();
    let s3_keys = state.files().list_keys(principal).await.unwrap_or_default();
    let s3_endpoint = state.files().endpoint_url();
    let recovery_left = identity
        .recovery_codes_left(principal)
        .await
        .unwrap_or_default();
    let projects = identity
        .list_projects(principal, false, None)
        .await
        .unwrap_or_default();
    let me = principal.user();
    let viewer = &user.viewer;
    page(
        viewer,
        "Profile",
        "/profile",
        html! {
            h1 { "Profile" }
            p.lead { "Signed in as " strong { (me.username) } @if me.is_admin { " · platform admin" } "." }
            (notice(ok, error))
            @if let Some(extra) = extra { (extra) }
            section.card-section {
                h2 { "Account" }
                form.grid-form method="post" action="/profile" {
                    (csrf_field(viewer))
                    label { "Display name" input type="text" name="display_name" value=(me.display_name); }
                    label { "Email" input type="email" name="email" value=(me.email); }
                    button type="submit" { "Save" }
                }
            }
            section.card-section {
                h2 { "Password" }
                form.grid-form method="post" action="/profile/password" {
                    (csrf_field(viewer))
                    label { "Current password" input type="password" name="current_password" autocomplete="current-password" required; }
                    label { "New password" input type="password" name="new_password" autocomplete="new-password" required minlength="12"; }
                    button type="submit" { "Change password" }
                }
            }
            section.card-section id="mfa" {
                h2 { "Two-factor authentication" }
                @if me.mfa_enabled {
                    p { span.badge.ok { "on" } " Logins ask for a code from your authenticator app. " (recovery_left) " recovery codes left." }
                    form.grid-form method="post" action="/profile/mfa/disable" {
                        (csrf_field(viewer))
                        label { "Current code" input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required; }
                        button.danger type="submit" { "Turn off" }
                    }
                } @else {
                    p { span.badge.bad { "off" } " Protect your account with an authenticator app (TOTP)." }
                    form method="post" action="/profile/mfa/start" {
                        (csrf_field(viewer))
                        button.primary type="submit" { "Set up two-factor authentication" }
                    }
                }
            }
            section.card-section id="tokens" {
                h2 { "API tokens" }
                p.muted { "For the CLI, the mlflow client (" code { "MLFLOW_TRACKING_TOKEN" } "), the kfp client and scripts: send " code { "Authorization: Bearer <token>" } "." }
                form.grid-form method="post" action="/profile/tokens" {
                    (csrf_field(viewer))
                    label { "Name" input type="text" name="name" required maxlength="64" placeholder="laptop"; }
                    label { "Expires in (days)" input type="number" name="expires_days" value="90" min="1" max="365"; }
                    label { "Project"
                        select name="project" {
                            option value="" { "all my projects" }
                            @for (project, _) in &projects {
                                @let full = format!("{}/{}", project.organization, project.name);
                                option value=(full) { (full) }
                            }
                        }
                    }
                    label.check { input type="checkbox" name="read_only" value="true"; " read-only" }
                    button type="submit" { "Create token" }
                }
                @if tokens.is_empty() {
                    p.muted { "No tokens yet." }
                } @else {
                    table {
                        thead { tr { th { "Name" } th { "Token" } th { "Scope" } th { "Created" } th { "Expires" } th { "Last used" } th { "" } } }
                        tbody {
                            @for token in &tokens {
                                tr {
                                    td { (token.name) }
                                    td { code { (token.display_prefix) "…" } }
                                    td {
                                        @if token.project_id.is_some() { "one project" } @else { "all projects" }
                                        @if token.read_only { " · read-only" }
                                    }
                                    td { (format_ms(token.created_at_ms)) }
                                    td { (or_dash(token.expires_at_ms.map(format_ms))) }
                                    td { (or_dash(token.last_used_at_ms.map(format_ms))) }
                                    td {
                                        @if token.revoked_at_ms.is_some() {
                                            span.badge.bad { "revoked" }
                                        } @else {
                                            form.inline method="post" action=(format!("/profile/tokens/{}/revoke", token.id)) {
                                                (csrf_field(viewer))
                                                button.link.danger type="submit" { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card-section id="s3-keys" {
                h2 { "S3 access keys" }
                p.muted {
                    "For any S3 client (boto3, the aws CLI, rclone, pandas " code { "s3://" } "): endpoint "
                    code #s3-endpoint { (s3_endpoint) } ", bucket " code { "ORGANIZATION.PROJECT" }
                    ". A Viewer reads, a Contributor writes."
                }
                form.grid-form method="post" action="/profile/s3-keys" {
                    (csrf_field(viewer))
                    label { "Project"
                        select name="project" {
                            option value="" { "all my projects" }
                            @for (project, _) in &projects {
                                @let full = format!("{}/{}", project.organization, project.name);
                                option value=(full) { (full) }
                            }
                        }
                    }
                    label.check { input type="checkbox" name="read_only" value="true"; " read-only" }
                    button type="submit" { "Create access key" }
                }
                @if s3_keys.is_empty() {
                    p.muted { "No access keys yet." }
                } @else {
                    table {
                        thead { tr { th { "Access key id" } th { "Scope" } th { "Created" } th { "Last used" } th { "" } } }
                        tbody {
                            @for key in &s3_keys {
                                tr {
                                    td { code { (key.access_key_id) } }
                                    td {
                                        @if let Some(project) = &key.project { (project) }
                                        @else if key.project_id.is_some() { "one project" }
                                        @else { "all projects" }
                                        @if key.read_only { " · read-only" }
                                    }
                                    td { (format_ms(key.created_at_ms)) }
                                    td { (or_dash(key.last_used_at_ms.map(format_ms))) }
                                    td {
                                        @if key.revoked_at_ms.is_some() {
                                            span.badge.bad { "revoked" }
                                        } @else {
                                            form.inline method="post" action=(format!("/profile/s3-keys/{}/revoke", key.access_key_id)) {
                                                (csrf_field(viewer))
                                                button.link.danger type="submit" { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<NextQuery>,
) -> Response {
    render(
        &state,
        &user,
        None,
        query.ok.as_deref(),
        query.error.as_deref(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProfileForm {
    display_name: String,
    email: String,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<ProfileForm>,
) -> Response {
    match state
        .identity()
        .update_profile(
            &user.principal,
            Some(form.display_name),
            Some(form.email),
            &client,
        )
        .await
    {
        Ok(_) => back("/profile", "ok", "Profile saved."),
        Err(error) => fail("/profile", error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub(crate) async fn password(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<PasswordForm>,
) -> Response {
    match state
        .identity()
        .change_own_password(
            &user.principal,
            &form.current_password,
            &form.new_password,
            &client,
        )
        .await
    {
        Ok(()) => back("/profile", "ok", "Password changed."),
        Err(error) => fail("/profile", error),
    }
}

pub(crate) async fn mfa_start(
    State(state): State<AppState>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let enrollment = match state.identity().begin_mfa_enrollment(&user.principal).await {
        Ok(enrollment) => enrollment,
        Err(error) => return fail("/profile", error),
    };
    let viewer = &user.viewer;
    let extra = html! {
        section.card-section.highlight id="mfa-setup" {
            h2 { "Scan this code with your authenticator app" }
            div.qr { (PreEscaped(enrollment.qr_svg)) }
            p { "Or type this secret: " code #totp-secret { (enrollment.secret) } }
            form.grid-form method="post" action="/profile/mfa/confirm" {
                (csrf_field(viewer))
                label { "Code from the app" input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus; }
                button.primary type="submit" { "Confirm" }
            }
        }
    };
    render(&state, &user, Some(extra), None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    code: String,
}

pub(crate) async fn mfa_confirm(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<CodeForm>,
) -> Response {
    let codes = match state
        .identity()
        .confirm_mfa_enrollment(&user.principal, &form.code, &client)
        .await
    {
        Ok(codes) => codes,
        Err(error) => return fail("/profile", error),
    };
    // Reload the user so the page shows MFA on.
    let Ok(user) = refreshed(&state, user).await else {
        return back("/profile", "ok", "Two-factor authentication is on.");
    };
    let extra = html! {
        section.card-section.highlight id="recovery-codes" {
            h2 { "Save your recovery codes" }
            p { "Each code works once if you lose your authenticator. They are shown only now." }
            ul.codes { @for code in &codes { li { code { (code) } } } }
        }
    };
    render(
        &state,
        &user,
        Some(extra),
        Some("Two-factor authentication is on."),
        None,
    )
    .await
}

async fn refreshed(state: &AppState, user: PageUser) -> Result<PageUser, ()> {
    let username = user.principal.user().username.to_string();
    let fresh = state
        .identity()
        .get_user(&user.principal, &username)
        .await
        .map_err(|_| ())?;
    Ok(PageUser {
        viewer: super::layout::Viewer {
            user: Some(fresh),
            ..user.viewer
        },
        principal: user.principal,
    })
}

pub(crate) async fn mfa_disable(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<CodeForm>,
) -> Response {
    match state
        .identity()
        .disable_own_mfa(&user.principal, &form.code, &client)
        .await
    {
        Ok(()) => back("/profile", "ok", "Two-factor authentication is off."),
        Err(error) => fail("/profile", error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    name: String,
    #[serde(default)]
    expires_days: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    read_only: Option<String>,
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<TokenForm>,
) -> Response {
    let days = match form
        .expires_days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::parse::<u64>)
    {
        None => 90,
        Some(Ok(days)) if (1..=3650).contains(&days) => days,
        Some(_) => {
            return back(
                "/profile",
                "error",
                "invalid `expires_days`: must be a whole number of days from 1",
            )
        }
    };
    let project = form
        .project
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| p.split_once('/'))
        .map(|(organization, project)| (organization.to_string(), project.to_string()));
    let request = NewTokenRequest {
        name: form.name,
        lifetime: Some(Duration::from_secs(days * 86_400)),
        project,
        read_only: form.read_only.as_deref() == Some("true"),
    };
    let (info, secret) = match state
        .identity()
        .create_token(&user.principal, &request, &client)
        .await
    {
        Ok(created) => created,
        Err(error) => return fail("/profile", error),
    };
    let extra = html! {
        section.card-section.highlight id="new-token" {
            h2 { "Token “" (info.name) "” created" }
            p { "Copy it now: it is shown only once." }
            pre.secret { code #new-token-value { (secret) } }
        }
    };
    render(&state, &user, Some(extra), None, None).await
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(token_id): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    match state
        .identity()
        .revoke_token(&user.principal, &token_id, &client)
        .await
    {
        Ok(()) => back("/profile", "ok", "Token revoked."),
        Err(error) => fail("/profile", error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct S3KeyForm {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    read_only: Option<String>,
}

pub(crate) async fn create_s3_key(
    State(state): State<AppState>,
    PageForm { user, form }: PageForm<S3KeyForm>,
) -> Response {
    let project = form
        .project
        .as_deref()
        .filter(|project| !project.is_empty());
    let read_only = form.read_only.as_deref() == Some("true");
    let (key, secret) = match state
        .files()
        .create_key(&user.principal, project, read_only)
        .await
    {
        Ok(created) => created,
        Err(error) => return back("/profile", "error", crate::ApiError::from(error).message()),
    };
    let endpoint = state.files().endpoint_url();
    let extra = html! {
        section.card-section.highlight id="new-s3-key" {
            h2 { "Access key " (key.access_key_id) " created" }
            p { "Copy the secret now: it is shown only once." }
            pre.secret { code #new-s3-key-value {
                "AWS_ENDPOINT_URL=" (endpoint) "\n"
                "AWS_ACCESS_KEY_ID=" (key.access_key_id) "\n"
                "AWS_SECRET_ACCESS_KEY=" (secret)
            } }
        }
    };
    render(&state, &user, Some(extra), None, None).await
}

pub(crate) async fn revoke_s3_key(
    State(state): State<AppState>,
    Path(access_key_id): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    match state
        .files()
        .revoke_key(&user.principal, &access_key_id)
        .await
    {
        Ok(()) => back("/profile", "ok", "Access key revoked."),
        Err(error) => back("/profile", "error", crate::ApiError::from(error).message()),
    }
}
