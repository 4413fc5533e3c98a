//! Text helpers shared by the CI writers: cutting at character boundaries,
//! characters XML cannot carry, finding a task's line in a plan.
//!
//! Guarantees: every function is total (no panics on any input) and never
//! splits a UTF-8 character.

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

/// The 1-based line of the task `id` in a plan's YAML text (`id: X`, `- id: X`,
/// `{id: X, ...}`, quoted or not), if found.
pub fn line_of_task(text: &str, id: &str) -> Option<u64> {
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("id:") {
            let before = rest[..at].chars().last();
            let after = rest[at + 3..].trim_start();
            let after = after.trim_start_matches(['\'', '"']);
            let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if word_start && let Some(tail) = after.strip_prefix(id) {
                let next = tail.chars().next();
                if next.is_none_or(|c| matches!(c, ' ' | ',' | '}' | '\'' | '"' | '#')) {
                    return Some(i as u64 + 1);
                }
            }
            rest = &rest[at + 3..];
        }
    }
    None
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
}
