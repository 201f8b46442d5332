//! The reconciler: compares the desired state in the metadata store with what the executor
//! reports and acts — records state changes, finishes workloads (ledger, token, working
//! folder), stops what should stop, starts queued jobs as quota frees up, adopts what runs
//! after a restart and marks lost what the backend no longer knows.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use plinth_executor::ExecError;
use plinth_metastore::WorkloadTransition;
use plinth_types::{Workload, WorkloadState};

use super::jobs::{handle, observed};
use super::RuntimeService;
use crate::CoreResult;

/// What one pass did; for tests and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Workloads whose state changed.
    pub changed: usize,
    /// Queued jobs started.
    pub admitted: usize,
    /// Workloads marked lost.
    pub lost: usize,
}

impl RuntimeService {
    /// Runs the reconciler until `shutdown` resolves: a pass every `interval`, and at once
    /// when woken (a job queued or stopped, a quota changed).
    pub async fn run_reconciler(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.reconcile_once().await {
                Ok(report) if report != ReconcileReport::default() => {
                    tracing::debug!(?report, "reconciled");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "reconciler pass failed; retrying"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(interval) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// One pass over every unfinished workload.
    pub async fn reconcile_once(&self) -> CoreResult<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let active = self.inner.store.list_active_workloads().await?;
        let mut queued: BTreeMap<String, Vec<Workload>> = BTreeMap::new();
        for workload in active {
            if workload.state == WorkloadState::Queued {
                queued
                    .entry(workload.project_id.clone())
                    .or_default()
                    .push(workload);
                continue;
            }
            if self.is_launching(&workload.id) {
                continue;
            }
            if let Err(error) = self.observe(&workload, &mut report).await {
                tracing::warn!(workload = %workload.id, %error, "cannot reconcile workload");
            }
        }
        for (project_id, waiting) in queued {
            if let Err(error) = self.admit(&project_id, waiting, &mut report).await {
                tracing::warn!(project = %project_id, %error, "cannot admit queued jobs");
            }
        }
        Ok(report)
    }

    /// Asks the reconciler for a pass now (the pipeline engine does while its tasks run,
    /// so a finished step is seen within its tick rather than the reconcile interval).
    pub fn request_reconcile(&self) {
        self.inner.wake.notify_one();
    }

    fn is_launching(&self, id: &str) -> bool {
        self.inner
            .launching
            .lock()
            .expect("launching set lock")
            .contains(id)
    }

    async fn observe(&self, workload: &Workload, report: &mut ReconcileReport) -> CoreResult<()> {
        let now = self.now();
        let status = match self.inner.executor.status(&handle(&workload.id)).await {
            Ok(status) => status,
            Err(ExecError::NotFound(_)) if workload.state == WorkloadState::Starting => {
                // Recorded but never handed over (the server stopped in between): hand it
                // over now, or drop it when a stop came first.
                if workload.stop_requested {
                    self.finish(
                        workload,
                        WorkloadState::Stopped,
                        "stopped before it started".to_string(),
                        None,
                    )
                    .await?;
                    report.changed += 1;
                    return Ok(());
                }
                self.inner
                    .launching
                    .lock()
                    .expect("launching set lock")
                    .insert(workload.id.clone());
                let launched = self.launch(workload).await;
                self.inner
                    .launching
                    .lock()
                    .expect("launching set lock")
                    .remove(&workload.id);
                if let Err(error) = launched {
                    self.finish(
                        workload,
                        WorkloadState::Failed,
                        format!("could not start: {error}"),
                        None,
                    )
                    .await?;
                }
                report.changed += 1;
                return Ok(());
            }
            Err(ExecError::NotFound(_)) => {
                let reason = format!(
                    "the {} backend has no record of it any more: it ended or vanished while Plinth was not watching",
                    self.backend()
                );
                self.finish(workload, WorkloadState::Lost, reason, None)
                    .await?;
                report.lost += 1;
                report.changed += 1;
                return Ok(());
            }
            // The backend is unreachable: keep the recorded state, try again next pass.
            Err(error) => return Err(error.into()),
        };
        let (state, reason, exit_code) = observed(&status);
        if state.is_finished() {
            if workload.started_at_ms.is_none() {
                self.inner
                    .store
                    .transition_workload(
                        &workload.id,
                        &WorkloadTransition {
                            state: WorkloadState::Running,
                            reason: String::new(),
                            exit_code: None,
                            at_ms: now,
                        },
                    )
                    .await?;
            }
            self.finish(workload, state, reason, exit_code).await?;
            report.changed += 1;
            return Ok(());
        }
        if workload.stop_requested {
            self.stop_in_background(&workload.id);
        }
        let current = if state != workload.state || reason != workload.reason {
            report.changed += 1;
            self.inner
                .store
                .transition_workload(
                    &workload.id,
                    &WorkloadTransition {
                        state,
                        reason,
                        exit_code,
                        at_ms: now,
                    },
                )
                .await?
        } else {
            None
        };
        let current = current.as_ref().unwrap_or(workload);
        if current.state == WorkloadState::Running {
            let interval = self.inner.settings.usage_interval.as_millis() as i64;
            let mark = current
                .accounted_until_ms
                .or(current.started_at_ms)
                .unwrap_or(now);
            if now - mark >= interval {
                self.accrue(current, now).await?;
            }
        }
        Ok(())
    }

    fn stop_in_background(&self, id: &str) {
        let newly = self
            .inner
            .stopping
            .lock()
            .expect("stopping set lock")
            .insert(id.to_string());
        if !newly {
            return;
        }
        let service = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let grace = service.inner.settings.stop_grace_period;
            if let Err(error) = service.inner.executor.stop(&handle(&id), grace).await {
                tracing::warn!(workload = %id, %error, "cannot stop workload");
            }
            service
                .inner
                .stopping
                .lock()
                .expect("stopping set lock")
                .remove(&id);
            service.wake_reconciler();
        });
    }

    /// Records the end of a workload: its state, its last usage, its token revoked, its
    /// working folder removed.
    pub(super) async fn finish(
        &self,
        workload: &Workload,
        state: WorkloadState,
        reason: String,
        exit_code: Option<i32>,
    ) -> CoreResult<()> {
        let Some(ended) = self
            .inner
            .store
            .transition_workload(
                &workload.id,
                &WorkloadTransition {
                    state,
                    reason,
                    exit_code,
                    at_ms: self.now(),
                },
            )
            .await?
        else {
            return Ok(());
        };
        if let Some(end) = ended.finished_at_ms {
            self.accrue(&ended, end).await?;
        }
        if let Some(token_id) = self.inner.store.workload_token(&ended.id).await? {
            let creator = plinth_types::UserId::from_stored(ended.created_by.clone());
            self.inner
                .identity
                .revoke_workload_token(&creator, &token_id)
                .await?;
            self.inner.store.set_workload_token(&ended.id, None).await?;
        }
        self.remove_working_dir(&ended.id).await;
        tracing::info!(workload = %ended.id, state = ended.state.as_str(), reason = %ended.reason, "workload ended");
        // Its share of the quota is free: queued jobs may start.
        self.wake_reconciler();
        Ok(())
    }

    /// Starts the project's queued jobs, oldest first, while the quota allows; the first
    /// that does not fit holds the rest (first come, first served).
    async fn admit(
        &self,
        project_id: &str,
        waiting: Vec<Workload>,
        report: &mut ReconcileReport,
    ) -> CoreResult<()> {
        let mut to_launch = Vec::new();
        {
            let _admission = self.inner.admission.lock().await;
            let quota = self.inner.store.get_project_quota(project_id).await?;
            let mut blocked = false;
            for workload in waiting {
                if blocked {
                    let reason = "waiting behind jobs queued before it".to_string();
                    if workload.reason != reason {
                        self.inner
                            .store
                            .set_workload_reason(&workload.id, &reason)
                            .await?;
                    }
                    continue;
                }
                let usage = self.inner.store.project_usage_now(project_id).await?;
                let class = plinth_types::ResourceClass {
                    name: workload.class.clone(),
                    pool: workload.pool.clone(),
                    description: String::new(),
                    cpu_millis: workload.cpu_millis,
                    memory_bytes: workload.memory_bytes,
                    gpus: workload.gpus,
                    updated_at_ms: 0,
                };
                let shortfalls =
                    super::jobs::quota_shortfalls(&quota, &usage, workload.kind, &class);
                if shortfalls.is_empty() {
                    if self
                        .inner
                        .store
                        .transition_workload(
                            &workload.id,
                            &WorkloadTransition {
                                state: WorkloadState::Starting,
                                reason: String::new(),
                                exit_code: None,
                                at_ms: self.now(),
                            },
                        )
                        .await?
                        .is_some()
                    {
                        self.inner
                            .launching
                            .lock()
                            .expect("launching set lock")
                            .insert(workload.id.clone());
                        to_launch.push(workload);
                    }
                } else {
                    blocked = true;
                    let reason = format!("waiting for quota: {}", shortfalls.join("; "));
                    if workload.reason != reason {
                        self.inner
                            .store
                            .set_workload_reason(&workload.id, &reason)
                            .await?;
                    }
                }
            }
        }
        for workload in to_launch {
            let launched = self.launch(&workload).await;
            self.inner
                .launching
                .lock()
                .expect("launching set lock")
                .remove(&workload.id);
            report.admitted += 1;
            report.changed += 1;
            if let Err(error) = launched {
                self.finish(
                    &workload,
                    WorkloadState::Failed,
                    format!("could not start: {error}"),
                    None,
                )
                .await?;
            }
        }
        Ok(())
    }
}
