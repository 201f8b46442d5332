//! Handlers of `/api/v1/admin/directories`: the configured LDAP / Active Directory
//! directories, their "test connection" and "test login" buttons, and a sync on demand
//! (admins only).

use axum::extract::{Path, State};
use axum::Json;
use plinth_api_types::{
    DirectoryAccountView, DirectoryLoginTest, DirectorySyncView, DirectoryTestResult, DirectoryView,
};
use plinth_core::{CoreError, DirectoryInfo, ExternalAccount};

use super::{Authenticated, ClientInfoExtractor};
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

fn directory_view(info: DirectoryInfo) -> DirectoryView {
    DirectoryView {
        name: info.name,
        url: info.url,
        security: info.security,
        user_base: info.user_base,
        user_filter: info.user_filter,
    }
}

/// What the admin page and API show of the account a directory user would get.
pub(crate) fn account_view(account: ExternalAccount) -> DirectoryAccountView {
    DirectoryAccountView {
        username: account.username,
        email: account.email,
        display_name: account.display_name,
        groups: account.groups,
        platform_admin: account.grants.platform_admin,
        organizations: account
            .grants
            .organizations
            .iter()
            .map(|(organization, role)| format!("{organization}: {}", role.as_str()))
            .collect(),
        projects: account
            .grants
            .projects
            .iter()
            .map(|((organization, project), role)| format!("{organization}/{project}: {role}"))
            .collect(),
    }
}

/// Turns a directory's refusal or unavailability into a result the admin reads; other
/// errors (not an admin, unknown directory) stay errors.
fn test_outcome(
    result: Result<DirectoryTestResult, CoreError>,
) -> ApiResult<Json<DirectoryTestResult>> {
    match result {
        Ok(result) => Ok(Json(result)),
        Err(error @ (CoreError::Unavailable(_) | CoreError::Unauthenticated(_))) => {
            Ok(Json(DirectoryTestResult {
                ok: false,
                message: error.to_string(),
                account: None,
            }))
        }
        Err(CoreError::InvalidArgument(message)) => Ok(Json(DirectoryTestResult {
            ok: false,
            message,
            account: None,
        })),
        Err(error) => Err(error.into()),
    }
}

/// Lists the configured directories (admins).
#[utoipa::path(get, path = "/api/v1/admin/directories", tag = "users", responses((status = 200, body = Vec<DirectoryView>)))]
pub(crate) async fn list_directories(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<Vec<DirectoryView>>> {
    Ok(Json(
        state
            .identity()
            .list_directories(&principal)?
            .into_iter()
            .map(directory_view)
            .collect(),
    ))
}

/// Connects to a directory and binds with its service account (admins). A failure is a
/// 200 answer with `ok: false` and the reason.
#[utoipa::path(post, path = "/api/v1/admin/directories/{name}/test-connection", tag = "users",
    params(("name" = String, Path, description = "the directory's name")),
    responses((status = 200, body = DirectoryTestResult), (status = 404, description = "no such directory")))]
pub(crate) async fn test_directory_connection(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
) -> ApiResult<Json<DirectoryTestResult>> {
    principal.require_write()?;
    let result = state
        .identity()
        .test_directory_connection(&principal, &name, &client)
        .await
        .map(|message| DirectoryTestResult {
            ok: true,
            message,
            account: None,
        });
    test_outcome(result)
}

/// Checks a directory user's password and shows the account and roles they would get,
/// without creating or changing anything (admins).
#[utoipa::path(post, path = "/api/v1/admin/directories/{name}/test-login", tag = "users",
    params(("name" = String, Path, description = "the directory's name")),
    request_body = DirectoryLoginTest,
    responses((status = 200, body = DirectoryTestResult), (status = 404, description = "no such directory")))]
pub(crate) async fn test_directory_login(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<DirectoryLoginTest>,
) -> ApiResult<Json<DirectoryTestResult>> {
    if request.username.trim().is_empty() {
        return Err(CoreError::InvalidArgument("`username` must not be empty".to_string()).into());
    }
    let result = state
        .identity()
        .test_directory_login(
            &principal,
            &name,
            &request.username,
            &request.password,
            &client,
        )
        .await
        .map(|account| DirectoryTestResult {
            ok: true,
            message: format!(
                "`{}` would log in as `{}`",
                request.username.trim(),
                account.username
            ),
            account: Some(account_view(account)),
        });
    test_outcome(result)
}

/// Looks every directory account up again now: deleted or disabled ones are deactivated
/// (their sessions and tokens end), the others updated (admins).
#[utoipa::path(post, path = "/api/v1/admin/directories/sync", tag = "users",
    responses((status = 200, body = Vec<DirectorySyncView>)))]
pub(crate) async fn sync_directories(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<Vec<DirectorySyncView>>> {
    let reports = state.identity().sync_directories_now(&principal).await?;
    Ok(Json(
        reports
            .into_iter()
            .map(|report| DirectorySyncView {
                directory: report.directory,
                checked: report.checked as u64,
                updated: report.updated as u64,
                deactivated: report.deactivated as u64,
                error: report.error,
            })
            .collect(),
    ))
}
