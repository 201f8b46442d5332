//! Where passwords are checked. The identity service asks a [`PasswordAuthenticator`]; the
//! local one (argon2id hashes in the metadata store) is the default, and directory-backed
//! ones (LDAP/AD, later) plug in here without touching the service or the handlers.

use std::sync::Arc;

use async_trait::async_trait;
use plinth_auth::PasswordHasher;
use plinth_metastore::{MetadataStore, UserRecord};

use crate::CoreResult;

/// Checks a login name and password.
#[async_trait]
pub trait PasswordAuthenticator: Send + Sync + 'static {
    /// Returns the backend's name, for logs and the audit log (`local`, `ldap`).
    fn name(&self) -> &'static str;

    /// Returns the account `login` (a username or email) names when `password` is right;
    /// `None` when the login is unknown or the password wrong — the two are not told apart,
    /// and take the same time.
    async fn verify(&self, login: &str, password: &str) -> CoreResult<Option<UserRecord>>;
}

/// Accounts whose argon2id hashes live in the metadata store.
#[derive(Clone)]
pub struct LocalAuthenticator {
    store: Arc<dyn MetadataStore>,
    hasher: PasswordHasher,
}

impl LocalAuthenticator {
    /// Returns the authenticator over `store`'s users.
    pub fn new(store: Arc<dyn MetadataStore>, hasher: PasswordHasher) -> Self {
        LocalAuthenticator { store, hasher }
    }
}

#[async_trait]
impl PasswordAuthenticator for LocalAuthenticator {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn verify(&self, login: &str, password: &str) -> CoreResult<Option<UserRecord>> {
        let record = self.store.find_user_by_login(login).await?;
        let verified = match record
            .as_ref()
            .and_then(|record| record.password_hash.as_deref())
        {
            Some(hash) => self.hasher.verify(password, hash)?,
            None => {
                self.hasher.waste_one_verification(password);
                false
            }
        };
        Ok(record.filter(|_| verified))
    }
}
