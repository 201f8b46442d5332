//! The local executor's side of the sandbox ([`crate::sandbox`]): what the machine allows
//! (probed once, at start), one uid per project, and each workload's plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::unistd::{fchownat, Gid, Uid};

use super::state::{self, Layout};
use crate::sandbox::{
    PlanIdentity, ProbeReport, SandboxPlan, DEVICES, SYSTEM_PATH, SYSTEM_READ_ONLY,
};
use crate::{ExecError, ExecResult, Isolation, IsolationLevel, Mechanism, WorkloadSpec};

/// How the local executor sandboxes workloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The `plinth` binary that runs `plinth sandbox …`: the server's own.
    pub launcher: PathBuf,
    /// The first uid (and gid) projects' users are taken from, and how many there are.
    pub uid_range: (u32, u32),
    /// Further paths every workload may read and execute (a shared Python, say).
    pub read_only_paths: Vec<PathBuf>,
    /// Paths no workload may see: the data directory, the configuration and secret files,
    /// the object store's folder. The executor's own root is always among them.
    pub hide_paths: Vec<PathBuf>,
}

/// The sandbox as this executor applies it.
#[derive(Debug)]
pub(super) struct Sandbox {
    settings: SandboxSettings,
    report: ProbeReport,
    isolation: Isolation,
}

/// What a sandboxed launch needs besides the wrapper's usual arguments.
#[derive(Debug)]
pub(super) struct Prepared {
    /// Runs the program: `launcher sandbox exec --plan FILE --`, then the program.
    pub(super) prefix: Vec<std::ffi::OsString>,
    /// Variables set on top of the spec's (unless the spec sets them).
    pub(super) defaults: BTreeMap<String, String>,
    /// Variables set whatever the spec says.
    pub(super) overrides: BTreeMap<String, String>,
}

/// The isolation of an executor that runs workloads unsandboxed.
pub(super) fn unsandboxed() -> Isolation {
    Isolation {
        level: IsolationLevel::None,
        summary: "workloads run unsandboxed, as the server's user with its rights".to_string(),
        mechanisms: vec![Mechanism {
            name: "sandbox".to_string(),
            active: false,
            detail: "the sandbox is switched off (runtime.local.isolation = \"none\")".to_string(),
        }],
    }
}

impl Sandbox {
    /// Finds out what this machine allows, by running `launcher sandbox probe` in a
    /// scratch folder under `root`.
    pub(super) fn probe(settings: SandboxSettings, root: &Path) -> Sandbox {
        let dir = root.join("probe");
        let _ = fs_err::remove_dir_all(&dir);
        let report = match fs_err::create_dir_all(&dir) {
            Err(error) => ProbeReport::failed(format!("cannot make the probe folder: {error}")),
            Ok(()) => match std::process::Command::new(&settings.launcher)
                .args(["sandbox", "probe", "--dir"])
                .arg(&dir)
                .output()
            {
                Ok(output) => serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
                    ProbeReport::failed(format!(
                        "`{} sandbox probe` answered no report ({error}): {}",
                        settings.launcher.display(),
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))
                }),
                Err(error) => ProbeReport::failed(format!(
                    "cannot run `{}`: {error}",
                    settings.launcher.display()
                )),
            },
        };
        let _ = fs_err::remove_dir_all(&dir);
        let isolation = report.isolation(settings.uid_range);
        Sandbox {
            settings,
            report,
            isolation,
        }
    }

    pub(super) fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    fn namespaces(&self) -> bool {
        self.report.namespaces_error.is_none()
    }

    /// Prepares workload `spec.id` to run `program` sandboxed: its uid, its private
    /// temporary folder, its files' owner, its user database and its plan. Records what it
    /// creates in `created` so a failed submission removes it.
    pub(super) fn prepare(
        &self,
        layout: &Layout,
        spec: &WorkloadSpec,
        program: &Path,
        working_dir: &Path,
        log: &Path,
        created: &mut Vec<PathBuf>,
    ) -> ExecResult<Prepared> {
        let id = &spec.id;
        let identity = if self.report.root {
            let uid = project_uid(layout, &spec.project, self.settings.uid_range)?;
            PlanIdentity::User { uid, gid: uid }
        } else {
            PlanIdentity::Launcher
        };
        let mut read_only: Vec<PathBuf> = SYSTEM_READ_ONLY.iter().map(PathBuf::from).collect();
        read_only.extend(self.settings.read_only_paths.iter().cloned());
        if let Ok(resolver) = fs_err::canonicalize("/etc/resolv.conf") {
            // Often a link into /run (systemd-resolved), which is not readable otherwise.
            if let Some(dir) = resolver.parent().filter(|dir| !dir.starts_with("/etc")) {
                read_only.push(dir.to_path_buf());
            }
        }
        let mut read_write = Vec::new();
        for mount in &spec.mounts {
            if mount.writable {
                read_write.push(mount.path.clone());
            } else {
                read_only.push(mount.path.clone());
            }
        }
        let mut hide = self.settings.hide_paths.clone();
        hide.push(layout.root().to_path_buf());

        // The program must be something the sandbox lets it run.
        let visible = |path: &Path| {
            path.starts_with(working_dir)
                || read_write.iter().any(|allowed| path.starts_with(allowed))
                || read_only
                    .iter()
                    .any(|allowed| path.starts_with(allowed) && !hide_covers(&hide, allowed, path))
        };
        let canonical = fs_err::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
        if !visible(program) || !visible(&canonical) {
            return Err(ExecError::CannotStart {
                command: program.display().to_string(),
                reason: format!(
                    "`{}` is outside what sandboxed workloads may run: the system folders ({}), its working files, and runtime.local.sandbox.read_only_paths",
                    canonical.display(),
                    SYSTEM_READ_ONLY.join(", ")
                ),
            });
        }

        let tmp_dir = layout.tmp_dir(id);
        fs_err::create_dir_all(&tmp_dir).map_err(backend)?;
        created.push(tmp_dir.clone());
        set_mode(&tmp_dir, 0o700)?;

        let mut devices: Vec<PathBuf> = DEVICES.iter().map(PathBuf::from).collect();
        if spec.resources.gpus > 0 {
            devices.extend(nvidia_devices());
        }
        let (mut passwd, mut group) = (None, None);
        if let PlanIdentity::User { uid, gid } = identity {
            chown_tree(working_dir, uid, gid)?;
            chown_tree(&tmp_dir, uid, gid)?;
            // A writable mount (a build's package cache) is the workload's, like its
            // working folder; the platform gives each project its own. Only the folder
            // itself: what is inside was written by the project's own uid, and walking a
            // tree a workload wrote could be raced into following a link.
            for mount in spec.mounts.iter().filter(|mount| mount.writable) {
                chown(&mount.path, uid, gid)?;
            }
            chown(log, uid, gid)?;
            if self.namespaces() {
                let (passwd_file, group_file) = layout.user_database_files(id);
                let (passwd_text, group_text) = user_database(uid, gid, working_dir);
                write_private(&passwd_file, passwd_text.as_bytes(), 0o644)?;
                created.push(passwd_file.clone());
                write_private(&group_file, group_text.as_bytes(), 0o644)?;
                created.push(group_file.clone());
                passwd = Some(passwd_file);
                group = Some(group_file);
            }
        }
        let plan = SandboxPlan {
            identity,
            namespaces: self.namespaces(),
            landlock: self.report.landlock_abi.is_some(),
            hostname: format!("plinth-{}", &id[..id.len().min(20)]),
            work_dir: working_dir.to_path_buf(),
            tmp_dir: tmp_dir.clone(),
            log_file: Some(log.to_path_buf()),
            read_only,
            read_write,
            devices,
            hide,
            passwd,
            group,
        };
        let plan_file = layout.plan_file(id);
        let text = serde_json::to_vec_pretty(&plan).map_err(backend)?;
        write_private(&plan_file, &text, 0o600)?;
        created.push(plan_file.clone());

        let mut defaults = BTreeMap::from([
            ("HOME".to_string(), working_dir.display().to_string()),
            ("PATH".to_string(), SYSTEM_PATH.to_string()),
        ]);
        let user = spec
            .labels
            .get("plinth.dev/user")
            .cloned()
            .unwrap_or_else(|| "plinth".to_string());
        defaults.insert("USER".to_string(), user.clone());
        defaults.insert("LOGNAME".to_string(), user);
        let tmp = if self.namespaces() {
            "/tmp".to_string()
        } else {
            tmp_dir.display().to_string()
        };
        let overrides = BTreeMap::from([("TMPDIR".to_string(), tmp)]);
        let prefix = vec![
            self.settings.launcher.clone().into(),
            "sandbox".into(),
            "exec".into(),
            "--plan".into(),
            plan_file.into(),
            "--".into(),
        ];
        Ok(Prepared {
            prefix,
            defaults,
            overrides,
        })
    }
}

/// The uid of `project`'s workloads: the one it has, or the next free one of `range`
/// (first, count), recorded before it is used. Called under the executor's submission
/// lock.
pub(super) fn project_uid(layout: &Layout, project: &str, range: (u32, u32)) -> ExecResult<u32> {
    let file = layout.uids_file();
    let mut uids: BTreeMap<String, u32> = match fs_err::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(backend)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(error) => return Err(backend(error)),
    };
    let key = if project.is_empty() { "-" } else { project };
    if let Some(uid) = uids.get(key) {
        return Ok(*uid);
    }
    let (first, count) = range;
    let uid = first
        .checked_add(u32::try_from(uids.len()).unwrap_or(u32::MAX))
        .filter(|uid| uids.len() < count as usize && *uid != u32::MAX)
        .ok_or_else(|| {
            ExecError::Unsatisfiable(format!(
                "all {count} uids of runtime.local.sandbox are taken (first_uid, uid_count); widen the range"
            ))
        })?;
    uids.insert(key.to_string(), uid);
    let text = serde_json::to_vec_pretty(&uids).map_err(backend)?;
    state::write_atomically(&file, &text, true).map_err(backend)?;
    Ok(uid)
}

/// Whether a hidden path covers `path`, unless the allowed path that grants it lies inside
/// the hidden one (a path explicitly allowed under the data directory stays visible).
fn hide_covers(hide: &[PathBuf], allowed: &Path, path: &Path) -> bool {
    hide.iter()
        .any(|hidden| path.starts_with(hidden) && !allowed.starts_with(hidden))
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> ExecError {
    ExecError::Backend(Box::new(error))
}

/// Writes a file only this workload's launch reads, created with `mode`. Not synced: it
/// matters only while the workload runs, and nothing runs after a power loss.
pub(super) fn write_private(path: &Path, bytes: &[u8], mode: u32) -> ExecResult<()> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    use std::io::Write as _;
    let _ = fs_err::remove_file(path);
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(backend)?;
    file.write_all(bytes).map_err(backend)?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> ExecResult<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(backend)
}

pub(super) fn chown(path: &Path, uid: u32, gid: u32) -> ExecResult<()> {
    fchownat(
        None,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|error| {
        ExecError::Backend(Box::new(std::io::Error::other(format!(
            "cannot give `{}` to uid {uid}: {error}",
            path.display()
        ))))
    })
}

/// Gives `root` and everything in it to `uid`:`gid`, never following a link (the tree
/// was unpacked by the server and nothing of the workload runs yet).
pub(super) fn chown_tree(root: &Path, uid: u32, gid: u32) -> ExecResult<()> {
    chown(root, uid, gid)?;
    let metadata = fs_err::symlink_metadata(root).map_err(backend)?;
    if metadata.is_dir() {
        for entry in fs_err::read_dir(root).map_err(backend)? {
            let entry = entry.map_err(backend)?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The system's user and group databases with the workload's user and group added.
fn user_database(uid: u32, gid: u32, home: &Path) -> (String, String) {
    let keep = |text: String, id: u32| -> String {
        text.lines()
            .filter(|line| {
                let mut fields = line.split(':');
                let name = fields.next().unwrap_or_default();
                let number = fields.nth(1).and_then(|field| field.parse::<u32>().ok());
                name != "plinth" && number != Some(id)
            })
            .map(|line| format!("{line}\n"))
            .collect()
    };
    let mut passwd = keep(
        fs_err::read_to_string("/etc/passwd").unwrap_or_default(),
        uid,
    );
    passwd.push_str(&format!(
        "plinth:x:{uid}:{gid}:Plinth workload:{}:/bin/sh\n",
        home.display()
    ));
    let mut group = keep(
        fs_err::read_to_string("/etc/group").unwrap_or_default(),
        gid,
    );
    group.push_str(&format!("plinth:x:{gid}:\n"));
    (passwd, group)
}

/// The NVIDIA device files a workload with GPUs needs.
fn nvidia_devices() -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir("/dev") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("nvidia"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_database_replaces_clashing_entries() {
        let (passwd, group) = user_database(4242, 4242, Path::new("/work/x"));
        assert!(passwd.ends_with("plinth:x:4242:4242:Plinth workload:/work/x:/bin/sh\n"));
        assert_eq!(passwd.matches(":4242:").count(), 1);
        assert!(group.ends_with("plinth:x:4242:\n"));
        assert!(passwd.contains("root:x:0:0"));
    }

    #[test]
    fn allowed_paths_inside_hidden_ones_stay_visible() {
        let hide = vec![PathBuf::from("/data")];
        assert!(hide_covers(
            &hide,
            Path::new("/"),
            Path::new("/data/runtime/x")
        ));
        assert!(!hide_covers(
            &hide,
            Path::new("/data/envs/abc"),
            Path::new("/data/envs/abc/bin/python")
        ));
    }

    #[test]
    fn projects_get_distinct_uids_that_last() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(root.path().to_path_buf());
        layout.create().unwrap();
        let range = (1_500_000_000, 2);
        let alpha = project_uid(&layout, "alpha", range).unwrap();
        let beta = project_uid(&layout, "beta", range).unwrap();
        assert_eq!((alpha, beta), (1_500_000_000, 1_500_000_001));
        assert_eq!(project_uid(&layout, "alpha", range).unwrap(), alpha);
        let full = project_uid(&layout, "gamma", range).unwrap_err();
        assert!(full.to_string().contains("uid_count"), "{full}");
    }
}
