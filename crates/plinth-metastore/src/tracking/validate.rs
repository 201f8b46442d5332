//! MLflow's input rules for tracking and registry writes (`mlflow/utils/validation.py`),
//! with its messages. Lengths count characters, as Python's `len` does. Values over the
//! param and tag limits are truncated, as MLflow's server does by default
//! (`MLFLOW_TRUNCATE_LONG_VALUES`).

use plinth_types::{DatasetInput, Metric};

use super::filter::{invalid, python_float, python_repr};
use crate::StoreResult;

pub(crate) const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub(crate) const MAX_PARAM_VALUE_LENGTH: usize = 6000;
pub(crate) const MAX_TAG_VALUE_LENGTH: usize = 8000;
pub(crate) const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub(crate) const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub(crate) const MAX_EXPERIMENT_TAG_VALUE_LENGTH: usize = 20_000;
pub(crate) const MAX_REGISTRY_TAG_KEY_LENGTH: usize = 250;
pub(crate) const MAX_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
pub(crate) const MAX_ALIAS_LENGTH: usize = 255;

/// Renders a string as Python's `json.dumps` does (ASCII only).
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn invalid_value(path: &str, value_json: &str, message: &str) -> String {
    format!("Invalid value {value_json} for parameter '{path}' supplied: {message}")
}

fn join_path(current: &str, value: &str) -> String {
    if current.is_empty() {
        value.to_string()
    } else if value.starts_with('[') {
        format!("{current}{value}")
    } else {
        format!("{current}.{value}")
    }
}

/// POSIX `normpath`, as Python's `posixpath.normpath`.
pub(crate) fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        let keep = part != ".."
            || (initial_slashes == 0 && parts.is_empty())
            || parts.last() == Some(&"..");
        if keep {
            parts.push(part);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let joined = format!("{}{}", "/".repeat(initial_slashes), parts.join("/"));
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

fn path_not_unique(name: &str) -> bool {
    let normalized = normpath(name);
    normalized != name
        || normalized == "."
        || normalized.starts_with("..")
        || normalized.starts_with('/')
}

fn bad_path_message(name: &str) -> String {
    format!(
        "Names may be treated as files in certain cases, and must not resolve to other names \
         when treated as such. This name would resolve to {}",
        python_repr(&normpath(name))
    )
}

fn valid_name_characters(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'))
}

const BAD_CHARACTERS: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), \
                              periods (.), spaces ( ), colon(:) and slashes (/).";

/// Checks a param, metric or tag name: characters, and that it is a normal path.
fn validate_entity_name(name: &str, path: &str) -> StoreResult<()> {
    if !valid_name_characters(name) {
        return Err(invalid(invalid_value(
            path,
            &json_string(name),
            BAD_CHARACTERS,
        )));
    }
    if path_not_unique(name) {
        return Err(invalid(invalid_value(
            path,
            &json_string(name),
            &bad_path_message(name),
        )));
    }
    no_nul(name, path)
}

fn exceeds(path: &str, limit: usize) -> crate::StoreError {
    invalid(format!(
        "'{path}' exceeds the maximum length of {limit} characters"
    ))
}

fn check_length(path: &str, limit: usize, value: &str) -> StoreResult<()> {
    if value.chars().count() > limit {
        return Err(exceeds(path, limit));
    }
    Ok(())
}

fn truncate(value: &str, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((cut, _)) => value[..cut].to_string(),
        None => value.to_string(),
    }
}

/// Refuses NUL characters, which PostgreSQL's text cannot hold.
pub(crate) fn no_nul(value: &str, path: &str) -> StoreResult<()> {
    if value.contains('\0') {
        return Err(invalid(format!(
            "Invalid value for parameter '{path}' supplied: NUL characters are not allowed"
        )));
    }
    Ok(())
}

/// Checks one metric point; `path` is `""` for log-metric, `metrics[i]` in a batch.
pub(crate) fn validate_metric(metric: &Metric, path: &str) -> StoreResult<()> {
    validate_entity_name(&metric.key, &join_path(path, "name"))?;
    if metric.timestamp < 0 {
        return Err(invalid(invalid_value(
            &join_path(path, "timestamp"),
            &metric.timestamp.to_string(),
            &format!(
                "metric '{}' (value={}). Timestamp must be a nonnegative long (64-bit integer) ",
                metric.key,
                python_float(metric.value)
            ),
        )));
    }
    check_length("Metric name", MAX_ENTITY_KEY_LENGTH, &metric.key)?;
    for (value, what) in [
        (&metric.model_id, "model_id"),
        (&metric.dataset_name, "dataset_name"),
        (&metric.dataset_digest, "dataset_digest"),
    ] {
        if let Some(value) = value {
            no_nul(value, &join_path(path, what))?;
        }
    }
    Ok(())
}

/// Checks a param and returns its value, truncated to MLflow's limit.
pub(crate) fn validate_param(key: &str, value: &str, path: &str) -> StoreResult<String> {
    validate_entity_name(key, &join_path(path, "key"))?;
    check_length("Param key", MAX_ENTITY_KEY_LENGTH, key)?;
    no_nul(value, &join_path(path, "value"))?;
    Ok(truncate(value, MAX_PARAM_VALUE_LENGTH))
}

/// Checks a run tag and returns its value, truncated to MLflow's limit.
pub(crate) fn validate_run_tag(key: &str, value: &str, path: &str) -> StoreResult<String> {
    let key_path = join_path(path, "key");
    validate_entity_name(key, &key_path)?;
    check_length(&key_path, MAX_ENTITY_KEY_LENGTH, key)?;
    no_nul(value, &join_path(path, "value"))?;
    Ok(truncate(value, MAX_TAG_VALUE_LENGTH))
}

/// Checks a tag key (for deletions).
pub(crate) fn validate_tag_key(key: &str) -> StoreResult<()> {
    validate_entity_name(key, "key")
}

/// Checks an experiment name.
pub(crate) fn validate_experiment_name(name: &str) -> StoreResult<()> {
    if name.is_empty() {
        return Err(invalid(format!("Invalid experiment name: '{name}'")));
    }
    check_length("name", MAX_EXPERIMENT_NAME_LENGTH, name)?;
    no_nul(name, "name")
}

/// Checks an experiment tag.
pub(crate) fn validate_experiment_tag(key: &str, value: &str) -> StoreResult<()> {
    validate_entity_name(key, "key")?;
    check_length("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)?;
    check_length("value", MAX_EXPERIMENT_TAG_VALUE_LENGTH, value)?;
    no_nul(value, "value")
}

/// Checks MLflow's log-batch limits.
pub(crate) fn validate_batch_limits(metrics: usize, params: usize, tags: usize) -> StoreResult<()> {
    use crate::tracking::{
        MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
    };
    for (name, limit, length) in [
        ("metrics", MAX_METRICS_PER_BATCH, metrics),
        ("params", MAX_PARAMS_TAGS_PER_BATCH, params),
        ("tags", MAX_PARAMS_TAGS_PER_BATCH, tags),
        (
            "metrics, params, and tags",
            MAX_ENTITIES_PER_BATCH,
            metrics + params + tags,
        ),
    ] {
        if length > limit {
            return Err(invalid(format!(
                "A batch logging request can contain at most {limit} {name}. Got {length} \
                 {name}. Please split up {name} across multiple requests and try again."
            )));
        }
    }
    Ok(())
}

/// Refuses a batch that logs the same param key twice.
pub(crate) fn validate_param_keys_unique<'a>(
    keys: impl Iterator<Item = &'a str>,
) -> StoreResult<()> {
    let mut seen: Vec<&str> = Vec::new();
    let mut duplicates: Vec<&str> = Vec::new();
    for key in keys {
        if seen.contains(&key) {
            duplicates.push(key);
        } else {
            seen.push(key);
        }
    }
    if !duplicates.is_empty() {
        return Err(invalid(format!(
            "Duplicate parameter keys have been submitted: {}. Please ensure the request \
             contains only one param value per param key.",
            super::filter::python_list(&duplicates)
        )));
    }
    Ok(())
}

/// Checks the datasets of a log-inputs call.
pub(crate) fn validate_dataset_inputs(inputs: &[DatasetInput]) -> StoreResult<()> {
    for input in inputs {
        let dataset = &input.dataset;
        check_length("name", 500, &dataset.name)?;
        check_length("digest", 36, &dataset.digest)?;
        check_length("source", 65_535, &dataset.source)?;
        if let Some(schema) = &dataset.schema {
            check_length("schema", 1_048_575, schema)?;
        }
        if let Some(profile) = &dataset.profile {
            check_length("profile", 16_777_215, profile)?;
        }
        for (value, what) in [
            (&dataset.name, "name"),
            (&dataset.digest, "digest"),
            (&dataset.source_type, "source_type"),
            (&dataset.source, "source"),
        ] {
            no_nul(value, what)?;
        }
        for tag in &input.tags {
            check_length("key", 255, &tag.key)?;
            check_length("value", 500, &tag.value)?;
            no_nul(&tag.key, "key")?;
            no_nul(&tag.value, "value")?;
        }
    }
    Ok(())
}

/// Checks a registered model name.
pub(crate) fn validate_model_name(name: &str) -> StoreResult<()> {
    if name.trim().is_empty() {
        return Err(invalid("Missing value for required parameter 'name'."));
    }
    if name.contains('/') || name.contains(':') {
        return Err(invalid(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if path_not_unique(name) {
        return Err(invalid(invalid_value(
            "name",
            &json_string(name),
            &bad_path_message(name),
        )));
    }
    no_nul(name, "name")
}

/// Checks a registered-model or model-version tag.
pub(crate) fn validate_registry_tag(key: &str, value: &str) -> StoreResult<()> {
    validate_entity_name(key, "key")?;
    check_length("key", MAX_REGISTRY_TAG_KEY_LENGTH, key)?;
    check_length("value", MAX_REGISTRY_TAG_VALUE_LENGTH, value)?;
    no_nul(value, "value")
}

/// Checks an alias name (not whether it is reserved).
pub(crate) fn validate_alias(alias: &str) -> StoreResult<()> {
    if alias.is_empty() {
        return Err(invalid("Registered model alias name cannot be empty."));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores \
             (_), and dashes (-)."
        )));
    }
    check_length("Registered model alias name", MAX_ALIAS_LENGTH, alias)
}

/// Refuses the aliases MLflow reserves: `latest` and `v<N>`.
pub(crate) fn validate_alias_not_reserved(alias: &str) -> StoreResult<()> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && !alias[1..].is_empty()
        && alias[1..].chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// Checks a logged model's name.
pub(crate) fn validate_logged_model_name(name: &str) -> StoreResult<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(invalid(format!(
            "Invalid model name ({}) provided. Model name must be a non-empty string and \
             cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
            python_repr(name)
        )));
    }
    no_nul(name, "name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        for (path, normal) in [
            ("", "."),
            ("a/b", "a/b"),
            ("a//b/", "a/b"),
            ("./a", "a"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("//a", "//a"),
            ("///a", "/a"),
            ("a/..", "."),
        ] {
            assert_eq!(normpath(path), normal, "{path}");
        }
    }

    #[test]
    fn names_are_checked_with_mlflow_messages() {
        let error = validate_param("bad*key", "v", "params[3]").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid value \"bad*key\" for parameter 'params[3].key' supplied: Names may only \
             contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), \
             colon(:) and slashes (/)."
        );
        let error = validate_run_tag("../x", "v", "").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid value \"../x\" for parameter 'key' supplied: Names may be treated as \
             files in certain cases, and must not resolve to other names when treated as \
             such. This name would resolve to '../x'"
        );
        let long = "é".repeat(7000);
        assert_eq!(
            validate_param("k", &long, "").unwrap().chars().count(),
            MAX_PARAM_VALUE_LENGTH
        );
        assert_eq!(
            validate_param(&"k".repeat(251), "v", "")
                .unwrap_err()
                .to_string(),
            "'Param key' exceeds the maximum length of 250 characters"
        );
        assert_eq!(json_string("é\"x"), "\"\\u00e9\\\"x\"");
        assert!(validate_alias_not_reserved("V12").is_err());
        assert!(validate_alias_not_reserved("v1x").is_ok());
        assert!(validate_alias("champion-2_b").is_ok());
        assert!(validate_alias("a b").is_err());
        assert!(validate_logged_model_name("model.pkl").is_err());
        assert!(validate_model_name("a/b").is_err());
        assert!(validate_model_name("fraud detector").is_ok());
    }
}
