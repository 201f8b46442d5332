//! The kubeconfig path end to end over TLS: a local HTTPS stub with a CA and a separate
//! leaf certificate, reached through `KubernetesExecutor::connect`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use plinth_executor::Executor;
use plinth_kube::{ClusterAccess, ConnectError, KubeSettings, KubernetesExecutor};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;
use tokio_rustls::rustls;

const TOKEN: &str = "s3cret-token";

/// A certificate authority and the PEM of its certificate.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn authority(name: &str) -> Authority {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).unwrap().pem();
    Authority {
        issuer: Issuer::new(params, key),
        pem,
    }
}

/// What the stub saw: request paths and their `Authorization` headers.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn answer(request: Request<Incoming>, seen: Seen) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    seen.lock()
        .unwrap()
        .push((request.uri().to_string(), authorization.clone()));
    let (status, body) = if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        (
            StatusCode::UNAUTHORIZED,
            json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401 }),
        )
    } else {
        match request.uri().path() {
            "/version" => (
                StatusCode::OK,
                json!({
                    "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "0",
                    "gitTreeState": "clean", "buildDate": "2025-05-15T00:00:00Z",
                    "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
                }),
            ),
            "/apis/batch/v1/jobs" => (
                StatusCode::OK,
                json!({
                    "apiVersion": "batch/v1", "kind": "JobList", "metadata": {},
                    "items": [{
                        "apiVersion": "batch/v1", "kind": "Job",
                        "metadata": {
                            "name": "plinth-j1", "namespace": "plinth-p1",
                            "labels": { "plinth.dev/workload": "j1", "app.kubernetes.io/managed-by": "plinth" },
                        },
                    }],
                }),
            ),
            "/apis/apps/v1/deployments" => (
                StatusCode::OK,
                json!({ "apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": [] }),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404 }),
            ),
        }
    };
    Ok(Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

/// Starts an HTTPS stub API server whose certificate (for `localhost` and 127.0.0.1) is
/// signed by `ca`; returns its address and what it sees.
async fn start_stub(ca: &Authority) -> (SocketAddr, Seen) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver stub");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = params.signed_by(&key, &ca.issuer).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Seen::default();
    let recorded = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = recorded.clone();
            tokio::spawn(async move {
                // A client refusing the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(socket).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    std::future::ready(answer(request, seen.clone()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (address, seen)
}

/// Writes a kubeconfig with two contexts: `stub` (the right CA, inline, at 127.0.0.1)
/// and `other-ca` (a CA that did not sign the stub's certificate, at localhost).
fn write_kubeconfig(
    dir: &std::path::Path,
    port: u16,
    right: &Authority,
    wrong: &Authority,
    token: &str,
) -> std::path::PathBuf {
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let kubeconfig = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: stub
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {right}
- name: other-ca
  cluster:
    server: https://localhost:{port}
    certificate-authority-data: {wrong}
users:
- name: plinth
  user:
    token: {token}
contexts:
- name: stub
  context:
    cluster: stub
    user: plinth
    namespace: default
- name: other-ca
  context:
    cluster: other-ca
    user: plinth
current-context: stub
"#,
        right = encode(&right.pem),
        wrong = encode(&wrong.pem),
    );
    let path = dir.join("kubeconfig");
    fs_err::write(&path, kubeconfig).unwrap();
    path
}

async fn connect(
    path: &std::path::Path,
    context: Option<&str>,
) -> Result<KubernetesExecutor, ConnectError> {
    let access = ClusterAccess::Kubeconfig {
        path: path.to_path_buf(),
        context: context.map(str::to_string),
    };
    KubernetesExecutor::connect(&access, KubeSettings::default()).await
}

#[tokio::test]
async fn a_kubeconfig_with_the_right_ca_reaches_the_api_server() {
    let ca = authority("plinth test CA");
    let other = authority("someone else's CA");
    let (address, seen) = start_stub(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), address.port(), &ca, &other, TOKEN);

    let executor = connect(&path, None).await.unwrap();
    assert_eq!(executor.check_connectivity().await.unwrap(), "v1.33.1");
    let handles = executor.list().await.unwrap();
    assert_eq!(
        handles
            .iter()
            .map(|handle| handle.id.as_str())
            .collect::<Vec<_>>(),
        ["j1"]
    );
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(uri, _)| uri.as_str()).collect();
    assert_eq!(paths[0], "/version");
    assert!(paths[1].starts_with("/apis/batch/v1/jobs?"), "{paths:?}");
    assert!(
        paths[2].starts_with("/apis/apps/v1/deployments?"),
        "{paths:?}"
    );
    assert!(
        seen.iter()
            .all(|(_, authorization)| authorization.as_deref() == Some("Bearer s3cret-token")),
        "the token is sent: {seen:?}"
    );
}

#[tokio::test]
async fn a_kubeconfig_with_a_ca_file_works_too() {
    let ca = authority("plinth test CA");
    let (address, _seen) = start_stub(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://localhost:{}\n    certificate-authority: ca.pem\nusers:\n- name: u\n  user:\n    token: {TOKEN}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        address.port()
    );
    let path = dir.path().join("config");
    fs_err::write(&path, kubeconfig).unwrap();
    let executor = connect(&path, None).await.unwrap();
    assert_eq!(executor.check_connectivity().await.unwrap(), "v1.33.1");
}

#[tokio::test]
async fn a_kubeconfig_with_a_wrong_ca_fails_clearly() {
    let ca = authority("plinth test CA");
    let other = authority("someone else's CA");
    let (address, seen) = start_stub(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), address.port(), &ca, &other, TOKEN);

    let executor = connect(&path, Some("other-ca")).await.unwrap();
    let error = executor.check_connectivity().await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ConnectError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&format!(
            "cannot reach the Kubernetes API server at `https://localhost:{}/`",
            address.port()
        )),
        "{message}"
    );
    assert!(
        message.contains("invalid peer certificate") && message.contains("UnknownIssuer"),
        "{message}"
    );
    assert!(seen.lock().unwrap().is_empty(), "no request got through");
}

#[tokio::test]
async fn a_wrong_token_or_a_missing_kubeconfig_fails_clearly() {
    let ca = authority("plinth test CA");
    let (address, _seen) = start_stub(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), address.port(), &ca, &ca, "wrong-token");
    let executor = connect(&path, None).await.unwrap();
    let message = executor.check_connectivity().await.unwrap_err().to_string();
    assert!(message.contains("Unauthorized"), "{message}");

    let missing = dir.path().join("missing");
    let error = connect(&missing, None).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::Kubeconfig { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot use kubeconfig `{}`", missing.display())),
        "{error}"
    );

    let error = connect(&path, Some("no-such-context")).await.unwrap_err();
    assert!(error.to_string().contains("no-such-context"), "{error}");
}
