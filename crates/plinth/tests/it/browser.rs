//! The UI in a real browser (headless Debian Chromium through chromedriver): the login
//! flow with two-factor enrollment, the shell and status page, project membership, and
//! jobs: submitting one, its log streaming in live, re-running it, and the usage chart;
//! experiment tracking: runs logged with the real mlflow client, filtered, charted,
//! previewed and compared; the registry: a model version, its alias, stage and lineage.

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{ClientBuilder, Locator};
use plinth_auth::Totp;

use crate::support::{artifacts_dir, client, workdir, Server, ADMIN_PASSWORD};

pub(crate) async fn browser() -> fantoccini::Client {
    browser_with(&[]).await
}

/// A browser with more Chromium flags (`--force-dark-mode`, a window size …).
pub(crate) async fn browser_with(extra: &[&str]) -> fantoccini::Client {
    let webdriver =
        std::env::var("PLINTH_TEST_WEBDRIVER_URL").expect("PLINTH_TEST_WEBDRIVER_URL must be set");
    let chromium =
        std::env::var("PLINTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let user_data = tempfile::tempdir().expect("tempdir").keep();
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", user_data.display()));
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({ "binary": chromium, "args": args }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .expect("connect to chromedriver")
}

pub(crate) async fn api_post(server: &Server, token: &str, path: &str, body: serde_json::Value) {
    let answer = client()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert!(
        answer.status().is_success(),
        "POST {path}: {}",
        answer.status()
    );
}

pub(crate) async fn fill(
    browser: &fantoccini::Client,
    selector: &str,
    text: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let field = browser.find(Locator::Css(selector)).await?;
    field.clear().await?;
    field.send_keys(text).await
}

/// Clicks `element` and waits until the browser has loaded the next document.
pub(crate) async fn click_and_wait(
    browser: &fantoccini::Client,
    element: fantoccini::elements::Element,
) -> Result<(), fantoccini::error::CmdError> {
    browser
        .execute("window.__plinthOldPage = true;", vec![])
        .await?;
    element.click().await?;
    for _ in 0..200 {
        let state = browser
            .execute(
                "return [window.__plinthOldPage === true, document.readyState];",
                vec![],
            )
            .await;
        if let Ok(state) = state {
            if state[0].as_bool() == Some(false) && state[1].as_str() == Some("complete") {
                return Ok(());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the page did not change within 5 s");
}

pub(crate) async fn submit(
    browser: &fantoccini::Client,
    form: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let button = browser
        .find(Locator::Css(&format!("{form} button[type=submit]")))
        .await?;
    click_and_wait(browser, button).await
}

pub(crate) async fn shot(
    browser: &fantoccini::Client,
    name: &str,
) -> Result<(), fantoccini::error::CmdError> {
    fs_err::write(artifacts_dir().join(name), browser.screenshot().await?)
        .expect("write screenshot");
    Ok(())
}

async fn api_put(server: &Server, token: &str, path: &str, body: serde_json::Value) {
    let answer = client()
        .put(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert!(
        answer.status().is_success(),
        "PUT {path}: {}",
        answer.status()
    );
}

/// Scrolls `selector` into the middle of the window, then takes a screenshot.
pub(crate) async fn shot_at(
    browser: &fantoccini::Client,
    selector: &str,
    name: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser
        .execute(
            "const element = document.querySelector(arguments[0]); if (element) { element.scrollIntoView({ block: 'center' }); }",
            vec![serde_json::json!(selector)],
        )
        .await?;
    shot(browser, name).await
}

pub(crate) async fn log_in(
    browser: &fantoccini::Client,
    server: &Server,
    username: &str,
    password: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&server.url("/")).await?;
    assert_eq!(
        browser.current_url().await?.path(),
        "/login",
        "pages need a login"
    );
    fill(browser, "input[name=username]", username).await?;
    fill(browser, "input[name=password]", password).await?;
    submit(browser, "form[action='/login']").await
}

/// Runs `script` (which returns a value) until `done` accepts its result, for up to
/// `seconds`; returns the last result.
pub(crate) async fn wait_until(
    browser: &fantoccini::Client,
    script: &str,
    seconds: u64,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Result<serde_json::Value, fantoccini::error::CmdError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let value = browser.execute(script, vec![]).await?;
        if done(&value) || std::time::Instant::now() > deadline {
            return Ok(value);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL"]
async fn login_enroll_mfa_logout_login_with_totp_then_manage_a_project() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let admin_token = server.admin_token().await;
    api_post(&server, &admin_token, "/api/v1/users", serde_json::json!({ "username": "bob", "email": "bob@example.com", "password": "violet-harbour-thimble-42" })).await;
    api_post(
        &server,
        &admin_token,
        "/api/v1/orgs",
        serde_json::json!({ "name": "acme", "display_name": "Acme", "owner": "admin" }),
    )
    .await;

    let browser = browser().await;
    let outcome = async {
        // The login page, then the shell.
        log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        assert_eq!(browser.title().await?, "Home · Plinth");
        let links = browser.find_all(Locator::Css("nav.sidebar > ul a")).await?;
        let mut titles = Vec::new();
        for link in &links {
            titles.push(link.text().await?);
        }
        assert_eq!(
            titles,
            [
                "Projects",
                "Jobs",
                "Experiments",
                "Models",
                "Pipelines",
                "Workspaces",
                "Deployments",
                "Files",
                "Features",
                "Admin"
            ]
        );
        let sidebar_width = browser
            .execute(
                "return document.querySelector('nav.sidebar').getBoundingClientRect().width",
                vec![],
            )
            .await?;
        assert_eq!(
            sidebar_width.as_f64(),
            Some(220.0),
            "stylesheet not applied"
        );
        shot(&browser, "home.png").await?;

        // Enroll two-factor authentication from the shown secret.
        let element = browser.find(Locator::Css("a[href='/profile']")).await?;
        click_and_wait(&browser, element).await?;
        submit(&browser, "form[action='/profile/mfa/start']").await?;
        let secret = browser
            .find(Locator::Css("#totp-secret"))
            .await?
            .text()
            .await?;
        let totp = Totp::new(&secret, "Plinth", "admin").expect("secret from the page");
        shot(&browser, "mfa-enroll.png").await?;
        fill(
            &browser,
            "form[action='/profile/mfa/confirm'] input[name=code]",
            &totp.code_at(now_seconds()),
        )
        .await?;
        submit(&browser, "form[action='/profile/mfa/confirm']").await?;
        let codes = browser
            .find_all(Locator::Css("#recovery-codes ul.codes li"))
            .await?;
        assert_eq!(codes.len(), 10, "ten recovery codes shown");
        shot(&browser, "mfa-recovery-codes.png").await?;

        // Log out: the session really ends.
        let element = browser
            .find(Locator::Css("form[action='/logout'] button"))
            .await?;
        click_and_wait(&browser, element).await?;
        assert_eq!(browser.current_url().await?.path(), "/login");
        assert!(browser
            .find(Locator::Css(".callout.ok"))
            .await?
            .text()
            .await?
            .contains("logged out"));
        browser.goto(&server.url("/profile")).await?;
        assert_eq!(
            browser.current_url().await?.path(),
            "/login",
            "no way back in without logging in"
        );

        // Log in again: now the TOTP step is due. The next step's code is fresh (the
        // enrollment code cannot be replayed) and within the allowed clock skew.
        fill(&browser, "input[name=username]", "admin").await?;
        fill(&browser, "input[name=password]", ADMIN_PASSWORD).await?;
        submit(&browser, "form[action='/login']").await?;
        assert_eq!(browser.current_url().await?.path(), "/login/mfa");
        fill(&browser, "input[name=code]", "000000").await?;
        submit(&browser, "form[action='/login/mfa']").await?;
        assert!(browser
            .find(Locator::Css(".callout.bad"))
            .await?
            .text()
            .await?
            .contains("invalid authentication code"));
        fill(
            &browser,
            "input[name=code]",
            &totp.code_at(now_seconds() + 30),
        )
        .await?;
        submit(&browser, "form[action='/login/mfa']").await?;
        assert_eq!(
            browser.current_url().await?.path(),
            "/profile",
            "back where the login started"
        );

        // Create a project and add a member.
        browser.goto(&server.url("/projects")).await?;
        fill(&browser, "#new-project input[name=name]", "churn").await?;
        fill(
            &browser,
            "#new-project input[name=display_name]",
            "Churn model",
        )
        .await?;
        submit(&browser, "#new-project").await?;
        assert_eq!(browser.current_url().await?.path(), "/projects/acme/churn");
        fill(&browser, "#add-member input[name=username]", "bob").await?;
        browser
            .find(Locator::Css(
                "#add-member select[name=role] option[value=contributor]",
            ))
            .await?
            .click()
            .await?;
        submit(&browser, "#add-member").await?;
        let members = browser
            .find(Locator::Css("table#members"))
            .await?
            .text()
            .await?;
        assert!(
            members.contains("bob") && members.contains("contributor"),
            "{members}"
        );
        assert!(
            members.contains("admin") && members.contains("owner"),
            "{members}"
        );
        shot(&browser, "project.png").await?;

        // The status page and an unknown page.
        let element = browser.find(Locator::LinkText("Status")).await?;
        click_and_wait(&browser, element).await?;
        assert_eq!(browser.title().await?, "Status · Plinth");
        assert_eq!(
            browser
                .find(Locator::Css(".lead .badge"))
                .await?
                .text()
                .await?,
            "ready"
        );
        shot(&browser, "status.png").await?;
        browser.goto(&server.url("/no-such-page")).await?;
        assert_eq!(browser.title().await?, "404 Not Found · Plinth");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("browser steps");

    // The audit log saw it all (read with the token made before MFA was on: tokens stay valid).
    let answer = client()
        .get(server.url("/api/v1/audit?limit=500"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    let events: serde_json::Value = answer.json().await.unwrap();
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    for action in [
        "mfa.enable",
        "logout",
        "login.password",
        "login.failure",
        "project.create",
        "project.member.set",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL"]
async fn submit_a_job_watch_its_log_live_rerun_it_and_see_the_usage_chart() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let admin_token = server.admin_token().await;
    let bob_password = "violet-harbour-thimble-42";
    api_post(&server, &admin_token, "/api/v1/users", serde_json::json!({ "username": "bob", "email": "bob@example.com", "password": bob_password })).await;
    api_post(
        &server,
        &admin_token,
        "/api/v1/orgs",
        serde_json::json!({ "name": "acme", "owner": "admin" }),
    )
    .await;
    api_post(
        &server,
        &admin_token,
        "/api/v1/orgs/acme/projects",
        serde_json::json!({ "name": "churn", "display_name": "Churn model" }),
    )
    .await;
    api_put(
        &server,
        &admin_token,
        "/api/v1/orgs/acme/projects/churn/members/bob",
        serde_json::json!({ "role": "contributor" }),
    )
    .await;

    api_put(
        &server,
        &admin_token,
        "/api/v1/orgs/acme/projects/churn/quota",
        serde_json::json!({ "cpu_millis": 4000, "memory_bytes": 8u64 << 30, "max_jobs": 3 }),
    )
    .await;

    let browser = browser().await;
    let outcome = async {
        // A contributor finds Jobs from the project page and submits one through the form.
        log_in(&browser, &server, "bob", bob_password).await?;
        browser.goto(&server.url("/projects/acme/churn")).await?;
        let tab = browser
            .find(Locator::Css("nav.tabs a[href='/projects/acme/churn/jobs']"))
            .await?;
        click_and_wait(&browser, tab).await?;
        assert_eq!(browser.title().await?, "Jobs · Churn model · Plinth");
        // The list first; the form is on its own page behind "New job".
        let new_job = browser.find(Locator::Css("a#new-job-link")).await?;
        click_and_wait(&browser, new_job).await?;
        assert_eq!(browser.title().await?, "New job · Churn model · Plinth");
        browser
            .find(Locator::Css("#new-job select[name=class] option[value=small]"))
            .await?
            .click()
            .await?;
        fill(
            &browser,
            "#new-job input[name=command]",
            "sh -c 'echo step-1; sleep 2; echo done-2'",
        )
        .await?;
        fill(&browser, "#new-job textarea[name=env]", "GREETING=hello").await?;
        shot(&browser, "jobs-form.png").await?;
        submit(&browser, "#new-job").await?;
        let first_job = browser.current_url().await?.path().to_string();
        assert!(
            first_job.starts_with("/projects/acme/churn/jobs/"),
            "landed on {first_job}"
        );

        // The output streams in without a reload, and the state follows.
        let loaded = browser
            .execute(
                "window.__plinthSamePage = true; return document.getElementById('job-log').textContent;",
                vec![],
            )
            .await?;
        assert!(
            !loaded.as_str().unwrap_or_default().contains("done-2"),
            "the job was still sleeping when its page loaded: {loaded}"
        );
        let seen = wait_until(
            &browser,
            "return [window.__plinthSamePage === true, document.getElementById('job-log').textContent];",
            30,
            |value| value[1].as_str().is_some_and(|text| text.contains("done-2")),
        )
        .await?;
        assert_eq!(seen[0], true, "the page was not reloaded");
        let text = seen[1].as_str().unwrap_or_default();
        assert!(
            text.contains("step-1\ndone-2"),
            "the log streamed in order: {text:?}"
        );
        let state = wait_until(
            &browser,
            "return [window.__plinthSamePage === true, document.getElementById('job-state').textContent, document.getElementById('job-exit-code').textContent, document.getElementById('stop-form') === null || document.getElementById('stop-form').hidden];",
            30,
            |value| value[1] == "succeeded",
        )
        .await?;
        assert_eq!(
            state,
            serde_json::json!([true, "succeeded", "0", true]),
            "the state badge, exit code and stop button follow the job without a reload"
        );
        assert!(browser
            .find(Locator::Css("#job-state.state-succeeded"))
            .await
            .is_ok());
        shot(&browser, "job-page.png").await?;
        shot_at(&browser, "#job-log", "job-live-log.png").await?;

        // Re-run: a new job page for the same command.
        let rerun = browser
            .find(Locator::Css("#rerun-form button[type=submit]"))
            .await?;
        click_and_wait(&browser, rerun).await?;
        let second_job = browser.current_url().await?.path().to_string();
        assert!(second_job.starts_with("/projects/acme/churn/jobs/"));
        assert_ne!(second_job, first_job, "re-run lands on a new job");
        let command = browser
            .find(Locator::Css("#job-command"))
            .await?
            .text()
            .await?;
        assert_eq!(command, "sh -c 'echo step-1; sleep 2; echo done-2'");
        wait_until(
            &browser,
            "return document.getElementById('job-log').textContent;",
            30,
            |value| value.as_str().is_some_and(|text| text.contains("done-2")),
        )
        .await?;
        browser
            .goto(&server.url("/projects/acme/churn/jobs"))
            .await?;
        let rows = browser.find_all(Locator::Css("table#jobs tbody tr")).await?;
        assert_eq!(rows.len(), 2, "both jobs listed");
        shot_at(&browser, "table#jobs", "jobs-list.png").await?;

        // A longer output: the page shows its last 2000 lines, and the script reads that tail
        // again and follows it (no offset to resume from), without showing anything twice.
        browser
            .goto(&server.url("/projects/acme/churn/jobs/new"))
            .await?;
        browser
            .find(Locator::Css("#new-job select[name=class] option[value=small]"))
            .await?
            .click()
            .await?;
        fill(
            &browser,
            "#new-job input[name=command]",
            "sh -c 'seq 1 2500; sleep 4; echo tail-done'",
        )
        .await?;
        submit(&browser, "#new-job").await?;
        // The page loaded at once may come before the job's first line (it starts in its
        // sandbox meanwhile): look again once the 2500 lines are surely there.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let job_page = browser.current_url().await?;
        browser.goto(job_page.as_str()).await?;
        let long = wait_until(
            &browser,
            "return [document.getElementById('job-log').dataset.offset === undefined, document.getElementById('job-log').textContent];",
            30,
            |value| value[1].as_str().is_some_and(|text| text.contains("tail-done")),
        )
        .await?;
        assert_eq!(long[0], true, "the page showed a cut tail");
        let text = long[1].as_str().unwrap_or_default();
        assert!(text.starts_with("501\n502\n"), "{}", &text[..text.len().min(40)]);
        assert_eq!(text.matches("\n2500\n").count(), 1, "nothing shown twice");
        assert!(text.ends_with("2500\ntail-done\n"), "{text:?}");

        // The usage page draws the first job's CPU time (written when it ended).
        let mut chart = None;
        for _ in 0..50 {
            browser
                .goto(&server.url("/projects/acme/churn/usage"))
                .await?;
            if let Ok(found) = browser.find(Locator::Css("svg.usage-chart")).await {
                chart = Some(found);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let chart = chart.expect("the usage chart appears once a job has run");
        let bars = chart.find_all(Locator::Css("rect.bar")).await?;
        assert!(!bars.is_empty(), "the chart has bars");
        let legend = browser.find(Locator::Css("ul.legend")).await?.text().await?;
        assert!(legend.contains("bob"), "{legend}");
        assert!(browser
            .find(Locator::Css("a#usage-csv[href*='format=csv']"))
            .await
            .is_ok());
        shot(&browser, "quota.png").await?;
        shot_at(&browser, "svg.usage-chart", "usage.png").await?;

        // The admin's side: pools, classes and the platform's usage.
        let logout = browser
            .find(Locator::Css("form[action='/logout'] button"))
            .await?;
        click_and_wait(&browser, logout).await?;
        log_in(&browser, &server, "admin", ADMIN_PASSWORD).await?;
        for (path, at, name) in [
            ("/admin/pools", "h1", "admin-pools.png"),
            ("/admin/classes", "h1", "admin-classes.png"),
            ("/admin/usage", "svg.usage-chart", "admin-usage.png"),
            ("/projects/acme/churn/usage", "#set-quota", "quota-admin.png"),
            ("/status", "#runtime", "status-runtime.png"),
        ] {
            browser.goto(&server.url(path)).await?;
            assert!(
                !browser.title().await?.starts_with('4'),
                "{path} answered an error page"
            );
            shot_at(&browser, at, name).await?;
        }
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("browser steps");
}

/// Logs two runs with the real mlflow client (`tests/mlflow/ui_runs.py`) through a
/// personal token and the project's tracking URI; returns what it printed.
fn log_runs_with_mlflow(server: &Server, token: &str) -> serde_json::Value {
    let python = crate::mlflow::venv_python();
    let scratch = workdir();
    let output = std::process::Command::new(&python)
        .arg(crate::mlflow::scripts_dir().join("ui_runs.py"))
        .current_dir(scratch.path())
        .env("MLFLOW_TRACKING_URI", server.url("/projects/acme/vision"))
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("PYTHONPATH", crate::mlflow::scripts_dir())
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("GIT_PYTHON_REFRESH", "quiet")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ui_runs.py failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("ui_runs.py printed no ids ({error}): {stdout}"))
}

/// Returns the text of the first element matching `selector`.
pub(crate) async fn text_of(
    browser: &fantoccini::Client,
    selector: &str,
) -> Result<String, fantoccini::error::CmdError> {
    browser.find(Locator::Css(selector)).await?.text().await
}

#[tokio::test]
#[ignore = "needs PLINTH_TEST_WEBDRIVER_URL and the test venv (scripts/test)"]
async fn runs_logged_with_mlflow_are_filtered_charted_previewed_and_compared() {
    let dir = workdir();
    let server = Server::start(dir.path(), &[], &[]);
    let admin_token = server.admin_token().await;
    let password = "violet-harbour-thimble-42";
    api_post(&server, &admin_token, "/api/v1/users", serde_json::json!({ "username": "dana", "email": "dana@example.com", "password": password })).await;
    api_post(
        &server,
        &admin_token,
        "/api/v1/orgs",
        serde_json::json!({ "name": "acme", "owner": "dana" }),
    )
    .await;
    let login = client()
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": "dana", "password": password }))
        .send()
        .await
        .expect("login");
    let token = login
        .json::<serde_json::Value>()
        .await
        .expect("login answer")["token"]
        .as_str()
        .expect("token")
        .to_string();
    api_post(
        &server,
        &token,
        "/api/v1/orgs/acme/projects",
        serde_json::json!({ "name": "vision", "display_name": "Vision" }),
    )
    .await;
    let logged = log_runs_with_mlflow(&server, &token);
    let experiment_id = logged["experiment_id"].as_str().expect("experiment id");
    let good = logged["good"].as_str().expect("good run");
    let bad = logged["bad"].as_str().expect("bad run");

    let browser = browser().await;
    let outcome = async {
        log_in(&browser, &server, "dana", password).await?;
        // The project's Experiments tab lists the experiment with its two runs.
        browser.goto(&server.url("/projects/acme/vision")).await?;
        let tab = browser
            .find(Locator::Css("nav.tabs a[href='/projects/acme/vision/experiments']"))
            .await?;
        click_and_wait(&browser, tab).await?;
        let experiments = text_of(&browser, "table#experiments").await?;
        assert!(experiments.contains("ui-browser") && experiments.contains("team=vision"), "{experiments}");
        let link = browser.find(Locator::LinkText("ui-browser")).await?;
        click_and_wait(&browser, link).await?;
        assert_eq!(
            browser.current_url().await?.path(),
            format!("/projects/acme/vision/experiments/{experiment_id}")
        );
        assert_eq!(browser.find_all(Locator::Css("table#runs tbody tr")).await?.len(), 2);

        // A filter in MLflow's grammar finds the good run only.
        fill(&browser, "#run-filter input[name=filter]", "metrics.loss < 0.5").await?;
        submit(&browser, "#run-filter").await?;
        let rows = browser.find_all(Locator::Css("table#runs tbody tr")).await?;
        assert_eq!(rows.len(), 1, "one run below 0.5");
        assert_eq!(rows[0].attr("data-run").await?.as_deref(), Some(good));
        shot(&browser, "runs-filtered.png").await?;
        // A broken filter shows MLflow's message, not a server error.
        fill(&browser, "#run-filter input[name=filter]", "metrics.loss <<< 1").await?;
        submit(&browser, "#run-filter").await?;
        assert!(text_of(&browser, ".callout.bad").await?.contains("Invalid"));

        // The run page: the loss chart is drawn by the script from the downsampled data.
        browser
            .goto(&server.url(&format!("/projects/acme/vision/runs/{good}")))
            .await?;
        assert!(text_of(&browser, "table#params").await?.contains("0.01"));
        let drawn = wait_until(
            &browser,
            "const f = document.querySelector(\"figure[data-key='loss']\"); \
             return f && f.dataset.drawn === 'line' && !f.dataset.loading ? [Number(f.dataset.points), f.dataset.axis, f.plinthPlot.series.length] : null;",
            20,
            |value| value.is_array(),
        )
        .await?;
        assert_eq!(drawn[0], 300, "every one of the 300 steps is its own bucket: {drawn}");
        assert_eq!(drawn[1], "step");
        assert_eq!(drawn[2], 2, "the x series and the run's: {drawn}");
        assert!(
            browser.find(Locator::Css("#chart-controls")).await?.attr("hidden").await?.is_none(),
            "the script shows the controls"
        );
        // Hovering shows the exact value under the pointer in the legend.
        let layer = browser
            .find(Locator::Css("figure[data-key='loss'] .u-over"))
            .await?;
        browser
            .perform_actions(MouseActions::new("mouse".to_string()).then(
                PointerAction::MoveToElement {
                    element: layer.clone(),
                    duration: None,
                    x: 0.0,
                    y: 0.0,
                },
            ))
            .await?;
        let tip = wait_until(
            &browser,
            "const row = document.querySelectorAll(\"figure[data-key='loss'] .u-legend .u-series\")[1]; \
             const value = row && row.querySelector('.u-value').textContent; \
             return value && value !== '—' ? row.textContent : null;",
            5,
            |value| value.is_string(),
        )
        .await?;
        assert!(tip.as_str().unwrap_or_default().contains("good-run"), "{tip}");
        shot_at(&browser, "figure[data-key='loss']", "run-chart.png").await?;
        // Zoom into steps 100-149 with the inputs: the chart reloads that range.
        fill(&browser, "#min-step", "100").await?;
        fill(&browser, "#max-step", "149").await?;
        browser.find(Locator::Css("#zoom-apply")).await?.click().await?;
        let zoomed = wait_until(
            &browser,
            "const f = document.querySelector(\"figure[data-key='loss']\"); return f.dataset.loading ? 0 : Number(f.dataset.points);",
            10,
            |value| value.as_u64() == Some(50),
        )
        .await?;
        assert_eq!(zoomed, 50, "50 steps in the zoomed range");
        // Switch the x axis to time.
        browser
            .find(Locator::Css("#chart-controls input[name=axis][value=time]"))
            .await?
            .click()
            .await?;
        let axis = wait_until(
            &browser,
            "return document.querySelector(\"figure[data-key='loss']\").dataset.axis;",
            5,
            |value| value == "time",
        )
        .await?;
        assert_eq!(axis, "time");
        shot_at(&browser, "figure[data-key='loss']", "run-chart-time.png").await?;

        // The artifacts browser: the text preview (escaped), the image, the CSV table.
        let link = browser.find(Locator::Css("#browse-artifacts")).await?;
        click_and_wait(&browser, link).await?;
        let notes = browser.find(Locator::Css("a.file[href$='good-run-notes.txt']")).await?;
        click_and_wait(&browser, notes).await?;
        let text = text_of(&browser, "#preview-text").await?;
        assert!(text.contains("<b>not bold</b> & plain text"), "shown as text: {text}");
        let folder = browser.find(Locator::Css("a.dir[href$='path=plots']")).await?;
        click_and_wait(&browser, folder).await?;
        let image = browser.find(Locator::Css("a.file[href$='curve.png']")).await?;
        click_and_wait(&browser, image).await?;
        let size = wait_until(
            &browser,
            "const img = document.getElementById('preview-image'); return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null;",
            10,
            |value| value.is_array(),
        )
        .await?;
        assert_eq!(size, serde_json::json!([48, 32]), "the PNG loaded");
        shot(&browser, "artifact-image.png").await?;
        browser
            .goto(&server.url(&format!(
                "/projects/acme/vision/runs/{good}/artifacts?file=data/predictions.csv"
            )))
            .await?;
        let cells = browser.find_all(Locator::Css("#preview-csv tbody tr")).await?;
        assert_eq!(cells.len(), 30);
        assert_eq!(text_of(&browser, "#preview-csv thead").await?, "id label score");
        assert!(text_of(&browser, "#preview-csv tbody").await?.contains("class, 1"));
        shot(&browser, "artifact-csv.png").await?;

        // Compare the two runs: pick both in the runs table.
        browser
            .goto(&server.url(&format!("/projects/acme/vision/experiments/{experiment_id}")))
            .await?;
        for run in [good, bad] {
            browser
                .find(Locator::Css(&format!("input[name=runs][value='{run}']")))
                .await?
                .click()
                .await?;
        }
        let compare = browser.find(Locator::Css("#compare-button")).await?;
        click_and_wait(&browser, compare).await?;
        assert_eq!(browser.title().await?, "Compare 2 runs · Vision · Plinth");
        let differs = text_of(&browser, "#param-diff tr.differs").await?;
        assert!(differs.contains("lr") && differs.contains("0.01") && differs.contains("0.5"), "{differs}");
        let overlaid = wait_until(
            &browser,
            "const f = document.querySelector(\"figure[data-key='loss']\"); f.scrollIntoView(); \
             return f.dataset.drawn === 'line' ? f.plinthPlot.series.length - 1 : 0;",
            20,
            |value| value.as_u64() == Some(2),
        )
        .await?;
        assert_eq!(overlaid, 2, "one line per run");
        shot_at(&browser, "figure[data-key='loss']", "compare.png").await?;

        // The registry: the project's models, the model with its alias and stage, the
        // version's lineage back to the run.
        browser
            .goto(&server.url("/projects/acme/vision/models"))
            .await?;
        let model = browser
            .find(Locator::Css("#models a[href$='/models/vision-model']"))
            .await?;
        click_and_wait(&browser, model).await?;
        let versions = text_of(&browser, "#version-list").await?;
        assert!(versions.contains("@champion") && versions.contains("Staging"), "{versions}");
        let version = browser
            .find(Locator::Css("#version-list a[href$='/versions/1']"))
            .await?;
        click_and_wait(&browser, version).await?;
        shot(&browser, "model-version.png").await?;
        let lineage = browser.find(Locator::Css("#lineage-run")).await?;
        assert_eq!(lineage.text().await?, "good-run");
        click_and_wait(&browser, lineage).await?;
        let url = browser.current_url().await?;
        assert!(url.path().ends_with(&format!("/runs/{good}")), "{url}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.expect("close browser");
    outcome.expect("browser steps");
}
