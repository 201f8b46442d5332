//! Model API endpoints on the main origin, under `/{organization}/{project}/models/{deployment}`:
//! MLflow's scoring protocol (`/invocations`, `/ping`, `/health`, `/version`) and the Open
//! Inference Protocol (`/v2/…`), answered by `plinth-serving` in this process.
//!
//! Every request authenticates (`Authorization: Bearer plt_…`, a personal or project token,
//! or the session cookie with its CSRF header on `POST`) and needs the Viewer role in the
//! project; errors are each protocol's own shape (MLflow's `{error_code, message}`, the
//! Open Inference Protocol's `{error}`), never a page. Answers are data: `nosniff`, a
//! sandboxing `Content-Security-Policy` and `no-store`. Predictions are counted and timed
//! per deployment in the metrics registry.
//!
//! These routes are not in the OpenAPI document (they are MLflow's and KServe's
//! protocols); their authorization matrix is `serving_authz_tests.rs`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use plinth_core::ProjectPass;
use plinth_serving::protocol::{mlflow, v2};
use plinth_serving::{Endpoint, ServingError};
use plinth_types::{ErrorKind, Role};
use serde::Serialize;
use serde_json::json;

use crate::{ApiError, AppState};

/// Where every Model API route starts.
pub(crate) const PREFIX: &str = "/{organization}/{project}/models/{deployment}";

/// The policy of every answer: data, never a document that runs anything.
const SANDBOX_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// The last segments of Model API paths (after `/{organization}/{project}/models/{name}/`).
const ENDPOINTS: [&str; 5] = ["invocations", "ping", "health", "version", "v2"];

/// Returns whether `path` is a Model API path (answered in JSON, never as a page).
pub(crate) fn is_model_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    segments.len() >= 5 && segments[2] == "models" && ENDPOINTS.contains(&segments[4])
}

/// Which protocol answers a request, and so shapes its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Mlflow,
    V2,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Mlflow => "mlflow",
            Protocol::V2 => "v2",
        }
    }
}

pub(crate) fn router() -> Router<AppState> {
    let v2_model = format!("{PREFIX}/v2/models/{{model}}");
    Router::new()
        .route(&format!("{PREFIX}/invocations"), post(invocations))
        .route(&format!("{PREFIX}/ping"), get(ping))
        .route(&format!("{PREFIX}/health"), get(ping))
        .route(&format!("{PREFIX}/version"), get(version))
        .route(&format!("{PREFIX}/v2"), get(server_metadata))
        .route(&format!("{PREFIX}/v2/health/live"), get(live))
        .route(&format!("{PREFIX}/v2/health/ready"), get(server_ready))
        .route(&v2_model, get(model_metadata))
        .route(&format!("{v2_model}/ready"), get(model_ready))
        .route(&format!("{v2_model}/infer"), post(infer))
        .route(
            &format!("{v2_model}/versions/{{version}}"),
            get(versioned_metadata),
        )
        .route(
            &format!("{v2_model}/versions/{{version}}/ready"),
            get(versioned_ready),
        )
        .route(
            &format!("{v2_model}/versions/{{version}}/infer"),
            post(versioned_infer),
        )
}

/// Adds the headers every Model API answer carries.
fn data_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => data_headers(
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response(),
        ),
        Err(error) => {
            tracing::error!(%error, "cannot write a Model API answer");
            error_response(
                Protocol::Mlflow,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
            )
        }
    }
}

fn error_response(protocol: Protocol, status: StatusCode, message: String) -> Response {
    let mut response = match protocol {
        Protocol::Mlflow => json_response(
            status,
            &mlflow::ErrorBody {
                error_code: mlflow::error_code(status.as_u16()),
                message,
            },
        ),
        Protocol::V2 => json_response(status, &v2::ErrorBody { error: message }),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Answers a platform error (authentication, authorization) in the protocol's shape.
fn api_error(protocol: Protocol, error: ApiError) -> Response {
    let status = error.status();
    let message = if status.is_server_error() && error.kind() != ErrorKind::Unavailable {
        tracing::error!(error = %error.message(), "Model API request failed");
        "internal error".to_string()
    } else {
        error.message().to_string()
    };
    error_response(protocol, status, message)
}

/// Answers a serving error in the protocol's shape (415 for a content type it does not take).
fn serving_error(protocol: Protocol, error: ServingError) -> Response {
    let status =
        StatusCode::from_u16(error.protocol_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(error = %crate::error_chain(&error), "Model API request failed");
        return error_response(protocol, status, "internal error".to_string());
    }
    error_response(protocol, status, error.to_string())
}

/// The caller, authorized to read the project (Viewer).
async fn authorize(
    state: &AppState,
    parts: &axum::http::request::Parts,
    organization: &str,
    project: &str,
) -> Result<ProjectPass, ApiError> {
    let principal = crate::identity::authenticate_caller(parts, state).await?;
    Ok(state
        .identity()
        .authorize_project(&principal, organization, project, Role::Viewer)
        .await?)
}

/// The request's body, refused past `serving.max_request_bytes`.
async fn read_body(
    state: &AppState,
    body: Body,
    declared: Option<u64>,
) -> Result<bytes::Bytes, ServingError> {
    let limit = state.settings().max_model_request_bytes;
    if declared.is_some_and(|length| length > limit) {
        return Err(ServingError::TooLarge(limit));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit_usize)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
                || error.to_string().contains("length limit");
            if too_large {
                ServingError::TooLarge(limit)
            } else {
                ServingError::BadInput(format!("the request body broke off: {error}"))
            }
        })
}

fn header_text<'a>(parts: &'a axum::http::request::Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
}

/// Resolves and loads the deployment, answering in `protocol`'s shape when it cannot.
async fn endpoint(
    state: &AppState,
    protocol: Protocol,
    parts: &axum::http::request::Parts,
    (organization, project, deployment): (&str, &str, &str),
) -> Result<(ProjectPass, Endpoint), Response> {
    let pass = authorize(state, parts, organization, project)
        .await
        .map_err(|error| api_error(protocol, error))?;
    let endpoint = state
        .serving()
        .endpoint(&pass, deployment)
        .await
        .map_err(|error| serving_error(protocol, error))?;
    Ok((pass, endpoint))
}

/// MLflow's `POST /invocations`.
async fn invocations(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let protocol = Protocol::Mlflow;
    let (parts, body) = request.into_parts();
    let (_, endpoint) = match endpoint(
        &state,
        protocol,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let declared = header_text(&parts, "content-length").and_then(|value| value.parse().ok());
    let outcome = async {
        let body = read_body(&state, body, declared).await?;
        let payload = mlflow::parse_request(header_text(&parts, "content-type"), &body)?;
        state
            .serving()
            .predict(endpoint.model.clone(), payload)
            .await
    }
    .await;
    let response = match outcome {
        Ok(prediction) => json_response(StatusCode::OK, &mlflow::Predictions(&prediction)),
        Err(error) => serving_error(protocol, error),
    };
    record(
        &state,
        &organization,
        &project,
        &endpoint,
        protocol,
        &response,
        started,
    );
    response
}

fn record(
    state: &AppState,
    organization: &str,
    project: &str,
    endpoint: &Endpoint,
    protocol: Protocol,
    response: &Response,
    started: Instant,
) {
    state.metrics().record_model_request(
        &format!("{organization}/{project}"),
        &endpoint.deployment.name,
        &endpoint.deployment.model_version.to_string(),
        protocol.label(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
}

/// MLflow's `GET /ping` and `/health`: 200 once the model is loaded (it is loaded now if it
/// was not), 503 with the reason otherwise.
async fn ping(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match endpoint(
        &state,
        Protocol::Mlflow,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok(_) => data_headers(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "\n",
            )
                .into_response(),
        ),
        Err(response) => response,
    }
}

/// MLflow's `GET /version`: the server's version.
async fn version(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let pass = match authorize(&state, &parts, &organization, &project).await {
        Ok(pass) => pass,
        Err(error) => return api_error(Protocol::Mlflow, error),
    };
    if let Err(error) = state.serving().get(&pass, &deployment).await {
        return serving_error(Protocol::Mlflow, error);
    }
    data_headers(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            plinth_types::VERSION,
        )
            .into_response(),
    )
}

/// Open Inference Protocol server metadata.
async fn server_metadata(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let pass = match authorize(&state, &parts, &organization, &project).await {
        Ok(pass) => pass,
        Err(error) => return api_error(Protocol::V2, error),
    };
    if let Err(error) = state.serving().get(&pass, &deployment).await {
        return serving_error(Protocol::V2, error);
    }
    json_response(
        StatusCode::OK,
        &json!({ "name": "plinth", "version": plinth_types::VERSION, "extensions": ["binary_tensor_data"] }),
    )
}

/// `GET /v2/health/live`: the deployment exists (and the server answers).
async fn live(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let pass = match authorize(&state, &parts, &organization, &project).await {
        Ok(pass) => pass,
        Err(error) => return api_error(Protocol::V2, error),
    };
    match state.serving().get(&pass, &deployment).await {
        Ok(_) => json_response(StatusCode::OK, &json!({ "live": true })),
        Err(error) => serving_error(Protocol::V2, error),
    }
}

/// `GET /v2/health/ready`: the model is loaded (loaded now if it was not).
async fn server_ready(
    State(state): State<AppState>,
    Path((organization, project, deployment)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match endpoint(
        &state,
        Protocol::V2,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok(_) => json_response(StatusCode::OK, &json!({ "ready": true })),
        Err(response) => response,
    }
}

/// Returns the 404 for a `{model}` (or `{version}`) of a v2 path that is not this
/// deployment's; `None` when it is.
fn model_mismatch(endpoint: &Endpoint, model: &str, version: Option<&str>) -> Option<Response> {
    let deployment = &endpoint.deployment;
    if model != deployment.name {
        return Some(error_response(
            Protocol::V2,
            StatusCode::NOT_FOUND,
            format!(
                "model `{model}` not found: this endpoint serves `{}`",
                deployment.name
            ),
        ));
    }
    if let Some(version) = version {
        if version != deployment.model_version.to_string() {
            return Some(error_response(
                Protocol::V2,
                StatusCode::NOT_FOUND,
                format!(
                    "version `{version}` of model `{model}` not found: it serves version {}",
                    deployment.model_version
                ),
            ));
        }
    }
    None
}

async fn metadata_of(
    state: &AppState,
    request: Request,
    path: (String, String, String),
    model: &str,
    version: Option<&str>,
) -> Response {
    let (parts, _) = request.into_parts();
    let (organization, project, deployment) = path;
    let endpoint = match endpoint(
        state,
        Protocol::V2,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok((_, endpoint)) => endpoint,
        Err(response) => return response,
    };
    if let Some(response) = model_mismatch(&endpoint, model, version) {
        return response;
    }
    json_response(
        StatusCode::OK,
        &v2::ModelMetadata::new(
            &endpoint.deployment.name,
            endpoint.deployment.model_version,
            &endpoint.model.interface,
        ),
    )
}

async fn ready_of(
    state: &AppState,
    request: Request,
    path: (String, String, String),
    model: &str,
    version: Option<&str>,
) -> Response {
    let (parts, _) = request.into_parts();
    let (organization, project, deployment) = path;
    let endpoint = match endpoint(
        state,
        Protocol::V2,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok((_, endpoint)) => endpoint,
        Err(response) => return response,
    };
    if let Some(response) = model_mismatch(&endpoint, model, version) {
        return response;
    }
    json_response(
        StatusCode::OK,
        &json!({ "name": endpoint.deployment.name, "ready": true }),
    )
}

/// `GET /v2/models/{model}`: the model's inputs and outputs.
async fn model_metadata(
    State(state): State<AppState>,
    Path((organization, project, deployment, model)): Path<(String, String, String, String)>,
    request: Request,
) -> Response {
    metadata_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        None,
    )
    .await
}

/// `GET /v2/models/{model}/versions/{version}`.
async fn versioned_metadata(
    State(state): State<AppState>,
    Path((organization, project, deployment, model, version)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    request: Request,
) -> Response {
    metadata_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        Some(&version),
    )
    .await
}

/// `GET /v2/models/{model}/ready`.
async fn model_ready(
    State(state): State<AppState>,
    Path((organization, project, deployment, model)): Path<(String, String, String, String)>,
    request: Request,
) -> Response {
    ready_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        None,
    )
    .await
}

/// `GET /v2/models/{model}/versions/{version}/ready`.
async fn versioned_ready(
    State(state): State<AppState>,
    Path((organization, project, deployment, model, version)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    request: Request,
) -> Response {
    ready_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        Some(&version),
    )
    .await
}

async fn infer_of(
    state: &AppState,
    request: Request,
    path: (String, String, String),
    model: &str,
    version: Option<&str>,
) -> Response {
    let started = Instant::now();
    let protocol = Protocol::V2;
    let (parts, body) = request.into_parts();
    let (organization, project, deployment) = path;
    let endpoint = match endpoint(
        state,
        protocol,
        &parts,
        (&organization, &project, &deployment),
    )
    .await
    {
        Ok((_, endpoint)) => endpoint,
        Err(response) => return response,
    };
    if let Some(response) = model_mismatch(&endpoint, model, version) {
        return response;
    }
    let declared = header_text(&parts, "content-length").and_then(|value| value.parse().ok());
    let outcome = async {
        let body = read_body(state, body, declared).await?;
        let request = v2::parse_infer(
            header_text(&parts, "content-type"),
            header_text(&parts, "inference-header-content-length"),
            &body,
        )?;
        let prediction = state
            .serving()
            .predict(endpoint.model.clone(), request.payload)
            .await?;
        let outputs = v2::select_outputs(prediction, request.outputs.as_deref())?;
        Ok::<_, ServingError>((request.id, outputs))
    }
    .await;
    let response = match outcome {
        Ok((id, outputs)) => json_response(
            StatusCode::OK,
            &v2::InferResponse {
                model_name: &endpoint.deployment.name,
                model_version: endpoint.deployment.model_version.to_string(),
                id: id.as_deref(),
                outputs: &outputs,
            },
        ),
        Err(error) => serving_error(protocol, error),
    };
    record(
        state,
        &organization,
        &project,
        &endpoint,
        protocol,
        &response,
        started,
    );
    response
}

/// `POST /v2/models/{model}/infer`.
async fn infer(
    State(state): State<AppState>,
    Path((organization, project, deployment, model)): Path<(String, String, String, String)>,
    request: Request,
) -> Response {
    infer_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        None,
    )
    .await
}

/// `POST /v2/models/{model}/versions/{version}/infer`.
async fn versioned_infer(
    State(state): State<AppState>,
    Path((organization, project, deployment, model, version)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    request: Request,
) -> Response {
    infer_of(
        &state,
        request,
        (organization, project, deployment),
        &model,
        Some(&version),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::is_model_path;

    #[test]
    fn model_paths_are_told_from_pages() {
        assert!(is_model_path("/acme/churn/models/iris/invocations"));
        assert!(is_model_path(
            "/acme/churn/models/iris/v2/models/iris/infer"
        ));
        assert!(is_model_path("/acme/churn/models/iris/ping"));
        // The jobs page of a project called `models`, and the registry pages.
        assert!(!is_model_path("/projects/acme/models/jobs"));
        assert!(!is_model_path("/projects/acme/churn/models/iris"));
        assert!(!is_model_path("/projects/acme/models/jobs/new"));
        assert!(!is_model_path("/acme/churn/models/iris"));
    }
}
