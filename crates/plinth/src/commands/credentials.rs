//! The stored login: `credentials.toml` in the user's config folder, readable by its owner
//! only.
//!
//! The folder is `$PLINTH_CONFIG_DIR` when set, else `$XDG_CONFIG_HOME/plinth`, else
//! `~/.config/plinth`. The file is written to a new file created with mode 0600 that then
//! replaces the old one, so the token is never readable by others, not even for a moment.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Failure;

/// The credentials file's name inside the config folder.
const FILE_NAME: &str = "credentials.toml";

/// What `plinth login` stores.
#[derive(Clone, Deserialize, Serialize)]
pub struct Credentials {
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The personal API token.
    pub token: String,
    /// Who logged in.
    pub username: String,
    /// The certificate authorities trusted for this server besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .field("username", &self.username)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Returns the value of environment variable `name` if set and not empty.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Returns the path of the credentials file (which may not exist).
pub fn path() -> Result<PathBuf, Failure> {
    Ok(config_dir()?.join(FILE_NAME))
}

/// Returns the user's Plinth config folder (which may not exist): `$PLINTH_CONFIG_DIR`,
/// else `$XDG_CONFIG_HOME/plinth`, else `~/.config/plinth`.
pub fn config_dir() -> Result<PathBuf, Failure> {
    if let Some(dir) = env_var("PLINTH_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(dir) = env_var("XDG_CONFIG_HOME").filter(|dir| Path::new(dir).is_absolute()) {
        return Ok(PathBuf::from(dir).join("plinth"));
    }
    if let Some(home) = env_var("HOME") {
        return Ok(PathBuf::from(home).join(".config").join("plinth"));
    }
    Err(Failure::runtime(
        "cannot find a config folder for the credentials: set `PLINTH_CONFIG_DIR` or `HOME`",
    ))
}

/// Reads the stored credentials, if any.
pub fn load(path: &Path) -> Result<Option<Credentials>, Failure> {
    let cannot_read = |error: &dyn std::fmt::Display| {
        Failure::runtime(format!(
            "cannot read the credentials in `{}`: {error}",
            path.display()
        ))
    };
    if !path.try_exists().map_err(|error| cannot_read(&error))? {
        return Ok(None);
    }
    warn_if_readable_by_others(path);
    let text = fs_err::read_to_string(path).map_err(|error| cannot_read(&error))?;
    let credentials = toml::from_str(&text).map_err(|error| {
        cannot_read(&format!(
            "{}; log in again with `plinth login`",
            error.message()
        ))
    })?;
    Ok(Some(credentials))
}

/// Stores `credentials` at `path`, replacing what was there; the file has mode 0600 from
/// its creation.
pub fn save(path: &Path, credentials: &Credentials) -> Result<(), Failure> {
    let cannot_write = |error: &dyn std::fmt::Display| {
        Failure::runtime(format!(
            "cannot store the credentials in `{}`: {error}",
            path.display()
        ))
    };
    let text = toml::to_string(credentials).map_err(|error| cannot_write(&error))?;
    replace_private(path, &text).map_err(|error| cannot_write(&error))
}

/// Writes `text` to `path` through a new private file (mode 0600) that replaces the old
/// one, creating the (private) folder if needed.
pub fn replace_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written =
        write_private(&temporary, text.as_bytes()).and_then(|()| fs_err::rename(&temporary, path));
    if let Err(error) = written {
        let _ = fs_err::remove_file(&temporary);
        return Err(error);
    }
    Ok(())
}

/// Deletes the stored credentials; returns whether there were any.
pub fn delete(path: &Path) -> Result<bool, Failure> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(Failure::runtime(format!(
            "cannot delete the credentials: {error}"
        ))),
    }
}

/// Creates `dir` (and its parents) if missing; a new folder is private to its owner.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.try_exists()? {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot create folder `{}`: {error}", dir.display()),
        )
    })
}

/// Writes `contents` to a new file at `path` created with mode 0600 (an existing file at
/// that path is removed first: it can only be a leftover of this process id).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match fs_err::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    fs_err::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = fs_err::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: `{}` has mode {mode:o}: others can read your token; run `chmod 600` on it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_loads_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        assert!(load(&path).unwrap().is_none());
        let credentials = Credentials {
            url: "http://127.0.0.1:8080".into(),
            token: "plt_secret".into(),
            username: "ada".into(),
            ca_file: None,
        };
        save(&path, &credentials).unwrap();
        save(&path, &credentials).unwrap(); // replaces
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs_err::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.token, "plt_secret");
        assert!(!format!("{loaded:?}").contains("plt_secret"));
        let entries: Vec<_> = fs_err::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(entries, [FILE_NAME], "no temporary file is left behind");
        assert!(delete(&path).unwrap());
        assert!(!delete(&path).unwrap());
    }

    #[test]
    fn a_broken_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs_err::write(&path, "url = ").unwrap();
        let failure = load(&path).unwrap_err();
        assert!(
            failure
                .message
                .starts_with("cannot read the credentials in"),
            "{}",
            failure.message
        );
    }
}
