use super::*;
use crate::keys::AuditKey;
use crate::writer::AuditLog;
use serde_json::json;

type R = Result<(), Box<dyn std::error::Error>>;

fn key(seed: u8) -> AuditKey {
    AuditKey::from_seed([seed; 32])
}

/// Append a `delivery_ended` of `msg` to the worker log in `dir` and return
/// the `remote_result` a run would record for it (seq `seq` in the run's log).
fn deliver(dir: &Path, k: &AuditKey, msg: &str, task: &str, token: u64, seq: u64) -> Result<RemoteResult, AuditError> {
    let mut log = AuditLog::open(dir, k)?;
    let body = json!({"msg": msg, "task": task, "attempt": 1, "token": token, "exec_status": 0,
        "log_sha256": "00", "report_sha256": null, "outputs": 0});
    log.append(Kind::DeliveryEnded.as_str(), body)?;
    log.sync()?;
    Ok(RemoteResult {
        seq,
        log: String::new(),
        task: task.into(),
        attempt: 1,
        msg: msg.into(),
        token,
        worker: "w1".into(),
        worker_log: Some(WorkerLogRef {
            log_id: hex(&log.log_id()),
            size: log.next_seq(),
            checkpoint: log.latest_checkpoint().map(str::to_string),
        }),
        malformed: None,
    })
}

fn opts(dirs: &[&Path]) -> FleetOptions {
    FleetOptions { dirs: dirs.iter().map(|d| d.to_path_buf()).collect(), ..FleetOptions::default() }
}

fn codes(r: &FleetReport) -> Vec<&'static str> {
    r.failures.iter().map(|f| f.code).collect()
}

/// A worker log with two deliveries, and the results naming them.
fn two(dir: &Path) -> Result<Vec<RemoteResult>, AuditError> {
    Ok(vec![deliver(dir, &key(1), "m1", "a", 1, 10)?, deliver(dir, &key(1), "m2", "b", 3, 11)?])
}

#[test]
fn results_backed_by_the_worker_log_are_confirmed() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let results = two(&w)?;
    let r = check(&results, &opts(&[&w]))?;
    assert!(r.ok(), "{r:#?}");
    assert_eq!((r.results, r.confirmed, r.unlinked), (2, 2, 0));
    assert_eq!(r.logs.len(), 1);
    assert_eq!((r.logs[0].verdict, r.logs[0].results, r.logs[0].records), ("ok", 2, 3));
    assert!(r.warnings.iter().any(|w| w.contains("--fleet-key")), "{:?}", r.warnings);
    // A worker state directory (holding audit/) is accepted too.
    let state = d.path().join("state");
    let results = two(&state.join("audit"))?;
    assert!(check(&results, &opts(&[&state]))?.ok());
    Ok(())
}

#[test]
fn a_log_no_directory_holds_is_missing() -> R {
    let d = tempfile::tempdir()?;
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let results = two(&a)?;
    deliver(&b, &key(2), "m9", "z", 1, 0)?;
    let r = check(&results, &opts(&[&b]))?;
    assert_eq!(codes(&r), vec![FLEET_MISSING, FLEET_MISSING]);
    assert_eq!(r.confirmed, 0);
    // A directory without a log is a usage error, not a verdict.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty)?;
    assert!(matches!(check(&results, &opts(&[&empty])), Err(FleetError::NoLog(_))));
    Ok(())
}

#[test]
fn a_damaged_worker_log_fails_every_result_naming_it() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let results = two(&w)?;
    let seg = w.join(format::segment_name(0));
    let mut bytes = std::fs::read(&seg)?;
    let at = bytes.windows(4).position(|x| x == b"\"m2\"").ok_or("no m2")?;
    bytes[at + 2] = b'3';
    std::fs::write(&seg, bytes)?;
    let r = check(&results, &opts(&[&w]))?;
    assert_eq!(codes(&r), vec![FLEET_UNVERIFIED, FLEET_UNVERIFIED]);
    assert_eq!(r.logs[0].verdict, "fail");
    assert!(r.logs[0].first_error.is_some());
    Ok(())
}

#[test]
fn a_checkpoint_beyond_a_truncated_log_is_bad() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let first = deliver(&w, &key(1), "m1", "a", 1, 10)?;
    let seg = w.join(format::segment_name(0));
    let len = std::fs::metadata(&seg)?.len();
    let second = deliver(&w, &key(1), "m2", "b", 3, 11)?;
    // Roll the log back to where it stood after the first delivery: still a valid log.
    std::fs::OpenOptions::new().write(true).open(&seg)?.set_len(len)?;
    let r = check(&[first, second], &opts(&[&w]))?;
    assert_eq!(codes(&r), vec![FLEET_BAD], "{r:#?}");
    assert_eq!(r.failures[0].seq, 11);
    assert!(r.failures[0].reason.contains("truncated or rolled back"), "{}", r.failures[0].reason);
    assert_eq!(r.confirmed, 1);
    Ok(())
}

#[test]
fn a_forked_worker_log_does_not_match_the_note() -> R {
    let d = tempfile::tempdir()?;
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    deliver(&a, &key(1), "m1", "a", 1, 10)?;
    std::fs::create_dir(&b)?;
    for e in std::fs::read_dir(&a)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), b.join(e.file_name()))?;
        }
    }
    // The same log, extended two ways by its key: the reviewer has fork b.
    let on_a = deliver(&a, &key(1), "m2", "b", 3, 11)?;
    deliver(&b, &key(1), "m2", "other", 3, 11)?;
    let r = check(&[on_a], &opts(&[&b]))?;
    assert_eq!(codes(&r), vec![FLEET_BAD]);
    assert!(r.failures[0].reason.contains("rewritten or forked"), "{}", r.failures[0].reason);
    Ok(())
}

#[test]
fn a_note_of_another_log_or_key_or_size_is_bad() -> R {
    let d = tempfile::tempdir()?;
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let mut on_a = deliver(&a, &key(1), "m1", "a", 1, 10)?;
    let on_b = deliver(&b, &key(1), "m7", "a", 1, 10)?;
    let good = on_a.worker_log.clone().ok_or("no log")?;
    let note = SignedCheckpoint::parse(good.checkpoint.as_deref().ok_or("no note")?)?;
    let cases: Vec<(WorkerLogRef, &str)> = vec![
        (WorkerLogRef { checkpoint: on_b.worker_log.and_then(|w| w.checkpoint), ..good.clone() }, "of log"),
        (WorkerLogRef { checkpoint: Some(note.checkpoint.sign(&key(9))), ..good.clone() }, "not validly signed"),
        (WorkerLogRef { size: good.size + 1, ..good.clone() }, "names size"),
        (WorkerLogRef { checkpoint: None, ..good.clone() }, "no checkpoint"),
        (WorkerLogRef { checkpoint: Some("garbage".into()), ..good.clone() }, "does not parse"),
    ];
    for (w, why) in cases {
        on_a.worker_log = Some(w);
        let r = check(std::slice::from_ref(&on_a), &opts(&[&a, &b]))?;
        assert_eq!(codes(&r), vec![FLEET_BAD], "{why}");
        assert!(r.failures[0].reason.contains(why), "{why}: {}", r.failures[0].reason);
    }
    Ok(())
}

#[test]
fn a_result_without_its_delivery_in_the_log_is_bad() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let good = deliver(&w, &key(1), "m1", "a", 1, 10)?;
    for r in [
        RemoteResult { msg: "m0".into(), ..good.clone() },
        RemoteResult { token: 2, ..good.clone() },
        RemoteResult { task: "b".into(), ..good.clone() },
        RemoteResult { attempt: 2, ..good.clone() },
    ] {
        let report = check(&[r], &opts(&[&w]))?;
        assert_eq!(codes(&report), vec![FLEET_BAD]);
        assert!(report.failures[0].reason.contains("delivery_ended"), "{}", report.failures[0].reason);
    }
    // A delivery after the size the result names does not count either.
    let mut early = good.clone();
    let later = deliver(&w, &key(1), "m2", "b", 1, 11)?;
    early.msg = later.msg.clone();
    early.task = later.task.clone();
    assert_eq!(codes(&check(&[early], &opts(&[&w]))?), vec![FLEET_BAD]);
    Ok(())
}

#[test]
fn pinned_keys_decide_which_worker_logs_count() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let results = two(&w)?;
    let pinned = FleetOptions { keys: vec![key(1).verifier()], ..opts(&[&w]) };
    let r = check(&results, &pinned)?;
    assert!(r.ok(), "{r:#?}");
    assert_eq!(r.logs[0].trusted_key, Some(key(1).verifier().id_hex()));
    assert!(!r.warnings.iter().any(|w| w.contains("--fleet-key")));
    let other = FleetOptions { keys: vec![key(2).verifier()], ..opts(&[&w]) };
    let r = check(&results, &other)?;
    assert_eq!(codes(&r), vec![FLEET_UNVERIFIED, FLEET_UNVERIFIED]);
    assert!(r.failures[0].reason.contains("none of the pinned"), "{}", r.failures[0].reason);
    Ok(())
}

#[test]
fn notes_are_checked_under_the_key_in_force_at_their_size() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let before = deliver(&w, &key(1), "m1", "a", 1, 10)?;
    AuditLog::open(&w, &key(1))?.rotate_key(&key(2))?;
    let after = deliver(&w, &key(2), "m2", "b", 1, 11)?;
    let r = check(&[before.clone(), after.clone()], &opts(&[&w]))?;
    assert!(r.ok(), "{r:#?}");
    // The old key's signature on a note of a size after the rotation does not count.
    let mut forged = after;
    let wl = forged.worker_log.as_mut().ok_or("no log")?;
    let note = SignedCheckpoint::parse(wl.checkpoint.as_deref().ok_or("no note")?)?;
    wl.checkpoint = Some(note.checkpoint.sign(&key(1)));
    let r = check(&[before, forged], &opts(&[&w]))?;
    assert_eq!(codes(&r), vec![FLEET_BAD]);
    assert!(r.failures[0].reason.contains("key in force"), "{}", r.failures[0].reason);
    Ok(())
}

#[test]
fn unlinked_results_warn_unless_strict_and_malformed_ones_are_bad() -> R {
    let d = tempfile::tempdir()?;
    let w = d.path().join("w1");
    let good = deliver(&w, &key(1), "m1", "a", 1, 10)?;
    let unlinked = RemoteResult { worker_log: None, seq: 12, ..good.clone() };
    let r = check(&[good.clone(), unlinked.clone()], &opts(&[&w]))?;
    assert!(r.ok());
    assert_eq!((r.confirmed, r.unlinked), (1, 1));
    assert!(r.warnings.iter().any(|w| w.contains("name no worker log")), "{:?}", r.warnings);
    let strict = FleetOptions { strict: true, ..opts(&[&w]) };
    let r = check(&[good, unlinked], &strict)?;
    assert_eq!(codes(&r), vec![FLEET_UNLINKED]);
    assert_eq!(r.failures[0].seq, 12);
    let body = json!({"task": "a", "attempt": 1, "msg": "m", "token": "x", "worker": "w", "worker_log": 3});
    let bad = RemoteResult::from_body(5, String::new(), &body);
    assert!(bad.malformed.as_deref().is_some_and(|m| m.contains("token")), "{bad:?}");
    let r = check(&[bad], &opts(&[&w]))?;
    assert_eq!(codes(&r), vec![FLEET_BAD]);
    Ok(())
}

#[test]
fn the_run_log_gives_its_authenticated_remote_results_and_takes_the_first_failure() -> R {
    let d = tempfile::tempdir()?;
    let (run, w) = (d.path().join("run"), d.path().join("w1"));
    let res = deliver(&w, &key(1), "m1", "a", 1, 0)?;
    let mut log = AuditLog::open(&run, &key(3))?;
    let wl = res.worker_log.clone().ok_or("no log")?;
    let body = json!({"task": "a", "attempt": 1, "msg": "m1", "token": 1, "worker": "w1",
        "worker_key": "ed25519:x", "worker_log": {"log_id": wl.log_id, "size": wl.size, "checkpoint": wl.checkpoint}});
    let seq = log.append(Kind::RemoteResult.as_str(), body)?;
    log.sync()?;
    drop(log);
    let (mut report, results) = verify_collecting(&run, &VerifyOptions::default())?;
    assert!(report.ok());
    assert_eq!(results, vec![RemoteResult { seq, ..res }]);
    let fleet = check(&results, &opts(&[&w]))?;
    assert!(fleet.ok());
    // Without its worker log: the run's verdict is the fleet's first failure.
    let other = d.path().join("w2");
    deliver(&other, &key(1), "m5", "e", 1, 0)?;
    let fleet = check(&results, &opts(&[&other]))?;
    fleet.judge(&mut report);
    let f = report.first_error.as_ref().ok_or("no failure")?;
    assert_eq!((f.code, f.seq), (FLEET_MISSING, Some(seq)));
    assert!(!report.ok());
    // A remote_result after the last checkpoint (unsigned: anyone could append it) is not taken.
    let head: Hash = crate::keys::unhex(report.head.as_deref().ok_or("no head")?).ok_or("bad head")?;
    let forged = json!({"task": "x", "attempt": 1, "msg": "m9", "token": 1, "worker": "w1", "worker_key": "ed25519:x", "worker_log": null});
    let rec = Record {
        seq: report.records,
        time_us: 1,
        prev: head,
        kind: Kind::RemoteResult.as_str().into(),
        body: crate::record::canonical_json(&forged)?,
    };
    let mut frame = Vec::new();
    format::encode_frame(format::FRAME_RECORD, &rec.encode(), &mut frame);
    std::io::Write::write_all(
        &mut std::fs::OpenOptions::new().append(true).open(run.join(format::segment_name(0)))?,
        &frame,
    )?;
    let (tail, again) = verify_collecting(&run, &VerifyOptions::default())?;
    assert_eq!(tail.unsigned_tail, 1, "{tail:#?}");
    assert_eq!(again.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![seq]);
    Ok(())
}

#[test]
fn checkpoints_sign_the_sizes_checked() {
    // keys_at: the rotation checkpoint's size is signed by the old and the new key.
    let k1 = key(1).verifier();
    let k2 = key(2).verifier();
    let epoch = |k: &VerifierKey, from_seq| crate::verify::KeyEpoch {
        key_id: k.id_hex(),
        key: k.encode(),
        from_seq,
        checkpoints: 1,
        max_size: 0,
    };
    let report = VerifyReport { keys: vec![epoch(&k1, 0), epoch(&k2, 5)], ..empty_report() };
    assert_eq!(keys_at(&report, 1), vec![k1.clone()]);
    assert_eq!(keys_at(&report, 4), vec![k1.clone()]);
    assert_eq!(keys_at(&report, 5), vec![k1, k2.clone()]);
    assert_eq!(keys_at(&report, 6), vec![k2]);
}

fn empty_report() -> VerifyReport {
    VerifyReport {
        verdict: "ok",
        log_id: None,
        format: 2,
        pruned: None,
        segments: 0,
        records: 0,
        checkpoints: 0,
        head: None,
        keys: Vec::new(),
        last_checkpoint: None,
        unsigned_tail: 0,
        torn_tail: None,
        recoveries: 0,
        trusted_key: None,
        authenticated_records: 0,
        trusted_coverage: 0,
        since_checkpoint: None,
        adopted: Vec::new(),
        warnings: Vec::new(),
        first_error: None,
        after_damage: None,
        continued: None,
    }
}
