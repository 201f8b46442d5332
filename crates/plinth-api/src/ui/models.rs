//! The model registry: the overview of every project's registered models, a project's model
//! list (MLflow's filter grammar, pages, the create form), a model's page (versions, aliases,
//! stages, tags, description) and a version's page with its lineage to the run and the
//! logged model that produced it. Reads need Viewer; the forms need Contributor, which the
//! tracking service checks again.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_core::tracking::TrackingPass;
use plinth_core::tracking::{NewRegisteredModel, RegisteredModelUpdate, RegistrySearch};
use plinth_core::ProjectPass;
use plinth_types::{
    ModelVersion, ModelVersionStage, ModelVersionTag, RegisteredModel, RegisteredModelTag,
};
use serde::Deserialize;

use super::layout::{csrf_field, notice, page};
use super::session::{back, urlencode, CsrfOnly, PageForm, PageUser};
use super::{
    core_error_page, format_ms, may_submit, or_dash, project_crumbs, project_tabs, shown_message,
};
use crate::{ApiError, AppState};

/// Models per page of the list, versions per page of a model.
const PAGE_SIZE: i64 = 50;
/// Projects the overview looks into.
const OVERVIEW_PROJECTS: usize = 200;

/// Both passes a registry page needs: the project's (tabs, roles) and the tracking
/// service's (every registry call).
struct Passes {
    project: ProjectPass,
    tracking: TrackingPass,
}

/// Authorizes `user` as at least a viewer of the project for the registry, or answers the
/// error page (an outsider gets the same 404 as for a project that does not exist).
async fn passes(
    state: &AppState,
    user: &PageUser,
    organization: &str,
    project: &str,
) -> Result<Passes, Response> {
    let (project, tracking) =
        super::experiments::tracking_pass(state, user, organization, project).await?;
    Ok(Passes { project, tracking })
}

fn models_path(pass: &ProjectPass) -> String {
    let project = pass.project();
    format!("/projects/{}/{}/models", project.organization, project.name)
}

fn model_path(pass: &ProjectPass, name: &str) -> String {
    format!("{}/{}", models_path(pass), urlencode(name))
}

fn version_path(pass: &ProjectPass, name: &str, version: i64) -> String {
    format!("{}/versions/{version}", model_path(pass, name))
}

/// The run page of the experiment-tracking UI.
fn run_path(pass: &ProjectPass, run_id: &str) -> String {
    let project = pass.project();
    format!(
        "/projects/{}/{}/runs/{}",
        project.organization,
        project.name,
        urlencode(run_id)
    )
}

/// A version's stage as a colored badge.
fn stage_badge(stage: ModelVersionStage) -> Markup {
    html! {
        span class=(format!("badge stage-{}", stage.as_str().to_ascii_lowercase())) { (stage.as_str()) }
    }
}

/// An alias as a badge: `@champion`.
fn alias_badge(alias: &str) -> Markup {
    html! { span.badge.alias { "@" (alias) } }
}

/// MLflow's version filter for one model: `name = '…'`, or with double quotes when the name
/// holds a single quote. MLflow's grammar has no escape, so a name holding both has none.
fn versions_filter(name: &str) -> Option<String> {
    if !name.contains('\'') {
        Some(format!("name = '{name}'"))
    } else if !name.contains('"') {
        Some(format!("name = \"{name}\""))
    } else {
        None
    }
}

/// The notices every page shows after a form (`?ok=` / `?error=`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Notices {
    ok: Option<String>,
    error: Option<String>,
}

// ---------- the overview ----------

pub(crate) async fn overview(State(state): State<AppState>, user: PageUser) -> Response {
    let projects = state
        .identity()
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (project, _) in projects.iter().take(OVERVIEW_PROJECTS) {
        let Ok(passes) = passes(
            &state,
            &user,
            project.organization.as_str(),
            project.name.as_str(),
        )
        .await
        else {
            continue;
        };
        let search = RegistrySearch {
            order_by: vec!["last_updated_timestamp DESC".to_string()],
            max_results: 6,
            filter: None,
            page_token: None,
        };
        let models = state
            .tracking()
            .search_registered_models(&passes.tracking, &search)
            .await
            .ok();
        rows.push((passes.project, models));
    }
    page(
        &user.viewer,
        "Models",
        "/models",
        html! {
            h1 { "Models" }
            p.lead { "The model registry of each project: register a model from a run with "
                code { "mlflow.register_model" } ", point aliases such as "
                code { "@champion" } " at versions, and load them with "
                code { "mlflow.pyfunc.load_model(\"models:/NAME@ALIAS\")" } "." }
            @if rows.is_empty() {
                div.callout.pending { "You are not a member of any project yet: models belong to projects. " a href="/projects" { "See projects" } "." }
            } @else {
                table #model-projects {
                    thead { tr { th { "Project" } th { "Organization" } th { "Recently changed models" } } }
                    tbody {
                        @for (pass, models) in &rows {
                            tr {
                                td { a href=(models_path(pass)) { (pass.project().display_name) } " " span.muted { code { (pass.project().name) } } }
                                td { (pass.project().organization) }
                                td {
                                    @match models {
                                        None => span.muted { "—" },
                                        Some(models) if models.items.is_empty() => span.muted { "none yet" },
                                        Some(models) => {
                                            @for (index, model) in models.items.iter().take(5).enumerate() {
                                                @if index > 0 { ", " }
                                                a href=(model_path(pass, &model.name)) { (model.name) }
                                            }
                                            @if models.items.len() > 5 { ", " a href=(models_path(pass)) { "more…" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

// ---------- a project's models ----------

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    filter: Option<String>,
    page_token: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let filter = query
        .filter
        .as_deref()
        .map(str::trim)
        .filter(|filter| !filter.is_empty());
    let search = RegistrySearch {
        filter: filter.map(str::to_string),
        order_by: vec!["name ASC".to_string()],
        max_results: PAGE_SIZE,
        page_token: query.page_token.clone().filter(|token| !token.is_empty()),
    };
    let (models, search_error) = match state
        .tracking()
        .search_registered_models(&passes.tracking, &search)
        .await
    {
        Ok(page) => (Some(page), None),
        Err(error) => (None, Some(shown_message(&ApiError::from(error)))),
    };
    let pass = &passes.project;
    let base = models_path(pass);
    let project = pass.project();
    let viewer = &user.viewer;
    Ok(page(
        viewer,
        &format!("Models · {}", project.display_name),
        "/models",
        html! {
            (project_crumbs(pass))
            h1 { (project.display_name) " " span.muted { code { (project.name) } } }
            (project_tabs(pass, "models"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            form.inline #model-filter method="get" action=(base) {
                label { "Filter "
                    input.mono type="search" name="filter" size="48" value=(filter.unwrap_or_default())
                        placeholder="name LIKE '%fraud%' AND tags.team = 'risk'";
                }
                button type="submit" { "Search" }
                @if filter.is_some() { " " a href=(base) { "Clear" } }
            }
            @if let Some(error) = &search_error {
                div.callout.bad role="alert" #filter-error { "The filter was not accepted: " (error) }
            }
            @if let Some(models) = &models {
                @if models.items.is_empty() {
                    p.muted #no-models { @if filter.is_some() { "No model matches the filter." } @else {
                        "No registered models yet. Register one from a run with "
                        code { "mlflow.register_model(\"runs:/RUN_ID/model\", \"NAME\")" }
                        ", or create an empty one with \"New model\" below." } }
                } @else {
                    table #models {
                        thead { tr { th { "Name" } th { "Latest versions" } th { "Aliases" } th { "Description" } th { "Last changed" } } }
                        tbody {
                            @for model in &models.items {
                                (model_row(pass, model))
                            }
                        }
                    }
                }
                @if let Some(token) = &models.next_page_token {
                    p.pager { a href=(format!("{base}?filter={}&page_token={}", urlencode(filter.unwrap_or_default()), urlencode(token))) { "Next page →" } }
                }
            }
            @if may_submit(pass) {
                details.card-section #create-model {
                    summary { "New model" }
                    form.stack method="post" action=(base) {
                        (csrf_field(viewer))
                        label { "Name" input type="text" name="name" required maxlength="256" placeholder="fraud-detector"; }
                        label { "Description" textarea name="description" rows="2" {} }
                        div { button.primary type="submit" { "Create model" } }
                    }
                }
            }
        },
    )
    .into_response())
}

fn model_row(pass: &ProjectPass, model: &RegisteredModel) -> Markup {
    let mut latest = model.latest_versions.clone();
    latest.sort_by_key(|version| std::cmp::Reverse(version.version));
    html! {
        tr {
            td { a href=(model_path(pass, &model.name)) { (model.name) } }
            td {
                @for (index, version) in latest.iter().enumerate() {
                    @if index > 0 { " " }
                    a href=(version_path(pass, &model.name, version.version)) { "v" (version.version) }
                    @if version.current_stage != ModelVersionStage::None { " " (stage_badge(version.current_stage)) }
                }
                @if latest.is_empty() { span.muted { "no versions" } }
            }
            td {
                @for alias in &model.aliases {
                    (alias_badge(&alias.alias)) " → v" (alias.version) " "
                }
            }
            td { (or_dash(model.description.clone().filter(|text| !text.is_empty()).map(|text| shorten(&text, 120)))) }
            td { (format_ms(model.last_updated_timestamp)) }
        }
    }
}

/// At most `limit` characters of `text`, with an ellipsis when cut.
fn shorten(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    name: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Path((organization, project)): Path<(String, String)>,
    PageForm { user, form }: PageForm<CreateForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let here = models_path(&passes.project);
    let name = form.name.trim();
    let model = NewRegisteredModel {
        name: name.to_string(),
        description: non_empty(&form.description),
        ..NewRegisteredModel::default()
    };
    Ok(
        match state
            .tracking()
            .create_registered_model(&passes.tracking, &model)
            .await
        {
            Ok(model) => back(
                &model_path(&passes.project, &model.name),
                "ok",
                &format!("Registered model `{}` created.", model.name),
            ),
            Err(error) => back(&here, "error", &shown_message(&ApiError::from(error))),
        },
    )
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

// ---------- a model ----------

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ModelQuery {
    page_token: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, name)): Path<(String, String, String)>,
    Query(query): Query<ModelQuery>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let tracking = state.tracking();
    let model = match tracking.get_registered_model(&passes.tracking, &name).await {
        Ok(model) => model,
        Err(error) => return Ok(core_error_page(error)),
    };
    let (versions, next_page_token, versions_error) = match versions_filter(&name) {
        Some(filter) => {
            let search = RegistrySearch {
                filter: Some(filter),
                order_by: vec!["version_number DESC".to_string()],
                max_results: PAGE_SIZE,
                page_token: query.page_token.clone().filter(|token| !token.is_empty()),
            };
            match tracking
                .search_model_versions(&passes.tracking, &search)
                .await
            {
                Ok(page) => (page.items, page.next_page_token, None),
                Err(error) => (
                    model.latest_versions.clone(),
                    None,
                    Some(shown_message(&ApiError::from(error))),
                ),
            }
        }
        None => (
            model.latest_versions.clone(),
            None,
            Some(
                "This name holds both kinds of quotes, which MLflow's filter cannot express: \
                 only the latest version of each stage is listed."
                    .to_string(),
            ),
        ),
    };
    let pass = &passes.project;
    let here = model_path(pass, &model.name);
    let viewer = &user.viewer;
    let writable = may_submit(pass);
    Ok(page(
        viewer,
        &format!("{} · Models", model.name),
        "/models",
        html! {
            (super::crumbs(pass, &[(models_path(pass), "Models".to_string()), (String::new(), model.name.clone())]))
            h1 #model-name { (model.name) }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            dl.facts {
                dt { "Created" } dd { (format_ms(model.creation_timestamp)) }
                dt { "Last changed" } dd { (format_ms(model.last_updated_timestamp)) }
                dt { "Load it with" } dd { code { "mlflow.pyfunc.load_model(\"models:/" (model.name)
                    @if let Some(alias) = model.aliases.first() { "@" (alias.alias) } @else { "/latest" } "\")" } }
            }
            section.card-section #description {
                h2 { "Description" }
                @if writable {
                    form.stack method="post" action=(format!("{here}/update")) {
                        (csrf_field(viewer))
                        textarea name="description" rows="3" aria-label="Description" { (model.description.clone().unwrap_or_default()) }
                        div { button type="submit" { "Save description" } }
                    }
                } @else {
                    p { (or_dash(model.description.clone().filter(|text| !text.is_empty()))) }
                }
            }
            section.card-section #versions {
                h2 { "Versions" }
                @if let Some(error) = &versions_error { div.callout.pending { (error) } }
                @if versions.is_empty() {
                    p.muted { "No versions yet. Register one with "
                        code { "mlflow.register_model(\"runs:/RUN_ID/model\", \"" (model.name) "\")" } "." }
                } @else {
                    table #version-list {
                        thead { tr { th.num { "Version" } th { "Stage" } th { "Aliases" } th { "Source run" } th { "Registered by" } th { "Created" } th { "Description" } } }
                        tbody {
                            @for version in &versions {
                                tr {
                                    td.num { a href=(version_path(pass, &model.name, version.version)) { "v" (version.version) } }
                                    td { (stage_badge(version.current_stage)) }
                                    td { @for alias in &version.aliases { (alias_badge(alias)) " " } }
                                    td { @match &version.run_id {
                                        Some(run_id) => a href=(run_path(pass, run_id)) { code.small { (shorten(run_id, 12)) } },
                                        None => span.muted { "—" },
                                    } }
                                    td { (or_dash(version.user_id.clone())) }
                                    td { (format_ms(version.creation_timestamp)) }
                                    td { (or_dash(version.description.clone().filter(|text| !text.is_empty()).map(|text| shorten(&text, 80)))) }
                                }
                            }
                        }
                    }
                    @if let Some(token) = &next_page_token {
                        p.pager { a href=(format!("{here}?page_token={}", urlencode(token))) { "Older versions →" } }
                    }
                }
            }
            section.card-section #aliases {
                h2 { "Aliases" }
                p.hint { "An alias names one version: clients load " code { "models:/" (model.name) "@ALIAS" } ", and moving the alias switches them to another version." }
                @if model.aliases.is_empty() { p.muted { "No aliases." } } @else {
                    table {
                        thead { tr { th { "Alias" } th { "Version" } @if writable { th { "" } } } }
                        tbody {
                            @for alias in &model.aliases {
                                tr {
                                    td { (alias_badge(&alias.alias)) }
                                    td { a href=(version_path(pass, &model.name, alias.version)) { "v" (alias.version) } }
                                    @if writable {
                                        td { form.inline method="post" action=(format!("{here}/aliases/{}/delete", urlencode(&alias.alias))) {
                                            (csrf_field(viewer))
                                            button.link.danger type="submit" { "Remove" }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if writable {
                    form.inline #set-alias method="post" action=(format!("{here}/aliases")) {
                        (csrf_field(viewer))
                        label { "Alias " input type="text" name="alias" required maxlength="255" placeholder="champion"; }
                        label { " → version " input type="number" name="version" required min="1" step="1"
                            value=[versions.first().map(|version| version.version)]; }
                        " " button type="submit" { "Set alias" }
                    }
                }
            }
            (tags_section(viewer, writable, &here, model.tags.iter().map(|tag| (&tag.key, &tag.value))))
            @if writable {
                section.card-section #manage-model {
                    h2 { "Rename or delete" }
                    form.inline #rename-model method="post" action=(format!("{here}/rename")) {
                        (csrf_field(viewer))
                        label { "New name " input type="text" name="new_name" required maxlength="256" value=(model.name); }
                        " " button type="submit" { "Rename" }
                    }
                    p.hint { "Renaming keeps versions and aliases; clients loading " code { "models:/" (model.name) "…" } " must use the new name." }
                    form.inline #delete-model method="post" action=(format!("{here}/delete")) {
                        (csrf_field(viewer))
                        button.danger type="submit" { "Delete " (model.name) " and all its versions" }
                    }
                }
            }
        },
    )
    .into_response())
}

/// The tags of a model or a version, with set and remove forms for writers.
fn tags_section<'a>(
    viewer: &super::layout::Viewer,
    writable: bool,
    here: &str,
    tags: impl Iterator<Item = (&'a String, &'a String)>,
) -> Markup {
    let tags: Vec<_> = tags.collect();
    html! {
        section.card-section #tags {
            h2 { "Tags" }
            @if tags.is_empty() { p.muted { "No tags." } } @else {
                table {
                    thead { tr { th { "Key" } th { "Value" } @if writable { th { "" } } } }
                    tbody {
                        @for (key, value) in &tags {
                            tr {
                                td { code { (key) } }
                                td { (value) }
                                @if writable {
                                    td { form.inline method="post" action=(format!("{here}/tags/delete")) {
                                        (csrf_field(viewer))
                                        input type="hidden" name="key" value=(key);
                                        button.link.danger type="submit" { "Remove" }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
            @if writable {
                form.inline #set-tag method="post" action=(format!("{here}/tags")) {
                    (csrf_field(viewer))
                    label { "Key " input type="text" name="key" required maxlength="250"; }
                    label { " Value " input type="text" name="value" maxlength="5000"; }
                    " " button type="submit" { "Set tag" }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DescriptionForm {
    #[serde(default)]
    description: String,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<DescriptionForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let here = model_path(&passes.project, &name);
    let result = state
        .tracking()
        .update_registered_model(
            &passes.tracking,
            &name,
            &RegisteredModelUpdate {
                description: Some(form.description.trim().to_string()),
                deployment_job_id: None,
            },
        )
        .await
        .map(|_| "Description saved.");
    Ok(answer(&here, result))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RenameForm {
    new_name: String,
}

pub(crate) async fn rename(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<RenameForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    Ok(
        match state
            .tracking()
            .rename_registered_model(&passes.tracking, &name, form.new_name.trim())
            .await
        {
            Ok(model) => back(
                &model_path(&passes.project, &model.name),
                "ok",
                &format!("Renamed to `{}`.", model.name),
            ),
            Err(error) => back(
                &model_path(&passes.project, &name),
                "error",
                &shown_message(&ApiError::from(error)),
            ),
        },
    )
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    Ok(
        match state
            .tracking()
            .delete_registered_model(&passes.tracking, &name)
            .await
        {
            Ok(()) => back(
                &models_path(&passes.project),
                "ok",
                &format!("Registered model `{name}` and its versions deleted."),
            ),
            Err(error) => back(
                &model_path(&passes.project, &name),
                "error",
                &shown_message(&ApiError::from(error)),
            ),
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct TagForm {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TagKeyForm {
    key: String,
}

pub(crate) async fn set_tag(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<TagForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let tag = RegisteredModelTag {
        key: form.key.trim().to_string(),
        value: form.value,
    };
    let result = state
        .tracking()
        .set_registered_model_tag(&passes.tracking, &name, &tag)
        .await
        .map(|()| "Tag set.");
    Ok(answer(&model_path(&passes.project, &name), result))
}

pub(crate) async fn delete_tag(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<TagKeyForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let result = state
        .tracking()
        .delete_registered_model_tag(&passes.tracking, &name, &form.key)
        .await
        .map(|()| "Tag removed.");
    Ok(answer(&model_path(&passes.project, &name), result))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AliasForm {
    alias: String,
    version: String,
}

pub(crate) async fn set_alias(
    State(state): State<AppState>,
    Path((organization, project, name)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<AliasForm>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let here = model_path(&passes.project, &name);
    let Some(version) = parse_version(&form.version) else {
        return Ok(back(
            &here,
            "error",
            &format!(
                "version: `{}` is not a version number (1, 2, 3 …)",
                form.version.trim()
            ),
        ));
    };
    let alias = form.alias.trim();
    let result = state
        .tracking()
        .set_registered_model_alias(&passes.tracking, &name, alias, version)
        .await
        .map(|()| format!("@{alias} now points to version {version}."));
    Ok(answer(&here, result))
}

pub(crate) async fn delete_alias(
    State(state): State<AppState>,
    Path((organization, project, name, alias)): Path<(String, String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let result = state
        .tracking()
        .delete_registered_model_alias(&passes.tracking, &name, &alias)
        .await
        .map(|()| format!("Alias @{alias} removed."));
    Ok(answer(&model_path(&passes.project, &name), result))
}

/// A version number from a form or a path: a positive integer.
fn parse_version(text: &str) -> Option<i64> {
    text.trim().parse().ok().filter(|version| *version > 0)
}

/// Goes back to `here` with the success message, or the error's.
fn answer<T: AsRef<str>>(here: &str, result: plinth_core::CoreResult<T>) -> Response {
    match result {
        Ok(message) => back(here, "ok", message.as_ref()),
        Err(error) => back(here, "error", &shown_message(&ApiError::from(error))),
    }
}

// ---------- a version ----------

pub(crate) async fn version(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    Query(query): Query<Notices>,
) -> Result<Response, Response> {
    let passes = passes(&state, &user, &organization, &project).await?;
    let Some(number) = parse_version(&version) else {
        return Ok(super::error_page(
            axum::http::StatusCode::NOT_FOUND,
            &format!("`{version}` is not a version number (1, 2, 3 …)."),
        ));
    };
    let tracking = state.tracking();
    let model_version = match tracking
        .get_model_version(&passes.tracking, &name, number)
        .await
    {
        Ok(version) => version,
        Err(error) => return Ok(core_error_page(error)),
    };
    // Lineage: the run and the logged model, when they still exist in this project.
    let run = match &model_version.run_id {
        Some(run_id) => tracking.get_run(&passes.tracking, run_id).await.ok(),
        None => None,
    };
    let logged_model = match &model_version.model_id {
        Some(model_id) => tracking
            .get_logged_model(&passes.tracking, model_id)
            .await
            .ok(),
        None => None,
    };
    let download_uri = tracking
        .get_model_version_download_uri(&passes.tracking, &name, number)
        .await
        .ok();
    let pass = &passes.project;
    let here = version_path(pass, &name, number);
    let viewer = &user.viewer;
    let writable = may_submit(pass);
    let ModelVersion {
        current_stage,
        ref aliases,
        ref source,
        ..
    } = model_version;
    Ok(page(
        viewer,
        &format!("{name} v{number} · Models"),
        "/models",
        html! {
            (super::crumbs(pass, &[
                (models_path(pass), "Models".to_string()),
                (model_path(pass, &name), name.to_string()),
                (String::new(), format!("Version {number}")),
            ]))
            h1 #version-title { (name) " " span.muted { "version " (number) } " " (stage_badge(current_stage)) }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            dl.facts #version-facts {
                dt { "Stage" } dd { (stage_badge(current_stage)) }
                dt { "Aliases" } dd { @if aliases.is_empty() { span.muted { "none" } } @for alias in aliases { (alias_badge(alias)) " " } }
                dt { "Status" } dd { (model_version.status.as_str())
                    @if let Some(message) = &model_version.status_message { " — " (message) } }
                dt { "Registered by" } dd { (or_dash(model_version.user_id.clone())) }
                dt { "Created" } dd { (format_ms(model_version.creation_timestamp)) }
                dt { "Last changed" } dd { (format_ms(model_version.last_updated_timestamp)) }
                dt { "Source" } dd { code { (source) } }
                @if let Some(uri) = download_uri.as_ref().filter(|uri| *uri != source) { dt { "Artifacts" } dd { code { (uri) } } }
                dt { "Load it with" } dd { code { "mlflow.pyfunc.load_model(\"models:/" (name) "/" (number) "\")" } }
            }
            @if writable {
                div.actions {
                    a.button #deploy-version href=(format!("/projects/{}/{}/deployments?model={}", pass.project().organization, pass.project().name, super::session::urlencode(&format!("{name}/{number}")))) { "Deploy" }
                }
            }
            section.card-section #lineage {
                h2 { "Lineage" }
                @match (&model_version.run_id, &run) {
                    (Some(_), Some(run)) => {
                        p { "Produced by run "
                            a #lineage-run href=(run_path(pass, &run.info.run_id)) { (run.info.run_name) }
                            " " span.muted { code.small { (run.info.run_id) } }
                            " (" (super::experiments::run_state_word(run.info.status)) ", started " (format_ms(run.info.start_time)) " by " (run.info.user_id) ")." }
                        @if !run.data.params.is_empty() || !run.data.metrics.is_empty() {
                            div.form-row {
                                @if !run.data.params.is_empty() {
                                    table #lineage-params {
                                        thead { tr { th { "Parameter" } th { "Value" } } }
                                        tbody { @for param in run.data.params.iter().take(20) { tr { td { code { (param.key) } } td { (super::long_value(&param.value)) } } } }
                                    }
                                }
                                @if !run.data.metrics.is_empty() {
                                    table #lineage-metrics {
                                        thead { tr { th { "Metric" } th.num { "Latest" } } }
                                        tbody { @for metric in run.data.metrics.iter().take(20) { tr { td { code { (metric.key) } } td.num { (super::number(metric.value)) } } } }
                                    }
                                }
                            }
                        }
                    }
                    (Some(run_id), None) => {
                        p { "Produced by run " code { (run_id) } ", which no longer exists in this project." }
                    }
                    (None, _) => { p.muted { "No run is recorded for this version." } }
                }
                @if let Some(model_id) = &model_version.model_id {
                    @match &logged_model {
                        Some(logged) => p #lineage-logged-model { "Promoted from logged model " strong { (logged.name) } " " span.muted { code.small { (logged.model_id) } }
                            @if let Some(kind) = &logged.model_type { " (" (kind) ")" } ", " (logged.status.as_str()) "." },
                        None => p { "Promoted from logged model " code { (model_id) } ", which no longer exists." },
                    }
                }
            }
            section.card-section #description {
                h2 { "Description" }
                @if writable {
                    form.stack method="post" action=(format!("{here}/update")) {
                        (csrf_field(viewer))
                        textarea name="description" rows="3" aria-label="Description" { (model_version.description.clone().unwrap_or_default()) }
                        div { button type="submit" { "Save description" } }
                    }
                } @else {
                    p { (or_dash(model_version.description.clone().filter(|text| !text.is_empty()))) }
                }
            }
            @if writable {
                section.card-section #stage {
                    h2 { "Stage" }
                    p.hint { "Stages are MLflow's older way to mark versions; aliases are the newer one. Both work." }
                    form.inline method="post" action=(format!("{here}/stage")) {
                        (csrf_field(viewer))
                        label { "Move to "
                            select name="stage" {
                                @for stage in ModelVersionStage::ALL {
                                    option value=(stage.as_str()) selected[*stage == current_stage] { (stage.as_str()) }
                                }
                            }
                        }
                        label.check { input type="checkbox" name="archive_existing_versions" value="true"; " archive the versions now in that stage" }
                        " " button type="submit" { "Move" }
                    }
                }
            }
            (tags_section(viewer, writable, &here, model_version.tags.iter().map(|tag| (&tag.key, &tag.value))))
            @if writable {
                section.card-section #delete-version {
                    h2 { "Delete" }
                    form.inline method="post" action=(format!("{here}/delete")) {
                        (csrf_field(viewer))
                        button.danger type="submit" { "Delete version " (number) }
                    }
                    p.hint { "Its number is never reused; aliases pointing at it are removed." }
                }
            }
        },
    )
    .into_response())
}

/// The passes of a version form, and the version its path names (or the way back to the
/// model with why it is not a version).
async fn version_passes(
    state: &AppState,
    user: &PageUser,
    (organization, project, name, version): (&str, &str, &str, &str),
) -> Result<(Passes, i64), Response> {
    let passes = passes(state, user, organization, project).await?;
    match parse_version(version) {
        Some(number) => Ok((passes, number)),
        None => Err(back(
            &model_path(&passes.project, name),
            "error",
            &format!("`{version}` is not a version number (1, 2, 3 …)"),
        )),
    }
}

pub(crate) async fn update_version(
    State(state): State<AppState>,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    PageForm { user, form }: PageForm<DescriptionForm>,
) -> Result<Response, Response> {
    let (passes, number) =
        version_passes(&state, &user, (&organization, &project, &name, &version)).await?;
    let result = state
        .tracking()
        .update_model_version(
            &passes.tracking,
            &name,
            number,
            Some(form.description.trim()),
        )
        .await
        .map(|_| "Description saved.");
    Ok(answer(
        &version_path(&passes.project, &name, number),
        result,
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct StageForm {
    stage: String,
    #[serde(default)]
    archive_existing_versions: Option<String>,
}

pub(crate) async fn transition(
    State(state): State<AppState>,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    PageForm { user, form }: PageForm<StageForm>,
) -> Result<Response, Response> {
    let (passes, number) =
        version_passes(&state, &user, (&organization, &project, &name, &version)).await?;
    let here = version_path(&passes.project, &name, number);
    let Some(stage) = ModelVersionStage::parse_any_case(form.stage.trim()) else {
        return Ok(back(
            &here,
            "error",
            &format!(
                "stage: `{}` is not one of None, Staging, Production, Archived",
                form.stage.trim()
            ),
        ));
    };
    let archive = form
        .archive_existing_versions
        .as_deref()
        .is_some_and(|value| value == "true" || value == "on");
    let result = state
        .tracking()
        .transition_model_version_stage(&passes.tracking, &name, number, stage, archive)
        .await
        .map(|_| format!("Version {number} is now in {}.", stage.as_str()));
    Ok(answer(&here, result))
}

pub(crate) async fn set_version_tag(
    State(state): State<AppState>,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    PageForm { user, form }: PageForm<TagForm>,
) -> Result<Response, Response> {
    let (passes, number) =
        version_passes(&state, &user, (&organization, &project, &name, &version)).await?;
    let tag = ModelVersionTag {
        key: form.key.trim().to_string(),
        value: form.value,
    };
    let result = state
        .tracking()
        .set_model_version_tag(&passes.tracking, &name, number, &tag)
        .await
        .map(|()| "Tag set.");
    Ok(answer(
        &version_path(&passes.project, &name, number),
        result,
    ))
}

pub(crate) async fn delete_version_tag(
    State(state): State<AppState>,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    PageForm { user, form }: PageForm<TagKeyForm>,
) -> Result<Response, Response> {
    let (passes, number) =
        version_passes(&state, &user, (&organization, &project, &name, &version)).await?;
    let result = state
        .tracking()
        .delete_model_version_tag(&passes.tracking, &name, number, &form.key)
        .await
        .map(|()| "Tag removed.");
    Ok(answer(
        &version_path(&passes.project, &name, number),
        result,
    ))
}

pub(crate) async fn delete_version(
    State(state): State<AppState>,
    Path((organization, project, name, version)): Path<(String, String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let (passes, number) =
        version_passes(&state, &user, (&organization, &project, &name, &version)).await?;
    Ok(
        match state
            .tracking()
            .delete_model_version(&passes.tracking, &name, number)
            .await
        {
            Ok(()) => back(
                &model_path(&passes.project, &name),
                "ok",
                &format!("Version {number} deleted."),
            ),
            Err(error) => back(
                &version_path(&passes.project, &name, number),
                "error",
                &shown_message(&ApiError::from(error)),
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_filters_quote_names_mlflow_can_express() {
        assert_eq!(versions_filter("fraud").as_deref(), Some("name = 'fraud'"));
        assert_eq!(versions_filter("it's").as_deref(), Some("name = \"it's\""));
        assert_eq!(versions_filter("it's \"x\""), None);
    }

    #[test]
    fn versions_are_positive_integers() {
        assert_eq!(parse_version(" 3 "), Some(3));
        assert_eq!(parse_version("0"), None);
        assert_eq!(parse_version("-1"), None);
        assert_eq!(parse_version("v1"), None);
    }

    #[test]
    fn long_text_is_shortened_on_a_character_boundary() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
