//! The password of a URL's user info (`scheme://user:PASSWORD@host`).
//!
//! Guarantees: the password is replaced whatever it contains but whitespace
//! and quotes, `/` and `@` included: the user info ends at the last `@` before
//! the first `/`, `?` or `#` that follows an `@` (`https://u:ab/SECRET@host`,
//! `https://u:p@SECRET@host/x@y` both lose everything between `u:` and the
//! `@` before `host`). One narrow exception keeps ports readable:
//! `host.name:443/path@x` (a dotted or `localhost` "user" and digits up to the
//! first `/`) is a host and port, not user info, when no `@` comes before that
//! `/`.

use super::REDACTED;
use regex::Regex;
use std::sync::OnceLock;

/// `scheme://user:` — where a password may start.
fn start() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"\b[A-Za-z][A-Za-z0-9+.\-]*://([^/\s:@"'<>]*):"#).ok()).as_ref()
}

/// Whether the compiled rule is there (`every_rule_compiles`).
#[cfg(test)]
pub(super) fn compiles() -> bool {
    start().is_some()
}

/// `text` with every URL password replaced by [`REDACTED`].
pub(super) fn redact(text: &str) -> String {
    let Some(re) = start() else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(c) = re.captures_at(text, at) {
        let (Some(whole), Some(user)) = (c.get(0), c.get(1)) else { break };
        let from = whole.end();
        let token_end =
            text[from..].find(|ch: char| ch.is_whitespace() || "\"'<>".contains(ch)).map_or(text.len(), |e| from + e);
        let token = &text[from..token_end];
        match password_end(user.as_str(), token) {
            Some(end) if &token[..end] != REDACTED => {
                out.push_str(&text[copied..from]);
                out.push_str(REDACTED);
                copied = from + end;
                at = copied;
            }
            _ => at = from,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Where the password in `rest` (the text after `user:`) ends, i.e. the
/// offset of the `@` that ends the user info, if there is one.
fn password_end(user: &str, rest: &str) -> Option<usize> {
    let first_at = rest.find('@')?;
    if first_at == 0 {
        return None;
    }
    // A host and port (`registry.example:443/@scope`), not a user and password.
    if let Some(slash) = rest.find('/')
        && slash < first_at
        && slash > 0
        && rest[..slash].bytes().all(|b| b.is_ascii_digit())
        && (user.contains('.') || user.eq_ignore_ascii_case("localhost"))
    {
        return None;
    }
    let path = rest[first_at..].find(['/', '?', '#']).map_or(rest.len(), |p| first_at + p);
    rest[..path].rfind('@')
}
