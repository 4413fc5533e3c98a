//! Labelled secrets in text, besides `NAME=VALUE` assignments: the password
//! of `-u`/`--user USER:PASS` in all its spellings, header and YAML fields
//! (`Secret-Name: value`), and JSON members (`"password":"v"`).
//!
//! Guarantees, for a name [`super::is_secret_name`] accepts:
//! - `-u USER:PASS`, `-uUSER:PASS`, `--user USER:PASS`, `--user=USER:PASS`
//!   (after the start of the text, whitespace or a quote) become
//!   `USER:[REDACTED]`; a value without `:` (`--user=alice`) and a URL
//!   (`-u https://host/`: the part after `:` starts with `//`) are kept;
//! - `Name: value` (whitespace after the colon; none needed when the name has a
//!   `-`, as HTTP headers do) loses its first word or its quoted value; for a
//!   name ending in `authorization`, `Authorization: <scheme> <credentials>`
//!   keeps the scheme and loses the credentials. The name must follow the
//!   start of the text, whitespace, a quote or `{[(,;`, so a path such as
//!   `/x/credentials: denied` is not a field;
//! - `"name": "value"` and `"name": value` (a JSON member) lose the value.

use super::{REDACTED, Rules, is_secret_name};
use regex::{Captures, Regex};
use std::sync::OnceLock;

/// `-u user:password` / `--user user:password`, compiled at its first use.
fn user_rule() -> Option<&'static Regex> {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    R.get_or_init(|| Regex::new(r#"(^|[\s"'])(-u[ \t]*|--user(?:=|[ \t]+))([^\s:"'=]+):([^\s"']+)"#).ok()).as_ref()
}

/// `Name: value` (a header, a YAML field), compiled at its first use.
fn header_rule() -> Option<&'static Regex> {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            r#"(^|[\s"'{\[(,;])([A-Za-z][A-Za-z0-9_.\-]*):([ \t]*)(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s,;}"']+)(?:([ \t]+)([^\s,;}"':]+))?)"#,
        )
        .ok()
    })
    .as_ref()
}

/// `"name": value` (JSON), compiled at its first use.
fn json_rule() -> Option<&'static Regex> {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    R.get_or_init(|| Regex::new(r#""([^"\\]+)"(\s*:\s*)(?:"((?:[^"\\]|\\.)*)"|([^\s,}\]"]+))"#).ok()).as_ref()
}

/// Whether the compiled rules are there (`every_rule_compiles`).
#[cfg(test)]
pub(super) fn compiles() -> bool {
    user_rule().is_some() && header_rule().is_some() && json_rule().is_some()
}

/// `text` with the labelled secrets above replaced by [`REDACTED`]; the
/// JSON and header rules run only where they can change something
/// ([`Rules::Needed`]).
pub(super) fn redact(text: &str, rules: Rules) -> String {
    let all = rules == Rules::All;
    let mut out = text.to_string();
    if out.contains("-u")
        && let Some(re) = user_rule()
    {
        out = re.replace_all(&out, user).into_owned();
    }
    if out.contains('"')
        && (all || json_names_a_secret(&out))
        && let Some(re) = json_rule()
    {
        out = re.replace_all(&out, json).into_owned();
    }
    if out.contains(':')
        && (all || super::names_a_secret_before(&out, b':'))
        && let Some(re) = header_rule()
    {
        out = re.replace_all(&out, header).into_owned();
    }
    out
}

/// Whether some `"name"` followed by `:` (whitespace between allowed) has a
/// name [`is_secret_name`] accepts: the JSON rule replaces a value only
/// there. Its name holds no quote, so it is what lies between the `"` before
/// the `:` and the `"` before that one.
fn json_names_a_secret(text: &str) -> bool {
    text.match_indices(':').any(|(colon, _)| {
        let Some(closed) = text[..colon].trim_end_matches(char::is_whitespace).strip_suffix('"') else {
            return false;
        };
        let Some(open) = closed.rfind('"') else { return false };
        let name = &closed[open + 1..];
        !name.is_empty() && !name.contains('\\') && is_secret_name(name)
    })
}

fn user(c: &Captures<'_>) -> String {
    let pass = &c[4];
    if pass == REDACTED || pass.starts_with("//") {
        return c[0].to_string();
    }
    format!("{}{}{}:{REDACTED}", &c[1], &c[2], &c[3])
}

fn json(c: &Captures<'_>) -> String {
    let value = c.get(3).or(c.get(4)).map_or("", |m| m.as_str());
    if !is_secret_name(&c[1]) || value == REDACTED || value.is_empty() {
        return c[0].to_string();
    }
    let quoted = c.get(3).is_some();
    let q = if quoted { "\"" } else { "" };
    format!("\"{}\"{}{q}{REDACTED}{q}", &c[1], &c[2])
}

fn header(c: &Captures<'_>) -> String {
    let (lead, name, space) = (&c[1], &c[2], &c[3]);
    if !is_secret_name(name) || (space.is_empty() && !name.contains('-')) {
        return c[0].to_string();
    }
    let keep = c[0].to_string();
    if let Some(v) = c.get(4).or(c.get(5)) {
        if v.as_str() == REDACTED || v.as_str().is_empty() {
            return keep;
        }
        let q = if c.get(4).is_some() { "\"" } else { "'" };
        return format!("{lead}{name}:{space}{q}{REDACTED}{q}");
    }
    let Some(first) = c.get(6) else { return keep };
    match (c.get(7), c.get(8)) {
        (Some(gap), Some(second)) if name.to_ascii_uppercase().ends_with("AUTHORIZATION") => {
            if second.as_str() == REDACTED {
                return keep;
            }
            format!("{lead}{name}:{space}{}{}{REDACTED}", first.as_str(), gap.as_str())
        }
        (gap, second) => {
            if first.as_str() == REDACTED || first.as_str().starts_with(REDACTED) {
                return keep;
            }
            let tail = format!("{}{}", gap.map_or("", |m| m.as_str()), second.map_or("", |m| m.as_str()));
            format!("{lead}{name}:{space}{REDACTED}{tail}")
        }
    }
}
