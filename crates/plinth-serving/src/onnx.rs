//! ONNX Runtime in the server process, through `ort` with `load-dynamic`: the library
//! (`libonnxruntime.so`) is found at run time — `serving.onnxruntime_path`, or the one an
//! installed `onnxruntime` wheel ships (`…/site-packages/onnxruntime/capi/`) in the Python
//! environment of `serving.python` — and loaded once per process. Nothing is downloaded
//! and nothing is linked at build time. ONNX Runtime's own build runs the `ai.onnx.ml`
//! operators sklearn models are converted to (Scaler, ZipMap, TreeEnsemble*, LinearClassifier).
//!
//! Every call into the runtime here blocks; the service runs them on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::value::{DynMapValueType, DynValue, TensorElementType, ValueType};

use crate::error::{ServingError, ServingResult};
use crate::model::Signature;
use crate::protocol::{
    maps_to_matrix, InputSpec, ModelInterface, OutputKind, OutputSpec, Prediction, PredictionOutput,
};
use crate::tensor::{DType, Tensor, TensorData};

/// Where ONNX Runtime is looked for.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// The library itself (`serving.onnxruntime_path`); when set, nothing else is tried.
    pub library_path: Option<PathBuf>,
    /// The Python whose environment's `onnxruntime` wheel provides the library
    /// (`serving.python`).
    pub python: PathBuf,
    /// Threads each model's session uses within an operator (`serving.intra_op_threads`).
    pub intra_op_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            library_path: None,
            python: PathBuf::from("python3"),
            intra_op_threads: 1,
        }
    }
}

/// ONNX Runtime, loaded on first use.
#[derive(Debug)]
pub struct OnnxRuntime {
    settings: RuntimeSettings,
    loaded: OnceLock<Result<PathBuf, String>>,
}

/// Returns the `libonnxruntime.so*` in an `onnxruntime` package folder's `capi/`, if any
/// (the wheel names it with its version: `libonnxruntime.so.1.31.1`).
pub fn library_in_package(package: &Path) -> Option<PathBuf> {
    let capi = package.join("capi");
    let mut found: Vec<PathBuf> = fs_err::read_dir(&capi)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name == "libonnxruntime.so" || name.starts_with("libonnxruntime.so.")
                })
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Asks `python` where its `onnxruntime` package is (without importing it).
fn package_of_python(python: &Path) -> Result<PathBuf, String> {
    const FIND: &str = "import importlib.util as u\ns = u.find_spec('onnxruntime')\nprint(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')";
    let output = std::process::Command::new(python)
        .args(["-c", FIND])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| format!("cannot run `{}`: {error}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let folder = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if folder.is_empty() {
        return Err(format!(
            "the Python `{}` has no `onnxruntime` package installed",
            python.display()
        ));
    }
    Ok(PathBuf::from(folder))
}

impl OnnxRuntime {
    /// Returns the runtime; nothing is loaded until [`Self::ensure`].
    pub fn new(settings: RuntimeSettings) -> Self {
        OnnxRuntime {
            settings,
            loaded: OnceLock::new(),
        }
    }

    /// Returns the settings.
    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    fn find_library(&self) -> Result<PathBuf, String> {
        if let Some(path) = &self.settings.library_path {
            return match path.try_exists() {
                Ok(true) => Ok(path.clone()),
                _ => Err(format!(
                    "`serving.onnxruntime_path` names `{}`, which does not exist",
                    path.display()
                )),
            };
        }
        let package = package_of_python(&self.settings.python).map_err(|reason| {
            format!(
                "{reason}; set `serving.onnxruntime_path` to a `libonnxruntime.so`, or \
                 `serving.python` to a Python with `onnxruntime` installed (`pip install onnxruntime`)"
            )
        })?;
        library_in_package(&package).ok_or_else(|| {
            format!(
                "the `onnxruntime` package at `{}` has no `capi/libonnxruntime.so*`; set `serving.onnxruntime_path`",
                package.display()
            )
        })
    }

    /// Finds and loads the library, once per process; later calls answer the first one's
    /// outcome. Blocks (it may run Python): call it on the blocking pool.
    pub fn ensure(&self) -> ServingResult<PathBuf> {
        self.loaded
            .get_or_init(|| {
                let path = self.find_library()?;
                let builder = ort::init_from(&path).map_err(|error| error.to_string())?;
                builder.with_name("plinth-serving").commit();
                tracing::info!(library = %path.display(), "loaded ONNX Runtime");
                Ok(path)
            })
            .clone()
            .map_err(ServingError::RuntimeUnavailable)
    }

    /// Loads a model into a session of its own. Blocks.
    pub fn load(&self, model: &[u8], signature: Option<Signature>) -> ServingResult<OnnxModel> {
        self.ensure()?;
        let bad = |error: ort::Error| {
            ServingError::BadModel(format!("ONNX Runtime cannot load it: {error}"))
        };
        let session = Session::builder()
            .map_err(bad)?
            .with_intra_threads(self.settings.intra_op_threads.max(1))
            .map_err(|error| bad(error.into()))?
            .with_inter_threads(1)
            .map_err(|error| bad(error.into()))?
            .commit_from_memory(model)
            .map_err(bad)?;
        let interface = ModelInterface {
            inputs: session
                .inputs()
                .iter()
                .map(|input| {
                    let (dtype, shape) = match input.dtype() {
                        ValueType::Tensor { ty, shape, .. } => {
                            (dtype_of(*ty), shape.iter().copied().collect())
                        }
                        _ => (None, Vec::new()),
                    };
                    InputSpec {
                        name: input.name().to_string(),
                        dtype,
                        shape,
                    }
                })
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|output| OutputSpec {
                    name: output.name().to_string(),
                    kind: output_kind(output.dtype()),
                })
                .collect(),
            signature,
        };
        Ok(OnnxModel {
            session: Mutex::new(session),
            interface,
        })
    }
}

fn dtype_of(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Bool => DType::Bool,
        TensorElementType::Int8 => DType::Int8,
        TensorElementType::Int16 => DType::Int16,
        TensorElementType::Int32 => DType::Int32,
        TensorElementType::Int64 => DType::Int64,
        TensorElementType::Uint8 => DType::UInt8,
        TensorElementType::Uint16 => DType::UInt16,
        TensorElementType::Uint32 => DType::UInt32,
        TensorElementType::Uint64 => DType::UInt64,
        TensorElementType::Float32 => DType::Float32,
        TensorElementType::Float64 => DType::Float64,
        TensorElementType::String => DType::String,
        _ => return None,
    })
}

fn output_kind(value: &ValueType) -> OutputKind {
    match value {
        ValueType::Tensor { ty, shape, .. } => OutputKind::Tensor {
            dtype: dtype_of(*ty),
            shape: shape.iter().copied().collect(),
        },
        ValueType::Sequence(element) => match element.as_ref() {
            ValueType::Map { key, value } => OutputKind::SequenceOfMaps {
                key: dtype_of(*key),
                value: dtype_of(*value),
            },
            other => OutputKind::Other(format!("a sequence of {other:?}")),
        },
        other => OutputKind::Other(format!("{other:?}")),
    }
}

/// A model loaded into ONNX Runtime, with what requests are checked against.
pub struct OnnxModel {
    session: Mutex<Session>,
    /// Its inputs, outputs and signature.
    pub interface: ModelInterface,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OnnxModel")
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

fn to_value(tensor: Tensor) -> ort::Result<DynValue> {
    let shape: Vec<i64> = tensor.shape.iter().map(|&dim| dim as i64).collect();
    macro_rules! primitive {
        ($values:expr) => {
            ort::value::Tensor::from_array((shape, $values))?.into_dyn()
        };
    }
    Ok(match tensor.data {
        TensorData::String(texts) => {
            ort::value::Tensor::from_string_array((shape, texts.as_slice()))?.into_dyn()
        }
        TensorData::Bool(v) => primitive!(v),
        TensorData::Int8(v) => primitive!(v),
        TensorData::Int16(v) => primitive!(v),
        TensorData::Int32(v) => primitive!(v),
        TensorData::Int64(v) => primitive!(v),
        TensorData::UInt8(v) => primitive!(v),
        TensorData::UInt16(v) => primitive!(v),
        TensorData::UInt32(v) => primitive!(v),
        TensorData::UInt64(v) => primitive!(v),
        TensorData::Float32(v) => primitive!(v),
        TensorData::Float64(v) => primitive!(v),
    })
}

fn from_value(name: &str, value: &DynValue) -> ServingResult<PredictionOutput> {
    let failed = |error: ort::Error| ServingError::Inference(format!("output `{name}`: {error}"));
    let tensor = |shape: &ort::value::Shape, data: TensorData| -> ServingResult<PredictionOutput> {
        let shape: Vec<usize> = shape.iter().map(|&dim| dim.max(0) as usize).collect();
        Ok(PredictionOutput {
            name: name.to_string(),
            tensor: Tensor::new(shape, data).map_err(ServingError::Inference)?,
            keys: None,
        })
    };
    macro_rules! extract {
        ($ty:ty, $variant:ident) => {{
            let (shape, data) = value.try_extract_tensor::<$ty>().map_err(failed)?;
            tensor(shape, TensorData::$variant(data.to_vec()))
        }};
    }
    match value.dtype() {
        ValueType::Tensor { ty, .. } => match ty {
            TensorElementType::Bool => extract!(bool, Bool),
            TensorElementType::Int8 => extract!(i8, Int8),
            TensorElementType::Int16 => extract!(i16, Int16),
            TensorElementType::Int32 => extract!(i32, Int32),
            TensorElementType::Int64 => extract!(i64, Int64),
            TensorElementType::Uint8 => extract!(u8, UInt8),
            TensorElementType::Uint16 => extract!(u16, UInt16),
            TensorElementType::Uint32 => extract!(u32, UInt32),
            TensorElementType::Uint64 => extract!(u64, UInt64),
            TensorElementType::Float32 => extract!(f32, Float32),
            TensorElementType::Float64 => extract!(f64, Float64),
            TensorElementType::String => {
                let (shape, texts) = value.try_extract_strings().map_err(failed)?;
                tensor(shape, TensorData::String(texts))
            }
            other => Err(ServingError::Inference(format!(
                "output `{name}` has element type {other}, which Plinth cannot return"
            ))),
        },
        ValueType::Sequence(element) if matches!(element.as_ref(), ValueType::Map { .. }) => {
            let ValueType::Map { key, .. } = element.as_ref() else {
                unreachable!("matched above")
            };
            let maps = value
                .try_extract_sequence::<DynMapValueType>()
                .map_err(failed)?;
            let (matrix, keys) = match key {
                TensorElementType::String => {
                    let rows = maps
                        .iter()
                        .map(|map| map.try_extract_key_values::<String, f32>())
                        .collect::<ort::Result<Vec<_>>>()
                        .map_err(failed)?;
                    maps_to_matrix(rows)
                }
                _ => {
                    let rows = maps
                        .iter()
                        .map(|map| map.try_extract_key_values::<i64, f32>())
                        .collect::<ort::Result<Vec<_>>>()
                        .map_err(failed)?;
                    maps_to_matrix(rows)
                }
            }
            .map_err(|reason| ServingError::Inference(format!("output `{name}`: {reason}")))?;
            Ok(PredictionOutput {
                name: name.to_string(),
                tensor: matrix,
                keys: Some(keys),
            })
        }
        other => Err(ServingError::Inference(format!(
            "output `{name}` is {other:?}, which Plinth cannot return"
        ))),
    }
}

impl OnnxModel {
    /// Runs the model on checked feeds. Blocks (the session is used by one request at a
    /// time; ONNX Runtime parallelises within it).
    pub fn run(&self, feeds: Vec<(String, Tensor)>) -> ServingResult<Prediction> {
        let mut inputs: Vec<(String, DynValue)> = Vec::with_capacity(feeds.len());
        for (name, tensor) in feeds {
            let value = to_value(tensor)
                .map_err(|error| ServingError::BadInput(format!("input `{name}`: {error}")))?;
            inputs.push((name, value));
        }
        let mut session = self
            .session
            .lock()
            .map_err(|_| ServingError::Internal("a model session was poisoned".to_string()))?;
        let outputs = session
            .run(inputs)
            .map_err(|error| ServingError::Inference(error.to_string()))?;
        let mut prediction = Prediction {
            outputs: Vec::with_capacity(self.interface.outputs.len()),
        };
        for spec in &self.interface.outputs {
            let value = outputs.get(&spec.name).ok_or_else(|| {
                ServingError::Inference(format!("the model did not return output `{}`", spec.name))
            })?;
            prediction.outputs.push(from_value(&spec.name, value)?);
        }
        Ok(prediction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_wheels_versioned_library() {
        let folder = tempfile::tempdir().unwrap();
        let package = folder.path().join("onnxruntime");
        fs_err::create_dir_all(package.join("capi")).unwrap();
        assert_eq!(library_in_package(&package), None);
        fs_err::write(package.join("capi/libonnxruntime_providers_shared.so"), b"").unwrap();
        assert_eq!(library_in_package(&package), None);
        fs_err::write(package.join("capi/libonnxruntime.so.1.31.1"), b"").unwrap();
        assert_eq!(
            library_in_package(&package),
            Some(package.join("capi/libonnxruntime.so.1.31.1"))
        );
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let runtime = OnnxRuntime::new(RuntimeSettings {
            library_path: Some(PathBuf::from("/nonexistent/libonnxruntime.so")),
            ..RuntimeSettings::default()
        });
        let error = runtime.ensure().unwrap_err().to_string();
        assert!(
            error.contains("serving.onnxruntime_path") && error.contains("/nonexistent"),
            "{error}"
        );
        let runtime = OnnxRuntime::new(RuntimeSettings {
            library_path: None,
            python: PathBuf::from("/nonexistent/python3"),
            intra_op_threads: 1,
        });
        let error = runtime.ensure().unwrap_err().to_string();
        assert!(
            error.contains("/nonexistent/python3") && error.contains("onnxruntime"),
            "{error}"
        );
    }
}
