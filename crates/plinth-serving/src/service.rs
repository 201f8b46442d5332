//! [`ServingService`]: deployments of registered model versions (members read and invoke,
//! Contributors create and delete), their models loaded once into ONNX Runtime and cached,
//! and predictions run on tokio's blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use plinth_api_types::{CreateDeploymentRequest, DeploymentState};
use plinth_artifacts::{ArtifactStore, ObjectKey};
use plinth_core::{
    ClientInfo, Clock, CoreError, IdentityService, Principal, ProjectPass, ProjectSelector,
    TrackingPass, TrackingService,
};
use plinth_types::Role;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::error::{ServingError, ServingResult};
use crate::model::{MlModel, Signature};
use crate::onnx::{OnnxModel, OnnxRuntime};
use crate::protocol::{Payload, Prediction};
use crate::store::{Deployment, DeploymentStore};

/// A model's file may be this large (ONNX's own limit for one protobuf is 2 GiB).
const MAX_MODEL_BYTES: usize = 2 * 1024 * 1024 * 1024;

type LoadedCell = Arc<OnceCell<Result<Arc<OnnxModel>, String>>>;

/// Deployments and their models.
#[derive(Clone)]
pub struct ServingService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn DeploymentStore>,
    identity: IdentityService,
    tracking: TrackingService,
    objects: ArtifactStore,
    runtime: Arc<OnnxRuntime>,
    clock: Arc<dyn Clock>,
    /// Each deployment's model, loaded once (by id: a deployment deleted and created again
    /// under its name is another one).
    models: Mutex<HashMap<String, LoadedCell>>,
}

impl std::fmt::Debug for ServingService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServingService")
            .field("runtime", &self.inner.runtime)
            .finish_non_exhaustive()
    }
}

/// A deployment ready to answer: its record and its loaded model.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The deployment.
    pub deployment: Deployment,
    /// Its model.
    pub model: Arc<OnnxModel>,
}

/// What `MODEL/VERSION` or `MODEL@ALIAS` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// A version number.
    Version(String, i64),
    /// An alias, resolved at creation.
    Alias(String, String),
}

impl ModelRef {
    /// Parses `MODEL/VERSION` or `MODEL@ALIAS`.
    pub fn parse(text: &str) -> ServingResult<ModelRef> {
        let invalid = |reason: &str| {
            ServingError::InvalidArgument {
            field: "model",
            reason: format!("`{text}` {reason}; write `MODEL/VERSION` (`iris/3`) or `MODEL@ALIAS` (`iris@champion`)"),
        }
        };
        if let Some((model, alias)) = text.rsplit_once('@') {
            if model.is_empty() || alias.is_empty() {
                return Err(invalid("names no model or no alias"));
            }
            return Ok(ModelRef::Alias(model.to_string(), alias.to_string()));
        }
        if let Some((model, version)) = text.rsplit_once('/') {
            let number: i64 = version
                .parse()
                .ok()
                .filter(|number| *number >= 1)
                .ok_or_else(|| invalid("has no version number after `/`"))?;
            if model.is_empty() {
                return Err(invalid("names no model"));
            }
            return Ok(ModelRef::Version(model.to_string(), number));
        }
        Err(invalid("names no version or alias"))
    }
}

/// Checks a deployment name: lower-case letters, digits and `-`, starting with a letter,
/// at most 63 (it is a path segment and may become a host label).
pub fn check_name(name: &str) -> ServingResult<()> {
    let valid = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ServingError::InvalidArgument {
            field: "name",
            reason: format!(
                "`{name}` must be 1–63 lower-case letters, digits or `-`, starting with a letter and not ending with `-`"
            ),
        })
    }
}

fn require_contributor(principal: &Principal, pass: &ProjectPass) -> ServingResult<()> {
    principal.require_write()?;
    match pass.role() {
        Some(role) if role < Role::Contributor => Err(ServingError::Core(CoreError::Forbidden(format!(
            "needs the `contributor` role in project `{}/{}` to change deployments; you have `{role}`",
            pass.project().organization,
            pass.project().name
        )))),
        _ => Ok(()),
    }
}

fn model_key(deployment: &Deployment) -> ServingResult<ObjectKey> {
    Ok(ObjectKey::parse(&format!(
        "projects/{}/serving/{}/model.onnx",
        deployment.project_id, deployment.id
    ))?)
}

async fn read_all(
    stream: futures::stream::BoxStream<'static, plinth_artifacts::ArtifactResult<Bytes>>,
    what: &str,
) -> ServingResult<Bytes> {
    let mut stream = stream;
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if buffer.len() + chunk.len() > MAX_MODEL_BYTES {
            return Err(ServingError::BadModel(format!(
                "{what} is larger than 2 GiB"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

impl ServingService {
    /// Returns the service over its store, the identity and tracking services, the object
    /// store and the runtime.
    pub fn new(
        store: Arc<dyn DeploymentStore>,
        identity: IdentityService,
        tracking: TrackingService,
        objects: ArtifactStore,
        runtime: Arc<OnnxRuntime>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ServingService {
            inner: Arc::new(Inner {
                store,
                identity,
                tracking,
                objects,
                runtime,
                clock,
                models: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Returns the identity service (which authorizes callers of the endpoints).
    pub fn identity(&self) -> &IdentityService {
        &self.inner.identity
    }

    async fn tracking_pass(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
    ) -> ServingResult<TrackingPass> {
        let project = pass.project();
        Ok(self
            .inner
            .tracking
            .authorize(
                principal,
                &ProjectSelector::Named {
                    organization: project.organization.to_string(),
                    project: project.name.to_string(),
                },
            )
            .await?)
    }

    /// Deploys a registered model version (Contributors): resolves `MODEL@ALIAS` or
    /// `MODEL/VERSION` in the project's registry, reads its `MLmodel`, refuses a model
    /// without a servable flavor (naming the flavors it has), checks that ONNX Runtime is
    /// available, copies the model file under the deployment, records the deployment
    /// (`loading`) and loads it in the background (`ready` or `failed`).
    pub async fn create(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        request: &CreateDeploymentRequest,
        client: &ClientInfo,
    ) -> ServingResult<Deployment> {
        require_contributor(principal, pass)?;
        check_name(&request.name)?;
        let model_ref = ModelRef::parse(request.model.trim())?;
        let tracking = self.tracking_pass(principal, pass).await?;
        let version = match &model_ref {
            ModelRef::Version(name, version) => {
                self.inner
                    .tracking
                    .get_model_version(&tracking, name, *version)
                    .await?
            }
            ModelRef::Alias(name, alias) => {
                self.inner
                    .tracking
                    .get_model_version_by_alias(&tracking, name, alias)
                    .await?
            }
        };
        let (model_name, model_version) = (version.name.clone(), version.version);
        let artifact = |path: String| {
            let tracking = tracking.clone();
            let model_name = model_name.clone();
            async move {
                match self
                    .inner
                    .tracking
                    .get_model_version_artifact(&tracking, &model_name, model_version, &path)
                    .await
                {
                    Ok((_, stream)) => read_all(stream, &path).await,
                    Err(CoreError::Missing(_) | CoreError::NotFound { .. }) => Err(ServingError::BadModel(format!(
                        "version {model_version} of model `{model_name}` has no `{path}` in its artifacts (log it with `mlflow.<flavor>.log_model`)"
                    ))),
                    // A source outside the artifacts this server keeps (`Invalid path`).
                    Err(CoreError::InvalidArgument(reason)) => Err(ServingError::BadModel(format!(
                        "version {model_version} of model `{model_name}` has no `{path}` this server can read \
                         (its source is not in the project's artifacts: {reason})"
                    ))),
                    Err(error) => Err(error.into()),
                }
            }
        };
        let text = artifact("MLmodel".to_string()).await?;
        let mlmodel = MlModel::parse(&String::from_utf8_lossy(&text))?;
        let flavor = mlmodel.servable_flavor()?;
        let runtime = self.inner.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.ensure())
            .await
            .map_err(|error| ServingError::Internal(error.to_string()))??;
        let onnx_file = mlmodel
            .onnx_file
            .clone()
            .unwrap_or_else(|| "model.onnx".to_string());
        let bytes = artifact(onnx_file).await?;
        let signature = {
            // The signature's inputs as MLflow wrote them, kept for loads after a restart.
            let raw: Option<String> =
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&String::from_utf8_lossy(&text))
                    .ok()
                    .and_then(|value| {
                        value
                            .get("signature")?
                            .get("inputs")?
                            .as_str()
                            .map(str::to_string)
                    });
            raw
        };
        let now = self.inner.clock.now_ms();
        let deployment = Deployment {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: pass.project().id.clone(),
            name: request.name.clone(),
            model_name: model_name.clone(),
            model_version,
            model_ref: request.model.trim().to_string(),
            flavor: flavor.to_string(),
            signature,
            state: DeploymentState::Loading,
            message: None,
            created_by: principal.user().username.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        // Refuse a taken name before copying anything.
        if self
            .inner
            .store
            .get(&deployment.project_id, &deployment.name)
            .await
            .is_ok()
        {
            return Err(ServingError::AlreadyExists(deployment.name));
        }
        let key = model_key(&deployment)?;
        self.inner.objects.put(&key, bytes).await?;
        if let Err(error) = self.inner.store.create(&deployment).await {
            let _ = self.inner.objects.delete(&key).await;
            return Err(error);
        }
        let project = pass.project();
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "deployment.create",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                json!({ "deployment": deployment.name, "model": model_name, "version": model_version }),
            )
            .await;
        let service = self.clone();
        let loading = deployment.clone();
        tokio::spawn(async move {
            let _ = service.model(&loading).await;
        });
        Ok(deployment)
    }

    /// Lists the project's deployments (members).
    pub async fn list(&self, pass: &ProjectPass) -> ServingResult<Vec<Deployment>> {
        self.inner.store.list(&pass.project().id).await
    }

    /// Returns one deployment (members).
    pub async fn get(&self, pass: &ProjectPass, name: &str) -> ServingResult<Deployment> {
        self.inner.store.get(&pass.project().id, name).await
    }

    /// Deletes a deployment (Contributors): its record, its loaded model and its copy of
    /// the model file.
    pub async fn delete(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        name: &str,
        client: &ClientInfo,
    ) -> ServingResult<()> {
        require_contributor(principal, pass)?;
        let deployment = self.inner.store.delete(&pass.project().id, name).await?;
        self.forget(&deployment.id);
        if let Ok(key) = model_key(&deployment) {
            if let Err(error) = self.inner.objects.delete(&key).await {
                tracing::warn!(deployment = %deployment.id, error = %error, "cannot delete a deployment's model file");
            }
        }
        let project = pass.project();
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "deployment.delete",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                json!({ "deployment": deployment.name }),
            )
            .await;
        Ok(())
    }

    fn forget(&self, id: &str) {
        if let Ok(mut models) = self.inner.models.lock() {
            models.remove(id);
        }
    }

    fn cell(&self, id: &str) -> LoadedCell {
        let mut models = self
            .inner
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        models.entry(id.to_string()).or_default().clone()
    }

    /// Returns the deployment's model, loading it on first use (once; concurrent callers
    /// wait for the same load) and recording the outcome as its state.
    async fn model(&self, deployment: &Deployment) -> ServingResult<Arc<OnnxModel>> {
        let cell = self.cell(&deployment.id);
        let outcome = cell
            .get_or_init(|| async {
                let outcome = self.load(deployment).await;
                let (state, message) = match &outcome {
                    Ok(_) => (DeploymentState::Ready, None),
                    Err(error) => (DeploymentState::Failed, Some(error.to_string())),
                };
                if deployment.state != state || deployment.message != message {
                    let now = self.inner.clock.now_ms();
                    if let Err(error) = self
                        .inner
                        .store
                        .set_state(&deployment.id, state, message.as_deref(), now)
                        .await
                    {
                        tracing::warn!(deployment = %deployment.id, error = %error, "cannot record a deployment's state");
                    }
                }
                match outcome {
                    Ok(model) => {
                        tracing::info!(deployment = %deployment.id, name = %deployment.name, "model loaded");
                        Ok(model)
                    }
                    Err(error) => {
                        tracing::warn!(deployment = %deployment.id, error = %error, "model failed to load");
                        Err(error.to_string())
                    }
                }
            })
            .await;
        outcome.clone().map_err(|reason| {
            ServingError::NotReady(format!(
                "deployment `{}` failed to load: {reason}",
                deployment.name
            ))
        })
    }

    async fn load(&self, deployment: &Deployment) -> ServingResult<Arc<OnnxModel>> {
        let key = model_key(deployment)?;
        let bytes = self.inner.objects.get(&key).await?;
        let signature = deployment
            .signature
            .as_deref()
            .map(Signature::parse)
            .transpose()?;
        let runtime = self.inner.runtime.clone();
        let model = tokio::task::spawn_blocking(move || runtime.load(&bytes, signature))
            .await
            .map_err(|error| ServingError::Internal(error.to_string()))??;
        Ok(Arc::new(model))
    }

    /// Returns a deployment ready to answer (members): its model is loaded on first use.
    /// A deployment that failed to load answers `NotReady` with its reason.
    pub async fn endpoint(&self, pass: &ProjectPass, name: &str) -> ServingResult<Endpoint> {
        let deployment = self.inner.store.get(&pass.project().id, name).await?;
        let model = self.model(&deployment).await?;
        Ok(Endpoint { deployment, model })
    }

    /// Returns the deployment and whether its model is loaded, without loading it.
    pub async fn readiness(
        &self,
        pass: &ProjectPass,
        name: &str,
    ) -> ServingResult<(Deployment, bool)> {
        let deployment = self.inner.store.get(&pass.project().id, name).await?;
        let loaded = self
            .inner
            .models
            .lock()
            .ok()
            .and_then(|models| models.get(&deployment.id).cloned())
            .and_then(|cell| cell.get().map(Result::is_ok))
            .unwrap_or(false);
        Ok((deployment, loaded))
    }

    /// Checks a request against the model and runs it, on the blocking pool.
    pub async fn predict(
        &self,
        model: Arc<OnnxModel>,
        payload: Payload,
    ) -> ServingResult<Prediction> {
        tokio::task::spawn_blocking(move || {
            let feeds = model.interface.feeds(payload)?;
            model.run(feeds)
        })
        .await
        .map_err(|error| ServingError::Internal(error.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_parse_versions_and_aliases() {
        assert_eq!(
            ModelRef::parse("iris/3").unwrap(),
            ModelRef::Version("iris".into(), 3)
        );
        assert_eq!(
            ModelRef::parse("iris@champion").unwrap(),
            ModelRef::Alias("iris".into(), "champion".into())
        );
        for bad in ["iris", "iris/", "iris/0", "iris/x", "@a", "iris@", "/3"] {
            let error = ModelRef::parse(bad).unwrap_err().to_string();
            assert!(error.starts_with("invalid `model`"), "{bad}: {error}");
        }
    }

    #[test]
    fn names_are_path_segments() {
        for good in ["iris", "iris-v2", "a1"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Iris",
            "1iris",
            "iris-",
            "ir_is",
            "ir/is",
            &"a".repeat(64),
        ] {
            let error = check_name(bad).unwrap_err().to_string();
            assert!(error.starts_with("invalid `name`"), "{bad}: {error}");
        }
    }
}
