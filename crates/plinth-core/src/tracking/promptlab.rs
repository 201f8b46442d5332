//! MLflow's prompt-engineering runs (`runs/create-promptlab-run`, which its UI's prompt lab
//! calls): one finished run holding a prompt template, its parameters, the gateway route
//! and model parameters as params, the evaluated example as the `eval_results_table.json`
//! table, and a `model/` folder describing the prompt as a pyfunc model — what MLflow's
//! `_create_promptlab_run_impl` records, through this project's store.

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use plinth_types::{Param, Run, RunStatus, RunTag};
use serde_json::{json, Value};

use super::runs::{LogBatch, RunRequest, RunUpdate};
use super::{python_dumps, TrackingPass, TrackingService};
use crate::{CoreError, CoreResult};

/// The version of MLflow whose prompt lab these runs copy.
const MLFLOW_VERSION: &str = "3.17.2";

/// A prompt-lab run as the UI sends it.
#[derive(Clone, Debug, Default)]
pub struct PromptlabRun {
    /// The experiment on the wire.
    pub experiment_id: String,
    /// The run's name, if given.
    pub run_name: Option<String>,
    /// Tags of the run.
    pub tags: Vec<RunTag>,
    /// The prompt, with `{{ name }}` placeholders.
    pub prompt_template: String,
    /// The placeholders' values.
    pub prompt_parameters: Vec<Param>,
    /// The gateway route the prompt goes to.
    pub model_route: String,
    /// Parameters of the model (temperature …).
    pub model_parameters: Vec<Param>,
    /// The prompt as sent.
    pub model_input: String,
    /// What the model answered, if anything.
    pub model_output: Option<String>,
    /// Parameters of the answer (latency …).
    pub model_output_parameters: Vec<Param>,
    /// The start, ms since the epoch; now when not given.
    pub start_time: Option<i64>,
}

/// The evaluated example as MLflow's `create_eval_results_json` writes it.
fn eval_results(request: &PromptlabRun) -> String {
    let mut columns: Vec<Value> = request
        .prompt_parameters
        .iter()
        .map(|param| json!(param.key))
        .collect();
    columns.extend([json!("prompt"), json!("output")]);
    let mut row: Vec<Value> = request
        .prompt_parameters
        .iter()
        .map(|param| json!(param.value))
        .collect();
    row.extend([json!(request.model_input), json!(request.model_output)]);
    columns.extend(
        request
            .model_output_parameters
            .iter()
            .map(|param| json!(param.key)),
    );
    row.extend(
        request
            .model_output_parameters
            .iter()
            .map(|param| json!(param.value)),
    );
    let mut table = serde_json::Map::new();
    table.insert("columns".to_string(), Value::Array(columns));
    table.insert("data".to_string(), json!([row]));
    python_dumps(&Value::Object(table))
}

/// A YAML mapping of parameters (JSON strings are YAML double-quoted scalars).
fn yaml_map(params: &[Param]) -> String {
    if params.is_empty() {
        return " {}\n".to_string();
    }
    let mut out = String::from("\n");
    for param in params {
        out.push_str(&format!("  {}: {}\n", json!(param.key), json!(param.value)));
    }
    out
}

impl TrackingService {
    /// Records a prompt-lab run (MLflow's `runs/create-promptlab-run`) and returns it,
    /// finished (or failed, when its files could not be written, as MLflow does).
    pub async fn create_promptlab_run(
        &self,
        pass: &TrackingPass,
        request: PromptlabRun,
    ) -> CoreResult<Run> {
        pass.require_write()?;
        let run = self
            .create_run(
                pass,
                RunRequest {
                    experiment_id: request.experiment_id.clone(),
                    run_name: request.run_name.clone(),
                    start_time: request.start_time,
                    tags: request.tags.clone(),
                },
            )
            .await?;
        let run_id = run.info.run_id.clone();
        let recorded = self.record_promptlab(pass, &run, &request).await;
        let status = match recorded {
            Ok(()) => RunStatus::Finished,
            Err(error) => {
                tracing::warn!(run_id = %run_id, error = %error, "prompt-lab run not recorded whole");
                RunStatus::Failed
            }
        };
        self.update_run(
            pass,
            &run_id,
            &RunUpdate {
                status: Some(status),
                end_time: Some(self.now()),
                run_name: None,
            },
        )
        .await?;
        self.get_run(pass, &run_id).await
    }

    async fn record_promptlab(
        &self,
        pass: &TrackingPass,
        run: &Run,
        request: &PromptlabRun,
    ) -> CoreResult<()> {
        let run_id = &run.info.run_id;
        let mut params = request.model_parameters.clone();
        params.push(Param {
            key: "model_route".to_string(),
            value: request.model_route.clone(),
        });
        params.push(Param {
            key: "prompt_template".to_string(),
            value: request.prompt_template.clone(),
        });
        let created = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string();
        let model_uuid = uuid::Uuid::new_v4().simple().to_string();
        let model = json!({
            "run_id": run_id,
            "artifact_path": "model",
            "utc_time_created": created,
            "model_uuid": model_uuid,
            "flavors": {},
        });
        let tags = vec![
            RunTag {
                key: "mlflow.loggedArtifacts".to_string(),
                value: python_dumps(
                    &json!([{ "path": "eval_results_table.json", "type": "table" }]),
                ),
            },
            RunTag {
                key: "mlflow.runSourceType".to_string(),
                value: "PROMPT_ENGINEERING".to_string(),
            },
            RunTag {
                key: "mlflow.log-model.history".to_string(),
                value: Value::Array(vec![model]).to_string(),
            },
        ];
        self.log_batch(
            pass,
            run_id,
            LogBatch {
                metrics: Vec::new(),
                params,
                tags,
            },
        )
        .await?;

        let root = super::artifacts::proxied_path(&run.info.artifact_uri)
            .map_err(CoreError::InvalidArgument)?;
        let inputs: Vec<Value> = request
            .prompt_parameters
            .iter()
            .map(|param| json!({ "type": "string", "name": param.key, "required": true }))
            .collect();
        let outputs = json!([{ "type": "string", "name": "output", "required": true }]);
        let mlmodel = format!(
            "artifact_path: model\n\
             flavors:\n  python_function:\n    loader_module: mlflow.prompt.promptlab_model\n    \
             parameters_path: parameters.yaml\n\
             mlflow_version: {MLFLOW_VERSION}\n\
             model_uuid: {model_uuid}\n\
             run_id: {run_id}\n\
             saved_input_example_info:\n  artifact_path: input_example.json\n  \
             serving_input_path: serving_input_example.json\n  type: json_object\n\
             signature:\n  inputs: {}\n  outputs: {}\n\
             utc_time_created: {}\n",
            json!(python_dumps(&Value::Array(inputs))),
            json!(python_dumps(&outputs)),
            json!(created),
        );
        let parameters = format!(
            "model_parameters:{}model_route: {}\nprompt_parameters:{}prompt_template: {}\n",
            yaml_map(&request.model_parameters),
            json!(request.model_route),
            yaml_map(&request.prompt_parameters),
            json!(request.prompt_template),
        );
        let values: Vec<Value> = request
            .prompt_parameters
            .iter()
            .map(|param| json!(param.value))
            .collect();
        let example = python_dumps(&json!({ "inputs": values }));
        let serving_example =
            serde_json::to_string_pretty(&json!({ "inputs": { "inputs": values } }))
                .unwrap_or_default();
        let files = [
            ("eval_results_table.json", eval_results(request)),
            ("model/MLmodel", mlmodel),
            ("model/parameters.yaml", parameters),
            ("model/input_example.json", example),
            ("model/serving_input_example.json", serving_example),
            (
                "model/requirements.txt",
                format!("mlflow[gateway]=={MLFLOW_VERSION}"),
            ),
        ];
        for (name, content) in files {
            let chunks = stream::iter([Ok::<_, std::io::Error>(Bytes::from(content))]).boxed();
            self.put_artifact(pass, &format!("{root}/{name}"), chunks)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evaluated_example_is_written_as_mlflow_writes_it() {
        let request = PromptlabRun {
            prompt_parameters: vec![Param {
                key: "x".to_string(),
                value: "héllo".to_string(),
            }],
            model_input: "say héllo".to_string(),
            model_output: None,
            model_output_parameters: vec![Param {
                key: "latency".to_string(),
                value: "5".to_string(),
            }],
            ..PromptlabRun::default()
        };
        assert_eq!(
            eval_results(&request),
            r#"{"columns": ["x", "prompt", "output", "latency"], "data": [["h\u00e9llo", "say h\u00e9llo", null, "5"]]}"#
        );
    }
}
