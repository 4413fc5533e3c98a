//! Proofs over a format-2 log that a third party checks without the log
//! (FORMAT.md §7.5): an inclusion proof for one record (C2SP `tlog-proof`,
//! carrying the record) and a consistency proof between two tree sizes (the
//! body of a C2SP `tlog-witness` request: `old N`, the hashes, the newer
//! checkpoint).
//!
//! Guarantees: a proof is built from the tile store beside the log, brought
//! up to date from the records under the writers' lock, and is checked
//! against the checkpoint it names before it is returned; a store that
//! disagrees is rebuilt from the records once, and if the records themselves
//! disagree with the signed checkpoint the answer is an error, never a proof.
//! Parsing is strict (canonical base64, decimal without leading zeros) and
//! never panics on hostile input. Nothing here decides whom to trust: the
//! caller verifies the checkpoint's signature with the key it trusts.

use super::AuditError;
use super::checkpoint::{NoteError, SignedCheckpoint};
use super::format::{self, FRAME_CHECKPOINT, SegmentFile, Streamed};
use super::merkle::{self, Hash, leaf_hash};
use super::record::RecordRef;
use super::tiles::Tiles;
use super::tree;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::Path;

/// First line of an inclusion proof (C2SP `tlog-proof`).
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why a proof cannot be made or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// Reading the log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The log is of format 1: its checkpoints commit to no Merkle tree.
    #[error(
        "the log is of format 1: its checkpoints sign the hash chain, not a Merkle tree, so no proofs can be made (new logs are format 2)"
    )]
    Format1,
    /// No checkpoint of the size asked for.
    #[error("the log has no checkpoint of size {0}")]
    NoCheckpoint(u64),
    /// The record is not covered by the checkpoint.
    #[error("record {seq} is not covered by a checkpoint of size {size}")]
    NotCovered {
        /// The record.
        seq: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Sizes out of order.
    #[error("a consistency proof needs 0 < OLD <= NEW (got {old} and {new})")]
    Sizes {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The records do not produce the checkpoint's root.
    #[error("the records do not match the signed checkpoint of size {0}: run `orchestra audit verify`")]
    Mismatch(u64),
    /// The record was adopted unsigned (FORMAT.md §9.1): it is in the signed
    /// tree, but nobody vouches for it, so no proof is made for it.
    #[error(
        "record {seq} was found unsigned and adopted by record {recovery} (FORMAT.md §9.1): it is in the signed tree but not authenticated, so no proof is made for it"
    )]
    Adopted {
        /// The record.
        seq: u64,
        /// The `recovery` record that adopted it.
        recovery: u64,
    },
    /// The record was pruned (FORMAT.md §14).
    #[error("record {seq} was pruned (the log starts at record {size}): prove it from the archive")]
    Pruned {
        /// The record.
        seq: u64,
        /// Where the log starts.
        size: u64,
    },
    /// The proof text is malformed.
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// The checkpoint inside the proof.
    #[error("the proof's checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The proof does not prove what it claims.
    #[error("{0}")]
    Invalid(&'static str),
}

/// One record and the path from it to a checkpoint's root.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// The record's sequence number (its leaf index).
    pub seq: u64,
    /// The record's payload (FORMAT.md §5.1): the leaf.
    pub payload: Vec<u8>,
    /// The inclusion path (RFC 9162 §2.1.3).
    pub path: Vec<Hash>,
    /// The checkpoint whose root the path leads to.
    pub checkpoint: SignedCheckpoint,
}

/// Two tree sizes and the proof that the newer tree extends the older.
#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    /// The older size.
    pub old_size: u64,
    /// The consistency path (RFC 9162 §2.1.4).
    pub path: Vec<Hash>,
    /// The newer checkpoint.
    pub checkpoint: SignedCheckpoint,
}

fn hash_lines(path: &[Hash]) -> String {
    path.iter().map(|h| format!("{}\n", B64.encode(h))).collect()
}

fn parse_hash(line: &str) -> Result<Hash, ProveError> {
    let raw = B64.decode(line).map_err(|_| ProveError::Malformed("a hash line is not base64"))?;
    if B64.encode(&raw) != line {
        return Err(ProveError::Malformed("a hash line is not canonical base64"));
    }
    raw.try_into().map_err(|_| ProveError::Malformed("a hash is not 32 bytes"))
}

fn parse_decimal(s: &str) -> Result<u64, ProveError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(ProveError::Malformed("a number is not canonical decimal"));
    }
    s.parse().map_err(|_| ProveError::Malformed("a number is out of range"))
}

/// Split `text` at its first blank line: the proof lines and the note.
fn split(text: &str) -> Result<(Vec<&str>, SignedCheckpoint), ProveError> {
    let i = text.find("\n\n").ok_or(ProveError::Malformed("no blank line before the checkpoint"))?;
    let head: Vec<&str> = text[..i].split('\n').collect();
    Ok((head, SignedCheckpoint::parse(&text[i + 2..])?))
}

impl InclusionProof {
    /// The C2SP `tlog-proof` text, the record in its `extra` line.
    pub fn encode(&self) -> String {
        format!(
            "{PROOF_HEADER}\nextra {}\nindex {}\n{}\n{}",
            B64.encode(&self.payload),
            self.seq,
            hash_lines(&self.path),
            self.checkpoint.text
        )
    }

    /// Parse the text [`InclusionProof::encode`] writes.
    pub fn parse(text: &str) -> Result<InclusionProof, ProveError> {
        let (lines, checkpoint) = split(text)?;
        let [header, extra, index, path @ ..] = &lines[..] else {
            return Err(ProveError::Malformed("fewer lines than a proof has"));
        };
        if *header != PROOF_HEADER {
            return Err(ProveError::Malformed("not a c2sp.org/tlog-proof@v1"));
        }
        let payload = extra
            .strip_prefix("extra ")
            .and_then(|b| B64.decode(b).ok().filter(|raw| B64.encode(raw) == b))
            .ok_or(ProveError::Malformed("no canonical `extra` line with the record"))?;
        let seq = parse_decimal(index.strip_prefix("index ").ok_or(ProveError::Malformed("no `index` line"))?)?;
        let path = path.iter().map(|l| parse_hash(l)).collect::<Result<_, _>>()?;
        Ok(InclusionProof { seq, payload, path, checkpoint })
    }

    /// Check the path from the record to the checkpoint's root, and that the
    /// record is the one at `seq`. Returns the record. (The checkpoint's
    /// signature is the caller's to check, with the key it trusts.)
    pub fn check(&self) -> Result<RecordRef<'_>, ProveError> {
        let root = self.checkpoint.checkpoint.root.ok_or(ProveError::Format1)?;
        let r = RecordRef::decode(&self.payload).map_err(|_| ProveError::Malformed("the record does not decode"))?;
        if r.seq != self.seq {
            return Err(ProveError::Invalid("the record's sequence number is not the proof's index"));
        }
        let size = self.checkpoint.checkpoint.size;
        if !merkle::verify_inclusion(&leaf_hash(&self.payload), self.seq, size, &self.path, &root) {
            return Err(ProveError::Invalid("the inclusion path does not lead to the checkpoint's root"));
        }
        Ok(r)
    }
}

impl ConsistencyProof {
    /// `old N`, the hashes, a blank line, the newer checkpoint (the body of a
    /// C2SP `tlog-witness` add-checkpoint request).
    pub fn encode(&self) -> String {
        format!("old {}\n{}\n{}", self.old_size, hash_lines(&self.path), self.checkpoint.text)
    }

    /// Parse the text [`ConsistencyProof::encode`] writes.
    pub fn parse(text: &str) -> Result<ConsistencyProof, ProveError> {
        let (lines, checkpoint) = split(text)?;
        let [old, path @ ..] = &lines[..] else { return Err(ProveError::Malformed("no `old` line")) };
        let old_size = parse_decimal(old.strip_prefix("old ").ok_or(ProveError::Malformed("no `old` line"))?)?;
        let path = path.iter().map(|l| parse_hash(l)).collect::<Result<_, _>>()?;
        Ok(ConsistencyProof { old_size, path, checkpoint })
    }

    /// Check that the newer checkpoint's tree extends `old`'s (same log, its
    /// size the proof's). Signatures are the caller's to check.
    pub fn check(&self, old: &SignedCheckpoint) -> Result<(), ProveError> {
        let (o, n) = (&old.checkpoint, &self.checkpoint.checkpoint);
        let (Some(old_root), Some(new_root)) = (o.root, n.root) else { return Err(ProveError::Format1) };
        if o.log_id != n.log_id {
            return Err(ProveError::Invalid("the two checkpoints are of different logs"));
        }
        if o.size != self.old_size {
            return Err(ProveError::Invalid("the older checkpoint's size is not the proof's"));
        }
        if !merkle::verify_consistency(o.size, n.size, &old_root, &new_root, &self.path) {
            return Err(ProveError::Invalid(
                "the newer checkpoint's tree does not extend the older one: the log was rewritten, truncated or forked",
            ));
        }
        Ok(())
    }
}

/// The signed checkpoints of the log in `dir` whose size is `size`, or the
/// last one of the log when `size` is `None` (read from the segments; their
/// signatures are not checked here).
pub fn find_checkpoint(segs: &[SegmentFile], size: Option<u64>) -> Result<SignedCheckpoint, ProveError> {
    // Checkpoints of size s are in the segment holding record s-1 or the next.
    let candidates: Vec<&SegmentFile> = match size {
        None => segs.last().into_iter().collect(),
        Some(s) => {
            let i = segs.iter().rposition(|g| g.first_seq < s.max(1)).unwrap_or(0);
            segs[i..].iter().take(2).collect()
        }
    };
    let mut found = None;
    for seg in candidates {
        let (mut stream, _) = format::FrameStream::open(&seg.path).map_err(|e| AuditError::io(&seg.path, e))?;
        while let Streamed::Frame { ty, .. } = stream.next_frame().map_err(|e| AuditError::io(&seg.path, e))? {
            if ty != FRAME_CHECKPOINT {
                continue;
            }
            let Some(c) = std::str::from_utf8(stream.payload()).ok().and_then(|t| SignedCheckpoint::parse(t).ok())
            else {
                continue;
            };
            if size.is_none_or(|s| s == c.checkpoint.size) {
                found = Some(c);
            }
        }
    }
    found.ok_or(ProveError::NoCheckpoint(size.unwrap_or(0)))
}

/// The tile store of `dir` holding records `0..n`, under the writers' lock.
fn tiles(dir: &Path, segs: &[SegmentFile], n: u64, rebuild: bool) -> Result<Tiles, ProveError> {
    Ok(super::writer::with_log_lock(dir, || tree::tiles_upto(dir, segs, n, rebuild, false))?)
}

/// Run `make` over an up-to-date store; if what it made does not match the
/// checkpoint (`ok` says), rebuild the store from the records and try once more.
fn with_tiles<T>(
    dir: &Path,
    segs: &[SegmentFile],
    n: u64,
    size: u64,
    make: impl Fn(&Tiles) -> Result<T, ProveError>,
    ok: impl Fn(&T) -> bool,
) -> Result<T, ProveError> {
    for rebuild in [false, true] {
        let t = tiles(dir, segs, n, rebuild)?;
        let out = make(&t)?;
        if ok(&out) {
            return Ok(out);
        }
    }
    Err(ProveError::Mismatch(size))
}

fn tiles_error(dir: &Path, e: super::tiles::TilesError) -> ProveError {
    ProveError::Audit(AuditError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() })
}

fn log_segments(dir: &Path) -> Result<Vec<SegmentFile>, ProveError> {
    let segs = format::list_segments(dir)?;
    let first = segs
        .first()
        .ok_or(ProveError::Audit(AuditError::Corrupt { dir: dir.to_path_buf(), reason: "no segment files".into() }))?;
    let (_, header) = format::FrameStream::open(&first.path).map_err(|e| AuditError::io(&first.path, e))?;
    match format::SegmentHeader::decode(&header) {
        Ok(h) if h.version >= 2 => Ok(segs),
        Ok(_) => Err(ProveError::Format1),
        Err(e) => Err(ProveError::Audit(AuditError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() })),
    }
}

/// Prove that record `seq` is in the tree of the checkpoint of size `size`
/// (default: the log's last checkpoint).
pub fn inclusion(dir: &Path, seq: u64, size: Option<u64>) -> Result<InclusionProof, ProveError> {
    let segs = log_segments(dir)?;
    let checkpoint = find_checkpoint(&segs, size)?;
    let n = checkpoint.checkpoint.size;
    if seq >= n {
        return Err(ProveError::NotCovered { seq, size: n });
    }
    if let Some(m) = super::pruned::read(dir)?.filter(|m| seq < m.size) {
        return Err(ProveError::Pruned { seq, size: m.size });
    }
    let mut payload = Vec::new();
    tree::for_each_record(dir, &segs, seq, seq + 1, &mut |_, p| payload = p.to_vec())?;
    // An adopted record is followed, before any checkpoint covers it, by the
    // `recovery` record that names it.
    let mut adopted = None;
    tree::for_each_record(dir, &segs, seq + 1, n, &mut |s, p| {
        let Ok(r) = RecordRef::decode(p) else { return };
        if adopted.is_none() && r.kind == super::Kind::Recovery.as_str() {
            let b = r.body_json();
            let first = b.get("first_seq").and_then(serde_json::Value::as_u64);
            let count = b.get("records").and_then(serde_json::Value::as_u64);
            if b.get("reason").and_then(serde_json::Value::as_str) == Some("unsigned tail")
                && first.zip(count).is_some_and(|(f, c)| f <= seq && seq < f.saturating_add(c))
            {
                adopted = Some(s);
            }
        }
    })?;
    if let Some(recovery) = adopted {
        return Err(ProveError::Adopted { seq, recovery });
    }
    let path = with_tiles(
        dir,
        &segs,
        n,
        n,
        |t| merkle::inclusion_proof(t, seq, n).map_err(|e| tiles_error(dir, e)),
        |p| {
            p.as_ref().is_some_and(|p| {
                checkpoint
                    .checkpoint
                    .root
                    .is_some_and(|r| merkle::verify_inclusion(&leaf_hash(&payload), seq, n, p, &r))
            })
        },
    )?
    .ok_or(ProveError::NotCovered { seq, size: n })?;
    Ok(InclusionProof { seq, payload, path, checkpoint })
}

/// Prove that the tree of the checkpoint of size `new` (default: the last)
/// extends the tree of size `old`.
pub fn consistency(dir: &Path, old: u64, new: Option<u64>) -> Result<ConsistencyProof, ProveError> {
    let segs = log_segments(dir)?;
    let checkpoint = find_checkpoint(&segs, new)?;
    let n = checkpoint.checkpoint.size;
    if old == 0 || old > n {
        return Err(ProveError::Sizes { old, new: n });
    }
    let (path, _) = with_tiles(
        dir,
        &segs,
        n,
        n,
        |t| {
            let p = merkle::consistency_proof(t, old, n).map_err(|e| tiles_error(dir, e))?;
            let old_root = merkle::root(t, old).map_err(|e| tiles_error(dir, e))?;
            Ok((p, old_root))
        },
        |(p, old_root)| {
            p.as_ref().is_some_and(|p| {
                checkpoint.checkpoint.root.is_some_and(|r| merkle::verify_consistency(old, n, old_root, &r, p))
            })
        },
    )?;
    let path = path.ok_or(ProveError::Sizes { old, new: n })?;
    Ok(ConsistencyProof { old_size: old, path, checkpoint })
}
