//! MLflow's JSON as Plinth's server writes it (`plinth-api/src/mlflow/entities.rs`): proto3
//! JSON with proto field names, int64 as numbers, ids as strings, unset fields left out,
//! doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`. Fields the server may leave
//! out default; serializing writes the same shape back (for `--json`).

use serde::{Deserialize, Serialize};

/// A key and a value: tags and params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value (MLflow leaves an empty one out).
    #[serde(default)]
    pub value: String,
}

/// An experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Its id, a decimal number.
    pub experiment_id: String,
    /// Its name, unique in the project.
    pub name: String,
    /// Where its runs' artifacts go (`mlflow-artifacts:/…`).
    #[serde(default)]
    pub artifact_location: String,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
    /// Last change, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<i64>,
    /// Creation, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A page of experiments.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExperimentPage {
    /// The experiments.
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    /// The token of the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// A run's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Its id (32 hex digits).
    pub run_id: String,
    /// Its name.
    #[serde(default)]
    pub run_name: String,
    /// Its experiment.
    pub experiment_id: String,
    /// Who created it.
    #[serde(default)]
    pub user_id: String,
    /// `RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED` or `KILLED`.
    #[serde(default)]
    pub status: String,
    /// Start, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// End, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Where its artifacts are (`mlflow-artifacts:/…`).
    #[serde(default)]
    pub artifact_uri: String,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
}

/// A metric's latest value (or one point of its history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// The value (NaN and infinities included).
    #[serde(with = "double")]
    pub value: f64,
    /// When it was logged, ms since the epoch.
    #[serde(default)]
    pub timestamp: i64,
    /// The step.
    #[serde(default)]
    pub step: i64,
}

/// A run's params, latest metrics and tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// Latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Params.
    #[serde(default)]
    pub params: Vec<Tag>,
    /// Tags (MLflow's own start with `mlflow.`).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A dataset a run used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its name.
    pub name: String,
    /// Its digest.
    #[serde(default)]
    pub digest: String,
    /// The kind of source (`local`, `s3`, `code`, …).
    #[serde(default)]
    pub source_type: String,
    /// The source, as the client described it (JSON).
    #[serde(default)]
    pub source: String,
    /// Its schema (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Its profile (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A dataset input of a run, with its tags (`mlflow.data.context`: training, eval, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// The input's tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A logged model a run used or produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The logged model's id (`m-…`).
    pub model_id: String,
    /// The step it was produced at (outputs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
}

/// What a run used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInputs {
    /// Datasets.
    #[serde(default)]
    pub dataset_inputs: Vec<DatasetInput>,
    /// Logged models.
    #[serde(default)]
    pub model_inputs: Vec<ModelRef>,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutputs {
    /// Logged models.
    #[serde(default)]
    pub model_outputs: Vec<ModelRef>,
}

/// A run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Its metadata.
    pub info: RunInfo,
    /// Params, latest metrics, tags.
    #[serde(default)]
    pub data: RunData,
    /// Datasets and models it used.
    #[serde(default)]
    pub inputs: RunInputs,
    /// Models it produced.
    #[serde(default)]
    pub outputs: RunOutputs,
}

/// A page of runs.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunPage {
    /// The runs.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// The token of the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// One entry of an artifact listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The path: relative to the run's root in run listings, the base name in the
    /// artifact proxy's listings.
    pub path: String,
    /// A folder.
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// A listing of artifacts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ArtifactListing {
    /// The artifact root (run listings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_uri: Option<String>,
    /// The entries.
    #[serde(default)]
    pub files: Vec<FileInfo>,
}

/// An alias of a registered model and the version it points to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAlias {
    /// The alias.
    pub alias: String,
    /// The version number.
    pub version: String,
}

/// A version of a registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number.
    pub version: String,
    /// Creation, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<i64>,
    /// Last change, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `None`, `Staging`, `Production` or `Archived`.
    #[serde(default)]
    pub current_stage: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it was registered from (`runs:/…`, `models:/…`, `mlflow-artifacts:/…`).
    #[serde(default)]
    pub source: String,
    /// The run it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The aliases pointing at it.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The logged model it came from (`m-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Its name, unique in the project.
    pub name: String,
    /// Creation, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<i64>,
    /// Last change, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The latest version in each stage.
    #[serde(default)]
    pub latest_versions: Vec<ModelVersion>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its aliases.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

/// A page of registered models.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegisteredModelPage {
    /// The models.
    #[serde(default)]
    pub registered_models: Vec<RegisteredModel>,
    /// The token of the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// A page of model versions.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ModelVersionPage {
    /// The versions.
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
    /// The token of the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// MLflow's doubles: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
mod double {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value == f64::INFINITY {
            serializer.serialize_str("Infinity")
        } else if *value == f64::NEG_INFINITY {
            serializer.serialize_str("-Infinity")
        } else {
            serializer.serialize_f64(*value)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match Wire::deserialize(deserializer)? {
            Wire::Number(value) => Ok(value),
            Wire::Text(text) => match text.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse()
                    .map_err(|_| D::Error::custom(format!("`{other}` is not a number"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_read_and_write_mlflow_doubles() {
        for (wire, value) in [
            ("0.25", 0.25),
            ("\"Infinity\"", f64::INFINITY),
            ("\"-Infinity\"", f64::NEG_INFINITY),
        ] {
            let text = format!(r#"{{"key":"loss","value":{wire},"timestamp":5,"step":2}}"#);
            let metric: Metric = serde_json::from_str(&text).unwrap();
            assert_eq!(metric.value, value);
            assert_eq!(serde_json::to_string(&metric).unwrap(), text);
        }
        let nan: Metric = serde_json::from_str(r#"{"key":"x","value":"NaN"}"#).unwrap();
        assert!(nan.value.is_nan());
        assert!(serde_json::from_str::<Metric>(r#"{"key":"x","value":"many"}"#).is_err());
    }
}
