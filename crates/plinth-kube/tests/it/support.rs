//! A scripted fake API server on `tower_test::mock::pair`: the test takes each request,
//! asserts on it and answers like the API server would.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use plinth_kube::{KubeSettings, KubernetesExecutor};
use serde_json::{json, Value};

/// A response body: whole, or streamed (watches, followed logs).
pub type TestBody = UnsyncBoxBody<Bytes, Infallible>;

/// The namespace of project `p1`.
pub const NAMESPACE: &str = "plinth-p1";

/// The test's side of the fake API server.
pub struct ApiServer {
    handle: tower_test::mock::Handle<Request<kube::client::Body>, Response<TestBody>>,
}

/// One request, waiting for its answer.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Value,
    respond: tower_test::mock::SendResponse<Response<TestBody>>,
}

/// Returns an executor talking to a fake API server, with `default_image` set.
pub fn fake_cluster() -> (KubernetesExecutor, ApiServer) {
    let (service, handle) =
        tower_test::mock::pair::<Request<kube::client::Body>, Response<TestBody>>();
    let client = kube::Client::new(service, "default");
    let settings = KubeSettings {
        default_image: "ghcr.io/plinth/runtime:1".to_string(),
        ..KubeSettings::default()
    };
    (
        KubernetesExecutor::new(client, settings),
        ApiServer { handle },
    )
}

impl ApiServer {
    /// Waits (5 s at most) for the next request.
    pub async fn next(&mut self) -> Call {
        let (request, respond) =
            tokio::time::timeout(Duration::from_secs(5), self.handle.next_request())
                .await
                .expect("the executor sent no request within 5 s")
                .expect("the executor is gone");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is JSON")
        };
        let query = parts
            .uri
            .query()
            .map(|query| {
                url::form_urlencoded::parse(query.as_bytes())
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
            body,
            respond,
        }
    }

    /// Waits for the next request and asserts its method and path.
    pub async fn expect(&mut self, method: Method, path: &str) -> Call {
        let call = self.next().await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&method, path),
            "unexpected request (query {:?})",
            call.query
        );
        call
    }

    /// Asserts that the executor sends nothing more (it must have been dropped).
    pub async fn expect_no_more(mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(200), self.handle.next_request()).await
        {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

impl Call {
    /// Answers with `status` and a JSON body.
    pub fn respond(self, status: u16, body: Value) {
        let response = Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
            .unwrap();
        self.respond.send_response(response);
    }

    /// Answers with a raw body.
    pub fn respond_text(self, text: &str) {
        let response = Response::builder()
            .status(StatusCode::OK)
            .body(Full::new(Bytes::from(text.to_string())).boxed_unsync())
            .unwrap();
        self.respond.send_response(response);
    }

    /// Answers 201 with the posted object, given a uid and a resourceVersion.
    pub fn created(self, uid: &str) {
        let mut object = self.body.clone();
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["resourceVersion"] = json!("1");
        self.respond(201, object);
    }

    /// Answers with a `Status` failure.
    pub fn fail(self, code: u16, reason: &str, message: &str) {
        self.respond(code, status(code, reason, message));
    }

    /// Answers with a stream the test feeds (watch events, followed logs); dropping the
    /// sender ends the body.
    pub fn stream(self) -> mpsc::UnboundedSender<String> {
        let (sender, receiver) = mpsc::unbounded::<String>();
        let frames = futures::StreamExt::map(receiver, |text: String| {
            Ok::<_, Infallible>(Frame::data(Bytes::from(text)))
        });
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(StreamBody::new(frames).boxed_unsync())
            .unwrap();
        self.respond.send_response(response);
        sender
    }
}

/// Sends one watch event (`ADDED`, `MODIFIED`, `DELETED`) on a watch stream.
pub fn send_event(sender: &mpsc::UnboundedSender<String>, kind: &str, object: Value) {
    let event = json!({ "type": kind, "object": object });
    sender
        .unbounded_send(format!("{event}\n"))
        .expect("the watch is still open");
}

/// The `Status` the API server answers a successful delete with.
pub fn deleted() -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "status": "Success", "code": 200 })
}

/// A `Status` object as the API server sends on failure.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A list of `kind` (`JobList`, …) holding `items`.
pub fn list(api_version: &str, kind: &str, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": { "resourceVersion": "10" },
        "items": items,
    })
}

/// A Job of workload `id` in [`NAMESPACE`], with `status`.
pub fn job(id: &str, annotations: Value, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": format!("plinth-{id}"),
            "namespace": NAMESPACE,
            "uid": "uid-job",
            "resourceVersion": "5",
            "labels": { "plinth.dev/workload": id, "app.kubernetes.io/managed-by": "plinth" },
            "annotations": annotations,
        },
        "spec": { "template": { "spec": { "containers": [{ "name": "main", "image": "i" }] } } },
        "status": status,
    })
}

/// A pod of workload `id` in [`NAMESPACE`], with `status`.
pub fn pod(id: &str, name: &str, created: &str, status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "resourceVersion": "6",
            "creationTimestamp": created,
            "labels": { "plinth.dev/workload": id, "app.kubernetes.io/managed-by": "plinth" },
        },
        "spec": { "containers": [{ "name": "main", "image": "i" }] },
        "status": status,
    })
}

/// The label selector of workload `id`.
pub fn selector(id: &str) -> String {
    format!("plinth.dev/workload={id},app.kubernetes.io/managed-by=plinth")
}

/// Answers the cluster-wide lookup of workload `id` with its Job in [`NAMESPACE`].
pub async fn answer_lookup_with_job(server: &mut ApiServer, id: &str, job: Value) {
    let call = server.expect(Method::GET, "/apis/batch/v1/jobs").await;
    assert_eq!(call.query["labelSelector"], selector(id));
    call.respond(200, list("batch/v1", "JobList", vec![job]));
}
