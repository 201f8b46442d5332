//! [`Client`]: one server, one optional bearer token, one method per API call.

use std::time::Duration;

use plinth_types::{ApiTokenInfo, Member, OrgMember, OrgRole, Organization, Project, Role, User};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use crate::wire::{PasswordReset, RoleRequest};
use crate::{
    ClientError, ClientResult, CreateOrganizationRequest, CreateProjectRequest, CreateUserRequest,
    LoginRequest, LoginResponse, MeResponse, ProjectListQuery, ProjectView, TokenRequest,
    TokenResponse, UpdateUserRequest, UserListQuery,
};

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Parses and checks a server URL: `http://HOST[:PORT][/PREFIX]`. A URL without a scheme
/// gets `http://`. `https://` is refused: this client speaks plain http only (see the
/// crate documentation).
pub fn parse_server_url(text: &str) -> ClientResult<Url> {
    let trimmed = text.trim();
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: text.to_string(),
        reason: reason.to_string(),
    };
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|error| invalid(&error.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "https is not supported yet: this client speaks plain http only",
            ))
        }
        _ => return Err(invalid("use `http://HOST:PORT`")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials do not belong in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("no query string or fragment, please"));
    }
    Ok(url)
}

/// A client of one Plinth server, optionally authenticated with a bearer token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    server: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Client")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// The error body of every Plinth API error.
#[derive(Deserialize)]
struct WireError {
    code: String,
    message: String,
}

impl Client {
    /// Returns an unauthenticated client of the server at `server_url` (see
    /// [`parse_server_url`]); nothing is sent yet.
    pub fn try_new(server_url: &str) -> ClientResult<Self> {
        let base = parse_server_url(server_url)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("plinth-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ClientError::Setup)?;
        let server = base.as_str().trim_end_matches('/').to_string();
        Ok(Client {
            http,
            base,
            server,
            token: None,
        })
    }

    /// Returns this client sending `token` as `Authorization: Bearer …`.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Returns the server URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub fn server(&self) -> &str {
        &self.server
    }

    // ---------- auth and the caller ----------

    /// Exchanges credentials for a personal API token. A refusal that only wants a TOTP
    /// code is recognised by [`ClientError::needs_totp_code`].
    pub async fn login(&self, request: &LoginRequest) -> ClientResult<LoginResponse> {
        self.json(self.request(Method::POST, &["auth", "login"]).json(request))
            .await
    }

    /// Revokes the token this client sends (and ends nothing else).
    pub async fn logout(&self) -> ClientResult<()> {
        self.empty(self.request(Method::POST, &["auth", "logout"]))
            .await
    }

    /// Returns the caller.
    pub async fn me(&self) -> ClientResult<MeResponse> {
        self.json(self.request(Method::GET, &["me"])).await
    }

    /// Lists the caller's tokens, revoked and expired ones included.
    pub async fn list_tokens(&self) -> ClientResult<Vec<ApiTokenInfo>> {
        self.json(self.request(Method::GET, &["me", "tokens"]))
            .await
    }

    /// Creates a personal API token; its secret is in the answer and nowhere else.
    pub async fn create_token(&self, request: &TokenRequest) -> ClientResult<TokenResponse> {
        self.json(self.request(Method::POST, &["me", "tokens"]).json(request))
            .await
    }

    /// Revokes one of the caller's tokens.
    pub async fn revoke_token(&self, token_id: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["me", "tokens", token_id]))
            .await
    }

    // ---------- users (admins) ----------

    /// Lists one page of users, ordered by username.
    pub async fn list_users(&self, query: &UserListQuery) -> ClientResult<Vec<User>> {
        self.json(self.request(Method::GET, &["users"]).query(query))
            .await
    }

    /// Creates a user.
    pub async fn create_user(&self, request: &CreateUserRequest) -> ClientResult<User> {
        self.json(self.request(Method::POST, &["users"]).json(request))
            .await
    }

    /// Returns a user.
    pub async fn get_user(&self, username: &str) -> ClientResult<User> {
        self.json(self.request(Method::GET, &["users", username]))
            .await
    }

    /// Changes, deactivates or reactivates a user.
    pub async fn update_user(
        &self,
        username: &str,
        request: &UpdateUserRequest,
    ) -> ClientResult<User> {
        self.json(
            self.request(Method::PATCH, &["users", username])
                .json(request),
        )
        .await
    }

    /// Sets a user's password; their sessions end.
    pub async fn reset_password(&self, username: &str, password: &str) -> ClientResult<()> {
        self.empty(
            self.request(Method::POST, &["users", username, "password"])
                .json(&PasswordReset { password }),
        )
        .await
    }

    /// Removes a user's MFA so they can enroll again.
    pub async fn reset_mfa(&self, username: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["users", username, "mfa"]))
            .await
    }

    // ---------- organizations ----------

    /// Lists the organizations the caller may see.
    pub async fn list_organizations(&self) -> ClientResult<Vec<Organization>> {
        self.json(self.request(Method::GET, &["orgs"])).await
    }

    /// Creates an organization (admins).
    pub async fn create_organization(
        &self,
        request: &CreateOrganizationRequest,
    ) -> ClientResult<Organization> {
        self.json(self.request(Method::POST, &["orgs"]).json(request))
            .await
    }

    /// Returns an organization.
    pub async fn get_organization(&self, organization: &str) -> ClientResult<Organization> {
        self.json(self.request(Method::GET, &["orgs", organization]))
            .await
    }

    /// Lists an organization's members.
    pub async fn list_organization_members(
        &self,
        organization: &str,
    ) -> ClientResult<Vec<OrgMember>> {
        self.json(self.request(Method::GET, &["orgs", organization, "members"]))
            .await
    }

    /// Adds an organization member or changes their role.
    pub async fn set_organization_member(
        &self,
        organization: &str,
        username: &str,
        role: OrgRole,
    ) -> ClientResult<()> {
        self.empty(
            self.request(Method::PUT, &["orgs", organization, "members", username])
                .json(&RoleRequest {
                    role: role.as_str(),
                }),
        )
        .await
    }

    /// Removes an organization member.
    pub async fn remove_organization_member(
        &self,
        organization: &str,
        username: &str,
    ) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["orgs", organization, "members", username]))
            .await
    }

    // ---------- projects ----------

    /// Lists the caller's projects (admins with `all`: every project).
    pub async fn list_projects(&self, query: &ProjectListQuery) -> ClientResult<Vec<ProjectView>> {
        self.json(self.request(Method::GET, &["projects"]).query(query))
            .await
    }

    /// Creates a project in `organization`; the caller becomes its owner.
    pub async fn create_project(
        &self,
        organization: &str,
        request: &CreateProjectRequest,
    ) -> ClientResult<Project> {
        self.json(
            self.request(Method::POST, &["orgs", organization, "projects"])
                .json(request),
        )
        .await
    }

    /// Returns a project and the caller's role in it.
    pub async fn get_project(
        &self,
        organization: &str,
        project: &str,
    ) -> ClientResult<ProjectView> {
        self.json(self.request(Method::GET, &["orgs", organization, "projects", project]))
            .await
    }

    /// Deletes a project and everything in it.
    pub async fn delete_project(&self, organization: &str, project: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["orgs", organization, "projects", project]))
            .await
    }

    /// Lists a project's members.
    pub async fn list_project_members(
        &self,
        organization: &str,
        project: &str,
    ) -> ClientResult<Vec<Member>> {
        self.json(self.request(
            Method::GET,
            &["orgs", organization, "projects", project, "members"],
        ))
        .await
    }

    /// Adds a project member or changes their role.
    pub async fn set_project_member(
        &self,
        organization: &str,
        project: &str,
        username: &str,
        role: Role,
    ) -> ClientResult<()> {
        self.empty(
            self.request(
                Method::PUT,
                &[
                    "orgs",
                    organization,
                    "projects",
                    project,
                    "members",
                    username,
                ],
            )
            .json(&RoleRequest {
                role: role.as_str(),
            }),
        )
        .await
    }

    /// Removes a project member.
    pub async fn remove_project_member(
        &self,
        organization: &str,
        project: &str,
        username: &str,
    ) -> ClientResult<()> {
        self.empty(self.request(
            Method::DELETE,
            &[
                "orgs",
                organization,
                "projects",
                project,
                "members",
                username,
            ],
        ))
        .await
    }

    // ---------- plumbing ----------

    /// Returns the URL of `/api/v1/{segments…}`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("parse_server_url accepts only http URLs, which have a path")
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let builder = self.http.request(method, self.endpoint(segments));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends the request; any answer but a success becomes an error.
    async fn send(&self, builder: RequestBuilder) -> ClientResult<Response> {
        let response = builder
            .send()
            .await
            .map_err(|source| self.transport_error(source))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .text()
            .await
            .map_err(|source| self.transport_error(source))?;
        match serde_json::from_str::<WireError>(&body) {
            Ok(error) => Err(ClientError::Api {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
            }),
            Err(_) => Err(self.unexpected(
                status,
                "not a Plinth API error; is this the right server URL?".to_string(),
            )),
        }
    }

    async fn json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> ClientResult<T> {
        let response = self.send(builder).await?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| self.transport_error(source))?;
        serde_json::from_slice(&body)
            .map_err(|error| self.unexpected(status, format!("not the expected JSON: {error}")))
    }

    async fn empty(&self, builder: RequestBuilder) -> ClientResult<()> {
        self.send(builder).await.map(drop)
    }

    fn unexpected(&self, status: StatusCode, reason: String) -> ClientError {
        ClientError::UnexpectedResponse {
            server: self.server.clone(),
            status: status.as_u16(),
            reason,
        }
    }

    fn transport_error(&self, source: reqwest::Error) -> ClientError {
        let cause = if source.is_timeout() {
            "timed out".to_string()
        } else {
            innermost_cause(&source)
        };
        ClientError::Http {
            server: self.server.clone(),
            cause,
            source,
        }
    }
}

/// Returns the message of the deepest error in the chain: for a refused connection that is
/// the OS's "Connection refused", not reqwest's "error sending request for url (…)".
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
