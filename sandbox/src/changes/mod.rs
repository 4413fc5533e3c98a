//! What a task changed in its workspace: added, modified and deleted entries
//! with sizes and SHA-256, bounded and summarised (issue 20, item 2).
//!
//! [`Snapshot::take`] records `(kind, mode, size, mtime, ctime, inode)` of every
//! entry below the workspace before the task; [`Snapshot::compare`] walks it
//! again afterwards and reports what differs. What this guarantees:
//!
//! - **No link is followed, nothing but regular files and directories is
//!   opened** (see [`walk`]); a changed symbolic link is reported with its
//!   target text, read with `readlinkat`. A FIFO, socket or device is reported
//!   by its `lstat` alone. Files are hashed through `openat(O_NOFOLLOW |
//!   O_NONBLOCK)` relative to their directory's descriptor and only when
//!   `fstat` of the opened descriptor shows the same regular file the walk saw.
//! - **Only what changed is hashed**, and only what is listed: the first
//!   [`Settings::max_listed`] changes in path order. A file over
//!   [`Settings::hash_max_file`] bytes, or past the total of
//!   [`Settings::hash_max_total`], is listed without `sha256` and says why
//!   (`unhashed`). The hash of a modified file is its content *after* the task;
//!   the content before is not known (the snapshot holds metadata only, so that
//!   a large workspace costs two metadata walks, not a read of every file).
//! - **Bounded**: each walk stops at [`Settings::bounds`] (entries, depth,
//!   time); then the diff is **skipped**, and the report says why
//!   ([`WorkspaceChanges::skipped`]). At most `max_listed` changes are listed;
//!   the counts and byte totals always cover all of them, and
//!   [`WorkspaceChanges::truncated`] says when the list is cut.
//! - A modification is any difference in kind, size, mtime, ctime, inode or
//!   mode; a directory counts as modified only when its kind or mode changed
//!   (its contents are compared entry by entry).
//! - `.orchestra/` and `runs/` at the top of the workspace, and any protected
//!   path inside it (the audit log, the run store), are not walked
//!   ([`exclusions`]). Other filesystems mounted inside are listed, not entered.
//! - A directory that cannot be read after the task (its mode taken away) is
//!   listed in [`WorkspaceChanges::unreadable`]; what it held is neither
//!   counted as deleted nor compared.

pub mod walk;

mod hash;

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use walk::{Bounds, Entry, Visitor, WalkError};

/// Changes listed in a report, at most.
pub const MAX_LISTED: usize = 1000;

/// The metadata one entry is compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime`, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// `st_ctime`, seconds and nanoseconds.
    pub ctime: (i64, i64),
    /// `st_ino`.
    pub ino: u64,
}

/// What kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A named pipe (never opened).
    Fifo,
    /// A socket (never opened).
    Socket,
    /// A character device (never opened).
    CharDevice,
    /// A block device (never opened).
    BlockDevice,
    /// Anything else.
    Other,
}

/// How an entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Not there before.
    Added,
    /// There before and after, different.
    Modified,
    /// There before, not after.
    Deleted,
}

impl ChangeKind {
    /// `added`, `modified`, `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One listed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Path relative to the workspace (bytes that are not UTF-8 as `\xNN`).
    pub path: String,
    /// How it changed.
    pub change: ChangeKind,
    /// What it is (for a deleted entry: what it was).
    pub kind: EntryKind,
    /// What it was, when a modification changed its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_kind: Option<EntryKind>,
    /// Size after the task (absent when deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Size before the task (modified and deleted entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    /// Permission bits after the task, octal (absent when deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Permission bits before, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_mode: Option<String>,
    /// SHA-256 of a regular file's content after the task, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why a regular file has no `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhashed: Option<String>,
    /// A symbolic link's target text after the task (never followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// How many entries changed one way, and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Entries (of any kind).
    pub entries: u64,
    /// Bytes of the regular files among them (added: their size; modified:
    /// their size after; deleted: their size before).
    pub bytes: u64,
}

/// The workspace diff of one task, as its report carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceChanges {
    /// Why there is no diff (turned off, a walk bound crossed): then the
    /// counts are zero and nothing is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Entries added.
    pub added: Tally,
    /// Entries modified.
    pub modified: Tally,
    /// Entries deleted.
    pub deleted: Tally,
    /// The first changes in path order, at most `max_listed`.
    pub entries: Vec<Change>,
    /// Whether more changed than `entries` lists.
    pub truncated: bool,
    /// The most changes listed.
    pub max_listed: usize,
    /// Directories that could not be read after the task (contents not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Entries examined by the walk after the task.
    pub walked: u64,
    /// Time both walks and the hashing took, ms.
    pub took_ms: u64,
}

impl WorkspaceChanges {
    /// A diff that was not made, and why.
    pub fn skipped(reason: impl Into<String>, took: Duration) -> WorkspaceChanges {
        WorkspaceChanges { skipped: Some(reason.into()), took_ms: millis(took), ..WorkspaceChanges::default() }
    }

    /// The counts alone (for run reports and CI outputs).
    pub fn counts(&self) -> ChangeCounts {
        ChangeCounts {
            skipped: self.skipped.clone(),
            added: self.added,
            modified: self.modified,
            deleted: self.deleted,
            truncated: self.truncated,
        }
    }

    /// All changes, listed or not.
    pub fn total(&self) -> u64 {
        self.added.entries + self.modified.entries + self.deleted.entries
    }

    /// One line for people: `3 added, 1 modified, 1 deleted (12 B, 5 B, 3 B)`,
    /// `no changes`, or `not computed: <why>`.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("not computed: {why}");
        }
        if self.total() == 0 {
            return "no changes".into();
        }
        let mut s = format!(
            "{} added, {} modified, {} deleted ({} B added, {} B modified, {} B deleted)",
            self.added.entries,
            self.modified.entries,
            self.deleted.entries,
            self.added.bytes,
            self.modified.bytes,
            self.deleted.bytes
        );
        if self.truncated {
            s.push_str(&format!("; first {} listed", self.entries.len()));
        }
        s
    }
}

/// The counts of a [`WorkspaceChanges`], without the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Why there is no diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Entries added.
    pub added: Tally,
    /// Entries modified.
    pub modified: Tally,
    /// Entries deleted.
    pub deleted: Tally,
    /// Whether the task's report lists only some of them.
    pub truncated: bool,
}

impl ChangeCounts {
    /// `3 added, 1 modified, 1 deleted`, `no changes` or `not computed`.
    pub fn brief(&self) -> String {
        if self.skipped.is_some() {
            return "not computed".into();
        }
        let (a, m, d) = (self.added.entries, self.modified.entries, self.deleted.entries);
        if a + m + d == 0 { "no changes".into() } else { format!("{a} added, {m} modified, {d} deleted") }
    }
}

/// The bounds of a diff.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Bounds of each of the two walks.
    pub bounds: Bounds,
    /// Changes listed, at most.
    pub max_listed: usize,
    /// Files larger than this are listed without a hash.
    pub hash_max_file: u64,
    /// Bytes hashed in all, at most.
    pub hash_max_total: u64,
}

impl Default for Settings {
    /// 500,000 entries, 256 levels and 10 s per walk; 1000 changes listed;
    /// files up to 64 MiB hashed, 256 MiB in all.
    fn default() -> Settings {
        Settings {
            bounds: Bounds { max_entries: 500_000, max_depth: 256, budget: Duration::from_secs(10) },
            max_listed: MAX_LISTED,
            hash_max_file: 64 << 20,
            hash_max_total: 256 << 20,
        }
    }
}

/// Why no snapshot was taken.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The walk before the task stopped.
    #[error("before the task: {0}")]
    Before(#[source] WalkError),
}

/// The relative paths a diff of `root` leaves out: `.orchestra` and `runs` at
/// its top, and each of `protected` that lies inside it.
pub fn exclusions(root: &Path, protected: &[PathBuf]) -> HashSet<PathBuf> {
    let mut set: HashSet<PathBuf> = [".orchestra", "runs"].into_iter().map(PathBuf::from).collect();
    for p in protected {
        if let Ok(rel) = p.strip_prefix(root)
            && !rel.as_os_str().is_empty()
        {
            set.insert(rel.to_path_buf());
        }
    }
    set
}

/// The workspace before the task.
pub struct Snapshot {
    root: PathBuf,
    exclude: HashSet<PathBuf>,
    settings: Settings,
    entries: HashMap<Vec<u8>, Meta>,
    unreadable: Vec<PathBuf>,
    took: Duration,
}

struct Before<'a> {
    entries: &'a mut HashMap<Vec<u8>, Meta>,
    unreadable: &'a mut Vec<PathBuf>,
}

impl Visitor for Before<'_> {
    fn entry(&mut self, e: Entry<'_>) {
        self.entries.insert(e.rel.as_os_str().as_bytes().to_vec(), e.meta);
    }
    fn unreadable(&mut self, rel: &Path) {
        self.unreadable.push(rel.to_path_buf());
    }
}

impl Snapshot {
    /// Walk `root` (leaving out `exclude`) within `settings`' bounds.
    pub fn take(root: &Path, exclude: HashSet<PathBuf>, settings: Settings) -> Result<Snapshot, ChangesError> {
        let t = Instant::now();
        let mut entries = HashMap::new();
        let mut unreadable = Vec::new();
        walk::walk(root, &exclude, settings.bounds, &mut Before { entries: &mut entries, unreadable: &mut unreadable })
            .map_err(ChangesError::Before)?;
        Ok(Snapshot { root: root.to_path_buf(), exclude, settings, entries, unreadable, took: t.elapsed() })
    }

    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded (an empty workspace).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Walk the workspace again and report what changed (a walk bound crossed
    /// now makes the result skipped, with the reason).
    pub fn compare(mut self) -> WorkspaceChanges {
        let t = Instant::now();
        let s = self.settings;
        let mut after = After {
            before: &mut self.entries,
            listed: Vec::new(),
            added: Tally::default(),
            modified: Tally::default(),
            max_listed: s.max_listed,
            hash_left: s.hash_max_total,
            hash_max_file: s.hash_max_file,
            unreadable: Vec::new(),
        };
        let walked = match walk::walk(&self.root, &self.exclude, s.bounds, &mut after) {
            Ok(n) => n,
            Err(e) => return WorkspaceChanges::skipped(format!("after the task: {e}"), self.took + t.elapsed()),
        };
        let (listed, added, modified, mut unreadable) = (after.listed, after.added, after.modified, after.unreadable);
        // Unreadable after: what it held is unknown (not deleted). Unreadable
        // before and readable after: its contents show as added, which they
        // are as far as can be told; it is listed all the same.
        let unreadable_after = unreadable.clone();
        unreadable.extend(self.unreadable);
        unreadable.sort();
        unreadable.dedup();
        let mut deleted = Tally::default();
        let mut gone: Vec<(PathBuf, Meta)> = self
            .entries
            .into_iter()
            .map(|(p, m)| (PathBuf::from(std::ffi::OsString::from_vec(p)), m))
            .filter(|(p, _)| !unreadable_after.iter().any(|u| p.starts_with(u) && p != u))
            .inspect(|(_, m)| {
                deleted.entries += 1;
                if m.kind == EntryKind::File {
                    deleted.bytes += m.size;
                }
            })
            .collect();
        gone.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        gone.truncate(s.max_listed);
        let gone = gone.into_iter().map(|(p, m)| deleted_change(&p, m));
        let mut entries = merge(listed, gone, s.max_listed);
        entries.truncate(s.max_listed);
        let total = added.entries + modified.entries + deleted.entries;
        WorkspaceChanges {
            skipped: None,
            added,
            modified,
            deleted,
            truncated: (entries.len() as u64) < total,
            entries,
            max_listed: s.max_listed,
            unreadable: unreadable.iter().map(|p| text(p.as_os_str().as_encoded_bytes())).collect(),
            walked,
            took_ms: millis(self.took + t.elapsed()),
        }
    }
}

/// Two lists sorted by path, merged (the first `max` only).
fn merge(a: Vec<(PathBuf, Change)>, b: impl Iterator<Item = Change>, max: usize) -> Vec<Change> {
    let b: Vec<Change> = b.collect();
    let mut out = Vec::with_capacity(max.min(a.len() + b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < max {
        let take_a = match (a.peek(), b.peek()) {
            (Some((pa, _)), Some(cb)) => pa.as_path() <= Path::new(&cb.path),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next().map(|(_, c)| c) } else { b.next() };
        out.extend(next);
    }
    out
}

struct After<'a> {
    before: &'a mut HashMap<Vec<u8>, Meta>,
    listed: Vec<(PathBuf, Change)>,
    added: Tally,
    modified: Tally,
    max_listed: usize,
    hash_left: u64,
    hash_max_file: u64,
    unreadable: Vec<PathBuf>,
}

impl Visitor for After<'_> {
    fn entry(&mut self, e: Entry<'_>) {
        let old = self.before.remove(e.rel.as_os_str().as_bytes());
        let change = match old {
            None => ChangeKind::Added,
            Some(old) if differs(&old, &e.meta) => ChangeKind::Modified,
            Some(_) => return,
        };
        let tally = if change == ChangeKind::Added { &mut self.added } else { &mut self.modified };
        tally.entries += 1;
        if e.meta.kind == EntryKind::File {
            tally.bytes += e.meta.size;
        }
        if self.listed.len() < self.max_listed {
            let c = self.describe(&e, change, old);
            self.listed.push((e.rel.to_path_buf(), c));
        }
    }
    fn unreadable(&mut self, rel: &Path) {
        self.unreadable.push(rel.to_path_buf());
    }
}

impl After<'_> {
    fn describe(&mut self, e: &Entry<'_>, change: ChangeKind, old: Option<Meta>) -> Change {
        let m = e.meta;
        let mut c = Change {
            path: text(e.rel.as_os_str().as_encoded_bytes()),
            change,
            kind: m.kind,
            old_kind: old.filter(|o| o.kind != m.kind).map(|o| o.kind),
            size: Some(m.size),
            old_size: old.map(|o| o.size),
            mode: Some(format!("{:04o}", m.mode)),
            old_mode: old.filter(|o| o.mode != m.mode).map(|o| format!("{:04o}", o.mode)),
            sha256: None,
            unhashed: None,
            target: None,
        };
        match m.kind {
            EntryKind::File if m.size > self.hash_max_file => {
                c.unhashed = Some(format!("larger than {} bytes", self.hash_max_file));
            }
            EntryKind::File if m.size > self.hash_left => {
                c.unhashed = Some("the hashing budget of this diff is used up".into());
            }
            EntryKind::File => match hash::sha256_at(e.dir, e.name, &m, self.hash_max_file) {
                Ok((hex, n)) => {
                    self.hash_left = self.hash_left.saturating_sub(n);
                    c.sha256 = Some(hex);
                }
                Err(why) => c.unhashed = Some(why.to_string()),
            },
            EntryKind::Symlink => {
                c.target = nix::fcntl::readlinkat(e.dir, e.name)
                    .ok()
                    .map(|t| text(t.as_encoded_bytes()))
                    .or_else(|| Some("(unreadable)".into()));
            }
            EntryKind::Dir
            | EntryKind::Fifo
            | EntryKind::Socket
            | EntryKind::CharDevice
            | EntryKind::BlockDevice
            | EntryKind::Other => {}
        }
        if m.kind != EntryKind::File {
            // Only a regular file's size means bytes of content.
            c.size = (m.kind == EntryKind::Symlink).then_some(m.size);
            c.old_size = old.filter(|o| o.kind == EntryKind::File).map(|o| o.size);
        }
        c
    }
}

/// Whether `new` is a change of `old` (see the module doc).
fn differs(old: &Meta, new: &Meta) -> bool {
    if old.kind != new.kind || old.mode != new.mode {
        return true;
    }
    match new.kind {
        EntryKind::Dir => false,
        _ => old.size != new.size || old.mtime != new.mtime || old.ctime != new.ctime || old.ino != new.ino,
    }
}

fn deleted_change(p: &Path, m: Meta) -> Change {
    Change {
        path: text(p.as_os_str().as_encoded_bytes()),
        change: ChangeKind::Deleted,
        kind: m.kind,
        old_kind: None,
        size: None,
        old_size: (m.kind == EntryKind::File).then_some(m.size),
        mode: None,
        old_mode: Some(format!("{:04o}", m.mode)),
        sha256: None,
        unhashed: None,
        target: None,
    }
}

/// Bytes as text: UTF-8 as it is, any other byte as `\xNN`.
fn text(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
