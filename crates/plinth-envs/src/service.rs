//! [`EnvironmentService`]: environments as users and workloads see them — created,
//! changed (a new version each time), resolved, built, logged, deleted and collected —
//! with every call authorized.
//!
//! A project's environments are readable by its members and changed by Contributors;
//! global ones are readable by everyone signed in and changed by platform admins. Any
//! Contributor may have a global environment built (that is what using it does).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plinth_core::{Clock, CoreError, Principal, ProjectPass};
use plinth_executor::{Executor, ImageBuildSpec, ImageBuilder, WorkloadHandle};
use plinth_types::{
    Environment, EnvironmentBuild, EnvironmentLock, EnvironmentSpec, EnvironmentVersion, Role,
    WorkloadEnvironment,
};

use crate::build::{CacheLayout, UvRun};
use crate::error::{EnvError, EnvResult};
use crate::image::{dockerfile, image_repository, image_tag, ImageSettings, DOCKERFILE, LOCK_FILE};
use crate::registry::{split_repository, RegistryClient};
use crate::store::{EnvironmentStore, NewEnvironment, ResolutionOutcome};
use crate::uv::{ensure_uv, find_python, Interpreter, Uv, UvSource};
use crate::validate::{validate_name, validate_spec, EnvironmentRef};

/// How environments are resolved, built and kept; from the `[environments]` configuration.
#[derive(Clone, Debug)]
pub struct EnvironmentSettings {
    /// The cache's root (`<data>/envs`).
    pub root: PathBuf,
    /// Where `uv` comes from.
    pub uv: UvSource,
    /// Where host interpreters are looked for (a `PATH`).
    pub python_search_path: String,
    /// Whether system packages can be installed (image builds); false on the local backend.
    pub apt_allowed: bool,
    /// Built environments no workload used for this long are removed.
    pub collect_unused_after: Duration,
    /// Variables for uv in resolutions and builds (package index, certificates, proxies).
    pub uv_env: BTreeMap<String, String>,
    /// The global environment jobs that name none run in (`None`: the host's Python).
    pub default_environment: Option<String>,
    /// Why environments cannot be built here (`None`: they can).
    pub builds_unavailable: Option<String>,
    /// Build images instead of virtual environments (the Kubernetes backend), with the
    /// builder set by [`EnvironmentService::set_image_builder`].
    pub images: Option<ImageSettings>,
}

impl EnvironmentSettings {
    /// Settings for tests and small installs: everything under `root`, the pinned uv
    /// installed with `python3`'s pip, host interpreters on the system `PATH`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EnvironmentSettings {
            root: root.into(),
            uv: UvSource::Pinned {
                bootstrap_python: PathBuf::from("python3"),
            },
            python_search_path: plinth_executor::sandbox::SYSTEM_PATH.to_string(),
            apt_allowed: false,
            collect_unused_after: Duration::from_secs(7 * 24 * 3600),
            uv_env: BTreeMap::new(),
            default_environment: None,
            builds_unavailable: None,
            images: None,
        }
    }
}

/// What a workload needs to run in an environment; see [`WorkloadEnvironment`].
pub type PreparedEnvironment = WorkloadEnvironment;

/// Environments: definitions, versions, locks, builds.
#[derive(Clone)]
pub struct EnvironmentService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EnvironmentStore>,
    executor: Arc<dyn Executor>,
    settings: EnvironmentSettings,
    layout: CacheLayout,
    clock: Arc<dyn Clock>,
    uv: tokio::sync::OnceCell<Uv>,
    /// One lock per resolution or build key, so concurrent requests do the work once.
    keyed: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The interpreters found so far, by the version asked for: finding one runs uv, which
    /// would otherwise cost every job's start tens of milliseconds.
    interpreters: Mutex<HashMap<String, Interpreter>>,
    /// Logs being written by a running resolution or build.
    running: Mutex<HashMap<PathBuf, WorkloadHandle>>,
    /// Builds images when `settings.images` is set.
    image_builder: std::sync::OnceLock<Arc<dyn ImageBuilder>>,
    /// Runs resolutions when set (image builds: the workload executor runs images, uv
    /// resolves on the server's host, sandboxed).
    resolver: std::sync::OnceLock<Arc<dyn Executor>>,
}

impl std::fmt::Debug for EnvironmentService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EnvironmentService")
            .field("root", &self.inner.settings.root)
            .finish_non_exhaustive()
    }
}

/// Where an environment lives: a project, or the global environments.
fn scope_of(environment: &Environment) -> &str {
    environment.project_id.as_deref().unwrap_or("")
}

fn require_role(pass: &ProjectPass, needed: Role) -> EnvResult<()> {
    match pass.role() {
        Some(role) if role < needed => Err(EnvError::Core(CoreError::Forbidden(format!(
            "needs the `{}` role in the project",
            needed.as_str()
        )))),
        _ => Ok(()),
    }
}

/// A resolved version and what a build needs.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The environment.
    pub environment: Environment,
    /// The version, resolved.
    pub version: EnvironmentVersion,
    /// Its lock.
    pub lock: EnvironmentLock,
    /// The lock's hash.
    pub lock_hash: String,
}

impl EnvironmentService {
    /// Returns the service.
    pub fn new(
        store: Arc<dyn EnvironmentStore>,
        executor: Arc<dyn Executor>,
        settings: EnvironmentSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut settings = settings;
        // Paths handed to workloads must be absolute (a relative data folder is the
        // server's working folder's).
        if let Ok(root) = std::path::absolute(&settings.root) {
            settings.root = root;
        }
        EnvironmentService {
            inner: Arc::new(Inner {
                store,
                executor,
                layout: CacheLayout::new(settings.root.clone()),
                settings,
                clock,
                uv: tokio::sync::OnceCell::new(),
                keyed: Mutex::new(HashMap::new()),
                interpreters: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                image_builder: std::sync::OnceLock::new(),
                resolver: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sets what builds images (with `settings.images`: the Kubernetes backend) and the
    /// executor resolutions run on (the server's host: the workload executor runs images,
    /// which hold no uv). Set once.
    pub fn set_image_builds(&self, builder: Arc<dyn ImageBuilder>, resolver: Arc<dyn Executor>) {
        let _ = self.inner.image_builder.set(builder);
        let _ = self.inner.resolver.set(resolver);
    }

    /// The cache's folders.
    pub fn layout(&self) -> &CacheLayout {
        &self.inner.layout
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Checks the caller may change environments of `pass`'s project (Contributor), or
    /// global ones (`None`: platform admin).
    fn authorize_write(principal: &Principal, pass: Option<&ProjectPass>) -> EnvResult<()> {
        principal.require_write()?;
        match pass {
            Some(pass) => require_role(pass, Role::Contributor),
            None => Ok(principal.require_admin()?),
        }
    }

    /// Creates an environment (version 1): a project's, or a global one (`pass` `None`,
    /// platform admins).
    pub async fn create(
        &self,
        principal: &Principal,
        pass: Option<&ProjectPass>,
        name: &str,
        spec: EnvironmentSpec,
    ) -> EnvResult<(Environment, EnvironmentVersion)> {
        Self::authorize_write(principal, pass)?;
        validate_name(name)?;
        validate_spec(&spec, self.inner.settings.apt_allowed)?;
        self.inner
            .store
            .create_environment(NewEnvironment {
                project_id: pass.map(|pass| pass.project().id.clone()),
                name: name.to_string(),
                spec,
                created_by: principal.user().username.as_str().to_string(),
                now_ms: self.now(),
            })
            .await
    }

    /// Makes a new version of `name` asking for `spec`; `Conflict` when nothing changed.
    pub async fn update(
        &self,
        principal: &Principal,
        pass: Option<&ProjectPass>,
        name: &str,
        spec: EnvironmentSpec,
    ) -> EnvResult<EnvironmentVersion> {
        Self::authorize_write(principal, pass)?;
        validate_spec(&spec, self.inner.settings.apt_allowed)?;
        let environment = self
            .inner
            .store
            .find_environment(pass.map(|pass| pass.project().id.as_str()), name)
            .await?;
        let latest = self
            .inner
            .store
            .get_version(&environment.id, environment.latest_version)
            .await?;
        let changes = spec.changes_from(&latest.spec);
        if changes.is_empty() {
            return Err(EnvError::Conflict(format!(
                "version {} of `{name}` asks for exactly this; nothing to change",
                latest.version
            )));
        }
        self.inner
            .store
            .add_version(
                &environment.id,
                environment.latest_version,
                spec,
                changes,
                principal.user().username.as_str(),
                self.now(),
            )
            .await
    }

    /// Lists a project's environments and the global ones (`pass` `None`: the global ones).
    pub async fn list(&self, pass: Option<&ProjectPass>) -> EnvResult<Vec<Environment>> {
        self.inner
            .store
            .list_environments(pass.map(|pass| pass.project().id.as_str()), true)
            .await
    }

    /// Finds `reference` as a project sees it: the project's environment of that name,
    /// else the global one.
    async fn find(
        &self,
        pass: Option<&ProjectPass>,
        reference: &EnvironmentRef,
    ) -> EnvResult<(Environment, EnvironmentVersion)> {
        let store = &self.inner.store;
        let environment = match pass {
            Some(pass) => match store
                .find_environment(Some(&pass.project().id), &reference.name)
                .await
            {
                Err(EnvError::NotFound { .. }) => store
                    .find_environment(None, &reference.name)
                    .await
                    .map_err(|_| EnvError::NotFound {
                        entity: "environment",
                        id: reference.name.clone(),
                    })?,
                other => other?,
            },
            None => store.find_environment(None, &reference.name).await?,
        };
        let number = reference.version.unwrap_or(environment.latest_version);
        let version =
            store
                .get_version(&environment.id, number)
                .await
                .map_err(|error| match error {
                    EnvError::NotFound { .. } => EnvError::NotFound {
                        entity: "environment version",
                        id: format!("{}:{number}", environment.name),
                    },
                    other => other,
                })?;
        Ok((environment, version))
    }

    /// Returns an environment's version (`NAME` → its latest) and its build, if any.
    pub async fn show(
        &self,
        pass: Option<&ProjectPass>,
        reference: &str,
    ) -> EnvResult<(Environment, EnvironmentVersion, Option<EnvironmentBuild>)> {
        let reference = EnvironmentRef::parse(reference)?;
        let (environment, version) = self.find(pass, &reference).await?;
        let build = match &version.lock_hash {
            Some(hash) => {
                self.inner
                    .store
                    .get_build(scope_of(&environment), hash)
                    .await?
            }
            None => None,
        };
        Ok((environment, version, build))
    }

    /// Returns an environment and every version, newest first.
    pub async fn versions(
        &self,
        pass: Option<&ProjectPass>,
        name: &str,
    ) -> EnvResult<(Environment, Vec<EnvironmentVersion>)> {
        let reference = EnvironmentRef::parse(name)?;
        let (environment, _) = self.find(pass, &reference).await?;
        let versions = self.inner.store.list_versions(&environment.id).await?;
        Ok((environment, versions))
    }

    /// Deletes an environment of the project (or a global one, `pass` `None`) with its
    /// versions. Its builds stay until unused long enough to be collected.
    pub async fn delete(
        &self,
        principal: &Principal,
        pass: Option<&ProjectPass>,
        name: &str,
    ) -> EnvResult<()> {
        Self::authorize_write(principal, pass)?;
        let environment = self
            .inner
            .store
            .find_environment(pass.map(|pass| pass.project().id.as_str()), name)
            .await?;
        self.inner.store.delete_environment(&environment.id).await
    }

    /// Resolves (when not yet) and builds (when not yet) `reference`; waits for both.
    pub async fn build(
        &self,
        principal: &Principal,
        pass: Option<&ProjectPass>,
        reference: &str,
    ) -> EnvResult<(Resolved, EnvironmentBuild)> {
        Self::authorize_write(principal, pass)?;
        let reference = EnvironmentRef::parse(reference)?;
        let (environment, version) = self.find(pass, &reference).await?;
        self.check_builds()?;
        let resolved = self.resolve(environment, version).await?;
        if self.inner.settings.images.is_some() {
            self.build_image(&resolved).await?;
        } else {
            self.build_resolved(&resolved).await?;
        }
        let build = self
            .inner
            .store
            .get_build(scope_of(&resolved.environment), &resolved.lock_hash)
            .await?
            .ok_or_else(|| EnvError::Build("the build left no record".to_string()))?;
        Ok((resolved, build))
    }

    fn check_builds(&self) -> EnvResult<()> {
        match &self.inner.settings.builds_unavailable {
            Some(reason) => Err(EnvError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }

    /// What a workload of `pass`'s project needs to run in `reference` (or the default
    /// environment when `None`; `Ok(None)` when there is none): resolved and built first
    /// when needed, which is the lazy build of first use. The caller has authorized the
    /// submission (Contributor).
    pub async fn prepare_for_workload(
        &self,
        pass: &ProjectPass,
        reference: Option<&str>,
    ) -> EnvResult<Option<PreparedEnvironment>> {
        let reference = match reference {
            Some(text) => EnvironmentRef::parse(text)?,
            None => match &self.inner.settings.default_environment {
                Some(name) => EnvironmentRef {
                    name: name.clone(),
                    version: None,
                },
                None => return Ok(None),
            },
        };
        let (environment, version) = self.find(Some(pass), &reference).await?;
        self.check_builds()?;
        let resolved = self.resolve(environment, version).await?;
        if self.inner.settings.images.is_some() {
            let image = self.build_image(&resolved).await?;
            self.inner
                .store
                .touch_build(
                    scope_of(&resolved.environment),
                    &resolved.lock_hash,
                    self.now(),
                )
                .await?;
            return Ok(Some(WorkloadEnvironment {
                name: resolved.environment.name.clone(),
                version: resolved.version.version,
                global: resolved.environment.project_id.is_none(),
                lock_hash: resolved.lock_hash.clone(),
                python_version: resolved.lock.python_version.clone(),
                read_only_paths: Vec::new(),
                // The image sets VIRTUAL_ENV and PATH; the version's own variables are in it
                // too, and given again so that a job's view is the same on both backends.
                env: resolved.version.spec.env.clone(),
                image: Some(image),
            }));
        }
        let venv = self.build_resolved(&resolved).await?;
        let scope = scope_of(&resolved.environment).to_string();
        self.inner
            .store
            .touch_build(&scope, &resolved.lock_hash, self.now())
            .await?;
        let venv_root = venv.parent().unwrap_or(&venv).to_path_buf();
        let mut read_only_paths = vec![venv_root.display().to_string()];
        let interpreter = self.interpreter(&resolved.lock.python_version).await?;
        if !plinth_executor::sandbox::SYSTEM_READ_ONLY
            .iter()
            .any(|system| interpreter.prefix.starts_with(system))
        {
            read_only_paths.push(interpreter.prefix.display().to_string());
        }
        let mut env = resolved.version.spec.env.clone();
        env.insert("VIRTUAL_ENV".to_string(), venv.display().to_string());
        env.insert(
            "PATH".to_string(),
            format!(
                "{}:{}",
                venv.join("bin").display(),
                plinth_executor::sandbox::SYSTEM_PATH
            ),
        );
        Ok(Some(WorkloadEnvironment {
            name: resolved.environment.name.clone(),
            version: resolved.version.version,
            global: resolved.environment.project_id.is_none(),
            lock_hash: resolved.lock_hash.clone(),
            python_version: resolved.lock.python_version.clone(),
            read_only_paths,
            env,
            image: None,
        }))
    }

    /// Returns the resolution log and, when resolved, the build log of `reference`.
    pub async fn logs(&self, pass: Option<&ProjectPass>, reference: &str) -> EnvResult<String> {
        let reference = EnvironmentRef::parse(reference)?;
        let (environment, version) = self.find(pass, &reference).await?;
        let scope = scope_of(&environment);
        let mut text = String::new();
        let mut files = vec![self.resolve_log(&environment, version.version)?];
        if let Some(hash) = &version.lock_hash {
            files.push(
                self.inner
                    .layout
                    .log_file(scope, &format!("{hash}-build.log"))?,
            );
        }
        for file in files {
            match fs_err::read_to_string(&file) {
                Ok(part) => text.push_str(&part),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(text)
    }

    /// Whether a resolution or build of `reference` runs now (its log still grows).
    pub async fn is_running(&self, pass: Option<&ProjectPass>, reference: &str) -> EnvResult<bool> {
        let reference = EnvironmentRef::parse(reference)?;
        let (environment, version) = self.find(pass, &reference).await?;
        let mut files = vec![self.resolve_log(&environment, version.version)?];
        if let Some(hash) = &version.lock_hash {
            files.push(
                self.inner
                    .layout
                    .log_file(scope_of(&environment), &format!("{hash}-build.log"))?,
            );
        }
        let running = self.inner.running.lock().expect("running map");
        Ok(files.iter().any(|file| running.contains_key(file)))
    }

    fn resolve_log(&self, environment: &Environment, version: u32) -> EnvResult<PathBuf> {
        self.inner.layout.log_file(
            scope_of(environment),
            &format!("{}-v{version}-resolve.log", environment.id),
        )
    }

    async fn uv(&self) -> EnvResult<&Uv> {
        self.inner
            .uv
            .get_or_try_init(|| ensure_uv(&self.inner.settings.uv, &self.inner.settings.root))
            .await
    }

    async fn interpreter(&self, request: &str) -> EnvResult<Interpreter> {
        let known = self
            .inner
            .interpreters
            .lock()
            .expect("interpreters")
            .get(request)
            .cloned();
        // Still there: an interpreter removed from the host is looked for again.
        if let Some(interpreter) =
            known.filter(|found| found.executable.try_exists().unwrap_or(false))
        {
            return Ok(interpreter);
        }
        let uv = self.uv().await?;
        let interpreter = find_python(
            uv,
            request,
            &self.inner.settings.python_search_path,
            &self.inner.layout.python_dir(),
        )
        .await?;
        self.inner
            .interpreters
            .lock()
            .expect("interpreters")
            .insert(request.to_string(), interpreter.clone());
        Ok(interpreter)
    }

    fn key_lock(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut keyed = self.inner.keyed.lock().expect("keyed locks");
        Arc::clone(keyed.entry(key).or_default())
    }

    fn run_context<'a>(
        &'a self,
        uv: &'a Uv,
        interpreter: &'a Interpreter,
        scope: &'a str,
        on_start: &'a (dyn Fn(Option<WorkloadHandle>) + Send + Sync),
    ) -> UvRun<'a> {
        UvRun {
            executor: match self.inner.resolver.get() {
                Some(resolver) => &**resolver,
                None => &*self.inner.executor,
            },
            uv,
            interpreter,
            layout: &self.inner.layout,
            scope,
            uv_env: &self.inner.settings.uv_env,
            on_start,
        }
    }

    fn tracker(&self, log: PathBuf) -> impl Fn(Option<WorkloadHandle>) + Send + Sync + '_ {
        move |handle| {
            let mut running = self.inner.running.lock().expect("running map");
            match handle {
                Some(handle) => running.insert(log.clone(), handle),
                None => running.remove(&log),
            };
        }
    }

    /// Resolves a version once: concurrent callers wait for the first; a failure is
    /// recorded with the resolver's reason (and may be retried).
    async fn resolve(
        &self,
        environment: Environment,
        version: EnvironmentVersion,
    ) -> EnvResult<Resolved> {
        let done = |version: EnvironmentVersion| -> Option<Resolved> {
            match (&version.lock, &version.lock_hash) {
                (Some(lock), Some(hash)) => Some(Resolved {
                    environment: environment.clone(),
                    lock: lock.clone(),
                    lock_hash: hash.clone(),
                    version,
                }),
                _ => None,
            }
        };
        if let Some(resolved) = done(version.clone()) {
            return Ok(resolved);
        }
        let key = format!("resolve:{}:{}", environment.id, version.version);
        let lock = self.key_lock(key);
        let _guard = lock.lock().await;
        let version = self
            .inner
            .store
            .get_version(&environment.id, version.version)
            .await?;
        if let Some(resolved) = done(version.clone()) {
            return Ok(resolved);
        }
        let scope = scope_of(&environment).to_string();
        let interpreter = self.interpreter(&version.spec.python).await?;
        let uv = self.uv().await?;
        let log = self.resolve_log(&environment, version.version)?;
        let _ = fs_err::remove_file(&log);
        let tracker = self.tracker(log.clone());
        let run = self.run_context(uv, &interpreter, &scope, &tracker);
        let outcome = run.resolve(&version.spec, &log).await?;
        match outcome {
            Ok(lock) => {
                let hash = crate::build::lock_hash(&lock);
                let version = self
                    .inner
                    .store
                    .record_resolution(
                        &environment.id,
                        version.version,
                        ResolutionOutcome::Resolved {
                            lock: lock.clone(),
                            lock_hash: hash.clone(),
                        },
                        self.now(),
                    )
                    .await?;
                Ok(Resolved {
                    environment,
                    version,
                    lock,
                    lock_hash: hash,
                })
            }
            Err(reason) => {
                self.inner
                    .store
                    .record_resolution(
                        &environment.id,
                        version.version,
                        ResolutionOutcome::Failed(reason.clone()),
                        self.now(),
                    )
                    .await?;
                Err(EnvError::Resolution(reason))
            }
        }
    }

    /// Builds a resolved version's lock once per scope; returns the venv. A complete
    /// build is used as it is, without a workload (and so without the network).
    async fn build_resolved(&self, resolved: &Resolved) -> EnvResult<PathBuf> {
        let scope = scope_of(&resolved.environment).to_string();
        let hash = &resolved.lock_hash;
        if let Some(venv) = self.inner.layout.complete_venv(&scope, hash)? {
            return Ok(venv);
        }
        let lock = self.key_lock(format!("build:{scope}:{hash}"));
        let _guard = lock.lock().await;
        if let Some(venv) = self.inner.layout.complete_venv(&scope, hash)? {
            return Ok(venv);
        }
        let uv = self.uv().await?;
        let interpreter = self.interpreter(&resolved.lock.python_version).await?;
        let log = self
            .inner
            .layout
            .log_file(&scope, &format!("{hash}-build.log"))?;
        let _ = fs_err::remove_file(&log);
        self.inner
            .store
            .start_build(&scope, hash, self.now())
            .await?;
        let tracker = self.tracker(log.clone());
        let run = self.run_context(uv, &interpreter, &scope, &tracker);
        let outcome = run.build(&resolved.lock, hash, &log).await;
        let error = outcome.as_ref().err().map(ToString::to_string);
        self.inner
            .store
            .finish_build(&scope, hash, error, self.now())
            .await?;
        outcome
    }

    /// Builds a resolved version's image once per scope and lock (Kubernetes backend);
    /// returns it by digest (`repository@sha256:…`). A lock whose image the registry has
    /// already (tag = the lock's hash) is not built again: its digest is read and recorded.
    async fn build_image(&self, resolved: &Resolved) -> EnvResult<String> {
        let scope = scope_of(&resolved.environment).to_string();
        let hash = &resolved.lock_hash;
        let recorded = |build: Option<plinth_types::EnvironmentBuild>| {
            build
                .filter(|build| build.state == plinth_types::BuildState::Ready)
                .and_then(|build| build.image)
        };
        if let Some(image) = recorded(self.inner.store.get_build(&scope, hash).await?) {
            return Ok(image);
        }
        let key = self.key_lock(format!("image:{scope}:{hash}"));
        let _guard = key.lock().await;
        if let Some(image) = recorded(self.inner.store.get_build(&scope, hash).await?) {
            return Ok(image);
        }
        let settings =
            self.inner.settings.images.as_ref().ok_or_else(|| {
                EnvError::Unavailable("image builds are not configured".to_string())
            })?;
        let builder = self.inner.image_builder.get().ok_or_else(|| {
            EnvError::Unavailable("no image builder is set up on this server".to_string())
        })?;
        let repository = image_repository(&settings.registry, &scope, &resolved.environment.name);
        let tag = image_tag(hash);
        let (host, path) = split_repository(&repository)?;
        let credentials = builder.registry_credentials().await?;
        let registry = RegistryClient::new(host, settings.insecure, credentials.as_deref())?;
        let log = self
            .inner
            .layout
            .log_file(&scope, &format!("{hash}-build.log"))?;
        if let Some(parent) = log.parent() {
            fs_err::create_dir_all(parent)?;
        }
        self.inner
            .store
            .start_build(&scope, hash, self.now())
            .await?;
        let outcome = async {
            if let Some(digest) = registry.manifest_digest(path, &tag).await? {
                tracing::info!(%repository, %tag, %digest, "the registry has this lock's image; not building it");
                fs_err::write(
                    &log,
                    format!("{repository}:{tag} exists in the registry ({digest}); not built again\n"),
                )?;
                return Ok(format!("{repository}@{digest}"));
            }
            let dockerfile_text = dockerfile(&resolved.version.spec, &resolved.lock, settings)?;
            let spec = ImageBuildSpec {
                id: format!("envb-{}-{}", &hash[..12], uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or("0")),
                project: scope.clone(),
                image: format!("{repository}:{tag}"),
                context: std::collections::BTreeMap::from([
                    (DOCKERFILE.to_string(), dockerfile_text),
                    (LOCK_FILE.to_string(), resolved.lock.requirements.clone()),
                ]),
                labels: std::collections::BTreeMap::from([(
                    "plinth.dev/environment".to_string(),
                    resolved.environment.name.clone(),
                )]),
            };
            let built = builder.build(spec).await;
            let built = match built {
                Ok(built) => built,
                Err(plinth_executor::ExecError::CannotStart { reason, .. }) => {
                    let _ = fs_err::write(&log, &reason);
                    return Err(EnvError::Build(reason));
                }
                Err(error) => return Err(error.into()),
            };
            fs_err::write(&log, &built.log)?;
            let digest = registry.manifest_digest(path, &tag).await?.ok_or_else(|| {
                EnvError::Build(format!(
                    "the build ended but the registry has no {repository}:{tag}"
                ))
            })?;
            if let Some(reported) = built.digest.as_ref().filter(|reported| **reported != digest) {
                tracing::warn!(%repository, %reported, %digest, "the builder reported another digest than the registry; the registry's is recorded");
            }
            Ok(format!("{repository}@{digest}"))
        }
        .await;
        let error = outcome.as_ref().err().map(ToString::to_string);
        if let Ok(image) = &outcome {
            self.inner.store.record_image(&scope, hash, image).await?;
        }
        self.inner
            .store
            .finish_build(&scope, hash, error, self.now())
            .await?;
        outcome
    }

    /// Marks builds a stopped server left `building` as failed (their workloads' results
    /// are never renamed into place; the next use builds again).
    pub async fn recover(&self) -> EnvResult<()> {
        for build in self.inner.store.list_builds().await? {
            if build.state == plinth_types::BuildState::Building {
                self.inner
                    .store
                    .finish_build(
                        &build.scope,
                        &build.lock_hash,
                        Some("interrupted: the server stopped during the build".to_string()),
                        self.now(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes built environments no workload used for `collect_unused_after`, and
    /// working folders of resolutions and builds that ended without cleaning up (a
    /// killed server's). Returns the builds removed.
    pub async fn collect_unused(&self) -> EnvResult<Vec<EnvironmentBuild>> {
        let now = self.now();
        let after =
            i64::try_from(self.inner.settings.collect_unused_after.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(after);
        let mut removed = Vec::new();
        for build in self.inner.store.list_builds().await? {
            if build.last_used_at_ms >= cutoff || build.state == plinth_types::BuildState::Building
            {
                continue;
            }
            let lock = self.key_lock(format!("build:{}:{}", build.scope, build.lock_hash));
            let _guard = lock.lock().await;
            if !self
                .inner
                .store
                .forget_build(&build.scope, &build.lock_hash, cutoff)
                .await?
            {
                continue;
            }
            let root = self
                .inner
                .layout
                .venv_root(&build.scope, &build.lock_hash)?;
            if root.try_exists()? {
                // Renamed away first, so no half-removed folder is ever under its name.
                let trash_root = self.inner.layout.work_dir(&build.scope)?;
                fs_err::create_dir_all(&trash_root)?;
                let trash = trash_root.join(format!("collected-{}", uuid::Uuid::new_v4().simple()));
                fs_err::rename(&root, &trash)?;
                fs_err::remove_dir_all(&trash)?;
            }
            tracing::info!(scope = %build.scope, lock_hash = %build.lock_hash, "collected an unused environment");
            removed.push(build);
        }
        self.remove_stale_work(cutoff)?;
        Ok(removed)
    }

    fn remove_stale_work(&self, cutoff_ms: i64) -> EnvResult<()> {
        let root = self.inner.layout.root().join("work");
        let Ok(scopes) = fs_err::read_dir(&root) else {
            return Ok(());
        };
        for scope in scopes {
            let scope = scope?.path();
            for entry in fs_err::read_dir(&scope)? {
                let path = entry?.path();
                let modified = fs_err::metadata(&path)?
                    .modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |age| i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
                if modified < cutoff_ms {
                    let _ = fs_err::remove_dir_all(&path);
                }
            }
        }
        Ok(())
    }

    /// Creates the global environment `name` asking for `spec` when it does not exist
    /// (the default environment of a fresh install). Nothing is built until first use.
    pub async fn ensure_global(&self, name: &str, spec: EnvironmentSpec) -> EnvResult<()> {
        validate_name(name)?;
        validate_spec(&spec, self.inner.settings.apt_allowed)?;
        match self.inner.store.find_environment(None, name).await {
            Ok(_) => Ok(()),
            Err(EnvError::NotFound { .. }) => {
                match self
                    .inner
                    .store
                    .create_environment(NewEnvironment {
                        project_id: None,
                        name: name.to_string(),
                        spec,
                        created_by: "plinth".to_string(),
                        now_ms: self.now(),
                    })
                    .await
                {
                    Ok(_) | Err(EnvError::AlreadyExists { .. }) => Ok(()),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }
}

#[async_trait::async_trait]
impl plinth_core::EnvironmentProvider for EnvironmentService {
    async fn prepare(
        &self,
        pass: &ProjectPass,
        reference: Option<&str>,
    ) -> plinth_core::CoreResult<Option<WorkloadEnvironment>> {
        self.prepare_for_workload(pass, reference)
            .await
            .map_err(into_core)
    }
}

/// The runtime's words for an environment error (same kind, same message).
fn into_core(error: EnvError) -> CoreError {
    use plinth_types::{ErrorKind, HasErrorKind as _};
    let kind = error.kind();
    match error {
        EnvError::Core(error) => error,
        EnvError::Executor(error) => CoreError::Executor(error),
        error => {
            let message = error.to_string();
            match kind {
                ErrorKind::InvalidArgument => CoreError::InvalidArgument(message),
                ErrorKind::NotFound => CoreError::Missing(message),
                ErrorKind::Conflict | ErrorKind::AlreadyExists => CoreError::Conflict(message),
                ErrorKind::Unavailable => CoreError::Unavailable(message),
                _ => {
                    tracing::error!(error = ?error, "environment preparation failed");
                    CoreError::Unavailable(format!(
                        "the environment could not be prepared: {message}"
                    ))
                }
            }
        }
    }
}
