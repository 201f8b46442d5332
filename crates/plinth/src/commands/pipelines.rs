//! `plinth pipelines …`: Kubeflow Pipelines of a project through KFP's API
//! (`/projects/{org}/{project}/apis/v2beta1`): upload a compiled pipeline, list them, start
//! a run (of a file or an uploaded pipeline's latest version) and follow it, list runs or
//! show one with its tasks.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::output::{print_json, Table};
use super::project::{self, ProjectArgs};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth pipelines`.
#[derive(Debug, Args)]
pub struct PipelinesArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: PipelinesCommand,
}

#[derive(Debug, Subcommand)]
enum PipelinesCommand {
    /// Upload a pipeline compiled by the kfp SDK (its YAML).
    Upload {
        /// The compiled pipeline.
        file: std::path::PathBuf,
        /// Its name [default: the pipeline's own].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// List the project's pipelines.
    List {
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Start a run of a compiled pipeline file, or of an uploaded pipeline (`--pipeline`).
    #[command(
        after_help = "Examples:\n  plinth pipelines run chain.yaml --param n=4 --param 'tags=[1,2]' --wait\n  plinth pipelines run --pipeline chain"
    )]
    Run {
        /// The compiled pipeline.
        file: Option<std::path::PathBuf>,
        /// An uploaded pipeline's name (its latest version runs).
        #[arg(long, conflicts_with = "file")]
        pipeline: Option<String>,
        /// A parameter: NAME=VALUE, the value JSON when it parses as JSON, else a string.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// The run's name.
        #[arg(long)]
        name: Option<String>,
        /// Wait for the run to end; exit 1 unless it succeeded.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// List the project's runs, or show one run and its tasks.
    Runs {
        /// A run's id.
        run: Option<String>,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Stop a run.
    Stop {
        /// The run's id.
        run: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
}

fn parse_params(params: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut out = Map::new();
    for param in params {
        let (name, value) = param.split_once('=').ok_or_else(|| {
            Failure::runtime(format!("invalid `--param {param}`: expected NAME=VALUE"))
        })?;
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// Runs `plinth pipelines`.
pub fn run(args: PipelinesArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    block_on(async {
        let session = &session;
        let fail = |error| session.failure(error);
        match args.command {
            PipelinesCommand::Upload {
                file,
                name,
                project,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let client = session.client();
                let api = client.pipelines(&project.organization, &project.project);
                let text = fs_err::read_to_string(&file).map_err(Failure::runtime)?;
                let pipeline = api
                    .upload(name.as_deref().unwrap_or_default(), &text)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&pipeline);
                }
                eprintln!(
                    "pipeline {} uploaded ({})",
                    text_of(&pipeline["display_name"]),
                    text_of(&pipeline["pipeline_id"])
                );
                Ok(())
            }
            PipelinesCommand::List { project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let client = session.client();
                let listed = client
                    .pipelines(&project.organization, &project.project)
                    .list_pipelines()
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&listed);
                }
                let mut table = Table::new(&["NAME", "ID", "CREATED"]);
                for pipeline in listed["pipelines"].as_array().into_iter().flatten() {
                    table.row(vec![
                        text(&pipeline["display_name"]),
                        text(&pipeline["pipeline_id"]),
                        text(&pipeline["created_at"]),
                    ]);
                }
                table.print(&format!("no pipelines in project `{project}`"));
                Ok(())
            }
            PipelinesCommand::Run {
                file,
                pipeline,
                params,
                name,
                wait,
                project,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let parameters = parse_params(&params)?;
                let client = session.client();
                let api = client.pipelines(&project.organization, &project.project);
                let created = match (file, pipeline) {
                    (Some(file), _) => {
                        let text = fs_err::read_to_string(&file).map_err(Failure::runtime)?;
                        let spec: Value = serde_norway::Deserializer::from_str(&text)
                            .next()
                            .map(serde::Deserialize::deserialize)
                            .transpose()
                            .map_err(|error| {
                                Failure::runtime(format!(
                                    "`{}` is not YAML: {error}",
                                    file.display()
                                ))
                            })?
                            .unwrap_or(Value::Null);
                        api.create_run(
                            name.as_deref().unwrap_or_default(),
                            Some(spec),
                            None,
                            &parameters,
                        )
                        .await
                        .map_err(fail)?
                    }
                    (None, Some(pipeline)) => {
                        let listed = api.list_pipelines().await.map_err(fail)?;
                        let found = listed["pipelines"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|candidate| candidate["display_name"] == pipeline.as_str())
                            .ok_or_else(|| {
                                Failure::runtime(format!("no pipeline `{pipeline}` in `{project}`"))
                            })?;
                        let id = text(&found["pipeline_id"]);
                        let versions = api.list_versions(&id).await.map_err(fail)?;
                        let version =
                            text(&versions["pipeline_versions"][0]["pipeline_version_id"]);
                        api.create_run(
                            name.as_deref().unwrap_or_default(),
                            None,
                            Some((&id, &version)),
                            &parameters,
                        )
                        .await
                        .map_err(fail)?
                    }
                    (None, None) => {
                        return Err(Failure::runtime(
                            "give a compiled pipeline file or `--pipeline NAME`",
                        ))
                    }
                };
                let run_id = text(&created["run_id"]);
                if !wait {
                    if json {
                        return print_json(&created);
                    }
                    println!("{run_id}");
                    return Ok(());
                }
                eprintln!("run {run_id} started; waiting");
                let mut shown = std::collections::BTreeMap::new();
                loop {
                    let run = api.get_run(&run_id).await.map_err(fail)?;
                    for task in run["run_details"]["task_details"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        let name = text(&task["display_name"]);
                        let state = text(&task["state"]);
                        if shown.get(&name) != Some(&state) {
                            eprintln!("  {name}: {state}");
                            shown.insert(name, state);
                        }
                    }
                    let state = text(&run["state"]);
                    if matches!(
                        state.as_str(),
                        "SUCCEEDED" | "FAILED" | "CANCELED" | "SKIPPED"
                    ) {
                        if json {
                            print_json(&run)?;
                        } else {
                            println!("{run_id} {state}");
                        }
                        if state != "SUCCEEDED" {
                            return Err(Failure::runtime(format!(
                                "run {run_id} {state}: {}",
                                text(&run["error"]["message"])
                            )));
                        }
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            PipelinesCommand::Runs { run, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let client = session.client();
                let api = client.pipelines(&project.organization, &project.project);
                if let Some(run_id) = run {
                    let run = api.get_run(&run_id).await.map_err(fail)?;
                    if json {
                        return print_json(&run);
                    }
                    println!(
                        "{} {} {}",
                        text(&run["run_id"]),
                        text(&run["display_name"]),
                        text(&run["state"])
                    );
                    let mut table = Table::new(&["TASK", "STATE", "JOB", "OUTPUTS"]);
                    for task in run["run_details"]["task_details"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        table.row(vec![
                            text(&task["plinth_task_key"]),
                            text(&task["state"]),
                            task["plinth_job_id"].as_str().unwrap_or("").to_string(),
                            task["plinth_outputs"]["parameters"].to_string(),
                        ]);
                    }
                    table.print("no tasks yet");
                    return Ok(());
                }
                let runs = api.list_runs().await.map_err(fail)?;
                if json {
                    return print_json(&runs);
                }
                let mut table = Table::new(&["ID", "NAME", "STATE", "CREATED"]);
                for run in runs["runs"].as_array().into_iter().flatten() {
                    table.row(vec![
                        text(&run["run_id"]),
                        text(&run["display_name"]),
                        text(&run["state"]),
                        text(&run["created_at"]),
                    ]);
                }
                table.print(&format!("no pipeline runs in project `{project}`"));
                Ok(())
            }
            PipelinesCommand::Stop { run, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let client = session.client();
                client
                    .pipelines(&project.organization, &project.project)
                    .terminate_run(&run)
                    .await
                    .map_err(fail)?;
                eprintln!("run {run} is stopping");
                Ok(())
            }
        }
    })
}

fn text_of(value: &Value) -> String {
    text(value)
}
