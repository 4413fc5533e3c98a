//! `orchestra audit prune`: retention for the audit log (FORMAT.md §14).
//! Removes the records before a segment boundary (copied to an archive
//! directory first, unless `--delete`), records that it did in a signed
//! `log_pruned` record, and leaves the prune marker `audit verify` starts
//! from. Exit 0 pruned or nothing to prune, 1 usage or a log that does not
//! verify (nothing removed).

use crate::audit::writer::boundary_before_time;
use crate::audit::{AuditLog, KeyRing, VerifyOptions};
use crate::exit::Exit;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to prune.
pub enum Before {
    /// Records before this sequence number (rounded down to a segment boundary).
    Seq(u64),
    /// Records older than this (whole segments whose successor started earlier).
    Age(Duration),
}

/// Run `audit prune`.
pub fn prune(dir: &Path, key: &Path, before: Before, archive: Option<&Path>) -> Exit {
    match crate::audit::format::list_segments(dir) {
        Ok(s) if !s.is_empty() => {}
        Ok(_) => return super::config_error(format!("no audit log in {}", dir.display())),
        Err(e) => return super::config_error(e),
    }
    let seq = match before {
        Before::Seq(s) => Some(s),
        Before::Age(age) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
            match boundary_before_time(dir, now.saturating_sub(age.as_micros() as u64)) {
                Ok(s) => s,
                Err(e) => return super::config_error(e),
            }
        }
    };
    let Some(seq) = seq else {
        outln!("nothing to prune in {}: no segment is that old", dir.display());
        return Exit::Ok;
    };
    // A damaged log is not pruned (and not continued by opening it here).
    match crate::audit::verify_dir(dir, &VerifyOptions { allow_unsigned_tail: true, ..VerifyOptions::default() }) {
        Ok(r) if r.ok() => {}
        Ok(r) => {
            let f = r.first_error.map(|f| format!("{}: {}", f.code, f.reason)).unwrap_or_default();
            return super::config_error(format!(
                "audit prune: the log in {} does not verify ({f}); nothing is pruned",
                dir.display()
            ));
        }
        Err(e) => return super::config_error(e),
    }
    let ring = KeyRing::at(key);
    let done = AuditLog::open_ring(dir, &ring).and_then(|mut log| {
        let p = log.prune(seq, archive)?;
        log.sync()?;
        Ok(p)
    });
    match done {
        Ok(None) => {
            outln!("nothing to prune in {}: no segment boundary at or below record {seq}", dir.display());
            Exit::Ok
        }
        Ok(Some(p)) => {
            let whither = p.archive.map_or("deleted".to_string(), |a| format!("archived to {}", a.display()));
            outln!(
                "pruned records 0..{} of {} ({} segment(s), {whither}); recorded as record {}",
                p.size - 1,
                dir.display(),
                p.segments,
                p.record_seq
            );
            outln!(
                "verify now starts from the checkpoint of {} records (the prune marker {}); keep a checkpoint exported after it",
                p.size,
                dir.join(crate::audit::pruned::FILE).display()
            );
            if let Ok(Some(m)) = crate::audit::pruned::read(dir) {
                outln!(
                    "the key in force there is {}: reviewers who pinned an earlier key verify the archive with it, and this log with {}",
                    m.key.id_hex(),
                    m.key.encode()
                );
            }
            Exit::Ok
        }
        Err(e) => super::config_error(format!("audit prune: {e}")),
    }
}
