//! Bodies of the environments API (`…/environments`).

use std::collections::BTreeMap;

use plinth_types::{Environment, EnvironmentBuild, EnvironmentSpec, EnvironmentVersion};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new environment: its name and what version 1 asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironmentRequest {
    /// Lower-case letters, digits, `-`, `_` or `.`; unique in the project (or among
    /// global environments).
    pub name: String,
    /// The Python version: `3.11` or `3.11.7`.
    pub python: String,
    /// The text of a `requirements.txt`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requirements: String,
    /// Further requirements, one each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// System packages (image builds; refused on the local backend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apt_packages: Vec<String>,
    /// The base image of image builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// Variables every workload of the environment gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl CreateEnvironmentRequest {
    /// The version's part of the request.
    pub fn spec(&self) -> EnvironmentSpec {
        EnvironmentSpec {
            python: self.python.clone(),
            requirements: self.requirements.clone(),
            packages: self.packages.clone(),
            apt_packages: self.apt_packages.clone(),
            base_image: self.base_image.clone(),
            env: self.env.clone(),
        }
    }
}

/// An environment with one of its versions and that version's build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentDetail {
    /// The environment.
    pub environment: Environment,
    /// The version asked for (the latest unless pinned).
    pub version: EnvironmentVersion,
    /// Its build, once its lock was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<EnvironmentBuild>,
}

/// An environment and all its versions, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentHistory {
    /// The environment.
    pub environment: Environment,
    /// Every version, newest first.
    pub versions: Vec<EnvironmentVersion>,
}
