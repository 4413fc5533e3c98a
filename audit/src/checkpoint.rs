//! Signed checkpoints (FORMAT.md §7): a C2SP `tlog-checkpoint` body inside a
//! C2SP `signed-note`, signed with ed25519.
//!
//! Format 2 (new logs):
//!
//! ```text
//! orchestra.audit/v2/<log id, 32 hex>
//! <size: number of records covered, decimal>
//! <base64 of the RFC 6962 Merkle root over the payloads of records 0..size>
//! time <microseconds since the Unix epoch>
//! head <base64 of the hash of record size-1>
//!
//! — orchestra.audit/v2/<log id> <base64(note key id (4) || ed25519 signature (64))>
//! — orchestra-audit <base64(key id (4) || the same signature)>
//! ```
//!
//! The first signature line names the key after the origin, as C2SP
//! `tlog-checkpoint` asks, so that third-party tools (witnesses, note
//! verifiers) check it with the key string `orchestra audit key --note`
//! prints; the second names it as the log's records do (`orchestra-audit`),
//! which is how Orchestra finds the key in its ring. Both carry the same
//! signature over the same body (ed25519 is deterministic). Format 1 (logs
//! created before) has four body lines, the chain head as the third line and
//! only the `orchestra-audit` line.
//!
//! The signature covers the body (its lines, each with its newline). The
//! origin line is the domain separator: a key used for Orchestra audit logs
//! signs nothing else, and every message it signs starts with
//! `orchestra.audit/`.

use super::keys::{AuditKey, KEY_NAME, VerifierKey, hex, key_id, unhex};
use super::record::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _};

/// Prefix of the origin line of format 1.
pub const ORIGIN_PREFIX_V1: &str = "orchestra.audit/v1/";
/// Prefix of the origin line of format 2.
pub const ORIGIN_PREFIX: &str = "orchestra.audit/v2/";

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
    /// Format 2: the RFC 6962 Merkle root over the payloads of records
    /// `0..size`. `None` for a format-1 checkpoint.
    pub root: Option<Hash>,
}

impl Checkpoint {
    /// The origin line's text for a log id (format 2).
    pub fn origin(log_id: &[u8; 16]) -> String {
        format!("{ORIGIN_PREFIX}{}", hex(log_id))
    }

    /// This checkpoint's origin line.
    pub fn origin_line(&self) -> String {
        match self.root {
            Some(_) => Self::origin(&self.log_id),
            None => format!("{ORIGIN_PREFIX_V1}{}", hex(&self.log_id)),
        }
    }

    /// The format version this checkpoint belongs to.
    pub fn version(&self) -> u32 {
        if self.root.is_some() { 2 } else { 1 }
    }

    /// The C2SP `tlog-checkpoint` root hash line's value: the Merkle root
    /// (format 2) or the chain head (format 1).
    pub fn tree_hash(&self) -> Hash {
        self.root.unwrap_or(self.head)
    }

    /// The note body: the signed message.
    pub fn body(&self) -> String {
        match self.root {
            Some(root) => format!(
                "{}\n{}\n{}\ntime {}\nhead {}\n",
                self.origin_line(),
                self.size,
                B64.encode(root),
                self.time_us,
                B64.encode(self.head)
            ),
            None => {
                format!("{}\n{}\n{}\ntime {}\n", self.origin_line(), self.size, B64.encode(self.head), self.time_us)
            }
        }
    }

    /// The complete signed note.
    pub fn sign(&self, key: &AuditKey) -> String {
        let body = self.body();
        let sig = key.signing.sign(body.as_bytes()).to_bytes();
        let v = key.verifier();
        let line = |name: &str, id: &[u8; 4]| {
            let mut raw = Vec::with_capacity(68);
            raw.extend_from_slice(id);
            raw.extend_from_slice(&sig);
            format!("\u{2014} {name} {}\n", B64.encode(raw))
        };
        let mut out = format!("{body}\n");
        if self.root.is_some() {
            let origin = self.origin_line();
            out.push_str(&line(&origin, &note_key(&v, &origin).id));
        }
        out.push_str(&line(&v.name, &v.id));
        out
    }
}

/// The C2SP note verifier key of `key` under the name `origin` (format 2's
/// first signature line): same public key, the key id computed with that name.
pub fn note_key(key: &VerifierKey, origin: &str) -> VerifierKey {
    VerifierKey { name: origin.to_string(), id: key_id(origin, key.key.as_bytes()), key: key.key }
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
    /// Not the body lines of its format (4 in format 1, 5 in format 2).
    #[error("checkpoint body has {0} lines, expected {1}")]
    BodyLines(usize, usize),
    /// The origin line.
    #[error("bad origin line {0:?}")]
    Origin(String),
    /// The size line.
    #[error("bad size line")]
    Size,
    /// A hash line (root or head).
    #[error("bad hash line")]
    Head,
    /// A hash's length.
    #[error("hash is not 32 bytes")]
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
        let origin = lines.first().copied().unwrap_or_default();
        let (v2, id) = match (origin.strip_prefix(ORIGIN_PREFIX), origin.strip_prefix(ORIGIN_PREFIX_V1)) {
            (Some(id), _) => (true, id),
            (None, Some(id)) => (false, id),
            (None, None) => return Err(NoteError::Origin(origin.to_string())),
        };
        let log_id = unhex::<16>(id).ok_or_else(|| NoteError::Origin(origin.to_string()))?;
        let want = if v2 { 5 } else { 4 };
        if lines.len() != want {
            return Err(NoteError::BodyLines(lines.len(), want));
        }
        let size = parse_decimal(lines[1]).ok_or(NoteError::Size)?;
        let hash = |line: &str| -> Result<Hash, NoteError> {
            canonical_b64(line).ok_or(NoteError::Head)?.try_into().map_err(|_| NoteError::HeadLength)
        };
        let third = hash(lines[2])?;
        let time_us = lines[3].strip_prefix("time ").and_then(parse_decimal).ok_or(NoteError::Time)?;
        let (head, root) = if v2 {
            let head = lines[4].strip_prefix("head ").ok_or(NoteError::Head).and_then(hash)?;
            (head, Some(third))
        } else {
            (third, None)
        };
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
            checkpoint: Checkpoint { log_id, size, head, time_us, root },
            body: body.to_string(),
            text: text.to_string(),
            signatures,
        })
    }

    /// Verify the signatures by `key` (the lines matching its name and key
    /// id), strictly: there is at least one, and every one verifies
    /// (FORMAT.md §7.1; a line that fails rejects the note, as C2SP
    /// signed-note recommends).
    ///
    /// A format-2 note must be signed by `key` under both of its names: the
    /// origin (what third-party tools check) and `key`'s own (FORMAT.md §7.1),
    /// so that Orchestra and those tools never disagree about a note.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), NoteError> {
        self.verify_as(key, &key.id_hex())?;
        if self.checkpoint.root.is_some() {
            self.verify_as(&note_key(key, &self.checkpoint.origin_line()), &key.id_hex())?;
        }
        Ok(())
    }

    /// Verify the lines of one (name, key id) strictly; errors name `shown`.
    pub fn verify_as(&self, key: &VerifierKey, shown: &str) -> Result<(), NoteError> {
        let mut lines = self.signatures.iter().filter(|s| s.name == key.name && s.id == key.id).peekable();
        if lines.peek().is_none() {
            return Err(NoteError::NotSigned(shown.to_string()));
        }
        for s in lines {
            let sig = Signature::from_bytes(&s.sig);
            key.key
                .verify_strict(self.body.as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature(shown.to_string()))?;
        }
        Ok(())
    }

    /// Key id of the first signature line under Orchestra's key name, if any
    /// (the id the key ring knows the key by).
    pub fn first_signer(&self) -> Option<[u8; 4]> {
        self.signatures.iter().find(|s| s.name == KEY_NAME).map(|s| s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let k = AuditKey::from_seed([1; 32]);
        let c = Checkpoint { log_id: [2; 16], size: 10, head: [3; 32], time_us: 5, root: None };
        let text = c.sign(&k);
        let p = SignedCheckpoint::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.checkpoint, c);
        assert!(p.verify(&k.verifier()).is_ok());
        assert!(p.verify(&AuditKey::from_seed([4; 32]).verifier()).is_err());
        let forged = text.replacen("\n10\n", "\n11\n", 1);
        let p = SignedCheckpoint::parse(&forged).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.verify(&k.verifier()).is_err());
    }

    #[test]
    fn a_format_2_note_is_signed_under_the_origin_and_the_key_name() {
        let k = AuditKey::from_seed([1; 32]);
        let c = Checkpoint { log_id: [2; 16], size: 10, head: [3; 32], time_us: 5, root: Some([9; 32]) };
        let text = c.sign(&k);
        let p = SignedCheckpoint::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.checkpoint, c);
        assert_eq!(p.signatures.len(), 2);
        assert_eq!(p.signatures[0].name, Checkpoint::origin(&[2; 16]));
        assert_eq!(p.first_signer(), Some(k.verifier().id));
        assert!(p.verify(&k.verifier()).is_ok());
        // Either line alone is not enough.
        let (body, sigs) = text.split_once("\n\n").unwrap_or_default();
        for keep in sigs.lines() {
            let one = format!("{body}\n\n{keep}\n");
            let p = SignedCheckpoint::parse(&one).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.verify(&k.verifier()).is_err(), "{one}");
        }
        assert!(text.starts_with("orchestra.audit/v2/02020202020202020202020202020202\n10\n"));
        assert!(text.contains("\ntime 5\nhead AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n\n"));
    }
}
