//! Finding the watched values in bytes: one search for every place a value
//! may leave by (a send's payload, a file's content, a name, a link target,
//! an extended attribute).
//!
//! Guarantees:
//! - [`Matcher::find`] reports a value wherever it lies in the bytes (each
//!   value is searched for on its own: memchr's `memmem`, linear time, at
//!   least ~2 GB/s even on input built to slow it, ~6 GB/s on ordinary data).
//! - [`Matcher::search_stream`] finds a value however the stream is cut into
//!   the pieces it reads: each window is searched together with the previous
//!   window's last [`Matcher::keep`] bytes (the longest value's length minus
//!   one), so nothing is searched twice but those bytes, and memory stays at
//!   one window whatever the stream's length.
//! - [`Matcher::could_begin`] is the output scrubber's rule for what a stream
//!   must remember: the longest end of it that is a proper prefix of a value.

use super::Token;
use memchr::memmem::Finder;

/// The watched values (empty ones are left out), ready to be searched for.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    tokens: Vec<Token>,
    finders: Vec<Finder<'static>>,
    /// The longest value's length minus one.
    keep: usize,
}

/// What a stream held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Searched<'t> {
    /// A value, and where it begins in the stream (0: the first byte of the prefix).
    Found(&'t Token, u64),
    /// No value; the stream's last [`Matcher::keep`] bytes (fewer if it is shorter).
    Clean(Vec<u8>),
}

impl Matcher {
    /// A matcher for the non-empty values of `tokens`.
    pub fn new(tokens: &[Token]) -> Matcher {
        let tokens: Vec<Token> = tokens.iter().filter(|t| !t.value.is_empty()).cloned().collect();
        let finders = tokens.iter().map(|t| Finder::new(t.value.as_bytes()).into_owned()).collect();
        let keep = tokens.iter().map(|t| t.value.len()).max().unwrap_or(0).saturating_sub(1);
        Matcher { tokens, finders, keep }
    }

    /// Whether no value is watched.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The values watched.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The longest value's length minus one: the most bytes of a stream that
    /// can begin a value without holding one.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// The value that begins first in `hay`, and where.
    pub fn find(&self, hay: &[u8]) -> Option<(&Token, usize)> {
        self.tokens
            .iter()
            .zip(&self.finders)
            .filter_map(|(t, f)| f.find(hay).map(|at| (t, at)))
            .min_by_key(|(_, at)| *at)
    }

    /// Search the stream made of `prefix` (the end of an earlier, clean part
    /// of it, at most [`Matcher::keep`] bytes) and then what `fill` writes,
    /// window by window: `fill` writes up to its buffer's length and returns
    /// how much (0: the stream ended). `buf` is the window's memory, kept by
    /// the caller between searches (it grows to `keep + window` bytes once).
    pub fn search_stream<E>(
        &self,
        prefix: &[u8],
        buf: &mut Vec<u8>,
        window: usize,
        mut fill: impl FnMut(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Searched<'_>, E> {
        let keep = self.keep;
        let prefix = prefix.get(prefix.len().saturating_sub(keep)..).unwrap_or_default();
        let size = keep + window.max(1);
        if buf.len() < size {
            buf.resize(size, 0);
        }
        buf[..prefix.len()].copy_from_slice(prefix);
        let mut have = prefix.len();
        // Where buf[0] lies in the stream.
        let mut offset: u64 = 0;
        loop {
            let n = fill(&mut buf[have..size])?.min(size - have);
            if n == 0 {
                break;
            }
            let end = have + n;
            if let Some((t, at)) = self.find(&buf[..end]) {
                return Ok(Searched::Found(t, offset + at as u64));
            }
            let k = keep.min(end);
            buf.copy_within(end - k..end, 0);
            offset += (end - k) as u64;
            have = k;
        }
        Ok(Searched::Clean(buf[..have].to_vec()))
    }

    /// The length of the longest end of `bytes` that could begin one of the
    /// values (a proper prefix of one): what a stream must keep to recognise
    /// a value its next bytes complete. At most [`Matcher::keep`].
    pub fn could_begin(&self, bytes: &[u8]) -> usize {
        super::could_begin(&self.tokens, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(v: &str) -> Token {
        Token { source: format!("src-{v}"), value: v.into() }
    }

    /// Search `stream` fed in pieces of `piece` bytes through windows of `window`.
    fn search(m: &Matcher, prefix: &[u8], stream: &[u8], piece: usize, window: usize) -> Searched<'static> {
        let mut at = 0;
        let mut buf = Vec::new();
        let r = m.search_stream::<()>(prefix, &mut buf, window, |out| {
            let n = out.len().min(piece).min(stream.len() - at);
            out[..n].copy_from_slice(&stream[at..at + n]);
            at += n;
            Ok(n)
        });
        match r {
            Ok(Searched::Found(t, off)) => Searched::Found(Box::leak(Box::new(t.clone())), off),
            Ok(Searched::Clean(end)) => Searched::Clean(end),
            Err(()) => unreachable!(),
        }
    }

    #[test]
    fn a_value_is_found_wherever_windows_and_pieces_cut_it() {
        let m = Matcher::new(&[tok("ghp_0123456789"), tok("npm_abcdefghij"), tok("")]);
        assert_eq!(m.keep(), 13);
        let mut stream = vec![b'x'; 300];
        stream.extend_from_slice(b"npm_abcdefghij");
        stream.extend_from_slice(&[b'y'; 50]);
        for window in [1, 2, 7, 13, 14, 64, 1000] {
            for piece in [1, 3, 14, 100, 4096] {
                match search(&m, b"", &stream, piece, window) {
                    Searched::Found(t, at) => {
                        assert_eq!((t.value.as_str(), at), ("npm_abcdefghij", 300), "window {window} piece {piece}")
                    }
                    other => panic!("window {window} piece {piece}: {other:?}"),
                }
            }
        }
        // Begun in the prefix (the end of an earlier part of the stream).
        match search(&m, b"zzzzghp_0123", b"456789 and on", 5, 8) {
            Searched::Found(t, at) => assert_eq!((t.value.as_str(), at), ("ghp_0123456789", 4)),
            other => panic!("{other:?}"),
        }
        // Clean: the stream's last `keep` bytes come back.
        assert_eq!(search(&m, b"", b"0123456789abcdefghij", 3, 4), Searched::Clean(b"789abcdefghij".to_vec()));
        assert_eq!(search(&m, b"ab", b"", 3, 4), Searched::Clean(b"ab".to_vec()));
        assert_eq!(m.find(b"..npm_abcdefghij..ghp_0123456789").map(|(t, at)| (t.source.as_str(), at)), {
            Some(("src-npm_abcdefghij", 2))
        });
        assert!(Matcher::new(&[]).is_empty());
        assert_eq!(search(&Matcher::new(&[]), b"", b"abc", 1, 1), Searched::Clean(Vec::new()));
    }
}
