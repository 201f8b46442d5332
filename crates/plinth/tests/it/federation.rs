//! Identity federation against real services: OpenLDAP's `slapd` (`start_slapd` in
//! `scripts/lib/services.sh`: users alice, bob and ada; ml-team ⊂ data-science nested, and
//! plinth-admins) and an OpenID Connect provider (npm `oidc-provider`,
//! `start_oidc_provider`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{client, workdir, Server, ADMIN_PASSWORD};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (scripts/lib/services.sh)"))
}

/// Writes `plinth.toml` with one `[[auth.ldap]]` directory at `url` and returns its path.
fn ldap_config(dir: &Path, url: &str, ca_file: Option<&str>, sync: &str) -> String {
    let password_file = dir.join("ldap-bind");
    fs_err::write(&password_file, "reader-secret\n").unwrap();
    let ca = ca_file
        .map(|path| format!("ca_file = {path:?}\n"))
        .unwrap_or_default();
    let config = format!(
        r#"
[auth]
directory_sync_interval = "{sync}"

[[auth.ldap]]
name = "corp"
url = "{url}"
{ca}bind_dn = "cn=reader,dc=plinth,dc=test"
bind_password_file = {password_file:?}
user_base = "ou=people,dc=plinth,dc=test"
group_base = "ou=groups,dc=plinth,dc=test"
user_filter = "(uid={{username}})"
nested_groups = "recursive"
timeout = "3s"

[[auth.ldap.role_mappings]]
group = "cn=plinth-admins,ou=groups,dc=plinth,dc=test"
platform_admin = true

[[auth.ldap.role_mappings]]
group = "CN=Data-Science,OU=groups,DC=plinth,DC=test"
organization = "acme"
organization_role = "member"
project = "churn"
project_role = "contributor"
"#
    );
    let path = dir.join("plinth.toml");
    fs_err::write(&path, config).unwrap();
    path.to_string_lossy().into_owned()
}

async fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    let answer = client()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_LDAP_URL (start_slapd)"]
async fn ldap_users_log_in_with_mapped_roles_and_lose_access_when_deleted() {
    let dir = workdir();
    let config = ldap_config(dir.path(), &env("PLINTH_TEST_LDAP_URL"), None, "1s");
    let server = Server::start(dir.path(), &["--config", &config], &[]);
    let admin = server.admin_token().await;
    use reqwest::Method;
    // The organization and project the groups map to.
    let (status, _) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/orgs",
        Some(json!({ "name": "acme" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/orgs/acme/projects",
        Some(json!({ "name": "churn" })),
    )
    .await;
    assert_eq!(status, 201);

    // The admin's buttons.
    let (status, directories) = call(
        &server,
        Method::GET,
        &admin,
        "/api/v1/admin/directories",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(directories[0]["name"], "corp");
    assert_eq!(directories[0]["security"], "plain");
    let (status, tested) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/admin/directories/corp/test-connection",
        None,
    )
    .await;
    assert_eq!((status, &tested["ok"]), (200, &json!(true)), "{tested}");
    let (status, tested) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/admin/directories/corp/test-login",
        Some(json!({ "username": "bob", "password": "bob-directory-pw" })),
    )
    .await;
    assert_eq!((status, &tested["ok"]), (200, &json!(true)), "{tested}");
    assert_eq!(tested["account"]["email"], "bob@plinth.test");
    assert_eq!(
        tested["account"]["projects"],
        json!(["acme/churn: contributor"])
    );
    let (_, tested) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/admin/directories/corp/test-login",
        Some(json!({ "username": "bob", "password": "wrong" })),
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    // A test login creates nothing.
    let (status, _) = call(&server, Method::GET, &admin, "/api/v1/users/bob", None).await;
    assert_eq!(status, 404);

    // alice is in data-science only through ml-team (nested).
    let (status, body) = login(&server, "alice", "alice-directory-pw").await;
    assert_eq!(status, 200, "{body}");
    let alice = body["token"].as_str().unwrap().to_string();
    let (_, me) = call(&server, Method::GET, &alice, "/api/v1/me", None).await;
    assert_eq!(me["user"]["email"], "alice@plinth.test", "{me}");
    assert_eq!(me["user"]["display_name"], "Alice Liddell");
    assert_eq!(me["user"]["is_admin"], false);
    let (status, project) = call(
        &server,
        Method::GET,
        &alice,
        "/api/v1/orgs/acme/projects/churn",
        None,
    )
    .await;
    assert_eq!(status, 200, "{project}");
    assert_eq!(project["role"], "contributor");
    let (_, members) = call(
        &server,
        Method::GET,
        &admin,
        "/api/v1/orgs/acme/members",
        None,
    )
    .await;
    assert!(members.to_string().contains("alice"), "{members}");

    // The second login finds the same account.
    let (status, _) = call(&server, Method::GET, &admin, "/api/v1/users/alice", None).await;
    assert_eq!(status, 200);
    let (status, _) = login(&server, "ALICE", "alice-directory-pw").await;
    assert_eq!(status, 200);

    // ada's group makes her a platform admin.
    let (status, body) = login(&server, "ada", "ada-directory-pw").await;
    assert_eq!(status, 200, "{body}");
    let ada = body["token"].as_str().unwrap().to_string();
    let (_, me) = call(&server, Method::GET, &ada, "/api/v1/me", None).await;
    assert_eq!(me["user"]["is_admin"], true, "{me}");

    // Refusals: a wrong password, an unknown user, a filter injection, an empty password.
    for (username, password) in [
        ("alice", "wrong-password"),
        ("nobody", "alice-directory-pw"),
        ("*", "alice-directory-pw"),
        ("*)(uid=*", "alice-directory-pw"),
        ("alice", ""),
    ] {
        let (status, body) = login(&server, username, password).await;
        assert_eq!(status, 401, "{username}: {body}");
    }

    // Local sign-up is off while a directory is configured.
    let answer = client()
        .post(server.url("/api/v1/auth/signup"))
        .json(&json!({ "username": "mallory", "email": "m@example.com", "password": "a-long-enough-passphrase-9" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);

    // The local admin still logs in (break-glass).
    let (status, _) = login(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200);

    // alice is deleted from the directory: the periodic sync (every second here)
    // deactivates her, and her token stops working.
    let deleted = Command::new("ldapdelete")
        .args([
            "-x",
            "-H",
            &env("PLINTH_TEST_LDAP_URL"),
            "-D",
            &env("PLINTH_TEST_LDAP_ROOT_DN"),
            "-w",
            &env("PLINTH_TEST_LDAP_ROOT_PASSWORD"),
            "uid=alice,ou=people,dc=plinth,dc=test",
        ])
        .status()
        .expect("ldapdelete");
    assert!(deleted.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = call(&server, Method::GET, &alice, "/api/v1/me", None).await;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice's token still works 15 s after her deletion"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, user) = call(&server, Method::GET, &admin, "/api/v1/users/alice", None).await;
    assert_eq!(user["is_active"], false, "{user}");
    let (status, _) = login(&server, "alice", "alice-directory-pw").await;
    assert_eq!(status, 401);
    // bob, who never logged in, is untouched; ada still works.
    let (status, _) = call(&server, Method::GET, &ada, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    let (status, audit) = call(
        &server,
        Method::GET,
        &admin,
        "/api/v1/audit?action=federation.account.deactivate",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        audit.to_string().contains("deleted from the directory"),
        "{audit}"
    );
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_LDAPS_URL (start_slapd)"]
async fn ldaps_needs_the_ca_file_and_a_dead_directory_leaves_the_admin_in() {
    let ldaps = env("PLINTH_TEST_LDAPS_URL");
    let ca = env("PLINTH_TEST_LDAP_CA");

    let dir = workdir();
    let config = ldap_config(dir.path(), &ldaps, Some(&ca), "15m");
    let server = Server::start(dir.path(), &["--config", &config], &[]);
    let (status, body) = login(&server, "bob", "bob-directory-pw").await;
    assert_eq!(status, 200, "LDAPS with the CA file: {body}");
    drop(server);

    // Without the CA file the server's certificate is not trusted: the directory is
    // unavailable (503, saying so), never a login.
    let dir = workdir();
    let config = ldap_config(dir.path(), &ldaps, None, "15m");
    let server = Server::start(dir.path(), &["--config", &config], &[]);
    let (status, body) = login(&server, "bob", "bob-directory-pw").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unavailable"),
        "{body}"
    );
    drop(server);

    // A directory nobody answers at: directory users get 503, the local admin logs in.
    let dir = workdir();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = ldap_config(dir.path(), &format!("ldap://127.0.0.1:{port}"), None, "15m");
    let server = Server::start(dir.path(), &["--config", &config], &[]);
    let (status, _) = login(&server, "bob", "bob-directory-pw").await;
    assert_eq!(status, 503);
    let (status, _) = login(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        status, 200,
        "the local admin is the way in while the directory is down"
    );
}

/// A browser without JavaScript: follows redirects itself (so a test can stop at one and
/// change it) and keeps cookies by name (Plinth and the provider both live on 127.0.0.1
/// and use different cookie names).
struct Browser {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends one request, keeps its cookies, returns the status, Location and body.
    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, Option<String>, String) {
        let mut request = self
            .http
            .request(method, url)
            .header("cookie", self.cookie_header());
        if let Some(form) = form {
            request = request.form(form);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{url}: {error}"));
        for value in answer.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.to_string());
                }
            }
        }
        let status = answer.status().as_u16();
        let location = answer
            .headers()
            .get("location")
            .map(|value| absolute(url, value.to_str().unwrap()));
        (status, location, answer.text().await.unwrap_or_default())
    }

    /// Follows redirects from `url` until a page answers, or until a redirect whose URL
    /// contains `stop_at` (returned instead of followed).
    async fn follow(
        &mut self,
        mut url: String,
        mut form: Option<Vec<(&str, &str)>>,
        stop_at: &str,
    ) -> (u16, String, String) {
        for _ in 0..20 {
            let method = if form.is_some() {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let (status, location, body) = self.send(method, &url, form.take().as_deref()).await;
            match location {
                Some(next) if (300..400).contains(&status) => {
                    if next.contains(stop_at) {
                        return (status, next, body);
                    }
                    url = next;
                }
                _ => return (status, url, body),
            }
        }
        panic!("too many redirects from {url}");
    }
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// Returns the `action` of the first form in `html`, made absolute.
fn form_action(page_url: &str, html: &str) -> String {
    let start = html
        .find("<form")
        .unwrap_or_else(|| panic!("no form on {page_url}:\n{html}"));
    let rest = &html[start..];
    let action = rest
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    absolute(page_url, &action.replace("&amp;", "&"))
}

/// Returns the hidden fields of the first form in `html`.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let form = html.split("<form").nth(1).unwrap_or_default();
    let form = form.split("</form>").next().unwrap_or_default();
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_string)
    };
    form.split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| {
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// Logs `username` in at the provider through its login and consent forms, starting at
/// Plinth's login route; returns the callback URL the provider sends the browser to.
async fn provider_login(browser: &mut Browser, server: &Server, username: &str) -> String {
    const CALLBACK: &str = "/auth/oidc/sso/callback";
    let (mut status, mut url, mut html) = browser
        .follow(
            server.url("/auth/oidc/sso/login?next=/projects"),
            None,
            CALLBACK,
        )
        .await;
    let mut saw_login_form = false;
    for _ in 0..4 {
        if url.contains(CALLBACK) {
            assert!(
                saw_login_form || browser.cookies.contains_key("_session"),
                "the provider asked for nobody's password"
            );
            return url;
        }
        assert_eq!(status, 200, "{url}: {html}");
        let action = form_action(&url, &html);
        let mut form = hidden_fields(&html);
        if html.contains("name=\"login\"") {
            saw_login_form = true;
            form.push(("login".to_string(), username.to_string()));
            form.push(("password".to_string(), "any-password".to_string()));
        }
        // Otherwise the consent page: its hidden fields are the whole answer.
        let form: Vec<(&str, &str)> = form
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        (status, url, html) = browser.follow(action, Some(form), CALLBACK).await;
    }
    panic!("the provider never sent the browser back: {url}: {html}");
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_OIDC_ISSUER (start_oidc_provider)"]
async fn oidc_code_flow_ends_in_a_session_with_mapped_roles() {
    let issuer = env("PLINTH_TEST_OIDC_ISSUER");
    let dir = workdir();
    let secret = dir.path().join("oidc-secret");
    fs_err::write(&secret, "plinth-secret\n").unwrap();
    let config = dir.path().join("plinth.toml");
    fs_err::write(
        &config,
        format!(
            r#"
[[auth.oidc]]
name = "sso"
display_name = "Test SSO"
issuer = "{issuer}"
client_id = "plinth"
client_secret_file = {secret:?}
scopes = ["email", "profile", "groups"]

[[auth.oidc.role_mappings]]
group = "ml-engineers"
organization = "acme"
organization_role = "member"
project = "churn"
project_role = "contributor"
"#
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let server = Server::start(dir.path(), &["--config", &config], &[]);
    let admin = server.admin_token().await;
    use reqwest::Method;
    let (status, _) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/orgs",
        Some(json!({ "name": "acme" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &server,
        Method::POST,
        &admin,
        "/api/v1/orgs/acme/projects",
        Some(json!({ "name": "churn" })),
    )
    .await;
    assert_eq!(status, 201);

    // The login page offers the provider.
    let login_page = client()
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("Log in with Test SSO"), "{login_page}");
    assert!(login_page.contains("/auth/oidc/sso/login"), "{login_page}");

    let mut browser = Browser::new();
    let callback = provider_login(&mut browser, &server, "jane").await;
    assert!(
        callback.contains("state=") && callback.contains("code="),
        "{callback}"
    );

    // A tampered state is refused (and does not use up the real one).
    let tampered = {
        let mut url = url::Url::parse(&callback).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "state" {
                    format!("{value}x")
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url.to_string()
    };
    let (status, _, body) = browser.send(Method::GET, &tampered, None).await;
    assert_eq!(status, 401, "tampered state: {body}");
    assert!(!browser.cookies.contains_key("plinth_session"));
    // The callback without the browser's binding cookie is refused too.
    let mut stranger = Browser::new();
    let (status, _, _) = stranger.send(Method::GET, &callback, None).await;
    assert_eq!(status, 401, "a callback from another browser");

    // The real callback: that stranger's attempt used the state up, so log in again.
    let callback = provider_login(&mut browser, &server, "jane").await;
    let (status, location, body) = browser.send(Method::GET, &callback, None).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some(server.url("/projects").as_str()));
    assert!(
        browser.cookies.contains_key("plinth_session"),
        "a Plinth session cookie"
    );
    // The same state cannot be used twice.
    let (status, _, _) = browser.send(Method::GET, &callback, None).await;
    assert_eq!(status, 401, "a replayed callback");

    // The session is a normal one: /api/v1/me answers with the mapped account.
    let (status, _, me) = browser
        .send(Method::GET, &server.url("/api/v1/me"), None)
        .await;
    assert_eq!(status, 200, "{me}");
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["user"]["username"], "jane");
    assert_eq!(me["user"]["email"], "jane@sso.test");
    assert_eq!(me["user"]["display_name"], "Jane Doe");
    let (status, _, project) = browser
        .send(
            Method::GET,
            &server.url("/api/v1/orgs/acme/projects/churn"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{project}");
    let project: Value = serde_json::from_str(&project).unwrap();
    assert_eq!(project["role"], "contributor");
    let (_, audit) = call(
        &server,
        Method::GET,
        &admin,
        "/api/v1/audit?action=login.",
        None,
    )
    .await;
    let events = audit.as_array().unwrap();
    let details = |action: &str, actor: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|event| event["action"] == action && event["actor_name"] == actor)
            .map(|event| serde_json::from_str(event["details"].as_str().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(
        details("login.success", "jane")[0]["provider"],
        "sso",
        "{audit}"
    );
    let refusals = details("login.failure", "sso:?");
    assert!(
        refusals.len() >= 3,
        "the refused callbacks are audited: {audit}"
    );
    assert!(refusals
        .iter()
        .any(|d| d["reason"].as_str().unwrap().contains("another browser")));

    // Logging out ends the provider's session too (RP-initiated logout).
    let (status, _, page) = browser
        .send(Method::GET, &server.url("/profile"), None)
        .await;
    assert_eq!(status, 200);
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_string();
    let (status, location, _) = browser
        .send(
            Method::POST,
            &server.url("/logout"),
            Some(&[("_csrf", csrf.as_str())]),
        )
        .await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("{issuer}/session/end")),
        "{location}"
    );
    assert!(location.contains("post_logout_redirect_uri"), "{location}");
}
