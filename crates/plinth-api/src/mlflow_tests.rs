//! Router tests of the MLflow wire layer: error shapes and statuses everywhere under its
//! prefixes, how a call finds its project, MLflow's JSON (ids as strings, int64 as numbers,
//! NaN and infinities as strings), GET query parameters (repeated keys as lists), the
//! unauthenticated `server-info`, and streamed artifact uploads past the body limit.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::authz_tests::world;
use crate::tests::{app_with, get_as, json_request, send, Answer};
use crate::ServerSettings;

fn error_code(answer: &Answer) -> String {
    answer.json()["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn errors_are_mlflow_shaped_under_every_prefix() {
    let world = world().await;
    let router = &world.app.router;
    let olga = world.tokens[3].as_deref().unwrap();
    for prefix in ["", "/projects/acme/churn"] {
        for api in ["api", "ajax-api"] {
            let base = format!("{prefix}/{api}/2.0/mlflow");
            let anonymous = send(
                router,
                Request::get(format!("{base}/experiments/search"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{}",
                anonymous.body
            );
            assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

            let unknown = send(router, get_as(&format!("{base}/no-such-thing"), olga)).await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND);
            assert_eq!(
                error_code(&unknown),
                "ENDPOINT_NOT_FOUND",
                "{}",
                unknown.body
            );

            let traces = send(router, get_as(&format!("{base}/traces/abc"), olga)).await;
            assert_eq!(traces.status, StatusCode::NOT_IMPLEMENTED);
            assert_eq!(error_code(&traces), "NOT_IMPLEMENTED");
            assert!(
                traces.body.contains("not supported by Plinth yet"),
                "{}",
                traces.body
            );

            let wrong_method = send(
                router,
                json_request("PUT", &format!("{base}/runs/get"), Some(olga), &json!({})),
            )
            .await;
            assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(error_code(&wrong_method), "ENDPOINT_NOT_FOUND");
        }
        let v3 = send(
            router,
            get_as(&format!("{prefix}/api/3.0/mlflow/scorers/list"), olga),
        )
        .await;
        assert_eq!(v3.status, StatusCode::NOT_IMPLEMENTED, "{}", v3.body);
    }
    let bad_json = send(
        router,
        Request::post("/projects/acme/churn/api/2.0/mlflow/experiments/create")
            .header(header::AUTHORIZATION, format!("Bearer {olga}"))
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&bad_json), "INVALID_PARAMETER_VALUE");
    let missing = send(
        router,
        get_as("/projects/acme/churn/api/2.0/mlflow/runs/get", olga),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body.contains("'run_id'"), "{}", missing.body);
}

#[tokio::test]
async fn the_project_comes_from_a_scoped_token_or_the_uri() {
    let world = world().await;
    let router = &world.app.router;
    let carl = world.tokens[2].as_deref().unwrap();
    // A personal token on the plain URI names no project.
    let plain = send(router, get_as("/api/2.0/mlflow/experiments/search", carl)).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST, "{}", plain.body);
    assert_eq!(error_code(&plain), "INVALID_PARAMETER_VALUE");
    assert!(
        plain.body.contains("/projects/ORG/PROJECT"),
        "{}",
        plain.body
    );

    let scoped = send(
        router,
        json_request(
            "POST",
            "/api/v1/me/tokens",
            Some(carl),
            &json!({ "name": "job", "project": "acme/churn" }),
        ),
    )
    .await;
    let scoped = scoped.json()["token"].as_str().unwrap().to_string();
    let created = send(
        router,
        json_request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Some(&scoped),
            &json!({ "name": "through-scope" }),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    // The same experiment, seen through the URI with a personal token.
    let by_uri = send(
        router,
        get_as(
            "/projects/acme/churn/api/2.0/mlflow/experiments/get-by-name?experiment_name=through-scope",
            carl,
        ),
    )
    .await;
    assert_eq!(by_uri.status, StatusCode::OK, "{}", by_uri.body);
    assert_eq!(
        by_uri.json()["experiment"]["experiment_id"],
        created.json()["experiment_id"]
    );
    // A scoped token naming another project in the URI is refused.
    let elsewhere = send(
        router,
        get_as(
            "/projects/globex/ads/api/2.0/mlflow/experiments/search",
            &scoped,
        ),
    )
    .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::FORBIDDEN,
        "{}",
        elsewhere.body
    );
    assert_eq!(error_code(&elsewhere), "PERMISSION_DENIED");
    // An unknown project is not found.
    let unknown = send(
        router,
        get_as(
            "/projects/acme/nope/api/2.0/mlflow/experiments/search",
            carl,
        ),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&unknown), "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn runs_are_mlflow_json() {
    let world = world().await;
    let router = &world.app.router;
    let carl = world.tokens[2].as_deref().unwrap();
    let base = "/projects/acme/churn/api/2.0/mlflow";
    let post =
        |path: &str, body: Value| json_request("POST", &format!("{base}{path}"), Some(carl), &body);
    let run = send(
        router,
        post(
            "/runs/create",
            json!({ "experiment_id": "0", "start_time": "1700000000000", "run_name": "r" }),
        ),
    )
    .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let info = &run.json()["run"]["info"];
    let run_id = info["run_id"].as_str().unwrap().to_string();
    assert_eq!(info["run_uuid"], info["run_id"]);
    assert!(info["experiment_id"].is_string(), "{info}");
    assert_eq!(info["start_time"], json!(1_700_000_000_000_i64));
    assert_eq!(info["status"], "RUNNING");
    assert_eq!(info["user_id"], "carl");
    for (value, step) in [(json!("NaN"), 0), (json!("Infinity"), 1), (json!(-1.5), 2)] {
        let logged = send(
            router,
            post("/runs/log-metric", json!({ "run_id": run_id, "key": "m", "value": value, "timestamp": 5, "step": step })),
        )
        .await;
        assert_eq!(logged.status, StatusCode::OK, "{}", logged.body);
    }
    send(
        router,
        post(
            "/runs/log-metric",
            json!({ "run_uuid": run_id, "key": "n", "value": "NaN", "timestamp": 5 }),
        ),
    )
    .await;
    let history = send(
        router,
        get_as(
            &format!("{base}/metrics/get-history?run_id={run_id}&metric_key=m"),
            carl,
        ),
    )
    .await;
    let values: Vec<Value> = history.json()["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["value"].clone())
        .collect();
    assert_eq!(values, vec![json!("NaN"), json!("Infinity"), json!(-1.5)]);
    let bulk = send(
        router,
        get_as(
            &format!("{base}/metrics/get-history-bulk-interval?run_ids={run_id}&run_ids={run_id}&metric_key=m&max_results=2"),
            carl,
        ),
    )
    .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    assert!(bulk.json()["metrics"][0]["run_id"].is_string());
    let searched = send(
        router,
        post("/runs/search", json!({ "experiment_ids": ["0"], "filter": "attributes.run_name = 'r'", "run_view_type": "ALL" })),
    )
    .await;
    assert_eq!(searched.status, StatusCode::OK, "{}", searched.body);
    let runs = searched.json()["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0]["data"]["tags"][0]["key"], "mlflow.runName",
        "{}",
        runs[0]
    );
    let finished = send(
        router,
        post(
            "/runs/update",
            json!({ "run_id": run_id, "status": 3, "end_time": 1700000000500_i64 }),
        ),
    )
    .await;
    assert_eq!(
        finished.json()["run_info"]["status"],
        "FINISHED",
        "{}",
        finished.body
    );
    // The GET search takes repeated query parameters.
    let experiments = send(
        router,
        get_as(&format!("{base}/experiments/search?max_results=5&order_by=name%20ASC&order_by=creation_time%20DESC"), carl),
    )
    .await;
    assert_eq!(experiments.status, StatusCode::OK, "{}", experiments.body);
    assert_eq!(experiments.json()["experiments"][0]["name"], "Default");
}

#[tokio::test]
async fn server_info_health_and_version_need_no_login() {
    let world = world().await;
    let router = &world.app.router;
    for path in [
        "/api/3.0/mlflow/server-info",
        "/projects/acme/churn/api/3.0/mlflow/server-info",
        "/ajax-api/3.0/mlflow/server-info",
    ] {
        let answer = send(router, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json()["multipart_uploads_enabled"], true);
        assert_eq!(answer.json()["multipart_downloads_enabled"], false);
    }
    let health = send(router, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "OK")
    );
    let version = send(
        router,
        Request::get("/version").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(version.body, crate::mlflow::MLFLOW_VERSION);
}

#[tokio::test]
async fn artifact_uploads_stream_past_the_body_limit() {
    let app = app_with(ServerSettings {
        max_body_bytes: 1024,
        ..ServerSettings::default()
    })
    .await;
    let admin = app.admin_token.clone();
    for (method, uri, body) in [
        ("POST", "/api/v1/orgs", json!({ "name": "acme" })),
        (
            "POST",
            "/api/v1/orgs/acme/projects",
            json!({ "name": "churn" }),
        ),
    ] {
        let answer = send(&app.router, json_request(method, uri, Some(&admin), &body)).await;
        assert!(answer.status.is_success(), "{}", answer.body);
    }
    let big = vec![b'x'; 64 * 1024];
    let path = "/projects/acme/churn/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/big.bin";
    let put = send(
        &app.router,
        Request::put(path)
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_LENGTH, big.len())
            .body(Body::from(big.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let got = send(&app.router, get_as(path, &admin)).await;
    assert_eq!(got.body.len(), big.len());
    assert_eq!(got.header("content-length"), big.len().to_string());
    // Markup is never served as markup, nor run by a browser.
    let page = "/projects/acme/churn/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/x.html";
    send(
        &app.router,
        Request::put(page)
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .body(Body::from("<script>alert(1)</script>"))
            .unwrap(),
    )
    .await;
    let served = send(&app.router, get_as(page, &admin)).await;
    assert_eq!(served.header("content-type"), "text/plain; charset=utf-8");
    assert!(served
        .header("content-security-policy")
        .starts_with("sandbox"));
    assert!(served
        .header("content-disposition")
        .starts_with("attachment"));
    // JSON requests keep the limit, answered in MLflow's format.
    let tag = "v".repeat(4096);
    let too_big = send(
        &app.router,
        json_request(
            "POST",
            "/projects/acme/churn/api/2.0/mlflow/experiments/create",
            Some(&admin),
            &json!({ "name": "x", "tags": [{ "key": "k", "value": tag }] }),
        ),
    )
    .await;
    assert_eq!(
        too_big.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_big.body
    );
    assert!(too_big.json()["error_code"].is_string(), "{}", too_big.body);
    // Paths that would leave the project are refused.
    for escape in ["1/../../x", "%2e%2e/x"] {
        let answer = send(
            &app.router,
            get_as(
                &format!("/projects/acme/churn/api/2.0/mlflow-artifacts/artifacts/{escape}"),
                &admin,
            ),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{escape}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn read_only_tokens_search_with_post_but_cannot_write() {
    let world = world().await;
    let router = &world.app.router;
    let carl = world.tokens[2].as_deref().unwrap();
    let read_only = send(
        router,
        json_request(
            "POST",
            "/api/v1/me/tokens",
            Some(carl),
            &json!({ "name": "ro", "project": "acme/churn", "read_only": true }),
        ),
    )
    .await;
    let read_only = read_only.json()["token"].as_str().unwrap().to_string();
    let search = send(
        router,
        json_request(
            "POST",
            "/api/2.0/mlflow/runs/search",
            Some(&read_only),
            &json!({ "experiment_ids": ["0"] }),
        ),
    )
    .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    let create = send(
        router,
        json_request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Some(&read_only),
            &json!({ "name": "nope" }),
        ),
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.body);
    assert_eq!(error_code(&create), "PERMISSION_DENIED");
}

/// What Plinth adds to MLflow's behaviour, or keeps stricter, in the registry and the UI's
/// endpoints (the rest is compared with MLflow's own server in
/// `plinth/tests/it/mlflow.rs::mlflow_side_by_side`).
#[tokio::test]
async fn registry_sources_registrations_and_creators() {
    let world = world().await;
    let router = &world.app.router;
    let carl = world.tokens[2].as_deref().unwrap();
    let oscar = world.tokens[5].as_deref().unwrap();
    let call = |token: &str, project: &str, method: &str, path: &str, body: Value| {
        json_request(
            method,
            &format!("/projects/{project}/api/2.0/mlflow{path}"),
            Some(token),
            &body,
        )
    };
    let ok = |answer: &Answer| {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    };
    let run = ok(&send(
        router,
        call(
            carl,
            "acme/churn",
            "POST",
            "/runs/create",
            json!({ "experiment_id": "0" }),
        ),
    )
    .await);
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let foreign = ok(&send(
        router,
        call(
            oscar,
            "globex/ads",
            "POST",
            "/runs/create",
            json!({ "experiment_id": "0" }),
        ),
    )
    .await);
    let foreign_run = foreign["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The registry's creator and deployment job.
    let model = ok(&send(
        router,
        call(
            carl,
            "acme/churn",
            "POST",
            "/registered-models/create",
            json!({ "name": "churn", "deployment_job_id": "job-1" }),
        ),
    )
    .await);
    assert_eq!(model["registered_model"]["user_id"], "carl");
    assert_eq!(model["registered_model"]["deployment_job_id"], "job-1");

    // A runs:/ source must name a run of this project, given as run_id (MLflow only checks
    // that the two agree).
    for (source, run) in [
        (format!("runs:/{}/model", "0".repeat(32)), "0".repeat(32)),
        (format!("runs:/{foreign_run}/model"), foreign_run.clone()),
    ] {
        let refused = send(
            router,
            call(
                carl,
                "acme/churn",
                "POST",
                "/model-versions/create",
                json!({ "name": "churn", "source": source, "run_id": run }),
            ),
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(
            refused.json()["message"],
            format!(
                "Invalid model version source: '{source}'. The run_id request parameter must \
                 identify the resource that contains the source."
            )
        );
    }

    // A version promoted from a logged model is listed by it.
    let logged = ok(&send(
        router,
        call(
            carl,
            "acme/churn",
            "POST",
            "/logged-models",
            json!({ "experiment_id": "0", "source_run_id": run_id }),
        ),
    )
    .await);
    let model_id = logged["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let version = ok(&send(
        router,
        call(
            carl,
            "acme/churn",
            "POST",
            "/model-versions/create",
            json!({ "name": "churn", "source": format!("models:/{model_id}"), "model_id": model_id }),
        ),
    )
    .await);
    let version = &version["model_version"];
    assert_eq!(version["description"], "");
    assert_eq!(version["run_link"], "");
    assert_eq!(version["run_id"], run_id.as_str());
    let fetched = ok(&send(
        router,
        get_as(
            &format!("/projects/acme/churn/api/2.0/mlflow/logged-models/{model_id}"),
            carl,
        ),
    )
    .await);
    let info = &fetched["model"]["info"];
    assert_eq!(
        info["registrations"],
        json!([{ "name": "churn", "version": "1" }])
    );
    let tag = info["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tag| tag["key"] == "mlflow.modelVersions")
        .expect("the mlflow.modelVersions tag");
    assert_eq!(tag["value"], r#"[{"name": "churn", "version": 1}]"#);

    // The UI's endpoints answer in this project only; paths never name where things are kept.
    let listing = send(
        router,
        get_as(
            &format!(
                "/projects/acme/churn/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=../x"
            ),
            carl,
        ),
    )
    .await;
    assert_eq!(listing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        listing.json(),
        json!({
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Invalid path",
            "sqlstate": "KAM00",
            "error_class": "INVALID_PARAMETER_VALUE",
        })
    );
    let missing = send(
        router,
        get_as(
            &format!("/projects/acme/churn/get-artifact?run_id={run_id}&path=model/MLmodel"),
            carl,
        ),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    assert_eq!(
        missing.json()["message"],
        "No such artifact: 'model/MLmodel'"
    );
    let other = send(
        router,
        get_as(
            &format!("/projects/acme/churn/get-artifact?run_id={foreign_run}&path=x"),
            carl,
        ),
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let graphql = send(
        router,
        json_request(
            "POST",
            "/projects/acme/churn/graphql",
            Some(carl),
            &json!({
                "query": "query($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runUuid userId } } } }",
                "variables": { "data": { "runId": foreign_run } },
            }),
        ),
    )
    .await;
    assert_eq!(graphql.status, StatusCode::OK);
    assert_eq!(
        graphql.json(),
        json!({
            "data": { "mlflowGetRun": null },
            "errors": [format!("Run with id={foreign_run} not found")],
        })
    );
}

/// No request, however badly typed, makes an MLflow route answer 5xx: every field of every
/// endpoint's message, in turn, set to each kind of JSON value (and NaN, huge and negative
/// numbers), on top of a well-formed request.
#[tokio::test]
async fn badly_typed_fields_never_answer_5xx() {
    use crate::mlflow::schema::{self, Spec};
    let world = world().await;
    let router = &world.app.router;
    let carl = world.tokens[2].as_deref().unwrap();
    let base = "/projects/acme/churn/api/2.0/mlflow";
    let run = send(
        router,
        json_request(
            "POST",
            &format!("{base}/runs/create"),
            Some(carl),
            &json!({ "experiment_id": "0" }),
        ),
    )
    .await
    .json();
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let routes: Vec<(&str, &str, &Spec, Value)> = vec![
        (
            "POST",
            "experiments/create",
            &schema::CREATE_EXPERIMENT,
            json!({ "name": "e" }),
        ),
        (
            "GET",
            "experiments/get",
            &schema::EXPERIMENT_ID,
            json!({ "experiment_id": "0" }),
        ),
        (
            "POST",
            "experiments/search",
            &schema::SEARCH_EXPERIMENTS,
            json!({ "max_results": 5 }),
        ),
        (
            "POST",
            "experiments/update",
            &schema::UPDATE_EXPERIMENT,
            json!({ "experiment_id": "0", "new_name": "n" }),
        ),
        (
            "POST",
            "experiments/set-experiment-tag",
            &schema::SET_EXPERIMENT_TAG,
            json!({ "experiment_id": "0", "key": "k", "value": "v" }),
        ),
        (
            "POST",
            "runs/create",
            &schema::CREATE_RUN,
            json!({ "experiment_id": "0" }),
        ),
        (
            "GET",
            "runs/get",
            &schema::GET_RUN,
            json!({ "run_id": run_id }),
        ),
        (
            "POST",
            "runs/update",
            &schema::UPDATE_RUN,
            json!({ "run_id": run_id, "status": "RUNNING" }),
        ),
        (
            "POST",
            "runs/set-tag",
            &schema::SET_TAG,
            json!({ "run_id": run_id, "key": "k", "value": "v" }),
        ),
        (
            "POST",
            "runs/log-parameter",
            &schema::LOG_PARAM,
            json!({ "run_id": run_id, "key": "k", "value": "v" }),
        ),
        (
            "POST",
            "runs/log-metric",
            &schema::LOG_METRIC,
            json!({ "run_id": run_id, "key": "k", "value": 1.5, "timestamp": 1 }),
        ),
        (
            "POST",
            "runs/log-batch",
            &schema::LOG_BATCH,
            json!({ "run_id": run_id, "metrics": [{ "key": "b", "value": 1, "timestamp": 1 }] }),
        ),
        (
            "POST",
            "runs/log-inputs",
            &schema::LOG_INPUTS,
            json!({ "run_id": run_id }),
        ),
        (
            "POST",
            "runs/outputs",
            &schema::LOG_OUTPUTS,
            json!({ "run_id": run_id, "models": [] }),
        ),
        (
            "POST",
            "runs/log-model",
            &schema::LOG_MODEL,
            json!({ "run_id": run_id, "model_json": "{}" }),
        ),
        (
            "POST",
            "runs/search",
            &schema::SEARCH_RUNS,
            json!({ "experiment_ids": ["0"] }),
        ),
        (
            "GET",
            "metrics/get-history",
            &schema::GET_METRIC_HISTORY,
            json!({ "run_id": run_id, "metric_key": "k" }),
        ),
        (
            "GET",
            "metrics/get-history-bulk-interval",
            &schema::GET_METRIC_HISTORY_BULK_INTERVAL,
            json!({ "run_ids": [run_id], "metric_key": "k" }),
        ),
        (
            "GET",
            "artifacts/list",
            &schema::LIST_ARTIFACTS,
            json!({ "run_id": run_id }),
        ),
        (
            "POST",
            "logged-models",
            &schema::CREATE_LOGGED_MODEL,
            json!({ "experiment_id": "0" }),
        ),
        (
            "POST",
            "logged-models/search",
            &schema::SEARCH_LOGGED_MODELS,
            json!({ "experiment_ids": ["0"] }),
        ),
        (
            "POST",
            "registered-models/create",
            &schema::CREATE_REGISTERED_MODEL,
            json!({ "name": "m" }),
        ),
        (
            "GET",
            "registered-models/search",
            &schema::SEARCH_REGISTERED_MODELS,
            json!({}),
        ),
        (
            "POST",
            "registered-models/get-latest-versions",
            &schema::GET_LATEST_VERSIONS,
            json!({ "name": "m" }),
        ),
        (
            "POST",
            "model-versions/create",
            &schema::CREATE_MODEL_VERSION,
            json!({ "name": "m", "source": format!("runs:/{run_id}/x"), "run_id": run_id }),
        ),
        (
            "GET",
            "model-versions/get",
            &schema::MODEL_VERSION,
            json!({ "name": "m", "version": "1" }),
        ),
        (
            "POST",
            "model-versions/transition-stage",
            &schema::TRANSITION_STAGE,
            json!({ "name": "m", "version": "1", "stage": "Staging" }),
        ),
        (
            "GET",
            "model-versions/search",
            &schema::SEARCH_MODEL_VERSIONS,
            json!({}),
        ),
        (
            "POST",
            "registered-models/alias",
            &schema::SET_REGISTERED_MODEL_ALIAS,
            json!({ "name": "m", "alias": "a", "version": "1" }),
        ),
    ];
    let odd = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(1.5),
        json!(1e308),
        json!(18_446_744_073_709_551_615_u64),
        json!("NaN"),
        json!("x"),
        json!(""),
        json!([]),
        json!([1, null, {}]),
        json!({}),
        json!({ "key": 1 }),
    ];
    let mut checked = 0;
    for (method, path, spec, valid) in routes {
        for (field, _) in spec.fields {
            for value in &odd {
                let mut body = valid.clone();
                body[*field] = value.clone();
                let request = if method == "GET" {
                    let query: String = body
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(key, value)| {
                            let text = value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_string);
                            format!(
                                "{key}={}&",
                                url::form_urlencoded::byte_serialize(text.as_bytes())
                                    .collect::<String>()
                            )
                        })
                        .collect();
                    get_as(&format!("{base}/{path}?{query}"), carl)
                } else {
                    json_request(method, &format!("{base}/{path}"), Some(carl), &body)
                };
                let answer = send(router, request).await;
                checked += 1;
                assert!(
                    answer.status.as_u16() < 500 && answer.json().is_object(),
                    "{method} {path} with {field} = {value}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

/// Through the HTTP API, with the authentication cache on (its default 5 s): a role taken
/// down is 403 on the very next call, a removed member 404, a revoked token 401, though
/// each credential and role was just used (and cached).
#[tokio::test]
async fn the_next_call_after_a_revocation_or_role_change_is_refused() {
    let world = world().await;
    let router = &world.app.router;
    let olga = world.tokens[3].as_deref().unwrap();
    let carl = crate::tests::login_token(router, "carl", crate::authz_tests::PASSWORD).await;
    let base = "/projects/acme/churn/api/2.0/mlflow";
    let create = |token: &str| {
        json_request(
            "POST",
            &format!("{base}/runs/create"),
            Some(token),
            &json!({ "experiment_id": "0" }),
        )
    };
    let member = |role: &str| {
        json_request(
            "PUT",
            "/api/v1/orgs/acme/projects/churn/members/carl",
            Some(olga),
            &json!({ "role": role }),
        )
    };
    for _ in 0..2 {
        let answer = send(router, create(&carl)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let down = send(router, member("viewer")).await;
    assert!(down.status.is_success(), "{}", down.body);
    let refused = send(router, create(&carl)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let up = send(router, member("contributor")).await;
    assert!(up.status.is_success(), "{}", up.body);
    assert_eq!(send(router, create(&carl)).await.status, StatusCode::OK);
    let removed = send(
        router,
        json_request(
            "DELETE",
            "/api/v1/orgs/acme/projects/churn/members/carl",
            Some(olga),
            &json!({}),
        ),
    )
    .await;
    assert!(removed.status.is_success(), "{}", removed.body);
    let hidden = send(router, create(&carl)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);

    let tokens = send(router, get_as("/api/v1/me/tokens", &carl)).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let listed = tokens.json();
    let token_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|token| carl.starts_with(token["display_prefix"].as_str().unwrap()))
        .expect("the token in use is listed")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = send(
        router,
        json_request(
            "DELETE",
            &format!("/api/v1/me/tokens/{token_id}"),
            Some(&carl),
            &json!({}),
        ),
    )
    .await;
    assert!(revoke.status.is_success(), "{}", revoke.body);
    let gone = send(router, get_as("/api/v1/me/tokens", &carl)).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
}
