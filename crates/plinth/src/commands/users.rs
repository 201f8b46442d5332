//! `plinth users …`: user accounts, for platform admins.

use clap::{Args, Subcommand};
use plinth_client::{CreateUserRequest, UpdateUserRequest, User, UserListQuery};

use super::output::{optional_time, or_dash, print_fields, print_json, time, yes_no, Table};
use super::{block_on, prompt, RemoteArgs, Session};
use crate::cli::Failure;

/// The most users the server returns per page.
const PAGE: i64 = 500;

/// Flags and subcommands of `plinth users`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// List users.
    List {
        /// Only users whose username, email or display name contains this.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// Create a user; the password is asked for, or read from stdin with --password-stdin.
    Create {
        /// Login name.
        username: String,
        /// Email address.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// Name shown in the UI.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Make them a platform admin.
        #[arg(long)]
        admin: bool,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user.
    Show {
        /// Login name.
        username: String,
    },
    /// Deactivate a user: they cannot log in and their sessions and tokens stop working.
    Deactivate {
        /// Login name.
        username: String,
    },
    /// Reactivate a deactivated user.
    Reactivate {
        /// Login name.
        username: String,
    },
    /// Set a user's password; their sessions end.
    ResetPassword {
        /// Login name.
        username: String,
        /// Read the new password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's two-factor authentication so they can enroll again.
    ResetMfa {
        /// Login name.
        username: String,
    },
}

/// Runs `plinth users …`.
pub fn run(args: UsersArgs) -> Result<(), Failure> {
    let json = args.remote.json;
    // Ask for passwords before anything is sent.
    let password = match &args.command {
        UsersCommand::Create { password_stdin, .. }
        | UsersCommand::ResetPassword { password_stdin, .. } => Some(if *password_stdin {
            prompt::secret_from_stdin("password")?
        } else {
            prompt::new_password_from_terminal("use `--password-stdin`")?
        }),
        _ => None,
    };
    let session = Session::connect(&args.remote)?;
    let client = session.client();
    let fail = |error| session.failure(error);
    block_on(async {
        match args.command {
            UsersCommand::List { search } => {
                let mut users: Vec<User> = Vec::new();
                loop {
                    let page = client
                        .list_users(&UserListQuery {
                            search: search.clone(),
                            after: users.last().map(|user| user.username.to_string()),
                            limit: Some(PAGE),
                        })
                        .await
                        .map_err(fail)?;
                    let done = page.len() < PAGE as usize;
                    users.extend(page);
                    if done {
                        break;
                    }
                }
                if json {
                    return print_json(&users);
                }
                let mut table = Table::new(&[
                    "USERNAME",
                    "DISPLAY NAME",
                    "EMAIL",
                    "ADMIN",
                    "ACTIVE",
                    "MFA",
                    "LAST LOGIN",
                ]);
                for user in &users {
                    table.row(vec![
                        user.username.to_string(),
                        or_dash(&user.display_name),
                        user.email.clone(),
                        yes_no(user.is_admin),
                        yes_no(user.is_active),
                        yes_no(user.mfa_enabled),
                        optional_time(user.last_login_at_ms, "never"),
                    ]);
                }
                table.print("no users");
            }
            UsersCommand::Create {
                username,
                email,
                display_name,
                admin,
                ..
            } => {
                let user = client
                    .create_user(&CreateUserRequest {
                        username,
                        email,
                        password: password.unwrap_or_default(),
                        display_name: display_name.unwrap_or_default(),
                        is_admin: admin,
                    })
                    .await
                    .map_err(fail)?;
                if json {
                    return print_json(&user);
                }
                println!(
                    "created user `{}`{}",
                    user.username,
                    if user.is_admin { " (admin)" } else { "" }
                );
            }
            UsersCommand::Show { username } => {
                let user = client.get_user(&username).await.map_err(fail)?;
                if json {
                    return print_json(&user);
                }
                print_user(&user);
            }
            UsersCommand::Deactivate { username } => {
                set_active(&session, &username, false, json).await?;
            }
            UsersCommand::Reactivate { username } => {
                set_active(&session, &username, true, json).await?;
            }
            UsersCommand::ResetPassword { username, .. } => {
                client
                    .reset_password(&username, &password.unwrap_or_default())
                    .await
                    .map_err(fail)?;
                if !json {
                    println!("set the password of `{username}`; their sessions have ended");
                }
            }
            UsersCommand::ResetMfa { username } => {
                client.reset_mfa(&username).await.map_err(fail)?;
                if !json {
                    println!("removed the two-factor authentication of `{username}`; they can enroll again");
                }
            }
        }
        Ok(())
    })
}

async fn set_active(
    session: &Session,
    username: &str,
    active: bool,
    json: bool,
) -> Result<(), Failure> {
    let user = session
        .client()
        .update_user(
            username,
            &UpdateUserRequest {
                is_active: Some(active),
                ..UpdateUserRequest::default()
            },
        )
        .await
        .map_err(|error| session.failure(error))?;
    if json {
        return print_json(&user);
    }
    if active {
        println!("reactivated user `{}`", user.username);
    } else {
        println!(
            "deactivated user `{}`: they cannot log in, and their sessions and tokens stop working",
            user.username
        );
    }
    Ok(())
}

fn print_user(user: &User) {
    print_fields(&[
        ("username", user.username.to_string()),
        ("display name", or_dash(&user.display_name)),
        ("email", user.email.clone()),
        ("admin", yes_no(user.is_admin)),
        ("active", yes_no(user.is_active)),
        ("MFA", yes_no(user.mfa_enabled)),
        ("created", time(user.created_at_ms)),
        ("last login", optional_time(user.last_login_at_ms, "never")),
        ("id", user.id.to_string()),
    ]);
}
