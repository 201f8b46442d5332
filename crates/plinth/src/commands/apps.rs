//! `plinth apps …`: deploy a web app from the current folder (packed and uploaded as
//! `jobs run` does) with a command that listens on `$PLINTH_PORT_HTTP`; list, show, follow
//! and stop Apps. `create` prints the App's URL as its last line of stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use futures::StreamExt;
use plinth_client::{AppRequest, AppView, LogQuery, WorkloadState};

use super::jobs::{parse_env, parse_env_flag, spinner, upload, write_stdout, EnvFlag};
use super::output::{print_fields, print_json, time, Table};
use super::project::{self, ProjectArgs};
use super::snapshot;
use super::units::{format_age, now_ms};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// How long `apps create --wait` waits for the App to answer.
const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// Flags and subcommands of `plinth apps`.
#[derive(Debug, Args)]
pub struct AppsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: AppsCommand,
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Deploy a web app with this folder as its working files.
    ///
    /// The command must serve HTTP on the port in $PLINTH_PORT_HTTP (on 127.0.0.1 or all
    /// interfaces); $PLINTH_APP_URL is the URL visitors use. Visitors sign in with their
    /// Plinth account (viewers of the project and up) unless --public. The last line of
    /// output is the App's URL.
    #[command(
        after_help = "Examples:\n  plinth apps create site -- sh -c 'python3 -m http.server $PLINTH_PORT_HTTP'\n  plinth apps create dash --env viz -- sh -c 'streamlit run app.py --server.port $PLINTH_PORT_HTTP --server.headless true'"
    )]
    Create(CreateArgs),
    /// List a project's Apps.
    List {
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Show an App.
    Show {
        /// The App's name.
        name: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Print an App's output (stdout and stderr together).
    Logs {
        /// The App's name.
        name: String,
        #[command(flatten)]
        project: ProjectArgs,
        /// Keep printing output as it comes until the App stops.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
    },
    /// Stop an App (`create` with the same name deploys it again).
    Stop {
        /// The App's name.
        name: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
}

/// Flags of `plinth apps create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The App's name: lower-case letters, digits and single `-`.
    name: String,
    #[command(flatten)]
    project: ProjectArgs,
    /// The resource class (`plinth classes list`); Apps belong on the deployment pool.
    #[arg(long, short = 'c', default_value = "serve-small", value_name = "CLASS")]
    class: String,
    /// The folder to send as the App's working files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// The environment to run in, `NAME` or `NAME:VERSION`; a value with `=` is a variable.
    #[arg(long, short = 'e', value_name = "NAME[:VERSION]", value_parser = parse_env_flag)]
    env: Vec<EnvFlag>,
    /// An environment variable; `--var NAME` alone passes your own value.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    var: Vec<(String, String)>,
    /// Let anyone open it without signing in.
    #[arg(long)]
    public: bool,
    /// The path probed before traffic goes to the App [default: /].
    #[arg(long, value_name = "PATH")]
    health_path: Option<String>,
    /// Send no working files.
    #[arg(long)]
    no_snapshot: bool,
    /// Wait until the App is running before printing its URL.
    #[arg(long)]
    wait: bool,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs `plinth apps …`.
pub fn run(args: AppsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    block_on(async {
        let session = &session;
        match args.command {
            AppsCommand::Create(create_args) => create(session, create_args, json).await,
            AppsCommand::List { project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let apps = session
                    .client()
                    .list_apps(&project.organization, &project.project)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&apps);
                }
                let now = now_ms();
                let mut table = Table::new(&["NAME", "STATE", "ACCESS", "URL", "BY", "DEPLOYED"]);
                for app in &apps {
                    table.row(vec![
                        app.name.clone(),
                        app.state.as_str().to_string(),
                        access(app).to_string(),
                        app.url.clone(),
                        app.created_by_username.clone(),
                        format_age(app.created_at_ms, now),
                    ]);
                }
                table.print(&format!("no apps in project `{project}`"));
                Ok(())
            }
            AppsCommand::Show { name, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let app = session
                    .client()
                    .get_app(&project.organization, &project.project, &name)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&app);
                }
                show(&app);
                Ok(())
            }
            AppsCommand::Logs {
                name,
                project,
                follow,
                tail,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let mut stream = session
                    .client()
                    .app_logs(
                        &project.organization,
                        &project.project,
                        &name,
                        &LogQuery {
                            follow,
                            offset: 0,
                            tail,
                        },
                    )
                    .await
                    .map_err(|error| session.failure(error))?;
                while let Some(chunk) = stream.next().await {
                    write_stdout(&chunk.map_err(|error| session.failure(error))?)?;
                }
                Ok(())
            }
            AppsCommand::Stop { name, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let app = session
                    .client()
                    .stop_app(&project.organization, &project.project, &name)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&app);
                }
                eprintln!("stopping App `{}`", app.name);
                Ok(())
            }
        }
    })
}

fn access(app: &AppView) -> &'static str {
    if app.public {
        "public"
    } else {
        "members"
    }
}

fn show(app: &AppView) {
    print_fields(&[
        ("Name", app.name.clone()),
        ("URL", app.url.clone()),
        ("State", app.state.as_str().to_string()),
        (
            "Reason",
            if app.reason.is_empty() {
                "-".to_string()
            } else {
                app.reason.clone()
            },
        ),
        ("Access", access(app).to_string()),
        ("Readiness path", app.health_path.clone()),
        ("Workload", app.workload_id.clone()),
        ("Deployed by", app.created_by_username.clone()),
        ("Deployed", time(app.created_at_ms)),
    ]);
}

async fn create(session: &Session, args: CreateArgs, json: bool) -> Result<(), Failure> {
    let mut env: BTreeMap<String, String> = args.var.iter().cloned().collect();
    let mut environment = None;
    for flag in &args.env {
        match flag {
            EnvFlag::Variable(name, value) => {
                env.insert(name.clone(), value.clone());
            }
            EnvFlag::Environment(reference) if environment.is_none() => {
                environment = Some(reference.clone());
            }
            EnvFlag::Environment(reference) => {
                return Err(Failure::runtime(format!(
                    "`--env {reference}`: an App runs in one environment; give `--env` once (variables: `--var NAME=VALUE`)"
                )));
            }
        }
    }
    let (project, _) = project::resolve(session, &args.project).await?;
    let snapshot = if args.no_snapshot {
        None
    } else {
        let dir = args.dir.clone();
        let bar = spinner();
        let built = tokio::task::spawn_blocking(move || {
            snapshot::build(&dir, &Arc::new(AtomicBool::new(false)), &mut |_, _| {})
        })
        .await
        .map_err(|error| Failure::runtime(format!("snapshot failed: {error}")))?
        .map_err(Failure::runtime);
        bar.finish_and_clear();
        let built = built?;
        for warning in &built.warnings {
            eprintln!("warning: {warning}");
        }
        upload(session, &project, &built).await?;
        Some(built)
    };
    let request = AppRequest {
        name: args.name.clone(),
        class: args.class.clone(),
        command: args.command.clone(),
        env,
        snapshot: snapshot.as_ref().map(|snapshot| snapshot.sha256.clone()),
        environment,
        public: args.public,
        health_path: args.health_path.clone(),
    };
    let mut app = session
        .client()
        .create_app(&project.organization, &project.project, &request)
        .await
        .map_err(|error| session.failure(error))?;
    drop(snapshot);
    if args.wait {
        let started = Instant::now();
        while matches!(
            app.state,
            WorkloadState::Queued | WorkloadState::Starting | WorkloadState::Pending
        ) {
            if started.elapsed() > WAIT_LIMIT {
                return Err(Failure::runtime(format!(
                    "App `{}` did not start within {} s (`plinth apps logs {}` shows its output)",
                    app.name,
                    WAIT_LIMIT.as_secs(),
                    app.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            app = session
                .client()
                .get_app(&project.organization, &project.project, &app.name)
                .await
                .map_err(|error| session.failure(error))?;
        }
        if app.state != WorkloadState::Running {
            return Err(Failure::runtime(format!(
                "App `{}` is {}{} (`plinth apps logs {}` shows its output)",
                app.name,
                app.state.as_str(),
                if app.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", app.reason)
                },
                app.name
            )));
        }
    }
    if json {
        return print_json(&app);
    }
    eprintln!(
        "App `{}` is {} ({}); `plinth apps logs {}` shows its output",
        app.name,
        app.state.as_str(),
        access(&app),
        app.name
    );
    println!("{}", app.url);
    Ok(())
}
