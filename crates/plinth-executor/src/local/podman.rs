//! A podman container per workload (`runtime.local.isolation = "podman"`): the strongest
//! local isolation, for those who want it. The wrapper runs `podman run` in the
//! foreground instead of the program (so restarts, exit codes, logs and stops work as for
//! any local workload); the container has its image's read-only root file system, only
//! the working folder mounted, its own PID, IPC and UTS namespaces, no capabilities,
//! `no-new-privileges`, and — when the server runs as root — the project's own uid.
//! The host network is shared, so allocated ports and the platform's URL work unchanged.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::sandboxing;
use super::state::Layout;
use crate::{ExecError, ExecResult, Isolation, IsolationLevel, Mechanism, WorkloadSpec};

/// How the local executor runs workloads in podman containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodmanSettings {
    /// The `podman` program.
    pub program: PathBuf,
    /// The image a workload runs in when its spec names none.
    pub default_image: String,
    /// The first uid (and gid) projects' users are taken from, and how many there are
    /// (used when the server runs as root).
    pub uid_range: (u32, u32),
    /// Host paths mounted read-only at the same place in every container (a shared
    /// Python environment, datasets): `runtime.local.sandbox.read_only_paths`.
    pub read_only_paths: Vec<PathBuf>,
}

/// Variables of the server's environment the podman client itself needs.
const PODMAN_ENV: &[&str] = &[
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// Podman as this executor uses it.
#[derive(Debug)]
pub(super) struct Podman {
    settings: PodmanSettings,
    root: bool,
    isolation: Isolation,
}

impl Podman {
    /// Checks that podman runs here; fails with its answer when it does not.
    pub(super) fn check(settings: PodmanSettings) -> ExecResult<Podman> {
        let output = std::process::Command::new(&settings.program)
            .args(["version", "--format", "{{.Client.Version}}"])
            .output()
            .map_err(|error| {
                ExecError::Backend(Box::new(std::io::Error::other(format!(
                    "runtime.local.isolation = \"podman\", but `{}` cannot run: {error}",
                    settings.program.display()
                ))))
            })?;
        if !output.status.success() {
            return Err(ExecError::Backend(Box::new(std::io::Error::other(
                format!(
                    "runtime.local.isolation = \"podman\", but `{} version` failed: {}",
                    settings.program.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ))));
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let root = nix::unistd::geteuid().is_root();
        let identity = if root {
            format!(
                "each project's containers run as its own uid and gid (from {}), never as root",
                settings.uid_range.0
            )
        } else {
            "rootless podman: containers run in the user's own user namespace".to_string()
        };
        let isolation = Isolation {
            level: IsolationLevel::Full,
            summary: format!("workloads run in podman {version} containers"),
            mechanisms: vec![
                Mechanism {
                    name: "container".to_string(),
                    active: true,
                    detail: "a podman container per workload: the image's read-only root file system, only its working folder mounted, private /tmp".to_string(),
                },
                Mechanism {
                    name: "identity".to_string(),
                    active: true,
                    detail: identity,
                },
                Mechanism {
                    name: "processes".to_string(),
                    active: true,
                    detail: "its own PID, IPC and UTS namespaces".to_string(),
                },
                Mechanism {
                    name: "privileges".to_string(),
                    active: true,
                    detail: "every capability dropped, no-new-privileges".to_string(),
                },
            ],
        };
        Ok(Podman {
            settings,
            root,
            isolation,
        })
    }

    pub(super) fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// The container's name.
    pub(super) fn container(id: &str) -> String {
        format!("plinth-{id}")
    }

    /// The variables of the server's environment the podman client needs.
    pub(super) fn client_environment() -> impl Iterator<Item = (&'static str, String)> {
        PODMAN_ENV
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
    }

    /// The `podman run …` command line for `spec`, whose environment (`env`) goes into
    /// an env file only the server can read. Records what it creates in `created`.
    pub(super) fn prepare(
        &self,
        layout: &Layout,
        spec: &WorkloadSpec,
        working_dir: &Path,
        log: &Path,
        env: &BTreeMap<String, String>,
        created: &mut Vec<PathBuf>,
    ) -> ExecResult<(PathBuf, Vec<OsString>)> {
        let id = &spec.id;
        let mut arguments: Vec<OsString> = vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            Self::container(id).into(),
            "--label".into(),
            format!("plinth.dev/workload={id}").into(),
            "--network".into(),
            "host".into(),
            "--read-only".into(),
            "--security-opt".into(),
            "no-new-privileges".into(),
            "--cap-drop".into(),
            "all".into(),
            "--log-driver".into(),
            "passthrough".into(),
            "--pids-limit".into(),
            "8192".into(),
        ];
        if self.root {
            let uid = sandboxing::project_uid(layout, &spec.project, self.settings.uid_range)?;
            sandboxing::chown_tree(working_dir, uid, uid)?;
            sandboxing::chown(log, uid, uid)?;
            arguments.push("--user".into());
            arguments.push(format!("{uid}:{uid}").into());
        } else {
            arguments.push("--userns".into());
            arguments.push("keep-id".into());
        }
        let work = working_dir.display().to_string();
        arguments.push("--volume".into());
        arguments.push(format!("{work}:{work}:rw").into());
        arguments.push("--workdir".into());
        arguments.push(work.clone().into());
        for path in &self.settings.read_only_paths {
            let path = path.display();
            arguments.push("--volume".into());
            arguments.push(format!("{path}:{path}:ro").into());
        }
        for mount in &spec.mounts {
            let path = mount.path.display();
            let mode = if mount.writable { "rw" } else { "ro" };
            arguments.push("--volume".into());
            arguments.push(format!("{path}:{path}:{mode}").into());
        }
        if spec.resources.memory_bytes > 0 {
            arguments.push("--memory".into());
            arguments.push(format!("{}b", spec.resources.memory_bytes).into());
        }
        if spec.resources.cpu_millis > 0 {
            arguments.push("--cpus".into());
            arguments.push(format!("{:.3}", f64::from(spec.resources.cpu_millis) / 1000.0).into());
        }
        let env_file = layout.state_dir().join(format!("{id}.env"));
        let mut text = String::new();
        let mut env = env.clone();
        env.entry("HOME".to_string())
            .or_insert_with(|| work.clone());
        for (name, value) in &env {
            if value.contains('\n') {
                return Err(ExecError::InvalidSpec {
                    field: "env",
                    reason: format!(
                        "`{name}` holds a line break, which podman's env files cannot carry"
                    ),
                });
            }
            text.push_str(&format!("{name}={value}\n"));
        }
        // Holds the workload's token: the server's user alone reads it.
        sandboxing::write_private(&env_file, text.as_bytes(), 0o600)?;
        created.push(env_file.clone());
        arguments.push("--env-file".into());
        arguments.push(env_file.into());
        let image = spec
            .image
            .clone()
            .unwrap_or_else(|| self.settings.default_image.clone());
        arguments.push(image.into());
        arguments.extend(spec.command.iter().map(OsString::from));
        Ok((self.settings.program.clone(), arguments))
    }

    /// Removes the workload's container at once, if it is still there (after the wrapper
    /// and the podman client were killed).
    pub(super) async fn remove(&self, id: &str) {
        let _ = tokio::process::Command::new(&self.settings.program)
            .args(["rm", "--force", "--time", "0", "--ignore"])
            .arg(Self::container(id))
            .envs(Self::client_environment())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
    }
}
