//! The page shell: head, navigation, and the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::AREAS;

/// Wraps `content` in the shell: header, navigation with `active` highlighted, footer.
pub(crate) fn page(title: &str, active: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Plinth" }
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/plinth.css";
            }
            body {
                div.shell {
                    nav.sidebar aria-label="Main" {
                        a.brand href="/" {
                            img src="/assets/favicon.svg" alt="" width="24" height="24";
                            span { "Plinth" }
                        }
                        ul {
                            @for area in AREAS {
                                li {
                                    a href=(area.path) class=[(active == area.path).then_some("active")]
                                        aria-current=[(active == area.path).then_some("page")] { (area.title) }
                                }
                            }
                        }
                        div.sidebar-footer {
                            a href="/status" class=[(active == "/status").then_some("active")] { "Status" }
                            a href="/api/v1/openapi.json" { "API" }
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
