//! Plinth's tracking and registry types as MLflow's JSON (proto3 JSON mapping with proto
//! field names, as MLflow's server writes it: int64 as numbers, ids as strings, unset
//! fields left out).

use plinth_core::tracking::{ArtifactFile, ArtifactListing};
use plinth_types::{
    Experiment, LoggedModel, LoggedModelStatus, Metric, MetricWithRunId, ModelVersion,
    RegisteredModel, Run, RunInfo,
};
use serde_json::{json, Map, Value};

use super::wire::{double, WireDouble};

fn tags<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Array(
        pairs
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect(),
    )
}

/// Removes `null` members and empty lists, as MLflow's JSON leaves out unset fields and
/// empty repeated ones.
fn compact(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, member| {
            !member.is_null() && !member.as_array().is_some_and(|items| items.is_empty())
        });
    }
    value
}

pub(crate) fn experiment(experiment: &Experiment) -> Value {
    compact(json!({
        "experiment_id": experiment.experiment_id.to_string(),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage.as_str(),
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
        "tags": tags(experiment.tags.iter().map(|tag| (tag.key.as_str(), tag.value.as_str()))),
    }))
}

pub(crate) fn metric(metric: &Metric) -> Value {
    serde_json::to_value(MetricEntity::from(metric)).unwrap_or(Value::Null)
}

/// A metric as MLflow's JSON, serialized straight to the output: a history answer can
/// hold a million points, and a `Value` per point costs a dozen allocations.
#[derive(serde::Serialize)]
pub(crate) struct MetricEntity<'a> {
    key: &'a str,
    value: WireDouble,
    timestamp: i64,
    step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
}

impl<'a> From<&'a Metric> for MetricEntity<'a> {
    fn from(metric: &'a Metric) -> Self {
        MetricEntity {
            key: &metric.key,
            value: WireDouble(metric.value),
            timestamp: metric.timestamp,
            step: metric.step,
            dataset_name: metric.dataset_name.as_deref(),
            dataset_digest: metric.dataset_digest.as_deref(),
            model_id: metric.model_id.as_deref(),
        }
    }
}

/// A page of metric history (`get-history`): the reference the streamed encoder
/// ([`metric_history_body`]) is tested against.
#[cfg(test)]
#[derive(serde::Serialize)]
pub(crate) struct MetricHistoryPage<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) metrics: Vec<MetricEntity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<&'a str>,
}

/// Points per chunk of a streamed history answer (~70 bytes each: ~280 KiB a chunk).
const HISTORY_CHUNK_POINTS: usize = 4096;

/// A `get-history` answer as a streamed JSON body: the same bytes as serializing a
/// [`MetricHistoryPage`] (values through [`WireDouble`], so bit-exact, with MLflow's
/// `"NaN"`/`"Infinity"`/`"-Infinity"`), written chunk by chunk while the previous chunks
/// are already on their way, and the key escaped once instead of once per point.
pub(crate) fn metric_history_body(
    key: &str,
    points: Vec<plinth_core::tracking::MetricPoint>,
    next_page_token: Option<String>,
) -> axum::body::Body {
    let mut prefix = Vec::with_capacity(key.len() + 16);
    prefix.extend_from_slice(b"{\"key\":");
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut prefix, key);
    prefix.extend_from_slice(b",\"value\":");
    let state = HistoryEncoder {
        prefix,
        points,
        next: 0,
        next_page_token,
        done: false,
    };
    let chunks = futures::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk()?;
        Some((Ok::<_, std::convert::Infallible>(chunk), state))
    });
    axum::body::Body::from_stream(chunks)
}

struct HistoryEncoder {
    /// `{"key":"<key>","value":`, escaped once.
    prefix: Vec<u8>,
    points: Vec<plinth_core::tracking::MetricPoint>,
    next: usize,
    next_page_token: Option<String>,
    done: bool,
}

impl HistoryEncoder {
    fn next_chunk(&mut self) -> Option<bytes::Bytes> {
        if self.done {
            return None;
        }
        let end = (self.next + HISTORY_CHUNK_POINTS).min(self.points.len());
        let mut out = Vec::with_capacity((end - self.next) * (self.prefix.len() + 48) + 64);
        if self.next == 0 {
            out.push(b'{');
            if !self.points.is_empty() {
                out.extend_from_slice(b"\"metrics\":[");
            }
        }
        for (index, point) in self.points[self.next..end].iter().enumerate() {
            if self.next + index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.prefix);
            let _ = serde_json::to_writer(&mut out, &WireDouble(point.value));
            out.extend_from_slice(b",\"timestamp\":");
            let _ = serde_json::to_writer(&mut out, &point.timestamp);
            out.extend_from_slice(b",\"step\":");
            let _ = serde_json::to_writer(&mut out, &point.step);
            out.push(b'}');
        }
        self.next = end;
        if self.next == self.points.len() {
            if !self.points.is_empty() {
                out.push(b']');
            }
            if let Some(token) = &self.next_page_token {
                if !self.points.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"next_page_token\":");
                let _ = serde_json::to_writer(&mut out, token);
            }
            out.push(b'}');
            self.done = true;
        }
        Some(bytes::Bytes::from(out))
    }
}

pub(crate) fn metric_with_run_id(metric: &MetricWithRunId) -> Value {
    json!({
        "key": metric.key,
        "value": double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
        "run_id": metric.run_id,
    })
}

pub(crate) fn run_info(info: &RunInfo) -> Value {
    compact(json!({
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id.to_string(),
        "user_id": info.user_id,
        "status": info.status.as_str(),
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage.as_str(),
    }))
}

pub(crate) fn run(run: &Run) -> Value {
    let dataset_inputs: Vec<Value> = run
        .inputs
        .dataset_inputs
        .iter()
        .map(|input| {
            compact(json!({
                "tags": tags(input.tags.iter().map(|tag| (tag.key.as_str(), tag.value.as_str()))),
                "dataset": compact(json!({
                    "name": input.dataset.name,
                    "digest": input.dataset.digest,
                    "source_type": input.dataset.source_type,
                    "source": input.dataset.source,
                    "schema": input.dataset.schema,
                    "profile": input.dataset.profile,
                })),
            }))
        })
        .collect();
    let model_inputs: Vec<Value> = run
        .inputs
        .model_inputs
        .iter()
        .map(|input| json!({ "model_id": input.model_id }))
        .collect();
    let model_outputs: Vec<Value> = run
        .outputs
        .model_outputs
        .iter()
        .map(|output| json!({ "model_id": output.model_id, "step": output.step }))
        .collect();
    json!({
        "info": run_info(&run.info),
        "data": compact(json!({
            "metrics": run.data.metrics.iter().map(metric).collect::<Vec<_>>(),
            "params": tags(run.data.params.iter().map(|p| (p.key.as_str(), p.value.as_str()))),
            "tags": tags(run.data.tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
        })),
        "inputs": compact(json!({ "dataset_inputs": dataset_inputs, "model_inputs": model_inputs })),
        "outputs": compact(json!({ "model_outputs": model_outputs })),
    })
}

pub(crate) fn logged_model(model: &LoggedModel) -> Value {
    let info = compact(json!({
        "model_id": model.model_id,
        "experiment_id": model.experiment_id.to_string(),
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": model.artifact_location,
        "status": logged_model_status(model.status),
        "model_type": model.model_type,
        "source_run_id": model.source_run_id,
        "status_message": model.status_message,
        "tags": tags(model.tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
        "registrations": model.registrations.iter().map(|registration| json!({
            "name": registration.name,
            "version": registration.version.to_string(),
        })).collect::<Vec<_>>(),
    }));
    json!({
        "info": info,
        "data": compact(json!({
            "params": tags(model.params.iter().map(|p| (p.key.as_str(), p.value.as_str()))),
            "metrics": model.metrics.iter().map(metric).collect::<Vec<_>>(),
        })),
    })
}

/// A logged model's status as MLflow's enum names it.
pub(crate) fn logged_model_status(status: LoggedModelStatus) -> &'static str {
    match status {
        LoggedModelStatus::Unspecified => "LOGGED_MODEL_STATUS_UNSPECIFIED",
        LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
        LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
        LoggedModelStatus::Failed => "LOGGED_MODEL_UPLOAD_FAILED",
    }
}

pub(crate) fn model_version(version: &ModelVersion) -> Value {
    compact(json!({
        "name": version.name,
        "version": version.version.to_string(),
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "user_id": version.user_id,
        "current_stage": version.current_stage.as_str(),
        // MLflow's server always sends these two, empty when unset.
        "description": version.description.as_deref().unwrap_or(""),
        "source": version.source,
        "run_id": version.run_id,
        "status": version.status.as_str(),
        "status_message": version.status_message,
        "tags": tags(version.tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
        "run_link": version.run_link.as_deref().unwrap_or(""),
        "aliases": version.aliases,
        "model_id": version.model_id,
    }))
}

pub(crate) fn registered_model(model: &RegisteredModel) -> Value {
    compact(json!({
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "description": model.description.as_deref().filter(|text| !text.is_empty()),
        "latest_versions": model.latest_versions.iter().map(model_version).collect::<Vec<_>>(),
        "tags": tags(model.tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
        "aliases": model.aliases.iter().map(|alias| json!({
            "alias": alias.alias,
            "version": alias.version.to_string(),
        })).collect::<Vec<_>>(),
        "user_id": model.user_id,
        "deployment_job_id": model.deployment_job_id,
    }))
}

/// A run's or logged model's artifact listing (`root_uri`, and `files` unless empty).
pub(crate) fn listing(listing: &ArtifactListing) -> Value {
    compact(json!({
        "root_uri": listing.root_uri,
        "files": listing.files.iter().map(file_info).collect::<Vec<_>>(),
    }))
}

pub(crate) fn file_info(file: &ArtifactFile) -> Value {
    let mut map = Map::new();
    map.insert("path".to_string(), json!(file.path));
    map.insert("is_dir".to_string(), json!(file.is_dir));
    if let Some(size) = file.file_size {
        map.insert("file_size".to_string(), json!(size));
    }
    Value::Object(map)
}

/// A page of results: `{key: [...], "next_page_token": …}` (an empty list and the token of
/// the last page left out, as MLflow's JSON does).
pub(crate) fn page(key: &str, items: Vec<Value>, next_page_token: Option<String>) -> Value {
    let mut map = Map::new();
    if !items.is_empty() {
        map.insert(key.to_string(), Value::Array(items));
    }
    if let Some(token) = next_page_token {
        map.insert("next_page_token".to_string(), Value::String(token));
    }
    Value::Object(map)
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use plinth_core::tracking::MetricPoint;

    async fn streamed(key: &str, points: Vec<MetricPoint>, token: Option<String>) -> Vec<u8> {
        let body = metric_history_body(key, points, token);
        axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    fn reference(key: &str, points: &[MetricPoint], token: Option<&str>) -> Vec<u8> {
        let metrics: Vec<Metric> = points
            .iter()
            .map(|point| Metric::new(key, point.value, point.timestamp, point.step))
            .collect();
        serde_json::to_vec(&MetricHistoryPage {
            metrics: metrics.iter().map(MetricEntity::from).collect(),
            next_page_token: token,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn the_streamed_history_is_byte_for_byte_the_serialized_page() {
        let edge = [
            0.0,
            -0.0,
            1.0,
            123456789.12345679,
            -1.5e-300,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e21,
            1e-7,
        ];
        // Random bit patterns too, across several chunks.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values: Vec<f64> = edge.to_vec();
        while values.len() < 3 * HISTORY_CHUNK_POINTS + 17 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(f64::from_bits(state));
        }
        let points: Vec<MetricPoint> = values
            .iter()
            .enumerate()
            .map(|(index, value)| MetricPoint {
                value: *value,
                timestamp: 1_700_000_000_000 + index as i64,
                step: index as i64 - 5,
            })
            .collect();
        for key in ["loss", "quote\"back\\slash\u{1}é"] {
            for token in [None, Some("tok\"en")] {
                for count in [0, 1, 2, HISTORY_CHUNK_POINTS, points.len()] {
                    let slice = &points[..count];
                    assert_eq!(
                        String::from_utf8(
                            streamed(key, slice.to_vec(), token.map(str::to_string)).await
                        )
                        .unwrap(),
                        String::from_utf8(reference(key, slice, token)).unwrap(),
                        "key {key:?}, token {token:?}, {count} points"
                    );
                }
            }
        }
    }
}
