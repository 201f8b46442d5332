//! The Open Inference Protocol (KServe v2, Triton's HTTP API): model metadata and
//! `POST …/infer` with typed tensors, in JSON or with the binary tensor extension (a JSON
//! header of `Inference-Header-Content-Length` bytes followed by the tensors' raw
//! little-endian bytes, as `tritonclient[http]` sends by default). Answers are JSON;
//! errors are `{"error": …}`.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Input, ModelInterface, OutputKind, Payload, Prediction, PredictionOutput};
use crate::error::{bad_input, ServingError, ServingResult};
use crate::tensor::{DType, Tensor, TensorData};

/// A parsed inference request.
#[derive(Clone, Debug, PartialEq)]
pub struct InferRequest {
    /// The request's id, echoed in the answer.
    pub id: Option<String>,
    /// The named input tensors.
    pub payload: Payload,
    /// The outputs asked for; `None`: all of them.
    pub outputs: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    inputs: Vec<RawInput>,
    #[serde(default)]
    outputs: Option<Vec<RawOutput>>,
}

#[derive(Deserialize)]
struct RawInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RawOutput {
    name: String,
}

/// Parses an `…/infer` body. `header_length` is the `Inference-Header-Content-Length`
/// header, present when tensors follow the JSON in binary.
pub fn parse_infer(
    content_type: Option<&str>,
    header_length: Option<&str>,
    body: &[u8],
) -> ServingResult<InferRequest> {
    let media = content_type
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !matches!(
        media.as_str(),
        "" | "application/json" | "application/octet-stream"
    ) {
        return Err(ServingError::UnsupportedMediaType(format!(
            "content type `{media}` is not supported: send `application/json` (or JSON followed by binary tensors with `Inference-Header-Content-Length`)"
        )));
    }
    let (json, mut binary) = match header_length {
        Some(length) => {
            let length: usize = length.trim().parse().map_err(|_| {
                bad_input(format!(
                    "`Inference-Header-Content-Length`: `{length}` is not a byte count"
                ))
            })?;
            if length > body.len() {
                return Err(bad_input(format!(
                    "`Inference-Header-Content-Length` is {length}, the body has {} bytes",
                    body.len()
                )));
            }
            body.split_at(length)
        }
        None => (body, &[][..]),
    };
    let raw: RawRequest = serde_json::from_slice(json)
        .map_err(|error| bad_input(format!("the body is not an inference request: {error}")))?;
    if raw.inputs.is_empty() {
        return Err(bad_input("`inputs`: the request has no input tensor"));
    }
    let mut inputs = Vec::with_capacity(raw.inputs.len());
    for input in raw.inputs {
        let name = input.name.clone();
        let tensor = read_input(input, &mut binary)?;
        if inputs
            .iter()
            .any(|(have, _): &(String, Input)| *have == name)
        {
            return Err(bad_input(format!("input `{name}` appears twice")));
        }
        inputs.push((name, Input::Typed(tensor)));
    }
    if !binary.is_empty() {
        return Err(bad_input(format!(
            "{} bytes of binary data follow the tensors the header describes",
            binary.len()
        )));
    }
    Ok(InferRequest {
        id: raw.id,
        payload: Payload::Named(inputs),
        outputs: raw
            .outputs
            .map(|outputs| outputs.into_iter().map(|output| output.name).collect()),
    })
}

fn read_input(input: RawInput, binary: &mut &[u8]) -> ServingResult<Tensor> {
    let name = &input.name;
    let dtype = DType::from_v2_name(&input.datatype).ok_or_else(|| {
        bad_input(format!(
            "input `{name}`: datatype `{}` is not supported (BOOL, INT8–INT64, UINT8–UINT64, FP32, FP64, BYTES)",
            input.datatype
        ))
    })?;
    let mut shape = Vec::with_capacity(input.shape.len());
    for &dim in &input.shape {
        shape.push(usize::try_from(dim).map_err(|_| {
            bad_input(format!(
                "input `{name}`: shape {:?} has a negative extent",
                input.shape
            ))
        })?);
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &dim| acc.checked_mul(dim))
        .ok_or_else(|| bad_input(format!("input `{name}`: shape {shape:?} is too large")))?;
    let binary_size = input
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.get("binary_data_size"))
        .map(|size| {
            size.as_u64()
                .and_then(|size| usize::try_from(size).ok())
                .ok_or_else(|| {
                    bad_input(format!(
                        "input `{name}`: `binary_data_size` is not a byte count"
                    ))
                })
        })
        .transpose()?;
    let data = match (binary_size, input.data) {
        (Some(size), _) => {
            if size > binary.len() {
                return Err(bad_input(format!(
                    "input `{name}`: `binary_data_size` is {size}, only {} bytes are left",
                    binary.len()
                )));
            }
            let (bytes, rest) = binary.split_at(size);
            *binary = rest;
            decode_binary(name, dtype, count, bytes)?
        }
        (None, Some(data)) => {
            let flat = super::JsonTensor::from_nested(&data, &format!("inputs.{name}.data"))?;
            if flat.values.len() != count {
                return Err(bad_input(format!(
                    "input `{name}`: shape {shape:?} holds {count} elements, `data` has {}",
                    flat.values.len()
                )));
            }
            super::json_to_data(&flat.values, dtype, false).map_err(|reason| {
                bad_input(format!("input `{name}` ({}): {reason}", input.datatype))
            })?
        }
        (None, None) => return Err(bad_input(format!("input `{name}` has no `data`"))),
    };
    Tensor::new(shape, data).map_err(|reason| bad_input(format!("input `{name}`: {reason}")))
}

fn decode_binary(
    name: &str,
    dtype: DType,
    count: usize,
    bytes: &[u8],
) -> ServingResult<TensorData> {
    if dtype == DType::String {
        let mut texts = Vec::with_capacity(count);
        let mut rest = bytes;
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(bad_input(format!(
                    "input `{name}`: a BYTES element is cut short"
                )));
            }
            let (length, tail) = rest.split_at(4);
            let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
            if length > tail.len() {
                return Err(bad_input(format!(
                    "input `{name}`: a BYTES element is cut short"
                )));
            }
            let (text, tail) = tail.split_at(length);
            texts.push(String::from_utf8(text.to_vec()).map_err(|_| {
                bad_input(format!("input `{name}`: a BYTES element is not UTF-8 text"))
            })?);
            rest = tail;
        }
        if texts.len() != count {
            return Err(bad_input(format!(
                "input `{name}`: the shape holds {count} elements, the binary data has {}",
                texts.len()
            )));
        }
        return Ok(TensorData::String(texts));
    }
    let size = dtype.byte_size().expect("fixed-size type");
    if bytes.len() != count * size {
        return Err(bad_input(format!(
            "input `{name}`: the shape holds {count} elements of {size} bytes, `binary_data_size` is {}",
            bytes.len()
        )));
    }
    macro_rules! decode {
        ($variant:ident, $ty:ty) => {
            TensorData::$variant(
                bytes
                    .chunks_exact(size)
                    .map(|chunk| <$ty>::from_le_bytes(chunk.try_into().expect("exact chunk")))
                    .collect(),
            )
        };
    }
    Ok(match dtype {
        DType::Bool => TensorData::Bool(bytes.iter().map(|&byte| byte != 0).collect()),
        DType::Int8 => decode!(Int8, i8),
        DType::Int16 => decode!(Int16, i16),
        DType::Int32 => decode!(Int32, i32),
        DType::Int64 => decode!(Int64, i64),
        DType::UInt8 => decode!(UInt8, u8),
        DType::UInt16 => decode!(UInt16, u16),
        DType::UInt32 => decode!(UInt32, u32),
        DType::UInt64 => decode!(UInt64, u64),
        DType::Float32 => decode!(Float32, f32),
        DType::Float64 => decode!(Float64, f64),
        DType::String => unreachable!("handled above"),
    })
}

/// Keeps the outputs a request asked for, in its order; `Err` names an unknown one.
pub fn select_outputs(
    prediction: Prediction,
    wanted: Option<&[String]>,
) -> ServingResult<Vec<PredictionOutput>> {
    let Some(wanted) = wanted else {
        return Ok(prediction.outputs);
    };
    let mut outputs = prediction.outputs;
    let mut selected = Vec::with_capacity(wanted.len());
    for name in wanted {
        let Some(index) = outputs.iter().position(|output| &output.name == name) else {
            return Err(bad_input(format!(
                "unknown output `{name}`: the model has {}",
                super::names(outputs.iter().map(|output| &output.name))
            )));
        };
        selected.push(outputs.remove(index));
    }
    Ok(selected)
}

/// The answer to `…/infer`.
#[derive(Debug)]
pub struct InferResponse<'a> {
    /// The model's name (the deployment's).
    pub model_name: &'a str,
    /// The model version.
    pub model_version: String,
    /// The request's id, if it had one.
    pub id: Option<&'a str>,
    /// The outputs.
    pub outputs: &'a [PredictionOutput],
}

impl Serialize for InferResponse<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model_name", self.model_name)?;
        map.serialize_entry("model_version", &self.model_version)?;
        if let Some(id) = self.id {
            map.serialize_entry("id", id)?;
        }
        let outputs: Vec<OutputTensor<'_>> = self.outputs.iter().map(OutputTensor).collect();
        map.serialize_entry("outputs", &outputs)?;
        map.end()
    }
}

struct OutputTensor<'a>(&'a PredictionOutput);

impl Serialize for OutputTensor<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tensor = &self.0.tensor;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("name", &self.0.name)?;
        map.serialize_entry("datatype", tensor.dtype().v2_name())?;
        map.serialize_entry("shape", &tensor.shape)?;
        map.serialize_entry("data", &tensor.flat())?;
        map.end()
    }
}

/// One tensor of the model metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetadataTensor {
    /// Its name.
    pub name: String,
    /// Its Open Inference Protocol datatype.
    pub datatype: String,
    /// Its shape, `-1` for any extent.
    pub shape: Vec<i64>,
}

/// The answer to `GET …/v2/models/{model}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelMetadata {
    /// The model's name (the deployment's).
    pub name: String,
    /// Its versions (the one deployed).
    pub versions: Vec<String>,
    /// The runtime: `onnxruntime_onnx`.
    pub platform: String,
    /// The inputs.
    pub inputs: Vec<MetadataTensor>,
    /// The outputs (a ZipMap's as the `[rows, classes]` FP32 matrix it is answered as).
    pub outputs: Vec<MetadataTensor>,
}

impl ModelMetadata {
    /// Describes a model.
    pub fn new(name: &str, version: i64, interface: &ModelInterface) -> ModelMetadata {
        let datatype =
            |dtype: Option<DType>| dtype.map_or("UNSUPPORTED", DType::v2_name).to_string();
        ModelMetadata {
            name: name.to_string(),
            versions: vec![version.to_string()],
            platform: "onnxruntime_onnx".to_string(),
            inputs: interface
                .inputs
                .iter()
                .map(|input| MetadataTensor {
                    name: input.name.clone(),
                    datatype: datatype(input.dtype),
                    shape: input.shape.clone(),
                })
                .collect(),
            outputs: interface
                .outputs
                .iter()
                .map(|output| match &output.kind {
                    OutputKind::Tensor { dtype, shape } => MetadataTensor {
                        name: output.name.clone(),
                        datatype: datatype(*dtype),
                        shape: shape.clone(),
                    },
                    OutputKind::SequenceOfMaps { .. } => MetadataTensor {
                        name: output.name.clone(),
                        datatype: "FP32".to_string(),
                        shape: vec![-1, -1],
                    },
                    OutputKind::Other(_) => MetadataTensor {
                        name: output.name.clone(),
                        datatype: "UNSUPPORTED".to_string(),
                        shape: Vec::new(),
                    },
                })
                .collect(),
        }
    }
}

/// The protocol's error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}
