//! [`PipelineService`]: authorization (Viewer reads, Contributor submits), experiments,
//! pipelines and versions, runs; and the engine ([`PipelineService::run_engine`]), one
//! loop of `plinth serve` that drives every unfinished run from the state in the metadata
//! store, so a restarted server resumes runs without running finished tasks again.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plinth_artifacts::ArtifactStore;
use plinth_core::{
    ClientInfo, Clock, CoreError, IdentityService, Principal, ProjectPass, ProjectSelector,
    RuntimeService,
};
use plinth_types::Role;
use serde_json::Value;

use crate::error::{PipelineError, PipelineResult};
use crate::ir::{parse_package, parse_spec_value, PipelineSpec};
use crate::model::{
    ExperimentRecord, PipelineRecord, RunRecord, RunState, TaskRecord, VersionRecord,
};
use crate::store::PipelineStore;
use crate::values::bind_arguments;

/// How pipelines run; from the `[pipelines]` configuration.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// Where tasks' input and output folders live (`{data_dir}/pipelines/tasks`).
    pub task_root: PathBuf,
    /// Most tasks of one run running at once.
    pub max_parallel_tasks: usize,
    /// The environment tasks run in (`NAME` or `NAME:VERSION`; the project's, else the
    /// global one); `None`: the server's default environment.
    pub environment: Option<String>,
    /// The resource class tasks run on.
    pub class: String,
    /// How often the engine looks at running runs.
    pub tick: Duration,
}

impl PipelineSettings {
    /// Settings for tests and small installs.
    pub fn new(task_root: impl Into<PathBuf>) -> Self {
        PipelineSettings {
            task_root: task_root.into(),
            max_parallel_tasks: 8,
            environment: None,
            class: "small".to_string(),
            tick: Duration::from_millis(100),
        }
    }
}

/// Proof that the caller may read a project's pipelines (and, checked per call, change
/// them). Only [`PipelineService::authorize`] creates it.
#[derive(Clone, Debug)]
pub struct PipelinePass {
    principal: Principal,
    pass: ProjectPass,
}

impl PipelinePass {
    /// The project.
    pub fn project(&self) -> &plinth_types::Project {
        self.pass.project()
    }

    fn require_write(&self) -> PipelineResult<()> {
        self.principal.require_write()?;
        let contributor = self
            .pass
            .role()
            .is_none_or(|role| role >= Role::Contributor);
        if !contributor {
            return Err(CoreError::Forbidden("needs the `contributor` role".to_string()).into());
        }
        Ok(())
    }
}

/// A run to start.
#[derive(Clone, Debug, Default)]
pub struct NewRun {
    /// Its name.
    pub display_name: String,
    /// Its description.
    pub description: String,
    /// Its experiment (`None`: the project's `Default`).
    pub experiment_id: Option<String>,
    /// The PipelineSpec to run (JSON form), or …
    pub pipeline_spec: Option<Value>,
    /// … a version of an uploaded pipeline: (pipeline, version; `None`: the latest).
    pub version: Option<(String, Option<String>)>,
    /// `runtime_config.parameters`.
    pub arguments: BTreeMap<String, Value>,
}

/// A run and its tasks.
#[derive(Clone, Debug)]
pub struct RunView {
    /// The run.
    pub run: RunRecord,
    /// Its tasks by key.
    pub tasks: Vec<TaskRecord>,
}

/// Experiments, pipelines and runs; the engine.
#[derive(Clone)]
pub struct PipelineService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn PipelineStore>,
    pub(crate) identity: IdentityService,
    pub(crate) runtime: RuntimeService,
    pub(crate) objects: ArtifactStore,
    pub(crate) settings: PipelineSettings,
    pub(crate) clock: Arc<dyn Clock>,
    /// Parsed specs of the runs being driven.
    pub(crate) specs: Mutex<BTreeMap<String, Arc<PipelineSpec>>>,
    pub(crate) wake: tokio::sync::Notify,
}

impl std::fmt::Debug for PipelineService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PipelineService")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

const DEFAULT_EXPERIMENT: &str = "Default";

fn check_name(field: &str, name: &str) -> PipelineResult<()> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(PipelineError::InvalidArgument(format!(
            "invalid `{field}`: 1 to 200 printable characters"
        )));
    }
    Ok(())
}

impl PipelineService {
    /// Returns the service. Start [`PipelineService::run_engine`] next to it.
    pub fn new(
        store: Arc<dyn PipelineStore>,
        identity: IdentityService,
        runtime: RuntimeService,
        objects: ArtifactStore,
        settings: PipelineSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // Workloads mount task folders by absolute path.
        let mut settings = settings;
        if let Ok(root) = std::path::absolute(&settings.task_root) {
            settings.task_root = root;
        }
        PipelineService {
            inner: Arc::new(Inner {
                store,
                identity,
                runtime,
                objects,
                settings,
                clock,
                specs: Mutex::new(BTreeMap::new()),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Checks that `principal` may read the project the request names (a scoped token's,
    /// or `/projects/{org}/{project}`); writes are checked per call.
    pub async fn authorize(
        &self,
        principal: &Principal,
        selector: &ProjectSelector,
    ) -> PipelineResult<PipelinePass> {
        let identity = &self.inner.identity;
        let pass = match selector {
            ProjectSelector::FromToken => {
                let Some(project_id) = principal.project_scope() else {
                    return Err(PipelineError::InvalidArgument(
                        "no project: use a project-scoped token, or a host naming the project (`kfp.Client(host=\"http://HOST/projects/ORG/PROJECT\")`)".to_string(),
                    ));
                };
                identity
                    .authorize_project_by_id(principal, project_id, Role::Viewer)
                    .await?
            }
            ProjectSelector::Named {
                organization,
                project,
            } => match identity
                .authorize_project(principal, organization, project, Role::Viewer)
                .await
            {
                Err(CoreError::NotFound { .. }) if principal.project_scope().is_some() => {
                    return Err(CoreError::Forbidden(format!(
                        "this token is scoped to another project than `{organization}/{project}`"
                    ))
                    .into())
                }
                other => {
                    let pass = other?;
                    if principal
                        .project_scope()
                        .is_some_and(|scope| scope != pass.project().id)
                    {
                        return Err(CoreError::Forbidden(format!(
                            "this token is scoped to another project than `{organization}/{project}`"
                        ))
                        .into());
                    }
                    pass
                }
            },
        };
        Ok(PipelinePass {
            principal: principal.clone(),
            pass,
        })
    }

    // ---- experiments ----

    /// Creates an experiment (Contributors).
    pub async fn create_experiment(
        &self,
        pass: &PipelinePass,
        display_name: &str,
        description: &str,
    ) -> PipelineResult<ExperimentRecord> {
        pass.require_write()?;
        check_name("display_name", display_name)?;
        let experiment = ExperimentRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: pass.project().id.clone(),
            display_name: display_name.to_string(),
            description: description.to_string(),
            storage_state: "AVAILABLE".to_string(),
            created_at_ms: self.now(),
        };
        self.inner.store.create_experiment(&experiment).await?;
        Ok(experiment)
    }

    /// One experiment.
    pub async fn get_experiment(
        &self,
        pass: &PipelinePass,
        id: &str,
    ) -> PipelineResult<ExperimentRecord> {
        self.inner
            .store
            .get_experiment(&pass.project().id, id)
            .await
    }

    /// The project's experiments.
    pub async fn list_experiments(
        &self,
        pass: &PipelinePass,
    ) -> PipelineResult<Vec<ExperimentRecord>> {
        self.inner.store.list_experiments(&pass.project().id).await
    }

    /// Archives (or restores) an experiment (Contributors).
    pub async fn set_experiment_archived(
        &self,
        pass: &PipelinePass,
        id: &str,
        archived: bool,
    ) -> PipelineResult<ExperimentRecord> {
        pass.require_write()?;
        let mut experiment = self.get_experiment(pass, id).await?;
        experiment.storage_state = if archived { "ARCHIVED" } else { "AVAILABLE" }.to_string();
        self.inner.store.update_experiment(&experiment).await?;
        Ok(experiment)
    }

    async fn default_experiment(&self, project_id: &str) -> PipelineResult<ExperimentRecord> {
        if let Some(found) = self
            .inner
            .store
            .find_experiment(project_id, DEFAULT_EXPERIMENT)
            .await?
        {
            return Ok(found);
        }
        let experiment = ExperimentRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_string(),
            display_name: DEFAULT_EXPERIMENT.to_string(),
            description: "runs started without an experiment".to_string(),
            storage_state: "AVAILABLE".to_string(),
            created_at_ms: self.now(),
        };
        match self.inner.store.create_experiment(&experiment).await {
            Ok(()) => Ok(experiment),
            // Made meanwhile by another call.
            Err(PipelineError::AlreadyExists(_)) => self
                .inner
                .store
                .find_experiment(project_id, DEFAULT_EXPERIMENT)
                .await?
                .ok_or_else(|| {
                    PipelineError::Conflict("the default experiment vanished".to_string())
                }),
            Err(error) => Err(error),
        }
    }

    // ---- pipelines ----

    /// Uploads a pipeline (its first version) from the compiler's YAML (Contributors).
    pub async fn upload_pipeline(
        &self,
        pass: &PipelinePass,
        display_name: &str,
        description: &str,
        text: &str,
    ) -> PipelineResult<(PipelineRecord, VersionRecord)> {
        pass.require_write()?;
        let package = parse_package(text)?;
        let name = if display_name.trim().is_empty() {
            package.spec.pipeline_info.name.clone()
        } else {
            display_name.to_string()
        };
        check_name("name", &name)?;
        let now = self.now();
        let pipeline = PipelineRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: pass.project().id.clone(),
            display_name: name.clone(),
            description: description.to_string(),
            created_at_ms: now,
        };
        let version = VersionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            pipeline_id: pipeline.id.clone(),
            display_name: name,
            description: description.to_string(),
            spec: package.spec_json,
            platform_spec: package.platform_spec,
            created_at_ms: now,
        };
        self.inner
            .store
            .create_pipeline(&pipeline, &version)
            .await?;
        Ok((pipeline, version))
    }

    /// Adds a version to a pipeline (Contributors).
    pub async fn upload_version(
        &self,
        pass: &PipelinePass,
        pipeline_id: &str,
        display_name: &str,
        description: &str,
        text: &str,
    ) -> PipelineResult<VersionRecord> {
        pass.require_write()?;
        let pipeline = self.get_pipeline(pass, pipeline_id).await?;
        let package = parse_package(text)?;
        let name = if display_name.trim().is_empty() {
            format!(
                "{} {}",
                pipeline.display_name,
                uuid::Uuid::new_v4().simple()
            )
        } else {
            display_name.to_string()
        };
        check_name("name", &name)?;
        let version = VersionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            pipeline_id: pipeline.id,
            display_name: name,
            description: description.to_string(),
            spec: package.spec_json,
            platform_spec: package.platform_spec,
            created_at_ms: self.now(),
        };
        self.inner.store.add_version(&version).await?;
        Ok(version)
    }

    /// One pipeline.
    pub async fn get_pipeline(
        &self,
        pass: &PipelinePass,
        id: &str,
    ) -> PipelineResult<PipelineRecord> {
        self.inner.store.get_pipeline(&pass.project().id, id).await
    }

    /// A pipeline by name, if any.
    pub async fn find_pipeline(
        &self,
        pass: &PipelinePass,
        name: &str,
    ) -> PipelineResult<Option<PipelineRecord>> {
        self.inner
            .store
            .find_pipeline(&pass.project().id, name)
            .await
    }

    /// The project's pipelines.
    pub async fn list_pipelines(&self, pass: &PipelinePass) -> PipelineResult<Vec<PipelineRecord>> {
        self.inner.store.list_pipelines(&pass.project().id).await
    }

    /// A pipeline's versions.
    pub async fn list_versions(
        &self,
        pass: &PipelinePass,
        pipeline_id: &str,
    ) -> PipelineResult<Vec<VersionRecord>> {
        let pipeline = self.get_pipeline(pass, pipeline_id).await?;
        self.inner.store.list_versions(&pipeline.id).await
    }

    /// One version.
    pub async fn get_version(
        &self,
        pass: &PipelinePass,
        pipeline_id: &str,
        version_id: &str,
    ) -> PipelineResult<VersionRecord> {
        let pipeline = self.get_pipeline(pass, pipeline_id).await?;
        self.inner.store.get_version(&pipeline.id, version_id).await
    }

    // ---- runs ----

    /// Starts a run (Contributors): the spec is checked, the arguments typed against the
    /// root's inputs; anything wrong is refused here, naming the task and field.
    pub async fn create_run(&self, pass: &PipelinePass, new: NewRun) -> PipelineResult<RunRecord> {
        pass.require_write()?;
        let project_id = pass.project().id.clone();
        let (spec_json, platform_spec, pipeline_id, version_id) =
            match (new.pipeline_spec, new.version) {
                (Some(_), Some(_)) => return Err(PipelineError::InvalidArgument(
                    "invalid run: give `pipeline_spec` or `pipeline_version_reference`, not both"
                        .to_string(),
                )),
                (None, None) => {
                    return Err(PipelineError::InvalidArgument(
                        "invalid run: `pipeline_spec` or `pipeline_version_reference` is required"
                            .to_string(),
                    ))
                }
                (Some(spec), None) => {
                    // `kfp.Client` sends `{pipeline_spec, platform_spec}` for a package
                    // with a PlatformSpec, the PipelineSpec alone otherwise.
                    match (spec.get("pipeline_spec"), spec.get("platform_spec")) {
                        (Some(inner), platform) if spec.get("root").is_none() => {
                            (inner.clone(), platform.cloned(), None, None)
                        }
                        _ => (spec, None, None, None),
                    }
                }
                (None, Some((pipeline_id, version_id))) => {
                    let pipeline = self.get_pipeline(pass, &pipeline_id).await?;
                    let version = match version_id {
                        Some(id) => self.inner.store.get_version(&pipeline.id, &id).await?,
                        None => self
                            .inner
                            .store
                            .list_versions(&pipeline.id)
                            .await?
                            .pop()
                            .ok_or_else(|| PipelineError::NotFound {
                                entity: "pipeline version",
                                id: pipeline.id.clone(),
                            })?,
                    };
                    (
                        version.spec,
                        version.platform_spec,
                        Some(pipeline.id),
                        Some(version.id),
                    )
                }
            };
        let spec = parse_spec_value(spec_json.clone())?;
        let parameters = bind_arguments(&spec.root.input_definitions.parameters, &new.arguments)?;
        for (name, artifact) in &spec.root.input_definitions.artifacts {
            if !artifact.is_optional {
                return Err(PipelineError::InvalidArgument(format!(
                    "invalid pipeline: the pipeline's input artifact `{name}` cannot be given yet (importers come later)"
                )));
            }
        }
        let experiment = match new.experiment_id.filter(|id| !id.is_empty()) {
            Some(id) => self
                .get_experiment(pass, &id)
                .await
                .map_err(|error| match error {
                    PipelineError::NotFound { .. } => PipelineError::InvalidArgument(format!(
                        "invalid `experiment_id`: the project has no experiment `{id}`"
                    )),
                    other => other,
                })?,
            None => self.default_experiment(&project_id).await?,
        };
        let display_name = if new.display_name.trim().is_empty() {
            spec.pipeline_info.name.clone()
        } else {
            new.display_name
        };
        check_name("display_name", &display_name)?;
        let run = RunRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id,
            experiment_id: experiment.id,
            display_name,
            description: new.description,
            pipeline_id,
            pipeline_version_id: version_id,
            spec: spec_json,
            platform_spec,
            arguments: new.arguments,
            parameters,
            state: RunState::Pending,
            error: None,
            storage_state: "AVAILABLE".to_string(),
            created_by: pass.principal.user().id.to_string(),
            created_at_ms: self.now(),
            started_at_ms: None,
            finished_at_ms: None,
            terminate_requested: false,
        };
        self.inner.store.create_run(&run).await?;
        self.inner
            .specs
            .lock()
            .expect("spec cache lock")
            .insert(run.id.clone(), Arc::new(spec));
        self.inner.wake.notify_one();
        Ok(run)
    }

    async fn project_run(&self, pass: &PipelinePass, id: &str) -> PipelineResult<RunRecord> {
        match self.inner.store.get_run(id).await {
            Ok(run) if run.project_id == pass.project().id => Ok(run),
            Ok(_) | Err(PipelineError::NotFound { .. }) => Err(PipelineError::NotFound {
                entity: "run",
                id: id.to_string(),
            }),
            Err(error) => Err(error),
        }
    }

    /// A run and its tasks.
    pub async fn get_run(&self, pass: &PipelinePass, id: &str) -> PipelineResult<RunView> {
        let run = self.project_run(pass, id).await?;
        let tasks = self.inner.store.list_tasks(&run.id).await?;
        Ok(RunView { run, tasks })
    }

    /// The project's runs, newest first (of one experiment, when given).
    pub async fn list_runs(
        &self,
        pass: &PipelinePass,
        experiment_id: Option<&str>,
    ) -> PipelineResult<Vec<RunRecord>> {
        let mut runs = self.inner.store.list_runs(&pass.project().id).await?;
        if let Some(experiment) = experiment_id.filter(|id| !id.is_empty()) {
            runs.retain(|run| run.experiment_id == experiment);
        }
        Ok(runs)
    }

    /// Asks a run to stop (Contributors): its jobs are stopped and it ends `FAILED` with
    /// the reason (the state `kfp.Client.wait_for_run_completion` stops waiting on).
    pub async fn terminate_run(&self, pass: &PipelinePass, id: &str) -> PipelineResult<RunRecord> {
        pass.require_write()?;
        let mut run = self.project_run(pass, id).await?;
        if !run.state.is_finished() && !run.terminate_requested {
            run.terminate_requested = true;
            self.inner.store.update_run(&run).await?;
            self.inner.wake.notify_one();
        }
        Ok(run)
    }

    /// Archives (or restores) a run (Contributors).
    pub async fn set_run_archived(
        &self,
        pass: &PipelinePass,
        id: &str,
        archived: bool,
    ) -> PipelineResult<RunRecord> {
        pass.require_write()?;
        let mut run = self.project_run(pass, id).await?;
        run.storage_state = if archived { "ARCHIVED" } else { "AVAILABLE" }.to_string();
        self.inner.store.update_run(&run).await?;
        Ok(run)
    }

    // ---- the engine ----

    /// Drives every unfinished run until `shutdown` resolves: a pass every tick, and at
    /// once when a run is created or terminated.
    pub async fn run_engine(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.engine_pass().await {
                Ok(busy) => busy,
                Err(error) => {
                    tracing::warn!(error = %error, "pipeline engine pass failed; retrying");
                    false
                }
            };
            if busy {
                // Tasks are running: have the runtime look at them within our tick.
                self.inner.runtime.request_reconcile();
            }
            let tick = if busy {
                self.inner.settings.tick
            } else {
                self.inner.settings.tick * 10
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(tick) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// One pass over the unfinished runs; returns whether any is still going.
    pub async fn engine_pass(&self) -> PipelineResult<bool> {
        let runs = self.inner.store.list_active_runs().await?;
        let busy = !runs.is_empty();
        for run in runs {
            let id = run.id.clone();
            if let Err(error) = self.drive(run).await {
                tracing::warn!(run = %id, error = %error, "cannot drive pipeline run");
            }
        }
        Ok(busy)
    }

    pub(crate) fn spec_of(&self, run: &RunRecord) -> PipelineResult<Arc<PipelineSpec>> {
        if let Some(spec) = self
            .inner
            .specs
            .lock()
            .expect("spec cache lock")
            .get(&run.id)
        {
            return Ok(spec.clone());
        }
        let spec = Arc::new(parse_spec_value(run.spec.clone())?);
        self.inner
            .specs
            .lock()
            .expect("spec cache lock")
            .insert(run.id.clone(), spec.clone());
        Ok(spec)
    }

    pub(crate) fn forget_spec(&self, run_id: &str) {
        self.inner
            .specs
            .lock()
            .expect("spec cache lock")
            .remove(run_id);
    }

    pub(crate) fn client_info() -> ClientInfo {
        ClientInfo {
            ip: String::new(),
            user_agent: "plinth-pipelines".to_string(),
        }
    }
}
