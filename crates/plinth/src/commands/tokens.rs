//! `plinth tokens …`: the caller's personal API tokens.

use std::collections::HashMap;

use clap::{Args, Subcommand};
use plinth_client::{ApiTokenInfo, ProjectListQuery, TokenRequest};

use super::output::{optional_time, print_json, Table};
use super::{block_on, ProjectRef, RemoteArgs, Session};
use crate::cli::Failure;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Flags and subcommands of `plinth tokens`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// List your tokens, revoked and expired ones included.
    List,
    /// Create a token; it is printed alone on the last line of stdout, and only this once.
    Create {
        /// A name to tell it apart.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Lifetime, e.g. 30d, 12h, 1y; rounded up to whole days [default: the server's, 365 days].
        #[arg(long, value_name = "DURATION", value_parser = parse_expiry_days)]
        expires: Option<u64>,
        /// Limit the token to one project, `ORGANIZATION/PROJECT`.
        #[arg(long, value_name = "ORG/NAME")]
        project: Option<ProjectRef>,
        /// Allow only reads.
        #[arg(long)]
        read_only: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's id, as `plinth tokens list` shows it.
        id: String,
    },
}

/// Parses a humantime duration (`30d`, `12h`) into whole days, rounded up, at least 1.
fn parse_expiry_days(text: &str) -> Result<u64, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|error| format!("{error}; use e.g. `30d` or `12h`"))?;
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Ok(seconds.div_ceil(DAY).max(1))
}

/// Runs `plinth tokens …`.
pub fn run(args: TokensArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            TokensCommand::List => {
                let tokens = client.list_tokens().await.map_err(fail)?;
                if json {
                    return print_json(&tokens);
                }
                let projects = project_names(&session, &tokens).await;
                let now = chrono::Utc::now().timestamp_millis();
                let mut table = Table::new(&[
                    "ID",
                    "NAME",
                    "PREFIX",
                    "PROJECT",
                    "ACCESS",
                    "EXPIRES",
                    "LAST USED",
                    "STATUS",
                ]);
                for token in &tokens {
                    table.row(vec![
                        token.id.clone(),
                        token.name.clone(),
                        token.display_prefix.clone(),
                        token.project_id.as_ref().map_or_else(
                            || "all".to_string(),
                            |id| projects.get(id).cloned().unwrap_or_else(|| id.clone()),
                        ),
                        if token.read_only {
                            "read"
                        } else {
                            "read-write"
                        }
                        .to_string(),
                        optional_time(token.expires_at_ms, "never"),
                        optional_time(token.last_used_at_ms, "never"),
                        status(token, now).to_string(),
                    ]);
                }
                table.print("no tokens");
            }
            TokensCommand::Create {
                name,
                expires,
                project,
                read_only,
            } => {
                let created = client
                    .create_token(&TokenRequest {
                        name,
                        expires_in_days: expires,
                        project: project.map(|project| project.to_string()),
                        read_only,
                    })
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&created);
                }
                eprintln!(
                    "created token `{}` (id {}, expires {}); it is shown only now:",
                    created.info.name,
                    created.info.id,
                    optional_time(created.info.expires_at_ms, "never")
                );
                println!("{}", created.token);
            }
            TokensCommand::Revoke { id } => {
                client.revoke_token(&id).await.map_err(fail)?;
                if !json {
                    println!("revoked token `{id}`");
                }
            }
        }
        Ok(())
    })
}

/// Returns `revoked`, `expired` or `active`.
fn status(token: &ApiTokenInfo, now_ms: i64) -> &'static str {
    if token.revoked_at_ms.is_some() {
        "revoked"
    } else if token.expires_at_ms.is_some_and(|expires| expires <= now_ms) {
        "expired"
    } else {
        "active"
    }
}

/// Returns `ORGANIZATION/PROJECT` by project id for the caller's projects, when a token is
/// scoped to one (tokens name their project by id only); empty if that cannot be known.
async fn project_names(session: &Session, tokens: &[ApiTokenInfo]) -> HashMap<String, String> {
    if tokens.iter().all(|token| token.project_id.is_none()) {
        return HashMap::new();
    }
    let projects = session
        .client()
        .list_projects(&ProjectListQuery::default())
        .await
        .unwrap_or_default();
    projects
        .into_iter()
        .map(|view| {
            (
                view.project.id,
                format!("{}/{}", view.project.organization, view.project.name),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_rounded_up_to_whole_days() {
        assert_eq!(parse_expiry_days("30d"), Ok(30));
        assert_eq!(parse_expiry_days("12h"), Ok(1));
        assert_eq!(parse_expiry_days("25h"), Ok(2));
        assert_eq!(parse_expiry_days("1s"), Ok(1));
        assert_eq!(parse_expiry_days("0s"), Ok(1));
        assert_eq!(parse_expiry_days("2weeks"), Ok(14));
        assert!(parse_expiry_days("soon").unwrap_err().contains("30d"));
    }
}
