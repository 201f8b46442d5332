//! The executor's API calls, one scripted conversation per test.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use http::Method;
use plinth_executor::{
    ExecError, Executor, LogOptions, Resources, WorkingFiles, WorkloadHandle, WorkloadKind,
    WorkloadSpec, WorkloadStatus,
};
use serde_json::json;

use crate::support::*;

fn cpu_job(id: &str) -> WorkloadSpec {
    WorkloadSpec {
        id: id.to_string(),
        name: "train".to_string(),
        project: "p1".to_string(),
        command: vec!["python".to_string(), "train.py".to_string()],
        resources: Resources {
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
            gpus: 0,
        },
        ..WorkloadSpec::default()
    }
}

fn files_job(id: &str) -> WorkloadSpec {
    WorkloadSpec {
        secret_env: BTreeMap::from([("PLINTH_TOKEN".to_string(), "plt_x".to_string())]),
        files: Some(WorkingFiles {
            url: "http://plinth.plinth:8080/files.tar.gz".to_string(),
            sha256: "ab".repeat(32),
        }),
        ..cpu_job(id)
    }
}

fn handle(id: &str) -> WorkloadHandle {
    WorkloadHandle {
        id: id.to_string(),
        ports: BTreeMap::new(),
    }
}

/// Answers the namespace and NetworkPolicy creation of `submit`.
async fn answer_namespace(server: &mut ApiServer, exists: bool) {
    let call = server.expect(Method::POST, "/api/v1/namespaces").await;
    assert_eq!(call.body["kind"], "Namespace");
    assert_eq!(call.body["metadata"]["name"], NAMESPACE);
    assert_eq!(call.body["metadata"]["labels"]["plinth.dev/project"], "p1");
    assert_eq!(
        call.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "plinth"
    );
    if exists {
        call.fail(
            409,
            "AlreadyExists",
            "namespaces \"plinth-p1\" already exists",
        );
    } else {
        call.created("uid-ns");
    }
    let call = server
        .expect(
            Method::POST,
            "/apis/networking.k8s.io/v1/namespaces/plinth-p1/networkpolicies",
        )
        .await;
    assert_eq!(call.body["metadata"]["name"], "plinth-default-deny");
    assert_eq!(
        call.body["spec"]["policyTypes"],
        json!(["Ingress", "Egress"])
    );
    assert_eq!(
        call.body["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"],
        "plinth"
    );
    // Egress to the platform namespace: only the Plinth pods' API port.
    assert_eq!(
        call.body["spec"]["egress"][2]["ports"],
        json!([{ "protocol": "TCP", "port": 8080 }])
    );
    if exists {
        let policy = call.body.clone();
        call.fail(
            409,
            "AlreadyExists",
            "networkpolicies.networking.k8s.io \"plinth-default-deny\" already exists",
        );
        // An existing policy (perhaps an older Plinth's, ingress only) is brought up to date.
        let call = server
            .expect(
                Method::PATCH,
                "/apis/networking.k8s.io/v1/namespaces/plinth-p1/networkpolicies/plinth-default-deny",
            )
            .await;
        assert_eq!(
            call.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(
            call.query.get("fieldManager").map(String::as_str),
            Some("plinth")
        );
        assert_eq!(call.query.get("force").map(String::as_str), Some("true"));
        assert_eq!(call.body["spec"], policy["spec"]);
        call.respond(200, policy);
    } else {
        call.created("uid-np");
    }
}

#[tokio::test]
async fn submit_creates_the_namespace_its_policy_and_the_job() {
    let (executor, mut server) = fake_cluster();
    let submitted = tokio::spawn(async move {
        let handle = executor.submit(cpu_job("w1")).await?;
        // The location is remembered: no lookup before reading the Job.
        let status = executor.status(&handle).await?;
        Ok::<_, ExecError>((handle, status))
    });
    answer_namespace(&mut server, false).await;
    let call = server
        .expect(Method::POST, "/apis/batch/v1/namespaces/plinth-p1/jobs")
        .await;
    assert_eq!(call.body["metadata"]["name"], "plinth-w1");
    assert_eq!(call.body["metadata"]["labels"]["plinth.dev/workload"], "w1");
    assert!(
        call.body["spec"].get("suspend").is_none(),
        "no Secret to wait for"
    );
    let container = &call.body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/plinth/runtime:1");
    assert_eq!(container["resources"]["limits"]["cpu"], "1000m");
    call.created("uid-job");
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-w1",
        )
        .await
        .respond(200, job("w1", json!({}), json!({ "active": 1 })));
    let call = server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await;
    assert_eq!(call.query["labelSelector"], selector("w1"));
    call.respond(
        200,
        list(
            "v1",
            "PodList",
            vec![pod(
                "w1",
                "plinth-w1-abc",
                "2025-01-01T00:00:00Z",
                json!({ "phase": "Running" }),
            )],
        ),
    );
    let (handle, status) = submitted.await.unwrap().unwrap();
    assert_eq!(handle.id, "w1");
    assert_eq!(status, WorkloadStatus::Running { pid: None });
}

#[tokio::test]
async fn submit_with_secrets_creates_the_job_idle_then_its_secret_then_starts_it() {
    let (executor, mut server) = fake_cluster();
    let submitted = tokio::spawn(async move { executor.submit(files_job("w2")).await });
    // An existing namespace and policy are fine.
    answer_namespace(&mut server, true).await;
    let call = server
        .expect(Method::POST, "/apis/batch/v1/namespaces/plinth-p1/jobs")
        .await;
    assert_eq!(
        call.body["spec"]["suspend"], true,
        "no pod before its Secret"
    );
    let pod = &call.body["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"][0]["name"], "fetch-files");
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "plinth-w2"
    );
    call.created("uid-w2");
    let call = server
        .expect(Method::POST, "/api/v1/namespaces/plinth-p1/secrets")
        .await;
    assert_eq!(call.body["metadata"]["name"], "plinth-w2");
    assert_eq!(call.body["stringData"], json!({ "PLINTH_TOKEN": "plt_x" }));
    assert_eq!(
        call.body["metadata"]["ownerReferences"],
        json!([{ "apiVersion": "batch/v1", "kind": "Job", "name": "plinth-w2", "uid": "uid-w2", "controller": true }])
    );
    call.created("uid-secret");
    let call = server
        .expect(
            Method::PATCH,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-w2",
        )
        .await;
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(call.body, json!({ "spec": { "suspend": false } }));
    call.respond(200, job("w2", json!({}), json!({})));
    let handle = submitted.await.unwrap().unwrap();
    assert_eq!(handle.id, "w2");
}

#[tokio::test]
async fn submitting_an_existing_id_is_already_exists_and_touches_nothing() {
    let (executor, mut server) = fake_cluster();
    let submitted = tokio::spawn(async move {
        let result = executor.submit(files_job("w3")).await;
        drop(executor);
        result
    });
    answer_namespace(&mut server, true).await;
    server
        .expect(Method::POST, "/apis/batch/v1/namespaces/plinth-p1/jobs")
        .await
        .fail(
            409,
            "AlreadyExists",
            "jobs.batch \"plinth-w3\" already exists",
        );
    match submitted.await.unwrap() {
        Err(ExecError::AlreadyExists(id)) => assert_eq!(id, "w3"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    server.expect_no_more().await;
}

#[tokio::test]
async fn a_create_failing_midway_deletes_what_was_created() {
    let (executor, mut server) = fake_cluster();
    let spec = WorkloadSpec {
        kind: WorkloadKind::Service,
        ports: vec!["http".to_string()],
        ..files_job("w4")
    };
    let submitted = tokio::spawn(async move {
        let result = executor.submit(spec).await;
        drop(executor);
        result
    });
    answer_namespace(&mut server, true).await;
    let call = server
        .expect(
            Method::POST,
            "/apis/apps/v1/namespaces/plinth-p1/deployments",
        )
        .await;
    assert_eq!(
        call.body["spec"]["replicas"], 0,
        "idle until its Secret exists"
    );
    call.created("uid-w4");
    server
        .expect(Method::POST, "/api/v1/namespaces/plinth-p1/secrets")
        .await
        .created("uid-secret");
    let call = server
        .expect(Method::POST, "/api/v1/namespaces/plinth-p1/services")
        .await;
    assert_eq!(call.body["spec"]["ports"][0]["port"], 8000);
    assert_eq!(call.body["metadata"]["ownerReferences"][0]["uid"], "uid-w4");
    call.fail(
        403,
        "Forbidden",
        "services \"plinth-w4\" is forbidden: exceeded quota: services",
    );
    // Undone newest first.
    let call = server
        .expect(
            Method::DELETE,
            "/api/v1/namespaces/plinth-p1/secrets/plinth-w4",
        )
        .await;
    call.respond(200, deleted());
    let call = server
        .expect(
            Method::DELETE,
            "/apis/apps/v1/namespaces/plinth-p1/deployments/plinth-w4",
        )
        .await;
    assert_eq!(call.body["propagationPolicy"], "Background");
    call.respond(200, deleted());
    let error = submitted.await.unwrap().unwrap_err();
    let ExecError::Backend(source) = &error else {
        panic!("expected a backend error, got {error:?}");
    };
    let message = source.to_string();
    assert!(
        message.contains("create Service `plinth-w4` in namespace `plinth-p1`")
            && message.contains("exceeded quota"),
        "{message}"
    );
    server.expect_no_more().await;
}

#[tokio::test]
async fn a_spec_the_api_server_refuses_is_invalid() {
    let (executor, mut server) = fake_cluster();
    let submitted = tokio::spawn(async move { executor.submit(cpu_job("w5")).await });
    answer_namespace(&mut server, true).await;
    server
        .expect(Method::POST, "/apis/batch/v1/namespaces/plinth-p1/jobs")
        .await
        .fail(
            422,
            "Invalid",
            "Job.batch \"plinth-w5\" is invalid: spec.template.spec.containers[0].image: Required value",
        );
    match submitted.await.unwrap() {
        Err(ExecError::InvalidSpec { field, reason }) => {
            assert_eq!(field, "spec");
            assert!(reason.contains("Required value"), "{reason}");
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_spec_sends_nothing() {
    let (executor, server) = fake_cluster();
    let mut spec = cpu_job("w6");
    spec.project = "Not A Project".to_string();
    assert!(matches!(
        executor.submit(spec).await,
        Err(ExecError::InvalidSpec {
            field: "project",
            ..
        })
    ));
    drop(executor);
    server.expect_no_more().await;
}

#[tokio::test]
async fn the_status_of_a_missing_workload_is_not_found() {
    let (executor, mut server) = fake_cluster();
    let asked = tokio::spawn(async move { executor.status(&handle("gone")).await });
    let call = server.expect(Method::GET, "/apis/batch/v1/jobs").await;
    assert_eq!(call.query["labelSelector"], selector("gone"));
    call.respond(200, list("batch/v1", "JobList", vec![]));
    let call = server
        .expect(Method::GET, "/apis/apps/v1/deployments")
        .await;
    assert_eq!(call.query["labelSelector"], selector("gone"));
    call.respond(200, list("apps/v1", "DeploymentList", vec![]));
    match asked.await.unwrap() {
        Err(ExecError::NotFound(id)) => assert_eq!(id, "gone"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // An id that cannot be one is not looked up at all.
    let (executor, server) = fake_cluster();
    assert!(matches!(
        executor.status(&handle("a,b=c")).await,
        Err(ExecError::NotFound(_))
    ));
    drop(executor);
    server.expect_no_more().await;
}

#[tokio::test]
async fn a_workload_outside_plinth_namespaces_is_not_found() {
    let (executor, mut server) = fake_cluster();
    let asked = tokio::spawn(async move { executor.status(&handle("w7")).await });
    let mut foreign = job("w7", json!({}), json!({}));
    foreign["metadata"]["namespace"] = json!("kube-system");
    answer_lookup_with_job(&mut server, "w7", foreign).await;
    server
        .expect(Method::GET, "/apis/apps/v1/deployments")
        .await
        .respond(200, list("apps/v1", "DeploymentList", vec![]));
    assert!(matches!(asked.await.unwrap(), Err(ExecError::NotFound(_))));
}

async fn status_with_pod(pod_status: serde_json::Value) -> WorkloadStatus {
    let (executor, mut server) = fake_cluster();
    let asked = tokio::spawn(async move { executor.status(&handle("w8")).await });
    let gpu_job = job(
        "w8",
        json!({ "plinth.dev/pool": "gpu" }),
        json!({ "active": 1 }),
    );
    answer_lookup_with_job(&mut server, "w8", gpu_job.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-w8",
        )
        .await
        .respond(200, gpu_job);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(
            200,
            list(
                "v1",
                "PodList",
                vec![pod("w8", "plinth-w8-x", "2025-01-01T00:00:00Z", pod_status)],
            ),
        );
    asked.await.unwrap().unwrap()
}

#[tokio::test]
async fn an_unschedulable_gpu_pod_is_pending_for_a_free_gpu() {
    let status = status_with_pod(json!({
        "phase": "Pending",
        "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector.",
        }],
    }))
    .await;
    assert_eq!(
        status,
        WorkloadStatus::Pending {
            reason: "no node in pool gpu has a free GPU".to_string()
        }
    );
}

#[tokio::test]
async fn an_image_pull_back_off_names_the_image() {
    let status = status_with_pod(json!({
        "phase": "Pending",
        "conditions": [{ "type": "PodScheduled", "status": "True" }],
        "containerStatuses": [{
            "name": "main", "image": "ghcr.io/acme/missing:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": { "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/acme/missing:1\"" } },
        }],
    }))
    .await;
    assert_eq!(
        status,
        WorkloadStatus::Pending {
            reason: "image ghcr.io/acme/missing:1 cannot be pulled".to_string()
        }
    );
}

#[tokio::test]
async fn a_failed_container_is_failed_with_its_exit_code() {
    let (executor, mut server) = fake_cluster();
    let asked = tokio::spawn(async move { executor.status(&handle("w9")).await });
    let failed = job(
        "w9",
        json!({}),
        json!({ "failed": 1, "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" }] }),
    );
    answer_lookup_with_job(&mut server, "w9", failed.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-w9",
        )
        .await
        .respond(200, failed);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(
            200,
            list(
                "v1",
                "PodList",
                vec![pod(
                    "w9",
                    "plinth-w9-x",
                    "2025-01-01T00:00:00Z",
                    json!({
                        "phase": "Failed",
                        "containerStatuses": [{
                            "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                            "state": { "terminated": { "exitCode": 42, "reason": "Error" } },
                        }],
                    }),
                )],
            ),
        );
    assert_eq!(
        asked.await.unwrap().unwrap(),
        WorkloadStatus::Failed {
            exit_code: Some(42),
            reason: "exited with code 42".to_string()
        }
    );
}

#[tokio::test]
async fn watch_follows_the_pod_and_the_job_until_complete() {
    let (executor, mut server) = fake_cluster();
    let executor = std::sync::Arc::new(executor);
    let watching = {
        let executor = executor.clone();
        tokio::spawn(async move { executor.watch(&handle("wa")).await })
    };
    let pending_pod = pod(
        "wa",
        "plinth-wa-x",
        "2025-01-01T00:00:00Z",
        json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "True" }] }),
    );
    let running_job = job("wa", json!({}), json!({ "active": 1 }));
    answer_lookup_with_job(&mut server, "wa", running_job.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wa",
        )
        .await
        .respond(200, running_job.clone());
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![pending_pod.clone()]));
    let mut statuses = watching.await.unwrap().unwrap();
    assert_eq!(
        statuses.next().await.unwrap().unwrap(),
        WorkloadStatus::Pending {
            reason: "starting".to_string()
        },
        "the current state first"
    );

    // The watchers list, then watch, the Job (by name) and the pods (by label), in any
    // order: answer whatever comes; the pod starts running, and once the test has seen
    // that, the Job completes.
    let (complete_now, complete_requested) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(async move {
        let mut job_watch = None;
        let mut pod_watch = None;
        let mut complete_requested = Some(complete_requested);
        loop {
            tokio::select! {
                call = server.next() => {
                    let watching = call.query.get("watch").map(String::as_str) == Some("true");
                    match (call.path.as_str(), watching) {
                        ("/apis/batch/v1/namespaces/plinth-p1/jobs", false) => {
                            assert_eq!(call.query["fieldSelector"], "metadata.name=plinth-wa");
                            call.respond(200, list("batch/v1", "JobList", vec![running_job.clone()]));
                        }
                        ("/api/v1/namespaces/plinth-p1/pods", false) => {
                            assert_eq!(call.query["labelSelector"], selector("wa"));
                            call.respond(200, list("v1", "PodList", vec![pending_pod.clone()]));
                        }
                        ("/apis/batch/v1/namespaces/plinth-p1/jobs", true) => {
                            assert_eq!(call.query["fieldSelector"], "metadata.name=plinth-wa");
                            assert_eq!(call.query["resourceVersion"], "10");
                            job_watch = Some(call.stream());
                        }
                        ("/api/v1/namespaces/plinth-p1/pods", true) => {
                            assert_eq!(call.query["labelSelector"], selector("wa"));
                            let sender = call.stream();
                            let mut running = pod("wa", "plinth-wa-x", "2025-01-01T00:00:00Z", json!({ "phase": "Running" }));
                            running["metadata"]["resourceVersion"] = json!("11");
                            send_event(&sender, "MODIFIED", running);
                            pod_watch = Some(sender);
                        }
                        (path, watching) => panic!("unexpected request {path} (watch: {watching})"),
                    }
                }
                _ = async { complete_requested.as_mut().unwrap().await }, if complete_requested.is_some() && job_watch.is_some() => {
                    complete_requested = None;
                    let complete = job("wa", json!({}), json!({
                        "succeeded": 1,
                        "conditions": [{ "type": "Complete", "status": "True" }],
                    }));
                    send_event(job_watch.as_ref().unwrap(), "MODIFIED", complete);
                }
            }
            let _ = &pod_watch;
        }
    });
    let next = tokio::time::timeout(Duration::from_secs(5), statuses.next()).await;
    assert_eq!(
        next.expect("a change within 5 s").unwrap().unwrap(),
        WorkloadStatus::Running { pid: None }
    );
    complete_now.send(()).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), statuses.next()).await;
    assert_eq!(
        next.expect("a change within 5 s").unwrap().unwrap(),
        WorkloadStatus::Succeeded
    );
    assert!(
        statuses.next().await.is_none(),
        "ends after a finished state"
    );
    server_task.abort();
}

#[tokio::test]
async fn watching_a_finished_workload_gives_its_state_and_ends() {
    let (executor, mut server) = fake_cluster();
    let watching = tokio::spawn(async move {
        let statuses: Vec<_> = executor.watch(&handle("wb")).await?.collect().await;
        Ok::<_, ExecError>(statuses)
    });
    let done = job(
        "wb",
        json!({}),
        json!({ "conditions": [{ "type": "Complete", "status": "True" }] }),
    );
    answer_lookup_with_job(&mut server, "wb", done.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wb",
        )
        .await
        .respond(200, done);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![]));
    let statuses = watching.await.unwrap().unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].as_ref().unwrap(), &WorkloadStatus::Succeeded);
}

#[tokio::test]
async fn logs_stream_the_newest_started_pod() {
    let started = |name: &str, created: &str| {
        pod(
            "wl",
            name,
            created,
            json!({
                "phase": "Running",
                "containerStatuses": [{
                    "name": "main", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                    "state": { "running": {} },
                }],
            }),
        )
    };
    let pods = list(
        "v1",
        "PodList",
        vec![
            started("plinth-wl-old", "2025-01-01T00:00:00Z"),
            started("plinth-wl-new", "2025-01-01T01:00:00Z"),
            pod(
                "wl",
                "plinth-wl-waiting",
                "2025-01-01T02:00:00Z",
                json!({ "phase": "Pending" }),
            ),
        ],
    );
    let (executor, mut server) = fake_cluster();
    let reading = tokio::spawn(async move {
        let options = LogOptions {
            follow: true,
            tail_lines: Some(10),
            from_offset: 0,
        };
        let mut stream = executor.logs(&handle("wl"), options).await?;
        let mut text = Vec::new();
        while let Some(chunk) = stream.next().await {
            text.extend_from_slice(&chunk?);
        }
        let options = LogOptions {
            from_offset: 6,
            ..LogOptions::default()
        };
        let mut stream = executor.logs(&handle("wl"), options).await?;
        let mut rest = Vec::new();
        while let Some(chunk) = stream.next().await {
            rest.extend_from_slice(&chunk?);
        }
        Ok::<_, ExecError>((text, rest))
    });
    answer_lookup_with_job(&mut server, "wl", job("wl", json!({}), json!({}))).await;
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, pods.clone());
    let call = server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth-p1/pods/plinth-wl-new/log",
        )
        .await;
    assert_eq!(call.query["container"], "main");
    assert_eq!(call.query["follow"], "true");
    assert_eq!(call.query["tailLines"], "10");
    let sender = call.stream();
    sender.unbounded_send("line1\n".to_string()).unwrap();
    sender.unbounded_send("line2\n".to_string()).unwrap();
    drop(sender);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, pods);
    let call = server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth-p1/pods/plinth-wl-new/log",
        )
        .await;
    assert!(!call.query.contains_key("follow"));
    call.respond_text("line1\nline2\n");
    let (text, rest) = reading.await.unwrap().unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "line1\nline2\n");
    assert_eq!(String::from_utf8(rest).unwrap(), "line2\n");
}

#[tokio::test]
async fn following_logs_waits_inside_the_stream_for_the_program_to_start() {
    let (executor, mut server) = fake_cluster();
    let reading = tokio::spawn(async move {
        let options = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        // Returns at once: the wait for a started pod is the stream's.
        let stream = tokio::time::timeout(
            Duration::from_millis(500),
            executor.logs(&handle("wg"), options),
        )
        .await
        .expect("logs returns before the pod starts")?;
        let chunks: Vec<_> = stream.collect().await;
        Ok::<_, ExecError>(chunks)
    });
    let running_job = job("wg", json!({}), json!({ "active": 1 }));
    let pulling = pod(
        "wg",
        "plinth-wg-x",
        "2025-01-01T00:00:00Z",
        json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "True" }] }),
    );
    answer_lookup_with_job(&mut server, "wg", running_job.clone()).await;
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![pulling.clone()]));
    // Not started and not finished: look again a second later.
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wg",
        )
        .await
        .respond(200, running_job);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![pulling]));
    let started = pod(
        "wg",
        "plinth-wg-x",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "state": { "running": {} },
            }],
        }),
    );
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![started]));
    server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth-p1/pods/plinth-wg-x/log",
        )
        .await
        .respond_text("hello\n");
    let chunks = reading.await.unwrap().unwrap();
    let text: Vec<u8> = chunks
        .into_iter()
        .flat_map(|chunk| chunk.unwrap().to_vec())
        .collect();
    assert_eq!(text, b"hello\n");
}

#[tokio::test]
async fn stop_suspends_the_job_and_deletes_its_pods_with_the_grace_period() {
    let (executor, mut server) = fake_cluster();
    let stopping =
        tokio::spawn(async move { executor.stop(&handle("ws"), Duration::from_secs(7)).await });
    let running = job("ws", json!({}), json!({ "active": 1 }));
    answer_lookup_with_job(&mut server, "ws", running.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-ws",
        )
        .await
        .respond(200, running);
    let call = server
        .expect(
            Method::PATCH,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-ws",
        )
        .await;
    assert_eq!(
        call.body,
        json!({ "metadata": { "annotations": { "plinth.dev/stopped": "true" } }, "spec": { "suspend": true } })
    );
    let stopped = job(
        "ws",
        json!({ "plinth.dev/stopped": "true" }),
        json!({ "active": 1 }),
    );
    call.respond(200, stopped.clone());
    let call = server
        .expect(Method::DELETE, "/api/v1/namespaces/plinth-p1/pods")
        .await;
    assert_eq!(call.query["labelSelector"], selector("ws"));
    assert_eq!(call.body["gracePeriodSeconds"], 7);
    assert_eq!(call.body["propagationPolicy"], "Background");
    call.respond(200, list("v1", "PodList", vec![]));
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn stopping_a_finished_job_does_nothing() {
    let (executor, mut server) = fake_cluster();
    let stopping = tokio::spawn(async move {
        let result = executor.stop(&handle("wf"), Duration::ZERO).await;
        drop(executor);
        result
    });
    let done = job(
        "wf",
        json!({}),
        json!({ "conditions": [{ "type": "Complete", "status": "True" }] }),
    );
    answer_lookup_with_job(&mut server, "wf", done.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wf",
        )
        .await
        .respond(200, done);
    stopping.await.unwrap().unwrap();
    server.expect_no_more().await;
}

#[tokio::test]
async fn stop_scales_a_server_to_zero_and_deletes_its_pods_at_least_one_second_apart() {
    let (executor, mut server) = fake_cluster();
    let stopping = tokio::spawn(async move { executor.stop(&handle("wd"), Duration::ZERO).await });
    server
        .expect(Method::GET, "/apis/batch/v1/jobs")
        .await
        .respond(200, list("batch/v1", "JobList", vec![]));
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "plinth-wd", "namespace": NAMESPACE, "uid": "uid-wd",
            "labels": { "plinth.dev/workload": "wd", "app.kubernetes.io/managed-by": "plinth" },
        },
        "spec": { "selector": {}, "template": { "spec": { "containers": [] } } },
    });
    server
        .expect(Method::GET, "/apis/apps/v1/deployments")
        .await
        .respond(
            200,
            list("apps/v1", "DeploymentList", vec![deployment.clone()]),
        );
    server
        .expect(
            Method::GET,
            "/apis/apps/v1/namespaces/plinth-p1/deployments/plinth-wd",
        )
        .await
        .respond(200, deployment.clone());
    let call = server
        .expect(
            Method::PATCH,
            "/apis/apps/v1/namespaces/plinth-p1/deployments/plinth-wd",
        )
        .await;
    assert_eq!(call.body["spec"]["replicas"], 0);
    assert_eq!(
        call.body["metadata"]["annotations"]["plinth.dev/stopped"],
        "true"
    );
    call.respond(200, deployment);
    let call = server
        .expect(Method::DELETE, "/api/v1/namespaces/plinth-p1/pods")
        .await;
    assert_eq!(
        call.body["gracePeriodSeconds"], 1,
        "0 would drop the pods before the kubelet killed them"
    );
    call.respond(200, list("v1", "PodList", vec![]));
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn list_returns_plinth_workloads_in_project_namespaces() {
    let (executor, mut server) = fake_cluster();
    let listing = tokio::spawn(async move { executor.list().await });
    let mut foreign = job("wx", json!({}), json!({}));
    foreign["metadata"]["namespace"] = json!("default");
    let call = server.expect(Method::GET, "/apis/batch/v1/jobs").await;
    assert_eq!(
        call.query["labelSelector"],
        "app.kubernetes.io/managed-by=plinth"
    );
    call.respond(
        200,
        list(
            "batch/v1",
            "JobList",
            vec![job("j1", json!({}), json!({})), foreign],
        ),
    );
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "plinth-d1", "namespace": "plinth-p2",
            "labels": { "plinth.dev/workload": "d1", "app.kubernetes.io/managed-by": "plinth" },
            "annotations": { "plinth.dev/ports": "http=8000,metrics=8001" },
        },
        "spec": { "selector": {}, "template": { "spec": { "containers": [] } } },
    });
    server
        .expect(Method::GET, "/apis/apps/v1/deployments")
        .await
        .respond(200, list("apps/v1", "DeploymentList", vec![deployment]));
    let handles = listing.await.unwrap().unwrap();
    assert_eq!(
        handles,
        vec![
            WorkloadHandle {
                id: "d1".to_string(),
                ports: BTreeMap::from([("http".to_string(), 8000), ("metrics".to_string(), 8001)]),
            },
            handle("j1"),
        ]
    );
}

#[tokio::test]
async fn remove_deletes_a_finished_job_and_its_secret_but_refuses_a_running_one() {
    let (executor, mut server) = fake_cluster();
    let executor = std::sync::Arc::new(executor);
    let removing = {
        let executor = executor.clone();
        tokio::spawn(async move { executor.remove(&handle("wr")).await })
    };
    let done = job(
        "wr",
        json!({}),
        json!({ "conditions": [{ "type": "Failed", "status": "True" }] }),
    );
    answer_lookup_with_job(&mut server, "wr", done.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wr",
        )
        .await
        .respond(200, done);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![]));
    let call = server
        .expect(
            Method::DELETE,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wr",
        )
        .await;
    assert_eq!(call.body["propagationPolicy"], "Background");
    call.respond(200, deleted());
    server
        .expect(
            Method::DELETE,
            "/api/v1/namespaces/plinth-p1/secrets/plinth-wr",
        )
        .await
        .fail(404, "NotFound", "secrets \"plinth-wr\" not found");
    removing.await.unwrap().unwrap();

    // Forgotten: the next call looks it up again. Still running: refused.
    let removing = {
        let executor = executor.clone();
        tokio::spawn(async move { executor.remove(&handle("wr")).await })
    };
    let running = job("wr", json!({}), json!({ "active": 1 }));
    answer_lookup_with_job(&mut server, "wr", running.clone()).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-wr",
        )
        .await
        .respond(200, running);
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(200, list("v1", "PodList", vec![]));
    assert!(matches!(
        removing.await.unwrap(),
        Err(ExecError::InvalidSpec { field: "id", .. })
    ));
}

#[tokio::test]
async fn capabilities_name_kubernetes_limits() {
    let (executor, _server) = fake_cluster();
    assert_eq!(executor.backend(), "kubernetes");
    let capabilities = executor.capabilities();
    assert_eq!(capabilities.limits, "kubernetes (requests/limits)");
    assert!(capabilities.gpus.is_empty());
}
