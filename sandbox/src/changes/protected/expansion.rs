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
//! Any other expansion fails closed in the direction
//! [`super::wrappers::from_dir`] already reads an expanded directory: the
//! wider reading, from the top. A word whose literal text after its last
//! expansion is `/rest` (`$X/tools/lint.sh`, `$(dirname $0)/x`,
//! `tools/$V/run.sh`) names `./rest` (so it is protected at the top,
//! where `$X` most often is; where it is anything else this only protects
//! more). A word with no such tail (`$X`, `--format=$F`, `a$X`) names
//! none, as before. `~-/rest` (the shell's `OLDPWD`) is read the same way.
//! Residual (SECURITY.md §5.3): a `cd` earlier in the command line moves
//! `$PWD`; the tail names a file at the top only.

use std::borrow::Cow;

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
/// `./x`, `$PWD` is `.`), `$HOME/x` as `~/x`; else the literal `/rest`
/// after its last expansion as `./rest`; else `word` as it is (a word
/// that still holds `$` or a backtick names no path).
pub(super) fn at_top(word: &str) -> Cow<'_, str> {
    if let Some(rest) = after(word, TOP) {
        return Cow::Owned(format!(".{rest}"));
    }
    if let Some(rest) = after(word, HOME) {
        return Cow::Owned(format!("~{rest}"));
    }
    if let Some(rest) = word.strip_prefix("~-").filter(|r| r.starts_with('/')) {
        return tail(rest).map_or(Cow::Borrowed(word), Cow::Owned);
    }
    if !word.contains(['$', '`']) {
        return Cow::Borrowed(word);
    }
    tail(&word[last_expansion_end(word)..]).map_or(Cow::Borrowed(word), Cow::Owned)
}

/// What follows one of `spellings` at `word`'s start when that is all of
/// it (`""`) or a `/` follows it (`"/rest"`).
fn after<'a>(word: &'a str, spellings: &[&str]) -> Option<&'a str> {
    spellings.iter().filter_map(|s| word.strip_prefix(s)).find(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `./rest` for a literal `/rest` with something in it.
fn tail(literal: &str) -> Option<String> {
    let rest = literal.strip_prefix('/')?.trim_start_matches('/');
    (!rest.is_empty() && !rest.contains(['$', '`'])).then(|| format!("./{rest}"))
}

/// Where the text after `word`'s last expansion begins (`$NAME`, `${…}`,
/// `$(…)`, `` `…` ``, `$1`, `$@`…; a `$` before anything else is a
/// literal one).
fn last_expansion_end(word: &str) -> usize {
    let b = word.as_bytes();
    let (mut i, mut end) = (0, 0);
    while i < b.len() {
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
        end = i;
    }
    end
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

#[cfg(test)]
mod tests {
    use super::at_top;

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
