//! Fleet verification: a distributed run's log against its workers' logs
//! (`orchestra audit verify --fleet DIR`, FORMAT.md §10.7).
//!
//! A run that dispatched tasks to workers records, for every result it
//! accepted, a `remote_result` record naming the worker's own audit log: its
//! id, its size after the task and the signed checkpoint note of that size.
//! [`check`] takes those records (only the authenticated ones, as
//! [`verify_collecting`] reads them) and the worker log directories a
//! reviewer has, and guarantees, for each record it confirms, that:
//!
//! - a given directory holds the log of that id, and the log verifies as a
//!   whole (FORMAT.md §10; with [`FleetOptions::keys`], against a pinned key);
//! - the note parses, names that log and size, and is validly signed by the
//!   worker log's key in force at that size;
//! - the log holds at least that many records, the hash of record `size - 1`
//!   is the note's head and (format 2) the RFC 6962 root of records
//!   `0..size` is the note's root: the worker's log, as the reviewer has it,
//!   is the history the worker signed when it reported the result;
//! - an authenticated `delivery_ended` record of the same message, task,
//!   attempt and fencing token is among those records.
//!
//! Everything else is a finding with a stable code ([`FLEET_MISSING`],
//! [`FLEET_UNVERIFIED`], [`FLEET_BAD`], [`FLEET_UNLINKED`]), never a panic.
//! `Err` only means a given directory cannot be read or holds no log.

use super::AuditError;
use super::checkpoint::SignedCheckpoint;
use super::format::{self, HEADER_LEN, SegmentHeader};
use super::keys::{VerifierKey, hex};
use super::kind::Kind;
use super::merkle::{Frontier, leaf_hash};
use super::pruned;
use super::record::{Hash, Record, RecordRef};
use super::verify::{Failure, RecordStatus, SeenRecord, VerifyOptions, VerifyReport, verify_dir_with};
use super::writer::CONTINUED;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// No given directory holds the worker log a `remote_result` names.
pub const FLEET_MISSING: &str = "fleet_missing";
/// The worker log a `remote_result` names fails verification (or is not
/// signed by a pinned key).
pub const FLEET_UNVERIFIED: &str = "fleet_unverified";
/// The `remote_result`'s checkpoint does not verify, is not the worker log's
/// history at that size, or the log holds no matching `delivery_ended`.
pub const FLEET_BAD: &str = "fleet_bad";
/// With [`FleetOptions::strict`]: a `remote_result` names no worker log.
pub const FLEET_UNLINKED: &str = "fleet_unlinked";

/// Why the fleet check could not be carried out (a usage problem, not a verdict).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A given directory holds no segment files, nor does its `audit/`.
    #[error("{}: no audit log there (no segment files in it or in {}/audit)", .0.display(), .0.display())]
    NoLog(PathBuf),
    /// A given directory's log id cannot be read from any segment header.
    #[error("{}: no segment header there names a log id", .0.display())]
    NoLogId(PathBuf),
    /// Reading a log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// `worker_log` of a `remote_result`: where the worker's log stood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerLogRef {
    /// The worker log's id (32 hex).
    pub log_id: String,
    /// Its records after the task.
    pub size: u64,
    /// Its signed checkpoint note of that size.
    pub checkpoint: Option<String>,
}

/// A `remote_result` record of the run's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteResult {
    /// Its sequence number in the run's log (in `log`).
    pub seq: u64,
    /// The log it is in, relative to the run's log directory (empty for that
    /// log itself, `continued` for its continuation, ...).
    pub log: String,
    /// The task.
    pub task: String,
    /// The attempt.
    pub attempt: u64,
    /// The task message's id.
    pub msg: String,
    /// The delivery's fencing token.
    pub token: u64,
    /// The worker's name.
    pub worker: String,
    /// The worker's log, if the worker named one.
    pub worker_log: Option<WorkerLogRef>,
    /// Why the body is not a `remote_result` body as FORMAT.md §5.3 has it.
    #[serde(skip)]
    pub malformed: Option<String>,
}

impl RemoteResult {
    /// Read a `remote_result` body; a body that is not one is kept with
    /// [`RemoteResult::malformed`] set (a finding, not an error).
    pub fn from_body(seq: u64, log: String, body: &Value) -> RemoteResult {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| body.get(k).and_then(Value::as_u64);
        let mut r = RemoteResult {
            seq,
            log,
            task: s("task").unwrap_or_default(),
            attempt: n("attempt").unwrap_or_default(),
            msg: s("msg").unwrap_or_default(),
            token: n("token").unwrap_or_default(),
            worker: s("worker").unwrap_or_default(),
            worker_log: None,
            malformed: None,
        };
        let missing: Vec<&str> =
            [("task", s("task").is_none()), ("msg", s("msg").is_none()), ("worker", s("worker").is_none())]
                .into_iter()
                .chain([("attempt", n("attempt").is_none()), ("token", n("token").is_none())])
                .filter_map(|(k, bad)| bad.then_some(k))
                .collect();
        if !missing.is_empty() {
            r.malformed = Some(format!("its body lacks {} (or has the wrong type)", missing.join(", ")));
        }
        match body.get("worker_log") {
            None | Some(Value::Null) => {}
            Some(w) => {
                let log_id = w.get("log_id").and_then(Value::as_str);
                let size = w.get("size").and_then(Value::as_u64);
                let checkpoint = match w.get("checkpoint") {
                    None | Some(Value::Null) => Some(None),
                    Some(Value::String(c)) => Some(Some(c.clone())),
                    Some(_) => None,
                };
                match (log_id, size, checkpoint) {
                    (Some(id), Some(size), Some(checkpoint)) => {
                        r.worker_log = Some(WorkerLogRef { log_id: id.to_string(), size, checkpoint });
                    }
                    _ => {
                        r.malformed.get_or_insert_with(|| {
                            "its worker_log is not {\"log_id\",\"size\",\"checkpoint\"}".to_string()
                        });
                    }
                }
            }
        }
        r
    }
}

/// The report of the log a record is in: `top`, or a continuation below it
/// (`rel` is that log's directory relative to the top one).
fn report_of<'r>(top: &'r VerifyReport, rel: &Path) -> &'r VerifyReport {
    let mut r = top;
    for _ in rel.components() {
        match &r.continued {
            Some(c) => r = c,
            None => break,
        }
    }
    r
}

/// Whether record `seq` of the log `report` describes is authenticated
/// (FORMAT.md §10.2), by the verifier's own rule ([`SeenRecord::status`]).
fn authenticated(report: &VerifyReport, log: &Path, seq: u64) -> bool {
    let record = RecordRef { seq, time_us: 0, prev: [0; 32], kind: "", body: &[] };
    let seen = SeenRecord { record, hash: [0; 32], segment: "", offset: 0, log, after_damage: false };
    seen.status(report) == RecordStatus::Signed
}

/// Verify the run's log in `dir` as [`super::verify_dir`] does, and return
/// its authenticated `remote_result` records with the report.
pub fn verify_collecting(dir: &Path, opts: &VerifyOptions) -> Result<(VerifyReport, Vec<RemoteResult>), AuditError> {
    let mut seen: Vec<(PathBuf, u64, Value)> = Vec::new();
    let report = verify_dir_with(dir, opts, &mut |s| {
        if !s.after_damage && s.record.kind == Kind::RemoteResult.as_str() {
            let rel = s.log.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_default();
            seen.push((rel, s.record.seq, s.record.body_json()));
        }
    })?;
    let results = seen
        .into_iter()
        .filter(|(rel, seq, _)| authenticated(report_of(&report, rel), &dir.join(rel), *seq))
        .map(|(rel, seq, body)| RemoteResult::from_body(seq, rel.display().to_string(), &body))
        .collect();
    Ok((report, results))
}

/// What the reviewer gave: worker log directories, pinned keys, strictness.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// Worker log directories (a log directory, or a worker state directory
    /// holding `audit/`).
    pub dirs: Vec<PathBuf>,
    /// Pinned worker keys: each worker log must be signed by one of them (as
    /// `--trusted-key` for a log). Empty: the keys each log declares.
    pub keys: Vec<VerifierKey>,
    /// A `remote_result` without a worker log is a failure ([`FLEET_UNLINKED`]).
    pub strict: bool,
    /// As [`VerifyOptions::allow_unsigned_tail`], for the worker logs.
    pub allow_unsigned_tail: bool,
}

/// One worker log the check read.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerLogSummary {
    /// Where it is.
    pub dir: PathBuf,
    /// Its id.
    pub log_id: String,
    /// `"ok"` or `"fail"`.
    pub verdict: &'static str,
    /// Records verified.
    pub records: u64,
    /// Key id of the pinned key it was verified against, if any.
    pub trusted_key: Option<String>,
    /// `remote_result` records that name it.
    pub results: u64,
    /// Its first failure, if it fails.
    pub first_error: Option<Failure>,
}

/// One `remote_result` the check did not confirm.
#[derive(Debug, Clone, Serialize)]
pub struct FleetFailure {
    /// [`FLEET_MISSING`], [`FLEET_UNVERIFIED`], [`FLEET_BAD`] or [`FLEET_UNLINKED`].
    pub code: &'static str,
    /// The `remote_result`'s sequence number in the run's log.
    pub seq: u64,
    /// The log of the run it is in (empty: the run's log itself).
    pub log: String,
    /// Its task.
    pub task: String,
    /// Its worker.
    pub worker: String,
    /// The worker log it names, if any.
    pub log_id: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// The fleet check's evidence (`audit verify --fleet --json`: `"fleet"`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetReport {
    /// `"ok"` or `"fail"`.
    pub verdict: &'static str,
    /// Authenticated `remote_result` records in the run's log.
    pub results: u64,
    /// Of them, confirmed by a worker log.
    pub confirmed: u64,
    /// Of them, naming no worker log (`worker_log` null).
    pub unlinked: u64,
    /// The worker logs read.
    pub logs: Vec<WorkerLogSummary>,
    /// Every `remote_result` that was not confirmed, in log order.
    pub failures: Vec<FleetFailure>,
    /// Things a reviewer should know that are not failures.
    pub warnings: Vec<String>,
}

impl FleetReport {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Put the result into the run log's report: the first fleet failure is
    /// its first failure when nothing failed before (its `seq` the
    /// `remote_result`'s), and the warnings are appended.
    pub fn judge(&self, report: &mut VerifyReport) {
        if let Some(f) = self.failures.first()
            && report.first_error.is_none()
        {
            let more = match self.failures.len() {
                1 => String::new(),
                n => format!(" ({} more fleet failure(s))", n - 1),
            };
            report.first_error = Some(Failure {
                code: f.code,
                segment: None,
                offset: None,
                seq: Some(f.seq),
                reason: format!("remote_result of task {:?} from worker {:?}: {}{more}", f.task, f.worker, f.reason),
            });
            report.verdict = "fail";
        }
        report.warnings.extend(self.warnings.iter().cloned());
    }
}

/// The log id in the first readable segment header of `dir`.
fn read_log_id(dir: &Path) -> Result<Option<[u8; 16]>, AuditError> {
    use std::os::unix::fs::FileExt as _;
    Ok(format::list_segments(dir)?.iter().find_map(|s| {
        let mut hb = [0u8; HEADER_LEN];
        std::fs::File::open(&s.path).ok()?.read_exact_at(&mut hb, 0).ok()?;
        SegmentHeader::decode(&hb).ok().map(|h| h.log_id)
    }))
}

/// Which log each given directory (and each `continued/` log below it) holds.
pub fn index(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, [u8; 16])>, FleetError> {
    let mut out = Vec::new();
    for given in dirs {
        let has_log = |d: &Path| format::list_segments(d).map(|s| !s.is_empty());
        let dir = if given.is_dir() && has_log(given)? {
            given.clone()
        } else if given.join("audit").is_dir() && has_log(&given.join("audit"))? {
            given.join("audit")
        } else {
            return Err(FleetError::NoLog(given.clone()));
        };
        let id = read_log_id(&dir)?.ok_or_else(|| FleetError::NoLogId(dir.clone()))?;
        out.push((dir.clone(), id));
        let mut next = dir.join(CONTINUED);
        while next.is_dir() && has_log(&next)? {
            if let Some(id) = read_log_id(&next)? {
                out.push((next.clone(), id));
            }
            next = next.join(CONTINUED);
        }
    }
    Ok(out)
}

/// A `delivery_ended` record of the worker log: its seq, task and attempt.
struct Delivery {
    seq: u64,
    task: String,
    attempt: u64,
}

/// What one pass over a worker log gathered for the notes to check.
struct Gathered {
    /// At each wanted size: (hash of record `size - 1`, Merkle root of `0..size`).
    at: HashMap<u64, (Hash, Option<Hash>)>,
    /// `delivery_ended` records of wanted messages: (msg, token) → (seq, task, attempt).
    deliveries: HashMap<(String, u64), Vec<Delivery>>,
    /// The prune point, if records below it are gone.
    pruned: Option<u64>,
}

/// One worker log, verified, with what its `remote_result`s need.
struct WorkerLog {
    dir: PathBuf,
    report: VerifyReport,
    /// A failure of the log as a whole (it fails, or no pinned key signs it).
    unverified: Option<String>,
    gathered: Gathered,
}

/// Verify the worker log in `dir` and gather, in the same pass, the heads,
/// roots and deliveries that `want` (its `remote_result`s) need.
fn read_worker_log(dir: &Path, want: &[&RemoteResult], opts: &FleetOptions) -> Result<WorkerLog, AuditError> {
    let sizes: BTreeSet<u64> = want.iter().filter_map(|r| r.worker_log.as_ref().map(|w| w.size)).collect();
    let msgs: BTreeSet<&str> = want.iter().map(|r| r.msg.as_str()).collect();
    // Format 2 continues from the prune marker's right edge; a marker that
    // does not check is the verifier's finding, and leaves nothing to compare.
    let marker = pruned::read(dir).ok().flatten();
    let start = marker.as_ref().map_or(0, |m| m.size);
    let mut frontier = match &marker {
        None => Some(Frontier::new()),
        Some(m) => m.check().ok().flatten(),
    };
    let mut g = Gathered { at: HashMap::new(), deliveries: HashMap::new(), pruned: marker.as_ref().map(|m| m.size) };
    let mut next = start;
    let mut payload = Vec::new();
    let plain = VerifyOptions { trusted_key: None, since: None, allow_unsigned_tail: opts.allow_unsigned_tail };
    let mut report = verify_dir_with(dir, &plain, &mut |s| {
        if s.after_damage || s.log != dir {
            return;
        }
        let r = &s.record;
        if r.seq != next {
            frontier = None;
        }
        next = r.seq + 1;
        // The payload again (its encoding is canonical), for the leaf hash.
        payload.clear();
        Record { seq: r.seq, time_us: r.time_us, prev: r.prev, kind: r.kind.to_string(), body: r.body.to_vec() }
            .encode_into(&mut payload);
        if let Some(f) = frontier.as_mut() {
            f.push(leaf_hash(&payload));
        }
        if sizes.contains(&next) {
            g.at.insert(next, (s.hash, frontier.as_ref().map(Frontier::root)));
        }
        if r.kind == Kind::DeliveryEnded.as_str() {
            let body = r.body_json();
            let msg = body.get("msg").and_then(Value::as_str).unwrap_or_default();
            if msgs.contains(msg)
                && let Some(token) = body.get("token").and_then(Value::as_u64)
            {
                let task = body.get("task").and_then(Value::as_str).unwrap_or_default().to_string();
                let attempt = body.get("attempt").and_then(Value::as_u64).unwrap_or(u64::MAX);
                g.deliveries.entry((msg.to_string(), token)).or_default().push(Delivery { seq: r.seq, task, attempt });
            }
        }
    })?;
    let mut unverified = None;
    if !opts.keys.is_empty() {
        // The pinned key the log has; the earliest of them covers the most.
        let pinned = report
            .keys
            .iter()
            .filter_map(|e| VerifierKey::parse(&e.key).ok())
            .find(|k| opts.keys.iter().any(|p| p.key == k.key));
        match pinned {
            None => {
                unverified = Some(format!(
                    "the worker log in {} is signed by none of the pinned worker keys (it declares {})",
                    dir.display(),
                    report.keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Some(k) => {
                let trusted = VerifyOptions { trusted_key: Some(k), ..plain };
                report = verify_dir_with(dir, &trusted, &mut |_| {})?;
            }
        }
    }
    if unverified.is_none()
        && let Some(f) = &report.first_error
    {
        unverified = Some(format!("the worker log in {} fails verification [{}]: {}", dir.display(), f.code, f.reason));
    }
    Ok(WorkerLog { dir: dir.to_path_buf(), report, unverified, gathered: g })
}

/// The worker log's keys that may sign its checkpoint of `size` records: the
/// key in force then, and at a rotation's checkpoint the old and the new key.
fn keys_at(report: &VerifyReport, size: u64) -> Vec<VerifierKey> {
    let epochs = &report.keys;
    epochs
        .iter()
        .enumerate()
        .filter(|(i, e)| e.from_seq <= size && epochs.get(i + 1).is_none_or(|n| size <= n.from_seq))
        .filter_map(|(_, e)| VerifierKey::parse(&e.key).ok())
        .collect()
}

/// Check one `remote_result` against its verified worker log.
fn check_one(r: &RemoteResult, w: &WorkerLogRef, log: &WorkerLog) -> Result<(), (&'static str, String)> {
    if let Some(why) = &log.unverified {
        return Err((FLEET_UNVERIFIED, why.clone()));
    }
    let bad = |why: String| (FLEET_BAD, why);
    let text = w.checkpoint.as_deref().ok_or_else(|| bad("it carries no checkpoint of the worker log".into()))?;
    let note = SignedCheckpoint::parse(text).map_err(|e| bad(format!("its checkpoint does not parse: {e}")))?;
    let c = &note.checkpoint;
    if hex(&c.log_id) != w.log_id {
        return Err(bad(format!("its checkpoint is of log {}, not of worker log {}", hex(&c.log_id), w.log_id)));
    }
    if c.size != w.size {
        return Err(bad(format!("it names size {} but its checkpoint is of {} records", w.size, c.size)));
    }
    let keys = keys_at(&log.report, c.size);
    if !keys.iter().any(|k| note.verify(k).is_ok()) {
        return Err(bad(format!(
            "its checkpoint of {} records is not validly signed by the worker log's key in force at that size",
            c.size
        )));
    }
    if c.size > log.report.records {
        return Err(bad(format!(
            "its checkpoint covers {} records but the worker log in {} holds {}: truncated or rolled back since",
            c.size,
            log.dir.display(),
            log.report.records
        )));
    }
    if log.gathered.pruned.is_some_and(|p| c.size < p) {
        return Err(bad(format!(
            "the worker log was pruned below record {}: its checkpoint of {} records cannot be checked here (check it against the archive)",
            log.gathered.pruned.unwrap_or_default(),
            c.size
        )));
    }
    let Some((head, root)) = log.gathered.at.get(&c.size) else {
        return Err(bad(format!("the worker log's records up to {} could not be read", c.size)));
    };
    if *head != c.head {
        return Err(bad(format!(
            "the worker log's record {} is not the one its checkpoint names (another head): rewritten or forked",
            c.size.saturating_sub(1)
        )));
    }
    if let Some(want) = c.root
        && *root != Some(want)
    {
        return Err(bad(format!(
            "the worker log's first {} records are not the ones its checkpoint signs (another Merkle root): rewritten or forked",
            c.size
        )));
    }
    let delivered = log.gathered.deliveries.get(&(r.msg.clone(), r.token)).is_some_and(|v| {
        v.iter().any(|d| {
            d.seq < c.size && d.task == r.task && d.attempt == r.attempt && authenticated(&log.report, &log.dir, d.seq)
        })
    });
    if !delivered {
        return Err(bad(format!(
            "the worker log holds no authenticated delivery_ended of message {} (task {:?}, attempt {}, token {}) in its first {} records",
            r.msg, r.task, r.attempt, r.token, c.size
        )));
    }
    Ok(())
}

/// Check every `remote_result` of the run against the worker logs in
/// `opts.dirs` (see the module documentation for what a pass guarantees).
pub fn check(results: &[RemoteResult], opts: &FleetOptions) -> Result<FleetReport, FleetError> {
    let index = index(&opts.dirs)?;
    let mut report = FleetReport { verdict: "ok", results: results.len() as u64, ..FleetReport::default() };
    let mut by_id: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (dir, id) in &index {
        match by_id.get(&hex(id)) {
            Some(first) if first != dir => report.warnings.push(format!(
                "worker log {} is in both {} and {}; the first is checked",
                hex(id),
                first.display(),
                dir.display()
            )),
            _ => {
                by_id.entry(hex(id)).or_insert_with(|| dir.clone());
            }
        }
    }
    let mut wanted: BTreeMap<&str, Vec<&RemoteResult>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.malformed.is_none()) {
        if let Some(w) = &r.worker_log {
            wanted.entry(w.log_id.as_str()).or_default().push(r);
        }
    }
    let mut logs: HashMap<&str, WorkerLog> = HashMap::new();
    for (id, rs) in &wanted {
        if let Some(dir) = by_id.get(*id) {
            let log = read_worker_log(dir, rs, opts)?;
            report.logs.push(WorkerLogSummary {
                dir: dir.clone(),
                log_id: id.to_string(),
                verdict: if log.unverified.is_some() { "fail" } else { "ok" },
                records: log.report.records,
                trusted_key: log.report.trusted_key.clone(),
                results: rs.len() as u64,
                first_error: log.report.first_error.clone(),
            });
            logs.insert(id, log);
        }
    }
    for r in results {
        let outcome = match (&r.malformed, &r.worker_log) {
            (Some(why), _) => Err((FLEET_BAD, why.clone())),
            (None, None) => {
                report.unlinked += 1;
                if opts.strict {
                    Err((FLEET_UNLINKED, "it names no worker log (worker_log null)".to_string()))
                } else {
                    Ok(())
                }
            }
            (None, Some(w)) => match logs.get(w.log_id.as_str()) {
                None => Err((
                    FLEET_MISSING,
                    format!("no --fleet directory holds its worker log {} ({} records)", w.log_id, w.size),
                )),
                Some(log) => check_one(r, w, log).map(|()| report.confirmed += 1),
            },
        };
        if let Err((code, reason)) = outcome {
            report.failures.push(FleetFailure {
                code,
                seq: r.seq,
                log: r.log.clone(),
                task: r.task.clone(),
                worker: r.worker.clone(),
                log_id: r.worker_log.as_ref().map(|w| w.log_id.clone()),
                reason,
            });
        }
    }
    if report.unlinked > 0 && !opts.strict {
        report.warnings.push(format!(
            "{} remote_result record(s) name no worker log (the worker could not write its own): their results rest on the worker's message signature alone (--fleet-strict fails them)",
            report.unlinked
        ));
    }
    if opts.keys.is_empty() && !report.logs.is_empty() {
        report.warnings.push(
            "worker logs were checked against the keys they declare themselves: this proves they are self-consistent and match the run's records, not who wrote them; pin the workers' audit keys with --fleet-key".into(),
        );
    }
    if !report.ok() {
        report.verdict = "fail";
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
