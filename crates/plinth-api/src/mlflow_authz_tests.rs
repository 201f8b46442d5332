//! The authorization matrix of the MLflow API (its routes are not in the OpenAPI document):
//! every route of [`crate::mlflow::every_route`] — `/api/2.0/…`, the UI's `/ajax-api/2.0/…`
//! ones and `/graphql`, `/get-artifact` … (so a new route cannot be forgotten) — called
//! through `/projects/acme/churn/…` by each kind of caller, against the
//! status the design promises: reads need Viewer, writes Contributor; callers who may not
//! see the project get 404, a token scoped to another project 403.
//!
//! Objects are created fresh (unique names) before each cell that changes something, so
//! cells stay independent without a new world each.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::authz_tests::world;
use crate::tests::{json_request, send, TestApp};

/// The callers, in the order of each row's statuses.
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
const PROJECT: &str = "/projects/acme/churn";
const PREFIX: &str = "/projects/acme/churn/api/2.0";

/// One row: the route, the request (placeholders filled per cell) and the statuses.
struct Case {
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    body: Option<Value>,
    expected: [u16; 7],
}

/// Rows name `/mlflow/…` routes relative to `/api/2.0`; others give their whole path.
fn case(
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    body: Option<Value>,
    expected: [u16; 7],
) -> Case {
    Case {
        method,
        template,
        uri,
        body,
        expected,
    }
}

fn read(
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    body: Option<Value>,
) -> Case {
    case(method, template, uri, body, READ)
}

fn write(method: &'static str, template: &'static str, body: Value) -> Case {
    case(method, template, template, Some(body), WRITE)
}

#[rustfmt::skip]
fn matrix() -> Vec<Case> {
    let file = "/mlflow-artifacts/artifacts/{*artifact_path}";
    vec![
        read("GET", "/mlflow/experiments/search", "/mlflow/experiments/search?max_results=10", None),
        read("POST", "/mlflow/experiments/search", "/mlflow/experiments/search", Some(json!({ "max_results": 10 }))),
        read("GET", "/mlflow/experiments/get", "/mlflow/experiments/get?experiment_id=<EXP>", None),
        read("GET", "/mlflow/experiments/get-by-name", "/mlflow/experiments/get-by-name?experiment_name=<NAME>", None),
        write("POST", "/mlflow/experiments/create", json!({ "name": "<NAME>-new" })),
        write("POST", "/mlflow/experiments/delete", json!({ "experiment_id": "<EXP>" })),
        write("POST", "/mlflow/experiments/restore", json!({ "experiment_id": "<DEXP>" })),
        write("POST", "/mlflow/experiments/update", json!({ "experiment_id": "<EXP>", "new_name": "<NAME>-2" })),
        write("POST", "/mlflow/experiments/set-experiment-tag", json!({ "experiment_id": "<EXP>", "key": "k", "value": "v" })),
        write("POST", "/mlflow/experiments/delete-experiment-tag", json!({ "experiment_id": "<EXP>", "key": "t" })),
        write("POST", "/mlflow/runs/create", json!({ "experiment_id": "<EXP>" })),
        read("GET", "/mlflow/runs/get", "/mlflow/runs/get?run_id=<RUN>", None),
        write("POST", "/mlflow/runs/update", json!({ "run_id": "<RUN>", "status": "FINISHED", "end_time": 5 })),
        write("POST", "/mlflow/runs/delete", json!({ "run_id": "<RUN>" })),
        write("POST", "/mlflow/runs/restore", json!({ "run_id": "<DRUN>" })),
        write("POST", "/mlflow/runs/set-tag", json!({ "run_id": "<RUN>", "key": "k", "value": "v" })),
        write("POST", "/mlflow/runs/delete-tag", json!({ "run_id": "<RUN>", "key": "t" })),
        write("POST", "/mlflow/runs/log-parameter", json!({ "run_id": "<RUN>", "key": "p", "value": "1" })),
        write("POST", "/mlflow/runs/log-metric", json!({ "run_id": "<RUN>", "key": "m", "value": "NaN", "timestamp": 1, "step": 0 })),
        write("POST", "/mlflow/runs/log-batch", json!({ "run_id": "<RUN>", "metrics": [{ "key": "m", "value": 1.5, "timestamp": "2" }], "params": [{ "key": "b", "value": "2" }] })),
        write("POST", "/mlflow/runs/log-inputs", json!({ "run_id": "<RUN>", "datasets": [{ "tags": [], "dataset": { "name": "d", "digest": "x", "source_type": "local", "source": "{}" } }] })),
        write("POST", "/mlflow/runs/outputs", json!({ "run_id": "<RUN>", "models": [{ "model_id": "<LM>", "step": 0 }] })),
        write("POST", "/mlflow/runs/log-model", json!({ "run_id": "<RUN>", "model_json": "{\"artifact_path\": \"m\", \"flavors\": {}, \"utc_time_created\": \"2026-01-01\", \"run_id\": \"r\"}" })),
        read("POST", "/mlflow/runs/search", "/mlflow/runs/search", Some(json!({ "experiment_ids": ["<EXP>"], "filter": "metrics.loss < 1" }))),
        read("GET", "/mlflow/metrics/get-history", "/mlflow/metrics/get-history?run_id=<RUN>&metric_key=loss", None),
        read("GET", "/mlflow/metrics/get-history-bulk-interval", "/mlflow/metrics/get-history-bulk-interval?run_ids=<RUN>&metric_key=loss", None),
        read("GET", "/mlflow/artifacts/list", "/mlflow/artifacts/list?run_id=<RUN>", None),
        write("POST", "/mlflow/logged-models", json!({ "experiment_id": "<EXP>", "name": "lm" })),
        read("POST", "/mlflow/logged-models/search", "/mlflow/logged-models/search", Some(json!({ "experiment_ids": ["<EXP>"] }))),
        read("GET", "/mlflow/logged-models/{model_id}", "/mlflow/logged-models/<LM>", None),
        case("PATCH", "/mlflow/logged-models/{model_id}", "/mlflow/logged-models/<LM>", Some(json!({ "model_id": "<LM>", "status": "LOGGED_MODEL_READY" })), WRITE),
        case("DELETE", "/mlflow/logged-models/{model_id}", "/mlflow/logged-models/<LM>", None, WRITE),
        case("PATCH", "/mlflow/logged-models/{model_id}/tags", "/mlflow/logged-models/<LM>/tags", Some(json!({ "tags": [{ "key": "k", "value": "v" }] })), WRITE),
        case("DELETE", "/mlflow/logged-models/{model_id}/tags/{tag_key}", "/mlflow/logged-models/<LM>/tags/t", None, WRITE),
        case("POST", "/mlflow/logged-models/{model_id}/params", "/mlflow/logged-models/<LM>/params", Some(json!({ "model_id": "<LM>", "params": [{ "key": "p", "value": "1" }] })), WRITE),
        read("GET", "/mlflow/logged-models/{model_id}/artifacts/directories", "/mlflow/logged-models/<LM>/artifacts/directories", None),
        write("POST", "/mlflow/registered-models/create", json!({ "name": "<MODEL>-new" })),
        read("GET", "/mlflow/registered-models/get", "/mlflow/registered-models/get?name=<MODEL>", None),
        read("GET", "/mlflow/registered-models/search", "/mlflow/registered-models/search?filter=name%20LIKE%20%27m-%25%27", None),
        write("POST", "/mlflow/registered-models/rename", json!({ "name": "<MODEL>", "new_name": "<MODEL>-renamed" })),
        write("PATCH", "/mlflow/registered-models/update", json!({ "name": "<MODEL>", "description": "d" })),
        write("DELETE", "/mlflow/registered-models/delete", json!({ "name": "<MODEL>" })),
        write("POST", "/mlflow/registered-models/set-tag", json!({ "name": "<MODEL>", "key": "k", "value": "v" })),
        write("DELETE", "/mlflow/registered-models/delete-tag", json!({ "name": "<MODEL>", "key": "t" })),
        write("POST", "/mlflow/registered-models/alias", json!({ "name": "<MODEL>", "alias": "champion", "version": "1" })),
        write("DELETE", "/mlflow/registered-models/alias", json!({ "name": "<MODEL>", "alias": "a" })),
        read("GET", "/mlflow/registered-models/alias", "/mlflow/registered-models/alias?name=<MODEL>&alias=a", None),
        read("GET", "/mlflow/registered-models/get-latest-versions", "/mlflow/registered-models/get-latest-versions?name=<MODEL>", None),
        read("POST", "/mlflow/registered-models/get-latest-versions", "/mlflow/registered-models/get-latest-versions", Some(json!({ "name": "<MODEL>", "stages": ["None"] }))),
        write("POST", "/mlflow/model-versions/create", json!({ "name": "<MODEL>", "source": "models:/<LM>", "model_id": "<LM>" })),
        read("GET", "/mlflow/model-versions/get", "/mlflow/model-versions/get?name=<MODEL>&version=1", None),
        write("PATCH", "/mlflow/model-versions/update", json!({ "name": "<MODEL>", "version": "1", "description": "d" })),
        write("POST", "/mlflow/model-versions/transition-stage", json!({ "name": "<MODEL>", "version": "1", "stage": "staging", "archive_existing_versions": true })),
        write("DELETE", "/mlflow/model-versions/delete", json!({ "name": "<MODEL>", "version": "1" })),
        read("GET", "/mlflow/model-versions/search", "/mlflow/model-versions/search?filter=name%3D%27<MODEL>%27", None),
        read("GET", "/mlflow/model-versions/get-download-uri", "/mlflow/model-versions/get-download-uri?name=<MODEL>&version=1", None),
        write("POST", "/mlflow/model-versions/set-tag", json!({ "name": "<MODEL>", "version": "1", "key": "k", "value": "v" })),
        write("DELETE", "/mlflow/model-versions/delete-tag", json!({ "name": "<MODEL>", "version": "1", "key": "t" })),
        read("GET", "/mlflow-artifacts/artifacts", "/mlflow-artifacts/artifacts?path=<EXP>/<RUN>/artifacts", None),
        read("GET", file, "/mlflow-artifacts/artifacts/<EXP>/<RUN>/artifacts/file.txt", None),
        case("PUT", file, "/mlflow-artifacts/artifacts/<EXP>/<RUN>/artifacts/new.txt", None, WRITE),
        case("DELETE", file, "/mlflow-artifacts/artifacts/<EXP>/<RUN>/artifacts/file.txt", None, WRITE),
        case("POST", "/mlflow-artifacts/mpu/create/{*artifact_path}", "/mlflow-artifacts/mpu/create/<EXP>/<RUN>/artifacts", Some(json!({ "path": "/tmp/big.bin", "num_parts": 2 })), WRITE),
        case("POST", "/mlflow-artifacts/mpu/complete/{*artifact_path}", "/mlflow-artifacts/mpu/complete/<EXP>/<RUN>/artifacts", Some(json!({ "path": "/tmp/big.bin", "upload_id": "<UPLOAD>", "parts": [{ "part_number": 1, "etag": "e" }] })), WRITE),
        case("POST", "/mlflow-artifacts/mpu/abort/{*artifact_path}", "/mlflow-artifacts/mpu/abort/<EXP>/<RUN>/artifacts", Some(json!({ "path": "/tmp/big.bin", "upload_id": "<UPLOAD>" })), WRITE),
        // Parts carry no credentials (the client PUTs them like presigned URLs): the
        // upload id, 128 random bits handed to a writer, is the capability.
        case("PUT", "/mlflow-artifacts/mpu/part/{upload_id}/{part_number}", "/mlflow-artifacts/mpu/part/<UPLOAD>/1", None, [200; 7]),
        case("GET", "/mlflow-artifacts/presigned/{*artifact_path}", "/mlflow-artifacts/presigned/<EXP>/<RUN>/artifacts/file.txt", None, [501; 7]),
        // The UI's endpoints under /ajax-api/2.0 only, and those at the root.
        read("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=<RUN>&metric_key=loss", None),
        case("POST", "/ajax-api/2.0/mlflow/upload-artifact", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=<RUN>&path=up/new.txt", None, WRITE),
        read("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", "/ajax-api/2.0/mlflow/experiments/search-datasets", Some(json!({ "experiment_ids": ["<EXP>"] }))),
        read("GET", "/ajax-api/2.0/mlflow/gateway-proxy", "/ajax-api/2.0/mlflow/gateway-proxy", None),
        read("POST", "/ajax-api/2.0/mlflow/gateway-proxy", "/ajax-api/2.0/mlflow/gateway-proxy", Some(json!({ "gateway_path": "api/2.0/endpoints" }))),
        case("POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", Some(json!({ "experiment_id": "<EXP>", "prompt_template": "say {{x}}", "prompt_parameters": [{ "key": "x", "value": "hi" }], "model_route": "chat", "model_input": "say hi", "mlflow_version": "3.17.2" })), WRITE),
        read("GET", "/get-artifact", "/get-artifact?run_id=<RUN>&path=file.txt", None),
        read("GET", "/model-versions/get-artifact", "/model-versions/get-artifact?name=<MODEL>&version=1&path=MLmodel", None),
        read("GET", "/graphql", "/graphql?query=%7B%20test(inputString%3A%20%22x%22)%20%7B%20output%20%7D%20%7D", None),
        read("POST", "/graphql", "/graphql", Some(json!({ "query": "query($id: String) { mlflowGetExperiment(input: {experimentId: $id}) { experiment { name } } }", "variables": { "id": "<EXP>" } }))),
    ]
}

/// A row's path under the project: `/mlflow/…` rows live under `/api/2.0`.
fn mounted(path: &str) -> String {
    if path.starts_with("/mlflow") {
        format!("/api/2.0{path}")
    } else {
        path.to_string()
    }
}

/// Fresh objects of `acme/churn` a cell's request names.
#[derive(Clone)]
struct Objects {
    replacements: Vec<(&'static str, String)>,
}

impl Objects {
    fn fill(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (placeholder, value) in &self.replacements {
            text = text.replace(placeholder, value);
        }
        text
    }
}

async fn mlflow(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> Value {
    let uri = format!("{PREFIX}{path}");
    let answer = send(&app.router, json_request(method, &uri, Some(token), &body)).await;
    assert!(
        answer.status.is_success(),
        "{method} {uri}: {} {}",
        answer.status,
        answer.body
    );
    answer.json()
}

async fn objects(app: &TestApp, owner: &str, serial: usize) -> Objects {
    let name = format!("e-{serial}");
    let tags = json!([{ "key": "t", "value": "v" }]);
    let experiment = mlflow(
        app,
        owner,
        "POST",
        "/mlflow/experiments/create",
        json!({ "name": name, "tags": tags }),
    )
    .await;
    let experiment = experiment["experiment_id"].as_str().unwrap().to_string();
    let deleted = mlflow(
        app,
        owner,
        "POST",
        "/mlflow/experiments/create",
        json!({ "name": format!("{name}-deleted") }),
    )
    .await;
    let deleted = deleted["experiment_id"].as_str().unwrap().to_string();
    mlflow(
        app,
        owner,
        "POST",
        "/mlflow/experiments/delete",
        json!({ "experiment_id": deleted }),
    )
    .await;
    let run = mlflow(
        app,
        owner,
        "POST",
        "/mlflow/runs/create",
        json!({ "experiment_id": experiment, "tags": tags }),
    )
    .await;
    let run = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    mlflow(
        app,
        owner,
        "POST",
        "/mlflow/runs/log-metric",
        json!({ "run_id": run, "key": "loss", "value": 0.5, "timestamp": 1 }),
    )
    .await;
    let deleted_run = mlflow(
        app,
        owner,
        "POST",
        "/mlflow/runs/create",
        json!({ "experiment_id": experiment }),
    )
    .await;
    let deleted_run = deleted_run["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    mlflow(
        app,
        owner,
        "POST",
        "/mlflow/runs/delete",
        json!({ "run_id": deleted_run }),
    )
    .await;
    let logged = mlflow(
        app,
        owner,
        "POST",
        "/mlflow/logged-models",
        json!({ "experiment_id": experiment, "tags": tags }),
    )
    .await;
    let logged = logged["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let model = format!("m-{serial}");
    mlflow(
        app,
        owner,
        "POST",
        "/mlflow/registered-models/create",
        json!({ "name": model, "tags": tags }),
    )
    .await;
    mlflow(app, owner, "POST", "/mlflow/model-versions/create", json!({ "name": model, "source": format!("models:/{logged}"), "model_id": logged, "tags": tags })).await;
    mlflow(
        app,
        owner,
        "POST",
        "/mlflow/registered-models/alias",
        json!({ "name": model, "alias": "a", "version": "1" }),
    )
    .await;
    for file in [
        format!("{PREFIX}/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/file.txt"),
        format!(
            "{PREFIX}/mlflow-artifacts/artifacts/{experiment}/models/{logged}/artifacts/MLmodel"
        ),
    ] {
        let put = Request::put(&file)
            .header(header::AUTHORIZATION, format!("Bearer {owner}"))
            .body(Body::from("hello"))
            .unwrap();
        assert_eq!(send(&app.router, put).await.status, StatusCode::OK);
    }
    let upload = mlflow(
        app,
        owner,
        "POST",
        &format!("/mlflow-artifacts/mpu/create/{experiment}/{run}/artifacts"),
        json!({ "path": "/tmp/big.bin", "num_parts": 1 }),
    )
    .await;
    let upload = upload["upload_id"].as_str().unwrap().to_string();
    let part = Request::put(format!("{PREFIX}/mlflow-artifacts/mpu/part/{upload}/1"))
        .body(Body::from("part"))
        .unwrap();
    assert_eq!(send(&app.router, part).await.status, StatusCode::OK);
    Objects {
        replacements: vec![
            ("<DEXP>", deleted),
            ("<DRUN>", deleted_run),
            ("<EXP>", experiment),
            ("<RUN>", run),
            ("<UPLOAD>", upload),
            ("<LM>", logged),
            ("<MODEL>", model),
            ("<NAME>", name),
        ],
    }
}

fn request(method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None if method == "PUT" || uri.contains("/upload-artifact") => {
            builder.body(Body::from("uploaded bytes"))
        }
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

#[tokio::test]
async fn every_mlflow_route_answers_every_caller_as_designed() {
    let cases = matrix();
    let routes: BTreeSet<String> = crate::mlflow::every_route()
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let covered: BTreeSet<String> = cases
        .iter()
        .map(|case| format!("{} {}", case.method, mounted(case.template)))
        .collect();
    let missing: Vec<&String> = routes.difference(&covered).collect();
    let stale: Vec<&String> = covered.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "MLflow routes without a row in the matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for MLflow routes that do not exist: {stale:?}"
    );

    let world = world().await;
    let app = &world.app;
    let owner = world.tokens[3].clone().unwrap();
    // Oscar's token scoped to his own project, used on acme/churn.
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
    for case in &cases {
        let mut shared: Option<Objects> = None;
        for (column, caller) in CALLERS.iter().enumerate() {
            let expected = case.expected[column];
            // A cell that may change something gets objects of its own.
            let fresh = (200..300).contains(&expected) && case.expected != READ;
            let objects = if fresh {
                serial += 1;
                objects(app, &owner, serial).await
            } else {
                if shared.is_none() {
                    serial += 1;
                    shared = Some(objects(app, &owner, serial).await);
                }
                shared.clone().unwrap()
            };
            let uri = objects.fill(&format!("{PROJECT}{}", mounted(case.uri)));
            let body = case
                .body
                .as_ref()
                .map(|body| objects.fill(&body.to_string()));
            let answer = send(
                &app.router,
                request(
                    case.method,
                    &uri,
                    tokens[column].as_deref(),
                    body.as_deref(),
                ),
            )
            .await;
            checked += 1;
            let error_shape = answer.status.is_success()
                || answer
                    .json()
                    .get("error_code")
                    .is_some_and(Value::is_string);
            if answer.status.as_u16() != expected || !error_shape {
                failures.push(format!(
                    "{} {uri} as {caller}: expected {expected}, got {} {}",
                    case.method,
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
    eprintln!(
        "MLflow authorization matrix: {} routes x {} callers = {checked} cells, all as designed",
        cases.len(),
        CALLERS.len()
    );
}
