//! Identity federation: users log in with an LDAP / Active Directory password or at an
//! OpenID Connect provider, and land in a normal Plinth account whose email, name and
//! roles come from the directory or provider (`docs/design/federation.md`).
//!
//! This crate holds the clients and the group → role mapping; the identity service in
//! `plinth-core` decides what happens to accounts, through its [`plinth_core::Directory`]
//! seam and [`plinth_core::IdentityService::external_login`].

pub mod ldap;
pub mod mapping;
pub mod oidc;

use std::sync::Arc;

use plinth_config::AuthConfig;
use plinth_core::Directory;

pub use ldap::{escape_filter_value, user_filter, LdapDirectory};
pub use oidc::{LoginStart, OidcBroker, OidcLogin, ProviderInfo};

/// Why a directory or provider cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// A setting or a file it names is wrong.
    #[error("{0}")]
    Config(String),
}

/// Returns the `[[auth.ldap]]` directories of `auth`, in order.
pub fn directories(auth: &AuthConfig) -> Result<Vec<Arc<dyn Directory>>, FederationError> {
    auth.ldap
        .iter()
        .map(|config| {
            LdapDirectory::new(config.clone())
                .map(|directory| Arc::new(directory) as Arc<dyn Directory>)
        })
        .collect()
}
