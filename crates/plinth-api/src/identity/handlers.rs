//! Handlers of `/api/v1/auth`, `/api/v1/me`, `/api/v1/users`, `/api/v1/settings`,
//! `/api/v1/orgs`, `/api/v1/projects` and `/api/v1/audit`. Each one authenticates, calls
//! the identity service (which authorizes and audits), and maps the result to JSON.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_api_types::{
    AuditListQuery, CodeRequest, CreateOrganizationRequest, CreateProjectRequest,
    CreateUserRequest, LoginRequest, LoginResponse, MeResponse, MfaEnrollmentResponse,
    PasswordChange, PasswordReset, ProfileUpdate, ProjectListQuery, ProjectView, RecoveryCodes,
    RoleRequest, SignupRequest, TokenRequest, TokenResponse, UpdateProjectRequest,
    UpdateUserRequest, UserListQuery,
};
use plinth_core::{AuditQuery, Credential, NewAccount, NewTokenRequest, UserUpdate};
use plinth_types::{
    ApiTokenInfo, AuditEvent, AuthSettingsView, ErrorKind, Member, OrgMember, OrgRole,
    Organization, Project, Role, User,
};

use super::{Authenticated, ClientInfoExtractor};
use crate::{ApiError, ApiJson, AppState};

type ApiResult<T> = Result<T, ApiError>;

fn audit_query(query: AuditListQuery, default_limit: i64) -> AuditQuery {
    AuditQuery {
        action_prefix: query.action,
        actor_name: query.actor,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
        before_id: query.before_id,
        limit: query.limit.unwrap_or(default_limit),
    }
}

fn days(days: Option<u64>, default: u64) -> ApiResult<Option<Duration>> {
    let days = days.unwrap_or(default);
    if days == 0 || days > 3650 {
        return Err(ApiError::new(
            ErrorKind::InvalidArgument,
            "invalid `expires_in_days`: must be 1 to 3650",
        ));
    }
    Ok(Some(Duration::from_secs(days * 86_400)))
}

fn split_project(text: &str) -> ApiResult<(String, String)> {
    match text.split_once('/') {
        Some((organization, project))
            if !organization.is_empty() && !project.is_empty() && !project.contains('/') =>
        {
            Ok((organization.to_string(), project.to_string()))
        }
        _ => Err(ApiError::new(
            ErrorKind::InvalidArgument,
            format!("invalid `project`: `{text}` is not `organization/project`"),
        )),
    }
}

fn role(text: &str) -> ApiResult<Role> {
    Role::parse(text).map_err(ApiError::from)
}

// ---------- auth ----------

/// Exchanges credentials (and a TOTP code when MFA is on) for a personal API token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = plinth_types::ErrorBody), (status = 429, body = plinth_types::ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let identity = state.identity();
    let lifetime = days(request.expires_in_days, 30)?;
    let mut outcome = identity
        .login(&request.username, &request.password, &client)
        .await?;
    if identity.must_enroll_mfa(outcome.user()).await? {
        return Err(ApiError::from(plinth_core::CoreError::Forbidden(
            "two-factor authentication is required on this server: log in to the web UI and enroll it on your profile first".to_string(),
        )));
    }
    if outcome.mfa_required() {
        let Some(code) = request
            .totp_code
            .as_deref()
            .filter(|code| !code.trim().is_empty())
        else {
            return Err(ApiError::new(
                ErrorKind::MfaRequired,
                "this account uses two-factor authentication: send `totp_code`",
            ));
        };
        outcome = identity
            .verify_second_factor(&outcome, code, &client)
            .await?;
    }
    let name = request.token_name.unwrap_or_else(|| {
        format!(
            "login {} {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            &plinth_types::new_id()[26..]
        )
    });
    let (info, token) = identity
        .issue_login_token(&outcome, name, lifetime, &client)
        .await?;
    Ok(Json(LoginResponse {
        token,
        info,
        user: outcome.user().clone(),
    }))
}

/// Creates an account, when self sign-up is enabled.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = User), (status = 403, body = plinth_types::ErrorBody)))]
pub(crate) async fn signup(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = state
        .identity()
        .sign_up(
            &request.username,
            &request.email,
            &request.display_name,
            &request.password,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Ends the caller's session, or revokes the token used for this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
) -> ApiResult<StatusCode> {
    if let Credential::Token { token_id, .. } = principal.credential() {
        state
            .identity()
            .revoke_token(&principal, &token_id.clone(), &client)
            .await?;
    }
    state.identity().logout(&principal, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- me ----------

/// Returns the caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, body = MeResponse), (status = 401, body = plinth_types::ErrorBody)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<MeResponse>> {
    let recovery_codes_left = state.identity().recovery_codes_left(&principal).await?;
    let (credential, csrf_token) = match principal.credential() {
        Credential::Session { csrf_token, .. } => ("session", Some(csrf_token.clone())),
        Credential::Token { .. } => ("token", None),
        Credential::AppVisit { .. } => ("app", None),
    };
    Ok(Json(MeResponse {
        user: principal.user().clone(),
        recovery_codes_left,
        credential: credential.to_string(),
        csrf_token,
    }))
}

/// Changes the caller's display name or email.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = ProfileUpdate, responses((status = 200, body = User)))]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<ProfileUpdate>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        state
            .identity()
            .update_profile(&principal, request.display_name, request.email, &client)
            .await?,
    ))
}

/// Changes the caller's password.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = PasswordChange, responses((status = 204), (status = 400, body = plinth_types::ErrorBody)))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .change_own_password(
            &principal,
            &request.current_password,
            &request.new_password,
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts TOTP enrollment: returns the secret and QR code once.
#[utoipa::path(post, path = "/api/v1/me/mfa", tag = "me", responses((status = 200, body = MfaEnrollmentResponse), (status = 409, body = plinth_types::ErrorBody)))]
pub(crate) async fn begin_mfa(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<MfaEnrollmentResponse>> {
    let enrollment = state.identity().begin_mfa_enrollment(&principal).await?;
    Ok(Json(MfaEnrollmentResponse {
        secret: enrollment.secret,
        otpauth_url: enrollment.otpauth_url,
        qr_svg: enrollment.qr_svg,
    }))
}

/// Confirms enrollment with a code from the app; returns the recovery codes once.
#[utoipa::path(post, path = "/api/v1/me/mfa/confirm", tag = "me", request_body = CodeRequest, responses((status = 200, body = RecoveryCodes)))]
pub(crate) async fn confirm_mfa(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes = state
        .identity()
        .confirm_mfa_enrollment(&principal, &request.code, &client)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Turns the caller's MFA off, proven by a current code.
#[utoipa::path(post, path = "/api/v1/me/mfa/disable", tag = "me", request_body = CodeRequest, responses((status = 204)))]
pub(crate) async fn disable_mfa(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .disable_own_mfa(&principal, &request.code, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the caller's tokens.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me", responses((status = 200, body = Vec<ApiTokenInfo>)))]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<Vec<ApiTokenInfo>>> {
    Ok(Json(state.identity().list_tokens(&principal).await?))
}

/// Creates a personal API token; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", request_body = TokenRequest, responses((status = 201, body = TokenResponse)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<TokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    let new = NewTokenRequest {
        name: request.name,
        lifetime: days(request.expires_in_days, 365)?,
        project: request.project.as_deref().map(split_project).transpose()?,
        read_only: request.read_only,
    };
    let (info, token) = state
        .identity()
        .create_token(&principal, &new, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token, info })))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{token_id}", tag = "me", params(("token_id" = String, Path)), responses((status = 204), (status = 404, body = plinth_types::ErrorBody)))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(token_id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .revoke_token(&principal, &token_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- users (admins) ----------

/// Lists users (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery), responses((status = 200, body = Vec<User>)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<UserListQuery>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(
        state
            .identity()
            .list_users(
                &principal,
                query.search.as_deref(),
                query.after.as_deref(),
                query.limit.unwrap_or(100),
            )
            .await?,
    ))
}

/// Creates a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest, responses((status = 201, body = User), (status = 409, body = plinth_types::ErrorBody)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let account = NewAccount {
        username: request.username,
        email: request.email,
        display_name: request.display_name,
        password: request.password,
        is_admin: request.is_admin,
    };
    let user = state
        .identity()
        .create_user(&principal, &account, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Returns a user (admins, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)), responses((status = 200, body = User)))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(username): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        state.identity().get_user(&principal, &username).await?,
    ))
}

/// Changes, deactivates or reactivates a user (admins).
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)), request_body = UpdateUserRequest, responses((status = 200, body = User)))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<User>> {
    let update = UserUpdate {
        email: request.email,
        display_name: request.display_name,
        is_admin: request.is_admin,
        is_active: request.is_active,
    };
    Ok(Json(
        state
            .identity()
            .update_user(&principal, &username, update, &client)
            .await?,
    ))
}

/// Sets a user's password (admins); their sessions end.
#[utoipa::path(post, path = "/api/v1/users/{username}/password", tag = "users", params(("username" = String, Path)), request_body = PasswordReset, responses((status = 204)))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
    ApiJson(request): ApiJson<PasswordReset>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .reset_password(&principal, &username, &request.password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's MFA so they can enroll again (admins).
#[utoipa::path(delete, path = "/api/v1/users/{username}/mfa", tag = "users", params(("username" = String, Path)), responses((status = 204)))]
pub(crate) async fn reset_mfa(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .reset_mfa(&principal, &username, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Returns the sign-up and MFA settings (admins).
#[utoipa::path(get, path = "/api/v1/settings/auth", tag = "users", responses((status = 200, body = AuthSettingsView)))]
pub(crate) async fn get_auth_settings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<AuthSettingsView>> {
    principal.require_admin()?;
    Ok(Json(state.identity().auth_settings().await?))
}

/// Changes the sign-up and MFA settings (admins).
#[utoipa::path(put, path = "/api/v1/settings/auth", tag = "users", request_body = AuthSettingsView, responses((status = 200, body = AuthSettingsView)))]
pub(crate) async fn put_auth_settings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<AuthSettingsView>,
) -> ApiResult<Json<AuthSettingsView>> {
    Ok(Json(
        state
            .identity()
            .update_auth_settings(&principal, &request, &client)
            .await?,
    ))
}

// ---------- organizations ----------

/// Lists the organizations the caller may see.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "organizations", responses((status = 200, body = Vec<Organization>)))]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<Vec<Organization>>> {
    Ok(Json(state.identity().list_organizations(&principal).await?))
}

/// Creates an organization (admins).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "organizations", request_body = CreateOrganizationRequest, responses((status = 201, body = Organization)))]
pub(crate) async fn create_organization(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    ApiJson(request): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<Organization>)> {
    let organization = state
        .identity()
        .create_organization(
            &principal,
            &request.name,
            &request.display_name,
            request.owner.as_deref(),
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(organization)))
}

/// Returns an organization the caller may see.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}", tag = "organizations", params(("organization" = String, Path)), responses((status = 200, body = Organization)))]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(organization): Path<String>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        state
            .identity()
            .authorize_organization(&principal, &organization, false)
            .await?
            .organization()
            .clone(),
    ))
}

/// Deletes an organization and all its projects (admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}", tag = "organizations", params(("organization" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_organization(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(organization): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .delete_organization(&principal, &organization, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists an organization's members.
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/members", tag = "organizations", params(("organization" = String, Path)), responses((status = 200, body = Vec<OrgMember>)))]
pub(crate) async fn list_organization_members(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(organization): Path<String>,
) -> ApiResult<Json<Vec<OrgMember>>> {
    let pass = state
        .identity()
        .authorize_organization(&principal, &organization, false)
        .await?;
    Ok(Json(
        state.identity().list_organization_members(&pass).await?,
    ))
}

/// Adds an organization member or changes their role (organization owners, admins).
#[utoipa::path(put, path = "/api/v1/orgs/{organization}/members/{username}", tag = "organizations", params(("organization" = String, Path), ("username" = String, Path)), request_body = RoleRequest, responses((status = 204)))]
pub(crate) async fn set_organization_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, username)): Path<(String, String)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> ApiResult<StatusCode> {
    let role = OrgRole::parse(&request.role)?;
    state
        .identity()
        .set_organization_member(&principal, &organization, &username, role, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an organization member (organization owners, admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}/members/{username}", tag = "organizations", params(("organization" = String, Path), ("username" = String, Path)), responses((status = 204)))]
pub(crate) async fn remove_organization_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .remove_organization_member(&principal, &organization, &username, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- projects ----------

/// Lists the caller's projects (admins with `all=true`: every project).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ProjectListQuery), responses((status = 200, body = Vec<ProjectView>)))]
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<ProjectListQuery>,
) -> ApiResult<Json<Vec<ProjectView>>> {
    let projects = state
        .identity()
        .list_projects(&principal, query.all, query.organization.as_deref())
        .await?;
    Ok(Json(
        projects
            .into_iter()
            .map(|(project, role)| ProjectView { project, role })
            .collect(),
    ))
}

/// Creates a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/orgs/{organization}/projects", tag = "projects", params(("organization" = String, Path)), request_body = CreateProjectRequest, responses((status = 201, body = Project)))]
pub(crate) async fn create_project(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(organization): Path<String>,
    ApiJson(request): ApiJson<CreateProjectRequest>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let project = state
        .identity()
        .create_project(
            &principal,
            &organization,
            &request.name,
            &request.display_name,
            &request.description,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// Returns a project (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}", tag = "projects", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = ProjectView)))]
pub(crate) async fn get_project(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<ProjectView>> {
    let pass = state
        .identity()
        .authorize_project(&principal, &organization, &project, Role::Viewer)
        .await?;
    Ok(Json(ProjectView {
        project: pass.project().clone(),
        role: pass.role(),
    }))
}

/// Changes a project's display name and description (owners).
#[utoipa::path(patch, path = "/api/v1/orgs/{organization}/projects/{project}", tag = "projects", params(("organization" = String, Path), ("project" = String, Path)), request_body = UpdateProjectRequest, responses((status = 200, body = Project)))]
pub(crate) async fn update_project(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
    ApiJson(request): ApiJson<UpdateProjectRequest>,
) -> ApiResult<Json<Project>> {
    Ok(Json(
        state
            .identity()
            .update_project(
                &principal,
                &organization,
                &project,
                &request.display_name,
                &request.description,
                &client,
            )
            .await?,
    ))
}

/// Deletes a project and everything in it (owners).
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}/projects/{project}", tag = "projects", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 204)))]
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .delete_project(&principal, &organization, &project, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a project's members (members).
#[utoipa::path(get, path = "/api/v1/orgs/{organization}/projects/{project}/members", tag = "projects", params(("organization" = String, Path), ("project" = String, Path)), responses((status = 200, body = Vec<Member>)))]
pub(crate) async fn list_project_members(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((organization, project)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Member>>> {
    let pass = state
        .identity()
        .authorize_project(&principal, &organization, &project, Role::Viewer)
        .await?;
    Ok(Json(state.identity().list_project_members(&pass).await?))
}

/// Adds a member or changes their role (owners).
#[utoipa::path(put, path = "/api/v1/orgs/{organization}/projects/{project}/members/{username}", tag = "projects", params(("organization" = String, Path), ("project" = String, Path), ("username" = String, Path)), request_body = RoleRequest, responses((status = 204)))]
pub(crate) async fn set_project_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, username)): Path<(String, String, String)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .set_project_member(
            &principal,
            &organization,
            &project,
            &username,
            role(&request.role)?,
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (owners).
#[utoipa::path(delete, path = "/api/v1/orgs/{organization}/projects/{project}/members/{username}", tag = "projects", params(("organization" = String, Path), ("project" = String, Path), ("username" = String, Path)), responses((status = 204)))]
pub(crate) async fn remove_project_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, project, username)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .identity()
        .remove_project_member(&principal, &organization, &project, &username, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- audit ----------

/// Lists audit events newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditListQuery), responses((status = 200, body = Vec<AuditEvent>)))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<AuditListQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    Ok(Json(
        state
            .identity()
            .list_audit(&principal, audit_query(query, 100))
            .await?,
    ))
}

/// Exports audit events as JSON lines, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditListQuery), responses((status = 200, description = "one JSON object per line", content_type = "application/x-ndjson")))]
pub(crate) async fn export_audit(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<AuditListQuery>,
) -> ApiResult<Response> {
    let events = state
        .identity()
        .list_audit(&principal, audit_query(query, 10_000))
        .await?;
    let mut body = String::new();
    for event in events {
        body.push_str(
            &serde_json::to_string(&event)
                .map_err(|error| ApiError::new(ErrorKind::Internal, error.to_string()))?,
        );
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"plinth-audit.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}
