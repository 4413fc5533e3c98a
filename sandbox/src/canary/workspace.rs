//! After the task: what it left in its workspace, judged for its canary
//! values — an artifact, a name or an attribute that carries one is a way
//! out (a later step uploads the workspace, a cache stores it).
//!
//! Guarantees, for every entry the task added or modified (as the workspace
//! diff finds them, listed in the report or not: `changes::Seen`):
//! - its **path** is searched as the bytes it is, and with its `/` left out
//!   (a value cut into directory names), whatever its kind;
//! - a **symbolic link's target** (read with `readlinkat`, never followed);
//! - the **extended attributes** of a regular file or a directory (the only
//!   kinds `user.*` attributes can be set on): every name the kernel lists
//!   to orchestra, and every value (at most 64 KiB each, the kernel's own
//!   bound);
//! - a **regular file's content**, window by window, up to [`PER_FILE`]
//!   bytes of each file and [`TOTAL`] bytes in all (past these, not read).
//!
//! A value found is `canary.leak`, naming the entry (with any value in its
//! path replaced by `[canary]`) and the canary's source, never the value.
//!
//! Nothing is followed: each entry is pinned by an `O_PATH | O_NOFOLLOW`
//! descriptor relative to its directory (opened from the workspace's root
//! without following links) and judged only when it is still the inode the
//! walk saw. **An entry orchestra cannot read is never passed unjudged**:
//! when orchestra runs as its owner (the jail run by an unprivileged user:
//! the task's files are the user's), it grants itself read permission on that
//! inode for the read and puts the mode back; when it cannot (another user's
//! file, not running as root), the entry is `canary.unverifiable`. So is a
//! directory the task made or changed and left unreadable: what it holds was
//! not compared. A workspace whose walk after the task crosses the diff's
//! bounds (500,000 entries, 256 levels, 10 s) is not judged and not a
//! violation (a large install gets there): the report says it was skipped.

use super::{Matcher, Searched, Token, scrub_text};
use crate::changes::{EntryKind, Inspected, Seen};
use crate::{Rule, Violation};
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, fstat};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A regular file's content is read up to this many bytes.
pub const PER_FILE: u64 = 64 << 20;
/// The contents of all files are read up to this many bytes in all.
pub const TOTAL: u64 = 256 << 20;
/// The kernel's bounds on an attribute name list and on one value.
const XATTR_LIST_MAX: usize = 64 << 10;
const XATTR_SIZE_MAX: usize = 64 << 10;
/// A file's content is searched this many bytes at a time.
const WINDOW: usize = 256 << 10;

/// The judge of one workspace's changes: feed it what the diff shows, then
/// take its violations.
pub struct Judge {
    matcher: Matcher,
    tokens: Vec<Token>,
    budget: u64,
    buf: Vec<u8>,
    /// Attribute names and one value, read into memory kept between entries.
    names: Vec<u8>,
    value: Vec<u8>,
    found: Vec<Violation>,
    unverifiable: Vec<Vec<u8>>,
    euid: u32,
}

impl Judge {
    /// A judge for the values of `tokens` (none: it judges nothing).
    pub fn new(tokens: &[Token]) -> Judge {
        Judge {
            matcher: Matcher::new(tokens),
            tokens: tokens.to_vec(),
            budget: TOTAL,
            buf: Vec::new(),
            names: Vec::new(),
            value: Vec::new(),
            found: Vec::new(),
            unverifiable: Vec::new(),
            euid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_empty()
    }

    /// The violations found, in the order the entries came.
    pub fn into_violations(self) -> Vec<Violation> {
        self.found
    }

    /// Judge what the diff shows.
    pub fn see(&mut self, seen: Seen<'_>) {
        if self.matcher.is_empty() {
            return;
        }
        match seen {
            Seen::Entry(e) => self.entry(&e),
            // A workspace grown past the walk's bounds (a large install can
            // pass 500,000 entries or 10 s of walking) is no sign of a leak:
            // not a violation. The report's `workspace_changes.skipped` says
            // why nothing was compared, and SECURITY.md §2.3.1 that canaries
            // were then not judged in the workspace.
            Seen::NotWalked(_) => {}
            Seen::Unreadable(path) => {
                let shown = self.shown(path);
                self.unverifiable(
                    path,
                    format!("the task left the directory {shown} unreadable to orchestra: what it holds could not be judged for canaries"),
                );
            }
        }
    }

    /// `bytes` as text for a violation's detail, with any value replaced.
    fn shown(&self, bytes: &[u8]) -> String {
        scrub_text(&String::from_utf8_lossy(bytes), &self.tokens).0
    }

    fn leak(&mut self, detail: String) {
        self.found.push(Violation::now(Rule::CanaryLeak, detail));
    }

    fn unverifiable(&mut self, path: &[u8], detail: String) {
        if !self.unverifiable.iter().any(|p| p == path) {
            self.unverifiable.push(path.to_vec());
            self.found.push(Violation::now(Rule::CanaryUnverifiable, detail));
        }
    }

    fn entry(&mut self, e: &Inspected<'_>) {
        let joined = || -> Vec<u8> { e.path.iter().copied().filter(|b| *b != b'/').collect() };
        let named = self.matcher.find(e.path).or_else(|| {
            // A value cut into directory names.
            if e.path.contains(&b'/') { self.matcher.find(&joined()) } else { None }
        });
        if let Some((t, _)) = named {
            let source = t.source.clone();
            let shown = self.shown(e.path);
            self.leak(format!("the task left {shown} in the workspace: its path holds the canary planted as {source}"));
        }
        let Some(dir) = e.dir else { return };
        match e.meta.kind {
            EntryKind::Symlink => {
                let Ok(target) = readlinkat(dir, e.name) else { return };
                if let Some((t, _)) = self.matcher.find(target.as_encoded_bytes()) {
                    let source = t.source.clone();
                    let shown = self.shown(e.path);
                    self.leak(format!(
                        "the task left the symbolic link {shown} whose target holds the canary planted as {source}"
                    ));
                }
            }
            EntryKind::File | EntryKind::Dir => self.file_or_dir(e, dir),
            EntryKind::Fifo | EntryKind::Socket | EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Other => {
            }
        }
    }

    /// Judge a regular file or a directory: its attributes, a file's content.
    fn file_or_dir(&mut self, e: &Inspected<'_>, dir: BorrowedFd<'_>) {
        let is_dir = e.meta.kind == EntryKind::Dir;
        let mut flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        if is_dir {
            flags |= OFlag::O_DIRECTORY;
        }
        match openat(dir, e.name, flags, Mode::empty()) {
            Ok(fd) => {
                if self.same(e, &fd).is_some() {
                    self.judge_open(e.path, std::fs::File::from(fd), !is_dir);
                }
            }
            // Replaced since the walk (a link now, or gone): not what the task left.
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => {}
            Err(nix::errno::Errno::EACCES) => self.through_owner(e, dir),
            Err(_) => self.cannot_read(e, None),
        }
    }

    /// `(mode, uid)` of what `fd` is open on, when it is the entry the walk saw.
    fn same(&self, e: &Inspected<'_>, fd: &OwnedFd) -> Option<(u32, u32)> {
        let st = fstat(fd).ok()?;
        let want = if e.meta.kind == EntryKind::File { libc::S_IFREG } else { libc::S_IFDIR };
        (st.st_ino == e.meta.ino && st.st_mode & libc::S_IFMT == want).then_some((st.st_mode, st.st_uid))
    }

    /// An entry orchestra may not open: read it through its owner's rights
    /// when orchestra is the owner (read permission added to that inode for
    /// the time of the read, then the mode put back); otherwise unverifiable.
    fn through_owner(&mut self, e: &Inspected<'_>, dir: BorrowedFd<'_>) {
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let Ok(pinned) = openat(dir, e.name, flags, Mode::empty()) else { return };
        let Some((mode, uid)) = self.same(e, &pinned) else { return };
        if uid != self.euid || mode & libc::S_IRUSR != 0 {
            return self.cannot_read(e, Some((mode, uid)));
        }
        if crate::sys::chmod_fd(&pinned, (mode & 0o7777) | libc::S_IRUSR).is_err() {
            return self.cannot_read(e, Some((mode, uid)));
        }
        match reopen(&pinned, e.meta.kind == EntryKind::Dir) {
            Ok(f) => self.judge_open(e.path, f, e.meta.kind == EntryKind::File),
            Err(_) => self.cannot_read(e, Some((mode, uid))),
        }
        // Put back the mode the task left.
        let _ = crate::sys::chmod_fd(&pinned, mode & 0o7777);
    }

    fn judge_open(&mut self, path: &[u8], f: std::fs::File, content: bool) {
        self.xattrs(path, f.as_fd());
        if content {
            self.content(path, f);
        }
    }

    fn cannot_read(&mut self, e: &Inspected<'_>, st: Option<(u32, u32)>) {
        let shown = self.shown(e.path);
        let what = if e.meta.kind == EntryKind::Dir { "directory " } else { "" };
        let (mode, uid) = st.unwrap_or((e.meta.mode, u32::MAX));
        let owner = if uid == u32::MAX { String::new() } else { format!("owner uid {uid}, ") };
        self.unverifiable(
            e.path,
            format!(
                "the task left {what}{shown} unreadable to orchestra ({owner}mode {:04o}): it could not be judged for canaries",
                mode & 0o7777
            ),
        );
    }

    /// Every extended attribute's name and value.
    fn xattrs(&mut self, path: &[u8], fd: BorrowedFd<'_>) {
        let mut list = std::mem::take(&mut self.names);
        list.resize(XATTR_LIST_MAX, 0);
        let mut value = std::mem::take(&mut self.value);
        value.resize(XATTR_SIZE_MAX, 0);
        self.judge_xattrs(path, fd, &mut list, &mut value);
        self.names = list;
        self.value = value;
    }

    fn judge_xattrs(&mut self, path: &[u8], fd: BorrowedFd<'_>, list: &mut [u8], value: &mut [u8]) {
        let n = match crate::sys::list_xattrs(fd, list) {
            Ok(n) => n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENODATA)) => return,
            Err(e) => {
                let shown = self.shown(path);
                return self.unverifiable(
                    path,
                    format!("the task left {shown}, whose extended attributes orchestra could not list ({e}): they could not be judged for canaries"),
                );
            }
        };
        for name in list.get(..n).unwrap_or_default().split(|b| *b == 0).filter(|n| !n.is_empty()) {
            if let Some((t, _)) = self.matcher.find(name) {
                let source = t.source.clone();
                let shown = self.shown(path);
                self.leak(format!(
                    "the task left {shown} with an extended attribute whose name holds the canary planted as {source}"
                ));
            }
            let Ok(c) = std::ffi::CString::new(name) else { continue };
            match crate::sys::get_xattr(fd, &c, value) {
                Ok(len) => {
                    if let Some((t, _)) = self.matcher.find(value.get(..len).unwrap_or_default()) {
                        let source = t.source.clone();
                        let (shown, name_shown) = (self.shown(path), self.shown(name));
                        self.leak(format!(
                            "the task left {shown} with the extended attribute {name_shown} whose value holds the canary planted as {source}"
                        ));
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
                Err(e) => {
                    let (shown, name_shown) = (self.shown(path), self.shown(name));
                    self.unverifiable(
                    path,
                    format!("the task left {shown}, whose extended attribute {name_shown} orchestra could not read ({e}): it could not be judged for canaries"),
                    )
                }
            }
        }
    }

    /// The file's content, within the bounds.
    fn content(&mut self, path: &[u8], file: std::fs::File) {
        let take = PER_FILE.min(self.budget);
        if take == 0 {
            return;
        }
        let mut r = file.take(take);
        let mut read: u64 = 0;
        let mut buf = std::mem::take(&mut self.buf);
        let searched = self.matcher.search_stream(&[], &mut buf, WINDOW, |out| {
            loop {
                match r.read(out) {
                    Ok(n) => {
                        read += n as u64;
                        return Ok(n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        });
        self.buf = buf;
        self.budget = self.budget.saturating_sub(read);
        match searched {
            // A listing of the environment (meson's test log, a debug dump
            // written to a file) holds the planted variables as it holds
            // the rest: not a leak, but only those values behind their own
            // names are let through; anything else it holds is (SECURITY.md
            // §2.3.1).
            Ok(Searched::Found(t, _)) => {
                let source = if t.source.starts_with('$') {
                    self.beyond_listing(r.into_inner()).unwrap_or_else(|| Some(t.source.clone()))
                } else {
                    Some(t.source.clone())
                };
                if let Some(source) = source {
                    let shown = self.shown(path);
                    self.leak(format!("the task wrote the canary planted as {source} into {shown}"));
                }
            }
            Ok(Searched::Clean(_)) => {}
            Err(e) => {
                let shown = self.shown(path);
                self.unverifiable(
                    path,
                    format!(
                        "the task left {shown}, which orchestra could not read ({e}): it could not be judged for canaries"
                    ),
                )
            }
        }
    }
}

impl Judge {
    /// When `file` (read again from its start, up to [`PER_FILE`] bytes) is
    /// a listing of the task's environment, the source of a canary it holds
    /// besides the listing's own entries (`Some(None)`: nothing else);
    /// `None`: no listing (or it could not be read again), so the first value
    /// found stands.
    ///
    /// A listing holds every planted variable's value behind its own name,
    /// as an [`Entry`] (`env`, `declare -x`, JSON, YAML, TOML/INI, Python's
    /// `os.environ` and `os.environb`, Perl's `Data::Dumper`, Node's
    /// `util.inspect`: review 85 FP2, review 86 FP1), and such an entry counts
    /// only with entries of `PATH` and `HOME` (which every task's environment
    /// has) written the same way within [`NEAR`] bytes of it: a Dockerfile's
    /// `ENV GITHUB_TOKEN=…` or a request's `GITHUB_TOKEN: …` header next to a
    /// `CLASSPATH=` is no listing (review 86 FN1). Each value is let through
    /// only at such entries; a value anywhere else in the file, under another
    /// name or on its own, and every file canary are found as in any file.
    fn beyond_listing(&self, mut file: std::fs::File) -> Option<Option<String>> {
        use std::io::Seek as _;
        let vars: Vec<(&str, &str)> =
            self.tokens.iter().filter_map(|t| Some((t.source.strip_prefix('$')?, t.value.as_str()))).collect();
        if vars.is_empty() || file.seek(std::io::SeekFrom::Start(0)).is_err() {
            return None;
        }
        let mut bytes = Vec::new();
        if file.take(PER_FILE).read_to_end(&mut bytes).is_err() {
            return None;
        }
        let spans = listed_values(&bytes, &vars)?;
        for (from, to) in spans {
            if let Some(span) = bytes.get_mut(from..to) {
                span.fill(0);
            }
        }
        Some(self.matcher.find(&bytes).map(|(t, _)| t.source.clone()))
    }
}

/// A listing's entries of the planted variables (`vars`: name, value) count
/// only with entries of `PATH` and `HOME` in the same form this near.
const NEAR: usize = 64 << 10;

/// Where each value of `vars` stands as the value of a listing's entry of
/// its own name (the value's bytes), see [`Judge::beyond_listing`]; `None`
/// when a variable has no such entry (no listing).
fn listed_values(bytes: &[u8], vars: &[(&str, &str)]) -> Option<Vec<(usize, usize)>> {
    let path = entries(bytes, "PATH");
    let home = entries(bytes, "HOME");
    let near = |at: usize, form: Form, others: &[(Entry, usize)]| {
        others.iter().any(|(e, n)| e.form == form && n.abs_diff(at) <= NEAR)
    };
    let mut spans = Vec::new();
    for (name, value) in vars {
        let before = spans.len();
        for (e, at) in entries(bytes, name) {
            let holds = bytes.get(e.value..).is_some_and(|v| v.starts_with(value.as_bytes()));
            if holds && near(at, e.form, &path) && near(at, e.form, &home) {
                spans.push((e.value, e.value + value.len()));
            }
        }
        if spans.len() == before {
            return None;
        }
    }
    Some(spans)
}

/// How a listing writes its entries: what is compared between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Form {
    /// The quote around the name (`"NAME"`, `'NAME'`, `b'NAME'`), if any.
    quote: Option<u8>,
    /// `=`, `:` or `=>`.
    sep: Sep,
}

/// The separator between a name and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// `NAME=value`, `NAME = "value"`.
    Equals,
    /// `"NAME": "value"`, `NAME: value`, `'NAME': 'value'`.
    Colon,
    /// Perl's `'NAME' => 'value'`.
    Arrow,
    /// A quoted name's tuple, Python's `('NAME', 'value')` (`sorted(os.environ.items())`).
    Comma,
    /// Blanks with a tab among them and nothing else: `NAME\tvalue` (review 87 FP2).
    Tab,
}

/// One entry `NAME SEP VALUE` of a listing: the name itself (quoted, with
/// its own closing quote, or not the end of a longer name), blanks, the
/// separator, blanks, and where the value starts, past its opening quote
/// (`'`, `"`, or Python's bytes `b'`/`b"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    form: Form,
    /// Where the value starts.
    value: usize,
}

/// Every entry of `name` in `bytes`, with where its name starts.
fn entries(bytes: &[u8], name: &str) -> Vec<(Entry, usize)> {
    memchr::memmem::find_iter(bytes, name.as_bytes())
        .filter_map(|at| entry_at(bytes, at, name.len()).map(|e| (e, at)))
        .collect()
}

/// The entry whose name is the `len` bytes at `at`, if they are one.
fn entry_at(bytes: &[u8], at: usize, len: usize) -> Option<Entry> {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let quote = |b: u8| b == b'"' || b == b'\'';
    let before = at.checked_sub(1).and_then(|i| bytes.get(i).copied());
    let mut i = at + len;
    // Quoted when the same quote closes the name; a quote without its
    // match only delimits it, like any other byte that is no name's.
    let quoted = before.filter(|b| quote(*b) && bytes.get(i) == Some(b));
    match quoted {
        Some(_) => i += 1,
        None if before.is_some_and(ident) => return None,
        None => {}
    }
    let blanks = |mut i: usize| {
        while bytes.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        i
    };
    let name_end = i;
    i = blanks(i);
    let sep = match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b'='), Some(b'>')) => {
            i += 2;
            Sep::Arrow
        }
        (Some(b'='), _) => {
            i += 1;
            Sep::Equals
        }
        (Some(b':'), _) => {
            i += 1;
            Sep::Colon
        }
        (Some(b','), _) if quoted.is_some() => {
            i += 1;
            Sep::Comma
        }
        _ if bytes[name_end..i].contains(&b'\t') => Sep::Tab,
        _ => return None,
    };
    i = blanks(i);
    match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b'b'), Some(q)) if quote(*q) => i += 2,
        (Some(q), _) if quote(*q) => i += 1,
        _ => {}
    }
    Some(Entry { form: Form { quote: quoted, sep }, value: i })
}

/// Open the inode behind `pinned` for reading (through its `/proc/self/fd`
/// link: that very inode, with the usual permission checks).
fn reopen(pinned: &OwnedFd, dir: bool) -> Result<std::fs::File, nix::errno::Errno> {
    let link = format!("/proc/self/fd/{}", pinned.as_raw_fd());
    let mut flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    if dir {
        flags |= OFlag::O_DIRECTORY;
    }
    let fd = nix::fcntl::open(link.as_str(), flags, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests;
