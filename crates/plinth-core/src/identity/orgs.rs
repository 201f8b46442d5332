//! Organizations, projects and their members.

use plinth_metastore::{OrgMember, OrgRole, StoreError};
use plinth_types::{Member, Organization, Project, ResourceName, Role};
use serde_json::json;

use super::{Actor, ClientInfo, IdentityService, OrgPass, Principal, ProjectPass};
use crate::{CoreError, CoreResult};

fn display_name_or(name: &str, display_name: &str) -> CoreResult<String> {
    let display_name = display_name.trim();
    if display_name.chars().count() > 128 {
        return Err(CoreError::InvalidArgument(
            "invalid `display_name`: must be at most 128 characters".to_string(),
        ));
    }
    Ok(if display_name.is_empty() {
        name.to_string()
    } else {
        display_name.to_string()
    })
}

impl IdentityService {
    /// Creates an organization (admins only); `owner` (a username), if given, becomes its
    /// first owner.
    pub async fn create_organization(
        &self,
        principal: &Principal,
        name: &str,
        display_name: &str,
        owner: Option<&str>,
        client: &ClientInfo,
    ) -> CoreResult<Organization> {
        principal.require_admin()?;
        principal.require_write()?;
        let name = ResourceName::parse("name", name)?;
        let display_name = display_name_or(name.as_str(), display_name)?;
        let owner = match owner {
            Some(owner) => Some(self.get_user(principal, owner).await?),
            None => None,
        };
        let organization = self
            .store
            .create_organization(name.as_str(), &display_name, self.now())
            .await?;
        if let Some(owner) = &owner {
            self.store
                .set_organization_member(&organization.id, &owner.id, OrgRole::Owner, self.now())
                .await?;
        }
        self.audit(
            Actor::User(principal.user()),
            "organization.create",
            &format!("organization:{name}"),
            client,
            true,
            json!({ "owner": owner.map(|o| o.username) }),
        )
        .await;
        Ok(organization)
    }

    /// Lists the organizations the caller may see (admins: all).
    pub async fn list_organizations(&self, principal: &Principal) -> CoreResult<Vec<Organization>> {
        principal.require_unscoped()?;
        let visible_to = (!principal.is_admin()).then_some(&principal.user().id);
        Ok(self.store.list_organizations(visible_to).await?)
    }

    /// Checks that the caller may see (or, with `manage`, manage) an organization. Hidden
    /// organizations are `NotFound`.
    pub async fn authorize_organization(
        &self,
        principal: &Principal,
        name: &str,
        manage: bool,
    ) -> CoreResult<OrgPass> {
        principal.require_unscoped()?;
        let not_found = || CoreError::NotFound {
            entity: "organization",
            id: name.to_string(),
        };
        let organization = match self.store.get_organization(name).await {
            Ok(organization) => organization,
            Err(StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error.into()),
        };
        let role = self
            .store
            .get_organization_role(&organization.id, &principal.user().id)
            .await?;
        if principal.is_admin() {
            return Ok(OrgPass { organization, role });
        }
        let visible = role.is_some()
            || self
                .store
                .list_organizations(Some(&principal.user().id))
                .await?
                .iter()
                .any(|o| o.id == organization.id);
        if !visible {
            return Err(not_found());
        }
        if manage && role != Some(OrgRole::Owner) {
            return Err(CoreError::Forbidden(format!(
                "needs the `owner` role in organization `{name}`"
            )));
        }
        if manage {
            principal.require_write()?;
        }
        Ok(OrgPass { organization, role })
    }

    /// Deletes an organization with all its projects (admins only).
    pub async fn delete_organization(
        &self,
        principal: &Principal,
        name: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        let pass = self.authorize_organization(principal, name, true).await?;
        self.store
            .delete_organization(&pass.organization.id)
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "organization.delete",
            &format!("organization:{name}"),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Lists an organization's members.
    pub async fn list_organization_members(&self, pass: &OrgPass) -> CoreResult<Vec<OrgMember>> {
        Ok(self
            .store
            .list_organization_members(&pass.organization.id)
            .await?)
    }

    /// Adds or changes an organization member (organization owners and admins).
    pub async fn set_organization_member(
        &self,
        principal: &Principal,
        organization: &str,
        username: &str,
        role: OrgRole,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let pass = self
            .authorize_organization(principal, organization, true)
            .await?;
        let user = self.find_user_by_username(username).await?;
        self.store
            .set_organization_member(&pass.organization.id, &user.id, role, self.now())
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "organization.member.set",
            &format!("organization:{organization}"),
            client,
            true,
            json!({ "user": username, "role": role.as_str() }),
        )
        .await;
        Ok(())
    }

    /// Removes an organization member (organization owners and admins).
    pub async fn remove_organization_member(
        &self,
        principal: &Principal,
        organization: &str,
        username: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let pass = self
            .authorize_organization(principal, organization, true)
            .await?;
        let user = self.find_user_by_username(username).await?;
        let members = self
            .store
            .list_organization_members(&pass.organization.id)
            .await?;
        let owners = members
            .iter()
            .filter(|member| member.role == OrgRole::Owner)
            .count();
        if owners == 1
            && members
                .iter()
                .any(|member| member.user_id == user.id && member.role == OrgRole::Owner)
            && !principal.is_admin()
        {
            return Err(CoreError::Conflict(format!(
                "`{username}` is the last owner of organization `{organization}`"
            )));
        }
        self.store
            .remove_organization_member(&pass.organization.id, &user.id)
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "organization.member.remove",
            &format!("organization:{organization}"),
            client,
            true,
            json!({ "user": username }),
        )
        .await;
        Ok(())
    }

    /// Returns the user named exactly `username` (not an email), without an access check:
    /// callers have authorized the action it serves.
    pub(super) async fn find_user_by_username(
        &self,
        username: &str,
    ) -> CoreResult<plinth_types::User> {
        self.store
            .find_user_by_login(username)
            .await?
            .filter(|record| record.user.username.as_str() == username.to_lowercase())
            .map(|record| record.user)
            .ok_or_else(|| CoreError::NotFound {
                entity: "user",
                id: username.to_string(),
            })
    }

    /// Creates a project in an organization the caller belongs to; the caller becomes its
    /// owner.
    pub async fn create_project(
        &self,
        principal: &Principal,
        organization: &str,
        name: &str,
        display_name: &str,
        description: &str,
        client: &ClientInfo,
    ) -> CoreResult<Project> {
        principal.require_write()?;
        let pass = self
            .authorize_organization(principal, organization, false)
            .await?;
        if pass.role.is_none() && !principal.is_admin() {
            return Err(CoreError::Forbidden(format!(
                "needs membership of organization `{organization}` to create projects in it"
            )));
        }
        let name = ResourceName::parse("name", name)?;
        let display_name = display_name_or(name.as_str(), display_name)?;
        if description.chars().count() > 2_000 {
            return Err(CoreError::InvalidArgument(
                "invalid `description`: must be at most 2000 characters".to_string(),
            ));
        }
        let project = self
            .store
            .create_project(
                &pass.organization.id,
                name.as_str(),
                &display_name,
                description.trim(),
                &principal.user().id,
                self.now(),
            )
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "project.create",
            &format!("project:{organization}/{name}"),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(project)
    }

    /// Lists projects the caller is a member of, with their role (admins with `all`: every
    /// project). A scoped token sees only its project.
    pub async fn list_projects(
        &self,
        principal: &Principal,
        all: bool,
        organization: Option<&str>,
    ) -> CoreResult<Vec<(Project, Option<Role>)>> {
        let all = all && principal.is_admin();
        let projects = self
            .store
            .list_projects(&principal.user().id, all, organization)
            .await?;
        Ok(projects
            .into_iter()
            .filter(|access| {
                principal
                    .project_scope()
                    .is_none_or(|scope| scope == access.project.id)
            })
            .map(|access| (access.project, access.role))
            .collect())
    }

    /// Changes a project's display name and description (owners).
    pub async fn update_project(
        &self,
        principal: &Principal,
        organization: &str,
        project: &str,
        display_name: &str,
        description: &str,
        client: &ClientInfo,
    ) -> CoreResult<Project> {
        let pass = self
            .authorize_project(principal, organization, project, Role::Owner)
            .await?;
        let display_name = display_name_or(project, display_name)?;
        self.store
            .update_project(&pass.project().id, &display_name, description.trim())
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "project.update",
            &format!("project:{organization}/{project}"),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(self
            .store
            .get_project_by_id(&pass.project().id, &principal.user().id)
            .await?
            .project)
    }

    /// Deletes a project and everything in it (owners).
    pub async fn delete_project(
        &self,
        principal: &Principal,
        organization: &str,
        project: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let pass = self
            .authorize_project(principal, organization, project, Role::Owner)
            .await?;
        self.store.delete_project(&pass.project().id).await?;
        self.audit(
            Actor::User(principal.user()),
            "project.delete",
            &format!("project:{organization}/{project}"),
            client,
            true,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Lists a project's members (any member).
    pub async fn list_project_members(&self, pass: &ProjectPass) -> CoreResult<Vec<Member>> {
        Ok(self.store.list_project_members(&pass.project().id).await?)
    }

    /// Adds a member or changes their role (owners). The last owner cannot be demoted.
    pub async fn set_project_member(
        &self,
        principal: &Principal,
        organization: &str,
        project: &str,
        username: &str,
        role: Role,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let pass = self
            .authorize_project(principal, organization, project, Role::Owner)
            .await?;
        let user = self.find_user_by_username(username).await?;
        let members = self.store.list_project_members(&pass.project().id).await?;
        self.guard_last_owner(
            &members,
            &user.id,
            role != Role::Owner,
            organization,
            project,
        )?;
        self.store
            .set_project_member(&pass.project().id, &user.id, role, self.now())
            .await?;
        self.audit(
            Actor::User(principal.user()),
            "project.member.set",
            &format!("project:{organization}/{project}"),
            client,
            true,
            json!({ "user": username, "role": role.as_str() }),
        )
        .await;
        Ok(())
    }

    /// Removes a member (owners). The last owner cannot be removed.
    pub async fn remove_project_member(
        &self,
        principal: &Principal,
        organization: &str,
        project: &str,
        username: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        let pass = self
            .authorize_project(principal, organization, project, Role::Owner)
            .await?;
        let user = self.find_user_by_username(username).await?;
        let members = self.store.list_project_members(&pass.project().id).await?;
        self.guard_last_owner(&members, &user.id, true, organization, project)?;
        self.store
            .remove_project_member(&pass.project().id, &user.id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound { .. } => CoreError::NotFound {
                    entity: "member",
                    id: username.to_string(),
                },
                other => other.into(),
            })?;
        self.audit(
            Actor::User(principal.user()),
            "project.member.remove",
            &format!("project:{organization}/{project}"),
            client,
            true,
            json!({ "user": username }),
        )
        .await;
        Ok(())
    }

    fn guard_last_owner(
        &self,
        members: &[Member],
        user: &plinth_types::UserId,
        losing_ownership: bool,
        organization: &str,
        project: &str,
    ) -> CoreResult<()> {
        let owners: Vec<&Member> = members
            .iter()
            .filter(|member| member.role == Role::Owner)
            .collect();
        if losing_ownership && owners.len() == 1 && owners[0].user_id == *user {
            return Err(CoreError::Conflict(format!(
                "`{}` is the last owner of project `{organization}/{project}`; make someone else owner first",
                owners[0].username
            )));
        }
        Ok(())
    }
}
