//! Every page of the UI in headless Chromium, at 1440, 800 and 500 px wide (and 1440 px
//! dark): nothing scrolls sideways, and the real axe-core (vendored for this test,
//! `tests/vendor/axe-core`, injected into each page) finds no serious or critical
//! violation. The pages come from `plinth_api::ui_page_routes()`, the list the router
//! builds and the authorization matrix walks, so a new page is checked without anyone
//! remembering to add it: a path template this test cannot fill in fails it.
//!
//! Then the chart cases (a single point drawn as a marker, whole-number step ticks without
//! duplicates, the log scale, a metric only one compared run logged, bars for a metric
//! each run logged once), numbers (−1.5e-300 short, exact on hover) and the links the
//! mlflow client prints. Screenshots of every page land in `$CARGO_TARGET_TMPDIR/e2e/pages`.

use std::collections::BTreeMap;

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::browser::{browser_with, click_and_wait, fill, log_in, shot, submit, wait_until};
use crate::support::{artifacts_dir, client, workdir, Server, ADMIN_PASSWORD};

/// The widths every page is checked at; overflow fails at each of them.
const WIDTHS: [u32; 3] = [1440, 800, 500];

/// Routes that are not pages (with why): not loaded into the browser.
const NOT_PAGES: &[(&str, &str)] = &[
    ("/assets/{*path}", "static files"),
    ("/favicon.ico", "an icon"),
    (
        "/projects/{organization}/{project}/runs/{run_id}/artifacts/download",
        "a download",
    ),
    (
        "/projects/{organization}/{project}/runs/{run_id}/metrics/{key}/chart.json",
        "chart data (JSON)",
    ),
    (
        "/projects/{organization}/{project}/files/download",
        "a download",
    ),
    (
        "/projects/{organization}/{project}/compare/charts.json",
        "the compare page's chart data (JSON)",
    ),
    ("/gateway/handshake", "a redirect to an App's own origin"),
    (
        "/auth/oidc/{provider}/login",
        "a redirect to a sign-on provider",
    ),
    (
        "/auth/oidc/{provider}/callback",
        "a sign-on provider's redirect back",
    ),
];

/// Pages shown to visitors who are not signed in (checked before logging in).
const SIGNED_OUT: &[&str] = &["/login", "/signup"];

async fn mlflow(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let answer = client()
        .post(server.url(&format!("/projects/acme/vision/api/2.0/mlflow/{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("mlflow request");
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

struct Seeded {
    experiment_id: String,
    first: String,
    second: String,
    pipeline_run: String,
}

/// Two runs over MLflow's REST API: the chart cases, a tiny number, long values, a model
/// version.
/// The values the page-list templates are filled in with (one list for every pass, so a
/// placeholder added for a new page reaches them all).
fn page_values<'a>(seeded: &Seeded, job: &str, pool: &str) -> BTreeMap<&'a str, String> {
    [
        ("organization", "acme".to_string()),
        ("project", "vision".to_string()),
        ("experiment_id", seeded.experiment_id.clone()),
        ("run_id", seeded.first.clone()),
        ("second_run", seeded.second.clone()),
        ("name", "vision-model".to_string()),
        ("version", "1".to_string()),
        ("id", job.to_string()),
        ("username", "admin".to_string()),
        ("pool", pool.to_string()),
        ("class", "small".to_string()),
        ("environment", "vision-env".to_string()),
        ("app", "board".to_string()),
        ("pipeline_run", seeded.pipeline_run.clone()),
    ]
    .into_iter()
    .collect()
}

async fn seed(server: &Server, token: &str) -> Seeded {
    let created = mlflow(
        server,
        token,
        "experiments/create",
        json!({ "name": "charts" }),
    )
    .await;
    let experiment_id = created["experiment_id"].as_str().unwrap().to_string();
    let now = 1_765_000_000_000i64;
    let mut ids = Vec::new();
    for (index, name) in ["first-run", "second-run"].iter().enumerate() {
        let run = mlflow(
            server,
            token,
            "runs/create",
            json!({ "experiment_id": experiment_id, "run_name": name, "start_time": now }),
        )
        .await;
        let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
        let mut metrics = vec![
            // One point: a marker; across both runs: bars.
            json!({ "key": "acc", "value": 0.5 + index as f64 / 10.0, "timestamp": now, "step": 0 }),
            json!({ "key": "tiny", "value": -1.5e-300, "timestamp": now, "step": 0 }),
        ];
        // Four steps over a wide chart: ticks 0 1 2 3, never "0 1 1 2 2".
        for step in 0..4 {
            metrics.push(json!({ "key": "loss", "value": 1.0 / (step as f64 + 1.0 + index as f64), "timestamp": now + step * 1000, "step": step }));
        }
        // Six decades: the log scale's case.
        for step in 0..7 {
            metrics.push(json!({ "key": "scale", "value": 10f64.powi(-(step as i32)), "timestamp": now + step * 1000, "step": step }));
        }
        if index == 1 {
            // Only the second run logged it: still drawn on compare.
            metrics
                .push(json!({ "key": "only_second", "value": 3.0, "timestamp": now, "step": 0 }));
            metrics.push(
                json!({ "key": "only_second", "value": 4.0, "timestamp": now + 1000, "step": 1 }),
            );
        }
        let long = "x".repeat(180);
        mlflow(
            server,
            token,
            "runs/log-batch",
            json!({
                "run_id": run_id,
                "metrics": metrics,
                "params": [
                    { "key": "lr", "value": format!("0.0{}", index + 1) },
                    { "key": "long_param", "value": format!("{long}-{index}") },
                ],
                "tags": [ { "key": "long_tag", "value": format!("tag-{long}") } ],
            }),
        )
        .await;
        mlflow(
            server,
            token,
            "runs/update",
            json!({ "run_id": run_id, "status": "FINISHED", "end_time": now + 60_000 }),
        )
        .await;
        ids.push(run_id);
    }
    mlflow(
        server,
        token,
        "registered-models/create",
        json!({ "name": "vision-model" }),
    )
    .await;
    mlflow(
        server,
        token,
        "model-versions/create",
        json!({ "name": "vision-model", "source": format!("runs:/{}/model", ids[0]), "run_id": ids[0] }),
    )
    .await;
    // A pipeline run (its task cannot start without a `kfp` environment: the run fails,
    // which the run page shows as well as any).
    let spec = json!({
        "pipelineInfo": { "name": "tiny" },
        "root": { "dag": { "tasks": { "hello": { "taskInfo": { "name": "hello" }, "componentRef": { "name": "comp-hello" } } } } },
        "components": { "comp-hello": { "executorLabel": "exec-hello" } },
        "deploymentSpec": { "executors": { "exec-hello": { "container": { "image": "python:3.11", "command": ["echo", "hi"] } } } },
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.17.3",
    });
    let answer = client()
        .post(server.url("/projects/acme/vision/apis/v2beta1/runs"))
        .bearer_auth(token)
        .json(&json!({ "display_name": "tiny", "pipeline_spec": spec }))
        .send()
        .await
        .expect("kfp request");
    assert!(answer.status().is_success(), "kfp run: {}", answer.status());
    let run: Value = answer.json().await.expect("kfp answer");
    Seeded {
        experiment_id,
        first: ids[0].clone(),
        second: ids[1].clone(),
        pipeline_run: run["run_id"].as_str().expect("run_id").to_string(),
    }
}

/// Fills in a page's path template; `None` for a placeholder this test does not know.
fn fill_template(template: &str, values: &BTreeMap<&str, String>) -> Option<String> {
    let mut path = String::new();
    for segment in template.split('/').skip(1) {
        path.push('/');
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            // `{name}` means a model, a pool, a class or an environment, by where it is.
            let key = match name {
                "name" if template.starts_with("/admin/pools/") => "pool",
                "name" if template.contains("/environments/") => "environment",
                "name" if template.starts_with("/admin/classes/") => "class",
                other => other,
            };
            path.push_str(values.get(key)?);
        } else {
            path.push_str(segment);
        }
    }
    if template.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    if template.ends_with("/compare") {
        path.push_str(&format!(
            "?runs={}&runs={}",
            values["run_id"], values["second_run"]
        ));
    }
    Some(path)
}

/// What overflows the window sideways (the widest elements), or an empty list.
const OVERFLOW: &str = r##"
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth <= width) { return []; }
const out = [];
for (const element of document.querySelectorAll("body *")) {
  const box = element.getBoundingClientRect();
  if (box.right > width + 1 && box.width > 0) {
    let inScroller = false;
    for (let up = element.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === "auto" || style.overflowX === "scroll" || style.overflowX === "hidden") { inScroller = true; break; }
    }
    if (!inScroller) {
      out.push(`${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}.${Array.from(element.classList).join(".")} right=${Math.round(box.right)} (window ${width}, page ${document.documentElement.scrollWidth})`);
    }
  }
}
return out.slice(-6).concat([`page ${document.documentElement.scrollWidth} > window ${width}`]);
"##;

/// Runs axe-core (injected first when the page lacks it); returns the serious and critical
/// violations as text.
const AXE: &str = r#"
return axe.run(document, { resultTypes: ["violations"] }).then((result) =>
  result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " (" + (n.failureSummary || "").replace(/\s+/g, " ").slice(0, 160) + ")").join("; ")}`));
"#;

/// Loads `url` and checks it at `width`: overflow and axe. Returns the problems found.
async fn check_page(
    browser: &fantoccini::Client,
    axe_source: &str,
    url: &str,
    label: &str,
    width: u32,
    theme: &str,
) -> Result<Vec<String>, fantoccini::error::CmdError> {
    check_page_expecting(browser, axe_source, url, label, width, theme, None).await
}

/// [`check_page`], for a page that must be the error page titled `error` (`404 Not Found`)
/// when given: drawn in the layout (styled, with its heading and a way on).
async fn check_page_expecting(
    browser: &fantoccini::Client,
    axe_source: &str,
    url: &str,
    label: &str,
    width: u32,
    theme: &str,
    error: Option<&str>,
) -> Result<Vec<String>, fantoccini::error::CmdError> {
    browser.set_window_size(width, 1000).await?;
    browser.goto(url).await?;
    // Let the charts in view draw.
    wait_until(
        browser,
        "return document.querySelectorAll('figure[data-loading]').length;",
        10,
        |value| value.as_u64() == Some(0),
    )
    .await?;
    let mut problems = Vec::new();
    let title = browser.title().await?;
    match error {
        None if title.starts_with('4') || title.starts_with('5') => {
            problems.push(format!("{label}: answered an error page: {title}"));
        }
        None => {}
        Some(error) => {
            // The error page proper: its title, heading, the stylesheet applied (the
            // sidebar is laid out beside or above the main column) and links onward.
            let page = browser
                .execute(
                    "return [document.querySelector('main h1') ? document.querySelector('main h1').textContent : '',                      getComputedStyle(document.body).margin === '0px',                      Array.from(document.querySelectorAll('main a')).map((a) => a.getAttribute('href'))];",
                    vec![],
                )
                .await?;
            if !title.starts_with(error) || page[0] != json!(error) || page[1] != json!(true) {
                problems.push(format!(
                    "{label} at {width} px: not a proper `{error}` page: {title:?} {page}"
                ));
            }
            let links = page[2].as_array().cloned().unwrap_or_default();
            if !links.contains(&json!("/login")) && !links.contains(&json!("/")) {
                problems.push(format!(
                    "{label} at {width} px: the error page leads nowhere: {page}"
                ));
            }
        }
    }
    let overflow = browser.execute(OVERFLOW, vec![]).await?;
    if let Some(items) = overflow.as_array().filter(|items| !items.is_empty()) {
        problems.push(format!("{label} at {width} px scrolls sideways: {items:?}"));
    }
    let has_axe = browser
        .execute("return typeof window.axe === 'object';", vec![])
        .await?;
    if has_axe != Value::Bool(true) {
        browser.execute(axe_source, vec![]).await?;
    }
    let violations = browser.execute(AXE, vec![]).await?;
    if let Some(items) = violations.as_array().filter(|items| !items.is_empty()) {
        for item in items {
            problems.push(format!(
                "{label} at {width} px ({theme}): {}",
                item.as_str().unwrap_or_default()
            ));
        }
    }
    let dir = artifacts_dir().join("pages");
    fs_err::create_dir_all(&dir).expect("screenshot dir");
    let name: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    fs_err::write(
        dir.join(format!("{name}-{width}-{theme}.png")),
        browser.screenshot().await?,
    )
    .expect("write screenshot");
    Ok(problems)
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL"]
async fn every_page_fits_the_window_and_passes_axe_core_and_charts_draw_right() {
    let axe_source = fs_err::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vendor/axe-core/axe.min.js"),
    )
    .expect("the vendored axe-core (scripts/vendor/ui-assets.sh)");
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let token = server.admin_token().await;
    crate::browser::api_post(
        &server,
        &token,
        "/api/v1/orgs",
        json!({ "name": "acme", "owner": "admin" }),
    )
    .await;
    crate::browser::api_post(
        &server,
        &token,
        "/api/v1/orgs/acme/projects",
        json!({ "name": "vision", "display_name": "Vision" }),
    )
    .await;
    let seeded = seed(&server, &token).await;
    // An environment to show (created only: its page shows the version before any build).
    crate::browser::api_post(
        &server,
        &token,
        "/api/v1/orgs/acme/projects/vision/environments",
        json!({ "name": "vision-env", "python": "3.11", "packages": ["six==1.16.0"] }),
    )
    .await;
    let pools: Value = client()
        .get(server.url("/api/v1/pools"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("pools")
        .json()
        .await
        .expect("pools json");
    let pool = pools
        .as_array()
        .or_else(|| pools["pools"].as_array())
        .and_then(|pools| pools.first())
        .and_then(|pool| pool["name"].as_str())
        .expect("a pool")
        .to_string();

    // An App to show, stopped at once (its page shows a stopped App as well as a running
    // one, and nothing outlives the test).
    let apps = server.url("/api/v1/orgs/acme/projects/vision/apps");
    let created = client()
        .post(&apps)
        .bearer_auth(&token)
        .json(&json!({ "name": "board", "class": "serve-small", "command": ["sleep", "600"] }))
        .send()
        .await
        .expect("create app");
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let stopped = client()
        .post(format!("{apps}/board/stop"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stop app");
    assert_eq!(stopped.status(), 200);

    let routes = plinth_api::ui_page_routes();
    let skipped: Vec<&str> = NOT_PAGES.iter().map(|(path, _)| *path).collect();
    let mut problems = Vec::new();

    let browser = browser_with(&[]).await;
    let outcome = async {
        for path in SIGNED_OUT {
            assert!(routes.contains(path), "{path} is no longer a page");
            for width in [1440, 800] {
                problems.extend(
                    check_page(
                        &browser,
                        &axe_source,
                        &server.url(path),
                        path,
                        width,
                        "light",
                    )
                    .await?,
                );
            }
        }
        // Signed out, a page that does not exist is a proper page too (and so is a
        // project page's miss, which asks to sign in first).
        for width in WIDTHS {
            problems.extend(
                check_page_expecting(
                    &browser,
                    &axe_source,
                    &server.url("/no-such-page"),
                    "signed-out 404",
                    width,
                    "light",
                    Some("404 Not Found"),
                )
                .await?,
            );
        }
        log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        // A job to show: submitted through its form.
        browser
            .goto(&server.url("/projects/acme/vision/jobs/new"))
            .await?;
        browser
            .find(Locator::Css(
                "#new-job select[name=class] option[value=small]",
            ))
            .await?
            .click()
            .await?;
        fill(
            &browser,
            "#new-job input[name=command]",
            "echo hello-from-the-page-test",
        )
        .await?;
        submit(&browser, "#new-job").await?;
        let job = browser
            .current_url()
            .await?
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();

        let values = page_values(&seeded, &job, &pool);
        let mut visited = 0;
        for template in &routes {
            if skipped.contains(template) || SIGNED_OUT.contains(template) {
                continue;
            }
            let path = fill_template(template, &values).unwrap_or_else(|| {
                panic!("{template}: a page this test cannot fill in; add its placeholder")
            });
            for width in WIDTHS {
                problems.extend(
                    check_page(
                        &browser,
                        &axe_source,
                        &server.url(&path),
                        template,
                        width,
                        "light",
                    )
                    .await?,
                );
            }
            visited += 1;
        }
        assert!(visited > 30, "only {visited} pages");
        Ok::<String, fantoccini::error::CmdError>(job)
    }
    .await;
    browser.close().await.expect("close browser");
    let job = outcome.expect("browser steps");

    // Dark: the same pages at every width.
    let browser = browser_with(&["--force-dark-mode"]).await;
    let outcome = async {
        log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        let dark = browser
            .execute(
                "return matchMedia('(prefers-color-scheme: dark)').matches;",
                vec![],
            )
            .await?;
        assert_eq!(dark, Value::Bool(true), "Chromium did not report dark mode");
        let values = page_values(&seeded, &job, &pool);
        for template in &routes {
            if skipped.contains(template) || SIGNED_OUT.contains(template) {
                continue;
            }
            let path = fill_template(template, &values).unwrap_or_else(|| {
                panic!("{template}: a page this test cannot fill in; add its placeholder")
            });
            for width in WIDTHS {
                problems.extend(
                    check_page(
                        &browser,
                        &axe_source,
                        &server.url(&path),
                        template,
                        width,
                        "dark",
                    )
                    .await?,
                );
            }
        }
        // A miss signed in: the error page in the full layout, dark too.
        for width in WIDTHS {
            problems.extend(
                check_page_expecting(
                    &browser,
                    &axe_source,
                    &server.url("/projects/acme/vision/experiments/999999"),
                    "signed-in 404",
                    width,
                    "dark",
                    Some("404 Not Found"),
                )
                .await?,
            );
        }
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("dark browser steps");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The chart cases, the numbers and the mlflow links on the same data.
    charts_numbers_and_links(&server, &seeded).await;
}

/// Reads `figure[data-key=KEY]`'s data attributes once its chart is drawn.
async fn drawn(
    browser: &fantoccini::Client,
    key: &str,
) -> Result<Value, fantoccini::error::CmdError> {
    let script = format!(
        "const f = document.querySelector(\"figure.metric-chart[data-key='{key}']\"); if (!f) return 'missing'; \
         f.scrollIntoView({{ block: 'center' }}); \
         return f.dataset.drawn && f.dataset.drawn !== 'pending' && !f.dataset.loading ? Object.assign({{}}, f.dataset) : null;"
    );
    wait_until(browser, &script, 15, |value| !value.is_null()).await
}

async fn charts_numbers_and_links(server: &Server, seeded: &Seeded) {
    let browser = browser_with(&["--window-size=1440,1000"]).await;
    let outcome = async {
        log_in(&browser, server, "admin", ADMIN_PASSWORD).await?;
        let run_page = format!("/projects/acme/vision/runs/{}", seeded.first);
        browser.goto(&server.url(&run_page)).await?;

        // −1.5e-300: short in the table, exact on hover.
        let tiny = browser
            .execute(
                "const row = Array.from(document.querySelectorAll('#metrics tbody tr')).find((tr) => tr.textContent.includes('tiny')); \
                 const n = row.querySelector('.number'); return [n.textContent, n.title, document.documentElement.scrollWidth <= document.documentElement.clientWidth];",
                vec![],
            )
            .await?;
        assert_eq!(tiny, json!(["-1.5e-300", "-1.5e-300", true]));
        // A long param: cut, whole on hover, with a copy button.
        let long = browser
            .execute(
                "const cell = Array.from(document.querySelectorAll('#params tbody tr')).find((tr) => tr.textContent.includes('long_param')); \
                 const code = cell.querySelector('code.truncated'); \
                 return [code.title.length, code.getBoundingClientRect().width < 400, !!cell.querySelector('button.copy')];",
                vec![],
            )
            .await?;
        assert_eq!(long, json!([182, true, true]));

        // A single point: drawn as a marker (the canvas has the series' color there).
        let single = drawn(&browser, "acc").await?;
        assert_eq!(single["drawn"], "line", "{single}");
        assert_eq!(single["points"], "1", "{single}");
        let marker = browser
            .execute(
                "const f = document.querySelector(\"figure[data-key='acc']\"); const u = f.plinthPlot; \
                 const x = Math.round(u.valToPos(0, 'x', true)), y = Math.round(u.valToPos(0.5, 'y', true)); \
                 const p = u.ctx.getImageData(x, y, 1, 1).data; \
                 const c = getComputedStyle(document.documentElement).getPropertyValue('--s0').trim(); \
                 return [Array.from(p), c];",
                vec![],
            )
            .await?;
        let pixel: Vec<i64> = marker[0].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let hex = marker[1].as_str().unwrap().trim_start_matches('#');
        let want: Vec<i64> = (0..3).map(|i| i64::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap()).collect();
        assert!(
            pixel[3] > 200 && (0..3).all(|i| (pixel[i] - want[i]).abs() < 40),
            "no marker at the single point: {pixel:?} vs {want:?}"
        );

        // Four steps across a wide chart: whole-number ticks, none twice.
        let loss = drawn(&browser, "loss").await?;
        let ticks: Vec<String> = serde_json::from_str(loss["xTicks"].as_str().unwrap()).unwrap();
        assert!(ticks.len() >= 2, "{ticks:?}");
        let mut unique = ticks.clone();
        unique.dedup();
        assert_eq!(unique, ticks, "duplicated step ticks");
        assert!(ticks.iter().all(|t| t.parse::<i64>().is_ok()), "{ticks:?}");
        shot(&browser, "chart-steps.png").await?;

        // The log scale: six decades, every split positive, spanning them.
        browser.find(Locator::Css("#log-scale")).await?.click().await?;
        let scale = wait_until(
            &browser,
            "const f = document.querySelector(\"figure[data-key='scale']\"); f.scrollIntoView({block: 'center'}); return f.dataset.scale === 'log' ? JSON.parse(f.dataset.ySplits) : null;",
            10,
            |value| value.is_array(),
        )
        .await?;
        let splits: Vec<f64> = scale.as_array().unwrap().iter().filter_map(Value::as_f64).collect();
        assert!(
            splits.iter().all(|s| *s > 0.0) && splits.iter().cloned().fold(0.0, f64::max) / splits.iter().cloned().fold(f64::INFINITY, f64::min) >= 1e4,
            "not a log scale: {splits:?}"
        );
        shot(&browser, "chart-log.png").await?;

        // Compare: a metric only one run logged is drawn; one value per run makes bars;
        // experiment names, the scatter and the parallel coordinates.
        browser
            .goto(&server.url(&format!(
                "/projects/acme/vision/compare?runs={}&runs={}",
                seeded.first, seeded.second
            )))
            .await?;
        let only = drawn(&browser, "only_second").await?;
        assert_eq!(only["drawn"], "line", "{only}");
        assert_eq!(only["points"], "2", "{only}");
        let bars = drawn(&browser, "acc").await?;
        assert_eq!(bars["drawn"], "bars", "{bars}");
        let runs = browser.find(Locator::Css("#compare-runs")).await?.text().await?;
        assert!(runs.contains("charts"), "experiment names: {runs}");
        let plots = browser
            .execute(
                "return [document.getElementById('scatter').dataset.points, document.getElementById('parallel').dataset.lines];",
                vec![],
            )
            .await?;
        assert_eq!(plots, json!(["2", "2"]));
        crate::browser::shot_at(&browser, "#compare-plots", "compare-plots.png").await?;

        // The links the mlflow client prints land on the run.
        for link in [
            format!("/#/experiments/{}/runs/{}", seeded.experiment_id, seeded.second),
            format!("/projects/acme/vision/#/experiments/{}/runs/{}", seeded.experiment_id, seeded.second),
        ] {
            browser.goto(&server.url(&link)).await?;
            let landed = wait_until(
                &browser,
                "return document.readyState === 'complete' ? location.pathname : null;",
                10,
                |value| value.as_str().is_some_and(|path| path.ends_with(&seeded.second)),
            )
            .await?;
            assert_eq!(
                landed,
                json!(format!("/projects/acme/vision/runs/{}", seeded.second)),
                "{link}"
            );
        }
        // Signed out, the link survives the login.
        let logout = browser.find(Locator::Css("form[action='/logout'] button")).await?;
        click_and_wait(&browser, logout).await?;
        browser
            .goto(&server.url(&format!("/#/experiments/{}/runs/{}", seeded.experiment_id, seeded.first)))
            .await?;
        fill(&browser, "input[name=username]", "admin").await?;
        fill(&browser, "input[name=password]", ADMIN_PASSWORD).await?;
        submit(&browser, "form[action='/login']").await?;
        let landed = wait_until(
            &browser,
            "return document.readyState === 'complete' ? location.pathname : null;",
            10,
            |value| value.as_str().is_some_and(|path| path.ends_with(&seeded.first)),
        )
        .await?;
        assert_eq!(landed, json!(format!("/projects/acme/vision/runs/{}", seeded.first)));
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("chart steps");
}

/// Runs a small script with the real mlflow client (the test venv) against `tracking_uri`
/// and returns the run URL it printed (`View run NAME at: http://…`).
fn printed_run_url(tracking_uri: &str, token: &str, experiment: &str) -> String {
    let python = crate::mlflow::venv_python();
    let scratch = workdir();
    let script = format!(
        "import mlflow\n\
         mlflow.set_experiment({experiment:?})\n\
         with mlflow.start_run(run_name='printed-link'):\n    mlflow.log_metric('m', 1.0)\n"
    );
    let output = std::process::Command::new(&python)
        .args(["-c", &script])
        .current_dir(scratch.path())
        .env("MLFLOW_TRACKING_URI", tracking_uri)
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("GIT_PYTHON_REFRESH", "quiet")
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .expect("run python");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the mlflow client failed: {printed}"
    );
    printed
        .lines()
        .find_map(|line| {
            let (_, rest) = line.split_once("View run ")?;
            let (_, url) = rest.split_once(" at: ")?;
            Some(url.trim().to_string())
        })
        .unwrap_or_else(|| panic!("the mlflow client printed no run link: {printed}"))
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL and the test venv (scripts/test)"]
async fn the_run_links_the_mlflow_client_prints_open_their_runs() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let token = server.admin_token().await;
    crate::browser::api_post(
        &server,
        &token,
        "/api/v1/orgs",
        json!({ "name": "acme", "owner": "admin" }),
    )
    .await;
    crate::browser::api_post(
        &server,
        &token,
        "/api/v1/orgs/acme/projects",
        json!({ "name": "vision", "display_name": "Vision" }),
    )
    .await;
    let scoped = crate::mlflow::call(
        &server,
        &token,
        "POST",
        "/api/v1/me/tokens",
        json!({ "name": "mlflow", "project": "acme/vision" }),
    )
    .await["token"]
        .as_str()
        .expect("scoped token")
        .to_string();
    // The project's tracking URI, and the bare server with a project-scoped token: the
    // client prints `http://HOST/projects/acme/vision/#/experiments/ID/runs/RUN` and
    // `http://HOST/#/experiments/ID/runs/RUN`.
    let links = [
        printed_run_url(
            &server.url("/projects/acme/vision"),
            &token,
            "printed-project",
        ),
        printed_run_url(
            server.url("/").trim_end_matches('/'),
            &scoped,
            "printed-root",
        ),
    ];
    assert!(
        links[0].contains("/projects/acme/vision/#/experiments/"),
        "{}",
        links[0]
    );
    assert!(!links[1].contains("/projects/"), "{}", links[1]);

    let browser = browser_with(&["--window-size=1440,1000"]).await;
    let outcome = async {
        log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        for link in &links {
            let run_id = link.rsplit('/').next().unwrap_or_default().to_string();
            assert_eq!(run_id.len(), 32, "a run id ends the link: {link}");
            browser.goto(link).await?;
            let landed = wait_until(
                &browser,
                "return document.readyState === 'complete' && document.querySelector('#run-facts') ? [location.pathname, document.querySelector('main h1').textContent] : null;",
                15,
                |value| !value.is_null(),
            )
            .await?;
            assert_eq!(
                landed[0],
                json!(format!("/projects/acme/vision/runs/{run_id}")),
                "{link}"
            );
            assert!(
                landed[1].as_str().is_some_and(|h1| h1.starts_with("printed-link")),
                "{landed}"
            );
        }
        shot(&browser, "mlflow-printed-link.png").await?;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("browser steps");
}
