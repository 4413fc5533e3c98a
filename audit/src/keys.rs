//! Signing keys: C2SP signed-note key encodings, key ids, key files
//! (FORMAT.md §8).
//!
//! Private key file: `PRIVATE+KEY+<name>+<keyid hex>+<base64(0x01 || seed)>`,
//! mode 0600. Public key file (`<path>.pub`): `<name>+<keyid hex>+<base64(0x01 || pubkey)>`.
//! The key id is the first 4 bytes of `SHA-256(name || "\n" || 0x01 || pubkey)`.

use super::AuditError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The key name used in notes and key strings.
pub const KEY_NAME: &str = "orchestra-audit";
/// Signature algorithm byte of ed25519 in C2SP signed notes.
pub const ALG_ED25519: u8 = 0x01;

/// Key id of an ed25519 public key under `name`.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    typed_key_id(name, ALG_ED25519, public)
}

/// C2SP signed-note key id: `SHA-256(name || "\n" || type byte || public key)[0..4]`
/// (type 0x01 for note keys, 0x04 for cosigner keys).
pub fn typed_key_id(name: &str, alg: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A public key as carried in notes, key files and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name.
    pub name: String,
    /// 4-byte key id.
    pub id: [u8; 4],
    /// The ed25519 public key.
    pub key: VerifyingKey,
}

impl VerifierKey {
    /// The key id as 8 lowercase hex digits.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }

    /// The `<name>+<keyid>+<base64>` encoding.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, self.id_hex(), B64.encode(raw))
    }

    /// Parse the `<name>+<keyid>+<base64>` encoding and check its key id.
    pub fn parse(s: &str) -> Result<VerifierKey, KeyParseError> {
        let s = s.trim_end_matches('\n');
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(idh), Some(b), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(KeyParseError::PublicLayout);
        };
        valid_name(name)?;
        let raw = B64.decode(b).map_err(|_| KeyParseError::PublicBase64)?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(KeyParseError::NotPublic);
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = public_key(&pk)?;
        let id = key_id(name, &pk);
        if idh != hex(&id) {
            return Err(KeyParseError::KeyId);
        }
        Ok(VerifierKey { name: name.to_string(), id, key })
    }
}

/// An Ed25519 public key that is canonical and not of small order (FORMAT.md §1).
pub(crate) fn public_key(pk: &[u8; 32]) -> Result<VerifyingKey, KeyParseError> {
    // RFC 8032 §5.1.3: a y coordinate of p or more is not an encoding (FORMAT.md §1).
    let y_at_least_p = pk[0] >= 0xed && pk[1..31].iter().all(|&b| b == 0xff) && pk[31] & 0x7f == 0x7f;
    if y_at_least_p {
        return Err(KeyParseError::InvalidPublic);
    }
    let key = VerifyingKey::from_bytes(pk).map_err(|_| KeyParseError::InvalidPublic)?;
    if key.is_weak() {
        return Err(KeyParseError::Weak);
    }
    Ok(key)
}

pub(crate) fn valid_name(name: &str) -> Result<(), KeyParseError> {
    if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace() || c.is_control()) {
        return Err(KeyParseError::Name(name.to_string()));
    }
    Ok(())
}

/// Why a key encoding does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// A public key not in `<name>+<keyid>+<base64>` form.
    #[error("expected <name>+<keyid>+<base64 key>")]
    PublicLayout,
    /// A private key not in `PRIVATE+KEY+<name>+<keyid>+<base64>` form.
    #[error("expected PRIVATE+KEY+<name>+<keyid>+<base64>")]
    PrivateLayout,
    /// A key name with `+`, white space or control characters, or empty.
    #[error("invalid key name {0:?}")]
    Name(String),
    /// The public key is not base64.
    #[error("key is not valid base64")]
    PublicBase64,
    /// The private key is not base64.
    #[error("private key is not valid base64")]
    PrivateBase64,
    /// Not an ed25519 public key's bytes.
    #[error("not an ed25519 public key")]
    NotPublic,
    /// Not an ed25519 private key's bytes.
    #[error("not an ed25519 private key")]
    NotPrivate,
    /// Not a point on the curve.
    #[error("invalid ed25519 public key")]
    InvalidPublic,
    /// A small-order key.
    #[error("weak (small-order) ed25519 public key")]
    Weak,
    /// The key id is not the key's.
    #[error("key id does not match the key")]
    KeyId,
}

/// A private signing key with its name.
#[derive(Clone)]
pub struct AuditKey {
    /// Key name.
    pub name: String,
    /// The ed25519 signing key.
    pub signing: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.verifier().encode())
    }
}

/// `PRIVATE+KEY+<name>+<key id hex>+<base64(alg || seed)>` (C2SP signed-note
/// private keys; `alg` 0x01 for note keys, 0x04 for cosigner keys).
pub(crate) fn encode_private(name: &str, id_hex: &str, alg: u8, seed: &[u8; 32]) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(seed);
    format!("PRIVATE+KEY+{name}+{id_hex}+{}", B64.encode(raw))
}

/// Split a private key string of algorithm `alg` into name, key id (hex, as
/// written: the caller checks it against the key) and seed.
pub(crate) fn parse_private(s: &str, alg: u8) -> Result<(&str, &str, [u8; 32]), KeyParseError> {
    let s = s.trim_end_matches('\n');
    let rest = s.strip_prefix("PRIVATE+KEY+").ok_or(KeyParseError::PrivateLayout)?;
    let mut parts = rest.splitn(3, '+');
    let (Some(name), Some(idh), Some(b), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(KeyParseError::PrivateLayout);
    };
    valid_name(name)?;
    let raw = B64.decode(b).map_err(|_| KeyParseError::PrivateBase64)?;
    if raw.len() != 33 || raw[0] != alg {
        return Err(KeyParseError::NotPrivate);
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&raw[1..]);
    Ok((name, idh, seed))
}

impl AuditKey {
    /// A fresh random key named [`KEY_NAME`].
    pub fn generate() -> Result<AuditKey, AuditError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| AuditError::Random(e.to_string()))?;
        Ok(AuditKey::from_seed(seed))
    }

    /// A key from a 32-byte seed (deterministic; for test vectors).
    pub fn from_seed(seed: [u8; 32]) -> AuditKey {
        AuditKey { name: KEY_NAME.to_string(), signing: SigningKey::from_bytes(&seed) }
    }

    /// The public half.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.signing.verifying_key();
        VerifierKey { name: self.name.clone(), id: key_id(&self.name, key.as_bytes()), key }
    }

    /// `PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>`.
    pub fn encode_private(&self) -> String {
        encode_private(&self.name, &self.verifier().id_hex(), ALG_ED25519, &self.signing.to_bytes())
    }

    /// Parse the private key encoding.
    pub fn parse_private(s: &str) -> Result<AuditKey, KeyParseError> {
        let (name, idh, seed) = parse_private(s, ALG_ED25519)?;
        let k = AuditKey { name: name.to_string(), signing: SigningKey::from_bytes(&seed) };
        if k.verifier().id_hex() != idh {
            return Err(KeyParseError::KeyId);
        }
        Ok(k)
    }

    /// Write the private key (mode 0600) and `<path>.pub`, each all or nothing
    /// (temporary file, fsync, rename). Refuses to replace an existing private
    /// key unless `force` (callers keep the old one in the [`crate::keyring`] first).
    pub fn write(&self, path: &Path, force: bool) -> Result<(), AuditError> {
        use crate::keyring::{Replace, write_file};
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
        }
        if !force && path.exists() {
            return Err(AuditError::KeyExists { path: path.to_path_buf() });
        }
        let replace = if force { Replace::Yes } else { Replace::No };
        write_file(path, format!("{}\n", self.encode_private()).as_bytes(), 0o600, replace)?;
        write_file(&public_path(path), format!("{}\n", self.verifier().encode()).as_bytes(), 0o644, Replace::Yes)
    }
}

/// `<path>.pub`.
pub fn public_path(path: &Path) -> PathBuf {
    sibling(path, ".pub")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where the signing key lives: `$ORCHESTRA_AUDIT_KEY` if set and non-empty,
/// else `$XDG_CONFIG_HOME/orchestra/audit.key`, else `~/.config/orchestra/audit.key`.
pub fn default_key_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ORCHESTRA_AUDIT_KEY").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        let x = PathBuf::from(x);
        if x.is_absolute() {
            return x.join("orchestra").join("audit.key");
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.dir));
    home.unwrap_or_else(|| PathBuf::from("/")).join(".config").join("orchestra").join("audit.key")
}

/// Load the private key at `path`. Refuses a key file readable by others.
pub fn load_key(path: &Path) -> Result<AuditKey, AuditError> {
    use std::os::unix::fs::MetadataExt as _;
    let meta =
        std::fs::metadata(path).map_err(|e| AuditError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })?;
    if meta.mode() & 0o077 != 0 {
        return Err(AuditError::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "mode {:o} lets other users read the private key; run `chmod 600 {}`",
                meta.mode() & 0o777,
                path.display()
            ),
        });
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuditError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })?;
    AuditKey::parse_private(&text).map_err(|e| AuditError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })
}

/// Load the key at `path`, creating it (and `<path>.pub`) if it does not exist.
/// Returns the key and whether it was created now, so the caller can tell the
/// user once where it is and how to pin the public key ([`created_notice`]).
pub fn load_or_create_key(path: &Path) -> Result<(AuditKey, bool), AuditError> {
    if path.exists() {
        return Ok((load_key(path)?, false));
    }
    let key = AuditKey::generate()?;
    match key.write(path, false) {
        Ok(()) => Ok((key, true)),
        // Another process created it first: use theirs.
        Err(AuditError::KeyExists { .. }) => Ok((load_key(path)?, false)),
        Err(e) => Err(e),
    }
}

/// The message to show once when a key was created on first use.
pub fn created_notice(path: &Path, key: &AuditKey) -> String {
    let pubp = public_path(path);
    format!(
        "orchestra: created audit signing key {} at {} (public key: {}).\n\
         orchestra: give reviewers the public key to pin; they verify with `orchestra audit verify --trusted-key {}`",
        key.verifier().id_hex(),
        path.display(),
        pubp.display(),
        pubp.display()
    )
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Parse lowercase hex into exactly `N` bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for i in 0..N {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = d(b[2 * i])? << 4 | d(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encodings_roundtrip() {
        let k = AuditKey::from_seed([9; 32]);
        let v = k.verifier();
        assert_eq!(VerifierKey::parse(&v.encode()), Ok(v.clone()));
        let p = AuditKey::parse_private(&k.encode_private()).map(|k| k.verifier());
        assert_eq!(p, Ok(v));
    }

    #[test]
    fn key_files() {
        let d = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(d) = d else { return };
        let path = d.path().join("sub/audit.key");
        let (k, created) = load_or_create_key(&path).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(created);
        let (k2, created2) = load_or_create_key(&path).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!created2);
        assert_eq!(k.verifier(), k2.verifier());
        assert!(matches!(k.write(&path, false), Err(AuditError::KeyExists { .. })));
        assert!(public_path(&path).exists());
    }
}
