//! The real binary serves every operations endpoint and the UI, keeps all state in its data
//! folder, stops cleanly on SIGTERM and loses no acknowledged write to `kill -9`.

use crate::support::{client, entries, workdir, Server};

#[tokio::test]
async fn serves_endpoints_and_stops_on_sigterm() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let http = client();

    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["metastore"]["backend"], "sqlite");
    assert_eq!(ready["objects"]["backend"], "local");

    let openapi: serde_json::Value = http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/readyz"].is_object());

    // Nothing but the login page is open before someone logs in.
    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.url().path(), "/login");
    assert!(page.text().await.unwrap().contains("Log in to Plinth"));

    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"plinth_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{metrics}"
    );

    // All state lives in the data folder, and nothing else appears in the working folder.
    assert_eq!(entries(dir.path()), ["plinth-data"]);
    let data = entries(&dir.path().join("plinth-data"));
    assert!(
        data.contains(&"plinth.db".to_string()) && data.contains(&"objects".to_string()),
        "{data:?}"
    );

    let (status, lines) = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        lines.iter().any(|line| line.contains("\"stopped\"")),
        "{lines:?}"
    );
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
    }
}

#[tokio::test]
async fn becomes_ready_within_a_second_and_restarts_with_its_state() {
    let dir = workdir();
    let first = Server::start(dir.path(), &["--data-dir", "state"], &[]);
    assert!(
        first.startup.as_millis() < 1000,
        "ready after {:?}",
        first.startup
    );
    let status: serde_json::Value = first.get_json("/api/v1/status").await;
    let installation = status["installation"]["installation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status["installation"]["start_count"], 1);
    let (exit, _) = first.terminate();
    assert!(exit.success());

    let second = Server::start(dir.path(), &[], &[("PLINTH__SERVER__DATA_DIR", "state")]);
    let status: serde_json::Value = second.get_json("/api/v1/status").await;
    assert_eq!(
        status["installation"]["installation_id"],
        installation.as_str()
    );
    assert_eq!(status["installation"]["start_count"], 2);
    assert_eq!(entries(dir.path()), ["state"]);
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9() {
    let dir = workdir();
    let first = Server::start(dir.path(), &[], &[]);
    // The startup record is acknowledged before the ready line; kill without any warning.
    drop(first); // Drop sends SIGKILL.
    let second = Server::start(dir.path(), &[], &[]);
    let status: serde_json::Value = second.get_json("/api/v1/status").await;
    assert_eq!(status["installation"]["start_count"], 2);
}

#[tokio::test]
async fn reads_plinth_toml_from_the_working_folder() {
    let dir = workdir();
    fs_err::write(
        dir.path().join("plinth.toml"),
        "[server]\ndata_dir = \"from-toml\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    assert_eq!(entries(dir.path()), ["from-toml", "plinth.toml"]);
    drop(server);
}
