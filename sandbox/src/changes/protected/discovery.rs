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
//! - the root becoming a git directory that it was not at the start (a
//!   `HEAD` git accepts, with `objects` and `refs` or a `commondir`), while
//!   `.git` is not a repository (else git never looks at the root), is
//!   `fs.protected`, and the markers the task made or rewrote are removed:
//!   git no longer takes the root for a repository. What made `.git` invalid (its `HEAD`, which git itself
//!   writes) is left as the task left it: git then refuses to run there
//!   instead of running planted code.
//!
//! Benign work is not flagged: a root that already was a git directory, a
//! `.git` directory made during the task without protected entries, a root
//! file or directory named like a marker without the rest, a `HEAD` file git
//! would not accept (`v1.2`), and anything at the root beside a valid `.git`.

use super::Planted;
use super::beneath::remove_beneath;
use super::gitdir::surely_git_dir;
use crate::Violation;
use crate::rule::Rule;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// The entries that make a directory a git directory for git's discovery.
const MARKERS: [&str; 4] = ["HEAD", "objects", "refs", "commondir"];

/// Which of [`MARKERS`] exist at a directory (not following a link at the name).
type Markers = [bool; 4];

/// A directory's git-directory state: which markers exist, whether `HEAD`
/// is one git accepts, and `HEAD`'s bytes (to tell a rewrite).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct RootState {
    markers: Markers,
    head_valid: bool,
    head: Option<Vec<u8>>,
}

/// The state of directory `dir` (the root, or its `.git`).
fn state(dir: &Path) -> RootState {
    let markers = MARKERS.map(|m| std::fs::symlink_metadata(dir.join(m)).is_ok());
    let head_path = dir.join("HEAD");
    let (head_valid, head) = match std::fs::symlink_metadata(&head_path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(&head_path).ok();
            let valid = target.as_ref().is_some_and(|t| t.starts_with("refs/"));
            (valid, target.map(|t| t.into_os_string().into_encoded_bytes()))
        }
        Ok(m) if m.is_file() => {
            let bytes = super::read_small(&head_path, 4096);
            (bytes.as_deref().is_some_and(valid_head), bytes)
        }
        _ => (false, None),
    };
    RootState { markers, head_valid, head }
}

/// Whether git takes `text` for a `HEAD` (`validate_headref`): `ref:`, then
/// blanks, then `refs/…`; or text that *begins* with an object name (40 hex
/// digits for SHA-1, which a SHA-256 name also begins with): git parses the
/// name and ignores whatever follows it (review 61, F10).
pub(super) fn valid_head(text: &[u8]) -> bool {
    if let Some(rest) = text.strip_prefix(b"ref:") {
        return rest.trim_ascii_start().starts_with(b"refs/");
    }
    text.get(..40).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
}

/// Git takes the root in this state for a repository (`is_git_directory`:
/// a valid `HEAD`, and `objects` and `refs`, here or through `commondir`).
/// Markers are counted when they merely exist, and a `commondir` that leads
/// nowhere is still counted: that errs towards a violation, never towards a
/// miss.
fn is_git_dir(s: &RootState) -> bool {
    let m = &s.markers;
    s.head_valid && ((m[1] && m[2]) || m[3])
}

/// The root's git discovery at the start.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    /// Whether any path below the root's `.git` is protected (else this
    /// judges nothing: the policy gave git's paths up).
    active: bool,
    /// Whether `.git` existed at the root.
    git_before: bool,
    /// The root's git-directory state.
    root_before: RootState,
}

impl Discovery {
    /// The root `root` as it is now, for the protected `paths`.
    pub(super) fn before<'a>(root: &Path, paths: impl IntoIterator<Item = &'a PathBuf>) -> Discovery {
        let dot_git = root.join(".git");
        let active = paths.into_iter().any(|p| p.starts_with(&dot_git));
        if !active {
            return Discovery::default();
        }
        Discovery { active, git_before: std::fs::symlink_metadata(&dot_git).is_ok(), root_before: state(root) }
    }

    /// Judge the root again (see the module doc): a violation for a new
    /// `.git` that is not a directory, and one for a root made a git
    /// directory, each with its offending entries removed.
    pub(super) fn after(&self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        if !self.active {
            return out;
        }
        let remove = |rel: &str| match root_fd {
            Some(fd) => remove_beneath(fd, Path::new(rel)),
            None => super::beneath::unopened(root),
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
        // Git falls back to the root only when `.git` is not a repository
        // (absent, or a directory that is not one; a `.git` file that is not
        // a pointer is an error, no fallback).
        let dot_git_is_repo = std::fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_dir()) && surely_git_dir(&dot_git);
        let now = state(root);
        if !dot_git_is_repo && is_git_dir(&now) && !is_git_dir(&self.root_before) {
            let before = &self.root_before;
            let made: Vec<&str> = MARKERS
                .iter()
                .enumerate()
                // `HEAD` rewritten into one git accepts counts as made.
                .filter(|(i, m)| (now.markers[*i] && !before.markers[*i]) || (**m == "HEAD" && now.head != before.head))
                .map(|(_, m)| *m)
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
