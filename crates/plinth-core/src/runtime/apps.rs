//! Apps: web apps of a project, each a server workload on the deployment pool that the
//! gateway serves on an origin of its own, `{app}--{project}--{organization}.{apps domain}`
//! (`docs/design/gateway.md`). Creating, listing, stopping and the logs are here; the
//! routing and the sign-in on the app's origin are `plinth-gateway`'s.

use plinth_executor::LogOptions;
use plinth_types::{
    App, AppRequest, AppView, JobRequest, Role, Workload, WorkloadEndpoint, WorkloadKind,
    WorkloadState,
};
use serde_json::json;

use super::jobs::LogStream;
use super::RuntimeService;
use crate::{ClientInfo, CoreError, CoreResult, Principal, ProjectPass};

/// The named port every App listens on (`$PLINTH_PORT_HTTP`).
pub const APP_PORT: &str = "http";

/// Longest App name: the host label `{app}--{project}--{organization}` must stay a DNS
/// label (63 characters).
const MAX_APP_NAME: usize = 30;
const MAX_HEALTH_PATH: usize = 200;
/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// Where Apps are served: every App gets the origin `{scheme}://{label}.{domain}[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppsOrigin {
    /// `http` or `https`.
    pub scheme: String,
    /// The domain under which each App has a name of its own (`localhost`,
    /// `apps.example.com`), lower case.
    pub domain: String,
    /// The port visitors use, when not the scheme's default.
    pub port: Option<u16>,
}

impl AppsOrigin {
    /// Parses an apps base URL such as `http://localhost:8080` or
    /// `https://apps.example.com` (no path, no user).
    pub fn parse(base: &str) -> Result<AppsOrigin, String> {
        let (scheme, rest) = base
            .split_once("://")
            .ok_or_else(|| format!("`{base}` must start with http:// or https://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{base}` must start with http:// or https://"));
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return Err(format!(
                "`{base}` must be a scheme, a host and an optional port, without a path"
            ));
        }
        let (domain, port) = match authority.rsplit_once(':') {
            Some((domain, port)) => (
                domain,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("`{base}` has an invalid port `{port}`"))?,
                ),
            ),
            None => (authority, None),
        };
        let domain = domain.to_ascii_lowercase();
        if domain.is_empty()
            || !domain
                .split('.')
                .all(|label| is_dns_label(label) && label.len() <= MAX_LABEL)
        {
            return Err(format!("`{base}` does not name a valid domain"));
        }
        let port =
            port.filter(|port| !matches!((scheme.as_str(), port), ("http", 80) | ("https", 443)));
        Ok(AppsOrigin {
            scheme,
            domain,
            port,
        })
    }

    /// The apps origin of a single machine: `*.localhost` on the server's own port, which
    /// browsers and curl resolve to loopback.
    pub fn localhost(scheme: &str, port: Option<u16>) -> AppsOrigin {
        AppsOrigin {
            scheme: scheme.to_string(),
            domain: "localhost".to_string(),
            port,
        }
    }

    /// The URL of the App whose host label is `label`.
    pub fn url(&self, label: &str) -> String {
        match self.port {
            Some(port) => format!("{}://{label}.{}:{port}", self.scheme, self.domain),
            None => format!("{}://{label}.{}", self.scheme, self.domain),
        }
    }

    /// Returns the App host label of a `Host` header value (port ignored, case folded),
    /// or `None` when the host is not one App's name under this domain.
    pub fn label_of_host(&self, host: &str) -> Option<String> {
        let host = host.to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host,
        };
        let name = name.trim_end_matches('.');
        let label = name.strip_suffix(&self.domain)?.strip_suffix('.')?;
        (is_dns_label(label) && label.contains("--")).then(|| label.to_string())
    }
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Checks an App name: 1–30 lower-case letters, digits and single `-`, starting with a
/// letter (`--` separates the parts of the host label).
pub fn validate_app_name(name: &str) -> CoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_APP_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(format!(
            "invalid `name`: `{name}` must be 1–{MAX_APP_NAME} lower-case letters, digits and single `-`, starting with a letter"
        )))
    }
}

fn validate_health_path(path: &str) -> CoreResult<()> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_HEALTH_PATH
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(format!(
            "invalid `health_path`: `{path}` must be a path starting with a single `/`, at most {MAX_HEALTH_PATH} visible ASCII characters"
        )))
    }
}

/// Where the gateway sends one App's traffic, and whom it lets in. Internal to the
/// platform: the gateway authorizes each visitor against `app.project_id` itself.
#[derive(Clone, Debug)]
pub struct AppRoute {
    /// The App.
    pub app: App,
    /// Its project's organization and name.
    pub project: (String, String),
    /// The workload's state and why.
    pub state: WorkloadState,
    /// Why it is in that state.
    pub reason: String,
    /// Where its replicas listen.
    pub endpoints: Vec<WorkloadEndpoint>,
}

impl RuntimeService {
    /// Where Apps are served.
    pub fn apps_origin(&self) -> &AppsOrigin {
        &self.inner.settings.apps_origin
    }

    /// Deploys an App (contributors): a server workload of kind `deployment` listening on
    /// `$PLINTH_PORT_HTTP`, refused like any interactive work when the quota is full. A
    /// stopped App of the same name is redeployed; a running one is a conflict.
    pub async fn create_app(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        request: &AppRequest,
        client: &ClientInfo,
    ) -> CoreResult<AppView> {
        principal.require_write()?;
        super::jobs::require_role(pass, Self::SUBMIT_ROLE)?;
        validate_app_name(&request.name)?;
        let health_path = request
            .health_path
            .clone()
            .unwrap_or_else(|| "/".to_string());
        validate_health_path(&health_path)?;
        for reserved in ["PLINTH_APP_URL", "PORT"] {
            if request.env.contains_key(reserved) {
                return Err(CoreError::InvalidArgument(format!(
                    "invalid `env`: `{reserved}` is set by the platform"
                )));
            }
        }
        let project = pass.project();
        let label = format!(
            "{}--{}--{}",
            request.name, project.name, project.organization
        );
        if label.len() > MAX_LABEL {
            return Err(CoreError::InvalidArgument(format!(
                "invalid `name`: the App's host name `{label}` is {} characters and a DNS label holds {MAX_LABEL}; choose a name of at most {} characters",
                label.len(),
                (request.name.len() + MAX_LABEL).saturating_sub(label.len())
            )));
        }
        match self.inner.store.get_app_by_host(&label).await {
            Ok(existing) if existing.project_id != project.id || existing.name != request.name => {
                return Err(CoreError::Conflict(format!(
                    "the host name `{label}` is taken by another App; choose another name"
                )));
            }
            Ok(existing) => {
                let workload = self.inner.store.get_workload(&existing.workload_id).await?;
                if !workload.state.is_finished() {
                    return Err(CoreError::Conflict(format!(
                        "App `{}` is {}; stop it first (`plinth apps stop {}`)",
                        request.name,
                        workload.state.as_str(),
                        request.name
                    )));
                }
            }
            Err(plinth_metastore::StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let url = self.apps_origin().url(&label);
        let mut env = request.env.clone();
        env.insert("PLINTH_APP_URL".to_string(), url.clone());
        let job = JobRequest {
            name: Some(request.name.clone()),
            class: request.class.clone(),
            command: request.command.clone(),
            env,
            snapshot: request.snapshot.clone(),
            image: None,
            custom_size: None,
            environment: request.environment.clone(),
        };
        let view = self
            .submit_with_ports(
                principal,
                pass,
                WorkloadKind::Deployment,
                &job,
                None,
                vec![APP_PORT.to_string()],
                None,
                client,
            )
            .await?;
        let app = App {
            project_id: project.id.clone(),
            name: request.name.clone(),
            host_label: label,
            workload_id: view.job.id.clone(),
            public: request.public,
            health_path,
            created_by: principal.user().id.as_str().to_string(),
            created_at_ms: self.now(),
        };
        let app = match self.inner.store.put_app(&app).await {
            Ok(app) => app,
            Err(error) => {
                // Nothing half-created: the workload that would serve it goes too.
                let _ = self.stop_job(principal, pass, &view.job.id, client).await;
                return Err(error.into());
            }
        };
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "app.create",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                json!({ "app": app.name, "workload": app.workload_id, "public": app.public }),
            )
            .await;
        Ok(self.app_view(app, view.job))
    }

    fn app_view(&self, app: App, workload: Workload) -> AppView {
        AppView {
            url: self.apps_origin().url(&app.host_label),
            name: app.name,
            public: app.public,
            health_path: app.health_path,
            workload_id: app.workload_id,
            state: workload.state,
            reason: workload.reason,
            created_by_username: workload.created_by_username,
            created_at_ms: app.created_at_ms,
        }
    }

    async fn project_app(&self, pass: &ProjectPass, name: &str) -> CoreResult<(App, Workload)> {
        let app = match self.inner.store.get_app(&pass.project().id, name).await {
            Ok(app) => app,
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                return Err(CoreError::NotFound {
                    entity: "app",
                    id: name.to_string(),
                })
            }
            Err(error) => return Err(error.into()),
        };
        let workload = self.inner.store.get_workload(&app.workload_id).await?;
        Ok((app, workload))
    }

    /// One App of the project (viewers).
    pub async fn get_app(&self, pass: &ProjectPass, name: &str) -> CoreResult<AppView> {
        let (app, workload) = self.project_app(pass, name).await?;
        Ok(self.app_view(app, workload))
    }

    /// The project's Apps, by name (viewers).
    pub async fn list_apps(&self, pass: &ProjectPass) -> CoreResult<Vec<AppView>> {
        let mut views = Vec::new();
        for app in self.inner.store.list_apps(&pass.project().id).await? {
            let workload = self.inner.store.get_workload(&app.workload_id).await?;
            views.push(self.app_view(app, workload));
        }
        Ok(views)
    }

    /// Stops an App (contributors); `create` with the same name deploys it again.
    pub async fn stop_app(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        name: &str,
        client: &ClientInfo,
    ) -> CoreResult<AppView> {
        let (app, _) = self.project_app(pass, name).await?;
        let stopped = self
            .stop_job(principal, pass, &app.workload_id, client)
            .await?;
        Ok(self.app_view(app, stopped.job))
    }

    /// An App's output (viewers).
    pub async fn app_logs(
        &self,
        pass: &ProjectPass,
        name: &str,
        options: LogOptions,
    ) -> CoreResult<LogStream> {
        let (app, _) = self.project_app(pass, name).await?;
        self.job_logs(pass, &app.workload_id, options).await
    }

    /// Where the gateway sends the traffic of the App served as `host_label`; `NotFound`
    /// when there is none. Not authorized here: the gateway checks each visitor with
    /// [`crate::IdentityService::authorize_project_by_id`] and [`Role::Viewer`].
    pub async fn app_route(&self, host_label: &str) -> CoreResult<AppRoute> {
        let app = match self.inner.store.get_app_by_host(host_label).await {
            Ok(app) => app,
            Err(plinth_metastore::StoreError::NotFound { .. }) => {
                return Err(CoreError::NotFound {
                    entity: "app",
                    id: host_label.to_string(),
                })
            }
            Err(error) => return Err(error.into()),
        };
        let workload = self.inner.store.get_workload(&app.workload_id).await?;
        let creator = plinth_types::UserId::from_stored(workload.created_by.clone());
        let project = self
            .inner
            .store
            .get_project_by_id(&app.project_id, &creator)
            .await?
            .project;
        let endpoints = if workload.state.is_finished() {
            Vec::new()
        } else {
            self.inner.store.workload_endpoints(&workload.id).await?
        };
        Ok(AppRoute {
            project: (project.organization.to_string(), project.name.to_string()),
            state: workload.state,
            reason: workload.reason,
            endpoints,
            app,
        })
    }
}

/// The role a visitor needs to open a login-required App.
pub const APP_VISITOR_ROLE: Role = Role::Viewer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_origin_parses_and_builds_urls() {
        let origin = AppsOrigin::parse("http://localhost:8080").unwrap();
        assert_eq!(origin.url("a--b--c"), "http://a--b--c.localhost:8080");
        let origin = AppsOrigin::parse("https://Apps.Example.com:443/").unwrap();
        assert_eq!(origin.url("a--b--c"), "https://a--b--c.apps.example.com");
        for bad in [
            "localhost:8080",
            "ftp://x",
            "http://",
            "http://x/path",
            "http://u@x",
            "http://x:99999",
            "http://bad_domain",
        ] {
            assert!(AppsOrigin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_headers_map_to_labels_only_under_the_domain() {
        let origin = AppsOrigin::parse("http://localhost:8080").unwrap();
        let label = |host: &str| origin.label_of_host(host);
        assert_eq!(
            label("dash--vision--lab.localhost:8080").as_deref(),
            Some("dash--vision--lab")
        );
        assert_eq!(
            label("DASH--vision--lab.LOCALHOST").as_deref(),
            Some("dash--vision--lab")
        );
        assert_eq!(
            label("dash--vision--lab.localhost.").as_deref(),
            Some("dash--vision--lab")
        );
        assert_eq!(label("localhost:8080"), None);
        assert_eq!(label("127.0.0.1:8080"), None);
        assert_eq!(label("plain.localhost"), None);
        assert_eq!(label("a.b--c--d.localhost"), None);
        assert_eq!(label("x--y--zlocalhost"), None);
        assert_eq!(label("dash--vision--lab.localhost.evil.com"), None);
    }

    #[test]
    fn app_names_are_checked() {
        for good in ["a", "dash", "my-app-2"] {
            assert!(validate_app_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "1a", "a.b", &"a".repeat(31)] {
            assert!(validate_app_name(bad).is_err(), "{bad}");
        }
        assert!(validate_health_path("/healthz").is_ok());
        for bad in ["", "healthz", "//evil.com", "/a b", "/\u{e9}"] {
            assert!(validate_health_path(bad).is_err(), "{bad}");
        }
    }
}
