//! Protected paths that are absent when a task starts: made reachable during
//! the task, they are a violation and what made them so is removed.
//!
//! Nothing in the kernel pins a name that is not there: the supervisor refuses
//! a call that would create one, but a call that raced it can. After the task,
//! each watched path is resolved again as the host will ([`super::trace`]).
//! One that now reaches an entry, or whose own name is now a new link, is a
//! violation (`fs.protected`), and the entry that makes it so is removed: the
//! first link or pointer on the way that was not there at the start, or else
//! the protected entry itself, recursively ([`super::beneath`]). What cannot
//! be removed is renamed aside in its directory; failing that it stays, and
//! the violation's detail says so and where it is.
//!
//! A `config.worktree` is the exception: the supervisor makes one when its
//! lock is renamed there with settings a task may write
//! ([`crate::jail::gitconfig::judge`] from nothing: what `git
//! sparse-checkout` writes). Reached at the end as that very name (no link
//! or pointer on the way that was not there), a regular file of one link
//! that the same judge allows, it stays and is no violation.
//!
//! A path only a command's word names (`!ninja -C build.debug`) is another
//! (review 81, F5): reached at the end through no new link, a real
//! directory stays and is no violation; any other entry there is one. Such
//! a path is watched here when it is a directory at the start too (review
//! 82, F2: `!tools/gen` where an earlier task made `tools/gen/`), so a file
//! that replaced the directory is removed like one made where it was absent.
//!
//! Benign work is not flagged: the directories that hold protected paths
//! (`.git`, `.github`) and their other entries are not protected.

use super::beneath::{Fate, remove_beneath};
use super::{Id, Planted, trace, way_text};
use crate::Violation;
use crate::rule::Rule;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// One protected path the host did not reach at the start.
#[derive(Debug)]
pub(super) struct Watched {
    /// The path as protected (under the workspace root).
    pub(super) path: PathBuf,
    /// The links and pointers on its way at the start.
    pub(super) ways: Vec<(PathBuf, Id)>,
    /// A real directory there is no violation: only a command's word names
    /// it, and a directory is no code (review 81, F5); watched so when a
    /// directory is there at the start too (review 82, F2).
    pub(super) dir_ok: bool,
}

/// Judge the paths of `watched` again (below `root`, whose descriptor is
/// `root_fd`): a violation for each the host now reaches (or whose own name
/// is a new link), its offending entry removed (see the module doc).
pub(super) fn after(root: &Path, root_fd: Option<BorrowedFd<'_>>, watched: &[Watched]) -> Vec<Planted> {
    let mut out = Vec::new();
    for w in watched {
        let t = trace(root, &w.path);
        let new_ways: Vec<&PathBuf> = t.ways.iter().filter(|way| !w.ways.contains(way)).map(|(p, _)| p).collect();
        let new_way = new_ways.first().map(|p| p.to_path_buf());
        let named_new = t.named_link.as_ref().is_some_and(|l| new_ways.contains(&l));
        // A new link or pointer on the way is the offender even when it
        // reaches nothing yet: what it leads to can be made later, outside.
        let (offender, how) = match (&t.end, new_way) {
            (_, Some(way)) => {
                let reach = match &t.end {
                    Some(end) => format!("to reach {}", end.display()),
                    None if named_new => "a link".to_string(),
                    None => "to lead elsewhere (reaching nothing yet)".to_string(),
                };
                let how = format!("was made {reach} during the task by {} ({})", way.display(), way_text(&way));
                (way, how)
            }
            // A `config.worktree` the supervisor made for `git sparse-checkout`.
            (Some(end), _) if *end == w.path && made_as_allowed(root, root_fd, &w.path) => continue,
            // A directory where only a command's word is protected (made,
            // or there at the start, as named or through the links it had).
            (Some(end), _) if w.dir_ok && std::fs::symlink_metadata(end).is_ok_and(|m| m.is_dir()) => continue,
            (Some(end), _) if *end == w.path => {
                (end.clone(), "was created during the task (past the supervisor)".to_string())
            }
            (Some(end), _) => {
                (end.clone(), format!("was created during the task at {} (past the supervisor)", end.display()))
            }
            (None, _) => continue,
        };
        let fate = match (root_fd, offender.strip_prefix(root)) {
            (Some(fd), Ok(rel)) if !rel.as_os_str().is_empty() => remove_beneath(fd, rel),
            (None, _) => super::beneath::unopened(root),
            _ => Fate::Kept("it lies outside the workspace".to_string()),
        };
        let removed = fate == Fate::Removed;
        let fate = fate.words(root, &offender);
        let start = if w.dir_ok { "absent or a directory" } else { "absent" };
        let detail = format!("{}, a protected path {start} when the task started, {how}{fate}", w.path.display());
        out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: removed });
    }
    out
}

/// Whether the protected `path` (below `root`), absent at the start, is a
/// `config.worktree` of the root's git directory or one below its
/// `modules` that a task may have made: a regular file of one link, read
/// below `root_fd` with no link followed, whose settings
/// [`crate::jail::gitconfig::judge`] allows from nothing.
fn made_as_allowed(root: &Path, root_fd: Option<BorrowedFd<'_>>, path: &Path) -> bool {
    use crate::jail::gitconfig::{Kind, judge};
    use std::os::fd::AsFd as _;
    let (Some(fd), Ok(rel)) = (root_fd, path.strip_prefix(root)) else { return false };
    let at_git = rel.parent() == Some(Path::new(".git")) || rel.starts_with(".git/modules");
    if !at_git || Kind::of(rel) != Kind::Worktree {
        return false;
    }
    let Some((parent, name)) = super::beneath::split(rel) else { return false };
    let Ok(dir) = super::beneath::open_dir(fd, parent, false, &mut Vec::new()) else { return false };
    let Ok(st) = super::snap::Stat::at(dir.as_fd(), &name) else { return false };
    if st.fmt != libc::S_IFREG || st.nlink != 1 {
        return false;
    }
    matches!(super::snap::read(dir.as_fd(), &name, st.id, super::snap::MAX_FILE),
        Ok(Some(bytes)) if judge(b"", &bytes, Kind::Worktree).is_ok())
}
