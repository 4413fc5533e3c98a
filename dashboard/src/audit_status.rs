//! The audit log's status as the run page shows it: verified, how far, by
//! which key.
//!
//! Verifying a project's log reads all of it, and a log grows with every
//! run, so the dashboard never verifies on a page load and never twice at
//! once: one check runs at a time in the whole server ([`Checker::check`]
//! waits for it; a result less than [`FRESH`] old, or of an unchanged log,
//! is reused), and a page shows the last result it has ([`Checker::cached`])
//! while a check runs in the background. A check's outcome counts in the
//! metrics (`orchestra_audit_verify_failures_total`).

use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A result younger than this is reused even if the log grew since.
pub const FRESH: Duration = Duration::from_secs(10);

/// The audit status of a log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditStatus {
    /// The log verified.
    pub ok: bool,
    /// Records verified.
    pub records: u64,
    /// The key that signed the latest checkpoint (fingerprint: key id).
    pub key: Option<String>,
    /// The latest checkpoint's size.
    pub checkpoint: Option<u64>,
    /// The first failure, if any.
    pub error: Option<String>,
    /// One line for people.
    pub line: String,
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: (u64, i64),
    at: Instant,
    status: AuditStatus,
}

/// Runs the checks, one at a time, and remembers their results.
#[derive(Debug, Default)]
pub struct Checker {
    results: Mutex<HashMap<PathBuf, Entry>>,
    /// Held while a check runs.
    running: Mutex<()>,
}

impl Checker {
    /// The last result for `dir`, if any (never verifies).
    pub fn cached(&self, dir: &Path) -> Option<AuditStatus> {
        self.results.lock().ok()?.get(dir).map(|e| e.status.clone())
    }

    fn fresh(&self, dir: &Path) -> Option<AuditStatus> {
        let stamp = crate::dir_stamp(dir);
        let r = self.results.lock().ok()?;
        let e = r.get(dir)?;
        (e.stamp == stamp || e.at.elapsed() < FRESH).then(|| e.status.clone())
    }

    /// Whether a check runs now.
    pub fn busy(&self) -> bool {
        self.running.try_lock().is_err()
    }

    /// The status of `dir`: a fresh result, or a new check (waiting for the
    /// one that runs, if any). Blocking: call it off the async workers.
    pub fn check(&self, dir: &Path, metrics: &Metrics) -> AuditStatus {
        if let Some(s) = self.fresh(dir) {
            return s;
        }
        let _one = self.running.lock();
        // Another check may have finished while this one waited.
        if let Some(s) = self.fresh(dir) {
            return s;
        }
        let stamp = crate::dir_stamp(dir);
        let status = verify(dir);
        metrics.audit_verified(status.ok);
        if let Ok(mut r) = self.results.lock() {
            r.insert(dir.to_path_buf(), Entry { stamp, at: Instant::now(), status: status.clone() });
        }
        status
    }
}

fn verify(dir: &Path) -> AuditStatus {
    let opts = orchestra_audit::VerifyOptions::default();
    match orchestra_audit::verify::verify_dir(dir, &opts) {
        Ok(r) => {
            let ok = r.ok();
            let key = r.keys.last().map(|k| k.key_id.clone());
            let checkpoint = r.last_checkpoint.as_ref().map(|c| c.size);
            let error = r.first_error.as_ref().map(|f| format!("{}: {}", f.code, f.reason));
            let line = if ok {
                format!(
                    "verified: {} records, signed up to record {} by key {}",
                    r.records,
                    checkpoint.unwrap_or(0),
                    key.as_deref().unwrap_or("?")
                )
            } else {
                format!("FAILED after {} records: {}", r.records, error.as_deref().unwrap_or("?"))
            };
            AuditStatus { ok, records: r.records, key, checkpoint, error, line }
        }
        Err(e) => AuditStatus {
            ok: false,
            records: 0,
            key: None,
            checkpoint: None,
            error: Some(e.to_string()),
            line: format!("cannot verify: {e}"),
        },
    }
}
