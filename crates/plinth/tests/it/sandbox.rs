//! The escape suite: a job submitted by a Contributor of one project tries every way around
//! the API (`tests/sandbox/escape.py`) while a job of another project runs beside it, and
//! every attempt must fail; a job that logs an MLflow run from a Python environment must
//! still succeed; the job's token must end with it. It runs twice: with the server as root
//! (each project gets its own uid) and as an ordinary user (a user namespace), as the
//! README's test command does. New workload kinds add their own run here.
//!
//! Needs root (to make the setuid-root binary the suite tries, and to start the server as
//! another user) and `PLINTH_TEST_SANDBOX_VENV`: a Python environment with the mlflow
//! client that every user may read (`scripts/lib/services.sh`, `setup_sandbox_venv`).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{client, workdir, Server, ADMIN_PASSWORD, BINARY};

const PASSWORD: &str = "a-long-enough-password-9";

struct Api<'a> {
    server: &'a Server,
}

impl Api<'_> {
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = client()
            .request(method.parse().unwrap(), self.server.url(path))
            .bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer = request.send().await.expect("request");
        let status = answer.status().as_u16();
        let text = answer.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(token, method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let answer = self
            .ok(
                "",
                "POST",
                "/api/v1/auth/login",
                Some(json!({ "username": username, "password": password })),
            )
            .await;
        answer["token"].as_str().unwrap().to_string()
    }

    async fn submit(&self, token: &str, project: &str, command: &[&str], env: Value) -> String {
        let (org, name) = project.split_once('/').unwrap();
        let job = self
            .ok(
                token,
                "POST",
                &format!("/api/v1/orgs/{org}/projects/{name}/jobs"),
                Some(json!({ "class": "small", "command": command, "env": env })),
            )
            .await;
        job["id"].as_str().unwrap().to_string()
    }

    async fn logs(&self, token: &str, project: &str, id: &str) -> String {
        let (org, name) = project.split_once('/').unwrap();
        client()
            .get(self.server.url(&format!(
                "/api/v1/orgs/{org}/projects/{name}/jobs/{id}/logs"
            )))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn wait(&self, token: &str, project: &str, id: &str) -> Value {
        let (org, name) = project.split_once('/').unwrap();
        for _ in 0..1200 {
            let job = self
                .ok(
                    token,
                    "GET",
                    &format!("/api/v1/orgs/{org}/projects/{name}/jobs/{id}"),
                    None,
                )
                .await;
            if ["succeeded", "failed", "stopped", "lost"].contains(&job["state"].as_str().unwrap())
            {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish within 60 s");
    }

    async fn wait_output(&self, token: &str, project: &str, id: &str, text: &str) {
        for _ in 0..600 {
            if self.logs(token, project, id).await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "job {id} never printed {text:?}; its log:\n{}",
            self.logs(token, project, id).await
        );
    }
}

/// Who runs the server.
enum ServerUser {
    Root,
    /// This unprivileged account (created when missing).
    Named(&'static str),
}

fn run(command: &mut Command) {
    let status = command.status().expect("run a setup command");
    assert!(status.success(), "{command:?} failed");
}

fn set_mode(path: &Path, mode: u32) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Returns the uid and gid of `user`, creating a system account when there is none.
fn account(user: &str) -> (u32, u32) {
    let exists = Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ]));
    }
    let number = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, user]).output().unwrap();
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    (number("-u"), number("-g"))
}

/// The host pid of the process whose command line contains `marker`.
fn find_process(marker: &str) -> u32 {
    for _ in 0..100 {
        for entry in fs_err::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let cmdline = fs_err::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains(marker) && cmdline.contains("python") {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no process runs {marker}");
}

/// How the server isolates workloads in a run of the suite.
enum Isolation {
    /// The built-in sandbox (the default).
    Sandbox,
    /// A podman container per workload, from this image.
    Podman(String),
}

/// Attempts that succeed in podman containers by design: they share the host's network
/// (so the platform's URL works unchanged), and with it abstract Unix sockets.
const PODMAN_SHARES: &[&str] = &["connect to another workload's abstract socket"];

async fn escape_suite(user: ServerUser, database: Option<String>) {
    escape_suite_with(user, database, Isolation::Sandbox).await;
}

async fn escape_suite_with(user: ServerUser, database: Option<String>, isolation: Isolation) {
    let venv =
        PathBuf::from(std::env::var("PLINTH_TEST_SANDBOX_VENV").expect("PLINTH_TEST_SANDBOX_VENV"));
    let dir = workdir();
    let root = dir.path();
    set_mode(root, 0o755);
    // What the suite needs inside the sandbox, readable by everyone: the script and a
    // setuid-root copy of `id` (which must not raise anything).
    let tools = root.join("tools");
    fs_err::create_dir(&tools).unwrap();
    fs_err::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/escape.py"),
        tools.join("escape.py"),
    )
    .unwrap();
    let suid = tools.join("suid-id");
    fs_err::copy("/usr/bin/id", &suid).unwrap();
    run(Command::new("chown").args(["root:root"]).arg(&suid));
    set_mode(&suid, 0o4755);
    set_mode(&tools, 0o755);

    let data = root.join("data");
    let config = root.join("plinth.toml");
    let mut settings = format!(
        "[server]\ndata_dir = \"{}\"\n\n[runtime.local.sandbox]\nread_only_paths = [\"{}\", \"{}\"]\n",
        data.display(),
        tools.display(),
        venv.display()
    );
    if let Some(url) = &database {
        settings.push_str(&format!("\n[metastore]\nurl = \"{url}\"\n"));
    }
    if let Isolation::Podman(image) = &isolation {
        settings.push_str(&format!(
            "\n[runtime.local]\nisolation = \"podman\"\n\n[runtime.local.podman]\ndefault_image = \"{image}\"\n"
        ));
    }
    fs_err::write(&config, settings).unwrap();
    set_mode(&config, 0o644);

    let (command, server_uid) = match user {
        ServerUser::Root => {
            let mut command = Command::new(BINARY);
            command.current_dir(root);
            (command, 0)
        }
        ServerUser::Named(name) => {
            let (uid, gid) = account(name);
            // The binary where that user can run it, and a home for the server.
            let bin = root.join("bin");
            fs_err::create_dir(&bin).unwrap();
            fs_err::copy(BINARY, bin.join("plinth")).unwrap();
            set_mode(&bin, 0o755);
            fs_err::create_dir(&data).unwrap();
            run(Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(&data)
                .arg(&config));
            let mut command = Command::new("setpriv");
            command
                .args([
                    "--reuid",
                    &uid.to_string(),
                    "--regid",
                    &gid.to_string(),
                    "--clear-groups",
                    "--",
                ])
                .arg(bin.join("plinth"))
                .current_dir(root);
            (command, uid)
        }
    };
    let mut command = command;
    command.env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("PLINTH_") {
            command.env_remove(name);
        }
    }
    let config_arg = config.display().to_string();
    let server = Server::launch(command, &["--config", &config_arg], &[]);
    let api = Api { server: &server };

    // The data directory and the configuration are the server's alone.
    let mode = |path: &Path| fs_err::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory is 0700");
    assert_eq!(mode(&config), 0o600, "the configuration file is 0600");
    assert_eq!(mode(&data.join("server.key")), 0o600);
    // The first admin's password is not in the server's environment.
    let environ = fs_err::read(format!("/proc/{}/environ", server.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains(ADMIN_PASSWORD),
        "the admin password stays in /proc/<server>/environ"
    );
    let runtime = server.get_json("/api/v1/runtime").await;
    assert_eq!(runtime["isolation"]["level"], "full", "{runtime}");
    let in_containers = runtime["isolation"]["summary"]
        .as_str()
        .unwrap()
        .contains("podman");
    assert_eq!(
        in_containers,
        matches!(isolation, Isolation::Podman(_)),
        "{runtime}"
    );

    let admin = server.admin_token().await;
    for (username, project) in [("alice", "alpha"), ("bob", "beta")] {
        api.ok(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD })),
        )
        .await;
        if project == "alpha" {
            api.ok(
                &admin,
                "POST",
                "/api/v1/orgs",
                Some(json!({ "name": "acme" })),
            )
            .await;
        }
        api.ok(
            &admin,
            "PUT",
            &format!("/api/v1/orgs/acme/members/{username}"),
            Some(json!({ "role": "member" })),
        )
        .await;
        api.ok(
            &admin,
            "POST",
            "/api/v1/orgs/acme/projects",
            Some(json!({ "name": project })),
        )
        .await;
        let role = if username == "alice" {
            "contributor"
        } else {
            "owner"
        };
        api.ok(
            &admin,
            "PUT",
            &format!("/api/v1/orgs/acme/projects/{project}/members/{username}"),
            Some(json!({ "role": role })),
        )
        .await;
    }
    let alice = api.login("alice", PASSWORD).await;
    let bob = api.login("bob", PASSWORD).await;

    // Bob's project keeps an artifact in the object store.
    let run_info = api
        .ok(
            &bob,
            "POST",
            "/projects/acme/beta/api/2.0/mlflow/runs/create",
            Some(json!({ "experiment_id": "0" })),
        )
        .await;
    let artifact_uri = run_info["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let artifact_path = artifact_uri.trim_start_matches("mlflow-artifacts:/");
    let uploaded = client()
        .put(server.url(&format!(
            "/projects/acme/beta/api/2.0/mlflow-artifacts/artifacts/{artifact_path}/secret.txt"
        )))
        .bearer_auth(&bob)
        .body("beta's secret")
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success(), "{}", uploaded.status());

    // Bob's job runs beside: a marker in its /tmp and /dev/shm, an abstract socket.
    let other = api
        .submit(
            &bob,
            "acme/beta",
            &[
                "python3",
                "-c",
                "import socket, time\nopen('/tmp/other-workload-marker', 'w').write('x')\nopen('/dev/shm/other-workload-marker', 'w').write('x')\nlistener = socket.socket(socket.AF_UNIX)\nlistener.bind('\\0plinth-escape-other')\nlistener.listen()\nprint('ready', flush=True)\ntime.sleep(300)\n",
            ],
            json!({}),
        )
        .await;
    api.wait_output(&bob, "acme/beta", &other, "ready").await;
    let other_pid = find_process("plinth-escape-other");

    // Alice's job tries everything.
    let env = json!({
        "ESCAPE_DATA_DIR": data.display().to_string(),
        "ESCAPE_CONFIG_FILE": config.display().to_string(),
        "ESCAPE_KEY_FILE": data.join("server.key").display().to_string(),
        "ESCAPE_OBJECTS_DIR": data.join("objects").display().to_string(),
        "ESCAPE_SERVER_PID": server.pid().to_string(),
        "ESCAPE_OTHER_JOB": other,
        "ESCAPE_OTHER_PID": other_pid.to_string(),
        "ESCAPE_SUID": suid.display().to_string(),
        "ESCAPE_OTHER_PROJECT": "acme/beta",
    });
    let escape_script = tools.join("escape.py").display().to_string();
    let escape = api
        .submit(&alice, "acme/alpha", &["python3", &escape_script], env)
        .await;
    let job = api.wait(&alice, "acme/alpha", &escape).await;
    let log = api.logs(&alice, "acme/alpha", &escape).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{log}");
    let line = log
        .lines()
        .find_map(|line| line.strip_prefix("ESCAPE-RESULTS "))
        .unwrap_or_else(|| panic!("no results in the escape job's log:\n{log}"));
    let outcome: Value = serde_json::from_str(line).unwrap();
    let results = outcome["results"].as_array().unwrap();
    assert_eq!(results.len(), 27, "every attempt reports: {outcome}");
    // A write that seemed to work counts only if it reached the host's file.
    let escaped: Vec<&Value> = results
        .iter()
        .filter(|result| result["escaped"] == true)
        .filter(|result| match result["host_path"].as_str() {
            Some(path) => Path::new(path).try_exists().unwrap(),
            None => true,
        })
        .filter(|result| {
            !matches!(isolation, Isolation::Podman(_))
                || !PODMAN_SHARES.contains(&result["name"].as_str().unwrap())
        })
        .collect();
    assert!(
        escaped.is_empty(),
        "escapes:\n{}",
        serde_json::to_string_pretty(&escaped).unwrap()
    );
    for secret in [ADMIN_PASSWORD, "escape-db-secret"] {
        assert!(!log.contains(secret), "the job found `{secret}`:\n{log}");
    }
    // It ran as itself: never root outside, never the server's uid; and still worked.
    let own = &outcome["own"];
    assert_eq!(own["token_ok"], true, "{own}");
    assert_eq!(own["tmp_writable"], true, "{own}");
    assert_eq!(own["cwd_writable"], true, "{own}");
    let uid = own["uid"].as_u64().unwrap();
    match user {
        ServerUser::Root => assert!(uid >= 1_500_000_000, "ran as uid {uid}"),
        // Root of its own user namespace, which is the server's uid outside.
        ServerUser::Named(_) => assert_eq!(uid, 0, "{own}"),
    }
    assert_ne!(uid, u64::from(server_uid).max(1), "{own}");
    // Its token ended with it.
    let token = outcome["token"].as_str().unwrap();
    let (status, _) = api.call(token, "GET", "/api/v1/me", None).await;
    assert_eq!(status, 401, "the job's token outlived the job");

    // A job that logs an MLflow run from a Python environment still just works.
    let python = venv.join("bin/python").display().to_string();
    let logged = api
        .submit(
            &alice,
            "acme/alpha",
            &[
                &python,
                "-c",
                "import subprocess, sys\n\
                 # pip works in the sandbox: the package index over HTTPS, a cache in $HOME.\n\
                 subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', 'deps', 'six==1.16.0'], check=True)\n\
                 sys.path.insert(0, 'deps')\n\
                 import six\n\
                 import mlflow\n\
                 mlflow.set_experiment('sandboxed')\n\
                 with mlflow.start_run():\n    mlflow.log_param('where', 'sandbox')\n    mlflow.log_metric('loss', 0.25)\n\
                 print('logged', flush=True)\n",
            ],
            // This machine reaches the package index through a proxy whose CA only the
            // system bundle has (the host's pip.conf says so; a container image has none).
            json!({ "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt" }),
        )
        .await;
    let job = api.wait(&alice, "acme/alpha", &logged).await;
    let log = api.logs(&alice, "acme/alpha", &logged).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{log}");
    let experiment = api
        .ok(
            &alice,
            "GET",
            "/projects/acme/alpha/api/2.0/mlflow/experiments/get-by-name?experiment_name=sandboxed",
            None,
        )
        .await;
    let experiment_id = experiment["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let runs = api
        .ok(
            &alice,
            "POST",
            "/projects/acme/alpha/api/2.0/mlflow/runs/search",
            Some(json!({ "experiment_ids": [experiment_id] })),
        )
        .await;
    assert_eq!(
        runs["runs"][0]["data"]["metrics"][0]["value"], 0.25,
        "{runs}"
    );

    let _ = api
        .call(
            &bob,
            "POST",
            &format!("/api/v1/orgs/acme/projects/beta/jobs/{other}/stop"),
            None,
        )
        .await;
}

#[tokio::test]
#[ignore = "needs root and PLINTH_TEST_SANDBOX_VENV (scripts/test)"]
async fn escape_suite_with_the_server_as_root() {
    escape_suite(ServerUser::Root, None).await;
}

#[tokio::test]
#[ignore = "needs root and PLINTH_TEST_SANDBOX_VENV (scripts/test)"]
async fn escape_suite_with_the_server_as_an_ordinary_user() {
    escape_suite(ServerUser::Named("plinth-sandbox-test"), None).await;
}

#[tokio::test]
#[ignore = "needs root, PLINTH_TEST_SANDBOX_VENV and podman with PLINTH_TEST_BASE_IMAGE (scripts/test)"]
async fn escape_suite_in_podman_containers() {
    let image = std::env::var("PLINTH_TEST_BASE_IMAGE").expect("PLINTH_TEST_BASE_IMAGE");
    escape_suite_with(ServerUser::Root, None, Isolation::Podman(image)).await;
}

#[tokio::test]
#[ignore = "needs root, PLINTH_TEST_SANDBOX_VENV and PLINTH_TEST_POSTGRES_URL (scripts/test)"]
async fn escape_suite_on_postgres_finds_no_database_credentials() {
    // Any password passes the test cluster's `trust` authentication: this one is only a
    // marker the job must not find anywhere it can look.
    let url = plinth_metastore::testsuite::postgres_fresh_database_url().await;
    let mut url = url::Url::parse(&url).unwrap();
    url.set_password(Some("escape-db-secret")).unwrap();
    escape_suite(ServerUser::Root, Some(url.to_string())).await;
}

/// Where namespaces are impossible (no root, no user namespaces), `no_new_privs` and
/// Landlock alone are the boundary: the program keeps to its folders and cannot signal a
/// process outside its sandbox, even one of the same user.
#[test]
fn landlock_alone_keeps_a_program_to_its_folders() {
    let dir = workdir();
    let root = dir.path();
    let (work, tmp, secret) = (root.join("work"), root.join("tmp"), root.join("secret"));
    for folder in [&work, &tmp, &secret] {
        fs_err::create_dir(folder).unwrap();
    }
    fs_err::write(secret.join("key"), "the key").unwrap();
    let plan = plinth_executor::sandbox::SandboxPlan {
        namespaces: false,
        landlock: true,
        hostname: "unused".to_string(),
        work_dir: work.clone(),
        tmp_dir: tmp.clone(),
        read_only: plinth_executor::sandbox::SYSTEM_READ_ONLY
            .iter()
            .map(PathBuf::from)
            .collect(),
        devices: plinth_executor::sandbox::DEVICES
            .iter()
            .map(PathBuf::from)
            .collect(),
        ..plinth_executor::sandbox::SandboxPlan::default()
    };
    let plan_file = root.join("plan.json");
    fs_err::write(&plan_file, serde_json::to_vec(&plan).unwrap()).unwrap();
    let mut sibling = Command::new("sleep").arg("30").spawn().unwrap();
    let script = format!(
        "cat {key} || echo no-key; echo x > {escaped} || echo no-write; kill -0 {pid} || echo no-signal; echo mine > own && echo own-ok; echo t > {tmp}/t && echo tmp-ok",
        key = secret.join("key").display(),
        escaped = root.join("escaped").display(),
        pid = sibling.id(),
        tmp = tmp.display(),
    );
    let output = Command::new(BINARY)
        .args(["sandbox", "exec", "--plan"])
        .arg(&plan_file)
        .args(["--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    let _ = sibling.kill();
    let _ = sibling.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in ["no-key", "no-write", "no-signal", "own-ok", "tmp-ok"] {
        assert!(
            stdout.contains(expected),
            "{expected} missing:\n{stdout}\n{stderr}"
        );
    }
    assert!(!stdout.contains("the key"), "{stdout}");
    assert!(!root.join("escaped").try_exists().unwrap());
    assert_eq!(fs_err::read_to_string(work.join("own")).unwrap(), "mine\n");
}
