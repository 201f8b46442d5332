//! `ApiJson<T>`: a JSON body extractor whose rejections are `{code, message}` errors that
//! name the field and the reason (serde's words), instead of axum's plain-text ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use plinth_types::ErrorKind;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(error) => ApiError::new(
                    ErrorKind::InvalidArgument,
                    format!("invalid request body: {}", body_error(&error.body_text())),
                ),
                JsonRejection::JsonSyntaxError(error) => ApiError::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "request body is not valid JSON: {}",
                        body_error(&error.body_text())
                    ),
                ),
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    ErrorKind::InvalidArgument,
                    "send the request body as JSON with `Content-Type: application/json`",
                ),
                JsonRejection::BytesRejection(error)
                    if error.status() == http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::new(
                        ErrorKind::PayloadTooLarge,
                        "request body is larger than the server accepts",
                    )
                }
                other => ApiError::new(ErrorKind::InvalidArgument, other.body_text()),
            }),
        }
    }
}

fn body_error(text: &str) -> String {
    // axum prefixes serde's message with its own words; keep serde's, which names the field.
    text.split_once(": ")
        .map_or(text, |(_, rest)| rest)
        .to_string()
}
