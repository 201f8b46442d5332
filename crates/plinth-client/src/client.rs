//! [`Client`]: one server, one optional bearer token, one method per API call.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use plinth_types::{
    ApiTokenInfo, Member, NodePool, OrgMember, OrgRole, Organization, Project, ProjectQuota,
    ResourceClass, Role, UsageRecord, User,
};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use crate::{
    ClassRequest, ClientError, ClientResult, CreateOrganizationRequest, CreateProjectRequest,
    CreateUserRequest, JobListQuery, JobPage, JobRequest, JobView, LogQuery, LoginRequest,
    LoginResponse, MeResponse, PoolRequest, ProjectListQuery, ProjectView, QuotaView, RuntimeInfo,
    SnapshotInfo, TokenRequest, TokenResponse, UpdateUserRequest, UsageQuery, UserListQuery,
};
use plinth_api_types::{
    CreateDeploymentRequest, CreateEnvironmentRequest, DeploymentView, DirectoryLoginTest,
    DirectorySyncView, DirectoryTestResult, DirectoryView, EnvironmentDetail, EnvironmentHistory,
    PasswordReset, RoleRequest,
};
use plinth_types::{AppRequest, AppView, Environment, EnvironmentSpec, EnvironmentVersion};

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, except the streamed ones (followed logs, snapshot
/// uploads and downloads), which may take as long as they need.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive of the connections, so that a followed log stream that is silent for
/// long still notices a dead peer.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// A streamed response body: a job's output, a snapshot being downloaded.
pub type ByteStream = BoxStream<'static, ClientResult<Bytes>>;

/// Parses and checks a server URL: `http(s)://HOST[:PORT][/PREFIX]`. A URL without a
/// scheme gets `http://`.
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
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("use `https://HOST[:PORT]` or `http://HOST:PORT`"));
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

/// The error body of every Plinth API error, and of MLflow's API (`{error_code, message}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum WireError {
    Plinth { code: String, message: String },
    Mlflow { error_code: String, message: String },
    Kfp { error_message: String },
}

impl Client {
    /// Returns an unauthenticated client of the server at `server_url` (see
    /// [`parse_server_url`]); nothing is sent yet.
    pub fn try_new(server_url: &str) -> ClientResult<Self> {
        Self::try_new_with(server_url, None)
    }

    /// Like [`Client::try_new`], trusting also the certificates of the PEM file `ca_file`
    /// (a company's own certificate authority) for an `https://` server.
    pub fn try_new_with(server_url: &str, ca_file: Option<&Path>) -> ClientResult<Self> {
        let base = parse_server_url(server_url)?;
        let https = base.scheme() == "https";
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("plinth-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .https_only(https)
            // The system's root certificates cost ~100 ms to load: only for https.
            .tls_built_in_root_certs(https);
        if let Some(ca_file) = ca_file {
            let pem = fs_err::read(ca_file).map_err(|error| ClientError::CaFile {
                path: ca_file.to_path_buf(),
                reason: error.to_string(),
            })?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                ClientError::CaFile {
                    path: ca_file.to_path_buf(),
                    reason: error.to_string(),
                }
            })?;
            if certificates.is_empty() {
                return Err(ClientError::CaFile {
                    path: ca_file.to_path_buf(),
                    reason: "no PEM certificate in it".to_string(),
                });
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(ClientError::Setup)?;
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

    /// Lists the caller's S3 access keys and the S3 endpoint's URL.
    pub async fn list_s3_keys(&self) -> ClientResult<plinth_api_types::S3KeyList> {
        self.json(self.request(Method::GET, &["me", "s3-keys"]))
            .await
    }

    /// Creates an S3 access key; its secret is in the answer only.
    pub async fn create_s3_key(
        &self,
        request: &plinth_api_types::S3KeyRequest,
    ) -> ClientResult<plinth_api_types::S3KeyCreated> {
        self.json(self.request(Method::POST, &["me", "s3-keys"]).json(request))
            .await
    }

    /// Revokes one of the caller's S3 access keys.
    pub async fn revoke_s3_key(&self, access_key_id: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["me", "s3-keys", access_key_id]))
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
                .json(&PasswordReset {
                    password: password.to_string(),
                }),
        )
        .await
    }

    /// Removes a user's MFA so they can enroll again.
    pub async fn reset_mfa(&self, username: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["users", username, "mfa"]))
            .await
    }

    // ---------- organizations ----------

    /// Lists the configured LDAP / AD directories (admins).
    pub async fn list_directories(&self) -> ClientResult<Vec<DirectoryView>> {
        self.json(self.request(Method::GET, &["admin", "directories"]))
            .await
    }

    /// Connects to directory `name` with its service account (admins).
    pub async fn test_directory_connection(&self, name: &str) -> ClientResult<DirectoryTestResult> {
        self.json(self.request(
            Method::POST,
            &["admin", "directories", name, "test-connection"],
        ))
        .await
    }

    /// Checks a directory user's password without logging in (admins).
    pub async fn test_directory_login(
        &self,
        name: &str,
        request: &DirectoryLoginTest,
    ) -> ClientResult<DirectoryTestResult> {
        self.json(
            self.request(Method::POST, &["admin", "directories", name, "test-login"])
                .json(request),
        )
        .await
    }

    /// Looks every directory account up again now (admins).
    pub async fn sync_directories(&self) -> ClientResult<Vec<DirectorySyncView>> {
        self.json(self.request(Method::POST, &["admin", "directories", "sync"]))
            .await
    }

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
                    role: role.as_str().to_string(),
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
                role: role.as_str().to_string(),
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

    // ---------- runtime: platform ----------

    /// Returns the runtime's backend, how it enforces limits, and its GPUs.
    pub async fn runtime_info(&self) -> ClientResult<RuntimeInfo> {
        self.json(self.request(Method::GET, &["runtime"])).await
    }

    /// Lists the node pools.
    pub async fn list_pools(&self) -> ClientResult<Vec<NodePool>> {
        self.json(self.request(Method::GET, &["pools"])).await
    }

    /// Creates or replaces a node pool (admins).
    pub async fn put_pool(&self, name: &str, request: &PoolRequest) -> ClientResult<NodePool> {
        self.json(self.request(Method::PUT, &["pools", name]).json(request))
            .await
    }

    /// Deletes a node pool no class uses (admins).
    pub async fn delete_pool(&self, name: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["pools", name]))
            .await
    }

    /// Lists the resource classes, smallest first.
    pub async fn list_classes(&self) -> ClientResult<Vec<ResourceClass>> {
        self.json(self.request(Method::GET, &["classes"])).await
    }

    /// Creates or replaces a resource class (admins).
    pub async fn put_class(
        &self,
        name: &str,
        request: &ClassRequest,
    ) -> ClientResult<ResourceClass> {
        self.json(self.request(Method::PUT, &["classes", name]).json(request))
            .await
    }

    /// Deletes a resource class (admins).
    pub async fn delete_class(&self, name: &str) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &["classes", name]))
            .await
    }

    /// Returns the whole platform's usage ledger (admins); `query.format` is ignored.
    pub async fn platform_usage(&self, query: &UsageQuery) -> ClientResult<Vec<UsageRecord>> {
        self.json(
            self.request(Method::GET, &["usage"])
                .query(&usage_query(query, None)),
        )
        .await
    }

    /// Returns the whole platform's usage ledger as the server's CSV (admins).
    pub async fn platform_usage_csv(&self, query: &UsageQuery) -> ClientResult<String> {
        self.text(
            self.request(Method::GET, &["usage"])
                .query(&usage_query(query, Some("csv"))),
        )
        .await
    }

    // ---------- runtime: per project ----------

    /// Returns a project's quota and what it uses now.
    pub async fn project_quota(
        &self,
        organization: &str,
        project: &str,
    ) -> ClientResult<QuotaView> {
        self.json(self.project_request(Method::GET, organization, project, &["quota"]))
            .await
    }

    /// Replaces a project's quota (admins).
    pub async fn set_project_quota(
        &self,
        organization: &str,
        project: &str,
        quota: &ProjectQuota,
    ) -> ClientResult<QuotaView> {
        self.json(
            self.project_request(Method::PUT, organization, project, &["quota"])
                .json(quota),
        )
        .await
    }

    /// Returns a project's usage ledger; `query.format` is ignored.
    pub async fn project_usage(
        &self,
        organization: &str,
        project: &str,
        query: &UsageQuery,
    ) -> ClientResult<Vec<UsageRecord>> {
        self.json(
            self.project_request(Method::GET, organization, project, &["usage"])
                .query(&usage_query(query, None)),
        )
        .await
    }

    /// Returns a project's usage ledger as the server's CSV.
    pub async fn project_usage_csv(
        &self,
        organization: &str,
        project: &str,
        query: &UsageQuery,
    ) -> ClientResult<String> {
        self.text(
            self.project_request(Method::GET, organization, project, &["usage"])
                .query(&usage_query(query, Some("csv"))),
        )
        .await
    }

    /// Returns whether the project already stores the snapshot with this SHA-256 (a `HEAD`
    /// request: nothing is downloaded). Any answer but 200 or 404 is an error; callers
    /// that only want to skip a needless upload may treat it as `false` and upload.
    pub async fn snapshot_exists(
        &self,
        organization: &str,
        project: &str,
        sha256: &str,
    ) -> ClientResult<bool> {
        let path = project_path(organization, project, &["snapshots", sha256]);
        let response = self
            .request(Method::HEAD, &path)
            .send()
            .await
            .map_err(|source| self.transport_error(source))?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.unexpected(status, "a snapshot lookup was refused".to_string())),
        }
    }

    /// Uploads a snapshot (`.tar.gz`) of `length` bytes, streamed from `body`, named by
    /// its SHA-256. The server checks both and refuses a body over its limit (HTTP 413,
    /// with its message). Uploading a snapshot the project has already is cheap.
    pub async fn upload_snapshot<S>(
        &self,
        organization: &str,
        project: &str,
        sha256: &str,
        length: u64,
        body: S,
    ) -> ClientResult<SnapshotInfo>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let path = project_path(organization, project, &["snapshots", sha256]);
        self.json(
            self.streaming_request(Method::PUT, &path)
                .header(CONTENT_TYPE, "application/gzip")
                .header(CONTENT_LENGTH, length)
                .body(reqwest::Body::wrap_stream(body)),
        )
        .await
    }

    /// Uploads the snapshot in the file at `path` (see [`Client::upload_snapshot`]).
    pub async fn upload_snapshot_file(
        &self,
        organization: &str,
        project: &str,
        sha256: &str,
        path: &Path,
    ) -> ClientResult<SnapshotInfo> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| self.file_error(path, &error))?;
        let length = file
            .metadata()
            .await
            .map_err(|error| self.file_error(path, &error))?
            .len();
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        self.upload_snapshot(organization, project, sha256, length, body)
            .await
    }

    /// Downloads a snapshot: its size (when the server says) and its bytes as a stream.
    pub async fn download_snapshot(
        &self,
        organization: &str,
        project: &str,
        sha256: &str,
    ) -> ClientResult<(Option<u64>, ByteStream)> {
        let path = project_path(organization, project, &["snapshots", sha256]);
        let response = self
            .send(self.streaming_request(Method::GET, &path))
            .await?;
        Ok((response.content_length(), self.byte_stream(response)))
    }

    // ---------- jobs ----------

    /// Submits a job: it starts at once, or waits in the project's queue when the quota is
    /// full (`state` is `queued`; `reason` and `queue_position` say why and where).
    pub async fn submit_job(
        &self,
        organization: &str,
        project: &str,
        request: &JobRequest,
    ) -> ClientResult<JobView> {
        // No time limit: the first use of an environment version resolves and builds it
        // within the submission.
        self.json(
            self.streaming_request(
                Method::POST,
                &project_path(organization, project, &["jobs"]),
            )
            .json(request),
        )
        .await
    }

    /// Lists one page of a project's jobs, newest first.
    pub async fn list_jobs(
        &self,
        organization: &str,
        project: &str,
        query: &JobListQuery,
    ) -> ClientResult<JobPage> {
        self.json(
            self.project_request(Method::GET, organization, project, &["jobs"])
                .query(query),
        )
        .await
    }

    /// Returns a job.
    pub async fn get_job(
        &self,
        organization: &str,
        project: &str,
        id: &str,
    ) -> ClientResult<JobView> {
        self.json(self.project_request(Method::GET, organization, project, &["jobs", id]))
            .await
    }

    /// Stops a job: a queued one leaves the queue, a running one gets SIGTERM and, after
    /// the server's grace period, SIGKILL. Returns the job as it is right after the
    /// request (a running job is still `running` for a moment).
    pub async fn stop_job(
        &self,
        organization: &str,
        project: &str,
        id: &str,
    ) -> ClientResult<JobView> {
        self.json(self.project_request(Method::POST, organization, project, &["jobs", id, "stop"]))
            .await
    }

    /// Submits a job again with the same class, command, environment and files.
    pub async fn rerun_job(
        &self,
        organization: &str,
        project: &str,
        id: &str,
    ) -> ClientResult<JobView> {
        self.json(self.project_request(Method::POST, organization, project, &["jobs", id, "rerun"]))
            .await
    }

    /// Streams a job's output (stdout and stderr interleaved) as it comes. With `follow`
    /// the stream ends when the job ends (for a queued job it first waits for the start);
    /// a stream that breaks off earlier ends with an error, and can be resumed with
    /// `offset` = the bytes received so far.
    pub async fn job_logs(
        &self,
        organization: &str,
        project: &str,
        id: &str,
        query: &LogQuery,
    ) -> ClientResult<ByteStream> {
        let path = project_path(organization, project, &["jobs", id, "logs"]);
        let response = self
            .send(self.streaming_request(Method::GET, &path).query(query))
            .await?;
        Ok(self.byte_stream(response))
    }

    // ---------- apps ----------

    /// Deploys an App (or again, a stopped one of the same name); its `url` is where
    /// visitors open it.
    pub async fn create_app(
        &self,
        organization: &str,
        project: &str,
        request: &AppRequest,
    ) -> ClientResult<AppView> {
        // No time limit: the first use of an environment version builds it.
        self.json(
            self.streaming_request(
                Method::POST,
                &project_path(organization, project, &["apps"]),
            )
            .json(request),
        )
        .await
    }

    /// Lists a project's Apps, by name.
    pub async fn list_apps(&self, organization: &str, project: &str) -> ClientResult<Vec<AppView>> {
        self.json(self.project_request(Method::GET, organization, project, &["apps"]))
            .await
    }

    /// Returns an App.
    pub async fn get_app(
        &self,
        organization: &str,
        project: &str,
        name: &str,
    ) -> ClientResult<AppView> {
        self.json(self.project_request(Method::GET, organization, project, &["apps", name]))
            .await
    }

    /// Stops an App.
    pub async fn stop_app(
        &self,
        organization: &str,
        project: &str,
        name: &str,
    ) -> ClientResult<AppView> {
        self.json(self.project_request(
            Method::POST,
            organization,
            project,
            &["apps", name, "stop"],
        ))
        .await
    }

    /// Streams an App's output; with `follow` until it ends.
    pub async fn app_logs(
        &self,
        organization: &str,
        project: &str,
        name: &str,
        query: &LogQuery,
    ) -> ClientResult<ByteStream> {
        let path = project_path(organization, project, &["apps", name, "logs"]);
        let response = self
            .send(self.streaming_request(Method::GET, &path).query(query))
            .await?;
        Ok(self.byte_stream(response))
    }

    // ---------- deployments (Model APIs) ----------

    /// Deploys a registered model version (`MODEL/VERSION` or `MODEL@ALIAS`); the answer
    /// comes before the model is loaded (state `loading`).
    pub async fn create_deployment(
        &self,
        organization: &str,
        project: &str,
        request: &CreateDeploymentRequest,
    ) -> ClientResult<DeploymentView> {
        self.json(
            self.project_request(Method::POST, organization, project, &["deployments"])
                .json(request),
        )
        .await
    }

    /// Lists a project's deployments, by name.
    pub async fn list_deployments(
        &self,
        organization: &str,
        project: &str,
    ) -> ClientResult<Vec<DeploymentView>> {
        self.json(self.project_request(Method::GET, organization, project, &["deployments"]))
            .await
    }

    /// Returns a deployment.
    pub async fn get_deployment(
        &self,
        organization: &str,
        project: &str,
        name: &str,
    ) -> ClientResult<DeploymentView> {
        self.json(self.project_request(Method::GET, organization, project, &["deployments", name]))
            .await
    }

    /// Deletes a deployment.
    pub async fn delete_deployment(
        &self,
        organization: &str,
        project: &str,
        name: &str,
    ) -> ClientResult<()> {
        self.empty(self.project_request(
            Method::DELETE,
            organization,
            project,
            &["deployments", name],
        ))
        .await
    }

    // ---------- environments ----------

    /// Lists a project's environments and the global ones (`scope` `None`: the global ones).
    pub async fn list_environments(
        &self,
        scope: Option<(&str, &str)>,
    ) -> ClientResult<Vec<Environment>> {
        self.json(self.request(Method::GET, &environments_path(scope, &[])))
            .await
    }

    /// Creates an environment, version 1 (a global one with `scope` `None`, admins).
    pub async fn create_environment(
        &self,
        scope: Option<(&str, &str)>,
        request: &CreateEnvironmentRequest,
    ) -> ClientResult<EnvironmentDetail> {
        self.json(
            self.request(Method::POST, &environments_path(scope, &[]))
                .json(request),
        )
        .await
    }

    /// Returns a version (`NAME` or `NAME:VERSION`) with its lock and build.
    pub async fn get_environment(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
    ) -> ClientResult<EnvironmentDetail> {
        self.json(self.request(Method::GET, &environments_path(scope, &[name])))
            .await
    }

    /// Makes a new version asking for `spec`.
    pub async fn update_environment(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
        spec: &EnvironmentSpec,
    ) -> ClientResult<EnvironmentVersion> {
        self.json(
            self.request(Method::PUT, &environments_path(scope, &[name]))
                .json(spec),
        )
        .await
    }

    /// Deletes an environment and its versions.
    pub async fn delete_environment(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
    ) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &environments_path(scope, &[name])))
            .await
    }

    /// Returns every version, newest first.
    pub async fn environment_versions(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
    ) -> ClientResult<EnvironmentHistory> {
        self.json(self.request(Method::GET, &environments_path(scope, &[name, "versions"])))
            .await
    }

    /// Resolves and builds a version; answers when it is ready (no time limit: a cold
    /// build takes as long as it takes).
    pub async fn build_environment(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
    ) -> ClientResult<EnvironmentDetail> {
        self.json(self.streaming_request(Method::POST, &environments_path(scope, &[name, "build"])))
            .await
    }

    /// Returns a version's resolution and build logs.
    pub async fn environment_logs(
        &self,
        scope: Option<(&str, &str)>,
        name: &str,
    ) -> ClientResult<String> {
        self.text(self.request(Method::GET, &environments_path(scope, &[name, "logs"])))
            .await
    }

    // ---------- plumbing ----------

    /// Returns the URL of `{server}/{segments…}`, each segment percent-encoded.
    pub(crate) fn url<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("parse_server_url accepts only http URLs, which have a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Returns a request to `/api/v1/{segments…}` that must be answered in full within
    /// [`REQUEST_TIMEOUT`].
    fn request<S: AsRef<str>>(&self, method: Method, segments: &[S]) -> RequestBuilder {
        self.streaming_request(method, segments)
            .timeout(REQUEST_TIMEOUT)
    }

    /// Returns a request to `/api/v1/{segments…}` without an overall time limit (see
    /// [`Client::streaming_request_to`]).
    fn streaming_request<S: AsRef<str>>(&self, method: Method, segments: &[S]) -> RequestBuilder {
        let url = self.url(
            ["api", "v1"]
                .into_iter()
                .chain(segments.iter().map(AsRef::as_ref)),
        );
        self.streaming_request_to(method, url)
    }

    /// Returns a request to `/api/v1/orgs/{organization}/projects/{project}/{rest…}` that
    /// must be answered in full within [`REQUEST_TIMEOUT`].
    fn project_request(
        &self,
        method: Method,
        organization: &str,
        project: &str,
        rest: &[&str],
    ) -> RequestBuilder {
        self.request(method, &project_path(organization, project, rest))
    }

    /// Returns a request to `url` that must be answered in full within [`REQUEST_TIMEOUT`].
    pub(crate) fn request_to(&self, method: Method, url: Url) -> RequestBuilder {
        self.streaming_request_to(method, url)
            .timeout(REQUEST_TIMEOUT)
    }

    /// Returns a request to `url` with the bearer token and without an overall time limit
    /// (its body streams for as long as it takes); connecting is still limited, and TCP
    /// keepalive notices dead peers.
    pub(crate) fn streaming_request_to(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Turns a successful response into a stream of its body.
    pub(crate) fn byte_stream(&self, response: Response) -> ByteStream {
        let client = self.clone();
        response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|source| client.transport_error(source)))
            .boxed()
    }

    /// Sends the request; any answer but a success becomes an error.
    pub(crate) async fn send(&self, builder: RequestBuilder) -> ClientResult<Response> {
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
            Ok(
                WireError::Plinth { code, message }
                | WireError::Mlflow {
                    error_code: code,
                    message,
                },
            ) => Err(ClientError::Api {
                status: status.as_u16(),
                code,
                message,
            }),
            Ok(WireError::Kfp { error_message }) => Err(ClientError::Api {
                status: status.as_u16(),
                code: "KFP".to_string(),
                message: error_message,
            }),
            Err(_) => Err(self.unexpected(
                status,
                "not a Plinth API error; is this the right server URL?".to_string(),
            )),
        }
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
    ) -> ClientResult<T> {
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

    async fn text(&self, builder: RequestBuilder) -> ClientResult<String> {
        self.send(builder)
            .await?
            .text()
            .await
            .map_err(|source| self.transport_error(source))
    }

    fn file_error(&self, path: &Path, error: &std::io::Error) -> ClientError {
        ClientError::File {
            path: path.display().to_string(),
            cause: error.to_string(),
        }
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
            let cause = innermost_cause(&source);
            if cause.contains("certificate") {
                format!("{cause} (its TLS certificate is not trusted here: trust the certificate authority that signed it with `--ca-file FILE` or `PLINTH_CA_FILE`)")
            } else {
                cause
            }
        };
        ClientError::Http {
            server: self.server.clone(),
            cause,
            source,
        }
    }
}

/// Returns `query` asking for the ledger as `format` (`None`: the server's default, JSON),
/// whatever format it named: each method decodes one format.
fn usage_query(query: &UsageQuery, format: Option<&str>) -> UsageQuery {
    UsageQuery {
        format: format.map(str::to_string),
        ..query.clone()
    }
}

/// Returns the path segments of `/api/v1/orgs/{organization}/projects/{project}/{rest…}`.
/// `orgs/{organization}/projects/{project}/environments/{rest…}`, or `environments/{rest…}`.
fn environments_path<'a>(scope: Option<(&'a str, &'a str)>, rest: &[&'a str]) -> Vec<&'a str> {
    let mut segments = match scope {
        Some((organization, project)) => project_path(organization, project, &["environments"]),
        None => vec!["environments"],
    };
    segments.extend_from_slice(rest);
    segments
}

fn project_path<'a>(organization: &'a str, project: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut segments = vec!["orgs", organization, "projects", project];
    segments.extend_from_slice(rest);
    segments
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
