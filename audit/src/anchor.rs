//! Anchors: copies of a log's signed checkpoints kept outside the log's host,
//! so that a verifier detects truncation and rollback from them alone, and a
//! silent gap (no new checkpoint for too long) shows (SECURITY.md §8).
//!
//! An anchor is named by a URL: an S3-compatible bucket (`s3://BUCKET/PREFIX?...`,
//! [`s3`]), or a directory (`file:///path` or an
//! absolute path), meant to be on another machine (a network mount the host
//! can create files in but not change: the anchor itself never replaces or
//! removes a file). Layout: `<anchor>/<log id hex>/<size, 20 digits>.note`, one
//! checkpoint note per size, created once (mode 0444) by a hard link from a
//! complete, fsynced temporary file. An S3 anchor uses the same layout for its
//! object keys below its prefix (see [`s3`] for how it creates them once).
//!
//! Guarantees: [`Anchor::push`] never changes an existing note; a different
//! note for a size already anchored is refused ([`AnchorError::Conflict`]: two
//! signed heads for one size is evidence of a fork, kept as it is);
//! [`Anchor::latest`] returns the largest anchored size whose note parses and
//! names the log, and reports notes that do not ([`Anchor::notes`]: all of them).

use crate::checkpoint::SignedCheckpoint;
use crate::keys::hex;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

pub mod s3;
pub use s3::S3Anchor;

/// Where checkpoints are anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A directory (ideally on another machine).
    Dir(PathBuf),
    /// Objects in an S3-compatible bucket.
    S3(S3Anchor),
}

/// Why an anchor cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// Not an anchor URL this version knows.
    #[error(
        "anchor {0:?}: want s3://BUCKET[/PREFIX][?endpoint=URL&region=R&lock=MODE&retain=DAYS], file:///absolute/path or an absolute directory"
    )]
    Url(String),
    /// The S3 server refused or failed a request.
    #[error("anchor {url}: {reason}")]
    S3 {
        /// The anchor.
        url: String,
        /// What failed, with the server's error code.
        reason: String,
    },
    /// The S3 server could not be reached (no answer at all).
    #[error("anchor {url}: unreachable: {reason}")]
    Unreachable {
        /// The anchor.
        url: String,
        /// The transport error.
        reason: String,
    },
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
        if let Some(s3) = S3Anchor::parse(url) {
            return s3.map(Anchor::S3);
        }
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
            Anchor::S3(s) => s.url(),
        }
    }

    /// Anchor the signed checkpoint `note`.
    pub fn push(&self, note: &str) -> Result<Pushed, AnchorError> {
        let c = SignedCheckpoint::parse(note)?;
        let dir = match self {
            Anchor::Dir(p) => p.join(hex(&c.checkpoint.log_id)),
            Anchor::S3(s) => return push_s3(s, note, &c),
        };
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
            Ok(b) => same_or_conflict(path, &b, note, size).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path, e)),
        }
    }

    /// The largest usable note anchored for `log_id` (what `verify --anchor`
    /// needs: for S3 it reads notes from the largest size down, not all).
    pub fn latest(&self, log_id: &[u8; 16]) -> Result<Latest, AnchorError> {
        match self {
            Anchor::S3(s) => latest_s3(s, log_id),
            Anchor::Dir(_) => {
                let (mut good, bad) = self.notes(log_id)?;
                Ok(Latest { count: good.len(), note: good.pop(), bad })
            }
        }
    }

    /// Every note anchored for `log_id`, by size, and the files that are not
    /// usable notes of that log.
    pub fn notes(&self, log_id: &[u8; 16]) -> Result<(Vec<SignedCheckpoint>, Vec<BadNote>), AnchorError> {
        let dir = match self {
            Anchor::Dir(p) => p.join(hex(log_id)),
            Anchor::S3(s) => return notes_s3(s, log_id),
        };
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
            judge_note(&text, log_id, size, path, &mut good, &mut bad);
        }
        good.sort_by_key(|c| c.checkpoint.size);
        Ok((good, bad))
    }
}

/// `Already` if `there` (the bytes anchored at `path`) is `note` or the same
/// head signed again later (another time line: not a fork), else a conflict.
fn same_or_conflict(path: &Path, there: &[u8], note: &str, size: u64) -> Result<Pushed, AnchorError> {
    if there == note.as_bytes() {
        return Ok(Pushed::Already);
    }
    match SignedCheckpoint::parse(&String::from_utf8_lossy(there)) {
        Ok(t) if t.checkpoint.head == SignedCheckpoint::parse(note)?.checkpoint.head => Ok(Pushed::Already),
        _ => Err(AnchorError::Conflict { path: path.to_path_buf(), size }),
    }
}

/// Sort one anchored note into the usable and the unusable.
fn judge_note(
    text: &str,
    log_id: &[u8; 16],
    size: u64,
    path: PathBuf,
    good: &mut Vec<SignedCheckpoint>,
    bad: &mut Vec<BadNote>,
) {
    match SignedCheckpoint::parse(text) {
        Ok(c) if c.checkpoint.log_id == *log_id && c.checkpoint.size == size => good.push(c),
        Ok(_) => bad.push(BadNote { path, reason: "names another log or size than its file name".into() }),
        Err(err) => bad.push(BadNote { path, reason: err.to_string() }),
    }
}

/// Read, conditional put, read back (the guarantees are in [`s3`]).
fn push_s3(s: &S3Anchor, note: &str, c: &SignedCheckpoint) -> Result<Pushed, AnchorError> {
    let key = format!("{}{:020}.note", s.log_prefix(&hex(&c.checkpoint.log_id)), c.checkpoint.size);
    let shown = PathBuf::from(s.object_url(&key));
    let size = c.checkpoint.size;
    if let Some(there) = s.get(&key)? {
        return same_or_conflict(&shown, &there, note, size);
    }
    let wrote = s.put_new(&key, note.as_bytes())?;
    // Read back: a server that ignored If-None-Match, or a writer that won a
    // race, shows here.
    match s.get(&key)? {
        Some(there) => match same_or_conflict(&shown, &there, note, size)? {
            Pushed::Already if wrote && there == note.as_bytes() => Ok(Pushed::New),
            p => Ok(p),
        },
        None => Err(AnchorError::S3 { url: s.url(), reason: format!("{key}: written, then not found") }),
    }
}

/// A note the bucket lists: its size, key and (in a locked bucket) version.
struct Listed {
    size: u64,
    key: String,
    version: Option<String>,
}

/// The notes under the log's prefix in the bucket, by size, and what the
/// listing alone shows is not a note. In a bucket with object lock
/// (versioned) every version is listed: the first version of a key is its
/// note; a later version or a delete marker (what a host with write access can
/// add, never remove under COMPLIANCE) is reported and never trusted.
fn list_s3(s: &S3Anchor, log_id: &[u8; 16]) -> Result<(Vec<Listed>, Vec<BadNote>), AnchorError> {
    let prefix = s.log_prefix(&hex(log_id));
    let size_of =
        |key: &str| key.strip_prefix(&prefix).and_then(|n| n.strip_suffix(".note")).and_then(|n| n.parse::<u64>().ok());
    let (mut listed, mut bad) = (Vec::new(), Vec::new());
    if s.object_lock_enabled()? {
        let mut versions = s.list_versions(&prefix)?;
        // Newest first per key in the listing: the original is the last one.
        versions.reverse();
        let mut seen = std::collections::HashSet::new();
        for v in versions {
            let Some(size) = size_of(&v.key) else { continue };
            let path = PathBuf::from(format!("{} (version {})", s.object_url(&v.key), v.version_id));
            if v.delete_marker {
                bad.push(BadNote {
                    path,
                    reason: "a delete marker hides this note (the locked note is still read)".into(),
                });
            } else if !seen.insert(v.key.clone()) {
                bad.push(BadNote {
                    path,
                    reason: "a later version of an anchored note (the note was overwritten; the first version is used)"
                        .into(),
                });
            } else {
                listed.push(Listed { size, key: v.key, version: Some(v.version_id) });
            }
        }
    } else {
        for key in s.list(&prefix)? {
            if let Some(size) = size_of(&key) {
                listed.push(Listed { size, key, version: None });
            }
        }
    }
    listed.sort_by_key(|l| l.size);
    Ok((listed, bad))
}

/// Read one listed note into the usable or the unusable.
fn read_s3(
    s: &S3Anchor,
    l: &Listed,
    log_id: &[u8; 16],
    good: &mut Vec<SignedCheckpoint>,
    bad: &mut Vec<BadNote>,
) -> Result<(), AnchorError> {
    let (body, path) = match &l.version {
        Some(v) => (s.get_version(&l.key, v)?, PathBuf::from(format!("{} (version {v})", s.object_url(&l.key)))),
        None => (s.get(&l.key)?, PathBuf::from(s.object_url(&l.key))),
    };
    match body {
        Some(b) => judge_note(&String::from_utf8_lossy(&b), log_id, l.size, path, good, bad),
        None => bad.push(BadNote { path, reason: "listed but not found".into() }),
    }
    Ok(())
}

/// Every note in the bucket (one GET per note).
fn notes_s3(s: &S3Anchor, log_id: &[u8; 16]) -> Result<(Vec<SignedCheckpoint>, Vec<BadNote>), AnchorError> {
    let (listed, mut bad) = list_s3(s, log_id)?;
    let mut good = Vec::new();
    for l in &listed {
        read_s3(s, l, log_id, &mut good, &mut bad)?;
    }
    Ok((good, bad))
}

/// The usable note with the largest size: read from the largest down until
/// one is usable (the smaller ones are counted, not read).
fn latest_s3(s: &S3Anchor, log_id: &[u8; 16]) -> Result<Latest, AnchorError> {
    let (listed, mut bad) = list_s3(s, log_id)?;
    let mut good = Vec::new();
    for l in listed.iter().rev() {
        read_s3(s, l, log_id, &mut good, &mut bad)?;
        if !good.is_empty() {
            break;
        }
    }
    Ok(Latest { note: good.pop(), count: listed.len(), bad })
}

/// The newest usable anchored note of a log.
#[derive(Debug)]
pub struct Latest {
    /// The usable note with the largest size.
    pub note: Option<SignedCheckpoint>,
    /// Notes anchored for the log (for S3: listed, not all read).
    pub count: usize,
    /// Unusable notes met on the way, and what the listing shows is not a note.
    pub bad: Vec<BadNote>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::AuditKey;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn note(size: u64, head: u8, time_us: u64) -> String {
        Checkpoint { log_id: [7; 16], size, head: [head; 32], time_us, root: None }.sign(&AuditKey::from_seed([1; 32]))
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
        assert!(matches!(Anchor::parse("s3://bucket"), Ok(Anchor::S3(_))));
        assert!(Anchor::parse("http://bucket").is_err());
        assert!(Anchor::parse("").is_err());
        assert_eq!(Anchor::parse("/x").ok(), Some(Anchor::Dir("/x".into())));
        assert_eq!(Anchor::parse_list("/a, file:///b").map(|v| v.len()).ok(), Some(2));
    }
}
