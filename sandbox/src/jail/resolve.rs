//! Resolving a path argument as the kernel would for the task: relative to
//! its working directory or a descriptor, through `/proc/<pid>/root`, link by
//! link, without following a final link unless the call would.
//!
//! Guarantees: the result names the file the call would reach, or says why it
//! cannot be known ([`Target`]); it never resolves outside the task's root.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Paths of this many bytes or more (NUL included) are refused by the kernel.
pub const PATH_MAX: usize = 4096;

/// Where a path argument leads, resolved as the kernel would for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path in the jail's tree.
    Path(PathBuf),
    /// Something without a path (a pipe, socket, memfd or deleted file), reached
    /// through the given magic link; or nothing at all (a NULL pointer).
    Object(PathBuf),
    /// A name in a removed directory (see [`past_removed`]): the kernel
    /// answers ENOENT, as a removed directory holds no entry and takes none.
    Absent,
    /// Could not be resolved; the reason.
    Unresolvable(String),
}

/// Resolve a path argument of task `pid` the way the kernel will: relative to
/// its cwd or `dirfd`, one component at a time, following symlinks (the final
/// one only with `follow`), `..` after a symlink going up from its target, and
/// `/proc/self` meaning the task. Magic links (`/proc/PID/fd/N`, `cwd`, `root`)
/// are followed to the file they stand for, or end in [`Target::Object`].
pub fn resolve(pid: u32, dirfd: Option<u64>, raw: &[u8], follow: bool) -> Target {
    resolve_in(pid, dirfd, raw, follow, false)
}

/// [`resolve`], optionally with `dirfd` as the root (`openat2` `RESOLVE_IN_ROOT`).
pub fn resolve_in(pid: u32, dirfd: Option<u64>, raw: &[u8], follow: bool, in_root: bool) -> Target {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(raw));
    let base = || -> Result<PathBuf, Target> {
        let link = PathBuf::from(match dirfd.map(|d| d as i32) {
            None | Some(libc::AT_FDCWD) => format!("/proc/{pid}/cwd"),
            Some(fd) => format!("/proc/{pid}/fd/{fd}"),
        });
        match std::fs::read_link(&link) {
            Ok(text) => match link_path(&link, &text) {
                Some(dir) => Ok(dir),
                None if text.is_absolute() => Err(past_removed(&link, &steps(p))),
                None => Err(Target::Object(link)),
            },
            Err(e) => Err(Target::Unresolvable(format!("{}: {e}", link.display()))),
        }
    };
    if in_root {
        return match base() {
            Ok(root) => walk(pid, &root, root.clone(), p, follow),
            Err(t) => t,
        };
    }
    let start = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        match base() {
            Ok(d) => d,
            Err(t) => return t,
        }
    };
    walk(pid, Path::new("/"), start, p, follow)
}

/// The path a magic link's text names, when it names one: not a pipe, socket
/// or anonymous inode, not a memfd, and — for a text ending in " (deleted)" —
/// only if a file by that very name is the one behind the link (a directory may
/// be called "x (deleted)"; a removed one has no name left).
pub(super) fn link_path(link: &Path, text: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if !text.is_absolute() || text.as_os_str().as_bytes().starts_with(b"/memfd:") {
        return None;
    }
    if !text.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Some(text.to_path_buf());
    }
    let same = match (std::fs::metadata(text), std::fs::metadata(link)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    same.then(|| text.to_path_buf())
}

/// Where a walk ends that reaches, through the magic link `link` (a cwd, a
/// descriptor), a directory without a name, with the steps `rest` still to
/// take. A *removed* directory ([`removed_dir`]) is empty and takes no new
/// entry, so the kernel answers ENOENT to the first name looked up in it
/// ([`Target::Absent`]); with nothing left to take the walk ends at the
/// directory itself, as an empty path with its descriptor would
/// ([`Target::Object`]). Only a `..` taken first leaves it for its live
/// parent, which no text names (`sub/../f` fails at `sub`, as `touch` sees
/// it: review 87 FP1), and any other nameless directory may hold entries:
/// both [`Target::Unresolvable`] (fail closed).
fn past_removed(link: &Path, rest: &std::collections::VecDeque<std::ffi::OsString>) -> Target {
    if !removed_dir(link) {
        return Target::Unresolvable(format!("{}: a directory without a name", link.display()));
    }
    if rest.is_empty() {
        Target::Object(link.to_path_buf())
    } else if rest.front().is_some_and(|s| s == "..") {
        Target::Unresolvable(format!("{}: the directory was removed, and `..` leaves it", link.display()))
    } else {
        Target::Absent
    }
}

/// Whether the magic link `link` stands for a removed directory: one the
/// kernel marked dead (rmdir, or replaced by a rename), which it refuses to
/// list (ENOENT from getdents, which libc's readdir reports as the end). A directory that merely lost its name in the
/// dentry cache (a network or FUSE file system's) lists, or fails otherwise.
fn removed_dir(link: &Path) -> bool {
    let Ok(dir) = std::fs::File::open(link) else { return false };
    let mut buf = Vec::with_capacity(512);
    crate::sys::getdents(std::os::fd::AsFd::as_fd(&dir), &mut buf)
        .is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
}

/// The names and `..` of `p`, in order (the root and `.` carry no step): what
/// a path walk takes one at a time.
pub(crate) fn steps(p: &Path) -> std::collections::VecDeque<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(std::ffi::OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// The most steps (names and `..`, each link's own included) one path walk
/// takes before it fails closed ([`Target::Unresolvable`]). The kernel would
/// take up to 40 links of 4,096 bytes each, but every step here is a system
/// call: 40 links each climbing and descending 800 levels kept the
/// supervisor on one call for ~2 s, past the grace a timeout's stop gives it
/// for its final checks (review 87 F1). Real builds stay far below it.
const MAX_WALK_STEPS: usize = 8_192;

pub(super) fn walk(pid: u32, root: &Path, start: PathBuf, path: &Path, follow: bool) -> Target {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    /// The kernel's own limit (MAXSYMLINKS): past it the call fails with ELOOP.
    const MAX_LINKS: usize = 40;
    let mut cur = if path.is_absolute() { root.to_path_buf() } else { start };
    let mut queue: VecDeque<OsString> = steps(path);
    let mut links = 0;
    let mut taken = 0;
    while let Some(c) = queue.pop_front() {
        taken += 1;
        if taken > MAX_WALK_STEPS {
            return Target::Unresolvable(format!(
                "{}: more than {MAX_WALK_STEPS} steps to resolve (links leading through links)",
                path.display()
            ));
        }
        if c == ".." {
            if cur != root {
                cur.pop();
            }
            continue;
        }
        let mut cand = cur.join(&c);
        // /proc/self names the reader: for us, the task.
        if cand == Path::new("/proc/self") || cand == Path::new("/proc/thread-self") {
            cand = PathBuf::from(format!("/proc/{pid}"));
        }
        let last = queue.is_empty();
        if last && !follow {
            return Target::Path(cand);
        }
        let is_link = std::fs::symlink_metadata(&cand).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            cur = cand;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Target::Object(PathBuf::new()); // ELOOP from the kernel
        }
        let target = match std::fs::read_link(&cand) {
            Ok(t) => t,
            Err(e) => return Target::Unresolvable(format!("{}: {e}", cand.display())),
        };
        if cand.starts_with("/proc") && link_path(&cand, &target).is_none() && !is_plain_symlink(&cand) {
            // A magic link to a removed directory, pipe, socket, anonymous
            // inode, memfd or deleted file.
            if !last && target.is_absolute() && removed_dir(&cand) {
                return past_removed(&cand, &queue);
            }
            return if last || target.is_absolute() {
                Target::Object(cand)
            } else {
                Target::Unresolvable(format!("{} is not a directory", cand.display()))
            };
        }
        if target.is_absolute() {
            cur = root.to_path_buf();
        }
        for step in steps(&target).into_iter().rev() {
            queue.push_front(step);
        }
    }
    Target::Path(cur)
}

/// Whether a /proc symlink is an ordinary one (`/proc/self`, `/proc/mounts`)
/// rather than a magic link (`fd/N`, `cwd`, `root`, `exe`, `ns/*`).
fn is_plain_symlink(p: &Path) -> bool {
    let magic = ["fd", "cwd", "root", "exe", "ns", "map_files"];
    !p.ancestors().any(|a| a.file_name().is_some_and(|n| magic.iter().any(|m| n == *m)))
        && !matches!(p.file_name().and_then(|n| n.to_str()), Some("cwd" | "root" | "exe"))
}

/// `path` as the kernel would reach it: its longest existing part resolved
/// (links and `..`), the rest appended as written (a missing directory's `..`
/// fails later, as the kernel's would).
pub fn existing_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut prefix = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(prefix) {
            return rest.iter().rev().fold(real, |p: PathBuf, c| p.join(c));
        }
        match (prefix.parent(), prefix.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                prefix = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}
