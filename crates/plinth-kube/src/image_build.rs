//! Environment image builds on the cluster: a BuildKit (rootless) Job in the project's
//! namespace builds the context Plinth generated (a Dockerfile and a lock, passed as a
//! ConfigMap) and pushes the image to the configured registry, with the registry's
//! credentials (a Docker `config.json` Secret the operator keeps in the platform
//! namespace, copied per build into a Secret owned by the Job).
//!
//! [`ImageBuildManifests::build`] is pure (the schema check and the tests read it);
//! [`KubeImageBuilder`] makes the calls: Job (suspended), ConfigMap and Secret owned by it,
//! start, poll until the Job ends, read the pushed digest from the builder's termination
//! message (BuildKit's `--metadata-file`), read its log, delete the Job.
//!
//! Why BuildKit rootless rather than Kaniko: it runs as an unprivileged user (uid 1000)
//! inside the pod, needing only an unconfined seccomp and AppArmor profile for its user
//! namespace (no `privileged`, no root), and it is maintained with Docker's builder
//! (Kaniko's upstream repository was archived in 2025). Kaniko needs root in the
//! container and unpacks the base image over its own file system.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, KeyToPath, Pod,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, Secret,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::Api;
use plinth_executor::{BuiltImage, ExecError, ExecResult, ImageBuildSpec, ImageBuilder};

use crate::error::{api_code, call_failed};
use crate::manifests::{
    label_key, label_value, namespace_name, object_name, selector_labels, workload_selector,
    PROJECT_LABEL,
};
use crate::{KubeSettings, KubernetesExecutor};

/// The builder container's name.
pub const BUILDER_CONTAINER: &str = "buildkit";
/// Where the build context (the ConfigMap) is mounted.
pub const CONTEXT_DIR: &str = "/plinth/context";
/// Where the registry credentials (`config.json`) are mounted; `DOCKER_CONFIG` points here.
pub const DOCKER_CONFIG_DIR: &str = "/home/user/.docker";
/// BuildKit's state folder in the rootless image.
const BUILDKIT_STATE_DIR: &str = "/home/user/.local/share/buildkit";
/// The key of a `kubernetes.io/dockerconfigjson` Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";
/// The project whose namespace builds global environments (`{prefix}global`).
pub const GLOBAL_BUILD_PROJECT: &str = "global";
/// The label marking build objects, with the value [`BUILD_KIND`].
pub const KIND_LABEL: &str = "plinth.dev/kind";
/// The value of [`KIND_LABEL`] on build objects; `list` of the executor skips them.
pub const BUILD_KIND: &str = "environment-build";
/// The uid and gid BuildKit's rootless image runs as.
const BUILDKIT_USER: i64 = 1000;

/// How environment images are built on the cluster; from `[environments.images]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageBuildSettings {
    /// BuildKit's rootless image (it provides `buildctl-daemonless.sh`).
    pub builder_image: String,
    /// The Secret (type `kubernetes.io/dockerconfigjson`) in the platform namespace holding
    /// the registry's credentials; `None` for a registry that needs none.
    pub credentials_secret: Option<String>,
    /// Push over plain HTTP (BuildKit's `registry.insecure`).
    pub insecure: bool,
    /// A build running longer is stopped (Job `activeDeadlineSeconds`).
    pub timeout: Duration,
    /// How often the Job is read while it runs.
    pub poll_interval: Duration,
    /// The builder's CPU and memory request and limit (`2`, `4Gi`).
    pub cpu: String,
    /// See `cpu`.
    pub memory: String,
}

impl Default for ImageBuildSettings {
    fn default() -> Self {
        ImageBuildSettings {
            builder_image: "moby/buildkit:v0.18.2-rootless".to_string(),
            credentials_secret: None,
            insecure: false,
            timeout: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(2),
            cpu: "2".to_string(),
            memory: "4Gi".to_string(),
        }
    }
}

/// The objects of one image build.
#[derive(Clone, Debug)]
pub struct ImageBuildManifests {
    /// The namespace they go to.
    pub namespace: String,
    /// The build context: a file per key.
    pub config_map: ConfigMap,
    /// The registry credentials copied from the platform namespace (`None` without any);
    /// the caller fills in the data.
    pub secret: Option<Secret>,
    /// The builder, suspended: it starts once the ConfigMap and Secret exist.
    pub job: Job,
}

/// Whether `name` can be a key of a ConfigMap and a file of the context.
fn is_context_file(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// The namespace a build of `project` runs in (`""`: global environments).
pub fn build_namespace(settings: &KubeSettings, project: &str) -> ExecResult<String> {
    let project = if project.is_empty() {
        GLOBAL_BUILD_PROJECT
    } else {
        project
    };
    namespace_name(settings, project)
}

/// The builder's command line: BuildKit in the pod (`buildctl-daemonless.sh`) building the
/// context's Dockerfile and pushing `image`; its metadata (with the pushed digest) goes to
/// the termination message.
pub fn builder_args(image: &str, insecure: bool) -> Vec<String> {
    let mut output = format!("type=image,name={image},push=true");
    if insecure {
        output.push_str(",registry.insecure=true");
    }
    vec![
        "build".to_string(),
        "--frontend".to_string(),
        "dockerfile.v0".to_string(),
        "--local".to_string(),
        format!("context={CONTEXT_DIR}"),
        "--local".to_string(),
        format!("dockerfile={CONTEXT_DIR}"),
        "--output".to_string(),
        output,
        "--metadata-file".to_string(),
        "/dev/termination-log".to_string(),
    ]
}

impl ImageBuildManifests {
    /// The objects building `spec`; checks the id, the image reference and the context's
    /// file names.
    pub fn build(
        spec: &ImageBuildSpec,
        settings: &KubeSettings,
        build: &ImageBuildSettings,
    ) -> ExecResult<Self> {
        let valid_id = !spec.id.is_empty()
            && spec.id.len() <= 40
            && spec.id.as_bytes()[0].is_ascii_alphanumeric()
            && spec
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_id {
            return Err(ExecError::InvalidSpec {
                field: "id",
                reason: format!(
                    "`{}` is not 1–40 lower-case letters, digits or `-`",
                    spec.id.escape_debug()
                ),
            });
        }
        if spec.image.is_empty()
            || !spec.image.contains('/')
            || spec.image.contains(['\n', ',', ' ', '"'])
        {
            return Err(ExecError::InvalidSpec {
                field: "image",
                reason: format!(
                    "`{}` is not an image reference `host/path:tag`",
                    spec.image.escape_debug()
                ),
            });
        }
        if !spec.context.contains_key("Dockerfile") {
            return Err(ExecError::InvalidSpec {
                field: "context",
                reason: "has no `Dockerfile`".to_string(),
            });
        }
        if let Some(bad) = spec.context.keys().find(|name| !is_context_file(name)) {
            return Err(ExecError::InvalidSpec {
                field: "context",
                reason: format!(
                    "`{}` is not a file name (letters, digits, `-`, `.`, `_`)",
                    bad.escape_debug()
                ),
            });
        }
        let namespace = build_namespace(settings, &spec.project)?;
        let name = object_name(&spec.id);
        let mut labels: BTreeMap<String, String> = spec
            .labels
            .iter()
            .filter_map(|(key, value)| Some((label_key(key)?, label_value(value))))
            .collect();
        labels.extend(selector_labels(&spec.id));
        labels.insert(
            PROJECT_LABEL.to_string(),
            label_value(if spec.project.is_empty() {
                GLOBAL_BUILD_PROJECT
            } else {
                &spec.project
            }),
        );
        labels.insert(KIND_LABEL.to_string(), BUILD_KIND.to_string());
        let metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        };
        let config_map = ConfigMap {
            metadata: metadata.clone(),
            data: Some(spec.context.clone()),
            immutable: Some(true),
            ..ConfigMap::default()
        };
        let secret = build.credentials_secret.as_ref().map(|_| Secret {
            metadata: metadata.clone(),
            type_: Some("kubernetes.io/dockerconfigjson".to_string()),
            immutable: Some(true),
            ..Secret::default()
        });
        let mut env = vec![EnvVar {
            name: "BUILDKITD_FLAGS".to_string(),
            // No PID namespace of its own for each RUN step: an unprivileged pod cannot
            // mount a fresh /proc. The pod is the sandbox.
            value: Some("--oci-worker-no-process-sandbox".to_string()),
            ..EnvVar::default()
        }];
        let mut mounts = vec![
            VolumeMount {
                name: "context".to_string(),
                mount_path: CONTEXT_DIR.to_string(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "buildkitd".to_string(),
                mount_path: BUILDKIT_STATE_DIR.to_string(),
                ..VolumeMount::default()
            },
        ];
        let mut volumes = vec![
            Volume {
                name: "context".to_string(),
                config_map: Some(ConfigMapVolumeSource {
                    name: name.clone(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "buildkitd".to_string(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ];
        if secret.is_some() {
            env.push(EnvVar {
                name: "DOCKER_CONFIG".to_string(),
                value: Some(DOCKER_CONFIG_DIR.to_string()),
                ..EnvVar::default()
            });
            mounts.push(VolumeMount {
                name: "registry-credentials".to_string(),
                mount_path: DOCKER_CONFIG_DIR.to_string(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
            volumes.push(Volume {
                name: "registry-credentials".to_string(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(name.clone()),
                    items: Some(vec![KeyToPath {
                        key: DOCKER_CONFIG_KEY.to_string(),
                        path: "config.json".to_string(),
                        mode: None,
                    }]),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            });
        }
        let quantities = BTreeMap::from([
            ("cpu".to_string(), Quantity(build.cpu.clone())),
            ("memory".to_string(), Quantity(build.memory.clone())),
        ]);
        let container = Container {
            name: BUILDER_CONTAINER.to_string(),
            image: Some(build.builder_image.clone()),
            command: Some(vec!["buildctl-daemonless.sh".to_string()]),
            args: Some(builder_args(&spec.image, build.insecure)),
            env: Some(env),
            volume_mounts: Some(mounts),
            resources: Some(ResourceRequirements {
                requests: Some(quantities.clone()),
                limits: Some(quantities),
                ..ResourceRequirements::default()
            }),
            termination_message_policy: Some("FallbackToLogsOnError".to_string()),
            security_context: Some(SecurityContext {
                run_as_user: Some(BUILDKIT_USER),
                run_as_group: Some(BUILDKIT_USER),
                // rootlesskit makes a user namespace, which the default profiles refuse.
                seccomp_profile: Some(SeccompProfile {
                    type_: "Unconfined".to_string(),
                    ..SeccompProfile::default()
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        };
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels),
                // The field (`appArmorProfile`) exists from 1.30 only; the annotation works
                // on every version and is what 1.30+ still honours.
                annotations: Some(BTreeMap::from([(
                    format!("container.apparmor.security.beta.kubernetes.io/{BUILDER_CONTAINER}"),
                    "unconfined".to_string(),
                )])),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_string()),
                automount_service_account_token: Some(false),
                enable_service_links: Some(false),
                security_context: Some(PodSecurityContext {
                    run_as_non_root: Some(true),
                    fs_group: Some(BUILDKIT_USER),
                    ..PodSecurityContext::default()
                }),
                volumes: Some(volumes),
                containers: vec![container],
                ..PodSpec::default()
            }),
        };
        let job = Job {
            metadata: ObjectMeta {
                owner_references: settings.owner.clone().map(|owner| vec![owner]),
                ..metadata
            },
            spec: Some(JobSpec {
                backoff_limit: Some(0),
                active_deadline_seconds: Some(
                    i64::try_from(build.timeout.as_secs())
                        .unwrap_or(i64::MAX)
                        .max(1),
                ),
                // Plinth deletes the Job when it has read the result; this removes one a
                // stopped server left behind.
                ttl_seconds_after_finished: Some(24 * 3600),
                suspend: Some(true),
                template,
                ..JobSpec::default()
            }),
            status: None,
        };
        Ok(ImageBuildManifests {
            namespace,
            config_map,
            secret,
            job,
        })
    }
}

/// The digest BuildKit's metadata file (the termination message) reports.
pub fn digest_from_metadata(message: &str) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(message.trim()).ok()?;
    let digest = metadata.get("containerimage.digest")?.as_str()?;
    let valid = digest.len() == 71
        && digest.starts_with("sha256:")
        && digest[7..].bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| digest.to_string())
}

/// The builder container's termination message in `pods` (the newest that has one).
fn termination_message(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .filter_map(|pod| {
            pod.status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .iter()
                .find(|status| status.name == BUILDER_CONTAINER)?
                .state
                .as_ref()?
                .terminated
                .as_ref()?
                .message
                .clone()
        })
        .next_back()
}

/// Whether a Job succeeded (`Some(true)`), failed (`Some(false)`) or runs (`None`).
fn job_outcome(job: &Job) -> Option<bool> {
    let conditions = job
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    for condition in conditions {
        if condition.status != "True" {
            continue;
        }
        match condition.type_.as_str() {
            "Complete" | "SuccessCriteriaMet" => return Some(true),
            "Failed" | "FailureTarget" => return Some(false),
            _ => {}
        }
    }
    None
}

/// Why a Job failed, from its `Failed` condition.
fn failure_reason(job: &Job) -> String {
    job.status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|condition| condition.type_ == "Failed" && condition.status == "True")
        .map(|condition| {
            format!(
                "{}: {}",
                condition.reason.as_deref().unwrap_or("Failed"),
                condition.message.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_else(|| "the build Job failed".to_string())
}

/// Builds environment images with BuildKit Jobs on the cluster of a [`KubernetesExecutor`].
pub struct KubeImageBuilder {
    client: kube::Client,
    settings: KubeSettings,
    build: ImageBuildSettings,
    executor: std::sync::Arc<KubernetesExecutor>,
}

impl std::fmt::Debug for KubeImageBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KubeImageBuilder")
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}

impl KubeImageBuilder {
    /// A builder on `executor`'s cluster (whose namespaces it shares).
    pub fn new(executor: std::sync::Arc<KubernetesExecutor>, build: ImageBuildSettings) -> Self {
        KubeImageBuilder {
            client: executor.client.clone(),
            settings: executor.settings().clone(),
            build,
            executor,
        }
    }

    async fn cleanup(&self, namespace: &str, name: &str) {
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        // The ConfigMap, Secret and pods are owned by the Job and go with it.
        match jobs.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(error) if api_code(&error) == Some(404) => {}
            Err(error) => {
                tracing::warn!(namespace, name, error = %crate::error::chain(&error), "cannot delete a finished image build Job");
            }
        }
    }

    async fn run(
        &self,
        spec: &ImageBuildSpec,
        built: ImageBuildManifests,
        credentials: Option<Vec<u8>>,
    ) -> ExecResult<BuiltImage> {
        let namespace = built.namespace.clone();
        let name = object_name(&spec.id);
        let post = PostParams::default();
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let job = jobs
            .create(&post, &built.job)
            .await
            .map_err(|error| match api_code(&error) {
                Some(409) => ExecError::AlreadyExists(spec.id.clone()),
                _ => call_failed(
                    format!("create Job `{name}` in namespace `{namespace}`"),
                    error,
                ),
            })?;
        let owner =
            crate::manifests::owner_reference(&crate::manifests::Controller::Job(Box::new(job)))
                .map(|owner| vec![owner]);
        let mut config_map = built.config_map;
        config_map.metadata.owner_references = owner.clone();
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &namespace);
        config_maps
            .create(&post, &config_map)
            .await
            .map_err(|error| {
                call_failed(
                    format!("create ConfigMap `{name}` in namespace `{namespace}`"),
                    error,
                )
            })?;
        if let (Some(mut secret), Some(credentials)) = (built.secret, credentials) {
            secret.metadata.owner_references = owner;
            secret.data = Some(BTreeMap::from([(
                DOCKER_CONFIG_KEY.to_string(),
                ByteString(credentials),
            )]));
            let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
            secrets.create(&post, &secret).await.map_err(|error| {
                call_failed(
                    format!("create Secret `{name}` in namespace `{namespace}`"),
                    error,
                )
            })?;
        }
        let body = serde_json::json!({ "spec": { "suspend": false } });
        jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|error| {
                call_failed(
                    format!("start Job `{name}` in namespace `{namespace}`"),
                    error,
                )
            })?;
        let job = loop {
            let job = jobs.get(&name).await.map_err(|error| {
                call_failed(
                    format!("read Job `{name}` in namespace `{namespace}`"),
                    error,
                )
            })?;
            if job_outcome(&job).is_some() {
                break job;
            }
            tokio::time::sleep(self.build.poll_interval).await;
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let pod_list = pods
            .list(&ListParams::default().labels(&workload_selector(&spec.id)))
            .await
            .map_err(|error| {
                call_failed(
                    format!("list pods of build `{name}` in namespace `{namespace}`"),
                    error,
                )
            })?
            .items;
        let message = termination_message(&pod_list).unwrap_or_default();
        let log = match pod_list.last().and_then(|pod| pod.metadata.name.clone()) {
            Some(pod) => pods
                .logs(
                    &pod,
                    &LogParams {
                        container: Some(BUILDER_CONTAINER.to_string()),
                        ..LogParams::default()
                    },
                )
                .await
                .unwrap_or_else(|error| format!("(the builder's log cannot be read: {error})\n")),
            None => String::new(),
        };
        if job_outcome(&job) == Some(true) {
            Ok(BuiltImage {
                digest: digest_from_metadata(&message),
                log,
            })
        } else {
            let reason = failure_reason(&job);
            let tail = if message.trim().is_empty() {
                log.clone()
            } else {
                message
            };
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(ExecError::CannotStart {
                command: format!("image build of `{}`", spec.image),
                reason: format!("{reason}\n{}", tail.join("\n")),
            })
        }
    }
}

#[async_trait]
impl ImageBuilder for KubeImageBuilder {
    async fn registry_credentials(&self) -> ExecResult<Option<Vec<u8>>> {
        let Some(secret_name) = &self.build.credentials_secret else {
            return Ok(None);
        };
        let namespace = &self.settings.platform_namespace;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get(secret_name).await.map_err(|error| {
            call_failed(
                format!("read the registry credentials Secret `{secret_name}` in namespace `{namespace}`"),
                error,
            )
        })?;
        secret
            .data
            .and_then(|mut data| data.remove(DOCKER_CONFIG_KEY))
            .map(|bytes| Some(bytes.0))
            .ok_or_else(|| ExecError::InvalidSpec {
                field: "environments.images.credentials_secret",
                reason: format!(
                    "Secret `{secret_name}` in namespace `{namespace}` has no `{DOCKER_CONFIG_KEY}` key (make it with `kubectl create secret docker-registry`)"
                ),
            })
    }

    async fn build(&self, spec: ImageBuildSpec) -> ExecResult<BuiltImage> {
        let built = ImageBuildManifests::build(&spec, &self.settings, &self.build)?;
        let credentials = self.registry_credentials().await?;
        let project = if spec.project.is_empty() {
            GLOBAL_BUILD_PROJECT
        } else {
            &spec.project
        };
        self.executor.ensure_namespace(project).await?;
        let namespace = built.namespace.clone();
        let name = object_name(&spec.id);
        let result = self.run(&spec, built, credentials).await;
        if !matches!(result, Err(ExecError::AlreadyExists(_))) {
            self.cleanup(&namespace, &name).await;
        }
        tracing::info!(namespace = %namespace, image = %spec.image, ok = result.is_ok(), "image build ended");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ImageBuildSpec {
        ImageBuildSpec {
            id: "envb-0123abcd".to_string(),
            project: "p1".to_string(),
            image: format!(
                "registry.example.com:5000/plinth/p1/train:{}",
                "a".repeat(64)
            ),
            context: BTreeMap::from([
                (
                    "Dockerfile".to_string(),
                    "FROM python:3.11-slim\n".to_string(),
                ),
                ("requirements.lock".to_string(), "six==1.17.0\n".to_string()),
            ]),
            labels: BTreeMap::from([("plinth.dev/environment".to_string(), "train".to_string())]),
        }
    }

    #[test]
    fn the_job_builds_the_context_and_pushes_with_the_credentials() {
        let build = ImageBuildSettings {
            credentials_secret: Some("registry-push".to_string()),
            insecure: true,
            ..ImageBuildSettings::default()
        };
        let built = ImageBuildManifests::build(&spec(), &KubeSettings::default(), &build).unwrap();
        assert_eq!(built.namespace, "plinth-p1");
        assert_eq!(
            built.config_map.metadata.name.as_deref(),
            Some("plinth-envb-0123abcd")
        );
        assert_eq!(built.config_map.data.as_ref().unwrap().len(), 2);
        let job = serde_json::to_value(&built.job).unwrap();
        assert_eq!(job["spec"]["suspend"], true);
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let container = &pod["containers"][0];
        assert_eq!(container["securityContext"]["runAsUser"], 1000);
        assert!(container["securityContext"].get("privileged").is_none());
        let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
        assert!(args.contains(&format!(
            "type=image,name={},push=true,registry.insecure=true",
            spec().image
        )));
        assert!(args.contains(&"/dev/termination-log".to_string()));
        assert_eq!(container["env"][1]["value"], DOCKER_CONFIG_DIR);
        assert_eq!(
            pod["volumes"][2]["secret"]["items"][0],
            serde_json::json!({ "key": ".dockerconfigjson", "path": "config.json" })
        );
        assert_eq!(
            job["metadata"]["labels"]["plinth.dev/kind"],
            "environment-build"
        );
        assert_eq!(
            job["metadata"]["labels"]["plinth.dev/workload"],
            "envb-0123abcd"
        );
        assert_eq!(
            built.secret.unwrap().type_.as_deref(),
            Some("kubernetes.io/dockerconfigjson")
        );
    }

    #[test]
    fn without_credentials_there_is_no_secret_and_global_builds_have_their_namespace() {
        let mut global = spec();
        global.project = String::new();
        let built = ImageBuildManifests::build(
            &global,
            &KubeSettings::default(),
            &ImageBuildSettings::default(),
        )
        .unwrap();
        assert!(built.secret.is_none());
        assert_eq!(built.namespace, "plinth-global");
        let job = serde_json::to_value(&built.job).unwrap();
        let args = job["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(!args.contains("insecure"), "{args}");
        assert_eq!(
            job["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn bad_ids_images_and_context_names_are_refused_naming_the_field() {
        let settings = KubeSettings::default();
        let build = ImageBuildSettings::default();
        let mut bad = spec();
        bad.id = "Bad_Id".to_string();
        let error = ImageBuildManifests::build(&bad, &settings, &build).unwrap_err();
        assert!(error.to_string().contains("`id`"), "{error}");
        let mut bad = spec();
        bad.image = "x,push=false".to_string();
        let error = ImageBuildManifests::build(&bad, &settings, &build).unwrap_err();
        assert!(error.to_string().contains("`image`"), "{error}");
        let mut bad = spec();
        bad.context.insert("../etc".to_string(), String::new());
        let error = ImageBuildManifests::build(&bad, &settings, &build).unwrap_err();
        assert!(error.to_string().contains("`context`"), "{error}");
        let mut bad = spec();
        bad.context.remove("Dockerfile");
        let error = ImageBuildManifests::build(&bad, &settings, &build).unwrap_err();
        assert!(error.to_string().contains("Dockerfile"), "{error}");
    }

    #[test]
    fn the_digest_is_read_from_buildkits_metadata() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let message = format!(
            r#"{{"containerimage.config.digest": "sha256:{}", "containerimage.digest": "{digest}", "image.name": "r/x:t"}}"#,
            "c".repeat(64)
        );
        assert_eq!(digest_from_metadata(&message), Some(digest));
        assert_eq!(digest_from_metadata("error: failed to push"), None);
        assert_eq!(
            digest_from_metadata(r#"{"containerimage.digest": "sha256:short"}"#),
            None
        );
    }
}
