//! Organizations and projects: lists, creation, member management.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use plinth_types::{OrgRole, Role};
use serde::Deserialize;

use super::auth_pages::NextQuery;
use super::format_ms;
use super::layout::{csrf_field, notice, page};
use super::session::{back, fail, CsrfOnly, PageForm, PageUser};
use crate::identity::ClientInfoExtractor;
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    user: PageUser,
    Query(query): Query<NextQuery>,
) -> Response {
    let identity = state.identity();
    let projects = identity
        .list_projects(&user.principal, true, None)
        .await
        .unwrap_or_default();
    let organizations = identity
        .list_organizations(&user.principal)
        .await
        .unwrap_or_default();
    let viewer = &user.viewer;
    page(
        viewer,
        "Projects",
        "/projects",
        html! {
            h1 { "Projects" }
            p.lead { "Every experiment, model, pipeline and deployment belongs to one project; its members have a role: owner, contributor or viewer." }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            @if projects.is_empty() {
                div.callout.pending { "You are not a member of any project yet. Create one below, or ask a project owner to add you." }
            } @else {
                table #projects {
                    thead { tr { th { "Project" } th { "Organization" } th { "Your role" } th { "Created" } } }
                    tbody {
                        @for (project, role) in &projects {
                            tr {
                                td { a href=(format!("/projects/{}/{}", project.organization, project.name)) { (project.display_name) } " " span.muted { code { (project.name) } } }
                                td { a href=(format!("/orgs/{}", project.organization)) { (project.organization) } }
                                td { @match role { Some(role) => span.badge.role { (role) }, None => span.muted { "admin" } } }
                                td { (format_ms(project.created_at_ms)) }
                            }
                        }
                    }
                }
            }
            section.card-section {
                h2 { "New project" }
                @if organizations.is_empty() {
                    p.muted { "You belong to no organization yet; an administrator creates organizations and adds their members." }
                } @else {
                    form.grid-form #new-project method="post" action="/projects" {
                        (csrf_field(viewer))
                        label { "Organization" select name="organization" { @for org in &organizations { option value=(org.name) { (org.display_name) } } } }
                        label { "Name" input type="text" name="name" required pattern="[a-z][a-z0-9-]{1,62}" placeholder="churn-model"; }
                        label { "Display name" input type="text" name="display_name"; }
                        label { "Description" input type="text" name="description"; }
                        button.primary type="submit" { "Create project" }
                    }
                }
            }
            section.card-section {
                h2 { "Organizations" }
                ul { @for org in &organizations { li { a href=(format!("/orgs/{}", org.name)) { (org.display_name) } " " span.muted { code { (org.name) } } } } }
                @if viewer.is_admin() {
                    form.grid-form #new-organization method="post" action="/orgs" {
                        (csrf_field(viewer))
                        label { "Name" input type="text" name="name" required pattern="[a-z][a-z0-9-]{1,62}" placeholder="acme"; }
                        label { "Display name" input type="text" name="display_name"; }
                        label { "First owner (username)" input type="text" name="owner"; }
                        button type="submit" { "Create organization" }
                    }
                }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewProjectForm {
    organization: String,
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<NewProjectForm>,
) -> Response {
    match state
        .identity()
        .create_project(
            &user.principal,
            &form.organization,
            &form.name,
            &form.display_name,
            &form.description,
            &client,
        )
        .await
    {
        Ok(project) => Redirect::to(&format!(
            "/projects/{}/{}",
            project.organization, project.name
        ))
        .into_response(),
        Err(error) => fail("/projects", error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewOrganizationForm {
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    owner: String,
}

pub(crate) async fn create_organization(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    PageForm { user, form }: PageForm<NewOrganizationForm>,
) -> Response {
    let owner = Some(form.owner.trim()).filter(|owner| !owner.is_empty());
    match state
        .identity()
        .create_organization(
            &user.principal,
            &form.name,
            &form.display_name,
            owner,
            &client,
        )
        .await
    {
        Ok(org) => Redirect::to(&format!("/orgs/{}", org.name)).into_response(),
        Err(error) => fail("/projects", error),
    }
}

pub(crate) async fn organization(
    State(state): State<AppState>,
    user: PageUser,
    Path(name): Path<String>,
    Query(query): Query<NextQuery>,
) -> Response {
    let identity = state.identity();
    let pass = match identity
        .authorize_organization(&user.principal, &name, false)
        .await
    {
        Ok(pass) => pass,
        Err(error) => {
            let error = crate::ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let members = identity
        .list_organization_members(&pass)
        .await
        .unwrap_or_default();
    let projects = identity
        .list_projects(&user.principal, true, Some(&name))
        .await
        .unwrap_or_default();
    let manage = user.viewer.is_admin() || pass.role() == Some(OrgRole::Owner);
    let viewer = &user.viewer;
    let org = pass.organization();
    let here = format!("/orgs/{}", org.name);
    page(
        viewer,
        &org.display_name,
        "/projects",
        html! {
            h1 { (org.display_name) " " span.muted { code { (org.name) } } }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            h2 { "Projects" }
            ul { @for (project, _) in &projects { li { a href=(format!("/projects/{}/{}", project.organization, project.name)) { (project.display_name) } } } }
            h2 { "Members" }
            table #org-members {
                thead { tr { th { "User" } th { "Role" } @if manage { th { "" } } } }
                tbody {
                    @for member in &members {
                        tr {
                            td { (member.username) }
                            td { span.badge.role { (member.role.as_str()) } }
                            @if manage {
                                td {
                                    form.inline method="post" action=(format!("{here}/members/{}/remove", member.username)) {
                                        (csrf_field(viewer))
                                        button.link.danger type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if manage {
                form.grid-form method="post" action=(format!("{here}/members")) {
                    (csrf_field(viewer))
                    label { "Username" input type="text" name="username" required; }
                    label { "Role" select name="role" { option value="member" { "member" } option value="owner" { "owner" } } }
                    button type="submit" { "Add or change member" }
                }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct MemberForm {
    username: String,
    role: String,
}

pub(crate) async fn set_organization_member(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path(name): Path<String>,
    PageForm { user, form }: PageForm<MemberForm>,
) -> Response {
    let here = format!("/orgs/{name}");
    let role = match OrgRole::parse(&form.role) {
        Ok(role) => role,
        Err(error) => return back(&here, "error", &error.to_string()),
    };
    match state
        .identity()
        .set_organization_member(&user.principal, &name, form.username.trim(), role, &client)
        .await
    {
        Ok(()) => back(&here, "ok", "Member saved."),
        Err(error) => fail(&here, error),
    }
}

pub(crate) async fn remove_organization_member(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((name, username)): Path<(String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let here = format!("/orgs/{name}");
    match state
        .identity()
        .remove_organization_member(&user.principal, &name, &username, &client)
        .await
    {
        Ok(()) => back(&here, "ok", "Member removed."),
        Err(error) => fail(&here, error),
    }
}

pub(crate) async fn project(
    State(state): State<AppState>,
    user: PageUser,
    Path((organization, name)): Path<(String, String)>,
    Query(query): Query<NextQuery>,
) -> Response {
    let identity = state.identity();
    let pass = match identity
        .authorize_project(&user.principal, &organization, &name, Role::Viewer)
        .await
    {
        Ok(pass) => pass,
        Err(error) => {
            let error = crate::ApiError::from(error);
            return super::error_page(error.status(), error.message());
        }
    };
    let members = identity
        .list_project_members(&pass)
        .await
        .unwrap_or_default();
    let manage = user.viewer.is_admin() || pass.role() == Some(Role::Owner);
    let viewer = &user.viewer;
    let project = pass.project();
    let here = format!("/projects/{organization}/{name}");
    page(
        viewer,
        &project.display_name,
        "/projects",
        html! {
            p.muted { a href="/projects" { "Projects" } " / " a href=(format!("/orgs/{organization}")) { (organization) } " /" }
            h1 { (project.display_name) " " span.muted { code { (project.name) } } }
            (super::project_tabs(&pass, "overview"))
            @if !project.description.is_empty() { p.lead { (project.description) } }
            p { "Your role: " @match pass.role() { Some(role) => span.badge.role { (role) }, None => span.muted { "platform admin" } } }
            (notice(query.ok.as_deref(), query.error.as_deref()))
            h2 { "Members" }
            table #members {
                thead { tr { th { "User" } th { "Name" } th { "Role" } th { "Added" } @if manage { th { "" } } } }
                tbody {
                    @for member in &members {
                        tr {
                            td { (member.username) }
                            td { (member.display_name) }
                            td { span.badge.role { (member.role) } }
                            td { (format_ms(member.added_at_ms)) }
                            @if manage {
                                td {
                                    form.inline method="post" action=(format!("{here}/members/{}/remove", member.username)) {
                                        (csrf_field(viewer))
                                        button.link.danger type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if manage {
                section.card-section {
                    h2 { "Add a member or change a role" }
                    form.grid-form #add-member method="post" action=(format!("{here}/members")) {
                        (csrf_field(viewer))
                        label { "Username" input type="text" name="username" required; }
                        label { "Role" select name="role" {
                            option value="viewer" { "viewer — reads everything" }
                            option value="contributor" { "contributor — creates and changes content" }
                            option value="owner" { "owner — manages members and settings" }
                        } }
                        button.primary type="submit" { "Save member" }
                    }
                }
                section.card-section {
                    h2 { "Settings" }
                    form.grid-form method="post" action=(format!("{here}/settings")) {
                        (csrf_field(viewer))
                        label { "Display name" input type="text" name="display_name" value=(project.display_name); }
                        label { "Description" input type="text" name="description" value=(project.description); }
                        button type="submit" { "Save" }
                    }
                    form.grid-form method="post" action=(format!("{here}/delete")) {
                        (csrf_field(viewer))
                        label { "Type the project name to delete it and everything in it" input type="text" name="confirm" required; }
                        button.danger type="submit" { "Delete project" }
                    }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn set_project_member(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, name)): Path<(String, String)>,
    PageForm { user, form }: PageForm<MemberForm>,
) -> Response {
    let here = format!("/projects/{organization}/{name}");
    let role = match Role::parse(&form.role) {
        Ok(role) => role,
        Err(error) => return back(&here, "error", &error.to_string()),
    };
    match state
        .identity()
        .set_project_member(
            &user.principal,
            &organization,
            &name,
            form.username.trim(),
            role,
            &client,
        )
        .await
    {
        Ok(()) => back(
            &here,
            "ok",
            &format!("{} is now {role}.", form.username.trim()),
        ),
        Err(error) => fail(&here, error),
    }
}

pub(crate) async fn remove_project_member(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, name, username)): Path<(String, String, String)>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Response {
    let here = format!("/projects/{organization}/{name}");
    match state
        .identity()
        .remove_project_member(&user.principal, &organization, &name, &username, &client)
        .await
    {
        Ok(()) => back(&here, "ok", "Member removed."),
        Err(error) => fail(&here, error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    display_name: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn update_project(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, name)): Path<(String, String)>,
    PageForm { user, form }: PageForm<SettingsForm>,
) -> Response {
    let here = format!("/projects/{organization}/{name}");
    match state
        .identity()
        .update_project(
            &user.principal,
            &organization,
            &name,
            &form.display_name,
            &form.description,
            &client,
        )
        .await
    {
        Ok(_) => back(&here, "ok", "Project saved."),
        Err(error) => fail(&here, error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    confirm: String,
}

pub(crate) async fn delete_project(
    State(state): State<AppState>,
    ClientInfoExtractor(client): ClientInfoExtractor,
    Path((organization, name)): Path<(String, String)>,
    PageForm { user, form }: PageForm<DeleteForm>,
) -> Response {
    let here = format!("/projects/{organization}/{name}");
    if form.confirm.trim() != name {
        return back(
            &here,
            "error",
            "type the project's name to confirm the deletion",
        );
    }
    match state
        .identity()
        .delete_project(&user.principal, &organization, &name, &client)
        .await
    {
        Ok(()) => back(
            "/projects",
            "ok",
            &format!("Project {organization}/{name} deleted."),
        ),
        Err(error) => fail(&here, error),
    }
}
