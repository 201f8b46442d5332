//! Model APIs with the real clients against the real binary: the unmodified `mlflow`
//! client logs a scikit-learn LogisticRegression converted by skl2onnx with
//! `mlflow.onnx.log_model(..., signature=..., registered_model_name="iris")`; the model is
//! deployed by alias with `plinth deployments create --wait` (the API refuses a viewer);
//! `requests` scores it over MLflow's scoring protocol
//! (every JSON form and CSV) and `tritonclient[http]` over the Open Inference Protocol
//! (binary and JSON tensors), every answer compared with scikit-learn's own (probabilities
//! within 1e-5), with the bad inputs' errors and unauthenticated calls refused
//! (`tests/serving/iris.py`). ONNX Runtime is the test venv's `onnxruntime` wheel, found
//! through `serving.python`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::cli_jobs::Cli;
use crate::mlflow::{callers, venv_python, PASSWORD};
use crate::support::{client, workdir, Server};

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serving/iris.py")
}

fn python(server: &Server, python: &Path, args: &[&str], token: &str) -> String {
    let scratch = workdir();
    let output = Command::new(python)
        .arg(script())
        .args(args)
        .current_dir(scratch.path())
        .env("MLFLOW_TRACKING_URI", server.url("/projects/acme/churn"))
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("GIT_PYTHON_REFRESH", "quiet")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let log = server.lines.lock().unwrap();
        let tail = log[log.len().saturating_sub(40)..].join("\n");
        panic!(
            "iris.py {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- server log\n{tail}",
            args[0],
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
}

async fn api(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = match method {
        "POST" => client().post(server.url(path)),
        "DELETE" => client().delete(server.url(path)),
        _ => client().get(server.url(path)),
    };
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let answer = request.bearer_auth(token).send().await.expect("request");
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
#[ignore = "needs the test venv with onnxruntime, skl2onnx and tritonclient (scripts/test)"]
async fn an_mlflow_logged_onnx_model_answers_both_protocols_as_sklearn_does() {
    let python_path = venv_python();
    let dir = workdir();
    let python_text = python_path.to_string_lossy().into_owned();
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("PLINTH__SERVING__PYTHON", python_text.as_str()),
            // Large enough for the suite's requests, small enough to test the limit.
            ("PLINTH__SERVING__MAX_REQUEST_BYTES", "10000000"),
        ],
    );
    let people = callers(&server).await;
    let answers = python(&server, &python_path, &["log"], &people.personal);
    let answers_line = answers.lines().last().expect("answers");
    let logged: Value = serde_json::from_str(answers_line).expect("answers JSON");
    let answers_file = dir.path().join("answers.json");
    fs_err::write(&answers_file, answers_line).unwrap();

    let deployments = "/api/v1/orgs/acme/projects/churn/deployments";
    // A viewer may not deploy; a contributor names the model by alias.
    let (status, body) = api(
        &server,
        &people.viewer,
        "POST",
        deployments,
        Some(json!({"name": "iris", "model": "iris@champion"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let olga = Cli::new(dir.path(), "olga");
    olga.login(&server.address, "olga", PASSWORD);
    let started = Instant::now();
    let stdout = olga
        .run(&[
            "deployments",
            "create",
            "iris",
            "--model",
            "iris@champion",
            "--project",
            "acme/churn",
            "--wait",
        ])
        .ok();
    eprintln!(
        "deployed and loaded in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        stdout.lines().last().unwrap(),
        server.url("/acme/churn/models/iris"),
        "{stdout}"
    );
    let (_, ready) = api(
        &server,
        &people.viewer,
        "GET",
        &format!("{deployments}/iris"),
        None,
    )
    .await;
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["model"], "iris");
    assert_eq!(ready["model_version"], logged["version"]);
    assert_eq!(ready["model_ref"], "iris@champion");
    assert_eq!(ready["flavor"], "onnx");
    assert_eq!(ready["path"], "/acme/churn/models/iris");
    let shown = olga
        .run(&["deployments", "show", "iris", "--project", "acme/churn"])
        .ok();
    assert!(
        shown.contains("ready") && shown.contains("/acme/churn/models/iris/invocations"),
        "{shown}"
    );
    let (status, listed) = api(&server, &people.viewer, "GET", deployments, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["name"], "iris", "{listed}");
    // The same name again is refused.
    let (status, body) = api(
        &server,
        &people.personal,
        "POST",
        deployments,
        Some(json!({"name": "iris", "model": "iris/1"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    let base = server.url("/acme/churn/models/iris");
    let answers_path = answers_file.to_string_lossy().into_owned();
    let output = python(
        &server,
        &python_path,
        &[
            "score",
            &base,
            &people.personal,
            &people.viewer,
            &answers_path,
        ],
        &people.personal,
    );
    eprint!("{output}");

    // Each prediction was counted and timed for the deployment.
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str, protocol: &str, status: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with(name)
                    && line.contains("deployment=\"iris\"")
                    && line.contains(&format!("protocol=\"{protocol}\""))
                    && line.contains(&format!("status=\"{status}\""))
            })
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
    };
    assert!(
        line("plinth_model_requests_total", "mlflow", "200").unwrap_or(0.0) >= 209.0,
        "{metrics}"
    );
    assert!(
        line("plinth_model_request_errors_total", "mlflow", "400").unwrap_or(0.0) >= 4.0,
        "{metrics}"
    );
    assert!(
        line("plinth_model_requests_total", "v2", "200").unwrap_or(0.0) >= 4.0,
        "{metrics}"
    );
    assert!(metrics.contains("plinth_model_request_duration_seconds_bucket{project=\"acme/churn\",deployment=\"iris\""), "{metrics}");

    // Deleted, the endpoint is gone.
    olga.run(&["deployments", "delete", "iris", "--project", "acme/churn"])
        .ok();
    let listed = olga
        .run(&["deployments", "list", "--project", "acme/churn"])
        .ok();
    assert!(!listed.contains("/models/iris"), "{listed}");
    let answer = client()
        .post(format!("{base}/invocations"))
        .bearer_auth(&people.personal)
        .json(&json!({"instances": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "RESOURCE_DOES_NOT_EXIST", "{body}");
}
