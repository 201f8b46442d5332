//! The OpenAPI document, generated from the handlers' annotations: every route registered
//! through [`api_router`] appears in it, so the document cannot drift from the code.

use axum::Json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::apps;
use crate::deployments as dep;
use crate::environments as env;
use crate::files;
use crate::identity as id;
use crate::runtime as rt;
use crate::{health, metrics, AppState};

struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a personal API token, `plt_…`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plinth API",
        description = "The platform REST API of Plinth, a self-hosted MLOps platform.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "Health, readiness, metrics and server status"),
        (name = "auth", description = "Logging in and out, sign-up"),
        (name = "me", description = "The caller's profile, password, MFA, API tokens and S3 access keys"),
        (name = "users", description = "User administration and auth settings (admins)"),
        (name = "organizations", description = "Organizations and their members"),
        (name = "projects", description = "Projects, members and roles"),
        (name = "audit", description = "The audit log (admins)"),
        (name = "runtime", description = "Node pools, resource classes, quotas, snapshots and the usage ledger"),
        (name = "jobs", description = "Jobs: submit, list, stop, re-run, logs"),
        (name = "environments", description = "Environments: versions, locks, builds and their logs"),
        (name = "apps", description = "Apps: web apps served by the gateway on origins of their own"),
        (name = "deployments", description = "Model APIs: registered model versions served at `/{organization}/{project}/models/{deployment}` (MLflow scoring and the Open Inference Protocol)"),
    ),
    modifiers(&BearerSecurity),
    components(schemas(plinth_types::ErrorBody, plinth_types::ErrorKind))
)]
struct ApiDoc;

/// Returns the API routes together with their OpenAPI document.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(rt::runtime_info))
        .routes(routes!(rt::list_pools))
        .routes(routes!(rt::put_pool, rt::delete_pool))
        .routes(routes!(rt::list_classes))
        .routes(routes!(rt::put_class, rt::delete_class))
        .routes(routes!(rt::platform_usage))
        .routes(routes!(rt::get_quota, rt::put_quota))
        .routes(routes!(rt::project_usage))
        .routes(routes!(rt::put_snapshot, rt::get_snapshot))
        .routes(routes!(rt::list_jobs, rt::submit_job))
        .routes(routes!(rt::get_job))
        .routes(routes!(rt::stop_job))
        .routes(routes!(rt::rerun_job))
        .routes(routes!(rt::job_logs))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app))
        .routes(routes!(apps::stop_app))
        .routes(routes!(apps::app_logs))
        .routes(routes!(dep::list_deployments, dep::create_deployment))
        .routes(routes!(dep::get_deployment, dep::delete_deployment))
        .routes(routes!(
            env::list_project_environments,
            env::create_project_environment
        ))
        .routes(routes!(
            env::get_project_environment,
            env::update_project_environment,
            env::delete_project_environment
        ))
        .routes(routes!(env::project_environment_versions))
        .routes(routes!(env::build_project_environment))
        .routes(routes!(env::project_environment_logs))
        .routes(routes!(
            env::list_global_environments,
            env::create_global_environment
        ))
        .routes(routes!(
            env::get_global_environment,
            env::update_global_environment,
            env::delete_global_environment
        ))
        .routes(routes!(env::global_environment_versions))
        .routes(routes!(env::build_global_environment))
        .routes(routes!(env::global_environment_logs))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::status))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(id::login))
        .routes(routes!(id::signup))
        .routes(routes!(id::logout))
        .routes(routes!(id::me, id::update_me))
        .routes(routes!(id::change_password))
        .routes(routes!(id::begin_mfa))
        .routes(routes!(id::confirm_mfa))
        .routes(routes!(id::disable_mfa))
        .routes(routes!(id::list_tokens, id::create_token))
        .routes(routes!(id::revoke_token))
        .routes(routes!(files::list_s3_keys, files::create_s3_key))
        .routes(routes!(files::revoke_s3_key))
        .routes(routes!(id::list_users, id::create_user))
        .routes(routes!(id::get_user, id::update_user))
        .routes(routes!(id::reset_password))
        .routes(routes!(id::reset_mfa))
        .routes(routes!(id::get_auth_settings, id::put_auth_settings))
        .routes(routes!(id::list_directories))
        .routes(routes!(id::test_directory_connection))
        .routes(routes!(id::test_directory_login))
        .routes(routes!(id::sync_directories))
        .routes(routes!(id::list_organizations, id::create_organization))
        .routes(routes!(id::get_organization, id::delete_organization))
        .routes(routes!(id::list_organization_members))
        .routes(routes!(
            id::set_organization_member,
            id::remove_organization_member
        ))
        .routes(routes!(id::list_projects))
        .routes(routes!(id::create_project))
        .routes(routes!(
            id::get_project,
            id::update_project,
            id::delete_project
        ))
        .routes(routes!(id::list_project_members))
        .routes(routes!(id::set_project_member, id::remove_project_member))
        .routes(routes!(id::list_audit))
        .routes(routes!(id::export_audit))
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
