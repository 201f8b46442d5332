//! `plinth files …`: project files through the S3 endpoint; for now the S3 access keys
//! (`plinth files keys create|list|revoke`).

use clap::{Args, Subcommand};
use plinth_client::S3KeyRequest;

use super::output::{optional_time, print_json, Table};
use super::{block_on, ProjectRef, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth files`.
#[derive(Debug, Args)]
pub struct FilesArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: FilesCommand,
}

#[derive(Debug, Subcommand)]
enum FilesCommand {
    /// Manage your S3 access keys (buckets are projects, named `ORGANIZATION.PROJECT`).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an access key; the last line of stdout is `ENDPOINT_URL ACCESS_KEY_ID
    /// SECRET_ACCESS_KEY`, and the secret is shown only this once.
    Create {
        /// Limit the key to one project, `ORGANIZATION/PROJECT`.
        #[arg(long, value_name = "ORG/NAME")]
        project: Option<ProjectRef>,
        /// Allow only reads.
        #[arg(long)]
        read_only: bool,
    },
    /// List your access keys, revoked ones included.
    List,
    /// Revoke an access key: requests signed with it fail at once.
    Revoke {
        /// The access key id (`PLK…`).
        access_key_id: String,
    },
}

/// Runs `plinth files …`.
pub fn run(args: FilesArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            FilesCommand::Keys { command } => match command {
                KeysCommand::Create { project, read_only } => {
                    let created = client
                        .create_s3_key(&S3KeyRequest {
                            project: project.map(|project| project.to_string()),
                            read_only,
                        })
                        .await
                        .map_err(fail)?;
                    if json {
                        return print_json(&created);
                    }
                    eprintln!(
                        "created access key {} ({}, {}); its secret is shown only now.",
                        created.key.access_key_id,
                        created
                            .key
                            .project
                            .as_deref()
                            .unwrap_or("all your projects"),
                        if created.key.read_only {
                            "read-only"
                        } else {
                            "read-write"
                        },
                    );
                    eprintln!(
                        "use: AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; buckets are ORGANIZATION.PROJECT"
                    );
                    println!(
                        "{} {} {}",
                        created.endpoint_url, created.key.access_key_id, created.secret_access_key
                    );
                }
                KeysCommand::List => {
                    let list = client.list_s3_keys().await.map_err(fail)?;
                    if json {
                        return print_json(&list);
                    }
                    let mut table = Table::new(&[
                        "ACCESS KEY ID",
                        "PROJECT",
                        "ACCESS",
                        "CREATED",
                        "LAST USED",
                        "STATUS",
                    ]);
                    for key in &list.keys {
                        table.row(vec![
                            key.access_key_id.clone(),
                            key.project
                                .clone()
                                .or_else(|| key.project_id.clone())
                                .unwrap_or_else(|| "all".to_string()),
                            if key.read_only { "read" } else { "read-write" }.to_string(),
                            optional_time(Some(key.created_at_ms), ""),
                            optional_time(key.last_used_at_ms, "never"),
                            if key.revoked_at_ms.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                            .to_string(),
                        ]);
                    }
                    table.print("no access keys");
                    eprintln!("S3 endpoint: {}", list.endpoint_url);
                }
                KeysCommand::Revoke { access_key_id } => {
                    client.revoke_s3_key(&access_key_id).await.map_err(fail)?;
                    if !json {
                        println!("revoked access key `{access_key_id}`");
                    }
                }
            },
        }
        Ok(())
    })
}
