//! The page shell (head, navigation, user menu, notices) and the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use plinth_types::User;

use super::AREAS;

/// Who is looking at a page: the signed-in user and the session's CSRF token for forms;
/// the project the page belongs to (its path says) and the user's projects (the switcher).
#[derive(Clone, Debug, Default)]
pub(crate) struct Viewer {
    pub(crate) user: Option<User>,
    pub(crate) csrf: String,
    pub(crate) project: Option<(String, String)>,
    pub(crate) projects: Vec<ProjectLink>,
}

/// A project in the switcher.
#[derive(Clone, Debug)]
pub(crate) struct ProjectLink {
    pub(crate) organization: String,
    pub(crate) name: String,
    pub(crate) display_name: String,
}

/// Projects the switcher lists at most.
pub(crate) const SWITCHER_PROJECTS: usize = 50;

/// The areas that have a page per project: inside a project the sidebar links there.
const PROJECT_AREAS: &[(&str, &str)] = &[
    ("/jobs", "jobs"),
    ("/experiments", "experiments"),
    ("/models", "models"),
];

/// Where a sidebar entry leads: inside a project, that project's page of the area.
fn area_href(viewer: &Viewer, path: &str) -> String {
    match (
        &viewer.project,
        PROJECT_AREAS.iter().find(|(area, _)| *area == path),
    ) {
        (Some((organization, project)), Some((_, page))) => {
            format!("/projects/{organization}/{project}/{page}")
        }
        _ => path.to_string(),
    }
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

/// The scripts of pages with metric charts: uPlot (vendored, MIT), then `charts.js`.
pub(crate) const CHART_SCRIPTS: &[&str] = &[
    "/assets/vendor/uplot/uPlot.iife.min.js",
    "/assets/charts.js",
];

/// Like [`page`], loading `script` (a path under `/assets/`, deferred; `/assets/charts.js`
/// brings uPlot and its stylesheet). The CSP allows no inline scripts, so every script is a
/// file. Every page also loads `/assets/plinth.js` (copy buttons, the mlflow client's
/// `#/experiments/…` links).
pub(crate) fn page_with_script(
    viewer: &Viewer,
    title: &str,
    active: &str,
    script: Option<&str>,
    content: Markup,
) -> Markup {
    let scripts: Vec<&str> = match script {
        Some("/assets/charts.js") => CHART_SCRIPTS.to_vec(),
        Some(script) => vec![script],
        None => Vec::new(),
    };
    let charts = scripts.contains(&"/assets/charts.js");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Plinth" }
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                @if charts {
                    link rel="stylesheet" href="/assets/vendor/uplot/uPlot.min.css";
                }
                link rel="stylesheet" href="/assets/plinth.css";
                script src="/assets/plinth.js" defer {}
                @for script in scripts {
                    script src=(script) defer {}
                }
            }
            body {
                a.skip-link href="#main" { "Skip to the content" }
                div.shell {
                    nav.sidebar #sidebar aria-label="Main" {
                        div.sidebar-top {
                            a.brand href="/" {
                                img src="/assets/favicon.svg" alt="" width="24" height="24";
                                span { "Plinth" }
                            }
                            button.menu-button #menu-button type="button" hidden aria-controls="sidebar" aria-expanded="false" { (super::icon("menu")) " Menu" }
                        }
                        @if viewer.user.is_some() {
                            (project_switcher(viewer))
                            ul {
                                @for area in AREAS {
                                    @if area.path != "/admin" || viewer.is_admin() {
                                        li {
                                            a href=(area_href(viewer, area.path)) class=[(active == area.path).then_some("active")]
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
                    main #main tabindex="-1" {
                        (content)
                    }
                }
                footer.version { "Plinth " (plinth_types::VERSION) }
            }
        }
    }
}

/// The project switcher: the current project (when the page is in one) and a list of the
/// user's projects to go to.
fn project_switcher(viewer: &Viewer) -> Markup {
    let current = viewer.project.as_ref().map(|(organization, name)| {
        viewer
            .projects
            .iter()
            .find(|p| &p.organization == organization && &p.name == name)
            .map_or_else(|| name.clone(), |p| p.display_name.clone())
    });
    html! {
        details.project-switcher #project-switcher {
            summary {
                span.muted { "Project" } br;
                strong { (current.unwrap_or_else(|| "All projects".to_string())) }
            }
            ul {
                @for project in &viewer.projects {
                    li { a href=(format!("/projects/{}/{}", project.organization, project.name)) {
                        (project.display_name) " " span.muted { (project.organization) }
                    } }
                }
                li { a href="/projects" { "All projects…" } }
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
            p { a href="/" { "Back to the start page" } " · " a href="/login" { "Sign in" } }
        },
    );
    let mut response = (status, markup).into_response();
    response
        .extensions_mut()
        .insert(super::errors::ErrorPageInfo {
            status,
            message: message.to_string(),
        });
    response
}

/// An error page in the signed-in layout of `viewer`, pointing to the nearest real page
/// (`(path, title)`).
pub(crate) fn error_page_for(
    viewer: &Viewer,
    status: StatusCode,
    message: &str,
    nearest: (&str, &str),
) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let markup = page(
        viewer,
        &title,
        "",
        html! {
            h1 { (title) }
            p.lead { (message) }
            p { a #nearest href=(nearest.0) { "Go to " (nearest.1) } " · " a href="/" { "Home" } }
        },
    );
    (status, markup).into_response()
}
