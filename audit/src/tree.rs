//! The Merkle tree over a format-2 log's records (FORMAT.md §7.4): the tile
//! store beside the log (`<log>/tiles/`, [`crate::tiles`]) brought up to date
//! from the segments, for writers (the frontier to extend) and provers.
//!
//! Guarantees: the store is derived data that only callers holding the log's
//! lock write; every leaf it gains here was read from a record frame of the
//! segments. A store left stale or edited is not trusted blindly: callers
//! compare the roots it gives with signed checkpoints and, when they differ,
//! ask again with `rebuild`, which starts the store over from the records.

use super::AuditError;
use super::error::Damage;
use super::format::{self, FRAME_RECORD, HEADER_LEN, SegmentFile, Streamed};
use super::merkle::{Frontier, leaf_hash};
use super::pruned;
use super::record::RecordRef;
use super::tiles::{Tiles, TilesError};
use std::path::Path;

/// The tile store's directory name inside a log directory.
pub const TILES: &str = "tiles";

/// Leaves the store in `tdir` holds, from its leaf level's length alone
/// (without opening the store; a torn last hash does not count).
fn stored_leaves(tdir: &Path) -> u64 {
    std::fs::symlink_metadata(tdir.join("h00")).map_or(0, |m| m.len() / 32)
}

fn tiles_error(dir: &Path, e: TilesError) -> AuditError {
    match e {
        TilesError::Io { path, source } => AuditError::io(path, source),
        other => AuditError::Corrupt { dir: dir.to_path_buf(), reason: other.to_string() },
    }
}

/// The store of `dir` holding at least the leaves of records `0..n` (the
/// segments `segs` must hold them), exactly those when `cut` (a writer, which
/// owns the store, drops what lies beyond the log; a prover leaves the store
/// as it is). With `rebuild`, the store is emptied first. Call with the
/// log's lock held. A store that is not a directory of regular files, or
/// whose leaf level is longer than the log, is repaired before it is read:
/// opening never costs more than the log's own size.
pub fn tiles_upto(dir: &Path, segs: &[SegmentFile], n: u64, rebuild: bool, cut: bool) -> Result<Tiles, AuditError> {
    let tdir = dir.join(TILES);
    let sane = std::fs::symlink_metadata(&tdir).map_or(true, |m| m.is_dir())
        && std::fs::read_dir(&tdir).map_or(true, |d| d.flatten().all(|e| e.file_type().is_ok_and(|t| t.is_file())));
    if !sane {
        let _ = std::fs::remove_file(&tdir);
        let _ = std::fs::remove_dir_all(&tdir);
    }
    let h00 = tdir.join("h00");
    if let Ok(m) = std::fs::symlink_metadata(&h00)
        && m.len() > n.saturating_mul(32)
        && cut
    {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&h00)
            .and_then(|f| f.set_len(n * 32))
            .map_err(|e| AuditError::io(&h00, e))?;
    }
    if let Some(m) = pruned::read(dir)?
        && (rebuild || stored_leaves(&tdir) < m.size)
    {
        return Err(AuditError::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!(
                "records before {} were pruned and the Merkle tile store beside the log does not hold them (or disagrees with the records): no proofs from this log; verify checks it from the prune marker on",
                m.size
            ),
        });
    }
    if rebuild && tdir.exists() {
        std::fs::remove_dir_all(&tdir).map_err(|e| AuditError::io(&tdir, e))?;
    }
    let mut t = Tiles::open(&tdir).map_err(|e| tiles_error(dir, e))?;
    super::private::prepare_dir(&tdir)?;
    if cut && t.size() > n {
        t.truncate(n).map_err(|e| tiles_error(dir, e))?;
    }
    let from = t.size();
    let mut err = None;
    for_each_record(dir, segs, from, n, &mut |_, payload| {
        if let Err(e) = t.push(leaf_hash(payload)) {
            err.get_or_insert(e);
        }
    })?;
    if let Some(e) = err {
        return Err(tiles_error(dir, e));
    }
    if t.size() < n {
        return Err(AuditError::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!("the segments hold {} records where {n} were expected", t.size()),
        });
    }
    Ok(t)
}

/// The frontier of records `0..n` ([`tiles_upto`], `cut` as there). In a
/// pruned log whose store does not hold the pruned records (or with
/// `rebuild`), it continues from the prune marker's right edge over the
/// records after it, without the store.
pub fn frontier_at(dir: &Path, segs: &[SegmentFile], n: u64, rebuild: bool, cut: bool) -> Result<Frontier, AuditError> {
    if let Some(m) = pruned::read(dir)?.filter(|m| m.size <= n)
        && (rebuild || stored_leaves(&dir.join(TILES)) < m.size)
    {
        let corrupt = |reason: String| AuditError::Corrupt { dir: dir.to_path_buf(), reason };
        let mut f = m
            .check()
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("a format-1 prune marker in a format-2 log".into()))?;
        for_each_record(dir, segs, m.size, n, &mut |_, payload| f.push(leaf_hash(payload)))?;
        return Ok(f);
    }
    let t = tiles_upto(dir, segs, n, rebuild, cut)?;
    Frontier::at(&t, n).map_err(|e| tiles_error(dir, e))
}

/// Call `f(seq, payload)` for the records `from..to`, in order, reading only
/// the segments that hold them. A bad frame or record among them is damage.
pub fn for_each_record(
    dir: &Path,
    segs: &[SegmentFile],
    from: u64,
    to: u64,
    f: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), AuditError> {
    if from >= to {
        return Ok(());
    }
    let damaged = |seg: &SegmentFile, offset: u64, reason: String| {
        AuditError::Damaged(Box::new(Damage {
            dir: dir.to_path_buf(),
            segment: seg.name.clone(),
            offset,
            reason,
            last_checkpoint: None,
        }))
    };
    // The last segment starting at or before `from`, and those after it.
    let start = segs.iter().rposition(|s| s.first_seq <= from).unwrap_or(0);
    let mut next = from;
    for seg in &segs[start..] {
        if seg.first_seq >= to {
            break;
        }
        let (mut stream, header) = format::FrameStream::open(&seg.path).map_err(|e| AuditError::io(&seg.path, e))?;
        if header.len() < HEADER_LEN {
            return Err(damaged(seg, 0, "segment header incomplete".into()));
        }
        loop {
            match stream.next_frame().map_err(|e| AuditError::io(&seg.path, e))? {
                Streamed::End => break,
                Streamed::Bad { at, reason, .. } => return Err(damaged(seg, at, reason)),
                Streamed::Frame { ty, at } => {
                    if ty != FRAME_RECORD {
                        continue;
                    }
                    let payload = stream.payload();
                    let r = RecordRef::decode(payload).map_err(|e| damaged(seg, at, e.to_string()))?;
                    if r.seq < next {
                        continue;
                    }
                    if r.seq != next {
                        return Err(damaged(seg, at, format!("record {} where {next} was expected", r.seq)));
                    }
                    f(next, payload);
                    next += 1;
                    if next >= to {
                        return Ok(());
                    }
                }
            }
        }
    }
    if next < to {
        return Err(AuditError::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!("the log ends at record {next}, before {to}"),
        });
    }
    Ok(())
}
