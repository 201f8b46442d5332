//! The scoring protocols, as pure functions over bytes: a request is parsed into a
//! [`Payload`] (MLflow's `dataframe_split`, `dataframe_records`, `instances`, `inputs`, CSV;
//! the Open Inference Protocol's typed tensors), checked against the model's
//! [`ModelInterface`] (its graph's inputs and its MLflow signature) and turned into the
//! graph's feeds; the graph's outputs come back as [`Prediction`] (a ZipMap's
//! sequence of maps turned into one probability row per input row), written in each
//! protocol's shape.

pub mod mlflow;
pub mod v2;

use serde_json::Value;

use crate::error::{bad_input, ServingResult};
use crate::model::{ColumnSpec, Signature};
use crate::tensor::{from_f64s, DType, Tensor, TensorData};

/// One input of a model's graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// Its name in the graph.
    pub name: String,
    /// Its element type; `None` for a type Plinth cannot feed (the request is refused).
    pub dtype: Option<DType>,
    /// Its shape; `-1` for any extent.
    pub shape: Vec<i64>,
}

/// What a graph output holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// A tensor.
    Tensor {
        /// Element type (`None`: one Plinth cannot return).
        dtype: Option<DType>,
        /// Shape, `-1` for any extent.
        shape: Vec<i64>,
    },
    /// A sequence of maps, one per row (sklearn's ZipMap: class → probability).
    SequenceOfMaps {
        /// The keys' type (`int64` or text).
        key: Option<DType>,
        /// The values' type.
        value: Option<DType>,
    },
    /// Something else (a described type that Plinth returns as an error).
    Other(String),
}

/// One output of a model's graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Its name in the graph.
    pub name: String,
    /// What it holds.
    pub kind: OutputKind,
}

/// What requests are checked against: the graph's inputs and outputs, and the MLflow
/// signature the model was logged with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInterface {
    /// The graph's inputs, in order.
    pub inputs: Vec<InputSpec>,
    /// The graph's outputs, in order.
    pub outputs: Vec<OutputSpec>,
    /// The MLflow signature's inputs, if it was logged with one.
    pub signature: Option<Signature>,
}

/// A tensor parsed from JSON whose element type is not known yet (MLflow's `instances`
/// and `inputs`): its shape from the nesting, its elements flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonTensor {
    /// The extent of each nesting level.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub values: Vec<Value>,
}

impl JsonTensor {
    /// Flattens nested JSON lists; `Err` names `what` when they are ragged.
    pub fn from_nested(value: &Value, what: &str) -> ServingResult<JsonTensor> {
        let mut shape = Vec::new();
        let mut probe = value;
        while let Value::Array(items) = probe {
            shape.push(items.len());
            match items.first() {
                Some(first) => probe = first,
                None => break,
            }
        }
        let mut values = Vec::with_capacity(shape.iter().product());
        flatten(value, &shape, &mut values).map_err(|()| {
            bad_input(format!(
                "`{what}`: nested lists of different lengths (a tensor's rows must all have the same shape)"
            ))
        })?;
        Ok(JsonTensor { shape, values })
    }
}

fn flatten(value: &Value, shape: &[usize], out: &mut Vec<Value>) -> Result<(), ()> {
    match (shape.split_first(), value) {
        (None, Value::Array(_)) => Err(()),
        (None, scalar) => {
            out.push(scalar.clone());
            Ok(())
        }
        (Some((&extent, rest)), Value::Array(items)) if items.len() == extent => {
            items.iter().try_for_each(|item| flatten(item, rest, out))
        }
        _ => Err(()),
    }
}

/// One input of a request: untyped JSON (MLflow) or typed (the Open Inference Protocol).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Elements whose type the model decides.
    Json(JsonTensor),
    /// Elements of a declared type.
    Typed(Tensor),
}

impl Input {
    fn shape(&self) -> &[usize] {
        match self {
            Input::Json(tensor) => &tensor.shape,
            Input::Typed(tensor) => &tensor.shape,
        }
    }

    /// Converts to `dtype`; `Err` says why, without naming the input.
    fn into_data(self, dtype: DType, textual: bool) -> Result<TensorData, String> {
        match self {
            Input::Json(tensor) => json_to_data(&tensor.values, dtype, textual),
            Input::Typed(tensor) => tensor.data.cast(dtype),
        }
    }
}

/// Rows of named columns (a DataFrame), each column's cells as they came.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// The columns' names, in the order they came.
    pub columns: Vec<String>,
    /// Each column's cells (as many as there are rows).
    pub cells: Vec<Vec<Value>>,
    /// The number of rows.
    pub rows: usize,
    /// The cells are text to be parsed (CSV), not JSON values.
    pub textual: bool,
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A DataFrame.
    Frame(Frame),
    /// Named tensors: the graph's inputs, or the signature's columns.
    Named(Vec<(String, Input)>),
    /// One unnamed tensor, for a graph with one input.
    Single(Input),
}

/// Converts JSON cells to `dtype`. `textual` cells are text to parse (CSV). `Err` says
/// which element and why.
pub(crate) fn json_to_data(
    values: &[Value],
    dtype: DType,
    textual: bool,
) -> Result<TensorData, String> {
    let describe = |value: &Value| -> String {
        match value {
            Value::Null => "null".to_string(),
            Value::String(text) => format!("the text {}", Value::String(text.clone())),
            other => other.to_string(),
        }
    };
    match dtype {
        DType::String => values
            .iter()
            .enumerate()
            .map(|(index, value)| match value {
                Value::String(text) => Ok(text.clone()),
                other => Err(format!(
                    "row {index}: expected text, got {}",
                    describe(other)
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TensorData::String),
        DType::Bool => values
            .iter()
            .enumerate()
            .map(|(index, value)| match value {
                Value::Bool(flag) => Ok(*flag),
                Value::String(text) if textual => match text.trim() {
                    "true" | "True" | "TRUE" | "1" => Ok(true),
                    "false" | "False" | "FALSE" | "0" => Ok(false),
                    _ => Err(format!(
                        "row {index}: expected a boolean, got {}",
                        describe(value)
                    )),
                },
                other => Err(format!(
                    "row {index}: expected a boolean, got {}",
                    describe(other)
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TensorData::Bool),
        DType::Int64
        | DType::Int32
        | DType::Int16
        | DType::Int8
        | DType::UInt8
        | DType::UInt16
        | DType::UInt32
        | DType::UInt64 => {
            let mut whole = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                let parsed = match value {
                    Value::Number(number) => number.as_i64().or_else(|| {
                        number
                            .as_f64()
                            .filter(|x| x.fract() == 0.0 && x.abs() < 9.2e18)
                            .map(|x| x as i64)
                    }),
                    Value::String(text) if textual => text.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match parsed {
                    Some(number) => whole.push(number),
                    None => {
                        return Err(format!(
                            "row {index}: expected a whole number ({dtype}), got {}",
                            describe(value)
                        ))
                    }
                }
            }
            TensorData::Int64(whole).cast(dtype)
        }
        DType::Float32 | DType::Float64 => {
            let mut numbers = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                let parsed = match value {
                    Value::Number(number) => number.as_f64(),
                    Value::String(text) if textual => text.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match parsed {
                    Some(number) => numbers.push(number),
                    None => {
                        return Err(format!(
                            "row {index}: expected a number ({dtype}), got {}",
                            describe(value)
                        ))
                    }
                }
            }
            from_f64s(numbers, dtype)
        }
    }
}

fn names(list: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    list.into_iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `shape` against a graph input's declared shape (`-1`: any extent).
fn check_shape(what: &str, name: &str, expected: &[i64], got: &[usize]) -> ServingResult<()> {
    let fits = expected.is_empty()
        || (expected.len() == got.len()
            && expected
                .iter()
                .zip(got)
                .all(|(&want, &have)| want < 0 || want as usize == have));
    if fits {
        return Ok(());
    }
    let shown: Vec<String> = expected
        .iter()
        .map(|&dim| {
            if dim < 0 {
                "-1".to_string()
            } else {
                dim.to_string()
            }
        })
        .collect();
    Err(bad_input(format!(
        "{what} `{name}`: expected shape [{}], got {got:?}",
        shown.join(", ")
    )))
}

impl ModelInterface {
    fn input_dtype(&self, input: &InputSpec) -> ServingResult<DType> {
        input.dtype.ok_or_else(|| {
            bad_input(format!(
                "input `{}` has a type Plinth cannot feed (only tensors of numbers, booleans or text)",
                input.name
            ))
        })
    }

    fn signature_columns(&self) -> Option<&[ColumnSpec]> {
        self.signature.as_ref().and_then(Signature::columns)
    }

    /// Whether a frame goes to the graph's single input as one `[rows, columns]` matrix
    /// (sklearn models converted by skl2onnx take all features as one input `X`), rather
    /// than column by column to inputs of the same names.
    fn stacks_columns(&self, columns: &[String]) -> bool {
        match self.inputs.as_slice() {
            [only] => !(columns.len() == 1 && columns[0] == only.name),
            _ => false,
        }
    }

    /// Turns a request into the graph's feeds, checking every column or input against the
    /// signature and the graph: a missing or unknown column, a value of the wrong type or
    /// a tensor of the wrong shape is refused with a message naming it.
    pub fn feeds(&self, payload: Payload) -> ServingResult<Vec<(String, Tensor)>> {
        match payload {
            Payload::Frame(frame) => self.frame_feeds(frame),
            Payload::Single(input) => match self.inputs.as_slice() {
                [only] => Ok(vec![self.tensor_feed(only, input)?]),
                many => Err(bad_input(format!(
                    "the model takes {} inputs ({}): name each one",
                    many.len(),
                    names(many.iter().map(|input| &input.name))
                ))),
            },
            Payload::Named(named) => self.named_feeds(named),
        }
    }

    fn tensor_feed(&self, spec: &InputSpec, input: Input) -> ServingResult<(String, Tensor)> {
        let dtype = self.input_dtype(spec)?;
        check_shape("input", &spec.name, &spec.shape, input.shape())?;
        let shape = input.shape().to_vec();
        let data = input
            .into_data(dtype, false)
            .map_err(|reason| bad_input(format!("input `{}`: {reason}", spec.name)))?;
        let tensor = Tensor::new(shape, data)
            .map_err(|reason| bad_input(format!("input `{}`: {reason}", spec.name)))?;
        Ok((spec.name.clone(), tensor))
    }

    fn named_feeds(&self, named: Vec<(String, Input)>) -> ServingResult<Vec<(String, Tensor)>> {
        let all_inputs = named
            .iter()
            .all(|(name, _)| self.inputs.iter().any(|input| &input.name == name));
        if !all_inputs {
            // Columns of the signature, sent as one tensor each: a frame.
            return self.frame_feeds(frame_of_named(named)?);
        }
        for input in &self.inputs {
            if !named.iter().any(|(name, _)| name == &input.name) {
                return Err(bad_input(format!("missing input `{}`", input.name)));
            }
        }
        let mut feeds = Vec::with_capacity(named.len());
        for (name, input) in named {
            let spec = self
                .inputs
                .iter()
                .find(|spec| spec.name == name)
                .expect("every name is an input");
            feeds.push(self.tensor_feed(spec, input)?);
        }
        Ok(feeds)
    }

    fn frame_feeds(&self, frame: Frame) -> ServingResult<Vec<(String, Tensor)>> {
        let Frame {
            columns,
            cells,
            rows,
            textual,
        } = frame;
        for (index, name) in columns.iter().enumerate() {
            if columns[..index].contains(name) {
                return Err(bad_input(format!("column `{name}` appears twice")));
            }
        }
        // The columns the model takes, in its order: the signature's, or else the graph's
        // inputs (or, for one input, the request's own order).
        let stacked = self.stacks_columns(&columns);
        let expected: Vec<(String, Option<DType>, bool)> = match self.signature_columns() {
            Some(specs) => specs
                .iter()
                .map(|spec| (spec.name.clone(), spec.column_type.dtype(), spec.required))
                .collect(),
            None if stacked => columns
                .iter()
                .map(|name| (name.clone(), None, true))
                .collect(),
            None => self
                .inputs
                .iter()
                .map(|input| (input.name.clone(), input.dtype, true))
                .collect(),
        };
        for name in &columns {
            if !expected.iter().any(|(want, _, _)| want == name) {
                return Err(bad_input(format!(
                    "unknown column `{name}`: the model takes {}",
                    names(expected.iter().map(|(want, _, _)| want))
                )));
            }
        }
        for (name, _, required) in &expected {
            if (*required || stacked) && !columns.contains(name) {
                return Err(bad_input(format!(
                    "missing column `{name}`: the model takes {}",
                    names(expected.iter().map(|(want, _, _)| want))
                )));
            }
        }
        // Each column checked against its signature type.
        let mut typed: Vec<(String, Option<TensorData>, Vec<Value>)> =
            Vec::with_capacity(columns.len());
        for (name, column) in columns.into_iter().zip(cells) {
            let declared = expected
                .iter()
                .find(|(want, _, _)| *want == name)
                .and_then(|(_, dtype, _)| *dtype);
            let checked = match declared {
                Some(dtype) => Some(
                    json_to_data(&column, dtype, textual)
                        .map_err(|reason| bad_input(format!("column `{name}`: {reason}")))?,
                ),
                None => None,
            };
            typed.push((name, checked, column));
        }
        if stacked {
            let input = &self.inputs[0];
            let dtype = self.input_dtype(input)?;
            let order: Vec<&String> = expected
                .iter()
                .map(|(name, _, _)| name)
                .filter(|name| typed.iter().any(|(have, _, _)| have == *name))
                .collect();
            let width = order.len();
            check_shape("input", &input.name, &input.shape, &[rows, width])?;
            let mut converted = Vec::with_capacity(width);
            for name in &order {
                let (_, checked, raw) = typed
                    .iter()
                    .find(|(have, _, _)| have == *name)
                    .expect("present column");
                let data = match checked {
                    Some(data) => data.clone().cast(dtype),
                    None => json_to_data(raw, dtype, textual),
                }
                .map_err(|reason| bad_input(format!("column `{name}`: {reason}")))?;
                converted.push(data);
            }
            let data = interleave(&converted, rows, dtype);
            let tensor = Tensor::new(vec![rows, width], data).map_err(bad_input)?;
            return Ok(vec![(input.name.clone(), tensor)]);
        }
        let mut feeds = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let dtype = self.input_dtype(input)?;
            let Some((_, checked, raw)) = typed.iter().find(|(name, _, _)| *name == input.name)
            else {
                return Err(bad_input(format!("missing column `{}`", input.name)));
            };
            let data = match checked {
                Some(data) => data.clone().cast(dtype),
                None => json_to_data(raw, dtype, textual),
            }
            .map_err(|reason| bad_input(format!("column `{}`: {reason}", input.name)))?;
            let shape = if input.shape.len() == 2 {
                vec![rows, 1]
            } else {
                vec![rows]
            };
            check_shape("column", &input.name, &input.shape, &shape)?;
            feeds.push((
                input.name.clone(),
                Tensor::new(shape, data).map_err(bad_input)?,
            ));
        }
        Ok(feeds)
    }
}

/// Named one-dimensional (or `[rows, 1]`) tensors as the columns of a frame.
fn frame_of_named(named: Vec<(String, Input)>) -> ServingResult<Frame> {
    let mut frame = Frame::default();
    for (index, (name, input)) in named.into_iter().enumerate() {
        let shape = input.shape().to_vec();
        let rows = match shape.as_slice() {
            [rows] | [rows, 1] => *rows,
            other => {
                return Err(bad_input(format!(
                    "column `{name}`: expected one value per row (shape [rows] or [rows, 1]), got shape {other:?}"
                )))
            }
        };
        if index > 0 && rows != frame.rows {
            return Err(bad_input(format!(
                "column `{name}` has {rows} rows, `{}` has {}",
                frame.columns[0], frame.rows
            )));
        }
        frame.rows = rows;
        let cells = match input {
            Input::Json(tensor) => tensor.values,
            Input::Typed(tensor) => typed_to_json(&tensor.data),
        };
        frame.columns.push(name);
        frame.cells.push(cells);
    }
    Ok(frame)
}

fn typed_to_json(data: &TensorData) -> Vec<Value> {
    crate::tensor::each_data!(data, v => v.iter().map(|x| serde_json::json!(x)).collect())
}

/// Interleaves equally long columns (all of `dtype`) into one row-major matrix.
fn interleave(columns: &[TensorData], rows: usize, dtype: DType) -> TensorData {
    macro_rules! build {
        ($variant:ident) => {{
            let mut out = Vec::with_capacity(rows * columns.len());
            for row in 0..rows {
                for column in columns {
                    let TensorData::$variant(values) = column else {
                        unreachable!("every column was cast to the input's type")
                    };
                    out.push(values[row].clone());
                }
            }
            TensorData::$variant(out)
        }};
    }
    match dtype {
        DType::Bool => build!(Bool),
        DType::Int8 => build!(Int8),
        DType::Int16 => build!(Int16),
        DType::Int32 => build!(Int32),
        DType::Int64 => build!(Int64),
        DType::UInt8 => build!(UInt8),
        DType::UInt16 => build!(UInt16),
        DType::UInt32 => build!(UInt32),
        DType::UInt64 => build!(UInt64),
        DType::Float32 => build!(Float32),
        DType::Float64 => build!(Float64),
        DType::String => build!(String),
    }
}

/// A model's answer: each graph output as a tensor whose first dimension is the row, a
/// ZipMap's sequence of maps already turned into a `[rows, classes]` matrix (classes in
/// key order, listed in `keys`).
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The outputs, in the graph's order.
    pub outputs: Vec<PredictionOutput>,
}

/// One output of a [`Prediction`].
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionOutput {
    /// The graph output's name.
    pub name: String,
    /// Its values.
    pub tensor: Tensor,
    /// For a ZipMap: the class of each column, in order.
    pub keys: Option<Vec<String>>,
}

/// Turns a ZipMap's rows (`[{class: probability}]`) into a `[rows, classes]` matrix with
/// the classes sorted; `Err` when rows name different classes.
pub fn maps_to_matrix<K: Ord + Clone + ToString>(
    rows: Vec<Vec<(K, f32)>>,
) -> Result<(Tensor, Vec<String>), String> {
    let mut keys: Vec<K> = rows
        .first()
        .map(|row| row.iter().map(|(key, _)| key.clone()).collect())
        .unwrap_or_default();
    keys.sort();
    let mut data = Vec::with_capacity(rows.len() * keys.len());
    for (index, mut row) in rows.iter().cloned().enumerate() {
        row.sort_by(|a, b| a.0.cmp(&b.0));
        if row.len() != keys.len() || row.iter().zip(&keys).any(|((key, _), want)| key != want) {
            return Err(format!(
                "row {index} of a sequence of maps has other keys than row 0"
            ));
        }
        data.extend(row.into_iter().map(|(_, value)| value));
    }
    let tensor = Tensor::new(vec![rows.len(), keys.len()], TensorData::Float32(data))?;
    Ok((tensor, keys.iter().map(ToString::to_string).collect()))
}

#[cfg(test)]
mod tests;
