//! The authorization matrix: every route of the router, generated from the OpenAPI
//! document (so a new route cannot be forgotten), called by each kind of caller on a fresh
//! fixture, against the status the design promises.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::tests::{app, json_request, login_token, send, TestApp, ADMIN_PASSWORD};

pub(crate) const PASSWORD: &str = "violet-harbour-thimble-42";

/// The callers, in the order of each row's statuses.
pub(crate) const CALLERS: [&str; 6] = [
    "anonymous",
    "viewer",
    "contributor",
    "owner",
    "admin",
    "outsider",
];

/// One row: a request and the status each caller gets.
struct Case {
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    body: Option<Value>,
    expected: [u16; 6],
}

fn case(
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    body: Option<Value>,
    expected: [u16; 6],
) -> Case {
    Case {
        method,
        template,
        uri,
        body,
        expected,
    }
}

/// The whole matrix. Columns: anonymous, viewer, contributor, owner, admin, outsider.
/// `acme/churn` has owner `olga`, contributor `carl` and viewer `vera`; `olga` owns and
/// `carl` is a member of organization `acme`; the outsider `oscar` owns `globex/ads` only.
fn matrix() -> Vec<Case> {
    let user_body =
        json!({ "username": "newbie", "email": "newbie@example.com", "password": PASSWORD });
    vec![
        case("GET", "/healthz", "/healthz", None, [200; 6]),
        case("GET", "/readyz", "/readyz", None, [200; 6]),
        case("GET", "/metrics", "/metrics", None, [200; 6]),
        case(
            "GET",
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
            [200; 6],
        ),
        case(
            "GET",
            "/api/v1/status",
            "/api/v1/status",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(json!({ "username": "tina", "password": PASSWORD })),
            [200; 6],
        ),
        case(
            "POST",
            "/api/v1/auth/signup",
            "/api/v1/auth/signup",
            Some(json!({ "username": "s", "email": "s@example.com", "password": PASSWORD })),
            [403; 6],
        ),
        case(
            "POST",
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            None,
            [401, 204, 204, 204, 204, 204],
        ),
        case(
            "GET",
            "/api/v1/me",
            "/api/v1/me",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "PATCH",
            "/api/v1/me",
            "/api/v1/me",
            Some(json!({ "display_name": "Renamed" })),
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/me/password",
            "/api/v1/me/password",
            Some(
                json!({ "current_password": "CURRENT", "new_password": "a-brand-new-passphrase-7" }),
            ),
            [401, 204, 204, 204, 204, 204],
        ),
        case(
            "POST",
            "/api/v1/me/mfa",
            "/api/v1/me/mfa",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/me/mfa/confirm",
            "/api/v1/me/mfa/confirm",
            Some(json!({ "code": "000000" })),
            [401, 409, 409, 409, 409, 409],
        ),
        case(
            "POST",
            "/api/v1/me/mfa/disable",
            "/api/v1/me/mfa/disable",
            Some(json!({ "code": "000000" })),
            [401, 409, 409, 409, 409, 409],
        ),
        case(
            "GET",
            "/api/v1/me/tokens",
            "/api/v1/me/tokens",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/me/tokens",
            "/api/v1/me/tokens",
            Some(json!({ "name": "matrix" })),
            [401, 201, 201, 201, 201, 201],
        ),
        case(
            "DELETE",
            "/api/v1/me/tokens/{token_id}",
            "/api/v1/me/tokens/TINA_TOKEN",
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        case(
            "GET",
            "/api/v1/users",
            "/api/v1/users",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Some(user_body),
            [401, 403, 403, 403, 201, 403],
        ),
        case(
            "GET",
            "/api/v1/users/{username}",
            "/api/v1/users/tina",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "PATCH",
            "/api/v1/users/{username}",
            "/api/v1/users/tina",
            Some(json!({ "display_name": "T" })),
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "POST",
            "/api/v1/users/{username}/password",
            "/api/v1/users/tina/password",
            Some(json!({ "password": "reset-by-admin-phrase-3" })),
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "DELETE",
            "/api/v1/users/{username}/mfa",
            "/api/v1/users/tina/mfa",
            None,
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "GET",
            "/api/v1/settings/auth",
            "/api/v1/settings/auth",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "PUT",
            "/api/v1/settings/auth",
            "/api/v1/settings/auth",
            Some(json!({ "signup_enabled": true, "signup_domains": [], "mfa_required": false })),
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "GET",
            "/api/v1/orgs",
            "/api/v1/orgs",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/orgs",
            "/api/v1/orgs",
            Some(json!({ "name": "initech" })),
            [401, 403, 403, 403, 201, 403],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}",
            "/api/v1/orgs/acme",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}",
            "/api/v1/orgs/acme",
            None,
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/members",
            "/api/v1/orgs/acme/members",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PUT",
            "/api/v1/orgs/{organization}/members/{username}",
            "/api/v1/orgs/acme/members/tina",
            Some(json!({ "role": "member" })),
            [401, 403, 403, 204, 204, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}/members/{username}",
            "/api/v1/orgs/acme/members/carl",
            None,
            [401, 403, 403, 204, 204, 404],
        ),
        case(
            "GET",
            "/api/v1/projects",
            "/api/v1/projects",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects",
            "/api/v1/orgs/acme/projects",
            Some(json!({ "name": "fresh" })),
            [401, 403, 201, 201, 201, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}",
            "/api/v1/orgs/acme/projects/churn",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PATCH",
            "/api/v1/orgs/{organization}/projects/{project}",
            "/api/v1/orgs/acme/projects/churn",
            Some(json!({ "display_name": "Churn 2" })),
            [401, 403, 403, 200, 200, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}/projects/{project}",
            "/api/v1/orgs/acme/projects/churn",
            None,
            [401, 403, 403, 204, 204, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/members",
            "/api/v1/orgs/acme/projects/churn/members",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PUT",
            "/api/v1/orgs/{organization}/projects/{project}/members/{username}",
            "/api/v1/orgs/acme/projects/churn/members/tina",
            Some(json!({ "role": "viewer" })),
            [401, 403, 403, 204, 204, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}/projects/{project}/members/{username}",
            "/api/v1/orgs/acme/projects/churn/members/vera",
            None,
            [401, 403, 403, 204, 204, 404],
        ),
        case(
            "GET",
            "/api/v1/audit",
            "/api/v1/audit",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "GET",
            "/api/v1/audit/export",
            "/api/v1/audit/export",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
    ]
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) tokens: [Option<String>; 6],
    pub(crate) tina_token_id: String,
}

async fn post(app: &TestApp, uri: &str, token: &str, body: Value) {
    let answer = send(&app.router, json_request("POST", uri, Some(token), &body)).await;
    assert!(
        answer.status.is_success(),
        "{uri}: {} {}",
        answer.status,
        answer.body
    );
}

async fn put(app: &TestApp, uri: &str, token: &str, body: Value) {
    let answer = send(&app.router, json_request("PUT", uri, Some(token), &body)).await;
    assert!(
        answer.status.is_success(),
        "{uri}: {} {}",
        answer.status,
        answer.body
    );
}

pub(crate) async fn world() -> World {
    let app = app().await;
    let admin = app.admin_token.clone();
    for name in ["vera", "carl", "olga", "oscar", "tina"] {
        post(&app, "/api/v1/users", &admin, json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD })).await;
    }
    post(
        &app,
        "/api/v1/orgs",
        &admin,
        json!({ "name": "acme", "owner": "olga" }),
    )
    .await;
    post(
        &app,
        "/api/v1/orgs",
        &admin,
        json!({ "name": "globex", "owner": "oscar" }),
    )
    .await;
    let olga = login_token(&app.router, "olga", PASSWORD).await;
    let oscar = login_token(&app.router, "oscar", PASSWORD).await;
    put(
        &app,
        "/api/v1/orgs/acme/members/carl",
        &olga,
        json!({ "role": "member" }),
    )
    .await;
    post(
        &app,
        "/api/v1/orgs/acme/projects",
        &olga,
        json!({ "name": "churn" }),
    )
    .await;
    post(
        &app,
        "/api/v1/orgs/globex/projects",
        &oscar,
        json!({ "name": "ads" }),
    )
    .await;
    put(
        &app,
        "/api/v1/orgs/acme/projects/churn/members/carl",
        &olga,
        json!({ "role": "contributor" }),
    )
    .await;
    put(
        &app,
        "/api/v1/orgs/acme/projects/churn/members/vera",
        &olga,
        json!({ "role": "viewer" }),
    )
    .await;
    let tina = login_token(&app.router, "tina", PASSWORD).await;
    let me = send(
        &app.router,
        crate::tests::get_as("/api/v1/me/tokens", &tina),
    )
    .await
    .json();
    let tina_token_id = me[0]["id"].as_str().unwrap().to_string();
    let tokens = [
        None,
        Some(login_token(&app.router, "vera", PASSWORD).await),
        Some(login_token(&app.router, "carl", PASSWORD).await),
        Some(olga),
        Some(admin),
        Some(oscar),
    ];
    World {
        app,
        tokens,
        tina_token_id,
    }
}

fn password_of(caller: &str) -> &'static str {
    if caller == "admin" {
        ADMIN_PASSWORD
    } else {
        PASSWORD
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_designed() {
    let cases = matrix();
    // The matrix covers exactly the routes of the router.
    let document = crate::openapi_document();
    let mut routes = BTreeSet::new();
    for (path, item) in &document.paths.paths {
        for (method, operation) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            if operation.is_some() {
                routes.insert(format!("{method} {path}"));
            }
        }
    }
    let covered: BTreeSet<String> = cases
        .iter()
        .map(|case| format!("{} {}", case.method, case.template))
        .collect();
    let missing: Vec<&String> = routes.difference(&covered).collect();
    let stale: Vec<&String> = covered.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for routes that no longer exist: {stale:?}"
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for (column, caller) in CALLERS.iter().enumerate() {
            // A fresh world per cell: cells change state (deletions, logouts).
            let world = world().await;
            let token = world.tokens[column].as_deref();
            let uri = case.uri.replace("TINA_TOKEN", &world.tina_token_id);
            let body = case.body.as_ref().map(|body| {
                let text = body.to_string().replace("CURRENT", password_of(caller));
                serde_json::from_str::<Value>(&text).unwrap()
            });
            let request = match &body {
                Some(body) => json_request(case.method, &uri, token, body),
                None => {
                    let mut builder = Request::builder().method(case.method).uri(&uri);
                    if let Some(token) = token {
                        builder = builder.header("authorization", format!("Bearer {token}"));
                    }
                    builder.body(Body::empty()).unwrap()
                }
            };
            let answer = send(&world.app.router, request).await;
            checked += 1;
            if answer.status != StatusCode::from_u16(case.expected[column]).unwrap() {
                failures.push(format!(
                    "{} {} as {caller}: expected {}, got {} {}",
                    case.method,
                    uri,
                    case.expected[column],
                    answer.status.as_u16(),
                    answer.body
                ));
            }
        }
    }
    assert_eq!(checked, cases.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "authorization matrix: {} routes x {} callers = {checked} cells, all as designed",
        cases.len(),
        CALLERS.len()
    );
}
