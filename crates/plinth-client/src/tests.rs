//! The client against a small fake server: paths, bearer tokens, and each kind of failure.

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
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
        .route("/api/v1/projects", get(|| async { "not json" }))
        .route(
            "/projects/{organization}/{project}/api/2.0/mlflow/experiments/get-by-name",
            get(
                |Path((organization, project)): Path<(String, String)>,
                 Query(query): Query<std::collections::HashMap<String, String>>| async move {
                    (
                        StatusCode::NOT_FOUND,
                        Json(json!({
                            "error_code": "RESOURCE_DOES_NOT_EXIST",
                            "message": format!(
                                "Experiment '{}' does not exist in {organization}/{project}",
                                query["experiment_name"]
                            ),
                        })),
                    )
                },
            ),
        );
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
    assert_eq!(
        parse_server_url("https://plinth.example.com/")
            .unwrap()
            .as_str(),
        "https://plinth.example.com/"
    );
    let missing = Client::try_new_with("https://h", Some(std::path::Path::new("/nonexistent.pem")))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent.pem"), "{missing}");
    for (url, reason) in [
        ("ftp://host", "https://HOST[:PORT]"),
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

// ---------- runtime ----------

fn job_json(id: &str, state: &str) -> serde_json::Value {
    json!({
        "id": id, "project_id": "p1", "kind": "job", "name": "echo hi", "class": "small",
        "pool": "compute", "cpu_millis": 1000, "memory_bytes": 2147483648u64, "gpus": 0,
        "spec": {"command": ["echo", "hi"], "env": {}, "snapshot": null, "image": null, "ports": []},
        "state": state, "reason": "", "exit_code": null, "stop_requested": false,
        "created_by": "u1", "created_by_username": "ada", "rerun_of": null,
        "created_at_ms": 1, "started_at_ms": null, "finished_at_ms": null,
        "accounted_until_ms": null, "backend": "local",
        "queue_position": 2, "duration_ms": null,
    })
}

async fn fake_runtime_server() -> String {
    use axum::body::{Body, Bytes};
    use axum::extract::Query;
    use axum::routing::put;
    use std::collections::HashMap;

    const KNOWN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let app = Router::new()
        .route(
            "/api/v1/orgs/{org}/projects/{project}/snapshots/{sha}",
            put(
                |Path((_, _, sha)): Path<(String, String, String)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    // The length is announced up front, not chunked.
                    let announced = headers
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<usize>().ok());
                    if announced != Some(body.len()) || headers.contains_key("transfer-encoding") {
                        return Err((
                            StatusCode::BAD_REQUEST,
                            Json(json!({"code": "invalid_argument", "message": "no length"})),
                        ));
                    }
                    Ok(Json(json!({"sha256": sha, "size": body.len()})))
                },
            )
            .get(
                |Path((_, _, sha)): Path<(String, String, String)>| async move {
                    if sha == KNOWN {
                        Ok("archive bytes")
                    } else {
                        Err((
                            StatusCode::NOT_FOUND,
                            Json(json!({"code": "not_found", "message": "no"})),
                        ))
                    }
                },
            ),
        )
        .route(
            "/api/v1/orgs/{org}/projects/{project}/jobs/{id}/logs",
            get(|Query(query): Query<HashMap<String, String>>| async move {
                let header = format!(
                    "follow={} offset={};",
                    query.get("follow").cloned().unwrap_or_default(),
                    query.get("offset").cloned().unwrap_or_default()
                );
                let chunks = futures::stream::iter([header, "one;".to_string(), "two".to_string()])
                    .then(|chunk| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, std::io::Error>(chunk)
                    });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/api/v1/orgs/{org}/projects/{project}/jobs",
            post(|Json(request): Json<serde_json::Value>| async move {
                assert_eq!(request["class"], "small");
                assert!(request.get("name").is_none(), "absent options are not sent");
                (StatusCode::CREATED, Json(job_json("j1", "queued")))
            }),
        )
        .route(
            "/api/v1/usage",
            get(|Query(query): Query<HashMap<String, String>>| async move {
                format!("format={} from={}\n", query["format"], query["from"])
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn snapshots_go_up_with_their_length_and_are_looked_up_without_a_download() {
    let server = fake_runtime_server().await;
    let client = Client::try_new(&server).unwrap();
    let known = "a".repeat(64);
    assert!(client
        .snapshot_exists("acme", "churn", &known)
        .await
        .unwrap());
    assert!(!client
        .snapshot_exists("acme", "churn", &"b".repeat(64))
        .await
        .unwrap());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.tar.gz");
    std::fs::File::create(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &[7u8; 300_000]))
        .unwrap();
    let info = client
        .upload_snapshot_file("acme", "churn", &known, &path)
        .await
        .unwrap();
    assert_eq!((info.sha256.as_str(), info.size), (known.as_str(), 300_000));

    let missing = client
        .upload_snapshot_file("acme", "churn", &known, &dir.path().join("nope"))
        .await
        .unwrap_err();
    assert!(matches!(missing, ClientError::File { .. }), "{missing:?}");

    let (size, stream) = client
        .download_snapshot("acme", "churn", &known)
        .await
        .unwrap();
    let bytes: Vec<u8> = stream.map(|chunk| chunk.unwrap().to_vec()).concat().await;
    assert_eq!(bytes, b"archive bytes");
    assert_eq!(size, Some(13));
}

#[tokio::test]
async fn job_output_streams_chunk_by_chunk() {
    let server = fake_runtime_server().await;
    let client = Client::try_new(&server).unwrap();
    let mut stream = client
        .job_logs(
            "acme",
            "churn",
            "j1",
            &crate::LogQuery {
                follow: true,
                offset: 42,
                tail: None,
            },
        )
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(String::from_utf8(chunk.unwrap().to_vec()).unwrap());
    }
    assert_eq!(chunks.concat(), "follow=true offset=42;one;two");
    assert!(chunks.len() >= 2, "streamed, not buffered: {chunks:?}");
}

#[tokio::test]
async fn jobs_and_csv_usage_decode() {
    let server = fake_runtime_server().await;
    let client = Client::try_new(&server).unwrap();
    let job = client
        .submit_job(
            "acme",
            "churn",
            &crate::JobRequest {
                class: "small".into(),
                command: vec!["echo".into(), "hi".into()],
                ..crate::JobRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(job.job.id, "j1");
    assert_eq!(job.job.state, crate::WorkloadState::Queued);
    assert_eq!(job.queue_position, Some(2));
    let csv = client
        .platform_usage_csv(&crate::UsageQuery {
            from: Some("2026-11-01".into()),
            to: None,
            format: Some("json".into()),
        })
        .await
        .unwrap();
    assert_eq!(csv, "format=csv from=2026-11-01\n");
}

#[tokio::test]
async fn mlflow_calls_go_under_the_project_and_keep_mlflow_errors() {
    let server = fake_server().await;
    let client = Client::try_new(&server).unwrap();
    let error = client
        .mlflow("acme", "churn team")
        .get_experiment_by_name("a&b")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Experiment 'a&b' does not exist in acme/churn team"
    );
    assert!(
        matches!(&error, ClientError::Api { status: 404, code, .. } if code == "RESOURCE_DOES_NOT_EXIST"),
        "{error:?}"
    );
}
