//! Merkle proofs (issue 17, item 8): `orchestra audit prove inclusion|consistency`
//! on logs the real binary wrote, checked by the independent verifier
//! (`audit/verify.py --inclusion-proof / --consistency-proof`) with the
//! reviewer's trusted key only, never the log; and what a rewritten log, a
//! forged proof, another key, a stale tile store and a format-1 log do.

use crate::harness::audit::{self as a, python, verify_py_path};
use crate::harness::out::Out;
use crate::harness::world::World;
use orchestra::audit::format::FRAME_RECORD;
use serde_json::Value;
use std::path::Path;

fn world(name: &str) -> World {
    World::create("audit-prove", name, "")
}

fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

fn exec(w: &World, cmd: &str) -> Out {
    w.orchestra(&["exec", "--audit-dir", &log(w), "--", "sh", "-c", cmd])
}

fn prove(w: &World, args: &[&str]) -> Out {
    let l = log(w);
    let mut v = vec!["audit", "prove"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--dir", &l]);
    w.orchestra(&v)
}

/// verify.py on a proof: (exit status, its JSON answer).
fn check(key: &Path, proof_args: &[&str]) -> (i32, Value) {
    let o = std::process::Command::new(python().expect("python3 with cryptography is required"))
        .arg(verify_py_path())
        .arg("--trusted-key")
        .arg(key)
        .args(proof_args)
        .arg("--json")
        .output()
        .expect("python3 runs");
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v)
}

fn write(w: &World, name: &str, text: &str) -> String {
    let p = w.root.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn pin(w: &World) -> std::path::PathBuf {
    w.key.with_extension("key.pub")
}

#[test]
fn every_record_has_an_inclusion_proof_the_python_verifier_accepts() {
    let w = world("incl");
    for cmd in ["true", "echo hello", "exit 3"] {
        exec(&w, cmd);
    }
    let outside = w.root.join("outside.txt");
    let o = exec(&w, &format!("echo x > '{}'", outside.display()));
    assert_eq!(o.code, 4, "{}", o.all());
    let records = a::load(Path::new(&log(&w)))
        .expect("log")
        .iter()
        .flat_map(|s| s.frames.clone())
        .filter(|f| f.ty == FRAME_RECORD)
        .count();
    assert!(records > 10, "{records}");
    let mut kinds = Vec::new();
    for seq in 0..records {
        let o = prove(&w, &["inclusion", &seq.to_string()]);
        assert_eq!(o.code, 0, "{}", o.all());
        assert!(o.stdout.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{}", o.stdout);
        let p = write(&w, "p.proof", &o.stdout);
        let (code, v) = check(&pin(&w), &["--inclusion-proof", &p]);
        assert_eq!((code, v["verdict"].as_str()), (0, Some("ok")), "record {seq}: {v}");
        assert_eq!(v["seq"], seq as u64);
        kinds.push(v["kind"].as_str().unwrap_or("").to_string());
    }
    assert!(kinds.iter().any(|k| k == "violation"), "{kinds:?}");

    // The proof of the violation, swapped for another record: refused.
    let seq = kinds.iter().position(|k| k == "violation").expect("a violation");
    let good = prove(&w, &["inclusion", &seq.to_string()]).stdout;
    let other = prove(&w, &["inclusion", "1"]).stdout;
    let extra = |t: &str| t.lines().nth(1).unwrap_or("").to_string();
    let forged = good.replacen(&extra(&good), &extra(&other), 1);
    let p = write(&w, "forged.proof", &forged);
    let (code, v) = check(&pin(&w), &["--inclusion-proof", &p]);
    assert_eq!((code, v["code"].as_str()), (4, Some("proof")), "{v}");
    // A record not covered by the checkpoint named: exit 1, nothing printed.
    let o = prove(&w, &["inclusion", "3", "--checkpoint", "2"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stdout.is_empty());
    // Another key does not vouch for the checkpoint.
    let other_key = write(&w, "other.pub", &format!("{}\n", a::attacker().verifier().encode()));
    let p = write(&w, "p.proof", &good);
    let (code, v) = check(Path::new(&other_key), &["--inclusion-proof", &p]);
    assert_eq!((code, v["code"].as_str()), (4, Some("proof_signature")), "{v}");
}

#[test]
fn todays_log_extends_last_months_checkpoint_and_a_rewrite_does_not() {
    let w = world("cons");
    exec(&w, "true");
    let old = w.root.join("old.note").display().to_string();
    let o = w.orchestra(&["audit", "checkpoint", &log(&w), "--export", &old]);
    assert_eq!(o.code, 0, "{}", o.all());
    for _ in 0..3 {
        exec(&w, "echo more");
    }
    let o = prove(&w, &["consistency", &old]);
    assert_eq!(o.code, 0, "{}", o.all());
    let p = write(&w, "c.proof", &o.stdout);
    let (code, v) = check(&pin(&w), &["--consistency-proof", &p, "--old-checkpoint", &old]);
    assert_eq!((code, v["verdict"].as_str()), (0, Some("ok")), "{v}");
    assert!(v["size"].as_u64() > v["old_size"].as_u64(), "{v}");

    // The key holder rewrites history (one record of the first exec changed,
    // everything re-chained and re-signed, the tile store rebuilt by the next
    // prove): the log verifies on its own, but does not extend the old checkpoint.
    let dir = w.root.join("log");
    let mut segs = a::load(&dir).expect("log");
    let (i, j) = a::record_positions(&segs)[2];
    let mut r = a::decode(&segs[i].frames[j]);
    r.time_us += 1;
    segs[i].frames[j].payload = r.encode();
    let key = orchestra::audit::load_key(&w.key).expect("the world's key");
    a::resign_all(&mut segs, &key);
    a::store(&dir, &segs).expect("store");
    let alone = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin(&w).display().to_string()]);
    assert_eq!(alone.code, 0, "{}", alone.all());
    let o = prove(&w, &["consistency", &old]);
    assert_eq!(o.code, 0, "{}", o.all());
    let p = write(&w, "c.proof", &o.stdout);
    let (code, v) = check(&pin(&w), &["--consistency-proof", &p, "--old-checkpoint", &old]);
    assert_eq!((code, v["code"].as_str()), (4, Some("proof")), "{v}");
}

#[test]
fn a_stale_tile_store_is_rebuilt_and_records_that_disagree_with_their_checkpoint_are_exit_4() {
    let w = world("tiles");
    for _ in 0..3 {
        exec(&w, "true");
    }
    assert_eq!(prove(&w, &["inclusion", "5"]).code, 0);
    // Garbage in the derived store: proofs still come out right.
    let h0 = w.root.join("log/tiles/h00");
    let len = std::fs::metadata(&h0).expect("tile store").len() as usize;
    std::fs::write(&h0, vec![0x55u8; len]).expect("overwrite");
    let o = prove(&w, &["inclusion", "5"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let p = write(&w, "p.proof", &o.stdout);
    assert_eq!(check(&pin(&w), &["--inclusion-proof", &p]).0, 0);
    // A record changed without re-signing: no proof of it, exit 4.
    let dir = w.root.join("log");
    let mut segs = a::load(&dir).expect("log");
    let (i, j) = a::record_positions(&segs)[5];
    let mut r = a::decode(&segs[i].frames[j]);
    r.time_us += 1;
    segs[i].frames[j].payload = r.encode();
    a::store(&dir, &segs).expect("store");
    let o = prove(&w, &["inclusion", "5"]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.stdout.is_empty());
    assert!(o.stderr.contains("do not match the signed checkpoint"), "{}", o.stderr);
}

#[test]
fn a_format_1_log_has_no_proofs_and_says_why() {
    let w = world("v1");
    let dir = w.root.join("log");
    std::fs::create_dir_all(&dir).expect("mkdir");
    a::write_log_with(&dir, &a::owner(), 6, orchestra::audit::OpenOptions { format: 1, ..a::det_opts(1 << 20) })
        .expect("v1 log");
    let o = prove(&w, &["inclusion", "1"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("format 1"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
}

/// Outside review: a record appended without the key and adopted by the next
/// writer is in the signed tree, but `prove` makes no proof of it (it would
/// read as "signed by" the key).
#[test]
fn an_adopted_record_gets_no_proof() {
    let w = world("adopted");
    exec(&w, "true");
    let body = serde_json::json!({"task": "forged", "cause": "ok"});
    let forged = a::append_unsigned(&w.root.join("log"), "task_ended", &body).expect("append");
    exec(&w, "true"); // adopts it
    let o = prove(&w, &["inclusion", &forged.seq.to_string()]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("adopted"), "{}", o.stderr);
    assert!(o.stdout.is_empty());
    assert_eq!(prove(&w, &["inclusion", &(forged.seq - 1).to_string()]).code, 0);
}

/// Outside review: a sparse 1 GiB leaf level, or a tile store that is a file,
/// costs the next writer nothing noticeable, and `prove` for an old
/// checkpoint does not shrink the shared store.
#[test]
fn a_damaged_or_huge_tile_store_does_not_stall_or_break_writers() {
    let w = world("huge");
    for _ in 0..3 {
        exec(&w, "true");
    }
    assert_eq!(prove(&w, &["inclusion", "1"]).code, 0);
    let h00 = w.root.join("log/tiles/h00");
    let full = std::fs::metadata(&h00).expect("h00").len();
    assert_eq!(prove(&w, &["inclusion", "0", "--checkpoint", "1"]).code, 0);
    assert_eq!(std::fs::metadata(&h00).expect("h00").len(), full, "prove cut the shared store");
    std::fs::OpenOptions::new().write(true).open(&h00).and_then(|f| f.set_len(1 << 30)).expect("grow");
    let t = std::time::Instant::now();
    assert_eq!(exec(&w, "true").code, 0);
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "{:?}", t.elapsed());
    std::fs::remove_dir_all(w.root.join("log/tiles")).expect("rm");
    std::fs::write(w.root.join("log/tiles"), "not a directory").expect("file");
    assert_eq!(exec(&w, "true").code, 0);
    let o = prove(&w, &["inclusion", "2"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.root.join("log/tiles")).expect("tiles").permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the tile store is private: {mode:o}");
}

/// Outside review: verify.py reads proofs and notes byte for byte (a CRLF
/// copy is refused, as FORMAT.md §7.2 says) and agrees with the Rust
/// verifier on which files are segments.
#[test]
fn the_python_verifier_refuses_crlf_proofs_and_odd_segment_names() {
    let w = world("crlf");
    exec(&w, "true");
    let good = prove(&w, &["inclusion", "1"]).stdout;
    let p = write(&w, "crlf.proof", &good.replace('\n', "\r\n"));
    assert_eq!(check(&pin(&w), &["--inclusion-proof", &p]).0, 1);
    let seg = w.root.join("log/00000000000000000000.seg");
    std::fs::rename(&seg, w.root.join("log/00000000000000000000.seg\n")).expect("rename");
    let o = std::process::Command::new(python().expect("python3"))
        .arg(verify_py_path())
        .arg(w.root.join("log"))
        .arg("--json")
        .output()
        .expect("verify.py");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert_eq!(v["code"], "empty", "{v}");
}
