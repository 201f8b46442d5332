//! The endpoints MLflow's server keeps for its web UI, outside the protobuf services:
//! `metrics/get-history-bulk`, `upload-artifact`, `experiments/search-datasets`,
//! `gateway-proxy` and `runs/create-promptlab-run` (under `/ajax-api/2.0/mlflow/` only, as in
//! MLflow), and `/get-artifact` and `/model-versions/get-artifact` at the root. Each checks
//! its input in MLflow's order and words (`mlflow/server/handlers.py`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use plinth_core::tracking::PromptlabRun;
use plinth_types::{Param, RunTag};
use serde_json::{json, Value};

use super::artifacts::{artifact_response, Disposition};
use super::entities;
use super::schema;
use super::wire::{Message, MlflowError, MlflowResult, WireDouble};
use super::Scoped;

/// Runs one `get-history-bulk` may name, and points it returns at most (MLflow's).
const MAX_BULK_RUNS: usize = 100;
const MAX_BULK_HISTORY_RESULTS: i64 = 25_000;
/// The largest file `upload-artifact` takes (MLflow's).
const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Experiments one `search-datasets` may name (MLflow's).
const MAX_DATASET_EXPERIMENTS: usize = 20;

/// A point of `get-history-bulk`, as MLflow's `MetricWithRunId.to_dict`.
#[derive(serde::Serialize)]
struct BulkPoint<'a> {
    key: &'a str,
    value: WireDouble,
    timestamp: i64,
    step: i64,
    run_id: &'a str,
}

/// `GET …/metrics/get-history-bulk?run_id=…&run_id=…&metric_key=…`: whole histories of a
/// metric over several runs, which MLflow's UI charts.
pub(crate) async fn get_metric_history_bulk(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Response> {
    let run_ids = message.str_list("run_id")?;
    if run_ids.is_empty() {
        return Err(MlflowError::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        ));
    }
    if run_ids.len() > MAX_BULK_RUNS {
        return Err(MlflowError::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. \
             Received {} run_ids.",
            run_ids.len()
        )));
    }
    let Some(metric_key) = message.opt_str("metric_key")? else {
        return Err(MlflowError::invalid(
            "GetMetricHistoryBulk request must specify a metric_key.",
        ));
    };
    let max_results = message
        .opt_i64("max_results")?
        .unwrap_or(MAX_BULK_HISTORY_RESULTS)
        .clamp(0, MAX_BULK_HISTORY_RESULTS);
    let metrics = service
        .get_metric_history_bulk(
            &pass,
            &run_ids,
            &metric_key,
            usize::try_from(max_results).unwrap_or(0),
        )
        .await?;
    let points: Vec<BulkPoint<'_>> = metrics
        .iter()
        .map(|metric| BulkPoint {
            key: &metric.key,
            value: WireDouble(metric.value),
            timestamp: metric.timestamp,
            step: metric.step,
            run_id: &metric.run_id,
        })
        .collect();
    Ok(Json(json!({ "metrics": points })).into_response())
}

/// `POST …/upload-artifact?run_uuid=…&path=…` with the file as the body: one small
/// artifact of a run (the UI's uploads), at most 10 MB.
pub(crate) async fn upload_artifact(
    Scoped(service, pass): Scoped,
    request: Request,
) -> MlflowResult<Response> {
    let query = Message::from_query(request.uri().query().unwrap_or(""));
    let run_id = query
        .opt_str("run_uuid")?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MlflowError::invalid("Request must specify run_uuid."))?;
    let path = query
        .opt_str("path")?
        .filter(|path| !path.is_empty())
        .ok_or_else(|| MlflowError::invalid("Request must specify path."))?;
    plinth_core::tracking::safe_relative_path(&path)?;
    let too_large = || MlflowError::invalid("Artifact size is too large. Max size is 10MB.");
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_UPLOAD_BYTES) {
        return Err(too_large());
    }
    let data = axum::body::to_bytes(request.into_body(), MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| too_large())?;
    if data.is_empty() {
        return Err(MlflowError::invalid("Request must specify data."));
    }
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(data)]).boxed();
    service
        .put_run_artifact(&pass, &run_id, &path, chunks)
        .await?;
    // MLflow answers with an empty JSON response.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::empty(),
    )
        .into_response())
}

/// `POST …/experiments/search-datasets`: the datasets runs of the experiments used.
pub(crate) async fn search_datasets(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Json<Value>> {
    let message = message.checked(&schema::SEARCH_DATASETS)?;
    let experiment_ids = message.str_list("experiment_ids")?;
    if experiment_ids.is_empty() {
        return Err(MlflowError::invalid(
            "SearchDatasets request must specify at least one experiment_id.",
        ));
    }
    if experiment_ids.len() > MAX_DATASET_EXPERIMENTS {
        return Err(MlflowError::invalid(format!(
            "SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENTS} \
             experiment_ids. Received {} experiment_ids.",
            experiment_ids.len()
        )));
    }
    let summaries = service.search_datasets(&pass, &experiment_ids).await?;
    let summaries: Vec<Value> = summaries
        .iter()
        .map(|summary| {
            let mut entry = json!({
                "experiment_id": summary.experiment_id.to_string(),
                "name": summary.name,
                "digest": summary.digest,
            });
            if let Some(context) = summary.context.as_deref().filter(|c| !c.is_empty()) {
                entry["context"] = json!(context);
            }
            entry
        })
        .collect();
    Ok(Json(entities::page("dataset_summaries", summaries, None)))
}

/// `GET|POST …/gateway-proxy`: Plinth runs no AI gateway, so it answers as MLflow does
/// when none is configured: an empty list of endpoints, whatever was asked.
pub(crate) async fn gateway_proxy(Scoped(_service, _pass): Scoped) -> Json<Value> {
    Json(json!({ "endpoints": [] }))
}

fn promptlab_params(message: &Message, key: &str) -> MlflowResult<Vec<Param>> {
    message
        .messages(key)?
        .iter()
        .map(|param| {
            Ok(Param {
                key: param.opt_str("key")?.unwrap_or_default(),
                value: param.opt_str("value")?.unwrap_or_default(),
            })
        })
        .collect()
}

/// `POST …/runs/create-promptlab-run`: records a prompt tried in MLflow's prompt lab as a
/// finished run (see `plinth_core::tracking::PromptlabRun`).
pub(crate) async fn create_promptlab_run(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<Json<Value>> {
    // MLflow's `assert_arg_exists`: absent, null, empty or zero is missing.
    let require = |name: &str| -> MlflowResult<()> {
        let missing = match message.get(name) {
            None | Some(Value::Null) => true,
            Some(Value::String(text)) => text.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Bool(flag)) => !flag,
            Some(Value::Number(number)) => number.as_f64() == Some(0.0),
        };
        if missing {
            return Err(MlflowError::invalid(format!(
                "CreatePromptlabRun request must specify {name}."
            )));
        }
        Ok(())
    };
    require("experiment_id")?;
    require("prompt_template")?;
    require("prompt_parameters")?;
    require("model_route")?;
    require("model_input")?;
    require("mlflow_version")?;
    let request = PromptlabRun {
        experiment_id: message.opt_str("experiment_id")?.unwrap_or_default(),
        run_name: message.opt_str("run_name")?.filter(|name| !name.is_empty()),
        tags: message
            .pairs("tags")?
            .into_iter()
            .map(|(key, value)| RunTag { key, value })
            .collect(),
        prompt_template: message.opt_str("prompt_template")?.unwrap_or_default(),
        prompt_parameters: promptlab_params(&message, "prompt_parameters")?,
        model_route: message.opt_str("model_route")?.unwrap_or_default(),
        model_parameters: promptlab_params(&message, "model_parameters")?,
        model_input: message.opt_str("model_input")?.unwrap_or_default(),
        model_output: message.opt_str("model_output")?,
        model_output_parameters: promptlab_params(&message, "model_output_parameters")?,
        start_time: message.opt_i64("start_time")?,
    };
    let run = service.create_promptlab_run(&pass, request).await?;
    Ok(Json(json!({ "run": entities::run(&run) })))
}

/// The file name an artifact is served under.
fn file_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or("artifact")
}

fn required_path(query: &Message) -> MlflowResult<String> {
    query.opt_str("path")?.ok_or_else(|| {
        MlflowError::invalid(
            "Missing value for required parameter 'path'. See the API docs for more \
             information about request parameters.",
        )
    })
}

/// `GET /get-artifact?run_id=…&path=…`: one file of a run's artifacts, as a download.
pub(crate) async fn get_artifact(
    Scoped(service, pass): Scoped,
    query: Message,
) -> MlflowResult<Response> {
    let path = required_path(&query)?;
    plinth_core::tracking::safe_relative_path(&path)?;
    // MLflow looks the run up by whatever came, `None` when nothing did.
    let run_id = query
        .opt_str("run_id")?
        .filter(|id| !id.is_empty())
        .or(query.opt_str("run_uuid")?.filter(|id| !id.is_empty()))
        .unwrap_or_else(|| "None".to_string());
    let (info, stream) = service.get_run_artifact(&pass, &run_id, &path).await?;
    Ok(artifact_response(
        info.size,
        stream,
        file_name(&path),
        Disposition::Attachment,
    ))
}

/// `GET /model-versions/get-artifact?name=…&version=…&path=…`: one file of a registered
/// model version's artifacts.
pub(crate) async fn get_model_version_artifact(
    Scoped(service, pass): Scoped,
    query: Message,
) -> MlflowResult<Response> {
    let path = required_path(&query)?;
    plinth_core::tracking::safe_relative_path(&path)?;
    let name = query.opt_str("name")?.unwrap_or_else(|| "None".to_string());
    let version_text = query
        .opt_str("version")?
        .unwrap_or_else(|| "None".to_string());
    let version = version_text.trim().parse::<i64>().map_err(|_| {
        MlflowError::invalid(format!(
            "Parameter 'version' must be an integer, got '{version_text}'."
        ))
    })?;
    let (info, stream) = service
        .get_model_version_artifact(&pass, &name, version, &path)
        .await?;
    Ok(artifact_response(
        info.size,
        stream,
        file_name(&path),
        Disposition::Attachment,
    ))
}
