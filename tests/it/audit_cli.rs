//! `orchestra audit ...` end to end: keys, show, checkpoint export, rotation,
//! exit codes, and the writer's locking and recovery seen from outside.

use crate::harness::audit::*;
use assert_cmd::Command;
use orchestra::audit::{AuditLog, OpenOptions, load_key};
use predicates::prelude::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

fn cmd(cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd).env("ORCHESTRA_AUDIT_KEY", cwd.join("keys/audit.key"));
    c
}

#[test]
fn keygen_writes_a_private_key_0600_and_refuses_to_overwrite() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success().stdout(predicate::str::contains("--trusted-key"));
    let key = tmp.path().join("keys/audit.key");
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    let pubkey = std::fs::read_to_string(tmp.path().join("keys/audit.key.pub"))?;
    assert!(pubkey.starts_with("orchestra-audit+"));
    cmd(tmp.path()).args(["audit", "keygen"]).assert().code(1).stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read_to_string(tmp.path().join("keys/audit.key.pub"))?, pubkey);
    cmd(tmp.path()).args(["audit", "keygen", "--force"]).assert().success();
    assert_ne!(std::fs::read_to_string(tmp.path().join("keys/audit.key.pub"))?, pubkey);
    Ok(())
}

#[test]
fn a_world_readable_key_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    let key = tmp.path().join("keys/audit.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let err = load_key(&key).err().ok_or("loaded a 0644 key")?;
    assert!(err.to_string().contains("chmod 600"), "{err}");
    Ok(())
}

#[test]
fn usage_errors_exit_1() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "verify", "--no-such-flag"]).assert().code(1);
    cmd(tmp.path()).args(["audit", "verify", "does-not-exist"]).assert().code(1);
    std::fs::write(tmp.path().join("bad.pub"), "not a key\n")?;
    write_log(&tmp.path().join("log"), &owner(), 2, 64 << 20)?;
    cmd(tmp.path()).args(["audit", "verify", "log", "--trusted-key", "bad.pub"]).assert().code(1);
    cmd(tmp.path()).args(["audit", "verify", "log", "--since-checkpoint", "bad.pub"]).assert().code(1);
    cmd(tmp.path()).args(["audit", "show", "log", "--since", "yesterday-ish"]).assert().code(1);
    cmd(tmp.path()).args(["audit", "rotate", "log"]).assert().code(1); // no key
    Ok(())
}

#[test]
fn verify_defaults_to_dot_orchestra_audit() -> TestResult {
    let tmp = tempfile::tempdir()?;
    write_log(&tmp.path().join(".orchestra/audit"), &owner(), 3, 64 << 20)?;
    cmd(tmp.path()).args(["audit", "verify"]).assert().success().stdout(predicate::str::contains("INTACT"));
    Ok(())
}

#[test]
fn show_prints_json_lines_with_filters() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    {
        let mut log = AuditLog::open(&dir, &owner())?;
        log.append("task_started", json!({"task": "a", "run_id": "r1"}))?;
        log.append("violation", json!({"task": "a", "rule": "net", "run_id": "r1"}))?;
        log.append("task_started", json!({"task": "b", "run_id": "r2"}))?;
    }
    let out = cmd(tmp.path()).args(["audit", "show", "log", "--json"]).output()?;
    assert!(out.status.success());
    let lines: Vec<Value> =
        String::from_utf8(out.stdout)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["kind"], "log_opened");
    assert_eq!(lines[2]["body"]["rule"], "net");
    assert!(lines[1]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let out =
        cmd(tmp.path()).args(["audit", "show", "log", "--json", "--run", "r1", "--kind", "task_started"]).output()?;
    let s = String::from_utf8(out.stdout)?;
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("\"task\":\"a\""));
    let out = cmd(tmp.path()).args(["audit", "show", "log", "--since", "1h"]).output()?;
    assert_eq!(String::from_utf8(out.stdout)?.lines().count(), 4);
    let out = cmd(tmp.path()).args(["audit", "show", "log", "--since", "2999-01-01T00:00:00Z"]).output()?;
    assert_eq!(String::from_utf8(out.stdout)?.lines().count(), 0);
    Ok(())
}

#[test]
fn show_on_a_damaged_log_exits_4() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    std::fs::create_dir_all(&dir)?;
    let (_, build) = cases().into_iter().find(|(n, _)| *n == "tamper-swap-records").ok_or("case")?;
    build(&dir)?;
    cmd(tmp.path()).args(["audit", "show", "log"]).assert().code(4).stderr(predicate::str::contains("damaged"));
    Ok(())
}

#[test]
fn exported_checkpoint_detects_later_truncation() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    let key = load_key(&tmp.path().join("keys/audit.key"))?;
    let dir = tmp.path().join(".orchestra/audit");
    let old = tmp.path().join("old");
    {
        let mut log = AuditLog::open(&dir, &key)?;
        log.append("task_started", json!({"task": "a"}))?;
    }
    copy_dir(&dir, &old)?;
    {
        let mut log = AuditLog::open(&dir, &key)?;
        log.append("task_ended", json!({"task": "a", "cause": "ok"}))?;
    }
    cmd(tmp.path()).args(["audit", "checkpoint", "--export", "cp"]).assert().success();
    let ok = ["audit", "verify", "--trusted-key", "keys/audit.key.pub", "--since-checkpoint", "cp"];
    cmd(tmp.path()).args(ok).assert().success().stdout(predicate::str::contains("extends the exported checkpoint"));
    for s in orchestra::audit::format::list_segments(&dir)? {
        std::fs::remove_file(s.path)?;
    }
    copy_dir(&old, &dir)?;
    cmd(tmp.path())
        .args(ok)
        .assert()
        .code(4)
        .stdout(predicate::str::contains("since_checkpoint"))
        .stdout(predicate::str::contains("truncated or rolled back"));
    Ok(())
}

#[test]
fn keygen_refusing_to_overwrite_points_at_rotate_and_says_what_force_costs() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    let out = cmd(tmp.path()).args(["audit", "keygen"]).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("to give a log a new key, run `orchestra audit rotate`"), "{stderr}");
    assert!(
        stderr.contains(
            "--force makes a new default key for new logs, and this one stays in the key ring for the logs it signs"
        ),
        "{stderr}"
    );
    Ok(())
}

/// After `keygen --force` the log's key is still in the key ring: `audit
/// rotate` finds it there, the old pin still verifies, and only a key deleted
/// from the ring by hand leaves a log that cannot be extended; then the one-line
/// message names the key and where to restore it, and moving the log aside works.
#[test]
fn rotate_after_keygen_force_uses_the_rings_copy_of_the_logs_key() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    std::fs::copy(tmp.path().join("keys/audit.key.pub"), tmp.path().join("old.pub"))?;
    let key = tmp.path().join("keys/audit.key");
    let old = load_key(&key)?;
    let dir = tmp.path().join(".orchestra/audit");
    AuditLog::open(&dir, &old)?.append("task_started", json!({"task": "a"}))?;
    cmd(tmp.path()).args(["audit", "keygen", "--force"]).assert().success();
    cmd(tmp.path()).args(["audit", "rotate"]).assert().success();
    cmd(tmp.path()).args(["audit", "verify", "--trusted-key", "old.pub"]).assert().success();
    // Delete the key in force from the ring (and make another default).
    let in_force = load_key(&key)?;
    cmd(tmp.path()).args(["audit", "keygen", "--force"]).assert().success();
    let id = in_force.verifier().id_hex();
    std::fs::remove_file(tmp.path().join(format!("keys/audit.key.ring/{id}.key")))?;
    let out = cmd(tmp.path()).args(["audit", "rotate"]).output()?;
    assert_eq!(out.status.code(), Some(1), "rotate without the log's key");
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for says in [format!("signed by key {id}"), format!("audit.key.ring/{id}.key"), "move the log aside".to_string()] {
        assert!(stderr.contains(&says), "missing {says:?} in {stderr}");
    }
    // Moved aside, the log still verifies, and a new one starts.
    std::fs::rename(&dir, tmp.path().join("old-audit"))?;
    cmd(tmp.path()).args(["audit", "verify", "old-audit", "--trusted-key", "old.pub"]).assert().success();
    let new = load_key(&key)?;
    AuditLog::open(&dir, &new)?.append("task_started", json!({"task": "b"}))?;
    cmd(tmp.path()).args(["audit", "verify"]).assert().success();
    Ok(())
}

#[test]
fn rotate_keeps_the_old_pin_valid_and_the_writer_follows() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    std::fs::copy(tmp.path().join("keys/audit.key.pub"), tmp.path().join("old.pub"))?;
    let old = load_key(&tmp.path().join("keys/audit.key"))?;
    let dir = tmp.path().join(".orchestra/audit");
    AuditLog::open(&dir, &old)?.append("task_started", json!({"task": "a"}))?;
    cmd(tmp.path()).args(["audit", "rotate"]).assert().success().stdout(predicate::str::contains("rotated"));
    // The old key can no longer write.
    let err = AuditLog::open(&dir, &old).err().ok_or("old key still accepted")?;
    assert!(err.to_string().contains("audit rotate") || err.to_string().contains("signed by key"), "{err}");
    let new = load_key(&tmp.path().join("keys/audit.key"))?;
    AuditLog::open(&dir, &new)?.append("task_started", json!({"task": "b"}))?;
    for pin in ["old.pub", "keys/audit.key.pub"] {
        cmd(tmp.path()).args(["audit", "verify", "--trusted-key", pin]).assert().success();
    }
    cmd(tmp.path())
        .args(["audit", "verify", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"from_seq\": 3"));
    Ok(())
}

#[test]
fn concurrent_writers_extend_one_chain() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    AuditLog::open(&dir, &owner())?.sync()?;
    let opts = OpenOptions { segment_max_bytes: 20_000, ..OpenOptions::default() };
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dir = dir.clone();
            let opts = opts.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut log = AuditLog::open_with(&dir, &owner(), opts).map_err(|e| e.to_string())?;
                for i in 0..150 {
                    log.append("task_started", json!({"thread": t, "i": i})).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "writer thread panicked")??;
    }
    let t = tmp.path().join("trusted.pub");
    std::fs::write(&t, owner().verifier().encode())?;
    let r = verify_rust(&dir, Some(&t), None)?;
    check("concurrent", "orchestra", &r, "ok", None, false);
    assert_eq!(r.records, 601);
    assert_eq!(r.authenticated, 601);
    let n = orchestra::audit::format::list_segments(&dir)?.len();
    assert!(n >= 3, "segments did not rotate: {n} segment(s)");
    Ok(())
}

#[test]
fn writer_cuts_a_torn_tail_and_records_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    AuditLog::open(&dir, &owner())?.append("task_started", json!({"task": "a"}))?;
    let seg = dir.join(orchestra::audit::format::segment_name(0));
    let mut bytes = std::fs::read(&seg)?;
    let good = bytes.len();
    bytes.extend_from_slice(&[b'R', 0, 0, 0, 200, 1, 2, 3]);
    std::fs::write(&seg, &bytes)?;
    let r = verify_rust(&dir, None, None)?;
    check("torn", "orchestra", &r, "ok", None, true);
    let mut log = AuditLog::open(&dir, &owner())?;
    assert_eq!(log.recoveries().len(), 1);
    assert_eq!(log.recoveries()[0]["offset"], good);
    log.append("task_ended", json!({"task": "a"}))?;
    drop(log);
    let out = cmd(tmp.path()).args(["audit", "show", "log", "--kind", "recovery", "--json"]).output()?;
    let s = String::from_utf8(out.stdout)?;
    assert!(s.contains("torn write") && s.contains("\"discarded_bytes\":8"), "{s}");
    let r = verify_rust(&dir, None, None)?;
    check("recovered", "orchestra", &r, "ok", None, false);
    Ok(())
}

#[test]
fn writer_does_not_extend_damage_but_continues_in_a_linked_log() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    std::fs::create_dir_all(&dir)?;
    let (_, build) = cases().into_iter().find(|(n, _)| *n == "tamper-flip-body-byte").ok_or("case")?;
    build(&dir)?;
    let seg = dir.join(orchestra::audit::format::segment_name(0));
    let damaged = std::fs::read(&seg)?;
    let mut log = AuditLog::open(&dir, &owner())?;
    log.append("violation", json!({"task": "t", "rule": "fs.write", "detail": "/etc/evil"}))?;
    assert_eq!(log.dir(), dir.join("continued"));
    drop(log);
    assert_eq!(std::fs::read(&seg)?, damaged, "the damaged segment is kept as it was");
    Ok(())
}

#[test]
fn writer_refuses_a_key_that_is_not_in_force() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    AuditLog::open(&dir, &owner())?.sync()?;
    let err = AuditLog::open(&dir, &attacker()).err().ok_or("opened with another key")?;
    assert!(matches!(err, orchestra::audit::AuditError::KeyMismatch { .. }), "{err}");
    Ok(())
}

#[test]
fn append_rejects_reserved_kinds_floats_and_non_objects() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut log = AuditLog::open(tmp.path(), &owner())?;
    assert!(log.append("key_rotation", json!({})).is_err());
    assert!(log.append("Bad Kind", json!({})).is_err());
    assert!(log.append("task_ended", json!({"wall_s": 1.5})).is_err());
    assert!(log.append("task_ended", json!([1])).is_err());
    assert_eq!(log.append("task_ended", json!({"wall_ms": 1500})).ok(), Some(1));
    Ok(())
}

#[test]
fn first_use_key_creation_tells_where_it_is() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("cfg/orchestra/audit.key");
    let (k, created) = orchestra::audit::load_or_create_key(&path)?;
    assert!(created);
    let msg = orchestra::audit::keys::created_notice(&path, &k);
    assert!(msg.contains(&path.display().to_string()) && msg.contains("--trusted-key"));
    let (_, again) = orchestra::audit::load_or_create_key(&path)?;
    assert!(!again);
    Ok(())
}

#[test]
fn checkpoint_export_needs_an_existing_log() -> TestResult {
    let tmp = tempfile::tempdir()?;
    cmd(tmp.path()).args(["audit", "keygen"]).assert().success();
    cmd(tmp.path()).args(["audit", "checkpoint", "nolog", "--export", "cp"]).assert().code(1);
    assert!(!tmp.path().join("nolog").exists(), "checkpoint created a log");
    Ok(())
}

#[test]
fn bench_runs_and_reports_rates() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let out = cmd(tmp.path())
        .args(["audit", "bench", "--records", "3000", "--merkle-leaves", "5000", "--json", "--dir", "."])
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    for k in ["append_per_s", "verify_per_s", "sha256_per_s", "ed25519_sign_per_s", "ed25519_verify_per_s"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "{k} in {v}");
    }
    // Every one of the 1000 proofs was checked by the bench itself (it fails otherwise).
    assert_eq!(v["merkle"]["leaves"], 5000, "{v}");
    for k in ["build_per_s", "inclusion_median_us", "consistency_median_us"] {
        assert!(v["merkle"][k].as_f64().is_some_and(|x| x > 0.0), "{k} in {v}");
    }
    Ok(())
}

#[test]
fn writer_cuts_an_incomplete_key_rotation() -> TestResult {
    use orchestra::audit::format::{FRAME_RECORD, encode_frame, segment_name};
    use orchestra::audit::record::{Record, canonical_json, record_hash};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    AuditLog::open(&dir, &owner())?.append("task_started", json!({"task": "a"}))?;
    // A crash between the rotation record and its checkpoint: only the record landed.
    let seg = dir.join(segment_name(0));
    let last = orchestra::audit::verify::verify_dir(&dir, &Default::default())?;
    let head: [u8; 32] = orchestra::audit::keys::unhex(last.head.as_deref().ok_or("head")?).ok_or("hex")?;
    let body = json!({"new_key": successor().verifier().encode(), "old_key": owner().verifier().encode()});
    let r =
        Record { seq: last.records, time_us: 1, prev: head, kind: "key_rotation".into(), body: canonical_json(&body)? };
    let mut bytes = std::fs::read(&seg)?;
    encode_frame(FRAME_RECORD, &r.encode(), &mut bytes);
    std::fs::write(&seg, &bytes)?;
    let _ = record_hash(&r.encode());
    let t = tmp.path().join("t.pub");
    std::fs::write(&t, owner().verifier().encode())?;
    // Unsigned (FORMAT.md §10.2): a failure with a trusted key until a writer cuts it.
    let v = verify_rust(&dir, Some(&t), None)?;
    check("dangling rotation", "orchestra", &v, "fail", Some("unsigned_tail"), false);
    let log = AuditLog::open(&dir, &owner())?;
    assert_eq!(log.recoveries()[0]["reason"], "incomplete key rotation");
    drop(log);
    let v = verify_rust(&dir, Some(&t), None)?;
    check("after recovery", "orchestra", &v, "ok", None, false);
    assert_eq!(v.records, last.records + 1);
    Ok(())
}

#[test]
fn reopening_a_multi_segment_log_continues_the_chain() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("log");
    for round in 0..3 {
        let mut log =
            AuditLog::open_with(&dir, &owner(), OpenOptions { segment_max_bytes: 1500, ..OpenOptions::default() })?;
        for i in 0..7 {
            log.append("task_started", json!({"round": round, "i": i}))?;
        }
    }
    let t = tmp.path().join("t.pub");
    std::fs::write(&t, owner().verifier().encode())?;
    let r = verify_rust(&dir, Some(&t), None)?;
    check("reopen", "orchestra", &r, "ok", None, false);
    assert_eq!(r.records, 22);
    assert!(orchestra::audit::format::list_segments(&dir)?.len() >= 2);
    let p = verify_python(&dir, Some(&t), None)?;
    check("reopen", "verify.py", &p, "ok", None, false);
    Ok(())
}

/// `audit show --follow` prints what writers append after it started.
#[test]
fn show_follow_prints_records_appended_later() -> TestResult {
    use std::io::BufRead as _;
    use std::time::Duration;
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    cmd(t).args(["audit", "keygen"]).assert().success();
    cmd(t).args(["exec", "--audit-dir", "log", "--", "true"]).assert().success();
    let mut child = std::process::Command::new(bin())
        .current_dir(t)
        .env("ORCHESTRA_AUDIT_KEY", t.join("keys/audit.key"))
        .args(["audit", "show", "log", "--follow", "--json", "--kind", "task_started"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10))?;
    assert!(first.contains("\"true\""), "{first}");
    cmd(t).args(["exec", "--audit-dir", "log", "--name", "later", "--", "true"]).assert().success();
    let second = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let second = second?;
    assert!(second.contains("\"later\""), "{second}");
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "a record was printed twice");
    Ok(())
}
