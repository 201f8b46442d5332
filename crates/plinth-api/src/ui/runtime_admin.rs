//! Node pools and resource classes (platform admins): lists, create and edit forms, delete.
//! Forms that fail are shown again with what was typed and the service's message.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use plinth_core::runtime::format_cpu;
use plinth_types::{NodePool, PoolTaint, ResourceClass};
use serde::Deserialize;

use super::admin::admin_tabs;
use super::jobs::size_text;
use super::layout::{csrf_field, notice, page, Viewer};
use super::session::{back, CsrfOnly, PageForm, PageUser};
use super::{admin_only, error_page, format_ms, shown_message};
use crate::identity::ClientInfoExtractor;
use crate::{ApiError, AppState};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Checks a pool or class name: it becomes part of page addresses and Kubernetes labels.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().next().is_some_and(|b| b != b'-')
        && name.bytes().last().is_some_and(|b| b != b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid `name`: `{name}` must be 1 to 63 lower-case letters, digits or `-` for a {what}, not starting or ending with `-`"
        ))
    }
}

/// When a pool or class last changed; the ones the installation came with never did.
fn changed(at_ms: i64) -> String {
    if at_ms == 0 {
        "—".to_string()
    } else {
        format_ms(at_ms)
    }
}

// ---------- node pools ----------

/// Reads `key=value` lines into node-selector labels.
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "invalid `node_selector`: line {}: `{line}` is not `key=value`",
                index + 1
            ));
        };
        if labels
            .insert(key.trim().to_string(), value.trim().to_string())
            .is_some()
        {
            return Err(format!(
                "invalid `node_selector`: `{}` is given twice",
                key.trim()
            ));
        }
    }
    Ok(labels)
}

/// Reads `key=value:Effect` lines (or `key:Effect`) into taints.
pub(crate) fn parse_taints(text: &str) -> Result<Vec<PoolTaint>, String> {
    let mut taints = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((pair, effect)) = line.rsplit_once(':') else {
            return Err(format!(
                "invalid `taints`: line {}: `{line}` is not `key=value:Effect`",
                index + 1
            ));
        };
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        taints.push(PoolTaint {
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            effect: effect.trim().to_string(),
        });
    }
    Ok(taints)
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}\n"))
        .collect()
}

fn taint_text(taint: &PoolTaint) -> String {
    if taint.value.is_empty() {
        format!("{}:{}", taint.key, taint.effect)
    } else {
        format!("{}={}:{}", taint.key, taint.value, taint.effect)
    }
}

fn taints_text(taints: &[PoolTaint]) -> String {
    taints
        .iter()
        .map(|taint| format!("{}\n", taint_text(taint)))
        .collect()
}

/// The pool form's fields.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct PoolForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: String,
    #[serde(default)]
    taints: String,
}

impl PoolForm {
    fn of(pool: &NodePool) -> PoolForm {
        PoolForm {
            name: pool.name.clone(),
            description: pool.description.clone(),
            labels: labels_text(&pool.node_selector),
            taints: taints_text(&pool.taints),
        }
    }

    fn pool(&self, name: &str) -> Result<NodePool, String> {
        check_name("node pool", name)?;
        Ok(NodePool {
            name: name.to_string(),
            description: self.description.trim().to_string(),
            node_selector: parse_labels(&self.labels)?,
            taints: parse_taints(&self.taints)?,
            updated_at_ms: 0,
        })
    }
}

fn pool_fields(viewer: &Viewer, form: &PoolForm, new: bool) -> Markup {
    html! {
        (csrf_field(viewer))
        @if new {
            label { "Name" input type="text" name="name" value=(form.name) required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" maxlength="63" placeholder="fpga"; }
        }
        label { "Description" input type="text" name="description" value=(form.description); }
        div.form-row {
            label { "Node selector labels (one " code { "key=value" } " per line)"
                textarea.mono name="labels" rows="3" spellcheck="false" placeholder="plinth.dev/pool=fpga" { (form.labels) }
            }
            label { "Taints (one " code { "key=value:Effect" } " per line; NoSchedule, PreferNoSchedule or NoExecute)"
                textarea.mono name="taints" rows="3" spellcheck="false" placeholder="plinth.dev/pool=fpga:NoSchedule" { (form.taints) }
            }
        }
    }
}

pub(crate) async fn pools(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<NoticeQuery>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    pools_page(&state, &user, &query, &PoolForm::default(), None)
        .await
        .into_response()
}

async fn pools_page(
    state: &AppState,
    user: &PageUser,
    query: &NoticeQuery,
    draft: &PoolForm,
    form_error: Option<&str>,
) -> Markup {
    let runtime = state.runtime();
    let pools = runtime.list_node_pools().await.unwrap_or_default();
    let classes = runtime.list_resource_classes().await.unwrap_or_default();
    let viewer = &user.viewer;
    page(
        viewer,
        "Node pools",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs("/admin/pools"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            p.lead { "Node pools are groups of machines. On Kubernetes a workload's pool becomes its node selector and tolerations; the local backend runs everything on this machine (see the " a href="/status" { "status page" } ")." }
            table #pools {
                thead { tr { th { "Pool" } th { "Description" } th { "Node selector" } th { "Taints" } th { "Classes" } th { "Changed" } } }
                tbody {
                    @for pool in &pools {
                        tr {
                            td { a href=(format!("/admin/pools/{}", pool.name)) { (pool.name) } }
                            td { (pool.description) }
                            td { @for (key, value) in &pool.node_selector { code.kv { (key) "=" (value) } br; } }
                            td { @for taint in &pool.taints { code.kv { (taint_text(taint)) } br; } }
                            td { @for class in classes.iter().filter(|class| class.pool == pool.name) {
                                a href=(format!("/admin/classes/{}", class.name)) { (class.name) } " "
                            } }
                            td { (changed(pool.updated_at_ms)) }
                        }
                    }
                }
            }
            section.card-section {
                h2 { "New node pool" }
                @if let Some(error) = form_error { div.callout.bad role="alert" #pool-error { (error) } }
                form.stack #new-pool method="post" action="/admin/pools" {
                    (pool_fields(viewer, draft, true))
                    div { button.primary type="submit" { "Create pool" } }
                }
            }
        },
    )
}

pub(crate) async fn create_pool(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<PoolForm>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let name = form.name.trim().to_string();
    let existing = state.runtime().list_node_pools().await.unwrap_or_default();
    let saved = if existing.iter().any(|pool| pool.name == name) {
        Err(ApiError::new(
            plinth_types::ErrorKind::AlreadyExists,
            format!("node pool `{name}` already exists; edit it instead"),
        ))
    } else {
        match form.pool(&name) {
            Ok(pool) => state
                .runtime()
                .put_node_pool(&user.principal, pool, &client)
                .await
                .map_err(ApiError::from),
            Err(message) => Err(ApiError::invalid(message)),
        }
    };
    match saved {
        Ok(pool) => back(
            "/admin/pools",
            "ok",
            &format!("Node pool {} created.", pool.name),
        ),
        Err(error) => {
            let message = shown_message(&error);
            let markup = pools_page(
                &state,
                &user,
                &NoticeQuery::default(),
                &form,
                Some(&message),
            )
            .await;
            (error.status(), markup).into_response()
        }
    }
}

pub(crate) async fn pool(
    State(state): State<AppState>,
    user: PageUser,
    Path(name): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    pool_page(&state, &user, &name, &query, None, None).await
}

async fn pool_page(
    state: &AppState,
    user: &PageUser,
    name: &str,
    query: &NoticeQuery,
    draft: Option<&PoolForm>,
    form_error: Option<&str>,
) -> Response {
    let runtime = state.runtime();
    let pools = runtime.list_node_pools().await.unwrap_or_default();
    let Some(pool) = pools.into_iter().find(|pool| pool.name == name) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("node pool `{name}` not found"),
        );
    };
    let classes: Vec<ResourceClass> = runtime
        .list_resource_classes()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|class| class.pool == pool.name)
        .collect();
    let viewer = &user.viewer;
    let here = format!("/admin/pools/{}", pool.name);
    let current = PoolForm::of(&pool);
    page(
        viewer,
        &format!("Node pool {}", pool.name),
        "/admin",
        html! {
            p.muted { a href="/admin/pools" { "Node pools" } " /" }
            h1 { "Node pool " code { (pool.name) } }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            p { "Classes on this pool: "
                @if classes.is_empty() { span.muted { "none" } }
                @for class in &classes { a href=(format!("/admin/classes/{}", class.name)) { (class.name) } " " }
            }
            section.card-section {
                h2 { "Edit" }
                @if let Some(error) = form_error { div.callout.bad role="alert" #pool-error { (error) } }
                form.stack #edit-pool method="post" action=(here) {
                    (pool_fields(viewer, draft.unwrap_or(&current), false))
                    div { button.primary type="submit" { "Save pool" } }
                }
            }
            section.card-section {
                h2 { "Delete" }
                p.muted { "A pool that classes use cannot be deleted: move or delete the classes first." }
                form.inline #delete-pool method="post" action=(format!("{here}/delete")) {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Delete pool " (pool.name) }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn save_pool(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, form }: PageForm<PoolForm>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let saved = match form.pool(&name) {
        Ok(pool) => state
            .runtime()
            .put_node_pool(&user.principal, pool, &client)
            .await
            .map_err(ApiError::from),
        Err(message) => Err(ApiError::invalid(message)),
    };
    match saved {
        Ok(pool) => back(
            &format!("/admin/pools/{}", pool.name),
            "ok",
            "Node pool saved.",
        ),
        Err(error) => {
            let message = shown_message(&error);
            let response = pool_page(
                &state,
                &user,
                &name,
                &NoticeQuery::default(),
                Some(&form),
                Some(&message),
            )
            .await;
            if response.status() == StatusCode::OK {
                (error.status(), response).into_response()
            } else {
                response
            }
        }
    }
}

pub(crate) async fn delete_pool(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    match state
        .runtime()
        .delete_node_pool(&user.principal, &name, &client)
        .await
    {
        Ok(()) => back("/admin/pools", "ok", &format!("Node pool {name} deleted.")),
        Err(error) => back(
            &format!("/admin/pools/{name}"),
            "error",
            &shown_message(&ApiError::from(error)),
        ),
    }
}

// ---------- resource classes ----------

/// The class form's fields.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ClassForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    pool: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    cpu: String,
    #[serde(default)]
    memory_gib: String,
    #[serde(default)]
    gpus: String,
}

fn gib_text(bytes: u64) -> String {
    let text = format!("{:.3}", bytes as f64 / GIB);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl ClassForm {
    fn of(class: &ResourceClass) -> ClassForm {
        ClassForm {
            name: class.name.clone(),
            pool: class.pool.clone(),
            description: class.description.clone(),
            cpu: format_cpu(class.cpu_millis.into()),
            memory_gib: gib_text(class.memory_bytes),
            gpus: class.gpus.to_string(),
        }
    }

    fn class(&self, name: &str) -> Result<ResourceClass, String> {
        check_name("resource class", name)?;
        let cpu = self.cpu.trim();
        let cpu_millis = match cpu.parse::<f64>() {
            Ok(cores)
                if cores.is_finite() && cores > 0.0 && cores * 1000.0 <= f64::from(u32::MAX) =>
            {
                (cores * 1000.0).round() as u32
            }
            _ => {
                return Err(format!(
                    "invalid `cpu`: `{cpu}` is not a number of cores like 2 or 0.5"
                ))
            }
        };
        let memory = self.memory_gib.trim();
        let memory_bytes = match memory.parse::<f64>() {
            Ok(gib) if gib.is_finite() && gib > 0.0 && gib < 1e9 => (gib * GIB).round() as u64,
            _ => {
                return Err(format!(
                    "invalid `memory`: `{memory}` is not a number of GiB like 8 or 0.5"
                ))
            }
        };
        let gpus_text = self.gpus.trim();
        let gpus = if gpus_text.is_empty() {
            0
        } else {
            gpus_text
                .parse::<u32>()
                .map_err(|_| format!("invalid `gpus`: `{gpus_text}` is not a whole number"))?
        };
        Ok(ResourceClass {
            name: name.to_string(),
            pool: self.pool.trim().to_string(),
            description: self.description.trim().to_string(),
            cpu_millis,
            memory_bytes,
            gpus,
            updated_at_ms: 0,
        })
    }
}

fn class_fields(viewer: &Viewer, form: &ClassForm, pools: &[NodePool], new: bool) -> Markup {
    html! {
        (csrf_field(viewer))
        @if new {
            label { "Name" input type="text" name="name" value=(form.name) required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" maxlength="63" placeholder="xlarge"; }
        }
        label { "Node pool"
            select name="pool" required {
                @for pool in pools {
                    option value=(pool.name) selected[pool.name == form.pool] { (pool.name) }
                }
            }
        }
        label { "CPU (cores)" input type="text" inputmode="decimal" name="cpu" value=(form.cpu) required placeholder="2"; }
        label { "Memory (GiB)" input type="text" inputmode="decimal" name="memory_gib" value=(form.memory_gib) required placeholder="8"; }
        label { "GPUs" input type="text" inputmode="numeric" name="gpus" value=(form.gpus) placeholder="0"; }
        label { "Description" input type="text" name="description" value=(form.description); }
    }
}

pub(crate) async fn classes(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<NoticeQuery>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    classes_page(&state, &user, &query, &ClassForm::default(), None)
        .await
        .into_response()
}

async fn classes_page(
    state: &AppState,
    user: &PageUser,
    query: &NoticeQuery,
    draft: &ClassForm,
    form_error: Option<&str>,
) -> Markup {
    let runtime = state.runtime();
    let pools = runtime.list_node_pools().await.unwrap_or_default();
    let classes = runtime.list_resource_classes().await.unwrap_or_default();
    let viewer = &user.viewer;
    page(
        viewer,
        "Resource classes",
        "/admin",
        html! {
            h1 { "Administration" }
            (admin_tabs("/admin/classes"))
            (notice(query.ok.as_deref(), query.error.as_deref()))
            p.lead { "Resource classes are the sizes users pick for jobs, workspaces and deployments; each runs on one node pool. Changing a class does not resize work that runs." }
            table #classes {
                thead { tr { th { "Class" } th { "Pool" } th.num { "CPU" } th.num { "Memory (GiB)" } th.num { "GPUs" } th { "Description" } th { "Changed" } } }
                tbody {
                    @for class in &classes {
                        tr {
                            td { a href=(format!("/admin/classes/{}", class.name)) { (class.name) } }
                            td { a href=(format!("/admin/pools/{}", class.pool)) { (class.pool) } }
                            td.num { (format_cpu(class.cpu_millis.into())) }
                            td.num { (gib_text(class.memory_bytes)) }
                            td.num { (class.gpus) }
                            td { (class.description) }
                            td { (changed(class.updated_at_ms)) }
                        }
                    }
                }
            }
            section.card-section {
                h2 { "New resource class" }
                @if let Some(error) = form_error { div.callout.bad role="alert" #class-error { (error) } }
                form.grid-form #new-class method="post" action="/admin/classes" {
                    (class_fields(viewer, draft, &pools, true))
                    button.primary type="submit" { "Create class" }
                }
            }
        },
    )
}

pub(crate) async fn create_class(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<ClassForm>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let name = form.name.trim().to_string();
    let existing = state
        .runtime()
        .list_resource_classes()
        .await
        .unwrap_or_default();
    let saved = if existing.iter().any(|class| class.name == name) {
        Err(ApiError::new(
            plinth_types::ErrorKind::AlreadyExists,
            format!("resource class `{name}` already exists; edit it instead"),
        ))
    } else {
        match form.class(&name) {
            Ok(class) => state
                .runtime()
                .put_resource_class(&user.principal, class, &client)
                .await
                .map_err(ApiError::from),
            Err(message) => Err(ApiError::invalid(message)),
        }
    };
    match saved {
        Ok(class) => back(
            "/admin/classes",
            "ok",
            &format!(
                "Resource class {} created: {}.",
                class.name,
                size_text(class.cpu_millis, class.memory_bytes, class.gpus)
            ),
        ),
        Err(error) => {
            let message = shown_message(&error);
            let markup = classes_page(
                &state,
                &user,
                &NoticeQuery::default(),
                &form,
                Some(&message),
            )
            .await;
            (error.status(), markup).into_response()
        }
    }
}

pub(crate) async fn class(
    State(state): State<AppState>,
    user: PageUser,
    Path(name): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    class_page(&state, &user, &name, &query, None, None).await
}

async fn class_page(
    state: &AppState,
    user: &PageUser,
    name: &str,
    query: &NoticeQuery,
    draft: Option<&ClassForm>,
    form_error: Option<&str>,
) -> Response {
    let runtime = state.runtime();
    let classes = runtime.list_resource_classes().await.unwrap_or_default();
    let Some(class) = classes.into_iter().find(|class| class.name == name) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("resource class `{name}` not found"),
        );
    };
    let pools = runtime.list_node_pools().await.unwrap_or_default();
    let viewer = &user.viewer;
    let here = format!("/admin/classes/{}", class.name);
    let current = ClassForm::of(&class);
    page(
        viewer,
        &format!("Resource class {}", class.name),
        "/admin",
        html! {
            p.muted { a href="/admin/classes" { "Resource classes" } " /" }
            h1 { "Resource class " code { (class.name) } }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            p.lead { (size_text(class.cpu_millis, class.memory_bytes, class.gpus)) " on pool " a href=(format!("/admin/pools/{}", class.pool)) { (class.pool) } "." }
            section.card-section {
                h2 { "Edit" }
                @if let Some(error) = form_error { div.callout.bad role="alert" #class-error { (error) } }
                form.grid-form #edit-class method="post" action=(here) {
                    (class_fields(viewer, draft.unwrap_or(&current), &pools, false))
                    button.primary type="submit" { "Save class" }
                }
            }
            section.card-section {
                h2 { "Delete" }
                p.muted { "Work that runs in this class keeps its size; new work can no longer choose it." }
                form.inline #delete-class method="post" action=(format!("{here}/delete")) {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Delete class " (class.name) }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn save_class(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, form }: PageForm<ClassForm>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    let saved = match form.class(&name) {
        Ok(class) => state
            .runtime()
            .put_resource_class(&user.principal, class, &client)
            .await
            .map_err(ApiError::from),
        Err(message) => Err(ApiError::invalid(message)),
    };
    match saved {
        Ok(class) => back(
            &format!("/admin/classes/{}", class.name),
            "ok",
            "Resource class saved.",
        ),
        Err(error) => {
            let message = shown_message(&error);
            let response = class_page(
                &state,
                &user,
                &name,
                &NoticeQuery::default(),
                Some(&form),
                Some(&message),
            )
            .await;
            if response.status() == StatusCode::OK {
                (error.status(), response).into_response()
            } else {
                response
            }
        }
    }
}

pub(crate) async fn delete_class(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    if let Some(response) = admin_only(&user) {
        return response;
    }
    match state
        .runtime()
        .delete_resource_class(&user.principal, &name, &client)
        .await
    {
        Ok(()) => back(
            "/admin/classes",
            "ok",
            &format!("Resource class {name} deleted."),
        ),
        Err(error) => back(
            &format!("/admin/classes/{name}"),
            "error",
            &shown_message(&ApiError::from(error)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_taints_round_trip_through_their_lines() {
        let labels = parse_labels("plinth.dev/pool=fpga\n\n zone = a \n").unwrap();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels["zone"], "a");
        assert_eq!(parse_labels(&labels_text(&labels)).unwrap(), labels);
        assert_eq!(
            parse_labels("fpga").unwrap_err(),
            "invalid `node_selector`: line 1: `fpga` is not `key=value`"
        );
        let taints =
            parse_taints("plinth.dev/pool=fpga:NoSchedule\nnvidia.com/gpu:NoExecute\n").unwrap();
        assert_eq!(
            taints[0],
            PoolTaint {
                key: "plinth.dev/pool".to_string(),
                value: "fpga".to_string(),
                effect: "NoSchedule".to_string()
            }
        );
        assert_eq!(taints[1].value, "");
        assert_eq!(parse_taints(&taints_text(&taints)).unwrap(), taints);
        assert_eq!(
            parse_taints("no-effect").unwrap_err(),
            "invalid `taints`: line 1: `no-effect` is not `key=value:Effect`"
        );
    }

    #[test]
    fn class_forms_read_cores_and_gib() {
        let form = ClassForm {
            pool: "compute".to_string(),
            cpu: "1.5".to_string(),
            memory_gib: "0.5".to_string(),
            ..ClassForm::default()
        };
        let class = form.class("half").unwrap();
        assert_eq!(
            (class.cpu_millis, class.memory_bytes, class.gpus),
            (1500, 512 << 20, 0)
        );
        let again = ClassForm::of(&class);
        assert_eq!(
            (again.cpu.as_str(), again.memory_gib.as_str()),
            ("1.5", "0.5")
        );
        assert!(form
            .class("Bad_Name")
            .unwrap_err()
            .starts_with("invalid `name`"));
        let no_cpu = ClassForm {
            cpu: "lots".to_string(),
            ..form
        };
        assert_eq!(
            no_cpu.class("x").unwrap_err(),
            "invalid `cpu`: `lots` is not a number of cores like 2 or 0.5"
        );
    }
}
