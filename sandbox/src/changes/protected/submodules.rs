//! Submodules: the host's `git status` recurses into every gitlink of the
//! root repository's index and runs there with that submodule's own git
//! directory, its `config` (`core.fsmonitor`, …) and hooks. A task could
//! register a repository it made as a gitlink (`.git/index` is written by
//! every `git add`, so it is not protected), or point an existing
//! submodule's `<path>/.git` elsewhere. So, while the root's `.git/config`
//! is protected (a policy that gives it up accepts config writes, and with
//! them `git submodule update --init`, which needs it):
//!
//! - before the task, each gitlink's `<path>/.git` is fingerprinted: its
//!   kind, a pointer's bytes, and what makes code run in the git directory
//!   it reaches (and its `commondir`'s): `config`, `config.worktree`,
//!   `commondir`, the hooks' names and contents;
//! - after it, every gitlink of the index then, or before, is fingerprinted
//!   again; one that differs (made, redirected, its config or hooks changed)
//!   is `fs.protected`, and its `<path>/.git` is removed when the task made
//!   it, else renamed aside (a submodule left unpopulated runs nothing).
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

/// The index is read up to this size (a larger one is not judged).
const MAX_INDEX: u64 = 256 << 20;
/// At most this many gitlinks are judged.
const MAX_LINKS: usize = 10_000;
/// Each file of a fingerprint is read up to this size.
const MAX_FILE: u64 = 1 << 20;
/// At most this many hooks per git directory.
const MAX_HOOKS: usize = 256;

/// The gitlinks (submodule paths) of the index at `index`, relative to the
/// workspace; `oid_len` is 20 (SHA-1) or 32 (SHA-256). Empty when the file
/// is missing or not an index git reads (git then recurses into nothing).
pub(super) fn gitlinks(index: &Path, oid_len: usize) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let Some(data) = read_small(index, MAX_INDEX) else { return out };
    let (Some(b"DIRC"), Some(version), Some(count)) = (data.get(0..4), be32(&data, 4), be32(&data, 8)) else {
        return out;
    };
    if !(2..=4).contains(&version) {
        return out;
    }
    let mut at = 12usize;
    let mut prev: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let Some(mode) = be32(&data, start + 24) else { return out };
        let flags_at = start + 40 + oid_len;
        let Some(flags) = data.get(flags_at..flags_at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return out;
        };
        let mut name_at = flags_at + 2;
        if version >= 3 && flags & 0x4000 != 0 {
            name_at += 2;
        }
        let path: Vec<u8>;
        if version == 4 {
            let Some((strip, used)) = varint(data.get(name_at..).unwrap_or_default()) else { return out };
            let Some(keep) = prev.len().checked_sub(strip) else { return out };
            let rest = data.get(name_at + used..).unwrap_or_default();
            let Some(end) = rest.iter().position(|b| *b == 0) else { return out };
            path = [prev.get(..keep).unwrap_or_default(), rest.get(..end).unwrap_or_default()].concat();
            at = name_at + used + end + 1;
        } else {
            let rest = data.get(name_at..).unwrap_or_default();
            let Some(end) = rest.iter().position(|b| *b == 0) else { return out };
            path = rest.get(..end).unwrap_or_default().to_vec();
            // Padded with 1 to 8 NULs to a multiple of 8 from the entry's start.
            at = start + ((name_at - start + end + 8) & !7);
        }
        if mode & 0o170000 == 0o160000
            && let Some(p) = safe_relative(&path)
        {
            out.insert(p);
            if out.len() >= MAX_LINKS {
                return out;
            }
        }
        prev = path;
    }
    out
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

/// The object name length of the repository whose config is `config`.
fn oid_len(config: &Path) -> usize {
    let text = read_small(config, MAX_FILE).unwrap_or_default();
    let text = String::from_utf8_lossy(&text).to_ascii_lowercase();
    let sha256 = text.lines().any(|l| {
        let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        l.starts_with("objectformat=sha256")
    });
    if sha256 { 32 } else { 20 }
}

/// What decides the code git runs in a submodule: a digest of its `.git`
/// (kind, a pointer's bytes) and of the git directory it reaches and that
/// one's `commondir` (`config`, `config.worktree`, `commondir`, hooks).
/// `None`: there is no `<path>/.git`.
fn fingerprint(root: &Path, rel: &Path) -> Option<[u8; 32]> {
    let dot_git = root.join(rel).join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).ok()?;
    let mut h = sha2::Sha256::new();
    let gitdir = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&dot_git).ok();
        h.update(b"link\0");
        h.update(target.as_ref().map(|t| t.as_os_str().as_encoded_bytes()).unwrap_or_default());
        target.map(|t| dot_git.parent().map(|p| p.join(&t)).unwrap_or(t))
    } else if meta.is_file() {
        let bytes = read_small(&dot_git, 64 * 1024).unwrap_or_default();
        h.update(b"file\0");
        h.update(&bytes);
        gitdir_pointer(&dot_git).map(|g| root.join(rel).join(g))
    } else if meta.is_dir() {
        h.update(b"dir\0");
        Some(dot_git.clone())
    } else {
        h.update(b"other\0");
        None
    };
    if let Some(gd) = gitdir {
        code_of(&gd, &mut h);
        if let Some(common) = read_small(&gd.join("commondir"), 64 * 1024) {
            use std::os::unix::ffi::OsStrExt as _;
            let c = std::ffi::OsStr::from_bytes(common.trim_ascii_end());
            code_of(&gd.join(c), &mut h);
        }
    }
    Some(h.finalize().into())
}

/// Feed what makes code run in git directory `gd` into `h`.
fn code_of(gd: &Path, h: &mut sha2::Sha256) {
    for f in ["config", "config.worktree", "commondir"] {
        h.update(f.as_bytes());
        match read_small(&gd.join(f), MAX_FILE) {
            Some(b) => {
                h.update((b.len() as u64).to_le_bytes());
                h.update(&b);
            }
            None => h.update(b"-"),
        }
    }
    let hooks = gd.join("hooks");
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&hooks)
        .map(|rd| rd.flatten().map(|e| e.file_name()).take(MAX_HOOKS).collect())
        .unwrap_or_default();
    names.sort();
    for n in names {
        let p = hooks.join(&n);
        h.update(n.as_encoded_bytes());
        h.update([0]);
        let mode = std::fs::symlink_metadata(&p).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        h.update(mode.unwrap_or(0).to_le_bytes());
        h.update(read_small(&p, MAX_FILE).unwrap_or_default());
    }
}

/// The submodules of a workspace at the start.
#[derive(Debug, Default)]
pub(super) struct Submodules {
    /// Whether this judges anything (the root's `.git/config` protected,
    /// `.git` a directory).
    active: bool,
    /// Each gitlink of the index then, and its `.git`'s fingerprint.
    before: BTreeMap<PathBuf, Option<[u8; 32]>>,
}

impl Submodules {
    /// The submodules of `root` as they are now; `config_protected`: the
    /// root's `.git/config` is a protected path of the task.
    pub(super) fn before(root: &Path, config_protected: bool) -> Submodules {
        let git = root.join(".git");
        if !config_protected || !std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir()) {
            return Submodules::default();
        }
        let links = gitlinks(&git.join("index"), oid_len(&git.join("config")));
        let before = links.into_iter().map(|p| (p.clone(), fingerprint(root, &p))).collect();
        Submodules { active: true, before }
    }

    /// Judge them again (see the module doc).
    pub(super) fn after(&self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        if !self.active {
            return out;
        }
        let git = root.join(".git");
        let mut links = gitlinks(&git.join("index"), oid_len(&git.join("config")));
        links.extend(self.before.keys().cloned());
        for rel in links {
            let now = fingerprint(root, &rel);
            let then = self.before.get(&rel).copied().flatten();
            if now.is_none() || now == then {
                continue;
            }
            let dot_git = rel.join(".git");
            let fate = match (root_fd, then.is_none()) {
                // The task made it: removed.
                (Some(fd), true) => remove_beneath(fd, &dot_git),
                // It was there: put aside (the submodule is left unpopulated).
                (Some(fd), false) => super::beneath::aside(fd, &dot_git),
                (None, _) => super::beneath::unopened(root),
            };
            let undone = fate == Fate::Removed;
            let how = if then.is_none() { "was made" } else { "was changed (redirected, or its config or hooks)" };
            let shown = root.join(&dot_git);
            let end = match fate {
                Fate::Aside(to) => format!(
                    "; put aside as {} (the submodule is left unpopulated: check it, then `git submodule update`)",
                    root.join(to).display()
                ),
                other => other.words(root, &shown),
            };
            let detail = format!(
                "{}, the git directory of submodule {} (a gitlink of the index, where the host's `git status` runs), {how} during the task{end}",
                shown.display(),
                rel.display(),
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
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
            assert_eq!(gitlinks(&w.join(".git/index"), 20), want, "index version {v}");
        }
        // Not an index: nothing.
        std::fs::write(w.join("junk"), b"DIRC\0\0\0\x04\0\0\0\x09garbage").unwrap();
        assert!(gitlinks(&w.join("junk"), 20).is_empty());
        assert!(
            safe_relative(b"../x").is_none() && safe_relative(b"a//b").is_none() && safe_relative(b"a/b").is_some()
        );
    }
}
