//! `audit show --ocsf`: the events of a real log (a clean task, a task with a
//! violation) are checked against the OCSF 1.8.0 schema's own definition files
//! (vendored in tests/vendor/ocsf-schema) by tests/vendor/ocsf_check.py.

use crate::harness::world::World;
use std::io::Write as _;

#[test]
fn show_ocsf_events_satisfy_the_ocsf_schema_and_keep_every_record() {
    let w = World::create("audit-ocsf", "ocsf", "");
    let log = w.root.join("log").display().to_string();
    assert_eq!(w.orchestra(&["exec", "--audit-dir", &log, "--", "true"]).code, 0);
    let outside = w.root.join("outside.txt");
    let o = w.orchestra(&["exec", "--audit-dir", &log, "--", "sh", "-c", &format!("echo x > '{}'", outside.display())]);
    assert_eq!(o.code, 4, "{}", o.all());
    let o = w.orchestra(&["audit", "show", &log, "--ocsf"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let plain = w.orchestra(&["audit", "show", &log, "--json"]);
    assert_eq!(o.stdout.lines().count(), plain.stdout.lines().count(), "one event per record");
    let events: Vec<serde_json::Value> = o.stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let finding = events.iter().find(|e| e["class_uid"] == 2004).expect("a Detection Finding");
    assert_eq!(finding["finding_info"]["types"][0], "fs.write", "{finding}");
    assert!(events.iter().filter(|e| e["class_uid"] == 1007).count() >= 4, "task starts and ends");
    assert!(events.iter().all(|e| e["metadata"]["labels"].to_string().contains("authenticated")), "{}", o.stdout);
    let checker = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vendor/ocsf_check.py");
    let mut child = std::process::Command::new("python3")
        .arg(checker)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(o.stdout.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("checker");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The checker is not a rubber stamp: a missing required attribute fails it.
    let mut bad = finding.clone();
    bad["finding_info"].as_object_mut().expect("object").remove("uid");
    let mut child = std::process::Command::new("python3")
        .arg(checker)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(format!("{bad}\n").as_bytes()).expect("write");
    let out = child.wait_with_output().expect("checker");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("uid missing"));
}
