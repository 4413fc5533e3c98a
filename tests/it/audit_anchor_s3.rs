//! S3 anchors (issue 17, item 9): the same guarantees as directory anchors,
//! against a real S3 server (SeaweedFS, started per test): exec pushes its
//! checkpoint, `audit verify --anchor s3://...` catches a cut, replaced or
//! stale log, a second head for a size is refused, an unreachable endpoint is
//! a warning for exec and exit 1 for verify; what object lock the server
//! enforces is observed, not assumed.

use crate::harness::out::Out;
use crate::harness::s3::Seaweed;
use crate::harness::world::World;
use orchestra::audit::anchor::{Anchor, AnchorError, Pushed};
use orchestra::audit::checkpoint::Checkpoint;
use orchestra::audit::keys::AuditKey;
use std::time::Duration;

fn world(name: &str) -> (World, Seaweed) {
    let w = World::create("audit-anchor-s3", name, "");
    let s3 = Seaweed::start(&w.root);
    let mut w = w;
    for (k, v) in s3.env() {
        w = w.with_env(k, v);
    }
    (w, s3)
}

fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

fn exec(w: &World, cmd: &str) -> Out {
    w.orchestra(&["exec", "--audit-dir", &log(w), "--", "sh", "-c", cmd])
}

/// `audit verify --anchor URL --trusted-key PIN --json [extra]`: (exit, failure code, all output).
fn verify(w: &World, url: &str, extra: &[&str]) -> (i32, String, String) {
    let (pin, l) = (format!("{}.pub", w.key.display()), log(w));
    let mut args = vec!["audit", "verify", &l, "--trusted-key", &pin, "--anchor", url, "--json"];
    args.extend_from_slice(extra);
    let o = w.orchestra(&args);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    let code = v["first_error"]["code"].as_str().unwrap_or("").to_string();
    (o.code, code, o.all())
}

fn note(size: u64, head: u8) -> String {
    Checkpoint { log_id: [9; 16], size, head: [head; 32], time_us: 1 }.sign(&AuditKey::from_seed([2; 32]))
}

#[test]
fn an_exec_anchors_in_s3_and_verify_catches_a_cut_replaced_or_stale_log() {
    let (w, s3) = world("exec");
    s3.create_bucket("notes", false);
    let url = s3.url("notes", "");
    let w = w.with_env("ORCHESTRA_AUDIT_ANCHOR", &url);
    assert_eq!(exec(&w, "true").code, 0);
    let seg = w.root.join("log/00000000000000000000.seg");
    let after_first = std::fs::metadata(&seg).expect("segment").len();
    let o = exec(&w, "echo more");
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!o.stderr.contains("warning"), "{}", o.all());

    // Both closing checkpoints are objects in the bucket, under the log's id.
    let id = orchestra::cli::anchor::log_id(&w.root.join("log")).expect("log id");
    let (good, bad) = Anchor::S3(s3.anchor("notes", "")).notes(&id).expect("list the bucket");
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good.len(), 2, "one note per exec");
    let (code, failure, all) = verify(&w, &url, &["--max-age", "1h"]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");

    // A clean cut back to the first exec: only the anchor shows it.
    let keep = std::fs::read(&seg).expect("segment");
    std::fs::write(&seg, &keep[..after_first as usize]).expect("truncate");
    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (4, "since_checkpoint"), "{all}");

    // A stale anchor: nothing anchored for longer than --max-age.
    std::fs::write(&seg, &keep).expect("restore");
    std::thread::sleep(Duration::from_millis(1300));
    let (code, failure, all) = verify(&w, &url, &["--max-age", "1s"]);
    assert_eq!((code, failure.as_str()), (4, "anchor_stale"), "{all}");

    // A replaced log: none of it is anchored.
    std::fs::remove_dir_all(w.root.join("log")).expect("remove log");
    let mut c = w.command();
    c.env_remove("ORCHESTRA_AUDIT_ANCHOR").args(["exec", "--audit-dir", &log(&w), "--", "true"]);
    assert_eq!(w.run_with(c).code, 0);
    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (4, "anchor_empty"), "{all}");
}

#[test]
fn a_second_head_for_an_anchored_size_is_refused_and_the_first_is_kept() {
    let (w, s3) = world("fork");
    s3.create_bucket("notes", false);
    let a = Anchor::S3(s3.anchor("notes", ""));
    assert_eq!(a.push(&note(3, 1)).expect("push"), Pushed::New);
    assert_eq!(a.push(&note(3, 1)).expect("push again"), Pushed::Already);
    let refused = a.push(&note(3, 2));
    assert!(matches!(refused, Err(AnchorError::Conflict { size: 3, .. })), "{refused:?}");
    let (good, _) = a.notes(&[9; 16]).expect("list");
    assert_eq!(good.iter().map(|c| (c.checkpoint.size, c.checkpoint.head[0])).collect::<Vec<_>>(), vec![(3, 1)]);

    // What the server does with the conditional put itself (the anchor reads
    // first, so this is the race window): SeaweedFS refuses it with 412.
    let s = s3.anchor("notes", "");
    let key = "anchors/09090909090909090909090909090909/00000000000000000003.note";
    let r = s.request("PUT", key, &[], &[("if-none-match", "*".into())], note(3, 2).as_bytes()).expect("put");
    assert_eq!(r.status, 412, "If-None-Match: * on an existing object: {}", String::from_utf8_lossy(&r.body));
    let (good, _) = a.notes(&[9; 16]).expect("list");
    assert_eq!(good[0].checkpoint.head[0], 1, "the first note is kept");
    drop(w);
}
