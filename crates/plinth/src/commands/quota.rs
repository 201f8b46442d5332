//! `plinth quota show|set`: what one project may use at the same time, next to what it
//! uses now (changes: admins).

use clap::{Args, Subcommand};
use plinth_client::{ProjectQuota, QuotaView};

use super::output::print_json;
use super::project::{self, ProjectArgs};
use super::units::{format_bytes, format_cpu, parse_bytes, parse_cpu};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth quota`.
#[derive(Debug, Args)]
pub struct QuotaArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: QuotaCommand,
}

#[derive(Debug, Subcommand)]
enum QuotaCommand {
    /// Show a project's limits and what it uses now.
    Show {
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Change a project's limits (admins); what is not given stays as it is.
    ///
    /// Each limit takes a value or `unlimited`. Jobs over the limits wait in the project's
    /// queue; workspaces and deployments are refused.
    #[command(
        after_help = "Example:\n  plinth quota set --project acme/churn --cpu 8 --memory 32GiB --max-jobs 4"
    )]
    Set {
        #[command(flatten)]
        project: ProjectArgs,
        /// CPU in cores over all running work.
        #[arg(long, value_name = "CORES|unlimited", value_parser = parse_cpu_limit)]
        cpu: Option<Limit>,
        /// Memory over all running work: 16GiB, 512MiB, …
        #[arg(long, value_name = "SIZE|unlimited", value_parser = parse_memory_limit)]
        memory: Option<Limit>,
        /// GPUs over all running work.
        #[arg(long, value_name = "N|unlimited", value_parser = parse_count_limit)]
        gpus: Option<Limit>,
        /// Jobs running at the same time (more wait in the queue).
        #[arg(long, value_name = "N|unlimited", value_parser = parse_count_limit)]
        max_jobs: Option<Limit>,
        /// Workspaces running at the same time.
        #[arg(long, value_name = "N|unlimited", value_parser = parse_count_limit)]
        max_workspaces: Option<Limit>,
        /// Deployments running at the same time.
        #[arg(long, value_name = "N|unlimited", value_parser = parse_count_limit)]
        max_deployments: Option<Limit>,
        /// Whether members may ask for sizes no class names.
        #[arg(long, value_name = "true|false")]
        allow_custom_sizes: Option<bool>,
        /// Start from no limits at all (then apply the other flags).
        #[arg(long)]
        unlimited: bool,
    },
}

/// A limit on the command line: a number, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(Option<u64>);

fn unlimited(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "unlimited" | "none" | "-"
    )
}

fn parse_cpu_limit(text: &str) -> Result<Limit, String> {
    if unlimited(text) {
        return Ok(Limit(None));
    }
    parse_cpu(text).map(|millis| Limit(Some(millis.into())))
}

fn parse_memory_limit(text: &str) -> Result<Limit, String> {
    if unlimited(text) {
        return Ok(Limit(None));
    }
    parse_bytes(text).map(|bytes| Limit(Some(bytes)))
}

fn parse_count_limit(text: &str) -> Result<Limit, String> {
    if unlimited(text) {
        return Ok(Limit(None));
    }
    text.trim()
        .parse::<u32>()
        .map(|count| Limit(Some(count.into())))
        .map_err(|_| format!("`{text}` is not a whole number or `unlimited`"))
}

fn count(limit: Limit) -> Option<u32> {
    limit
        .0
        .map(|value| u32::try_from(value).unwrap_or(u32::MAX))
}

/// Runs `plinth quota …`.
pub fn run(args: QuotaArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            QuotaCommand::Show { project } => {
                let (project, _) = project::resolve(&session, &project).await?;
                let view = client
                    .project_quota(&project.organization, &project.project)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&view);
                }
                println!("project `{project}`: in use / limit");
                print!("{}", render(&view));
            }
            QuotaCommand::Set {
                project,
                cpu,
                memory,
                gpus,
                max_jobs,
                max_workspaces,
                max_deployments,
                allow_custom_sizes,
                unlimited,
            } => {
                let (project, _) = project::resolve(&session, &project).await?;
                let mut quota = if unlimited {
                    ProjectQuota::default()
                } else {
                    client
                        .project_quota(&project.organization, &project.project)
                        .await
                        .map_err(fail)?
                        .quota
                };
                if let Some(limit) = cpu {
                    quota.cpu_millis = limit.0;
                }
                if let Some(limit) = memory {
                    quota.memory_bytes = limit.0;
                }
                if let Some(limit) = gpus {
                    quota.gpus = count(limit);
                }
                if let Some(limit) = max_jobs {
                    quota.max_jobs = count(limit);
                }
                if let Some(limit) = max_workspaces {
                    quota.max_workspaces = count(limit);
                }
                if let Some(limit) = max_deployments {
                    quota.max_deployments = count(limit);
                }
                if let Some(allow) = allow_custom_sizes {
                    quota.allow_custom_sizes = allow;
                }
                let view = client
                    .set_project_quota(&project.organization, &project.project, &quota)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&view);
                }
                println!("set the quota of project `{project}`: in use / limit");
                print!("{}", render(&view));
            }
        }
        Ok(())
    })
}

/// Renders each limit beside its use: `CPU  3 / 4 cores`.
fn render(view: &QuotaView) -> String {
    let (quota, usage) = (&view.quota, &view.usage);
    let limit = |value: Option<String>| value.unwrap_or_else(|| "unlimited".to_string());
    let rows = [
        (
            "CPU",
            format!(
                "{} / {} cores",
                format_cpu(usage.cpu_millis),
                limit(quota.cpu_millis.map(format_cpu))
            ),
        ),
        (
            "memory",
            format!(
                "{} / {}",
                format_bytes(usage.memory_bytes),
                limit(quota.memory_bytes.map(format_bytes))
            ),
        ),
        (
            "GPUs",
            format!(
                "{} / {}",
                usage.gpus,
                limit(quota.gpus.map(|n| n.to_string()))
            ),
        ),
        (
            "jobs",
            format!(
                "{} / {} running, {} queued",
                usage.jobs,
                limit(quota.max_jobs.map(|n| n.to_string())),
                usage.queued
            ),
        ),
        (
            "workspaces",
            format!(
                "{} / {}",
                usage.workspaces,
                limit(quota.max_workspaces.map(|n| n.to_string()))
            ),
        ),
        (
            "deployments",
            format!(
                "{} / {}",
                usage.deployments,
                limit(quota.max_deployments.map(|n| n.to_string()))
            ),
        ),
        (
            "custom sizes",
            if quota.allow_custom_sizes {
                "allowed"
            } else {
                "not allowed"
            }
            .to_string(),
        ),
    ];
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use plinth_client::ProjectUsageNow;

    use super::*;

    #[test]
    fn limits_sit_beside_their_use() {
        let view = QuotaView {
            quota: ProjectQuota {
                cpu_millis: Some(4000),
                memory_bytes: Some(16 << 30),
                max_jobs: Some(3),
                ..ProjectQuota::default()
            },
            usage: ProjectUsageNow {
                cpu_millis: 3000,
                memory_bytes: 6 << 30,
                jobs: 2,
                queued: 1,
                ..ProjectUsageNow::default()
            },
        };
        let text = render(&view);
        assert!(text.starts_with("CPU           3 / 4 cores\n"), "{text}");
        assert!(text.contains("memory        6 GiB / 16 GiB\n"), "{text}");
        assert!(text.contains("GPUs          0 / unlimited\n"), "{text}");
        assert!(
            text.contains("jobs          2 / 3 running, 1 queued\n"),
            "{text}"
        );
        assert!(text.ends_with("custom sizes  not allowed\n"), "{text}");
    }

    #[test]
    fn limits_take_a_value_or_unlimited() {
        assert_eq!(parse_cpu_limit("1.5"), Ok(Limit(Some(1500))));
        assert_eq!(parse_cpu_limit("unlimited"), Ok(Limit(None)));
        assert_eq!(parse_memory_limit("16GiB"), Ok(Limit(Some(16 << 30))));
        assert_eq!(parse_count_limit("3"), Ok(Limit(Some(3))));
        assert_eq!(parse_count_limit("None"), Ok(Limit(None)));
        assert!(parse_count_limit("1.5").is_err());
    }
}
