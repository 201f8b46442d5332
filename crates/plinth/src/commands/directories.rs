//! `plinth directories …`: the LDAP / Active Directory directories of `[[auth.ldap]]`, for
//! platform admins: list them, test the connection or a user's login, sync now.

use clap::{Args, Subcommand};
use plinth_client::{DirectoryLoginTest, DirectoryTestResult};

use super::output::{print_fields, print_json, Table};
use super::{block_on, prompt, RemoteArgs, Session};
use crate::cli::Failure;

/// Flags and subcommands of `plinth directories`.
#[derive(Debug, Args)]
pub struct DirectoriesArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: DirectoriesCommand,
}

#[derive(Debug, Subcommand)]
enum DirectoriesCommand {
    /// List the configured directories.
    List,
    /// Connect to a directory and bind with its service account.
    Test {
        /// The directory's name.
        name: String,
    },
    /// Check a directory user's password and show the account and roles they would get
    /// (nothing is created); the password is asked for, or read with --password-stdin.
    TestLogin {
        /// The directory's name.
        name: String,
        /// The name the user types.
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Look every directory account up again now: deleted or disabled ones are deactivated.
    Sync,
}

fn print_result(result: &DirectoryTestResult) -> Result<(), Failure> {
    let mut fields = vec![
        (
            "Result",
            if result.ok { "ok" } else { "failed" }.to_string(),
        ),
        ("Message", result.message.clone()),
    ];
    if let Some(account) = &result.account {
        fields.push(("Username", account.username.clone()));
        fields.push(("Email", account.email.clone()));
        fields.push(("Display name", account.display_name.clone()));
        fields.push(("Groups", account.groups.join(", ")));
        fields.push(("Platform admin", account.platform_admin.to_string()));
        fields.push(("Organizations", account.organizations.join(", ")));
        fields.push(("Projects", account.projects.join(", ")));
    }
    print_fields(&fields);
    if result.ok {
        Ok(())
    } else {
        Err(Failure::runtime(&result.message))
    }
}

/// Runs `plinth directories …`.
pub fn run(args: DirectoriesArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    let password = match &args.command {
        DirectoriesCommand::TestLogin { password_stdin, .. } => Some(if *password_stdin {
            prompt::secret_from_stdin("password")?
        } else {
            prompt::secret_from_terminal("Directory password: ", "use `--password-stdin`")?
        }),
        _ => None,
    };
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            DirectoriesCommand::List => {
                let directories = client.list_directories().await.map_err(fail)?;
                if json {
                    return print_json(&directories);
                }
                let mut table = Table::new(&["NAME", "URL", "SECURITY", "USER BASE", "FILTER"]);
                for directory in &directories {
                    table.row(vec![
                        directory.name.clone(),
                        directory.url.clone(),
                        directory.security.clone(),
                        directory.user_base.clone(),
                        directory.user_filter.clone(),
                    ]);
                }
                table.print("no directory is configured");
                Ok(())
            }
            DirectoriesCommand::Test { name } => {
                let result = client
                    .test_directory_connection(&name)
                    .await
                    .map_err(fail)?;
                if json {
                    print_json(&result)?;
                    return if result.ok {
                        Ok(())
                    } else {
                        Err(Failure::runtime(&result.message))
                    };
                }
                print_result(&result)
            }
            DirectoriesCommand::TestLogin { name, username, .. } => {
                let request = DirectoryLoginTest {
                    username,
                    password: password.unwrap_or_default(),
                };
                let result = client
                    .test_directory_login(&name, &request)
                    .await
                    .map_err(fail)?;
                if json {
                    print_json(&result)?;
                    return if result.ok {
                        Ok(())
                    } else {
                        Err(Failure::runtime(&result.message))
                    };
                }
                print_result(&result)
            }
            DirectoriesCommand::Sync => {
                let reports = client.sync_directories().await.map_err(fail)?;
                if json {
                    return print_json(&reports);
                }
                let mut table =
                    Table::new(&["DIRECTORY", "CHECKED", "UPDATED", "DEACTIVATED", "ERROR"]);
                for report in &reports {
                    table.row(vec![
                        report.directory.clone(),
                        report.checked.to_string(),
                        report.updated.to_string(),
                        report.deactivated.to_string(),
                        report.error.clone().unwrap_or_else(|| "-".to_string()),
                    ]);
                }
                table.print("no directory is configured");
                Ok(())
            }
        }
    })
}
