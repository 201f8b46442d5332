//! Static assets embedded in the binary, served with an ETag and revalidation.

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
#[exclude = "*.md"]
struct Assets;

pub(crate) async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    respond(&path, &headers)
}

pub(crate) async fn favicon(headers: HeaderMap) -> Response {
    respond("favicon.svg", &headers)
}

fn respond(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return super::error_page(StatusCode::NOT_FOUND, "This asset does not exist.");
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag));
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let common = [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            "public, max-age=300, must-revalidate".to_string(),
        ),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, mime.essence_str().to_string())],
        file.data.into_owned(),
    )
        .into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
