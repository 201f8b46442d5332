//! How many SQL statements each hot tracking call costs, counted from sqlx's statement
//! log (target `sqlx::query`), with and without the authentication cache: a load-free
//! measure of round trips to the database (issue 20's write path). sqlx does not log the
//! `BEGIN`/`COMMIT` of a SQLite transaction, nor the direct (rusqlite) history read; the
//! counts below are the logged statements only.
//!
//! The subscriber is process-wide, so the exact counts are asserted only under nextest
//! (one process per test); under `cargo test` they are printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::tests::{app_on_with, get_as, json_request, login_token, send, TestApp};
use crate::ServerSettings;

#[derive(Clone, Default)]
struct Statements {
    on: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}");
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = value.to_string();
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" && self.on.load(Ordering::SeqCst) {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.seen.lock().unwrap().push(text.0);
        }
    }
}

impl Statements {
    async fn count<F: std::future::Future<Output = ()>>(&self, call: F) -> Vec<String> {
        self.seen.lock().unwrap().clear();
        self.on.store(true, Ordering::SeqCst);
        call.await;
        self.on.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn world(statements: &Statements, ttl: std::time::Duration) -> (TestApp, String) {
    let app = app_on_with(
        plinth_metastore::testsuite::open_sqlite_temp().await,
        ServerSettings::default(),
        plinth_core::IdentitySettings {
            auth_cache_ttl: ttl,
            ..plinth_core::IdentitySettings::default()
        },
    )
    .await;
    let _ = statements;
    let admin = app.admin_token.clone();
    for (uri, body) in [
        ("/api/v1/orgs", json!({ "name": "acme" })),
        ("/api/v1/orgs/acme/projects", json!({ "name": "churn" })),
    ] {
        let answer = send(&app.router, json_request("POST", uri, Some(&admin), &body)).await;
        assert!(answer.status.is_success(), "{uri}: {}", answer.body);
    }
    let _ = login_token;
    (app, admin)
}

async fn calls(
    statements: &Statements,
    ttl: std::time::Duration,
) -> Vec<(&'static str, Vec<String>)> {
    let (app, token) = world(statements, ttl).await;
    let router = &app.router;
    let base = "/projects/acme/churn/api/2.0/mlflow";
    let post = |path: &str, body: Value| {
        json_request("POST", &format!("{base}{path}"), Some(&token), &body)
    };
    // Warm: the default experiment exists, the credential was seen once.
    let warm = send(
        router,
        post("/runs/create", json!({ "experiment_id": "0" })),
    )
    .await;
    assert!(warm.status.is_success(), "{}", warm.body);
    let run_id = warm.json()["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut counted = Vec::new();
    let create = statements
        .count(async {
            let answer = send(
                router,
                post(
                    "/runs/create",
                    json!({ "experiment_id": "0", "tags": [{"key": "t", "value": "v"}] }),
                ),
            )
            .await;
            assert!(answer.status.is_success(), "{}", answer.body);
        })
        .await;
    counted.push(("create_run", create));
    let log_metric = statements
        .count(async {
            let answer = send(router, post("/runs/log-metric", json!({ "run_id": run_id, "key": "m", "value": 0.5, "timestamp": 1, "step": 0 }))).await;
            assert!(answer.status.is_success(), "{}", answer.body);
        })
        .await;
    counted.push(("log_metric", log_metric));
    let metrics: Vec<Value> = (0..1000)
        .map(|step| json!({ "key": "m", "value": step as f64 / 7.0, "timestamp": 2, "step": step }))
        .collect();
    let log_batch = statements
        .count(async {
            let answer = send(
                router,
                post(
                    "/runs/log-batch",
                    json!({ "run_id": run_id, "metrics": metrics }),
                ),
            )
            .await;
            assert!(answer.status.is_success(), "{}", answer.body);
        })
        .await;
    counted.push(("log_batch (1000 metrics)", log_batch));
    let history = statements
        .count(async {
            let answer = send(
                router,
                get_as(
                    &format!("{base}/metrics/get-history?run_id={run_id}&metric_key=m"),
                    &token,
                ),
            )
            .await;
            assert!(answer.status.is_success(), "{}", answer.body);
        })
        .await;
    counted.push(("get_history", history));
    counted
}

#[tokio::test]
async fn the_auth_cache_takes_the_credential_reads_off_every_call() {
    let statements = Statements::default();
    let installed = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(statements.clone()),
    )
    .is_ok();
    let uncached = calls(&statements, std::time::Duration::ZERO).await;
    let cached = calls(&statements, plinth_core::AUTH_CACHE_TTL).await;
    let mut counts = Vec::new();
    for ((call, before), (_, after)) in uncached.iter().zip(&cached) {
        println!(
            "{call}: {} statements without the cache, {} with it",
            before.len(),
            after.len()
        );
        println!("  without: {before:?}");
        println!("  with:    {after:?}");
        counts.push((*call, before.len(), after.len()));
    }
    if installed && std::env::var_os("NEXTEST").is_some() {
        for (call, before, after) in &counts {
            // The token, its user, and the project with the caller's role: three reads
            // the cache answers (the token's `last_used_at` touch is per minute).
            assert_eq!(*before, after + 3, "{call}: {counts:?}");
        }
        assert_eq!(
            counts
                .iter()
                .map(|(call, _, after)| (*call, *after))
                .collect::<Vec<_>>(),
            vec![
                ("create_run", 4),
                ("log_metric", 3),
                ("log_batch (1000 metrics)", 4),
                ("get_history", 1)
            ],
            "statements per call with the cache"
        );
    }
}
