//! The prune marker (FORMAT.md §14): a log whose records before size `S` were
//! removed for retention holds `<dir>/pruned`, which says where verification
//! starts again: the checkpoint of size `S` (the note the first remaining
//! segment starts with), the key in force there, and, in format 2, the right
//! edge of the Merkle tree of the first `S` records.
//!
//! Guarantees: [`Marker::parse`] is strict (one encoding per marker, never a
//! panic on hostile input) and [`Marker::check`] accepts a marker only if its
//! note is signed by its key and its right edge gives the note's root. Whether
//! the pruning itself was authorised is the verifier's question: a later
//! signed `log_pruned` record must name it (FORMAT.md §14).

use super::checkpoint::{NoteError, SignedCheckpoint};
use super::keys::VerifierKey;
use super::merkle::{Frontier, Hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The marker's file name in a log directory.
pub const FILE: &str = "pruned";
/// The marker's first line.
pub const HEADER: &str = "orchestra.audit/pruned";

/// A parsed prune marker.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Records `0..size` were removed.
    pub size: u64,
    /// The key in force at `size`.
    pub key: VerifierKey,
    /// Format 2: the right edge of the tree of `size` leaves.
    pub edge: Vec<Hash>,
    /// The checkpoint of size `size`.
    pub checkpoint: SignedCheckpoint,
}

/// Why a marker is not valid.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// Not the marker's layout.
    #[error("malformed prune marker: {0}")]
    Malformed(&'static str),
    /// The key line.
    #[error("prune marker key: {0}")]
    Key(#[from] super::keys::KeyParseError),
    /// The checkpoint.
    #[error("prune marker checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The checkpoint is not of the marker's size.
    #[error("the prune marker's checkpoint covers {0} records, not the marker's size")]
    Size(u64),
    /// The right edge does not give the checkpoint's root.
    #[error("the prune marker's Merkle right edge does not give its checkpoint's root")]
    Edge,
}

impl Marker {
    /// The marker's text.
    pub fn encode(&self) -> String {
        let mut out = format!("{HEADER}\nsize {}\nkey {}\n", self.size, self.key.encode());
        for h in &self.edge {
            out.push_str(&format!("edge {}\n", B64.encode(h)));
        }
        out.push('\n');
        out.push_str(&self.checkpoint.text);
        out
    }

    /// Parse a marker strictly.
    pub fn parse(text: &str) -> Result<Marker, MarkerError> {
        let i = text.find("\n\n").ok_or(MarkerError::Malformed("no blank line before the checkpoint"))?;
        let lines: Vec<&str> = text[..i].split('\n').collect();
        let [header, size, key, edge @ ..] = &lines[..] else {
            return Err(MarkerError::Malformed("fewer lines than a marker has"));
        };
        if *header != HEADER {
            return Err(MarkerError::Malformed("not an orchestra.audit/pruned marker"));
        }
        let size = size
            .strip_prefix("size ")
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s.len() == 1 || !s.starts_with('0')))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .ok_or(MarkerError::Malformed("bad size line"))?;
        let key = VerifierKey::parse(key.strip_prefix("key ").ok_or(MarkerError::Malformed("no key line"))?)?;
        let edge = edge
            .iter()
            .map(|l| {
                let b = l.strip_prefix("edge ").ok_or(MarkerError::Malformed("bad edge line"))?;
                let raw = B64.decode(b).ok().filter(|r| B64.encode(r) == b);
                raw.and_then(|r| Hash::try_from(r).ok())
                    .ok_or(MarkerError::Malformed("an edge is not a canonical base64 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint = SignedCheckpoint::parse(&text[i + 2..])?;
        Ok(Marker { size, key, edge, checkpoint })
    }

    /// Check the marker on its own: its checkpoint is of its size and signed
    /// by its key, and (format 2) its right edge gives the checkpoint's root
    /// (format 1: it has none). Returns the frontier to continue from.
    pub fn check(&self) -> Result<Option<Frontier>, MarkerError> {
        let c = &self.checkpoint.checkpoint;
        if c.size != self.size {
            return Err(MarkerError::Size(c.size));
        }
        self.checkpoint.verify(&self.key)?;
        match c.root {
            None if self.edge.is_empty() => Ok(None),
            None => Err(MarkerError::Malformed("a format-1 marker has no edge lines")),
            Some(root) => {
                let f = Frontier::from_right_edge(self.size, &self.edge).ok_or(MarkerError::Edge)?;
                if f.root() != root {
                    return Err(MarkerError::Edge);
                }
                Ok(Some(f))
            }
        }
    }
}

/// Read `<dir>/pruned`, if there is one: only a regular file of at most
/// 64 KiB (a FIFO, a device or a directory planted there is damage, never a
/// hang or an allocation without bound).
pub fn read(dir: &std::path::Path) -> Result<Option<Marker>, super::AuditError> {
    let path = dir.join(FILE);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() || m.len() > 64 << 10 => {
            return Err(super::AuditError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{} is not a prune marker (not a regular file of at most 64 KiB)", path.display()),
            });
        }
        _ => {}
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => Marker::parse(&text)
            .map(Some)
            .map_err(|e| super::AuditError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(super::AuditError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::AuditKey;
    use crate::merkle::leaf_hash;

    fn marker(size: u64) -> (Marker, AuditKey) {
        let k = AuditKey::from_seed([1; 32]);
        let mut f = Frontier::new();
        for i in 0..size {
            f.push(leaf_hash(&i.to_be_bytes()));
        }
        let c = Checkpoint { log_id: [2; 16], size, head: [3; 32], time_us: 4, root: Some(f.root()) };
        let checkpoint = SignedCheckpoint::parse(&c.sign(&k)).unwrap_or_else(|e| panic!("{e}"));
        (Marker { size, key: k.verifier(), edge: f.right_edge(), checkpoint }, k)
    }

    #[test]
    fn a_marker_round_trips_and_checks() {
        for size in [1, 2, 3, 7, 8, 1000] {
            let (m, _) = marker(size);
            let p = Marker::parse(&m.encode()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.encode(), m.encode());
            assert!(p.check().is_ok_and(|f| f.is_some_and(|f| f.size() == size)));
        }
    }

    #[test]
    fn a_bad_edge_another_key_or_garbage_is_refused() {
        let (m, _) = marker(7);
        let text = m.encode();
        let mut bad = m.clone();
        bad.edge[0][0] ^= 1;
        assert!(matches!(Marker::parse(&bad.encode()).map(|m| m.check()), Ok(Err(MarkerError::Edge))));
        let mut other = m.clone();
        other.key = AuditKey::from_seed([9; 32]).verifier();
        assert!(Marker::parse(&other.encode()).is_ok_and(|m| m.check().is_err()));
        for cut in 0..text.len() {
            if text.is_char_boundary(cut) {
                let _ = Marker::parse(&text[..cut]).map(|m| m.check());
            }
        }
        assert!(Marker::parse(&text.replace("size 7", "size 07")).is_err());
    }
}
