//! Error pages in the signed-in layout: handlers (and the router's fallback) answer
//! [`super::error_page`] without knowing who asks; it marks the response with
//! [`ErrorPageInfo`], and [`signed_in_errors`] (a layer of the whole app) draws it again
//! with the caller's sidebar and a link to the nearest real page above the failed path.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::layout::error_page_for;
use super::session::PageUser;
use crate::AppState;

/// What an error page says, kept on its response for [`signed_in_errors`].
#[derive(Clone, Debug)]
pub(crate) struct ErrorPageInfo {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

/// Redraws marked error pages for signed-in callers (one session lookup, on errors only).
pub(crate) async fn signed_in_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let response = next.run(request).await;
    let Some(info) = response.extensions().get::<ErrorPageInfo>().cloned() else {
        return response;
    };
    if !headers.contains_key(header::COOKIE) {
        return response;
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.headers = headers;
    parts.uri = match path.parse() {
        Ok(uri) => uri,
        Err(_) => return response,
    };
    let Ok(user) = PageUser::from_request_parts(&mut parts, &state).await else {
        return response;
    };
    let nearest = nearest_page(&path);
    let redrawn = error_page_for(
        &user.viewer,
        info.status,
        &info.message,
        (&nearest, &nearest),
    );
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let (_, body) = redrawn.into_parts();
    Response::from_parts(parts, Body::new(body))
}

/// The closest path above `path` that is a page of the UI (`/` at worst).
pub(crate) fn nearest_page(path: &str) -> String {
    let routes = super::routes();
    let pages: Vec<&str> = routes
        .listed()
        .iter()
        .filter(|(method, template)| *method == "GET" && !template.contains('*'))
        .map(|(_, template)| *template)
        .collect();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    for length in (1..segments.len()).rev() {
        let candidate = &segments[..length];
        let matches = |template: &&str| {
            let parts: Vec<&str> = template.split('/').skip(1).collect();
            parts.len() == candidate.len()
                && parts
                    .iter()
                    .zip(candidate)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        };
        if pages.iter().any(matches) {
            return format!("/{}", candidate.join("/"));
        }
    }
    "/".to_string()
}

#[cfg(test)]
mod tests {
    use super::nearest_page;

    #[test]
    fn the_nearest_page_is_the_closest_real_one_above() {
        assert_eq!(
            nearest_page("/projects/acme/vision/runs/nope"),
            "/projects/acme/vision"
        );
        assert_eq!(
            nearest_page("/projects/acme/vision/experiments/9/x"),
            "/projects/acme/vision/experiments/9"
        );
        assert_eq!(nearest_page("/projects/acme/nope"), "/projects");
        assert_eq!(nearest_page("/no-such-page"), "/");
        assert_eq!(nearest_page("/admin/users/zed"), "/admin");
    }
}
