//! Group commit for the hot tracking writes (log-metric, log-batch, log-param, set-tag,
//! create-run, update-run): callers hand their write to one writer task per store and wait
//! for its answer; the writer applies every write waiting in the queue (up to
//! [`MAX_CALLS_PER_COMMIT`]) in one transaction and commits once, then answers each caller.
//!
//! - **Acknowledged means committed.** A caller's `Ok` is sent only after the transaction
//!   holding its write has committed; if the commit fails, every write of the batch fails.
//! - **Each call keeps its own result.** With more than one write in a batch, each runs
//!   inside its own `SAVEPOINT`: a write that fails (a param changing value, a deleted run,
//!   a constraint) is rolled back to its savepoint and fails alone, the others commit.
//! - **No waiting for company.** The writer never delays a commit to collect more calls:
//!   the batch is whatever queued up while the previous commit (its fsync) ran. A lone
//!   sequential caller therefore pays one commit, never a batching timer; concurrent
//!   callers share commits.
//!
//! The writer itself is backend-neutral; the SQL of each write lives in the backends
//! (`tracking_sql.rs`, `tracking_apply_write`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use plinth_types::{Metric, RunStatus};
use tokio::sync::{mpsc, oneshot};

use crate::error::one_line;
use crate::{StoreError, StoreResult};

/// The most calls one transaction applies.
pub(crate) const MAX_CALLS_PER_COMMIT: usize = 256;

/// How many calls may wait for the writer before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 4 * MAX_CALLS_PER_COMMIT;

/// One write the writer applies, already validated by the calling method.
#[derive(Debug)]
pub(crate) enum TrackingWrite {
    /// Metrics, params and tags logged to an active run (log-metric, log-param, set-tag,
    /// log-batch).
    Log {
        project_id: String,
        run_id: String,
        metrics: Vec<Metric>,
        params: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        /// A param conflict is reported as MLflow's log-param words it (else log-batch's).
        single_param: bool,
    },
    /// A new run (its id chosen by the caller) with its tags.
    CreateRun {
        project_id: String,
        run_id: String,
        experiment_id: i64,
        name: String,
        user_id: String,
        start_time: i64,
        tags: Vec<(String, String)>,
    },
    /// A change of an active run's status, end time or name.
    UpdateRun {
        project_id: String,
        run_id: String,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        name: Option<String>,
    },
}

/// What a write leaves its caller to know once committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    /// Nothing more than success.
    Done,
    /// A run was created, with this artifact URI (from its experiment's location).
    RunCreated { artifact_uri: String },
}

/// A write waiting in the queue, with where its answer goes.
#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub(crate) write: TrackingWrite,
    pub(crate) reply: oneshot::Sender<StoreResult<WriteOutcome>>,
}

/// How much the writer batched: calls applied and transactions committed (or attempted).
#[derive(Debug, Default)]
pub(crate) struct WriteStats {
    calls: AtomicU64,
    commits: AtomicU64,
}

impl WriteStats {
    /// Returns `(calls, commits)` so far.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }
}

/// The callers' side of a store's writer task.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    sender: mpsc::Sender<PendingWrite>,
    stats: Arc<WriteStats>,
}

impl std::fmt::Debug for WriteQueue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WriteQueue")
            .field("waiting", &(QUEUE_CAPACITY - self.sender.capacity()))
            .field("calls", &self.stats.calls.load(Ordering::Relaxed))
            .field("commits", &self.stats.commits.load(Ordering::Relaxed))
            .finish()
    }
}

/// The writer's side: where it takes batches from.
pub(crate) struct WriteReceiver {
    receiver: mpsc::Receiver<PendingWrite>,
    stats: Arc<WriteStats>,
}

impl WriteQueue {
    /// Returns a queue and the receiver its writer task drains.
    pub(crate) fn new() -> (WriteQueue, WriteReceiver) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriteStats::default());
        (
            WriteQueue {
                sender,
                stats: stats.clone(),
            },
            WriteReceiver { receiver, stats },
        )
    }

    /// Hands `write` to the writer and returns its result once its transaction committed
    /// (or failed).
    pub(crate) async fn submit(&self, write: TrackingWrite) -> StoreResult<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(PendingWrite { write, reply })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Returns the writer's counters.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> &WriteStats {
        &self.stats
    }
}

impl WriteReceiver {
    /// Waits for the next write, then takes every write already queued behind it, up to
    /// [`MAX_CALLS_PER_COMMIT`]; `None` once every [`WriteQueue`] is gone.
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<PendingWrite>> {
        let first = self.receiver.recv().await?;
        let mut batch = Vec::with_capacity(self.receiver.len().min(MAX_CALLS_PER_COMMIT) + 1);
        batch.push(first);
        while batch.len() < MAX_CALLS_PER_COMMIT {
            match self.receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        self.stats
            .calls
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        Some(batch)
    }
}

/// Runs the writer loop: each batch is applied by `commit` in a task of its own, so a
/// panic fails that batch's callers (their reply channels drop) and not the writer.
pub(crate) fn spawn_writer<F, Fut>(mut receiver: WriteReceiver, commit: F)
where
    F: Fn(Vec<PendingWrite>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(batch) = receiver.next_batch().await {
            if let Err(error) = tokio::spawn(commit(batch)).await {
                tracing::error!(%error, "tracking writer batch panicked");
            }
        }
    });
}

/// Sends each caller its result. Results of calls that succeeded in a transaction that did
/// not commit are replaced by the commit's error.
pub(crate) fn answer(
    replies: Vec<oneshot::Sender<StoreResult<WriteOutcome>>>,
    results: Vec<StoreResult<WriteOutcome>>,
    commit: StoreResult<()>,
) {
    debug_assert_eq!(replies.len(), results.len());
    for (reply, result) in replies.into_iter().zip(results) {
        let result = match (&commit, result) {
            (Err(error), Ok(_)) => Err(copy_of(error)),
            (_, result) => result,
        };
        // A caller that gave up (its request was dropped) no longer listens.
        let _ = reply.send(result);
    }
}

/// Fails every call of a batch with the same (database) error.
pub(crate) fn fail_all(
    replies: Vec<oneshot::Sender<StoreResult<WriteOutcome>>>,
    error: &StoreError,
) {
    for reply in replies {
        let _ = reply.send(Err(copy_of(error)));
    }
}

/// A copy of a batch-wide error for each caller (`StoreError` is not `Clone`: its source
/// is boxed), keeping its kind and its message chain.
pub(crate) fn copy_of(error: &StoreError) -> StoreError {
    let text = one_line(error);
    match error {
        StoreError::Unavailable(_) => StoreError::Unavailable(text.into()),
        StoreError::NotFound { entity, id } => StoreError::NotFound {
            entity,
            id: id.clone(),
        },
        StoreError::AlreadyExists { entity, id } => StoreError::AlreadyExists {
            entity,
            id: id.clone(),
        },
        StoreError::Missing(message) => StoreError::Missing(message.clone()),
        StoreError::Conflict(message) => StoreError::Conflict(message.clone()),
        StoreError::InvalidArgument { field, reason } => StoreError::InvalidArgument {
            field,
            reason: reason.clone(),
        },
        StoreError::InvalidValue(message) => StoreError::InvalidValue(message.clone()),
        StoreError::Backend(_) => StoreError::Backend(text.into()),
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the tracking writer stopped before answering".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_write(run_id: &str) -> TrackingWrite {
        TrackingWrite::Log {
            project_id: "p".to_string(),
            run_id: run_id.to_string(),
            metrics: Vec::new(),
            params: Vec::new(),
            tags: Vec::new(),
            single_param: false,
        }
    }

    #[tokio::test]
    async fn a_batch_takes_what_waits_up_to_the_limit() {
        let (queue, mut receiver) = WriteQueue::new();
        let mut answers = Vec::new();
        for index in 0..MAX_CALLS_PER_COMMIT + 3 {
            let (reply, answer) = oneshot::channel();
            queue
                .sender
                .send(PendingWrite {
                    write: log_write(&index.to_string()),
                    reply,
                })
                .await
                .expect("queued");
            answers.push(answer);
        }
        let first = receiver.next_batch().await.expect("a batch");
        assert_eq!(first.len(), MAX_CALLS_PER_COMMIT);
        let second = receiver.next_batch().await.expect("a batch");
        assert_eq!(second.len(), 3);
        assert_eq!(
            queue.stats().snapshot(),
            (MAX_CALLS_PER_COMMIT as u64 + 3, 2)
        );
    }

    #[tokio::test]
    async fn a_failed_commit_fails_the_calls_that_had_succeeded() {
        let (replies, answers): (Vec<_>, Vec<_>) = (0..3).map(|_| oneshot::channel()).unzip();
        answer(
            replies,
            vec![
                Ok(WriteOutcome::Done),
                Err(StoreError::InvalidValue("param changed".to_string())),
                Ok(WriteOutcome::Done),
            ],
            Err(StoreError::Unavailable("disk gone".into())),
        );
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("answered"));
        }
        assert!(matches!(&results[0], Err(StoreError::Unavailable(_))));
        assert!(
            matches!(&results[1], Err(StoreError::InvalidValue(message)) if message == "param changed")
        );
        assert!(matches!(&results[2], Err(StoreError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_callers_and_the_writer_goes_on() {
        let (queue, receiver) = WriteQueue::new();
        spawn_writer(receiver, |batch: Vec<PendingWrite>| async move {
            let panics = batch
                .iter()
                .any(|pending| matches!(&pending.write, TrackingWrite::Log { run_id, .. } if run_id == "boom"));
            assert!(!panics, "a bug in a write");
            for pending in batch {
                let _ = pending.reply.send(Ok(WriteOutcome::Done));
            }
        });
        let failed = queue.submit(log_write("boom")).await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        queue
            .submit(log_write("fine"))
            .await
            .expect("the writer survived");
    }
}
