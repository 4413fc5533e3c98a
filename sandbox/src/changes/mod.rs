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
//!   `fstat` of the opened descriptor shows the same regular file the walk saw;
//!   that directory is opened again from the root's descriptor one component
//!   at a time (`O_DIRECTORY | O_NOFOLLOW`, each checked to be a directory,
//!   into the filesystems mounted below the root as the walk does), so a
//!   directory swapped for a link since the walk is not hashed through.
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
//! - **Cost**: two metadata walks (each on up to [`Settings::threads`]
//!   threads, by subtrees, with the same result as one thread), compared in
//!   one pass in path order; nothing is allocated per entry but its place in
//!   one listing.
//! - A modification is any difference in kind, size, mtime, ctime, inode or
//!   mode; a directory counts as modified only when its kind or mode changed
//!   (its contents are compared entry by entry).
//! - `.orchestra/` and `runs/` at the top of the workspace, and any protected
//!   path inside it (the audit log, the run store), are not walked
//!   ([`exclusions`]). Other filesystems mounted inside (by the host: a
//!   tmpfs, a bind mount, a volume) are entered and compared like the rest,
//!   under the same bounds (review 81, F4; [`walk`]).
//! - A directory the supervisor owns and may not list or search (the task
//!   took its mode away) is walked all the same, both times: it is given its
//!   owner's read and search for the time of the walk, and after the task
//!   until the caller is done with what is below it (the repositories judged
//!   there, [`Snapshot::compare_unlocking`]), then its mode is put back
//!   ([`walk`], review 76 F1). Only a directory that still cannot be read
//!   after the task (another owner's) is listed in
//!   [`WorkspaceChanges::unreadable`] and shown to the watcher
//!   ([`Watched::Unlistable`]); what it held is neither counted as deleted
//!   nor compared.
//! - [`Snapshot::compare_inspecting`] shows every added or modified entry
//!   (listed or not) to an inspector, in path order, with its directory
//!   opened as for hashing (never through a link), and every directory the
//!   task left unreadable that it made or changed: what the canary judge
//!   reads names, link targets, extended attributes and contents from.
//!
//! Beside the diff, [`protected`] judges the protected paths once the task is
//! gone: what was planted where one was absent is removed, and one that
//! existed and was changed is put back as it was.

pub mod protected;
pub mod walk;

mod hash;

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use walk::{Bounds, Listing, WalkError};

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
    /// Threads each walk may use (its subtrees are shared among them; the
    /// result is the same with any number).
    pub threads: usize,
}

impl Default for Settings {
    /// 500,000 entries, 256 levels and 10 s per walk (the walk after the
    /// task: [`walk::Bounds::after_task`]); 1000 changes listed;
    /// files up to 64 MiB hashed, 256 MiB in all; as many threads as there
    /// are CPUs, up to 4.
    fn default() -> Settings {
        Settings {
            bounds: Bounds { max_entries: 500_000, max_depth: 256, budget: Duration::from_secs(10) },
            max_listed: MAX_LISTED,
            hash_max_file: 64 << 20,
            hash_max_total: 256 << 20,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
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
    listing: Listing,
    took: Duration,
}

impl Snapshot {
    /// Walk `root` (leaving out `exclude`) within `settings`' bounds.
    pub fn take(root: &Path, exclude: HashSet<PathBuf>, settings: Settings) -> Result<Snapshot, ChangesError> {
        let t = Instant::now();
        let walk::Walked { listing, unlocked, .. } =
            walk::walk(root, &exclude, settings.bounds, settings.threads).map_err(ChangesError::Before)?;
        // Every directory opened up for the walk gets its mode back before the task runs.
        drop(unlocked);
        Ok(Snapshot { root: root.to_path_buf(), exclude, settings, listing, took: t.elapsed() })
    }

    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.listing.len()
    }

    /// Whether nothing was recorded (an empty workspace).
    pub fn is_empty(&self) -> bool {
        self.listing.is_empty()
    }

    /// Walk the workspace again and report what changed (a walk bound crossed
    /// now makes the result skipped, with the reason).
    ///
    /// Both listings are in walk order, so they are compared in one pass, in
    /// path order; then the first `max_listed` changes are described (hashed,
    /// links read) through directory descriptors opened again from the root,
    /// component by component, never following a link.
    pub fn compare(self) -> WorkspaceChanges {
        self.compare_inspecting(None)
    }

    /// [`Snapshot::compare`], showing `inspect` each added or modified entry
    /// (all of them, listed or not: [`Seen::Entry`]) and each directory
    /// unreadable after the task that is new, or whose mode or ctime moved,
    /// or that was readable before ([`Seen::Unreadable`]), after the listed
    /// changes were described; or, when the walk after the task crosses a
    /// bound, that ([`Seen::NotWalked`]). Its time counts in `took_ms`.
    pub fn compare_inspecting(self, inspect: Option<&mut dyn FnMut(Seen<'_>)>) -> WorkspaceChanges {
        self.compare_watching(inspect, &mut |_, _| {})
    }

    /// [`Snapshot::compare_inspecting`], also calling `watch` with the
    /// relative path of every entry added, modified or deleted (listed or
    /// not), and of every entry named `.git` or `HEAD` that is there after
    /// the task unchanged ([`Watched`]), in walk order; nothing is opened for it
    /// (the repositories in the workspace, `protected::MadeRepos`).
    pub fn compare_watching(
        self,
        inspect: Option<&mut dyn FnMut(Seen<'_>)>,
        watch: &mut dyn FnMut(&[u8], Watched),
    ) -> WorkspaceChanges {
        self.compare_unlocking(inspect, watch).0
    }

    /// [`Snapshot::compare_watching`], handing back the directories the
    /// walk after the task opened up to list them (the supervisor's own
    /// whose mode refused it): they stay open to it, for what the caller
    /// judges below them, until it drops the [`walk::Unlocked`], which puts
    /// their modes back.
    pub fn compare_unlocking(
        self,
        inspect: Option<&mut dyn FnMut(Seen<'_>)>,
        watch: &mut dyn FnMut(&[u8], Watched),
    ) -> (WorkspaceChanges, walk::Unlocked) {
        self.compare_in(inspect, watch, None)
    }

    /// [`Snapshot::compare_watching`], the directories the walk opens up
    /// noted in `opened` (taken before, [`walk::Unlocked::at`], with what
    /// was opened up already), which the caller drops when it is done
    /// judging below them (review 77, D).
    pub fn compare_opened(
        self,
        inspect: Option<&mut dyn FnMut(Seen<'_>)>,
        watch: &mut dyn FnMut(&[u8], Watched),
        opened: &walk::Unlocked,
    ) -> WorkspaceChanges {
        self.compare_in(inspect, watch, Some(opened)).0
    }

    fn compare_in(
        self,
        mut inspect: Option<&mut dyn FnMut(Seen<'_>)>,
        watch: &mut dyn FnMut(&[u8], Watched),
        opened: Option<&walk::Unlocked>,
    ) -> (WorkspaceChanges, walk::Unlocked) {
        let t = Instant::now();
        let s = self.settings;
        let walked = match walk::walk_in(&self.root, &self.exclude, s.bounds.after_task(), s.threads, opened) {
            Ok(w) => w,
            Err(e) => {
                let why = format!("after the task: {e}");
                if let Some(inspect) = inspect.as_mut() {
                    inspect(Seen::NotWalked(&why));
                }
                return (WorkspaceChanges::skipped(why, self.took + t.elapsed()), walk::Unlocked::default());
            }
        };
        let (before, after) = (&self.listing, &walked.listing);
        // Unreadable after: what it held is unknown (not deleted). Unreadable
        // before and readable after: its contents show as added, which they
        // are as far as can be told; it is listed all the same.
        let hidden = |p: &[u8]| after.unreadable().iter().any(|u| below(p, u));
        let (mut added, mut modified, mut deleted) = (Tally::default(), Tally::default(), Tally::default());
        let mut listed: Vec<Found> = Vec::new();
        // Every added or modified entry, by its index after, when inspected.
        let mut new: Vec<(usize, ChangeKind)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        loop {
            let step = match (after.get(i), before.get(j)) {
                (Some((pa, _)), Some((pb, _))) => walk::path_cmp(pa, pb),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => break,
            };
            let found = match step {
                std::cmp::Ordering::Less => {
                    i += 1;
                    if let Some((p, _)) = after.get(i - 1) {
                        watch(p, Watched::Added);
                    }
                    Some(Found::New(i - 1, ChangeKind::Added, None))
                }
                std::cmp::Ordering::Equal => {
                    let (old, now) = (before.get(j).map(|b| b.1), after.get(i).map(|a| a.1));
                    (i, j) = (i + 1, j + 1);
                    let changed = matches!((old, now), (Some(o), Some(n)) if differs(&o, &n));
                    if let Some((p, _)) = after.get(i - 1)
                        && (changed || matches!(split_name(p).1, b".git" | b"HEAD"))
                    {
                        watch(p, if changed { Watched::Modified } else { Watched::Kept });
                    }
                    match (old, now) {
                        (Some(o), Some(n)) if differs(&o, &n) => Some(Found::New(i - 1, ChangeKind::Modified, Some(o))),
                        // No change of the workspace (a directory's entries
                        // are judged one by one), but a new ctime can be new
                        // extended attributes: the inspector reads them
                        // (review 59, F5: a canary in an xattr of `src/`).
                        (Some(o), Some(n)) if inspect.is_some() && n.kind == EntryKind::Dir && o.ctime != n.ctime => {
                            new.push((i - 1, ChangeKind::Modified));
                            None
                        }
                        _ => None,
                    }
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    let gone = before.get(j - 1).filter(|(p, _)| !hidden(p));
                    if let Some((p, _)) = gone {
                        watch(p, Watched::Deleted);
                    }
                    gone.map(|_| Found::Gone(j - 1))
                }
            };
            let Some(found) = found else { continue };
            if inspect.is_some()
                && let Found::New(k, c, _) = found
            {
                new.push((k, c));
            }
            let (tally, meta) = match found {
                Found::New(k, c, _) => {
                    (if c == ChangeKind::Added { &mut added } else { &mut modified }, after.get(k).map(|a| a.1))
                }
                Found::Gone(k) => (&mut deleted, before.get(k).map(|b| b.1)),
            };
            tally.entries += 1;
            if let Some(m) = meta.filter(|m| m.kind == EntryKind::File) {
                tally.bytes += m.size;
            }
            if listed.len() < s.max_listed {
                listed.push(found);
            }
        }
        let mut describe = Describe {
            dirs: Reopen { root: walked.root.as_fd(), open: Vec::new() },
            hash_left: s.hash_max_total,
            hash_max_file: s.hash_max_file,
        };
        let entries: Vec<Change> = listed
            .into_iter()
            .filter_map(|f| match f {
                Found::New(k, c, old) => after.get(k).map(|(p, m)| describe.change(p, m, c, old)),
                Found::Gone(k) => before.get(k).map(|(p, m)| deleted_change(p, m)),
            })
            .collect();
        if let Some(inspect) = inspect.as_mut() {
            for (k, change) in new {
                let Some((rel, meta)) = after.get(k) else { continue };
                let (parent, name) = split_name(rel);
                let Ok(name) = CString::new(name) else { continue };
                let dir = describe.dirs.dir(parent);
                let then = if change == ChangeKind::Modified { find(before, rel) } else { None };
                inspect(Seen::Entry(Inspected { path: rel, change, meta, before: then, dir, name: &name }));
            }
            for u in after.unreadable() {
                let now = find(after, u);
                let then = find(before, u);
                let untouched = matches!((now, then), (Some(n), Some(b))
                    if n.mode == b.mode && n.ctime == b.ctime && before.unreadable().contains(u));
                if !untouched {
                    inspect(Seen::Unreadable(u));
                }
            }
        }
        // What is below these is unknown: the watcher decides (review 76, F1),
        // told whether the directory was there, as unlistable, before the
        // task and is the same now (identity, mode, ctime; review 77, FP-c).
        for u in after.unreadable() {
            let kept = matches!((find(after, u), find(before, u)), (Some(n), Some(b))
                if n.ino == b.ino && n.mode == b.mode && n.ctime == b.ctime && before.unreadable().contains(u));
            watch(u, if kept { Watched::UnlistableKept } else { Watched::Unlistable });
        }
        let mut unreadable: Vec<&[u8]> =
            after.unreadable().iter().chain(before.unreadable()).map(|u| u.as_slice()).collect();
        unreadable.sort_by(|a, b| walk::path_cmp(a, b));
        unreadable.dedup();
        let total = added.entries + modified.entries + deleted.entries;
        let changes = WorkspaceChanges {
            skipped: None,
            added,
            modified,
            deleted,
            truncated: (entries.len() as u64) < total,
            entries,
            max_listed: s.max_listed,
            unreadable: unreadable.into_iter().map(text).collect(),
            walked: after.seen(),
            took_ms: millis(self.took + t.elapsed()),
        };
        (changes, walked.unlocked)
    }
}

/// How an entry [`Snapshot::compare_watching`] shows its watcher came
/// through the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// Absent before the task.
    Added,
    /// There before, with another kind, mode, size, time or inode (a
    /// directory: another kind or mode).
    Modified,
    /// There before and gone after (not shown below a directory that is
    /// unreadable after the task).
    Deleted,
    /// There before and unchanged (shown only for entries named `.git` or
    /// `HEAD`).
    Kept,
    /// A directory the walk after the task could not list, even opened up
    /// (not the supervisor's, or its mode would not change): what it holds
    /// is unknown. Shown after every other entry.
    Unlistable,
    /// An [`Watched::Unlistable`] directory that was there, unlistable,
    /// before the task, with the same identity, mode and ctime: the
    /// directory itself is unchanged, but what is below it may not be (a
    /// subdirectory the task can write; review 78, F8).
    UnlistableKept,
}

/// What [`Snapshot::compare_inspecting`] shows.
pub enum Seen<'a> {
    /// An entry added or modified.
    Entry(Inspected<'a>),
    /// A directory unreadable after the task, which it made or changed: what
    /// it holds was neither listed nor compared.
    Unreadable(&'a [u8]),
    /// The walk after the task crossed a bound (the walk before did not):
    /// nothing the task left was compared. Why.
    NotWalked(&'a str),
}

/// An entry the task added or modified.
pub struct Inspected<'a> {
    /// Its path relative to the workspace, as bytes.
    pub path: &'a [u8],
    /// Added or modified.
    pub change: ChangeKind,
    /// What the walk after the task saw.
    pub meta: Meta,
    /// What the walk before the task saw (a modified entry).
    pub before: Option<Meta>,
    /// Its directory, opened again from the root one component at a time
    /// (`O_NOFOLLOW | O_DIRECTORY`, each on the root's filesystem); `None`
    /// when one is gone, replaced or unreadable.
    pub dir: Option<BorrowedFd<'a>>,
    /// Its name in that directory.
    pub name: &'a std::ffi::CStr,
}

/// `rel`'s directory and name (`""` and `rel` at the top).
fn split_name(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(k) => (rel.get(..k).unwrap_or_default(), rel.get(k + 1..).unwrap_or_default()),
        None => (&[][..], rel),
    }
}

/// The metadata `listing` recorded for `path` (listings are in path order).
fn find(listing: &Listing, path: &[u8]) -> Option<Meta> {
    let (mut lo, mut hi) = (0, listing.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (p, m) = listing.get(mid)?;
        match walk::path_cmp(p, path) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(m),
        }
    }
    None
}

/// Whether `p` lies below the directory `dir` (every path lies below the root, `""`).
fn below(p: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() && !p.is_empty() || p.len() > dir.len() && p.starts_with(dir) && p.get(dir.len()) == Some(&b'/')
}

/// A change found by the comparison, by its index in a listing.
enum Found {
    /// In the listing after the task: added or modified (with what it was).
    New(usize, ChangeKind, Option<Meta>),
    /// Only in the listing before.
    Gone(usize),
}

/// The directories of the last entry described, open from the root (entries
/// come in path order, so neighbours share them).
struct Reopen<'a> {
    root: BorrowedFd<'a>,
    open: Vec<(Vec<u8>, OwnedFd)>,
}

impl Reopen<'_> {
    /// The directory `rel` (`""`: the root), opened one component at a time
    /// with `O_NOFOLLOW | O_DIRECTORY` (into the filesystems mounted below
    /// the root, as the walk goes); `None` when one is gone, replaced or
    /// unreadable.
    fn dir(&mut self, rel: &[u8]) -> Option<BorrowedFd<'_>> {
        let want: Vec<&[u8]> = if rel.is_empty() { Vec::new() } else { rel.split(|&b| b == b'/').collect() };
        let same = self.open.iter().zip(&want).take_while(|((have, _), w)| have.as_slice() == **w).count();
        self.open.truncate(same);
        for name in want.get(same..).unwrap_or_default() {
            let parent = self.open.last().map_or(self.root, |(_, fd)| fd.as_fd());
            let c = CString::new(*name).ok()?;
            let fd = nix::fcntl::openat(parent, c.as_c_str(), walk::dir_flags(), nix::sys::stat::Mode::empty()).ok()?;
            let st = nix::sys::stat::fstat(&fd).ok()?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return None;
            }
            self.open.push((name.to_vec(), fd));
        }
        Some(self.open.last().map_or(self.root, |(_, fd)| fd.as_fd()))
    }
}

/// Describes the listed changes, in path order (the hashing budget is spent in that order).
struct Describe<'a> {
    dirs: Reopen<'a>,
    hash_left: u64,
    hash_max_file: u64,
}

impl Describe<'_> {
    fn change(&mut self, rel: &[u8], m: Meta, change: ChangeKind, old: Option<Meta>) -> Change {
        let mut c = Change {
            path: text(rel),
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
        let (parent, name) = split_name(rel);
        let name = CString::new(name).ok();
        match m.kind {
            EntryKind::File if m.size > self.hash_max_file => {
                c.unhashed = Some(format!("larger than {} bytes", self.hash_max_file));
            }
            EntryKind::File if m.size > self.hash_left => {
                c.unhashed = Some("the hashing budget of this diff is used up".into());
            }
            EntryKind::File => {
                let max = self.hash_max_file;
                let hashed = match (self.dirs.dir(parent), &name) {
                    (Some(dir), Some(name)) => hash::sha256_at(dir, name, &m, max),
                    _ => Err(hash::Unhashed::Replaced),
                };
                match hashed {
                    Ok((hex, n)) => {
                        self.hash_left = self.hash_left.saturating_sub(n);
                        c.sha256 = Some(hex);
                    }
                    Err(why) => c.unhashed = Some(why.to_string()),
                }
            }
            EntryKind::Symlink => {
                let target = match (self.dirs.dir(parent), &name) {
                    (Some(dir), Some(name)) => nix::fcntl::readlinkat(dir, name.as_c_str()).ok(),
                    _ => None,
                };
                c.target = Some(target.map_or_else(|| "(unreadable)".into(), |t| text(t.as_encoded_bytes())));
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

fn deleted_change(p: &[u8], m: Meta) -> Change {
    Change {
        path: text(p),
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
