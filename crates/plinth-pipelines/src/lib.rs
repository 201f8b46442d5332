//! Plinth's pipelines: Kubeflow Pipelines v2 pipelines, compiled by the `kfp` SDK into a
//! PipelineSpec, run unchanged.
//!
//! This crate owns the IR (`ir`: the PipelineSpec's parts Plinth runs, parsed with serde
//! and checked at submission), values (`values`: declared types, arguments, placeholders,
//! CEL conditions), the records and their store ([`PipelineStore`], [`SqlPipelineStore`]:
//! SQLite and PostgreSQL through sea-query, tables in the metadata store's database), and
//! [`PipelineService`]: authorization (Viewer reads, Contributor submits), experiments,
//! pipelines and versions, runs, and the engine — one loop that drives every unfinished run
//! from the store, each task a job of the workload runtime (sandboxed, in the configured
//! environment), with the lightweight-component contract (ExecutorInput, output files,
//! `executor_output.json`) and artifacts in the object store. It knows nothing of HTTP:
//! KFP's REST API is `plinth-api`'s `kfp` module.

mod engine;
mod error;
pub mod ir;
pub mod model;
mod service;
mod store;
pub mod values;

pub use engine::without_pip_prelude;
pub use error::{PipelineError, PipelineResult};
pub use service::{NewRun, PipelinePass, PipelineService, PipelineSettings, RunView};
pub use store::{PipelineStore, SqlPipelineStore};

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
