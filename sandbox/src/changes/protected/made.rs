//! Repositories a task made or changed anywhere in the workspace, found by
//! the workspace diff (reviews 69 to 74). The survey of
//! [`super::submodules`] judges the places an index names or tracks; a
//! repository elsewhere (`evil/`, untracked) is named by no index *yet*: a
//! commit the task wrote can add a gitlink to it, and the host's `git
//! checkout` or `git submodule update` then makes git recurse into it; and
//! git run on the host in any directory takes that directory itself for a
//! repository when it holds `HEAD`, `objects` and `refs` (review 71, F5).
//! So, while the root's `.git/config` is protected and the diff ran
//! (`report.workspace_diff`, on by default), once the diff is done:
//!
//! - every `.git` (directory, file or link) below the root's own, and every
//!   directory that holds a `HEAD` or where the task changed a `config` or
//!   `commondir` or added `objects` or `refs` and that git may take for a
//!   git directory (below nested `.git`s and the root's too, but for the
//!   root's `modules` and `worktrees`, which the survey judges), is judged. One with nothing planted (a plain `git init`
//!   or clone, a linked work tree of the root's repository or of a plain
//!   one, a plain `git init --bare`) is left. Any other is `fs.protected`
//!   when the task made it, or when a path deciding its code changed during
//!   the task ([`super::codepaths`]: config, includes, hooks, the links on
//!   the way to them, by the diff's listing, not by times a rename or a
//!   hard link keeps old; review 71, F1–F3); its `.git` (or bare `HEAD`)
//!   is removed when its birth time shows the task made it, else put aside;
//! - in each of those git directories, plain or not, a rebase or
//!   cherry-pick todo the task made or changed that runs commands is
//!   `fs.protected` and its state put aside (review 71, F4);
//! - a file the task wrote below the root's `.git/branches`, git's legacy
//!   remotes (`git init` makes the directory empty), is `fs.protected` and
//!   removed (review 74, F2);
//! - it costs no walk of its own: the diff's comparison hands over each
//!   changed path and each `.git`. Only `runs/` at the top, which the diff
//!   leaves out, is walked ([`super::runs`]: by descriptors, never
//!   stopping at an error; a directory it cannot reach, list, or that lies
//!   past its bounds is renamed aside and `fs.protected`, review 78 F1b); a
//!   repository there that is not plain is `fs.protected` (no diff tells
//!   what changed there; review 70, F1);
//! - a walk after the task that crosses the diff's bounds when the walk
//!   before did not is `fs.protected` (fail closed: growing the workspace
//!   would otherwise hide every repository made in it), and a walk by name
//!   that ignores those bounds disarms every nested `.git` and bare-form
//!   `HEAD` unjudged: removed when born during the task, else put aside;
//!   what it could not list or reach is said (review 77, A1b);
//! - a `.git` file that leads to no git directory (no `gitdir:` pointer git
//!   reads, or one to a directory of the workspace git could take for a
//!   git directory only once it holds a `HEAD`, which is then judged by its
//!   markers) and a directory that is no git directory by its markers are
//!   not counted against the bounds ([`MAX_JUDGED`], [`MAX_KEPT`]); past
//!   them, the rest is not judged but disarmed whole: every `.git` (or
//!   bare-form `HEAD`) past the bound is removed when the task made it, else
//!   put aside — but a repository the workspace had none of whose code
//!   paths changed and with no armed todo, which is left — and the
//!   violation says so (review 76, F3; review 77);
//! - a directory the diff could not list even opened up (another owner's:
//!   [`crate::changes::Watched::Unlistable`]; the supervisor's own are
//!   walked with `u+rx` and judged like any other, review 76 F1) that the
//!   host's git can still search is `fs.protected` and put aside: what is
//!   below it cannot be judged. One git cannot search either is left, and
//!   so is one that was there before the task, unlistable, with the same
//!   identity, mode and ctime after it ([`Watched::UnlistableKept`]):
//!   still `fs.protected`, the detail saying how to fix it (review 77,
//!   FP-c) and that what is below may have been changed by the task — but
//!   put aside when the task changed anything of the root's git directory
//!   (a commit or the index could name a path below it; review 78, F8);
//! - the directories the supervisor opened up for the checks after the
//!   task ([`super::Watch::open_up`]) stay open while this judges; `runs/`
//!   and the walk by name open up the supervisor's own they meet.
//!
//! A repository the user had whose settings a clone does not make, and
//! whose config a build rewrites, is judged like one the task armed (a
//! false exit 4; its `.git` is put aside, not removed). With the diff
//! turned off nothing here judges; SECURITY.md §5.3 says so. With a
//! workspace already past the diff's bounds before the task (no diff:
//! [`MadeRepos::unwalked_before`], review 78 F3), the walk by name finds
//! every nested `.git` and bare-form `HEAD` (and the git directories in a
//! nested `.git`'s `modules` and `worktrees`), and each is judged as
//! above, a path counting as changed by its ctimes instead of the diff's
//! listing ([`Changed::by_ctime`]), a `.git` as made when born during the
//! task or when its own ctime or a marker's (`HEAD`, `objects`, `refs`,
//! `commondir`, `config`) is new (renamed into place, completed, opened up
//! by a `chmod`; review 79 F2b). With the diff, an `objects`, `refs` or
//! `commondir` added or changed makes its directory (or its nested `.git`'s
//! work tree) made, as an added `HEAD` does (review 79, F1).

use super::Planted;
use super::beneath::Fate;
use super::codepaths::{Changed, Resolved, armed_todos, code_paths, git_dir_of};
use super::gitdir::{git_takes, may_be_git_dir};
use crate::Violation;
use crate::changes::Watched;
use crate::changes::walk::Unlocked;
use crate::rule::Rule;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// At most this many made repositories (and as many bare-form directories)
/// are judged one by one; past it, the rest is one violation.
const MAX_JUDGED: usize = 1000;

/// At most this many repositories that were there before are judged; past
/// it, one violation (a workspace of that many nested repositories is not
/// a build's).
const MAX_KEPT: usize = 10_000;

/// The directory at the root that the diff leaves out and a task can write.
pub(super) const RUNS: &str = "runs";

// How much older than the task's start a ctime must be to count as before
// it, where only times tell (paths out of the workspace): the survey's.
use super::submodules::MARGIN;

/// How a repository came to be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    /// Its `.git` (or a bare-form directory's `HEAD`) was added during the task.
    made: bool,
    /// It lies in `runs/`, where no diff tells what changed.
    in_runs: bool,
}

/// The repositories in the workspace, to judge after the task.
#[derive(Debug, Default)]
pub struct MadeRepos {
    /// The workspace root; `None`: nothing to judge (`.git/config` given up).
    root: Option<PathBuf>,
    /// When the task's protected paths were snapshotted (before it ran).
    start: Option<std::time::SystemTime>,
    /// Work trees (relative) with a `.git`.
    repos: BTreeMap<PathBuf, Seen>,
    /// Directories (relative) that may have been made git directories.
    bare: BTreeMap<PathBuf, Seen>,
    /// More were seen than the bounds.
    overflow: Option<&'static str>,
    /// Those past the bounds (a work tree, or `true`: a bare-form
    /// directory), in walk order: disarmed unjudged.
    past: Vec<(PathBuf, bool)>,
    /// Directories the diff could not list (another owner's).
    unlistable: Vec<PathBuf>,
    /// Those of them there before the task, unlistable and unchanged
    /// (review 77, FP-c).
    unlistable_kept: Vec<PathBuf>,
    /// Work trees whose `.git` led nowhere when the diff showed it: looked
    /// at again once the judging has put git directories aside (a pointer
    /// to the name one is put aside under; review 79).
    nowhere: Vec<PathBuf>,
    /// What the diff found added, modified or deleted.
    changed: Changed,
    /// Entries added or modified below the root's `.git/branches` (git's
    /// legacy remote files; review 74, F2).
    legacy: Vec<PathBuf>,
    /// The diff's walk after the task crossed a bound (`why`) that its walk
    /// before did not.
    unwalked: Option<String>,
    /// The diff's walk before the task crossed a bound (`why`): there is no
    /// diff, and the repositories found by name are judged by ctimes.
    before_unwalked: Option<String>,
}

impl MadeRepos {
    /// Judge nothing.
    pub fn off() -> MadeRepos {
        MadeRepos::default()
    }

    /// Judge repositories below `root`, for a task started after `start`.
    pub(super) fn new(root: PathBuf, start: std::time::SystemTime) -> MadeRepos {
        MadeRepos { root: Some(root), start: Some(start), ..MadeRepos::default() }
    }

    /// An entry the diff showed (see [`crate::changes::Snapshot::compare_watching`]):
    /// its relative path and how it came through the task. Calls come in
    /// the walk's order.
    pub fn watched(&mut self, path: &[u8], how: Watched) {
        let Some(root) = self.root.clone() else { return };
        if how == Watched::Unlistable {
            self.unlistable.push(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
            return;
        }
        if how == Watched::UnlistableKept {
            self.unlistable_kept.push(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
            return;
        }
        if how != Watched::Kept {
            self.changed.push(path);
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(path));
        if matches!(how, Watched::Added | Watched::Modified)
            && path.starts_with(".git/branches")
            && self.legacy.len() < MAX_JUDGED
        {
            self.legacy.push(path.to_path_buf());
        }
        let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else { return };
        // The root's own `.git` and the root itself are judged by the
        // protected names and discovery.
        if dir.as_os_str().is_empty() {
            return;
        }
        let made = how == Watched::Added;
        // A directory git may take for a git directory by its markers: not
        // a `.git` (judged as its repository's), but anywhere else, below a
        // nested repository's `.git` too (its `modules/*`, review 72, F2).
        // Every `HEAD` is shown, so one armed in a later task is judged
        // again (F1).
        // Below the root's `.git` too (a bare repository made there is a
        // push's target, review 74 F3), but for its `modules` and
        // `worktrees`, which the survey judges.
        let surveyed = dir == Path::new(".git") || dir.starts_with(".git/modules") || dir.starts_with(".git/worktrees");
        let marker_dir = !surveyed && dir.file_name().is_some_and(|n| n != ".git");
        // A marker that decides whether git takes the directory for a git
        // directory, added or changed (a `chmod`, another kind): the task
        // may have made it one, so it is judged as made (review 79, F1). A
        // `HEAD` only added: its text changes with every checkout, and one
        // git refused before is judged when the rest came (by `may_be_git_dir`).
        let made_by = matches!(name.as_bytes(), b"HEAD") && made
            || matches!(name.as_bytes(), b"objects" | b"refs" | b"commondir")
                && matches!(how, Watched::Added | Watched::Modified);
        match (name.as_bytes(), how) {
            (_, Watched::Deleted | Watched::Unlistable | Watched::UnlistableKept) => {}
            // Git refuses a `.git` that leads nowhere and runs nothing of it.
            // One the task wrote is looked at again after the judging.
            (b".git", Watched::Added | Watched::Modified)
                if self.nowhere.len() < MAX_JUDGED && leads_nowhere(&root, dir) =>
            {
                self.nowhere.push(dir.to_path_buf());
            }
            (b".git", _) if leads_nowhere(&root, dir) => {}
            (b".git", _) => self.note(dir, Seen { made, in_runs: false }, false),
            (b"HEAD", _)
            | (b"config" | b"commondir", Watched::Added | Watched::Modified)
            | (b"objects" | b"refs", Watched::Added | Watched::Modified)
                if marker_dir && may_be_git_dir(&root.join(dir)) =>
            {
                self.note(dir, Seen { made: made_by, in_runs: false }, true);
            }
            // A nested `.git` directory completed in a later task: its work
            // tree is made a repository then (review 79, F1).
            (b"HEAD" | b"objects" | b"refs" | b"commondir", _)
                if made_by && !surveyed && dir != Path::new(".git") && dir.file_name().is_some_and(|n| n == ".git") =>
            {
                let tree = dir.parent().filter(|t| !t.as_os_str().is_empty() && !leads_nowhere(&root, t));
                if let Some(tree) = tree {
                    self.note(tree, Seen { made: true, in_runs: false }, false);
                }
            }
            _ => {}
        }
    }

    /// Note the repository (or, `bare`, the directory that may be one) at
    /// `place`.
    fn note(&mut self, place: &Path, seen: Seen, bare: bool) {
        let (map, max) = if bare {
            (&mut self.bare, MAX_JUDGED)
        } else if seen.made {
            (&mut self.repos, MAX_KEPT + MAX_JUDGED)
        } else {
            (&mut self.repos, MAX_KEPT)
        };
        if let Some(s) = map.get_mut(place) {
            s.made |= seen.made;
            s.in_runs |= seen.in_runs;
        } else if map.len() >= max {
            self.overflow = Some(if bare { "directories made git directories" } else { "repositories" });
            // Disarmed unjudged (review 76, F3); noted once each (a place
            // shows by several entries in a row).
            if !self.past.iter().rev().take(8).any(|(p, b)| p == place && *b == bare) {
                self.past.push((place.to_path_buf(), bare));
            }
        } else {
            map.insert(place.to_path_buf(), seen);
        }
    }

    /// Note the `.git` entries and the directories holding a `HEAD` below
    /// `<root>/runs` ([`super::runs::walk`]: no link followed, never
    /// stopping at an error); made during the task when their ctime is not
    /// older than its start. Returns the directories it could not reach,
    /// why, and what became of them (renamed aside).
    fn runs_dir(
        &mut self,
        root: &Path,
        start: std::time::SystemTime,
        opened: &Unlocked,
    ) -> Vec<(PathBuf, String, Fate)> {
        let since = start.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) - 1;
        let walked = super::runs::walk(root, since, opened);
        for (rel, bare, made) in walked.found {
            self.note(&rel, Seen { made, in_runs: true }, bare);
        }
        walked.unreached
    }

    /// The diff's walk after the task crossed a bound (`why`) that its walk
    /// before did not: what the task made cannot be told.
    pub fn unwalked(&mut self, why: &str) {
        self.unwalked = Some(why.to_string());
    }

    /// The diff's walk before the task crossed a bound (`why`), so there is
    /// no diff (review 78, F3): every nested `.git` and bare-form `HEAD` is
    /// found by name after the task and judged as the diff's would be, a
    /// path counting as changed by its ctimes ([`Changed::by_ctime`]).
    pub fn unwalked_before(&mut self, why: &str) {
        self.before_unwalked = Some(why.to_string());
    }

    /// Without a diff: note every repository and bare-form git directory
    /// [`by_name`] finds (and those below a nested `.git`'s `modules` and
    /// `worktrees`), made during the task when born since `start` or when
    /// its own ctime (a `.git`'s; a git directory's or its `HEAD`'s) is not
    /// older than `since` (renamed into place); what could not be reached
    /// is `fs.protected`.
    fn find_by_name(
        &mut self,
        root: &Path,
        start: std::time::SystemTime,
        since: std::time::SystemTime,
        opened: &Unlocked,
        why: &str,
        out: &mut Vec<Planted>,
    ) {
        let mut found = Vec::new();
        let named = by_name(root, opened, &mut |entry: &Path| found.push(entry.to_path_buf()));
        self.changed = Changed::by_ctime(root.to_path_buf(), since);
        // Born during the task, or renamed into place (its own ctime moves,
        // not its entries').
        let fresh = |entry: &Path| fresh_entry(root, entry, start, since);
        let mut partial = Vec::new();
        for entry in &found {
            let (Some(dir), Some(name)) = (entry.parent(), entry.file_name()) else { continue };
            if name == "HEAD" {
                self.note(dir, Seen { made: fresh_git_dir(root, dir, start, since), in_runs: false }, true);
                continue;
            }
            // (`by_name` hands over no `.git` that leads nowhere.) A `.git`
            // directory completed or opened up (`chmod`) in place counts as
            // made by its markers' ctimes (review 79, F2b).
            let made = fresh(entry)
                || (std::fs::symlink_metadata(root.join(entry)).is_ok_and(|m| m.is_dir())
                    && fresh_git_dir(root, entry, start, since));
            self.note(dir, Seen { made, in_runs: false }, false);
            // Git directories git keeps inside it: a submodule's, a linked
            // work tree's.
            for inner in ["modules", "worktrees"] {
                let (places, whole) = git_dirs_below(root, &entry.join(inner));
                for place in places {
                    let made = fresh_git_dir(root, &place, start, since);
                    self.note(&place, Seen { made, in_runs: false }, true);
                }
                if !whole {
                    partial.push(root.join(entry).join(inner).display().to_string());
                }
            }
        }
        let mut left = Vec::new();
        if !partial.is_empty() {
            left.push(format!("more than {MAX_INNER_DIRS} directories in {}", listed(&partial)));
        }
        left.extend(named.left(root));
        if !left.is_empty() {
            let detail = format!(
                "{}: the workspace diff did not run ({why}), and the walk by name that judges its repositories instead could not reach all of them: {}; a repository the task armed there is LEFT (remove it before any host step runs git in this workspace)",
                root.display(),
                left.join("; ")
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
    }

    /// Judge each repository seen (see the module doc).
    /// `opened`: the directories opened up to the supervisor for the checks
    /// after the task ([`super::Watch::open_up`]), where more are noted.
    pub fn judge(mut self, opened: &Unlocked) -> Vec<Planted> {
        let mut out = Vec::new();
        let (Some(root), Some(start)) = (self.root.clone(), self.start) else { return out };
        let since = start.checked_sub(MARGIN).unwrap_or(start);
        // `runs/` at the top is left out of the diff (a run's own directory
        // may grow there): walked here (review 70, F1).
        // What it could not reach is renamed aside: what is below cannot
        // be judged (review 78, F1b: fail closed, and never stop there).
        let unreached = self.runs_dir(&root, start, opened);
        if !unreached.is_empty() {
            let kept = unreached.iter().filter(|(_, _, f)| matches!(f, Fate::Kept(_))).count();
            let shown: Vec<String> = unreached
                .iter()
                .map(|(rel, why, fate)| match fate {
                    Fate::Aside(to) => format!("{} ({why}; renamed to {})", short(rel), short(to)),
                    Fate::Kept(k) => format!("{} ({why}; NOT renamed aside: {k})", short(rel)),
                    Fate::Removed => format!("{} ({why}; removed)", short(rel)),
                })
                .collect();
            let detail = format!(
                "{}: {} directories the walk of `runs/` could not reach: a repository the task made below them cannot be judged, so each was renamed aside{}: {}",
                root.join(RUNS).display(),
                unreached.len(),
                if kept > 0 {
                    format!("; {kept} could NOT be (remove them before any host step runs git in this workspace)")
                } else {
                    String::new()
                },
                listed(&shown)
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: kept == 0 });
        }
        // Without a diff, "made" is told by ctimes: one may have been there.
        let by_ctime = self.before_unwalked.is_some();
        if let Some(why) = self.before_unwalked.take() {
            self.find_by_name(&root, start, since, opened, &why, &mut out);
        }
        let root_fd = super::open_root(&root);
        let fd = root_fd.as_ref().map(std::os::fd::AsFd::as_fd);
        let undo = |rel: &Path, made: bool| match fd {
            Some(fd) if made => super::beneath::remove_beneath(fd, rel),
            Some(fd) => super::beneath::aside(fd, rel),
            None => super::beneath::unopened(&root),
        };
        let mut violation = |detail: String, undone: bool| {
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        };
        // A legacy remote file: where the host's bare `git fetch`/`push`
        // goes when the config names no `origin`.
        for rel in std::mem::take(&mut self.legacy) {
            let shown = root.join(&rel);
            if std::fs::symlink_metadata(&shown).is_ok_and(|m| m.is_dir()) || rel == Path::new(".git/branches") {
                continue;
            }
            let fate = undo(&rel, true);
            let undone = fate == Fate::Removed;
            let end = super::submodules::fate_words(fate, &root, &shown, "");
            violation(
                format!(
                    "{}, written during the task in git's legacy remote directory: git takes it for a remote, and the host's `git fetch` or `git push` would go where it says{end}",
                    shown.display()
                ),
                undone,
            );
        }
        let repos = std::mem::take(&mut self.repos);
        let bare = std::mem::take(&mut self.bare);
        let judged = repos.iter().map(|(p, s)| (p, *s, false)).chain(bare.iter().map(|(p, s)| (p, *s, true)));
        for (rel, seen, is_bare) in judged {
            // No git directory: git refuses the `.git`, runs nothing.
            let Some(code) = place_code(&root, rel, is_bare) else { continue };
            // A todo armed with commands, in any git directory, plain or not.
            for state in armed_todos(&root, &code, &self.changed, since) {
                let (fate, shown) = match &state {
                    Resolved::Inside(s) => (undo(s, false), root.join(s)),
                    Resolved::Outside(s) => (Fate::Kept("out of the workspace".to_string()), s.clone()),
                };
                let undone = matches!(fate, Fate::Aside(_) | Fate::Removed);
                let end = super::submodules::fate_words(fate, &root, &shown, "");
                violation(
                    format!(
                        "{}: a rebase or cherry-pick todo written during the task with steps that run commands, which the host's `git rebase --continue` in {} would run{end}",
                        shown.display(),
                        root.join(rel).display()
                    ),
                    undone,
                );
            }
            let plain = if is_bare {
                let module = rel.components().any(|c| c.as_os_str() == ".git");
                super::submodules::plain_bare(&root, rel, module)
            } else {
                super::submodules::plain_git(&root, rel)
            };
            if plain || !(seen.made || seen.in_runs || code.changed(&self.changed, since)) {
                continue;
            }
            let entry = rel.join(if is_bare { "HEAD" } else { ".git" });
            let born = super::submodules::born_since(&root.join(&entry), start);
            let what = judged_as(is_bare, seen.made, by_ctime && !born);
            let fate = undo(&entry, born);
            let undone = matches!(fate, Fate::Removed | Fate::Aside(_));
            let shown = root.join(&entry);
            let end = super::submodules::fate_words(fate, &root, &shown, "");
            violation(
                format!(
                    "{}, {what} in {}, with hooks or settings a clone does not make: a commit naming it as a submodule, or git run there, makes the host's git run them{end}",
                    shown.display(),
                    rel.display()
                ),
                undone,
            );
        }
        // A `.git` the task wrote that led nowhere while judged but leads to
        // a git directory now: one put aside just now under the name it
        // named. The names are not guessable (`beneath::aside_suffix`);
        // this holds whatever the name.
        for rel in std::mem::take(&mut self.nowhere) {
            let entry = rel.join(".git");
            if leads_nowhere(&root, &rel) || !std::fs::symlink_metadata(root.join(&entry)).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let fate = undo(&entry, super::submodules::born_since(&root.join(&entry), start));
            let undone = matches!(fate, Fate::Removed | Fate::Aside(_));
            let shown = root.join(&entry);
            let end = super::submodules::fate_words(fate, &root, &shown, "");
            violation(
                format!(
                    "{}, a `.git` written during the task that led to no git directory when judged and leads to one now (a git directory put aside under the name it names): git run in {} would use it{end}",
                    shown.display(),
                    rel.display()
                ),
                undone,
            );
        }
        // Fail closed: growing the workspace past the walk's bounds would
        // otherwise hide every repository made in it.
        // Every `.git` and bare-form `HEAD`, found by name, is disarmed
        // unjudged (review 77, A1b).
        if let Some(why) = &self.unwalked {
            let (mut removed, mut aside, mut kept) = (0usize, 0usize, Vec::new());
            // Disarmed as found: no bound on how many (review 78, F1).
            let named = by_name(&root, opened, &mut |entry: &Path| match undo(
                entry,
                super::submodules::born_since(&root.join(entry), start),
            ) {
                Fate::Removed => removed += 1,
                Fate::Aside(_) => aside += 1,
                Fate::Kept(why) => kept.push(format!("{} ({why})", root.join(entry).display())),
            });
            let mut left = Vec::new();
            if !kept.is_empty() {
                left.push(format!("{} could NOT be disarmed: {}", kept.len(), listed(&kept)));
            }
            left.extend(named.left(&root));
            let left = if left.is_empty() {
                String::new()
            } else {
                format!(
                    "; LEFT (disarm or remove them before any host step runs git in this workspace): {}",
                    left.join("; ")
                )
            };
            violation(
                format!(
                    "{}: the workspace grew past the workspace diff's bounds during the task ({why}): no repository in it could be judged, so a walk by name disarmed every nested `.git` and bare-form `HEAD` unjudged: {removed} made during the task removed, {aside} renamed aside (`*.removed-by-orchestra-<pid>-<random>`){left}",
                    root.display()
                ),
                left.is_empty(),
            );
        }
        if let Some(what) = self.overflow {
            let past = std::mem::take(&mut self.past);
            let (mut removed, mut aside, mut kept, mut untouched) = (0usize, 0usize, Vec::new(), 0usize);
            for (rel, is_bare) in past {
                let entry = if is_bare {
                    if !may_be_git_dir(&root.join(&rel)) {
                        continue;
                    }
                    rel.join("HEAD")
                } else {
                    if git_dir_of(&root, &rel, &mut Vec::new()).is_none() {
                        continue;
                    }
                    rel.join(".git")
                };
                let made = super::submodules::born_since(&root.join(&entry), start);
                // A repository the user had (not in `runs/`, which no diff
                // sees) none of whose code paths changed and with no todo
                // armed: its code is what it was (review 77: by its code
                // paths, which may lie outside its work tree). Only those
                // are read for it.
                if !is_bare
                    && !made
                    && !rel.starts_with(RUNS)
                    && place_code(&root, &rel, false).is_some_and(|code| {
                        !code.changed(&self.changed, since)
                            && armed_todos(&root, &code, &self.changed, since).is_empty()
                    })
                {
                    untouched += 1;
                    continue;
                }
                match undo(&entry, made) {
                    Fate::Removed => removed += 1,
                    Fate::Aside(_) => aside += 1,
                    Fate::Kept(why) => kept.push(format!("{} ({why})", root.join(&entry).display())),
                }
            }
            let left = if kept.is_empty() {
                String::new()
            } else {
                let shown: Vec<&str> = kept.iter().take(5).map(String::as_str).collect();
                format!(
                    "; {} could NOT be (remove them before any host step runs git there): {}{}",
                    kept.len(),
                    shown.join(", "),
                    if kept.len() > 5 { ", …" } else { "" }
                )
            };
            violation(
                format!(
                    "{}: more {what} than can be judged one by one; those past the bound were not judged but disarmed: {removed} made during the task removed, {aside} renamed aside (`*.removed-by-orchestra-<pid>-<random>`){left}{}",
                    root.display(),
                    if untouched > 0 {
                        format!("; {untouched} the workspace had, their code unchanged, left")
                    } else {
                        String::new()
                    }
                ),
                kept.is_empty(),
            );
        }
        // One there before the task, unlistable and itself unchanged
        // (another owner's, from a container build): what is below may
        // still have been written by the task (a subdirectory of the
        // user's; review 78, F8). Left in place (review 77, FP-c) only when
        // the task changed nothing of the root's git directory, so that no
        // commit, branch or index of its names a path below it for the
        // host's git to recurse into; else put aside.
        let root_git_changed = self.changed.touches(Path::new(".git"))
            || !std::fs::symlink_metadata(root.join(".git")).is_ok_and(|m| m.is_dir());
        for rel in std::mem::take(&mut self.unlistable_kept) {
            let shown = root.join(&rel);
            if !searchable(&shown) || rel.as_os_str().is_empty() {
                continue;
            }
            let head = format!(
                "{}: a directory orchestra cannot list (not its owner's to open up) that git can still search, there before the task and itself unchanged by it; what is below it may have been changed by the task (a subdirectory writable by you) and cannot be judged: the host's git would run what a repository or git directory there holds when a gitlink names it or git is run in it",
                shown.display()
            );
            if root_git_changed {
                let fate = match fd {
                    Some(fd) => super::beneath::aside(fd, &rel),
                    None => super::beneath::unopened(&root),
                };
                let undone = matches!(fate, Fate::Aside(_));
                let end = super::submodules::fate_words(fate, &root, &shown, "");
                violation(
                    format!(
                        "{head}; the task changed the root's git directory (a commit or the index may name a path below it){end}"
                    ),
                    undone,
                );
            } else {
                violation(
                    format!(
                        "{head}; the task changed nothing of the root's git directory, so it was left in place: do not run git below it before you have looked. Make it listable by you (`chown` it to you, or `chmod o+rx` it) or remove it, and this stops"
                    ),
                    false,
                );
            }
        }
        // What is below a directory the diff could not list is unknown;
        // the host's git reaches below it with search alone (review 76, F1).
        for rel in std::mem::take(&mut self.unlistable) {
            let shown = root.join(&rel);
            if !searchable(&shown) || rel.as_os_str().is_empty() {
                continue;
            }
            let fate = match fd {
                Some(fd) => super::beneath::aside(fd, &rel),
                None => super::beneath::unopened(&root),
            };
            let undone = matches!(fate, Fate::Aside(_));
            let end = super::submodules::fate_words(fate, &root, &shown, "");
            violation(
                format!(
                    "{}: a directory orchestra cannot list (not its owner's to open up) that git can still search: a repository or git directory below it, which git would use, cannot be judged{end}",
                    shown.display()
                ),
                undone,
            );
        }
        out
    }
}

/// What a judged place is said to be: a bare-form directory or a work
/// tree's repository, `made` during the task (by the diff: its `.git` or a
/// marker added; without one, `was_there`: by ctimes, of one not born
/// during the task) or with its code changed.
fn judged_as(bare: bool, made: bool, was_there: bool) -> &'static str {
    match (bare, made, was_there) {
        (true, true, true) => {
            "a directory git takes for a git directory, there before the task, whose git directory markers (`HEAD`, `objects`, `refs`, `commondir`, `config`) the task changed or made"
        }
        (true, _, _) => "a directory made a git directory (git run in it takes it for one)",
        (false, true, true) => {
            "a repository that was there before the task, whose `.git` or git directory the task changed (no diff ran: its ctimes say so)"
        }
        (false, true, false) => "a repository made during the task",
        (false, false, _) => "a repository whose code changed during the task",
    }
}

/// Whether the host's git (this user) can search directory `d`.
fn searchable(d: &Path) -> bool {
    nix::unistd::faccessat(
        std::os::fd::AsFd::as_fd(&nix::fcntl::AT_FDCWD),
        d,
        nix::unistd::AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

/// A relative path for a detail, its middle left out when it is long.
fn short(rel: &Path) -> String {
    let text = rel.to_string_lossy();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 240 {
        return text.into_owned();
    }
    let head: String = chars.iter().take(120).collect();
    let tail: String = chars.iter().skip(chars.len() - 100).collect();
    format!("{head}…{tail}")
}

/// The first few of `items`, for a detail.
fn listed(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
    format!("{}{}", shown.join(", "), if items.len() > 5 { ", …" } else { "" })
}

/// List `<root>/<rel>`, opening it up first when it is the supervisor's
/// and refuses it ([`Unlocked::open_dir`]).
fn read_dir_opening(root: &Path, rel: &Path, opened: &Unlocked) -> std::io::Result<std::fs::ReadDir> {
    match std::fs::read_dir(root.join(rel)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && opened.open_dir(rel).is_ok() => {
            std::fs::read_dir(root.join(rel))
        }
        r => r,
    }
}

/// Directories [`by_name`] lists, at most.
const MAX_NAMED_DIRS: usize = 2_000_000;

/// How long [`by_name`] may take.
const NAMED_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`by_name`] could not do.
#[derive(Debug, Default)]
struct Named {
    /// Directories it could not list, even opened up.
    unlisted: Vec<PathBuf>,
    /// Why it stopped before its end, and what it left.
    stopped: Option<String>,
}

impl Named {
    /// What the walk left unjudged below `root`, one phrase each: the
    /// directories it could not list, and where it stopped.
    fn left(&self, root: &Path) -> Vec<String> {
        let mut left = Vec::new();
        if !self.unlisted.is_empty() {
            let shown: Vec<String> = self.unlisted.iter().map(|d| root.join(d).display().to_string()).collect();
            left.push(format!(
                "{} directories could not be listed (not orchestra's to open up), what is below them is unknown: {}",
                shown.len(),
                listed(&shown)
            ));
        }
        if let Some(stopped) = &self.stopped {
            left.push(format!("the walk by name stopped ({stopped})"));
        }
        left
    }
}

/// Every `.git` below the root's own but one that leads nowhere
/// ([`leads_nowhere`]) and every `HEAD` of a directory git would take for
/// a git directory ([`git_takes`]), by name (review 77, A1b), each handed
/// to `disarm` as found (so no bound on how many: review 78, F1): a walk that
/// ignores the diff's bounds (no depth bound: a stack of names, not of
/// descriptors), follows no link, enters the filesystems mounted below the
/// root as the diff does (review 81, F4; its own bounds cover them), does not
/// enter a `.git` it found (disarmed whole), the root's `.git/modules` and
/// `.git/worktrees` (the survey's), `.orchestra` and `runs` (judged apart),
/// and opens up the supervisor's own unlistable directories. Its own bounds
/// ([`MAX_NAMED_DIRS`], [`NAMED_BUDGET`]) are said when crossed, with what
/// was left.
fn by_name(root: &Path, opened: &Unlocked, disarm: &mut dyn FnMut(&Path)) -> Named {
    let mut named = Named::default();
    if std::fs::symlink_metadata(root).is_err() {
        named.stopped = Some(format!("{} could not be examined", root.display()));
        return named;
    }
    let deadline = std::time::Instant::now() + NAMED_BUDGET;
    let mut stack = vec![PathBuf::new()];
    let mut dirs = 0usize;
    while let Some(d) = stack.pop() {
        dirs += 1;
        let stop = if dirs > MAX_NAMED_DIRS {
            Some(format!("more than {MAX_NAMED_DIRS} directories"))
        } else if std::time::Instant::now() > deadline {
            Some(format!("longer than {} s", NAMED_BUDGET.as_secs()))
        } else {
            None
        };
        if let Some(stop) = stop {
            stack.push(d);
            let shown: Vec<String> = stack.iter().map(|p| root.join(p).display().to_string()).collect();
            named.stopped = Some(format!("{stop}; {} directories not listed: {}", shown.len(), listed(&shown)));
            return named;
        }
        let Ok(rd) = read_dir_opening(root, &d, opened) else {
            named.unlisted.push(d);
            continue;
        };
        let top = d.as_os_str().is_empty();
        let in_root_git = d == Path::new(".git");
        let gitish = d.starts_with(".git/modules") || d.starts_with(".git/worktrees");
        let mut cut = false;
        for e in rd {
            let Ok(e) = e else {
                cut = true;
                continue;
            };
            let name = e.file_name();
            let child = d.join(&name);
            let Ok(t) = e.file_type() else { continue };
            if name == ".git" && !top {
                // Git refuses one that leads nowhere, and runs nothing of it.
                if !leads_nowhere(root, &d) {
                    disarm(&child);
                }
                continue;
            }
            if name == "HEAD" && !top && !in_root_git && !gitish && git_takes(&root.join(&d)) {
                disarm(&child);
            }
            let skipped = (top && (name == ".orchestra" || name == RUNS))
                || (in_root_git && (name == "modules" || name == "worktrees"));
            // The entry's own type (no link followed); a directory on
            // another filesystem (a mount below the root) is entered too.
            if t.is_dir() && !skipped {
                stack.push(child);
            }
        }
        if cut {
            named.unlisted.push(d);
        }
    }
    named
}

/// Directories at or below `rel` (relative to `root`; no link followed below
/// it, at most [`MAX_INNER_DIRS`] listed) that git may take for git directories:
/// the git directories a repository keeps in its `modules` and
/// `worktrees`; and whether the walk reached its end.
fn git_dirs_below(root: &Path, rel: &Path) -> (Vec<PathBuf>, bool) {
    let mut out = Vec::new();
    let mut stack = vec![rel.to_path_buf()];
    let mut dirs = 0usize;
    while let Some(d) = stack.pop() {
        dirs += 1;
        if dirs > MAX_INNER_DIRS {
            return (out, false);
        }
        if may_be_git_dir(&root.join(&d)) {
            out.push(d.clone());
        }
        let Ok(rd) = std::fs::read_dir(root.join(&d)) else { continue };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir())
                && !matches!(e.file_name().to_str(), Some("objects" | "refs" | "logs"))
            {
                stack.push(d.join(e.file_name()));
            }
        }
    }
    (out, true)
}

/// Directories [`git_dirs_below`] lists, at most.
const MAX_INNER_DIRS: usize = 10_000;

/// Whether the `.git` of the work tree `<root>/<rel>` leads to no git
/// directory: a file that is no `gitdir:` pointer as git reads it, or one
/// to a directory of the workspace that holds no `HEAD` and that the diff
/// judges by its markers once it gets one (not named `.git`, not below
/// the root's `.git`). Git refuses such a `.git` and runs nothing of it.
fn leads_nowhere(root: &Path, rel: &Path) -> bool {
    let dot_git = root.join(rel).join(".git");
    if !std::fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Some(target) = super::gitdir_pointer(&dot_git) else { return true };
    match super::codepaths::resolve(root, rel, &target, &mut Vec::new()) {
        Resolved::Inside(p) => {
            std::fs::symlink_metadata(root.join(&p).join("HEAD")).is_err()
                && !p.starts_with(".git")
                && p.file_name().is_some_and(|n| n != ".git")
        }
        Resolved::Outside(_) => false,
    }
}

/// The entries whose change can make git take a directory for a git
/// directory, or change what it runs there.
const GIT_DIR_MARKERS: [&str; 5] = ["HEAD", "objects", "refs", "commondir", "config"];

/// Whether `<root>/<entry>` was born since `start` or its ctime (its own,
/// or when a link, its target's) is not older than `since`; one that cannot
/// be examined counts.
fn fresh_entry(root: &Path, entry: &Path, start: std::time::SystemTime, since: std::time::SystemTime) -> bool {
    let path = root.join(entry);
    let new = |m: std::io::Result<std::fs::Metadata>| m.is_ok_and(|m| super::codepaths::ctime(&m) >= since);
    let Ok(own) = std::fs::symlink_metadata(&path) else { return true };
    super::submodules::born_since(&path, start)
        || super::codepaths::ctime(&own) >= since
        || (own.file_type().is_symlink() && new(std::fs::metadata(&path)))
}

/// Whether the git directory (or directory git may take for one) `rel` was
/// made or completed during the task, as ctimes tell without a diff: the
/// directory itself (an entry added, renamed into place) or any of its
/// markers ([`GIT_DIR_MARKERS`]: a `HEAD` rewritten, `objects` or `refs`
/// given their search permission by a `chmod`; review 79, F2b). A marker
/// that is absent does not count.
fn fresh_git_dir(root: &Path, rel: &Path, start: std::time::SystemTime, since: std::time::SystemTime) -> bool {
    fresh_entry(root, rel, start, since)
        || GIT_DIR_MARKERS.iter().any(|m| {
            let entry = rel.join(m);
            std::fs::symlink_metadata(root.join(&entry)).is_ok() && fresh_entry(root, &entry, start, since)
        })
}

/// What decides the code of the place `rel` the judging notes: a work
/// tree's repository (by its `.git`), or with `bare` a directory that may
/// be a git directory itself; `None` when it leads to no git directory
/// (git refuses it and runs nothing). The links passed on the way count,
/// and so does a `gitdir:` file's text (a directory's entries are git's
/// own writes).
fn place_code(root: &Path, rel: &Path, bare: bool) -> Option<super::codepaths::CodePaths> {
    let mut links = Vec::new();
    let gd = if bare {
        if !may_be_git_dir(&root.join(rel)) {
            return None;
        }
        Resolved::Inside(rel.to_path_buf())
    } else {
        git_dir_of(root, rel, &mut links)?
    };
    let mut code = code_paths(root, &gd, (!bare).then_some(rel));
    code.inside.extend(links);
    if !bare && std::fs::symlink_metadata(root.join(rel).join(".git")).is_ok_and(|m| m.is_file()) {
        code.inside.push(rel.join(".git"));
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_entries_and_git_directory_markers_below_the_root_are_noted_and_an_unwalked_diff_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        // Directories git may take for git directories by their markers
        // (`i/.git/logs` has a `HEAD` and `refs`, but no `objects`: none).
        for dir in ["e", "f", "i/.git/modules/s", "h"] {
            for m in ["objects", "refs"] {
                std::fs::create_dir_all(d.path().join(dir).join(m)).unwrap();
            }
            std::fs::write(d.path().join(dir).join("HEAD"), "ref: refs/heads/main\n").unwrap();
        }
        std::fs::remove_file(d.path().join("h/HEAD")).unwrap();
        std::fs::create_dir_all(d.path().join("i/.git/logs/refs")).unwrap();
        std::fs::write(d.path().join("i/.git/logs/HEAD"), "").unwrap();
        // `.git` files that lead to no git directory (review 76, F3).
        std::fs::create_dir_all(d.path().join("j")).unwrap();
        std::fs::write(d.path().join("j/.git"), "").unwrap();
        std::fs::create_dir_all(d.path().join("k")).unwrap();
        std::fs::create_dir_all(d.path().join("store/objects")).unwrap();
        std::fs::write(d.path().join("k/.git"), "gitdir: ../store\n").unwrap();
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        for (p, how) in [
            (&b".git"[..], Watched::Added),
            (b"HEAD", Watched::Added),
            (b"a/.gitignore", Watched::Added),
            (b"a/b/.git", Watched::Added),
            (b"a/b/.git/HEAD", Watched::Added),
            (b"c/.git", Watched::Added),
            (b"d/.git", Watched::Kept),
            (b"e/.git", Watched::Modified),
            (b"e/config", Watched::Modified),
            (b"f/HEAD", Watched::Added),
            (b"g/.git", Watched::Deleted),
            (b"g/config", Watched::Kept),
            (b"h/refs", Watched::Modified),
            (b"i/.git/logs/HEAD", Watched::Kept),
            (b"i/.git/modules/s/HEAD", Watched::Kept),
            (b"j/.git", Watched::Added),
            (b"k/.git", Watched::Added),
        ] {
            m.watched(p, how);
        }
        for dir in ["e", "f", "h", "i", "j", "k", "store"] {
            std::fs::remove_dir_all(d.path().join(dir)).unwrap();
        }
        let seen = |made| Seen { made, in_runs: false };
        let want: BTreeMap<PathBuf, Seen> =
            [("a/b", seen(true)), ("c", seen(true)), ("d", seen(false)), ("e", seen(false))]
                .into_iter()
                .map(|(p, s)| (PathBuf::from(p), s))
                .collect();
        assert_eq!(m.repos, want);
        let want: BTreeMap<PathBuf, Seen> = [("e", seen(false)), ("f", seen(true)), ("i/.git/modules/s", seen(false))]
            .into_iter()
            .map(|(p, s)| (PathBuf::from(p), s))
            .collect();
        assert_eq!(m.bare, want);
        for (p, changed) in
            [(".git", true), ("a", true), ("e/config", true), ("g", true), ("d", false), ("h/refs", true)]
        {
            assert_eq!(m.changed.touches(Path::new(p)), changed, "{p}");
        }
        // None exists now: nothing to judge.
        assert!(MadeRepos { unwalked: None, ..m }.judge(&Unlocked::default()).is_empty());
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        m.unwalked("after the task: more than 500000 entries");
        let v = m.judge(&Unlocked::default());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].violation.rule, Rule::FsProtected);
        assert!(MadeRepos::off().judge(&Unlocked::default()).is_empty());
        let mut off = MadeRepos::off();
        off.watched(b"x/.git", Watched::Added);
        assert!(off.repos.is_empty());
    }

    #[test]
    fn a_marker_added_or_changed_later_counts_as_making_the_git_directory() {
        let d = tempfile::tempdir().unwrap();
        // `src/` and `n/.git` hold every marker now; the diff shows only the
        // one the later task added or changed (review 79, F1).
        for dir in ["src", "obj", "mode", "kept", "n/.git", "m/.git", "b/.git/modules/x"] {
            for m in ["objects", "refs"] {
                std::fs::create_dir_all(d.path().join(dir).join(m)).unwrap();
            }
            std::fs::write(d.path().join(dir).join("HEAD"), "ref: refs/heads/main\n").unwrap();
        }
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        for (p, how) in [
            (&b"src/HEAD"[..], Watched::Kept),
            (b"src/refs", Watched::Added),
            (b"obj/HEAD", Watched::Kept),
            (b"obj/objects", Watched::Added),
            (b"mode/HEAD", Watched::Kept),
            (b"mode/objects", Watched::Modified),
            (b"kept/HEAD", Watched::Modified),
            (b"n/.git", Watched::Kept),
            (b"n/.git/refs", Watched::Added),
            (b"m/.git", Watched::Kept),
            (b"m/.git/HEAD", Watched::Modified),
            (b"b/.git", Watched::Kept),
            (b"b/.git/modules/x/refs", Watched::Added),
        ] {
            m.watched(p, how);
        }
        let seen = |made| Seen { made, in_runs: false };
        let want: BTreeMap<PathBuf, Seen> = [("b", seen(false)), ("m", seen(false)), ("n", seen(true))]
            .into_iter()
            .map(|(p, s)| (PathBuf::from(p), s))
            .collect();
        assert_eq!(m.repos, want, "a `HEAD` a checkout rewrites makes no repository");
        let want: BTreeMap<PathBuf, Seen> = [
            ("b/.git/modules/x", seen(true)),
            ("kept", seen(false)),
            ("mode", seen(true)),
            ("obj", seen(true)),
            ("src", seen(true)),
        ]
        .into_iter()
        .map(|(p, s)| (PathBuf::from(p), s))
        .collect();
        assert_eq!(m.bare, want);
    }

    #[test]
    fn a_git_pointer_that_leads_somewhere_only_after_the_judging_put_aside_is_disarmed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x")).unwrap();
        std::fs::write(d.path().join("x/.git"), "gitdir: ../lib/.git.removed-by-orchestra-7\n").unwrap();
        let mut m = MadeRepos::new(d.path().to_path_buf(), std::time::SystemTime::now());
        m.watched(b"x/.git", Watched::Added);
        assert!(m.repos.is_empty(), "it leads nowhere while the diff shows it");
        // What the judging would put aside under that name, armed.
        let g = d.path().join("lib/.git.removed-by-orchestra-7");
        for dir in ["objects", "refs", "hooks"] {
            std::fs::create_dir_all(g.join(dir)).unwrap();
        }
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let v = m.judge(&Unlocked::default());
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].violation.rule, Rule::FsProtected);
        assert!(!d.path().join("x/.git").exists(), "the pointer is removed");
    }

    #[test]
    fn judged_places_are_said_to_be_made_or_to_have_been_there() {
        assert!(judged_as(false, true, true).contains("was there before the task"));
        assert_eq!(judged_as(false, true, false), "a repository made during the task");
        assert!(judged_as(false, false, true).contains("code changed"));
        assert!(judged_as(true, true, true).contains("there before the task"));
        assert!(judged_as(true, true, false).contains("made a git directory"));
    }

    #[test]
    fn put_aside_names_end_unguessably() {
        let (a, b) = (super::super::beneath::aside_suffix(), super::super::beneath::aside_suffix());
        assert_ne!(a, b);
        let pid = std::process::id();
        for s in [&a, &b] {
            let tail = s.strip_prefix(&format!(".removed-by-orchestra-{pid}-")).unwrap();
            assert!(tail.len() == 16 && tail.bytes().all(|c| c.is_ascii_hexdigit()), "{s}");
        }
    }
}
