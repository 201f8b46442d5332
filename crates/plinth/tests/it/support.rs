//! Starts the real binary and waits for it to be ready.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_plinth");

/// The first admin's password in end-to-end tests.
pub const ADMIN_PASSWORD: &str = "keeper-of-the-platform-77";

/// Returns a command running the binary in `dir` with no `PLINTH_*` variables inherited.
pub fn plinth(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("PLINTH_CONFIG")
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("PLINTH_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `plinth serve`.
pub struct Server {
    child: Child,
    pub address: String,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub startup: Duration,
}

impl Server {
    /// Starts `plinth serve --listen 127.0.0.1:0 --log-format json` plus `args` in `dir`, and
    /// waits for its ready line.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(plinth(dir), args, env)
    }

    /// Starts `command` (which runs `plinth`, perhaps from elsewhere or as another user)
    /// with `serve --listen 127.0.0.1:0 --log-format json` plus `args`, and waits for its
    /// ready line.
    pub fn launch(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Server {
        let started = Instant::now();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env("PLINTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // No default environment (it would be built, with the network, at the first
            // job); the environments tests set one.
            .env("PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT", "")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn plinth");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    if event["message"] == "plinth is ready" {
                        let _ = ready_tx
                            .send(event["address"].as_str().unwrap_or_default().to_string());
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(address) = ready_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "plinth did not become ready; its log:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        Server {
            child,
            address,
            lines,
            startup: started.elapsed(),
        }
    }

    /// Logs in as the first admin and returns a bearer token.
    pub async fn admin_token(&self) -> String {
        let answer = client()
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": "admin", "password": ADMIN_PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(answer.status(), 200, "admin login failed");
        let body: serde_json::Value = answer.json().await.expect("login answer");
        body["token"].as_str().expect("token").to_string()
    }

    /// GETs `path` as the admin and returns the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let token = self.admin_token().await;
        let answer = client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(
            answer.status().is_success(),
            "GET {path}: {}",
            answer.status()
        );
        answer.json().await.expect("JSON")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns the full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Give the reader thread a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                let lines = self.lines.lock().unwrap().clone();
                return (status, lines);
            }
            assert!(
                Instant::now() < deadline,
                "plinth did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary working folder for one test.
pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Returns a client for the test servers.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Returns the names of the entries directly inside `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Where tests may leave files for a person to look at (screenshots).
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    fs_err::create_dir_all(&dir).expect("create artifacts dir");
    dir
}
