//! The local backend, the embedded default: each workload is a child process in its own
//! process group (so stopping it stops everything it started), its stdout and stderr go to
//! one log file, ports are allocated on 127.0.0.1 and handed over in the environment.
//!
//! Still to come (issue 5): per-class limits (cgroups v2 / rlimits), GPUs through
//! `CUDA_VISIBLE_DEVICES`, working files from the object store, adoption after a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::{
    port_variable, Capabilities, ExecError, ExecResult, Executor, LogOptions, WorkloadHandle,
    WorkloadSpec, WorkloadStatus,
};

/// How often a followed log is polled for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);
/// Variables passed through from the server's environment; everything else comes from the spec.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ"];

struct Entry {
    process_group: i32,
    status: watch::Receiver<WorkloadStatus>,
    log: PathBuf,
    stop_requested: Arc<AtomicBool>,
}

/// Runs workloads as local child processes.
pub struct LocalExecutor {
    root: PathBuf,
    workloads: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LocalExecutor")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl LocalExecutor {
    /// Returns an executor keeping logs and working folders under `root` (created).
    pub fn new(root: impl Into<PathBuf>) -> ExecResult<Self> {
        let root = root.into();
        for dir in ["logs", "work"] {
            fs_err::create_dir_all(root.join(dir))
                .map_err(|error| ExecError::Backend(Box::new(error)))?;
        }
        Ok(LocalExecutor {
            root,
            workloads: Mutex::new(HashMap::new()),
        })
    }

    fn entry<T>(&self, handle: &WorkloadHandle, read: impl FnOnce(&Entry) -> T) -> ExecResult<T> {
        let workloads = self.workloads.lock().expect("workload table lock");
        workloads
            .get(&handle.id)
            .map(read)
            .ok_or_else(|| ExecError::NotFound(handle.id.clone()))
    }
}

/// Finds `program` the way a shell would: a path is used as it is, a bare name is looked
/// up in `path`. Fails with the reason a person needs.
fn resolve_program(program: &str, path: &str) -> ExecResult<PathBuf> {
    let cannot = |reason: String| ExecError::CannotStart {
        command: program.to_string(),
        reason,
    };
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        path.split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(program))
            .collect()
    };
    let mut found_not_executable = None;
    for candidate in candidates {
        let Ok(metadata) = fs_err::metadata(&candidate) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o111 == 0 {
            found_not_executable = Some(candidate);
            continue;
        }
        return Ok(candidate);
    }
    match found_not_executable {
        Some(path) => Err(cannot(format!("`{}` is not executable", path.display()))),
        None if program.contains('/') => Err(cannot("no such file".to_string())),
        None => Err(cannot("not found in PATH".to_string())),
    }
}

fn free_port() -> ExecResult<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|error| ExecError::Backend(Box::new(error)))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| ExecError::Backend(Box::new(error)))
}

fn describe_exit(status: std::process::ExitStatus) -> WorkloadStatus {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(0), _) => WorkloadStatus::Succeeded,
        (Some(code), _) => WorkloadStatus::Failed {
            exit_code: Some(code),
            reason: format!("exited with code {code}"),
        },
        (None, Some(signal)) => WorkloadStatus::Failed {
            exit_code: None,
            reason: format!("killed by signal {signal}"),
        },
        (None, None) => WorkloadStatus::Failed {
            exit_code: None,
            reason: "ended without an exit code".to_string(),
        },
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            limits: "none".to_string(),
            gpus: Vec::new(),
        }
    }

    async fn submit(&self, spec: WorkloadSpec) -> ExecResult<WorkloadHandle> {
        spec.validate()?;
        let (program, args) = spec
            .command
            .split_first()
            .expect("validated: has a program");
        if self
            .workloads
            .lock()
            .expect("workload table lock")
            .contains_key(&spec.id)
        {
            return Err(ExecError::AlreadyExists(spec.id.clone()));
        }
        let path = spec
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        let program_path = resolve_program(program, &path)?;

        let id = spec.id.clone();
        let working_dir = match &spec.working_dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = self.root.join("work").join(&id);
                fs_err::create_dir_all(&dir)
                    .map_err(|error| ExecError::Backend(Box::new(error)))?;
                dir
            }
        };
        let log = self.root.join("logs").join(format!("{id}.log"));
        let log_file =
            fs_err::File::create(&log).map_err(|error| ExecError::Backend(Box::new(error)))?;
        let (log_file, _) = log_file.into_parts();
        let stderr = log_file
            .try_clone()
            .map_err(|error| ExecError::Backend(Box::new(error)))?;

        let mut ports = BTreeMap::new();
        for name in &spec.ports {
            ports.insert(name.clone(), free_port()?);
        }

        let mut command = tokio::process::Command::new(&program_path);
        command.args(args).current_dir(&working_dir).env_clear();
        for name in INHERITED_ENV {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command.envs(&spec.env).envs(&spec.secret_env);
        for (name, port) in &ports {
            command.env(port_variable(name), port.to_string());
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = command.spawn().map_err(|error| {
            let reason = match error.kind() {
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                std::io::ErrorKind::NotFound => {
                    "no such file (or its interpreter is missing)".to_string()
                }
                _ => error.to_string(),
            };
            ExecError::CannotStart {
                command: program.clone(),
                reason,
            }
        })?;
        let pid = child.id();
        let process_group = pid.map(|pid| pid as i32).unwrap_or_default();
        let (status_tx, status_rx) = watch::channel(WorkloadStatus::Running { pid });
        let stop_requested = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop_requested);
        let workload = id.clone();
        tokio::spawn(async move {
            let final_status = match child.wait().await {
                Ok(_) if stopping.load(Ordering::SeqCst) => WorkloadStatus::Stopped,
                Ok(exit) => describe_exit(exit),
                Err(error) => WorkloadStatus::Failed {
                    exit_code: None,
                    reason: format!("cannot wait for the process: {error}"),
                },
            };
            tracing::info!(workload = %workload, status = ?final_status, "workload ended");
            let _ = status_tx.send(final_status);
        });
        tracing::info!(workload = %id, name = %spec.name, program = %program_path.display(), ?pid, "workload started");
        self.workloads.lock().expect("workload table lock").insert(
            id.clone(),
            Entry {
                process_group,
                status: status_rx,
                log,
                stop_requested,
            },
        );
        Ok(WorkloadHandle { id, ports })
    }

    async fn status(&self, handle: &WorkloadHandle) -> ExecResult<WorkloadStatus> {
        self.entry(handle, |entry| entry.status.borrow().clone())
    }

    async fn watch(
        &self,
        handle: &WorkloadHandle,
    ) -> ExecResult<BoxStream<'static, ExecResult<WorkloadStatus>>> {
        let status = self.entry(handle, |entry| entry.status.clone())?;
        let stream = stream::unfold(
            (status, true, false),
            |(mut status, first, done)| async move {
                if done {
                    return None;
                }
                if !first && status.changed().await.is_err() {
                    return None;
                }
                let current = status.borrow_and_update().clone();
                let finished = current.is_finished();
                Some((Ok(current), (status, false, finished)))
            },
        );
        Ok(stream.boxed())
    }

    async fn logs(
        &self,
        handle: &WorkloadHandle,
        options: LogOptions,
    ) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>> {
        let follow = options.follow;
        let (log, status) =
            self.entry(handle, |entry| (entry.log.clone(), entry.status.clone()))?;
        let mut file = tokio::fs::File::open(&log)
            .await
            .map_err(|error| ExecError::Backend(Box::new(error)))?;
        if options.from_offset > 0 {
            use tokio::io::AsyncSeekExt as _;
            file.seek(std::io::SeekFrom::Start(options.from_offset))
                .await
                .map_err(|error| ExecError::Backend(Box::new(error)))?;
        }
        let state = (file, status, follow, false);
        let stream = stream::unfold(state, |(mut file, status, follow, done)| async move {
            if done {
                return None;
            }
            loop {
                let finished = status.borrow().is_finished();
                let mut buffer = vec![0u8; 64 * 1024];
                match file.read(&mut buffer).await {
                    Ok(0) if !follow || finished => return None,
                    Ok(0) => tokio::time::sleep(FOLLOW_INTERVAL).await,
                    Ok(read) => {
                        buffer.truncate(read);
                        return Some((Ok(Bytes::from(buffer)), (file, status, follow, false)));
                    }
                    Err(error) => {
                        return Some((
                            Err(ExecError::Backend(Box::new(error))),
                            (file, status, follow, true),
                        ))
                    }
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> ExecResult<()> {
        let (process_group, mut status, stop_requested) = self.entry(handle, |entry| {
            (
                entry.process_group,
                entry.status.clone(),
                Arc::clone(&entry.stop_requested),
            )
        })?;
        let finished = status.borrow().is_finished();
        if finished {
            return Ok(());
        }
        stop_requested.store(true, Ordering::SeqCst);
        let group = Pid::from_raw(process_group);
        let _ = killpg(group, Signal::SIGTERM);
        let ended_in_grace =
            tokio::time::timeout(grace, status.wait_for(WorkloadStatus::is_finished))
                .await
                .is_ok_and(|waited| waited.is_ok());
        if !ended_in_grace {
            tracing::warn!(workload = %handle.id, grace_ms = grace.as_millis() as u64, "workload ignored SIGTERM; sending SIGKILL");
            let _ = killpg(group, Signal::SIGKILL);
            let _ = status.wait_for(WorkloadStatus::is_finished).await;
        }
        // Whatever the leader left behind in its group goes too.
        let _ = killpg(group, Signal::SIGKILL);
        Ok(())
    }

    async fn list(&self) -> ExecResult<Vec<WorkloadHandle>> {
        let workloads = self.workloads.lock().expect("workload table lock");
        Ok(workloads
            .keys()
            .map(|id| WorkloadHandle {
                id: id.clone(),
                ports: BTreeMap::new(),
            })
            .collect())
    }

    async fn remove(&self, handle: &WorkloadHandle) -> ExecResult<()> {
        let mut workloads = self.workloads.lock().expect("workload table lock");
        match workloads.get(&handle.id) {
            None => Err(ExecError::NotFound(handle.id.clone())),
            Some(entry) if !entry.status.borrow().is_finished() => Err(ExecError::InvalidSpec {
                field: "id",
                reason: format!("workload `{}` is still running; stop it first", handle.id),
            }),
            Some(_) => {
                workloads.remove(&handle.id);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
