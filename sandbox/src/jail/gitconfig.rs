//! A strict reader of git config files, and the judge of a task's change to
//! a protected one (`.git/config`, a submodule's config): what
//! `git checkout -b x origin/x`, `git branch -u`, `git remote add` write.
//!
//! Guarantees:
//! - [`parse`] accepts only a small part of git's config syntax, the part
//!   git itself writes for ordinary settings, and reads every entry of it as
//!   git reads it: `[section]` and `[section "subsection"]` headers alone on
//!   their line (section names of `[A-Za-z0-9-]`, compared lower-cased;
//!   subsections kept as written, case and all), `key = value` and bare
//!   `key` lines (keys of `[A-Za-z0-9-]` starting with a letter, lower-cased),
//!   whole-line and trailing `#`/`;` comments, spaces and tabs. Anything
//!   else is an error, never a guess: non-UTF-8, a NUL or any other control
//!   character but the tab, a backslash anywhere (escapes, continued lines),
//!   a double quote in a value, the deprecated `[section.subsection]` form,
//!   text after a header, an `include` or `includeIf` section, a key before
//!   any section;
//! - [`judge`] allows a change of the config a task started with only when
//!   both texts parse, the entries no task may change ([`changeable`] is
//!   false) are the same in the same order, and every entry the new text
//!   adds (counted as a multiset) is a changeable one with a value
//!   [`value_allowed`] accepts. Changeable are `branch.<name>.remote|merge|rebase`,
//!   `remote.<name>.fetch|push|tagopt`, and `remote.<name>.url|pushurl`
//!   only for a remote the task started without (a `git remote add`):
//!   names of places and refs, none of which git runs (URLs naming a
//!   transport helper, `::`, or an unknown scheme, or starting with `-`,
//!   are refused). Entries of those keys may also go;
//! - no task redirects the host's later `git fetch`, `pull` or `push`: the
//!   URLs of a remote the config had are never added, changed, reordered or
//!   removed, and a branch's `remote` may only name a remote the config had
//!   (or `.`, the repository itself), never a URL or a remote the task
//!   added, so a branch never tracks a place the task chose. The judge is
//!   always given the config as it was when the task started: two changes,
//!   each allowed on its own, never add up to one that is not.

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
    /// A backslash: an escape or a continued line.
    #[error("line {0}: a backslash")]
    Backslash(usize),
    /// A double quote in a value.
    #[error("line {0}: a quoted value")]
    Quote(usize),
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
        if raw.contains('\\') {
            return Err(ParseError::Backslash(n));
        }
        let line = raw.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with(['#', ';']) {
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

/// A header's section and subsection; `rest` follows the `[`.
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
        let (sub, a) = quoted.split_once('"').ok_or(ParseError::Header(n))?;
        (Some(sub.to_string()), a.strip_prefix(']').ok_or(ParseError::Header(n))?)
    } else {
        return Err(ParseError::Header(n));
    };
    if !after.trim_matches([' ', '\t']).is_empty() {
        return Err(ParseError::Header(n));
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
        if v.contains('"') {
            return Err(ParseError::Quote(n));
        }
        // A comment ends the value; spaces around it go, a tab inside is a space.
        let v = v.split(['#', ';']).next().unwrap_or_default();
        Some(v.trim_matches([' ', '\t']).replace('\t', " "))
    } else {
        return Err(ParseError::Line(n));
    };
    Ok((key.to_ascii_lowercase(), value))
}

/// The names of the remotes `entries` hold settings of (any key).
pub fn remotes(entries: &[Entry]) -> std::collections::BTreeSet<&str> {
    entries.iter().filter(|e| e.section == "remote").filter_map(|e| e.subsection.as_deref()).collect()
}

/// Whether a task may add or remove `e` (its value judged apart), when the
/// config it started with had the remotes `had`: a remote's URLs only for a
/// remote it did not have, not named `origin`, beside at least one it had.
pub fn changeable(e: &Entry, had: &std::collections::BTreeSet<&str>) -> bool {
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

/// A ref name or refspec: `[A-Za-z0-9/_.*:+^@-]`, not starting with `-`.
fn refspec_allowed(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('-') && v.chars().all(|c| c.is_ascii_alphanumeric() || "/_.*:+^@-".contains(c))
}

/// Whether changing a config from `old` (as it was when the task started)
/// to `new` is what a task may do (see the module doc), or why not.
pub fn judge(old: &[u8], new: &[u8]) -> Result<(), Refusal> {
    let old = parse(old).map_err(Refusal::Old)?;
    let new = parse(new).map_err(Refusal::New)?;
    let had = remotes(&old);
    let fixed = |v: &[Entry]| v.iter().filter(|e| !changeable(e, &had)).cloned().collect::<Vec<_>>();
    let (was, is) = (fixed(&old), fixed(&new));
    if was != is {
        // The first entry where they part: one changed or gone, or one added.
        let first = was
            .iter()
            .zip(&is)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a)
            .or_else(|| was.get(is.len()))
            .or_else(|| is.get(was.len()));
        return Err(Refusal::Fixed(first.map(Entry::name).unwrap_or_default()));
    }
    // What the new text adds: its changeable entries less the old ones.
    let mut before: Vec<&Entry> = old.iter().filter(|e| changeable(e, &had)).collect();
    for e in new.iter().filter(|e| changeable(e, &had)) {
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
        let text = "; top\n[Core]\n  Bare=false # c\n\tname =  a \t b ;x\n\tflag\n[Remote \"Up Stream\"]\n\tURL = /p\n";
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
        let cases: [(&[u8], ParseError); 22] = [
            (b"[a]\nk = \xff\n", ParseError::NotUtf8(2)),
            (b"[a]\nk = v\0\n", ParseError::Control(2)),
            (b"[a]\r\nk = v\n", ParseError::Control(1)),
            (b"[a]\nk = v\x0b\n", ParseError::Control(2)),
            (b"[a]\nk = a\\\n b\n", ParseError::Backslash(2)),
            (b"[a \"x\\\"]\"]\n", ParseError::Backslash(1)),
            (b"# \\\n", ParseError::Backslash(1)),
            (b"[a]\nk = \"v\"\n", ParseError::Quote(2)),
            (b"[a]\nk = x \" ; y\"\n", ParseError::Quote(2)),
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
            assert_eq!(judge(old, new.as_bytes()), Ok(()), "{new}");
        }
        // git branch -u up2/master, up2 a remote the config had: a value changed.
        let old = with("[remote \"up2\"]\n\turl = /p\n");
        let new = old.replace("remote = origin", "remote = up2");
        assert_eq!(judge(old.as_bytes(), new.as_bytes()), Ok(()));
        // A host config that already holds a helper URL stays as it is.
        let old = with("[remote \"hg\"]\n\turl = hg::https://x\n");
        assert_eq!(judge(old.as_bytes(), format!("{old}[branch \"b\"]\n\tremote = hg\n").as_bytes()), Ok(()));
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
            assert_eq!(judge(old, new.as_bytes()), want, "{new}");
        }
        // Two changes, each allowed from the config before it, judged from
        // the config the task started with: a branch never tracks a remote
        // the task added.
        let added = with("[remote \"evil\"]\n\turl = /x\n");
        let tracked = added.replace("remote = origin", "remote = evil");
        assert_eq!(judge(old, added.as_bytes()), Ok(()));
        assert_eq!(judge(added.as_bytes(), tracked.as_bytes()), Ok(()), "evil was had");
        assert_eq!(judge(old, tracked.as_bytes()), new_remote("branch.master.remote"));
        // A remote the task added may be pointed elsewhere again.
        assert_eq!(judge(old, added.replace("/x", "/y").as_bytes()), Ok(()));
        // A current config outside the subset is never judged.
        let odd = with("[alias]\n\tlg = \"log --graph\"\n");
        assert_eq!(judge(odd.as_bytes(), odd.as_bytes()), Err(Refusal::Old(ParseError::Quote(13))));
        // A subsection is compared as written: `[Remote "X"]` names another remote than x.
        let old = with("[remote \"x\"]\n\tuploadpack = git-upload-pack\n");
        let new = old.replace("[remote \"x\"]", "[remote \"X\"]");
        assert_eq!(judge(old.as_bytes(), new.as_bytes()), fixed("remote.x.uploadpack"));
        // Section and key names are compared lower-cased, as git does.
        let new = old.replace("[remote \"x\"]\n\tuploadpack", "[REMOTE \"x\"]\n\tUploadPack");
        assert_eq!(judge(old.as_bytes(), new.as_bytes()), Ok(()));
    }
}
