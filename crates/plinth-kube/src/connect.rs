//! Reaching the cluster: from a kubeconfig file or from inside a pod.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::chain;
use crate::{KubeSettings, KubernetesExecutor};

/// Where the cluster's address and credentials come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClusterAccess {
    /// What `kubectl` would use: `$KUBECONFIG` or `~/.kube/config` when there is one, else
    /// the pod's service account (in-cluster).
    #[default]
    Inferred,
    /// A kubeconfig file.
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The context to use; `None` means the file's current context.
        context: Option<String>,
    },
}

/// Why the cluster cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig cannot be read or used.
    #[error("cannot use kubeconfig `{path}`: {detail}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its causes.
        detail: String,
        /// The underlying error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error("cannot find the cluster (no kubeconfig, not in a pod): {detail}")]
    Infer {
        /// What was tried, with its causes.
        detail: String,
        /// The underlying error.
        #[source]
        source: kube::config::InferConfigError,
    },
    /// The client cannot be built from the configuration (bad certificate data, …).
    #[error("cannot build a Kubernetes client for `{url}`: {detail}")]
    Client {
        /// The API server.
        url: String,
        /// What is wrong, with its causes.
        detail: String,
        /// The underlying error.
        #[source]
        source: kube::Error,
    },
    /// The API server did not answer (network, TLS, credentials).
    #[error("cannot reach the Kubernetes API server {server}: {detail}")]
    Unreachable {
        /// The API server: its address in backticks, when known.
        server: String,
        /// What went wrong, with its causes (an unknown certificate issuer, a refused
        /// connection, 401 …).
        detail: String,
        /// The underlying error.
        #[source]
        source: kube::Error,
    },
}

impl KubernetesExecutor {
    /// Builds an executor for the cluster `access` names. Nothing is sent yet; call
    /// [`KubernetesExecutor::check_connectivity`] to find out whether the cluster answers.
    pub async fn connect(
        access: &ClusterAccess,
        settings: KubeSettings,
    ) -> Result<Self, ConnectError> {
        let config = match access {
            ClusterAccess::Inferred => {
                kube::Config::infer()
                    .await
                    .map_err(|source| ConnectError::Infer {
                        detail: chain(&source),
                        source,
                    })?
            }
            ClusterAccess::Kubeconfig { path, context } => {
                let kubeconfig_error =
                    |source: kube::config::KubeconfigError| ConnectError::Kubeconfig {
                        path: path.clone(),
                        detail: chain(&source),
                        source,
                    };
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
        };
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|source| ConnectError::Client {
            url: url.clone(),
            detail: chain(&source),
            source,
        })?;
        let mut executor = KubernetesExecutor::new(client, settings);
        executor.server = Some(url);
        Ok(executor)
    }

    /// Asks the API server for its version (`GET /version`); returns it (`v1.33.1`) or
    /// why the server cannot be reached.
    pub async fn check_connectivity(&self) -> Result<String, ConnectError> {
        match self.client.apiserver_version().await {
            Ok(info) => Ok(info.git_version),
            Err(source) => Err(ConnectError::Unreachable {
                server: match &self.server {
                    Some(url) => format!("at `{url}`"),
                    None => "(address unknown)".to_string(),
                },
                detail: chain(&source),
                source,
            }),
        }
    }
}
