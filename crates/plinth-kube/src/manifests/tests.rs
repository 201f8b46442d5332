use plinth_executor::WorkingFiles;
use serde_json::{json, Value};

use super::*;
use crate::samples::{
    cpu_job, files_job, files_service, gpu_job, sample_settings, two_port_service, SAMPLE_PROJECT,
};

fn build(spec: &WorkloadSpec) -> WorkloadManifests {
    WorkloadManifests::build(spec, &sample_settings()).unwrap()
}

fn controller_json(spec: &WorkloadSpec) -> Value {
    build(spec).controller.to_json().unwrap()
}

fn invalid_field(spec: &WorkloadSpec, settings: &KubeSettings) -> (&'static str, String) {
    match WorkloadManifests::build(spec, settings) {
        Err(ExecError::InvalidSpec { field, reason }) => (field, reason),
        other => panic!("expected an invalid spec, got {other:?}"),
    }
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|variable| {
            (
                variable["name"].as_str().unwrap().to_string(),
                variable.clone(),
            )
        })
        .collect()
}

#[test]
fn a_cpu_job_is_a_job_with_requests_limits_and_placement() {
    let job = controller_json(&cpu_job());
    let namespace = format!("plinth-{SAMPLE_PROJECT}");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["name"], "plinth-train-cpu-1");
    assert_eq!(job["metadata"]["namespace"], namespace.as_str());
    let labels = &job["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "plinth");
    assert_eq!(labels["plinth.dev/workload"], "train-cpu-1");
    assert_eq!(labels["plinth.dev/project"], SAMPLE_PROJECT);
    assert_eq!(labels["plinth.dev/kind"], "job");
    assert_eq!(labels["Who"], "alice-example.com", "sanitized value");
    assert_eq!(labels["bad-key"], "x", "sanitized key and value");
    assert_eq!(job["metadata"]["annotations"]["plinth.dev/pool"], "compute");
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "Namespace");
    // "never restart" means no replacement pod either.
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert!(job["spec"].get("suspend").is_none());
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(job["spec"]["template"]["metadata"]["labels"], *labels);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["nodeSelector"], json!({ "plinth.dev/pool": "compute" }));
    assert!(pod.get("tolerations").is_none());
    assert!(pod.get("initContainers").is_none());
    assert!(pod.get("volumes").is_none());
    let main = &pod["containers"][0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["image"], "python:3.12-slim");
    assert_eq!(main["command"], json!(["python", "-m", "train"]));
    assert_eq!(
        main["resources"],
        json!({
            "requests": { "cpu": "1500m", "memory": "2147483648" },
            "limits": { "cpu": "1500m", "memory": "2147483648" },
        })
    );
    assert_eq!(main["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        main["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(env_of(main)["EPOCHS"]["value"], "3");
    assert!(main.get("envFrom").is_none());
    assert!(main.get("workingDir").is_none());
    let built = build(&cpu_job());
    assert!(built.secret.is_none() && built.service.is_none());
}

#[test]
fn a_gpu_job_asks_for_gpus_in_limits_and_tolerates_its_pool() {
    let job = controller_json(&gpu_job());
    assert_eq!(job["spec"]["backoffLimit"], sample_settings().backoff_limit);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "OnFailure");
    assert_eq!(
        pod["tolerations"],
        json!([
            { "key": "plinth.dev/pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule" },
            { "key": "nvidia.com/gpu", "operator": "Exists" },
        ])
    );
    let resources = &pod["containers"][0]["resources"];
    assert_eq!(resources["limits"]["nvidia.com/gpu"], "2");
    assert_eq!(resources["limits"]["cpu"], "8000m");
    assert!(resources["requests"].get("nvidia.com/gpu").is_none());
}

#[test]
fn cpu_quantities_are_millicores() {
    let mut spec = cpu_job();
    spec.resources.cpu_millis = 250;
    spec.resources.memory_bytes = 0;
    let job = controller_json(&spec);
    let resources = &job["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(resources["limits"], json!({ "cpu": "250m" }));
    spec.resources.cpu_millis = 0;
    let job = controller_json(&spec);
    assert!(job["spec"]["template"]["spec"]["containers"][0]
        .get("resources")
        .is_none());
}

#[test]
fn a_service_is_a_deployment_and_a_service_with_one_port_per_name() {
    let built = build(&two_port_service());
    assert_eq!(
        built.ports,
        BTreeMap::from([("http".to_string(), 8000), ("metrics".to_string(), 8001)])
    );
    let deployment = built.controller.to_json().unwrap();
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        json!({ "app.kubernetes.io/managed-by": "plinth", "plinth.dev/workload": "model-api-1" })
    );
    assert_eq!(
        deployment["metadata"]["annotations"]["plinth.dev/ports"],
        "http=8000,metrics=8001"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    let main = &pod["containers"][0];
    assert_eq!(
        main["image"], "ghcr.io/plinth/runtime:1",
        "the default image"
    );
    let env = env_of(main);
    assert_eq!(env["PLINTH_PORT_HTTP"]["value"], "8000");
    assert_eq!(env["PLINTH_PORT_METRICS"]["value"], "8001");
    assert_eq!(
        main["ports"],
        json!([
            { "containerPort": 8000, "name": "http", "protocol": "TCP" },
            { "containerPort": 8001, "name": "metrics", "protocol": "TCP" },
        ])
    );
    let service = serde_json::to_value(built.service.unwrap()).unwrap();
    assert_eq!(service["apiVersion"], "v1");
    assert_eq!(service["kind"], "Service");
    assert_eq!(service["metadata"]["name"], "plinth-model-api-1");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        service["spec"]["ports"],
        json!([
            { "name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP" },
            { "name": "metrics", "port": 8001, "targetPort": 8001, "protocol": "TCP" },
        ])
    );
    assert!(built.secret.is_none());
}

#[test]
fn a_port_name_kubernetes_would_refuse_on_a_container_stays_off_it() {
    let mut spec = two_port_service();
    spec.ports = vec!["8080".to_string(), "a--b".to_string()];
    let built = build(&spec);
    let deployment = built.controller.to_json().unwrap();
    let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(ports[0].get("name").is_none() && ports[1].get("name").is_none());
    let service = serde_json::to_value(built.service.unwrap()).unwrap();
    assert_eq!(service["spec"]["ports"][0]["name"], "8080");
}

#[test]
fn working_files_come_from_an_init_container_with_the_token_from_the_secret() {
    let built = build(&files_job());
    let job = built.controller.to_json().unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"], json!([{ "name": "work", "emptyDir": {} }]));
    let init = &pod["initContainers"][0];
    assert_eq!(init["name"], "fetch-files");
    assert_eq!(init["image"], "busybox:1.36");
    assert_eq!(
        init["volumeMounts"],
        json!([{ "name": "work", "mountPath": "/work" }])
    );
    assert_eq!(init["securityContext"]["runAsNonRoot"], true);
    assert_eq!(init["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(init["terminationMessagePolicy"], "FallbackToLogsOnError");
    let init_env = env_of(init);
    assert_eq!(
        init_env["PLINTH_FILES_URL"]["value"],
        files_job().files.unwrap().url.as_str()
    );
    assert_eq!(
        init_env["PLINTH_TOKEN"]["valueFrom"],
        json!({ "secretKeyRef": { "name": "plinth-notebook-run-1", "key": "PLINTH_TOKEN", "optional": false } })
    );
    let script = init["command"][2].as_str().unwrap();
    assert!(script.contains("Authorization: Bearer $PLINTH_TOKEN"));
    assert!(script.contains("sha256sum"));
    let main = &pod["containers"][0];
    assert_eq!(main["workingDir"], "/work");
    assert_eq!(main["volumeMounts"], init["volumeMounts"]);
    assert_eq!(
        main["envFrom"],
        json!([{ "secretRef": { "name": "plinth-notebook-run-1", "optional": false } }])
    );
    let env = env_of(main);
    assert!(
        !env.contains_key("PLINTH_TOKEN"),
        "secrets stay out of the pod spec"
    );
    assert_eq!(env["PLINTH_URL"]["value"], "http://plinth.plinth:8080");

    let secret = serde_json::to_value(built.secret.unwrap()).unwrap();
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["metadata"]["name"], "plinth-notebook-run-1");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(
        secret["stringData"],
        json!({ "PLINTH_TOKEN": "plt_0123456789abcdef", "HF_TOKEN": "hf_secret" })
    );
    assert!(
        secret["metadata"].get("ownerReferences").is_none(),
        "owned by the Job once that exists"
    );
}

#[test]
fn a_server_with_working_files_gets_them_too() {
    let built = build(&files_service());
    let deployment = built.controller.to_json().unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["initContainers"][0]["name"],
        "fetch-files"
    );
    assert!(built.secret.is_some() && built.service.is_some());
}

#[test]
fn a_name_in_env_and_secret_env_keeps_the_secret() {
    let mut spec = files_job();
    spec.env
        .insert("HF_TOKEN".to_string(), "public".to_string());
    spec.env
        .insert("PLINTH_PORT_X".to_string(), "1".to_string());
    spec.ports = vec!["x".to_string()];
    let job = controller_json(&spec);
    let env = env_of(&job["spec"]["template"]["spec"]["containers"][0]);
    assert!(!env.contains_key("HF_TOKEN"));
    assert_eq!(env["PLINTH_PORT_X"]["value"], "8000");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|variable| variable["name"] == "PLINTH_PORT_X")
            .count(),
        1
    );
}

#[test]
fn make_idle_suspends_a_job_and_scales_a_deployment_to_zero() {
    let mut job = build(&files_job()).controller;
    job.make_idle();
    assert_eq!(job.to_json().unwrap()["spec"]["suspend"], true);
    let mut deployment = build(&files_service()).controller;
    deployment.make_idle();
    assert_eq!(deployment.to_json().unwrap()["spec"]["replicas"], 0);
}

#[test]
fn owner_reference_needs_the_created_uid() {
    let mut controller = build(&files_job()).controller;
    assert!(owner_reference(&controller).is_none());
    if let Controller::Job(job) = &mut controller {
        job.metadata.uid = Some("uid-1".to_string());
    }
    let owner = owner_reference(&controller).unwrap();
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("batch/v1", "Job", "plinth-notebook-run-1", "uid-1")
    );
    assert_eq!(owner.controller, Some(true));
}

#[test]
fn namespace_and_default_deny_policy() {
    let settings = sample_settings();
    let namespace = serde_json::to_value(namespace_manifest(&settings, "p1").unwrap()).unwrap();
    assert_eq!(namespace["apiVersion"], "v1");
    assert_eq!(namespace["kind"], "Namespace");
    assert_eq!(namespace["metadata"]["name"], "plinth-p1");
    assert_eq!(
        namespace["metadata"]["labels"],
        json!({ "app.kubernetes.io/managed-by": "plinth", "plinth.dev/project": "p1" })
    );
    let policy = serde_json::to_value(network_policy_manifest(&settings, "p1").unwrap()).unwrap();
    assert_eq!(policy["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(policy["metadata"]["namespace"], "plinth-p1");
    assert_eq!(
        policy["spec"],
        json!({
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "plinth" } } }] }],
            "egress": [
                { "to": [{ "namespaceSelector": {} }],
                  "ports": [{ "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 }] },
                { "to": [{ "podSelector": {} }] },
                { "to": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "plinth" } },
                           "podSelector": { "matchLabels": { "app.kubernetes.io/name": "plinth" } } }],
                  "ports": [{ "protocol": "TCP", "port": 8080 }] },
                { "to": [
                    { "ipBlock": { "cidr": "0.0.0.0/0",
                                   "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"] } },
                    { "ipBlock": { "cidr": "::/0", "except": ["fc00::/7", "fe80::/10"] } }
                ] },
            ],
        })
    );
}

#[test]
fn specs_kubernetes_cannot_run_are_refused_naming_the_field() {
    let no_default = KubeSettings::default();
    let mut spec = two_port_service();
    spec.image = None;
    assert_eq!(invalid_field(&spec, &no_default).0, "image");
    spec.image = Some("  ".to_string());
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "image");

    let mut spec = cpu_job();
    spec.restart = RestartPolicy::Always;
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "restart");

    let mut spec = files_job();
    spec.secret_env.remove("PLINTH_TOKEN");
    let (field, reason) = invalid_field(&spec, &sample_settings());
    assert_eq!(field, "files");
    assert!(reason.contains("PLINTH_TOKEN"), "{reason}");

    let mut spec = files_job();
    spec.files = Some(WorkingFiles {
        url: "http://x/y.tar.gz".to_string(),
        sha256: "abc".to_string(),
    });
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "files");
    spec.files = Some(WorkingFiles {
        url: "file:///etc/passwd".to_string(),
        sha256: "0".repeat(64),
    });
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "files");

    for project in ["", "Project", "a_b", &"p".repeat(60)] {
        let mut spec = cpu_job();
        spec.project = project.to_string();
        assert_eq!(
            invalid_field(&spec, &sample_settings()).0,
            "project",
            "{project:?}"
        );
    }

    let mut spec = two_port_service();
    spec.ports = vec!["http".to_string(), "http".to_string()];
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "ports");
    spec.ports = vec!["-http".to_string()];
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "ports");

    let mut spec = gpu_job();
    spec.placement.tolerations[0].effect = "Sometimes".to_string();
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "placement");
    spec.placement.tolerations[0].effect = "NoSchedule".to_string();
    spec.placement.tolerations[0].key = "bad key".to_string();
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "placement");

    let mut spec = cpu_job();
    spec.id = "Not-Valid".to_string();
    assert_eq!(invalid_field(&spec, &sample_settings()).0, "id");
}

#[test]
fn label_values_and_keys_are_sanitized() {
    assert_eq!(label_value("alice@example.com"), "alice-example.com");
    assert_eq!(label_value("-_.x.-_"), "x");
    assert_eq!(label_value(""), "");
    assert_eq!(label_value("ü"), "");
    let long = label_value(&format!("{}-tail", "a".repeat(62)));
    assert_eq!(long, "a".repeat(62), "63 characters, trailing `-` trimmed");
    assert_eq!(
        label_key("plinth.dev/kind").as_deref(),
        Some("plinth.dev/kind")
    );
    assert_eq!(
        label_key("Plinth.DEV/Kind").as_deref(),
        Some("plinth.dev/Kind")
    );
    assert_eq!(label_key("a b/c d").as_deref(), Some("a-b/c-d"));
    assert_eq!(label_key("x/").as_deref(), None);
    assert_eq!(label_key("/x").as_deref(), Some("x"));
    assert_eq!(label_key("a/b/c").as_deref(), Some("a/b-c"));
}

#[test]
fn ports_round_trip_through_the_annotation() {
    let built = build(&two_port_service());
    assert_eq!(
        ports_from_annotations(built.controller.metadata()),
        built.ports
    );
    assert!(ports_from_annotations(&ObjectMeta::default()).is_empty());
}

/// Runs the init container's script with this machine's `sh`, `wget`, `sha256sum` and
/// `tar` against a local HTTP server that wants the token.
#[tokio::test]
async fn the_fetch_script_downloads_checks_and_unpacks() {
    use sha2_free_digest::sha256_hex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let source = tempfile::tempdir().unwrap();
    fs_err::write(source.path().join("main.py"), "print('hi')\n").unwrap();
    let archive_path = source.path().join("files.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&archive_path)
        .arg("-C")
        .arg(source.path())
        .arg("main.py")
        .status()
        .unwrap();
    assert!(status.success());
    let archive = fs_err::read(&archive_path).unwrap();
    let sha256 = sha256_hex(&archive_path);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = archive.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let served = served.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..read]).to_string();
                let response = if request
                    .lines()
                    .any(|line| line.eq_ignore_ascii_case("authorization: bearer t0ken"))
                {
                    let mut response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        served.len()
                    )
                    .into_bytes();
                    response.extend_from_slice(&served);
                    response
                } else {
                    b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = socket.write_all(&response).await;
            });
        }
    });

    let run = |token: &str, sha256: &str| {
        let work = tempfile::tempdir().unwrap();
        let script = FETCH_SCRIPT.replace("/work", &work.path().display().to_string());
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PLINTH_FILES_URL", format!("http://{address}/files.tar.gz"))
            .env("PLINTH_FILES_SHA256", sha256)
            .env("PLINTH_TOKEN", token)
            .output();
        async move { (output.await.unwrap(), work) }
    };
    let (output, work) = run("t0ken", &sha256).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs_err::read_to_string(work.path().join("main.py")).unwrap(),
        "print('hi')\n"
    );
    assert!(!work
        .path()
        .join(".plinth-files.tar.gz")
        .try_exists()
        .unwrap());

    let (output, _work) = run("t0ken", &"0".repeat(64)).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("checksum mismatch"));

    let (output, _work) = run("wrong", &sha256).await;
    assert!(
        !output.status.success(),
        "a refused download fails the container"
    );
}

/// `sha256sum` from the machine, so the test needs no hashing crate.
mod sha2_free_digest {
    pub fn sha256_hex(path: &std::path::Path) -> String {
        let output = std::process::Command::new("sha256sum")
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()[..64].to_string()
    }
}

/// The gateway reaches a server through its Service's cluster DNS name, in the project's
/// namespace; a project that makes no namespace name makes no host either.
#[test]
fn service_host_names_the_service_in_the_project_namespace() {
    let settings = KubeSettings::default();
    assert_eq!(
        service_host(&settings, "app1", "p42").unwrap(),
        "plinth-app1.plinth-p42.svc"
    );
    assert!(service_host(&settings, "app1", "Not A Label").is_err());
}
