//! Text helpers shared by the CI writers: cutting at character boundaries,
//! characters XML cannot carry, finding a task's line in a plan.
//!
//! Guarantees: every function is total (no panics on any input) and never
//! splits a UTF-8 character.

use std::collections::{BTreeMap, HashSet};

/// The longest prefix of `s` of at most `max` bytes, cut at a character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The longest suffix of `s` of at most `max` bytes, cut at a character boundary.
pub fn suffix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while start < s.len() && !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// `s` cut to `max` bytes, with `…` marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max { s.to_string() } else { format!("{}…", prefix(s, max.saturating_sub(3))) }
}

/// Replace what XML 1.0 cannot carry (C0 controls other than tab, LF and CR,
/// U+FFFE and U+FFFF) by U+FFFD, so a task's bytes can never make the
/// document invalid.
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// What may follow a task id after `id:` (besides the end of the line).
const ID_ENDS: [char; 6] = [' ', ',', '}', '\'', '"', '#'];

/// What follows each `id:` key of one line (whitespace and opening quotes
/// skipped), for the keys that start a word (`xid:` is not one).
fn id_values(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = line;
    std::iter::from_fn(move || {
        while let Some(at) = rest.find("id:") {
            let before = rest[..at].chars().last();
            let after = rest[at + 3..].trim_start().trim_start_matches(['\'', '"']);
            rest = &rest[at + 3..];
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                return Some(after);
            }
        }
        None
    })
}

/// Whether `value` (what follows an `id:`) names the task `id`: it starts
/// with `id`, followed by the end of the line or one of [`ID_ENDS`].
fn names(value: &str, id: &str) -> bool {
    value.strip_prefix(id).is_some_and(|tail| tail.chars().next().is_none_or(|c| ID_ENDS.contains(&c)))
}

/// The 1-based line of the task `id` in a plan's YAML text (`id: X`, `- id: X`,
/// `{id: X, ...}`, quoted or not), if found.
pub fn line_of_task(text: &str, id: &str) -> Option<u64> {
    text.lines().enumerate().find(|(_, line)| id_values(line).any(|v| names(v, id))).map(|(i, _)| i as u64 + 1)
}

/// The line of each of `ids` in a plan's YAML text, as [`line_of_task`] finds
/// it (ids not found are left out), in one pass over the text: what follows
/// an `id:` up to the first of [`ID_ENDS`] is looked up among the ids. An id
/// holding one of [`ID_ENDS`] (no plan's id does) is searched on its own.
pub fn lines_of_tasks<'a>(text: &str, ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let (plain, odd): (Vec<&str>, Vec<&str>) = ids.into_iter().partition(|id| !id.contains(ID_ENDS));
    let mut wanted: HashSet<&str> = plain.into_iter().collect();
    let mut found = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if wanted.is_empty() {
            break;
        }
        for value in id_values(line) {
            let id = value.find(ID_ENDS).map_or(value, |end| &value[..end]);
            if wanted.remove(id) {
                found.insert(id.to_string(), i as u64 + 1);
            }
        }
    }
    for id in odd {
        if let Some(n) = line_of_task(text, id) {
            found.insert(id.to_string(), n);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_never_split_characters() {
        let s = "aé€😀";
        for n in 0..=s.len() {
            assert!(prefix(s, n).len() <= n);
            assert!(suffix(s, n).len() <= n);
        }
        assert_eq!(clip("abcdef", 5), "ab…");
    }

    #[test]
    fn xml_unsafe_characters_are_replaced() {
        assert_eq!(xml_safe("a\u{0}b\u{1b}[31m\tc\u{ffff}"), "a\u{fffd}b\u{fffd}[31m\tc\u{fffd}");
    }

    #[test]
    fn tasks_are_found_in_block_and_flow_style() {
        let t = "tasks:\n  - id: build\n    tool: make\n  - {id: test, tool: make, needs: [build]}\n  - id: 'lint'\n";
        assert_eq!(line_of_task(t, "build"), Some(2));
        assert_eq!(line_of_task(t, "test"), Some(4));
        assert_eq!(line_of_task(t, "lint"), Some(5));
        assert_eq!(line_of_task(t, "bui"), None);
        assert_eq!(line_of_task("  - id: builder\n", "build"), None);
    }

    #[test]
    fn one_pass_finds_what_each_search_finds() {
        let t = "name: x # id: a\ntasks:\n  - id: build\n    tool: make\n  - {id: test, tool: make, needs: [build]}\n  \
                 - id: 'lint'\n  - id: \"a b\" # quoted, with a space\n  - xid: c\n  - id:d\n  - id: e\t\n  - id: builder\n\
                 valid: id: c id: f\n  - id: build\n  - id: é,\n";
        let ids = ["build", "test", "lint", "a", "a b", "c", "d", "e", "f", "builder", "é", "nope", "", "b\"", "test"];
        let each: BTreeMap<String, u64> =
            ids.iter().filter_map(|id| line_of_task(t, id).map(|n| (id.to_string(), n))).collect();
        assert_eq!(lines_of_tasks(t, ids), each);
        assert_eq!(each["a"], 1);
        assert_eq!(each["build"], 3);
        assert_eq!(each["a b"], 7);
        assert!(!each.contains_key("e") && !each.contains_key("nope"));
    }
}
