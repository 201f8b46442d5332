//! Which project a command works on: `--project ORG/NAME` (or `PLINTH_PROJECT`, which jobs
//! get from the server), else the default `plinth projects use` stored for the server,
//! else the caller's only project.
//!
//! Defaults live in `defaults.toml` next to `credentials.toml` (see [`super::credentials`]),
//! one per server, because a project of one server means nothing on another:
//!
//! ```toml
//! [default_project]
//! "http://127.0.0.1:8080" = "acme/churn"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use plinth_client::ProjectListQuery;
use serde::{Deserialize, Serialize};

use super::credentials;
use super::{ProjectRef, Session};
use crate::cli::Failure;

/// The defaults file's name inside the config folder.
const FILE_NAME: &str = "defaults.toml";

/// The `--project` flag of the commands that work on one project.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// `ORGANIZATION/PROJECT` [default: the one `plinth projects use` chose, else your only
    /// project].
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "PLINTH_PROJECT",
        value_name = "ORG/NAME"
    )]
    pub project: Option<ProjectRef>,
}

/// What is stored in `defaults.toml`.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Defaults {
    /// Server URL → `ORG/NAME`.
    #[serde(default)]
    default_project: BTreeMap<String, String>,
}

/// Returns the path of the defaults file (which may not exist).
pub fn path() -> Result<PathBuf, Failure> {
    Ok(credentials::config_dir()?.join(FILE_NAME))
}

fn load(path: &Path) -> Result<Defaults, Failure> {
    let cannot_read = |error: &dyn std::fmt::Display| {
        Failure::runtime(format!("cannot read `{}`: {error}", path.display()))
    };
    match fs_err::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|error| cannot_read(&error.message())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Defaults::default()),
        Err(error) => Err(cannot_read(&error)),
    }
}

/// Returns the default project stored for `server`, if any.
pub fn stored_default(server: &str) -> Result<Option<ProjectRef>, Failure> {
    let defaults = load(&path()?)?;
    let Some(text) = defaults.default_project.get(server) else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|error| {
        Failure::runtime(format!(
            "the default project in `{}` is broken ({error}); run `plinth projects use ORG/NAME`",
            FILE_NAME
        ))
    })
}

/// Stores `project` as the default for `server` (`None` forgets it); returns the previous
/// default.
pub fn store_default(
    server: &str,
    project: Option<&ProjectRef>,
) -> Result<Option<String>, Failure> {
    let path = path()?;
    let mut defaults = load(&path)?;
    let previous = match project {
        Some(project) => defaults
            .default_project
            .insert(server.to_string(), project.to_string()),
        None => defaults.default_project.remove(server),
    };
    let text = toml::to_string(&defaults)
        .map_err(|error| Failure::runtime(format!("cannot render the defaults: {error}")))?;
    credentials::replace_private(&path, &text).map_err(|error| {
        Failure::runtime(format!(
            "cannot store the default project in `{}`: {error}",
            path.display()
        ))
    })?;
    Ok(previous)
}

/// Where the project of a command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectSource {
    /// `--project` or `PLINTH_PROJECT`.
    Flag,
    /// `plinth projects use`.
    Default,
    /// The caller's only project.
    OnlyOne,
}

/// Picks the project as the module documentation says.
pub async fn resolve(
    session: &Session,
    args: &ProjectArgs,
) -> Result<(ProjectRef, ProjectSource), Failure> {
    if let Some(project) = &args.project {
        return Ok((project.clone(), ProjectSource::Flag));
    }
    if let Some(project) = stored_default(session.server())? {
        return Ok((project, ProjectSource::Default));
    }
    let projects = session
        .client()
        .list_projects(&ProjectListQuery::default())
        .await
        .map_err(|error| session.failure(error))?;
    let names: Vec<String> = projects
        .iter()
        .map(|view| format!("{}/{}", view.project.organization, view.project.name))
        .collect();
    match names.as_slice() {
        [only] => Ok((only.parse().map_err(Failure::runtime)?, ProjectSource::OnlyOne)),
        [] => Err(Failure::runtime(
            "you are in no project: create one with `plinth projects create ORG/NAME`, or ask to be added to one",
        )),
        many => {
            const SHOWN: usize = 5;
            let mut listed = many[..many.len().min(SHOWN)].join(", ");
            if many.len() > SHOWN {
                listed.push_str(", …");
            }
            Err(Failure::runtime(format!(
                "which project? you are in {} ({listed}): pass `--project ORG/NAME`, or choose a default with `plinth projects use ORG/NAME`",
                many.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kept_per_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(load(&path).unwrap().default_project.is_empty());
        let mut defaults = Defaults::default();
        defaults
            .default_project
            .insert("http://a:1".into(), "acme/churn".into());
        defaults
            .default_project
            .insert("http://b:2".into(), "beta/x".into());
        let text = toml::to_string(&defaults).unwrap();
        credentials::replace_private(&path, &text).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.default_project["http://a:1"], "acme/churn");
        assert_eq!(loaded.default_project["http://b:2"], "beta/x");
        fs_err::write(&path, "default_project = 3").unwrap();
        assert!(load(&path).unwrap_err().message.starts_with("cannot read"));
    }
}
