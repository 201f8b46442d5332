//! Every command is documented and the simple ones do what they say.

use crate::support::{plinth, workdir};

fn run(args: &[&str]) -> (i32, String, String) {
    let dir = workdir();
    let output = plinth(dir.path()).args(args).output().expect("run plinth");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_command() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for command in ["serve", "version", "config"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}

#[test]
fn serve_help_documents_every_flag() {
    let (code, stdout, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--listen",
        "--data-dir",
        "--metastore-url",
        "--objects-url",
        "--log-format",
        "--log-level",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
    }
    assert!(stdout.contains("PLINTH__SECTION__KEY"));
}

#[test]
fn version_prints_the_crate_version() {
    let (code, stdout, _) = run(&["version"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!("plinth {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    let (code, stdout, _) = run(&["version", "--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn config_default_is_valid_toml_that_check_accepts() {
    let (code, stdout, _) = run(&["config", "default"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("listen_addr = \"127.0.0.1:8080\""));
    let dir = workdir();
    fs_err::write(dir.path().join("plinth.toml"), &stdout).unwrap();
    let output = plinth(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("configuration is valid (plinth.toml)")
    );
}

#[test]
fn config_check_redacts_secrets() {
    let dir = workdir();
    let output = plinth(dir.path())
        .args([
            "config",
            "check",
            "--metastore-url",
            "postgres://plinth:hunter2@db/plinth",
        ])
        .env("PLINTH__OBJECTS__S3__SECRET_ACCESS_KEY", "hunter3")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("postgres://plinth:***@db/plinth"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("hunter3"),
        "{stdout}"
    );
}
