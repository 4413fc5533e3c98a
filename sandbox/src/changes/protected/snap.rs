//! What a protected entry was before the task: enough to tell any change to
//! it, and to make it again as it was.
//!
//! - Read through descriptors only, never following a link: `fstatat` with
//!   `AT_SYMLINK_NOFOLLOW` relative to the directory held open; a file opened
//!   with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` and read only when `fstat` of
//!   the descriptor shows the inode `fstatat` saw; a directory opened with
//!   `O_DIRECTORY | O_NOFOLLOW` under the same check; a link's target read
//!   with `readlinkat`. FIFOs, sockets and devices are never opened. Nothing
//!   is changed while the snapshot is taken.
//! - Bounded ([`Budget`]): a file's content is kept (and its SHA-256) up to
//!   [`MAX_FILE`] bytes each and [`MAX_TOTAL`] in all. Past that a file is
//!   known by its metadata only — inode, ctime, size, mode and link count: a
//!   write, a chmod or a new name moves its ctime, which a task cannot set —
//!   so a change is still seen, but the file cannot be made again. At most
//!   [`MAX_ENTRIES`] entries and [`MAX_DEPTH`] levels are recorded; past them
//!   a directory is known by its own metadata only: an entry added, removed
//!   or renamed in it is seen (that moves the directory's ctime), a file
//!   changed in place further down is not.
//! - [`build`] makes an entry as it was, under a name of the caller's:
//!   content (written, then `fsync`ed), mode, link target, modification
//!   time, and owner when running as root; a directory with its entries.

use super::beneath::names;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstat, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, fsync, symlinkat};
use sha2::{Digest, Sha256};
use std::ffi::{CStr, CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A file's content is kept up to this many bytes.
pub(super) const MAX_FILE: u64 = 1 << 20;
/// The contents kept for one task, at most, in all.
pub(super) const MAX_TOTAL: u64 = 16 << 20;
/// Entries recorded for one task, at most.
pub(super) const MAX_ENTRIES: usize = 100_000;
/// Directory levels recorded below a watched entry, at most.
pub(super) const MAX_DEPTH: usize = 32;

/// What is left to record.
#[derive(Debug)]
pub(super) struct Budget {
    /// Bytes of content.
    pub(super) bytes: u64,
    /// Entries.
    pub(super) entries: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { bytes: MAX_TOTAL, entries: MAX_ENTRIES }
    }
}

/// The metadata an entry is compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    /// The type bits (`st_mode & S_IFMT`).
    pub(super) fmt: u32,
    /// The permission bits (`st_mode & 0o7777`).
    pub(super) mode: u32,
    /// Owner.
    pub(super) uid: u32,
    /// Group.
    pub(super) gid: u32,
    /// `st_size`.
    pub(super) size: u64,
    /// Link count.
    pub(super) nlink: u64,
    /// Device and inode.
    pub(super) id: (u64, u64),
    /// `st_mtime`, seconds and nanoseconds.
    pub(super) mtime: (i64, i64),
    /// `st_ctime`, seconds and nanoseconds.
    pub(super) ctime: (i64, i64),
}

impl Stat {
    /// From `stat(2)`'s answer.
    pub(super) fn of(st: &FileStat) -> Stat {
        Stat {
            fmt: st.st_mode & libc::S_IFMT,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            #[allow(clippy::useless_conversion)] // nlink_t is u32 on some targets
            nlink: u64::from(st.st_nlink),
            id: (st.st_dev, st.st_ino),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// The entry `name` in `dir`, not following a link.
    pub(super) fn at(dir: BorrowedFd<'_>, name: &CStr) -> nix::Result<Stat> {
        fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| Stat::of(&st))
    }

    /// Nothing about the inode changed: the same inode with the same ctime,
    /// size, type, mode and link count.
    pub(super) fn same(&self, o: &Stat) -> bool {
        (self.id, self.ctime, self.size, self.fmt, self.mode, self.nlink)
            == (o.id, o.ctime, o.size, o.fmt, o.mode, o.nlink)
    }

    /// What it is, in words.
    pub(super) fn kind(&self) -> &'static str {
        match self.fmt {
            libc::S_IFREG => "a file",
            libc::S_IFDIR => "a directory",
            libc::S_IFLNK => "a symbolic link",
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            _ => "a device",
        }
    }
}

/// A file's content as kept.
#[derive(Debug)]
pub(super) struct Content {
    /// The bytes.
    pub(super) bytes: Vec<u8>,
    /// Their SHA-256.
    pub(super) sha256: [u8; 32],
}

/// What one entry was.
#[derive(Debug)]
pub(super) enum Snap {
    /// A regular file, with its content when it was kept.
    File { st: Stat, content: Option<Content> },
    /// A directory, with its entries (sorted by name) when they were recorded.
    Dir { st: Stat, entries: Option<Vec<(CString, Snap)>> },
    /// A symbolic link and its target.
    Link { st: Stat, target: OsString },
    /// A FIFO, socket or device (never opened; not made again).
    Special { st: Stat },
}

impl Snap {
    /// Its metadata.
    pub(super) fn st(&self) -> &Stat {
        match self {
            Snap::File { st, .. } | Snap::Dir { st, .. } | Snap::Link { st, .. } | Snap::Special { st } => st,
        }
    }

    /// The entries recorded, itself included.
    pub(super) fn count(&self) -> usize {
        match self {
            Snap::Dir { entries: Some(es), .. } => 1 + es.iter().map(|(_, s)| s.count()).sum::<usize>(),
            _ => 1,
        }
    }
}

/// The entry `name` in `dir` as it is now, `depth` levels below the watched
/// entry, within `budget`.
pub(super) fn take(dir: BorrowedFd<'_>, name: &CStr, budget: &mut Budget, depth: usize) -> nix::Result<Snap> {
    let st = Stat::at(dir, name)?;
    budget.entries = budget.entries.saturating_sub(1);
    Ok(match st.fmt {
        libc::S_IFREG => {
            let mut content = None;
            if st.size <= MAX_FILE.min(budget.bytes)
                && let Ok(Some(bytes)) = read(dir, name, st.id, st.size)
            {
                budget.bytes -= bytes.len() as u64;
                content = Some(Content { sha256: sha256(&bytes), bytes });
            }
            Snap::File { st, content }
        }
        libc::S_IFDIR => Snap::Dir { st, entries: entries(dir, name, &st, budget, depth).ok().flatten() },
        libc::S_IFLNK => Snap::Link { st, target: readlinkat(dir, name)? },
        _ => Snap::Special { st },
    })
}

/// The entries of the directory `name` in `dir` (`st`), or `None` past the
/// bounds.
fn entries(
    dir: BorrowedFd<'_>,
    name: &CStr,
    st: &Stat,
    budget: &mut Budget,
    depth: usize,
) -> nix::Result<Option<Vec<(CString, Snap)>>> {
    if depth >= MAX_DEPTH {
        return Ok(None);
    }
    let fd = openat(dir, name, crate::changes::walk::dir_flags(), Mode::empty())?;
    if Stat::of(&fstat(fd.as_fd())?).id != st.id {
        return Err(Errno::ESTALE);
    }
    let mut listed = names(fd.as_fd())?;
    listed.sort();
    let mut out = Vec::with_capacity(listed.len());
    for n in listed {
        if budget.entries == 0 {
            return Ok(None);
        }
        match take(fd.as_fd(), &n, budget, depth + 1) {
            Ok(s) => out.push((n, s)),
            // Gone since it was listed: the workspace is not the task's yet.
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// The bytes of the regular file `name` in `dir` when it is still the inode
/// `id` and holds at most `max` bytes (`None`: more).
pub(super) fn read(dir: BorrowedFd<'_>, name: &CStr, id: (u64, u64), max: u64) -> nix::Result<Option<Vec<u8>>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())?;
    let st = Stat::of(&fstat(fd.as_fd())?);
    if st.fmt != libc::S_IFREG || st.id != id {
        return Err(Errno::ESTALE);
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The first 12 hex digits of a SHA-256, for a detail.
pub(super) fn short(sha: &[u8; 32]) -> String {
    sha.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Make `snap` as `name` in `dir` (which must not exist). A file without
/// content, a device or a directory past the bounds cannot be made
/// (`ENODATA`); inside a directory such an entry is left out and its path
/// (`at` joined with its name) pushed onto `left_out`.
pub(super) fn build(
    dir: BorrowedFd<'_>,
    name: &CStr,
    snap: &Snap,
    at: &Path,
    left_out: &mut Vec<PathBuf>,
) -> nix::Result<()> {
    let root = nix::unistd::geteuid().is_root();
    match snap {
        Snap::File { st, content: Some(c) } => {
            let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = openat(dir, name, flags, Mode::from_bits_truncate(0o600))?;
            let mut f = std::fs::File::from(fd);
            f.write_all(&c.bytes).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            finish(f.as_fd(), st, root)
        }
        Snap::Link { st, target } => {
            symlinkat(target.as_os_str(), dir, name)?;
            if root {
                fchownat(
                    dir,
                    name,
                    Some(Uid::from_raw(st.uid)),
                    Some(Gid::from_raw(st.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
            }
            Ok(())
        }
        Snap::Dir { st, entries: Some(es) } => {
            mkdirat(dir, name, Mode::from_bits_truncate(0o700))?;
            let fd = openat(dir, name, crate::changes::walk::dir_flags(), Mode::empty())?;
            for (n, s) in es {
                let here = at.join(std::ffi::OsStr::from_bytes(n.to_bytes()));
                match build(fd.as_fd(), n, s, &here, left_out) {
                    Err(Errno::ENODATA) => left_out.push(here),
                    r => r?,
                }
            }
            finish(fd.as_fd(), st, root)
        }
        Snap::File { content: None, .. } | Snap::Dir { entries: None, .. } | Snap::Special { .. } => {
            Err(Errno::ENODATA)
        }
    }
}

/// Owner (as root), mode and modification time of a made file or directory,
/// then `fsync`.
fn finish(fd: BorrowedFd<'_>, st: &Stat, root: bool) -> nix::Result<()> {
    if root {
        fchown(fd, Some(Uid::from_raw(st.uid)), Some(Gid::from_raw(st.gid)))?;
    }
    // After the owner: chown clears the set-ID bits.
    fchmod(fd, Mode::from_bits_truncate(st.mode))?;
    futimens(fd, &TimeSpec::UTIME_OMIT, &TimeSpec::new(st.mtime.0, st.mtime.1))?;
    fsync(fd)
}
