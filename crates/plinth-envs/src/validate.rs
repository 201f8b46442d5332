//! Checks of what users send: names, references, Python versions, requirements, apt
//! packages, images and variables. Each error names the field and says what would work.

use plinth_types::EnvironmentSpec;

use crate::error::{invalid, EnvResult};

/// Longest environment name.
pub const MAX_NAME_LEN: usize = 63;
/// Largest `requirements` text, bytes.
pub const MAX_REQUIREMENTS_BYTES: usize = 64 * 1024;
/// Most `packages`, `apt_packages` or `env` entries.
pub const MAX_ITEMS: usize = 500;

/// Variables an environment may not set: the platform sets them for every workload.
const RESERVED_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "VIRTUAL_ENV",
    "PYTHONHOME",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "TMPDIR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_TOKEN",
];

/// Checks an environment name: 1–63 lower-case letters, digits, `-`, `_` or `.`, starting
/// with a letter or digit (so it is safe in paths, image names and URLs).
pub fn validate_name(name: &str) -> EnvResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !ok {
        return Err(invalid(
            "name",
            format!(
                "`{}` must be 1–{MAX_NAME_LEN} lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// A reference to an environment: `NAME` (its latest version) or `NAME:VERSION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentRef {
    /// The environment's name.
    pub name: String,
    /// The pinned version; `None` is the latest.
    pub version: Option<u32>,
}

impl EnvironmentRef {
    /// Parses `NAME` or `NAME:VERSION`.
    pub fn parse(text: &str) -> EnvResult<EnvironmentRef> {
        let (name, version) = match text.split_once(':') {
            None => (text, None),
            Some((name, version)) => {
                let parsed = version
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v >= 1 && !version.starts_with('+'))
                    .ok_or_else(|| {
                        invalid(
                            "env",
                            format!(
                                "`{}`: the version after `:` must be a whole number from 1 (`{name}:3`)",
                                text.escape_debug()
                            ),
                        )
                    })?;
                (name, Some(parsed))
            }
        };
        validate_name(name).map_err(|_| {
            invalid(
                "env",
                format!(
                    "`{}` must be NAME or NAME:VERSION, NAME being lower-case letters, digits, `-`, `_` or `.`",
                    text.escape_debug()
                ),
            )
        })?;
        Ok(EnvironmentRef {
            name: name.to_string(),
            version,
        })
    }
}

impl std::fmt::Display for EnvironmentRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(version) => write!(formatter, "{}:{version}", self.name),
            None => formatter.write_str(&self.name),
        }
    }
}

/// Checks a Python version: `3.N` or `3.N.P`.
pub fn validate_python(python: &str) -> EnvResult<()> {
    let parts: Vec<&str> = python.split('.').collect();
    let numeric = |part: &&str| {
        !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !(parts.len() == 2 || parts.len() == 3) || parts[0] != "3" || !parts.iter().all(numeric) {
        return Err(invalid(
            "python",
            format!(
                "`{}` is not a Python version: give `3.N` or `3.N.P`, such as `3.11`",
                python.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// Checks one requirement (a `requirements.txt` line or a `--package`): a PEP 508
/// requirement, not a pip option and not a local path.
fn validate_requirement(field: &'static str, line: &str) -> EnvResult<()> {
    let shown = line.escape_debug();
    let first = line.bytes().next().unwrap_or(b' ');
    if first == b'-' {
        return Err(invalid(
            field,
            format!("`{shown}`: pip options (`-r`, `-e`, `--index-url` …) are not accepted; give requirements such as `pandas>=2`"),
        ));
    }
    if !first.is_ascii_alphanumeric() {
        return Err(invalid(
            field,
            format!("`{shown}` must start with a package name, such as `pandas>=2`"),
        ));
    }
    if line.contains("file:") || line.contains(" @ /") || line.contains(" @ .") {
        return Err(invalid(
            field,
            format!("`{shown}`: local files and folders cannot be installed; publish the package to an index"),
        ));
    }
    if line.chars().any(|c| c.is_control()) {
        return Err(invalid(
            field,
            format!("`{shown}` contains a control character"),
        ));
    }
    Ok(())
}

/// Returns the requirement lines of a `requirements.txt` text: comments, blank lines and
/// trailing comments removed.
pub fn requirement_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| match line.find(" #") {
            Some(index) => &line[..index],
            None => line,
        })
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// Checks a whole spec; `apt_allowed` is false on the local backend, where system
/// packages cannot be installed.
pub fn validate_spec(spec: &EnvironmentSpec, apt_allowed: bool) -> EnvResult<()> {
    validate_python(&spec.python)?;
    if spec.requirements.len() > MAX_REQUIREMENTS_BYTES {
        return Err(invalid(
            "requirements",
            format!(
                "is {} bytes; at most {MAX_REQUIREMENTS_BYTES} are accepted",
                spec.requirements.len()
            ),
        ));
    }
    for line in requirement_lines(&spec.requirements) {
        validate_requirement("requirements", line)?;
    }
    for (field, items) in [
        ("packages", &spec.packages),
        ("apt_packages", &spec.apt_packages),
    ] {
        if items.len() > MAX_ITEMS {
            return Err(invalid(
                field,
                format!("at most {MAX_ITEMS} entries are accepted"),
            ));
        }
    }
    for package in &spec.packages {
        if package.contains(['\n', '\r']) {
            return Err(invalid(
                "packages",
                format!("`{}` must be one requirement", package.escape_debug()),
            ));
        }
        validate_requirement("packages", package.trim())?;
    }
    for package in &spec.apt_packages {
        let ok = package.len() >= 2
            && package.len() <= 100
            && package.as_bytes()[0].is_ascii_alphanumeric()
            && package
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
        if !ok {
            return Err(invalid(
                "apt_packages",
                format!(
                    "`{}` is not a Debian package name (lower-case letters, digits, `+`, `.`, `-`)",
                    package.escape_debug()
                ),
            ));
        }
    }
    if let (false, Some(package)) = (apt_allowed, spec.apt_packages.first()) {
        return Err(invalid(
            "apt_packages",
            format!("`{package}`: system packages cannot be installed on the local backend, where environments are Python virtual environments on the host; ask an admin to install it on the host, or use the Kubernetes backend"),
        ));
    }
    if let Some(image) = &spec.base_image {
        let ok = !image.is_empty()
            && image.len() <= 255
            && image.as_bytes()[0].is_ascii_alphanumeric()
            && image
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./:_@-".contains(&b));
        if !ok {
            return Err(invalid(
                "base_image",
                format!("`{}` is not an image reference such as `python:3.11-slim` or `registry.example/team/base@sha256:…`", image.escape_debug()),
            ));
        }
    }
    if spec.env.len() > MAX_ITEMS {
        return Err(invalid(
            "env",
            format!("at most {MAX_ITEMS} variables are accepted"),
        ));
    }
    for (key, value) in &spec.env {
        let ok = !key.is_empty()
            && key.len() <= 128
            && !key.as_bytes()[0].is_ascii_digit()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(invalid(
                "env",
                format!(
                    "`{}` is not a variable name (letters, digits, `_`)",
                    key.escape_debug()
                ),
            ));
        }
        if RESERVED_VARIABLES.contains(&key.as_str())
            || key.starts_with("PLINTH_")
            || key.starts_with("UV_")
        {
            return Err(invalid(
                "env",
                format!("`{key}` is set by the platform and cannot be set by an environment"),
            ));
        }
        if value.len() > 4096 || value.contains('\0') {
            return Err(invalid(
                "env",
                format!("the value of `{key}` must be at most 4096 bytes without NUL"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EnvironmentSpec {
        EnvironmentSpec {
            python: "3.11".to_string(),
            ..EnvironmentSpec::default()
        }
    }

    fn field_of(result: EnvResult<()>) -> &'static str {
        match result {
            Err(crate::EnvError::InvalidArgument { field, .. }) => field,
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn names_are_checked() {
        for good in ["default", "train-gpu", "a", "py3.11_x"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "Default",
            "-x",
            "a/b",
            "..",
            ".x",
            "a b",
            &"x".repeat(64),
        ] {
            assert_eq!(field_of(validate_name(bad)), "name", "{bad}");
        }
    }

    #[test]
    fn references_pin_versions() {
        assert_eq!(
            EnvironmentRef::parse("train:3").unwrap(),
            EnvironmentRef {
                name: "train".into(),
                version: Some(3)
            }
        );
        assert_eq!(EnvironmentRef::parse("train").unwrap().version, None);
        for bad in [
            "train:", "train:0", "train:x", "train:+3", "Train", ":3", "a:1:2",
        ] {
            assert_eq!(
                field_of(EnvironmentRef::parse(bad).map(drop)),
                "env",
                "{bad}"
            );
        }
        assert_eq!(EnvironmentRef::parse("a:7").unwrap().to_string(), "a:7");
    }

    #[test]
    fn python_versions_are_checked() {
        for good in ["3.11", "3.12.1", "3.9"] {
            validate_python(good).unwrap();
        }
        for bad in ["", "3", "2.7", "3.x", "python3.11", "3.11.1.1", " 3.11"] {
            assert_eq!(field_of(validate_python(bad)), "python", "{bad}");
        }
    }

    #[test]
    fn requirements_refuse_options_and_local_paths() {
        let mut good = spec();
        good.requirements = "# a comment\npandas>=2  # trailing\n\nscikit-learn==1.5.2\nrequests[socks] ; python_version >= '3.8'\n".into();
        validate_spec(&good, false).unwrap();
        assert_eq!(requirement_lines(&good.requirements).len(), 3);
        for bad in [
            "-r other.txt",
            "--index-url http://x",
            "-e .",
            "./pkg",
            "pkg @ file:///etc",
            "pkg @ /srv/pkg",
        ] {
            let mut spec = spec();
            spec.requirements = bad.to_string();
            assert_eq!(
                field_of(validate_spec(&spec, false)),
                "requirements",
                "{bad}"
            );
            let mut spec = self::spec();
            spec.packages = vec![bad.to_string()];
            assert_eq!(field_of(validate_spec(&spec, false)), "packages", "{bad}");
        }
    }

    #[test]
    fn apt_packages_are_refused_on_the_local_backend() {
        let mut with_apt = spec();
        with_apt.apt_packages = vec!["libgomp1".into()];
        let error = validate_spec(&with_apt, false).unwrap_err().to_string();
        assert!(
            error.contains("apt_packages")
                && error.contains("libgomp1")
                && error.contains("local backend"),
            "{error}"
        );
        validate_spec(&with_apt, true).unwrap();
        with_apt.apt_packages = vec!["Bad Name".into()];
        assert_eq!(field_of(validate_spec(&with_apt, true)), "apt_packages");
    }

    #[test]
    fn images_and_variables_are_checked() {
        let mut spec = spec();
        spec.base_image = Some("python:3.11-slim".into());
        spec.env.insert("OMP_NUM_THREADS".into(), "1".into());
        validate_spec(&spec, true).unwrap();
        spec.base_image = Some("no spaces allowed".into());
        assert_eq!(field_of(validate_spec(&spec, true)), "base_image");
        spec.base_image = None;
        for key in ["PATH", "PLINTH_TOKEN", "1X", "A-B", "UV_INDEX_URL"] {
            let mut spec = spec.clone();
            spec.env.insert(key.into(), "x".into());
            assert_eq!(field_of(validate_spec(&spec, true)), "env", "{key}");
        }
    }
}
