//! One bounded walk of a workspace through directory descriptors, into a
//! [`Listing`] of every entry's metadata in walk order.
//!
//! Guarantees to its callers:
//! - **No link is ever followed.** Every entry is examined with
//!   `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` relative to its directory's
//!   descriptor, and a directory is entered with
//!   `openat(dirfd, name, O_DIRECTORY | O_NOFOLLOW)`; no path is resolved from
//!   the root again, so a task that swaps a directory for a link while the walk
//!   runs cannot lead it outside the workspace.
//! - **Nothing but directories is opened**, and those with `O_NONBLOCK`: a FIFO,
//!   socket or device is only `lstat`ed, so the walk cannot hang on one.
//! - **Bounded**: at most [`Bounds::max_entries`] entries (checked every 64
//!   entries per thread while it runs, and exactly at its end),
//!   [`Bounds::max_depth`] levels (and so at most that many descriptors open
//!   at once per thread) and a deadline; crossing a bound ends the walk with an
//!   error naming it.
//! - **Deterministic order**, whatever the number of threads: depth first,
//!   names sorted bytewise in each directory, which is the order of [`Path`]'s
//!   `Ord` (component by component) and of [`path_cmp`].
//! - **Parallel by subtrees**: the top of the tree (a few levels, until there
//!   are enough subdirectories) is walked first on the calling thread; the
//!   subtrees below it are then walked by up to `threads` threads (scoped, so
//!   none outlives the walk) and their listings put back in walk order.
//! - **Into the filesystems mounted below the root** (review 81, F4): a
//!   directory on another filesystem than its parent's (a tmpfs, a bind
//!   mount or a volume the host mounted at `<root>/vendor`) is entered like
//!   any other, under the same bounds: its entries count against
//!   [`Bounds::max_entries`], its levels against [`Bounds::max_depth`],
//!   its time against the deadline, so a huge or endless one (a `/proc`)
//!   ends the walk with the bound's error, whose verdict is the callers'
//!   (fail closed). Only mounts below the root are ever reached (every
//!   step is one name below an open directory, no link followed); the
//!   jail's own mounts live in its private mount namespace and are never
//!   seen by the host's walks.
//! - An entry that vanishes between listing and `lstat` (a race) is skipped; a
//!   directory that cannot be opened or listed is recorded as unreadable.
//! - **No blind spot where the walker owns the directory** (review 76, F1):
//!   a directory it owns and may not list or search (mode `0300`, `0100`,
//!   `0600`: not visible as root, which ignores modes) is given its owner's
//!   read and search (`u+rx`, through an `O_PATH` descriptor, its identity
//!   checked), then walked like any other. Every mode so changed is put back
//!   when the [`Unlocked`] the walk returns is dropped (its directories found
//!   again from the root, no link followed, deepest first) — after the
//!   caller is done reading below them. Its own entry in the listing holds
//!   the mode the walk found. Killed in between (`kill -9`), the directories
//!   are left with `u+rx` added: nothing else changes, and only for their
//!   owner. One the walker does not own (or cannot change) stays unreadable.
//!   The root itself is opened up the same way (review 77, A1); a caller
//!   can open up directories before the walk ([`Unlocked::at`],
//!   [`Unlocked::open_up`]) and have the walk note its own in the same
//!   [`Unlocked`] ([`walk_in`]), the listing holding the modes found
//!   before any was opened up.

use super::{EntryKind, Meta};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{self, AtomicBool, AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

/// How far one walk may go.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Entries examined, at most.
    pub max_entries: u64,
    /// Directory levels below the root, at most.
    pub max_depth: usize,
    /// How long the walk may take.
    pub budget: Duration,
}

/// How many times the walk before the task's time the walk after it may
/// take.
pub const AFTER_TASK_BUDGET_FACTOR: u32 = 3;

impl Bounds {
    /// The bounds of the walk after the task: the same entries and levels,
    /// [`AFTER_TASK_BUDGET_FACTOR`] times the time. A walk after the task
    /// that stops is not a diff: the repositories the task may have made
    /// cannot be judged, which fails closed (`fs.protected`, every nested
    /// repository disarmed, the user's own included:
    /// `protected::MadeRepos`). What the task adds is bounded by the
    /// entries and levels, not by the time; the time only guards against
    /// a slow disk, and a machine loaded by the task or by other jobs must
    /// not turn a workspace the walk before took 8 s to list into a
    /// violation.
    pub fn after_task(self) -> Bounds {
        Bounds { budget: self.budget.saturating_mul(AFTER_TASK_BUDGET_FACTOR), ..self }
    }
}

/// Why a walk stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The root could not be opened or examined.
    #[error("cannot open the workspace {}: {errno}", root.display())]
    Root {
        /// The workspace.
        root: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// More entries than [`Bounds::max_entries`].
    #[error("the workspace has more than {0} entries")]
    TooMany(u64),
    /// Deeper than [`Bounds::max_depth`].
    #[error("the workspace is deeper than {0} directory levels")]
    TooDeep(usize),
    /// The deadline passed.
    #[error("walking the workspace took longer than {} ms", .0.as_millis())]
    TooSlow(Duration),
    /// A thread of the walk stopped because another one crossed a bound
    /// (never the error of a whole walk, unless a thread failed).
    #[error("a thread of the walk stopped")]
    Stopped,
}

/// One entry of a [`Listing`]: where its path is in the listing's buffer.
#[derive(Debug, Clone, Copy)]
struct Rec {
    start: usize,
    len: usize,
    meta: Meta,
}

/// What a walk found: every entry's path (relative to the root, as bytes)
/// and metadata in walk order, all paths in one buffer.
#[derive(Debug, Default)]
pub struct Listing {
    paths: Vec<u8>,
    recs: Vec<Rec>,
    unreadable: Vec<Vec<u8>>,
    seen: u64,
}

impl Listing {
    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The `i`th entry in walk order: its relative path and metadata.
    pub fn get(&self, i: usize) -> Option<(&[u8], Meta)> {
        let r = self.recs.get(i)?;
        Some((self.paths.get(r.start..r.start + r.len).unwrap_or_default(), r.meta))
    }

    /// All entries in walk order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Meta)> + '_ {
        (0..self.recs.len()).filter_map(|i| self.get(i))
    }

    /// The directories that could not be opened or listed (their contents unknown).
    pub fn unreadable(&self) -> &[Vec<u8>] {
        &self.unreadable
    }

    /// Entries examined (including those left out and those gone before their `lstat`).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    fn push(&mut self, rel: &[u8], meta: Meta) {
        self.recs.push(Rec { start: self.paths.len(), len: rel.len(), meta });
        self.paths.extend_from_slice(rel);
    }

    fn append(&mut self, other: Listing) {
        let base = self.paths.len();
        self.paths.extend_from_slice(&other.paths);
        self.recs.extend(other.recs.into_iter().map(|r| Rec { start: r.start + base, ..r }));
        self.unreadable.extend(other.unreadable);
    }
}

/// A finished walk: its listing, and the root it walked, still open (to
/// reach the entries again relative to it).
pub struct Walked {
    /// What was found.
    pub listing: Listing,
    /// The root's descriptor.
    pub root: OwnedFd,
    /// The root's filesystem (`st_dev`; the walk also entered those
    /// mounted below it).
    pub dev: u64,
    /// The directories given their owner's read and search to be walked,
    /// still open to it until this is dropped.
    pub unlocked: Unlocked,
}

/// One directory the walk opened up: where, its mode, its identity.
#[derive(Debug)]
struct Unlock {
    rel: Vec<u8>,
    mode: u32,
    dev: u64,
    ino: u64,
}

/// The directories a walk gave their owner's read and search (`u+rx`) to
/// list them; dropping this puts each mode back (see the module doc).
#[derive(Debug, Default)]
pub struct Unlocked {
    /// The walk's root (`None`: nothing may be opened up, as nothing could
    /// be put back).
    root: Option<OwnedFd>,
    dirs: Mutex<Vec<Unlock>>,
}

impl Unlocked {
    /// Open up `root` itself when it is the walker's and refuses it (mode
    /// `0300`, `0100`, `0600`; review 77, A1): the mode is put back on drop,
    /// like every other directory's noted here. `None` when `root` cannot
    /// be opened even so (not the walker's, not a directory, gone).
    pub fn at(root: &Path) -> Option<Unlocked> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let dirs = Mutex::new(Vec::new());
        let pin = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let pinned = nix::fcntl::open(root, pin, Mode::empty()).ok()?;
        let st = fstat(&pinned).ok()?;
        let euid = nix::unistd::geteuid().as_raw();
        let mode = st.st_mode & 0o7777;
        // Mode `0600` opens (read) but nothing below it can be reached.
        let opened = st.st_uid == euid && euid != 0 && mode & 0o500 != 0o500;
        if opened {
            crate::sys::chmod_fd(&pinned, mode | 0o500).ok()?;
        }
        let fd = match nix::fcntl::open(root, flags, Mode::empty()) {
            Ok(fd) if fstat(&fd).is_ok_and(|n| (n.st_dev, n.st_ino) == (st.st_dev, st.st_ino)) => fd,
            _ => {
                if opened {
                    let _ = crate::sys::chmod_fd(&pinned, mode);
                }
                return None;
            }
        };
        if opened && let Ok(mut d) = dirs.lock() {
            d.push(Unlock { rel: Vec::new(), mode, dev: st.st_dev, ino: st.st_ino });
        }
        Some(Unlocked { root: Some(fd), dirs })
    }

    /// Open up the directory `rel` (relative to the root; the directories
    /// above it must be searchable) when it is the walker's and refuses it
    /// read or search: given `u+rx` (its identity checked, no link
    /// followed, not leaving the root) and noted to be put back.
    /// `Err` when it is not the walker's, is no directory, or cannot be
    /// changed; `Ok` when it needed nothing.
    pub fn open_dir(&self, rel: &Path) -> Result<(), Errno> {
        let Some(root) = self.root.as_ref() else { return Err(Errno::EACCES) };
        let how = dir_beneath();
        let pinned = nix::fcntl::openat2(root.as_fd(), rel, how)?;
        let st = fstat(&pinned)?;
        let euid = nix::unistd::geteuid().as_raw();
        if st.st_uid != euid || euid == 0 {
            return Err(Errno::EACCES);
        }
        let mode = st.st_mode & 0o7777;
        if mode & 0o500 == 0o500 {
            return Ok(());
        }
        crate::sys::chmod_fd(&pinned, mode | 0o500).map_err(|_| Errno::EACCES)?;
        self.push(Unlock { rel: rel.as_os_str().as_bytes().to_vec(), mode, dev: st.st_dev, ino: st.st_ino });
        Ok(())
    }

    /// Open up (see [`Unlocked::open_dir`]) every directory of the
    /// walker's on the way to each of `rels` (relative to the root) and,
    /// where one is a directory, below it: a walk by name (no link
    /// followed, into the filesystems mounted below the root), at most `max_dirs`
    /// directories in all and until `deadline`, so that what reads them by
    /// path afterwards sees them whole (review 77, D: the protected paths'
    /// checks). Returns the directories it could not list. Run as root
    /// (which meets no mode), it does nothing.
    pub fn open_up(&self, root: &Path, rels: &[PathBuf], max_dirs: usize, deadline: Instant) -> Vec<PathBuf> {
        use std::os::unix::fs::MetadataExt as _;
        let mut left = Vec::new();
        // Root meets no mode: nothing to open up, no walk.
        if nix::unistd::geteuid().is_root() {
            return left;
        }
        if self.root.is_none() {
            return left;
        }
        let mut dirs = 0usize;
        for rel in rels {
            // The way down: each directory on it, opened up in turn.
            let mut way = PathBuf::new();
            let mut reached = true;
            for c in rel.components() {
                way.push(c);
                match std::fs::symlink_metadata(root.join(&way)) {
                    Ok(m) if m.file_type().is_dir() => {
                        if m.mode() & 0o500 != 0o500 {
                            let _ = self.open_dir(&way);
                        }
                    }
                    _ => {
                        reached = false;
                        break;
                    }
                }
            }
            if !reached {
                continue;
            }
            let mut stack = vec![rel.clone()];
            while let Some(d) = stack.pop() {
                dirs += 1;
                if dirs > max_dirs || Instant::now() > deadline {
                    left.push(d);
                    left.append(&mut stack);
                    return left;
                }
                let rd = match std::fs::read_dir(root.join(&d)) {
                    Ok(rd) => rd,
                    Err(_) => {
                        left.push(d);
                        continue;
                    }
                };
                for e in rd.flatten() {
                    // The entry's type from the listing: only directories are examined.
                    if !e.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    let Ok(m) = e.metadata() else { continue };
                    if !m.file_type().is_dir() {
                        continue;
                    }
                    let child = d.join(e.file_name());
                    if m.mode() & 0o500 != 0o500 {
                        let _ = self.open_dir(&child);
                    }
                    stack.push(child);
                }
            }
        }
        left
    }

    /// How many directories are opened up.
    pub fn len(&self) -> usize {
        self.dirs.lock().map_or_else(|p| p.into_inner().len(), |d| d.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Note `u`, opened up.
    fn push(&self, u: Unlock) {
        match self.dirs.lock() {
            Ok(mut d) => d.push(u),
            Err(p) => p.into_inner().push(u),
        }
    }
}

impl Drop for Unlocked {
    /// Put every mode back, deepest first (each is reached from the root
    /// through directories still open to the walker); one gone, moved or
    /// replaced since is left as it is.
    fn drop(&mut self) {
        let Some(root) = self.root.as_ref() else { return };
        let dirs = match self.dirs.get_mut() {
            Ok(d) => std::mem::take(d),
            Err(p) => std::mem::take(p.into_inner()),
        };
        let mut dirs = dirs;
        dirs.sort_by(|a, b| path_cmp(&b.rel, &a.rel));
        let how = dir_beneath();
        for u in dirs {
            let rel = Path::new(std::ffi::OsStr::from_bytes(&u.rel));
            // The root itself (the last, being the shallowest).
            if u.rel.is_empty() {
                if fstat(root).is_ok_and(|st| (st.st_dev, st.st_ino) == (u.dev, u.ino)) {
                    let _ = crate::sys::chmod_fd(root, u.mode);
                }
                continue;
            }
            let Ok(fd) = nix::fcntl::openat2(root.as_fd(), rel, how) else { continue };
            if fstat(&fd).is_ok_and(|st| (st.st_dev, st.st_ino) == (u.dev, u.ino)) {
                let _ = crate::sys::chmod_fd(&fd, u.mode);
            }
        }
    }
}

/// Walk order of two relative paths: component by component, names bytewise
/// (`/` sorts before any byte a name can hold). The same as [`Path`]'s `Ord`.
pub fn path_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |x: u8| (x != b'/', x);
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((&x, &y)) => key(x).cmp(&key(y)),
        None => a.len().cmp(&b.len()),
    }
}

/// The flags every directory is opened with.
pub(crate) fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
}

/// Walk `root`, skipping the relative paths in `exclude` (and what is below
/// them), on up to `threads` threads.
pub fn walk(root: &Path, exclude: &HashSet<PathBuf>, bounds: Bounds, threads: usize) -> Result<Walked, WalkError> {
    walk_in(root, exclude, bounds, threads, None)
}

/// [`walk`], the directories it opens up noted in `opened` (opened up for
/// the root, [`Unlocked::at`]) when given, which then also tells the modes
/// of those opened up before the walk (its listing holds theirs, not
/// `u+rx`); the [`Walked`]'s own is then empty.
pub fn walk_in(
    root: &Path,
    exclude: &HashSet<PathBuf>,
    bounds: Bounds,
    threads: usize,
    opened: Option<&Unlocked>,
) -> Result<Walked, WalkError> {
    // Compared as bytes, in a sorted list (a handful of paths; hashing each
    // entry's path would cost more).
    let mut exclude: Vec<&[u8]> = exclude.iter().map(|p| p.as_os_str().as_bytes()).collect();
    exclude.sort_unstable();
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    // The root opened up when it refuses the walker (review 77, A1); put
    // back on every way out, a failed walk's too.
    let (unlocked, fd) = match opened {
        Some(_) => (Unlocked::default(), nix::fcntl::open(root, flags, Mode::empty())),
        None => match Unlocked::at(root) {
            Some(u) => {
                let fd = u.root.as_ref().map_or(Err(Errno::EBADF), |f| f.try_clone().map_err(|_| Errno::EMFILE));
                (u, fd)
            }
            None => (Unlocked::default(), nix::fcntl::open(root, flags, Mode::empty())),
        },
    };
    let fd = fd.map_err(|errno| WalkError::Root { root: root.to_path_buf(), errno })?;
    let st = fstat(&fd).map_err(|errno| WalkError::Root { root: root.to_path_buf(), errno })?;
    let (seen, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let euid = nix::unistd::geteuid().as_raw();
    let noted = opened.unwrap_or(&unlocked);
    // The modes of the directories opened up before this walk.
    let pre: HashMap<Vec<u8>, (u64, u32)> = match (opened, opened.map(|o| o.dirs.lock())) {
        (Some(_), Some(Ok(d))) => d.iter().map(|u| (u.rel.clone(), (u.ino, u.mode))).collect(),
        _ => HashMap::new(),
    };
    let ctx = Ctx {
        exclude: &exclude,
        bounds,
        deadline: Instant::now() + bounds.budget,
        seen: &seen,
        stop: &stop,
        euid,
        unlocked: noted.root.is_some().then_some(noted),
        pre: &pre,
    };
    let threads = threads.max(1);
    let mut n = 0;
    let mut fds = Vec::new();
    let top = fd.try_clone().map_err(|e| WalkError::Root {
        root: root.to_path_buf(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE)),
    })?;
    let mut parts = ctx.expand(top, Vec::new(), 0, &mut fds, &mut n)?;
    // Split a few levels further while there are too few subtrees to share.
    for _ in 1..SPLIT_LEVELS {
        let jobs = parts.iter().filter(|p| matches!(p, Part::Job(_))).count();
        if threads == 1 || jobs == 0 || jobs >= threads * JOBS_PER_THREAD {
            break;
        }
        let mut next = Vec::with_capacity(parts.len() + jobs * 2);
        for p in parts {
            match p {
                Part::Done(l) => next.push(Part::Done(l)),
                Part::Job(j) => {
                    let mut l = Listing::default();
                    let parent = fds.get(j.parent).map(|f: &OwnedFd| f.as_fd());
                    match parent
                        .map(|p| ctx.open_child(p, &j.name, &j.rel, j.depth, j.unlock, &mut l))
                        .transpose()?
                        .flatten()
                    {
                        Some(child) => {
                            next.push(Part::Done(l));
                            next.extend(ctx.expand(child, j.rel, j.depth, &mut fds, &mut n)?);
                        }
                        None => next.push(Part::Done(l)),
                    }
                }
            }
        }
        parts = next;
    }
    ctx.tally(&mut n)?;
    let jobs: Vec<(usize, &Job)> =
        parts.iter().enumerate().filter_map(|(i, p)| if let Part::Job(j) = p { Some((i, j)) } else { None }).collect();
    let mut done = ctx.run(&jobs, &fds, threads);
    done.sort_by_key(|(i, _)| *i);
    // The first error in walk order that is not a thread stopped by another's.
    if let Some(e) =
        done.iter_mut().filter_map(|(_, r)| r.as_mut().err()).min_by_key(|e| matches!(e, WalkError::Stopped))
    {
        return Err(std::mem::replace(e, WalkError::Stopped));
    }
    let mut done = done.into_iter().peekable();
    let mut listing = Listing::default();
    for (i, p) in parts.into_iter().enumerate() {
        match p {
            Part::Done(l) => listing.append(l),
            Part::Job(_) => match done.next_if(|(k, _)| *k == i) {
                Some((_, r)) => listing.append(r?),
                // A thread that failed took the job with it.
                None => return Err(WalkError::Stopped),
            },
        }
    }
    listing.seen = seen.load(atomic::Ordering::Relaxed);
    if listing.seen > bounds.max_entries {
        return Err(WalkError::TooMany(bounds.max_entries));
    }
    Ok(Walked { listing, root: fd, dev: st.st_dev, unlocked })
}

/// Subtrees per thread the top is split into (when it has that many), so
/// that one large subtree does not leave the other threads idle for long.
const JOBS_PER_THREAD: usize = 4;

/// Levels of the top split at most.
const SPLIT_LEVELS: usize = 3;

/// Entries a thread examines between looks at the shared count and the clock.
const BATCH: u64 = 64;

/// A piece of the walk, in walk order.
enum Part {
    /// Entries already listed.
    Done(Listing),
    /// A subtree still to walk.
    Job(Job),
}

/// A directory to walk, named relative to an open one.
struct Job {
    /// Its parent's descriptor, as an index into the walk's open directories.
    parent: usize,
    name: CString,
    rel: Vec<u8>,
    depth: usize,
    /// Ours, and not open to us: opened up before it is entered.
    unlock: bool,
}

/// Whether to enter an entry the walk examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enter {
    /// Not a directory.
    No,
    /// A directory.
    Yes,
    /// A directory the walker owns and may not list or search: given `u+rx` first.
    Unlock,
}

/// The names in one directory, sorted bytewise, in one buffer (each followed
/// by its NUL).
struct Names {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Names {
    /// Read `d`; whether the listing was cut short.
    fn read(d: &mut Dir) -> (Names, bool) {
        let mut names = Names { buf: Vec::new(), spans: Vec::new() };
        let mut failed = false;
        for e in d.iter() {
            match e {
                Ok(e) => {
                    let n = e.file_name().to_bytes_with_nul();
                    if n != b".\0" && n != b"..\0" {
                        names.spans.push((names.buf.len(), n.len()));
                        names.buf.extend_from_slice(n);
                    }
                }
                Err(_) => failed = true,
            }
        }
        let buf = &names.buf;
        names.spans.sort_unstable_by(|a, b| buf.get(a.0..a.0 + a.1).cmp(&buf.get(b.0..b.0 + b.1)));
        (names, failed)
    }

    fn iter(&self) -> impl Iterator<Item = &CStr> + '_ {
        self.spans.iter().filter_map(|&(s, l)| CStr::from_bytes_with_nul(self.buf.get(s..s + l)?).ok())
    }
}

/// What every thread of one walk shares.
struct Ctx<'a> {
    exclude: &'a [&'a [u8]],
    bounds: Bounds,
    deadline: Instant,
    seen: &'a AtomicU64,
    /// Set when a thread stopped on a bound: the others stop too.
    stop: &'a AtomicBool,
    /// The walker's effective uid.
    euid: u32,
    /// Where the directories opened up are noted (`None`: none may be).
    unlocked: Option<&'a Unlocked>,
    /// The directories opened up before the walk: identity and mode.
    pre: &'a HashMap<Vec<u8>, (u64, u32)>,
}

impl Ctx<'_> {
    /// Add a thread's `n` entries to the count; an error when a bound is crossed.
    fn tally(&self, n: &mut u64) -> Result<(), WalkError> {
        let total = self.seen.fetch_add(*n, atomic::Ordering::Relaxed) + *n;
        *n = 0;
        let e = if total > self.bounds.max_entries {
            WalkError::TooMany(self.bounds.max_entries)
        } else if Instant::now() > self.deadline {
            WalkError::TooSlow(self.bounds.budget)
        } else if self.stop.load(atomic::Ordering::Relaxed) {
            // Another thread failed; its error is the walk's.
            WalkError::Stopped
        } else {
            return Ok(());
        };
        self.stop.store(true, atomic::Ordering::Relaxed);
        Err(e)
    }

    /// `lstat` of `name` in `dir`, its path appended to `rel`: its metadata and
    /// whether to enter it, or `None` (gone, or left out).
    fn examine(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        rel: &mut Vec<u8>,
        n: &mut u64,
    ) -> Result<Option<(Meta, Enter)>, WalkError> {
        *n += 1;
        if *n >= BATCH {
            self.tally(n)?;
        }
        let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone since the listing (a race), or not examinable: not there.
            Err(_) => return Ok(None),
        };
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.to_bytes());
        if self.exclude.binary_search(&rel.as_slice()).is_ok() {
            return Ok(None);
        }
        let mut meta = meta_of(&st);
        if meta.kind == EntryKind::Dir
            && let Some(&(ino, mode)) = self.pre.get(rel.as_slice())
            && ino == meta.ino
        {
            meta.mode = mode;
        }
        // A directory on another filesystem (a mount below the root) is
        // entered too (review 81, F4), under the same bounds.
        let enter = if meta.kind != EntryKind::Dir {
            Enter::No
        } else if st.st_uid == self.euid && self.euid != 0 && st.st_mode & 0o500 != 0o500 {
            // Root lists and searches any directory: only a user meets its own modes.
            Enter::Unlock
        } else {
            Enter::Yes
        };
        Ok(Some((meta, enter)))
    }

    /// Open the directory `name` in `parent` (at `rel`, `depth` levels down;
    /// `unlock`: open it up first); `None` when it is gone or not a
    /// directory any more, or cannot be opened (then recorded in `out` as
    /// unreadable). One that refuses the walker is opened up when it is the
    /// walker's.
    fn open_child(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        rel: &[u8],
        depth: usize,
        unlock: bool,
        out: &mut Listing,
    ) -> Result<Option<OwnedFd>, WalkError> {
        if depth > self.bounds.max_depth {
            return Err(WalkError::TooDeep(self.bounds.max_depth));
        }
        let opened =
            if unlock { self.unlock(parent, name, rel) } else { openat(parent, name, dir_flags(), Mode::empty()) };
        match opened {
            Ok(fd) => Ok(Some(fd)),
            // Replaced by something else since the lstat: not entered.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => Ok(None),
            Err(Errno::EACCES) if !unlock => match self.unlock(parent, name, rel) {
                Ok(fd) => Ok(Some(fd)),
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => Ok(None),
                Err(_) => {
                    out.unreadable.push(rel.to_vec());
                    Ok(None)
                }
            },
            Err(_) => {
                out.unreadable.push(rel.to_vec());
                Ok(None)
            }
        }
    }

    /// Give the directory `name` in `parent` (at `rel`) its owner's read
    /// and search, when the walker is its owner, note it to be put back,
    /// and open it. `EACCES` when it is not the walker's or its mode cannot
    /// be changed.
    fn unlock(&self, parent: BorrowedFd<'_>, name: &CStr, rel: &[u8]) -> Result<OwnedFd, Errno> {
        let Some(unlocked) = self.unlocked else { return Err(Errno::EACCES) };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let pinned = openat(parent, name, flags, Mode::empty())?;
        let st = fstat(&pinned)?;
        if st.st_uid != self.euid || st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Errno::EACCES);
        }
        let mode = st.st_mode & 0o7777;
        if mode & 0o500 != 0o500 {
            crate::sys::chmod_fd(&pinned, mode | 0o500).map_err(|_| Errno::EACCES)?;
            // Noted before anything else can fail: it is put back whatever follows.
            unlocked.push(Unlock { rel: rel.to_vec(), mode, dev: st.st_dev, ino: st.st_ino });
        }
        let fd = openat(parent, name, dir_flags(), Mode::empty())?;
        let now = fstat(&fd)?;
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Errno::ENOENT);
        }
        Ok(fd)
    }

    /// List the directory `fd` (at `rel`, `depth` levels down) one level: its
    /// entries, and each subdirectory to enter as a [`Job`] after its entry.
    fn expand(
        &self,
        fd: OwnedFd,
        mut rel: Vec<u8>,
        depth: usize,
        fds: &mut Vec<OwnedFd>,
        n: &mut u64,
    ) -> Result<Vec<Part>, WalkError> {
        let mut cur = Listing::default();
        let Some(mut d) = fd.try_clone().ok().and_then(|f| Dir::from_fd(f).ok()) else {
            cur.unreadable.push(rel);
            return Ok(vec![Part::Done(cur)]);
        };
        let (names, failed) = Names::read(&mut d);
        if failed {
            // A listing cut short: what is missing is unknown, not deleted.
            cur.unreadable.push(rel.clone());
        }
        drop(d);
        let parent = fds.len();
        fds.push(fd);
        let mut parts = Vec::new();
        let dir = fds.get(parent).map(|f| f.as_fd());
        let Some(dir) = dir else { return Ok(vec![Part::Done(cur)]) };
        for name in names.iter() {
            let base = rel.len();
            if let Some((meta, enter)) = self.examine(dir, name, &mut rel, n)? {
                cur.push(&rel, meta);
                if enter != Enter::No {
                    parts.push(Part::Done(std::mem::take(&mut cur)));
                    parts.push(Part::Job(Job {
                        parent,
                        name: name.to_owned(),
                        rel: rel.clone(),
                        depth: depth + 1,
                        unlock: enter == Enter::Unlock,
                    }));
                }
            }
            rel.truncate(base);
        }
        parts.push(Part::Done(cur));
        Ok(parts)
    }

    /// Walk the whole subtree of the directory `fd` (at `rel`, `depth` levels
    /// down) into `out`.
    fn subtree(
        &self,
        fd: OwnedFd,
        rel: &mut Vec<u8>,
        depth: usize,
        out: &mut Listing,
        n: &mut u64,
    ) -> Result<(), WalkError> {
        let mut d = match Dir::from_fd(fd) {
            Ok(d) => d,
            Err(_) => {
                out.unreadable.push(rel.clone());
                return Ok(());
            }
        };
        let (names, failed) = Names::read(&mut d);
        if failed {
            out.unreadable.push(rel.clone());
        }
        for name in names.iter() {
            let base = rel.len();
            if let Some((meta, enter)) = self.examine(d.as_fd(), name, rel, n)? {
                out.push(rel, meta);
                if enter != Enter::No
                    && let Some(child) =
                        self.open_child(d.as_fd(), name, rel, depth + 1, enter == Enter::Unlock, out)?
                {
                    self.subtree(child, rel, depth + 1, out, n)?;
                }
            }
            rel.truncate(base);
        }
        Ok(())
    }

    /// One job, whole.
    fn job(&self, j: &Job, fds: &[OwnedFd], n: &mut u64) -> Result<Listing, WalkError> {
        let mut out = Listing::default();
        let Some(parent) = fds.get(j.parent) else { return Ok(out) };
        if let Some(fd) = self.open_child(parent.as_fd(), &j.name, &j.rel, j.depth, j.unlock, &mut out)? {
            let mut rel = j.rel.clone();
            self.subtree(fd, &mut rel, j.depth, &mut out, n)?;
        }
        Ok(out)
    }

    /// The jobs, on up to `threads` threads (this one among them), each with
    /// its index in `jobs`' first field.
    fn run(&self, jobs: &[(usize, &Job)], fds: &[OwnedFd], threads: usize) -> Vec<(usize, Result<Listing, WalkError>)> {
        let next = AtomicUsize::new(0);
        let work = || {
            let mut out = Vec::new();
            let mut n = 0;
            loop {
                let k = next.fetch_add(1, atomic::Ordering::Relaxed);
                let Some(&(i, j)) = jobs.get(k) else { break };
                let r = self.job(j, fds, &mut n);
                out.push((i, r));
            }
            if let Err(e) = self.tally(&mut n)
                && let Some(last) = out.last_mut()
                && last.1.is_ok()
            {
                last.1 = Err(e);
            }
            out
        };
        let helpers = threads.min(jobs.len()).saturating_sub(1);
        std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..helpers).filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok()).collect();
            let mut all = work();
            for h in handles {
                match h.join() {
                    Ok(mut r) => all.append(&mut r),
                    // A helper that panicked: its jobs have no result (the walk fails).
                    Err(_) => self.stop.store(true, atomic::Ordering::Relaxed),
                }
            }
            all
        })
    }
}

/// The parts of `st` a change shows in.
fn meta_of(st: &FileStat) -> Meta {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => EntryKind::File,
        libc::S_IFDIR => EntryKind::Dir,
        libc::S_IFLNK => EntryKind::Symlink,
        libc::S_IFIFO => EntryKind::Fifo,
        libc::S_IFSOCK => EntryKind::Socket,
        libc::S_IFCHR => EntryKind::CharDevice,
        libc::S_IFBLK => EntryKind::BlockDevice,
        _ => EntryKind::Other,
    };
    Meta {
        kind,
        mode: st.st_mode & 0o7777,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
        ino: st.st_ino,
    }
}

/// How a directory below the root is opened to be opened up or put back:
/// a path descriptor, no link followed, not leaving the root (the
/// filesystems mounted below it included, as the walk enters them).
fn dir_beneath() -> nix::fcntl::OpenHow {
    nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(nix::fcntl::ResolveFlag::RESOLVE_BENEATH | nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS)
}
