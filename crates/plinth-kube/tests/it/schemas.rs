//! Every manifest the backend generates, checked against the official OpenAPI schemas of
//! each Kubernetes minor from 1.25 to the newest `kubernetes-validate` ships, strictly
//! (unknown fields are errors). `scripts/test` installs the validator into its venv and
//! points `PLINTH_KUBE_VALIDATE` at it; `scripts/lib/kube-validate.sh` runs the same check
//! by hand.

use std::collections::BTreeSet;
use std::process::Command;

/// The oldest Kubernetes minor the manifests must be valid for.
const OLDEST_MINOR: u32 = 25;

/// Returns the newest minor the validator has schemas for, from its `--help` ("Defaults
/// to 1.37.0").
fn newest_minor(validator: &str) -> u32 {
    let output = Command::new(validator)
        .arg("--help")
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{validator}`: {error} (set PLINTH_KUBE_VALIDATE to the kubernetes-validate binary)"));
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let version = help
        .split("Defaults to ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("`{validator} --help` names no default version: {help}"));
    let mut parts = version.split('.');
    assert_eq!(parts.next(), Some("1"), "{version}");
    parts
        .next()
        .and_then(|minor| minor.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the minor of `{version}`"))
}

#[test]
#[ignore = "needs kubernetes-validate (run by scripts/test)"]
fn every_generated_manifest_matches_the_schemas_of_every_minor_from_1_25() {
    let validator =
        std::env::var("PLINTH_KUBE_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".to_string());
    let dir = tempfile::tempdir().unwrap();
    let paths = plinth_kube::samples::write_sample_manifests(dir.path()).unwrap();
    let newest = newest_minor(&validator);
    assert!(
        newest >= 33,
        "kubernetes-validate is too old: its newest schema is 1.{newest}"
    );
    let minors: Vec<u32> = (OLDEST_MINOR..=newest).collect();

    let mut command = Command::new(&validator);
    command.arg("--strict");
    for minor in &minors {
        command
            .arg("--kubernetes-version")
            .arg(format!("1.{minor}"));
    }
    command.args(&paths);
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A removed or unknown apiVersion is only a warning to the validator, with exit code
    // 0; here it is a failure like any other.
    let problems: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("INFO ") || line.contains("Couldn't find schema"))
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(
        output.status.success() && problems.is_empty(),
        "kubernetes-validate failed ({}):\n{}",
        output.status,
        problems.join("\n")
    );

    // Every file passed against every minor, each against its own schema (the validator
    // silently falls back to an older one when it lacks the one asked for).
    let passed: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("INFO ")?;
            let (file, rest) = rest.split_once(" passed for resource ")?;
            let (_, version) = rest.rsplit_once(" against version ")?;
            Some((file.to_string(), version.trim().to_string()))
        })
        .collect();
    for path in &paths {
        for minor in &minors {
            let key = (path.display().to_string(), format!("1.{minor}"));
            assert!(
                passed.contains(&key),
                "no pass for {} against 1.{minor}:\n{text}",
                key.0
            );
        }
    }
    assert_eq!(passed.len(), paths.len() * minors.len());
    println!(
        "{} manifests × {} minors validated (1.{OLDEST_MINOR}–1.{newest})",
        paths.len(),
        minors.len()
    );
}
