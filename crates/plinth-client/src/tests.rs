//! The client against a small fake server: paths, bearer tokens, and each kind of failure.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::{parse_server_url, Client, ClientError, LoginRequest};

fn user(username: &str) -> serde_json::Value {
    json!({
        "id": "0190",
        "username": username,
        "email": format!("{username}@example.com"),
        "display_name": "Ada",
        "is_admin": true,
        "is_active": true,
        "mfa_enabled": false,
        "created_at_ms": 1,
        "last_login_at_ms": null,
    })
}

async fn fake_server() -> String {
    let app = Router::new()
        .route(
            "/api/v1/me",
            get(|headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer plt_good")
                {
                    Ok(Json(json!({
                        "user": user("ada"),
                        "recovery_codes_left": 0,
                        "credential": "token",
                    })))
                } else {
                    Err((
                        StatusCode::UNAUTHORIZED,
                        Json(json!({"code": "unauthenticated", "message": "invalid token: revoked"})),
                    ))
                }
            }),
        )
        .route(
            "/api/v1/users/{username}",
            get(|Path(username): Path<String>| async move {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"code": "not_found", "message": format!("user `{username}` not found")})),
                )
            }),
        )
        .route(
            "/api/v1/auth/login",
            post(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({
                        "code": "mfa_required",
                        "message": "this account uses two-factor authentication: send `totp_code`",
                    })),
                )
            }),
        )
        .route(
            "/api/v1/orgs",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>") }),
        )
        .route("/api/v1/projects", get(|| async { "not json" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[test]
fn server_urls_are_checked_and_normalised() {
    assert_eq!(
        parse_server_url("localhost:8080").unwrap().as_str(),
        "http://localhost:8080/"
    );
    assert_eq!(
        Client::try_new("http://127.0.0.1:9/").unwrap().server(),
        "http://127.0.0.1:9"
    );
    for (url, reason) in [
        ("https://plinth.example.com", "plain http only"),
        ("ftp://host", "http://HOST:PORT"),
        ("http://user:pw@host", "credentials"),
        ("http://host/?q=1", "query"),
    ] {
        let error = parse_server_url(url).unwrap_err().to_string();
        assert!(error.contains(reason), "{url}: {error}");
        assert!(
            error.starts_with(&format!("invalid server URL `{url}`")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn sends_the_bearer_token_and_decodes_the_answer() {
    let server = fake_server().await;
    let me = Client::try_new(&server)
        .unwrap()
        .with_token("plt_good")
        .me()
        .await
        .unwrap();
    assert_eq!(me.user.username.as_str(), "ada");
    assert_eq!(me.credential, "token");

    let error = Client::try_new(&server)
        .unwrap()
        .with_token("plt_bad")
        .me()
        .await
        .unwrap_err();
    assert!(error.is_unauthenticated());
    assert_eq!(error.kind(), Some(plinth_types::ErrorKind::Unauthenticated));
    assert_eq!(error.to_string(), "invalid token: revoked");
}

#[tokio::test]
async fn path_segments_are_percent_encoded() {
    let server = fake_server().await;
    let error = Client::try_new(&server)
        .unwrap()
        .get_user("a/b c")
        .await
        .unwrap_err();
    // One segment: the route matched, and got the name back decoded.
    assert_eq!(error.to_string(), "user `a/b c` not found");
    assert_eq!(error.status(), Some(404));
}

#[tokio::test]
async fn a_login_that_needs_a_totp_code_says_so() {
    let server = fake_server().await;
    let request = LoginRequest {
        username: "ada".into(),
        password: "secret".into(),
        ..LoginRequest::default()
    };
    assert!(!format!("{request:?}").contains("secret"));
    let error = Client::try_new(&server)
        .unwrap()
        .login(&request)
        .await
        .unwrap_err();
    assert!(error.needs_totp_code(), "{error}");
}

#[tokio::test]
async fn answers_that_are_not_the_api_are_unexpected() {
    let server = fake_server().await;
    let client = Client::try_new(&server).unwrap();
    let error = client.list_organizations().await.unwrap_err();
    assert!(
        matches!(error, ClientError::UnexpectedResponse { status: 502, .. }),
        "{error:?}"
    );
    let error = client
        .list_projects(&crate::ProjectListQuery::default())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not the expected JSON"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_server_names_the_cause() {
    // Bind then drop: the port is (almost certainly) closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = Client::try_new(&format!("http://{address}"))
        .unwrap()
        .me()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ClientError::Http { .. }), "{error:?}");
    assert!(
        message.starts_with(&format!("cannot reach the server at `http://{address}`: ")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
}
