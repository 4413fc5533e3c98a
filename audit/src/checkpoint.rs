//! Signed checkpoints (FORMAT.md §7): a C2SP `tlog-checkpoint` body inside a
//! C2SP `signed-note`, signed with ed25519.
//!
//! ```text
//! orchestra.audit/v1/<log id, 32 hex>
//! <size: number of records covered, decimal>
//! <base64 of the hash of record size-1>
//! time <microseconds since the Unix epoch>
//!
//! — orchestra-audit <base64(key id (4) || ed25519 signature (64))>
//! ```
//!
//! The signature covers the body (the four lines, each with its newline).
//! The origin line is the domain separator: a key used for Orchestra audit
//! logs signs nothing else, and every message it signs starts with
//! `orchestra.audit/v1/`.

use super::keys::{AuditKey, VerifierKey, hex, unhex};
use super::record::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _};

/// Prefix of the origin line.
pub const ORIGIN_PREFIX: &str = "orchestra.audit/v1/";

/// The signed content of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's id.
    pub log_id: [u8; 16],
    /// Number of records covered (records 0..size).
    pub size: u64,
    /// Hash of record `size - 1`.
    pub head: Hash,
    /// Time of signing, microseconds since the Unix epoch.
    pub time_us: u64,
}

impl Checkpoint {
    /// The origin line's text for a log id.
    pub fn origin(log_id: &[u8; 16]) -> String {
        format!("{ORIGIN_PREFIX}{}", hex(log_id))
    }

    /// The note body: the signed message.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\ntime {}\n", Self::origin(&self.log_id), self.size, B64.encode(self.head), self.time_us)
    }

    /// The complete signed note.
    pub fn sign(&self, key: &AuditKey) -> String {
        let body = self.body();
        let sig = key.signing.sign(body.as_bytes());
        let v = key.verifier();
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&v.id);
        raw.extend_from_slice(&sig.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", v.name, B64.encode(raw))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub id: [u8; 4],
    /// The ed25519 signature.
    pub sig: [u8; 64],
}

/// A parsed signed checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note body (the signed bytes).
    pub body: String,
    /// The whole note text.
    pub text: String,
    /// Its signature lines.
    pub signatures: Vec<NoteSignature>,
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn canonical_b64(s: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(s).ok()?;
    (B64.encode(&raw) == s).then_some(raw)
}

/// Why a checkpoint note does not parse, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A `\r` anywhere.
    #[error("note contains a carriage return")]
    CarriageReturn,
    /// No blank line between the body and the signatures.
    #[error("note has no blank line before its signatures")]
    NoBlankLine,
    /// Not the four body lines.
    #[error("checkpoint body has {0} lines, expected 4")]
    BodyLines(usize),
    /// The origin line.
    #[error("bad origin line {0:?}")]
    Origin(String),
    /// The size line.
    #[error("bad size line")]
    Size,
    /// The head hash line.
    #[error("bad head hash line")]
    Head,
    /// The head hash's length.
    #[error("head hash is not 32 bytes")]
    HeadLength,
    /// The time line.
    #[error("bad time line")]
    Time,
    /// No signature lines.
    #[error("note has no signature lines")]
    NoSignatures,
    /// A signature line without its em dash.
    #[error("signature line does not start with an em dash")]
    EmDash,
    /// A signature line without name and signature.
    #[error("bad signature line")]
    SignatureLine,
    /// A signature line's key name.
    #[error("bad key name in signature line")]
    SignatureName,
    /// A signature that is not canonical base64.
    #[error("signature is not canonical base64")]
    SignatureBase64,
    /// A signature of the wrong length.
    #[error("signature is not 4 + 64 bytes")]
    SignatureLength,
    /// No signature by this key (its id).
    #[error("no signature by key {0}")]
    NotSigned(String),
    /// The signature by this key (its id) does not verify.
    #[error("signature by key {0} does not verify")]
    BadSignature(String),
}

impl SignedCheckpoint {
    /// Parse a note strictly (FORMAT.md §7.2).
    pub fn parse(text: &str) -> Result<SignedCheckpoint, NoteError> {
        if text.contains('\r') {
            return Err(NoteError::CarriageReturn);
        }
        let split = text.find("\n\n").ok_or(NoteError::NoBlankLine)?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        let lines: Vec<&str> = body[..body.len() - 1].split('\n').collect();
        let [origin, size, head, time] = lines[..] else {
            return Err(NoteError::BodyLines(lines.len()));
        };
        let log_id = origin
            .strip_prefix(ORIGIN_PREFIX)
            .and_then(unhex::<16>)
            .ok_or_else(|| NoteError::Origin(origin.to_string()))?;
        let size = parse_decimal(size).ok_or(NoteError::Size)?;
        let head_raw = canonical_b64(head).ok_or(NoteError::Head)?;
        let head: Hash = head_raw.try_into().map_err(|_| NoteError::HeadLength)?;
        let time_us = time.strip_prefix("time ").and_then(parse_decimal).ok_or(NoteError::Time)?;
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::NoSignatures);
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::EmDash)?;
            let (name, b) = rest.split_once(' ').ok_or(NoteError::SignatureLine)?;
            if name.is_empty() || name.contains('+') {
                return Err(NoteError::SignatureName);
            }
            let raw = canonical_b64(b).ok_or(NoteError::SignatureBase64)?;
            if raw.len() != 68 {
                return Err(NoteError::SignatureLength);
            }
            let mut id = [0u8; 4];
            id.copy_from_slice(&raw[..4]);
            let mut sig = [0u8; 64];
            sig.copy_from_slice(&raw[4..]);
            signatures.push(NoteSignature { name: name.to_string(), id, sig });
        }
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint { log_id, size, head, time_us },
            body: body.to_string(),
            text: text.to_string(),
            signatures,
        })
    }

    /// Verify the signatures by `key` (the lines matching its name and key
    /// id), strictly: there is at least one, and every one verifies
    /// (FORMAT.md §7.1; a line that fails rejects the note, as C2SP
    /// signed-note recommends).
    pub fn verify(&self, key: &VerifierKey) -> Result<(), NoteError> {
        let mut lines = self.signatures.iter().filter(|s| s.name == key.name && s.id == key.id).peekable();
        if lines.peek().is_none() {
            return Err(NoteError::NotSigned(key.id_hex()));
        }
        for s in lines {
            let sig = Signature::from_bytes(&s.sig);
            key.key.verify_strict(self.body.as_bytes(), &sig).map_err(|_| NoteError::BadSignature(key.id_hex()))?;
        }
        Ok(())
    }

    /// Key id of the first signature line, if any.
    pub fn first_signer(&self) -> Option<[u8; 4]> {
        self.signatures.first().map(|s| s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let k = AuditKey::from_seed([1; 32]);
        let c = Checkpoint { log_id: [2; 16], size: 10, head: [3; 32], time_us: 5 };
        let text = c.sign(&k);
        let p = SignedCheckpoint::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.checkpoint, c);
        assert!(p.verify(&k.verifier()).is_ok());
        assert!(p.verify(&AuditKey::from_seed([4; 32]).verifier()).is_err());
        let forged = text.replacen("\n10\n", "\n11\n", 1);
        let p = SignedCheckpoint::parse(&forged).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.verify(&k.verifier()).is_err());
    }
}
