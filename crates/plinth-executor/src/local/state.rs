//! What the local backend keeps on disk about each workload, so that a new server process
//! over the same root can pick up what an earlier one started: `state/<id>.json` (written
//! atomically), `state/<id>.exit` (written by the wrapper when the workload ends) and
//! `logs/<id>.log`; plus reading `/proc` to tell whether a recorded process still runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::{RestartPolicy, WorkloadKind};

/// The folders under the executor's root.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// `root` must be absolute: the wrapper writes the exit file from the workload's
    /// working directory.
    pub(super) fn new(root: PathBuf) -> Self {
        debug_assert!(root.is_absolute());
        Layout { root }
    }

    pub(super) fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    pub(super) fn state_file(&self, id: &str) -> PathBuf {
        self.state_dir().join(format!("{id}.json"))
    }

    pub(super) fn exit_file(&self, id: &str) -> PathBuf {
        self.state_dir().join(format!("{id}.exit"))
    }

    pub(super) fn log_file(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{id}.log"))
    }

    pub(super) fn wrapper_file(&self) -> PathBuf {
        self.root.join("wrapper.sh")
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// The workload's private temporary folder (its `/tmp` in the sandbox).
    pub(super) fn tmp_dir(&self, id: &str) -> PathBuf {
        self.root.join("tmp").join(id)
    }

    /// The workload's sandbox plan.
    pub(super) fn plan_file(&self, id: &str) -> PathBuf {
        self.state_dir().join(format!("{id}.sandbox.json"))
    }

    /// The `/etc/passwd` and `/etc/group` the workload sees.
    pub(super) fn user_database_files(&self, id: &str) -> (PathBuf, PathBuf) {
        (
            self.state_dir().join(format!("{id}.passwd")),
            self.state_dir().join(format!("{id}.group")),
        )
    }

    /// Which uid each project's workloads run as.
    pub(super) fn uids_file(&self) -> PathBuf {
        self.state_dir().join("uids.json")
    }

    pub(super) fn work_dir(&self, id: &str) -> PathBuf {
        self.root.join("work").join(id)
    }

    /// Creates the folders.
    pub(super) fn create(&self) -> std::io::Result<()> {
        for dir in ["logs", "work", "state", "tmp"] {
            fs_err::create_dir_all(self.root.join(dir))?;
        }
        Ok(())
    }
}

/// `state/<id>.json`: everything needed to find, watch and stop a workload after the server
/// that started it is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WorkloadRecord {
    /// The workload's id.
    pub(super) id: String,
    /// Its human name.
    pub(super) name: String,
    /// The wrapper shell's pid (it stays the same across restarts).
    pub(super) pid: u32,
    /// The process group everything the workload starts is in (the wrapper leads it).
    pub(super) process_group: i32,
    /// The wrapper's start time, field 22 of `/proc/<pid>/stat` (clock ticks since boot):
    /// a pid reused by another process has another start time.
    pub(super) start_time: u64,
    /// The log file.
    pub(super) log: PathBuf,
    /// The ports allocated, by name.
    pub(super) ports: BTreeMap<String, u16>,
    /// Batch or service.
    pub(super) kind: WorkloadKind,
    /// The restart policy the wrapper applies.
    pub(super) restart: RestartPolicy,
    /// When it was submitted.
    pub(super) created: chrono::DateTime<chrono::Utc>,
    /// The GPU indices allocated to it (held while the process runs).
    #[serde(default)]
    pub(super) gpus: Vec<u32>,
    /// Its cgroup, when limits are enforced by cgroups v2.
    #[serde(default)]
    pub(super) cgroup: Option<PathBuf>,
    /// The memory limit, in bytes (`0` = none), for error messages.
    #[serde(default)]
    pub(super) memory_bytes: u64,
    /// Set (and persisted) before the stop signal is sent: however the process then ends,
    /// the workload was stopped.
    #[serde(default)]
    pub(super) stop_requested: bool,
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a part:
/// a temporary file in the same folder, fsynced, then renamed over `path` (or, with
/// `replace == false`, linked to it, which fails with `AlreadyExists` if `path` exists);
/// then the folder is fsynced so the new name survives a crash.
pub(super) fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = fs_err::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    let placed = written.and_then(|()| {
        if replace {
            fs_err::rename(&temporary, path)
        } else {
            fs_err::hard_link(&temporary, path)
        }
    });
    if !replace || placed.is_err() {
        let _ = fs_err::remove_file(&temporary);
    }
    placed?;
    fs_err::File::open(dir)?.sync_all()
}

/// Reads `state/<id>.json`; `Ok(None)` when there is none.
pub(super) fn read_record(layout: &Layout, id: &str) -> std::io::Result<Option<WorkloadRecord>> {
    let path = layout.state_file(id);
    let text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    serde_json::from_str(&text).map(Some).map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("`{}` is not a workload record: {error}", path.display()),
        )
    })
}

/// Writes `state/<id>.json`: creating it fails if it exists (`replace == false`).
pub(super) fn write_record(
    layout: &Layout,
    record: &WorkloadRecord,
    replace: bool,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    write_atomically(&layout.state_file(&record.id), &bytes, replace)
}

/// Reads the exit code the wrapper left; `Ok(None)` when there is none (or it is unreadable
/// garbage, which only a torn write by something else could produce).
pub(super) fn read_exit_code(path: &Path) -> std::io::Result<Option<i32>> {
    match fs_err::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Removes `path`; one that is already gone is fine.
pub(super) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs_err::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The fields of `/proc/<pid>/stat` the backend needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProcessStat {
    /// `R`, `S`, `D`, `Z` (zombie: ended, not reaped yet), …
    pub(super) state: char,
    /// Field 22: when the process started, in clock ticks since boot.
    pub(super) start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// hold spaces and parentheses, so fields are counted from the last `)`.
pub(super) fn parse_stat(text: &str) -> Option<ProcessStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // The first field after the name is field 3; field 22 is 19 further.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcessStat { state, start_time })
}

/// Reads `/proc/<pid>/stat`; `None` when there is no such process.
pub(super) fn process_stat(pid: u32) -> Option<ProcessStat> {
    let text = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Returns whether the process `pid` that started at `start_time` still runs: it exists
/// (`kill(pid, 0)`), is the same process (not a reused pid) and is not a zombie.
pub(super) fn process_alive(pid: u32, start_time: u64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let exists = match kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    };
    exists
        && process_stat(pid)
            .is_some_and(|stat| stat.start_time == start_time && !matches!(stat.state, 'Z' | 'X'))
}
