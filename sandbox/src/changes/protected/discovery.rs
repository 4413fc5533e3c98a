//! What git finds at the workspace root, judged apart from the protected
//! names. Git does not only read `.git/hooks` and `.git/config` by name: it
//! takes a `.git` *file* for a pointer by rules of its own (`gitdir: ` up to
//! the first NUL, trailing line ends stripped, newlines inside kept), and
//! when `.git` is not a valid repository it takes the root itself for a bare
//! one (`HEAD`, with `objects` and `refs` or a `commondir`, at its top). A
//! task that plants either makes git run its hooks and config on the host
//! while every protected name stays as it was. So, when a workspace's git
//! paths are protected (SECURITY.md §5.3):
//!
//! - a `.git` at the root that was absent at the start and is anything but a
//!   directory at the end (a pointer file however written, a link, a fifo…)
//!   is `fs.protected` and is removed, whatever it leads to: no parser of
//!   ours has to agree with git's. A new `.git` *directory* is judged by its
//!   protected entries (`.git/hooks`, `.git/config`, `.git/commondir`, …),
//!   absent at the start ([`super::absent`]);
//! - the root becoming a git directory that it was not at the start is
//!   `fs.protected`, and the markers the task made (`HEAD`, `objects`,
//!   `refs`, `commondir`) are removed: git no longer takes the root for a
//!   repository. What made `.git` invalid (its `HEAD`, which git itself
//!   writes) is left as the task left it: git then refuses to run there
//!   instead of running planted code.
//!
//! Benign work is not flagged: a root that already was a git directory, a
//! `.git` directory made during the task without protected entries, and a
//! root file or directory named like a marker without the rest.

use super::beneath::remove_beneath;
use super::{Planted, open_root};
use crate::Violation;
use crate::rule::Rule;
use std::path::{Path, PathBuf};

/// The entries that make a directory a git directory for git's discovery.
const MARKERS: [&str; 4] = ["HEAD", "objects", "refs", "commondir"];

/// Which of [`MARKERS`] exist at the root (not following a link at the name).
type Markers = [bool; 4];

/// The root's git discovery at the start.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    /// Whether any path below the root's `.git` is protected (else this
    /// judges nothing: the policy gave git's paths up).
    active: bool,
    /// Whether `.git` existed at the root.
    git_before: bool,
    /// The markers at the root.
    markers_before: Markers,
}

fn markers(root: &Path) -> Markers {
    MARKERS.map(|m| std::fs::symlink_metadata(root.join(m)).is_ok())
}

/// Git takes a directory with these for a repository (`is_git_directory`:
/// a `HEAD`, and `objects` and `refs`, here or through `commondir`). Only
/// the entries' presence is asked: what is present but invalid is still
/// judged, which errs towards a violation, never towards a miss.
fn is_git_dir(m: &Markers) -> bool {
    m[0] && ((m[1] && m[2]) || m[3])
}

impl Discovery {
    /// The root `root` as it is now, for the protected `paths`.
    pub(super) fn before<'a>(root: &Path, paths: impl IntoIterator<Item = &'a PathBuf>) -> Discovery {
        let dot_git = root.join(".git");
        let active = paths.into_iter().any(|p| p.starts_with(&dot_git));
        if !active {
            return Discovery::default();
        }
        Discovery { active, git_before: std::fs::symlink_metadata(&dot_git).is_ok(), markers_before: markers(root) }
    }

    /// Judge the root again (see the module doc): a violation for a new
    /// `.git` that is not a directory, and one for a root made a git
    /// directory, each with its offending entries removed.
    pub(super) fn after(&self, root: &Path) -> Vec<Planted> {
        let mut out = Vec::new();
        if !self.active {
            return out;
        }
        let root_fd = open_root(root);
        let remove = |rel: &str| match &root_fd {
            Some(fd) => {
                use std::os::fd::AsFd as _;
                remove_beneath(fd.as_fd(), Path::new(rel))
            }
            None => super::beneath::Fate::Kept(format!("the workspace {} could not be opened", root.display())),
        };
        let dot_git = root.join(".git");
        if !self.git_before
            && let Ok(meta) = std::fs::symlink_metadata(&dot_git)
            && !meta.is_dir()
        {
            let kind = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_file() {
                "a file"
            } else {
                "a special file"
            };
            let fate = remove(".git");
            let undone = fate == super::beneath::Fate::Removed;
            let detail = format!(
                "{}, absent when the task started, was created during the task as {kind}: git takes it for a pointer to the workspace's repository and would run the hooks and config of wherever it leads{}",
                dot_git.display(),
                fate.words(root, &dot_git)
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        let now = markers(root);
        if is_git_dir(&now) && !is_git_dir(&self.markers_before) {
            let made: Vec<&str> = MARKERS
                .iter()
                .zip(now.iter().zip(self.markers_before.iter()))
                .filter(|(_, (n, b))| **n && !**b)
                .map(|(m, _)| *m)
                .collect();
            let mut left = Vec::new();
            for m in &made {
                let fate = remove(m);
                if fate != super::beneath::Fate::Removed {
                    left.push(format!("{m}{}", fate.words(root, &root.join(m))));
                }
            }
            let undone = left.is_empty();
            let detail = format!(
                "{}, the workspace root, was made a git repository during the task ({} created at its top): git run there takes it for the repository when `.git` is not a valid one, and would run its hooks and config; {}",
                root.display(),
                made.join(", "),
                if undone { "removed".to_string() } else { format!("not all removed: {}", left.join(", ")) }
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        out
    }
}
