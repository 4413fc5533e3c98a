//! Untrusted bytes (a task's log) shown on a terminal with every control
//! neutralised.
//!
//! A task writes its own log, so a hostile one can put escape sequences in
//! it that a terminal would obey: set the clipboard (OSC 52), rewrite the
//! title, draw over earlier lines, hide text (`\r`, cursor moves, colours),
//! or plant hyperlinks. Guarantee: what [`Neutraliser`] writes holds no byte
//! a terminal treats as a control, except line feed and tab: every other C0
//! control, DEL, every C1 control (U+0080–U+009F), the bidirectional
//! overrides and isolates (U+202A–U+202E, U+2066–U+2069, which reorder what
//! is shown) are written as visible escapes (`\u{1b}`), and every byte that is
//! not part of valid UTF-8 as `\xNN` (a terminal in a legacy 8-bit encoding
//! reads 0x9B as a control). A carriage return directly before a line feed
//! (CRLF) is kept. Everything else, printable text in any script included,
//! passes through unchanged. Input may arrive in pieces split anywhere: a
//! sequence cut by a piece boundary is judged whole once the rest arrives.

/// `text` neutralised whole (one line of a log, say).
pub fn neutralised(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut n = Neutraliser::default();
    n.push(text, &mut out);
    n.finish(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Neutralises a stream of untrusted bytes for a terminal (see the module doc).
#[derive(Debug, Default)]
pub struct Neutraliser {
    /// The unjudged end of the last piece: a UTF-8 sequence cut short, or a `\r`.
    carry: Vec<u8>,
}

impl Neutraliser {
    /// Append the neutralised form of `input` (the next piece) to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(input);
        self.carry = neutralise(&data, false, out).to_vec();
    }

    /// The input ended: write what was held back, as it stands.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let data = std::mem::take(&mut self.carry);
        neutralise(&data, true, out);
    }
}

/// Neutralise `data` into `out`; unless `last`, return the tail to judge
/// with the next piece (an incomplete UTF-8 sequence, or a final `\r`).
fn neutralise<'a>(data: &'a [u8], last: bool, out: &mut Vec<u8>) -> &'a [u8] {
    let mut rest = data;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let (ok, _) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(ok).unwrap_or_default(), Some(e.error_len()))
            }
        };
        let after = &rest[valid.len()..];
        if let Some(held) = text(valid, after.is_empty() && !last, out) {
            return &data[data.len() - held..];
        }
        match bad {
            None => rest = after,
            Some(Some(n)) => {
                let (invalid, tail) = after.split_at(n.min(after.len()));
                invalid.iter().for_each(|b| out.extend_from_slice(format!("\\x{b:02x}").as_bytes()));
                rest = tail;
            }
            // Cut short at the end of the input: wait for the rest, or show it as it is.
            Some(None) if !last => return after,
            Some(None) => {
                after.iter().for_each(|b| out.extend_from_slice(format!("\\x{b:02x}").as_bytes()));
                rest = &[];
            }
        }
    }
    &[]
}

/// Write valid text `s`; when `at_end` (more input may follow right after
/// it) a final `\r` is held back: returns how many bytes were.
fn text(s: &str, at_end: bool, out: &mut Vec<u8>) -> Option<usize> {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c as u8),
            '\r' if chars.peek() == Some(&'\n') => out.push(b'\r'),
            '\r' if chars.peek().is_none() && at_end => return Some(1),
            c if is_control(c) => out.extend_from_slice(format!("\\u{{{:x}}}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    None
}

/// C0 and C1 controls, DEL, and the bidirectional formatting characters.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pieces: &[&[u8]]) -> String {
        let mut n = Neutraliser::default();
        let mut out = Vec::new();
        for p in pieces {
            n.push(p, &mut out);
        }
        n.finish(&mut out);
        String::from_utf8(out).expect("the output is UTF-8")
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        // OSC 52 (clipboard), clear screen, title, a C1 CSI, DEL, a bidi override.
        let hostile = "a\x1b]52;c;cm0gLXJmIH4=\x07b\x1b[2Jc\x1b]0;title\x1b\\d\u{9b}31me\x7ff\u{202e}g";
        let shown = all(&[hostile.as_bytes()]);
        assert_eq!(
            shown,
            "a\\u{1b}]52;c;cm0gLXJmIH4=\\u{7}b\\u{1b}[2Jc\\u{1b}]0;title\\u{1b}\\d\\u{9b}31me\\u{7f}f\\u{202e}g"
        );
        assert!(!shown.bytes().any(|b| b < 0x20 || b == 0x7f));
    }

    #[test]
    fn text_lines_tabs_and_crlf_pass_unchanged_and_bare_cr_does_not() {
        assert_eq!(all(&["héllo\tworld ✓\r\nnext\n".as_bytes()]), "héllo\tworld ✓\r\nnext\n");
        assert_eq!(all(&[b"safe\rrm -rf\n"]), "safe\\u{d}rm -rf\n");
    }

    #[test]
    fn invalid_utf8_is_escaped_byte_by_byte() {
        assert_eq!(all(&[b"a\x9bb\xff"]), "a\\x9bb\\xff");
    }

    #[test]
    fn sequences_cut_by_piece_boundaries_are_judged_whole() {
        let e = "é".as_bytes();
        assert_eq!(all(&[&[b'x', e[0]], &[e[1], b'y']]), "xéy");
        assert_eq!(all(&[b"line\r", b"\nnext\r", b"over\n"]), "line\r\nnext\\u{d}over\n");
        assert_eq!(all(&[b"\r"]), "\\u{d}");
        let c1 = "\u{9b}".as_bytes();
        assert_eq!(all(&[&c1[..1], &c1[1..]]), "\\u{9b}");
        assert_eq!(all(&[&c1[..1]]), "\\xc2", "cut short at the very end");
    }
}
