//! The protected paths of a writable workspace (SECURITY.md §5.3), judged
//! again on the host once the task's processes are all gone, the same way for
//! every backend and mode.
//!
//! While the task runs they are kept by read-only binds over those that exist
//! (the jail's mount namespace, the container engines' volumes) and by the
//! supervisor's refusal of every change. The supervisor judges a path and
//! then lets the call continue, so a task that rewrites the path in its memory
//! between the judgement and the kernel's own lookup can get a change past
//! it: create a protected path that is absent, and — where no bind pins the
//! entry (`jail.namespaces: off`, the `container` preset), or by moving the
//! directory that holds it — change, replace or remove one that exists. This
//! module makes the outcome right whatever that race did:
//!
//! - [`Watch::before`] takes the task's protected paths (the jail's own list,
//!   [`crate::jail::protect::protect`]: the built-in list minus
//!   `filesystem.unprotected`, the policy's `filesystem.protected`, the files
//!   in use, what git reads code from) and resolves each as the host will
//!   (git, a CI runner: from the workspace root, following links and the top
//!   `.git` `gitdir:` pointer). Those the host does not reach are watched as
//!   absent ([`absent`]); for those it reaches, the entries that make the path
//!   what it is are snapshotted ([`kept`], [`snap`]): the entry reached, with
//!   everything in it, and the links and pointers on its way. Only a writable
//!   workspace has protected paths.
//! - [`Watch::after`] resolves and compares them again. A new link or pointer
//!   on the way of a path that existed is removed; a snapshotted entry that
//!   changed (content, mode, type, a hard link added, an entry added, removed
//!   or renamed inside) is put back as it was; an absent path the host now
//!   reaches is removed as [`absent`] says. Each is a violation
//!   (`fs.protected`) whose detail says what changed and what was done.
//! - Nothing here follows a link or leaves the workspace: every entry is
//!   reached from the workspace root's descriptor with `openat2(RESOLVE_BENEATH
//!   | RESOLVE_NO_SYMLINKS)`, everything below by descriptor with
//!   `O_NOFOLLOW` ([`beneath`]). A filesystem the host mounted below the root
//!   is walked and judged like the rest of the workspace (review 81, F4).
//! - Benign work is not flagged: the directories that hold protected paths
//!   (`.git`, `.github`) and their other entries are not watched, a path the
//!   policy gives up is not watched, and touching a protected file without
//!   changing its content or mode (its times) is no change.
//!
//! Residual: a host process that reads the workspace *while* the task runs can
//! still see what was planted before it is undone; and whatever else changes
//! a protected path during the task (the user, a concurrent task that may) is
//! undone and reported the same way.

mod absent;
mod beneath;
mod codepaths;
pub(crate) use codepaths::{Resolved, resolve as resolve_noting_links};
mod discovery;
mod expansion;
pub(crate) use expansion::{Pattern, found as found_matching};
mod gitdir;
mod gitoptions;
pub(crate) mod hostconfig;
mod interpreted;
mod kept;
mod made;
mod runs;
mod sequencer;
mod snap;
mod stamp;
mod submodules;
#[cfg(test)]
mod tests;
mod wrappers;

use crate::jail::resolve::steps;
use crate::{TaskSpec, Violation};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Directories [`Watch::open_up`] lists, at most.
const OPEN_UP_DIRS: usize = 200_000;

/// How long [`Watch::open_up`] may take.
const OPEN_UP_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Links and pointers followed on one path, at most (the kernel's MAXSYMLINKS).
const MAX_HOPS: usize = 40;

/// An entry's identity: device and inode.
type Id = (u64, u64);

/// Where the host's resolution of a path went.
#[derive(Debug, Default)]
struct Trace {
    /// The links and `gitdir:` pointers followed, in order (where, identity).
    ways: Vec<(PathBuf, Id)>,
    /// The entry reached at the end (no link), if any.
    end: Option<PathBuf>,
    /// The protected name's own entry is a link (its place), reached or not.
    named_link: Option<PathBuf>,
}

/// The protected paths of one task's workspace, as they were at its start.
#[derive(Debug, Default)]
pub struct Watch {
    /// The workspace root, resolved.
    root: PathBuf,
    /// The paths the host did not reach, in the order of the protected list.
    absent: Vec<absent::Watched>,
    /// The paths the host reached, and the entries that make them.
    kept: kept::Kept,
    /// What git finds at the root besides the protected names.
    discovery: discovery::Discovery,
    /// The submodules the host's git recurses into.
    submodules: submodules::Submodules,
    /// Each protected path's `<path>.lock` (relative to the root), and
    /// whether it existed at the start.
    locks: Vec<(PathBuf, bool)>,
    /// The top directories (relative) that hold the protected paths.
    tops: Vec<PathBuf>,
    /// The patterns of paths a git config names where a word cannot be
    /// read exactly (`jail::protect::Protected::patterns`), and the
    /// relative paths that matched them at the start (watched as the
    /// rest are).
    patterns: Vec<(Pattern, bool)>,
    /// The relative paths that matched `patterns` at the start.
    matched: std::collections::HashSet<PathBuf>,
}

pub use made::MadeRepos;

impl Watch {
    /// What judges the repositories the workspace diff finds the task made
    /// ([`MadeRepos`]); take it before [`Watch::after`].
    pub fn made_repos(&self) -> MadeRepos {
        match self.submodules.started() {
            Some(start) => MadeRepos::new(self.root.clone(), start),
            None => MadeRepos::off(),
        }
    }
    /// The protected paths of `task`'s workspace as they are now; call it
    /// before the task starts.
    pub fn before(task: &TaskSpec) -> Watch {
        let fs = &task.policy.filesystem;
        if fs.workdir != crate::policy::WorkdirAccess::ReadWrite {
            return Watch::default();
        }
        let Ok(root) = std::fs::canonicalize(&task.workdir) else { return Watch::default() };
        // A protected file with more than one hard link makes every backend
        // refuse the task; the plain list is enough for a task that never runs.
        let listed = crate::jail::protect::protect(fs, &task.workdir, &task.in_use, false, &mut Vec::new())
            .unwrap_or_else(|_| crate::jail::protect::Protected {
                paths: fs.protected_in(&task.workdir),
                ..crate::jail::protect::Protected::default()
            });
        let below = |v: &[PathBuf]| -> Vec<PathBuf> {
            v.iter().filter_map(|p| p.strip_prefix(&task.workdir).ok()).map(|rel| root.join(rel)).collect()
        };
        let mut w =
            Watch::with(root.clone(), below(&listed.paths), &below(&listed.links), &below(&listed.dirs_allowed));
        w.matched = found_matching(&root, &listed.patterns).paths.into_iter().collect();
        w.patterns = listed.patterns;
        w
    }

    /// The paths `paths` (below `root`, resolved), as they are now.
    #[cfg(test)]
    fn of(root: PathBuf, paths: impl IntoIterator<Item = PathBuf>) -> Watch {
        Watch::with(root, paths, &[], &[])
    }

    /// The paths `paths` (below `root`, resolved), as they are now; those
    /// of `links` that are links stand for themselves (not what they lead
    /// to: [`crate::jail::protect::Protected::links`]); those among `dirs`
    /// are places where only a directory may be (review 81, F5; review 82,
    /// F2: what only a command's word names, as the supervisor's
    /// `JailPlan::dirs_allowed`): watched as absent ones whether absent or a
    /// directory now, a real directory there at the end no violation,
    /// anything else one.
    fn with(root: PathBuf, paths: impl IntoIterator<Item = PathBuf>, links: &[PathBuf], dirs: &[PathBuf]) -> Watch {
        let paths: Vec<PathBuf> = paths.into_iter().collect();
        let locks = paths
            .iter()
            .filter_map(|p| p.strip_prefix(&root).ok())
            .filter(|rel| !rel.as_os_str().is_empty())
            .map(|rel| {
                let mut lock = rel.as_os_str().to_owned();
                lock.push(".lock");
                let lock = PathBuf::from(lock);
                let there = std::fs::symlink_metadata(root.join(&lock)).is_ok();
                (lock, there)
            })
            .collect();
        let mut tops: Vec<PathBuf> = paths
            .iter()
            .filter_map(|p| p.strip_prefix(&root).ok()?.components().next())
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        tops.sort();
        tops.dedup();
        let t = std::time::Instant::now();
        let discovery = discovery::Discovery::before(&root, &paths);
        let submodules = submodules::Submodules::before(&root, paths.contains(&root.join(".git/config")));
        let survey_us = t.elapsed().as_micros() as u64;
        let mut absent: Vec<absent::Watched> = Vec::new();
        let mut reached: Vec<(PathBuf, Trace)> = Vec::new();
        // Membership by hash: thousands of paths are possible (a host alias
        // running `python3 -m …` names its bytecode and runner modules).
        let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        let dirs: std::collections::HashSet<&PathBuf> = dirs.iter().collect();
        for path in paths {
            if path == root || !seen.insert(path.clone()) {
                continue;
            }
            let t = trace(&root, &path);
            let dir_ok = dirs.contains(&path);
            if t.end.is_none() || dir_ok {
                absent.push(absent::Watched { path, ways: t.ways, dir_ok });
            } else {
                reached.push((path, t));
            }
        }
        let kept = match open_root(&root) {
            Some(fd) => kept::Kept::before(&root, fd.as_fd(), reached, links),
            None => kept::Kept::default(),
        };
        tracing::debug!(survey_us, all_us = t.elapsed().as_micros() as u64, "protected paths: before");
        Watch { root, absent, kept, discovery, submodules, locks, tops, ..Watch::default() }
    }

    /// Open up to the supervisor, once the task is gone, its own directories
    /// that refuse it read or search (`u+rx`, put back when the result is
    /// dropped; [`crate::changes::walk::Unlocked`]): the workspace root
    /// `workdir` itself, and every one on the way to and below the top
    /// directories of the protected paths (`.git` whole) and `runs/`
    /// (review 77, A1, A2, D). Take it before [`Watch::after`] and hand it
    /// to the workspace diff and [`MadeRepos::judge`]: every check after the
    /// task sees the tree opened up. Bounded (directories, time); what it
    /// could not list stays as it was and reads as unreadable.
    pub fn open_up(&self, workdir: &Path) -> crate::changes::walk::Unlocked {
        let Some(opened) = crate::changes::walk::Unlocked::at(workdir) else {
            return crate::changes::walk::Unlocked::default();
        };
        let mut tops = self.tops.clone();
        if !tops.is_empty() {
            tops.push(PathBuf::from(made::RUNS));
        }
        let deadline = std::time::Instant::now() + OPEN_UP_BUDGET;
        let left = opened.open_up(workdir, &tops, OPEN_UP_DIRS, deadline);
        if !left.is_empty() {
            tracing::debug!(left = left.len(), "protected paths: directories not opened up");
        }
        opened
    }

    /// Judge the watched paths again, once the task's processes are all gone:
    /// a violation for each protected path the task changed, made or made
    /// reachable, and that change undone (see the module doc).
    pub fn after(self) -> Vec<Planted> {
        let t = std::time::Instant::now();
        let root_fd = open_root(&self.root);
        let fd = root_fd.as_ref().map(|f| f.as_fd());
        // First: a new `.git` pointer goes before the paths are traced through it.
        let mut out = self.discovery.after(&self.root, fd);
        out.extend(self.submodules.after(&self.root, fd));
        let survey_us = t.elapsed().as_micros() as u64;
        out.extend(self.matched_after(fd));
        out.extend(self.kept.after(&self.root, fd));
        out.extend(absent::after(&self.root, fd, &self.absent));
        // A git the task ran and that was refused a protected file (or
        // killed for it) leaves its `<file>.lock`; left there, every later
        // git on the host fails to write that file (review 63, B1).
        if let Some(fd) = fd {
            for (lock, there) in &self.locks {
                if !there && std::fs::symlink_metadata(self.root.join(lock)).is_ok() {
                    let _ = beneath::remove_beneath(fd, lock);
                }
            }
        }
        tracing::debug!(survey_us, all_us = t.elapsed().as_micros() as u64, "protected paths: after");
        out
    }

    /// A violation for each path that matches a pattern now and did not
    /// at the start (review 89, F1: a script an alias names below a
    /// directory orchestra cannot read, or by a glob), and that path
    /// removed; one for a walk that could not see every entry (what it did
    /// not see is not judged: fail closed, said).
    fn matched_after(&self, fd: Option<std::os::fd::BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        if self.patterns.is_empty() {
            return out;
        }
        let now = found_matching(&self.root, &self.patterns);
        for rel in now.paths.iter().filter(|r| !self.matched.contains(*r)) {
            let fate = match fd {
                Some(fd) => beneath::remove_beneath(fd, rel),
                None => beneath::unopened(&self.root),
            };
            let undone = fate == beneath::Fate::Removed;
            let names: Vec<String> =
                self.patterns.iter().filter(|(p, _)| p.matches(rel)).map(|(p, _)| p.text()).collect();
            let detail = format!(
                "{} was made where a git setting names code through a word orchestra cannot read exactly ({}){}",
                self.root.join(rel).display(),
                names.join(", "),
                fate.words(&self.root, rel)
            );
            out.push(Planted { violation: Violation::now(crate::rule::Rule::FsProtected, detail), undone });
        }
        if !now.whole {
            let detail = format!(
                "{}: the walk for the paths git settings name through words orchestra cannot read exactly ({}) could not see every entry; one the task made there is LEFT (check before any host step runs git in this workspace)",
                self.root.display(),
                self.patterns.iter().map(|(p, _)| p.text()).collect::<Vec<_>>().join(", ")
            );
            out.push(Planted { violation: Violation::now(crate::rule::Rule::FsProtected, detail), undone: false });
        }
        out
    }

    /// How many paths are watched as absent, and how many entries are
    /// snapshotted.
    pub fn counts(&self) -> (usize, usize) {
        (self.absent.len(), self.kept.entries())
    }
}

/// A protected path the task changed, made, or made reachable: the violation
/// (`fs.protected`), and whether that was undone (else the detail says where
/// what is left is).
#[derive(Debug)]
pub struct Planted {
    /// The violation to report.
    pub violation: Violation,
    /// Put back as it was, or removed (not renamed aside, not kept).
    pub undone: bool,
}

/// The workspace root's descriptor, every walk's start.
fn open_root(root: &Path) -> Option<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(root)
        .ok()
        .map(OwnedFd::from)
}

/// What a way is, for a detail.
fn way_text(way: &Path) -> String {
    match std::fs::read_link(way) {
        Ok(target) => format!("a new symbolic link -> {}", target.display()),
        Err(_) => "a new `gitdir:` pointer".to_string(),
    }
}

/// Resolve `path` (below `root`) as the host will: one component at a time
/// from `root`, following links (the last one's too) and `root/.git` when it
/// is a `gitdir:` pointer file, as git does. The paths it records are the
/// places met, each below directories only (no link in them).
fn trace(root: &Path, path: &Path) -> Trace {
    let mut t = Trace::default();
    let Ok(rel) = path.strip_prefix(root) else { return t };
    let mut queue: VecDeque<OsString> = steps(rel);
    let mut cur = root.to_path_buf();
    let mut hops = 0;
    // Whether the protected name's own component is still to be met.
    let mut named_pending = true;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        if c == "/" {
            cur = PathBuf::from("/");
            continue;
        }
        let cand = cur.join(&c);
        let Ok(meta) = std::fs::symlink_metadata(&cand) else { return t };
        let last = queue.is_empty();
        let id = (meta.dev(), meta.ino());
        let target = if meta.file_type().is_symlink() {
            std::fs::read_link(&cand).ok()
        } else if meta.is_file() && !last && cur == root && c == ".git" {
            gitdir_pointer(&cand).map(|g| root.join(g))
        } else {
            None
        };
        if last && named_pending {
            named_pending = false;
            if meta.file_type().is_symlink() {
                t.named_link = Some(cand.clone());
            }
        }
        match target {
            Some(target) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return t;
                }
                t.ways.push((cand, id));
                let mut front = steps(&target);
                if target.is_absolute() {
                    front.push_front(OsString::from("/"));
                }
                for s in front.into_iter().rev() {
                    queue.push_front(s);
                }
            }
            None if last => {
                if !meta.file_type().is_symlink() {
                    t.end = Some(cand);
                }
                return t;
            }
            None if meta.is_dir() => cur = cand,
            None => return t,
        }
    }
    t
}

/// The directory a `.git` file points to, read as git reads it
/// (`read_gitfile_gently`): the whole file, trailing line ends stripped, then
/// `gitdir: ` (with its one space) and the path up to the first NUL, newlines
/// inside kept.
fn gitdir_pointer(file: &Path) -> Option<PathBuf> {
    let mut text = read_small(file, 64 * 1024)?;
    while text.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        text.pop();
    }
    let rest = text.strip_prefix(b"gitdir: ")?;
    let dir = rest.split(|b| *b == 0).next()?;
    (!dir.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(dir)))
}

/// At most `max` bytes of the regular file at `path`, not following a link
/// at the name and never blocking (a fifo); `None` if it is no regular file
/// or cannot be read. Read into a buffer of the file's size (an index is
/// megabytes: no growing and copying as it is read).
fn read_small(path: &Path, max: u64) -> Option<Vec<u8>> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut v = Vec::with_capacity(usize::try_from(meta.len().min(max)).ok()?.saturating_add(1));
    f.take(max).read_to_end(&mut v).ok()?;
    Some(v)
}
