//! What decides the code git runs for a git directory, as paths of the
//! workspace, and whether the workspace diff saw any of them change
//! (review 71: times can be kept old by renames and hard links, so the
//! judgement rests on the diff's before-and-after listing instead).
//!
//! - [`Changed`] holds every path the diff found added, modified or
//!   deleted, in walk order, and answers "did anything at or below this
//!   path change" with one binary search.
//! - [`resolve`] follows a path through the workspace one component at a
//!   time, as the kernel does, noting each symbolic link it passes: a
//!   link retargeted during the task is a change of the link's own path.
//! - [`code_paths`] lists, for a git directory, its `config`,
//!   `config.worktree`, `commondir`, the files their `include.path`s name
//!   (and what those include, read as the host's are: review 78, F4),
//!   its `hooks` and a `core.hooksPath`'s directory (everything below
//!   them), a command's program and its words in the workspace (a
//!   word where it is no directory: review 79, F5), what the host's own git
//!   configuration makes code in the work tree ([`super::hostconfig`]),
//!   the same for its `commondir`'s directory, the target of each link
//!   in a hooks directory (what git runs for that hook, review 78 F7),
//!   and every link passed on the way. Git's own writes (index, refs, objects, logs)
//!   touch none of them. A path that leads out of the workspace is
//!   returned apart: the diff cannot tell about it (its ctime is the only
//!   witness left).
//!
//! Sound as far as the diff saw: a file whose content changed has another
//! inode, size, mtime or ctime in the listing; a directory replaced by a
//! renamed one shows its entries added, deleted or with other inodes,
//! unless every entry is the very same inode (then the content is the
//! same).

use super::sequencer::TODOS;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

/// At most this many changed paths are kept; past it, everything counts as
/// changed.
const MAX_CHANGED: usize = 2_000_000;

/// Links followed in one resolution before it counts as leading nowhere
/// (the kernel's limit is 40).
const MAX_HOPS: usize = 40;

/// Entries [`Changed::by_ctime`] examines for one path, at most; past it,
/// the path counts as changed.
const MAX_CTIME_WALK: usize = 100_000;

/// The paths the workspace diff found added, modified or deleted.
#[derive(Debug, Default)]
pub(super) struct Changed {
    /// In walk order (`walk::path_cmp`).
    paths: Vec<Vec<u8>>,
    /// More than [`MAX_CHANGED`]: everything counts as changed.
    over: bool,
    /// No diff (the walk before the task crossed its bounds): a path counts
    /// as changed by its ctimes instead ([`Changed::by_ctime`]).
    by_ctime: Option<(PathBuf, std::time::SystemTime)>,
}

impl Changed {
    /// Changes told by ctimes, where there is no diff (review 78, F3): a
    /// path of the workspace `root` changed when it, or anything below it
    /// (no link followed), has a ctime not older than `since`, or when what
    /// is below cannot be listed in full ([`MAX_CTIME_WALK`]). A ctime is
    /// set by the kernel on every write, `chmod`, `link` and `rename` of
    /// the inode, and no call sets it back; what times cannot show is a
    /// directory renamed into place whose entries all kept their inodes:
    /// the judge checks the `.git` entry's own ctime for that.
    pub(super) fn by_ctime(root: PathBuf, since: std::time::SystemTime) -> Changed {
        Changed { by_ctime: Some((root, since)), ..Changed::default() }
    }

    /// Note `path` (relative); calls come in walk order.
    pub(super) fn push(&mut self, path: &[u8]) {
        if self.paths.len() >= MAX_CHANGED {
            self.over = true;
            self.paths = Vec::new();
        } else if !self.over {
            self.paths.push(path.to_vec());
        }
    }

    /// Whether `rel` or anything below it changed.
    pub(super) fn touches(&self, rel: &Path) -> bool {
        if let Some((root, since)) = &self.by_ctime {
            return ctime_touched(&root.join(rel), *since);
        }
        if self.over {
            return true;
        }
        let rel = rel.as_os_str().as_bytes();
        // Walk order puts a path's descendants right after it.
        let i = self.paths.partition_point(|p| crate::changes::walk::path_cmp(p, rel) == std::cmp::Ordering::Less);
        self.paths.get(i).is_some_and(|p| p == rel || (p.starts_with(rel) && p.get(rel.len()) == Some(&b'/')))
    }
}

/// Where a path of the workspace leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// To this path, relative to the root, through no link.
    Inside(PathBuf),
    /// Out of the workspace (or through too many links): this absolute path.
    Outside(PathBuf),
}

/// Follow `target` from the directory `from` (relative to `root`, itself
/// reached through no link) one component at a time, as the kernel does
/// (a `..` that climbs above the root and comes back in stays inside:
/// review 72, F3), pushing onto `links` the relative path of each link
/// inside the workspace that it passes.
pub(crate) fn resolve(root: &Path, from: &Path, target: &Path, links: &mut Vec<PathBuf>) -> Resolved {
    // Git writes absolute `gitdir:` paths as real paths; the walk goes by
    // the real root too.
    let real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let inside = |p: &Path| p.strip_prefix(&real).ok().map(Path::to_path_buf);
    let mut cur = real.join(from);
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    // Queue `t`'s components (onto a stack, so reversed); an absolute `t`
    // starts again at `/` (at the real root when it names the root as given).
    let queue = |t: &Path, cur: &mut PathBuf, todo: &mut Vec<std::ffi::OsString>| {
        let t = match t.strip_prefix(root) {
            Ok(r) if t.is_absolute() => real.join(r),
            _ => t.to_path_buf(),
        };
        if t.is_absolute() {
            *cur = PathBuf::from("/");
        }
        let parts: Vec<std::ffi::OsString> = t
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect();
        todo.extend(parts.into_iter().rev());
    };
    queue(target, &mut cur, &mut todo);
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if let Some(rel) = inside(&next) {
                    links.push(rel);
                }
                let Ok(t) = std::fs::read_link(&next) else { return Resolved::Outside(next) };
                if hops > MAX_HOPS {
                    return Resolved::Outside(next);
                }
                queue(&t, &mut cur, &mut todo);
            }
            _ => cur = next,
        }
    }
    match inside(&cur) {
        Some(rel) => Resolved::Inside(rel),
        None => Resolved::Outside(cur),
    }
}

/// The paths that decide the code git runs for the git directory `gd`
/// (resolved, relative to `root`) used with the work tree `worktree`
/// (relative; `None`: bare), and the links passed to reach them.
#[derive(Debug, Default)]
pub(super) struct CodePaths {
    /// Paths in the workspace (at or below each: code).
    pub inside: Vec<PathBuf>,
    /// Paths out of it (absolute).
    pub outside: Vec<PathBuf>,
    /// The git directories reached (`gd` and its `commondir`'s), where
    /// their todos are looked for.
    pub git_dirs: Vec<Resolved>,
}

impl CodePaths {
    /// Note where `r` led.
    fn note(&mut self, r: Resolved) {
        match r {
            Resolved::Inside(p) => self.inside.push(p),
            Resolved::Outside(p) => self.outside.push(p),
        }
    }

    /// Whether any of them changed: by the diff `changed` inside the
    /// workspace; by a ctime not older than `since` outside it (or one
    /// that cannot be read).
    pub(super) fn changed(&self, changed: &Changed, since: std::time::SystemTime) -> bool {
        self.inside.iter().any(|p| changed.touches(p) || unseen(p))
            || self.outside.iter().any(|p| match std::fs::symlink_metadata(p) {
                Ok(m) => ctime(&m) >= since,
                Err(e) => e.kind() != std::io::ErrorKind::NotFound,
            })
    }
}

/// Whether `path` or anything below it (no link followed, at most
/// [`MAX_CTIME_WALK`] entries) has a ctime not older than `since`; one that
/// cannot be examined or listed counts as changed, one that is not there
/// does not.
fn ctime_touched(path: &Path, since: std::time::SystemTime) -> bool {
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
    };
    if ctime(&m) >= since {
        return true;
    }
    if !m.is_dir() {
        return false;
    }
    let (mut stack, mut seen) = (vec![path.to_path_buf()], 0usize);
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { return true };
        for e in rd {
            seen += 1;
            let Ok(e) = e else { return true };
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { return true };
            if seen > MAX_CTIME_WALK || ctime(&m) >= since {
                return true;
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    false
}

/// A file's ctime as a time.
pub(super) fn ctime(m: &std::fs::Metadata) -> std::time::SystemTime {
    use std::os::unix::fs::MetadataExt as _;
    let secs = u64::try_from(m.ctime()).unwrap_or(0);
    let nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
}

/// What decides the code of git directory `gd` (reached as `gd` from the
/// root), with work tree `worktree` (both relative; see [`CodePaths`]).
pub(super) fn code_paths(root: &Path, gd: &Resolved, worktree: Option<&Path>) -> CodePaths {
    let mut out = CodePaths::default();
    let mut links = Vec::new();
    let mut dirs = vec![gd.clone()];
    let mut hooks = Vec::new();
    if let Some(common) = commondir_of(root, gd, &mut links) {
        dirs.push(common);
    }
    for g in &dirs {
        match g {
            Resolved::Inside(g) => {
                for f in ["config", "config.worktree", "commondir", "hooks"] {
                    let r = resolve(root, g, Path::new(f), &mut links);
                    if let (true, Resolved::Inside(h)) = (f == "hooks", &r) {
                        hooks.push(h.clone());
                    }
                    out.note(r);
                }
                // Its configs and the files they include (review 78, F4: one
                // reading of includes, the host's), each included file
                // reached as git names it, from the including file.
                let starts = [root.join(g).join("config"), root.join(g).join("config.worktree")];
                let read = super::hostconfig::read_with_includes(&starts);
                for f in &read.included {
                    out.note(resolve(root, Path::new(""), f, &mut links));
                }
                for (section, key, value) in read.configs.iter().flat_map(|c| c.settings.iter()) {
                    // A hooks directory or a program (and its words), from
                    // the work tree (review 76, F2: programs too); a program
                    // out of the workspace is the host's own.
                    let top = root.join(worktree.unwrap_or(g));
                    for n in super::hostconfig::with_mains(super::hostconfig::program_paths(section, key, value), &top)
                    {
                        let r = resolve(root, worktree.unwrap_or(g), &n.path, &mut links);
                        if let (true, Resolved::Inside(h)) = (key == "hookspath", &r) {
                            hooks.push(h.clone());
                        }
                        let code = match &r {
                            Resolved::Inside(p) => n.is_code_at(&root.join(p)),
                            Resolved::Outside(_) => key == "hookspath",
                        };
                        if code {
                            out.note(r);
                        }
                    }
                }
            }
            Resolved::Outside(g) => {
                for f in ["config", "config.worktree", "commondir", "hooks"] {
                    out.outside.push(g.join(f));
                }
            }
        }
    }
    // What a hook that is a link runs: its target (review 78, F7).
    for h in &hooks {
        for t in hook_targets(root, h, &mut links) {
            out.inside.push(t);
        }
    }
    // What the host's own git configuration makes code in any work tree,
    // found in this one.
    if let Some(w) = worktree {
        let host = super::hostconfig::with_mains(super::hostconfig::host().paths.clone(), &root.join(w));
        for n in host.iter().filter(|n| n.path.is_relative()) {
            let r = resolve(root, w, &n.path, &mut links);
            if let Resolved::Inside(p) = &r
                && !n.is_code_at(&root.join(p))
            {
                continue;
            }
            out.note(r);
        }
    }
    out.inside.extend(links);
    out.git_dirs = dirs;
    out
}

/// Links read in one hooks directory, at most (as the root's).
const MAX_HOOK_LINKS: usize = 1000;

/// Where each link in the hooks directory `hooks` (relative, reached
/// through no link) leads inside the workspace, resolved as the kernel
/// does when git runs the hook (chains of links too; each link passed is
/// pushed onto `links`): the file git runs (review 78, F7). A target out
/// of the workspace is the host's own.
fn hook_targets(root: &Path, hooks: &Path, links: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(hooks)) else { return Vec::new() };
    entries
        .flatten()
        .take(MAX_HOOK_LINKS)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .filter_map(|e| match resolve(root, hooks, Path::new(&e.file_name()), links) {
            Resolved::Inside(p) => Some(p),
            Resolved::Outside(_) => None,
        })
        .collect()
}

/// The directory `gd`'s `commondir` names, if it has one.
fn commondir_of(root: &Path, gd: &Resolved, links: &mut Vec<PathBuf>) -> Option<Resolved> {
    match gd {
        Resolved::Inside(g) => {
            let text = super::read_small(&root.join(g).join("commondir"), 64 * 1024)?;
            let target = std::ffi::OsStr::from_bytes(text.trim_ascii_end());
            Some(resolve(root, g, Path::new(target), links))
        }
        Resolved::Outside(g) => {
            let text = super::read_small(&g.join("commondir"), 64 * 1024)?;
            Some(Resolved::Outside(g.join(std::ffi::OsStr::from_bytes(text.trim_ascii_end()))))
        }
    }
}

/// The git directory of the work tree `<root>/<rel>` by its `.git` (a
/// directory, a link, or a `gitdir:` file), and the links passed.
pub(super) fn git_dir_of(root: &Path, rel: &Path, links: &mut Vec<PathBuf>) -> Option<Resolved> {
    let dot_git = rel.join(".git");
    let meta = std::fs::symlink_metadata(root.join(&dot_git)).ok()?;
    if meta.is_file() {
        let target = super::gitdir_pointer(&root.join(&dot_git))?;
        Some(resolve(root, rel, &target, links))
    } else {
        Some(resolve(root, rel, Path::new(".git"), links))
    }
}

/// The todos below the git directories of `paths` that run commands
/// ([`super::sequencer::Todo`]) and whose state changed during the task
/// (by the diff inside the workspace, the todo's path resolved with every
/// link on the way, review 73 F4; by a ctime not older than `since`
/// outside it): the state directory of each, as reached.
pub(super) fn armed_todos(
    root: &Path,
    paths: &CodePaths,
    changed: &Changed,
    since: std::time::SystemTime,
) -> Vec<Resolved> {
    let mut out = Vec::new();
    for g in &paths.git_dirs {
        for t in TODOS {
            let (file, fresh, state) = match g {
                Resolved::Inside(g) => {
                    let rel = g.join(t);
                    let mut links = Vec::new();
                    let fresh = match resolve(root, g, Path::new(t), &mut links) {
                        Resolved::Inside(p) => {
                            p.parent().is_some_and(|s| changed.touches(s) || unseen(s))
                                || links.iter().any(|l| changed.touches(l))
                        }
                        Resolved::Outside(_) => true,
                    };
                    let state = rel.parent().map(|s| Resolved::Inside(s.to_path_buf()));
                    (root.join(&rel), fresh, state)
                }
                Resolved::Outside(g) => {
                    let p = g.join(t);
                    let fresh = std::fs::symlink_metadata(&p).is_ok_and(|m| ctime(&m) >= since);
                    let state = p.parent().map(|s| Resolved::Outside(s.to_path_buf()));
                    (p, fresh, state)
                }
            };
            if fresh
                && std::fs::metadata(&file).is_ok()
                && super::sequencer::Todo::read(&file).runs_commands()
                && let Some(state) = state
            {
                out.push(state);
            }
        }
    }
    out
}

/// Whether `rel` lies where the workspace diff does not look (`runs/` at
/// the top): what changed there cannot be told, so it counts as changed
/// (review 73, F3).
pub(super) fn unseen(rel: &Path) -> bool {
    rel.components().next().is_some_and(|c| c.as_os_str() == "runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_found_at_or_below_a_path_and_nowhere_else() {
        let mut c = Changed::default();
        for p in ["a/b", "a/b/c", "a/b-c/d", "a/bc", "z"] {
            c.push(p.as_bytes());
        }
        for (p, t) in [
            ("a/b", true),
            ("a/b/c", true),
            ("a", true),
            ("a/b-c", true),
            ("a/bc", true),
            ("a/c", false),
            ("b", false),
            ("y", false),
            ("z", true),
        ] {
            assert_eq!(c.touches(Path::new(p)), t, "{p}");
        }
        let mut none = Changed::default();
        assert!(!none.touches(Path::new("a")));
        none.over = true;
        assert!(none.touches(Path::new("a")), "past the bound everything counts as changed");
    }

    #[test]
    fn without_a_diff_a_change_is_told_by_a_ctime_at_or_below_a_path() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("g/hooks/deep")).unwrap();
        std::fs::write(root.join("g/config"), "").unwrap();
        std::fs::write(root.join("g/hooks/deep/x"), "").unwrap();
        let since = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
        let c = Changed::by_ctime(root.to_path_buf(), since);
        for p in ["g/config", "g/hooks", "absent"] {
            assert!(!c.touches(Path::new(p)), "{p}");
        }
        let past = Changed::by_ctime(root.to_path_buf(), std::time::UNIX_EPOCH);
        assert!(past.touches(Path::new("g/hooks")), "a ctime not older than `since`");
        assert!(!past.touches(Path::new("absent")), "what is not there did not change");
    }

    #[test]
    fn a_path_is_resolved_through_links_as_the_kernel_does_and_each_link_is_noted() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("store/gd/hooks")).unwrap();
        std::fs::create_dir_all(root.join("t/evil")).unwrap();
        std::os::unix::fs::symlink("store", root.join("lnk")).unwrap();
        std::os::unix::fs::symlink("../../lnk/gd", root.join("t/evil/g")).unwrap();
        std::os::unix::fs::symlink(root.join("store"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        let mut links = Vec::new();
        let r = resolve(root, Path::new("t/evil"), Path::new("g/hooks"), &mut links);
        assert_eq!(r, Resolved::Inside(PathBuf::from("store/gd/hooks")));
        assert_eq!(links, [PathBuf::from("t/evil/g"), PathBuf::from("lnk")]);
        let mut links = Vec::new();
        assert_eq!(
            resolve(root, Path::new(""), Path::new("abs/gd"), &mut links),
            Resolved::Inside(PathBuf::from("store/gd"))
        );
        assert!(matches!(resolve(root, Path::new(""), Path::new("out/x"), &mut Vec::new()), Resolved::Outside(_)));
        assert!(matches!(resolve(root, Path::new("t"), Path::new("../../x"), &mut Vec::new()), Resolved::Outside(_)));
        // Above the root and back in: inside (review 72, F3).
        let name = root.canonicalize().unwrap().file_name().unwrap().to_owned();
        let back = Path::new("../../..").join(&name).join("store/gd");
        assert_eq!(
            resolve(root, Path::new("t/evil"), &back, &mut Vec::new()),
            Resolved::Inside(PathBuf::from("store/gd"))
        );
        // A root reached through a link: git's absolute paths are real ones.
        let via = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root, via.path().join("ws")).unwrap();
        let real = root.canonicalize().unwrap().join("store/gd");
        assert_eq!(
            resolve(&via.path().join("ws"), Path::new(""), &real, &mut Vec::new()),
            Resolved::Inside(PathBuf::from("store/gd"))
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(matches!(resolve(root, Path::new(""), Path::new("loop"), &mut Vec::new()), Resolved::Outside(_)));
    }
}
