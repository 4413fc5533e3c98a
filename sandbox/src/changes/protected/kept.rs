//! Protected paths that exist when a task starts: any change the task made to
//! them is a violation, and they are put back as they were.
//!
//! - [`Kept::before`] snapshots ([`super::snap`]) the entries that make each
//!   path what the host sees, where they lie in the workspace: the entry its
//!   resolution reaches, with everything in it, and each link or `.git`
//!   `gitdir:` pointer on its way. A `.git` that is a link, or a link passed
//!   on the way to what git runs code from (review 82, F1), stands for
//!   itself (what it leads to is protected part by part). An entry inside
//!   another snapshotted directory is covered by it.
//! - [`Kept::after`] compares each snapshotted entry with what is there now,
//!   by descriptor from the root ([`super::beneath`]): a directory missing on
//!   its way is made again, one the task replaced by a file or a link is
//!   removed first. A file whose inode, ctime, size, mode and link count are
//!   unchanged is unchanged; otherwise its content, mode and link count are
//!   compared (times alone are no change). What differs is put back
//!   atomically ([`super::beneath::put`]): a file or link whole, a directory
//!   entry by entry (entries added removed, its mode reset), an entry whose
//!   type changed whole. A changed file the snapshot holds no copy of is
//!   removed instead. Then each path is resolved again, and a link or pointer
//!   on its way that was not there at the start is removed.

use super::beneath::{Fate, names, open_child, open_dir, put, remove_all, remove_beneath, split};
use super::snap::{self, Budget, Snap, Stat};
use super::{Id, Planted, Trace, trace, way_text};
use crate::Violation;
use crate::rule::Rule;
use nix::errno::Errno;
use nix::fcntl::readlinkat;
use nix::sys::stat::{Mode, fchmod, fstat};
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Items listed in one detail, at most.
const MAX_LISTED: usize = 8;

/// One snapshotted entry, by its place below the root (no link on its way).
#[derive(Debug)]
struct Entry {
    rel: PathBuf,
    snap: Snap,
}

/// One protected path the host reached at the start.
#[derive(Debug)]
struct Reached {
    /// The path as protected (under the workspace root).
    path: PathBuf,
    /// The links and pointers on its way at the start.
    ways: Vec<(PathBuf, Id)>,
}

/// The protected paths that existed, and the entries that make them.
#[derive(Debug, Default)]
pub(super) struct Kept {
    entries: Vec<Entry>,
    reached: Vec<Reached>,
}

impl Kept {
    /// Snapshot the entries of the paths `reached` (with their traces), below
    /// `root` (descriptor `root_fd`); a path of `links` that is a link stands
    /// for itself, as a `.git` link does (review 82, F1).
    pub(super) fn before(
        root: &Path,
        root_fd: BorrowedFd<'_>,
        reached: Vec<(PathBuf, Trace)>,
        links: &[PathBuf],
    ) -> Kept {
        let dot_git = root.join(".git");
        let mut places: Vec<PathBuf> = Vec::new();
        for (path, t) in &reached {
            places.extend(t.ways.iter().map(|(w, _)| w.clone()));
            match &t.end {
                // A `.git` link stands for itself, and so does a link passed
                // on the way to code.
                Some(end) if (*path == dot_git || links.contains(path)) && end != path => {}
                Some(end) => places.push(end.clone()),
                None => {}
            }
        }
        let mut rels: Vec<PathBuf> = places
            .iter()
            .filter_map(|p| p.strip_prefix(root).ok())
            .filter(|r| !r.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .collect();
        // Component order: a directory before what is in it.
        rels.sort();
        rels.dedup();
        let mut budget = Budget::default();
        let mut entries: Vec<Entry> = Vec::new();
        for rel in rels {
            if entries.iter().any(|e| matches!(e.snap, Snap::Dir { .. }) && rel.starts_with(&e.rel)) {
                continue;
            }
            let Some((parent, name)) = split(&rel) else { continue };
            let Ok(dir) = open_dir(root_fd, parent, false, &mut Vec::new()) else { continue };
            if let Ok(snap) = snap::take(dir.as_fd(), &name, &mut budget, 0) {
                entries.push(Entry { rel, snap });
            }
        }
        let reached = reached.into_iter().map(|(path, t)| Reached { path, ways: t.ways }).collect();
        Kept { entries, reached }
    }

    /// The entries recorded.
    pub(super) fn entries(&self) -> usize {
        self.entries.iter().map(|e| e.snap.count()).sum()
    }

    /// Compare and put back (see the module doc), once the task is gone.
    pub(super) fn after(self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        let Some(fd) = root_fd else {
            if !self.entries.is_empty() {
                let detail = format!(
                    "the workspace {} could not be opened after the task to check its protected paths",
                    root.display()
                );
                out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
            }
            return out;
        };
        for e in &self.entries {
            let Some((parent, name)) = split(&e.rel) else { continue };
            let mut o = Outcome::default();
            match open_dir(fd, parent, true, &mut o.changes) {
                Ok(dir) if allowed_config_change(dir.as_fd(), &name, &e.snap, &e.rel) => {}
                Ok(dir) => settle(dir.as_fd(), &name, &e.snap, Path::new(""), &mut o),
                Err(err) => o.failed.push(format!("its directory could not be reached or made again: {}", err.desc())),
            }
            if !o.changes.is_empty() || !o.failed.is_empty() {
                out.push(o.planted(&root.join(&e.rel)));
            }
        }
        // What is put back leads where it did; a new link or pointer that
        // still leads a path elsewhere goes.
        let covered = |p: &Path| {
            self.entries.iter().any(|e| {
                let at = root.join(&e.rel);
                p == at || (matches!(e.snap, Snap::Dir { .. }) && p.starts_with(&at))
            })
        };
        for r in &self.reached {
            for _ in 0..super::MAX_HOPS {
                let t = trace(root, &r.path);
                let Some((way, _)) = t.ways.iter().find(|(w, _)| !r.ways.iter().any(|(o, _)| o == w) && !covered(w))
                else {
                    break;
                };
                let text = way_text(way);
                let fate = match way.strip_prefix(root) {
                    Ok(rel) if !rel.as_os_str().is_empty() => remove_beneath(fd, rel),
                    _ => Fate::Kept("it lies outside the workspace".to_string()),
                };
                let removed = fate == Fate::Removed;
                let detail = format!(
                    "{}, a protected path, was led elsewhere during the task by {} ({text}){}",
                    r.path.display(),
                    way.display(),
                    fate.words(root, way)
                );
                out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: removed });
                if !removed {
                    break;
                }
            }
        }
        out
    }
}

/// Whether the entry `name` in `dir` is a repository's config (`rel` is
/// `.git/config` or `.git/config.worktree`, or a submodule's below
/// `.git/modules`) changed
/// only as a task may change one ([`crate::jail::gitconfig::judge`], what
/// the supervisor's [`crate::jail::rewrite::change_config`] writes): still
/// a regular file, of the same mode and link count, its content judged
/// against the kept copy. Then there is nothing to put back.
fn allowed_config_change(dir: BorrowedFd<'_>, name: &CStr, snap: &Snap, rel: &Path) -> bool {
    let file = rel.file_name();
    let repo_config = (rel.parent() == Some(Path::new(".git")) || rel.starts_with(".git/modules"))
        && (file == Some(OsStr::new("config")) || file == Some(OsStr::new("config.worktree")));
    let Snap::File { st, content: Some(kept) } = snap else { return false };
    let Ok(now) = Stat::at(dir, name) else { return false };
    if !repo_config || now.fmt != libc::S_IFREG || now.mode != st.mode || now.nlink > st.nlink {
        return false;
    }
    matches!(snap::read(dir, name, now.id, snap::MAX_FILE),
        Ok(Some(bytes)) if crate::jail::gitconfig::judge(&kept.bytes, &bytes, crate::jail::gitconfig::Kind::of(rel)).is_ok())
}

/// What comparing one snapshotted entry found and did.
#[derive(Debug, Default)]
struct Outcome {
    /// What changed, in words ("pre-commit: content changed …").
    changes: Vec<String>,
    /// Changed entries that could not be made again, removed instead.
    removed: Vec<String>,
    /// What could be neither put back nor removed, and why.
    failed: Vec<String>,
}

impl Outcome {
    /// The violation for the entry at `path`.
    fn planted(self, path: &Path) -> Planted {
        let mut d =
            format!("{}, a protected path, was changed during the task: {}", path.display(), list(&self.changes));
        if self.removed.is_empty() && self.failed.is_empty() {
            d.push_str("; restored");
        } else if !self.removed.is_empty() {
            d.push_str(&format!(
                "; restored except {}: no copy was kept (over {} KiB, or past the {} MiB kept in all), so removed (restore it from version control)",
                list(&self.removed),
                snap::MAX_FILE / 1024,
                snap::MAX_TOTAL >> 20
            ));
        }
        if !self.failed.is_empty() {
            d.push_str(&format!(
                "; NOT restored: {}: check {} before any host step reads the workspace",
                list(&self.failed),
                path.display()
            ));
        }
        Planted { violation: Violation::now(Rule::FsProtected, d), undone: self.failed.is_empty() }
    }
}

/// The first items of `v`, and how many more.
fn list(v: &[String]) -> String {
    let mut s = v.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join("; ");
    if v.len() > MAX_LISTED {
        s.push_str(&format!("; and {} more", v.len() - MAX_LISTED));
    }
    s
}

/// `what`, said of the entry `at` (relative to the watched one; empty: itself).
fn said(at: &Path, what: &str) -> String {
    if at.as_os_str().is_empty() { what.to_string() } else { format!("{}: {what}", at.display()) }
}

/// The path `at` in words (the entry itself when empty).
fn named(at: &Path) -> String {
    if at.as_os_str().is_empty() { "it".to_string() } else { at.display().to_string() }
}

/// Compare `name` in `dir` with `snap` (`at`: its path below the watched
/// entry) and put back what differs.
fn settle(dir: BorrowedFd<'_>, name: &CStr, snap: &Snap, at: &Path, o: &mut Outcome) {
    let now = match Stat::at(dir, name) {
        Ok(st) => Some(st),
        Err(Errno::ENOENT) => None,
        Err(e) => {
            o.failed.push(format!("{}: {}", named(at), e.desc()));
            return;
        }
    };
    let what = match (snap, now) {
        (Snap::Dir { st, entries: Some(es) }, Some(n)) if n.fmt == libc::S_IFDIR => {
            return settle_dir(dir, name, st, es, &n, at, o);
        }
        (_, Some(n)) if n.fmt == snap.st().fmt => match differs(dir, name, snap, &n) {
            Some(w) => w,
            None => return,
        },
        (_, Some(n)) => match readlinkat(dir, name) {
            Ok(t) if n.fmt == libc::S_IFLNK => format!("replaced by a symbolic link -> {}", Path::new(&t).display()),
            _ => format!("replaced by {}", n.kind()),
        },
        (_, None) => "removed".to_string(),
    };
    o.changes.push(said(at, &what));
    restore(dir, name, snap, at, o);
}

/// How the entry `name` in `dir` (now `n`, of `snap`'s type) differs from
/// `snap`, if it does.
fn differs(dir: BorrowedFd<'_>, name: &CStr, snap: &Snap, n: &Stat) -> Option<String> {
    let st = snap.st();
    let mut parts = Vec::new();
    match snap {
        Snap::File { content, .. } => {
            if st.same(n) {
                return None;
            }
            match (content, snap::read(dir, name, n.id, snap::MAX_FILE)) {
                (Some(c), Ok(Some(bytes))) if bytes == c.bytes => {}
                (Some(c), Ok(Some(bytes))) => parts.push(format!(
                    "content changed (sha256 {}… → {}…)",
                    snap::short(&c.sha256),
                    snap::short(&snap::sha256(&bytes))
                )),
                (Some(_), Ok(None)) => parts.push(format!("content changed (now {} bytes)", n.size)),
                (Some(_), Err(e)) => parts.push(format!("content changed (unreadable now: {})", e.desc())),
                (None, _) => {
                    parts.push(format!("changed (inode, size or ctime; {} bytes before, {} now)", st.size, n.size))
                }
            }
            if n.nlink > st.nlink {
                parts.push("given another name (a hard link)".to_string());
            }
        }
        Snap::Link { target, .. } => match readlinkat(dir, name) {
            Ok(t) if t == *target => {}
            Ok(t) => parts.push(format!(
                "link target changed to {} (was {})",
                Path::new(&t).display(),
                Path::new(target).display()
            )),
            Err(e) => parts.push(format!("link unreadable now: {}", e.desc())),
        },
        Snap::Dir { .. } => {
            if !st.same(n) {
                parts.push("changed (a directory past the snapshot's bounds: entries not recorded)".to_string());
            }
        }
        Snap::Special { .. } => {}
    }
    if n.mode != st.mode && st.fmt != libc::S_IFLNK {
        parts.push(format!("mode {:04o} → {:04o}", st.mode, n.mode));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Put `snap` back as `name` in `dir` (see [`put`]); what cannot be made
/// again is removed.
fn restore(dir: BorrowedFd<'_>, name: &CStr, snap: &Snap, at: &Path, o: &mut Outcome) {
    if let Snap::Dir { entries: None, .. } = snap {
        o.failed.push(format!("{}: past the snapshot's bounds, left as the task made it", named(at)));
        return;
    }
    let mut left_out = Vec::new();
    match put(dir, name, |d, n| snap::build(d, n, snap, at, &mut left_out)) {
        Ok(None) => {}
        Ok(Some(fresh)) => o.failed.push(format!(
            "{}: what the task put there could not be removed and is beside it as {}",
            named(at),
            fresh.to_string_lossy()
        )),
        Err(Errno::ENODATA) => match remove_all(dir, name) {
            Ok(()) | Err(Errno::ENOENT) => o.removed.push(named(at)),
            Err(e) => o.failed.push(format!("{}: neither made again nor removed: {}", named(at), e.desc())),
        },
        Err(e) => o.failed.push(format!("{}: could not be made again: {}", named(at), e.desc())),
    }
    o.removed.extend(left_out.iter().map(|p| p.display().to_string()));
}

/// Compare the directory `name` in `dir` (now `n`) with its snapshot (`st`,
/// entries `es`) entry by entry, and put back what differs.
fn settle_dir(
    dir: BorrowedFd<'_>,
    name: &CStr,
    st: &Stat,
    es: &[(CString, Snap)],
    n: &Stat,
    at: &Path,
    o: &mut Outcome,
) {
    let fd = match open_child(dir, name) {
        Ok(fd) => fd,
        Err(e) => {
            o.failed.push(format!("{}: {}", named(at), e.desc()));
            return;
        }
    };
    match fstat(fd.as_fd()) {
        Ok(now) if Stat::of(&now).id == n.id => {}
        _ => {
            o.failed.push(format!("{}: replaced while it was compared", named(at)));
            return;
        }
    }
    if n.mode != st.mode {
        o.changes.push(said(at, &format!("mode {:04o} → {:04o}", st.mode, n.mode)));
    }
    let before = o.changes.len();
    // Ours to change while its entries are put back (its mode is reset after).
    if n.mode & 0o700 != 0o700 {
        let _ = fchmod(fd.as_fd(), Mode::from_bits_truncate(0o700 | n.mode));
    }
    match names(fd.as_fd()) {
        Ok(current) => {
            for c in current.iter().filter(|c| !es.iter().any(|(k, _)| k == *c)) {
                let here = at.join(OsStr::from_bytes(c.to_bytes()));
                o.changes.push(said(&here, "added"));
                if let Err(e) = remove_all(fd.as_fd(), c) {
                    o.failed.push(format!("{}: added, and could not be removed: {}", here.display(), e.desc()));
                }
            }
        }
        Err(e) => o.failed.push(format!("{}: could not be listed: {}", named(at), e.desc())),
    }
    for (k, s) in es {
        settle(fd.as_fd(), k, s, &at.join(OsStr::from_bytes(k.to_bytes())), o);
    }
    let now = fstat(fd.as_fd()).map(|s| s.st_mode & 0o7777).unwrap_or(!st.mode);
    if now != st.mode
        && let Err(e) = fchmod(fd.as_fd(), Mode::from_bits_truncate(st.mode))
    {
        o.failed.push(format!("{}: its mode could not be reset: {}", named(at), e.desc()));
    }
    if o.changes.len() > before {
        let _ = nix::unistd::fsync(fd.as_fd());
    }
}
