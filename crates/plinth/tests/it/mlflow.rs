//! The unmodified `mlflow==3.17.2` Python client against the real binary: the scripts in
//! `tests/mlflow/` (experiments, runs, searches, history, artifacts with a multipart upload,
//! `mlflow.sklearn.log_model`, the registry and `pyfunc` loading, permissions), driven with
//! both ways of reaching a project (a project-scoped token on the plain tracking URI, a
//! personal token with `/projects/ORG/NAME` in the URI), on SQLite with local files and
//! on PostgreSQL with S3.
//!
//! The client comes from the test venv that `scripts/test` creates
//! (`scripts/test-requirements.txt`); `PLINTH_TEST_VENV` names another one.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::support::{client, workdir, Server};

pub(crate) const PASSWORD: &str = "violet-harbour-thimble-42";

pub(crate) fn venv_python() -> PathBuf {
    let venv = std::env::var_os("PLINTH_TEST_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/plinth/test-venv")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let probe = Command::new(&python)
        .args(["-c", "import mlflow, sklearn; print(mlflow.__version__)"])
        .output();
    match probe {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
            assert_eq!(version, "3.17.2", "the test venv has mlflow {version}");
            python
        }
        _ => panic!(
            "the test venv at {} lacks mlflow and scikit-learn: run scripts/test (it installs \
             scripts/test-requirements.txt), or set PLINTH_TEST_VENV",
            venv.display()
        ),
    }
}

pub(crate) fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow")
}

/// The people and tokens of one server: `olga` owns project `acme/churn` (and has a token
/// scoped to it), `vera` views it.
pub(crate) struct Callers {
    pub(crate) personal: String,
    pub(crate) scoped: String,
    pub(crate) viewer: String,
}

pub(crate) async fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let request = match method {
        "POST" => client().post(server.url(path)),
        "PUT" => client().put(server.url(path)),
        other => panic!("unexpected method {other}"),
    };
    let answer = request
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn login(server: &Server, username: &str) -> String {
    let answer = client()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(answer.status(), 200, "login as {username}");
    let body: Value = answer.json().await.expect("login answer");
    body["token"].as_str().expect("token").to_string()
}

pub(crate) async fn callers(server: &Server) -> Callers {
    let admin = server.admin_token().await;
    for name in ["olga", "vera"] {
        call(
            server,
            &admin,
            "POST",
            "/api/v1/users",
            json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD }),
        )
        .await;
    }
    call(
        server,
        &admin,
        "POST",
        "/api/v1/orgs",
        json!({ "name": "acme", "owner": "olga" }),
    )
    .await;
    let personal = login(server, "olga").await;
    call(
        server,
        &personal,
        "POST",
        "/api/v1/orgs/acme/projects",
        json!({ "name": "churn" }),
    )
    .await;
    call(
        server,
        &personal,
        "PUT",
        "/api/v1/orgs/acme/projects/churn/members/vera",
        json!({ "role": "viewer" }),
    )
    .await;
    let scoped = call(
        server,
        &personal,
        "POST",
        "/api/v1/me/tokens",
        json!({ "name": "mlflow", "project": "acme/churn" }),
    )
    .await["token"]
        .as_str()
        .expect("scoped token")
        .to_string();
    let viewer = login(server, "vera").await;
    Callers {
        personal,
        scoped,
        viewer,
    }
}

/// Runs one script with the tracking URI and token; fails with its output (and the
/// server's log) when it does not pass.
pub(crate) fn run_script(
    server: &Server,
    python: &Path,
    script: &str,
    uri_path: &str,
    token: &str,
    extra_env: &[(&str, &str)],
) {
    let started = Instant::now();
    let scratch = workdir();
    let output = Command::new(python)
        .arg(scripts_dir().join(script))
        .current_dir(scratch.path())
        .env("MLFLOW_TRACKING_URI", server.url(uri_path))
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("PYTHONPATH", scripts_dir())
        .env("PYTHONUNBUFFERED", "1")
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("GIT_PYTHON_REFRESH", "quiet")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let log = server.lines.lock().unwrap();
        let tail = log[log.len().saturating_sub(40)..].join("\n");
        panic!(
            "{script} with MLFLOW_TRACKING_URI={} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log (last lines)\n{tail}",
            server.url(uri_path),
            output.status
        );
    }
    eprintln!(
        "{script} via `{}` passed in {:.1} s",
        if uri_path.is_empty() { "/" } else { uri_path },
        started.elapsed().as_secs_f64()
    );
}

/// Every script against one server, with both ways of naming the project.
async fn whole_suite(server: &Server, big_file_mb: u32) {
    let python = venv_python();
    let callers = callers(server).await;
    let project_uri = "/projects/acme/churn";
    run_script(server, &python, "tracking.py", "", &callers.scoped, &[]);
    run_script(
        server,
        &python,
        "tracking.py",
        project_uri,
        &callers.personal,
        &[],
    );
    let big = big_file_mb.to_string();
    run_script(
        server,
        &python,
        "artifacts.py",
        project_uri,
        &callers.personal,
        &[
            ("PLINTH_MLFLOW_BIG_MB", big.as_str()),
            // Multipart from 20 MB on, in 10 MB parts (the client's default part size).
            ("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "20971520"),
        ],
    );
    run_script(server, &python, "models.py", "", &callers.scoped, &[]);
    run_script(
        server,
        &python,
        "permissions.py",
        project_uri,
        &callers.viewer,
        &[],
    );
}

#[tokio::test]
#[ignore = "needs the test venv (scripts/test)"]
async fn mlflow_client_on_sqlite() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    whole_suite(&server, 300).await;
}

#[tokio::test]
#[ignore = "needs the test venv (scripts/test), PLINTH_TEST_POSTGRES_URL and PLINTH_TEST_S3_ENDPOINT"]
async fn mlflow_client_on_postgres_and_s3() {
    let dir = workdir();
    let database_url = plinth_metastore::testsuite::postgres_fresh_database_url().await;
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"));
    let objects_url = format!(
        "s3://{}/mlflow-{}",
        var("PLINTH_TEST_S3_BUCKET"),
        std::process::id()
    );
    let (endpoint, key, secret) = (
        var("PLINTH_TEST_S3_ENDPOINT"),
        var("PLINTH_TEST_S3_ACCESS_KEY_ID"),
        var("PLINTH_TEST_S3_SECRET_ACCESS_KEY"),
    );
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
            ("PLINTH__OBJECTS__S3__ACCESS_KEY_ID", key.as_str()),
            ("PLINTH__OBJECTS__S3__SECRET_ACCESS_KEY", secret.as_str()),
        ],
    );
    whole_suite(&server, 40).await;
}

/// MLflow's own server (`mlflow server` from the test venv, SQLite, proxied artifacts in a
/// temporary folder), stopped when dropped.
struct MlflowServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl MlflowServer {
    fn start(python: &Path) -> MlflowServer {
        let dir = workdir();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mlflow = python.with_file_name("mlflow");
        let log = fs_err::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(&mlflow)
            .args(["server", "--host", "127.0.0.1", "--workers", "1", "--port"])
            .arg(port.to_string())
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                dir.path().join("mlflow.db").display()
            ))
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            .current_dir(dir.path())
            // Its own process group: `mlflow server` starts uvicorn and job consumers that
            // outlive a kill of the CLI alone.
            .process_group(0)
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("DO_NOT_TRACK", "true")
            .stdout(std::process::Stdio::null())
            .stderr(log.into_parts().0)
            .spawn()
            .expect("start mlflow server");
        let server = MlflowServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if health_ok(port) {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(90),
                "mlflow server did not answer /health within 90 s: {}",
                fs_err::read_to_string(server._dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        eprintln!(
            "mlflow server ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        server
    }
}

/// Whether `GET /health` on the port answers 200 (a plain HTTP/1.0 exchange).
fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The whole group (uvicorn, its workers, the job consumers), not only the CLI.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same raw requests to MLflow 3.17.2's own server and to Plinth, answers compared
/// (`tests/mlflow/side_by_side.py`): statuses, error codes, messages, `sqlstate` and
/// `error_class`, and the fields of successful answers each case names.
#[tokio::test]
#[ignore = "needs the test venv (scripts/test)"]
async fn mlflow_side_by_side() {
    let python = venv_python();
    let mlflow = MlflowServer::start(&python);
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let callers = callers(&server).await;
    let started = Instant::now();
    let output = Command::new(&python)
        .arg(scripts_dir().join("side_by_side.py"))
        .env("SBS_MLFLOW_URL", &mlflow.url)
        .env("SBS_PLINTH_URL", server.url(""))
        .env("SBS_PLINTH_TOKEN", &callers.scoped)
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("run side_by_side.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "MLflow and Plinth answer differently:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "{} ({:.1} s)",
        stdout.lines().last().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
}
