//! Protected paths that are absent when a task starts (SECURITY.md §5.3),
//! judged again on the host once the task's processes are all gone, the same
//! way for every backend.
//!
//! Nothing in the kernel pins a name that is not there: the supervisor refuses
//! a call that would create one, but it lets the calls it judged continue, so
//! a task that rewrites the path in its memory between the judgement and the
//! kernel's own lookup can create it. This module makes the outcome right
//! whatever that race did:
//!
//! - [`Watch::before`] takes the task's protected paths (the jail's own list,
//!   [`crate::jail::protect::protect`]: the built-in list minus
//!   `filesystem.unprotected`, the policy's `filesystem.protected`, the files in
//!   use, what git reads code from) and keeps those the host does not reach,
//!   with the symbolic links (and a `.git` `gitdir:` pointer) met on their way.
//!   Only a writable workspace has protected paths.
//! - [`Watch::after`] resolves each again as the host will (git, a CI runner):
//!   from the workspace root, following links and the top `.git` pointer. One
//!   that now reaches an entry, or whose own name is now a new link, is a
//!   violation (`fs.protected`), and the entry that makes it so is removed:
//!   the first link or pointer on the way that was not there at the start, or
//!   else the protected entry itself, recursively.
//! - Removal never follows a link and never leaves the workspace: the parent
//!   is opened from the workspace root with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)`, everything below by descriptor with `O_NOFOLLOW`
//!   (`unlinkat` relative to it), and no other filesystem is entered. What
//!   cannot be removed is renamed aside in its directory; failing that it
//!   stays, and the violation's detail says so and where it is.
//! - Benign work is not flagged: the directories that hold protected paths
//!   (`.git`, `.github`) and their other entries are not protected, and a
//!   path the policy gives up is not watched.
//!
//! Residual: a host process that reads the workspace *while* the task runs can
//! still see what was planted before it is removed.

use crate::jail::resolve::steps;
use crate::rule::Rule;
use crate::{TaskSpec, Violation};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, renameat};
use nix::sys::stat::{Mode, SFlag, fchmod, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Links and pointers followed on one path, at most (the kernel's MAXSYMLINKS).
const MAX_HOPS: usize = 40;
/// Directories entered below a planted entry to remove it, at most (each level
/// holds a descriptor); deeper, the entry is renamed aside instead.
const MAX_DEPTH: usize = 128;
/// Entries removed below one planted entry, at most; more, and it is renamed aside.
const MAX_ENTRIES: u64 = 200_000;

/// An entry's identity: device and inode.
type Id = (u64, u64);

/// Where the host's resolution of a path went.
#[derive(Debug, Default)]
struct Trace {
    /// The links and `gitdir:` pointers followed, in order (where, identity).
    ways: Vec<(PathBuf, Id)>,
    /// The entry reached at the end (no link), if any.
    end: Option<PathBuf>,
    /// The protected name's own entry is a link (its place), reached or not.
    named_link: Option<PathBuf>,
}

/// One protected path the host did not reach at the start.
#[derive(Debug)]
struct Watched {
    /// The path as protected (under the workspace root).
    path: PathBuf,
    /// The links and pointers on its way at the start.
    ways: Vec<(PathBuf, Id)>,
}

/// The protected paths of one task's workspace that were absent at its start.
#[derive(Debug, Default)]
pub struct Watch {
    /// The workspace root, resolved.
    root: PathBuf,
    /// The watched paths, in the order of the protected list.
    paths: Vec<Watched>,
}

impl Watch {
    /// The protected paths of `task`'s workspace that the host does not reach
    /// now; call it before the task starts.
    pub fn before(task: &TaskSpec) -> Watch {
        let fs = &task.policy.filesystem;
        if fs.workdir != crate::policy::WorkdirAccess::ReadWrite {
            return Watch::default();
        }
        let Ok(root) = std::fs::canonicalize(&task.workdir) else { return Watch::default() };
        // A protected file with more than one hard link makes every backend
        // refuse the task; the plain list is enough for a task that never runs.
        let listed = crate::jail::protect::protect(fs, &task.workdir, &task.in_use, false, &mut Vec::new())
            .unwrap_or_else(|_| fs.protected_in(&task.workdir));
        let mut paths: Vec<Watched> = Vec::new();
        for p in listed {
            let Ok(rel) = p.strip_prefix(&task.workdir) else { continue };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let path = root.join(rel);
            let t = trace(&root, &path);
            if t.end.is_none() && !paths.iter().any(|w| w.path == path) {
                paths.push(Watched { path, ways: t.ways });
            }
        }
        Watch { root, paths }
    }

    /// Judge the watched paths again, once the task's processes are all gone:
    /// a violation for each the host now reaches (or whose own name is a new
    /// link), its offending entry removed (see the module doc).
    pub fn after(self) -> Vec<Planted> {
        let mut out = Vec::new();
        let root_fd = match std::fs::File::open(&self.root) {
            Ok(f) => Some(OwnedFd::from(f)),
            Err(_) => None,
        };
        for w in &self.paths {
            let t = trace(&self.root, &w.path);
            let new_ways: Vec<&PathBuf> = t.ways.iter().filter(|way| !w.ways.contains(way)).map(|(p, _)| p).collect();
            let new_way = new_ways.first().map(|p| p.to_path_buf());
            let named_new = t.named_link.as_ref().is_some_and(|l| new_ways.contains(&l));
            let (offender, how) = match (&t.end, new_way) {
                (_, Some(way)) if t.end.is_some() || named_new => {
                    let reach = match &t.end {
                        Some(end) => format!("to reach {}", end.display()),
                        None => "a link".to_string(),
                    };
                    let how = format!("was made {reach} during the task by {} ({})", way.display(), way_text(&way));
                    (way, how)
                }
                (Some(end), _) if *end == w.path => {
                    (end.clone(), "was created during the task (past the supervisor)".to_string())
                }
                (Some(end), _) => {
                    (end.clone(), format!("was created during the task at {} (past the supervisor)", end.display()))
                }
                (None, _) => continue,
            };
            let fate = match (&root_fd, offender.strip_prefix(&self.root)) {
                (Some(fd), Ok(rel)) if !rel.as_os_str().is_empty() => remove_beneath(fd.as_fd(), rel),
                (None, _) => Fate::Kept(format!("the workspace {} could not be opened", self.root.display())),
                _ => Fate::Kept("it lies outside the workspace".to_string()),
            };
            let removed = fate == Fate::Removed;
            let fate = match fate {
                Fate::Removed => "; removed".to_string(),
                Fate::Aside(to) => format!(
                    "; it could not be removed whole, so it was renamed to {} (remove that by hand)",
                    self.root.join(to).display()
                ),
                Fate::Kept(why) => format!(
                    "; it could NOT be removed ({why}): remove {} before any host step reads the workspace",
                    offender.display()
                ),
            };
            let detail = format!("{}, a protected path absent when the task started, {how}{fate}", w.path.display());
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), removed });
        }
        out
    }
}

/// A protected path the task made reachable: the violation (`fs.protected`),
/// and whether what made it so is gone (else the detail says where it is).
#[derive(Debug)]
pub struct Planted {
    /// The violation to report.
    pub violation: Violation,
    /// The offending entry was removed (not renamed aside, not kept).
    pub removed: bool,
}

/// What a way is, for the detail.
fn way_text(way: &Path) -> String {
    match std::fs::read_link(way) {
        Ok(target) => format!("a new symbolic link -> {}", target.display()),
        Err(_) => "a new `gitdir:` pointer".to_string(),
    }
}

/// Resolve `path` (below `root`) as the host will: one component at a time
/// from `root`, following links (the last one's too) and `root/.git` when it
/// is a `gitdir:` pointer file, as git does.
fn trace(root: &Path, path: &Path) -> Trace {
    let mut t = Trace::default();
    let Ok(rel) = path.strip_prefix(root) else { return t };
    let mut queue: VecDeque<OsString> = steps(rel);
    let mut cur = root.to_path_buf();
    let mut hops = 0;
    // Whether the protected name's own component is still to be met.
    let mut named_pending = true;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        if c == "/" {
            cur = PathBuf::from("/");
            continue;
        }
        let cand = cur.join(&c);
        let Ok(meta) = std::fs::symlink_metadata(&cand) else { return t };
        let last = queue.is_empty();
        let id = (meta.dev(), meta.ino());
        let target = if meta.file_type().is_symlink() {
            std::fs::read_link(&cand).ok()
        } else if meta.is_file() && !last && cur == root && c == ".git" {
            gitdir_pointer(&cand).map(|g| root.join(g))
        } else {
            None
        };
        if last && named_pending {
            named_pending = false;
            if meta.file_type().is_symlink() {
                t.named_link = Some(cand.clone());
            }
        }
        match target {
            Some(target) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return t;
                }
                t.ways.push((cand, id));
                let mut front = steps(&target);
                if target.is_absolute() {
                    front.push_front(OsString::from("/"));
                }
                for s in front.into_iter().rev() {
                    queue.push_front(s);
                }
            }
            None if last => {
                if !meta.file_type().is_symlink() {
                    t.end = Some(cand);
                }
                return t;
            }
            None if meta.is_dir() => cur = cand,
            None => return t,
        }
    }
    t
}

/// The directory a `.git` file points to (`gitdir: <path>`), as written.
fn gitdir_pointer(file: &Path) -> Option<PathBuf> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(file).ok()?;
    let mut text = Vec::new();
    f.take(4096).read_to_end(&mut text).ok()?;
    let line = text.split(|b| *b == b'\n').next()?;
    let dir = line.strip_prefix(b"gitdir:")?.trim_ascii();
    (!dir.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(dir)))
}

/// What became of an offending entry.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// Removed (recursively).
    Removed,
    /// Renamed to this name (relative to the root) in its own directory.
    Aside(PathBuf),
    /// Still there, and why.
    Kept(String),
}

/// Remove `rel` below the directory `root`, never following a link and never
/// leaving `root`; when that fails, rename it aside in its directory.
fn remove_beneath(root: BorrowedFd<'_>, rel: &Path) -> Fate {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Fate::Kept("not an entry of the workspace".to_string());
    };
    let parent_rel = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let dir = match openat2(root, parent_rel, how) {
        Ok(d) => d,
        Err(e) => return Fate::Kept(format!("its directory: {}", e.desc())),
    };
    let Ok(name) = CString::new(name.as_bytes()) else { return Fate::Kept("a NUL in its name".to_string()) };
    let dev = match fstat(root) {
        Ok(st) => st.st_dev,
        Err(e) => return Fate::Kept(format!("the workspace: {}", e.desc())),
    };
    let mut budget = MAX_ENTRIES;
    let err = match remove_entry(dir.as_fd(), &name, dev, 0, &mut budget) {
        Ok(()) => return Fate::Removed,
        Err(e) => e,
    };
    let aside = format!("{}.removed-by-orchestra-{}", name.to_string_lossy(), std::process::id());
    match renameat(dir.as_fd(), name.as_c_str(), dir.as_fd(), aside.as_str()) {
        Ok(()) => Fate::Aside(parent.join(aside)),
        Err(e2) => Fate::Kept(format!("{}; renaming it aside: {}", err.desc(), e2.desc())),
    }
}

/// Remove `name` in `dir` (a directory with everything in it), on the
/// filesystem `dev` only, `depth` levels below the offending entry.
fn remove_entry(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    dev: u64,
    depth: usize,
    budget: &mut u64,
) -> nix::Result<()> {
    *budget = budget.checked_sub(1).ok_or(Errno::E2BIG)?;
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return retry_unlink(dir, name, UnlinkatFlags::NoRemoveDir);
    }
    if st.st_dev != dev {
        // Another filesystem mounted here: not the task's to have made.
        return Err(Errno::EXDEV);
    }
    if depth >= MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    let flags = super::walk::dir_flags();
    let child = match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::EACCES) => {
            // A directory the task made unreadable: ours (or we are root) to open up.
            let path_fd = openat(dir, name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            crate::sys::chmod_fd(&path_fd, 0o700)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            openat(dir, name, flags, Mode::empty())?
        }
        Err(e) => return Err(e),
    };
    let same = fstat(child.as_fd())?;
    if (same.st_dev, same.st_ino) != (st.st_dev, st.st_ino) {
        return Err(Errno::ESTALE);
    }
    // Writable and searchable, so that its entries can go.
    if same.st_mode & 0o700 != 0o700 {
        fchmod(child.as_fd(), Mode::from_bits_truncate(0o700))?;
    }
    for name in names(child.as_fd())? {
        remove_entry(child.as_fd(), &name, dev, depth + 1, budget)?;
    }
    retry_unlink(dir, name, UnlinkatFlags::RemoveDir)
}

/// `unlinkat`, once more after making `dir` writable when it was not.
fn retry_unlink(dir: BorrowedFd<'_>, name: &std::ffi::CStr, flag: UnlinkatFlags) -> nix::Result<()> {
    match unlinkat(dir, name, flag) {
        Err(Errno::EACCES) => {
            fchmod(dir, Mode::from_bits_truncate(0o700))?;
            unlinkat(dir, name, flag)
        }
        r => r,
    }
}

/// The names in the directory `dir` (not `.` and `..`).
fn names(dir: BorrowedFd<'_>) -> nix::Result<Vec<CString>> {
    let fd = openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut v = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            v.push(n.to_owned());
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ws() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        (d, root)
    }

    fn watch(root: &Path, rels: &[&str]) -> Watch {
        let paths = rels
            .iter()
            .map(|r| root.join(r))
            .filter_map(|path| {
                let t = trace(root, &path);
                t.end.is_none().then_some(Watched { path, ways: t.ways })
            })
            .collect();
        Watch { root: root.to_path_buf(), paths }
    }

    #[test]
    fn a_created_protected_path_is_a_violation_and_is_removed_with_everything_in_it() {
        let (_d, w) = ws();
        std::fs::create_dir(w.join(".github")).unwrap();
        std::fs::write(w.join(".github/ISSUE_TEMPLATE.md"), "x").unwrap();
        let watch = watch(&w, &[".github/workflows", ".gitlab-ci.yml", ".git/hooks"]);
        assert_eq!(watch.paths.len(), 3);
        std::fs::create_dir_all(w.join(".github/workflows/deep/er")).unwrap();
        std::fs::write(w.join(".github/workflows/x.yml"), "on: push").unwrap();
        std::fs::write(w.join(".gitlab-ci.yml"), "script: evil").unwrap();
        std::fs::create_dir_all(w.join(".git/objects")).unwrap();
        let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|v| v.rule == Rule::FsProtected && v.detail.ends_with("; removed")), "{v:?}");
        assert!(
            v[0].detail.contains(
                ".github/workflows, a protected path absent when the task started, was created during the task (past"
            ),
            "{v:?}"
        );
        assert!(!w.join(".github/workflows").exists() && !w.join(".gitlab-ci.yml").exists());
        assert!(w.join(".github/ISSUE_TEMPLATE.md").is_file() && w.join(".git/objects").is_dir());
    }

    #[test]
    fn a_new_link_that_makes_a_protected_path_reachable_is_removed_not_its_target() {
        let (_d, w) = ws();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("workflows")).unwrap();
        let watch = watch(&w, &[".github/workflows", ".gitlab-ci.yml"]);
        symlink(outside.path(), w.join(".github")).unwrap();
        symlink("nowhere", w.join(".gitlab-ci.yml")).unwrap();
        let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].detail.contains("a new symbolic link ->") && v[0].detail.ends_with("; removed"), "{v:?}");
        assert!(v[1].detail.contains("was made a link during the task by"), "{v:?}");
        assert!(std::fs::symlink_metadata(w.join(".github")).is_err());
        assert!(std::fs::symlink_metadata(w.join(".gitlab-ci.yml")).is_err());
        assert!(outside.path().join("workflows").is_dir(), "the link's target is not touched");
    }

    #[test]
    fn a_gitdir_pointer_to_planted_hooks_is_removed() {
        let (_d, w) = ws();
        let watch = watch(&w, &[".git/hooks"]);
        std::fs::create_dir_all(w.join("evil/hooks")).unwrap();
        std::fs::write(w.join(".git"), "gitdir: evil\n").unwrap();
        let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].detail.contains("`gitdir:` pointer"), "{v:?}");
        assert!(!w.join(".git").exists() && w.join("evil/hooks").is_dir());
    }

    #[test]
    fn a_dangling_link_that_existed_is_judged_by_what_it_reaches_after() {
        let (_d, w) = ws();
        symlink("gh", w.join(".github")).unwrap();
        let watch = watch(&w, &[".github/workflows"]);
        assert_eq!(watch.paths.len(), 1);
        std::fs::create_dir_all(w.join("gh/workflows")).unwrap();
        let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(w.join("gh").is_dir() && !w.join("gh/workflows").exists());
        assert!(std::fs::symlink_metadata(w.join(".github")).is_ok(), "the link of before stays");
    }

    #[test]
    fn benign_work_beside_protected_paths_is_no_violation() {
        let (_d, w) = ws();
        let watch = watch(&w, &[".github/workflows", ".git/hooks", ".git/config"]);
        std::fs::create_dir_all(w.join(".git/refs/heads")).unwrap();
        std::fs::write(w.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(w.join(".github")).unwrap();
        std::fs::write(w.join(".github/ISSUE_TEMPLATE.md"), "x").unwrap();
        symlink("elsewhere", w.join("link")).unwrap();
        assert!(watch.after().is_empty());
    }

    #[test]
    fn an_unwritable_tree_is_still_removed() {
        let (_d, w) = ws();
        let watch = watch(&w, &[".git/hooks"]);
        std::fs::create_dir_all(w.join(".git/hooks/a")).unwrap();
        std::fs::write(w.join(".git/hooks/a/pre-commit"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(w.join(".git/hooks/a"), std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::set_permissions(w.join(".git/hooks"), std::fs::Permissions::from_mode(0o500)).unwrap();
        let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].detail.ends_with("; removed"), "{v:?}");
        assert!(!w.join(".git/hooks").exists());
    }
}
