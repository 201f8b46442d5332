//! `plinth classes …`: the named sizes users pick for their work (changes: admins).

use clap::{Args, Subcommand};
use plinth_client::{ClassRequest, ResourceClass};

use super::output::{or_dash, print_json, Table};
use super::units::{format_bytes, format_cpu, parse_bytes, parse_cpu};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth classes`.
#[derive(Debug, Args)]
pub struct ClassesArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: ClassesCommand,
}

#[derive(Debug, Subcommand)]
enum ClassesCommand {
    /// List the resource classes, smallest first.
    List,
    /// Create a resource class, or change one (admins).
    ///
    /// A new class needs --pool, --cpu and --memory; on an existing class, what is not
    /// given stays as it is. Running work keeps the size it started with.
    #[command(
        after_help = "Example:\n  plinth classes set medium --pool compute --cpu 2 --memory 8GiB"
    )]
    Set {
        /// The class's name.
        name: String,
        /// The node pool its work runs on.
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// CPU in cores, up to 3 decimals (1.5), or thousandths (1500m).
        #[arg(long, value_name = "CORES", value_parser = parse_cpu)]
        cpu: Option<u32>,
        /// Memory: 512MiB, 2GiB, 2Gi (powers of 1024) or 2G, 2GB (powers of 1000).
        #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
        memory: Option<u64>,
        /// Whole GPUs.
        #[arg(long, value_name = "N")]
        gpus: Option<u32>,
        /// Free text.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Delete a resource class (admins); running work keeps its size.
    Delete {
        /// The class's name.
        name: String,
    },
}

/// Runs `plinth classes …`.
pub fn run(args: ClassesArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            ClassesCommand::List => {
                let classes = client.list_classes().await.map_err(fail)?;
                if json {
                    return print_json(&classes);
                }
                print_classes(&classes);
            }
            ClassesCommand::Set {
                name,
                pool,
                cpu,
                memory,
                gpus,
                description,
            } => {
                let existing = client
                    .list_classes()
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .find(|class| class.name == name);
                let request = match &existing {
                    Some(class) => ClassRequest {
                        pool: pool.unwrap_or_else(|| class.pool.clone()),
                        description: description.unwrap_or_else(|| class.description.clone()),
                        cpu_millis: cpu.unwrap_or(class.cpu_millis),
                        memory_bytes: memory.unwrap_or(class.memory_bytes),
                        gpus: gpus.unwrap_or(class.gpus),
                    },
                    None => {
                        let (Some(pool), Some(cpu_millis), Some(memory_bytes)) =
                            (pool, cpu, memory)
                        else {
                            return Err(Failure::runtime(format!(
                                "class `{name}` does not exist yet: pass `--pool`, `--cpu` and `--memory` to create it"
                            )));
                        };
                        ClassRequest {
                            pool,
                            description: description.unwrap_or_default(),
                            cpu_millis,
                            memory_bytes,
                            gpus: gpus.unwrap_or(0),
                        }
                    }
                };
                let class = client.put_class(&name, &request).await.map_err(fail)?;
                if json {
                    return print_json(&class);
                }
                let verb = if existing.is_some() {
                    "updated"
                } else {
                    "created"
                };
                println!(
                    "{verb} resource class `{name}`: {} on pool `{}`",
                    size_text(&class),
                    class.pool
                );
            }
            ClassesCommand::Delete { name } => {
                client.delete_class(&name).await.map_err(fail)?;
                if !json {
                    println!("deleted resource class `{name}`");
                }
            }
        }
        Ok(())
    })
}

/// `1.5 CPU, 2 GiB` (`, 1 GPU`).
fn size_text(class: &ResourceClass) -> String {
    let mut text = format!(
        "{} CPU, {}",
        format_cpu(class.cpu_millis.into()),
        format_bytes(class.memory_bytes)
    );
    if class.gpus > 0 {
        text.push_str(&format!(", {} GPU", class.gpus));
    }
    text
}

fn print_classes(classes: &[ResourceClass]) {
    let mut table = Table::new(&["NAME", "POOL", "CPU", "MEMORY", "GPUS", "DESCRIPTION"]);
    for class in classes {
        table.row(vec![
            class.name.clone(),
            class.pool.clone(),
            format_cpu(class.cpu_millis.into()),
            format_bytes(class.memory_bytes),
            class.gpus.to_string(),
            or_dash(&class.description),
        ]);
    }
    table.print("no resource classes");
}
