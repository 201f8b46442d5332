//! Parameter values: typing them by their declaration (the compiler writes every number as a
//! double; components get whole numbers as JSON integers), the run's arguments checked
//! against the root's inputs, placeholders in commands and constants, and `triggerPolicy`
//! conditions evaluated with CEL.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Number, Value};

use crate::error::{PipelineError, PipelineResult};
use crate::ir::{ParameterSpec, ParameterType};

/// Returns `value` as the declared type, or why it is not one. Whole doubles become
/// integers for NUMBER_INTEGER, and inside lists and structs.
pub fn coerce(kind: ParameterType, value: &Value) -> Result<Value, String> {
    let wrong = |expected: &str| {
        Err(format!(
            "expected {expected} ({}), got {}",
            kind.python(),
            describe(value)
        ))
    };
    match kind {
        ParameterType::String => match value {
            Value::String(_) => Ok(value.clone()),
            _ => wrong("a string"),
        },
        ParameterType::NumberInteger => match value {
            Value::Number(number) => match integer_of(number) {
                Some(whole) => Ok(Value::from(whole)),
                None => wrong("a whole number"),
            },
            _ => wrong("a whole number"),
        },
        ParameterType::NumberDouble => match value {
            Value::Number(number) => Ok(number
                .as_f64()
                .and_then(Number::from_f64)
                .map_or_else(|| value.clone(), Value::Number)),
            _ => wrong("a number"),
        },
        ParameterType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => wrong("true or false"),
        },
        ParameterType::List => match value {
            Value::Array(_) => Ok(whole_numbers(value)),
            _ => wrong("a list"),
        },
        ParameterType::Struct => match value {
            Value::Object(_) => Ok(whole_numbers(value)),
            _ => wrong("a mapping"),
        },
        ParameterType::TaskFinalStatus | ParameterType::Unspecified => Ok(value.clone()),
    }
}

fn integer_of(number: &Number) -> Option<i64> {
    if let Some(whole) = number.as_i64() {
        return Some(whole);
    }
    let double = number.as_f64()?;
    (double.fract() == 0.0 && double.abs() < 9.0e15).then_some(double as i64)
}

/// Whole doubles inside a list or struct become integers (the compiler wrote `1.0`).
fn whole_numbers(value: &Value) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => match integer_of(number) {
            Some(whole) => Value::from(whole),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(whole_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), whole_numbers(item)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    let short: String = text.chars().take(60).collect();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    };
    if short.len() < text.len() {
        format!("{kind} `{short}…`")
    } else {
        format!("{kind} `{short}`")
    }
}

/// Checks a run's arguments against the root's inputs: unknown names, wrong types and
/// missing required parameters are refused naming the parameter; defaults fill the rest.
pub fn bind_arguments(
    declared: &BTreeMap<String, ParameterSpec>,
    arguments: &BTreeMap<String, Value>,
) -> PipelineResult<BTreeMap<String, Value>> {
    let mut bound = BTreeMap::new();
    for name in arguments.keys() {
        if !declared.contains_key(name) {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            return Err(PipelineError::InvalidArgument(format!(
                "invalid `runtime_config.parameters`: the pipeline has no parameter `{name}` (it has: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
    }
    for (name, spec) in declared {
        let value = match arguments.get(name) {
            Some(value) => {
                coerce(spec.parameter_type, value).map_err(|reason| {
                    PipelineError::InvalidArgument(format!(
                        "invalid `runtime_config.parameters.{name}`: {reason}"
                    ))
                })?
            }
            None => match &spec.default_value {
                Some(default) => coerce(spec.parameter_type, default).map_err(|reason| {
                    PipelineError::InvalidArgument(format!(
                        "invalid pipeline: the default of parameter `{name}`: {reason}"
                    ))
                })?,
                None if spec.is_optional => continue,
                None => {
                    return Err(PipelineError::InvalidArgument(format!(
                        "invalid `runtime_config.parameters`: the required parameter `{name}` ({}) is missing",
                        spec.parameter_type.python()
                    )))
                }
            },
        };
        bound.insert(name.clone(), value);
    }
    Ok(bound)
}

/// A parameter's value as text inside a command line: strings as they are, the rest JSON.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What placeholders stand for in one task.
#[derive(Clone, Debug, Default)]
pub struct PlaceholderValues {
    /// `{{$}}`: the ExecutorInput JSON.
    pub executor_input: String,
    /// Input parameters by name.
    pub parameters: BTreeMap<String, Value>,
    /// Output parameters' files by name.
    pub output_parameter_files: BTreeMap<String, String>,
    /// Input artifacts by name: (path, uri).
    pub input_artifacts: BTreeMap<String, (String, String)>,
    /// Output artifacts by name: (path, uri).
    pub output_artifacts: BTreeMap<String, (String, String)>,
    /// `{{$.outputs.output_file}}`: the executor output file.
    pub output_file: String,
    /// `pipeline_*` values: `pipeline_job_name`, `pipeline_job_uuid` …
    pub pipeline: BTreeMap<String, String>,
}

/// Replaces every `{{$…}}` placeholder of `text`; an unknown one is an error naming it.
pub fn resolve_placeholders(text: &str, values: &PlaceholderValues) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{$") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find("}}") else {
            out.push_str(after);
            return Ok(out);
        };
        let expression = &after[3..end];
        out.push_str(&placeholder(expression, values)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `['name']` (or `["name"]`) at the start of `text`: the name and what follows.
fn bracketed(text: &str) -> Option<(&str, &str)> {
    let text = text.strip_prefix('[')?;
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let text = &text[1..];
    let close = text.find(quote)?;
    let name = &text[..close];
    let rest = text[close + 1..].strip_prefix(']')?;
    Some((name, rest))
}

fn placeholder(expression: &str, values: &PlaceholderValues) -> Result<String, String> {
    let unknown = || Err(format!("unsupported placeholder `{{{{${expression}}}}}`"));
    if expression.is_empty() {
        return Ok(values.executor_input.clone());
    }
    let Some(path) = expression.strip_prefix('.') else {
        return unknown();
    };
    if let Some(rest) = path.strip_prefix("inputs.parameters") {
        let Some((name, tail)) = bracketed(rest) else {
            return unknown();
        };
        if !tail.is_empty() {
            return unknown();
        }
        return match values.parameters.get(name) {
            Some(value) => Ok(as_text(value)),
            None => Err(format!("the input parameter `{name}` has no value")),
        };
    }
    if let Some(rest) = path.strip_prefix("outputs.parameters") {
        let Some((name, tail)) = bracketed(rest) else {
            return unknown();
        };
        return match (tail, values.output_parameter_files.get(name)) {
            (".output_file", Some(file)) => Ok(file.clone()),
            (".output_file", None) => Err(format!("there is no output parameter `{name}`")),
            _ => unknown(),
        };
    }
    for (prefix, artifacts) in [
        ("inputs.artifacts", &values.input_artifacts),
        ("outputs.artifacts", &values.output_artifacts),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let Some((name, tail)) = bracketed(rest) else {
                return unknown();
            };
            let Some((path, uri)) = artifacts.get(name) else {
                return Err(format!("there is no artifact `{name}`"));
            };
            return match tail {
                ".path" => Ok(path.clone()),
                ".uri" => Ok(uri.clone()),
                _ => unknown(),
            };
        }
    }
    if path == "outputs.output_file" {
        return Ok(values.output_file.clone());
    }
    match values.pipeline.get(path) {
        Some(value) => Ok(value.clone()),
        None => unknown(),
    }
}

/// Evaluates a `triggerPolicy.condition` over the task's input parameters
/// (`inputs.parameter_values['…']`), with `parseJson` as the SDK expects.
pub fn evaluate_condition(
    condition: &str,
    parameters: &BTreeMap<String, Value>,
) -> Result<bool, String> {
    let program = cel::Program::compile(condition).map_err(|error| format!("not CEL: {error}"))?;
    let mut context = cel::Context::default();
    let inputs = serde_json::json!({ "parameter_values": parameters });
    let inputs = cel::to_value(&inputs).map_err(|error| error.to_string())?;
    context.add_variable_from_value("inputs", inputs);
    context
        .add_function(
            "parseJson",
            |text: Arc<String>| -> Result<cel::Value, cel::ExecutionError> {
                let value: Value = serde_json::from_str(&text)
                    .map_err(|error| cel::ExecutionError::function_error("parseJson", error))?;
                cel::to_value(&value)
                    .map_err(|error| cel::ExecutionError::function_error("parseJson", error))
            },
        )
        .map_err(|error| format!("{error:?}"))?;
    match program.execute(&context) {
        Ok(cel::Value::Bool(result)) => Ok(result),
        Ok(other) => Err(format!("the condition gave {other:?}, not true or false")),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(kind: ParameterType, default: Option<Value>, optional: bool) -> ParameterSpec {
        ParameterSpec {
            parameter_type: kind,
            default_value: default,
            is_optional: optional,
            description: None,
        }
    }

    #[test]
    fn declared_types_are_honored_and_whole_numbers_become_integers() {
        assert_eq!(
            coerce(ParameterType::NumberInteger, &json!(3.0)).unwrap(),
            json!(3)
        );
        assert_eq!(
            coerce(ParameterType::NumberInteger, &json!(3.0))
                .unwrap()
                .to_string(),
            "3"
        );
        assert!(coerce(ParameterType::NumberInteger, &json!(3.5))
            .unwrap_err()
            .contains("whole number"));
        assert_eq!(
            coerce(ParameterType::NumberDouble, &json!(2))
                .unwrap()
                .to_string(),
            "2.0"
        );
        assert_eq!(
            coerce(ParameterType::List, &json!([1.0, 2.5, {"a": 3.0}])).unwrap(),
            json!([1, 2.5, {"a": 3}])
        );
        assert!(coerce(ParameterType::String, &json!(1))
            .unwrap_err()
            .contains("expected a string (str), got a number `1`"));
        assert!(coerce(ParameterType::Boolean, &json!("true")).is_err());
        assert!(coerce(ParameterType::Struct, &json!([])).is_err());
    }

    #[test]
    fn arguments_are_checked_against_the_root_inputs() {
        let declared = BTreeMap::from([
            (
                "n".to_string(),
                spec(ParameterType::NumberInteger, None, false),
            ),
            (
                "name".to_string(),
                spec(ParameterType::String, Some(json!("w")), true),
            ),
            ("maybe".to_string(), spec(ParameterType::String, None, true)),
        ]);
        let bound =
            bind_arguments(&declared, &BTreeMap::from([("n".to_string(), json!(4.0))])).unwrap();
        assert_eq!(
            bound,
            BTreeMap::from([
                ("n".to_string(), json!(4)),
                ("name".to_string(), json!("w"))
            ])
        );
        let missing = bind_arguments(&declared, &BTreeMap::new())
            .unwrap_err()
            .message();
        assert!(missing.contains("required parameter `n`"), "{missing}");
        let typed = bind_arguments(&declared, &BTreeMap::from([("n".to_string(), json!("x"))]))
            .unwrap_err()
            .message();
        assert!(
            typed.contains("`runtime_config.parameters.n`") && typed.contains("whole number"),
            "{typed}"
        );
        let unknown = bind_arguments(
            &declared,
            &BTreeMap::from([("n".to_string(), json!(1)), ("zz".to_string(), json!(1))]),
        )
        .unwrap_err()
        .message();
        assert!(unknown.contains("no parameter `zz`"), "{unknown}");
    }

    #[test]
    fn placeholders_resolve_against_the_task() {
        let values = PlaceholderValues {
            executor_input: "{\"inputs\":{}}".to_string(),
            parameters: BTreeMap::from([
                ("pipelinechannel--greeting".to_string(), json!("hi")),
                ("n".to_string(), json!(3)),
                ("l".to_string(), json!([1, 2])),
            ]),
            output_parameter_files: BTreeMap::from([(
                "Output".to_string(),
                "/t/out/Output".to_string(),
            )]),
            input_artifacts: BTreeMap::from([(
                "data".to_string(),
                ("/t/in/data".to_string(), "plinth://x".to_string()),
            )]),
            output_artifacts: BTreeMap::new(),
            output_file: "/t/executor_output.json".to_string(),
            pipeline: BTreeMap::from([("pipeline_job_name".to_string(), "run-1".to_string())]),
        };
        let resolve = |text: &str| resolve_placeholders(text, &values);
        assert_eq!(resolve("{{$}}").unwrap(), "{\"inputs\":{}}");
        assert_eq!(
            resolve("{{$.inputs.parameters['pipelinechannel--greeting']}}!").unwrap(),
            "hi!"
        );
        assert_eq!(
            resolve("n={{$.inputs.parameters['n']}} l={{$.inputs.parameters[\"l\"]}}").unwrap(),
            "n=3 l=[1,2]"
        );
        assert_eq!(
            resolve("{{$.outputs.parameters['Output'].output_file}}").unwrap(),
            "/t/out/Output"
        );
        assert_eq!(
            resolve("{{$.inputs.artifacts['data'].path}}").unwrap(),
            "/t/in/data"
        );
        assert_eq!(
            resolve("{{$.inputs.artifacts['data'].uri}}").unwrap(),
            "plinth://x"
        );
        assert_eq!(
            resolve("{{$.outputs.output_file}}").unwrap(),
            "/t/executor_output.json"
        );
        assert_eq!(resolve("job {{$.pipeline_job_name}}").unwrap(), "job run-1");
        assert!(resolve("{{$.inputs.parameters['nope']}}")
            .unwrap_err()
            .contains("`nope`"));
        assert!(resolve("{{$.bogus}}")
            .unwrap_err()
            .contains("unsupported placeholder"));
        assert_eq!(
            resolve("no placeholders {{x}}").unwrap(),
            "no placeholders {{x}}"
        );
    }

    #[test]
    fn conditions_are_evaluated_as_the_sdk_writes_them() {
        let parameters = BTreeMap::from([
            ("pipelinechannel--flip-Output".to_string(), json!("heads")),
            ("pipelinechannel--n".to_string(), json!(7)),
            ("pipelinechannel--x".to_string(), json!(0.5)),
            ("pipelinechannel--j".to_string(), json!("{\"a\": 2}")),
        ]);
        let eval = |condition: &str| evaluate_condition(condition, &parameters);
        assert!(
            eval("inputs.parameter_values['pipelinechannel--flip-Output'] == 'heads'").unwrap()
        );
        assert!(
            !eval("!(inputs.parameter_values['pipelinechannel--flip-Output'] == 'heads')").unwrap()
        );
        assert!(eval("int(inputs.parameter_values['pipelinechannel--n']) > 5").unwrap());
        assert!(!eval("int(inputs.parameter_values['pipelinechannel--n']) > 7").unwrap());
        assert!(eval("inputs.parameter_values['pipelinechannel--x'] < 1.0").unwrap());
        assert!(eval("parseJson(inputs.parameter_values['pipelinechannel--j']).a == 2").unwrap());
        assert!(eval("inputs.parameter_values['pipelinechannel--flip-Output']").is_err());
    }
}
