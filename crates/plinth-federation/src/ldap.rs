//! An LDAP or Active Directory directory: users are found with the service account's
//! search, their password is checked by binding as them, their groups come from
//! `memberOf` (with nested groups by the in-chain matching rule or a recursive lookup).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use plinth_config::{LdapDirectoryConfig, NestedGroups, Secret};
use plinth_core::{
    CoreError, CoreResult, Directory, DirectoryInfo, DirectoryLogin, DirectoryLookup,
    ExternalAccount,
};

use crate::mapping::{grants, normalize_dn, GroupMatch};
use crate::FederationError;

/// The matching rule that makes a `member` filter follow nested groups (Active Directory).
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// At most this many groups are followed for one user.
const MAX_GROUPS: usize = 1_000;
/// LDAP result code: invalid credentials.
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP result code: no such object.
const NO_SUCH_OBJECT: u32 = 32;

/// Escapes a value for an LDAP search filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL
/// become `\2a`, `\28`, `\29`, `\5c` and `\00`, so a typed name can never change the
/// filter's structure.
pub fn escape_filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => escaped.push_str("\\2a"),
            '(' => escaped.push_str("\\28"),
            ')' => escaped.push_str("\\29"),
            '\\' => escaped.push_str("\\5c"),
            '\0' => escaped.push_str("\\00"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Returns `template` with every `{username}` replaced by the escaped `username`.
pub fn user_filter(template: &str, username: &str) -> String {
    template.replace("{username}", &escape_filter_value(username))
}

/// One configured directory.
pub struct LdapDirectory {
    config: LdapDirectoryConfig,
    bind_password: Option<Secret>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LdapDirectory")
            .field("name", &self.config.name)
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    /// Returns the directory of `config`, reading its password file and CA file now (a
    /// bad file fails the start, not the first login).
    pub fn new(config: LdapDirectoryConfig) -> Result<Self, FederationError> {
        let bind_password = config
            .bind_password()
            .map_err(|error| FederationError::Config(error.to_string()))?;
        let tls = match &config.ca_file {
            Some(path) => Some(Arc::new(tls_config(&config.name, path)?)),
            None => None,
        };
        Ok(LdapDirectory {
            config,
            bind_password,
            tls,
        })
    }

    fn unavailable(&self, what: &str, error: impl std::fmt::Display) -> CoreError {
        CoreError::Unavailable(format!(
            "directory `{}` is unavailable: {what}: {error}",
            self.config.name
        ))
    }

    async fn connect(&self) -> CoreResult<Ldap> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.start_tls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (connection, mut ldap) = tokio::time::timeout(
            self.config.timeout,
            LdapConnAsync::with_settings(settings, &self.config.url),
        )
        .await
        .map_err(|_| self.unavailable("cannot connect", "timed out"))?
        .map_err(|error| self.unavailable("cannot connect", error))?;
        ldap3::drive!(connection);
        ldap.with_timeout(self.config.timeout);
        Ok(ldap)
    }

    /// Binds with the service account (or stays anonymous when none is configured).
    async fn service_bind(&self, ldap: &mut Ldap) -> CoreResult<()> {
        let Some(dn) = &self.config.bind_dn else {
            return Ok(());
        };
        let password = self
            .bind_password
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default();
        let result = ldap
            .simple_bind(dn, password)
            .await
            .map_err(|error| self.unavailable("service bind", error))?;
        if result.rc != 0 {
            return Err(self.unavailable(
                "the service account's bind was refused",
                format!("{} {}", result.rc, result.text),
            ));
        }
        Ok(())
    }

    fn attributes(&self) -> Vec<String> {
        vec![
            self.config.username_attribute.clone(),
            self.config.email_attribute.clone(),
            self.config.display_name_attribute.clone(),
            self.config.member_of_attribute.clone(),
        ]
    }

    /// Returns the one entry `filter` finds under `user_base`; none or several: `None`.
    async fn find_user(&self, ldap: &mut Ldap, filter: &str) -> CoreResult<Option<SearchEntry>> {
        let result = ldap
            .search(
                &self.config.user_base,
                Scope::Subtree,
                filter,
                self.attributes(),
            )
            .await
            .map_err(|error| self.unavailable("user search", error))?;
        if result.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        let (entries, _) = result
            .success()
            .map_err(|error| self.unavailable("user search", error))?;
        let mut entries: Vec<SearchEntry> =
            entries.into_iter().map(SearchEntry::construct).collect();
        if entries.len() > 1 {
            tracing::warn!(directory = %self.config.name, %filter, found = entries.len(), "a user filter matched several entries; refusing");
            return Ok(None);
        }
        Ok(entries.pop())
    }

    async fn is_disabled(&self, ldap: &mut Ldap, dn: &str) -> CoreResult<bool> {
        let Some(filter) = &self.config.disabled_filter else {
            return Ok(false);
        };
        let result = ldap
            .search(dn, Scope::Base, filter, vec!["1.1"])
            .await
            .map_err(|error| self.unavailable("disabled check", error))?;
        if result.1.rc == NO_SUCH_OBJECT {
            return Ok(true);
        }
        let (entries, _) = result
            .success()
            .map_err(|error| self.unavailable("disabled check", error))?;
        Ok(!entries.is_empty())
    }

    fn group_base(&self) -> String {
        self.config.group_base.clone().unwrap_or_else(|| {
            // The user base's parent: `ou=people,dc=example,dc=org` → `dc=example,dc=org`.
            match self.config.user_base.split_once(',') {
                Some((_, parent)) => parent.trim().to_string(),
                None => self.config.user_base.clone(),
            }
        })
    }

    /// Returns the DNs of the groups `entry` belongs to, nested ones included as configured.
    async fn groups(&self, ldap: &mut Ldap, entry: &SearchEntry) -> CoreResult<Vec<String>> {
        let direct = attribute_values(entry, &self.config.member_of_attribute);
        let mut found: BTreeSet<String> = direct.iter().map(|dn| normalize_dn(dn)).collect();
        let mut groups: Vec<String> = direct;
        match self.config.nested_groups {
            NestedGroups::None => {}
            NestedGroups::InChain => {
                let filter = format!("(member:{IN_CHAIN}:={})", escape_filter_value(&entry.dn));
                let result = ldap
                    .search(&self.group_base(), Scope::Subtree, &filter, vec!["1.1"])
                    .await
                    .map_err(|error| self.unavailable("group search", error))?;
                let (entries, _) = result
                    .success()
                    .map_err(|error| self.unavailable("group search (in-chain)", error))?;
                for entry in entries.into_iter().map(SearchEntry::construct) {
                    if found.insert(normalize_dn(&entry.dn)) {
                        groups.push(entry.dn);
                    }
                }
            }
            NestedGroups::Recursive => {
                // Follow the groups that list a known group as a member, until no new one
                // appears (works on servers without the in-chain rule).
                let mut queue: VecDeque<String> = groups.iter().cloned().collect();
                while let Some(group) = queue.pop_front() {
                    if found.len() >= MAX_GROUPS {
                        tracing::warn!(directory = %self.config.name, "stopped following nested groups at {MAX_GROUPS}");
                        break;
                    }
                    let escaped = escape_filter_value(&group);
                    let filter = format!("(|(member={escaped})(uniqueMember={escaped}))");
                    let result = ldap
                        .search(&self.group_base(), Scope::Subtree, &filter, vec!["1.1"])
                        .await
                        .map_err(|error| self.unavailable("group search", error))?;
                    let (entries, _) = result
                        .success()
                        .map_err(|error| self.unavailable("group search (recursive)", error))?;
                    for parent in entries.into_iter().map(SearchEntry::construct) {
                        if found.insert(normalize_dn(&parent.dn)) {
                            groups.push(parent.dn.clone());
                            queue.push_back(parent.dn);
                        }
                    }
                }
            }
        }
        Ok(groups)
    }

    async fn account(
        &self,
        ldap: &mut Ldap,
        entry: &SearchEntry,
        fallback: &str,
    ) -> CoreResult<ExternalAccount> {
        let first = |attribute: &str| attribute_values(entry, attribute).into_iter().next();
        let username = first(&self.config.username_attribute)
            .unwrap_or_else(|| fallback.to_string())
            .trim()
            .to_lowercase();
        let groups = self.groups(ldap, entry).await?;
        Ok(ExternalAccount {
            provider: self.config.name.clone(),
            subject: username.clone(),
            email: first(&self.config.email_attribute).unwrap_or_default(),
            email_verified: false,
            display_name: first(&self.config.display_name_attribute).unwrap_or_default(),
            grants: grants(&self.config.role_mappings, &groups, GroupMatch::Dn),
            groups,
            username,
        })
    }
}

fn attribute_values(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map(|(_, values)| values.clone())
        .unwrap_or_default()
}

fn tls_config(name: &str, path: &std::path::Path) -> Result<rustls::ClientConfig, FederationError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |reason: String| {
        FederationError::Config(format!(
            "`auth.ldap.{name}.ca_file` `{}`: {reason}",
            path.display()
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| bad(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("holds no PEM certificate".to_string()));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|error| bad(error.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| bad(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[async_trait]
impl Directory for LdapDirectory {
    fn info(&self) -> DirectoryInfo {
        let security = if self.config.url.starts_with("ldaps://") {
            "ldaps"
        } else if self.config.start_tls {
            "starttls"
        } else {
            "plain"
        };
        DirectoryInfo {
            name: self.config.name.clone(),
            url: self.config.url.clone(),
            security: security.to_string(),
            user_base: self.config.user_base.clone(),
            user_filter: self.config.user_filter.clone(),
        }
    }

    async fn authenticate(&self, login: &str, password: &str) -> CoreResult<DirectoryLogin> {
        let login = login.trim();
        // An empty password is an anonymous bind, which servers accept: never a login.
        if login.is_empty() || password.is_empty() {
            return Ok(DirectoryLogin::Refused);
        }
        let mut ldap = self.connect().await?;
        self.service_bind(&mut ldap).await?;
        let filter = user_filter(&self.config.user_filter, login);
        let Some(entry) = self.find_user(&mut ldap, &filter).await? else {
            let _ = ldap.unbind().await;
            return Ok(DirectoryLogin::Refused);
        };
        if self.is_disabled(&mut ldap, &entry.dn).await? {
            let _ = ldap.unbind().await;
            return Ok(DirectoryLogin::Disabled);
        }
        let bound = ldap
            .simple_bind(&entry.dn, password)
            .await
            .map_err(|error| self.unavailable("user bind", error))?;
        match bound.rc {
            0 => {}
            INVALID_CREDENTIALS => {
                let _ = ldap.unbind().await;
                return Ok(DirectoryLogin::Refused);
            }
            // AD answers 49 with a sub-code for disabled or expired accounts; others
            // (e.g. 53 unwilling to perform) are refusals too.
            _ => {
                tracing::info!(directory = %self.config.name, rc = bound.rc, text = %bound.text, "user bind refused");
                let _ = ldap.unbind().await;
                return Ok(DirectoryLogin::Refused);
            }
        }
        // Groups are read as the service account: users often may not read them.
        self.service_bind(&mut ldap).await?;
        let account = self.account(&mut ldap, &entry, login).await;
        let _ = ldap.unbind().await;
        Ok(DirectoryLogin::Accepted(Box::new(account?)))
    }

    async fn lookup(&self, subject: &str) -> CoreResult<DirectoryLookup> {
        let mut ldap = self.connect().await?;
        self.service_bind(&mut ldap).await?;
        let filter = format!(
            "({}={})",
            self.config.username_attribute,
            escape_filter_value(subject)
        );
        let Some(entry) = self.find_user(&mut ldap, &filter).await? else {
            let _ = ldap.unbind().await;
            return Ok(DirectoryLookup::Gone);
        };
        if self.is_disabled(&mut ldap, &entry.dn).await? {
            let _ = ldap.unbind().await;
            return Ok(DirectoryLookup::Disabled);
        }
        let account = self.account(&mut ldap, &entry, subject).await;
        let _ = ldap.unbind().await;
        Ok(DirectoryLookup::Found(Box::new(account?)))
    }

    async fn test_connection(&self) -> CoreResult<String> {
        let mut ldap = self.connect().await?;
        self.service_bind(&mut ldap).await?;
        let result = ldap
            .search(
                &self.config.user_base,
                Scope::Base,
                "(objectClass=*)",
                vec!["1.1"],
            )
            .await
            .map_err(|error| self.unavailable("reading the user base", error))?;
        let _ = ldap.unbind().await;
        if result.1.rc != 0 {
            return Err(CoreError::Unavailable(format!(
                "directory `{}`: the user base `{}` cannot be read: {} {}",
                self.config.name, self.config.user_base, result.1.rc, result.1.text
            )));
        }
        let who = match &self.config.bind_dn {
            Some(dn) => format!("bound as `{dn}`"),
            None => "anonymous".to_string(),
        };
        Ok(format!(
            "connected to {} ({}), {who}, user base `{}` readable",
            self.config.url,
            self.info().security,
            self.config.user_base
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_escaped_per_rfc_4515() {
        assert_eq!(escape_filter_value("alice"), "alice");
        assert_eq!(escape_filter_value("*"), "\\2a");
        assert_eq!(escape_filter_value("a(b)c"), "a\\28b\\29c");
        assert_eq!(escape_filter_value("back\\slash"), "back\\5cslash");
        assert_eq!(escape_filter_value("nul\0"), "nul\\00");
        // Non-ASCII stays as UTF-8, which RFC 4515 allows.
        assert_eq!(escape_filter_value("jürgen"), "jürgen");
    }

    #[test]
    fn an_injection_attempt_stays_one_value() {
        let filter = user_filter("(uid={username})", "*)(uid=*))(|(uid=*");
        assert_eq!(
            filter,
            "(uid=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a)"
        );
        // The filter still has exactly one opening and one closing parenthesis.
        assert_eq!(filter.matches('(').count(), 1);
        assert_eq!(filter.matches(')').count(), 1);
        let ad = user_filter("(&(objectClass=user)(sAMAccountName={username}))", "admin*");
        assert_eq!(ad, "(&(objectClass=user)(sAMAccountName=admin\\2a))");
    }

    #[test]
    fn every_placeholder_is_replaced() {
        assert_eq!(
            user_filter("(|(uid={username})(mail={username}))", "a)b"),
            "(|(uid=a\\29b)(mail=a\\29b))"
        );
    }
}
