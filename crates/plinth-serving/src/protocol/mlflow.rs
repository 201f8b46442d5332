//! MLflow's scoring protocol (`mlflow models serve`): `POST /invocations` with a JSON body
//! holding exactly one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`,
//! or a CSV body; answers `{"predictions": …}`; errors are
//! `{"error_code": "BAD_REQUEST", "message": …}`.
//!
//! Predictions are one entry per input row: the output's value for a model with one
//! output (a label, a number, or a list such as a row of probabilities), or an object
//! `{output: value}` for a model with several (sklearn classifiers: `label` and
//! `probabilities`, the latter a list of the classes' probabilities in class order).

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Frame, Input, JsonTensor, Payload, Prediction};
use crate::error::{bad_input, ServingError, ServingResult};

/// The JSON keys that hold a request's data.
const INPUT_KEYS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// Parses an `/invocations` body by its `Content-Type`.
pub fn parse_request(content_type: Option<&str>, body: &[u8]) -> ServingResult<Payload> {
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
    match media.as_str() {
        "application/json" => parse_json(body),
        "text/csv" => parse_csv(body),
        "" => Err(ServingError::UnsupportedMediaType(
            "no `Content-Type`: send `application/json` or `text/csv`".to_string(),
        )),
        other => Err(ServingError::UnsupportedMediaType(format!(
            "content type `{other}` is not supported: send `application/json` or `text/csv`"
        ))),
    }
}

fn parse_json(body: &[u8]) -> ServingResult<Payload> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| bad_input(format!("the body is not valid JSON: {error}")))?;
    let Value::Object(mut object) = value else {
        return Err(bad_input(
            "the body must be a JSON object with one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`",
        ));
    };
    match object.remove("params") {
        None | Some(Value::Null) => {}
        Some(Value::Object(params)) if params.is_empty() => {}
        Some(_) => {
            return Err(bad_input(
                "`params`: this model takes no parameters (ONNX models have none)",
            ))
        }
    }
    let present: Vec<&String> = object.keys().collect();
    let inputs: Vec<&String> = present
        .iter()
        .copied()
        .filter(|key| INPUT_KEYS.contains(&key.as_str()))
        .collect();
    let unknown: Vec<&String> = present
        .iter()
        .copied()
        .filter(|key| !INPUT_KEYS.contains(&key.as_str()))
        .collect();
    if inputs.len() != 1 || !unknown.is_empty() {
        return Err(bad_input(format!(
            "the body must have exactly one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`; it has {}",
            if present.is_empty() {
                "none".to_string()
            } else {
                present.iter().map(|key| format!("`{key}`")).collect::<Vec<_>>().join(", ")
            }
        )));
    }
    let key = inputs[0].clone();
    let data = object.remove(&key).unwrap_or(Value::Null);
    match key.as_str() {
        "dataframe_split" => dataframe_split(data),
        "dataframe_records" => dataframe_records(data, "dataframe_records"),
        _ => tensors(data, &key),
    }
}

fn dataframe_split(data: Value) -> ServingResult<Payload> {
    let Value::Object(mut split) = data else {
        return Err(bad_input(
            "`dataframe_split` must be an object with `columns` and `data`",
        ));
    };
    let Some(Value::Array(rows)) = split.remove("data") else {
        return Err(bad_input("`dataframe_split.data` must be a list of rows"));
    };
    let columns: Vec<String> = match split.remove("columns") {
        Some(Value::Array(columns)) => columns
            .into_iter()
            .map(|column| match column {
                Value::String(name) => Ok(name),
                other => Ok(other.to_string()),
            })
            .collect::<ServingResult<_>>()?,
        None | Some(Value::Null) => {
            // Unnamed columns are named by position, as pandas does.
            let width = match rows.first() {
                Some(Value::Array(first)) => first.len(),
                _ => 1,
            };
            (0..width).map(|index| index.to_string()).collect()
        }
        Some(_) => {
            return Err(bad_input(
                "`dataframe_split.columns` must be a list of names",
            ))
        }
    };
    let mut frame = Frame {
        cells: vec![Vec::with_capacity(rows.len()); columns.len()],
        rows: rows.len(),
        columns,
        textual: false,
    };
    for (index, row) in rows.into_iter().enumerate() {
        let cells = match row {
            Value::Array(cells) => cells,
            // One column: rows may be bare values.
            scalar if frame.columns.len() == 1 => vec![scalar],
            _ => {
                return Err(bad_input(format!(
                    "`dataframe_split.data` row {index} is not a list"
                )))
            }
        };
        if cells.len() != frame.columns.len() {
            return Err(bad_input(format!(
                "`dataframe_split.data` row {index} has {} values for {} columns",
                cells.len(),
                frame.columns.len()
            )));
        }
        for (column, cell) in frame.cells.iter_mut().zip(cells) {
            column.push(cell);
        }
    }
    Ok(Payload::Frame(frame))
}

fn dataframe_records(data: Value, what: &str) -> ServingResult<Payload> {
    let Value::Array(records) = data else {
        return Err(bad_input(format!(
            "`{what}` must be a list of objects, one per row"
        )));
    };
    let mut objects: Vec<Map<String, Value>> = Vec::with_capacity(records.len());
    let mut columns: Vec<String> = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let Value::Object(object) = record else {
            return Err(bad_input(format!("`{what}` row {index} is not an object")));
        };
        for key in object.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(object);
    }
    let mut cells = vec![Vec::with_capacity(objects.len()); columns.len()];
    for (index, mut object) in objects.into_iter().enumerate() {
        for (column, name) in cells.iter_mut().zip(&columns) {
            match object.remove(name) {
                Some(value) => column.push(value),
                None => {
                    return Err(bad_input(format!(
                        "column `{name}`: row {index} has no value"
                    )))
                }
            }
        }
    }
    Ok(Payload::Frame(Frame {
        rows: cells.first().map_or(0, Vec::len),
        columns,
        cells,
        textual: false,
    }))
}

/// `instances` and `inputs`: a list of objects (rows), a list of rows (one tensor), or an
/// object of named tensors (or columns).
fn tensors(data: Value, key: &str) -> ServingResult<Payload> {
    match data {
        Value::Array(items) if items.first().is_some_and(Value::is_object) => {
            dataframe_records(Value::Array(items), key)
        }
        Value::Array(items) => Ok(Payload::Single(Input::Json(JsonTensor::from_nested(
            &Value::Array(items),
            key,
        )?))),
        Value::Object(named) => {
            let mut inputs = Vec::with_capacity(named.len());
            for (name, value) in named {
                let tensor = JsonTensor::from_nested(&value, &format!("{key}.{name}"))?;
                inputs.push((name, Input::Json(tensor)));
            }
            Ok(Payload::Named(inputs))
        }
        _ => Err(bad_input(format!(
            "`{key}` must be a list of rows or an object of named inputs"
        ))),
    }
}

fn parse_csv(body: &[u8]) -> ServingResult<Payload> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let columns: Vec<String> = reader
        .headers()
        .map_err(|error| bad_input(format!("the CSV body cannot be read: {error}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut cells = vec![Vec::new(); columns.len()];
    let mut rows = 0;
    for record in reader.records() {
        let record =
            record.map_err(|error| bad_input(format!("the CSV body cannot be read: {error}")))?;
        for (column, cell) in cells.iter_mut().zip(record.iter()) {
            column.push(Value::String(cell.to_string()));
        }
        rows += 1;
    }
    Ok(Payload::Frame(Frame {
        columns,
        cells,
        rows,
        textual: true,
    }))
}

/// The body of a successful `/invocations` answer.
#[derive(Debug)]
pub struct Predictions<'a>(pub &'a Prediction);

impl Serialize for Predictions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("predictions", &Rows(self.0))?;
        map.end()
    }
}

struct Rows<'a>(&'a Prediction);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let outputs = &self.0.outputs;
        let rows = outputs.first().map_or(0, |output| output.tensor.rows());
        let mut seq = serializer.serialize_seq(Some(rows))?;
        for row in 0..rows {
            if let [only] = outputs.as_slice() {
                seq.serialize_element(&only.tensor.row(row))?;
            } else {
                seq.serialize_element(&Record {
                    prediction: self.0,
                    row,
                })?;
            }
        }
        seq.end()
    }
}

struct Record<'a> {
    prediction: &'a Prediction,
    row: usize,
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let outputs = &self.prediction.outputs;
        let mut map = serializer.serialize_map(Some(outputs.len()))?;
        for output in outputs {
            map.serialize_entry(&output.name, &output.tensor.row(self.row))?;
        }
        map.end()
    }
}

/// MLflow's error body: `{"error_code": …, "message": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// MLflow's code: `BAD_REQUEST`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
    /// `RESOURCE_DOES_NOT_EXIST`, `TEMPORARILY_UNAVAILABLE`, `INTERNAL_ERROR`.
    pub error_code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Returns MLflow's error code for an HTTP status.
pub fn error_code(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "RESOURCE_DOES_NOT_EXIST",
        503 => "TEMPORARILY_UNAVAILABLE",
        500..=599 => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}
