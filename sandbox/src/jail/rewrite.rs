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
//! - the change is made only when [`super::gitconfig::judge`] allows it
//!   from the config as it was when the task started (the first one read,
//!   kept by the caller), and what is written is the very bytes judged: the task's file is never
//!   renamed (it could change after the check), it is removed like
//!   [`drop_source`] does;
//! - the config is replaced atomically, never written in place: the judged
//!   bytes go to a new file beside it (created exclusively, with the
//!   config's permission bits and owner), synced, renamed onto the config,
//!   and the directory synced; killed at any point, the config on disk is
//!   the old file or the new one whole (a stray `config.orchestra-new.*`
//!   file may stay, which git never reads);
//! - where the jail binds the config read-only, the config is a mount point
//!   of the jail's namespace (twice: the workspace and its `.git` are both
//!   bound) and no rename made there replaces it (`EBUSY`); the rename is
//!   then made by a thread moved to a private copy of the namespace, the
//!   binds taken off there (never in the jail's), which the kernel lets
//!   replace the file and which takes the binds on the old file off
//!   everywhere; the new file is then
//!   bound read-only again in its place, checked to be the file renamed.
//!   The task's later reads see the new config, as the host does, and the
//!   moment between is covered by the supervisor, which answers no other
//!   call meanwhile, and by the host's check after the task;
//! - any failure before the rename leaves the config as it was (the new
//!   file removed);
//! - a `config.worktree` that is absent (`git sparse-checkout` makes one)
//!   is judged from nothing and made the same way, with the `.git`
//!   directory's owner and the bits `0o644`, renamed with
//!   `RENAME_NOREPLACE` (never onto a file that came meanwhile); no bind of
//!   the jail was on it, none is made: the supervisor refuses every later
//!   write to it, and the host's check after the task judges it again
//!   (`changes::protected::absent`). No other absent config is made.

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

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
    /// The jail's read-only bind of the config could not be taken off.
    #[error("no way to replace the config: {0}")]
    NoWay(std::io::Error),
    /// The config was changed, but the jail's read-only bind of it could not
    /// be made again.
    #[error("the config was changed, but could not be bound read-only again: {0}")]
    Rebind(std::io::Error),
    /// The file opened for writing is not the file read.
    #[error("the config opened for writing is another file than the one read")]
    Swapped,
    /// Removing the source failed.
    #[error("remove the source: {0}")]
    DropSource(nix::Error),
    /// Writing the new file or renaming it onto the config failed (the
    /// config is as it was).
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
/// `.lock`) onto it would make, if [`super::gitconfig::judge`] allows it
/// from the config the task started with (`starts`, by path: the config as
/// first read here, kept there): the judged bytes are written to a new file
/// beside `target`, renamed onto it, and `source` is removed (see the
/// module doc).
pub fn change_config(
    source: &Path,
    target: &Path,
    starts: &mut std::collections::HashMap<PathBuf, Vec<u8>>,
) -> Result<(), ConfigChangeError> {
    let (Some(parent), Some(name), Some(lock)) = (target.parent(), target.file_name(), source.file_name()) else {
        return Err(ConfigChangeError::NotItsLock);
    };
    let mut want = name.to_os_string();
    want.push(".lock");
    if source.parent() != Some(parent) || lock != want {
        return Err(ConfigChangeError::NotItsLock);
    }
    let dir = open_dir(parent).map_err(|source| ConfigChangeError::Open { what: "the config's directory", source })?;
    let (new, lock_id) = read_small(&dir, lock, "the new config")?;
    let kind = super::gitconfig::Kind::of(target);
    // A `config.worktree` may be made (`git sparse-checkout`): absent, it
    // reads as empty, and nothing may take its name meanwhile.
    let (old, id) = match read_small(&dir, name, "the config") {
        Err(ConfigChangeError::Open { source: nix::Error::ENOENT, .. }) if kind == super::gitconfig::Kind::Worktree => {
            (Vec::new(), None)
        }
        r => r.map(|(b, id)| (b, Some(id)))?,
    };
    let start = starts.entry(target.to_path_buf()).or_insert(old);
    super::gitconfig::judge(start, &new, kind)?;
    let (tmp, made) = write_beside(&dir, name, &new)?;
    let undo = |e: ConfigChangeError| {
        let _ = nix::unistd::unlinkat(&dir, tmp.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        e
    };
    if identity(&dir, name) != id || (id.is_none() && identity(&dir, lock) != Some(lock_id)) {
        return Err(undo(ConfigChangeError::Swapped));
    }
    drop_source(source).map_err(|e| undo(ConfigChangeError::DropSource(e)))?;
    if id.is_none() {
        // Made where there was none: never onto a file that came meanwhile.
        // No bind of the jail was on it; the supervisor refuses every later
        // write to it, and the check after the task judges it again.
        return nix::fcntl::renameat2(&dir, tmp.as_os_str(), &dir, name, nix::fcntl::RenameFlags::RENAME_NOREPLACE)
            .map_err(|e| undo(ConfigChangeError::Write(e.into())))
            .and_then(|()| sync_dir(&dir));
    }
    match nix::fcntl::renameat(&dir, tmp.as_os_str(), &dir, name) {
        Ok(()) => sync_dir(&dir),
        // The jail's read-only binds of the config: a mount point in this
        // namespace, which no rename here replaces. Renamed from a namespace
        // of its own, which takes the binds off everywhere, and bound
        // read-only again: the task's view is the new file, read-only.
        Err(nix::Error::EBUSY) => {
            let renamed =
                // A thread that cannot be made (the pids limit reached) is a refusal, not a panic.
                std::thread::scope(|s| {
                    std::thread::Builder::new()
                        .spawn_scoped(s, || rename_from_own_namespace(&dir, &tmp, name, target))
                        .map_or(Err(nix::Error::EAGAIN), |t| t.join().unwrap_or(Err(nix::Error::EIO)))
                });
            match renamed {
                Ok(()) => {
                    sync_dir(&dir)?;
                    bind_read_only(&dir, name, made).map_err(ConfigChangeError::Rebind)
                }
                Err(e) => Err(undo(ConfigChangeError::NoWay(e.into()))),
            }
        }
        Err(e) => Err(undo(ConfigChangeError::Write(e.into()))),
    }
}

/// Rename `tmp` onto `name` in `dir` (the file `target`) from the calling
/// thread, moved first to a mount namespace of its own (a copy of this one,
/// made private, so that nothing done in it reaches the jail's), from which
/// the mounts on `target` are taken off (the nearest mount on its path and
/// its submounts, until the rename is made): a rename refuses to replace a
/// mount point of the caller's namespace only (`EBUSY`), and once done
/// detaches every mount on the replaced file, in every namespace. The
/// thread should end after.
fn rename_from_own_namespace(
    dir: &impl std::os::fd::AsFd,
    tmp: &std::ffi::OsStr,
    name: &std::ffi::OsStr,
    target: &Path,
) -> nix::Result<()> {
    use nix::mount::{MntFlags, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    for _ in 0..16 {
        match nix::fcntl::renameat(dir, tmp, dir, name) {
            Err(nix::Error::EBUSY) => {}
            done => return done,
        }
        let mut at = Some(target);
        while let Some(p) = at {
            if nix::mount::umount2(p, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW).is_ok() {
                break;
            }
            at = p.parent();
        }
        if at.is_none() {
            break;
        }
    }
    Err(nix::Error::EBUSY)
}

/// The (device, inode) of `name` in `dir`, no link followed.
fn identity(dir: &impl std::os::fd::AsFd, name: &std::ffi::OsStr) -> Option<(u64, u64)> {
    let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some((st.st_dev, st.st_ino))
}

/// Write `bytes` to a new file beside `name` in `dir` (created exclusively,
/// with `name`'s permission bits and owner; when `name` is absent, the
/// directory's owner and the bits `0o644`), synced: its name and (device,
/// inode).
fn write_beside(
    dir: &std::os::fd::OwnedFd,
    name: &std::ffi::OsStr,
    bytes: &[u8],
) -> Result<(std::ffi::OsString, (u64, u64)), ConfigChangeError> {
    use nix::fcntl::OFlag;
    use std::io::Write as _;
    let like = match nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(nix::Error::ENOENT) => nix::sys::stat::fstat(dir).map(|mut d| {
            d.st_mode = libc::S_IFREG | 0o644;
            d
        }),
        r => r,
    }
    .map_err(|source| ConfigChangeError::Open { what: "the config", source })?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
    let mode = nix::sys::stat::Mode::from_bits_truncate(like.st_mode & 0o777);
    let mut last = nix::Error::EEXIST;
    for attempt in 0..16 {
        let mut tmp = name.to_os_string();
        tmp.push(format!(".orchestra-new.{}.{attempt}", std::process::id()));
        let mut file = match open_new(dir, &tmp, flags, mode) {
            Ok(f) => f,
            Err(e @ nix::Error::EEXIST) => {
                last = e;
                continue;
            }
            Err(source) => return Err(ConfigChangeError::Open { what: "a new file beside the config", source }),
        };
        let done = (|| -> std::io::Result<(u64, u64)> {
            let m = file.metadata()?;
            if (m.uid(), m.gid()) != (like.st_uid, like.st_gid) {
                std::os::unix::fs::fchown(&file, Some(like.st_uid), Some(like.st_gid))?;
            }
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(like.st_mode & 0o7777))?;
            file.write_all(bytes)?;
            file.sync_all()?;
            Ok((m.dev(), m.ino()))
        })();
        return match done {
            Ok(id) => Ok((tmp, id)),
            Err(e) => {
                let _ = nix::unistd::unlinkat(dir, tmp.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
                Err(ConfigChangeError::Write(e))
            }
        };
    }
    Err(ConfigChangeError::Open { what: "a new file beside the config", source: last })
}

/// Create `name` in `dir` with `flags` and `mode`, no link followed, not
/// leaving `dir`.
fn open_new(
    dir: &impl std::os::fd::AsFd,
    name: &std::ffi::OsStr,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> nix::Result<std::fs::File> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(dir, Path::new(name), how).map(std::fs::File::from)
}

/// Sync the directory `dir` (an `O_PATH` descriptor): the rename is on disk.
fn sync_dir(dir: &impl std::os::fd::AsFd) -> Result<(), ConfigChangeError> {
    let d = open_in(dir, std::ffi::OsStr::new("."), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY)
        .map_err(|source| ConfigChangeError::Open { what: "the config's directory", source })?;
    d.sync_all().map_err(ConfigChangeError::Write)
}

/// Bind the file `name` in `dir` read-only onto itself, as the jail binds a
/// protected file, when it is the file `id`.
fn bind_read_only(dir: &impl std::os::fd::AsFd, name: &std::ffi::OsStr, id: (u64, u64)) -> std::io::Result<()> {
    use crate::sys::mount_attr;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let at = nix::fcntl::openat2(dir, Path::new(name), how)?;
    let m = std::fs::File::from(at.try_clone()?).metadata()?;
    if (m.dev(), m.ino()) != id {
        return Err(std::io::Error::other("the config is another file than the one renamed"));
    }
    let tree = crate::sys::open_tree_clone(&at)?;
    crate::sys::mount_setattr_fd(&tree, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV)?;
    crate::sys::move_mount_onto(&tree, &at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_config_change_is_written_from_the_bytes_judged_and_others_leave_all_as_it_was() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let (cfg, lock) = (d.path().join("config"), d.path().join("config.lock"));
        let old = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = /up\n";
        std::fs::write(&cfg, old).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
        let ino = std::fs::metadata(&cfg).unwrap().ino();
        let mut starts = std::collections::HashMap::new();
        // Refused: the config and the lock stay as they are.
        let hostile = format!("{old}[core]\n\tfsmonitor = touch m\n");
        std::fs::write(&lock, &hostile).unwrap();
        let e = change_config(&lock, &cfg, &mut starts).unwrap_err();
        assert!(matches!(e, ConfigChangeError::Refused(_)), "{e}");
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), old);
        assert!(lock.exists());
        // Not the config's own lock beside it.
        let other = d.path().join("other.lock");
        std::fs::write(&other, old).unwrap();
        assert!(matches!(change_config(&other, &cfg, &mut starts), Err(ConfigChangeError::NotItsLock)));
        // A lock that is a link is not followed.
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&other, &lock).unwrap();
        assert!(matches!(change_config(&lock, &cfg, &mut starts), Err(ConfigChangeError::Open { .. })));
        std::fs::remove_file(&lock).unwrap();
        // Allowed: the judged bytes, in a new file renamed onto the config
        // (the old inode is never truncated: a reader holding it sees it whole),
        // with its mode; the lock gone, no other file left.
        let held = std::fs::File::open(&cfg).unwrap();
        let new = format!("{old}[branch \"feat\"]\n\tremote = origin\n\tmerge = refs/heads/feat\n");
        std::fs::write(&lock, &new).unwrap();
        change_config(&lock, &cfg, &mut starts).unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), new);
        let m = std::fs::metadata(&cfg).unwrap();
        assert_ne!(m.ino(), ino, "written in place");
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(std::io::read_to_string(held).unwrap(), old, "the old file was changed");
        assert!(!lock.exists());
        let mut names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["config", "other.lock"]);
        // A stray new file of an earlier, killed supervisor is no obstacle.
        let stray = d.path().join(format!("config.orchestra-new.{}.0", std::process::id()));
        std::fs::write(&stray, "x").unwrap();
        let newer = format!("{new}[branch \"x\"]\n\tremote = origin\n");
        std::fs::write(&lock, &newer).unwrap();
        change_config(&lock, &cfg, &mut starts).unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), newer);
        assert_eq!(std::fs::read_to_string(&stray).unwrap(), "x");
        // Every change is judged from the config the task started with: a
        // remote it added is one the config had not, however many changes ago.
        let added = format!("{newer}[remote \"evil\"]\n\turl = /x\n");
        std::fs::write(&lock, &added).unwrap();
        change_config(&lock, &cfg, &mut starts).unwrap();
        std::fs::write(&lock, format!("{added}[branch \"y\"]\n\tremote = evil\n")).unwrap();
        let e = change_config(&lock, &cfg, &mut starts).unwrap_err();
        assert!(matches!(e, ConfigChangeError::Refused(super::super::gitconfig::Refusal::NewRemote(_))), "{e}");
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), added);
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

    #[test]
    fn a_config_worktree_is_made_where_there_was_none_only_with_what_may_be_in_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let (wt, lock) = (d.path().join("config.worktree"), d.path().join("config.worktree.lock"));
        let mut starts = std::collections::HashMap::new();
        std::fs::write(&lock, "[core]\n\tsparseCheckout = true\n\tfsmonitor = touch m\n").unwrap();
        let e = change_config(&lock, &wt, &mut starts).unwrap_err();
        assert!(matches!(e, ConfigChangeError::Refused(_)), "{e}");
        assert!(!wt.exists() && lock.exists());
        let set = "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = true\n";
        std::fs::write(&lock, set).unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o4777)).unwrap();
        change_config(&lock, &wt, &mut starts).unwrap();
        assert_eq!(std::fs::read_to_string(&wt).unwrap(), set);
        assert_eq!(std::fs::metadata(&wt).unwrap().mode() & 0o7777, 0o644, "not the lock's bits");
        assert!(!lock.exists());
        // Judged from nothing still: the start is kept.
        std::fs::write(&lock, format!("{set}\thooksPath = /tmp\n")).unwrap();
        assert!(matches!(change_config(&lock, &wt, &mut starts), Err(ConfigChangeError::Refused(_))));
        assert_eq!(std::fs::read_to_string(&wt).unwrap(), set);
        // Only a config.worktree is made; an absent config is not.
        let cfg = d.path().join("config");
        std::fs::write(d.path().join("config.lock"), "[core]\n").unwrap();
        let e = change_config(&d.path().join("config.lock"), &cfg, &mut starts).unwrap_err();
        assert!(matches!(e, ConfigChangeError::Open { source: nix::Error::ENOENT, .. }), "{e}");
        assert!(!cfg.exists());
    }
}
