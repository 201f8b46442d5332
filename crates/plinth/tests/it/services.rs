//! The same binary on production backends: PostgreSQL and an S3 server, chosen by URL, with
//! the S3 secret read from a file.

use crate::support::{client, workdir, Server};

#[tokio::test]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL and PLINTH_TEST_S3_ENDPOINT"]
async fn serves_on_postgres_and_s3() {
    let dir = workdir();
    let database_url = plinth_metastore::testsuite::postgres_fresh_database_url().await;
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"));
    let secret_file = dir.path().join("s3-secret");
    fs_err::write(
        &secret_file,
        format!("{}\n", var("PLINTH_TEST_S3_SECRET_ACCESS_KEY")),
    )
    .unwrap();
    let objects_url = format!(
        "s3://{}/e2e-{}",
        var("PLINTH_TEST_S3_BUCKET"),
        std::process::id()
    );
    let endpoint = var("PLINTH_TEST_S3_ENDPOINT");
    let access_key = var("PLINTH_TEST_S3_ACCESS_KEY_ID");
    let secret_path = secret_file.display().to_string();
    let key_path = dir.path().join("server.key").display().to_string();
    let server = Server::start(
        dir.path(),
        &[
            "--metastore-url",
            &database_url,
            "--objects-url",
            &objects_url,
        ],
        &[
            ("PLINTH__OBJECTS__S3__ENDPOINT", endpoint.as_str()),
            ("PLINTH__OBJECTS__S3__ALLOW_HTTP", "true"),
            ("PLINTH__OBJECTS__S3__ACCESS_KEY_ID", access_key.as_str()),
            (
                "PLINTH__OBJECTS__S3__SECRET_ACCESS_KEY_FILE",
                secret_path.as_str(),
            ),
            ("PLINTH__AUTH__SECRET_KEY_FILE", key_path.as_str()),
        ],
    );
    let http = client();
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["metastore"]["backend"], "postgres");
    assert_eq!(ready["objects"]["backend"], "s3");
    let status: serde_json::Value = server.get_json("/api/v1/status").await;
    assert_eq!(status["objects"]["location"], objects_url.as_str());
    assert!(status["metastore"]["location"]
        .as_str()
        .unwrap()
        .starts_with("postgres://postgres@127.0.0.1:"));
    // Nothing local was created but the key file named and the local workload runtime's
    // folder (its workloads are processes of this machine: their pids and output live with
    // them): all platform state is in PostgreSQL and S3.
    assert_eq!(
        crate::support::entries(dir.path()),
        ["plinth-data", "s3-secret", "server.key"]
    );
    assert_eq!(
        crate::support::entries(&dir.path().join("plinth-data")),
        ["runtime"]
    );
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_S3_ENDPOINT"]
async fn wrong_s3_credentials_stop_startup_naming_the_store() {
    let dir = workdir();
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"));
    let objects_url = format!("s3://no-such-bucket-{}/x", std::process::id());
    let endpoint = var("PLINTH_TEST_S3_ENDPOINT");
    let output = crate::support::plinth(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--objects-url",
            &objects_url,
        ])
        .env("PLINTH__OBJECTS__S3__ENDPOINT", &endpoint)
        .env("PLINTH__OBJECTS__S3__ALLOW_HTTP", "true")
        .env("PLINTH__OBJECTS__S3__ACCESS_KEY_ID", "k")
        .env("PLINTH__OBJECTS__S3__SECRET_ACCESS_KEY", "s")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error_line = stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .expect("an error line");
    assert!(
        error_line.contains(&format!("object store at `{objects_url}` is unavailable")),
        "{error_line}"
    );
}
