//! The PipelineSpec the `kfp` compiler writes (the protobuf's JSON form, as YAML): the
//! parts Plinth runs, parsed with serde, and the checks made at submission
//! ([`PipelineSpec::validate`]) so that a run never hangs on something known up front.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{PipelineError, PipelineResult};

/// A compiled pipeline: its root DAG, components and executors.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// The pipeline's name.
    pub pipeline_info: PipelineInfo,
    /// The root component (a DAG).
    pub root: ComponentSpec,
    /// Components by name (`comp-…`).
    #[serde(default)]
    pub components: BTreeMap<String, ComponentSpec>,
    /// Executors by label (`exec-…`).
    #[serde(default)]
    pub deployment_spec: DeploymentSpec,
    /// `2.1.0` for the SDK's output.
    #[serde(default)]
    pub schema_version: String,
    /// `kfp-2.17.3`.
    #[serde(default)]
    pub sdk_version: String,
    /// Where artifacts would go on Kubeflow (ignored: Plinth keeps them in the object store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pipeline_root: Option<String>,
}

/// The pipeline's name and description.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineInfo {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A component: a DAG of tasks or an executor, with its inputs and outputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// The tasks, for a DAG component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagSpec>,
    /// The executor, for a leaf component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_label: Option<String>,
    /// Its inputs.
    #[serde(default)]
    pub input_definitions: Interface,
    /// Its outputs.
    #[serde(default)]
    pub output_definitions: Interface,
}

/// Parameters and artifacts of a component's inputs or outputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterSpec>,
    /// Artifacts by name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, ArtifactSpec>,
}

/// A parameter's declaration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterSpec {
    /// Its type.
    pub parameter_type: ParameterType,
    /// Its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// Whether it may be left out.
    #[serde(default)]
    pub is_optional: bool,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The types of parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ParameterType {
    String,
    NumberInteger,
    NumberDouble,
    Boolean,
    List,
    Struct,
    TaskFinalStatus,
    #[serde(rename = "PARAMETER_TYPE_ENUM_UNSPECIFIED")]
    Unspecified,
}

impl ParameterType {
    /// Returns the SDK's name of the type (`int`, `str` …) for messages.
    pub fn python(self) -> &'static str {
        match self {
            ParameterType::String => "str",
            ParameterType::NumberInteger => "int",
            ParameterType::NumberDouble => "float",
            ParameterType::Boolean => "bool",
            ParameterType::List => "list",
            ParameterType::Struct => "dict",
            ParameterType::TaskFinalStatus => "PipelineTaskFinalStatus",
            ParameterType::Unspecified => "unspecified",
        }
    }
}

/// An artifact's declaration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSpec {
    /// Its type.
    pub artifact_type: ArtifactType,
    /// Whether it is a list of artifacts.
    #[serde(default)]
    pub is_artifact_list: bool,
    /// Whether it may be left out.
    #[serde(default)]
    pub is_optional: bool,
}

/// An artifact's type (`system.Dataset` …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactType {
    /// `system.Dataset`, `system.Model`, `system.Metrics` …
    #[serde(default)]
    pub schema_title: String,
    /// `0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
}

/// A DAG's tasks and outputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagSpec {
    /// Tasks by name.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskSpec>,
    /// What the DAG gives its parent.
    #[serde(default)]
    pub outputs: DagOutputs,
}

/// A DAG component's outputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagOutputs {
    /// Parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, DagOutputParameter>,
    /// Artifacts by name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, DagOutputArtifact>,
}

/// Where a DAG's output parameter comes from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagOutputParameter {
    /// One subtask's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_parameter: Option<OutputParameterRef>,
    /// The first of several that ran (`dsl.OneOf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_oneof: Option<Value>,
}

/// A subtask's output parameter.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputParameterRef {
    /// The subtask.
    pub producer_subtask: String,
    /// Its output's name.
    pub output_parameter_key: String,
}

/// Where a DAG's output artifact comes from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagOutputArtifact {
    /// The subtasks' outputs (the first that ran).
    #[serde(default)]
    pub artifact_selectors: Vec<ArtifactSelector>,
}

/// A subtask's output artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSelector {
    /// The subtask.
    pub producer_subtask: String,
    /// Its output's name.
    pub output_artifact_key: String,
}

/// A task of a DAG.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Its display name.
    #[serde(default)]
    pub task_info: TaskInfo,
    /// The component it runs.
    pub component_ref: ComponentRef,
    /// Its inputs.
    #[serde(default)]
    pub inputs: TaskInputs,
    /// Tasks that must end first.
    #[serde(default)]
    pub dependent_tasks: Vec<String>,
    /// When it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_policy: Option<TriggerPolicy>,
    /// A loop over a list (`dsl.ParallelFor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_iterator: Option<Value>,
    /// A loop over artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_iterator: Option<Value>,
    /// Retries (not yet honored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<Value>,
    /// Caching (not yet honored: every task runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching_options: Option<Value>,
}

/// A task's display name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// The name.
    #[serde(default)]
    pub name: String,
}

/// A reference to a component.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRef {
    /// The component's name.
    pub name: String,
}

/// When a task runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerPolicy {
    /// A CEL condition over `inputs.parameter_values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `ALL_UPSTREAM_TASKS_SUCCEEDED` (default) or `ALL_UPSTREAM_TASKS_COMPLETED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

/// A task's inputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInputs {
    /// Parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, TaskInputParameter>,
    /// Artifacts by name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, TaskInputArtifact>,
}

/// Where a task's input parameter comes from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInputParameter {
    /// An input of the enclosing DAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_input_parameter: Option<String>,
    /// A sibling task's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_output_parameter: Option<TaskOutputParameterRef>,
    /// A constant (strings may hold placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_value: Option<RuntimeValue>,
    /// An exit handler's view of the tasks it guards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_final_status: Option<Value>,
    /// A field of a STRUCT input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_expression_selector: Option<String>,
}

/// A sibling task's output parameter.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutputParameterRef {
    /// The task.
    pub producer_task: String,
    /// Its output's name.
    pub output_parameter_key: String,
}

/// A constant value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeValue {
    /// The value.
    pub constant: Value,
}

/// Where a task's input artifact comes from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInputArtifact {
    /// A sibling task's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_output_artifact: Option<TaskOutputArtifactRef>,
    /// An input of the enclosing DAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_input_artifact: Option<String>,
}

/// A sibling task's output artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutputArtifactRef {
    /// The task.
    pub producer_task: String,
    /// Its output's name.
    pub output_artifact_key: String,
}

/// The executors.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Executors by label.
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorSpec>,
}

/// An executor: a container (the only kind Plinth runs so far), an importer or a resolver.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSpec {
    /// A container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
    /// An importer (`dsl.importer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importer: Option<Value>,
    /// A resolver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Value>,
}

/// A container executor.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// The image (the local backend runs the command in the task's environment).
    #[serde(default)]
    pub image: String,
    /// The program.
    #[serde(default)]
    pub command: Vec<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its variables.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Its resources (not yet mapped to a class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
}

/// An environment variable of a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// A parsed upload: the PipelineSpec and the optional PlatformSpec that follows it.
#[derive(Clone, Debug)]
pub struct PipelinePackage {
    /// The pipeline.
    pub spec: PipelineSpec,
    /// The PipelineSpec as JSON (what is stored and given back).
    pub spec_json: Value,
    /// The second document, the Kubernetes PlatformSpec (stored, ignored locally).
    pub platform_spec: Option<Value>,
}

fn invalid(message: impl Into<String>) -> PipelineError {
    PipelineError::InvalidArgument(message.into())
}

/// Parses what the compiler writes: one YAML document, or two (PipelineSpec then
/// PlatformSpec). JSON is YAML too.
pub fn parse_package(text: &str) -> PipelineResult<PipelinePackage> {
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| {
            invalid(format!(
                "invalid pipeline: not a YAML or JSON document: {error}"
            ))
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    let mut documents = documents.into_iter();
    let spec_json = documents
        .next()
        .ok_or_else(|| invalid("invalid pipeline: the file is empty"))?;
    let platform_spec = documents.next();
    if documents.next().is_some() {
        return Err(invalid(
            "invalid pipeline: more than two YAML documents (a PipelineSpec and a PlatformSpec)",
        ));
    }
    let spec = parse_spec_value(spec_json.clone())?;
    Ok(PipelinePackage {
        spec,
        spec_json,
        platform_spec,
    })
}

/// Reads a PipelineSpec from its JSON form (as `kfp.Client` sends it in `pipeline_spec`).
pub fn parse_spec_value(value: Value) -> PipelineResult<PipelineSpec> {
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "invalid pipeline: not a PipelineSpec (expected a mapping with `pipelineInfo`, `root` and `deploymentSpec`)",
        ));
    };
    if !object.contains_key("root") || !object.contains_key("pipelineInfo") {
        // A v1 Argo workflow or a component file, most likely.
        let hint = if object.contains_key("apiVersion") || object.contains_key("kind") {
            " (this looks like a Kubernetes/Argo manifest: compile with kfp 2.x)"
        } else if object.contains_key("implementation") {
            " (this looks like a component, not a pipeline)"
        } else {
            ""
        };
        return Err(invalid(format!(
            "invalid pipeline: not a PipelineSpec: `root` and `pipelineInfo` are required{hint}"
        )));
    }
    let spec: PipelineSpec = serde_json::from_value(value)
        .map_err(|error| invalid(format!("invalid pipeline: {error}")))?;
    spec.validate()?;
    Ok(spec)
}

/// What a task runs, once looked up.
pub enum Resolved<'a> {
    /// A nested DAG.
    Dag(&'a ComponentSpec, &'a DagSpec),
    /// A container.
    Container(&'a ComponentSpec, &'a ContainerSpec),
}

impl PipelineSpec {
    /// Returns the component named `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentSpec> {
        self.components.get(name)
    }

    /// Returns what the component `name` runs.
    pub fn resolve(&self, name: &str) -> PipelineResult<Resolved<'_>> {
        let component = self
            .component(name)
            .ok_or_else(|| invalid(format!("unknown component `{name}`")))?;
        if let Some(dag) = &component.dag {
            return Ok(Resolved::Dag(component, dag));
        }
        let label = component.executor_label.as_deref().unwrap_or("");
        let executor = self.deployment_spec.executors.get(label).ok_or_else(|| {
            invalid(format!(
                "component `{name}` names the executor `{label}`, which `deploymentSpec.executors` lacks"
            ))
        })?;
        match &executor.container {
            Some(container) => Ok(Resolved::Container(component, container)),
            None => Err(invalid(format!(
                "executor `{label}` is not supported yet: Plinth runs container executors (importers and resolvers come later)"
            ))),
        }
    }

    /// Checks everything a run would trip on: every component and executor exists and is
    /// of a kind Plinth runs, inputs name what exists, dependencies form no cycle, and
    /// features not supported yet are named.
    pub fn validate(&self) -> PipelineResult<()> {
        if self.pipeline_info.name.trim().is_empty() {
            return Err(invalid("invalid pipeline: `pipelineInfo.name` is empty"));
        }
        let Some(root_dag) = &self.root.dag else {
            return Err(invalid("invalid pipeline: `root.dag` is missing"));
        };
        for (label, executor) in &self.deployment_spec.executors {
            if executor.container.is_none() {
                let kind = if executor.importer.is_some() {
                    "an importer"
                } else if executor.resolver.is_some() {
                    "a resolver"
                } else {
                    "of an unknown kind"
                };
                return Err(invalid(format!(
                    "invalid pipeline: executor `{label}` is {kind}; Plinth runs container executors only"
                )));
            }
        }
        let mut seen = BTreeSet::new();
        self.validate_dag("root", &self.root, root_dag, &mut seen)
    }

    fn validate_dag<'a>(
        &'a self,
        path: &str,
        component: &ComponentSpec,
        dag: &'a DagSpec,
        seen: &mut BTreeSet<&'a str>,
    ) -> PipelineResult<()> {
        if dag.tasks.is_empty() {
            return Err(invalid(format!(
                "invalid pipeline: DAG `{path}` has no tasks"
            )));
        }
        for (name, task) in &dag.tasks {
            let at = format!("task `{name}`");
            for dependency in &task.dependent_tasks {
                if !dag.tasks.contains_key(dependency) {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: `dependentTasks` names `{dependency}`, which is not a task of the same DAG"
                    )));
                }
            }
            if task.parameter_iterator.is_some() || task.artifact_iterator.is_some() {
                return Err(invalid(format!(
                    "invalid pipeline: {at}: loops (`dsl.ParallelFor`, `parameterIterator`) are not supported yet"
                )));
            }
            if let Some(strategy) = task
                .trigger_policy
                .as_ref()
                .and_then(|policy| policy.strategy.as_deref())
            {
                if strategy != "ALL_UPSTREAM_TASKS_SUCCEEDED" {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: `triggerPolicy.strategy` `{strategy}` (exit handlers, ignore_upstream_failure) is not supported yet"
                    )));
                }
            }
            if let Some(condition) = task
                .trigger_policy
                .as_ref()
                .and_then(|policy| policy.condition.as_deref())
            {
                cel::Program::compile(condition).map_err(|error| {
                    invalid(format!(
                        "invalid pipeline: {at}: `triggerPolicy.condition` is not CEL: {error}"
                    ))
                })?;
            }
            let callee_name = &task.component_ref.name;
            let resolved = self
                .resolve(callee_name)
                .map_err(|error| invalid(format!("invalid pipeline: {at}: {}", error.message())))?;
            let callee = match &resolved {
                Resolved::Dag(component, _) | Resolved::Container(component, _) => *component,
            };
            // Inputs the component does not declare are allowed: the compiler passes
            // `pipelinechannel--…` values for placeholders in constants (f-strings).
            for (input, source) in &task.inputs.parameters {
                if let Some(parent) = &source.component_input_parameter {
                    if !component.input_definitions.parameters.contains_key(parent) {
                        return Err(invalid(format!(
                            "invalid pipeline: {at}: input `{input}` reads `{parent}`, which DAG `{path}` does not declare"
                        )));
                    }
                }
                if let Some(output) = &source.task_output_parameter {
                    self.check_producer(dag, &at, input, &output.producer_task)?;
                }
                if source.task_final_status.is_some() {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: input `{input}`: `taskFinalStatus` (exit handlers) is not supported yet"
                    )));
                }
                if source.component_input_parameter.is_none()
                    && source.task_output_parameter.is_none()
                    && source.runtime_value.is_none()
                {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: input `{input}` has no source Plinth supports"
                    )));
                }
            }
            for (input, source) in &task.inputs.artifacts {
                if let Some(output) = &source.task_output_artifact {
                    self.check_producer(dag, &at, input, &output.producer_task)?;
                }
                if let Some(parent) = &source.component_input_artifact {
                    if !component.input_definitions.artifacts.contains_key(parent) {
                        return Err(invalid(format!(
                            "invalid pipeline: {at}: input artifact `{input}` reads `{parent}`, which DAG `{path}` does not declare"
                        )));
                    }
                }
            }
            for (input, declared) in &callee.input_definitions.parameters {
                let given = task.inputs.parameters.contains_key(input);
                if !given && !declared.is_optional && declared.default_value.is_none() {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: required input parameter `{input}` of component `{callee_name}` is not given"
                    )));
                }
            }
            if let Resolved::Dag(child, child_dag) = resolved {
                if !seen.insert(callee_name.as_str()) {
                    return Err(invalid(format!(
                        "invalid pipeline: {at}: component `{callee_name}` contains itself"
                    )));
                }
                self.validate_dag(&format!("{path}/{name}"), child, child_dag, seen)?;
                seen.remove(callee_name.as_str());
            }
        }
        if let Some(cycle) = find_cycle(dag) {
            return Err(invalid(format!(
                "invalid pipeline: DAG `{path}`: the tasks depend on each other in a cycle: {}",
                cycle.join(" → ")
            )));
        }
        Ok(())
    }

    fn check_producer(
        &self,
        dag: &DagSpec,
        at: &str,
        input: &str,
        producer: &str,
    ) -> PipelineResult<()> {
        if !dag.tasks.contains_key(producer) {
            return Err(invalid(format!(
                "invalid pipeline: {at}: input `{input}` reads task `{producer}`, which is not a task of the same DAG"
            )));
        }
        Ok(())
    }
}

/// Returns a cycle of the DAG's dependencies (explicit and through inputs), if any.
pub fn find_cycle(dag: &DagSpec) -> Option<Vec<String>> {
    let edges = dependencies(dag);
    // 0 unvisited, 1 on the stack, 2 done.
    let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        node: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        mark: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match mark.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|n| n.to_string()).collect();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        mark.insert(node, 1);
        stack.push(node);
        if let Some(next) = edges.get(node) {
            for dependency in next {
                if let Some(cycle) = visit(dependency, edges, mark, stack) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        mark.insert(node, 2);
        None
    }
    for name in edges.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(name, &edges, &mut mark, &mut stack) {
            return Some(cycle);
        }
    }
    None
}

/// Each task's upstream tasks: `dependentTasks` and the producers of its inputs.
pub fn dependencies(dag: &DagSpec) -> BTreeMap<String, BTreeSet<String>> {
    dag.tasks
        .iter()
        .map(|(name, task)| {
            let mut upstream: BTreeSet<String> = task.dependent_tasks.iter().cloned().collect();
            upstream.extend(
                task.inputs
                    .parameters
                    .values()
                    .filter_map(|source| source.task_output_parameter.as_ref())
                    .map(|output| output.producer_task.clone()),
            );
            upstream.extend(
                task.inputs
                    .artifacts
                    .values()
                    .filter_map(|source| source.task_output_artifact.as_ref())
                    .map(|output| output.producer_task.clone()),
            );
            (name.clone(), upstream)
        })
        .collect()
}
