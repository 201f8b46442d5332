//! Reading a workload's log file: from an offset, the last lines, following.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use crate::{ExecError, ExecResult, LogOptions, WorkloadStatus};

/// How long a follower waits for news before reading again anyway: a safety net under
/// inotify, and the polling interval where inotify is unavailable.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);
const FOLLOW_FALLBACK: Duration = Duration::from_millis(500);
/// How much is read at once.
const CHUNK: usize = 64 * 1024;

/// Returns the offset where the last `lines` lines of `reader` start. A final newline ends
/// the last line rather than starting an empty one, as `tail -n` counts.
pub(super) fn tail_start<R: Read + Seek>(reader: &mut R, lines: u32) -> std::io::Result<u64> {
    let end = reader.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok(end);
    }
    let mut buffer = vec![0u8; 8 * 1024];
    let mut position = end;
    let mut newlines = 0;
    while position > 0 {
        let length = buffer
            .len()
            .min(usize::try_from(position).unwrap_or(usize::MAX));
        position -= length as u64;
        reader.seek(SeekFrom::Start(position))?;
        reader.read_exact(&mut buffer[..length])?;
        for (index, byte) in buffer[..length].iter().enumerate().rev() {
            let offset = position + index as u64;
            if *byte != b'\n' || offset + 1 == end {
                continue;
            }
            newlines += 1;
            if newlines == lines {
                return Ok(offset + 1);
            }
        }
    }
    Ok(0)
}

/// Streams the log at `path` as `options` asks; a followed stream ends once `status` is
/// finished and everything written before is sent.
pub(super) fn stream_log(
    path: &std::path::Path,
    options: LogOptions,
    status: watch::Receiver<WorkloadStatus>,
) -> ExecResult<BoxStream<'static, ExecResult<Bytes>>> {
    let backend = |error: std::io::Error| ExecError::Backend(Box::new(error));
    let mut file = fs_err::File::open(path).map_err(backend)?;
    let mut start = options.from_offset;
    if let Some(lines) = options.tail_lines {
        start = start.max(tail_start(&mut file, lines).map_err(backend)?);
    }
    file.seek(SeekFrom::Start(start)).map_err(backend)?;
    let (file, _) = file.into_parts();
    let file = tokio::fs::File::from_std(file);
    let follow = options.follow;
    let waker = if follow {
        LogWaker::new(path, status)
    } else {
        LogWaker::none(status)
    };
    let stream = stream::unfold(
        (file, waker, false),
        move |(mut file, mut waker, done)| async move {
            if done {
                return None;
            }
            loop {
                // Read after checking: a read finding nothing once the workload has ended
                // means everything it wrote has been sent.
                let finished = waker.status.borrow().is_finished();
                let mut buffer = vec![0u8; CHUNK];
                match file.read(&mut buffer).await {
                    Ok(0) if !follow || finished => return None,
                    Ok(0) => waker.wait().await,
                    Ok(read) => {
                        buffer.truncate(read);
                        return Some((Ok(Bytes::from(buffer)), (file, waker, false)));
                    }
                    Err(error) => {
                        return Some((
                            Err(ExecError::Backend(Box::new(error))),
                            (file, waker, true),
                        ))
                    }
                }
            }
        },
    );
    Ok(stream.boxed())
}

/// Wakes a log's follower as soon as the file is written (inotify through `notify`, so a
/// job's first line reaches its user at once rather than at the next poll) or the
/// workload's status changes; polls where no watch can be set.
struct LogWaker {
    /// The watch (dropping it stops its thread) and its events.
    written: Option<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<()>)>,
    status: watch::Receiver<WorkloadStatus>,
    /// Whether `status` can still change (its sender is alive).
    status_open: bool,
}

impl LogWaker {
    fn new(path: &std::path::Path, status: watch::Receiver<WorkloadStatus>) -> Self {
        use notify::Watcher;
        let (sender, receiver) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|event| event.kind.is_modify() || event.kind.is_access()) {
                let _ = sender.send(());
            }
        })
        .and_then(|mut watcher| {
            watcher.watch(path, notify::RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        LogWaker {
            written: watcher.ok().map(|watcher| (watcher, receiver)),
            status,
            status_open: true,
        }
    }

    fn none(status: watch::Receiver<WorkloadStatus>) -> Self {
        LogWaker {
            written: None,
            status,
            status_open: true,
        }
    }

    /// Returns once there may be news: the file was written, the status changed, or the
    /// fallback interval passed.
    async fn wait(&mut self) {
        let interval = if self.written.is_some() {
            FOLLOW_FALLBACK
        } else {
            FOLLOW_INTERVAL
        };
        let written = async {
            match &mut self.written {
                Some((_, events)) => {
                    if events.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                    // Take what else came: only that something happened matters.
                    while events.try_recv().is_ok() {}
                }
                None => std::future::pending().await,
            }
        };
        let status = &mut self.status;
        let status_open = &mut self.status_open;
        let changed = async {
            if *status_open && status.changed().await.is_err() {
                *status_open = false;
            }
            if !*status_open {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = written => {}
            () = changed => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
