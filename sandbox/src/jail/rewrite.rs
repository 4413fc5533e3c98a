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

#[cfg(test)]
mod tests {
    use super::*;

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
