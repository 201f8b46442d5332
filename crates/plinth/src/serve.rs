//! `plinth serve`: load the configuration, open the backends, serve until SIGTERM/Ctrl-C.

use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plinth_api::{AppState, ServerSettings};
use plinth_artifacts::ArtifactStore;
use plinth_auth::{HashingParams, PasswordHasher, PasswordPolicy, SecretBox};
use plinth_config::{Config, LocalIsolation, LogFormat, RuntimeBackend, WhenUnsandboxed};
use plinth_core::{
    IdentityService, IdentitySettings, RuntimeService, RuntimeSettings, SystemClock,
};
use plinth_metastore::StoreOptions;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::{Failure, ServeArgs};

/// How long the object store gets to prove it is reachable and writable at startup.
const OBJECTS_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    let started = Instant::now();
    // Before any thread exists: the first admin's password leaves the environment (a
    // process of the same user could read it there), and no process of the same user may
    // read this one's memory or environment.
    let admin_password = admin_password()?;
    plinth_executor::sandbox::protect_server_process();
    let loaded = plinth_config::load(&args.config.load_options()).map_err(Failure::config)?;
    init_tracing(&loaded.config)?;
    for warning in &loaded.warnings {
        warn!("{warning}");
    }
    if args.config.password_on_command_line() {
        warn!("--metastore-url carries a password, which every user of this machine can read in the process list; use metastore.url_file or PLINTH__METASTORE__URL instead");
    }
    if let Some(path) = &loaded.config_file {
        info!(path = %path.display(), "read config file");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("plinth")
        .build()
        .map_err(|error| Failure::runtime(format!("cannot start the async runtime: {error}")))?;
    let hidden = hidden_paths(&loaded.config, loaded.config_file.as_deref());
    runtime.block_on(serve(loaded.config, started, admin_password, hidden))
}

/// What no workload may see: the data directory, the configuration file and every secret
/// file the configuration names, the object store's and the database's folders when they
/// lie elsewhere.
fn hidden_paths(config: &Config, config_file: Option<&std::path::Path>) -> Vec<std::path::PathBuf> {
    let mut paths = vec![config.server.data_dir.clone(), config.secret_key_file()];
    paths.extend(config_file.map(std::path::Path::to_path_buf));
    paths.extend(config.metastore.url_file.clone());
    paths.extend(config.objects.s3.secret_access_key_file.clone());
    if let Ok(file) = std::env::var("PLINTH_ADMIN_PASSWORD_FILE") {
        paths.push(file.into());
    }
    if let Ok(url) = url::Url::parse(&config.objects_url()) {
        if url.scheme() == "file" {
            paths.extend(url.to_file_path().ok());
        }
    }
    if let Ok(url) = config.metastore_url() {
        if let Some(path) = url.expose().strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if !path.is_empty() && path != ":memory:" {
                let path = std::path::PathBuf::from(path);
                paths.extend(path.parent().map(std::path::Path::to_path_buf));
            }
        }
    }
    paths
        .into_iter()
        .filter_map(|path| std::path::absolute(&path).ok())
        .map(|path| fs_err::canonicalize(&path).unwrap_or(path))
        .collect()
}

/// Keeps the data directory to the server's user (0700) and its key and the configuration
/// file to it (0600), fixing them when they are looser and this user owns them.
fn tighten_permissions(config: &Config, hidden: &[std::path::PathBuf]) {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let own_uid = nix::unistd::geteuid().as_raw();
    let mut targets = vec![(config.server.data_dir.clone(), 0o700)];
    targets.extend(
        hidden
            .iter()
            .filter(|path| path.is_file())
            .map(|path| (path.clone(), 0o600)),
    );
    for (path, mode) in targets {
        let Ok(metadata) = fs_err::metadata(&path) else {
            continue;
        };
        let current = metadata.permissions().mode() & 0o777;
        if current & !mode == 0 {
            continue;
        }
        if metadata.uid() != own_uid {
            warn!(path = %path.display(), mode = format!("{current:o}"), "readable by others and not ours to tighten; workloads cannot see it, but other users of this machine may");
            continue;
        }
        match fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => {
                info!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"), "tightened permissions")
            }
            Err(error) => warn!(path = %path.display(), %error, "cannot tighten permissions"),
        }
    }
}

fn init_tracing(config: &Config) -> Result<(), Failure> {
    let filter = EnvFilter::try_new(&config.log.level).map_err(|error| {
        Failure::config(format!(
            "invalid configuration: `log.level`: `{}`: {error}",
            config.log.level
        ))
    })?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match config.log.format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
    Ok(())
}

async fn serve(
    config: Config,
    started: Instant,
    admin_password: Option<String>,
    hidden: Vec<std::path::PathBuf>,
) -> Result<(), Failure> {
    let listen_addr = config.server.listen_addr;
    let listener = tokio::net::TcpListener::bind(listen_addr)
        .await
        .map_err(|error| {
            let hint = match error.kind() {
                std::io::ErrorKind::AddrInUse => {
                    " (another process uses this port; choose another with --listen)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    " (ports below 1024 need privileges; choose another with --listen)"
                }
                _ => "",
            };
            Failure::runtime(format!("cannot listen on {listen_addr}: {error}{hint}"))
        })?;
    let local_addr = listener
        .local_addr()
        .map_err(|error| Failure::runtime(format!("cannot read the bound address: {error}")))?;

    let metastore_url = config.metastore_url().map_err(Failure::config)?;
    let metastore_location = plinth_config::redact_url(metastore_url.expose());
    let options = StoreOptions {
        max_connections: config.metastore.max_connections,
        connect_timeout: config.metastore.connect_timeout,
        sqlite_synchronous: match config.metastore.sqlite_synchronous {
            plinth_config::SqliteSynchronous::Normal => plinth_metastore::SqliteSynchronous::Normal,
            plinth_config::SqliteSynchronous::Full => plinth_metastore::SqliteSynchronous::Full,
        },
    };
    let metastore = plinth_metastore::open_metadata_store(metastore_url.expose(), &options)
        .await
        .map_err(Failure::runtime)?;
    if metastore.backend() == "sqlite" {
        info!(
            backend = metastore.backend(),
            location = %metastore_location,
            synchronous = ?options.sqlite_synchronous,
            "opened metadata store"
        );
    } else {
        info!(backend = metastore.backend(), location = %metastore_location, "opened metadata store");
    }

    let s3 = config.resolved_s3().map_err(Failure::config)?;
    let artifacts = ArtifactStore::open(&config.objects_url(), &s3).map_err(Failure::runtime)?;
    match tokio::time::timeout(OBJECTS_STARTUP_TIMEOUT, artifacts.check_read_write()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(Failure::runtime(plinth_api::error_chain(&error))),
        Err(_) => {
            return Err(Failure::runtime(format!(
                "object store at `{}` did not answer within {} s",
                artifacts.location(),
                OBJECTS_STARTUP_TIMEOUT.as_secs()
            )))
        }
    }
    info!(backend = artifacts.backend(), location = %artifacts.location(), "opened object store");

    let installation = metastore
        .record_startup(plinth_types::VERSION)
        .await
        .map_err(|error| {
            Failure::runtime(format!(
                "cannot record startup in the metadata store: {}",
                plinth_api::error_chain(&error)
            ))
        })?;

    let secret_box =
        SecretBox::load_or_create(&config.secret_key_file()).map_err(Failure::runtime)?;
    let identity = identity_service(&config, metastore.clone(), secret_box.clone())?;
    if let Some(password) = identity
        .bootstrap_admin(admin_password)
        .await
        .map_err(|error| {
            Failure::runtime(format!(
                "cannot create the first admin: {}",
                plinth_api::error_chain(&error)
            ))
        })?
    {
        // Printed once, straight to the console (not to the log, which may be shipped).
        eprintln!();
        eprintln!("  The platform admin was created. Log in at http://{local_addr}/login with");
        eprintln!("      username: admin");
        eprintln!("      password: {password}");
        eprintln!("  This password is shown only now. Set PLINTH_ADMIN_PASSWORD(_FILE) to choose it instead.");
        eprintln!();
    }

    tighten_permissions(&config, &hidden);
    let (runtime, executor, image_builds) = runtime_service(
        &config,
        &hidden,
        local_addr,
        metastore.clone(),
        identity.clone(),
        artifacts.clone(),
    )
    .await?;
    let environments =
        environment_service(&config, metastore.clone(), executor, image_builds).await;
    runtime.set_environments(Arc::new(environments.clone()));
    let pipelines = {
        let section = &config.pipelines;
        let mut settings = plinth_pipelines::PipelineSettings::new(
            config.server.data_dir.join("pipelines").join("tasks"),
        );
        settings.max_parallel_tasks = section.max_parallel_tasks.max(1);
        settings.environment = Some(section.environment.clone()).filter(|name| !name.is_empty());
        settings.class = section.class.clone();
        plinth_pipelines::PipelineService::new(
            Arc::new(plinth_pipelines::SqlPipelineStore::new(
                metastore.shared_pool(),
            )),
            identity.clone(),
            runtime.clone(),
            artifacts.clone(),
            settings,
            Arc::new(plinth_core::SystemClock),
        )
    };
    // The S3 endpoint has a listener of its own: SigV4 signs the whole path, so it cannot
    // sit under a prefix of the main listener.
    let s3_listen = s3_listen_addr(&config, local_addr);
    let s3_listener = tokio::net::TcpListener::bind(s3_listen)
        .await
        .map_err(|error| {
            Failure::runtime(format!(
                "cannot listen on {s3_listen} for the S3 endpoint: {error} (choose another with `files.s3_listen`)"
            ))
        })?;
    let s3_local = s3_listener.local_addr().map_err(|error| {
        Failure::runtime(format!(
            "cannot read the S3 endpoint's bound address: {error}"
        ))
    })?;
    let files = plinth_files::FilesService::new(
        Arc::new(plinth_files::SqlFileStore::new(metastore.shared_pool())),
        identity.clone(),
        artifacts.clone(),
        secret_box,
        Arc::new(SystemClock),
        s3_public_url(&config, s3_local),
    );
    let settings = ServerSettings {
        max_body_bytes: config.server.max_body_bytes,
        secure_cookies: config.auth.secure_cookies,
        max_model_request_bytes: config.serving.max_request_bytes,
    };
    let serving = serving_service(
        &config,
        metastore.clone(),
        identity.clone(),
        artifacts.clone(),
    );
    let identity_for_sync = identity.clone();
    let oidc = plinth_federation::OidcBroker::new(&config.auth.oidc)
        .map_err(Failure::runtime)?
        .with_base_url(&main_url(&config, local_addr));
    for provider in oidc.providers() {
        info!(provider = %provider.name, issuer = %provider.issuer, "OpenID Connect provider configured");
    }
    let state = AppState::new(
        metastore.clone(),
        metastore_location,
        artifacts,
        plinth_api::Services {
            gateway: plinth_gateway::Gateway::new(
                runtime.clone(),
                identity.clone(),
                plinth_gateway::GatewaySettings::new(main_url(&config, local_addr)),
            ),
            identity,
            runtime: runtime.clone(),
            environments: environments.clone(),
            pipelines: pipelines.clone(),
            files: files.clone(),
            serving,
        },
        installation.clone(),
        settings,
    )
    .with_oidc(oidc);
    // Unused built environments are collected once an hour (and once at start).
    let collector = {
        let environments = environments.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                if let Err(error) = environments.collect_unused().await {
                    warn!(error = %plinth_api::error_chain(&error), "collecting unused environments failed");
                }
            }
        })
    };
    // Abandoned multipart uploads are removed once an hour (and once at start).
    let upload_collector = {
        let files = files.clone();
        let older_than = config.files.abandoned_upload_after;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                if let Err(error) = files.collect_abandoned_uploads(older_than).await {
                    warn!(error = %plinth_api::error_chain(&error), "collecting abandoned uploads failed");
                }
            }
        })
    };
    let (s3_stop_tx, s3_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let s3_server = {
        let files = files.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = s3_stop_rx.await;
            };
            if let Err(error) = plinth_files::s3::serve(s3_listener, files, stop).await {
                warn!(%error, "the S3 endpoint stopped");
            }
        })
    };
    info!(address = %files.endpoint_url(), listen = %s3_local, "S3 endpoint ready");
    // Directory accounts are looked up again periodically: deleted or disabled ones lose
    // access (their sessions and tokens end through the identity epoch).
    let directory_sync = identity_for_sync.federation_enabled().then(|| {
        let identity = identity_for_sync.clone();
        let interval = config.auth.directory_sync_interval;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                identity.sync_directories().await;
            }
        })
    });
    // The reconciler adopts what ran before this start, then keeps the backend in step.
    let (reconciler_stop_tx, reconciler_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reconciler = {
        let runtime = runtime.clone();
        let interval = config.runtime.reconcile_interval;
        tokio::spawn(async move {
            runtime
                .run_reconciler(interval, async move {
                    let _ = reconciler_stop_rx.await;
                })
                .await;
        })
    };

    // The pipeline engine resumes unfinished runs from the metastore, then drives them.
    let (engine_stop_tx, engine_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(async move {
        pipelines
            .run_engine(async move {
                let _ = engine_stop_rx.await;
            })
            .await;
    });

    let (shutdown_started_tx, shutdown_started_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        wait_for_signal().await;
        info!("shutting down: no new connections, waiting for requests in flight");
        let _ = shutdown_started_tx.send(true);
    };
    info!(
        address = %format!("http://{local_addr}"),
        version = plinth_types::VERSION,
        installation = %installation.installation_id,
        startup_ms = started.elapsed().as_millis() as u64,
        "plinth is ready"
    );

    let grace = config.server.shutdown_grace_period;
    let server = plinth_api::serve(state, listener, shutdown);
    let grace_expired = async move {
        let mut started = shutdown_started_rx;
        let _ = started.wait_for(|started| *started).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result.map_err(|error| Failure::runtime(format!("server failed: {error}")))?,
        () = grace_expired => warn!(grace_seconds = grace.as_secs(), "grace period over; stopping with requests still in flight"),
    }
    // Workloads keep running: the next start adopts them.
    let _ = engine_stop_tx.send(());
    let _ = engine.await;
    let _ = reconciler_stop_tx.send(());
    let _ = reconciler.await;
    collector.abort();
    upload_collector.abort();
    let _ = s3_stop_tx.send(());
    if tokio::time::timeout(std::time::Duration::from_secs(5), s3_server)
        .await
        .is_err()
    {
        warn!("the S3 endpoint did not stop within 5 s");
    }
    if let Some(sync) = directory_sync {
        sync.abort();
    }
    metastore.close().await;
    info!("stopped");
    Ok(())
}

/// Model APIs over the metadata store's database, the registry and the object store, with
/// ONNX Runtime found as `[serving]` says (loaded at the first deployment, not at start).
fn serving_service(
    config: &Config,
    metastore: Arc<dyn plinth_metastore::MetadataStore>,
    identity: plinth_core::IdentityService,
    artifacts: plinth_artifacts::ArtifactStore,
) -> plinth_serving::ServingService {
    let clock: Arc<dyn plinth_core::Clock> = Arc::new(plinth_core::SystemClock);
    plinth_serving::ServingService::new(
        Arc::new(plinth_serving::SqlDeploymentStore::new(
            metastore.shared_pool(),
        )),
        identity.clone(),
        plinth_core::TrackingService::new(metastore, identity, artifacts.clone(), clock.clone()),
        artifacts,
        Arc::new(plinth_serving::OnnxRuntime::new(
            plinth_serving::RuntimeSettings {
                library_path: config.serving.onnxruntime_path.clone(),
                python: config.serving.python.clone(),
                intra_op_threads: config.serving.intra_op_threads,
            },
        )),
        clock,
    )
}

/// The environments service over the metadata store's database and the runtime's executor;
/// builds left unfinished by a stopped server are marked failed, and the default global
/// environment is created when missing (it is built on first use).
async fn environment_service(
    config: &Config,
    metastore: Arc<dyn plinth_metastore::MetadataStore>,
    executor: Arc<dyn plinth_executor::Executor>,
    image_builds: Option<ImageBuilds>,
) -> plinth_envs::EnvironmentService {
    let section = &config.environments;
    let mut settings = plinth_envs::EnvironmentSettings::new(config.server.data_dir.join("envs"));
    settings.uv = match &section.uv_path {
        Some(path) => plinth_envs::UvSource::Path(path.clone()),
        None => plinth_envs::UvSource::Pinned {
            bootstrap_python: section.bootstrap_python.clone(),
        },
    };
    settings.python_search_path = section.python_search_path.clone();
    settings.collect_unused_after = section.collect_unused_after;
    settings.uv_env = plinth_envs::host_index_environment(&std::env::vars().collect());
    if let Some(index) = &section.index_url {
        settings
            .uv_env
            .insert("UV_DEFAULT_INDEX".to_string(), index.clone());
    }
    settings.apt_allowed = config.runtime.backend == RuntimeBackend::Kubernetes;
    if config.runtime.backend == RuntimeBackend::Kubernetes {
        let images = &section.images;
        if image_builds.is_some() {
            settings.images = Some(plinth_envs::image::ImageSettings {
                registry: images.registry.trim().to_string(),
                default_base_image: images.default_base_image.clone(),
                insecure: images.insecure,
            });
        } else {
            settings.builds_unavailable = Some(
                "environments cannot be built on this Kubernetes installation: no image registry is configured (environments.images.registry); jobs here run in their own image".to_string(),
            );
        }
    }
    let default_name = section.default_environment.trim().to_string();
    settings.default_environment = (!default_name.is_empty()
        && config.runtime.backend == RuntimeBackend::Local)
        .then(|| default_name.clone());
    let service = plinth_envs::EnvironmentService::new(
        Arc::new(plinth_envs::SqlEnvironmentStore::new(
            metastore.shared_pool(),
        )),
        executor,
        settings,
        Arc::new(SystemClock),
    );
    if let Some(image_builds) = image_builds {
        service.set_image_builds(image_builds.builder, image_builds.resolver);
    }
    if let Err(error) = service.recover().await {
        warn!(error = %plinth_api::error_chain(&error), "cannot mark interrupted environment builds");
    }
    if !default_name.is_empty() {
        let python = match &section.default_python {
            Some(python) => Some(python.clone()),
            None => plinth_envs::host_python_version(&section.python_search_path).await,
        };
        match python {
            Some(python) => {
                let spec = plinth_types::EnvironmentSpec {
                    python,
                    packages: section.default_packages.clone(),
                    ..plinth_types::EnvironmentSpec::default()
                };
                if let Err(error) = service.ensure_global(&default_name, spec).await {
                    warn!(error = %plinth_api::error_chain(&error), environment = %default_name, "cannot create the default environment");
                }
            }
            None => warn!(
                environment = %default_name,
                "no python3 on environments.python_search_path: the default environment is not created (set environments.default_python)"
            ),
        }
    }
    service
}

/// What image builds need on the Kubernetes backend: the builder (BuildKit Jobs) and a
/// local executor on this host for resolutions (uv runs here, sandboxed as on the local
/// backend; the cluster's pods hold no uv).
struct ImageBuilds {
    builder: Arc<dyn plinth_executor::ImageBuilder>,
    resolver: Arc<dyn plinth_executor::Executor>,
}

/// The local backend's executor, isolated as `runtime.local` says, keeping its state in `root`.
fn local_executor(
    config: &Config,
    hidden: &[std::path::PathBuf],
    root: &std::path::Path,
) -> Result<Arc<dyn plinth_executor::Executor>, Failure> {
    let local = &config.runtime.local;
    let mut builder = plinth_executor::LocalExecutor::builder(root.to_path_buf());
    match local.isolation {
        LocalIsolation::Sandbox => {
            let launcher = std::env::current_exe().map_err(|error| {
                Failure::runtime(format!("cannot find this program's own path: {error}"))
            })?;
            builder = builder.sandbox(plinth_executor::SandboxSettings {
                launcher,
                uid_range: (local.sandbox.first_uid, local.sandbox.uid_count),
                read_only_paths: local.sandbox.read_only_paths.clone(),
                hide_paths: hidden.to_vec(),
            });
        }
        LocalIsolation::Podman => {
            builder = builder.podman(plinth_executor::PodmanSettings {
                program: local.podman.program.clone(),
                default_image: local.podman.default_image.clone(),
                uid_range: (local.sandbox.first_uid, local.sandbox.uid_count),
                read_only_paths: local.sandbox.read_only_paths.clone(),
            });
        }
        LocalIsolation::None => {
            warn!("runtime.local.isolation = \"none\": workloads run with this server's rights and can read everything it can");
        }
    }
    Ok(Arc::new(builder.build().map_err(|error| {
        Failure::runtime(format!(
            "cannot prepare the local workload runtime in {}: {}",
            root.display(),
            plinth_api::error_chain(&error)
        ))
    })?))
}

/// The URL of Plinth's own UI, where an App's visitors are sent to sign in:
/// `runtime.public_url`, else this listener (`localhost` for an unspecified address).
fn main_url(config: &Config, local_addr: std::net::SocketAddr) -> String {
    match &config.runtime.public_url {
        Some(url) => url.clone(),
        None if local_addr.ip().is_unspecified() => {
            format!("http://localhost:{}", local_addr.port())
        }
        None => format!("http://{local_addr}"),
    }
}

/// Where the S3 endpoint listens: `files.s3_listen`, else the main listener's address with
/// the next port (port 0, any free port, when the main listener's is 0).
fn s3_listen_addr(config: &Config, local_addr: std::net::SocketAddr) -> std::net::SocketAddr {
    match config.files.s3_listen {
        Some(address) => address,
        None => {
            let port = match config.server.listen_addr.port() {
                0 => 0,
                port => port.checked_add(1).unwrap_or(0),
            };
            std::net::SocketAddr::new(local_addr.ip(), port)
        }
    }
}

/// The S3 endpoint's URL for clients: `files.s3_public_url`, else its listener
/// (`localhost` for an unspecified address).
fn s3_public_url(config: &Config, s3_local: std::net::SocketAddr) -> String {
    match &config.files.s3_public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if s3_local.ip().is_unspecified() => format!("http://localhost:{}", s3_local.port()),
        None => format!("http://{s3_local}"),
    }
}

/// Where Apps are served: `runtime.apps_url`, else `*.localhost` on this listener's port.
fn apps_origin(
    config: &Config,
    local_addr: std::net::SocketAddr,
) -> Result<plinth_core::AppsOrigin, Failure> {
    match &config.runtime.apps_url {
        Some(url) => plinth_core::AppsOrigin::parse(url)
            .map_err(|problem| Failure::runtime(format!("`runtime.apps_url`: {problem}"))),
        None => Ok(plinth_core::AppsOrigin::localhost(
            "http",
            Some(local_addr.port()),
        )),
    }
}

async fn runtime_service(
    config: &Config,
    hidden: &[std::path::PathBuf],
    local_addr: std::net::SocketAddr,
    metastore: Arc<dyn plinth_metastore::MetadataStore>,
    identity: IdentityService,
    artifacts: ArtifactStore,
) -> Result<
    (
        RuntimeService,
        Arc<dyn plinth_executor::Executor>,
        Option<ImageBuilds>,
    ),
    Failure,
> {
    let root = config.server.data_dir.join("runtime");
    let mut image_builds = None;
    let executor: Arc<dyn plinth_executor::Executor> = match config.runtime.backend {
        RuntimeBackend::Local => local_executor(config, hidden, &root.join("executor"))?,
        RuntimeBackend::Kubernetes => {
            let kubernetes = &config.runtime.kubernetes;
            let access = match &kubernetes.kubeconfig {
                Some(path) => plinth_kube::ClusterAccess::Kubeconfig {
                    path: path.clone(),
                    context: None,
                },
                None => plinth_kube::ClusterAccess::Inferred,
            };
            let settings = plinth_kube::KubeSettings {
                namespace_prefix: kubernetes.namespace_prefix.clone(),
                default_image: kubernetes.default_image.clone(),
                init_image: kubernetes.init_image.clone(),
                platform_namespace: kubernetes.platform_namespace.clone(),
                ..plinth_kube::KubeSettings::default()
            };
            let executor = plinth_kube::KubernetesExecutor::connect(&access, settings)
                .await
                .map_err(|error| {
                    Failure::runtime(format!(
                        "cannot use the Kubernetes cluster: {}",
                        plinth_api::error_chain(&error)
                    ))
                })?;
            let version =
                tokio::time::timeout(OBJECTS_STARTUP_TIMEOUT, executor.check_connectivity())
                    .await
                    .map_err(|_| {
                        Failure::runtime(format!(
                            "the Kubernetes API server did not answer within {} s",
                            OBJECTS_STARTUP_TIMEOUT.as_secs()
                        ))
                    })?
                    .map_err(|error| Failure::runtime(plinth_api::error_chain(&error)))?;
            info!(%version, "connected to Kubernetes");
            let executor = Arc::new(executor);
            let images = &config.environments.images;
            if !images.registry.trim().is_empty() {
                let builder = plinth_kube::KubeImageBuilder::new(
                    executor.clone(),
                    plinth_kube::ImageBuildSettings {
                        builder_image: images.builder_image.clone(),
                        credentials_secret: images.credentials_secret.clone(),
                        insecure: images.insecure,
                        timeout: images.build_timeout,
                        ..plinth_kube::ImageBuildSettings::default()
                    },
                );
                image_builds = Some(ImageBuilds {
                    builder: Arc::new(builder),
                    resolver: local_executor(config, hidden, &root.join("resolver"))?,
                });
            }
            executor
        }
    };
    let public_url = config
        .runtime
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"));
    let mut settings = RuntimeSettings::new(public_url, root.join("work"));
    settings.apps_origin = apps_origin(config, local_addr)?;
    settings.workload_token_lifetime = config.runtime.workload_token_lifetime;
    settings.max_snapshot_bytes = config.runtime.max_snapshot_bytes;
    settings.stop_grace_period = config.runtime.stop_grace_period;
    settings.when_unsandboxed = match config.runtime.local.when_unsandboxed {
        WhenUnsandboxed::Auto => plinth_core::WhenUnsandboxed::Auto,
        WhenUnsandboxed::Refuse => plinth_core::WhenUnsandboxed::Refuse,
        WhenUnsandboxed::Warn => plinth_core::WhenUnsandboxed::Warn,
    };
    let isolation = executor.capabilities().isolation;
    if isolation.level == plinth_executor::IsolationLevel::Full {
        info!(backend = executor.backend(), "{}", isolation.summary);
    } else {
        warn!(backend = executor.backend(), policy = ?settings.when_unsandboxed, "{}", isolation.summary);
    }
    info!(backend = executor.backend(), limits = %executor.capabilities().limits, "workload runtime ready");
    let runtime = RuntimeService::new(
        metastore,
        identity,
        executor.clone(),
        artifacts,
        settings,
        Arc::new(SystemClock),
    );
    Ok((runtime, executor, image_builds))
}

fn identity_service(
    config: &Config,
    metastore: Arc<dyn plinth_metastore::MetadataStore>,
    secret_box: SecretBox,
) -> Result<IdentityService, Failure> {
    let auth = &config.auth;
    let hasher = PasswordHasher::new(HashingParams {
        memory_kib: auth.argon2_memory_kib,
        iterations: auth.argon2_iterations,
        parallelism: 1,
    });
    let settings = IdentitySettings {
        session_idle_timeout: auth.session_idle_timeout,
        session_absolute_timeout: auth.session_absolute_timeout,
        max_failures_per_account: auth.max_failures_per_account,
        max_failures_per_address: auth.max_failures_per_address,
        failure_window: auth.failure_window,
        lockout_duration: auth.lockout_duration,
        max_token_lifetime: auth.max_token_lifetime,
        password_policy: PasswordPolicy {
            min_length: auth.password_min_length,
            ..PasswordPolicy::default()
        },
        totp_issuer: "Plinth".to_string(),
        auth_cache_ttl: auth.auth_cache_ttl,
    };
    let directories = plinth_federation::directories(auth).map_err(Failure::runtime)?;
    for directory in &directories {
        let info = directory.info();
        info!(directory = %info.name, url = %info.url, security = %info.security, "LDAP directory configured; local sign-up is off");
    }
    Ok(IdentityService::new(
        metastore,
        hasher,
        secret_box,
        settings,
        Arc::new(SystemClock),
    )
    .with_directories(directories))
}

/// The variable a re-executed server finds the first admin's password under: the number
/// of an inherited pipe holding it.
const ADMIN_PASSWORD_FD: &str = "PLINTH_ADMIN_PASSWORD_FD";

/// Returns the first admin's password from `PLINTH_ADMIN_PASSWORD` or the file named by
/// `PLINTH_ADMIN_PASSWORD_FILE`, if either is set.
///
/// `PLINTH_ADMIN_PASSWORD` must not stay readable in `/proc/<pid>/environ`, which shows
/// the environment the process was started with whatever it removes later: the server
/// executes itself again without it, handing the password over through a pipe. Call this
/// before any thread starts.
fn admin_password() -> Result<Option<String>, Failure> {
    if let Ok(fd) = std::env::var(ADMIN_PASSWORD_FD) {
        std::env::remove_var(ADMIN_PASSWORD_FD);
        let number: i32 = fd
            .parse()
            .map_err(|_| Failure::runtime(format!("`{ADMIN_PASSWORD_FD}` is not a descriptor")))?;
        let password =
            fs_err::read_to_string(format!("/proc/self/fd/{number}")).map_err(|error| {
                Failure::runtime(format!("cannot read the admin password: {error}"))
            })?;
        let _ = nix::unistd::close(number);
        return Ok(Some(password));
    }
    if let Some(password) = std::env::var_os("PLINTH_ADMIN_PASSWORD") {
        let (read, write) = nix::unistd::pipe()
            .map_err(|error| Failure::runtime(format!("cannot make a pipe: {error}")))?;
        std::io::Write::write_all(&mut std::fs::File::from(write), password.as_encoded_bytes())
            .map_err(|error| {
                Failure::runtime(format!("cannot hand the admin password over: {error}"))
            })?;
        let mut arguments = std::env::args_os();
        let error = std::process::Command::new("/proc/self/exe")
            .arg0(arguments.next().unwrap_or_else(|| "plinth".into()))
            .args(arguments)
            .env_remove("PLINTH_ADMIN_PASSWORD")
            .env(ADMIN_PASSWORD_FD, read.as_raw_fd().to_string())
            .exec();
        return Err(Failure::runtime(format!(
            "cannot start again without PLINTH_ADMIN_PASSWORD in the environment: {error}"
        )));
    }
    match std::env::var("PLINTH_ADMIN_PASSWORD_FILE") {
        Ok(path) => fs_err::read_to_string(&path)
            .map(|text| Some(text.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|error| Failure::config(format!("`PLINTH_ADMIN_PASSWORD_FILE`: {error}"))),
        Err(_) => Ok(None),
    }
}

/// Resolves at the first SIGTERM or Ctrl-C (SIGINT).
async fn wait_for_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
