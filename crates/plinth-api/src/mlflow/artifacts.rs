//! Handlers of MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/…`): list, streamed
//! download and upload, delete, and the proxied multipart upload. Bodies are streamed
//! both ways, never held whole.

use axum::body::Body;
use axum::extract::{OriginalUri, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use plinth_core::tracking::safe_relative_path;
use serde_json::{json, Value};

use super::entities;
use super::schema;
use super::wire::{Message, MlflowError, MlflowResult};
use super::{Params, Scoped};
use crate::AppState;

/// The path the artifact proxy lives under; what precedes it in a request is the prefix
/// (empty, or `/projects/{organization}/{project}`).
const ARTIFACTS_ROOT: &str = "/api/2.0/mlflow-artifacts/";

pub(crate) async fn list_artifacts(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Json<Value>> {
    let message = message.checked(&schema::LIST_PROXIED_ARTIFACTS)?;
    let path = match message.opt_str("path")? {
        Some(path) => safe_relative_path(&path)?,
        None => String::new(),
    };
    let files = service.list_artifacts(&pass, &path).await?;
    Ok(Json(entities::page(
        "files",
        files.iter().map(entities::file_info).collect(),
        None,
    )))
}

pub(crate) async fn download_artifact(
    Scoped(service, pass): Scoped,
    params: Params,
) -> MlflowResult<Response> {
    let path = safe_relative_path(&params.get("artifact_path")?)?;
    let (info, stream) = service.get_artifact(&pass, &path).await?;
    let file_name = path.rsplit('/').next().unwrap_or("artifact");
    Ok(artifact_response(
        info.size,
        stream,
        file_name,
        Disposition::Attachment,
    ))
}

/// How an artifact is handed to a browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// A download.
    Attachment,
    /// Shown in the page (`<img>`) when it is one of [`preview_image_type`]'s images; a
    /// download otherwise.
    InlineImage,
}

/// The answer streaming an artifact. Artifacts are anyone's uploads: they are served in a
/// CSP sandbox, markup and scripts as plain text, and as attachments unless an image is
/// asked for inline.
pub(crate) fn artifact_response<S, E>(
    size: u64,
    stream: S,
    file_name: &str,
    disposition: Disposition,
) -> Response
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<axum::BoxError>,
{
    let image = preview_image_type(file_name).filter(|_| disposition == Disposition::InlineImage);
    let safe_name = file_name.replace(['"', '\\', '\r', '\n'], "_");
    let (content_type, content_disposition) = match image {
        Some(image) => (image, format!("inline; filename=\"{safe_name}\"")),
        None => (
            content_type_of(file_name),
            format!("attachment; filename=\"{safe_name}\""),
        ),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, content_disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The content type of an image a page may show inline (`<img>` never runs scripts, and
/// the sandbox keeps an SVG opened on its own inert), or `None`.
pub(crate) fn preview_image_type(file_name: &str) -> Option<&'static str> {
    let extension = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    match extension.as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        "webp" => Some("image/webp"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

/// The content type an artifact is served with: guessed from its name, but markup and
/// scripts, which a browser could run, are served as plain text.
fn content_type_of(file_name: &str) -> &'static str {
    let guessed = mime_guess::from_path(file_name)
        .first_raw()
        .unwrap_or("application/octet-stream");
    let active = guessed.contains("html")
        || guessed.contains("javascript")
        || guessed.contains("xml")
        || guessed.starts_with("image/svg");
    if active {
        "text/plain; charset=utf-8"
    } else {
        guessed
    }
}

pub(crate) async fn upload_artifact(
    Scoped(service, pass): Scoped,
    params: Params,
    request: Request,
) -> MlflowResult<Json<Value>> {
    let path = safe_relative_path(&params.get("artifact_path")?)?;
    let stream = request.into_body().into_data_stream().boxed();
    service.put_artifact(&pass, &path, stream).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_artifact(
    Scoped(service, pass): Scoped,
    params: Params,
) -> MlflowResult<Json<Value>> {
    let path = safe_relative_path(&params.get("artifact_path")?)?;
    service.delete_artifact(&pass, &path).await?;
    Ok(Json(json!({})))
}

/// The URL parts are uploaded to: this server, at the same prefix the client used.
fn part_url(headers: &HeaderMap, uri: &http::Uri, upload_id: &str, part: i64) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .filter(|scheme| matches!(*scheme, "http" | "https"))
        .unwrap_or("http");
    let path = uri.path();
    let prefix = path.find(ARTIFACTS_ROOT).map_or("", |at| &path[..at]);
    format!("{scheme}://{host}{prefix}{ARTIFACTS_ROOT}mpu/part/{upload_id}/{part}")
}

pub(crate) async fn create_multipart_upload(
    Scoped(service, pass): Scoped,
    params: Params,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    message: Message,
) -> MlflowResult<Json<Value>> {
    let path = safe_relative_path(&params.get("artifact_path")?)?;
    let message = message.checked(&schema::CREATE_MULTIPART_UPLOAD)?;
    let num_parts = message.opt_i64("num_parts")?.unwrap_or(1);
    // As MLflow's server: the URL names the folder, `path` the client's local file, whose
    // base name is the artifact's name.
    let local_file = message.str("path")?;
    let file_name = local_file
        .rsplit(['/', '\\'])
        .next()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            MlflowError::invalid(format!(
                "Invalid value '{local_file}' for parameter 'path': names no file"
            ))
        })?;
    let target = format!("{}/{file_name}", path.trim_end_matches('/'));
    let upload = service
        .create_multipart_upload(&pass, &target, num_parts)
        .await?;
    let credentials: Vec<Value> = upload
        .part_numbers
        .iter()
        .map(|&part| {
            json!({
                "url": part_url(&headers, &uri, &upload.upload_id, part),
                "part_number": part,
                "headers": {},
            })
        })
        .collect();
    Ok(Json(
        json!({ "upload_id": upload.upload_id, "credentials": credentials }),
    ))
}

/// Receives one part. The upload id in the URL is the capability (the client sends parts
/// without credentials, as it would to a presigned S3 URL).
pub(crate) async fn upload_part(
    axum::extract::State(state): axum::extract::State<AppState>,
    params: Params,
    request: Request,
) -> MlflowResult<Response> {
    let upload_id = params.get("upload_id")?;
    let part: i64 = params
        .get("part_number")?
        .parse()
        .map_err(|_| MlflowError::invalid("the part number must be an integer"))?;
    let stream = request.into_body().into_data_stream().boxed();
    let etag = state
        .tracking()
        .put_upload_part(&upload_id, part, stream)
        .await?;
    Ok((StatusCode::OK, [(header::ETAG, etag)]).into_response())
}

pub(crate) async fn complete_multipart_upload(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Json<Value>> {
    let message = message.checked(&schema::FINISH_MULTIPART_UPLOAD)?;
    let upload_id = message.str("upload_id")?;
    service.complete_multipart_upload(&pass, &upload_id).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn abort_multipart_upload(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Json<Value>> {
    let message = message.checked(&schema::FINISH_MULTIPART_UPLOAD)?;
    let upload_id = message.str("upload_id")?;
    service.abort_multipart_upload(&pass, &upload_id).await?;
    Ok(Json(json!({})))
}

/// MLflow's presigned downloads: Plinth streams downloads itself and says so in
/// `server-info` (`multipart_downloads_enabled: false`).
pub(crate) async fn presigned_download() -> MlflowError {
    MlflowError::not_implemented("presigned artifact downloads")
}
