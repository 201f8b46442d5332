//! The authorization matrix of the Model API endpoints (`serving.rs`): every route the
//! router has under `/{organization}/{project}/models/{deployment}`, called by each kind
//! of caller, against the status the design promises, with each protocol's error shape and
//! the data-only headers on every answer.
//!
//! The fixture's deployment `scorer` has no model file and these tests no ONNX Runtime:
//! callers who may use it get past the authorization to `503` (it cannot load), callers
//! who may not get `401`/`404` before anything is loaded.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use crate::authz_tests::{world, CALLERS};
use crate::tests::send;

const BASE: &str = "/acme/churn/models/scorer";

/// Columns: anonymous, viewer, contributor, owner, admin, outsider.
fn matrix() -> Vec<(&'static str, String, [u16; 6])> {
    let member = |status: u16| [401, status, status, status, status, 404];
    vec![
        ("POST", format!("{BASE}/invocations"), member(503)),
        ("GET", format!("{BASE}/ping"), member(503)),
        ("GET", format!("{BASE}/health"), member(503)),
        ("GET", format!("{BASE}/version"), member(200)),
        ("GET", format!("{BASE}/v2"), member(200)),
        ("GET", format!("{BASE}/v2/health/live"), member(200)),
        ("GET", format!("{BASE}/v2/health/ready"), member(503)),
        ("GET", format!("{BASE}/v2/models/scorer"), member(503)),
        ("GET", format!("{BASE}/v2/models/scorer/ready"), member(503)),
        (
            "POST",
            format!("{BASE}/v2/models/scorer/infer"),
            member(503),
        ),
        (
            "GET",
            format!("{BASE}/v2/models/scorer/versions/1"),
            member(503),
        ),
        (
            "GET",
            format!("{BASE}/v2/models/scorer/versions/1/ready"),
            member(503),
        ),
        (
            "POST",
            format!("{BASE}/v2/models/scorer/versions/1/infer"),
            member(503),
        ),
        // No such deployment: members learn that, others learn nothing more.
        (
            "POST",
            "/acme/churn/models/nothing/invocations".to_string(),
            member(404),
        ),
        (
            "GET",
            "/acme/churn/models/nothing/v2/health/live".to_string(),
            member(404),
        ),
    ]
}

#[tokio::test]
async fn every_model_route_answers_every_caller_as_designed() {
    let cases = matrix();
    // Every route of the router under the prefix has a row.
    let routes = [
        "/invocations",
        "/ping",
        "/health",
        "/version",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{model}",
        "/v2/models/{model}/ready",
        "/v2/models/{model}/infer",
        "/v2/models/{model}/versions/{version}",
        "/v2/models/{model}/versions/{version}/ready",
        "/v2/models/{model}/versions/{version}/infer",
    ];
    assert_eq!(routes.len(), 13);
    for route in routes {
        let concrete = route.replace("{model}", "scorer").replace("{version}", "1");
        assert!(
            cases
                .iter()
                .any(|(_, uri, _)| *uri == format!("{BASE}{concrete}")),
            "no row for {route}"
        );
    }
    let mut failures = Vec::new();
    for (column, caller) in CALLERS.iter().enumerate() {
        let world = world().await;
        let token = world.tokens[column].as_deref();
        for (method, uri, expected) in &cases {
            let mut builder = Request::builder().method(*method).uri(uri);
            if let Some(token) = token {
                builder = builder.header("authorization", format!("Bearer {token}"));
            }
            let body = if *method == "POST" {
                builder = builder.header("content-type", "application/json");
                Body::from(r#"{"instances": [[1.0, 2.0, 3.0, 4.0]]}"#)
            } else {
                Body::empty()
            };
            let answer = send(&world.app.router, builder.body(body).unwrap()).await;
            if answer.status != StatusCode::from_u16(expected[column]).unwrap() {
                failures.push(format!(
                    "{method} {uri} as {caller}: expected {}, got {} {}",
                    expected[column],
                    answer.status.as_u16(),
                    answer.body
                ));
                continue;
            }
            assert_eq!(answer.header("x-content-type-options"), "nosniff", "{uri}");
            assert!(
                answer.header("content-security-policy").contains("sandbox"),
                "{uri}: {}",
                answer.header("content-security-policy")
            );
            if answer.status.is_success() {
                continue;
            }
            assert_eq!(answer.header("content-type"), "application/json", "{uri}");
            let body: Value = answer.json();
            if uri.contains("/v2") {
                assert!(body["error"].is_string(), "{uri}: {body}");
            } else {
                assert!(
                    body["error_code"].is_string() && body["message"].is_string(),
                    "{uri}: {body}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn model_errors_are_never_pages() {
    let world = world().await;
    let viewer = world.tokens[1].clone().unwrap();
    // A method the route does not take, with a browser's cookie-less page request.
    let answer = send(
        &world.app.router,
        Request::get(format!("{BASE}/invocations"))
            .header("accept", "text/html")
            .header("authorization", format!("Bearer {viewer}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        answer
            .header("content-type")
            .starts_with("application/json"),
        "{}",
        answer.body
    );
    // A failed load names its reason, and the deployment's state says it too.
    let answer = send(
        &world.app.router,
        Request::get(format!("{BASE}/ping"))
            .header("authorization", format!("Bearer {viewer}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("`scorer` failed to load"),
        "{}",
        answer.body
    );
    let shown = send(
        &world.app.router,
        crate::tests::get_as(
            "/api/v1/orgs/acme/projects/churn/deployments/scorer",
            &viewer,
        ),
    )
    .await;
    assert_eq!(shown.json()["state"], "failed", "{}", shown.body);
    assert_eq!(
        shown.json()["path"],
        "/acme/churn/models/scorer",
        "{}",
        shown.body
    );
}

#[tokio::test]
async fn a_model_without_files_or_flavor_is_refused_naming_why() {
    let world = world().await;
    let carl = world.tokens[2].clone().unwrap();
    for (body, expected) in [
        (
            serde_json::json!({"name": "fraud-api", "model": "fraud/1"}),
            "has no `MLmodel`",
        ),
        (
            serde_json::json!({"name": "fraud-api", "model": "fraud@champion"}),
            "version 1 of model `fraud`",
        ),
        (
            serde_json::json!({"name": "fraud-api", "model": "fraud/7"}),
            "not found",
        ),
        (
            serde_json::json!({"name": "fraud-api", "model": "fraud@nope"}),
            "nope",
        ),
        (
            serde_json::json!({"name": "Fraud", "model": "fraud/1"}),
            "invalid `name`",
        ),
        (
            serde_json::json!({"name": "fraud-api", "model": "fraud"}),
            "invalid `model`",
        ),
        (
            serde_json::json!({"name": "scorer", "model": "fraud/1"}),
            "has no `MLmodel`",
        ),
    ] {
        let answer = send(
            &world.app.router,
            crate::tests::json_request(
                "POST",
                "/api/v1/orgs/acme/projects/churn/deployments",
                Some(&carl),
                &body,
            ),
        )
        .await;
        assert!(
            answer.status.is_client_error(),
            "{body}: {} {}",
            answer.status,
            answer.body
        );
        let message = answer.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn the_deployments_page_lists_endpoints_and_the_version_page_offers_deploy() {
    use crate::tests::{browser_login, page_as};
    let world = world().await;
    let (cookie, csrf) =
        browser_login(&world.app.router, "carl", crate::authz_tests::PASSWORD).await;
    let page = send(
        &world.app.router,
        page_as("/projects/acme/churn/deployments?model=fraud%2F1", &cookie),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("/acme/churn/models/scorer"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("$PLINTH_URL/acme/churn/models/scorer/invocations"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="fraud/1""#),
        "the form is prefilled: {}",
        page.body
    );
    let version = send(
        &world.app.router,
        page_as("/projects/acme/churn/models/fraud/versions/1", &cookie),
    )
    .await;
    assert!(
        version
            .body
            .contains(r#"href="/projects/acme/churn/deployments?model=fraud/1""#),
        "{}",
        version.body
    );
    // The form deploys through the service: this version has no files, and says so.
    let answer = send(
        &world.app.router,
        crate::ui::tests::form(
            "/projects/acme/churn/deployments",
            &cookie,
            &csrf,
            &[("name", "fraud-api"), ("model", "fraud/1")],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert!(
        answer.header("location").contains("error=")
            && answer.header("location").contains("MLmodel"),
        "{}",
        answer.header("location")
    );
}
