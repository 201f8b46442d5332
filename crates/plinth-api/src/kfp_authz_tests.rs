//! The authorization matrix of KFP's API (not in the OpenAPI document): every route of
//! [`crate::kfp::routes`], called through `/projects/acme/churn/apis/v2beta1/…` by each
//! kind of caller: reads need Viewer, writes Contributor; callers who may not see the
//! project get 404, a token scoped to another project 403. Errors are in KFP's shape.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::authz_tests::world;
use crate::tests::{json_request, send, TestApp};

const CALLERS: [&str; 7] = [
    "anonymous",
    "viewer",
    "contributor",
    "owner",
    "admin",
    "outsider",
    "scoped to another project",
];
const READ: [u16; 7] = [401, 200, 200, 200, 200, 404, 403];
const WRITE: [u16; 7] = [401, 403, 200, 200, 200, 404, 403];
const PREFIX: &str = "/projects/acme/churn/apis/v2beta1";

const SPEC: &str = include_str!("../../plinth-pipelines/tests-data/chain.yaml");

/// One row: method, route template, request path, JSON body, statuses per caller.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<Value>,
    [u16; 7],
);

#[rustfmt::skip]
fn matrix() -> Vec<Row> {
    vec![
        ("GET", "/healthz", "/healthz", None, READ),
        ("POST", "/experiments", "/experiments", Some(json!({ "display_name": "<NAME>-new" })), WRITE),
        ("GET", "/experiments", "/experiments?filter=%7B%22predicates%22%3A%5B%5D%7D", None, READ),
        ("GET", "/experiments/{experiment_id}", "/experiments/<EXP>", None, READ),
        ("POST", "/experiments/{experiment_id}", "/experiments/<EXP>:archive", None, WRITE),
        ("POST", "/runs", "/runs", Some(json!({ "display_name": "r", "experiment_id": "<EXP>", "pipeline_version_reference": { "pipeline_id": "<PIPE>" } })), WRITE),
        ("GET", "/runs", "/runs", None, READ),
        ("GET", "/runs/{run_id}", "/runs/<RUN>", None, READ),
        ("POST", "/runs/{run_id}", "/runs/<RUN>:archive", None, WRITE),
        ("POST", "/pipelines/upload", "/pipelines/upload?name=<NAME>-up", None, WRITE),
        ("POST", "/pipelines/upload_version", "/pipelines/upload_version?pipelineid=<PIPE>&name=<NAME>-v2", None, WRITE),
        ("GET", "/pipelines", "/pipelines", None, READ),
        ("GET", "/pipelines/{pipeline_id}", "/pipelines/<PIPE>", None, READ),
        ("GET", "/pipelines/{pipeline_id}/versions", "/pipelines/<PIPE>/versions", None, READ),
        ("GET", "/pipelines/{pipeline_id}/versions/{pipeline_version_id}", "/pipelines/<PIPE>/versions/<VER>", None, READ),
    ]
}

const BOUNDARY: &str = "plinth-kfp-test-boundary";

fn request(method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if uri.contains("/pipelines/upload") {
        let body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"p.yaml\"\r\nContent-Type: application/octet-stream\r\n\r\n{SPEC}\r\n--{BOUNDARY}--\r\n"
        );
        return builder
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .unwrap();
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

async fn objects(app: &TestApp, owner: &str, serial: usize) -> Vec<(&'static str, String)> {
    let name = format!("k-{serial}");
    let call = |method: &'static str, uri: String, body: Option<String>| {
        let request = request(method, &uri, Some(owner), body.as_deref());
        async move {
            let answer = send(&app.router, request).await;
            assert!(
                answer.status.is_success(),
                "{uri}: {} {}",
                answer.status,
                answer.body
            );
            answer.json()
        }
    };
    let experiment = call(
        "POST",
        format!("{PREFIX}/experiments"),
        Some(json!({ "display_name": name }).to_string()),
    )
    .await;
    let experiment = experiment["experiment_id"].as_str().unwrap().to_string();
    let pipeline = call(
        "POST",
        format!("{PREFIX}/pipelines/upload?name={name}"),
        None,
    )
    .await;
    let pipeline = pipeline["pipeline_id"].as_str().unwrap().to_string();
    let versions = call(
        "GET",
        format!("{PREFIX}/pipelines/{pipeline}/versions"),
        None,
    )
    .await;
    let version = versions["pipeline_versions"][0]["pipeline_version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = call(
        "POST",
        format!("{PREFIX}/runs"),
        Some(json!({ "display_name": name, "experiment_id": experiment, "pipeline_version_reference": { "pipeline_id": pipeline } }).to_string()),
    )
    .await;
    let run = run["run_id"].as_str().unwrap().to_string();
    vec![
        ("<EXP>", experiment),
        ("<PIPE>", pipeline),
        ("<VER>", version),
        ("<RUN>", run),
        ("<NAME>", name),
    ]
}

fn fill(text: &str, objects: &[(&'static str, String)]) -> String {
    let mut text = text.to_string();
    for (placeholder, value) in objects {
        text = text.replace(placeholder, value);
    }
    text
}

#[tokio::test]
async fn every_kfp_route_answers_every_caller_as_designed() {
    let cases = matrix();
    let routes: BTreeSet<String> = crate::kfp::routes()
        .listed
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let covered: BTreeSet<String> = cases
        .iter()
        .map(|(method, template, ..)| format!("{method} {template}"))
        .collect();
    assert_eq!(routes, covered, "KFP routes and matrix rows differ");

    let world = world().await;
    let app = &world.app;
    let owner = world.tokens[3].clone().unwrap();
    let foreign = send(
        &app.router,
        json_request(
            "POST",
            "/api/v1/me/tokens",
            world.tokens[5].as_deref(),
            &json!({ "name": "ads", "project": "globex/ads" }),
        ),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::CREATED, "{}", foreign.body);
    let foreign = foreign.json()["token"].as_str().unwrap().to_string();
    let tokens: Vec<Option<String>> = world
        .tokens
        .iter()
        .cloned()
        .chain([Some(foreign)])
        .collect();

    let mut serial = 0;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, _, uri, body, expected) in &cases {
        for (column, caller) in CALLERS.iter().enumerate() {
            serial += 1;
            let objects = objects(app, &owner, serial).await;
            let uri = fill(&format!("{PREFIX}{uri}"), &objects);
            let body = body.as_ref().map(|body| fill(&body.to_string(), &objects));
            let answer = send(
                &app.router,
                request(method, &uri, tokens[column].as_deref(), body.as_deref()),
            )
            .await;
            checked += 1;
            let shape = answer.status.is_success()
                || answer
                    .json()
                    .get("error_message")
                    .is_some_and(Value::is_string);
            if answer.status.as_u16() != expected[column] || !shape {
                failures.push(format!(
                    "{method} {uri} as {caller}: expected {}, got {} {}",
                    expected[column],
                    answer.status.as_u16(),
                    answer.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn bad_submissions_are_refused_in_kfps_shape() {
    let world = world().await;
    let app = &world.app;
    let owner = world.tokens[3].clone().unwrap();
    let post = |body: Value| {
        let request = request(
            "POST",
            &format!("{PREFIX}/runs"),
            Some(&owner),
            Some(&body.to_string()),
        );
        async move { send(&app.router, request).await }
    };
    let spec: Value = serde_norway::from_str(SPEC).unwrap();
    let answer = post(json!({ "display_name": "r", "pipeline_spec": spec, "runtime_config": { "parameters": { "n": "three" } } })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.json()["code"], 3);
    let message = answer.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("runtime_config.parameters.n") && message.contains("whole number"),
        "{message}"
    );
    let answer =
        post(json!({ "display_name": "r", "pipeline_spec": { "kind": "Workflow" } })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.body.contains("not a PipelineSpec"),
        "{}",
        answer.body
    );
    // An empty list is `{}`.
    let runs = send(
        &app.router,
        request("GET", &format!("{PREFIX}/runs"), Some(&owner), None),
    )
    .await;
    assert_eq!(runs.json(), json!({}));
    // Without a project, a personal token is told how to name one.
    let plain = send(
        &app.router,
        request("GET", "/apis/v2beta1/runs", Some(&owner), None),
    )
    .await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST, "{}", plain.body);
    assert!(
        plain.body.contains("projects/ORG/PROJECT"),
        "{}",
        plain.body
    );
}

#[tokio::test]
async fn a_viewer_sees_the_runs_and_a_runs_graph() {
    let world = world().await;
    let app = &world.app;
    let owner = world.tokens[3].clone().unwrap();
    let seeded = objects(app, &owner, 1).await;
    let run = &seeded.iter().find(|(name, _)| *name == "<RUN>").unwrap().1;
    let (cookie, _) =
        crate::tests::browser_login(&app.router, "vera", crate::authz_tests::PASSWORD).await;
    let list = send(
        &app.router,
        crate::tests::page_as("/projects/acme/churn/pipelines", &cookie),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body
            .contains(&format!("/projects/acme/churn/pipelines/runs/{run}")),
        "{}",
        list.body
    );
    let page = send(
        &app.router,
        crate::tests::page_as(
            &format!("/projects/acme/churn/pipelines/runs/{run}"),
            &cookie,
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"pipeline-dag\""), "{}", page.body);
    for task in ["make", "write", "read", "flip", "condition-1"] {
        assert!(
            page.body.contains(&format!("<title>{task}: ")),
            "{task}: {}",
            page.body
        );
    }
}
