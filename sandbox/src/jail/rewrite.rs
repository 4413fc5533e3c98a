//! A rename of a file with the same bytes onto a protected file: what git
//! does when it writes a config it does not change (`git submodule update`
//! of a populated checkout rewrites each submodule's `config` with the
//! `core.worktree` it already holds, through `config.lock`).
//!
//! Guarantees:
//! - [`same_bytes`] holds only for two regular files (no link followed at
//!   the last component) with the same permission bits and the same bytes,
//!   at most [`MAX_COMPARED`] of them;
//! - the protected file is never written: the rename is answered as done
//!   without being done, so what the task changes in the source after the
//!   comparison reaches nothing protected;
//! - [`drop_source`] removes only the source's name, from its directory
//!   opened without following any link, and only when that name is a
//!   regular file: it does what the task could do itself in its writable
//!   roots (the caller judged the source writable and not protected), so
//!   the lock file git expects gone is gone.
//!
//! And a rename of `config.lock` onto a protected git config that changes
//! it ([`change_config`]): what `git checkout -b x origin/x` or `git remote
//! add` write. Guarantees:
//! - both files are read once, each opened below their directory (opened
//!   with no link followed) with no link followed, without blocking, and
//!   only as regular files of at most [`MAX_COMPARED`] bytes;
//! - the change is made only when [`super::gitconfig::judge`] allows it,
//!   and what is written is the very bytes judged: the task's file is never
//!   renamed (it could change after the check), it is removed like
//!   [`drop_source`] does;
//! - the config is rewritten in place, the same inode (its mode and owner
//!   kept), truncated, written, then synced: a rename onto
//!   it is impossible where the jail binds it read-only (`EBUSY` on a mount
//!   point), so where it is bound the write goes through a detached copy of
//!   its directory's own mount, which holds no bind; the file written is
//!   checked to be the file read;
//! - any failure before the write leaves the config as it was.

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Files are compared up to this size (a git config is a few KiB).
pub const MAX_COMPARED: u64 = 1 << 20;

/// Whether `src` and `dst` are regular files with the same permission bits
/// and the same bytes.
pub fn same_bytes(src: &Path, dst: &Path) -> bool {
    let read = |p: &Path| -> Option<(u32, Vec<u8>)> {
        let f =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(p).ok()?;
        let m = f.metadata().ok()?;
        if !m.is_file() || m.len() > MAX_COMPARED {
            return None;
        }
        let mut bytes = Vec::with_capacity(m.len() as usize);
        f.take(MAX_COMPARED + 1).read_to_end(&mut bytes).ok()?;
        Some((m.mode() & 0o7777, bytes))
    };
    match (read(src), read(dst)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Remove the name `src` (a regular file), its directory opened with no
/// link followed on the way.
pub fn drop_source(src: &Path) -> nix::Result<()> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let (Some(parent), Some(name)) = (src.parent(), src.file_name()) else { return Err(nix::Error::EINVAL) };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let dir = nix::fcntl::openat2(nix::fcntl::AT_FDCWD, parent, how)?;
    let st = nix::sys::stat::fstatat(&dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(nix::Error::EISDIR);
    }
    nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
}

/// Why [`change_config`] did not change a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigChangeError {
    /// The source is not the config's own `.lock` beside it.
    #[error("the source is not the config's lock file beside it")]
    NotItsLock,
    /// A file or directory could not be opened as it must be.
    #[error("open {what}: {source}")]
    Open {
        /// Which.
        what: &'static str,
        /// The system's reason (`ELOOP`: a link on the way).
        source: nix::Error,
    },
    /// A file is no regular file of at most [`MAX_COMPARED`] bytes.
    #[error("{0} is not a regular file of at most {MAX_COMPARED} bytes")]
    NotSmallFile(&'static str),
    /// A file could not be read.
    #[error("read {what}: {source}")]
    Read {
        /// Which.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The change is not one a task may make.
    #[error(transparent)]
    Refused(#[from] super::gitconfig::Refusal),
    /// No writable way to the config (its directory's mount not copied).
    #[error("no writable way to the config: {0}")]
    NoWay(std::io::Error),
    /// The file opened for writing is not the file read.
    #[error("the config opened for writing is another file than the one read")]
    Swapped,
    /// Removing the source failed.
    #[error("remove the source: {0}")]
    DropSource(nix::Error),
    /// Writing the config failed (the old bytes were written back as far as possible).
    #[error("write the config: {0}")]
    Write(std::io::Error),
}

/// Open `dir` (absolute) with no link followed on the way.
fn open_dir(dir: &Path) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(nix::fcntl::AT_FDCWD, dir, how)
}

/// Open `name` in `dir` with `flags`, no link followed, not leaving `dir`.
fn open_in(
    dir: &impl std::os::fd::AsFd,
    name: &std::ffi::OsStr,
    flags: nix::fcntl::OFlag,
) -> nix::Result<std::fs::File> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(dir, Path::new(name), how).map(std::fs::File::from)
}

/// The bytes of the regular file `name` in `dir` (at most [`MAX_COMPARED`]),
/// with its (device, inode).
fn read_small(
    dir: &impl std::os::fd::AsFd,
    name: &std::ffi::OsStr,
    what: &'static str,
) -> Result<(Vec<u8>, (u64, u64)), ConfigChangeError> {
    let f =
        open_in(dir, name, nix::fcntl::OFlag::O_RDONLY).map_err(|source| ConfigChangeError::Open { what, source })?;
    let m = f.metadata().map_err(|source| ConfigChangeError::Read { what, source })?;
    if !m.is_file() || m.len() > MAX_COMPARED {
        return Err(ConfigChangeError::NotSmallFile(what));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    f.take(MAX_COMPARED + 1).read_to_end(&mut bytes).map_err(|source| ConfigChangeError::Read { what, source })?;
    if bytes.len() as u64 > MAX_COMPARED {
        return Err(ConfigChangeError::NotSmallFile(what));
    }
    Ok((bytes, (m.dev(), m.ino())))
}

/// Make the change of the git config `target` that renaming `source` (its
/// `.lock`) onto it would make, if [`super::gitconfig::judge`] allows it:
/// the judged bytes are written into `target` and `source` is removed (see
/// the module doc).
pub fn change_config(source: &Path, target: &Path) -> Result<(), ConfigChangeError> {
    let (Some(dir), Some(name), Some(lock)) = (target.parent(), target.file_name(), source.file_name()) else {
        return Err(ConfigChangeError::NotItsLock);
    };
    let mut want = name.to_os_string();
    want.push(".lock");
    if source.parent() != Some(dir) || lock != want {
        return Err(ConfigChangeError::NotItsLock);
    }
    let dir = open_dir(dir).map_err(|source| ConfigChangeError::Open { what: "the config's directory", source })?;
    let (new, _) = read_small(&dir, lock, "the new config")?;
    let (old, id) = read_small(&dir, name, "the config")?;
    super::gitconfig::judge(&old, &new)?;
    let wo = nix::fcntl::OFlag::O_WRONLY;
    let file = match open_in(&dir, name, wo) {
        Ok(f) => f,
        // The jail's read-only bind: through the directory's own mount, copied alone.
        Err(nix::Error::EROFS) => {
            let tree = crate::sys::open_tree_clone_alone(&dir).map_err(ConfigChangeError::NoWay)?;
            open_in(&tree, name, wo).map_err(|e| ConfigChangeError::NoWay(e.into()))?
        }
        Err(source) => return Err(ConfigChangeError::Open { what: "the config for writing", source }),
    };
    let m = file.metadata().map_err(ConfigChangeError::Write)?;
    if !m.is_file() || (m.dev(), m.ino()) != id {
        return Err(ConfigChangeError::Swapped);
    }
    drop_source(source).map_err(ConfigChangeError::DropSource)?;
    let write = |bytes: &[u8]| -> std::io::Result<()> {
        file.set_len(0)?;
        std::os::unix::fs::FileExt::write_all_at(&file, bytes, 0)?;
        file.sync_all()
    };
    if let Err(e) = write(&new) {
        let _ = write(&old);
        return Err(ConfigChangeError::Write(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_config_change_is_written_from_the_bytes_judged_and_others_leave_all_as_it_was() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let (cfg, lock) = (d.path().join("config"), d.path().join("config.lock"));
        let old = "[core]\n\tbare = false\n";
        std::fs::write(&cfg, old).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
        let ino = std::fs::metadata(&cfg).unwrap().ino();
        // Refused: the config and the lock stay as they are.
        let hostile = format!("{old}[core]\n\tfsmonitor = touch m\n");
        std::fs::write(&lock, &hostile).unwrap();
        let e = change_config(&lock, &cfg).unwrap_err();
        assert!(matches!(e, ConfigChangeError::Refused(_)), "{e}");
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), old);
        assert!(lock.exists());
        // Not the config's own lock beside it.
        let other = d.path().join("other.lock");
        std::fs::write(&other, old).unwrap();
        assert!(matches!(change_config(&other, &cfg), Err(ConfigChangeError::NotItsLock)));
        // A lock that is a link is not followed.
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&other, &lock).unwrap();
        assert!(matches!(change_config(&lock, &cfg), Err(ConfigChangeError::Open { .. })));
        std::fs::remove_file(&lock).unwrap();
        // Allowed: the judged bytes, in the same file with its mode; the lock gone.
        let new = format!("{old}[branch \"feat\"]\n\tremote = origin\n\tmerge = refs/heads/feat\n");
        std::fs::write(&lock, &new).unwrap();
        change_config(&lock, &cfg).unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), new);
        let m = std::fs::metadata(&cfg).unwrap();
        assert_eq!((m.ino(), m.mode() & 0o777), (ino, 0o640));
        assert!(!lock.exists());
    }

    #[test]
    fn only_regular_files_with_the_same_bytes_and_mode_match() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (d.path().join("config.lock"), d.path().join("config"), d.path().join("other"));
        std::fs::write(&a, "[core]\n\tworktree = ../../../lib\n").unwrap();
        std::fs::write(&b, "[core]\n\tworktree = ../../../lib\n").unwrap();
        std::fs::write(&c, "[core]\n\tfsmonitor = x\n").unwrap();
        assert!(same_bytes(&a, &b));
        assert!(!same_bytes(&c, &b), "other bytes");
        std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert!(!same_bytes(&a, &b), "another mode");
        std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&b, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let l = d.path().join("link");
        std::os::unix::fs::symlink(&b, &l).unwrap();
        assert!(!same_bytes(&l, &b), "a link is not followed");
        assert!(!same_bytes(d.path(), &b), "a directory");
        // The source's name goes; a name behind a link on the way is refused.
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.lock"), "x").unwrap();
        std::os::unix::fs::symlink(&sub, d.path().join("via")).unwrap();
        assert!(drop_source(&d.path().join("via/x.lock")).is_err());
        assert!(sub.join("x.lock").exists());
        assert!(drop_source(&d.path().join("sub")).is_err(), "not a regular file");
        drop_source(&a).unwrap();
        assert!(!a.exists() && b.exists());
    }
}
