//! The fleet's ed25519 keys: the orchestrator signs task messages with its
//! key, each worker signs its events with its own, and each side pins the
//! public keys it accepts (`--trust-orchestrator`, `distributed.trusted_workers`).
//!
//! A key file holds one line, `orchestra-fleet-key-v1 <base64 seed>`, mode
//! 0600, written once (temp + fsync + rename; an existing file is never
//! replaced). A public key is written `ed25519:<base64 of its 32 bytes>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, Verifier as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

const HEADER: &str = "orchestra-fleet-key-v1";

/// Why a key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read or written.
    #[error("key {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a fleet key.
    #[error("key {}: not an orchestra fleet key (expected one line `{HEADER} <base64>`)", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// The file exists already.
    #[error("key {}: exists already (never replaced)", path.display())]
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// The file can be read by others.
    #[error("key {}: readable by group or others (mode {mode:o}); chmod 600", path.display())]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// A public key string is not `ed25519:<base64 of 32 bytes>`.
    #[error("public key {0:?}: expected ed25519:<base64 of 32 bytes>")]
    BadPublic(String),
}

/// A public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519:{}", B64.encode(self.0.as_bytes()))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadPublic(s.to_string());
        let b = B64.decode(s.trim().strip_prefix("ed25519:").ok_or_else(bad)?).map_err(|_| bad())?;
        let arr: [u8; 32] = b.try_into().map_err(|_| bad())?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr).map(PublicKey).map_err(|_| bad())
    }
}

impl PublicKey {
    /// The key of `trusted` that `text` (`ed25519:<base64>`, as
    /// [`FromStr`](std::str::FromStr) reads it) names, if any: compared as
    /// bytes, without decoding the curve point again for every message.
    pub fn find_in<'a>(text: &str, trusted: &'a [PublicKey]) -> Option<&'a PublicKey> {
        let b64 = text.trim().strip_prefix("ed25519:")?;
        // Room for any 44-character key; a longer value does not fit (an error).
        let mut bytes = [0u8; 48];
        let n = B64.decode_slice(b64, &mut bytes).ok()?;
        let bytes = bytes.get(..n).filter(|b| b.len() == 32)?;
        trusted.iter().find(|k| k.0.as_bytes().as_slice() == bytes)
    }

    /// Whether `sig` is this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else { return false };
        self.0.verify(msg, &sig).is_ok()
    }
}

/// A signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Sign `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).to_bytes().to_vec()
    }

    /// Load a key file (refused when group or others can read it).
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        use std::os::unix::fs::MetadataExt as _;
        let io = |source| KeyError::Io { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.mode() & 0o077 != 0 {
            return Err(KeyError::Permissions { path: path.to_path_buf(), mode: meta.mode() & 0o777 });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bad = || KeyError::Malformed { path: path.to_path_buf() };
        let b64 = text.trim().strip_prefix(HEADER).ok_or_else(bad)?.trim();
        let seed: [u8; 32] = B64.decode(b64).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Create a new key file (never replacing one) and return the key.
    pub fn generate(path: &Path) -> Result<SigningKey, KeyError> {
        use std::os::unix::fs::PermissionsExt as _;
        let io = |source| KeyError::Io { path: path.to_path_buf(), source };
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: path.to_path_buf() });
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| io(std::io::Error::other(e)))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        writeln!(tmp, "{HEADER} {}", B64.encode(seed)).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // persist_noclobber: a key that appeared meanwhile is not replaced either.
        tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Load the key at `path`, creating it first when absent.
    pub fn load_or_generate(path: &Path) -> Result<SigningKey, KeyError> {
        if path.symlink_metadata().is_ok() { SigningKey::load(path) } else { SigningKey::generate(path) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        let k = SigningKey::generate(&p).unwrap();
        let again = SigningKey::load(&p).unwrap();
        assert_eq!(k.public(), again.public());
        assert!(matches!(SigningKey::generate(&p), Err(KeyError::Exists { .. })));
        let text = k.public().to_string();
        assert_eq!(text.parse::<PublicKey>().unwrap(), k.public());
        let sig = k.sign(b"m");
        assert!(k.public().verify(b"m", &sig));
        assert!(!k.public().verify(b"n", &sig));
        assert!("ed25519:AAAA".parse::<PublicKey>().is_err());
    }

    #[test]
    fn a_trusted_key_is_found_by_its_text_as_parsing_would_find_it() {
        let d = tempfile::tempdir().unwrap();
        let a = SigningKey::generate(&d.path().join("a")).unwrap().public();
        let b = SigningKey::generate(&d.path().join("b")).unwrap().public();
        let c = SigningKey::generate(&d.path().join("c")).unwrap().public();
        let trusted = [a, b];
        for (text, want) in [
            (a.to_string(), Some(a)),
            (format!(" {b}\n"), Some(b)),
            (c.to_string(), None),
            ("ed25519:AAAA".to_string(), None),
            (format!("{a}AAAA"), None),
            (a.to_string().replace("ed25519:", ""), None),
            (String::new(), None),
        ] {
            assert_eq!(PublicKey::find_in(&text, &trusted).copied(), want, "{text:?}");
            // The same answer as parsing the text and looking the key up.
            let parsed = text.parse::<PublicKey>().ok().filter(|k| trusted.contains(k));
            assert_eq!(parsed, want, "{text:?}");
        }
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        SigningKey::generate(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(SigningKey::load(&p), Err(KeyError::Permissions { .. })));
    }
}
