//! The after-task sweep of set-user-ID and set-group-ID bits.
//!
//! The supervisor denies every call that would set those bits on a file
//! (`fs.setuid`), but a path-based `chmod g+s` judged on a directory can race
//! with a rename that puts a file in its place. [`clear_setid`] closes what such
//! a race (or any other way in) leaves behind: after the task, the files it
//! wrote must not keep a bit that lets another user run them with the task's
//! identity.
//!
//! Guarantees: only regular files are changed, and only their S_ISUID/S_ISGID
//! bits (permissions, sticky bit, owner, contents and times are kept); no
//! symlink is followed anywhere in a path (each name is opened with openat2
//! `O_PATH|O_NOFOLLOW`, `RESOLVE_NO_SYMLINKS` and changed through that
//! descriptor, so a link planted by the task cannot redirect the change to a
//! host file such as /usr/bin/passwd); setgid directories are left alone
//! (benign: new entries inherit the group); directories are not descended.
//! Every file cleared, and every name that could not be checked or cleared
//! (a symlinked directory in its path), is returned for the report.

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The set-user-ID and set-group-ID bits.
const SETID: u32 = libc::S_ISUID | libc::S_ISGID;

/// What the sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Regular files whose set-ID bits were cleared, with their mode before (07777 bits).
    pub cleared: Vec<(PathBuf, u32)>,
    /// Regular files with set-ID bits that could not be cleared, and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Clear S_ISUID and S_ISGID from every regular file among `paths` (names that
/// no longer exist, symlinks, directories and special files are skipped).
pub fn clear_setid<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Sweep {
    let mut out = Sweep::default();
    for path in paths {
        match clear_one(path) {
            Ok(Some(mode)) => out.cleared.push((path.to_path_buf(), mode)),
            Ok(None) => {}
            Err(e) => out.failed.push((path.to_path_buf(), e.to_string())),
        }
    }
    out
}

/// `Ok(Some(old_mode))` when bits were cleared, `Ok(None)` when there was
/// nothing to clear.
fn clear_one(path: &Path) -> std::io::Result<Option<u32>> {
    use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat2};
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    let file = match openat2(AT_FDCWD, path, how) {
        Ok(fd) => std::fs::File::from(fd),
        // Gone since: nothing to sweep. A trailing symlink is opened as the link
        // itself (skipped below); a symlink in an earlier component (ELOOP) means
        // the tree changed after the write: reported as not checked.
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => return Ok(None),
        Err(nix::errno::Errno::ELOOP) => {
            return Err(std::io::Error::other("a directory in the path was replaced by a symlink"));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & SETID == 0 {
        return Ok(None);
    }
    // chmod through the descriptor's magic link changes exactly the inode opened
    // above (fchmod refuses O_PATH descriptors).
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    std::fs::set_permissions(&by_fd, std::fs::Permissions::from_mode(mode & !SETID))?;
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn set_id_bits_are_cleared_from_files_and_nothing_else_changes() {
        let d = tempfile::tempdir().unwrap();
        let suid = d.path().join("suid");
        let sgid = d.path().join("sgid");
        let plain = d.path().join("plain");
        let dir = d.path().join("shared");
        for f in [&suid, &sgid, &plain] {
            std::fs::write(f, "x").unwrap();
        }
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::set_permissions(&sgid, std::fs::Permissions::from_mode(0o3750)).unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2775)).unwrap();
        let gone = d.path().join("gone");
        let all = [suid.as_path(), sgid.as_path(), plain.as_path(), dir.as_path(), gone.as_path()];
        let s = clear_setid(all);
        assert_eq!(s.cleared, vec![(suid.clone(), 0o4755), (sgid.clone(), 0o3750)]);
        assert!(s.failed.is_empty(), "{:?}", s.failed);
        assert_eq!(mode(&suid), 0o755);
        assert_eq!(mode(&sgid), 0o1750, "the sticky bit stays");
        assert_eq!(mode(&plain), 0o755);
        assert_eq!(mode(&dir), 0o2775, "a setgid directory is benign");
        assert_eq!(std::fs::read_to_string(&suid).unwrap(), "x");
        // Idempotent.
        assert_eq!(clear_setid(all), Sweep::default());
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, "x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        // A link in the list: the link itself, never its target.
        let s = clear_setid([link.as_path()]);
        assert_eq!(s, Sweep::default());
        assert_eq!(mode(&target), 0o4755, "the link's target was changed");
        // A directory of the path swapped for a symlink: not followed, reported.
        std::os::unix::fs::symlink(d.path(), d.path().join("sub")).unwrap();
        let through = d.path().join("sub/target");
        let s = clear_setid([through.as_path()]);
        assert!(s.cleared.is_empty());
        assert_eq!(s.failed.len(), 1, "{s:?}");
        assert_eq!(mode(&target), 0o4755);
    }
}
