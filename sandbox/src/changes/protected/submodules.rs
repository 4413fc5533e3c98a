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
//! - a `config` of the root's git directory or of one below its `modules`
//!   changed only as the supervisor lets a task change it
//!   ([`crate::jail::gitconfig::judge`] from the config at the start:
//!   branches' upstreams, remotes added) counts as unchanged in every
//!   fingerprint (the supervisor made that change itself);
//! - after it, every place of either survey is fingerprinted again; one that
//!   differs (made, redirected, its config or hooks changed) is
//!   `fs.protected`, and its `<path>/.git` is removed when the task made it,
//!   else renamed aside (a submodule left unpopulated runs nothing);
//! - an index the task changed that cannot be read as git reads it (not a
//!   regular file, past the bounds, an unknown version, truncated, a shared
//!   index missing, a sparse index's directory entries) is `fs.protected`
//!   and put aside: git then recurses into nothing there. Unreadable and
//!   unchanged (the user's own) is left alone;
//! - a git directory or link the task made below `.git/modules` (where
//!   `git submodule update` takes a submodule's repository from), at any
//!   depth, is `fs.protected` and removed;
//! - a repository made (or given code) in a directory that any surveyed
//!   index tracks entries in is `fs.protected` and removed: git run from
//!   that directory would use it.
//!
//! The survey after the task reads again only what may have changed: an
//! index, a hook or an included config read before it is taken as read then
//! while it has the same settled stamp (same inode, size and change time:
//! nothing a task runs can change a file and keep its ctime; see
//! [`super::stamp`]). A large checkout's index is megabytes, and each
//! submodule has a dozen hooks.
//!
//! Benign work is not flagged: a repository in a subdirectory that no
//! gitlink names (a `pip install -e git+…` clone, a test fixture), and
//! submodules the task does not touch.

use super::beneath::{Fate, remove_beneath};
use super::gitdir::{git_takes, surely_git_dir};
use super::stamp::{Clock, Digests, Stamp};
use super::{Planted, gitdir_pointer, read_small};
use crate::Violation;
use crate::rule::Rule;
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::fd::{AsFd as _, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
#[cfg(test)]
pub(super) fn gitlinks(index: &Path, oid_len: usize) -> Result<BTreeSet<PathBuf>, Unreadable> {
    read_index(index, oid_len, true, &mut None, &mut Notes::new(&Clock::now()))
}

/// At most this many tracked directories are checked for a repository the
/// task made in one (past it, none are).
const MAX_TRACKED_DIRS: usize = 200_000;

/// Directories of a work tree, relative to it.
type Dirs = HashSet<PathBuf>;

/// The files an index read read, each with its stamp when it may be trusted
/// later ([`Stamp::settled`]).
struct Notes<'a> {
    clock: &'a Clock,
    files: Vec<(PathBuf, Option<Stamp>)>,
}

impl<'a> Notes<'a> {
    fn new(clock: &'a Clock) -> Notes<'a> {
        Notes { clock, files: Vec::new() }
    }

    /// Stamp `file`, about to be read.
    fn note(&mut self, file: &Path) {
        self.files.push((file.to_path_buf(), Stamp::settled(file, self.clock)));
    }
}

/// [`gitlinks`], and into `dirs` (when given) the directories that hold
/// tracked entries (`None` when there are more than [`MAX_TRACKED_DIRS`]);
/// each file read is noted in `notes` first.
fn read_index(
    index: &Path,
    oid_len: usize,
    may_link: bool,
    dirs: &mut Option<Dirs>,
    notes: &mut Notes<'_>,
) -> Result<BTreeSet<PathBuf>, Unreadable> {
    let bad = |why: &str| Err(Unreadable(why.to_string()));
    let mut out = BTreeSet::new();
    notes.note(index);
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
    // The name of the entry (index v4: the previous one's until it is read).
    let mut name: Vec<u8> = Vec::new();
    // The raw parent of the last entry whose directories were added.
    let mut added_for: Option<Vec<u8>> = None;
    // Where each entry starts (what git's offset table must agree with).
    // An entry takes at least 62 bytes: the count is bounded by the size.
    let entries = (count as usize).min(data.len() / 62);
    let mut starts: Vec<usize> = Vec::with_capacity(entries);
    // Whether each entry's name stands on its own (index v4: nothing kept of
    // the previous name), as git's threads read a block's first entry.
    let mut whole: Vec<bool> = Vec::with_capacity(entries);
    for _ in 0..count {
        let start = at;
        starts.push(start);
        let Some(mode) = be32(&data, start + 24) else { return bad("truncated") };
        let flags_at = start + 40 + oid_len;
        let Some(flags) = data.get(flags_at..flags_at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return bad("truncated");
        };
        let mut name_at = flags_at + 2;
        // Git reads the extended flags whenever the bit is set, whatever
        // the version (review 62, F4).
        if flags & 0x4000 != 0 {
            name_at += 2;
        }
        let path: &[u8] = if version == 4 {
            let Some((strip, used)) = varint(data.get(name_at..).unwrap_or_default()) else { return bad("truncated") };
            let Some(keep) = name.len().checked_sub(strip) else { return bad("a bad path prefix") };
            whole.push(keep == 0);
            let rest = data.get(name_at + used..).unwrap_or_default();
            let Some(end) = memchr::memchr(0, rest) else { return bad("truncated") };
            name.truncate(keep);
            name.extend_from_slice(rest.get(..end).unwrap_or_default());
            at = name_at + used + end + 1;
            &name
        } else {
            let rest = data.get(name_at..).unwrap_or_default();
            let Some(end) = memchr::memchr(0, rest) else { return bad("truncated") };
            whole.push(true);
            // Padded with 1 to 8 NULs to a multiple of 8 from the entry's start.
            at = start + ((name_at - start + end + 8) & !7);
            rest.get(..end).unwrap_or_default()
        };
        // Git steps over the name by the length the flags give (below
        // 0xFFF; at it, by the NUL): one that disagrees with the NUL makes
        // git read other entries than this reader (review 63, F2).
        let named = usize::from(flags & 0x0FFF);
        if (named < 0x0FFF && named != path.len()) || (named == 0x0FFF && path.len() < 0x0FFF) {
            return bad("a name length that disagrees with the name");
        }
        // A sparse index's directory entry stands for a tree that git
        // expands from `.git/objects` (every git without sparse settings
        // does, on reading it): gitlinks may hide in it (review 68, F2), and
        // this reader reads no objects.
        if mode & 0o170000 == 0o040000 {
            return bad("a sparse directory entry (git expands it from trees, which are not read here)");
        }
        if mode & 0o170000 == 0o160000 {
            // Git recurses into `evil/`, `./evil`, `d//evil` alike (review
            // 62, F8): the name as a path, normalised; one that climbs out
            // of its work tree is not judged (fail closed).
            match normal_relative(path) {
                Some(p) => {
                    out.insert(p);
                }
                None => return bad("a gitlink whose path leaves its work tree"),
            }
            if out.len() > MAX_LINKS {
                return bad("more than 10,000 gitlinks");
            }
        }
        if let Some(d) = dirs.as_mut() {
            add_dirs(d, path, &mut added_for);
            if d.len() > MAX_TRACKED_DIRS {
                *dirs = None;
            }
        }
    }
    let entries_end = at;
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
        let body = data.get(at + 8..next).unwrap_or_default();
        // Git may load entries from the offset table, and extensions from
        // the end-of-entries offset, on several threads (review 62, F9):
        // both must say what the reading in sequence found.
        if sig == b"EOIE" && be32(body, 0).map(|o| o as usize) != Some(entries_end) {
            return bad("an end-of-entries offset that is not where the entries end");
        }
        if sig == b"IEOT" && !offsets_agree(body, &starts, &whole) {
            return bad("an entry offset table that disagrees with the entries");
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
            out.extend(read_index(&shared, oid_len, false, dirs, notes)?);
            if out.len() > MAX_LINKS {
                return bad("more than 10,000 gitlinks");
            }
        }
        at = next;
    }
    Ok(out)
}

/// Add to `dirs` the directories that hold the entry named `path` (its
/// parent and theirs, as [`normal_relative`] reads the name). Entries come
/// in order, ten or so to a directory: when the name's raw parent is the one
/// `added_for` remembers and its last component is a plain name, its
/// normalised parent is that one's, already added; the parse and the set
/// look-ups are done once per directory, not per entry.
fn add_dirs(dirs: &mut Dirs, path: &[u8], added_for: &mut Option<Vec<u8>>) {
    let cut = path.iter().rposition(|b| *b == b'/');
    let (raw_parent, last) = match cut {
        Some(i) => (path.get(..i).unwrap_or_default(), path.get(i + 1..).unwrap_or_default()),
        None => (&b""[..], path),
    };
    let plain_last = !matches!(last, b"" | b"." | b"..");
    if plain_last && added_for.as_deref() == Some(raw_parent) {
        return;
    }
    if let Some(parent) = normal_relative(path).as_deref().and_then(Path::parent) {
        for a in parent.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            if dirs.contains(a) || !dirs.insert(a.to_path_buf()) {
                break;
            }
        }
    }
    // With a plain last name, what was added (or that nothing was: the name
    // climbs out) depends on the raw parent alone.
    *added_for = plain_last.then(|| raw_parent.to_vec());
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

/// Whether an `IEOT` extension's blocks (version 1, then offset and count
/// pairs) start exactly at the entries' `starts` and cover them all.
fn offsets_agree(body: &[u8], starts: &[usize], whole: &[bool]) -> bool {
    if be32(body, 0) != Some(1) {
        return false;
    }
    let mut k = 0usize;
    let mut at = 4;
    while at < body.len() {
        let (Some(offset), Some(nr)) = (be32(body, at), be32(body, at + 4)) else { return false };
        // Git's thread starts a block with no previous name (review 65, F3):
        // its first name must not lean on the one before.
        if starts.get(k) != Some(&(offset as usize)) || whole.get(k) != Some(&true) {
            return false;
        }
        k += nr as usize;
        at += 8;
    }
    k == starts.len()
}

/// `p` as the relative path git walks: empty and `.` components dropped;
/// `None` when it is empty or a `..` climbs out.
fn normal_relative(p: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = PathBuf::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => out.push(std::ffi::OsStr::from_bytes(c)),
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The `(section, key, value)` settings of a git config text, lower-cased
/// section and key (`include`, `path`; `includeif`, `path`; `core`,
/// `hookspath`), values unquoted. Simple: enough to find the files and
/// directories a config makes git read code from.
/// Whether `text` is config as git itself writes it, where [`settings`]
/// reads what git reads: each line blank, a comment, a setting (no `[`
/// before its `=`), or one section header alone (`[name]` or `[name
/// "sub"]`, the subsection without quotes, backslashes or brackets). Git
/// also takes several headers on one line and settings after a header
/// (review 75, F1: `[advice] [core] fsmonitor = …`); such text is not
/// plain. Nor is a setting holding a quote or a comment (`"`, `#`, `;`):
/// git drops the quotes inside a value and the comment after it, so
/// `url = ext:":"sh …` is `ext::sh …` to git (review 76); what a clone
/// writes holds none.
pub(super) fn written_as_git_writes(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else { return false };
    !text.contains('\\')
        && text.lines().all(|line| {
            let l = line.trim();
            if l.is_empty() || l.starts_with(['#', ';']) {
                return true;
            }
            let Some(inner) = l.strip_prefix('[') else {
                return !l.split('=').next().unwrap_or_default().contains(['[', ']']) && !l.contains(['"', '#', ';']);
            };
            let Some(inner) = inner.strip_suffix(']') else { return false };
            let (name, sub) = match inner.split_once(' ') {
                Some((n, s)) => (n, Some(s.trim_start())),
                None => (inner, None),
            };
            let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            let sub_ok = sub.is_none_or(|s| {
                s.len() >= 2
                    && s.starts_with('"')
                    && s.ends_with('"')
                    && !s[1..s.len() - 1].contains(['"', '\\', '[', ']'])
            });
            name_ok && sub_ok
        })
}

pub(crate) fn settings(text: &[u8]) -> Vec<(String, String, String)> {
    let text = String::from_utf8_lossy(text);
    let mut section = String::new();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut l = line.trim();
        if let Some(rest) = l.strip_prefix('[') {
            let name = rest.split([']', ' ', '\t', '"', '.']).next().unwrap_or_default();
            section = name.trim().to_ascii_lowercase();
            // Git reads a setting written after the header on its line
            // (`[core] fsmonitor = …`, review 63, F1).
            // Inside quotes, `\"` and `\\` are escapes (review 65, F1).
            let (mut quoted, mut escaped) = (false, false);
            let close = rest.char_indices().find(|&(_, c)| {
                if escaped {
                    escaped = false;
                    return false;
                }
                if quoted && c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quoted = !quoted;
                }
                c == ']' && !quoted
            });
            l = close.map_or("", |(i, _)| rest.get(i + 1..).unwrap_or_default()).trim();
        }
        if l.is_empty() || l.starts_with(['#', ';']) {
            continue;
        }
        // A key alone is a boolean `true`.
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        let k = k.split(['#', ';']).next().unwrap_or_default();
        let mut v = v.to_string();
        // A value continued on the next line (`\` at the end).
        while continued(&v)
            && let Some(next) = lines.next()
        {
            v.pop();
            v.push_str(next);
        }
        out.push((section.clone(), k.trim().to_ascii_lowercase(), git_value(&v)));
    }
    out
}

/// Whether a value's text ends in a `\` that escapes the line's end.
fn continued(v: &str) -> bool {
    v.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// A value as git reads it (`parse_value`): whitespace at either end that
/// is not quoted dropped, quotes removed wherever they are (`"a"b` is
/// `ab`), a `#` or `;` outside quotes the start of a comment, and `\\`,
/// `\"`, `\n`, `\t`, `\b` escapes (git refuses any other, and a quote
/// left open: the config is then no config; what was read so far is
/// returned).
fn git_value(raw: &str) -> String {
    let mut out = String::new();
    let (mut quoted, mut trim) = (false, None::<usize>);
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c.is_ascii_whitespace() && !quoted {
            if !out.is_empty() {
                trim.get_or_insert(out.len());
                out.push(c);
            }
            continue;
        }
        if !quoted && (c == '#' || c == ';') {
            break;
        }
        trim = None;
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some(e @ ('\\' | '"')) => out.push(e),
                _ => break,
            },
            '"' => quoted = !quoted,
            c => out.push(c),
        }
    }
    if let Some(t) = trim {
        out.truncate(t);
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

/// A git directory `<root>/<rel>` found by its markers (no `.git` leads to
/// it) with nothing planted: [`plain_clone`]'s keys and sample hooks; its
/// `core.worktree` may lead only to itself, or (`module`: a git directory
/// below a nested repository's `.git`) anywhere in the workspace.
pub(super) fn plain_bare(root: &Path, rel: &Path, module: bool) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let d = root.join(rel);
    // A linked work tree's git directory (`worktrees/<id>`): its code is
    // its common directory's, and its own `config.worktree` and hooks.
    if let Some(c) = read_small(&d.join("commondir"), 64 * 1024) {
        let common = d.join(std::ffi::OsStr::from_bytes(c.trim_ascii_end()));
        let own = match read_small(&d.join("config.worktree"), MAX_FILE) {
            Some(text) => plain_settings(&text, &d, WorkTree::Within(root)),
            None => std::fs::symlink_metadata(d.join("config.worktree")).is_err(),
        };
        let hooks = std::fs::read_dir(d.join("hooks"))
            .map_or(true, |rd| rd.flatten().all(|e| e.file_name().to_string_lossy().ends_with(".sample")));
        return own && hooks && plain_clone(&common, WorkTree::Within(root));
    }
    plain_clone(&d, if module { WorkTree::Within(root) } else { WorkTree::Is(&d) })
}

/// What decides the code git runs in the work tree `<root>/<rel>`: a digest
/// of its `.git` (kind, a pointer's bytes) and of the git directory it
/// reaches and that one's `commondir` (see [`code_of`]). `None`: there is no
/// `<path>/.git`.
fn fingerprint(root: &Path, rel: &Path, files: &Digests, starts: &Starts) -> Option<[u8; 32]> {
    fingerprint_seen(root, rel, files, &mut Vec::new(), starts)
}

/// [`fingerprint`], pushing onto `seen` every path it looked at.
fn fingerprint_seen(
    root: &Path,
    rel: &Path,
    files: &Digests,
    seen: &mut Vec<PathBuf>,
    starts: &Starts,
) -> Option<[u8; 32]> {
    let dot_git = root.join(rel).join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).ok()?;
    seen.push(dot_git.clone());
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
        code_of(&gd, &worktree, &mut h, files, seen, starts);
        if let Some(common) = read_small(&gd.join("commondir"), 64 * 1024) {
            use std::os::unix::ffi::OsStrExt as _;
            let c = std::ffi::OsStr::from_bytes(common.trim_ascii_end());
            code_of(&gd.join(c), &worktree, &mut h, files, seen, starts);
        }
    }
    Some(h.finalize().into())
}

/// The configs the supervisor may change for a task (the root's
/// `.git/config` and `.git/config.worktree`, those of the git directories
/// below its `modules`), by their directory's real path and their name, as
/// they were at the start (`None`: a `config.worktree` that was absent).
type Starts = BTreeMap<PathBuf, Option<Vec<u8>>>;

/// Where `config` (a file of a git directory) is kept in [`Starts`].
fn start_key(config: &Path) -> Option<PathBuf> {
    Some(config.parent()?.canonicalize().ok()?.join(config.file_name()?))
}

/// Those configs of the root git directory `gitdir`, whose `modules` held
/// the git directories `modules`, as they are now.
fn config_starts(gitdir: &Path, modules: &BTreeSet<PathBuf>) -> Starts {
    let dirs = std::iter::once(gitdir.to_path_buf())
        .chain(modules.iter().filter(|m| m.starts_with("modules")).map(|m| gitdir.join(m)));
    dirs.filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
        .flat_map(|d| {
            let config = d.join("config");
            let worktree = d.join("config.worktree");
            let absent = std::fs::symlink_metadata(&worktree).is_err();
            [
                read_small(&config, MAX_FILE).and_then(|b| Some((start_key(&config)?, Some(b)))),
                match read_small(&worktree, MAX_FILE) {
                    Some(b) => start_key(&worktree).map(|k| (k, Some(b))),
                    None if absent => start_key(&worktree).map(|k| (k, None)),
                    None => None,
                },
            ]
        })
        .flatten()
        .collect()
}

/// The bytes of the config `config` (`config` or `config.worktree` of a git
/// directory; `None`: absent) as it counts for its fingerprint: `now`, or,
/// when it is one of `starts` changed since only as the supervisor lets a
/// task change it ([`crate::jail::gitconfig::judge`]: branches' upstreams,
/// remotes added, what `git sparse-checkout` writes; every setting that
/// decides code unchanged), the bytes it had at the start (an absent one
/// made: absent).
fn as_judged<'a>(config: &Path, now: Option<&'a [u8]>, starts: &'a Starts) -> Option<&'a [u8]> {
    use crate::jail::gitconfig::{Kind, judge};
    let Some(now_bytes) = now else { return now };
    match start_key(config).and_then(|c| starts.get(&c)) {
        Some(start) if start.as_deref() != now => {
            let from = start.as_deref().unwrap_or_default();
            if judge(from, now_bytes, Kind::of(config)).is_ok() { start.as_deref() } else { now }
        }
        _ => now,
    }
}

/// Feed into `h` what makes code run in git directory `gd` with work tree
/// `worktree`: its `config` (as judged from `starts`: [`as_judged`]),
/// `config.worktree`, `commondir`, the files their `include.path`s name,
/// its hooks, and a `core.hooksPath`'s (the included files and hooks by
/// their digests in `files`); push onto `seen` each path read (the
/// directories listed included).
fn code_of(
    gd: &Path,
    worktree: &Path,
    h: &mut sha2::Sha256,
    files: &Digests,
    seen: &mut Vec<PathBuf>,
    starts: &Starts,
) {
    seen.push(gd.to_path_buf());
    let mut configs = Vec::new();
    for f in ["config", "config.worktree", "commondir"] {
        h.update(f.as_bytes());
        seen.push(gd.join(f));
        let read = read_small(&gd.join(f), MAX_FILE);
        let read = match f {
            "config" | "config.worktree" => as_judged(&gd.join(f), read.as_deref(), starts).map(<[u8]>::to_vec),
            _ => read,
        };
        match read {
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
            seen.push(gd.join(&value));
            h.update(files.file(&gd.join(&value)).1);
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
            let (mode, digest) = files.file(&p);
            h.update(mode.to_le_bytes());
            h.update(digest);
            seen.push(p);
        }
        seen.push(hooks);
    }
}

/// Whether every path of `seen` that exists last changed (its ctime, which
/// no call of the task can set back) more than [`MARGIN`] before `start`:
/// then the code those paths decide is what was there before the task.
fn unchanged_since(seen: &[PathBuf], start: std::time::SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(before) = start.duration_since(std::time::UNIX_EPOCH + MARGIN) else { return false };
    let limit = i128::try_from(before.as_nanos()).unwrap_or(i128::MAX);
    seen.iter().all(|p| match std::fs::symlink_metadata(p) {
        Ok(m) => i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()) < limit,
        Err(_) => true,
    })
}

/// Whether `path` was made (its birth time, where the file system keeps
/// one) at or after `start`; `false` when unknown.
pub(super) fn born_since(path: &Path, start: std::time::SystemTime) -> bool {
    std::fs::symlink_metadata(path).and_then(|m| m.created()).is_ok_and(|b| b >= start)
}

/// How much older than the task's start a ctime must be to count as
/// before it (the kernel stamps files with a coarse clock).
pub(super) const MARGIN: std::time::Duration = std::time::Duration::from_millis(100);

/// What tells a file changed: kind, identity, size, times.
type Ident = Option<(u32, u64, u64, u64, i64, i64, i64, i64)>;

fn ident(path: &Path) -> Ident {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.mode(), m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
}

/// Whether the directory `rel` of the workspace `root` holds a `.git` entry
/// (of any kind; a link at the name not followed), as [`fingerprint`] finds
/// it: `<root>/<rel>/.git`, looked up from the root's descriptor `root_fd`
/// when there is one (not the root's whole path again for each of thousands
/// of tracked directories).
fn has_dot_git(root: &Path, root_fd: Option<BorrowedFd<'_>>, rel: &Path) -> bool {
    let dot_git = rel.join(".git");
    match root_fd {
        Some(fd) => nix::sys::stat::fstatat(fd, &dot_git, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).is_ok(),
        None => std::fs::symlink_metadata(root.join(dot_git)).is_ok(),
    }
}

/// Below this many tracked directories, [`with_dot_git`] looks on one thread.
const ONE_THREAD_DIRS: usize = 4096;

/// Those of the directories `dirs` that hold a `.git` ([`has_dot_git`]), in
/// no particular order. A large checkout has tens of thousands, each looked
/// up before and after every task (the kernel's lookups of the directory and
/// of `.git` in it, mostly cache misses, are what the survey costs): past
/// [`ONE_THREAD_DIRS`] they are looked up on up to four threads.
fn with_dot_git<'a>(root: &Path, root_fd: Option<BorrowedFd<'_>>, dirs: Vec<&'a PathBuf>) -> Vec<&'a PathBuf> {
    let look =
        |part: &[&'a PathBuf]| part.iter().copied().filter(|d| has_dot_git(root, root_fd, d)).collect::<Vec<_>>();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || dirs.len() < ONE_THREAD_DIRS {
        return look(&dirs);
    }
    let share = dirs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut parts = dirs.chunks(share);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| s.spawn(move || look(part))).collect();
        let mut found = look(first);
        for o in others {
            // Only a thread that panicked (none can) gives no answer: then
            // every directory is looked at again here.
            match o.join() {
                Ok(f) => found.extend(f),
                Err(_) => return look(&dirs),
            }
        }
        found
    })
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
    /// The root's git directory, when there is one.
    gitdir: Option<PathBuf>,
    /// The directories that hold entries of the indexes read (each below
    /// its work tree), and whether there were more than [`MAX_TRACKED_DIRS`]
    /// (the root index's own set, shared, while no other index adds any).
    tracked_dirs: Arc<Dirs>,
    tracked_overflow: bool,
    /// Each index read, its identity, and why it could not be read.
    indexes: BTreeMap<PathBuf, (Ident, Option<Unreadable>)>,
    /// The index reads whose files all had a stamp, by index and whether
    /// the tracked directories were collected.
    reads: BTreeMap<(PathBuf, bool), IndexRead>,
}

impl Survey {
    /// Add the tracked directories `dirs` of the index of the work tree at
    /// `prefix`, each below it; past [`MAX_TRACKED_DIRS`] in all, none are
    /// kept and the survey is past the bound. The root's set is shared, not
    /// copied, while it is the only one.
    fn add_tracked(&mut self, prefix: &Path, dirs: &Arc<Dirs>) {
        if dirs.is_empty() {
            return;
        }
        if self.tracked_dirs.is_empty() && prefix.as_os_str().is_empty() {
            self.tracked_dirs = Arc::clone(dirs);
        } else {
            Arc::make_mut(&mut self.tracked_dirs).extend(dirs.iter().map(|d| prefix.join(d)));
        }
        if self.tracked_dirs.len() > MAX_TRACKED_DIRS {
            self.tracked_overflow = true;
            self.tracked_dirs = Arc::default();
        }
    }
}

/// What one read of an index found, and the stamps of the files it read.
#[derive(Debug, Clone)]
struct IndexRead {
    oid_len: usize,
    stamps: Vec<(PathBuf, Stamp)>,
    links: Result<BTreeSet<PathBuf>, Unreadable>,
    /// The tracked directories, when collected and within the bound.
    dirs: Option<Arc<Dirs>>,
}

impl IndexRead {
    /// Read `index` ([`read_index`]), the tracked directories too when
    /// `with_dirs`; and whether every file read had a stamp that may be
    /// trusted after the task (else the read is not kept for it).
    fn fresh(index: &Path, oid_len: usize, with_dirs: bool, clock: &Clock) -> (IndexRead, bool) {
        let mut dirs = with_dirs.then(Dirs::new);
        let mut notes = Notes::new(clock);
        let links = read_index(index, oid_len, true, &mut dirs, &mut notes);
        let stamped = notes.files.iter().all(|(_, s)| s.is_some());
        let stamps = notes.files.into_iter().filter_map(|(p, s)| Some((p, s?))).collect();
        (IndexRead { oid_len, stamps, links, dirs: dirs.map(Arc::new) }, stamped)
    }

    /// Whether this read, made before the task, holds now: the same object
    /// name length, and every file it read still as stamped, so the same
    /// bytes (see [`super::stamp`]): reading them again would find the same.
    fn holds(&self, oid_len: usize, clock: &Clock) -> bool {
        self.oid_len == oid_len && self.stamps.iter().all(|(p, s)| s.still(p, clock))
    }
}

/// Survey `root` ([`Survey`]), with the clock the stamps were taken at; an
/// index read of `earlier` that still holds ([`IndexRead::holds`]) is used
/// instead of reading the index again.
fn survey(root: &Path, clock: &Clock, earlier: Option<&BTreeMap<(PathBuf, bool), IndexRead>>) -> Survey {
    let mut out = Survey::default();
    // The root's git directory as git finds it: `.git` itself, or where its
    // pointer or link leads (review 62, F5 and B1).
    let Some(git) = gitdir_of(root, Path::new("")) else { return out };
    let config = git.join("config");
    let mut queue = std::collections::VecDeque::from([(git.join("index"), PathBuf::new(), config.clone(), 0)]);
    // Linked work trees inside the workspace, and their own indexes (review
    // 62, F1: a gitlink added there runs at `cd wt && git status`).
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
                queue.push_back((e.path().join("index"), rel.to_path_buf(), config.clone(), 1));
            }
        }
    }
    out.gitdir = Some(git);
    // An index is read once per work tree that uses it: one git directory
    // behind two places names gitlinks below each (review 66, F1).
    let mut read_for: std::collections::BTreeSet<(PathBuf, PathBuf)> = std::collections::BTreeSet::new();
    while let Some((index, prefix, config, depth)) = queue.pop_front() {
        if !read_for.insert((index.clone(), prefix.clone())) {
            continue;
        }
        let id = ident(&index);
        // Every index's tracked directories, below its work tree: a
        // submodule's and a linked work tree's as well as the root's
        // (review 68, F3: a repository made in `lib/sub`, tracked by the
        // submodule `lib`, ran at `cd lib/sub && git status`).
        let with_dirs = !out.tracked_overflow;
        let oid = oid_len(&config);
        let key = (index.clone(), with_dirs);
        let read = match earlier.and_then(|e| e.get(&key)).filter(|r| r.holds(oid, clock)) {
            Some(r) => r.clone(),
            None => {
                let (r, stamped) = IndexRead::fresh(&index, oid, with_dirs, clock);
                if stamped {
                    out.reads.insert(key, r.clone());
                }
                r
            }
        };
        match &read.dirs {
            Some(d) if with_dirs => out.add_tracked(&prefix, d),
            // Past the bound (what was gathered is dropped: none is judged).
            None if with_dirs => {
                out.tracked_overflow = true;
                out.tracked_dirs = Arc::default();
            }
            _ => {}
        }
        let links = match read.links {
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
                // Every index that names more is not judged, the ones still
                // queued included (review 62, F3): read on, add nothing.
                let why = Unreadable("more than 10,000 gitlinks in all".into());
                out.indexes.insert(index.clone(), (ident(&index), Some(why)));
                break;
            }
            if !out.places.insert(rel.clone()) || depth >= MAX_DEPTH {
                continue;
            }
            if let Some(gd) = gitdir_of(root, &rel) {
                let config = gd.join("config");
                queue.push_back((gd.join("index"), rel, config, depth + 1));
            }
        }
    }
    out
}

/// The git directories and links below the `modules` of git directory
/// `gitdir` and of each of its linked work trees (paths relative to
/// `gitdir`; a submodule named `libs/foo` lives at `modules/libs/foo`), and
/// whether there were more entries than [`MAX_MODULE_ENTRIES`].
fn module_dirs(gitdir: &Path) -> (BTreeSet<PathBuf>, bool) {
    let mut stack: Vec<PathBuf> = vec![PathBuf::from("modules")];
    if let Ok(rd) = std::fs::read_dir(gitdir.join("worktrees")) {
        for e in rd.flatten().take(1000) {
            stack.push(Path::new("worktrees").join(e.file_name()).join("modules"));
        }
    }
    let mut out = BTreeSet::new();
    let mut seen = 0usize;
    // No depth bound: a submodule's name may hold any number of `/`, and
    // git takes `modules/a/b/…/evil` as readily as `modules/evil` (review
    // 68, F1: one ten levels down was never listed). The entry count bounds
    // the walk; a directory that cannot be listed counts as too many.
    while let Some(rel) = stack.pop() {
        let rd = match std::fs::read_dir(gitdir.join(&rel)) {
            Ok(rd) => rd,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => continue,
            Err(_) => return (out, true),
        };
        for e in rd {
            let Ok(e) = e else { return (out, true) };
            seen += 1;
            if seen > MAX_MODULE_ENTRIES {
                return (out, true);
            }
            let Ok(t) = e.file_type() else { continue };
            let r = rel.join(e.file_name());
            if t.is_symlink() {
                out.insert(r);
            } else if t.is_dir() {
                // Git takes what passes `access(X_OK)` for `objects` and
                // `refs` (review 81, F1: an executable regular file `refs`
                // made this walk past a git directory git uses). One git
                // may refuse is judged, and still walked whole: git then
                // takes a submodule's repository below it.
                let d = gitdir.join(&r);
                if git_takes(&d) {
                    stack.push(if surely_git_dir(&d) { r.join("modules") } else { r.clone() });
                    out.insert(r);
                } else {
                    stack.push(r);
                }
            }
        }
    }
    (out, false)
}

/// Where a git directory's `core.worktree` may lead for it to be plain.
#[derive(Debug, Clone, Copy)]
enum WorkTree<'a> {
    /// Exactly the work tree it is used from (review 63, F4: a worktree
    /// elsewhere makes git resolve the repository's gitlinks there).
    Is(&'a Path),
    /// Somewhere in the workspace (a git directory below `modules` that no
    /// place uses yet: `git submodule update` sets it again when it does).
    Within(&'a Path),
}

impl WorkTree<'_> {
    fn admits(self, target: &Path) -> bool {
        let Ok(t) = target.canonicalize() else { return false };
        match self {
            WorkTree::Is(w) => w.canonicalize().is_ok_and(|w| w == t),
            WorkTree::Within(root) => root.canonicalize().is_ok_and(|r| t.starts_with(r)),
        }
    }
}

/// What makes code run in the git directory `gd` (see [`code_of`]).
fn module_code(gd: &Path, files: &Digests, starts: &Starts) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    code_of(gd, gd, &mut h, files, &mut Vec::new(), starts);
    h.finalize().into()
}

/// Whether the git directory `gd` is what `git clone` (as `git submodule
/// update` runs it) makes and nothing more: a config of the keys a clone
/// writes, hooks that are all `*.sample`, no `commondir` or
/// `config.worktree` (review 62, B2: a build's `git submodule update` of a
/// submodule the host had initialised).
fn plain_clone(gd: &Path, tree: WorkTree<'_>) -> bool {
    let Some(config) = read_small(&gd.join("config"), MAX_FILE) else { return false };
    // A sparse clone's `config.worktree` (`extensions.worktreeConfig`) is
    // held to the same keys.
    let worktree_config = match read_small(&gd.join("config.worktree"), MAX_FILE) {
        Some(c) => Some(c),
        None if std::fs::symlink_metadata(gd.join("config.worktree")).is_ok() => return false,
        None => None,
    };
    let absent = |n: &str| std::fs::symlink_metadata(gd.join(n)).is_err();
    let hooks_ok = match std::fs::read_dir(gd.join("hooks")) {
        Ok(rd) => rd.flatten().all(|e| e.file_name().to_string_lossy().ends_with(".sample")),
        Err(_) => absent("hooks"),
    };
    std::iter::once(&config).chain(worktree_config.as_ref()).all(|c| plain_settings(c, gd, tree))
        && hooks_ok
        && absent("commondir")
}

/// Whether the config text `config` (of git directory `gd`) holds only
/// settings that name no program: what `git init`, clones (partial,
/// sparse, mirror, bare, shared, reftable) and test fixtures write.
fn plain_settings(config: &[u8], gd: &Path, tree: WorkTree<'_>) -> bool {
    // Escapes, continued lines (review 65, F1) and headers sharing a line
    // (review 75, F1) are where a reader can part from git's; a clone
    // writes none.
    if !written_as_git_writes(config) {
        return false;
    }
    settings(config).iter().all(|(section, key, value)| match section.as_str() {
        "core" if key == "worktree" => tree.admits(&gd.join(value)),
        "core" => matches!(
            key.as_str(),
            "repositoryformatversion"
                | "autocrlf"
                | "safecrlf"
                | "eol"
                | "quotepath"
                | "abbrev"
                | "filemode"
                | "bare"
                | "logallrefupdates"
                | "ignorecase"
                | "precomposeunicode"
                | "symlinks"
                | "sharedrepository"
                | "untrackedcache"
                | "sparsecheckout"
                | "sparsecheckoutcone"
                | "whitespace"
        ),
        // A URL is one git reaches itself: no `<helper>::` (`ext::` runs a
        // command at the host's fetch, review 73 F1), no unknown scheme.
        "remote" if matches!(key.as_str(), "url" | "pushurl") => crate::jail::gitconfig::url_allowed(value),
        "remote" => matches!(key.as_str(), "fetch" | "mirror" | "promisor" | "partialclonefilter" | "tagopt"),
        // A test fixture's `git config user.email`: names, no code.
        "user" => matches!(key.as_str(), "name" | "email" | "signingkey"),
        // What test fixtures set: switches that name no program (signing
        // runs the host's own gpg, never one the config names).
        "commit" | "tag" => key == "gpgsign",
        "pull" => matches!(key.as_str(), "rebase" | "ff"),
        "merge" => matches!(key.as_str(), "ff" | "conflictstyle"),
        "rebase" => matches!(key.as_str(), "autosquash" | "autostash" | "updaterefs"),
        // `diff.<driver>.command`/`textconv` run programs: only these.
        "diff" => matches!(key.as_str(), "renames" | "algorithm" | "mnemonicprefix" | "renamelimit"),
        "gc" => matches!(key.as_str(), "auto" | "autodetach" | "autopacklimit"),
        "init" => key == "defaultbranch",
        "push" => key == "default",
        "fetch" => key == "prune",
        "receive" => matches!(key.as_str(), "denycurrentbranch" | "denynonfastforwards"),
        "index" => matches!(key.as_str(), "version" | "sparse"),
        // A test server fixture's switches.
        "uploadpack" => matches!(
            key.as_str(),
            "allowfilter" | "allowanysha1inwant" | "allowtipsha1inwant" | "allowreachablesha1inwant"
        ),
        "http" => key == "receivepack",
        "rerere" => matches!(key.as_str(), "enabled" | "autoupdate"),
        "blame" => matches!(key.as_str(), "ignorerevsfile" | "markignoredlines"),
        "lfs" => key == "repositoryformatversion",
        "gpg" => key == "format",
        "advice" | "color" | "i18n" => true,
        // What `git submodule add` and `clone --recurse-submodules` write
        // (never `update`, which may name a command).
        "submodule" if key == "url" => crate::jail::gitconfig::url_allowed(value),
        "submodule" => matches!(key.as_str(), "active" | "branch" | "recurse"),
        "branch" if key == "remote" => crate::jail::gitconfig::url_allowed(value),
        "branch" => matches!(key.as_str(), "merge" | "description"),
        "extensions" => {
            matches!(
                key.as_str(),
                "objectformat" | "refstorage" | "worktreeconfig" | "partialclone" | "preciousobjects"
            )
        }
        _ => false,
    })
}

/// Whether the repository at `<root>/<rel>` has nothing planted: a plain
/// clone's or `git init`'s git directory ([`plain_clone`]) whose index names
/// no gitlinks (review 65, F2: they would be judged nowhere else).
pub(super) fn plain(root: &Path, rel: &Path) -> bool {
    gitdir_of(root, rel).is_some_and(|gd| {
        plain_clone(&gd, WorkTree::Is(&root.join(rel)))
            && read_index(
                &gd.join("index"),
                oid_len(&gd.join("config")),
                true,
                &mut None,
                &mut Notes::new(&Clock::now()),
            )
            .is_ok_and(|l| l.is_empty())
    })
}

/// Whether `<root>/<rel>/.git` reaches a plain clone's or `git init`'s git
/// directory ([`plain_clone`]), whatever its index names, and nothing the
/// host's own git configuration makes code is in its work tree.
pub(super) fn plain_git(root: &Path, rel: &Path) -> bool {
    // What the host's own git configuration makes code in any work tree
    // (a relative `core.hooksPath`, a program) is not in this one.
    let tree = root.join(rel);
    let mut host = super::hostconfig::host().paths.iter().filter(|n| n.path.is_relative());
    host.all(|n| {
        let at = tree.join(&n.path);
        std::fs::symlink_metadata(&at).is_err() || !n.is_code_at(&at)
    }) && gitdir_of(root, rel)
        .is_some_and(|gd| plain_clone(&gd, WorkTree::Is(&root.join(rel))) || own_worktree(root, rel, &gd))
}

/// Whether the git directory `gd` has no `config.worktree`, or one with
/// only what `git sparse-checkout` writes ([`crate::jail::gitconfig::judge`]
/// from nothing: `git worktree add` copies the main work tree's).
fn worktree_config_plain(gd: &Path) -> bool {
    use crate::jail::gitconfig::{Kind, judge};
    let wt = gd.join("config.worktree");
    match read_small(&wt, MAX_FILE) {
        Some(text) => judge(b"", &text, Kind::Worktree).is_ok(),
        None => std::fs::symlink_metadata(&wt).is_err(),
    }
}

/// Whether `gd` is the git directory of a linked work tree of the root's
/// repository at `<root>/<rel>` (`git worktree add`): below the root git
/// directory's `worktrees`, its `commondir` leading back to that directory,
/// its `gitdir` naming `<rel>/.git`, and no `config.worktree` of its own
/// but the sparse switches [`worktree_config_plain`] allows.
/// Its code is then the root's (config and hooks, protected).
fn own_worktree(root: &Path, rel: &Path, gd: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(gd) = gd.canonicalize() else { return false };
    let read =
        |n: &str| read_small(&gd.join(n), 64 * 1024).map(|b| gd.join(std::ffi::OsStr::from_bytes(b.trim_ascii_end())));
    let Some(common) = read("commondir").and_then(|c| c.canonicalize().ok()) else { return false };
    let root_git = gitdir_of(root, Path::new("")).and_then(|g| g.canonicalize().ok());
    gd.parent() == Some(common.join("worktrees").as_path())
        && read("gitdir").and_then(|g| g.canonicalize().ok()) == root.join(rel).join(".git").canonicalize().ok()
        && worktree_config_plain(&gd)
        // The root's repository (protected), or one with nothing planted
        // (a build's `git worktree add` from a repository it made).
        && (root_git.as_ref() == Some(&common) || plain_clone(&common, WorkTree::Within(root)))
}

/// Undo a `.git` (`dot_git`, below the root) the task made (`made`:
/// removed) or changed (renamed aside: whoever looks finds it, git does not).
fn undo(root: &Path, root_fd: Option<BorrowedFd<'_>>, dot_git: &Path, made: bool) -> Fate {
    match (root_fd, made) {
        (Some(fd), true) => remove_beneath(fd, dot_git),
        (Some(fd), false) => super::beneath::aside(fd, dot_git),
        (None, _) => super::beneath::unopened(root),
    }
}

/// What became of `shown` (below `root`), for a detail: put aside (and
/// `aside_hint` after the new name), or [`Fate::words`].
pub(super) fn fate_words(fate: Fate, root: &Path, shown: &Path, aside_hint: &str) -> String {
    match fate {
        Fate::Aside(to) => format!("; put aside as {}{aside_hint}", root.join(to).display()),
        other => other.words(root, shown),
    }
}

/// The submodules of a workspace at the start.
#[derive(Debug, Default)]
pub(super) struct Submodules {
    /// Whether this judges anything (the root's `.git/config` protected).
    active: bool,
    /// When the survey before the task began.
    start: Option<std::time::SystemTime>,
    /// There was no `.git` directory at the start (nothing was surveyed):
    /// every place found after is unknown, put aside rather than removed.
    unsurveyed: bool,
    /// Where git went, and each place's fingerprint.
    before: BTreeMap<PathBuf, Option<[u8; 32]>>,
    /// The indexes read then.
    indexes: BTreeMap<PathBuf, (Ident, Option<Unreadable>)>,
    /// The git directories and links below the root git directory's
    /// `modules` then, and whether there were too many to list.
    modules: BTreeSet<PathBuf>,
    modules_full: bool,
    /// What makes code run in each of those git directories then: the jail
    /// pins only some of them (review 67: three levels, 1,000 per
    /// directory), so each is judged by its content, not trusted as pinned.
    module_code: BTreeMap<PathBuf, [u8; 32]>,
    /// The configs the supervisor may change for the task then
    /// ([`config_starts`]): one changed as it allows counts as unchanged.
    configs: Starts,
    /// The directories the indexes tracked entries in then (the root's, the
    /// submodules', the linked work trees'), and those of them that held a
    /// `.git`, with its fingerprint.
    tracked_dirs: Arc<Dirs>,
    nested: BTreeMap<PathBuf, Option<[u8; 32]>>,
    tracked_overflow: bool,
    /// The sequencer todos of the git directories then ([`super::sequencer`]).
    todos: BTreeMap<PathBuf, super::sequencer::Todo>,
    /// The index reads of then that may be used again after the task, and
    /// the clock their stamps were taken at.
    reads: BTreeMap<(PathBuf, bool), IndexRead>,
    clock: Option<Clock>,
    /// The files the fingerprints read then, by digest and stamp.
    files: Option<Digests>,
}

/// The root's git directory, its linked work trees' and its submodules'
/// (those of `modules`, relative to `gitdir`): where sequencer state lives.
fn git_dirs(gitdir: &Path, modules: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut out = vec![gitdir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(gitdir.join("worktrees")) {
        out.extend(rd.flatten().take(1000).map(|e| e.path()));
    }
    out.extend(modules.iter().map(|m| gitdir.join(m)));
    out
}

impl Submodules {
    /// The submodules of `root` as they are now; `config_protected`: the
    /// root's `.git/config` is a protected path of the task.
    pub(super) fn before(root: &Path, config_protected: bool) -> Submodules {
        if !config_protected {
            return Submodules::default();
        }
        let start = Some(std::time::SystemTime::now());
        let gitdir = gitdir_of(root, Path::new("")).filter(|g| g.is_dir());
        let Some(gitdir) = gitdir else {
            // A repository the task makes here (review 61, F6: `HEAD`,
            // `objects`, `refs` and an index, no config) is surveyed after.
            return Submodules { active: true, start, unsurveyed: true, ..Submodules::default() };
        };
        let clock = Clock::now();
        let files = Digests::new(clock.clone(), MAX_FILE);
        let s = survey(root, &clock, None);
        let root_fd = super::open_root(root);
        let fd = root_fd.as_ref().map(|f| f.as_fd());
        let nested = with_dot_git(root, fd, s.tracked_dirs.iter().collect())
            .into_iter()
            .map(|d| (d.clone(), fingerprint(root, d, &files, &Starts::new())))
            .collect();
        let tracked_dirs = s.tracked_dirs;
        let tracked_overflow = s.tracked_overflow;
        let before = s
            .places
            .into_iter()
            .chain(s.worktrees)
            .map(|p| (p.clone(), fingerprint(root, &p, &files, &Starts::new())))
            .collect();
        let (modules, modules_full) = module_dirs(&gitdir);
        let module_code =
            modules.iter().map(|m| (m.clone(), module_code(&gitdir.join(m), &files, &Starts::new()))).collect();
        let configs = config_starts(&gitdir, &modules);
        let todos = super::sequencer::todos(&git_dirs(&gitdir, &modules));
        Submodules {
            active: true,
            start,
            unsurveyed: false,
            before,
            indexes: s.indexes,
            modules,
            modules_full,
            module_code,
            configs,
            tracked_dirs,
            nested,
            tracked_overflow,
            todos,
            reads: s.reads,
            clock: Some(clock),
            files: Some(files),
        }
    }

    /// Judge them again (see the module doc).
    pub(super) fn after(&self, root: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let mut out = Vec::new();
        if !self.active {
            return out;
        }
        let clock = self.clock.clone().unwrap_or_else(Clock::now);
        let files = match &self.files {
            Some(before) => Digests::after(before),
            None => Digests::new(clock.clone(), MAX_FILE),
        };
        let s = survey(root, &clock, Some(&self.reads));
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
            let end = fate_words(fate, root, index, " (git reads no gitlinks there)");
            let detail = format!(
                "{}, an index the host's `git status` reads its submodules from, changed during the task into one that cannot be judged ({}){end}",
                index.display(),
                why.0
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        let mut places = s.places;
        places.extend(self.before.keys().cloned());
        for rel in &places {
            let now = fingerprint(root, rel, &files, &self.configs);
            let then = self.before.get(rel).copied().flatten();
            if now.is_none() || now == then {
                continue;
            }
            // Made by the task, but what `git submodule update` or a plain
            // `git clone`/`git init` makes (review 62, B2): nothing planted.
            if then.is_none() && self.harmless_new(root, rel, s.gitdir.as_deref(), &files) {
                continue;
            }
            // A repository that was there before the task, untouched since,
            // and newly named by a gitlink (a build's `git add -A` of an
            // untracked clone, review 69, B1): the user's own code.
            if then.is_none() && self.untouched(root, rel, &files) {
                continue;
            }
            let dot_git = rel.join(".git");
            // Surely made by the task: removed; else put aside (the
            // submodule is left unpopulated; a clone the user had keeps its
            // commits, review 69, B1).
            let made =
                then.is_none() && !self.unsurveyed && self.start.is_some_and(|t| born_since(&root.join(&dot_git), t));
            let fate = undo(root, root_fd, &dot_git, made);
            let undone = fate == Fate::Removed;
            let how = if self.unsurveyed {
                "is named by a gitlink of a repository made"
            } else if made {
                "was made"
            } else if then.is_none() {
                "was made, or given hooks or settings,"
            } else {
                "was changed (redirected, or its config or hooks)"
            };
            let shown = root.join(&dot_git);
            let end = fate_words(
                fate,
                root,
                &shown,
                " (the submodule is left unpopulated: check it, then `git submodule update`)",
            );
            let detail = format!(
                "{}, the git directory of {} (a submodule or linked work tree, where the host's `git status` runs), {how} during the task{end}",
                shown.display(),
                rel.display(),
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        if let Some(gitdir) = &s.gitdir {
            out.extend(self.new_modules(root, gitdir, root_fd, &files));
            out.extend(self.todos_after(root, gitdir, root_fd));
        }
        out.extend(self.nested_in_tracked(root, &places, &s.tracked_dirs, root_fd, &files));
        // Past the bound only since the task (review 66, F3): the task grew
        // the index to hide a repository among its directories.
        if s.tracked_overflow && !self.tracked_overflow {
            let detail = format!(
                "{}: the workspace's indexes name more than {MAX_TRACKED_DIRS} directories since the task: a repository made in one of them cannot be judged",
                root.join(".git/index").display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        out
    }

    /// A repository the task made in a directory an index tracked entries
    /// in (review 62, F6; a submodule's or linked work tree's index too,
    /// review 68, F3): git run from that directory (a shell
    /// prompt, `git diff` there) finds it before the root's, and runs its
    /// hooks and config. `fs.protected` and removed, unless nothing is
    /// planted in it ([`plain_clone`]: a plain `git init` there).
    fn nested_in_tracked(
        &self,
        root: &Path,
        places: &BTreeSet<PathBuf>,
        tracked_now: &Arc<Dirs>,
        root_fd: Option<BorrowedFd<'_>>,
        files: &Digests,
    ) -> Vec<Planted> {
        let mut out = Vec::new();
        // Tracked at the start or at the end (review 66, F2: untracked in one
        // task, a repository made there and tracked again in the next); the
        // same set when the index was not changed.
        let also_now = (!Arc::ptr_eq(&self.tracked_dirs, tracked_now))
            .then(|| tracked_now.iter().filter(|d| !self.tracked_dirs.contains(*d)));
        // Those with a `.git` now, in order; undoing one removes or renames
        // a `.git`, never makes one.
        let tracked: Vec<&PathBuf> =
            self.tracked_dirs.iter().chain(also_now.into_iter().flatten()).filter(|d| !places.contains(*d)).collect();
        let mut with_git = with_dot_git(root, root_fd, tracked);
        with_git.sort();
        for d in with_git {
            let dot_git = d.join(".git");
            let now = fingerprint(root, d, files, &self.configs);
            // One that was there is judged again (review 63, F3: accepted
            // plain in one task, given code in the next).
            let then = self.nested.get(d).copied();
            if now.is_none() || then == Some(now) {
                continue;
            }
            if plain(root, d) {
                continue;
            }
            // Removed only when it surely was not there at the start.
            let made = then.is_none() && self.tracked_dirs.contains(d);
            let fate = undo(root, root_fd, &dot_git, made);
            let undone = fate == Fate::Removed;
            let shown = root.join(&dot_git);
            let how = if then.is_none() { "made" } else { "given hooks or settings" };
            let end = fate_words(fate, root, &shown, "");
            let detail = format!(
                "{}, a repository {how} during the task in {}, a directory a repository of the workspace tracks: git run from there (a shell prompt, `git diff`) would use it and run its hooks and settings{end}",
                shown.display(),
                d.display(),
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        out
    }

    /// Sequencer todos the task made or changed that run commands at the
    /// host's `git rebase --continue` ([`super::sequencer`]): `fs.protected`,
    /// their state directory put aside.
    fn todos_after(&self, root: &Path, gitdir: &Path, root_fd: Option<BorrowedFd<'_>>) -> Vec<Planted> {
        let (modules, _) = module_dirs(gitdir);
        let now = super::sequencer::todos(&git_dirs(gitdir, &modules));
        let mut out = Vec::new();
        for (todo, state) in &now {
            if self.todos.get(todo) == Some(state) || !state.runs_commands() {
                continue;
            }
            let Some(state) = super::sequencer::state_dir(todo) else { continue };
            let fate = match (root_fd, state.strip_prefix(root)) {
                (Some(fd), Ok(rel)) => super::beneath::aside(fd, rel),
                (Some(_), Err(_)) => Fate::Kept("outside the workspace".to_string()),
                (None, _) => super::beneath::unopened(root),
            };
            let end = fate_words(fate, root, state, " (git sees no rebase or cherry-pick in progress)");
            let detail = format!(
                "{}, a rebase or cherry-pick's remaining steps, was made or changed during the task and runs commands (an `exec` step or a merge strategy not git's own) at the host's `git rebase --continue`{end}",
                todo.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        out
    }

    /// When the survey before the task began, if this judges anything.
    pub(super) fn started(&self) -> Option<std::time::SystemTime> {
        self.start.filter(|_| self.active)
    }

    /// Whether `<rel>/.git` and everything that decides its code last
    /// changed before the task started.
    fn untouched(&self, root: &Path, rel: &Path, files: &Digests) -> bool {
        let Some(start) = self.start else { return false };
        let mut seen = Vec::new();
        fingerprint_seen(root, rel, files, &mut seen, &self.configs).is_some() && unchanged_since(&seen, start)
    }

    /// Whether the `<rel>/.git` the task made reaches a git directory with
    /// nothing planted: a plain clone or `git init` ([`plain_clone`]), or a
    /// submodule's git directory below the root's `modules` that was there
    /// at the start (its config and hooks were pinned during the task).
    fn harmless_new(&self, root: &Path, rel: &Path, gitdir: Option<&Path>, files: &Digests) -> bool {
        let Some(gd) = gitdir_of(root, rel) else { return false };
        if plain_clone(&gd, WorkTree::Is(&root.join(rel))) {
            return true;
        }
        let Some(g) = gitdir else { return false };
        match (gd.canonicalize(), g.join("modules").canonicalize()) {
            (Ok(a), Ok(b)) => a.strip_prefix(&b).is_ok_and(|r| {
                let m = Path::new("modules").join(r);
                self.module_code.get(&m) == Some(&module_code(&a, files, &self.configs))
            }),
            _ => false,
        }
    }

    /// Git directories and links the task made below the `modules` of the
    /// root's git directory `gitdir` (its work trees' too), but for a plain
    /// clone ([`plain_clone`]).
    fn new_modules(
        &self,
        root: &Path,
        gitdir: &Path,
        root_fd: Option<BorrowedFd<'_>>,
        files: &Digests,
    ) -> Vec<Planted> {
        let (now, more) = module_dirs(gitdir);
        let mut removed: Vec<PathBuf> = Vec::new();
        let mut out = Vec::new();
        for (rel, then) in &self.module_code {
            let abs = gitdir.join(rel);
            if std::fs::symlink_metadata(&abs).is_err() || module_code(&abs, files, &self.configs) == *then {
                continue;
            }
            let fate = match (root_fd, abs.strip_prefix(root)) {
                (Some(fd), Ok(r)) => super::beneath::aside(fd, r),
                (Some(_), Err(_)) => Fate::Kept("outside the workspace".to_string()),
                (None, _) => super::beneath::unopened(root),
            };
            let end = fate_words(fate, root, &abs, " (`git submodule update` clones it again)");
            let detail = format!(
                "{}, a submodule's git directory, had its config or hooks changed during the task (`git submodule update` would run them){end}",
                abs.display()
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone: false });
        }
        for rel in now.difference(&self.modules) {
            if removed.iter().any(|r| rel.starts_with(r)) {
                continue;
            }
            let abs = gitdir.join(rel);
            let is_link = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link && plain_clone(&abs, WorkTree::Within(root)) {
                continue;
            }
            let fate = match (root_fd, abs.strip_prefix(root)) {
                (Some(fd), Ok(r)) => remove_beneath(fd, r),
                (Some(_), Err(_)) => Fate::Kept("outside the workspace".to_string()),
                (None, _) => super::beneath::unopened(root),
            };
            let undone = fate == Fate::Removed;
            if undone {
                removed.push(rel.clone());
            }
            let what = if is_link { "link" } else { "git directory with hooks or settings a clone does not make" };
            let detail = format!(
                "{}, a {what} (where `git submodule update` takes a submodule's repository from), was made during the task{}",
                abs.display(),
                fate.words(root, &abs)
            );
            out.push(Planted { violation: Violation::now(Rule::FsProtected, detail), undone });
        }
        if more && !self.modules_full {
            let detail = format!(
                "{} grew past {MAX_MODULE_ENTRIES} entries during the task: what git may take a submodule's repository from there cannot be judged",
                gitdir.join("modules").display()
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

    /// Rewrite `len` bytes of `file` at `at` in place (same size) and put
    /// its modification time back, as a task can.
    fn rewrite_in_place(file: &Path, at: usize, bytes: &[u8]) {
        use std::io::{Seek as _, Write as _};
        let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(bytes).unwrap();
        f.set_modified(mtime).unwrap();
    }

    #[test]
    fn files_read_before_are_reused_only_while_unchanged_and_same_size_rewrites_are_still_caught() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().canonicalize().unwrap();
        git(&w, &["init", "-q", "."]);
        std::fs::create_dir_all(w.join("src")).unwrap();
        std::fs::write(w.join("src/x"), "x").unwrap();
        git(&w, &["add", "."]);
        git(&w, &["commit", "-qm", "x"]);
        // A submodule's git directory below `.git/modules`, with a hook.
        std::fs::create_dir(w.join(".git/modules")).unwrap();
        git(&w, &["init", "-q", "--separate-git-dir", ".git/modules/m", "wt"]);
        std::fs::remove_dir_all(w.join("wt")).unwrap();
        let hook = w.join(".git/modules/m/hooks/post-checkout");
        std::fs::write(&hook, "#!/bin/sh\necho a\n").unwrap();
        // Wait until the index and the hook are settled: the reuse is armed.
        let index = w.join(".git/index");
        let settled = || [&index, &hook].iter().all(|f| Stamp::settled(f, &Clock::now()).is_some());
        let start = std::time::Instant::now();
        while !settled() && start.elapsed() < std::time::Duration::from_secs(8) {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        assert!(settled(), "the temporary directory's file system must keep ctime for this test");
        let fsmonitor = |dir: &Path| {
            git(dir, &["init", "-q", "."]);
            git(dir, &["config", "core.fsmonitor", "touch ran; false #"]);
        };

        // The index unchanged (its read reused): a repository made in a
        // tracked directory is judged; a hook rewritten in place, same size,
        // its time put back, is seen.
        let before = Submodules::before(&w, true);
        assert!(before.reads.contains_key(&(w.join(".git/index"), true)), "{:?}", before.reads.keys());
        fsmonitor(&w.join("src"));
        rewrite_in_place(&hook, "#!/bin/sh\necho ".len(), b"b");
        let v: Vec<String> = before.after(&w, None).into_iter().map(|p| p.violation.detail).collect();
        assert!(v.iter().any(|d| d.contains("a directory a repository of the workspace tracks")), "{v:?}");
        assert!(v.iter().any(|d| d.contains("had its config or hooks changed")), "{v:?}");
        assert_eq!(v.len(), 2, "{v:?}");
        std::fs::remove_dir_all(w.join("src/.git")).unwrap();

        // The index rewritten in place, same size, its time put back: the
        // entry `src/x` made a gitlink to a repository with code.
        assert!(Stamp::settled(&index, &Clock::now()).is_some());
        let before = Submodules::before(&w, true);
        let data = std::fs::read(&index).unwrap();
        let name = data.windows(6).position(|b| b == b"src/x\0").unwrap();
        let size = std::fs::metadata(&index).unwrap().len();
        rewrite_in_place(&index, name - 62 + 24, &0o160000u32.to_be_bytes());
        assert_eq!(std::fs::metadata(&index).unwrap().len(), size);
        std::fs::remove_file(w.join("src/x")).unwrap();
        std::fs::create_dir(w.join("src/x")).unwrap();
        fsmonitor(&w.join("src/x"));
        let v: Vec<String> = before.after(&w, None).into_iter().map(|p| p.violation.detail).collect();
        assert!(v.iter().any(|d| d.contains("the git directory of src/x") && d.contains("was made")), "{v:?}");
    }

    #[test]
    fn dot_git_entries_are_found_from_the_root_descriptor_as_by_path_with_links_on_threads_too() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().canonicalize().unwrap();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for i in 0..ONE_THREAD_DIRS + 100 {
            let rel = PathBuf::from(format!("p{}/q{}", i / 50, i % 50));
            std::fs::create_dir_all(w.join(&rel)).unwrap();
            dirs.push(rel);
        }
        dirs.extend(["top", "gone/x", "l/q1", "f/x"].map(PathBuf::from));
        std::fs::create_dir(w.join("top")).unwrap();
        // A `.git` of each kind, one behind a linked parent, one in a parent
        // that is a file (nothing there).
        std::fs::create_dir(w.join("p3/q7/.git")).unwrap();
        std::fs::write(w.join("p70/q1/.git"), "gitdir: x").unwrap();
        std::os::unix::fs::symlink("nowhere", w.join("p80/q49/.git")).unwrap();
        std::fs::create_dir(w.join("top/.git")).unwrap();
        std::os::unix::fs::symlink("p5", w.join("l")).unwrap();
        std::fs::create_dir(w.join("p5/q1/.git")).unwrap();
        std::fs::write(w.join("f"), "").unwrap();
        let by_path: BTreeSet<&PathBuf> =
            dirs.iter().filter(|d| std::fs::symlink_metadata(w.join(d).join(".git")).is_ok()).collect();
        assert_eq!(by_path.len(), 6, "{by_path:?}");
        let fd = super::super::open_root(&w).unwrap();
        for (root_fd, n) in [(Some(fd.as_fd()), dirs.len()), (Some(fd.as_fd()), 200), (None, dirs.len())] {
            let some: Vec<&PathBuf> = dirs.iter().rev().take(n).collect();
            let want: BTreeSet<&PathBuf> = some.iter().copied().filter(|d| by_path.contains(d)).collect();
            let found: BTreeSet<&PathBuf> = with_dot_git(&w, root_fd, some).into_iter().collect();
            assert_eq!(found, want);
        }
    }

    #[test]
    fn a_config_changed_as_the_supervisor_allows_counts_as_it_was_and_no_other() {
        let d = tempfile::tempdir().unwrap();
        let gd = d.path().join(".git");
        std::fs::create_dir_all(gd.join("modules/lib")).unwrap();
        let start = "[core]\n\tworktree = ../../../lib\n[remote \"origin\"]\n\turl = /up\n";
        std::fs::write(gd.join("modules/lib/config"), start).unwrap();
        std::fs::write(gd.join("config"), "[core]\n\tbare = false\n").unwrap();
        let modules = BTreeSet::from([PathBuf::from("modules/lib")]);
        let starts = config_starts(&gd, &modules);
        assert_eq!(starts.len(), 4, "two configs, two absent config.worktree: {starts:?}");
        let config = gd.join("modules/lib/config");
        let code =
            |starts: &Starts| module_code(&gd.join("modules/lib"), &Digests::new(Clock::now(), MAX_FILE), starts);
        let then = code(&Starts::new());
        // git -C lib checkout -b feat origin/feat: the same code.
        let tracked = format!("{start}[branch \"feat\"]\n\tremote = origin\n\tmerge = refs/heads/feat\n");
        std::fs::write(&config, &tracked).unwrap();
        assert_eq!(as_judged(&config, Some(tracked.as_bytes()), &starts), Some(start.as_bytes()));
        assert_eq!(code(&starts), then);
        assert_ne!(code(&Starts::new()), then, "judged only from the starts");
        // Anything else: the config as it is, a change.
        for hostile in [
            format!("{start}[core]\n\tfsmonitor = touch m\n"),
            start.replace("url = /up", "url = /elsewhere"),
            format!("{start}[include]\n\tpath = ../x\n"),
        ] {
            std::fs::write(&config, &hostile).unwrap();
            assert_eq!(as_judged(&config, Some(hostile.as_bytes()), &starts), Some(hostile.as_bytes()));
            assert_ne!(code(&starts), then, "{hostile}");
        }
        std::fs::write(&config, start).unwrap();
        // A config.worktree made by `git sparse-checkout`: as if absent; one
        // that names code: a change.
        let wt = gd.join("modules/lib/config.worktree");
        let sparse = "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = true\n";
        std::fs::write(&wt, sparse).unwrap();
        assert_eq!(as_judged(&wt, Some(sparse.as_bytes()), &starts), None);
        assert_eq!(code(&starts), then);
        for hostile in [format!("{sparse}\tfsmonitor = touch m\n"), "[core]\n\thooksPath = /tmp\n".into()] {
            std::fs::write(&wt, &hostile).unwrap();
            assert_eq!(as_judged(&wt, Some(hostile.as_bytes()), &starts), Some(hostile.as_bytes()));
            assert_ne!(code(&starts), then, "{hostile}");
        }
    }

    #[test]
    fn module_dirs_take_what_git_takes_and_walk_on_below_what_git_may_refuse() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let gd = d.path();
        let head = format!("{}\n", "a".repeat(40));
        let make = |rel: &str, head: &str| {
            let g = gd.join(rel);
            std::fs::create_dir_all(g.join("objects/info")).unwrap();
            std::fs::write(g.join("HEAD"), head).unwrap();
            std::fs::create_dir_all(g.join("refs")).unwrap();
        };
        // Review 81, F1: `refs` an executable regular file, objects by
        // alternates.
        make("modules/evil", &head);
        std::fs::remove_dir(gd.join("modules/evil/refs")).unwrap();
        std::fs::write(gd.join("modules/evil/refs"), "").unwrap();
        std::fs::set_permissions(gd.join("modules/evil/refs"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(gd.join("modules/evil/objects/info/alternates"), "../../../objects\n").unwrap();
        // A decoy git refuses (`HEAD` names no ref) with a git directory
        // below it that git takes for submodule `a/b`.
        make("modules/a", "ref: junk\n");
        make("modules/a/b", &head);
        // A real one's own `modules` is walked, its objects are not.
        make("modules/lib", &head);
        make("modules/lib/modules/deep", &head);
        make("modules/lib/objects/not-walked", &head);
        let (dirs, full) = module_dirs(gd);
        let want: BTreeSet<PathBuf> =
            ["modules/evil", "modules/a", "modules/a/b", "modules/lib", "modules/lib/modules/deep"]
                .iter()
                .map(PathBuf::from)
                .collect();
        assert_eq!(dirs, want);
        assert!(!full);
    }

    #[test]
    fn an_offset_table_block_must_start_at_a_whole_name() {
        // Review 65, F3: git's thread starts a v4 block with no previous name.
        let table = [1u32, 100, 2, 300, 1].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
        assert!(offsets_agree(&table, &[100, 200, 300], &[true, false, true]));
        assert!(!offsets_agree(&table, &[100, 200, 300], &[true, true, false]));
        assert!(!offsets_agree(&table, &[100, 200, 301], &[true, true, true]));
    }

    #[test]
    fn config_is_plain_only_as_git_writes_it() {
        // Review 75, F1: git reads a second header on a line; a plain config has none.
        for (text, ok) in [
            (&b"[core]\n\tbare = false\n[remote \"origin\"]\n\turl = /up\n# c\n; c\n"[..], true),
            (b"[advice] [core] fsmonitor = \"touch m\"\n", false),
            (b"[advice]\n[core] fsmonitor = x\n", false),
            (b"[remote \"o]x\"]\n\turl = u\n", false),
            (b"[core]\n\tx = a\\\n b\n", false),
            (b"[core\n", false),
            (b"[a.b]\n\tk = v\n", true),
        ] {
            assert_eq!(written_as_git_writes(text), ok, "{:?}", String::from_utf8_lossy(text));
        }
        let d = tempfile::tempdir().unwrap();
        let gd = d.path().join(".git");
        std::fs::create_dir_all(&gd).unwrap();
        std::fs::write(gd.join("config"), "[advice] [core] fsmonitor = \"touch m\"\n").unwrap();
        assert!(!plain_clone(&gd, WorkTree::Is(d.path())));
        std::fs::write(gd.join("config"), "[advice]\n\tdetachedHead = false\n").unwrap();
        assert!(plain_clone(&gd, WorkTree::Is(d.path())));
    }

    #[test]
    fn settings_are_read_after_a_header_on_its_line_and_keys_alone_count() {
        // Review 63, F1: git reads `[core] fsmonitor = …` on one line.
        let s = settings(b"[core] fsmonitor = \"touch x\"\n[remote \"o]x\"] url = u\n[core]\n\tbare\n");
        assert!(s.contains(&("core".into(), "fsmonitor".into(), "touch x".into())), "{s:?}");
        assert!(s.contains(&("remote".into(), "url".into(), "u".into())), "{s:?}");
        assert!(s.contains(&("core".into(), "bare".into(), String::new())), "{s:?}");
        // Review 65, F1: `\"` inside a subsection name is an escape.
        let s = settings(b"[includeIf \"x:*\\\"*\"] path = evil.cfg\n");
        assert!(s.contains(&("includeif".into(), "path".into(), "evil.cfg".into())), "{s:?}");
        // Review 76: values as git reads them (quotes anywhere, comments, escapes, continued lines).
        let s = settings(
            b"[remote \"o\"]\n\turl = ext:\":\"sh -c x # c\n\tpushurl = \" a;b \" ; c\n[core]\n\thooksPath = h\\\n2 \n\tx = \"a\\\\\\\"\\tb\"\n",
        );
        for want in [
            ("remote", "url", "ext::sh -c x"),
            ("remote", "pushurl", " a;b "),
            ("core", "hookspath", "h2"),
            ("core", "x", "a\\\"\tb"),
        ] {
            assert!(s.contains(&(want.0.into(), want.1.into(), want.2.into())), "{want:?} in {s:?}");
        }
        // None of them is plain: a quote or a comment in a setting.
        for text in
            [&b"[remote \"o\"]\n\turl = ext:\":\"sh\n"[..], b"[core]\n\tbare = false # c\n", b"[user]\n\tname = a;b\n"]
        {
            assert!(!written_as_git_writes(text), "{:?}", String::from_utf8_lossy(text));
        }
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
        // A v2 entry with the extended-flags bit: git reads the two extra
        // bytes in any version (review 62, F4).
        std::fs::write(w.join("later.txt"), "x").unwrap();
        git(w, &["add", "-N", "later.txt"]);
        git(w, &["update-index", "--index-version", "3"]);
        let mut v2 = std::fs::read(w.join(".git/index")).unwrap();
        v2[7] = 2;
        std::fs::write(w.join("v2x"), &v2).unwrap();
        assert_eq!(gitlinks(&w.join("v2x"), 20).map(|l| l.len()), Ok(4));
        git(w, &["rm", "-q", "--cached", "later.txt"]);
        // An offset table and an end-of-entries offset (written with
        // threads): read when they agree with the entries, refused when not
        // (review 62, F9).
        for f in 0..40 {
            std::fs::write(w.join(format!("f{f}")), format!("{f}")).unwrap();
        }
        let threads =
            ["-c", "index.recordOffsetTable=true", "-c", "index.recordEndOfIndexEntries=true", "-c", "index.threads=2"];
        git(w, &[&threads[..], &["add", "--", "f*"]].concat());
        let data = std::fs::read(w.join(".git/index")).unwrap();
        let at = data.windows(4).position(|x| x == b"IEOT").expect("git wrote an offset table");
        assert_eq!(gitlinks(&w.join(".git/index"), 20).map(|l| l.len()), Ok(4));
        let mut moved = data.clone();
        moved[at + 8 + 4 + 3] ^= 8;
        std::fs::write(w.join("ieot"), &moved).unwrap();
        assert!(gitlinks(&w.join("ieot"), 20).is_err());
        // A name length in the flags that disagrees with the name (review
        // 63, F2: git would step over other bytes than this reader).
        let mut data = std::fs::read(w.join(".git/index")).unwrap();
        let flags_at = 12 + 40 + 20;
        data[flags_at + 1] = data[flags_at + 1].wrapping_add(8);
        std::fs::write(w.join("misnamed"), &data).unwrap();
        assert!(gitlinks(&w.join("misnamed"), 20).is_err());
        // No index: none. Not an index git reads, a link (F4): unreadable.
        assert_eq!(gitlinks(&w.join("none"), 20), Ok(BTreeSet::new()));
        std::fs::write(w.join("junk"), b"DIRC\0\0\0\x04\0\0\0\x09garbage").unwrap();
        assert!(gitlinks(&w.join("junk"), 20).is_err());
        std::os::unix::fs::symlink(".git/index", w.join("linked")).unwrap();
        assert!(gitlinks(&w.join("linked"), 20).is_err());
        assert!(
            normal_relative(b"../x").is_none()
                && normal_relative(b"a/../../x").is_none()
                && normal_relative(b"./").is_none()
        );
        for (name, want) in
            [(&b"evil/"[..], "evil"), (b"./evil", "evil"), (b"d//evil", "d/evil"), (b"d/./evil", "d/evil")]
        {
            assert_eq!(normal_relative(name), Some(PathBuf::from(want)));
        }
    }
}
