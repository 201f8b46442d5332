use std::time::Duration;

use futures::StreamExt;

use super::*;

fn executor() -> (LocalExecutor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (LocalExecutor::new(dir.path()).unwrap(), dir)
}

fn next_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    format!(
        "w{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

fn shell(script: &str) -> WorkloadSpec {
    WorkloadSpec {
        id: next_id(),
        name: "test".to_string(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        ..WorkloadSpec::default()
    }
}

async fn wait_finished(executor: &LocalExecutor, handle: &WorkloadHandle) -> WorkloadStatus {
    for _ in 0..400 {
        let status = executor.status(handle).await.unwrap();
        if status.is_finished() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("workload did not finish within 10 s");
}

async fn all_logs(executor: &LocalExecutor, handle: &WorkloadHandle, follow: bool) -> String {
    let mut stream = executor
        .logs(
            handle,
            LogOptions {
                follow,
                ..LogOptions::default()
            },
        )
        .await
        .unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(text).unwrap()
}

#[tokio::test]
async fn exit_codes_and_output_are_kept() {
    let (executor, _dir) = executor();
    let handle = executor
        .submit(shell("echo out; echo err >&2; exit 3"))
        .await
        .unwrap();
    let status = wait_finished(&executor, &handle).await;
    assert_eq!(
        status,
        WorkloadStatus::Failed {
            exit_code: Some(3),
            reason: "exited with code 3".to_string()
        }
    );
    let logs = all_logs(&executor, &handle, false).await;
    assert!(logs.contains("out\n") && logs.contains("err\n"), "{logs}");
    let ok = executor.submit(shell("true")).await.unwrap();
    assert_eq!(
        wait_finished(&executor, &ok).await,
        WorkloadStatus::Succeeded
    );
}

#[tokio::test]
async fn commands_that_cannot_start_fail_at_submit() {
    let (executor, dir) = executor();
    let missing = executor
        .submit(WorkloadSpec {
            command: vec!["no-such-program-here".into()],
            ..shell("")
        })
        .await;
    assert_eq!(
        missing.unwrap_err().to_string(),
        "cannot start `no-such-program-here`: not found in PATH"
    );
    let script = dir.path().join("script.sh");
    fs_err::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let not_executable = executor
        .submit(WorkloadSpec {
            command: vec![script.display().to_string()],
            ..shell("")
        })
        .await;
    assert!(not_executable
        .unwrap_err()
        .to_string()
        .ends_with("is not executable"));
    let empty = executor
        .submit(WorkloadSpec {
            command: Vec::new(),
            ..shell("")
        })
        .await
        .unwrap_err();
    assert_eq!(empty.to_string(), "invalid `command`: must name a program");
    assert!(
        executor.workloads.lock().unwrap().is_empty(),
        "nothing half-created"
    );
}

#[tokio::test]
async fn stop_ends_the_whole_process_tree() {
    let (executor, dir) = executor();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 30 & echo $! > {}; sleep 30", pid_file.display());
    let handle = executor.submit(shell(&script)).await.unwrap();
    for _ in 0..200 {
        if fs_err::read_to_string(&pid_file)
            .map(|text| !text.trim().is_empty())
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grandchild: i32 = fs_err::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    executor
        .stop(&handle, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        executor.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
    // The background child is gone too (or a zombie waiting for its new parent to reap it).
    for _ in 0..100 {
        let state = fs_err::read_to_string(format!("/proc/{grandchild}/stat")).ok();
        let alive = state.as_deref().is_some_and(|stat| !stat.contains(") Z "));
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("process {grandchild} survived the stop");
}

#[tokio::test]
async fn a_workload_ignoring_sigterm_is_killed_after_the_grace_period() {
    let (executor, _dir) = executor();
    let handle = executor
        .submit(shell("trap '' TERM; while true; do sleep 0.1; done"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    executor
        .stop(&handle, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(
        executor.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
}

#[tokio::test]
async fn ports_are_allocated_and_handed_over() {
    let (executor, _dir) = executor();
    let spec = WorkloadSpec {
        ports: vec!["http".to_string()],
        ..shell("echo port=$PLINTH_PORT_HTTP")
    };
    let handle = executor.submit(spec).await.unwrap();
    let port = handle.ports["http"];
    assert!(port > 0);
    wait_finished(&executor, &handle).await;
    assert_eq!(
        all_logs(&executor, &handle, false).await,
        format!("port={port}\n")
    );
    let bad = executor
        .submit(WorkloadSpec {
            ports: vec!["no_underscore".to_string()],
            ..shell("true")
        })
        .await
        .unwrap_err();
    assert!(bad.to_string().starts_with("invalid `ports`"));
}

#[tokio::test]
async fn followed_logs_stream_until_the_end() {
    let (executor, _dir) = executor();
    let handle = executor
        .submit(shell("echo a; sleep 0.3; echo b"))
        .await
        .unwrap();
    assert_eq!(all_logs(&executor, &handle, true).await, "a\nb\n");
    assert_eq!(
        executor.status(&handle).await.unwrap(),
        WorkloadStatus::Succeeded
    );
}

#[tokio::test]
async fn the_environment_is_the_spec_plus_a_minimal_inherited_set() {
    let (executor, _dir) = executor();
    let mut spec = shell("echo \"$GREETING/${CARGO_PKG_NAME:-unset}\"");
    spec.env.insert("GREETING".to_string(), "hello".to_string());
    let handle = executor.submit(spec).await.unwrap();
    wait_finished(&executor, &handle).await;
    assert_eq!(all_logs(&executor, &handle, false).await, "hello/unset\n");
}
