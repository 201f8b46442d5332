//! MLflow's request checks, in its order and in its words.
//!
//! MLflow's server reads a request in two steps (`_get_request_message` in
//! `mlflow/server/handlers.py`): protobuf's JSON parser fills the request message, and a
//! per-endpoint schema — an ordered list of fields, each with its checks — is applied to the
//! raw JSON. The schema's type checks only run when the protobuf parse failed (a value of the
//! wrong type anywhere in the message), so a well-typed request is only checked for its
//! required fields, and a badly typed one is refused naming the first field of the schema
//! whose value has the wrong type: "Invalid value 123 for parameter 'name' supplied:  Hint:
//! Value was of type 'int'." Each endpoint's [`Spec`] is the protobuf message's field types
//! and that schema, copied from MLflow 3.17.2; [`check`] applies them the same way.
//!
//! When the schema lets a badly typed value through, MLflow goes on with what protobuf
//! parsed: a top-level field it could not read is then simply unset (a `status` of `"DONE"`
//! changes no status), and so it is here. Inside a list or a nested message MLflow would
//! keep part of an entry (a metric logged as 0); Plinth refuses such a request instead, in
//! the words of a type check.

use serde_json::{Map, Value};

use super::wire::MlflowError;

/// A field of a protobuf request message, as protobuf's JSON parser accepts it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty {
    /// `string`: a JSON string.
    Str,
    /// `int64`/`int32`: an integer, an integral float, or a string holding one (no spaces).
    Int,
    /// `double`: a number (not NaN or an infinity literal), or a string Python's `float`
    /// reads, `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Double,
    /// `bool`: `true` or `false`.
    Bool,
    /// An enum: one of its names, or one of its numbers (as a number or a string).
    Enum(&'static [(&'static str, i64)]),
    /// A nested message: an object whose fields are checked in turn.
    Msg(&'static [(&'static str, Ty)]),
    /// A repeated field: a list of the inner type.
    List(&'static Ty),
}

/// One of MLflow's schema checks (`_assert_*` in its handlers).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Check {
    /// `_assert_required`: present, not null, not `""`.
    Required,
    /// `_assert_string`.
    Str,
    /// `_assert_intlike`: Python's `int(x)` succeeds.
    IntLike,
    /// `_assert_floatlike`: Python's `float(x)` succeeds.
    FloatLike,
    /// `_assert_bool`.
    Bool,
    /// `_assert_array`.
    Array,
    /// `_assert_item_type_string`: every item is a string.
    ItemsStr,
    /// `_assert_less_than_or_equal(int(x), n)`, refused in the generic words.
    IntAtMost(i64),
    /// `_assert_intlike_within_range(int(x), low, high, message)`.
    IntWithin(i64, i64, &'static str),
    /// At most `n` items; the message names the limit and the count.
    LenAtMost(usize, fn(usize) -> String),
    /// Every item of the list has each of the keys (`metrics[0].timestamp`).
    ItemsHave(&'static [&'static str]),
}

/// An endpoint's request: the protobuf message's fields and MLflow's schema.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) fields: &'static [(&'static str, Ty)],
    pub(crate) schema: &'static [(&'static str, &'static [Check])],
}

const HELP: &str = " See the API docs for more information about request parameters.";

fn missing(name: &str) -> MlflowError {
    MlflowError::invalid(format!(
        "Missing value for required parameter '{name}'.{HELP}"
    ))
}

/// MLflow's words for a value its checks refuse (`invalid_value` with a type hint).
pub(crate) fn invalid_value(name: &str, value: Option<&Value>) -> MlflowError {
    let value = value.unwrap_or(&Value::Null);
    MlflowError::invalid(format!(
        "Invalid value {} for parameter '{name}' supplied:  Hint: Value was of type '{}'.{HELP}",
        python_json(value),
        python_type(value)
    ))
}

/// The name of a JSON value's type once Python's `json` has read it.
pub(crate) fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A JSON value as Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))`
/// writes it (ASCII only, floats as Python writes them).
pub(crate) fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(integer), _, _) if !number.is_f64() => out.push_str(&integer.to_string()),
            (_, Some(integer), _) if !number.is_f64() => out.push_str(&integer.to_string()),
            (_, _, Some(float)) => out.push_str(&plinth_types::python_float(float)),
            _ => out.push_str(&number.to_string()),
        },
        Value::String(text) => {
            out.push('"');
            for unit in text.encode_utf16() {
                match unit {
                    0x22 => out.push_str("\\\""),
                    0x5c => out.push_str("\\\\"),
                    0x0a => out.push_str("\\n"),
                    0x0d => out.push_str("\\r"),
                    0x09 => out.push_str("\\t"),
                    0x08 => out.push_str("\\b"),
                    0x0c => out.push_str("\\f"),
                    0x20..=0x7e => out.push(char::from(unit as u8)),
                    other => out.push_str(&format!("\\u{other:04x}")),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_python_json(&Value::String(key.clone()), out);
                out.push(':');
                write_python_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

/// Python's `int(text)` for the strings a client sends: surrounding whitespace allowed,
/// an optional sign, ASCII digits with single underscores between them.
pub(crate) fn python_int(text: &str) -> Option<i128> {
    let trimmed = text.trim();
    let digits = trimmed.trim_start_matches(['+', '-']);
    if digits.len() + 1 < trimmed.len()
        || digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'_')
    {
        return None;
    }
    let number: i128 = digits.replace('_', "").parse().ok()?;
    Some(if trimmed.starts_with('-') {
        -number
    } else {
        number
    })
}

/// Python's `float(text)`: whitespace around, `nan`, `inf`, `infinity` in any case with
/// a sign, and decimal numbers (Rust's parser reads the rest exactly as Python's does).
pub(crate) fn python_float_of(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.contains('_') {
        return None;
    }
    trimmed.parse::<f64>().ok()
}

/// Python's `int(x)` of a JSON value, as MLflow's checks call it.
fn int_of(value: &Value) -> Option<i128> {
    match value {
        Value::Bool(flag) => Some(i128::from(*flag)),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Some(i128::from(integer)),
            None => match number.as_u64() {
                Some(integer) => Some(i128::from(integer)),
                None => number
                    .as_f64()
                    .filter(|float| float.is_finite())
                    .map(|float| float.trunc() as i128),
            },
        },
        Value::String(text) => python_int(text),
        _ => None,
    }
}

/// Whether protobuf's JSON parser accepts `value` for a field of type `ty`.
fn parses(value: &Value, ty: Ty) -> bool {
    if value.is_null() {
        return true;
    }
    match ty {
        Ty::Str => value.is_string(),
        Ty::Int => match value {
            Value::Number(number) => {
                number.is_i64() || number.is_u64() || number.as_f64().is_some_and(integral)
            }
            Value::String(text) => {
                !text.contains(' ')
                    && (python_int(text).is_some() || python_float_of(text).is_some_and(integral))
            }
            _ => false,
        },
        Ty::Double => match value {
            Value::Number(_) | Value::Bool(_) => true,
            Value::String(text) => text != "nan" && double_of_text(text).is_some(),
            _ => false,
        },
        Ty::Bool => value.is_boolean(),
        Ty::Enum(values) => match value {
            // An unknown name is skipped, as an unknown field is (protobuf's parser ignores
            // both for MLflow); an unknown number is an error.
            Value::String(text) => match python_int(text) {
                Some(number) => values.iter().any(|(_, n)| i128::from(*n) == number),
                None => true,
            },
            Value::Number(number) => number
                .as_i64()
                .is_some_and(|number| values.iter().any(|(_, n)| *n == number)),
            _ => false,
        },
        Ty::Msg(fields) => match value {
            Value::Object(map) => message_parses(map, fields).is_none(),
            // A string is read as an object without known fields.
            Value::String(_) => true,
            _ => false,
        },
        Ty::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .all(|item| !item.is_null() && parses(item, *inner)),
            _ => false,
        },
    }
}

fn integral(float: f64) -> bool {
    float.is_finite() && float.fract() == 0.0
}

/// A double written as a string, as protobuf's parser reads it.
pub(crate) fn double_of_text(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        other => python_float_of(other),
    }
}

/// The first field (in the request's order) protobuf's parser refuses, if any.
fn message_parses<'a>(
    map: &'a Map<String, Value>,
    fields: &[(&'static str, Ty)],
) -> Option<(&'a str, &'a Value)> {
    map.iter().find_map(|(name, value)| {
        let (_, ty) = fields.iter().find(|(field, _)| field == name)?;
        (!parses(value, *ty)).then_some((name.as_str(), value))
    })
}

fn run_check(check: Check, name: &str, value: Option<&Value>) -> Result<(), MlflowError> {
    let invalid = || invalid_value(name, value);
    let present = value.filter(|value| !value.is_null());
    match check {
        Check::Required => match present {
            None => Err(missing(name)),
            Some(Value::String(text)) if text.is_empty() => Err(missing(name)),
            Some(_) => Ok(()),
        },
        Check::Str => present
            .filter(|value| value.is_string())
            .map(|_| ())
            .ok_or_else(invalid),
        Check::IntLike => match present {
            Some(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_)))
                if int_of(value).is_some() =>
            {
                Ok(())
            }
            _ => Err(invalid()),
        },
        Check::FloatLike => match present {
            Some(Value::Number(_) | Value::Bool(_)) => Ok(()),
            Some(Value::String(text)) if python_float_of(text).is_some() => Ok(()),
            _ => Err(invalid()),
        },
        Check::Bool => present
            .filter(|value| value.is_boolean())
            .map(|_| ())
            .ok_or_else(invalid),
        Check::Array => present
            .filter(|value| value.is_array())
            .map(|_| ())
            .ok_or_else(invalid),
        Check::ItemsStr => match present {
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            Some(Value::String(_)) => Ok(()),
            _ => Err(invalid()),
        },
        Check::IntAtMost(limit) => match present.and_then(int_of) {
            Some(number) if number <= i128::from(limit) => Ok(()),
            _ => Err(invalid()),
        },
        Check::IntWithin(low, high, message) => match present.and_then(int_of) {
            Some(number) if (i128::from(low)..=i128::from(high)).contains(&number) => Ok(()),
            _ => Err(MlflowError::invalid(format!("{message}{HELP}"))),
        },
        Check::LenAtMost(limit, message) => match present {
            Some(Value::Array(items)) if items.len() > limit => Err(MlflowError::invalid(format!(
                "{}{HELP}",
                message(items.len())
            ))),
            _ => Ok(()),
        },
        Check::ItemsHave(keys) => {
            let Some(Value::Array(items)) = present else {
                return Ok(());
            };
            for (index, item) in items.iter().enumerate() {
                for key in keys {
                    let field = item.get(*key).filter(|value| !value.is_null());
                    if field.is_none() || field.is_some_and(|value| value == "") {
                        return Err(missing(&format!("{name}[{index}].{key}")));
                    }
                }
            }
            Ok(())
        }
    }
}

fn is_type_check(check: Check) -> bool {
    matches!(
        check,
        Check::Str
            | Check::IntLike
            | Check::FloatLike
            | Check::Bool
            | Check::Array
            | Check::ItemsStr
    )
}

/// A GET request's query as MLflow reads it: only the message's fields; a repeated field
/// as a list, any other as its first value; booleans spelled `true` or `false`.
pub(crate) fn from_query(
    query: &Map<String, Value>,
    spec: &Spec,
) -> Result<Map<String, Value>, MlflowError> {
    let mut map = Map::new();
    for (name, ty) in spec.fields {
        let Some(value) = query.get(*name) else {
            continue;
        };
        let value = match (ty, value) {
            (Ty::List(_), Value::Array(_)) => value.clone(),
            (Ty::List(_), single) => Value::Array(vec![single.clone()]),
            (_, Value::Array(items)) => items.first().cloned().unwrap_or(Value::Null),
            (_, single) => single.clone(),
        };
        let value = match (ty, value) {
            (Ty::Bool, Value::String(text)) => match text.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid boolean value: {text}, must be 'true' or 'false'."
                    )))
                }
            },
            (_, value) => value,
        };
        map.insert((*name).to_string(), value);
    }
    Ok(map)
}

/// Checks a request as MLflow's `_get_request_message` does (see the module's note), and
/// returns it as the handler reads it: a top-level scalar field protobuf could not read
/// (that the schema let through) is left out, as MLflow goes on without it.
pub(crate) fn check(
    mut map: Map<String, Value>,
    spec: &Spec,
) -> Result<Map<String, Value>, MlflowError> {
    check_schema(&map, spec)?;
    // Enum fields naming no value of their enum are unset.
    for (name, ty) in spec.fields {
        if let (Ty::Enum(values), Some(Value::String(text))) = (ty, map.get(*name)) {
            if python_int(text).is_none() && !values.iter().any(|(known, _)| known == text) {
                map.remove(*name);
            }
        }
    }
    while let Some((name, value)) = message_parses(&map, spec.fields) {
        let scalar = spec
            .fields
            .iter()
            .any(|(field, ty)| *field == name && !matches!(ty, Ty::Msg(_) | Ty::List(_)));
        if !scalar {
            // Within a list or a nested message MLflow would keep part of an entry;
            // Plinth refuses the request instead, in the words of a type check.
            return Err(invalid_value(name, Some(value)));
        }
        let name = name.to_string();
        map.remove(&name);
    }
    Ok(map)
}

fn check_schema(map: &Map<String, Value>, spec: &Spec) -> Result<(), MlflowError> {
    let refused = message_parses(map, spec.fields);
    for (name, checks) in spec.schema {
        let required = checks.iter().any(|check| matches!(check, Check::Required));
        if !map.contains_key(*name) && !required {
            continue;
        }
        let mut value = map.get(*name);
        if *name == "run_id" && value.is_none_or(Value::is_null) && map.contains_key("run_uuid") {
            value = map.get("run_uuid");
        }
        for check in *checks {
            if refused.is_none() && is_type_check(*check) {
                continue;
            }
            run_check(*check, name, value)?;
        }
    }
    Ok(())
}

// ---------- the messages MLflow 3.17.2 reads (mlflow/protos/*.proto) ----------

const TAG: Ty = Ty::Msg(&[("key", Ty::Str), ("value", Ty::Str)]);
const TAGS: Ty = Ty::List(&TAG);
const STRS: Ty = Ty::List(&Ty::Str);
const METRIC: Ty = Ty::Msg(&[
    ("key", Ty::Str),
    ("value", Ty::Double),
    ("timestamp", Ty::Int),
    ("step", Ty::Int),
    ("dataset_name", Ty::Str),
    ("dataset_digest", Ty::Str),
    ("model_id", Ty::Str),
    ("run_id", Ty::Str),
]);
const DATASET_INPUT: Ty = Ty::Msg(&[
    ("tags", TAGS),
    (
        "dataset",
        Ty::Msg(&[
            ("name", Ty::Str),
            ("digest", Ty::Str),
            ("source_type", Ty::Str),
            ("source", Ty::Str),
            ("schema", Ty::Str),
            ("profile", Ty::Str),
        ]),
    ),
]);
const VIEW_TYPE: Ty = Ty::Enum(&[("ACTIVE_ONLY", 1), ("DELETED_ONLY", 2), ("ALL", 3)]);
const RUN_STATUS: Ty = Ty::Enum(&[
    ("RUNNING", 1),
    ("SCHEDULED", 2),
    ("FINISHED", 3),
    ("FAILED", 4),
    ("KILLED", 5),
]);
const LOGGED_MODEL_STATUS: Ty = Ty::Enum(&[
    ("LOGGED_MODEL_STATUS_UNSPECIFIED", 0),
    ("LOGGED_MODEL_PENDING", 1),
    ("LOGGED_MODEL_READY", 2),
    ("LOGGED_MODEL_UPLOAD_FAILED", 3),
]);

use Check::{
    Array, FloatLike, IntAtMost, IntLike, IntWithin, ItemsHave, ItemsStr, LenAtMost, Required, Str,
};

const RUN_ID: &[(&str, Ty)] = &[("run_id", Ty::Str), ("run_uuid", Ty::Str)];

pub(crate) const CREATE_EXPERIMENT: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("artifact_location", Ty::Str),
        ("tags", TAGS),
    ],
    schema: &[
        ("name", &[Required, Str]),
        ("artifact_location", &[Str]),
        ("tags", &[Array]),
    ],
};
pub(crate) const EXPERIMENT_ID: Spec = Spec {
    fields: &[("experiment_id", Ty::Str)],
    schema: &[("experiment_id", &[Required, Str])],
};
pub(crate) const GET_EXPERIMENT_BY_NAME: Spec = Spec {
    fields: &[("experiment_name", Ty::Str)],
    schema: &[("experiment_name", &[Required, Str])],
};
pub(crate) const UPDATE_EXPERIMENT: Spec = Spec {
    fields: &[("experiment_id", Ty::Str), ("new_name", Ty::Str)],
    schema: &[
        ("experiment_id", &[Required, Str]),
        ("new_name", &[Str, Required]),
    ],
};
pub(crate) const SET_EXPERIMENT_TAG: Spec = Spec {
    fields: &[
        ("experiment_id", Ty::Str),
        ("key", Ty::Str),
        ("value", Ty::Str),
    ],
    schema: &[
        ("experiment_id", &[Required, Str]),
        ("key", &[Required, Str]),
        ("value", &[Str]),
    ],
};
pub(crate) const DELETE_EXPERIMENT_TAG: Spec = Spec {
    fields: &[("experiment_id", Ty::Str), ("key", Ty::Str)],
    schema: &[
        ("experiment_id", &[Required, Str]),
        ("key", &[Required, Str]),
    ],
};
pub(crate) const SEARCH_EXPERIMENTS: Spec = Spec {
    fields: &[
        ("max_results", Ty::Int),
        ("page_token", Ty::Str),
        ("filter", Ty::Str),
        ("order_by", STRS),
        ("view_type", VIEW_TYPE),
    ],
    schema: &[
        ("view_type", &[IntLike]),
        ("max_results", &[IntLike]),
        ("order_by", &[Array]),
        ("filter", &[Str]),
        ("page_token", &[Str]),
    ],
};
pub(crate) const CREATE_RUN: Spec = Spec {
    fields: &[
        ("experiment_id", Ty::Str),
        ("user_id", Ty::Str),
        ("run_name", Ty::Str),
        ("start_time", Ty::Int),
        ("tags", TAGS),
    ],
    schema: &[
        ("experiment_id", &[Str]),
        ("start_time", &[IntLike]),
        ("run_name", &[Str]),
    ],
};
pub(crate) const GET_RUN: Spec = Spec {
    fields: RUN_ID,
    schema: &[("run_id", &[Required, Str])],
};
pub(crate) const UPDATE_RUN: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("status", RUN_STATUS),
        ("end_time", Ty::Int),
        ("run_name", Ty::Str),
    ],
    schema: &[
        ("run_id", &[Required, Str]),
        ("end_time", &[IntLike]),
        ("status", &[Str]),
        ("run_name", &[Str]),
    ],
};
/// Delete and restore read `run_id` only (their messages have no `run_uuid`).
pub(crate) const RUN_ID_ONLY: Spec = Spec {
    fields: &[("run_id", Ty::Str)],
    schema: &[("run_id", &[Required, Str])],
};
pub(crate) const SET_TAG: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("key", Ty::Str),
        ("value", Ty::Str),
    ],
    schema: &[
        ("run_id", &[Required, Str]),
        ("key", &[Required, Str]),
        ("value", &[Str]),
    ],
};
pub(crate) const DELETE_TAG: Spec = Spec {
    fields: &[("run_id", Ty::Str), ("key", Ty::Str)],
    schema: &[("run_id", &[Required, Str]), ("key", &[Required, Str])],
};
pub(crate) const LOG_PARAM: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("key", Ty::Str),
        ("value", Ty::Str),
    ],
    schema: &[
        ("run_id", &[Required, Str]),
        ("key", &[Required, Str]),
        ("value", &[Str]),
    ],
};
pub(crate) const LOG_METRIC: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("key", Ty::Str),
        ("value", Ty::Double),
        ("timestamp", Ty::Int),
        ("step", Ty::Int),
        ("model_id", Ty::Str),
        ("dataset_name", Ty::Str),
        ("dataset_digest", Ty::Str),
    ],
    schema: &[
        ("run_id", &[Required, Str]),
        ("key", &[Required, Str]),
        ("value", &[Required, FloatLike]),
        ("timestamp", &[IntLike, Required]),
        ("step", &[IntLike]),
        ("model_id", &[Str]),
        ("dataset_name", &[Str]),
        ("dataset_digest", &[Str]),
    ],
};
pub(crate) const LOG_BATCH: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("metrics", Ty::List(&METRIC)),
        ("params", TAGS),
        ("tags", TAGS),
    ],
    schema: &[
        ("run_id", &[Str, Required]),
        (
            "metrics",
            &[Array, ItemsHave(&["key", "value", "timestamp"])],
        ),
        ("params", &[Array, ItemsHave(&["key"])]),
        ("tags", &[Array, ItemsHave(&["key"])]),
    ],
};
pub(crate) const LOG_INPUTS: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("datasets", Ty::List(&DATASET_INPUT)),
        ("models", Ty::List(&Ty::Msg(&[("model_id", Ty::Str)]))),
    ],
    schema: &[
        ("run_id", &[Required, Str]),
        ("datasets", &[Array]),
        ("models", &[Array]),
    ],
};
pub(crate) const LOG_OUTPUTS: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        (
            "models",
            Ty::List(&Ty::Msg(&[("model_id", Ty::Str), ("step", Ty::Int)])),
        ),
    ],
    schema: &[("run_id", &[Required, Str]), ("models", &[Required, Array])],
};
pub(crate) const LOG_MODEL: Spec = Spec {
    fields: &[("run_id", Ty::Str), ("model_json", Ty::Str)],
    schema: &[
        ("run_id", &[Str, Required]),
        ("model_json", &[Str, Required]),
    ],
};
pub(crate) const SEARCH_RUNS: Spec = Spec {
    fields: &[
        ("experiment_ids", STRS),
        ("filter", Ty::Str),
        ("run_view_type", VIEW_TYPE),
        ("max_results", Ty::Int),
        ("order_by", STRS),
        ("page_token", Ty::Str),
    ],
    schema: &[
        ("experiment_ids", &[Array]),
        ("filter", &[Str]),
        ("max_results", &[IntLike, IntAtMost(50_000)]),
        ("order_by", &[Array, ItemsStr]),
    ],
};
pub(crate) const GET_METRIC_HISTORY: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("metric_key", Ty::Str),
        ("page_token", Ty::Str),
        ("max_results", Ty::Int),
    ],
    schema: &[
        ("run_id", &[Str, Required]),
        ("metric_key", &[Str, Required]),
        ("page_token", &[Str]),
    ],
};
fn too_many_bulk_runs(count: usize) -> String {
    format!(
        "GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received \
         {count} run_ids."
    )
}
pub(crate) const GET_METRIC_HISTORY_BULK_INTERVAL: Spec = Spec {
    fields: &[
        ("run_ids", STRS),
        ("metric_key", Ty::Str),
        ("start_step", Ty::Int),
        ("end_step", Ty::Int),
        ("max_results", Ty::Int),
    ],
    schema: &[
        (
            "run_ids",
            &[
                Required,
                Array,
                ItemsStr,
                LenAtMost(100, too_many_bulk_runs),
            ],
        ),
        ("metric_key", &[Required, Str]),
        ("start_step", &[IntLike]),
        ("end_step", &[IntLike]),
        (
            "max_results",
            &[
                IntLike,
                IntWithin(1, 2500, "max_results must be between 1 and 2500."),
            ],
        ),
    ],
};
pub(crate) const LIST_ARTIFACTS: Spec = Spec {
    fields: &[
        ("run_id", Ty::Str),
        ("run_uuid", Ty::Str),
        ("path", Ty::Str),
        ("page_token", Ty::Str),
    ],
    schema: &[
        ("run_id", &[Str, Required]),
        ("path", &[Str]),
        ("page_token", &[Str]),
    ],
};
pub(crate) const SEARCH_DATASETS: Spec = Spec {
    fields: &[("experiment_ids", STRS)],
    schema: &[],
};
pub(crate) const CREATE_LOGGED_MODEL: Spec = Spec {
    fields: &[
        ("experiment_id", Ty::Str),
        ("name", Ty::Str),
        ("model_type", Ty::Str),
        ("source_run_id", Ty::Str),
        ("params", TAGS),
        ("tags", TAGS),
    ],
    schema: &[
        ("experiment_id", &[Str, Required]),
        ("name", &[Str]),
        ("model_type", &[Str]),
        ("source_run_id", &[Str]),
        ("params", &[Array]),
        ("tags", &[Array]),
    ],
};
pub(crate) const FINALIZE_LOGGED_MODEL: Spec = Spec {
    fields: &[("model_id", Ty::Str), ("status", LOGGED_MODEL_STATUS)],
    schema: &[
        ("model_id", &[Str, Required]),
        ("status", &[IntLike, Required]),
    ],
};
pub(crate) const SET_LOGGED_MODEL_TAGS: Spec = Spec {
    fields: &[("model_id", Ty::Str), ("tags", TAGS)],
    schema: &[("tags", &[Array])],
};
pub(crate) const LOG_LOGGED_MODEL_PARAMS: Spec = Spec {
    fields: &[("model_id", Ty::Str), ("params", TAGS)],
    schema: &[("model_id", &[Str, Required]), ("params", &[Array])],
};
pub(crate) const LIST_LOGGED_MODEL_ARTIFACTS: Spec = Spec {
    fields: &[
        ("model_id", Ty::Str),
        ("artifact_directory_path", Ty::Str),
        ("page_token", Ty::Str),
    ],
    schema: &[("artifact_directory_path", &[Str])],
};
pub(crate) const SEARCH_LOGGED_MODELS: Spec = Spec {
    fields: &[
        ("experiment_ids", STRS),
        ("filter", Ty::Str),
        (
            "datasets",
            Ty::List(&Ty::Msg(&[
                ("dataset_name", Ty::Str),
                ("dataset_digest", Ty::Str),
            ])),
        ),
        ("max_results", Ty::Int),
        (
            "order_by",
            Ty::List(&Ty::Msg(&[
                ("field_name", Ty::Str),
                ("ascending", Ty::Bool),
                ("dataset_name", Ty::Str),
                ("dataset_digest", Ty::Str),
            ])),
        ),
        ("page_token", Ty::Str),
    ],
    schema: &[
        ("experiment_ids", &[Array, ItemsStr, Required]),
        ("filter", &[Str]),
        ("datasets", &[Array]),
        ("max_results", &[IntLike]),
        ("order_by", &[Array]),
        ("page_token", &[Str]),
    ],
};

// ---------- the registry ----------

pub(crate) const CREATE_REGISTERED_MODEL: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("tags", TAGS),
        ("description", Ty::Str),
        ("deployment_job_id", Ty::Str),
    ],
    schema: &[
        ("name", &[Str, Required]),
        ("tags", &[Array]),
        ("description", &[Str]),
    ],
};
pub(crate) const REGISTERED_MODEL_NAME: Spec = Spec {
    fields: &[("name", Ty::Str)],
    schema: &[("name", &[Str, Required])],
};
pub(crate) const UPDATE_REGISTERED_MODEL: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("description", Ty::Str),
        ("deployment_job_id", Ty::Str),
    ],
    schema: &[("name", &[Str, Required]), ("description", &[Str])],
};
pub(crate) const RENAME_REGISTERED_MODEL: Spec = Spec {
    fields: &[("name", Ty::Str), ("new_name", Ty::Str)],
    schema: &[("name", &[Str, Required]), ("new_name", &[Str, Required])],
};
pub(crate) const SEARCH_REGISTERED_MODELS: Spec = Spec {
    fields: &[
        ("filter", Ty::Str),
        ("max_results", Ty::Int),
        ("order_by", STRS),
        ("page_token", Ty::Str),
    ],
    schema: &[
        ("filter", &[Str]),
        ("max_results", &[IntLike, IntAtMost(1000)]),
        ("order_by", &[Array, ItemsStr]),
        ("page_token", &[Str]),
    ],
};
pub(crate) const GET_LATEST_VERSIONS: Spec = Spec {
    fields: &[("name", Ty::Str), ("stages", STRS)],
    schema: &[("name", &[Str, Required]), ("stages", &[Array, ItemsStr])],
};
pub(crate) const SET_REGISTERED_MODEL_TAG: Spec = Spec {
    fields: &[("name", Ty::Str), ("key", Ty::Str), ("value", Ty::Str)],
    schema: &[
        ("name", &[Str, Required]),
        ("key", &[Str, Required]),
        ("value", &[Str]),
    ],
};
pub(crate) const DELETE_REGISTERED_MODEL_TAG: Spec = Spec {
    fields: &[("name", Ty::Str), ("key", Ty::Str)],
    schema: &[("name", &[Str, Required]), ("key", &[Str, Required])],
};
pub(crate) const SET_REGISTERED_MODEL_ALIAS: Spec = Spec {
    fields: &[("name", Ty::Str), ("alias", Ty::Str), ("version", Ty::Str)],
    schema: &[
        ("name", &[Str, Required]),
        ("alias", &[Str, Required]),
        ("version", &[Str, Required]),
    ],
};
pub(crate) const REGISTERED_MODEL_ALIAS: Spec = Spec {
    fields: &[("name", Ty::Str), ("alias", Ty::Str)],
    schema: &[("name", &[Str, Required]), ("alias", &[Str, Required])],
};
pub(crate) const CREATE_MODEL_VERSION: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("source", Ty::Str),
        ("run_id", Ty::Str),
        ("tags", TAGS),
        ("run_link", Ty::Str),
        ("description", Ty::Str),
        ("model_id", Ty::Str),
    ],
    schema: &[
        ("name", &[Str, Required]),
        ("source", &[Str, Required]),
        ("run_id", &[Str]),
        ("tags", &[Array]),
        ("run_link", &[Str]),
        ("description", &[Str]),
        ("model_id", &[Str]),
    ],
};
pub(crate) const MODEL_VERSION: Spec = Spec {
    fields: &[("name", Ty::Str), ("version", Ty::Str)],
    schema: &[("name", &[Str, Required]), ("version", &[Str, Required])],
};
/// `get-download-uri` has no schema in MLflow: only the message's types.
pub(crate) const MODEL_VERSION_DOWNLOAD_URI: Spec = Spec {
    fields: &[("name", Ty::Str), ("version", Ty::Str)],
    schema: &[],
};
pub(crate) const UPDATE_MODEL_VERSION: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("version", Ty::Str),
        ("description", Ty::Str),
    ],
    schema: &[
        ("name", &[Str, Required]),
        ("version", &[Str, Required]),
        ("description", &[Str]),
    ],
};
pub(crate) const TRANSITION_STAGE: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("version", Ty::Str),
        ("stage", Ty::Str),
        ("archive_existing_versions", Ty::Bool),
    ],
    schema: &[
        ("name", &[Str, Required]),
        ("version", &[Str, Required]),
        ("stage", &[Str, Required]),
        ("archive_existing_versions", &[Check::Bool]),
    ],
};
pub(crate) const SEARCH_MODEL_VERSIONS: Spec = Spec {
    fields: &[
        ("filter", Ty::Str),
        ("max_results", Ty::Int),
        ("order_by", STRS),
        ("page_token", Ty::Str),
    ],
    schema: &[
        ("filter", &[Str]),
        ("max_results", &[IntLike, IntAtMost(200_000)]),
        ("order_by", &[Array, ItemsStr]),
        ("page_token", &[Str]),
    ],
};
pub(crate) const SET_MODEL_VERSION_TAG: Spec = Spec {
    fields: &[
        ("name", Ty::Str),
        ("version", Ty::Str),
        ("key", Ty::Str),
        ("value", Ty::Str),
    ],
    schema: &[
        ("name", &[Str, Required]),
        ("version", &[Str, Required]),
        ("key", &[Str, Required]),
        ("value", &[Str]),
    ],
};
pub(crate) const DELETE_MODEL_VERSION_TAG: Spec = Spec {
    fields: &[("name", Ty::Str), ("version", Ty::Str), ("key", Ty::Str)],
    schema: &[
        ("name", &[Str, Required]),
        ("version", &[Str, Required]),
        ("key", &[Str, Required]),
    ],
};

// ---------- the artifact proxy ----------

pub(crate) const LIST_PROXIED_ARTIFACTS: Spec = Spec {
    fields: &[("path", Ty::Str)],
    schema: &[],
};
pub(crate) const CREATE_MULTIPART_UPLOAD: Spec = Spec {
    fields: &[("path", Ty::Str), ("num_parts", Ty::Int)],
    schema: &[],
};
pub(crate) const FINISH_MULTIPART_UPLOAD: Spec = Spec {
    fields: &[
        ("path", Ty::Str),
        ("upload_id", Ty::Str),
        (
            "parts",
            Ty::List(&Ty::Msg(&[
                ("part_number", Ty::Int),
                ("etag", Ty::Str),
                ("url", Ty::Str),
            ])),
        ),
    ],
    schema: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn message_of(value: Value, spec: &Spec) -> String {
        check(map(value), spec).unwrap_err().message().to_string()
    }

    #[test]
    fn values_are_written_as_python_json_writes_them() {
        assert_eq!(python_json(&json!(123)), "123");
        assert_eq!(python_json(&json!(1.0)), "1.0");
        assert_eq!(python_json(&json!(1e20)), "1e+20");
        assert_eq!(python_json(&json!("é\"x")), r#""\u00e9\"x""#);
        assert_eq!(
            python_json(&json!({"b": 1, "a": [true, null]})),
            r#"{"a":[true,null],"b":1}"#
        );
        assert_eq!(python_json(&json!("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn types_are_checked_only_when_the_message_does_not_parse() {
        assert_eq!(
            message_of(json!({ "name": 123 }), &CREATE_EXPERIMENT),
            "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'. \
             See the API docs for more information about request parameters."
        );
        // A well-typed message is only checked for what it requires.
        assert!(check(map(json!({ "name": "x" })), &CREATE_EXPERIMENT).is_ok());
        assert!(message_of(json!({}), &CREATE_EXPERIMENT)
            .starts_with("Missing value for required parameter 'name'."));
        // MLflow's order: a missing run_id before a malformed datasets.
        assert!(message_of(json!({ "datasets": "x" }), &LOG_INPUTS)
            .starts_with("Missing value for required parameter 'run_id'."));
        // Entries are named by their place in the batch.
        assert!(message_of(
            json!({ "run_id": "r", "metrics": [{ "key": "a", "value": 1, "timestamp": 1 }, { "key": "b", "value": 1 }] }),
            &LOG_BATCH
        )
        .starts_with("Missing value for required parameter 'metrics[1].timestamp'."));
        // The older run_uuid stands in for run_id.
        assert!(check(map(json!({ "run_uuid": "r" })), &GET_RUN).is_ok());
        // Numbers as strings are proto3 JSON.
        assert!(check(
            map(json!({ "run_id": "r", "key": "k", "value": "NaN", "timestamp": "12" })),
            &LOG_METRIC
        )
        .is_ok());
        // A top-level value protobuf cannot read, which the schema lets through, is unset.
        let read = check(
            map(json!({ "experiment_id": "1", "user_id": 5 })),
            &CREATE_RUN,
        )
        .unwrap();
        assert_eq!(Value::Object(read), json!({ "experiment_id": "1" }));
        let read = check(map(json!({ "run_id": "r", "status": "DONE" })), &UPDATE_RUN).unwrap();
        assert_eq!(Value::Object(read), json!({ "run_id": "r" }));
        // Inside a list it is refused.
        assert!(message_of(
            json!({ "run_id": "r", "metrics": [{ "key": "a", "value": [1], "timestamp": 1 }] }),
            &LOG_BATCH
        )
        .starts_with("Invalid value [{\"key\":\"a\""));
    }

    #[test]
    fn queries_keep_only_the_fields_of_the_message() {
        let query = map(json!({ "run_ids": "a", "metric_key": ["m", "n"], "other": "x" }));
        let read = from_query(&query, &GET_METRIC_HISTORY_BULK_INTERVAL).unwrap();
        assert_eq!(
            Value::Object(read),
            json!({ "run_ids": ["a"], "metric_key": "m" })
        );
        let bad = from_query(
            &map(json!({ "archive_existing_versions": "maybe" })),
            &TRANSITION_STAGE,
        );
        assert_eq!(
            bad.unwrap_err().message(),
            "Invalid boolean value: maybe, must be 'true' or 'false'."
        );
    }

    #[test]
    fn python_numbers_are_read_as_python_reads_them() {
        assert_eq!(python_int(" 12 "), Some(12));
        assert_eq!(python_int("1_000"), Some(1000));
        assert_eq!(python_int("1.5"), None);
        assert_eq!(python_int("--1"), None);
        assert_eq!(python_float_of("1e3"), Some(1000.0));
        assert!(python_float_of("-inf").unwrap().is_infinite());
        assert_eq!(python_float_of("abc"), None);
    }
}
