use serde_json::{json, Value};

use super::*;

fn job(status: Value) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": "plinth-w1", "annotations": { "plinth.dev/pool": "gpu" } },
        "spec": { "template": { "spec": { "containers": [] } } },
        "status": status,
    }))
    .unwrap()
}

fn deployment(annotations: Value, status: Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "plinth-w1", "annotations": annotations },
        "spec": { "selector": {}, "template": { "spec": { "containers": [] } } },
        "status": status,
    }))
    .unwrap()
}

fn pod(name: &str, created: &str, status: Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "creationTimestamp": created },
        "spec": { "containers": [], "nodeName": "node-7" },
        "status": status,
    }))
    .unwrap()
}

fn unschedulable_pod(message: &str) -> Pod {
    pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Pending",
            "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message }],
        }),
    )
}

fn waiting_pod(reason: &str, image: &str) -> Pod {
    pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Pending",
            "conditions": [{ "type": "PodScheduled", "status": "True" }],
            "containerStatuses": [{
                "name": "main", "image": image, "imageID": "", "ready": false, "restartCount": 0,
                "state": { "waiting": { "reason": reason, "message": "Back-off pulling image" } },
            }],
        }),
    )
}

fn pending_reason(status: WorkloadStatus) -> String {
    match status {
        WorkloadStatus::Pending { reason } => reason,
        other => panic!("expected pending, got {other:?}"),
    }
}

#[test]
fn scheduling_failures_are_said_in_user_words() {
    let cases = [
        (
            "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            "no node in pool gpu has a free GPU",
        ),
        (
            "0/2 nodes are available: 2 Insufficient cpu.",
            "no node in pool gpu has enough free CPU",
        ),
        (
            "0/2 nodes are available: 2 Insufficient memory.",
            "no node in pool gpu has enough free memory",
        ),
        (
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.",
            "no node in pool gpu is ready",
        ),
        (
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.",
            "no node in pool gpu is ready",
        ),
        (
            "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}.",
            "no node in pool gpu accepts the workload (untolerated taint)",
        ),
        (
            "0/1 nodes are available: 1 something new.",
            "waiting for a node: 0/1 nodes are available: 1 something new.",
        ),
    ];
    for (message, expected) in cases {
        let status = job_status(&job(json!({ "active": 1 })), &[unschedulable_pod(message)]);
        assert_eq!(pending_reason(status), expected, "{message}");
    }
    let mut no_pool = job(json!({}));
    no_pool.metadata.annotations = None;
    let status = job_status(
        &no_pool,
        &[unschedulable_pod(
            "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
        )],
    );
    assert_eq!(pending_reason(status), "no node has a free GPU");
}

#[test]
fn an_image_that_cannot_be_pulled_is_named() {
    for reason in ["ImagePullBackOff", "ErrImagePull", "InvalidImageName"] {
        let status = job_status(
            &job(json!({ "active": 1 })),
            &[waiting_pod(reason, "ghcr.io/x/y:9")],
        );
        assert_eq!(
            pending_reason(status),
            "image ghcr.io/x/y:9 cannot be pulled"
        );
    }
    let status = job_status(&job(json!({})), &[waiting_pod("ContainerCreating", "i")]);
    assert_eq!(pending_reason(status), "starting");
}

#[test]
fn crash_loops_say_the_exit_code_and_stay_pending() {
    let crashing = pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
                "state": { "waiting": { "reason": "CrashLoopBackOff" } },
                "lastState": { "terminated": { "exitCode": 3, "reason": "Error" } },
            }],
        }),
    );
    let status = deployment_status(
        &deployment(json!({}), json!({})),
        std::slice::from_ref(&crashing),
    );
    assert_eq!(
        pending_reason(status),
        "the program keeps failing (exited with code 3, 4 restarts); Kubernetes retries it"
    );
    let status = job_status(&job(json!({ "active": 1 })), &[crashing]);
    assert!(pending_reason(status).contains("exited with code 3"));
}

#[test]
fn job_conditions_decide_the_end() {
    let complete = job(json!({ "conditions": [{ "type": "Complete", "status": "True" }] }));
    assert_eq!(job_status(&complete, &[]), WorkloadStatus::Succeeded);
    let not_yet =
        job(json!({ "conditions": [{ "type": "Complete", "status": "False" }], "active": 1 }));
    assert_eq!(
        job_status(&not_yet, &[]),
        WorkloadStatus::Pending {
            reason: "waiting for Kubernetes to create the pod".to_string()
        }
    );

    let failed = job(
        json!({ "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" }] }),
    );
    let ended = pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Failed",
            "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 2, "reason": "Error" } },
            }],
        }),
    );
    assert_eq!(
        job_status(&failed, std::slice::from_ref(&ended)),
        WorkloadStatus::Failed {
            exit_code: Some(2),
            reason: "exited with code 2".to_string()
        }
    );
    assert_eq!(
        job_status(&failed, &[]),
        WorkloadStatus::Failed {
            exit_code: None,
            reason: "failed, and no retry is left".to_string()
        }
    );
    let oom = pod(
        "p2",
        "2025-01-01T00:01:00Z",
        json!({
            "phase": "Failed",
            "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 137, "reason": "OOMKilled" } },
            }],
        }),
    );
    assert_eq!(
        job_status(&failed, &[ended, oom]),
        WorkloadStatus::Failed {
            exit_code: Some(137),
            reason: "ran out of memory (exit code 137)".to_string()
        },
        "the newest pod speaks"
    );
}

#[test]
fn a_failed_fetch_of_working_files_is_the_reason() {
    let failed = job(
        json!({ "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" }] }),
    );
    let fetch_failed = pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Failed",
            "initContainerStatuses": [{
                "name": "fetch-files", "image": "busybox:1.36", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 1, "reason": "Error", "message": "wget: server returned error: HTTP/1.1 401 Unauthorized\n" } },
            }],
            "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "waiting": { "reason": "PodInitializing" } },
            }],
        }),
    );
    assert_eq!(
        job_status(&failed, &[fetch_failed]),
        WorkloadStatus::Failed {
            exit_code: Some(1),
            reason: "fetching the working files failed: wget: server returned error: HTTP/1.1 401 Unauthorized".to_string()
        }
    );
    let fetching = pod(
        "p1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "fetch-files", "image": "busybox:1.36", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "running": {} },
            }],
        }),
    );
    assert_eq!(
        pending_reason(job_status(&job(json!({ "active": 1 })), &[fetching])),
        "fetching the working files"
    );
}

#[test]
fn running_stopped_lost_and_suspended() {
    let running = pod("p1", "2025-01-01T00:00:00Z", json!({ "phase": "Running" }));
    assert_eq!(
        job_status(&job(json!({ "active": 1 })), std::slice::from_ref(&running)),
        WorkloadStatus::Running { pid: None }
    );
    let mut stopped = job(json!({ "active": 1 }));
    stopped
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(STOPPED_ANNOTATION.to_string(), "true".to_string());
    assert_eq!(
        job_status(&stopped, std::slice::from_ref(&running)),
        WorkloadStatus::Stopped
    );
    assert!(is_stopped(&stopped.metadata));
    let unknown = pod("p1", "2025-01-01T00:00:00Z", json!({ "phase": "Unknown" }));
    assert_eq!(
        job_status(&job(json!({ "active": 1 })), &[unknown]),
        WorkloadStatus::Lost {
            reason: "Kubernetes lost contact with node node-7".to_string()
        }
    );
    let mut suspended = job(json!({}));
    suspended.spec.as_mut().unwrap().suspend = Some(true);
    assert_eq!(
        pending_reason(job_status(&suspended, &[])),
        "the job is suspended"
    );

    let serving = deployment(json!({}), json!({ "availableReplicas": 1 }));
    assert_eq!(
        deployment_status(&serving, std::slice::from_ref(&running)),
        WorkloadStatus::Running { pid: None }
    );
    let stopped = deployment(json!({ "plinth.dev/stopped": "true" }), json!({}));
    assert_eq!(
        deployment_status(&stopped, &[running]),
        WorkloadStatus::Stopped
    );
    let refused = deployment(
        json!({}),
        json!({ "conditions": [{ "type": "ReplicaFailure", "status": "True", "message": "pods \"x\" is forbidden: exceeded quota: gpu" }] }),
    );
    assert_eq!(
        pending_reason(deployment_status(&refused, &[])),
        "Kubernetes cannot create the pod: pods \"x\" is forbidden: exceeded quota: gpu"
    );
}

#[test]
fn finished_jobs_are_recognised() {
    assert!(job_has_ended(&job(
        json!({ "conditions": [{ "type": "Failed", "status": "True" }] })
    )));
    assert!(job_has_ended(&job(
        json!({ "conditions": [{ "type": "SuccessCriteriaMet", "status": "True" }] })
    )));
    assert!(!job_has_ended(&job(
        json!({ "conditions": [{ "type": "Suspended", "status": "True" }] })
    )));
    assert!(!job_has_ended(&job(json!({}))));
}
