//! `plinth artifacts list|download`: a run's artifacts, through the server's artifact proxy.
//!
//! A download walks the listing recursively, then streams each file to a temporary file
//! beside its destination and renames it into place, so a file is either whole or absent
//! and never held in memory. Every name the server lists is checked before it touches the
//! disk: one path segment, not `.` or `..`, no `/`, `\` or NUL, so nothing is written
//! outside the destination folder whatever the server answers. A progress bar (bytes of
//! the total the listing announced) shows on stderr when it is a terminal.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use futures::StreamExt;
use plinth_client::mlflow::FileInfo;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::output::{print_json, transfer_bar, Table};
use super::runs::get_run;
use super::tracking::{Tracking, TrackingArgs};
use super::units::format_bytes;
use super::{block_on, Session};
use crate::cli::Failure;

/// The scheme of artifact URIs the server proxies.
const PROXY_SCHEME: &str = "mlflow-artifacts:";

/// Flags and subcommands of `plinth artifacts`.
#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    #[command(flatten)]
    tracking: TrackingArgs,
    #[command(subcommand)]
    command: ArtifactsCommand,
}

#[derive(Debug, Subcommand)]
enum ArtifactsCommand {
    /// List a run's artifacts (one level; folders end with `/`).
    List {
        /// The run's id.
        run_id: String,
        /// A folder inside the run's artifacts [default: the top].
        path: Option<String>,
    },
    /// Download a run's artifacts (or one file or folder of them) into a folder.
    ///
    /// They land in DEST with their paths inside the run (`--dest out model` writes
    /// out/model/…), each file complete or not at all. Prints the local path.
    #[command(
        after_help = "Examples:\n  plinth artifacts download 3f2a… --dest out\n  plinth artifacts download 3f2a… model/MLmodel"
    )]
    Download {
        /// The run's id.
        run_id: String,
        /// A file or folder inside the run's artifacts [default: all of them].
        path: Option<String>,
        /// The folder to write into (created when missing).
        #[arg(long, short = 'd', default_value = ".", value_name = "DIR")]
        dest: PathBuf,
    },
}

/// Runs `plinth artifacts …`.
pub fn run(args: ArtifactsArgs) -> Result<(), Failure> {
    let json = args.tracking.remote.json;
    let session = Session::connect(&args.tracking.remote)?;
    block_on(async {
        let tracking = Tracking::open(session, &args.tracking.project).await?;
        match args.command {
            ArtifactsCommand::List { run_id, path } => {
                let path = path.as_deref().map(checked_path).transpose()?;
                let path = path.map(|segments| segments.join("/")).unwrap_or_default();
                get_run(&tracking, &run_id).await?;
                let listing = tracking
                    .api()
                    .list_run_artifacts(&run_id, &path)
                    .await
                    .map_err(|error| tracking.fail(error))?;
                if json {
                    return print_json(&listing.files);
                }
                let mut table = Table::new(&["PATH", "SIZE"]);
                for file in &listing.files {
                    table.row(listing_row(file));
                }
                let empty = if path.is_empty() {
                    format!("run `{run_id}` has no artifacts")
                } else {
                    format!("nothing under `{path}` in run `{run_id}`")
                };
                table.print(&empty);
                Ok(())
            }
            ArtifactsCommand::Download { run_id, path, dest } => {
                let sub = match path.as_deref() {
                    Some(path) => checked_path(path)?,
                    None => Vec::new(),
                };
                let run = get_run(&tracking, &run_id).await?;
                let root = proxy_root(&run.info.artifact_uri)?;
                let remote = join_remote(&root, &sub);
                let local = sub.iter().fold(dest.clone(), |path, part| path.join(part));
                let what = if sub.is_empty() {
                    format!("run `{run_id}`")
                } else {
                    format!("`{}` of run `{run_id}`", sub.join("/"))
                };
                let summary = download(&tracking, &remote, &local, &what).await?;
                report(&summary, json)
            }
        }
    })
}

/// A row of an artifact listing: path (folders with `/`) and size.
pub fn listing_row(file: &FileInfo) -> Vec<String> {
    if file.is_dir {
        vec![format!("{}/", file.path), "-".to_string()]
    } else {
        let size = file.file_size.map_or_else(|| "-".to_string(), format_bytes);
        vec![file.path.clone(), size]
    }
}

/// Splits a path given on the command line into checked segments (a trailing `/` is fine).
pub fn checked_path(path: &str) -> Result<Vec<String>, Failure> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('/') {
        return Err(Failure::runtime(format!(
            "artifact path `{path}` is absolute; name it relative to the run's artifacts"
        )));
    }
    trimmed
        .split('/')
        .map(|segment| {
            check_segment(segment)
                .map(|()| segment.to_string())
                .map_err(|reason| Failure::runtime(format!("artifact path `{path}`: {reason}")))
        })
        .collect()
}

/// Checks one path segment: something a file may be called inside a folder, and nothing
/// that leads out of it.
fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("an empty path segment".to_string());
    }
    if segment == "." || segment == ".." {
        return Err(format!("`{segment}` leads out of the folder"));
    }
    if segment.contains(['/', '\\', '\0']) {
        return Err(format!(
            "`{}` contains a slash, backslash or NUL",
            segment.escape_debug()
        ));
    }
    if Path::new(segment).is_absolute() || (cfg!(windows) && segment.contains(':')) {
        return Err(format!("`{segment}` is absolute"));
    }
    Ok(())
}

/// Returns the artifact proxy's path of an `mlflow-artifacts:` URI
/// (`mlflow-artifacts:/5/abc/artifacts` → `5/abc/artifacts`).
pub fn proxy_root(uri: &str) -> Result<String, Failure> {
    let refuse = |reason: &str| {
        Failure::runtime(format!(
            "cannot download from `{uri}`: {reason}; Plinth serves `{PROXY_SCHEME}/…` artifacts"
        ))
    };
    let Some(rest) = uri.strip_prefix(PROXY_SCHEME) else {
        return Err(refuse("not an artifact URI of this server"));
    };
    if rest.starts_with("//") {
        return Err(refuse("it names another host"));
    }
    let path = rest.trim_matches('/');
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        check_segment(segment).map_err(|reason| refuse(&reason))?;
    }
    Ok(path.to_string())
}

fn join_remote(root: &str, sub: &[String]) -> String {
    std::iter::once(root)
        .chain(sub.iter().map(String::as_str))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// One file to fetch.
#[derive(Debug)]
struct Planned {
    /// Its proxy path.
    remote: String,
    /// Where it goes.
    local: PathBuf,
    /// Its size, when listed.
    size: Option<u64>,
}

/// What a download wrote.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The local file or folder that holds it all.
    pub path: PathBuf,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Downloads the proxy path `remote` (a file or a folder, recursively) to `local` (the
/// file itself, or the folder that receives the folder's contents).
pub async fn download(
    tracking: &Tracking,
    remote: &str,
    local: &Path,
    what: &str,
) -> Result<Summary, Failure> {
    let plan = plan(tracking, remote, local, what).await?;
    let total: u64 = plan.iter().filter_map(|file| file.size).sum();
    let bar = transfer_bar("downloading", total);
    let mut bytes = 0;
    let result = async {
        for file in &plan {
            bar.set_message(
                file.remote
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
            bytes += fetch(tracking, file, &|count| bar.inc(count)).await?;
        }
        Ok::<_, Failure>(())
    }
    .await;
    bar.finish_and_clear();
    result?;
    Ok(Summary {
        path: local.to_path_buf(),
        files: plan.len(),
        bytes,
    })
}

fn report(summary: &Summary, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(summary);
    }
    eprintln!(
        "downloaded {} file{} ({})",
        summary.files,
        if summary.files == 1 { "" } else { "s" },
        format_bytes(summary.bytes)
    );
    println!("{}", summary.path.display());
    Ok(())
}

/// Lists what to fetch. A folder lists as its entries; an empty listing is a file (found
/// in its parent's listing), an empty folder, or nothing at all.
async fn plan(
    tracking: &Tracking,
    remote: &str,
    local: &Path,
    what: &str,
) -> Result<Vec<Planned>, Failure> {
    let api = tracking.api();
    let list = |path: String| async move {
        api.list_artifacts(&path)
            .await
            .map_err(|error| tracking.fail(error))
    };
    let top = list(remote.to_string()).await?;
    if top.is_empty() {
        let (parent, name) = remote.rsplit_once('/').unwrap_or(("", remote));
        let entry = if name.is_empty() {
            None
        } else {
            list(parent.to_string())
                .await?
                .into_iter()
                .find(|entry| entry.path == name)
        };
        return match entry {
            Some(entry) if !entry.is_dir => {
                if let Some(parent) = local.parent() {
                    create_dir(parent)?;
                }
                Ok(vec![Planned {
                remote: remote.to_string(),
                local: local.to_path_buf(),
                size: entry.file_size,
            }])
            }
            Some(_) => {
                create_dir(local)?;
                Ok(Vec::new())
            }
            None => Err(Failure::runtime(format!(
                "{what} has no artifacts there; `plinth artifacts list RUN_ID [PATH]` shows what it has"
            ))),
        };
    }
    create_dir(local)?;
    let mut files = Vec::new();
    let mut folders = vec![(remote.to_string(), local.to_path_buf(), top)];
    while let Some((folder, local_folder, entries)) = folders.pop() {
        for entry in entries {
            check_segment(&entry.path).map_err(|reason| {
                Failure::runtime(format!(
                    "the server listed `{}` in `{folder}`, which is not a safe file name ({reason}); nothing more was written",
                    entry.path.escape_debug()
                ))
            })?;
            let remote_path = format!("{folder}/{}", entry.path);
            let local_path = local_folder.join(&entry.path);
            if entry.is_dir {
                create_dir(&local_path)?;
                let entries = list(remote_path.clone()).await?;
                folders.push((remote_path, local_path, entries));
            } else {
                files.push(Planned {
                    remote: remote_path,
                    local: local_path,
                    size: entry.file_size,
                });
            }
        }
    }
    files.sort_by(|a, b| a.remote.cmp(&b.remote));
    Ok(files)
}

fn create_dir(path: &Path) -> Result<(), Failure> {
    fs_err::create_dir_all(path).map_err(|error| Failure::runtime(error.to_string()))
}

/// Streams one file into a temporary file beside its destination, checks its length,
/// and renames it into place. Returns the bytes written.
async fn fetch(
    tracking: &Tracking,
    file: &Planned,
    progress: &dyn Fn(u64),
) -> Result<u64, Failure> {
    let parent = file.local.parent().unwrap_or(Path::new("."));
    let cannot_write = |error: &dyn std::fmt::Display| {
        Failure::runtime(format!("cannot write `{}`: {error}", file.local.display()))
    };
    let (length, mut stream) = tracking
        .api()
        .download_artifact(&file.remote)
        .await
        .map_err(|error| tracking.fail(error))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".plinth-download-");
    // Temporary files are private (0600); a download gets what the umask gives new files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temporary = builder
        .tempfile_in(parent)
        .map_err(|error| cannot_write(&error))?;
    let mut writer = tokio::fs::File::from_std(
        temporary
            .as_file()
            .try_clone()
            .map_err(|error| cannot_write(&error))?,
    );
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            Failure::runtime(format!(
                "download of `{}` broke off after {written} bytes: {error}",
                file.remote
            ))
        })?;
        writer
            .write_all(&chunk)
            .await
            .map_err(|error| cannot_write(&error))?;
        written += chunk.len() as u64;
        progress(chunk.len() as u64);
    }
    writer.flush().await.map_err(|error| cannot_write(&error))?;
    drop(writer);
    if let Some(expected) = length.or(file.size) {
        if expected != written {
            return Err(Failure::runtime(format!(
                "download of `{}` ended after {written} of {expected} bytes",
                file.remote
            )));
        }
    }
    temporary
        .persist(&file.local)
        .map_err(|error| cannot_write(&error.error))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        assert_eq!(checked_path("model/MLmodel").unwrap(), ["model", "MLmodel"]);
        assert_eq!(checked_path("model/").unwrap(), ["model"]);
        assert!(checked_path("").unwrap().is_empty());
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?}");
        }
        for bad in ["..", ".", "", "a/b", "a\\b", "x\0"] {
            assert!(check_segment(bad).is_err(), "{bad:?}");
        }
        assert!(check_segment("model.pkl").is_ok());
        assert!(check_segment("..hidden").is_ok());
    }

    #[test]
    fn only_proxied_artifact_uris_are_downloaded() {
        assert_eq!(
            proxy_root("mlflow-artifacts:/5/abc/artifacts").unwrap(),
            "5/abc/artifacts"
        );
        assert_eq!(proxy_root("mlflow-artifacts:/").unwrap(), "");
        for bad in [
            "s3://bucket/x",
            "file:///etc",
            "mlflow-artifacts://evil.example/5",
            "mlflow-artifacts:/5/../../x",
        ] {
            assert!(proxy_root(bad).is_err(), "{bad}");
        }
        assert_eq!(
            join_remote("5/abc/artifacts", &["m".into(), "f".into()]),
            "5/abc/artifacts/m/f"
        );
        assert_eq!(join_remote("", &["m".into()]), "m");
    }
}
