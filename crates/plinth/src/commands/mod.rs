//! Commands that talk to a Plinth server through its REST API (`plinth-client`): `login`,
//! `logout`, `whoami`, `users`, `orgs`, `projects`, `tokens`, the workload runtime's
//! `jobs`, `pools`, `classes`, `quota` and `usage`, and experiment tracking's
//! `experiments`, `runs`, `models` and `artifacts` (MLflow's API of the project).
//!
//! Which server and token a command uses: `--url` (or `PLINTH_URL`) and `PLINTH_TOKEN`
//! when given, else what `plinth login` stored (see [`credentials`]). A stored token is
//! only ever sent to the server it was issued by.

pub mod apps;
pub mod artifacts;
pub mod auth;
pub mod classes;
pub mod credentials;
pub mod deployments;
pub mod directories;
pub mod envs;
pub mod experiments;
pub mod files;
pub mod jobs;
pub mod models;
pub mod orgs;
mod output;
pub mod pipelines;
pub mod pools;
pub mod project;
pub mod projects;
mod prompt;
pub mod quota;
pub mod runs;
pub mod snapshot;
pub mod tokens;
mod tracking;
mod units;
pub mod usage;
pub mod users;

use std::future::Future;
use std::path::PathBuf;

use clap::Args;
use plinth_client::{parse_server_url, Client, ClientError};

use crate::cli::Failure;

/// Flags of every command that talks to a server.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The server, e.g. https://plinth.example.com [default: the one you logged in to].
    #[arg(long, global = true, env = "PLINTH_URL", value_name = "URL")]
    pub url: Option<String>,
    /// A PEM file of certificate authorities to trust besides the system's, for an https
    /// server whose certificate a company's own authority signed [default: the one given
    /// at login].
    #[arg(long, global = true, env = "PLINTH_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Where a session's token comes from.
#[derive(Debug)]
enum TokenSource {
    /// `PLINTH_TOKEN`.
    Environment,
    /// The credentials file at this path.
    File(PathBuf),
}

/// A client with a token, ready to call the server.
#[derive(Debug)]
pub struct Session {
    client: Client,
    source: TokenSource,
}

impl Session {
    /// Picks the server and token as the module documentation says.
    pub fn connect(remote: &RemoteArgs) -> Result<Session, Failure> {
        let env_token = credentials::env_var("PLINTH_TOKEN");
        if let (Some(url), Some(token)) = (&remote.url, &env_token) {
            // Everything is given: the credentials file is not even read.
            return Ok(Session {
                client: new_client(url, remote.ca_file.as_deref())?.with_token(token),
                source: TokenSource::Environment,
            });
        }
        let path = credentials::path()?;
        let stored = credentials::load(&path)?;
        let Some(url) = remote
            .url
            .clone()
            .or_else(|| stored.as_ref().map(|stored| stored.url.clone()))
        else {
            return Err(if env_token.is_some() {
                Failure::runtime(
                    "`PLINTH_TOKEN` is set but no server is: pass `--url URL` or set `PLINTH_URL`",
                )
            } else {
                not_logged_in(None)
            });
        };
        // The authority given at login goes on being trusted for that server.
        let ca_file = remote.ca_file.clone().or_else(|| {
            stored
                .as_ref()
                .filter(|stored| same_server(&stored.url, &url))
                .and_then(|stored| stored.ca_file.clone())
        });
        let client = new_client(&url, ca_file.as_deref())?;
        if let Some(token) = env_token {
            return Ok(Session {
                client: client.with_token(token),
                source: TokenSource::Environment,
            });
        }
        match stored {
            Some(stored) if same_server(&stored.url, client.server()) => Ok(Session {
                client: client.with_token(stored.token),
                source: TokenSource::File(path),
            }),
            _ => Err(not_logged_in(Some(client.server()))),
        }
    }

    /// Returns the client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Returns the server URL.
    pub fn server(&self) -> &str {
        self.client.server()
    }

    /// Turns a failed call into a one-line failure; a refused token says where it came from
    /// and what to do.
    pub fn failure(&self, error: ClientError) -> Failure {
        if !error.is_unauthenticated() {
            return client_failure(error);
        }
        match &self.source {
            TokenSource::Environment => {
                Failure::runtime(format!("{error} (the token in `PLINTH_TOKEN`)"))
            }
            TokenSource::File(_) => Failure::runtime(format!(
                "{error}; log in again with `plinth login --url {}`",
                self.server()
            )),
        }
    }
}

/// Returns the failure for a missing login.
fn not_logged_in(server: Option<&str>) -> Failure {
    match server {
        None => Failure::runtime("not logged in; run `plinth login --url URL`"),
        Some(server) => Failure::runtime(format!(
            "not logged in to `{server}`; run `plinth login --url {server}`"
        )),
    }
}

/// Returns a client of `url`, trusting `ca_file`'s certificate authorities too.
pub fn new_client(url: &str, ca_file: Option<&std::path::Path>) -> Result<Client, Failure> {
    Client::try_new_with(url, ca_file).map_err(client_failure)
}

/// Returns whether two server URLs name the same server.
pub(crate) fn same_server(stored: &str, server: &str) -> bool {
    match (parse_server_url(stored), parse_server_url(server)) {
        (Ok(stored), Ok(server)) => stored == server,
        _ => false,
    }
}

/// Turns a client error into a one-line failure with the server's message as is.
pub fn client_failure(error: ClientError) -> Failure {
    Failure::runtime(error)
}

/// Runs `future` to completion on a small runtime of its own.
pub fn block_on<T>(future: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::runtime(format!("cannot start the async runtime: {error}")))?
        .block_on(future)
}

/// A project named `ORGANIZATION/PROJECT` on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRef {
    /// The organization's name.
    pub organization: String,
    /// The project's name.
    pub project: String,
}

impl std::fmt::Display for ProjectRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.organization, self.project)
    }
}

impl std::str::FromStr for ProjectRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((organization, project))
                if !organization.is_empty() && !project.is_empty() && !project.contains('/') =>
            {
                Ok(ProjectRef {
                    organization: organization.to_string(),
                    project: project.to_string(),
                })
            }
            _ => Err(format!("`{text}` is not `ORGANIZATION/PROJECT`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_refs_have_exactly_one_slash() {
        assert_eq!(
            "acme/churn".parse::<ProjectRef>().unwrap(),
            ProjectRef {
                organization: "acme".into(),
                project: "churn".into()
            }
        );
        for bad in ["acme", "acme/", "/churn", "a/b/c"] {
            assert!(bad.parse::<ProjectRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn servers_compare_by_normalised_url() {
        assert!(same_server(
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080"
        ));
        assert!(same_server("127.0.0.1:8080", "http://127.0.0.1:8080"));
        assert!(!same_server(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081"
        ));
        assert!(!same_server("not a url", "http://127.0.0.1:8080"));
    }
}
