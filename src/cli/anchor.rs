//! Anchoring from the command line: which anchors a writer pushes to
//! (`ORCHESTRA_AUDIT_ANCHOR`), the push after each `exec` and `run`, the
//! `orchestra audit anchor` heartbeat, and the anchored checkpoint `audit
//! verify --anchor` checks the log against (SECURITY.md §8).

use crate::audit::anchor::{Anchor, AnchorError, Pushed};
use crate::audit::checkpoint::SignedCheckpoint;
use crate::audit::format::{self, SegmentHeader};
use crate::audit::{AuditError, AuditLog, KeyRing, Kind};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable naming the anchors writers push to (comma-separated URLs).
pub const ENV: &str = "ORCHESTRA_AUDIT_ANCHOR";

/// Why anchoring from the command line cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum AnchorCliError {
    /// `ORCHESTRA_AUDIT_ANCHOR` or `--to`/`--anchor` names no usable anchor.
    #[error("{what}: {source}")]
    Config {
        /// Where the anchor came from.
        what: String,
        /// Why it is not usable.
        source: AnchorError,
    },
    /// The log.
    #[error(transparent)]
    Log(#[from] AuditError),
    /// An anchor refused or failed the push.
    #[error("{url}: {source}")]
    Push {
        /// The anchor.
        url: String,
        /// Why.
        source: AnchorError,
    },
    /// The log has no segment to read its id from.
    #[error("no audit log in {0}")]
    NoLog(String),
}

/// The anchors `ORCHESTRA_AUDIT_ANCHOR` names (none when unset or empty).
pub fn from_env() -> Result<Vec<Anchor>, AnchorCliError> {
    let Some(v) = std::env::var_os(ENV) else { return Ok(Vec::new()) };
    let v = v.to_string_lossy();
    Anchor::parse_list(&v).map_err(|source| AnchorCliError::Config { what: ENV.to_string(), source })
}

/// Push the latest checkpoint of `log` to every anchor; returns one line per
/// anchor that failed (the caller prints them: the log itself is intact).
pub fn push_latest(log: &AuditLog, anchors: &[Anchor]) -> Vec<String> {
    let Some(note) = log.latest_checkpoint() else { return Vec::new() };
    anchors
        .iter()
        .filter_map(|a| a.push(note).err().map(|e| format!("cannot anchor the audit checkpoint at {}: {e}", a.url())))
        .collect()
}

/// One heartbeat: a `heartbeat` record, a checkpoint signing it, pushed to
/// every anchor. Returns the size anchored and how many anchors got it new.
pub fn heartbeat(dir: &Path, ring: &KeyRing, anchors: &[Anchor]) -> Result<Beat, AnchorCliError> {
    let mut log = AuditLog::open_ring(dir, ring)?;
    log.evolve()?;
    let urls: Vec<String> = anchors.iter().map(Anchor::url).collect();
    log.append(Kind::Heartbeat, crate::audit::events::stamp(json!({"anchors": urls}), None))?;
    log.sync()?;
    let note = log.latest_checkpoint().unwrap_or_default().to_string();
    let size = SignedCheckpoint::parse(&note).map(|c| c.checkpoint.size).unwrap_or(0);
    let mut new = 0;
    for a in anchors {
        match a.push(&note) {
            Ok(Pushed::New) => new += 1,
            Ok(Pushed::Already) => {}
            Err(source) => return Err(AnchorCliError::Push { url: a.url(), source }),
        }
    }
    // The same fresh checkpoint goes to the witnesses and the TSA the
    // environment names, as after an exec (failures are warnings).
    let mut warnings = super::witness::push_latest(&log, &super::witness::from_env());
    match super::timestamp::from_env() {
        Ok(tsa) => warnings.extend(super::timestamp::stamp_latest(&log, tsa.as_deref())),
        Err(e) => warnings.push(format!("{}: {e}", super::timestamp::ENV)),
    }
    Ok(Beat { size, new, warnings })
}

/// What one heartbeat did.
pub struct Beat {
    /// Records the pushed checkpoint covers.
    pub size: u64,
    /// Anchors that did not have it yet.
    pub new: usize,
    /// Witnesses or a TSA that could not be reached (warnings).
    pub warnings: Vec<String>,
}

/// The log id of the log in `dir` (its first segment's header).
pub fn log_id(dir: &Path) -> Result<[u8; 16], AnchorCliError> {
    let segs = format::list_segments(dir)?;
    let first = segs.first().ok_or_else(|| AnchorCliError::NoLog(dir.display().to_string()))?;
    let mut buf = vec![0u8; format::HEADER_LEN];
    let f = std::fs::File::open(&first.path).map_err(|e| AuditError::Io { path: first.path.clone(), source: e })?;
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 0)
        .map_err(|e| AuditError::Io { path: first.path.clone(), source: e })?;
    let h = SegmentHeader::decode(&buf)
        .map_err(|e| AuditError::Corrupt { dir: dir.to_path_buf(), reason: format!("{}: {e}", first.name) })?;
    Ok(h.log_id)
}

/// What the anchors hold for one log.
#[derive(Debug, Default)]
pub struct Anchored {
    /// The anchored checkpoint with the most records, over all anchors.
    pub latest: Option<(String, SignedCheckpoint)>,
    /// Notes counted, over all anchors.
    pub notes: usize,
    /// Unusable files, one line each.
    pub problems: Vec<String>,
    /// Anchors that could not be read at all (unreachable, refused), one line each.
    pub unreadable: Vec<String>,
}

/// Read every anchor's notes for `log_id`.
pub fn anchored(anchors: &[Anchor], log_id: &[u8; 16]) -> Anchored {
    let mut out = Anchored::default();
    for a in anchors {
        match a.latest(log_id) {
            Ok(l) => {
                out.notes += l.count;
                out.problems.extend(l.bad.into_iter().map(|b| format!("{}: {}", b.path.display(), b.reason)));
                if let Some(c) = l.note {
                    let bigger = out.latest.as_ref().is_none_or(|(_, l)| c.checkpoint.size > l.checkpoint.size);
                    if bigger {
                        out.latest = Some((a.url(), c));
                    }
                }
            }
            Err(e) => out.unreadable.push(e.to_string()),
        }
    }
    out
}

/// How old the checkpoint is (its signed time) at `now`.
pub fn age(c: &SignedCheckpoint, now: SystemTime) -> Duration {
    let now_us = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    Duration::from_micros(now_us.saturating_sub(c.checkpoint.time_us))
}
