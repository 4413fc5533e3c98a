//! S3 anchors (issue 17, item 9): the same guarantees as directory anchors,
//! against a real S3 server (SeaweedFS, started per test): exec pushes its
//! checkpoint, `audit verify --anchor s3://...` catches a cut, replaced or
//! stale log, a second head for a size is refused, an unreachable endpoint is
//! a warning for exec and exit 1 for verify; what object lock the server
//! enforces is observed, not assumed.

use crate::audit_anchor::{exec, log, verify};
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

fn note(size: u64, head: u8) -> String {
    Checkpoint { log_id: [9; 16], size, head: [head; 32], time_us: 1, root: Some([head; 32]) }
        .sign(&AuditKey::from_seed([2; 32]))
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
    // The anchor's credentials never reach the task (a secret-looking
    // variable is at most a canary there).
    let o = exec(&w, "env | grep -c orchestra-test > seen-count || true");
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!o.stderr.contains("warning"), "{}", o.all());
    let seen = std::fs::read_to_string(w.ws.join("seen-count")).expect("the task ran");
    assert_eq!(seen, "0\n", "the anchor's credentials reached the task");

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
    // A heartbeat anchors a fresh checkpoint in the bucket.
    let o = w.orchestra(&["audit", "anchor", &log(&w), "--to", &url]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("(1 new)"), "{}", o.all());
    let (code, failure, all) = verify(&w, &url, &["--max-age", "1m"]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");

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

#[test]
fn an_unreachable_s3_anchor_is_a_warning_for_exec_and_exit_1_for_verify() {
    let w = World::create("audit-anchor-s3", "down", "");
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("s3://notes?endpoint=http://127.0.0.1:{port}");
    let w = w
        .with_env("ORCHESTRA_AUDIT_ANCHOR", &url)
        .with_env("AWS_ACCESS_KEY_ID", "k")
        .with_env("AWS_SECRET_ACCESS_KEY", "s");
    let made = w.ws.join("made");
    let o = exec(&w, "echo ran > made");
    assert_eq!(o.code, 0, "the verdict is the task's: {}", o.all());
    assert_eq!(std::fs::read_to_string(&made).expect("the task ran"), "ran\n");
    let warned: Vec<&str> = o.stderr.lines().filter(|l| l.contains("cannot anchor")).collect();
    assert_eq!(warned.len(), 1, "{}", o.all());
    assert!(warned[0].contains("warning") && warned[0].contains("unreachable"), "{}", warned[0]);

    let (code, _, all) = verify(&w, &url, &[]);
    assert_eq!(code, 1, "{all}");
    let errors: Vec<&str> = all.lines().filter(|l| l.contains("orchestra: error")).collect();
    assert_eq!(errors.len(), 1, "{all}");
    assert!(errors[0].contains("unreachable") && errors[0].contains("not verified"), "{}", errors[0]);
}

#[test]
fn a_note_in_a_locked_bucket_has_a_compliance_retention_and_survives_delete_and_overwrite() {
    let (w, s3) = world("lock");
    s3.create_bucket("locked", true);
    s3.create_bucket("plain", false);
    let locked = s3.anchor("locked", "&retain=2");
    assert!(locked.object_lock_enabled().expect("ask the bucket"), "SeaweedFS reports object lock enabled");
    assert!(!s3.anchor("plain", "").object_lock_enabled().expect("ask the bucket"));
    assert_eq!(Anchor::S3(locked.clone()).push(&note(5, 1)).expect("push"), Pushed::New);
    let key = "anchors/09090909090909090909090909090909/00000000000000000005.note";
    let head = locked.request("GET", key, &[("retention", "")], &[], b"").expect("get retention");
    let body = String::from_utf8_lossy(&head.body).into_owned();
    assert_eq!(head.status, 200, "{body}");
    assert!(body.contains("<Mode>COMPLIANCE</Mode>"), "{body}");
    assert!(body.contains("<RetainUntilDate>"), "{body}");

    // lock=compliance on a bucket without object lock is refused, not ignored.
    let strict = Anchor::S3(s3.anchor("plain", "&lock=compliance"));
    let r = strict.push(&note(5, 1));
    assert!(matches!(&r, Err(AnchorError::S3 { reason, .. }) if reason.contains("no object lock")), "{r:?}");

    // What SeaweedFS enforces (observed): a DELETE without a version adds a
    // delete marker (as S3 does: the note leaves the plain listing), a DELETE
    // of the locked version is refused (403), an overwrite adds a version.
    // The anchor reads every version of a locked bucket: the note stays.
    let del = locked.request("DELETE", key, &[], &[], b"").expect("delete");
    assert_eq!(del.status, 204, "{}", String::from_utf8_lossy(&del.body));
    let over = locked.request("PUT", key, &[], &[], note(5, 7).as_bytes()).expect("overwrite");
    assert_eq!(over.status, 200, "{}", String::from_utf8_lossy(&over.body));
    let listing = locked.request("GET", "", &[("versions", ""), ("prefix", "anchors/")], &[], b"").expect("versions");
    let listing = String::from_utf8_lossy(&listing.body).into_owned();
    let ids: Vec<&str> = listing.split("<VersionId>").skip(1).filter_map(|x| x.split('<').next()).collect();
    assert_eq!(ids.len(), 3, "note, delete marker, overwrite: {listing}");
    let original = ids[2];
    let refused = locked.request("DELETE", key, &[("versionId", original)], &[], b"").expect("delete version");
    assert_eq!(
        refused.status,
        403,
        "COMPLIANCE retention refuses the delete: {}",
        String::from_utf8_lossy(&refused.body)
    );
    let (good, bad) = Anchor::S3(locked.clone()).notes(&[9; 16]).expect("list");
    assert_eq!(good.iter().map(|c| (c.checkpoint.size, c.checkpoint.head[0])).collect::<Vec<_>>(), vec![(5, 1)]);
    assert_eq!(bad.len(), 2, "the marker and the overwrite are reported: {bad:?}");
    assert!(bad.iter().any(|b| b.reason.contains("delete marker")), "{bad:?}");
    assert!(bad.iter().any(|b| b.reason.contains("overwritten")), "{bad:?}");
    drop(w);
}

#[test]
fn in_a_locked_bucket_a_hidden_newest_note_still_catches_a_cut_log() {
    let (w, s3) = world("hide");
    s3.create_bucket("locked", true);
    let url = s3.url("locked", "");
    let w = w.with_env("ORCHESTRA_AUDIT_ANCHOR", &url);
    assert_eq!(exec(&w, "true").code, 0);
    let seg = w.root.join("log/00000000000000000000.seg");
    let after_first = std::fs::metadata(&seg).expect("segment").len();
    let o = exec(&w, "echo second");
    assert_eq!(o.code, 0, "{}", o.all());

    // The host (same credentials) cuts the log back to the first exec and
    // hides the newest note: a delete marker, then a DELETE of the version.
    let id = orchestra::cli::anchor::log_id(&w.root.join("log")).expect("log id");
    let a = s3.anchor("locked", "");
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let listing = a.request("GET", "", &[("list-type", "2"), ("prefix", "anchors/")], &[], b"").expect("list");
    let listing = String::from_utf8_lossy(&listing.body).into_owned();
    let newest = listing.split("<Key>").skip(1).filter_map(|k| k.split('<').next()).max().expect("a key").to_string();
    assert!(newest.contains(&hex), "{listing}");
    assert_eq!(a.request("DELETE", &newest, &[], &[], b"").expect("delete").status, 204);
    let keep = std::fs::read(&seg).expect("segment");
    std::fs::write(&seg, &keep[..after_first as usize]).expect("truncate");

    let (code, failure, all) = verify(&w, &url, &[]);
    assert_eq!((code, failure.as_str()), (4, "since_checkpoint"), "{all}");
    assert!(all.contains("delete marker"), "the hiding is reported: {all}");
}
