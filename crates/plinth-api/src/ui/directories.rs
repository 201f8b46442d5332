//! Administration of identity federation: the configured LDAP / Active Directory
//! directories (from `plinth.toml`), with a "Test connection" and a "Test login" button
//! each, and the OpenID Connect providers.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::admin::{admin_rejection, admin_tabs, UsersQuery};
use super::layout::{csrf_field, notice, page};
use super::session::{back, fail, urlencode, CsrfOnly, PageForm, PageUser};
use crate::identity::ClientInfoExtractor;
use crate::AppState;

const HERE: &str = "/admin/directories";

pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<UsersQuery>,
) -> Response {
    if let Some(response) = admin_rejection(&user) {
        return response;
    }
    let viewer = &user.viewer;
    let directories = state
        .identity()
        .list_directories(&user.principal)
        .unwrap_or_default();
    let providers = state.oidc().providers();
    page(
        viewer,
        "Directories",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs(HERE))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            h2 { "LDAP / Active Directory" }
            @if directories.is_empty() {
                p.muted { "No directory is configured. Add an " code { "[[auth.ldap]]" } " table to " code { "plinth.toml" } " to let users log in with their directory account." }
            } @else {
                p.muted { "While a directory is configured, local sign-up is off; local accounts such as " code { "admin" } " still log in." }
                @for directory in &directories {
                    section.card id={"directory-" (directory.name)} {
                        h3 { (directory.name) }
                        dl {
                            dt { "URL" } dd { code { (directory.url) } " (" (directory.security) ")" }
                            dt { "User base" } dd { code { (directory.user_base) } }
                            dt { "User filter" } dd { code { (directory.user_filter) } }
                        }
                        form.inline method="post" action={(HERE) "/" (urlencode(&directory.name)) "/test-connection"} {
                            (csrf_field(viewer))
                            button type="submit" { "Test connection" }
                        }
                        form.inline method="post" action={(HERE) "/" (urlencode(&directory.name)) "/test-login"} {
                            (csrf_field(viewer))
                            label { "Username" input type="text" name="username" required autocomplete="off"; }
                            label { "Password" input type="password" name="password" required autocomplete="off"; }
                            button type="submit" { "Test login" }
                        }
                    }
                }
            }
            h2 { "OpenID Connect" }
            @if providers.is_empty() {
                p.muted { "No provider is configured. Add an " code { "[[auth.oidc]]" } " table to " code { "plinth.toml" } " for a “Log in with …” button." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Button" } th { "Issuer" } } }
                    tbody {
                        @for provider in &providers {
                            tr { td { (provider.name) } td { "Log in with " (provider.display_name) } td { code { (provider.issuer) } } }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn test_connection(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, form: _ }: PageForm<CsrfOnly>,
) -> Response {
    match state
        .identity()
        .test_directory_connection(&user.principal, &name, &client)
        .await
    {
        Ok(message) => back(HERE, "ok", &message),
        Err(error) => fail(HERE, error),
    }
}

#[derive(Deserialize)]
pub(crate) struct TestLoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn test_login(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, form }: PageForm<TestLoginForm>,
) -> Response {
    match state
        .identity()
        .test_directory_login(
            &user.principal,
            &name,
            &form.username,
            &form.password,
            &client,
        )
        .await
    {
        Ok(account) => {
            let view = crate::identity::account_view(account);
            let mut roles: Vec<String> = Vec::new();
            if view.platform_admin {
                roles.push("platform admin".to_string());
            }
            roles.extend(view.organizations);
            roles.extend(view.projects);
            let message = format!(
                "`{}` would log in as `{}` ({}, {}); groups: {}; roles: {}",
                form.username.trim(),
                view.username,
                view.display_name,
                view.email,
                if view.groups.is_empty() {
                    "none".to_string()
                } else {
                    view.groups.join(" · ")
                },
                if roles.is_empty() {
                    "none".to_string()
                } else {
                    roles.join(", ")
                },
            );
            back(HERE, "ok", &message)
        }
        Err(error) => fail(HERE, error),
    }
}
