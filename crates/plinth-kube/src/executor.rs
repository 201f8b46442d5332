//! The [`Executor`] implementation: API calls around the pure functions of
//! [`crate::manifests`] and [`crate::status`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{AsyncReadExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt as _};
use kube::Api;
use plinth_executor::{
    Capabilities, ExecError, ExecResult, Executor, Isolation, IsolationLevel, LogOptions,
    Mechanism, WorkloadHandle, WorkloadKind, WorkloadSpec, WorkloadStatus,
};
use serde::de::DeserializeOwned;

use crate::error::{api_code, call_failed};
use crate::manifests::{
    self, namespace_manifest, network_policy_manifest, object_name, owner_reference,
    ports_from_annotations, workload_selector, Controller, WorkloadManifests, MAIN_CONTAINER,
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, STOPPED_ANNOTATION, WORKLOAD_LABEL,
};
use crate::status::{deployment_status, is_stopped, job_has_ended, job_status};
use crate::{KubernetesExecutor, Location};

/// How often `logs` with `follow` looks again for a pod whose program has started.
const LOG_WAIT_INTERVAL: Duration = Duration::from_secs(1);

/// Returns whether `id` can be a workload id (and so is safe in a label selector).
fn is_valid_id(id: &str) -> bool {
    WorkloadSpec {
        id: id.to_string(),
        command: vec!["-".to_string()],
        ..WorkloadSpec::default()
    }
    .validate()
    .is_ok()
}

impl KubernetesExecutor {
    /// Creates `project`'s namespace and its NetworkPolicy (ingress only from the platform
    /// namespace, egress only to DNS, the project, the Plinth API and outside the private
    /// ranges). An existing namespace is left alone; an existing policy is brought up to
    /// date (server-side apply), so an upgrade tightens namespaces made by an older Plinth.
    /// Returns the namespace's name.
    pub async fn ensure_namespace(&self, project: &str) -> ExecResult<String> {
        let namespace = namespace_manifest(&self.settings, project)?;
        let name = manifests::namespace_name(&self.settings, project)?;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => tracing::info!(namespace = %name, project, "created project namespace"),
            Err(error) if api_code(&error) == Some(409) => {}
            Err(error) => return Err(call_failed(format!("create namespace `{name}`"), error)),
        }
        let policy = network_policy_manifest(&self.settings, project)?;
        let policies: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &name);
        let created = match policies.create(&PostParams::default(), &policy).await {
            Err(error) if api_code(&error) == Some(409) => policies
                .patch(
                    manifests::NETWORK_POLICY_NAME,
                    &PatchParams::apply("plinth").force(),
                    &Patch::Apply(&policy),
                )
                .await
                .map(drop),
            other => other.map(drop),
        };
        match created {
            Ok(()) => {}
            Err(error) => {
                return Err(call_failed(
                    format!(
                        "create NetworkPolicy `{}` in namespace `{name}`",
                        manifests::NETWORK_POLICY_NAME
                    ),
                    error,
                ))
            }
        }
        Ok(name)
    }

    fn remember(&self, id: &str, location: Location) {
        if let Ok(mut located) = self.located.lock() {
            located.insert(id.to_string(), location);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut located) = self.located.lock() {
            located.remove(id);
        }
    }

    /// Finds the namespace and kind of workload `id`: from the cache, else by its label
    /// across the namespaces with Plinth's prefix.
    async fn locate(&self, id: &str) -> ExecResult<Location> {
        if !is_valid_id(id) {
            return Err(ExecError::NotFound(id.to_string()));
        }
        if let Some(location) = self
            .located
            .lock()
            .ok()
            .and_then(|located| located.get(id).cloned())
        {
            return Ok(location);
        }
        let params = ListParams::default().labels(&workload_selector(id));
        let prefix = &self.settings.namespace_prefix;
        let jobs: Api<Job> = Api::all(self.client.clone());
        let found = jobs
            .list(&params)
            .await
            .map_err(|error| call_failed(format!("look up Job of workload `{id}`"), error))?;
        let mut location = found
            .items
            .iter()
            .filter_map(|job| job.metadata.namespace.clone())
            .find(|namespace| namespace.starts_with(prefix))
            .map(|namespace| Location {
                namespace,
                kind: WorkloadKind::Batch,
            });
        if location.is_none() {
            let deployments: Api<Deployment> = Api::all(self.client.clone());
            let found = deployments.list(&params).await.map_err(|error| {
                call_failed(format!("look up Deployment of workload `{id}`"), error)
            })?;
            location = found
                .items
                .iter()
                .filter_map(|deployment| deployment.metadata.namespace.clone())
                .find(|namespace| namespace.starts_with(prefix))
                .map(|namespace| Location {
                    namespace,
                    kind: WorkloadKind::Service,
                });
        }
        let location = location.ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        self.remember(id, location.clone());
        Ok(location)
    }

    fn workload(&self, id: &str, location: &Location) -> Workload {
        Workload {
            client: self.client.clone(),
            id: id.to_string(),
            location: location.clone(),
        }
    }

    /// Reads the Job or Deployment of workload `id`; a 404 forgets the workload.
    async fn get<K>(&self, id: &str, location: &Location) -> ExecResult<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let result = self.workload(id, location).get().await;
        if let Err(ExecError::NotFound(_)) = &result {
            self.forget(id);
        }
        result
    }

    /// Returns the state of workload `id`; a 404 forgets the workload.
    async fn current_status(&self, id: &str, location: &Location) -> ExecResult<WorkloadStatus> {
        let result = self.workload(id, location).status().await;
        if let Err(ExecError::NotFound(_)) = &result {
            self.forget(id);
        }
        result
    }

    /// Deletes one object, ignoring its absence; used to undo a half-done submit and by
    /// `remove`.
    async fn delete_object<K>(&self, namespace: &str, name: &str) -> ExecResult<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(error) if api_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(call_failed(
                format!(
                    "delete {} `{name}` in namespace `{namespace}`",
                    K::kind(&K::DynamicType::default())
                ),
                error,
            )),
        }
    }

    /// Undoes a submit that failed half-way: deletes what it created, newest first.
    async fn undo(&self, namespace: &str, created: Vec<Created>) {
        for object in created.into_iter().rev() {
            let (kind, name, result) = match &object {
                Created::Job(name) => (
                    "Job",
                    name,
                    self.delete_object::<Job>(namespace, name).await,
                ),
                Created::Deployment(name) => (
                    "Deployment",
                    name,
                    self.delete_object::<Deployment>(namespace, name).await,
                ),
                Created::Secret(name) => (
                    "Secret",
                    name,
                    self.delete_object::<Secret>(namespace, name).await,
                ),
                Created::Service(name) => (
                    "Service",
                    name,
                    self.delete_object::<Service>(namespace, name).await,
                ),
            };
            if let Err(error) = result {
                tracing::warn!(namespace, kind, name = %name, error = %crate::error::chain(&error), "cannot undo a failed submit; delete it by hand");
            }
        }
    }

    /// Creates the objects of a workload whose namespace exists; on failure deletes what it
    /// created.
    async fn create_workload(
        &self,
        spec: &WorkloadSpec,
        built: WorkloadManifests,
    ) -> ExecResult<()> {
        let namespace = built.namespace.clone();
        let name = object_name(&spec.id);
        let post = PostParams::default();
        let mut created = Vec::new();
        // Pods must not start before their Secret exists, and the Secret must be owned by
        // the Job or Deployment (which needs its uid): create that one idle (a suspended
        // Job, a Deployment of 0 replicas), then the Secret and Service, then let it run.
        let needs_start = built.secret.is_some();
        let mut controller = built.controller;
        if needs_start {
            controller.make_idle();
        }
        let created_controller = match controller {
            Controller::Job(job) => {
                let jobs: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
                let job =
                    jobs.create(&post, &job)
                        .await
                        .map_err(|error| match api_code(&error) {
                            Some(409) => ExecError::AlreadyExists(spec.id.clone()),
                            _ => call_failed(
                                format!("create Job `{name}` in namespace `{namespace}`"),
                                error,
                            ),
                        })?;
                created.push(Created::Job(name.clone()));
                Controller::Job(Box::new(job))
            }
            Controller::Deployment(deployment) => {
                let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &namespace);
                let deployment = deployments
                    .create(&post, &deployment)
                    .await
                    .map_err(|error| match api_code(&error) {
                        Some(409) => ExecError::AlreadyExists(spec.id.clone()),
                        _ => call_failed(
                            format!("create Deployment `{name}` in namespace `{namespace}`"),
                            error,
                        ),
                    })?;
                created.push(Created::Deployment(name.clone()));
                Controller::Deployment(Box::new(deployment))
            }
        };
        let owner = owner_reference(&created_controller);
        let result = async {
            if let Some(mut secret) = built.secret {
                secret.metadata.owner_references = owner.clone().map(|owner| vec![owner]);
                let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
                secrets.create(&post, &secret).await.map_err(|error| {
                    call_failed(
                        format!("create Secret `{name}` in namespace `{namespace}`"),
                        error,
                    )
                })?;
                created.push(Created::Secret(name.clone()));
            }
            if let Some(mut service) = built.service {
                service.metadata.owner_references = owner.clone().map(|owner| vec![owner]);
                let services: Api<Service> = Api::namespaced(self.client.clone(), &namespace);
                services.create(&post, &service).await.map_err(|error| {
                    call_failed(
                        format!("create Service `{name}` in namespace `{namespace}`"),
                        error,
                    )
                })?;
                created.push(Created::Service(name.clone()));
            }
            if needs_start {
                self.start(&created_controller, &namespace, &name).await?;
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            self.undo(&namespace, created).await;
            return Err(error);
        }
        Ok(())
    }

    /// Lets an idle Job or Deployment run (see `create_workload`).
    async fn start(&self, controller: &Controller, namespace: &str, name: &str) -> ExecResult<()> {
        let patch = PatchParams::default();
        match controller {
            Controller::Job(_) => {
                let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
                let body = serde_json::json!({ "spec": { "suspend": false } });
                jobs.patch(name, &patch, &Patch::Merge(&body))
                    .await
                    .map_err(|error| {
                        call_failed(
                            format!("start Job `{name}` in namespace `{namespace}`"),
                            error,
                        )
                    })?;
            }
            Controller::Deployment(_) => {
                let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
                let body = serde_json::json!({ "spec": { "replicas": 1 } });
                deployments
                    .patch(name, &patch, &Patch::Merge(&body))
                    .await
                    .map_err(|error| {
                        call_failed(
                            format!("start Deployment `{name}` in namespace `{namespace}`"),
                            error,
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// One located workload, with what is needed to read it from a stream that outlives the
/// call that made it.
#[derive(Clone)]
struct Workload {
    client: kube::Client,
    id: String,
    location: Location,
}

impl Workload {
    /// Reads the workload's Job or Deployment; a 404 is `NotFound`.
    async fn get<K>(&self) -> ExecResult<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let namespace = &self.location.namespace;
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let name = object_name(&self.id);
        match api.get(&name).await {
            Ok(object) => Ok(object),
            Err(error) if api_code(&error) == Some(404) => {
                Err(ExecError::NotFound(self.id.clone()))
            }
            Err(error) => Err(call_failed(
                format!(
                    "read {} `{name}` in namespace `{namespace}`",
                    K::kind(&K::DynamicType::default()),
                ),
                error,
            )),
        }
    }

    async fn pods(&self) -> ExecResult<Vec<Pod>> {
        let namespace = &self.location.namespace;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        pods.list(&ListParams::default().labels(&workload_selector(&self.id)))
            .await
            .map(|list| list.items)
            .map_err(|error| {
                call_failed(
                    format!(
                        "list pods of workload `{}` in namespace `{namespace}`",
                        self.id
                    ),
                    error,
                )
            })
    }

    async fn status(&self) -> ExecResult<WorkloadStatus> {
        match self.location.kind {
            WorkloadKind::Batch => {
                let job: Job = self.get().await?;
                Ok(job_status(&job, &self.pods().await?))
            }
            WorkloadKind::Service => {
                let deployment: Deployment = self.get().await?;
                Ok(deployment_status(&deployment, &self.pods().await?))
            }
        }
    }

    /// Streams the main container's output of the newest pod that has started; with
    /// `follow`, first waits for such a pod (or for the workload to end).
    async fn log_chunks(
        self,
        first_look: Option<String>,
        options: LogOptions,
    ) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>> {
        let mut pod = first_look;
        while pod.is_none() && options.follow {
            if self.status().await?.is_finished() {
                break;
            }
            tokio::time::sleep(LOG_WAIT_INTERVAL).await;
            pod = newest_started(&self.pods().await?);
        }
        let Some(pod) = pod else {
            return Ok(stream::empty().boxed());
        };
        let namespace = &self.location.namespace;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: Some(MAIN_CONTAINER.to_string()),
            follow: options.follow,
            tail_lines: options.tail_lines.map(i64::from),
            ..LogParams::default()
        };
        let reader = pods.log_stream(&pod, &params).await.map_err(|error| {
            call_failed(
                format!("read the logs of pod `{pod}` in namespace `{namespace}`"),
                error,
            )
        })?;
        let chunks = stream::unfold((Box::pin(reader), false), |(mut reader, done)| async move {
            if done {
                return None;
            }
            let mut buffer = vec![0u8; 64 * 1024];
            match reader.read(&mut buffer).await {
                Ok(0) => None,
                Ok(read) => {
                    buffer.truncate(read);
                    Some((Ok(Bytes::from(buffer)), (reader, false)))
                }
                Err(error) => Some((Err(ExecError::Backend(Box::new(error))), (reader, true))),
            }
        });
        Ok(skip_bytes(chunks.boxed(), options.from_offset))
    }
}

/// An object a submit created, to undo if a later step fails.
enum Created {
    Job(String),
    Deployment(String),
    Secret(String),
    Service(String),
}

/// What the pods Plinth generates hold to (see `manifests`).
fn kubernetes_isolation() -> Isolation {
    let mechanism = |name: &str, detail: &str| Mechanism {
        name: name.to_string(),
        active: true,
        detail: detail.to_string(),
    };
    Isolation {
        level: IsolationLevel::Full,
        summary: "workloads run as locked-down pods in their project's namespace".to_string(),
        mechanisms: vec![
            mechanism("identity", "pods run as non-root with no service-account token"),
            mechanism("privileges", "every capability dropped, no privilege escalation, seccomp RuntimeDefault"),
            mechanism("filesystem", "only the pod's own volumes; working files fetched by an init container"),
            mechanism("network", "a namespace per project; ingress only from the platform namespace; egress only to DNS, the project's pods, the Plinth API and addresses outside the private ranges"),
        ],
    }
}

#[async_trait]
impl Executor for KubernetesExecutor {
    fn backend(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            limits: "kubernetes (requests/limits)".to_string(),
            gpus: Vec::new(),
            isolation: kubernetes_isolation(),
        }
    }

    fn endpoint_host(&self, spec: &WorkloadSpec) -> ExecResult<String> {
        crate::manifests::service_host(&self.settings, &spec.id, &spec.project)
    }

    async fn submit(&self, spec: WorkloadSpec) -> ExecResult<WorkloadHandle> {
        let built = WorkloadManifests::build(&spec, &self.settings)?;
        let namespace = self.ensure_namespace(&spec.project).await?;
        let ports = built.ports.clone();
        self.create_workload(&spec, built).await?;
        tracing::info!(workload = %spec.id, name = %spec.name, namespace = %namespace, kind = ?spec.kind, backend = "kubernetes", "workload submitted");
        self.remember(
            &spec.id,
            Location {
                namespace,
                kind: spec.kind,
            },
        );
        Ok(WorkloadHandle { id: spec.id, ports })
    }

    async fn status(&self, handle: &WorkloadHandle) -> ExecResult<WorkloadStatus> {
        let location = self.locate(&handle.id).await?;
        self.current_status(&handle.id, &location).await
    }

    async fn watch(
        &self,
        handle: &WorkloadHandle,
    ) -> ExecResult<BoxStream<'static, ExecResult<WorkloadStatus>>> {
        let id = handle.id.clone();
        let location = self.locate(&id).await?;
        let first = self.current_status(&id, &location).await?;
        if first.is_finished() {
            return Ok(stream::iter([Ok(first)]).boxed());
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &location.namespace);
        let pod_events = watcher(
            pods,
            watcher::Config::default().labels(&workload_selector(&id)),
        )
        .default_backoff()
        .map(|event| event.map(|event| Change::Pod(map_event(event, Box::new))))
        .boxed();
        let by_name = format!("metadata.name={}", object_name(&id));
        let changes = match location.kind {
            WorkloadKind::Batch => {
                let jobs: Api<Job> = Api::namespaced(self.client.clone(), &location.namespace);
                let job_events = watcher(jobs, watcher::Config::default().fields(&by_name))
                    .default_backoff()
                    .map(|event| {
                        event.map(|event| {
                            Change::Controller(map_event(event, |job| Owner::Job(Box::new(job))))
                        })
                    });
                stream::select(job_events, pod_events).boxed()
            }
            WorkloadKind::Service => {
                let deployments: Api<Deployment> =
                    Api::namespaced(self.client.clone(), &location.namespace);
                let deployment_events =
                    watcher(deployments, watcher::Config::default().fields(&by_name))
                        .default_backoff()
                        .map(|event| {
                            event.map(|event| {
                                Change::Controller(map_event(event, |deployment| {
                                    Owner::Deployment(Box::new(deployment))
                                }))
                            })
                        });
                stream::select(deployment_events, pod_events).boxed()
            }
        };
        let state = WatchState {
            id,
            changes,
            owner: Mirror::default(),
            pods: Mirror::default(),
            last: first.clone(),
            failures: 0,
            done: false,
        };
        let later = stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        Ok(stream::iter([Ok(first)]).chain(later).boxed())
    }

    async fn logs(
        &self,
        handle: &WorkloadHandle,
        options: LogOptions,
    ) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>> {
        let location = self.locate(&handle.id).await?;
        let workload = self.workload(&handle.id, &location);
        // Fails now when the pods cannot be listed; waits for a pod inside the stream.
        let first_look = newest_started(&workload.pods().await?);
        let chunks = stream::once(workload.log_chunks(first_look, options))
            .map(|opened| match opened {
                Ok(chunks) => chunks,
                Err(error) => stream::iter([Err(error)]).boxed(),
            })
            .flatten();
        Ok(chunks.boxed())
    }

    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> ExecResult<()> {
        let id = &handle.id;
        let location = self.locate(id).await?;
        let namespace = &location.namespace;
        let name = object_name(id);
        let mark = serde_json::json!({ STOPPED_ANNOTATION: "true" });
        // Mark the object and make its controller keep no pod (a suspended Job, a
        // Deployment of 0 replicas), so nothing replaces the pods deleted below.
        match location.kind {
            WorkloadKind::Batch => {
                let job: Job = self.get(id, &location).await?;
                if job_has_ended(&job) || is_stopped(&job.metadata) {
                    return Ok(());
                }
                let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
                let body = serde_json::json!({
                    "metadata": { "annotations": mark },
                    "spec": { "suspend": true },
                });
                jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                    .await
                    .map_err(|error| {
                        call_failed(
                            format!("stop Job `{name}` in namespace `{namespace}`"),
                            error,
                        )
                    })?;
            }
            WorkloadKind::Service => {
                let deployment: Deployment = self.get(id, &location).await?;
                if is_stopped(&deployment.metadata) {
                    return Ok(());
                }
                let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
                let body = serde_json::json!({
                    "metadata": { "annotations": mark },
                    "spec": { "replicas": 0 },
                });
                deployments
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                    .await
                    .map_err(|error| {
                        call_failed(
                            format!("stop Deployment `{name}` in namespace `{namespace}`"),
                            error,
                        )
                    })?;
            }
        }
        // The controller deletes its pods with their own grace period (30 s unless the
        // pod says otherwise); deleting them ourselves shortens it to `grace`. Kubernetes
        // only ever shortens a pending deletion, so a longer `grace` gets those 30 s.
        // 0 would remove the pods from the API before the kubelet killed them: 1 at least.
        let seconds = u32::try_from(grace.as_secs()).unwrap_or(u32::MAX).max(1);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            grace_period_seconds: Some(seconds),
            ..DeleteParams::background()
        };
        pods.delete_collection(
            &params,
            &ListParams::default().labels(&workload_selector(id)),
        )
        .await
        .map_err(|error| {
            call_failed(
                format!("delete the pods of workload `{id}` in namespace `{namespace}`"),
                error,
            )
        })?;
        tracing::info!(workload = %id, namespace = %namespace, grace_seconds = seconds, "workload stopped");
        Ok(())
    }

    async fn list(&self) -> ExecResult<Vec<WorkloadHandle>> {
        let params =
            ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
        let jobs: Api<Job> = Api::all(self.client.clone());
        let jobs = jobs
            .list(&params)
            .await
            .map_err(|error| call_failed("list Plinth's Jobs".to_string(), error))?;
        let deployments: Api<Deployment> = Api::all(self.client.clone());
        let deployments = deployments
            .list(&params)
            .await
            .map_err(|error| call_failed("list Plinth's Deployments".to_string(), error))?;
        let found = jobs
            .items
            .iter()
            .map(|job| (&job.metadata, WorkloadKind::Batch))
            .chain(
                deployments
                    .items
                    .iter()
                    .map(|deployment| (&deployment.metadata, WorkloadKind::Service)),
            );
        let mut handles = BTreeMap::new();
        for (metadata, kind) in found {
            let Some(namespace) = metadata
                .namespace
                .as_ref()
                .filter(|namespace| namespace.starts_with(&self.settings.namespace_prefix))
            else {
                continue;
            };
            let Some(id) = metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(WORKLOAD_LABEL))
            else {
                continue;
            };
            // Environment image builds are the image builder's, not workloads.
            if metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(crate::image_build::KIND_LABEL))
                .is_some_and(|kind| kind == crate::image_build::BUILD_KIND)
            {
                continue;
            }
            self.remember(
                id,
                Location {
                    namespace: namespace.clone(),
                    kind,
                },
            );
            handles.insert(
                id.clone(),
                WorkloadHandle {
                    id: id.clone(),
                    ports: ports_from_annotations(metadata),
                },
            );
        }
        Ok(handles.into_values().collect())
    }

    async fn remove(&self, handle: &WorkloadHandle) -> ExecResult<()> {
        let id = &handle.id;
        let location = self.locate(id).await?;
        if !self.current_status(id, &location).await?.is_finished() {
            return Err(ExecError::InvalidSpec {
                field: "id",
                reason: format!("workload `{id}` is still running; stop it first"),
            });
        }
        let namespace = &location.namespace;
        let name = object_name(id);
        match location.kind {
            WorkloadKind::Batch => self.delete_object::<Job>(namespace, &name).await?,
            WorkloadKind::Service => {
                self.delete_object::<Deployment>(namespace, &name).await?;
                self.delete_object::<Service>(namespace, &name).await?;
            }
        }
        // Owned by the controller, so the garbage collector would delete it too; this is
        // sooner, and works where the owner reference is missing.
        self.delete_object::<Secret>(namespace, &name).await?;
        self.forget(id);
        tracing::info!(workload = %id, namespace = %namespace, "workload removed");
        Ok(())
    }
}

/// The newest pod whose main container has started (so that it has logs).
fn newest_started(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .filter(|pod| {
            pod.status
                .as_ref()
                .and_then(|status| status.container_statuses.as_ref())
                .into_iter()
                .flatten()
                .any(|container| {
                    container.name == MAIN_CONTAINER
                        && container.state.as_ref().is_some_and(|state| {
                            state.running.is_some() || state.terminated.is_some()
                        })
                })
        })
        .max_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
        })
        .and_then(|pod| pod.metadata.name.clone())
}

/// Drops the first `offset` bytes of a stream of chunks (Kubernetes has no byte offsets).
fn skip_bytes(
    chunks: BoxStream<'static, ExecResult<Bytes>>,
    offset: u64,
) -> BoxStream<'static, ExecResult<Bytes>> {
    if offset == 0 {
        return chunks;
    }
    chunks
        .scan(offset, |left, chunk| {
            let chunk = match chunk {
                Ok(mut bytes) if *left > 0 => {
                    let skip = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= skip as u64;
                    Ok(bytes.split_off(skip))
                }
                other => other,
            };
            futures::future::ready(Some(chunk))
        })
        .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(bytes) if bytes.is_empty())))
        .boxed()
}

/// The Job or Deployment of a watched workload.
#[derive(Clone, Debug)]
enum Owner {
    Job(Box<Job>),
    Deployment(Box<Deployment>),
}

/// Applies `f` to the object an event carries.
fn map_event<A, B>(event: watcher::Event<A>, f: impl FnOnce(A) -> B) -> watcher::Event<B> {
    match event {
        watcher::Event::Apply(object) => watcher::Event::Apply(f(object)),
        watcher::Event::Delete(object) => watcher::Event::Delete(f(object)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(object) => watcher::Event::InitApply(f(object)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// One event of a watch on a workload's objects.
enum Change {
    Controller(watcher::Event<Owner>),
    Pod(watcher::Event<Box<Pod>>),
}

/// A local copy of what a watcher reports: known once its first listing is done.
struct Mirror<K> {
    objects: BTreeMap<String, K>,
    /// What a re-listing has found so far; swapped in when it is done.
    relisting: Option<BTreeMap<String, K>>,
    synced: bool,
}

impl<K> Default for Mirror<K> {
    fn default() -> Self {
        Mirror {
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
        }
    }
}

impl<K> Mirror<K> {
    fn apply(&mut self, event: watcher::Event<K>, name: impl Fn(&K) -> String) {
        match event {
            watcher::Event::Apply(object) => {
                self.objects.insert(name(&object), object);
            }
            watcher::Event::Delete(object) => {
                self.objects.remove(&name(&object));
            }
            watcher::Event::Init => self.relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(object) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(name(&object), object);
            }
            watcher::Event::InitDone => {
                self.objects = self.relisting.take().unwrap_or_default();
                self.synced = true;
            }
        }
    }
}

fn owner_name(owner: &Owner) -> String {
    match owner {
        Owner::Job(job) => job.metadata.name.clone().unwrap_or_default(),
        Owner::Deployment(deployment) => deployment.metadata.name.clone().unwrap_or_default(),
    }
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The state of a `watch` stream after its first item.
struct WatchState {
    id: String,
    changes: BoxStream<'static, Result<Change, watcher::Error>>,
    owner: Mirror<Owner>,
    pods: Mirror<Box<Pod>>,
    last: WorkloadStatus,
    /// Watch errors in a row (the watchers retry with a backoff in between).
    failures: u32,
    done: bool,
}

/// How many watch errors in a row end a `watch` stream with the last one.
const WATCH_ATTEMPTS: u32 = 5;

impl WatchState {
    /// Waits for the next change of state; `None` once the stream is over.
    async fn next(&mut self) -> Option<ExecResult<WorkloadStatus>> {
        if self.done {
            return None;
        }
        loop {
            let change = match self.changes.next().await {
                Some(Ok(change)) => {
                    self.failures = 0;
                    change
                }
                Some(Err(error)) => {
                    self.failures += 1;
                    if self.failures < WATCH_ATTEMPTS {
                        tracing::warn!(workload = %self.id, error = %crate::error::chain(&error), "watch failed; retrying");
                        continue;
                    }
                    self.done = true;
                    return Some(Err(call_failed(
                        format!("watch workload `{}`", self.id),
                        kube::Error::Service(Box::new(error)),
                    )));
                }
                None => {
                    self.done = true;
                    return None;
                }
            };
            match change {
                Change::Controller(event) => self.owner.apply(event, owner_name),
                Change::Pod(event) => self.pods.apply(event, |pod| pod_name(pod)),
            }
            if !(self.owner.synced && self.pods.synced) {
                continue;
            }
            let pods: Vec<Pod> = self
                .pods
                .objects
                .values()
                .map(|pod| Pod::clone(pod))
                .collect();
            let status = match self.owner.objects.values().next() {
                Some(Owner::Job(job)) => job_status(job, &pods),
                Some(Owner::Deployment(deployment)) => deployment_status(deployment, &pods),
                None => WorkloadStatus::Lost {
                    reason: "its Kubernetes objects were deleted".to_string(),
                },
            };
            if status == self.last {
                continue;
            }
            self.last = status.clone();
            self.done = status.is_finished();
            return Some(Ok(status));
        }
    }
}
