//! Repositories a task made anywhere in the workspace, found by the
//! workspace diff (review 69, F1 and F4). The survey of
//! [`super::submodules`] judges the places an index names or tracks; a
//! repository the task made elsewhere (`evil/`, untracked) is named by no
//! index *yet*: a commit the task wrote can add a gitlink to it, and the
//! host's `git checkout` or `git submodule update` then makes git recurse
//! into it. So, while the root's `.git/config` is protected and the diff
//! ran (`report.workspace_diff`, on by default):
//!
//! - every `.git` (directory, file or link) the diff found added, below the
//!   root's own, is judged once the diff is done: a repository with nothing
//!   planted (a plain `git init` or clone; the gitlinks its index names
//!   lead to repositories judged here or by the survey) is left; any other is `fs.protected`, its `.git` removed when its birth
//!   time shows the task made it, else put aside;
//! - it costs no walk of its own: the diff's comparison hands over each
//!   added entry's path, and nothing is opened for it. Only `runs/` at the
//!   top, which the diff leaves out, is walked (its directories, at most
//!   20,000; past that, or unlistable, `fs.protected`) for `.git` entries
//!   changed since the start (review 70, F1);
//!
//! - a walk after the task that crosses the diff's bounds when the walk
//!   before did not is `fs.protected` (fail closed: growing the workspace
//!   would otherwise hide every repository made in it).
//!
//! With the diff turned off, or a workspace already past its bounds before
//! the task, nothing here judges; SECURITY.md §5.3 says so.

use super::Planted;
use super::beneath::Fate;
use crate::Violation;
use crate::rule::Rule;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// At most this many made repositories are judged one by one; past it,
/// the rest is one violation.
const MAX_JUDGED: usize = 1000;

/// The directory at the root that the diff leaves out and a task can write.
const RUNS: &str = "runs";

/// At most this many directories below [`RUNS`] are walked.
const MAX_RUNS_DIRS: usize = 20_000;

/// Why `runs/` could not be walked whole after the task.
#[derive(Debug, thiserror::Error)]
enum RunsUnwalked {
    /// More than [`MAX_RUNS_DIRS`] directories.
    #[error("more than {MAX_RUNS_DIRS} directories")]
    TooMany,
    /// A directory could not be listed.
    #[error("{}: {source}", dir.display())]
    Unlisted {
        /// The directory, relative to the root.
        dir: PathBuf,
        /// What listing it gave.
        source: std::io::Error,
    },
}

/// The repositories the diff shows the task made, to judge after it.
#[derive(Debug, Default)]
pub struct MadeRepos {
    /// The workspace root; `None`: nothing to judge (`.git/config` given up).
    root: Option<PathBuf>,
    /// When the task's protected paths were snapshotted (before it ran).
    start: Option<std::time::SystemTime>,
    /// Work trees (relative) whose `.git` was added.
    places: BTreeSet<PathBuf>,
    /// More were seen than [`MAX_JUDGED`].
    overflow: bool,
    /// The diff's walk after the task crossed a bound its walk before did
    /// not: why.
    unwalked: Option<String>,
}

impl MadeRepos {
    /// Judge nothing.
    pub fn off() -> MadeRepos {
        MadeRepos::default()
    }

    /// Judge repositories made below `root`, for a task started after `start`.
    pub(super) fn new(root: PathBuf, start: std::time::SystemTime) -> MadeRepos {
        MadeRepos { root: Some(root), start: Some(start), ..MadeRepos::default() }
    }

    /// The relative path of an entry the diff found added.
    pub fn added(&mut self, path: &[u8]) {
        if self.root.is_none() {
            return;
        }
        use std::os::unix::ffi::OsStrExt as _;
        let path = Path::new(std::ffi::OsStr::from_bytes(path));
        if path.file_name().is_none_or(|n| n.as_bytes() != b".git") {
            return;
        }
        let Some(place) = path.parent() else { return };
        // The root's own `.git` is judged by the protected names and discovery.
        if place.as_os_str().is_empty() {
            return;
        }
        if self.places.len() >= MAX_JUDGED {
            self.overflow = true;
        } else {
            self.places.insert(place.to_path_buf());
        }
    }

    /// Add the `.git` entries below `<root>/runs` (no link followed) whose
    /// ctime is not older than the task's start; `Err`: past
    /// [`MAX_RUNS_DIRS`] directories, or one could not be listed.
    fn runs_dir(&mut self, root: &Path, start: std::time::SystemTime) -> Result<(), RunsUnwalked> {
        use std::os::unix::fs::MetadataExt as _;
        let since = start.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) - 1;
        let top = root.join(RUNS);
        if !std::fs::symlink_metadata(&top).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        let mut stack = vec![PathBuf::from(RUNS)];
        let mut dirs = 0usize;
        while let Some(rel) = stack.pop() {
            dirs += 1;
            if dirs > MAX_RUNS_DIRS {
                return Err(RunsUnwalked::TooMany);
            }
            let unlisted = |source| RunsUnwalked::Unlisted { dir: rel.clone(), source };
            let rd = std::fs::read_dir(root.join(&rel)).map_err(unlisted)?;
            for e in rd {
                let e = e.map_err(unlisted)?;
                let Ok(t) = e.file_type() else { continue };
                let child = rel.join(e.file_name());
                if e.file_name() == ".git" {
                    let changed = std::fs::symlink_metadata(root.join(&child)).is_ok_and(|m| m.ctime() >= since);
                    if changed {
                        self.added(child.as_os_str().as_encoded_bytes());
                    }
                } else if t.is_dir() {
                    stack.push(child);
                }
            }
        }
        Ok(())
    }

    /// The diff's walk after the task crossed a bound (`why`) that its walk
    /// before did not: what the task made cannot be told.
    pub fn unwalked(&mut self, why: &str) {
        self.unwalked = Some(why.to_string());
    }

    /// Judge each repository seen (see the module doc).
    pub fn judge(mut self) -> Vec<Planted> {
        let mut out = Vec::new();
        let (Some(root), Some(start)) = (self.root.clone(), self.start) else { return out };
        // `runs/` at the top is left out of the diff (a run's own directory
        // may grow there): its `.git` entries changed since the start are
        // found by a walk of its directories (review 70, F1).
        if let Err(why) = self.runs_dir(&root, start) {
            let detail =
                format!("{}: {why}: a repository the task made there cannot be judged", root.join(RUNS).display());
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        let root_fd = super::open_root(&root);
        let fd = root_fd.as_ref().map(std::os::fd::AsFd::as_fd);
        for rel in &self.places {
            let dot_git = rel.join(".git");
            if std::fs::symlink_metadata(root.join(&dot_git)).is_err() || super::submodules::plain_git(&root, rel) {
                continue;
            }
            let made = super::submodules::born_since(&root.join(&dot_git), start);
            let fate = match fd {
                Some(fd) if made => super::beneath::remove_beneath(fd, &dot_git),
                Some(fd) => super::beneath::aside(fd, &dot_git),
                None => super::beneath::unopened(&root),
            };
            let undone = fate == Fate::Removed;
            let shown = root.join(&dot_git);
            let end = super::submodules::fate_words(fate, &root, &shown, "");
            let detail = format!(
                "{}, a repository made during the task in {} with hooks or settings a clone does not make: a commit naming it as a submodule makes the host's git run them{end}",
                shown.display(),
                rel.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        // Fail closed: growing the workspace past the walk's bounds would
        // otherwise hide every repository made in it.
        if let Some(why) = &self.unwalked {
            let detail = format!(
                "{}: the workspace grew past the workspace diff's bounds during the task ({why}): a repository it made where git may recurse cannot be judged",
                root.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        if self.overflow {
            let detail = format!(
                "{}: the task made more than {MAX_JUDGED} repositories; those past it were not judged",
                root.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_added_git_entries_below_the_root_are_judged_and_an_unwalked_diff_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        for p in [&b".git"[..], b"a/.gitignore", b"a/b/.git", b"a/b/.git/config", b"c/.git"] {
            m.added(p);
        }
        assert_eq!(m.places, [PathBuf::from("a/b"), PathBuf::from("c")].into_iter().collect());
        // Neither exists now: nothing to judge.
        assert!(MadeRepos { unwalked: None, ..m }.judge().is_empty());
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        m.unwalked("after the task: more than 500000 entries");
        let v = m.judge();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].violation.rule, Rule::FsProtected);
        assert!(MadeRepos::off().judge().is_empty());
        let mut off = MadeRepos::off();
        off.added(b"x/.git");
        assert!(off.places.is_empty());
    }
}
