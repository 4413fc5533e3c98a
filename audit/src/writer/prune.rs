//! Retention (FORMAT.md §14): [`AuditLog::prune`] removes the segments before
//! a segment boundary, after copying them to an archive if asked, and leaves
//! the prune marker from which verification starts again.
//!
//! Guarantees (under the writers' lock, on a log that verifies):
//! - the pruning is recorded first: a signed, fsynced `log_pruned` record
//!   names the size, head and root of the checkpoint the log will start from,
//!   so a marker without it fails verification (`pruned`);
//! - archived segments are complete, fsynced copies before anything is
//!   removed, and an archive file is never overwritten by other bytes;
//! - a crash at any point leaves a log that verifies: before the marker it is
//!   the whole log; after it, segments an interrupted prune left below the
//!   marker are not read, and the next prune removes them.

use super::{AuditLog, sync_dir};
use crate::AuditError;
use crate::checkpoint::SignedCheckpoint;
use crate::format::{self, FRAME_CHECKPOINT, SegmentFile, Streamed};
use crate::keyring::{Replace, remove_stray_temporaries, write_file};
use crate::keys::{VerifierKey, hex};
use crate::kind::Kind;
use crate::pruned::{self, Marker};
use crate::verify::{VerifyOptions, verify_dir};
use serde_json::json;
use std::path::{Path, PathBuf};

/// What [`AuditLog::prune`] did.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// Records `0..size` are no longer in the log.
    pub size: u64,
    /// Segment files removed.
    pub segments: usize,
    /// Where they were copied, if anywhere.
    pub archive: Option<PathBuf>,
    /// The `log_pruned` record.
    pub record_seq: u64,
}

/// The checkpoint a segment starts with (every segment after the first does).
fn first_checkpoint(seg: &SegmentFile) -> Result<Option<SignedCheckpoint>, AuditError> {
    let (mut stream, _) = format::FrameStream::open(&seg.path).map_err(|e| AuditError::io(&seg.path, e))?;
    match stream.next_frame().map_err(|e| AuditError::io(&seg.path, e))? {
        Streamed::Frame { ty, .. } if ty == FRAME_CHECKPOINT => {
            Ok(std::str::from_utf8(stream.payload()).ok().and_then(|t| SignedCheckpoint::parse(t).ok()))
        }
        _ => Ok(None),
    }
}

/// The largest segment boundary whose starting checkpoint was signed at or
/// before `cutoff_us` (every record before it is older), for `--older-than`.
pub fn boundary_before_time(dir: &Path, cutoff_us: u64) -> Result<Option<u64>, AuditError> {
    let segs = format::list_segments(dir)?;
    let mut best = None;
    for s in segs.iter().skip(1) {
        match first_checkpoint(s)? {
            Some(c) if c.checkpoint.time_us <= cutoff_us => best = Some(s.first_seq),
            _ => break,
        }
    }
    Ok(best)
}

/// Copy `from` to `to` completely (temp + fsync + rename); an existing `to`
/// with the same bytes is kept, with other bytes it is an error.
fn archive_file(from: &Path, to: &Path) -> Result<(), AuditError> {
    let bytes = std::fs::read(from).map_err(|e| AuditError::io(from, e))?;
    match std::fs::read(to) {
        Ok(old) if old == bytes => return Ok(()),
        Ok(_) => {
            return Err(AuditError::Corrupt {
                dir: to.parent().map(Path::to_path_buf).unwrap_or_default(),
                reason: format!("{} exists with other content; the archive is never overwritten", to.display()),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io(to, e)),
    }
    write_file(to, &bytes, 0o600, Replace::No)
}

impl AuditLog {
    /// Remove the records before the last segment boundary at or below
    /// `before` (FORMAT.md §14), copying their segments to `archive` first
    /// when given. Returns `None` when there is nothing to remove (no
    /// boundary at or below `before` above the log's current start). Refuses
    /// a log that does not verify.
    pub fn prune(&mut self, before: u64, archive: Option<&Path>) -> Result<Option<Pruned>, AuditError> {
        self.locked(|l| {
            l.sync_tip()?;
            l.checkpoint_locked()?;
            l.prune_locked(before, archive)
        })
    }

    fn prune_locked(&mut self, before: u64, archive: Option<&Path>) -> Result<Option<Pruned>, AuditError> {
        let dir = self.dir.clone();
        let corrupt = |reason: String| AuditError::Corrupt { dir: dir.clone(), reason };
        if let Some(a) = archive {
            // Copies a killed prune left half-made.
            remove_stray_temporaries(a);
        }
        let mut segs = format::list_segments(&dir)?;
        let old = pruned::read(&dir)?;
        let start = old.as_ref().map_or(0, |m| m.size);
        // Segments an interrupted prune left below the marker: finish that first.
        let leftovers: Vec<SegmentFile> = segs.iter().filter(|s| s.first_seq < start).cloned().collect();
        if !leftovers.is_empty() {
            if let Some(a) = archive {
                crate::private::prepare_dir(a)?;
                for s in &leftovers {
                    archive_file(&s.path, &a.join(&s.name))?;
                }
                sync_dir(a)?;
            }
            for s in &leftovers {
                std::fs::remove_file(&s.path).map_err(|e| AuditError::io(&s.path, e))?;
            }
            sync_dir(&dir)?;
            segs.retain(|s| s.first_seq >= start);
        }
        let Some(cut) = segs.iter().skip(1).rev().find(|s| s.first_seq <= before && s.first_seq > start) else {
            return Ok(None);
        };
        let size = cut.first_seq;
        let report = verify_dir(&dir, &VerifyOptions { allow_unsigned_tail: true, ..VerifyOptions::default() })?;
        if let Some(f) = &report.first_error {
            return Err(corrupt(format!("it does not verify ({}: {}); nothing is pruned", f.code, f.reason)));
        }
        let checkpoint = first_checkpoint(cut)?
            .filter(|c| c.checkpoint.size == size)
            .ok_or_else(|| corrupt(format!("{} does not start with the checkpoint of {size} records", cut.name)))?;
        // The key in force there: the latest of the log's keys from before the
        // cut that signed the checkpoint.
        let key = report
            .keys
            .iter()
            .rev()
            .filter(|e| e.from_seq <= size)
            .filter_map(|e| VerifierKey::parse(&e.key).ok())
            .find(|k| checkpoint.verify(k).is_ok())
            .ok_or_else(|| corrupt(format!("no key of the log signs the checkpoint of {size} records")))?;
        let edge = match checkpoint.checkpoint.root {
            None => Vec::new(),
            Some(root) => {
                let below: Vec<SegmentFile> = segs.iter().filter(|s| s.first_seq < size).cloned().collect();
                let mut f = crate::tree::frontier_at(&dir, &below, size, false, false)?;
                if f.root() != root {
                    f = crate::tree::frontier_at(&dir, &below, size, true, false)?;
                }
                if f.root() != root {
                    return Err(corrupt(format!(
                        "the records do not give the root of the checkpoint of {size} records"
                    )));
                }
                f.right_edge()
            }
        };
        let marker = Marker { size, key, edge, checkpoint };
        marker.check().map_err(|e| corrupt(e.to_string()))?;
        let gone: Vec<&SegmentFile> = segs.iter().filter(|s| s.first_seq < size).collect();
        let c = &marker.checkpoint.checkpoint;
        let body = json!({
            "size": size,
            "head": hex(&c.head),
            "root": c.root.map(|r| hex(&r)),
            "segments": gone.len(),
            "archive": archive.map(|a| a.display().to_string()),
        });
        let record_seq = self.write_signed(&[(Kind::LogPruned.as_str().to_string(), body)])?;
        self.checkpoint_locked()?;
        if let Some(a) = archive {
            crate::private::prepare_dir(a)?;
            for s in &gone {
                archive_file(&s.path, &a.join(&s.name))?;
            }
            if old.is_some() {
                archive_file(&dir.join(pruned::FILE), &a.join(pruned::FILE))?;
            }
            sync_dir(a)?;
        }
        write_file(&dir.join(pruned::FILE), marker.encode().as_bytes(), 0o600, Replace::Yes)?;
        for s in &gone {
            std::fs::remove_file(&s.path).map_err(|e| AuditError::io(&s.path, e))?;
        }
        sync_dir(&dir)?;
        Ok(Some(Pruned { size, segments: gone.len(), archive: archive.map(Path::to_path_buf), record_seq }))
    }
}
