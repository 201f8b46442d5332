//! Plinth's file manager: each project's files, reachable through any S3 client.
//!
//! A bucket is a project (`{organization}.{project}`, [`names`]); its objects live in the
//! object store under the project's own prefix (`projects/{project_id}/files/{key}`), and
//! multipart uploads wait under `projects/{project_id}/uploads/{upload_id}/` until they
//! are completed, aborted or collected. Users sign S3 requests with personal access keys
//! (`PLK…` and a secret shown once, kept sealed with the server key because SigV4 needs
//! it), optionally limited to one project and to reading; a Viewer reads, a Contributor
//! writes.
//!
//! This crate owns the key and name checks ([`names`]), the [`FileStore`] trait with its
//! SQL ([`SqlFileStore`]), [`FilesService`] (which authorizes through
//! `plinth_core::IdentityService`) and the S3 endpoint ([`s3`], with the `s3s` crate). It
//! knows nothing of Plinth's REST API, which `plinth-api` serves.

mod error;
pub mod names;
pub mod s3;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use error::{FilesError, FilesResult};
pub use service::{part_key, Bucket, FilesService};
pub use store::{AccessKeyRecord, FileStore, PartRecord, SqlFileStore, UploadRecord};
