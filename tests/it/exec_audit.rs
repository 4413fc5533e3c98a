//! `orchestra exec` writes every task to the signed audit log, durably,
//! before it exits — a CI pipeline never sees exit 4 without the record.

use crate::harness::*;
use std::process::Command;

fn records(e: &Env) -> Vec<serde_json::Value> {
    let o = Command::new(orchestra())
        .args(["audit", "show"])
        .arg(e.ws.join(".orchestra/audit"))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn kinds(recs: &[serde_json::Value]) -> Vec<String> {
    recs.iter().filter_map(|r| r["kind"].as_str().map(String::from)).collect()
}

#[test]
fn a_violation_is_in_the_verified_log_before_exit() {
    let e = env();
    let o = e.sh("default", "echo x > /etc/evil");
    o.assert_violation("fs.write");
    let v = e.verify_audit();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let recs = records(&e);
    let k = kinds(&recs);
    for want in ["task_started", "violation", "task_attested", "task_ended"] {
        assert!(k.iter().any(|x| x == want), "{want} missing in {k:?}");
    }
    let viol = recs.iter().find(|r| r["kind"] == "violation").unwrap();
    let body = viol["body"].to_string();
    assert!(body.contains("fs.write") && body.contains("/etc/evil"), "{body}");
    let ended = recs.iter().rev().find(|r| r["kind"] == "task_ended").unwrap();
    assert!(ended["body"].to_string().contains("policy_denied"), "{ended}");
}

#[test]
fn every_task_appends_to_one_chain() {
    let e = env();
    e.sh("default", "true").assert_ok();
    e.sh("default", "false");
    let recs = records(&e);
    assert_eq!(kinds(&recs).iter().filter(|k| *k == "task_ended").count(), 2);
    assert_eq!(e.verify_audit().status.code(), Some(0));
}

#[test]
fn a_refused_task_is_logged_too() {
    let e = env();
    let o = e.run_cmd(e.cmd("container", &[], &["true"]));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(kinds(&records(&e)).iter().any(|k| k == "task_refused"));
}

#[test]
fn an_unusable_key_refuses_to_run_anything() {
    let e = env();
    std::fs::write(&e.key, "not a key").unwrap();
    let o = e.sh("default", "touch ran");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn sigterm_kills_the_task_reports_and_records_it() {
    let e = env();
    let marker = e.ws.join("still-running");
    let script = format!("(setsid sh -c 'while :; do touch {}; sleep 0.05; done' &); sleep 30", marker.display());
    let mut c = e.cmd("default", &[], &["/bin/sh", "-c", &script]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let started = std::time::Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted by signal 15"));
    let _ = std::fs::remove_file(&marker);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!marker.exists(), "a process of the task survived the interrupt");
    let recs = records(&e);
    let ended = recs.iter().rev().find(|r| r["kind"] == "task_ended").expect("task_ended recorded");
    assert!(ended["body"].to_string().contains("\"signal\":15"), "{ended}");
}
