//! The end of the audit log and damage in it (issue 17, items 4 and 5), on
//! logs the real binary wrote: a forged unsigned tail fails `verify
//! --trusted-key` (both verifiers) and stays marked once a later writer
//! adopts it; a crash is not a permanent failure; a damaged log is never
//! extended, its writer continues in `continued/`, and neither `verify` nor
//! `show` lets the damage hide what comes after it.

use crate::harness::audit::{self as a, Seg};
use crate::harness::*;
use orchestra::audit::format::{FRAME_CHECKPOINT, FRAME_RECORD};
use orchestra::audit::record::{Record, record_hash};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn log_dir(e: &Env) -> PathBuf {
    e.ws.join(".orchestra/audit")
}

fn trusted(e: &Env) -> PathBuf {
    let mut p = e.key.clone().into_os_string();
    p.push(".pub");
    PathBuf::from(p)
}

/// `orchestra audit verify DIR --json [ARGS]`: exit code and the JSON report.
fn verify(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, Value) {
    let o = Command::new(orchestra()).args(["audit", "verify"]).arg(dir).arg("--json").args(args).output().unwrap();
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap_or(-1), v)
}

/// `orchestra audit show DIR --json [ARGS]`: exit code and the records.
fn show(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, Vec<Value>) {
    let o = Command::new(orchestra()).args(["audit", "show"]).arg(dir).arg("--json").args(args).output().unwrap();
    let recs = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("show line {l}: {e}")))
        .collect();
    (o.status.code().unwrap_or(-1), recs)
}

fn last_frame_type(dir: &Path) -> u8 {
    let segs = a::load(dir).unwrap();
    segs.last().and_then(|s| s.frames.last()).map(|f| f.ty).unwrap()
}

/// Cut the log after the checkpoint that follows the last `task_started`
/// record, and append `forged` as an unsigned record chained to it (the chain
/// recomputed: the attack needs no key, only write access to the files).
fn cut_and_forge(dir: &Path, forged: Value) -> Seg {
    let mut segs = a::load(dir).unwrap();
    let s = segs.last_mut().unwrap();
    let started = s.frames.iter().rposition(|f| f.ty == FRAME_RECORD && a::decode(f).kind == "task_started").unwrap();
    assert_eq!(s.frames[started + 1].ty, FRAME_CHECKPOINT, "task_started is signed at once");
    s.frames.truncate(started + 2);
    let last = a::decode(&s.frames[started]);
    let rec = Record {
        seq: last.seq + 1,
        time_us: last.time_us + 1,
        prev: record_hash(&s.frames[started].payload),
        kind: "task_ended".into(),
        body: orchestra::audit::record::canonical_json(&forged).unwrap(),
    };
    s.frames.push(a::Frame { ty: FRAME_RECORD, payload: rec.encode() });
    let out = s.clone();
    a::store(dir, &segs).unwrap();
    out
}

#[test]
fn a_normal_exec_leaves_no_unsigned_record() {
    let e = env();
    e.sh("default", "true").assert_ok();
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    let dir = log_dir(&e);
    assert_eq!(last_frame_type(&dir), FRAME_CHECKPOINT, "the log ends with a checkpoint");
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["unsigned_tail"], 0, "{v}");
    assert_eq!(v["authenticated_records"], v["records"], "{v}");
    let (code, recs) = show(&dir, &[]);
    assert_eq!(code, 0);
    assert!(recs.iter().all(|r| r["authenticated"] == true && r["status"] == "signed"), "{recs:?}");
}

fn with_key(e: &Env) -> Vec<std::ffi::OsString> {
    vec!["--trusted-key".into(), trusted(e).into_os_string()]
}

fn os(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(|s| s.as_os_str()).collect()
}

#[test]
fn a_forged_unsigned_tail_fails_verify_with_the_trusted_key() {
    let e = env();
    e.sh("default", "true").assert_ok();
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    let dir = log_dir(&e);
    // The attacker replaces the violation and its end by "it went fine".
    cut_and_forge(&dir, json!({"task": "sh", "cause": "ok", "exit_status": 0, "wall_ms": 3}));
    let key = with_key(&e);
    let (code, v) = verify(&dir, &os(&key));
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["first_error"]["code"], "unsigned_tail", "{v}");
    assert_eq!(v["unsigned_tail"], 1, "{v}");
    // The independent verifier agrees.
    let p = a::verify_python(&dir, Some(&trusted(&e)), None).unwrap();
    assert_eq!((p.exit, p.code.as_deref()), (4, Some("unsigned_tail")), "{p:?}");
    // Told that a writer may be live, it passes, and still reports the record.
    let mut allow = key.clone();
    allow.push("--allow-unsigned-tail".into());
    let (code, v) = verify(&dir, &os(&allow));
    assert_eq!((code, &v["unsigned_tail"]), (0, &json!(1)), "{v}");
    // Without a trusted key it is reported, not a failure (self-consistency only).
    let (code, v) = verify(&dir, &[]);
    assert_eq!((code, &v["unsigned_tail"]), (0, &json!(1)), "{v}");
    // show marks the forged record, and only it.
    for args in [vec![], key.clone()] {
        let (code, recs) = show(&dir, &os(&args));
        assert_eq!(code, 0);
        let (forged, rest) = recs.split_last().unwrap();
        assert_eq!((forged["kind"].as_str(), forged["authenticated"].as_bool()), (Some("task_ended"), Some(false)));
        assert_eq!(forged["status"], "unsigned");
        assert!(rest.iter().all(|r| r["authenticated"] == true), "{rest:?}");
    }
}

#[test]
fn the_next_writer_adopts_a_forged_tail_and_it_stays_marked() {
    let e = env();
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    let dir = log_dir(&e);
    cut_and_forge(&dir, json!({"task": "sh", "cause": "ok", "exit_status": 0, "wall_ms": 3}));
    let forged_seq =
        a::load(&dir).unwrap().iter().flat_map(|s| s.frames.iter()).filter(|f| f.ty == FRAME_RECORD).count() as u64 - 1;
    e.sh("default", "true").assert_ok();
    assert_eq!(last_frame_type(&dir), FRAME_CHECKPOINT);
    // Adoption does not launder the forgery: with a trusted key it fails
    // (`adopted`), and is accepted only when the reviewer says so.
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("adopted")), "{v}");
    let mut allow = with_key(&e);
    allow.push("--allow-unsigned-tail".into());
    let (code, v) = verify(&dir, &os(&allow));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["adopted"], json!([{"first_seq": forged_seq, "records": 1, "recovery_seq": forged_seq + 1}]), "{v}");
    assert_eq!(
        v["authenticated_records"].as_u64(),
        v["records"].as_u64().map(|n| n - 1),
        "adopted is not authenticated: {v}"
    );
    let p = a::verify_python(&dir, Some(&trusted(&e)), None).unwrap();
    assert_eq!(p.exit, 4, "{p:?}");
    let (_, recs) = show(&dir, &os(&with_key(&e)));
    let forged = recs.iter().find(|r| r["seq"] == forged_seq).unwrap();
    assert_eq!((forged["status"].as_str(), forged["authenticated"].as_bool()), (Some("adopted"), Some(false)));
    let note = recs.iter().find(|r| r["seq"] == forged_seq + 1).unwrap();
    assert_eq!(note["kind"], "recovery");
    assert_eq!(note["body"]["reason"], "unsigned tail");
    assert_eq!(note["body"]["first_seq"], forged_seq);
    assert!(recs.iter().filter(|r| r["seq"] != forged_seq).all(|r| r["authenticated"] == true), "{recs:?}");
}

#[test]
fn a_crash_between_record_and_checkpoint_is_signed_over_by_the_next_exec() {
    let e = env();
    e.sh("default", "true").assert_ok();
    let dir = log_dir(&e);
    // A writer killed mid-write leaves its record without the checkpoint
    // that was written with it (a prefix of one write).
    let seg = a::load(&dir).unwrap().pop().unwrap();
    let path = dir.join(&seg.name);
    let len = std::fs::metadata(&path).unwrap().len();
    let cp = seg.frames.last().unwrap().payload.len() as u64 + 9;
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - cp + 7).unwrap();
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("unsigned_tail")), "{v}");
    // And a real kill -9 while the task runs: task_started is already signed.
    let mut c = e.cmd("default", &[], &["/bin/sh", "-c", "sleep 30"]);
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while a::load(&dir)
        .map(|s| {
            s.iter()
                .flat_map(|s| s.frames.iter())
                .filter(|f| f.ty == FRAME_RECORD && a::decode(f).kind == "task_started")
                .count()
        })
        .unwrap_or(0)
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the second task never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    e.sh("default", "true").assert_ok();
    // The torn write's record is adopted: reported (`adopted`) with a trusted
    // key, since nobody can tell it from a forgery; the kill -9 left nothing unsigned.
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("adopted")), "{v}");
    let mut allow = with_key(&e);
    allow.push("--allow-unsigned-tail".into());
    let (code, v) = verify(&dir, &os(&allow));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["unsigned_tail"], 0);
    assert_eq!(v["adopted"].as_array().map(Vec::len), Some(1), "only the torn one was unsigned: {v}");
    assert_eq!(v["torn_tail"], Value::Null, "the next writer cut the torn checkpoint off");
    let p = a::verify_python(&dir, Some(&trusted(&e)), None).unwrap();
    assert_eq!(p.exit, 4, "{p:?}");
}

/// Flip one byte of the first `task_started` record's body.
fn flip_in_first_task_started(dir: &Path) -> (String, u64) {
    let seg = orchestra::audit::format::segment_name(0);
    let path = dir.join(&seg);
    let mut buf = std::fs::read(&path).unwrap();
    let at = a::find(&buf, b"task_started").unwrap() as u64 + 40;
    buf[at as usize] ^= 0x20;
    std::fs::write(&path, buf).unwrap();
    (seg, at)
}

#[test]
fn a_flipped_byte_in_the_middle_hides_nothing_and_is_never_extended() {
    let e = env();
    e.sh("default", "true").assert_ok();
    e.sh("default", "true").assert_ok();
    let dir = log_dir(&e);
    let (seg, at) = flip_in_first_task_started(&dir);
    let damaged = std::fs::read(dir.join(&seg)).unwrap();
    // The next task's violation is recorded all the same.
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    assert_eq!(std::fs::read(dir.join(&seg)).unwrap(), damaged, "the damaged log was not extended");
    let cont = dir.join("continued");
    let (code, recs) = show(&dir, &os(&with_key(&e)));
    assert_eq!(code, 4);
    let opened = recs.iter().find(|r| r["kind"] == "log_continued").unwrap();
    assert_eq!((opened["log"].as_str(), opened["seq"].as_u64()), (Some("continued"), Some(1)));
    assert_eq!(opened["body"]["segment"], seg.as_str());
    assert!(opened["body"]["offset"].as_u64().unwrap() > 40, "{opened}");
    let viol = recs.iter().find(|r| r["kind"] == "violation").unwrap();
    assert_eq!((viol["log"].as_str(), viol["authenticated"].as_bool()), (Some("continued"), Some(true)), "{viol}");
    // Records of the damaged log after the flipped one are listed, marked.
    let after: Vec<&Value> = recs.iter().filter(|r| r["status"] == "after_damage").collect();
    assert!(after.iter().any(|r| r["kind"] == "task_ended"), "{recs:?}");
    assert!(after.iter().all(|r| r["authenticated"] == false && r.get("log").is_none()));
    // verify: fails on the damage, and reports what follows and the continuation.
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["first_error"]["segment"], seg.as_str(), "{v}");
    assert!(v["after_damage"]["records"].as_u64().unwrap() >= 4, "{v}");
    assert_eq!(v["continued"]["verdict"], "ok", "{v}");
    assert!(v["continued"]["records"].as_u64().unwrap() >= 5, "{v}");
    // Python agrees that the log fails at the same place.
    let p = a::verify_python(&dir, Some(&trusted(&e)), None).unwrap();
    assert_eq!((p.exit, p.code.clone()), (4, v["first_error"]["code"].as_str().map(String::from)), "{p:?}");
    // Undoing the damage does not make it pass: a writer saw it.
    let mut undone = damaged.clone();
    undone[at as usize] ^= 0x20;
    std::fs::write(dir.join(&seg), undone).unwrap();
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("continued")), "{v}");
    assert!(cont.join("00000000000000000000.seg").exists());
}

/// A small multi-segment log written by the library writer.
fn multisegment(dir: &Path) -> Vec<String> {
    a::write_log(dir, &a::owner(), 30, 2000).unwrap();
    let segs = a::load(dir).unwrap();
    assert!(segs.len() >= 3, "{} segments", segs.len());
    segs.into_iter().map(|s| s.name).collect()
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = orchestra::audit::format::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| (s.name, std::fs::read(s.path).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn damage_at_the_end_of_an_earlier_segment_is_found_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = multisegment(dir);
    // The segment before the last: flip a byte of its final checkpoint's head line.
    let prev = dir.join(&names[names.len() - 2]);
    let mut buf = std::fs::read(&prev).unwrap();
    let n = buf.len();
    buf[n - 120] ^= 1;
    std::fs::write(&prev, &buf).unwrap();
    let before = snapshot(dir);
    let mut log = orchestra::audit::AuditLog::open_with(dir, &a::owner(), a::det_opts(2000)).unwrap();
    log.append("violation", json!({"task": "t", "rule": "fs.write", "detail": "/etc/evil"})).unwrap();
    assert_eq!(log.dir(), dir.join("continued"));
    drop(log);
    assert_eq!(snapshot(dir), before, "the damaged log was not extended");
    let (_, recs) = show(dir, &[]);
    let note = recs.iter().find(|r| r["kind"] == "log_continued").unwrap();
    assert_eq!(note["body"]["segment"], names[names.len() - 2].as_str(), "{note}");
    assert!(recs.iter().any(|r| r["kind"] == "violation" && r["log"] == "continued"));
}

#[test]
fn damage_in_the_middle_of_an_earlier_segment_does_not_hide_later_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = multisegment(dir);
    let last_seq =
        a::load(dir).unwrap().iter().flat_map(|s| s.frames.iter()).filter(|f| f.ty == FRAME_RECORD).count() as u64 - 1;
    let first = dir.join(&names[0]);
    let mut buf = std::fs::read(&first).unwrap();
    let mid = buf.len() / 2;
    buf[mid] ^= 1;
    std::fs::write(&first, &buf).unwrap();
    // A writer reads earlier segments only to hash what its Merkle tile store
    // lacks (FORMAT.md §9.2); this log's writer never reopened it, so the next
    // one reads them, finds the damage and continues the log. Either way the
    // verifier reports every record after the damage.
    let mut log = orchestra::audit::AuditLog::open_with(dir, &a::owner(), a::det_opts(2000)).unwrap();
    log.append("violation", json!({"task": "late", "rule": "fs.write", "detail": "/etc/evil"})).unwrap();
    assert_eq!(log.dir(), dir.join("continued"));
    drop(log);
    let key = dir.join("owner.pub");
    std::fs::write(&key, format!("{}\n", a::owner().verifier().encode())).unwrap();
    let (code, v) = verify(dir, &["--trusted-key".as_ref(), key.as_os_str()]);
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["first_error"]["segment"], names[0].as_str(), "{v}");
    assert_eq!(v["after_damage"]["last_seq"], last_seq, "{v}");
    assert!(v["after_damage"]["signed_records"].as_u64().unwrap() > 0, "{v}");
    let (code, recs) = show(dir, &[]);
    assert_eq!(code, 4);
    let after: Vec<_> = recs.iter().filter(|r| r["status"] == "after_damage").collect();
    assert_eq!(after.last().and_then(|r| r["seq"].as_u64()), Some(last_seq));
    let late = recs.iter().find(|r| r["body"]["task"] == "late").unwrap();
    assert_eq!(late["log"], "continued", "{late}");
}

/// A checkpoint appended without any key, claiming a key id no record of the
/// log names, does not make every later exec refuse ("key lost") forever: it
/// is damage, and writers continue in `continued/` (found by an outside review).
#[test]
fn an_appended_checkpoint_claiming_an_unknown_key_is_damage_not_a_lost_key() {
    use base64::Engine as _;
    let e = env();
    e.sh("default", "true").assert_ok();
    let dir = log_dir(&e);
    let seg = dir.join("00000000000000000000.seg");
    let segs = a::load(&dir).unwrap();
    let last = segs[0].frames.iter().rev().find(|f| f.ty == FRAME_CHECKPOINT).unwrap();
    let text = String::from_utf8(last.payload.clone()).unwrap();
    let body = &text[..text.find("\n\n").unwrap() + 2];
    let mut sig = vec![0xde, 0xad, 0xbe, 0xef];
    sig.extend([0u8; 64]);
    let forged = format!("{body}— orchestra-audit {}\n", base64::engine::general_purpose::STANDARD.encode(&sig));
    let mut bytes = std::fs::read(&seg).unwrap();
    orchestra::audit::format::encode_frame(FRAME_CHECKPOINT, forged.as_bytes(), &mut bytes);
    std::fs::write(&seg, &bytes).unwrap();
    let before = std::fs::read(&seg).unwrap();
    // The next task runs and is recorded, in the continuation.
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    assert_eq!(std::fs::read(&seg).unwrap(), before, "the damaged segment was extended");
    let cont = dir.join("continued");
    let (_, recs) = show(&cont, &[]);
    assert!(recs.iter().any(|r| r["kind"] == "violation"), "{recs:?}");
    let (code, v) = verify(&dir, &os(&with_key(&e)));
    assert_eq!(code, 4, "{v}");
}

/// A reviewer exporting a checkpoint does not sign over a forged unsigned
/// tail (found by an outside review: the export adopted it, and verify
/// against the export then passed).
#[test]
fn checkpoint_export_refuses_to_sign_over_an_unsigned_tail() {
    let e = env();
    e.sh("default", "echo x > /etc/evil").assert_violation("fs.write");
    let dir = log_dir(&e);
    cut_and_forge(&dir, json!({"task": "sh", "cause": "ok", "exit_status": 0, "wall_ms": 3}));
    let before = a::load(&dir).unwrap();
    let cp = e.root.join("cp.txt");
    let o = Command::new(orchestra())
        .env("ORCHESTRA_AUDIT_KEY", &e.key)
        .args(["audit", "checkpoint"])
        .arg(&dir)
        .arg("--export")
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not signing over them"));
    assert!(!cp.exists(), "a checkpoint was exported");
    let after = a::load(&dir).unwrap();
    assert_eq!(
        after.iter().map(|s| s.frames.len()).sum::<usize>(),
        before.iter().map(|s| s.frames.len()).sum::<usize>(),
        "the log changed"
    );
    assert_eq!(last_frame_type(&dir), FRAME_RECORD, "the forged tail was signed over");
}
