//! Password hashing (argon2id, PHC strings) and the password policy.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{AuthError, AuthResult};

/// The list of common passwords refused by the policy: Django's list (Royce Williams,
/// BSD-3-Clause), vendored by `scripts/vendor/common-passwords.sh`.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// How many passwords the common-password list holds.
pub const COMMON_PASSWORD_COUNT: usize = 19_640;

/// Argon2id cost parameters.
///
/// The defaults (19 MiB, 3 passes, 1 lane) are one pass above OWASP's recommended minimum:
/// a login took 55 ms at the median on our 2-core build machines (`bench/login-latency.sh`,
/// release build; 2 passes took 37 ms), inside the 50–100 ms that bounds online guessing
/// without making logins feel slow. Stored hashes carry their parameters, so changing
/// these later only affects new hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashingParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashingParams {
    fn default() -> Self {
        HashingParams {
            memory_kib: 19 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: HashingParams,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher::new(HashingParams::default())
    }
}

impl PasswordHasher {
    /// Returns a hasher with `params`; out-of-range values fall back to the defaults.
    pub fn new(params: HashingParams) -> Self {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .unwrap_or_else(|_| {
            let defaults = HashingParams::default();
            Params::new(
                defaults.memory_kib,
                defaults.iterations,
                defaults.parallelism,
                None,
            )
            .expect("default argon2 parameters are valid")
        });
        PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
            params,
        }
    }

    /// Returns the cost parameters.
    pub fn params(&self) -> HashingParams {
        self.params
    }

    /// Returns the PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    pub fn hash(&self, password: &str) -> AuthResult<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AuthError::Corrupt(error.to_string()))
    }

    /// Returns whether `password` matches the PHC string `hash`. Comparison is constant-time.
    pub fn verify(&self, password: &str, hash: &str) -> AuthResult<bool> {
        let parsed =
            PasswordHash::new(hash).map_err(|error| AuthError::Corrupt(error.to_string()))?;
        Ok(self
            .argon2
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }

    /// Spends the time of one verification without a stored hash, so an unknown username
    /// takes as long to refuse as a wrong password (no user enumeration by timing).
    pub fn waste_one_verification(&self, password: &str) {
        static DUMMY: LazyLock<String> = LazyLock::new(|| {
            PasswordHasher::default()
                .hash("plinth-timing-equaliser")
                .unwrap_or_default()
        });
        let _ = self.verify(password, &DUMMY);
    }
}

/// What a password must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters (argon2 accepts more, but nobody types 1024 characters).
    pub max_length: usize,
    /// Refuse the passwords of the common-password list.
    pub refuse_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            max_length: 1024,
            refuse_common: true,
        }
    }
}

impl PasswordPolicy {
    /// Checks `password` for an account named `username` with `email`; the error names the
    /// rule that failed.
    pub fn check(&self, password: &str, username: &str, email: &str) -> AuthResult<()> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(AuthError::WeakPassword(format!(
                "must be at least {} characters long (it has {length})",
                self.min_length
            )));
        }
        if length > self.max_length {
            return Err(AuthError::WeakPassword(format!(
                "must be at most {} characters long",
                self.max_length
            )));
        }
        let lowered = password.to_lowercase();
        let username = username.to_lowercase();
        if !username.is_empty() && lowered.contains(&username) {
            return Err(AuthError::WeakPassword(
                "must not contain the username".to_string(),
            ));
        }
        let email = email.to_lowercase();
        let local_part = email.split('@').next().unwrap_or_default();
        if !email.is_empty()
            && (lowered.contains(&email) || (local_part.len() >= 3 && lowered.contains(local_part)))
        {
            return Err(AuthError::WeakPassword(
                "must not contain the email address".to_string(),
            ));
        }
        if self.refuse_common && COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(AuthError::WeakPassword(format!(
                "is too common: it is on a list of {COMMON_PASSWORD_COUNT} passwords attackers try first"
            )));
        }
        if password
            .chars()
            .all(|c| c == password.chars().next().unwrap_or_default())
        {
            return Err(AuthError::WeakPassword(
                "must not repeat a single character".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
    }

    #[test]
    fn hashes_verify_and_salts_differ() {
        let hasher = fast();
        let first = hasher.hash("correct horse battery staple").unwrap();
        let second = hasher.hash("correct horse battery staple").unwrap();
        assert_ne!(first, second);
        assert!(
            first.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{first}"
        );
        assert!(hasher
            .verify("correct horse battery staple", &first)
            .unwrap());
        assert!(!hasher
            .verify("correct horse battery stapl", &first)
            .unwrap());
        // A hash made with other parameters still verifies: they travel in the PHC string.
        assert!(PasswordHasher::default()
            .verify("correct horse battery staple", &first)
            .unwrap());
        assert!(matches!(
            hasher.verify("x", "not a phc string"),
            Err(AuthError::Corrupt(_))
        ));
    }

    #[test]
    fn the_common_list_is_complete() {
        assert_eq!(COMMON_PASSWORDS.len(), COMMON_PASSWORD_COUNT);
    }

    #[test]
    fn policy_names_the_rule_that_failed() {
        let policy = PasswordPolicy::default();
        let cases = [
            ("short", "must be at least 12 characters long (it has 5)"),
            ("asmith-is-the-best-1", "must not contain the username"),
            (
                "my alice.smith address",
                "must not contain the email address",
            ),
            ("1qaz2wsx3edc", "is too common"),
            ("aaaaaaaaaaaaaaaa", "must not repeat a single character"),
        ];
        for (password, expected) in cases {
            let error = policy
                .check(password, "asmith", "alice.smith@example.com")
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("invalid `password`: "), "{error}");
            assert!(error.contains(expected), "{password}: {error}");
        }
        policy
            .check(
                "violet-harbour-thimble-42",
                "alice",
                "alice.smith@example.com",
            )
            .unwrap();
        assert!(policy
            .check(&"x".repeat(1025), "a", "b@c")
            .unwrap_err()
            .to_string()
            .contains("at most 1024"));
    }
}
