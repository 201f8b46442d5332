//! Secrets the server must read back (TOTP seeds) are sealed with XChaCha20-Poly1305 under
//! a 256-bit server key, so a copy of the database alone does not reveal them.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::{AuthError, AuthResult};

const VERSION_TAG: &str = "v1:";

/// Seals and opens secrets with the server key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    /// Returns a box over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Returns a box with a random key, for tests and throwaway servers.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        SecretBox::new(&key)
    }

    /// Reads the key from `path` (base64 of 32 bytes), creating the file with a new random
    /// key and mode 0600 when it does not exist.
    pub fn load_or_create(path: &Path) -> AuthResult<Self> {
        let key_error = |reason: String| AuthError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        match fs_err::read_to_string(path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .map_err(|error| key_error(format!("not base64: {error}")))?;
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| key_error("must hold exactly 32 bytes, base64".to_string()))?;
                Ok(SecretBox::new(&key))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent).map_err(|error| key_error(error.to_string()))?;
                }
                write_private(path, &format!("{}\n", STANDARD.encode(key)))
                    .map_err(|error| key_error(error.to_string()))?;
                Ok(SecretBox::new(&key))
            }
            Err(error) => Err(key_error(error.to_string())),
        }
    }

    /// Returns `plaintext` sealed: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("encryption cannot fail for in-memory buffers");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION_TAG}{}", STANDARD.encode(sealed))
    }

    /// Opens what [`seal`](Self::seal) made; fails if it was altered or sealed with another key.
    pub fn open(&self, sealed: &str) -> AuthResult<String> {
        let corrupt = |reason: &str| AuthError::Corrupt(reason.to_string());
        let encoded = sealed
            .strip_prefix(VERSION_TAG)
            .ok_or_else(|| corrupt("unknown sealed-secret version"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| corrupt("sealed secret is not base64"))?;
        if bytes.len() < 24 {
            return Err(corrupt("sealed secret is too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| corrupt("sealed secret fails authentication (altered, or sealed with another server key)"))?;
        String::from_utf8(plaintext).map_err(|_| corrupt("sealed secret is not UTF-8"))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    use std::io::Write as _;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    fs_err::write(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let secret_box = SecretBox::random();
        let sealed = secret_box.seal("JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(sealed, secret_box.seal("JBSWY3DPEHPK3PXP"), "nonces differ");
        assert_eq!(secret_box.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(
            SecretBox::random().open(&sealed).is_err(),
            "another key cannot open it"
        );
        let mut tampered = sealed.clone();
        tampered.replace_range(10..11, if &sealed[10..11] == "A" { "B" } else { "A" });
        assert!(secret_box.open(&tampered).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/server.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let sealed = first.seal("x");
        let second = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(second.open(&sealed).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        fs_err::write(&path, "c2hvcnQ=").unwrap();
        assert!(SecretBox::load_or_create(&path)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }
}
