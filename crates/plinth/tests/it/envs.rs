//! Environments through the real binary, sandboxed: `plinth envs create|build|show|
//! versions|logs`, a job in its environment importing packages only the environment has
//! (the venv read-only in the job's sandbox), the job's record of what ran, and refusals.
//! Needs the package index (real uv), so ignored; `scripts/test` runs it.

use crate::cli_jobs::Cli;
use crate::support::{Server, ADMIN_PASSWORD};

#[test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
fn a_job_runs_in_an_environment_built_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap =
        std::env::var("PLINTH_TEST_BOOTSTRAP_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let server = Server::start(
        dir.path(),
        &[],
        &[("PLINTH__ENVIRONMENTS__BOOTSTRAP_PYTHON", bootstrap.as_str())],
    );
    let admin = Cli::new(dir.path(), "admin");
    admin.login(&server.address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();
    fs_err::write(
        admin.work.join("requirements.txt"),
        "# pinned\niniconfig==2.0.0\n",
    )
    .unwrap();

    let created = admin.run(&[
        "envs",
        "create",
        "tiny",
        "--python",
        "3.11",
        "-r",
        "requirements.txt",
        "--package",
        "tomli-w",
        "--env",
        "GREETING=hello",
    ]);
    assert!(
        created
            .stderr
            .contains("environment tiny created (version 1)"),
        "{created:#?}"
    );
    let built = admin.run(&["envs", "build", "tiny"]);
    assert_eq!(built.code, 0, "{built:#?}");
    assert!(
        built.stderr.contains("environment tiny:1 is ready (lock "),
        "{built:#?}"
    );
    let shown = admin.run(&["envs", "show", "tiny"]).ok();
    assert!(
        shown.contains("iniconfig==2.0.0") && shown.contains("tomli-w=="),
        "{shown}"
    );
    assert!(
        shown.contains("resolution") && shown.contains("resolved"),
        "{shown}"
    );
    let logs = admin.run(&["envs", "logs", "tiny:1"]).ok();
    assert!(logs.contains("--- plinth: environment ready ---"), "{logs}");

    let script = "import os, iniconfig, tomli_w, sys; print('imported', os.environ['GREETING'], sys.prefix != sys.base_prefix)";
    let run = admin.run(&[
        "jobs",
        "run",
        "--no-snapshot",
        "--env",
        "tiny:1",
        "--",
        "python",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("imported hello True"), "{run:#?}");
    // The environment is read-only inside the job.
    let write =
        "import iniconfig, os; open(os.path.join(os.path.dirname(iniconfig.__file__), 'x'), 'w')";
    let refused = admin.run(&[
        "jobs",
        "run",
        "--no-snapshot",
        "--env",
        "tiny",
        "--",
        "python",
        "-c",
        write,
    ]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(
        refused.stdout.contains("Read-only file system")
            || refused.stdout.contains("Permission denied"),
        "{refused:#?}"
    );
    // Without it, the host's Python has no such package.
    let bare = admin.run(&[
        "jobs",
        "run",
        "--no-snapshot",
        "--",
        "python3",
        "-c",
        "import iniconfig",
    ]);
    assert_ne!(bare.code, 0, "{bare:#?}");

    // The job says which environment, version and lock ran.
    let page = admin.json(&["jobs", "list"]);
    let with_env = page
        .as_array()
        .expect("a list of jobs")
        .iter()
        .find(|job| job["spec"]["environment"]["name"] == "tiny")
        .expect("a job in tiny");
    assert_eq!(with_env["spec"]["environment"]["version"], 1);
    assert_eq!(
        with_env["spec"]["environment"]["lock_hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    // Refusals name the item.
    let apt = admin
        .run(&[
            "envs", "create", "apt", "--python", "3.11", "--apt", "libgomp1",
        ])
        .error();
    assert!(
        apt.contains("apt_packages") && apt.contains("libgomp1"),
        "{apt}"
    );
    let clash = admin
        .run(&["envs", "create", "tiny", "--python", "3.11"])
        .error();
    assert!(
        clash.contains("`name`: environment `tiny` already exists"),
        "{clash}"
    );
    let missing = admin
        .run(&[
            "jobs",
            "run",
            "--no-snapshot",
            "--env",
            "nope",
            "--",
            "true",
        ])
        .error();
    assert!(
        missing.contains("environment `nope` not found"),
        "{missing}"
    );
    let versions = admin.run(&["envs", "versions", "tiny"]).ok();
    assert!(versions.contains("resolved"), "{versions}");
    drop(server);
}
