//! `plinth login`, `plinth logout` and `plinth whoami`.

use clap::Args;
use plinth_client::{Client, LoginRequest};

use super::credentials::{self, Credentials};
use super::output::{print_fields, print_json, yes_no};
use super::{block_on, client_failure, prompt, RemoteArgs, Session, TokenSource};
use crate::cli::Failure;

/// Flags of `plinth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server, e.g. https://plinth.example.com or http://127.0.0.1:8080 [default: the
    /// one you logged in to last].
    #[arg(long, env = "PLINTH_URL", value_name = "URL")]
    url: Option<String>,
    /// A PEM file of certificate authorities to trust besides the system's (a company's
    /// own, for an https server); remembered for the later commands.
    #[arg(long, env = "PLINTH_CA_FILE", value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Username or email; asked for when absent.
    #[arg(long, short = 'u', value_name = "USER")]
    username: Option<String>,
    /// Read the password from standard input instead of asking for it (for scripts).
    #[arg(long)]
    password_stdin: bool,
    /// The current two-factor code (or a recovery code), for accounts with MFA; asked for
    /// when needed, except with --password-stdin.
    #[arg(long, value_name = "CODE")]
    totp: Option<String>,
    /// A name for the token this login creates, as `plinth tokens list` shows it.
    #[arg(long, value_name = "NAME")]
    token_name: Option<String>,
}

/// Logs in, and stores the new token for the other commands.
pub fn login(args: LoginArgs) -> Result<(), Failure> {
    let path = credentials::path()?;
    let stored = credentials::load(&path)?;
    let url = match args.url {
        Some(url) => url,
        None => match &stored {
            Some(stored) => stored.url.clone(),
            None => {
                return Err(Failure::runtime(
                    "missing `--url`: which server to log in to, e.g. `plinth login --url https://plinth.example.com`",
                ))
            }
        },
    };
    // An authority given before for this server is trusted again.
    let ca_file = match args.ca_file {
        Some(file) => Some(std::path::absolute(&file).map_err(|error| {
            Failure::runtime(format!("`--ca-file {}`: {error}", file.display()))
        })?),
        None => stored
            .as_ref()
            .filter(|stored| super::same_server(&stored.url, &url))
            .and_then(|stored| stored.ca_file.clone()),
    };
    let client = super::new_client(&url, ca_file.as_deref())?;
    let username = match args.username {
        Some(username) => username,
        None if args.password_stdin => {
            return Err(Failure::runtime(
                "`--password-stdin` needs `--username USER`",
            ))
        }
        None => prompt::line("username: ", "pass `--username USER`")?,
    };
    let password = if args.password_stdin {
        prompt::secret_from_stdin("password")?
    } else {
        prompt::secret_from_terminal("password: ", "use `--password-stdin`")?
    };
    let scripted = args.password_stdin;
    let mut request = LoginRequest {
        username,
        password,
        totp_code: args.totp,
        token_name: args.token_name,
        expires_in_days: None,
    };
    block_on(async {
        let answer = match client.login(&request).await {
            Ok(answer) => answer,
            Err(error) if error.needs_totp_code() && request.totp_code.is_none() => {
                const HINT: &str =
                    "this account uses two-factor authentication: pass `--totp CODE`";
                // Scripts (`--password-stdin`) are never asked anything: they must not hang.
                if scripted {
                    return Err(Failure::runtime(HINT));
                }
                request.totp_code = Some(prompt::secret_from_terminal(
                    "two-factor code (or a recovery code): ",
                    HINT,
                )?);
                client.login(&request).await.map_err(client_failure)?
            }
            Err(error) => return Err(client_failure(error)),
        };
        let username = answer.user.username.to_string();
        // Logging in again replaces the stored token: revoke the old one rather than leave
        // a valid credential nobody holds any more. Best effort: it may have expired.
        if let Some(previous) = stored.filter(|previous| previous.url == client.server()) {
            if let Ok(old) = Client::try_new_with(&previous.url, previous.ca_file.as_deref()) {
                let _ = old.with_token(previous.token).logout().await;
            }
        }
        credentials::save(
            &path,
            &Credentials {
                url: client.server().to_string(),
                token: answer.token,
                username: username.clone(),
                ca_file,
            },
        )?;
        println!("logged in to {} as {username}", client.server());
        Ok(())
    })
}

/// Revokes the token on the server and forgets it.
pub fn logout(remote: &RemoteArgs) -> Result<(), Failure> {
    let session = Session::connect(remote)?;
    block_on(async {
        match session.client().logout().await {
            Ok(()) => {}
            // Already revoked or expired: nothing left to revoke.
            Err(error) if error.is_unauthenticated() => {
                eprintln!("note: the server no longer accepted the token ({error})");
            }
            // The token may still work: keep it so that logging out can be retried.
            Err(error) => return Err(session.failure(error)),
        }
        match &session.source {
            TokenSource::File(path) => {
                credentials::delete(path)?;
                println!("logged out of {}", session.server());
            }
            TokenSource::Environment => {
                println!(
                    "revoked the token in `PLINTH_TOKEN` on {}",
                    session.server()
                );
            }
        }
        Ok(())
    })
}

/// Shows who the token belongs to.
pub fn whoami(remote: &RemoteArgs) -> Result<(), Failure> {
    let session = Session::connect(remote)?;
    block_on(async {
        let me = session
            .client()
            .me()
            .await
            .map_err(|error| session.failure(error))?;
        if remote.json {
            return print_json(&me);
        }
        let user = &me.user;
        print_fields(&[
            ("username", user.username.to_string()),
            ("display name", user.display_name.clone()),
            ("email", user.email.clone()),
            ("admin", yes_no(user.is_admin)),
            ("MFA", yes_no(user.mfa_enabled)),
            ("server", session.server().to_string()),
        ]);
        Ok(())
    })
}
