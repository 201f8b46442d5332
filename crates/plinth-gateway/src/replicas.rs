//! Choosing a replica: round-robin over the recorded endpoints that pass their readiness
//! probe (an HTTP `GET` of the App's health path answered below 500), each verdict reused
//! for `probe_interval`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use http::{Method, Request};
use plinth_core::AppRoute;
use plinth_types::{WorkloadEndpoint, WorkloadState};

use crate::{Gateway, GatewayError};

/// Most workloads and endpoints remembered; beyond it the memory starts afresh (turns
/// and verdicts are only hints).
const MAX_TRACKED: usize = 10_000;

#[derive(Clone)]
struct Verdict {
    at: Instant,
    /// `None` when ready; else why not.
    failure: Option<String>,
}

#[derive(Default)]
pub(crate) struct Replicas {
    /// The next replica to try first, per workload.
    turns: Mutex<HashMap<String, usize>>,
    /// Probe verdicts by `(host, port, health path)`.
    verdicts: Mutex<HashMap<(String, u16, String), Verdict>>,
    counter: AtomicUsize,
}

/// `host:port`, bracketed for IPv6.
pub(crate) fn address(endpoint: &WorkloadEndpoint) -> String {
    if endpoint.host.contains(':') {
        format!("[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("{}:{}", endpoint.host, endpoint.port)
    }
}

impl Gateway {
    /// The ready replicas of `route`, in the order to try them (round-robin), or why there
    /// is none.
    pub(crate) async fn ready_replicas(
        &self,
        route: &AppRoute,
    ) -> Result<Vec<WorkloadEndpoint>, GatewayError> {
        match route.state {
            WorkloadState::Queued | WorkloadState::Starting | WorkloadState::Pending => {
                return Err(GatewayError::Starting(if route.reason.is_empty() {
                    format!("its workload is {}", route.state.as_str())
                } else {
                    format!("its workload is {}: {}", route.state.as_str(), route.reason)
                }))
            }
            WorkloadState::Running => {}
            finished => {
                return Err(GatewayError::NotRunning {
                    state: finished.as_str().to_string(),
                    reason: if route.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", route.reason)
                    },
                })
            }
        }
        if route.endpoints.is_empty() {
            return Err(GatewayError::Starting(
                "no replica has reported where it listens yet".to_string(),
            ));
        }
        let replicas = &self.inner.replicas;
        let first = {
            let mut turns = replicas.turns.lock().expect("turns lock");
            if turns.len() > MAX_TRACKED {
                turns.clear();
            }
            let turn = turns
                .entry(route.app.workload_id.clone())
                .or_insert_with(|| replicas.counter.fetch_add(1, Ordering::Relaxed));
            let first = *turn % route.endpoints.len();
            *turn = turn.wrapping_add(1);
            first
        };
        let mut ready = Vec::new();
        let mut failures = Vec::new();
        for offset in 0..route.endpoints.len() {
            let endpoint = &route.endpoints[(first + offset) % route.endpoints.len()];
            match self.probe(endpoint, &route.app.health_path).await {
                None => ready.push(endpoint.clone()),
                Some(failure) => failures.push(format!(
                    "replica {} ({}) {failure}",
                    endpoint.replica,
                    address(endpoint)
                )),
            }
        }
        if ready.is_empty() {
            return Err(GatewayError::NoHealthyReplica(failures.join("; ")));
        }
        Ok(ready)
    }

    /// Marks a replica failed until its next probe (it refused a connection).
    pub(crate) fn mark_failed(&self, endpoint: &WorkloadEndpoint, health_path: &str, why: &str) {
        self.inner
            .replicas
            .verdicts
            .lock()
            .expect("verdicts lock")
            .insert(
                (
                    endpoint.host.clone(),
                    endpoint.port,
                    health_path.to_string(),
                ),
                Verdict {
                    at: Instant::now(),
                    failure: Some(why.to_string()),
                },
            );
    }

    /// Returns `None` when the replica is ready, else why not; probes when the last verdict
    /// is older than `probe_interval`.
    async fn probe(&self, endpoint: &WorkloadEndpoint, health_path: &str) -> Option<String> {
        let key = (
            endpoint.host.clone(),
            endpoint.port,
            health_path.to_string(),
        );
        let now = Instant::now();
        if let Some(verdict) = self
            .inner
            .replicas
            .verdicts
            .lock()
            .expect("verdicts lock")
            .get(&key)
            .filter(|verdict| now.duration_since(verdict.at) < self.inner.settings.probe_interval)
        {
            return verdict.failure.clone();
        }
        let failure = self.probe_now(endpoint, health_path).await;
        if let Some(failure) = &failure {
            tracing::debug!(address = %address(endpoint), %failure, "replica not ready");
        }
        let mut verdicts = self.inner.replicas.verdicts.lock().expect("verdicts lock");
        if verdicts.len() > MAX_TRACKED {
            verdicts.clear();
        }
        verdicts.insert(
            key,
            Verdict {
                at: Instant::now(),
                failure: failure.clone(),
            },
        );
        drop(verdicts);
        failure
    }

    async fn probe_now(&self, endpoint: &WorkloadEndpoint, health_path: &str) -> Option<String> {
        let uri = format!("http://{}{health_path}", address(endpoint));
        let request = match Request::builder()
            .method(Method::GET)
            .uri(&uri)
            .header(http::header::USER_AGENT, "plinth-gateway-probe")
            .body(Body::empty())
        {
            Ok(request) => request,
            Err(error) => return Some(format!("cannot be probed at `{uri}`: {error}")),
        };
        let timeout = self.inner.settings.probe_timeout;
        match tokio::time::timeout(timeout, self.inner.client.request(request)).await {
            Err(_) => Some(format!(
                "failed its health check: no answer to GET {health_path} within {} s",
                timeout.as_secs()
            )),
            Ok(Err(error)) if error.is_connect() => Some(
                "failed its health check: nothing listens yet (connection refused)".to_string(),
            ),
            Ok(Err(error)) => Some(format!("failed its health check: {error}")),
            Ok(Ok(response)) if response.status().is_server_error() => Some(format!(
                "failed its health check: GET {health_path} answered {}",
                response.status()
            )),
            Ok(Ok(_)) => None,
        }
    }
}
