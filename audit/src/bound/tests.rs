use super::*;
use crate::events::{stamp, task_ended};

/// A string of `n` bytes each escaped to six (`\u0001`), the review's trick.
fn inflated(n: usize) -> String {
    "\u{1}".repeat(n)
}

fn encoded(v: &Value) -> usize {
    canonical_json(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

#[test]
fn encoded_len_is_the_canonical_encoding_length() {
    for s in ["", "abc", "a\"b\\c", "\n\r\t\u{8}\u{c}", "\u{1}\u{1f}", "é€😀", &inflated(10)] {
        assert_eq!(encoded_len(s), encoded(&Value::String(s.into())), "{s:?}");
    }
}

#[test]
fn cap_cuts_at_a_character_boundary_within_the_bound() {
    assert_eq!(cap("short", MAX_TEXT), None);
    let c = cap(&"€".repeat(1000), 100).expect("cut");
    assert!(encoded_len(&c) <= 100 && encoded_len(&c) > 96, "{}", encoded_len(&c));
    let c = cap(&inflated(1000), 100).expect("cut");
    assert_eq!(c, inflated(16), "16 escapes of 6 bytes and the quotes fit in 100");
}

#[test]
fn a_long_detail_is_cut_and_marked() {
    let b = end_record(stamp(crate::events::violation("t", "fs.write", &inflated(5000)), Some("r")));
    assert!(encoded(&b["detail"]) <= MAX_TEXT);
    assert_eq!(b["detail_truncated"], true);
    assert!(b.get("task_truncated").is_none() && b.get("rule_truncated").is_none());
    let short = end_record(stamp(crate::events::violation("t", "fs.write", "open /etc/passwd"), None));
    assert_eq!(short["detail"], "open /etc/passwd");
    assert!(short.get("detail_truncated").is_none());
}

#[test]
fn a_long_list_keeps_its_first_strings_each_cut() {
    let many: Vec<String> = (0..1000).map(|i| format!("{i}{}", inflated(600))).collect();
    let b = end_record(json!({"task": "t", "enforced": many, "opt_outs": ["a"]}));
    let kept = b["enforced"].as_array().expect("list");
    assert_eq!(kept.len(), MAX_LIST);
    assert!(kept.iter().all(|s| encoded(s) <= MAX_TEXT));
    assert_eq!(b["enforced_truncated"], true);
    assert!(b.get("opt_outs_truncated").is_none());
}

fn inflated_changes(n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({"path": format!("{}{i:03}", inflated(250)), "change": "added", "kind": "symlink",
                   "target": inflated(4000), "mode": "0777", "size": 4000})
        })
        .collect();
    json!({"task": "t", "added": {"entries": n, "bytes": 0}, "modified": {"entries": 0, "bytes": 0},
           "deleted": {"entries": 0, "bytes": 0}, "truncated": false, "listed_in_report": n, "entries": entries})
}

#[test]
fn the_reviews_workspace_diff_is_cut_to_the_bound_and_says_so() {
    let raw = stamp(inflated_changes(100), Some("r"));
    assert!(encoded(&raw) > 2_000_000, "the attack body is {} bytes", encoded(&raw));
    let b = workspace_changed(raw);
    assert!(encoded(&b) <= MAX_WORKSPACE_BODY, "{} bytes", encoded(&b));
    assert_eq!(b["truncated"], true);
    assert_eq!(b["added"]["entries"], 100, "the counts cover every change");
    let listed = b["entries"].as_array().expect("entries");
    assert!(listed.len() > 10 && listed.len() < 100, "{} listed", listed.len());
    for e in listed {
        assert!(encoded(&e["path"]) <= MAX_TEXT && encoded(&e["target"]) <= MAX_TEXT);
        assert_eq!((&e["path_truncated"], &e["target_truncated"]), (&json!(true), &json!(true)));
        assert_eq!(e["change"], "added");
    }
}

#[test]
fn a_small_workspace_diff_is_unchanged() {
    let mut small = inflated_changes(0);
    small["entries"] = json!([{"path": "a.txt", "change": "added", "kind": "file", "size": 3}]);
    assert_eq!(workspace_changed(small.clone()), small);
}

#[test]
fn violations_past_the_bound_are_counted_in_one_record() {
    let details: Vec<(String, String)> =
        (0..1000).map(|i| (if i % 2 == 0 { "fs.write" } else { "canary.leak" }.to_string(), format!("d{i}"))).collect();
    let bodies = violations("t", details.iter().map(|(r, d)| (r.as_str(), d.as_str())));
    assert_eq!(bodies.len(), MAX_VIOLATION_RECORDS + 1);
    let last = &bodies[MAX_VIOLATION_RECORDS];
    assert_eq!(last["rule"], OMITTED_RULE);
    let d = last["detail"].as_str().unwrap_or_default();
    assert!(d.starts_with("872 more") && d.contains("canary.leak: 436") && d.contains("fs.write: 436"), "{d}");
    assert_eq!(violations("t", [("fs.write", "x")]).len(), 1);
}

/// Past the bound the records keep the first 64 violations, the first of
/// each rule met later (before the tail), and the last 32 (the end's own
/// checks): a rule refused hundreds of times hides neither the one other
/// thing the task tried nor how it ended.
#[test]
fn violations_past_the_bound_keep_the_head_each_later_rule_and_the_tail() {
    let mut details: Vec<(String, String)> =
        (0..300).map(|i| ("fs.setuid".to_string(), format!("refused {i}"))).collect();
    details.insert(150, ("network.deny".into(), "once in the middle".into()));
    details.push(("limits.disk".into(), "the kill's cause".into()));
    details.push(("fs.setuid".into(), "its set-ID bits were cleared".into()));
    let bodies = violations("t", details.iter().map(|(r, d)| (r.as_str(), d.as_str())));
    let text = |b: &Value| format!("{} {}", b["rule"], b["detail"]);
    let kept: Vec<String> = bodies.iter().map(text).collect();
    assert!(bodies.len() <= MAX_VIOLATION_RECORDS + 1, "{}", bodies.len());
    assert_eq!(bodies.last().map(|b| b["rule"].clone()), Some(OMITTED_RULE.into()));
    for want in [
        "refused 0",
        "refused 63",
        "once in the middle",
        "the kill's cause",
        "its set-ID bits were cleared",
        "refused 299",
    ] {
        assert!(kept.iter().any(|k| k.contains(want)), "{want} not kept: {kept:?}");
    }
    // The task's order holds among the kept ones.
    let at = |w: &str| kept.iter().position(|k| k.contains(w)).unwrap_or(usize::MAX);
    assert!(at("refused 63") < at("once in the middle") && at("once in the middle") < at("refused 299"));
    assert!(at("refused 299") < at("the kill's cause") && at("the kill's cause") < at("its set-ID bits were cleared"));
    let omitted = bodies.len() - 1;
    let d = bodies[omitted]["detail"].as_str().unwrap_or_default();
    let total = details.len() - omitted;
    assert!(d.starts_with(&format!("{total} more")) && d.contains(&format!("fs.setuid: {total}")), "{d}");
}

/// The worst case FORMAT.md §5.3 states, measured: the most violation
/// records, each string at its bound, the longest attestation, the largest
/// workspace diff and the end, appended one by one as exec does (each with
/// its checkpoint), then the closing checkpoint.
#[test]
fn the_worst_case_end_records_fit_well_inside_the_reservation() {
    let d = tempfile::tempdir().expect("tempdir");
    let key = crate::AuditKey::generate().expect("key");
    let mut log = crate::AuditLog::open(d.path(), &key).expect("log");
    let seg = || -> u64 {
        std::fs::read_dir(d.path())
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let before = seg();
    let (task, run) = (inflated(5000), inflated(5000));
    let details: Vec<(String, String)> = (0..5000).map(|i| (format!("rule{i}"), inflated(5000))).collect();
    for b in violations(&task, details.iter().map(|(r, d)| (r.as_str(), d.as_str()))) {
        log.append(crate::Kind::Violation, end_record(stamp(b, Some(&run)))).expect("violation");
    }
    let list: Vec<String> = (0..500).map(|_| inflated(5000)).collect();
    let attested = json!({"task": task, "enforced": list, "opt_outs": list});
    log.append(crate::Kind::TaskAttested, end_record(stamp(attested, Some(&run)))).expect("attested");
    let mut changes = inflated_changes(100);
    changes["task"] = task.clone().into();
    for e in changes["entries"].as_array_mut().into_iter().flatten() {
        e["unhashed"] = inflated(5000).into();
        e["sha256"] = "0".repeat(64).into();
        e["old_kind"] = "file".into();
        e["old_mode"] = "0644".into();
        e["old_size"] = u64::MAX.into();
    }
    log.append(crate::Kind::WorkspaceChanged, workspace_changed(stamp(changes, Some(&run)))).expect("changes");
    let ended = task_ended(&task, "limit_exceeded", Some(i32::MIN), Some(64), u64::MAX);
    log.append(crate::Kind::TaskEnded, end_record(stamp(ended, Some(&run)))).expect("ended");
    log.sync().expect("sync");
    let used = seg() - before;
    assert!(used <= END_RECORDS_WORST_CASE, "the end records took {used} bytes");
}
