//! Groups → roles: which platform, organization and project roles a user's groups grant,
//! by the `role_mappings` of a directory or provider.

use plinth_config::RoleMappingConfig;
use plinth_core::RoleGrants;
use plinth_types::{OrgRole, Role};

/// How group names are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMatch {
    /// LDAP distinguished names: case-insensitive, spaces around `,` and `=` ignored.
    Dn,
    /// OIDC group names: exactly.
    Exact,
}

/// Normalizes a DN for comparison: lowercase, no spaces around the separators.
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

fn same_group(matching: GroupMatch, mapped: &str, found: &str) -> bool {
    match matching {
        GroupMatch::Dn => normalize_dn(mapped) == normalize_dn(found),
        GroupMatch::Exact => mapped == found,
    }
}

/// Returns what `groups` grant by `mappings`. Several mappings for one organization or
/// project grant the highest of their roles.
pub fn grants(
    mappings: &[RoleMappingConfig],
    groups: &[String],
    matching: GroupMatch,
) -> RoleGrants {
    let mut grants = RoleGrants::default();
    for mapping in mappings {
        if mapping.platform_admin {
            grants.manages_admin = true;
        }
        if let Some(organization) = &mapping.organization {
            if !grants.managed_organizations.contains(organization) {
                grants.managed_organizations.push(organization.clone());
            }
            if let Some(project) = &mapping.project {
                let key = (organization.clone(), project.clone());
                if !grants.managed_projects.contains(&key) {
                    grants.managed_projects.push(key);
                }
            }
        }
        if !groups
            .iter()
            .any(|group| same_group(matching, &mapping.group, group))
        {
            continue;
        }
        if mapping.platform_admin {
            grants.platform_admin = true;
        }
        let Some(organization) = &mapping.organization else {
            continue;
        };
        let org_role = match mapping.organization_role.as_deref() {
            Some("owner") => OrgRole::Owner,
            _ => OrgRole::Member,
        };
        let entry = grants
            .organizations
            .entry(organization.clone())
            .or_insert(org_role);
        if org_role == OrgRole::Owner {
            *entry = OrgRole::Owner;
        }
        if let Some(project) = &mapping.project {
            let role = mapping
                .project_role
                .as_deref()
                .and_then(|role| Role::parse(role).ok())
                .unwrap_or(Role::Viewer);
            let entry = grants
                .projects
                .entry((organization.clone(), project.clone()))
                .or_insert(role);
            if role > *entry {
                *entry = role;
            }
        }
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(group: &str) -> RoleMappingConfig {
        RoleMappingConfig {
            group: group.to_string(),
            platform_admin: false,
            organization: None,
            organization_role: None,
            project: None,
            project_role: None,
        }
    }

    fn mappings() -> Vec<RoleMappingConfig> {
        vec![
            RoleMappingConfig {
                platform_admin: true,
                ..mapping("cn=admins,ou=groups,dc=example,dc=org")
            },
            RoleMappingConfig {
                organization: Some("acme".to_string()),
                project: Some("churn".to_string()),
                project_role: Some("viewer".to_string()),
                ..mapping("cn=staff,ou=groups,dc=example,dc=org")
            },
            RoleMappingConfig {
                organization: Some("acme".to_string()),
                organization_role: Some("owner".to_string()),
                project: Some("churn".to_string()),
                project_role: Some("contributor".to_string()),
                ..mapping("cn=ml,ou=groups,dc=example,dc=org")
            },
            RoleMappingConfig {
                organization: Some("other".to_string()),
                ..mapping("cn=other,ou=groups,dc=example,dc=org")
            },
        ]
    }

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(
            normalize_dn("CN=ML Team , OU=Groups,DC=Example, DC=org"),
            "cn=ml team,ou=groups,dc=example,dc=org"
        );
    }

    #[test]
    fn the_highest_role_of_several_groups_wins() {
        let groups = vec![
            "CN=Staff,OU=Groups,DC=example,DC=org".to_string(),
            "cn=ml, ou=groups, dc=example, dc=org".to_string(),
        ];
        let grants = grants(&mappings(), &groups, GroupMatch::Dn);
        assert!(!grants.platform_admin);
        assert!(grants.manages_admin, "some mapping grants admin");
        assert_eq!(grants.organizations.get("acme"), Some(&OrgRole::Owner));
        assert_eq!(
            grants
                .projects
                .get(&("acme".to_string(), "churn".to_string())),
            Some(&Role::Contributor)
        );
        // `other` is managed (its membership is taken away) but not granted.
        assert!(grants.managed_organizations.contains(&"other".to_string()));
        assert!(!grants.organizations.contains_key("other"));
    }

    #[test]
    fn admin_groups_make_admins_and_no_group_grants_nothing() {
        let admin = grants(
            &mappings(),
            &["cn=admins,ou=groups,dc=example,dc=org".to_string()],
            GroupMatch::Dn,
        );
        assert!(admin.platform_admin);
        assert!(admin.organizations.is_empty());
        let nobody = grants(&mappings(), &[], GroupMatch::Dn);
        assert_eq!(nobody.organizations.len(), 0);
        assert_eq!(nobody.projects.len(), 0);
        assert!(!nobody.platform_admin);
        assert_eq!(nobody.managed_projects.len(), 1);
    }

    #[test]
    fn oidc_group_names_match_exactly() {
        let mappings = vec![RoleMappingConfig {
            platform_admin: true,
            ..mapping("Admins")
        }];
        assert!(grants(&mappings, &["Admins".to_string()], GroupMatch::Exact).platform_admin);
        assert!(!grants(&mappings, &["admins".to_string()], GroupMatch::Exact).platform_admin);
    }
}
