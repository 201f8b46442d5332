use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;

use super::*;
use crate::{Resources, RestartPolicy};

/// Long enough for a loaded two-core machine; tests poll, so they end as soon as they can.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);

/// An executor with no GPUs and quick restarts, over `root`.
fn executor_at(root: &Path) -> LocalExecutor {
    LocalExecutor::builder(root)
        .gpus(Vec::new())
        .restart_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap()
}

fn executor() -> (LocalExecutor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (executor_at(dir.path()), dir)
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

fn handle_for(id: &str) -> WorkloadHandle {
    WorkloadHandle {
        id: id.to_string(),
        ports: BTreeMap::new(),
    }
}

async fn wait_finished(executor: &LocalExecutor, handle: &WorkloadHandle) -> WorkloadStatus {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let status = executor.status(handle).await.unwrap();
        if status.is_finished() {
            return status;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "workload `{}` did not finish within {PATIENCE:?}",
        handle.id
    );
}

async fn read_logs(
    executor: &LocalExecutor,
    handle: &WorkloadHandle,
    options: LogOptions,
) -> String {
    let mut stream = executor.logs(handle, options).await.unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(text).unwrap()
}

async fn all_logs(executor: &LocalExecutor, handle: &WorkloadHandle, follow: bool) -> String {
    let options = LogOptions {
        follow,
        ..LogOptions::default()
    };
    read_logs(executor, handle, options).await
}

/// Waits until the log holds `needle` (`count` times); returns the log.
async fn wait_for_log(
    executor: &LocalExecutor,
    handle: &WorkloadHandle,
    needle: &str,
    count: usize,
) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let logs = all_logs(executor, handle, false).await;
        if logs.matches(needle).count() >= count {
            return logs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{needle}` did not show {count} times in the log of `{}`: {logs:?}",
            handle.id
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `path` holds a line; returns it.
async fn wait_for_file(path: &Path) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = fs_err::read_to_string(path) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} was not written",
            path.display()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until process `pid` is gone (or a zombie waiting for its new parent).
async fn assert_process_ends(pid: i32) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok();
        if stat
            .as_deref()
            .and_then(state::parse_stat)
            .is_none_or(|stat| stat.state == 'Z')
        {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("process {pid} survived the stop");
}

/// Runs `work` with an executor over `root` in a runtime of its own, on a thread of its
/// own, then drops the runtime: the executor's watchers die with it, as they do when the
/// server is killed with `kill -9`, and the workloads it started are nobody's children
/// any more that the next executor could wait for.
fn with_a_server_that_dies<T, F>(
    root: &Path,
    work: impl FnOnce(LocalExecutor) -> F + Send + 'static,
) -> T
where
    F: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(work(executor_at(&root)))
    })
    .join()
    .unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ----- the basics -----

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
async fn a_program_killed_by_a_signal_says_which() {
    let (executor, _dir) = executor();
    let handle = executor.submit(shell("kill -9 $$")).await.unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Failed {
            exit_code: None,
            reason: "killed by signal 9 (SIGKILL)".to_string()
        }
    );
}

#[test]
fn exit_codes_map_to_states() {
    use wrapper::status_from_exit_code;
    assert_eq!(status_from_exit_code(0), WorkloadStatus::Succeeded);
    assert_eq!(
        status_from_exit_code(1),
        WorkloadStatus::Failed {
            exit_code: Some(1),
            reason: "exited with code 1".to_string()
        }
    );
    assert_eq!(
        status_from_exit_code(143),
        WorkloadStatus::Failed {
            exit_code: None,
            reason: "killed by signal 15 (SIGTERM)".to_string()
        }
    );
    assert_eq!(
        status_from_exit_code(128),
        WorkloadStatus::Failed {
            exit_code: Some(128),
            reason: "exited with code 128".to_string()
        }
    );
    assert_eq!(
        status_from_exit_code(200),
        WorkloadStatus::Failed {
            exit_code: Some(200),
            reason: "exited with code 200".to_string()
        }
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
    let no_working_dir = executor
        .submit(WorkloadSpec {
            working_dir: Some(dir.path().join("not-there")),
            ..shell("true")
        })
        .await
        .unwrap_err();
    assert!(
        no_working_dir.to_string().ends_with("does not exist"),
        "{no_working_dir}"
    );
    assert!(
        executor.workloads.lock().unwrap().is_empty(),
        "nothing half-created"
    );
    for folder in ["state", "logs", "work"] {
        assert!(names_in(&dir.path().join(folder)).is_empty(), "{folder}");
    }
}

#[tokio::test]
async fn arguments_pass_through_untouched() {
    let (executor, _dir) = executor();
    let arguments = [
        "a b",
        "it's",
        "\"quoted\"",
        "$HOME",
        "${PATH}",
        "`id`",
        "*",
        "",
        "back\\slash",
        "-n",
        "two\nlines",
    ];
    let mut command = vec!["printf".to_string(), "[%s]\\n".to_string()];
    command.extend(arguments.iter().map(|argument| argument.to_string()));
    let handle = executor
        .submit(WorkloadSpec {
            command,
            ..shell("")
        })
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Succeeded
    );
    let expected: String = arguments
        .iter()
        .map(|argument| format!("[{argument}]\n"))
        .collect();
    assert_eq!(all_logs(&executor, &handle, false).await, expected);
}

#[tokio::test]
async fn stop_ends_the_whole_process_tree() {
    let (executor, dir) = executor();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 30 & echo $! > {}; sleep 30", pid_file.display());
    let handle = executor.submit(shell(&script)).await.unwrap();
    let grandchild: i32 = wait_for_file(&pid_file).await.parse().unwrap();
    executor
        .stop(&handle, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        executor.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
    assert_process_ends(grandchild).await;
}

#[tokio::test]
async fn a_workload_ignoring_sigterm_is_killed_after_the_grace_period() {
    let (executor, dir) = executor();
    let ready = dir.path().join("ready");
    let script = format!(
        "trap '' TERM; echo yes > {}; while true; do sleep 0.1; done",
        ready.display()
    );
    let handle = executor.submit(shell(&script)).await.unwrap();
    wait_for_file(&ready).await;
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

#[tokio::test]
async fn watch_streams_each_state_and_ends_after_the_last() {
    let (executor, dir) = executor();
    let go = dir.path().join("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.05; done", go.display());
    let handle = executor.submit(shell(&script)).await.unwrap();
    let mut states = executor.watch(&handle).await.unwrap();
    assert_eq!(states.next().await.unwrap().unwrap().name(), "running");
    fs_err::write(&go, "").unwrap();
    let rest: Vec<_> = tokio::time::timeout(PATIENCE, states.collect::<Vec<_>>())
        .await
        .unwrap();
    let names: Vec<_> = rest
        .iter()
        .map(|state| state.as_ref().unwrap().name())
        .collect();
    assert_eq!(names, ["succeeded"]);
}

// ----- logs -----

#[test]
fn tail_start_counts_lines_from_the_end() {
    let start = |text: &str, lines| {
        let offset = logs::tail_start(&mut std::io::Cursor::new(text), lines).unwrap();
        text[usize::try_from(offset).unwrap()..].to_string()
    };
    assert_eq!(start("1\n2\n3\n4\n5\n", 2), "4\n5\n");
    assert_eq!(start("1\n2\n3\n4\n5\n", 0), "");
    assert_eq!(start("1\n2\n3\n4\n5\n", 5), "1\n2\n3\n4\n5\n");
    assert_eq!(start("1\n2\n3\n4\n5\n", 50), "1\n2\n3\n4\n5\n");
    assert_eq!(start("1\n2\nno newline", 1), "no newline");
    assert_eq!(start("1\n2\nno newline", 2), "2\nno newline");
    assert_eq!(start("\n\n\n", 2), "\n\n");
    assert_eq!(start("", 3), "");
    // Across the 8 KiB read blocks.
    let long: String = (0..5000).map(|line| format!("line {line}\n")).collect();
    assert_eq!(start(&long, 3), "line 4997\nline 4998\nline 4999\n");
    assert_eq!(start(&long, 5000), long);
}

#[tokio::test]
async fn tail_lines_and_offsets_select_the_output() {
    let (executor, dir) = executor();
    let handle = executor
        .submit(shell("printf '1\\n2\\n3\\n4\\n5\\n'"))
        .await
        .unwrap();
    wait_finished(&executor, &handle).await;
    let read = |tail_lines, from_offset| {
        let options = LogOptions {
            follow: false,
            from_offset,
            tail_lines,
        };
        read_logs(&executor, &handle, options)
    };
    assert_eq!(read(Some(2), 0).await, "4\n5\n");
    assert_eq!(read(Some(0), 0).await, "");
    assert_eq!(read(Some(9), 0).await, "1\n2\n3\n4\n5\n");
    assert_eq!(read(None, 4).await, "3\n4\n5\n");
    // Both: whichever starts later.
    assert_eq!(read(Some(4), 6).await, "4\n5\n");

    // Tail, then follow.
    let go = dir.path().join("go-tail");
    let script = format!(
        "echo 1; echo 2; echo 3; while [ ! -e {} ]; do sleep 0.05; done; echo 4",
        go.display()
    );
    let running = executor.submit(shell(&script)).await.unwrap();
    wait_for_log(&executor, &running, "3\n", 1).await;
    let options = LogOptions {
        follow: true,
        from_offset: 0,
        tail_lines: Some(1),
    };
    let mut stream = executor.logs(&running, options).await.unwrap();
    fs_err::write(&go, "").unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap() {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(text).unwrap(), "3\n4\n");
}

// ----- surviving the server -----

#[tokio::test]
async fn a_new_executor_adopts_running_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let service_script = format!("sleep 60 & echo $! > {}; sleep 60", pid_file.display());
    let go = dir.path().join("go-adopted");
    let batch_script = format!(
        "echo started; while [ ! -e {} ]; do sleep 0.05; done; exit 4",
        go.display()
    );
    let (batch, service) = with_a_server_that_dies(dir.path(), |first| async move {
        let batch = first.submit(shell(&batch_script)).await.unwrap();
        let service = first
            .submit(WorkloadSpec {
                kind: crate::WorkloadKind::Service,
                ..shell(&service_script)
            })
            .await
            .unwrap();
        wait_for_log(&first, &batch, "started\n", 1).await;
        (batch, service)
    });
    let grandchild: i32 = wait_for_file(&pid_file).await.parse().unwrap();

    let second = executor_at(dir.path());
    assert!(
        second.workloads.lock().unwrap().is_empty(),
        "nothing adopted before it is asked for"
    );
    let status = second.status(&batch).await.unwrap();
    assert!(
        matches!(status, WorkloadStatus::Running { pid: Some(_) }),
        "{status:?}"
    );
    let mut states = second.watch(&batch).await.unwrap();
    let followed = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let mut log = second.logs(&batch, followed).await.unwrap();
    fs_err::write(&go, "").unwrap();
    // Followed logs of an adopted workload end when it ends.
    let mut text = Vec::new();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, log.next()).await.unwrap() {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(text).unwrap(), "started\n");
    let failed = WorkloadStatus::Failed {
        exit_code: Some(4),
        reason: "exited with code 4".to_string(),
    };
    assert_eq!(wait_finished(&second, &batch).await, failed);
    let mut seen = Vec::new();
    while let Some(state) = tokio::time::timeout(PATIENCE, states.next()).await.unwrap() {
        seen.push(state.unwrap());
    }
    assert_eq!(seen.last(), Some(&failed));
    // The code came from the exit file the wrapper left.
    assert_eq!(
        fs_err::read_to_string(dir.path().join("state").join(format!("{}.exit", batch.id)))
            .unwrap(),
        "4\n"
    );

    // Stopping an adopted workload ends its whole tree.
    assert_eq!(second.status(&service).await.unwrap().name(), "running");
    second.stop(&service, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        second.status(&service).await.unwrap(),
        WorkloadStatus::Stopped
    );
    assert_process_ends(grandchild).await;

    // A third server process sees the same.
    let third = executor_at(dir.path());
    assert_eq!(third.status(&batch).await.unwrap(), failed);
    assert_eq!(
        third.status(&service).await.unwrap(),
        WorkloadStatus::Stopped
    );
    assert_eq!(all_logs(&third, &batch, false).await, "started\n");
}

#[tokio::test]
async fn a_stop_is_remembered_by_the_next_executor() {
    let dir = tempfile::tempdir().unwrap();
    let first = executor_at(dir.path());
    // Exits 0 on SIGTERM: still stopped, not succeeded.
    let handle = first
        .submit(shell("trap 'exit 0' TERM; while true; do sleep 0.05; done"))
        .await
        .unwrap();
    first.stop(&handle, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        first.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
    let record = state::read_record(&first.layout, &handle.id)
        .unwrap()
        .unwrap();
    assert!(record.stop_requested);
    drop(first);
    let second = executor_at(dir.path());
    assert_eq!(
        second.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
    // Stopping a finished workload does nothing.
    second.stop(&handle, Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_workload_that_ended_unwatched_without_an_exit_code_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let handle = with_a_server_that_dies(dir.path(), |first| async move {
        first.submit(shell("sleep 60")).await.unwrap()
    });
    let second = executor_at(dir.path());
    let WorkloadStatus::Running { pid: Some(pid) } = second.status(&handle).await.unwrap() else {
        panic!("not adopted as running");
    };
    // The wrapper itself is killed while no server watches: it leaves no exit code.
    killpg(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
    let lost = WorkloadStatus::Lost {
        reason: "the process ended while the server was down and left no exit code".to_string(),
    };
    assert_eq!(wait_finished(&second, &handle).await, lost);
    assert_eq!(executor_at(dir.path()).status(&handle).await.unwrap(), lost);

    // A recorded pid now used by another process (this one) is not the workload.
    let mut reused = state::read_record(&second.layout, &handle.id)
        .unwrap()
        .unwrap();
    reused.id = "w-reused".to_string();
    reused.pid = std::process::id();
    let own_start = state::process_stat(reused.pid).unwrap().start_time;
    reused.start_time = own_start + 1;
    state::write_record(&second.layout, &reused, false).unwrap();
    assert_eq!(
        second.status(&handle_for("w-reused")).await.unwrap().name(),
        "lost"
    );
}

#[test]
fn proc_stat_is_read_past_the_command_name() {
    let line = "4242 (sh (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 2220032 200 18446744073709551615";
    assert_eq!(
        state::parse_stat(line),
        Some(state::ProcessStat {
            state: 'S',
            start_time: 987654
        })
    );
    assert_eq!(state::parse_stat("12 (short) R 1 2"), None);
    let own = state::process_stat(std::process::id()).unwrap();
    assert!(state::process_alive(std::process::id(), own.start_time));
    assert!(!state::process_alive(
        std::process::id(),
        own.start_time + 1
    ));
}

#[tokio::test]
async fn list_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let first = executor_at(dir.path());
    let go = dir.path().join("go-list");
    let running = first
        .submit(WorkloadSpec {
            ports: vec!["http".to_string()],
            ..shell(&format!(
                "echo running; while [ ! -e {} ]; do sleep 0.05; done",
                go.display()
            ))
        })
        .await
        .unwrap();
    let done = first.submit(shell("echo done")).await.unwrap();
    wait_finished(&first, &done).await;
    wait_for_log(&first, &running, "running\n", 1).await;
    let mut expected = vec![running.clone(), handle_for(&done.id)];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(first.list().await.unwrap(), expected);
    drop(first);

    let second = executor_at(dir.path());
    assert_eq!(second.list().await.unwrap(), expected, "listed from disk");
    // The same id again, from another server process: refused, and the log untouched.
    let again = second
        .submit(WorkloadSpec {
            id: running.id.clone(),
            ..shell("echo impostor")
        })
        .await
        .unwrap_err();
    assert!(matches!(again, ExecError::AlreadyExists(_)), "{again}");
    assert_eq!(all_logs(&second, &running, false).await, "running\n");

    let still_running = second.remove(&running).await.unwrap_err();
    assert!(
        still_running.to_string().contains("is still running"),
        "{still_running}"
    );
    second.remove(&done).await.unwrap();
    let state = dir.path().join("state");
    assert!(!state
        .join(format!("{}.json", done.id))
        .try_exists()
        .unwrap());
    assert!(!state
        .join(format!("{}.exit", done.id))
        .try_exists()
        .unwrap());
    let log = dir.path().join("logs").join(format!("{}.log", done.id));
    assert_eq!(
        fs_err::read_to_string(log).unwrap(),
        "done\n",
        "the log stays"
    );
    assert_eq!(second.list().await.unwrap(), vec![running.clone()]);
    assert!(matches!(
        second.status(&done).await,
        Err(ExecError::NotFound(_))
    ));
    assert!(matches!(
        second.remove(&done).await,
        Err(ExecError::NotFound(_))
    ));
    // A removed id can be used again.
    let reused = second
        .submit(WorkloadSpec {
            id: done.id.clone(),
            ..shell("echo again")
        })
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&second, &reused).await,
        WorkloadStatus::Succeeded
    );

    fs_err::write(&go, "").unwrap();
    wait_finished(&second, &running).await;
    second.remove(&running).await.unwrap();
    assert_eq!(second.list().await.unwrap(), vec![handle_for(&done.id)]);
    // Ids that are not ids are not found, whatever files there are.
    assert!(matches!(
        second.status(&handle_for("../state/x")).await,
        Err(ExecError::NotFound(_))
    ));
}

// ----- restart policies -----

#[tokio::test]
async fn restarts_go_on_while_no_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let handle = with_a_server_that_dies(dir.path(), |first| async move {
        first
            .submit(WorkloadSpec {
                restart: RestartPolicy::OnFailure,
                ..shell("echo run; exit 2")
            })
            .await
            .unwrap()
    });
    let second = executor_at(dir.path());
    assert_eq!(
        wait_finished(&second, &handle).await,
        WorkloadStatus::Failed {
            exit_code: Some(2),
            reason: "exited with code 2".to_string()
        }
    );
    let logs = all_logs(&second, &handle, false).await;
    assert_eq!(logs.matches("run\n").count(), 6, "{logs}");
}

#[tokio::test]
async fn on_failure_restarts_then_gives_up() {
    let (executor, _dir) = executor();
    let handle = executor
        .submit(WorkloadSpec {
            restart: RestartPolicy::OnFailure,
            ..shell("echo run; exit 1")
        })
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Failed {
            exit_code: Some(1),
            reason: "exited with code 1".to_string()
        }
    );
    let mut expected = "run\n".to_string();
    for attempt in 2..=6 {
        expected.push_str(&format!(
            "--- plinth: restarting (exit code 1), attempt {attempt} ---\nrun\n"
        ));
    }
    assert_eq!(all_logs(&executor, &handle, false).await, expected);
}

#[tokio::test]
async fn on_failure_stops_restarting_after_a_success() {
    let (executor, _dir) = executor();
    let script = "n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count; echo try $n; [ $n -ge 3 ]";
    let handle = executor
        .submit(WorkloadSpec {
            restart: RestartPolicy::OnFailure,
            ..shell(script)
        })
        .await
        .unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Succeeded
    );
    assert_eq!(
        all_logs(&executor, &handle, false).await,
        "try 1\n--- plinth: restarting (exit code 1), attempt 2 ---\ntry 2\n\
         --- plinth: restarting (exit code 1), attempt 3 ---\ntry 3\n"
    );
}

#[tokio::test]
async fn always_restarts_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let executor = executor_at(dir.path());
    let handle = executor
        .submit(WorkloadSpec {
            kind: crate::WorkloadKind::Service,
            restart: RestartPolicy::Always,
            ..shell("echo run; exit 0")
        })
        .await
        .unwrap();
    let logs = wait_for_log(&executor, &handle, "run\n", 3).await;
    assert!(
        logs.starts_with("run\n--- plinth: restarting (exit code 0), attempt 2 ---\nrun\n"),
        "{logs}"
    );
    let status = executor.status(&handle).await.unwrap();
    assert!(
        matches!(status, WorkloadStatus::Running { .. }),
        "{status:?}"
    );
    executor
        .stop(&handle, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        executor.status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
    let runs = all_logs(&executor, &handle, false)
        .await
        .matches("run\n")
        .count();
    // Several backoff periods later, nothing has started again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        all_logs(&executor, &handle, false)
            .await
            .matches("run\n")
            .count(),
        runs
    );
    drop(executor);
    assert_eq!(
        executor_at(dir.path()).status(&handle).await.unwrap(),
        WorkloadStatus::Stopped
    );
}

#[test]
fn the_wrapper_gets_its_settings_then_the_program() {
    let exit_file = Path::new("/root/state/w.exit");
    let procs = Path::new("/cg/plinth-workloads/w/cgroup.procs");
    let options = wrapper::WrapperOptions {
        exit_file,
        cgroup_procs: Some(procs),
        memory_kib: None,
        restart: RestartPolicy::OnFailure,
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
    };
    let arguments = wrapper::wrapper_arguments(
        &options,
        Path::new("/usr/bin/env"),
        &["a b".into(), std::ffi::OsString::new()],
    );
    let expected: Vec<std::ffi::OsString> = [
        "/root/state/w.exit",
        "/cg/plinth-workloads/w/cgroup.procs",
        "",
        "on_failure",
        "1000",
        "30000",
        "5",
        "/usr/bin/env",
        "a b",
        "",
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    assert_eq!(arguments, expected);
}

#[tokio::test]
async fn the_wrapper_script_is_installed_in_the_root_and_put_back() {
    let (executor, dir) = executor();
    let script = dir.path().join("wrapper.sh");
    assert_eq!(fs_err::read_to_string(&script).unwrap(), wrapper::WRAPPER);
    fs_err::remove_file(&script).unwrap();
    let handle = executor.submit(shell("echo fine")).await.unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Succeeded
    );
    assert_eq!(fs_err::read_to_string(&script).unwrap(), wrapper::WRAPPER);
}

// ----- limits -----

#[test]
fn cgroup_files_and_rlimits_follow_the_class() {
    assert_eq!(limits::cpu_max(0), "max");
    assert_eq!(limits::cpu_max(1000), "100000 100000");
    assert_eq!(limits::cpu_max(500), "50000 100000");
    assert_eq!(limits::cpu_max(2500), "250000 100000");
    assert_eq!(limits::cpu_max(1), "1000 100000", "the kernel's minimum");
    assert_eq!(limits::memory_max(0), "max");
    assert_eq!(limits::memory_max(64 << 20), "67108864");
    assert_eq!(limits::rlimit_kib(0), None);
    assert_eq!(limits::rlimit_kib(64 << 20), Some(65536));
    assert_eq!(limits::rlimit_kib(1025), Some(2));
}

/// This machine's kind of mounts: cgroup v1 controllers, and a cgroup2 hierarchy without
/// any at `unified`.
const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn mounts_and_own_cgroup_are_parsed() {
    assert_eq!(
        limits::cgroup2_mounts(HYBRID_MOUNTINFO),
        vec![PathBuf::from("/sys/fs/cgroup/unified")]
    );
    let unified = "\
22 1 0:21 / /sys rw - sysfs sysfs rw
25 22 0:22 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
90 25 0:50 / /mnt/other\\040cgroup rw - cgroup2 cgroup2 rw
";
    assert_eq!(
        limits::cgroup2_mounts(unified),
        vec![
            PathBuf::from("/sys/fs/cgroup"),
            PathBuf::from("/mnt/other cgroup")
        ]
    );
    assert_eq!(
        limits::own_cgroup("12:memory:/x\n0::/system.slice/plinth.service\n"),
        Some("/system.slice/plinth.service".to_string())
    );
    assert_eq!(limits::own_cgroup("4:memory:/x\n"), None);
    assert_eq!(
        limits::missing_controllers("cpuset cpu io memory pids"),
        Vec::<&str>::new()
    );
    assert_eq!(
        limits::missing_controllers("+cpu +memory"),
        Vec::<&str>::new()
    );
    assert_eq!(limits::missing_controllers("cpu io"), vec!["memory"]);
    assert_eq!(limits::missing_controllers(""), vec!["cpu", "memory"]);
}

#[test]
fn without_cgroup_v2_controllers_limits_are_rlimits_with_the_reason() {
    let v1_only = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    assert_eq!(
        limits::probe(v1_only, "4:cpu:/\n0::/\n"),
        Limits::Rlimits {
            reason: "/sys/fs/cgroup is cgroup v1".to_string()
        }
    );
    assert_eq!(
        limits::probe("", "0::/\n"),
        Limits::Rlimits {
            reason: "no cgroup2 file system is mounted".to_string()
        }
    );
    // A hybrid system whose cgroup2 hierarchy has no controllers (this machine's kind).
    let fake = tempfile::tempdir().unwrap();
    fs_err::write(fake.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
    let mountinfo =
        HYBRID_MOUNTINFO.replace("/sys/fs/cgroup/unified", &fake.path().display().to_string());
    let Limits::Rlimits { reason } = limits::probe(&mountinfo, "0::/\n") else {
        panic!("cgroups chosen without controllers");
    };
    assert_eq!(
        reason,
        format!(
            "/sys/fs/cgroup is cgroup v1; the cgroup2 hierarchy at {} offers no cpu or memory controller to this process's cgroup `/`",
            fake.path().display()
        )
    );
    assert!(
        !fake
            .path()
            .join(limits::WORKLOADS_CGROUP)
            .try_exists()
            .unwrap(),
        "nothing created"
    );
    let description = Limits::Rlimits { reason }.describe();
    assert!(
        description.starts_with("rlimits (cgroups v2 unavailable: /sys/fs/cgroup is cgroup v1; ")
    );
    assert!(description.ends_with("CPU is not capped"));
}

#[test]
fn this_machine_reports_its_limits_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let executor = executor_at(dir.path());
    let limits = executor.capabilities().limits;
    assert!(
        limits.starts_with("rlimits (cgroups v2 unavailable: ")
            || limits.starts_with("cgroups v2 (cpu.max and memory.max per workload"),
        "{limits}"
    );
}

/// A fake cgroup2 hierarchy: the server in `/plinth.service`, cpu and memory available.
fn fake_cgroup_root() -> (tempfile::TempDir, PathBuf) {
    let fake = tempfile::tempdir().unwrap();
    let own = fake.path().join("plinth.service");
    fs_err::create_dir_all(&own).unwrap();
    fs_err::write(
        own.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    fs_err::write(own.join("cgroup.subtree_control"), "").unwrap();
    (fake, own)
}

#[test]
fn a_usable_cgroup_hierarchy_gets_a_workloads_subtree() {
    let (fake, own) = fake_cgroup_root();
    let workloads = limits::prepare(fake.path(), "/plinth.service").unwrap();
    assert_eq!(workloads, own.join("plinth-workloads"));
    assert_eq!(
        fs_err::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
        "+cpu +memory"
    );
    assert_eq!(
        fs_err::read_to_string(workloads.join("cgroup.subtree_control")).unwrap(),
        "+cpu +memory"
    );
    // A process already moved to `plinth-server` manages its parent, not a nested tree.
    assert_eq!(
        limits::prepare(fake.path(), "/plinth.service/plinth-server").unwrap(),
        workloads
    );
    let mountinfo = format!(
        "25 22 0:22 / {} rw - cgroup2 cgroup2 rw\n",
        fake.path().display()
    );
    assert_eq!(
        limits::probe(&mountinfo, "0::/plinth.service\n"),
        Limits::Cgroups { workloads }
    );
}

#[tokio::test]
async fn with_cgroups_each_workload_gets_its_cgroup_and_limits() {
    let (fake, own) = fake_cgroup_root();
    let dir = tempfile::tempdir().unwrap();
    let executor = LocalExecutor::builder(dir.path())
        .gpus(Vec::new())
        .cgroup_root(fake.path(), "/plinth.service")
        .build()
        .unwrap();
    let limits = executor.capabilities().limits;
    assert!(
        limits.starts_with("cgroups v2 (cpu.max and memory.max per workload, under "),
        "{limits}"
    );
    let go = dir.path().join("go-cgroup");
    let handle = executor
        .submit(WorkloadSpec {
            resources: Resources {
                cpu_millis: 1500,
                memory_bytes: 64 << 20,
                gpus: 0,
            },
            ..shell(&format!(
                "echo address space: $(ulimit -v); while [ ! -e {} ]; do sleep 0.05; done",
                go.display()
            ))
        })
        .await
        .unwrap();
    let cgroup = own.join("plinth-workloads").join(&handle.id);
    assert_eq!(
        fs_err::read_to_string(cgroup.join("cpu.max")).unwrap(),
        "150000 100000"
    );
    assert_eq!(
        fs_err::read_to_string(cgroup.join("memory.max")).unwrap(),
        "67108864"
    );
    wait_for_log(&executor, &handle, "address space", 1).await;
    let WorkloadStatus::Running { pid: Some(pid) } = executor.status(&handle).await.unwrap() else {
        panic!("not running");
    };
    // The wrapper joined the cgroup before running the program, which has no rlimit.
    assert_eq!(
        fs_err::read_to_string(cgroup.join("cgroup.procs")).unwrap(),
        format!("{pid}\n")
    );
    assert_eq!(
        all_logs(&executor, &handle, false).await,
        "address space: unlimited\n"
    );
    fs_err::write(&go, "").unwrap();
    assert_eq!(
        wait_finished(&executor, &handle).await,
        WorkloadStatus::Succeeded
    );
}

fn python() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    resolve_program("python3", &path)
        .expect("the memory limit test needs python3 in PATH")
        .display()
        .to_string()
}

#[tokio::test]
async fn a_memory_limited_workload_fails_for_lack_of_memory() {
    let (executor, _dir) = executor();
    let allocate = |memory_bytes| WorkloadSpec {
        resources: Resources {
            memory_bytes,
            ..Resources::default()
        },
        ..WorkloadSpec {
            command: vec![
                python(),
                "-c".to_string(),
                "buffer = bytearray(200 * 1024 * 1024); print('allocated', len(buffer))"
                    .to_string(),
            ],
            ..shell("")
        }
    };
    let limited = executor.submit(allocate(64 << 20)).await.unwrap();
    let unlimited = executor.submit(allocate(0)).await.unwrap();
    let roomy = executor.submit(allocate(1 << 30)).await.unwrap();

    let status = wait_finished(&executor, &limited).await;
    let logs = all_logs(&executor, &limited, false).await;
    if executor.capabilities().limits.starts_with("rlimits") {
        assert_eq!(
            status,
            WorkloadStatus::Failed {
                exit_code: Some(1),
                reason: "exited with code 1".to_string()
            },
            "{logs}"
        );
        assert!(logs.contains("MemoryError"), "{logs}");
    } else {
        let WorkloadStatus::Failed { reason, .. } = &status else {
            panic!("{status:?}");
        };
        assert!(
            reason.contains("out of memory") || logs.contains("MemoryError"),
            "{reason}: {logs}"
        );
    }
    for handle in [&unlimited, &roomy] {
        assert_eq!(
            wait_finished(&executor, handle).await,
            WorkloadStatus::Succeeded
        );
        assert_eq!(
            all_logs(&executor, handle, false).await,
            "allocated 209715200\n"
        );
    }
}

// ----- GPUs -----

fn fake_gpus() -> Vec<Gpu> {
    vec![
        Gpu {
            index: 0,
            name: "Fake GPU A".to_string(),
        },
        Gpu {
            index: 1,
            name: "Fake GPU B".to_string(),
        },
    ]
}

fn gpu_executor(root: &Path) -> LocalExecutor {
    LocalExecutor::with_gpus(root, fake_gpus()).unwrap()
}

fn with_gpus(gpus: u32, script: &str) -> WorkloadSpec {
    WorkloadSpec {
        resources: Resources {
            gpus,
            ..Resources::default()
        },
        ..shell(script)
    }
}

#[tokio::test]
async fn gpus_are_handed_out_until_none_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let executor = gpu_executor(dir.path());
    assert_eq!(executor.capabilities().gpus, fake_gpus());
    let hold = "echo $CUDA_VISIBLE_DEVICES/$NVIDIA_VISIBLE_DEVICES; sleep 60";
    let first = executor.submit(with_gpus(1, hold)).await.unwrap();
    let second = executor.submit(with_gpus(1, hold)).await.unwrap();
    assert_eq!(wait_for_log(&executor, &first, "\n", 1).await, "0/0\n");
    assert_eq!(wait_for_log(&executor, &second, "\n", 1).await, "1/1\n");

    let refused = with_gpus(1, "true");
    let refused_id = refused.id.clone();
    let error = executor.submit(refused).await.unwrap_err();
    assert!(matches!(error, ExecError::Unsatisfiable(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "the workload's class asks for 1 GPU but 2 of this machine's 2 are in use by other workloads (0 free)"
    );
    let too_many = executor.submit(with_gpus(3, "true")).await.unwrap_err();
    assert_eq!(
        too_many.to_string(),
        "the workload's class asks for 3 GPUs but this machine has only 2"
    );
    // A refused submission leaves nothing behind.
    for folder in ["state", "logs", "work"] {
        let names = names_in(&dir.path().join(folder));
        assert!(
            !names
                .iter()
                .any(|name| name.starts_with(&format!("{refused_id}.")) || *name == refused_id),
            "{folder}: {names:?}"
        );
    }

    // Asking for none on a machine with GPUs hides them.
    let none = executor
        .submit(with_gpus(0, "echo \"[${CUDA_VISIBLE_DEVICES-unset}]\""))
        .await
        .unwrap();
    wait_finished(&executor, &none).await;
    assert_eq!(all_logs(&executor, &none, false).await, "[]\n");

    // Another server process over the same root knows which are taken.
    let other = gpu_executor(dir.path());
    assert!(matches!(
        other.submit(with_gpus(1, "true")).await,
        Err(ExecError::Unsatisfiable(_))
    ));
    // A GPU is free again once its workload ended, also for the other server.
    executor.stop(&first, Duration::from_secs(5)).await.unwrap();
    let third = other
        .submit(with_gpus(1, "echo $CUDA_VISIBLE_DEVICES"))
        .await
        .unwrap();
    wait_finished(&other, &third).await;
    assert_eq!(all_logs(&other, &third, false).await, "0\n");
    other.stop(&second, Duration::from_secs(5)).await.unwrap();
    let both = executor
        .submit(with_gpus(2, "echo $CUDA_VISIBLE_DEVICES"))
        .await
        .unwrap();
    wait_finished(&executor, &both).await;
    assert_eq!(all_logs(&executor, &both, false).await, "0,1\n");
}

#[tokio::test]
async fn without_gpus_asking_for_one_is_unsatisfiable() {
    let (executor, dir) = executor();
    let error = executor.submit(with_gpus(1, "true")).await.unwrap_err();
    assert!(matches!(error, ExecError::Unsatisfiable(_)), "{error}");
    assert!(
        error.to_string().starts_with("this machine has no GPUs; "),
        "{error}"
    );
    for folder in ["state", "logs", "work"] {
        assert!(names_in(&dir.path().join(folder)).is_empty(), "{folder}");
    }
    let none = executor
        .submit(with_gpus(0, "echo \"[${CUDA_VISIBLE_DEVICES-unset}]\""))
        .await
        .unwrap();
    wait_finished(&executor, &none).await;
    assert_eq!(all_logs(&executor, &none, false).await, "[unset]\n");
}

#[test]
fn gpus_are_detected_from_nvidia_smi_or_the_driver() {
    assert_eq!(
        gpu::parse_nvidia_smi("1, NVIDIA A100-SXM4-40GB\n0, NVIDIA A100-SXM4-40GB\n\n"),
        vec![
            Gpu {
                index: 0,
                name: "NVIDIA A100-SXM4-40GB".to_string()
            },
            Gpu {
                index: 1,
                name: "NVIDIA A100-SXM4-40GB".to_string()
            }
        ]
    );
    let information = |model: &str| {
        format!("Model: \t\t {model}\nIRQ:   \t\t 35\nGPU UUID: \t GPU-1234\nDevice Minor: \t 0\n")
    };
    assert_eq!(
        gpu::parse_proc_gpus(vec![
            ("0000:81:00.0".to_string(), information("Tesla T4")),
            ("0000:3b:00.0".to_string(), information("NVIDIA L4")),
            ("0000:af:00.0".to_string(), "garbage".to_string()),
        ]),
        vec![
            Gpu {
                index: 0,
                name: "NVIDIA L4".to_string()
            },
            Gpu {
                index: 1,
                name: "Tesla T4".to_string()
            },
            Gpu {
                index: 2,
                name: "NVIDIA GPU at 0000:af:00.0".to_string()
            }
        ]
    );
    let gpus = fake_gpus();
    assert_eq!(gpu::allocate(&gpus, &BTreeSet::new(), 1), Ok(vec![0]));
    assert_eq!(gpu::allocate(&gpus, &BTreeSet::from([0]), 1), Ok(vec![1]));
    assert_eq!(
        gpu::allocate(&gpus, &BTreeSet::from([1]), 2),
        Err("the workload's class asks for 2 GPUs but 1 of this machine's 2 is in use by other workloads (1 free)".to_string())
    );
    assert_eq!(
        gpu::allocate(&[], &BTreeSet::new(), 1),
        Err("this machine has no GPUs; the workload's class asks for 1".to_string())
    );
}
