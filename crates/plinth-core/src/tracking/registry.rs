//! The model registry: registered models, versions, stages, tags and aliases.

use plinth_metastore::{NewModelVersion, NewRegisteredModel, RegistrySearch};
use plinth_types::{
    ModelVersion, ModelVersionStage, ModelVersionTag, Page, RegisteredModel, RegisteredModelTag,
};

use super::{artifacts, TrackingPass, TrackingService};
use crate::{CoreError, CoreResult};

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

impl TrackingService {
    /// Creates a registered model.
    pub async fn create_registered_model(
        &self,
        pass: &TrackingPass,
        model: &NewRegisteredModel,
    ) -> CoreResult<RegisteredModel> {
        pass.require_write()?;
        Ok(self
            .store()
            .create_registered_model(pass.project_id(), model, self.now())
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
            .search_registered_models(pass.project_id(), search)
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

    /// Sets or clears a registered model's description.
    pub async fn update_registered_model(
        &self,
        pass: &TrackingPass,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<RegisteredModel> {
        pass.require_write()?;
        Ok(self
            .store()
            .update_registered_model(pass.project_id(), name, description, self.now())
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

    /// Creates the next version of a registered model from a checked `source`; the caller
    /// is recorded as its `user_id`.
    pub async fn create_model_version(
        &self,
        pass: &TrackingPass,
        mut version: NewModelVersion,
    ) -> CoreResult<ModelVersion> {
        pass.require_write()?;
        check_source(&version.source)?;
        version.user_id = Some(pass.username().to_string());
        Ok(self
            .store()
            .create_model_version(pass.project_id(), &version, self.now())
            .await?)
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
            .search_model_versions(pass.project_id(), search)
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
