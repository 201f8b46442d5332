//! Reading a workload's log file: from an offset, the last lines, following.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::{ExecError, ExecResult, LogOptions, WorkloadStatus};

/// How often a followed log is polled for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);
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
    let stream = stream::unfold(
        (file, status, false),
        move |(mut file, status, done)| async move {
            if done {
                return None;
            }
            loop {
                // Read after checking: a read finding nothing once the workload has ended
                // means everything it wrote has been sent.
                let finished = status.borrow().is_finished();
                let mut buffer = vec![0u8; CHUNK];
                match file.read(&mut buffer).await {
                    Ok(0) if !follow || finished => return None,
                    Ok(0) => tokio::time::sleep(FOLLOW_INTERVAL).await,
                    Ok(read) => {
                        buffer.truncate(read);
                        return Some((Ok(Bytes::from(buffer)), (file, status, false)));
                    }
                    Err(error) => {
                        return Some((
                            Err(ExecError::Backend(Box::new(error))),
                            (file, status, true),
                        ))
                    }
                }
            }
        },
    );
    Ok(stream.boxed())
}
