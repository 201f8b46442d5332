//! Plinth's Model APIs (`docs/design/serving.md`): deployments of registered model versions
//! and the endpoints that answer for them on the main origin under
//! `/{organization}/{project}/models/{deployment}/…`.
//!
//! - [`store`]: [`DeploymentStore`] and its SQL implementation over the metadata store's
//!   database (sea-query, SQLite and PostgreSQL).
//! - [`model`]: MLflow's `MLmodel` file — flavors, the ONNX file, the signature.
//! - [`onnx`]: ONNX Runtime loaded at run time (`ort` with `load-dynamic`) from a configured
//!   library or an installed `onnxruntime` wheel; one session per deployed model.
//! - [`protocol`]: MLflow's scoring protocol and the Open Inference Protocol (KServe v2) as
//!   pure functions: requests parsed and checked against the signature, outputs shaped.
//! - [`service`]: [`ServingService`] — authorization (members read and invoke,
//!   Contributors create and delete), resolution through the registry, the model cache,
//!   predictions on the blocking pool.
//!
//! It does not speak HTTP (`plinth-api` routes the endpoints and the management API) and
//! runs no user code: a model is a graph ONNX Runtime evaluates, not a program.

pub mod error;
pub mod model;
pub mod onnx;
pub mod protocol;
pub mod service;
pub mod store;
pub mod tensor;

pub use error::{ServingError, ServingResult};
pub use onnx::{OnnxRuntime, RuntimeSettings};
pub use service::{Endpoint, ServingService};
pub use store::{Deployment, DeploymentStore, SqlDeploymentStore};
