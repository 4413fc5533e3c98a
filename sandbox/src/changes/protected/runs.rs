//! The walk of `runs/` at the top of the workspace, which the workspace
//! diff leaves out (review 70, F1), through directory descriptors (review
//! 78, F1b).
//!
//! Guarantees:
//! - **No link is followed** and no path is resolved from the root again:
//!   each directory is opened with `openat(parent, name, O_NOFOLLOW |
//!   O_DIRECTORY)` and each entry examined with `fstatat(…,
//!   AT_SYMLINK_NOFOLLOW)`; other filesystems the host mounted below are
//!   entered like the rest, under the same bounds (review 81, F4).
//! - **It never stops at an error.** A directory it cannot open or list
//!   (even opened up when it is the supervisor's: [`Unlocked::open_dir`]),
//!   one deeper than [`MAX_DEPTH`] levels or whose path would pass
//!   [`MAX_PATH`] bytes, and every directory still to walk once
//!   [`MAX_DIRS`] were walked, is *unreached*: renamed aside in its own
//!   directory (`renameat` on the parent's descriptor, so a path longer
//!   than `PATH_MAX` is no obstacle), since what is below it cannot be
//!   judged (fail closed). The walk goes on with the rest.
//! - Every `.git` entry and every `HEAD` it reaches is handed back with
//!   its directory (relative to the root, at most [`MAX_PATH`] bytes, so
//!   the judging can reach it by path) and whether its ctime is not older
//!   than the task's start.

use super::beneath::Fate;
use crate::changes::walk::Unlocked;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// At most this many directories below `runs/` are walked.
pub(super) const MAX_DIRS: usize = 100_000;

/// Levels below `runs/` walked, at most (each level on the way holds a
/// descriptor).
const MAX_DEPTH: usize = 256;

/// Longest absolute path of a directory walked: below `PATH_MAX`, with
/// room for the names judged in it.
const MAX_PATH: usize = 3800;

/// Bytes of a name kept in the name it is renamed aside to.
const MAX_KEPT_NAME: usize = 200;

/// What is found below `runs/`.
#[derive(Debug, Default)]
pub(super) struct RunsWalk {
    /// A directory with a `.git` (`false`) or a `HEAD` (`true`), relative
    /// to the root, and whether that entry is not older than the task.
    pub found: Vec<(PathBuf, bool, bool)>,
    /// Directories not walked (relative), why, and what became of them.
    pub unreached: Vec<(PathBuf, String, Fate)>,
}

/// A directory still to walk.
struct Pending {
    /// Its parent, open.
    parent: Rc<OwnedFd>,
    /// Its name there.
    name: CString,
    /// Its path, relative to the root.
    rel: PathBuf,
    /// Its level below `runs/` (`runs` itself: 0).
    depth: usize,
}

/// Walk `<root>/runs` (see the module doc); `since`: the task's start, in
/// seconds (an entry whose ctime is not before it was made during the
/// task); `opened`: where the supervisor's own directories are opened up.
pub(super) fn walk(root: &Path, since: i64, opened: &Unlocked) -> RunsWalk {
    let mut out = RunsWalk::default();
    let Some(root_fd) = super::open_root(root) else { return out };
    let Ok(name) = CString::new(super::made::RUNS) else { return out };
    match fstatat(root_fd.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if is_dir(st.st_mode) => {}
        _ => return out,
    }
    let root_len = root.as_os_str().len();
    let mut stack = vec![Pending { parent: Rc::new(root_fd), name, rel: PathBuf::from(super::made::RUNS), depth: 0 }];
    let mut dirs = 0usize;
    while let Some(p) = stack.pop() {
        dirs += 1;
        if dirs > MAX_DIRS {
            let why = format!("past {MAX_DIRS} directories");
            put_aside(p, why, &mut out);
            continue;
        }
        let fd = match open(&p, opened) {
            Ok(fd) => Rc::new(fd),
            Err(e) => {
                put_aside(p, format!("not opened: {}", e.desc()), &mut out);
                continue;
            }
        };
        let names = match super::beneath::names(fd.as_fd()) {
            Ok(n) => n,
            Err(e) => {
                put_aside(p, format!("not listed: {}", e.desc()), &mut out);
                continue;
            }
        };
        for name in names {
            let Ok(st) = fstatat(fd.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
            let made = st.st_ctime >= since;
            let bytes = name.as_bytes();
            if bytes == b".git" || bytes == b"HEAD" {
                out.found.push((p.rel.clone(), bytes == b"HEAD", made));
                continue;
            }
            // A mount below is entered too (review 81, F4).
            if !is_dir(st.st_mode) {
                continue;
            }
            let rel = p.rel.join(OsStr::from_bytes(bytes));
            let child = Pending { parent: Rc::clone(&fd), name, rel, depth: p.depth + 1 };
            if child.depth > MAX_DEPTH {
                put_aside(child, format!("deeper than {MAX_DEPTH} levels"), &mut out);
            } else if root_len + 1 + child.rel.as_os_str().len() > MAX_PATH {
                put_aside(child, format!("a path longer than {MAX_PATH} bytes"), &mut out);
            } else {
                stack.push(child);
            }
        }
    }
    out
}

/// Open the directory `p`, no link followed; one of the supervisor's that
/// refuses it is opened up first (by path: its path is short, see
/// [`MAX_PATH`]).
fn open(p: &Pending, opened: &Unlocked) -> nix::Result<OwnedFd> {
    let flags = crate::changes::walk::dir_flags();
    match openat(p.parent.as_fd(), p.name.as_c_str(), flags, Mode::empty()) {
        Err(Errno::EACCES) if opened.open_dir(&p.rel).is_ok() => {
            openat(p.parent.as_fd(), p.name.as_c_str(), flags, Mode::empty())
        }
        r => r,
    }
}

/// Rename the unreached directory `p` aside in its own directory.
fn put_aside(p: Pending, why: String, out: &mut RunsWalk) {
    // The name cut so that the new one fits in `NAME_MAX`.
    let mut aside: Vec<u8> = p.name.as_bytes().iter().copied().take(MAX_KEPT_NAME).collect();
    aside.extend_from_slice(super::beneath::aside_suffix().as_bytes());
    let fate = match CString::new(aside.clone()) {
        Ok(to) => match renameat(p.parent.as_fd(), p.name.as_c_str(), p.parent.as_fd(), to.as_c_str()) {
            Ok(()) => Fate::Aside(p.rel.with_file_name(OsStr::from_bytes(&aside))),
            Err(e) => Fate::Kept(format!("renaming it aside: {}", e.desc())),
        },
        Err(_) => Fate::Kept("renaming it aside: a name with a NUL".to_string()),
    };
    out.unreached.push((p.rel, why, fate));
}

/// Whether `mode` is a directory's.
fn is_dir(mode: nix::libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_goes_past_a_path_longer_than_path_max_and_puts_it_aside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("runs/q/evil/.git")).unwrap();
        let deep = root.join("runs/p3");
        std::fs::create_dir_all(&deep).unwrap();
        let fd = std::fs::File::open(&deep).unwrap();
        let mut cur = OwnedFd::from(fd);
        let long = "n".repeat(250);
        for _ in 0..20 {
            nix::sys::stat::mkdirat(cur.as_fd(), long.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
            cur = openat(cur.as_fd(), long.as_str(), crate::changes::walk::dir_flags(), Mode::empty()).unwrap();
        }
        let w = walk(root, 0, &Unlocked::default());
        assert!(w.found.contains(&(PathBuf::from("runs/q/evil"), false, true)), "{:?}", w.found);
        assert_eq!(w.unreached.len(), 1, "{:?}", w.unreached);
        assert!(matches!(w.unreached[0].2, Fate::Aside(_)), "{:?}", w.unreached);
    }
}
