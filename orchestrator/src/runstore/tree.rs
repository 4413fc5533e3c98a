//! Removing a directory tree below an open directory, never through a link
//! (what `orchestra runs prune` removes a run directory with).
//!
//! Guarantees: every directory is opened relative to its parent's descriptor
//! ([`at::open_dir`](super::at::open_dir): `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`), and every other entry is removed with `unlinkat`,
//! so a symbolic link anywhere in the tree — there before the removal or
//! swapped in during it — is removed as a link and whatever it points at is
//! never opened, listed or removed. The walk never leaves the filesystem of
//! the tree's root: a mount point below it is refused, as
//! `rm --one-file-system` would. An entry whose identity (device, inode) is
//! one of the [`Guard`]'s protected ones (the audit log, its key) is refused,
//! and so is an audit log segment wherever it lies (a file named like one,
//! `<20 digits>.seg`, that starts with the segment magic), even one no run
//! recorded; [`check`] walks the whole tree first without removing anything,
//! so a tree that holds one is left whole.

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What a removal must not cross.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The device of the tree's root: the walk stays on it.
    pub dev: u64,
    /// `(st_dev, st_ino)` of files and directories never removed, nor anything holding them.
    pub protected: Vec<(u64, u64)>,
}

/// Why a tree was not (entirely) removed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// An I/O error on an entry of the tree.
    #[error("{}: {source}", path.display())]
    Io {
        /// The entry.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A mount point in the tree.
    #[error("{}: a mount point (another filesystem); not removed", .0.display())]
    MountPoint(PathBuf),
    /// A protected entry in the tree.
    #[error("{}: is or holds an audit log or its signing key; not removed", .0.display())]
    Protected(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io { path: path.to_path_buf(), source }
}

/// The names in the open directory `dir` (without `.` and `..`).
fn names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let mut d = nix::dir::Dir::from_fd(dir.try_clone()?).map_err(io::Error::from)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry.map_err(io::Error::from)?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(OsStr::from_bytes(name).to_owned());
        }
    }
    Ok(out)
}

/// One level of the walk: `dir` is at `path`; with `remove`, everything in
/// it is removed (not `dir` itself).
fn walk(dir: &OwnedFd, path: &Path, guard: &Guard, remove: bool) -> Result<(), TreeError> {
    let st = fstat(dir.as_fd()).map_err(|e| TreeError::Io { path: path.to_path_buf(), source: e.into() })?;
    if st.st_dev != guard.dev {
        return Err(TreeError::MountPoint(path.to_path_buf()));
    }
    if guard.protected.contains(&(st.st_dev, st.st_ino)) {
        return Err(TreeError::Protected(path.to_path_buf()));
    }
    for name in names(dir).map_err(io_err(path))? {
        let child = path.join(&name);
        let st = match fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(TreeError::Io { path: child, source: e.into() }),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if guard.protected.contains(&(st.st_dev, st.st_ino)) || (kind == SFlag::S_IFREG && is_segment(dir, &name)) {
            return Err(TreeError::Protected(child));
        }
        if kind == SFlag::S_IFDIR {
            // A directory swapped for a link since the fstatat is refused here (ELOOP), not followed.
            let sub = super::at::open_dir(dir, Path::new(&name)).map_err(io_err(&child))?;
            walk(&sub, &child, guard, remove)?;
            if remove {
                unlink(dir, &name, UnlinkatFlags::RemoveDir, &child)?;
            }
        } else if remove {
            unlink(dir, &name, UnlinkatFlags::NoRemoveDir, &child)?;
        }
    }
    Ok(())
}

/// Whether `name` in `dir` is an audit log segment: named like one, and
/// starting with the segment magic.
fn is_segment(dir: &OwnedFd, name: &OsStr) -> bool {
    use std::io::Read;
    let b = name.as_encoded_bytes();
    let named = b.len() == 24 && b.ends_with(b".seg") && b[..20].iter().all(u8::is_ascii_digit);
    let mut magic = [0u8; 8];
    named
        && super::at::open_read(dir, Path::new(name)).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && magic == crate::audit::format::SEGMENT_MAGIC
}

fn unlink(dir: &OwnedFd, name: &OsStr, how: UnlinkatFlags, path: &Path) -> Result<(), TreeError> {
    match unlinkat(dir, name, how) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(TreeError::Io { path: path.to_path_buf(), source: e.into() }),
    }
}

/// Walk the tree of the open directory `dir` (at `path`, for messages)
/// without removing anything: `Ok` when it holds no mount point and nothing
/// protected.
pub fn check(dir: &OwnedFd, path: &Path, guard: &Guard) -> Result<(), TreeError> {
    walk(dir, path, guard, false)
}

/// Remove the directory `name` of the open directory `parent` and
/// everything in it (`path` names it in messages); [`check`]ed first, so a
/// tree holding something protected or a mount point is left whole.
pub fn remove(parent: &OwnedFd, name: &OsStr, path: &Path, guard: &Guard) -> Result<(), TreeError> {
    let dir = super::at::open_dir(parent, Path::new(name)).map_err(io_err(path))?;
    check(&dir, path, guard)?;
    walk(&dir, path, guard, true)?;
    drop(dir);
    unlink(parent, name, UnlinkatFlags::RemoveDir, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn open(p: &Path) -> OwnedFd {
        super::super::at::open_dir(File::open(p).unwrap(), Path::new(".")).unwrap()
    }

    fn guard_for(p: &Path, protected: &[&Path]) -> Guard {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        Guard {
            dev: m.dev(),
            protected: protected
                .iter()
                .map(|q| {
                    let m = std::fs::symlink_metadata(q).unwrap();
                    (m.dev(), m.ino())
                })
                .collect(),
        }
    }

    #[test]
    fn links_in_the_tree_are_removed_as_links_and_their_targets_stay() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("canary"), "keep me").unwrap();
        let t = root.path().join("t");
        std::fs::create_dir_all(t.join("a/b/c")).unwrap();
        std::fs::write(t.join("a/b/c/f"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.join("a/dir-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("canary"), t.join("a/b/file-link")).unwrap();
        let g = guard_for(root.path(), &[]);
        remove(&open(root.path()), OsStr::new("t"), &t, &g).unwrap();
        assert!(!t.exists());
        assert_eq!(std::fs::read_to_string(outside.path().join("canary")).unwrap(), "keep me");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_tree_holding_a_protected_entry_is_left_whole() {
        let root = tempfile::tempdir().unwrap();
        let t = root.path().join("t");
        std::fs::create_dir_all(t.join("x/audit")).unwrap();
        std::fs::write(t.join("x/audit/segment"), "records").unwrap();
        std::fs::write(t.join("first"), "1").unwrap();
        let g = guard_for(root.path(), &[&t.join("x/audit")]);
        let e = remove(&open(root.path()), OsStr::new("t"), &t, &g).unwrap_err();
        assert!(matches!(e, TreeError::Protected(_)), "{e}");
        assert!(t.join("first").is_file() && t.join("x/audit/segment").is_file(), "nothing removed");
        // A segment nobody named is recognised by its name and magic; a look-alike is not.
        let g = guard_for(root.path(), &[]);
        std::fs::write(t.join("x/audit/segment"), "records").unwrap();
        std::fs::write(t.join("x/audit/00000000000000000001.seg"), b"ORCHAUDT\x00\x00\x00\x01").unwrap();
        let e = remove(&open(root.path()), OsStr::new("t"), &t, &g).unwrap_err();
        assert!(matches!(e, TreeError::Protected(_)), "{e}");
        std::fs::write(t.join("x/audit/00000000000000000001.seg"), b"not a segment").unwrap();
        remove(&open(root.path()), OsStr::new("t"), &t, &g).unwrap();
        assert!(!t.exists());
    }
}
