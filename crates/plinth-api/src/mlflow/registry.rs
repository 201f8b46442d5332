//! Handlers of MLflow's model registry API.

use axum::Json;
use plinth_core::tracking::{
    NewModelVersion, NewRegisteredModel, RegisteredModelUpdate, RegistrySearch,
    MAX_MODEL_VERSIONS_PER_PAGE, MAX_REGISTERED_MODELS_PER_PAGE,
};
use plinth_types::{ModelVersionStage, ModelVersionTag, RegisteredModelTag};
use serde_json::{json, Value};

use super::entities;
use super::schema;
use super::wire::{max_results, Message, MlflowError, MlflowResult, PageWords};
use super::Scoped;

type Reply = MlflowResult<Json<Value>>;

fn empty() -> Reply {
    Ok(Json(json!({})))
}

fn version_of(message: &Message) -> MlflowResult<i64> {
    let text = message.str("version")?;
    text.trim().parse::<i64>().map_err(|_| {
        MlflowError::invalid(format!(
            "Parameter 'version' must be an integer, got '{text}'."
        ))
    })
}

fn stage_of(text: &str) -> MlflowResult<ModelVersionStage> {
    ModelVersionStage::parse_any_case(text).ok_or_else(|| {
        MlflowError::invalid(format!(
            "Invalid Model Version stage: {text}. Value must be one of None, Staging, \
             Production, Archived."
        ))
    })
}

fn registered_model_reply(model: &plinth_types::RegisteredModel) -> Reply {
    Ok(Json(
        json!({ "registered_model": entities::registered_model(model) }),
    ))
}

fn model_version_reply(version: &plinth_types::ModelVersion) -> Reply {
    Ok(Json(
        json!({ "model_version": entities::model_version(version) }),
    ))
}

fn search_of(message: &Message, default: i64, limit: i64) -> MlflowResult<RegistrySearch> {
    Ok(RegistrySearch {
        filter: message.opt_str("filter")?.filter(|s| !s.is_empty()),
        order_by: message.str_list("order_by")?,
        max_results: max_results(message, Some(default), limit, PageWords::Registry)?,
        page_token: message.opt_str("page_token")?.filter(|s| !s.is_empty()),
    })
}

pub(crate) async fn create_registered_model(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::CREATE_REGISTERED_MODEL)?;
    let model = NewRegisteredModel {
        name: message.str("name")?,
        description: message.opt_str("description")?.filter(|s| !s.is_empty()),
        tags: message
            .pairs("tags")?
            .into_iter()
            .map(|(key, value)| RegisteredModelTag { key, value })
            .collect(),
        deployment_job_id: message
            .opt_str("deployment_job_id")?
            .filter(|id| !id.is_empty()),
    };
    registered_model_reply(&service.create_registered_model(&pass, &model).await?)
}

pub(crate) async fn get_registered_model(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::REGISTERED_MODEL_NAME)?;
    registered_model_reply(
        &service
            .get_registered_model(&pass, &message.str("name")?)
            .await?,
    )
}

pub(crate) async fn search_registered_models(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::SEARCH_REGISTERED_MODELS)?;
    let search = search_of(&message, 100, MAX_REGISTERED_MODELS_PER_PAGE)?;
    let page = service.search_registered_models(&pass, &search).await?;
    Ok(Json(entities::page(
        "registered_models",
        page.items.iter().map(entities::registered_model).collect(),
        page.next_page_token,
    )))
}

pub(crate) async fn rename_registered_model(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::RENAME_REGISTERED_MODEL)?;
    registered_model_reply(
        &service
            .rename_registered_model(&pass, &message.str("name")?, &message.str("new_name")?)
            .await?,
    )
}

pub(crate) async fn update_registered_model(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::UPDATE_REGISTERED_MODEL)?;
    registered_model_reply(
        &service
            .update_registered_model(
                &pass,
                &message.str("name")?,
                &RegisteredModelUpdate {
                    description: message.opt_str("description")?,
                    deployment_job_id: message
                        .opt_str("deployment_job_id")?
                        .filter(|id| !id.is_empty()),
                },
            )
            .await?,
    )
}

pub(crate) async fn delete_registered_model(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::REGISTERED_MODEL_NAME)?;
    service
        .delete_registered_model(&pass, &message.str("name")?)
        .await?;
    empty()
}

pub(crate) async fn set_registered_model_tag(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::SET_REGISTERED_MODEL_TAG)?;
    let tag = RegisteredModelTag {
        key: message.str("key")?,
        value: message.str_or_empty("value")?,
    };
    service
        .set_registered_model_tag(&pass, &message.str("name")?, &tag)
        .await?;
    empty()
}

pub(crate) async fn delete_registered_model_tag(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::DELETE_REGISTERED_MODEL_TAG)?;
    service
        .delete_registered_model_tag(&pass, &message.str("name")?, &message.str("key")?)
        .await?;
    empty()
}

pub(crate) async fn set_registered_model_alias(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::SET_REGISTERED_MODEL_ALIAS)?;
    service
        .set_registered_model_alias(
            &pass,
            &message.str("name")?,
            &message.str("alias")?,
            version_of(&message)?,
        )
        .await?;
    empty()
}

pub(crate) async fn delete_registered_model_alias(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::REGISTERED_MODEL_ALIAS)?;
    service
        .delete_registered_model_alias(&pass, &message.str("name")?, &message.str("alias")?)
        .await?;
    empty()
}

pub(crate) async fn get_model_version_by_alias(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::REGISTERED_MODEL_ALIAS)?;
    model_version_reply(
        &service
            .get_model_version_by_alias(&pass, &message.str("name")?, &message.str("alias")?)
            .await?,
    )
}

pub(crate) async fn get_latest_versions(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::GET_LATEST_VERSIONS)?;
    let stages = message
        .str_list("stages")?
        .iter()
        .map(|stage| stage_of(stage))
        .collect::<MlflowResult<Vec<_>>>()?;
    let versions = service
        .get_latest_versions(&pass, &message.str("name")?, &stages)
        .await?;
    Ok(Json(json!({
        "model_versions": versions.iter().map(entities::model_version).collect::<Vec<_>>()
    })))
}

pub(crate) async fn create_model_version(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::CREATE_MODEL_VERSION)?;
    let version = NewModelVersion {
        name: message.str("name")?,
        source: message.str("source")?,
        run_id: message.opt_str("run_id")?.filter(|s| !s.is_empty()),
        model_id: message.opt_str("model_id")?.filter(|s| !s.is_empty()),
        run_link: message.opt_str("run_link")?.filter(|s| !s.is_empty()),
        description: message.opt_str("description")?.filter(|s| !s.is_empty()),
        tags: message
            .pairs("tags")?
            .into_iter()
            .map(|(key, value)| ModelVersionTag { key, value })
            .collect(),
    };
    model_version_reply(&service.create_model_version(&pass, version).await?)
}

pub(crate) async fn get_model_version(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::MODEL_VERSION)?;
    model_version_reply(
        &service
            .get_model_version(&pass, &message.str("name")?, version_of(&message)?)
            .await?,
    )
}

pub(crate) async fn update_model_version(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::UPDATE_MODEL_VERSION)?;
    model_version_reply(
        &service
            .update_model_version(
                &pass,
                &message.str("name")?,
                version_of(&message)?,
                message.opt_str("description")?.as_deref(),
            )
            .await?,
    )
}

pub(crate) async fn transition_model_version_stage(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::TRANSITION_STAGE)?;
    model_version_reply(
        &service
            .transition_model_version_stage(
                &pass,
                &message.str("name")?,
                version_of(&message)?,
                stage_of(&message.str("stage")?)?,
                message
                    .opt_bool("archive_existing_versions")?
                    .unwrap_or(false),
            )
            .await?,
    )
}

pub(crate) async fn delete_model_version(Scoped(service, pass): Scoped, message: Message) -> Reply {
    let message = message.checked(&schema::MODEL_VERSION)?;
    service
        .delete_model_version(&pass, &message.str("name")?, version_of(&message)?)
        .await?;
    empty()
}

pub(crate) async fn search_model_versions(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::SEARCH_MODEL_VERSIONS)?;
    let search = search_of(
        &message,
        MAX_MODEL_VERSIONS_PER_PAGE,
        MAX_MODEL_VERSIONS_PER_PAGE,
    )?;
    let page = service.search_model_versions(&pass, &search).await?;
    Ok(Json(entities::page(
        "model_versions",
        page.items.iter().map(entities::model_version).collect(),
        page.next_page_token,
    )))
}

pub(crate) async fn get_model_version_download_uri(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::MODEL_VERSION_DOWNLOAD_URI)?;
    let uri = service
        .get_model_version_download_uri(&pass, &message.str("name")?, version_of(&message)?)
        .await?;
    Ok(Json(json!({ "artifact_uri": uri })))
}

pub(crate) async fn set_model_version_tag(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::SET_MODEL_VERSION_TAG)?;
    let tag = ModelVersionTag {
        key: message.str("key")?,
        value: message.str_or_empty("value")?,
    };
    service
        .set_model_version_tag(&pass, &message.str("name")?, version_of(&message)?, &tag)
        .await?;
    empty()
}

pub(crate) async fn delete_model_version_tag(
    Scoped(service, pass): Scoped,
    message: Message,
) -> Reply {
    let message = message.checked(&schema::DELETE_MODEL_VERSION_TAG)?;
    service
        .delete_model_version_tag(
            &pass,
            &message.str("name")?,
            version_of(&message)?,
            &message.str("key")?,
        )
        .await?;
    empty()
}
