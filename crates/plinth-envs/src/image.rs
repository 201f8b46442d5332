//! Image builds (the Kubernetes backend): the Dockerfile Plinth generates from a version's
//! spec and lock, and where the image goes.
//!
//! Pure functions: the service hands their output to an [`plinth_executor::ImageBuilder`]
//! (a BuildKit Job on Kubernetes), the tests build it for real with buildah.

use plinth_types::{EnvironmentLock, EnvironmentSpec};

use crate::error::{invalid, EnvResult};

/// The file the lock is copied into the build context as.
pub const LOCK_FILE: &str = "requirements.lock";
/// The file name of the generated Dockerfile in the build context.
pub const DOCKERFILE: &str = "Dockerfile";
/// Where the environment's virtual environment lives in the image.
pub const IMAGE_VENV: &str = "/opt/plinth/venv";
/// The user workloads run as in the image (no name needed: numeric ids work without an
/// `/etc/passwd` entry, so any base image will do).
pub const IMAGE_UID: u32 = 1000;
/// The home folder of [`IMAGE_UID`].
pub const IMAGE_HOME: &str = "/home/plinth";

/// How image builds are set up; from the `[environments.images]` configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSettings {
    /// The registry images are pushed to (`registry.example.com:5000`, optionally with a
    /// path prefix: `registry.example.com/team`); no scheme.
    pub registry: String,
    /// The base image of a version that names none; `{python}` is replaced by the lock's
    /// `major.minor` Python version (`python:{python}-slim-bookworm`).
    pub default_base_image: String,
    /// Talk to the registry over plain HTTP (a registry inside the cluster or a test's).
    pub insecure: bool,
}

/// The base image of a build: the version's, else the configured default for its Python.
pub fn base_image(
    spec: &EnvironmentSpec,
    lock: &EnvironmentLock,
    settings: &ImageSettings,
) -> String {
    match &spec.base_image {
        Some(image) => image.clone(),
        None => {
            let minor = lock
                .python_version
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            settings.default_base_image.replace("{python}", &minor)
        }
    }
}

/// The repository of an environment's images: `{registry}/plinth/{scope}/{name}`, where the
/// scope is the project's id or `global`. Environment names are `a-z 0-9 - _ .` (checked at
/// create time), which are all valid in a repository path component except a leading or
/// doubled separator; those are replaced.
pub fn image_repository(registry: &str, scope: &str, name: &str) -> String {
    let scope = if scope.is_empty() { "global" } else { scope };
    let mut component = String::with_capacity(name.len());
    for character in name.chars() {
        let separator = matches!(character, '.' | '_' | '-');
        let last_separator = component
            .chars()
            .last()
            .is_none_or(|last| matches!(last, '.' | '_' | '-'));
        if separator && last_separator {
            // `a..b` or a leading `-` are not repository names; `a-b` is.
            component.push('x');
        }
        component.push(character.to_ascii_lowercase());
    }
    if component.ends_with(['.', '_', '-']) {
        component.push('x');
    }
    format!(
        "{}/plinth/{}/{component}",
        registry.trim_end_matches('/'),
        scope.to_ascii_lowercase()
    )
}

/// The tag of a lock's image: its hash (64 hex digits; tags allow 128).
pub fn image_tag(lock_hash: &str) -> String {
    lock_hash.to_string()
}

/// Quotes `value` for a Dockerfile `ENV` instruction: double quotes, with `\`, `"` and `$`
/// escaped (the parser substitutes variables in `ENV`).
fn dockerfile_quote(field: &'static str, key: &str, value: &str) -> EnvResult<String> {
    if value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("the value of `{key}` has a control character (a line break?); image builds cannot set it"),
        ));
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        if matches!(character, '\\' | '"' | '$') {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted.push('"');
    Ok(quoted)
}

/// The Dockerfile of a version's image: the base image, its apt packages, a virtual
/// environment at [`IMAGE_VENV`] holding exactly the lock (pip with `--require-hashes
/// --no-deps`: every archive checked against the lock's hashes, nothing else installed),
/// the version's variables, and a non-root user ([`IMAGE_UID`]).
///
/// The build context holds this file as [`DOCKERFILE`] and the lock's requirements as
/// [`LOCK_FILE`]. pip (from the base image's `python3 -m venv`) installs rather than uv,
/// because a base image has a Python but seldom uv, and nothing is fetched from a public
/// image registry (no `# syntax=` line, no second stage).
pub fn dockerfile(
    spec: &EnvironmentSpec,
    lock: &EnvironmentLock,
    settings: &ImageSettings,
) -> EnvResult<String> {
    let base = base_image(spec, lock, settings);
    let mut text = String::new();
    text.push_str("# Generated by Plinth from an environment version and its lock; do not edit.\n");
    text.push_str(&format!("FROM {base}\n"));
    text.push_str("USER 0:0\n");
    if !spec.apt_packages.is_empty() {
        let mut packages = spec.apt_packages.clone();
        packages.sort();
        packages.dedup();
        text.push_str(&format!(
            "RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} \\\n && rm -rf /var/lib/apt/lists/*\n",
            packages.join(" ")
        ));
    }
    text.push_str(&format!("COPY {LOCK_FILE} /opt/plinth/{LOCK_FILE}\n"));
    text.push_str(&format!(
        "RUN python3 -m venv {IMAGE_VENV} \\\n && {IMAGE_VENV}/bin/python -m pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r /opt/plinth/{LOCK_FILE} \\\n && mkdir -p {IMAGE_HOME} && chown {IMAGE_UID}:{IMAGE_UID} {IMAGE_HOME}\n"
    ));
    text.push_str(&format!(
        "ENV VIRTUAL_ENV={IMAGE_VENV} PATH={IMAGE_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME={IMAGE_HOME}\n"
    ));
    for (key, value) in &spec.env {
        text.push_str(&format!(
            "ENV {key}={}\n",
            dockerfile_quote("env", key, value)?
        ));
    }
    text.push_str(&format!(
        "WORKDIR {IMAGE_HOME}\nUSER {IMAGE_UID}:{IMAGE_UID}\n"
    ));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings() -> ImageSettings {
        ImageSettings {
            registry: "registry.example.com:5000".to_string(),
            default_base_image: "python:{python}-slim-bookworm".to_string(),
            insecure: false,
        }
    }

    fn lock() -> EnvironmentLock {
        EnvironmentLock {
            format: 1,
            uv_version: "0.13.10".to_string(),
            python_version: "3.11.2".to_string(),
            platform: "linux-x86_64".to_string(),
            requirements: "six==1.17.0 \\\n    --hash=sha256:aa\n".to_string(),
            packages: Vec::new(),
        }
    }

    fn spec() -> EnvironmentSpec {
        EnvironmentSpec {
            python: "3.11".to_string(),
            packages: vec!["six".to_string()],
            ..EnvironmentSpec::default()
        }
    }

    #[test]
    fn the_default_base_image_follows_the_locks_python() {
        let text = dockerfile(&spec(), &lock(), &settings()).unwrap();
        assert!(
            text.contains("\nFROM python:3.11-slim-bookworm\n"),
            "{text}"
        );
        let mut own = spec();
        own.base_image = Some("localhost/python:3.11-bookworm".to_string());
        let text = dockerfile(&own, &lock(), &settings()).unwrap();
        assert!(
            text.contains("\nFROM localhost/python:3.11-bookworm\n"),
            "{text}"
        );
    }

    #[test]
    fn the_lock_is_installed_with_hash_checking_and_nothing_else() {
        let text = dockerfile(&spec(), &lock(), &settings()).unwrap();
        assert!(text.contains("COPY requirements.lock /opt/plinth/requirements.lock\n"));
        assert!(text.contains(
            "pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r /opt/plinth/requirements.lock"
        ));
        // No network fetch of a frontend or second image.
        assert!(!text.contains("# syntax"));
        assert_eq!(text.matches("FROM ").count(), 1);
        // No apt step without apt packages.
        assert!(!text.contains("apt-get"));
    }

    #[test]
    fn apt_packages_are_installed_sorted_once_as_root_and_the_image_runs_as_a_user() {
        let mut with_apt = spec();
        with_apt.apt_packages = vec![
            "libgomp1".to_string(),
            "curl".to_string(),
            "curl".to_string(),
        ];
        let text = dockerfile(&with_apt, &lock(), &settings()).unwrap();
        assert!(
            text.contains("apt-get install -y --no-install-recommends curl libgomp1 \\"),
            "{text}"
        );
        let root = text.find("USER 0:0").unwrap();
        let apt = text.find("apt-get update").unwrap();
        let user = text.rfind("USER 1000:1000").unwrap();
        assert!(root < apt && apt < user);
        assert!(
            text.trim_end().ends_with("USER 1000:1000"),
            "the last word is the user: {text}"
        );
    }

    #[test]
    fn variables_are_quoted_against_substitution_and_control_characters_refused() {
        let mut with_env = spec();
        with_env.env = BTreeMap::from([
            (
                "GREETING".to_string(),
                "say \"hi\" to $USER \\ now".to_string(),
            ),
            ("OMP_NUM_THREADS".to_string(), "1".to_string()),
        ]);
        let text = dockerfile(&with_env, &lock(), &settings()).unwrap();
        assert!(
            text.contains("ENV GREETING=\"say \\\"hi\\\" to \\$USER \\\\ now\"\n"),
            "{text}"
        );
        assert!(text.contains("ENV OMP_NUM_THREADS=\"1\"\n"));
        assert!(text.contains("ENV VIRTUAL_ENV=/opt/plinth/venv PATH=/opt/plinth/venv/bin:"));
        with_env
            .env
            .insert("BAD".to_string(), "two\nlines".to_string());
        let error = dockerfile(&with_env, &lock(), &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`env`") && error.contains("`BAD`"),
            "{error}"
        );
    }

    #[test]
    fn image_repositories_are_valid_names_per_scope() {
        assert_eq!(
            image_repository("registry.example.com:5000/", "p1", "train-env"),
            "registry.example.com:5000/plinth/p1/train-env"
        );
        assert_eq!(
            image_repository("r.example", "", "Default"),
            "r.example/plinth/global/default"
        );
        // Leading, doubled and trailing separators are not repository components.
        assert_eq!(image_repository("r", "p", "_x..y-"), "r/plinth/p/x_x.x.y-x");
        assert_eq!(image_tag(&"a".repeat(64)).len(), 64);
    }
}
