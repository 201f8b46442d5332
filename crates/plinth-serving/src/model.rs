//! MLflow's `MLmodel` file: which flavors a logged model has, where the ONNX flavor's file
//! is, and its signature (the columns or tensors it takes), which requests are checked
//! against.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{ServingError, ServingResult};
use crate::tensor::DType;

/// The flavors Plinth serves, in the order it prefers them.
pub const SERVABLE_FLAVORS: &[&str] = &["onnx"];

/// What a deployment needs from an `MLmodel` file.
#[derive(Clone, Debug, PartialEq)]
pub struct MlModel {
    /// Every flavor's name, sorted.
    pub flavors: Vec<String>,
    /// The ONNX flavor's model file, relative to the model's root (`model.onnx`).
    pub onnx_file: Option<String>,
    /// The model's signature, when it was logged with one.
    pub signature: Option<Signature>,
}

#[derive(Deserialize)]
struct RawMlModel {
    #[serde(default)]
    flavors: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    signature: Option<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    inputs: Option<String>,
}

impl MlModel {
    /// Parses an `MLmodel` file.
    pub fn parse(text: &str) -> ServingResult<MlModel> {
        let raw: RawMlModel = serde_yaml_ng::from_str(text).map_err(|error| {
            ServingError::BadModel(format!("its `MLmodel` is not valid YAML: {error}"))
        })?;
        let onnx_file = raw.flavors.get("onnx").map(|onnx| {
            onnx.get("data")
                .and_then(|data| data.as_str())
                .unwrap_or("model.onnx")
                .to_string()
        });
        let signature = match raw.signature.and_then(|signature| signature.inputs) {
            Some(inputs) => Some(Signature::parse(&inputs)?),
            None => None,
        };
        Ok(MlModel {
            flavors: raw.flavors.keys().cloned().collect(),
            onnx_file,
            signature,
        })
    }

    /// Returns the flavor Plinth serves this model with; `Err` names the flavors it has.
    pub fn servable_flavor(&self) -> ServingResult<&'static str> {
        for flavor in SERVABLE_FLAVORS {
            if self.flavors.iter().any(|have| have == flavor) {
                return Ok(flavor);
            }
        }
        Err(ServingError::NotServable {
            flavors: self.flavors.clone(),
        })
    }
}

/// A column's type in an MLflow column signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// `boolean`.
    Boolean,
    /// `integer` (32 bits).
    Integer,
    /// `long` (64 bits).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// Another type (`binary`, `datetime`, `array`, `object`): values are passed on as
    /// they come, unchecked.
    Other(String),
}

impl ColumnType {
    fn parse(name: &str) -> ColumnType {
        match name {
            "boolean" => ColumnType::Boolean,
            "integer" => ColumnType::Integer,
            "long" => ColumnType::Long,
            "float" => ColumnType::Float,
            "double" => ColumnType::Double,
            "string" => ColumnType::String,
            other => ColumnType::Other(other.to_string()),
        }
    }

    /// Returns the element type values of this column are checked as.
    pub fn dtype(&self) -> Option<DType> {
        Some(match self {
            ColumnType::Boolean => DType::Bool,
            ColumnType::Integer => DType::Int32,
            ColumnType::Long => DType::Int64,
            ColumnType::Float => DType::Float32,
            ColumnType::Double => DType::Float64,
            ColumnType::String => DType::String,
            ColumnType::Other(_) => return None,
        })
    }

    /// Returns MLflow's name of the type.
    pub fn name(&self) -> &str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Integer => "integer",
            ColumnType::Long => "long",
            ColumnType::Float => "float",
            ColumnType::Double => "double",
            ColumnType::String => "string",
            ColumnType::Other(name) => name,
        }
    }
}

/// One column of a column signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Its name.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether a request must have it.
    pub required: bool,
}

/// One tensor of a tensor signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its element type (`None`: a numpy type Plinth does not check, such as `object`).
    pub dtype: Option<DType>,
    /// Its shape, `-1` for any extent.
    pub shape: Vec<i64>,
}

/// A model's input signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Named, typed columns (a DataFrame).
    Columns(Vec<ColumnSpec>),
    /// Tensors.
    Tensors(Vec<TensorSpec>),
}

#[derive(Deserialize)]
struct RawSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default, rename = "tensor-spec")]
    tensor_spec: Option<RawTensorSpec>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawTensorSpec {
    dtype: String,
    #[serde(default)]
    shape: Vec<i64>,
}

fn numpy_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "bool" => DType::Bool,
        "int8" => DType::Int8,
        "int16" => DType::Int16,
        "int32" => DType::Int32,
        "int64" => DType::Int64,
        "uint8" => DType::UInt8,
        "uint16" => DType::UInt16,
        "uint32" => DType::UInt32,
        "uint64" => DType::UInt64,
        "float32" => DType::Float32,
        "float64" => DType::Float64,
        "str" => DType::String,
        _ => return None,
    })
}

impl Signature {
    /// Parses the `signature.inputs` JSON of an `MLmodel` file.
    pub fn parse(json: &str) -> ServingResult<Signature> {
        let specs: Vec<RawSpec> = serde_json::from_str(json).map_err(|error| {
            ServingError::BadModel(format!("its signature's inputs cannot be read: {error}"))
        })?;
        if specs.iter().any(|spec| spec.kind == "tensor") {
            let mut tensors = Vec::with_capacity(specs.len());
            for spec in specs {
                let Some(tensor) = spec.tensor_spec else {
                    return Err(ServingError::BadModel(
                        "its signature mixes tensors and columns".to_string(),
                    ));
                };
                tensors.push(TensorSpec {
                    name: spec.name,
                    dtype: numpy_dtype(&tensor.dtype),
                    shape: tensor.shape,
                });
            }
            return Ok(Signature::Tensors(tensors));
        }
        let mut columns = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            columns.push(ColumnSpec {
                // MLflow names unnamed columns by position.
                name: spec.name.unwrap_or_else(|| index.to_string()),
                column_type: ColumnType::parse(&spec.kind),
                required: spec.required,
            });
        }
        Ok(Signature::Columns(columns))
    }

    /// Returns the columns, for a column signature.
    pub fn columns(&self) -> Option<&[ColumnSpec]> {
        match self {
            Signature::Columns(columns) => Some(columns),
            Signature::Tensors(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRIS: &str = r#"artifact_path: null
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.23.2
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 3.17.2
model_id: m-0123
signature:
  inputs: '[{"type": "double", "name": "sepal length (cm)", "required": true}, {"type":
    "double", "name": "sepal width (cm)", "required": true}, {"type": "long", "name": "n", "required": false}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
"#;

    #[test]
    fn reads_flavors_file_and_column_signature() {
        let model = MlModel::parse(IRIS).unwrap();
        assert_eq!(model.flavors, ["onnx", "python_function"]);
        assert_eq!(model.onnx_file.as_deref(), Some("model.onnx"));
        assert_eq!(model.servable_flavor().unwrap(), "onnx");
        let columns = model
            .signature
            .as_ref()
            .unwrap()
            .columns()
            .unwrap()
            .to_vec();
        assert_eq!(columns.len(), 3);
        assert_eq!(columns[0].name, "sepal length (cm)");
        assert_eq!(columns[0].column_type, ColumnType::Double);
        assert_eq!(columns[2].column_type, ColumnType::Long);
        assert!(!columns[2].required);
    }

    #[test]
    fn a_model_without_a_servable_flavor_is_refused_naming_its_flavors() {
        let text = "flavors:\n  sklearn:\n    pickled_model: model.pkl\n  python_function:\n    loader_module: mlflow.sklearn\n";
        let model = MlModel::parse(text).unwrap();
        let error = model.servable_flavor().unwrap_err().to_string();
        assert!(error.contains("`python_function`, `sklearn`"), "{error}");
        assert!(error.contains("onnx"), "{error}");
    }

    #[test]
    fn reads_tensor_signatures() {
        let signature = Signature::parse(
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "X"}]"#,
        )
        .unwrap();
        assert_eq!(
            signature,
            Signature::Tensors(vec![TensorSpec {
                name: Some("X".to_string()),
                dtype: Some(DType::Float32),
                shape: vec![-1, 4],
            }])
        );
    }

    #[test]
    fn bad_yaml_is_a_bad_model() {
        let error = MlModel::parse("flavors: [").unwrap_err();
        assert!(matches!(error, ServingError::BadModel(_)), "{error}");
    }
}
