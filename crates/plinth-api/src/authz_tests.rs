//! The authorization matrix: every route of the router, generated from the OpenAPI
//! document (so a new route cannot be forgotten), called by each kind of caller on a fresh
//! fixture, against the status the design promises.

use std::collections::BTreeSet;

use futures::StreamExt;

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
            "/api/v1/me/s3-keys",
            "/api/v1/me/s3-keys",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/me/s3-keys",
            "/api/v1/me/s3-keys",
            Some(json!({ "read_only": true })),
            [401, 201, 201, 201, 201, 201],
        ),
        case(
            "POST",
            "/api/v1/me/s3-keys",
            "/api/v1/me/s3-keys",
            Some(json!({ "project": "acme/churn" })),
            [401, 201, 201, 201, 201, 404],
        ),
        case(
            "DELETE",
            "/api/v1/me/s3-keys/{access_key_id}",
            "/api/v1/me/s3-keys/PLKAAAAAAAAAAAAAAAAA",
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
            "/api/v1/admin/directories",
            "/api/v1/admin/directories",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        // No directory is configured in the fixture: the admin learns it does not exist.
        case(
            "POST",
            "/api/v1/admin/directories/{name}/test-connection",
            "/api/v1/admin/directories/corp/test-connection",
            None,
            [401, 403, 403, 403, 404, 403],
        ),
        case(
            "POST",
            "/api/v1/admin/directories/{name}/test-login",
            "/api/v1/admin/directories/corp/test-login",
            Some(json!({ "username": "alice", "password": PASSWORD })),
            [401, 403, 403, 403, 404, 403],
        ),
        case(
            "POST",
            "/api/v1/admin/directories/sync",
            "/api/v1/admin/directories/sync",
            None,
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
            "/api/v1/runtime",
            "/api/v1/runtime",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "GET",
            "/api/v1/pools",
            "/api/v1/pools",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "PUT",
            "/api/v1/pools/{name}",
            "/api/v1/pools/fpga",
            Some(json!({ "node_selector": { "plinth.dev/pool": "fpga" } })),
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "DELETE",
            "/api/v1/pools/{name}",
            "/api/v1/pools/platform",
            None,
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "GET",
            "/api/v1/classes",
            "/api/v1/classes",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "PUT",
            "/api/v1/classes/{name}",
            "/api/v1/classes/tiny",
            Some(json!({ "pool": "compute", "cpu_millis": 500, "memory_bytes": 1073741824 })),
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "DELETE",
            "/api/v1/classes/{name}",
            "/api/v1/classes/large",
            None,
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "GET",
            "/api/v1/usage",
            "/api/v1/usage",
            None,
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/quota",
            "/api/v1/orgs/acme/projects/churn/quota",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PUT",
            "/api/v1/orgs/{organization}/projects/{project}/quota",
            "/api/v1/orgs/acme/projects/churn/quota",
            Some(json!({ "max_jobs": 5 })),
            [401, 403, 403, 403, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/usage",
            "/api/v1/orgs/acme/projects/churn/usage",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PUT",
            "/api/v1/orgs/{organization}/projects/{project}/snapshots/{sha256}",
            // The SHA-256 of the JSON body `"snapshot"`.
            "/api/v1/orgs/acme/projects/churn/snapshots/20ccb3d1c6ef3be0acf3dc63016cbd4b0ffeb7c4ca329fdf7ae02a591c5de486",
            Some(json!("snapshot")),
            [401, 403, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/snapshots/{sha256}",
            "/api/v1/orgs/acme/projects/churn/snapshots/20ccb3d1c6ef3be0acf3dc63016cbd4b0ffeb7c4ca329fdf7ae02a591c5de486",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/jobs",
            "/api/v1/orgs/acme/projects/churn/jobs",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/jobs",
            "/api/v1/orgs/acme/projects/churn/jobs",
            Some(json!({ "class": "small", "command": ["true"] })),
            [401, 403, 201, 201, 201, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}",
            "/api/v1/orgs/acme/projects/churn/jobs/JOB_ID",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/stop",
            "/api/v1/orgs/acme/projects/churn/jobs/JOB_ID/stop",
            None,
            [401, 403, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/rerun",
            "/api/v1/orgs/acme/projects/churn/jobs/JOB_ID/rerun",
            None,
            [401, 403, 201, 201, 201, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/jobs/{id}/logs",
            "/api/v1/orgs/acme/projects/churn/jobs/JOB_ID/logs",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/apps",
            "/api/v1/orgs/acme/projects/churn/apps",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/apps",
            "/api/v1/orgs/acme/projects/churn/apps",
            Some(json!({ "name": "site", "class": "serve-small", "command": ["sleep", "30"] })),
            [401, 403, 409, 409, 409, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/apps/{app}",
            "/api/v1/orgs/acme/projects/churn/apps/board",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/apps/{app}/stop",
            "/api/v1/orgs/acme/projects/churn/apps/board/stop",
            None,
            [401, 403, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/apps/{app}/logs",
            "/api/v1/orgs/acme/projects/churn/apps/board/logs",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/deployments",
            "/api/v1/orgs/acme/projects/churn/deployments",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        // Version 1 of `fraud` has no `MLmodel`: refused after the authorization.
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/deployments",
            "/api/v1/orgs/acme/projects/churn/deployments",
            Some(json!({ "name": "fraud-api", "model": "fraud/1" })),
            [401, 403, 400, 400, 400, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/deployments/{deployment}",
            "/api/v1/orgs/acme/projects/churn/deployments/scorer",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}/projects/{project}/deployments/{deployment}",
            "/api/v1/orgs/acme/projects/churn/deployments/scorer",
            None,
            [401, 403, 204, 204, 204, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/environments",
            "/api/v1/orgs/acme/projects/churn/environments",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/environments",
            "/api/v1/orgs/acme/projects/churn/environments",
            Some(json!({ "name": "fresh", "python": "3.11" })),
            [401, 403, 201, 201, 201, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}",
            "/api/v1/orgs/acme/projects/churn/environments/train:1",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "PUT",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}",
            "/api/v1/orgs/acme/projects/churn/environments/train",
            Some(json!({ "python": "3.12" })),
            [401, 403, 200, 200, 200, 404],
        ),
        case(
            "DELETE",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}",
            "/api/v1/orgs/acme/projects/churn/environments/train",
            None,
            [401, 403, 204, 204, 204, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/versions",
            "/api/v1/orgs/acme/projects/churn/environments/train/versions",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        // An environment that does not exist: building one would need the network.
        case(
            "POST",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/build",
            "/api/v1/orgs/acme/projects/churn/environments/missing/build",
            None,
            [401, 403, 404, 404, 404, 404],
        ),
        case(
            "GET",
            "/api/v1/orgs/{organization}/projects/{project}/environments/{name}/logs",
            "/api/v1/orgs/acme/projects/churn/environments/train/logs",
            None,
            [401, 200, 200, 200, 200, 404],
        ),
        case(
            "GET",
            "/api/v1/environments",
            "/api/v1/environments",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/environments",
            "/api/v1/environments",
            Some(json!({ "name": "fresh", "python": "3.11" })),
            [401, 403, 403, 403, 201, 403],
        ),
        case(
            "GET",
            "/api/v1/environments/{name}",
            "/api/v1/environments/base",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "PUT",
            "/api/v1/environments/{name}",
            "/api/v1/environments/base",
            Some(json!({ "python": "3.12" })),
            [401, 403, 403, 403, 200, 403],
        ),
        case(
            "DELETE",
            "/api/v1/environments/{name}",
            "/api/v1/environments/base",
            None,
            [401, 403, 403, 403, 204, 403],
        ),
        case(
            "GET",
            "/api/v1/environments/{name}/versions",
            "/api/v1/environments/base/versions",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        case(
            "POST",
            "/api/v1/environments/{name}/build",
            "/api/v1/environments/missing/build",
            None,
            [401, 403, 403, 403, 404, 403],
        ),
        case(
            "GET",
            "/api/v1/environments/{name}/logs",
            "/api/v1/environments/base/logs",
            None,
            [401, 200, 200, 200, 200, 200],
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
    /// A job of `acme/churn`, queued behind a zero job quota (so no process runs).
    pub(crate) job_id: String,
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
    put(
        &app,
        "/api/v1/orgs/acme/projects/churn/quota",
        &admin,
        json!({ "max_jobs": 0 }),
    )
    .await;
    let carl = login_token(&app.router, "carl", PASSWORD).await;
    let job = send(
        &app.router,
        json_request(
            "POST",
            "/api/v1/orgs/acme/projects/churn/jobs",
            Some(&carl),
            &json!({ "class": "small", "command": ["sh", "-c", "echo hi"] }),
        ),
    )
    .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.body);
    assert_eq!(job.json()["state"], "queued", "{}", job.body);
    let job_id = job.json()["id"].as_str().unwrap().to_string();
    // An App, `board`, served by a real (if silent) process.
    let board = send(
        &app.router,
        json_request(
            "POST",
            "/api/v1/orgs/acme/projects/churn/apps",
            Some(&carl),
            &json!({ "name": "board", "class": "serve-small", "command": ["sleep", "30"] }),
        ),
    )
    .await;
    assert_eq!(board.status, StatusCode::CREATED, "{}", board.body);
    // Stopped at once (the local backend would keep a server running, and restarting,
    // after the test), and no room for another: creating one stops at the quota, after
    // the authorization.
    let stopped = send(
        &app.router,
        json_request(
            "POST",
            "/api/v1/orgs/acme/projects/churn/apps/board/stop",
            Some(&carl),
            &json!(null),
        ),
    )
    .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    put(
        &app,
        "/api/v1/orgs/acme/projects/churn/quota",
        &admin,
        json!({ "max_jobs": 0, "max_deployments": 0 }),
    )
    .await;
    let snapshot = send(
        &app.router,
        json_request(
            "PUT",
            "/api/v1/orgs/acme/projects/churn/snapshots/20ccb3d1c6ef3be0acf3dc63016cbd4b0ffeb7c4ca329fdf7ae02a591c5de486",
            Some(&carl),
            &json!("snapshot"),
        ),
    )
    .await;
    assert_eq!(snapshot.status, StatusCode::OK, "{}", snapshot.body);
    // Environments: `train` in acme/churn, the global `base` (neither is built).
    for (uri, token, name) in [
        (
            "/api/v1/orgs/acme/projects/churn/environments",
            &carl,
            "train",
        ),
        ("/api/v1/environments", &admin, "base"),
    ] {
        let created = send(
            &app.router,
            json_request(
                "POST",
                uri,
                Some(token),
                &json!({ "name": name, "python": "3.11", "packages": ["iniconfig"] }),
            ),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    // The registry: model `fraud` with version 1 from a run, a tag on each, alias
    // `champion`.
    let mlflow = "/projects/acme/churn/api/2.0/mlflow";
    let run = send(
        &app.router,
        json_request(
            "POST",
            &format!("{mlflow}/runs/create"),
            Some(&carl),
            &json!({ "experiment_id": "0", "run_name": "baseline" }),
        ),
    )
    .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let run_id = run.json()["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    post(
        &app,
        &format!("{mlflow}/registered-models/create"),
        &carl,
        json!({ "name": "fraud", "tags": [{ "key": "team", "value": "risk" }] }),
    )
    .await;
    post(
        &app,
        &format!("{mlflow}/model-versions/create"),
        &carl,
        json!({ "name": "fraud", "source": format!("runs:/{run_id}/model"), "run_id": run_id,
                "tags": [{ "key": "team", "value": "risk" }] }),
    )
    .await;
    post(
        &app,
        &format!("{mlflow}/registered-models/alias"),
        &carl,
        json!({ "name": "fraud", "alias": "champion", "version": "1" }),
    )
    .await;
    // A deployment, `scorer`, of `fraud` version 1 (recorded directly: the version has no
    // model files, and these tests have no ONNX Runtime).
    let project = send(
        &app.router,
        crate::tests::get_as("/api/v1/orgs/acme/projects/churn", &carl),
    )
    .await
    .json();
    let now = chrono::Utc::now().timestamp_millis();
    plinth_serving::DeploymentStore::create(
        &plinth_serving::SqlDeploymentStore::new(app.state.metastore().shared_pool()),
        &plinth_serving::Deployment {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: project["id"].as_str().unwrap().to_string(),
            name: "scorer".to_string(),
            model_name: "fraud".to_string(),
            model_version: 1,
            model_ref: "fraud@champion".to_string(),
            flavor: "onnx".to_string(),
            signature: None,
            state: plinth_api_types::DeploymentState::Loading,
            message: None,
            created_by: "carl".to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        },
    )
    .await
    .unwrap();
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
        Some(carl),
        Some(olga),
        Some(admin),
        Some(oscar),
    ];
    World {
        app,
        tokens,
        tina_token_id,
        job_id,
    }
}

/// Sends one cell's request on a fresh world; returns a description when it differs.
async fn check_cell(case: &Case, column: usize) -> Option<String> {
    let caller = CALLERS[column];
    let world = world().await;
    let token = world.tokens[column].as_deref();
    let uri = case
        .uri
        .replace("TINA_TOKEN", &world.tina_token_id)
        .replace("JOB_ID", &world.job_id);
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
    (answer.status != StatusCode::from_u16(case.expected[column]).unwrap()).then(|| {
        format!(
            "{} {} as {caller}: expected {}, got {} {}",
            case.method,
            uri,
            case.expected[column],
            answer.status.as_u16(),
            answer.body
        )
    })
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

    // Cells are independent (each has a fresh world), so they run a few at a time.
    let cells: Vec<(&Case, usize)> = cases
        .iter()
        .flat_map(|case| (0..CALLERS.len()).map(move |column| (case, column)))
        .collect();
    let outcomes: Vec<Option<String>> = futures::stream::iter(cells)
        .map(|(case, column)| check_cell(case, column))
        .buffer_unordered(4)
        .collect()
        .await;
    let checked = outcomes.len();
    let failures: Vec<String> = outcomes.into_iter().flatten().collect();
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
