//! The Kubernetes backend's image build, for real: the Dockerfile Plinth generates for a
//! lock resolved by the real uv is built with buildah from the local base image, pushed to
//! a local registry, the digest Plinth records is the registry's (and buildah's), a second
//! build — or a server that forgot its record — builds nothing, and the image runs with
//! podman with the lock's package importable. Needs `PLINTH_TEST_BASE_IMAGE`,
//! `PLINTH_TEST_REGISTRY` and `CONTAINERS_CONF` (`setup_containers`, scripts/test).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use plinth_envs::image::ImageSettings;
use plinth_envs::registry::RegistryClient;
use plinth_envs::EnvironmentStore as _;
use plinth_executor::{BuiltImage, ExecError, ExecResult, ImageBuildSpec, ImageBuilder};

use super::*;

/// Builds with `buildah bud` and pushes with `buildah push`, as the BuildKit Job does on a
/// cluster; counts its builds.
struct BuildahBuilder {
    builds: AtomicUsize,
    work: tempfile::TempDir,
}

fn run(command: &mut Command) -> ExecResult<String> {
    let output = command.output().map_err(|error| ExecError::CannotStart {
        command: format!("{command:?}"),
        reason: error.to_string(),
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(ExecError::CannotStart {
            command: format!("{command:?}"),
            reason: text,
        })
    }
}

#[async_trait::async_trait]
impl ImageBuilder for BuildahBuilder {
    async fn registry_credentials(&self) -> ExecResult<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn build(&self, spec: ImageBuildSpec) -> ExecResult<BuiltImage> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        let context = self.work.path().join(&spec.id);
        fs_err::create_dir_all(&context).unwrap();
        for (name, text) in &spec.context {
            fs_err::write(context.join(name), text).unwrap();
        }
        let digest_file = context.join(".digest");
        let image = spec.image.clone();
        tokio::task::spawn_blocking(move || {
            let mut log = run(Command::new("buildah")
                .args(["bud", "--network", "host", "--layers=false", "-t", &image])
                .arg(&context))?;
            log.push_str(&run(Command::new("buildah")
                .args(["push", "--tls-verify=false", "--digestfile"])
                .arg(&digest_file)
                .arg(&image)
                .arg(format!("docker://{image}")))?);
            let digest = fs_err::read_to_string(&digest_file)
                .ok()
                .map(|d| d.trim().to_string());
            Ok(BuiltImage { digest, log })
        })
        .await
        .unwrap()
    }
}

fn need(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (setup_containers)"))
}

#[tokio::test]
#[ignore = "needs buildah, podman, a local registry and the package index; scripts/test runs it"]
async fn the_generated_dockerfile_builds_pushes_and_runs_with_the_recorded_digest() {
    let base = need("PLINTH_TEST_BASE_IMAGE");
    let registry = need("PLINTH_TEST_REGISTRY");
    need("CONTAINERS_CONF");
    let fixture = fixture().await;
    let mut settings = fixture.settings();
    settings.apt_allowed = true;
    settings.images = Some(ImageSettings {
        registry: registry.clone(),
        default_base_image: "python:{python}-slim-bookworm".to_string(),
        insecure: true,
    });
    let service = fixture.service(settings);
    let builder = Arc::new(BuildahBuilder {
        builds: AtomicUsize::new(0),
        work: tempfile::tempdir().unwrap(),
    });
    service.set_image_builds(builder.clone(), fixture.executor.clone());
    let mut request = spec(&["six==1.17.0"]);
    request.base_image = Some(base.clone());
    request.env = BTreeMap::from([("GREETING".to_string(), "hi $USER".to_string())]);
    service
        .create(&fixture.alice, Some(&fixture.pass), "six-env", request)
        .await
        .unwrap();

    let (resolved, build) = service
        .build(&fixture.alice, Some(&fixture.pass), "six-env")
        .await
        .unwrap();
    assert_eq!(build.state, BuildState::Ready, "{build:?}");
    assert_eq!(builder.builds.load(Ordering::SeqCst), 1);
    let scope = fixture.pass.project().id.clone();
    let repository = format!("{registry}/plinth/{scope}/six-env");
    let image = build.image.clone().expect("the digest is recorded");
    let (recorded_repository, digest) = image.split_once('@').unwrap();
    assert_eq!(recorded_repository, repository);
    // Buildah's digest (what it pushed) is the one recorded…
    let pushed = fs_err::read_to_string(
        fs_err::read_dir(builder.work.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join(".digest"),
    )
    .unwrap();
    assert_eq!(pushed.trim(), digest);
    // …and the registry's, asked directly (curl) and through Plinth's client.
    let headers = Command::new("curl")
        .args([
            "-fsSI",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!(
            "http://{registry}/v2/plinth/{scope}/six-env/manifests/{}",
            resolved.lock_hash
        ))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    assert!(
        headers.contains(&format!("docker-content-digest: {digest}")),
        "{headers}"
    );
    let client = RegistryClient::new(&registry, true, None).unwrap();
    assert_eq!(
        client
            .manifest_digest(&format!("plinth/{scope}/six-env"), &resolved.lock_hash)
            .await
            .unwrap()
            .as_deref(),
        Some(digest)
    );
    assert_eq!(
        client
            .manifest_digest(&format!("plinth/{scope}/six-env"), &"0".repeat(64))
            .await
            .unwrap(),
        None,
        "an unknown tag is absent, not an error"
    );

    // A second build uses the record; a server that lost it finds the image in the
    // registry: neither builds.
    let (_, again) = service
        .build(&fixture.alice, Some(&fixture.pass), "six-env")
        .await
        .unwrap();
    assert_eq!(again.image.as_deref(), Some(image.as_str()));
    let store = SqlEnvironmentStore::new(fixture.store.shared_pool());
    assert!(store
        .forget_build(&scope, &resolved.lock_hash, i64::MAX)
        .await
        .unwrap());
    let (_, found) = service
        .build(&fixture.alice, Some(&fixture.pass), "six-env")
        .await
        .unwrap();
    assert_eq!(found.image.as_deref(), Some(image.as_str()));
    assert_eq!(
        builder.builds.load(Ordering::SeqCst),
        1,
        "nothing was built again"
    );
    let logs = service.logs(Some(&fixture.pass), "six-env").await.unwrap();
    assert!(logs.contains("exists in the registry"), "{logs}");

    // A job in this environment runs the image by digest.
    let prepared = service
        .prepare_for_workload(&fixture.pass, Some("six-env"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prepared.image.as_deref(), Some(image.as_str()));
    assert!(prepared.read_only_paths.is_empty());

    // Pulled from the registry (the local copy removed first) and run without a network.
    let _ = Command::new("podman")
        .args(["rmi", "-f"])
        .arg(format!("{repository}:{}", resolved.lock_hash))
        .output();
    let pulled = Command::new("podman")
        .args(["pull", "--tls-verify=false", "-q"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let ran = Command::new("podman")
        .args(["run", "--rm", "--network", "none"])
        .arg(&image)
        .args([
            "python",
            "-c",
            "import os, sys, six; print(six.__version__, os.getuid(), sys.prefix, os.environ['GREETING'])",
        ])
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "1.17.0 1000 /opt/plinth/venv hi $USER"
    );
    let _ = Command::new("podman")
        .args(["rmi", "-f"])
        .arg(&image)
        .output();
}
