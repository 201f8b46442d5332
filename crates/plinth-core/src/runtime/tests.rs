//! Service tests of the runtime on a real SQLite store, a real local executor (child
//! processes) and an in-memory object store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use plinth_artifacts::ArtifactStore;
use plinth_auth::{HashingParams, PasswordHasher, SecretBox};
use plinth_executor::{LocalExecutor, LogOptions};
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use plinth_types::{ProjectQuota, Role, WorkloadKind, WorkloadState};

use super::*;
use crate::{
    ClientInfo, CoreError, IdentitySettings, NewAccount, Principal, ProjectPass, SystemClock,
};

struct Fixture {
    identity: IdentityService,
    runtime: RuntimeService,
    admin: Principal,
    alice: Principal,
    pass: ProjectPass,
    store: TestStore,
    root: tempfile::TempDir,
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

fn runtime_over(
    store: &TestStore,
    identity: &IdentityService,
    root: &std::path::Path,
) -> RuntimeService {
    let executor = LocalExecutor::new(root.join("executor")).unwrap();
    let mut settings = RuntimeSettings::new("http://127.0.0.1:9", root.join("work"));
    settings.stop_grace_period = Duration::from_secs(2);
    RuntimeService::new(
        store.shared(),
        identity.clone(),
        Arc::new(executor),
        ArtifactStore::in_memory(),
        settings,
        Arc::new(SystemClock),
    )
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
    let runtime = runtime_over(&store, &identity, root.path());
    Fixture {
        identity,
        runtime,
        admin,
        alice,
        pass,
        store,
        root,
    }
}

fn shell(script: &str) -> JobRequest {
    JobRequest {
        class: "small".to_string(),
        command: vec!["sh".to_string(), "-c".to_string(), script.to_string()],
        ..JobRequest::default()
    }
}

impl Fixture {
    async fn submit(&self, request: &JobRequest) -> Result<JobView, CoreError> {
        self.runtime
            .submit_job(&self.alice, &self.pass, request, &client())
            .await
    }

    /// Reconciles until the job reaches a finished state (or `state`).
    async fn wait_for(&self, id: &str, done: impl Fn(WorkloadState) -> bool) -> JobView {
        for _ in 0..400 {
            self.runtime.reconcile_once().await.unwrap();
            let view = self.runtime.get_job(&self.pass, id).await.unwrap();
            if done(view.job.state) {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("job {id} did not reach the expected state within 10 s");
    }

    async fn logs(&self, id: &str) -> String {
        let mut stream = self
            .runtime
            .job_logs(&self.pass, id, LogOptions::default())
            .await
            .unwrap();
        let mut text = Vec::new();
        while let Some(chunk) = stream.next().await {
            text.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(text).unwrap()
    }

    async fn set_quota(&self, quota: ProjectQuota) {
        self.runtime
            .set_project_quota(&self.admin, &self.pass, &quota, &client())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn unsandboxed_workloads_are_refused_with_several_users_unless_an_admin_allows_them() {
    let mut fixture = fixture().await;
    // The test executor runs workloads unsandboxed (no sandbox configured).
    assert_ne!(
        fixture.runtime.capabilities().isolation.level,
        plinth_executor::IsolationLevel::Full
    );
    for (policy, refused) in [
        (WhenUnsandboxed::Auto, true), // admin and alice: more than one user
        (WhenUnsandboxed::Refuse, true),
        (WhenUnsandboxed::Warn, false),
    ] {
        let executor = LocalExecutor::new(fixture.root.path().join("executor")).unwrap();
        let mut settings =
            RuntimeSettings::new("http://127.0.0.1:9", fixture.root.path().join("work"));
        settings.when_unsandboxed = policy;
        fixture.runtime = RuntimeService::new(
            fixture.store.shared(),
            fixture.identity.clone(),
            Arc::new(executor),
            ArtifactStore::in_memory(),
            settings,
            Arc::new(SystemClock),
        );
        match fixture.submit(&shell("true")).await {
            Err(CoreError::Unavailable(message)) => {
                assert!(refused, "{policy:?} refused: {message}");
                assert!(message.contains("when_unsandboxed"), "{message}");
                assert!(message.contains("sandbox check"), "{message}");
            }
            Ok(job) => {
                assert!(!refused, "{policy:?} ran job {}", job.job.id);
            }
            Err(other) => panic!("{policy:?}: {other}"),
        }
    }
}

#[tokio::test]
async fn a_job_runs_with_its_project_token_which_is_revoked_at_the_end() {
    let fixture = fixture().await;
    // The job hands its token out, then waits for `GO` so the token is used (and cached
    // by the authentication cache) while the job still runs.
    let mut request = shell(
        "echo \"$PLINTH_PROJECT $MLFLOW_TRACKING_URI $LR\"; \
         printf %s \"$MLFLOW_TRACKING_TOKEN\" > \"$TOKEN_FILE.part\"; mv \"$TOKEN_FILE.part\" \"$TOKEN_FILE\"; \
         while [ ! -e \"$GO\" ]; do sleep 0.02; done",
    );
    let token_file = fixture.root.path().join("token");
    let go = fixture.root.path().join("go");
    request.env = BTreeMap::from([
        ("LR".to_string(), "0.01".to_string()),
        ("TOKEN_FILE".to_string(), token_file.display().to_string()),
        ("GO".to_string(), go.display().to_string()),
    ]);
    let job = fixture.submit(&request).await.unwrap();
    assert_eq!(job.job.class, "small");
    assert_eq!(job.job.created_by_username, "alice");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !token_file.try_exists().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never wrote its token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let token = fs_err::read_to_string(&token_file).unwrap();
    assert!(token.starts_with("plt_"), "{token}");
    for _ in 0..2 {
        let principal = fixture.identity.authenticate_token(&token).await.unwrap();
        fixture
            .identity
            .authorize_project_by_id(&principal, &fixture.pass.project().id, Role::Contributor)
            .await
            .expect("the job's token reaches its project while the job runs");
    }
    fs_err::write(&go, "").unwrap();
    let done = fixture
        .wait_for(&job.job.id, WorkloadState::is_finished)
        .await;
    assert_eq!(
        done.job.state,
        WorkloadState::Succeeded,
        "{}",
        done.job.reason
    );
    assert_eq!(done.job.exit_code, Some(0));
    assert!(done.duration_ms.is_some());
    assert_eq!(
        fixture.logs(&job.job.id).await,
        "lab/churn http://127.0.0.1:9 0.01\n"
    );
    // The token worked for the project while the job ran, and is revoked now: the very
    // next use is refused, though it was just cached.
    let refused = fixture
        .identity
        .authenticate_token(&token)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, CoreError::Unauthenticated(_)),
        "{refused}"
    );
}

#[tokio::test]
async fn runs_created_with_a_jobs_token_name_the_job_and_no_one_else_can() {
    use crate::tracking::{ProjectSelector, RunRequest, TrackingService, JOB_ID_TAG};
    let fixture = fixture().await;
    let tracking = TrackingService::new(
        fixture.store.shared(),
        fixture.identity.clone(),
        ArtifactStore::in_memory(),
        Arc::new(SystemClock),
    );
    // The job hands its token out and waits until the test is done with it.
    let token_file = fixture.root.path().join("token");
    let release = fixture.root.path().join("release");
    let mut request = shell(
        "printf %s \"$MLFLOW_TRACKING_TOKEN\" > \"$TOKEN_FILE.tmp\" && mv \"$TOKEN_FILE.tmp\" \"$TOKEN_FILE\"; \
         for i in $(seq 1 100); do [ -e \"$RELEASE\" ] && exit 0; sleep 0.1; done; exit 1",
    );
    request.env = BTreeMap::from([
        ("TOKEN_FILE".to_string(), token_file.display().to_string()),
        ("RELEASE".to_string(), release.display().to_string()),
    ]);
    let job = fixture.submit(&request).await.unwrap();
    let mut token = String::new();
    for _ in 0..100 {
        if let Ok(text) = fs_err::read_to_string(&token_file) {
            token = text;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        token.starts_with("plt_"),
        "the job wrote its token: {token:?}"
    );
    let job_principal = fixture.identity.authenticate_token(&token).await.unwrap();
    let job_pass = tracking
        .authorize(&job_principal, &ProjectSelector::FromToken)
        .await
        .unwrap();
    let run_request = |name: &str| RunRequest {
        experiment_id: "0".to_string(),
        run_name: Some(name.to_string()),
        ..RunRequest::default()
    };
    let run = tracking
        .create_run(&job_pass, run_request("from-the-job"))
        .await
        .unwrap();
    let tag = |run: &plinth_types::Run| {
        run.data
            .tags
            .iter()
            .find(|tag| tag.key == JOB_ID_TAG)
            .map(|tag| tag.value.clone())
    };
    assert_eq!(tag(&run), Some(job.job.id.clone()));

    // Alice's own session creates runs without it, and may not forge it.
    let alice_pass = tracking
        .authorize(
            &fixture.alice,
            &ProjectSelector::Named {
                organization: "lab".to_string(),
                project: "churn".to_string(),
            },
        )
        .await
        .unwrap();
    let own = tracking
        .create_run(&alice_pass, run_request("by-hand"))
        .await
        .unwrap();
    assert_eq!(tag(&own), None);
    let forged = plinth_types::RunTag {
        key: JOB_ID_TAG.to_string(),
        value: job.job.id.clone(),
    };
    let mut forging = run_request("forged");
    forging.tags = vec![forged.clone()];
    for refused in [
        tracking.create_run(&alice_pass, forging).await.map(|_| ()),
        tracking
            .set_run_tag(&alice_pass, &own.info.run_id, &forged)
            .await,
        tracking
            .delete_run_tag(&job_pass, &run.info.run_id, JOB_ID_TAG)
            .await,
    ] {
        let error = refused.unwrap_err();
        assert!(
            matches!(error, CoreError::InvalidArgument(_))
                && error.to_string().contains(JOB_ID_TAG),
            "{error}"
        );
    }

    // The job's runs, as its page lists them.
    let runs = tracking
        .runs_of_job(&alice_pass, &job.job.id, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = runs.iter().map(|run| run.info.run_id.as_str()).collect();
    assert_eq!(ids, [run.info.run_id.as_str()]);
    assert!(tracking
        .runs_of_job(&alice_pass, "no-such-job", 10)
        .await
        .unwrap()
        .is_empty());

    fs_err::write(&release, b"").unwrap();
    let done = fixture
        .wait_for(&job.job.id, WorkloadState::is_finished)
        .await;
    assert_eq!(
        done.job.state,
        WorkloadState::Succeeded,
        "{}",
        done.job.reason
    );
}

#[tokio::test]
async fn bad_submissions_are_refused_and_leave_nothing_behind() {
    let fixture = fixture().await;
    let unknown = fixture
        .submit(&JobRequest {
            class: "huge".to_string(),
            ..shell("true")
        })
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "invalid `class`: there is no resource class `huge`; choose one of serve-small, small, medium, large, gpu-1"
    );
    let missing = fixture
        .submit(&JobRequest {
            command: vec!["no-such-program-anywhere".to_string()],
            ..shell("")
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "cannot start `no-such-program-anywhere`: not found in PATH"
    );
    let gpu = fixture
        .submit(&JobRequest {
            class: "gpu-1".to_string(),
            ..shell("nvidia-smi")
        })
        .await
        .unwrap_err();
    assert_eq!(
        gpu.to_string(),
        "invalid `class`: `gpu-1` needs 1 GPU(s) and this machine has none"
    );
    let no_snapshot = fixture
        .submit(&JobRequest {
            snapshot: Some("0".repeat(64)),
            ..shell("ls")
        })
        .await
        .unwrap_err();
    assert_eq!(
        no_snapshot.to_string(),
        format!("snapshot `{}` not found", "0".repeat(64))
    );
    let jobs = fixture
        .runtime
        .list_jobs(&fixture.pass, Vec::new(), None, 100)
        .await
        .unwrap();
    assert!(jobs.is_empty(), "nothing half-created: {jobs:?}");
    let tokens = fixture.identity.list_tokens(&fixture.alice).await.unwrap();
    assert!(
        tokens.iter().all(|token| token.revoked_at_ms.is_some()),
        "{tokens:?}"
    );
    let viewer_pass = {
        fixture
            .identity
            .create_user(
                &fixture.admin,
                &NewAccount {
                    username: "victor".to_string(),
                    email: "victor@example.com".to_string(),
                    password: "violet-harbour-thimble-42".to_string(),
                    ..NewAccount::default()
                },
                &client(),
            )
            .await
            .unwrap();
        fixture
            .identity
            .set_project_member(
                &fixture.alice,
                "lab",
                "churn",
                "victor",
                Role::Viewer,
                &client(),
            )
            .await
            .unwrap();
        let victor = login(&fixture.identity, "victor", "violet-harbour-thimble-42").await;
        let pass = fixture
            .identity
            .authorize_project(&victor, "lab", "churn", Role::Viewer)
            .await
            .unwrap();
        let denied = fixture
            .runtime
            .submit_job(&victor, &pass, &shell("true"), &client())
            .await
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "needs the `contributor` role in the project"
        );
        pass
    };
    assert!(fixture
        .runtime
        .list_jobs(&viewer_pass, Vec::new(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn jobs_wait_in_the_queue_for_quota_and_start_when_it_frees() {
    let fixture = fixture().await;
    fixture
        .set_quota(ProjectQuota {
            max_jobs: Some(1),
            ..ProjectQuota::default()
        })
        .await;
    let first = fixture.submit(&shell("sleep 30")).await.unwrap();
    assert_eq!(first.job.state, WorkloadState::Running);
    let second = fixture.submit(&shell("echo second")).await.unwrap();
    assert_eq!(second.job.state, WorkloadState::Queued);
    assert_eq!(second.job.reason, "waiting for quota: running jobs: 1 of 1");
    assert_eq!(second.queue_position, Some(1));
    let third = fixture.submit(&shell("echo third")).await.unwrap();
    assert_eq!(third.queue_position, Some(2));
    assert_eq!(third.job.reason, "waiting behind jobs queued before it");
    let (quota, usage) = fixture.runtime.project_quota(&fixture.pass).await.unwrap();
    assert_eq!(quota.max_jobs, Some(1));
    assert_eq!((usage.jobs, usage.queued, usage.cpu_millis), (1, 2, 1000));

    // Stopping a queued job drops it from the queue at once.
    let dropped = fixture
        .runtime
        .stop_job(&fixture.alice, &fixture.pass, &third.job.id, &client())
        .await
        .unwrap();
    assert_eq!(dropped.job.state, WorkloadState::Stopped);
    assert_eq!(dropped.job.reason, "stopped by alice before it started");

    let stopped = fixture
        .runtime
        .stop_job(&fixture.alice, &fixture.pass, &first.job.id, &client())
        .await
        .unwrap();
    assert!(stopped.job.stop_requested);
    let first = fixture
        .wait_for(&first.job.id, WorkloadState::is_finished)
        .await;
    assert_eq!(first.job.state, WorkloadState::Stopped);
    let second = fixture
        .wait_for(&second.job.id, WorkloadState::is_finished)
        .await;
    assert_eq!(
        second.job.state,
        WorkloadState::Succeeded,
        "{}",
        second.job.reason
    );
    assert_eq!(fixture.logs(&second.job.id).await, "second\n");
}

#[tokio::test]
async fn interactive_work_is_refused_with_who_uses_what_and_what_would_fit() {
    let fixture = fixture().await;
    fixture
        .set_quota(ProjectQuota {
            cpu_millis: Some(2500),
            ..ProjectQuota::default()
        })
        .await;
    let running = fixture
        .submit(&JobRequest {
            class: "medium".to_string(),
            ..shell("sleep 30")
        })
        .await
        .unwrap();
    let refused = fixture
        .runtime
        .submit(
            &fixture.alice,
            &fixture.pass,
            WorkloadKind::Workspace,
            &JobRequest {
                class: "medium".to_string(),
                ..shell("sleep 30")
            },
            None,
            &client(),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, CoreError::Conflict(_)));
    assert_eq!(
        refused.to_string(),
        "the project's quota is full: CPU: 2 of 2.5 cores in use, `medium` needs 2. \
         In use by: alice (job `sh -c`, 2 CPU, 8 GiB). No smaller class fits now; stop something or ask an admin for more quota."
    );
    fixture
        .set_quota(ProjectQuota {
            cpu_millis: Some(3000),
            ..ProjectQuota::default()
        })
        .await;
    let refused = fixture
        .runtime
        .submit(
            &fixture.alice,
            &fixture.pass,
            WorkloadKind::Workspace,
            &JobRequest {
                class: "large".to_string(),
                ..shell("sleep 30")
            },
            None,
            &client(),
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .ends_with("`small` (1 CPU, 2 GiB) would fit now."),
        "{refused}"
    );
    fixture
        .runtime
        .stop_job(&fixture.alice, &fixture.pass, &running.job.id, &client())
        .await
        .unwrap();
    fixture
        .wait_for(&running.job.id, WorkloadState::is_finished)
        .await;
}

#[tokio::test]
async fn after_a_restart_unknown_workloads_are_marked_lost_with_a_reason() {
    let fixture = fixture().await;
    let job = fixture.submit(&shell("sleep 30")).await.unwrap();
    assert_eq!(job.job.state, WorkloadState::Running);
    // A new server whose executor knows nothing of the job (another data folder).
    let elsewhere = tempfile::tempdir().unwrap();
    let restarted = runtime_over(&fixture.store, &fixture.identity, elsewhere.path());
    let report = restarted.reconcile_once().await.unwrap();
    assert_eq!(report.lost, 1);
    let lost = restarted.get_job(&fixture.pass, &job.job.id).await.unwrap();
    assert_eq!(lost.job.state, WorkloadState::Lost);
    assert_eq!(
        lost.job.reason,
        "the local backend has no record of it any more: it ended or vanished while Plinth was not watching"
    );
    // The original executor still runs it; stop it so the test leaves nothing behind.
    fixture
        .runtime
        .inner
        .executor
        .stop(&jobs::handle(&job.job.id), Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn snapshots_are_checked_and_become_the_working_folder() {
    let fixture = fixture().await;
    let archive = {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        let data = b"print('hello from the snapshot')\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "src/train.py", &data[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    };
    let digest = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(&archive))
    };
    let body = |bytes: Vec<u8>| {
        futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]).boxed()
    };
    let wrong = fixture
        .runtime
        .upload_snapshot(
            &fixture.alice,
            &fixture.pass,
            &"a".repeat(64),
            body(archive.clone()),
        )
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("SHA-256 is"), "{wrong}");
    let stored = fixture
        .runtime
        .upload_snapshot(
            &fixture.alice,
            &fixture.pass,
            &digest,
            body(archive.clone()),
        )
        .await
        .unwrap();
    assert_eq!(stored.size, archive.len() as u64);
    let job = fixture
        .submit(&JobRequest {
            snapshot: Some(digest.clone()),
            ..shell("cat src/train.py; pwd")
        })
        .await
        .unwrap();
    let done = fixture
        .wait_for(&job.job.id, WorkloadState::is_finished)
        .await;
    assert_eq!(
        done.job.state,
        WorkloadState::Succeeded,
        "{}",
        done.job.reason
    );
    let output = fixture.logs(&job.job.id).await;
    assert!(
        output.starts_with("print('hello from the snapshot')\n"),
        "{output}"
    );
    assert!(
        output.trim_end().ends_with(&job.job.id),
        "runs in its own folder: {output}"
    );
    // The working folder is removed once the job ended.
    let work = fixture.root.path().join("work").join(&job.job.id);
    assert!(!work.try_exists().unwrap());

    let mut small = runtime_over(&fixture.store, &fixture.identity, fixture.root.path());
    Arc::get_mut(&mut small.inner)
        .unwrap()
        .settings
        .max_snapshot_bytes = 10;
    let too_large = small
        .upload_snapshot(
            &fixture.alice,
            &fixture.pass,
            &"b".repeat(64),
            body(vec![0; 100]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(too_large, CoreError::PayloadTooLarge(_)),
        "{too_large}"
    );
}

#[tokio::test]
async fn usage_is_recorded_per_user_and_class_when_jobs_end() {
    let fixture = fixture().await;
    let job = fixture.submit(&shell("sleep 1.2")).await.unwrap();
    fixture
        .wait_for(&job.job.id, WorkloadState::is_finished)
        .await;
    let usage = fixture
        .runtime
        .project_usage(&fixture.pass, &UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(usage.len(), 1, "{usage:?}");
    let row = &usage[0];
    assert_eq!(
        (row.username.as_str(), row.class.as_str()),
        ("alice", "small")
    );
    // 1 CPU and 2 GiB for as long as it ran (wall time is rounded to the second).
    let second = 1.0 / 3600.0;
    assert!(
        row.cpu_hours > 1.2 * second && row.cpu_hours < 20.0 * second,
        "{row:?}"
    );
    assert!(
        (row.cpu_hours - row.wall_hours).abs() <= second,
        "1 CPU: {row:?}"
    );
    assert!(
        (row.memory_gib_hours - 2.0 * row.cpu_hours).abs() < 1e-6,
        "2 GiB: {row:?}"
    );
    let bad = fixture
        .runtime
        .project_usage(
            &fixture.pass,
            &UsageFilter {
                from_day: Some("yesterday".to_string()),
                to_day: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        bad.to_string(),
        "invalid `from`: `yesterday` is not a date like 2026-11-29"
    );
    let denied = fixture
        .runtime
        .platform_usage(&fixture.alice, &UsageFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(denied, CoreError::Forbidden(_)));
}

#[tokio::test]
async fn custom_sizes_need_the_projects_permission() {
    let fixture = fixture().await;
    let custom = JobRequest {
        custom_size: Some(jobs::CustomSize {
            cpu_millis: 1500,
            memory_bytes: 3 << 30,
            gpus: 0,
        }),
        ..shell("echo custom")
    };
    let refused = fixture.submit(&custom).await.unwrap_err();
    assert!(matches!(refused, CoreError::Forbidden(_)), "{refused}");
    fixture
        .set_quota(ProjectQuota {
            allow_custom_sizes: true,
            ..ProjectQuota::default()
        })
        .await;
    let job = fixture.submit(&custom).await.unwrap();
    assert_eq!(
        (
            job.job.class.as_str(),
            job.job.pool.as_str(),
            job.job.cpu_millis,
            job.job.memory_bytes
        ),
        ("custom", "compute", 1500, 3 << 30)
    );
    fixture
        .wait_for(&job.job.id, WorkloadState::is_finished)
        .await;
    let again = fixture
        .runtime
        .rerun_job(&fixture.alice, &fixture.pass, &job.job.id, &client())
        .await
        .unwrap();
    assert_eq!(
        (again.job.class.as_str(), again.job.cpu_millis),
        ("custom", 1500)
    );
    assert_eq!(again.job.rerun_of.as_deref(), Some(job.job.id.as_str()));
    fixture
        .wait_for(&again.job.id, WorkloadState::is_finished)
        .await;
}
