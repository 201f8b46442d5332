//! `plinth pools …`: the node pools workloads are placed on (changes: admins).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use plinth_client::{NodePool, PoolRequest, PoolTaint};

use super::output::{or_dash, print_json, Table};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// The taint effects Kubernetes knows.
const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Flags and subcommands of `plinth pools`.
#[derive(Debug, Args)]
pub struct PoolsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: PoolsCommand,
}

#[derive(Debug, Subcommand)]
enum PoolsCommand {
    /// List the node pools.
    List,
    /// Create a node pool, or change one (admins).
    ///
    /// On an existing pool, what is not given stays as it is; --label (or --taint) given
    /// once or more replaces all labels (or taints). --clear-labels and --clear-taints
    /// remove them all.
    Set {
        /// The pool's name.
        name: String,
        /// Free text.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// A label the pool's nodes carry (Kubernetes nodeSelector); repeatable.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// A taint the pool's nodes carry (its workloads tolerate it); repeatable. EFFECT is
        /// NoSchedule, PreferNoSchedule or NoExecute.
        #[arg(long = "taint", value_name = "KEY=VALUE:EFFECT", value_parser = parse_taint)]
        taints: Vec<PoolTaint>,
        /// Remove every label.
        #[arg(long, conflicts_with = "labels")]
        clear_labels: bool,
        /// Remove every taint.
        #[arg(long, conflicts_with = "taints")]
        clear_taints: bool,
    },
    /// Delete a node pool that no resource class uses (admins).
    Delete {
        /// The pool's name.
        name: String,
    },
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not `KEY=VALUE`")),
    }
}

/// Parses `KEY=VALUE:EFFECT` (or `KEY:EFFECT`, with an empty value).
fn parse_taint(text: &str) -> Result<PoolTaint, String> {
    let invalid = || {
        format!(
            "`{text}` is not `KEY=VALUE:EFFECT` (EFFECT: {})",
            EFFECTS.join(", ")
        )
    };
    let (pair, effect) = text.rsplit_once(':').ok_or_else(invalid)?;
    let effect = EFFECTS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(effect))
        .ok_or_else(invalid)?;
    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
    if key.is_empty() {
        return Err(invalid());
    }
    Ok(PoolTaint {
        key: key.to_string(),
        value: value.to_string(),
        effect: (*effect).to_string(),
    })
}

/// `key=value:Effect`.
fn taint_text(taint: &PoolTaint) -> String {
    if taint.value.is_empty() {
        format!("{}:{}", taint.key, taint.effect)
    } else {
        format!("{}={}:{}", taint.key, taint.value, taint.effect)
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    or_dash(&parts.join(","))
}

/// Runs `plinth pools …`.
pub fn run(args: PoolsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            PoolsCommand::List => {
                let pools = client.list_pools().await.map_err(fail)?;
                if json {
                    return print_json(&pools);
                }
                print_pools(&pools);
            }
            PoolsCommand::Set {
                name,
                description,
                labels,
                taints,
                clear_labels,
                clear_taints,
            } => {
                let existing = client
                    .list_pools()
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .find(|pool| pool.name == name);
                let mut request =
                    existing
                        .as_ref()
                        .map_or_else(PoolRequest::default, |pool| PoolRequest {
                            description: pool.description.clone(),
                            node_selector: pool.node_selector.clone(),
                            taints: pool.taints.clone(),
                        });
                if let Some(description) = description {
                    request.description = description;
                }
                if clear_labels || !labels.is_empty() {
                    request.node_selector = labels.into_iter().collect();
                }
                if clear_taints || !taints.is_empty() {
                    request.taints = taints;
                }
                let pool = client.put_pool(&name, &request).await.map_err(fail)?;
                if json {
                    return print_json(&pool);
                }
                let verb = if existing.is_some() {
                    "updated"
                } else {
                    "created"
                };
                println!("{verb} node pool `{name}`");
            }
            PoolsCommand::Delete { name } => {
                client.delete_pool(&name).await.map_err(fail)?;
                if !json {
                    println!("deleted node pool `{name}`");
                }
            }
        }
        Ok(())
    })
}

fn print_pools(pools: &[NodePool]) {
    let mut table = Table::new(&["NAME", "LABELS", "TAINTS", "DESCRIPTION"]);
    for pool in pools {
        let taints: Vec<String> = pool.taints.iter().map(taint_text).collect();
        table.row(vec![
            pool.name.clone(),
            labels_text(&pool.node_selector),
            or_dash(&taints.join(",")),
            or_dash(&pool.description),
        ]);
    }
    table.print("no node pools");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_read_like_kubectl() {
        let taint = parse_taint("nvidia.com/gpu=present:noschedule").unwrap();
        assert_eq!(
            (
                taint.key.as_str(),
                taint.value.as_str(),
                taint.effect.as_str()
            ),
            ("nvidia.com/gpu", "present", "NoSchedule")
        );
        assert_eq!(taint_text(&taint), "nvidia.com/gpu=present:NoSchedule");
        let bare = parse_taint("dedicated:NoExecute").unwrap();
        assert_eq!(taint_text(&bare), "dedicated:NoExecute");
        for bad in ["x=y", "x=y:Sometimes", ":NoSchedule", "=v:NoSchedule"] {
            assert!(parse_taint(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_label("=b").is_err());
    }
}
