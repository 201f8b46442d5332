//! Typed tensors: what the protocols parse requests into, what the runtime takes and
//! returns, and how they are written back as JSON (nested rows for MLflow, flat data for
//! the Open Inference Protocol) without going through `serde_json::Value`, so an `f32`
//! is written as the shortest text that reads back as the same `f32`.

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

/// An element type the runtime can take or return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `bool`.
    Bool,
    /// `i8`.
    Int8,
    /// `i16`.
    Int16,
    /// `i32`.
    Int32,
    /// `i64`.
    Int64,
    /// `u8`.
    UInt8,
    /// `u16`.
    UInt16,
    /// `u32`.
    UInt32,
    /// `u64`.
    UInt64,
    /// `f32`.
    Float32,
    /// `f64`.
    Float64,
    /// UTF-8 text.
    String,
}

impl DType {
    /// Returns the Open Inference Protocol's name of the type (`FP32`, `INT64`, `BYTES` …).
    pub fn v2_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::Int8 => "INT8",
            DType::Int16 => "INT16",
            DType::Int32 => "INT32",
            DType::Int64 => "INT64",
            DType::UInt8 => "UINT8",
            DType::UInt16 => "UINT16",
            DType::UInt32 => "UINT32",
            DType::UInt64 => "UINT64",
            DType::Float32 => "FP32",
            DType::Float64 => "FP64",
            DType::String => "BYTES",
        }
    }

    /// Returns the type an Open Inference Protocol name stands for (`FP16` is not
    /// supported).
    pub fn from_v2_name(name: &str) -> Option<DType> {
        Some(match name {
            "BOOL" => DType::Bool,
            "INT8" => DType::Int8,
            "INT16" => DType::Int16,
            "INT32" => DType::Int32,
            "INT64" => DType::Int64,
            "UINT8" => DType::UInt8,
            "UINT16" => DType::UInt16,
            "UINT32" => DType::UInt32,
            "UINT64" => DType::UInt64,
            "FP32" => DType::Float32,
            "FP64" => DType::Float64,
            "BYTES" => DType::String,
            _ => return None,
        })
    }

    /// Returns the numpy name of the type (`float32`, `int64`, `str` …), as MLflow's
    /// tensor signatures write it.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::String => "str",
        }
    }

    /// Returns the size of one element in the binary tensor extension (`None` for text,
    /// whose elements are length-prefixed).
    pub fn byte_size(self) -> Option<usize> {
        Some(match self {
            DType::Bool | DType::Int8 | DType::UInt8 => 1,
            DType::Int16 | DType::UInt16 => 2,
            DType::Int32 | DType::UInt32 | DType::Float32 => 4,
            DType::Int64 | DType::UInt64 | DType::Float64 => 8,
            DType::String => return None,
        })
    }

    fn is_integer(self) -> bool {
        matches!(
            self,
            DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::UInt8
                | DType::UInt16
                | DType::UInt32
                | DType::UInt64
        )
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.numpy_name())
    }
}

/// The elements of a tensor, in row-major order.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum TensorData {
    Bool(Vec<bool>),
    Int8(Vec<i8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    UInt8(Vec<u8>),
    UInt16(Vec<u16>),
    UInt32(Vec<u32>),
    UInt64(Vec<u64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    String(Vec<String>),
}

/// Applies `$body` to the vector inside any [`TensorData`].
macro_rules! each_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::Bool($v) => $body,
            TensorData::Int8($v) => $body,
            TensorData::Int16($v) => $body,
            TensorData::Int32($v) => $body,
            TensorData::Int64($v) => $body,
            TensorData::UInt8($v) => $body,
            TensorData::UInt16($v) => $body,
            TensorData::UInt32($v) => $body,
            TensorData::UInt64($v) => $body,
            TensorData::Float32($v) => $body,
            TensorData::Float64($v) => $body,
            TensorData::String($v) => $body,
        }
    };
}
pub(crate) use each_data;

impl TensorData {
    /// Returns the element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::Bool(_) => DType::Bool,
            TensorData::Int8(_) => DType::Int8,
            TensorData::Int16(_) => DType::Int16,
            TensorData::Int32(_) => DType::Int32,
            TensorData::Int64(_) => DType::Int64,
            TensorData::UInt8(_) => DType::UInt8,
            TensorData::UInt16(_) => DType::UInt16,
            TensorData::UInt32(_) => DType::UInt32,
            TensorData::UInt64(_) => DType::UInt64,
            TensorData::Float32(_) => DType::Float32,
            TensorData::Float64(_) => DType::Float64,
            TensorData::String(_) => DType::String,
        }
    }

    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        each_data!(self, v => v.len())
    }

    /// Returns whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Serializes element `index`.
    fn serialize_element<S: Serializer>(
        &self,
        index: usize,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        each_data!(self, v => v[index].serialize(serializer))
    }

    /// Converts to `dtype`: numbers to numbers when no value changes (an integer type
    /// takes only whole numbers in its range; `f32` takes any number), text to text,
    /// booleans to booleans. `Err` names the first element that does not fit.
    pub fn cast(self, dtype: DType) -> Result<TensorData, String> {
        if self.dtype() == dtype {
            return Ok(self);
        }
        let from = self.dtype();
        if from == DType::String
            || dtype == DType::String
            || from == DType::Bool
            || dtype == DType::Bool
        {
            return Err(format!("expected {dtype}, got {from}"));
        }
        let values: Vec<f64> = match &self {
            TensorData::Int64(v) => {
                // Whole i64 values beyond 2^53 would lose precision through f64.
                if dtype.is_integer() {
                    return cast_integers(v.iter().map(|&x| i128::from(x)), dtype);
                }
                v.iter().map(|&x| x as f64).collect()
            }
            TensorData::UInt64(v) => {
                if dtype.is_integer() {
                    return cast_integers(v.iter().map(|&x| i128::from(x)), dtype);
                }
                v.iter().map(|&x| x as f64).collect()
            }
            other => numbers_as_f64(other),
        };
        from_f64s(values, dtype)
    }
}

fn numbers_as_f64(data: &TensorData) -> Vec<f64> {
    match data {
        TensorData::Int8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Int16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Int32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::UInt8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::UInt16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::UInt32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Float32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Float64(v) => v.clone(),
        TensorData::Int64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::UInt64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::Bool(_) | TensorData::String(_) => Vec::new(),
    }
}

fn cast_integers(values: impl Iterator<Item = i128>, dtype: DType) -> Result<TensorData, String> {
    let values: Vec<i128> = values.collect();
    macro_rules! narrow {
        ($variant:ident, $ty:ty) => {{
            let mut out = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                out.push(
                    <$ty>::try_from(*value)
                        .map_err(|_| format!("element {index}: {value} does not fit {dtype}"))?,
                );
            }
            Ok(TensorData::$variant(out))
        }};
    }
    match dtype {
        DType::Int8 => narrow!(Int8, i8),
        DType::Int16 => narrow!(Int16, i16),
        DType::Int32 => narrow!(Int32, i32),
        DType::Int64 => narrow!(Int64, i64),
        DType::UInt8 => narrow!(UInt8, u8),
        DType::UInt16 => narrow!(UInt16, u16),
        DType::UInt32 => narrow!(UInt32, u32),
        DType::UInt64 => narrow!(UInt64, u64),
        _ => Err(format!("expected {dtype}")),
    }
}

/// Builds `dtype` data from numbers: floats take anything, integers whole numbers only.
pub(crate) fn from_f64s(values: Vec<f64>, dtype: DType) -> Result<TensorData, String> {
    match dtype {
        DType::Float64 => Ok(TensorData::Float64(values)),
        DType::Float32 => Ok(TensorData::Float32(
            values.iter().map(|&x| x as f32).collect(),
        )),
        DType::Bool | DType::String => Err(format!("expected {dtype}, got numbers")),
        _ => {
            let mut whole = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                if value.fract() != 0.0 || !value.is_finite() {
                    return Err(format!(
                        "element {index}: {value} is not a whole number ({dtype})"
                    ));
                }
                // |value| < 2^63 is checked by the narrowing below (i128 holds every f64 that
                // passed the whole-number test up to 2^127).
                whole.push(*value as i128);
            }
            cast_integers(whole.into_iter(), dtype)
        }
    }
}

/// A tensor: a shape and its elements (as many as the shape's product).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The extent of each dimension.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: TensorData,
}

impl Tensor {
    /// Returns a tensor; `Err` when the element count is not the shape's product.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, String> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(format!(
                "shape {shape:?} holds {expected} elements, the data has {}",
                data.len()
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// Returns the element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Returns the number of rows (the first dimension; 1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Returns row `row` as a value that serializes as a nested list (a scalar when the
    /// tensor has one dimension).
    pub fn row(&self, row: usize) -> Nested<'_> {
        if self.shape.is_empty() {
            return Nested {
                data: &self.data,
                offset: 0,
                shape: &[],
            };
        }
        let stride: usize = self.shape[1..].iter().product();
        Nested {
            data: &self.data,
            offset: row * stride,
            shape: &self.shape[1..],
        }
    }

    /// Returns the elements as a value that serializes as a flat list.
    pub fn flat(&self) -> Flat<'_> {
        Flat(&self.data)
    }
}

/// A part of a tensor that serializes as nested lists of its elements.
#[derive(Clone, Copy, Debug)]
pub struct Nested<'a> {
    data: &'a TensorData,
    offset: usize,
    shape: &'a [usize],
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some((&first, rest)) = self.shape.split_first() else {
            return self.data.serialize_element(self.offset, serializer);
        };
        let stride: usize = rest.iter().product();
        let mut seq = serializer.serialize_seq(Some(first))?;
        for index in 0..first {
            seq.serialize_element(&Nested {
                data: self.data,
                offset: self.offset + index * stride,
                shape: rest,
            })?;
        }
        seq.end()
    }
}

/// A tensor's elements as one flat list.
#[derive(Clone, Copy, Debug)]
pub struct Flat<'a>(&'a TensorData);

impl Serialize for Flat<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        each_data!(self.0, v => v.serialize(serializer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_serialize_nested_and_f32_shortest() {
        let tensor = Tensor::new(
            vec![2, 3],
            TensorData::Float32(vec![0.1, 0.2, 0.7, 1.0, 0.0, 0.0]),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&tensor.row(0)).unwrap(),
            "[0.1,0.2,0.7]"
        );
        assert_eq!(
            serde_json::to_string(&tensor.row(1)).unwrap(),
            "[1.0,0.0,0.0]"
        );
        assert_eq!(
            serde_json::to_string(&tensor.flat()).unwrap(),
            "[0.1,0.2,0.7,1.0,0.0,0.0]"
        );
        let labels = Tensor::new(vec![2], TensorData::Int64(vec![2, 0])).unwrap();
        assert_eq!(serde_json::to_string(&labels.row(1)).unwrap(), "0");
    }

    #[test]
    fn casts_keep_values_or_name_the_element() {
        let ints = TensorData::Int64(vec![1, 2]);
        assert_eq!(
            ints.clone().cast(DType::Float32).unwrap(),
            TensorData::Float32(vec![1.0, 2.0])
        );
        assert_eq!(
            ints.cast(DType::Int32).unwrap(),
            TensorData::Int32(vec![1, 2])
        );
        let floats = TensorData::Float64(vec![1.0, 2.5]);
        let error = floats.cast(DType::Int64).unwrap_err();
        assert!(
            error.contains("element 1") && error.contains("2.5"),
            "{error}"
        );
        let error = TensorData::Int64(vec![300]).cast(DType::UInt8).unwrap_err();
        assert!(error.contains("300"), "{error}");
        assert!(TensorData::String(vec!["a".into()])
            .cast(DType::Float32)
            .is_err());
    }

    #[test]
    fn new_checks_the_element_count() {
        let error = Tensor::new(vec![2, 2], TensorData::Int64(vec![1, 2, 3])).unwrap_err();
        assert!(
            error.contains("4 elements") && error.contains('3'),
            "{error}"
        );
    }
}
