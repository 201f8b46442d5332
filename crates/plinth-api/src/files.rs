//! The files API: the caller's S3 access keys under `/api/v1/me/s3-keys` (create, list,
//! revoke). The S3 endpoint itself is `plinth_files::s3`, on a listener of its own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_api_types::{S3KeyCreated, S3KeyList, S3KeyRequest};

use crate::identity::Authenticated;
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

/// Lists the caller's S3 access keys (never their secrets) and the endpoint's URL.
#[utoipa::path(get, path = "/api/v1/me/s3-keys", tag = "me", responses((status = 200, body = S3KeyList)))]
pub(crate) async fn list_s3_keys(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<S3KeyList>> {
    let keys = state.files().list_keys(&principal).await?;
    Ok(Json(S3KeyList {
        keys,
        endpoint_url: state.files().endpoint_url(),
    }))
}

/// Creates an S3 access key for the caller, optionally limited to one project and to
/// reading; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/me/s3-keys", tag = "me", request_body = S3KeyRequest, responses((status = 201, body = S3KeyCreated), (status = 404, body = plinth_types::ErrorBody)))]
pub(crate) async fn create_s3_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(request): ApiJson<S3KeyRequest>,
) -> ApiResult<(StatusCode, Json<S3KeyCreated>)> {
    let (key, secret_access_key) = state
        .files()
        .create_key(&principal, request.project.as_deref(), request.read_only)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(S3KeyCreated {
            key,
            secret_access_key,
            endpoint_url: state.files().endpoint_url(),
        }),
    ))
}

/// Revokes one of the caller's S3 access keys: requests signed with it fail at once.
#[utoipa::path(delete, path = "/api/v1/me/s3-keys/{access_key_id}", tag = "me", params(("access_key_id" = String, Path)), responses((status = 204), (status = 404, body = plinth_types::ErrorBody)))]
pub(crate) async fn revoke_s3_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(access_key_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.files().revoke_key(&principal, &access_key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
