//! Kubeflow Pipelines' API of a project (`/projects/{org}/{project}/apis/v2beta1/…`), the
//! calls `plinth pipelines` makes; answers are KFP's JSON, kept as [`serde_json::Value`]
//! (KFP documents them; `kfp.Client` is their main client).

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use crate::{Client, ClientResult};

/// KFP's API of one project.
#[derive(Debug)]
pub struct Pipelines<'a> {
    client: &'a Client,
    organization: &'a str,
    project: &'a str,
}

impl Client {
    /// Returns KFP's API of the project `organization/project`.
    pub fn pipelines<'a>(&'a self, organization: &'a str, project: &'a str) -> Pipelines<'a> {
        Pipelines {
            client: self,
            organization,
            project,
        }
    }
}

const BOUNDARY: &str = "plinth-pipeline-upload-7c1f";

impl Pipelines<'_> {
    fn url<'s>(&self, rest: impl IntoIterator<Item = &'s str>) -> Url
    where
        Self: 's,
    {
        self.client.url(
            [
                "projects",
                self.organization,
                self.project,
                "apis",
                "v2beta1",
            ]
            .into_iter()
            .chain(rest),
        )
    }

    /// Uploads a compiled pipeline (the YAML's text) as `name`.
    pub async fn upload(&self, name: &str, text: &str) -> ClientResult<Value> {
        let body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"pipeline.yaml\"\r\nContent-Type: application/octet-stream\r\n\r\n{text}\r\n--{BOUNDARY}--\r\n"
        );
        let request = self
            .client
            .request_to(Method::POST, self.url(["pipelines", "upload"]))
            .query(&[("name", name)])
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        self.client.json(request).await
    }

    /// Lists the project's pipelines (`{}` when none).
    pub async fn list_pipelines(&self) -> ClientResult<Value> {
        self.client
            .json(self.client.request_to(Method::GET, self.url(["pipelines"])))
            .await
    }

    /// Lists a pipeline's versions.
    pub async fn list_versions(&self, pipeline_id: &str) -> ClientResult<Value> {
        self.client
            .json(self.client.request_to(
                Method::GET,
                self.url(["pipelines", pipeline_id, "versions"]),
            ))
            .await
    }

    /// Starts a run of a PipelineSpec (JSON form) or of a pipeline's version.
    pub async fn create_run(
        &self,
        display_name: &str,
        pipeline_spec: Option<Value>,
        version: Option<(&str, &str)>,
        parameters: &serde_json::Map<String, Value>,
    ) -> ClientResult<Value> {
        let mut body = json!({
            "display_name": display_name,
            "runtime_config": { "parameters": parameters },
        });
        if let Some(spec) = pipeline_spec {
            body["pipeline_spec"] = spec;
        }
        if let Some((pipeline, version)) = version {
            body["pipeline_version_reference"] =
                json!({ "pipeline_id": pipeline, "pipeline_version_id": version });
        }
        self.client
            .json(
                self.client
                    .request_to(Method::POST, self.url(["runs"]))
                    .json(&body),
            )
            .await
    }

    /// Lists the project's runs, newest first (`{}` when none).
    pub async fn list_runs(&self) -> ClientResult<Value> {
        self.client
            .json(self.client.request_to(Method::GET, self.url(["runs"])))
            .await
    }

    /// Returns a run with its tasks.
    pub async fn get_run(&self, run_id: &str) -> ClientResult<Value> {
        self.client
            .json(
                self.client
                    .request_to(Method::GET, self.url(["runs", run_id])),
            )
            .await
    }

    /// Asks a run to stop.
    pub async fn terminate_run(&self, run_id: &str) -> ClientResult<()> {
        let action = format!("{run_id}:terminate");
        self.client
            .json::<Value>(
                self.client
                    .request_to(Method::POST, self.url(["runs", action.as_str()]))
                    .json(&json!({})),
            )
            .await
            .map(drop)
    }
}
