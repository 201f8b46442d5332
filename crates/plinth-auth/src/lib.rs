//! Plinth's authentication primitives: argon2id password hashing and the password policy,
//! TOTP second factors and recovery codes, API-token and session secrets (stored only as
//! hashes), and [`SecretBox`], which encrypts secrets that must be read back (TOTP seeds).
//!
//! This crate holds no state and opens no database: the identity service in the domain
//! layer combines these primitives with the metadata store.

mod error;
mod password;
mod qr;
mod seal;
mod secrets;
mod totp;

pub use error::{AuthError, AuthResult};
pub use password::{HashingParams, PasswordHasher, PasswordPolicy, COMMON_PASSWORD_COUNT};
pub use qr::qr_svg;
pub use seal::SecretBox;
pub use secrets::{generate_secret, hash_secret, GeneratedSecret, SecretKind};
pub use totp::{generate_recovery_codes, normalize_recovery_code, Totp, TOTP_STEP_SECONDS};
