//! Signed notes read generically (C2SP `signed-note`), with a C2SP
//! `tlog-checkpoint` text: what a witness receives from any log, and what a
//! verifier reads from a cosigned note.
//!
//! Unlike [`crate::checkpoint`], which reads Orchestra's own checkpoint
//! notes, this accepts any origin, any extension lines and signature lines of
//! any length (cosignatures are 4 + 8 + 64 bytes). Guarantees: [`Note::parse`]
//! accepts only UTF-8 without control characters other than `\n`, splits the
//! text from the signatures at the last blank line, and keeps every signature
//! line's key name and decoded bytes; [`TreeHead::parse`] accepts only an
//! origin line, a canonical decimal size and the canonical base64 of a 32-byte
//! root, then non-empty extension lines. Nothing here says who signed.

use crate::keys::VerifierKey;
use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signature;

/// At most this many signature lines are read (C2SP asks for at least 16).
pub const MAX_SIGNATURES: usize = 64;

/// Why a note does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteParseError {
    /// A control character other than `\n`.
    #[error("the note contains a control character other than newline")]
    Control,
    /// No blank line before the signatures.
    #[error("the note has no blank line before its signatures")]
    NoBlankLine,
    /// No signature line, or the last one without its newline.
    #[error("the note has no signature lines, or does not end in a newline")]
    NoSignatures,
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("the note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A signature line not of the form `— <name> <base64>`.
    #[error("bad signature line {0:?}")]
    SignatureLine(String),
    /// The checkpoint text's lines.
    #[error("not a checkpoint: {0}")]
    Checkpoint(&'static str),
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigLine {
    /// The key name.
    pub name: String,
    /// The decoded signature: key id (4 bytes) then the algorithm's bytes.
    pub raw: Vec<u8>,
}

impl SigLine {
    /// The key id (the first four bytes).
    pub fn id(&self) -> [u8; 4] {
        let mut id = [0u8; 4];
        id.copy_from_slice(&self.raw[..4]);
        id
    }
}

/// A parsed signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note text (the signed message), with its final newline.
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<SigLine>,
}

fn canonical_b64(s: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(s).ok()?;
    (B64.encode(&raw) == s).then_some(raw)
}

/// A decimal without leading zeros (`0` itself allowed).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A hash in canonical base64.
pub(crate) fn parse_hash(s: &str) -> Option<Hash> {
    canonical_b64(s)?.try_into().ok()
}

impl Note {
    /// Parse a note.
    pub fn parse(text: &str) -> Result<Note, NoteParseError> {
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteParseError::Control);
        }
        let split = text.rfind("\n\n").ok_or(NoteParseError::NoBlankLine)?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        let Some(sigs) = sigs.strip_suffix('\n').filter(|s| !s.is_empty()) else {
            return Err(NoteParseError::NoSignatures);
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteParseError::TooManySignatures);
            }
            let bad = || NoteParseError::SignatureLine(line.to_string());
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
            let (name, b) = rest.split_once(' ').ok_or_else(bad)?;
            if crate::keys::valid_name(name).is_err() {
                return Err(bad());
            }
            let raw = canonical_b64(b).filter(|r| r.len() > 4).ok_or_else(bad)?;
            signatures.push(SigLine { name: name.to_string(), raw });
        }
        Ok(Note { body: body.to_string(), signatures })
    }

    /// The note's text: body, blank line, signature lines.
    pub fn text(&self) -> String {
        let mut s = format!("{}\n", self.body);
        for l in &self.signatures {
            s.push_str(&format!("\u{2014} {} {}\n", l.name, B64.encode(&l.raw)));
        }
        s
    }

    /// Whether the note is signed by `key` (an Ed25519 note key, type 0x01):
    /// there is a line with its name and key id, and every such line verifies
    /// strictly over the body.
    pub fn signed_by(&self, key: &VerifierKey) -> Signed {
        let mut lines = self.signatures.iter().filter(|s| s.name == key.name && s.id() == key.id).peekable();
        if lines.peek().is_none() {
            return Signed::Absent;
        }
        for l in lines {
            let ok = <[u8; 64]>::try_from(&l.raw[4..])
                .is_ok_and(|sig| key.key.verify_strict(self.body.as_bytes(), &Signature::from_bytes(&sig)).is_ok());
            if !ok {
                return Signed::Bad;
            }
        }
        Signed::Yes
    }
}

/// Whether a note carries a key's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// Every line of the key verifies (and there is one).
    Yes,
    /// No line of the key.
    Absent,
    /// A line of the key does not verify.
    Bad,
}

/// The `tlog-checkpoint` text of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// The origin line (the log's name).
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 6962 tree head.
    pub root: Hash,
    /// Extension lines (not vouched for by a cosignature).
    pub extensions: Vec<String>,
}

impl TreeHead {
    /// Parse a note body as a checkpoint.
    pub fn parse(body: &str) -> Result<TreeHead, NoteParseError> {
        let body = body.strip_suffix('\n').ok_or(NoteParseError::Checkpoint("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(NoteParseError::Checkpoint("empty origin line"))?;
        let size = lines.next().and_then(parse_decimal).ok_or(NoteParseError::Checkpoint("bad size line"))?;
        let root = lines.next().and_then(parse_hash).ok_or(NoteParseError::Checkpoint("bad root hash line"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteParseError::Checkpoint("empty extension line"));
        }
        Ok(TreeHead { origin: origin.to_string(), size, root, extensions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuditKey;
    use ed25519_dalek::Signer as _;

    fn signed(body: &str, key: &AuditKey) -> String {
        let v = key.verifier();
        let mut raw = v.id.to_vec();
        raw.extend_from_slice(&key.signing.sign(body.as_bytes()).to_bytes());
        format!("{body}\n\u{2014} {} {}\n", v.name, B64.encode(raw))
    }

    #[test]
    fn parses_a_checkpoint_note_and_checks_its_signature() {
        let mut key = AuditKey::from_seed([5; 32]);
        key.name = "example.com/log".into();
        let body = format!("example.com/log\n7\n{}\nx ext\n", B64.encode([9u8; 32]));
        let text = signed(&body, &key);
        let n = Note::parse(&text).unwrap();
        assert_eq!(n.text(), text);
        let h = TreeHead::parse(&n.body).unwrap();
        assert_eq!((h.origin.as_str(), h.size, h.root, h.extensions.len()), ("example.com/log", 7, [9; 32], 1));
        assert_eq!(n.signed_by(&key.verifier()), Signed::Yes);
        let mut other = AuditKey::from_seed([6; 32]);
        other.name = "example.com/log".into();
        assert_eq!(n.signed_by(&other.verifier()), Signed::Absent);
        let forged = Note::parse(&text.replacen("\n7\n", "\n8\n", 1)).unwrap();
        assert_eq!(forged.signed_by(&key.verifier()), Signed::Bad);
        for bad in ["", "a\n\n", "a\n\n\u{2014} n\n", "a\r\n\n\u{2014} n AAAAAAA=\n", "a\n\n\u{2014} n+x AAAAAAA=\n"] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["o\n07\nAA==\n", "o\n1\nAA==\n", "\n1\n", "o\n1\n{r}\n\n"] {
            let bad = bad.replace("{r}", &B64.encode([1u8; 32]));
            assert!(TreeHead::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
