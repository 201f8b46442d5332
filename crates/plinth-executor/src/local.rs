//! The local backend, the embedded default: each workload is a process on this machine,
//! and every workload survives the server: a server killed with `kill -9` and started
//! again over the same root picks up what the earlier one started.
//!
//! - **A wrapper runs every workload.** `/bin/sh` runs a small script (`<root>/wrapper.sh`,
//!   see `wrapper.rs`) that
//!   leads the workload's process group (so stopping it stops everything it started),
//!   joins the workload's cgroup or sets its rlimit, runs the program as `"$@"` (program
//!   and arguments pass through untouched), applies the restart policy (`OnFailure`:
//!   up to 5 restarts; `Always`: until stopped; waits of 1 s doubling to 30 s, back to
//!   1 s after a run that lasted a minute; a
//!   `--- plinth: restarting (exit code N), attempt M ---` line in the log), and finally
//!   writes the exit code to `state/<id>.exit` (to a temporary file, then `mv`). The
//!   server is not needed for any of that.
//! - **State is on disk.** `submit` writes `state/<id>.json` (temporary file, fsync,
//!   link) with the wrapper's pid and start time (field 22 of `/proc/<pid>/stat`, so a
//!   reused pid is not mistaken for the workload), process group, log file, ports, GPUs,
//!   cgroup, kind, restart policy and creation time; `stop` adds `stop_requested` before
//!   signalling. Any call on an id this executor has not seen loads that file and
//!   *adopts* the workload: a live one is polled every 200 ms until it is gone, then its
//!   state is read from the exit file. A workload that ended without one (the wrapper was
//!   killed while no server watched) is `Lost`; one stopped on request is `Stopped`.
//!   Stdout and stderr go to `logs/<id>.log`, which `remove` keeps (submitting the same
//!   id again after `remove` starts it afresh).
//! - **Status.** Exit code 0 is `Succeeded`; codes 129–192 are how the shell reports a
//!   program killed by signal `code - 128`, and read as
//!   `Failed { exit_code: None, reason: "killed by signal N (SIGNAME)" }`, the same as a
//!   process the server saw die of a signal; other codes are
//!   `Failed { exit_code: Some(code), reason: "exited with code N" }`. `Running` carries the
//!   wrapper's pid, which stays the same across restarts.
//! - **Limits.** When the server can manage a cgroup v2 subtree (the cgroup2 hierarchy,
//!   its own cgroup from `/proc/self/cgroup`, the cpu and memory controllers, and
//!   `+cpu +memory` in `cgroup.subtree_control`), each workload gets
//!   `<own cgroup>/plinth-workloads/<id>` with `cpu.max` and `memory.max`, which the
//!   wrapper joins before running the program and which is removed after it ends (when
//!   its own cgroup holds processes, so cannot hand controllers down, the server first
//!   moves itself into a leaf `plinth-server` beside `plinth-workloads`). Otherwise the
//!   wrapper sets `ulimit -v` to the memory limit: that caps the address space, not
//!   resident memory, so programs that reserve much more than they use (JVMs, Go, CUDA)
//!   need a roomier class; rlimits cannot cap CPU, so CPU is then not capped.
//!   [`Capabilities::limits`](crate::Capabilities::limits) says which, and why.
//! - **GPUs.** NVIDIA GPUs are detected at start (`nvidia-smi`, else
//!   `/proc/driver/nvidia/gpus`). A workload asking for some gets free ones through
//!   `CUDA_VISIBLE_DEVICES` and `NVIDIA_VISIBLE_DEVICES` (these override the spec's
//!   environment); one asking for none gets an empty `CUDA_VISIBLE_DEVICES` on a machine
//!   that has GPUs. A GPU is in use while the process of a workload holding it runs
//!   (read from the state files, so allocations survive a restart too).
//! - Ports are allocated on 127.0.0.1 and handed over as `PLINTH_PORT_<NAME>`.
//!
//! One server process at a time may use a root. Still to come (issue 5): working files
//! from the object store.

mod gpu;
mod limits;
mod logs;
mod podman;
mod sandboxing;
mod state;
mod wrapper;

pub use podman::PodmanSettings;
pub use sandboxing::SandboxSettings;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use self::limits::Limits;
use self::podman::Podman;
use self::sandboxing::Sandbox;
use self::state::{Layout, WorkloadRecord};
use self::wrapper::WrapperOptions;
use crate::spec::is_valid_workload_id;
use crate::{
    port_variable, Capabilities, ExecError, ExecResult, Executor, Gpu, Isolation, LogOptions,
    WorkloadHandle, WorkloadSpec, WorkloadStatus,
};

/// The shell that runs the wrapper.
const SHELL: &str = "/bin/sh";
/// Variables passed through from the server's environment; everything else comes from the spec.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ"];
/// How often a workload that is not the server's child is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(200);
/// How long `stop` waits for a workload to go after `SIGKILL`.
const KILL_WAIT: Duration = Duration::from_secs(30);
/// The first wait before a restart, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// What `Lost` says about a workload that ended unwatched and left no exit code.
const LOST_REASON: &str = "the process ended while the server was down and left no exit code";

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> ExecError {
    ExecError::Backend(Box::new(error))
}

/// What the executor knows about a workload it started or adopted.
#[derive(Clone)]
struct Entry {
    record: WorkloadRecord,
    status: watch::Receiver<WorkloadStatus>,
    stop_requested: Arc<AtomicBool>,
}

/// Runs workloads as local processes that outlive the server; see the module documentation.
pub struct LocalExecutor {
    layout: Layout,
    limits: Limits,
    gpus: Vec<Gpu>,
    first_backoff: Duration,
    max_backoff: Duration,
    workloads: Mutex<HashMap<String, Entry>>,
    /// How workloads are sandboxed; `None`: they run with the server's rights (or in
    /// podman containers).
    sandbox: Option<Sandbox>,
    /// Runs each workload in a podman container instead.
    podman: Option<Podman>,
    /// Serialises submissions, so two cannot take the same id, the same GPU or the same uid.
    submitting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LocalExecutor")
            .field("layout", &self.layout)
            .field("limits", &self.limits)
            .field("gpus", &self.gpus)
            .finish_non_exhaustive()
    }
}

/// Configures a [`LocalExecutor`]: what [`LocalExecutor::new`] detects can be given instead.
#[derive(Debug)]
pub struct LocalExecutorBuilder {
    root: PathBuf,
    gpus: Option<Vec<Gpu>>,
    cgroup_root: Option<(PathBuf, String)>,
    first_backoff: Duration,
    max_backoff: Duration,
    sandbox: Option<SandboxSettings>,
    podman: Option<PodmanSettings>,
}

impl LocalExecutorBuilder {
    /// Runs every workload in a podman container instead of the sandbox; building fails
    /// when podman cannot run.
    pub fn podman(mut self, settings: PodmanSettings) -> Self {
        self.podman = Some(settings);
        self
    }

    /// Runs every workload in the sandbox ([`crate::sandbox`]), as far as this machine
    /// allows (probed when the executor is built; see
    /// [`Capabilities::isolation`](crate::Capabilities::isolation)).
    pub fn sandbox(mut self, settings: SandboxSettings) -> Self {
        self.sandbox = Some(settings);
        self
    }

    /// Uses these GPUs instead of detecting them.
    pub fn gpus(mut self, gpus: Vec<Gpu>) -> Self {
        self.gpus = Some(gpus);
        self
    }

    /// Tries cgroups v2 on the hierarchy mounted at `mount_point`, this process being in
    /// `own_cgroup` (as `/proc/self/cgroup` would say, e.g. `/system.slice/plinth.service`),
    /// instead of the system's; falls back to rlimits as usual when it cannot be used.
    pub fn cgroup_root(mut self, mount_point: impl Into<PathBuf>, own_cgroup: &str) -> Self {
        self.cgroup_root = Some((mount_point.into(), own_cgroup.to_string()));
        self
    }

    /// Sets the wait before the first restart (default 1 s) and the longest one it doubles
    /// up to (default 30 s).
    pub fn restart_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max;
        self
    }

    /// Creates the root's folders, decides how limits are enforced and builds the executor.
    pub fn build(self) -> ExecResult<LocalExecutor> {
        let root = std::path::absolute(&self.root).map_err(backend)?;
        let layout = Layout::new(root);
        layout.create().map_err(backend)?;
        wrapper::install(&layout.wrapper_file()).map_err(backend)?;
        let limits = match &self.cgroup_root {
            Some((mount, own)) => match limits::prepare(mount, own) {
                Ok(workloads) => Limits::Cgroups { workloads },
                Err(why) => Limits::Rlimits {
                    reason: format!("the cgroup2 hierarchy at {} {why}", mount.display()),
                },
            },
            None => system_limits(),
        };
        let gpus = self.gpus.unwrap_or_else(gpu::detect);
        let podman = self.podman.map(Podman::check).transpose()?;
        let sandbox = match podman {
            Some(_) => None,
            None => self
                .sandbox
                .map(|settings| Sandbox::probe(settings, layout.root())),
        };
        let executor = LocalExecutor {
            layout,
            limits,
            gpus,
            first_backoff: self.first_backoff,
            max_backoff: self.max_backoff,
            workloads: Mutex::new(HashMap::new()),
            sandbox,
            podman,
            submitting: tokio::sync::Mutex::new(()),
        };
        executor.sweep_cgroups();
        let isolation = executor.isolation();
        tracing::info!(limits = %executor.limits.describe(), gpus = executor.gpus.len(), isolation = ?isolation.level, "local executor ready");
        for mechanism in &isolation.mechanisms {
            tracing::info!(mechanism = %mechanism.name, active = mechanism.active, "sandbox: {}", mechanism.detail);
        }
        Ok(executor)
    }
}

/// Probes the system's cgroups.
fn system_limits() -> Limits {
    let mountinfo = match fs_err::read_to_string("/proc/self/mountinfo") {
        Ok(text) => text,
        Err(error) => {
            return Limits::Rlimits {
                reason: format!("cannot read the mounts ({error})"),
            }
        }
    };
    let own = fs_err::read_to_string("/proc/self/cgroup").unwrap_or_default();
    limits::probe(&mountinfo, &own)
}

impl LocalExecutor {
    /// Returns an executor keeping state, logs and working folders under `root` (created),
    /// with limits and GPUs detected on this machine.
    pub fn new(root: impl Into<PathBuf>) -> ExecResult<Self> {
        Self::builder(root).build()
    }

    /// Returns an executor over `root` handing out these GPUs instead of detected ones.
    pub fn with_gpus(root: impl Into<PathBuf>, gpus: Vec<Gpu>) -> ExecResult<Self> {
        Self::builder(root).gpus(gpus).build()
    }

    /// Starts configuring an executor over `root`.
    pub fn builder(root: impl Into<PathBuf>) -> LocalExecutorBuilder {
        LocalExecutorBuilder {
            root: root.into(),
            gpus: None,
            cgroup_root: None,
            first_backoff: FIRST_BACKOFF,
            max_backoff: MAX_BACKOFF,
            sandbox: None,
            podman: None,
        }
    }

    /// How workloads are isolated here.
    fn isolation(&self) -> Isolation {
        match (&self.sandbox, &self.podman) {
            (_, Some(podman)) => podman.isolation().clone(),
            (Some(sandbox), None) => sandbox.isolation().clone(),
            (None, None) => sandboxing::unsandboxed(),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.workloads.lock().expect("workload table lock")
    }

    /// Returns the workload `id`, adopting it from its state file when this executor has
    /// not seen it yet.
    fn load(&self, id: &str) -> ExecResult<Entry> {
        if let Some(entry) = self.table().get(id) {
            return Ok(entry.clone());
        }
        if !is_valid_workload_id(id) {
            return Err(ExecError::NotFound(id.to_string()));
        }
        let record = state::read_record(&self.layout, id)
            .map_err(backend)?
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        let stop_requested = Arc::new(AtomicBool::new(record.stop_requested));
        let watcher = Watcher {
            layout: self.layout.clone(),
            record: record.clone(),
            stop_requested: Arc::clone(&stop_requested),
        };
        let alive = state::process_alive(record.pid, record.start_time);
        let current = if alive {
            WorkloadStatus::Running {
                pid: Some(record.pid),
            }
        } else {
            watcher.conclude(None)
        };
        let (status_tx, status_rx) = watch::channel(current);
        let entry = Entry {
            record,
            status: status_rx,
            stop_requested,
        };
        {
            let mut table = self.table();
            if let Some(existing) = table.get(id) {
                return Ok(existing.clone());
            }
            table.insert(id.to_string(), entry.clone());
        }
        tracing::info!(workload = %id, pid = entry.record.pid, running = alive, "adopted a workload started by an earlier server");
        if alive {
            tokio::spawn(watcher.watch_adopted(status_tx));
        } else if let Some(cgroup) = entry.record.cgroup.clone() {
            tokio::spawn(async move { limits::remove_workload_cgroup(&cgroup).await });
        }
        Ok(entry)
    }

    /// The ids with a state file.
    fn state_ids(&self) -> ExecResult<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs_err::read_dir(self.layout.state_dir()).map_err(backend)? {
            let entry = entry.map_err(backend)?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|name| name.strip_suffix(".json")) {
                // Temporary files start with `.`, which no id does.
                if is_valid_workload_id(id) {
                    ids.push(id.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The GPUs held by workloads whose process still runs, whichever server started them.
    fn gpus_in_use(&self) -> ExecResult<BTreeSet<u32>> {
        let mut in_use = BTreeSet::new();
        for id in self.state_ids()? {
            match state::read_record(&self.layout, &id) {
                Ok(Some(record))
                    if !record.gpus.is_empty()
                        && state::process_alive(record.pid, record.start_time) =>
                {
                    in_use.extend(record.gpus);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(workload = %id, %error, "unreadable state file; its GPUs are taken as free");
                }
            }
        }
        Ok(in_use)
    }

    /// Allocates GPUs for a workload asking for `wanted`, with the environment that hands
    /// them over (or hides the machine's GPUs from one asking for none).
    fn allocate_gpus(&self, wanted: u32) -> ExecResult<GpuGrant> {
        if wanted == 0 {
            let hide = if self.gpus.is_empty() {
                Vec::new()
            } else {
                vec![
                    ("CUDA_VISIBLE_DEVICES", String::new()),
                    ("NVIDIA_VISIBLE_DEVICES", "void".to_string()),
                ]
            };
            return Ok(GpuGrant {
                indices: Vec::new(),
                environment: hide,
            });
        }
        let in_use = self.gpus_in_use()?;
        let allocated =
            gpu::allocate(&self.gpus, &in_use, wanted).map_err(ExecError::Unsatisfiable)?;
        let list = allocated
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let environment = vec![
            ("CUDA_VISIBLE_DEVICES", list.clone()),
            ("NVIDIA_VISIBLE_DEVICES", list),
            ("CUDA_DEVICE_ORDER", "PCI_BUS_ID".to_string()),
        ];
        Ok(GpuGrant {
            indices: allocated,
            environment,
        })
    }

    /// Removes what the sandbox or the container needed: the plan, the user database, the
    /// env file and the private temporary folder.
    fn remove_isolation_files(&self, id: &str) -> ExecResult<()> {
        let (passwd, group) = self.layout.user_database_files(id);
        let env_file = self.layout.state_dir().join(format!("{id}.env"));
        for file in [self.layout.plan_file(id), passwd, group, env_file] {
            state::remove_if_present(&file).map_err(backend)?;
        }
        let tmp = self.layout.tmp_dir(id);
        if tmp.try_exists().map_err(backend)? {
            fs_err::remove_dir_all(&tmp).map_err(backend)?;
        }
        Ok(())
    }

    /// Removes the cgroups of workloads that ended while no server watched them.
    fn sweep_cgroups(&self) {
        let Limits::Cgroups { workloads } = &self.limits else {
            return;
        };
        let Ok(entries) = fs_err::read_dir(workloads) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if !is_valid_workload_id(id) || !entry.path().is_dir() {
                continue;
            }
            let running = matches!(
                state::read_record(&self.layout, id),
                Ok(Some(record)) if state::process_alive(record.pid, record.start_time)
            );
            if !running {
                // Fails, harmlessly, when processes are still in it.
                let _ = fs_err::remove_dir(entry.path());
            }
        }
    }
}

/// The GPUs given to a workload and the environment naming them.
struct GpuGrant {
    indices: Vec<u32>,
    environment: Vec<(&'static str, String)>,
}

/// Watches one workload until it ends and says how it ended.
#[derive(Clone)]
struct Watcher {
    layout: Layout,
    record: WorkloadRecord,
    stop_requested: Arc<AtomicBool>,
}

impl Watcher {
    /// Waits for the server's own child.
    async fn watch_child(
        self,
        mut child: tokio::process::Child,
        status: watch::Sender<WorkloadStatus>,
    ) {
        match child.wait().await {
            Ok(exit) => self.finish(Some(exit), status).await,
            Err(error) => {
                tracing::warn!(workload = %self.record.id, %error, "cannot wait for the workload's process; polling it instead");
                self.watch_adopted(status).await;
            }
        }
    }

    /// Polls a process that is not the server's child until it is gone. Gives up when
    /// nobody listens any more (the executor was dropped).
    async fn watch_adopted(self, status: watch::Sender<WorkloadStatus>) {
        loop {
            tokio::time::sleep(ADOPTED_POLL).await;
            if status.is_closed() {
                return;
            }
            if !state::process_alive(self.record.pid, self.record.start_time) {
                break;
            }
        }
        self.finish(None, status).await;
    }

    async fn finish(
        self,
        waited: Option<std::process::ExitStatus>,
        status: watch::Sender<WorkloadStatus>,
    ) {
        let final_status = self.conclude(waited);
        if let Some(cgroup) = &self.record.cgroup {
            limits::remove_workload_cgroup(cgroup).await;
        }
        // Its private /tmp goes with it.
        let tmp = self.layout.tmp_dir(&self.record.id);
        if tmp.try_exists().unwrap_or(false) {
            if let Err(error) = fs_err::remove_dir_all(&tmp) {
                tracing::warn!(workload = %self.record.id, %error, "cannot remove the private temporary folder");
            }
        }
        tracing::info!(workload = %self.record.id, status = ?final_status, "workload ended");
        let _ = status.send(final_status);
    }

    /// Says how the ended workload ended: stopped on request, else what its exit file
    /// says, else (for the server's own child) how the wrapper ended, else lost.
    fn conclude(&self, waited: Option<std::process::ExitStatus>) -> WorkloadStatus {
        let id = &self.record.id;
        let stop_requested = self.stop_requested.load(Ordering::SeqCst)
            || matches!(state::read_record(&self.layout, id), Ok(Some(record)) if record.stop_requested);
        let exit_file = self.layout.exit_file(id);
        let mut code = state::read_exit_code(&exit_file).unwrap_or_else(|error| {
            tracing::warn!(workload = %id, %error, "cannot read the exit file");
            None
        });
        if code.is_none() {
            code = waited.and_then(wrapper::exit_code_of);
            // The wrapper itself was killed: record what the server saw, so that a later
            // server process says the same.
            if let Some(code) = code {
                if self.layout.state_file(id).try_exists().unwrap_or(false) {
                    if let Err(error) =
                        state::write_atomically(&exit_file, format!("{code}\n").as_bytes(), true)
                    {
                        tracing::warn!(workload = %id, %error, "cannot record the exit code");
                    }
                }
            }
        }
        if stop_requested {
            return WorkloadStatus::Stopped;
        }
        let Some(code) = code else {
            return WorkloadStatus::Lost {
                reason: LOST_REASON.to_string(),
            };
        };
        let mut status = wrapper::status_from_exit_code(code);
        if let (WorkloadStatus::Failed { reason, .. }, Some(cgroup)) =
            (&mut status, &self.record.cgroup)
        {
            if limits::oom_kills(cgroup) > 0 {
                reason.push_str(&format!(
                    ": out of memory (the class allows {} MiB)",
                    self.record.memory_bytes.div_ceil(1024 * 1024)
                ));
            }
        }
        status
    }
}

/// Deletes what a submission created if it fails before the end.
#[derive(Default)]
struct Undo {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    cgroup: Option<PathBuf>,
    done: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for file in &self.files {
            let _ = state::remove_if_present(file);
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = fs_err::remove_dir(cgroup);
        }
        for dir in &self.dirs {
            let _ = fs_err::remove_dir_all(dir);
        }
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
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(backend)?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(backend)
}

/// Kills a wrapper whose submission failed after it started, and waits for it.
async fn abandon(mut child: tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.start_kill();
    let _ = tokio::time::timeout(KILL_WAIT, child.wait()).await;
}

#[async_trait]
impl Executor for LocalExecutor {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            limits: self.limits.describe(),
            gpus: self.gpus.clone(),
            isolation: self.isolation(),
        }
    }

    async fn submit(&self, spec: WorkloadSpec) -> ExecResult<WorkloadHandle> {
        spec.validate()?;
        let _submitting = self.submitting.lock().await;
        let id = spec.id.clone();
        let state_file = self.layout.state_file(&id);
        if self.table().contains_key(&id) || state_file.try_exists().map_err(backend)? {
            return Err(ExecError::AlreadyExists(id));
        }
        let (program, args) = spec
            .command
            .split_first()
            .expect("validated: has a program");
        // A sandboxed workload never gets the server's PATH (it may point into the
        // server's home): the system's, unless the spec names one.
        let path = match (spec.env.get("PATH"), &self.sandbox) {
            (Some(path), _) => path.clone(),
            (None, Some(_)) => crate::sandbox::SYSTEM_PATH.to_string(),
            (None, None) => std::env::var("PATH").unwrap_or_default(),
        };
        // In a container the image's PATH finds the program.
        let program_path = match &self.podman {
            Some(_) => PathBuf::from(program),
            None => resolve_program(program, &path)?,
        };
        if let Some(dir) = &spec.working_dir {
            if !dir.is_dir() {
                return Err(ExecError::CannotStart {
                    command: program.clone(),
                    reason: format!("the working directory `{}` does not exist", dir.display()),
                });
            }
        }
        let gpus = self.allocate_gpus(spec.resources.gpus)?;
        let mut ports = BTreeMap::new();
        for name in &spec.ports {
            ports.insert(name.clone(), free_port()?);
        }

        let mut undo = Undo::default();
        let working_dir = match &spec.working_dir {
            // Absolute: the sandbox resolves it after changing directory.
            Some(dir) => std::path::absolute(dir).map_err(backend)?,
            None => {
                let dir = self.layout.work_dir(&id);
                if !dir.try_exists().map_err(backend)? {
                    fs_err::create_dir_all(&dir).map_err(backend)?;
                    undo.dirs.push(dir.clone());
                }
                dir
            }
        };
        // Left by an earlier workload of the same id, removed half-way.
        let exit_file = self.layout.exit_file(&id);
        state::remove_if_present(&exit_file).map_err(backend)?;
        undo.files.push(exit_file.clone());
        let log = self.layout.log_file(&id);
        let log_file = fs_err::File::create(&log).map_err(backend)?;
        undo.files.push(log.clone());
        let (log_file, _) = log_file.into_parts();
        let stderr = log_file.try_clone().map_err(backend)?;
        let cgroup = match &self.limits {
            Limits::Cgroups { workloads } => {
                let dir = limits::create_workload_cgroup(workloads, &id, &spec.resources)
                    .map_err(backend)?;
                undo.cgroup = Some(dir.clone());
                Some(dir)
            }
            Limits::Rlimits { .. } => None,
        };
        let memory_kib = match &self.limits {
            Limits::Cgroups { .. } => None,
            Limits::Rlimits { .. } => limits::rlimit_kib(spec.resources.memory_bytes),
        };
        let prepared = match &self.sandbox {
            Some(sandbox) => {
                let mut created = Vec::new();
                let prepared = sandbox.prepare(
                    &self.layout,
                    &spec,
                    &program_path,
                    &working_dir,
                    &log,
                    &mut created,
                );
                for path in created {
                    if path.is_dir() {
                        undo.dirs.push(path);
                    } else {
                        undo.files.push(path);
                    }
                }
                Some(prepared?)
            }
            None => None,
        };
        let cgroup_procs = cgroup.as_ref().map(|dir| dir.join("cgroup.procs"));
        let options = WrapperOptions {
            exit_file: &exit_file,
            cgroup_procs: cgroup_procs.as_deref(),
            memory_kib,
            restart: spec.restart,
            first_backoff: self.first_backoff,
            max_backoff: self.max_backoff,
        };

        // Put back should someone have deleted it since the executor started.
        let wrapper_file = self.layout.wrapper_file();
        wrapper::install(&wrapper_file).map_err(backend)?;
        // In a container, everything the workload gets goes into its env file.
        let container = match &self.podman {
            Some(podman) => {
                let mut env = spec.env.clone();
                env.extend(spec.secret_env.clone());
                for (name, port) in &ports {
                    env.insert(port_variable(name), port.to_string());
                }
                for (name, value) in &gpus.environment {
                    env.insert((*name).to_string(), value.clone());
                }
                let mut created = Vec::new();
                let prepared =
                    podman.prepare(&self.layout, &spec, &working_dir, &log, &env, &mut created);
                undo.files.extend(created);
                Some(prepared?)
            }
            None => None,
        };
        // Sandboxed: `launcher sandbox exec --plan FILE -- PROGRAM ARGS…`; in a
        // container: `podman run … IMAGE PROGRAM ARGS…`.
        let (program_arguments, program_file): (Vec<std::ffi::OsString>, &Path) =
            match (&prepared, &container) {
                (_, Some((podman, arguments))) => (arguments.clone(), podman.as_path()),
                (Some(prepared), None) => {
                    let mut arguments = prepared.prefix[1..].to_vec();
                    arguments.push(program_path.clone().into());
                    arguments.extend(args.iter().map(std::ffi::OsString::from));
                    (arguments, Path::new(&prepared.prefix[0]))
                }
                (None, None) => (
                    args.iter().map(std::ffi::OsString::from).collect(),
                    &program_path,
                ),
            };
        let mut command = tokio::process::Command::new(SHELL);
        command
            .arg(&wrapper_file)
            .args(wrapper::wrapper_arguments(
                &options,
                program_file,
                &program_arguments,
            ))
            .current_dir(&working_dir)
            .env_clear();
        for name in INHERITED_ENV {
            // A sandboxed workload gets its own PATH, HOME and TMPDIR.
            if prepared.is_some() && matches!(*name, "PATH" | "HOME" | "TMPDIR") {
                continue;
            }
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        if container.is_some() {
            // The podman client's own; the workload's are in its env file.
            command.envs(Podman::client_environment());
        } else {
            if let Some(prepared) = &prepared {
                command.envs(&prepared.defaults);
            }
            command.envs(&spec.env).envs(&spec.secret_env);
            if let Some(prepared) = &prepared {
                command.envs(&prepared.overrides);
            }
            for (name, port) in &ports {
                command.env(port_variable(name), port.to_string());
            }
            command.envs(gpus.environment);
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(false);
        let child = command.spawn().map_err(|error| ExecError::CannotStart {
            command: program.clone(),
            reason: format!("cannot run the wrapper shell {SHELL}: {error}"),
        })?;

        let started = child
            .id()
            .and_then(|pid| Some((pid, state::process_stat(pid)?.start_time)));
        let Some((pid, start_time)) = started else {
            abandon(child).await;
            return Err(ExecError::CannotStart {
                command: program.clone(),
                reason: "its process vanished as it started".to_string(),
            });
        };
        let record = WorkloadRecord {
            id: id.clone(),
            name: spec.name.clone(),
            pid,
            process_group: i32::try_from(pid).unwrap_or_default(),
            start_time,
            log,
            ports: ports.clone(),
            kind: spec.kind,
            restart: spec.restart,
            created: chrono::Utc::now(),
            gpus: gpus.indices,
            cgroup,
            memory_bytes: spec.resources.memory_bytes,
            stop_requested: false,
        };
        if let Err(error) = state::write_record(&self.layout, &record, false) {
            abandon(child).await;
            return Err(if error.kind() == std::io::ErrorKind::AlreadyExists {
                ExecError::AlreadyExists(id)
            } else {
                backend(error)
            });
        }
        undo.done = true;

        let stop_requested = Arc::new(AtomicBool::new(false));
        let (status_tx, status_rx) = watch::channel(WorkloadStatus::Running { pid: Some(pid) });
        let watcher = Watcher {
            layout: self.layout.clone(),
            record: record.clone(),
            stop_requested: Arc::clone(&stop_requested),
        };
        tokio::spawn(watcher.watch_child(child, status_tx));
        tracing::info!(workload = %id, name = %spec.name, program = %program_path.display(), pid, gpus = ?record.gpus, "workload started");
        self.table().insert(
            id.clone(),
            Entry {
                record,
                status: status_rx,
                stop_requested,
            },
        );
        Ok(WorkloadHandle { id, ports })
    }

    async fn status(&self, handle: &WorkloadHandle) -> ExecResult<WorkloadStatus> {
        let entry = self.load(&handle.id)?;
        let status = entry.status.borrow().clone();
        Ok(status)
    }

    async fn watch(
        &self,
        handle: &WorkloadHandle,
    ) -> ExecResult<BoxStream<'static, ExecResult<WorkloadStatus>>> {
        let status = self.load(&handle.id)?.status;
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
        let entry = self.load(&handle.id)?;
        logs::stream_log(&entry.record.log, options, entry.status)
    }

    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> ExecResult<()> {
        let entry = self.load(&handle.id)?;
        let mut status = entry.status.clone();
        if status.borrow().is_finished() {
            return Ok(());
        }
        // Recorded before any signal: however the process then ends, it was stopped, even
        // if this server dies before it sees the end.
        entry.stop_requested.store(true, Ordering::SeqCst);
        if let Some(mut record) = state::read_record(&self.layout, &handle.id).map_err(backend)? {
            if !record.stop_requested {
                record.stop_requested = true;
                state::write_record(&self.layout, &record, true).map_err(backend)?;
            }
        }
        let (pid, start_time) = (entry.record.pid, entry.record.start_time);
        let group = Pid::from_raw(entry.record.process_group);
        // Only while the leader is the recorded process: a group id can be reused too.
        if state::process_alive(pid, start_time) {
            let _ = killpg(group, Signal::SIGTERM);
        }
        let ended_in_grace =
            tokio::time::timeout(grace, status.wait_for(WorkloadStatus::is_finished))
                .await
                .is_ok_and(|waited| waited.is_ok());
        if !ended_in_grace {
            tracing::warn!(workload = %handle.id, grace_ms = grace.as_millis() as u64, "workload ignored SIGTERM; sending SIGKILL");
            if state::process_alive(pid, start_time) {
                let _ = killpg(group, Signal::SIGKILL);
            }
            if let Some(cgroup) = &entry.record.cgroup {
                if let Ok(mut file) = fs_err::OpenOptions::new()
                    .write(true)
                    .open(cgroup.join("cgroup.kill"))
                {
                    let _ = std::io::Write::write_all(&mut file, b"1");
                }
            }
            let waited =
                tokio::time::timeout(KILL_WAIT, status.wait_for(WorkloadStatus::is_finished)).await;
            if waited.is_err() {
                tracing::warn!(workload = %handle.id, "workload still there 30 s after SIGKILL");
            }
        }
        // Whatever the leader left behind in its group goes too.
        let _ = killpg(group, Signal::SIGKILL);
        if let Some(podman) = &self.podman {
            // The container outlives a killed client.
            podman.remove(&handle.id).await;
        }
        Ok(())
    }

    async fn list(&self) -> ExecResult<Vec<WorkloadHandle>> {
        Ok(self
            .state_ids()?
            .into_iter()
            .map(|id| {
                let ports = match state::read_record(&self.layout, &id) {
                    Ok(Some(record)) => record.ports,
                    _ => BTreeMap::new(),
                };
                WorkloadHandle { id, ports }
            })
            .collect())
    }

    async fn remove(&self, handle: &WorkloadHandle) -> ExecResult<()> {
        let entry = self.load(&handle.id)?;
        if !entry.status.borrow().is_finished() {
            return Err(ExecError::InvalidSpec {
                field: "id",
                reason: format!("workload `{}` is still running; stop it first", handle.id),
            });
        }
        state::remove_if_present(&self.layout.state_file(&handle.id)).map_err(backend)?;
        state::remove_if_present(&self.layout.exit_file(&handle.id)).map_err(backend)?;
        self.remove_isolation_files(&handle.id)?;
        if let Some(cgroup) = &entry.record.cgroup {
            limits::remove_workload_cgroup(cgroup).await;
        }
        self.table().remove(&handle.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
