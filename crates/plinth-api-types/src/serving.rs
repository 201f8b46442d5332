//! Bodies of the Model APIs' management API (`…/projects/{project}/deployments`). The
//! scoring protocols themselves (MLflow's `/invocations`, the Open Inference Protocol) are
//! other projects' wire formats, written in `plinth-serving`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new deployment: its name and the registered model version it serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeploymentRequest {
    /// Lower-case letters, digits and `-`, starting with a letter, at most 63; unique in
    /// the project. The endpoint is `/{organization}/{project}/models/{name}`.
    pub name: String,
    /// The registered model and which version: `MODEL/VERSION` (`iris/3`) or
    /// `MODEL@ALIAS` (`iris@champion`, resolved once, now).
    pub model: String,
}

/// Where a deployment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// The model is being loaded into the runtime.
    Loading,
    /// It answers requests.
    Ready,
    /// Loading failed; `message` says why.
    Failed,
}

impl DeploymentState {
    /// Returns the state's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Loading => "loading",
            DeploymentState::Ready => "ready",
            DeploymentState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for DeploymentState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A deployment as users see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    /// Its name, unique in the project.
    pub name: String,
    /// The registered model.
    pub model: String,
    /// The model version it serves (an alias is resolved at creation).
    pub model_version: i64,
    /// What was asked for: `MODEL/VERSION` or `MODEL@ALIAS`.
    pub model_ref: String,
    /// The flavor it is served with (`onnx`).
    pub flavor: String,
    /// Where it stands.
    pub state: DeploymentState,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The endpoint's path on the server: `/{organization}/{project}/models/{name}`;
    /// MLflow scoring at `…/invocations`, the Open Inference Protocol at `…/v2/…`.
    pub path: String,
    /// Who deployed it.
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
    /// When its state last changed, ms since the epoch.
    pub updated_at_ms: i64,
}
