//! Router tests of the model registry pages: what each role sees, the forms (alias, stage,
//! tags, description, rename, delete) and their refusals, the filter's error shown, the
//! lineage link to the run, and other projects' models kept out of sight.

use axum::http::StatusCode;

use super::tests::form;
use crate::authz_tests::{world, PASSWORD};
use crate::tests::{browser_login, get_as, page_as, send};

const MODELS: &str = "/projects/acme/churn/models";
const MLFLOW: &str = "/projects/acme/churn/api/2.0/mlflow";

#[tokio::test]
async fn the_registry_pages_show_versions_aliases_and_lineage() {
    let world = world().await;
    let app = &world.app;
    let (carl, carl_csrf) = browser_login(&app.router, "carl", PASSWORD).await;

    let list = send(&app.router, page_as(MODELS, &carl)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&format!("href=\"{MODELS}/fraud\"")));
    assert!(list.body.contains("@champion"), "{}", list.body);
    assert!(
        list.body.contains("create-model"),
        "contributors get the form"
    );

    let model = send(&app.router, page_as(&format!("{MODELS}/fraud"), &carl)).await;
    assert_eq!(model.status, StatusCode::OK, "{}", model.body);
    assert!(model
        .body
        .contains(&format!("href=\"{MODELS}/fraud/versions/1\"")));
    assert!(model.body.contains("set-alias"));
    assert!(model.body.contains("team"));

    // The version page links to the run that produced it.
    let version = send(
        &app.router,
        page_as(&format!("{MODELS}/fraud/versions/1"), &carl),
    )
    .await;
    assert_eq!(version.status, StatusCode::OK, "{}", version.body);
    let mlflow_version = send(
        &app.router,
        get_as(
            &format!("{MLFLOW}/model-versions/get?name=fraud&version=1"),
            &app.admin_token,
        ),
    )
    .await
    .json();
    let run_id = mlflow_version["model_version"]["run_id"].as_str().unwrap();
    assert!(
        version
            .body
            .contains(&format!("href=\"/projects/acme/churn/runs/{run_id}\"")),
        "{}",
        version.body
    );
    assert!(version.body.contains("baseline"), "the run's name is shown");

    // Stage and alias from the forms, seen by the mlflow API.
    let moved = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/versions/1/stage"),
            &carl,
            &carl_csrf,
            &[("stage", "production")],
        ),
    )
    .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    assert!(
        moved.header("location").contains("ok="),
        "{}",
        moved.header("location")
    );
    let aliased = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/aliases"),
            &carl,
            &carl_csrf,
            &[("alias", "prod"), ("version", "1")],
        ),
    )
    .await;
    assert!(
        aliased.header("location").contains("ok="),
        "{}",
        aliased.header("location")
    );
    let after = send(
        &app.router,
        get_as(
            &format!("{MLFLOW}/model-versions/get?name=fraud&version=1"),
            &app.admin_token,
        ),
    )
    .await
    .json();
    assert_eq!(after["model_version"]["current_stage"], "Production");
    let aliases = after["model_version"]["aliases"].to_string();
    assert!(
        aliases.contains("prod") && aliases.contains("champion"),
        "{aliases}"
    );

    // Bad input comes back with a message naming the field, and changes nothing.
    let bad_version = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/aliases"),
            &carl,
            &carl_csrf,
            &[("alias", "x"), ("version", "one")],
        ),
    )
    .await;
    assert!(bad_version.header("location").contains("error=version"));
    let bad_stage = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/versions/1/stage"),
            &carl,
            &carl_csrf,
            &[("stage", "Shipped")],
        ),
    )
    .await;
    assert!(bad_stage.header("location").contains("error=stage"));
    let missing_version = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/aliases"),
            &carl,
            &carl_csrf,
            &[("alias", "x"), ("version", "7")],
        ),
    )
    .await;
    assert!(missing_version.header("location").contains("error="));

    // A bad filter shows MLflow's message instead of failing the page.
    let filtered = send(
        &app.router,
        page_as(&format!("{MODELS}?filter=nme%20%3D%20%27x%27"), &carl),
    )
    .await;
    assert_eq!(filtered.status, StatusCode::OK);
    assert!(filtered.body.contains("filter-error"), "{}", filtered.body);
    let found = send(
        &app.router,
        page_as(&format!("{MODELS}?filter=name%20LIKE%20%27fr%25%27"), &carl),
    )
    .await;
    assert!(found.body.contains(&format!("href=\"{MODELS}/fraud\"")));
}

#[tokio::test]
async fn viewers_read_and_outsiders_see_nothing() {
    let world = world().await;
    let app = &world.app;
    let (vera, vera_csrf) = browser_login(&app.router, "vera", PASSWORD).await;
    let model = send(&app.router, page_as(&format!("{MODELS}/fraud"), &vera)).await;
    assert_eq!(model.status, StatusCode::OK);
    assert!(!model.body.contains("set-alias"), "viewers get no forms");
    assert!(!model.body.contains("delete-model"));
    let refused = send(
        &app.router,
        form(&format!("{MODELS}/fraud/delete"), &vera, &vera_csrf, &[]),
    )
    .await;
    assert!(refused.header("location").contains("error=needs%20the"));
    let still = send(&app.router, page_as(&format!("{MODELS}/fraud"), &vera)).await;
    assert_eq!(still.status, StatusCode::OK, "the model is still there");

    let (oscar, _) = browser_login(&app.router, "oscar", PASSWORD).await;
    for path in [
        MODELS.to_string(),
        format!("{MODELS}/fraud"),
        format!("{MODELS}/fraud/versions/1"),
    ] {
        let hidden = send(&app.router, page_as(&path, &oscar)).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Names are per project: `fraud` does not exist in globex/ads.
    let elsewhere = send(
        &app.router,
        page_as("/projects/globex/ads/models/fraud", &oscar),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    let not_a_number = send(
        &app.router,
        page_as(&format!("{MODELS}/fraud/versions/abc"), &vera),
    )
    .await;
    assert_eq!(not_a_number.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contributors_rename_and_delete_models_and_versions() {
    let world = world().await;
    let app = &world.app;
    let (carl, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    let created = send(
        &app.router,
        form(
            MODELS,
            &carl,
            &csrf,
            &[("name", "churn-model"), ("description", "first try")],
        ),
    )
    .await;
    assert_eq!(
        created.header("location").split('?').next(),
        Some(&*format!("{MODELS}/churn-model"))
    );
    let duplicate = send(
        &app.router,
        form(MODELS, &carl, &csrf, &[("name", "churn-model")]),
    )
    .await;
    assert!(
        duplicate.header("location").contains("error="),
        "{}",
        duplicate.header("location")
    );
    let renamed = send(
        &app.router,
        form(
            &format!("{MODELS}/churn-model/rename"),
            &carl,
            &csrf,
            &[("new_name", "churn v2")],
        ),
    )
    .await;
    assert!(
        renamed
            .header("location")
            .starts_with(&format!("{MODELS}/churn%20v2?ok=")),
        "{}",
        renamed.header("location")
    );
    let page = send(&app.router, page_as(&format!("{MODELS}/churn%20v2"), &carl)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("first try"));

    let deleted = send(
        &app.router,
        form(
            &format!("{MODELS}/fraud/versions/1/delete"),
            &carl,
            &csrf,
            &[],
        ),
    )
    .await;
    assert!(deleted.header("location").contains("ok="));
    let gone = send(
        &app.router,
        page_as(&format!("{MODELS}/fraud/versions/1"), &carl),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let model = send(&app.router, page_as(&format!("{MODELS}/fraud"), &carl)).await;
    assert!(
        !model.body.contains("@champion"),
        "the alias went with the version"
    );
    let removed = send(
        &app.router,
        form(&format!("{MODELS}/fraud/delete"), &carl, &csrf, &[]),
    )
    .await;
    assert_eq!(removed.header("location").split('?').next(), Some(MODELS));
    let gone = send(&app.router, page_as(&format!("{MODELS}/fraud"), &carl)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}
