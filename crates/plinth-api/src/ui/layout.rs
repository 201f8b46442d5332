//! The page shell (head, navigation, user menu, notices) and the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use plinth_types::User;

use super::AREAS;

/// Who is looking at a page: the signed-in user and the session's CSRF token for forms.
#[derive(Clone, Debug, Default)]
pub(crate) struct Viewer {
    pub(crate) user: Option<User>,
    pub(crate) csrf: String,
}

impl Viewer {
    /// Returns whether the viewer is a platform admin.
    pub(crate) fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|user| user.is_admin)
    }
}

/// The hidden CSRF field every state-changing form carries.
pub(crate) fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="_csrf" value=(viewer.csrf); }
}

/// A green or red banner.
pub(crate) fn notice(ok: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(ok) = ok { div.callout.ok role="status" { (ok) } }
        @if let Some(error) = error { div.callout.bad role="alert" { (error) } }
    }
}

/// Wraps `content` in the shell: navigation with `active` highlighted, the user menu.
pub(crate) fn page(viewer: &Viewer, title: &str, active: &str, content: Markup) -> Markup {
    page_with_script(viewer, title, active, None, content)
}

/// Like [`page`], loading `script` (a path under `/assets/`, deferred). The CSP allows no
/// inline scripts, so every script is a file.
pub(crate) fn page_with_script(
    viewer: &Viewer,
    title: &str,
    active: &str,
    script: Option<&str>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Plinth" }
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/plinth.css";
                @if let Some(script) = script {
                    script src=(script) defer {}
                }
            }
            body {
                div.shell {
                    nav.sidebar aria-label="Main" {
                        a.brand href="/" {
                            img src="/assets/favicon.svg" alt="" width="24" height="24";
                            span { "Plinth" }
                        }
                        @if viewer.user.is_some() {
                            ul {
                                @for area in AREAS {
                                    @if area.path != "/admin" || viewer.is_admin() {
                                        li {
                                            a href=(area.path) class=[(active == area.path).then_some("active")]
                                                aria-current=[(active == area.path).then_some("page")] { (area.title) }
                                        }
                                    }
                                }
                            }
                        } @else {
                            ul {}
                        }
                        div.sidebar-footer {
                            @if let Some(user) = &viewer.user {
                                a href="/profile" class=[(active == "/profile").then_some("active")] {
                                    "Profile · " strong { (user.username) }
                                }
                                a href="/status" class=[(active == "/status").then_some("active")] { "Status" }
                                form.inline method="post" action="/logout" {
                                    (csrf_field(viewer))
                                    button.link type="submit" { "Log out" }
                                }
                            } @else {
                                a href="/login" class=[(active == "/login").then_some("active")] { "Log in" }
                            }
                        }
                    }
                    main {
                        (content)
                    }
                }
                footer.version { "Plinth " (plinth_types::VERSION) }
            }
        }
    }
}

/// Returns an HTML error page with `status`.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let markup = page(
        &Viewer::default(),
        &title,
        "",
        html! {
            h1 { (title) }
            p.lead { (message) }
            p { a href="/" { "Back to the start page" } }
        },
    );
    (status, markup).into_response()
}
