//! Administration: users, sign-up and MFA settings, the audit log, and the tabs shared with
//! the runtime pages (node pools, resource classes, platform usage).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_core::NewAccount;
use plinth_core::{AuditQuery, UserUpdate};
use plinth_types::AuthSettingsView;
use serde::Deserialize;

use super::layout::{csrf_field, notice, page};
use super::session::{back, fail, urlencode, CsrfOnly, PageForm, PageUser};
use super::{format_ms, or_dash};
use crate::identity::ClientInfoExtractor;
use crate::AppState;

/// The administration tabs, `active` highlighted.
pub(crate) fn admin_tabs(active: &str) -> Markup {
    const TABS: [(&str, &str); 7] = [
        ("/admin", "Users"),
        ("/admin/settings", "Sign-up & MFA"),
        ("/admin/directories", "Directories"),
        ("/admin/audit", "Audit log"),
        ("/admin/pools", "Node pools"),
        ("/admin/classes", "Resource classes"),
        ("/admin/usage", "Usage"),
    ];
    html! {
        nav.tabs aria-label="Administration" {
            @for (href, title) in TABS {
                a href=(href) class=[(href == active).then_some("active")]
                    aria-current=[(href == active).then_some("page")] { (title) }
            }
        }
    }
}

pub(crate) fn admin_rejection(user: &PageUser) -> Option<Response> {
    if user.viewer.is_admin() {
        None
    } else {
        Some(super::error_page(
            axum::http::StatusCode::FORBIDDEN,
            "This page is for platform administrators.",
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsersQuery {
    search: Option<String>,
    pub(crate) ok: Option<String>,
    pub(crate) error: Option<String>,
}

pub(crate) async fn users(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&user) {
        return response;
    }
    let search = query.search.as_deref().filter(|s| !s.is_empty());
    let users = state
        .identity()
        .list_users(&user.principal, search, None, 500)
        .await
        .unwrap_or_default();
    let viewer = &user.viewer;
    page(
        viewer,
        "Admin",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs("/admin"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            form.grid-form method="get" action="/admin" {
                label { "Search" input type="search" name="search" value=[search]; }
                button type="submit" { "Search" }
            }
            table #users {
                thead { tr { th { "Username" } th { "Name" } th { "Email" } th { "Role" } th { "State" } th { "MFA" } th { "Last login" } } }
                tbody {
                    @for account in &users {
                        tr {
                            td { a href=(format!("/admin/users/{}", account.username)) { (account.username) } }
                            td { (account.display_name) }
                            td { (account.email) }
                            td { @if account.is_admin { span.badge.role { "admin" } } @else { "user" } }
                            td { @if account.is_active { span.badge.ok { "active" } } @else { span.badge.bad { "deactivated" } } }
                            td { @if account.mfa_enabled { "on" } @else { "off" } }
                            td { (or_dash(account.last_login_at_ms.map(format_ms))) }
                        }
                    }
                }
            }
            section.card-section {
                h2 { "New user" }
                form.grid-form #new-user method="post" action="/admin/users" {
                    (csrf_field(viewer))
                    label { "Username" input type="text" name="username" required; }
                    label { "Email" input type="email" name="email" required; }
                    label { "Display name" input type="text" name="display_name"; }
                    label { "Initial password" input type="password" name="password" required minlength="12" autocomplete="new-password"; }
                    label.check { input type="checkbox" name="is_admin" value="true"; " platform admin" }
                    button.primary type="submit" { "Create user" }
                }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewUserForm {
    username: String,
    email: String,
    #[serde(default)]
    display_name: String,
    password: String,
    #[serde(default)]
    is_admin: Option<String>,
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<NewUserForm>,
) -> Response {
    let account = NewAccount {
        username: form.username,
        email: form.email,
        display_name: form.display_name,
        password: form.password,
        is_admin: form.is_admin.as_deref() == Some("true"),
    };
    match state
        .identity()
        .create_user(&user.principal, &account, &client)
        .await
    {
        Ok(created) => back(
            "/admin",
            "ok",
            &format!("User {} created.", created.username),
        ),
        Err(error) => fail("/admin", error),
    }
}

pub(crate) async fn user_detail(
    State(state): State<AppState>,
    user: PageUser,
    Path(username): Path<String>,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&user) {
        return response;
    }
    let account = match state.identity().get_user(&user.principal, &username).await {
        Ok(account) => account,
        Err(error) => {
            let error = crate::ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let viewer = &user.viewer;
    let here = format!("/admin/users/{}", account.username);
    page(
        viewer,
        account.username.as_str(),
        "/admin",
        html! {
            p.muted { a href="/admin" { "Users" } " /" }
            h1 { (account.display_name) " " span.muted { code { (account.username) } } }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            dl.facts {
                dt { "Email" } dd { (account.email) }
                dt { "Role" } dd { @if account.is_admin { "platform admin" } @else { "user" } }
                dt { "State" } dd { @if account.is_active { "active" } @else { "deactivated" } }
                dt { "Two-factor" } dd { @if account.mfa_enabled { "on" } @else { "off" } }
                dt { "Created" } dd { (format_ms(account.created_at_ms)) }
                dt { "Last login" } dd { (or_dash(account.last_login_at_ms.map(format_ms))) }
            }
            section.card-section {
                h2 { "Actions" }
                div.actions {
                    form.inline method="post" action=(format!("{here}/update")) {
                        (csrf_field(viewer))
                        @if account.is_active {
                            input type="hidden" name="is_active" value="false";
                            button.danger type="submit" { "Deactivate" }
                        } @else {
                            input type="hidden" name="is_active" value="true";
                            button type="submit" { "Reactivate" }
                        }
                    }
                    form.inline method="post" action=(format!("{here}/update")) {
                        (csrf_field(viewer))
                        input type="hidden" name="is_admin" value=(if account.is_admin { "false" } else { "true" });
                        button type="submit" { @if account.is_admin { "Revoke admin" } @else { "Make admin" } }
                    }
                    @if account.mfa_enabled {
                        form.inline method="post" action=(format!("{here}/reset-mfa")) {
                            (csrf_field(viewer))
                            button type="submit" { "Reset two-factor" }
                        }
                    }
                }
                form.grid-form method="post" action=(format!("{here}/password")) {
                    (csrf_field(viewer))
                    label { "New password" input type="password" name="password" required minlength="12" autocomplete="new-password"; }
                    button type="submit" { "Reset password" }
                }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateForm {
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    is_admin: Option<bool>,
}

pub(crate) async fn update_user(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
    PageForm { user, form }: PageForm<UpdateForm>,
) -> Response {
    let here = format!("/admin/users/{username}");
    let update = UserUpdate {
        is_active: form.is_active,
        is_admin: form.is_admin,
        ..UserUpdate::default()
    };
    match state
        .identity()
        .update_user(&user.principal, &username, update, &client)
        .await
    {
        Ok(_) => back(&here, "ok", "Saved."),
        Err(error) => fail(&here, error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    password: String,
}

pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
    PageForm { user, form }: PageForm<PasswordForm>,
) -> Response {
    let here = format!("/admin/users/{username}");
    match state
        .identity()
        .reset_password(&user.principal, &username, &form.password, &client)
        .await
    {
        Ok(()) => back(&here, "ok", "Password reset; the user's sessions ended."),
        Err(error) => fail(&here, error),
    }
}

pub(crate) async fn reset_mfa(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let here = format!("/admin/users/{username}");
    match state
        .identity()
        .reset_mfa(&user.principal, &username, &client)
        .await
    {
        Ok(()) => back(&here, "ok", "Two-factor authentication reset."),
        Err(error) => fail(&here, error),
    }
}

pub(crate) async fn settings(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&user) {
        return response;
    }
    let settings = state.identity().auth_settings().await.unwrap_or_default();
    let viewer = &user.viewer;
    page(
        viewer,
        "Sign-up & MFA",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs("/admin/settings"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            form.stack.narrow #auth-settings method="post" action="/admin/settings" {
                (csrf_field(viewer))
                label.check { input type="checkbox" name="signup_enabled" value="true" checked[settings.signup_enabled]; " Anyone who reaches this server may sign up" }
                label { "Limit sign-up to these email domains (comma-separated; empty: any)"
                    input type="text" name="signup_domains" value=(settings.signup_domains.join(", ")) placeholder="example.com"; }
                label.check { input type="checkbox" name="mfa_required" value="true" checked[settings.mfa_required]; " Require two-factor authentication for everyone" }
                button.primary type="submit" { "Save settings" }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    signup_enabled: Option<String>,
    #[serde(default)]
    signup_domains: String,
    #[serde(default)]
    mfa_required: Option<String>,
}

pub(crate) async fn save_settings(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<SettingsForm>,
) -> Response {
    let settings = AuthSettingsView {
        signup_enabled: form.signup_enabled.as_deref() == Some("true"),
        signup_domains: form
            .signup_domains
            .split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect(),
        mfa_required: form.mfa_required.as_deref() == Some("true"),
    };
    match state
        .identity()
        .update_auth_settings(&user.principal, &settings, &client)
        .await
    {
        Ok(_) => back("/admin/settings", "ok", "Settings saved."),
        Err(error) => fail("/admin/settings", error),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditPageQuery {
    action: Option<String>,
    actor: Option<String>,
    before_id: Option<i64>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<AuditPageQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&user) {
        return response;
    }
    let action = query.action.as_deref().filter(|s| !s.is_empty());
    let actor = query.actor.as_deref().filter(|s| !s.is_empty());
    let audit_query = AuditQuery {
        action_prefix: action.map(str::to_string),
        actor_name: actor.map(str::to_string),
        before_id: query.before_id,
        limit: 100,
        ..AuditQuery::default()
    };
    let events = state
        .identity()
        .list_audit(&user.principal, audit_query)
        .await
        .unwrap_or_default();
    let filters = format!(
        "action={}&actor={}",
        urlencode(action.unwrap_or_default()),
        urlencode(actor.unwrap_or_default())
    );
    page(
        &user.viewer,
        "Audit log",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs("/admin/audit"))
            form.grid-form method="get" action="/admin/audit" {
                label { "Action starts with" input type="text" name="action" value=[action] placeholder="login."; }
                label { "Actor" input type="text" name="actor" value=[actor]; }
                button type="submit" { "Filter" }
                a.button href=(format!("/api/v1/audit/export?{filters}")) { "Export JSON lines" }
            }
            table #audit {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "From" } th { "Outcome" } th { "Details" } } }
                tbody {
                    @for event in &events {
                        tr {
                            td { time datetime=(super::iso_ms(event.at_ms)) title=(super::iso_ms(event.at_ms)) { (super::format_ms_seconds(event.at_ms)) } }
                            td { (event.actor_name) }
                            td { code { (event.action) } }
                            td { (event.target) }
                            td { (event.client_ip) }
                            td { @if event.outcome == "success" { span.badge.ok { "success" } } @else { span.badge.bad { "failure" } } }
                            td { (audit_details(&event.details)) }
                        }
                    }
                }
            }
            @if let Some(last) = events.last().filter(|_| events.len() == 100) {
                p { a href=(format!("/admin/audit?{filters}&before_id={}", last.id)) { "Older events →" } }
            }
        },
    )
    .into_response()
}

/// An audit event's details as people read them: `key: value` lines (nested values as
/// compact JSON), the raw text when it is not a JSON object.
fn audit_details(details: &str) -> Markup {
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(serde_json::Value::Object(map)) if map.is_empty() => html! {},
        Ok(serde_json::Value::Object(map)) => html! {
            ul.details {
                @for (key, value) in &map {
                    li {
                        span.muted { (key.replace('_', " ")) ": " }
                        @match value {
                            serde_json::Value::String(text) => (super::long_value(text)),
                            other => (super::long_value(&other.to_string())),
                        }
                    }
                }
            }
        },
        _ => super::long_value(details),
    }
}
