//! A representative set of workload specs and the manifests they produce, for the schema
//! check (`plinth-kube-manifests`, `scripts/lib/kube-validate.sh`) and the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use plinth_executor::{
    ExecResult, ImageBuildSpec, Placement, Resources, RestartPolicy, Taint, WorkingFiles,
    WorkloadKind, WorkloadSpec,
};

use crate::manifests::{
    namespace_manifest, network_policy_manifest, owner_reference, WorkloadManifests,
};
use crate::KubeSettings;

/// The project the samples belong to (an id as Plinth makes them).
pub const SAMPLE_PROJECT: &str = "0190f1c2a7b47d3e9c1f5a6b8d2e4f60";

/// Settings as an operator would set them, with an owner so owner references are checked.
pub fn sample_settings() -> KubeSettings {
    KubeSettings {
        default_image: "ghcr.io/plinth/runtime:1".to_string(),
        owner: Some(OwnerReference {
            api_version: "v1".to_string(),
            kind: "Namespace".to_string(),
            name: "plinth".to_string(),
            uid: "6f1d2b1e-3c4a-4e5f-8a9b-0c1d2e3f4a5b".to_string(),
            controller: None,
            block_owner_deletion: None,
        }),
        ..KubeSettings::default()
    }
}

/// A batch job on CPUs, with odd labels to sanitize.
pub fn cpu_job() -> WorkloadSpec {
    WorkloadSpec {
        id: "train-cpu-1".to_string(),
        name: "train (cpu)".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        kind: WorkloadKind::Batch,
        image: Some("python:3.12-slim".to_string()),
        command: vec!["python".to_string(), "-m".to_string(), "train".to_string()],
        env: BTreeMap::from([("EPOCHS".to_string(), "3".to_string())]),
        resources: Resources {
            cpu_millis: 1500,
            memory_bytes: 2 * 1024 * 1024 * 1024,
            gpus: 0,
        },
        placement: Placement {
            pool: "compute".to_string(),
            node_selector: BTreeMap::from([("plinth.dev/pool".to_string(), "compute".to_string())]),
            tolerations: Vec::new(),
        },
        labels: BTreeMap::from([
            ("plinth.dev/kind".to_string(), "job".to_string()),
            ("Who".to_string(), "alice@example.com".to_string()),
            ("bad key!".to_string(), "-x-".to_string()),
        ]),
        ..WorkloadSpec::default()
    }
}

/// A batch job on a GPU node pool that is tainted, retried on failure.
pub fn gpu_job() -> WorkloadSpec {
    WorkloadSpec {
        id: "train-gpu-1".to_string(),
        name: "train (gpu)".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        kind: WorkloadKind::Batch,
        image: Some("nvcr.io/nvidia/pytorch:24.05-py3".to_string()),
        command: vec!["torchrun".to_string(), "train.py".to_string()],
        resources: Resources {
            cpu_millis: 8000,
            memory_bytes: 32 * 1024 * 1024 * 1024,
            gpus: 2,
        },
        placement: Placement {
            pool: "gpu".to_string(),
            node_selector: BTreeMap::from([("plinth.dev/pool".to_string(), "gpu".to_string())]),
            tolerations: vec![
                Taint {
                    key: "plinth.dev/pool".to_string(),
                    value: "gpu".to_string(),
                    effect: "NoSchedule".to_string(),
                },
                Taint {
                    key: "nvidia.com/gpu".to_string(),
                    value: String::new(),
                    effect: String::new(),
                },
            ],
        },
        restart: RestartPolicy::OnFailure,
        ..WorkloadSpec::default()
    }
}

/// A server with two named ports, on the default image.
pub fn two_port_service() -> WorkloadSpec {
    WorkloadSpec {
        id: "model-api-1".to_string(),
        name: "model API".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        kind: WorkloadKind::Service,
        image: None,
        command: vec![
            "plinth-serve".to_string(),
            "--model".to_string(),
            "m1".to_string(),
        ],
        ports: vec!["http".to_string(), "metrics".to_string()],
        resources: Resources {
            cpu_millis: 500,
            memory_bytes: 512 * 1024 * 1024,
            gpus: 0,
        },
        restart: RestartPolicy::Always,
        ..WorkloadSpec::default()
    }
}

/// A batch job starting from working files, with secrets.
pub fn files_job() -> WorkloadSpec {
    WorkloadSpec {
        id: "notebook-run-1".to_string(),
        name: "run notebook".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        kind: WorkloadKind::Batch,
        image: Some("python:3.12-slim".to_string()),
        command: vec!["python".to_string(), "main.py".to_string()],
        env: BTreeMap::from([(
            "PLINTH_URL".to_string(),
            "http://plinth.plinth:8080".to_string(),
        )]),
        secret_env: BTreeMap::from([
            (
                "PLINTH_TOKEN".to_string(),
                "plt_0123456789abcdef".to_string(),
            ),
            ("HF_TOKEN".to_string(), "hf_secret".to_string()),
        ]),
        files: Some(WorkingFiles {
            url: "http://plinth.plinth:8080/api/v1/projects/p/snapshots/s1.tar.gz".to_string(),
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string(),
        }),
        ..WorkloadSpec::default()
    }
}

/// A server (a workspace) starting from working files, with secrets and one port.
pub fn files_service() -> WorkloadSpec {
    WorkloadSpec {
        id: "workspace-1".to_string(),
        name: "workspace".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        kind: WorkloadKind::Service,
        command: vec!["jupyter".to_string(), "lab".to_string()],
        ports: vec!["web".to_string()],
        ..files_job()
    }
}

/// Every sample manifest exactly as `submit` sends it (idle where `submit` first creates
/// it idle, Secrets and Services owned by their controller), by file name.
pub fn sample_manifests() -> ExecResult<Vec<(String, serde_json::Value)>> {
    let settings = sample_settings();
    let json = |value: Result<serde_json::Value, serde_json::Error>| {
        value.map_err(|error| plinth_executor::ExecError::Backend(Box::new(error)))
    };
    let mut manifests = vec![
        (
            "namespace.json".to_string(),
            json(serde_json::to_value(namespace_manifest(
                &settings,
                SAMPLE_PROJECT,
            )?))?,
        ),
        (
            "networkpolicy.json".to_string(),
            json(serde_json::to_value(network_policy_manifest(
                &settings,
                SAMPLE_PROJECT,
            )?))?,
        ),
    ];
    let specs = [
        ("batch-cpu", cpu_job()),
        ("batch-gpu", gpu_job()),
        ("service-two-ports", two_port_service()),
        ("batch-files-secrets", files_job()),
        ("service-files-secrets", files_service()),
    ];
    for (name, spec) in specs {
        let built = WorkloadManifests::build(&spec, &settings)?;
        let mut controller = built.controller;
        if built.secret.is_some() {
            controller.make_idle();
        }
        let file = format!("{name}.{}.json", controller.kind().to_ascii_lowercase());
        manifests.push((file, json(controller.to_json())?));
        // As created: the owner reference needs the uid the API server gave the controller.
        let mut created = controller;
        match &mut created {
            crate::manifests::Controller::Job(job) => {
                job.metadata.uid = Some("2a6c1e0b-9d8f-4c3b-a1e2-f3d4c5b6a7e8".to_string());
            }
            crate::manifests::Controller::Deployment(deployment) => {
                deployment.metadata.uid = Some("2a6c1e0b-9d8f-4c3b-a1e2-f3d4c5b6a7e8".to_string());
            }
        }
        let owner = owner_reference(&created).map(|owner| vec![owner]);
        if let Some(mut secret) = built.secret {
            secret.metadata.owner_references = owner.clone();
            manifests.push((
                format!("{name}.secret.json"),
                json(serde_json::to_value(secret))?,
            ));
        }
        if let Some(mut service) = built.service {
            service.metadata.owner_references = owner.clone();
            manifests.push((
                format!("{name}.service.json"),
                json(serde_json::to_value(service))?,
            ));
        }
    }
    // An environment image build as `KubeImageBuilder` creates it: the Job (suspended),
    // then its ConfigMap and credentials Secret owned by it.
    let build = crate::image_build::ImageBuildManifests::build(
        &image_build(),
        &settings,
        &crate::image_build::ImageBuildSettings {
            credentials_secret: Some("plinth-registry".to_string()),
            insecure: true,
            ..crate::image_build::ImageBuildSettings::default()
        },
    )?;
    manifests.push((
        "environment-build.job.json".to_string(),
        json(serde_json::to_value(&build.job))?,
    ));
    let mut created = build.job.clone();
    created.metadata.uid = Some("5b7c9d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e".to_string());
    let owner = owner_reference(&crate::manifests::Controller::Job(Box::new(created)))
        .map(|owner| vec![owner]);
    let mut config_map = build.config_map;
    config_map.metadata.owner_references = owner.clone();
    manifests.push((
        "environment-build.configmap.json".to_string(),
        json(serde_json::to_value(config_map))?,
    ));
    if let Some(mut secret) = build.secret {
        secret.metadata.owner_references = owner;
        secret.data = Some(BTreeMap::from([(
            crate::image_build::DOCKER_CONFIG_KEY.to_string(),
            k8s_openapi::ByteString(
                br#"{"auths":{"registry.example.com:5000":{"auth":"cm9ib3Q6cw=="}}}"#.to_vec(),
            ),
        )]));
        manifests.push((
            "environment-build.secret.json".to_string(),
            json(serde_json::to_value(secret))?,
        ));
    }
    Ok(manifests)
}

/// An environment image build: a generated Dockerfile and a lock.
pub fn image_build() -> ImageBuildSpec {
    ImageBuildSpec {
        id: "envb-3f2a9c1b7d4e-1a2b3c4d".to_string(),
        project: SAMPLE_PROJECT.to_string(),
        image: format!(
            "registry.example.com:5000/plinth/{SAMPLE_PROJECT}/train:{}",
            "3f2a9c1b7d4e".repeat(5) + "0123"
        ),
        context: BTreeMap::from([
            (
                "Dockerfile".to_string(),
                "FROM python:3.11-slim-bookworm\nCOPY requirements.lock /opt/plinth/requirements.lock\n".to_string(),
            ),
            (
                "requirements.lock".to_string(),
                "six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n".to_string(),
            ),
        ]),
        labels: BTreeMap::from([("plinth.dev/environment".to_string(), "train".to_string())]),
    }
}

/// Writes every sample manifest into `dir` (created if missing), one JSON file each;
/// returns their paths.
pub fn write_sample_manifests(
    dir: &Path,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error + Send + Sync>> {
    fs_err::create_dir_all(dir)?;
    let mut paths = Vec::new();
    for (file, manifest) in sample_manifests()? {
        let path = dir.join(file);
        fs_err::write(&path, serde_json::to_vec_pretty(&manifest)?)?;
        paths.push(path);
    }
    Ok(paths)
}
