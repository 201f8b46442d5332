//! The sandbox every local workload runs in, so that a job sees its own files and the API —
//! nothing of the platform or of other projects.
//!
//! The server never runs user code itself. The local executor writes a [`SandboxPlan`]
//! (`state/<id>.sandbox.json`) and starts `plinth sandbox exec --plan FILE -- PROGRAM…`
//! (the same binary, [`exec_main`]), which sets the sandbox up and becomes the program:
//!
//! 1. **Namespaces.** As root it unshares a mount, PID, IPC and UTS namespace; as any
//!    other user it first unshares a user namespace mapping the server's uid to root inside
//!    (so it may mount). It then starts `plinth sandbox init` ([`init_main`]), the first
//!    process of the new PID namespace, and waits for it.
//! 2. **Mounts** (in `init`): mount propagation off, a fresh `/proc` showing only the
//!    workload's processes, a private `/tmp` and `/var/tmp` (its own folder) and
//!    `/dev/shm`, the generated `/etc/passwd` and `/etc/group` naming its user; then every
//!    hidden path (the data directory, the configuration file, secret files) is covered — a
//!    folder by an empty read-only tmpfs, a file by `/dev/null` — and the workload's own
//!    folder is put back at the same path.
//! 3. **Identity.** As root, the program runs as the project's own uid and gid (from
//!    `runtime.local.sandbox.uid_range`, one per project, recorded in `state/uids.json`)
//!    with no supplementary groups; in a user namespace, as root of that namespace with an
//!    empty capability bounding set, so it holds no capability at all.
//! 4. **`no_new_privs` and Landlock**: no setuid binary can raise privileges; the file
//!    system is an allow-list (system folders read-only, its own folder, private
//!    temporary folder and log read-write, a few devices); with Landlock ABI 6 it cannot
//!    signal processes outside its domain or reach their abstract sockets; Landlock also
//!    keeps it from tracing any process outside its domain and from changing mounts.
//!
//! Where namespaces are impossible (no root, no user namespaces), `exec` applies
//! `no_new_privs` and Landlock itself and then runs the program; where Landlock is missing
//! too, nothing holds. The executor learns once, at start, what this machine allows
//! ([`probe_main`], run as `plinth sandbox probe`), and every plan then demands exactly
//! that: a launch that cannot set up what the probe found fails (exit code 125, a line in
//! the workload's log) instead of running the program with less.
//!
//! This module is synchronous on purpose: a process that unshared a user namespace must
//! be single-threaded, and one that unshared a PID namespace can no longer start threads.

mod launch;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use launch::{exec_main, init_main, probe_main, probe_restrictions, probe_stage};

use crate::{Isolation, IsolationLevel, Mechanism};

/// Keeps processes of the same user (a workload where the sandbox is partial) out of the
/// server's memory, environment and file descriptors: the server is not dumpable, so
/// `/proc/<pid>/environ`, `mem` and `fd` and `ptrace` need `CAP_SYS_PTRACE`.
pub fn protect_server_process() {
    if let Err(error) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(%error, "cannot make the server non-dumpable");
    }
}

/// The exit code of a launch that could not set the sandbox up (as `env` and shells use
/// 125 for "the launcher failed, the program never ran").
pub const LAUNCH_FAILED: i32 = 125;

/// Folders every workload may read and execute: the system's programs and libraries and
/// its configuration (which holds nothing of the platform's: the server's own files are
/// covered by the mount namespace, and are 0600 besides).
pub const SYSTEM_READ_ONLY: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys",
];

/// Devices every workload may read and write.
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
];

/// The `PATH` a sandboxed workload gets when its spec names none: the system's, never the
/// server's (which may point into the server's home).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the launcher needs to sandbox one workload: what it may see, as whom it runs.
/// Written by the executor; read by `plinth sandbox exec` and `plinth sandbox init`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPlan {
    /// Whom the program runs as.
    pub identity: PlanIdentity,
    /// Set up the mount, PID, IPC and UTS namespaces (in a user namespace when not root);
    /// a launch that cannot fails.
    pub namespaces: bool,
    /// Apply Landlock; a launch where the kernel enforces none of it fails.
    pub landlock: bool,
    /// The host name inside the UTS namespace.
    pub hostname: String,
    /// The working folder: read-write, and the program's current directory.
    pub work_dir: PathBuf,
    /// The workload's private temporary folder: read-write; mounted on `/tmp` and
    /// `/var/tmp` inside the namespaces.
    pub tmp_dir: PathBuf,
    /// The log file the program's output goes to (writable again through `/dev/stdout`).
    pub log_file: Option<PathBuf>,
    /// Readable and executable paths (folders or files).
    pub read_only: Vec<PathBuf>,
    /// Further read-write paths.
    pub read_write: Vec<PathBuf>,
    /// Device files the program may read and write.
    pub devices: Vec<PathBuf>,
    /// Paths covered in the mount namespace: a folder by an empty read-only tmpfs, a file
    /// by `/dev/null`. The workload's own paths under them are put back.
    pub hide: Vec<PathBuf>,
    /// Bound over `/etc/passwd` inside the namespaces.
    pub passwd: Option<PathBuf>,
    /// Bound over `/etc/group` inside the namespaces.
    pub group: Option<PathBuf>,
}

/// Whom a sandboxed program runs as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanIdentity {
    /// The launcher's own user: root of a user namespace mapped to the server's uid (with
    /// no capabilities), or the server's uid itself when there are no namespaces.
    #[default]
    Launcher,
    /// This uid and gid, with no supplementary groups (the launcher runs as root).
    User {
        /// The uid.
        uid: u32,
        /// The gid.
        gid: u32,
    },
}

impl SandboxPlan {
    /// Reads a plan file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = fs_err::read_to_string(path).map_err(|error| error.to_string())?;
        serde_json::from_str(&text)
            .map_err(|error| format!("`{}` is not a sandbox plan: {error}", path.display()))
    }

    /// The paths the mount namespace covers, without those inside another covered folder
    /// (already hidden with it), shortest first.
    pub(crate) fn effective_hide(&self) -> Vec<PathBuf> {
        let mut hide: Vec<PathBuf> = self.hide.clone();
        hide.sort();
        hide.dedup();
        let mut kept: Vec<PathBuf> = Vec::new();
        for path in hide {
            if !kept.iter().any(|outer| path.starts_with(outer)) {
                kept.push(path);
            }
        }
        kept
    }
}

/// What `plinth sandbox probe` found this machine allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The server runs as root (workloads get their own uid per project).
    pub root: bool,
    /// Why the namespaces could not be set up; `None` when they were.
    pub namespaces_error: Option<String>,
    /// The namespaces live in a user namespace (the server is not root).
    pub user_namespace: bool,
    /// `/proc` inside shows only the workload's own processes.
    pub own_proc: bool,
    /// The Landlock ABI enforced, when Landlock is enforced.
    pub landlock_abi: Option<i32>,
    /// Why Landlock is not enforced, or only partly.
    pub landlock_note: Option<String>,
    /// `no_new_privs` is set.
    pub no_new_privs: bool,
}

impl ProbeReport {
    /// A report for when the probe itself could not run.
    pub fn failed(reason: String) -> Self {
        ProbeReport {
            root: nix::unistd::geteuid().is_root(),
            namespaces_error: Some(reason.clone()),
            landlock_note: Some(reason),
            ..ProbeReport::default()
        }
    }

    /// What holds, mechanism by mechanism, and how strong the whole is.
    pub fn isolation(&self, uid_range: (u32, u32)) -> Isolation {
        let namespaces = self.namespaces_error.is_none();
        let landlock = self.landlock_abi;
        let signal_scope = landlock.is_some_and(|abi| abi >= 6);
        let mut mechanisms = Vec::new();

        let (identity_active, identity_detail) = if self.root {
            (
                true,
                format!(
                    "each project's workloads run as its own uid and gid (from {} to {}), never as the server's user or root",
                    uid_range.0,
                    uid_range.0.saturating_add(uid_range.1.saturating_sub(1))
                ),
            )
        } else if namespaces {
            (
                true,
                "workloads run in a user namespace, as the server's uid outside with no capabilities inside".to_string(),
            )
        } else {
            (
                false,
                "workloads run as the server's uid: no root to switch users and no user namespaces"
                    .to_string(),
            )
        };
        mechanisms.push(Mechanism {
            name: "identity".to_string(),
            active: identity_active,
            detail: identity_detail,
        });

        let mut files = Vec::new();
        if namespaces {
            files.push("a mount namespace covers the data directory, the configuration and secret files, and gives a private /tmp".to_string());
        }
        match landlock {
            Some(abi) => files.push(format!("Landlock (ABI {abi}) allows only system folders read-only and the workload's own folder, temporary folder and log read-write")),
            None => files.push(format!(
                "no Landlock ({})",
                self.landlock_note.as_deref().unwrap_or("not available")
            )),
        }
        if !namespaces {
            files.push(format!(
                "no mount namespace ({})",
                self.namespaces_error.as_deref().unwrap_or("not available")
            ));
        }
        mechanisms.push(Mechanism {
            name: "filesystem".to_string(),
            active: namespaces || landlock.is_some(),
            detail: files.join("; "),
        });

        let processes_detail = if namespaces && self.own_proc {
            "its own PID namespace and /proc: other processes are invisible and cannot be signalled or traced".to_string()
        } else if signal_scope {
            "Landlock keeps it from signalling or tracing processes outside its sandbox; the server is not dumpable".to_string()
        } else if landlock.is_some() {
            "Landlock keeps it from tracing processes outside its sandbox and the server is not dumpable, but it may signal processes of the same uid (Landlock ABI 6 needed)".to_string()
        } else {
            "no PID namespace and no Landlock: only the server being non-dumpable protects it"
                .to_string()
        };
        mechanisms.push(Mechanism {
            name: "processes".to_string(),
            active: (namespaces && self.own_proc)
                || signal_scope
                || (self.root && landlock.is_some()),
            detail: processes_detail,
        });
        mechanisms.push(Mechanism {
            name: "privileges".to_string(),
            active: self.no_new_privs,
            detail: if self.no_new_privs {
                "no_new_privs: setuid and file capabilities cannot raise privileges".to_string()
            } else {
                "no_new_privs could not be set".to_string()
            },
        });

        let all = mechanisms.iter().all(|mechanism| mechanism.active);
        let any = mechanisms
            .iter()
            .filter(|mechanism| mechanism.name == "filesystem" || mechanism.name == "processes")
            .any(|mechanism| mechanism.active);
        let level = if all {
            IsolationLevel::Full
        } else if any {
            IsolationLevel::Partial
        } else {
            IsolationLevel::None
        };
        let summary = match level {
            IsolationLevel::Full => {
                "workloads run sandboxed: their own identity, file system view and processes"
                    .to_string()
            }
            _ => {
                let missing: Vec<&str> = mechanisms
                    .iter()
                    .filter(|mechanism| !mechanism.active)
                    .map(|mechanism| mechanism.name.as_str())
                    .collect();
                format!(
                    "workloads are only partly sandboxed on this machine (missing: {})",
                    missing.join(", ")
                )
            }
        };
        Isolation {
            level,
            summary,
            mechanisms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_report() -> ProbeReport {
        ProbeReport {
            root: true,
            namespaces_error: None,
            user_namespace: false,
            own_proc: true,
            landlock_abi: Some(7),
            landlock_note: None,
            no_new_privs: true,
        }
    }

    #[test]
    fn root_with_namespaces_and_landlock_is_full() {
        let isolation = root_report().isolation((1_500_000_000, 100_000));
        assert_eq!(isolation.level, IsolationLevel::Full, "{isolation:?}");
        assert!(isolation.mechanisms[0].detail.contains("1500099999"));
    }

    #[test]
    fn a_user_namespace_is_full_too() {
        let report = ProbeReport {
            root: false,
            user_namespace: true,
            ..root_report()
        };
        assert_eq!(report.isolation((1, 1)).level, IsolationLevel::Full);
    }

    #[test]
    fn landlock_alone_is_partial_and_names_what_is_missing() {
        let report = ProbeReport {
            root: false,
            namespaces_error: Some("unshare: Operation not permitted".to_string()),
            own_proc: false,
            ..root_report()
        };
        let isolation = report.isolation((1, 1));
        assert_eq!(isolation.level, IsolationLevel::Partial);
        assert!(
            isolation.summary.contains("identity"),
            "{}",
            isolation.summary
        );
        assert!(isolation.mechanisms[1]
            .detail
            .contains("unshare: Operation not permitted"));
    }

    #[test]
    fn nothing_is_none() {
        let report = ProbeReport::failed("the launcher is missing".to_string());
        let isolation = ProbeReport {
            root: false,
            ..report
        }
        .isolation((1, 1));
        assert_eq!(isolation.level, IsolationLevel::None);
    }

    #[test]
    fn nested_hidden_paths_are_covered_once() {
        let plan = SandboxPlan {
            hide: vec![
                PathBuf::from("/data/plinth.toml"),
                PathBuf::from("/data"),
                PathBuf::from("/etc/plinth/plinth.toml"),
                PathBuf::from("/data"),
            ],
            ..SandboxPlan::default()
        };
        assert_eq!(
            plan.effective_hide(),
            vec![
                PathBuf::from("/data"),
                PathBuf::from("/etc/plinth/plinth.toml")
            ]
        );
    }
}
