//! Forward-secure epochs (issue 17, item 10): a log on `audit rotate
//! --forward-secure EPOCH` gets a key of its own, every writer replaces it when
//! the epoch is over and destroys the old private key, so a thief of the key in
//! force cannot re-sign an earlier epoch. Tested on logs the real binary wrote.

use crate::harness::audit::{decode, load, resign_all, store};
use crate::harness::world::World;
use orchestra::audit::format::FRAME_RECORD;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

fn exec_true(w: &World) {
    let o = w.orchestra(&["exec", "--audit-dir", &log(w), "--", "true"]);
    assert_eq!(o.code, 0, "{}", o.all());
}

fn ring(w: &World) -> PathBuf {
    PathBuf::from(format!("{}.ring", w.key.display()))
}

/// The private key files in the ring, by key id.
fn ring_keys(w: &World) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ring(w))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".key")).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The key id in force in the log, from `audit verify --json`.
fn key_in_force(w: &World) -> String {
    let o = w.orchestra(&["audit", "verify", &log(w), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.all()));
    v["last_checkpoint"]["key_id"].as_str().unwrap_or_else(|| panic!("no key id in {v}")).to_string()
}

/// Every file under `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir(dir) {
        for e in d.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_bytes(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.extend(b);
            }
        }
    }
    out
}

#[test]
fn a_stolen_key_in_force_cannot_rewrite_an_earlier_epoch() {
    let w = World::create("audit-fs", "fs", "");
    exec_true(&w);
    let pin = format!("{}.pub", w.key.display());
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "1s"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("forward-secure epochs of 1s"), "{}", o.all());
    let first_epoch = key_in_force(&w);
    let first_private = std::fs::read_to_string(ring(&w).join(format!("{first_epoch}.key"))).expect("epoch key");
    exec_true(&w);
    // Two epochs later, two writers have each moved on and destroyed the old key.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        exec_true(&w);
    }
    let now = key_in_force(&w);
    assert_ne!(now, first_epoch, "the key did not evolve");
    assert!(!ring_keys(&w).contains(&first_epoch), "the first epoch's key is still in the ring: {:?}", ring_keys(&w));
    let secret = first_private.trim().as_bytes();
    let everything =
        [all_bytes(&ring(&w)), all_bytes(w.key.parent().expect("key dir")), all_bytes(&w.root.join("log"))].concat();
    assert!(!everything.windows(secret.len()).any(|x| x == secret), "the first epoch's private key is still on disk");
    let facts = std::fs::read_to_string(ring(&w).join(format!("{first_epoch}.epoch"))).expect("epoch facts");
    assert!(facts.contains("destroyed_us"), "{facts}");
    // The log verifies under the key the reviewer pinned before it all.
    let v = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]);
    assert_eq!(v.code, 0, "{}", v.all());

    // The thief has the key in force and rewrites the first task (an earlier epoch).
    let stolen = orchestra::audit::load_key(&ring(&w).join(format!("{now}.key"))).expect("stolen key");
    let dir = w.root.join("log");
    let mut segs = load(&dir).expect("load");
    let target = segs
        .iter_mut()
        .flat_map(|s| s.frames.iter_mut())
        .find(|f| f.ty == FRAME_RECORD && decode(f).kind == "task_started")
        .expect("a task_started record");
    let mut r = decode(target);
    let body = String::from_utf8(r.body.clone()).expect("utf-8");
    assert!(body.contains("\"true\""), "{body}");
    let body = body.replace("\"true\"", "\"echo\"");
    r.body = body.into_bytes();
    target.payload = r.encode();
    resign_all(&mut segs, &stolen);
    store(&dir, &segs).expect("store");
    let v = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin, "--json"]);
    assert_eq!(v.code, 4, "the rewritten past verifies: {}", v.all());
    let report: serde_json::Value = serde_json::from_str(&v.stdout).expect("json");
    let code = report["first_error"]["code"].as_str().unwrap_or_default().to_string();
    assert!(["checkpoint_signature", "rotation", "untrusted_key"].contains(&code.as_str()), "{code}: {report}");
    // And the independent verifier agrees.
    let py = std::process::Command::new("python3")
        .arg(crate::harness::audit::verify_py_path())
        .args(["--trusted-key", &pin])
        .arg(&dir)
        .output()
        .expect("python3");
    assert_eq!(py.status.code(), Some(4), "{}", String::from_utf8_lossy(&py.stdout));
}

#[test]
fn leaving_forward_secure_epochs_destroys_the_last_epoch_key_and_keeps_the_shared_one() {
    let w = World::create("audit-fs", "leave", "");
    exec_true(&w);
    let shared = orchestra::audit::load_key(&w.key).expect("default key").verifier().id_hex();
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "1h"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("a pin on") && o.stdout.contains("does not protect the epochs"), "{}", o.all());
    let epoch = key_in_force(&w);
    exec_true(&w);
    assert_eq!(key_in_force(&w), epoch, "the key changed within its epoch");
    let o = w.orchestra(&["audit", "rotate", &log(&w)]);
    assert_eq!(o.code, 0, "{}", o.all());
    let keys = ring_keys(&w);
    assert!(!keys.contains(&epoch), "the left epoch key was kept: {keys:?}");
    assert!(keys.contains(&shared), "the shared key was destroyed: {keys:?}");
    let v = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &format!("{}.pub", w.key.display())]);
    assert_eq!(v.code, 0, "{}", v.all());
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "0s"]);
    assert_eq!(o.code, 1, "usage error: {}", o.all());
}

/// Whoever steals the shared key the log was signed with before its epochs
/// (it stays on disk for the other logs) can fork the log at the rotation into
/// the first epoch; a reviewer who pinned the first epoch key, as `rotate
/// --forward-secure` tells them to, sees the fork (found by an outside review).
#[test]
fn a_stolen_shared_key_cannot_fork_the_epochs_for_a_reviewer_pinning_the_first_epoch_key() {
    let w = World::create("audit-fs", "fork", "");
    exec_true(&w);
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "1h"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let first_epoch = key_in_force(&w);
    let epoch_pin = ring(&w).join(format!("{first_epoch}.pub"));
    assert!(o.stdout.contains(&epoch_pin.display().to_string()), "{}", o.all());
    let outside = w.root.join("outside.txt");
    let v =
        w.orchestra(&["exec", "--audit-dir", &log(&w), "--", "sh", "-c", &format!("echo x > '{}'", outside.display())]);
    assert_eq!(v.code, 4, "{}", v.all());
    let pin = epoch_pin.display().to_string();
    let ok = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]);
    assert_eq!(ok.code, 0, "the epoch pin verifies the real log: {}", ok.all());

    // The thief cuts the log just before the rotation into the first epoch
    // and, with the shared key, starts epochs of their own and writes a clean history.
    let dir = w.root.join("log");
    let mut segs = load(&dir).expect("load");
    let (si, fi) = segs
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.frames.iter().enumerate().map(move |(j, f)| (i, j, f)))
        .find(|(_, _, f)| f.ty == FRAME_RECORD && decode(f).kind == "key_rotation")
        .map(|(i, j, _)| (i, j))
        .expect("the rotation record");
    segs.truncate(si + 1);
    segs[si].frames.truncate(fi);
    store(&dir, &segs).expect("store");
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "1h"]);
    assert_eq!(o.code, 0, "{}", o.all());
    exec_true(&w);
    let forged = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin, "--json"]);
    assert_eq!(forged.code, 4, "the fork verifies under the first epoch pin: {}", forged.all());
    assert!(forged.stdout.contains("untrusted_key"), "{}", forged.stdout);
    // (A pin on the shared key itself does not see the fork: the documented limit.)
    let shared = format!("{}.pub", w.key.display());
    assert_eq!(w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &shared]).code, 0);
}

/// Eight execs that all find the epoch over rotate it once, and no past
/// epoch key survives (found by an outside review: each rotated and left the
/// others' keys behind).
#[test]
fn concurrent_writers_at_an_epoch_end_rotate_once_and_leave_no_past_key() {
    let w = World::create("audit-fs", "race", "");
    exec_true(&w);
    let shared = orchestra::audit::load_key(&w.key).expect("default key").verifier().id_hex();
    let o = w.orchestra(&["audit", "rotate", &log(&w), "--forward-secure", "1s"]);
    assert_eq!(o.code, 0, "{}", o.all());
    std::thread::sleep(Duration::from_millis(1200));
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut c = w.command();
            c.args(["exec", "--audit-dir", &log(&w), "--", "true"]);
            c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
            c.spawn().expect("spawn exec")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("exec");
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let rotations = w.orchestra(&["audit", "show", &log(&w), "--kind", "key_rotation", "--json"]);
    assert_eq!(rotations.stdout.lines().count(), 2, "one switch into epochs and one evolution: {}", rotations.stdout);
    let now = key_in_force(&w);
    let keys = ring_keys(&w);
    assert_eq!(keys.len(), 2, "the shared key and the epoch key in force only: {keys:?}");
    assert!(keys.contains(&now) && keys.contains(&shared), "{keys:?}");
    let pin = format!("{}.pub", w.key.display());
    assert_eq!(w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]).code, 0);
}
