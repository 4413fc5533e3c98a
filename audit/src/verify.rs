//! The verifier (FORMAT.md §10, "Verifier rules").
//!
//! [`verify_dir`] reads every segment in order and checks, stopping at the
//! first failure: segment headers and continuity, frame CRCs, record
//! encoding and canonical bodies, sequence numbers, the hash chain from the
//! genesis value, every checkpoint (size, head, ed25519 signature with
//! `verify_strict` by the key in force), key rotations (each signed by the
//! old key), the trusted key, and an exported checkpoint the log must extend.
//! Findings are returned in a [`VerifyReport`]; `Err` only means the log
//! could not be read at all.
//!
//! Beyond the first failure it keeps reading (FORMAT.md §10.5): one damaged
//! byte must not hide later records, so what follows the damage is re-read
//! with its chain re-anchored and reported in [`AfterDamage`], and a log
//! that continues a damaged one (`<dir>/continued/`) is verified too. With a
//! trusted key, records no trusted checkpoint signs fail (`unsigned_tail`)
//! unless [`VerifyOptions::allow_unsigned_tail`]; records a later writer
//! adopted unsigned (`recovery` `"unsigned tail"`) are listed in
//! [`VerifyReport::adopted`].

use super::AuditError;
use super::checkpoint::SignedCheckpoint;
use super::format::{self, FRAME_RECORD, FrameRead, FrameStream, HEADER_LEN, SegmentHeader, Streamed, read_frame};
use super::keys::{VerifierKey, hex};
use super::kind::Kind;
use super::merkle::{Frontier, leaf_hash};
use super::pruned;
use super::record::{self, Hash, RecordRef, record_hash};
use super::writer::CONTINUED;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// What the verifier is asked to check beyond self-consistency.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The public key the reviewer trusts. Without it, a valid log proves
    /// only that it is self-consistent, not who wrote it.
    pub trusted_key: Option<VerifierKey>,
    /// A checkpoint exported earlier: the log must extend it (no truncation,
    /// no rollback, no fork).
    pub since: Option<SignedCheckpoint>,
    /// With a trusted key, accept records after the last trusted checkpoint
    /// (a writer is live, or crashed and no writer ran since): reported, not
    /// a failure.
    pub allow_unsigned_tail: bool,
}

/// Records a later writer found unsigned and adopted with a `recovery`
/// record (`"unsigned tail"`): signed over, but not by the writer that wrote
/// them, so not authenticated (FORMAT.md §10.2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Adopted {
    /// First adopted record.
    pub first_seq: u64,
    /// How many (`first_seq..first_seq + records`).
    pub records: u64,
    /// Sequence number of the `recovery` record that adopted them.
    pub recovery_seq: u64,
}

/// What follows the first failure (FORMAT.md §10.5): read on so that damage
/// hides nothing, but none of it is authenticated through the chain from the
/// start of the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AfterDamage {
    /// Records read after the failure.
    pub records: u64,
    /// Checkpoints after it that match the re-anchored chain and carry a valid
    /// signature by a key of the log.
    pub checkpoints: u64,
    /// Records after the failure that such a checkpoint covers through an
    /// unbroken chain (the key signed them; only their link to what comes
    /// before the damage is lost).
    pub signed_records: u64,
    /// Sequence numbers of the first and last record read after the failure.
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// Further failures after the first one (at most 20 listed).
    pub more_failures: Vec<Failure>,
    /// How many further failures in all.
    pub more_failures_total: u64,
}

/// The first check that failed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// Stable error code (FORMAT.md §10.2).
    pub code: &'static str,
    /// Segment file name, when the failure is located in one.
    pub segment: Option<String>,
    /// Byte offset of the bad frame in that segment.
    pub offset: Option<u64>,
    /// Sequence number of the bad record (or the checkpoint's size).
    pub seq: Option<u64>,
    /// Why, in words.
    pub reason: String,
}

/// One signing key of the log and the span it signed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEpoch {
    /// Key id (8 hex digits).
    pub key_id: String,
    /// The public key (`<name>+<keyid>+<base64>`).
    pub key: String,
    /// First record signed under this key (0, or the rotation record + 1).
    pub from_seq: u64,
    /// Checkpoints this key signed.
    pub checkpoints: u64,
    /// Largest checkpoint size this key signed.
    pub max_size: u64,
}

/// The latest valid checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointInfo {
    /// Records covered.
    pub size: u64,
    /// Head hash (hex).
    pub head: String,
    /// Format 2: the Merkle tree root (hex).
    pub root: Option<String>,
    /// Signing time, microseconds since the epoch.
    pub time_us: u64,
    /// Signer key id.
    pub key_id: String,
    /// The note text.
    pub note: String,
}

/// A torn tail found at the end of the last segment (not an error).
#[derive(Debug, Clone, Serialize)]
pub struct TornTail {
    /// Segment file name.
    pub segment: String,
    /// Offset where the valid part ends.
    pub offset: u64,
    /// Bytes after it.
    pub bytes: u64,
    /// What was wrong with them.
    pub reason: String,
}

/// Evidence from a verification run (`orchestra audit verify --json`).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// `"ok"` or `"fail"`.
    pub verdict: &'static str,
    /// The log's id.
    pub log_id: Option<String>,
    /// The log's format version (0 when no segment header was read).
    pub format: u32,
    /// Records `0..n` were pruned; verification started at `n` (FORMAT.md §14).
    pub pruned: Option<u64>,
    /// Segment files read.
    pub segments: u64,
    /// Records verified.
    pub records: u64,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// Hash of the last verified record (hex).
    pub head: Option<String>,
    /// Signing keys in order of rotation.
    pub keys: Vec<KeyEpoch>,
    /// The latest valid checkpoint.
    pub last_checkpoint: Option<CheckpointInfo>,
    /// Records after the latest checkpoint: not covered by any signature.
    pub unsigned_tail: u64,
    /// A torn final write, if any (recovered by the next writer).
    pub torn_tail: Option<TornTail>,
    /// `recovery` records seen.
    pub recoveries: u64,
    /// Key id of the trusted key, if one was given.
    pub trusted_key: Option<String>,
    /// Records covered by a checkpoint whose signature chains to the trusted key.
    pub authenticated_records: u64,
    /// With a trusted key: records `0..n` are covered by the largest
    /// checkpoint of the trusted key or its successors (adopted ones included).
    pub trusted_coverage: u64,
    /// Size of the exported checkpoint the log was checked against.
    pub since_checkpoint: Option<u64>,
    /// Records a later writer adopted unsigned (not authenticated).
    pub adopted: Vec<Adopted>,
    /// Things a reviewer should know that are not failures.
    pub warnings: Vec<String>,
    /// The first failed check.
    pub first_error: Option<Failure>,
    /// What follows the first failure, if any.
    pub after_damage: Option<AfterDamage>,
    /// The log that continues this one in `continued/` (a writer found this
    /// one damaged), verified on its own.
    pub continued: Option<Box<VerifyReport>>,
}

impl VerifyReport {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.first_error.is_none()
    }
}

/// A record as the verifier saw it, for `orchestra audit show`.
#[derive(Debug, Clone, Copy)]
pub struct SeenRecord<'a> {
    /// The record.
    pub record: RecordRef<'a>,
    /// Its hash.
    pub hash: Hash,
    /// Segment file name.
    pub segment: &'a str,
    /// Frame offset in the segment.
    pub offset: u64,
    /// The log directory it is in (the verified one, or a `continued/` below it).
    pub log: &'a Path,
    /// Read after the first failure (FORMAT.md §10.5).
    pub after_damage: bool,
}

impl SeenRecord<'_> {
    /// Whether the record is authenticated according to `report` (the report
    /// of the log it is in): before any damage, covered by the checkpoints
    /// that count (the trusted chain's with a trusted key, else any valid
    /// one), and not adopted unsigned.
    pub fn status(&self, report: &VerifyReport) -> RecordStatus {
        let seq = self.record.seq;
        if self.after_damage {
            return RecordStatus::AfterDamage;
        }
        if report.adopted.iter().any(|a| seq >= a.first_seq && seq < a.first_seq + a.records) {
            return RecordStatus::Adopted;
        }
        let covered = if report.trusted_key.is_some() {
            report.trusted_coverage
        } else {
            report.last_checkpoint.as_ref().map_or(0, |c| c.size)
        };
        if seq < covered { RecordStatus::Signed } else { RecordStatus::Unsigned }
    }
}

/// How far a record is authenticated (`audit show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Covered by a checkpoint that counts (see [`SeenRecord::status`]).
    Signed,
    /// After the last such checkpoint: nobody vouches for it yet.
    Unsigned,
    /// Found unsigned by a later writer, which adopted it (FORMAT.md §10.2).
    Adopted,
    /// After the first failure: not authenticated through the chain.
    AfterDamage,
}

impl RecordStatus {
    /// Whether the record counts as authenticated.
    pub fn authenticated(self) -> bool {
        self == RecordStatus::Signed
    }

    /// The status as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Signed => "signed",
            RecordStatus::Unsigned => "unsigned",
            RecordStatus::Adopted => "adopted",
            RecordStatus::AfterDamage => "after_damage",
        }
    }
}

struct Verifier<'o> {
    opts: &'o VerifyOptions,
    dir: &'o Path,
    report: VerifyReport,
    log_id: Option<[u8; 16]>,
    next_seq: u64,
    head: Hash,
    keys: Vec<VerifierKey>,
    current: usize,
    pending: Option<(VerifierKey, u64)>,
    last_cp: Option<(u64, Hash)>,
    since_head: Option<Hash>,
    /// Format 2: the Merkle tree root at the exported checkpoint's size.
    since_root: Option<Hash>,
    /// The log's format version (its first segment's).
    version: u32,
    /// Format 2: the Merkle frontier over the records verified so far.
    frontier: Option<Frontier>,
    /// The size below which records were pruned (FORMAT.md §14).
    pruned: Option<u64>,
    /// The `log_pruned` record naming that size and the marker's checkpoint.
    prune_record: Option<u64>,
    /// The marker's checkpoint: (head, root).
    prune_point: Option<(Hash, Option<Hash>)>,
}

/// Why the first record does not open the log.
#[derive(Debug, thiserror::Error)]
enum GenesisError {
    #[error("the first record is {0:?}, not log_opened")]
    FirstKind(String),
    #[error("log_opened does not name the segments' format {0}")]
    Format(u32),
    #[error("log_opened names another log id than the segment header")]
    LogId,
    #[error("log_opened has no key")]
    NoKey,
    #[error("log_opened key: {0}")]
    Key(super::keys::KeyParseError),
}

/// An `"unsigned tail"` recovery record that does not name the records it adopts.
#[derive(Debug, thiserror::Error)]
#[error("an \"unsigned tail\" recovery must name the records right before it (first_seq, records)")]
struct BadAdoption;

/// The records a `recovery` record adopts (FORMAT.md §9.1): those from its
/// `first_seq` up to it. `Err` if it says `"unsigned tail"` but does not say
/// which records in a way that fits.
fn adoption(r: &RecordRef<'_>) -> Result<Option<Adopted>, BadAdoption> {
    let body = r.body_json();
    if body.get("reason").and_then(Value::as_str) != Some("unsigned tail") {
        return Ok(None);
    }
    let first = body.get("first_seq").and_then(Value::as_u64);
    let n = body.get("records").and_then(Value::as_u64);
    match (first, n) {
        (Some(f), Some(n)) if f <= r.seq && r.seq - f == n && n > 0 => {
            Ok(Some(Adopted { first_seq: f, records: n, recovery_seq: r.seq }))
        }
        _ => Err(BadAdoption),
    }
}

fn fail(code: &'static str, segment: &str, offset: usize, seq: Option<u64>, reason: impl ToString) -> Failure {
    Failure { code, segment: Some(segment.to_string()), offset: Some(offset as u64), seq, reason: reason.to_string() }
}

/// Verify the log in `dir`.
pub fn verify_dir(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    verify_dir_with(dir, opts, &mut |_| {})
}

/// Verify the log in `dir`, calling `on_record` for every record that passed
/// its checks, in order, then for every record read after the first failure
/// (flagged), then for the records of a continuation log.
pub fn verify_dir_with(
    dir: &Path,
    opts: &VerifyOptions,
    on_record: &mut dyn FnMut(&SeenRecord<'_>),
) -> Result<VerifyReport, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "no such log directory")));
    }
    let mut segs = format::list_segments(dir)?;
    let mut v = Verifier {
        opts,
        dir,
        report: VerifyReport {
            verdict: "ok",
            log_id: None,
            format: 0,
            pruned: None,
            segments: 0,
            records: 0,
            checkpoints: 0,
            head: None,
            keys: Vec::new(),
            last_checkpoint: None,
            unsigned_tail: 0,
            torn_tail: None,
            recoveries: 0,
            trusted_key: opts.trusted_key.as_ref().map(VerifierKey::id_hex),
            authenticated_records: 0,
            trusted_coverage: 0,
            since_checkpoint: opts.since.as_ref().map(|s| s.checkpoint.size),
            adopted: Vec::new(),
            warnings: Vec::new(),
            first_error: None,
            after_damage: None,
            continued: None,
        },
        log_id: None,
        next_seq: 0,
        head: [0; 32],
        keys: Vec::new(),
        current: 0,
        pending: None,
        last_cp: None,
        since_head: None,
        since_root: None,
        version: 0,
        frontier: None,
        pruned: None,
        prune_record: None,
        prune_point: None,
    };
    let result = match v.start_after_prune(&mut segs) {
        Ok(()) => v.run(&segs, on_record),
        Err(f) => Err((f, segs.len(), 0)),
    };
    if let Err((f, seg, resume)) = result {
        v.report.first_error = Some(f);
        v.after_damage(&segs, seg, resume, on_record);
    } else if let Err(f) = v.finish() {
        v.report.first_error = Some(f);
    }
    let mut report = v.report;
    let next = dir.join(CONTINUED);
    if !format::list_segments(&next).unwrap_or_default().is_empty() {
        let sub = VerifyOptions { since: None, ..opts.clone() };
        let c = verify_dir_with(&next, &sub, on_record)?;
        if report.first_error.is_none() {
            report.first_error = Some(Failure {
                code: "continued",
                segment: None,
                offset: None,
                seq: None,
                reason: format!(
                    "a writer found this log damaged and continued it in {}: the damage was there (it may have been undone since)",
                    next.display()
                ),
            });
        }
        report.continued = Some(Box::new(c));
    }
    if report.first_error.is_some() {
        report.verdict = "fail";
    }
    Ok(report)
}

impl Verifier<'_> {
    /// A pruned log (FORMAT.md §14): start from the marker's checkpoint, with
    /// its key in force and its tree, and leave out segments an interrupted
    /// prune did not remove yet.
    fn start_after_prune(&mut self, segs: &mut Vec<format::SegmentFile>) -> Result<(), Failure> {
        let bad = |reason: String| Failure { code: "pruned", segment: None, offset: None, seq: None, reason };
        let marker = match pruned::read(self.dir) {
            Ok(None) => return Ok(()),
            Ok(Some(m)) => m,
            Err(e) => return Err(bad(e.to_string())),
        };
        let frontier = marker.check().map_err(|e| bad(e.to_string()))?;
        let c = &marker.checkpoint.checkpoint;
        let before = segs.len();
        segs.retain(|s| s.first_seq >= marker.size);
        if segs.len() < before {
            self.report.warnings.push(format!(
                "{} segment(s) below the prune point were left by an interrupted `audit prune` and are not read",
                before - segs.len()
            ));
        }
        self.log_id = Some(c.log_id);
        self.report.log_id = Some(hex(&c.log_id));
        self.version = c.version();
        self.report.format = self.version;
        self.frontier = frontier;
        self.head = c.head;
        self.next_seq = marker.size;
        self.pruned = Some(marker.size);
        self.prune_point = Some((c.head, c.root));
        self.report.pruned = Some(marker.size);
        self.push_key(marker.key, marker.size);
        self.report.warnings.push(format!(
            "records 0..{} were pruned (FORMAT.md §14): this verifies from the checkpoint of {} records onward, signed by {}",
            marker.size - 1,
            marker.size,
            self.keys[self.current].id_hex()
        ));
        Ok(())
    }

    fn run(
        &mut self,
        segs: &[format::SegmentFile],
        on_record: &mut dyn FnMut(&SeenRecord<'_>),
    ) -> Result<(), (Failure, usize, u64)> {
        if segs.is_empty() {
            return Err((
                Failure {
                    code: "empty",
                    segment: None,
                    offset: None,
                    seq: None,
                    reason: "no segment files: the log is empty or was deleted".into(),
                },
                0,
                0,
            ));
        }
        for (i, seg) in segs.iter().enumerate() {
            // A bad header: read on from the next segment; a bad frame: from the next byte.
            let next_seg = |f: Failure| (f, i + 1, 0);
            let is_last = i + 1 == segs.len();
            let (mut stream, header) =
                FrameStream::open(&seg.path).map_err(|e| next_seg(fail("io", &seg.name, 0, None, e.to_string())))?;
            self.report.segments += 1;
            if is_last && i > 0 && header.len() < HEADER_LEN {
                self.report.torn_tail = Some(TornTail {
                    segment: seg.name.clone(),
                    offset: 0,
                    bytes: header.len() as u64,
                    reason: "segment header incomplete".into(),
                });
                break;
            }
            let h =
                SegmentHeader::decode(&header).map_err(|e| next_seg(fail("segment_header", &seg.name, 0, None, e)))?;
            match self.log_id {
                None if self.pruned.is_none() => {
                    self.log_id = Some(h.log_id);
                    self.report.log_id = Some(hex(&h.log_id));
                    self.report.format = h.version;
                    self.head = record::genesis(&h.log_id);
                    self.version = h.version;
                    self.frontier = (h.version >= 2).then(Frontier::new);
                }
                None => {}
                Some(id) if id != h.log_id => {
                    return Err(next_seg(fail(
                        "log_id_mismatch",
                        &seg.name,
                        0,
                        None,
                        "segment belongs to another log",
                    )));
                }
                Some(_) => {}
            }
            if h.version != self.version {
                return Err(next_seg(fail(
                    "segment_header",
                    &seg.name,
                    0,
                    None,
                    format!("segment of format {} in a log of format {}", h.version, self.version),
                )));
            }
            if h.first_seq != seg.first_seq {
                return Err((
                    fail("segment_name", &seg.name, 0, None, format!("header says first sequence {}", h.first_seq)),
                    i,
                    HEADER_LEN as u64,
                ));
            }
            if h.first_seq != self.next_seq {
                return Err((
                    fail(
                        "segment_gap",
                        &seg.name,
                        0,
                        Some(self.next_seq),
                        format!(
                            "segment starts at sequence {}, expected {}: a segment was removed or inserted",
                            h.first_seq, self.next_seq
                        ),
                    ),
                    i,
                    HEADER_LEN as u64,
                ));
            }
            // One frame in memory at a time (constant memory in the log's length).
            loop {
                let step = stream.next_frame().map_err(|e| next_seg(fail("io", &seg.name, 0, None, e.to_string())))?;
                match step {
                    Streamed::End => break,
                    Streamed::Frame { ty, at } => {
                        let resume = |f: Failure| (f, i, at + 1);
                        let at = at as usize;
                        let payload = stream.payload();
                        if ty == FRAME_RECORD {
                            let (r, hash) = self.record(payload, &seg.name, at).map_err(resume)?;
                            on_record(&SeenRecord {
                                record: r,
                                hash,
                                segment: &seg.name,
                                offset: at as u64,
                                log: self.dir,
                                after_damage: false,
                            });
                        } else {
                            self.checkpoint(payload, &seg.name, at).map_err(resume)?;
                        }
                    }
                    Streamed::Bad { at, reason, reaches_eof, torn } => {
                        if is_last && reaches_eof && torn {
                            self.report.torn_tail = Some(TornTail {
                                segment: seg.name.clone(),
                                offset: at,
                                bytes: stream.len() - at,
                                reason,
                            });
                            break;
                        }
                        return Err((fail("frame", &seg.name, at as usize, Some(self.next_seq), reason), i, at + 1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Read on after the first failure (FORMAT.md §10.5): from `resume`, find
    /// the next valid frame and take the chain from there (re-anchored at the
    /// first record found, and again after every further break), checking
    /// each later checkpoint against it and against the log's keys.
    fn after_damage(
        &mut self,
        segs: &[format::SegmentFile],
        seg: usize,
        resume: u64,
        on_record: &mut dyn FnMut(&SeenRecord<'_>),
    ) {
        let mut ad = AfterDamage::default();
        let mut head: Option<Hash> = None;
        let mut next_seq: Option<u64> = None;
        let mut since_cp = 0u64;
        let mut pending: Option<VerifierKey> = None;
        let note = |ad: &mut AfterDamage, f: Failure| {
            ad.more_failures_total += 1;
            if ad.more_failures.len() < 20 {
                ad.more_failures.push(f);
            }
        };
        for (i, s) in segs.iter().enumerate().skip(seg) {
            let buf = match std::fs::read(&s.path) {
                Ok(b) => b,
                Err(e) => {
                    note(&mut ad, fail("io", &s.name, 0, None, e.to_string()));
                    continue;
                }
            };
            let mut at = if i == seg { resume as usize } else { HEADER_LEN };
            if i != seg {
                self.report.segments += 1;
                match SegmentHeader::decode(&buf) {
                    Ok(h) if Some(h.log_id) == self.log_id => {}
                    Ok(_) => note(&mut ad, fail("log_id_mismatch", &s.name, 0, None, "segment belongs to another log")),
                    Err(e) => note(&mut ad, fail("segment_header", &s.name, 0, None, e)),
                }
            }
            let is_last = i + 1 == segs.len();
            let mut resyncing = i == seg;
            while at < buf.len() {
                let (ty, payload, next) = match read_frame(&buf, at) {
                    FrameRead::Frame { ty, payload_start, payload_end, next } => {
                        (ty, &buf[payload_start..payload_end], next)
                    }
                    FrameRead::Bad { reason, reaches_eof } => {
                        if is_last && reaches_eof && format::is_torn_tail(&buf, at) {
                            break;
                        }
                        if !resyncing {
                            note(&mut ad, fail("frame", &s.name, at, next_seq, reason));
                            resyncing = true;
                        }
                        at += 1;
                        continue;
                    }
                };
                resyncing = false;
                if ty == FRAME_RECORD {
                    let r = match RecordRef::decode(payload) {
                        Ok(r) => r,
                        Err(e) => {
                            note(&mut ad, fail("record_encoding", &s.name, at, next_seq, e));
                            at = next;
                            continue;
                        }
                    };
                    if head.is_some_and(|h| h != r.prev) || next_seq.is_some_and(|n| n != r.seq) {
                        note(&mut ad, fail("chain", &s.name, at, Some(r.seq), "the chain breaks again here"));
                        since_cp = 0;
                    }
                    if r.kind == Kind::KeyRotation.as_str() {
                        pending = r
                            .body_json()
                            .get("new_key")
                            .and_then(Value::as_str)
                            .and_then(|k| VerifierKey::parse(k).ok());
                    } else if r.kind == Kind::Recovery.as_str()
                        && let Ok(Some(a)) = adoption(&r)
                    {
                        self.report.adopted.push(a);
                    }
                    let hash = record_hash(payload);
                    head = Some(hash);
                    next_seq = Some(r.seq + 1);
                    ad.first_seq.get_or_insert(r.seq);
                    ad.last_seq = Some(r.seq);
                    ad.records += 1;
                    since_cp += 1;
                    on_record(&SeenRecord {
                        record: r,
                        hash,
                        segment: &s.name,
                        offset: at as u64,
                        log: self.dir,
                        after_damage: true,
                    });
                } else {
                    let c = std::str::from_utf8(payload).ok().and_then(|t| SignedCheckpoint::parse(t).ok());
                    let matches = c.as_ref().is_some_and(|c| {
                        Some(c.checkpoint.log_id) == self.log_id
                            && Some(c.checkpoint.size) == next_seq
                            && Some(c.checkpoint.head) == head
                    });
                    let signer = c
                        .as_ref()
                        .filter(|_| matches)
                        .and_then(|c| self.keys.iter().chain(pending.iter()).find(|k| c.verify(k).is_ok()).cloned());
                    match signer {
                        Some(_) => {
                            // Right after a rotation the old key signs; the new one is in force after.
                            if let Some(p) = pending.take() {
                                self.keys.push(p);
                            }
                            ad.checkpoints += 1;
                            ad.signed_records += since_cp;
                            since_cp = 0;
                        }
                        None if head.is_some() => {
                            note(
                                &mut ad,
                                fail(
                                    "checkpoint_signature",
                                    &s.name,
                                    at,
                                    next_seq,
                                    "checkpoint after the damage does not match the chain or a key of the log",
                                ),
                            );
                        }
                        None => {}
                    }
                }
                at = next;
            }
        }
        self.report.warnings.push(format!(
            "after the failure: {} record(s) read (sequence {}..{}), {} covered by a later valid checkpoint; {} further failure(s)",
            ad.records,
            ad.first_seq.map_or("-".into(), |s| s.to_string()),
            ad.last_seq.map_or("-".into(), |s| s.to_string()),
            ad.signed_records,
            ad.more_failures_total
        ));
        self.report.after_damage = Some(ad);
    }

    fn record<'b>(&mut self, payload: &'b [u8], seg: &str, at: usize) -> Result<(RecordRef<'b>, Hash), Failure> {
        let r = RecordRef::decode(payload).map_err(|e| fail("record_encoding", seg, at, Some(self.next_seq), e))?;
        let here = |code, why: String| fail(code, seg, at, Some(r.seq), why);
        if r.seq != self.next_seq {
            return Err(here(
                "seq",
                format!(
                    "record has sequence {}, expected {}: records were deleted, inserted, duplicated or reordered",
                    r.seq, self.next_seq
                ),
            ));
        }
        if let Some((k, s)) = &self.pending {
            return Err(here(
                "rotation",
                format!(
                    "key rotation at sequence {s} to {} is not followed by a checkpoint signed by the old key",
                    k.id_hex()
                ),
            ));
        }
        if r.prev != self.head {
            let code = if r.seq == 0 { "genesis" } else { "chain" };
            return Err(here(code, "prev does not match the hash of the preceding record (or the genesis value): a record was changed, removed or inserted".into()));
        }
        if r.seq == 0 {
            self.genesis(&r).map_err(|e| here("genesis", e.to_string()))?;
        } else if r.kind == Kind::LogOpened.as_str() {
            return Err(here("genesis", "log_opened record after the start of the log".into()));
        }
        if r.kind == Kind::KeyRotation.as_str() {
            let body = r.body_json();
            let cur = &self.keys[self.current];
            if body.get("old_key").and_then(Value::as_str) != Some(cur.encode().as_str()) {
                return Err(here(
                    "rotation",
                    format!("rotation does not name the key in force ({}) as old_key", cur.id_hex()),
                ));
            }
            let new = body
                .get("new_key")
                .and_then(Value::as_str)
                .ok_or_else(|| here("rotation", "rotation has no new_key".into()))
                .and_then(|s| VerifierKey::parse(s).map_err(|e| here("rotation", format!("new_key: {e}"))))?;
            self.pending = Some((new, r.seq));
        } else if r.kind == Kind::LogPruned.as_str() {
            let body = r.body_json();
            let size = body.get("size").and_then(Value::as_u64);
            if size.is_none_or(|s| s == 0 || s > r.seq) {
                return Err(here("pruned", "log_pruned does not name a size at or below its own sequence".into()));
            }
            let hash = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let names_marker = self
                .prune_point
                .is_some_and(|(head, root)| hash("head") == Some(hex(&head)) && hash("root") == root.map(|r| hex(&r)));
            if size == self.pruned && names_marker && self.prune_record.is_none() {
                self.prune_record = Some(r.seq);
            }
        } else if r.kind == Kind::Recovery.as_str() {
            if let Some(a) = adoption(&r).map_err(|why| here("recovery", why.to_string()))? {
                self.report.warnings.push(format!(
                    "records {}..={} were found unsigned by a later writer and adopted by record {} (a writer crashed, or they were appended without the key): they are not authenticated",
                    a.first_seq,
                    a.first_seq + a.records - 1,
                    a.recovery_seq
                ));
                self.report.adopted.push(a);
            }
            self.report.recoveries += 1;
            self.report.warnings.push(format!(
                "record {} says the writer recovered the log from damage: {}",
                r.seq,
                String::from_utf8_lossy(r.body)
            ));
        }
        let hash = record_hash(payload);
        self.head = hash;
        if let Some(f) = &mut self.frontier {
            f.push(leaf_hash(payload));
        }
        self.next_seq += 1;
        self.report.records += 1;
        if self.opts.since.as_ref().is_some_and(|s| s.checkpoint.size == self.next_seq) {
            self.since_head = Some(hash);
            self.since_root = self.frontier.as_ref().map(Frontier::root);
        }
        Ok((r, hash))
    }

    fn genesis(&mut self, r: &RecordRef<'_>) -> Result<(), GenesisError> {
        if r.kind != Kind::LogOpened.as_str() {
            return Err(GenesisError::FirstKind(r.kind.to_string()));
        }
        let body = r.body_json();
        if body.get("format").and_then(Value::as_u64) != Some(u64::from(self.version)) {
            return Err(GenesisError::Format(self.version));
        }
        let id = self.log_id.map(|i| hex(&i));
        if body.get("log_id").and_then(Value::as_str) != id.as_deref() {
            return Err(GenesisError::LogId);
        }
        let key = body.get("key").and_then(Value::as_str).ok_or(GenesisError::NoKey)?;
        let key = VerifierKey::parse(key).map_err(GenesisError::Key)?;
        self.push_key(key, 0);
        Ok(())
    }

    fn push_key(&mut self, key: VerifierKey, from_seq: u64) {
        self.report.keys.push(KeyEpoch {
            key_id: key.id_hex(),
            key: key.encode(),
            from_seq,
            checkpoints: 0,
            max_size: 0,
        });
        self.keys.push(key);
        self.current = self.keys.len() - 1;
    }

    fn checkpoint(&mut self, payload: &[u8], seg: &str, at: usize) -> Result<(), Failure> {
        let here = |code, seq, why: String| fail(code, seg, at, seq, why);
        let text = std::str::from_utf8(payload)
            .map_err(|_| here("checkpoint_encoding", None, "checkpoint is not UTF-8".into()))?;
        let c = SignedCheckpoint::parse(text).map_err(|e| here("checkpoint_encoding", None, e.to_string()))?;
        let size = c.checkpoint.size;
        if Some(c.checkpoint.log_id) != self.log_id {
            return Err(here("checkpoint_encoding", Some(size), "checkpoint names another log".into()));
        }
        if c.checkpoint.version() != self.version {
            return Err(here(
                "checkpoint_encoding",
                Some(size),
                format!("checkpoint of format {} in a log of format {}", c.checkpoint.version(), self.version),
            ));
        }
        if self.keys.is_empty() || size == 0 {
            return Err(here("checkpoint_size", Some(size), "checkpoint before the first record".into()));
        }
        if size != self.next_seq {
            return Err(here(
                "checkpoint_size",
                Some(size),
                format!(
                    "checkpoint for size {size} follows {} records: records were deleted or inserted",
                    self.next_seq
                ),
            ));
        }
        if c.checkpoint.head != self.head {
            // Equivocation is a proof that the log's key signed two histories:
            // only a note this log's keys validly signed is one (FORMAT.md §10.3).
            let signer = self.keys.iter().find(|k| c.verify(k).is_ok());
            if let Some(k) = signer
                && self.last_cp.is_some_and(|(s, h)| s == size && h != c.checkpoint.head)
            {
                return Err(here(
                    "equivocation",
                    Some(size),
                    format!("key {} signed two checkpoints for size {size} with different heads", k.id_hex()),
                ));
            }
            return Err(here(
                "checkpoint_head",
                Some(size),
                "checkpoint head does not match the hash chain: a record was changed".into(),
            ));
        }
        if let (Some(root), Some(f)) = (c.checkpoint.root, &self.frontier)
            && root != f.root()
        {
            return Err(here(
                "checkpoint_root",
                Some(size),
                "checkpoint root does not match the Merkle tree of the records (its head does): the signer committed to other records".into(),
            ));
        }
        let signer = self.current;
        let key = &self.keys[signer];
        if let Some((new, rseq)) = self.pending.take() {
            c.verify(key).map_err(|e| {
                here(
                    "rotation",
                    Some(size),
                    format!(
                        "rotation at sequence {rseq} to key {} is not signed by the old key {}: {e}",
                        new.id_hex(),
                        key.id_hex()
                    ),
                )
            })?;
            self.push_key(new, rseq + 1);
        } else {
            c.verify(key).map_err(|e| here("checkpoint_signature", Some(size), e.to_string()))?;
        }
        let epoch = &mut self.report.keys[signer];
        epoch.checkpoints += 1;
        epoch.max_size = epoch.max_size.max(size);
        self.report.checkpoints += 1;
        self.last_cp = Some((size, c.checkpoint.head));
        self.report.last_checkpoint = Some(CheckpointInfo {
            size,
            head: hex(&c.checkpoint.head),
            root: c.checkpoint.root.map(|r| hex(&r)),
            time_us: c.checkpoint.time_us,
            key_id: epoch.key_id.clone(),
            note: c.text,
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        let r = &mut self.report;
        r.head = (r.records > 0).then(|| hex(&self.head));
        let signed = r.last_checkpoint.as_ref().map_or(0, |c| c.size);
        r.unsigned_tail = self.next_seq.saturating_sub(signed);
        if let Some((k, s)) = &self.pending {
            r.warnings.push(format!(
                "the log ends with an incomplete key rotation (record {s}, to key {}) that no checkpoint signs; it is not in force",
                k.id_hex()
            ));
        }
        if r.unsigned_tail > 0 {
            r.warnings.push(format!(
                "{} record(s) after the last checkpoint (sequence {}..{}) are not covered by any signature",
                r.unsigned_tail,
                signed,
                self.next_seq - 1
            ));
        }
        if let Some(t) = &r.torn_tail {
            r.warnings.push(format!(
                "torn final write: {} byte(s) at {} offset {} ({}); the next writer cuts them off and records a recovery",
                t.bytes, t.segment, t.offset, t.reason
            ));
        }
        let none = |code, why: String| Failure { code, segment: None, offset: None, seq: None, reason: why };
        if let Some(since) = &self.opts.since {
            let size = since.checkpoint.size;
            if let Some(p) = self.pruned.filter(|p| size < *p) {
                return Err(none(
                    "since_checkpoint",
                    format!(
                        "the exported checkpoint covers {size} records, but records before {p} were pruned: verify the archive against it, and this log from the prune marker on"
                    ),
                ));
            }
            if Some(since.checkpoint.log_id) != self.log_id {
                return Err(none("since_checkpoint", "the exported checkpoint is for another log".into()));
            }
            let signer = self.keys.iter().find(|k| since.verify(k).is_ok());
            let Some(signer) = signer else {
                return Err(none(
                    "since_checkpoint",
                    "the exported checkpoint is not signed by any key of this log".into(),
                ));
            };
            match self.since_head {
                None => {
                    return Err(none(
                        "since_checkpoint",
                        format!(
                            "the log has {} records but the exported checkpoint (signed by {}) covers {size}: the log was truncated or rolled back",
                            self.next_seq,
                            signer.id_hex()
                        ),
                    ));
                }
                Some(h)
                    if h != since.checkpoint.head
                        || (since.checkpoint.root.is_some() && since.checkpoint.root != self.since_root) =>
                {
                    return Err(none(
                        "equivocation",
                        format!(
                            "key {} signed a different head for size {size} in the exported checkpoint: the log was rewritten (fork)",
                            signer.id_hex()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(t) = &self.opts.trusted_key {
            let Some(idx) = self.keys.iter().position(|k| k.key == t.key) else {
                let ids: Vec<String> = self.keys.iter().map(VerifierKey::id_hex).collect();
                return Err(none(
                    "untrusted_key",
                    format!("the log is signed by key(s) [{}], not by the trusted key {}", ids.join(", "), t.id_hex()),
                ));
            };
            let auth = self.report.keys[idx..].iter().map(|e| e.max_size).max().unwrap_or(0);
            if auth == 0 {
                return Err(none(
                    "untrusted_key",
                    format!("no checkpoint is signed by the trusted key {} or its successors", t.id_hex()),
                ));
            }
            // Adopted records are covered by checkpoints but nobody vouches
            // for them: they are not authenticated (FORMAT.md §10.2).
            let adopted: u64 = self
                .report
                .adopted
                .iter()
                .map(|a| a.first_seq.min(auth)..(a.first_seq + a.records).min(auth))
                .map(|r| r.end - r.start)
                .sum();
            self.report.authenticated_records = auth - adopted - self.pruned.unwrap_or(0).min(auth - adopted);
            self.report.trusted_coverage = auth;
            let tail = self.next_seq.saturating_sub(auth);
            if tail > 0 && !self.opts.allow_unsigned_tail {
                return Err(Failure {
                    code: "unsigned_tail",
                    segment: None,
                    offset: None,
                    seq: Some(auth),
                    reason: format!(
                        "{tail} record(s) (sequence {auth}..{}) follow the last checkpoint signed by the trusted key or its successors: nobody vouches for them (appended without the key, or a writer crashed and none ran since; --allow-unsigned-tail accepts that, e.g. while a writer is live)",
                        self.next_seq - 1
                    ),
                });
            }
            if let Some(a) = self.report.adopted.first().filter(|_| !self.opts.allow_unsigned_tail) {
                return Err(Failure {
                    code: "adopted",
                    segment: None,
                    offset: None,
                    seq: Some(a.first_seq),
                    reason: format!(
                        "records {}..={} were found unsigned and adopted by record {}: no trusted key vouches for them (appended without the key, or by a writer that crashed between a record and its checkpoint); --allow-unsigned-tail accepts that",
                        a.first_seq,
                        a.first_seq + a.records - 1,
                        a.recovery_seq
                    ),
                });
            }
        }
        // A pruned log: a log_pruned record naming the marker's checkpoint,
        // signed by a checkpoint of the log (by the trusted key or its
        // successors, when one is given) and not adopted unsigned (FORMAT.md §14).
        if let Some(p) = self.pruned {
            let signed_to = if self.opts.trusted_key.is_some() {
                self.report.trusted_coverage
            } else {
                self.report.last_checkpoint.as_ref().map_or(0, |c| c.size)
            };
            let adopted = |s: u64| self.report.adopted.iter().any(|a| s >= a.first_seq && s < a.first_seq + a.records);
            match self.prune_record {
                Some(s) if s < signed_to && !adopted(s) => {}
                found => {
                    // Records were removed without authority: nothing here is vouched for.
                    self.report.authenticated_records = 0;
                    return Err(none(
                        "pruned",
                        format!(
                            "records 0..{} were removed, but {}: only a writer with the key prunes, and it records that it does",
                            p - 1,
                            if found.is_some() {
                                "the log_pruned record naming the prune marker is not signed (an unsigned tail or adopted)"
                            } else {
                                "no log_pruned record names the prune marker's checkpoint"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
