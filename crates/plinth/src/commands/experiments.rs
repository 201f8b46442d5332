//! `plinth experiments …`: a project's MLflow experiments — list (with MLflow's filter
//! grammar), create, show, rename, delete, restore, and tags.

use clap::{Args, Subcommand};
use plinth_client::mlflow::{Experiment, Tag, ViewType};

use super::output::{optional_time, print_fields, print_json, Table};
use super::tracking::{collect_pages, parse_tag, user_tags, SearchArgs, Tracking, TrackingArgs};
use super::{block_on, Session};
use crate::cli::Failure;

/// Most experiments one page of the listing asks for.
const PAGE_SIZE: usize = 1000;

/// Flags and subcommands of `plinth experiments`.
#[derive(Debug, Args)]
pub struct ExperimentsArgs {
    #[command(flatten)]
    tracking: TrackingArgs,
    #[command(subcommand)]
    command: ExperimentsCommand,
}

#[derive(Debug, Subcommand)]
enum ExperimentsCommand {
    /// List the project's experiments, newest first.
    #[command(
        after_help = "Examples:\n  plinth experiments list\n  plinth experiments list --filter \"name LIKE 'churn%'\" --all"
    )]
    List {
        /// Deleted experiments too.
        #[arg(long)]
        all: bool,
        /// Only deleted experiments.
        #[arg(long, conflicts_with = "all")]
        deleted: bool,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Create an experiment; prints its id.
    Create {
        /// Its name, unique in the project.
        name: String,
        /// A tag (repeatable).
        #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tag: Vec<Tag>,
    },
    /// Show an experiment and its tags.
    Show {
        /// The experiment's name or id.
        experiment: String,
    },
    /// Rename an experiment.
    Rename {
        /// The experiment's name or id.
        experiment: String,
        /// Its new name.
        new_name: String,
    },
    /// Delete an experiment and its runs (they can be restored).
    Delete {
        /// The experiment's name or id.
        experiment: String,
    },
    /// Restore a deleted experiment and its runs.
    Restore {
        /// The experiment's name or id.
        experiment: String,
    },
    /// Set or delete an experiment's tags.
    #[command(subcommand)]
    Tag(TagCommand),
}

#[derive(Debug, Subcommand)]
enum TagCommand {
    /// Set a tag.
    Set {
        /// The experiment's name or id.
        experiment: String,
        /// The tag's key.
        key: String,
        /// The tag's value.
        value: String,
    },
    /// Delete a tag.
    Delete {
        /// The experiment's name or id.
        experiment: String,
        /// The tag's key.
        key: String,
    },
}

/// Runs `plinth experiments …`.
pub fn run(args: ExperimentsArgs) -> Result<(), Failure> {
    let json = args.tracking.remote.json;
    let session = Session::connect(&args.tracking.remote)?;
    block_on(async {
        let tracking = Tracking::open(session, &args.tracking.project).await?;
        let api = tracking.api();
        let fail = |error| tracking.fail(error);
        match args.command {
            ExperimentsCommand::List {
                all,
                deleted,
                search,
            } => {
                let view = match (all, deleted) {
                    (true, _) => ViewType::All,
                    (false, true) => ViewType::DeletedOnly,
                    (false, false) => ViewType::ActiveOnly,
                };
                let limit = search.limit;
                let (experiments, more) =
                    collect_pages(search.search(), search.limit(), PAGE_SIZE, async |search| {
                        let page = api.search_experiments(search, view).await.map_err(fail)?;
                        Ok((page.experiments, page.next_page_token))
                    })
                    .await?;
                if json {
                    return print_json(&experiments);
                }
                print!(
                    "{}",
                    render_list(&experiments, view != ViewType::ActiveOnly)
                );
                if more {
                    eprintln!("(more experiments than --limit {limit}; raise it to see them)");
                }
                Ok(())
            }
            ExperimentsCommand::Create { name, tag } => {
                let id = api.create_experiment(&name, &tag).await.map_err(fail)?;
                if json {
                    let experiment = api.get_experiment(&id).await.map_err(fail)?;
                    return print_json(&experiment);
                }
                eprintln!("created experiment `{name}` in `{}`", tracking.project);
                println!("{id}");
                Ok(())
            }
            ExperimentsCommand::Show { experiment } => {
                let experiment = tracking.experiment(&experiment).await?;
                if json {
                    return print_json(&experiment);
                }
                show(&experiment);
                Ok(())
            }
            ExperimentsCommand::Rename {
                experiment,
                new_name,
            } => {
                let found = tracking.experiment(&experiment).await?;
                api.rename_experiment(&found.experiment_id, &new_name)
                    .await
                    .map_err(fail)?;
                eprintln!(
                    "renamed experiment {} from `{}` to `{new_name}`",
                    found.experiment_id, found.name
                );
                Ok(())
            }
            ExperimentsCommand::Delete { experiment } => {
                let found = tracking.experiment(&experiment).await?;
                api.delete_experiment(&found.experiment_id)
                    .await
                    .map_err(fail)?;
                eprintln!(
                    "deleted experiment `{}` ({}); `plinth experiments restore {}` brings it back",
                    found.name, found.experiment_id, found.experiment_id
                );
                Ok(())
            }
            ExperimentsCommand::Restore { experiment } => {
                let found = tracking.experiment(&experiment).await?;
                api.restore_experiment(&found.experiment_id)
                    .await
                    .map_err(fail)?;
                eprintln!(
                    "restored experiment `{}` ({})",
                    found.name, found.experiment_id
                );
                Ok(())
            }
            ExperimentsCommand::Tag(TagCommand::Set {
                experiment,
                key,
                value,
            }) => {
                let found = tracking.experiment(&experiment).await?;
                api.set_experiment_tag(&found.experiment_id, &key, &value)
                    .await
                    .map_err(fail)?;
                eprintln!("set tag `{key}` of experiment `{}`", found.name);
                Ok(())
            }
            ExperimentsCommand::Tag(TagCommand::Delete { experiment, key }) => {
                let found = tracking.experiment(&experiment).await?;
                api.delete_experiment_tag(&found.experiment_id, &key)
                    .await
                    .map_err(fail)?;
                eprintln!("deleted tag `{key}` of experiment `{}`", found.name);
                Ok(())
            }
        }
    })
}

/// The experiments as a table; with `stages`, a column says which are deleted.
fn render_list(experiments: &[Experiment], stages: bool) -> String {
    let mut headers = vec!["ID", "NAME"];
    if stages {
        headers.push("STATE");
    }
    headers.extend(["CREATED", "UPDATED", "TAGS"]);
    let mut table = Table::new(&headers);
    for experiment in experiments {
        let mut row = vec![experiment.experiment_id.clone(), experiment.name.clone()];
        if stages {
            row.push(experiment.lifecycle_stage.clone());
        }
        row.extend([
            optional_time(experiment.creation_time, "-"),
            optional_time(experiment.last_update_time, "-"),
            user_tags(&experiment.tags),
        ]);
        table.row(row);
    }
    table.render("no experiments")
}

fn show(experiment: &Experiment) {
    print_fields(&[
        ("ID", experiment.experiment_id.clone()),
        ("Name", experiment.name.clone()),
        ("State", experiment.lifecycle_stage.clone()),
        ("Artifacts", experiment.artifact_location.clone()),
        ("Created", optional_time(experiment.creation_time, "-")),
        ("Updated", optional_time(experiment.last_update_time, "-")),
    ]);
    if !experiment.tags.is_empty() {
        println!();
        let mut table = Table::new(&["TAG", "VALUE"]);
        for tag in &experiment.tags {
            table.row(vec![tag.key.clone(), tag.value.clone()]);
        }
        table.print("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_tables_hide_mlflow_tags_and_show_states_when_asked() {
        let experiment = Experiment {
            experiment_id: "7".into(),
            name: "churn".into(),
            artifact_location: "mlflow-artifacts:/7".into(),
            lifecycle_stage: "deleted".into(),
            last_update_time: None,
            creation_time: None,
            tags: vec![
                Tag {
                    key: "team".into(),
                    value: "ml".into(),
                },
                Tag {
                    key: "mlflow.note.content".into(),
                    value: "x".into(),
                },
            ],
        };
        let text = render_list(std::slice::from_ref(&experiment), true);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "ID  NAME   STATE    CREATED  UPDATED  TAGS",
                "7   churn  deleted  -        -        team=ml"
            ]
        );
        assert!(!render_list(&[experiment], false).contains("deleted"));
        assert_eq!(render_list(&[], false), "no experiments\n");
    }
}
