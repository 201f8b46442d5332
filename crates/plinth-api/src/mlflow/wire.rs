//! MLflow's wire conventions: errors as `{"error_code", "message"}` with MLflow's statuses,
//! requests read from the query (GET) or the JSON body (other methods) into one [`Message`],
//! and proto3 JSON values (int64 as numbers or strings, doubles as numbers or `"NaN"`,
//! `"Infinity"`, `"-Infinity"`).

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{Method, StatusCode};
use plinth_types::{ErrorKind, HasErrorKind};
use serde_json::{Map, Value};

use super::schema::{self, Spec};
use crate::error::error_chain;
use crate::ApiError;

/// An error answered in MLflow's format.
#[derive(Debug)]
pub(crate) struct MlflowError {
    code: &'static str,
    status: StatusCode,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// MLflow's error code and status for each kind of error. MLflow's own table
/// (`mlflow/exceptions.py`) answers `INVALID_STATE` with 500, which its client retries for
/// minutes; Plinth answers it with 400, as a refused request.
fn mlflow_code(kind: ErrorKind) -> (&'static str, StatusCode) {
    match kind {
        ErrorKind::InvalidArgument => ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST),
        ErrorKind::NotFound => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
        ErrorKind::AlreadyExists => ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST),
        ErrorKind::Conflict => ("INVALID_STATE", StatusCode::BAD_REQUEST),
        ErrorKind::PayloadTooLarge => ("BAD_REQUEST", StatusCode::PAYLOAD_TOO_LARGE),
        ErrorKind::RateLimited => ("REQUEST_LIMIT_EXCEEDED", StatusCode::TOO_MANY_REQUESTS),
        ErrorKind::Unauthenticated | ErrorKind::MfaRequired => {
            ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED)
        }
        ErrorKind::Forbidden => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
        ErrorKind::Unavailable => ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        ErrorKind::Internal => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// MLflow 3's `sqlstate` and `error_class` of an error code, as its server adds them to
/// every error body (`mlflow/error_classification.py`, the client-side table its
/// `MlflowException` derives them from); codes without an entry there get neither.
fn classification(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "BAD_REQUEST" | "INVALID_PARAMETER_VALUE" => ("KAM00", "INVALID_PARAMETER_VALUE"),
        "CUSTOMER_UNAUTHORIZED" | "PERMISSION_DENIED" => ("KAM00", "PERMISSION_DENIED"),
        "ENDPOINT_NOT_FOUND" | "NOT_FOUND" | "RESOURCE_DOES_NOT_EXIST" => {
            ("KAM00", "RESOURCE_NOT_FOUND")
        }
        "FEATURE_DISABLED" => ("KAM00", "FEATURE_DISABLED"),
        "RESOURCE_ALREADY_EXISTS" => ("KAM00", "RESOURCE_ALREADY_EXISTS"),
        "INTERNAL_ERROR" | "INVALID_STATE" | "TEMPORARILY_UNAVAILABLE" => {
            ("XXM00", "CLIENT_INTERNAL_ERROR")
        }
        _ => return None,
    })
}

/// The MLflow code a bare status stands for (responses no handler shaped).
pub(crate) fn code_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 | 405 => "ENDPOINT_NOT_FOUND",
        413 => "BAD_REQUEST",
        code => mlflow_code(crate::kind_of(StatusCode::from_u16(code).unwrap_or(status))).0,
    }
}

impl MlflowError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let (code, status) = mlflow_code(kind);
        MlflowError {
            code,
            status,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        MlflowError::new(ErrorKind::InvalidArgument, message)
    }

    /// What the answer says.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// An endpoint of MLflow's API that Plinth does not offer.
    pub(crate) fn not_implemented(what: &str) -> Self {
        MlflowError {
            code: "NOT_IMPLEMENTED",
            status: StatusCode::NOT_IMPLEMENTED,
            message: format!("`{what}` is not supported by Plinth yet"),
            source: None,
        }
    }

    /// A path that is no endpoint of MLflow's API.
    pub(crate) fn endpoint_not_found(method: &Method, path: &str) -> Self {
        MlflowError {
            code: "ENDPOINT_NOT_FOUND",
            status: StatusCode::NOT_FOUND,
            message: format!("no MLflow endpoint `{method} {}`", path.escape_debug()),
            source: None,
        }
    }

    /// A response body for a bare status (405, 413 …) on an MLflow path.
    pub(crate) fn from_status(status: StatusCode, message: String) -> Self {
        MlflowError {
            code: code_of_status(status),
            status,
            message,
            source: None,
        }
    }
}

impl<E> From<E> for MlflowError
where
    E: HasErrorKind + std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        let (code, status) = mlflow_code(error.kind());
        MlflowError {
            code,
            status,
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

impl From<ApiError> for MlflowError {
    fn from(error: ApiError) -> Self {
        MlflowError::new(error.kind(), error.message())
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() && self.code != "NOT_IMPLEMENTED" {
            let chain = self
                .source
                .as_deref()
                .map(|source| error_chain(source))
                .unwrap_or_else(|| self.message.clone());
            tracing::error!(error = %chain, code = self.code, "mlflow request failed");
            if self.code == "TEMPORARILY_UNAVAILABLE" {
                self.message
            } else {
                "internal server error; the server log has the details".to_string()
            }
        } else {
            self.message
        };
        let mut body = serde_json::Map::new();
        body.insert("error_code".to_string(), Value::from(self.code));
        body.insert("message".to_string(), Value::from(message));
        if let Some((sqlstate, error_class)) = classification(self.code) {
            body.insert("sqlstate".to_string(), Value::from(sqlstate));
            body.insert("error_class".to_string(), Value::from(error_class));
        }
        (self.status, Json(Value::Object(body))).into_response()
    }
}

/// The result of an MLflow handler.
pub(crate) type MlflowResult<T> = Result<T, MlflowError>;

/// A request message: the JSON body, or for `GET` the query parameters (a repeated
/// parameter becomes a list), as MLflow's server reads them. Handlers check it against
/// their endpoint's [`Spec`] first ([`Message::checked`]), as MLflow does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Message {
    fields: Map<String, Value>,
    /// Read from a query string (every value a string, repeated keys as lists).
    from_query: bool,
}

impl<S: Send + Sync> FromRequest<S> for Message {
    type Rejection = MlflowError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if request.method() == Method::GET {
            return Ok(Message::from_query(request.uri().query().unwrap_or("")));
        }
        if matches!(*request.method(), Method::POST | Method::PUT) {
            check_content_type(request.headers())?;
        }
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_err(|error| {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
                let mut too_large = false;
                while let Some(current) = cause {
                    too_large |= current.is::<http_body_util::LengthLimitError>();
                    cause = current.source();
                }
                if too_large {
                    MlflowError::new(
                        ErrorKind::PayloadTooLarge,
                        "request body is larger than the server accepts",
                    )
                } else {
                    MlflowError::invalid(format!("cannot read the request body: {error}"))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Message::default());
        }
        // As MLflow's server: a body that is not JSON reads as no fields (the checks then
        // say what is missing), and a JSON string holding the object (older clients
        // encoded it twice) is read once more.
        let value = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::String(text)) => serde_json::from_str::<Value>(&text).map_err(|error| {
                MlflowError::invalid(format!("the request body is not valid JSON: {error}"))
            })?,
            Ok(value) => value,
            Err(_) => return Ok(Message::default()),
        };
        match value {
            Value::Object(map) => Ok(Message::new(map)),
            _ => Err(MlflowError::invalid(
                "the request body must be a JSON object",
            )),
        }
    }
}

/// MLflow reads a POST or PUT body only when it says it is JSON.
pub(crate) fn check_content_type(headers: &http::HeaderMap) -> MlflowResult<()> {
    let Some(content_type) = headers.get(http::header::CONTENT_TYPE) else {
        return Err(MlflowError::invalid(
            "Bad Request. Content-Type header is missing.",
        ));
    };
    let essence = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if essence != "application/json" {
        return Err(MlflowError::invalid(
            "Bad Request. Content-Type must be one of ['application/json'].",
        ));
    }
    Ok(())
}

fn missing(key: &str) -> MlflowError {
    MlflowError::invalid(format!(
        "Missing value for required parameter '{key}'. See the API docs for more information \
         about request parameters."
    ))
}

fn bad_type(key: &str, value: &Value, _expected: &str) -> MlflowError {
    schema::invalid_value(key, Some(value))
}

impl Message {
    /// A message of a JSON body's fields.
    pub(crate) fn new(fields: Map<String, Value>) -> Self {
        Message {
            fields,
            from_query: false,
        }
    }

    /// The message as MLflow reads it for the endpoint of `spec`, after its checks: a
    /// query keeps only the message's fields (repeated ones as lists, others as their first
    /// value); then MLflow's schema and protobuf's types are checked ([`schema::check`]).
    pub(crate) fn checked(self, spec: &Spec) -> MlflowResult<Message> {
        let fields = if self.from_query {
            schema::from_query(&self.fields, spec)?
        } else {
            self.fields
        };
        Ok(Message::new(schema::check(fields, spec)?))
    }

    /// The raw value of a field.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    pub(crate) fn from_query(query: &str) -> Self {
        let mut map = Map::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let key = key.trim_end_matches("[]").to_string();
            let value = Value::String(value.into_owned());
            match map.get_mut(&key) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    map.insert(key, value);
                }
            }
        }
        Message {
            fields: map,
            from_query: true,
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|value| !value.is_null())
    }

    /// A string field; numbers and booleans are taken as their text.
    pub(crate) fn opt_str(&self, key: &str) -> MlflowResult<Option<String>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(value.to_string())),
            Some(value) => Err(bad_type(key, value, "a string")),
        }
    }

    /// A required, non-empty string field.
    pub(crate) fn str(&self, key: &str) -> MlflowResult<String> {
        self.opt_str(key)?
            .filter(|text| !text.is_empty())
            .ok_or_else(|| missing(key))
    }

    /// A required string field that may be empty (tag values).
    pub(crate) fn str_or_empty(&self, key: &str) -> MlflowResult<String> {
        self.opt_str(key)?.ok_or_else(|| missing(key))
    }

    /// `run_id`, or the older `run_uuid`.
    pub(crate) fn run_id(&self) -> MlflowResult<String> {
        match self.opt_str("run_id")?.filter(|id| !id.is_empty()) {
            Some(id) => Ok(id),
            None => self.str("run_uuid").map_err(|_| missing("run_id")),
        }
    }

    /// An integer field (a JSON number or a decimal string, as proto3 JSON allows).
    pub(crate) fn opt_i64(&self, key: &str) -> MlflowResult<Option<i64>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .or_else(|| {
                    number
                        .as_f64()
                        .filter(|float| float.fract() == 0.0)
                        .map(|float| float as i64)
                })
                .map(Some)
                .ok_or_else(|| bad_type(key, &Value::Number(number.clone()), "an integer")),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(value @ Value::String(text)) => schema::python_int(text)
                .or_else(|| {
                    schema::python_float_of(text)
                        .filter(|float| float.is_finite() && float.fract() == 0.0)
                        .map(|float| float as i128)
                })
                .and_then(|number| i64::try_from(number).ok())
                .map(Some)
                .ok_or_else(|| bad_type(key, value, "an integer")),
            Some(value) => Err(bad_type(key, value, "an integer")),
        }
    }

    /// A required integer field.
    pub(crate) fn i64(&self, key: &str) -> MlflowResult<i64> {
        self.opt_i64(key)?.ok_or_else(|| missing(key))
    }

    /// A double field: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` or a numeric string.
    pub(crate) fn opt_f64(&self, key: &str) -> MlflowResult<Option<f64>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64()),
            Some(Value::Bool(flag)) => Ok(Some(if *flag { 1.0 } else { 0.0 })),
            Some(value @ Value::String(text)) => parse_double(text)
                .map(Some)
                .ok_or_else(|| bad_type(key, value, "a number")),
            Some(value) => Err(bad_type(key, value, "a number")),
        }
    }

    /// A boolean field (`true`/`false`, also as strings).
    pub(crate) fn opt_bool(&self, key: &str) -> MlflowResult<Option<bool>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(value @ Value::String(text)) => match text.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(bad_type(key, value, "a boolean")),
            },
            Some(value) => Err(bad_type(key, value, "a boolean")),
        }
    }

    /// A repeated string field (one value counts as a list of one).
    pub(crate) fn str_list(&self, key: &str) -> MlflowResult<Vec<String>> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    Value::Number(_) => Ok(item.to_string()),
                    other => Err(bad_type(key, other, "a list of strings")),
                })
                .collect(),
            Some(Value::String(text)) => Ok(vec![text.clone()]),
            Some(value) => Err(bad_type(key, value, "a list of strings")),
        }
    }

    /// A repeated message field.
    pub(crate) fn messages(&self, key: &str) -> MlflowResult<Vec<Message>> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(Message::new(map.clone())),
                    other => Err(bad_type(key, other, "a list of objects")),
                })
                .collect(),
            Some(Value::Object(map)) => Ok(vec![Message::new(map.clone())]),
            Some(value) => Err(bad_type(key, value, "a list of objects")),
        }
    }

    /// A nested message field.
    pub(crate) fn message(&self, key: &str) -> MlflowResult<Option<Message>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Message::new(map.clone()))),
            Some(value) => Err(bad_type(key, value, "an object")),
        }
    }

    /// A repeated `{key, value}` field (tags, params).
    pub(crate) fn pairs(&self, key: &str) -> MlflowResult<Vec<(String, String)>> {
        self.messages(key)?
            .iter()
            .map(|pair| Ok((pair.str("key")?, pair.str_or_empty("value")?)))
            .collect()
    }
}

/// Parses a proto3 JSON double given as a string, as MLflow's parser reads one (`"NaN"`,
/// `"Infinity"`, `"-Infinity"`, and whatever Python's `float` reads). Rust's parser rounds
/// every decimal correctly, so the value is the one the client meant, to the last bit.
pub(crate) fn parse_double(text: &str) -> Option<f64> {
    schema::double_of_text(text)
}

/// A double as proto3 JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn double(value: f64) -> Value {
    serde_json::to_value(WireDouble(value)).unwrap_or(Value::Null)
}

/// A double that serializes as proto3 JSON does ([`double`]), without building a `Value`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireDouble(pub(crate) f64);

impl serde::Serialize for WireDouble {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value == f64::INFINITY {
            serializer.serialize_str("Infinity")
        } else if value == f64::NEG_INFINITY {
            serializer.serialize_str("-Infinity")
        } else {
            serializer.serialize_f64(value)
        }
    }
}

/// Which of MLflow's stores words a refused `max_results`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PageWords {
    /// The tracking store's words.
    Tracking,
    /// The registry store's words.
    Registry,
}

/// The `max_results` of a search: the given value, else `default` (MLflow's default of the
/// request message; without one an absent value reads as 0, which is refused, as MLflow's
/// experiment search does), within `1..=limit`, refused in the words of MLflow's store.
pub(crate) fn max_results(
    message: &Message,
    default: Option<i64>,
    limit: i64,
    words: PageWords,
) -> MlflowResult<i64> {
    let value = message.opt_i64("max_results")?.or(default).unwrap_or(0);
    let refusal = match words {
        PageWords::Tracking if value < 1 => format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be a positive \
             integer"
        ),
        PageWords::Tracking if value > limit => format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be at most \
             {limit}"
        ),
        PageWords::Registry if value < 1 => {
            format!("Invalid value for max_results. It must be a positive integer, but got {value}")
        }
        PageWords::Registry if value > limit => format!(
            "Invalid value for request parameter max_results. It must be at most {limit}, but \
             got value {value}"
        ),
        _ => return Ok(value),
    };
    Err(MlflowError::invalid(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_messages_with_lists_for_repeated_keys() {
        let message = Message::from_query("run_ids=a&run_ids=b&metric_key=loss&max_results=10");
        assert_eq!(message.str_list("run_ids").unwrap(), vec!["a", "b"]);
        assert_eq!(message.str("metric_key").unwrap(), "loss");
        assert_eq!(message.opt_i64("max_results").unwrap(), Some(10));
        let single = Message::from_query("run_ids=a");
        assert_eq!(single.str_list("run_ids").unwrap(), vec!["a"]);
    }

    #[test]
    fn proto3_numbers_are_read_leniently() {
        let message = Message::new(
            serde_json::json!({
                "a": "12", "b": 12, "c": "NaN", "d": "-Infinity", "e": 1.5, "f": "x", "g": true
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        assert_eq!(message.i64("a").unwrap(), 12);
        assert_eq!(message.i64("b").unwrap(), 12);
        assert!(message.opt_f64("c").unwrap().unwrap().is_nan());
        assert_eq!(message.opt_f64("d").unwrap(), Some(f64::NEG_INFINITY));
        assert_eq!(message.opt_f64("e").unwrap(), Some(1.5));
        assert!(message.i64("f").is_err());
        assert_eq!(message.opt_bool("g").unwrap(), Some(true));
        assert!(message.str("missing").is_err());
        assert_eq!(double(f64::NAN), Value::String("NaN".to_string()));
        assert_eq!(double(f64::INFINITY), Value::String("Infinity".to_string()));
        assert_eq!(double(2.5), serde_json::json!(2.5));
    }

    #[tokio::test]
    async fn errors_have_mlflow_codes_and_statuses() {
        for (kind, code, status) in [
            (ErrorKind::NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
            (ErrorKind::AlreadyExists, "RESOURCE_ALREADY_EXISTS", 400),
            (ErrorKind::Forbidden, "PERMISSION_DENIED", 403),
            (ErrorKind::Unauthenticated, "UNAUTHENTICATED", 401),
            (ErrorKind::InvalidArgument, "INVALID_PARAMETER_VALUE", 400),
        ] {
            let response = MlflowError::new(kind, "m").into_response();
            assert_eq!(response.status().as_u16(), status);
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error_code"], code);
            assert_eq!(json["message"], "m");
        }
        let response = MlflowError::not_implemented("traces").into_response();
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    }
}
