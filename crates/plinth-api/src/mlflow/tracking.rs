//! Handlers of MLflow's tracking API: experiments, runs, metrics, params, tags, inputs,
//! outputs, searches and MLflow 3 logged models.

use axum::Json;
use plinth_core::tracking::{
    BulkIntervalQuery, DatasetFilter, ExperimentSearch, LogBatch, LoggedModelOrderBy,
    LoggedModelSearch, NewLoggedModel, RunRequest, RunSearch, RunUpdate, MAX_EXPERIMENTS_PER_PAGE,
    MAX_RUNS_PER_PAGE,
};
use plinth_types::{
    Dataset, DatasetInput, ExperimentTag, InputTag, LoggedModelParameter, LoggedModelStatus,
    LoggedModelTag, Metric, ModelInput, ModelOutput, Param, RunStatus, RunTag, ViewType,
};
use serde_json::{json, Value};

use super::entities;
use super::schema;
use super::wire::{max_results, Message, MlflowError, MlflowResult, PageWords};
use super::{Params, Scoped};

type Reply = MlflowResult<Json<Value>>;

fn empty() -> Reply {
    Ok(Json(json!({})))
}

fn view_type(message: &Message, key: &str) -> MlflowResult<ViewType> {
    match message.opt_str(key)? {
        None => Ok(ViewType::ActiveOnly),
        Some(text) => match text.as_str() {
            "1" => Ok(ViewType::ActiveOnly),
            "2" => Ok(ViewType::DeletedOnly),
            "3" => Ok(ViewType::All),
            other => ViewType::parse(other).ok_or_else(|| {
                MlflowError::invalid(format!(
                    "Invalid value '{other}' for parameter '{key}': expected ACTIVE_ONLY, \
                     DELETED_ONLY or ALL"
                ))
            }),
        },
    }
}

fn experiment_tags(message: &Message) -> MlflowResult<Vec<ExperimentTag>> {
    Ok(message
        .pairs("tags")?
        .into_iter()
        .map(|(key, value)| ExperimentTag { key, value })
        .collect())
}

fn run_tags(message: &Message) -> MlflowResult<Vec<RunTag>> {
    Ok(message
        .pairs("tags")?
        .into_iter()
        .map(|(key, value)| RunTag { key, value })
        .collect())
}

fn metric_of(message: &Message) -> MlflowResult<Metric> {
    let value = message
        .opt_f64("value")?
        .ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'value'."))?;
    Ok(Metric {
        key: message.str("key")?,
        value,
        timestamp: message.i64("timestamp")?,
        step: message.opt_i64("step")?.unwrap_or(0),
        dataset_name: message.opt_str("dataset_name")?.filter(|s| !s.is_empty()),
        dataset_digest: message.opt_str("dataset_digest")?.filter(|s| !s.is_empty()),
        model_id: message.opt_str("model_id")?.filter(|s| !s.is_empty()),
    })
}

// ---------- experiments ----------

pub(crate) async fn create_experiment(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::CREATE_EXPERIMENT)?;
    let experiment = service
        .create_experiment(
            &pass,
            &message.str("name")?,
            message.opt_str("artifact_location")?.as_deref(),
            experiment_tags(&message)?,
        )
        .await?;
    Ok(Json(
        json!({ "experiment_id": experiment.experiment_id.to_string() }),
    ))
}

pub(crate) async fn get_experiment(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::EXPERIMENT_ID)?;
    let experiment = service
        .get_experiment(&pass, &message.str("experiment_id")?)
        .await?;
    Ok(Json(
        json!({ "experiment": entities::experiment(&experiment) }),
    ))
}

pub(crate) async fn get_experiment_by_name(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::GET_EXPERIMENT_BY_NAME)?;
    let experiment = service
        .get_experiment_by_name(&pass, &message.str("experiment_name")?)
        .await?;
    Ok(Json(
        json!({ "experiment": entities::experiment(&experiment) }),
    ))
}

pub(crate) async fn search_experiments(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::SEARCH_EXPERIMENTS)?;
    let search = ExperimentSearch {
        view_type: view_type(&message, "view_type")?,
        filter: message.opt_str("filter")?.filter(|s| !s.is_empty()),
        order_by: message.str_list("order_by")?,
        max_results: max_results(
            &message,
            None,
            MAX_EXPERIMENTS_PER_PAGE,
            PageWords::Tracking,
        )?,
        page_token: message.opt_str("page_token")?.filter(|s| !s.is_empty()),
    };
    let page = service.search_experiments(&pass, &search).await?;
    Ok(Json(entities::page(
        "experiments",
        page.items.iter().map(entities::experiment).collect(),
        page.next_page_token,
    )))
}

pub(crate) async fn update_experiment(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::UPDATE_EXPERIMENT)?;
    let id = message.str("experiment_id")?;
    if let Some(new_name) = message.opt_str("new_name")? {
        service.rename_experiment(&pass, &id, &new_name).await?;
    }
    empty()
}

pub(crate) async fn delete_experiment(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::EXPERIMENT_ID)?;
    service
        .delete_experiment(&pass, &message.str("experiment_id")?)
        .await?;
    empty()
}

pub(crate) async fn restore_experiment(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::EXPERIMENT_ID)?;
    service
        .restore_experiment(&pass, &message.str("experiment_id")?)
        .await?;
    empty()
}

pub(crate) async fn set_experiment_tag(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::SET_EXPERIMENT_TAG)?;
    let tag = ExperimentTag {
        key: message.str("key")?,
        value: message.str_or_empty("value")?,
    };
    service
        .set_experiment_tag(&pass, &message.str("experiment_id")?, &tag)
        .await?;
    empty()
}

pub(crate) async fn delete_experiment_tag(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::DELETE_EXPERIMENT_TAG)?;
    service
        .delete_experiment_tag(&pass, &message.str("experiment_id")?, &message.str("key")?)
        .await?;
    empty()
}

// ---------- runs ----------

pub(crate) async fn create_run(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::CREATE_RUN)?;
    let request = RunRequest {
        experiment_id: message
            .opt_str("experiment_id")?
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| "0".to_string()),
        run_name: message.opt_str("run_name")?,
        start_time: message.opt_i64("start_time")?,
        tags: run_tags(&message)?,
    };
    let run = service.create_run(&pass, request).await?;
    let mut run = entities::run(&run);
    // MLflow's answer to create-run has no `outputs` (its get-run has an empty one).
    if run["outputs"]
        .as_object()
        .is_some_and(|outputs| outputs.is_empty())
    {
        if let Some(run) = run.as_object_mut() {
            run.remove("outputs");
        }
    }
    Ok(Json(json!({ "run": run })))
}

pub(crate) async fn get_run(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::GET_RUN)?;
    let run = service.get_run(&pass, &message.run_id()?).await?;
    Ok(Json(json!({ "run": entities::run(&run) })))
}

pub(crate) async fn update_run(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::UPDATE_RUN)?;
    let status = match message.opt_str("status")? {
        None => None,
        Some(text) => {
            let by_number = text
                .parse::<usize>()
                .ok()
                .and_then(|number| RunStatus::ALL.get(number.wrapping_sub(1)).copied());
            Some(
                by_number
                    .or_else(|| RunStatus::parse(&text))
                    .ok_or_else(|| {
                        MlflowError::invalid(format!(
                            "Invalid value '{text}' for parameter 'status': expected RUNNING, \
                     SCHEDULED, FINISHED, FAILED or KILLED"
                        ))
                    })?,
            )
        }
    };
    let update = RunUpdate {
        status,
        end_time: message.opt_i64("end_time")?,
        run_name: message.opt_str("run_name")?.filter(|name| !name.is_empty()),
    };
    let info = service
        .update_run(&pass, &message.run_id()?, &update)
        .await?;
    Ok(Json(json!({ "run_info": entities::run_info(&info) })))
}

pub(crate) async fn delete_run(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::RUN_ID_ONLY)?;
    service.delete_run(&pass, &message.run_id()?).await?;
    empty()
}

pub(crate) async fn restore_run(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::RUN_ID_ONLY)?;
    service.restore_run(&pass, &message.run_id()?).await?;
    empty()
}

pub(crate) async fn set_tag(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::SET_TAG)?;
    let tag = RunTag {
        key: message.str("key")?,
        value: message.str_or_empty("value")?,
    };
    service.set_run_tag(&pass, &message.run_id()?, &tag).await?;
    empty()
}

pub(crate) async fn delete_tag(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::DELETE_TAG)?;
    service
        .delete_run_tag(&pass, &message.run_id()?, &message.str("key")?)
        .await?;
    empty()
}

pub(crate) async fn log_param(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LOG_PARAM)?;
    let param = Param {
        key: message.str("key")?,
        value: message.str_or_empty("value")?,
    };
    service.log_param(&pass, &message.run_id()?, &param).await?;
    empty()
}

pub(crate) async fn log_metric(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LOG_METRIC)?;
    let metric = metric_of(&message)?;
    service
        .log_metric(&pass, &message.run_id()?, &metric)
        .await?;
    empty()
}

pub(crate) async fn log_batch(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LOG_BATCH)?;
    let batch = LogBatch {
        metrics: message
            .messages("metrics")?
            .iter()
            .map(metric_of)
            .collect::<MlflowResult<_>>()?,
        params: message
            .pairs("params")?
            .into_iter()
            .map(|(key, value)| Param { key, value })
            .collect(),
        tags: run_tags(&message)?,
    };
    service.log_batch(&pass, &message.run_id()?, batch).await?;
    empty()
}

pub(crate) async fn log_inputs(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LOG_INPUTS)?;
    let mut datasets = Vec::new();
    for input in message.messages("datasets")? {
        let dataset = input.message("dataset")?.ok_or_else(|| {
            MlflowError::invalid("Missing value for required parameter 'dataset'.")
        })?;
        datasets.push(DatasetInput {
            tags: input
                .pairs("tags")?
                .into_iter()
                .map(|(key, value)| InputTag { key, value })
                .collect(),
            dataset: Dataset {
                name: dataset.str("name")?,
                digest: dataset.str("digest")?,
                source_type: dataset.str("source_type")?,
                source: dataset.str("source")?,
                schema: dataset.opt_str("schema")?.filter(|s| !s.is_empty()),
                profile: dataset.opt_str("profile")?.filter(|s| !s.is_empty()),
            },
        });
    }
    let models = message
        .messages("models")?
        .iter()
        .map(|model| {
            Ok(ModelInput {
                model_id: model.str("model_id")?,
            })
        })
        .collect::<MlflowResult<Vec<_>>>()?;
    service
        .log_inputs(&pass, &message.run_id()?, &datasets, &models)
        .await?;
    empty()
}

pub(crate) async fn log_outputs(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LOG_OUTPUTS)?;
    let models = message
        .messages("models")?
        .iter()
        .map(|model| {
            Ok(ModelOutput {
                model_id: model.str("model_id")?,
                step: model.opt_i64("step")?.unwrap_or(0),
            })
        })
        .collect::<MlflowResult<Vec<_>>>()?;
    service
        .log_outputs(&pass, &message.run_id()?, &models)
        .await?;
    empty()
}

/// MLflow's `log-model` (2.x clients): appends the model's description to the run's
/// `mlflow.log-model.history` tag, as MLflow's server does, after its checks.
pub(crate) async fn log_model(Scoped(service, pass): Scoped, message: Message) -> Reply {
    const HISTORY_TAG: &str = "mlflow.log-model.history";
    let message = message.checked(&schema::LOG_MODEL)?;
    let run_id = message.run_id()?;
    let model_json = message.str("model_json")?;
    let model: Value = match serde_json::from_str::<Value>(&model_json) {
        Ok(model @ Value::Object(_)) => model,
        _ => {
            return Err(MlflowError::invalid(format!(
                "Malformed model info. \n {model_json} \n is not a valid JSON."
            )))
        }
    };
    // MLflow lists the missing fields as a Python set; they are sorted here.
    let missing: Vec<String> = ["artifact_path", "flavors", "run_id", "utc_time_created"]
        .iter()
        .filter(|field| model.get(**field).is_none())
        .map(|field| format!("'{field}'"))
        .collect();
    if !missing.is_empty() {
        return Err(MlflowError::invalid(format!(
            "Model json is missing mandatory fields: {{{}}}",
            missing.join(", ")
        )));
    }
    let run = service.get_run(&pass, &run_id).await?;
    let mut history: Vec<Value> = run
        .data
        .tags
        .iter()
        .find(|tag| tag.key == HISTORY_TAG)
        .and_then(|tag| serde_json::from_str(&tag.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = RunTag {
        key: HISTORY_TAG.to_string(),
        value: Value::Array(history).to_string(),
    };
    service.set_run_tag(&pass, &run_id, &tag).await?;
    empty()
}

pub(crate) async fn search_runs(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::SEARCH_RUNS)?;
    let search = RunSearch {
        filter: message.opt_str("filter")?.filter(|s| !s.is_empty()),
        run_view_type: view_type(&message, "run_view_type")?,
        max_results: max_results(&message, Some(1000), MAX_RUNS_PER_PAGE, PageWords::Tracking)?,
        order_by: message.str_list("order_by")?,
        page_token: message.opt_str("page_token")?.filter(|s| !s.is_empty()),
    };
    let page = service
        .search_runs(&pass, &message.str_list("experiment_ids")?, search)
        .await?;
    Ok(Json(entities::page(
        "runs",
        page.items.iter().map(entities::run).collect(),
        page.next_page_token,
    )))
}

pub(crate) async fn get_metric_history(
    Scoped(service, pass): Scoped,
    message: Message,
) -> MlflowResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let message = message.checked(&schema::GET_METRIC_HISTORY)?;
    let max_results = message.opt_i64("max_results")?;
    if let Some(max) = max_results.filter(|max| *max <= 0) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied. It must be a positive \
             integer."
        )));
    }
    let metric_key = message.str("metric_key")?;
    let page = service
        .get_metric_history_points(
            &pass,
            &message.run_id()?,
            &metric_key,
            max_results,
            message
                .opt_str("page_token")?
                .filter(|s| !s.is_empty())
                .as_deref(),
        )
        .await;
    // MLflow's store answers an unknown run (here: or another project's) with no history.
    let page = match page {
        Err(error)
            if plinth_types::HasErrorKind::kind(&error) == plinth_types::ErrorKind::NotFound =>
        {
            plinth_types::Page {
                items: Vec::new(),
                next_page_token: None,
            }
        }
        other => other?,
    };
    let body = entities::metric_history_body(&metric_key, page.items, page.next_page_token);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The most points per run a bulk-interval read returns (MLflow's).
const MAX_RESULTS_PER_RUN: i64 = 2500;

pub(crate) async fn get_metric_history_bulk_interval(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::GET_METRIC_HISTORY_BULK_INTERVAL)?;
    let run_ids = message.str_list("run_ids")?;
    let max_results = message
        .opt_i64("max_results")?
        .unwrap_or(MAX_RESULTS_PER_RUN);
    let (start_step, end_step) = (message.opt_i64("start_step")?, message.opt_i64("end_step")?);
    match (start_step, end_step) {
        (Some(start), Some(end)) if start > end => {
            return Err(MlflowError::invalid(format!(
                "end_step must be greater than start_step. Found start_step={start} and \
                 end_step={end}."
            )))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(MlflowError::invalid(
                "If either start step or end step are specified, both must be specified.",
            ))
        }
        _ => {}
    }
    let query = BulkIntervalQuery {
        run_ids,
        metric_key: message.str("metric_key")?,
        start_step,
        end_step,
        max_results,
    };
    let metrics = service
        .get_metric_history_bulk_interval(&pass, &query)
        .await?;
    Ok(Json(entities::page(
        "metrics",
        metrics.iter().map(entities::metric_with_run_id).collect(),
        None,
    )))
}

pub(crate) async fn list_run_artifacts(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::LIST_ARTIFACTS)?;
    let listing = service
        .list_run_artifacts(
            &pass,
            &message.run_id()?,
            message.opt_str("path")?.as_deref(),
        )
        .await?;
    Ok(Json(entities::listing(&listing)))
}

// ---------- logged models ----------

fn logged_model_status(text: &str) -> MlflowResult<LoggedModelStatus> {
    match text {
        "LOGGED_MODEL_STATUS_UNSPECIFIED" | "0" => Ok(LoggedModelStatus::Unspecified),
        "LOGGED_MODEL_PENDING" | "1" => Ok(LoggedModelStatus::Pending),
        "LOGGED_MODEL_READY" | "2" => Ok(LoggedModelStatus::Ready),
        "LOGGED_MODEL_UPLOAD_FAILED" | "3" => Ok(LoggedModelStatus::Failed),
        other => Err(MlflowError::invalid(format!(
            "Invalid value '{other}' for parameter 'status': expected LOGGED_MODEL_READY, \
             LOGGED_MODEL_PENDING or LOGGED_MODEL_UPLOAD_FAILED"
        ))),
    }
}

fn logged_model_reply(model: &plinth_types::LoggedModel) -> Reply {
    Ok(Json(json!({ "model": entities::logged_model(model) })))
}

pub(crate) async fn create_logged_model(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::CREATE_LOGGED_MODEL)?;
    let model = NewLoggedModel {
        name: message.opt_str("name")?.filter(|s| !s.is_empty()),
        source_run_id: message.opt_str("source_run_id")?.filter(|s| !s.is_empty()),
        model_type: message.opt_str("model_type")?.filter(|s| !s.is_empty()),
        tags: message
            .pairs("tags")?
            .into_iter()
            .map(|(key, value)| LoggedModelTag { key, value })
            .collect(),
        params: message
            .pairs("params")?
            .into_iter()
            .map(|(key, value)| LoggedModelParameter { key, value })
            .collect(),
    };
    let model = service
        .create_logged_model(&pass, &message.str("experiment_id")?, model)
        .await?;
    logged_model_reply(&model)
}

pub(crate) async fn get_logged_model(Scoped(service, pass): Scoped, params: Params) -> Reply {
    let model_id = params.get("model_id")?;
    logged_model_reply(&service.get_logged_model(&pass, &model_id).await?)
}

pub(crate) async fn finalize_logged_model(
    Scoped(service, pass): Scoped,
    params: Params,
    message: Message,
) -> Reply {
    let model_id = params.get("model_id")?;
    let message = message.checked(&schema::FINALIZE_LOGGED_MODEL)?;
    let status = logged_model_status(&message.str("status")?)?;
    logged_model_reply(
        &service
            .finalize_logged_model(&pass, &model_id, status)
            .await?,
    )
}

pub(crate) async fn delete_logged_model(Scoped(service, pass): Scoped, params: Params) -> Reply {
    let model_id = params.get("model_id")?;
    service.delete_logged_model(&pass, &model_id).await?;
    empty()
}

pub(crate) async fn set_logged_model_tags(
    Scoped(service, pass): Scoped,
    params: Params,
    message: Message,
) -> Reply {
    let model_id = params.get("model_id")?;
    let message = message.checked(&schema::SET_LOGGED_MODEL_TAGS)?;
    let tags: Vec<LoggedModelTag> = message
        .pairs("tags")?
        .into_iter()
        .map(|(key, value)| LoggedModelTag { key, value })
        .collect();
    logged_model_reply(
        &service
            .set_logged_model_tags(&pass, &model_id, &tags)
            .await?,
    )
}

pub(crate) async fn delete_logged_model_tag(
    Scoped(service, pass): Scoped,
    params: Params,
) -> Reply {
    let model_id = params.get("model_id")?;
    let tag_key = params.get("tag_key")?;
    service
        .delete_logged_model_tag(&pass, &model_id, &tag_key)
        .await?;
    empty()
}

pub(crate) async fn log_logged_model_params(
    Scoped(service, pass): Scoped,
    params: Params,
    message: Message,
) -> Reply {
    let model_id = params.get("model_id")?;
    let message = message.checked(&schema::LOG_LOGGED_MODEL_PARAMS)?;
    let params: Vec<LoggedModelParameter> = message
        .pairs("params")?
        .into_iter()
        .map(|(key, value)| LoggedModelParameter { key, value })
        .collect();
    service
        .log_logged_model_params(&pass, &model_id, &params)
        .await?;
    empty()
}

pub(crate) async fn list_logged_model_artifacts(
    Scoped(service, pass): Scoped,
    params: Params,
    message: Message,
) -> Reply {
    let model_id = params.get("model_id")?;
    let message = message.checked(&schema::LIST_LOGGED_MODEL_ARTIFACTS)?;
    let listing = service
        .list_logged_model_artifacts(
            &pass,
            &model_id,
            message.opt_str("artifact_directory_path")?.as_deref(),
        )
        .await?;
    Ok(Json(entities::listing(&listing)))
}

pub(crate) async fn search_logged_models(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::SEARCH_LOGGED_MODELS)?;
    let datasets = message
        .messages("datasets")?
        .iter()
        .map(|dataset| {
            Ok(DatasetFilter {
                dataset_name: dataset.str("dataset_name")?,
                dataset_digest: dataset.opt_str("dataset_digest")?.filter(|s| !s.is_empty()),
            })
        })
        .collect::<MlflowResult<Vec<_>>>()?;
    let order_by = message
        .messages("order_by")?
        .iter()
        .map(|order| {
            Ok(LoggedModelOrderBy {
                field_name: order.str("field_name")?,
                ascending: order.opt_bool("ascending")?.unwrap_or(true),
                dataset_name: order.opt_str("dataset_name")?.filter(|s| !s.is_empty()),
                dataset_digest: order.opt_str("dataset_digest")?.filter(|s| !s.is_empty()),
            })
        })
        .collect::<MlflowResult<Vec<_>>>()?;
    let search = LoggedModelSearch {
        filter: message.opt_str("filter")?.filter(|s| !s.is_empty()),
        datasets,
        order_by,
        max_results: max_results(&message, Some(50), i64::from(i32::MAX), PageWords::Tracking)?,
        page_token: message.opt_str("page_token")?.filter(|s| !s.is_empty()),
    };
    let page = service
        .search_logged_models(&pass, &message.str_list("experiment_ids")?, search)
        .await?;
    Ok(Json(entities::page(
        "models",
        page.items.iter().map(entities::logged_model).collect(),
        page.next_page_token,
    )))
}
