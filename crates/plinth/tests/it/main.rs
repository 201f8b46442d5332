//! End-to-end tests of the real `plinth` binary: command line, startup failures, the
//! served endpoints, PostgreSQL and S3 backends, and the UI in headless Chromium.

mod apps;
mod browser;
mod cli;
mod cli_identity;
mod cli_jobs;
mod cli_tracking;
mod durability;
mod envs;
mod federation;
mod files;
mod jobs;
mod mlflow;
mod pipelines;
mod sandbox;
mod serve;
mod services;
mod serving;
mod startup;
mod support;
mod tls;
mod ui_pages;
