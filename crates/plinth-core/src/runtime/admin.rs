//! Node pools, resource classes and project quotas: admins define them, members read them.

use plinth_types::{NodePool, PoolTaint, ProjectQuota, ProjectUsageNow, ResourceClass, Role};
use serde_json::json;

use super::RuntimeService;
use crate::{ClientInfo, CoreError, CoreResult, Principal, ProjectPass};

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Checks a Kubernetes label key or value the way the API server would (simplified: an
/// optional DNS prefix and a name of at most 63 characters).
fn check_label(field: &str, text: &str, is_key: bool) -> CoreResult<()> {
    let name = if is_key {
        match text.split_once('/') {
            Some((prefix, name)) => {
                let prefix_ok = !prefix.is_empty()
                    && prefix.len() <= 253
                    && prefix.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b)
                    });
                if !prefix_ok {
                    return Err(CoreError::InvalidArgument(format!(
                        "invalid `{field}`: `{text}` has a bad prefix (lower-case DNS name expected)"
                    )));
                }
                name
            }
            None => text,
        }
    } else {
        text
    };
    let well_formed = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    let valid = name.len() <= 63 && (well_formed || (name.is_empty() && !is_key));
    if !valid {
        return Err(CoreError::InvalidArgument(format!(
            "invalid `{field}`: `{text}` must be at most 63 letters, digits, `-`, `_` or `.`, \
             starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

impl RuntimeService {
    /// Every node pool (any signed-in user may read them).
    pub async fn list_node_pools(&self) -> CoreResult<Vec<NodePool>> {
        Ok(self.inner.store.list_node_pools().await?)
    }

    /// Creates or edits a node pool (platform admins).
    pub async fn put_node_pool(
        &self,
        principal: &Principal,
        mut pool: NodePool,
        client: &ClientInfo,
    ) -> CoreResult<NodePool> {
        principal.require_admin()?;
        principal.require_write()?;
        for (key, value) in &pool.node_selector {
            check_label("node_selector", key, true)?;
            check_label("node_selector", value, false)?;
        }
        for PoolTaint { key, value, effect } in &pool.taints {
            check_label("taints", key, true)?;
            check_label("taints", value, false)?;
            if !TAINT_EFFECTS.contains(&effect.as_str()) {
                return Err(CoreError::InvalidArgument(format!(
                    "invalid `taints`: effect `{effect}` must be one of {}",
                    TAINT_EFFECTS.join(", ")
                )));
            }
        }
        pool.updated_at_ms = self.now();
        let saved = self.inner.store.put_node_pool(&pool).await?;
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "pool.put",
                &format!("pool:{}", saved.name),
                client,
                json!({ "node_selector": saved.node_selector, "taints": saved.taints }),
            )
            .await;
        Ok(saved)
    }

    /// Deletes a node pool no class uses (platform admins).
    pub async fn delete_node_pool(
        &self,
        principal: &Principal,
        name: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        self.inner.store.delete_node_pool(name).await?;
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "pool.delete",
                &format!("pool:{name}"),
                client,
                json!({}),
            )
            .await;
        Ok(())
    }

    /// Every resource class, smallest first.
    pub async fn list_resource_classes(&self) -> CoreResult<Vec<ResourceClass>> {
        Ok(self.inner.store.list_resource_classes().await?)
    }

    /// Creates or edits a resource class (platform admins).
    pub async fn put_resource_class(
        &self,
        principal: &Principal,
        mut class: ResourceClass,
        client: &ClientInfo,
    ) -> CoreResult<ResourceClass> {
        principal.require_admin()?;
        principal.require_write()?;
        class.updated_at_ms = self.now();
        let saved = self.inner.store.put_resource_class(&class).await?;
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "class.put",
                &format!("class:{}", saved.name),
                client,
                json!({ "pool": saved.pool, "cpu_millis": saved.cpu_millis, "memory_bytes": saved.memory_bytes, "gpus": saved.gpus }),
            )
            .await;
        Ok(saved)
    }

    /// Deletes a resource class (platform admins); workloads keep their sizes.
    pub async fn delete_resource_class(
        &self,
        principal: &Principal,
        name: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        self.inner.store.delete_resource_class(name).await?;
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "class.delete",
                &format!("class:{name}"),
                client,
                json!({}),
            )
            .await;
        Ok(())
    }

    /// A project's quota and what it uses now; any member may look.
    pub async fn project_quota(
        &self,
        pass: &ProjectPass,
    ) -> CoreResult<(ProjectQuota, ProjectUsageNow)> {
        let project_id = &pass.project().id;
        let quota = self.inner.store.get_project_quota(project_id).await?;
        let usage = self.inner.store.project_usage_now(project_id).await?;
        Ok((quota, usage))
    }

    /// Sets a project's quota (platform admins). Running work is not stopped when a quota
    /// shrinks; new work waits or is refused until usage fits.
    pub async fn set_project_quota(
        &self,
        principal: &Principal,
        pass: &ProjectPass,
        quota: &ProjectQuota,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        principal.require_write()?;
        let project = pass.project();
        self.inner
            .store
            .set_project_quota(&project.id, quota, self.now())
            .await?;
        self.inner
            .identity
            .audit_user_action(
                principal.user(),
                "quota.set",
                &format!("project:{}/{}", project.organization, project.name),
                client,
                serde_json::to_value(quota).unwrap_or_default(),
            )
            .await;
        // A larger quota may let queued jobs start.
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The pass needed to submit work: contributor.
    pub const SUBMIT_ROLE: Role = Role::Contributor;
}
