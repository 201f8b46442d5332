//! The OpenAPI document, generated from the handlers' annotations: every route registered
//! through [`api_router`] appears in it, so the document cannot drift from the code.

use axum::Json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{health, metrics, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plinth API",
        description = "The platform REST API of Plinth, a self-hosted MLOps platform.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "Health, readiness, metrics and server status"),
    ),
    components(schemas(plinth_types::ErrorBody, plinth_types::ErrorKind))
)]
struct ApiDoc;

/// Returns the API routes together with their OpenAPI document.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::status))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
}

/// Returns the OpenAPI document of every API route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = api_router().split_for_parts();
    document.info.version = plinth_types::VERSION.to_string();
    document
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    static DOCUMENT: std::sync::LazyLock<utoipa::openapi::OpenApi> =
        std::sync::LazyLock::new(openapi_document);
    Json(&DOCUMENT)
}
