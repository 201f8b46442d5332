//! The image builder's API calls (environment images), one scripted conversation each:
//! credentials read from the platform namespace, the Job created suspended, its ConfigMap
//! and Secret owned by it, the Job started and polled to its end, the digest read from the
//! builder's termination message, the Job deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::Method;
use plinth_executor::{ExecError, ImageBuildSpec, ImageBuilder};
use plinth_kube::{ImageBuildSettings, KubeImageBuilder};
use serde_json::{json, Value};

use crate::support::*;

const DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

fn builder(credentials: bool) -> (KubeImageBuilder, ApiServer) {
    let (executor, server) = fake_cluster();
    let settings = ImageBuildSettings {
        credentials_secret: credentials.then(|| "plinth-registry".to_string()),
        poll_interval: Duration::from_millis(5),
        ..ImageBuildSettings::default()
    };
    (KubeImageBuilder::new(Arc::new(executor), settings), server)
}

fn spec() -> ImageBuildSpec {
    ImageBuildSpec {
        id: "envb-abc".to_string(),
        project: "p1".to_string(),
        image: format!("registry.example.com/plinth/p1/train:{}", "a".repeat(64)),
        context: BTreeMap::from([
            (
                "Dockerfile".to_string(),
                "FROM python:3.11-slim\n".to_string(),
            ),
            ("requirements.lock".to_string(), "six==1.17.0\n".to_string()),
        ]),
        labels: BTreeMap::new(),
    }
}

/// Answers the namespace creation (it exists) and its policy (created).
async fn answer_namespace(server: &mut ApiServer) {
    server
        .expect(Method::POST, "/api/v1/namespaces")
        .await
        .fail(
            409,
            "AlreadyExists",
            "namespaces \"plinth-p1\" already exists",
        );
    server
        .expect(
            Method::POST,
            "/apis/networking.k8s.io/v1/namespaces/plinth-p1/networkpolicies",
        )
        .await
        .created("uid-np");
}

fn build_job(status: Value) -> Value {
    let mut job = job("envb-abc", json!({}), status);
    job["metadata"]["uid"] = json!("uid-build");
    job
}

fn build_pod(terminated: Value) -> Value {
    pod(
        "envb-abc",
        "plinth-envb-abc-x1",
        "2025-01-01T00:00:00Z",
        json!({
            "phase": "Succeeded",
            "containerStatuses": [{
                "name": "buildkit", "image": "b", "imageID": "", "ready": false,
                "restartCount": 0, "state": { "terminated": terminated },
            }],
        }),
    )
}

/// The calls from the Job's creation to its start; returns the Job posted.
async fn answer_creation(server: &mut ApiServer, credentials: Option<&[u8]>) -> Value {
    let call = server
        .expect(Method::POST, "/apis/batch/v1/namespaces/plinth-p1/jobs")
        .await;
    let job = call.body.clone();
    assert_eq!(job["spec"]["suspend"], true, "no pod before its ConfigMap");
    assert_eq!(
        job["metadata"]["labels"]["plinth.dev/kind"],
        "environment-build"
    );
    call.created("uid-build");
    let call = server
        .expect(Method::POST, "/api/v1/namespaces/plinth-p1/configmaps")
        .await;
    assert_eq!(call.body["metadata"]["name"], "plinth-envb-abc");
    assert_eq!(call.body["data"]["Dockerfile"], "FROM python:3.11-slim\n");
    assert_eq!(
        call.body["metadata"]["ownerReferences"][0]["uid"], "uid-build",
        "deleted with the Job"
    );
    call.created("uid-cm");
    if let Some(credentials) = credentials {
        let call = server
            .expect(Method::POST, "/api/v1/namespaces/plinth-p1/secrets")
            .await;
        assert_eq!(call.body["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(
            call.body["data"][".dockerconfigjson"],
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        assert_eq!(
            call.body["metadata"]["ownerReferences"][0]["uid"],
            "uid-build"
        );
        call.created("uid-secret");
    }
    let call = server
        .expect(
            Method::PATCH,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-envb-abc",
        )
        .await;
    assert_eq!(call.body, json!({ "spec": { "suspend": false } }));
    call.respond(200, build_job(json!({ "active": 1 })));
    job
}

/// Answers the log read and the Job's deletion.
async fn answer_log_and_deletion(server: &mut ApiServer, log: &str) {
    let call = server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth-p1/pods/plinth-envb-abc-x1/log",
        )
        .await;
    assert_eq!(
        call.query.get("container").map(String::as_str),
        Some("buildkit")
    );
    call.respond_text(log);
    let call = server
        .expect(
            Method::DELETE,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-envb-abc",
        )
        .await;
    assert_eq!(call.body["propagationPolicy"], "Background");
    call.respond(200, deleted());
}

#[tokio::test]
async fn a_build_copies_the_credentials_runs_the_job_to_its_end_and_reads_the_digest() {
    let (builder, mut server) = builder(true);
    let built = tokio::spawn(async move { builder.build(spec()).await });
    let config_json = br#"{"auths":{"registry.example.com":{"auth":"cm9ib3Q6cw=="}}}"#;
    let call = server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth/secrets/plinth-registry",
        )
        .await;
    call.respond(
        200,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": "plinth-registry", "namespace": "plinth" },
            "type": "kubernetes.io/dockerconfigjson",
            "data": { ".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config_json) },
        }),
    );
    answer_namespace(&mut server).await;
    let job = answer_creation(&mut server, Some(config_json)).await;
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"][1]["name"], "DOCKER_CONFIG");
    // Polled while it runs, then complete.
    let path = "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-envb-abc";
    server
        .expect(Method::GET, path)
        .await
        .respond(200, build_job(json!({ "active": 1 })));
    server.expect(Method::GET, path).await.respond(
        200,
        build_job(json!({
            "succeeded": 1,
            "conditions": [{ "type": "Complete", "status": "True" }],
        })),
    );
    let call = server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await;
    assert_eq!(call.query["labelSelector"], selector("envb-abc"));
    let metadata = json!({ "containerimage.digest": DIGEST, "image.name": "x" }).to_string();
    call.respond(
        200,
        list(
            "v1",
            "PodList",
            vec![build_pod(json!({ "exitCode": 0, "message": metadata }))],
        ),
    );
    answer_log_and_deletion(&mut server, "#5 pushing layers done\n").await;
    let built = built.await.unwrap().unwrap();
    assert_eq!(built.digest.as_deref(), Some(DIGEST));
    assert_eq!(built.log, "#5 pushing layers done\n");
    server.expect_no_more().await;
}

#[tokio::test]
async fn a_failed_build_says_why_with_the_builders_last_lines_and_is_deleted() {
    let (builder, mut server) = builder(false);
    let built = tokio::spawn(async move { builder.build(spec()).await });
    answer_namespace(&mut server).await;
    answer_creation(&mut server, None).await;
    server
        .expect(
            Method::GET,
            "/apis/batch/v1/namespaces/plinth-p1/jobs/plinth-envb-abc",
        )
        .await
        .respond(
            200,
            build_job(json!({
                "failed": 1,
                "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit" }],
            })),
        );
    let message = "ERROR: failed to solve: process \"/bin/sh -c pip install\" did not complete successfully: exit code: 1\nERROR: No matching distribution found for six==9.9";
    server
        .expect(Method::GET, "/api/v1/namespaces/plinth-p1/pods")
        .await
        .respond(
            200,
            list(
                "v1",
                "PodList",
                vec![build_pod(json!({ "exitCode": 1, "message": message }))],
            ),
        );
    answer_log_and_deletion(&mut server, "full log\n").await;
    let error = built.await.unwrap().unwrap_err();
    let ExecError::CannotStart { reason, .. } = &error else {
        panic!("expected CannotStart, got {error:?}");
    };
    assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
    assert!(
        reason.contains("No matching distribution found for six==9.9"),
        "{reason}"
    );
    server.expect_no_more().await;
}

#[tokio::test]
async fn a_credentials_secret_without_its_key_is_named() {
    let (builder, mut server) = builder(true);
    let built = tokio::spawn(async move { builder.build(spec()).await });
    server
        .expect(
            Method::GET,
            "/api/v1/namespaces/plinth/secrets/plinth-registry",
        )
        .await
        .respond(
            200,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "plinth-registry", "namespace": "plinth" },
                "data": { "token": "eA==" },
            }),
        );
    let error = built.await.unwrap().unwrap_err().to_string();
    assert!(
        error.contains("environments.images.credentials_secret")
            && error.contains(".dockerconfigjson"),
        "{error}"
    );
    server.expect_no_more().await;
}
