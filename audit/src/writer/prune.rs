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

/// `archive` can take this log's segments below the cut: it is a directory
/// (or does not exist yet) outside the log directory and not above it, and it
/// holds nothing but this log's segments from record 0 on (an earlier prune's
/// archive, so that it stays one log that verifies, or copies a killed prune
/// left). A log pruned before (`start > 0`) is archived only into the archive
/// that holds its first `start` records.
fn check_archive(dir: &Path, archive: &Path, log_id: [u8; 16], start: u64) -> Result<(), AuditError> {
    let refuse = |reason: String| AuditError::Corrupt { dir: archive.to_path_buf(), reason };
    let log = std::fs::canonicalize(dir).map_err(|e| AuditError::io(dir, e))?;
    let meta = std::fs::metadata(archive);
    let resolved = match &meta {
        Ok(m) if m.is_dir() => std::fs::canonicalize(archive).map_err(|e| AuditError::io(archive, e))?,
        Ok(_) => return Err(refuse("the archive is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = archive.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let parent = std::fs::canonicalize(parent).map_err(|e| AuditError::io(parent, e))?;
            parent.join(archive.file_name().unwrap_or_default())
        }
        Err(e) => return Err(AuditError::io(archive, std::io::Error::new(e.kind(), e.to_string()))),
    };
    if resolved.starts_with(&log) || log.starts_with(&resolved) {
        return Err(refuse(format!(
            "the archive must be outside the log directory {} (and not above it)",
            log.display()
        )));
    }
    if resolved.join(pruned::FILE).exists() {
        return Err(refuse("the archive holds a prune marker: it is not an archive of a log's beginning".into()));
    }
    let segs = format::list_segments(&resolved).unwrap_or_default();
    if segs.is_empty() {
        if start > 0 {
            return Err(refuse(format!(
                "records 0..{} were pruned before: archive into the directory that holds them (the archive stays one log that verifies), or --delete",
                start - 1
            )));
        }
        return Ok(());
    }
    let r = verify_dir(&resolved, &VerifyOptions { allow_unsigned_tail: true, ..VerifyOptions::default() })?;
    if r.log_id != Some(hex(&log_id)) || segs[0].first_seq != 0 || (start > 0 && (!r.ok() || r.records != start)) {
        return Err(refuse(format!(
            "the archive holds other segments than this log's first {start} records (another log, or a gap): use an empty directory{}",
            if start > 0 { " only for a log not pruned before" } else { "" }
        )));
    }
    Ok(())
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
        // Segments an interrupted prune left below the marker (their copies,
        // if it archived, were complete before its record): finish that first.
        let leftovers: Vec<SegmentFile> = segs.iter().filter(|s| s.first_seq < start).cloned().collect();
        if !leftovers.is_empty() {
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
        // The archive is complete and verifies as the log's first `size`
        // records before anything says the pruning happened: a prune that
        // fails here has written nothing to the log.
        if let Some(a) = archive {
            check_archive(&dir, a, c.log_id, start)?;
            crate::private::prepare_dir(a)?;
            for s in &gone {
                archive_file(&s.path, &a.join(&s.name))?;
            }
            sync_dir(a)?;
            let r = verify_dir(a, &VerifyOptions { allow_unsigned_tail: true, ..VerifyOptions::default() })?;
            if !r.ok() || r.records != size || r.log_id != Some(hex(&c.log_id)) {
                return Err(AuditError::Corrupt {
                    dir: a.to_path_buf(),
                    reason: format!(
                        "the archive does not verify as this log's first {size} records ({} records, {}); nothing is pruned",
                        r.records,
                        r.first_error.map_or("no failure".to_string(), |f| f.code.to_string())
                    ),
                });
            }
        }
        let record_seq = self.write_signed(&[(Kind::LogPruned.as_str().to_string(), body)])?;
        self.checkpoint_locked()?;
        write_file(&dir.join(pruned::FILE), marker.encode().as_bytes(), 0o600, Replace::Yes)?;
        for s in &gone {
            std::fs::remove_file(&s.path).map_err(|e| AuditError::io(&s.path, e))?;
        }
        sync_dir(&dir)?;
        Ok(Some(Pruned { size, segments: gone.len(), archive: archive.map(Path::to_path_buf), record_seq }))
    }
}
