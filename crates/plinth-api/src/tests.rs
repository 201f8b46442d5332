//! Router tests: real SQLite in a temporary folder and an in-memory object store, requests
//! sent with `oneshot` (no sockets).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use plinth_artifacts::ArtifactStore;
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use tower::ServiceExt;

use crate::{router, AppState, ServerSettings};

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) state: AppState,
    pub(crate) admin_token: String,
    _store: TestStore,
    _runtime_root: tempfile::TempDir,
}

/// The first admin's password in router tests.
pub(crate) const ADMIN_PASSWORD: &str = "keeper-of-the-platform-77";

pub(crate) async fn app_with(settings: ServerSettings) -> TestApp {
    app_on(open_sqlite_temp().await, settings).await
}

/// The app over a given metadata store (the PostgreSQL variants of router tests).
pub(crate) async fn app_on(store: TestStore, settings: ServerSettings) -> TestApp {
    app_on_with(store, settings, plinth_core::IdentitySettings::default()).await
}

/// The app over a given metadata store, with given identity settings.
pub(crate) async fn app_on_with(
    store: TestStore,
    settings: ServerSettings,
    identity_settings: plinth_core::IdentitySettings,
) -> TestApp {
    let metastore = store.shared();
    let installation = metastore
        .record_startup(plinth_types::VERSION)
        .await
        .unwrap();
    let identity = plinth_core::IdentityService::new(
        metastore.clone(),
        plinth_auth::PasswordHasher::new(plinth_auth::HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }),
        plinth_auth::SecretBox::random(),
        identity_settings,
        std::sync::Arc::new(plinth_core::SystemClock),
    );
    identity
        .bootstrap_admin(Some(ADMIN_PASSWORD.to_string()))
        .await
        .unwrap();
    let runtime_root = tempfile::tempdir().unwrap();
    let executor =
        plinth_executor::LocalExecutor::new(runtime_root.path().join("executor")).unwrap();
    let artifacts = ArtifactStore::in_memory();
    let executor = std::sync::Arc::new(executor);
    let environments = plinth_envs::EnvironmentService::new(
        std::sync::Arc::new(plinth_envs::SqlEnvironmentStore::new(
            metastore.shared_pool(),
        )),
        executor.clone(),
        plinth_envs::EnvironmentSettings::new(runtime_root.path().join("envs")),
        std::sync::Arc::new(plinth_core::SystemClock),
    );
    let runtime = plinth_core::RuntimeService::new(
        metastore.clone(),
        identity.clone(),
        executor,
        artifacts.clone(),
        plinth_core::RuntimeSettings::new("http://127.0.0.1:9", runtime_root.path().join("work")),
        std::sync::Arc::new(plinth_core::SystemClock),
    );
    let pipelines = plinth_pipelines::PipelineService::new(
        std::sync::Arc::new(plinth_pipelines::SqlPipelineStore::new(
            metastore.shared_pool(),
        )),
        identity.clone(),
        runtime.clone(),
        artifacts.clone(),
        plinth_pipelines::PipelineSettings::new(runtime_root.path().join("pipelines")),
        std::sync::Arc::new(plinth_core::SystemClock),
    );
    let serving = plinth_serving::ServingService::new(
        std::sync::Arc::new(plinth_serving::SqlDeploymentStore::new(
            metastore.shared_pool(),
        )),
        identity.clone(),
        plinth_core::TrackingService::new(
            metastore.clone(),
            identity.clone(),
            artifacts.clone(),
            std::sync::Arc::new(plinth_core::SystemClock),
        ),
        artifacts.clone(),
        std::sync::Arc::new(plinth_serving::OnnxRuntime::new(
            plinth_serving::RuntimeSettings {
                // No ONNX Runtime in these tests: a deployment is refused before it loads.
                library_path: Some(runtime_root.path().join("no-libonnxruntime.so")),
                ..plinth_serving::RuntimeSettings::default()
            },
        )),
        std::sync::Arc::new(plinth_core::SystemClock),
    );
    let backend = format!("{}://test", metastore.backend());
    let files = plinth_files::FilesService::new(
        std::sync::Arc::new(plinth_files::SqlFileStore::new(metastore.shared_pool())),
        identity.clone(),
        artifacts.clone(),
        plinth_auth::SecretBox::random(),
        std::sync::Arc::new(plinth_core::SystemClock),
        "http://127.0.0.1:9".to_string(),
    );
    let state = AppState::new(
        metastore,
        backend,
        artifacts,
        crate::Services {
            gateway: plinth_gateway::Gateway::new(
                runtime.clone(),
                identity.clone(),
                plinth_gateway::GatewaySettings::new("http://127.0.0.1:9"),
            ),
            pipelines,
            files,
            identity,
            runtime,
            environments,
            serving,
        },
        installation,
        settings,
    );
    let router = router(state.clone());
    let admin_token = login_token(&router, "admin", ADMIN_PASSWORD).await;
    TestApp {
        router,
        state,
        admin_token,
        _store: store,
        _runtime_root: runtime_root,
    }
}

/// Logs in through the API and returns the new token.
pub(crate) async fn login_token(router: &Router, username: &str, password: &str) -> String {
    let body = serde_json::json!({ "username": username, "password": password });
    let answer = send(
        router,
        json_request("POST", "/api/v1/auth/login", None, &body),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "login as {username}: {}",
        answer.body
    );
    answer.json()["token"].as_str().unwrap().to_string()
}

/// Builds a JSON request, with a bearer token when given.
pub(crate) fn json_request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

/// Builds a GET request with a bearer token.
pub(crate) fn get_as(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub(crate) async fn app() -> TestApp {
    app_with(ServerSettings::default()).await
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }
}

pub(crate) async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(router: &Router, uri: &str) -> Answer {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = app().await;
    let answer = get(&app.router, "/healthz").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_reports_each_dependency() {
    let app = app().await;
    let answer = get(&app.router, "/readyz").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["metastore"]["status"], "ok");
    assert_eq!(body["metastore"]["backend"], "sqlite");
    assert_eq!(body["objects"]["status"], "ok");
    assert_eq!(body["objects"]["backend"], "memory");
}

#[tokio::test]
async fn readyz_is_503_naming_the_failed_dependency() {
    let app = app().await;
    app.state.metastore().close().await;
    let answer = get(&app.router, "/readyz").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = answer.json();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["metastore"]["status"], "unavailable");
    assert!(
        body["metastore"]["error"]
            .as_str()
            .unwrap()
            .contains("metadata store unavailable"),
        "{body}"
    );
    assert_eq!(body["objects"]["status"], "ok");
    // Without its metadata store nobody can be authenticated: pages send people to log in.
    let page = get(&app.router, "/status").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn status_names_version_backends_and_installation() {
    let app = app().await;
    assert_eq!(
        get(&app.router, "/api/v1/status").await.status,
        StatusCode::UNAUTHORIZED
    );
    let body = send(&app.router, get_as("/api/v1/status", &app.admin_token))
        .await
        .json();
    assert_eq!(body["version"], plinth_types::VERSION);
    assert_eq!(body["metastore"]["backend"], "sqlite");
    assert_eq!(body["objects"]["location"], "memory://");
    assert_eq!(
        body["installation"]["installation_id"],
        app.state.installation().installation_id.as_str()
    );
    assert!(body["schema_version"].as_i64().unwrap() >= 20261128000001);
    assert_eq!(body["readiness"]["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = app().await;
    get(&app.router, "/healthz").await;
    get(&app.router, "/healthz").await;
    get(&app.router, "/api/v1/nope").await;
    let answer = get(&app.router, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    let text = answer.body;
    assert!(
        text.contains(
            r#"plinth_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"plinth_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"plinth_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.0005"}"#), "{text}");
    assert!(
        text.contains(&format!(
            r#"plinth_build_info{{version="{}"}} 1"#,
            plinth_types::VERSION
        )),
        "{text}"
    );
    assert!(
        text.contains("# TYPE plinth_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    let app = app().await;
    let body = get(&app.router, "/api/v1/openapi.json").await.json();
    assert!(body["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(body["info"]["version"], plinth_types::VERSION);
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/status",
        "/api/v1/openapi.json",
    ] {
        assert!(
            body["paths"][path]["get"].is_object(),
            "{path} missing from {body}"
        );
    }
    assert!(body["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn unknown_api_paths_get_json_errors_and_pages_get_html() {
    let app = app().await;
    let api = get(&app.router, "/api/v1/nothing-here").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["code"], "not_found");
    assert_eq!(
        api.json()["message"],
        "no route for `GET /api/v1/nothing-here`"
    );
    let page = get(&app.router, "/nothing-here").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("404 Not Found"));
}

#[tokio::test]
async fn wrong_method_is_a_json_405_with_allow() {
    let app = app().await;
    let answer = send(
        &app.router,
        Request::post("/api/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        answer.json()["message"],
        "method `POST` is not allowed on `/api/v1/status`"
    );
    assert!(
        answer.header("allow").contains("GET"),
        "{:?}",
        answer.headers
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = app_with(ServerSettings {
        max_body_bytes: 200,
        ..ServerSettings::default()
    })
    .await;
    let request = Request::post("/metrics")
        .header(header::CONTENT_LENGTH, "1000")
        .body(Body::from(vec![b'x'; 1000]))
        .unwrap();
    let answer = send(&app.router, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["code"], "payload_too_large");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = app().await;
    let answer = get(&app.router, "/nothing").await;
    assert_eq!(
        answer.header("x-request-id").len(),
        36,
        "{:?}",
        answer.headers
    );
    assert_eq!(answer.header("x-content-type-options"), "nosniff");
    assert_eq!(answer.header("x-frame-options"), "DENY");
    assert!(answer
        .header("content-security-policy")
        .contains("default-src 'self'"));
    let echoed = send(
        &app.router,
        Request::get("/healthz")
            .header("x-request-id", "client-chosen-id")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(echoed.header("x-request-id"), "client-chosen-id");
}

#[tokio::test]
async fn ui_shell_has_every_area_and_a_status_page() {
    let app = app().await;
    let (cookie, _) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    let home = send(&app.router, page_as("/", &cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.header("content-type").starts_with("text/html"));
    for area in crate::ui::AREAS {
        assert!(
            home.body.contains(&format!("href=\"{}\"", area.path)),
            "nav lacks {}",
            area.path
        );
        let page = send(&app.router, page_as(area.path, &cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", area.path);
        assert!(page.body.contains(area.title));
        assert!(
            page.body.contains("aria-current=\"page\""),
            "{} not highlighted",
            area.path
        );
    }
    let status = send(&app.router, page_as("/status", &cookie)).await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.body.contains(plinth_types::VERSION));
    assert!(status.body.contains("Metadata store") && status.body.contains("sqlite"));
    assert!(status
        .body
        .contains(&app.state.installation().installation_id));
}

/// Logs in through the login form; returns the session cookie (`name=value`) and the
/// session's CSRF token.
pub(crate) async fn browser_login(
    router: &Router,
    username: &str,
    password: &str,
) -> (String, String) {
    let form = format!("username={username}&password={password}&next=%2F");
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let answer = send(router, request).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let set_cookie = answer.header("set-cookie").to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let me = send(router, page_as("/api/v1/me", &cookie)).await.json();
    (cookie, me["csrf_token"].as_str().unwrap().to_string())
}

/// A GET with a session cookie.
pub(crate) fn page_as(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn form_as(uri: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn pages_send_anonymous_visitors_to_the_login_page() {
    let app = app().await;
    for path in [
        "/",
        "/status",
        "/profile",
        "/projects",
        "/admin",
        "/experiments",
    ] {
        let answer = get(&app.router, path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            answer.header("location"),
            format!("/login?next={path}"),
            "{path}"
        );
    }
    let login = get(&app.router, "/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Log in to Plinth"));
}

#[tokio::test]
async fn session_cookies_are_http_only_same_site_and_secure_behind_tls() {
    let app = app().await;
    let form = format!("username=admin&password={ADMIN_PASSWORD}&next=%2F%2Fevil.example");
    let plain = send(
        &app.router,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.clone()))
            .unwrap(),
    )
    .await;
    let cookie = plain.header("set-cookie");
    assert!(cookie.starts_with("plinth_session=pls_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    assert_eq!(
        plain.header("location"),
        "/",
        "`next` never leaves the site"
    );
    let tls = send(
        &app.router,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-proto", "https")
            .body(Body::from(form))
            .unwrap(),
    )
    .await;
    assert!(
        tls.header("set-cookie").contains("; Secure"),
        "{}",
        tls.header("set-cookie")
    );
    let wrong = send(
        &app.router,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("username=admin&password=wrong-password-here"))
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("invalid username or password"));
    let cross_site = send(
        &app.router,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "plinth.example")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::from(format!(
                "username=admin&password={ADMIN_PASSWORD}"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cookie_authenticated_changes_need_the_csrf_token() {
    let app = app().await;
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    // JSON API: the token goes in a header.
    let body = serde_json::json!({ "name": "acme" });
    let mut without = json_request("POST", "/api/v1/orgs", None, &body);
    without
        .headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    let answer = send(&app.router, without).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.json()["message"].as_str().unwrap().contains("CSRF"));
    let mut with = json_request("POST", "/api/v1/orgs", None, &body);
    with.headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    with.headers_mut()
        .insert("x-csrf-token", csrf.parse().unwrap());
    assert_eq!(send(&app.router, with).await.status, StatusCode::CREATED);
    // Forms: the token goes in `_csrf`.
    let forged = send(
        &app.router,
        form_as("/projects", &cookie, "organization=acme&name=forged"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = send(
        &app.router,
        form_as(
            "/projects",
            &cookie,
            "organization=acme&name=forged&_csrf=plc_wrong",
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let genuine = send(
        &app.router,
        form_as(
            "/projects",
            &cookie,
            &format!("organization=acme&name=real&_csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(genuine.status, StatusCode::SEE_OTHER);
    assert_eq!(genuine.header("location"), "/projects/acme/real");
    // Bearer tokens need no CSRF token: no browser sends them by itself.
    let bearer = send(
        &app.router,
        json_request(
            "POST",
            "/api/v1/orgs",
            Some(&app.admin_token),
            &serde_json::json!({ "name": "globex" }),
        ),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = app().await;
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        send(&app.router, page_as("/profile", &cookie)).await.status,
        StatusCode::OK
    );
    let answer = send(
        &app.router,
        form_as("/logout", &cookie, &format!("_csrf={csrf}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.header("set-cookie").contains("Max-Age=0"));
    let after = send(&app.router, page_as("/profile", &cookie)).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
    assert_eq!(
        send(&app.router, page_as("/api/v1/me", &cookie))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn every_page_renders_for_an_admin() {
    let app = app().await;
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    let created = send(
        &app.router,
        form_as(
            "/orgs",
            &cookie,
            &format!("name=acme&display_name=Acme&owner=&_csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(created.header("location"), "/orgs/acme");
    send(
        &app.router,
        form_as(
            "/projects",
            &cookie,
            &format!("organization=acme&name=churn&_csrf={csrf}"),
        ),
    )
    .await;
    let user = send(&app.router, form_as("/admin/users", &cookie, &format!("username=bob&email=bob%40example.com&password=violet-harbour-thimble-42&_csrf={csrf}"))).await;
    assert!(
        user.header("location").starts_with("/admin?ok="),
        "{}",
        user.header("location")
    );
    let weak = send(
        &app.router,
        form_as(
            "/admin/users",
            &cookie,
            &format!("username=carl&email=carl%40example.com&password=short&_csrf={csrf}"),
        ),
    )
    .await;
    assert!(
        weak.header("location")
            .contains("error=invalid%20%60password%60"),
        "{}",
        weak.header("location")
    );
    for path in [
        "/",
        "/profile",
        "/projects",
        "/orgs/acme",
        "/projects/acme/churn",
        "/admin",
        "/admin/users/bob",
        "/admin/settings",
        "/admin/audit",
        "/status",
    ] {
        let answer = send(&app.router, page_as(path, &cookie)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    let audit = send(&app.router, page_as("/admin/audit?action=user.", &cookie)).await;
    assert!(audit.body.contains("user.create"));
    let token = send(
        &app.router,
        form_as(
            "/profile/tokens",
            &cookie,
            &format!(
                "name=laptop&expires_days=30&project=acme%2Fchurn&read_only=true&_csrf={csrf}"
            ),
        ),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK);
    assert!(token.body.contains("new-token-value") && token.body.contains("plt_"));
    let missing = send(&app.router, page_as("/projects/acme/nope", &cookie)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn assets_are_embedded_with_revalidation() {
    let app = app().await;
    let css = get(&app.router, "/assets/plinth.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), "text/css");
    let etag = css.header("etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 10);
    let again = send(
        &app.router,
        Request::get("/assets/plinth.css")
            .header("if-none-match", &etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(
        get(&app.router, "/assets/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app.router, "/assets/missing.js").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app.router, "/favicon.ico")
            .await
            .header("content-type"),
        "image/svg+xml"
    );
}

#[tokio::test]
async fn serve_stops_when_told_and_sets_nodelay() {
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(app.state.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn committed_openapi_document_is_current() {
    let generated = serde_json::to_string_pretty(&crate::openapi_document()).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("PLINTH_UPDATE_OPENAPI").is_some() {
        fs_err::write(&path, &generated).unwrap();
    }
    let committed = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the code; regenerate it with \
         `PLINTH_UPDATE_OPENAPI=1 cargo test -p plinth-api committed_openapi` and review the diff"
    );
}

#[tokio::test]
async fn required_mfa_sends_users_to_enroll_first() {
    let app = app().await;
    let admin = Some(app.admin_token.as_str());
    let user = serde_json::json!({ "username": "bob", "email": "bob@example.com", "password": "violet-harbour-thimble-42" });
    send(
        &app.router,
        json_request("POST", "/api/v1/users", admin, &user),
    )
    .await;
    let (cookie, _) = browser_login(&app.router, "bob", "violet-harbour-thimble-42").await;
    let settings =
        serde_json::json!({ "signup_enabled": false, "signup_domains": [], "mfa_required": true });
    assert_eq!(
        send(
            &app.router,
            json_request("PUT", "/api/v1/settings/auth", admin, &settings)
        )
        .await
        .status,
        StatusCode::OK
    );
    let home = send(&app.router, page_as("/projects", &cookie)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert!(
        home.header("location")
            .starts_with("/profile?error=Two-factor"),
        "{}",
        home.header("location")
    );
    assert_eq!(
        send(&app.router, page_as("/profile", &cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app.router, page_as("/api/v1/projects", &cookie))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let login = serde_json::json!({ "username": "bob", "password": "violet-harbour-thimble-42" });
    let answer = send(
        &app.router,
        json_request("POST", "/api/v1/auth/login", None, &login),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.json()["message"]
        .as_str()
        .unwrap()
        .contains("enroll"));
}

#[tokio::test]
async fn backend_locations_are_for_admins_only() {
    let app = app().await;
    let user = serde_json::json!({ "username": "bob", "email": "bob@example.com", "password": "violet-harbour-thimble-42" });
    send(
        &app.router,
        json_request("POST", "/api/v1/users", Some(&app.admin_token), &user),
    )
    .await;
    let bob = login_token(&app.router, "bob", "violet-harbour-thimble-42").await;
    let as_bob = send(&app.router, get_as("/api/v1/status", &bob))
        .await
        .json();
    assert_eq!(as_bob["metastore"]["location"], "(visible to admins)");
    assert_eq!(as_bob["metastore"]["backend"], "sqlite");
    let as_admin = send(&app.router, get_as("/api/v1/status", &app.admin_token))
        .await
        .json();
    assert_eq!(as_admin["metastore"]["location"], "sqlite://test");
}
