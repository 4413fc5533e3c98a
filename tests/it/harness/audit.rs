//! Shared helpers for the audit integration tests: deterministic logs, a
//! frame-level editor for tampering, the catalogue of tamper cases (also the
//! source of `audit/vectors/`), and runners for both verifiers.

use orchestra::audit::checkpoint::{Checkpoint, SignedCheckpoint};
use orchestra::audit::format::{self, FRAME_CHECKPOINT, FRAME_RECORD, FrameRead, HEADER_LEN};
use orchestra::audit::keys::AuditKey;
use orchestra::audit::merkle::{Frontier, leaf_hash};
use orchestra::audit::record::{self, Hash, Record};
use orchestra::audit::{AuditLog, OpenOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The fixed clock of deterministic logs: 2023-11-14T22:13:20Z.
pub const FIXED_TIME: u64 = 1_700_000_000_000_000;

pub fn fixed_clock() -> u64 {
    FIXED_TIME
}

/// The owner's key (seed 01..01) and an attacker's key (seed 02..02).
pub fn owner() -> AuditKey {
    AuditKey::from_seed([1; 32])
}
pub fn attacker() -> AuditKey {
    AuditKey::from_seed([2; 32])
}
pub fn successor() -> AuditKey {
    AuditKey::from_seed([3; 32])
}

/// A key (seed 25..25) whose key string's base64 contains `+`.
pub fn plus_key() -> AuditKey {
    AuditKey::from_seed([25; 32])
}

fn b64(raw: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

pub fn log_id() -> [u8; 16] {
    core::array::from_fn(|i| i as u8)
}

/// Deterministic options: checkpoint every 4 records, no time-based ones.
pub fn det_opts(segment_max: u64) -> OpenOptions {
    OpenOptions {
        segment_max_bytes: segment_max,
        checkpoint_every: 4,
        checkpoint_interval: Duration::from_secs(1 << 30),
        clock: Some(fixed_clock),
        log_id: Some(log_id()),
        format: format::FORMAT_VERSION,
    }
}

/// The Merkle frontier over every record frame of `segs`.
pub fn tree_of(segs: &[Seg]) -> Frontier {
    let mut t = Frontier::new();
    for f in segs.iter().flat_map(|s| s.frames.iter()).filter(|f| f.ty == FRAME_RECORD) {
        t.push(leaf_hash(&f.payload));
    }
    t
}

/// A checkpoint over `size` records ending in `head` (and, in a format-2
/// log, whose tree is `tree`), signed by `key`, in the format of `old` (the
/// checkpoint frame it replaces) and with its time.
pub fn recheckpoint(old: &[u8], log_id: [u8; 16], size: u64, head: Hash, tree: &Frontier, key: &AuditKey) -> Vec<u8> {
    let old = SignedCheckpoint::parse(&String::from_utf8_lossy(old)).ok();
    let time_us = old.as_ref().map_or(FIXED_TIME, |c| c.checkpoint.time_us);
    let v2 = old.as_ref().is_none_or(|c| c.checkpoint.root.is_some());
    Checkpoint { log_id, size, head, time_us, root: v2.then(|| tree.root()) }.sign(key).into_bytes()
}

/// The i-th record an `orchestra exec` would write.
pub fn exec_record(i: u64) -> (&'static str, Value) {
    let task = format!("task{}", i / 3);
    match i % 3 {
        0 => (
            "task_started",
            json!({"task": task, "argv": ["make", "test", "ünï\"cødé\n"], "policy_hash": "sha256:ab12", "backend": "jail",
                   "controls": ["landlock", "seccomp", "netns"], "run_id": "20261124T143025Z-7f3a"}),
        ),
        1 => (
            "violation",
            json!({"task": task, "rule": "network.deny", "detail": "connect 1.1.1.1:443", "run_id": "20261124T143025Z-7f3a"}),
        ),
        _ => (
            "task_ended",
            json!({"task": task, "cause": "policy_denied", "exit_status": -9, "wall_ms": 1234, "run_id": "20261124T143025Z-7f3a"}),
        ),
    }
}

/// Write a deterministic log of `n` records (plus `log_opened`) with `key`,
/// appended in batches of 4 (each closed by a checkpoint).
pub fn write_log(dir: &Path, key: &AuditKey, n: u64, segment_max: u64) -> Result<(), Box<dyn std::error::Error>> {
    write_log_with(dir, key, n, det_opts(segment_max))
}

/// [`write_log`] with explicit options (e.g. an older format).
pub fn write_log_with(dir: &Path, key: &AuditKey, n: u64, opts: OpenOptions) -> Result<(), Box<dyn std::error::Error>> {
    let mut log = AuditLog::open_with(dir, key, opts)?;
    let mut i = 0;
    while i < n {
        let end = (i + 4).min(n);
        log.append_batch((i..end).map(|i| {
            let (k, b) = exec_record(i);
            (k.to_string(), b)
        }))?;
        i = end;
    }
    log.sync()?;
    Ok(())
}

/// One frame of a segment, decoded for editing.
#[derive(Debug, Clone)]
pub struct Frame {
    pub ty: u8,
    pub payload: Vec<u8>,
}

/// One segment, decoded for editing.
#[derive(Debug, Clone)]
pub struct Seg {
    pub name: String,
    pub header: Vec<u8>,
    pub frames: Vec<Frame>,
}

/// Read every segment of `dir` into frames (the log must be well formed).
pub fn load(dir: &Path) -> Result<Vec<Seg>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for s in format::list_segments(dir)? {
        let buf = std::fs::read(&s.path)?;
        let mut frames = Vec::new();
        let mut at = HEADER_LEN;
        while at < buf.len() {
            match format::read_frame(&buf, at) {
                FrameRead::Frame { ty, payload_start, payload_end, next } => {
                    frames.push(Frame { ty, payload: buf[payload_start..payload_end].to_vec() });
                    at = next;
                }
                FrameRead::Bad { reason, .. } => return Err(format!("{}: {reason}", s.name).into()),
            }
        }
        out.push(Seg { name: s.name, header: buf[..HEADER_LEN].to_vec(), frames });
    }
    Ok(out)
}

/// Write segments back (valid CRCs), replacing every segment file in `dir`.
pub fn store(dir: &Path, segs: &[Seg]) -> TestResult {
    for s in format::list_segments(dir)? {
        std::fs::remove_file(s.path)?;
    }
    for s in segs {
        let mut buf = s.header.clone();
        for f in &s.frames {
            format::encode_frame(f.ty, &f.payload, &mut buf);
        }
        std::fs::write(dir.join(&s.name), buf)?;
    }
    Ok(())
}

/// (segment index, frame index) of every record, in order.
pub fn record_positions(segs: &[Seg]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        for (j, f) in s.frames.iter().enumerate() {
            if f.ty == FRAME_RECORD {
                v.push((i, j));
            }
        }
    }
    v
}

pub fn checkpoint_positions(segs: &[Seg]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        for (j, f) in s.frames.iter().enumerate() {
            if f.ty == FRAME_CHECKPOINT {
                v.push((i, j));
            }
        }
    }
    v
}

pub fn decode(f: &Frame) -> Record {
    Record::decode(&f.payload).unwrap_or_else(|e| panic!("test log record does not decode: {e}"))
}

/// Recompute every `prev` from the genesis value, renumber records, and fix
/// each checkpoint's size and head; re-sign checkpoints with `resign` if given
/// (otherwise their old signatures stay, and no longer verify).
pub fn rechain(segs: &mut [Seg], resign: Option<&AuditKey>, renumber: bool) {
    let mut head = record::genesis(&log_id());
    let mut n = 0u64;
    let mut tree = Frontier::new();
    for s in segs.iter_mut() {
        let mut h = s.header.clone();
        if renumber {
            h[28..36].copy_from_slice(&n.to_be_bytes());
            let crc = format::crc32(&h[..36]);
            h[36..40].copy_from_slice(&crc.to_be_bytes());
            s.header = h;
        }
        for f in s.frames.iter_mut() {
            if f.ty == FRAME_RECORD {
                let mut r = decode(f);
                r.prev = head;
                if renumber {
                    r.seq = n;
                }
                f.payload = r.encode();
                head = record::record_hash(&f.payload);
                tree.push(leaf_hash(&f.payload));
                n += 1;
            } else if let Some(k) = resign {
                f.payload = recheckpoint(&f.payload, log_id(), n, head, &tree, k);
            }
        }
    }
}

/// Copy a directory's regular files.
pub fn copy_dir(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// What a case expects.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub about: &'static str,
    /// Expected verdict: "ok" or "fail".
    pub verdict: &'static str,
    /// Expected failure code.
    pub code: Option<&'static str>,
    /// Verify with this trusted key.
    pub trusted: Option<AuditKey>,
    /// Verify against this exported checkpoint text.
    pub since: Option<String>,
    /// Expect a torn tail report.
    pub torn: bool,
}

fn case(name: &'static str, about: &'static str, code: Option<&'static str>) -> Case {
    Case {
        name,
        about,
        verdict: if code.is_some() { "fail" } else { "ok" },
        code,
        trusted: Some(owner()),
        since: None,
        torn: false,
    }
}

/// Write the 12-record log every tamper case starts from, apply `edit` to its
/// decoded segments, and store the result.
fn edit_log<T>(
    d: &Path,
    edit: impl FnOnce(&mut Vec<Seg>) -> Result<T, Box<dyn std::error::Error>>,
) -> Result<T, Box<dyn std::error::Error>> {
    write_log(d, &owner(), 12, 64 << 20)?;
    let mut segs = load(d)?;
    let out = edit(&mut segs)?;
    store(d, &segs)?;
    Ok(out)
}

type Build = fn(&Path) -> Result<Case, Box<dyn std::error::Error>>;

/// Every case: build the log in the directory, return what to expect.
pub fn cases() -> Vec<(&'static str, Build)> {
    vec![
        ("valid-basic", |d| {
            write_log(d, &owner(), 12, 64 << 20)?;
            Ok(case("valid-basic", "a clean log of 13 records with checkpoints every 4", None))
        }),
        ("valid-multisegment", |d| {
            write_log(d, &owner(), 30, 2000)?;
            Ok(case("valid-multisegment", "a clean log over several small segments", None))
        }),
        ("valid-format-1", |d| {
            write_log_with(d, &owner(), 30, OpenOptions { format: 1, ..det_opts(2000) })?;
            Ok(case(
                "valid-format-1",
                "a clean log of format 1 (checkpoints sign the chain head) over several segments",
                None,
            ))
        }),
        ("tamper-format-1-edit-body-rechain", |d| {
            write_log_with(d, &owner(), 12, OpenOptions { format: 1, ..det_opts(64 << 20) })?;
            let mut segs = load(d)?;
            let (i, j) = record_positions(&segs)[2];
            let f = &mut segs[i].frames[j];
            let pos = find(&f.payload, b"1.1.1.1").ok_or("no body")?;
            f.payload[pos] = b'9';
            rechain(&mut segs, None, false);
            store(d, &segs)?;
            Ok(case(
                "tamper-format-1-edit-body-rechain",
                "format 1: a body edited and the chain recomputed, the checkpoints left as they were",
                Some("checkpoint_head"),
            ))
        }),
        ("tamper-checkpoint-root", |d| {
            // The key in force signs a checkpoint whose head is right but whose
            // root commits to other records: only the Merkle check sees it.
            write_log(d, &owner(), 6, 64 << 20)?;
            let mut segs = load(d)?;
            let n = segs.len() - 1;
            let j = segs[n].frames.iter().rposition(|f| f.ty == FRAME_CHECKPOINT).ok_or("no checkpoint")?;
            let c = SignedCheckpoint::parse(&String::from_utf8_lossy(&segs[n].frames[j].payload))?.checkpoint;
            let forged = Checkpoint { root: Some([7; 32]), ..c };
            segs[n].frames[j].payload = forged.sign(&owner()).into_bytes();
            store(d, &segs)?;
            Ok(case(
                "tamper-checkpoint-root",
                "the last checkpoint re-signed by the owner's key with the right head and a wrong Merkle root",
                Some("checkpoint_root"),
            ))
        }),
        ("valid-pruned", |d| {
            write_log(d, &owner(), 30, 2000)?;
            let mut log = AuditLog::open_with(d, &owner(), det_opts(2000))?;
            log.prune(20, None)?.ok_or("nothing pruned")?;
            drop(log);
            Ok(case(
                "valid-pruned",
                "records before a segment boundary pruned (FORMAT.md §14): the marker, then the remaining segments with a log_pruned record",
                None,
            ))
        }),
        ("tamper-pruned-unrecorded", |d| {
            // Segments removed and a marker copied in from a real prune of the
            // same log, but the log_pruned record that authorises it is not there.
            write_log(d, &owner(), 30, 2000)?;
            let twin = d.with_extension("twin");
            copy_dir(d, &twin)?;
            let mut log = AuditLog::open_with(&twin, &owner(), det_opts(2000))?;
            let p = log.prune(20, None)?.ok_or("nothing pruned")?;
            drop(log);
            std::fs::copy(twin.join("pruned"), d.join("pruned"))?;
            std::fs::remove_dir_all(&twin)?;
            for s in format::list_segments(d)? {
                if s.first_seq < p.size {
                    std::fs::remove_file(&s.path)?;
                }
            }
            Ok(case(
                "tamper-pruned-unrecorded",
                "early segments removed behind a prune marker that no signed log_pruned record names",
                Some("pruned"),
            ))
        }),
        ("tamper-pruned-edge", |d| {
            write_log(d, &owner(), 30, 2000)?;
            let mut log = AuditLog::open_with(d, &owner(), det_opts(2000))?;
            log.prune(20, None)?.ok_or("nothing pruned")?;
            drop(log);
            let text = std::fs::read_to_string(d.join("pruned"))?;
            let at = text.find("edge ").ok_or("no edge line")? + 5;
            let mut b = text.into_bytes();
            b[at] = if b[at] == b'A' { b'B' } else { b'A' };
            std::fs::write(d.join("pruned"), b)?;
            Ok(case("tamper-pruned-edge", "the prune marker's Merkle right edge edited", Some("pruned")))
        }),
        ("valid-rotated", |d| {
            let mut log = AuditLog::open_with(d, &owner(), det_opts(64 << 20))?;
            for i in 0..5 {
                let (k, b) = exec_record(i);
                log.append(k, b)?;
            }
            log.rotate_key(&successor())?;
            for i in 5..9 {
                let (k, b) = exec_record(i);
                log.append(k, b)?;
            }
            drop(log);
            Ok(case("valid-rotated", "a key rotation signed by the old key; the old key is trusted", None))
        }),
        ("valid-rotated-trust-new", |d| {
            let mut log = AuditLog::open_with(d, &owner(), det_opts(64 << 20))?;
            for i in 0..5 {
                let (k, b) = exec_record(i);
                log.append(k, b)?;
            }
            log.rotate_key(&successor())?;
            drop(log);
            let mut c = case("valid-rotated-trust-new", "a key rotation; the new key is trusted", None);
            c.trusted = Some(successor());
            Ok(c)
        }),
        ("valid-torn-tail", |d| {
            write_log(d, &owner(), 6, 64 << 20)?;
            let segs = load(d)?;
            let mut buf = Vec::new();
            format::encode_frame(FRAME_RECORD, &segs[0].frames[1].payload, &mut buf);
            let p = d.join(&segs[0].name);
            let mut all = std::fs::read(&p)?;
            all.extend_from_slice(&buf[..buf.len() / 2]);
            std::fs::write(&p, all)?;
            let mut c = case("valid-torn-tail", "a torn final write (half a frame): reported, not a failure", None);
            c.torn = true;
            Ok(c)
        }),
        ("valid-recovered", |d| {
            write_log(d, &owner(), 6, 64 << 20)?;
            let p = d.join(format::segment_name(0));
            let mut all = std::fs::read(&p)?;
            all.extend_from_slice(&[b'R', 0, 0, 1]);
            std::fs::write(&p, all)?;
            write_log(d, &owner(), 2, 64 << 20)?;
            Ok(case("valid-recovered", "a torn tail cut off by the writer, with a recovery record", None))
        }),
        ("valid-unsigned-tail-untrusted", |d| {
            edit_log(d, |segs| {
                segs[0].frames.pop(); // the final checkpoint never landed (a crash)
                Ok(())
            })?;
            let mut c = case(
                "valid-unsigned-tail-untrusted",
                "records after the last checkpoint, no trusted key: reported, not a failure",
                None,
            );
            c.trusted = None;
            Ok(c)
        }),
        ("tamper-unsigned-tail", |d| {
            edit_log(d, |segs| {
                let cps = checkpoint_positions(segs);
                let (_, j) = cps[cps.len() - 2];
                // Cut after a checkpoint, append a forged record (chain recomputed, no key needed).
                segs[0].frames.truncate(j + 1);
                let last = segs[0].frames.iter().rev().find(|f| f.ty == FRAME_RECORD).map(decode).ok_or("record")?;
                let prev = segs[0]
                    .frames
                    .iter()
                    .rev()
                    .find(|f| f.ty == FRAME_RECORD)
                    .map(|f| record::record_hash(&f.payload))
                    .ok_or("record")?;
                let body = json!({"task": "task2", "cause": "ok", "exit_status": 0, "wall_ms": 1, "run_id": "20261124T143025Z-7f3a"});
                let forged = Record {
                    seq: last.seq + 1,
                    time_us: FIXED_TIME,
                    prev,
                    kind: "task_ended".into(),
                    body: record::canonical_json(&body)?,
                };
                segs[0].frames.push(Frame { ty: FRAME_RECORD, payload: forged.encode() });
                Ok(())
            })?;
            Ok(case(
                "tamper-unsigned-tail",
                "cut after a checkpoint and a forged unsigned record appended: with a trusted key, unsigned_tail",
                Some("unsigned_tail"),
            ))
        }),
        ("tamper-adopted-tail", |d| {
            edit_log(d, |segs| {
                segs[0].frames.pop();
                Ok(())
            })?;
            write_log(d, &owner(), 2, 64 << 20)?;
            Ok(case(
                "tamper-adopted-tail",
                "an unsigned tail adopted by the next writer (recovery \"unsigned tail\"): with a trusted key, adopted (the records are listed, never authenticated)",
                Some("adopted"),
            ))
        }),
        ("valid-truncated-no-checkpoint", |d| {
            edit_log(d, |segs| {
                let cps = checkpoint_positions(segs);
                let (_, j) = cps[1];
                segs[0].frames.truncate(j + 1);
                Ok(())
            })?;
            Ok(case(
                "valid-truncated-no-checkpoint",
                "the tail cut after an earlier checkpoint: undetectable without an exported checkpoint",
                None,
            ))
        }),
        ("tamper-flip-body-byte", |d| {
            write_log(d, &owner(), 12, 64 << 20)?;
            let segs = load(d)?;
            let p = d.join(&segs[0].name);
            let mut all = std::fs::read(&p)?;
            let pos = find(&all, b"connect 1.1.1.1").ok_or("no body")?;
            all[pos] ^= 0x20;
            std::fs::write(&p, all)?;
            Ok(case("tamper-flip-body-byte", "one byte of a body flipped", Some("frame")))
        }),
        ("tamper-edit-body-fix-crc", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[2];
                let f = &mut segs[i].frames[j];
                let pos = find(&f.payload, b"1.1.1.1").ok_or("no body")?;
                f.payload[pos] = b'9';
                Ok(())
            })?;
            Ok(case("tamper-edit-body-fix-crc", "a body edited and its frame CRC recomputed", Some("chain")))
        }),
        ("tamper-edit-body-rechain", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[2];
                let f = &mut segs[i].frames[j];
                let pos = find(&f.payload, b"1.1.1.1").ok_or("no body")?;
                f.payload[pos] = b'9';
                rechain(segs, None, false);
                Ok(())
            })?;
            Ok(case(
                "tamper-edit-body-rechain",
                "a body edited and every later hash recomputed",
                Some("checkpoint_head"),
            ))
        }),
        ("tamper-resign-other-key", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[2];
                let f = &mut segs[i].frames[j];
                let pos = find(&f.payload, b"1.1.1.1").ok_or("no body")?;
                f.payload[pos] = b'9';
                rechain(segs, Some(&attacker()), false);
                Ok(())
            })?;
            Ok(case(
                "tamper-resign-other-key",
                "a body edited, the chain recomputed and checkpoints re-signed by another key",
                Some("checkpoint_signature"),
            ))
        }),
        ("tamper-forged-log", |d| {
            write_log(d, &attacker(), 12, 64 << 20)?;
            Ok(case(
                "tamper-forged-log",
                "the whole log replaced by a self-consistent forgery under another key",
                Some("untrusted_key"),
            ))
        }),
        ("tamper-delete-record", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[7];
                segs[i].frames.remove(j);
                Ok(())
            })?;
            Ok(case("tamper-delete-record", "a record removed", Some("seq")))
        }),
        ("tamper-delete-record-renumber", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[5];
                segs[i].frames.remove(j);
                rechain(segs, None, true);
                Ok(())
            })?;
            Ok(case(
                "tamper-delete-record-renumber",
                "a record removed, later records renumbered and re-chained",
                Some("checkpoint_size"),
            ))
        }),
        ("tamper-insert-record", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[5];
                let mut r = decode(&segs[i].frames[j]);
                r.kind = "task_ended".into();
                r.body = br#"{"cause":"ok"}"#.to_vec();
                segs[i].frames.insert(j, Frame { ty: FRAME_RECORD, payload: r.encode() });
                Ok(())
            })?;
            Ok(case("tamper-insert-record", "a forged record inserted with the same sequence and prev", Some("seq")))
        }),
        ("tamper-swap-records", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[6];
                segs[i].frames.swap(j, j + 1);
                Ok(())
            })?;
            Ok(case("tamper-swap-records", "two adjacent records swapped", Some("seq")))
        }),
        ("tamper-duplicate-record", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[6];
                let f = segs[i].frames[j].clone();
                segs[i].frames.insert(j + 1, f);
                Ok(())
            })?;
            Ok(case("tamper-duplicate-record", "a record duplicated", Some("seq")))
        }),
        ("tamper-truncated-with-checkpoint", |d| {
            let since = edit_log(d, |segs| {
                let cps = checkpoint_positions(segs);
                let (ci, cj) = cps[cps.len() - 1];
                let since = String::from_utf8(segs[ci].frames[cj].payload.clone())?;
                let (_, j) = cps[1];
                segs[0].frames.truncate(j + 1);
                Ok(since)
            })?;
            let mut c = case(
                "tamper-truncated-with-checkpoint",
                "the tail cut; the reviewer kept the final checkpoint",
                Some("since_checkpoint"),
            );
            c.since = Some(since);
            Ok(c)
        }),
        ("tamper-rollback", |d| {
            let old = tempfile::tempdir()?;
            write_log(d, &owner(), 8, 64 << 20)?;
            copy_dir(d, old.path())?;
            let mut log = AuditLog::open_with(d, &owner(), det_opts(64 << 20))?;
            for i in 8..12 {
                let (k, b) = exec_record(i);
                log.append(k, b)?;
            }
            log.sync()?;
            let since = log.latest_checkpoint().ok_or("no checkpoint")?.to_string();
            drop(log);
            for s in format::list_segments(d)? {
                std::fs::remove_file(s.path)?;
            }
            copy_dir(old.path(), d)?;
            let mut c =
                case("tamper-rollback", "the log replaced by an older copy of itself", Some("since_checkpoint"));
            c.since = Some(since);
            Ok(c)
        }),
        ("tamper-fork-exported", |d| {
            write_log(d, &owner(), 8, 64 << 20)?;
            let mut segs = load(d)?;
            let cps = checkpoint_positions(&segs);
            let (ci, cj) = cps[cps.len() - 1];
            let real = SignedCheckpoint::parse(&String::from_utf8(segs[ci].frames[cj].payload.clone())?)?;
            let mut cp = real.checkpoint.clone();
            cp.head = [0xAB; 32];
            let since = cp.sign(&owner());
            segs.truncate(1);
            store(d, &segs)?;
            let mut c = case(
                "tamper-fork-exported",
                "the exported checkpoint and the log disagree on the head at one size (a fork)",
                Some("equivocation"),
            );
            c.since = Some(since);
            Ok(c)
        }),
        ("tamper-edit-checkpoint-size", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let t = String::from_utf8(segs[i].frames[j].payload.clone())?;
                let c = SignedCheckpoint::parse(&t)?;
                let n = c.checkpoint.size;
                segs[i].frames[j].payload = t.replacen(&format!("\n{n}\n"), &format!("\n{}\n", n + 1), 1).into_bytes();
                Ok(())
            })?;
            Ok(case("tamper-edit-checkpoint-size", "a checkpoint's size line edited", Some("checkpoint_size")))
        }),
        ("tamper-edit-checkpoint-time", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let t = String::from_utf8(segs[i].frames[j].payload.clone())?;
                segs[i].frames[j].payload =
                    t.replacen("time 1700000000000000", "time 1600000000000000", 1).into_bytes();
                Ok(())
            })?;
            Ok(case("tamper-edit-checkpoint-time", "a checkpoint's time line edited", Some("checkpoint_signature")))
        }),
        ("tamper-equivocation", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let c = SignedCheckpoint::parse(&String::from_utf8(segs[i].frames[j].payload.clone())?)?;
                let mut other = c.checkpoint.clone();
                other.head = [0xCD; 32];
                segs[i]
                    .frames
                    .insert(j + 1, Frame { ty: FRAME_CHECKPOINT, payload: other.sign(&owner()).into_bytes() });
                Ok(())
            })?;
            Ok(case(
                "tamper-equivocation",
                "two validly signed checkpoints for one size with different heads",
                Some("equivocation"),
            ))
        }),
        ("tamper-equivocation-other-key", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let c = SignedCheckpoint::parse(&String::from_utf8(segs[i].frames[j].payload.clone())?)?;
                let mut other = c.checkpoint.clone();
                other.head = [0xCD; 32];
                segs[i]
                    .frames
                    .insert(j + 1, Frame { ty: FRAME_CHECKPOINT, payload: other.sign(&attacker()).into_bytes() });
                Ok(())
            })?;
            Ok(case(
                "tamper-equivocation-other-key",
                "a second checkpoint for one size with another head, signed by a key that is not the log's: no proof of equivocation",
                Some("checkpoint_head"),
            ))
        }),
        ("tamper-equivocation-garbage-signature", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let c = SignedCheckpoint::parse(&String::from_utf8(segs[i].frames[j].payload.clone())?)?;
                let mut other = c.checkpoint.clone();
                other.head = [0xCD; 32];
                let mut raw = owner().verifier().id.to_vec();
                raw.extend_from_slice(&[0x5A; 64]);
                let note = format!("{}\n\u{2014} orchestra-audit {}\n", other.body(), b64(&raw));
                segs[i].frames.insert(j + 1, Frame { ty: FRAME_CHECKPOINT, payload: note.into_bytes() });
                Ok(())
            })?;
            Ok(case(
                "tamper-equivocation-garbage-signature",
                "a second checkpoint for one size with another head and a garbage signature under the owner's key id: no proof of equivocation",
                Some("checkpoint_head"),
            ))
        }),
        ("tamper-two-signature-lines-one-bad", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let t = String::from_utf8(segs[i].frames[j].payload.clone())?;
                let mut raw = owner().verifier().id.to_vec();
                raw.extend_from_slice(&[0x5A; 64]);
                segs[i].frames[j].payload = format!("{t}\u{2014} orchestra-audit {}\n", b64(&raw)).into_bytes();
                Ok(())
            })?;
            Ok(case(
                "tamper-two-signature-lines-one-bad",
                "a checkpoint with a valid signature line and a second, bad one for the same key: every line of the key must verify",
                Some("checkpoint_signature"),
            ))
        }),
        ("valid-foreign-signature-line", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let t = String::from_utf8(segs[i].frames[j].payload.clone())?;
                let c = SignedCheckpoint::parse(&t)?;
                let other = c.checkpoint.sign(&attacker());
                let line = other.rsplit_once("\n\n").map(|(_, l)| l.to_string()).ok_or("no signature line")?;
                segs[i].frames[j].payload = format!("{t}{line}").into_bytes();
                Ok(())
            })?;
            Ok(case(
                "valid-foreign-signature-line",
                "a checkpoint with an extra signature line by a key that is not the log's (same name, other key id): ignored",
                None,
            ))
        }),
        ("valid-key-with-plus", |d| {
            write_log(d, &plus_key(), 12, 64 << 20)?;
            let mut c = case(
                "valid-key-with-plus",
                "a log whose key string's base64 contains '+' (split the key string on its first two '+' only)",
                None,
            );
            c.trusted = Some(plus_key());
            Ok(c)
        }),
        ("tamper-rotation-not-signed-by-old", |d| {
            write_log(d, &owner(), 6, 64 << 20)?;
            let mut segs = load(d)?;
            let pos = record_positions(&segs);
            let (i, j) = pos[pos.len() - 1];
            let last = decode(&segs[i].frames[j]);
            let body = json!({"new_key": attacker().verifier().encode(), "old_key": owner().verifier().encode()});
            let r = Record {
                seq: last.seq + 1,
                time_us: FIXED_TIME,
                prev: record::record_hash(&segs[i].frames[j].payload),
                kind: "key_rotation".into(),
                body: record::canonical_json(&body).map_err(|e| e.to_string())?,
            };
            let payload = r.encode();
            let mut tree = tree_of(&segs);
            tree.push(leaf_hash(&payload));
            let cp = Checkpoint {
                log_id: log_id(),
                size: r.seq + 1,
                head: record::record_hash(&payload),
                time_us: FIXED_TIME,
                root: Some(tree.root()),
            };
            let n = segs.len() - 1;
            segs[n].frames.push(Frame { ty: FRAME_RECORD, payload });
            segs[n].frames.push(Frame { ty: FRAME_CHECKPOINT, payload: cp.sign(&attacker()).into_bytes() });
            store(d, &segs)?;
            Ok(case(
                "tamper-rotation-not-signed-by-old",
                "a key rotation to another key, signed only by the new key",
                Some("rotation"),
            ))
        }),
        ("tamper-edit-first-record", |d| {
            edit_log(d, |segs| {
                let mut r = decode(&segs[0].frames[0]);
                r.time_us -= 1;
                segs[0].frames[0].payload = r.encode();
                Ok(())
            })?;
            Ok(case(
                "tamper-edit-first-record",
                "the first record's time edited (CRC recomputed)",
                Some("checkpoint_head"),
            ))
        }),
        ("tamper-first-record-other-key", |d| {
            edit_log(d, |segs| {
                let mut r = decode(&segs[0].frames[0]);
                let body = json!({"format": format::FORMAT_VERSION, "key": attacker().verifier().encode(), "log_id": orchestra::audit::keys::hex(&log_id())});
                r.body = record::canonical_json(&body).map_err(|e| e.to_string())?;
                segs[0].frames[0].payload = r.encode();
                rechain(segs, Some(&attacker()), false);
                Ok(())
            })?;
            Ok(case(
                "tamper-first-record-other-key",
                "log_opened rewritten to name another key, all re-signed by it",
                Some("untrusted_key"),
            ))
        }),
        ("tamper-remove-middle-segment", |d| {
            write_log(d, &owner(), 30, 2000)?;
            let segs = format::list_segments(d)?;
            if segs.len() < 3 {
                return Err("expected 3+ segments".into());
            }
            std::fs::remove_file(&segs[1].path)?;
            Ok(case("tamper-remove-middle-segment", "a middle segment removed", Some("segment_gap")))
        }),
        ("tamper-malleated-signature", |d| {
            edit_log(d, |segs| {
                let (i, j) = checkpoint_positions(segs)[1];
                let t = String::from_utf8(segs[i].frames[j].payload.clone())?;
                let mut c = SignedCheckpoint::parse(&t)?;
                // S' = S + L: the same signature for lax verifiers.
                let l: [u8; 32] = [
                    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0,
                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                ];
                let mut carry = 0u16;
                for (k, lk) in l.iter().enumerate() {
                    let s = c.signatures[0].sig[32 + k] as u16 + *lk as u16 + carry;
                    c.signatures[0].sig[32 + k] = s as u8;
                    carry = s >> 8;
                }
                let mut raw = c.signatures[0].id.to_vec();
                raw.extend_from_slice(&c.signatures[0].sig);
                use base64::Engine as _;
                let b = base64::engine::general_purpose::STANDARD.encode(raw);
                segs[i].frames[j].payload = format!("{}\n\u{2014} orchestra-audit {b}\n", c.body).into_bytes();
                Ok(())
            })?;
            Ok(case(
                "tamper-malleated-signature",
                "a checkpoint signature malleated (S + L)",
                Some("checkpoint_signature"),
            ))
        }),
        ("tamper-noncanonical-body", |d| {
            edit_log(d, |segs| {
                let (i, j) = record_positions(segs)[3];
                let mut r = decode(&segs[i].frames[j]);
                let mut b = r.body.clone();
                b.insert(1, b' ');
                r.body = b;
                segs[i].frames[j].payload = r.encode();
                Ok(())
            })?;
            Ok(case(
                "tamper-noncanonical-body",
                "a body re-encoded with whitespace (CRC recomputed)",
                Some("record_encoding"),
            ))
        }),
        ("tamper-segment-renamed", |d| {
            write_log(d, &owner(), 30, 2000)?;
            let segs = format::list_segments(d)?;
            let last = &segs[segs.len() - 1];
            std::fs::rename(&last.path, d.join(format::segment_name(last.first_seq + 1)))?;
            Ok(case("tamper-segment-renamed", "a segment renamed to another first sequence", Some("segment_name")))
        }),
        ("tamper-other-log-segment", |d| {
            write_log(d, &owner(), 30, 2000)?;
            let mut segs = load(d)?;
            let n = segs.len() - 1;
            segs[n].header[12] ^= 0xff;
            let crc = format::crc32(&segs[n].header[..36]);
            segs[n].header[36..40].copy_from_slice(&crc.to_be_bytes());
            store(d, &segs)?;
            Ok(case("tamper-other-log-segment", "a segment whose header names another log", Some("log_id_mismatch")))
        }),
        ("tamper-empty", |d| {
            write_log(d, &owner(), 3, 64 << 20)?;
            for s in format::list_segments(d)? {
                std::fs::remove_file(s.path)?;
            }
            Ok(case("tamper-empty", "every segment deleted", Some("empty")))
        }),
    ]
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Result of one verifier run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub exit: i32,
    pub verdict: String,
    pub code: Option<String>,
    pub records: u64,
    pub checkpoints: u64,
    pub torn: bool,
    pub authenticated: u64,
    pub stderr: String,
}

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("orchestra")
}

fn args(dir: &Path, trusted: Option<&Path>, since: Option<&Path>) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec![dir.into(), "--json".into()];
    if let Some(t) = trusted {
        a.push("--trusted-key".into());
        a.push(t.into());
    }
    if let Some(s) = since {
        a.push("--since-checkpoint".into());
        a.push(s.into());
    }
    a
}

/// Run `orchestra audit verify --json`.
pub fn verify_rust(
    dir: &Path,
    trusted: Option<&Path>,
    since: Option<&Path>,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let out = Command::new(bin()).args(["audit", "verify"]).args(args(dir, trusted, since)).output()?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("verify --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(Verdict {
        exit: out.status.code().unwrap_or(-1),
        verdict: v["verdict"].as_str().unwrap_or("").to_string(),
        code: v["first_error"]["code"].as_str().map(str::to_string),
        records: v["records"].as_u64().unwrap_or(0),
        checkpoints: v["checkpoints"].as_u64().unwrap_or(0),
        torn: !v["torn_tail"].is_null(),
        authenticated: v["authenticated_records"].as_u64().unwrap_or(0),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    })
}

pub fn verify_py_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("audit/verify.py")
}

/// The Python interpreter to run `verify.py` with: `$ORCHESTRA_PYTHON`, else
/// the first of `python3`, `/usr/bin/python3` that can import `cryptography`.
pub fn python() -> Result<String, Box<dyn std::error::Error>> {
    static FOUND: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let mut candidates: Vec<String> = std::env::var("ORCHESTRA_PYTHON").into_iter().collect();
        candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
        candidates
            .into_iter()
            .find(|p| Command::new(p).args(["-c", "import cryptography"]).output().is_ok_and(|o| o.status.success()))
    });
    found.clone().ok_or_else(|| {
        "no python3 with the `cryptography` package: the audit tests need it (`pip install cryptography` or `apt-get install python3-cryptography`)".into()
    })
}

/// Run `audit/verify.py --json`. Fails (never skips) if Python or
/// `cryptography` is missing: CI installs them (`pip install cryptography`).
pub fn verify_python(
    dir: &Path,
    trusted: Option<&Path>,
    since: Option<&Path>,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let out = Command::new(python()?)
        .arg(verify_py_path())
        .args(args(dir, trusted, since))
        .output()
        .map_err(|e| format!("python3 is required for the audit tests: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "verify.py printed no JSON ({e}); is `cryptography` installed (pip install cryptography)? {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(Verdict {
        exit: out.status.code().unwrap_or(-1),
        verdict: v["verdict"].as_str().unwrap_or("").to_string(),
        code: v["code"].as_str().map(str::to_string),
        records: v["records"].as_u64().unwrap_or(0),
        checkpoints: v["checkpoints"].as_u64().unwrap_or(0),
        torn: v["torn_tail"].as_bool().unwrap_or(false),
        authenticated: v["authenticated_records"].as_u64().unwrap_or(0),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    })
}

/// Materialise a case's inputs (trusted key file, exported checkpoint) in `dir`.
pub fn case_inputs(case: &Case, dir: &Path) -> Result<(Option<PathBuf>, Option<PathBuf>), Box<dyn std::error::Error>> {
    let t = match &case.trusted {
        Some(k) => {
            let p = dir.join("trusted.pub");
            std::fs::write(&p, format!("{}\n", k.verifier().encode()))?;
            Some(p)
        }
        None => None,
    };
    let s = match &case.since {
        Some(text) => {
            let p = dir.join("since.checkpoint");
            std::fs::write(&p, text)?;
            Some(p)
        }
        None => None,
    };
    Ok((t, s))
}

/// Check a verdict against a case's expectation.
pub fn check(case_name: &str, who: &str, v: &Verdict, verdict: &str, code: Option<&str>, torn: bool) {
    assert_eq!(v.verdict, verdict, "{case_name}: {who} verdict ({v:?})");
    assert_eq!(v.code.as_deref(), code, "{case_name}: {who} code ({v:?})");
    assert_eq!(v.exit, if verdict == "ok" { 0 } else { 4 }, "{case_name}: {who} exit status");
    assert_eq!(v.torn, torn, "{case_name}: {who} torn tail");
}

/// Recompute the chain after an edit and re-sign every checkpoint with `key`.
pub fn resign_all(segs: &mut [Seg], key: &AuditKey) {
    let log_id: [u8; 16] = segs[0].header[12..28].try_into().unwrap_or_default();
    let mut head = record::genesis(&log_id);
    let mut n = 0u64;
    let mut tree = Frontier::new();
    for s in segs.iter_mut() {
        for f in s.frames.iter_mut() {
            if f.ty == FRAME_RECORD {
                let mut r = decode(f);
                r.prev = head;
                f.payload = r.encode();
                head = record::record_hash(&f.payload);
                tree.push(leaf_hash(&f.payload));
                n += 1;
            } else if f.ty == FRAME_CHECKPOINT {
                f.payload = recheckpoint(&f.payload, log_id, n, head, &tree, key);
            }
        }
    }
}

/// Append a record of `kind` and `body` to the log in `dir` the way someone
/// without the key would: chained to the last record, no checkpoint after it.
pub fn append_unsigned(dir: &Path, kind: &str, body: &Value) -> Result<Record, Box<dyn std::error::Error>> {
    let mut segs = load(dir)?;
    let s = segs.last_mut().ok_or("no segment")?;
    let (i, last) = s
        .frames
        .iter()
        .enumerate()
        .rev()
        .find(|(_, f)| f.ty == FRAME_RECORD)
        .map(|(i, f)| (i, decode(f)))
        .ok_or("no record in the last segment")?;
    let rec = Record {
        seq: last.seq + 1,
        time_us: last.time_us + 1,
        prev: record::record_hash(&s.frames[i].payload),
        kind: kind.into(),
        body: record::canonical_json(body)?,
    };
    s.frames.push(Frame { ty: FRAME_RECORD, payload: rec.encode() });
    store(dir, &segs)?;
    Ok(rec)
}
