//! Plinth's HTTP surface: the axum [`router`], the one [`ApiError`] type, health and
//! readiness, Prometheus metrics, the OpenAPI document and the server-rendered UI.
//!
//! Handlers call domain services and backends through [`AppState`]; they never touch SQL,
//! object-store clients or Kubernetes directly. [`serve`] is the one entry point, used by
//! the binary and by tests alike.

mod apps;
mod deployments;
mod environments;
mod error;
mod files;
mod health;
pub mod identity;
mod json;
mod kfp;
mod layers;
mod metrics;
mod mlflow;
mod openapi;
mod runtime;
mod serving;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use plinth_artifacts::ArtifactStore;
use plinth_core::{IdentityService, RuntimeService, TrackingService};
use plinth_metastore::MetadataStore;
use plinth_types::Installation;

pub use error::{error_chain, kind_of, status_of, ApiError};
pub use json::ApiJson;
pub use metrics::{resident_memory_bytes, HttpMetrics};
pub use openapi::openapi_document;

/// Everything a handler may reach: the backends and the server's own facts.
/// Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppStateInner>,
}

struct AppStateInner {
    metastore: Arc<dyn MetadataStore>,
    metastore_location: String,
    artifacts: ArtifactStore,
    identity: IdentityService,
    runtime: RuntimeService,
    environments: plinth_envs::EnvironmentService,
    files: plinth_files::FilesService,
    gateway: plinth_gateway::Gateway,
    pipelines: plinth_pipelines::PipelineService,
    serving: plinth_serving::ServingService,
    tracking: TrackingService,
    oidc: plinth_federation::OidcBroker,
    installation: Installation,
    settings: ServerSettings,
    metrics: HttpMetrics,
    started_at: Instant,
}

/// HTTP settings the router needs.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Mark session cookies `Secure`; `None`: only for requests that came over TLS.
    pub secure_cookies: Option<bool>,
    /// Largest Model API scoring request body, in bytes (`serving.max_request_bytes`).
    pub max_model_request_bytes: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_body_bytes: 64 * 1024 * 1024,
            secure_cookies: None,
            max_model_request_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The domain services the HTTP layer calls (tracking is made from the backends).
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Services {
    /// Accounts, sessions, tokens, projects, audit.
    pub identity: IdentityService,
    /// Jobs, quotas, pools, classes, usage.
    pub runtime: RuntimeService,
    /// Environments.
    pub environments: plinth_envs::EnvironmentService,
    /// Project files and S3 access keys.
    pub files: plinth_files::FilesService,
    /// The gateway to Apps (and later Model APIs).
    pub gateway: plinth_gateway::Gateway,
    /// Pipelines (KFP's API).
    pub pipelines: plinth_pipelines::PipelineService,
    /// Model APIs: deployments and their models.
    pub serving: plinth_serving::ServingService,
}

impl AppState {
    /// Returns the state over opened backends. `metastore_location` is the store's URL with
    /// secrets redacted; `installation` comes from [`MetadataStore::record_startup`].
    pub fn new(
        metastore: Arc<dyn MetadataStore>,
        metastore_location: String,
        artifacts: ArtifactStore,
        services: Services,
        installation: Installation,
        settings: ServerSettings,
    ) -> Self {
        let Services {
            identity,
            runtime,
            environments,
            files,
            gateway,
            pipelines,
            serving,
        } = services;
        let tracking = TrackingService::new(
            metastore.clone(),
            identity.clone(),
            artifacts.clone(),
            Arc::new(plinth_core::SystemClock),
        );
        AppState {
            inner: Arc::new(AppStateInner {
                metastore,
                metastore_location,
                artifacts,
                identity,
                runtime,
                environments,
                files,
                gateway,
                pipelines,
                serving,
                tracking,
                oidc: plinth_federation::OidcBroker::default(),
                installation,
                settings,
                metrics: HttpMetrics::new(plinth_types::VERSION),
                started_at: Instant::now(),
            }),
        }
    }

    /// Returns the state with `broker`'s OpenID Connect providers (before it is shared).
    pub fn with_oidc(mut self, broker: plinth_federation::OidcBroker) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_oidc is called before the state is cloned")
            .oidc = broker;
        self
    }

    /// Returns the OpenID Connect providers and the logins under way.
    pub fn oidc(&self) -> &plinth_federation::OidcBroker {
        &self.inner.oidc
    }

    /// Returns the metadata store.
    pub fn metastore(&self) -> &Arc<dyn MetadataStore> {
        &self.inner.metastore
    }

    /// Returns the metadata store's URL, secrets redacted.
    pub fn metastore_location(&self) -> &str {
        &self.inner.metastore_location
    }

    /// Returns the object store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.inner.artifacts
    }

    /// Returns the identity service (accounts, sessions, tokens, projects, audit).
    pub fn identity(&self) -> &IdentityService {
        &self.inner.identity
    }

    /// Returns the workload runtime (jobs, quotas, pools, classes, usage).
    pub fn runtime(&self) -> &RuntimeService {
        &self.inner.runtime
    }

    /// Returns environments (definitions, versions, locks, builds).
    pub fn environments(&self) -> &plinth_envs::EnvironmentService {
        &self.inner.environments
    }

    /// Returns project files and S3 access keys.
    pub fn files(&self) -> &plinth_files::FilesService {
        &self.inner.files
    }

    /// Returns the gateway (Apps on their own origins).
    pub fn gateway(&self) -> &plinth_gateway::Gateway {
        &self.inner.gateway
    }

    /// Returns pipelines (KFP's API, the engine's runs).
    pub fn pipelines(&self) -> &plinth_pipelines::PipelineService {
        &self.inner.pipelines
    }

    /// Returns Model APIs (deployments, their models and predictions).
    pub fn serving(&self) -> &plinth_serving::ServingService {
        &self.inner.serving
    }

    /// Returns experiment tracking and the model registry (the MLflow API).
    pub fn tracking(&self) -> &TrackingService {
        &self.inner.tracking
    }

    /// Returns this installation's identity.
    pub fn installation(&self) -> &Installation {
        &self.inner.installation
    }

    /// Returns the HTTP settings.
    pub fn settings(&self) -> &ServerSettings {
        &self.inner.settings
    }

    /// Returns the metrics registry.
    pub fn metrics(&self) -> &HttpMetrics {
        &self.inner.metrics
    }

    /// Returns when this server started.
    pub fn started_at(&self) -> Instant {
        self.inner.started_at
    }
}

/// Every page of the UI a browser may load (`GET` routes, path templates such as
/// `/projects/{organization}/{project}`), as the UI router lists them while it is built —
/// the same list the authorization matrix of the pages walks, so the end-to-end browser
/// checks (overflow, axe-core) cannot miss a new page.
pub fn ui_page_routes() -> Vec<&'static str> {
    ui::routes()
        .listed()
        .iter()
        .filter(|(method, _)| *method == "GET")
        .map(|(_, path)| *path)
        .collect()
}

/// Returns the whole application: API, operations endpoints and UI, with every layer
/// (request ids, tracing, metrics, body limit, error normalisation, security headers).
///
/// A request whose `Host` names an App (`{app}--{project}--{organization}.{apps domain}`)
/// goes to the gateway before any of Plinth's own routes or layers see it: an App's origin
/// never serves Plinth's UI or API, and Plinth's headers (CSP, frame denial) never rewrite
/// an App's pages.
pub fn router(state: AppState) -> Router {
    let (api, _) = openapi::api_router().split_for_parts();
    let app = api
        .merge(mlflow::router())
        .merge(kfp::router())
        .merge(serving::router())
        .merge(ui::router())
        .fallback(layers::not_found);
    let main = layers::apply(app, state.clone()).with_state(state.clone());
    let gateway = state.gateway().clone();
    Router::new().fallback_service(tower::service_fn(move |request: axum::extract::Request| {
        let main = main.clone();
        let gateway = gateway.clone();
        async move {
            let label = gateway.app_label(&request);
            match label {
                Some(label) => {
                    Ok::<_, std::convert::Infallible>(gateway.serve_app(label, request).await)
                }
                None => {
                    use tower::ServiceExt;
                    main.oneshot(request).await
                }
            }
        }
    }))
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish. Accepted sockets get `TCP_NODELAY` (clients that reuse connections
/// would otherwise pay a delayed-ACK stall on every call).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod authz_tests;
#[cfg(test)]
mod kfp_authz_tests;
#[cfg(test)]
mod mlflow_authz_tests;
#[cfg(test)]
mod mlflow_exact_tests;
#[cfg(test)]
mod mlflow_tests;
#[cfg(test)]
mod serving_authz_tests;
#[cfg(test)]
mod statement_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ui_authz_tests;
