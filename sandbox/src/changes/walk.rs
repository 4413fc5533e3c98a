//! One bounded walk of a workspace through directory descriptors.
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
//! - **Bounded**: at most [`Bounds::max_entries`] entries, [`Bounds::max_depth`]
//!   levels (and so at most that many descriptors open at once) and a deadline;
//!   crossing a bound ends the walk with an error naming it.
//! - **Deterministic order**: depth first, names sorted bytewise in each
//!   directory, which is the order of [`Path`]'s `Ord` (component by component).
//! - Other filesystems mounted below the root are listed but not entered.
//! - An entry that vanishes between listing and `lstat` (a race) is skipped; a
//!   directory that cannot be opened is reported to the visitor as unreadable.

use super::{EntryKind, Meta};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
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
}

/// One entry as the visitor sees it.
pub struct Entry<'a> {
    /// Its path relative to the root.
    pub rel: &'a Path,
    /// What `lstat` said.
    pub meta: Meta,
    /// Its directory (for `openat`/`readlinkat` relative to it).
    pub dir: BorrowedFd<'a>,
    /// Its name in that directory.
    pub name: &'a CStr,
}

/// What the visitor is told.
pub trait Visitor {
    /// An entry (any kind), before a directory's contents.
    fn entry(&mut self, e: Entry<'_>);
    /// A directory that could not be opened (its contents are unknown).
    fn unreadable(&mut self, rel: &Path);
}

/// Walk `root`, skipping the relative paths in `exclude` (and what is below
/// them); returns the number of entries examined.
pub fn walk(root: &Path, exclude: &HashSet<PathBuf>, bounds: Bounds, v: &mut dyn Visitor) -> Result<u64, WalkError> {
    // Compared as bytes: hashing a `Path` goes component by component.
    let exclude: HashSet<&[u8]> = exclude.iter().map(|p| p.as_os_str().as_bytes()).collect();
    let exclude = &exclude;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::open(root, flags, Mode::empty())
        .map_err(|errno| WalkError::Root { root: root.to_path_buf(), errno })?;
    let st = fstat(&fd).map_err(|errno| WalkError::Root { root: root.to_path_buf(), errno })?;
    let deadline = Instant::now() + bounds.budget;
    let mut w = Walk { exclude, bounds, deadline, dev: st.st_dev, seen: 0, v };
    let mut rel = PathBuf::new();
    w.dir(fd, &mut rel, 0)?;
    Ok(w.seen)
}

struct Walk<'a> {
    exclude: &'a HashSet<&'a [u8]>,
    bounds: Bounds,
    deadline: Instant,
    dev: u64,
    seen: u64,
    v: &'a mut dyn Visitor,
}

impl Walk<'_> {
    fn dir(&mut self, fd: OwnedFd, rel: &mut PathBuf, depth: usize) -> Result<(), WalkError> {
        let mut d = match Dir::from_fd(fd) {
            Ok(d) => d,
            Err(_) => {
                self.v.unreadable(rel);
                return Ok(());
            }
        };
        let mut names: Vec<CString> = Vec::new();
        let mut failed = false;
        for e in d.iter() {
            match e {
                Ok(e) => {
                    let n = e.file_name();
                    if n != c"." && n != c".." {
                        names.push(n.to_owned());
                    }
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            // A listing cut short: what is missing is unknown, not deleted.
            self.v.unreadable(rel);
        }
        names.sort_unstable();
        for name in &names {
            self.seen += 1;
            if self.seen > self.bounds.max_entries {
                return Err(WalkError::TooMany(self.bounds.max_entries));
            }
            if self.seen.is_multiple_of(64) && Instant::now() > self.deadline {
                return Err(WalkError::TooSlow(self.bounds.budget));
            }
            let st = match fstatat(d.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Gone since the listing (a race), or not examinable: not there.
                Err(_) => continue,
            };
            rel.push(OsStr::from_bytes(name.to_bytes()));
            if self.exclude.contains(rel.as_os_str().as_bytes()) {
                rel.pop();
                continue;
            }
            let meta = meta_of(&st);
            self.v.entry(Entry { rel, meta, dir: d.as_fd(), name });
            if meta.kind == EntryKind::Dir && st.st_dev == self.dev {
                if depth + 1 > self.bounds.max_depth {
                    return Err(WalkError::TooDeep(self.bounds.max_depth));
                }
                let flags =
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
                match openat(d.as_fd(), name.as_c_str(), flags, Mode::empty()) {
                    Ok(child) => self.dir(child, rel, depth + 1)?,
                    // Replaced by something else since the lstat: not entered.
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {}
                    Err(_) => self.v.unreadable(rel),
                }
            }
            rel.pop();
        }
        Ok(())
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
