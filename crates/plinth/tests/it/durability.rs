//! Issue 4's durability promise on the real binary: an acknowledged MLflow log call
//! survives `kill -9` of the server. Many clients log metrics, batches and params over
//! plain HTTP while the server is killed at a random moment; after a restart, every call
//! that got its `200` is there. Run with SQLite in both `synchronous` modes and, when a
//! server is given, PostgreSQL.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{client, workdir, Server};

const CLIENTS: usize = 8;

/// A call the server acknowledged.
#[derive(Clone, Debug)]
enum Acked {
    /// A metric point: (run, key, step).
    Metric(String, String, i64),
    /// A param: (run, key, value).
    Param(String, String, String),
}

async fn post(server_url: &str, token: &str, path: &str, body: Value) -> Value {
    let answer = client()
        .post(format!("{server_url}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {path}: {error}"));
    let status = answer.status();
    let text = answer.text().await.expect("body");
    assert!(status.is_success(), "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Creates org `lab`, project `durable` and a token scoped to it; returns the token.
async fn scoped_token(server: &Server) -> String {
    let admin = server.admin_token().await;
    let url = server.url("");
    post(&url, &admin, "/api/v1/orgs", json!({ "name": "lab" })).await;
    post(
        &url,
        &admin,
        "/api/v1/orgs/lab/projects",
        json!({ "name": "durable" }),
    )
    .await;
    post(
        &url,
        &admin,
        "/api/v1/me/tokens",
        json!({ "name": "mlflow", "project": "lab/durable" }),
    )
    .await["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// One client: logs to its own run until the server stops answering. Metrics one by one,
/// every fourth call a batch of ten points with a param and a tag; each `200` is recorded.
async fn log_until_killed(url: String, token: String, run: String, acked: Arc<Mutex<Vec<Acked>>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for call in 0_i64.. {
        let (path, body, logged) = if call % 4 == 3 {
            let metrics: Vec<Value> = (0..10)
                .map(|j| json!({ "key": "b", "value": (call * 10 + j) as f64, "timestamp": 1_000 + call, "step": call * 10 + j }))
                .collect();
            let param = format!("p{call}");
            let value = format!("v{call}");
            let mut logged: Vec<Acked> = (0..10)
                .map(|j| Acked::Metric(run.clone(), "b".to_string(), call * 10 + j))
                .collect();
            logged.push(Acked::Param(run.clone(), param.clone(), value.clone()));
            (
                "/api/2.0/mlflow/runs/log-batch",
                json!({
                    "run_id": run,
                    "metrics": metrics,
                    "params": [{ "key": param, "value": value }],
                    "tags": [{ "key": "last", "value": call.to_string() }],
                }),
                logged,
            )
        } else {
            (
                "/api/2.0/mlflow/runs/log-metric",
                json!({ "run_id": run, "key": "m", "value": call as f64, "timestamp": 1_000 + call, "step": call }),
                vec![Acked::Metric(run.clone(), "m".to_string(), call)],
            )
        };
        let answer = http
            .post(format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status() == 200 => {
                // Acknowledged only once the whole answer arrived.
                if answer.bytes().await.is_ok() {
                    acked.lock().unwrap().extend(logged);
                } else {
                    return;
                }
            }
            Ok(answer) => panic!("{path}: unexpected {}", answer.status()),
            // The server is gone.
            Err(_) => return,
        }
    }
}

/// A pseudo-random delay from the clock: where in the stream of calls the kill lands.
fn random_delay() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(u64::from(nanos % 700))
}

/// Returns the steps of one metric of a run (the whole history).
async fn steps(url: &str, token: &str, run: &str, key: &str) -> BTreeSet<i64> {
    let answer = client()
        .get(format!("{url}/api/2.0/mlflow/metrics/get-history"))
        .bearer_auth(token)
        .query(&[("run_id", run), ("metric_key", key)])
        .send()
        .await
        .expect("get-history");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("JSON");
    assert!(body.get("next_page_token").is_none(), "one page: {body}");
    body["metrics"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .map(|point| point["step"].as_i64().expect("step"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the scenario; returns the server's "opened metadata store" log line.
async fn acknowledged_calls_survive_kill_9(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> String {
    let server = Server::start(dir, args, env);
    let opened = server
        .lines
        .lock()
        .unwrap()
        .iter()
        .find(|line| line.contains("opened metadata store"))
        .cloned()
        .expect("the store's log line");
    let token = scoped_token(&server).await;
    let url = server.url("");
    let experiment = post(
        &url,
        &token,
        "/api/2.0/mlflow/experiments/create",
        json!({ "name": "kill-9" }),
    )
    .await["experiment_id"]
        .as_str()
        .expect("experiment id")
        .to_string();
    let mut runs = Vec::new();
    for _ in 0..CLIENTS {
        let run = post(
            &url,
            &token,
            "/api/2.0/mlflow/runs/create",
            json!({ "experiment_id": experiment, "start_time": 1 }),
        )
        .await["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string();
        runs.push(run);
    }

    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = runs
        .iter()
        .map(|run| {
            tokio::spawn(log_until_killed(
                url.clone(),
                token.clone(),
                run.clone(),
                Arc::clone(&acked),
            ))
        })
        .collect();
    // Let the clients get going (a loaded machine with an fsync per commit is slow), then
    // kill at a random moment.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the clients got fewer than 100 acknowledgements in a minute"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(random_delay()).await;
    let killed_at = Instant::now();
    drop(server); // SIGKILL: no shutdown, no flush.
    for client in clients {
        client.await.expect("client task");
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(15),
        "clients noticed the kill"
    );
    let acked = acked.lock().unwrap().clone();
    let metric_calls = acked
        .iter()
        .filter(|call| matches!(call, Acked::Metric(_, key, _) if key == "m"))
        .count();
    assert!(metric_calls > 0, "no log-metric call was acknowledged");

    let server = Server::start(dir, args, env);
    let url = server.url("");
    for run in &runs {
        for key in ["m", "b"] {
            let stored = steps(&url, &token, run, key).await;
            let missing: Vec<i64> = acked
                .iter()
                .filter_map(|call| match call {
                    Acked::Metric(acked_run, acked_key, step)
                        if acked_run == run && acked_key == key && !stored.contains(step) =>
                    {
                        Some(*step)
                    }
                    _ => None,
                })
                .collect();
            assert!(
                missing.is_empty(),
                "run {run}: acknowledged `{key}` steps lost by kill -9: {missing:?}"
            );
        }
        let answer = client()
            .get(format!("{url}/api/2.0/mlflow/runs/get"))
            .bearer_auth(&token)
            .query(&[("run_id", run.as_str())])
            .send()
            .await
            .expect("runs/get");
        let body: Value = answer.json().await.expect("JSON");
        let params = body["run"]["data"]["params"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for call in &acked {
            if let Acked::Param(acked_run, key, value) = call {
                if acked_run == run {
                    assert!(
                        params.iter().any(|param| param["key"] == key.as_str()
                            && param["value"] == value.as_str()),
                        "run {run}: acknowledged param {key}={value} lost by kill -9"
                    );
                }
            }
        }
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_log_calls_survive_kill_9_on_sqlite() {
    let dir = workdir();
    let opened = acknowledged_calls_survive_kill_9(dir.path(), &[], &[]).await;
    assert!(opened.contains("Normal"), "the default: {opened}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_log_calls_survive_kill_9_on_sqlite_full_sync() {
    let dir = workdir();
    let opened = acknowledged_calls_survive_kill_9(
        dir.path(),
        &[],
        &[("PLINTH__METASTORE__SQLITE_SYNCHRONOUS", "full")],
    )
    .await;
    assert!(opened.contains("Full"), "{opened}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
async fn acknowledged_log_calls_survive_kill_9_on_postgres() {
    let dir = workdir();
    let database_url = plinth_metastore::testsuite::postgres_fresh_database_url().await;
    acknowledged_calls_survive_kill_9(dir.path(), &["--metastore-url", &database_url], &[]).await;
}
