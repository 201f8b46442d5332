//! Router tests of the experiment-tracking pages: the runs table (filter errors shown, the
//! filter, order and chosen columns, keyset pages), the run page and its chart data, the
//! artifacts browser with previews and safe downloads, the comparison's bounds, and runs of
//! another project staying hidden.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::authz_tests::{world, World, PASSWORD};
use crate::tests::{browser_login, json_request, page_as, send, Answer};

/// What [`seed_tracking`] logged.
pub(crate) struct Tracked {
    /// The experiment of `acme/churn`.
    pub(crate) experiment_id: String,
    /// `alpha` (loss ends at 0.01, lr 0.01) and `beta` (loss ends at 0.8, lr 0.1).
    pub(crate) alpha: String,
    pub(crate) beta: String,
    /// A run of `globex/ads`.
    pub(crate) other_run: String,
}

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn mlflow(world: &World, column: usize, project: &str, path: &str, body: Value) -> Value {
    let token = world.tokens[column].as_deref();
    let uri = format!("/projects/{project}/api/2.0/mlflow/{path}");
    let answer = send(&world.app.router, json_request("POST", &uri, token, &body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
    answer.json()
}

async fn upload(world: &World, project: &str, artifact_path: &str, bytes: &'static [u8]) {
    let uri = format!("/projects/{project}/api/2.0/mlflow-artifacts/artifacts/{artifact_path}");
    let request = Request::put(&uri)
        .header(
            "authorization",
            format!("Bearer {}", world.tokens[2].as_deref().unwrap()),
        )
        .body(Body::from(bytes))
        .unwrap();
    let answer = send(&world.app.router, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
}

/// Creates a run of `project`'s experiment as the caller in `column`.
pub(crate) async fn create_run(
    world: &World,
    column: usize,
    project: &str,
    experiment_id: &str,
    name: &str,
) -> String {
    let run = mlflow(
        world,
        column,
        project,
        "runs/create",
        json!({ "experiment_id": experiment_id, "run_name": name, "start_time": 1_700_000_000_000_i64 }),
    )
    .await;
    run["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

/// Logs two runs with params, metric histories and artifacts in `acme/churn` (as carl, a
/// contributor) and one in `globex/ads` (as oscar, its owner).
pub(crate) async fn seed_tracking(world: &World) -> Tracked {
    let project = "acme/churn";
    let created = mlflow(
        world,
        2,
        project,
        "experiments/create",
        json!({ "name": "churn-model", "tags": [{ "key": "team", "value": "growth" }] }),
    )
    .await;
    let experiment_id = created["experiment_id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (name, lr, last_loss) in [("alpha", "0.01", 0.01), ("beta", "0.1", 0.8)] {
        let run_id = create_run(world, 2, project, &experiment_id, name).await;
        let metrics: Vec<Value> = (0..100)
            .map(|step| {
                let loss = if step == 99 {
                    last_loss
                } else {
                    2.0 / f64::from(step + 1)
                };
                json!({ "key": "loss", "value": loss, "timestamp": 1_700_000_000_000_i64 + i64::from(step) * 1000, "step": step })
            })
            .chain([json!({ "key": "accuracy", "value": 0.9, "timestamp": 1_700_000_100_000_i64, "step": 99 })])
            .collect();
        mlflow(
            world,
            2,
            project,
            "runs/log-batch",
            json!({ "run_id": run_id, "metrics": metrics, "params": [{ "key": "lr", "value": lr }, { "key": "epochs", "value": "10" }] }),
        )
        .await;
        ids.push(run_id);
    }
    let alpha = &ids[0];
    let root = format!("{experiment_id}/{alpha}/artifacts");
    upload(
        world,
        project,
        &format!("{root}/notes.txt"),
        b"hello <script>alert(1)</script> world\n",
    )
    .await;
    upload(world, project, &format!("{root}/plots/plot.png"), PNG).await;
    upload(
        world,
        project,
        &format!("{root}/data/table.csv"),
        b"name,score\n\"a, quoted\",1.5\nb,2\n",
    )
    .await;
    let ads = mlflow(
        world,
        5,
        "globex/ads",
        "experiments/create",
        json!({ "name": "ads" }),
    )
    .await;
    let other_run = create_run(
        world,
        5,
        "globex/ads",
        ads["experiment_id"].as_str().unwrap(),
        "theirs",
    )
    .await;
    Tracked {
        experiment_id,
        alpha: ids[0].clone(),
        beta: ids[1].clone(),
        other_run,
    }
}

struct Fixture {
    world: World,
    tracked: Tracked,
    cookie: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let world = world().await;
        let tracked = seed_tracking(&world).await;
        // vera is a viewer: everything here is read-only.
        let (cookie, _) = browser_login(&world.app.router, "vera", PASSWORD).await;
        Fixture {
            world,
            tracked,
            cookie,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        send(&self.world.app.router, page_as(uri, &self.cookie)).await
    }

    fn runs_page(&self, query: &str) -> String {
        format!(
            "/projects/acme/churn/experiments/{}?{query}",
            self.tracked.experiment_id
        )
    }
}

/// The run ids of a runs table, in order.
fn listed_runs(body: &str) -> Vec<String> {
    body.split("data-run=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_runs_table_filters_orders_and_shows_chosen_columns() {
    let fixture = Fixture::new().await;
    let tracked = &fixture.tracked;

    let list = fixture.get("/projects/acme/churn/experiments").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("churn-model"), "{}", list.body);
    assert!(list.body.contains("team=growth"));
    assert!(
        list.body.contains("<td class=\"num\">2</td>"),
        "two runs counted"
    );

    let all = fixture.get(&fixture.runs_page("")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(listed_runs(&all.body).len(), 2);
    // Default columns: the first metrics and params seen.
    for column in [
        "metrics.accuracy",
        "metrics.loss",
        "params.epochs",
        "params.lr",
    ] {
        assert!(all.body.contains(column), "{column} shown by default");
    }

    let filtered = fixture
        .get(&fixture.runs_page("filter=metrics.loss+%3C+0.5"))
        .await;
    assert_eq!(filtered.status, StatusCode::OK);
    assert_eq!(
        listed_runs(&filtered.body),
        std::slice::from_ref(&tracked.alpha)
    );

    let ordered = fixture
        .get(&fixture.runs_page("columns=metrics.loss,params.lr&order=metrics.loss+DESC"))
        .await;
    assert_eq!(
        listed_runs(&ordered.body),
        [tracked.beta.clone(), tracked.alpha.clone()]
    );
    assert!(ordered.body.contains(">loss ▼"));
    assert!(ordered.body.contains("<th colspan=\"1\" scope=\"colgroup\">Metrics</th><th colspan=\"1\" scope=\"colgroup\">Params</th>"), "column groups");
    // The same view as CSV: the shown columns, numbers exact.
    let csv = fixture
        .get(
            &fixture.runs_page("columns=metrics.loss,params.lr&order=metrics.loss+DESC&format=csv"),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "run_id,run_name,status,start_time,end_time,user,metrics.loss,params.lr"
    );
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(
        lines[1].starts_with(&format!("{},", tracked.beta)),
        "{}",
        csv.body
    );
    assert!(
        !ordered.body.contains("data-order=\"params.epochs\""),
        "only the chosen columns"
    );
    // The header flips the order and keeps the columns.
    assert!(ordered
        .body
        .contains("order=metrics.loss+ASC&amp;columns=metrics.loss%2Cparams.lr"));
    let ascending = fixture
        .get(&fixture.runs_page("columns=metrics.loss,params.lr&order=metrics.loss+ASC"))
        .await;
    assert_eq!(
        listed_runs(&ascending.body),
        [tracked.alpha.clone(), tracked.beta.clone()]
    );
    let by_param = fixture
        .get(&fixture.runs_page("order=params.lr+DESC&columns=params.lr"))
        .await;
    assert_eq!(
        listed_runs(&by_param.body),
        [tracked.beta.clone(), tracked.alpha.clone()]
    );
}

#[tokio::test]
async fn the_column_chooser_offers_every_key_of_the_experiment() {
    let fixture = Fixture::new().await;
    let tracked = &fixture.tracked;
    // Keys only beta has; the filtered page below shows alpha alone.
    mlflow(
        &fixture.world,
        2,
        "acme/churn",
        "runs/log-batch",
        json!({
            "run_id": tracked.beta,
            "metrics": [{ "key": "beta_only_metric", "value": 1.0, "timestamp": 1, "step": 0 }],
            "params": [{ "key": "beta_only_param", "value": "x" }],
            "tags": [{ "key": "stage", "value": "tuning" }, { "key": "mlflow.source.name", "value": "train.py" }],
        }),
    )
    .await;
    let filtered = fixture
        .get(&fixture.runs_page("filter=metrics.loss+%3C+0.5"))
        .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.body);
    assert_eq!(
        listed_runs(&filtered.body),
        std::slice::from_ref(&tracked.alpha)
    );
    let chooser = filtered
        .body
        .split("id=\"column-picker\"")
        .nth(1)
        .expect("a column chooser");
    for offered in [
        "metrics.beta_only_metric",
        "params.beta_only_param",
        "tags.stage",
        "metrics.loss",
        "params.lr",
    ] {
        assert!(
            chooser.contains(&format!("value=\"{offered}\"")),
            "{offered} offered: {chooser}"
        );
    }
    assert!(
        !chooser.contains("value=\"tags.mlflow.source.name\""),
        "system tags are not offered"
    );
    // Default columns still come from the page: beta's keys are not shown unasked.
    assert!(!filtered
        .body
        .contains("data-order=\"params.beta_only_param\""));
}

#[tokio::test]
async fn nested_runs_nest_and_the_run_page_shows_source_commit_and_parent() {
    let fixture = Fixture::new().await;
    let tracked = &fixture.tracked;
    let world = &fixture.world;
    let child = create_run(world, 2, "acme/churn", &tracked.experiment_id, "child").await;
    mlflow(
        world,
        2,
        "acme/churn",
        "runs/log-batch",
        json!({
            "run_id": child,
            "tags": [
                { "key": "mlflow.parentRunId", "value": tracked.alpha },
                { "key": "mlflow.source.name", "value": "train.py" },
                { "key": "mlflow.source.git.commit", "value": "0123456789abcdef0123456789abcdef01234567" },
            ],
        }),
    )
    .await;
    // Children come right under their parent, one level in.
    let table = fixture
        .get(&fixture.runs_page("order=attributes.run_name+ASC"))
        .await;
    assert_eq!(table.status, StatusCode::OK, "{}", table.body);
    assert_eq!(
        listed_runs(&table.body),
        [tracked.alpha.clone(), child.clone(), tracked.beta.clone()]
    );
    assert!(
        table
            .body
            .contains(&format!("data-run=\"{child}\" data-depth=\"1\"")),
        "{}",
        table.body
    );
    assert!(table.body.contains("class=\"nested nest-1\""));
    // Its parent filtered away, a child stays a row of its own and links to it.
    let alone = fixture
        .get(&fixture.runs_page("filter=attributes.run_name+%3D+%27child%27"))
        .await;
    assert_eq!(listed_runs(&alone.body), std::slice::from_ref(&child));
    assert!(alone.body.contains(&format!(
        "href=\"/projects/acme/churn/runs/{}\" title=\"parent run {}\"",
        tracked.alpha, tracked.alpha
    )));

    let page = fixture
        .get(&format!("/projects/acme/churn/runs/{child}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let facts = page.body.split("id=\"run-facts\"").nth(1).unwrap();
    assert!(facts.contains(&format!(
        "<a id=\"run-parent\" href=\"/projects/acme/churn/runs/{}\">",
        tracked.alpha
    )));
    assert!(facts.contains("id=\"run-source\""));
    assert!(facts.contains("train.py"));
    assert!(facts.contains(
        "<code id=\"run-commit\" title=\"0123456789abcdef0123456789abcdef01234567\">0123456789ab</code>"
    ));
    assert!(!facts.contains("run-job"), "no job made this run");

    // Only the server names a run's job.
    let forged = send(
        &world.app.router,
        json_request(
            "POST",
            "/projects/acme/churn/api/2.0/mlflow/runs/set-tag",
            world.tokens[2].as_deref(),
            &json!({ "run_id": child, "key": "plinth.job_id", "value": "someone-elses" }),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);
    assert!(forged.body.contains("plinth.job_id"), "{}", forged.body);
}

#[tokio::test]
async fn home_shows_recent_runs_and_only_areas_that_exist() {
    let fixture = Fixture::new().await;
    let home = fixture.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let runs = home
        .body
        .split("id=\"recent-runs\"")
        .nth(1)
        .expect("recent runs")
        .split("</section>")
        .next()
        .unwrap();
    for run in [&fixture.tracked.alpha, &fixture.tracked.beta] {
        assert!(
            runs.contains(&format!("/projects/acme/churn/runs/{run}")),
            "{runs}"
        );
    }
    assert!(
        !runs.contains(&fixture.tracked.other_run),
        "another project's run is not shown"
    );
    assert!(home.body.contains("id=\"recent-jobs\""));
    assert!(home.body.contains("id=\"recent-models\""));
    for area in crate::ui::AREAS {
        let card = format!("class=\"card\" href=\"{}\"", area.path);
        assert_eq!(home.body.contains(&card), area.built, "{}", area.path);
    }
}

#[tokio::test]
async fn an_invalid_filter_shows_its_error_not_a_server_error() {
    let fixture = Fixture::new().await;
    for (query, needle) in [
        ("filter=metrics.loss+%3C%3C+1", "Invalid"),
        ("filter=nonsense.key+%3D+1", "Invalid"),
        ("order=metrics.loss+SIDEWAYS", "invalid `order`"),
        ("columns=loss", "invalid `columns`"),
        ("page_token=not-a-token", "Invalid"),
    ] {
        let answer = fixture.get(&fixture.runs_page(query)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        let callout = answer
            .body
            .split("callout bad")
            .nth(1)
            .unwrap_or_else(|| panic!("{query}: no error shown"));
        assert!(
            callout.contains(needle),
            "{query}: {}",
            &callout[..200.min(callout.len())]
        );
        assert!(
            answer.body.contains("id=\"run-filter\""),
            "{query}: the form stays to fix it"
        );
    }
}

#[tokio::test]
async fn the_runs_table_pages_with_the_stores_tokens() {
    let fixture = Fixture::new().await;
    let experiment = &fixture.tracked.experiment_id;
    for index in 0..53 {
        create_run(
            &fixture.world,
            2,
            "acme/churn",
            experiment,
            &format!("bulk-{index}"),
        )
        .await;
    }
    let first = fixture
        .get(&fixture.runs_page("order=attributes.run_name+ASC"))
        .await;
    let first_ids = listed_runs(&first.body);
    assert_eq!(first_ids.len(), 50);
    let next = first
        .body
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .expect("a next page")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        next.contains("order=attributes.run_name+ASC"),
        "the order stays: {next}"
    );
    let second = fixture.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    let second_ids = listed_runs(&second.body);
    assert_eq!(second_ids.len(), 5, "55 runs in all");
    assert!(second_ids.iter().all(|id| !first_ids.contains(id)));
    assert!(second.body.contains("id=\"first-page\""));
    assert!(!second.body.contains("id=\"next-page\""));
    // Names sort bytewise: `alpha`, `beta`, then `bulk-…`.
    assert_eq!(first_ids[0], fixture.tracked.alpha);
}

#[tokio::test]
async fn the_run_page_shows_metrics_charts_params_and_artifacts() {
    let fixture = Fixture::new().await;
    let alpha = &fixture.tracked.alpha;
    let page = fixture
        .get(&format!("/projects/acme/churn/runs/{alpha}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for needle in [
        "<script src=\"/assets/vendor/uplot/uPlot.iife.min.js\" defer",
        "<script src=\"/assets/charts.js\" defer",
        "/assets/vendor/uplot/uPlot.min.css",
        "id=\"metrics\"",
        "<td class=\"num\"><span class=\"number\" title=\"0.01\" data-exact=\"0.01\">0.01</span></td>",
        "class=\"chart-figure metric-chart\"",
        &format!("/projects/acme/churn/runs/{alpha}/metrics/loss/chart.json"),
        "id=\"params\"",
        "0.01",
        "notes.txt",
        "plots/",
        "id=\"chart-controls\" hidden",
    ] {
        assert!(page.body.contains(needle), "{needle} missing");
    }
    // No chart is drawn on the server (uPlot draws them from the chart data): the page
    // reads no metric history.
    assert!(!page.body.contains("metric-svg"), "no server-drawn chart");

    let chart = fixture
        .get(&format!(
            "/projects/acme/churn/runs/{alpha}/metrics/loss/chart.json?points=10"
        ))
        .await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.body);
    let chart = chart.json();
    assert_eq!(chart["history"], json!({ "min_step": 0, "max_step": 99 }));
    let buckets = chart["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    assert_eq!(buckets[0]["first_step"], 0);
    assert_eq!(buckets[0]["max"], 2.0);
    assert_eq!(buckets[9]["last"], 0.01);
    let zoomed = fixture
        .get(&format!(
            "/projects/acme/churn/runs/{alpha}/metrics/loss/chart.json?min_step=10&max_step=19&points=100"
        ))
        .await
        .json();
    assert_eq!(zoomed["range"], json!({ "min_step": 10, "max_step": 19 }));
    assert_eq!(zoomed["buckets"].as_array().unwrap().len(), 10);
    for (query, field) in [
        ("points=0", "`points`"),
        ("points=many", "`points`"),
        ("min_step=x", "`min_step`"),
        ("min_step=9&max_step=3", "`min_step`"),
    ] {
        let answer = fixture
            .get(&format!(
                "/projects/acme/churn/runs/{alpha}/metrics/loss/chart.json?{query}"
            ))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            answer.json()["message"].as_str().unwrap().contains(field),
            "{query}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn artifacts_preview_text_images_and_csv_and_download_safely() {
    let fixture = Fixture::new().await;
    let base = format!("/projects/acme/churn/runs/{}", fixture.tracked.alpha);

    let root = fixture.get(&format!("{base}/artifacts")).await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.body.contains("?path=plots"));
    assert!(root.body.contains("?file=notes.txt"));
    let folder = fixture.get(&format!("{base}/artifacts?path=plots")).await;
    assert!(
        folder.body.contains("?file=plots/plot.png"),
        "{}",
        folder.body
    );

    let text = fixture
        .get(&format!("{base}/artifacts?file=notes.txt"))
        .await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(text
        .body
        .contains("hello &lt;script&gt;alert(1)&lt;/script&gt; world"));
    assert!(!text.body.contains("<script>alert"));

    let image = fixture
        .get(&format!("{base}/artifacts?file=plots/plot.png"))
        .await;
    assert!(image.body.contains(&format!(
        "id=\"preview-image\" src=\"{base}/artifacts/download?inline=true&amp;path=plots/plot.png\""
    )));
    let raw = fixture
        .get(&format!(
            "{base}/artifacts/download?inline=true&path=plots/plot.png"
        ))
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.header("content-type"), "image/png");
    assert!(raw.header("content-disposition").starts_with("inline"));
    assert!(raw.header("content-security-policy").starts_with("sandbox"));
    assert_eq!(raw.header("content-length"), PNG.len().to_string());
    let not_an_image = fixture
        .get(&format!(
            "{base}/artifacts/download?inline=true&path=notes.txt"
        ))
        .await;
    assert_eq!(not_an_image.status, StatusCode::BAD_REQUEST);
    let unsure = fixture
        .get(&format!(
            "{base}/artifacts/download?inline=maybe&path=plots/plot.png"
        ))
        .await;
    assert_eq!(unsure.status, StatusCode::BAD_REQUEST);
    assert!(unsure.body.contains("invalid `inline`"));

    let csv = fixture
        .get(&format!("{base}/artifacts?file=data/table.csv"))
        .await;
    assert!(
        csv.body.contains("<th>name</th><th>score</th>"),
        "{}",
        csv.body
    );
    assert!(csv.body.contains("<td>a, quoted</td><td>1.5</td>"));

    let download = fixture
        .get(&format!("{base}/artifacts/download?path=notes.txt"))
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(download
        .header("content-disposition")
        .starts_with("attachment"));
    assert!(download
        .header("content-security-policy")
        .starts_with("sandbox"));
    assert_eq!(download.body, "hello <script>alert(1)</script> world\n");

    for escape in ["../../../etc/passwd", "%2e%2e/x", "/plots/../../x"] {
        let answer = fixture
            .get(&format!("{base}/artifacts/download?path={escape}"))
            .await;
        assert!(
            answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::NOT_FOUND,
            "{escape}: {}",
            answer.status
        );
    }
    let missing = fixture
        .get(&format!("{base}/artifacts?file=nothing.txt"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn compare_takes_two_to_ten_runs_and_highlights_differences() {
    let fixture = Fixture::new().await;
    let Tracked {
        alpha,
        beta,
        other_run,
        experiment_id,
    } = &fixture.tracked;
    let compare = |runs: &[&String]| {
        let query: Vec<String> = runs.iter().map(|run| format!("runs={run}")).collect();
        format!("/projects/acme/churn/compare?{}", query.join("&"))
    };
    let both = fixture.get(&compare(&[alpha, beta])).await;
    assert_eq!(both.status, StatusCode::OK, "{}", both.body);
    assert!(both.body.contains("Compare 2 runs"));
    assert!(both.body.contains("1 of 2 parameters differ"));
    let differs = both.body.split("class=\"differs\"").nth(1).unwrap();
    assert!(
        differs.starts_with("><th scope=\"row\"><code class=\"kv\">lr</code>"),
        "{}",
        &differs[..80]
    );
    assert!(both.body.contains("id=\"metric-diff\""));
    // One chart per metric, one series per run that logged it.
    assert_eq!(
        both.body
            .matches("class=\"chart-figure metric-chart\"")
            .count(),
        2
    );
    assert!(
        both.body.contains("&quot;color&quot;:1"),
        "the second run's series"
    );
    // Experiment names, not ids; the data of the scatter and parallel plots.
    assert!(both.body.contains(">churn-model</a>"));
    assert!(both.body.contains("id=\"compare-plots\""));
    // Every chart's data in one request: the grid names it, it answers each run × key.
    let bulk = format!("/projects/acme/churn/compare/charts.json?runs={alpha}&amp;runs={beta}");
    assert!(
        both.body.contains(&format!("data-bulk=\"{bulk}\"")),
        "{}",
        both.body
    );
    let bulk = bulk.replace("&amp;", "&");
    let answer = fixture
        .get(&format!("{bulk}&keys=loss&keys=accuracy&points=10"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let charts = answer.json()["charts"].as_array().cloned().unwrap();
    let pairs: Vec<(String, String, usize)> = charts
        .iter()
        .map(|chart| {
            (
                chart["run_id"].as_str().unwrap().to_string(),
                chart["key"].as_str().unwrap().to_string(),
                chart["buckets"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            (alpha.clone(), "loss".to_string(), 10),
            (alpha.clone(), "accuracy".to_string(), 1),
            (beta.clone(), "loss".to_string(), 10),
            (beta.clone(), "accuracy".to_string(), 1),
        ]
    );
    // The same answer as the one-chart URL.
    let single = fixture
        .get(&format!(
            "/projects/acme/churn/runs/{alpha}/metrics/loss/chart.json?points=10"
        ))
        .await;
    assert_eq!(single.json(), charts[0]);
    let foreign = fixture
        .get(&format!(
            "/projects/acme/churn/compare/charts.json?runs={alpha}&runs={other_run}&keys=loss"
        ))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let no_runs = fixture
        .get("/projects/acme/churn/compare/charts.json?keys=loss")
        .await;
    assert_eq!(no_runs.status, StatusCode::BAD_REQUEST);
    assert!(no_runs.body.contains("invalid `runs`"), "{}", no_runs.body);
    let bad_points = fixture.get(&format!("{bulk}&keys=loss&points=0")).await;
    assert_eq!(bad_points.status, StatusCode::BAD_REQUEST);

    let one = fixture.get(&compare(&[alpha])).await;
    assert_eq!(one.status, StatusCode::BAD_REQUEST);
    assert!(one.body.contains("pick 2 to 10 runs to compare (1 picked)"));
    let same_twice = fixture.get(&compare(&[alpha, alpha])).await;
    assert_eq!(
        same_twice.status,
        StatusCode::BAD_REQUEST,
        "a run counts once"
    );
    let mut many = Vec::new();
    for index in 0..9 {
        many.push(
            create_run(
                &fixture.world,
                2,
                "acme/churn",
                experiment_id,
                &format!("m{index}"),
            )
            .await,
        );
    }
    let mut eleven: Vec<&String> = many.iter().collect();
    eleven.extend([alpha, beta]);
    let too_many = fixture.get(&compare(&eleven)).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(too_many.body.contains("(11 picked)"));
    let ten = fixture.get(&compare(&eleven[..10])).await;
    assert_eq!(ten.status, StatusCode::OK);

    // A run of another project is not found here, wherever it is named.
    let foreign = fixture.get(&compare(&[alpha, other_run])).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn runs_of_other_projects_are_not_found_in_this_projects_urls() {
    let fixture = Fixture::new().await;
    let other = &fixture.tracked.other_run;
    for path in [
        format!("/projects/acme/churn/runs/{other}"),
        format!("/projects/acme/churn/runs/{other}/artifacts"),
        format!("/projects/acme/churn/runs/{other}/artifacts/download?path=x.txt"),
    ] {
        let answer = fixture.get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!answer.body.contains("theirs"), "{path} leaks the run");
    }
    let chart = fixture
        .get(&format!(
            "/projects/acme/churn/runs/{other}/metrics/loss/chart.json"
        ))
        .await;
    assert_eq!(chart.status, StatusCode::NOT_FOUND);
    assert_eq!(chart.json()["code"], "not_found", "{}", chart.body);
    // vera is not a member of globex/ads: the project itself is hidden.
    let theirs = fixture
        .get(&format!("/projects/globex/ads/runs/{other}"))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contributors_manage_experiments_and_runs_from_their_pages() {
    let fixture = Fixture::new().await;
    let router = &fixture.world.app.router;
    let (cookie, csrf) = browser_login(router, "carl", PASSWORD).await;
    let post = |uri: String, body: String| {
        axum::http::Request::post(uri)
            .header(axum::http::header::COOKIE, cookie.clone())
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(axum::body::Body::from(format!("_csrf={csrf}&{body}")))
            .unwrap()
    };
    let location = |answer: &Answer| answer.header("location").to_string();

    // A new experiment, then its page with the notice and the forms.
    let created = send(
        router,
        post(
            "/projects/acme/churn/experiments".into(),
            "name=from-the-ui".into(),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let here = location(&created);
    assert!(here.contains("ok=Created"), "{here}");
    let page = send(router, page_as(&here, &cookie)).await;
    assert!(page.body.contains("Created experiment `from-the-ui`"));
    assert!(page.body.contains("id=\"manage-experiment\""));
    let experiment = here.split('?').next().unwrap().to_string();
    let renamed = send(
        router,
        post(format!("{experiment}/rename"), "name=renamed".into()),
    )
    .await;
    assert!(
        location(&renamed).contains("ok=Renamed"),
        "{}",
        location(&renamed)
    );
    let deleted = send(router, post(format!("{experiment}/delete"), String::new())).await;
    assert!(location(&deleted).contains("ok=Experiment%20deleted"));
    let restored = send(router, post(format!("{experiment}/restore"), String::new())).await;
    assert!(location(&restored).contains("ok=Experiment%20restored"));
    let nameless = send(
        router,
        post(format!("{experiment}/rename"), "name=+".into()),
    )
    .await;
    assert!(location(&nameless).contains("error=invalid%20%60name%60"));

    // A run: description, name, a tag set and deleted.
    let run = format!("/projects/acme/churn/runs/{}", fixture.tracked.alpha);
    for (path, body, notice) in [
        (
            "description",
            "description=the+baseline",
            "ok=Description%20saved",
        ),
        ("rename", "name=alpha-renamed", "ok=Renamed"),
        (
            "tags",
            "key=reviewed&value=yes",
            "ok=Tag%20%60reviewed%60%20set",
        ),
        (
            "tags",
            "key=mlflow.user&value=x",
            "error=invalid%20%60key%60",
        ),
    ] {
        let answer = send(router, post(format!("{run}/{path}"), body.into())).await;
        assert!(
            location(&answer).contains(notice),
            "{path}: {}",
            location(&answer)
        );
    }
    let page = send(router, page_as(&run, &cookie)).await;
    assert!(page
        .body
        .contains("<p class=\"lead\" id=\"run-description\">the baseline</p>"));
    assert!(page.body.contains("alpha-renamed"));
    assert!(page.body.contains("<option value=\"reviewed\">"));
    let untagged = send(
        router,
        post(format!("{run}/tags/delete"), "key=reviewed".into()),
    )
    .await;
    assert!(location(&untagged).contains("ok=Tag%20%60reviewed%60%20deleted"));

    // The viewer sees no forms.
    let viewed = fixture.get(&run).await;
    assert!(!viewed.body.contains("id=\"edit-run\""));
}
