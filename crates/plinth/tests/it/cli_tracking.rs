//! The tracking commands of the real binary (`experiments`, `runs`, `models`, `artifacts`)
//! against a real server: data logged through MLflow's HTTP API (and, in the ignored test,
//! by the unmodified mlflow client), then listed, filtered, ordered, shown and downloaded
//! with the CLI; errors for unknown experiments, bad filters, path escapes and viewers.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::cli_jobs::Cli;
use crate::mlflow::{call, callers, run_script, venv_python, PASSWORD};
use crate::support::{client, plinth, workdir, Server};

const MLFLOW: &str = "/projects/acme/churn/api/2.0/mlflow";
const ARTIFACTS: &str = "/projects/acme/churn/api/2.0/mlflow-artifacts/artifacts";

/// Bytes that do not repeat with any short period (a multi-MB artifact).
fn big_bytes(length: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The artifacts every logged run gets: a nested tree with one multi-MB file.
fn artifact_tree() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            "README.txt".to_string(),
            b"churn model, trained on q3\n".to_vec(),
        ),
        (
            "model/MLmodel".to_string(),
            b"flavors:\n  python_function: {}\n".to_vec(),
        ),
        (
            "model/data/weights.bin".to_string(),
            big_bytes(3 * 1024 * 1024 + 17),
        ),
        (
            "model/data/deep/config.json".to_string(),
            b"{\"layers\": 3}".to_vec(),
        ),
        ("model/empty.txt".to_string(), Vec::new()),
    ])
}

/// Every file under `root`, by relative path, with its bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs_err::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(relative, fs_err::read(&path).unwrap());
            }
        }
    }
    files
}

/// Asserts two trees are equal without printing megabytes.
#[track_caller]
fn assert_same_tree(actual: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>) {
    let names = |tree: &BTreeMap<String, Vec<u8>>| tree.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(actual), names(expected));
    for (name, bytes) in expected {
        assert!(
            actual[name] == *bytes,
            "`{name}` differs ({} bytes vs {})",
            actual[name].len(),
            bytes.len()
        );
    }
}

async fn put_artifact(server: &Server, token: &str, path: &str, bytes: Vec<u8>) {
    let answer = client()
        .put(server.url(&format!("{ARTIFACTS}/{path}")))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert!(
        answer.status().is_success(),
        "PUT {path}: {}",
        answer.status()
    );
}

/// Logs a finished run with `loss` and `lr`; returns its id and artifact root path.
async fn log_run(
    server: &Server,
    token: &str,
    experiment_id: &str,
    name: &str,
    loss: f64,
    lr: &str,
) -> (String, String) {
    let run = call(
        server,
        token,
        "POST",
        &format!("{MLFLOW}/runs/create"),
        json!({ "experiment_id": experiment_id, "run_name": name, "start_time": 1_700_000_000_000_i64 }),
    )
    .await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let artifact_uri = run["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        server,
        token,
        "POST",
        &format!("{MLFLOW}/runs/log-batch"),
        json!({
            "run_id": run_id,
            "metrics": [
                { "key": "loss", "value": loss * 2.0, "timestamp": 1_700_000_001_000_i64, "step": 0 },
                { "key": "loss", "value": loss, "timestamp": 1_700_000_002_000_i64, "step": 1 },
            ],
            "params": [{ "key": "lr", "value": lr }],
            "tags": [{ "key": "team", "value": "ml" }],
        }),
    )
    .await;
    call(
        server,
        token,
        "POST",
        &format!("{MLFLOW}/runs/update"),
        json!({ "run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_065_000_i64 }),
    )
    .await;
    let root = artifact_uri
        .strip_prefix("mlflow-artifacts:/")
        .expect("a proxied artifact URI")
        .to_string();
    (run_id, root)
}

/// The lines of a table after its header, each cut to its first `cells` cells.
fn rows(table: &str, cells: usize) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| {
            line.split_whitespace()
                .take(cells)
                .map(String::from)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tracking_commands_list_filter_show_download_and_refuse() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let tokens = callers(&server).await;
    let olga = Cli::new(dir.path(), "olga");
    olga.login(&server.address, "olga", PASSWORD);
    let vera = Cli::new(dir.path(), "vera");
    vera.login(&server.address, "vera", PASSWORD);
    let token = tokens.personal.as_str();

    // ---------- experiments ----------
    let created = call(
        &server,
        token,
        "POST",
        &format!("{MLFLOW}/experiments/create"),
        json!({ "name": "churn-exp", "tags": [{ "key": "team", "value": "ml" }] }),
    )
    .await;
    let experiment_id = created["experiment_id"].as_str().unwrap().to_string();
    let id = olga
        .run(&["experiments", "create", "scratch", "--tag", "owner=olga"])
        .ok();
    let scratch_id = id.trim().to_string();
    assert!(scratch_id.parse::<u64>().is_ok(), "{id}");
    let listed = olga.run(&["experiments", "list"]).ok();
    let mut names: Vec<String> = rows(&listed, 2)
        .into_iter()
        .map(|row| row[1].clone())
        .collect();
    assert_eq!(names[0], "scratch", "newest first: {listed}");
    names.sort();
    assert_eq!(names, ["Default", "churn-exp", "scratch"], "{listed}");
    assert!(
        listed
            .lines()
            .any(|line| line.contains(" churn-exp ") && line.ends_with("team=ml")),
        "{listed}"
    );
    let shown = olga.run(&["experiments", "show", "churn-exp"]).ok();
    assert!(
        shown.contains(&format!("ID:         {experiment_id}")),
        "{shown}"
    );
    assert!(shown.contains("team  ml"), "{shown}");
    // By id as well as by name; the JSON is MLflow's experiment.
    let by_id = olga.json(&["experiments", "show", &experiment_id]);
    assert_eq!(by_id["name"], "churn-exp");
    olga.run(&["experiments", "tag", "set", "scratch", "stage", "dev"])
        .ok();
    olga.run(&["experiments", "rename", &scratch_id, "scratch-2"])
        .ok();
    let renamed = olga.json(&["experiments", "show", "scratch-2"]);
    let tags: Vec<&Value> = renamed["tags"].as_array().unwrap().iter().collect();
    assert!(
        tags.contains(&&json!({ "key": "stage", "value": "dev" })),
        "{renamed}"
    );
    olga.run(&["experiments", "tag", "delete", "scratch-2", "stage"])
        .ok();
    olga.run(&["experiments", "delete", "scratch-2"]).ok();
    assert!(!olga
        .run(&["experiments", "list"])
        .ok()
        .contains("scratch-2"));
    let all = olga.run(&["experiments", "list", "--all"]).ok();
    assert!(
        all.lines()
            .any(|line| line.contains("scratch-2") && line.contains("deleted")),
        "{all}"
    );
    let filtered = olga.json(&["experiments", "list", "--filter", "tags.team = 'ml'"]);
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");
    olga.run(&["experiments", "restore", "scratch-2"]).ok();
    let unknown = olga
        .run(&["experiments", "show", "no-such-experiment"])
        .error();
    assert_eq!(
        unknown,
        "error: experiment `no-such-experiment` not found in project `acme/churn`; \
         `plinth experiments list` shows its experiments (`--all` also the deleted ones)"
    );
    let unknown = olga.run(&["runs", "list", "--experiment", "nope"]).error();
    assert!(unknown.contains("experiment `nope` not found"), "{unknown}");

    // ---------- runs ----------
    let mut runs = BTreeMap::new();
    for (name, loss, lr) in [
        ("r0", 0.9, "0.01"),
        ("r1", 0.3, "0.01"),
        ("r2", 0.45, "0.1"),
        ("r3", 0.1, "0.01"),
        ("r4", 0.7, "0.01"),
    ] {
        let logged = log_run(&server, token, &experiment_id, name, loss, lr).await;
        runs.insert(name, logged);
    }
    let listed = olga
        .run(&[
            "runs",
            "list",
            "--experiment",
            "churn-exp",
            "--filter",
            "metrics.loss < 0.5 and params.lr = '0.01'",
            "--order-by",
            "metrics.loss ASC",
            "--columns",
            "metrics.loss,params.lr,tags.team",
        ])
        .ok();
    let header = listed.lines().next().unwrap();
    assert!(
        header.starts_with("RUN ID") && header.ends_with("metrics.loss  params.lr  tags.team"),
        "{listed}"
    );
    let found: Vec<(String, String)> = listed
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells[1].to_string(), cells[cells.len() - 3..].join(" "))
        })
        .collect();
    assert_eq!(
        found,
        [
            ("r3".to_string(), "0.1 0.01 ml".to_string()),
            ("r1".to_string(), "0.3 0.01 ml".to_string())
        ],
        "{listed}"
    );
    assert!(listed.contains(&runs["r3"].0), "{listed}");
    assert!(
        listed.contains("FINISHED") && listed.contains("1m05s"),
        "{listed}"
    );
    // Pages are followed (two runs per request here) up to the limit, in order.
    let every = olga.json(&[
        "runs",
        "list",
        "--order-by",
        "metrics.loss DESC",
        "--page-size",
        "2",
    ]);
    let names: Vec<&str> = every
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["info"]["run_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r0", "r4", "r2", "r1", "r3"]);
    let limited = olga.run(&[
        "runs",
        "list",
        "-x",
        "churn-exp",
        "--limit",
        "3",
        "--page-size",
        "2",
    ]);
    assert_eq!(limited.code, 0, "{limited:#?}");
    assert_eq!(limited.stdout.lines().count(), 4, "{limited:#?}");
    assert!(
        limited.stderr.contains("more runs than --limit 3"),
        "{limited:#?}"
    );
    // A bad filter shows the server's own message.
    let bad_filter = "metrics.loss <<< 1";
    let answer = client()
        .post(server.url(&format!("{MLFLOW}/runs/search")))
        .bearer_auth(token)
        .json(&json!({ "experiment_ids": [experiment_id], "filter": bad_filter }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let message = answer.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = olga
        .run(&["runs", "list", "-x", "churn-exp", "--filter", bad_filter])
        .error();
    assert_eq!(refused, format!("error: {message}"));

    // ---------- one run: show, artifacts ----------
    let (run_id, root) = runs["r1"].clone();
    call(
        &server,
        token,
        "POST",
        &format!("{MLFLOW}/runs/log-inputs"),
        json!({
            "run_id": run_id,
            "datasets": [{
                "tags": [{ "key": "mlflow.data.context", "value": "training" }],
                "dataset": { "name": "churn-q3", "digest": "d1g35t", "source_type": "local", "source": "{}" },
            }],
        }),
    )
    .await;
    let tree = artifact_tree();
    for (path, bytes) in &tree {
        put_artifact(&server, token, &format!("{root}/{path}"), bytes.clone()).await;
    }
    let shown = olga.run(&["runs", "show", &run_id]).ok();
    for expected in [
        format!("Run ID:        {run_id}"),
        format!("Experiment:    churn-exp ({experiment_id})"),
        "Status:        FINISHED".to_string(),
        "User:          olga".to_string(),
        "lr   0.01".to_string(),
        "loss  0.3    1".to_string(),
        "team  ml".to_string(),
        "dataset  churn-q3  d1g35t  local   training".to_string(),
        "README.txt  27 B".to_string(),
        "model/      -".to_string(),
    ] {
        assert!(shown.contains(&expected), "no `{expected}` in:\n{shown}");
    }
    let listed = olga.run(&["artifacts", "list", &run_id, "model/data"]).ok();
    assert_eq!(
        rows(&listed, 1),
        [
            vec!["model/data/deep/".to_string()],
            vec!["model/data/weights.bin".to_string()]
        ],
        "{listed}"
    );
    assert!(listed.contains("3 MiB"), "{listed}");

    // The whole tree, byte for byte; nothing temporary left behind.
    let out = dir.path().join("out");
    let download = olga.run(&[
        "artifacts",
        "download",
        &run_id,
        "--dest",
        out.to_str().unwrap(),
    ]);
    assert_eq!(download.code, 0, "{download:#?}");
    assert_eq!(download.stdout.trim(), out.to_str().unwrap());
    assert!(
        download.stderr.contains("downloaded 5 files (3 MiB)"),
        "{download:#?}"
    );
    assert_same_tree(&read_tree(&out), &tree);
    // Files get the modes new files get here (the umask), not a temporary file's 0600.
    let umask = fs_err::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .map(|mask| u32::from_str_radix(mask.trim(), 8).unwrap())
        .unwrap();
    let mode = fs_err::metadata(out.join("model/data/weights.bin"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o666 & !umask
    );
    // One folder or one file lands at its path inside DEST, as MLflow's download does.
    let part = dir.path().join("part");
    olga.run(&[
        "artifacts",
        "download",
        &run_id,
        "model/data/",
        "-d",
        part.to_str().unwrap(),
    ])
    .ok();
    let files = read_tree(&part);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["model/data/deep/config.json", "model/data/weights.bin"]
    );
    assert!(files["model/data/weights.bin"] == tree["model/data/weights.bin"]);
    let single = dir.path().join("single");
    olga.run(&[
        "artifacts",
        "download",
        &run_id,
        "README.txt",
        "-d",
        single.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        fs_err::read(single.join("README.txt")).unwrap(),
        tree["README.txt"]
    );
    // Paths that lead out of DEST are refused before anything is fetched or written.
    let escape = dir.path().join("escape");
    for bad in ["../../etc", "model/../../x", "/etc/passwd", "model\\..\\x"] {
        let refused = olga
            .run(&[
                "artifacts",
                "download",
                &run_id,
                bad,
                "-d",
                escape.to_str().unwrap(),
            ])
            .error();
        assert!(
            refused.starts_with(&format!("error: artifact path `{bad}`")),
            "{refused}"
        );
        assert!(!escape.try_exists().unwrap(), "{bad}");
    }
    let missing = olga
        .run(&[
            "artifacts",
            "download",
            &run_id,
            "no/such",
            "-d",
            escape.to_str().unwrap(),
        ])
        .error();
    assert!(missing.contains("has no artifacts there"), "{missing}");

    // ---------- registry ----------
    olga.run(&[
        "models",
        "create",
        "churn-model",
        "--description",
        "predicts churn",
    ])
    .ok();
    for source in [
        format!("runs:/{run_id}/model"),
        format!("mlflow-artifacts:/{root}/model"),
    ] {
        call(
            &server,
            token,
            "POST",
            &format!("{MLFLOW}/model-versions/create"),
            json!({ "name": "churn-model", "source": source, "run_id": run_id }),
        )
        .await;
    }
    olga.run(&["models", "alias", "set", "churn-model", "champion", "1"])
        .ok();
    olga.run(&["models", "stage", "churn-model", "1", "staging"])
        .ok();
    let moved = olga.json(&[
        "models",
        "stage",
        "churn-model",
        "2",
        "Staging",
        "--archive-existing",
    ]);
    assert_eq!(moved["current_stage"], "Staging");
    let listed = olga.run(&["models", "list"]).ok();
    assert_eq!(
        rows(&listed, 3),
        [vec!["churn-model", "2", "champion→1"]],
        "{listed}"
    );
    let shown = olga.run(&["models", "show", "churn-model"]).ok();
    assert!(shown.contains("Description:  predicts churn"), "{shown}");
    assert!(shown.contains("Aliases:      champion → 1"), "{shown}");
    let versions = olga.run(&["models", "versions", "churn-model"]).ok();
    assert_eq!(
        rows(&versions, 5),
        [
            vec!["2", "Staging", "-", "READY", run_id.as_str()],
            vec!["1", "Archived", "champion", "READY", run_id.as_str()],
        ],
        "{versions}"
    );
    let model_tree: BTreeMap<String, Vec<u8>> = tree
        .iter()
        .filter_map(|(path, bytes)| Some((path.strip_prefix("model/")?.to_string(), bytes.clone())))
        .collect();
    for (reference, folder) in [
        ("churn-model@champion", "by-alias"),
        ("churn-model", "latest"),
        ("churn-model/2", "by-number"),
    ] {
        let dest = dir.path().join(folder);
        olga.run(&[
            "models",
            "download",
            reference,
            "--dest",
            dest.to_str().unwrap(),
        ])
        .ok();
        assert_same_tree(&read_tree(&dest), &model_tree);
    }
    // Without --dest: NAME-vVERSION in the working folder.
    let default = olga
        .run(&["models", "download", "churn-model@champion"])
        .ok();
    assert_eq!(default.trim(), "churn-model-v1");
    assert_same_tree(&read_tree(&olga.work.join("churn-model-v1")), &model_tree);
    let unknown = olga.run(&["models", "show", "nope"]).error();
    assert!(
        unknown.contains("registered model `nope` not found in project `acme/churn`"),
        "{unknown}"
    );

    // ---------- a viewer reads but cannot change anything ----------
    let seen = vera.json(&["runs", "list", "-x", "churn-exp"]);
    assert_eq!(seen.as_array().unwrap().len(), 5);
    vera.run(&["models", "versions", "churn-model"]).ok();
    let escape_listing = vera.run(&["artifacts", "list", &run_id]).ok();
    assert!(escape_listing.contains("README.txt"), "{escape_listing}");
    for args in [
        vec!["experiments", "create", "mine"],
        vec!["experiments", "delete", "churn-exp"],
        vec!["runs", "delete", &run_id],
        vec!["models", "alias", "set", "churn-model", "mine", "2"],
    ] {
        let refused = vera.run(&args).error();
        assert!(
            refused.contains("needs the `contributor` role in project `acme/churn`"),
            "{args:?}: {refused}"
        );
    }

    // ---------- removing things ----------
    olga.run(&["runs", "delete", &run_id]).ok();
    assert_eq!(
        olga.json(&["runs", "list", "-x", "churn-exp"])
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let with_deleted = olga.run(&["runs", "list", "-x", "churn-exp", "--all"]).ok();
    assert!(
        with_deleted.contains("FINISHED (deleted)"),
        "{with_deleted}"
    );
    olga.run(&["runs", "restore", &run_id]).ok();
    olga.run(&["models", "rename", "churn-model", "churn-model-2"])
        .ok();
    olga.run(&["models", "alias", "delete", "churn-model-2", "champion"])
        .ok();
    olga.run(&["models", "delete", "churn-model-2"]).ok();
    assert_eq!(olga.run(&["models", "list"]).ok(), "no registered models\n");
}

/// A fake MLflow server whose artifact listing names `evil` (and whose files are never
/// fetched): the CLI refuses the name and writes nothing.
async fn fake_server(
    evil: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{OriginalUri, Query};
    use axum::routing::get;
    use axum::{Json, Router};
    use std::sync::{Arc, Mutex};

    let fetched = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&fetched);
    let app = Router::new()
        .route(
            "/projects/o/p/api/2.0/mlflow/runs/get",
            get(|| async {
                Json(json!({ "run": { "info": {
                    "run_id": "r", "experiment_id": "1", "status": "FINISHED",
                    "artifact_uri": "mlflow-artifacts:/1/r/artifacts", "lifecycle_stage": "active",
                } } }))
            }),
        )
        .route(
            "/projects/o/p/api/2.0/mlflow-artifacts/artifacts",
            get(
                move |Query(query): Query<BTreeMap<String, String>>| async move {
                    let files = if query.get("path").map(String::as_str) == Some("1/r/artifacts") {
                        json!([
                            { "path": "fine.txt", "is_dir": false, "file_size": 2 },
                            { "path": "sub", "is_dir": true },
                        ])
                    } else {
                        json!([{ "path": evil, "is_dir": false, "file_size": 4 }])
                    };
                    Json(json!({ "files": files }))
                },
            ),
        )
        .fallback(move |OriginalUri(uri): OriginalUri| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(uri.path().to_string());
                "ok"
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, fetched)
}

#[tokio::test(flavor = "multi_thread")]
async fn artifact_names_from_the_server_cannot_escape_the_destination() {
    for evil in [
        "..",
        "../../outside.txt",
        "/etc/passwd",
        "..\\..\\x",
        "",
        "a/b",
        ".",
    ] {
        let (address, fetched) = fake_server(evil).await;
        let dir = workdir();
        let dest = dir.path().join("dest");
        let output = tokio::task::spawn_blocking({
            let dir = dir.path().to_path_buf();
            let dest = dest.clone();
            move || {
                let mut command: Command = plinth(&dir);
                command
                    .env("PLINTH_CONFIG_DIR", dir.join("config"))
                    .env("PLINTH_URL", &address)
                    .env("PLINTH_TOKEN", "plt_fake")
                    .args(["artifacts", "download", "r", "--project", "o/p", "--dest"])
                    .arg(&dest)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{evil:?}: {stderr}");
        assert!(
            stderr.contains("which is not a safe file name") && stderr.contains("sub"),
            "{evil:?}: {stderr}"
        );
        // Nothing was fetched, nothing but the (empty) folders was made.
        assert!(fetched.lock().unwrap().is_empty(), "{evil:?}");
        assert_eq!(crate::support::entries(dir.path()), ["dest"], "{evil:?}");
        assert!(read_tree(&dest).is_empty(), "{evil:?}");
    }
}

/// The unmodified mlflow client logs runs and an sklearn model and registers it; the CLI
/// finds the runs with a filter and downloads the registered model by its alias.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test venv (scripts/test)"]
async fn cli_reads_what_the_mlflow_client_logged() {
    let python = venv_python();
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let tokens = callers(&server).await;
    let olga = Cli::new(dir.path(), "olga");
    olga.login(&server.address, "olga", PASSWORD);
    run_script(&server, &python, "cli_data.py", "", &tokens.scoped, &[]);

    let listed = olga
        .run(&[
            "runs",
            "list",
            "--experiment",
            "cli-sweep",
            "--filter",
            "metrics.loss < 0.5 and params.lr = '0.01'",
            "--order-by",
            "metrics.loss ASC",
            "--columns",
            "metrics.loss,params.lr",
        ])
        .ok();
    let found: Vec<Vec<String>> = listed
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            [cells[1], cells[cells.len() - 2], cells[cells.len() - 1]]
                .map(String::from)
                .to_vec()
        })
        .collect();
    assert_eq!(
        found,
        [["sweep-3", "0.1", "0.01"], ["sweep-1", "0.3", "0.01"]]
            .map(|row| row.map(String::from).to_vec()),
        "{listed}"
    );
    let runs = olga.json(&[
        "runs",
        "list",
        "-x",
        "cli-sweep",
        "--filter",
        "params.lr = '0.01'",
    ]);
    let run_id = runs[0]["info"]["run_id"].as_str().unwrap().to_string();
    let shown = olga.run(&["runs", "show", &run_id]).ok();
    // The artifacts table lists the folder without a size (column widths follow the
    // widest entry, which depends on the run).
    assert!(
        shown
            .lines()
            .any(|line| line.split_whitespace().eq(["notes/", "-"])),
        "{shown}"
    );

    let versions = olga.run(&["models", "versions", "cli-model"]).ok();
    assert!(
        versions.lines().nth(1).unwrap().contains("champion"),
        "{versions}"
    );
    let dest = dir.path().join("model");
    olga.run(&[
        "models",
        "download",
        "cli-model@champion",
        "--dest",
        dest.to_str().unwrap(),
    ])
    .ok();
    let files = read_tree(&dest);
    for expected in ["MLmodel", "model.skops", "requirements.txt"] {
        assert!(
            files.contains_key(expected),
            "no {expected} in {:?}",
            files.keys()
        );
    }
    // The downloaded model loads and predicts with the real client.
    let check = Command::new(&python)
        .args([
            "-c",
            "import sys, mlflow.pyfunc, numpy as np; \
             m = mlflow.pyfunc.load_model(sys.argv[1]); \
             print(len(m.predict(np.zeros((3, 4)))))",
        ])
        .arg(&dest)
        .env("GIT_PYTHON_REFRESH", "quiet")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "3",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
