//! The file manager's S3 endpoint against the real binary: access keys made with the CLI
//! (`plinth files keys create|list|revoke`), then the unmodified `boto3` and aws CLI
//! (`tests/files/s3_clients.py`, from the test venv) putting, getting with ranges,
//! listing with prefixes, delimiters and pages, copying, multipart uploads, presigned URLs
//! and deleting — and refused with S3's own codes for a wrong secret, a revoked key,
//! another project, a Viewer's write and a read-only key's write. The objects must land
//! under the project's own prefix of the object store, and nowhere else.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::cli_jobs::Cli;
use crate::mlflow::{call, callers, venv_python, PASSWORD};
use crate::support::{workdir, Server};

/// Returns `ENDPOINT_URL ACCESS_KEY_ID SECRET_ACCESS_KEY`, the last stdout line of
/// `plinth files keys create ARGS`.
fn create_key(cli: &Cli, args: &[&str]) -> (String, String, String) {
    let mut all = vec!["files", "keys", "create"];
    all.extend_from_slice(args);
    let stdout = cli.run(&all).ok();
    let line = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "not `ENDPOINT ID SECRET`: {stdout:?}");
    assert!(fields[0].starts_with("http://127.0.0.1:"), "{line}");
    assert!(
        fields[1].starts_with("PLK") && fields[1].len() == 20,
        "{line}"
    );
    assert_eq!(fields[2].len(), 40, "{line}");
    (
        fields[0].to_string(),
        fields[1].to_string(),
        fields[2].to_string(),
    )
}

/// Every file under `root`, relative, with `/`.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                found.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
#[ignore = "needs the test venv (scripts/test)"]
async fn boto3_and_the_aws_cli_use_project_files() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    clients_against(&server, dir.path(), true).await;
}

#[tokio::test]
#[ignore = "needs the test venv (scripts/test), PLINTH_TEST_POSTGRES_URL and PLINTH_TEST_S3_ENDPOINT"]
async fn boto3_and_the_aws_cli_on_postgres_and_s3() {
    let dir = workdir();
    let database_url = plinth_metastore::testsuite::postgres_fresh_database_url().await;
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"));
    let objects_url = format!(
        "s3://{}/files-{}",
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
    clients_against(&server, dir.path(), false).await;
}

/// Makes the keys with the CLI, runs the clients, checks where objects were stored (on a
/// local backend) and that revocation stops a key at once.
async fn clients_against(server: &Server, dir: &Path, local_files: bool) {
    let python = venv_python();
    let aws = python.with_file_name("aws");
    assert!(
        aws.try_exists().unwrap_or(false),
        "the test venv lacks the aws CLI (awscli in scripts/test-requirements.txt)"
    );
    let people = callers(server).await;
    // A second project of olga's that vera cannot see.
    call(
        server,
        &people.personal,
        "POST",
        "/api/v1/orgs/acme/projects",
        json!({ "name": "secret" }),
    )
    .await;

    let olga = Cli::new(dir, "olga");
    olga.login(&server.address, "olga", PASSWORD);
    let vera = Cli::new(dir, "vera");
    vera.login(&server.address, "vera", PASSWORD);
    let (endpoint, owner_key, owner_secret) = create_key(&olga, &[]);
    let (_, scoped_key, scoped_secret) =
        create_key(&olga, &["--project", "acme/churn", "--read-only"]);
    let (_, viewer_key, viewer_secret) = create_key(&vera, &[]);
    let (_, revoked_key, revoked_secret) = create_key(&olga, &[]);
    olga.run(&["files", "keys", "revoke", &revoked_key]).ok();
    let listed = olga.json(&["files", "keys", "list"]);
    let keys = listed["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3, "{listed}");
    let scoped = keys
        .iter()
        .find(|key| key["access_key_id"] == scoped_key.as_str())
        .expect("the scoped key is listed");
    assert_eq!(scoped["project"], "acme/churn");
    assert_eq!(scoped["read_only"], true);
    assert!(keys
        .iter()
        .any(|key| key["access_key_id"] == revoked_key.as_str() && key["revoked_at_ms"].is_i64()));
    assert!(
        !listed.to_string().contains(&owner_secret),
        "a secret was listed"
    );
    assert_eq!(listed["endpoint_url"], endpoint.as_str());
    // vera cannot revoke olga's key, nor make a key for a project she cannot see.
    assert!(vera
        .run(&["files", "keys", "revoke", &owner_key])
        .error()
        .contains("not found"));
    assert!(vera
        .run(&["files", "keys", "create", "--project", "acme/secret"])
        .error()
        .contains("not found"));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files/s3_clients.py");
    let scratch = workdir();
    let output = Command::new(&python)
        .arg(&script)
        .current_dir(scratch.path())
        .env("S3_ENDPOINT", &endpoint)
        .env("BUCKET", "acme.churn")
        .env("OTHER_BUCKET", "acme.secret")
        .env("OWNER_KEY", &owner_key)
        .env("OWNER_SECRET", &owner_secret)
        .env("SCOPED_RO_KEY", &scoped_key)
        .env("SCOPED_RO_SECRET", &scoped_secret)
        .env("VIEWER_KEY", &viewer_key)
        .env("VIEWER_SECRET", &viewer_secret)
        .env("REVOKED_KEY", &revoked_key)
        .env("REVOKED_SECRET", &revoked_secret)
        .env("AWS_CLI", &aws)
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let log = server.lines.lock().unwrap();
        let tail = log[log.len().saturating_sub(40)..].join("\n");
        panic!("s3_clients.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log (last lines)\n{tail}", output.status);
    }
    assert!(stdout.contains("all S3 client checks passed"), "{stdout}");

    // Every object is under a project's own prefix, and the multipart parts are gone.
    let objects = dir.join("plinth-data/objects");
    let stored = if local_files {
        files_under(&objects)
    } else {
        Vec::new()
    };
    assert!(
        !local_files
            || stored
                .iter()
                .any(|path| path.ends_with("/files/top.bin") && path.starts_with("projects/")),
        "{stored:?}"
    );
    for path in &stored {
        let parts: Vec<&str> = path.split('/').collect();
        assert!(
            parts.len() >= 4 && parts[0] == "projects" && parts[2] == "files",
            "an object outside a project's files: {path}"
        );
    }
    assert!(
        !stored.iter().any(|path| path.contains("escape")),
        "{stored:?}"
    );

    // Revoking takes effect at once, for a key that worked a moment ago.
    olga.run(&["files", "keys", "revoke", &scoped_key]).ok();
    let refused = Command::new(&aws)
        .args(["--endpoint-url", &endpoint, "s3", "ls", "s3://acme.churn/"])
        .env("AWS_ACCESS_KEY_ID", &scoped_key)
        .env("AWS_SECRET_ACCESS_KEY", &scoped_secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .expect("run aws");
    let refused_stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && refused_stderr.contains("InvalidAccessKeyId"),
        "{refused_stderr}"
    );
}
