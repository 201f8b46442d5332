//! Conformance cases of [`RegistryStore`](crate::RegistryStore): registered models,
//! versions, stages, tags, aliases and search.

use plinth_types::{ModelVersionStage, ModelVersionStatus, ModelVersionTag, RegisteredModelTag};

use super::tracking::tracking_project;
use crate::{
    MetadataStore, NewLoggedModel, NewModelVersion, NewRegisteredModel, NewRun, RegistrySearch,
    StoreError,
};

fn model(name: &str) -> NewRegisteredModel {
    NewRegisteredModel {
        name: name.to_string(),
        ..NewRegisteredModel::default()
    }
}

fn version(name: &str, source: &str) -> NewModelVersion {
    NewModelVersion {
        name: name.to_string(),
        source: source.to_string(),
        user_id: Some("ada".to_string()),
        ..NewModelVersion::default()
    }
}

fn message(error: StoreError) -> String {
    match error {
        StoreError::InvalidValue(message) => message,
        other => panic!("expected an MLflow refusal, got {other:?}"),
    }
}

fn rm_tag(key: &str, value: &str) -> RegisteredModelTag {
    RegisteredModelTag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn mv_tag(key: &str, value: &str) -> ModelVersionTag {
    ModelVersionTag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// Registered models: unique names per project, tags, description, rename (versions and
/// aliases follow), delete with everything under it.
pub async fn registered_models_are_created_renamed_tagged_and_deleted(store: &dyn MetadataStore) {
    let project = tracking_project(store, "registry").await;
    let other = tracking_project(store, "registry-other").await;
    let created = store
        .create_registered_model(
            &project,
            &NewRegisteredModel {
                name: "fraud detector".to_string(),
                description: Some("first".to_string()),
                tags: vec![rm_tag("team", "risk"), rm_tag("team", "fraud")],
                user_id: Some("ada".to_string()),
                deployment_job_id: None,
            },
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(created.name, "fraud detector");
    assert_eq!(created.description.as_deref(), Some("first"));
    assert_eq!(created.user_id.as_deref(), Some("ada"));
    assert_eq!(created.tags, [rm_tag("team", "fraud")]);
    assert_eq!(
        (created.creation_timestamp, created.last_updated_timestamp),
        (1_000, 1_000)
    );
    assert!(created.latest_versions.is_empty() && created.aliases.is_empty());
    let duplicate = store
        .create_registered_model(&project, &model("fraud detector"), 1_000)
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "Registered Model (name=fraud detector) already exists."
    );
    store
        .create_registered_model(&other, &model("fraud detector"), 1_000)
        .await
        .expect("names are unique per project only");
    assert_eq!(
        message(
            store
                .create_registered_model(&project, &model("a/b"), 1)
                .await
                .unwrap_err()
        ),
        "Invalid model name 'a/b'. Names cannot contain '/' or ':'."
    );
    assert_eq!(
        message(
            store
                .create_registered_model(&project, &model(" "), 1)
                .await
                .unwrap_err()
        ),
        "Missing value for required parameter 'name'."
    );

    store
        .create_model_version(
            &project,
            &version("fraud detector", "mlflow-artifacts:/1/r/artifacts/model"),
            2_000,
        )
        .await
        .unwrap();
    store
        .set_registered_model_alias(&project, "fraud detector", "champion", 1)
        .await
        .unwrap();
    let renamed = store
        .rename_registered_model(&project, "fraud detector", "fraud-v2", 3_000)
        .await
        .unwrap();
    assert_eq!(renamed.name, "fraud-v2");
    assert_eq!(renamed.last_updated_timestamp, 3_000);
    assert_eq!(renamed.aliases.len(), 1);
    assert_eq!(renamed.latest_versions[0].name, "fraud-v2");
    assert_eq!(
        store
            .get_model_version(&project, "fraud-v2", 1)
            .await
            .unwrap()
            .aliases,
        ["champion"]
    );
    let missing = store
        .get_registered_model(&project, "fraud detector")
        .await
        .unwrap_err();
    assert!(matches!(
        missing,
        StoreError::NotFound {
            entity: "registered model",
            ..
        }
    ));
    assert_eq!(
        missing.to_string(),
        "Registered Model with name=fraud detector not found"
    );
    store
        .create_registered_model(&project, &model("taken"), 1)
        .await
        .unwrap();
    assert!(matches!(
        store
            .rename_registered_model(&project, "fraud-v2", "taken", 4_000)
            .await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store
            .rename_registered_model(&project, "nope", "x", 4_000)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let updated = store
        .update_registered_model(
            &project,
            "fraud-v2",
            &crate::RegisteredModelUpdate {
                description: Some("second".to_string()),
                deployment_job_id: Some("job-7".to_string()),
            },
            5_000,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.description.as_deref(),
            updated.last_updated_timestamp
        ),
        (Some("second"), 5_000)
    );
    assert_eq!(updated.deployment_job_id.as_deref(), Some("job-7"));
    store
        .set_registered_model_tag(&project, "fraud-v2", &rm_tag("owner", "ada"))
        .await
        .unwrap();
    store
        .delete_registered_model_tag(&project, "fraud-v2", "team")
        .await
        .unwrap();
    store
        .delete_registered_model_tag(&project, "fraud-v2", "absent")
        .await
        .expect("deleting a missing tag is quiet, as in MLflow");
    assert_eq!(
        store
            .get_registered_model(&project, "fraud-v2")
            .await
            .unwrap()
            .tags,
        [rm_tag("owner", "ada")]
    );
    assert!(matches!(
        store.get_registered_model(&other, "fraud-v2").await,
        Err(StoreError::NotFound { .. })
    ));

    store
        .delete_registered_model(&project, "fraud-v2")
        .await
        .unwrap();
    assert!(matches!(
        store.get_model_version(&project, "fraud-v2", 1).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_registered_model(&project, "fraud-v2").await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .create_registered_model(&project, &model("fraud-v2"), 6_000)
        .await
        .unwrap();
    let again = store
        .create_model_version(&project, &version("fraud-v2", "s3://b/m"), 6_000)
        .await
        .unwrap();
    assert_eq!(again.version, 1, "a new model numbers from 1");
}

/// Versions: numbered atomically (never reused), stages with archiving, latest per stage,
/// aliases (`latest` included), deletion, download URI, promotion of a logged model.
pub async fn model_versions_are_numbered_staged_aliased_and_deleted(store: &dyn MetadataStore) {
    let project = tracking_project(store, "versions").await;
    store
        .create_registered_model(&project, &model("churn"), 1_000)
        .await
        .unwrap();
    let results = futures::future::join_all((0..8).map(|index| {
        let project = project.clone();
        async move {
            store
                .create_model_version(
                    &project,
                    &NewModelVersion {
                        tags: vec![mv_tag("index", &index.to_string())],
                        run_id: Some(format!("run{index}")),
                        ..version("churn", &format!("s3://bucket/churn/{index}"))
                    },
                    2_000 + index,
                )
                .await
                .unwrap()
                .version
        }
    }))
    .await;
    let mut numbers = results;
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<i64>>());
    let first = store.get_model_version(&project, "churn", 1).await.unwrap();
    assert_eq!(first.current_stage, ModelVersionStage::None);
    assert_eq!(first.status, ModelVersionStatus::Ready);
    assert_eq!(first.user_id.as_deref(), Some("ada"));
    assert_eq!(first.tags.len(), 1);
    assert!(matches!(
        store.get_model_version(&project, "churn", 9).await,
        Err(StoreError::NotFound {
            entity: "model version",
            ..
        })
    ));
    let described = store
        .update_model_version(&project, "churn", 1, Some("baseline"), 3_000)
        .await
        .unwrap();
    assert_eq!(
        (
            described.description.as_deref(),
            described.last_updated_timestamp
        ),
        (Some("baseline"), 3_000)
    );

    for (number, stage) in [
        (1, ModelVersionStage::Production),
        (2, ModelVersionStage::Production),
        (3, ModelVersionStage::Staging),
    ] {
        store
            .transition_model_version_stage(&project, "churn", number, stage, false, 4_000)
            .await
            .unwrap();
    }
    let moved = store
        .transition_model_version_stage(
            &project,
            "churn",
            4,
            ModelVersionStage::Production,
            true,
            5_000,
        )
        .await
        .unwrap();
    assert_eq!(moved.current_stage, ModelVersionStage::Production);
    for number in [1, 2] {
        assert_eq!(
            store
                .get_model_version(&project, "churn", number)
                .await
                .unwrap()
                .current_stage,
            ModelVersionStage::Archived
        );
    }
    let refused = store
        .transition_model_version_stage(
            &project,
            "churn",
            5,
            ModelVersionStage::Archived,
            true,
            5_000,
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(refused),
        "Model version transition cannot archive existing model versions because 'Archived' is \
         not an Active stage. Valid stages are ['Staging', 'Production']"
    );
    let latest = store
        .get_latest_versions(&project, "churn", &[])
        .await
        .unwrap();
    let pairs: Vec<(i64, ModelVersionStage)> = latest
        .iter()
        .map(|version| (version.version, version.current_stage))
        .collect();
    assert_eq!(
        pairs,
        [
            (2, ModelVersionStage::Archived),
            (3, ModelVersionStage::Staging),
            (4, ModelVersionStage::Production),
            (8, ModelVersionStage::None),
        ]
    );
    let production = store
        .get_latest_versions(&project, "churn", &[ModelVersionStage::Production])
        .await
        .unwrap();
    assert_eq!(production.len(), 1);
    assert_eq!(production[0].version, 4);
    assert_eq!(
        store
            .get_registered_model(&project, "churn")
            .await
            .unwrap()
            .latest_versions
            .len(),
        4
    );

    store
        .set_registered_model_alias(&project, "churn", "champion", 3)
        .await
        .unwrap();
    store
        .set_registered_model_alias(&project, "churn", "champion", 4)
        .await
        .unwrap();
    store
        .set_registered_model_alias(&project, "churn", "shadow", 4)
        .await
        .unwrap();
    let champion = store
        .get_model_version_by_alias(&project, "churn", "champion")
        .await
        .unwrap();
    assert_eq!(champion.version, 4);
    assert_eq!(champion.aliases, ["champion", "shadow"]);
    assert_eq!(
        store
            .get_model_version_by_alias(&project, "churn", "Latest")
            .await
            .unwrap()
            .version,
        8
    );
    for (alias, expected) in [
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("v3", "Version alias name 'v3' is reserved."),
        ("bad alias", "Invalid alias name: 'bad alias'. Names may only contain alphanumerics, underscores (_), and dashes (-)."),
    ] {
        let refused = store
            .set_registered_model_alias(&project, "churn", alias, 1)
            .await
            .unwrap_err();
        assert_eq!(message(refused), expected);
    }
    assert!(matches!(
        store
            .set_registered_model_alias(&project, "churn", "ghost", 99)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        message(
            store
                .get_model_version_by_alias(&project, "churn", "nobody")
                .await
                .unwrap_err()
        ),
        "Registered model alias nobody not found."
    );
    store
        .delete_registered_model_alias(&project, "churn", "shadow")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_registered_model(&project, "churn")
            .await
            .unwrap()
            .aliases
            .len(),
        1
    );

    store
        .set_model_version_tag(&project, "churn", 4, &mv_tag("validated", "yes"))
        .await
        .unwrap();
    store
        .set_model_version_tag(&project, "churn", 4, &mv_tag("validated", "twice"))
        .await
        .unwrap();
    store
        .delete_model_version_tag(&project, "churn", 4, "index")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_model_version(&project, "churn", 4)
            .await
            .unwrap()
            .tags,
        [mv_tag("validated", "twice")]
    );
    assert_eq!(
        store
            .get_model_version_download_uri(&project, "churn", 4)
            .await
            .unwrap(),
        store
            .get_model_version(&project, "churn", 4)
            .await
            .unwrap()
            .source
    );

    store
        .delete_model_version(&project, "churn", 4, 6_000)
        .await
        .unwrap();
    assert!(matches!(
        store.get_model_version(&project, "churn", 4).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        message(
            store
                .get_model_version_by_alias(&project, "churn", "champion")
                .await
                .unwrap_err()
        ),
        "Registered model alias champion not found.",
        "the alias went with the version"
    );
    assert!(store
        .get_latest_versions(&project, "churn", &[ModelVersionStage::Production])
        .await
        .unwrap()
        .is_empty());
    store
        .delete_model_version(&project, "churn", 8, 6_000)
        .await
        .unwrap();
    let next = store
        .create_model_version(&project, &version("churn", "s3://bucket/churn/next"), 7_000)
        .await
        .unwrap();
    assert_eq!(next.version, 9, "deleted numbers are never reused");
    assert!(matches!(
        store
            .create_model_version(&project, &version("nope", "s3://x"), 7_000)
            .await,
        Err(StoreError::NotFound {
            entity: "registered model",
            ..
        })
    ));

    // MLflow 3: promoting a logged model resolves its artifacts and source run.
    let experiment = store
        .create_experiment(
            &project,
            &crate::NewExperiment {
                name: "e".to_string(),
                ..crate::NewExperiment::default()
            },
            1,
        )
        .await
        .unwrap();
    let run = store
        .create_run(
            &project,
            &NewRun {
                experiment_id: experiment.experiment_id,
                user_id: "ada".to_string(),
                start_time: 1,
                run_name: None,
                tags: Vec::new(),
            },
        )
        .await
        .unwrap();
    let logged = store
        .create_logged_model(
            &project,
            &NewLoggedModel {
                experiment_id: experiment.experiment_id,
                source_run_id: Some(run.info.run_id.clone()),
                ..NewLoggedModel::default()
            },
            1,
        )
        .await
        .unwrap();
    let promoted = store
        .create_model_version(
            &project,
            &version("churn", &format!("models:/{}", logged.model_id)),
            8_000,
        )
        .await
        .unwrap();
    assert_eq!(promoted.model_id.as_deref(), Some(logged.model_id.as_str()));
    assert_eq!(promoted.run_id.as_deref(), Some(run.info.run_id.as_str()));
    assert_eq!(promoted.source, format!("models:/{}", logged.model_id));
    assert_eq!(
        store
            .get_model_version_download_uri(&project, "churn", promoted.version)
            .await
            .unwrap(),
        logged.artifact_location
    );
    let copied = store
        .create_model_version(&project, &version("churn", "models:/churn/9"), 9_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_model_version_download_uri(&project, "churn", copied.version)
            .await
            .unwrap(),
        "s3://bucket/churn/next"
    );
    let other = tracking_project(store, "versions-other").await;
    store
        .create_registered_model(&other, &model("churn"), 1)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_model_version(
                &other,
                &version("churn", &format!("models:/{}", logged.model_id)),
                1
            )
            .await,
        Err(StoreError::NotFound {
            entity: "logged model",
            ..
        })
    ));
}

/// Registry search: MLflow's registered-model and model-version filters, prompts hidden
/// unless asked for, orders and pages.
pub async fn registry_search_filters_orders_and_pages(store: &dyn MetadataStore) {
    let project = tracking_project(store, "regsearch").await;
    let other = tracking_project(store, "regsearch-other").await;
    store
        .create_registered_model(&other, &model("Fraud-x"), 1)
        .await
        .unwrap();
    for (index, (name, team)) in [
        ("Fraud-a", "risk"),
        ("fraud-b", "risk"),
        ("Churn", "growth"),
        ("Fraud-c", "growth"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .create_registered_model(
                &project,
                &NewRegisteredModel {
                    name: name.to_string(),
                    description: None,
                    tags: vec![rm_tag("team", team)],
                    ..NewRegisteredModel::default()
                },
                1_000 + index as i64,
            )
            .await
            .unwrap();
        for number in 0..=index {
            store
                .create_model_version(
                    &project,
                    &NewModelVersion {
                        run_id: Some(format!("run-{index}")),
                        tags: vec![mv_tag(
                            "quality",
                            if number % 2 == 0 { "good" } else { "bad" },
                        )],
                        ..version(name, &format!("s3://models/{name}/{number}"))
                    },
                    2_000 + (index * 10 + number) as i64,
                )
                .await
                .unwrap();
        }
    }
    store
        .create_registered_model(
            &project,
            &NewRegisteredModel {
                name: "summarize-prompt".to_string(),
                description: None,
                tags: vec![rm_tag("mlflow.prompt.is_prompt", "true")],
                ..NewRegisteredModel::default()
            },
            9_000,
        )
        .await
        .unwrap();
    let search = |filter: &str, order: &[&str]| RegistrySearch {
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        order_by: order.iter().map(|entry| entry.to_string()).collect(),
        max_results: 100,
        page_token: None,
    };
    let project = project.as_str();
    let models = |filter: &str, order: &[&str]| {
        let query = search(filter, order);
        async move {
            store
                .search_registered_models(project, &query)
                .await
                .unwrap_or_else(|error| panic!("{:?}: {error}", query.filter))
                .items
                .into_iter()
                .map(|model| model.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        models("", &[]).await,
        ["Churn", "Fraud-a", "Fraud-c", "fraud-b"]
    );
    assert_eq!(
        models("name LIKE 'Fraud%'", &[]).await,
        ["Fraud-a", "Fraud-c"]
    );
    assert_eq!(
        models("name ILIKE 'fraud%'", &["name DESC"]).await,
        ["fraud-b", "Fraud-c", "Fraud-a"]
    );
    assert_eq!(
        models("tags.team = 'growth'", &[]).await,
        ["Churn", "Fraud-c"]
    );
    assert_eq!(
        models(
            "name IN ('Churn', 'fraud-b') AND tags.team != 'growth'",
            &[]
        )
        .await,
        ["fraud-b"]
    );
    assert_eq!(models("", &["timestamp DESC"]).await[0], "Fraud-c");
    assert_eq!(
        models("tags.`mlflow.prompt.is_prompt` = 'true'", &[]).await,
        ["summarize-prompt"]
    );
    assert_eq!(
        models("tags.`mlflow.prompt.is_prompt` = 'false'", &[])
            .await
            .len(),
        4
    );
    let latest = store
        .search_registered_models(project, &search("name = 'Fraud-c'", &[]))
        .await
        .unwrap()
        .items
        .remove(0)
        .latest_versions;
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, 4);
    for (filter, expected) in [
        ("name > 'a'", "Invalid comparator for attribute: >"),
        (
            "run_id = 'x'",
            "Invalid attribute key 'run_id' specified. Valid keys are '{'name'}'",
        ),
        (
            "name = 'a' OR name = 'b'",
            "Invalid clause(s) in filter string: OR",
        ),
    ] {
        let refused = store
            .search_registered_models(project, &search(filter, &[]))
            .await
            .unwrap_err();
        assert_eq!(message(refused), expected, "{filter}");
    }
    let too_many = store
        .search_registered_models(
            project,
            &RegistrySearch {
                max_results: 1_001,
                ..search("", &[])
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(too_many),
        "Invalid value for request parameter max_results. It must be at most 1000, but got value 1001"
    );

    let versions = |filter: &str, order: &[&str]| {
        let query = search(filter, order);
        async move {
            store
                .search_model_versions(project, &query)
                .await
                .unwrap_or_else(|error| panic!("{:?}: {error}", query.filter))
                .items
                .into_iter()
                .map(|version| format!("{}/{}", version.name, version.version))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        versions("", &[]).await,
        [
            "Fraud-c/4",
            "Fraud-c/3",
            "Fraud-c/2",
            "Fraud-c/1",
            "Churn/3",
            "Churn/2",
            "Churn/1",
            "fraud-b/2",
            "fraud-b/1",
            "Fraud-a/1"
        ],
        "newest change first"
    );
    assert_eq!(
        versions("name = 'Churn'", &["version_number ASC"]).await,
        ["Churn/1", "Churn/2", "Churn/3"]
    );
    assert_eq!(
        versions("run_id = 'run-1'", &[]).await,
        ["fraud-b/2", "fraud-b/1"]
    );
    assert_eq!(
        versions("run_id IN ('run-0', 'run-1')", &["name", "version_number"]).await,
        ["Fraud-a/1", "fraud-b/1", "fraud-b/2"]
    );
    assert_eq!(
        versions("version_number >= 3", &["name"]).await,
        ["Churn/3", "Fraud-c/4", "Fraud-c/3"],
        "then version, newest first"
    );
    assert_eq!(
        versions("version_number = '2' AND name ILIKE 'fraud%'", &["name"]).await,
        ["Fraud-c/2", "fraud-b/2"]
    );
    assert_eq!(
        versions(
            "tags.quality = 'bad' AND source_path LIKE 's3://models/Fraud%'",
            &["name"]
        )
        .await,
        ["Fraud-c/4", "Fraud-c/2"]
    );
    for (filter, expected) in [
        ("version_number LIKE 1", "Invalid comparator for attribute version_number: LIKE"),
        ("source_path IN ('a')", "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values."),
        ("tags.quality > 'a'", "Invalid comparator for tag: >"),
    ] {
        let refused = store
            .search_model_versions(project, &search(filter, &[]))
            .await
            .unwrap_err();
        assert_eq!(message(refused), expected, "{filter}");
    }
    // Pages of three, through everything.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_model_versions(
                project,
                &RegistrySearch {
                    page_token: token.clone(),
                    max_results: 3,
                    ..search("", &["name ASC", "version_number ASC"])
                },
            )
            .await
            .unwrap();
        seen.extend(
            page.items
                .into_iter()
                .map(|version| format!("{}/{}", version.name, version.version)),
        );
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "Churn/1",
            "Churn/2",
            "Churn/3",
            "Fraud-a/1",
            "Fraud-c/1",
            "Fraud-c/2",
            "Fraud-c/3",
            "Fraud-c/4",
            "fraud-b/1",
            "fraud-b/2"
        ]
    );
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .search_registered_models(
                project,
                &RegistrySearch {
                    page_token: token.clone(),
                    max_results: 1,
                    ..search("", &[])
                },
            )
            .await
            .unwrap();
        names.extend(page.items.into_iter().map(|model| model.name));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["Churn", "Fraud-a", "Fraud-c", "fraud-b"]);
    assert!(store
        .search_model_versions(&other, &search("name = 'Fraud-a'", &[]))
        .await
        .unwrap()
        .items
        .is_empty());
}
