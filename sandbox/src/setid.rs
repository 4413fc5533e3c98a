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
//!
//! The host's backstop ([`Backstop`], review 88 F2): an init the host
//! SIGKILLs (its stop grace exceeded) or that crashes runs no sweep, so the
//! host clears the same bits, with the same step ([`clear_setid_at`]: one name
//! in a directory opened without following a link), from every regular file
//! its workspace diff shows added or modified, and reports each file it
//! clears, or sees set-ID and cannot clear, as `fs.setuid`, once: not again
//! when the init already reported that file ([`detail_names`]).

use crate::changes::{EntryKind, Inspected, Seen};
use crate::{Rule, Violation};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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

/// The `fs.setuid` detail of a file whose bits `mode` (07777) were cleared.
pub fn cleared_detail(path: &Path, mode: u32) -> String {
    format!("{} was left with mode {mode:04o}; its set-ID bits were cleared", path.display())
}

/// The `fs.setuid` detail of a set-ID file whose bits could not be cleared.
pub fn left_detail(path: &Path, why: &str) -> String {
    format!("{}: set-ID bits left in place ({why})", path.display())
}

/// Whether `detail` is a sweep's report ([`cleared_detail`], [`left_detail`])
/// of `path`: the init's, which the host's backstop does not repeat.
pub fn detail_names(detail: &str, path: &Path) -> bool {
    let shown = path.display().to_string();
    detail.strip_prefix(shown.as_str()).is_some_and(|rest| {
        rest.starts_with(" was left with mode ") || rest.starts_with(": set-ID bits left in place (")
    })
}

/// `Ok(Some(old_mode))` when bits were cleared, `Ok(None)` when there was
/// nothing to clear.
fn clear_one(path: &Path) -> std::io::Result<Option<u32>> {
    clear_opened(open_pinned(nix::fcntl::AT_FDCWD, path))
}

/// Clear S_ISUID and S_ISGID from the regular file `name` (one component) in
/// the directory `dir`: `Ok(Some(old_mode))` when bits were cleared,
/// `Ok(None)` when there was nothing to clear (gone, a symlink — never
/// followed —, a directory, a special file, no set-ID bit).
pub fn clear_setid_at(dir: BorrowedFd<'_>, name: &CStr) -> std::io::Result<Option<u32>> {
    if name.to_bytes().is_empty() || name.to_bytes().contains(&b'/') {
        return Err(std::io::Error::other("not one name in its directory"));
    }
    clear_opened(open_pinned(dir, name))
}

/// `path` (relative to `dir`) opened `O_PATH|O_NOFOLLOW` without following a
/// symlink anywhere: `Ok(None)` when it is gone.
fn open_pinned<Fd: AsFd, P: ?Sized + nix::NixPath>(dir: Fd, path: &P) -> std::io::Result<Option<std::fs::File>> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(dir, path, how) {
        Ok(fd) => Ok(Some(std::fs::File::from(fd))),
        // Gone since: nothing to sweep. A trailing symlink is opened as the link
        // itself (skipped below); a symlink in an earlier component (ELOOP) means
        // the tree changed after the write: reported as not checked.
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => Ok(None),
        Err(nix::errno::Errno::ELOOP) => {
            Err(std::io::Error::other("a directory in the path was replaced by a symlink"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The one clearing step: the set-ID bits of the inode `file` pins, if it is
/// a regular file.
fn clear_opened(file: std::io::Result<Option<std::fs::File>>) -> std::io::Result<Option<u32>> {
    let Some(file) = file? else { return Ok(None) };
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

/// The host's sweep of what the workspace diff shows (see the module doc):
/// fed each [`Seen`] of `changes::Snapshot::compare_inspecting`, it clears
/// the set-ID bits of every added or modified regular file the walk saw with
/// one.
pub struct Backstop {
    root: PathBuf,
    found: Vec<(PathBuf, String)>,
}

impl Backstop {
    /// A sweep of the workspace at `root` (paths in details are below it).
    pub fn new(root: &Path) -> Backstop {
        Backstop { root: root.to_path_buf(), found: Vec::new() }
    }

    /// Clear what `seen` shows, if it is a set-ID regular file.
    pub fn see(&mut self, seen: &Seen<'_>) {
        let Seen::Entry(e) = seen else { return };
        if e.meta.kind != EntryKind::File || e.meta.mode & SETID == 0 {
            return;
        }
        self.entry(e);
    }

    fn entry(&mut self, e: &Inspected<'_>) {
        use std::os::unix::ffi::OsStrExt;
        let path = self.root.join(std::ffi::OsStr::from_bytes(e.path));
        let detail = match e.dir {
            None => left_detail(&path, "its directory could not be opened again without following a link"),
            Some(dir) => match clear_setid_at(dir, e.name) {
                Ok(Some(mode)) => cleared_detail(&path, mode),
                Ok(None) => return,
                Err(why) => left_detail(&path, &why.to_string()),
            },
        };
        self.found.push((path, detail));
    }

    /// The `fs.setuid` violations, leaving out each file one of `already`
    /// (the init's) reported.
    pub fn into_violations(self, already: &[Violation]) -> Vec<Violation> {
        self.found
            .into_iter()
            .filter(|(path, _)| !already.iter().any(|v| v.rule == Rule::FsSetuid && detail_names(&v.detail, path)))
            .map(|(_, detail)| Violation::now(Rule::FsSetuid, detail))
            .collect()
    }
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
    fn one_name_in_a_directory_is_cleared_and_a_link_there_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(d.path()).unwrap();
        let suid = d.path().join("suid");
        std::fs::write(&suid, "x").unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o6755)).unwrap();
        std::os::unix::fs::symlink(&suid, d.path().join("link")).unwrap();
        std::fs::create_dir(d.path().join("shared")).unwrap();
        std::fs::set_permissions(d.path().join("shared"), std::fs::Permissions::from_mode(0o2775)).unwrap();
        let at = |n: &CStr| clear_setid_at(dir.as_fd(), n);
        assert_eq!(at(c"link").unwrap(), None, "a link is the link itself");
        assert_eq!(mode(&suid), 0o6755);
        assert_eq!(at(c"shared").unwrap(), None);
        assert_eq!(mode(&d.path().join("shared")), 0o2775, "a setgid directory is benign");
        assert_eq!(at(c"gone").unwrap(), None);
        assert!(at(c"shared/x").is_err() && at(c"").is_err(), "one name only");
        assert_eq!(at(c"suid").unwrap(), Some(0o6755));
        assert_eq!(mode(&suid), 0o755);
        assert_eq!(at(c"suid").unwrap(), None, "idempotent");
    }

    #[test]
    fn the_init_s_report_of_a_file_is_recognised_by_its_path() {
        let p = Path::new("/w/a b");
        assert!(detail_names(&cleared_detail(p, 0o2755), p));
        assert!(detail_names(&left_detail(p, "why"), p));
        assert!(!detail_names(&cleared_detail(Path::new("/w/a b c"), 0o2755), p));
        assert!(!detail_names("chmod: mode 2755 would make /w/a b set-user/group-ID", p));
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
