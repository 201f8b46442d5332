//! `plinth deployments …`: deploy a registered model version as a Model API (`create NAME
//! --model MODEL@ALIAS|MODEL/VERSION`), list, show and delete deployments. `create` prints
//! the endpoint's URL as its last line of stdout.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use plinth_client::{CreateDeploymentRequest, DeploymentState, DeploymentView};

use super::output::{print_fields, print_json, time, Table};
use super::project::{self, ProjectArgs};
use super::units::{format_age, now_ms};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// How long `deployments create --wait` waits for the model to load.
const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// Flags and subcommands of `plinth deployments`.
#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: DeploymentsCommand,
}

#[derive(Debug, Subcommand)]
enum DeploymentsCommand {
    /// Deploy a registered model version as an HTTP API.
    ///
    /// The version needs an `onnx` flavor (`mlflow.onnx.log_model`). The endpoint answers
    /// MLflow's scoring protocol at `URL/invocations` and the Open Inference Protocol at
    /// `URL/v2/…`, for viewers of the project and up. The last line of output is the URL.
    #[command(
        after_help = "Examples:\n  plinth deployments create iris --model iris@champion --wait\n  plinth deployments create iris-v3 --model iris/3"
    )]
    Create {
        /// The deployment's name: lower-case letters, digits and `-`.
        name: String,
        /// The registered model and version: `MODEL@ALIAS` or `MODEL/VERSION`.
        #[arg(long, short = 'm', value_name = "MODEL@ALIAS|MODEL/VERSION")]
        model: String,
        #[command(flatten)]
        project: ProjectArgs,
        /// Wait until the model is loaded and answering before printing the URL.
        #[arg(long)]
        wait: bool,
    },
    /// List a project's deployments.
    List {
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Show a deployment, with an example request.
    Show {
        /// The deployment's name.
        name: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Delete a deployment (its endpoint answers 404 from then on).
    Delete {
        /// The deployment's name.
        name: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
}

/// Runs `plinth deployments …`.
pub fn run(args: DeploymentsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    block_on(async {
        let session = &session;
        match args.command {
            DeploymentsCommand::Create {
                name,
                model,
                project,
                wait,
            } => {
                let (project, _) = project::resolve(session, &project).await?;
                let (organization, project) = (project.organization, project.project);
                let mut deployment = session
                    .client()
                    .create_deployment(
                        &organization,
                        &project,
                        &CreateDeploymentRequest { name, model },
                    )
                    .await
                    .map_err(|error| session.failure(error))?;
                if wait {
                    let started = Instant::now();
                    while deployment.state == DeploymentState::Loading {
                        if started.elapsed() > WAIT_LIMIT {
                            return Err(Failure::runtime(format!(
                                "deployment `{}` did not load within {} s",
                                deployment.name,
                                WAIT_LIMIT.as_secs()
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        deployment = session
                            .client()
                            .get_deployment(&organization, &project, &deployment.name)
                            .await
                            .map_err(|error| session.failure(error))?;
                    }
                    if deployment.state == DeploymentState::Failed {
                        return Err(Failure::runtime(format!(
                            "deployment `{}` failed to load: {}",
                            deployment.name,
                            deployment.message.as_deref().unwrap_or("no reason given")
                        )));
                    }
                }
                if json {
                    return print_json(&deployment);
                }
                eprintln!(
                    "deployment `{}` serves `{}` version {} ({})",
                    deployment.name, deployment.model, deployment.model_version, deployment.state
                );
                println!("{}", endpoint_url(session, &deployment));
                Ok(())
            }
            DeploymentsCommand::List { project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let deployments = session
                    .client()
                    .list_deployments(&project.organization, &project.project)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&deployments);
                }
                let now = now_ms();
                let mut table =
                    Table::new(&["NAME", "MODEL", "VERSION", "STATE", "URL", "BY", "DEPLOYED"]);
                for deployment in &deployments {
                    table.row(vec![
                        deployment.name.clone(),
                        deployment.model_ref.clone(),
                        deployment.model_version.to_string(),
                        deployment.state.to_string(),
                        endpoint_url(session, deployment),
                        deployment.created_by.clone(),
                        format_age(deployment.created_at_ms, now),
                    ]);
                }
                table.print(&format!("no deployments in project `{project}`"));
                Ok(())
            }
            DeploymentsCommand::Show { name, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                let deployment = session
                    .client()
                    .get_deployment(&project.organization, &project.project, &name)
                    .await
                    .map_err(|error| session.failure(error))?;
                if json {
                    return print_json(&deployment);
                }
                let url = endpoint_url(session, &deployment);
                print_fields(&[
                    ("Name", deployment.name.clone()),
                    ("URL", url.clone()),
                    ("Model", deployment.model.clone()),
                    ("Version", deployment.model_version.to_string()),
                    ("Asked for", deployment.model_ref.clone()),
                    ("Flavor", deployment.flavor.clone()),
                    ("State", deployment.state.to_string()),
                    (
                        "Reason",
                        deployment
                            .message
                            .clone()
                            .unwrap_or_else(|| "-".to_string()),
                    ),
                    ("Deployed by", deployment.created_by.clone()),
                    ("Deployed", time(deployment.created_at_ms)),
                ]);
                println!();
                println!("Try it:");
                println!("  {}", curl_example(&url));
                Ok(())
            }
            DeploymentsCommand::Delete { name, project } => {
                let (project, _) = project::resolve(session, &project).await?;
                session
                    .client()
                    .delete_deployment(&project.organization, &project.project, &name)
                    .await
                    .map_err(|error| session.failure(error))?;
                eprintln!("deleted deployment `{name}`");
                Ok(())
            }
        }
    })
}

/// The endpoint's URL on the server the CLI talks to.
fn endpoint_url(session: &Session, deployment: &DeploymentView) -> String {
    format!(
        "{}{}",
        session.client().server().trim_end_matches('/'),
        deployment.path
    )
}

/// A request a user can paste (the token from `$PLINTH_TOKEN`).
pub(crate) fn curl_example(url: &str) -> String {
    format!(
        "curl -H \"Authorization: Bearer $PLINTH_TOKEN\" -H 'Content-Type: application/json' -d '{{\"dataframe_split\": {{\"columns\": [...], \"data\": [[...]]}}}}' {url}/invocations"
    )
}
