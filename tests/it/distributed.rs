//! Distributed runs (issue 18): `orchestra run --queue` with `orchestra
//! worker` processes and a real Redis. Each test asserts the effect (what the
//! tasks did, counted in the workspace; what the run directory and the audit
//! logs hold) and the verdict.

use crate::harness::fleet::Fleet;
use crate::harness::{plan, sh, state, task};
use std::time::Duration;

/// A task that appends its id to `effects` (in the workspace) and prints a line.
fn effect(id: &str, extra: &str) -> String {
    sh(id, &format!("echo {id} >> effects; echo hello from {id}"), extra)
}

fn effects(f: &Fleet) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_to_string(f.world.ws.join("effects")).unwrap_or_default().lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_plan_runs_on_workers_once_per_task_with_logs_reports_and_outputs_as_locally() {
    let mut f = Fleet::new("basic");
    f.spawn_worker("w1", &["--capacity", "2"]);
    f.spawn_worker("w2", &["--capacity", "2"]);
    let mut tasks: Vec<String> = (0..12).map(|i| effect(&format!("t{i:02}"), "")).collect();
    tasks.push(sh("product", "mkdir -p out && echo built > out/result.txt", ", needs: [t00, t01], outputs: [out]"));
    let o = f.run(&plan(&tasks), &["-j", "4"]);
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let want: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    assert_eq!(effects(&f), want, "every task ran exactly once");
    let id = f.world.only_run();
    let dir = f.world.run_dir(&id);
    let report = f.world.report(&id);
    for t in want.iter().chain(std::iter::once(&"product".to_string())) {
        assert_eq!(state(&report, t), "succeeded", "{t}: {}", task(&report, t));
    }
    let log = std::fs::read_to_string(dir.join("logs/t03.log")).unwrap();
    assert!(log.contains("hello from t03"), "{log}");
    assert_eq!(std::fs::read_to_string(dir.join("artifacts/product/out/result.txt")).unwrap(), "built\n");
    // The run's audit log names the worker and its key for each task; the workers' logs hold their deliveries.
    let records = f.world.audit_records(&f.world.audit);
    let remote: Vec<&serde_json::Value> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(remote.len(), 13, "{records:#?}");
    let keys: Vec<String> = f.workers.iter().map(|w| w.public.clone()).collect();
    for r in &remote {
        assert!(keys.contains(&r["body"]["worker_key"].as_str().unwrap().to_string()), "{r}");
        assert!(r["body"]["worker_log"]["checkpoint"].as_str().is_some_and(|c| !c.is_empty()), "{r}");
    }
    let delivered: usize =
        (0..2).map(|i| f.worker_records(i).iter().filter(|r| r["kind"] == "delivery_ended").count()).sum();
    assert_eq!(delivered, 13);
    assert_eq!(f.world.verify_audit(&f.world.audit).code, 0);
}

#[test]
fn a_violation_on_a_worker_is_exit_4_with_its_rule_as_locally() {
    let mut f = Fleet::new("violation");
    f.spawn_worker("w1", &[]);
    let secret = f.world.home.join("secret.txt");
    std::fs::write(&secret, "s3cr3t").unwrap();
    let tasks = vec![sh("steal", &format!("cat {} > stolen.txt", secret.display()), "")];
    let o = f.run(&plan(&tasks), &["--policy", "strict"]);
    let report = f.world.report(&f.world.only_run());
    assert_eq!(o.code, 4, "{}\n{}", o.all(), f.worker_log("w1"));
    assert_eq!(state(&report, "steal"), "violation", "{}", task(&report, "steal"));
    let stolen = std::fs::read_to_string(f.world.ws.join("stolen.txt")).unwrap_or_default();
    assert!(!stolen.contains("s3cr3t"), "the secret was read: {stolen}");
    let sarif = std::fs::read_to_string(f.world.run_dir(&f.world.only_run()).join("violations.sarif")).unwrap();
    assert!(sarif.contains("steal"), "{sarif}");
    let rules: Vec<String> = task(&report, "steal")["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(!rules.is_empty());
    // The run's log states the remote verdict; the worker's log holds the sandbox's own records.
    let records = f.world.audit_records(&f.world.audit);
    let kinds: Vec<&serde_json::Value> = records.iter().map(|r| &r["kind"]).collect();
    let r = records.iter().find(|r| r["kind"] == "remote_result").unwrap_or_else(|| panic!("{kinds:?}\n{}", o.all()));
    assert_eq!(r["body"]["cause"], "policy_denied", "{r}");
    assert!(
        r["body"]["rules"].as_array().unwrap().iter().any(|x| rules.contains(&x.as_str().unwrap().to_string())),
        "{r}"
    );
    let worker = f.worker_records(0);
    assert!(worker.iter().any(|r| r["kind"] == "violation" && r["body"]["task"] == "steal"), "{worker:#?}");
}

#[test]
fn no_worker_for_a_label_fails_the_task_worker_lost_after_the_bound() {
    let mut f = Fleet::new("unserved");
    f.spawn_worker("w1", &[]);
    let cfg = std::fs::read_to_string(&f.world.config).unwrap().replace("unserved: 20s", "unserved: 2s");
    std::fs::write(&f.world.config, cfg).unwrap();
    let tasks = vec![effect("gpu", ", runs_on: [gpu]")];
    let started = std::time::Instant::now();
    let o = f.run(&plan(&tasks), &[]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(started.elapsed() < Duration::from_secs(30));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(task(&report, "gpu")["cause"], "worker_lost", "{}", task(&report, "gpu"));
    assert!(effects(&f).is_empty());
}
