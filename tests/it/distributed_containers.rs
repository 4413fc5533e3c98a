//! Distributed runs on workers that are Docker containers (issue 18): "a
//! node" is a container running `orchestra worker` as its main process
//! (tests/it/harness/worker_containers.rs), next to the fleet's real
//! `redis-server` on loopback (`--network host`). A node is killed (`docker
//! kill`: the worker and its tasks die together), paused past its lease
//! (`docker pause`: the worker and its tasks freeze together) and restarted
//! (`docker restart`: same key, same state directory). Every test counts what
//! the tasks did (lines appended to `effects` in the workspace) and checks
//! the verdict and the records (report, task logs, the run's and the
//! workers' audit logs).

use crate::harness::fleet::Fleet;
use crate::harness::worker_containers::{MARKER, WorkerContainer, all_logs, trust};
use crate::harness::{plan, sh, state, wait_child, wait_until};
use std::process::Child;
use std::time::{Duration, Instant};

/// How many lines of `effects` are exactly `line`.
fn count(f: &Fleet, line: &str) -> usize {
    f.world.lines("effects").iter().filter(|l| *l == line).count()
}

/// A task that appends `<id> start`, sleeps `secs`, then appends `<id> end`.
fn long(id: &str, secs: u32) -> String {
    sh(id, &format!("echo {id} start >> effects; sleep {secs}; echo {id} end >> effects"), "")
}

/// The consumers holding entries of the unlabelled task stream (XPENDING).
fn holders(f: &Fleet) -> Vec<String> {
    let out = f.redis.raw(&["XPENDING", "orchestra:tasks", "workers", "-", "+", "100"]);
    // --raw: id, consumer, idle ms, deliveries; four lines per entry.
    let lines: Vec<&str> = out.lines().collect();
    lines.chunks(4).filter(|c| c.len() == 4).map(|c| c[1].to_string()).collect()
}

/// Wait until `cond` holds (up to `secs`), failing with `what`, the effects and the workers' logs.
#[track_caller]
fn expect(f: &Fleet, ws: &[WorkerContainer], secs: u64, what: &str, cond: impl FnMut() -> bool) {
    if !wait_until(Duration::from_secs(secs), cond) {
        panic!("{what} within {secs}s; effects {:?}\n{}", f.world.lines("effects"), all_logs(ws));
    }
}

/// The run's audit records of `kind`.
fn records(f: &Fleet, kind: &str) -> Vec<serde_json::Value> {
    f.world.audit_records(&f.world.audit).into_iter().filter(|r| r["kind"] == kind).collect()
}

/// The worker named `name`.
fn named<'a>(ws: &'a [WorkerContainer], name: &str) -> &'a WorkerContainer {
    ws.iter().find(|w| w.name == name).unwrap_or_else(|| panic!("no worker {name}"))
}

/// Start `n` worker containers `w1…wn` with `extra` flags.
fn start(f: &Fleet, n: usize, extra: &[&str]) -> Vec<WorkerContainer> {
    (1..=n).map(|i| WorkerContainer::start(f, &format!("w{i}"), extra)).collect()
}

/// The `--trust-worker` arguments for `ws`, then `extra`.
fn args(ws: &[WorkerContainer], extra: &[&str]) -> Vec<String> {
    trust(ws).into_iter().chain(extra.iter().map(|s| s.to_string())).collect()
}

/// Run a plan through the fleet's queue, trusting `ws`, to its end.
fn run(f: &Fleet, ws: &[WorkerContainer], tasks: &[String], extra: &[&str]) -> crate::harness::Out {
    let a = args(ws, extra);
    f.run(&plan(tasks), &a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Start a run of `tasks` through the fleet's queue, trusting `ws`.
fn spawn_run(f: &Fleet, ws: &[WorkerContainer], tasks: &[String]) -> std::process::Child {
    let a = args(ws, &[]);
    f.spawn_run(&plan(tasks), &a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Unix time in milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A timing, shown with `--nocapture`.
fn note(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[test]
fn sixty_tasks_on_three_worker_containers_each_run_once() {
    let f = Fleet::new("c-dag60");
    let t0 = Instant::now();
    let ws = start(&f, 3, &["--capacity", "2"]);
    note(&format!("three worker containers up: {:?}", t0.elapsed()));
    // Each worker is its container's main process, in the skeleton image.
    for w in &ws {
        let (ok, out) = w.exec(&format!("test -e {MARKER} && tr '\\0' ' ' < /proc/1/cmdline"));
        assert!(ok && out.contains(" worker --queue ") && out.contains(&format!("--name {}", w.name)), "{out}");
    }
    let ids: Vec<String> = (0..60).map(|i| format!("t{i:02}")).collect();
    let tasks: Vec<String> = (0..60)
        .map(|i| {
            // Every fifth task after the first ten waits for two earlier ones.
            let needs =
                if i >= 10 && i % 5 == 0 { format!(", needs: [t{:02}, t{:02}]", i - 10, i - 7) } else { String::new() };
            sh(&ids[i], &format!("echo {} >> effects", ids[i]), &needs)
        })
        .collect();
    let t1 = Instant::now();
    let o = run(&f, &ws, &tasks, &["-j", "6"]);
    note(&format!("60 tasks on 3 containers x 2: {:?}", t1.elapsed()));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), all_logs(&ws));
    let mut got = f.world.lines("effects");
    got.sort();
    assert_eq!(got, ids, "every task's effect exactly once");
    let report = f.world.report(&f.world.only_run());
    let succeeded = report["tasks"].as_array().unwrap().iter().filter(|t| t["state"] == "succeeded").count();
    assert_eq!(succeeded, 60, "{report:#}");
    let all = f.world.audit_records(&f.world.audit);
    let remote: Vec<&serde_json::Value> = all.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(remote.len(), 60, "one accepted result per task");
    let keys: std::collections::BTreeSet<&str> =
        remote.iter().map(|r| r["body"]["worker_key"].as_str().unwrap()).collect();
    assert!(keys.len() >= 2, "the work was spread over the containers: {keys:?}");
    for k in &keys {
        assert!(ws.iter().any(|w| w.public == *k), "{k} is one of the containers' keys");
    }
    assert!(!all.iter().any(|r| r["kind"] == "result_refused"));
}

#[test]
fn a_killed_worker_container_loses_its_task_to_another_and_the_task_ends_once() {
    let f = Fleet::new("c-kill");
    let ws = start(&f, 3, &[]);
    let child = spawn_run(&f, &ws, &[long("slow", 5)]);
    expect(&f, &ws, 30, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    let first = holders(&f).remove(0);
    let killed = named(&ws, &first);
    let t0 = Instant::now();
    killed.docker("kill");
    assert_eq!(killed.status(), "exited");
    let (o, _) = wait_child(child, Duration::from_secs(40));
    note(&format!("run ended {:?} after docker kill", t0.elapsed()));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), all_logs(&ws));
    let effects = f.world.lines("effects");
    assert_eq!(count(&f, "slow start"), 2, "ran again after the kill: {effects:?}");
    assert_eq!(count(&f, "slow end"), 1, "the killed container's copy died with it: {effects:?}");
    let id = f.world.only_run();
    assert_eq!(state(&f.world.report(&id), "slow"), "succeeded");
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    let other = remote[0]["body"]["worker"].as_str().unwrap().to_string();
    assert_ne!(other, first, "another container finished it");
    assert_eq!(remote[0]["body"]["worker_key"], named(&ws, &other).public.as_str());
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/slow.log")).unwrap();
    assert!(log.contains(&format!("taken over from worker {first} by worker {other}")), "{log}");
    assert!(records(&f, "result_refused").is_empty(), "the killed worker sent nothing late");
}

/// Start a run of one task that sleeps `secs` on two worker containers,
/// `docker pause` the one that took it, and wait until the other took it
/// over. The run, the paused worker's name, the other's, and when the first
/// copy was seen to start.
fn pause_past_lease(f: &Fleet, ws: &[WorkerContainer], secs: u32) -> (Child, String, String, Instant) {
    let child = spawn_run(f, ws, &[long("slow", secs)]);
    expect(f, ws, 30, "the task started", || count(f, "slow start") == 1 && holders(f).len() == 1);
    let started = Instant::now();
    let paused = holders(f).remove(0);
    let other = if paused == "w1" { "w2" } else { "w1" };
    let p = named(ws, &paused);
    let t0 = Instant::now();
    p.docker("pause");
    assert_eq!(p.status(), "paused");
    // The other worker takes the entry over once the frozen one was silent for a lease.
    expect(f, ws, 15, "the other worker took over", || {
        holders(f) == [other.to_string()] && count(f, "slow start") == 2
    });
    note(&format!("taken over {:?} after docker pause", t0.elapsed()));
    (child, paused, other.to_string(), started)
}

/// Wait for the run of [`pause_past_lease`] (its worker `paused` thawed by
/// now) and check it: exit 0, the result of `other` accepted, the late one
/// of `paused` refused (fenced) and recorded, the takeover in the task log.
/// The run's id.
fn expect_fenced(f: &Fleet, ws: &[WorkerContainer], child: Child, paused: &str, other: &str) -> String {
    let (o, _) = wait_child(child, Duration::from_secs(40));
    let all = f.world.audit_records(&f.world.audit);
    let results: Vec<&serde_json::Value> =
        all.iter().filter(|r| r["kind"] == "remote_result" || r["kind"] == "result_refused").collect();
    assert_eq!(o.code, 0, "{}\n{}\n{results:#?}", o.all(), all_logs(ws));
    let id = f.world.only_run();
    assert_eq!(state(&f.world.report(&id), "slow"), "succeeded");
    let refused = records(f, "result_refused");
    assert_eq!(refused.len(), 1, "{refused:#?}\n{}", all_logs(ws));
    assert_eq!(refused[0]["body"]["reason"], "fenced");
    assert_eq!(refused[0]["body"]["worker"], paused);
    assert_eq!(refused[0]["body"]["worker_key"], named(ws, paused).public.as_str());
    let remote = records(f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["body"]["worker"], other);
    assert!(remote[0]["body"]["token"].as_u64() > refused[0]["body"]["token"].as_u64(), "{remote:?} {refused:?}");
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/slow.log")).unwrap();
    assert!(log.contains(&format!("taken over from worker {paused} by worker {other}")), "{log}");
    id
}

#[test]
fn a_paused_worker_container_past_its_lease_is_fenced_when_it_wakes() {
    let f = Fleet::new("c-pause");
    let ws = start(&f, 2, &[]);
    // Long enough that the paused copy is still sleeping when it thaws (its
    // clock runs on while it is frozen) and that the run is still alive then.
    let (child, paused, other, _) = pause_past_lease(&f, &ws, 12);
    let p = named(&ws, &paused);
    p.docker("unpause");
    expect_fenced(&f, &ws, child, &paused, &other);
    assert_eq!(count(&f, "slow end"), 1, "the thawed worker stopped its copy: {:?}", f.world.lines("effects"));
    // The thawed worker's delivery ended unsuccessfully (stopped) in its own log, and it lives on.
    let ended: Vec<serde_json::Value> = p.records(&f).into_iter().filter(|r| r["kind"] == "delivery_ended").collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_ne!(ended[0]["body"]["exec_status"], 0, "{ended:#?}");
    assert_eq!(p.status(), "running");
}

#[test]
fn a_worker_container_whose_task_ended_while_paused_does_not_take_back_the_entry() {
    let f = Fleet::new("c-frozen");
    let ws = start(&f, 2, &[]);
    let (child, paused, other, started) = pause_past_lease(&f, &ws, 4);
    // The frozen copy's clock runs on: thawed after its sleep ran out, it
    // ends at once and reports, while the other copy still runs. Its late
    // result must be refused, and neither its heartbeat nor its
    // acknowledgement may take the entry from the worker that holds it now
    // (which would stop the rightful copy and fail the run).
    std::thread::sleep(Duration::from_secs(5).saturating_sub(started.elapsed()));
    assert_eq!(count(&f, "slow end"), 0, "the copies are still running or frozen");
    named(&ws, &paused).docker("unpause");
    expect_fenced(&f, &ws, child, &paused, &other);
    // The rightful copy ended. The thawed one may have got to its end too
    // before its worker stopped it (both wake at once): what a copy did
    // before its result was fenced stays done; fencing keeps it out of the
    // run's verdict and records, it cannot undo it.
    let ends = count(&f, "slow end");
    assert!((1..=2).contains(&ends), "{:?}", f.world.lines("effects"));
}

#[test]
fn a_restarted_worker_container_registers_again_and_takes_tasks() {
    let f = Fleet::new("c-restart");
    let ws = start(&f, 2, &["--capacity", "2"]);
    let first: Vec<String> = (0..4).map(|i| sh(&format!("a{i}"), &format!("echo a{i} >> effects"), "")).collect();
    let o = run(&f, &ws, &first, &["-j", "4"]);
    assert_eq!(o.code, 0, "{}\n{}", o.all(), all_logs(&ws));

    let w1 = named(&ws, "w1");
    let before = w1.started_at();
    let t0 = Instant::now();
    w1.docker("restart");
    let restarted_ms = now_ms();
    // The same container, a new main process, registered again with the same key.
    assert_ne!(w1.started_at(), before);
    assert_eq!(w1.status(), "running");
    w1.wait_registered(&f, restarted_ms);
    note(&format!("docker restart to registered again: {:?}", t0.elapsed()));
    let entry: serde_json::Value =
        serde_json::from_str(f.redis.raw(&["HGET", "orchestra:workers", "w1"]).trim()).unwrap();
    assert_eq!(entry["key"], w1.public.as_str());

    // Four tasks of a second each, four at once: w2 holds two at most, so w1 takes some.
    let second: Vec<String> =
        (0..4).map(|i| sh(&format!("b{i}"), &format!("echo b{i} >> effects; sleep 1"), "")).collect();
    let o = run(&f, &ws, &second, &["-j", "4"]);
    assert_eq!(o.code, 0, "{}\n{}", o.all(), all_logs(&ws));
    let mut got = f.world.lines("effects");
    got.sort();
    assert_eq!(got, ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"], "each task once");
    assert_eq!(f.world.run_ids().len(), 2);
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 8, "{remote:#?}");
    let second_by: Vec<&str> = remote
        .iter()
        .filter(|r| r["body"]["task"].as_str().is_some_and(|t| t.starts_with('b')))
        .map(|r| r["body"]["worker_key"].as_str().unwrap())
        .collect();
    assert!(second_by.contains(&w1.public.as_str()), "the restarted worker took tasks: {second_by:?}");
    assert!(records(&f, "result_refused").is_empty());
}
