//! TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s steps — what every authenticator
//! app speaks) and single-use recovery codes.

use rand::RngCore as _;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{hash_secret, AuthError, AuthResult};

/// Length of one TOTP step.
pub const TOTP_STEP_SECONDS: u64 = 30;

/// One user's TOTP generator.
pub struct Totp {
    inner: TOTP,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Totp([redacted])")
    }
}

impl Totp {
    /// Returns a new random 160-bit secret, base32 (what the user types or scans).
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret::Raw(bytes.to_vec()).to_encoded().to_string()
    }

    /// Returns the generator for a base32 `secret`, labelled `issuer:account` in apps.
    pub fn new(secret_base32: &str, issuer: &str, account: &str) -> AuthResult<Self> {
        let bytes = Secret::Encoded(secret_base32.to_string())
            .to_bytes()
            .map_err(|error| AuthError::Corrupt(format!("TOTP secret: {error:?}")))?;
        // Colons separate issuer and account in otpauth URLs.
        let account = account.replace(':', "_");
        let inner = TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            TOTP_STEP_SECONDS,
            bytes,
            Some(issuer.replace(':', "_")),
            account,
        )
        .map_err(|error| AuthError::Corrupt(format!("TOTP secret: {error}")))?;
        Ok(Totp { inner })
    }

    /// Returns the `otpauth://totp/…` URL authenticator apps import (as a QR code).
    pub fn otpauth_url(&self) -> String {
        self.inner.get_url()
    }

    /// Returns the code for the step containing `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.inner.generate(unix_seconds)
    }

    /// Checks `code` at `unix_seconds`, accepting one step of clock skew either way, and
    /// returns the step it matched. A step at or before `last_used_step` is refused, so a
    /// code cannot be replayed.
    pub fn verify(
        &self,
        code: &str,
        unix_seconds: u64,
        last_used_step: Option<u64>,
    ) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = unix_seconds / TOTP_STEP_SECONDS;
        let mut matched = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = self.inner.generate(step * TOTP_STEP_SECONDS);
            if constant_time_eq(expected.as_bytes(), code.as_bytes())
                && last_used_step.is_none_or(|last| step > last)
            {
                matched = Some(step);
            }
        }
        matched
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Returns `count` new recovery codes (`xxxx-xxxx-xxxx`, lowercase letters and digits) and
/// their hashes, in the same order. Show the codes once; store the hashes.
pub fn generate_recovery_codes(count: usize) -> Vec<(String, String)> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..count)
        .map(|_| {
            let mut bytes = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|byte| ALPHABET[*byte as usize % ALPHABET.len()] as char)
                .collect();
            let code = format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12]);
            let hash = hash_secret(&normalize_recovery_code(&code));
            (code, hash)
        })
        .collect()
}

/// Returns a recovery code as stored: lowercase, without spaces or dashes.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_reference_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s → 94287082 (8
        // digits); its last six digits are what a 6-digit generator yields.
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        let totp = Totp::new(&secret, "Plinth", "alice").unwrap();
        assert_eq!(totp.code_at(59), "287082");
        assert_eq!(totp.code_at(1_111_111_109), "081804");
    }

    #[test]
    fn verify_allows_one_step_of_skew_and_no_replay() {
        let totp = Totp::new(&Totp::generate_secret(), "Plinth", "alice@example.com").unwrap();
        let now = 1_800_000_000;
        let code = totp.code_at(now);
        let step = now / TOTP_STEP_SECONDS;
        assert_eq!(totp.verify(&code, now, None), Some(step));
        assert_eq!(
            totp.verify(&code, now + 30, None),
            Some(step),
            "one step late is fine"
        );
        assert_eq!(
            totp.verify(&code, now + 90, None),
            None,
            "three steps late is not"
        );
        assert_eq!(totp.verify(&code, now, Some(step)), None, "replay refused");
        assert_eq!(totp.verify("12345", now, None), None);
        assert_eq!(
            totp.verify(&format!("{} {}", &code[..3], &code[3..]), now, None),
            Some(step)
        );
        assert!(totp
            .otpauth_url()
            .starts_with("otpauth://totp/Plinth:alice%40example.com?secret="));
    }

    #[test]
    fn recovery_codes_are_unique_and_hashed_normalised() {
        let codes = generate_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> =
            codes.iter().map(|(code, _)| code.clone()).collect();
        assert_eq!(unique.len(), 10);
        let (code, hash) = &codes[0];
        assert_eq!(code.len(), 14);
        assert_eq!(
            &hash_secret(&normalize_recovery_code(
                &code.to_uppercase().replace('-', " ")
            )),
            hash
        );
    }
}
