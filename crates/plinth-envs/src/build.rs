//! Resolution and builds as sandboxed workloads, and the on-disk cache of built
//! environments.
//!
//! ```text
//! <root>/uv/<version>/bin/uv             the pinned uv (read-only in workloads)
//! <root>/python/                          uv-managed interpreters (read-only)
//! <root>/cache/<scope>/                   uv's cache of one project (`global`: admins')
//! <root>/work/<scope>/<kind>-<random>/    a resolution's or build's working folder
//! <root>/venvs/<scope>/<lock hash>/       a built environment: venv/ and .complete
//! <root>/logs/<scope>/…                   resolution and build logs, kept
//! ```
//!
//! A build runs in a fresh working folder; only when uv succeeded does the server write
//! `.complete` and rename the folder to `venvs/<scope>/<lock hash>` — one `rename(2)`, so
//! a build killed midway never leaves a folder under that name. A folder there without
//! `.complete` is never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use plinth_executor::{
    Executor, LogOptions, Mount, WorkloadHandle, WorkloadKind, WorkloadSpec, WorkloadStatus,
};
use plinth_types::{EnvironmentLock, EnvironmentSpec, LockedPackage};
use sha2::{Digest as _, Sha256};

use crate::error::{EnvError, EnvResult};
use crate::uv::{Interpreter, Uv};
use crate::validate::requirement_lines;

/// The name of the marker a finished build writes last.
pub const COMPLETE_MARKER: &str = ".complete";
/// The lock format this build writes.
pub const LOCK_FORMAT: u32 = 1;

/// The folders of the environment cache.
#[derive(Clone, Debug)]
pub struct CacheLayout {
    root: PathBuf,
}

impl CacheLayout {
    /// The cache under `root` (`<data>/envs`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CacheLayout { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where uv-managed interpreters live.
    pub fn python_dir(&self) -> PathBuf {
        self.root.join("python")
    }

    /// uv's cache for one scope.
    pub fn uv_cache(&self, scope: &str) -> EnvResult<PathBuf> {
        Ok(self.root.join("cache").join(scope_dir(scope)?))
    }

    /// The built environment of `lock_hash` in `scope`.
    pub fn venv_root(&self, scope: &str, lock_hash: &str) -> EnvResult<PathBuf> {
        check_hash(lock_hash)?;
        Ok(self
            .root
            .join("venvs")
            .join(scope_dir(scope)?)
            .join(lock_hash))
    }

    /// The folder of one scope's working folders.
    pub fn work_dir(&self, scope: &str) -> EnvResult<PathBuf> {
        Ok(self.root.join("work").join(scope_dir(scope)?))
    }

    /// The log of one resolution or build.
    pub fn log_file(&self, scope: &str, name: &str) -> EnvResult<PathBuf> {
        Ok(self.root.join("logs").join(scope_dir(scope)?).join(name))
    }

    /// Returns the venv of a complete build, if there is one.
    pub fn complete_venv(&self, scope: &str, lock_hash: &str) -> EnvResult<Option<PathBuf>> {
        let root = self.venv_root(scope, lock_hash)?;
        Ok(root
            .join(COMPLETE_MARKER)
            .try_exists()?
            .then(|| root.join("venv")))
    }
}

/// The folder name of a scope: `global`, or the project's id (checked: letters, digits
/// and `-` only, so it cannot leave the cache).
pub fn scope_dir(scope: &str) -> EnvResult<String> {
    if scope.is_empty() {
        return Ok("global".to_string());
    }
    let safe = scope.len() <= 64
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !safe || scope == "global" {
        return Err(EnvError::Conflict(format!(
            "project id `{scope}` cannot name a folder"
        )));
    }
    Ok(scope.to_string())
}

fn check_hash(lock_hash: &str) -> EnvResult<()> {
    if lock_hash.len() == 64
        && lock_hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(EnvError::Conflict(format!(
            "`{lock_hash}` is not a lock hash"
        )))
    }
}

/// The text given to the resolver: the requirements file's lines, then the packages.
pub fn resolver_input(spec: &EnvironmentSpec) -> String {
    let mut text = String::new();
    for line in requirement_lines(&spec.requirements) {
        text.push_str(line);
        text.push('\n');
    }
    for package in &spec.packages {
        text.push_str(package.trim());
        text.push('\n');
    }
    text
}

/// The lock's hash: SHA-256 of what decides the environment's contents (format, Python
/// version, platform, the pinned requirements with their hashes), not of who resolved it
/// or with which uv.
pub fn lock_hash(lock: &EnvironmentLock) -> String {
    let mut hasher = Sha256::new();
    for part in [
        lock.format.to_string().as_str(),
        &lock.python_version,
        &lock.platform,
        &lock.requirements,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The packages of `uv pip compile` output: every `name==version` line.
pub fn locked_packages(requirements: &str) -> Vec<LockedPackage> {
    requirements
        .lines()
        .filter(|line| !line.starts_with([' ', '#', '-']) && !line.trim().is_empty())
        .filter_map(|line| {
            let requirement = line.trim_end_matches('\\').trim();
            let requirement = requirement.split(';').next().unwrap_or(requirement).trim();
            let (name, version) = requirement.split_once("==")?;
            Some(LockedPackage {
                name: name.trim().to_string(),
                version: version.trim().to_string(),
            })
        })
        .collect()
}

/// The platform of locks made here: `linux-x86_64`.
pub fn host_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The resolver's reason from its output: from its first `error:` or `×` line on, without
/// blank lines, at most 2,000 characters.
pub fn resolver_reason(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|line| {
            let line = line.trim_start();
            line.starts_with("error:") || line.starts_with('×')
        })
        .unwrap_or(lines.len().saturating_sub(6));
    let mut reason: String = lines[start..]
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty() && !line.starts_with("--- plinth:"))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(stripped) = reason.strip_prefix("error: ") {
        reason = stripped.to_string();
    }
    if reason.chars().count() > 2000 {
        reason = reason.chars().take(2000).collect::<String>() + "…";
    }
    if reason.is_empty() {
        "the resolver failed without saying why (see the log)".to_string()
    } else {
        reason
    }
}

/// What a uv workload needs from the service.
pub(crate) struct UvRun<'a> {
    pub executor: &'a dyn Executor,
    pub uv: &'a Uv,
    pub interpreter: &'a Interpreter,
    pub layout: &'a CacheLayout,
    /// The project's id, or `""`.
    pub scope: &'a str,
    /// Variables for uv (index, certificates, proxies).
    pub uv_env: &'a BTreeMap<String, String>,
    /// Called with the workload's handle once it runs (for live logs).
    pub on_start: &'a (dyn Fn(Option<WorkloadHandle>) + Send + Sync),
}

impl UvRun<'_> {
    fn spec(&self, id: String, name: &str, work: &Path, script: String) -> EnvResult<WorkloadSpec> {
        let cache = self.layout.uv_cache(self.scope)?;
        fs_err::create_dir_all(&cache)?;
        let python_dir = self.layout.python_dir();
        let mut env = self.uv_env.clone();
        env.extend([
            ("UV_CACHE_DIR".to_string(), cache.display().to_string()),
            ("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string()),
            (
                "UV_PYTHON_INSTALL_DIR".to_string(),
                python_dir.display().to_string(),
            ),
            // Never hard links into the cache: the project's next build may write there.
            ("UV_LINK_MODE".to_string(), "copy".to_string()),
            ("UV_NO_CONFIG".to_string(), "1".to_string()),
            ("NO_COLOR".to_string(), "1".to_string()),
        ]);
        let mut mounts = vec![
            Mount {
                path: self.uv.visible_root.clone(),
                writable: false,
            },
            Mount {
                path: cache,
                writable: true,
            },
        ];
        if python_dir.try_exists()? {
            mounts.push(Mount {
                path: python_dir,
                writable: false,
            });
        }
        if !is_system_path(&self.interpreter.prefix) {
            mounts.push(Mount {
                path: self.interpreter.prefix.clone(),
                writable: false,
            });
        }
        Ok(WorkloadSpec {
            id,
            name: name.to_string(),
            project: self.scope.to_string(),
            kind: WorkloadKind::Batch,
            command: vec!["/bin/sh".to_string(), "-c".to_string(), script],
            env,
            working_dir: Some(work.to_path_buf()),
            labels: BTreeMap::from([("plinth.dev/kind".to_string(), "environment".to_string())]),
            mounts,
            ..WorkloadSpec::default()
        })
    }

    /// Runs `spec` to its end, its output going to `log`; returns whether it succeeded.
    async fn run(&self, spec: WorkloadSpec, log: &Path) -> EnvResult<(bool, String)> {
        let handle = self.executor.submit(spec).await?;
        (self.on_start)(Some(handle.clone()));
        let outcome = self.wait(&handle, log).await;
        (self.on_start)(None);
        let _ = self.executor.remove(&handle).await;
        outcome
    }

    async fn wait(&self, handle: &WorkloadHandle, log: &Path) -> EnvResult<(bool, String)> {
        let mut output = Vec::new();
        let mut logs = self
            .executor
            .logs(
                handle,
                LogOptions {
                    follow: true,
                    ..LogOptions::default()
                },
            )
            .await?;
        // Written as it comes, so `plinth envs logs` shows a build live.
        let mut file = open_log(log)?;
        while let Some(chunk) = logs.next().await {
            let chunk = chunk?;
            std::io::Write::write_all(&mut file, &chunk)?;
            output.extend_from_slice(&chunk);
        }
        drop(file);
        let mut status = self.executor.status(handle).await?;
        // The log stream ends with the process; the exit code may be a moment behind.
        for _ in 0..100 {
            if status.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            status = self.executor.status(handle).await?;
        }
        let text = String::from_utf8_lossy(&output).into_owned();
        let reason = match &status {
            WorkloadStatus::Succeeded => None,
            WorkloadStatus::Failed { reason, .. } | WorkloadStatus::Lost { reason } => {
                Some(reason.clone())
            }
            other => Some(format!("the workload ended {}", other.name())),
        };
        if let Some(reason) = &reason {
            append_log(log, &format!("--- plinth: {reason} ---\n"))?;
        }
        Ok((reason.is_none(), text))
    }

    /// Resolves `spec` into a lock (`uv pip compile --generate-hashes`), logging to `log`.
    pub(crate) async fn resolve(
        &self,
        spec: &EnvironmentSpec,
        log: &Path,
    ) -> EnvResult<Result<EnvironmentLock, String>> {
        let work_root = self.layout.work_dir(self.scope)?;
        fs_err::create_dir_all(&work_root)?;
        let work = tempfile::Builder::new()
            .prefix("resolve-")
            .tempdir_in(&work_root)?;
        fs_err::write(work.path().join("requirements.in"), resolver_input(spec))?;
        append_log(
            log,
            &format!(
                "--- plinth: resolving for Python {} ({}) with uv {} ---\n",
                self.interpreter.version,
                self.interpreter.executable.display(),
                self.uv.version
            ),
        )?;
        let script = format!(
            "exec {uv} pip compile requirements.in --generate-hashes --no-header --python {python} --output-file requirements.lock",
            uv = shell_quote(&self.uv.program),
            python = shell_quote(&self.interpreter.executable),
        );
        let id = workload_id("envr");
        let spec_workload = self.spec(id, "resolve environment", work.path(), script)?;
        let (ok, output) = self.run(spec_workload, log).await?;
        if !ok {
            return Ok(Err(resolver_reason(&output)));
        }
        let requirements = fs_err::read_to_string(work.path().join("requirements.lock"))?;
        Ok(Ok(EnvironmentLock {
            format: LOCK_FORMAT,
            uv_version: self.uv.version.clone(),
            python_version: self.interpreter.version.clone(),
            platform: host_platform(),
            packages: locked_packages(&requirements),
            requirements,
        }))
    }

    /// Builds `lock` into `venvs/<scope>/<hash>`: a venv in a fresh folder, exactly the
    /// lock installed (`uv pip sync --require-hashes`), `.complete` written, the folder
    /// renamed into place. Returns the venv.
    pub(crate) async fn build(
        &self,
        lock: &EnvironmentLock,
        hash: &str,
        log: &Path,
    ) -> EnvResult<PathBuf> {
        let target = self.layout.venv_root(self.scope, hash)?;
        let work_root = self.layout.work_dir(self.scope)?;
        fs_err::create_dir_all(&work_root)?;
        fs_err::create_dir_all(target.parent().expect("venvs/<scope>/<hash>"))?;
        let work = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&work_root)?;
        fs_err::write(work.path().join("requirements.lock"), &lock.requirements)?;
        append_log(
            log,
            &format!(
                "--- plinth: building {} packages for Python {} (lock {}) ---\n",
                lock.packages.len(),
                lock.python_version,
                &hash[..12]
            ),
        )?;
        let script = format!(
            "set -e; {uv} venv --relocatable --python {python} venv && exec {uv} pip sync --require-hashes --python venv/bin/python requirements.lock",
            uv = shell_quote(&self.uv.program),
            python = shell_quote(&self.interpreter.executable),
        );
        let id = workload_id("envb");
        let spec = self.spec(id, "build environment", work.path(), script)?;
        let (ok, output) = self.run(spec, log).await?;
        if !ok {
            return Err(EnvError::Build(resolver_reason(&output)));
        }
        let venv = work.path().join("venv");
        if !venv.join("bin").join("python").try_exists()? {
            return Err(EnvError::Build(
                "uv succeeded but left no `venv/bin/python`".to_string(),
            ));
        }
        let _ = fs_err::remove_file(work.path().join("requirements.lock"));
        fs_err::write(work.path().join(COMPLETE_MARKER), format!("{hash}\n"))?;
        sync_dir(work.path());
        let staged = work.keep();
        make_readable(&staged)?;
        match fs_err::rename(&staged, &target) {
            Ok(()) => {}
            Err(_) if target.join(COMPLETE_MARKER).try_exists()? => {
                // Built by someone else meanwhile (another server process); keep theirs.
                let _ = fs_err::remove_dir_all(&staged);
            }
            Err(error) => {
                let _ = fs_err::remove_dir_all(&staged);
                return Err(error.into());
            }
        }
        sync_dir(target.parent().expect("venvs/<scope>"));
        append_log(log, "--- plinth: environment ready ---\n")?;
        Ok(target.join("venv"))
    }
}

/// Whether workloads see `path` anyway (the system folders).
fn is_system_path(path: &Path) -> bool {
    plinth_executor::sandbox::SYSTEM_READ_ONLY
        .iter()
        .any(|system| path.starts_with(system))
}

/// Gives everyone read (and, where set for the owner, execute) access: a global build
/// is used by every project's uid.
fn make_readable(root: &Path) -> EnvResult<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = fs_err::symlink_metadata(root)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode();
    let wanted = mode
        | 0o044
        | if mode & 0o100 != 0 || metadata.is_dir() {
            0o011
        } else {
            0
        };
    if wanted != mode {
        fs_err::set_permissions(root, std::fs::Permissions::from_mode(wanted))?;
    }
    if metadata.is_dir() {
        for entry in fs_err::read_dir(root)? {
            make_readable(&entry?.path())?;
        }
    }
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Ok(dir) = fs_err::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// Opens a log file for appending, creating it (and its folder).
fn open_log(log: &Path) -> EnvResult<fs_err::File> {
    if let Some(parent) = log.parent() {
        fs_err::create_dir_all(parent)?;
    }
    Ok(fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?)
}

/// Appends to a log file, creating it (and its folder).
pub(crate) fn append_log(log: &Path, text: &str) -> EnvResult<()> {
    use std::io::Write as _;
    open_log(log)?.write_all(text.as_bytes())?;
    Ok(())
}

fn workload_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..20]
    )
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPILED: &str = "attrs==26.1.0 \\\n    --hash=sha256:c647 \\\n    --hash=sha256:d03c\n    # via -r requirements.in\nsix==1.16.0 ; python_version >= '3' \\\n    --hash=sha256:1e61\n";

    #[test]
    fn packages_are_read_from_the_compiled_lock() {
        assert_eq!(
            locked_packages(COMPILED),
            vec![
                LockedPackage {
                    name: "attrs".into(),
                    version: "26.1.0".into()
                },
                LockedPackage {
                    name: "six".into(),
                    version: "1.16.0".into()
                },
            ]
        );
    }

    #[test]
    fn the_lock_hash_covers_what_decides_the_contents() {
        let lock = EnvironmentLock {
            format: 1,
            uv_version: "0.13.10".into(),
            python_version: "3.11.2".into(),
            platform: "linux-x86_64".into(),
            requirements: COMPILED.into(),
            packages: locked_packages(COMPILED),
        };
        let hash = lock_hash(&lock);
        assert_eq!(hash.len(), 64);
        let other_uv = EnvironmentLock {
            uv_version: "0.14.0".into(),
            ..lock.clone()
        };
        assert_eq!(
            lock_hash(&other_uv),
            hash,
            "the uv version does not change the contents"
        );
        for changed in [
            EnvironmentLock {
                python_version: "3.11.3".into(),
                ..lock.clone()
            },
            EnvironmentLock {
                platform: "linux-aarch64".into(),
                ..lock.clone()
            },
            EnvironmentLock {
                requirements: COMPILED.replace("26.1.0", "26.1.1"),
                ..lock.clone()
            },
        ] {
            assert_ne!(lock_hash(&changed), hash);
        }
    }

    #[test]
    fn the_resolvers_reason_is_kept() {
        let log = "--- plinth: resolving ---\nerror: No solution found when resolving dependencies\n  cause: Because nope was not found in the package registry and you require nope==1.0, we can conclude that your requirements are unsatisfiable.\n--- plinth: exited with 1 ---\n";
        assert_eq!(
            resolver_reason(log),
            "No solution found when resolving dependencies cause: Because nope was not found in the package registry and you require nope==1.0, we can conclude that your requirements are unsatisfiable."
        );
        assert!(resolver_reason("").contains("see the log"));
    }

    #[test]
    fn scopes_and_hashes_cannot_leave_the_cache() {
        let layout = CacheLayout::new("/data/envs");
        let hash = "a".repeat(64);
        assert_eq!(
            layout.venv_root("", &hash).unwrap(),
            PathBuf::from(format!("/data/envs/venvs/global/{hash}"))
        );
        assert!(layout.venv_root("../x", &hash).is_err());
        assert!(layout.venv_root("global", &hash).is_err());
        assert!(layout.venv_root("p1", "../../etc").is_err());
        assert!(layout.venv_root("p1", &"A".repeat(64)).is_err());
    }

    #[test]
    fn the_resolver_gets_requirements_then_packages() {
        let spec = EnvironmentSpec {
            python: "3.11".into(),
            requirements: "# c\npandas>=2 # x\n".into(),
            packages: vec![" mlflow==3.17.2 ".into()],
            ..EnvironmentSpec::default()
        };
        assert_eq!(resolver_input(&spec), "pandas>=2\nmlflow==3.17.2\n");
    }
}
