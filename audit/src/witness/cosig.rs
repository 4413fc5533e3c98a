//! Witness keys and C2SP `cosignature/v1` (Ed25519, signature type `0x04`).
//!
//! A witness key is a C2SP note key with the witness's own name (e.g.
//! `witness.example/w1`):
//!
//! ```text
//! key id      = SHA-256(name || "\n" || 0x04 || public key (32 bytes))[0..4]
//! public key  = name "+" hex(key id) "+" base64(0x04 || public key)
//! private key = "PRIVATE+KEY+" name "+" hex(key id) "+" base64(0x04 || seed (32 bytes))
//! ```
//!
//! A cosignature over a checkpoint note body `B` at POSIX time `t` (seconds)
//! is the Ed25519 signature of `"cosignature/v1\ntime " t "\n" B`; its
//! signature line carries `key id || t (8 bytes, big-endian) || signature`.
//!
//! Guarantees: [`WitnessVerifier::verify`] accepts a note only if it carries at
//! least one line with the witness's name and key id and every such line is
//! 76 bytes, has a timestamp below 2^63 and verifies strictly; lines of other
//! keys are ignored. A cosignature says the witness saw this checkpoint as the
//! largest consistent one for its origin at time `t`; it vouches for the
//! origin, size and root lines only, never for extension lines.

use super::note::Note;
use crate::AuditError;
use crate::keys::{KeyParseError, hex, public_key, valid_name};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::path::Path;

/// Signature type byte of Ed25519 cosignatures in C2SP signed notes.
pub const COSIGNATURE_V1: u8 = 0x04;

/// Key id of a witness key.
pub fn cosigner_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    crate::keys::typed_key_id(name, COSIGNATURE_V1, public)
}

/// The message a `cosignature/v1` signs: the header line, the time line, then
/// the checkpoint's note body.
pub fn cosigned_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// A witness's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    /// The witness's name.
    pub name: String,
    /// The key id.
    pub id: [u8; 4],
    /// The Ed25519 public key.
    pub key: VerifyingKey,
}

/// Why a witness's cosignature is not there or not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosigError {
    /// No line with the witness's name and key id.
    #[error("no cosignature by witness {0}")]
    Missing(String),
    /// A line of the witness that does not verify.
    #[error("the cosignature by witness {0} does not verify")]
    Bad(String),
}

impl WitnessVerifier {
    /// `<name>+<key id hex>+<base64(0x04 || key)>`.
    pub fn encode(&self) -> String {
        let mut raw = vec![COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex(&self.id), B64.encode(raw))
    }

    /// Parse a witness key string, checking its key id.
    pub fn parse(s: &str) -> Result<WitnessVerifier, KeyParseError> {
        let s = s.trim_end_matches('\n');
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(idh), Some(b), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(KeyParseError::PublicLayout);
        };
        valid_name(name)?;
        let raw = B64.decode(b).map_err(|_| KeyParseError::PublicBase64)?;
        if raw.len() != 33 || raw[0] != COSIGNATURE_V1 || B64.encode(&raw) != b {
            return Err(KeyParseError::NotPublic);
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = public_key(&pk)?;
        let id = cosigner_key_id(name, &pk);
        if idh != hex(&id) {
            return Err(KeyParseError::KeyId);
        }
        Ok(WitnessVerifier { name: name.to_string(), id, key })
    }

    /// The key id as 8 hex digits.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }

    /// Check the witness's cosignatures on `note`; returns the latest
    /// timestamp among them.
    pub fn verify(&self, note: &Note) -> Result<u64, CosigError> {
        let mut lines = note.signatures.iter().filter(|s| s.name == self.name && s.id() == self.id).peekable();
        if lines.peek().is_none() {
            return Err(CosigError::Missing(self.name.clone()));
        }
        let mut latest = 0;
        for l in lines {
            let bad = || CosigError::Bad(self.name.clone());
            let (ts, sig) = l.raw[4..].split_at_checked(8).ok_or_else(bad)?;
            let (Ok(ts), Ok(sig)) = (<[u8; 8]>::try_from(ts), <[u8; 64]>::try_from(sig)) else {
                return Err(bad());
            };
            let t = u64::from_be_bytes(ts);
            if t > i64::MAX as u64 {
                return Err(bad());
            }
            let msg = cosigned_message(&note.body, t);
            self.key.verify_strict(msg.as_bytes(), &Signature::from_bytes(&sig)).map_err(|_| bad())?;
            latest = latest.max(t);
        }
        Ok(latest)
    }
}

/// A witness's private key.
#[derive(Clone)]
pub struct WitnessKey {
    /// The witness's name.
    pub name: String,
    signing: SigningKey,
}

impl std::fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessKey({})", self.verifier().encode())
    }
}

impl WitnessKey {
    /// A fresh random key.
    pub fn generate(name: &str) -> Result<WitnessKey, AuditError> {
        valid_name(name).map_err(|e| AuditError::KeyFile { path: name.into(), reason: e.to_string() })?;
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| AuditError::Random(e.to_string()))?;
        Ok(WitnessKey::from_seed(name, seed))
    }

    /// A key from a seed (deterministic; for tests and vectors). The name is
    /// not checked.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> WitnessKey {
        WitnessKey { name: name.to_string(), signing: SigningKey::from_bytes(&seed) }
    }

    /// The public half.
    pub fn verifier(&self) -> WitnessVerifier {
        let key = self.signing.verifying_key();
        WitnessVerifier { name: self.name.clone(), id: cosigner_key_id(&self.name, key.as_bytes()), key }
    }

    /// `PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 || seed)>`.
    pub fn encode_private(&self) -> String {
        crate::keys::encode_private(&self.name, &self.verifier().id_hex(), COSIGNATURE_V1, &self.signing.to_bytes())
    }

    /// Parse the private key string.
    pub fn parse_private(s: &str) -> Result<WitnessKey, KeyParseError> {
        let (name, idh, seed) = crate::keys::parse_private(s, COSIGNATURE_V1)?;
        let k = WitnessKey::from_seed(name, seed);
        if k.verifier().id_hex() != idh {
            return Err(KeyParseError::KeyId);
        }
        Ok(k)
    }

    /// Read a private key file (refusing one others can read).
    pub fn load(path: &Path) -> Result<WitnessKey, AuditError> {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path).map_err(|e| AuditError::io(path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AuditError::KeyFile {
                path: path.to_path_buf(),
                reason: "the witness private key is readable by others (want mode 0600)".into(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| AuditError::io(path, e))?;
        WitnessKey::parse_private(&text)
            .map_err(|e| AuditError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Write the private key (0600) and `<path>.pub` (0644), each all or
    /// nothing; never replaces an existing private key.
    pub fn write(&self, path: &Path) -> Result<(), AuditError> {
        use crate::keyring::{Replace, write_file};
        write_file(path, format!("{}\n", self.encode_private()).as_bytes(), 0o600, Replace::No)?;
        let pubp = crate::keys::public_path(path);
        write_file(&pubp, format!("{}\n", self.verifier().encode()).as_bytes(), 0o644, Replace::Yes)
    }

    /// The cosignature line (with its newline) over a checkpoint note body at
    /// POSIX time `time` (seconds).
    pub fn cosign(&self, body: &str, time: u64) -> String {
        let sig = self.signing.sign(cosigned_message(body, time).as_bytes());
        let mut raw = Vec::with_capacity(76);
        raw.extend_from_slice(&self.verifier().id);
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.name, B64.encode(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const BODY: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    /// A fixed vector: seed 0x01 * 32, name `witness.example/w1`, time
    /// 1679315147 over the body above. Ed25519 is deterministic, so the
    /// line is fixed; the key id and message are recomputed independently.
    #[test]
    fn cosignature_v1_fixed_vector() {
        let k = WitnessKey::from_seed("witness.example/w1", [1; 32]);
        let v = k.verifier();
        let mut h = Sha256::new();
        h.update(b"witness.example/w1\n\x04");
        h.update(v.key.as_bytes());
        assert_eq!(v.id, h.finalize()[..4]);
        assert_eq!(
            cosigned_message(BODY, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let line = k.cosign(BODY, 1679315147);
        assert_eq!(line, VECTOR_LINE, "the fixed cosignature line changed");
        let raw = B64.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(raw.len(), 76);
        assert_eq!(raw[..4], v.id);
        assert_eq!(raw[4..12], 1679315147u64.to_be_bytes());
        let note = Note::parse(&format!("{BODY}\n{line}")).unwrap();
        assert_eq!(v.verify(&note), Ok(1679315147));
        // Another witness, or the same key under another name, is missing; an edit is bad.
        let other = WitnessKey::from_seed("witness.example/w1", [2; 32]).verifier();
        assert!(matches!(other.verify(&note), Err(CosigError::Missing(_))));
        let edited = Note::parse(&format!("{}\n{line}", BODY.replace("20852163", "20852164"))).unwrap();
        assert!(matches!(v.verify(&edited), Err(CosigError::Bad(_))));
        // Key strings round-trip; a cosigner key is not a plain note key.
        assert_eq!(WitnessVerifier::parse(&v.encode()), Ok(v.clone()));
        assert_eq!(WitnessKey::parse_private(&k.encode_private()).unwrap().verifier(), v);
        assert!(crate::keys::VerifierKey::parse(&v.encode()).is_err());
        assert_eq!(v.encode(), VECTOR_KEY);
    }

    // Computed independently with OpenSSL's Ed25519 (Python `cryptography`):
    // key id = SHA-256(name "\n" 0x04 pk)[..4], line = base64(id || be64(t) || sig).
    const VECTOR_KEY: &str = "witness.example/w1+0ad7d35e+BIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
    const VECTOR_LINE: &str = "\u{2014} witness.example/w1 CtfTXgAAAABkGFDL0l0pFwTk9MykvW0AWQ7aj3wlQOPdkH/U6S+pa35ceaScuEzSwKfIeJ7i4Fxp8hH+ardr70qwEBhCA4/FskmwAg==\n";
}
