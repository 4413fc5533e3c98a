//! Anchors (issue 17, item 9, directory anchors): writers push every closing
//! checkpoint to `$ORCHESTRA_AUDIT_ANCHOR`; `audit verify --anchor` detects a
//! truncated, rolled-back or replaced log from the anchor alone, and
//! `--max-age` shows a writer or heartbeat that stopped anchoring. On logs
//! the real binary wrote.

use crate::harness::out::Out;
use crate::harness::world::World;
use std::time::Duration;

fn world(name: &str) -> (World, String) {
    let w = World::create("audit-anchor", name, "");
    let url = format!("file://{}", w.root.join("anchor").display());
    let w = w.with_env("ORCHESTRA_AUDIT_ANCHOR", &url);
    (w, url)
}

/// The log directory of a world (shared with `audit_anchor_s3`).
pub(crate) fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

pub(crate) fn exec(w: &World, cmd: &str) -> Out {
    w.orchestra(&["exec", "--audit-dir", &log(w), "--", "sh", "-c", cmd])
}

/// `audit verify --anchor URL --trusted-key PIN --json [extra]`: (exit, failure code, all output).
pub(crate) fn verify(w: &World, url: &str, extra: &[&str]) -> (i32, String, String) {
    let (pin, l) = (format!("{}.pub", w.key.display()), log(w));
    let mut args = vec!["audit", "verify", &l, "--trusted-key", &pin, "--anchor", url, "--json"];
    args.extend_from_slice(extra);
    let o = w.orchestra(&args);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    let code = v["first_error"]["code"].as_str().unwrap_or("").to_string();
    (o.code, code, o.all())
}

#[test]
fn a_truncated_or_replaced_log_is_caught_by_the_anchor_alone() {
    let (w, url) = world("trunc");
    assert_eq!(exec(&w, "true").code, 0);
    let seg = w.root.join("log/00000000000000000000.seg");
    let after_first = std::fs::metadata(&seg).expect("segment").len();
    let outside = w.root.join("outside.txt");
    let o = exec(&w, &format!("echo x > '{}'", outside.display()));
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(!outside.exists(), "the violation took effect");
    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");
    let anchored = std::fs::read_dir(w.root.join("anchor")).expect("anchor dir").count();
    assert_eq!(anchored, 1, "one log directory in the anchor");

    // Cut the log back to before the violation (a clean cut at a checkpoint:
    // the log alone still verifies).
    let keep = std::fs::read(&seg).expect("segment");
    std::fs::write(&seg, &keep[..after_first as usize]).expect("truncate");
    let pin = format!("{}.pub", w.key.display());
    let alone = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]);
    assert_eq!(alone.code, 0, "without the anchor the cut is invisible: {}", alone.all());
    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (4, "since_checkpoint"), "{all}");

    // Replace the whole log by a fresh one: nothing of it is anchored.
    std::fs::remove_dir_all(w.root.join("log")).expect("remove log");
    let mut c = w.command();
    c.env_remove("ORCHESTRA_AUDIT_ANCHOR").args(["exec", "--audit-dir", &log(&w), "--", "true"]);
    assert_eq!(w.run_with(c).code, 0);
    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (4, "anchor_empty"), "{all}");
}

#[test]
fn a_stopped_heartbeat_shows_and_a_new_one_clears_it() {
    let (w, url) = world("beat");
    assert_eq!(exec(&w, "true").code, 0);
    std::thread::sleep(Duration::from_millis(1300));
    let (code, failure, all) = verify(&w, &url, &["--max-age", "1s"]);
    assert_eq!((code, failure.as_str()), (4, "anchor_stale"), "{all}");
    let o = w.orchestra(&["audit", "anchor", &log(&w), "--to", &url]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("(1 new)"), "{}", o.all());
    let (code, failure, all) = verify(&w, &url, &["--max-age", "1s"]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");
    let beats = w.orchestra(&["audit", "show", &log(&w), "--kind", "heartbeat", "--json"]);
    assert_eq!(beats.stdout.lines().count(), 1, "{}", beats.all());
}

#[test]
fn an_unusable_anchor_setting_runs_nothing() {
    let w = World::create("audit-anchor", "bad", "").with_env("ORCHESTRA_AUDIT_ANCHOR", "relative/dir");
    let marker = w.ws.join("marker");
    let o = w.orchestra(&["exec", "--audit-dir", &log(&w), "--", "sh", "-c", "echo ran > marker"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("ORCHESTRA_AUDIT_ANCHOR") && o.stderr.contains("nothing ran"), "{}", o.all());
    assert!(!marker.exists(), "the task ran");
    let (code, _, all) = verify(&w, &format!("file://{}", w.root.join("empty").display()), &[]);
    assert_eq!(code, 1, "no log at all: {all}");
}
