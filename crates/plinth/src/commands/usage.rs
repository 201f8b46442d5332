//! `plinth usage`: the usage ledger (CPU-, memory- and GPU-hours by day, user and class) of
//! one project, or of the whole platform (admins).

use std::collections::BTreeMap;

use clap::Args;
use plinth_client::{ProjectListQuery, UsageQuery, UsageRecord};

use super::output::{print_json, Table};
use super::project::{self, ProjectArgs};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags of `plinth usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    project: ProjectArgs,
    /// Every project (admins); `--project` is then ignored.
    #[arg(long)]
    all: bool,
    /// First day, inclusive (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DAY")]
    from: Option<String>,
    /// Last day, inclusive (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DAY")]
    to: Option<String>,
    /// Print the server's CSV (one row per day, project, user and class).
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

/// Runs `plinth usage`.
pub fn run(args: UsageArgs) -> Result<(), Failure> {
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    // JSON or CSV is chosen by the method called below.
    let query = UsageQuery {
        from: args.from.clone(),
        to: args.to.clone(),
        format: None,
    };
    block_on(async {
        let project = if args.all {
            None
        } else {
            Some(project::resolve(&session, &args.project).await?.0)
        };
        if args.csv {
            let csv = match &project {
                Some(project) => client
                    .project_usage_csv(&project.organization, &project.project, &query)
                    .await
                    .map_err(fail)?,
                None => client.platform_usage_csv(&query).await.map_err(fail)?,
            };
            print!("{csv}");
            return Ok(());
        }
        let records = match &project {
            Some(project) => client
                .project_usage(&project.organization, &project.project, &query)
                .await
                .map_err(fail)?,
            None => client.platform_usage(&query).await.map_err(fail)?,
        };
        if args.remote.json {
            return print_json(&records);
        }
        let names = if project.is_none() {
            // Admins see every project: name them rather than show ids.
            client
                .list_projects(&ProjectListQuery {
                    all: true,
                    organization: None,
                })
                .await
                .map_err(fail)?
                .into_iter()
                .map(|view| {
                    (
                        view.project.id.clone(),
                        format!("{}/{}", view.project.organization, view.project.name),
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let empty = match &project {
            Some(project) => format!("no usage recorded for project `{project}` in that time"),
            None => "no usage recorded in that time".to_string(),
        };
        print!(
            "{}",
            render(&records, project.is_none().then_some(&names), &empty)
        );
        Ok(())
    })
}

/// One row per record, then the total; with `projects`, a project column too.
fn render(
    records: &[UsageRecord],
    projects: Option<&BTreeMap<String, String>>,
    empty: &str,
) -> String {
    let mut headers = vec!["DAY"];
    if projects.is_some() {
        headers.push("PROJECT");
    }
    headers.extend(["USER", "CLASS", "CPU-H", "GIB-H", "GPU-H", "WALL-H"]);
    let mut table = Table::new(&headers);
    let hours = |value: f64| format!("{value:.2}");
    let mut total = [0.0_f64; 4];
    for record in records {
        let mut row = vec![record.day.clone()];
        if let Some(projects) = projects {
            row.push(
                projects
                    .get(&record.project_id)
                    .cloned()
                    .unwrap_or_else(|| record.project_id.clone()),
            );
        }
        let values = [
            record.cpu_hours,
            record.memory_gib_hours,
            record.gpu_hours,
            record.wall_hours,
        ];
        for (sum, value) in total.iter_mut().zip(values) {
            *sum += value;
        }
        row.extend([record.username.clone(), record.class.clone()]);
        row.extend(values.map(hours));
        table.row(row);
    }
    if !records.is_empty() {
        let mut row = vec!["total".to_string()];
        if projects.is_some() {
            row.push(String::new());
        }
        row.extend([String::new(), String::new()]);
        row.extend(total.map(hours));
        table.row(row);
    }
    table.render(empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(day: &str, user: &str, cpu: f64) -> UsageRecord {
        UsageRecord {
            day: day.into(),
            project_id: "p1".into(),
            user_id: "u".into(),
            username: user.into(),
            class: "small".into(),
            cpu_hours: cpu,
            memory_gib_hours: cpu * 2.0,
            gpu_hours: 0.0,
            wall_hours: cpu,
        }
    }

    #[test]
    fn usage_tables_end_with_a_total() {
        let records = [
            record("2026-11-28", "ada", 1.5),
            record("2026-11-29", "bob", 0.25),
        ];
        let text = render(&records, None, "none");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "DAY         USER  CLASS  CPU-H  GIB-H  GPU-H  WALL-H"
        );
        assert_eq!(
            lines[1],
            "2026-11-28  ada   small  1.50   3.00   0.00   1.50"
        );
        assert_eq!(
            lines[3],
            "total                    1.75   3.50   0.00   1.75"
        );
        let names = BTreeMap::from([("p1".to_string(), "acme/churn".to_string())]);
        let text = render(&records, Some(&names), "none");
        assert!(
            text.lines().nth(1).unwrap().contains("acme/churn"),
            "{text}"
        );
        assert_eq!(render(&[], None, "nothing"), "nothing\n");
    }
}
