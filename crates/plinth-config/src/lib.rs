//! Plinth's configuration: the serde structs, the layered loading (built-in defaults →
//! `plinth.toml` → `PLINTH__SECTION__KEY` environment variables → command-line flags),
//! validation that reports every problem at once, and secrets that never print.
//!
//! This crate reads the config file and `*_file` secrets; it opens no backend.

mod load;
mod secret;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::{load, ConfigError, LoadOptions, Loaded, Overrides};
pub use plinth_types::redact_url;
pub use secret::Secret;

/// The annotated default configuration, as printed by `plinth config default`.
///
/// A unit test parses it and checks it equals [`Config::default`], so the two cannot drift.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default.toml");

/// The whole configuration of a Plinth server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener, data folder and request limits.
    pub server: ServerConfig,
    /// Log format and filter.
    pub log: LogConfig,
    /// Where platform metadata lives.
    pub metastore: MetastoreConfig,
    /// Where objects (artifacts, files, model files) live.
    pub objects: ObjectsConfig,
    /// Logins, sessions, tokens, passwords and lockout.
    pub auth: AuthConfig,
    /// The workload runtime.
    pub runtime: RuntimeConfig,
    /// Environments: how they are resolved, built and kept.
    pub environments: EnvironmentsConfig,
    /// Pipelines (Kubeflow Pipelines v2): how their tasks run.
    pub pipelines: PipelinesConfig,
    /// The file manager: project files through the S3 endpoint.
    pub files: FilesConfig,
    /// Model APIs: the ONNX runtime and the endpoints' limits.
    pub serving: ServingConfig,
}

/// Pipelines: how the engine runs their tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelinesConfig {
    /// Most tasks of one run running at once.
    pub max_parallel_tasks: usize,
    /// The environment tasks run in (`NAME` or `NAME:VERSION`: the project's, else the
    /// global one); `""`: the default environment (which has `kfp`).
    pub environment: String,
    /// The resource class tasks run on.
    pub class: String,
}

impl Default for PipelinesConfig {
    fn default() -> Self {
        PipelinesConfig {
            max_parallel_tasks: 8,
            environment: String::new(),
            class: "small".to_string(),
        }
    }
}

/// The file manager: each project's files, served to S3 clients by an endpoint on a
/// listener of its own (SigV4 signs the whole path, so it cannot share the main one's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Where the S3 endpoint listens; unset: the main listener's address with the next
    /// port (`8081` beside `8080`; a random port when the main one is `0`).
    pub s3_listen: Option<SocketAddr>,
    /// The endpoint's URL as S3 clients must use it (behind a proxy); unset:
    /// `http://{s3_listen}` (`localhost` for an unspecified address).
    pub s3_public_url: Option<String>,
    /// Multipart uploads neither completed nor aborted for this long are removed.
    #[serde(with = "humantime_serde")]
    pub abandoned_upload_after: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            s3_listen: None,
            s3_public_url: None,
            abandoned_upload_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Model APIs (`docs/design/serving.md`): ONNX models run inside the server process by
/// ONNX Runtime, loaded at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServingConfig {
    /// The ONNX Runtime library (`libonnxruntime.so…`). Unset: the one the `onnxruntime`
    /// wheel installed in `python`'s environment ships (`…/onnxruntime/capi/`).
    pub onnxruntime_path: Option<PathBuf>,
    /// The Python whose installed `onnxruntime` package provides the library when
    /// `onnxruntime_path` is unset.
    pub python: PathBuf,
    /// Threads each deployed model uses within one operator.
    pub intra_op_threads: usize,
    /// The largest scoring request body, in bytes (at most `server.max_body_bytes`).
    pub max_request_bytes: u64,
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            onnxruntime_path: None,
            python: PathBuf::from("python3"),
            intra_op_threads: 1,
            max_request_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Environments: named, versioned software environments jobs run in, resolved and built
/// with `uv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentsConfig {
    /// A `uv` executable to use; unset, Plinth installs its pinned uv on first use into
    /// `{data_dir}/envs/uv` with `bootstrap_python`'s pip (the host's pip configuration,
    /// `/etc/pip.conf` and `PIP_*`, applies).
    pub uv_path: Option<PathBuf>,
    /// The Python whose pip installs the pinned uv.
    pub bootstrap_python: PathBuf,
    /// Where host Python interpreters are looked for (a `PATH`); uv-managed ones are
    /// looked for in `{data_dir}/envs/python`.
    pub python_search_path: String,
    /// Built environments no workload used for this long are removed (and rebuilt from
    /// their lock when used again).
    #[serde(with = "humantime_serde")]
    pub collect_unused_after: Duration,
    /// The global environment jobs that name none run in; `""` for none (the host's
    /// programs alone). Created on first start from `default_packages` when missing; admins
    /// change it like any global environment.
    pub default_environment: String,
    /// The Python version of the default environment; unset, the host's `python3`.
    pub default_python: Option<String>,
    /// The packages of the default environment: the clients Plinth is tested with.
    pub default_packages: Vec<String>,
    /// The package index uv uses; unset, the host's (`UV_DEFAULT_INDEX`, `PIP_INDEX_URL`)
    /// or PyPI.
    pub index_url: Option<String>,
    /// Image builds (the Kubernetes backend).
    pub images: EnvironmentImagesConfig,
}

/// Environment image builds on the Kubernetes backend: a BuildKit Job per lock pushing
/// `{registry}/plinth/{project}/{env}:{lock hash}`; workloads run the image by digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentImagesConfig {
    /// The registry images are pushed to: `host[:port]` with an optional path
    /// (`registry.example.com/ml`), no scheme. Empty: environments cannot be built on the
    /// Kubernetes backend (jobs there run in their own image).
    pub registry: String,
    /// The Secret in the platform namespace (type `kubernetes.io/dockerconfigjson`, made
    /// with `kubectl create secret docker-registry`) holding the registry's credentials;
    /// copied into each build and used by the server to look images up. Unset: none.
    pub credentials_secret: Option<String>,
    /// BuildKit's rootless image, which runs the builds.
    pub builder_image: String,
    /// Talk to the registry over plain HTTP (a registry inside the cluster).
    pub insecure: bool,
    /// The base image of an environment that names none; `{python}` becomes its
    /// `major.minor` Python version.
    pub default_base_image: String,
    /// A build running longer is stopped.
    #[serde(with = "humantime_serde")]
    pub build_timeout: Duration,
}

impl Default for EnvironmentImagesConfig {
    fn default() -> Self {
        EnvironmentImagesConfig {
            registry: String::new(),
            credentials_secret: None,
            builder_image: "moby/buildkit:v0.18.2-rootless".to_string(),
            insecure: false,
            default_base_image: "python:{python}-slim-bookworm".to_string(),
            build_timeout: Duration::from_secs(3600),
        }
    }
}

/// Checks `[environments.images]`; pushes a problem naming the key for each fault.
fn check_images(images: &EnvironmentImagesConfig, problems: &mut Vec<String>) {
    let registry = images.registry.trim();
    if registry.contains("://") {
        problems.push(format!(
            "`environments.images.registry`: `{registry}` must not have a scheme (`host[:port][/path]`; plain HTTP is `environments.images.insecure`)"
        ));
    } else if !registry.is_empty() {
        let host = registry.split('/').next().unwrap_or_default();
        let valid = !host.is_empty()
            && registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:/".contains(&b))
            && !registry.contains("//")
            && !registry.ends_with('/');
        if !valid {
            problems.push(format!(
                "`environments.images.registry`: `{registry}` is not `host[:port][/path]`"
            ));
        }
    }
    if let Some(secret) = &images.credentials_secret {
        let valid = !secret.is_empty()
            && secret.len() <= 253
            && secret
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
            && secret.as_bytes()[0].is_ascii_alphanumeric();
        if !valid {
            problems.push(format!(
                "`environments.images.credentials_secret`: `{secret}` is not a Secret name (lower-case letters, digits, `-`, `.`)"
            ));
        }
    }
    if images.builder_image.trim().is_empty() {
        problems.push("`environments.images.builder_image` must not be empty".to_string());
    }
    if images.default_base_image.trim().is_empty() {
        problems.push("`environments.images.default_base_image` must not be empty".to_string());
    }
    if images.build_timeout.is_zero() {
        problems.push("`environments.images.build_timeout` must be greater than 0".to_string());
    }
}

impl Default for EnvironmentsConfig {
    fn default() -> Self {
        EnvironmentsConfig {
            uv_path: None,
            bootstrap_python: PathBuf::from("python3"),
            python_search_path: "/usr/local/bin:/usr/bin:/bin".to_string(),
            collect_unused_after: Duration::from_secs(7 * 24 * 3600),
            default_environment: "default".to_string(),
            default_python: None,
            default_packages: vec![
                "mlflow-skinny==3.17.2".to_string(),
                "kfp==2.17.0".to_string(),
            ],
            index_url: None,
            images: EnvironmentImagesConfig::default(),
        }
    }
}

/// Logins, sessions, tokens, passwords and lockout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The 32-byte key sealing TOTP secrets, base64, in a file; created when missing.
    /// Unset means `{data_dir}/server.key`. Replicas of one installation must share it.
    pub secret_key_file: Option<PathBuf>,
    /// A session ends after this long without a request.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active.
    #[serde(with = "humantime_serde")]
    pub session_absolute_timeout: Duration,
    /// Mark session cookies `Secure`: unset means only for requests that arrived over TLS
    /// (`X-Forwarded-Proto: https` from the ingress).
    pub secure_cookies: Option<bool>,
    /// Failed logins per account within `failure_window` before it is locked.
    pub max_failures_per_account: i64,
    /// Failed logins per client address within `failure_window` before it is locked.
    pub max_failures_per_address: i64,
    /// How far back failed logins count.
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
    /// How long a lock lasts.
    #[serde(with = "humantime_serde")]
    pub lockout_duration: Duration,
    /// Longest lifetime of a personal API token.
    #[serde(with = "humantime_serde")]
    pub max_token_lifetime: Duration,
    /// Fewest characters in a password.
    pub password_min_length: usize,
    /// argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// How long a server may reuse what a token, session or project role resolved to
    /// (`0s`: never). Changes made through the same server take effect at once; this bounds
    /// how long another replica's (or the CLI's) changes take. At most 60 s.
    #[serde(with = "humantime_serde")]
    pub auth_cache_ttl: Duration,
    /// How often every account that came from a directory is looked up again: deleted or
    /// disabled ones are deactivated (their sessions and tokens end), the others updated.
    #[serde(with = "humantime_serde")]
    pub directory_sync_interval: Duration,
    /// LDAP / Active Directory directories users log in with (`[[auth.ldap]]`). While one
    /// is configured, local sign-up is off; local accounts (the `admin`) still log in.
    pub ldap: Vec<LdapDirectoryConfig>,
    /// OpenID Connect providers users log in with (`[[auth.oidc]]`).
    pub oidc: Vec<OidcProviderConfig>,
}

/// One LDAP or Active Directory directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapDirectoryConfig {
    /// Its name: in the audit log, the admin page and the accounts it creates.
    pub name: String,
    /// `ldap://HOST:PORT` or `ldaps://HOST:PORT`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of the CA that signed the server's certificate (LDAPS or StartTLS); unset
    /// means the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users; unset means an anonymous search.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Its password.
    #[serde(default)]
    pub bind_password: Option<Secret>,
    /// Its password, read from a file.
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// The search filter; `{username}` is replaced by the typed name, escaped (RFC 4515).
    /// E.g. `(uid={username})`, `(sAMAccountName={username})`, `(mail={username})`.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// The attribute holding the Plinth username.
    #[serde(default = "default_username_attribute")]
    pub username_attribute: String,
    /// The attribute holding the email address.
    #[serde(default = "default_email_attribute")]
    pub email_attribute: String,
    /// The attribute holding the display name.
    #[serde(default = "default_display_name_attribute")]
    pub display_name_attribute: String,
    /// The attribute listing the user's groups (DNs).
    #[serde(default = "default_member_of_attribute")]
    pub member_of_attribute: String,
    /// How nested groups are found: `none` (direct groups only), `in_chain` (Active
    /// Directory's LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941) or `recursive`
    /// (look up each group's own `memberOf` until no new group appears).
    #[serde(default)]
    pub nested_groups: NestedGroups,
    /// Where groups are searched for the `in_chain` rule; unset means `user_base`'s parent.
    #[serde(default)]
    pub group_base: Option<String>,
    /// A filter that matches disabled accounts (e.g. Active Directory's
    /// `(userAccountControl:1.2.840.113556.1.4.803:=2)`); such users cannot log in.
    #[serde(default)]
    pub disabled_filter: Option<String>,
    /// Seconds to wait for the directory.
    #[serde(default = "default_ldap_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Which groups grant which roles.
    #[serde(default)]
    pub role_mappings: Vec<RoleMappingConfig>,
}

/// How a directory's nested groups are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NestedGroups {
    /// Only the groups the user is a direct member of.
    #[default]
    None,
    /// The in-chain matching rule (Active Directory).
    InChain,
    /// Follow each group's `memberOf` (any server with the memberof overlay).
    Recursive,
}

/// One group (LDAP DN, or a value of the OIDC groups claim) and the roles it grants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingConfig {
    /// The group: a DN (compared case-insensitively) or an OIDC group name.
    pub group: String,
    /// Members are platform admins.
    #[serde(default)]
    pub platform_admin: bool,
    /// The organization the members join.
    #[serde(default)]
    pub organization: Option<String>,
    /// Their role there: `owner` or `member` (default `member`).
    #[serde(default)]
    pub organization_role: Option<String>,
    /// A project of `organization` the members join.
    #[serde(default)]
    pub project: Option<String>,
    /// Their role there: `viewer`, `contributor` or `owner` (default `viewer`).
    #[serde(default)]
    pub project_role: Option<String>,
}

/// One OpenID Connect provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Its name, in the login and callback URLs (`/auth/oidc/{name}/login`).
    pub name: String,
    /// What the login button says after "Log in with".
    #[serde(default)]
    pub display_name: Option<String>,
    /// The issuer URL; its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The client secret, read from a file.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the Plinth username.
    #[serde(default = "default_oidc_username_claim")]
    pub username_claim: String,
    /// The claim holding the email address.
    #[serde(default = "default_oidc_email_claim")]
    pub email_claim: String,
    /// The claim holding the display name.
    #[serde(default = "default_oidc_name_claim")]
    pub display_name_claim: String,
    /// The claim holding the user's groups (a list of strings).
    #[serde(default = "default_oidc_groups_claim")]
    pub groups_claim: String,
    /// Link a first login to an existing account with the same email when the provider
    /// says the email is verified. Off: such a login is refused.
    #[serde(default)]
    pub link_by_verified_email: bool,
    /// Seconds to wait for the provider.
    #[serde(default = "default_ldap_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Which groups grant which roles.
    #[serde(default)]
    pub role_mappings: Vec<RoleMappingConfig>,
}

fn default_user_filter() -> String {
    "(uid={username})".to_string()
}
fn default_username_attribute() -> String {
    "uid".to_string()
}
fn default_email_attribute() -> String {
    "mail".to_string()
}
fn default_display_name_attribute() -> String {
    "cn".to_string()
}
fn default_member_of_attribute() -> String {
    "memberOf".to_string()
}
fn default_ldap_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_oidc_scopes() -> Vec<String> {
    vec!["email".to_string(), "profile".to_string()]
}
fn default_oidc_username_claim() -> String {
    "preferred_username".to_string()
}
fn default_oidc_email_claim() -> String {
    "email".to_string()
}
fn default_oidc_name_claim() -> String {
    "name".to_string()
}
fn default_oidc_groups_claim() -> String {
    "groups".to_string()
}

impl LdapDirectoryConfig {
    /// Returns the service account's password: `bind_password` or the file's content.
    pub fn bind_password(&self) -> Result<Option<Secret>, ConfigError> {
        match (&self.bind_password, &self.bind_password_file) {
            (Some(password), _) => Ok(Some(password.clone())),
            (None, Some(path)) => Ok(Some(Secret::new(read_secret_file(
                &format!("auth.ldap.{}.bind_password_file", self.name),
                path,
            )?))),
            (None, None) => Ok(None),
        }
    }
}

impl OidcProviderConfig {
    /// Returns the client secret: `client_secret` or the file's content.
    pub fn client_secret(&self) -> Result<Option<Secret>, ConfigError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), _) => Ok(Some(secret.clone())),
            (None, Some(path)) => Ok(Some(Secret::new(read_secret_file(
                &format!("auth.oidc.{}.client_secret_file", self.name),
                path,
            )?))),
            (None, None) => Ok(None),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret_key_file: None,
            session_idle_timeout: Duration::from_secs(2 * 3600),
            session_absolute_timeout: Duration::from_secs(12 * 3600),
            secure_cookies: None,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(15 * 60),
            lockout_duration: Duration::from_secs(15 * 60),
            max_token_lifetime: Duration::from_secs(365 * 86_400),
            password_min_length: 12,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 3,
            auth_cache_ttl: Duration::from_secs(5),
            directory_sync_interval: Duration::from_secs(15 * 60),
            ldap: Vec::new(),
            oidc: Vec::new(),
        }
    }
}

/// HTTP listener, data folder and request limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the HTTP server binds.
    pub listen_addr: SocketAddr,
    /// The folder holding all local state (SQLite database, local objects).
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// How long in-flight requests may run after SIGTERM before the server stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace_period: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("plinth-data"),
            max_body_bytes: 64 * 1024 * 1024,
            shutdown_grace_period: Duration::from_secs(30),
        }
    }
}

/// Where and how jobs, workspaces and deployments run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `local` (child processes on this machine) or `kubernetes`.
    pub backend: RuntimeBackend,
    /// The URL workloads reach this server at (for `MLFLOW_TRACKING_URI`, `PLINTH_URL` and
    /// working files); unset means `http://{server.listen_addr}`.
    pub public_url: Option<String>,
    /// Where Apps are served, each on a host name of its own under this URL's host
    /// (`https://apps.example.com` serves `https://{app}--{project}--{org}.apps.example.com`);
    /// unset means `http://localhost:{port}` (`*.localhost` on this server's port). Never
    /// the host of Plinth's own UI.
    pub apps_url: Option<String>,
    /// How long the token injected into a workload lives at most (it is revoked when the
    /// workload ends).
    #[serde(with = "humantime_serde")]
    pub workload_token_lifetime: Duration,
    /// Largest snapshot of working files accepted, in bytes.
    pub max_snapshot_bytes: u64,
    /// After a stop, a workload has this long between SIGTERM and SIGKILL.
    #[serde(with = "humantime_serde")]
    pub stop_grace_period: Duration,
    /// How often the reconciler compares desired and observed state.
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// Settings of the local backend.
    pub local: LocalRuntimeConfig,
    /// Settings of the Kubernetes backend.
    pub kubernetes: KubernetesConfig,
}

/// Settings of the local backend: how workloads are kept from the platform and from each
/// other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalRuntimeConfig {
    /// `sandbox` (namespaces, a uid per project, Landlock), `podman` (a container per
    /// workload), or `none` (the server's own rights: only for trying Plinth alone).
    pub isolation: LocalIsolation,
    /// What happens when the sandbox cannot fully hold on this machine: `auto` (refuse
    /// workloads while the platform has more than one user account, else run them with a
    /// warning), `refuse` or `warn`.
    pub when_unsandboxed: WhenUnsandboxed,
    /// The sandbox's settings.
    pub sandbox: SandboxConfig,
    /// The podman isolation's settings.
    pub podman: PodmanConfig,
}

impl Default for LocalRuntimeConfig {
    fn default() -> Self {
        LocalRuntimeConfig {
            isolation: LocalIsolation::Sandbox,
            when_unsandboxed: WhenUnsandboxed::Auto,
            sandbox: SandboxConfig::default(),
            podman: PodmanConfig::default(),
        }
    }
}

/// How local workloads are isolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalIsolation {
    /// The built-in sandbox.
    Sandbox,
    /// A podman container per workload.
    Podman,
    /// None: workloads run with the server's rights.
    None,
}

/// What happens when the sandbox cannot fully hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenUnsandboxed {
    /// Refuse while more than one user is active, else warn.
    Auto,
    /// Refuse to run workloads.
    Refuse,
    /// Run them, with a warning on every job page.
    Warn,
}

/// The sandbox's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// When the server runs as root, each project's workloads run as their own uid and gid,
    /// taken in order from this one on.
    pub first_uid: u32,
    /// How many uids (one per project) the range holds.
    pub uid_count: u32,
    /// Further paths every workload may read and execute (a shared Python environment,
    /// a dataset folder); everything else outside its own folder stays out of reach.
    pub read_only_paths: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            first_uid: 1_500_000_000,
            uid_count: 100_000,
            read_only_paths: Vec::new(),
        }
    }
}

/// The podman isolation's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodmanConfig {
    /// The `podman` program.
    pub program: PathBuf,
    /// The image workloads run in when they name none.
    pub default_image: String,
}

impl Default for PodmanConfig {
    fn default() -> Self {
        PodmanConfig {
            program: PathBuf::from("podman"),
            default_image: "docker.io/library/python:3.11-slim".to_string(),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backend: RuntimeBackend::Local,
            public_url: None,
            apps_url: None,
            workload_token_lifetime: Duration::from_secs(24 * 3600),
            max_snapshot_bytes: 512 * 1024 * 1024,
            stop_grace_period: Duration::from_secs(10),
            reconcile_interval: Duration::from_secs(1),
            local: LocalRuntimeConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

/// Which backend runs workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeBackend {
    /// Child processes of the server, on this machine.
    Local,
    /// Jobs and Deployments on a Kubernetes cluster.
    Kubernetes,
}

/// Settings of the Kubernetes backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// A kubeconfig file; unset means the in-cluster service account (or `KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// Each project's workloads run in the namespace `{namespace_prefix}{project id}`.
    pub namespace_prefix: String,
    /// The namespace Plinth itself runs in (the only one allowed into project namespaces).
    pub platform_namespace: String,
    /// The image workloads run in when they name none.
    pub default_image: String,
    /// The image of the init container fetching working files (needs `wget`, `sha256sum`, `tar`).
    pub init_image: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            namespace_prefix: "plinth-".to_string(),
            platform_namespace: "plinth".to_string(),
            default_image: "python:3.12-slim".to_string(),
            init_image: "busybox:1.36".to_string(),
        }
    }
}

/// Log format and filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json` (one object a line).
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `plinth_api=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_string(),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}`; use `human` or `json`"
            )),
        }
    }
}

/// Where platform metadata lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetastoreConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`; unset means
    /// `sqlite://{data_dir}/plinth.db`.
    pub url: Option<Secret>,
    /// A file whose content is the URL (for a URL carrying a password); excludes `url`.
    pub url_file: Option<PathBuf>,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for the database at startup and for a pooled connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// When a SQLite commit of the hot tracking writes reaches the disk: `normal` (the
    /// default) or `full`; every other write is synced at its commit.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for MetastoreConfig {
    fn default() -> Self {
        MetastoreConfig {
            url: None,
            url_file: None,
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

/// When a SQLite commit of the hot tracking writes reaches the disk (SQLite's `PRAGMA
/// synchronous` of the group-commit writer's connection, in WAL mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// A commit is written to the WAL file (the OS keeps it: it survives `kill -9` of the
    /// server) and synced to the disk by the next checkpoint, at most about a second later.
    /// A power loss or kernel crash can lose that last second of writes, never corrupt.
    Normal,
    /// Each commit waits for the WAL file to be synced (an fsync per commit): it survives a
    /// power loss too, and costs a disk flush per commit.
    Full,
}

/// Where objects live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectsConfig {
    /// `file:///PATH`, `s3://BUCKET/PREFIX` or `memory://`; unset means
    /// `file://{data_dir}/objects`.
    pub url: Option<String>,
    /// Settings used when `url` is `s3://…`.
    pub s3: S3Config,
}

/// Settings of an S3-compatible object store (AWS S3, MinIO, Ceph …).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server, e.g. `http://minio:9000`; unset means AWS.
    pub endpoint: Option<String>,
    /// Region name; unset means `us-east-1`.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// A file holding the access key id; excludes `access_key_id`.
    pub access_key_id_file: Option<PathBuf>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// A file holding the secret access key; excludes `secret_access_key`.
    pub secret_access_key_file: Option<PathBuf>,
    /// Allow plain `http://` endpoints (off by default: credentials would travel in clear).
    pub allow_http: bool,
    /// Address buckets as `BUCKET.ENDPOINT` instead of `ENDPOINT/BUCKET`.
    pub virtual_hosted_style: bool,
}

/// The S3 settings with every `*_file` secret read, ready for a client.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolvedS3 {
    /// Endpoint URL, if not AWS.
    pub endpoint: Option<String>,
    /// Region name.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Allow plain `http://` endpoints.
    pub allow_http: bool,
    /// Address buckets as `BUCKET.ENDPOINT`.
    pub virtual_hosted_style: bool,
}

impl Config {
    /// Returns the metadata store URL: `metastore.url`, the content of `metastore.url_file`,
    /// or the SQLite database in the data folder.
    pub fn metastore_url(&self) -> Result<Secret, ConfigError> {
        if let Some(url) = &self.metastore.url {
            return Ok(url.clone());
        }
        if let Some(path) = &self.metastore.url_file {
            return read_secret_file("metastore.url_file", path).map(Secret::new);
        }
        let path = absolute(&self.server.data_dir.join("plinth.db"));
        Ok(Secret::new(format!("sqlite://{}", path.display())))
    }

    /// Returns the object store URL: `objects.url` or the `objects` folder in the data folder.
    pub fn objects_url(&self) -> String {
        match &self.objects.url {
            Some(url) => url.clone(),
            None => {
                let path = absolute(&self.server.data_dir.join("objects"));
                format!("file://{}", path.display())
            }
        }
    }

    /// Returns the server key file: `auth.secret_key_file` or `{data_dir}/server.key`.
    pub fn secret_key_file(&self) -> PathBuf {
        self.auth
            .secret_key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("server.key"))
    }

    /// Returns the S3 settings with `*_file` secrets read.
    pub fn resolved_s3(&self) -> Result<ResolvedS3, ConfigError> {
        let s3 = &self.objects.s3;
        let access_key_id = match (&s3.access_key_id, &s3.access_key_id_file) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(path)) => Some(read_secret_file("objects.s3.access_key_id_file", path)?),
            (None, None) => None,
        };
        let secret_access_key = match (&s3.secret_access_key, &s3.secret_access_key_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(path)) => Some(Secret::new(read_secret_file(
                "objects.s3.secret_access_key_file",
                path,
            )?)),
            (None, None) => None,
        };
        Ok(ResolvedS3 {
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            access_key_id,
            secret_access_key,
            allow_http: s3.allow_http,
            virtual_hosted_style: s3.virtual_hosted_style,
        })
    }

    /// Checks every setting and returns all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.serving.max_request_bytes == 0 {
            problems.push("`serving.max_request_bytes` must be greater than 0".to_string());
        }
        if self.server.max_body_bytes > 0
            && self.serving.max_request_bytes > self.server.max_body_bytes
        {
            problems.push(format!(
                "`serving.max_request_bytes` ({}) must not exceed `server.max_body_bytes` ({})",
                self.serving.max_request_bytes, self.server.max_body_bytes
            ));
        }
        if self.serving.intra_op_threads == 0 {
            problems.push("`serving.intra_op_threads` must be greater than 0".to_string());
        }
        if self.server.max_body_bytes == 0 {
            problems.push("`server.max_body_bytes` must be greater than 0".to_string());
        }
        if self.environments.collect_unused_after.is_zero() {
            problems.push("`environments.collect_unused_after` must be greater than 0".to_string());
        }
        if self.environments.python_search_path.trim().is_empty() {
            problems.push("`environments.python_search_path` must not be empty".to_string());
        }
        check_images(&self.environments.images, &mut problems);
        if self.files.abandoned_upload_after.is_zero() {
            problems.push("`files.abandoned_upload_after` must be greater than 0".to_string());
        }
        if let Some(url) = &self.files.s3_public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "`files.s3_public_url`: `{url}` must start with `http://` or `https://`"
                ));
            }
        }
        check_federation(&self.auth, &mut problems);
        if self.server.data_dir.as_os_str().is_empty() {
            problems.push("`server.data_dir` must not be empty".to_string());
        }
        if self.metastore.max_connections == 0 {
            problems.push("`metastore.max_connections` must be greater than 0".to_string());
        }
        if self.metastore.connect_timeout.is_zero() {
            problems.push("`metastore.connect_timeout` must be greater than 0".to_string());
        }
        if self.metastore.url.is_some() && self.metastore.url_file.is_some() {
            problems.push(
                "`metastore.url` and `metastore.url_file` are both set; keep one".to_string(),
            );
        }
        if let Some(url) = &self.metastore.url {
            if let Err(problem) = check_metastore_url(url.expose()) {
                problems.push(format!("`metastore.url`: {problem}"));
            }
        }
        let s3 = &self.objects.s3;
        if s3.access_key_id.is_some() && s3.access_key_id_file.is_some() {
            problems.push(
                "`objects.s3.access_key_id` and `objects.s3.access_key_id_file` are both set; keep one"
                    .to_string(),
            );
        }
        if s3.secret_access_key.is_some() && s3.secret_access_key_file.is_some() {
            problems.push(
                "`objects.s3.secret_access_key` and `objects.s3.secret_access_key_file` are both set; keep one"
                    .to_string(),
            );
        }
        if self.runtime.max_snapshot_bytes == 0 {
            problems.push("`runtime.max_snapshot_bytes` must be greater than 0".to_string());
        }
        let sandbox = &self.runtime.local.sandbox;
        if sandbox.uid_count == 0 {
            problems.push("`runtime.local.sandbox.uid_count` must be greater than 0".to_string());
        }
        if sandbox.first_uid < 1000
            || u64::from(sandbox.first_uid) + u64::from(sandbox.uid_count) > u64::from(u32::MAX)
        {
            problems.push(format!(
                "`runtime.local.sandbox.first_uid`: {} must be at least 1000, and the range must end below 4294967295",
                sandbox.first_uid
            ));
        }
        for path in &sandbox.read_only_paths {
            if !path.is_absolute() {
                problems.push(format!(
                    "`runtime.local.sandbox.read_only_paths`: `{}` must be an absolute path",
                    path.display()
                ));
            }
        }
        if self.runtime.reconcile_interval.is_zero() {
            problems.push("`runtime.reconcile_interval` must be greater than 0".to_string());
        }
        if self.runtime.workload_token_lifetime < Duration::from_secs(60) {
            problems.push("`runtime.workload_token_lifetime` must be at least 1m".to_string());
        }
        if let Some(url) = &self.runtime.public_url {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => problems.push(format!(
                    "`runtime.public_url`: `{url}` must be an http:// or https:// URL"
                )),
            }
        }
        if let Some(url) = &self.runtime.apps_url {
            match url::Url::parse(url) {
                Ok(parsed)
                    if matches!(parsed.scheme(), "http" | "https")
                        && parsed.host_str().is_some()
                        && parsed.path() == "/"
                        && parsed.username().is_empty()
                        && parsed.query().is_none() =>
                {
                    let same_as_ui = self.runtime.public_url.as_deref().and_then(|public| {
                        url::Url::parse(public).ok()
                    });
                    if same_as_ui.is_some_and(|public| public.host_str() == parsed.host_str()) {
                        problems.push(format!(
                            "`runtime.apps_url`: `{url}` has the host of `runtime.public_url`; Apps need a domain of their own"
                        ));
                    }
                }
                _ => problems.push(format!(
                    "`runtime.apps_url`: `{url}` must be an http:// or https:// URL with a host and no path"
                )),
            }
        }
        let objects_url = self.objects_url();
        match url::Url::parse(&objects_url) {
            Err(error) => problems.push(format!(
                "`objects.url`: `{objects_url}` is not a URL: {error}"
            )),
            Ok(url) => match url.scheme() {
                "file" | "memory" => {}
                "s3" => {
                    if url.host_str().unwrap_or_default().is_empty() {
                        problems.push(format!(
                            "`objects.url`: `{objects_url}` names no bucket; write `s3://BUCKET[/PREFIX]`"
                        ));
                    }
                    if let Some(endpoint) = &s3.endpoint {
                        match url::Url::parse(endpoint) {
                            Err(error) => problems.push(format!(
                                "`objects.s3.endpoint`: `{endpoint}` is not a URL: {error}"
                            )),
                            Ok(endpoint_url) if endpoint_url.scheme() == "http" && !s3.allow_http => {
                                problems.push(format!(
                                    "`objects.s3.endpoint`: `{endpoint}` is plain http; set `objects.s3.allow_http = true` to allow it"
                                ))
                            }
                            Ok(_) => {}
                        }
                    }
                }
                other => problems.push(format!(
                    "`objects.url`: unknown scheme `{other}`; use `file://`, `s3://` or `memory://`"
                )),
            },
        }
        let auth = &self.auth;
        for (key, value) in [
            ("auth.session_idle_timeout", auth.session_idle_timeout),
            (
                "auth.session_absolute_timeout",
                auth.session_absolute_timeout,
            ),
            ("auth.failure_window", auth.failure_window),
            ("auth.lockout_duration", auth.lockout_duration),
            ("auth.max_token_lifetime", auth.max_token_lifetime),
        ] {
            if value.is_zero() {
                problems.push(format!("`{key}` must be greater than 0"));
            }
        }
        if auth.max_failures_per_account < 1 || auth.max_failures_per_address < 1 {
            problems.push("`auth.max_failures_per_account` and `auth.max_failures_per_address` must be at least 1".to_string());
        }
        if auth.auth_cache_ttl > Duration::from_secs(60) {
            problems.push(
                "`auth.auth_cache_ttl` must be at most 60s: it bounds how long another \
                 replica's revocation takes"
                    .to_string(),
            );
        }
        if auth.password_min_length < 8 {
            problems.push("`auth.password_min_length` must be at least 8".to_string());
        }
        if auth.argon2_memory_kib < 8 * 1024 || auth.argon2_iterations < 1 {
            problems.push("`auth.argon2_memory_kib` must be at least 8192 and `auth.argon2_iterations` at least 1".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Checks that `url` is a metadata store URL Plinth knows.
fn check_metastore_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("sqlite") => Ok(()),
        Some("postgres" | "postgresql") => url::Url::parse(url)
            .map(|_| ())
            .map_err(|error| format!("`{}` is not a valid URL: {error}", redact_url(url))),
        Some(other) => Err(format!(
            "unknown scheme `{other}`; use `sqlite://` or `postgres://`"
        )),
        None => Err(format!(
            "`{}` is not a URL; write `sqlite://PATH` or `postgres://USER@HOST/DB`",
            redact_url(url)
        )),
    }
}

fn check_role_mappings(key: &str, mappings: &[RoleMappingConfig], problems: &mut Vec<String>) {
    for (index, mapping) in mappings.iter().enumerate() {
        let at = format!("`{key}.role_mappings[{index}]`");
        if mapping.group.trim().is_empty() {
            problems.push(format!("{at}: `group` must not be empty"));
        }
        if let Some(role) = &mapping.organization_role {
            if !matches!(role.as_str(), "owner" | "member") {
                problems.push(format!(
                    "{at}: `organization_role` `{role}` must be `owner` or `member`"
                ));
            }
        }
        if let Some(role) = &mapping.project_role {
            if !matches!(role.as_str(), "viewer" | "contributor" | "owner") {
                problems.push(format!(
                    "{at}: `project_role` `{role}` must be `viewer`, `contributor` or `owner`"
                ));
            }
        }
        if mapping.organization.is_none()
            && (mapping.project.is_some()
                || mapping.organization_role.is_some()
                || mapping.project_role.is_some())
        {
            problems.push(format!("{at}: `project` and the roles need `organization`"));
        }
        if mapping.project.is_none() && mapping.project_role.is_some() {
            problems.push(format!("{at}: `project_role` needs `project`"));
        }
    }
}

fn check_federation(auth: &AuthConfig, problems: &mut Vec<String>) {
    let mut names = std::collections::HashSet::new();
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    for (index, ldap) in auth.ldap.iter().enumerate() {
        let key = format!("auth.ldap[{index}]");
        if !valid_name(&ldap.name) {
            problems.push(format!(
                "`{key}.name`: `{}` must be 1-40 lowercase letters, digits, `-` or `_`",
                ldap.name
            ));
        }
        if !names.insert(ldap.name.clone()) {
            problems.push(format!("`{key}.name`: `{}` is used twice", ldap.name));
        }
        match url::Url::parse(&ldap.url) {
            Ok(url) if matches!(url.scheme(), "ldap" | "ldaps") && url.host_str().is_some() => {
                if url.scheme() == "ldaps" && ldap.start_tls {
                    problems.push(format!(
                        "`{key}.start_tls`: an `ldaps://` URL is already TLS; use `ldap://` with StartTLS"
                    ));
                }
            }
            _ => problems.push(format!(
                "`{key}.url`: `{}` must be an ldap:// or ldaps:// URL with a host",
                ldap.url
            )),
        }
        if ldap.bind_password.is_some() && ldap.bind_password_file.is_some() {
            problems.push(format!(
                "`{key}.bind_password` and `{key}.bind_password_file` are both set; keep one"
            ));
        }
        if ldap.user_base.trim().is_empty() {
            problems.push(format!("`{key}.user_base` must not be empty"));
        }
        if !ldap.user_filter.contains("{username}") {
            problems.push(format!(
                "`{key}.user_filter`: `{}` must contain `{{username}}`",
                ldap.user_filter
            ));
        }
        if !(ldap.user_filter.starts_with('(') && ldap.user_filter.ends_with(')')) {
            problems.push(format!(
                "`{key}.user_filter`: `{}` must be a parenthesized LDAP filter",
                ldap.user_filter
            ));
        }
        if ldap.timeout.is_zero() {
            problems.push(format!("`{key}.timeout` must be greater than 0"));
        }
        check_role_mappings(&key, &ldap.role_mappings, problems);
    }
    for (index, oidc) in auth.oidc.iter().enumerate() {
        let key = format!("auth.oidc[{index}]");
        if !valid_name(&oidc.name) {
            problems.push(format!(
                "`{key}.name`: `{}` must be 1-40 lowercase letters, digits, `-` or `_`",
                oidc.name
            ));
        }
        if !names.insert(oidc.name.clone()) {
            problems.push(format!("`{key}.name`: `{}` is used twice", oidc.name));
        }
        match url::Url::parse(&oidc.issuer) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
            _ => problems.push(format!(
                "`{key}.issuer`: `{}` must be an http:// or https:// URL",
                oidc.issuer
            )),
        }
        if oidc.client_id.trim().is_empty() {
            problems.push(format!("`{key}.client_id` must not be empty"));
        }
        if oidc.client_secret.is_some() && oidc.client_secret_file.is_some() {
            problems.push(format!(
                "`{key}.client_secret` and `{key}.client_secret_file` are both set; keep one"
            ));
        }
        if oidc.timeout.is_zero() {
            problems.push(format!("`{key}.timeout` must be greater than 0"));
        }
        check_role_mappings(&key, &oidc.role_mappings, problems);
    }
    if auth.directory_sync_interval < Duration::from_secs(1) {
        problems.push("`auth.directory_sync_interval` must be at least 1s".to_string());
    }
}

fn read_secret_file(key: &str, path: &Path) -> Result<String, ConfigError> {
    let content = fs_err::read_to_string(path).map_err(|error| {
        ConfigError::Invalid(vec![format!(
            "`{key}`: cannot read `{}`: {error}",
            path.display()
        )])
    })?;
    let value = content.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(ConfigError::Invalid(vec![format!(
            "`{key}`: `{}` is empty",
            path.display()
        )]));
    }
    Ok(value)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests;
