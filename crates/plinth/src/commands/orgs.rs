//! `plinth orgs …`: organizations and their members.

use clap::{Args, Subcommand, ValueEnum};
use plinth_client::{CreateOrganizationRequest, OrgRole};

use super::output::{or_dash, print_json, time, Table};
use super::{block_on, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth orgs`.
#[derive(Debug, Args)]
pub struct OrgsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: OrgsCommand,
}

#[derive(Debug, Subcommand)]
enum OrgsCommand {
    /// List the organizations you can see.
    List,
    /// Create an organization (admins).
    Create {
        /// Unique name: lowercase letters, digits and `-`.
        name: String,
        /// Name shown in the UI.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Username of its first owner.
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
    },
    /// List an organization's members.
    Members {
        /// The organization.
        organization: String,
    },
    /// Add a member to an organization, or change their role.
    AddMember {
        /// The organization.
        organization: String,
        /// Their username.
        username: String,
        /// Their role.
        #[arg(long, value_enum, default_value_t = OrgRoleArg::Member)]
        role: OrgRoleArg,
    },
    /// Remove a member from an organization.
    RemoveMember {
        /// The organization.
        organization: String,
        /// Their username.
        username: String,
    },
}

/// A role in an organization.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum OrgRoleArg {
    /// Manages the organization and its members; creates projects.
    Owner,
    /// Creates projects in the organization.
    Member,
}

impl From<OrgRoleArg> for OrgRole {
    fn from(role: OrgRoleArg) -> Self {
        match role {
            OrgRoleArg::Owner => OrgRole::Owner,
            OrgRoleArg::Member => OrgRole::Member,
        }
    }
}

/// Runs `plinth orgs …`.
pub fn run(args: OrgsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            OrgsCommand::List => {
                let organizations = client.list_organizations().await.map_err(fail)?;
                if json {
                    return print_json(&organizations);
                }
                let mut table = Table::new(&["NAME", "DISPLAY NAME", "CREATED"]);
                for organization in &organizations {
                    table.row(vec![
                        organization.name.to_string(),
                        or_dash(&organization.display_name),
                        time(organization.created_at_ms),
                    ]);
                }
                table.print("no organizations");
            }
            OrgsCommand::Create {
                name,
                display_name,
                owner,
            } => {
                let organization = client
                    .create_organization(&CreateOrganizationRequest {
                        name,
                        display_name: display_name.unwrap_or_default(),
                        owner,
                    })
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&organization);
                }
                println!("created organization `{}`", organization.name);
            }
            OrgsCommand::Members { organization } => {
                let members = client
                    .list_organization_members(&organization)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&members);
                }
                let mut table = Table::new(&["USERNAME", "ROLE"]);
                for member in &members {
                    table.row(vec![
                        member.username.to_string(),
                        member.role.as_str().to_string(),
                    ]);
                }
                table.print("no members");
            }
            OrgsCommand::AddMember {
                organization,
                username,
                role,
            } => {
                let role = OrgRole::from(role);
                client
                    .set_organization_member(&organization, &username, role)
                    .await
                    .map_err(fail)?;
                if !json {
                    println!(
                        "`{username}` is now {} of organization `{organization}`",
                        article(role.as_str())
                    );
                }
            }
            OrgsCommand::RemoveMember {
                organization,
                username,
            } => {
                client
                    .remove_organization_member(&organization, &username)
                    .await
                    .map_err(fail)?;
                if !json {
                    println!("removed `{username}` from organization `{organization}`");
                }
            }
        }
        Ok(())
    })
}

/// Returns `an owner`, `a member`.
pub(super) fn article(role: &str) -> String {
    if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {role}")
    } else {
        format!("a {role}")
    }
}
