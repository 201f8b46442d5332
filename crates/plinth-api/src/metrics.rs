//! Prometheus metrics: request count and latency histogram per route, method and status,
//! build info, and the process's memory and uptime. Each server owns its own recorder
//! (no global state), so several servers can run in one test process.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::AppState;

const REQUESTS_TOTAL: &str = "plinth_http_requests_total";
const MODEL_REQUESTS_TOTAL: &str = "plinth_model_requests_total";
const MODEL_ERRORS_TOTAL: &str = "plinth_model_request_errors_total";
const MODEL_DURATION: &str = "plinth_model_request_duration_seconds";
const REQUEST_DURATION: &str = "plinth_http_request_duration_seconds";
const METADATA: Metadata<'static> = Metadata::new("plinth_api", metrics::Level::INFO, None);

/// Model API latency buckets, in seconds: 50 µs to 5 s (in-process predictions are fast).
const MODEL_DURATION_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

/// Latency buckets, in seconds: 0.5 ms to 30 s.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The server's metrics registry.
#[derive(Clone)]
pub struct HttpMetrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    started: Instant,
}

impl HttpMetrics {
    /// Returns a registry with the build info already set.
    pub fn new(version: &str) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION.to_string()),
                DURATION_BUCKETS,
            )
            .expect("bucket list is not empty")
            .set_buckets_for_metric(
                Matcher::Full(MODEL_DURATION.to_string()),
                MODEL_DURATION_BUCKETS,
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        recorder.describe_counter(
            REQUESTS_TOTAL.into(),
            None,
            "HTTP requests answered, by method, route template and status.".into(),
        );
        recorder.describe_histogram(
            REQUEST_DURATION.into(),
            Some(metrics::Unit::Seconds),
            "Time from request to response head, by method, route template and status.".into(),
        );
        recorder.describe_counter(
            MODEL_REQUESTS_TOTAL.into(),
            None,
            "Model API predictions answered, by project, deployment, model version, protocol and status.".into(),
        );
        recorder.describe_counter(
            MODEL_ERRORS_TOTAL.into(),
            None,
            "Model API predictions answered with an error (status 400 or more), by project, deployment, model version, protocol and status.".into(),
        );
        recorder.describe_histogram(
            MODEL_DURATION.into(),
            Some(metrics::Unit::Seconds),
            "Time to answer a Model API prediction, by project, deployment, model version and protocol.".into(),
        );
        recorder.describe_gauge(
            "plinth_build_info".into(),
            None,
            "Always 1; labels say which build runs.".into(),
        );
        let build_info = Key::from_parts(
            "plinth_build_info",
            vec![Label::new("version", version.to_string())],
        );
        recorder.register_gauge(&build_info, &METADATA).set(1.0);
        HttpMetrics {
            recorder: Arc::new(recorder),
            handle,
            started: Instant::now(),
        }
    }

    fn record(&self, method: &str, route: String, status: u16, seconds: f64) {
        let labels = vec![
            Label::new("method", method.to_string()),
            Label::new("route", route),
            Label::new("status", status.to_string()),
        ];
        let counter = Key::from_parts(REQUESTS_TOTAL, labels.clone());
        self.recorder
            .register_counter(&counter, &METADATA)
            .increment(1);
        let histogram = Key::from_parts(REQUEST_DURATION, labels);
        self.recorder
            .register_histogram(&histogram, &METADATA)
            .record(seconds);
    }

    /// Records one prediction of a deployment (only deployments that exist and the caller
    /// may use are recorded, so the label sets stay bounded by the deployments).
    pub fn record_model_request(
        &self,
        project: &str,
        deployment: &str,
        version: &str,
        protocol: &str,
        status: u16,
        seconds: f64,
    ) {
        let labels = vec![
            Label::new("project", project.to_string()),
            Label::new("deployment", deployment.to_string()),
            Label::new("version", version.to_string()),
            Label::new("protocol", protocol.to_string()),
        ];
        let mut with_status = labels.clone();
        with_status.push(Label::new("status", status.to_string()));
        self.recorder
            .register_counter(
                &Key::from_parts(MODEL_REQUESTS_TOTAL, with_status.clone()),
                &METADATA,
            )
            .increment(1);
        if status >= 400 {
            self.recorder
                .register_counter(&Key::from_parts(MODEL_ERRORS_TOTAL, with_status), &METADATA)
                .increment(1);
        }
        self.recorder
            .register_histogram(&Key::from_parts(MODEL_DURATION, labels), &METADATA)
            .record(seconds);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        let mut text = self.handle.render();
        let uptime = self.started.elapsed().as_secs_f64();
        text.push_str("# HELP plinth_uptime_seconds Seconds since this server started.\n");
        text.push_str("# TYPE plinth_uptime_seconds gauge\n");
        text.push_str(&format!("plinth_uptime_seconds {uptime}\n"));
        if let Some(rss) = resident_memory_bytes() {
            text.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            text.push_str("# TYPE process_resident_memory_bytes gauge\n");
            text.push_str(&format!("process_resident_memory_bytes {rss}\n"));
        }
        text
    }
}

/// Returns this process's resident memory, from `/proc/self/statm` (Linux only).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = fs_err::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * 4096)
}

/// Middleware recording each request. The route label is the matched template
/// (`/api/v1/things/{id}`), never the raw path, so label cardinality stays bounded.
pub(crate) async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    state.metrics().record(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Serves the metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics().render(),
    )
        .into_response()
}
