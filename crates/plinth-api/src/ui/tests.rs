//! Router tests of the runtime pages: the job form (shell-like splitting, environment lines,
//! errors shown again with nothing created), the job page and its live-log hooks, stop and
//! re-run, the quota form, the usage chart after a real job, and the admin forms.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::authz_tests::{world, PASSWORD};
use crate::tests::{
    app, browser_login, get_as, json_request, page_as, send, Answer, TestApp, ADMIN_PASSWORD,
};

const JOBS: &str = "/projects/acme/churn/jobs";
const API_JOBS: &str = "/api/v1/orgs/acme/projects/churn/jobs";

pub(crate) fn form(uri: &str, cookie: &str, csrf: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    fields.push(("_csrf", csrf));
    Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(&fields).unwrap()))
        .unwrap()
}

async fn job_ids(app: &TestApp) -> Vec<String> {
    let page = send(&app.router, get_as(API_JOBS, &app.admin_token))
        .await
        .json();
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_string())
        .collect()
}

async fn api_job(app: &TestApp, id: &str) -> Value {
    send(
        &app.router,
        get_as(&format!("{API_JOBS}/{id}"), &app.admin_token),
    )
    .await
    .json()
}

fn job_id_of(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.header("location");
    location
        .strip_prefix(&format!("{JOBS}/"))
        .unwrap_or_else(|| panic!("not a job page: {location}"))
        .to_string()
}

#[tokio::test]
async fn the_job_form_splits_the_command_like_a_shell_and_reads_env_lines() {
    let world = world().await;
    let app = &world.app;
    let (cookie, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    let list = send(&app.router, page_as(JOBS, &cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("id=\"new-job-link\"") && !list.body.contains("id=\"new-job\""),
        "the list leads contributors to the form on its own page"
    );
    let new_page = send(&app.router, page_as(&format!("{JOBS}/new"), &cookie)).await;
    assert_eq!(new_page.status, StatusCode::OK);
    assert!(
        new_page.body.contains("id=\"new-job\""),
        "contributors get the form"
    );
    assert!(list.body.contains("badge state-queued"), "{}", list.body);
    assert!(list
        .body
        .contains("waiting for quota: running jobs: 0 of 0"));

    let answer = send(
        &app.router,
        form(
            JOBS,
            &cookie,
            &csrf,
            &[
                ("class", "medium"),
                ("name", ""),
                ("command", r#"sh -c 'echo "a b"; exit 3' --flag="x y""#),
                (
                    "env",
                    "A=1\r\n# comment\r\n B = two words \r\nURL=http://x/?a=b\r\n",
                ),
            ],
        ),
    )
    .await;
    let id = job_id_of(&answer);
    let job = api_job(app, &id).await;
    assert_eq!(
        job["spec"]["command"],
        json!(["sh", "-c", "echo \"a b\"; exit 3", "--flag=x y"])
    );
    assert_eq!(
        job["spec"]["env"],
        json!({ "A": "1", "B": "two words", "URL": "http://x/?a=b" })
    );
    assert_eq!(job["class"], "medium");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["created_by_username"], "carl");

    let page = send(&app.router, page_as(&format!("{JOBS}/{id}"), &cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "id=\"job-state\" class=\"badge state-queued\"",
        "2 CPU, 8 GiB",
        "two words",
        "id=\"rerun-form\"",
        "id=\"stop-form\"",
        "data-finished=\"false\"",
        "data-offset=\"0\"",
        &format!("data-logs=\"{API_JOBS}/{id}/logs\""),
        "<script src=\"/assets/job.js\" defer",
        "Remove from queue",
    ] {
        assert!(
            page.body.contains(needle),
            "{needle} missing: {}",
            page.body
        );
    }
    // The command reads back as one shell line.
    let command = page.body.split("id=\"job-command\"").nth(1).unwrap();
    assert!(
        command.starts_with("><code>sh -c 'echo &quot;a b&quot;; exit 3' '--flag=x y'</code>"),
        "{command}"
    );

    // Viewers see jobs but no form and no buttons.
    let (vera, _) = browser_login(&app.router, "vera", PASSWORD).await;
    let list = send(&app.router, page_as(JOBS, &vera)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("id=\"new-job\"") && !list.body.contains("id=\"new-job-link\""));
    assert!(list.body.contains(&id));
    let new_page = send(&app.router, page_as(&format!("{JOBS}/new"), &vera)).await;
    assert_eq!(new_page.status, StatusCode::OK);
    assert!(
        !new_page.body.contains("id=\"new-job\""),
        "no form for viewers"
    );
    assert!(new_page.body.contains("needs the contributor role"));
    let page = send(&app.router, page_as(&format!("{JOBS}/{id}"), &vera)).await;
    assert!(!page.body.contains("rerun-form") && !page.body.contains("stop-form"));
}

#[tokio::test]
async fn bad_job_forms_come_back_with_the_message_and_create_nothing() {
    let world = world().await;
    let app = &world.app;
    let (cookie, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    let before = job_ids(app).await;
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("class", "nope"), ("command", "python train.py")],
            "there is no resource class `nope`; choose one of",
        ),
        (
            &[("class", "small"), ("command", "   ")],
            "invalid `command`: must name a program",
        ),
        (
            &[("class", "small"), ("command", "echo 'open")],
            "invalid `command`: missing closing quote",
        ),
        (
            &[
                ("class", "small"),
                ("command", "python train.py"),
                ("env", "A=1\nNOT A LINE"),
            ],
            "invalid `env`: line 2: `NOT A LINE` is not `NAME=value`",
        ),
        (
            &[
                ("class", "small"),
                ("command", "python train.py"),
                ("env", "1X=y"),
            ],
            "invalid `env`: `1X` is not a variable name",
        ),
        (
            &[
                ("class", "small"),
                ("command", "python train.py"),
                ("env", "PLINTH_TOKEN=x"),
            ],
            "invalid `env`: `PLINTH_TOKEN` is set by Plinth",
        ),
    ];
    for (fields, message) in cases {
        let answer = send(&app.router, form(JOBS, &cookie, &csrf, fields)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{message}");
        assert!(
            answer.body.contains("id=\"submit-error\"") && answer.body.contains(message),
            "{message} not shown: {}",
            answer.body
        );
        // What was typed is still there.
        let command = fields
            .iter()
            .find(|(name, _)| *name == "command")
            .map(|(_, value)| *value)
            .unwrap();
        let typed = maud::html! { input value=(command); }.into_string();
        let value = typed.split("value=").nth(1).unwrap().trim_end_matches('>');
        assert!(answer.body.contains(value), "{value} not kept");
    }
    assert_eq!(job_ids(app).await, before, "nothing was created");

    // A viewer's post is refused by the service and creates nothing either.
    let (vera, vera_csrf) = browser_login(&app.router, "vera", PASSWORD).await;
    let answer = send(
        &app.router,
        form(
            JOBS,
            &vera,
            &vera_csrf,
            &[("class", "small"), ("command", "true")],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.body.contains("needs the `contributor` role"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("id=\"new-job\""));
    assert_eq!(job_ids(app).await, before);
}

#[tokio::test]
async fn rerun_and_stop_from_the_job_page() {
    let world = world().await;
    let app = &world.app;
    let (cookie, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    let original = &world.job_id;
    let answer = send(
        &app.router,
        form(&format!("{JOBS}/{original}/rerun"), &cookie, &csrf, &[]),
    )
    .await;
    let rerun = job_id_of(&answer);
    assert_ne!(&rerun, original);
    let job = api_job(app, &rerun).await;
    assert_eq!(job["rerun_of"], original.as_str());
    let page = send(&app.router, page_as(&format!("{JOBS}/{rerun}"), &cookie)).await;
    assert!(page.body.contains(&format!("href=\"{JOBS}/{original}\"")));

    // A viewer may not stop it; a contributor may.
    let (vera, vera_csrf) = browser_login(&app.router, "vera", PASSWORD).await;
    let refused = send(
        &app.router,
        form(&format!("{JOBS}/{rerun}/stop"), &vera, &vera_csrf, &[]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.header("location").contains("error=needs%20the"));
    let stopped = send(
        &app.router,
        form(&format!("{JOBS}/{rerun}/stop"), &cookie, &csrf, &[]),
    )
    .await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER);
    assert!(stopped.header("location").contains("ok="));
    assert_eq!(api_job(app, &rerun).await["state"], "stopped");
    let page = send(&app.router, page_as(&format!("{JOBS}/{rerun}"), &cookie)).await;
    assert!(page.body.contains("badge state-stopped"));
    assert!(page.body.contains("data-finished=\"true\""));
    assert!(
        !page.body.contains("stop-form"),
        "no stop button once finished"
    );
    // Unknown jobs and other projects' jobs are 404.
    let missing = send(&app.router, page_as(&format!("{JOBS}/nope"), &cookie)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let (oscar, _) = browser_login(&app.router, "oscar", PASSWORD).await;
    let hidden = send(&app.router, page_as(&format!("{JOBS}/{rerun}"), &oscar)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let elsewhere = send(
        &app.router,
        page_as(&format!("/projects/globex/ads/jobs/{rerun}"), &oscar),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

/// Runs the reconciler until the job has finished; returns its record.
async fn wait_finished(app: &TestApp, api_path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        app.state.runtime().reconcile_once().await.unwrap();
        let job = send(&app.router, get_as(api_path, &app.admin_token))
            .await
            .json();
        let state = job["state"].as_str().unwrap();
        if ["succeeded", "failed", "stopped", "lost"].contains(&state) {
            return job;
        }
        assert!(Instant::now() < deadline, "job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_real_job_shows_its_output_and_its_usage_in_the_chart() {
    let app = app().await;
    let admin = app.admin_token.clone();
    for (uri, body) in [
        ("/api/v1/orgs", json!({ "name": "acme" })),
        ("/api/v1/orgs/acme/projects", json!({ "name": "churn" })),
    ] {
        let answer = send(&app.router, json_request("POST", uri, Some(&admin), &body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    let usage = send(&app.router, page_as("/projects/acme/churn/usage", &cookie)).await;
    assert_eq!(usage.status, StatusCode::OK);
    assert!(usage.body.contains("id=\"no-usage\"") && !usage.body.contains("usage-chart"));

    let answer = send(
        &app.router,
        form(
            JOBS,
            &cookie,
            &csrf,
            &[
                ("class", "small"),
                (
                    "command",
                    "sh -c 'echo step-1; sleep 1; echo \"done-$STEP\"'",
                ),
                ("env", "STEP=2"),
            ],
        ),
    )
    .await;
    let id = job_id_of(&answer);
    let job = wait_finished(&app, &format!("{API_JOBS}/{id}")).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    let page = send(&app.router, page_as(&format!("{JOBS}/{id}"), &cookie)).await;
    assert!(
        page.body.contains("step-1\ndone-2\n"),
        "output shown: {}",
        page.body
    );
    assert!(page.body.contains("data-finished=\"true\""));
    assert!(page.body.contains("data-offset=\"14\""), "{}", page.body);
    assert!(page.body.contains("id=\"job-exit-code\">0<"));

    let usage = send(&app.router, page_as("/projects/acme/churn/usage", &cookie)).await;
    assert_eq!(usage.status, StatusCode::OK);
    for needle in [
        "<svg class=\"chart usage-chart\"",
        "<rect class=\"bar series-0\"",
        "<span class=\"swatch series-0\"></span>admin",
        "id=\"usage\"",
        "/api/v1/orgs/acme/projects/churn/usage?format=csv&amp;from=",
    ] {
        assert!(
            usage.body.contains(needle),
            "{needle} missing: {}",
            usage.body
        );
    }
    let by_class = send(
        &app.router,
        page_as("/projects/acme/churn/usage?by=class", &cookie),
    )
    .await;
    assert!(by_class
        .body
        .contains("<span class=\"swatch series-0\"></span>small"));
    // The platform page draws it too, split by project.
    let platform = send(&app.router, page_as("/admin/usage", &cookie)).await;
    assert_eq!(platform.status, StatusCode::OK);
    assert!(platform.body.contains("<rect class=\"bar series-0\""));
    assert!(platform
        .body
        .contains("<span class=\"swatch series-0\"></span>acme/churn"));
    assert!(platform.body.contains("/api/v1/usage?format=csv&amp;from="));
    // A range without usage, and a bad date, say so.
    let empty = send(
        &app.router,
        page_as(
            "/projects/acme/churn/usage?from=2020-01-01&to=2020-01-31",
            &cookie,
        ),
    )
    .await;
    assert!(empty.body.contains("id=\"no-usage\""));
    let bad = send(
        &app.router,
        page_as("/projects/acme/churn/usage?from=yesterday", &cookie),
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad
        .body
        .contains("invalid `from`: `yesterday` is not a date like"));
}

#[tokio::test]
async fn the_quota_form_sets_limits_and_blank_means_unlimited() {
    let world = world().await;
    let app = &world.app;
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    let answer = send(
        &app.router,
        form(
            "/projects/acme/churn/quota",
            &cookie,
            &csrf,
            &[
                ("cpu", "4"),
                ("memory_gib", "8"),
                ("gpus", ""),
                ("max_jobs", "2"),
                ("max_workspaces", ""),
                ("max_deployments", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let quota = send(
        &app.router,
        get_as("/api/v1/orgs/acme/projects/churn/quota", &app.admin_token),
    )
    .await
    .json();
    assert_eq!(
        quota["quota"],
        json!({ "cpu_millis": 4000, "memory_bytes": 8u64 << 30, "gpus": null, "max_jobs": 2,
                "max_workspaces": null, "max_deployments": 1, "allow_custom_sizes": false })
    );
    let bad = send(
        &app.router,
        form(
            "/projects/acme/churn/quota",
            &cookie,
            &csrf,
            &[("cpu", "many"), ("max_jobs", "7")],
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad
        .body
        .contains("invalid `cpu`: `many` is not a number of cores"));
    assert!(
        bad.body.contains("value=\"7\""),
        "the form keeps what was typed"
    );

    // Any member sees the quota next to the use; only admins get the form.
    let (vera, _) = browser_login(&app.router, "vera", PASSWORD).await;
    let page = send(&app.router, page_as("/projects/acme/churn/usage", &vera)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"quota\""));
    assert!(page.body.contains("4 cores") && page.body.contains("8 GiB"));
    assert!(page.body.contains("unlimited"));
    assert!(page.body.contains("1 queued"));
    assert!(!page.body.contains("quota-form"));
}

#[tokio::test]
async fn admins_manage_pools_and_classes_from_forms() {
    let app = app().await;
    let (cookie, csrf) = browser_login(&app.router, "admin", ADMIN_PASSWORD).await;
    let created = send(
        &app.router,
        form(
            "/admin/pools",
            &cookie,
            &csrf,
            &[
                ("name", "fpga"),
                ("description", "FPGA boards"),
                ("labels", "plinth.dev/pool=fpga\nzone=a"),
                ("taints", "plinth.dev/pool=fpga:NoSchedule"),
            ],
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let pools = send(&app.router, page_as("/admin/pools", &cookie)).await;
    assert!(pools.body.contains("plinth.dev/pool=fpga:NoSchedule"));
    assert!(pools.body.contains("zone=a"));
    let again = send(
        &app.router,
        form("/admin/pools", &cookie, &csrf, &[("name", "fpga")]),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("node pool `fpga` already exists"));
    let bad = send(
        &app.router,
        form(
            "/admin/pools/fpga",
            &cookie,
            &csrf,
            &[("taints", "plinth.dev/pool=fpga:Sometimes")],
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("effect `Sometimes` must be one of"));
    assert!(bad.body.contains("plinth.dev/pool=fpga:Sometimes"), "kept");

    let class = send(
        &app.router,
        form(
            "/admin/classes",
            &cookie,
            &csrf,
            &[
                ("name", "fpga-1"),
                ("pool", "fpga"),
                ("cpu", "0.5"),
                ("memory_gib", "1.5"),
                ("gpus", ""),
            ],
        ),
    )
    .await;
    assert_eq!(class.status, StatusCode::SEE_OTHER, "{}", class.body);
    let classes = send(&app.router, get_as("/api/v1/classes", &app.admin_token))
        .await
        .json();
    let fpga = classes
        .as_array()
        .unwrap()
        .iter()
        .find(|class| class["name"] == "fpga-1")
        .unwrap()
        .clone();
    assert_eq!(fpga["cpu_millis"], 500);
    assert_eq!(fpga["memory_bytes"], 3u64 << 29);
    let page = send(&app.router, page_as("/admin/classes/fpga-1", &cookie)).await;
    assert!(page.body.contains("0.5 CPU, 1.5 GiB"));

    // The pool is in use: deleting it shows the service's Conflict message.
    let refused = send(
        &app.router,
        form("/admin/pools/fpga/delete", &cookie, &csrf, &[]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let location = refused.header("location").to_string();
    assert!(
        location.starts_with("/admin/pools/fpga?error="),
        "{location}"
    );
    let shown = send(&app.router, page_as(&location, &cookie)).await;
    assert!(
        shown
            .body
            .contains("node pool `fpga` is used by the classes"),
        "{}",
        shown.body
    );
    let edit = send(
        &app.router,
        form(
            "/admin/classes/fpga-1",
            &cookie,
            &csrf,
            &[
                ("pool", "fpga"),
                ("cpu", "1"),
                ("memory_gib", "2"),
                ("gpus", "0"),
            ],
        ),
    )
    .await;
    assert_eq!(edit.status, StatusCode::SEE_OTHER);
    for uri in ["/admin/classes/fpga-1/delete", "/admin/pools/fpga/delete"] {
        let answer = send(&app.router, form(uri, &cookie, &csrf, &[])).await;
        assert!(answer.header("location").contains("ok="), "{uri}");
    }
    let gone = send(&app.router, page_as("/admin/pools/fpga", &cookie)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_status_page_and_navigation_lead_to_the_runtime() {
    let world = world().await;
    let app = &world.app;
    let (cookie, _) = browser_login(&app.router, "carl", PASSWORD).await;
    let status = send(&app.router, page_as("/status", &cookie)).await;
    assert!(status.body.contains("Workload runtime"));
    assert!(status.body.contains("<code>local</code>"));
    // The test runtime runs workloads unsandboxed: the status page says so, mechanism by
    // mechanism, and every job page warns.
    assert!(status.body.contains("id=\"isolation-mechanisms\""));
    assert!(
        status.body.contains("runtime.local.isolation"),
        "{}",
        status.body
    );
    let jobs = send(&app.router, page_as("/jobs", &cookie)).await;
    assert_eq!(jobs.status, StatusCode::OK);
    assert!(jobs.body.contains("id=\"isolation-warning\""));
    let project_jobs = send(&app.router, page_as(JOBS, &cookie)).await;
    assert!(
        project_jobs.body.contains("not fully sandboxed"),
        "{}",
        project_jobs.body
    );
    assert!(jobs.body.contains(&format!("href=\"{JOBS}\"")));
    let project = send(&app.router, page_as("/projects/acme/churn", &cookie)).await;
    assert!(project.body.contains(&format!("href=\"{JOBS}\"")));
    assert!(project.body.contains("href=\"/projects/acme/churn/usage\""));
    let (oscar, _) = browser_login(&app.router, "oscar", PASSWORD).await;
    let jobs = send(&app.router, page_as("/jobs", &oscar)).await;
    assert!(
        !jobs.body.contains("acme"),
        "outsiders see only their projects"
    );
    assert!(jobs.body.contains("/projects/globex/ads/jobs"));
}

#[tokio::test]
async fn long_output_shows_its_tail_and_leaves_the_offset_to_the_script() {
    let world = world().await;
    let app = &world.app;
    // Let jobs run in this project.
    let answer = send(
        &app.router,
        json_request(
            "PUT",
            "/api/v1/orgs/acme/projects/churn/quota",
            Some(&app.admin_token),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (cookie, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    let answer = send(
        &app.router,
        form(
            JOBS,
            &cookie,
            &csrf,
            &[("class", "small"), ("command", "seq 1 2500")],
        ),
    )
    .await;
    let id = job_id_of(&answer);
    let job = wait_finished(app, &format!("{API_JOBS}/{id}")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let page = send(&app.router, page_as(&format!("{JOBS}/{id}"), &cookie)).await;
    let log = page.body.split("id=\"job-log\"").nth(1).unwrap();
    assert!(
        !log.contains("data-offset"),
        "a cut tail has no offset: {log}"
    );
    let text = log.split_once('>').unwrap().1;
    assert!(text.starts_with("501\n502\n"), "{}", &text[..40]);
    assert!(text.contains("\n2500\n</pre>"));
    assert!(page.body.contains("(the last 2000 lines)"));
}

#[tokio::test]
async fn the_job_list_filters_by_state_and_pages_to_older_jobs() {
    let world = world().await;
    let app = &world.app;
    let carl = world.tokens[2].clone().unwrap();
    for n in 0..50 {
        let answer = send(
            &app.router,
            json_request(
                "POST",
                API_JOBS,
                Some(&carl),
                &json!({ "class": "small", "command": ["echo", n.to_string()], "name": format!("job-{n:02}") }),
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let (cookie, csrf) = browser_login(&app.router, "carl", PASSWORD).await;
    // Stop the oldest so there is a finished job to filter for.
    let stopped = send(
        &app.router,
        form(
            &format!("{JOBS}/{}/stop", world.job_id),
            &cookie,
            &csrf,
            &[],
        ),
    )
    .await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER);

    let first = send(&app.router, page_as(JOBS, &cookie)).await;
    assert_eq!(
        first
            .body
            .matches("<tr><td><span class=\"badge state-")
            .count(),
        50
    );
    assert!(first.body.contains(">job-49<") && !first.body.contains(">sh -c<"));
    let older = first
        .body
        .split("id=\"older-jobs\" href=\"")
        .nth(1)
        .expect("an older-jobs link")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = send(&app.router, page_as(&older, &cookie)).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        second
            .body
            .matches("<tr><td><span class=\"badge state-")
            .count(),
        1
    );
    assert!(second.body.contains(">sh -c<") && second.body.contains("badge state-stopped"));
    assert!(!second.body.contains("older-jobs"));
    assert!(second.body.contains("← Newest"));

    let finished = send(
        &app.router,
        page_as(
            &format!("{JOBS}?state=succeeded%2Cfailed%2Cstopped%2Clost"),
            &cookie,
        ),
    )
    .await;
    assert_eq!(
        finished
            .body
            .matches("<tr><td><span class=\"badge state-")
            .count(),
        1
    );
    let running = send(
        &app.router,
        page_as(&format!("{JOBS}?state=running"), &cookie),
    )
    .await;
    assert!(running.body.contains("No jobs in this state."));
    let bad = send(
        &app.router,
        page_as(&format!("{JOBS}?state=sleeping"), &cookie),
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad
        .body
        .contains("invalid `state`: `sleeping` is not one of"));
    let bad_cursor = send(
        &app.router,
        page_as(&format!("{JOBS}?cursor=nonsense"), &cookie),
    )
    .await;
    assert!(bad_cursor
        .body
        .contains("invalid `cursor`: `nonsense` is not a cursor this server gave"));
}
