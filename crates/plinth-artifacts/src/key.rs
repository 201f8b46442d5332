//! Object keys: the only way a name reaches the object store, validated so no key can
//! escape the store's prefix (or the data folder, for the local backend).

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::ArtifactError;

/// Longest key accepted, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// A validated, relative object key such as `projects/p1/runs/r1/model.pkl`.
///
/// Refused: empty keys, absolute keys, empty, `.` or `..` segments, backslashes, NUL and
/// other control characters, and percent-encoded forms of any of these (`%2e%2e`, `%2f`,
/// `%5c`, `%00`, also double-encoded), which some layer below could decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates `key` and returns it as an object key.
    pub fn parse(key: &str) -> Result<Self, ArtifactError> {
        let invalid = |reason: &str| ArtifactError::InvalidKey {
            key: key.escape_debug().to_string(),
            reason: reason.to_string(),
        };
        if key.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid("is longer than 1024 bytes"));
        }
        if key.starts_with('/') {
            return Err(invalid("must be relative, not start with `/`"));
        }
        for segment in key.split('/') {
            check_segment(segment).map_err(invalid)?;
            // Decode up to three times: whatever a lower layer could make of it must be safe too.
            let mut decoded = segment.to_string();
            for _ in 0..3 {
                let next = percent_decode_str(&decoded)
                    .decode_utf8_lossy()
                    .into_owned();
                if next == decoded {
                    break;
                }
                if next.contains('/') {
                    return Err(invalid("must not contain an encoded `/`"));
                }
                check_segment(&next)
                    .map_err(|reason| invalid(&format!("{reason} once percent-decoded")))?;
                decoded = next;
            }
        }
        Ok(ObjectKey(key.to_string()))
    }

    /// Returns the key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns `self/child`, `child` being validated as a key of its own.
    pub fn join(&self, child: &str) -> Result<Self, ArtifactError> {
        let child = ObjectKey::parse(child)?;
        ObjectKey::parse(&format!("{}/{}", self.0, child.0))
    }

    /// Returns the key's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

fn check_segment(segment: &str) -> Result<(), &'static str> {
    match segment {
        "" => Err("must not contain empty segments (`//` or a trailing `/`)"),
        "." | ".." => Err("must not contain `.` or `..` segments"),
        _ if segment.contains('\\') => Err("must not contain `\\`"),
        _ if segment.contains('\0') => Err("must not contain NUL"),
        _ if segment.chars().any(char::is_control) => Err("must not contain control characters"),
        _ => Ok(()),
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for ObjectKey {
    type Err = ArtifactError;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        ObjectKey::parse(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "projects/p1/runs/r1/model.pkl",
            "dir/file with spaces.txt",
            "ünïcødé/名前.csv",
            "100%.txt",
            "a..b/...c/.hidden",
            "report%20final.pdf",
        ] {
            ObjectKey::parse(key).unwrap_or_else(|error| panic!("{key}: {error}"));
        }
    }

    #[test]
    fn refuses_every_escape() {
        let long = "a".repeat(MAX_KEY_BYTES + 1);
        for key in [
            "",
            "/etc/passwd",
            "..",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\..\\b",
            "..\\x",
            "a\0b",
            "a\nb",
            "%2e%2e/x",
            "%2E%2E/x",
            "a/%2e%2e%2fx",
            "a%2fb",
            "%252e%252e/x",
            "%25252e%25252e/x",
            "a%5c..",
            "a%00b",
            ".%2e",
            long.as_str(),
        ] {
            let result = ObjectKey::parse(key);
            assert!(result.is_err(), "{key:?} was accepted");
        }
    }

    #[test]
    fn errors_name_the_key_and_reason() {
        let error = ObjectKey::parse("a/../b").unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid object key `a/../b`: must not contain `.` or `..` segments"
        );
        let error = ObjectKey::parse("%2e%2e/x").unwrap_err().to_string();
        assert!(error.contains("once percent-decoded"), "{error}");
    }

    #[test]
    fn join_validates_the_child() {
        let base = ObjectKey::parse("projects/p1").unwrap();
        assert_eq!(
            base.join("runs/r1").unwrap().as_str(),
            "projects/p1/runs/r1"
        );
        assert!(base.join("../p2").is_err());
        assert!(base.join("/abs").is_err());
    }
}
