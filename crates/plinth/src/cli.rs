//! The command line: `plinth serve`, `plinth version`, `plinth config default|check`, and
//! the commands that talk to a server (`login`, `logout`, `whoami`, `users`, `orgs`,
//! `projects`, `tokens`, `jobs`, `pools`, `classes`, `quota`, `usage`, `experiments`,
//! `runs`, `models`, `artifacts`; see [`commands`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use plinth_config::{LoadOptions, LogFormat, Overrides, Secret};

use crate::commands;

/// Exit code for a configuration problem (bad flag value, unknown key, invalid setting).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for a runtime problem (unreachable database, port in use, …).
pub const EXIT_RUNTIME: u8 = 1;

/// Plinth: a self-hosted MLOps platform in one binary.
///
/// Track experiments, register models, run pipelines, serve models — on one machine with
/// embedded defaults, or on Kubernetes with PostgreSQL and S3.
#[derive(Debug, Parser)]
#[command(
    name = "plinth",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API, UI, metrics, on one address.
    ///
    /// With no flags: 127.0.0.1:8080, all state in ./plinth-data (SQLite and local files).
    /// Settings come from built-in defaults, then plinth.toml (or --config), then
    /// PLINTH__SECTION__KEY environment variables, then these flags.
    Serve(ServeArgs),
    /// Print the version of this binary.
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The sandbox local workloads run in: `plinth sandbox check` shows what holds here.
    Sandbox(crate::sandbox::SandboxArgs),
    /// Log in to a server and store a token for the other commands.
    ///
    /// Asks for the username and password (and a two-factor code when the account has
    /// MFA); scripts pass --username and --password-stdin. The token is stored in
    /// $PLINTH_CONFIG_DIR, else $XDG_CONFIG_HOME/plinth, else ~/.config/plinth, in
    /// credentials.toml, readable by you only.
    Login(commands::auth::LoginArgs),
    /// Revoke the stored token on the server and forget it.
    Logout(commands::RemoteArgs),
    /// Show who you are logged in as, and where.
    Whoami(commands::RemoteArgs),
    /// Manage user accounts (admins).
    Users(commands::users::UsersArgs),
    /// LDAP / Active Directory directories: list, test, sync (admins).
    Directories(commands::directories::DirectoriesArgs),
    /// Manage organizations and their members.
    Orgs(commands::orgs::OrgsArgs),
    /// Manage projects and their members.
    Projects(commands::projects::ProjectsArgs),
    /// Manage your personal API tokens.
    ///
    /// For scripts and CI: `export PLINTH_URL=… PLINTH_TOKEN=$(plinth tokens create --name ci | tail -n1)`.
    Tokens(commands::tokens::TokensArgs),
    /// Project files through the S3 endpoint: your S3 access keys.
    ///
    /// `plinth files keys create --project acme/vision | tail -n1` prints
    /// `ENDPOINT_URL ACCESS_KEY_ID SECRET_ACCESS_KEY`; the bucket is `acme.vision`.
    Files(commands::files::FilesArgs),
    /// Run commands as jobs with your working files, and follow, list, stop and re-run them.
    ///
    /// `plinth jobs run -- python train.py` packs the current folder (minus what
    /// .gitignore and .plinthignore leave out), runs the command on the platform, shows its
    /// output and exits with its exit code; Ctrl-C detaches and leaves it running.
    Jobs(commands::jobs::JobsArgs),
    /// Deploy web apps (Streamlit, Dash, FastAPI, a static site …) from your working files,
    /// each on an origin of its own behind Plinth's sign-in; list, follow and stop them.
    ///
    /// `plinth apps create dash -- sh -c 'streamlit run app.py --server.port $PLINTH_PORT_HTTP'`
    /// prints the App's URL as its last line.
    Apps(commands::apps::AppsArgs),
    /// Kubeflow Pipelines: upload compiled pipelines, start runs and follow them.
    ///
    /// `plinth pipelines run chain.yaml --param n=4 --wait` runs a pipeline compiled by the
    /// kfp SDK; `kfp.Client(host=URL/projects/ORG/NAME, existing_token=TOKEN)` works too.
    Pipelines(commands::pipelines::PipelinesArgs),
    /// Deploy registered models as HTTP APIs (MLflow scoring and the Open Inference
    /// Protocol), served by the server itself; list, show and delete them.
    ///
    /// `plinth deployments create iris --model iris@champion --wait` prints the endpoint's
    /// URL as its last line.
    Deployments(commands::deployments::DeploymentsArgs),
    /// Manage environments: named, versioned sets of Python packages jobs run in (`plinth
    /// jobs run --env NAME[:VERSION]`), resolved into a lock and built once per lock.
    Envs(commands::envs::EnvsArgs),
    /// Manage node pools: the groups of machines work is placed on (changes: admins).
    Pools(commands::pools::PoolsArgs),
    /// Manage resource classes: the named sizes jobs ask for (changes: admins).
    Classes(commands::classes::ClassesArgs),
    /// Show or change what a project may use at the same time (changes: admins).
    Quota(commands::quota::QuotaArgs),
    /// Show CPU-, memory- and GPU-hours by day, user and class.
    Usage(commands::usage::UsageArgs),
    /// List, create, show, rename, delete and restore MLflow experiments, and tag them.
    Experiments(commands::experiments::ExperimentsArgs),
    /// Search runs with MLflow's filter grammar, show one, delete and restore them.
    Runs(commands::runs::RunsArgs),
    /// The model registry: registered models, versions, aliases, stages, downloads.
    Models(commands::models::ModelsArgs),
    /// List and download a run's artifacts.
    Artifacts(commands::artifacts::ArtifactsArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the built-in defaults as an annotated plinth.toml.
    Default,
    /// Load and validate the configuration as `serve` would, and print it (secrets redacted).
    Check(ConfigArgs),
}

/// Where the configuration comes from, and flags that override it.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A TOML config file; when absent, ./plinth.toml is read if it exists.
    #[arg(long, short = 'c', env = "PLINTH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The folder for all local state (SQLite database, local objects).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Metadata store URL: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, value_name = "URL")]
    metastore_url: Option<String>,
    /// Object store URL: file:///PATH, s3://BUCKET/PREFIX or memory://.
    #[arg(long, value_name = "URL")]
    objects_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormatArg>,
    /// Log filter, e.g. info, debug, or plinth_api=debug,info.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormatArg {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

/// Flags of `plinth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl ConfigArgs {
    /// Whether `--metastore-url` carries a password (which every local user can read in
    /// `/proc/<pid>/cmdline`).
    pub fn password_on_command_line(&self) -> bool {
        self.metastore_url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
            .is_some_and(|url| url.password().is_some())
    }

    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            config_file: self.config.clone(),
            overrides: Overrides {
                listen_addr: self.listen,
                data_dir: self.data_dir.clone(),
                metastore_url: self.metastore_url.clone().map(Secret::new),
                objects_url: self.objects_url.clone(),
                log_format: self.log_format.map(|format| match format {
                    LogFormatArg::Human => LogFormat::Human,
                    LogFormatArg::Json => LogFormat::Json,
                }),
                log_level: self.log_level.clone(),
            },
        }
    }
}

/// A failed command: what to print and which exit code to return.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit_code: u8,
}

impl Failure {
    pub fn config(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            exit_code: EXIT_CONFIG,
        }
    }

    pub fn runtime(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            exit_code: EXIT_RUNTIME,
        }
    }

    /// Exits with `exit_code` and no `error:` line: the command has said what there was to
    /// say (a job's own exit code, a detach after Ctrl-C).
    pub fn silent(exit_code: u8) -> Self {
        Failure {
            message: String::new(),
            exit_code,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    let result = dispatch(cli);
    if let Err(failure) = &result {
        if failure.message.is_empty() {
            // Everything the command held (temporary files included) is dropped by now.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(i32::from(failure.exit_code));
        }
    }
    result
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(&args),
        Command::Sandbox(args) => {
            let code = crate::sandbox::run(args);
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(code);
        }
        Command::Version { json } => {
            let version = plinth_types::VERSION;
            let features: Vec<&str> = [cfg!(feature = "postgres").then_some("postgres")]
                .into_iter()
                .flatten()
                .collect();
            if json {
                let document = serde_json::json!({
                    "version": version,
                    "features": features,
                    "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
                });
                println!("{document}");
            } else {
                println!(
                    "plinth {version} ({}-{}; features: {})",
                    std::env::consts::ARCH,
                    std::env::consts::OS,
                    features.join(", ")
                );
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", plinth_config::DEFAULT_CONFIG_TOML);
            Ok(())
        }
        Command::Config(ConfigCommand::Check(args)) => {
            let loaded = plinth_config::load(&args.load_options()).map_err(Failure::config)?;
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            let source = loaded.config_file.as_ref().map_or_else(
                || "no config file".to_string(),
                |path| path.display().to_string(),
            );
            eprintln!("configuration is valid ({source})");
            let redacted = redacted_toml(&loaded.config)?;
            print!("{redacted}");
            Ok(())
        }
        Command::Login(args) => commands::auth::login(args),
        Command::Logout(remote) => commands::auth::logout(&remote),
        Command::Whoami(remote) => commands::auth::whoami(&remote),
        Command::Users(args) => commands::users::run(args),
        Command::Directories(args) => commands::directories::run(args),
        Command::Orgs(args) => commands::orgs::run(args),
        Command::Projects(args) => commands::projects::run(args),
        Command::Tokens(args) => commands::tokens::run(args),
        Command::Files(args) => commands::files::run(args),
        Command::Jobs(args) => commands::jobs::run(args),
        Command::Apps(args) => commands::apps::run(args),
        Command::Pipelines(args) => commands::pipelines::run(args),
        Command::Deployments(args) => commands::deployments::run(args),
        Command::Envs(args) => commands::envs::run(args),
        Command::Pools(args) => commands::pools::run(args),
        Command::Classes(args) => commands::classes::run(args),
        Command::Quota(args) => commands::quota::run(args),
        Command::Usage(args) => commands::usage::run(args),
        Command::Experiments(args) => commands::experiments::run(args),
        Command::Runs(args) => commands::runs::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::Artifacts(args) => commands::artifacts::run(args),
    }
}

/// Renders the effective configuration as TOML with every secret replaced.
fn redacted_toml(config: &plinth_config::Config) -> Result<String, Failure> {
    let mut config = config.clone();
    if let Some(url) = &config.metastore.url {
        config.metastore.url = Some(Secret::new(plinth_config::redact_url(url.expose())));
    }
    if config.objects.s3.secret_access_key.is_some() {
        config.objects.s3.secret_access_key = Some(Secret::new("[redacted]"));
    }
    toml::to_string(&config)
        .map_err(|error| Failure::runtime(format!("cannot render the configuration: {error}")))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        // clap checks every subcommand's arguments (unique names, valid defaults) here,
        // which it otherwise does only when that subcommand is first used.
        Cli::command().debug_assert();
    }
}
