//! `plinth models …`: a project's MLflow model registry — registered models and their
//! versions, aliases and stages, and downloading a version's files.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use plinth_client::mlflow::{ModelVersion, RegisteredModel, Search, Tag};

use super::artifacts::{self, checked_path, proxy_root};
use super::output::{optional_time, or_dash, print_fields, print_json, Table};
use super::runs::get_run;
use super::tracking::{collect_pages, parse_tag, user_tags, SearchArgs, Tracking, TrackingArgs};
use super::{block_on, Session};
use crate::cli::Failure;

/// Most models or versions one page asks for.
const PAGE_SIZE: usize = 1000;
/// What to do when a model is not found.
const MODELS_HINT: &str = "`plinth models list` shows its registered models";

/// Flags and subcommands of `plinth models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    tracking: TrackingArgs,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List the project's registered models.
    List {
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Show a registered model: description, tags, aliases and every version.
    Show {
        /// The model's name.
        name: String,
    },
    /// List a registered model's versions, newest first.
    Versions {
        /// The model's name.
        name: String,
    },
    /// Register a model name (versions come from runs: `mlflow.register_model`).
    Create {
        /// The name, unique in the project.
        name: String,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeatable).
        #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tag: Vec<Tag>,
    },
    /// Rename a registered model; versions and aliases follow.
    Rename {
        /// The model's name.
        name: String,
        /// Its new name.
        new_name: String,
    },
    /// Delete a registered model and all its versions.
    Delete {
        /// The model's name.
        name: String,
    },
    /// Point an alias at a version, or remove it.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Move a version to a stage.
    Stage {
        /// The model's name.
        name: String,
        /// The version number.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// The stage.
        #[arg(value_enum, ignore_case = true)]
        stage: Stage,
        /// Move the versions now in that stage to Archived.
        #[arg(long)]
        archive_existing: bool,
    },
    /// Download a version's files (`NAME` is the latest version, `NAME/3` version 3,
    /// `NAME@champion` the version an alias points at).
    Download {
        /// `NAME`, `NAME/VERSION` or `NAME@ALIAS`.
        model: String,
        /// The folder to write the files into [default: ./NAME-vVERSION].
        #[arg(long, short = 'd', value_name = "DIR")]
        dest: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AliasCommand {
    /// Point an alias at a version (moving it if it pointed elsewhere).
    Set {
        /// The model's name.
        name: String,
        /// The alias, e.g. `champion`.
        alias: String,
        /// The version number.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
    },
    /// Remove an alias.
    Delete {
        /// The model's name.
        name: String,
        /// The alias.
        alias: String,
    },
}

/// MLflow's model version stages.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }
}

/// Runs `plinth models …`.
pub fn run(args: ModelsArgs) -> Result<(), Failure> {
    let json = args.tracking.remote.json;
    let session = Session::connect(&args.tracking.remote)?;
    block_on(async {
        let tracking = &Tracking::open(session, &args.tracking.project).await?;
        let api = tracking.api();
        let fail = |error| tracking.fail(error);
        let model_fail = |name: &str| {
            let what = format!("registered model `{name}`");
            move |error| tracking.fail_lookup(error, &what, MODELS_HINT)
        };
        match args.command {
            ModelsCommand::List { search } => {
                let limit = search.limit;
                let (models, more) =
                    collect_pages(search.search(), search.limit(), PAGE_SIZE, async |search| {
                        let page = api.search_registered_models(search).await.map_err(fail)?;
                        Ok((page.registered_models, page.next_page_token))
                    })
                    .await?;
                if json {
                    return print_json(&models);
                }
                print!("{}", render_models(&models));
                if more {
                    eprintln!("(more models than --limit {limit}; raise it to see them)");
                }
                Ok(())
            }
            ModelsCommand::Show { name } => {
                let model = api
                    .get_registered_model(&name)
                    .await
                    .map_err(model_fail(&name))?;
                let versions = versions(tracking, &name).await?;
                if json {
                    return print_json(&serde_json::json!({
                        "registered_model": model,
                        "model_versions": versions,
                    }));
                }
                show(&model);
                println!("\nVersions:");
                print!("{}", render_versions(&versions));
                Ok(())
            }
            ModelsCommand::Versions { name } => {
                api.get_registered_model(&name)
                    .await
                    .map_err(model_fail(&name))?;
                let versions = versions(tracking, &name).await?;
                if json {
                    return print_json(&versions);
                }
                print!("{}", render_versions(&versions));
                Ok(())
            }
            ModelsCommand::Create {
                name,
                description,
                tag,
            } => {
                let model = api
                    .create_registered_model(&name, description.as_deref(), &tag)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&model);
                }
                eprintln!(
                    "registered model `{}` in `{}`",
                    model.name, tracking.project
                );
                Ok(())
            }
            ModelsCommand::Rename { name, new_name } => {
                api.rename_registered_model(&name, &new_name)
                    .await
                    .map_err(model_fail(&name))?;
                eprintln!("renamed registered model `{name}` to `{new_name}`");
                Ok(())
            }
            ModelsCommand::Delete { name } => {
                api.delete_registered_model(&name)
                    .await
                    .map_err(model_fail(&name))?;
                eprintln!("deleted registered model `{name}` and its versions");
                Ok(())
            }
            ModelsCommand::Alias(AliasCommand::Set {
                name,
                alias,
                version,
            }) => {
                api.set_registered_model_alias(&name, &alias, &version)
                    .await
                    .map_err(fail)?;
                eprintln!("`{name}@{alias}` is version {version}");
                Ok(())
            }
            ModelsCommand::Alias(AliasCommand::Delete { name, alias }) => {
                api.delete_registered_model_alias(&name, &alias)
                    .await
                    .map_err(fail)?;
                eprintln!("removed alias `{alias}` of `{name}`");
                Ok(())
            }
            ModelsCommand::Stage {
                name,
                version,
                stage,
                archive_existing,
            } => {
                let moved = api
                    .transition_model_version_stage(
                        &name,
                        &version,
                        stage.as_str(),
                        archive_existing,
                    )
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&moved);
                }
                eprintln!(
                    "`{name}` version {} is now in stage {}",
                    moved.version, moved.current_stage
                );
                Ok(())
            }
            ModelsCommand::Download { model, dest } => download(tracking, &model, dest, json).await,
        }
    })
}

/// Returns every version of a model, newest first.
async fn versions(tracking: &Tracking, name: &str) -> Result<Vec<ModelVersion>, Failure> {
    let api = tracking.api();
    // MLflow's filter grammar has no escapes: a name with a `'` is matched here instead.
    let filter = (!name.contains('\'')).then(|| format!("name = '{name}'"));
    let search = Search {
        filter,
        ..Search::default()
    };
    let (mut versions, _) = collect_pages(search, usize::MAX, PAGE_SIZE, async |search| {
        let page = api
            .search_model_versions(search)
            .await
            .map_err(|error| tracking.fail(error))?;
        Ok((page.model_versions, page.next_page_token))
    })
    .await?;
    versions.retain(|version| version.name == name);
    versions.sort_by_key(|version| std::cmp::Reverse(version.version.parse::<i64>().unwrap_or(0)));
    Ok(versions)
}

fn render_models(models: &[RegisteredModel]) -> String {
    let mut table = Table::new(&["NAME", "LATEST", "ALIASES", "UPDATED", "DESCRIPTION"]);
    for model in models {
        let latest = model
            .latest_versions
            .iter()
            .filter_map(|version| version.version.parse::<i64>().ok())
            .max()
            .map_or_else(|| "-".to_string(), |version| version.to_string());
        let aliases: Vec<String> = model
            .aliases
            .iter()
            .map(|alias| format!("{}→{}", alias.alias, alias.version))
            .collect();
        table.row(vec![
            model.name.clone(),
            latest,
            or_dash(&aliases.join(", ")),
            optional_time(model.last_updated_timestamp, "-"),
            or_dash(model.description.as_deref().unwrap_or_default()),
        ]);
    }
    table.render("no registered models")
}

fn render_versions(versions: &[ModelVersion]) -> String {
    let mut table = Table::new(&[
        "VERSION", "STAGE", "ALIASES", "STATUS", "RUN", "SOURCE", "CREATED",
    ]);
    for version in versions {
        table.row(vec![
            version.version.clone(),
            version.current_stage.clone(),
            or_dash(&version.aliases.join(", ")),
            version.status.clone(),
            or_dash(version.run_id.as_deref().unwrap_or_default()),
            or_dash(&version.source),
            optional_time(version.creation_timestamp, "-"),
        ]);
    }
    table.render("no versions")
}

fn show(model: &RegisteredModel) {
    let aliases: Vec<String> = model
        .aliases
        .iter()
        .map(|alias| format!("{} → {}", alias.alias, alias.version))
        .collect();
    print_fields(&[
        ("Name", model.name.clone()),
        (
            "Description",
            or_dash(model.description.as_deref().unwrap_or_default()),
        ),
        ("Aliases", or_dash(&aliases.join(", "))),
        ("Tags", or_dash(&user_tags(&model.tags))),
        ("Created", optional_time(model.creation_timestamp, "-")),
        ("Updated", optional_time(model.last_updated_timestamp, "-")),
    ]);
}

/// Which version `NAME`, `NAME/VERSION` or `NAME@ALIAS` means.
#[derive(Debug, PartialEq, Eq)]
enum ModelRef {
    Latest(String),
    Version(String, String),
    Alias(String, String),
}

fn parse_model_ref(text: &str) -> Result<ModelRef, Failure> {
    let invalid = || {
        Failure::runtime(format!(
            "`{text}` is not `NAME`, `NAME/VERSION` or `NAME@ALIAS`"
        ))
    };
    if let Some((name, alias)) = text.rsplit_once('@') {
        if name.is_empty() || alias.is_empty() {
            return Err(invalid());
        }
        return Ok(ModelRef::Alias(name.to_string(), alias.to_string()));
    }
    if let Some((name, version)) = text.rsplit_once('/') {
        if !name.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(ModelRef::Version(name.to_string(), version.to_string()));
        }
    }
    if text.is_empty() {
        return Err(invalid());
    }
    Ok(ModelRef::Latest(text.to_string()))
}

async fn download(
    tracking: &Tracking,
    model: &str,
    dest: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let api = tracking.api();
    let not_found = |name: &str| {
        let what = format!("registered model `{name}`");
        move |error| tracking.fail_lookup(error, &what, MODELS_HINT)
    };
    let version = match parse_model_ref(model)? {
        ModelRef::Version(name, version) => api
            .get_model_version(&name, &version)
            .await
            .map_err(not_found(&name))?,
        ModelRef::Alias(name, alias) => api
            .get_model_version_by_alias(&name, &alias)
            .await
            .map_err(not_found(&name))?,
        ModelRef::Latest(name) => {
            api.get_registered_model(&name)
                .await
                .map_err(not_found(&name))?;
            versions(tracking, &name)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Failure::runtime(format!("registered model `{name}` has no versions yet"))
                })?
        }
    };
    let uri = api
        .get_model_version_download_uri(&version.name, &version.version)
        .await
        .map_err(|error| tracking.fail(error))?;
    let remote = match uri.strip_prefix("runs:/") {
        Some(rest) => {
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            let run = get_run(tracking, run_id).await?;
            let root = proxy_root(&run.info.artifact_uri)?;
            std::iter::once(root)
                .chain(checked_path(path)?)
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("/")
        }
        None => proxy_root(&uri)?,
    };
    let dest = match dest {
        Some(dest) => dest,
        None => {
            let folder = format!("{}-v{}", version.name, version.version);
            checked_path(&folder)
                .ok()
                .filter(|segments| segments.len() == 1)
                .map(|_| PathBuf::from(folder))
                .ok_or_else(|| {
                    Failure::runtime(format!(
                        "model name `{}` is no folder name: pass `--dest DIR`",
                        version.name
                    ))
                })?
        }
    };
    let what = format!("`{}` version {}", version.name, version.version);
    let summary = artifacts::download(tracking, &remote, &dest, &what).await?;
    if json {
        return print_json(&summary);
    }
    eprintln!(
        "downloaded {what}: {} file{}",
        summary.files,
        if summary.files == 1 { "" } else { "s" }
    );
    println!("{}", summary.path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_references_name_a_version_an_alias_or_the_latest() {
        assert_eq!(
            parse_model_ref("churn").unwrap(),
            ModelRef::Latest("churn".into())
        );
        assert_eq!(
            parse_model_ref("churn/3").unwrap(),
            ModelRef::Version("churn".into(), "3".into())
        );
        assert_eq!(
            parse_model_ref("churn@champion").unwrap(),
            ModelRef::Alias("churn".into(), "champion".into())
        );
        assert_eq!(
            parse_model_ref("team/churn").unwrap(),
            ModelRef::Latest("team/churn".into())
        );
        for bad in ["", "@x", "churn@"] {
            assert!(parse_model_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_tables_show_stage_aliases_and_source_run() {
        let version = ModelVersion {
            name: "churn".into(),
            version: "2".into(),
            creation_timestamp: None,
            last_updated_timestamp: None,
            user_id: None,
            current_stage: "Production".into(),
            description: None,
            source: "models:/m-1".into(),
            run_id: Some("abc".into()),
            status: "READY".into(),
            tags: vec![],
            aliases: vec!["champion".into()],
            model_id: None,
        };
        let text = render_versions(&[version]);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "2        Production  champion  READY   abc  models:/m-1  -"
        );
    }
}
