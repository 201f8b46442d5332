//! The conformance suite of [`EnvironmentStore`]: every backend passes these unchanged.
//! [`environment_store_suite!`](crate::environment_store_suite) instantiates it.

use std::sync::Arc;

use plinth_metastore::testsuite::TestStore;
use plinth_metastore::{MetadataStore, NewUser};
use plinth_types::{
    BuildState, EnvironmentLock, EnvironmentSpec, LockedPackage, ResolutionState, Username,
};

use crate::{EnvError, EnvironmentStore, NewEnvironment, ResolutionOutcome, SqlEnvironmentStore};

/// A store over a fresh database with two projects, `alpha` and `beta`.
pub struct Fixture {
    /// The environment store.
    pub store: SqlEnvironmentStore,
    /// The id of project `alpha`.
    pub alpha: String,
    /// The id of project `beta`.
    pub beta: String,
    /// The metadata store (kept open).
    pub metadata: Arc<dyn MetadataStore>,
    _guard: TestStore,
}

/// Opens a fresh SQLite database with two projects.
pub async fn sqlite_fixture() -> Fixture {
    fixture(plinth_metastore::testsuite::open_sqlite_temp().await).await
}

/// Opens a fresh PostgreSQL database (`PLINTH_TEST_POSTGRES_URL`) with two projects.
#[cfg(feature = "postgres")]
pub async fn postgres_fixture() -> Fixture {
    fixture(plinth_metastore::testsuite::open_postgres_from_env().await).await
}

async fn fixture(guard: TestStore) -> Fixture {
    let metadata = guard.shared();
    let owner = metadata
        .create_user(
            &NewUser {
                username: Username::parse("owner").expect("username"),
                email: "owner@example.com".to_string(),
                display_name: "Owner".to_string(),
                password_hash: None,
                is_admin: true,
            },
            1,
        )
        .await
        .expect("user");
    let org = metadata
        .create_organization("acme", "Acme", 1)
        .await
        .expect("org");
    let mut ids = Vec::new();
    for name in ["alpha", "beta"] {
        let project = metadata
            .create_project(&org.id, name, name, "", &owner.id, 1)
            .await
            .expect("project");
        ids.push(project.id);
    }
    Fixture {
        store: SqlEnvironmentStore::new(metadata.shared_pool()),
        beta: ids.pop().expect("beta"),
        alpha: ids.pop().expect("alpha"),
        metadata,
        _guard: guard,
    }
}

/// Instantiates the conformance suite for one backend: `$open` yields a [`Fixture`]
/// future; attributes after it go on every test.
#[macro_export]
macro_rules! environment_store_suite {
    ($open:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::environment_store_suite!(@cases ($open) [$(#[$attr])*]
            environments_are_created_once_per_scope
            versions_are_immutable_and_numbered
            concurrent_versions_conflict
            locks_are_set_once
            environments_are_listed_and_deleted
            builds_are_recorded_touched_and_forgotten
            deleting_a_project_removes_its_environments
        );
    };
    (@cases ($open:expr) [$($attrs:tt)*] $case:ident $($rest:ident)*) => {
        $($attrs)*
        #[tokio::test]
        async fn $case() {
            let fixture = $open.await;
            $crate::testsuite::$case(&fixture).await;
        }
        $crate::environment_store_suite!(@cases ($open) [$($attrs)*] $($rest)*);
    };
    (@cases ($open:expr) [$($attrs:tt)*]) => {};
}

fn spec(python: &str, packages: &[&str]) -> EnvironmentSpec {
    EnvironmentSpec {
        python: python.to_string(),
        packages: packages.iter().map(|p| p.to_string()).collect(),
        ..EnvironmentSpec::default()
    }
}

fn new(project: Option<&str>, name: &str) -> NewEnvironment {
    NewEnvironment {
        project_id: project.map(str::to_string),
        name: name.to_string(),
        spec: spec("3.11", &["pandas"]),
        created_by: "owner".to_string(),
        now_ms: 1_000,
    }
}

fn lock(hash_seed: &str) -> EnvironmentLock {
    EnvironmentLock {
        format: 1,
        uv_version: "0.9.0".to_string(),
        python_version: "3.11.2".to_string(),
        platform: "linux-x86_64".to_string(),
        requirements: format!("{hash_seed}==1.0 --hash=sha256:00\n"),
        packages: vec![LockedPackage {
            name: hash_seed.to_string(),
            version: "1.0".to_string(),
        }],
    }
}

/// Names are unique per project and among global environments, not across them; a clash
/// names the field.
pub async fn environments_are_created_once_per_scope(fixture: &Fixture) {
    let store = &fixture.store;
    let (env, v1) = store
        .create_environment(new(Some(&fixture.alpha), "train"))
        .await
        .unwrap();
    assert_eq!((env.name.as_str(), env.latest_version), ("train", 1));
    assert_eq!(env.project_id.as_deref(), Some(fixture.alpha.as_str()));
    assert_eq!(v1.version, 1);
    assert_eq!(
        v1.changes,
        vec!["python".to_string(), "packages".to_string()]
    );
    assert_eq!(v1.resolution, ResolutionState::Pending);
    let clash = store
        .create_environment(new(Some(&fixture.alpha), "train"))
        .await
        .unwrap_err();
    assert!(
        matches!(clash, EnvError::AlreadyExists { field: "name", .. }),
        "{clash:?}"
    );
    assert_eq!(
        clash.to_string(),
        "`name`: environment `train` already exists"
    );
    store
        .create_environment(new(Some(&fixture.beta), "train"))
        .await
        .unwrap();
    let (global, _) = store.create_environment(new(None, "train")).await.unwrap();
    assert_eq!(global.project_id, None);
    let clash = store
        .create_environment(new(None, "train"))
        .await
        .unwrap_err();
    assert_eq!(
        clash.to_string(),
        "`name`: global environment `train` already exists"
    );
    assert_eq!(
        store
            .find_environment(Some(&fixture.alpha), "train")
            .await
            .unwrap()
            .id,
        env.id
    );
    assert_eq!(
        store.find_environment(None, "train").await.unwrap().id,
        global.id
    );
    let missing = store
        .find_environment(Some(&fixture.alpha), "nope")
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "environment `nope` not found");
}

/// Each change is a new numbered version; older ones stay as they were.
pub async fn versions_are_immutable_and_numbered(fixture: &Fixture) {
    let store = &fixture.store;
    let (env, v1) = store
        .create_environment(new(Some(&fixture.alpha), "train"))
        .await
        .unwrap();
    let changed = spec("3.12", &["pandas", "numpy"]);
    let changes = changed.changes_from(&v1.spec);
    assert_eq!(changes, vec!["python".to_string(), "packages".to_string()]);
    let v2 = store
        .add_version(&env.id, 1, changed.clone(), changes.clone(), "bob", 2_000)
        .await
        .unwrap();
    assert_eq!(
        (v2.version, v2.created_by.as_str(), v2.created_at_ms),
        (2, "bob", 2_000)
    );
    assert_eq!(v2.spec, changed);
    assert_eq!(v2.changes, changes);
    assert_eq!(
        store.get_environment(&env.id).await.unwrap().latest_version,
        2
    );
    assert_eq!(store.get_version(&env.id, 1).await.unwrap(), v1);
    let versions = store.list_versions(&env.id).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let missing = store.get_version(&env.id, 3).await.unwrap_err();
    assert!(matches!(missing, EnvError::NotFound { .. }), "{missing:?}");
}

/// Two changes based on the same version: one wins, the other is a conflict.
pub async fn concurrent_versions_conflict(fixture: &Fixture) {
    let store = &fixture.store;
    let (env, _) = store
        .create_environment(new(Some(&fixture.alpha), "train"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.add_version(&env.id, 1, spec("3.12", &[]), vec!["python".into()], "a", 2),
        store.add_version(&env.id, 1, spec("3.10", &[]), vec!["python".into()], "b", 2),
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    let error = a.err().or(b.err()).unwrap();
    assert!(matches!(error, EnvError::Conflict(_)), "{error:?}");
    assert!(error.to_string().contains("at version 2 now"), "{error}");
    assert_eq!(store.list_versions(&env.id).await.unwrap().len(), 2);
}

/// A failed resolution can be retried; a lock, once recorded, never changes.
pub async fn locks_are_set_once(fixture: &Fixture) {
    let store = &fixture.store;
    let (env, _) = store
        .create_environment(new(Some(&fixture.alpha), "train"))
        .await
        .unwrap();
    let failed = store
        .record_resolution(&env.id, 1, ResolutionOutcome::Failed("no `nope`".into()), 5)
        .await
        .unwrap();
    assert_eq!(failed.resolution, ResolutionState::Failed);
    assert_eq!(failed.resolution_error.as_deref(), Some("no `nope`"));
    let resolved = store
        .record_resolution(
            &env.id,
            1,
            ResolutionOutcome::Resolved {
                lock: lock("pandas"),
                lock_hash: "aa".into(),
            },
            6,
        )
        .await
        .unwrap();
    assert_eq!(resolved.resolution, ResolutionState::Resolved);
    assert_eq!(resolved.resolution_error, None);
    assert_eq!(resolved.lock, Some(lock("pandas")));
    assert_eq!(
        (resolved.lock_hash.as_deref(), resolved.resolved_at_ms),
        (Some("aa"), Some(6))
    );
    // The same lock again (two resolutions raced) is fine; another one is not.
    store
        .record_resolution(
            &env.id,
            1,
            ResolutionOutcome::Resolved {
                lock: lock("pandas"),
                lock_hash: "aa".into(),
            },
            7,
        )
        .await
        .unwrap();
    for outcome in [
        ResolutionOutcome::Resolved {
            lock: lock("numpy"),
            lock_hash: "bb".into(),
        },
        ResolutionOutcome::Failed("late".into()),
    ] {
        let error = store
            .record_resolution(&env.id, 1, outcome, 8)
            .await
            .unwrap_err();
        assert!(matches!(error, EnvError::Conflict(_)), "{error:?}");
    }
    assert_eq!(
        store
            .get_version(&env.id, 1)
            .await
            .unwrap()
            .lock_hash
            .as_deref(),
        Some("aa")
    );
}

/// Lists show a project's environments then the global ones, by name; deleting removes
/// the versions too.
pub async fn environments_are_listed_and_deleted(fixture: &Fixture) {
    let store = &fixture.store;
    for name in ["zeta", "alpha-env"] {
        store
            .create_environment(new(Some(&fixture.alpha), name))
            .await
            .unwrap();
    }
    store
        .create_environment(new(Some(&fixture.beta), "other"))
        .await
        .unwrap();
    store
        .create_environment(new(None, "default"))
        .await
        .unwrap();
    let names =
        |envs: Vec<plinth_types::Environment>| envs.into_iter().map(|e| e.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .list_environments(Some(&fixture.alpha), true)
                .await
                .unwrap()
        ),
        ["alpha-env", "zeta", "default"]
    );
    assert_eq!(
        names(
            store
                .list_environments(Some(&fixture.alpha), false)
                .await
                .unwrap()
        ),
        ["alpha-env", "zeta"]
    );
    assert_eq!(
        names(store.list_environments(None, true).await.unwrap()),
        ["default"]
    );
    let zeta = store
        .find_environment(Some(&fixture.alpha), "zeta")
        .await
        .unwrap();
    store.delete_environment(&zeta.id).await.unwrap();
    assert!(store.list_versions(&zeta.id).await.unwrap().is_empty());
    let again = store.delete_environment(&zeta.id).await.unwrap_err();
    assert!(matches!(again, EnvError::NotFound { .. }), "{again:?}");
    // The name is free again.
    store
        .create_environment(new(Some(&fixture.alpha), "zeta"))
        .await
        .unwrap();
}

/// Builds move building → ready/failed, are touched by use, and only unused finished ones
/// are forgotten.
pub async fn builds_are_recorded_touched_and_forgotten(fixture: &Fixture) {
    let store = &fixture.store;
    let scope = fixture.alpha.as_str();
    assert_eq!(store.get_build(scope, "aa").await.unwrap(), None);
    store.start_build(scope, "aa", 10).await.unwrap();
    let build = store.get_build(scope, "aa").await.unwrap().unwrap();
    assert_eq!(
        (build.state, build.started_at_ms, build.finished_at_ms),
        (BuildState::Building, 10, None)
    );
    assert!(
        !store.forget_build(scope, "aa", 1_000).await.unwrap(),
        "a running build is kept"
    );
    store.finish_build(scope, "aa", None, 20).await.unwrap();
    store.touch_build(scope, "aa", 50).await.unwrap();
    store.touch_build(scope, "aa", 30).await.unwrap(); // an older use does not go back
    let build = store.get_build(scope, "aa").await.unwrap().unwrap();
    assert_eq!(
        (build.state, build.finished_at_ms, build.last_used_at_ms),
        (BuildState::Ready, Some(20), 50)
    );
    assert_eq!(build.image, None, "a virtual environment has no image");
    let image = format!("r.example/plinth/{scope}/e@sha256:{}", "c".repeat(64));
    store.record_image(scope, "aa", &image).await.unwrap();
    let build = store.get_build(scope, "aa").await.unwrap().unwrap();
    assert_eq!(build.image.as_deref(), Some(image.as_str()));
    assert!(matches!(
        store.record_image(scope, "zz", &image).await.unwrap_err(),
        EnvError::NotFound { .. }
    ));
    store.start_build("", "bb", 10).await.unwrap();
    store
        .finish_build("", "bb", Some("no space".into()), 11)
        .await
        .unwrap();
    let failed = store.get_build("", "bb").await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (BuildState::Failed, Some("no space"))
    );
    let all = store.list_builds().await.unwrap();
    assert_eq!(
        all.iter().map(|b| b.lock_hash.as_str()).collect::<Vec<_>>(),
        ["bb", "aa"]
    );
    assert!(
        !store.forget_build(scope, "aa", 50).await.unwrap(),
        "used at 50, not before"
    );
    assert!(store.forget_build(scope, "aa", 51).await.unwrap());
    assert_eq!(store.get_build(scope, "aa").await.unwrap(), None);
    let missing = store.finish_build(scope, "aa", None, 60).await.unwrap_err();
    assert!(matches!(missing, EnvError::NotFound { .. }), "{missing:?}");
}

/// A deleted project takes its environments and versions with it.
pub async fn deleting_a_project_removes_its_environments(fixture: &Fixture) {
    let store = &fixture.store;
    let (env, _) = store
        .create_environment(new(Some(&fixture.beta), "train"))
        .await
        .unwrap();
    store.create_environment(new(None, "shared")).await.unwrap();
    fixture
        .metadata
        .delete_project(&fixture.beta)
        .await
        .unwrap();
    assert!(store
        .list_environments(Some(&fixture.beta), false)
        .await
        .unwrap()
        .is_empty());
    assert!(store.list_versions(&env.id).await.unwrap().is_empty());
    assert_eq!(store.list_environments(None, true).await.unwrap().len(), 1);
}
