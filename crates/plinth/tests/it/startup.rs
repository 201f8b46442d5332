//! Each bad configuration stops startup with one clear line and a non-zero exit code.

use std::process::Stdio;

use crate::support::{plinth, workdir};

/// Runs `plinth serve` with `args`/`env` in a fresh folder (after `prepare`), expects it to
/// fail, and returns its exit code and its one error line.
fn fails(
    args: &[&str],
    env: &[(&str, &str)],
    prepare: impl FnOnce(&std::path::Path),
) -> (i32, String) {
    let dir = workdir();
    prepare(dir.path());
    let output = plinth(dir.path())
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run plinth");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().expect("exited, not killed");
    assert_ne!(
        code, 0,
        "plinth started although it should not have: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error line in:\n{stderr}"
    );
    (code, errors[0].to_string())
}

#[test]
fn unknown_key_in_config_file() {
    let (code, line) = fails(&[], &[], |dir| {
        fs_err::write(
            dir.join("plinth.toml"),
            "[server]\nlisten_adress = \"127.0.0.1:0\"\n",
        )
        .unwrap();
    });
    assert_eq!(code, 2);
    assert!(
        line.contains("`server.listen_adress`") || line.contains("listen_adress"),
        "{line}"
    );
    assert!(line.contains("plinth.toml"), "{line}");
}

#[test]
fn unknown_section_in_env() {
    let (code, line) = fails(
        &[],
        &[("PLINTH__SERVR__LISTEN_ADDR", "127.0.0.1:0")],
        |_| {},
    );
    assert_eq!(code, 2);
    assert!(line.contains("servr"), "{line}");
}

#[test]
fn bad_value_in_env() {
    let (code, line) = fails(&[], &[("PLINTH__SERVER__MAX_BODY_BYTES", "lots")], |_| {});
    assert_eq!(code, 2);
    assert!(line.contains("server.max_body_bytes"), "{line}");
}

#[test]
fn bad_flag_value() {
    let dir = workdir();
    let output = plinth(dir.path())
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[test]
fn invalid_settings_are_all_listed() {
    let (code, line) = fails(
        &[
            "--objects-url",
            "ftp://files/x",
            "--metastore-url",
            "mysql://db/x",
        ],
        &[("PLINTH__SERVER__MAX_BODY_BYTES", "0")],
        |_| {},
    );
    assert_eq!(code, 2);
    for culprit in ["server.max_body_bytes", "metastore.url", "objects.url"] {
        assert!(line.contains(culprit), "{culprit} not named in {line}");
    }
}

#[test]
fn missing_config_file() {
    let (code, line) = fails(&["--config", "missing.toml"], &[], |_| {});
    assert_eq!(code, 2);
    assert_eq!(
        line,
        "error: config file `missing.toml` cannot be read: no such file"
    );
}

#[test]
fn unreachable_database() {
    let (code, line) = fails(
        &[
            "--listen",
            "127.0.0.1:0",
            "--metastore-url",
            "postgres://plinth:hunter2@127.0.0.1:1/plinth",
        ],
        &[("PLINTH__METASTORE__CONNECT_TIMEOUT", "2s")],
        |_| {},
    );
    assert_eq!(code, 1);
    assert!(line.starts_with("error: cannot connect to postgres metadata store at `postgres://plinth:***@127.0.0.1:1/plinth`"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, line) = fails(&["--listen", &address], &[], |_| {});
    assert_eq!(code, 1);
    assert!(
        line.starts_with(&format!("error: cannot listen on {address}: ")),
        "{line}"
    );
    assert!(line.contains("--listen"), "{line}");
}

#[test]
fn unwritable_data_dir() {
    let (code, line) = fails(
        &["--listen", "127.0.0.1:0", "--data-dir", "/proc/plinth"],
        &[],
        |_| {},
    );
    assert_eq!(code, 1);
    assert!(line.contains("/proc/plinth"), "{line}");
}

#[test]
fn invalid_log_filter() {
    let (code, line) = fails(&["--log-level", "info,[[[="], &[], |_| {});
    assert_eq!(code, 2);
    assert!(line.contains("log.level"), "{line}");
}

#[test]
fn unreachable_kubernetes_cluster() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (code, line) = fails(
        &["--listen", "127.0.0.1:0"],
        &[
            ("PLINTH__RUNTIME__BACKEND", "kubernetes"),
            ("PLINTH__RUNTIME__KUBERNETES__KUBECONFIG", "kubeconfig.yaml"),
        ],
        |dir| {
            fs_err::write(
                dir.join("kubeconfig.yaml"),
                format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\n\
                     users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
                ),
            )
            .unwrap();
        },
    );
    assert_eq!(code, 1);
    assert!(
        line.contains(&format!("127.0.0.1:{port}")),
        "names the server: {line}"
    );
}

#[test]
fn missing_kubeconfig_names_the_file() {
    let (code, line) = fails(
        &["--listen", "127.0.0.1:0"],
        &[
            ("PLINTH__RUNTIME__BACKEND", "kubernetes"),
            (
                "PLINTH__RUNTIME__KUBERNETES__KUBECONFIG",
                "/nonexistent/kubeconfig",
            ),
        ],
        |_| {},
    );
    assert_eq!(code, 1);
    assert!(line.contains("/nonexistent/kubeconfig"), "{line}");
}
