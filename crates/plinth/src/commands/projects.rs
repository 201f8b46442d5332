//! `plinth projects …`: projects and their members.

use clap::{Args, Subcommand, ValueEnum};
use plinth_client::{CreateProjectRequest, ProjectListQuery, ProjectView, Role};

use super::orgs::article;
use super::output::{or_dash, print_fields, print_json, time, Table};
use super::{block_on, project as defaults, prompt, ProjectRef, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth projects`.
#[derive(Debug, Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectsCommand {
    /// List your projects.
    List {
        /// Every project, not only yours (admins).
        #[arg(long)]
        all: bool,
        /// Only projects of this organization.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// Create a project; you become its owner.
    Create {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
        /// Name shown in the UI.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Free text.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Show a project and your role in it.
    Show {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
    },
    /// Delete a project and everything in it.
    Delete {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
        /// Do not ask for confirmation (it is only asked on a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List a project's members.
    Members {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
    },
    /// Add a member to a project, or change their role.
    AddMember {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
        /// Their username.
        username: String,
        /// Their role.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Remove a member from a project.
    RemoveMember {
        /// `ORGANIZATION/PROJECT`.
        project: ProjectRef,
        /// Their username.
        username: String,
    },
    /// Choose the project that `jobs`, `quota` and `usage` use when `--project` is left
    /// out (stored per server next to your credentials); without arguments, show it.
    Use {
        /// `ORGANIZATION/PROJECT`.
        #[arg(conflicts_with = "clear")]
        project: Option<ProjectRef>,
        /// Forget the default project of this server.
        #[arg(long)]
        clear: bool,
    },
}

/// A role in a project.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    /// Reads everything in the project.
    Viewer,
    /// Creates and changes content.
    Contributor,
    /// Manages members and settings.
    Owner,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Contributor => Role::Contributor,
            RoleArg::Owner => Role::Owner,
        }
    }
}

/// Runs `plinth projects …`.
pub fn run(args: ProjectsArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    if let ProjectsCommand::Delete {
        project,
        yes: false,
    } = &args.command
    {
        if prompt::interactive() {
            let answer = prompt::line(
                &format!(
                    "delete project `{project}` and everything in it? type its name to confirm: "
                ),
                "pass `--yes`",
            )?;
            if answer != project.to_string() && answer != project.project {
                return Err(Failure::runtime("not confirmed; nothing deleted"));
            }
        }
    }
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            ProjectsCommand::List { all, org } => {
                let projects = client
                    .list_projects(&ProjectListQuery {
                        all,
                        organization: org,
                    })
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&projects);
                }
                let mut table = Table::new(&["PROJECT", "DISPLAY NAME", "YOUR ROLE", "CREATED"]);
                for view in &projects {
                    table.row(vec![
                        format!("{}/{}", view.project.organization, view.project.name),
                        or_dash(&view.project.display_name),
                        role_text(view),
                        time(view.project.created_at_ms),
                    ]);
                }
                table.print("no projects");
            }
            ProjectsCommand::Create {
                project,
                display_name,
                description,
            } => {
                let created = client
                    .create_project(
                        &project.organization,
                        &CreateProjectRequest {
                            name: project.project.clone(),
                            display_name: display_name.unwrap_or_default(),
                            description: description.unwrap_or_default(),
                        },
                    )
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&created);
                }
                println!(
                    "created project `{}/{}`; you are its owner",
                    created.organization, created.name
                );
            }
            ProjectsCommand::Show { project } => {
                let view = client
                    .get_project(&project.organization, &project.project)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&view);
                }
                print_fields(&[
                    (
                        "project",
                        format!("{}/{}", view.project.organization, view.project.name),
                    ),
                    ("display name", or_dash(&view.project.display_name)),
                    ("description", or_dash(&view.project.description)),
                    ("your role", role_text(&view)),
                    ("created", time(view.project.created_at_ms)),
                    ("id", view.project.id.clone()),
                ]);
            }
            ProjectsCommand::Delete { project, .. } => {
                client
                    .delete_project(&project.organization, &project.project)
                    .await
                    .map_err(fail)?;
                if !json {
                    println!("deleted project `{project}`");
                }
            }
            ProjectsCommand::Members { project } => {
                let members = client
                    .list_project_members(&project.organization, &project.project)
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&members);
                }
                let mut table = Table::new(&["USERNAME", "DISPLAY NAME", "ROLE", "ADDED"]);
                for member in &members {
                    table.row(vec![
                        member.username.to_string(),
                        or_dash(&member.display_name),
                        member.role.as_str().to_string(),
                        time(member.added_at_ms),
                    ]);
                }
                table.print("no members");
            }
            ProjectsCommand::AddMember {
                project,
                username,
                role,
            } => {
                let role = Role::from(role);
                client
                    .set_project_member(&project.organization, &project.project, &username, role)
                    .await
                    .map_err(fail)?;
                if !json {
                    println!(
                        "`{username}` is now {} of project `{project}`",
                        article(role.as_str())
                    );
                }
            }
            ProjectsCommand::Use { project, clear } => {
                let server = session.server();
                if clear {
                    let previous = defaults::store_default(server, None)?;
                    if !json {
                        match previous {
                            Some(previous) => {
                                println!("forgot the default project `{previous}` of {server}")
                            }
                            None => println!("{server} had no default project"),
                        }
                    }
                    return Ok(());
                }
                let Some(project) = project else {
                    let current = defaults::stored_default(server)?;
                    if json {
                        return print_json(&serde_json::json!({
                            "server": server,
                            "project": current.map(|project| project.to_string()),
                        }));
                    }
                    match current {
                        Some(project) => println!("{project}"),
                        None => println!("no default project for {server}; choose one with `plinth projects use ORG/NAME`"),
                    }
                    return Ok(());
                };
                // Only a project that exists and that the caller can see.
                client
                    .get_project(&project.organization, &project.project)
                    .await
                    .map_err(fail)?;
                defaults::store_default(server, Some(&project))?;
                if json {
                    return print_json(&serde_json::json!({
                        "server": server,
                        "project": project.to_string(),
                    }));
                }
                println!("`{project}` is now the default project on {server}");
            }
            ProjectsCommand::RemoveMember { project, username } => {
                client
                    .remove_project_member(&project.organization, &project.project, &username)
                    .await
                    .map_err(fail)?;
                if !json {
                    println!("removed `{username}` from project `{project}`");
                }
            }
        }
        Ok(())
    })
}

fn role_text(view: &ProjectView) -> String {
    view.role
        .map_or_else(|| "-".to_string(), |role| role.as_str().to_string())
}
