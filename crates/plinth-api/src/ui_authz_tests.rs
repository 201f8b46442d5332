//! The authorization matrix of the pages: every UI route, listed by the router itself as it
//! is built, visited by each kind of caller with a browser session (and the form's CSRF
//! token), on a fresh fixture per cell.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use futures::StreamExt;

use crate::authz_tests::{world, World, CALLERS, PASSWORD};
use crate::tests::{browser_login, send, ADMIN_PASSWORD};
use crate::ui::tracking_tests::{seed_tracking, Tracked};

/// What a caller gets: `L` the login page (a redirect there), `O` the page or a redirect
/// that did what was asked, `E` a redirect back with an error notice, or a status code.
type Expect = [&'static str; 6];

#[derive(Clone, Copy)]
struct Case {
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    form: &'static str,
    expected: Expect,
}

const fn case(
    method: &'static str,
    template: &'static str,
    uri: &'static str,
    form: &'static str,
    expected: Expect,
) -> Case {
    Case {
        method,
        template,
        uri,
        form,
        expected,
    }
}

const ALL_OK: Expect = ["O"; 6];
const SIGNED_IN: Expect = ["L", "O", "O", "O", "O", "O"];
const ADMIN_PAGE: Expect = ["L", "403", "403", "403", "O", "403"];
const ADMIN_FORM: Expect = ["L", "E", "E", "E", "O", "E"];
const OWNER_FORM: Expect = ["L", "E", "E", "O", "O", "E"];
const MEMBER_PAGE: Expect = ["L", "O", "O", "O", "O", "404"];
const OWN_ERROR: Expect = ["L", "E", "E", "E", "E", "E"];
/// The job form: viewers are refused (the form comes back with the 403), outsiders see 404.
const CONTRIBUTOR_FORM: Expect = ["L", "403", "O", "O", "O", "404"];
/// Stop and re-run: viewers are sent back with the refusal, outsiders see 404.
const CONTRIBUTOR_BUTTON: Expect = ["L", "E", "O", "O", "O", "404"];

/// Tracking pages naming a run of another project.
const FOREIGN_RUN: Expect = ["L", "404", "404", "404", "404", "404"];

/// Columns: anonymous, viewer, contributor, owner, admin, outsider (see `authz_tests`).
fn matrix() -> Vec<Case> {
    vec![
        case("GET", "/", "/", "", SIGNED_IN),
        case("GET", "/status", "/status", "", SIGNED_IN),
        case("GET", "/assets/{*path}", "/assets/plinth.css", "", ALL_OK),
        case("GET", "/favicon.ico", "/favicon.ico", "", ALL_OK),
        case("GET", "/login", "/login", "", ALL_OK),
        case(
            "POST",
            "/login",
            "/login",
            "username=tina&password=PASSWORD",
            ALL_OK,
        ),
        case("GET", "/login/mfa", "/login/mfa", "", SIGNED_IN),
        case(
            "POST",
            "/login/mfa",
            "/login/mfa",
            "code=000000",
            ["L", "401", "401", "401", "401", "401"],
        ),
        case("POST", "/logout", "/logout", "", SIGNED_IN),
        case("GET", "/signup", "/signup", "", ALL_OK),
        case(
            "POST",
            "/signup",
            "/signup",
            "username=s&email=s%40example.com&password=PASSWORD",
            ["403"; 6],
        ),
        case("GET", "/profile", "/profile", "", SIGNED_IN),
        case(
            "POST",
            "/profile",
            "/profile",
            "display_name=Renamed&email=EMAIL",
            SIGNED_IN,
        ),
        case(
            "POST",
            "/profile/password",
            "/profile/password",
            "current_password=CURRENT&new_password=a-brand-new-passphrase-7",
            SIGNED_IN,
        ),
        case(
            "POST",
            "/profile/mfa/start",
            "/profile/mfa/start",
            "",
            SIGNED_IN,
        ),
        case(
            "POST",
            "/profile/mfa/confirm",
            "/profile/mfa/confirm",
            "code=000000",
            OWN_ERROR,
        ),
        case(
            "POST",
            "/profile/mfa/disable",
            "/profile/mfa/disable",
            "code=000000",
            OWN_ERROR,
        ),
        case(
            "POST",
            "/profile/tokens",
            "/profile/tokens",
            "name=matrix&expires_days=7",
            SIGNED_IN,
        ),
        case(
            "POST",
            "/profile/tokens/{token_id}/revoke",
            "/profile/tokens/TINA_TOKEN/revoke",
            "",
            OWN_ERROR,
        ),
        case(
            "POST",
            "/profile/s3-keys",
            "/profile/s3-keys",
            "read_only=true",
            SIGNED_IN,
        ),
        case(
            "POST",
            "/profile/s3-keys/{access_key_id}/revoke",
            "/profile/s3-keys/PLKAAAAAAAAAAAAAAAAA/revoke",
            "",
            OWN_ERROR,
        ),
        case("GET", "/projects", "/projects", "", SIGNED_IN),
        case(
            "POST",
            "/projects",
            "/projects",
            "organization=acme&name=fresh",
            ["L", "E", "O", "O", "O", "E"],
        ),
        case("POST", "/orgs", "/orgs", "name=initech", ADMIN_FORM),
        case("GET", "/orgs/{organization}", "/orgs/acme", "", MEMBER_PAGE),
        case(
            "POST",
            "/orgs/{organization}/members",
            "/orgs/acme/members",
            "username=tina&role=member",
            OWNER_FORM,
        ),
        case(
            "POST",
            "/orgs/{organization}/members/{username}/remove",
            "/orgs/acme/members/carl/remove",
            "",
            OWNER_FORM,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}",
            "/projects/acme/churn",
            "",
            MEMBER_PAGE,
        ),
        // The mlflow client's links: the slash form is redirected for anyone (it says
        // nothing), `/runs/{run_id}` finds the run among the caller's projects.
        case(
            "GET",
            "/projects/{organization}/{project}/",
            "/projects/acme/churn/",
            "",
            ["308"; 6],
        ),
        case("GET", "/runs/{run_id}", "/runs/RUN_ID", "", MEMBER_PAGE),
        case(
            "GET",
            "/runs/{run_id}",
            "/runs/OTHER_RUN",
            "",
            ["L", "404", "404", "404", "O", "O"],
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/members",
            "/projects/acme/churn/members",
            "username=tina&role=viewer",
            OWNER_FORM,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/members/{username}/remove",
            "/projects/acme/churn/members/vera/remove",
            "",
            OWNER_FORM,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/settings",
            "/projects/acme/churn/settings",
            "display_name=Churn+2",
            OWNER_FORM,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/delete",
            "/projects/acme/churn/delete",
            "confirm=churn",
            OWNER_FORM,
        ),
        case("GET", "/jobs", "/jobs", "", SIGNED_IN),
        case(
            "GET",
            "/projects/{organization}/{project}/jobs",
            "/projects/acme/churn/jobs",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/jobs",
            "/projects/acme/churn/jobs",
            "class=small&command=sh+-c+%27echo+hi%27&env=A%3D1",
            CONTRIBUTOR_FORM,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/jobs/new",
            "/projects/acme/churn/jobs/new",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/apps",
            "/projects/acme/churn/apps",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/apps/{app}",
            "/projects/acme/churn/apps/board",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/pipelines",
            "/projects/acme/churn/pipelines",
            "",
            MEMBER_PAGE,
        ),
        // A run page: no such run (pages with a real run: `kfp_authz_tests.rs`).
        case(
            "GET",
            "/projects/{organization}/{project}/pipelines/runs/{pipeline_run}",
            "/projects/acme/churn/pipelines/runs/no-such-run",
            "",
            ["L", "404", "404", "404", "404", "404"],
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/deployments",
            "/projects/acme/churn/deployments",
            "",
            MEMBER_PAGE,
        ),
        // Version 1 of `fraud` has no `MLmodel`: everyone allowed is sent back with why.
        case(
            "POST",
            "/projects/{organization}/{project}/deployments",
            "/projects/acme/churn/deployments",
            "name=fraud-api&model=fraud%2F1",
            ["L", "E", "E", "E", "E", "404"],
        ),
        // The App handshake: members go on to the App's origin with a code; the outsider
        // may not open it.
        case(
            "GET",
            "/gateway/handshake",
            "/gateway/handshake?app=board--churn--acme&next=%2Fdash",
            "",
            ["L", "O", "O", "O", "O", "403"],
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/files",
            "/projects/acme/churn/files?path=data",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/files/download",
            "/projects/acme/churn/files/download?key=missing.csv",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/environments",
            "/projects/acme/churn/environments",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/environments/{name}",
            "/projects/acme/churn/environments/train",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/jobs/{id}",
            "/projects/acme/churn/jobs/JOB_ID",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/jobs/{id}/stop",
            "/projects/acme/churn/jobs/JOB_ID/stop",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/jobs/{id}/rerun",
            "/projects/acme/churn/jobs/JOB_ID/rerun",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/usage",
            "/projects/acme/churn/usage",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/quota",
            "/projects/acme/churn/quota",
            "cpu=4&memory_gib=&max_jobs=3",
            ADMIN_PAGE,
        ),
        case("GET", "/admin", "/admin", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/users",
            "/admin/users",
            "username=newbie&email=newbie%40example.com&password=PASSWORD",
            ADMIN_FORM,
        ),
        case(
            "GET",
            "/admin/users/{username}",
            "/admin/users/tina",
            "",
            ADMIN_PAGE,
        ),
        case(
            "POST",
            "/admin/users/{username}/update",
            "/admin/users/tina/update",
            "is_active=false",
            ADMIN_FORM,
        ),
        case(
            "POST",
            "/admin/users/{username}/password",
            "/admin/users/tina/password",
            "password=reset-by-admin-phrase-3",
            ADMIN_FORM,
        ),
        case(
            "POST",
            "/admin/users/{username}/reset-mfa",
            "/admin/users/tina/reset-mfa",
            "",
            ADMIN_FORM,
        ),
        case("GET", "/admin/settings", "/admin/settings", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/settings",
            "/admin/settings",
            "signup_enabled=true&signup_domains=",
            ADMIN_FORM,
        ),
        case("GET", "/admin/directories", "/admin/directories", "", ADMIN_PAGE),
        // No provider is configured in the fixture.
        case(
            "GET",
            "/auth/oidc/{provider}/login",
            "/auth/oidc/sso/login",
            "",
            ["404"; 6],
        ),
        case(
            "GET",
            "/auth/oidc/{provider}/callback",
            "/auth/oidc/sso/callback?state=x&code=y",
            "",
            ["404"; 6],
        ),
        // The fixture has no directory: the admin's test names the missing one.
        case(
            "POST",
            "/admin/directories/{name}/test-connection",
            "/admin/directories/corp/test-connection",
            "",
            ["L", "E", "E", "E", "E", "E"],
        ),
        case(
            "POST",
            "/admin/directories/{name}/test-login",
            "/admin/directories/corp/test-login",
            "username=alice&password=x",
            ["L", "E", "E", "E", "E", "E"],
        ),
        case("GET", "/admin/audit", "/admin/audit", "", ADMIN_PAGE),
        case("GET", "/admin/pools", "/admin/pools", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/pools",
            "/admin/pools",
            "name=fpga&labels=plinth.dev%2Fpool%3Dfpga&taints=plinth.dev%2Fpool%3Dfpga%3ANoSchedule",
            ADMIN_PAGE,
        ),
        case("GET", "/admin/pools/{name}", "/admin/pools/compute", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/pools/{name}",
            "/admin/pools/compute",
            "description=Jobs&labels=plinth.dev%2Fpool%3Dcompute&taints=",
            ADMIN_PAGE,
        ),
        case(
            "POST",
            "/admin/pools/{name}/delete",
            "/admin/pools/platform/delete",
            "",
            ADMIN_PAGE,
        ),
        case("GET", "/admin/classes", "/admin/classes", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/classes",
            "/admin/classes",
            "name=tiny&pool=compute&cpu=0.5&memory_gib=1&gpus=0",
            ADMIN_PAGE,
        ),
        case("GET", "/admin/classes/{name}", "/admin/classes/small", "", ADMIN_PAGE),
        case(
            "POST",
            "/admin/classes/{name}",
            "/admin/classes/small",
            "pool=compute&cpu=1&memory_gib=2&gpus=0",
            ADMIN_PAGE,
        ),
        case(
            "POST",
            "/admin/classes/{name}/delete",
            "/admin/classes/large/delete",
            "",
            ADMIN_PAGE,
        ),
        case("GET", "/admin/usage", "/admin/usage", "", ADMIN_PAGE),
        case("GET", "/experiments", "/experiments", "", SIGNED_IN),
        case(
            "GET",
            "/projects/{organization}/{project}/experiments",
            "/projects/acme/churn/experiments?view=all",
            "",
            MEMBER_PAGE,
        ),
        // Experiment and run forms (contributors and up; viewers are sent back with the
        // refusal, outsiders see 404).
        case(
            "POST",
            "/projects/{organization}/{project}/experiments",
            "/projects/acme/churn/experiments",
            "name=made-in-the-ui",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/experiments/{experiment_id}/rename",
            "/projects/acme/churn/experiments/EXP_ID/rename",
            "name=renamed-in-the-ui",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/experiments/{experiment_id}/delete",
            "/projects/acme/churn/experiments/EXP_ID/delete",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/experiments/{experiment_id}/restore",
            "/projects/acme/churn/experiments/EXP_ID/restore",
            "",
            // The experiment is not deleted: writers get MLflow's refusal back.
            ["L", "E", "E", "E", "E", "404"],
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/rename",
            "/projects/acme/churn/runs/RUN_ID/rename",
            "name=renamed-run",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/delete",
            "/projects/acme/churn/runs/RUN_ID/delete",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/restore",
            "/projects/acme/churn/runs/RUN_ID/restore",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/tags",
            "/projects/acme/churn/runs/RUN_ID/tags",
            "key=reviewed&value=yes",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/tags/delete",
            "/projects/acme/churn/runs/RUN_ID/tags/delete",
            "key=team",
            // The run has no such tag: writers get MLflow's refusal back.
            ["L", "E", "E", "E", "E", "404"],
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/description",
            "/projects/acme/churn/runs/RUN_ID/description",
            "description=the+baseline",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/runs/{run_id}/rename",
            "/projects/acme/churn/runs/OTHER_RUN/rename",
            "name=not-mine",
            ["L", "E", "E", "E", "E", "404"],
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/experiments/{experiment_id}",
            "/projects/acme/churn/experiments/EXP_ID?filter=metrics.loss+%3C+1",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}",
            "/projects/acme/churn/runs/RUN_ID",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/artifacts",
            "/projects/acme/churn/runs/RUN_ID/artifacts?file=notes.txt",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/artifacts/download",
            "/projects/acme/churn/runs/RUN_ID/artifacts/download?path=notes.txt",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/artifacts/download",
            "/projects/acme/churn/runs/RUN_ID/artifacts/download?inline=true&path=plots/plot.png",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/metrics/{key}/chart.json",
            "/projects/acme/churn/runs/RUN_ID/metrics/loss/chart.json?points=20",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/compare/charts.json",
            "/projects/acme/churn/compare/charts.json?runs=RUN_ID&runs=BETA_ID&keys=loss&points=20",
            "",
            MEMBER_PAGE,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/compare",
            "/projects/acme/churn/compare?runs=RUN_ID&runs=BETA_ID",
            "",
            MEMBER_PAGE,
        ),
        // A run of another project (globex/ads) named in acme/churn's URLs: not found,
        // even for the admin who may see both projects.
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}",
            "/projects/acme/churn/runs/OTHER_RUN",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/artifacts/download",
            "/projects/acme/churn/runs/OTHER_RUN/artifacts/download?path=notes.txt",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/runs/{run_id}/metrics/{key}/chart.json",
            "/projects/acme/churn/runs/OTHER_RUN/metrics/loss/chart.json",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/compare/charts.json",
            "/projects/acme/churn/compare/charts.json?runs=RUN_ID&runs=OTHER_RUN&keys=loss",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/compare",
            "/projects/acme/churn/compare?runs=RUN_ID&runs=OTHER_RUN",
            "",
            FOREIGN_RUN,
        ),
        case(
            "GET",
            "/models",
            "/models",
            "",
            SIGNED_IN,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/models",
            "/projects/acme/churn/models",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models",
            "/projects/acme/churn/models",
            "name=fresh&description=new",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/models/{name}",
            "/projects/acme/churn/models/fraud",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/update",
            "/projects/acme/churn/models/fraud/update",
            "description=d",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/rename",
            "/projects/acme/churn/models/fraud/rename",
            "new_name=fraud2",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/delete",
            "/projects/acme/churn/models/fraud/delete",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/tags",
            "/projects/acme/churn/models/fraud/tags",
            "key=k&value=v",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/tags/delete",
            "/projects/acme/churn/models/fraud/tags/delete",
            "key=team",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/aliases",
            "/projects/acme/churn/models/fraud/aliases",
            "alias=prod&version=1",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/aliases/{alias}/delete",
            "/projects/acme/churn/models/fraud/aliases/champion/delete",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "GET",
            "/projects/{organization}/{project}/models/{name}/versions/{version}",
            "/projects/acme/churn/models/fraud/versions/1",
            "",
            MEMBER_PAGE,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/versions/{version}/update",
            "/projects/acme/churn/models/fraud/versions/1/update",
            "description=d",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/versions/{version}/stage",
            "/projects/acme/churn/models/fraud/versions/1/stage",
            "stage=Production&archive_existing_versions=true",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/versions/{version}/tags",
            "/projects/acme/churn/models/fraud/versions/1/tags",
            "key=k&value=v",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/versions/{version}/tags/delete",
            "/projects/acme/churn/models/fraud/versions/1/tags/delete",
            "key=team",
            CONTRIBUTOR_BUTTON,
        ),
        case(
            "POST",
            "/projects/{organization}/{project}/models/{name}/versions/{version}/delete",
            "/projects/acme/churn/models/fraud/versions/1/delete",
            "",
            CONTRIBUTOR_BUTTON,
        ),
        case("GET", "/pipelines", "/pipelines", "", SIGNED_IN),
        case("GET", "/workspaces", "/workspaces", "", SIGNED_IN),
        case("GET", "/deployments", "/deployments", "", SIGNED_IN),
        case("GET", "/files", "/files", "", SIGNED_IN),
        case("GET", "/features", "/features", "", SIGNED_IN),
    ]
}

fn classify(status: u16, location: &str) -> String {
    match status {
        303 | 302 | 307 if location == "/login" || location.starts_with("/login?next=") => {
            "L".to_string()
        }
        303 | 302 | 307 if location.contains("error=") => "E".to_string(),
        200 | 303 | 302 | 307 => "O".to_string(),
        other => other.to_string(),
    }
}

fn username(column: usize) -> &'static str {
    ["", "vera", "carl", "olga", "admin", "oscar"][column]
}

/// A world with every caller's browser session (cookie, CSRF token) and tracking data.
struct Visited {
    world: World,
    sessions: Vec<Option<(String, String)>>,
    /// Logged in the shared world of the pages only (no form uses it).
    tracked: Option<Tracked>,
}

async fn visit(world: World, columns: std::ops::Range<usize>, with_tracking: bool) -> Visited {
    let mut sessions = vec![None; CALLERS.len()];
    for column in columns.filter(|column| *column > 0) {
        let password = if CALLERS[column] == "admin" {
            ADMIN_PASSWORD
        } else {
            PASSWORD
        };
        sessions[column] = Some(browser_login(&world.app.router, username(column), password).await);
    }
    let tracked = if with_tracking {
        Some(seed_tracking(&world).await)
    } else {
        None
    };
    Visited {
        world,
        sessions,
        tracked,
    }
}

/// Sends one cell's request and returns a description when it differs. Pages (`GET`) change
/// nothing, so they share one world; every form gets a fresh one.
async fn check_cell(case: Case, column: usize, shared: Arc<Visited>) -> Option<String> {
    let caller = CALLERS[column];
    let fresh;
    let visited = if case.method == "GET" {
        &*shared
    } else {
        // Forms on tracking data (experiment and run forms) get it seeded.
        let tracked = ["EXP_ID", "RUN_ID", "BETA_ID", "OTHER_RUN"]
            .iter()
            .any(|placeholder| case.uri.contains(placeholder));
        fresh = visit(world().await, column..column + 1, tracked).await;
        &fresh
    };
    let World {
        app,
        tina_token_id,
        job_id,
        ..
    } = &visited.world;
    let session = &visited.sessions[column];
    let mut uri = case
        .uri
        .replace("TINA_TOKEN", tina_token_id)
        .replace("JOB_ID", job_id);
    if let Some(tracked) = &visited.tracked {
        uri = uri
            .replace("EXP_ID", &tracked.experiment_id)
            .replace("RUN_ID", &tracked.alpha)
            .replace("BETA_ID", &tracked.beta)
            .replace("OTHER_RUN", &tracked.other_run);
    }
    let mut builder = Request::builder().method(case.method).uri(&uri);
    if let Some((cookie, _)) = session {
        builder = builder.header(header::COOKIE, cookie);
    }
    let request = if case.method == "POST" {
        let current = if caller == "admin" {
            ADMIN_PASSWORD
        } else {
            PASSWORD
        };
        let email = if caller == "admin" {
            "admin%40plinth.invalid".to_string()
        } else {
            format!("{}%40example.com", username(column))
        };
        let mut form = case
            .form
            .replace("PASSWORD", PASSWORD)
            .replace("CURRENT", current)
            .replace("EMAIL", &email);
        if let Some((_, csrf)) = session {
            form = if form.is_empty() {
                format!("_csrf={csrf}")
            } else {
                format!("{form}&_csrf={csrf}")
            };
        }
        builder
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap()
    } else {
        builder.body(Body::empty()).unwrap()
    };
    let answer = send(&app.router, request).await;
    let got = classify(answer.status.as_u16(), answer.header("location"));
    (got != case.expected[column]).then(|| {
        format!(
            "{} {uri} as {caller}: expected {}, got {got} ({} {})",
            case.method,
            case.expected[column],
            answer.status.as_u16(),
            answer.header("location")
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_every_caller_as_designed() {
    let cases = matrix();
    let routes = crate::ui::routes();
    let listed: BTreeSet<String> = routes
        .listed()
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let covered: BTreeSet<String> = cases
        .iter()
        .map(|case| format!("{} {}", case.method, case.template))
        .collect();
    let missing: Vec<&String> = listed.difference(&covered).collect();
    let stale: Vec<&String> = covered.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "UI routes without a row in the page matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "page matrix rows for routes that no longer exist: {stale:?}"
    );

    // Cells are independent (each form has a fresh world), so they run four at a time,
    // spread over the runtime's threads.
    let cells: Vec<(Case, usize)> = cases
        .iter()
        .flat_map(|case| (0..CALLERS.len()).map(move |column| (*case, column)))
        .collect();
    let shared = Arc::new(visit(world().await, 0..CALLERS.len(), true).await);
    let outcomes: Vec<Option<String>> = futures::stream::iter(cells)
        .map(|(case, column)| {
            let shared = Arc::clone(&shared);
            async move {
                tokio::spawn(check_cell(case, column, shared))
                    .await
                    .unwrap_or_else(|error| Some(format!("a cell panicked: {error}")))
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let checked = outcomes.len();
    assert_eq!(checked, cases.len() * CALLERS.len());
    let failures: Vec<String> = outcomes.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} of {checked} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "page matrix: {} routes x {} callers = {checked} cells, all as designed",
        cases.len(),
        CALLERS.len()
    );
}
