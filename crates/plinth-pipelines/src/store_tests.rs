//! The pipeline store on SQLite (always) and PostgreSQL (`PLINTH_TEST_POSTGRES_URL`): names
//! unique per project, runs rewritten and listed by state, tasks upserted, a deleted
//! project taking its records with it.

use std::collections::BTreeMap;

use plinth_metastore::testsuite::TestStore;
use plinth_metastore::NewUser;
use plinth_types::Username;
use serde_json::json;

use crate::model::{
    ExperimentRecord, PipelineRecord, RunRecord, RunState, TaskRecord, TaskState, VersionRecord,
};
use crate::{PipelineError, PipelineStore, SqlPipelineStore};

async fn round_trip(guard: TestStore) {
    let metadata = guard.shared();
    let owner = metadata
        .create_user(
            &NewUser {
                username: Username::parse("owner").unwrap(),
                email: "owner@example.com".to_string(),
                display_name: "Owner".to_string(),
                password_hash: None,
                is_admin: true,
            },
            1,
        )
        .await
        .unwrap();
    let org = metadata
        .create_organization("acme", "Acme", 1)
        .await
        .unwrap();
    let alpha = metadata
        .create_project(&org.id, "alpha", "alpha", "", &owner.id, 1)
        .await
        .unwrap();
    let beta = metadata
        .create_project(&org.id, "beta", "beta", "", &owner.id, 1)
        .await
        .unwrap();
    let store = SqlPipelineStore::new(metadata.shared_pool());

    let experiment = |id: &str, project: &str, name: &str| ExperimentRecord {
        id: id.to_string(),
        project_id: project.to_string(),
        display_name: name.to_string(),
        description: String::new(),
        storage_state: "AVAILABLE".to_string(),
        created_at_ms: 5,
    };
    store
        .create_experiment(&experiment("e1", &alpha.id, "Default"))
        .await
        .unwrap();
    let taken = store
        .create_experiment(&experiment("e2", &alpha.id, "Default"))
        .await;
    assert!(
        matches!(taken, Err(PipelineError::AlreadyExists(_))),
        "{taken:?}"
    );
    store
        .create_experiment(&experiment("e3", &beta.id, "Default"))
        .await
        .unwrap();
    assert_eq!(store.list_experiments(&alpha.id).await.unwrap().len(), 1);
    assert!(
        store.get_experiment(&beta.id, "e1").await.is_err(),
        "other project's experiment"
    );
    let mut archived = experiment("e1", &alpha.id, "Default");
    archived.storage_state = "ARCHIVED".to_string();
    store.update_experiment(&archived).await.unwrap();
    assert_eq!(
        store.find_experiment(&alpha.id, "Default").await.unwrap(),
        Some(archived)
    );

    let pipeline = PipelineRecord {
        id: "p1".to_string(),
        project_id: alpha.id.clone(),
        display_name: "chain".to_string(),
        description: String::new(),
        created_at_ms: 6,
    };
    let version = |id: &str, name: &str, at: i64| VersionRecord {
        id: id.to_string(),
        pipeline_id: "p1".to_string(),
        display_name: name.to_string(),
        description: String::new(),
        spec: json!({ "pipelineInfo": { "name": "chain" } }),
        platform_spec: Some(json!({ "platforms": {} })),
        created_at_ms: at,
    };
    store
        .create_pipeline(&pipeline, &version("v1", "chain", 6))
        .await
        .unwrap();
    store
        .add_version(&version("v2", "chain 2", 7))
        .await
        .unwrap();
    assert!(store
        .add_version(&version("v3", "chain 2", 8))
        .await
        .is_err());
    let versions = store.list_versions("p1").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["v1", "v2"]
    );
    assert_eq!(
        store.get_version("p1", "v1").await.unwrap(),
        version("v1", "chain", 6)
    );

    let run = |id: &str, project: &str, at: i64| RunRecord {
        id: id.to_string(),
        project_id: project.to_string(),
        experiment_id: "e1".to_string(),
        display_name: id.to_string(),
        description: String::new(),
        pipeline_id: None,
        pipeline_version_id: None,
        spec: json!({}),
        platform_spec: None,
        arguments: BTreeMap::from([("n".to_string(), json!(4))]),
        parameters: BTreeMap::from([("n".to_string(), json!(4))]),
        state: RunState::Pending,
        error: None,
        storage_state: "AVAILABLE".to_string(),
        created_by: owner.id.to_string(),
        created_at_ms: at,
        started_at_ms: None,
        finished_at_ms: None,
        terminate_requested: false,
    };
    store.create_run(&run("r1", &alpha.id, 10)).await.unwrap();
    store.create_run(&run("r2", &alpha.id, 11)).await.unwrap();
    store.create_run(&run("r3", &beta.id, 12)).await.unwrap();
    let mut done = run("r1", &alpha.id, 10);
    done.state = RunState::Succeeded;
    done.finished_at_ms = Some(20);
    store.update_run(&done).await.unwrap();
    assert_eq!(store.get_run("r1").await.unwrap(), done);
    let active: Vec<String> = store
        .list_active_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(active, ["r2", "r3"]);
    let listed: Vec<String> = store
        .list_runs(&alpha.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ["r2", "r1"], "newest first, one project");

    let mut task = TaskRecord {
        run_id: "r2".to_string(),
        key: "condition-1/mark".to_string(),
        name: "mark".to_string(),
        is_dag: false,
        state: TaskState::Running,
        workload_id: Some("w1".to_string()),
        inputs: BTreeMap::from([("text".to_string(), json!("hi"))]),
        outputs: BTreeMap::new(),
        artifacts: BTreeMap::new(),
        error: None,
        started_at_ms: Some(12),
        finished_at_ms: None,
    };
    store.put_task(&task).await.unwrap();
    task.state = TaskState::Succeeded;
    task.outputs.insert("Output".to_string(), json!(14));
    store.put_task(&task).await.unwrap();
    assert_eq!(store.list_tasks("r2").await.unwrap(), vec![task]);

    metadata.delete_project(&alpha.id).await.unwrap();
    assert!(store.list_runs(&alpha.id).await.unwrap().is_empty());
    assert!(store.list_tasks("r2").await.unwrap().is_empty());
    assert_eq!(store.list_active_runs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_store_keeps_records_on_sqlite() {
    round_trip(plinth_metastore::testsuite::open_sqlite_temp().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs PLINTH_TEST_POSTGRES_URL"]
async fn the_store_keeps_records_on_postgres() {
    round_trip(plinth_metastore::testsuite::open_postgres_from_env().await).await;
}
