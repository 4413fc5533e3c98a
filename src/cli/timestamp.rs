//! Trusted timestamps from the command line (SECURITY.md §9): the TSA
//! writers ask after each `exec` and `run` (`ORCHESTRA_AUDIT_TSA`), `orchestra
//! audit timestamp`, and what `audit verify --tsa-cert` and `audit show
//! --json` say about the stored timestamps (FORMAT.md §13).
//!
//! A writer's timestamp is best effort: a TSA that is down or answers
//! wrongly costs one warning line, never the run's verdict. The verifier is
//! strict: every stored timestamp must verify and be of a checkpoint the log
//! holds, byte for byte.

use crate::audit::timestamp::{self, client, store};
use crate::audit::verify::{Failure, VerifyReport};
use crate::audit::{AuditError, AuditLog, checkpoint::SignedCheckpoint, format};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;

/// The environment variable naming the TSA writers ask (an http(s) URL).
pub const ENV: &str = "ORCHESTRA_AUDIT_TSA";

/// The TSA `ORCHESTRA_AUDIT_TSA` names (none when unset or empty).
pub fn from_env() -> Result<Option<String>, client::StampError> {
    match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => {
            client::check_url(v.trim())?;
            Ok(Some(v.trim().to_string()))
        }
        _ => Ok(None),
    }
}

/// Timestamp the latest checkpoint of `log` at `url`; the warning line to
/// print if that failed (the log itself is intact).
pub fn stamp_latest(log: &AuditLog, url: Option<&str>) -> Option<String> {
    let url = url?;
    let note = log.latest_checkpoint()?;
    let size = match SignedCheckpoint::parse(note) {
        Ok(c) => c.checkpoint.size,
        Err(e) => return Some(format!("cannot timestamp the audit checkpoint: {e}")),
    };
    client::stamp(log.dir(), size, note, url)
        .err()
        .map(|e| format!("cannot timestamp the audit checkpoint of {size} records: {e}"))
}

/// SHA-256 of every checkpoint note in the log's segments (the frames as
/// written; whether they verify is the verifier's other checks).
pub fn checkpoint_notes(dir: &Path) -> Result<HashSet<[u8; 32]>, AuditError> {
    let mut out = HashSet::new();
    for seg in format::list_segments(dir)? {
        let (mut s, _) =
            format::FrameStream::open(&seg.path).map_err(|e| AuditError::Io { path: seg.path.clone(), source: e })?;
        while let format::Streamed::Frame { ty, .. } =
            s.next_frame().map_err(|e| AuditError::Io { path: seg.path.clone(), source: e })?
        {
            if ty == format::FRAME_CHECKPOINT {
                out.insert(timestamp::imprint(s.payload()));
            }
        }
    }
    Ok(out)
}

fn fail(code: &'static str, reason: String) -> Failure {
    Failure { code, segment: None, offset: None, seq: None, reason }
}

/// `audit verify --tsa-cert`: every stored timestamp verifies against
/// `trusted` and is of a checkpoint the log holds (`timestamp_bad`), and there
/// is one (`timestamp_missing`). Failures go into `report` (the first one
/// when nothing else failed before, the rest as warnings); the latest
/// timestamp is reported. Returns the JSON summary.
pub fn judge(
    report: &mut VerifyReport,
    dir: &Path,
    trusted: &[crate::audit::timestamp::Certificate],
) -> Result<Value, AuditError> {
    let (stored, odd) = store::list(dir).map_err(|e| AuditError::Io { path: e.path, source: e.source })?;
    let notes = checkpoint_notes(dir)?;
    let mut bad: Vec<String> = odd;
    let mut good: Vec<(u64, timestamp::TokenInfo)> = Vec::new();
    let mut entries = Vec::new();
    for s in &stored {
        let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let verdict = match &s.note {
            None => Err("its .note file is missing or not UTF-8".to_string()),
            Some(_) if !s.name_matches => Err("its .note does not match its name (size and hash)".to_string()),
            Some(note) => match timestamp::verify(&s.tsr, note.as_bytes(), Some(trusted), None) {
                Err(e) => Err(e.to_string()),
                Ok(_) if !notes.contains(&timestamp::imprint(note.as_bytes())) => {
                    Err("it timestamps a checkpoint note this log does not contain".to_string())
                }
                Ok(i) => Ok(i),
            },
        };
        match verdict {
            Ok(i) => {
                entries.push(
                    json!({"file": name, "size": s.size, "ok": true, "gen_time": i.gen_time, "tsa": i.tsa_subject}),
                );
                good.push((s.size, i));
            }
            Err(why) => {
                entries.push(json!({"file": name, "size": s.size, "ok": false, "reason": why}));
                bad.push(format!("{}: {why}", s.path.display()));
            }
        }
    }
    if let Some(first) = bad.first()
        && report.first_error.is_none()
    {
        report.first_error = Some(fail("timestamp_bad", format!("timestamp {first}")));
    }
    for b in bad.iter().skip(usize::from(report.first_error.as_ref().is_some_and(|f| f.code == "timestamp_bad"))) {
        report.warnings.push(format!("timestamp: {b}"));
    }
    let latest = good.iter().max_by_key(|(size, i)| (*size, i.gen_time_s));
    match latest {
        Some((size, i)) => report.warnings.push(format!(
            "timestamped: {} checkpoint(s); the latest covers {size} records, genTime {} by TSA {}",
            good.len(),
            i.gen_time,
            i.tsa_subject.as_deref().unwrap_or("?")
        )),
        None if stored.is_empty() && report.first_error.is_none() => {
            report.first_error = Some(fail(
                "timestamp_missing",
                format!("--tsa-cert was given but no checkpoint of this log is timestamped (no {}/ files)", store::DIR),
            ));
        }
        None => {}
    }
    if report.first_error.is_some() {
        report.verdict = "fail";
    }
    Ok(json!({
        "stored": stored.len(),
        "verified": good.len(),
        "latest": latest.map(|(size, i)| json!({"size": size, "gen_time": i.gen_time, "tsa": i.tsa_subject})),
        "files": entries,
    }))
}

/// The stored timestamps as `audit show --json` lines (read, not trusted:
/// `verify --tsa-cert` judges them).
pub fn show_lines(dir: &Path) -> Vec<Value> {
    let Ok((stored, _)) = store::list(dir) else { return Vec::new() };
    stored
        .iter()
        .map(|s| {
            let file = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut v = json!({"type": "timestamp", "size": s.size, "file": file});
            match timestamp::inspect(&s.tsr) {
                Ok(i) => {
                    v["gen_time"] = json!(i.gen_time);
                    v["tsa"] = json!(i.tsa_subject);
                    v["serial"] = json!(i.serial);
                    v["imprint"] = json!(i.imprint);
                    v["note_matches"] = json!(
                        s.name_matches
                            && s.note.as_ref().is_some_and(|n| hex32(&timestamp::imprint(n.as_bytes())) == i.imprint)
                    );
                }
                Err(e) => v["error"] = json!(e.to_string()),
            }
            v
        })
        .collect()
}

fn hex32(b: &[u8; 32]) -> String {
    crate::audit::keys::hex(b)
}
