//! Service tests of tracking: project resolution, roles, experiment `0`, artifact paths and
//! sources, multipart uploads; on a temporary SQLite store and an in-memory object store.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use plinth_artifacts::ArtifactStore;
use plinth_auth::{HashingParams, PasswordHasher, SecretBox};
use plinth_metastore::testsuite::{open_sqlite_temp, TestStore};
use plinth_types::Role;

use super::registry::check_source;
use super::*;
use crate::{ClientInfo, Clock, IdentitySettings, NewAccount, NewTokenRequest, SystemClock};

const PASSWORD: &str = "violet-harbour-thimble-42";

struct Fixture {
    tracking: TrackingService,
    objects: ArtifactStore,
    store_shared: Arc<dyn plinth_metastore::MetadataStore>,
    identity: IdentityService,
    alice: Principal,
    vera: Principal,
    _store: TestStore,
}

impl Fixture {
    /// The pass of `principal` in project `project` of `lab`.
    async fn pass(&self, principal: &Principal, project: &str) -> TrackingPass {
        self.tracking
            .authorize(principal, &named(project))
            .await
            .unwrap()
    }
}

fn client() -> ClientInfo {
    ClientInfo::default()
}

async fn login(identity: &IdentityService, name: &str) -> Principal {
    let outcome = identity.login(name, PASSWORD, &client()).await.unwrap();
    let cookie = identity.start_session(&outcome, &client()).await.unwrap();
    identity.authenticate_session(&cookie.id).await.unwrap().0
}

async fn fixture() -> Fixture {
    let store = open_sqlite_temp().await;
    let identity = IdentityService::new(
        store.shared(),
        PasswordHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }),
        SecretBox::random(),
        IdentitySettings::default(),
        Arc::new(SystemClock),
    );
    identity
        .bootstrap_admin(Some(PASSWORD.to_string()))
        .await
        .unwrap();
    let admin = login(&identity, "admin").await;
    for name in ["alice", "vera"] {
        identity
            .create_user(
                &admin,
                &NewAccount {
                    username: name.to_string(),
                    email: format!("{name}@example.com"),
                    password: PASSWORD.to_string(),
                    ..NewAccount::default()
                },
                &client(),
            )
            .await
            .unwrap();
    }
    identity
        .create_organization(&admin, "lab", "Lab", Some("alice"), &client())
        .await
        .unwrap();
    let alice = login(&identity, "alice").await;
    for project in ["churn", "ads"] {
        identity
            .create_project(&alice, "lab", project, project, "", &client())
            .await
            .unwrap();
    }
    identity
        .set_project_member(&alice, "lab", "churn", "vera", Role::Viewer, &client())
        .await
        .unwrap();
    let vera = login(&identity, "vera").await;
    let objects = ArtifactStore::in_memory();
    let tracking = TrackingService::new(
        store.shared(),
        identity.clone(),
        objects.clone(),
        Arc::new(SystemClock),
    );
    Fixture {
        tracking,
        objects,
        store_shared: store.shared(),
        identity,
        alice,
        vera,
        _store: store,
    }
}

fn named(project: &str) -> ProjectSelector {
    ProjectSelector::Named {
        organization: "lab".to_string(),
        project: project.to_string(),
    }
}

fn body(text: &'static str) -> futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    futures::stream::iter([Ok(Bytes::from_static(text.as_bytes()))]).boxed()
}

#[tokio::test]
async fn projects_resolve_from_the_uri_or_the_scoped_token() {
    let f = fixture().await;
    // A personal token without a project in the URI names no project.
    let error = f
        .tracking
        .authorize(&f.alice, &ProjectSelector::FromToken)
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::InvalidArgument(_)), "{error}");
    let pass = f.pass(&f.alice, "churn").await;
    assert_eq!(pass.project().name.to_string(), "churn");

    let (_, secret) = f
        .identity
        .create_token(
            &f.alice,
            &NewTokenRequest {
                name: "job".to_string(),
                project: Some(("lab".to_string(), "ads".to_string())),
                ..NewTokenRequest::default()
            },
            &client(),
        )
        .await
        .unwrap();
    let scoped = f.identity.authenticate_token(&secret).await.unwrap();
    let pass = f
        .tracking
        .authorize(&scoped, &ProjectSelector::FromToken)
        .await
        .unwrap();
    assert_eq!(pass.project().name.to_string(), "ads");
    let error = f
        .tracking
        .authorize(&scoped, &named("churn"))
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::Forbidden(_)), "{error}");
    // Vera sees only churn.
    let error = f
        .tracking
        .authorize(&f.vera, &named("ads"))
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::NotFound { .. }), "{error}");
}

#[tokio::test]
async fn viewers_read_and_contributors_write() {
    let f = fixture().await;
    let owner = f.pass(&f.alice, "churn").await;
    let viewer = f.pass(&f.vera, "churn").await;
    let experiment = f
        .tracking
        .create_experiment(&owner, "exp", None, Vec::new())
        .await
        .unwrap();
    assert_eq!(
        experiment.artifact_location,
        format!("mlflow-artifacts:/{}", experiment.experiment_id)
    );
    let read = f
        .tracking
        .get_experiment(&viewer, &experiment.experiment_id.to_string())
        .await
        .unwrap();
    assert_eq!(read.name, "exp");
    let error = f
        .tracking
        .create_experiment(&viewer, "nope", None, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::Forbidden(_)), "{error}");
    let error = f
        .tracking
        .create_run(
            &viewer,
            RunRequest {
                experiment_id: "0".to_string(),
                ..RunRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::Forbidden(_)), "{error}");
}

#[tokio::test]
async fn experiment_zero_is_each_projects_default() {
    let f = fixture().await;
    let churn = f.pass(&f.alice, "churn").await;
    let ads = f.pass(&f.alice, "ads").await;
    let churn_default = f.tracking.get_experiment(&churn, "0").await.unwrap();
    let ads_default = f.tracking.get_experiment(&ads, "0").await.unwrap();
    assert_eq!(churn_default.name, "Default");
    assert!(churn_default.is_default);
    assert_ne!(churn_default.experiment_id, ads_default.experiment_id);
    let run = f
        .tracking
        .create_run(
            &churn,
            RunRequest {
                experiment_id: "0".to_string(),
                ..RunRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(run.info.experiment_id, churn_default.experiment_id);
    assert_eq!(run.info.user_id, "alice");
    // Another project's experiment is not found.
    let error = f
        .tracking
        .get_experiment(&ads, &churn_default.experiment_id.to_string())
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::Store(_)), "{error}");
    assert!(f.tracking.get_experiment(&ads, "abc").await.is_err());
}

#[tokio::test]
async fn artifact_locations_and_sources_stay_on_the_server() {
    let f = fixture().await;
    let pass = f.pass(&f.alice, "churn").await;
    for location in [
        "file:///etc",
        "s3://bucket/x",
        "mlflow-artifacts://evil.example/x",
        "mlflow-artifacts:/a/../../b",
    ] {
        let error = f
            .tracking
            .create_experiment(&pass, "bad", Some(location), Vec::new())
            .await
            .unwrap_err();
        assert!(
            matches!(error, CoreError::InvalidArgument(_)),
            "{location}: {error}"
        );
    }
    f.tracking
        .create_experiment(
            &pass,
            "good",
            Some("mlflow-artifacts:/custom/place"),
            Vec::new(),
        )
        .await
        .unwrap();
    for source in [
        "models:/m-0123",
        "runs:/abc/model",
        "mlflow-artifacts:/1/abc/artifacts/model",
    ] {
        check_source(source).unwrap_or_else(|error| panic!("{source}: {error}"));
    }
    for source in [
        "file:///etc/passwd",
        "/abs",
        "s3://b/k",
        "runs:/../x",
        "mlflow-artifacts://h/x",
    ] {
        assert!(check_source(source).is_err(), "{source}");
    }
    let error = f
        .tracking
        .create_model_version(
            &pass,
            NewModelVersion {
                name: "m".to_string(),
                source: "file:///etc".to_string(),
                ..NewModelVersion::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::InvalidArgument(_)), "{error}");
}

#[tokio::test]
async fn artifacts_are_kept_per_project_and_paths_cannot_escape() {
    let f = fixture().await;
    let churn = f.pass(&f.alice, "churn").await;
    let ads = f.pass(&f.alice, "ads").await;
    f.tracking
        .put_artifact(&churn, "1/r/artifacts/dir/a.txt", body("hello"))
        .await
        .unwrap();
    let listing = f
        .tracking
        .list_artifacts(&churn, "1/r/artifacts")
        .await
        .unwrap();
    assert_eq!(
        listing,
        vec![ArtifactFile {
            path: "dir".to_string(),
            is_dir: true,
            file_size: None
        }]
    );
    let (info, stream) = f
        .tracking
        .get_artifact(&churn, "1/r/artifacts/dir/a.txt")
        .await
        .unwrap();
    assert_eq!(info.size, 5);
    let bytes: Vec<Bytes> = stream.map(Result::unwrap).collect().await;
    assert_eq!(bytes.concat(), b"hello");
    // The other project does not see it.
    assert!(f
        .tracking
        .get_artifact(&ads, "1/r/artifacts/dir/a.txt")
        .await
        .is_err());
    for path in ["../x", "1/../../x", "%2e%2e/x", ".uploads/x"] {
        assert!(
            f.tracking
                .put_artifact(&churn, path, body("x"))
                .await
                .is_err(),
            "{path}"
        );
    }
    f.tracking
        .delete_artifact(&churn, "1/r/artifacts/dir")
        .await
        .unwrap();
    assert!(f
        .tracking
        .list_artifacts(&churn, "1/r/artifacts")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn multipart_uploads_assemble_their_parts_in_order() {
    let f = fixture().await;
    let pass = f.pass(&f.alice, "churn").await;
    let upload = f
        .tracking
        .create_multipart_upload(&pass, "1/r/artifacts/big.bin", 3)
        .await
        .unwrap();
    assert_eq!(upload.part_numbers, vec![1, 2, 3]);
    for (part, text) in [(3, "c"), (1, "a"), (2, "b")] {
        f.tracking
            .put_upload_part(&upload.upload_id, part, body(text))
            .await
            .unwrap();
    }
    assert!(f
        .tracking
        .put_upload_part(&upload.upload_id, 4, body("d"))
        .await
        .is_err());
    let written = f
        .tracking
        .complete_multipart_upload(&pass, &upload.upload_id)
        .await
        .unwrap();
    assert_eq!(written, 3);
    let (_, stream) = f
        .tracking
        .get_artifact(&pass, "1/r/artifacts/big.bin")
        .await
        .unwrap();
    let bytes: Vec<Bytes> = stream.map(Result::unwrap).collect().await;
    assert_eq!(bytes.concat(), b"abc");
    // The parts are gone and the upload is finished.
    assert!(f
        .tracking
        .put_upload_part(&upload.upload_id, 1, body("x"))
        .await
        .is_err());
    let root = f.tracking.list_artifacts(&pass, "").await.unwrap();
    assert!(root.iter().all(|file| file.path != ".uploads"), "{root:?}");
}

#[tokio::test]
async fn multipart_uploads_survive_a_restart_of_the_server() {
    let f = fixture().await;
    let pass = f.pass(&f.alice, "churn").await;
    let upload = f
        .tracking
        .create_multipart_upload(&pass, "1/r/artifacts/big.bin", 2)
        .await
        .unwrap();
    f.tracking
        .put_upload_part(&upload.upload_id, 1, body("first "))
        .await
        .unwrap();
    // A new server over the same stores (its memory empty) takes the rest of the upload.
    let restarted = TrackingService::new(
        f.store_shared.clone(),
        f.identity.clone(),
        f.objects.clone(),
        Arc::new(SystemClock),
    );
    assert!(
        restarted
            .put_upload_part(&upload.upload_id, 3, body("x"))
            .await
            .is_err(),
        "the part count is remembered too"
    );
    restarted
        .put_upload_part(&upload.upload_id, 2, body("second"))
        .await
        .unwrap();
    // Another project cannot complete it.
    let other = restarted.authorize(&f.alice, &named("ads")).await.unwrap();
    assert!(restarted
        .complete_multipart_upload(&other, &upload.upload_id)
        .await
        .is_err());
    let pass = restarted
        .authorize(&f.alice, &named("churn"))
        .await
        .unwrap();
    assert_eq!(
        restarted
            .complete_multipart_upload(&pass, &upload.upload_id)
            .await
            .unwrap(),
        12
    );
    let (_, stream) = restarted
        .get_artifact(&pass, "1/r/artifacts/big.bin")
        .await
        .unwrap();
    let bytes: Vec<Bytes> = stream.map(Result::unwrap).collect().await;
    assert_eq!(bytes.concat(), b"first second");
    // The session is gone with the parts; made-up ids never reach the object store.
    assert!(f
        .tracking
        .put_upload_part(&upload.upload_id, 1, body("x"))
        .await
        .is_err());
    for forged in ["../../etc/passwd", "", &"A".repeat(64)] {
        assert!(restarted
            .put_upload_part(forged, 1, body("x"))
            .await
            .is_err());
    }
    let sessions = plinth_artifacts::ObjectKey::parse("mlflow-uploads").unwrap();
    assert!(f.objects.list(Some(&sessions)).await.unwrap().is_empty());
}

#[tokio::test]
async fn parts_of_abandoned_uploads_are_deleted_a_day_later() {
    let f = fixture().await;
    let pass = f.pass(&f.alice, "churn").await;
    let lost = f
        .tracking
        .create_multipart_upload(&pass, "1/r/artifacts/a.bin", 1)
        .await
        .unwrap();
    f.tracking
        .put_upload_part(&lost.upload_id, 1, body("part"))
        .await
        .unwrap();
    let uploads = plinth_artifacts::ObjectKey::parse(&format!(
        "projects/{}/mlflow/.uploads",
        pass.project().id
    ))
    .unwrap();
    let parts = || async { f.objects.list(Some(&uploads)).await.unwrap().len() };
    assert_eq!(parts().await, 1);
    // A restarted server (no sessions) a day later cleans them up at its next upload.
    let clock = crate::ManualClock::new(SystemClock.now_ms() + 25 * 3600 * 1000);
    let restarted = TrackingService::new(
        f.store_shared.clone(),
        f.identity.clone(),
        f.objects.clone(),
        Arc::new(clock),
    );
    let pass = restarted
        .authorize(&f.alice, &named("churn"))
        .await
        .unwrap();
    restarted
        .create_multipart_upload(&pass, "1/r/artifacts/b.bin", 1)
        .await
        .unwrap();
    assert_eq!(parts().await, 0);
    assert!(restarted
        .complete_multipart_upload(&pass, &lost.upload_id)
        .await
        .is_err());
}
