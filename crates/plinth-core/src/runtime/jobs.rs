//! Jobs: submit (admitted at once or queued behind the project's quota), list, show, stop,
//! logs and re-run; and the admission rules shared with interactive work, which is refused
//! instead of queued.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use plinth_executor::{
    ExecError, LogOptions, Placement, Resources, RestartPolicy, Taint, WorkloadHandle,
    WorkloadSpec, WorkloadStatus,
};
use plinth_metastore::{NewWorkload, WorkloadQuery, WorkloadTransition};
pub use plinth_types::{CustomSize, JobRequest, JobView};
use plinth_types::{
    ProjectQuota, ProjectUsageNow, ResourceClass, Role, Workload, WorkloadCommand, WorkloadKind,
    WorkloadState,
};
use serde_json::json;

use super::{format_bytes, format_cpu, RuntimeService};
use crate::{ClientInfo, CoreError, CoreResult, Principal, ProjectPass};

/// Largest number of arguments, environment variables and their total size in a job.
const MAX_COMMAND_PARTS: usize = 1000;
const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// Variables the platform sets; a job may not override them.
const RESERVED_ENV: &[&str] = &[
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_TOKEN",
    "PLINTH_URL",
    "PLINTH_TOKEN",
    "PLINTH_PROJECT",
    "PLINTH_JOB_ID",
    "PLINTH_TASK_DIR",
    "CUDA_VISIBLE_DEVICES",
];

/// A job's output as a stream of bytes.
pub type LogStream = BoxStream<'static, CoreResult<Bytes>>;

/// Why a request does not fit the quota, one sentence per limit.
pub(super) fn quota_shortfalls(
    quota: &ProjectQuota,
    usage: &ProjectUsageNow,
    kind: WorkloadKind,
    class: &ResourceClass,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(limit) = quota.cpu_millis {
        if usage.cpu_millis + u64::from(class.cpu_millis) > limit {
            reasons.push(format!(
                "CPU: {} of {} cores in use, `{}` needs {}",
                format_cpu(usage.cpu_millis),
                format_cpu(limit),
                class.name,
                format_cpu(class.cpu_millis.into())
            ));
        }
    }
    if let Some(limit) = quota.memory_bytes {
        if usage.memory_bytes + class.memory_bytes > limit {
            reasons.push(format!(
                "memory: {} of {} in use, `{}` needs {}",
                format_bytes(usage.memory_bytes),
                format_bytes(limit),
                class.name,
                format_bytes(class.memory_bytes)
            ));
        }
    }
    if let Some(limit) = quota.gpus {
        if class.gpus > 0 && usage.gpus + class.gpus > limit {
            reasons.push(format!(
                "GPUs: {} of {limit} in use, `{}` needs {}",
                usage.gpus, class.name, class.gpus
            ));
        }
    }
    let (count, limit, what) = match kind {
        WorkloadKind::Job => (usage.jobs, quota.max_jobs, "running jobs"),
        WorkloadKind::Workspace => (usage.workspaces, quota.max_workspaces, "workspaces"),
        WorkloadKind::Deployment => (usage.deployments, quota.max_deployments, "deployments"),
    };
    if let Some(limit) = limit {
        if count >= limit {
            reasons.push(format!("{what}: {count} of {limit}"));
        }
    }
    reasons
}

fn validate_request(request: &JobRequest) -> CoreResult<()> {
    let invalid = |message: String| Err(CoreError::InvalidArgument(message));
    if request
        .command
        .first()
        .is_none_or(|program| program.trim().is_empty())
    {
        return invalid("invalid `command`: must name a program".to_string());
    }
    let total: usize = request.command.iter().map(String::len).sum::<usize>()
        + request
            .env
            .iter()
            .map(|(key, value)| key.len() + value.len())
            .sum::<usize>();
    if request.command.len() + request.env.len() > MAX_COMMAND_PARTS || total > MAX_COMMAND_BYTES {
        return invalid(format!(
            "invalid `command`: at most {MAX_COMMAND_PARTS} arguments and variables and {} KiB in all",
            MAX_COMMAND_BYTES / 1024
        ));
    }
    if request
        .command
        .iter()
        .chain(request.env.values())
        .any(|part| part.contains('\0'))
    {
        return invalid("invalid `command`: must not contain NUL characters".to_string());
    }
    for name in request.env.keys() {
        let well_formed = !name.is_empty()
            && !name.as_bytes()[0].is_ascii_digit()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return invalid(format!(
                "invalid `env`: `{name}` is not a variable name (letters, digits and `_`)"
            ));
        }
        if RESERVED_ENV.contains(&name.as_str()) {
            return invalid(format!("invalid `env`: `{name}` is set by Plinth"));
        }
    }
    if let Some(name) = &request.name {
        if name.chars().count() > 200 || name.chars().any(char::is_control) {
            return invalid("invalid `name`: at most 200 printable characters".to_string());
        }
    }
    if let Some(snapshot) = &request.snapshot {
        super::snapshot::check_digest(snapshot)?;
    }
    Ok(())
}

fn default_name(command: &[String]) -> String {
    let program = command.first().map(String::as_str).unwrap_or("job");
    let base = program.rsplit('/').next().unwrap_or(program);
    let mut name = base.to_string();
    if let Some(first_arg) = command.get(1) {
        name.push(' ');
        name.push_str(first_arg.rsplit('/').next().unwrap_or(first_arg));
    }
    name.chars().take(200).collect()
}

/// Maps what the executor reports to the recorded state.
pub(super) fn observed(status: &WorkloadStatus) -> (WorkloadState, String, Option<i32>) {
    match status {
        WorkloadStatus::Pending { reason } => (WorkloadState::Pending, reason.clone(), None),
        WorkloadStatus::Running { .. } => (WorkloadState::Running, String::new(), None),
        WorkloadStatus::Succeeded => (WorkloadState::Succeeded, String::new(), Some(0)),
        WorkloadStatus::Failed { exit_code, reason } => {
            (WorkloadState::Failed, reason.clone(), *exit_code)
        }
        WorkloadStatus::Stopped => (
            WorkloadState::Stopped,
            "stopped on request".to_string(),
            None,
        ),
        WorkloadStatus::Lost { reason } => (WorkloadState::Lost, reason.clone(), None),
    }
}

pub(super) fn handle(id: &str) -> WorkloadHandle {
    WorkloadHandle {
        id: id.to_string(),
        ports: BTreeMap::new(),
    }
}

impl RuntimeService {
    /// Submits a job to a project (contributors). It starts at once when the project's
    /// quota allows, or waits in the project's queue with the reason shown. Anything wrong
    /// with the request — unknown class, bad command, missing snapshot, a GPU class on a
    /// machine without GPUs, a program that cannot start — is an error here, with nothing
    /// left behind.
    pub async fn submit_job(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        request: &JobRequest,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        self.submit(principal, pass, WorkloadKind::Job, request, None, client)
            .await
    }

    /// Submits the same job again (same class, command, environment and snapshot).
    pub async fn rerun_job(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        id: &str,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        let original = self.project_workload(pass, id).await?;
        let class = if original.class == "custom" {
            // A custom size rides on any class of the same pool.
            self.inner
                .store
                .list_resource_classes()
                .await?
                .into_iter()
                .find(|class| class.pool == original.pool)
                .map(|class| class.name)
                .ok_or_else(|| {
                    CoreError::Conflict(format!(
                        "no resource class uses the pool `{}` any more; submit the job again with a class",
                        original.pool
                    ))
                })?
        } else {
            original.class.clone()
        };
        let request = JobRequest {
            name: Some(original.name.clone()),
            class,
            command: original.spec.command.clone(),
            env: original.spec.env.clone(),
            snapshot: original.spec.snapshot.clone(),
            image: original.spec.image.clone(),
            custom_size: (original.class == "custom").then_some(CustomSize {
                cpu_millis: original.cpu_millis,
                memory_bytes: original.memory_bytes,
                gpus: original.gpus,
            }),
            // The same version again (its lock is fixed, so the same packages).
            environment: original
                .spec
                .environment
                .as_ref()
                .map(|environment| format!("{}:{}", environment.name, environment.version)),
        };
        self.submit(
            principal,
            pass,
            original.kind,
            &request,
            Some(original.id),
            client,
        )
        .await
    }

    /// Submits work of any kind: batch work queues behind the quota, interactive work
    /// (workspaces, deployments) is refused with what is in use, by whom, and which class
    /// would fit now.
    pub async fn submit(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        kind: WorkloadKind,
        request: &JobRequest,
        rerun_of: Option<String>,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        self.submit_with_ports(
            principal,
            pass,
            kind,
            request,
            rerun_of,
            Vec::new(),
            None,
            client,
        )
        .await
    }

    /// Submits a pipeline task: a job that may write `task_dir`, a folder the pipeline
    /// engine made for its inputs and outputs (`PLINTH_TASK_DIR` in its environment). Only
    /// the engine calls this; the jobs API cannot name a folder.
    pub async fn submit_pipeline_task(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        request: &JobRequest,
        task_dir: &std::path::Path,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        self.submit_with_ports(
            principal,
            pass,
            WorkloadKind::Job,
            request,
            None,
            Vec::new(),
            Some(task_dir.display().to_string()),
            client,
        )
        .await
    }

    /// Like [`RuntimeService::submit`], for a server listening on the named `ports`
    /// (allocated by the backend; the first is the one the gateway routes to).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn submit_with_ports(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        kind: WorkloadKind,
        request: &JobRequest,
        rerun_of: Option<String>,
        ports: Vec<String>,
        task_dir: Option<String>,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        principal.require_write()?;
        require_role(pass, Self::SUBMIT_ROLE)?;
        validate_request(request)?;
        self.check_isolation().await?;
        let class = match self.inner.store.get_resource_class(&request.class).await {
            Ok(class) => match request.custom_size {
                None => class,
                Some(size) => {
                    let quota = self
                        .inner
                        .store
                        .get_project_quota(&pass.project().id)
                        .await?;
                    if !quota.allow_custom_sizes {
                        return Err(CoreError::Forbidden(
                            "this project does not allow custom sizes; pick a class (an admin can allow custom sizes in the project's quota)".to_string(),
                        ));
                    }
                    if size.cpu_millis == 0 || size.memory_bytes == 0 {
                        return Err(CoreError::InvalidArgument(
                            "invalid `custom_size`: CPU and memory must be more than 0".to_string(),
                        ));
                    }
                    ResourceClass {
                        name: "custom".to_string(),
                        description: format!("custom size on the pool of `{}`", class.name),
                        cpu_millis: size.cpu_millis,
                        memory_bytes: size.memory_bytes,
                        gpus: size.gpus,
                        ..class
                    }
                }
            },
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                let names: Vec<String> = self
                    .inner
                    .store
                    .list_resource_classes()
                    .await?
                    .into_iter()
                    .map(|class| class.name)
                    .collect();
                return Err(CoreError::InvalidArgument(format!(
                    "invalid `class`: there is no resource class `{}`; choose one of {}",
                    request.class,
                    names.join(", ")
                )));
            }
            Err(error) => return Err(error.into()),
        };
        if let Err(plinth_metastore::StoreError::NotFound { .. }) =
            self.inner.store.get_node_pool(&class.pool).await
        {
            return Err(CoreError::InvalidArgument(format!(
                "invalid `class`: class `{}` names the node pool `{}`, which does not exist; ask an admin to fix the class",
                class.name, class.pool
            )));
        }
        if class.gpus > 0 && self.backend() == "local" {
            let available = self.capabilities().gpus.len();
            if available < class.gpus as usize {
                return Err(CoreError::InvalidArgument(if available == 0 {
                    format!(
                        "invalid `class`: `{}` needs {} GPU(s) and this machine has none",
                        class.name, class.gpus
                    )
                } else {
                    format!(
                        "invalid `class`: `{}` needs {} GPUs and this machine has only {available}",
                        class.name, class.gpus
                    )
                }));
            }
        }
        if let Some(snapshot) = &request.snapshot {
            self.snapshot_info(&pass.project().id, snapshot).await?;
        }
        // Resolved and built now (the first use of a version builds it), so a job never
        // fails later for a reason known at submission.
        let environment = match self.inner.environments.get() {
            Some(provider) => {
                provider
                    .prepare(pass, request.environment.as_deref())
                    .await?
            }
            None if request.environment.is_some() => {
                return Err(CoreError::Unavailable(
                    "environments are not set up on this server".to_string(),
                ))
            }
            None => None,
        };

        let project_id = pass.project().id.clone();
        let id = plinth_types::new_id();
        let spec = WorkloadCommand {
            command: request.command.clone(),
            env: request.env.clone(),
            snapshot: request.snapshot.clone(),
            image: request.image.clone(),
            ports,
            environment,
            task_dir,
        };
        let name = request
            .name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| default_name(&request.command));

        let admitted = {
            let _admission = self.inner.admission.lock().await;
            let quota = self.inner.store.get_project_quota(&project_id).await?;
            let usage = self.inner.store.project_usage_now(&project_id).await?;
            let shortfalls = quota_shortfalls(&quota, &usage, kind, &class);
            // Batch work also waits behind work queued before it.
            let fits = shortfalls.is_empty() && (kind != WorkloadKind::Job || usage.queued == 0);
            if !fits && kind != WorkloadKind::Job {
                return Err(CoreError::Conflict(
                    self.refusal(&project_id, &quota, &usage, kind, &class, &shortfalls)
                        .await?,
                ));
            }
            let (state, reason) = if fits {
                (WorkloadState::Starting, String::new())
            } else if usage.queued > 0 {
                (
                    WorkloadState::Queued,
                    "waiting behind jobs queued before it".to_string(),
                )
            } else {
                (
                    WorkloadState::Queued,
                    format!("waiting for quota: {}", shortfalls.join("; ")),
                )
            };
            let workload = self
                .inner
                .store
                .create_workload(&NewWorkload {
                    id: id.clone(),
                    project_id: project_id.clone(),
                    kind,
                    name,
                    class: class.clone(),
                    spec,
                    state,
                    reason,
                    created_by: principal.user().id.clone(),
                    rerun_of,
                    backend: self.backend().to_string(),
                    created_at_ms: self.now(),
                })
                .await?;
            if fits {
                self.inner
                    .launching
                    .lock()
                    .expect("launching set lock")
                    .insert(id.clone());
            }
            (fits, workload)
        };
        let (fits, workload) = admitted;
        if fits {
            let launched = self.launch(&workload).await;
            self.inner
                .launching
                .lock()
                .expect("launching set lock")
                .remove(&id);
            if let Err(error) = launched {
                // Nothing half-created: the record goes, the executor has nothing.
                if let Err(cleanup) = self.inner.store.delete_workload(&id).await {
                    tracing::error!(workload = %id, error = %cleanup, "cannot remove a workload that failed to start");
                }
                return Err(error);
            }
        } else {
            self.inner.wake.notify_one();
        }
        let project = pass.project();
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "job.submit",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                json!({ "job": id, "class": class.name, "command": request.command, "queued": !fits }),
            )
            .await;
        self.job_view(self.inner.store.get_workload(&id).await?)
            .await
    }

    /// Explains why interactive work cannot start now.
    async fn refusal(
        &self,
        project_id: &str,
        quota: &ProjectQuota,
        usage: &ProjectUsageNow,
        kind: WorkloadKind,
        class: &ResourceClass,
        shortfalls: &[String],
    ) -> CoreResult<String> {
        let holders = self
            .inner
            .store
            .list_workloads(&WorkloadQuery {
                project_ids: Some(vec![project_id.to_string()]),
                states: vec![
                    WorkloadState::Starting,
                    WorkloadState::Pending,
                    WorkloadState::Running,
                ],
                limit: 50,
                ..WorkloadQuery::default()
            })
            .await?;
        let mut message = format!("the project's quota is full: {}.", shortfalls.join("; "));
        if !holders.is_empty() {
            let listed: Vec<String> = holders
                .iter()
                .map(|workload| {
                    format!(
                        "{} ({} `{}`, {} CPU, {})",
                        workload.created_by_username,
                        workload.kind.as_str(),
                        workload.name,
                        format_cpu(workload.cpu_millis.into()),
                        format_bytes(workload.memory_bytes)
                    )
                })
                .collect();
            message.push_str(&format!(" In use by: {}.", listed.join(", ")));
        }
        let classes = self.inner.store.list_resource_classes().await?;
        let smaller = classes
            .iter()
            .filter(|candidate| candidate.name != class.name && candidate.gpus <= class.gpus)
            .filter(|candidate| quota_shortfalls(quota, usage, kind, candidate).is_empty())
            .max_by_key(|candidate| (candidate.cpu_millis, candidate.memory_bytes));
        match smaller {
            Some(candidate) => message.push_str(&format!(
                " `{}` ({} CPU, {}) would fit now.",
                candidate.name,
                format_cpu(candidate.cpu_millis.into()),
                format_bytes(candidate.memory_bytes)
            )),
            None => message.push_str(
                " No smaller class fits now; stop something or ask an admin for more quota.",
            ),
        }
        Ok(message)
    }

    /// Hands an admitted workload to the executor: its token, environment, working files.
    /// On failure nothing stays behind in the executor, the object store or the tokens.
    pub(super) async fn launch(&self, workload: &Workload) -> CoreResult<()> {
        let pool = self.inner.store.get_node_pool(&workload.pool).await.ok();
        let creator = plinth_types::UserId::from_stored(workload.created_by.clone());
        if let Some(old) = self.inner.store.workload_token(&workload.id).await? {
            self.inner
                .identity
                .revoke_workload_token(&creator, &old)
                .await?;
        }
        let (token_id, token) = self
            .inner
            .identity
            .issue_workload_token(
                &creator,
                &workload.project_id,
                &workload.id,
                self.inner.settings.workload_token_lifetime,
            )
            .await?;
        self.inner
            .store
            .set_workload_token(&workload.id, Some(&token_id))
            .await?;
        let result = self.launch_with_token(workload, pool, &token).await;
        if result.is_err() {
            let _ = self
                .inner
                .identity
                .revoke_workload_token(&creator, &token_id)
                .await;
            let _ = self
                .inner
                .store
                .set_workload_token(&workload.id, None)
                .await;
            self.remove_working_dir(&workload.id).await;
        }
        result
    }

    async fn launch_with_token(
        &self,
        workload: &Workload,
        pool: Option<plinth_types::NodePool>,
        token: &str,
    ) -> CoreResult<()> {
        let creator = plinth_types::UserId::from_stored(workload.created_by.clone());
        let project = self
            .inner
            .store
            .get_project_by_id(&workload.project_id, &creator)
            .await?
            .project;
        let (project_org, project_name) =
            (project.organization.to_string(), project.name.to_string());
        let project = format!("{project_org}/{project_name}");
        let public_url = self
            .inner
            .settings
            .public_url
            .trim_end_matches('/')
            .to_string();
        let mut env = workload.spec.env.clone();
        let mut mounts = Vec::new();
        if let Some(environment) = &workload.spec.environment {
            // The job's own variables win over its environment's.
            for (name, value) in &environment.env {
                env.entry(name.clone()).or_insert_with(|| value.clone());
            }
            mounts.extend(
                environment
                    .read_only_paths
                    .iter()
                    .map(|path| plinth_executor::Mount {
                        path: path.into(),
                        writable: false,
                    }),
            );
        }
        env.insert("MLFLOW_TRACKING_URI".to_string(), public_url.clone());
        env.insert("PLINTH_URL".to_string(), public_url.clone());
        env.insert("PLINTH_PROJECT".to_string(), project.clone());
        env.insert("PLINTH_JOB_ID".to_string(), workload.id.clone());
        if let Some(task_dir) = &workload.spec.task_dir {
            env.insert("PLINTH_TASK_DIR".to_string(), task_dir.clone());
            mounts.push(plinth_executor::Mount {
                path: task_dir.into(),
                writable: true,
            });
        }
        env.entry("PYTHONUNBUFFERED".to_string())
            .or_insert_with(|| "1".to_string());
        let secret_env = BTreeMap::from([
            ("MLFLOW_TRACKING_TOKEN".to_string(), token.to_string()),
            ("PLINTH_TOKEN".to_string(), token.to_string()),
        ]);
        let local = self.backend() == "local";
        let (working_dir, files) = match &workload.spec.snapshot {
            Some(digest) if local => (Some(self.materialize(workload, digest).await?), None),
            Some(digest) => (
                None,
                Some(plinth_executor::WorkingFiles {
                    url: format!("{public_url}/api/v1/orgs/{project_org}/projects/{project_name}/snapshots/{digest}"),
                    sha256: digest.clone(),
                }),
            ),
            None => (None, None),
        };
        let placement = pool
            .map(|pool| Placement {
                pool: pool.name,
                node_selector: pool.node_selector,
                tolerations: pool
                    .taints
                    .into_iter()
                    .map(|taint| Taint {
                        key: taint.key,
                        value: taint.value,
                        effect: taint.effect,
                    })
                    .collect(),
            })
            .unwrap_or_else(|| Placement {
                pool: workload.pool.clone(),
                ..Placement::default()
            });
        let spec = WorkloadSpec {
            id: workload.id.clone(),
            name: workload.name.clone(),
            project: workload.project_id.clone(),
            kind: match workload.kind {
                WorkloadKind::Job => plinth_executor::WorkloadKind::Batch,
                WorkloadKind::Workspace | WorkloadKind::Deployment => {
                    plinth_executor::WorkloadKind::Service
                }
            },
            image: workload.spec.image.clone().or_else(|| {
                workload
                    .spec
                    .environment
                    .as_ref()
                    .and_then(|environment| environment.image.clone())
            }),
            command: workload.spec.command.clone(),
            env,
            secret_env,
            working_dir,
            files,
            ports: workload.spec.ports.clone(),
            resources: Resources {
                cpu_millis: workload.cpu_millis,
                memory_bytes: workload.memory_bytes,
                gpus: workload.gpus,
            },
            placement,
            restart: match workload.kind {
                WorkloadKind::Job => RestartPolicy::Never,
                _ => RestartPolicy::Always,
            },
            labels: BTreeMap::from([
                (
                    "plinth.dev/kind".to_string(),
                    workload.kind.as_str().to_string(),
                ),
                (
                    "plinth.dev/user".to_string(),
                    workload.created_by_username.clone(),
                ),
                ("plinth.dev/class".to_string(), workload.class.clone()),
            ]),
            mounts,
        };
        let server = (spec.kind == plinth_executor::WorkloadKind::Service).then(|| spec.clone());
        match self.inner.executor.submit(spec).await {
            Ok(handle) => {
                if let Some(spec) = server {
                    self.record_endpoints(&spec, &handle).await?;
                }
            }
            // Submitted before a crash: the executor has it, adopt it.
            Err(ExecError::AlreadyExists(_)) => {}
            Err(
                error @ (ExecError::InvalidSpec { .. }
                | ExecError::CannotStart { .. }
                | ExecError::Unsatisfiable(_)),
            ) => {
                return Err(CoreError::InvalidArgument(error.to_string()));
            }
            Err(error) => return Err(CoreError::Executor(error)),
        }
        let at_ms = self.now();
        let status = self
            .inner
            .executor
            .status(&handle(&workload.id))
            .await
            .unwrap_or(WorkloadStatus::Pending {
                reason: "handed to the backend".to_string(),
            });
        let (state, reason, exit_code) = observed(&status);
        // `running` first, so the start time is recorded even for work that ended at once.
        if state.is_finished() {
            self.inner
                .store
                .transition_workload(
                    &workload.id,
                    &WorkloadTransition {
                        state: WorkloadState::Running,
                        reason: String::new(),
                        exit_code: None,
                        at_ms,
                    },
                )
                .await?;
            self.wake_reconciler();
        } else {
            self.inner
                .store
                .transition_workload(
                    &workload.id,
                    &WorkloadTransition {
                        state,
                        reason,
                        exit_code,
                        at_ms,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Records where a server just handed to the backend listens: its first named port on
    /// the host the backend names (one replica). The gateway routes to what is recorded.
    async fn record_endpoints(
        &self,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
    ) -> CoreResult<()> {
        let Some(port) = spec.ports.first().and_then(|name| handle.ports.get(name)) else {
            return Ok(());
        };
        let host = self
            .inner
            .executor
            .endpoint_host(spec)
            .map_err(CoreError::Executor)?;
        let endpoints = [plinth_types::WorkloadEndpoint {
            replica: 0,
            host,
            port: *port,
        }];
        if let Err(error) = self
            .inner
            .store
            .set_workload_endpoints(&spec.id, &endpoints)
            .await
        {
            // Nothing half-created: the backend's copy goes too.
            let _ = self.inner.executor.stop(handle, Duration::ZERO).await;
            let _ = self.inner.executor.remove(handle).await;
            return Err(error.into());
        }
        Ok(())
    }

    pub(super) fn wake_reconciler(&self) {
        self.inner.wake.notify_one();
    }

    async fn project_workload(&self, pass: &ProjectPass, id: &str) -> CoreResult<Workload> {
        let not_found = || CoreError::NotFound {
            entity: "job",
            id: id.to_string(),
        };
        let workload = match self.inner.store.get_workload(id).await {
            Ok(workload) => workload,
            Err(plinth_metastore::StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error.into()),
        };
        if workload.project_id != pass.project().id {
            return Err(not_found());
        }
        Ok(workload)
    }

    async fn job_view(&self, job: Workload) -> CoreResult<JobView> {
        let queue_position = if job.state == WorkloadState::Queued {
            let mut queued = self
                .inner
                .store
                .list_workloads(&WorkloadQuery {
                    project_ids: Some(vec![job.project_id.clone()]),
                    states: vec![WorkloadState::Queued],
                    limit: 1000,
                    ..WorkloadQuery::default()
                })
                .await?;
            queued.reverse();
            queued
                .iter()
                .position(|other| other.id == job.id)
                .map(|index| index as u32 + 1)
        } else {
            None
        };
        let duration_ms = job
            .started_at_ms
            .map(|start| job.finished_at_ms.unwrap_or_else(|| self.now()) - start);
        Ok(JobView {
            job,
            queue_position,
            duration_ms,
        })
    }

    /// One job of the project (viewers).
    pub async fn get_job(&self, pass: &ProjectPass, id: &str) -> CoreResult<JobView> {
        let job = self.project_workload(pass, id).await?;
        self.job_view(job).await
    }

    /// The project's jobs, newest first, keyset-paged by `before` (`created_at_ms`, id).
    pub async fn list_jobs(
        &self,
        pass: &ProjectPass,
        states: Vec<WorkloadState>,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> CoreResult<Vec<JobView>> {
        let jobs = self
            .inner
            .store
            .list_workloads(&WorkloadQuery {
                project_ids: Some(vec![pass.project().id.clone()]),
                kind: Some(WorkloadKind::Job),
                states,
                before,
                limit,
            })
            .await?;
        let mut views = Vec::with_capacity(jobs.len());
        let mut position = BTreeMap::new();
        let queued: Vec<&Workload> = jobs
            .iter()
            .filter(|job| job.state == WorkloadState::Queued)
            .collect();
        if !queued.is_empty() {
            // One query for every queued job's position.
            let mut all = self
                .inner
                .store
                .list_workloads(&WorkloadQuery {
                    project_ids: Some(vec![pass.project().id.clone()]),
                    states: vec![WorkloadState::Queued],
                    limit: 1000,
                    ..WorkloadQuery::default()
                })
                .await?;
            all.reverse();
            for (index, job) in all.iter().enumerate() {
                position.insert(job.id.clone(), index as u32 + 1);
            }
        }
        let now = self.now();
        for job in jobs {
            let duration_ms = job
                .started_at_ms
                .map(|start| job.finished_at_ms.unwrap_or(now) - start);
            views.push(JobView {
                queue_position: position.get(&job.id).copied(),
                duration_ms,
                job,
            });
        }
        Ok(views)
    }

    /// Stops a job (contributors): a queued job is dropped from the queue; a running one
    /// gets SIGTERM, then SIGKILL after the grace period.
    pub async fn stop_job(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        id: &str,
        client: &ClientInfo,
    ) -> CoreResult<JobView> {
        principal.require_write()?;
        require_role(pass, Self::SUBMIT_ROLE)?;
        let job = self.project_workload(pass, id).await?;
        if job.state.is_finished() {
            return self.job_view(job).await;
        }
        self.inner.store.request_workload_stop(id).await?;
        if job.state == WorkloadState::Queued {
            let _admission = self.inner.admission.lock().await;
            self.inner
                .store
                .transition_workload(
                    id,
                    &WorkloadTransition {
                        state: WorkloadState::Stopped,
                        reason: format!(
                            "stopped by {} before it started",
                            principal.user().username
                        ),
                        exit_code: None,
                        at_ms: self.now(),
                    },
                )
                .await?;
        } else {
            let executor = std::sync::Arc::clone(&self.inner.executor);
            let grace = self.inner.settings.stop_grace_period;
            let service = self.clone();
            let id_owned = id.to_string();
            tokio::spawn(async move {
                if let Err(error) = executor.stop(&handle(&id_owned), grace).await {
                    tracing::warn!(workload = %id_owned, %error, "stop failed; the reconciler will retry");
                }
                service.wake_reconciler();
            });
        }
        let project = pass.project();
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "job.stop",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                json!({ "job": id }),
            )
            .await;
        self.job_view(self.inner.store.get_workload(id).await?)
            .await
    }

    /// A job's output (viewers). With `follow`, the stream waits for a queued job to start
    /// and ends when the job ends.
    pub async fn job_logs(
        &self,
        pass: &ProjectPass,
        id: &str,
        options: LogOptions,
    ) -> CoreResult<LogStream> {
        let job = self.project_workload(pass, id).await?;
        let waiting = matches!(job.state, WorkloadState::Queued | WorkloadState::Starting);
        if waiting && !options.follow {
            return Ok(stream::empty().boxed());
        }
        if waiting {
            // Wait for the start (or the end without a start), then stream.
            let service = self.clone();
            let id = id.to_string();
            let wait = async move {
                loop {
                    let job = service.inner.store.get_workload(&id).await?;
                    match job.state {
                        WorkloadState::Queued | WorkloadState::Starting => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        WorkloadState::Stopped | WorkloadState::Lost
                            if job.started_at_ms.is_none() =>
                        {
                            return Ok::<_, CoreError>(stream::empty().boxed());
                        }
                        _ => return service.executor_logs(&id, options).await,
                    }
                }
            };
            return Ok(stream::once(wait)
                .flat_map(|result| match result {
                    Ok(stream) => stream,
                    Err(error) => stream::once(async move { Err(error) }).boxed(),
                })
                .boxed());
        }
        self.executor_logs(id, options).await
    }

    async fn executor_logs(&self, id: &str, options: LogOptions) -> CoreResult<LogStream> {
        match self.inner.executor.logs(&handle(id), options).await {
            Ok(stream) => Ok(stream
                .map(|chunk| chunk.map_err(CoreError::Executor))
                .boxed()),
            // Lost or removed on the backend: no output to show.
            Err(ExecError::NotFound(_)) => Ok(stream::empty().boxed()),
            Err(error) => Err(CoreError::Executor(error)),
        }
    }
}

/// Fails unless the pass carries at least `needed` (platform admins pass).
pub(super) fn require_role(pass: &ProjectPass, needed: Role) -> CoreResult<()> {
    match pass.role() {
        Some(role) if role < needed => Err(CoreError::Forbidden(format!(
            "needs the `{}` role in the project",
            needed.as_str()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, cpu: u32, gib: u64, gpus: u32) -> ResourceClass {
        ResourceClass {
            name: name.to_string(),
            pool: "compute".to_string(),
            description: String::new(),
            cpu_millis: cpu,
            memory_bytes: gib << 30,
            gpus,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn shortfalls_name_each_limit() {
        let quota = ProjectQuota {
            cpu_millis: Some(4000),
            memory_bytes: Some(8 << 30),
            gpus: Some(1),
            max_jobs: Some(2),
            ..ProjectQuota::default()
        };
        let usage = ProjectUsageNow {
            cpu_millis: 3000,
            memory_bytes: 4 << 30,
            gpus: 1,
            jobs: 2,
            ..ProjectUsageNow::default()
        };
        assert_eq!(
            quota_shortfalls(&quota, &usage, WorkloadKind::Job, &class("big", 2000, 8, 1)),
            [
                "CPU: 3 of 4 cores in use, `big` needs 2",
                "memory: 4 GiB of 8 GiB in use, `big` needs 8 GiB",
                "GPUs: 1 of 1 in use, `big` needs 1",
                "running jobs: 2 of 2",
            ]
        );
        assert!(quota_shortfalls(
            &quota,
            &usage,
            WorkloadKind::Workspace,
            &class("tiny", 500, 1, 0)
        )
        .is_empty());
        assert!(quota_shortfalls(
            &ProjectQuota::default(),
            &usage,
            WorkloadKind::Job,
            &class("huge", 64_000, 512, 8)
        )
        .is_empty());
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let ok = JobRequest {
            class: "small".to_string(),
            command: vec!["python".to_string(), "train.py".to_string()],
            ..JobRequest::default()
        };
        assert!(validate_request(&ok).is_ok());
        let cases = [
            (
                JobRequest {
                    command: Vec::new(),
                    ..ok.clone()
                },
                "invalid `command`: must name a program",
            ),
            (
                JobRequest {
                    env: BTreeMap::from([("1X".to_string(), "y".to_string())]),
                    ..ok.clone()
                },
                "invalid `env`: `1X` is not a variable name (letters, digits and `_`)",
            ),
            (
                JobRequest {
                    env: BTreeMap::from([("PLINTH_TOKEN".to_string(), "y".to_string())]),
                    ..ok.clone()
                },
                "invalid `env`: `PLINTH_TOKEN` is set by Plinth",
            ),
            (
                JobRequest {
                    snapshot: Some("../../etc/passwd".to_string()),
                    ..ok.clone()
                },
                "invalid `snapshot`: must be a SHA-256 digest (64 lower-case hex digits)",
            ),
        ];
        for (request, message) in cases {
            assert_eq!(validate_request(&request).unwrap_err().to_string(), message);
        }
        assert_eq!(default_name(&ok.command), "python train.py");
    }
}
