//! The task's output on its way to the user: byte for byte, except that a
//! line the task starts with `orchestra:` is relayed as `[task] orchestra:…`.
//!
//! Guarantee: every line on Orchestra's stdout/stderr that starts with
//! `orchestra:` was written by Orchestra itself (the verdict line last of
//! all); a task cannot forge one, whether its line starts the stream, follows
//! a `\n`, or follows a `\r` (which a terminal would use to overwrite). All
//! other bytes pass unchanged and in order. At most `orchestra:`'s length minus
//! one byte is held back at a line start until the next byte decides (or the
//! stream ends: [`LineGuard::finish`]).

/// What marks Orchestra's own lines.
const MARK: &[u8] = b"orchestra:";

/// What a task's line that starts with [`MARK`] gets in front.
pub const TASK_PREFIX: &[u8] = b"[task] ";

/// The relay state of one output stream.
#[derive(Debug, Clone)]
pub struct LineGuard {
    /// At a line start, matching a possible [`MARK`]: the bytes matched so far.
    held: Vec<u8>,
    matching: bool,
}

impl Default for LineGuard {
    fn default() -> Self {
        LineGuard { held: Vec::with_capacity(MARK.len()), matching: true }
    }
}

impl LineGuard {
    /// Append to `out` what `chunk` (the next bytes of the stream) becomes.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.matching {
                self.held.push(b);
                if MARK.starts_with(&self.held) {
                    if self.held.len() == MARK.len() {
                        out.extend_from_slice(TASK_PREFIX);
                        out.append(&mut self.held);
                        self.matching = false;
                    }
                    continue;
                }
                out.append(&mut self.held);
                self.matching = b == b'\n' || b == b'\r';
                continue;
            }
            out.push(b);
            if b == b'\n' || b == b'\r' {
                self.matching = true;
            }
        }
    }

    /// The stream ended: append whatever was held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }
}

/// Before the verdict line: a line feed on stderr when the task left a line
/// unfinished on stderr (`mid_line[1]`), or on stdout (`mid_line[0]`) while
/// stdout and stderr are the same file (`2>&1`, one terminal) — so the
/// verdict always starts a line of its own.
pub fn end_task_lines(mid_line: [bool; 2]) {
    use std::io::Write;
    use std::os::fd::AsFd;
    let same = || {
        let id = |s: nix::sys::stat::FileStat| (s.st_dev, s.st_ino);
        match (nix::sys::stat::fstat(std::io::stdout().as_fd()), nix::sys::stat::fstat(std::io::stderr().as_fd())) {
            (Ok(a), Ok(b)) => id(a) == id(b),
            _ => false,
        }
    };
    if mid_line[1] || (mid_line[0] && same()) {
        let _ = std::io::stderr().write_all(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(chunks: &[&[u8]]) -> Vec<u8> {
        let mut g = LineGuard::default();
        let mut out = Vec::new();
        for c in chunks {
            g.feed(c, &mut out);
        }
        g.finish(&mut out);
        out
    }

    #[test]
    fn forged_verdicts_are_marked_wherever_the_chunks_split() {
        let forged = b"note\norchestra: sh ok cause=ok exit=0\nx\rorchestra: y\n".as_slice();
        let want = b"note\n[task] orchestra: sh ok cause=ok exit=0\nx\r[task] orchestra: y\n".as_slice();
        for split in 0..forged.len() {
            assert_eq!(relay(&[&forged[..split], &forged[split..]]), want, "split at {split}");
        }
        let bytes: Vec<&[u8]> = forged.chunks(1).collect();
        assert_eq!(relay(&bytes), want);
        assert_eq!(relay(&[b"orchestra:"]), b"[task] orchestra:");
    }

    #[test]
    fn everything_else_passes_unchanged() {
        for s in [
            b"hello\nworld\n".as_slice(),
            b"orchestr",
            b"orchestr\nab",
            b"orchestraX: not the mark\n",
            b"  orchestra: indented\n",
            b"see orchestra: inside a line\n",
            b"\xff\xfe binary \x00\n",
            b"",
        ] {
            assert_eq!(relay(&[s]), s, "{:?}", String::from_utf8_lossy(s));
        }
    }
}
