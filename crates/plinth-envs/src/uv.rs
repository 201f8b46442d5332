//! `uv`, the tool that resolves and builds environments: a pinned version Plinth installs
//! on first use into its data folder (from the package index this machine reaches, with
//! pip, so the host's pip configuration — `/etc/pip.conf`, `PIP_*`, certificate
//! variables — applies), or a configured path; and the Python interpreters it finds.
//!
//! Installing `uv` and asking it which interpreters exist run no user code: the wheel is
//! a binary (`--only-binary=:all:`, so no build script runs) and interpreters are only
//! asked their version. Resolution and builds, which do run package build scripts, are
//! workloads (`build.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::error::{EnvError, EnvResult};

/// The `uv` release Plinth installs and is tested with.
pub const UV_VERSION: &str = "0.13.10";

/// Where `uv` comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UvSource {
    /// [`UV_VERSION`], installed on first use under `<envs root>/uv/<version>` with
    /// `python -m pip install uv==<version>` (the host's pip configuration applies).
    Pinned {
        /// The Python whose pip installs it.
        bootstrap_python: PathBuf,
    },
    /// This executable (admins who install uv themselves).
    Path(PathBuf),
}

/// A usable `uv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uv {
    /// The executable.
    pub program: PathBuf,
    /// The folder workloads must see to run it (mounted read-only).
    pub visible_root: PathBuf,
    /// Its version (`0.13.10`).
    pub version: String,
}

/// Installs (when pinned and missing) and checks `uv`.
pub async fn ensure_uv(source: &UvSource, root: &Path) -> EnvResult<Uv> {
    let (program, visible_root) = match source {
        UvSource::Path(path) => {
            let program = fs_err::canonicalize(path).map_err(|error| {
                EnvError::Unavailable(format!(
                    "environments.uv_path `{}` cannot be used: {error}",
                    path.display()
                ))
            })?;
            let root = program.parent().unwrap_or(Path::new("/")).to_path_buf();
            (program, root)
        }
        UvSource::Pinned { bootstrap_python } => {
            let target = root.join("uv").join(UV_VERSION);
            let program = target.join("bin").join("uv");
            if !program.try_exists()? {
                install_pinned(bootstrap_python, &target).await?;
            }
            (program, target)
        }
    };
    let output = tokio::process::Command::new(&program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| {
            EnvError::Unavailable(format!("cannot run `{}`: {error}", program.display()))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .nth(1)
        .filter(|_| output.status.success())
        .ok_or_else(|| {
            EnvError::Unavailable(format!(
                "`{} --version` answered `{}`{}",
                program.display(),
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        })?
        .to_string();
    Ok(Uv {
        program,
        visible_root,
        version,
    })
}

/// `python -m pip install --only-binary=:all: --no-deps --target TMP uv==VERSION`, then
/// the folder renamed into place (a killed install leaves only a temporary folder).
async fn install_pinned(python: &Path, target: &Path) -> EnvResult<()> {
    let parent = target.parent().expect("uv/<version> has a parent");
    fs_err::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(parent)?;
    tracing::info!(version = UV_VERSION, target = %target.display(), "installing uv");
    let output = tokio::process::Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(["--no-deps", "--only-binary=:all:", "--no-input", "--target"])
        .arg(staging.path())
        .arg(format!("uv=={UV_VERSION}"))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| {
            EnvError::Unavailable(format!(
                "cannot run `{} -m pip` to install uv {UV_VERSION}: {error}; install uv and set environments.uv_path",
                python.display()
            ))
        })?;
    if !output.status.success() {
        return Err(EnvError::Unavailable(format!(
            "installing uv {UV_VERSION} with `{} -m pip` failed: {}; install uv and set environments.uv_path",
            python.display(),
            last_lines(&String::from_utf8_lossy(&output.stderr), 5)
        )));
    }
    let staged = staging.keep();
    match fs_err::rename(&staged, target) {
        Ok(()) => Ok(()),
        // Another install won; use it.
        Err(_) if target.join("bin").join("uv").try_exists()? => {
            let _ = fs_err::remove_dir_all(&staged);
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// A Python interpreter on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// The executable (`/usr/bin/python3.11`).
    pub executable: PathBuf,
    /// Its exact version (`3.11.2`).
    pub version: String,
    /// Its installation prefix (`/usr`): workloads must see it.
    pub prefix: PathBuf,
}

/// Finds the interpreter for `request` (`3.11`): the host's (on `search_path`) or one
/// uv manages under `managed_dir`; never downloads one. Not found is a clear error.
pub async fn find_python(
    uv: &Uv,
    request: &str,
    search_path: &str,
    managed_dir: &Path,
) -> EnvResult<Interpreter> {
    let output = tokio::process::Command::new(&uv.program)
        .args(["python", "find", "--no-project", request])
        .env_clear()
        .env("PATH", search_path)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_PYTHON_INSTALL_DIR", managed_dir)
        .env("UV_NO_CONFIG", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| EnvError::Unavailable(format!("cannot run uv: {error}")))?;
    if !output.status.success() {
        return Err(EnvError::InvalidArgument {
            field: "python",
            reason: format!(
                "Python {request} is not available on this server (looked on {search_path} and among uv-managed interpreters in {}); {}",
                managed_dir.display(),
                available_hint(uv, search_path, managed_dir).await
            ),
        });
    }
    let executable = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let probe = tokio::process::Command::new(&executable)
        .args([
            "-I",
            "-c",
            "import platform, sys; print(platform.python_version()); print(sys.base_prefix)",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| {
            EnvError::Unavailable(format!("cannot run `{}`: {error}", executable.display()))
        })?;
    let text = String::from_utf8_lossy(&probe.stdout);
    let mut lines = text.lines();
    match (probe.status.success(), lines.next(), lines.next()) {
        (true, Some(version), Some(prefix)) => Ok(Interpreter {
            executable,
            version: version.trim().to_string(),
            prefix: PathBuf::from(prefix.trim()),
        }),
        _ => Err(EnvError::Unavailable(format!(
            "`{}` did not say its version: {}",
            executable.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ))),
    }
}

async fn available_hint(uv: &Uv, search_path: &str, managed_dir: &Path) -> String {
    let listed = tokio::process::Command::new(&uv.program)
        .args(["python", "list", "--only-installed", "--no-config"])
        .env_clear()
        .env("PATH", search_path)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_PYTHON_INSTALL_DIR", managed_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await;
    let mut versions: Vec<String> = match listed {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter_map(|key| key.split('-').nth(1).map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    };
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        "no interpreter was found".to_string()
    } else {
        format!("available: {}", versions.join(", "))
    }
}

/// The `3.N` version of the first `python3` on `search_path`, if there is one.
pub async fn host_python_version(search_path: &str) -> Option<String> {
    let output = tokio::process::Command::new("python3")
        .args([
            "-I",
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])",
        ])
        .env_clear()
        .env("PATH", search_path)
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !version.is_empty()).then_some(version)
}

/// Variables that carry the host's package index and certificate configuration into
/// uv: `UV_*` as they are, pip's index, extra index and find-links settings translated
/// (`PIP_INDEX_URL` → `UV_DEFAULT_INDEX` …), certificate and proxy variables.
pub fn host_index_environment(host: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    const PASSED: &[&str] = &[
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ];
    for name in PASSED {
        if let Some(value) = host.get(*name) {
            env.insert((*name).to_string(), value.clone());
        }
    }
    for (pip, uv) in [
        ("PIP_INDEX_URL", "UV_DEFAULT_INDEX"),
        ("PIP_EXTRA_INDEX_URL", "UV_INDEX"),
        ("PIP_FIND_LINKS", "UV_FIND_LINKS"),
    ] {
        if let Some(value) = host.get(pip) {
            env.insert(uv.to_string(), value.clone());
        }
    }
    if !env.contains_key("SSL_CERT_FILE") {
        if let Some(cert) = host.get("PIP_CERT") {
            env.insert("SSL_CERT_FILE".to_string(), cert.clone());
        }
    }
    for (name, value) in host {
        // The platform sets where uv caches, finds Python and links; the rest is the host's.
        let owned = [
            "UV_CACHE_DIR",
            "UV_PYTHON_INSTALL_DIR",
            "UV_PYTHON_DOWNLOADS",
            "UV_LINK_MODE",
            "UV_PROJECT_ENVIRONMENT",
            "UV_TOOL_DIR",
        ];
        if name.starts_with("UV_") && !owned.contains(&name.as_str()) {
            env.insert(name.clone(), value.clone());
        }
    }
    env
}

/// The last `count` non-empty lines of `text`, joined by `; `.
pub(crate) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_pip_settings_reach_uv() {
        let host = BTreeMap::from([
            (
                "PIP_INDEX_URL".to_string(),
                "https://mirror.example/simple".to_string(),
            ),
            ("PIP_CERT".to_string(), "/etc/ssl/certs/ca.pem".to_string()),
            ("PIP_FIND_LINKS".to_string(), "/opt/wheels".to_string()),
            (
                "UV_INDEX_STRATEGY".to_string(),
                "unsafe-best-match".to_string(),
            ),
            ("UV_CACHE_DIR".to_string(), "/root/.cache/uv".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ]);
        let env = host_index_environment(&host);
        assert_eq!(
            env.get("UV_DEFAULT_INDEX").map(String::as_str),
            Some("https://mirror.example/simple")
        );
        assert_eq!(
            env.get("SSL_CERT_FILE").map(String::as_str),
            Some("/etc/ssl/certs/ca.pem")
        );
        assert_eq!(
            env.get("UV_FIND_LINKS").map(String::as_str),
            Some("/opt/wheels")
        );
        assert_eq!(
            env.get("UV_INDEX_STRATEGY").map(String::as_str),
            Some("unsafe-best-match")
        );
        assert!(
            !env.contains_key("UV_CACHE_DIR") && !env.contains_key("HOME"),
            "{env:?}"
        );
    }

    #[test]
    fn last_lines_skip_blank_ones() {
        assert_eq!(last_lines("a\n\nb\n c \n", 2), "b; c");
        assert_eq!(last_lines("", 3), "");
    }
}
