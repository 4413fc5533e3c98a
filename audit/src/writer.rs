//! [`AuditLog`]: the appender (FORMAT.md §9, "Writer rules").
//!
//! Every mutating operation takes an exclusive `flock` on `<dir>/lock`, first
//! catches up with whatever another process appended since (so concurrent
//! `orchestra` processes extend one chain and never fork it), then writes
//! whole frames with single `O_APPEND` writes. A torn tail left by a crash is
//! cut off and a `recovery` record says so.
//!
//! Guarantees (FORMAT.md §9):
//! - **No unsigned record is left behind by a live writer**: every append
//!   writes its record(s) and a checkpoint signing them in one write, before
//!   the lock is released. So records a writer finds after the last
//!   checkpoint were left by a crash or appended by someone without the key;
//!   the writer *adopts* them with a `recovery` record (`"unsigned tail"`)
//!   naming them, then signs, so verifiers mark them unauthenticated forever.
//! - Checkpoints are fsynced every [`OpenOptions::checkpoint_every`] records,
//!   when the last fsync is older than [`OpenOptions::checkpoint_interval`],
//!   at the first append, on [`AuditLog::sync`], and on drop.
//! - **A damaged log is never extended**: opening scans the last segment,
//!   checks its first checkpoint against the end of the previous segment and
//!   verifies its last checkpoint's signature; on damage (there, or found
//!   while catching up) the writer continues in a new log in
//!   `<dir>/continued/` whose record 1 (`log_continued`) says where the
//!   damage is and which checkpoint was the last good one.

use super::AuditError;
use super::checkpoint::{Checkpoint, SignedCheckpoint};
use super::error::Damage;
use super::format::{
    self, FRAME_CHECKPOINT, FRAME_RECORD, FrameRead, HEADER_LEN, MAX_PAYLOAD, SegmentHeader, encode_frame, read_frame,
    segment_name,
};
use super::keyring::KeyRing;
use super::keys::{AuditKey, VerifierKey, hex};
use super::kind::Kind;
use super::merkle::{Frontier, leaf_hash};
use super::record::{self, Hash, Record, canonical_json, record_hash};
use super::tree;

mod prune;
pub use prune::{Pruned, boundary_before_time};
use serde_json::{Value, json};
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Tunables of [`AuditLog::open_with`]. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Start a new segment once the current one reaches this size (256 KiB).
    /// Opening a log scans its last segment (about 2.8 ms per MiB here), so this
    /// bounds what every `orchestra exec` reads before it can append (at most
    /// about 900 records, 0.7 ms).
    pub segment_max_bytes: u64,
    /// Checkpoint after this many records (1000).
    pub checkpoint_every: u64,
    /// Checkpoint when the last checkpoint is older than this at an append (1 s).
    pub checkpoint_interval: Duration,
    /// Time source in microseconds since the epoch (tests and vectors only).
    pub clock: Option<fn() -> u64>,
    /// Log id to use when creating a new log (tests and vectors only).
    pub log_id: Option<[u8; 16]>,
    /// Format version of a log created by this open ([`format::FORMAT_VERSION`];
    /// 1 for tests and vectors of the older format). An existing log keeps its own.
    pub format: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            segment_max_bytes: 256 << 10,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(1),
            clock: None,
            log_id: None,
            format: format::FORMAT_VERSION,
        }
    }
}

/// An open audit log, ready to append.
///
/// Dropping it writes a final checkpoint and fsyncs; call [`AuditLog::sync`]
/// to do that explicitly and see errors.
pub struct AuditLog {
    dir: PathBuf,
    lock: Option<File>,
    key: AuditKey,
    /// Where keys come from when the key in force changes (another process
    /// rotated the log); `None` for a log opened with one fixed key.
    ring: Option<KeyRing>,
    key_id: [u8; 4],
    opts: OpenOptions,
    log_id: [u8; 16],
    seg: File,
    seg_name: String,
    offset: u64,
    next_seq: u64,
    head: Hash,
    /// Format version of this log (of its segments).
    version: u32,
    /// Format 2: the Merkle frontier over records `0..next_seq`.
    frontier: Option<Frontier>,
    last_cp_size: u64,
    last_cp_at: Option<Instant>,
    last_cp_text: Option<String>,
    dirty: bool,
    recoveries: Vec<Value>,
    recoveries_written: usize,
    /// An unsigned tail to adopt before anything else is written.
    orphan: Option<Value>,
    /// Records covered by the last fsynced checkpoint.
    synced_size: u64,
    /// The current segment has disk space allocated up to here
    /// ([`AuditLog::reserve`]); no new segment is started below it.
    reserved_to: u64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("log_id", &hex(&self.log_id))
            .field("next_seq", &self.next_seq)
            .field("key_id", &hex(&self.key_id))
            .finish()
    }
}

/// Which key signs: one given key, or whichever key of a ring is in force.
enum Signer<'a> {
    Key(&'a AuditKey),
    Ring(&'a KeyRing),
}

impl Signer<'_> {
    /// The key a new log starts with.
    fn for_new_log(&self) -> Result<AuditKey, AuditError> {
        match self {
            Signer::Key(k) => Ok((*k).clone()),
            Signer::Ring(r) => r.default_key().map(|(k, _)| k),
        }
    }

    /// The private key of `id`, the key in force in the log in `dir`.
    fn for_id(&self, id: [u8; 4], dir: &Path) -> Result<AuditKey, AuditError> {
        match self {
            Signer::Key(k) if k.verifier().id == id => Ok((*k).clone()),
            Signer::Key(k) => Err(AuditError::KeyMismatch {
                dir: dir.to_path_buf(),
                log_key: hex(&id),
                our_key: k.verifier().id_hex(),
            }),
            Signer::Ring(r) => r.get(id),
        }
    }

    fn ring(&self) -> Option<KeyRing> {
        match self {
            Signer::Key(_) => None,
            Signer::Ring(r) => Some((*r).clone()),
        }
    }
}

/// What scanning frames found at the end.
enum ScanEnd {
    Clean,
    /// Cut here (a torn frame, or a key rotation without its checkpoint).
    Cut {
        at: usize,
        reason: &'static str,
        detail: String,
    },
}

/// Why the frames of a segment do not form the chain the writer continues.
#[derive(Debug, thiserror::Error)]
enum ChainError {
    #[error("{0}")]
    Frame(String),
    #[error("key rotation record without its checkpoint")]
    RotationWithoutCheckpoint,
    #[error(transparent)]
    Record(#[from] super::record::RecordError),
    #[error("record has sequence {seq}, expected {expected}")]
    Sequence { seq: u64, expected: u64 },
    #[error("record {0} does not chain to its predecessor")]
    Chain(u64),
    #[error("key rotation record not followed by its checkpoint")]
    RotationNotFollowed,
    #[error("record {seq} has no valid {field}")]
    NoKey { seq: u64, field: &'static str },
    #[error("checkpoint is not UTF-8")]
    CheckpointUtf8,
    #[error(transparent)]
    Note(#[from] super::checkpoint::NoteError),
    #[error("checkpoint names another log")]
    OtherLog,
    #[error("checkpoint for size {0} does not match the chain")]
    CheckpointSize(u64),
    #[error("checkpoint for size {0} does not match the Merkle tree of the records")]
    CheckpointRoot(u64),
    #[error("checkpoint of format {0} in a log of format {1}")]
    CheckpointVersion(u32, u32),
}

/// Where scanning found damage: the frame's offset in the scanned buffer.
#[derive(Debug)]
struct ScanDamage {
    at: usize,
    error: ChainError,
}

/// The writer's view of the chain while scanning frames.
#[derive(Clone)]
struct Tip {
    next_seq: u64,
    head: Option<Hash>,
    key_id: Option<[u8; 4]>,
    /// A rotation waiting for its checkpoint: (new key id, frame offset,
    /// chain head and frontier before it).
    pending: Option<([u8; 4], usize, Hash, Option<Frontier>)>,
    /// The log's format version.
    version: u32,
    /// Format 2, when the tree before the scanned frames is known: the
    /// frontier, extended by every record scanned and checked against every
    /// checkpoint's root.
    frontier: Option<Frontier>,
    last_cp_size: u64,
    last_cp_text: Option<String>,
    log_id: [u8; 16],
    /// Offset of the first record after the last checkpoint (an unsigned tail).
    tail_at: Option<usize>,
    /// The first checkpoint scanned: (size, head).
    first_cp: Option<(u64, Hash)>,
}

impl Tip {
    fn new(next_seq: u64, log_id: [u8; 16], version: u32, frontier: Option<Frontier>) -> Tip {
        Tip {
            next_seq,
            head: None,
            key_id: None,
            pending: None,
            version,
            frontier,
            last_cp_size: 0,
            last_cp_text: None,
            log_id,
            tail_at: None,
            first_cp: None,
        }
    }

    /// Scan frames of `buf` from `start`; offsets are relative to `buf`.
    fn scan(&mut self, buf: &[u8], start: usize, is_last: bool) -> Result<ScanEnd, ScanDamage> {
        let mut at = start;
        while at < buf.len() {
            match read_frame(buf, at) {
                FrameRead::Frame { ty, payload_start, payload_end, next } => {
                    let payload = &buf[payload_start..payload_end];
                    let r = if ty == FRAME_RECORD { self.record(payload, at) } else { self.checkpoint(payload) };
                    r.map_err(|error| ScanDamage { at, error })?;
                    at = next;
                }
                FrameRead::Bad { reason, reaches_eof } => {
                    if is_last && reaches_eof && format::is_torn_tail(buf, at) {
                        let at = self.unwind_pending().unwrap_or(at);
                        return Ok(ScanEnd::Cut { at, reason: "torn write", detail: reason });
                    }
                    return Err(ScanDamage { at, error: ChainError::Frame(reason) });
                }
            }
        }
        if let Some(p) = self.unwind_pending() {
            if is_last {
                return Ok(ScanEnd::Cut {
                    at: p,
                    reason: "incomplete key rotation",
                    detail: "key rotation record without its checkpoint".into(),
                });
            }
            return Err(ScanDamage { at: p, error: ChainError::RotationWithoutCheckpoint });
        }
        Ok(ScanEnd::Clean)
    }

    /// Forget a rotation that has no checkpoint: the chain goes back to just
    /// before it. Returns where its frame starts.
    fn unwind_pending(&mut self) -> Option<usize> {
        let (_, at, head, frontier) = self.pending.take()?;
        self.next_seq -= 1;
        self.head = Some(head);
        self.frontier = frontier;
        if self.next_seq == self.last_cp_size {
            self.tail_at = None;
        }
        Some(at)
    }

    fn record(&mut self, payload: &[u8], at: usize) -> Result<(), ChainError> {
        let r = Record::decode(payload)?;
        if r.seq != self.next_seq {
            return Err(ChainError::Sequence { seq: r.seq, expected: self.next_seq });
        }
        if self.head.is_some_and(|h| h != r.prev) {
            return Err(ChainError::Chain(r.seq));
        }
        if self.pending.is_some() {
            return Err(ChainError::RotationNotFollowed);
        }
        let kind = Kind::parse(&r.kind);
        if kind == Some(Kind::LogOpened) || kind == Some(Kind::KeyRotation) {
            let body = r.body_json();
            let field = if kind == Some(Kind::LogOpened) { "key" } else { "new_key" };
            let k = body
                .get(field)
                .and_then(Value::as_str)
                .and_then(|s| VerifierKey::parse(s).ok())
                .ok_or(ChainError::NoKey { seq: r.seq, field })?;
            if kind == Some(Kind::LogOpened) {
                self.key_id = Some(k.id);
            } else {
                self.pending = Some((k.id, at, r.prev, self.frontier.clone()));
            }
        }
        if let Some(f) = &mut self.frontier {
            f.push(leaf_hash(payload));
        }
        self.head = Some(record_hash(payload));
        self.next_seq += 1;
        self.tail_at.get_or_insert(at);
        Ok(())
    }

    fn checkpoint(&mut self, payload: &[u8]) -> Result<(), ChainError> {
        let text = std::str::from_utf8(payload).map_err(|_| ChainError::CheckpointUtf8)?;
        let c = SignedCheckpoint::parse(text)?;
        if c.checkpoint.log_id != self.log_id {
            return Err(ChainError::OtherLog);
        }
        if c.checkpoint.size != self.next_seq || self.head.is_some_and(|h| h != c.checkpoint.head) {
            return Err(ChainError::CheckpointSize(c.checkpoint.size));
        }
        if c.checkpoint.version() != self.version {
            return Err(ChainError::CheckpointVersion(c.checkpoint.version(), self.version));
        }
        if let (Some(root), Some(f)) = (c.checkpoint.root, &self.frontier)
            && root != f.root()
        {
            return Err(ChainError::CheckpointRoot(c.checkpoint.size));
        }
        self.head = Some(c.checkpoint.head);
        self.first_cp.get_or_insert((c.checkpoint.size, c.checkpoint.head));
        self.key_id = match self.pending.take() {
            Some((new, _, _, _)) => Some(new),
            // The chain says which key is in force; a checkpoint's own claim
            // counts only where the chain is not known (a segment read alone).
            None => self.key_id.or(c.first_signer()),
        };
        self.last_cp_size = c.checkpoint.size;
        self.last_cp_text = Some(c.text);
        self.tail_at = None;
        Ok(())
    }

    /// The `recovery` body adopting the records after the last checkpoint, if
    /// any: nobody signed them (a writer crashed, or they were appended
    /// without the key), so they are named before anything signs over them.
    fn orphans(&self, segment: &str, base: u64) -> Option<Value> {
        let n = self.next_seq.checked_sub(self.last_cp_size).filter(|n| *n > 0)?;
        Some(json!({
            "reason": "unsigned tail", "segment": segment,
            "offset": base + self.tail_at.unwrap_or(0) as u64, "discarded_bytes": 0,
            "first_seq": self.last_cp_size, "records": n,
        }))
    }
}

/// Why the segment before the last does not end where the last one begins.
#[derive(Debug, thiserror::Error)]
enum BoundaryError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("header: {0}")]
    Header(std::io::Error),
    #[error("{0}")]
    Decode(format::HeaderError),
    #[error("its header does not belong before the last segment")]
    Foreign,
    #[error("it does not end with a whole frame")]
    NoFrame,
    #[error("its last frame does not end the chain at {0} records")]
    WrongEnd(u64),
}

/// The end of the segment before the last, read back to its final frame: it
/// must reach exactly where the last segment's first checkpoint starts (a
/// checkpoint of that size and head, or a record whose hash is that head).
fn check_boundary(prev: &format::SegmentFile, log_id: &[u8; 16], size: u64, head: &Hash) -> Result<(), BoundaryError> {
    const WINDOW: u64 = 64 << 10;
    let f = File::open(&prev.path)?;
    let len = f.metadata()?.len();
    let mut hb = [0u8; HEADER_LEN];
    f.read_exact_at(&mut hb, 0).map_err(BoundaryError::Header)?;
    let h = SegmentHeader::decode(&hb).map_err(BoundaryError::Decode)?;
    if h.log_id != *log_id || h.first_seq != prev.first_seq || h.first_seq >= size {
        return Err(BoundaryError::Foreign);
    }
    let from = len.saturating_sub(WINDOW).max(HEADER_LEN as u64);
    let mut buf = vec![0u8; (len - from) as usize];
    f.read_exact_at(&mut buf, from)?;
    // The final frame: the last offset whose frame ends exactly at the end.
    let last =
        (0..buf.len().saturating_sub(format::FRAME_OVERHEAD - 1)).rev().find_map(|p| match read_frame(&buf, p) {
            FrameRead::Frame { ty, payload_start, payload_end, next } if next == buf.len() => {
                Some((ty, payload_start, payload_end))
            }
            _ => None,
        });
    let Some((ty, a, b)) = last else {
        return Err(BoundaryError::NoFrame);
    };
    let payload = &buf[a..b];
    let ok = if ty == FRAME_RECORD {
        Record::decode(payload).is_ok_and(|r| r.seq + 1 == size) && record_hash(payload) == *head
    } else {
        std::str::from_utf8(payload)
            .ok()
            .and_then(|t| SignedCheckpoint::parse(t).ok())
            .is_some_and(|c| c.checkpoint.size == size && c.checkpoint.head == *head && c.checkpoint.log_id == *log_id)
    };
    if ok { Ok(()) } else { Err(BoundaryError::WrongEnd(size)) }
}

/// The subdirectory holding the log that continues a damaged one (FORMAT.md §9.2).
pub const CONTINUED: &str = "continued";

/// Frames encoded by [`AuditLog::encode_signed`] and the chain state after them.
struct Encoded {
    frontier: Option<Frontier>,
    bytes: Vec<u8>,
    next_seq: u64,
    head: Hash,
    last_cp: Option<(u64, String)>,
}

/// The body of the `log_continued` record that opens the continuation of a
/// damaged log (FORMAT.md §5.3, §9.2).
fn continuation_note(dir: &Path, segment: &str, offset: u64, reason: &str, last_checkpoint: Option<&str>) -> Value {
    let last = last_checkpoint.and_then(|t| SignedCheckpoint::parse(t).ok());
    json!({
        "damaged_log": "..",
        "damaged_log_id": list_log_id(dir).map(|id| hex(&id)),
        "segment": segment,
        "offset": offset,
        "reason": reason,
        "last_good_checkpoint": last.map(|c| json!({"size": c.checkpoint.size, "head": hex(&c.checkpoint.head), "note": c.text})),
    })
}

/// The log id in the first segment header of `dir` that has a readable one.
fn list_log_id(dir: &Path) -> Option<[u8; 16]> {
    format::list_segments(dir).ok()?.iter().find_map(|s| {
        let mut hb = [0u8; HEADER_LEN];
        File::open(&s.path).ok()?.read_exact_at(&mut hb, 0).ok()?;
        SegmentHeader::decode(&hb).ok().map(|h| h.log_id)
    })
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    std::fs::OpenOptions::new().read(true).append(true).open(path).map_err(|e| AuditError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| AuditError::io(dir, e))
}

impl AuditLog {
    /// Open (or create) the log in `dir` for appending, signing with `key`.
    ///
    /// Creates the directory, recovers a torn tail (and records that it did),
    /// and checks that `key` is the key currently in force in the log.
    pub fn open(dir: &Path, key: &AuditKey) -> Result<AuditLog, AuditError> {
        Self::open_with(dir, key, OpenOptions::default())
    }

    /// [`AuditLog::open`] with explicit tunables.
    ///
    /// If the log is damaged (FORMAT.md §9.2), the log that continues it in
    /// `<dir>/continued/` is opened instead, created if need be with a
    /// `log_continued` record naming the damage; [`AuditLog::dir`] says where.
    pub fn open_with(dir: &Path, key: &AuditKey, opts: OpenOptions) -> Result<AuditLog, AuditError> {
        Self::open_signed(dir, Signer::Key(key), opts)
    }

    /// Open (or create) the log in `dir`, signing with the key of `ring` that
    /// is in force in it (a new log, or the continuation of a damaged one,
    /// starts with the ring's default key). When another process rotates the
    /// log, the writer follows with the ring's copy of the new key;
    /// [`AuditLog::rotate_key`] keeps the new key in the ring before the log
    /// names it.
    pub fn open_ring(dir: &Path, ring: &KeyRing) -> Result<AuditLog, AuditError> {
        Self::open_signed(dir, Signer::Ring(ring), OpenOptions::default())
    }

    /// [`AuditLog::open_ring`] with explicit tunables.
    pub fn open_ring_with(dir: &Path, ring: &KeyRing, opts: OpenOptions) -> Result<AuditLog, AuditError> {
        Self::open_signed(dir, Signer::Ring(ring), opts)
    }

    fn open_signed(dir: &Path, signer: Signer<'_>, opts: OpenOptions) -> Result<AuditLog, AuditError> {
        let mut dir = dir.to_path_buf();
        let mut note: Option<Value> = None;
        loop {
            let next = dir.join(CONTINUED);
            // Once a log was continued, writers always write to the continuation.
            if next.join(segment_name(0)).exists() {
                dir = next;
                continue;
            }
            let (guard, lock_path) = LockGuard::open(&dir)?;
            // Everything found on open is recorded before the lock is released.
            let result = Self::open_locked(&dir, &signer, opts.clone(), note.take())
                .and_then(|mut log| log.write_recoveries().map(|()| log));
            let lock = guard.release(&lock_path)?;
            match result {
                Ok(mut log) => {
                    log.lock = Some(lock);
                    log.ring = signer.ring();
                    // The first append fsyncs at once: a caller's first record is
                    // durable without waiting for the next one.
                    log.last_cp_at = None;
                    return Ok(log);
                }
                Err(AuditError::Damaged(d)) => {
                    let Damage { dir: d, segment, offset, reason, last_checkpoint } = *d;
                    tracing::warn!(
                        target: "orchestra::audit",
                        "the audit log in {} is damaged at {segment} offset {offset} ({reason}); continuing in {}",
                        d.display(),
                        next.display()
                    );
                    note = Some(continuation_note(&d, &segment, offset, &reason, last_checkpoint.as_deref()));
                    dir = next;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn open_locked(
        dir: &Path,
        signer: &Signer<'_>,
        opts: OpenOptions,
        note: Option<Value>,
    ) -> Result<AuditLog, AuditError> {
        let damaged = |segment: &str, offset: u64, reason: String, last_checkpoint: Option<String>| {
            AuditError::Damaged(Box::new(Damage {
                dir: dir.to_path_buf(),
                segment: segment.to_string(),
                offset,
                reason,
                last_checkpoint,
            }))
        };
        let mut segs = format::list_segments(dir)?;
        let mut recoveries = Vec::new();
        // A last segment whose header never made it to disk is a torn creation.
        while let Some(last) = segs.last() {
            let len = std::fs::metadata(&last.path).map_err(|e| AuditError::io(&last.path, e))?.len();
            if len >= HEADER_LEN as u64 {
                break;
            }
            std::fs::remove_file(&last.path).map_err(|e| AuditError::io(&last.path, e))?;
            recoveries.push(
                json!({"reason": "torn segment creation", "segment": last.name, "offset": 0, "discarded_bytes": len}),
            );
            segs.pop();
        }
        let Some(last) = segs.last().cloned() else {
            return Self::create(dir, &signer.for_new_log()?, opts, note);
        };
        let buf = std::fs::read(&last.path).map_err(|e| AuditError::io(&last.path, e))?;
        let header = SegmentHeader::decode(&buf).map_err(|e| damaged(&last.name, 0, e.to_string(), None))?;
        if header.first_seq != last.first_seq {
            return Err(damaged(&last.name, 0, format!("header says first sequence {}", header.first_seq), None));
        }
        // Format 2: the tree before this segment comes from the tile store,
        // checked by every checkpoint of the segment; a store that disagrees is
        // rebuilt from the records once before that counts as damage.
        let frontier = |rebuild| -> Result<Option<Frontier>, AuditError> {
            if header.version < 2 {
                return Ok(None);
            }
            tree::frontier_at(dir, &segs[..segs.len() - 1], header.first_seq, rebuild, true).map(Some)
        };
        let mut tip = Tip::new(header.first_seq, header.log_id, header.version, frontier(false)?);
        let mut end = tip.scan(&buf, HEADER_LEN, true);
        if let Err(ScanDamage { error: ChainError::CheckpointRoot(_), .. }) = &end {
            tip = Tip::new(header.first_seq, header.log_id, header.version, frontier(true)?);
            end = tip.scan(&buf, HEADER_LEN, true);
        }
        let end = end.map_err(|d| damaged(&last.name, d.at as u64, d.error.to_string(), tip.last_cp_text.clone()))?;
        // A later segment starts with a checkpoint of the chain so far, which the
        // previous segment must end with: a cheap check that nothing before the
        // last segment was cut, replaced or extended (FORMAT.md §9.2).
        if segs.len() > 1 {
            let at = HEADER_LEN as u64;
            let Some((size, head)) = tip.first_cp.filter(|(size, _)| *size == header.first_seq) else {
                return Err(damaged(&last.name, at, "the segment does not start with a checkpoint".into(), None));
            };
            let prev = &segs[segs.len() - 2];
            check_boundary(prev, &header.log_id, size, &head)
                .map_err(|why| damaged(&prev.name, 0, format!("{why} ({} starts there)", last.name), None))?;
        }
        let mut offset = buf.len() as u64;
        if let ScanEnd::Cut { at, reason, detail } = end {
            let f =
                std::fs::OpenOptions::new().write(true).open(&last.path).map_err(|e| AuditError::io(&last.path, e))?;
            f.set_len(at as u64).and_then(|()| f.sync_all()).map_err(|e| AuditError::io(&last.path, e))?;
            recoveries.push(json!({
                "reason": reason, "detail": detail, "segment": last.name,
                "offset": at, "discarded_bytes": buf.len() - at,
            }));
            offset = at as u64;
        }
        let orphan = tip.orphans(&last.name, 0);
        // What the last segment does not say (head, key) comes from earlier ones:
        // only for a first segment whose only record is torn off.
        let mut i = segs.len() - 1;
        while (tip.head.is_none() || tip.key_id.is_none()) && i > 0 {
            i -= 1;
            let s = &segs[i];
            let b = std::fs::read(&s.path).map_err(|e| AuditError::io(&s.path, e))?;
            let h = SegmentHeader::decode(&b).map_err(|e| damaged(&s.name, 0, e.to_string(), None))?;
            let mut t = Tip::new(h.first_seq, h.log_id, h.version, None);
            t.scan(&b, HEADER_LEN, false).map_err(|d| damaged(&s.name, d.at as u64, d.error.to_string(), None))?;
            tip.head = tip.head.or(t.head);
            tip.key_id = tip.key_id.or(t.key_id);
            tip.last_cp_text = tip.last_cp_text.or(t.last_cp_text);
        }
        let head = tip.head.ok_or_else(|| damaged(&last.name, HEADER_LEN as u64, "no record found".into(), None))?;
        let theirs = tip.key_id.ok_or_else(|| AuditError::Corrupt {
            dir: dir.to_path_buf(),
            reason: "cannot tell which key signs the log".into(),
        })?;
        let key = match signer.for_id(theirs, dir) {
            // A key no record of the log ever named is a forged claim (e.g. an
            // appended checkpoint), not a lost key: damage, and writers go on
            // in the continuation instead of refusing every task forever.
            Err(AuditError::KeyNotInRing { id, .. }) if !log_names_key(&segs, theirs) => {
                return Err(damaged(
                    &last.name,
                    0,
                    format!("its checkpoints claim key {id}, which no log_opened or key_rotation record names"),
                    tip.last_cp_text.clone(),
                ));
            }
            r => r?,
        };
        // The last checkpoint is signed by the key in force (ours): one
        // signature check makes the whole scanned chain authentic, so a
        // rewritten segment (chain and CRCs recomputed) is damage too.
        if let Some(text) = &tip.last_cp_text
            && let Err(e) = SignedCheckpoint::parse(text).and_then(|c| c.verify(&key.verifier()))
        {
            return Err(damaged(
                &last.name,
                0,
                format!("its last checkpoint does not verify: {e}"),
                tip.last_cp_text.clone(),
            ));
        }
        let seg = open_append(&last.path)?;
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            lock: None,
            key: key.clone(),
            ring: None,
            key_id: theirs,
            opts,
            log_id: header.log_id,
            seg,
            seg_name: last.name,
            offset,
            next_seq: tip.next_seq,
            head,
            version: header.version,
            frontier: tip.frontier,
            last_cp_size: tip.last_cp_size,
            last_cp_at: None,
            last_cp_text: tip.last_cp_text,
            dirty: false,
            recoveries,
            recoveries_written: 0,
            orphan,
            synced_size: tip.last_cp_size,
            reserved_to: 0,
        })
    }

    /// Create a log: `log_opened`, then (for a continuation) `log_continued`,
    /// then a checkpoint. All or nothing: if any step fails (a full disk), the
    /// segment file is removed again, so no empty or torn log is left behind.
    fn create(dir: &Path, key: &AuditKey, opts: OpenOptions, note: Option<Value>) -> Result<AuditLog, AuditError> {
        let path = dir.join(segment_name(0));
        let created = Self::create_first_segment(dir, key, opts, note);
        if created.is_err() && path.exists() {
            let _ = std::fs::remove_file(&path);
        }
        created
    }

    fn create_first_segment(
        dir: &Path,
        key: &AuditKey,
        opts: OpenOptions,
        note: Option<Value>,
    ) -> Result<AuditLog, AuditError> {
        let log_id = match opts.log_id {
            Some(id) => id,
            None => {
                let mut id = [0u8; 16];
                getrandom::getrandom(&mut id).map_err(|e| AuditError::Random(e.to_string()))?;
                id
            }
        };
        let name = segment_name(0);
        let path = dir.join(&name);
        let mut f = create_segment_file(&path)?;
        let version = opts.format.clamp(format::OLDEST_VERSION, format::FORMAT_VERSION);
        f.write_all(&SegmentHeader { version, log_id, first_seq: 0 }.encode()).map_err(|e| AuditError::io(&path, e))?;
        let mut log = AuditLog {
            dir: dir.to_path_buf(),
            lock: None,
            key: key.clone(),
            ring: None,
            key_id: key.verifier().id,
            opts,
            log_id,
            seg: f,
            seg_name: name,
            offset: HEADER_LEN as u64,
            next_seq: 0,
            head: record::genesis(&log_id),
            version,
            frontier: (version >= 2).then(Frontier::new),
            last_cp_size: 0,
            last_cp_at: None,
            last_cp_text: None,
            dirty: true,
            recoveries: Vec::new(),
            recoveries_written: 0,
            orphan: None,
            synced_size: 0,
            reserved_to: 0,
        };
        let body = json!({"format": version, "key": key.verifier().encode(), "log_id": hex(&log_id)});
        let mut records = vec![(Kind::LogOpened.as_str().to_string(), body)];
        records.extend(note.map(|n| (Kind::LogContinued.as_str().to_string(), n)));
        log.write_signed(&records)?;
        log.checkpoint_locked()?;
        sync_dir(dir)?;
        Ok(log)
    }

    /// Append a record; returns its sequence number.
    ///
    /// `kind` (orchestra's own are the [`Kind`]s) must match `[a-z0-9_]{1,64}`
    /// and not be one the log reserves (`log_opened`, `key_rotation`,
    /// `recovery`, `log_continued`, `log_pruned`); `body` must be a JSON object whose
    /// numbers are integers (floats are refused: say `wall_ms`). The record
    /// and a checkpoint signing it are written together, so the record is
    /// signed when this returns (durable at the next fsync, see [`OpenOptions`]).
    pub fn append(&mut self, kind: impl AsRef<str>, body: Value) -> Result<u64, AuditError> {
        let first = self.append_batch([(kind.as_ref().to_string(), body)])?;
        Ok(first)
    }

    /// Append several records under one lock hold, with one checkpoint (and one
    /// every [`OpenOptions::checkpoint_every`] records); returns the sequence
    /// number of the first. For producers of many records (a benchmark, output
    /// streams): signing once per batch instead of once per record.
    pub fn append_batch(&mut self, records: impl IntoIterator<Item = (String, Value)>) -> Result<u64, AuditError> {
        let records: Vec<(String, Value)> = records.into_iter().collect();
        for (kind, body) in &records {
            if !record::valid_kind(kind) {
                return Err(AuditError::InvalidRecord(format!("invalid kind {kind:?} (want [a-z0-9_]{{1,64}})")));
            }
            if Kind::parse(kind).is_some_and(Kind::is_reserved) {
                return Err(AuditError::InvalidRecord(format!("kind {kind:?} is reserved for the log itself")));
            }
            if !body.is_object() {
                return Err(AuditError::InvalidRecord("body must be a JSON object".into()));
            }
        }
        self.locked_or_continue(|l| {
            l.sync_tip()?;
            let seq = l.write_signed(&records)?;
            l.maybe_fsync()?;
            Ok(seq)
        })
    }

    /// Write a signed checkpoint covering every record so far and fsync.
    pub fn checkpoint(&mut self) -> Result<(), AuditError> {
        self.locked_or_continue(|l| {
            l.sync_tip()?;
            l.checkpoint_locked()
        })
    }

    /// Make everything appended so far durable and signed (a checkpoint + fsync).
    pub fn sync(&mut self) -> Result<(), AuditError> {
        self.checkpoint()
    }

    /// Allocate disk space for at least `bytes` more bytes of this log before
    /// they are needed, so that records written later (a task's violations and
    /// end, after it ran) do not fail for a full disk. The space is allocated
    /// in the current segment beyond its end (`fallocate` with
    /// `FALLOC_FL_KEEP_SIZE`: the file's size and content do not change), a
    /// new segment is started first if the current one is full, and no new
    /// segment is started inside the reservation. Fails (and nothing should
    /// run) when the space is not there; a filesystem without `fallocate`
    /// (`EOPNOTSUPP`) is accepted without a reservation. Concurrent writers
    /// share the space: the guarantee holds for one writer at a time.
    pub fn reserve(&mut self, bytes: u64) -> Result<(), AuditError> {
        self.locked(|l| {
            l.sync_tip()?;
            if l.offset >= l.opts.segment_max_bytes && l.offset >= l.reserved_to {
                l.start_segment()?;
            }
            let path = l.dir.join(&l.seg_name);
            let (offset, len) = (l.offset as i64, bytes.min(i64::MAX as u64) as i64);
            match nix::fcntl::fallocate(&l.seg, nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE, offset, len) {
                Ok(()) => {
                    l.reserved_to = l.offset + bytes;
                    Ok(())
                }
                Err(nix::errno::Errno::EOPNOTSUPP) => Ok(()),
                Err(e) => Err(AuditError::io(&path, std::io::Error::from(e))),
            }
        })
    }

    /// Rotate to `new_key`: append a `key_rotation` record naming it, a
    /// checkpoint over that record signed by the current key, and the same
    /// checkpoint signed by `new_key`, in one write; then sign with `new_key`.
    ///
    /// With a log opened from a [`KeyRing`], `new_key` is kept in the ring,
    /// durably, before the rotation record is written, and the key it replaces
    /// stays there: a crash at any point leaves the log with a key to extend it.
    pub fn rotate_key(&mut self, new_key: &AuditKey) -> Result<u64, AuditError> {
        self.rotate_key_replacing(new_key).map(|(seq, _)| seq)
    }

    /// [`AuditLog::rotate_key`], also returning the id of the key it replaced:
    /// the key in force once the writer caught up with others under the lock,
    /// which is not always the one in force when the caller looked.
    pub fn rotate_key_replacing(&mut self, new_key: &AuditKey) -> Result<(u64, [u8; 4]), AuditError> {
        self.locked(|l| {
            l.sync_tip()?;
            l.rotate_locked(new_key)
        })
    }

    /// Rotate with the lock held and the tip caught up.
    fn rotate_locked(&mut self, new_key: &AuditKey) -> Result<(u64, [u8; 4]), AuditError> {
        let l = self;
        {
            let replaced = l.key_id;
            if let Some(ring) = &l.ring {
                ring.keep(&l.key)?;
                ring.keep(new_key)?;
            }
            let body = json!({"new_key": new_key.verifier().encode(), "old_key": l.key.verifier().encode()});
            let body = canonical_json(&body)?;
            let rec = Record {
                seq: l.next_seq,
                time_us: l.now(),
                prev: l.head,
                kind: Kind::KeyRotation.as_str().into(),
                body,
            };
            let payload = rec.encode();
            let head = record_hash(&payload);
            let mut frontier = l.frontier.clone();
            if let Some(f) = &mut frontier {
                f.push(leaf_hash(&payload));
            }
            let cp = l.checkpoint_of(rec.seq + 1, head, frontier.as_ref(), rec.time_us);
            let text = cp.sign(&l.key);
            // The same checkpoint signed by the new key, so a reviewer who pins
            // the new key has something to check at once.
            let text_new = cp.sign(new_key);
            let mut frames = Vec::with_capacity(payload.len() + 2 * text.len() + 32);
            encode_frame(FRAME_RECORD, &payload, &mut frames);
            encode_frame(FRAME_CHECKPOINT, text.as_bytes(), &mut frames);
            encode_frame(FRAME_CHECKPOINT, text_new.as_bytes(), &mut frames);
            l.write_frames(&frames)?;
            l.next_seq += 1;
            l.head = head;
            l.frontier = frontier;
            l.seg.sync_data().map_err(|e| AuditError::io(l.dir.join(&l.seg_name), e))?;
            l.dirty = false;
            l.synced_size = cp.size;
            l.last_cp_size = cp.size;
            l.last_cp_at = Some(Instant::now());
            l.last_cp_text = Some(text_new);
            l.key = new_key.clone();
            l.key_id = new_key.verifier().id;
            Ok((rec.seq, replaced))
        }
    }

    /// Forward-secure epochs: when the key in force is an epoch key of the
    /// ring ([`super::keyring::EpochKey`]) whose epoch is over, rotate to a
    /// fresh epoch key of the same length and destroy the old private key
    /// once the rotation is durable; and destroy a predecessor a crash left
    /// behind. Decided and done under the log's lock after catching up, so
    /// concurrent writers rotate once per epoch and each destroys exactly the
    /// key it replaced. Returns the rotation record's sequence if it rotated.
    /// A log opened with one fixed key, or whose key is not an epoch key, is
    /// left alone.
    pub fn evolve(&mut self) -> Result<Option<u64>, AuditError> {
        let Some(ring) = self.ring.clone() else { return Ok(None) };
        self.locked(|l| {
            l.sync_tip()?;
            let now = l.now();
            let Some(current) = ring.epoch_of(l.key_id)? else { return Ok(None) };
            let previous = current.previous.as_deref().and_then(super::keys::unhex::<4>);
            if let Some(p) = previous
                && ring.path_of(p).exists()
            {
                ring.destroy_epoch_key(p, now)?;
            }
            if !current.expired(now) {
                return Ok(None);
            }
            let (seq, replaced) = l.epoch_locked(&ring, current.epoch_s)?;
            ring.destroy_epoch_key(replaced, l.now())?;
            Ok(Some(seq))
        })
    }

    /// Rotate to a fresh epoch key of `epoch_s` seconds, kept in `ring` first
    /// (it names the key it replaces as its predecessor only when that one is
    /// an epoch key too: a shared key is never destroyed). The rotation is
    /// durable when this returns; returns its sequence and the replaced key's id.
    pub fn start_epoch(&mut self, ring: &KeyRing, epoch_s: u64) -> Result<(u64, [u8; 4]), AuditError> {
        self.locked(|l| {
            l.sync_tip()?;
            l.epoch_locked(ring, epoch_s)
        })
    }

    fn epoch_locked(&mut self, ring: &KeyRing, epoch_s: u64) -> Result<(u64, [u8; 4]), AuditError> {
        let new = AuditKey::generate()?;
        let previous = ring.epoch_of(self.key_id)?.map(|_| hex(&self.key_id));
        let facts = super::keyring::EpochKey {
            log_id: hex(&self.log_id),
            epoch_s,
            created_us: self.now(),
            previous,
            destroyed_us: None,
        };
        ring.keep_epoch_key(&new, &facts)?;
        self.rotate_locked(&new)
    }

    /// The public key in force (that signs the next checkpoint).
    pub fn key_in_force(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log id (32 hex digits in notes and bodies).
    pub fn log_id(&self) -> [u8; 16] {
        self.log_id
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The text of the latest signed checkpoint this writer wrote or saw.
    pub fn latest_checkpoint(&self) -> Option<&str> {
        self.last_cp_text.as_deref()
    }

    /// Descriptions of the torn tails recovered when the log was opened or
    /// caught up (each also written to the log as a `recovery` record).
    pub fn recoveries(&self) -> &[Value] {
        &self.recoveries
    }

    /// The checkpoint over records `0..size` whose last hash is `head`, with
    /// the tree's root in a format-2 log (`frontier` over the same records).
    fn checkpoint_of(&self, size: u64, head: Hash, frontier: Option<&Frontier>, time_us: u64) -> Checkpoint {
        Checkpoint { log_id: self.log_id, size, head, time_us, root: frontier.map(Frontier::root) }
    }

    fn now(&self) -> u64 {
        self.opts.clock.map_or_else(now_us, |c| c())
    }

    fn locked<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, AuditError>) -> Result<T, AuditError> {
        let lock_path = self.dir.join("lock");
        let file = self.lock.take().ok_or_else(|| AuditError::Corrupt {
            dir: self.dir.clone(),
            reason: "lock file lost after an earlier error".into(),
        })?;
        let guard = LockGuard::take(file, &lock_path)?;
        let r = f(self);
        self.lock = Some(guard.release(&lock_path)?);
        r
    }

    /// [`AuditLog::locked`], but if catching up finds the log damaged, switch
    /// to the log that continues it (FORMAT.md §9.2) and do `f` there.
    fn locked_or_continue<T>(&mut self, f: impl Fn(&mut Self) -> Result<T, AuditError>) -> Result<T, AuditError> {
        match self.locked(&f) {
            Err(AuditError::Damaged(d)) => {
                let Damage { dir, segment, offset, reason, last_checkpoint } = *d;
                tracing::warn!(
                    target: "orchestra::audit",
                    "the audit log in {} is damaged at {segment} offset {offset} ({reason}); continuing in {}",
                    dir.display(),
                    dir.join(CONTINUED).display()
                );
                let note = continuation_note(&dir, &segment, offset, &reason, last_checkpoint.as_deref());
                let ring = self.ring.clone();
                let signer = match &ring {
                    Some(r) => Signer::Ring(r),
                    None => Signer::Key(&self.key),
                };
                let next = Self::open_continuation(&dir.join(CONTINUED), signer, self.opts.clone(), note)?;
                let mut old = std::mem::replace(self, next);
                // The damaged log gets nothing more, not even a final checkpoint.
                old.last_cp_size = old.next_seq;
                old.dirty = false;
                drop(old);
                self.locked(&f)
            }
            r => r,
        }
    }

    /// Open the continuation of a damaged log (creating it with `note` as its
    /// `log_continued` record if nobody did yet).
    fn open_continuation(
        dir: &Path,
        signer: Signer<'_>,
        opts: OpenOptions,
        note: Value,
    ) -> Result<AuditLog, AuditError> {
        if dir.join(segment_name(0)).exists() {
            return Self::open_signed(dir, signer, opts);
        }
        let (guard, lock_path) = LockGuard::open(dir)?;
        let result = if format::list_segments(dir)?.is_empty() {
            Some(signer.for_new_log().and_then(|key| Self::create(dir, &key, opts.clone(), Some(note))))
        } else {
            None
        };
        let lock = guard.release(&lock_path)?;
        match result {
            Some(r) => {
                let mut log = r?;
                log.lock = Some(lock);
                log.ring = signer.ring();
                Ok(log)
            }
            None => Self::open_signed(dir, signer, opts),
        }
    }

    /// Catch up with frames other processes appended, recover their torn
    /// tails, adopt an unsigned tail, and follow segment rotations. Called
    /// with the lock held.
    fn sync_tip(&mut self) -> Result<(), AuditError> {
        loop {
            let path = self.dir.join(&self.seg_name);
            let len = self.seg.metadata().map_err(|e| AuditError::io(&path, e))?.len();
            if len < self.offset {
                return Err(AuditError::Corrupt {
                    dir: self.dir.clone(),
                    reason: format!("{} shrank underneath the writer", self.seg_name),
                });
            }
            if len > self.offset {
                let mut buf = vec![0u8; (len - self.offset) as usize];
                self.seg.read_exact_at(&mut buf, self.offset).map_err(|e| AuditError::io(&path, e))?;
                let mut tip = Tip::new(self.next_seq, self.log_id, self.version, self.frontier.clone());
                tip.head = Some(self.head);
                tip.key_id = Some(self.key_id);
                tip.last_cp_size = self.last_cp_size;
                tip.last_cp_text = self.last_cp_text.clone();
                let end = tip.scan(&buf, 0, true).map_err(|d| {
                    AuditError::Damaged(Box::new(Damage {
                        dir: self.dir.clone(),
                        segment: self.seg_name.clone(),
                        offset: self.offset + d.at as u64,
                        reason: d.error.to_string(),
                        last_checkpoint: tip.last_cp_text.clone(),
                    }))
                })?;
                let mut new_len = len;
                if let ScanEnd::Cut { at, reason, detail } = end {
                    new_len = self.offset + at as u64;
                    self.seg
                        .set_len(new_len)
                        .and_then(|()| self.seg.sync_all())
                        .map_err(|e| AuditError::io(&path, e))?;
                    self.recoveries.push(json!({
                        "reason": reason, "detail": detail, "segment": self.seg_name,
                        "offset": new_len, "discarded_bytes": len - new_len,
                    }));
                }
                if let Some(o) = tip.orphans(&self.seg_name, self.offset) {
                    self.orphan = Some(o);
                }
                let (read_from, last_good) = (self.offset, self.last_cp_text.clone());
                self.offset = new_len;
                self.next_seq = tip.next_seq;
                self.head = tip.head.unwrap_or(self.head);
                self.frontier = tip.frontier;
                self.last_cp_size = tip.last_cp_size;
                self.last_cp_text = tip.last_cp_text;
                if let Some(k) = tip.key_id.filter(|k| *k != self.key_id) {
                    // Another process rotated the log: follow with the ring's copy.
                    let Some(ring) = &self.ring else {
                        return Err(AuditError::KeyMismatch {
                            dir: self.dir.clone(),
                            log_key: hex(&k),
                            our_key: hex(&self.key_id),
                        });
                    };
                    // A rotation to a key the ring does not hold was not made
                    // by a writer of this user: damage, not a lost key.
                    self.key = ring.get(k).map_err(|e| match e {
                        AuditError::KeyNotInRing { id, .. } => AuditError::Damaged(Box::new(Damage {
                            dir: self.dir.clone(),
                            segment: self.seg_name.clone(),
                            offset: read_from,
                            reason: format!(
                                "another writer rotated the log to key {id}, which the key ring does not hold"
                            ),
                            last_checkpoint: last_good.clone(),
                        })),
                        other => other,
                    })?;
                    self.key_id = k;
                }
                // What others appended is checked as on open: the newest
                // checkpoint read must verify under the key in force, or the
                // catch-up found damage, which is never extended.
                if self.last_cp_text != last_good
                    && let Some(text) = &self.last_cp_text
                    && let Err(e) = SignedCheckpoint::parse(text).and_then(|c| c.verify(&self.key.verifier()))
                {
                    return Err(AuditError::Damaged(Box::new(Damage {
                        dir: self.dir.clone(),
                        segment: self.seg_name.clone(),
                        offset: read_from,
                        reason: format!("a checkpoint appended by another writer does not verify: {e}"),
                        last_checkpoint: last_good,
                    })));
                }
            }
            if self.offset >= self.opts.segment_max_bytes {
                let name = segment_name(self.next_seq);
                let next = self.dir.join(&name);
                if next.exists() {
                    let f = open_append(&next)?;
                    let mut hb = [0u8; HEADER_LEN];
                    f.read_exact_at(&mut hb, 0).map_err(|e| AuditError::io(&next, e))?;
                    let h = SegmentHeader::decode(&hb).map_err(|e| {
                        AuditError::Damaged(Box::new(Damage {
                            dir: self.dir.clone(),
                            segment: name.clone(),
                            offset: 0,
                            reason: e.to_string(),
                            last_checkpoint: self.last_cp_text.clone(),
                        }))
                    })?;
                    if h.log_id != self.log_id || h.first_seq != self.next_seq {
                        return Err(AuditError::Damaged(Box::new(Damage {
                            dir: self.dir.clone(),
                            segment: name,
                            offset: 0,
                            reason: "its header does not continue the log".into(),
                            last_checkpoint: self.last_cp_text.clone(),
                        })));
                    }
                    self.seg = f;
                    self.seg_name = name;
                    self.offset = HEADER_LEN as u64;
                    self.reserved_to = 0;
                    continue;
                }
            }
            break;
        }
        self.write_recoveries()
    }

    /// Write what opening or catching up found: first the adoption of an
    /// unsigned tail (so it names exactly the records nobody signed, before
    /// any checkpoint covers them), then the other recoveries, then a checkpoint.
    fn write_recoveries(&mut self) -> Result<(), AuditError> {
        if let Some(o) = self.orphan.take() {
            tracing::warn!(target: "orchestra::audit", "adopting unsigned records in the audit log in {}: {o}", self.dir.display());
            let frames = self.encode_signed(&[(Kind::Recovery.as_str().to_string(), o.clone())])?;
            // Into the current segment even if it is full: a new segment would
            // start with a checkpoint signing the orphans before this record.
            self.write_here(&frames.bytes)?;
            self.commit(frames);
            self.recoveries.insert(self.recoveries_written, o);
            self.recoveries_written += 1;
        }
        if self.recoveries_written >= self.recoveries.len() {
            return Ok(());
        }
        let pending: Vec<(String, Value)> = self.recoveries[self.recoveries_written..]
            .iter()
            .map(|r| (Kind::Recovery.as_str().to_string(), r.clone()))
            .collect();
        for (_, r) in &pending {
            tracing::warn!(target: "orchestra::audit", "recovered the audit log in {}: {r}", self.dir.display());
        }
        self.write_signed(&pending)?;
        self.recoveries_written = self.recoveries.len();
        self.checkpoint_locked()
    }

    /// Encode `records` continuing the chain, with a checkpoint after every
    /// `checkpoint_every` of them and after the last; nothing is written.
    fn encode_signed(&self, records: &[(String, Value)]) -> Result<Encoded, AuditError> {
        let mut out = Encoded {
            bytes: Vec::new(),
            next_seq: self.next_seq,
            head: self.head,
            last_cp: None,
            frontier: self.frontier.clone(),
        };
        let every = self.opts.checkpoint_every.max(1);
        let first = self.next_seq;
        for (i, (kind, body)) in records.iter().enumerate() {
            let body = canonical_json(body)?;
            let rec = Record { seq: out.next_seq, time_us: self.now(), prev: out.head, kind: kind.clone(), body };
            let payload = rec.encode();
            if payload.len() > MAX_PAYLOAD {
                return Err(AuditError::InvalidRecord(format!(
                    "record of {} bytes exceeds the maximum",
                    payload.len()
                )));
            }
            encode_frame(FRAME_RECORD, &payload, &mut out.bytes);
            out.head = record_hash(&payload);
            if let Some(f) = &mut out.frontier {
                f.push(leaf_hash(&payload));
            }
            out.next_seq += 1;
            if (out.next_seq - first).is_multiple_of(every) || i + 1 == records.len() {
                let cp = self.checkpoint_of(out.next_seq, out.head, out.frontier.as_ref(), self.now());
                let text = cp.sign(&self.key);
                encode_frame(FRAME_CHECKPOINT, text.as_bytes(), &mut out.bytes);
                out.last_cp = Some((cp.size, text));
            }
        }
        Ok(out)
    }

    /// Take the state of written frames.
    fn commit(&mut self, e: Encoded) {
        self.next_seq = e.next_seq;
        self.head = e.head;
        self.frontier = e.frontier;
        if let Some((size, text)) = e.last_cp {
            self.last_cp_size = size;
            self.last_cp_text = Some(text);
        }
    }

    /// Write `records` and the checkpoints signing them in one write; returns
    /// the sequence number of the first.
    fn write_signed(&mut self, records: &[(String, Value)]) -> Result<u64, AuditError> {
        let first = self.next_seq;
        if records.is_empty() {
            return Ok(first);
        }
        if self.offset >= self.opts.segment_max_bytes && self.offset >= self.reserved_to {
            // The new segment starts with a checkpoint of the chain before these
            // (never inside a reservation: its space is in this segment).
            self.start_segment()?;
        }
        let e = self.encode_signed(records)?;
        self.write_frames(&e.bytes)?;
        self.commit(e);
        Ok(first)
    }

    /// fsync when due: every `checkpoint_every` records, when the last fsync
    /// is older than `checkpoint_interval`, and at the first append.
    fn maybe_fsync(&mut self) -> Result<(), AuditError> {
        let due_count = self.next_seq - self.synced_size >= self.opts.checkpoint_every;
        let due_time = self.last_cp_at.is_none_or(|t| t.elapsed() >= self.opts.checkpoint_interval);
        if due_count || due_time { self.checkpoint_locked() } else { Ok(()) }
    }

    fn checkpoint_locked(&mut self) -> Result<(), AuditError> {
        if self.next_seq > self.last_cp_size {
            let cp = self.checkpoint_of(self.next_seq, self.head, self.frontier.as_ref(), self.now());
            let text = cp.sign(&self.key);
            let mut frame = Vec::with_capacity(text.len() + 9);
            encode_frame(FRAME_CHECKPOINT, text.as_bytes(), &mut frame);
            self.write_frames(&frame)?;
            self.last_cp_size = cp.size;
            self.last_cp_text = Some(text);
        }
        if self.dirty {
            self.seg.sync_data().map_err(|e| AuditError::io(self.dir.join(&self.seg_name), e))?;
            self.dirty = false;
        }
        self.synced_size = self.last_cp_size;
        self.last_cp_at = Some(Instant::now());
        Ok(())
    }

    /// Write whole frames with one `O_APPEND` write, starting a new segment first if
    /// the current one is full.
    fn write_frames(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        if self.offset >= self.opts.segment_max_bytes && self.offset >= self.reserved_to {
            self.start_segment()?;
        }
        self.write_here(bytes)
    }

    /// Write whole frames to the current segment with one `O_APPEND` write.
    ///
    /// A write that fails part-way (a full disk) is cut off again, so the
    /// segment never holds a partial frame that a later append would bury in
    /// the middle of the log.
    fn write_here(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        let path = self.dir.join(&self.seg_name);
        if let Err(e) = self.seg.write_all(bytes) {
            // Bytes of this write may have landed: remove them.
            let _ = self.seg.set_len(self.offset);
            return Err(AuditError::io(&path, e));
        }
        self.offset += bytes.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Start the segment for `next_seq`: header + a checkpoint of the chain so far.
    fn start_segment(&mut self) -> Result<(), AuditError> {
        let old = self.dir.join(&self.seg_name);
        self.seg.sync_data().map_err(|e| AuditError::io(&old, e))?;
        let name = segment_name(self.next_seq);
        let path = self.dir.join(&name);
        let mut f = create_segment_file(&path)?;
        let cp = self.checkpoint_of(self.next_seq, self.head, self.frontier.as_ref(), self.now());
        let text = cp.sign(&self.key);
        let mut bytes =
            SegmentHeader { version: self.version, log_id: self.log_id, first_seq: self.next_seq }.encode().to_vec();
        encode_frame(FRAME_CHECKPOINT, text.as_bytes(), &mut bytes);
        f.write_all(&bytes).and_then(|()| f.sync_data()).map_err(|e| AuditError::io(&path, e))?;
        sync_dir(&self.dir)?;
        self.seg = f;
        self.seg_name = name;
        self.offset = bytes.len() as u64;
        self.reserved_to = 0;
        self.last_cp_size = cp.size;
        self.last_cp_text = Some(text);
        self.dirty = false;
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if (self.next_seq > self.last_cp_size || self.dirty)
            && let Err(e) = self.checkpoint()
        {
            tracing::warn!(target: "orchestra::audit", "final audit checkpoint in {} failed: {e}", self.dir.display());
        }
    }
}

/// An exclusive `flock` held on the lock file.
struct LockGuard(nix::fcntl::Flock<File>);

impl LockGuard {
    /// Prepare the log directory `dir` (private to its owner: records carry
    /// command lines, FORMAT.md §9) and take the writers' exclusive lock on
    /// `dir/lock`. Returns the guard and the lock file's path.
    fn open(dir: &Path) -> Result<(LockGuard, PathBuf), AuditError> {
        super::private::prepare_dir(dir)?;
        let lock_path = dir.join("lock");
        // A blocking lock is always granted (or an error).
        let lock = super::private::lock_file(&lock_path, nix::fcntl::FlockArg::LockExclusive)?
            .ok_or_else(|| AuditError::io(&lock_path, std::io::Error::from(nix::errno::Errno::EWOULDBLOCK)))?;
        Ok((LockGuard(lock), lock_path))
    }

    fn take(file: File, path: &Path) -> Result<LockGuard, AuditError> {
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map(LockGuard)
            .map_err(|(_, errno)| AuditError::io(path, std::io::Error::from(errno)))
    }

    fn release(self, path: &Path) -> Result<File, AuditError> {
        self.0.unlock().map_err(|(_, errno)| AuditError::io(path, std::io::Error::from(errno)))
    }
}

/// Whether a `log_opened` or `key_rotation` record anywhere in `segs` names
/// the key with id `id` (when a segment cannot be read, assume it does: the
/// caller then reports the key as missing rather than the log as damaged).
fn log_names_key(segs: &[format::SegmentFile], id: [u8; 4]) -> bool {
    for s in segs {
        let Ok(buf) = std::fs::read(&s.path) else { return true };
        let mut at = HEADER_LEN;
        while at < buf.len() {
            let FrameRead::Frame { ty, payload_start, payload_end, next } = read_frame(&buf, at) else { break };
            if ty == FRAME_RECORD
                && let Ok(r) = Record::decode(&buf[payload_start..payload_end])
                && matches!(Kind::parse(&r.kind), Some(Kind::LogOpened | Kind::KeyRotation))
            {
                let body = r.body_json();
                let named = ["key", "new_key", "old_key"]
                    .iter()
                    .filter_map(|f| body.get(*f).and_then(Value::as_str))
                    .filter_map(|k| VerifierKey::parse(k).ok())
                    .any(|k| k.id == id);
                if named {
                    return true;
                }
            }
            at = next;
        }
    }
    false
}

/// Create a new segment file for appending; it must not exist yet.
fn create_segment_file(path: &Path) -> Result<File, AuditError> {
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(super::private::FILE_MODE)
        .open(path)
        .map_err(|e| AuditError::io(path, e))
}

/// Run `f` holding the writers' lock of the log in `dir` (for readers that
/// update derived data beside the log, such as the Merkle tile store).
pub(crate) fn with_log_lock<T>(dir: &Path, f: impl FnOnce() -> Result<T, AuditError>) -> Result<T, AuditError> {
    let (guard, path) = LockGuard::open(dir)?;
    let out = f();
    guard.release(&path)?;
    out
}
