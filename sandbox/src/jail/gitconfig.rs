//! A strict reader of git config files, and the judge of a task's change to
//! a protected one (`.git/config`, `.git/config.worktree`, a submodule's):
//! what `git checkout -b x origin/x`, `git branch -u`, `git push -u`, `git
//! remote add`, `git submodule deinit` and `git sparse-checkout` write.
//!
//! Guarantees:
//! - [`parse`] accepts only a part of git's config syntax, the part git
//!   itself writes, and reads every entry of it as git reads it:
//!   `[section]` and `[section "subsection"]` headers alone on their line
//!   (section names of `[A-Za-z0-9-]`, compared lower-cased; subsections
//!   kept as written, case and all, any letter, with the escapes git writes
//!   there, `\"` and `\\`), `key = value` and bare `key` lines (keys of
//!   `[A-Za-z0-9-]` starting with a letter, lower-cased), values as git's
//!   `parse_value` reads them (double-quoted parts, the escapes `\"`, `\\`,
//!   `\t`, `\n`, `\b`, spaces kept inside and trimmed at the ends),
//!   whole-line and trailing `#`/`;` comments. Anything else is an error,
//!   never a guess: non-UTF-8, a NUL or any other control character but the
//!   tab, a backslash anywhere else (continued lines, an escape git refuses
//!   or does not write there, one in a comment), a quote left open, an
//!   unquoted tab inside a value (git before 2.46 reads it as a space, later
//!   ones as a tab), the deprecated `[section.subsection]` form, text after
//!   a header, an `include` or `includeIf` section, a key before any section;
//! - [`judge`] allows a change of the config a task started with only when
//!   both texts parse, the entries no task may change ([`changeable`] is
//!   false) are the same in the same order but for some [`removable`] ones
//!   gone (every value of their name), and every entry the new text adds
//!   (counted as a multiset) is a changeable one with a value
//!   [`value_allowed`] accepts. Changeable are `branch.<name>.remote|merge|rebase`,
//!   `remote.<name>.fetch|push|tagopt`, and `remote.<name>.url|pushurl`
//!   only for a remote the task started without (a `git remote add`):
//!   names of places and refs, none of which git runs (URLs naming a
//!   transport helper, `::`, or an unknown scheme, or starting with `-`,
//!   are refused; refs with no control character, space, `\ ~ ? [` or
//!   leading `-`); and what `git sparse-checkout` writes,
//!   `core.sparseCheckout`, `core.sparseCheckoutCone` (`true`, `false`),
//!   `index.sparse` (`false`), `extensions.worktreeConfig` (`true`, in a
//!   repository's own config only, never removed). Entries of those keys may
//!   also go. In a `config.worktree` ([`Kind::Worktree`]) only the sparse
//!   switches are changeable. Removable are what `git submodule deinit`
//!   removes: `submodule.<name>.*` and, in a submodule's own config,
//!   `core.worktree`: removals that name no code;
//! - no task redirects the host's later `git fetch`, `pull` or `push`: the
//!   URLs of a remote the config had are never added, changed, reordered or
//!   removed, and a branch's `remote` may only name a remote the config had
//!   (or `.`, the repository itself), never a URL or a remote the task
//!   added, so a branch never tracks a place the task chose. The judge is
//!   always given the config as it was when the task started (an absent
//!   `config.worktree`: empty): two changes, each allowed on its own, never
//!   add up to one that is not.

/// One setting of a config file: section and key lower-cased, the
/// subsection as written; `None` for a bare key (git's boolean `true`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The section's name, lower-cased.
    pub section: String,
    /// The subsection of a `[section "subsection"]` header.
    pub subsection: Option<String>,
    /// The key, lower-cased.
    pub key: String,
    /// The value, as git reads it; `None` for a key with no `=`.
    pub value: Option<String>,
}

impl Entry {
    /// The entry's name as `git config` spells it (no value: it may hold a
    /// credential).
    pub fn name(&self) -> String {
        match &self.subsection {
            Some(s) => format!("{}.{s}.{}", self.section, self.key),
            None => format!("{}.{}", self.section, self.key),
        }
    }
}

/// Why a text is outside what [`parse`] reads (its 1-based line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not UTF-8.
    #[error("line {0}: not UTF-8")]
    NotUtf8(usize),
    /// A NUL or another control character (a tab aside).
    #[error("line {0}: a control character")]
    Control(usize),
    /// A backslash but in the escapes git writes: a continued line, an
    /// escape git refuses or does not write, one in a comment.
    #[error("line {0}: a backslash")]
    Backslash(usize),
    /// A value's double quote left open.
    #[error("line {0}: a quote left open")]
    Quote(usize),
    /// An unquoted tab inside a value (git's versions read it apart).
    #[error("line {0}: a tab inside a value")]
    Tab(usize),
    /// A section header outside `[name]` and `[name "subsection"]`.
    #[error("line {0}: a section header of an unusual form")]
    Header(usize),
    /// The deprecated `[section.subsection]` form.
    #[error("line {0}: a deprecated [section.subsection] header")]
    Deprecated(usize),
    /// An `include` or `includeIf` section: another file read as config.
    #[error("line {0}: an include section")]
    Include(usize),
    /// A line that is no header, comment or `key = value`.
    #[error("line {0}: not a setting")]
    Line(usize),
    /// A setting before any section header.
    #[error("line {0}: a setting outside any section")]
    NoSection(usize),
}

/// Why [`judge`] refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The config as it is does not parse strictly.
    #[error("the current config: {0}")]
    Old(ParseError),
    /// The new config does not parse strictly.
    #[error("the new config: {0}")]
    New(ParseError),
    /// A setting no task may change was added, removed, changed or moved.
    #[error("{0} may not be changed by a task")]
    Fixed(String),
    /// A changeable setting got a value that is not allowed.
    #[error("{0}: a value a task may not set")]
    Value(String),
    /// A branch's remote names no remote the config had when the task
    /// started (a URL, or a remote the task added).
    #[error("{0}: names no remote the config had before the task (a branch may track only those, or .)")]
    NewRemote(String),
}

/// The lines of `text` as [`Entry`]s, or why the text is outside the strict
/// subset (see the module doc).
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = text.get(..e.valid_up_to()).unwrap_or_default().iter().filter(|b| **b == b'\n').count();
        ParseError::NotUtf8(line + 1)
    })?;
    let mut out = Vec::new();
    let mut section: Option<(String, Option<String>)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        if raw.chars().any(|c| (c.is_control() && c != '\t') || c == '\u{7f}') {
            return Err(ParseError::Control(n));
        }
        let line = raw.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with(['#', ';']) {
            if line.contains('\\') {
                return Err(ParseError::Backslash(n));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            section = Some(header(rest, n)?);
            continue;
        }
        let (key, value) = setting(line, n)?;
        let Some((sec, sub)) = &section else { return Err(ParseError::NoSection(n)) };
        out.push(Entry { section: sec.clone(), subsection: sub.clone(), key, value });
    }
    Ok(out)
}

/// Whether `c` may be part of a section or key name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// A header's section and subsection; `rest` follows the `[`. A subsection
/// is read as git reads it, with the escapes git writes in one (`\"` and
/// `\\`); any other backslash is refused.
fn header(rest: &str, n: usize) -> Result<(String, Option<String>), ParseError> {
    let end = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    if name.is_empty() {
        return Err(ParseError::Header(n));
    }
    let (sub, after) = if let Some(a) = after.strip_prefix(']') {
        (None, a)
    } else if after.starts_with('.') {
        return Err(ParseError::Deprecated(n));
    } else if after.starts_with([' ', '\t']) {
        let quoted = after.trim_start_matches([' ', '\t']).strip_prefix('"').ok_or(ParseError::Header(n))?;
        let mut sub = String::new();
        let mut chars = quoted.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err(ParseError::Header(n)),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, c @ ('"' | '\\'))) => sub.push(c),
                    _ => return Err(ParseError::Backslash(n)),
                },
                Some((_, c)) => sub.push(c),
            }
        };
        let a = quoted.get(close + 1..).unwrap_or_default();
        (Some(sub), a.strip_prefix(']').ok_or(ParseError::Header(n))?)
    } else {
        return Err(ParseError::Header(n));
    };
    if !after.trim_matches([' ', '\t']).is_empty() {
        return Err(ParseError::Header(n));
    }
    if after.contains('\\') {
        return Err(ParseError::Backslash(n));
    }
    let name = name.to_ascii_lowercase();
    if name == "include" || name == "includeif" {
        return Err(ParseError::Include(n));
    }
    Ok((name, sub))
}

/// A `key`, `key = value` line's key (lower-cased) and value.
fn setting(line: &str, n: usize) -> Result<(String, Option<String>), ParseError> {
    if !line.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(ParseError::Line(n));
    }
    let end = line.find(|c: char| !name_char(c)).unwrap_or(line.len());
    let (key, after) = line.split_at(end);
    let after = after.trim_start_matches([' ', '\t']);
    let value = if after.is_empty() {
        None
    } else if let Some(v) = after.strip_prefix('=') {
        Some(value(v, n)?)
    } else if after.contains('\\') {
        return Err(ParseError::Backslash(n));
    } else {
        return Err(ParseError::Line(n));
    };
    Ok((key.to_ascii_lowercase(), value))
}

/// A value (what follows the `=`) as git's `parse_value` reads it: double
/// quotes toggle a quoted part (where `#`, `;` and spaces are kept), `\"`,
/// `\\`, `\t`, `\n` and `\b` are escapes, unquoted spaces and tabs go at
/// either end, a `#` or `;` outside quotes starts a comment. Refused: a
/// backslash at the line's end (a continued line) or before any other
/// character (git refuses those too), a backslash in the comment, a quote
/// left open, and an unquoted tab inside the value (git before 2.46 reads
/// it as a space, later ones as a tab: no one reading).
fn value(v: &str, n: usize) -> Result<String, ParseError> {
    let mut out = String::new();
    let (mut quote, mut trim_len, mut tabs) = (false, 0usize, Vec::new());
    let mut chars = v.char_indices();
    while let Some((i, c)) = chars.next() {
        if matches!(c, ' ' | '\t') && !quote {
            if trim_len == 0 {
                trim_len = out.len();
            }
            if !out.is_empty() {
                if c == '\t' {
                    tabs.push(out.len());
                }
                out.push(c);
            }
            continue;
        }
        if !quote && matches!(c, '#' | ';') {
            if v.get(i..).unwrap_or_default().contains('\\') {
                return Err(ParseError::Backslash(n));
            }
            break;
        }
        trim_len = 0;
        match c {
            '\\' => out.push(match chars.next() {
                Some((_, 't')) => '\t',
                Some((_, 'b')) => '\u{8}',
                Some((_, 'n')) => '\n',
                Some((_, e @ ('\\' | '"'))) => e,
                _ => return Err(ParseError::Backslash(n)),
            }),
            '"' => quote = !quote,
            c => out.push(c),
        }
    }
    if quote {
        return Err(ParseError::Quote(n));
    }
    if trim_len > 0 {
        out.truncate(trim_len);
    }
    if tabs.iter().any(|t| *t < out.len()) {
        return Err(ParseError::Tab(n));
    }
    Ok(out)
}

/// The names of the remotes `entries` hold settings of (any key).
pub fn remotes(entries: &[Entry]) -> std::collections::BTreeSet<&str> {
    entries.iter().filter(|e| e.section == "remote").filter_map(|e| e.subsection.as_deref()).collect()
}

/// Whether `e` is what `git sparse-checkout` (`set`, `init --cone`,
/// `disable`) writes: switches of which files are checked out, no code.
/// Only `index.sparse` off: a sparse index is one the host's check does
/// not read.
fn sparse(e: &Entry) -> bool {
    e.subsection.is_none()
        && matches!(
            (e.section.as_str(), e.key.as_str()),
            ("core", "sparsecheckout" | "sparsecheckoutcone") | ("index", "sparse")
        )
}

/// Whether `e` is `extensions.worktreeConfig`: with it git reads
/// `config.worktree` (protected, judged as a config) too.
fn worktree_extension(e: &Entry) -> bool {
    e.subsection.is_none() && (e.section.as_str(), e.key.as_str()) == ("extensions", "worktreeconfig")
}

/// Whether a task may add or remove `e` (its value judged apart) in a
/// config of `kind`, when the config it started with had the remotes
/// `had`: a remote's URLs only for a remote it did not have, not named
/// `origin`, beside at least one it had. In a `config.worktree`, only what
/// `git sparse-checkout` writes; `extensions.worktreeConfig` only in a
/// repository's own config (and never removed: [`judge`]).
pub fn changeable(e: &Entry, had: &std::collections::BTreeSet<&str>, kind: Kind) -> bool {
    if sparse(e) {
        return true;
    }
    if kind == Kind::Worktree {
        return false;
    }
    if worktree_extension(e) {
        return kind == Kind::Repository;
    }
    let Some(sub) = e.subsection.as_deref() else { return false };
    match e.section.as_str() {
        "branch" => matches!(e.key.as_str(), "remote" | "merge" | "rebase"),
        "remote" => match e.key.as_str() {
            "fetch" | "push" | "tagopt" => true,
            // Never the remote a bare `git fetch`/`push` picks: `origin`,
            // or the only one (git uses a config's single remote): so a new
            // remote only beside one the config had (review 74, F1).
            "url" | "pushurl" => !had.contains(sub) && sub != "origin" && !had.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

/// Whether a changeable entry's value may be set by a task.
pub fn value_allowed(e: &Entry) -> bool {
    let Some(v) = e.value.as_deref() else { return false };
    match (e.section.as_str(), e.key.as_str()) {
        // A branch's remote is judged by [`judge`]: a remote the config had.
        ("branch", "remote") => !v.is_empty(),
        ("remote", "url" | "pushurl") => url_allowed(v),
        ("branch", "merge") | ("remote", "fetch" | "push") => refspec_allowed(v),
        ("branch", "rebase") => matches!(v, "true" | "false" | "merges" | "interactive"),
        ("remote", "tagopt") => matches!(v, "--no-tags" | "--tags"),
        ("core", "sparsecheckout" | "sparsecheckoutcone") => matches!(v, "true" | "false"),
        ("index", "sparse") => v == "false",
        ("extensions", "worktreeconfig") => v == "true",
        _ => false,
    }
}

/// A URL or path git reaches with a transport of its own: no helper
/// (`<helper>::<address>`), no scheme but git's (an unknown one runs
/// `git-remote-<scheme>`), not read as an option.
pub fn url_allowed(v: &str) -> bool {
    const SCHEMES: [&str; 7] = ["http", "https", "ssh", "git", "file", "git+ssh", "ssh+git"];
    if v.is_empty() || v.starts_with('-') || v.contains("::") {
        return false;
    }
    match v.split_once("://") {
        Some((scheme, _)) => SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)),
        None => true,
    }
}

/// A ref name or refspec as git allows one in a branch's name (any
/// letter, `#`, `,`, `;`, `"`: git quotes and escapes them in the file),
/// not read as an option: not starting with `-`, no control character, no
/// space, none of `\ ~ ? [` (git's ref names have none).
fn refspec_allowed(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with('-')
        && !v.chars().any(|c| c.is_control() || c.is_whitespace() || "\\~?[".contains(c))
}

/// Whether `a` and `b` are values of one setting.
fn same_name(a: &Entry, b: &Entry) -> bool {
    (&a.section, &a.subsection, &a.key) == (&b.section, &b.subsection, &b.key)
}

/// Whose config a config file is: it decides what a task may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A repository's own (`.git/config`).
    Repository,
    /// A submodule's git directory's, below a `.git/modules`.
    Module,
    /// A `config.worktree` (read by git with `extensions.worktreeConfig`).
    Worktree,
}

impl Kind {
    /// The kind of the config at `path`: [`Kind::Worktree`] for a file
    /// named `config.worktree`, [`Kind::Module`] below a `.git/modules`
    /// (the last `.git` on its path followed by `modules`), else
    /// [`Kind::Repository`].
    pub fn of(path: &std::path::Path) -> Kind {
        if path.file_name() == Some(std::ffi::OsStr::new("config.worktree")) {
            return Kind::Worktree;
        }
        let parts: Vec<&std::ffi::OsStr> = path.components().map(|c| c.as_os_str()).collect();
        match parts.iter().rposition(|c| *c == ".git").and_then(|i| parts.get(i + 1)) {
            Some(next) if *next == "modules" => Kind::Module,
            _ => Kind::Repository,
        }
    }
}

/// Whether a task may remove `e` (and never add it) from a config of
/// `kind`: what `git submodule deinit` removes, a submodule's setting
/// (`submodule.<name>.url`, `active`, the whole section: git then treats
/// the submodule as not initialized) and, in the submodule's own config,
/// `core.worktree` (its work tree emptied, git dir unused until `git
/// submodule update` writes it again). A removal names no code to run.
/// Never a repository's own `core.worktree`: a relative `core.hooksPath`
/// or command is read from the work tree, which would move.
pub fn removable(e: &Entry, kind: Kind) -> bool {
    (e.section == "submodule" && e.subsection.is_some())
        || (kind == Kind::Module && e.section == "core" && e.subsection.is_none() && e.key == "worktree")
}

/// Whether changing a config from `old` (as it was when the task started)
/// to `new` is what a task may do (see the module doc), or why not.
pub fn judge(old: &[u8], new: &[u8], kind: Kind) -> Result<(), Refusal> {
    let old = parse(old).map_err(Refusal::Old)?;
    let new = parse(new).map_err(Refusal::New)?;
    let had = remotes(&old);
    let fixed = |v: &[Entry]| v.iter().filter(|e| !changeable(e, &had, kind)).cloned().collect::<Vec<_>>();
    // `extensions.worktreeConfig` may come, never go or change.
    let extension = |v: &[Entry]| v.iter().filter(|e| worktree_extension(e)).cloned().collect::<Vec<_>>();
    if !extension(&old).is_empty() && extension(&old) != extension(&new) {
        return Err(Refusal::Fixed("extensions.worktreeconfig".into()));
    }
    let (was, is) = (fixed(&old), fixed(&new));
    // `is` must be `was` less removable entries, in the same order (a
    // greedy match: an entry equal to the next one kept is kept).
    let mut kept = is.iter().peekable();
    for e in &was {
        if kept.peek() == Some(&e) {
            kept.next();
        } else if !removable(e, kind) || is.iter().any(|k| same_name(k, e)) {
            // A removal takes every value of a name (as `--unset-all` and
            // `--remove-section` do): an earlier value never comes back.
            return Err(Refusal::Fixed(e.name()));
        }
    }
    if let Some(added) = kept.next() {
        return Err(Refusal::Fixed(added.name()));
    }
    // What the new text adds: its changeable entries less the old ones.
    let mut before: Vec<&Entry> = old.iter().filter(|e| changeable(e, &had, kind)).collect();
    for e in new.iter().filter(|e| changeable(e, &had, kind)) {
        match before.iter().position(|b| *b == e) {
            Some(i) => {
                before.swap_remove(i);
            }
            None if !value_allowed(e) => return Err(Refusal::Value(e.name())),
            None if (e.section.as_str(), e.key.as_str()) == ("branch", "remote")
                && !matches!(e.value.as_deref(), Some(v) if v == "." || had.contains(v)) =>
            {
                return Err(Refusal::NewRemote(e.name()));
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\
        \tlogallrefupdates = true\n[remote \"origin\"]\n\turl = /tmp/up\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n\
        [branch \"master\"]\n\tremote = origin\n\tmerge = refs/heads/master\n";

    fn with(extra: &str) -> String {
        format!("{BASE}{extra}")
    }

    fn e(section: &str, sub: Option<&str>, key: &str, value: Option<&str>) -> Entry {
        Entry {
            section: section.into(),
            subsection: sub.map(Into::into),
            key: key.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn entries_are_read_as_git_reads_them() {
        let text =
            "; top\n[Core]\n  Bare=false # c\n\tname =  a   b \t;x\n\tflag\n[Remote \"Up Stream\"]\n\tURL = /p\n";
        assert_eq!(
            parse(text.as_bytes()).unwrap(),
            vec![
                e("core", None, "bare", Some("false")),
                e("core", None, "name", Some("a   b")),
                e("core", None, "flag", None),
                e("remote", Some("Up Stream"), "url", Some("/p")),
            ]
        );
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"[a]\nk = v").unwrap(), vec![e("a", None, "k", Some("v"))], "no final newline");
        assert_eq!(parse(b"[a]\nk =\n").unwrap(), vec![e("a", None, "k", Some(""))]);
    }

    #[test]
    fn anything_unusual_is_an_error() {
        let cases: [(&[u8], ParseError); 29] = [
            (b"[a]\nk = \xff\n", ParseError::NotUtf8(2)),
            (b"[a]\nk = v\0\n", ParseError::Control(2)),
            (b"[a]\r\nk = v\n", ParseError::Control(1)),
            (b"[a]\nk = v\x0b\n", ParseError::Control(2)),
            (b"[a]\nk = a\\\n b\n", ParseError::Backslash(2)),
            (b"[a \"x\\y\"]\n", ParseError::Backslash(1)),
            (b"# \\\n", ParseError::Backslash(1)),
            (b"[a]\nk = \"v\n", ParseError::Quote(2)),
            (b"[a]\nk = x \" ; y\n", ParseError::Quote(2)),
            (b"[a.b]\n", ParseError::Deprecated(1)),
            (b"[branch.x]\n\tremote = o\n", ParseError::Deprecated(1)),
            (b"[a] k = v\n", ParseError::Header(1)),
            (b"[a] # c\n", ParseError::Header(1)),
            (b"[ a]\n", ParseError::Header(1)),
            (b"[a \"b\" ]\n", ParseError::Header(1)),
            (b"[a\"b\"]\n", ParseError::Header(1)),
            (b"[a \"b]\n", ParseError::Header(1)),
            (b"[]\n", ParseError::Header(1)),
            (b"[include]\n\tpath = x\n", ParseError::Include(1)),
            (b"[IncludeIf \"gitdir:/\"]\n\tpath = x\n", ParseError::Include(1)),
            (b"k = v\n", ParseError::NoSection(1)),
            (b"[a]\n1k = v\n", ParseError::Line(2)),
            // Escapes git refuses, or does not write where they stand.
            (b"[a]\nk = \\x\n", ParseError::Backslash(2)),
            (b"[a]\nk = v\\\n", ParseError::Backslash(2)),
            (b"[a]\nk = v # \\\n", ParseError::Backslash(2)),
            (b"[a \"b\\\n\"]\n", ParseError::Backslash(1)),
            (b"[a \"b\"]\\\n", ParseError::Header(1)),
            (b"[a]\nk \\= v\n", ParseError::Backslash(2)),
            // An unquoted tab inside a value: git's versions read it apart.
            (b"[a]\nk = x\ty\n", ParseError::Tab(2)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(want.clone()), "{}", String::from_utf8_lossy(text));
        }
        assert_eq!(parse(b"[a]\nk_x = v\n"), Err(ParseError::Line(2)));
        assert_eq!(parse(b"[a]\nk : v\n"), Err(ParseError::Line(2)));
        assert_eq!(parse(b"\xef\xbb\xbf[a]\n"), Err(ParseError::Line(1)), "a byte order mark");
    }

    #[test]
    fn ordinary_branch_and_remote_changes_are_allowed() {
        let old = BASE.as_bytes();
        for new in [
            // git checkout -b feat origin/feat, git switch -c y --track origin/feat
            with("[branch \"feat\"]\n\tremote = origin\n\tmerge = refs/heads/feat\n"),
            // git remote add up2 /some/path
            with("[remote \"up2\"]\n\turl = /some/path\n\tfetch = +refs/heads/*:refs/remotes/up2/*\n"),
            with(
                "[remote \"gh\"]\n\turl = https://github.com/o/r.git\n\tpushurl = git@github.com:o/r.git\n\ttagopt = --no-tags\n\tpush = refs/heads/main\n",
            ),
            with("[branch \"x\"]\n\trebase = merges\n"),
            // git branch --unset-upstream
            BASE.replace("\tremote = origin\n\tmerge = refs/heads/master\n", ""),
            // git checkout -b x --track master: the repository itself
            with("[branch \"x\"]\n\tremote = .\n\tmerge = refs/heads/master\n"),
            // git remote set-branches origin main: what origin fetches, not where from
            BASE.replace(
                "fetch = +refs/heads/*:refs/remotes/origin/*",
                "fetch = +refs/heads/main:refs/remotes/origin/main",
            ),
        ] {
            assert_eq!(judge(old, new.as_bytes(), Kind::Repository), Ok(()), "{new}");
        }
        // git branch -u up2/master, up2 a remote the config had: a value changed.
        let old = with("[remote \"up2\"]\n\turl = /p\n");
        let new = old.replace("remote = origin", "remote = up2");
        assert_eq!(judge(old.as_bytes(), new.as_bytes(), Kind::Repository), Ok(()));
        // A host config that already holds a helper URL stays as it is.
        let old = with("[remote \"hg\"]\n\turl = hg::https://x\n");
        assert_eq!(
            judge(old.as_bytes(), format!("{old}[branch \"b\"]\n\tremote = hg\n").as_bytes(), Kind::Repository),
            Ok(())
        );
    }

    #[test]
    fn every_other_change_is_refused() {
        let old = BASE.as_bytes();
        let fixed = |n: &str| Err(Refusal::Fixed(n.into()));
        let value = |n: &str| Err(Refusal::Value(n.into()));
        let new_remote = |n: &str| Err(Refusal::NewRemote(n.into()));
        let cases: Vec<(String, Result<(), Refusal>)> = vec![
            (with("[core]\n\tfsmonitor = touch /tmp/m\n"), fixed("core.fsmonitor")),
            (with("[branch \"x\"]\n\tremote = origin\n[core]\n\thooksPath = hooks\n"), fixed("core.hookspath")),
            (with("[remote \"x\"]\n\turl = /p\n\tuploadpack = touch m\n"), fixed("remote.x.uploadpack")),
            (with("[remote \"x\"]\n\treceivepack = sh\n"), fixed("remote.x.receivepack")),
            (with("[remote \"x\"]\n\tproxy = x\n"), fixed("remote.x.proxy")),
            (with("[remote \"x\"]\n\tvcs = x\n"), fixed("remote.x.vcs")),
            (with("[alias]\n\tst = !touch m\n"), fixed("alias.st")),
            (with("[submodule \"s\"]\n\tupdate = !touch m\n"), fixed("submodule.s.update")),
            (with("[filter \"f\"]\n\tclean = touch m\n"), fixed("filter.f.clean")),
            (with("[credential]\n\thelper = !touch m\n"), fixed("credential.helper")),
            (with("[branch]\n\tremote = x\n"), fixed("branch.remote")),
            (with("[branch \"x\"]\n\tdescription = d\n"), fixed("branch.x.description")),
            (BASE.replace("bare = false", "bare = true"), fixed("core.bare")),
            (BASE.replace("\tbare = false\n", ""), fixed("core.bare")),
            (
                BASE.replace("\tfilemode = true\n\tbare = false\n", "\tbare = false\n\tfilemode = true\n"),
                fixed("core.filemode"),
            ),
            (with("[remote \"x\"]\n\turl = ext::sh -c touch% m\n"), value("remote.x.url")),
            (with("[remote \"x\"]\n\turl = fd::7\n"), value("remote.x.url")),
            (with("[remote \"x\"]\n\turl = evil://h/r\n"), value("remote.x.url")),
            (with("[remote \"x\"]\n\tpushurl = --upload-pack=touch m\n"), value("remote.x.pushurl")),
            (with("[remote \"x\"]\n\turl\n"), value("remote.x.url")),
            (with("[branch \"x\"]\n\tremote = ext::sh\n"), new_remote("branch.x.remote")),
            (with("[branch \"x\"]\n\tremote = /elsewhere\n"), new_remote("branch.x.remote")),
            (with("[branch \"x\"]\n\tremote = https://h/r\n"), new_remote("branch.x.remote")),
            (with("[branch \"x\"]\n\tremote =\n"), value("branch.x.remote")),
            // git remote set-url origin /elsewhere, --add, --push; git remote remove origin
            (BASE.replace("url = /tmp/up", "url = /elsewhere"), fixed("remote.origin.url")),
            (BASE.replace("\turl = /tmp/up\n", "\turl = /tmp/up\n\turl = /elsewhere\n"), fixed("remote.origin.url")),
            (BASE.replace("\turl = /tmp/up\n", "\turl = /elsewhere\n\turl = /tmp/up\n"), fixed("remote.origin.url")),
            (with("[remote \"origin\"]\n\tpushurl = /elsewhere\n"), fixed("remote.origin.pushurl")),
            (
                BASE.replace("\turl = /tmp/up\n", "\tpushurl = /elsewhere\n\turl = /tmp/up\n"),
                fixed("remote.origin.url"),
            ),
            (
                BASE.replace(
                    "[remote \"origin\"]\n\turl = /tmp/up\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
                    "",
                ),
                fixed("remote.origin.url"),
            ),
            // git remote add evil X && git branch -u evil/master
            (
                BASE.replace("remote = origin", "remote = evil")
                    + "[remote \"evil\"]\n\turl = /x\n\tfetch = +refs/heads/*:refs/remotes/evil/*\n",
                new_remote("branch.master.remote"),
            ),
            (with("[branch \"x\"]\n\trebase = yes\n"), value("branch.x.rebase")),
            (with("[branch \"x\"]\n\tmerge = refs/heads/$(touch m)\n"), value("branch.x.merge")),
            (with("[remote \"x\"]\n\tfetch = -x\n"), value("remote.x.fetch")),
            (with("[remote \"x\"]\n\ttagopt = --upload-pack=x\n"), value("remote.x.tagopt")),
            (with("[include]\n\tpath = ../x\n"), Err(Refusal::New(ParseError::Include(12)))),
            (with("[branch \"x\"]\n\tremote = a\\\n\n"), Err(Refusal::New(ParseError::Backslash(13)))),
            (with("[branch.x]\n\tremote = origin\n"), Err(Refusal::New(ParseError::Deprecated(12)))),
            (with("[branch \"x\"] fsmonitor = m\n"), Err(Refusal::New(ParseError::Header(12)))),
        ];
        for (new, want) in cases {
            assert_eq!(judge(old, new.as_bytes(), Kind::Repository), want, "{new}");
        }
        // Two changes, each allowed from the config before it, judged from
        // the config the task started with: a branch never tracks a remote
        // the task added.
        let added = with("[remote \"evil\"]\n\turl = /x\n");
        let tracked = added.replace("remote = origin", "remote = evil");
        assert_eq!(judge(old, added.as_bytes(), Kind::Repository), Ok(()));
        assert_eq!(judge(added.as_bytes(), tracked.as_bytes(), Kind::Repository), Ok(()), "evil was had");
        assert_eq!(judge(old, tracked.as_bytes(), Kind::Repository), new_remote("branch.master.remote"));
        // A remote the task added may be pointed elsewhere again.
        assert_eq!(judge(old, added.replace("/x", "/y").as_bytes(), Kind::Repository), Ok(()));
        // A current config outside the subset is never judged.
        let odd = with("[alias]\n\tlg = log \\\n\t--graph\n");
        assert_eq!(
            judge(odd.as_bytes(), odd.as_bytes(), Kind::Repository),
            Err(Refusal::Old(ParseError::Backslash(13)))
        );
        // A subsection is compared as written: `[Remote "X"]` names another remote than x.
        let old = with("[remote \"x\"]\n\tuploadpack = git-upload-pack\n");
        let new = old.replace("[remote \"x\"]", "[remote \"X\"]");
        assert_eq!(judge(old.as_bytes(), new.as_bytes(), Kind::Repository), fixed("remote.x.uploadpack"));
        // Section and key names are compared lower-cased, as git does.
        let new = old.replace("[remote \"x\"]\n\tuploadpack", "[REMOTE \"x\"]\n\tUploadPack");
        assert_eq!(judge(old.as_bytes(), new.as_bytes(), Kind::Repository), Ok(()));
    }

    #[test]
    fn quotes_and_escapes_are_read_as_git_reads_them() {
        // What git writes for branch names with `#`, `;`, `"`, and any letter.
        let text = "[branch \"a#b\"]\n\tmerge = \"refs/heads/a#b\"\n[branch \"a\\\"b\\\\c\"]\n\tmerge = refs/heads/a\\\"b\n\
            [branch \"naïve 修正\"]\n\tmerge = refs/heads/naïve\n";
        assert_eq!(
            parse(text.as_bytes()).unwrap(),
            vec![
                e("branch", Some("a#b"), "merge", Some("refs/heads/a#b")),
                e("branch", Some("a\"b\\c"), "merge", Some("refs/heads/a\"b")),
                e("branch", Some("naïve 修正"), "merge", Some("refs/heads/naïve")),
            ]
        );
        // A value: quoted parts keep `#`, `;` and spaces; escapes; comments;
        // spaces kept inside, trimmed at both ends; a tab at either end goes.
        let cases: [(&str, &str); 12] = [
            ("\"a#b\" c\\\"d ;z", "a#b c\"d"),
            ("\" lead\"", " lead"),
            ("x  \"\" ", "x  "),
            ("a   b \t", "a   b"),
            ("\ta b", "a b"),
            ("\"a\tb\"", "a\tb"),
            ("a\\tb\\nc\\bd", "a\tb\nc\u{8}d"),
            ("\\\\", "\\"),
            ("x;y", "x"),
            ("\"x;y\"#z", "x;y"),
            ("", ""),
            ("\"\"", ""),
        ];
        for (v, want) in cases {
            let text = format!("[a]\n\tk = {v}\n");
            assert_eq!(parse(text.as_bytes()).unwrap(), vec![e("a", None, "k", Some(want))], "{v}");
        }
        // Subsections: only `\"` and `\\` (what git writes); text after is refused.
        assert_eq!(parse(b"[a \"x\\\"]\"]\n").unwrap(), vec![], "git reads the subsection x\"]");
        assert_eq!(
            parse(b"[branch \"a\\\"] [core\"]\n\tfsmonitor = m\n").unwrap(),
            vec![e("branch", Some("a\"] [core"), "fsmonitor", Some("m"))]
        );
        assert_eq!(parse(b"[a \"x\\\"] [core]\n"), Err(ParseError::Header(1)));
    }

    #[test]
    fn what_git_push_u_writes_for_any_branch_name_is_allowed_and_tricks_in_names_are_not() {
        let old = BASE.as_bytes();
        for name in ["naïve", "修正", "a#b", "a,b", "a;b", "a\"b", "x]y", "a b"] {
            // `git push -u origin <name>`, as git writes it.
            let sub = name.replace('\\', "\\\\").replace('"', "\\\"");
            let mut merge = format!("refs/heads/{name}").replace('\\', "\\\\").replace('"', "\\\"");
            if name.contains(['#', ';']) {
                merge = format!("\"{merge}\"");
            }
            let new = with(&format!("[branch \"{sub}\"]\n\tremote = origin\n\tmerge = {merge}\n"));
            let want = if name.contains(' ') { Err(Refusal::Value(format!("branch.{name}.merge"))) } else { Ok(()) };
            assert_eq!(judge(old, new.as_bytes(), Kind::Repository), want, "{new}");
        }
        let fixed = |n: &str| Err(Refusal::Fixed(n.into()));
        for (new, want) in [
            // A header hidden in a subsection is a subsection's name: the key is the branch's.
            (with("[branch \"x\\\"] [core\"]\n\tfsmonitor = touch m\n"), fixed("branch.x\"] [core.fsmonitor")),
            // A header after an escaped quote: text after a header, refused.
            (with("[branch \"x\\\"]\"] [core]\n\tfsmonitor = touch m\n"), Err(Refusal::New(ParseError::Header(12)))),
            // A quoted value that hides a setting: one value, refused as a ref.
            (
                with("[branch \"x\"]\n\tmerge = \"refs/heads/x\n[core]\n\tfsmonitor = touch m\"\n"),
                Err(Refusal::New(ParseError::Quote(13))),
            ),
            (
                with("[branch \"x\"]\n\tmerge = \"refs/heads/x\\n[core]\"\n"),
                Err(Refusal::Value("branch.x.merge".into())),
            ),
            (with("[branch \"x\"]\n\tmerge = refs/heads/x;\n[core]\n\tfsmonitor = m\n"), fixed("core.fsmonitor")),
            (with("[branch \"x\"]\n\tmerge = refs/heads/~x\n"), Err(Refusal::Value("branch.x.merge".into()))),
            (with("[branch \"x\"]\n\tmerge = \"-x\"\n"), Err(Refusal::Value("branch.x.merge".into()))),
        ] {
            assert_eq!(judge(old, new.as_bytes(), Kind::Repository), want, "{new}");
        }
    }

    #[test]
    fn a_submodule_deinit_may_remove_its_settings_and_nothing_else() {
        let sub = "[submodule \"lib\"]\n\turl = /up/lib\n\tactive = true\n";
        let old = with(sub);
        // `git submodule deinit -f lib`: the section goes; or one key.
        assert_eq!(judge(old.as_bytes(), BASE.as_bytes(), Kind::Repository), Ok(()));
        let one = old.replace("\tactive = true\n", "");
        assert_eq!(judge(old.as_bytes(), one.as_bytes(), Kind::Repository), Ok(()));
        // The module's own config loses its core.worktree.
        let module = "[core]\n\tbare = false\n\tworktree = ../../../lib\n[remote \"origin\"]\n\turl = /up/lib\n";
        let deinit = module.replace("\tworktree = ../../../lib\n", "");
        assert_eq!(judge(module.as_bytes(), deinit.as_bytes(), Kind::Module), Ok(()));
        assert_eq!(
            judge(module.as_bytes(), deinit.as_bytes(), Kind::Repository),
            Err(Refusal::Fixed("core.worktree".into())),
            "a repository's own work tree never moves"
        );
        assert_eq!(Kind::of(std::path::Path::new("/w/.git/modules/a/modules/b/config")), Kind::Module);
        assert_eq!(Kind::of(std::path::Path::new(".git/modules/lib/config")), Kind::Module);
        assert_eq!(Kind::of(std::path::Path::new("/w/.git/config")), Kind::Repository);
        assert_eq!(Kind::of(std::path::Path::new("/w/modules/.git/config")), Kind::Repository);
        assert_eq!(Kind::of(std::path::Path::new("/a/.git/modules/p/ws/.git/config")), Kind::Repository);
        // A removal that adds, changes or reorders anything else is refused.
        let fixed = |n: &str| Err(Refusal::Fixed(n.into()));
        for (new, want) in [
            (format!("{BASE}[core]\n\tfsmonitor = touch m\n"), fixed("core.fsmonitor")),
            (format!("{BASE}[submodule \"lib\"]\n\tupdate = !touch m\n"), fixed("submodule.lib.update")),
            (old.replace("active = true", "update = !touch m"), fixed("submodule.lib.update")),
            (old.replace("url = /up/lib", "url = /elsewhere"), fixed("submodule.lib.url")),
            (format!("{sub}{BASE}"), fixed("core.repositoryformatversion")),
            (BASE.replace("\tbare = false\n", ""), fixed("core.bare")),
        ] {
            assert_eq!(judge(old.as_bytes(), new.as_bytes(), Kind::Repository), want, "{new}");
        }
        // A removal takes every value of a name: an earlier one never comes back.
        let two = with("[submodule \"lib\"]\n\tupdate = !touch m\n\tupdate = checkout\n");
        let last_gone = two.replace("\tupdate = checkout\n", "");
        assert_eq!(judge(two.as_bytes(), last_gone.as_bytes(), Kind::Repository), fixed("submodule.lib.update"));
        assert_eq!(judge(two.as_bytes(), BASE.as_bytes(), Kind::Repository), Ok(()));
        // Nothing removed from a config that had none of them.
        assert_eq!(judge(BASE.as_bytes(), with(sub).as_bytes(), Kind::Repository), fixed("submodule.lib.url"));
    }

    #[test]
    fn what_git_sparse_checkout_writes_is_allowed_and_no_code_beside_it() {
        let worktree_on = with("[extensions]\n\tworktreeConfig = true\n");
        assert_eq!(judge(BASE.as_bytes(), worktree_on.as_bytes(), Kind::Repository), Ok(()));
        let set = "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = true\n";
        let disabled = "[core]\n\tsparseCheckout = false\n\tsparseCheckoutCone = false\n[index]\n\tsparse = false\n";
        for (old, new) in [("", set), (set, disabled), (disabled, set), ("", disabled)] {
            assert_eq!(judge(old.as_bytes(), new.as_bytes(), Kind::Worktree), Ok(()), "{old} -> {new}");
        }
        assert_eq!(judge(BASE.as_bytes(), with(set).as_bytes(), Kind::Repository), Ok(()), "an older git's init");
        let fixed = |n: &str| Err(Refusal::Fixed(n.into()));
        for (new, want) in [
            (format!("{set}\tfsmonitor = touch m\n"), fixed("core.fsmonitor")),
            (format!("{set}\thooksPath = /tmp/h\n"), fixed("core.hookspath")),
            (format!("{set}[include]\n\tpath = x\n"), Err(Refusal::New(ParseError::Include(4)))),
            (format!("{set}[branch \"x\"]\n\tremote = .\n"), fixed("branch.x.remote")),
            (format!("{set}[extensions]\n\tworktreeConfig = true\n"), fixed("extensions.worktreeconfig")),
            ("[index]\n\tsparse = true\n".into(), Err(Refusal::Value("index.sparse".into()))),
            ("[core]\n\tsparseCheckout = yes\n".into(), Err(Refusal::Value("core.sparsecheckout".into()))),
            ("[core]\n\tworktree = /elsewhere\n".into(), fixed("core.worktree")),
        ] {
            assert_eq!(judge(b"", new.as_bytes(), Kind::Worktree), want, "{new}");
        }
        // The extension: only `true`, only in a repository's own config, never gone.
        assert_eq!(
            judge(BASE.as_bytes(), with("[extensions]\n\tworktreeConfig = false\n").as_bytes(), Kind::Repository),
            Err(Refusal::Value("extensions.worktreeconfig".into()))
        );
        let module = "[core]\n\tbare = false\n";
        assert_eq!(
            judge(
                module.as_bytes(),
                format!("{module}[extensions]\n\tworktreeConfig = true\n").as_bytes(),
                Kind::Module
            ),
            fixed("extensions.worktreeconfig")
        );
        assert_eq!(
            judge(worktree_on.as_bytes(), BASE.as_bytes(), Kind::Repository),
            fixed("extensions.worktreeconfig")
        );
        assert_eq!(Kind::of(std::path::Path::new("/w/.git/config.worktree")), Kind::Worktree);
        assert_eq!(Kind::of(std::path::Path::new(".git/modules/lib/config.worktree")), Kind::Worktree);
    }
}
