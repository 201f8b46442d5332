//! Pure functions turning a [`WorkloadSpec`] into the Kubernetes objects that run it.
//!
//! Nothing here talks to a cluster: [`crate::KubernetesExecutor`] creates what these
//! functions return, the tests assert on them, and `plinth-kube-manifests` writes them out
//! for the schema check (`scripts/lib/kube-validate.sh`). Only the stable groups are used
//! (`v1`, `apps/v1`, `batch/v1`, `networking.k8s.io/v1`), with fields every Kubernetes
//! from 1.25 knows.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, Secret, SecretEnvSource, SecretKeySelector, SecurityContext, Service,
    ServicePort, ServiceSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use plinth_executor::{
    port_variable, ExecError, ExecResult, RestartPolicy, WorkloadKind, WorkloadSpec,
};

use crate::KubeSettings;

/// The label every object Plinth creates carries, with the value [`MANAGED_BY_VALUE`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "plinth";
/// The label naming the workload (its id) on every object and pod of a workload.
pub const WORKLOAD_LABEL: &str = "plinth.dev/workload";
/// The label naming the project (its id, sanitized) on namespaces and workloads.
pub const PROJECT_LABEL: &str = "plinth.dev/project";
/// The annotation holding the workload's human name.
pub const NAME_ANNOTATION: &str = "plinth.dev/name";
/// The annotation holding the workload's node pool, for the status sentences.
pub const POOL_ANNOTATION: &str = "plinth.dev/pool";
/// The annotation holding the allocated ports: `name=port,name=port`.
pub const PORTS_ANNOTATION: &str = "plinth.dev/ports";
/// The annotation `stop` sets on a Job or Deployment it stopped.
pub const STOPPED_ANNOTATION: &str = "plinth.dev/stopped";
/// The name of the default-deny NetworkPolicy in every project namespace.
pub const NETWORK_POLICY_NAME: &str = "plinth-default-deny";
/// The name of the container running the workload's command.
pub const MAIN_CONTAINER: &str = "main";
/// The name of the init container fetching the working files.
pub const FILES_CONTAINER: &str = "fetch-files";
/// Where the working files are unpacked; the main container's working directory.
pub const WORK_DIR: &str = "/work";
/// The first port handed out; the spec's named ports get consecutive ones from here.
pub const FIRST_PORT: u16 = 8000;
/// The user the init container runs as (the conventional "nonroot" uid).
const INIT_USER: i64 = 65532;
/// The environment variable carrying the token the working files are fetched with.
const TOKEN_VARIABLE: &str = "PLINTH_TOKEN";

/// Downloads, checks and unpacks the working files; run by [`FILES_CONTAINER`] with
/// busybox's `sh`, `wget`, `sha256sum` and `tar`. Its last lines become the container's
/// termination message, which the status shows when it fails.
const FETCH_SCRIPT: &str = r#"set -eu
archive=/work/.plinth-files.tar.gz
wget -q -O "$archive" --header "Authorization: Bearer $PLINTH_TOKEN" "$PLINTH_FILES_URL"
actual=$(sha256sum "$archive" | cut -d ' ' -f 1)
if [ "$actual" != "$PLINTH_FILES_SHA256" ]; then
  echo "working files: checksum mismatch: sha256 is $actual, expected $PLINTH_FILES_SHA256" >&2
  exit 1
fi
tar -xzf "$archive" -C /work
rm -f "$archive"
chmod -R a+rwX /work
"#;

/// The object that runs a workload: a Job for batch work, a Deployment for a server.
#[derive(Clone, Debug)]
pub enum Controller {
    /// Batch work.
    Job(Box<Job>),
    /// A server.
    Deployment(Box<Deployment>),
}

impl Controller {
    /// Returns the object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Controller::Job(job) => &job.metadata,
            Controller::Deployment(deployment) => &deployment.metadata,
        }
    }

    /// Returns the object's kind: `Job` or `Deployment`.
    pub fn kind(&self) -> &'static str {
        match self {
            Controller::Job(_) => "Job",
            Controller::Deployment(_) => "Deployment",
        }
    }

    /// Makes the object idle, as `submit` first creates it when a Secret must exist before
    /// any pod starts: a suspended Job, a Deployment of 0 replicas.
    pub fn make_idle(&mut self) {
        match self {
            Controller::Job(job) => {
                if let Some(spec) = job.spec.as_mut() {
                    spec.suspend = Some(true);
                }
            }
            Controller::Deployment(deployment) => {
                if let Some(spec) = deployment.spec.as_mut() {
                    spec.replicas = Some(0);
                }
            }
        }
    }

    /// Returns the object as JSON (with `apiVersion` and `kind`).
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Controller::Job(job) => serde_json::to_value(job),
            Controller::Deployment(deployment) => serde_json::to_value(deployment),
        }
    }
}

/// Everything one workload needs in its project's namespace.
#[derive(Clone, Debug)]
pub struct WorkloadManifests {
    /// The project's namespace (`{prefix}{project}`).
    pub namespace: String,
    /// The Job or Deployment.
    pub controller: Controller,
    /// The Secret holding `secret_env`, when there is any; owned by the controller once
    /// that exists (see [`owner_reference`]).
    pub secret: Option<Secret>,
    /// The Service exposing a server's ports, when it has any; owned by the controller.
    pub service: Option<Service>,
    /// The ports allocated, by name.
    pub ports: BTreeMap<String, u16>,
}

impl WorkloadManifests {
    /// Builds the objects for `spec`; fails, naming the field, on a spec Kubernetes cannot
    /// run (it calls [`WorkloadSpec::validate`] first).
    pub fn build(spec: &WorkloadSpec, settings: &KubeSettings) -> ExecResult<Self> {
        spec.validate()?;
        let namespace = namespace_name(settings, &spec.project)?;
        let ports = allocate_ports(&spec.ports)?;
        let image = image(spec, settings)?;
        let labels = workload_labels(spec);
        let name = object_name(&spec.id);
        let metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(workload_annotations(spec, &ports)),
            owner_references: settings.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        };
        let template = pod_template(spec, settings, &image, &ports, labels)?;
        let controller = match spec.kind {
            WorkloadKind::Batch => {
                let backoff_limit = match spec.restart {
                    // A Job replaces a failed pod up to backoffLimit times; "never restart"
                    // means no replacement either.
                    RestartPolicy::Never => 0,
                    RestartPolicy::OnFailure | RestartPolicy::Always => {
                        settings.backoff_limit.max(0)
                    }
                };
                Controller::Job(Box::new(Job {
                    metadata: metadata.clone(),
                    spec: Some(JobSpec {
                        backoff_limit: Some(backoff_limit),
                        template,
                        ..JobSpec::default()
                    }),
                    status: None,
                }))
            }
            WorkloadKind::Service => Controller::Deployment(Box::new(Deployment {
                metadata: metadata.clone(),
                spec: Some(DeploymentSpec {
                    replicas: Some(1),
                    revision_history_limit: Some(2),
                    selector: LabelSelector {
                        match_labels: Some(selector_labels(&spec.id)),
                        ..LabelSelector::default()
                    },
                    // One replica, often holding a GPU: never run old and new side by side.
                    strategy: Some(DeploymentStrategy {
                        type_: Some("Recreate".to_string()),
                        ..DeploymentStrategy::default()
                    }),
                    template,
                    ..DeploymentSpec::default()
                }),
                status: None,
            })),
        };
        let plain_metadata = ObjectMeta {
            owner_references: None,
            annotations: None,
            ..metadata
        };
        let secret = (!spec.secret_env.is_empty()).then(|| Secret {
            metadata: plain_metadata.clone(),
            type_: Some("Opaque".to_string()),
            string_data: Some(spec.secret_env.clone()),
            ..Secret::default()
        });
        let service = (spec.kind == WorkloadKind::Service && !ports.is_empty()).then(|| Service {
            metadata: plain_metadata,
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".to_string()),
                selector: Some(selector_labels(&spec.id)),
                ports: Some(
                    ports
                        .iter()
                        .map(|(name, port)| ServicePort {
                            name: Some(name.clone()),
                            port: i32::from(*port),
                            target_port: Some(IntOrString::Int(i32::from(*port))),
                            protocol: Some("TCP".to_string()),
                            ..ServicePort::default()
                        })
                        .collect(),
                ),
                ..ServiceSpec::default()
            }),
            status: None,
        });
        Ok(WorkloadManifests {
            namespace,
            controller,
            secret,
            service,
            ports,
        })
    }
}

/// Returns the cluster DNS name of server workload `id`'s Service in `project`'s
/// namespace: `plinth-<id>.<namespace>.svc`, which the gateway proxies to.
pub fn service_host(settings: &KubeSettings, id: &str, project: &str) -> ExecResult<String> {
    Ok(format!(
        "{}.{}.svc",
        object_name(id),
        namespace_name(settings, project)?
    ))
}

/// Returns the name of every object of workload `id`: `plinth-<id>`.
pub fn object_name(id: &str) -> String {
    format!("plinth-{id}")
}

/// Returns the namespace of `project`: `{prefix}{project}`; fails when that is not a valid
/// namespace name (a DNS label: at most 63 lower-case letters, digits and `-`).
pub fn namespace_name(settings: &KubeSettings, project: &str) -> ExecResult<String> {
    let name = format!("{}{project}", settings.namespace_prefix);
    if project.is_empty() || !is_dns_label(&name) {
        return Err(ExecError::InvalidSpec {
            field: "project",
            reason: format!(
                "`{project}` does not make a valid namespace name `{name}` (at most 63 lower-case letters, digits or `-`, starting and ending with a letter or digit)"
            ),
        });
    }
    Ok(name)
}

/// Returns the Namespace of `project`, labelled as Plinth's.
pub fn namespace_manifest(settings: &KubeSettings, project: &str) -> ExecResult<Namespace> {
    Ok(Namespace {
        metadata: ObjectMeta {
            name: Some(namespace_name(settings, project)?),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                (PROJECT_LABEL.to_string(), label_value(project)),
            ])),
            owner_references: settings.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

/// Returns the NetworkPolicy of the project's pods. Ingress: only from pods in the
/// platform namespace (where the Plinth gateway runs). Egress: DNS, the project's own pods,
/// the Plinth server's API port, and addresses outside the blocked private ranges — so a
/// workload cannot reach the platform's PostgreSQL, Redis or object store directly.
pub fn network_policy_manifest(
    settings: &KubeSettings,
    project: &str,
) -> ExecResult<NetworkPolicy> {
    Ok(NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(NETWORK_POLICY_NAME.to_string()),
            namespace: Some(namespace_name(settings, project)?),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                (PROJECT_LABEL.to_string(), label_value(project)),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            // Every pod of the namespace.
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            egress: Some(egress_rules(settings)),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            settings.platform_namespace.clone(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ..NetworkPolicyIngressRule::default()
            }]),
        }),
    })
}

fn egress_rules(settings: &KubeSettings) -> Vec<NetworkPolicyEgressRule> {
    let port = |protocol: &str, number: i32| NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(number)),
        ..NetworkPolicyPort::default()
    };
    let namespace = |name: &str| LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_string(),
            name.to_string(),
        )])),
        ..LabelSelector::default()
    };
    let (v4, v6): (Vec<String>, Vec<String>) = settings
        .egress_blocked_cidrs
        .iter()
        .cloned()
        .partition(|cidr| !cidr.contains(':'));
    let outside = |cidr: &str, except: Vec<String>| NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_string(),
            except: (!except.is_empty()).then_some(except),
        }),
        ..NetworkPolicyPeer::default()
    };
    vec![
        // Name resolution, wherever the cluster's DNS runs.
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
        },
        // The project's own pods (pipeline steps, its Model APIs).
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(LabelSelector::default()),
                ..NetworkPolicyPeer::default()
            }]),
            ports: None,
        },
        // The Plinth API, and nothing else of the platform namespace.
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(namespace(&settings.platform_namespace)),
                pod_selector: Some(LabelSelector {
                    match_labels: Some(settings.platform_pod_labels.clone()),
                    ..LabelSelector::default()
                }),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(vec![port("TCP", i32::from(settings.platform_api_port))]),
        },
        // Everything outside the blocked ranges (package indexes, datasets, the internet).
        NetworkPolicyEgressRule {
            to: Some(vec![outside("0.0.0.0/0", v4), outside("::/0", v6)]),
            ports: None,
        },
    ]
}

/// Returns a reference making an object owned by `controller` (which must have been
/// created, so that it has a uid): deleting the controller deletes the object.
pub fn owner_reference(controller: &Controller) -> Option<OwnerReference> {
    let metadata = controller.metadata();
    let api_version = match controller {
        Controller::Job(_) => "batch/v1",
        Controller::Deployment(_) => "apps/v1",
    };
    Some(OwnerReference {
        api_version: api_version.to_string(),
        kind: controller.kind().to_string(),
        name: metadata.name.clone()?,
        uid: metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

/// Returns the labels that select a workload's pods.
pub fn selector_labels(id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (WORKLOAD_LABEL.to_string(), id.to_string()),
    ])
}

/// Returns the label selector (`key=value,…`) matching a workload's objects and pods.
pub fn workload_selector(id: &str) -> String {
    format!("{WORKLOAD_LABEL}={id},{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

/// Turns `raw` into a valid label value: at most 63 letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit (or empty). Other characters become `-`.
pub fn label_value(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Turns `raw` into a valid label key (`[prefix/]name`), or `None` when nothing usable is
/// left of its name part.
pub fn label_key(raw: &str) -> Option<String> {
    let (prefix, name) = match raw.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, raw),
    };
    let name = label_value(name);
    if name.is_empty() {
        return None;
    }
    let prefix = prefix
        .map(dns_subdomain)
        .filter(|prefix| !prefix.is_empty());
    Some(match prefix {
        Some(prefix) => format!("{prefix}/{name}"),
        None => name,
    })
}

/// Turns `raw` into a DNS subdomain (lower-case labels joined by `.`), possibly empty.
fn dns_subdomain(raw: &str) -> String {
    let lowered: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut subdomain = String::new();
    for part in lowered.split('.') {
        let part: String = part.chars().take(63).collect();
        let part = part.trim_matches('-');
        if part.is_empty() || subdomain.len() + part.len() + 1 > 253 {
            continue;
        }
        if !subdomain.is_empty() {
            subdomain.push('.');
        }
        subdomain.push_str(part);
    }
    subdomain
}

/// Returns whether `name` is a DNS label (RFC 1123): at most 63 lower-case letters, digits
/// and `-`, starting and ending with a letter or digit.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Returns whether `name` may name a container port (IANA service name: at most 15
/// characters, a letter among them, no `--`, not starting or ending with `-`).
fn is_port_name(name: &str) -> bool {
    is_dns_label(name)
        && name.len() <= 15
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.contains("--")
}

/// Gives the named ports consecutive numbers from [`FIRST_PORT`], in the spec's order.
fn allocate_ports(names: &[String]) -> ExecResult<BTreeMap<String, u16>> {
    let mut ports = BTreeMap::new();
    for (index, name) in names.iter().enumerate() {
        if !is_dns_label(name) {
            return Err(ExecError::InvalidSpec {
                field: "ports",
                reason: format!("`{name}` must not start or end with `-`"),
            });
        }
        let port = u16::try_from(index)
            .ok()
            .and_then(|index| FIRST_PORT.checked_add(index))
            .ok_or_else(|| ExecError::InvalidSpec {
                field: "ports",
                reason: format!("too many ports ({})", names.len()),
            })?;
        if ports.insert(name.clone(), port).is_some() {
            return Err(ExecError::InvalidSpec {
                field: "ports",
                reason: format!("`{name}` is named twice"),
            });
        }
    }
    Ok(ports)
}

fn image(spec: &WorkloadSpec, settings: &KubeSettings) -> ExecResult<String> {
    match spec.image.as_deref().map(str::trim) {
        Some("") => Err(ExecError::InvalidSpec {
            field: "image",
            reason: "is empty".to_string(),
        }),
        Some(image) => Ok(image.to_string()),
        None if settings.default_image.trim().is_empty() => Err(ExecError::InvalidSpec {
            field: "image",
            reason: "none given, and the Kubernetes backend has no default image".to_string(),
        }),
        None => Ok(settings.default_image.trim().to_string()),
    }
}

/// The workload's labels: the spec's (sanitized), then Plinth's, which win.
fn workload_labels(spec: &WorkloadSpec) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = spec
        .labels
        .iter()
        .filter_map(|(key, value)| Some((label_key(key)?, label_value(value))))
        .collect();
    labels.extend(selector_labels(&spec.id));
    labels.insert(PROJECT_LABEL.to_string(), label_value(&spec.project));
    labels
}

fn workload_annotations(
    spec: &WorkloadSpec,
    ports: &BTreeMap<String, u16>,
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if !spec.name.is_empty() {
        annotations.insert(NAME_ANNOTATION.to_string(), spec.name.clone());
    }
    if !spec.placement.pool.is_empty() {
        annotations.insert(POOL_ANNOTATION.to_string(), spec.placement.pool.clone());
    }
    if !ports.is_empty() {
        let ports: Vec<String> = ports
            .iter()
            .map(|(name, port)| format!("{name}={port}"))
            .collect();
        annotations.insert(PORTS_ANNOTATION.to_string(), ports.join(","));
    }
    annotations
}

/// Reads back the ports [`WorkloadManifests::build`] recorded on a Job or Deployment.
pub fn ports_from_annotations(metadata: &ObjectMeta) -> BTreeMap<String, u16> {
    metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(PORTS_ANNOTATION))
        .map(|ports| {
            ports
                .split(',')
                .filter_map(|pair| {
                    let (name, port) = pair.split_once('=')?;
                    Some((name.to_string(), port.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn resources(spec: &WorkloadSpec) -> Option<ResourceRequirements> {
    let granted = spec.resources;
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if granted.cpu_millis > 0 {
        let cpu = Quantity(format!("{}m", granted.cpu_millis));
        requests.insert("cpu".to_string(), cpu.clone());
        limits.insert("cpu".to_string(), cpu);
    }
    if granted.memory_bytes > 0 {
        let memory = Quantity(granted.memory_bytes.to_string());
        requests.insert("memory".to_string(), memory.clone());
        limits.insert("memory".to_string(), memory);
    }
    if granted.gpus > 0 {
        // Extended resources are requested through limits alone (requests default to them).
        limits.insert(
            "nvidia.com/gpu".to_string(),
            Quantity(granted.gpus.to_string()),
        );
    }
    if requests.is_empty() && limits.is_empty() {
        return None;
    }
    Some(ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..ResourceRequirements::default()
    })
}

fn tolerations(spec: &WorkloadSpec) -> ExecResult<Option<Vec<Toleration>>> {
    if spec.placement.tolerations.is_empty() {
        return Ok(None);
    }
    let mut tolerations = Vec::new();
    for taint in &spec.placement.tolerations {
        if taint.key.is_empty() || label_key(&taint.key).as_deref() != Some(taint.key.as_str()) {
            return Err(ExecError::InvalidSpec {
                field: "placement",
                reason: format!("taint key `{}` is not a valid label key", taint.key),
            });
        }
        let effect = match taint.effect.as_str() {
            "" => None,
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Some(taint.effect.clone()),
            other => {
                return Err(ExecError::InvalidSpec {
                    field: "placement",
                    reason: format!(
                        "taint effect `{other}` must be `NoSchedule`, `PreferNoSchedule` or `NoExecute`"
                    ),
                })
            }
        };
        tolerations.push(if taint.value.is_empty() {
            Toleration {
                key: Some(taint.key.clone()),
                operator: Some("Exists".to_string()),
                effect,
                ..Toleration::default()
            }
        } else {
            Toleration {
                key: Some(taint.key.clone()),
                operator: Some("Equal".to_string()),
                value: Some(taint.value.clone()),
                effect,
                ..Toleration::default()
            }
        });
    }
    Ok(Some(tolerations))
}

fn locked_down() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn fetch_container(spec: &WorkloadSpec, settings: &KubeSettings) -> ExecResult<Option<Container>> {
    let Some(files) = &spec.files else {
        return Ok(None);
    };
    if !(files.url.starts_with("http://") || files.url.starts_with("https://")) {
        return Err(ExecError::InvalidSpec {
            field: "files",
            reason: format!("url `{}` must be http:// or https://", files.url),
        });
    }
    if files.sha256.len() != 64 || !files.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ExecError::InvalidSpec {
            field: "files",
            reason: format!("sha256 `{}` must be 64 hex digits", files.sha256),
        });
    }
    let token = if spec.secret_env.contains_key(TOKEN_VARIABLE) {
        EnvVar {
            name: TOKEN_VARIABLE.to_string(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: object_name(&spec.id),
                    key: TOKEN_VARIABLE.to_string(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    } else if let Some(token) = spec.env.get(TOKEN_VARIABLE) {
        EnvVar {
            name: TOKEN_VARIABLE.to_string(),
            value: Some(token.clone()),
            ..EnvVar::default()
        }
    } else {
        return Err(ExecError::InvalidSpec {
            field: "files",
            reason: format!("fetching the working files needs `{TOKEN_VARIABLE}` in `secret_env`"),
        });
    };
    let plain = |name: &str, value: &str| EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..EnvVar::default()
    };
    Ok(Some(Container {
        name: FILES_CONTAINER.to_string(),
        image: Some(settings.init_image.clone()),
        command: Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            FETCH_SCRIPT.to_string(),
        ]),
        env: Some(vec![
            plain("PLINTH_FILES_URL", &files.url),
            plain("PLINTH_FILES_SHA256", &files.sha256.to_ascii_lowercase()),
            token,
        ]),
        volume_mounts: Some(vec![work_mount()]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("100m".to_string())),
                ("memory".to_string(), Quantity("64Mi".to_string())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("256Mi".to_string()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(INIT_USER),
            run_as_group: Some(INIT_USER),
            read_only_root_filesystem: Some(true),
            ..locked_down()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Container::default()
    }))
}

fn work_mount() -> VolumeMount {
    VolumeMount {
        name: "work".to_string(),
        mount_path: WORK_DIR.to_string(),
        ..VolumeMount::default()
    }
}

fn pod_template(
    spec: &WorkloadSpec,
    settings: &KubeSettings,
    image: &str,
    ports: &BTreeMap<String, u16>,
    labels: BTreeMap<String, String>,
) -> ExecResult<PodTemplateSpec> {
    let restart_policy = match (spec.kind, spec.restart) {
        (WorkloadKind::Service, _) => "Always",
        (WorkloadKind::Batch, RestartPolicy::Never) => "Never",
        (WorkloadKind::Batch, RestartPolicy::OnFailure) => "OnFailure",
        (WorkloadKind::Batch, RestartPolicy::Always) => {
            return Err(ExecError::InvalidSpec {
                field: "restart",
                reason: "`always` needs kind `service`; batch work restarts `on_failure` at most"
                    .to_string(),
            })
        }
    };
    let init = fetch_container(spec, settings)?;
    let port_variables: BTreeMap<String, String> = ports
        .iter()
        .map(|(name, port)| (port_variable(name), port.to_string()))
        .collect();
    // Kubernetes lets `env` override `envFrom`; the local backend lets secrets and ports
    // win, so a name set twice keeps the value that wins there.
    let mut env: Vec<EnvVar> = spec
        .env
        .iter()
        .filter(|(name, _)| {
            !spec.secret_env.contains_key(*name) && !port_variables.contains_key(*name)
        })
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..EnvVar::default()
        })
        .collect();
    env.extend(port_variables.into_iter().map(|(name, value)| EnvVar {
        name,
        value: Some(value),
        ..EnvVar::default()
    }));
    let container = Container {
        name: MAIN_CONTAINER.to_string(),
        image: Some(image.to_string()),
        command: Some(spec.command.clone()),
        env: (!env.is_empty()).then_some(env),
        env_from: (!spec.secret_env.is_empty()).then(|| {
            vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: object_name(&spec.id),
                    optional: Some(false),
                }),
                ..EnvFromSource::default()
            }]
        }),
        ports: (!ports.is_empty()).then(|| {
            ports
                .iter()
                .map(|(name, port)| ContainerPort {
                    container_port: i32::from(*port),
                    name: is_port_name(name).then(|| name.clone()),
                    protocol: Some("TCP".to_string()),
                    ..ContainerPort::default()
                })
                .collect()
        }),
        resources: resources(spec),
        working_dir: init.as_ref().map(|_| WORK_DIR.to_string()),
        volume_mounts: init.as_ref().map(|_| vec![work_mount()]),
        security_context: Some(locked_down()),
        ..Container::default()
    };
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            restart_policy: Some(restart_policy.to_string()),
            // Workloads have no business with the Kubernetes API.
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            node_selector: (!spec.placement.node_selector.is_empty())
                .then(|| spec.placement.node_selector.clone()),
            tolerations: tolerations(spec)?,
            volumes: init.as_ref().map(|_| {
                vec![Volume {
                    name: "work".to_string(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                }]
            }),
            init_containers: init.map(|container| vec![container]),
            containers: vec![container],
            ..PodSpec::default()
        }),
    })
}

#[cfg(test)]
mod tests;
