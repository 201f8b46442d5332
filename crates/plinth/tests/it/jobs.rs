//! Jobs on the real binary and the local backend: the server is killed (`kill -9`) while
//! jobs run; after a restart, a job still running is adopted and its end recorded, a job
//! that ended meanwhile gets its exit code from the backend, and a job whose process was
//! killed without a trace is marked lost with a reason — none is forgotten.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{client, workdir, Server};

const PROJECT: &str = "/api/v1/orgs/lab/projects/restart";

async fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let request = client()
        .request(method.parse().unwrap(), server.url(path))
        .bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let answer = request.send().await.expect("request");
    let status = answer.status();
    let text = answer.text().await.expect("body");
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

async fn submit(server: &Server, token: &str, script: &str) -> String {
    let job = call(
        server,
        token,
        "POST",
        &format!("{PROJECT}/jobs"),
        Some(json!({ "class": "small", "command": ["sh", "-c", script] })),
    )
    .await;
    assert_eq!(job["state"], "running", "{job}");
    job["id"].as_str().unwrap().to_string()
}

async fn wait_finished(server: &Server, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let job = call(server, token, "GET", &format!("{PROJECT}/jobs/{id}"), None).await;
        let state = job["state"].as_str().unwrap().to_string();
        if ["succeeded", "failed", "stopped", "lost"].contains(&state.as_str()) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish within 15 s");
}

async fn logs(server: &Server, token: &str, id: &str) -> String {
    client()
        .get(server.url(&format!("{PROJECT}/jobs/{id}/logs")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the job's output contains `text` (it is running and has got that far).
async fn wait_output(server: &Server, token: &str, id: &str, text: &str) {
    for _ in 0..200 {
        if logs(server, token, id).await.contains(text) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never printed {text:?}");
}

#[tokio::test]
async fn jobs_survive_a_server_killed_mid_run() {
    let dir = workdir();
    // The jobs wait for a file the test makes: in a folder their sandbox may read (every
    // other path under /tmp is hidden from them).
    let signals = dir.path().join("signals");
    fs_err::create_dir(&signals).unwrap();
    fs_err::set_permissions(
        &signals,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let readable = format!("[\"{}\"]", signals.display());
    let sandbox = [(
        "PLINTH__RUNTIME__LOCAL__SANDBOX__READ_ONLY_PATHS",
        readable.as_str(),
    )];
    let first = Server::start(dir.path(), &[], &sandbox);
    let token = first.admin_token().await;
    call(
        &first,
        &token,
        "POST",
        "/api/v1/orgs",
        Some(json!({ "name": "lab" })),
    )
    .await;
    call(
        &first,
        &token,
        "POST",
        "/api/v1/orgs/lab/projects",
        Some(json!({ "name": "restart" })),
    )
    .await;
    let go = signals.join("go");
    let go = go.display();
    // Runs across the restart, then fails with 5.
    let adopted = submit(
        &first,
        &token,
        &format!("echo start; while [ ! -e {go} ]; do sleep 0.05; done; echo end; exit 5"),
    )
    .await;
    // Ends while no server runs.
    let ended_meanwhile = submit(
        &first,
        &token,
        &format!("echo early; while [ ! -e {go} ]; do sleep 0.05; done; exit 0"),
    )
    .await;
    // Killed without a trace while no server runs.
    let vanished = submit(&first, &token, "echo doomed; sleep 60").await;
    for id in [&adopted, &ended_meanwhile, &vanished] {
        wait_output(&first, &token, id, "\n").await;
    }
    let state_file = dir.path().join(format!(
        "plinth-data/runtime/executor/state/{vanished}.json"
    ));
    let record: Value =
        serde_json::from_str(&fs_err::read_to_string(&state_file).unwrap()).unwrap();
    let group = record["process_group"].as_i64().unwrap();

    drop(first); // SIGKILL: no shutdown, no goodbye.
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status()
        .unwrap();
    assert!(status.success());
    fs_err::write(signals.join("go"), "").unwrap();
    // Let the early job end while the server is down.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let second = Server::start(dir.path(), &[], &sandbox);
    let token = second.admin_token().await;
    let job = wait_finished(&second, &token, &adopted).await;
    assert_eq!(
        (job["state"].as_str(), job["exit_code"].as_i64()),
        (Some("failed"), Some(5)),
        "{job}"
    );
    assert_eq!(logs(&second, &token, &adopted).await, "start\nend\n");
    let job = wait_finished(&second, &token, &ended_meanwhile).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["exit_code"], 0);
    let job = wait_finished(&second, &token, &vanished).await;
    assert_eq!(job["state"], "lost", "{job}");
    assert!(
        job["reason"].as_str().unwrap().contains("no exit code"),
        "the reason says what is known: {job}"
    );
    // Every job's token was revoked when it ended; usage was recorded for the project.
    let tokens = call(&second, &token, "GET", "/api/v1/me/tokens", None).await;
    for workload_token in tokens.as_array().unwrap().iter().filter(|t| {
        t["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("workload ")
    }) {
        assert!(
            !workload_token["revoked_at_ms"].is_null(),
            "{workload_token}"
        );
    }
    let usage = call(&second, &token, "GET", &format!("{PROJECT}/usage"), None).await;
    assert!(!usage.as_array().unwrap().is_empty(), "{usage}");
}
