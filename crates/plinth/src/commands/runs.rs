//! `plinth runs …`: search a project's MLflow runs with MLflow's filter grammar and order
//! (following page tokens), show one run (params, latest metrics, tags, inputs, top-level
//! artifacts), delete and restore runs.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use plinth_client::mlflow::{Experiment, Run, Search, ViewType};

use super::output::{optional_time, or_dash, print_fields, print_json, Table};
use super::tracking::{collect_pages, SearchArgs, Tracking, TrackingArgs};
use super::units::format_duration;
use super::{block_on, Session};
use crate::cli::Failure;

/// Most runs one page of a search asks for.
const PAGE_SIZE: usize = 1000;

/// Flags and subcommands of `plinth runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    tracking: TrackingArgs,
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Search runs, newest first unless --order-by says otherwise.
    #[command(after_help = "Examples:\n  \
        plinth runs list --experiment churn\n  \
        plinth runs list --filter \"metrics.loss < 0.5 and params.lr = '0.01'\" \
        --order-by \"metrics.loss ASC\" --columns metrics.loss,params.lr")]
    List(ListArgs),
    /// Show a run: its info, params, latest metrics, tags, inputs and top-level artifacts.
    Show {
        /// The run's id.
        run_id: String,
    },
    /// Delete a run (it can be restored).
    Delete {
        /// The run's id.
        run_id: String,
    },
    /// Restore a deleted run.
    Restore {
        /// The run's id.
        run_id: String,
    },
}

/// Flags of `plinth runs list`.
#[derive(Debug, Args)]
struct ListArgs {
    /// Only runs of this experiment, by name or id (repeatable) [default: every
    /// experiment of the project].
    #[arg(long, short = 'x', value_name = "NAME|ID")]
    experiment: Vec<String>,
    #[command(flatten)]
    search: SearchArgs,
    /// Extra columns: `metrics.KEY`, `params.KEY`, `tags.KEY` (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMN,…", value_parser = parse_column)]
    columns: Vec<Column>,
    /// Deleted runs (and the runs of deleted experiments) too.
    #[arg(long)]
    all: bool,
    /// Runs per request (for testing the paging).
    #[arg(long, hide = true, default_value_t = PAGE_SIZE)]
    page_size: usize,
}

/// An extra column of `runs list`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Column {
    Metric(String),
    Param(String),
    Tag(String),
}

fn parse_column(text: &str) -> Result<Column, String> {
    let (kind, key) = text.split_once('.').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(format!(
            "`{text}` is not `metrics.KEY`, `params.KEY` or `tags.KEY`"
        ));
    }
    match kind {
        "metrics" | "metric" => Ok(Column::Metric(key.to_string())),
        "params" | "param" => Ok(Column::Param(key.to_string())),
        "tags" | "tag" => Ok(Column::Tag(key.to_string())),
        _ => Err(format!(
            "`{text}`: columns are `metrics.KEY`, `params.KEY` or `tags.KEY`"
        )),
    }
}

impl Column {
    fn header(&self) -> String {
        match self {
            Column::Metric(key) => format!("metrics.{key}"),
            Column::Param(key) => format!("params.{key}"),
            Column::Tag(key) => format!("tags.{key}"),
        }
    }

    fn value(&self, run: &Run) -> String {
        let found = match self {
            Column::Metric(key) => run
                .data
                .metrics
                .iter()
                .find(|metric| &metric.key == key)
                .map(|metric| format_metric(metric.value)),
            Column::Param(key) => run
                .data
                .params
                .iter()
                .find(|param| &param.key == key)
                .map(|param| param.value.clone()),
            Column::Tag(key) => run
                .data
                .tags
                .iter()
                .find(|tag| &tag.key == key)
                .map(|tag| tag.value.clone()),
        };
        found.unwrap_or_else(|| "-".to_string())
    }
}

/// A metric value as the mlflow client's users see it printed (Python's `repr`: the
/// shortest exact decimal, `1e-300` rather than 300 zeros, `-0.0`, `inf`), NaN as `NaN`.
fn format_metric(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else {
        plinth_types::python_float(value)
    }
}

/// Runs `plinth runs …`.
pub fn run(args: RunsArgs) -> Result<(), Failure> {
    let json = args.tracking.remote.json;
    let session = Session::connect(&args.tracking.remote)?;
    block_on(async {
        let tracking = Tracking::open(session, &args.tracking.project).await?;
        let api = tracking.api();
        match args.command {
            RunsCommand::List(list_args) => list(&tracking, &list_args, json).await,
            RunsCommand::Show { run_id } => {
                let run = get_run(&tracking, &run_id).await?;
                if json {
                    return print_json(&run);
                }
                // The experiment's name, and the top-level artifacts: neither is worth failing
                // the whole command for.
                let experiment = api.get_experiment(&run.info.experiment_id).await.ok();
                let artifacts = api.list_run_artifacts(&run_id, "").await;
                show(&run, experiment.as_ref());
                println!("\nArtifacts:");
                match artifacts {
                    Ok(listing) => {
                        let mut table = Table::new(&["PATH", "SIZE"]);
                        for file in &listing.files {
                            table.row(super::artifacts::listing_row(file));
                        }
                        table.print("  (none)");
                    }
                    Err(error) => println!("  (cannot list them: {error})"),
                }
                Ok(())
            }
            RunsCommand::Delete { run_id } => {
                api.delete_run(&run_id).await.map_err(|error| {
                    tracking.fail_lookup(error, &format!("run `{run_id}`"), RUNS_HINT)
                })?;
                eprintln!("deleted run {run_id}; `plinth runs restore {run_id}` brings it back");
                Ok(())
            }
            RunsCommand::Restore { run_id } => {
                api.restore_run(&run_id).await.map_err(|error| {
                    tracking.fail_lookup(error, &format!("run `{run_id}`"), RUNS_HINT)
                })?;
                eprintln!("restored run {run_id}");
                Ok(())
            }
        }
    })
}

const RUNS_HINT: &str = "`plinth runs list` shows its runs (`--all` also the deleted ones)";

/// Returns a run, with an error that says where to find runs.
pub async fn get_run(tracking: &Tracking, run_id: &str) -> Result<Run, Failure> {
    tracking
        .api()
        .get_run(run_id)
        .await
        .map_err(|error| tracking.fail_lookup(error, &format!("run `{run_id}`"), RUNS_HINT))
}

async fn list(tracking: &Tracking, args: &ListArgs, json: bool) -> Result<(), Failure> {
    let api = tracking.api();
    let view = if args.all {
        ViewType::All
    } else {
        ViewType::ActiveOnly
    };
    // The experiments searched, by id: the ones named, else every one of the project.
    let experiments: Vec<Experiment> = if args.experiment.is_empty() {
        collect_pages(Search::default(), usize::MAX, PAGE_SIZE, async |search| {
            let page = api
                .search_experiments(search, view)
                .await
                .map_err(|error| tracking.fail(error))?;
            Ok((page.experiments, page.next_page_token))
        })
        .await?
        .0
    } else {
        let mut found = Vec::new();
        for name in &args.experiment {
            found.push(tracking.experiment(name).await?);
        }
        found
    };
    let ids: Vec<String> = experiments
        .iter()
        .map(|experiment| experiment.experiment_id.clone())
        .collect();
    let names: BTreeMap<String, String> = experiments
        .iter()
        .map(|experiment| (experiment.experiment_id.clone(), experiment.name.clone()))
        .collect();
    let limit = args.search.limit();
    let (runs, more) = if ids.is_empty() {
        (Vec::new(), false)
    } else {
        collect_pages(
            args.search.search(),
            limit,
            args.page_size,
            async |search| {
                let page = api
                    .search_runs(&ids, search, view)
                    .await
                    .map_err(|error| tracking.fail(error))?;
                Ok((page.runs, page.next_page_token))
            },
        )
        .await?
    };
    if json {
        return print_json(&runs);
    }
    let show_experiment = experiments.len() > 1;
    print!(
        "{}",
        render_list(
            &runs,
            &args.columns,
            show_experiment.then_some(&names),
            super::units::now_ms()
        )
    );
    if more {
        eprintln!("(more runs than --limit {limit}; raise it to see them)");
    }
    Ok(())
}

/// The runs as a table: id, name, (experiment,) status, start, duration, extra columns.
fn render_list(
    runs: &[Run],
    columns: &[Column],
    experiments: Option<&BTreeMap<String, String>>,
    now_ms: i64,
) -> String {
    let mut headers: Vec<String> = vec!["RUN ID".into(), "NAME".into()];
    if experiments.is_some() {
        headers.push("EXPERIMENT".into());
    }
    headers.extend(["STATUS".into(), "STARTED".into(), "DURATION".into()]);
    headers.extend(columns.iter().map(Column::header));
    let mut table = Table::new(&headers);
    for run in runs {
        let info = &run.info;
        let mut row = vec![info.run_id.clone(), or_dash(&info.run_name)];
        if let Some(names) = experiments {
            row.push(
                names
                    .get(&info.experiment_id)
                    .cloned()
                    .unwrap_or_else(|| info.experiment_id.clone()),
            );
        }
        let status = if info.lifecycle_stage == "deleted" {
            format!("{} (deleted)", info.status)
        } else {
            info.status.clone()
        };
        row.extend([
            status,
            optional_time(info.start_time, "-"),
            duration(info, now_ms),
        ]);
        row.extend(columns.iter().map(|column| column.value(run)));
        table.row(row);
    }
    table.render("no runs")
}

/// How long a run took (or has been running).
fn duration(info: &plinth_client::mlflow::RunInfo, now_ms: i64) -> String {
    match (info.start_time, info.end_time) {
        (Some(start), Some(end)) => format_duration(end - start),
        (Some(start), None) if info.status == "RUNNING" => format_duration(now_ms - start),
        _ => "-".to_string(),
    }
}

fn show(run: &Run, experiment: Option<&Experiment>) {
    let info = &run.info;
    let experiment = experiment.map_or_else(
        || info.experiment_id.clone(),
        |experiment| format!("{} ({})", experiment.name, experiment.experiment_id),
    );
    let mut fields = vec![
        ("Run ID", info.run_id.clone()),
        ("Name", or_dash(&info.run_name)),
        ("Experiment", experiment),
        ("Status", info.status.clone()),
    ];
    if info.lifecycle_stage == "deleted" {
        fields.push(("State", "deleted".to_string()));
    }
    fields.extend([
        ("User", or_dash(&info.user_id)),
        ("Started", optional_time(info.start_time, "-")),
        ("Ended", optional_time(info.end_time, "-")),
        ("Duration", duration(info, super::units::now_ms())),
        ("Artifact URI", info.artifact_uri.clone()),
    ]);
    print_fields(&fields);

    println!("\nParams:");
    let mut params = Table::new(&["KEY", "VALUE"]);
    for param in &run.data.params {
        params.row(vec![param.key.clone(), param.value.clone()]);
    }
    params.print("  (none)");

    println!("\nMetrics (latest):");
    let mut metrics = Table::new(&["KEY", "VALUE", "STEP", "LOGGED"]);
    for metric in &run.data.metrics {
        metrics.row(vec![
            metric.key.clone(),
            format_metric(metric.value),
            metric.step.to_string(),
            super::output::time(metric.timestamp),
        ]);
    }
    metrics.print("  (none)");

    println!("\nTags:");
    let mut tags = Table::new(&["KEY", "VALUE"]);
    let mut hidden = 0;
    for tag in &run.data.tags {
        if tag.key.starts_with("mlflow.") {
            hidden += 1;
            continue;
        }
        tags.row(vec![tag.key.clone(), tag.value.clone()]);
    }
    tags.print("  (none)");
    if hidden > 0 {
        println!("  ({hidden} `mlflow.*` system tags; --json shows them)");
    }

    let inputs = &run.inputs;
    if !inputs.dataset_inputs.is_empty()
        || !inputs.model_inputs.is_empty()
        || !run.outputs.model_outputs.is_empty()
    {
        println!("\nInputs and outputs:");
        let mut table = Table::new(&["KIND", "NAME", "DIGEST", "SOURCE", "CONTEXT"]);
        for input in &inputs.dataset_inputs {
            let context = input
                .tags
                .iter()
                .find(|tag| tag.key == "mlflow.data.context")
                .map_or_else(|| "-".to_string(), |tag| tag.value.clone());
            table.row(vec![
                "dataset".into(),
                input.dataset.name.clone(),
                or_dash(&input.dataset.digest),
                or_dash(&input.dataset.source_type),
                context,
            ]);
        }
        for model in &inputs.model_inputs {
            table.row(vec![
                "model in".into(),
                model.model_id.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for model in &run.outputs.model_outputs {
            table.row(vec![
                "model out".into(),
                model.model_id.clone(),
                "-".into(),
                "-".into(),
                model
                    .step
                    .map_or_else(|| "-".to_string(), |step| format!("step {step}")),
            ]);
        }
        table.print("");
    }
}

#[cfg(test)]
mod tests {
    use plinth_client::mlflow::{Metric, RunData, RunInfo, Tag};

    use super::*;

    fn run(id: &str, loss: f64, lr: &str) -> Run {
        Run {
            info: RunInfo {
                run_id: id.into(),
                run_name: format!("run-{id}"),
                experiment_id: "1".into(),
                user_id: "olga".into(),
                status: "FINISHED".into(),
                start_time: Some(1_000),
                end_time: Some(4_500),
                artifact_uri: String::new(),
                lifecycle_stage: "active".into(),
            },
            data: RunData {
                metrics: vec![Metric {
                    key: "loss".into(),
                    value: loss,
                    timestamp: 0,
                    step: 3,
                }],
                params: vec![Tag {
                    key: "lr".into(),
                    value: lr.into(),
                }],
                tags: vec![],
            },
            inputs: Default::default(),
            outputs: Default::default(),
        }
    }

    #[test]
    fn columns_name_metrics_params_and_tags() {
        assert_eq!(
            parse_column("metrics.loss").unwrap(),
            Column::Metric("loss".into())
        );
        assert_eq!(
            parse_column("params.a.b").unwrap(),
            Column::Param("a.b".into())
        );
        assert!(parse_column("loss").unwrap_err().contains("metrics.KEY"));
        assert!(parse_column("attributes.x").is_err());
    }

    #[test]
    fn run_tables_carry_the_chosen_columns() {
        let runs = [run("a1", 0.25, "0.01"), run("b2", f64::NAN, "0.1")];
        let columns = [
            Column::Metric("loss".into()),
            Column::Param("lr".into()),
            Column::Tag("missing".into()),
        ];
        let names = BTreeMap::from([("1".to_string(), "churn".to_string())]);
        let text = render_list(&runs, &columns, Some(&names), 0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("RUN ID  NAME    EXPERIMENT  STATUS    STARTED"),
            "{text}"
        );
        assert!(
            lines[0].ends_with("DURATION  metrics.loss  params.lr  tags.missing"),
            "{text}"
        );
        assert!(lines[1].starts_with("a1      run-a1  churn       FINISHED"));
        assert!(lines[1].ends_with("3s        0.25          0.01       -"));
        assert!(lines[2].ends_with("3s        NaN           0.1        -"));
        assert_eq!(render_list(&[], &[], None, 0), "no runs\n");
    }
}
