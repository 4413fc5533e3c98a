//! Test vectors (`audit/vectors/`) and cross-verification: the Rust verifier
//! and the independent Python one (`audit/verify.py`) must agree with each
//! vector's expected verdict, and with each other on logs the real binary
//! wrote.
//!
//! Regenerate the vectors (after an intentional format change) with
//! `ORCHESTRA_REGEN_VECTORS=1 cargo test --test it audit_vectors::vectors_are_reproducible`.

use crate::harness::audit::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("audit/vectors")
}

/// Build every case into `root/<name>/{log/, trusted.pub, since.checkpoint, expected.json}`.
fn build_all(root: &Path) -> TestResult {
    for (name, build) in cases() {
        let d = root.join(name);
        let log = d.join("log");
        std::fs::create_dir_all(&log)?;
        let case = build(&log)?;
        assert_eq!(case.name, name, "a case builder labels its case with its catalogue name");
        let _ = std::fs::remove_file(log.join("lock"));
        // The writers' Merkle tile store is derived data, not part of a vector.
        let _ = std::fs::remove_dir_all(log.join("tiles"));
        if std::fs::read_dir(&log)?.next().is_none() {
            // git keeps no empty directories; verifiers ignore non-segment files.
            std::fs::write(log.join(".gitkeep"), "")?;
        }
        case_inputs(&case, &d)?;
        let expected = json!({
            "about": case.about,
            "verdict": case.verdict,
            "code": case.code,
            "torn_tail": case.torn,
            "trusted_key": case.trusted.is_some(),
            "since_checkpoint": case.since.is_some(),
        });
        std::fs::write(d.join("expected.json"), format!("{}\n", serde_json::to_string_pretty(&expected)?))?;
    }
    Ok(())
}

/// Replace the committed vectors with what the current writer produces.
fn regenerate() -> TestResult {
    let root = vectors_dir();
    for e in std::fs::read_dir(&root)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    build_all(&root)
}

type Files = Vec<(PathBuf, Vec<u8>)>;

fn files(dir: &Path) -> Result<Files, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e.file_name() != "lock" {
                out.push((e.path().strip_prefix(dir)?.to_path_buf(), std::fs::read(e.path())?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The committed vectors are exactly what the current writer produces: the
/// format did not drift without the vectors (and FORMAT.md) changing too.
/// With `ORCHESTRA_REGEN_VECTORS` set it rewrites them first, then checks the
/// same (a writer that is not deterministic still fails).
#[test]
fn vectors_are_reproducible() -> TestResult {
    if std::env::var_os("ORCHESTRA_REGEN_VECTORS").is_some() {
        regenerate()?;
    }
    let tmp = tempfile::tempdir()?;
    build_all(tmp.path())?;
    let committed = files(&vectors_dir())?.into_iter().filter(|(p, _)| p.components().count() > 1).collect::<Vec<_>>();
    let fresh = files(tmp.path())?;
    let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    const REGEN: &str = "if the format change is intended, regenerate with ORCHESTRA_REGEN_VECTORS=1 \
                         cargo test --test it audit_vectors::vectors_are_reproducible and update FORMAT.md";
    assert_eq!(names(&committed), names(&fresh), "the vector files differ; {REGEN}");
    for ((p, a), (_, b)) in committed.iter().zip(&fresh) {
        assert!(a == b, "vector file {} differs from what the writer produces now; {REGEN}", p.display());
    }
    Ok(())
}

/// Both verifiers give every committed vector its expected verdict and code.
#[test]
fn both_verifiers_agree_on_every_vector() -> TestResult {
    let mut n = 0;
    for e in std::fs::read_dir(vectors_dir())? {
        let d = e?.path();
        if !d.is_dir() {
            continue;
        }
        let exp: Value = serde_json::from_slice(&std::fs::read(d.join("expected.json"))?)?;
        let name = d.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let trusted = d.join("trusted.pub");
        let trusted = trusted.exists().then_some(trusted);
        let since = d.join("since.checkpoint");
        let since = since.exists().then_some(since);
        let verdict = exp["verdict"].as_str().ok_or("verdict")?;
        let code = exp["code"].as_str();
        let torn = exp["torn_tail"].as_bool().unwrap_or(false);
        // Verify a copy: the committed files stay untouched.
        let tmp = tempfile::tempdir()?;
        copy_dir(&d.join("log"), tmp.path())?;
        let r = verify_rust(tmp.path(), trusted.as_deref(), since.as_deref())?;
        check(&name, "orchestra", &r, verdict, code, torn);
        let p = verify_python(tmp.path(), trusted.as_deref(), since.as_deref())?;
        check(&name, "verify.py", &p, verdict, code, torn);
        assert_eq!((r.records, r.checkpoints, r.authenticated), (p.records, p.checkpoints, p.authenticated), "{name}");
        n += 1;
    }
    assert!(n >= 20, "expected at least 20 vectors, found {n}");
    Ok(())
}

fn orchestra(args: &[&str], cwd: &Path, key: &Path) -> Result<std::process::Output, Box<dyn std::error::Error>> {
    Ok(Command::new(bin()).args(args).current_dir(cwd).env("ORCHESTRA_AUDIT_KEY", key).output()?)
}

/// Logs written by the real binary (keygen, checkpoint, rotate, the
/// library writer with production options) pass both verifiers alike.
#[test]
fn both_verifiers_agree_on_logs_the_binary_wrote() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let key = tmp.path().join("keys/audit.key");
    let dir = tmp.path().join(".orchestra/audit");
    let out = orchestra(&["audit", "keygen"], tmp.path(), &key)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pubkey = tmp.path().join("keys/audit.key.pub");
    let k = orchestra::audit::load_key(&key)?;
    {
        let mut log = orchestra::audit::AuditLog::open(&dir, &k)?;
        for i in 0..2500 {
            let (kind, body) = exec_record(i);
            log.append(kind, body)?;
        }
    }
    let out = orchestra(&["audit", "checkpoint", "--export", "cp1"], tmp.path(), &key)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = orchestra(&["audit", "rotate"], tmp.path(), &key)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k2 = orchestra::audit::load_key(&key)?;
    {
        let mut log = orchestra::audit::AuditLog::open(&dir, &k2)?;
        log.append("task_started", json!({"task": "after-rotation"}))?;
    }
    let cp = tmp.path().join("cp1");
    for (trusted, label) in [(tmp.path().join("orig.pub"), "original key"), (pubkey.clone(), "rotated key")] {
        if label == "original key" {
            std::fs::write(&trusted, format!("{}\n", k.verifier().encode()))?;
        }
        let r = verify_rust(&dir, Some(&trusted), Some(&cp))?;
        let p = verify_python(&dir, Some(&trusted), Some(&cp))?;
        check(label, "orchestra", &r, "ok", None, false);
        check(label, "verify.py", &p, "ok", None, false);
        assert_eq!((r.records, r.checkpoints, r.authenticated), (p.records, p.checkpoints, p.authenticated), "{label}");
        assert_eq!(r.records, 2503);
    }
    Ok(())
}
