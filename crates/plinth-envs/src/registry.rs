//! A small OCI distribution API client: does a tag exist in the registry, and what is its
//! manifest's digest (`HEAD /v2/<name>/manifests/<tag>`, header `Docker-Content-Digest`).
//!
//! Credentials come from a Docker `config.json` (`{"auths": {"<host>": {"auth": …}}}`, the
//! content of a `kubernetes.io/dockerconfigjson` Secret). A registry that answers `401`
//! gets them as HTTP Basic, or through its token service (`WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…`), as the distribution spec describes.

use std::time::Duration;

use base64::Engine as _;

use crate::error::{EnvError, EnvResult};

/// The manifest media types asked for: an image index or a single manifest, OCI or Docker.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A registry the images of one installation go to.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    /// `https` or `http`.
    scheme: &'static str,
    /// `host[:port]`.
    host: String,
    /// `user:password` for this host, from the credentials.
    basic: Option<String>,
}

/// Splits an image reference without tag (`host[:port]/path/name`) into host and path.
pub fn split_repository(repository: &str) -> EnvResult<(&str, &str)> {
    match repository.split_once('/') {
        Some((host, path)) if !host.is_empty() && !path.is_empty() => Ok((host, path)),
        _ => Err(EnvError::InvalidArgument {
            field: "environments.images.registry",
            reason: format!("`{repository}` has no registry host before its path"),
        }),
    }
}

/// The `user:password` a Docker `config.json` holds for `host`, if any.
pub fn credentials_for(config_json: &[u8], host: &str) -> EnvResult<Option<String>> {
    let bad = |reason: String| EnvError::InvalidArgument {
        field: "environments.images.credentials_secret",
        reason,
    };
    let config: serde_json::Value = serde_json::from_slice(config_json)
        .map_err(|error| bad(format!("is not a Docker config.json: {error}")))?;
    let Some(auths) = config.get("auths").and_then(serde_json::Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.iter().find(|(key, _)| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next() == Some(host)
    });
    let Some((_, entry)) = entry else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(serde_json::Value::as_str) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|error| bad(format!("the `auth` of `{host}` is not base64: {error}")))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| bad(format!("the `auth` of `{host}` is not UTF-8")))?;
        if !text.contains(':') {
            return Err(bad(format!(
                "the `auth` of `{host}` is not `user:password`"
            )));
        }
        return Ok(Some(text));
    }
    match (
        entry.get("username").and_then(serde_json::Value::as_str),
        entry.get("password").and_then(serde_json::Value::as_str),
    ) {
        (Some(user), Some(password)) => Ok(Some(format!("{user}:{password}"))),
        _ => Ok(None),
    }
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",…` challenge.
fn bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.push((key.trim().to_string(), value.to_string()));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

impl RegistryClient {
    /// A client of the registry `host` (`host[:port]`); `insecure` means plain HTTP;
    /// `config_json` a Docker `config.json` with its credentials, if any.
    pub fn new(host: &str, insecure: bool, config_json: Option<&[u8]>) -> EnvResult<Self> {
        let basic = match config_json {
            Some(json) => credentials_for(json, host)?,
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| {
                EnvError::Unavailable(format!("cannot set up the registry client: {error}"))
            })?;
        Ok(RegistryClient {
            http,
            scheme: if insecure { "http" } else { "https" },
            host: host.to_string(),
            basic,
        })
    }

    fn unavailable(&self, what: String) -> EnvError {
        EnvError::Unavailable(format!("registry `{}`: {what}", self.host))
    }

    /// The digest (`sha256:…`) of `path:tag`'s manifest, or `None` when the registry has no
    /// such tag.
    pub async fn manifest_digest(&self, path: &str, tag: &str) -> EnvResult<Option<String>> {
        let url = format!("{}://{}/v2/{path}/manifests/{tag}", self.scheme, self.host);
        let head = |authorization: Option<String>| {
            let mut request = self.http.head(&url).header(reqwest::header::ACCEPT, ACCEPT);
            if let Some(value) = authorization {
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            request.send()
        };
        let mut response = head(None)
            .await
            .map_err(|error| self.unavailable(format!("HEAD {url}: {error}")))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let authorization = self.authorization(&challenge).await?;
            response = head(Some(authorization))
                .await
                .map_err(|error| self.unavailable(format!("HEAD {url}: {error}")))?;
        }
        match response.status() {
            status if status.is_success() => {
                let digest = response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| {
                        self.unavailable(format!("{url} answered without a Docker-Content-Digest"))
                    })?;
                if !digest.starts_with("sha256:")
                    || digest.len() != 71
                    || !digest[7..].bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(
                        self.unavailable(format!("{url}: `{digest}` is not a sha256 digest"))
                    );
                }
                Ok(Some(digest.to_string()))
            }
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(self
                .unavailable(format!(
                    "{url}: access refused ({}); check environments.images.credentials_secret",
                    response.status()
                ))),
            status => Err(self.unavailable(format!("{url} answered {status}"))),
        }
    }

    /// The `Authorization` value answering `challenge` (Basic, or a token from the
    /// registry's token service).
    async fn authorization(&self, challenge: &str) -> EnvResult<String> {
        let basic = self
            .basic
            .as_ref()
            .map(|pair| base64::engine::general_purpose::STANDARD.encode(pair));
        if challenge.trim_start().starts_with("Basic") {
            return basic
                .map(|encoded| format!("Basic {encoded}"))
                .ok_or_else(|| self.unavailable("asks for credentials and none are configured (environments.images.credentials_secret)".to_string()));
        }
        let params = bearer_challenge(challenge).ok_or_else(|| {
            self.unavailable(format!("unknown authentication challenge `{challenge}`"))
        })?;
        let realm = params
            .iter()
            .find(|(key, _)| key == "realm")
            .map(|(_, value)| value.clone())
            .ok_or_else(|| self.unavailable("token challenge without a realm".to_string()))?;
        let query: Vec<(String, String)> = params
            .into_iter()
            .filter(|(key, _)| key == "service" || key == "scope")
            .collect();
        let mut request = self.http.get(&realm).query(&query);
        if let Some(encoded) = basic {
            request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unavailable(format!("token service {realm}: {error}")))?;
        if !response.status().is_success() {
            return Err(self.unavailable(format!(
                "token service {realm} answered {}",
                response.status()
            )));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|error| self.unavailable(format!("token service {realm}: {error}")))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| self.unavailable(format!("token service {realm} gave no token")))?;
        Ok(format!("Bearer {token}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_auth_or_username_and_password() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cret");
        let json = format!(
            r#"{{"auths": {{"https://registry.example.com:5000/v1/": {{"auth": "{auth}"}}, "other.example": {{"username": "u", "password": "p"}}}}}}"#
        );
        assert_eq!(
            credentials_for(json.as_bytes(), "registry.example.com:5000").unwrap(),
            Some("robot:s3cret".to_string())
        );
        assert_eq!(
            credentials_for(json.as_bytes(), "other.example").unwrap(),
            Some("u:p".to_string())
        );
        assert_eq!(
            credentials_for(json.as_bytes(), "third.example").unwrap(),
            None
        );
        let error = credentials_for(b"not json", "x").unwrap_err().to_string();
        assert!(error.contains("credentials_secret"), "{error}");
        let error = credentials_for(br#"{"auths": {"x": {"auth": "%%%"}}}"#, "x")
            .unwrap_err()
            .to_string();
        assert!(error.contains("base64"), "{error}");
    }

    #[test]
    fn bearer_challenges_are_parsed() {
        let params = bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:plinth/p/e:pull""#,
        )
        .unwrap();
        assert_eq!(
            params,
            vec![
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".to_string(), "registry.example".to_string()),
                (
                    "scope".to_string(),
                    "repository:plinth/p/e:pull".to_string()
                ),
            ]
        );
        assert!(bearer_challenge("Basic realm=\"x\"").is_none());
    }

    /// A registry that wants a token from its token service, which wants Basic
    /// credentials: answers each request by its first line and `Authorization` header.
    async fn token_registry(
        digest: &'static str,
        expected: usize,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let realm = format!("http://{host}/token");
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < expected {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buffer = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let read = socket.read(&mut chunk).await.unwrap();
                    if read == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                        buffer.drain(..end + 4);
                        let first = head.lines().next().unwrap_or_default().to_string();
                        let authorization = head
                            .lines()
                            .find_map(|line| line.strip_prefix("authorization: "))
                            .unwrap_or("-")
                            .to_string();
                        seen.push(format!("{first} [{authorization}]"));
                        let response = if first.starts_with("GET /token?") {
                            if authorization == "Basic cm9ib3Q6czNjcmV0" {
                                let body = r#"{"token": "t0k"}"#;
                                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
                            } else {
                                "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".to_string()
                            }
                        } else if authorization == "Bearer t0k" {
                            if first.contains("/manifests/missing") {
                                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_string()
                            } else {
                                format!("HTTP/1.1 200 OK\r\ndocker-content-digest: {digest}\r\ncontent-length: 0\r\n\r\n")
                            }
                        } else {
                            format!("HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm=\"{realm}\",service=\"reg\",scope=\"repository:plinth/p/e:pull\"\r\ncontent-length: 0\r\n\r\n")
                        };
                        socket.write_all(response.as_bytes()).await.unwrap();
                    }
                    if seen.len() >= expected {
                        break;
                    }
                }
            }
            seen
        });
        (host, server)
    }

    #[tokio::test]
    async fn a_registry_token_service_is_asked_with_the_credentials() {
        let digest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";
        let (host, server) = token_registry(digest, 3).await;
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cret");
        let json = format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#);
        let client = RegistryClient::new(&host, true, Some(json.as_bytes())).unwrap();
        assert_eq!(
            client
                .manifest_digest("plinth/p/e", "abc")
                .await
                .unwrap()
                .as_deref(),
            Some(digest)
        );
        let seen = server.await.unwrap();
        assert_eq!(
            seen,
            [
                "HEAD /v2/plinth/p/e/manifests/abc HTTP/1.1 [-]",
                "GET /token?service=reg&scope=repository%3Aplinth%2Fp%2Fe%3Apull HTTP/1.1 [Basic cm9ib3Q6czNjcmV0]",
                "HEAD /v2/plinth/p/e/manifests/abc HTTP/1.1 [Bearer t0k]",
            ][..],
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn without_credentials_a_registry_that_wants_them_is_named() {
        let (host, _server) = token_registry("sha256:x", 2).await;
        let client = RegistryClient::new(&host, true, None).unwrap();
        let error = client
            .manifest_digest("plinth/p/e", "abc")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&host) && error.contains("token service"),
            "{error}"
        );
    }

    #[test]
    fn repositories_split_into_host_and_path() {
        assert_eq!(
            split_repository("127.0.0.1:5055/plinth/p/e").unwrap(),
            ("127.0.0.1:5055", "plinth/p/e")
        );
        assert!(split_repository("nohost").is_err());
    }
}
