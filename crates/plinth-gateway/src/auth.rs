//! Signing visitors in on an App's own origin.
//!
//! Plinth's session cookie is host-only on the main origin and never reaches an App's. A
//! visitor without the App's cookie is sent to the main origin's handshake page, which (if
//! they are signed in and may view the App's project) sends them back with a one-time code
//! bound to that App's host and to them; the gateway exchanges it for a cookie bound to that
//! origin alone. Every request is checked again against the visitor's current role (the
//! verdict reused for a few seconds). Scripts send `Authorization: Bearer plt_…` instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use plinth_core::{AppRoute, CoreError, Principal, APP_VISITOR_ROLE};
use rand::RngCore;

use crate::{Gateway, GatewayError, APP_COOKIE, AUTH_PATH, HANDSHAKE_PATH};

/// Longest `next` path carried through the handshake.
const MAX_NEXT: usize = 2048;
/// Most codes and visits kept at once (oldest expired ones are dropped first; beyond it, new
/// ones are refused rather than memory growing without bound).
const MAX_ENTRIES: usize = 100_000;

struct Code {
    label: String,
    user_id: String,
    expires: Instant,
}

struct Visit {
    label: String,
    user_id: String,
    expires: Instant,
}

/// When a role was checked, and the username or the refusal.
type RoleVerdict = (Instant, Result<String, String>);

#[derive(Default)]
pub(crate) struct AuthState {
    /// One-time handshake codes, by SHA-256.
    codes: Mutex<HashMap<String, Code>>,
    /// App cookies, by SHA-256.
    visits: Mutex<HashMap<String, Visit>>,
    /// Recent role checks: (user id, project id) → when, and the username or the refusal.
    roles: Mutex<HashMap<(String, String), RoleVerdict>>,
}

/// Who is visiting an App, as the gateway tells the App (`X-Plinth-User`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Visitor {
    /// Their login name; `None` for anonymous visitors of a public App.
    pub(crate) username: Option<String>,
}

/// What to do with a request.
pub(crate) enum Admission {
    /// Let it through.
    Visitor(Visitor),
    /// Send the browser through the handshake first.
    Redirect(String),
}

fn random_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks a path to return to after the handshake: on the same origin, never another one
/// (`//host`, `/\host`), without control characters.
pub(crate) fn check_next(next: &str) -> Result<(), GatewayError> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= MAX_NEXT
        && !next.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(GatewayError::BadRequest(
            "invalid `next`: must be a path on the App's origin starting with a single `/`"
                .to_string(),
        ))
    }
}

/// The value of query parameter `name`, decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// Every cookie of the request, in order.
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Whether a bearer token is one of Plinth's (a personal or project token, or a session).
pub(crate) fn is_plinth_token(token: &str) -> bool {
    token.starts_with("plt_") || token.starts_with("pls_")
}

/// A `302 Found` to `location`, optionally setting a cookie.
pub(crate) fn redirect(location: &str, set_cookie: Option<String>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    expired: impl Fn(&V) -> bool,
) -> Result<(), GatewayError> {
    if map.len() >= MAX_ENTRIES / 2 {
        map.retain(|_, value| !expired(value));
    }
    if map.len() >= MAX_ENTRIES {
        return Err(GatewayError::Core(CoreError::Unavailable(
            "too many sign-ins at once; try again shortly".to_string(),
        )));
    }
    map.insert(key, value);
    Ok(())
}

fn refusal(route: &AppRoute, error: CoreError) -> GatewayError {
    match error {
        CoreError::NotFound { .. } | CoreError::Forbidden(_) => GatewayError::Forbidden(format!(
            "it needs the `{}` role in project `{}/{}`",
            APP_VISITOR_ROLE, route.project.0, route.project.1
        )),
        CoreError::Unauthenticated(message) => GatewayError::BadCredential(message),
        other => GatewayError::Core(other),
    }
}

impl Gateway {
    pub(crate) async fn start_handshake(
        &self,
        principal: &Principal,
        label: &str,
        next: &str,
    ) -> Result<String, GatewayError> {
        check_next(next)?;
        let route = match self.inner.runtime.app_route(label).await {
            Ok(route) => route,
            Err(CoreError::NotFound { .. }) => {
                return Err(GatewayError::NoSuchApp(label.to_string()))
            }
            Err(error) => return Err(GatewayError::Core(error)),
        };
        self.inner
            .identity
            .authorize_project_by_id(principal, &route.app.project_id, APP_VISITOR_ROLE)
            .await
            .map_err(|error| refusal(&route, error))?;
        let code = random_secret();
        let now = Instant::now();
        insert_bounded(
            &mut self.inner.auth.codes.lock().expect("codes lock"),
            plinth_auth::hash_secret(&code),
            Code {
                label: label.to_string(),
                user_id: principal.user().id.as_str().to_string(),
                expires: now + self.inner.settings.code_lifetime,
            },
            |code: &Code| code.expires <= now,
        )?;
        Ok(format!(
            "{}{AUTH_PATH}?code={code}&next={}",
            self.apps_origin().url(label),
            encode(next)
        ))
    }

    /// `GET /__plinth/auth?code=…&next=…` on the App's origin: the code (one use, bound to
    /// this host) becomes the App's cookie.
    pub(crate) fn exchange_code(
        &self,
        label: &str,
        request: &Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        if request.method() != Method::GET {
            return Err(GatewayError::BadRequest(format!(
                "`{AUTH_PATH}` takes GET only"
            )));
        }
        let query = request.uri().query();
        let next = query_param(query, "next").unwrap_or_else(|| "/".to_string());
        check_next(&next)?;
        let code = query_param(query, "code")
            .ok_or_else(|| GatewayError::BadRequest("`code` is missing".to_string()))?;
        let now = Instant::now();
        let taken = self
            .inner
            .auth
            .codes
            .lock()
            .expect("codes lock")
            .remove(&plinth_auth::hash_secret(&code));
        let code = match taken {
            Some(code) if code.expires > now && code.label == label => code,
            _ => {
                return Err(GatewayError::BadCredential(
                    "this sign-in link is used, expired or for another App; open the App again"
                        .to_string(),
                ))
            }
        };
        let token = random_secret();
        let lifetime = self.inner.settings.visit_lifetime;
        insert_bounded(
            &mut self.inner.auth.visits.lock().expect("visits lock"),
            plinth_auth::hash_secret(&token),
            Visit {
                label: label.to_string(),
                user_id: code.user_id,
                expires: now + lifetime,
            },
            |visit: &Visit| visit.expires <= now,
        )?;
        let secure = if self.apps_origin().scheme == "https" {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{APP_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            lifetime.as_secs()
        );
        Ok(redirect(&next, Some(cookie)))
    }

    /// Decides whether `request` may reach the App of `route`, and as whom.
    pub(crate) async fn visitor(
        &self,
        label: &str,
        route: &AppRoute,
        request: &http::request::Parts,
    ) -> Result<Admission, GatewayError> {
        if route.app.public {
            return Ok(Admission::Visitor(Visitor::default()));
        }
        if let Some(token) = bearer(&request.headers).filter(|token| is_plinth_token(token)) {
            let principal = self
                .inner
                .identity
                .authenticate_token(&token)
                .await
                .map_err(|error| refusal(route, error))?;
            self.inner
                .identity
                .authorize_project_by_id(&principal, &route.app.project_id, APP_VISITOR_ROLE)
                .await
                .map_err(|error| refusal(route, error))?;
            return Ok(Admission::Visitor(Visitor {
                username: Some(principal.user().username.to_string()),
            }));
        }
        let now = Instant::now();
        let visit = cookies(&request.headers)
            .into_iter()
            .filter(|(name, _)| name == APP_COOKIE)
            .find_map(|(_, value)| {
                let visits = self.inner.auth.visits.lock().expect("visits lock");
                visits
                    .get(&plinth_auth::hash_secret(&value))
                    .filter(|visit| visit.label == label && visit.expires > now)
                    .map(|visit| visit.user_id.clone())
            });
        if let Some(user_id) = visit {
            let username = self.visitor_role(route, &user_id, now).await?;
            return Ok(Admission::Visitor(Visitor {
                username: Some(username),
            }));
        }
        if matches!(request.method, Method::GET | Method::HEAD) {
            let next = request
                .uri
                .path_and_query()
                .map(|path| path.as_str().to_string())
                .filter(|next| check_next(next).is_ok())
                .unwrap_or_else(|| "/".to_string());
            return Ok(Admission::Redirect(format!(
                // The label is a DNS label: nothing in it needs escaping.
                "{}{HANDSHAKE_PATH}?app={label}&next={}",
                self.inner.settings.main_url,
                encode(&next)
            )));
        }
        Err(GatewayError::Unauthenticated)
    }

    /// The visitor's current right to view the App's project, reused for a few seconds.
    async fn visitor_role(
        &self,
        route: &AppRoute,
        user_id: &str,
        now: Instant,
    ) -> Result<String, GatewayError> {
        let key = (user_id.to_string(), route.app.project_id.clone());
        let cached = self
            .inner
            .auth
            .roles
            .lock()
            .expect("roles lock")
            .get(&key)
            .filter(|(at, _)| now.duration_since(*at) < self.inner.settings.role_cache)
            .map(|(_, verdict)| verdict.clone());
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                let checked = self
                    .inner
                    .identity
                    .app_visitor(
                        &plinth_types::UserId::from_stored(user_id.to_string()),
                        &route.app.project_id,
                    )
                    .await;
                let verdict = match checked {
                    Ok(principal) => Ok(principal.user().username.to_string()),
                    Err(error) => match refusal(route, error) {
                        GatewayError::Core(error) => return Err(GatewayError::Core(error)),
                        refused => Err(refused.to_string()),
                    },
                };
                let mut roles = self.inner.auth.roles.lock().expect("roles lock");
                if roles.len() >= MAX_ENTRIES {
                    roles.clear();
                }
                roles.insert(key, (now, verdict.clone()));
                verdict
            }
        };
        verdict.map_err(|message| {
            GatewayError::Forbidden(
                message
                    .strip_prefix("you may not open this App: ")
                    .unwrap_or(&message)
                    .to_string(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_apps_origin() {
        for good in ["/", "/a/b?c=1&d=%2F", "/streamlit/_stcore/stream"] {
            assert!(check_next(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "//evil.example.com",
            "/\\evil.example.com",
            "https://x",
            "/a\nb",
        ] {
            assert!(check_next(bad).is_err(), "{bad:?}");
        }
        assert!(check_next(&format!("/{}", "a".repeat(MAX_NEXT))).is_err());
    }

    #[test]
    fn query_parameters_and_cookies_are_read_exactly() {
        let query = Some("code=ab%2Bc&next=%2Fa%3Fb%3D1&x");
        assert_eq!(query_param(query, "code").as_deref(), Some("ab+c"));
        assert_eq!(query_param(query, "next").as_deref(), Some("/a?b=1"));
        assert_eq!(query_param(query, "x").as_deref(), Some(""));
        assert_eq!(query_param(query, "missing"), None);
        assert_eq!(query_param(None, "code"), None);
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; plinth_app=x=y"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(
            cookies(&headers),
            [
                ("a".to_string(), "1".to_string()),
                ("plinth_app".to_string(), "x=y".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
    }

    #[test]
    fn only_plinth_tokens_are_taken_as_plinth_credentials() {
        assert!(is_plinth_token("plt_abc"));
        assert!(is_plinth_token("pls_abc"));
        assert!(!is_plinth_token("eyJhbGciOi"));
        let secrets: std::collections::HashSet<String> =
            (0..100).map(|_| random_secret()).collect();
        assert_eq!(secrets.len(), 100);
        assert!(secrets.iter().all(|secret| secret.len() == 64));
    }
}
