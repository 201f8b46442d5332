//! Environments with the real `uv` against the package index this machine reaches:
//! resolution, builds, lock reuse without the network, deduplication, collection, the
//! refusals, and a job running in its environment. They need the network, so they are
//! ignored by `cargo test` and run by `scripts/test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plinth_artifacts::ArtifactStore;
use plinth_auth::{HashingParams, PasswordHasher, SecretBox};
use plinth_core::{
    ClientInfo, IdentityService, IdentitySettings, ManualClock, NewAccount, Principal, ProjectPass,
    RuntimeService, RuntimeSettings, SystemClock,
};
use plinth_envs::{
    ensure_uv, EnvError, EnvironmentService, EnvironmentSettings, SqlEnvironmentStore, UvSource,
};
use plinth_executor::LocalExecutor;
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use plinth_types::{BuildState, EnvironmentSpec, JobRequest, ResolutionState, Role, WorkloadState};

struct Fixture {
    store: TestStore,
    identity: IdentityService,
    executor: Arc<LocalExecutor>,
    admin: Principal,
    alice: Principal,
    pass: ProjectPass,
    clock: Arc<ManualClock>,
    root: tempfile::TempDir,
    uv: PathBuf,
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: "192.0.2.9".to_string(),
        user_agent: "tests".to_string(),
    }
}

async fn login(identity: &IdentityService, name: &str, password: &str) -> Principal {
    let outcome = identity.login(name, password, &client()).await.unwrap();
    let cookie = identity.start_session(&outcome, &client()).await.unwrap();
    identity.authenticate_session(&cookie.id).await.unwrap().0
}

/// The pinned uv, installed once for all tests (as a server installs it on first use).
async fn shared_uv() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("envs-uv");
    let python =
        std::env::var("PLINTH_TEST_BOOTSTRAP_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let uv = ensure_uv(
        &UvSource::Pinned {
            bootstrap_python: PathBuf::from(python),
        },
        &root,
    )
    .await
    .expect("install the pinned uv with pip");
    assert_eq!(uv.version, plinth_envs::UV_VERSION);
    uv.program
}

async fn fixture() -> Fixture {
    let store = open_sqlite_temp().await;
    let identity = IdentityService::new(
        store.shared(),
        PasswordHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }),
        SecretBox::random(),
        IdentitySettings::default(),
        Arc::new(SystemClock),
    );
    identity
        .bootstrap_admin(Some("keeper-of-the-platform-77".to_string()))
        .await
        .unwrap();
    let admin = login(&identity, "admin", "keeper-of-the-platform-77").await;
    identity
        .create_user(
            &admin,
            &NewAccount {
                username: "alice".to_string(),
                email: "alice@example.com".to_string(),
                password: "violet-harbour-thimble-42".to_string(),
                ..NewAccount::default()
            },
            &client(),
        )
        .await
        .unwrap();
    identity
        .create_organization(&admin, "lab", "Lab", Some("alice"), &client())
        .await
        .unwrap();
    let alice = login(&identity, "alice", "violet-harbour-thimble-42").await;
    identity
        .create_project(&alice, "lab", "churn", "Churn", "", &client())
        .await
        .unwrap();
    let pass = identity
        .authorize_project(&alice, "lab", "churn", Role::Contributor)
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let executor = Arc::new(LocalExecutor::new(root.path().join("executor")).unwrap());
    Fixture {
        store,
        identity,
        executor,
        admin,
        alice,
        pass,
        clock: Arc::new(ManualClock::new(1_000_000)),
        root,
        uv: shared_uv().await,
    }
}

impl Fixture {
    fn settings(&self) -> EnvironmentSettings {
        let mut settings = EnvironmentSettings::new(self.root.path().join("envs"));
        settings.uv = UvSource::Path(self.uv.clone());
        settings.uv_env = plinth_envs::host_index_environment(&std::env::vars().collect());
        settings.collect_unused_after = Duration::from_secs(3600);
        settings
    }

    fn service(&self, settings: EnvironmentSettings) -> EnvironmentService {
        EnvironmentService::new(
            Arc::new(SqlEnvironmentStore::new(self.store.shared_pool())),
            self.executor.clone(),
            settings,
            self.clock.clone(),
        )
    }
}

fn spec(packages: &[&str]) -> EnvironmentSpec {
    EnvironmentSpec {
        python: "3.11".to_string(),
        packages: packages.iter().map(|p| p.to_string()).collect(),
        ..EnvironmentSpec::default()
    }
}

fn python_says(venv: &Path, code: &str) -> String {
    let output = std::process::Command::new(venv.join("bin").join("python"))
        .args(["-c", code])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
async fn a_version_resolves_to_a_lock_and_builds_it_once_then_offline() {
    let fixture = fixture().await;
    let service = fixture.service(fixture.settings());
    let (environment, v1) = service
        .create(
            &fixture.alice,
            Some(&fixture.pass),
            "tiny",
            spec(&["iniconfig==2.0.0", "tomli-w"]),
        )
        .await
        .unwrap();
    assert_eq!(v1.resolution, ResolutionState::Pending);
    let (resolved, build) = service
        .build(&fixture.alice, Some(&fixture.pass), "tiny")
        .await
        .unwrap();
    let lock = &resolved.lock;
    assert_eq!(lock.uv_version, plinth_envs::UV_VERSION);
    assert!(lock.python_version.starts_with("3.11."), "{lock:?}");
    assert_eq!(lock.platform, plinth_envs::host_platform());
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["iniconfig", "tomli-w"]);
    assert_eq!(lock.packages[0].version, "2.0.0");
    assert!(
        lock.requirements
            .contains("iniconfig==2.0.0 \\\n    --hash=sha256:"),
        "{}",
        lock.requirements
    );
    assert_eq!(resolved.lock_hash, plinth_envs::lock_hash(lock));
    assert_eq!(build.state, BuildState::Ready);
    // The lock is stored with the version and shown.
    let (_, shown, shown_build) = service.show(Some(&fixture.pass), "tiny:1").await.unwrap();
    assert_eq!(shown.lock.as_ref(), Some(lock));
    assert_eq!(shown.resolution, ResolutionState::Resolved);
    assert_eq!(shown_build.map(|b| b.state), Some(BuildState::Ready));

    let venv = service
        .layout()
        .complete_venv(&fixture.pass.project().id, &resolved.lock_hash)
        .unwrap()
        .expect("a complete build");
    assert_eq!(
        python_says(
            &venv,
            "import iniconfig, tomli_w, sys; print(sys.prefix == sys.base_prefix)"
        ),
        "False"
    );
    let logs = service.logs(Some(&fixture.pass), "tiny").await.unwrap();
    assert!(
        logs.contains("--- plinth: resolving for Python 3.11"),
        "{logs}"
    );
    assert!(logs.contains("Installed 2 packages"), "{logs}");
    assert!(logs.contains("--- plinth: environment ready ---"), "{logs}");

    // Without any network (the index and proxies point at a closed port): a build of a
    // built lock runs nothing at all…
    let mut offline = fixture.settings();
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        offline
            .uv_env
            .insert(name.to_string(), "http://127.0.0.1:9".to_string());
    }
    offline.uv_env.insert(
        "UV_DEFAULT_INDEX".to_string(),
        "http://127.0.0.1:9/simple".to_string(),
    );
    let offline_service = fixture.service(offline.clone());
    let log_before = service.logs(Some(&fixture.pass), "tiny").await.unwrap();
    let (again, _) = offline_service
        .build(&fixture.alice, Some(&fixture.pass), "tiny:1")
        .await
        .unwrap();
    assert_eq!(again.lock_hash, resolved.lock_hash);
    assert_eq!(
        offline_service
            .logs(Some(&fixture.pass), "tiny")
            .await
            .unwrap(),
        log_before,
        "nothing ran"
    );

    // …and a rebuild of the stored lock (the build removed) installs exactly it from the
    // project's cache with uv offline.
    let root = venv.parent().unwrap().to_path_buf();
    fs_err::remove_dir_all(&root).unwrap();
    let mut offline = fixture.settings();
    offline
        .uv_env
        .insert("UV_OFFLINE".to_string(), "1".to_string());
    let rebuilt = fixture.service(offline);
    rebuilt
        .build(&fixture.alice, Some(&fixture.pass), "tiny")
        .await
        .unwrap();
    let venv = rebuilt
        .layout()
        .complete_venv(&fixture.pass.project().id, &resolved.lock_hash)
        .unwrap()
        .expect("rebuilt");
    assert_eq!(
        python_says(
            &venv,
            "import iniconfig, importlib.metadata as m; print(m.version('iniconfig'))"
        ),
        "2.0.0"
    );
    let logs = rebuilt.logs(Some(&fixture.pass), "tiny").await.unwrap();
    assert!(logs.contains("Installed 2 packages"), "{logs}");
    assert_eq!(
        service
            .versions(Some(&fixture.pass), "tiny")
            .await
            .unwrap()
            .0
            .id,
        environment.id
    );
}

#[tokio::test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
async fn concurrent_builds_of_one_version_resolve_and_build_once() {
    let fixture = fixture().await;
    let service = fixture.service(fixture.settings());
    service
        .create(
            &fixture.alice,
            Some(&fixture.pass),
            "shared",
            spec(&["iniconfig==2.0.0"]),
        )
        .await
        .unwrap();
    let builds = futures::future::join_all(
        (0..4).map(|_| service.build(&fixture.alice, Some(&fixture.pass), "shared")),
    )
    .await;
    let hashes: Vec<String> = builds
        .into_iter()
        .map(|build| build.unwrap().0.lock_hash)
        .collect();
    assert!(
        hashes.windows(2).all(|pair| pair[0] == pair[1]),
        "{hashes:?}"
    );
    let logs = service.logs(Some(&fixture.pass), "shared").await.unwrap();
    assert_eq!(logs.matches("--- plinth: resolving").count(), 1, "{logs}");
    assert_eq!(logs.matches("--- plinth: building").count(), 1, "{logs}");
    // No working folder is left behind.
    let work = service
        .layout()
        .root()
        .join("work")
        .join(&fixture.pass.project().id);
    assert_eq!(fs_err::read_dir(&work).unwrap().count(), 0);
}

#[tokio::test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
async fn bad_requests_are_refused_naming_the_item_and_the_reason() {
    let fixture = fixture().await;
    let service = fixture.service(fixture.settings());
    let alice = &fixture.alice;
    let pass = Some(&fixture.pass);

    // At create time, without uv.
    let apt = EnvironmentSpec {
        apt_packages: vec!["libgomp1".into()],
        ..spec(&[])
    };
    let error = service.create(alice, pass, "apt", apt).await.unwrap_err();
    assert!(
        matches!(
            &error,
            EnvError::InvalidArgument {
                field: "apt_packages",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("`libgomp1`"), "{error}");
    service
        .create(alice, pass, "dup", spec(&["iniconfig"]))
        .await
        .unwrap();
    let error = service
        .create(alice, pass, "dup", spec(&["iniconfig"]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`name`: environment `dup` already exists"
    );
    let error = service
        .create(alice, pass, "Bad/Name", spec(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, EnvError::InvalidArgument { field: "name", .. }),
        "{error}"
    );

    // At build time: the resolver's words, the package named, the log kept.
    service
        .create(
            alice,
            pass,
            "unknown",
            spec(&["plinth-no-such-package-xyz==1.0"]),
        )
        .await
        .unwrap();
    let error = service.build(alice, pass, "unknown").await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, EnvError::Resolution(_)), "{message}");
    assert!(
        message.contains("plinth-no-such-package-xyz") && message.contains("not found"),
        "{message}"
    );
    let (_, version, _) = service.show(pass, "unknown").await.unwrap();
    assert_eq!(version.resolution, ResolutionState::Failed);
    assert!(version
        .resolution_error
        .unwrap()
        .contains("plinth-no-such-package-xyz"));
    assert!(service
        .logs(pass, "unknown")
        .await
        .unwrap()
        .contains("No solution found"));

    service
        .create(alice, pass, "unsat", spec(&["iniconfig==99.0"]))
        .await
        .unwrap();
    let message = service
        .build(alice, pass, "unsat")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("iniconfig==99.0") && message.contains("unsatisfiable"),
        "{message}"
    );

    let old = EnvironmentSpec {
        python: "3.4".into(),
        ..spec(&[])
    };
    service.create(alice, pass, "old", old).await.unwrap();
    let error = service.build(alice, pass, "old").await.unwrap_err();
    assert!(
        matches!(
            &error,
            EnvError::InvalidArgument {
                field: "python",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("Python 3.4 is not available"),
        "{error}"
    );

    let error = service.build(alice, pass, "dup:7").await.unwrap_err();
    assert_eq!(error.to_string(), "environment version `dup:7` not found");
    let error = service.build(alice, pass, "missing").await.unwrap_err();
    assert_eq!(error.to_string(), "environment `missing` not found");

    // A Viewer reads but never builds; only admins touch global environments.
    let error = service
        .create(alice, None, "global-one", spec(&[]))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("admin"), "{error}");
    service
        .create(&fixture.admin, None, "global-one", spec(&[]))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
async fn unused_builds_are_collected_and_used_ones_kept() {
    let fixture = fixture().await;
    let service = fixture.service(fixture.settings());
    let (alice, pass) = (&fixture.alice, Some(&fixture.pass));
    service
        .create(alice, pass, "old", spec(&["iniconfig==2.0.0"]))
        .await
        .unwrap();
    service
        .create(alice, pass, "used", spec(&["tomli-w"]))
        .await
        .unwrap();
    let (old, _) = service.build(alice, pass, "old").await.unwrap();
    let (used, _) = service.build(alice, pass, "used").await.unwrap();
    let project = fixture.pass.project().id.clone();
    fixture.clock.advance(3_000_000);
    // A job uses `used` now.
    service
        .prepare_for_workload(&fixture.pass, Some("used"))
        .await
        .unwrap();
    fixture.clock.advance(1_000_000);
    let removed = service.collect_unused().await.unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|b| b.lock_hash.as_str())
            .collect::<Vec<_>>(),
        [old.lock_hash.as_str()]
    );
    assert!(service
        .layout()
        .complete_venv(&project, &old.lock_hash)
        .unwrap()
        .is_none());
    assert!(!service
        .layout()
        .venv_root(&project, &old.lock_hash)
        .unwrap()
        .try_exists()
        .unwrap());
    assert!(service
        .layout()
        .complete_venv(&project, &used.lock_hash)
        .unwrap()
        .is_some());
    // Using a collected environment builds it again from its lock.
    let prepared = service
        .prepare_for_workload(&fixture.pass, Some("old:1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prepared.lock_hash, old.lock_hash);
    assert!(service
        .layout()
        .complete_venv(&project, &old.lock_hash)
        .unwrap()
        .is_some());
}

#[tokio::test]
#[ignore = "needs the package index (real uv); scripts/test runs it"]
async fn a_job_runs_in_its_environment_and_says_which() {
    let fixture = fixture().await;
    let mut settings = fixture.settings();
    settings.default_environment = Some("default".to_string());
    let service = fixture.service(settings);
    service
        .ensure_global("default", spec(&["tomli-w==1.0.0"]))
        .await
        .unwrap();
    service
        .create(
            &fixture.alice,
            Some(&fixture.pass),
            "ini",
            EnvironmentSpec {
                env: BTreeMap::from([("GREETING".to_string(), "from the environment".to_string())]),
                ..spec(&["iniconfig==2.0.0"])
            },
        )
        .await
        .unwrap();
    let mut runtime_settings =
        RuntimeSettings::new("http://127.0.0.1:9", fixture.root.path().join("work"));
    runtime_settings.stop_grace_period = Duration::from_secs(2);
    let runtime = RuntimeService::new(
        fixture.store.shared(),
        fixture.identity.clone(),
        fixture.executor.clone(),
        ArtifactStore::in_memory(),
        runtime_settings,
        Arc::new(SystemClock),
    );
    runtime.set_environments(Arc::new(service.clone()));
    let script = "import os, iniconfig, importlib.metadata as m; print('iniconfig', m.version('iniconfig'), os.environ['GREETING'])";
    let job = runtime
        .submit_job(
            &fixture.alice,
            &fixture.pass,
            &JobRequest {
                class: "small".to_string(),
                command: vec!["python".into(), "-c".into(), script.into()],
                environment: Some("ini".to_string()),
                ..JobRequest::default()
            },
            &client(),
        )
        .await
        .unwrap();
    let ran = job
        .job
        .spec
        .environment
        .clone()
        .expect("the job says its environment");
    assert_eq!(
        (ran.name.as_str(), ran.version, ran.global),
        ("ini", 1, false)
    );
    let (_, version, _) = service.show(Some(&fixture.pass), "ini").await.unwrap();
    assert_eq!(Some(ran.lock_hash.clone()), version.lock_hash);
    let output = finish(&runtime, &fixture, &job.job.id).await;
    assert!(
        output.contains("iniconfig 2.0.0 from the environment"),
        "{output}"
    );

    // No environment named: the default one (global), built lazily on first use; the
    // project's packages are not in it.
    let job = runtime
        .submit_job(&fixture.alice, &fixture.pass, &JobRequest {
            class: "small".to_string(),
            command: vec!["python".into(), "-c".into(), "import tomli_w\ntry:\n import iniconfig\nexcept ImportError:\n print('no iniconfig here')".into()],
            ..JobRequest::default()
        }, &client())
        .await
        .unwrap();
    let ran = job
        .job
        .spec
        .environment
        .clone()
        .expect("the default environment");
    assert_eq!(
        (ran.label().as_str(), ran.global),
        ("global/default:1", true)
    );
    let output = finish(&runtime, &fixture, &job.job.id).await;
    assert!(output.contains("no iniconfig here"), "{output}");

    // An environment that cannot resolve is refused at submission, not by a failed job.
    service
        .create(
            &fixture.alice,
            Some(&fixture.pass),
            "broken",
            spec(&["plinth-no-such-package-xyz"]),
        )
        .await
        .unwrap();
    let error = runtime
        .submit_job(
            &fixture.alice,
            &fixture.pass,
            &JobRequest {
                class: "small".to_string(),
                command: vec!["python".into(), "-V".into()],
                environment: Some("broken".to_string()),
                ..JobRequest::default()
            },
            &client(),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("plinth-no-such-package-xyz"),
        "{error}"
    );
}

async fn finish(runtime: &RuntimeService, fixture: &Fixture, id: &str) -> String {
    for _ in 0..600 {
        runtime.reconcile_once().await.unwrap();
        let job = runtime.get_job(&fixture.pass, id).await.unwrap();
        if job.job.state.is_finished() {
            let mut stream = runtime
                .job_logs(&fixture.pass, id, plinth_executor::LogOptions::default())
                .await
                .unwrap();
            let mut bytes = Vec::new();
            while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
                bytes.extend_from_slice(&chunk.unwrap());
            }
            let output = String::from_utf8_lossy(&bytes).into_owned();
            assert_eq!(job.job.state, WorkloadState::Succeeded, "{output}");
            return output;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish");
}

mod image;
