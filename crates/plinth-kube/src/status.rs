//! Pure functions reading a workload's state from its Job or Deployment and its pods, in
//! the words a user understands ("no node in pool gpu has a free GPU").

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use plinth_executor::WorkloadStatus;

use crate::manifests::{FILES_CONTAINER, MAIN_CONTAINER, POOL_ANNOTATION, STOPPED_ANNOTATION};

/// Returns the state of a batch workload from its Job and the Job's pods.
pub fn job_status(job: &Job, pods: &[Pod]) -> WorkloadStatus {
    let pool = pool(&job.metadata);
    let conditions = job
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|condition| condition.type_ == kind && condition.status == "True")
    };
    // `SuccessCriteriaMet` and `FailureTarget` (Kubernetes 1.31+) come first, `Complete`
    // and `Failed` once the last pod is gone; either settles the outcome.
    if holds("Complete")
        .or_else(|| holds("SuccessCriteriaMet"))
        .is_some()
    {
        return WorkloadStatus::Succeeded;
    }
    if let Some(condition) = holds("Failed").or_else(|| holds("FailureTarget")) {
        let newest_pod = newest(pods);
        if let Some(failure) = newest_pod.and_then(failed_init) {
            return failure;
        }
        return match newest_pod.and_then(terminated_main) {
            Some(state) if state.exit_code != 0 => WorkloadStatus::Failed {
                exit_code: Some(state.exit_code),
                reason: describe_exit(state),
            },
            _ => WorkloadStatus::Failed {
                exit_code: None,
                reason: describe_job_failure(
                    condition.reason.as_deref().unwrap_or_default(),
                    condition.message.as_deref().unwrap_or_default(),
                ),
            },
        };
    }
    if is_stopped(&job.metadata) {
        return WorkloadStatus::Stopped;
    }
    if job.spec.as_ref().and_then(|spec| spec.suspend) == Some(true) {
        return WorkloadStatus::Pending {
            reason: "the job is suspended".to_string(),
        };
    }
    match newest(pods) {
        Some(pod) => match pod_state(pod, &pool) {
            // The pod ended but the Job has not said so yet; it will in a moment.
            PodState::Ended => WorkloadStatus::Running { pid: None },
            PodState::Status(status) => status,
        },
        None => WorkloadStatus::Pending {
            reason: "waiting for Kubernetes to create the pod".to_string(),
        },
    }
}

/// Returns the state of a server from its Deployment and its pods.
pub fn deployment_status(deployment: &Deployment, pods: &[Pod]) -> WorkloadStatus {
    let pool = pool(&deployment.metadata);
    if is_stopped(&deployment.metadata) {
        return WorkloadStatus::Stopped;
    }
    let conditions = deployment
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    if let Some(condition) = conditions
        .iter()
        .find(|condition| condition.type_ == "ReplicaFailure" && condition.status == "True")
    {
        return WorkloadStatus::Pending {
            reason: format!(
                "Kubernetes cannot create the pod: {}",
                condition.message.as_deref().unwrap_or("no reason given")
            ),
        };
    }
    let live: Vec<Pod> = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    match newest(&live) {
        Some(pod) => match pod_state(pod, &pool) {
            PodState::Ended => WorkloadStatus::Pending {
                reason: "the pod ended; Kubernetes is replacing it".to_string(),
            },
            PodState::Status(status) => status,
        },
        None => WorkloadStatus::Pending {
            reason: "waiting for Kubernetes to create the pod".to_string(),
        },
    }
}

/// What one pod says about its workload.
enum PodState {
    /// The pod ran to its end (succeeded or failed); its controller decides what that means.
    Ended,
    /// The workload's state as far as this pod tells.
    Status(WorkloadStatus),
}

fn pending(reason: String) -> PodState {
    PodState::Status(WorkloadStatus::Pending { reason })
}

fn pod_state(pod: &Pod, pool: &str) -> PodState {
    let Some(status) = &pod.status else {
        return pending("waiting for a node".to_string());
    };
    match status.phase.as_deref() {
        Some("Succeeded" | "Failed") => return PodState::Ended,
        Some("Unknown") => {
            let node = pod
                .spec
                .as_ref()
                .and_then(|spec| spec.node_name.as_deref())
                .unwrap_or("its node");
            return PodState::Status(WorkloadStatus::Lost {
                reason: format!("Kubernetes lost contact with node {node}"),
            });
        }
        _ => {}
    }
    if let Some(condition) = status.conditions.iter().flatten().find(|condition| {
        condition.type_ == "PodScheduled"
            && condition.status == "False"
            && condition.reason.as_deref() == Some("Unschedulable")
    }) {
        return pending(unschedulable(
            condition.message.as_deref().unwrap_or_default(),
            pool,
        ));
    }
    for init in status.init_container_statuses.iter().flatten() {
        if let Some(reason) = waiting_reason(init) {
            return pending(reason);
        }
        match &init.state {
            Some(ContainerState {
                running: Some(_), ..
            }) => return pending("fetching the working files".to_string()),
            Some(ContainerState {
                terminated: Some(state),
                ..
            }) if state.exit_code != 0 => {
                return pending(format!(
                    "fetching the working files failed ({}); retrying",
                    describe_exit(state)
                ))
            }
            _ => {}
        }
    }
    for container in status.container_statuses.iter().flatten() {
        if let Some(reason) = waiting_reason(container) {
            return pending(reason);
        }
    }
    match status.phase.as_deref() {
        Some("Running") => PodState::Status(WorkloadStatus::Running { pid: None }),
        _ if status
            .conditions
            .iter()
            .flatten()
            .any(|condition| condition.type_ == "PodScheduled" && condition.status == "True") =>
        {
            pending("starting".to_string())
        }
        _ => pending("waiting for a node".to_string()),
    }
}

/// Puts a waiting container's reason in words, when it is more than "starting".
fn waiting_reason(container: &ContainerStatus) -> Option<String> {
    let waiting = container.state.as_ref()?.waiting.as_ref()?;
    let message = waiting.message.as_deref().unwrap_or_default();
    match waiting.reason.as_deref()? {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
            Some(format!("image {} cannot be pulled", container.image))
        }
        "CrashLoopBackOff" => {
            let last = container
                .last_state
                .as_ref()
                .and_then(|state| state.terminated.as_ref());
            let what = if container.name == FILES_CONTAINER {
                "fetching the working files"
            } else {
                "the program"
            };
            Some(match last {
                Some(state) => format!(
                    "{what} keeps failing ({}, {} restarts); Kubernetes retries it",
                    describe_exit(state),
                    container.restart_count
                ),
                None => format!("{what} keeps failing; Kubernetes retries it"),
            })
        }
        "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
            Some(format!("the container cannot be created: {message}"))
        }
        _ => None,
    }
}

/// Translates the scheduler's "0/5 nodes are available: …" into what the user can act on.
fn unschedulable(message: &str, pool: &str) -> String {
    let no_node = if pool.is_empty() {
        "no node".to_string()
    } else {
        format!("no node in pool {pool}")
    };
    if message.contains("Insufficient nvidia.com/gpu") {
        format!("{no_node} has a free GPU")
    } else if message.contains("Insufficient cpu") {
        format!("{no_node} has enough free CPU")
    } else if message.contains("Insufficient memory") {
        format!("{no_node} has enough free memory")
    } else if message.contains("Insufficient ephemeral-storage") {
        format!("{no_node} has enough free disk")
    } else if message.contains("Too many pods") {
        format!("{no_node} has room for another pod")
    } else if message.contains("node.kubernetes.io/not-ready")
        || message.contains("node.kubernetes.io/unreachable")
        || message.contains("were unschedulable")
        || message.contains("didn't match Pod's node affinity/selector")
    {
        format!("{no_node} is ready")
    } else if message.contains("untolerated taint") {
        format!("{no_node} accepts the workload (untolerated taint)")
    } else if message.is_empty() {
        "waiting for a node".to_string()
    } else {
        format!("waiting for a node: {message}")
    }
}

fn describe_exit(state: &ContainerStateTerminated) -> String {
    match state.reason.as_deref() {
        Some("OOMKilled") => format!("ran out of memory (exit code {})", state.exit_code),
        _ => match state.signal {
            Some(signal) if signal != 0 => format!("killed by signal {signal}"),
            _ => format!("exited with code {}", state.exit_code),
        },
    }
}

fn describe_job_failure(reason: &str, message: &str) -> String {
    match reason {
        "BackoffLimitExceeded" => "failed, and no retry is left".to_string(),
        "DeadlineExceeded" => "ran past its deadline".to_string(),
        _ if !message.is_empty() => message.to_string(),
        "" => "failed".to_string(),
        other => other.to_string(),
    }
}

/// The failure of the working-files fetch, if that is what ended the pod.
fn failed_init(pod: &Pod) -> Option<WorkloadStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|init| init.name == FILES_CONTAINER)
        .find_map(|init| {
            let state = init.state.as_ref()?.terminated.as_ref()?;
            (state.exit_code != 0).then(|| {
                let detail = state
                    .message
                    .as_deref()
                    .map(str::trim)
                    .filter(|message| !message.is_empty())
                    .unwrap_or("no output");
                WorkloadStatus::Failed {
                    exit_code: Some(state.exit_code),
                    reason: format!("fetching the working files failed: {detail}"),
                }
            })
        })
}

fn terminated_main(pod: &Pod) -> Option<&ContainerStateTerminated> {
    let status = pod.status.as_ref()?;
    let main = status
        .container_statuses
        .iter()
        .flatten()
        .find(|container| container.name == MAIN_CONTAINER)?;
    main.state
        .as_ref()
        .and_then(|state| state.terminated.as_ref())
        .or_else(|| {
            main.last_state
                .as_ref()
                .and_then(|state| state.terminated.as_ref())
        })
}

/// The most recently created pod (a Job's retry, a Deployment's replacement).
fn newest(pods: &[Pod]) -> Option<&Pod> {
    pods.iter().max_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    })
}

fn pool(metadata: &ObjectMeta) -> String {
    metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(POOL_ANNOTATION))
        .cloned()
        .unwrap_or_default()
}

/// Returns whether `stop` marked the object.
pub(crate) fn is_stopped(metadata: &ObjectMeta) -> bool {
    metadata
        .annotations
        .as_ref()
        .is_some_and(|annotations| annotations.contains_key(STOPPED_ANNOTATION))
}

/// Returns whether a Job has ended for good (Complete or Failed).
pub(crate) fn job_has_ended(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|condition| {
            condition.status == "True"
                && matches!(
                    condition.type_.as_str(),
                    "Complete" | "Failed" | "SuccessCriteriaMet" | "FailureTarget"
                )
        })
}

#[cfg(test)]
mod tests;
