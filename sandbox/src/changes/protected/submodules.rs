//! Submodules: the host's `git status` recurses into every gitlink of the
//! root repository's index and runs there with that submodule's own git
//! directory, its `config` (`core.fsmonitor`, …) and hooks. A task could
//! register a repository it made as a gitlink (`.git/index` is written by
//! every `git add`, so it is not protected), or point an existing
//! submodule's `<path>/.git` elsewhere. So, while the root's `.git/config`
//! is protected (a policy that gives it up accepts config writes, and with
//! them `git submodule update --init`, which needs it):
//!
//! - the places git goes from the root are surveyed: the gitlinks of the
//!   root's index and of the shared index it links (`--split-index`), then,
//!   recursively, those of each submodule's own index, and the linked
//!   worktrees inside the workspace (`.git/worktrees/*/gitdir`);
//! - before the task, each such place's `<path>/.git` is fingerprinted: its
//!   kind, a pointer's bytes, and what makes code run in the git directory
//!   it reaches (and its `commondir`'s): `config`, `config.worktree`,
//!   `commondir`, the files its config includes, the hooks' names and
//!   contents, and those of a `core.hooksPath` (relative: from the
//!   submodule's own work tree);
//! - after it, every place of either survey is fingerprinted again; one that
//!   differs (made, redirected, its config or hooks changed) is
//!   `fs.protected`, and its `<path>/.git` is removed when the task made it,
//!   else renamed aside (a submodule left unpopulated runs nothing);
//! - an index the task changed that cannot be read as git reads it (not a
//!   regular file, past the bounds, an unknown version, truncated, a shared
//!   index missing) is `fs.protected` and put aside: git then recurses into
//!   nothing there. Unreadable and unchanged (the user's own) is left alone;
//! - a git directory or link the task made below `.git/modules` (where
//!   `git submodule update` takes a submodule's repository from) is
//!   `fs.protected` and removed.
//!
//! Benign work is not flagged: a repository in a subdirectory that no
//! gitlink names (a `pip install -e git+…` clone, a test fixture), and
//! submodules the task does not touch.

use super::beneath::{Fate, remove_beneath};
use super::{Planted, gitdir_pointer, read_small};
use crate::Violation;
use crate::rule::Rule;
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// The index is read up to this size.
const MAX_INDEX: u64 = 256 << 20;
/// At most this many places are judged; more is judged as unreadable.
const MAX_LINKS: usize = 10_000;
/// Submodules of submodules are followed this deep.
const MAX_DEPTH: usize = 8;
/// Each file of a fingerprint is read up to this size.
const MAX_FILE: u64 = 1 << 20;
/// At most this many hooks per hooks directory.
const MAX_HOOKS: usize = 256;
/// At most this many entries of `.git/modules` are surveyed.
const MAX_MODULE_ENTRIES: usize = 20_000;

/// Why an index is not one git reads as this reader does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unreadable(String);

/// The gitlinks (submodule paths) of the index at `index`, relative to its
/// work tree; `oid_len` is 20 (SHA-1) or 32 (SHA-256). Empty when there is
/// no index; the gitlinks of the shared index a `link` extension names are
/// included (all of them: a superset of what git sees).
pub(super) fn gitlinks(index: &Path, oid_len: usize) -> Result<BTreeSet<PathBuf>, Unreadable> {
    read_index(index, oid_len, true)
}

fn read_index(index: &Path, oid_len: usize, may_link: bool) -> Result<BTreeSet<PathBuf>, Unreadable> {
    let bad = |why: &str| Err(Unreadable(why.to_string()));
    let mut out = BTreeSet::new();
    match std::fs::symlink_metadata(index) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(out);
        }
        Err(e) => return Err(Unreadable(e.to_string())),
        Ok(m) if !m.is_file() => return bad("not a regular file"),
        Ok(m) if m.len() > MAX_INDEX => return bad("larger than 256 MiB"),
        Ok(_) => {}
    }
    let Some(data) = read_small(index, MAX_INDEX) else { return bad("cannot be read") };
    let (Some(b"DIRC"), Some(version), Some(count)) = (data.get(0..4), be32(&data, 4), be32(&data, 8)) else {
        return bad("no index header");
    };
    if !(2..=4).contains(&version) {
        return bad("an index version git 2 does not write");
    }
    let mut at = 12usize;
    let mut prev: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let Some(mode) = be32(&data, start + 24) else { return bad("truncated") };
        let flags_at = start + 40 + oid_len;
        let Some(flags) = data.get(flags_at..flags_at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return bad("truncated");
        };
        let mut name_at = flags_at + 2;
        if version >= 3 && flags & 0x4000 != 0 {
            name_at += 2;
        }
        let path: Vec<u8>;
        if version == 4 {
            let Some((strip, used)) = varint(data.get(name_at..).unwrap_or_default()) else { return bad("truncated") };
            let Some(keep) = prev.len().checked_sub(strip) else { return bad("a bad path prefix") };
            let rest = data.get(name_at + used..).unwrap_or_default();
            let Some(end) = rest.iter().position(|b| *b == 0) else { return bad("truncated") };
            path = [prev.get(..keep).unwrap_or_default(), rest.get(..end).unwrap_or_default()].concat();
            at = name_at + used + end + 1;
        } else {
            let rest = data.get(name_at..).unwrap_or_default();
            let Some(end) = rest.iter().position(|b| *b == 0) else { return bad("truncated") };
            path = rest.get(..end).unwrap_or_default().to_vec();
            // Padded with 1 to 8 NULs to a multiple of 8 from the entry's start.
            at = start + ((name_at - start + end + 8) & !7);
        }
        if mode & 0o170000 == 0o160000 {
            // A path git would not check out is a path it recurses into nowhere.
            if let Some(p) = safe_relative(&path) {
                out.insert(p);
            }
            if out.len() > MAX_LINKS {
                return bad("more than 10,000 gitlinks");
            }
        }
        prev = path;
    }
    // Extensions up to the trailing checksum: a signature, a size, the data.
    let Some(end) = data.len().checked_sub(oid_len) else { return bad("truncated") };
    while at < end {
        let (Some(sig), Some(size)) = (data.get(at..at + 4), be32(&data, at + 4)) else {
            return bad("a truncated extension");
        };
        let next = at + 8 + size as usize;
        if next > end {
            return bad("a truncated extension");
        }
        if sig == b"link" {
            if !may_link {
                return bad("a shared index that links another");
            }
            let Some(oid) = data.get(at + 8..at + 8 + oid_len) else { return bad("a truncated link") };
            let hex: String = oid.iter().map(|b| format!("{b:02x}")).collect();
            let shared = index.with_file_name(format!("sharedindex.{hex}"));
            if std::fs::symlink_metadata(&shared).is_err() {
                return bad("its shared index is missing");
            }
            out.extend(read_index(&shared, oid_len, false)?);
            if out.len() > MAX_LINKS {
                return bad("more than 10,000 gitlinks");
            }
        }
        at = next;
    }
    Ok(out)
}

/// A big-endian u32 at `at`.
fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Git's offset varint (index v4): the value and the bytes used.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    let mut c = *b.first()?;
    let mut val = usize::from(c & 127);
    while c & 128 != 0 {
        i += 1;
        c = *b.get(i)?;
        val = val.checked_add(1)?.checked_mul(128)?.checked_add(usize::from(c & 127))?;
    }
    Some((val, i + 1))
}

/// `p` as a relative path without `.`, `..` or empty components.
fn safe_relative(p: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let ok = !p.is_empty() && p.split(|b| *b == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..");
    ok.then(|| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
}

/// The `(section, key, value)` settings of a git config text, lower-cased
/// section and key (`include`, `path`; `includeif`, `path`; `core`,
/// `hookspath`), values unquoted. Simple: enough to find the files and
/// directories a config makes git read code from.
fn settings(text: &[u8]) -> Vec<(String, String, String)> {
    let text = String::from_utf8_lossy(text);
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix('[') {
            let name = rest.split([']', ' ', '"', '.']).next().unwrap_or_default();
            section = name.to_ascii_lowercase();
            continue;
        }
        if l.starts_with(['#', ';']) {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            out.push((section.clone(), k.trim().to_ascii_lowercase(), v.to_string()));
        }
    }
    out
}

/// The object name length of the repository whose config is `config`.
fn oid_len(config: &Path) -> usize {
    let text = read_small(config, MAX_FILE).unwrap_or_default();
    let sha256 = settings(&text)
        .iter()
        .any(|(s, k, v)| s == "extensions" && k == "objectformat" && v.eq_ignore_ascii_case("sha256"));
    if sha256 { 32 } else { 20 }
}

/// The git directory `<root>/<rel>/.git` leads to, if any.
fn gitdir_of(root: &Path, rel: &Path) -> Option<PathBuf> {
    let dot_git = root.join(rel).join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).ok()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&dot_git).ok()?;
        Some(root.join(rel).join(target))
    } else if meta.is_file() {
        gitdir_pointer(&dot_git).map(|g| root.join(rel).join(g))
    } else if meta.is_dir() {
        Some(dot_git)
    } else {
        None
    }
}

/// What decides the code git runs in the work tree `<root>/<rel>`: a digest
/// of its `.git` (kind, a pointer's bytes) and of the git directory it
/// reaches and that one's `commondir` (see [`code_of`]). `None`: there is no
/// `<path>/.git`.
fn fingerprint(root: &Path, rel: &Path) -> Option<[u8; 32]> {
    let dot_git = root.join(rel).join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).ok()?;
    let mut h = sha2::Sha256::new();
    if meta.file_type().is_symlink() {
        h.update(b"link\0");
        h.update(std::fs::read_link(&dot_git).map(|t| t.into_os_string().into_encoded_bytes()).unwrap_or_default());
    } else if meta.is_file() {
        h.update(b"file\0");
        h.update(read_small(&dot_git, 64 * 1024).unwrap_or_default());
    } else if meta.is_dir() {
        h.update(b"dir\0");
    } else {
        h.update(b"other\0");
    }
    let worktree = root.join(rel);
    if let Some(gd) = gitdir_of(root, rel) {
        code_of(&gd, &worktree, &mut h);
        if let Some(common) = read_small(&gd.join("commondir"), 64 * 1024) {
            use std::os::unix::ffi::OsStrExt as _;
            let c = std::ffi::OsStr::from_bytes(common.trim_ascii_end());
            code_of(&gd.join(c), &worktree, &mut h);
        }
    }
    Some(h.finalize().into())
}

/// Feed into `h` what makes code run in git directory `gd` with work tree
/// `worktree`: its `config`, `config.worktree`, `commondir`, the files
/// their `include.path`s name, its hooks, and a `core.hooksPath`'s.
fn code_of(gd: &Path, worktree: &Path, h: &mut sha2::Sha256) {
    let mut configs = Vec::new();
    for f in ["config", "config.worktree", "commondir"] {
        h.update(f.as_bytes());
        match read_small(&gd.join(f), MAX_FILE) {
            Some(b) => {
                h.update((b.len() as u64).to_le_bytes());
                h.update(&b);
                if f != "commondir" {
                    configs.push(b);
                }
            }
            None => h.update(b"-"),
        }
    }
    let mut hook_dirs = vec![gd.join("hooks")];
    for (section, key, value) in configs.iter().flat_map(|c| settings(c)) {
        let value = PathBuf::from(value);
        if (section == "include" || section == "includeif") && key == "path" {
            h.update(b"include\0");
            h.update(read_small(&gd.join(&value), MAX_FILE).unwrap_or_default());
        } else if section == "core" && key == "hookspath" {
            hook_dirs.push(worktree.join(value));
        }
    }
    for hooks in hook_dirs {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&hooks)
            .map(|rd| rd.flatten().map(|e| e.file_name()).take(MAX_HOOKS).collect())
            .unwrap_or_default();
        names.sort();
        h.update(b"hooks\0");
        for n in names {
            let p = hooks.join(&n);
            h.update(n.as_encoded_bytes());
            h.update([0]);
            let mode = std::fs::symlink_metadata(&p).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
            h.update(mode.unwrap_or(0).to_le_bytes());
            h.update(read_small(&p, MAX_FILE).unwrap_or_default());
        }
    }
}

/// What tells a file changed: kind, identity, size, times.
type Ident = Option<(u32, u64, u64, u64, i64, i64, i64, i64)>;

fn ident(path: &Path) -> Ident {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.mode(), m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
}

/// Where the host's git goes from the root (see the module doc).
#[derive(Debug, Default)]
struct Survey {
    /// Work trees (workspace-relative) whose `.git` git uses: gitlinks.
    places: BTreeSet<PathBuf>,
    /// ... and linked work trees (judged only when they existed at the
    /// start: one the task adds is a repository it made, which no gitlink
    /// names).
    worktrees: BTreeSet<PathBuf>,
    /// Each index read, its identity, and why it could not be read.
    indexes: BTreeMap<PathBuf, (Ident, Option<Unreadable>)>,
}

fn survey(root: &Path) -> Survey {
    let git = root.join(".git");
    let mut out = Survey::default();
    let mut queue = std::collections::VecDeque::from([(git.join("index"), PathBuf::new(), git.join("config"), 0)]);
    while let Some((index, prefix, config, depth)) = queue.pop_front() {
        let id = ident(&index);
        let links = match gitlinks(&index, oid_len(&config)) {
            Ok(l) => l,
            Err(why) => {
                out.indexes.insert(index, (id, Some(why)));
                continue;
            }
        };
        out.indexes.insert(index.clone(), (id, None));
        for l in links {
            let rel = prefix.join(l);
            if out.places.len() >= MAX_LINKS {
                out.indexes
                    .insert(index.clone(), (ident(&index), Some(Unreadable("more than 10,000 gitlinks".into()))));
                return out;
            }
            if !out.places.insert(rel.clone()) || depth >= MAX_DEPTH {
                continue;
            }
            if let Some(gd) = gitdir_of(root, &rel)
                && !out.indexes.contains_key(&gd.join("index"))
            {
                let config = gd.join("config");
                queue.push_back((gd.join("index"), rel, config, depth + 1));
            }
        }
    }
    // Linked worktrees inside the workspace.
    if let Ok(rd) = std::fs::read_dir(git.join("worktrees")) {
        for e in rd.flatten().take(1000) {
            let Some(text) = read_small(&e.path().join("gitdir"), 64 * 1024) else { continue };
            use std::os::unix::ffi::OsStrExt as _;
            let pointer = e.path().join(std::ffi::OsStr::from_bytes(text.trim_ascii_end()));
            let Some(wt) = pointer.parent() else { continue };
            if let Ok(rel) = wt.strip_prefix(root)
                && !rel.as_os_str().is_empty()
                && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                out.worktrees.insert(rel.to_path_buf());
            }
        }
    }
    out
}

/// The directories and links below `.git/modules` (relative to it), and
/// whether there were more than [`MAX_MODULE_ENTRIES`].
fn module_entries(root: &Path) -> (BTreeSet<PathBuf>, bool) {
    let base = root.join(".git/modules");
    let mut out = BTreeSet::new();
    let mut stack = vec![(PathBuf::new(), 0usize)];
    while let Some((rel, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(base.join(&rel)) else { continue };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if !(t.is_dir() || t.is_symlink()) {
                continue;
            }
            let r = rel.join(e.file_name());
            if out.len() >= MAX_MODULE_ENTRIES {
                return (out, true);
            }
            out.insert(r.clone());
            // `objects` holds most of a module's entries and no git directory.
            if t.is_dir() && depth < 4 * MAX_DEPTH && e.file_name() != "objects" {
                stack.push((r, depth + 1));
            }
        }
    }
    (out, false)
}

/// The submodules of a workspace at the start.
#[derive(Debug, Default)]
pub(super) struct Submodules {
    /// Whether this judges anything (the root's `.git/config` protected).
    active: bool,
    /// There was no `.git` directory at the start (nothing was surveyed):
    /// every place found after is unknown, put aside rather than removed.
    unsurveyed: bool,
    /// Where git went, and each place's fingerprint.
    before: BTreeMap<PathBuf, Option<[u8; 32]>>,
    /// The indexes read then.
    indexes: BTreeMap<PathBuf, (Ident, Option<Unreadable>)>,
    /// The entries below `.git/modules` then.
    modules: BTreeSet<PathBuf>,
}

impl Submodules {
    /// The submodules of `root` as they are now; `config_protected`: the
    /// root's `.git/config` is a protected path of the task.
    pub(super) fn before(root: &Path, config_protected: bool) -> Submodules {
        let git = root.join(".git");
        if !config_protected {
            return Submodules::default();
        }
        if !std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir()) {
            // A repository the task makes here (review 61, F6: `HEAD`,
            // `objects`, `refs` and an index, no config) is surveyed after.
            return Submodules { active: true, unsurveyed: true, ..Submodules::default() };
        }
        let s = survey(root);
        let before = s.places.into_iter().chain(s.worktrees).map(|p| (p.clone(), fingerprint(root, &p))).collect();
        Submodules { active: true, unsurveyed: false, before, indexes: s.indexes, modules: module_entries(root).0 }
    }

    /// Judge them again (see the module doc).
    pub(super) fn after(&self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        if !self.active {
            return out;
        }
        let s = survey(root);
        for (index, (id, why)) in &s.indexes {
            let Some(why) = why else { continue };
            if self.indexes.get(index).is_some_and(|(then, _)| then == id) {
                continue;
            }
            let fate = match (root_fd, index.strip_prefix(root)) {
                (Some(fd), Ok(rel)) => super::beneath::aside(fd, rel),
                (Some(_), Err(_)) => Fate::Kept("outside the workspace".to_string()),
                (None, _) => super::beneath::unopened(root),
            };
            let undone = false;
            let end = match fate {
                Fate::Aside(to) => format!("; put aside as {} (git reads no gitlinks there)", root.join(to).display()),
                other => other.words(root, index),
            };
            let detail = format!(
                "{}, an index the host's `git status` reads its submodules from, changed during the task into one that cannot be judged ({}){end}",
                index.display(),
                why.0
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        let mut places = s.places;
        places.extend(self.before.keys().cloned());
        for rel in places {
            let now = fingerprint(root, &rel);
            let then = self.before.get(&rel).copied().flatten();
            if now.is_none() || now == then {
                continue;
            }
            let dot_git = rel.join(".git");
            let fate = match (root_fd, then.is_none() && !self.unsurveyed) {
                // The task made it: removed.
                (Some(fd), true) => remove_beneath(fd, &dot_git),
                // It was there: put aside (the submodule is left unpopulated).
                (Some(fd), false) => super::beneath::aside(fd, &dot_git),
                (None, _) => super::beneath::unopened(root),
            };
            let undone = fate == Fate::Removed;
            let how = if self.unsurveyed {
                "is named by a gitlink of a repository made"
            } else if then.is_none() {
                "was made"
            } else {
                "was changed (redirected, or its config or hooks)"
            };
            let shown = root.join(&dot_git);
            let end = match fate {
                Fate::Aside(to) => format!(
                    "; put aside as {} (the submodule is left unpopulated: check it, then `git submodule update`)",
                    root.join(to).display()
                ),
                other => other.words(root, &shown),
            };
            let detail = format!(
                "{}, the git directory of {} (a submodule or linked work tree, where the host's `git status` runs), {how} during the task{end}",
                shown.display(),
                rel.display(),
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        out.extend(self.new_modules(root, root_fd));
        out
    }

    /// Git directories and links the task made below `.git/modules`.
    fn new_modules(&self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let base = root.join(".git/modules");
        let (now, more) = module_entries(root);
        let mut removed: Vec<PathBuf> = Vec::new();
        let mut out = Vec::new();
        for rel in now.difference(&self.modules) {
            if removed.iter().any(|r| rel.starts_with(r)) {
                continue;
            }
            let abs = base.join(rel);
            let is_link = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link && std::fs::symlink_metadata(abs.join("HEAD")).is_err() {
                continue;
            }
            let fate = match root_fd {
                Some(fd) => remove_beneath(fd, &Path::new(".git/modules").join(rel)),
                None => super::beneath::unopened(root),
            };
            let undone = fate == Fate::Removed;
            if undone {
                removed.push(rel.clone());
            }
            let detail = format!(
                "{}, a {} below .git/modules (where `git submodule update` takes a submodule's repository from, hooks and config included), was made during the task{}",
                abs.display(),
                if is_link { "link" } else { "git directory" },
                fate.words(root, &abs)
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        if more && self.modules.len() < MAX_MODULE_ENTRIES {
            let detail = format!(
                "{} grew past {MAX_MODULE_ENTRIES} directories during the task: what git may take a submodule's repository from there cannot be judged",
                base.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let o = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git is required");
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn gitlinks_are_read_from_index_versions_2_3_and_4() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        git(w, &["init", "-q", "."]);
        for f in ["a.txt", "deep/dir/b.txt", "deep/dir/c.txt"] {
            std::fs::create_dir_all(w.join(f).parent().unwrap()).unwrap();
            std::fs::write(w.join(f), f).unwrap();
        }
        git(w, &["add", "."]);
        let oid = "0123456789abcdef0123456789abcdef01234567";
        for p in ["deep/dir/sub", "deep/dir/sub2", "z"] {
            git(w, &["update-index", "--add", "--cacheinfo", &format!("160000,{oid},{p}")]);
        }
        // An entry with the extended flag (intent-to-add) makes index v3.
        std::fs::write(w.join("later.txt"), "x").unwrap();
        git(w, &["add", "-N", "later.txt"]);
        let want: BTreeSet<PathBuf> = ["deep/dir/sub", "deep/dir/sub2", "z"].iter().map(PathBuf::from).collect();
        for v in ["3", "4", "2"] {
            if v == "2" {
                git(w, &["rm", "-q", "--cached", "later.txt"]);
            }
            git(w, &["update-index", "--index-version", v]);
            assert_eq!(gitlinks(&w.join(".git/index"), 20), Ok(want.clone()), "index version {v}");
        }
        // Split (review 61, F1): the entries live in `.git/sharedindex.*`.
        git(w, &["update-index", "--split-index"]);
        git(w, &["update-index", "--add", "--cacheinfo", &format!("160000,{oid},late")]);
        let mut with_late = want.clone();
        with_late.insert(PathBuf::from("late"));
        assert_eq!(gitlinks(&w.join(".git/index"), 20), Ok(with_late));
        // With the untracked cache and other extensions git writes.
        git(w, &["update-index", "--no-split-index", "--untracked-cache"]);
        git(w, &["status", "--short"]);
        assert_eq!(gitlinks(&w.join(".git/index"), 20).map(|l| l.len()), Ok(4));
        // No index: none. Not an index git reads, a link (F4): unreadable.
        assert_eq!(gitlinks(&w.join("none"), 20), Ok(BTreeSet::new()));
        std::fs::write(w.join("junk"), b"DIRC\0\0\0\x04\0\0\0\x09garbage").unwrap();
        assert!(gitlinks(&w.join("junk"), 20).is_err());
        std::os::unix::fs::symlink(".git/index", w.join("linked")).unwrap();
        assert!(gitlinks(&w.join("linked"), 20).is_err());
        assert!(
            safe_relative(b"../x").is_none() && safe_relative(b"a//b").is_none() && safe_relative(b"a/b").is_some()
        );
    }
}
