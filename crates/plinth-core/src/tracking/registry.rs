//! The model registry: registered models, versions, stages, tags and aliases.

use plinth_metastore as store;
pub use plinth_metastore::{MAX_MODEL_VERSIONS_PER_PAGE, MAX_REGISTERED_MODELS_PER_PAGE};
use plinth_types::{
    LoggedModelTag, ModelVersion, ModelVersionStage, ModelVersionTag, Page, RegisteredModel,
    RegisteredModelTag,
};

use super::{artifacts, TrackingPass, TrackingService};
use crate::{CoreError, CoreResult};

/// A registered model to create; the service records the caller as its creator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRegisteredModel {
    /// Unique within the project; no `/` or `:`.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Initial tags.
    pub tags: Vec<RegisteredModelTag>,
    /// A deployment job the client attaches, if any.
    pub deployment_job_id: Option<String>,
}

/// A change of a registered model (MLflow's `registered-models/update`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisteredModelUpdate {
    /// The new description (`None`: none).
    pub description: Option<String>,
    /// A new deployment job, when given (`None` keeps the one it has).
    pub deployment_job_id: Option<String>,
}

impl From<&RegisteredModelUpdate> for store::RegisteredModelUpdate {
    fn from(update: &RegisteredModelUpdate) -> Self {
        store::RegisteredModelUpdate {
            description: update.description.clone(),
            deployment_job_id: update.deployment_job_id.clone(),
        }
    }
}

/// A model version to create; the service records the caller as its creator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The artifact URI (`models:/m-…` resolves to that logged model's artifacts).
    pub source: String,
    /// The run that produced it; defaults to the logged model's source run.
    pub run_id: Option<String>,
    /// The logged model it promotes (MLflow 3), of the same project.
    pub model_id: Option<String>,
    /// A link to the run.
    pub run_link: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Initial tags.
    pub tags: Vec<ModelVersionTag>,
}

/// A search over registered models or model versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySearch {
    /// MLflow's filter (`name LIKE 'fraud%' AND tags.team = 'ml'`; versions also know
    /// `run_id`, `source_path`, `version_number`).
    pub filter: Option<String>,
    /// MLflow's `order_by` entries.
    pub order_by: Vec<String>,
    /// Page size (at least 1, at most [`MAX_REGISTERED_MODELS_PER_PAGE`] for models and
    /// [`MAX_MODEL_VERSIONS_PER_PAGE`] for versions).
    pub max_results: i64,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl From<&RegistrySearch> for store::RegistrySearch {
    fn from(search: &RegistrySearch) -> Self {
        store::RegistrySearch {
            filter: search.filter.clone(),
            order_by: search.order_by.clone(),
            max_results: search.max_results,
            page_token: search.page_token.clone(),
        }
    }
}

/// Checks a model version's `source`: a `models:/…` or `runs:/…` URI, or an
/// `mlflow-artifacts:` URI without a host. Anything else (`file:`, `s3:`, `http:`, another
/// host) could make a client that loads the version read from outside the project.
pub(crate) fn check_source(source: &str) -> CoreResult<()> {
    let refuse = |reason: &str| {
        CoreError::InvalidArgument(format!(
            "Invalid value '{source}' for parameter 'source': {reason}"
        ))
    };
    if let Some(rest) = source
        .strip_prefix("models:/")
        .or_else(|| source.strip_prefix("runs:/"))
    {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(refuse("names no model or run"));
        }
        if rest.split('/').any(|segment| segment == "..") {
            return Err(refuse("must not contain `..`"));
        }
        return Ok(());
    }
    if source.starts_with(super::MLFLOW_ARTIFACTS_SCHEME) {
        return artifacts::proxied_path(source)
            .map(|_| ())
            .map_err(|reason| refuse(&reason));
    }
    Err(refuse(
        "Plinth registers only `models:/`, `runs:/` and `mlflow-artifacts:/` sources",
    ))
}

/// What a `models:/` URI names (MLflow's `_parse_model_uri`).
enum ModelsUri {
    /// `models:/MODEL_ID`: a logged model.
    LoggedModel(String),
    /// `models:/name/…` or `models:/name@alias`: a registered model's version.
    Registered {
        name: String,
        selector: VersionSelector,
    },
}

/// Which version of a registered model a `models:/` URI means.
enum VersionSelector {
    Number(i64),
    /// The newest one, in a stage if one is named.
    Latest(Option<String>),
    Alias(String),
}

fn parse_models_uri(uri: &str) -> CoreResult<ModelsUri> {
    let improper = || {
        CoreError::InvalidArgument(format!(
            "Invalid model version source: '{uri}'. The model_id request parameter must \
             identify the resource that contains the source."
        ))
    };
    let path = uri.strip_prefix("models:").ok_or_else(improper)?;
    let path = path.split('?').next().unwrap_or_default();
    if !path.starts_with('/') || path.len() <= 1 {
        return Err(improper());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.len() > 2 || parts[0].trim().is_empty() {
        return Err(improper());
    }
    if let [name, suffix] = parts[..] {
        if suffix.trim().is_empty() {
            return Err(improper());
        }
        let selector = if !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_digit()) {
            VersionSelector::Number(suffix.parse().map_err(|_| improper())?)
        } else if suffix.eq_ignore_ascii_case("latest") {
            VersionSelector::Latest(None)
        } else {
            VersionSelector::Latest(Some(suffix.to_string()))
        };
        return Ok(ModelsUri::Registered {
            name: name.to_string(),
            selector,
        });
    }
    if let Some((name, alias)) = parts[0].rsplit_once('@') {
        if alias.trim().is_empty() {
            return Err(improper());
        }
        return Ok(ModelsUri::Registered {
            name: name.to_string(),
            selector: VersionSelector::Alias(alias.to_string()),
        });
    }
    Ok(ModelsUri::LoggedModel(parts[0].to_string()))
}

/// MLflow's `is_local_uri` for a source: no scheme, or `file:`.
fn is_local_source(source: &str) -> bool {
    match source.split_once(':') {
        None => true,
        Some((scheme, _)) => {
            scheme.eq_ignore_ascii_case("file")
                || scheme.len() == 1
                || !scheme
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"+-.".contains(&byte))
        }
    }
}

/// MLflow's `_validate_non_local_source_contains_relative_paths`: after decoding, the
/// source's path must be absolute, with no `..`, `.` or NUL in it.
fn check_relative_references(source: &str) -> CoreResult<()> {
    let mut decoded = source.to_string();
    loop {
        let next = percent_encoding::percent_decode_str(&decoded.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let refuse = || {
        CoreError::InvalidArgument(format!(
            "Invalid model version source: '{decoded}'. If supplying a source as an http, \
             https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path \
             must be provided without relative path references present. Please provide an \
             absolute path."
        ))
    };
    // The path of the URI: after the scheme and any `//host`, before `?` and `#`.
    let after_scheme = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(_, rest)| rest);
    let after_host = match after_scheme.strip_prefix("//") {
        Some(rest) => rest.find('/').map_or("", |at| &rest[at..]),
        None => after_scheme,
    };
    let path = after_host.split(['?', '#']).next().unwrap_or_default();
    let mut collapsed = String::new();
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        collapsed.push('/');
        collapsed.push_str(segment);
    }
    if decoded.contains('\0')
        || decoded.split('/').any(|segment| segment == "..")
        || !path.starts_with('/')
        || path.split('/').any(|segment| segment == ".")
        || collapsed.is_empty()
    {
        return Err(refuse());
    }
    Ok(())
}

/// MLflow's `_is_uri_within_root`: same scheme and host, and the root's path segments
/// (decoded) begin the source's.
fn within_root(source: &str, root: &str) -> bool {
    fn parts(uri: &str) -> (String, String, Vec<String>) {
        let (scheme, rest) = uri.split_once(':').unwrap_or(("", uri));
        let (host, path) = match rest.strip_prefix("//") {
            Some(rest) => match rest.find('/') {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (rest, ""),
            },
            None => ("", rest),
        };
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                let mut decoded = segment.to_string();
                loop {
                    let next = percent_encoding::percent_decode_str(&decoded)
                        .decode_utf8_lossy()
                        .into_owned();
                    if next == decoded {
                        break decoded;
                    }
                    decoded = next;
                }
            })
            .collect();
        (
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase(),
            segments,
        )
    }
    let (source_scheme, source_host, source_parts) = parts(source);
    let (root_scheme, root_host, root_parts) = parts(root);
    source_scheme == root_scheme
        && source_host == root_host
        && !root_parts.is_empty()
        && source_parts.starts_with(&root_parts)
}

impl TrackingService {
    /// Creates a registered model; the caller is recorded as its `user_id`.
    pub async fn create_registered_model(
        &self,
        pass: &TrackingPass,
        model: &NewRegisteredModel,
    ) -> CoreResult<RegisteredModel> {
        pass.require_write()?;
        let model = store::NewRegisteredModel {
            name: model.name.clone(),
            description: model.description.clone(),
            tags: model.tags.clone(),
            user_id: Some(pass.username().to_string()),
            deployment_job_id: model.deployment_job_id.clone(),
        };
        Ok(self
            .store()
            .create_registered_model(pass.project_id(), &model, self.now())
            .await?)
    }

    /// Returns a registered model.
    pub async fn get_registered_model(
        &self,
        pass: &TrackingPass,
        name: &str,
    ) -> CoreResult<RegisteredModel> {
        Ok(self
            .store()
            .get_registered_model(pass.project_id(), name)
            .await?)
    }

    /// Searches registered models.
    pub async fn search_registered_models(
        &self,
        pass: &TrackingPass,
        search: &RegistrySearch,
    ) -> CoreResult<Page<RegisteredModel>> {
        Ok(self
            .store()
            .search_registered_models(pass.project_id(), &search.into())
            .await?)
    }

    /// Renames a registered model.
    pub async fn rename_registered_model(
        &self,
        pass: &TrackingPass,
        name: &str,
        new_name: &str,
    ) -> CoreResult<RegisteredModel> {
        pass.require_write()?;
        Ok(self
            .store()
            .rename_registered_model(pass.project_id(), name, new_name, self.now())
            .await?)
    }

    /// Sets or clears a registered model's description (and attaches a deployment job,
    /// when one is named).
    pub async fn update_registered_model(
        &self,
        pass: &TrackingPass,
        name: &str,
        update: &RegisteredModelUpdate,
    ) -> CoreResult<RegisteredModel> {
        pass.require_write()?;
        Ok(self
            .store()
            .update_registered_model(pass.project_id(), name, &update.into(), self.now())
            .await?)
    }

    /// Deletes a registered model and its versions.
    pub async fn delete_registered_model(&self, pass: &TrackingPass, name: &str) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_registered_model(pass.project_id(), name)
            .await?)
    }

    /// Sets a tag on a registered model.
    pub async fn set_registered_model_tag(
        &self,
        pass: &TrackingPass,
        name: &str,
        tag: &RegisteredModelTag,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .set_registered_model_tag(pass.project_id(), name, tag)
            .await?)
    }

    /// Removes a tag from a registered model.
    pub async fn delete_registered_model_tag(
        &self,
        pass: &TrackingPass,
        name: &str,
        key: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_registered_model_tag(pass.project_id(), name, key)
            .await?)
    }

    /// Points an alias at a version.
    pub async fn set_registered_model_alias(
        &self,
        pass: &TrackingPass,
        name: &str,
        alias: &str,
        version: i64,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .set_registered_model_alias(pass.project_id(), name, alias, version)
            .await?)
    }

    /// Removes an alias.
    pub async fn delete_registered_model_alias(
        &self,
        pass: &TrackingPass,
        name: &str,
        alias: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_registered_model_alias(pass.project_id(), name, alias)
            .await?)
    }

    /// Returns the version an alias points to.
    pub async fn get_model_version_by_alias(
        &self,
        pass: &TrackingPass,
        name: &str,
        alias: &str,
    ) -> CoreResult<ModelVersion> {
        Ok(self
            .store()
            .get_model_version_by_alias(pass.project_id(), name, alias)
            .await?)
    }

    /// Creates the next version of a registered model; the caller is recorded as its
    /// `user_id`. The `source` is checked as MLflow 3 checks it ([`Self::source_lineage`]),
    /// then against Plinth's policy ([`check_source`]).
    pub async fn create_model_version(
        &self,
        pass: &TrackingPass,
        version: NewModelVersion,
    ) -> CoreResult<ModelVersion> {
        pass.require_write()?;
        let mut version = store::NewModelVersion {
            name: version.name,
            source: version.source,
            run_id: version.run_id,
            model_id: version.model_id,
            run_link: version.run_link,
            description: version.description,
            tags: version.tags,
            user_id: Some(pass.username().to_string()),
        };
        self.source_lineage(pass, &mut version).await?;
        check_source(&version.source)?;
        let created = self
            .store()
            .create_model_version(pass.project_id(), &version, self.now())
            .await?;
        if let Some(model_id) = &created.model_id {
            self.note_registration(pass, model_id, &created).await?;
        }
        Ok(created)
    }

    /// Lists a new version in its logged model's `mlflow.modelVersions` tag, as MLflow's
    /// server does (its UI reads the tag).
    async fn note_registration(
        &self,
        pass: &TrackingPass,
        model_id: &str,
        created: &ModelVersion,
    ) -> CoreResult<()> {
        const TAG: &str = "mlflow.modelVersions";
        let model = self.get_logged_model(pass, model_id).await?;
        let entry = serde_json::json!({ "name": created.name, "version": created.version });
        let mut listed: Vec<serde_json::Value> = model
            .tags
            .iter()
            .find(|tag| tag.key == TAG)
            .and_then(|tag| serde_json::from_str(&tag.value).ok())
            .unwrap_or_default();
        if !listed.contains(&entry) {
            listed.push(entry);
        }
        let tag = LoggedModelTag {
            key: TAG.to_string(),
            value: super::python_dumps(&serde_json::Value::Array(listed)),
        };
        self.store()
            .set_logged_model_tags(pass.project_id(), model_id, &[tag])
            .await?;
        Ok(())
    }

    /// MLflow 3's checks of a version's source (`_create_model_version` in its server):
    /// a `models:/name/…` source is resolved to the version it names (whose run and logged
    /// model the new one inherits, and must match when given); a source is then tied to
    /// the resource that holds it — `runs:/RUN/…` to the `run_id` given with it,
    /// `models:/MODEL_ID` to the `model_id`, an `mlflow-artifacts:` URI to a run or logged
    /// model whose artifacts contain it. Unlike MLflow, a `runs:/` source's run must also
    /// exist, in this project: a version never points at a run that is not there.
    async fn source_lineage(
        &self,
        pass: &TrackingPass,
        version: &mut store::NewModelVersion,
    ) -> CoreResult<()> {
        let source = version.source.clone();
        if let Some(rest) = source.strip_prefix("models:") {
            if rest.starts_with("//") {
                return Err(CoreError::InvalidArgument(format!(
                    "Invalid model version source: '{source}'. Registered model sources must \
                     use the active model registry."
                )));
            }
            let parsed = parse_models_uri(&source)?;
            if let ModelsUri::Registered { name, selector } = parsed {
                let found = self.resolve_version(pass, &name, &selector).await?;
                let mismatch = |given: &Option<String>, stored: &Option<String>| {
                    given.is_some()
                        && given.as_deref().unwrap_or("") != stored.as_deref().unwrap_or("")
                };
                if mismatch(&version.run_id, &found.run_id)
                    || mismatch(&version.model_id, &found.model_id)
                {
                    return Err(CoreError::InvalidArgument(format!(
                        "Invalid model version source: '{source}'. The run_id and model_id \
                         request parameters must match the referenced model version."
                    )));
                }
                version.source = format!("models:/{}/{}", found.name, found.version);
                version.run_id = version.run_id.take().or(found.run_id);
                version.model_id = version.model_id.take().or(found.model_id);
            }
        }
        let source = version.source.clone();
        let unattached = |id_name: &str| {
            CoreError::InvalidArgument(format!(
                "Invalid model version source: '{source}'. The {id_name} request parameter \
                 must identify the resource that contains the source."
            ))
        };
        if is_local_source(&source) {
            // Plinth keeps artifacts in its own store: no local path is a source (below).
            return Ok(());
        }
        check_relative_references(&source)?;
        let scheme = source.split_once(':').map_or("", |(scheme, _)| scheme);
        if let Some(model_id) = version.model_id.clone() {
            match scheme {
                "models" => {
                    if source.starts_with("models://") {
                        return Err(unattached("model_id"));
                    }
                    if let ModelsUri::LoggedModel(source_model) = parse_models_uri(&source)? {
                        if source_model != model_id {
                            return Err(unattached("model_id"));
                        }
                    }
                }
                "runs" => return Err(unattached("model_id")),
                "mlflow-artifacts" => {
                    let model = self
                        .get_logged_model(pass, &model_id)
                        .await
                        .map_err(|_| unattached("model_id"))?;
                    if !within_root(&source, &model.artifact_location) {
                        return Err(unattached("model_id"));
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        match scheme {
            "runs" => {
                let rest = source.trim_start_matches("runs:");
                if rest.starts_with("//") {
                    return Err(unattached("run_id"));
                }
                let source_run = rest.trim_start_matches('/').split('/').next().unwrap_or("");
                match version.run_id.as_deref() {
                    Some(run_id) if run_id == source_run => {
                        self.get_run(pass, run_id)
                            .await
                            .map_err(|_| unattached("run_id"))?;
                    }
                    _ => return Err(unattached("run_id")),
                }
            }
            "models" => {
                // A logged model's URI needs its `model_id` (handled above).
                let names_logged_model = source.starts_with("models://")
                    || matches!(parse_models_uri(&source)?, ModelsUri::LoggedModel(_));
                if names_logged_model {
                    return Err(unattached("model_id"));
                }
            }
            "mlflow-artifacts" => {
                let Some(run_id) = version.run_id.clone() else {
                    return Err(unattached("run_id"));
                };
                let run = self
                    .get_run(pass, &run_id)
                    .await
                    .map_err(|_| unattached("run_id"))?;
                if !within_root(&source, &run.info.artifact_uri) {
                    return Err(unattached("run_id"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The version a `models:/name/…` URI names: a number, a stage, `latest`, or an alias.
    async fn resolve_version(
        &self,
        pass: &TrackingPass,
        name: &str,
        selector: &VersionSelector,
    ) -> CoreResult<ModelVersion> {
        self.get_registered_model(pass, name).await?;
        match selector {
            VersionSelector::Number(number) => self.get_model_version(pass, name, *number).await,
            VersionSelector::Alias(alias) => {
                self.get_model_version_by_alias(pass, name, alias).await
            }
            VersionSelector::Latest(stage) => {
                let stages: Vec<ModelVersionStage> = match stage {
                    Some(stage) => {
                        vec![ModelVersionStage::parse_any_case(stage).ok_or_else(|| {
                            CoreError::InvalidArgument(format!(
                                "Invalid Model Version stage: {stage}. Value must be one of \
                                 None, Staging, Production, Archived."
                            ))
                        })?]
                    }
                    None => Vec::new(),
                };
                let latest = self.get_latest_versions(pass, name, &stages).await?;
                let newest = latest.into_iter().max_by_key(|version| version.version);
                newest.ok_or_else(|| {
                    let stage = stage
                        .as_deref()
                        .map(|stage| format!(" and stage '{stage}'"))
                        .unwrap_or_default();
                    CoreError::Missing(format!(
                        "No versions of model with name '{name}'{stage} found"
                    ))
                })
            }
        }
    }

    /// Returns a version.
    pub async fn get_model_version(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
    ) -> CoreResult<ModelVersion> {
        Ok(self
            .store()
            .get_model_version(pass.project_id(), name, version)
            .await?)
    }

    /// Sets or clears a version's description.
    pub async fn update_model_version(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
        description: Option<&str>,
    ) -> CoreResult<ModelVersion> {
        pass.require_write()?;
        Ok(self
            .store()
            .update_model_version(pass.project_id(), name, version, description, self.now())
            .await?)
    }

    /// Moves a version to a stage.
    pub async fn transition_model_version_stage(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
        stage: ModelVersionStage,
        archive_existing_versions: bool,
    ) -> CoreResult<ModelVersion> {
        pass.require_write()?;
        Ok(self
            .store()
            .transition_model_version_stage(
                pass.project_id(),
                name,
                version,
                stage,
                archive_existing_versions,
                self.now(),
            )
            .await?)
    }

    /// Deletes a version.
    pub async fn delete_model_version(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_model_version(pass.project_id(), name, version, self.now())
            .await?)
    }

    /// The newest version in each of `stages` (all when empty).
    pub async fn get_latest_versions(
        &self,
        pass: &TrackingPass,
        name: &str,
        stages: &[ModelVersionStage],
    ) -> CoreResult<Vec<ModelVersion>> {
        Ok(self
            .store()
            .get_latest_versions(pass.project_id(), name, stages)
            .await?)
    }

    /// Searches versions.
    pub async fn search_model_versions(
        &self,
        pass: &TrackingPass,
        search: &RegistrySearch,
    ) -> CoreResult<Page<ModelVersion>> {
        Ok(self
            .store()
            .search_model_versions(pass.project_id(), &search.into())
            .await?)
    }

    /// Sets a tag on a version.
    pub async fn set_model_version_tag(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
        tag: &ModelVersionTag,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .set_model_version_tag(pass.project_id(), name, version, tag)
            .await?)
    }

    /// Removes a tag from a version.
    pub async fn delete_model_version_tag(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
        key: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        Ok(self
            .store()
            .delete_model_version_tag(pass.project_id(), name, version, key)
            .await?)
    }

    /// Where a version's artifacts are.
    pub async fn get_model_version_download_uri(
        &self,
        pass: &TrackingPass,
        name: &str,
        version: i64,
    ) -> CoreResult<String> {
        Ok(self
            .store()
            .get_model_version_download_uri(pass.project_id(), name, version)
            .await?)
    }
}
