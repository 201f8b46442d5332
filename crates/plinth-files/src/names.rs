//! How S3 names map onto Plinth: a bucket is a project, named `{organization}.{project}`;
//! an object key is checked before it can reach the object store, where it lives under
//! the project's own prefix (`projects/{project_id}/files/{key}`). Pure functions.
//!
//! Organization and project names are lower-case letters, digits and `-`, so the `.`
//! cannot occur in either and the mapping goes both ways without ambiguity.

use plinth_artifacts::ObjectKey;
use plinth_types::ResourceName;
use rand::distributions::{Alphanumeric, DistString, Distribution, Uniform};

use crate::error::{FilesError, FilesResult};

/// Longest object key accepted, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// The prefix every access key id starts with.
pub const ACCESS_KEY_PREFIX: &str = "PLK";

/// Returns the bucket name of project `project` of `organization`.
pub fn bucket_name(organization: &str, project: &str) -> String {
    format!("{organization}.{project}")
}

/// Returns the organization and project a bucket name stands for, or `None` when the name
/// cannot be one of Plinth's buckets (which the endpoint answers with `NoSuchBucket`).
pub fn parse_bucket(bucket: &str) -> Option<(String, String)> {
    let (organization, project) = bucket.split_once('.')?;
    ResourceName::parse("organization", organization).ok()?;
    ResourceName::parse("project", project).ok()?;
    Some((organization.to_string(), project.to_string()))
}

/// Returns whether the S3 layer should accept `bucket` as a name at all (s3s checks names
/// before any handler; Plinth's are up to 127 bytes, longer than S3's 63).
pub fn is_acceptable_bucket_name(bucket: &str) -> bool {
    parse_bucket(bucket).is_some()
}

/// Checks an object key as an S3 client sent it (already percent-decoded by the HTTP
/// layer): at most 1024 bytes, no NUL or control characters, no `.`/`..` or empty
/// segments, no `\`, nothing that decodes into one of these (`%2e%2e`, `%2f`, `%00`).
/// Keys ending in `/` (the "folder" markers some tools write) are refused too: the
/// object store keeps folders implicit.
pub fn object_key(key: &str) -> FilesResult<ObjectKey> {
    if key.len() > MAX_KEY_BYTES {
        return Err(FilesError::KeyTooLong);
    }
    if key.is_empty() {
        return Err(FilesError::InvalidKey("the key is empty".to_string()));
    }
    ObjectKey::parse(key).map_err(|error| match error {
        plinth_artifacts::ArtifactError::InvalidKey { reason, .. } => {
            FilesError::InvalidKey(format!("`{}` {reason}", key.escape_debug()))
        }
        other => FilesError::Artifact(other),
    })
}

/// Returns the directory part of an S3 listing prefix that can be listed in the store:
/// `data/2024/ja` → `data/2024`. `None` lists the whole bucket (a prefix without `/`, or
/// one whose directory part is not a valid key, which then simply matches nothing more).
pub fn listing_directory(prefix: &str) -> Option<ObjectKey> {
    let (directory, _) = prefix.rsplit_once('/')?;
    ObjectKey::parse(directory).ok()
}

/// Returns a new access key id: `PLK` and 17 upper-case letters and digits (20 like AWS's).
pub fn new_access_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rngs::OsRng;
    let pick = Uniform::from(0..ALPHABET.len());
    let tail: String = (0..17)
        .map(|_| char::from(ALPHABET[pick.sample(&mut rng)]))
        .collect();
    format!("{ACCESS_KEY_PREFIX}{tail}")
}

/// Returns a new secret access key: 40 letters and digits (≈ 238 bits).
pub fn new_secret_access_key() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 40)
}

/// Returns whether `id` has the form of an access key id (so a lookup is worth doing).
pub fn is_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with(ACCESS_KEY_PREFIX)
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Splits `organization/project`.
pub fn parse_project_ref(text: &str) -> FilesResult<(String, String)> {
    let reason = "must be `organization/project`";
    let (organization, project) = text
        .split_once('/')
        .ok_or_else(|| crate::error::invalid("project", reason))?;
    ResourceName::parse("project", organization)
        .and_then(|_| ResourceName::parse("project", project))
        .map_err(|error| crate::error::invalid("project", format!("{reason}: {}", error.reason)))?;
    Ok((organization.to_string(), project.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_map_both_ways() {
        let name = bucket_name("acme", "vision-2");
        assert_eq!(name, "acme.vision-2");
        assert_eq!(
            parse_bucket(&name),
            Some(("acme".to_string(), "vision-2".to_string()))
        );
        // Longest names: 63 + 1 + 63 bytes, beyond S3's 63 but still one of ours.
        let long = "a".repeat(63);
        assert!(is_acceptable_bucket_name(&bucket_name(&long, &long)));
    }

    #[test]
    fn foreign_bucket_names_are_not_projects() {
        for bucket in [
            "acme",
            "acme.",
            ".acme",
            "acme.vision.extra",
            "Acme.vision",
            "acme.vision-",
            "acme.1vision",
            "acme/vision",
            "acme..vision",
            "",
        ] {
            assert_eq!(parse_bucket(bucket), None, "{bucket:?}");
        }
    }

    #[test]
    fn keys_that_could_escape_are_refused() {
        for key in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "a/./b",
            "./a",
            "a//b",
            "/abs",
            "dir/",
            "a\0b",
            "a\\..\\b",
            "%2e%2e/x",
            "a%2fb",
            "x/%252e%252e/b",
            "a%00b",
            "tab\there",
            "",
        ] {
            assert!(object_key(key).is_err(), "{key:?} was accepted");
        }
        assert!(matches!(
            object_key(&"k".repeat(1025)),
            Err(FilesError::KeyTooLong)
        ));
    }

    #[test]
    fn ordinary_keys_are_kept_as_sent() {
        for key in [
            "a",
            "data/2024/file.csv",
            "with space/and+plus=eq&amp",
            "ünïcødé/ключ",
            "dots.in.names/..hidden",
            &"k".repeat(1024),
        ] {
            assert_eq!(object_key(key).expect(key).as_str(), key);
        }
    }

    #[test]
    fn listing_directories_are_the_prefix_up_to_its_last_slash() {
        assert_eq!(
            listing_directory("data/2024/ja").unwrap().as_str(),
            "data/2024"
        );
        assert_eq!(listing_directory("data/").unwrap().as_str(), "data");
        assert_eq!(listing_directory("data"), None);
        assert_eq!(listing_directory(""), None);
        assert_eq!(listing_directory("../x"), None);
    }

    #[test]
    fn access_key_ids_and_secrets_have_their_form() {
        let id = new_access_key_id();
        assert!(is_access_key_id(&id), "{id}");
        assert_ne!(id, new_access_key_id());
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("PLKshort"));
        let secret = new_secret_access_key();
        assert_eq!(secret.len(), 40);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(secret, new_secret_access_key());
    }

    #[test]
    fn project_references_are_checked() {
        assert_eq!(
            parse_project_ref("acme/vision").unwrap(),
            ("acme".to_string(), "vision".to_string())
        );
        for bad in ["acme", "acme/", "/vision", "Acme/vision", "acme/vi/sion"] {
            assert!(parse_project_ref(bad).is_err(), "{bad}");
        }
    }
}
