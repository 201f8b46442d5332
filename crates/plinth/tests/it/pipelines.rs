//! Kubeflow Pipelines through the real binary: `tests/pipelines/suite.py` writes pipelines
//! with the real `kfp==2.17.3` SDK, compiles them, submits them with the unmodified
//! `kfp.Client` — once with a project-scoped token on the plain server URL, once with a
//! personal token and `…/projects/ORG/NAME` as host — waits with
//! `wait_for_run_completion` and asserts their outputs (parameters of every type, an
//! artifact read by the next task, `dsl.If`, a failing task, terminate), and that bad
//! submissions are refused naming the field. Tasks run as sandboxed jobs in the project's
//! environment `kfp` (built here with real uv from the package index), so ignored;
//! `scripts/test` runs it.

use std::process::Command;
use std::time::Instant;

use serde_json::json;

use crate::cli_jobs::Cli;
use crate::mlflow::venv_python;
use crate::support::{client, Server, ADMIN_PASSWORD};

fn suite() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipelines/suite.py")
}

fn run_suite(server: &Server, host: &str, token: &str, tag: &str) {
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(venv_python())
        .arg(suite())
        .current_dir(scratch.path())
        .env("KFP_HOST", host)
        .env("KFP_TOKEN", token)
        .env("KFP_TAG", tag)
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let log = server.lines.lock().unwrap();
        let tail = log[log.len().saturating_sub(60)..].join("\n");
        panic!("suite.py with host {host} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log\n{tail}", output.status);
    }
    eprintln!(
        "suite.py via {host} passed in {:.1} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test venv (kfp) and the package index (real uv); scripts/test runs it"]
async fn kfp_client_runs_sdk_compiled_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap =
        std::env::var("PLINTH_TEST_BOOTSTRAP_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("PLINTH__ENVIRONMENTS__BOOTSTRAP_PYTHON", bootstrap.as_str()),
            ("PLINTH__PIPELINES__ENVIRONMENT", "kfp"),
        ],
    );
    let admin = Cli::new(dir.path(), "admin");
    admin.login(&server.address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();
    let started = Instant::now();
    let created = admin.run(&[
        "envs",
        "create",
        "kfp",
        "--project",
        "acme/churn",
        "--python",
        "3.11",
        "--package",
        "kfp==2.17.3",
    ]);
    assert_eq!(created.code, 0, "{created:#?}");
    let built = admin.run(&["envs", "build", "kfp", "--project", "acme/churn"]);
    assert_eq!(built.code, 0, "{built:#?}");
    eprintln!(
        "environment kfp built in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let personal = server.admin_token().await;
    let answer = client()
        .post(server.url("/api/v1/me/tokens"))
        .bearer_auth(&personal)
        .json(&json!({ "name": "kfp", "project": "acme/churn" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let scoped = answer.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let plain = server.url("");
    let named = server.url("/projects/acme/churn");
    tokio::task::block_in_place(|| {
        run_suite(&server, &plain, &scoped, "scoped");
        run_suite(&server, &named, &personal, "personal");
    });

    // The CLI: run a compiled file and follow it, upload it, list, show a run.
    let chain = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plinth-pipelines/tests-data/chain.yaml")
        .display()
        .to_string();
    let ran = admin.run(&[
        "pipelines",
        "run",
        &chain,
        "--param",
        "n=2",
        "--param",
        "greeting=yo",
        "--wait",
        "--project",
        "acme/churn",
    ]);
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(ran.stdout.trim_end().ends_with("SUCCEEDED"), "{ran:#?}");
    assert!(ran.stderr.contains("make: SUCCEEDED"), "{ran:#?}");
    let cli_run = ran.stdout.split_whitespace().next().unwrap().to_string();
    let shown = admin
        .run(&["pipelines", "runs", &cli_run, "--project", "acme/churn"])
        .ok();
    assert!(shown.contains("\"yo!-2-1.5-2-1\""), "{shown}");
    let uploaded = admin.run(&[
        "pipelines",
        "upload",
        &chain,
        "--name",
        "cli-chain",
        "--project",
        "acme/churn",
    ]);
    assert_eq!(uploaded.code, 0, "{uploaded:#?}");
    let listed = admin
        .run(&["pipelines", "list", "--project", "acme/churn"])
        .ok();
    assert!(listed.contains("cli-chain"), "{listed}");
    let bad = admin.run(&[
        "pipelines",
        "run",
        &chain,
        "--param",
        "n=two",
        "--project",
        "acme/churn",
    ]);
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert!(
        bad.stderr.contains("runtime_config.parameters.n"),
        "{bad:#?}"
    );

    // A restart in the middle of a run: the run goes on, finished tasks are not run again
    // and the running one is adopted (one job per task in all).
    let output = Command::new(venv_python())
        .arg(suite().with_file_name("restart.py"))
        .env("KFP_HOST", &plain)
        .env("KFP_TOKEN", &scoped)
        .output()
        .expect("run python");
    assert!(output.status.success(), "{output:?}");
    // The client prints links first; the script's last line is the run's id.
    let run_id = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let get_run = |url: String| {
        let scoped = scoped.clone();
        async move {
            client()
                .get(url)
                .bearer_auth(scoped)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let tasks_of =
        |run: &serde_json::Value| -> std::collections::BTreeMap<String, (String, String)> {
            run["run_details"]["task_details"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|task| {
                    (
                        task["display_name"].as_str().unwrap().to_string(),
                        (
                            task["state"].as_str().unwrap().to_string(),
                            task["plinth_job_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        ),
                    )
                })
                .collect()
        };
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let before = loop {
        let run = get_run(server.url(&format!("/apis/v2beta1/runs/{run_id}"))).await;
        let tasks = tasks_of(&run);
        if tasks
            .get("slow")
            .is_some_and(|(state, _)| state == "RUNNING")
        {
            break tasks;
        }
        assert!(Instant::now() < deadline, "slow never ran: {run:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(before["first"].0, "SUCCEEDED", "{before:?}");
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("PLINTH__ENVIRONMENTS__BOOTSTRAP_PYTHON", bootstrap.as_str()),
            ("PLINTH__PIPELINES__ENVIRONMENT", "kfp"),
        ],
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(90);
    let run = loop {
        let run = get_run(server.url(&format!("/apis/v2beta1/runs/{run_id}"))).await;
        if run["state"] != "RUNNING" && run["state"] != "PENDING" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end after the restart: {run:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(run["state"], "SUCCEEDED", "{run:#}");
    let after = tasks_of(&run);
    assert_eq!(after["first"].1, before["first"].1, "first ran again");
    assert_eq!(after["slow"].1, before["slow"].1, "slow was not adopted");
    let outputs: Vec<&serde_json::Value> = run["run_details"]["task_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| &task["plinth_outputs"]["parameters"]["Output"])
        .collect();
    assert!(outputs.contains(&&json!("one-two-three")), "{run:#}");
    let jobs = server
        .get_json("/api/v1/orgs/acme/projects/churn/jobs?limit=500")
        .await;
    let restart_jobs = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| {
            job["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("restart")
        })
        .count();
    assert_eq!(restart_jobs, 3, "one job per task: {jobs:#}");
}
