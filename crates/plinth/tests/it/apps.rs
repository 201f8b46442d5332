//! Apps through the gateway of the real binary, as visitors and as an attacker would: a
//! small HTTP server (Python's standard library: pages, Server-Sent Events, a WebSocket
//! echo, streamed uploads, a request that breaks off) deployed with `plinth apps create`
//! and reached on its own origin (`{app}--{project}--{org}.localhost:{port}`, sent as the
//! `Host` header since the test's resolver does not resolve `*.localhost`).
//!
//! Checked: the redirect handshake and its one-time, host-bound code; the App's cookie
//! opens only its own App and never Plinth's API; Plinth's session cookie, App cookie and
//! bearer token never reach the App; a visitor whose role goes is refused within seconds;
//! outsiders get 403, strangers 401 or the handshake; 502 and 503 bodies say which replica
//! or why; streams arrive as they are written and WebSockets echo through.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, COOKIE, HOST, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli_jobs::Cli;
use crate::support::{workdir, Server, ADMIN_PASSWORD};

const PASSWORD: &str = "a-long-and-unusual-passphrase-42";

/// The App: standard-library Python only, listening on `$PLINTH_PORT_HTTP`.
const APP: &str = r#"
import base64, hashlib, json, os, socket, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/headers":
            seen = {}
            for name, value in self.headers.items():
                seen.setdefault(name.lower(), []).append(value)
            self.reply(200, "application/json", json.dumps(seen).encode())
        elif self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(f"data: tick {i}\n\n".encode())
                self.wfile.flush()
                time.sleep(1)
            self.close_connection = True
        elif self.path == "/ws":
            key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            while True:
                head = self.rfile.read(2)
                if len(head) < 2:
                    break
                length = head[1] & 0x7F
                mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                if head[0] & 0x0F == 8:
                    break
                reply = b"echo: " + data
                self.wfile.write(bytes([0x81, len(reply)]) + reply)
                self.wfile.flush()
            self.close_connection = True
        elif self.path == "/crash":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        else:
            self.reply(200, "text/html", ("<h1>" + os.environ["PLINTH_APP_URL"] + "</h1>").encode())

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(200, "text/plain", hashlib.sha256(data).hexdigest().encode())

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PLINTH_PORT_HTTP"])), Handler).serve_forever()
"#;

/// Stops every App of the test when it ends, even on a failure: their processes outlive
/// the server otherwise (the local backend keeps servers running across restarts).
struct StopApps {
    address: String,
    token: String,
    names: Vec<&'static str>,
}

impl Drop for StopApps {
    fn drop(&mut self) {
        let authority = self.address.trim_start_matches("http://").to_string();
        for name in &self.names {
            if let Ok(mut stream) = std::net::TcpStream::connect(&authority) {
                let _ = write!(
                    stream,
                    "POST /api/v1/orgs/acme/projects/churn/apps/{name}/stop HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.token
                );
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        // The stop's SIGTERM is sent from a task of the server: give it a moment.
        std::thread::sleep(Duration::from_millis(500));
    }
}

struct Visit {
    address: String,
    port: u16,
    http: reqwest::Client,
}

impl Visit {
    fn host(&self, app: &str) -> String {
        format!("{app}--churn--acme.localhost:{}", self.port)
    }

    /// A request to `path` on the App's origin.
    fn app(&self, method: reqwest::Method, app: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.address))
            .header(HOST, self.host(app))
    }

    fn main(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.address))
    }
}

async fn api(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = reqwest::Client::new()
        .request(method.parse().unwrap(), server.url(path))
        .bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let answer = request.send().await.expect("request");
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn token_of(server: &Server, username: &str, password: &str) -> String {
    let (status, body) = api(
        server,
        "",
        "POST",
        "/api/v1/auth/login",
        Some(json!({ "username": username, "password": password })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Logs in through the login form; returns `plinth_session=…`.
async fn browser_session(visit: &Visit, username: &str) -> String {
    let answer = visit
        .http
        .post(format!("{}/login", visit.address))
        .form(&[
            ("username", username),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// Runs the handshake for `session` and returns the App's `Set-Cookie` and the code URL.
async fn handshake(visit: &Visit, session: &str, app: &str, next: &str) -> (StatusCode, String) {
    let answer = visit
        .main(&format!(
            "/gateway/handshake?app={app}--churn--acme&next={}",
            urlencode(next)
        ))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap();
    let location = answer
        .headers()
        .get(LOCATION)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    (answer.status(), location)
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Exchanges the code of `location` (an absolute URL on `app`'s origin) there; returns the
/// status, `Set-Cookie` and `Location`.
async fn exchange(visit: &Visit, app: &str, location: &str) -> (StatusCode, String, String) {
    let path = &location[location.find("/__plinth/").expect("a code URL")..];
    let answer = visit
        .app(reqwest::Method::GET, app, path)
        .send()
        .await
        .unwrap();
    let header = |name| {
        answer
            .headers()
            .get(name)
            .map(|value: &reqwest::header::HeaderValue| value.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (answer.status(), header(SET_COOKIE), header(LOCATION))
}

async fn wait_until_served(visit: &Visit, app: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = visit
            .app(reqwest::Method::GET, app, "/")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        if answer.status() == StatusCode::OK {
            return;
        }
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        assert!(
            status == StatusCode::SERVICE_UNAVAILABLE,
            "App {app} answered {status} {body}"
        );
        assert!(
            Instant::now() < deadline,
            "App {app} never became ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_served_on_their_own_origins_behind_plinth_sign_in() {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        &[],
        &[("PLINTH__RUNTIME__LOCAL__WHEN_UNSANDBOXED", "warn")],
    );
    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    let admin_token = server.admin_token().await;
    let _stop = StopApps {
        address: server.address.clone(),
        token: admin_token.clone(),
        names: vec!["web", "evil", "open", "mute"],
    };
    let admin = Cli::new(dir.path(), "admin");
    admin.login(&server.address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();
    for user in ["bob", "eve"] {
        let (status, body) = api(
            &server,
            &admin_token,
            "POST",
            "/api/v1/users",
            Some(json!({ "username": user, "email": format!("{user}@example.com"), "password": PASSWORD })),
        )
        .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = api(
        &server,
        &admin_token,
        "PUT",
        "/api/v1/orgs/acme/projects/churn/members/bob",
        Some(json!({ "role": "viewer" })),
    )
    .await;
    assert!(status.is_success(), "{body}");

    // Deployed with the CLI: the URL is the last line of stdout, on an origin of its own.
    let python = ["--", "/usr/bin/python3", "-c", APP];
    for (name, public) in [("web", false), ("evil", false), ("open", true)] {
        let mut args = vec!["apps", "create", name, "--no-snapshot"];
        if public {
            args.push("--public");
        }
        args.extend(python);
        let stdout = admin.run(&args).ok();
        assert_eq!(
            stdout.lines().last().unwrap(),
            format!("http://{name}--churn--acme.localhost:{port}"),
            "{stdout}"
        );
    }
    // One that never listens.
    admin
        .run(&[
            "apps",
            "create",
            "mute",
            "--no-snapshot",
            "--",
            "sleep",
            "600",
        ])
        .ok();
    let listed = admin.json(&["apps", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["evil", "mute", "open", "web"]);

    let visit = Visit {
        address: server.address.clone(),
        port,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    };
    for app in ["web", "evil", "open"] {
        wait_until_served(&visit, app, &admin_token).await;
    }

    // The App sees its own URL.
    let page = visit
        .app(reqwest::Method::GET, "web", "/")
        .header(AUTHORIZATION, format!("Bearer {admin_token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        page,
        format!("<h1>http://web--churn--acme.localhost:{port}</h1>")
    );

    // Strangers: a page load goes to the main origin's handshake, anything else is 401.
    let answer = visit
        .app(reqwest::Method::GET, "web", "/a/b?c=1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    assert_eq!(
        answer.headers()[LOCATION],
        format!(
            "{}/gateway/handshake?app=web--churn--acme&next=%2Fa%2Fb%3Fc%3D1",
            server.address
        )
    );
    let answer = visit
        .app(reqwest::Method::POST, "web", "/upload")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["reason"], "sign_in_required", "{body}");
    // The public App needs nobody.
    let answer = visit
        .app(reqwest::Method::GET, "open", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // An unknown App is a 404, a foreign token a 401.
    let answer = visit
        .app(reqwest::Method::GET, "ghost", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let answer = visit
        .app(reqwest::Method::GET, "web", "/")
        .header(AUTHORIZATION, "Bearer plt_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);

    // The handshake: signed in on the main origin, bob comes back with a one-time code
    // bound to web's host, which becomes web's cookie.
    let bob = browser_session(&visit, "bob").await;
    let (status, location) = handshake(&visit, &bob, "web", "/headers").await;
    assert!(status.is_redirection(), "{status}");
    assert!(
        location.starts_with(&format!(
            "http://web--churn--acme.localhost:{port}/__plinth/auth?code="
        )),
        "{location}"
    );
    let (status, set_cookie, next) = exchange(&visit, "web", &location).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(next, "/headers");
    assert!(set_cookie.starts_with("plinth_app="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain"),
        "host-only: {set_cookie}"
    );
    let web_cookie = set_cookie.split(';').next().unwrap().to_string();
    // A code works once.
    let (status, _, _) = exchange(&visit, "web", &location).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A code for web does not open evil.
    let (_, location) = handshake(&visit, &bob, "web", "/").await;
    let (status, set_cookie, _) = exchange(&visit, "evil", &location).await;
    assert_eq!(
        (status, set_cookie.as_str()),
        (StatusCode::UNAUTHORIZED, "")
    );
    // The handshake refuses to send anyone elsewhere.
    let (status, _) = handshake(&visit, &bob, "web", "//evil.example.com/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // What reaches the App: none of Plinth's credentials, the visitor's name, X-Forwarded-*.
    let answer = visit
        .app(reqwest::Method::GET, "web", "/headers")
        .header(COOKIE, format!("theme=dark; {web_cookie}; {bob}"))
        .header("x-plinth-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let seen: Value = answer.json().await.unwrap();
    assert_eq!(seen["cookie"], json!(["theme=dark"]), "{seen}");
    assert_eq!(seen["x-plinth-user"], json!(["bob"]), "{seen}");
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{seen}");
    assert_eq!(
        seen["x-forwarded-host"],
        json!([visit.host("web")]),
        "{seen}"
    );
    assert_eq!(seen["x-forwarded-proto"], json!(["http"]), "{seen}");
    let answer = visit
        .app(reqwest::Method::GET, "web", "/headers")
        .header(AUTHORIZATION, format!("Bearer {admin_token}"))
        .send()
        .await
        .unwrap();
    let seen: Value = answer.json().await.unwrap();
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert_eq!(seen["x-plinth-user"], json!(["admin"]), "{seen}");

    // The attacker's App: its page can only make the visitor's browser send what the
    // browser holds for each origin. web's cookie does not open evil (nor the reverse),
    // and Plinth's API refuses it.
    let answer = visit
        .app(reqwest::Method::GET, "evil", "/headers")
        .header(COOKIE, &web_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::FOUND,
        "web's cookie must not open evil"
    );
    let answer = visit
        .app(reqwest::Method::POST, "evil", "/upload")
        .header(COOKIE, &web_cookie)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let answer = visit
        .main("/api/v1/me")
        .header(COOKIE, &web_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::UNAUTHORIZED,
        "the API must refuse an App cookie"
    );
    // An App cannot plant cookies for Plinth's names either: a `Set-Cookie` with a
    // `Domain` or Plinth's names never leaves the gateway (unit-tested in plinth-gateway);
    // and evil's origin is never Plinth's: its host serves no UI or API.
    let answer = visit
        .app(reqwest::Method::GET, "evil", "/api/v1/me")
        .header(AUTHORIZATION, format!("Bearer {admin_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.text().await.unwrap();
    assert!(
        text.starts_with("<h1>"),
        "the App answers its own paths: {text}"
    );

    // Outsiders: the handshake refuses eve; so does the gateway with her token.
    let eve = browser_session(&visit, "eve").await;
    let (status, _) = handshake(&visit, &eve, "web", "/").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let eve_token = token_of(&server, "eve", PASSWORD).await;
    let answer = visit
        .app(reqwest::Method::GET, "web", "/")
        .header(AUTHORIZATION, format!("Bearer {eve_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`viewer` role in project `acme/churn`"),
        "{body}"
    );

    // Streams: Server-Sent Events arrive as written, one second apart.
    let started = Instant::now();
    let mut answer = visit
        .app(reqwest::Method::GET, "web", "/sse")
        .header(COOKIE, &web_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = answer.chunk().await.unwrap() {
        arrivals.push(started.elapsed());
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(text, "data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n");
    assert!(
        arrivals.len() >= 3
            && arrivals[arrivals.len() - 1] - arrivals[0] >= Duration::from_millis(1500),
        "events must not be buffered: {arrivals:?}"
    );
    // A request body streams through (1 MiB, hashed by the App).
    let upload = vec![7_u8; 1 << 20];
    let answer = visit
        .app(reqwest::Method::POST, "web", "/upload")
        .header(COOKIE, &web_cookie)
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.text().await.unwrap(),
        "51b12eb838732b786b4d45c660a974ddf3860ae09084fd293fa6e5df46581a6c"
    );

    // A WebSocket, upgraded on both sides.
    let mut socket = tokio::net::TcpStream::connect(server.address.trim_start_matches("http://"))
        .await
        .unwrap();
    socket
        .write_all(
            format!(
                "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {web_cookie}\r\n\r\n",
                visit.host("web")
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0_u8; 1];
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for message in ["hello", "again"] {
        let mask = [1_u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | message.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(message.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        socket.write_all(&frame).await.unwrap();
        let mut header = [0_u8; 2];
        socket.read_exact(&mut header).await.unwrap();
        let mut payload = vec![0_u8; usize::from(header[1] & 0x7F)];
        socket.read_exact(&mut payload).await.unwrap();
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            format!("echo: {message}")
        );
    }

    // 502 and 503 say which replica, or why.
    let answer = visit
        .app(reqwest::Method::GET, "web", "/crash")
        .header(COOKIE, &web_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        (body["reason"].as_str(), body["replica"].as_u64()),
        (Some("replica_failed"), Some(0)),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("replica 0 (127.0.0.1:"),
        "{body}"
    );
    let answer = visit
        .app(reqwest::Method::GET, "mute", "/")
        .header(AUTHORIZATION, format!("Bearer {admin_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason == "no_healthy_replica" || reason == "starting",
        "{body}"
    );

    // A visitor whose role goes is refused within the role check's few seconds.
    let (status, body) = api(
        &server,
        &admin_token,
        "DELETE",
        "/api/v1/orgs/acme/projects/churn/members/bob",
        None,
    )
    .await;
    assert!(status.is_success(), "{body}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let answer = visit
        .app(reqwest::Method::GET, "web", "/")
        .header(COOKIE, &web_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);

    // Logs and stop through the CLI; a stopped App says so.
    let logs = admin.run(&["apps", "logs", "web"]).ok();
    assert!(logs.contains("\"GET /headers HTTP/1.1\" 200"), "{logs}");
    admin.run(&["apps", "stop", "web"]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = visit
            .app(reqwest::Method::GET, "web", "/")
            .header(AUTHORIZATION, format!("Bearer {admin_token}"))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if body["reason"] == "not_running" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("the App is stopped"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "web did not stop: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Streamlit page: its widgets reach the server only over Streamlit's WebSocket.
const STREAMLIT_APP: &str = r#"
import streamlit as st

st.title("Hello from Plinth")
if "clicks" not in st.session_state:
    st.session_state.clicks = 0
if st.button("Count"):
    st.session_state.clicks += 1
st.write(f"clicked {st.session_state.clicks} times")
"#;

/// A Streamlit app deployed with the CLI, opened in headless Chromium: the browser signs in
/// on Plinth's origin, follows the handshake to the App's own origin, the page renders, and
/// a button click travels over Streamlit's WebSocket through the gateway and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL and PLINTH_TEST_STREAMLIT_VENV (scripts/test)"]
async fn a_streamlit_app_works_in_the_browser_through_the_gateway() {
    let venv = std::env::var("PLINTH_TEST_STREAMLIT_VENV").expect("PLINTH_TEST_STREAMLIT_VENV");
    let dir = workdir();
    let app_dir = dir.path().join("dashboard");
    fs_err::create_dir(&app_dir).unwrap();
    fs_err::write(app_dir.join("app.py"), STREAMLIT_APP).unwrap();
    let read_only = format!("[\"{venv}\"]");
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("PLINTH__RUNTIME__LOCAL__WHEN_UNSANDBOXED", "warn"),
            (
                "PLINTH__RUNTIME__LOCAL__SANDBOX__READ_ONLY_PATHS",
                &read_only,
            ),
        ],
    );
    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    let admin_token = server.admin_token().await;
    let _stop = StopApps {
        address: server.address.clone(),
        token: admin_token.clone(),
        names: vec!["dash"],
    };
    let admin = Cli::new(dir.path(), "admin");
    admin.login(&server.address, "admin", ADMIN_PASSWORD);
    admin.run(&["orgs", "create", "acme"]).ok();
    admin.run(&["projects", "create", "acme/churn"]).ok();
    let command = format!(
        "exec {venv}/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
         --server.port $PLINTH_PORT_HTTP --browser.gatherUsageStats false"
    );
    let app_dir = app_dir.display().to_string();
    let stdout = admin
        .run(&[
            "apps", "create", "dash", "--dir", &app_dir, "--", "sh", "-c", &command,
        ])
        .ok();
    let url = format!("http://dash--churn--acme.localhost:{port}");
    assert_eq!(stdout.lines().last().unwrap(), url, "{stdout}");
    let visit = Visit {
        address: server.address.clone(),
        port,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    };
    wait_until_served(&visit, "dash", &admin_token).await;

    let browser = crate::browser::browser().await;
    let result = async {
        crate::browser::log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        browser.goto(&format!("{url}/")).await?;
        // Chromium resolves `*.localhost` itself: after the handshake it is on the App's
        // origin, never Plinth's.
        let here = browser.current_url().await?;
        assert_eq!(
            here.host_str(),
            Some("dash--churn--acme.localhost"),
            "{here}"
        );
        let text = "return document.body ? document.body.innerText : ''";
        let page = crate::browser::wait_until(&browser, text, 60, |value| {
            value
                .as_str()
                .is_some_and(|text| text.contains("clicked 0 times"))
        })
        .await?;
        let page = page.as_str().unwrap_or_default();
        assert!(page.contains("Hello from Plinth"), "{page}");
        assert!(page.contains("clicked 0 times"), "{page}");
        for clicks in 1..=2 {
            let button = browser
                .find(fantoccini::Locator::XPath("//button[.//p[text()='Count']]"))
                .await?;
            button.click().await?;
            let expected = format!("clicked {clicks} times");
            let page = crate::browser::wait_until(&browser, text, 30, |value| {
                value.as_str().is_some_and(|text| text.contains(&expected))
            })
            .await?;
            assert!(
                page.as_str().unwrap_or_default().contains(&expected),
                "{page}"
            );
        }
        // The App's page cannot read Plinth's session: its cookie is host-only on the
        // main origin, and the App's own cookie is HttpOnly.
        let cookies = browser.execute("return document.cookie", vec![]).await?;
        assert!(
            !cookies.as_str().unwrap_or_default().contains("plinth"),
            "{cookies}"
        );
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    if result.is_err() {
        let _ = crate::browser::shot(&browser, "streamlit-app").await;
    }
    browser.close().await.ok();
    result.unwrap();
}
