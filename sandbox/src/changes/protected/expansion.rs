//! The one reading of a shell expansion in a word of a host git setting
//! (review 88, F3). Git runs a `!` alias (and every command a setting
//! gives) from the work tree's top, so the shell's spellings of the current
//! directory there name the top: `$PWD`, `${PWD}`, `~+`, `$(pwd)`,
//! `` `pwd` `` (`-L`/`-P` too) and `$(git rev-parse --show-toplevel)`
//! (in backticks too). [`at_top`] maps a word that begins with one of
//! them, alone or before a `/`, to `.` or `./rest`, and `$HOME/`,
//! `${HOME}/` to `~/` (read from the host user's `HOME` as a `~/` word
//! is). Every reader of a word as a path ([`super::hostconfig`]: a
//! command's program and words, an option's or an assignment's value, a
//! hooks, config or `env -C` directory, a `-c include.path`) reads it
//! after this normaliser, and only so.
//!
//! Where a word cannot be read exactly it fails closed (review 89, F1):
//! any other expansion (`$X`, `${…}`, `$(…)`, backticks, `~-`) leaves the
//! literal rest after it naming a path below an UNKNOWN directory, and a
//! glob (`*`, `?`, `[…]`) names every path the shell may expand it to.
//! [`pattern`] gives such a word's [`Pattern`] (every path of the work
//! tree that ends with the rest, component by component, `..` resolved;
//! a glob matched per component), [`Pattern::matches`] is the one matcher
//! and [`found`] the one search of a work tree for it (at the task's start,
//! [`crate::jail::protect`]; after it, [`super::Watch::after`]).
//! [`at_top`] still reads the rest from the top (`./tools/lint.sh`), the
//! most likely place, protected by name like any path. A word whose last
//! component holds an unknown expansion with no `/` after it
//! (`./tools/lint$EXT`, `tools/lint.$(uname)`, `tools/$(echo lint.sh)`:
//! review 90, H2) names, open, every path below its literal directory
//! whose name there starts with its literal stem, and all below such a
//! name (`tools/lint*/**`; [`stem_pattern`]): names that merely start with
//! the stem (`tools/lint-report/`) are protected too, by design. Rule for
//! a word without a `/` (`lint$EXT`): it names `lint*/**` at the top, and
//! [`super::hostconfig`] takes that only where the word is read as a path
//! (a file given to `sh`, `python3`, an option's value), not as the
//! program found on `PATH` nor a word after `git`. A word that is only an
//! expansion (`$X`, `--format=$F`) or has no literal directory or stem
//! (`./$X`, `$X/$Y`) names none (SECURITY.md §5.3). Quoting is not kept
//! through the splitting into words, so a reader takes a word with an
//! expansion literally too (a quoted `'$PWD/x'` reaches the program as
//! written: [`super::hostconfig`], review 89, F4).
//! Residual (SECURITY.md §5.3): a `cd` earlier in the command line moves
//! `$PWD`; the top's spellings name the top only; an expansion holding
//! `..` may leave the literal directory a stem is read below.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The shell's spellings of the current directory, which is the work
/// tree's top where git runs a setting's command.
const TOP: &[&str] = &[
    "$PWD",
    "${PWD}",
    "~+",
    "$(pwd)",
    "$(pwd -L)",
    "$(pwd -P)",
    "`pwd`",
    "`pwd -L`",
    "`pwd -P`",
    "$(git rev-parse --show-toplevel)",
    "`git rev-parse --show-toplevel`",
];

/// The spellings of the host user's home directory, read as `~`.
const HOME: &[&str] = &["$HOME", "${HOME}"];

/// `word` with its shell expansions read as a path from the work tree's
/// top (see the module's doc): a spelling of the top first (`$PWD/x` is
/// `./x`, `$PWD` is `.`), `$HOME/x` as `~/x`; else the literal rest
/// after its last expansion as `./rest` (`..` and `.` in it resolved,
/// those that would climb above the unknown directory dropped: that
/// directory is the top in this reading); else `word` as it is (a word
/// that still holds `$` or a backtick names no path).
pub(super) fn at_top(word: &str) -> Cow<'_, str> {
    if let Some(rest) = after(word, TOP) {
        return Cow::Owned(format!(".{rest}"));
    }
    if let Some(rest) = after(word, HOME) {
        return Cow::Owned(format!("~{rest}"));
    }
    match unknown_rest(word).and_then(rest_parts) {
        Some(parts) => Cow::Owned(format!("./{}", parts.join("/"))),
        None => Cow::Borrowed(word),
    }
}

/// The pattern `word` names when its directory cannot be read exactly
/// (review 89, F1), for [`Pattern::matches`]: the literal rest after an
/// expansion orchestra does not resolve (`$X/tools/lint.sh`,
/// `$(git rev-parse --git-dir)/../tools/lint.sh`,
/// `$(git rev-parse --show-cdup)tools/lint.sh`, `~-/x`) names that rest
/// below *any* directory of the work tree: every path that ends with it
/// (component by component; a rest that does not begin with `/` may
/// continue the expansion's last component, so its first component
/// matches any name ending with it). A word with glob characters (`*`,
/// `?`, `[`) the shell expands names every path its components match,
/// from the top (`ci/checks/*.sh`) or, after an unknown expansion, at any
/// depth. A word with no such rest, or a rest without a `/` that names
/// no file, is read by its literal directory and stem before the
/// expansion instead ([`stem_pattern`]: `tools/lint$X` names
/// `tools/lint*/**`). `None` for a word read exactly by [`at_top`] (no
/// expansion, a spelling of the top or of `HOME`, no glob character), for
/// one with neither a rest nor a literal directory or stem (`$X`,
/// `${X}-dev`, `$X/$Y`), and for one whose exact part climbs out of the
/// top.
pub(super) fn pattern(word: &str) -> Option<Pattern> {
    rest_pattern(word).or_else(|| stem_pattern(word))
}

/// [`pattern`]'s reading of the literal rest after the last expansion
/// (or of a glob).
fn rest_pattern(word: &str) -> Option<Pattern> {
    let globbed = |t: &str| t.contains(['*', '?', '[']);
    if after(word, HOME).is_some() || word.starts_with('~') && !word.starts_with("~-/") {
        return None;
    }
    let (rest, anchored) = match (after(word, TOP), unknown_rest(word)) {
        (Some(rest), _) => (rest, true),
        (None, Some(rest)) => (rest, false),
        (None, None) if !word.contains(['$', '`']) => (word, true),
        _ => return None,
    };
    if rest.contains(['$', '`', '%']) || (anchored && !globbed(rest)) {
        return None;
    }
    let mut parts = if anchored { exact(rest)? } else { rest_parts(rest)? };
    if !anchored && !rest.starts_with('/') {
        parts[0] = format!("*{}", parts[0]);
    }
    Some(Pattern { parts, anchored, open: false })
}

/// [`pattern`]'s reading of a word whose last component holds an unknown
/// expansion with no `/` after it (review 90, H2: `./tools/lint$EXT`,
/// `tools/lint.$(uname)`, `tools/$(echo lint.sh)`, `lint$EXT`): the
/// literal directory `DIR` before that component and the literal `stem`
/// it begins with name, open ([`Pattern`]'s `open`), every path below
/// `DIR` whose component there starts with `stem`, and everything below
/// such a one (the expansion may hold a `/`); a literal tail after the
/// expansion is not required. `DIR` is read as [`rest_pattern`] reads a
/// rest: exactly from the top (`.`/`..` resolved, `$PWD` the top) when no
/// expansion comes before it, else below any directory (its first
/// component continuing the expansion's name). A word with no `/` outside
/// its expansions (`lint$EXT`) names `stem*` at the top (a caller takes
/// it only where the word is read as a path, not for a program found on
/// `PATH`; one with a blank, `"x $(cmd) y"`, is a message, not a
/// name). `None` where neither `DIR` nor `stem` is left (`$X`,
/// `./$X`, `$X/$Y`), for an option (`--format=$F`), an absolute `DIR`,
/// and one that climbs out.
fn stem_pattern(word: &str) -> Option<Pattern> {
    if after(word, HOME).is_some() || word.starts_with('-') || word.starts_with('~') && !word.starts_with("~-/") {
        return None;
    }
    let w: Cow<'_, str> = match after(word, TOP) {
        Some(rest) => Cow::Owned(format!(".{rest}")),
        None => Cow::Borrowed(word),
    };
    let mut spans = expansions(&w);
    if w.starts_with("~-/") {
        spans.insert(0, (0, 2));
    }
    let &(last_start, last_end) = spans.last()?;
    if w[last_end..].contains('/') {
        return None;
    }
    // The last `/` outside an expansion, before the last one.
    let inside = |i: usize| spans.iter().any(|&(s, e)| s <= i && i < e);
    let slash = w[..last_start].char_indices().filter(|&(i, c)| c == '/' && !inside(i)).map(|(i, _)| i).next_back();
    let from = slash.map_or(0, |i| i + 1);
    let stem_end = spans.iter().map(|&(s, _)| s).find(|&s| s >= from).unwrap_or(last_start);
    let stem = &w[from..stem_end];
    if stem.contains(['%']) {
        return None;
    }
    let dir = slash.map_or("", |i| &w[..i]);
    let (mut parts, anchored) = match spans.iter().rev().find(|&&(_, e)| e <= dir.len()) {
        Some(&(_, e)) => {
            let rest = &dir[e..];
            let mut parts = tail(rest).unwrap_or_default();
            if !rest.starts_with('/')
                && let Some(first) = parts.first_mut()
            {
                *first = format!("*{first}");
            }
            (parts, false)
        }
        None if dir.starts_with('/') || slash == Some(0) => return None,
        None => (top_parts(dir)?, true),
    };
    if parts.is_empty() && (stem.is_empty() || slash.is_none() && stem.contains(char::is_whitespace)) {
        return None;
    }
    parts.push(format!("{stem}*"));
    Some(Pattern { parts, anchored, open: true })
}

/// The components of the relative directory `dir` from the top, `.` and
/// `..` resolved (none: the top); `None` when it climbs out of the top.
fn top_parts(dir: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c.to_string()),
        }
    }
    Some(parts)
}

/// The literal text after `word`'s last expansion that orchestra does not
/// resolve (`~-` too, the shell's `OLDPWD`), if it has one.
fn unknown_rest(word: &str) -> Option<&str> {
    if let Some(rest) = word.strip_prefix("~-").filter(|r| r.starts_with('/')) {
        return Some(rest);
    }
    if !word.contains(['$', '`']) {
        return None;
    }
    let end = last_expansion_end(word);
    (end > 0).then(|| &word[end..])
}

/// The components of the literal `rest` after an unknown expansion
/// ([`tail`]); a rest that does not begin with `/` continues the
/// expansion's last name, so a lone one names a file only when it is
/// named like one (`lint.sh`, not ` y` or `-dev`).
fn rest_parts(rest: &str) -> Option<Vec<String>> {
    let parts = tail(rest)?;
    let lone = !rest.starts_with('/') && parts.len() == 1;
    (!lone || parts[0].trim_start_matches('.').contains('.') && !parts[0].contains(' ')).then_some(parts)
}

/// What follows one of `spellings` at `word`'s start when that is all of
/// it (`""`) or a `/` follows it (`"/rest"`).
fn after<'a>(word: &'a str, spellings: &[&str]) -> Option<&'a str> {
    spellings.iter().filter_map(|s| word.strip_prefix(s)).find(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The components of the literal `rest` after an unknown directory, `.`
/// and `..` resolved; a `..` that would climb above that directory is
/// dropped (the directory is unknown: what it climbs to is too). `None`
/// when nothing is left or the rest holds another expansion.
fn tail(rest: &str) -> Option<Vec<String>> {
    if rest.contains(['$', '`']) {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c.to_string()),
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// The components of the relative `path` from the top, `.` and `..`
/// resolved ([`top_parts`]); `None` when it climbs out of the top or names
/// the top.
fn exact(path: &str) -> Option<Vec<String>> {
    top_parts(path).filter(|parts| !parts.is_empty())
}

/// Paths of the work tree a word names where it cannot be read exactly
/// ([`pattern`]): each component a shell glob (`*`, `?`, `[…]`, matched
/// as the shell matches a name, a leading `.` too: wider only protects
/// more); anchored at the top, or (`anchored: false`) below any
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// The components, in order.
    parts: Vec<String>,
    /// Matched from the top; else as the last components of a path.
    anchored: bool,
    /// Open ([`stem_pattern`]): a path matches when its first components
    /// (anchored; else any run of them) match the pattern's, whatever lies
    /// below; its text ends in `/**`.
    open: bool,
}

impl Pattern {
    /// Whether the relative path `rel` (from the top) is one the pattern
    /// names: all of its components (anchored) or its last ones match the
    /// pattern's, one by one.
    pub fn matches(&self, rel: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let names: Vec<&[u8]> = rel
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.as_bytes()),
                _ => None,
            })
            .collect();
        let k = self.parts.len();
        if names.len() < k || (self.anchored && !self.open && names.len() != k) {
            return false;
        }
        let at = |from: usize| self.parts.iter().zip(&names[from..]).all(|(p, n)| glob(p.as_bytes(), n));
        match (self.open, self.anchored) {
            (false, _) => at(names.len() - k),
            (true, true) => at(0),
            (true, false) => (0..=names.len() - k).any(at),
        }
    }

    /// The pattern whose [`Pattern::text`] is `text` (a path's
    /// components, `.../` first for one below any directory).
    pub fn new(text: &Path, anchored: bool) -> Pattern {
        let parts: Vec<String> = text
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let mut parts =
            if !anchored && parts.first().is_some_and(|p| p == "...") { parts[1..].to_vec() } else { parts };
        let open = parts.len() > 1 && parts.last().is_some_and(|p| p == "**");
        if open {
            parts.pop();
        }
        Pattern { parts, anchored, open }
    }

    /// Whether it is matched from the top (else below any directory).
    pub fn anchored(&self) -> bool {
        self.anchored
    }

    /// The pattern as text: its components joined by `/`, after `…/`
    /// when it is matched below any directory, before `/**` when it is
    /// open.
    pub fn text(&self) -> String {
        let mut joined = self.parts.join("/");
        if self.open {
            joined.push_str("/**");
        }
        if self.anchored { joined } else { format!(".../{joined}") }
    }
}

/// Whether `name` matches the shell glob `pat` (`*`, `?`, `[…]` with `!`
/// or `^` and ranges, `\` quoting the next character); an unclosed `[`
/// is a literal one.
fn glob(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name's position it stands at.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pat, p, name[n]) {
                Some((hit, end)) => hit.then_some(end),
                None => (name[n] == b'[').then_some(p + 1),
            },
            Some(b'\\') if p + 1 < pat.len() => (pat[p + 1] == name[n]).then_some(p + 2),
            Some(&c) => (c == name[n]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// The bracket expression at `pat[at]` (`[`): whether `c` is in it and
/// where the pattern goes on; `None` when it is not closed.
fn class(pat: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negated = matches!(pat.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&b) = pat.get(i) {
        if b == b']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            hit |= (b..=pat[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= b == c;
            i += 1;
        }
    }
    None
}

/// Where the text after `word`'s last expansion begins (`$NAME`, `${…}`,
/// `$(…)`, `` `…` ``, `$1`, `$@`…; a `$` before anything else is a
/// literal one).
fn last_expansion_end(word: &str) -> usize {
    expansions(word).last().map_or(0, |&(_, end)| end)
}

/// Where each of `word`'s expansions begins and ends, in order (see
/// [`last_expansion_end`]).
fn expansions(word: &str) -> Vec<(usize, usize)> {
    let b = word.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        i = match b[i] {
            b'`' => b[i + 1..].iter().position(|&c| c == b'`').map_or(b.len(), |p| i + p + 2),
            b'$' => match b.get(i + 1) {
                Some(b'(') => closing(b, i + 1, b'(', b')'),
                Some(b'{') => closing(b, i + 1, b'{', b'}'),
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                    i + 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count()
                }
                Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(c) => i + 2,
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        };
        out.push((start, i));
    }
    out
}

/// Just past the `close` that matches the `open` at `at` (nested), or the
/// end of `b`.
fn closing(b: &[u8], at: usize, open: u8, close: u8) -> usize {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(at) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
    }
    b.len()
}

/// Entries [`found`] looks at, at most.
const MAX_FOUND_WALK: usize = 500_000;

/// What [`found`] found in a work tree.
#[derive(Debug, Default)]
pub struct Found {
    /// The paths that match (relative to the top), in walk order.
    pub paths: Vec<PathBuf>,
    /// The walk saw every entry (not past [`MAX_FOUND_WALK`], every
    /// directory listed).
    pub whole: bool,
}

/// The paths below `root` that `patterns` name (`(pattern, dir)`: `dir`,
/// what lies below a match is code too, so a match is not walked into; a
/// command word's pattern names what is no directory). The one search for
/// them, at the task's start ([`crate::jail::protect`]) and after it
/// ([`super::Watch::after`]). No link is followed; a `.git` directory is
/// not walked (its code is protected by name).
pub fn found(root: &Path, patterns: &[(Pattern, bool)]) -> Found {
    let mut out = Found { paths: Vec::new(), whole: true };
    if patterns.is_empty() {
        return out;
    }
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            out.whole = false;
            continue;
        };
        for e in entries {
            let Ok(e) = e else {
                out.whole = false;
                continue;
            };
            seen += 1;
            if seen > MAX_FOUND_WALK {
                out.whole = false;
                return out;
            }
            let rel = dir.join(e.file_name());
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let hit = patterns.iter().find(|(p, d)| (*d || !is_dir) && p.matches(&rel));
            match hit {
                Some((_, whole)) => {
                    out.paths.push(rel.clone());
                    if is_dir && !whole && e.file_name() != ".git" {
                        stack.push(rel);
                    }
                }
                None if is_dir && e.file_name() != ".git" => stack.push(rel),
                None => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Pattern, at_top, found, glob, pattern};
    use std::path::Path;

    /// The pattern `word` names, as text (`None`: none).
    fn text(word: &str) -> Option<String> {
        pattern(word).map(|p| p.text())
    }

    #[test]
    fn an_unknown_directory_names_every_path_ending_with_the_rest() {
        for (word, want) in [
            ("$(git rev-parse --git-dir)/../tools/lint.sh", ".../tools/lint.sh"),
            ("$(git rev-parse --git-common-dir)/../tools/lint.sh", ".../tools/lint.sh"),
            ("${GIT_DIR:-.git}/../tools/lint.sh", ".../tools/lint.sh"),
            ("$(git rev-parse --show-cdup)tools/lint.sh", ".../*tools/lint.sh"),
            ("${GIT_PREFIX:+$GIT_PREFIX/}tools/lint.sh", ".../*tools/lint.sh"),
            ("$d/lint.sh", ".../lint.sh"),
            ("$X/a/./b/../c.sh", ".../a/c.sh"),
            ("$X/../../x.sh", ".../x.sh"),
            ("~-/tools/x", ".../tools/x"),
            ("$(git rev-parse --show-cdup)lint.sh", ".../*lint.sh"),
            ("$X/ci/*.sh", ".../ci/*.sh"),
            ("ci/checks/*.sh", "ci/checks/*.sh"),
            ("./ci/checks/x?.sh", "ci/checks/x?.sh"),
            ("$PWD/ci/[ab].sh", "ci/[ab].sh"),
            ("*.sh", "*.sh"),
        ] {
            assert_eq!(text(word).as_deref(), Some(want), "{word}");
        }
        // Read exactly (or naming nothing): no pattern.
        for word in [
            "tools/lint.sh",
            "$PWD/tools/lint.sh",
            "$HOME/x/*.sh",
            "$X",
            "${X}-dev",
            "--format=$F",
            "$X/",
            "$X/$Y",
            "$X/%f",
            "../*.sh",
            "~/x/*.sh",
        ] {
            assert_eq!(text(word), None, "{word}");
        }
        assert_eq!(at_top("$(git rev-parse --git-dir)/../tools/lint.sh"), "./tools/lint.sh");
        assert_eq!(at_top("$(git rev-parse --show-cdup)tools/lint.sh"), "./tools/lint.sh");
        assert_eq!(at_top("${GIT_PREFIX:+$GIT_PREFIX/}tools/lint.sh"), "./tools/lint.sh");
    }

    #[test]
    fn a_word_ending_in_an_unknown_expansion_names_every_path_below_its_literal_stem() {
        for (word, want) in [
            ("./tools/lint$EXT", "tools/lint*/**"),
            ("tools/lint$EXT", "tools/lint*/**"),
            ("./tools/lint.$(uname)", "tools/lint.*/**"),
            ("tools/$(echo lint.sh)", "tools/*/**"),
            ("tools/$(echo a/b)", "tools/*/**"),
            ("./tools/fsm$EXT", "tools/fsm*/**"),
            ("$PWD/tools/lint$EXT", "tools/lint*/**"),
            ("tools/../ci/x$A-$B", "ci/x*/**"),
            ("tools/lint$X.sh", "tools/lint*/**"),
            ("$X/tools/lint$Y", ".../tools/lint*/**"),
            ("$X/lint$Y", ".../lint*/**"),
            ("~-/tools/$Y", ".../tools/*/**"),
            ("lint$EXT", "lint*/**"),
            ("a$X", "a*/**"),
        ] {
            assert_eq!(text(word).as_deref(), Some(want), "{word}");
        }
        // An expansion and nothing literal before it in its name or
        // directory, an absolute directory, one that climbs out, the
        // home directory: none.
        for word in [
            "$X",
            "${X}-dev",
            "./$X",
            "$PWD/$X",
            "$X/$Y",
            "/usr/bin/x$Y",
            "../x$Y",
            "$HOME/bin/x$Y",
            "~/x$Y",
            "x $(c) y",
        ] {
            assert_eq!(text(word), None, "{word}");
        }
        let p = Pattern::new(Path::new("tools/lint*/**"), true);
        assert_eq!(p, pattern("./tools/lint$EXT").unwrap());
        for yes in ["tools/lint", "tools/lint.sh", "tools/lint.Linux", "tools/lint-report/x.txt", "tools/lintx/a/b"] {
            assert!(p.matches(Path::new(yes)), "{yes}");
        }
        for no in ["tools/other.txt", "tools/lin", "src/tools/lint", "lint", "tools", "src/main.rs"] {
            assert!(!p.matches(Path::new(no)), "{no}");
        }
        let any = pattern("$X/tools/lint$Y").unwrap();
        for yes in ["tools/lint", "a/tools/lint.sh/b", "a/tools/lint-x"] {
            assert!(any.matches(Path::new(yes)), "{yes}");
        }
        assert!(!any.matches(Path::new("a/tools/other")) && !any.matches(Path::new("a/my-tools/lint")));
        let d = tempfile::tempdir().unwrap();
        for f in ["tools/lint.Linux", "tools/lint.d/x", "tools/other.txt", "src/lint.rs"] {
            std::fs::create_dir_all(d.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        let mut got: Vec<String> =
            found(d.path(), &[(p, false)]).paths.iter().map(|p| p.display().to_string()).collect();
        got.sort();
        assert_eq!(got, ["tools/lint.Linux", "tools/lint.d/x"]);
    }

    #[test]
    fn a_pattern_matches_by_components_as_the_shell_globs() {
        let ends = Pattern::new(Path::new(".../tools/lint.sh"), false);
        for yes in ["tools/lint.sh", "a/b/tools/lint.sh"] {
            assert!(ends.matches(Path::new(yes)), "{yes}");
        }
        for no in ["lint.sh", "xtools/lint.sh", "tools/lint.sh.o", "build/lint.sh.o", "docs/tools.md", "tools"] {
            assert!(!ends.matches(Path::new(no)), "{no}");
        }
        let cont = Pattern::new(Path::new(".../*tools/lint.sh"), false);
        assert!(cont.matches(Path::new("tools/lint.sh")) && cont.matches(Path::new("my-tools/lint.sh")));
        assert!(!cont.matches(Path::new("tools/x/lint.sh")));
        let top = Pattern::new(Path::new("ci/checks/*.sh"), true);
        for yes in ["ci/checks/evil.sh", "ci/checks/.x.sh", "ci/checks/.sh"] {
            assert!(top.matches(Path::new(yes)), "{yes}");
        }
        for no in ["ci/checks/README.md", "ci/checks.sh", "ci/checks/a/b.sh", "x/ci/checks/a.sh", "ci/x.sh"] {
            assert!(!top.matches(Path::new(no)), "{no}");
        }
        for (pat, name, want) in [
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[^ab]x", "cx", true),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("[]]", "]", true),
            ("[x", "[x", true),
            ("*a*b", "xxaab", true),
            ("*a*b", "xxaba", false),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("**", "", true),
        ] {
            assert_eq!(glob(pat.as_bytes(), name.as_bytes()), want, "{pat} {name}");
        }
    }

    #[test]
    fn found_lists_the_matches_a_tree_holds_and_no_link_or_git_directory() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        for f in ["tools/lint.sh", "a/tools/lint.sh", ".git/tools/lint.sh", "build/lint.sh.o", "hooks/x/pre-commit"] {
            std::fs::create_dir_all(w.join(f).parent().unwrap()).unwrap();
            std::fs::write(w.join(f), "x").unwrap();
        }
        std::fs::create_dir_all(w.join("outside/tools")).unwrap();
        std::fs::write(w.join("outside/tools/lint.sh"), "x").unwrap();
        std::os::unix::fs::symlink(w.join("outside"), w.join("link")).unwrap();
        let ends = (Pattern::new(Path::new(".../tools/lint.sh"), false), false);
        let dir = (Pattern::new(Path::new(".../hooks"), false), true);
        let f = found(w, &[ends, dir]);
        let mut got: Vec<String> = f.paths.iter().map(|p| p.display().to_string()).collect();
        got.sort();
        assert_eq!(got, ["a/tools/lint.sh", "hooks", "outside/tools/lint.sh", "tools/lint.sh"]);
        assert!(f.whole);
        assert!(found(w, &[]).paths.is_empty());
    }

    #[test]
    fn every_spelling_of_the_top_is_the_top() {
        for top in [
            "$PWD",
            "${PWD}",
            "~+",
            "$(pwd)",
            "$(pwd -P)",
            "`pwd`",
            "$(git rev-parse --show-toplevel)",
            "`git rev-parse --show-toplevel`",
        ] {
            assert_eq!(at_top(top), ".", "{top}");
            assert_eq!(at_top(&format!("{top}/tools/lint.sh")), "./tools/lint.sh", "{top}");
            assert_eq!(at_top(&format!("{top}/.githooks")), "./.githooks", "{top}");
        }
        assert_eq!(at_top("$HOME/bin/x"), "~/bin/x");
        assert_eq!(at_top("${HOME}"), "~");
    }

    #[test]
    fn another_expansion_before_a_slash_is_read_from_the_top() {
        assert_eq!(at_top("$X/tools/lint.sh"), "./tools/lint.sh");
        assert_eq!(at_top("${D:-a/b}/run.sh"), "./run.sh");
        assert_eq!(at_top("$(dirname $0)/x.sh"), "./x.sh");
        assert_eq!(at_top("`cd ..; pwd`/x.sh"), "./x.sh");
        assert_eq!(at_top("tools/$V/run.sh"), "./run.sh");
        assert_eq!(at_top("$PWDX/y"), "./y", "another variable, read as one");
        assert_eq!(at_top("~-/tools/x"), "./tools/x");
        assert_eq!(at_top("$1/x"), "./x");
    }

    #[test]
    fn a_word_naming_no_path_stays_as_it_is() {
        for w in ["$X", "--format=$F", "a$X", "$X/", "$(tput cols)", "tools/lint.sh", "~/x", "%f", "$PWDX", "a$"] {
            assert_eq!(at_top(w), w, "{w}");
        }
    }
}
