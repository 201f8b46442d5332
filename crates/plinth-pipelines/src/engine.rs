//! The engine's step for one run: walk its DAGs from the task records in the store, end
//! what finished (outputs read back, artifacts into the object store), start what is
//! ready (inputs resolved, conditions evaluated, jobs submitted through the runtime), and
//! end the run when its root DAG has ended.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plinth_artifacts::ObjectKey;
use plinth_core::{Principal, ProjectPass};
use plinth_types::{JobRequest, UserId, WorkloadState};
use serde_json::{json, Map, Value};

use crate::error::{PipelineError, PipelineResult};
use crate::ir::{dependencies, ComponentSpec, ContainerSpec, DagSpec, PipelineSpec, Resolved};
use crate::model::{ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState};
use crate::service::PipelineService;
use crate::values::{coerce, evaluate_condition, resolve_placeholders, PlaceholderValues};

/// How a DAG stands after a step.
enum DagStatus {
    Going,
    Succeeded,
    Failed(String),
}

/// What one step of a run works with.
struct Step<'a> {
    run: &'a RunRecord,
    spec: &'a PipelineSpec,
    tasks: BTreeMap<String, TaskRecord>,
    actor: Option<(Principal, ProjectPass)>,
    running: usize,
}

/// The input artifacts a DAG task hands its children, kept in its record's `artifacts`
/// under this prefix.
const INPUT_PREFIX: &str = "input:";

impl PipelineService {
    pub(crate) async fn drive(&self, mut run: RunRecord) -> PipelineResult<()> {
        let spec = match self.spec_of(&run) {
            Ok(spec) => spec,
            Err(error) => {
                return self
                    .end_run(&mut run, RunState::Failed, Some(error.message()))
                    .await
            }
        };
        let tasks: BTreeMap<String, TaskRecord> = self
            .inner
            .store
            .list_tasks(&run.id)
            .await?
            .into_iter()
            .map(|task| (task.key.clone(), task))
            .collect();
        let running = tasks
            .values()
            .filter(|task| !task.is_dag && task.state == TaskState::Running)
            .count();
        if run.terminate_requested {
            let mut step = Step {
                run: &run,
                spec: &spec,
                tasks,
                actor: None,
                running,
            };
            self.terminate(&mut step).await?;
            drop(step);
            return self
                .end_run(
                    &mut run,
                    RunState::Failed,
                    Some("terminated on request".to_string()),
                )
                .await;
        }
        if run.state == RunState::Pending {
            run.state = RunState::Running;
            run.started_at_ms = Some(self.now());
            self.inner.store.update_run(&run).await?;
        }
        let inputs = run.parameters.clone();
        let mut step = Step {
            run: &run,
            spec: &spec,
            tasks,
            actor: None,
            running,
        };
        let root = &spec.root;
        let dag = root
            .dag
            .as_ref()
            .ok_or_else(|| PipelineError::InvalidArgument("no root DAG".to_string()))?;
        let status = self
            .step_dag(&mut step, "", dag, &inputs, &BTreeMap::new())
            .await;
        drop(step);
        match status {
            Ok(DagStatus::Going) => Ok(()),
            Ok(DagStatus::Succeeded) => self.end_run(&mut run, RunState::Succeeded, None).await,
            Ok(DagStatus::Failed(reason)) => {
                self.end_run(&mut run, RunState::Failed, Some(reason)).await
            }
            Err(error @ PipelineError::Core(plinth_core::CoreError::Forbidden(_))) => {
                self.end_run(&mut run, RunState::Failed, Some(error.message()))
                    .await
            }
            Err(error) => Err(error),
        }
    }

    async fn end_run(
        &self,
        run: &mut RunRecord,
        state: RunState,
        error: Option<String>,
    ) -> PipelineResult<()> {
        run.state = state;
        run.error = error;
        run.finished_at_ms = Some(self.now());
        self.inner.store.update_run(run).await?;
        self.forget_spec(&run.id);
        tracing::info!(run = %run.id, state = state.as_str(), "pipeline run ended");
        Ok(())
    }

    async fn actor(&self, step: &mut Step<'_>) -> PipelineResult<(Principal, ProjectPass)> {
        if let Some(actor) = &step.actor {
            return Ok(actor.clone());
        }
        let actor = self
            .inner
            .identity
            .pipeline_actor(
                &UserId::from_stored(step.run.created_by.clone()),
                &step.run.project_id,
                &step.run.id,
            )
            .await?;
        step.actor = Some(actor.clone());
        Ok(actor)
    }

    async fn terminate(&self, step: &mut Step<'_>) -> PipelineResult<()> {
        let keys: Vec<String> = step.tasks.keys().cloned().collect();
        for key in keys {
            let Some(mut task) = step.tasks.get(&key).cloned() else {
                continue;
            };
            if task.state.is_finished() {
                continue;
            }
            if let Some(workload) = &task.workload_id {
                let (principal, pass) = self.actor(step).await?;
                if let Err(error) = self
                    .inner
                    .runtime
                    .stop_job(&principal, &pass, workload, &Self::client_info())
                    .await
                {
                    tracing::warn!(run = %step.run.id, task = %key, %error, "cannot stop a task's job");
                }
            }
            task.state = TaskState::Canceled;
            task.error = Some("terminated on request".to_string());
            task.finished_at_ms = Some(self.now());
            self.inner.store.put_task(&task).await?;
        }
        Ok(())
    }

    async fn save(&self, step: &mut Step<'_>, task: TaskRecord) -> PipelineResult<()> {
        self.inner.store.put_task(&task).await?;
        step.tasks.insert(task.key.clone(), task);
        Ok(())
    }

    /// One step of a DAG at `prefix` (`""` for the root, `"condition-1/"` below it).
    fn step_dag<'s, 'r: 's>(
        &'s self,
        step: &'s mut Step<'r>,
        prefix: &'s str,
        dag: &'r DagSpec,
        inputs: &'s BTreeMap<String, Value>,
        input_artifacts: &'s BTreeMap<String, ArtifactRecord>,
    ) -> futures::future::BoxFuture<'s, PipelineResult<DagStatus>> {
        Box::pin(async move {
            let upstream = dependencies(dag);
            let mut failure: Option<String> = None;
            for (name, task) in &dag.tasks {
                let key = format!("{prefix}{name}");
                let record = step.tasks.get(&key).cloned();
                if let Some(record) = &record {
                    match record.state {
                        TaskState::Failed | TaskState::Canceled => {
                            failure.get_or_insert_with(|| {
                                format!(
                                    "task `{key}` failed: {}",
                                    record.error.clone().unwrap_or_default()
                                )
                            });
                            continue;
                        }
                        TaskState::Succeeded | TaskState::Skipped => continue,
                        TaskState::Running => {
                            self.step_running(
                                step,
                                prefix,
                                name,
                                &task.component_ref.name,
                                record.clone(),
                            )
                            .await?;
                            if let Some(now) = step.tasks.get(&key) {
                                if matches!(now.state, TaskState::Failed | TaskState::Canceled) {
                                    failure.get_or_insert_with(|| {
                                        format!(
                                            "task `{key}` failed: {}",
                                            now.error.clone().unwrap_or_default()
                                        )
                                    });
                                }
                            }
                            continue;
                        }
                        TaskState::Pending => {}
                    }
                }
                if failure.is_some() {
                    // Fail fast: nothing new starts once a task failed.
                    continue;
                }
                // Ready when every upstream task has ended.
                let mut ready = true;
                let mut skipped_by = None;
                for dependency in upstream.get(name).into_iter().flatten() {
                    match step
                        .tasks
                        .get(&format!("{prefix}{dependency}"))
                        .map(|t| t.state)
                    {
                        Some(TaskState::Succeeded) => {}
                        Some(TaskState::Skipped) => skipped_by = Some(dependency.clone()),
                        _ => ready = false,
                    }
                }
                if !ready {
                    continue;
                }
                let mut record = TaskRecord {
                    run_id: step.run.id.clone(),
                    key: key.clone(),
                    name: if task.task_info.name.is_empty() {
                        name.clone()
                    } else {
                        task.task_info.name.clone()
                    },
                    is_dag: false,
                    state: TaskState::Pending,
                    workload_id: None,
                    inputs: BTreeMap::new(),
                    outputs: BTreeMap::new(),
                    artifacts: BTreeMap::new(),
                    error: None,
                    started_at_ms: None,
                    finished_at_ms: None,
                };
                if let Some(dependency) = skipped_by {
                    record.state = TaskState::Skipped;
                    record.error = Some(format!("upstream task `{dependency}` was skipped"));
                    record.finished_at_ms = Some(self.now());
                    self.save(step, record).await?;
                    continue;
                }
                let resolved = step.spec.resolve(&task.component_ref.name)?;
                let callee = match &resolved {
                    Resolved::Dag(component, _) | Resolved::Container(component, _) => *component,
                };
                let bound = self.bind_inputs(step, prefix, task, callee, inputs, input_artifacts);
                let (parameters, artifacts) = match bound {
                    Ok(bound) => bound,
                    Err(reason) => {
                        record.state = TaskState::Failed;
                        record.error = Some(reason.clone());
                        record.finished_at_ms = Some(self.now());
                        self.save(step, record).await?;
                        failure.get_or_insert(format!("task `{key}` failed: {reason}"));
                        continue;
                    }
                };
                record.inputs = parameters.clone();
                if let Some(condition) = task
                    .trigger_policy
                    .as_ref()
                    .and_then(|policy| policy.condition.as_deref())
                {
                    match evaluate_condition(condition, &parameters) {
                        Ok(true) => {}
                        Ok(false) => {
                            record.state = TaskState::Skipped;
                            record.error = Some(format!("condition is false: {condition}"));
                            record.finished_at_ms = Some(self.now());
                            self.save(step, record).await?;
                            continue;
                        }
                        Err(reason) => {
                            let reason = format!("`triggerPolicy.condition`: {reason}");
                            record.state = TaskState::Failed;
                            record.error = Some(reason.clone());
                            record.finished_at_ms = Some(self.now());
                            self.save(step, record).await?;
                            failure.get_or_insert(format!("task `{key}` failed: {reason}"));
                            continue;
                        }
                    }
                }
                record.started_at_ms = Some(self.now());
                match resolved {
                    Resolved::Dag(_, _) => {
                        record.is_dag = true;
                        record.state = TaskState::Running;
                        record.artifacts = artifacts
                            .into_iter()
                            .map(|(name, artifact)| (format!("{INPUT_PREFIX}{name}"), artifact))
                            .collect();
                        self.save(step, record.clone()).await?;
                        self.step_running(step, prefix, name, &task.component_ref.name, record)
                            .await?;
                    }
                    Resolved::Container(component, container) => {
                        if step.running >= self.inner.settings.max_parallel_tasks.max(1) {
                            continue;
                        }
                        match self
                            .launch(step, &mut record, component, container, &artifacts)
                            .await
                        {
                            Ok(()) => {
                                step.running += 1;
                                self.save(step, record).await?;
                            }
                            Err(error) => {
                                let reason = error.message();
                                record.state = TaskState::Failed;
                                record.error = Some(format!("could not start: {reason}"));
                                record.finished_at_ms = Some(self.now());
                                self.save(step, record).await?;
                                failure.get_or_insert(format!(
                                    "task `{key}` could not start: {reason}"
                                ));
                            }
                        }
                    }
                }
            }
            let going = dag.tasks.keys().any(|name| {
                step.tasks
                    .get(&format!("{prefix}{name}"))
                    .is_some_and(|task| task.state == TaskState::Running)
            });
            if let Some(failure) = failure {
                return Ok(if going {
                    DagStatus::Going
                } else {
                    DagStatus::Failed(failure)
                });
            }
            let done = dag.tasks.keys().all(|name| {
                step.tasks
                    .get(&format!("{prefix}{name}"))
                    .is_some_and(|task| task.state.is_finished())
            });
            Ok(if done {
                DagStatus::Succeeded
            } else {
                DagStatus::Going
            })
        })
    }

    /// A running task: a DAG steps its children; a container's job is looked at.
    async fn step_running(
        &self,
        step: &mut Step<'_>,
        prefix: &str,
        name: &str,
        component_name: &str,
        mut record: TaskRecord,
    ) -> PipelineResult<()> {
        let spec = step.spec;
        match spec.resolve(component_name)? {
            Resolved::Dag(component, dag) => {
                let child_prefix = format!("{prefix}{name}/");
                let input_artifacts: BTreeMap<String, ArtifactRecord> = record
                    .artifacts
                    .iter()
                    .filter_map(|(key, artifact)| {
                        key.strip_prefix(INPUT_PREFIX)
                            .map(|name| (name.to_string(), artifact.clone()))
                    })
                    .collect();
                let inputs = record.inputs.clone();
                let status = self
                    .step_dag(step, &child_prefix, dag, &inputs, &input_artifacts)
                    .await?;
                match status {
                    DagStatus::Going => return Ok(()),
                    DagStatus::Failed(reason) => {
                        record.state = TaskState::Failed;
                        record.error = Some(reason);
                    }
                    DagStatus::Succeeded => {
                        match self.dag_outputs(step, &child_prefix, component, dag) {
                            Ok((outputs, artifacts)) => {
                                record.outputs = outputs;
                                record.artifacts.extend(artifacts);
                                record.state = TaskState::Succeeded;
                            }
                            Err(reason) => {
                                record.state = TaskState::Failed;
                                record.error = Some(reason);
                            }
                        }
                    }
                }
                record.finished_at_ms = Some(self.now());
                self.save(step, record).await
            }
            Resolved::Container(component, _) => {
                let Some(workload) = record.workload_id.clone() else {
                    return Ok(());
                };
                let (_, pass) = self.actor(step).await?;
                let job = match self.inner.runtime.get_job(&pass, &workload).await {
                    Ok(job) => job.job,
                    Err(plinth_core::CoreError::NotFound { .. }) => {
                        record.state = TaskState::Failed;
                        record.error = Some(format!("its job `{workload}` is gone"));
                        record.finished_at_ms = Some(self.now());
                        step.running = step.running.saturating_sub(1);
                        return self.save(step, record).await;
                    }
                    Err(error) => return Err(error.into()),
                };
                if !job.state.is_finished() {
                    return Ok(());
                }
                step.running = step.running.saturating_sub(1);
                if job.state == WorkloadState::Succeeded {
                    match self.collect_outputs(step.run, &record, component).await {
                        Ok((outputs, artifacts)) => {
                            record.outputs = outputs;
                            record.artifacts = artifacts;
                            record.state = TaskState::Succeeded;
                        }
                        Err(reason) => {
                            record.state = TaskState::Failed;
                            record.error = Some(reason);
                        }
                    }
                } else {
                    record.state = TaskState::Failed;
                    record.error = Some(match job.exit_code {
                        Some(code) => format!(
                            "its job `{workload}` exited with {code}; `plinth jobs logs {workload}` shows why"
                        ),
                        None => format!("its job `{workload}` ended {}: {}", job.state.as_str(), job.reason),
                    });
                }
                record.finished_at_ms = Some(self.now());
                self.save(step, record).await
            }
        }
    }

    /// A task's inputs: parameters typed by the callee's declarations (constants with
    /// placeholders resolved against the others), artifacts by reference.
    #[allow(clippy::type_complexity)]
    fn bind_inputs(
        &self,
        step: &Step<'_>,
        prefix: &str,
        task: &crate::ir::TaskSpec,
        callee: &ComponentSpec,
        inputs: &BTreeMap<String, Value>,
        input_artifacts: &BTreeMap<String, ArtifactRecord>,
    ) -> Result<(BTreeMap<String, Value>, BTreeMap<String, ArtifactRecord>), String> {
        let mut parameters = BTreeMap::new();
        let mut templates = Vec::new();
        for (name, source) in &task.inputs.parameters {
            let value = if let Some(parent) = &source.component_input_parameter {
                match inputs.get(parent) {
                    Some(value) => value.clone(),
                    None => continue,
                }
            } else if let Some(output) = &source.task_output_parameter {
                let producer = format!("{prefix}{}", output.producer_task);
                match step
                    .tasks
                    .get(&producer)
                    .and_then(|task| task.outputs.get(&output.output_parameter_key))
                {
                    Some(value) => value.clone(),
                    None => {
                        return Err(format!(
                            "input `{name}`: task `{producer}` gave no output `{}`",
                            output.output_parameter_key
                        ))
                    }
                }
            } else if let Some(constant) = &source.runtime_value {
                if has_placeholder(&constant.constant) {
                    templates.push((name.clone(), constant.constant.clone()));
                    continue;
                }
                constant.constant.clone()
            } else {
                continue;
            };
            parameters.insert(name.clone(), value);
        }
        let pipeline_values = pipeline_values(step.run, prefix, &task.task_info.name);
        for (name, template) in templates {
            let values = PlaceholderValues {
                parameters: parameters.clone(),
                pipeline: pipeline_values.clone(),
                ..PlaceholderValues::default()
            };
            let value = resolve_value(&template, &values)
                .map_err(|reason| format!("input `{name}`: {reason}"))?;
            parameters.insert(name, value);
        }
        let mut typed = BTreeMap::new();
        for (name, declared) in &callee.input_definitions.parameters {
            match parameters.get(name) {
                Some(value) => {
                    let value = coerce(declared.parameter_type, value)
                        .map_err(|reason| format!("input parameter `{name}`: {reason}"))?;
                    typed.insert(name.clone(), value);
                }
                None => {
                    if let Some(default) = &declared.default_value {
                        let value = coerce(declared.parameter_type, default)
                            .map_err(|reason| format!("default of `{name}`: {reason}"))?;
                        typed.insert(name.clone(), value);
                    } else if !declared.is_optional {
                        return Err(format!("required input parameter `{name}` has no value"));
                    }
                }
            }
        }
        let mut artifacts = BTreeMap::new();
        for (name, source) in &task.inputs.artifacts {
            let artifact = if let Some(output) = &source.task_output_artifact {
                let producer = format!("{prefix}{}", output.producer_task);
                step.tasks
                    .get(&producer)
                    .and_then(|task| task.artifacts.get(&output.output_artifact_key))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "input artifact `{name}`: task `{producer}` gave no artifact `{}`",
                            output.output_artifact_key
                        )
                    })?
            } else if let Some(parent) = &source.component_input_artifact {
                match input_artifacts.get(parent) {
                    Some(artifact) => artifact.clone(),
                    None => continue,
                }
            } else {
                continue;
            };
            artifacts.insert(name.clone(), artifact);
        }
        Ok((typed, artifacts))
    }

    /// A finished DAG's outputs, from its subtasks.
    #[allow(clippy::type_complexity)]
    fn dag_outputs(
        &self,
        step: &Step<'_>,
        child_prefix: &str,
        _component: &ComponentSpec,
        dag: &DagSpec,
    ) -> Result<(BTreeMap<String, Value>, BTreeMap<String, ArtifactRecord>), String> {
        let mut outputs = BTreeMap::new();
        for (name, source) in &dag.outputs.parameters {
            if let Some(reference) = &source.value_from_parameter {
                let producer = format!("{child_prefix}{}", reference.producer_subtask);
                if let Some(value) = step
                    .tasks
                    .get(&producer)
                    .and_then(|task| task.outputs.get(&reference.output_parameter_key))
                {
                    outputs.insert(name.clone(), value.clone());
                }
            }
        }
        let mut artifacts = BTreeMap::new();
        for (name, source) in &dag.outputs.artifacts {
            for selector in &source.artifact_selectors {
                let producer = format!("{child_prefix}{}", selector.producer_subtask);
                if let Some(artifact) = step
                    .tasks
                    .get(&producer)
                    .and_then(|task| task.artifacts.get(&selector.output_artifact_key))
                {
                    artifacts.insert(name.clone(), artifact.clone());
                    break;
                }
            }
        }
        Ok((outputs, artifacts))
    }

    fn task_dir(&self, run: &RunRecord, key: &str) -> PathBuf {
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        self.inner.settings.task_root.join(&run.id).join(safe)
    }

    /// Starts a container task: its folder (input artifacts fetched into it), its
    /// ExecutorInput, its command with placeholders resolved, a job through the runtime.
    async fn launch(
        &self,
        step: &mut Step<'_>,
        record: &mut TaskRecord,
        component: &ComponentSpec,
        container: &ContainerSpec,
        artifacts: &BTreeMap<String, ArtifactRecord>,
    ) -> PipelineResult<()> {
        let run = step.run;
        let dir = self.task_dir(run, &record.key);
        if tokio::fs::try_exists(&dir).await? {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        let input_dir = dir.join("in");
        tokio::fs::create_dir_all(&input_dir).await?;
        let output_dir = dir.join("out");
        let mut values = PlaceholderValues {
            parameters: record.inputs.clone(),
            output_file: path_text(&output_dir.join("executor_output.json")),
            pipeline: pipeline_values(run, "", &record.name),
            ..PlaceholderValues::default()
        };
        let mut input_json = Map::new();
        for (name, artifact) in artifacts {
            let local = input_dir.join(name);
            self.fetch_artifact(artifact, &local).await?;
            let path = path_text(&local);
            values
                .input_artifacts
                .insert(name.clone(), (path.clone(), path.clone()));
            input_json.insert(
                name.clone(),
                json!({ "artifacts": [{
                    "name": artifact.name,
                    "type": { "schemaTitle": artifact.schema_title },
                    "uri": path,
                    "metadata": artifact.metadata,
                }]}),
            );
        }
        let mut output_parameters = Map::new();
        for name in component.output_definitions.parameters.keys() {
            let file = path_text(&output_dir.join("parameters").join(name));
            values
                .output_parameter_files
                .insert(name.clone(), file.clone());
            output_parameters.insert(name.clone(), json!({ "outputFile": file }));
        }
        let mut output_artifacts = Map::new();
        for (name, declared) in &component.output_definitions.artifacts {
            let path = path_text(&output_dir.join("artifacts").join(name));
            values
                .output_artifacts
                .insert(name.clone(), (path.clone(), path.clone()));
            let mut kind = json!({ "schemaTitle": declared.artifact_type.schema_title });
            if let Some(version) = &declared.artifact_type.schema_version {
                kind["schemaVersion"] = json!(version);
            }
            output_artifacts.insert(
                name.clone(),
                json!({ "artifacts": [{ "name": name, "type": kind, "uri": path, "metadata": {} }] }),
            );
        }
        let executor_input = json!({
            "inputs": {
                "parameterValues": record.inputs,
                "artifacts": input_json,
            },
            "outputs": {
                "parameters": output_parameters,
                "artifacts": output_artifacts,
                "outputFile": values.output_file,
            },
        });
        values.executor_input = executor_input.to_string();
        let resolve = |part: &String| {
            resolve_placeholders(part, &values).map_err(|reason| {
                PipelineError::InvalidArgument(format!("task `{}`: {reason}", record.key))
            })
        };
        let mut command = without_pip_prelude(&container.command);
        for part in &mut command {
            *part = resolve(part)?;
        }
        for part in &container.args {
            command.push(resolve(part)?);
        }
        if command.is_empty() {
            return Err(PipelineError::InvalidArgument(format!(
                "task `{}`: the container has no command",
                record.key
            )));
        }
        let mut env: BTreeMap<String, String> = container
            .env
            .iter()
            .map(|var| (var.name.clone(), var.value.clone()))
            .collect();
        env.insert("KFP_POD_NAME".to_string(), record.key.clone());
        env.insert("KFP_RUN_ID".to_string(), run.id.clone());
        let request = JobRequest {
            name: Some(format!("{} · {}", run.display_name, record.name)),
            class: self.inner.settings.class.clone(),
            command,
            env,
            snapshot: None,
            image: None,
            custom_size: None,
            environment: self.inner.settings.environment.clone(),
        };
        let (principal, pass) = self.actor(step).await?;
        let job = self
            .inner
            .runtime
            .submit_pipeline_task(&principal, &pass, &request, &dir, &Self::client_info())
            .await?;
        record.workload_id = Some(job.job.id.clone());
        record.state = TaskState::Running;
        Ok(())
    }

    async fn fetch_artifact(&self, artifact: &ArtifactRecord, local: &Path) -> PipelineResult<()> {
        for file in &artifact.files {
            let (key, target) = if file.is_empty() {
                (artifact.key.clone(), local.to_path_buf())
            } else {
                (format!("{}/{file}", artifact.key), local.join(file))
            };
            let bytes = self.inner.objects.get(&ObjectKey::parse(&key)?).await?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(&target, &bytes).await?;
        }
        if artifact.files.is_empty() {
            tokio::fs::create_dir_all(local).await?;
        }
        Ok(())
    }

    /// Reads a finished task's outputs: `executor_output.json` (return values, artifact
    /// metadata), output parameter files, and output artifacts, stored in the object store
    /// under `projects/{project}/pipelines/{run}/{task}/{name}`.
    async fn collect_outputs(
        &self,
        run: &RunRecord,
        record: &TaskRecord,
        component: &ComponentSpec,
    ) -> Result<(BTreeMap<String, Value>, BTreeMap<String, ArtifactRecord>), String> {
        let dir = self.task_dir(run, &record.key).join("out");
        let executor_output: Value = match tokio::fs::read(dir.join("executor_output.json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| format!("`executor_output.json` is not JSON: {error}"))?,
            Err(_) => Value::Null,
        };
        let mut outputs = BTreeMap::new();
        for (name, declared) in &component.output_definitions.parameters {
            let value = match executor_output
                .get("parameterValues")
                .and_then(|values| values.get(name))
            {
                Some(value) => value.clone(),
                None => {
                    let file = dir.join("parameters").join(name);
                    match tokio::fs::read_to_string(&file).await {
                        Ok(text) => match declared.parameter_type {
                            crate::ir::ParameterType::String => Value::String(text),
                            _ => serde_json::from_str(text.trim()).map_err(|error| {
                                format!("output parameter `{name}` is not JSON: {error}")
                            })?,
                        },
                        Err(_) => continue,
                    }
                }
            };
            let value = coerce(declared.parameter_type, &value)
                .map_err(|reason| format!("output parameter `{name}`: {reason}"))?;
            outputs.insert(name.clone(), value);
        }
        let mut artifacts = BTreeMap::new();
        let safe_key = record.key.replace('/', ".");
        for (name, declared) in &component.output_definitions.artifacts {
            let local = dir.join("artifacts").join(name);
            let metadata = executor_output
                .pointer(&format!("/artifacts/{name}/artifacts/0/metadata"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let key = format!(
                "projects/{}/pipelines/{}/{safe_key}/{name}",
                run.project_id, run.id
            );
            let files = self
                .store_artifact(&local, &key)
                .await
                .map_err(|error| format!("output artifact `{name}`: {}", error.message()))?;
            artifacts.insert(
                name.clone(),
                ArtifactRecord {
                    name: name.clone(),
                    schema_title: declared.artifact_type.schema_title.clone(),
                    key,
                    files,
                    metadata,
                },
            );
        }
        Ok((outputs, artifacts))
    }

    async fn store_artifact(&self, local: &Path, key: &str) -> PipelineResult<Vec<String>> {
        // Not written (metrics-only artifacts): an empty folder.
        let Ok(metadata) = tokio::fs::symlink_metadata(local).await else {
            return Ok(Vec::new());
        };
        if metadata.is_file() {
            let bytes = tokio::fs::read(local).await?;
            self.inner
                .objects
                .put(&ObjectKey::parse(key)?, bytes.into())
                .await?;
            return Ok(vec![String::new()]);
        }
        let mut files = Vec::new();
        let mut pending = vec![(local.to_path_buf(), String::new())];
        while let Some((dir, relative)) = pending.pop() {
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let kind = entry.file_type().await?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if relative.is_empty() {
                    name
                } else {
                    format!("{relative}/{name}")
                };
                if kind.is_dir() {
                    pending.push((entry.path(), path));
                } else if kind.is_file() {
                    let bytes = tokio::fs::read(entry.path()).await?;
                    self.inner
                        .objects
                        .put(&ObjectKey::parse(&format!("{key}/{path}"))?, bytes.into())
                        .await?;
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Whether a constant holds a placeholder anywhere (f-strings, channels inside lists and
/// dicts).
fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{$"),
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map.values().any(has_placeholder),
        _ => false,
    }
}

/// Resolves the placeholders of a constant: a string that is one placeholder of an input
/// parameter becomes that value (a number stays a number inside a list), other strings
/// are interpolated as text.
fn resolve_value(value: &Value, values: &PlaceholderValues) -> Result<Value, String> {
    match value {
        Value::String(text) => {
            let whole = text
                .strip_prefix("{{$.inputs.parameters[")
                .and_then(|rest| rest.strip_suffix("]}}"))
                .filter(|inner| !inner.contains("}}"))
                .map(|inner| inner.trim_matches(|c| c == '\'' || c == '"'));
            if let Some(parameter) = whole.and_then(|name| values.parameters.get(name)) {
                return Ok(parameter.clone());
            }
            resolve_placeholders(text, values).map(Value::String)
        }
        Value::Array(items) => items
            .iter()
            .map(|item| resolve_value(item, values))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| resolve_value(item, values).map(|item| (key.clone(), item)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// The `pipeline_*` placeholders' values.
fn pipeline_values(run: &RunRecord, prefix: &str, task_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pipeline_job_name".to_string(), run.display_name.clone()),
        ("pipeline_job_resource_name".to_string(), run.id.clone()),
        ("pipeline_job_uuid".to_string(), run.id.clone()),
        ("pipeline_task_name".to_string(), task_name.to_string()),
        (
            "pipeline_task_uuid".to_string(),
            format!("{}/{prefix}{task_name}", run.id),
        ),
        (
            "pipeline_root".to_string(),
            format!("projects/{}/pipelines/{}", run.project_id, run.id),
        ),
        (
            "pipeline_job_create_time_utc".to_string(),
            run.created_at_ms.to_string(),
        ),
    ])
}

/// The compiled command of a lightweight component starts with `sh -c "<pip install kfp>
/// && \"$0\" \"$@\""`: when kfp is importable in the task's environment the install is
/// skipped (it costs about a second per step), else it runs as compiled.
pub fn without_pip_prelude(command: &[String]) -> Vec<String> {
    let is_prelude = command.len() > 3
        && command[0] == "sh"
        && command[1] == "-c"
        && command[2].contains("pip install")
        && command[2].trim_end().ends_with("&& \"$0\" \"$@\"");
    if !is_prelude {
        return command.to_vec();
    }
    let mut out = command.to_vec();
    out[2] = format!(
        "if python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(\"kfp\") is None)' 2>/dev/null; then exec \"$0\" \"$@\"; fi\n{}",
        command[2]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_inside_constants_resolve_to_values() {
        let values = PlaceholderValues {
            parameters: BTreeMap::from([
                ("pipelinechannel--make-Output".to_string(), json!("a|b")),
                ("pipelinechannel--n".to_string(), json!(5)),
            ]),
            ..PlaceholderValues::default()
        };
        let constant = json!({
            "k": "{{$.inputs.parameters['pipelinechannel--make-Output']}}",
            "l": ["{{$.inputs.parameters['pipelinechannel--n']}}", "x", 1.0],
            "s": "n={{$.inputs.parameters['pipelinechannel--n']}}!",
        });
        assert!(has_placeholder(&constant));
        assert!(!has_placeholder(&json!(["x", {"y": 1}])));
        assert_eq!(
            resolve_value(&constant, &values).unwrap(),
            json!({ "k": "a|b", "l": [5, "x", 1.0], "s": "n=5!" })
        );
    }

    #[test]
    fn the_pip_prelude_is_skipped_when_kfp_is_there() {
        let compiled = vec![
            "sh".to_string(),
            "-c".to_string(),
            "\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet 'kfp==2.17.3' '--no-deps' && \"$0\" \"$@\"\n".to_string(),
            "sh".to_string(),
            "-ec".to_string(),
            "program".to_string(),
        ];
        let changed = without_pip_prelude(&compiled);
        assert!(changed[2].starts_with("if python3 -c"), "{}", changed[2]);
        assert!(changed[2].ends_with(&compiled[2]));
        assert_eq!(changed[3..], compiled[3..]);
        let plain = vec!["python3".to_string(), "-c".to_string(), "x".to_string()];
        assert_eq!(without_pip_prelude(&plain), plain);
    }

    #[test]
    fn the_prelude_runs_the_component_through_sh() {
        // The prelude's guard hands over to `"$0" "$@"` exactly like the original.
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let compiled = vec![
            "sh".to_string(),
            "-c".to_string(),
            "false pip install x && \"$0\" \"$@\"".to_string(),
            "sh".to_string(),
            "-ec".to_string(),
            format!("echo \"$0\" > {}", marker.display()),
            "hello".to_string(),
        ];
        let changed = without_pip_prelude(&compiled);
        let status = std::process::Command::new(&changed[0])
            .args(&changed[1..])
            .status()
            .unwrap();
        // kfp is not importable by the host's python3 here: the original (failing) prelude
        // runs; with it importable the guard would exec the program.
        let ran = fs_err::read_to_string(&marker).is_ok();
        assert_eq!(status.success(), ran);
    }
}
