//! Conformance cases of [`TrackingStore`](crate::TrackingStore): experiments, runs, metric
//! history, search with MLflow's grammar, inputs and logged models.

use std::collections::BTreeMap;

use plinth_types::{
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LifecycleStage,
    LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric, ModelInput, ModelOutput,
    Param, Run, RunStatus, RunTag, ViewType,
};

use crate::{
    BulkIntervalQuery, DatasetFilter, ExperimentSearch, LogBatch, LoggedModelOrderBy,
    LoggedModelSearch, MetadataStore, MetricChartQuery, NewExperiment, NewLoggedModel, NewRun,
    RunSearch, RunUpdate, StoreError,
};

/// A project of its own for a case (owner `name`, project `name`).
pub(super) async fn tracking_project(store: &dyn MetadataStore, name: &str) -> String {
    let owner = super::user(store, name).await;
    super::project(store, &owner, name).await
}

fn experiment(name: &str) -> NewExperiment {
    NewExperiment {
        name: name.to_string(),
        ..NewExperiment::default()
    }
}

fn new_run(experiment_id: i64, start_time: i64) -> NewRun {
    NewRun {
        experiment_id,
        user_id: "ada".to_string(),
        start_time,
        run_name: None,
        tags: Vec::new(),
    }
}

/// A project of its own with an experiment and a run in it: `(project, experiment, run_id)`.
async fn project_with_run(store: &dyn MetadataStore, name: &str) -> (String, Experiment, String) {
    let project = tracking_project(store, name).await;
    let exp = store
        .create_experiment(&project, &experiment(name), 1_000)
        .await
        .unwrap();
    let run_id = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    (project, exp, run_id)
}

fn tag(key: &str, value: &str) -> RunTag {
    RunTag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn param(key: &str, value: &str) -> Param {
    Param {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn message(error: StoreError) -> String {
    match error {
        StoreError::InvalidValue(message) => message,
        other => panic!("expected an MLflow refusal, got {other:?}"),
    }
}

fn search(experiment_ids: Vec<i64>, filter: &str) -> RunSearch {
    RunSearch {
        experiment_ids,
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        run_view_type: ViewType::ActiveOnly,
        max_results: 1000,
        order_by: Vec::new(),
        page_token: None,
    }
}

async fn run_names(store: &dyn MetadataStore, project: &str, query: RunSearch) -> Vec<String> {
    store
        .search_runs(project, &query)
        .await
        .unwrap_or_else(|error| panic!("{:?}: {error}", query.filter))
        .items
        .into_iter()
        .map(|run| run.info.run_name)
        .collect()
}

fn metric_value(run: &Run, key: &str) -> Option<f64> {
    run.data
        .metrics
        .iter()
        .find(|metric| metric.key == key)
        .map(|metric| metric.value)
}

/// Experiments are created (with MLflow's default artifact location), found by id and
/// name only in their project, renamed, tagged, and names are unique per project.
pub async fn experiments_are_created_found_renamed_and_tagged(store: &dyn MetadataStore) {
    let project = tracking_project(store, "exp").await;
    let other = tracking_project(store, "exp-other").await;
    let created = store
        .create_experiment(
            &project,
            &NewExperiment {
                name: "fraud".to_string(),
                artifact_location: None,
                tags: vec![
                    ExperimentTag {
                        key: "team".to_string(),
                        value: "risk".to_string(),
                    },
                    ExperimentTag {
                        key: "mlflow.note.content".to_string(),
                        value: "first".to_string(),
                    },
                ],
            },
            5_000,
        )
        .await
        .unwrap();
    assert_eq!(
        created.artifact_location,
        format!("mlflow-artifacts:/{}", created.experiment_id)
    );
    assert_eq!(created.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(
        (created.creation_time, created.last_update_time),
        (5_000, 5_000)
    );
    assert_eq!(created.tags.len(), 2);
    assert_eq!(created.tags[1].key, "team", "tags come sorted by key");
    assert!(!created.is_default);
    assert_eq!(
        store
            .get_experiment(&project, created.experiment_id)
            .await
            .unwrap(),
        created
    );
    assert_eq!(
        store
            .get_experiment_by_name(&project, "fraud")
            .await
            .unwrap(),
        created
    );
    // Another project sees nothing, and may use the same name.
    assert!(matches!(
        store.get_experiment(&other, created.experiment_id).await,
        Err(StoreError::NotFound {
            entity: "experiment",
            ..
        })
    ));
    assert!(matches!(
        store.get_experiment_by_name(&other, "fraud").await,
        Err(StoreError::NotFound { .. })
    ));
    let theirs = store
        .create_experiment(&other, &experiment("fraud"), 5_000)
        .await
        .unwrap();
    assert_ne!(theirs.experiment_id, created.experiment_id);
    let duplicate = store
        .create_experiment(&project, &experiment("fraud"), 5_000)
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "Experiment(name=fraud) already exists."
    );

    let located = store
        .create_experiment(
            &project,
            &NewExperiment {
                name: "elsewhere".to_string(),
                artifact_location: Some("mlflow-artifacts:/custom/place".to_string()),
                tags: Vec::new(),
            },
            6_000,
        )
        .await
        .unwrap();
    assert_eq!(located.artifact_location, "mlflow-artifacts:/custom/place");
    let refused = store
        .create_experiment(
            &project,
            &NewExperiment {
                name: "runs-uri".to_string(),
                artifact_location: Some("runs:/abc/model".to_string()),
                tags: Vec::new(),
            },
            6_000,
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        "Artifact location cannot be a runs:/ URI. Given: 'runs:/abc/model'"
    );
    assert_eq!(
        message(
            store
                .create_experiment(&project, &experiment(""), 1)
                .await
                .unwrap_err()
        ),
        "Invalid experiment name: ''"
    );

    store
        .rename_experiment(&project, created.experiment_id, "fraud-v2", 7_000)
        .await
        .unwrap();
    let renamed = store
        .get_experiment(&project, created.experiment_id)
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.last_update_time),
        ("fraud-v2", 7_000)
    );
    let taken = store
        .rename_experiment(&project, created.experiment_id, "elsewhere", 7_000)
        .await
        .unwrap_err();
    assert!(
        matches!(taken, StoreError::AlreadyExists { .. }),
        "{taken:?}"
    );
    assert!(matches!(
        store
            .rename_experiment(&other, created.experiment_id, "x", 7_000)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    store
        .set_experiment_tag(
            &project,
            created.experiment_id,
            &ExperimentTag {
                key: "team".to_string(),
                value: "fraud-ops".to_string(),
            },
        )
        .await
        .unwrap();
    store
        .delete_experiment_tag(&project, created.experiment_id, "mlflow.note.content")
        .await
        .unwrap();
    let tagged = store
        .get_experiment(&project, created.experiment_id)
        .await
        .unwrap();
    assert_eq!(tagged.tags.len(), 1);
    assert_eq!(tagged.tags[0].value, "fraud-ops");
    assert!(matches!(
        store
            .delete_experiment_tag(&project, created.experiment_id, "absent")
            .await,
        Err(StoreError::Missing(message))
            if message == format!("No tag with name: absent in experiment with id {}", created.experiment_id)
    ));
    assert!(matches!(
        store
            .set_experiment_tag(
                &other,
                created.experiment_id,
                &ExperimentTag {
                    key: "x".to_string(),
                    value: "y".to_string()
                }
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Each project gets one default experiment, however many callers ask at once; a user
/// experiment already named `Default` becomes it.
pub async fn default_experiment_is_created_once_per_project(store: &dyn MetadataStore) {
    let project = tracking_project(store, "dflt").await;
    let results =
        futures::future::join_all((0..8).map(|_| store.ensure_default_experiment(&project, 1_000)))
            .await;
    let ids: std::collections::BTreeSet<i64> = results
        .into_iter()
        .map(|result| result.expect("default").experiment_id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let default = store
        .ensure_default_experiment(&project, 2_000)
        .await
        .unwrap();
    assert!(default.is_default);
    assert_eq!(default.name, "Default");
    assert_eq!(
        default.artifact_location,
        format!("mlflow-artifacts:/{}", default.experiment_id)
    );
    // Renaming it keeps it the default.
    store
        .rename_experiment(&project, default.experiment_id, "Main", 3_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .ensure_default_experiment(&project, 4_000)
            .await
            .unwrap()
            .experiment_id,
        default.experiment_id
    );

    let second = tracking_project(store, "dflt-two").await;
    let own = store
        .create_experiment(&second, &experiment("Default"), 1_000)
        .await
        .unwrap();
    let adopted = store
        .ensure_default_experiment(&second, 2_000)
        .await
        .unwrap();
    assert_eq!(adopted.experiment_id, own.experiment_id);
    assert!(adopted.is_default);
}

/// Deleting an experiment soft-deletes its runs; it can no longer change until restored.
pub async fn experiments_are_soft_deleted_with_their_runs(store: &dyn MetadataStore) {
    let project = tracking_project(store, "softdel").await;
    let exp = store
        .create_experiment(&project, &experiment("doomed"), 1_000)
        .await
        .unwrap();
    let run = store
        .create_run(&project, &new_run(exp.experiment_id, 10))
        .await
        .unwrap();
    store
        .delete_experiment(&project, exp.experiment_id, 2_000)
        .await
        .unwrap();
    let deleted = store
        .get_experiment(&project, exp.experiment_id)
        .await
        .unwrap();
    assert_eq!(
        (deleted.lifecycle_stage, deleted.last_update_time),
        (LifecycleStage::Deleted, 2_000)
    );
    assert_eq!(
        store
            .get_run(&project, &run.info.run_id)
            .await
            .unwrap()
            .info
            .lifecycle_stage,
        LifecycleStage::Deleted
    );
    assert!(matches!(
        store
            .delete_experiment(&project, exp.experiment_id, 2_000)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let rename = store
        .rename_experiment(&project, exp.experiment_id, "x", 3_000)
        .await
        .unwrap_err();
    assert_eq!(rename.to_string(), "Cannot rename a non-active experiment.");
    assert!(matches!(rename, StoreError::Conflict(_)));
    let tag_refused = store
        .set_experiment_tag(
            &project,
            exp.experiment_id,
            &ExperimentTag {
                key: "k".to_string(),
                value: "v".to_string(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(tag_refused),
        format!(
            "The experiment {} must be in the 'active' state. Current state is deleted.",
            exp.experiment_id
        )
    );
    let no_run = store
        .create_run(&project, &new_run(exp.experiment_id, 20))
        .await
        .unwrap_err();
    assert!(message(no_run).contains("must be in the 'active' state"));

    store
        .restore_experiment(&project, exp.experiment_id, 4_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_experiment(&project, exp.experiment_id)
            .await
            .unwrap()
            .lifecycle_stage,
        LifecycleStage::Active
    );
    assert_eq!(
        store
            .get_run(&project, &run.info.run_id)
            .await
            .unwrap()
            .info
            .lifecycle_stage,
        LifecycleStage::Active
    );
    assert!(matches!(
        store
            .restore_experiment(&project, exp.experiment_id, 4_000)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Experiment search: MLflow's filter (attributes and tags), order, view type and pages.
pub async fn experiment_search_filters_orders_and_pages(store: &dyn MetadataStore) {
    let project = tracking_project(store, "expsearch").await;
    let other = tracking_project(store, "expsearch-other").await;
    store
        .create_experiment(&other, &experiment("Exp-hidden"), 1)
        .await
        .unwrap();
    let mut ids = BTreeMap::new();
    for (index, (name, team)) in [
        ("Exp-a", Some("ml")),
        ("exp-b", Some("ml")),
        ("Exp-c", Some("ops")),
        ("other", None),
        ("Exp-d", None),
    ]
    .into_iter()
    .enumerate()
    {
        let tags = team
            .map(|team| {
                vec![ExperimentTag {
                    key: "team".to_string(),
                    value: team.to_string(),
                }]
            })
            .unwrap_or_default();
        let created = store
            .create_experiment(
                &project,
                &NewExperiment {
                    name: name.to_string(),
                    artifact_location: None,
                    tags,
                },
                1_000 + index as i64,
            )
            .await
            .unwrap();
        ids.insert(name, created.experiment_id);
    }
    store
        .delete_experiment(&project, ids["Exp-d"], 9_000)
        .await
        .unwrap();
    let project = project.as_str();
    let names = |filter: &str, view: ViewType, order: &[&str]| {
        let filter = filter.to_string();
        let query = ExperimentSearch {
            view_type: view,
            filter: (!filter.is_empty()).then(|| filter.to_string()),
            order_by: order.iter().map(|entry| entry.to_string()).collect(),
            max_results: 100,
            page_token: None,
        };
        async move {
            store
                .search_experiments(project, &query)
                .await
                .unwrap_or_else(|error| panic!("{filter}: {error}"))
                .items
                .into_iter()
                .map(|experiment| experiment.name)
                .collect::<Vec<_>>()
        }
    };
    // Default order: creation time, newest first.
    assert_eq!(
        names("", ViewType::ActiveOnly, &[]).await,
        ["other", "Exp-c", "exp-b", "Exp-a"]
    );
    assert_eq!(
        names("", ViewType::All, &["name ASC"]).await,
        ["Exp-a", "Exp-c", "Exp-d", "exp-b", "other"],
        "bytewise order on both backends"
    );
    assert_eq!(names("", ViewType::DeletedOnly, &[]).await, ["Exp-d"]);
    assert_eq!(
        names("name LIKE 'Exp%'", ViewType::ActiveOnly, &["name"]).await,
        ["Exp-a", "Exp-c"],
        "LIKE is case-sensitive"
    );
    assert_eq!(
        names("name ILIKE 'exp-%'", ViewType::ActiveOnly, &["name"]).await,
        ["Exp-a", "Exp-c", "exp-b"]
    );
    assert_eq!(
        names("tags.team = 'ml'", ViewType::ActiveOnly, &["name DESC"]).await,
        ["exp-b", "Exp-a"]
    );
    assert_eq!(
        names("tags.team IS NULL", ViewType::All, &["name"]).await,
        ["Exp-d", "other"]
    );
    assert_eq!(
        names(
            "tags.team != 'ml' AND creation_time >= 1001",
            ViewType::ActiveOnly,
            &[]
        )
        .await,
        ["Exp-c"]
    );
    let wanted = format!("experiment_id IN ('{}', '{}')", ids["Exp-a"], ids["other"]);
    assert_eq!(
        names(&wanted, ViewType::ActiveOnly, &["name"]).await,
        ["Exp-a", "other"]
    );
    assert_eq!(
        names(
            &format!("attribute.experiment_id = '{}'", ids["Exp-c"]),
            ViewType::ActiveOnly,
            &[]
        )
        .await,
        ["Exp-c"]
    );

    let bad = |filter: &str| ExperimentSearch {
        view_type: ViewType::All,
        filter: Some(filter.to_string()),
        order_by: Vec::new(),
        max_results: 10,
        page_token: None,
    };
    assert_eq!(
        message(
            store
                .search_experiments(project, &bad("name = 'x' OR name = 'y'"))
                .await
                .unwrap_err()
        ),
        "Invalid clause(s) in filter string: OR"
    );
    assert_eq!(
        message(
            store
                .search_experiments(project, &bad("params.a = 'b'"))
                .await
                .unwrap_err()
        ),
        "Invalid entity type 'params'. Valid entity types are ('attribute', 'tag', 'tags')"
    );

    // Pages of two, through everything, without repeats.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_experiments(
                project,
                &ExperimentSearch {
                    view_type: ViewType::All,
                    filter: None,
                    order_by: vec!["name".to_string()],
                    max_results: 2,
                    page_token: token.clone(),
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|experiment| experiment.name));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["Exp-a", "Exp-c", "Exp-d", "exp-b", "other"]);
    let stale = store
        .search_experiments(
            project,
            &ExperimentSearch {
                view_type: ViewType::All,
                filter: None,
                order_by: vec!["name DESC".to_string()],
                max_results: 2,
                page_token: store
                    .search_experiments(
                        project,
                        &ExperimentSearch {
                            view_type: ViewType::All,
                            filter: None,
                            order_by: vec!["name".to_string()],
                            max_results: 2,
                            page_token: None,
                        },
                    )
                    .await
                    .unwrap()
                    .next_page_token,
            },
        )
        .await
        .unwrap_err();
    assert!(message(stale).starts_with("Invalid page token"));
}

/// Runs: creation (names, tags, artifact URI), reads, updates, tags, soft delete; writes
/// to a deleted run are refused as MLflow refuses them; other projects see nothing.
pub async fn runs_are_created_read_updated_and_deleted(store: &dyn MetadataStore) {
    let project = tracking_project(store, "runs").await;
    let other = tracking_project(store, "runs-other").await;
    let exp = store
        .create_experiment(&project, &experiment("train"), 1_000)
        .await
        .unwrap();
    let run = store
        .create_run(
            &project,
            &NewRun {
                run_name: Some("first".to_string()),
                tags: vec![
                    tag("mlflow.user", "ada"),
                    tag("mlflow.source.type", "LOCAL"),
                ],
                ..new_run(exp.experiment_id, 1_500)
            },
        )
        .await
        .unwrap();
    assert_eq!(run.info.run_id.len(), 32);
    assert!(run
        .info
        .run_id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(run.info.run_name, "first");
    assert_eq!(run.info.status, RunStatus::Running);
    assert_eq!(run.info.start_time, 1_500);
    assert_eq!(run.info.end_time, None);
    assert_eq!(
        run.info.artifact_uri,
        format!(
            "mlflow-artifacts:/{}/{}/artifacts",
            exp.experiment_id, run.info.run_id
        )
    );
    let tag_keys: Vec<&str> = run.data.tags.iter().map(|tag| tag.key.as_str()).collect();
    assert_eq!(
        tag_keys,
        ["mlflow.runName", "mlflow.source.type", "mlflow.user"]
    );
    assert_eq!(
        store.get_run(&project, &run.info.run_id).await.unwrap(),
        run
    );
    assert!(matches!(
        store.get_run(&other, &run.info.run_id).await,
        Err(StoreError::NotFound { entity: "run", .. })
    ));
    assert!(matches!(
        store
            .create_run(&other, &new_run(exp.experiment_id, 1))
            .await,
        Err(StoreError::NotFound {
            entity: "experiment",
            ..
        })
    ));

    let named_by_tag = store
        .create_run(
            &project,
            &NewRun {
                tags: vec![tag("mlflow.runName", "from-tag")],
                ..new_run(exp.experiment_id, 1_600)
            },
        )
        .await
        .unwrap();
    assert_eq!(named_by_tag.info.run_name, "from-tag");
    let generated = store
        .create_run(&project, &new_run(exp.experiment_id, 1_700))
        .await
        .unwrap();
    assert!(
        generated.info.run_name.split('-').count() == 3,
        "{}",
        generated.info.run_name
    );
    let conflict = store
        .create_run(
            &project,
            &NewRun {
                run_name: Some("a".to_string()),
                tags: vec![tag("mlflow.runName", "b")],
                ..new_run(exp.experiment_id, 1_800)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(conflict),
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different \
         values (run_name='a', mlflow.runName='b')."
    );

    let info = store
        .update_run(
            &project,
            &run.info.run_id,
            &RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(2_000),
                run_name: Some("renamed".to_string()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (info.status, info.end_time, info.run_name.as_str()),
        (RunStatus::Finished, Some(2_000), "renamed")
    );
    let fetched = store.get_run(&project, &run.info.run_id).await.unwrap();
    assert!(fetched
        .data
        .tags
        .contains(&tag("mlflow.runName", "renamed")));
    store
        .set_run_tag(&project, &run.info.run_id, &tag("mlflow.runName", "by-tag"))
        .await
        .unwrap();
    store
        .set_run_tag(&project, &run.info.run_id, &tag("note", "hello"))
        .await
        .unwrap();
    store
        .set_run_tag(&project, &run.info.run_id, &tag("note", "hello again"))
        .await
        .unwrap();
    let fetched = store.get_run(&project, &run.info.run_id).await.unwrap();
    assert_eq!(fetched.info.run_name, "by-tag");
    assert!(fetched.data.tags.contains(&tag("note", "hello again")));
    store
        .delete_run_tag(&project, &run.info.run_id, "note")
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_run_tag(&project, &run.info.run_id, "note")
            .await,
        Err(StoreError::Missing(message))
            if message == format!("No tag with name: note in run with id {}", run.info.run_id)
    ));
    let bad_key = store
        .set_run_tag(&project, &run.info.run_id, &tag("bad*key", "v"))
        .await
        .unwrap_err();
    assert!(message(bad_key).starts_with("Invalid value \"bad*key\" for parameter 'key' supplied"));

    store
        .delete_run(&project, &run.info.run_id, 3_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_run(&project, &run.info.run_id)
            .await
            .unwrap()
            .info
            .lifecycle_stage,
        LifecycleStage::Deleted
    );
    let refused = store
        .log_param(&project, &run.info.run_id, &param("lr", "0.1"))
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        format!(
            "The run {} must be in the 'active' state. Current state is deleted.",
            run.info.run_id
        )
    );
    assert!(store
        .update_run(&project, &run.info.run_id, &RunUpdate::default())
        .await
        .is_err());
    assert!(matches!(
        store.delete_run(&other, &run.info.run_id, 3_000).await,
        Err(StoreError::NotFound { .. })
    ));
    store.restore_run(&project, &run.info.run_id).await.unwrap();
    store
        .log_param(&project, &run.info.run_id, &param("lr", "0.1"))
        .await
        .unwrap();
}

/// A param never changes value: the same value again is fine, another is refused with
/// MLflow's message, and a refused batch logs nothing at all.
pub async fn params_never_change_value(store: &dyn MetadataStore) {
    let project = tracking_project(store, "params").await;
    let exp = store
        .create_experiment(&project, &experiment("p"), 1_000)
        .await
        .unwrap();
    let run = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap();
    let run_id = run.info.run_id.clone();
    store
        .log_param(&project, &run_id, &param("lr", "0.01"))
        .await
        .unwrap();
    store
        .log_param(&project, &run_id, &param("lr", "0.01"))
        .await
        .unwrap();
    let changed = store
        .log_param(&project, &run_id, &param("lr", "0.02"))
        .await
        .unwrap_err();
    assert_eq!(
        message(changed),
        format!(
            "Changing param values is not allowed. Param with key='lr' was already logged with \
             value='0.01' for run ID='{run_id}'. Attempted logging new value '0.02'."
        )
    );
    let batch = LogBatch {
        metrics: vec![Metric::new("loss", 1.0, 10, 0)],
        params: vec![param("epochs", "3"), param("lr", "0.5")],
        tags: vec![tag("t", "v")],
    };
    let refused = store
        .log_batch(&project, &run_id, &batch)
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        format!(
            "Changing param values is not allowed. Params were already \
             logged='[{{'key': 'lr', 'old_value': '0.01', 'new_value': '0.5'}}]' for run ID='{run_id}'."
        )
    );
    let after = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(
        after.data.params,
        vec![param("lr", "0.01")],
        "nothing of the batch was logged"
    );
    assert!(after.data.metrics.is_empty());
    assert!(!after.data.tags.contains(&tag("t", "v")));
    let duplicate = store
        .log_batch(
            &project,
            &run_id,
            &LogBatch {
                params: vec![param("a", "1"), param("a", "2")],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(duplicate),
        "Duplicate parameter keys have been submitted: ['a']. Please ensure the request \
         contains only one param value per param key."
    );
    // Long values are truncated as MLflow's server does, not refused.
    store
        .log_param(&project, &run_id, &param("long", &"x".repeat(7_000)))
        .await
        .unwrap();
    let long = store.get_run(&project, &run_id).await.unwrap();
    let value = &long
        .data
        .params
        .iter()
        .find(|p| p.key == "long")
        .unwrap()
        .value;
    assert_eq!(value.len(), 6_000);
}

/// Metric points go to the history (a repeated point once) and the latest value follows
/// MLflow's rule: greatest `(step, timestamp, value)`; NaN and ±inf round-trip.
pub async fn metrics_keep_history_and_latest_value(store: &dyn MetadataStore) {
    let project = tracking_project(store, "metrics").await;
    let exp = store
        .create_experiment(&project, &experiment("m"), 1_000)
        .await
        .unwrap();
    let run = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap();
    let run_id = run.info.run_id.clone();
    for metric in [
        Metric::new("loss", 0.9, 100, 1),
        Metric::new("loss", 0.5, 300, 3),
        Metric::new("loss", 0.7, 200, 2),
        Metric::new("loss", 0.5, 300, 3),
        Metric::new("acc", f64::NAN, 100, 1),
        Metric::new("up", f64::INFINITY, 100, 1),
        Metric::new("down", f64::NEG_INFINITY, 100, 1),
        Metric::new("tie", 1.0, 100, 5),
        Metric::new("tie", 2.0, 100, 5),
        Metric::new("tie", 1.5, 100, 5),
    ] {
        store.log_metric(&project, &run_id, &metric).await.unwrap();
    }
    let fetched = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(metric_value(&fetched, "loss"), Some(0.5));
    assert!(metric_value(&fetched, "acc").unwrap().is_nan());
    assert_eq!(metric_value(&fetched, "up"), Some(f64::INFINITY));
    assert_eq!(metric_value(&fetched, "down"), Some(f64::NEG_INFINITY));
    assert_eq!(
        metric_value(&fetched, "tie"),
        Some(2.0),
        "greatest value on a tie"
    );
    let keys: Vec<&str> = fetched
        .data
        .metrics
        .iter()
        .map(|m| m.key.as_str())
        .collect();
    assert_eq!(keys, ["acc", "down", "loss", "tie", "up"]);

    let history = store
        .get_metric_history(&project, &run_id, "loss", None, None)
        .await
        .unwrap();
    let points: Vec<(i64, i64, f64)> = history
        .items
        .iter()
        .map(|metric| (metric.step, metric.timestamp, metric.value))
        .collect();
    assert_eq!(points, [(1, 100, 0.9), (2, 200, 0.7), (3, 300, 0.5)]);
    assert!(history.next_page_token.is_none());
    // A later point with a smaller step does not become the latest value.
    store
        .log_metric(&project, &run_id, &Metric::new("loss", 0.1, 999, 2))
        .await
        .unwrap();
    let fetched = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(metric_value(&fetched, "loss"), Some(0.5));
    // NaN is stored as 0 for ordering: a later 0.25 at the same step is greater.
    store
        .log_metric(&project, &run_id, &Metric::new("acc", 0.25, 100, 1))
        .await
        .unwrap();
    let fetched = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(metric_value(&fetched, "acc"), Some(0.25));
    let acc = store
        .get_metric_history(&project, &run_id, "acc", None, None)
        .await
        .unwrap()
        .items;
    assert_eq!(acc.len(), 2);
    assert!(acc[0].value.is_nan() && acc[1].value == 0.25, "{acc:?}");
    let infinite = store
        .get_metric_history(&project, &run_id, "up", None, None)
        .await
        .unwrap()
        .items;
    assert_eq!(infinite[0].value, f64::INFINITY);

    let negative = store
        .log_metric(&project, &run_id, &Metric::new("loss", 1.0, -1, 0))
        .await
        .unwrap_err();
    assert_eq!(
        message(negative),
        "Invalid value -1 for parameter 'timestamp' supplied: metric 'loss' (value=1.0). \
         Timestamp must be a nonnegative long (64-bit integer) "
    );
    assert!(matches!(
        store
            .get_metric_history(
                &project,
                "0123456789abcdef0123456789abcdef",
                "loss",
                None,
                None
            )
            .await,
        Err(StoreError::NotFound { entity: "run", .. })
    ));
}

/// Log-batch enforces MLflow's limits and per-entry rules, naming the entry.
pub async fn log_batch_enforces_mlflow_limits(store: &dyn MetadataStore) {
    let (project, _, run_id) = project_with_run(store, "limits").await;
    let metrics = |count: usize| -> Vec<Metric> {
        (0..count)
            .map(|index| Metric::new("m", index as f64, 1, index as i64))
            .collect()
    };
    let batch = |metrics: Vec<Metric>, params: usize, tags: usize| LogBatch {
        metrics,
        params: (0..params)
            .map(|index| param(&format!("p{index}"), "v"))
            .collect(),
        tags: (0..tags)
            .map(|index| tag(&format!("t{index}"), "v"))
            .collect(),
    };
    let refusal = |batch: LogBatch| {
        let project = project.clone();
        let run_id = run_id.clone();
        async move {
            message(
                store
                    .log_batch(&project, &run_id, &batch)
                    .await
                    .unwrap_err(),
            )
        }
    };
    assert_eq!(
        refusal(batch(metrics(1001), 0, 0)).await,
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please \
         split up metrics across multiple requests and try again."
    );
    assert_eq!(
        refusal(batch(Vec::new(), 101, 0)).await,
        "A batch logging request can contain at most 100 params. Got 101 params. Please split \
         up params across multiple requests and try again."
    );
    assert_eq!(
        refusal(batch(Vec::new(), 0, 101)).await,
        "A batch logging request can contain at most 100 tags. Got 101 tags. Please split up \
         tags across multiple requests and try again."
    );
    assert_eq!(
        refusal(batch(metrics(950), 30, 30)).await,
        "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1010 \
         metrics, params, and tags. Please split up metrics, params, and tags across multiple \
         requests and try again."
    );
    let mut bad = metrics(5);
    bad[3].key = "bad|name".to_string();
    assert_eq!(
        refusal(batch(bad, 0, 0)).await,
        "Invalid value \"bad|name\" for parameter 'metrics[3].name' supplied: Names may only \
         contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) \
         and slashes (/)."
    );
    let mut bad_tags = batch(Vec::new(), 0, 2);
    bad_tags.tags[1].key = "/abs".to_string();
    assert!(refusal(bad_tags).await.starts_with("Invalid value \"/abs\" for parameter 'tags[1].key' supplied: Names may be treated as files"));
    store
        .log_batch(&project, &run_id, &batch(metrics(1000), 0, 0))
        .await
        .expect("exactly at the limit");
    store
        .log_batch(&project, &run_id, &batch(metrics(900), 50, 50))
        .await
        .expect("1000 entities in all");
    let run = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(run.data.params.len(), 50);
    assert_eq!(metric_value(&run, "m"), Some(999.0));
}

/// 20 000 points logged through log-batch come back complete, in order, in keyset pages.
pub async fn metric_history_pages_through_twenty_thousand_points(store: &dyn MetadataStore) {
    let project = tracking_project(store, "history").await;
    let exp = store
        .create_experiment(&project, &experiment("h"), 1_000)
        .await
        .unwrap();
    let run_id = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    const POINTS: i64 = 20_000;
    // Logged out of order: batches walk the steps backwards; two points share each step.
    for batch_index in (0..POINTS / 1000).rev() {
        let metrics: Vec<Metric> = (0..1000)
            .map(|offset| {
                let index = batch_index * 1000 + offset;
                let value = if index == 12_345 {
                    f64::NAN
                } else {
                    (index as f64).sin()
                };
                Metric::new("loss", value, 1_000_000 + index, index / 2)
            })
            .collect();
        store
            .log_batch(
                &project,
                &run_id,
                &LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    let mut points = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .get_metric_history(&project, &run_id, "loss", Some(3_000), token.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3_000);
        points.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 7);
    assert_eq!(points.len(), POINTS as usize);
    for (index, point) in points.iter().enumerate() {
        let index = index as i64;
        assert_eq!(
            (point.step, point.timestamp),
            (index / 2, 1_000_000 + index)
        );
        if index == 12_345 {
            assert!(point.value.is_nan());
        } else {
            assert_eq!(point.value, (index as f64).sin());
        }
    }
    let run = store.get_run(&project, &run_id).await.unwrap();
    assert_eq!(
        metric_value(&run, "loss"),
        Some(((POINTS - 1) as f64).sin())
    );
    let all = store
        .get_metric_history(&project, &run_id, "loss", None, None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), POINTS as usize);
    let bad = store
        .get_metric_history(
            &project,
            &run_id,
            "acc",
            Some(10),
            token.as_deref().or(Some("bm9wZQ==")),
        )
        .await
        .unwrap_err();
    assert!(message(bad).starts_with("Invalid page token"));
}

/// Bulk-interval history: up to `max_results` points per run, evenly over each history,
/// first and last kept, optionally within a step range.
pub async fn bulk_interval_history_samples_evenly(store: &dyn MetadataStore) {
    let project = tracking_project(store, "bulk").await;
    let other = tracking_project(store, "bulk-other").await;
    let exp = store
        .create_experiment(&project, &experiment("b"), 1_000)
        .await
        .unwrap();
    let long = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    let short = store
        .create_run(&project, &new_run(exp.experiment_id, 2))
        .await
        .unwrap()
        .info
        .run_id;
    for chunk in 0..5 {
        let metrics = (0..200)
            .map(|offset| {
                let step = chunk * 200 + offset;
                Metric::new("acc", step as f64 / 1000.0, 10_000 + step, step)
            })
            .collect();
        store
            .log_batch(
                &project,
                &long,
                &LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    for step in [0, 5, 7] {
        store
            .log_metric(&project, &short, &Metric::new("acc", 1.0, 1, step))
            .await
            .unwrap();
    }
    let query = |max_results: i64, range: Option<(i64, i64)>| BulkIntervalQuery {
        run_ids: vec![long.clone(), short.clone()],
        metric_key: "acc".to_string(),
        start_step: range.map(|(start, _)| start),
        end_step: range.map(|(_, end)| end),
        max_results,
    };
    let sampled = store
        .get_metric_history_bulk_interval(&project, &query(10, None))
        .await
        .unwrap();
    let long_steps: Vec<i64> = sampled
        .iter()
        .filter(|metric| metric.run_id == long)
        .map(|metric| metric.step)
        .collect();
    assert_eq!(long_steps, [0, 100, 200, 300, 400, 500, 600, 700, 800, 999]);
    let short_steps: Vec<i64> = sampled
        .iter()
        .filter(|metric| metric.run_id == short)
        .map(|metric| metric.step)
        .collect();
    assert_eq!(
        short_steps,
        [0, 5, 7],
        "fewer points than asked: all of them"
    );
    let ranged = store
        .get_metric_history_bulk_interval(&project, &query(5, Some((100, 199))))
        .await
        .unwrap();
    let steps: Vec<i64> = ranged
        .iter()
        .filter(|metric| metric.run_id == long)
        .map(|metric| metric.step)
        .collect();
    assert_eq!(steps, [100, 120, 140, 160, 199]);
    assert!(ranged
        .iter()
        .all(|metric| metric.run_id == long || metric.step >= 100));
    let one = store
        .get_metric_history_bulk_interval(&project, &query(1, None))
        .await
        .unwrap();
    assert_eq!(
        one.iter()
            .filter(|m| m.run_id == long)
            .map(|m| m.step)
            .collect::<Vec<_>>(),
        [999],
        "one point: the last"
    );
    let half = store
        .get_metric_history_bulk_interval(
            &project,
            &BulkIntervalQuery {
                start_step: Some(1),
                ..query(5, None)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(half),
        "Both start_step and end_step must be specified together, or neither may be specified."
    );
    assert!(matches!(
        store
            .get_metric_history_bulk_interval(&other, &query(5, None))
            .await,
        Err(StoreError::NotFound { entity: "run", .. })
    ));
}

/// An experiment's distinct keys: every run's (deleted ones too), sorted, each key once,
/// none of another experiment's, and another project's experiment is not found.
pub async fn experiment_keys_are_distinct_per_experiment(store: &dyn MetadataStore) {
    let project = tracking_project(store, "keys").await;
    let other = tracking_project(store, "keys-other").await;
    let exp = store
        .create_experiment(&project, &experiment("keys"), 1)
        .await
        .unwrap();
    let sibling = store
        .create_experiment(&project, &experiment("sibling"), 1)
        .await
        .unwrap();
    let empty = store
        .create_experiment(&project, &experiment("empty"), 1)
        .await
        .unwrap();
    let metric = |key: &str| Metric {
        key: key.to_string(),
        value: 1.0,
        timestamp: 1,
        step: 0,
        model_id: None,
        dataset_name: None,
        dataset_digest: None,
    };
    let mut runs = Vec::new();
    for (index, (metrics, params, tags)) in [
        (vec!["loss", "acc"], vec!["lr"], vec!["team"]),
        (vec!["loss", "val/loss"], vec!["lr", "batch size"], vec![]),
        (vec![], vec!["optimizer"], vec!["team", "z"]),
    ]
    .into_iter()
    .enumerate()
    {
        let run = store
            .create_run(&project, &new_run(exp.experiment_id, index as i64))
            .await
            .unwrap()
            .info
            .run_id;
        let batch = LogBatch {
            metrics: metrics.into_iter().map(metric).collect(),
            params: params.into_iter().map(|key| param(key, "1")).collect(),
            tags: tags.into_iter().map(|key| tag(key, "x")).collect(),
        };
        store.log_batch(&project, &run, &batch).await.unwrap();
        runs.push(run);
    }
    // A deleted run's keys still name columns of the "all" view.
    store.delete_run(&project, &runs[2], 5).await.unwrap();
    let elsewhere = store
        .create_run(&project, &new_run(sibling.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    let batch = LogBatch {
        metrics: vec![metric("sibling_metric")],
        params: vec![param("sibling_param", "1")],
        tags: vec![tag("sibling_tag", "1")],
    };
    store.log_batch(&project, &elsewhere, &batch).await.unwrap();

    let keys = store
        .experiment_keys(&project, exp.experiment_id)
        .await
        .unwrap();
    assert_eq!(keys.metrics, ["acc", "loss", "val/loss"]);
    assert_eq!(keys.params, ["batch size", "lr", "optimizer"]);
    // MLflow's system tags are keys too (every run has `mlflow.runName`).
    assert_eq!(keys.tags, ["mlflow.runName", "team", "z"]);
    assert!(!keys.truncated);
    let none = store
        .experiment_keys(&project, empty.experiment_id)
        .await
        .unwrap();
    assert_eq!(none, crate::ExperimentKeys::default());
    assert!(matches!(
        store.experiment_keys(&other, exp.experiment_id).await,
        Err(StoreError::NotFound { .. })
    ));

    // The lists stop at the cap and say so.
    let many = store
        .create_run(&project, &new_run(empty.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    let names: Vec<String> = (0..=crate::MAX_EXPERIMENT_KEYS)
        .map(|index| format!("p{index:05}"))
        .collect();
    for chunk in names.chunks(crate::MAX_PARAMS_TAGS_PER_BATCH) {
        let batch = LogBatch {
            metrics: Vec::new(),
            params: chunk.iter().map(|key| param(key, "1")).collect(),
            tags: Vec::new(),
        };
        store.log_batch(&project, &many, &batch).await.unwrap();
    }
    let cut = store
        .experiment_keys(&project, empty.experiment_id)
        .await
        .unwrap();
    assert!(cut.truncated);
    assert_eq!(cut.params.len(), crate::MAX_EXPERIMENT_KEYS);
    assert_eq!(cut.params[0], "p00000");
    assert!(cut.metrics.is_empty());
}

/// Run counts per experiment follow the view and stay within the project.
pub async fn experiment_run_stats_count_per_view(store: &dyn MetadataStore) {
    let project = tracking_project(store, "stats").await;
    let other = tracking_project(store, "stats-other").await;
    let first = store
        .create_experiment(&project, &experiment("a"), 1)
        .await
        .unwrap();
    let second = store
        .create_experiment(&project, &experiment("b"), 1)
        .await
        .unwrap();
    let empty = store
        .create_experiment(&project, &experiment("c"), 1)
        .await
        .unwrap();
    let foreign = store
        .create_experiment(&other, &experiment("a"), 1)
        .await
        .unwrap();
    let mut deleted = None;
    for (exp, start) in [
        (&first, 10),
        (&first, 30),
        (&first, 20),
        (&second, 5),
        (&foreign, 99),
    ] {
        let owner = if exp.experiment_id == foreign.experiment_id {
            &other
        } else {
            &project
        };
        let run = store
            .create_run(owner, &new_run(exp.experiment_id, start))
            .await
            .unwrap();
        if start == 30 {
            deleted = Some(run.info.run_id);
        }
    }
    store
        .delete_run(&project, &deleted.unwrap(), 40)
        .await
        .unwrap();
    let ids = [
        first.experiment_id,
        second.experiment_id,
        empty.experiment_id,
        foreign.experiment_id,
    ];
    let project = &project;
    let ids = &ids;
    let stats = |view| async move {
        store
            .experiment_run_stats(project, ids, view)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.experiment_id, s.runs, s.last_start_time))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        stats(ViewType::ActiveOnly).await,
        [
            (first.experiment_id, 2, Some(20)),
            (second.experiment_id, 1, Some(5))
        ]
    );
    assert_eq!(
        stats(ViewType::DeletedOnly).await,
        [(first.experiment_id, 1, Some(30))]
    );
    assert_eq!(
        stats(ViewType::All).await,
        [
            (first.experiment_id, 3, Some(30)),
            (second.experiment_id, 1, Some(5))
        ]
    );
}

/// A bucket as `(first_step, last_step, min, max, last, points)`.
type BucketRow = (i64, i64, Option<f64>, Option<f64>, f64, i64);

/// A chart's buckets as rows.
fn chart_rows(chart: &crate::MetricChart) -> Vec<BucketRow> {
    chart
        .buckets
        .iter()
        .map(|b| (b.first_step, b.last_step, b.min, b.max, b.last, b.points))
        .collect()
}

/// Charts bucket a history by step with min, max and last values, NaN left out of min and
/// max, zoomed ranges clamped to the history, refusals named.
pub async fn metric_charts_downsample_by_step_in_sql(store: &dyn MetadataStore) {
    let project = tracking_project(store, "chart").await;
    let other = tracking_project(store, "chart-other").await;
    let exp = store
        .create_experiment(&project, &experiment("c"), 1_000)
        .await
        .unwrap();
    let run = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    // Steps 0..999 with value = step, except: step 5 is NaN, step 17 is logged twice (the
    // later timestamp wins as "last"), and every step's timestamp is 10_000 + step.
    for chunk in 0..5 {
        let mut metrics: Vec<Metric> = (0..200)
            .map(|offset| {
                let step = chunk * 200 + offset;
                let value = if step == 5 { f64::NAN } else { step as f64 };
                Metric::new("loss", value, 10_000 + step, step)
            })
            .collect();
        if chunk == 0 {
            metrics.push(Metric::new("loss", -3.0, 20_000, 17));
        }
        store
            .log_batch(
                &project,
                &run,
                &LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    let query = |min_step: Option<i64>, max_step: Option<i64>, max_buckets: i64| MetricChartQuery {
        run_id: run.clone(),
        metric_key: "loss".to_string(),
        min_step,
        max_step,
        max_buckets,
    };

    let whole = store
        .get_metric_chart(&project, &query(None, None, 10))
        .await
        .unwrap();
    assert_eq!(whole.history_steps, Some((0, 999)));
    assert_eq!(whole.range, Some((0, 999)));
    let rows = chart_rows(&whole);
    assert_eq!(rows.len(), 10, "{rows:?}");
    assert_eq!(
        rows[0],
        (0, 99, Some(-3.0), Some(99.0), 99.0, 101),
        "NaN left out of min/max; step 17 twice"
    );
    for (index, row) in rows.iter().enumerate().skip(1) {
        let start = index as i64 * 100;
        assert_eq!(
            *row,
            (
                start,
                start + 99,
                Some(start as f64),
                Some((start + 99) as f64),
                (start + 99) as f64,
                100
            )
        );
    }
    assert_eq!(whole.buckets[9].min_timestamp, 10_900);
    assert_eq!(whole.buckets[9].max_timestamp, 10_999);
    assert_eq!(whole.buckets[9].last_timestamp, 10_999);
    assert_eq!(whole.buckets[0].max_timestamp, 20_000);

    // A zoomed range: [10, 29] in 4 buckets of 5 steps; the bucket of step 17 ends at 19.
    let zoomed = store
        .get_metric_chart(&project, &query(Some(10), Some(29), 4))
        .await
        .unwrap();
    assert_eq!(zoomed.range, Some((10, 29)));
    assert_eq!(
        chart_rows(&zoomed),
        [
            (10, 14, Some(10.0), Some(14.0), 14.0, 5),
            (15, 19, Some(-3.0), Some(19.0), 19.0, 6),
            (20, 24, Some(20.0), Some(24.0), 24.0, 5),
            (25, 29, Some(25.0), Some(29.0), 29.0, 5),
        ]
    );
    // The last point of a step logged twice is the later one.
    let step17 = store
        .get_metric_chart(&project, &query(Some(17), Some(17), 3))
        .await
        .unwrap();
    assert_eq!(
        chart_rows(&step17),
        [(17, 17, Some(-3.0), Some(17.0), -3.0, 2)]
    );
    // A NaN alone: no min or max, a NaN last value.
    let nan = store
        .get_metric_chart(&project, &query(Some(5), Some(5), 3))
        .await
        .unwrap();
    assert_eq!(nan.buckets.len(), 1);
    assert_eq!((nan.buckets[0].min, nan.buckets[0].max), (None, None));
    assert!(nan.buckets[0].last.is_nan());
    // Fewer steps than buckets: one bucket per step.
    let fine = store
        .get_metric_chart(&project, &query(Some(990), None, 1000))
        .await
        .unwrap();
    assert_eq!(fine.range, Some((990, 999)));
    assert_eq!(fine.buckets.len(), 10);
    assert!(fine
        .buckets
        .iter()
        .all(|b| b.first_step == b.last_step && b.points == 1));
    // Ranges are clamped to the history; outside it there is nothing.
    let clamped = store
        .get_metric_chart(&project, &query(Some(-50), Some(5_000), 2))
        .await
        .unwrap();
    assert_eq!(clamped.range, Some((0, 999)));
    assert_eq!(clamped.buckets.iter().map(|b| b.points).sum::<i64>(), 1001);
    let outside = store
        .get_metric_chart(&project, &query(Some(2_000), None, 2))
        .await
        .unwrap();
    assert_eq!(
        (outside.history_steps, outside.range, outside.buckets.len()),
        (Some((0, 999)), None, 0)
    );
    // A metric never logged.
    let none = store
        .get_metric_chart(
            &project,
            &MetricChartQuery {
                metric_key: "acc".to_string(),
                ..query(None, None, 5)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (none.history_steps, none.range, none.buckets.len()),
        (None, None, 0)
    );

    // Refusals: bucket counts, reversed ranges, other projects' runs.
    for bad in [0, crate::MAX_CHART_BUCKETS + 1] {
        let error = store
            .get_metric_chart(&project, &query(None, None, bad))
            .await
            .unwrap_err();
        assert!(message(error).contains("'max_buckets'"));
    }
    let reversed = store
        .get_metric_chart(&project, &query(Some(9), Some(3), 5))
        .await
        .unwrap_err();
    assert_eq!(
        message(reversed),
        "Invalid step range: min_step 9 is greater than max_step 3"
    );
    assert!(matches!(
        store.get_metric_chart(&other, &query(None, None, 5)).await,
        Err(StoreError::NotFound { entity: "run", .. })
    ));
}

struct SearchFixture {
    project: String,
    experiment_id: i64,
    other_experiment_id: i64,
}

/// Eight runs with metrics, params, tags, statuses and datasets (named r1 … r8).
async fn search_fixture(store: &dyn MetadataStore, name: &str) -> SearchFixture {
    let project = tracking_project(store, name).await;
    let exp = store
        .create_experiment(&project, &experiment("s"), 1_000)
        .await
        .unwrap();
    let second = store
        .create_experiment(&project, &experiment("s2"), 1_000)
        .await
        .unwrap();
    #[allow(clippy::type_complexity)]
    let rows: [(
        &str,
        Option<f64>,
        Option<&str>,
        Option<&str>,
        RunStatus,
        &str,
    ); 8] = [
        (
            "r1",
            Some(0.1),
            Some("0.01"),
            Some("Alpha"),
            RunStatus::Finished,
            "ada",
        ),
        (
            "r2",
            Some(0.5),
            Some("0.01"),
            Some("alpha"),
            RunStatus::Finished,
            "bob",
        ),
        (
            "r3",
            Some(0.9),
            Some("0.1"),
            Some("beta"),
            RunStatus::Failed,
            "ada",
        ),
        (
            "r4",
            Some(f64::NAN),
            Some("0.1"),
            None,
            RunStatus::Running,
            "ada",
        ),
        ("r5", None, None, Some("gamma"), RunStatus::Running, "eve"),
        (
            "r6",
            Some(f64::INFINITY),
            Some("1"),
            Some("my value"),
            RunStatus::Killed,
            "ada",
        ),
        (
            "r7",
            Some(-2.0),
            Some("0.5"),
            Some("x_y"),
            RunStatus::Finished,
            "ada",
        ),
        (
            "r8",
            Some(0.5),
            Some("0.5"),
            Some("x%y"),
            RunStatus::Finished,
            "ada",
        ),
    ];
    for (index, (name, score, lr, label, status, user)) in rows.into_iter().enumerate() {
        let run = store
            .create_run(
                &project,
                &NewRun {
                    run_name: Some(name.to_string()),
                    user_id: user.to_string(),
                    ..new_run(exp.experiment_id, 10_000 + index as i64 * 10)
                },
            )
            .await
            .unwrap();
        let mut batch = LogBatch::default();
        if let Some(score) = score {
            batch.metrics.push(Metric::new("score", score, 1, 0));
            batch.metrics.push(Metric::new("my score", score, 1, 0));
        }
        if let Some(lr) = lr {
            batch.params.push(param("lr", lr));
        }
        if let Some(label) = label {
            batch.tags.push(tag("label", label));
        }
        store
            .log_batch(&project, &run.info.run_id, &batch)
            .await
            .unwrap();
        store
            .update_run(
                &project,
                &run.info.run_id,
                &RunUpdate {
                    status: Some(status),
                    end_time: status.is_terminated().then_some(20_000 + index as i64),
                    run_name: None,
                },
            )
            .await
            .unwrap();
        if index < 3 {
            let context = if index == 2 { "eval" } else { "train" };
            store
                .log_inputs(
                    &project,
                    &run.info.run_id,
                    &[DatasetInput {
                        tags: vec![InputTag {
                            key: "mlflow.data.context".to_string(),
                            value: context.to_string(),
                        }],
                        dataset: Dataset {
                            name: if index == 0 {
                                "iris".to_string()
                            } else {
                                "wine".to_string()
                            },
                            digest: format!("d{index}"),
                            source_type: "local".to_string(),
                            source: "{}".to_string(),
                            schema: None,
                            profile: None,
                        },
                    }],
                    &[],
                )
                .await
                .unwrap();
        }
    }
    // A run elsewhere, which no search of `exp` may return.
    let stray = store
        .create_run(
            &project,
            &NewRun {
                run_name: Some("stray".to_string()),
                ..new_run(second.experiment_id, 50_000)
            },
        )
        .await
        .unwrap();
    store
        .log_metric(
            &project,
            &stray.info.run_id,
            &Metric::new("score", 0.5, 1, 0),
        )
        .await
        .unwrap();
    SearchFixture {
        project,
        experiment_id: exp.experiment_id,
        other_experiment_id: second.experiment_id,
    }
}

/// Search-runs compiles MLflow's whole filter grammar to SQL: metrics (NaN only matches
/// `!=`), params, tags, attributes, datasets, `LIKE` (case-sensitive) and `ILIKE`,
/// `IN`/`NOT IN`, `IS [NOT] NULL`, backticked keys; refusals carry MLflow's messages.
pub async fn search_runs_filters_like_mlflow(store: &dyn MetadataStore) {
    let fixture = search_fixture(store, "filters").await;
    let project = fixture.project.as_str();
    let exp = fixture.experiment_id;
    let names = |filter: &str| run_names(store, project, search(vec![exp], filter));
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let check = |filter: &'static str, expected: &'static [&'static str]| async move {
        assert_eq!(sorted(names(filter).await), expected, "{filter}");
    };
    check("", &["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]).await;
    check("metrics.score > 0.4", &["r2", "r3", "r6", "r8"]).await;
    check("metrics.score = 0.5", &["r2", "r8"]).await;
    check("metrics.score != 0.5", &["r1", "r3", "r4", "r6", "r7"]).await;
    // NaN is stored as 0: it must match `!= 0` and never `= 0`.
    check(
        "metrics.score != 0",
        &["r1", "r2", "r3", "r4", "r6", "r7", "r8"],
    )
    .await;
    check("metrics.score = 0", &[]).await;
    check("metrics.score <= -1", &["r7"]).await;
    check("metrics.score > 1e308", &["r6"]).await;
    check("metrics.`my score` >= 0.5", &["r2", "r3", "r6", "r8"]).await;
    check("metrics.\"my score\" < 0", &["r7"]).await;
    check("params.lr = '0.01'", &["r1", "r2"]).await;
    check("params.lr = \"0.1\"", &["r3", "r4"]).await;
    check("params.lr != '0.01'", &["r3", "r4", "r6", "r7", "r8"]).await;
    check(
        "params.lr LIKE '0.%'",
        &["r1", "r2", "r3", "r4", "r7", "r8"],
    )
    .await;
    check("params.lr IS NULL", &["r5"]).await;
    check(
        "param.lr IS NOT NULL AND metrics.score < 0.2",
        &["r1", "r7"],
    )
    .await;
    check("tags.label LIKE 'a%'", &["r2"]).await;
    check("tags.label LIKE 'A%'", &["r1"]).await;
    check("tags.label ILIKE 'a%'", &["r1", "r2"]).await;
    check("tags.label LIKE 'x\\_y'", &["r7"]).await;
    check("tags.label LIKE 'x_y'", &["r7", "r8"]).await;
    check("tags.label LIKE '%\\%%'", &["r8"]).await;
    check("tags.label = 'my value'", &["r6"]).await;
    check("tags.label IS NULL", &["r4"]).await;
    check("tags.`mlflow.runName` = 'r3'", &["r3"]).await;
    check("attributes.status = 'FINISHED'", &["r1", "r2", "r7", "r8"]).await;
    check(
        "status != 'FINISHED' AND attributes.user_id = 'ada'",
        &["r3", "r4", "r6"],
    )
    .await;
    check("attributes.status = 'finished'", &[]).await;
    check("attributes.run_name = 'r5'", &["r5"]).await;
    check(
        "attributes.`Run name` LIKE 'r%' AND attributes.start_time >= 10060",
        &["r7", "r8"],
    )
    .await;
    check("attributes.created < 10020", &["r1", "r2"]).await;
    check("attributes.end_time > 20004", &["r6", "r7", "r8"]).await;
    check(
        "attributes.artifact_uri LIKE 'mlflow-artifacts:/%'",
        &["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"],
    )
    .await;
    check("datasets.name = 'wine'", &["r2", "r3"]).await;
    check("datasets.digest IN ('d0', 'd2')", &["r1", "r3"]).await;
    check("datasets.context = 'train'", &["r1", "r2"]).await;
    check("datasets.name NOT IN ('iris')", &["r2", "r3"]).await;
    check(
        "metrics.score > 0 and params.lr = '0.5' AND tags.label ILIKE 'X%'",
        &["r8"],
    )
    .await;

    let all = store
        .search_runs(project, &search(vec![exp], "attributes.run_name IN ('r1')"))
        .await
        .unwrap_err();
    assert_eq!(
        message(all),
        "Only ['run_id'] attributes support comparison with a list of quoted string values."
    );
    let r1 = store
        .search_runs(project, &search(vec![exp], "attributes.run_name = 'r1'"))
        .await
        .unwrap()
        .items
        .remove(0);
    let r2_id = store
        .search_runs(project, &search(vec![exp], "run_name = 'r2'"))
        .await
        .unwrap()
        .items
        .remove(0)
        .info
        .run_id;
    let by_ids = format!("attributes.run_id IN ('{}', '{r2_id}')", r1.info.run_id);
    assert_eq!(sorted(names(&by_ids).await), ["r1", "r2"]);
    let not_ids = format!("attributes.run_id NOT IN ('{}', '{r2_id}')", r1.info.run_id);
    assert_eq!(names(&not_ids).await.len(), 6);
    // A returned run carries everything.
    assert_eq!(r1.data.params, vec![param("lr", "0.01")]);
    assert_eq!(r1.inputs.dataset_inputs[0].dataset.name, "iris");
    assert_eq!(metric_value(&r1, "score"), Some(0.1));

    // Scoping: experiments, view type, project.
    assert_eq!(
        run_names(
            store,
            project,
            search(vec![fixture.other_experiment_id], "metrics.score = 0.5")
        )
        .await,
        ["stray"]
    );
    assert_eq!(
        run_names(
            store,
            project,
            search(
                vec![exp, fixture.other_experiment_id],
                "metrics.score = 0.5"
            )
        )
        .await
        .len(),
        3
    );
    let someone_else = tracking_project(store, "filters-else").await;
    assert!(run_names(store, &someone_else, search(vec![exp], ""))
        .await
        .is_empty());
    assert!(run_names(store, project, search(vec![], ""))
        .await
        .is_empty());
    let r4 = store
        .search_runs(project, &search(vec![exp], "attributes.run_name = 'r4'"))
        .await
        .unwrap()
        .items
        .remove(0);
    store.delete_run(project, &r4.info.run_id, 1).await.unwrap();
    assert_eq!(names("params.lr = '0.1'").await, ["r3"]);
    let deleted = RunSearch {
        run_view_type: ViewType::DeletedOnly,
        ..search(vec![exp], "")
    };
    assert_eq!(run_names(store, project, deleted).await, ["r4"]);
    let every = RunSearch {
        run_view_type: ViewType::All,
        ..search(vec![exp], "params.lr = '0.1'")
    };
    assert_eq!(run_names(store, project, every).await.len(), 2);

    for (filter, expected) in [
        ("metrics.score > 0.5 OR params.lr = '1'", "Invalid clause(s) in filter string: 'OR'"),
        ("params.lr > '0.1'", "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE'}'"),
        ("metrics.score IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'score'"),
        ("metrics.score > 'x'", "Expected numeric value type for metric. Found 'x'"),
        ("foo.bar = 'x'", "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"),
        ("params.lr = 0.1", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 0.1"),
        ("metrics.score > 1; params.lr = '1'", "Search filter contained multiple expression \"metrics.score > 1; params.lr = '1'\". Provide AND-ed expression list."),
    ] {
        let refused = store.search_runs(project, &search(vec![exp], filter)).await.unwrap_err();
        assert_eq!(message(refused), expected, "{filter}");
    }
}

/// Search-runs orders as MLflow: by the given keys, missing values last (NaN after values
/// and before missing ones for metrics), then `start_time DESC`, then run id.
pub async fn search_runs_orders_nulls_and_nans_last(store: &dyn MetadataStore) {
    let fixture = search_fixture(store, "orders").await;
    let project = fixture.project.as_str();
    let ordered = |order: &[&str]| {
        let query = RunSearch {
            order_by: order.iter().map(|entry| entry.to_string()).collect(),
            ..search(vec![fixture.experiment_id], "")
        };
        run_names(store, project, query)
    };
    assert_eq!(
        ordered(&[]).await,
        ["r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1"]
    );
    assert_eq!(
        ordered(&["metrics.score DESC"]).await,
        ["r6", "r3", "r8", "r2", "r1", "r7", "r4", "r5"]
    );
    assert_eq!(
        ordered(&["metrics.score ASC"]).await,
        ["r7", "r1", "r8", "r2", "r3", "r6", "r4", "r5"]
    );
    assert_eq!(
        ordered(&["metrics.`my score` DESC", "attributes.start_time ASC"]).await,
        ["r6", "r3", "r2", "r8", "r1", "r7", "r4", "r5"]
    );
    assert_eq!(
        ordered(&["params.lr DESC"]).await,
        ["r6", "r8", "r7", "r4", "r3", "r2", "r1", "r5"]
    );
    assert_eq!(
        ordered(&["tags.label"]).await,
        ["r1", "r2", "r3", "r5", "r6", "r8", "r7", "r4"]
    );
    assert_eq!(
        ordered(&["attributes.end_time DESC"]).await,
        ["r8", "r7", "r6", "r3", "r2", "r1", "r5", "r4"]
    );
    assert_eq!(
        ordered(&["status", "run_name DESC"]).await,
        ["r3", "r8", "r7", "r2", "r1", "r6", "r5", "r4"]
    );
    let refused = store
        .search_runs(
            project,
            &RunSearch {
                order_by: vec![
                    "metrics.score".to_string(),
                    "metrics.score DESC".to_string(),
                ],
                ..search(vec![fixture.experiment_id], "")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        "`order_by` contains duplicate fields: ['metrics.score', 'metrics.score DESC']"
    );
    let refused = store
        .search_runs(
            project,
            &RunSearch {
                order_by: vec!["metrics.score sideways".to_string()],
                ..search(vec![fixture.experiment_id], "")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        "Invalid ordering key in order_by clause 'metrics.score sideways'."
    );
}

/// A run search runs one of two ways: driven by its most selective indexed filter clause
/// (its matches looked up and sorted), or walking the runs in the requested order (for a
/// metric order, the metric's index: valued, then NaN, then missing runs) and testing each.
/// Both return the same runs in the same order, page by page, across stages and ties,
/// without deleted runs or other experiments' runs.
pub async fn search_runs_plans_agree(store: &dyn MetadataStore) {
    let fixture = search_fixture(store, "plans").await;
    let project = fixture.project.as_str();
    // A deleted run that every search below would otherwise find.
    let deleted = store
        .create_run(
            project,
            &NewRun {
                run_name: Some("gone".to_string()),
                ..new_run(fixture.experiment_id, 10_035)
            },
        )
        .await
        .unwrap();
    let batch = LogBatch {
        metrics: vec![
            Metric::new("score", 0.7, 1, 0),
            Metric::new("my score", 0.7, 1, 0),
        ],
        params: vec![param("lr", "0.01")],
        tags: vec![tag("label", "alpha")],
    };
    store
        .log_batch(project, &deleted.info.run_id, &batch)
        .await
        .unwrap();
    store
        .delete_run(project, &deleted.info.run_id, 30_000)
        .await
        .unwrap();
    let both = vec![fixture.experiment_id, fixture.other_experiment_id];
    let queries: Vec<(Vec<i64>, &str, Vec<&str>)> = vec![
        (vec![fixture.experiment_id], "", vec!["metrics.score DESC"]),
        (
            vec![fixture.experiment_id],
            "",
            vec!["metrics.score ASC", "params.lr DESC"],
        ),
        (both.clone(), "", vec!["metrics.`my score` DESC"]),
        (both.clone(), "metrics.score >= 0.5", vec![]),
        (
            vec![fixture.experiment_id],
            "metrics.score > -5",
            vec!["metrics.score DESC"],
        ),
        (
            vec![fixture.experiment_id],
            "metrics.score < 1 and params.lr = '0.5'",
            vec!["start_time ASC"],
        ),
        (
            vec![fixture.experiment_id],
            "params.lr = '0.01'",
            vec!["metrics.score ASC"],
        ),
        (
            vec![fixture.experiment_id],
            "params.lr != '1' and tags.label = 'alpha'",
            vec![],
        ),
        (
            vec![fixture.experiment_id],
            "tags.label = 'gamma'",
            vec!["metrics.score DESC"],
        ),
        (
            vec![fixture.experiment_id],
            "params.lr = '0.1'",
            vec!["metrics.score DESC"],
        ),
        (
            vec![fixture.experiment_id],
            "metrics.score = 0.5 and tags.label LIKE 'x%'",
            vec!["tags.label"],
        ),
    ];
    let pages = |ids: Vec<i64>, filter: &str, order: Vec<&str>, size: i64| {
        let query = RunSearch {
            max_results: size,
            order_by: order.iter().map(|entry| entry.to_string()).collect(),
            ..search(ids, filter)
        };
        async move {
            let mut names = Vec::new();
            let mut token = None;
            loop {
                let page = store
                    .search_runs(
                        project,
                        &RunSearch {
                            page_token: token.clone(),
                            ..query.clone()
                        },
                    )
                    .await
                    .unwrap_or_else(|error| panic!("{:?}: {error}", query.filter));
                assert!(page.items.len() as i64 <= size);
                names.extend(page.items.into_iter().map(|run| run.info.run_name));
                token = page.next_page_token;
                if token.is_none() {
                    return names;
                }
            }
        }
    };
    for (ids, filter, order) in queries {
        crate::tracking::query::set_run_driver_cap(0);
        let walked = pages(ids.clone(), filter, order.clone(), 1000).await;
        assert!(!walked.is_empty(), "{filter} {order:?} finds runs");
        assert!(!walked.contains(&"gone".to_string()), "{filter} {order:?}");
        assert!(
            !walked.contains(&"stray".to_string()) || ids.len() == 2,
            "{filter} {order:?}"
        );
        for size in [1, 3] {
            assert_eq!(
                pages(ids.clone(), filter, order.clone(), size).await,
                walked,
                "{filter} {order:?} walked in pages of {size}"
            );
        }
        crate::tracking::query::set_run_driver_cap(i64::MAX);
        for size in [1, 3, 1000] {
            assert_eq!(
                pages(ids.clone(), filter, order.clone(), size).await,
                walked,
                "{filter} {order:?} driven in pages of {size}"
            );
        }
        crate::tracking::query::set_run_driver_cap(crate::tracking::query::RUN_DRIVER_CAP);
    }
    // The staged metric order is MLflow's: values, then NaN (r4), then no value (r5).
    crate::tracking::query::set_run_driver_cap(0);
    assert_eq!(
        pages(
            vec![fixture.experiment_id],
            "",
            vec!["metrics.score DESC"],
            2
        )
        .await,
        ["r6", "r3", "r8", "r2", "r1", "r7", "r4", "r5"]
    );
    crate::tracking::query::set_run_driver_cap(crate::tracking::query::RUN_DRIVER_CAP);
}

/// 2 000 runs: a metric filter with an order and small pages returns exactly the matching
/// runs in MLflow's order, across ties, with no repeat and no gap.
pub async fn search_runs_pages_two_thousand_runs(store: &dyn MetadataStore) {
    let project = tracking_project(store, "bigsearch").await;
    let exp = store
        .create_experiment(&project, &experiment("big"), 1_000)
        .await
        .unwrap();
    const RUNS: i64 = 2_000;
    let mut expected: Vec<(f64, i64, String, String)> = Vec::new();
    let mut all: Vec<(Option<String>, i64, String)> = Vec::new();
    let create = |index: i64| {
        let project = project.clone();
        async move {
            // Start times repeat (ties on the second key too), scores repeat every 37 runs.
            let start = 1_000 + index % 50;
            let run = store
                .create_run(&project, &new_run(exp.experiment_id, start))
                .await
                .unwrap();
            let score = (index % 37) as f64 / 36.0;
            let group = (index % 5 != 0).then(|| format!("g{}", index % 7));
            let mut batch = LogBatch {
                metrics: vec![Metric::new("score", score, 1, 0)],
                ..LogBatch::default()
            };
            if let Some(group) = &group {
                batch.params.push(param("group", group));
            }
            store
                .log_batch(&project, &run.info.run_id, &batch)
                .await
                .unwrap();
            (run.info.run_id, start, score, group)
        }
    };
    let mut creations = Vec::new();
    for chunk in (0..RUNS).collect::<Vec<_>>().chunks(50) {
        creations.extend(futures::future::join_all(chunk.iter().map(|index| create(*index))).await);
    }
    for (run_id, start, score, group) in creations {
        if score > 0.25 {
            expected.push((score, start, run_id.clone(), String::new()));
        }
        all.push((group, start, run_id));
    }
    // MLflow's order: score DESC, then start_time DESC, then run id ASC.
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_runs(
                &project,
                &RunSearch {
                    experiment_ids: vec![exp.experiment_id],
                    filter: Some("metrics.score > 0.25".to_string()),
                    run_view_type: ViewType::ActiveOnly,
                    max_results: 97,
                    order_by: vec!["metrics.score DESC".to_string()],
                    page_token: token.clone(),
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 97);
        seen.extend(page.items.into_iter().map(|run| run.info.run_id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    let wanted: Vec<String> = expected.into_iter().map(|(_, _, id, _)| id).collect();
    assert_eq!(seen.len(), wanted.len());
    assert_eq!(seen, wanted);

    // Ordering by a param some runs lack: present values ascending, missing ones last.
    all.sort_by(|a, b| {
        (a.0.is_none(), &a.0)
            .cmp(&(b.0.is_none(), &b.0))
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
    });
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_runs(
                &project,
                &RunSearch {
                    experiment_ids: vec![exp.experiment_id],
                    filter: None,
                    run_view_type: ViewType::ActiveOnly,
                    max_results: 500,
                    order_by: vec!["params.group ASC".to_string()],
                    page_token: token.clone(),
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|run| run.info.run_id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    let wanted: Vec<String> = all.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(seen, wanted);
}

/// Log-inputs: datasets are shared per experiment by (name, digest), an input is recorded
/// once with its first tags; model inputs and outputs must be the project's logged models.
pub async fn datasets_and_model_inputs_are_logged_once(store: &dyn MetadataStore) {
    let project = tracking_project(store, "inputs").await;
    let other = tracking_project(store, "inputs-other").await;
    let exp = store
        .create_experiment(&project, &experiment("i"), 1_000)
        .await
        .unwrap();
    let first = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    let second = store
        .create_run(&project, &new_run(exp.experiment_id, 2))
        .await
        .unwrap()
        .info
        .run_id;
    let input = |context: &str, schema: Option<&str>| DatasetInput {
        tags: vec![InputTag {
            key: "mlflow.data.context".to_string(),
            value: context.to_string(),
        }],
        dataset: Dataset {
            name: "iris".to_string(),
            digest: "abc123".to_string(),
            source_type: "local".to_string(),
            source: "{\"uri\": \"/data/iris.csv\"}".to_string(),
            schema: schema.map(str::to_string),
            profile: Some("{\"num_rows\": 150}".to_string()),
        },
    };
    store
        .log_inputs(
            &project,
            &first,
            &[input("train", Some("{}")), input("ignored", None)],
            &[],
        )
        .await
        .unwrap();
    store
        .log_inputs(&project, &first, &[input("eval", None)], &[])
        .await
        .unwrap();
    store
        .log_inputs(&project, &second, &[input("eval", None)], &[])
        .await
        .unwrap();
    let run = store.get_run(&project, &first).await.unwrap();
    assert_eq!(run.inputs.dataset_inputs.len(), 1);
    assert_eq!(run.inputs.dataset_inputs[0].tags[0].value, "train");
    assert_eq!(
        run.inputs.dataset_inputs[0].dataset.schema.as_deref(),
        Some("{}")
    );
    let other_run = store.get_run(&project, &second).await.unwrap();
    assert_eq!(other_run.inputs.dataset_inputs[0].tags[0].value, "eval");
    assert_eq!(
        other_run.inputs.dataset_inputs[0].dataset.schema.as_deref(),
        Some("{}"),
        "the experiment's dataset is shared"
    );

    let model = store
        .create_logged_model(
            &project,
            &NewLoggedModel {
                experiment_id: exp.experiment_id,
                source_run_id: Some(first.clone()),
                ..NewLoggedModel::default()
            },
            5_000,
        )
        .await
        .unwrap();
    store
        .log_inputs(
            &project,
            &second,
            &[],
            &[ModelInput {
                model_id: model.model_id.clone(),
            }],
        )
        .await
        .unwrap();
    store
        .log_outputs(
            &project,
            &first,
            &[ModelOutput {
                model_id: model.model_id.clone(),
                step: 3,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_run(&project, &second)
            .await
            .unwrap()
            .inputs
            .model_inputs,
        [ModelInput {
            model_id: model.model_id.clone()
        }]
    );
    assert_eq!(
        store
            .get_run(&project, &first)
            .await
            .unwrap()
            .outputs
            .model_outputs,
        [ModelOutput {
            model_id: model.model_id.clone(),
            step: 3
        }]
    );
    let foreign_exp = store
        .create_experiment(&other, &experiment("x"), 1)
        .await
        .unwrap();
    let foreign_run = store
        .create_run(&other, &new_run(foreign_exp.experiment_id, 1))
        .await
        .unwrap();
    assert!(matches!(
        store
            .log_inputs(
                &other,
                &foreign_run.info.run_id,
                &[],
                &[ModelInput {
                    model_id: model.model_id.clone()
                }]
            )
            .await,
        Err(StoreError::NotFound {
            entity: "logged model",
            ..
        })
    ));
    let too_long = DatasetInput {
        dataset: Dataset {
            digest: "d".repeat(37),
            ..input("x", None).dataset
        },
        ..input("x", None)
    };
    assert_eq!(
        message(
            store
                .log_inputs(&project, &first, &[too_long], &[])
                .await
                .unwrap_err()
        ),
        "'digest' exceeds the maximum length of 36 characters"
    );

    // The experiment's datasets, once per context they were used in; other projects'
    // experiments add nothing.
    let summaries = store
        .search_dataset_summaries(
            &project,
            &[exp.experiment_id, foreign_exp.experiment_id, 999_999],
        )
        .await
        .unwrap();
    let found: Vec<(i64, &str, &str, Option<&str>)> = summaries
        .iter()
        .map(|s| {
            (
                s.experiment_id,
                s.name.as_str(),
                s.digest.as_str(),
                s.context.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (exp.experiment_id, "iris", "abc123", Some("eval")),
            (exp.experiment_id, "iris", "abc123", Some("train")),
        ]
    );
    assert!(store
        .search_dataset_summaries(&other, &[exp.experiment_id])
        .await
        .unwrap()
        .is_empty());
}

/// MLflow 3 logged models: ids, artifact location, status, tags, params, metrics logged
/// through runs, search by filter/order/datasets with pages, soft delete.
pub async fn logged_models_are_created_finalized_tagged_and_searched(store: &dyn MetadataStore) {
    let project = tracking_project(store, "models").await;
    let exp = store
        .create_experiment(&project, &experiment("lm"), 1_000)
        .await
        .unwrap();
    let run_id = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    let mut models = Vec::new();
    for index in 0..5 {
        let model = store
            .create_logged_model(
                &project,
                &NewLoggedModel {
                    experiment_id: exp.experiment_id,
                    name: Some(format!("model-{index}")),
                    source_run_id: Some(run_id.clone()),
                    model_type: (index % 2 == 0).then(|| "sklearn".to_string()),
                    tags: vec![LoggedModelTag {
                        key: "flavor".to_string(),
                        value: if index < 3 { "sk" } else { "torch" }.to_string(),
                    }],
                    params: vec![LoggedModelParameter {
                        key: "alpha".to_string(),
                        value: format!("0.{index}"),
                    }],
                },
                10_000 + index,
            )
            .await
            .unwrap();
        models.push(model);
    }
    let first = &models[0];
    assert!(first.model_id.starts_with("m-") && first.model_id.len() == 34);
    assert_eq!(first.status, LoggedModelStatus::Pending);
    assert_eq!(
        first.artifact_location,
        format!(
            "mlflow-artifacts:/{}/models/{}/artifacts",
            exp.experiment_id, first.model_id
        )
    );
    assert_eq!(first.params[0].value, "0.0");
    let finalized = store
        .finalize_logged_model(&project, &first.model_id, LoggedModelStatus::Ready, 20_000)
        .await
        .unwrap();
    assert_eq!(
        (finalized.status, finalized.last_updated_timestamp),
        (LoggedModelStatus::Ready, 20_000)
    );
    store
        .set_logged_model_tags(
            &project,
            &first.model_id,
            &[
                LoggedModelTag {
                    key: "stage".to_string(),
                    value: "a".to_string(),
                },
                LoggedModelTag {
                    key: "stage".to_string(),
                    value: "b".to_string(),
                },
            ],
        )
        .await
        .unwrap();
    store
        .log_logged_model_params(
            &project,
            &first.model_id,
            &[LoggedModelParameter {
                key: "beta".to_string(),
                value: "2".to_string(),
            }],
        )
        .await
        .unwrap();
    store
        .delete_logged_model_tag(&project, &first.model_id, "flavor")
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_logged_model_tag(&project, &first.model_id, "flavor")
            .await,
        Err(StoreError::Missing(message))
            if message == format!("No tag with key 'flavor' found for model with ID '{}'.", first.model_id)
    ));
    let fetched = store
        .get_logged_model(&project, &first.model_id)
        .await
        .unwrap();
    assert_eq!(
        fetched.tags,
        [LoggedModelTag {
            key: "stage".to_string(),
            value: "b".to_string()
        }]
    );
    assert_eq!(fetched.params.len(), 2);

    // Metrics reach a model through the run that logs them (and stay run metrics too).
    let accuracy = |model: usize, value: f64, step: i64, dataset: &str| Metric {
        model_id: Some(models[model].model_id.clone()),
        dataset_name: Some(dataset.to_string()),
        dataset_digest: Some("dd".to_string()),
        ..Metric::new("acc", value, 100 + step, step)
    };
    store
        .log_batch(
            &project,
            &run_id,
            &LogBatch {
                metrics: vec![
                    accuracy(0, 0.70, 1, "val"),
                    accuracy(0, 0.90, 2, "val"),
                    accuracy(1, 0.80, 1, "val"),
                    accuracy(2, 0.95, 1, "test"),
                    accuracy(3, f64::NAN, 1, "val"),
                ],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    let with_metrics = store
        .get_logged_model(&project, &models[0].model_id)
        .await
        .unwrap();
    assert_eq!(with_metrics.metrics.len(), 2);
    assert_eq!(with_metrics.metrics[1].value, 0.90);
    assert_eq!(with_metrics.metrics[1].dataset_name.as_deref(), Some("val"));
    let nan = store
        .get_logged_model(&project, &models[3].model_id)
        .await
        .unwrap();
    assert!(nan.metrics[0].value.is_nan());
    assert!(metric_value(&store.get_run(&project, &run_id).await.unwrap(), "acc").is_some());
    let missing = Metric {
        model_id: Some("m-00000000000000000000000000000000".to_string()),
        ..Metric::new("acc", 1.0, 1, 1)
    };
    assert!(matches!(
        store.log_metric(&project, &run_id, &missing).await,
        Err(StoreError::NotFound {
            entity: "logged model",
            ..
        })
    ));

    let find = |filter: &str, order: Vec<LoggedModelOrderBy>, datasets: Vec<DatasetFilter>| {
        let query = LoggedModelSearch {
            experiment_ids: vec![exp.experiment_id],
            filter: (!filter.is_empty()).then(|| filter.to_string()),
            datasets,
            order_by: order,
            max_results: 100,
            page_token: None,
        };
        let project = project.clone();
        async move {
            store
                .search_logged_models(&project, &query)
                .await
                .unwrap_or_else(|error| panic!("{:?}: {error}", query.filter))
                .items
                .into_iter()
                .map(|model| model.name)
                .collect::<Vec<_>>()
        }
    };
    let by = |field: &str, ascending: bool| LoggedModelOrderBy {
        field_name: field.to_string(),
        ascending,
        dataset_name: None,
        dataset_digest: None,
    };
    assert_eq!(
        find("", vec![], vec![]).await,
        ["model-4", "model-3", "model-2", "model-1", "model-0"]
    );
    assert_eq!(
        find(
            "name LIKE 'model-%' AND params.alpha = '0.1'",
            vec![],
            vec![]
        )
        .await,
        ["model-1"]
    );
    assert_eq!(
        find("tags.flavor = 'torch'", vec![by("name", true)], vec![]).await,
        ["model-3", "model-4"]
    );
    assert_eq!(
        find("model_type = 'sklearn'", vec![by("name", true)], vec![]).await,
        ["model-0", "model-2", "model-4"]
    );
    assert_eq!(
        find("metrics.acc > 0.85", vec![by("name", true)], vec![]).await,
        ["model-0", "model-2"]
    );
    assert_eq!(
        find(
            "metrics.acc > 0.85",
            vec![],
            vec![DatasetFilter {
                dataset_name: "val".to_string(),
                dataset_digest: None
            }]
        )
        .await,
        ["model-0"]
    );
    assert_eq!(
        find(
            "",
            vec![],
            vec![DatasetFilter {
                dataset_name: "test".to_string(),
                dataset_digest: Some("dd".to_string())
            }]
        )
        .await,
        ["model-2"]
    );
    assert_eq!(
        find("", vec![by("metrics.acc", false)], vec![]).await,
        ["model-2", "model-0", "model-1", "model-3", "model-4"],
        "latest value per model, NaN after values, missing last"
    );
    assert_eq!(
        find(
            "creation_timestamp >= 10003",
            vec![by("creation_timestamp", true)],
            vec![]
        )
        .await,
        ["model-3", "model-4"]
    );
    let refused = store
        .search_logged_models(
            &project,
            &LoggedModelSearch {
                experiment_ids: vec![exp.experiment_id],
                filter: Some("name > 'x'".to_string()),
                datasets: vec![],
                order_by: vec![],
                max_results: 10,
                page_token: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        "Invalid comparison operator for attributes.name: '>'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
    );

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_logged_models(
                &project,
                &LoggedModelSearch {
                    experiment_ids: vec![exp.experiment_id],
                    filter: None,
                    datasets: vec![],
                    order_by: vec![by("metrics.acc", true)],
                    max_results: 2,
                    page_token: token.clone(),
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|model| model.name));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        ["model-1", "model-0", "model-2", "model-3", "model-4"]
    );

    store
        .delete_logged_model(&project, &models[4].model_id, 30_000)
        .await
        .unwrap();
    assert!(matches!(
        store.get_logged_model(&project, &models[4].model_id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(find("", vec![], vec![]).await.len(), 4);
    let other = tracking_project(store, "models-other").await;
    assert!(matches!(
        store.get_logged_model(&other, &models[0].model_id).await,
        Err(StoreError::NotFound { .. })
    ));
    let bad_name = store
        .create_logged_model(
            &project,
            &NewLoggedModel {
                experiment_id: exp.experiment_id,
                name: Some("a/b".to_string()),
                ..NewLoggedModel::default()
            },
            1,
        )
        .await
        .unwrap_err();
    assert!(message(bad_name).starts_with("Invalid model name ('a/b') provided."));
}

/// Deleting a project removes its experiments, runs, metrics, inputs, logged models and
/// registry entries (foreign keys cascade on both backends); other projects keep theirs.
pub async fn deleting_a_project_removes_its_tracking_data(store: &dyn MetadataStore) {
    let doomed = tracking_project(store, "doomed").await;
    let kept = tracking_project(store, "kept").await;
    let mut runs = Vec::new();
    for project in [&doomed, &kept] {
        let exp = store
            .create_experiment(project, &experiment("e"), 1)
            .await
            .unwrap();
        let run = store
            .create_run(project, &new_run(exp.experiment_id, 1))
            .await
            .unwrap();
        let model = store
            .create_logged_model(
                project,
                &NewLoggedModel {
                    experiment_id: exp.experiment_id,
                    ..NewLoggedModel::default()
                },
                1,
            )
            .await
            .unwrap();
        store
            .log_batch(
                project,
                &run.info.run_id,
                &LogBatch {
                    metrics: vec![
                        Metric::new("m", 1.0, 1, 1),
                        Metric {
                            model_id: Some(model.model_id.clone()),
                            ..Metric::new("acc", 0.5, 1, 1)
                        },
                    ],
                    params: vec![param("p", "1")],
                    tags: vec![tag("t", "1")],
                },
            )
            .await
            .unwrap();
        store
            .log_inputs(
                project,
                &run.info.run_id,
                &[DatasetInput {
                    tags: vec![InputTag {
                        key: "mlflow.data.context".to_string(),
                        value: "train".to_string(),
                    }],
                    dataset: Dataset {
                        name: "d".to_string(),
                        digest: "1".to_string(),
                        source_type: "local".to_string(),
                        source: "{}".to_string(),
                        schema: None,
                        profile: None,
                    },
                }],
                &[ModelInput {
                    model_id: model.model_id.clone(),
                }],
            )
            .await
            .unwrap();
        store
            .create_registered_model(
                project,
                &crate::NewRegisteredModel {
                    name: "rm".to_string(),
                    description: None,
                    tags: vec![plinth_types::RegisteredModelTag {
                        key: "k".to_string(),
                        value: "v".to_string(),
                    }],
                    ..crate::NewRegisteredModel::default()
                },
                1,
            )
            .await
            .unwrap();
        store
            .create_model_version(
                project,
                &crate::NewModelVersion {
                    name: "rm".to_string(),
                    source: format!("models:/{}", model.model_id),
                    tags: vec![plinth_types::ModelVersionTag {
                        key: "k".to_string(),
                        value: "v".to_string(),
                    }],
                    ..crate::NewModelVersion::default()
                },
                1,
            )
            .await
            .unwrap();
        store
            .set_registered_model_alias(project, "rm", "champion", 1)
            .await
            .unwrap();
        runs.push(run.info.run_id);
    }
    store.delete_project(&doomed).await.unwrap();
    assert!(matches!(
        store.get_run(&doomed, &runs[0]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_registered_model(&doomed, "rm").await,
        Err(StoreError::NotFound { .. })
    ));
    let survivor = store.get_run(&kept, &runs[1]).await.unwrap();
    assert_eq!(survivor.data.params, vec![param("p", "1")]);
    assert_eq!(survivor.inputs.dataset_inputs.len(), 1);
    assert_eq!(
        store
            .get_model_version_by_alias(&kept, "rm", "champion")
            .await
            .unwrap()
            .version,
        1
    );
}

/// Log calls made at once (which the group-commit writer applies in shared transactions)
/// each get their own result: a call that fails (a param changing value, a deleted run)
/// fails alone and leaves nothing behind, the others are all stored, and a run created in
/// the same burst is usable.
pub async fn concurrent_log_calls_each_get_their_own_result(store: &dyn MetadataStore) {
    use futures::future::{join_all, BoxFuture, FutureExt};

    let (project, exp, run_id) = project_with_run(store, "burst").await;
    let deleted = store
        .create_run(&project, &new_run(exp.experiment_id, 1))
        .await
        .unwrap()
        .info
        .run_id;
    store.delete_run(&project, &deleted, 2).await.unwrap();
    store
        .log_param(&project, &run_id, &param("lr", "0.01"))
        .await
        .unwrap();

    /// What a call is, whether it must succeed, and the call.
    type Call<'a> = (String, bool, BoxFuture<'a, Result<(), StoreError>>);
    let mut calls: Vec<Call<'_>> = Vec::new();
    let (project, run, gone) = (project.as_str(), run_id.as_str(), deleted.as_str());
    for step in 0..120_i64 {
        let metric = Metric::new("loss", step as f64, 10 + step, step);
        calls.push((
            format!("log_metric step {step}"),
            true,
            async move { store.log_metric(project, run, &metric).await }.boxed(),
        ));
        match step % 6 {
            0 => calls.push((
                format!("changing lr at {step}"),
                false,
                async move { store.log_param(project, run, &param("lr", "0.02")).await }.boxed(),
            )),
            1 => calls.push((
                format!("param p{step}"),
                true,
                async move {
                    let logged = param(&format!("p{step}"), &step.to_string());
                    store.log_param(project, run, &logged).await
                }
                .boxed(),
            )),
            2 => calls.push((
                format!("metric on the deleted run at {step}"),
                false,
                async move {
                    let metric = Metric::new("loss", 1.0, 1, step);
                    store.log_metric(project, gone, &metric).await
                }
                .boxed(),
            )),
            3 => calls.push((
                format!("batch changing lr at {step}"),
                false,
                async move {
                    let batch = LogBatch {
                        metrics: vec![Metric::new("refused", 1.0, 1, step)],
                        params: vec![param("lr", "0.5")],
                        tags: vec![tag("refused", "yes")],
                    };
                    store.log_batch(project, run, &batch).await
                }
                .boxed(),
            )),
            4 => calls.push((
                format!("batch at {step}"),
                true,
                async move {
                    let batch = LogBatch {
                        metrics: vec![Metric::new("acc", step as f64, 10 + step, step)],
                        params: Vec::new(),
                        tags: vec![tag(&format!("t{step}"), "v")],
                    };
                    store.log_batch(project, run, &batch).await
                }
                .boxed(),
            )),
            _ => calls.push((
                format!("new run at {step}"),
                true,
                async move {
                    let created = store
                        .create_run(project, &new_run(exp.experiment_id, step))
                        .await?;
                    assert_eq!(created.info.start_time, step);
                    Ok(())
                }
                .boxed(),
            )),
        }
    }
    let (labels, futures): (Vec<_>, Vec<_>) = calls
        .into_iter()
        .map(|(label, succeeds, call)| ((label, succeeds), call))
        .unzip();
    let results = join_all(futures).await;
    for ((label, succeeds), result) in labels.iter().zip(&results) {
        assert_eq!(result.is_ok(), *succeeds, "{label}: {result:?}");
        if label.starts_with("changing lr") {
            let Err(StoreError::InvalidValue(message)) = result else {
                panic!("{label}: {result:?}");
            };
            assert!(
                message.contains("Attempted logging new value '0.02'"),
                "{message}"
            );
        }
        if label.starts_with("metric on the deleted run") {
            let Err(StoreError::InvalidValue(message)) = result else {
                panic!("{label}: {result:?}");
            };
            assert!(
                message.contains("must be in the 'active' state"),
                "{message}"
            );
        }
    }

    let stored = store.get_run(project, run).await.unwrap();
    let history = store
        .get_metric_history(project, run, "loss", None, None)
        .await
        .unwrap();
    let steps: Vec<i64> = history.items.iter().map(|metric| metric.step).collect();
    assert_eq!(steps, (0..120).collect::<Vec<_>>());
    assert_eq!(metric_value(&stored, "loss"), Some(119.0));
    assert_eq!(metric_value(&stored, "acc"), Some(118.0));
    assert_eq!(
        metric_value(&stored, "refused"),
        None,
        "a refused batch left a metric"
    );
    let mut expected_params = vec![param("lr", "0.01")];
    expected_params.extend(
        (0..120)
            .filter(|step| step % 6 == 1)
            .map(|step| param(&format!("p{step}"), &step.to_string())),
    );
    let mut params = stored.data.params.clone();
    params.sort_by(|a, b| a.key.cmp(&b.key));
    expected_params.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(params, expected_params);
    assert!(!stored.data.tags.contains(&tag("refused", "yes")));
    assert_eq!(
        stored
            .data
            .tags
            .iter()
            .filter(|tag| tag.key.starts_with('t'))
            .count(),
        20
    );
    let gone_history = store
        .get_metric_history(project, gone, "loss", None, None)
        .await
        .unwrap();
    assert!(gone_history.items.is_empty());
    let runs = store
        .search_runs(project, &search(vec![exp.experiment_id], ""))
        .await
        .unwrap();
    assert_eq!(
        runs.items.len(),
        1 + 20,
        "the live run and the 20 created in the burst"
    );
}

/// Values a float store is most likely to change: negative zero (SQLite writes an integral
/// REAL as an integer), subnormals, the extremes, infinities, NaN, and doubles that need
/// all 17 significant digits.
pub fn awkward_doubles() -> Vec<f64> {
    vec![
        -0.0,
        0.0,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0 + f64::EPSILON,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        123_456_789.123_456_79,
        -1.5e-300,
        9_007_199_254_740_993.0,
        -9.223_372_036_854_776e18,
        0.1,
        1e23,
        2.225_073_858_507_201e-308,
    ]
}

fn same_bits(sent: f64, read: f64) -> bool {
    (sent.is_nan() && read.is_nan()) || sent.to_bits() == read.to_bits()
}

/// Every double comes back bit for bit (NaN as NaN) through every read: the run's latest
/// values, search, the history, bulk-interval sampling and a logged model's metrics.
pub async fn metric_values_are_stored_bit_for_bit(store: &dyn MetadataStore) {
    let (project, exp, run_id) = project_with_run(store, "exact").await;
    let model = store
        .create_logged_model(
            &project,
            &NewLoggedModel {
                experiment_id: exp.experiment_id,
                name: Some("exact".to_string()),
                source_run_id: Some(run_id.clone()),
                model_type: None,
                tags: Vec::new(),
                params: Vec::new(),
            },
            1_000,
        )
        .await
        .unwrap();
    let values = awkward_doubles();
    // One key per value (the latest value of each), and one history of all of them.
    let mut metrics: Vec<Metric> = values
        .iter()
        .enumerate()
        .map(|(index, value)| Metric::new(format!("v{index:02}"), *value, 7, 0))
        .collect();
    metrics.extend(
        values
            .iter()
            .enumerate()
            .map(|(index, value)| Metric::new("history", *value, 1_000, index as i64)),
    );
    store
        .log_batch(
            &project,
            &run_id,
            &LogBatch {
                metrics,
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    for (index, value) in values.iter().enumerate() {
        let metric = Metric {
            model_id: Some(model.model_id.clone()),
            ..Metric::new(format!("model{index:02}"), *value, 5, 0)
        };
        store.log_metric(&project, &run_id, &metric).await.unwrap();
    }

    let check = |what: &str, read: Vec<(String, f64)>| {
        for (index, value) in values.iter().enumerate() {
            let key = format!("{what}{index:02}");
            let found = read
                .iter()
                .find(|(name, _)| *name == key)
                .unwrap_or_else(|| panic!("{key} missing from {read:?}"));
            assert!(
                same_bits(*value, found.1),
                "{key}: sent {value:e} ({:#x}), read {:e} ({:#x})",
                value.to_bits(),
                found.1,
                found.1.to_bits()
            );
        }
    };
    let latest = |run: &Run| {
        run.data
            .metrics
            .iter()
            .map(|metric| (metric.key.clone(), metric.value))
            .collect::<Vec<_>>()
    };
    check(
        "v",
        latest(&store.get_run(&project, &run_id).await.unwrap()),
    );
    let found = store
        .search_runs(&project, &search(vec![exp.experiment_id], ""))
        .await
        .unwrap();
    check("v", latest(&found.items[0]));

    let by_step = |points: Vec<(i64, f64)>| {
        points
            .into_iter()
            .map(|(step, value)| (format!("h{step:02}"), value))
            .collect::<Vec<_>>()
    };
    let history = store
        .get_metric_history(&project, &run_id, "history", None, None)
        .await
        .unwrap();
    check(
        "h",
        by_step(history.items.iter().map(|m| (m.step, m.value)).collect()),
    );
    // Paged one point at a time, the keyset token carries each value exactly.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .get_metric_history(&project, &run_id, "history", Some(1), token.as_deref())
            .await
            .unwrap();
        paged.extend(page.items.iter().map(|m| (m.step, m.value)));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(paged.len(), values.len());
    check("h", by_step(paged));
    let sampled = store
        .get_metric_history_bulk_interval(
            &project,
            &BulkIntervalQuery {
                run_ids: vec![run_id.clone()],
                metric_key: "history".to_string(),
                start_step: None,
                end_step: None,
                max_results: 2_500,
            },
        )
        .await
        .unwrap();
    check(
        "h",
        by_step(sampled.iter().map(|m| (m.step, m.value)).collect()),
    );

    let model = store
        .get_logged_model(&project, &model.model_id)
        .await
        .unwrap();
    check(
        "model",
        model
            .metrics
            .iter()
            .map(|metric| (metric.key.clone(), metric.value))
            .collect(),
    );
}
