//! Retention (issue 17, item 11): `orchestra audit prune` removes the records
//! before a segment boundary (archived or deleted), records it in a signed
//! `log_pruned` record, and `audit verify` (and `audit/verify.py`) then check
//! the log from the prune marker on, and the archive as a log of its own. A
//! prune killed at any file-changing system call leaves a log that verifies
//! and a prune that completes when run again.

use crate::audit_keys::{MUTATING, STRACE, StraceKill, cmd, exec_true, temporaries, text, verify_pinned};
use crate::harness::audit::{self as a, python, verify_py_path};
use serde_json::Value;
use std::path::Path;

/// A key ring in `t/keys`, its pin in `t/pin.pub`, and `t/log`: 60 records in
/// small segments, written with the ring's key.
fn template(t: &Path) -> a::TestResult {
    cmd(t).args(["audit", "keygen"]).assert().success();
    std::fs::copy(t.join("keys/audit.key.pub"), t.join("pin.pub"))?;
    let key = orchestra::audit::load_key(&t.join("keys/audit.key"))?;
    std::fs::create_dir_all(t.join("log"))?;
    a::write_log(&t.join("log"), &key, 60, 2000)?;
    // The Merkle tile store up to date, as after any exec or prove: what a
    // prune writes is then the log's and the archive's files only.
    cmd(t).args(["audit", "prove", "inclusion", "1", "--dir", "log"]).assert().success();
    Ok(())
}

fn verify_json(t: &Path, dir: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["audit", "verify", dir, "--trusted-key", "pin.pub", "--json"];
    args.extend_from_slice(extra);
    let o = cmd(t).args(&args).output().expect("verify");
    (o.status.code().unwrap_or(-1), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
}

fn python_verify(t: &Path, dir: &str) -> (i32, String) {
    let o = std::process::Command::new(python().expect("python3 with cryptography is required"))
        .arg(verify_py_path())
        .args(["--trusted-key", "pin.pub", dir])
        .current_dir(t)
        .output()
        .expect("verify.py");
    (
        o.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

fn segments(dir: &Path) -> Vec<u64> {
    orchestra::audit::format::list_segments(dir).unwrap_or_default().iter().map(|s| s.first_seq).collect()
}

#[test]
fn a_pruned_log_verifies_from_its_marker_and_its_archive_on_its_own() -> a::TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    template(t)?;
    let before = segments(&t.join("log"));
    assert!(before.len() >= 4, "{before:?}");
    // A checkpoint a reviewer kept long ago: the log's first one.
    let first = a::load(&t.join("log"))?
        .iter()
        .flat_map(|s| s.frames.clone())
        .find(|f| f.ty == orchestra::audit::format::FRAME_CHECKPOINT)
        .ok_or("no checkpoint")?;
    std::fs::write(t.join("old.note"), &first.payload)?;
    let o = cmd(t).args(["audit", "prune", "log", "--before", "30", "--archive", "arch"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cut = *before.iter().filter(|s| **s <= 30).max().ok_or("no boundary")?;
    assert!(segments(&t.join("log")).iter().all(|s| *s >= cut), "{:?}", segments(&t.join("log")));
    assert_eq!(segments(&t.join("arch")), before.iter().copied().filter(|s| *s < cut).collect::<Vec<_>>());
    let (code, v) = verify_json(t, "log", &[]);
    assert_eq!((code, v["pruned"].as_u64()), (0, Some(cut)), "{v}");
    assert_eq!(python_verify(t, "log").0, 0, "{}", python_verify(t, "log").1);
    let (code, v) = verify_json(t, "arch", &[]);
    assert_eq!((code, v["records"].as_u64()), (0, Some(cut)), "{v}");
    assert_eq!(python_verify(t, "arch").0, 0, "{}", python_verify(t, "arch").1);
    // The pruning is itself in the signed history.
    let o = cmd(t).args(["audit", "show", "log", "--json"]).output()?;
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"kind\":\"log_pruned\""), "{}", text(&o));
    // The log goes on: exec, verify, prove a record after the cut.
    assert_eq!(exec_true(t, "log").status.code(), Some(0));
    assert_eq!(verify_pinned(t, "log", "pin.pub").status.code(), Some(0));
    let o = cmd(t).args(["audit", "prove", "inclusion", &(cut + 3).to_string(), "--dir", "log"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(t.join("p.proof"), &o.stdout)?;
    let o = std::process::Command::new(python()?)
        .arg(verify_py_path())
        .args(["--trusted-key", "pin.pub", "--inclusion-proof", "p.proof"])
        .current_dir(t)
        .output()?;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // A checkpoint kept from before the cut cannot be checked against the pruned log.
    let (code, v) = verify_json(t, "log", &["--since-checkpoint", "old.note"]);
    assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("since_checkpoint")), "{v}");
    cmd(t).args(["audit", "checkpoint", "log", "--export", "new.note"]).assert().success();
    assert_eq!(verify_json(t, "log", &["--since-checkpoint", "new.note"]).0, 0);
    // Deleting without an archive works the same way.
    let o = cmd(t).args(["audit", "prune", "log", "--before", "45", "--delete"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (code, v) = verify_json(t, "log", &[]);
    assert!(code == 0 && v["pruned"].as_u64() > Some(cut), "{v}");
    Ok(())
}

#[test]
fn pruning_a_log_that_does_not_verify_removes_nothing() -> a::TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    template(t)?;
    let segs = orchestra::audit::format::list_segments(&t.join("log"))?;
    let p = &segs[1].path;
    let mut b = std::fs::read(p)?;
    let n = b.len();
    b[n / 2] ^= 1;
    std::fs::write(p, b)?;
    let before = segments(&t.join("log"));
    let o = cmd(t).args(["audit", "prune", "log", "--before", "30", "--delete"]).output()?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("does not verify"), "{}", text(&o));
    assert_eq!(segments(&t.join("log")), before);
    assert!(!t.join("log/pruned").exists());
    Ok(())
}

#[test]
fn prune_killed_at_every_file_changing_syscall_leaves_a_log_that_verifies() -> a::TestResult {
    use std::os::unix::process::ExitStatusExt as _;
    assert!(Path::new(STRACE).exists(), "strace is required (Debian package strace)");
    let template_dir = tempfile::tempdir()?;
    template(template_dir.path())?;
    let mut kills = Vec::new();
    for syscall in MUTATING.split(',') {
        for n in 1..200 {
            let case = tempfile::tempdir()?;
            let c = case.path();
            let cp = std::process::Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", template_dir.path().display()))
                .arg(c)
                .status()?;
            assert!(cp.success(), "cp -a");
            let step = format!("{syscall}#{n}");
            let out = cmd(c)
                .strace_kill(syscall, n)
                .args(["audit", "prune", "log", "--before", "30", "--archive", "arch"])
                .output()?;
            if out.status.code() == Some(0) {
                break;
            }
            let by_kill = out.status.signal() == Some(9) || out.status.code() == Some(137);
            assert!(by_kill, "{step}: neither killed nor done ({:?}): {}", out.status, text(&out));
            kills.push(step.clone());
            // Whatever the kill left verifies (a torn final write is allowed),
            // takes an exec, and a second prune completes it.
            let o = verify_pinned(c, "log", "pin.pub");
            assert_eq!(o.status.code(), Some(0), "{step}: verify after the kill: {}", text(&o));
            assert_eq!(exec_true(c, "log").status.code(), Some(0), "{step}: exec after the kill");
            let o = cmd(c).args(["audit", "prune", "log", "--before", "30", "--archive", "arch"]).output()?;
            assert_eq!(o.status.code(), Some(0), "{step}: prune again: {}", text(&o));
            let (code, v) = verify_json(c, "log", &[]);
            assert!(code == 0 && v["pruned"].as_u64().is_some(), "{step}: {v}");
            assert!(!v["warnings"].to_string().contains("interrupted"), "{step}: leftovers stay: {v}");
            let (code, v) = verify_json(c, "arch", &[]);
            assert_eq!(code, 0, "{step}: the archive: {v}");
            let stray = temporaries(c);
            assert!(stray.is_empty(), "{step}: temporary files left: {stray:?}");
        }
    }
    println!("audit prune killed at {} points: {}", kills.len(), kills.join(" "));
    assert!(kills.len() >= 10, "only {} kill points: {kills:?}", kills.len());
    Ok(())
}

fn records(dir: &Path) -> Vec<orchestra::audit::record::Record> {
    a::load(dir)
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s.frames.clone())
        .filter(|f| f.ty == orchestra::audit::format::FRAME_RECORD)
        .map(|f| a::decode(&f))
        .collect()
}

/// Outside review 32: a prune that fails (a bad archive) writes nothing to the
/// log, so no `log_pruned` record is left for someone without the key to
/// delete records behind; an archive inside the log, or a fresh one after an
/// earlier prune, is refused before anything is written.
#[test]
fn a_prune_that_cannot_archive_writes_nothing() -> a::TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    template(t)?;
    std::fs::write(t.join("afile"), "x")?;
    let before = std::fs::read_dir(t.join("log"))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .count();
    let n = records(&t.join("log")).len();
    for archive in ["afile", "log", "log/continued", "log/sub", "."] {
        let o = cmd(t).args(["audit", "prune", "log", "--before", "30", "--archive", archive]).output()?;
        assert_eq!(o.status.code(), Some(1), "{archive}: {}", text(&o));
        assert_eq!(text(&o).lines().filter(|l| l.contains("error")).count(), 1, "{archive}: {}", text(&o));
        assert_eq!(records(&t.join("log")).len(), n, "{archive}: a record was written");
        assert!(!t.join("log/pruned").exists(), "{archive}");
        assert!(!t.join("log/continued").exists(), "{archive}");
    }
    let after = std::fs::read_dir(t.join("log"))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .count();
    assert_eq!(before, after);
    assert_eq!(verify_json(t, "log", &[]).0, 0);
    // After a prune, a second one goes to the same archive (which then still
    // verifies as the log's beginning), never to a fresh one.
    let o = cmd(t).args(["audit", "prune", "log", "--before", "20", "--archive", "arch"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let n = records(&t.join("log")).len();
    let o = cmd(t).args(["audit", "prune", "log", "--before", "45", "--archive", "fresh"]).output()?;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("archive into the directory that holds them"), "{}", text(&o));
    assert_eq!(records(&t.join("log")).len(), n, "a record was written");
    let o = cmd(t).args(["audit", "prune", "log", "--before", "45", "--archive", "arch"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (code, v) = verify_json(t, "log", &[]);
    let cut = v["pruned"].as_u64().ok_or("pruned")?;
    let (code2, arch) = verify_json(t, "arch", &[]);
    assert_eq!((code, code2, arch["records"].as_u64()), (0, 0, Some(cut)), "{arch}");
    assert_eq!(python_verify(t, "arch").0, 0, "{}", python_verify(t, "arch").1);
    Ok(())
}

/// Outside review 32: a `log_pruned` record appended without the key (an
/// unsigned tail) does not authorise a marker, even with
/// `--allow-unsigned-tail` or without a trusted key; nor does a planted FIFO
/// or directory as the marker hang or crash either verifier.
#[test]
fn an_unsigned_log_pruned_record_or_an_odd_marker_authorises_nothing() -> a::TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    template(t)?;
    copy(t, "log", "twin")?;
    let o = cmd(t).args(["audit", "prune", "twin", "--before", "30", "--delete"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let marker = std::fs::read_to_string(t.join("twin/pruned"))?;
    let m = orchestra::audit::pruned::Marker::parse(&marker)?;
    // The attacker: the real marker, the segments below it deleted, and a
    // log_pruned record naming it appended without a checkpoint.
    std::fs::write(t.join("log/pruned"), &marker)?;
    for s in orchestra::audit::format::list_segments(&t.join("log"))? {
        if s.first_seq < m.size {
            std::fs::remove_file(&s.path)?;
        }
    }
    let c = &m.checkpoint.checkpoint;
    let body = serde_json::json!({"size": m.size, "head": orchestra::audit::keys::hex(&c.head),
        "root": c.root.map(|r| orchestra::audit::keys::hex(&r)), "segments": 1, "archive": null});
    a::append_unsigned(&t.join("log"), "log_pruned", &body)?;
    for extra in [&["--allow-unsigned-tail"][..], &[][..]] {
        let (code, v) = verify_json(t, "log", extra);
        assert_eq!(code, 4, "{extra:?}: {v}");
        assert!(matches!(v["first_error"]["code"].as_str(), Some("pruned") | Some("unsigned_tail")), "{v}");
    }
    let o = cmd(t).args(["audit", "verify", "log", "--json"]).output()?;
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert_eq!((o.status.code(), v["first_error"]["code"].as_str()), (Some(4), Some("pruned")), "{v}");
    let (code, out) = python_verify(t, "log");
    assert_eq!(code, 4, "{out}");
    let o = std::process::Command::new(python()?)
        .arg(verify_py_path())
        .args(["--trusted-key", "pin.pub", "--allow-unsigned-tail", "log"])
        .current_dir(t)
        .output()?;
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stdout));
    // A FIFO or a directory as the marker: both verifiers answer at once.
    for odd in ["fifo", "dir"] {
        let _ = std::fs::remove_file(t.join("twin/pruned"));
        let _ = std::fs::remove_dir(t.join("twin/pruned"));
        if odd == "fifo" {
            nix::unistd::mkfifo(&t.join("twin/pruned"), nix::sys::stat::Mode::S_IRWXU)?;
        } else {
            std::fs::create_dir(t.join("twin/pruned"))?;
        }
        let started = std::time::Instant::now();
        let (code, v) = verify_json(t, "twin", &[]);
        assert_eq!((code, v["first_error"]["code"].as_str()), (4, Some("pruned")), "{odd}: {v}");
        let (code, out) = python_verify(t, "twin");
        assert_eq!(code, 4, "{odd}: {out}");
        assert!(!out.contains("Traceback"), "{odd}: {out}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{odd}");
    }
    Ok(())
}

fn copy(t: &Path, from: &str, to: &str) -> a::TestResult {
    let ok = std::process::Command::new("cp").arg("-a").arg(t.join(from)).arg(t.join(to)).status()?.success();
    assert!(ok, "cp -a");
    Ok(())
}
