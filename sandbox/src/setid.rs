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
//!
//! The whole walk ([`sweep_trees`], review 89 F3): when the by-name sweep is
//! incomplete (the init's list of written names overflowed; the init ended
//! without its sweep), every writable root is walked whole, directory by
//! directory opened below the root without following a link, no depth limit,
//! and every regular file with a set-ID bit whose ctime is at or after the
//! task's start ([`Since`]: nothing sets a ctime back) loses it. The walk's
//! only bound is a deadline; crossing it is reported ([`unfinished_detail`]),
//! never a silent pass.
//!
//! A user's own set-ID file the task only touched keeps its bits (review 89
//! FP1): [`Baseline`] records, before the kernel acts on a write, each set-ID
//! regular file that was already so before the task (its ctime before the
//! start), with its owner, mode, size and content digest; a file whose inode
//! still matches all of them at the sweep is left alone. Anything else with a
//! set-ID bit (content, owner or mode changed, or not recorded) is cleared.

use crate::changes::{EntryKind, Inspected, Seen};
use crate::{Rule, Violation};
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    clear_setid_keeping(paths, &Baseline::default())
}

/// [`clear_setid`], leaving alone each file `kept` shows unchanged since
/// before the task.
pub fn clear_setid_keeping<'a>(paths: impl IntoIterator<Item = &'a Path>, kept: &Baseline) -> Sweep {
    let mut out = Sweep::default();
    for path in paths {
        match clear_opened(open_pinned(nix::fcntl::AT_FDCWD, path), kept) {
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

/// Whether `path` (followed as a user would run it) is a regular file with a
/// set-ID bit: a name a sweep could not check is a violation only then (a
/// benign build that turned a directory into a symlink, or left one
/// unreadable, is none).
pub fn leads_to_setid(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & SETID != 0)
}

/// Whether `detail` is a sweep's report ([`cleared_detail`], [`left_detail`])
/// of `path`: the init's, which the host's backstop does not repeat.
pub fn detail_names(detail: &str, path: &Path) -> bool {
    let shown = path.display().to_string();
    detail.strip_prefix(shown.as_str()).is_some_and(|rest| {
        rest.starts_with(" was left with mode ") || rest.starts_with(": set-ID bits left in place (")
    })
}

/// Clear S_ISUID and S_ISGID from the regular file `name` (one component) in
/// the directory `dir`: `Ok(Some(old_mode))` when bits were cleared,
/// `Ok(None)` when there was nothing to clear (gone, a symlink — never
/// followed —, a directory, a special file, no set-ID bit).
pub fn clear_setid_at(dir: BorrowedFd<'_>, name: &CStr) -> std::io::Result<Option<u32>> {
    if name.to_bytes().is_empty() || name.to_bytes().contains(&b'/') {
        return Err(std::io::Error::other("not one name in its directory"));
    }
    clear_opened(open_pinned(dir, name), &Baseline::default())
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
fn clear_opened(file: std::io::Result<Option<std::fs::File>>, kept: &Baseline) -> std::io::Result<Option<u32>> {
    let Some(file) = file? else { return Ok(None) };
    let meta = file.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & SETID == 0 || kept.unchanged(&file, &meta) {
        return Ok(None);
    }
    // chmod through the descriptor's magic link changes exactly the inode opened
    // above (fchmod refuses O_PATH descriptors).
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    std::fs::set_permissions(&by_fd, std::fs::Permissions::from_mode(mode & !SETID))?;
    Ok(Some(mode))
}

/// A moment on the clock inode times are stamped from (`CLOCK_REALTIME_COARSE`):
/// every change made after it leaves a ctime at or after it, and no call sets
/// a ctime back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Since {
    /// Seconds.
    pub secs: i64,
    /// Nanoseconds.
    pub nanos: i64,
}

impl Since {
    /// Now, on the coarse clock (never after what a change made later stamps).
    pub fn now() -> Since {
        match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME_COARSE) {
            Ok(t) => Since { secs: t.tv_sec(), nanos: t.tv_nsec() },
            // No clock: every file counts as changed since (the safe side).
            Err(_) => Since::default(),
        }
    }

    /// Whether a file with this `meta` may have been changed at or after it.
    pub fn changed(&self, meta: &std::fs::Metadata) -> bool {
        (meta.ctime(), meta.ctime_nsec()) >= (self.secs, self.nanos)
    }
}

/// Set-ID files larger than this are not recorded by [`Baseline`] (their
/// bits are cleared if the task touched them: the safe answer).
const MAX_DIGESTED: u64 = 64 << 20;

/// What a set-ID file was before the task.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Before {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    digest: [u8; 32],
}

/// The set-ID regular files that were so before the task, as they were (see
/// the module doc): recorded by [`Baseline::note`] before a write reaches
/// them, bounded by what the host had (a file the task changed is never
/// recorded: its ctime is after the start).
#[derive(Debug, Default)]
pub struct Baseline {
    since: Since,
    files: std::collections::HashMap<(u64, u64), Before>,
}

impl Baseline {
    /// An empty record for a task that started at `since`.
    pub fn new(since: Since) -> Baseline {
        Baseline { since, files: std::collections::HashMap::new() }
    }

    /// When the task started.
    pub fn since(&self) -> Since {
        self.since
    }

    /// `path` is about to be written: record it if it is a set-ID regular
    /// file untouched since before the task (read through one descriptor
    /// opened without following a link).
    pub fn note(&mut self, path: &Path) {
        let Ok(m) = std::fs::symlink_metadata(path) else { return };
        if !m.is_file()
            || m.mode() & SETID == 0
            || self.since.changed(&m)
            || self.files.contains_key(&(m.dev(), m.ino()))
        {
            return;
        }
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        let Ok(fd) = openat2(nix::fcntl::AT_FDCWD, path, how) else { return };
        let file = std::fs::File::from(fd);
        let Ok(meta) = file.metadata() else { return };
        if !meta.is_file() || meta.mode() & SETID == 0 || self.since.changed(&meta) || meta.size() > MAX_DIGESTED {
            return;
        }
        let Some(digest) = digest_of(&file) else { return };
        // The content read is the one before the task only if nothing changed it meanwhile.
        if file.metadata().is_ok_and(|again| self.since.changed(&again)) {
            return;
        }
        self.files.insert((meta.dev(), meta.ino()), Before::of(&meta, digest));
    }

    /// Whether `file` (any descriptor of it, `meta` its metadata) is a
    /// recorded set-ID file with its owner, mode, size and content as before
    /// the task.
    pub fn unchanged(&self, file: &std::fs::File, meta: &std::fs::Metadata) -> bool {
        let Some(before) = self.files.get(&(meta.dev(), meta.ino())) else { return false };
        if Before::of(meta, before.digest) != *before {
            return false;
        }
        // Read through the descriptor's magic link: exactly the inode pinned.
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let Ok(content) = std::fs::File::open(by_fd) else { return false };
        digest_of(&content).is_some_and(|d| d == before.digest)
    }
}

impl Before {
    fn of(meta: &std::fs::Metadata, digest: [u8; 32]) -> Before {
        Before { mode: meta.mode() & 0o7777, uid: meta.uid(), gid: meta.gid(), size: meta.size(), digest }
    }
}

/// The SHA-256 of what `file` holds (at most [`MAX_DIGESTED`] bytes read).
fn digest_of(file: &std::fs::File) -> Option<[u8; 32]> {
    use sha2::Digest;
    use std::io::Read;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut reader = file.take(MAX_DIGESTED + 1);
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(buf.get(..n)?);
    }
    (read <= MAX_DIGESTED).then(|| hasher.finalize().into())
}

/// What a whole walk did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeSweep {
    /// As [`clear_setid`]'s.
    pub sweep: Sweep,
    /// The directory the walk had reached when its deadline came: what was
    /// not walked yet was not checked.
    pub unfinished: Option<PathBuf>,
}

/// How the whole walk is told what to clear.
pub struct TreeRule<'a> {
    /// Only files changed at or after it.
    pub since: Since,
    /// Left alone when unchanged since before the task.
    pub kept: &'a Baseline,
    /// Only files owned by this uid (the host's walk: files the task could
    /// have made); `None`: any owner.
    pub owner: Option<u32>,
}

/// Walk each of `roots` whole (see the module doc) and clear the set-ID bits
/// of every regular file `rule` selects, until `deadline`. Roots below
/// another root are walked once; a root that does not exist is skipped.
pub fn sweep_trees(roots: &[PathBuf], rule: &TreeRule<'_>, deadline: std::time::Instant) -> TreeSweep {
    let mut out = TreeSweep::default();
    let mut sorted: Vec<&PathBuf> = roots.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut walked: Vec<&PathBuf> = Vec::new();
    for root in sorted {
        if walked.iter().any(|w| root.starts_with(w)) {
            continue;
        }
        walked.push(root);
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        let top = match openat2(nix::fcntl::AT_FDCWD, root.as_path(), how) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => continue,
            Err(e) => {
                out.sweep.failed.push((root.clone(), format!("the root could not be opened: {e}")));
                continue;
            }
        };
        if !walk_tree(root, &top, rule, deadline, &mut out) {
            break;
        }
    }
    out
}

/// One root: `false` when the deadline came.
fn walk_tree(
    root: &Path,
    top: &OwnedFd,
    rule: &TreeRule<'_>,
    deadline: std::time::Instant,
    out: &mut TreeSweep,
) -> bool {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    // Directories still to read, by their path below the root: an explicit
    // stack, no recursion and no depth limit.
    let mut pending: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel) = pending.pop() {
        if std::time::Instant::now() >= deadline {
            out.unfinished = Some(root.join(std::ffi::OsStr::from_bytes(&rel)));
            return false;
        }
        let dir = match open_below(top, &rel) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                out.sweep.failed.push((root.join(std::ffi::OsStr::from_bytes(&rel)), e.to_string()));
                continue;
            }
        };
        let Ok(mut listing) = nix::dir::Dir::from_fd(dir) else { continue };
        let mut names: Vec<(std::ffi::CString, Option<nix::dir::Type>)> = Vec::new();
        for entry in listing.iter().flatten() {
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            names.push((name.to_owned(), entry.file_type()));
        }
        let dir = listing.as_fd();
        for (name, _) in names {
            let Ok(st) = nix::sys::stat::fstatat(dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
            let kind = st.st_mode & libc::S_IFMT;
            if kind == libc::S_IFDIR {
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.to_bytes());
                pending.push(child);
                continue;
            }
            if kind != libc::S_IFREG || st.st_mode & SETID == 0 {
                continue;
            }
            if (st.st_ctime, st.st_ctime_nsec) < (rule.since.secs, rule.since.nanos) {
                continue;
            }
            if rule.owner.is_some_and(|uid| uid != st.st_uid) {
                continue;
            }
            let mut rel_file = rel.clone();
            if !rel_file.is_empty() {
                rel_file.push(b'/');
            }
            rel_file.extend_from_slice(name.to_bytes());
            let path = root.join(std::ffi::OsString::from_vec(rel_file));
            match clear_opened(open_pinned(dir, name.as_c_str()), rule.kept) {
                Ok(Some(mode)) => out.sweep.cleared.push((path, mode)),
                Ok(None) => {}
                Err(e) => out.sweep.failed.push((path, e.to_string())),
            }
        }
    }
    true
}

/// The directory `rel` below `top`, opened without following a link anywhere
/// (in pieces shorter than `PATH_MAX`): `Ok(None)` when it is gone.
fn open_below(top: &OwnedFd, rel: &[u8]) -> std::io::Result<Option<OwnedFd>> {
    use std::os::unix::ffi::OsStrExt;
    const PIECE: usize = 3072;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
    let mut at: OwnedFd = top.try_clone()?;
    let mut rest = rel;
    loop {
        let piece_len = if rest.len() <= PIECE {
            rest.len()
        } else {
            // Cut at the last '/' within the piece (a name is at most 255 bytes).
            rest.get(..PIECE).and_then(|p| p.iter().rposition(|&b| b == b'/')).unwrap_or(rest.len())
        };
        let (piece, tail) = rest.split_at(piece_len);
        let piece = if piece.is_empty() { &b"."[..] } else { piece };
        at = match openat2(at.as_fd(), std::ffi::OsStr::from_bytes(piece), how) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => return Ok(None),
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::EXDEV) => {
                return Err(std::io::Error::other("a directory was replaced by a symlink"));
            }
            Err(e) => return Err(e.into()),
        };
        match tail.split_first() {
            None => return Ok(Some(at)),
            Some((_, after)) => rest = after,
        }
    }
}

/// The `fs.setuid` detail of a whole walk that did not finish by its deadline.
pub fn unfinished_detail(dir: &Path, budget: std::time::Duration) -> String {
    format!(
        "the set-ID sweep of the writable roots did not finish within {} ms (it had reached {}): a file the task made set-ID may be left",
        budget.as_millis(),
        dir.display()
    )
}

/// The host's sweep of what the workspace diff shows (see the module doc):
/// fed each [`Seen`] of `changes::Snapshot::compare_inspecting`, it clears
/// the set-ID bits of every added or modified regular file the walk saw with
/// one.
pub struct Backstop {
    root: PathBuf,
    found: Vec<(PathBuf, String)>,
    swept: bool,
}

impl Backstop {
    /// A sweep of the workspace at `root` (paths in details are below it).
    /// `swept`: the backend's own sweep judged every file the task wrote
    /// (the jail's: its init's, or the host's walk when the init ended
    /// without it); a file it left set-ID with the same inode, mode and size
    /// as before the task is one it found unchanged (content included, which
    /// the diff does not know: review 89 FP1), and is left alone here too.
    pub fn new(root: &Path, swept: bool) -> Backstop {
        Backstop { root: root.to_path_buf(), found: Vec::new(), swept }
    }

    /// Clear what `seen` shows, if it is a set-ID regular file.
    pub fn see(&mut self, seen: &Seen<'_>) {
        let Seen::Entry(e) = seen else { return };
        if e.meta.kind != EntryKind::File || e.meta.mode & SETID == 0 {
            return;
        }
        let judged_unchanged = self.swept
            && e.before.is_some_and(|b| {
                b.kind == EntryKind::File && b.mode == e.meta.mode && b.ino == e.meta.ino && b.size == e.meta.size
            });
        if judged_unchanged {
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

    fn since_now_after_a_tick() -> Since {
        // The coarse clock ticks at most every few ms: a file changed before
        // this sleep has a ctime before the moment taken after it.
        std::thread::sleep(std::time::Duration::from_millis(30));
        Since::now()
    }

    #[test]
    fn a_whole_walk_clears_what_changed_since_at_any_depth_and_follows_no_link() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("old");
        std::fs::write(&old, "x").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::write(&target, "x").unwrap();
        let since = since_now_after_a_tick();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        // 300 levels of 20-byte names: longer than PATH_MAX, made one level at a time.
        let level = c"dddddddddddddddddddd";
        let mut deep = d.path().to_path_buf();
        let mut at: OwnedFd = std::fs::File::open(d.path()).unwrap().into();
        for _ in 0..300 {
            nix::sys::stat::mkdirat(at.as_fd(), level, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
            at = nix::fcntl::openat(at.as_fd(), level, OFlag::O_DIRECTORY, nix::sys::stat::Mode::empty()).unwrap();
            deep.push("dddddddddddddddddddd");
        }
        let raced = deep.join("raced");
        let fd = nix::fcntl::openat(
            at.as_fd(),
            c"raced",
            OFlag::O_CREAT | OFlag::O_WRONLY,
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .unwrap();
        let file = std::fs::File::from(fd);
        file.set_permissions(std::fs::Permissions::from_mode(0o2755)).unwrap();
        let deep_mode = || file.metadata().unwrap().permissions().mode() & 0o7777;
        let kept = Baseline::new(since);
        let rule = TreeRule { since, kept: &kept, owner: None };
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let nested = d.path().join("dddddddddddddddddddd");
        let t = sweep_trees(&[d.path().to_path_buf(), nested], &rule, far);
        assert_eq!(t.sweep.cleared, vec![(raced.clone(), 0o2755)], "walked once, whole");
        assert!(t.sweep.failed.is_empty() && t.unfinished.is_none(), "{t:?}");
        assert_eq!(deep_mode(), 0o755);
        assert_eq!(mode(&old), 0o4755, "a file not changed since the start");
        assert_eq!(mode(&target), 0o4755, "a link was followed");
        // Another owner's file is left to the init's walk.
        file.set_permissions(std::fs::Permissions::from_mode(0o2755)).unwrap();
        let rule = TreeRule { since, kept: &kept, owner: Some(u32::MAX - 1) };
        assert_eq!(sweep_trees(&[d.path().to_path_buf()], &rule, far).sweep, Sweep::default());
        // A deadline that came is reported, never passed over.
        let rule = TreeRule { since, kept: &kept, owner: None };
        let t = sweep_trees(&[d.path().to_path_buf()], &rule, std::time::Instant::now());
        assert_eq!(t.unfinished.as_deref(), Some(d.path()));
        assert_eq!(deep_mode(), 0o2755);
        let detail = unfinished_detail(d.path(), std::time::Duration::from_millis(5));
        assert!(detail.contains("within 5 ms") && detail.contains(&d.path().display().to_string()), "{detail}");
    }

    #[test]
    fn a_setid_file_from_before_the_task_keeps_its_bits_until_it_changes() {
        let d = tempfile::tempdir().unwrap();
        let tool = d.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let since = since_now_after_a_tick();
        let mut kept = Baseline::new(since);
        kept.note(&tool);
        // Touched: times change, nothing else.
        let f = std::fs::File::options().append(true).open(&tool).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(clear_setid_keeping([tool.as_path()], &kept), Sweep::default());
        assert_eq!(mode(&tool), 0o4755);
        let rule = TreeRule { since, kept: &kept, owner: None };
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        assert_eq!(sweep_trees(&[d.path().to_path_buf()], &rule, far).sweep, Sweep::default());
        // Its content changed, size kept (the test runs as root: the write
        // keeps the bits): cleared.
        std::fs::write(&tool, "#!/bin/id\n").unwrap();
        assert_eq!(mode(&tool), 0o4755);
        assert_eq!(clear_setid_keeping([tool.as_path()], &kept).cleared, vec![(tool.clone(), 0o4755)]);
        // Recorded only as it was before the task: noted again now, it is not.
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let mut late = Baseline::new(since);
        late.note(&tool);
        assert_eq!(clear_setid_keeping([tool.as_path()], &late).cleared, vec![(tool.clone(), 0o4755)]);
        // A bit added to a recorded file: cleared.
        let other = d.path().join("other");
        std::fs::write(&other, "x").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let since = since_now_after_a_tick();
        let mut kept = Baseline::new(since);
        kept.note(&other);
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o6755)).unwrap();
        assert_eq!(clear_setid_keeping([other.as_path()], &kept).cleared, vec![(other.clone(), 0o6755)]);
    }
}
