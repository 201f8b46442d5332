use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use plinth_types::{ErrorKind, HasErrorKind};

use crate::{Config, LogFormat, Secret};

/// The file read when no `--config` is given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "plinth.toml";

/// The prefix of environment variables that set configuration keys:
/// `PLINTH__SERVER__LISTEN_ADDR` sets `server.listen_addr`.
pub const ENV_PREFIX: &str = "PLINTH__";

/// Environment variables with the `PLINTH_` prefix that are not configuration keys but are
/// still read by Plinth; any other `PLINTH_*` variable draws a warning.
const KNOWN_SINGLE_UNDERSCORE_VARS: &[&str] = &[
    "PLINTH_CONFIG",
    "PLINTH_ADMIN_PASSWORD",
    "PLINTH_ADMIN_PASSWORD_FILE",
    // Read by the CLI commands, not by `serve`.
    "PLINTH_URL",
    "PLINTH_TOKEN",
    "PLINTH_CONFIG_DIR",
];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file named explicitly does not exist or cannot be read.
    #[error("config file `{path}` cannot be read: {reason}")]
    File {
        /// The file named with `--config` or `PLINTH_CONFIG`.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A layer has an unknown key or a value of the wrong type.
    #[error("invalid configuration: {0}")]
    Load(String),
    /// Values parse but are not acceptable; every problem is listed.
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl HasErrorKind for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Values given on the command line; they override every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`
    pub listen_addr: Option<SocketAddr>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--metastore-url`
    pub metastore_url: Option<Secret>,
    /// `--objects-url`
    pub objects_url: Option<String>,
    /// `--log-format`
    pub log_format: Option<LogFormat>,
    /// `--log-level`
    pub log_level: Option<String>,
}

/// What to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// A config file that must exist (`--config`); otherwise `plinth.toml` is read if present.
    pub config_file: Option<PathBuf>,
    /// Command-line values.
    pub overrides: Overrides,
}

/// A loaded, validated configuration and what was noticed on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Things worth a warning that do not stop startup (unknown `PLINTH_*` variables).
    pub warnings: Vec<String>,
}

/// Loads the configuration from its layers and validates it.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));

    let config_file = match &options.config_file {
        Some(path) => {
            if let Err(error) = fs_err::metadata(path) {
                return Err(ConfigError::File {
                    path: path.clone(),
                    reason: io_reason(&error),
                });
            }
            Some(path.clone())
        }
        None => {
            let path = PathBuf::from(DEFAULT_CONFIG_FILE);
            path.try_exists().unwrap_or(false).then_some(path)
        }
    };
    if let Some(path) = &config_file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));

    let overrides = &options.overrides;
    if let Some(value) = overrides.listen_addr {
        figment = figment.merge(Serialized::default("server.listen_addr", value));
    }
    if let Some(value) = &overrides.data_dir {
        figment = figment.merge(Serialized::default("server.data_dir", value));
    }
    if let Some(value) = &overrides.metastore_url {
        figment = figment
            .merge(Serialized::default("metastore.url", value))
            .merge(Serialized::default(
                "metastore.url_file",
                Option::<PathBuf>::None,
            ));
    }
    if let Some(value) = &overrides.objects_url {
        figment = figment.merge(Serialized::default("objects.url", value));
    }
    if let Some(value) = overrides.log_format {
        figment = figment.merge(Serialized::default("log.format", value));
    }
    if let Some(value) = &overrides.log_level {
        figment = figment.merge(Serialized::default("log.level", value));
    }

    let config: Config = figment
        .extract()
        .map_err(|error| ConfigError::Load(describe(error)))?;
    config.validate()?;
    Ok(Loaded {
        config,
        config_file,
        warnings: unknown_env_warnings(std::env::vars()),
    })
}

/// Renders every figment error on one line, each naming its key and source.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".");
            let source = error
                .metadata
                .as_ref()
                .map(|metadata| match &metadata.source {
                    Some(source) => format!(" (from {} {source})", metadata.name),
                    None => format!(" (from {})", metadata.name),
                })
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", error.kind)
            } else {
                format!("`{key}`: {}{source}", error.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// Returns a warning for each `PLINTH_*` variable Plinth does not read: most likely a typo,
/// such as one underscore where two were meant.
fn unknown_env_warnings(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let mut warnings: Vec<String> = vars
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("PLINTH_"))
        .filter(|name| !name.starts_with(ENV_PREFIX) && !name.starts_with("PLINTH_TEST_"))
        .filter(|name| !KNOWN_SINGLE_UNDERSCORE_VARS.contains(&name.as_str()))
        .map(|name| {
            format!(
                "environment variable `{name}` is not read by plinth; configuration keys look like `PLINTH__SERVER__LISTEN_ADDR`"
            )
        })
        .collect();
    warnings.sort();
    warnings
}

#[cfg(test)]
pub(crate) fn unknown_env_warnings_for_test(vars: &[(&str, &str)]) -> Vec<String> {
    unknown_env_warnings(
        vars.iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    )
}
