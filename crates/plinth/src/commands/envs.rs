//! `plinth envs …`: environments — named, versioned sets of Python packages jobs run in —
//! of the current project (or global ones, `--global`, changed by admins).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use plinth_client::{
    CreateEnvironmentRequest, EnvironmentDetail, EnvironmentSpec, EnvironmentVersion,
};

use super::output::{optional_time, or_dash, print_fields, print_json, time, Table};
use super::project::{self, ProjectArgs};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth envs`.
#[derive(Debug, Args)]
pub struct EnvsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    project: ProjectArgs,
    /// The global environments (every project may use them; admins change them).
    #[arg(long, global = true)]
    global: bool,
    #[command(subcommand)]
    command: EnvsCommand,
}

/// What a version asks for, as flags.
#[derive(Debug, Args)]
struct SpecArgs {
    /// The Python version: `3.11` or `3.11.7`.
    #[arg(long, value_name = "VERSION")]
    python: String,
    /// A requirements file (one requirement a line; pip options are refused).
    #[arg(long = "requirements", short = 'r', value_name = "FILE")]
    requirements: Option<PathBuf>,
    /// A further requirement (`pandas>=2`); repeatable.
    #[arg(long = "package", value_name = "P")]
    packages: Vec<String>,
    /// A system package (image builds; refused on the local backend); repeatable.
    #[arg(long = "apt", value_name = "P")]
    apt_packages: Vec<String>,
    /// The base image of image builds.
    #[arg(long, value_name = "IMAGE")]
    base_image: Option<String>,
    /// A variable every job in the environment gets; repeatable.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_variable)]
    env: Vec<(String, String)>,
}

impl SpecArgs {
    fn spec(&self) -> Result<EnvironmentSpec, Failure> {
        let requirements = match &self.requirements {
            Some(path) => fs_err::read_to_string(path).map_err(|error| {
                Failure::runtime(format!("cannot read the requirements: {error}"))
            })?,
            None => String::new(),
        };
        Ok(EnvironmentSpec {
            python: self.python.clone(),
            requirements,
            packages: self.packages.clone(),
            apt_packages: self.apt_packages.clone(),
            base_image: self.base_image.clone(),
            env: self.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        })
    }
}

#[derive(Debug, Subcommand)]
enum EnvsCommand {
    /// Create an environment (version 1). Nothing is resolved or built until
    /// `plinth envs build` or the first job that uses it.
    Create {
        /// Its name: lower-case letters, digits, `-`, `_`, `.`.
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Make a new version of an environment asking for this (the old ones stay).
    Update {
        /// Its name.
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// List the project's environments and the global ones.
    List,
    /// Show a version (`NAME`: the latest; `NAME:VERSION`): what it asks for, its lock and build.
    Show {
        /// `NAME` or `NAME:VERSION`.
        name: String,
    },
    /// List every version of an environment: who changed what, when.
    Versions {
        /// Its name.
        name: String,
    },
    /// Resolve and build a version now, with a progress line.
    Build {
        /// `NAME` or `NAME:VERSION`.
        name: String,
    },
    /// Print a version's resolution and build logs.
    Logs {
        /// `NAME` or `NAME:VERSION`.
        name: String,
    },
    /// Delete an environment and all its versions.
    Delete {
        /// Its name.
        name: String,
    },
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not `K=V`")),
    }
}

/// Runs `plinth envs …`.
pub fn run(args: EnvsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    block_on(async {
        let session = &session;
        let project = if args.global {
            None
        } else {
            Some(project::resolve(session, &args.project).await?.0)
        };
        let scope = project
            .as_ref()
            .map(|project| (project.organization.as_str(), project.project.as_str()));
        let client = session.client();
        let fail = |error| session.failure(error);
        match args.command {
            EnvsCommand::Create { name, spec } => {
                let spec = spec.spec()?;
                let request = CreateEnvironmentRequest {
                    name,
                    python: spec.python,
                    requirements: spec.requirements,
                    packages: spec.packages,
                    apt_packages: spec.apt_packages,
                    base_image: spec.base_image,
                    env: spec.env,
                };
                let detail = client
                    .create_environment(scope, &request)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&detail);
                }
                eprintln!(
                    "environment {} created (version 1); `plinth envs build {}` resolves and builds it",
                    detail.environment.name, detail.environment.name
                );
            }
            EnvsCommand::Update { name, spec } => {
                let version = client
                    .update_environment(scope, &name, &spec.spec()?)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&version);
                }
                eprintln!(
                    "environment {name} is at version {} ({} changed)",
                    version.version,
                    version.changes.join(", ")
                );
            }
            EnvsCommand::List => {
                let environments = client.list_environments(scope).await.map_err(fail)?;
                if json {
                    return print_json(&environments);
                }
                let mut table = Table::new(&["NAME", "SCOPE", "LATEST", "CREATED BY", "CREATED"]);
                for environment in &environments {
                    table.row(vec![
                        environment.name.clone(),
                        if environment.project_id.is_some() {
                            "project"
                        } else {
                            "global"
                        }
                        .to_string(),
                        environment.latest_version.to_string(),
                        environment.created_by.clone(),
                        time(environment.created_at_ms),
                    ]);
                }
                table.print("no environments");
            }
            EnvsCommand::Show { name } => {
                let detail = client.get_environment(scope, &name).await.map_err(fail)?;
                if json {
                    return print_json(&detail);
                }
                print_detail(&detail);
            }
            EnvsCommand::Versions { name } => {
                let history = client
                    .environment_versions(scope, &name)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&history);
                }
                let mut table = Table::new(&[
                    "VERSION",
                    "BY",
                    "WHEN",
                    "CHANGED",
                    "PYTHON",
                    "RESOLUTION",
                    "LOCK",
                ]);
                for version in &history.versions {
                    table.row(vec![
                        version.version.to_string(),
                        version.created_by.clone(),
                        time(version.created_at_ms),
                        or_dash(&version.changes.join(", ")),
                        version.spec.python.clone(),
                        version.resolution.as_str().to_string(),
                        or_dash(short_hash(version.lock_hash.as_deref().unwrap_or(""))),
                    ]);
                }
                table.print("no versions");
            }
            EnvsCommand::Build { name } => {
                let bar =
                    (!json).then(|| super::jobs::progress_line(&format!("building {name}: ")));
                let build = client.build_environment(scope, &name);
                tokio::pin!(build);
                // While it builds, the progress line shows the log's last line.
                let detail = loop {
                    tokio::select! {
                        result = &mut build => break result,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            if let (Some(bar), Ok(log)) = (&bar, client.environment_logs(scope, &name).await) {
                                if let Some(line) = log.lines().rev().find(|line| !line.trim().is_empty()) {
                                    bar.set_message(line.trim().to_string());
                                }
                            }
                        }
                    }
                };
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                let detail = detail.map_err(fail)?;
                if json {
                    return print_json(&detail);
                }
                let hash = detail.version.lock_hash.as_deref().unwrap_or("");
                eprintln!(
                    "environment {}:{} is ready (lock {}, {} packages)",
                    detail.environment.name,
                    detail.version.version,
                    short_hash(hash),
                    detail
                        .version
                        .lock
                        .as_ref()
                        .map_or(0, |lock| lock.packages.len())
                );
            }
            EnvsCommand::Logs { name } => {
                let text = client.environment_logs(scope, &name).await.map_err(fail)?;
                print!("{text}");
            }
            EnvsCommand::Delete { name } => {
                client
                    .delete_environment(scope, &name)
                    .await
                    .map_err(fail)?;
                if !json {
                    eprintln!("environment {name} deleted");
                }
            }
        }
        Ok(())
    })
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn print_detail(detail: &EnvironmentDetail) {
    let version: &EnvironmentVersion = &detail.version;
    let spec = &version.spec;
    let mut fields = vec![
        (
            "environment",
            format!("{}:{}", detail.environment.name, version.version),
        ),
        (
            "scope",
            if detail.environment.project_id.is_some() {
                "project"
            } else {
                "global"
            }
            .to_string(),
        ),
        (
            "latest version",
            detail.environment.latest_version.to_string(),
        ),
        (
            "created by",
            format!("{} at {}", version.created_by, time(version.created_at_ms)),
        ),
        ("changed", or_dash(&version.changes.join(", "))),
        ("python", spec.python.clone()),
        ("packages", or_dash(&spec.packages.join(" "))),
        (
            "requirements",
            format!("{} lines", count_lines(&spec.requirements)),
        ),
        ("resolution", version.resolution.as_str().to_string()),
    ];
    if let Some(error) = &version.resolution_error {
        fields.push(("resolution error", error.clone()));
    }
    if let Some(hash) = &version.lock_hash {
        fields.push(("lock hash", hash.clone()));
    }
    if let Some(build) = &detail.build {
        fields.push(("build", build.state.as_str().to_string()));
        fields.push(("last used", optional_time(Some(build.last_used_at_ms), "-")));
        if let Some(error) = &build.error {
            fields.push(("build error", error.clone()));
        }
    }
    print_fields(&fields);
    if let Some(lock) = &version.lock {
        println!();
        println!(
            "lock (Python {}, {}, uv {}):",
            lock.python_version, lock.platform, lock.uv_version
        );
        for package in &lock.packages {
            println!("  {}=={}", package.name, package.version);
        }
    }
}

pub(crate) fn count_lines(text: &str) -> usize {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .count()
}
