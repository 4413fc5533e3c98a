//! The workspace diff (issue 20): each task's report and its
//! `workspace_changed` audit record list what the task added, modified and
//! deleted in its working directory, bounded, on every backend; `runs show
//! --changes`, junit.xml and report.md (the step summary) carry it too.

use crate::harness::containers::container_setup;
use crate::harness::jail::{chown_tree, env};
use crate::harness::out::Out;
use crate::harness::run::{plan, sh};
use crate::harness::world::World;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// `(change, path)` of every listed entry, in the report's order.
fn listed(changes: &Value) -> Vec<(String, String)> {
    changes["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {changes:#}"))
        .iter()
        .map(|e| (e["change"].as_str().unwrap().to_string(), e["path"].as_str().unwrap().to_string()))
        .collect()
}

fn entry<'a>(changes: &'a Value, path: &str) -> &'a Value {
    changes["entries"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["path"] == path))
        .unwrap_or_else(|| panic!("{path} not listed: {changes:#}"))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The body of the one `workspace_changed` record in the audit log at `dir`.
fn audit_record(dir: &Path) -> Value {
    let o = Out::from(
        std::process::Command::new(crate::harness::out::orchestra())
            .args(["audit", "show", "--json"])
            .arg(dir)
            .output()
            .unwrap(),
    );
    o.assert_code(0);
    let recs: Vec<Value> = o
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "workspace_changed")
        .collect();
    assert_eq!(recs.len(), 1, "{}", o.stdout);
    recs[0]["body"].clone()
}

const SCRIPT: &str = "printf new >> edit; rm gone; chmod 600 perm; mkdir -p sub/deeper; printf abc > sub/deeper/new; \
                      ln -s /etc/passwd link; rm swap; ln -s edit swap";

fn plant(ws: &Path) {
    fs::write(ws.join("keep"), "same").unwrap();
    fs::write(ws.join("edit"), "old").unwrap();
    fs::write(ws.join("gone"), "12345").unwrap();
    fs::write(ws.join("perm"), "x").unwrap();
    fs::set_permissions(ws.join("perm"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(ws.join("swap"), "file").unwrap();
}

const EXPECTED: &[(&str, &str)] = &[
    ("modified", "edit"),
    ("deleted", "gone"),
    ("added", "link"),
    ("modified", "perm"),
    ("added", "sub"),
    ("added", "sub/deeper"),
    ("added", "sub/deeper/new"),
    ("modified", "swap"),
];

/// Checks shared by the jail and the container case.
fn assert_scripted(c: &Value) {
    assert!(c["skipped"].is_null(), "{c:#}");
    assert_eq!(listed(c), pairs(EXPECTED), "{c:#}");
    assert_eq!(c["added"], serde_json::json!({"entries": 4, "bytes": 3}), "{c:#}");
    // edit (6 bytes after) and perm (1); swap is a link now, no bytes of content.
    assert_eq!(c["modified"], serde_json::json!({"entries": 3, "bytes": 7}), "{c:#}");
    assert_eq!(c["deleted"], serde_json::json!({"entries": 1, "bytes": 5}), "{c:#}");
    assert_eq!(c["truncated"], false);
    let new = entry(c, "sub/deeper/new");
    assert_eq!(new["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!((new["size"].as_u64(), new["kind"].as_str()), (Some(3), Some("file")));
    // The content after; the content before is not known (a metadata snapshot).
    let edit = entry(c, "edit");
    assert_eq!(edit["sha256"], "76ecdaec0cc05ceaf5781f2731926d291107c1c2f2f9a2e229a89db2f2080ab3");
    assert_eq!((edit["size"].as_u64(), edit["old_size"].as_u64()), (Some(6), Some(3)));
    let perm = entry(c, "perm");
    assert_eq!((perm["mode"].as_str(), perm["old_mode"].as_str()), (Some("0600"), Some("0644")));
    let link = entry(c, "link");
    assert_eq!((link["kind"].as_str(), link["target"].as_str()), (Some("symlink"), Some("/etc/passwd")));
    assert!(link["sha256"].is_null(), "a link is never followed to be hashed: {link:#}");
    let swap = entry(c, "swap");
    assert_eq!(
        (swap["kind"].as_str(), swap["old_kind"].as_str(), swap["target"].as_str()),
        (Some("symlink"), Some("file"), Some("edit"))
    );
    assert!(listed(c).iter().all(|(_, p)| !p.starts_with(".orchestra")), "{c:#}");
}

#[test]
fn a_scripted_change_set_is_listed_exactly_in_the_report_and_the_audit_record() {
    let e = env();
    plant(&e.ws);
    let o = e.sh("default", SCRIPT);
    o.assert_code(0);
    let c = &o.report["workspace_changes"];
    assert_scripted(c);
    assert!(c["walked"].as_u64().unwrap() >= 9, "{c:#}");
    let rec = audit_record(&e.ws.join(".orchestra/audit"));
    assert_eq!(rec["task"], "sh");
    assert_eq!(rec["entries"], c["entries"], "the audit record lists what the report lists");
    for k in ["added", "modified", "deleted", "truncated"] {
        assert_eq!(rec[k], c[k], "{k}");
    }
    assert_eq!(rec["listed_in_report"], 8);
    let v = e.verify_audit();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn the_orchestra_directory_is_left_out_though_the_audit_log_grows_in_it() {
    let e = env();
    fs::write(e.ws.join(".orchestra/planted"), "x").unwrap();
    let o = e.sh("default", "true");
    o.assert_code(0);
    let c = &o.report["workspace_changes"];
    // The audit log under .orchestra/ got task_started meanwhile: not the task's doing.
    assert_eq!(c["entries"], serde_json::json!([]), "{c:#}");
    assert_eq!((c["added"]["entries"].as_u64(), c["deleted"]["entries"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn a_hundred_thousand_changes_are_counted_and_the_list_is_cut() {
    let e = env();
    fs::create_dir(e.ws.join("big")).unwrap();
    for i in 0..100_000 {
        fs::write(e.ws.join(format!("big/f{i:06}")), "ab").unwrap();
    }
    let t = Instant::now();
    let o = e.sh("default", "mv big moved");
    let took = t.elapsed();
    o.assert_code(0);
    let c = &o.report["workspace_changes"];
    assert!(c["skipped"].is_null(), "{c:#}");
    assert_eq!(c["added"], serde_json::json!({"entries": 100_001, "bytes": 200_000}));
    assert_eq!(c["deleted"], serde_json::json!({"entries": 100_001, "bytes": 200_000}));
    assert_eq!(c["modified"]["entries"], 0);
    assert_eq!(c["truncated"], true);
    assert_eq!(c["max_listed"], 1000);
    let l = listed(c);
    assert_eq!(l.len(), 1000);
    assert_eq!(
        (&l[0], &l[1], &l[2]),
        (
            &pairs(&[("deleted", "big")])[0],
            &pairs(&[("deleted", "big/f000000")])[0],
            &pairs(&[("deleted", "big/f000001")])[0]
        )
    );
    // Only the listed files are hashed, so a rename of 100k files stays cheap.
    assert!(took < Duration::from_secs(30), "{took:?}");
    let rec = audit_record(&e.ws.join(".orchestra/audit"));
    assert_eq!(rec["entries"].as_array().map(Vec::len), Some(100));
    assert_eq!((rec["truncated"].as_bool(), rec["listed_in_report"].as_u64()), (Some(true), Some(1000)));
    assert_eq!(rec["added"]["entries"], 100_001);
}

#[test]
fn hostile_entries_neither_hang_the_diff_nor_lead_it_outside_the_workspace() {
    let e = env();
    // A FIFO (opening it would block), a device-like name, a 10-deep link
    // chain ending at /, a link to /etc, and a directory swapped for a link.
    fs::create_dir(e.ws.join("d")).unwrap();
    fs::write(e.ws.join("d/inside"), "x").unwrap();
    let script = "mkfifo fifo; mkdir dev; printf x > dev/zero; ln -s /dev/zero dev/null;                   ln -s / l0; for i in 1 2 3 4 5 6 7 8 9; do ln -s l$((i-1)) l$i; done;                   ln -s /etc etc; rm -r d; ln -s / d";
    let t = Instant::now();
    let o = e.sh("default", script);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    o.assert_code(0);
    let c = &o.report["workspace_changes"];
    assert!(c["skipped"].is_null(), "{c:#}");
    assert_eq!(entry(c, "fifo")["kind"], "fifo");
    assert_eq!(entry(c, "l9")["target"], "l8");
    assert_eq!(entry(c, "l0")["target"], "/");
    assert_eq!(entry(c, "dev/null")["target"], "/dev/zero");
    assert_eq!(entry(c, "dev/zero")["sha256"], "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    let d = entry(c, "d");
    assert_eq!(
        (d["change"].as_str(), d["kind"].as_str(), d["old_kind"].as_str()),
        (Some("modified"), Some("symlink"), Some("dir"))
    );
    assert_eq!(entry(c, "d/inside")["change"], "deleted");
    // Nothing behind a link was walked: the workspace has about 20 entries.
    let walked = c["walked"].as_u64().unwrap();
    assert!(walked < 40, "walked {walked} entries: a link was followed\n{c:#}");
    assert!(listed(c).iter().all(|(_, p)| !p.starts_with("etc/") && !p.starts_with("l0/")), "{c:#}");
}

#[test]
fn the_policy_can_turn_the_diff_off_and_the_report_says_so() {
    let e = env();
    let p = e.policy("nodiff", "report:\n  workspace_diff: false\n");
    let o = e.sh(&p, "echo x > new");
    o.assert_code(0);
    let c = &o.report["workspace_changes"];
    assert_eq!(c["skipped"], "turned off by the policy (report.workspace_diff: false)");
    assert_eq!((c["entries"].as_array().map(Vec::len), c["walked"].as_u64()), (Some(0), Some(0)));
    let rec = audit_record(&e.ws.join(".orchestra/audit"));
    assert_eq!(rec["skipped"], c["skipped"]);
}

#[test]
fn a_docker_task_reports_the_same_changes_as_a_jail_task() {
    let e = env();
    plant(&e.ws);
    chown_tree(&e.ws, 1000);
    container_setup();
    let o = e.run_cmd(e.cmd("default", &["--backend", "docker"], &["sh", "-c", SCRIPT]));
    o.assert_code(0);
    assert_eq!(o.report["backend"], "docker");
    assert_scripted(&o.report["workspace_changes"]);
}

#[test]
fn runs_show_changes_prints_each_tasks_changes_and_the_ci_outputs_count_them() {
    let w = World::ci();
    fs::write(w.ws.join("old"), "12345").unwrap();
    let p = plan(&[sh("make", "mkdir out; printf abc > out/a", ""), sh("clean", "rm old", ", needs: [make]")]);
    let o = w.run_plan(&p, &["--junit", "junit.xml"]);
    o.assert_code(0);
    let id = w.only_run();
    let show =
        Out::from(w.command().args(["runs", "show", &id, "--changes", "--runs-dir"]).arg(&w.runs).output().unwrap());
    show.assert_code(0);
    let text = &show.stdout;
    assert!(text.contains("make: 2 added, 0 modified, 0 deleted (3 B added, 0 B modified, 0 B deleted)"), "{text}");
    assert!(text.contains("clean: 0 added, 0 modified, 1 deleted (0 B added, 0 B modified, 5 B deleted)"), "{text}");
    let line = text.lines().find(|l| l.contains("out/a")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("added") && line.contains("3 B") && line.contains("sha256:ba7816bf"), "{line}");
    assert!(text.lines().any(|l| l.contains("deleted") && l.contains("old")), "{text}");
    let json = Out::from(
        w.command().args(["runs", "show", &id, "--changes", "--json", "--runs-dir"]).arg(&w.runs).output().unwrap(),
    );
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed(&v["changes"]["make"]), pairs(&[("added", "out"), ("added", "out/a")]));
    // report.json counts, report.md (the step summary) and junit.xml say it briefly.
    let report = w.report(&id);
    let make = crate::harness::run::task(&report, "make");
    assert_eq!(make["workspace_changes"]["added"]["entries"], 2);
    let md = fs::read_to_string(w.run_dir(&id).join("report.md")).unwrap();
    assert!(md.contains("workspace: 2 added, 0 modified, 0 deleted"), "{md}");
    let junit = fs::read_to_string(w.ws.join("junit.xml"))
        .or_else(|_| fs::read_to_string(w.run_dir(&id).join("junit.xml")))
        .unwrap();
    assert!(junit.contains(r#"name="workspace_changes" value="0 added, 0 modified, 1 deleted""#), "{junit}");
}
