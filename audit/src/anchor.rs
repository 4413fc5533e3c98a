//! Anchors: copies of a log's signed checkpoints kept outside the log's host,
//! so that a verifier detects truncation and rollback from them alone, and a
//! silent gap (no new checkpoint for too long) shows (SECURITY.md §8).
//!
//! An anchor is named by a URL. Implemented: a directory (`file:///path` or an
//! absolute path), meant to be on another machine (a network mount the host
//! can create files in but not change: the anchor itself never replaces or
//! removes a file). Layout: `<anchor>/<log id hex>/<size, 20 digits>.note`, one
//! checkpoint note per size, created once (mode 0444) by a hard link from a
//! complete, fsynced temporary file.
//!
//! Guarantees: [`Anchor::push`] never changes an existing note; a different
//! note for a size already anchored is refused ([`AnchorError::Conflict`]: two
//! signed heads for one size is evidence of a fork, kept as it is);
//! [`Anchor::latest`] returns the largest anchored size whose note parses and
//! names the log, and reports notes that do not.

use crate::checkpoint::SignedCheckpoint;
use crate::keys::hex;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Where checkpoints are anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A directory (ideally on another machine).
    Dir(PathBuf),
}

/// Why an anchor cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// Not an anchor URL this version knows.
    #[error("anchor {0:?}: want file:///absolute/path or an absolute directory")]
    Url(String),
    /// A file operation failed.
    #[error("anchor {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The anchor already holds a different checkpoint of the same size.
    #[error(
        "anchor {}: holds a different checkpoint of {size} records (two signed heads for one size: the log was forked or rewritten); the anchored note is kept as evidence",
        path.display()
    )]
    Conflict {
        /// The anchored note.
        path: PathBuf,
        /// The size both notes claim.
        size: u64,
    },
    /// What was to be anchored is not a checkpoint note.
    #[error("not a checkpoint note: {0}")]
    Note(#[from] crate::checkpoint::NoteError),
}

fn io(path: &Path, source: std::io::Error) -> AnchorError {
    AnchorError::Io { path: path.to_path_buf(), source }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The note is anchored now.
    New,
    /// The same note was anchored already.
    Already,
}

/// An anchored note that is not usable (reported, never trusted).
#[derive(Debug, Clone)]
pub struct BadNote {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl Anchor {
    /// Parse an anchor URL.
    pub fn parse(url: &str) -> Result<Anchor, AnchorError> {
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.is_empty() || !Path::new(path).is_absolute() || url.contains("://") && !url.starts_with("file://") {
            return Err(AnchorError::Url(url.to_string()));
        }
        Ok(Anchor::Dir(PathBuf::from(path)))
    }

    /// Anchors from a list separated by commas (`ORCHESTRA_AUDIT_ANCHOR`).
    pub fn parse_list(list: &str) -> Result<Vec<Anchor>, AnchorError> {
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Anchor::parse).collect()
    }

    /// The anchor as a URL.
    pub fn url(&self) -> String {
        match self {
            Anchor::Dir(p) => format!("file://{}", p.display()),
        }
    }

    fn log_dir(&self, log_id: &[u8; 16]) -> PathBuf {
        match self {
            Anchor::Dir(p) => p.join(hex(log_id)),
        }
    }

    /// Anchor the signed checkpoint `note`.
    pub fn push(&self, note: &str) -> Result<Pushed, AnchorError> {
        let c = SignedCheckpoint::parse(note)?;
        let dir = self.log_dir(&c.checkpoint.log_id);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let path = dir.join(format!("{:020}.note", c.checkpoint.size));
        if let Some(p) = self.same_or_conflict(&path, note, c.checkpoint.size)? {
            return Ok(p);
        }
        let tmp = dir.join(format!(".{:020}.note.tmp.{}", c.checkpoint.size, std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(&tmp).map_err(|e| io(&tmp, e))?;
        let written = f.write_all(note.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(&tmp, e));
        drop(f);
        let linked = written.and_then(|()| match std::fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(None),
            // Another writer anchored this size first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.same_or_conflict(&path, note, c.checkpoint.size)
            }
            Err(e) => Err(io(&path, e)),
        });
        let _ = std::fs::remove_file(&tmp);
        match linked? {
            Some(p) => Ok(p),
            None => {
                std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io(&dir, e))?;
                Ok(Pushed::New)
            }
        }
    }

    /// `Some(Already)` if `path` holds `note`, a conflict if it holds another,
    /// `None` if it does not exist.
    fn same_or_conflict(&self, path: &Path, note: &str, size: u64) -> Result<Option<Pushed>, AnchorError> {
        match std::fs::read(path) {
            Ok(b) if b == note.as_bytes() => Ok(Some(Pushed::Already)),
            Ok(b) => match SignedCheckpoint::parse(&String::from_utf8_lossy(&b)) {
                // The same head signed again later (another time line): not a fork.
                Ok(there) if there.checkpoint.head == SignedCheckpoint::parse(note)?.checkpoint.head => {
                    Ok(Some(Pushed::Already))
                }
                _ => Err(AnchorError::Conflict { path: path.to_path_buf(), size }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path, e)),
        }
    }

    /// Every note anchored for `log_id`, by size, and the files that are not
    /// usable notes of that log.
    pub fn notes(&self, log_id: &[u8; 16]) -> Result<(Vec<SignedCheckpoint>, Vec<BadNote>), AnchorError> {
        let dir = self.log_dir(log_id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(io(&dir, e)),
        };
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(size) = name.strip_suffix(".note").and_then(|n| n.parse::<u64>().ok()) else { continue };
            let path = e.path();
            let text = match std::fs::read(&path) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(err) => {
                    bad.push(BadNote { path, reason: err.to_string() });
                    continue;
                }
            };
            match SignedCheckpoint::parse(&text) {
                Ok(c) if c.checkpoint.log_id == *log_id && c.checkpoint.size == size => good.push(c),
                Ok(_) => bad.push(BadNote { path, reason: "names another log or size than its file name".into() }),
                Err(err) => bad.push(BadNote { path, reason: err.to_string() }),
            }
        }
        good.sort_by_key(|c| c.checkpoint.size);
        Ok((good, bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::AuditKey;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn note(size: u64, head: u8, time_us: u64) -> String {
        Checkpoint { log_id: [7; 16], size, head: [head; 32], time_us }.sign(&AuditKey::from_seed([1; 32]))
    }

    #[test]
    fn notes_are_anchored_once_and_a_second_head_for_a_size_is_a_conflict() -> R {
        let d = tempfile::tempdir()?;
        let a = Anchor::parse(&format!("file://{}", d.path().display()))?;
        assert_eq!(a.push(&note(3, 1, 10))?, Pushed::New);
        assert_eq!(a.push(&note(3, 1, 10))?, Pushed::Already);
        assert_eq!(a.push(&note(3, 1, 99))?, Pushed::Already, "same head, later time");
        assert!(matches!(a.push(&note(3, 2, 10)), Err(AnchorError::Conflict { size: 3, .. })));
        assert_eq!(a.push(&note(9, 4, 20))?, Pushed::New);
        let (good, bad) = a.notes(&[7; 16])?;
        assert_eq!(good.iter().map(|c| c.checkpoint.size).collect::<Vec<_>>(), vec![3, 9]);
        assert!(bad.is_empty());
        assert_eq!(good[0].checkpoint.head, [1; 32], "the first anchored head is kept");
        Ok(())
    }

    #[test]
    fn only_absolute_directories_are_anchors() {
        assert!(Anchor::parse("relative/dir").is_err());
        assert!(Anchor::parse("s3://bucket").is_err());
        assert!(Anchor::parse("").is_err());
        assert_eq!(Anchor::parse("/x").ok(), Some(Anchor::Dir("/x".into())));
        assert_eq!(Anchor::parse_list("/a, file:///b").map(|v| v.len()).ok(), Some(2));
    }
}
