//! How a workload's resource class is enforced on this machine: per-workload cgroups v2
//! (`cpu.max`, `memory.max`) when the server can manage a cgroup subtree, else an rlimit
//! on the address space (memory only: rlimits cannot cap CPU use).
//!
//! The decisions and file contents are pure functions; the probing works on any cgroup2
//! root, so tests run it against a fake one in a temporary folder.

use std::path::{Path, PathBuf};

use crate::Resources;

/// The cgroup v2 period `cpu.max` quotas are given in, in microseconds.
const CPU_PERIOD_MICROS: u64 = 100_000;
/// The kernel refuses quotas below a millisecond.
const MIN_CPU_QUOTA_MICROS: u64 = 1_000;
/// The sub-cgroup of the server's own cgroup that holds one cgroup per workload.
pub(super) const WORKLOADS_CGROUP: &str = "plinth-workloads";
/// The leaf cgroup the server moves itself into when its own cgroup must stay free of
/// processes to hand controllers down (cgroups v2 "no internal processes" rule).
const SERVER_CGROUP: &str = "plinth-server";
/// Where the cgroup2 hierarchy lives on a unified (v2-only) system.
const STANDARD_MOUNT: &str = "/sys/fs/cgroup";

/// How limits are enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Limits {
    /// One cgroup per workload under this folder (`…/plinth-workloads`).
    Cgroups {
        /// The `plinth-workloads` cgroup.
        workloads: PathBuf,
    },
    /// `ulimit -v` for memory; CPU is not capped.
    Rlimits {
        /// Why cgroups v2 cannot be used, in words.
        reason: String,
    },
}

impl Limits {
    /// The `capabilities().limits` text.
    pub(super) fn describe(&self) -> String {
        match self {
            Limits::Cgroups { workloads } => format!(
                "cgroups v2 (cpu.max and memory.max per workload, under {})",
                workloads.display()
            ),
            Limits::Rlimits { reason } => format!(
                "rlimits (cgroups v2 unavailable: {reason}); memory is capped by the address-space limit, CPU is not capped"
            ),
        }
    }
}

/// The content of a workload cgroup's `cpu.max`: the quota per 100 ms period, or `max`.
pub(super) fn cpu_max(cpu_millis: u32) -> String {
    if cpu_millis == 0 {
        return "max".to_string();
    }
    let quota = (u64::from(cpu_millis) * CPU_PERIOD_MICROS / 1000).max(MIN_CPU_QUOTA_MICROS);
    format!("{quota} {CPU_PERIOD_MICROS}")
}

/// The content of a workload cgroup's `memory.max`: bytes, or `max`.
pub(super) fn memory_max(memory_bytes: u64) -> String {
    if memory_bytes == 0 {
        "max".to_string()
    } else {
        memory_bytes.to_string()
    }
}

/// The `ulimit -v` value (KiB, rounded up) for a memory limit; `None` for unlimited.
pub(super) fn rlimit_kib(memory_bytes: u64) -> Option<u64> {
    (memory_bytes > 0).then(|| memory_bytes.div_ceil(1024))
}

/// Returns the mount points of cgroup2 file systems in `/proc/self/mountinfo`, the standard
/// one first.
pub(super) fn cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE OPTIONS`
            let (before, after) = line.split_once(" - ")?;
            let fs_type = after.split_whitespace().next()?;
            let mount_point = before.split_whitespace().nth(4)?;
            (fs_type == "cgroup2").then(|| PathBuf::from(unescape_mount_point(mount_point)))
        })
        .collect();
    mounts.sort_by_key(|mount| mount != Path::new(STANDARD_MOUNT));
    mounts
}

/// Mountinfo escapes spaces, tabs, newlines and backslashes as octal (`\040`).
fn unescape_mount_point(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// What `/sys/fs/cgroup` is, according to mountinfo, when it is not cgroup2.
fn standard_mount_kind(mountinfo: &str) -> &'static str {
    let mut under_it_v1 = false;
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fs_type = after.split_whitespace().next().unwrap_or_default();
        let mount_point = before.split_whitespace().nth(4).unwrap_or_default();
        if fs_type == "cgroup"
            && (mount_point == STANDARD_MOUNT
                || mount_point.starts_with(&format!("{STANDARD_MOUNT}/")))
        {
            under_it_v1 = true;
        }
    }
    if under_it_v1 {
        "/sys/fs/cgroup is cgroup v1"
    } else {
        "no cgroup2 file system is mounted"
    }
}

/// Returns this process's cgroup v2 path from `/proc/self/cgroup` (the `0::/path` line).
pub(super) fn own_cgroup(proc_self_cgroup: &str) -> Option<String> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim().to_string())
}

/// The cgroup whose children the server manages: its own, or the parent of `plinth-server`
/// when an earlier executor in this process already moved the process there.
fn managed_cgroup(mount: &Path, own: &str) -> PathBuf {
    let own = own.trim_start_matches('/');
    let own = match own.rsplit_once('/') {
        Some((parent, SERVER_CGROUP)) => parent,
        None if own == SERVER_CGROUP => "",
        _ => own,
    };
    if own.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(own)
    }
}

/// The controllers missing from a `cgroup.controllers` (or `cgroup.subtree_control`) text.
pub(super) fn missing_controllers(controllers: &str) -> Vec<&'static str> {
    ["cpu", "memory"]
        .into_iter()
        .filter(|wanted| {
            !controllers
                .split_whitespace()
                .any(|present| present.trim_start_matches('+') == *wanted)
        })
        .collect()
}

/// Decides how limits are enforced, from the texts of `/proc/self/mountinfo` and
/// `/proc/self/cgroup`: the first cgroup2 hierarchy that can be prepared wins.
pub(super) fn probe(mountinfo: &str, proc_self_cgroup: &str) -> Limits {
    let mounts = cgroup2_mounts(mountinfo);
    if mounts.is_empty() {
        return Limits::Rlimits {
            reason: standard_mount_kind(mountinfo).to_string(),
        };
    }
    let Some(own) = own_cgroup(proc_self_cgroup) else {
        return Limits::Rlimits {
            reason: "this process is in no cgroup v2 (no `0::` line in /proc/self/cgroup)"
                .to_string(),
        };
    };
    let mut reasons = Vec::new();
    if mounts[0] != Path::new(STANDARD_MOUNT) {
        reasons.push(standard_mount_kind(mountinfo).to_string());
    }
    for mount in &mounts {
        match prepare(mount, &own) {
            Ok(workloads) => return Limits::Cgroups { workloads },
            Err(why) => reasons.push(format!(
                "the cgroup2 hierarchy at {} {why}",
                mount.display()
            )),
        }
    }
    Limits::Rlimits {
        reason: reasons.join("; "),
    }
}

/// Prepares `<own cgroup>/plinth-workloads` under the cgroup2 hierarchy mounted at `mount`,
/// with the cpu and memory controllers handed down to the per-workload cgroups below it.
/// Fails with the reason, in words, completing "the cgroup2 hierarchy at … ".
pub(super) fn prepare(mount: &Path, own: &str) -> Result<PathBuf, String> {
    let managed = managed_cgroup(mount, own);
    let controllers = fs_err::read_to_string(managed.join("cgroup.controllers"))
        .map_err(|error| format!("cannot be read ({error})"))?;
    let missing = missing_controllers(&controllers);
    if !missing.is_empty() {
        return Err(format!(
            "offers no {} controller to this process's cgroup `{}`",
            missing.join(" or "),
            own
        ));
    }
    let workloads = managed.join(WORKLOADS_CGROUP);
    fs_err::create_dir_all(&workloads)
        .map_err(|error| format!("does not let this process create a cgroup ({error})"))?;
    enable_controllers(&managed)?;
    // `plinth-workloads` holds no process, so it may always hand its controllers down.
    fs_err::write(workloads.join("cgroup.subtree_control"), "+cpu +memory").map_err(|error| {
        format!("does not let this process enable cpu and memory for workloads ({error})")
    })?;
    Ok(workloads)
}

/// Enables cpu and memory in `managed`'s `cgroup.subtree_control`. A cgroup that has
/// processes cannot (except the root); when it is busy because this server is in it, the
/// server moves itself into the leaf `plinth-server` first, as systemd asks of services
/// that are delegated a cgroup.
fn enable_controllers(managed: &Path) -> Result<(), String> {
    let subtree_control = managed.join("cgroup.subtree_control");
    if fs_err::read_to_string(&subtree_control)
        .is_ok_and(|enabled| missing_controllers(&enabled).is_empty())
    {
        return Ok(());
    }
    let cannot = |error: std::io::Error| {
        format!("does not let this process enable cpu and memory for child cgroups ({error})")
    };
    match fs_err::write(&subtree_control, "+cpu +memory") {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::ResourceBusy => {
            let server = managed.join(SERVER_CGROUP);
            fs_err::create_dir_all(&server).map_err(cannot)?;
            fs_err::write(
                server.join("cgroup.procs"),
                std::process::id().to_string(),
            )
            .map_err(|error| {
                format!("does not let this process leave its cgroup, which must hold no process to hand controllers down ({error})")
            })?;
            tracing::info!(cgroup = %server.display(), "moved the server into its own leaf cgroup to manage workload cgroups");
            fs_err::write(&subtree_control, "+cpu +memory").map_err(|error| {
                if error.kind() == std::io::ErrorKind::ResourceBusy {
                    format!(
                        "cannot hand controllers down: other processes share this process's cgroup `{}`",
                        managed.display()
                    )
                } else {
                    cannot(error)
                }
            })
        }
        Err(error) => Err(cannot(error)),
    }
}

/// Creates the cgroup of workload `id` with its limits; returns its folder.
pub(super) fn create_workload_cgroup(
    workloads: &Path,
    id: &str,
    resources: &Resources,
) -> std::io::Result<PathBuf> {
    let dir = workloads.join(id);
    fs_err::create_dir_all(&dir)?;
    let written = (|| {
        fs_err::write(dir.join("cpu.max"), cpu_max(resources.cpu_millis))?;
        fs_err::write(dir.join("memory.max"), memory_max(resources.memory_bytes))?;
        if resources.memory_bytes > 0 {
            // With swap the limit would page instead of failing; the file only exists when
            // swap is accounted, so it is not created.
            match fs_err::OpenOptions::new()
                .write(true)
                .open(dir.join("memory.swap.max"))
            {
                Ok(mut file) => std::io::Write::write_all(&mut file, b"0")?,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    })();
    if let Err(error) = written {
        let _ = fs_err::remove_dir(&dir);
        return Err(error);
    }
    Ok(dir)
}

/// Returns how many times the kernel killed a process of the cgroup for lack of memory.
pub(super) fn oom_kills(cgroup: &Path) -> u64 {
    fs_err::read_to_string(cgroup.join("memory.events"))
        .ok()
        .and_then(|events| {
            events.lines().find_map(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|count| count.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Removes a workload's cgroup after it ended. Processes the workload left behind in it
/// are killed first (`cgroup.kill`), and removal is retried while they go.
pub(super) async fn remove_workload_cgroup(cgroup: &Path) {
    for attempt in 0..50 {
        match fs_err::remove_dir(cgroup) {
            Ok(()) => return,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) if error.kind() == std::io::ErrorKind::ResourceBusy => {
                if attempt == 0 {
                    // Only on kernels with `cgroup.kill` (5.14+); never created here.
                    if let Ok(mut file) = fs_err::OpenOptions::new()
                        .write(true)
                        .open(cgroup.join("cgroup.kill"))
                    {
                        let _ = std::io::Write::write_all(&mut file, b"1");
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => {
                tracing::warn!(cgroup = %cgroup.display(), %error, "cannot remove the workload's cgroup");
                return;
            }
        }
    }
    tracing::warn!(cgroup = %cgroup.display(), "the workload's cgroup still has processes; left in place");
}
