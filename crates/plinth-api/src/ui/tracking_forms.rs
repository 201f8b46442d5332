//! Doing things to experiments and runs from the UI, not only looking: create, rename,
//! delete and restore experiments; rename, delete and restore runs; set and delete a run's
//! tags and its description (MLflow's `mlflow.note.content` tag, what MLflow's UI edits).
//! Every form goes through `TrackingService` (which refuses viewers: contributors and up
//! write) and comes back to its page with a notice.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use plinth_core::tracking::RunUpdate;
use plinth_core::ProjectPass;
use plinth_types::{ExperimentTag, LifecycleStage, Run, RunTag};
use serde::Deserialize;

use super::experiments::{project_base, tracking_pass};
use super::layout::{csrf_field, Viewer};
use super::session::{back, fail, CsrfOnly, PageForm};
use crate::AppState;

/// The tag MLflow keeps a run's (and an experiment's) description in.
pub(crate) const NOTE_TAG: &str = "mlflow.note.content";

#[derive(Debug, Deserialize)]
pub(crate) struct NameForm {
    name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TagForm {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DescriptionForm {
    #[serde(default)]
    description: String,
}

fn experiments_path(base: &str) -> String {
    format!("{base}/experiments")
}

/// `POST …/experiments`: a new experiment, then its page.
pub(crate) async fn create_experiment(
    State(state): State<AppState>,
    Path((organization, project)): Path<(String, String)>,
    PageForm { user, form }: PageForm<NameForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let base = project_base(&pass);
    let name = form.name.trim();
    if name.is_empty() {
        return Ok(back(
            &experiments_path(&base),
            "error",
            "invalid `name`: give the experiment a name",
        ));
    }
    Ok(
        match state
            .tracking()
            .create_experiment(&tracking, name, None, Vec::<ExperimentTag>::new())
            .await
        {
            Ok(experiment) => back(
                &format!("{base}/experiments/{}", experiment.experiment_id),
                "ok",
                &format!("Created experiment `{}`.", experiment.name),
            ),
            Err(error) => fail(&experiments_path(&base), error),
        },
    )
}

/// `POST …/experiments/{experiment_id}/rename`.
pub(crate) async fn rename_experiment(
    State(state): State<AppState>,
    Path((organization, project, experiment_id)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<NameForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = format!("{}/experiments/{experiment_id}", project_base(&pass));
    let name = form.name.trim();
    if name.is_empty() {
        return Ok(back(
            &here,
            "error",
            "invalid `name`: give the experiment a name",
        ));
    }
    Ok(
        match state
            .tracking()
            .rename_experiment(&tracking, &experiment_id, name)
            .await
        {
            Ok(()) => back(&here, "ok", &format!("Renamed to `{name}`.")),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/experiments/{experiment_id}/delete`: deleted experiments stay restorable.
pub(crate) async fn delete_experiment(
    State(state): State<AppState>,
    Path((organization, project, experiment_id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let base = project_base(&pass);
    Ok(
        match state
            .tracking()
            .delete_experiment(&tracking, &experiment_id)
            .await
        {
            Ok(()) => back(
                &format!("{base}/experiments/{experiment_id}?view=all"),
                "ok",
                "Experiment deleted; restore it from this page or the “Deleted” list.",
            ),
            Err(error) => fail(&format!("{base}/experiments/{experiment_id}"), error),
        },
    )
}

/// `POST …/experiments/{experiment_id}/restore`.
pub(crate) async fn restore_experiment(
    State(state): State<AppState>,
    Path((organization, project, experiment_id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = format!("{}/experiments/{experiment_id}", project_base(&pass));
    Ok(
        match state
            .tracking()
            .restore_experiment(&tracking, &experiment_id)
            .await
        {
            Ok(()) => back(&here, "ok", "Experiment restored."),
            Err(error) => fail(&here, error),
        },
    )
}

fn run_here(pass: &ProjectPass, run_id: &str) -> String {
    format!("{}/runs/{run_id}", project_base(pass))
}

/// `POST …/runs/{run_id}/rename`.
pub(crate) async fn rename_run(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<NameForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    let name = form.name.trim();
    if name.is_empty() {
        return Ok(back(&here, "error", "invalid `name`: give the run a name"));
    }
    let update = RunUpdate {
        status: None,
        end_time: None,
        run_name: Some(name.to_string()),
    };
    Ok(
        match state
            .tracking()
            .update_run(&tracking, &run_id, &update)
            .await
        {
            Ok(_) => back(&here, "ok", &format!("Renamed to `{name}`.")),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/runs/{run_id}/delete`: deleted runs stay restorable.
pub(crate) async fn delete_run(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    Ok(
        match state.tracking().delete_run(&tracking, &run_id).await {
            Ok(()) => back(&here, "ok", "Run deleted; restore it from this page."),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/runs/{run_id}/restore`.
pub(crate) async fn restore_run(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    Ok(
        match state.tracking().restore_run(&tracking, &run_id).await {
            Ok(()) => back(&here, "ok", "Run restored."),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/runs/{run_id}/tags`: sets a tag (MLflow's own `mlflow.*` tags are not edited
/// here).
pub(crate) async fn set_run_tag(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<TagForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    let key = form.key.trim();
    if key.is_empty() || key.starts_with("mlflow.") {
        return Ok(back(
            &here,
            "error",
            "invalid `key`: give a tag name that does not start with `mlflow.`",
        ));
    }
    let tag = RunTag {
        key: key.to_string(),
        value: form.value,
    };
    Ok(
        match state.tracking().set_run_tag(&tracking, &run_id, &tag).await {
            Ok(()) => back(&here, "ok", &format!("Tag `{key}` set.")),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/runs/{run_id}/tags/delete`.
pub(crate) async fn delete_run_tag(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<TagForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    Ok(
        match state
            .tracking()
            .delete_run_tag(&tracking, &run_id, form.key.trim())
            .await
        {
            Ok(()) => back(&here, "ok", &format!("Tag `{}` deleted.", form.key.trim())),
            Err(error) => fail(&here, error),
        },
    )
}

/// `POST …/runs/{run_id}/description`: the `mlflow.note.content` tag.
pub(crate) async fn set_run_description(
    State(state): State<AppState>,
    Path((organization, project, run_id)): Path<(String, String, String)>,
    PageForm { user, form }: PageForm<DescriptionForm>,
) -> Result<Response, Response> {
    let (pass, tracking) = tracking_pass(&state, &user, &organization, &project).await?;
    let here = run_here(&pass, &run_id);
    let tag = RunTag {
        key: NOTE_TAG.to_string(),
        value: form.description,
    };
    Ok(
        match state.tracking().set_run_tag(&tracking, &run_id, &tag).await {
            Ok(()) => back(&here, "ok", "Description saved."),
            Err(error) => fail(&here, error),
        },
    )
}

/// The "New experiment" form of a project's experiments page.
pub(crate) fn new_experiment_form(viewer: &Viewer, base: &str) -> Markup {
    html! {
        details.card-section #new-experiment {
            summary { "New experiment" }
            form.grid-form method="post" action=(experiments_path(base)) {
                (csrf_field(viewer))
                label { "Name" input type="text" name="name" required; }
                button.primary type="submit" { "Create" }
            }
        }
    }
}

/// Rename and delete (or restore) on an experiment's page.
pub(crate) fn experiment_actions(
    viewer: &Viewer,
    here: &str,
    name: &str,
    stage: LifecycleStage,
) -> Markup {
    html! {
        details.card-section #manage-experiment {
            summary { "Rename or delete" }
            form.grid-form method="post" action=(format!("{here}/rename")) {
                (csrf_field(viewer))
                label { "New name" input type="text" name="name" value=(name) required; }
                button type="submit" { "Rename" }
            }
            @if stage == LifecycleStage::Deleted {
                form.inline method="post" action=(format!("{here}/restore")) {
                    (csrf_field(viewer))
                    button type="submit" { "Restore experiment" }
                }
            } @else {
                form.inline method="post" action=(format!("{here}/delete")) {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Delete experiment" }
                    span.muted { " Its runs go with it; it can be restored." }
                }
            }
        }
    }
}

/// The run page's editing: description, rename, tags, delete or restore.
pub(crate) fn run_actions(viewer: &Viewer, here: &str, run: &Run) -> Markup {
    let description = run
        .data
        .tags
        .iter()
        .find(|tag| tag.key == NOTE_TAG)
        .map(|tag| tag.value.clone())
        .unwrap_or_default();
    let user_tags: Vec<&RunTag> = run
        .data
        .tags
        .iter()
        .filter(|tag| !tag.key.starts_with("mlflow.") && !tag.key.starts_with("plinth."))
        .collect();
    html! {
        details.card-section #edit-run {
            summary { "Edit: description, name, tags, delete" }
            form.stack method="post" action=(format!("{here}/description")) {
                (csrf_field(viewer))
                label { "Description" textarea name="description" rows="3" { (description) } }
                div { button type="submit" { "Save description" } }
            }
            form.grid-form method="post" action=(format!("{here}/rename")) {
                (csrf_field(viewer))
                label { "Name" input type="text" name="name" value=(run.info.run_name) required; }
                button type="submit" { "Rename" }
            }
            form.grid-form #set-tag method="post" action=(format!("{here}/tags")) {
                (csrf_field(viewer))
                label { "Tag" input type="text" name="key" required; }
                label { "Value" input type="text" name="value"; }
                button type="submit" { "Set tag" }
            }
            @if !user_tags.is_empty() {
                form.grid-form #delete-tag method="post" action=(format!("{here}/tags/delete")) {
                    (csrf_field(viewer))
                    label { "Tag to delete"
                        select name="key" { @for tag in &user_tags { option value=(tag.key) { (tag.key) } } }
                    }
                    button.danger type="submit" { "Delete tag" }
                }
            }
            @if run.info.lifecycle_stage == LifecycleStage::Deleted {
                form.inline method="post" action=(format!("{here}/restore")) {
                    (csrf_field(viewer))
                    button type="submit" { "Restore run" }
                }
            } @else {
                form.inline method="post" action=(format!("{here}/delete")) {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Delete run" }
                    span.muted { " It can be restored." }
                }
            }
        }
    }
}
