//! Bearer secrets — API tokens and session ids — generated with 256 bits of entropy and
//! stored only as their SHA-256 digest. A stolen database yields no usable credential.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// What a secret is for; the prefix makes leaked secrets recognisable to secret scanners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A personal API token, `plt_…`.
    ApiToken,
    /// A browser session id, `pls_…`.
    Session,
    /// A CSRF token bound to a session, `plc_…`.
    Csrf,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::ApiToken => "plt_",
            SecretKind::Session => "pls_",
            SecretKind::Csrf => "plc_",
        }
    }
}

/// A new secret: shown to its owner once, stored as `hash`.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedSecret {
    /// The secret itself; never stored.
    pub plaintext: String,
    /// Its SHA-256 digest, hex; what the database keeps.
    pub hash: String,
    /// The first characters, safe to display so owners can tell their tokens apart.
    pub display_prefix: String,
}

impl std::fmt::Debug for GeneratedSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GeneratedSecret")
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

/// Returns a new random secret of `kind`.
pub fn generate_secret(kind: SecretKind) -> GeneratedSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let plaintext = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_secret(&plaintext);
    let display_prefix = plaintext.chars().take(12).collect();
    GeneratedSecret {
        plaintext,
        hash,
        display_prefix,
    }
}

/// Returns the SHA-256 digest of `secret`, hex. High-entropy secrets need no salt or
/// stretching: the digest is what lookups compare.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_unique_and_hashed() {
        let first = generate_secret(SecretKind::ApiToken);
        let second = generate_secret(SecretKind::ApiToken);
        assert!(first.plaintext.starts_with("plt_"));
        assert_eq!(first.plaintext.len(), 4 + 43);
        assert_ne!(first.plaintext, second.plaintext);
        assert_eq!(first.hash, hash_secret(&first.plaintext));
        assert_eq!(first.hash.len(), 64);
        assert!(!format!("{first:?}").contains(&first.plaintext));
        assert!(generate_secret(SecretKind::Session)
            .plaintext
            .starts_with("pls_"));
    }
}
