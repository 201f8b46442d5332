//! Snapshots of a working folder for `plinth jobs run`: a `.tar.gz` written to a temporary
//! file while its SHA-256 is computed, so the upload can be named by its digest.
//!
//! What goes in:
//! - every file under the folder except what `.gitignore` (also outside a git repository),
//!   `.git/info/exclude`, the global git excludes and `.plinthignore` files leave out
//!   (`.plinthignore` uses the `.gitignore` syntax and wins over it), and except `.git/`.
//!   Ignore files in folders above it count only inside a git repository, up to its top;
//! - folders (so empty ones exist in the job too), regular files with their modification
//!   time and executable bit (mode `755` or `644`; owners are not kept). A file still being
//!   written is taken at the size it had when the snapshot reached it;
//! - **symbolic links** are never followed outside the folder: a link to a file inside the
//!   folder is stored as a copy of that file (the server unpacks regular files and folders
//!   only), a link to a folder inside is skipped with a warning (no loops, no duplicates),
//!   a dangling link is skipped with a warning, and a link that points outside the folder
//!   refuses the whole snapshot, naming the link (add it to `.plinthignore` to leave it
//!   out). Sockets, pipes and devices are skipped.
//!
//! Entries are sorted by name and the gzip header carries no time, so the same files give
//! the same archive and the same SHA-256 (which lets the server skip a repeated upload).

use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

/// The name of Plinth's own ignore files.
pub const IGNORE_FILE_NAME: &str = ".plinthignore";

/// A finished snapshot in a temporary file (deleted when dropped).
#[derive(Debug)]
pub struct Snapshot {
    /// The archive.
    pub file: tempfile::NamedTempFile,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Regular files in it (links stored as copies included).
    pub files: u64,
    /// Their total size before compression.
    pub content_bytes: u64,
    /// What was left out and why, for people.
    pub warnings: Vec<String>,
}

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A symbolic link points outside the folder.
    #[error(
        "`{link}` is a symbolic link to `{target}`, outside `{root}`: it is not followed; \
         remove it or add it to .plinthignore"
    )]
    LinkOutside {
        /// The link, relative to the folder.
        link: String,
        /// Where it points.
        target: String,
        /// The folder.
        root: String,
    },
    /// `cancelled` turned true.
    #[error("interrupted")]
    Cancelled,
    /// Reading the folder or writing the archive failed.
    #[error("cannot snapshot `{path}`: {cause}")]
    Io {
        /// The file or folder concerned.
        path: String,
        /// Why.
        cause: String,
    },
}

fn io_error(path: &Path, error: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Io {
        path: path.display().to_string(),
        cause: error.to_string(),
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.hasher.update(&buffer[..written]);
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Snapshots `root` into a temporary `.tar.gz`; `progress(files, content_bytes)` is called
/// after each file, and the work stops (the file is deleted) once `cancelled` is true.
pub fn build(
    root: &Path,
    cancelled: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Snapshot, SnapshotError> {
    let root = fs_err::canonicalize(root).map_err(|error| io_error(root, error))?;
    if !fs_err::metadata(&root)
        .map_err(|error| io_error(&root, error))?
        .is_dir()
    {
        return Err(io_error(&root, "not a folder"));
    }
    let file = tempfile::Builder::new()
        .prefix("plinth-snapshot-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(|error| io_error(&std::env::temp_dir(), error))?;
    let temp_path = file.path().to_path_buf();
    let write_error = |error: std::io::Error| io_error(&temp_path, error);
    let hashing = HashingWriter {
        inner: BufWriter::with_capacity(
            256 * 1024,
            file.as_file().try_clone().map_err(write_error)?,
        ),
        hasher: Sha256::new(),
        written: 0,
    };
    let encoder = flate2::write::GzEncoder::new(hashing, flate2::Compression::fast());
    let mut archive = tar::Builder::new(encoder);
    archive.follow_symlinks(false);

    let mut files = 0_u64;
    let mut content_bytes = 0_u64;
    let mut warnings = Vec::new();
    for entry in walker(&root) {
        if cancelled.load(Ordering::Relaxed) {
            return Err(SnapshotError::Cancelled);
        }
        let entry = entry.map_err(|error| io_error(&root, error))?;
        let path = entry.path();
        let Some(relative) = relative_name(&root, path) else {
            continue; // the root itself
        };
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            let metadata = entry.metadata().map_err(|error| io_error(path, error))?;
            let mut header = header_for(&metadata, tar::EntryType::Directory, 0o755);
            archive
                .append_data(&mut header, format!("{relative}/"), std::io::empty())
                .map_err(write_error)?;
        } else if file_type.is_file() {
            let size = append_file(&mut archive, path, path, &relative)?;
            files += 1;
            content_bytes += size;
            progress(files, content_bytes);
        } else if file_type.is_symlink() {
            match resolve_link(&root, path, &relative)? {
                LinkTarget::File(target) => {
                    let size = append_file(&mut archive, &target, path, &relative)?;
                    files += 1;
                    content_bytes += size;
                    progress(files, content_bytes);
                }
                LinkTarget::Folder => warnings.push(format!(
                    "`{relative}` is a symbolic link to a folder: left out (links to folders are not followed)"
                )),
                LinkTarget::Dangling => {
                    warnings.push(format!("`{relative}` is a dangling symbolic link: left out"));
                }
            }
        }
        // Sockets, pipes and devices: nothing a job could use.
    }
    let encoder = archive.into_inner().map_err(write_error)?;
    let mut hashing = encoder.finish().map_err(write_error)?;
    hashing.flush().map_err(write_error)?;
    let sha256 = format!("{:x}", hashing.hasher.finalize());
    Ok(Snapshot {
        file,
        sha256,
        size: hashing.written,
        files,
        content_bytes,
        warnings,
    })
}

/// Walks `root` in name order with the ignore rules of the module documentation. Ignore
/// files above `root` apply only inside a git repository (up to its top, as git does):
/// outside one, a stray `~/.gitignore` must not empty the snapshot.
fn walker(root: &Path) -> ignore::Walk {
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .ignore(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(false)
        .parents(inside_git_repository(root))
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE_NAME)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build()
}

/// Returns whether `dir` or a folder above it has a `.git`.
fn inside_git_repository(dir: &Path) -> bool {
    dir.ancestors()
        .any(|ancestor| ancestor.join(".git").try_exists().unwrap_or(false))
}

/// Returns `path` relative to `root` with `/` separators; `None` for the root itself or a
/// name that is not UTF-8 (reported as an error by the caller would be kinder, but such
/// names cannot be named in a tar header portably either).
fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = relative
        .components()
        .map(|component| match component {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Where a symbolic link leads.
enum LinkTarget {
    /// A regular file inside the folder.
    File(PathBuf),
    /// A folder inside the folder.
    Folder,
    /// Nothing.
    Dangling,
}

fn resolve_link(root: &Path, link: &Path, relative: &str) -> Result<LinkTarget, SnapshotError> {
    let target = match fs_err::canonicalize(link) {
        Ok(target) => target,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LinkTarget::Dangling)
        }
        Err(error) => return Err(io_error(link, error)),
    };
    if !target.starts_with(root) {
        return Err(SnapshotError::LinkOutside {
            link: relative.to_string(),
            target: fs_err::read_link(link).map_or_else(
                |_| target.display().to_string(),
                |raw| raw.display().to_string(),
            ),
            root: root.display().to_string(),
        });
    }
    let metadata = fs_err::metadata(&target).map_err(|error| io_error(link, error))?;
    if metadata.is_dir() {
        Ok(LinkTarget::Folder)
    } else if metadata.is_file() {
        Ok(LinkTarget::File(target))
    } else {
        Ok(LinkTarget::Dangling)
    }
}

/// Appends the regular file at `source` under `name`; returns its size.
fn append_file<W: Write>(
    archive: &mut tar::Builder<W>,
    source: &Path,
    shown: &Path,
    name: &str,
) -> Result<u64, SnapshotError> {
    let mut file = fs_err::File::open(source).map_err(|error| io_error(shown, error))?;
    let metadata = file.metadata().map_err(|error| io_error(shown, error))?;
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o111 != 0
    };
    #[cfg(not(unix))]
    let executable = false;
    let mode = if executable { 0o755 } else { 0o644 };
    let mut header = header_for(&metadata, tar::EntryType::Regular, mode);
    header.set_size(metadata.len());
    // The header's size must be what follows it: a file still being written (a log)
    // is cut at the size it had, one that got shorter stops the snapshot.
    let mut exact = Exactly {
        inner: std::io::Read::take(&mut file, metadata.len()),
        remaining: metadata.len(),
    };
    archive
        .append_data(&mut header, name, &mut exact)
        .map_err(|error| io_error(shown, error))?;
    Ok(metadata.len())
}

/// Reads exactly `remaining` bytes: no more, and an error for fewer.
struct Exactly<R> {
    inner: std::io::Take<R>,
    remaining: u64,
}

impl<R: std::io::Read> std::io::Read for Exactly<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if read == 0 && self.remaining > 0 && !buffer.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was read; try again",
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

fn header_for(metadata: &std::fs::Metadata, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(0);
    let mtime = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs());
    header.set_mtime(mtime);
    header
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;

    /// Returns the archive's entries: name → content (`None` for folders).
    fn contents(snapshot: &Snapshot) -> BTreeMap<String, Option<String>> {
        let bytes = fs_err::read(snapshot.file.path()).unwrap();
        assert_eq!(bytes.len() as u64, snapshot.size);
        assert_eq!(format!("{:x}", Sha256::digest(&bytes)), snapshot.sha256);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut entries = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let kind = entry.header().entry_type();
            assert!(kind.is_file() || kind.is_dir(), "{name}: {kind:?}");
            let content = if kind.is_file() {
                let mut text = String::new();
                entry.read_to_string(&mut text).unwrap();
                Some(text)
            } else {
                None
            };
            entries.insert(name, content);
        }
        entries
    }

    fn write(root: &Path, name: &str, text: &str) {
        let path = root.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    fn no_progress() -> impl FnMut(u64, u64) {
        |_, _| {}
    }

    #[test]
    fn ignore_rules_leave_files_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "train.py", "print('hi')\n");
        write(root, "data/small.csv", "a,b\n");
        write(root, "data/big.bin", "xxxx");
        write(root, "secret.env", "TOKEN=1");
        write(root, "notes/todo.txt", "later");
        write(root, "build/out.o", "obj");
        write(root, "keep.log", "kept by a negation");
        write(root, "other.log", "ignored");
        write(root, ".gitignore", "secret.env\nbuild/\n*.log\n!keep.log\n");
        write(root, ".plinthignore", "data/big.bin\nnotes/\n");
        write(root, ".git/HEAD", "ref: refs/heads/main\n");
        write(root, "empty/.plinthignore", "*\n!.plinthignore\n");

        let mut calls = 0;
        let snapshot = build(root, &AtomicBool::new(false), &mut |_, _| calls += 1).unwrap();
        let entries = contents(&snapshot);
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                ".gitignore",
                ".plinthignore",
                "data/",
                "data/small.csv",
                "empty/",
                "empty/.plinthignore",
                "keep.log",
                "train.py"
            ]
        );
        assert_eq!(entries["train.py"].as_deref(), Some("print('hi')\n"));
        assert_eq!(snapshot.files, 6);
        assert_eq!(calls, 6);
        assert!(snapshot.warnings.is_empty(), "{:?}", snapshot.warnings);
    }

    #[test]
    fn the_same_files_give_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", "one");
        write(dir.path(), "sub/b.txt", "two");
        let first = build(dir.path(), &AtomicBool::new(false), &mut no_progress()).unwrap();
        let second = build(dir.path(), &AtomicBool::new(false), &mut no_progress()).unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(first.sha256.len(), 64);
        assert_ne!(first.file.path(), second.file.path());

        write(dir.path(), "sub/b.txt", "TWO");
        let changed = build(dir.path(), &AtomicBool::new(false), &mut no_progress()).unwrap();
        assert_ne!(changed.sha256, first.sha256);

        let cancelled = build(dir.path(), &AtomicBool::new(true), &mut no_progress());
        assert!(matches!(cancelled, Err(SnapshotError::Cancelled)));
    }

    #[cfg(unix)]
    #[test]
    fn links_are_copied_inside_and_refused_outside() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "passwords.txt", "hunter2");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "real/config.toml", "lr = 0.1\n");
        symlink("real/config.toml", root.join("config.toml")).unwrap();
        symlink("real", root.join("alias")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();

        let snapshot = build(root, &AtomicBool::new(false), &mut no_progress()).unwrap();
        let entries = contents(&snapshot);
        assert_eq!(entries["config.toml"].as_deref(), Some("lr = 0.1\n"));
        assert!(!entries.contains_key("alias") && !entries.contains_key("alias/"));
        assert!(!entries.contains_key("dangling"));
        assert_eq!(snapshot.warnings.len(), 2, "{:?}", snapshot.warnings);
        assert!(
            snapshot.warnings[0].contains("`alias`"),
            "{:?}",
            snapshot.warnings
        );

        let escape = root.join("escape.txt");
        symlink(outside.path().join("passwords.txt"), &escape).unwrap();
        let error = build(root, &AtomicBool::new(false), &mut no_progress())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("`escape.txt` is a symbolic link to `")
                && error.contains("outside")
                && error.contains(".plinthignore"),
            "{error}"
        );
        // A relative link climbing out is refused the same way.
        fs_err::remove_file(&escape).unwrap();
        let outside_name = outside.path().file_name().unwrap().to_str().unwrap();
        symlink(format!("../{outside_name}/passwords.txt"), root.join("up")).unwrap();
        let error = build(root, &AtomicBool::new(false), &mut no_progress()).unwrap_err();
        assert!(
            matches!(&error, SnapshotError::LinkOutside { link, .. } if link == "up"),
            "{error}"
        );
        // Ignored, it is not looked at.
        write(root, IGNORE_FILE_NAME, "up\n");
        let snapshot = build(root, &AtomicBool::new(false), &mut no_progress()).unwrap();
        assert!(!contents(&snapshot).contains_key("up"));
    }

    #[test]
    fn files_are_read_at_the_size_they_had() {
        let longer = Exactly {
            inner: std::io::Read::take(&b"0123456789"[..], 4),
            remaining: 4,
        };
        let mut text = String::new();
        std::io::Read::take(longer, 100)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "0123");
        let mut shorter = Exactly {
            inner: std::io::Read::take(&b"01"[..], 4),
            remaining: 4,
        };
        let error = shorter.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn ignore_files_above_the_folder_apply_only_inside_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".gitignore", "*\n");
        write(dir.path(), "project/train.py", "x");
        let project = dir.path().join("project");
        let names = |snapshot: &Snapshot| contents(snapshot).into_keys().collect::<Vec<_>>();
        let snapshot = build(&project, &AtomicBool::new(false), &mut no_progress()).unwrap();
        assert_eq!(names(&snapshot), ["train.py"]);
        // Inside a repository, as git would: the repository's .gitignore applies.
        fs_err::create_dir_all(dir.path().join(".git")).unwrap();
        let snapshot = build(&project, &AtomicBool::new(false), &mut no_progress()).unwrap();
        assert!(names(&snapshot).is_empty(), "{:?}", names(&snapshot));
    }

    #[cfg(unix)]
    #[test]
    fn the_executable_bit_is_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "run.sh", "#!/bin/sh\necho hi\n");
        fs_err::set_permissions(
            dir.path().join("run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        write(dir.path(), "data.txt", "x");
        let snapshot = build(dir.path(), &AtomicBool::new(false), &mut no_progress()).unwrap();
        let bytes = fs_err::read(snapshot.file.path()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let modes: BTreeMap<String, u32> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.path().unwrap().display().to_string(),
                    entry.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(modes["run.sh"], 0o755);
        assert_eq!(modes["data.txt"], 0o644);
    }
}
