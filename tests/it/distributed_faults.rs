//! Distributed runs under faults (issue 18): the real binary, a real
//! `redis-server`, `orchestra worker` processes killed (`kill -9`), paused
//! (SIGSTOP) and drained (SIGTERM), Redis restarted or gone, S3 storage on
//! SeaweedFS. Every test counts what the tasks did (lines each task appends
//! to `effects` in the workspace) and checks the verdict and the records
//! (report, run log, audit logs): delivery is at least once, the effect the
//! run records is exactly once.

use crate::harness::fleet::Fleet;
use crate::harness::s3::Seaweed;
use crate::harness::{plan, sh, state, task, wait_child, wait_until};
use std::time::{Duration, Instant};

/// `effects` in the workspace, one line per side effect.
fn effects(f: &Fleet) -> Vec<String> {
    f.world.lines("effects")
}

/// How many lines of `effects` are exactly `line`.
fn count(f: &Fleet, line: &str) -> usize {
    effects(f).iter().filter(|l| *l == line).count()
}

/// A task that appends `<id> start`, sleeps `secs`, then appends `<id> end`.
fn long(id: &str, secs: u32, extra: &str) -> String {
    sh(id, &format!("echo {id} start >> effects; sleep {secs}; echo {id} end >> effects"), extra)
}

/// A task that appends `<id> start`, then every 0.2 s for `ticks` times a
/// line naming this very copy of it to `ticks`, then `<id> end`: the ticks of
/// two copies that ran side by side interleave.
fn ticking(id: &str, ticks: u32, extra: &str) -> String {
    let script = format!(
        "me=$(cat /proc/sys/kernel/random/uuid); echo {id} start >> effects; i=0; \
         while [ $i -lt {ticks} ]; do echo $me >> ticks; sleep 0.2; i=$((i+1)); done; echo {id} end >> effects"
    );
    sh(id, &script, extra)
}

/// The copies that wrote to `ticks`, in the order they ran; fails if two
/// copies' ticks interleave (they ran side by side).
#[track_caller]
fn copies_one_after_another(f: &Fleet) -> Vec<String> {
    let ticks = f.world.lines("ticks");
    let mut copies: Vec<String> = Vec::new();
    for t in &ticks {
        if copies.last() != Some(t) {
            assert!(!copies.contains(t), "two copies ran side by side: {ticks:?}");
            copies.push(t.clone());
        }
    }
    copies
}

/// A quick task that appends its id.
fn quick(id: &str, extra: &str) -> String {
    sh(id, &format!("echo {id} >> effects"), extra)
}

/// The consumers holding entries of the unlabelled task stream.
fn holders(f: &Fleet) -> Vec<String> {
    let out = f.redis.raw(&["XPENDING", "orchestra:tasks", "workers", "-", "+", "100"]);
    // --raw: id, consumer, idle ms, deliveries; four lines per entry.
    let lines: Vec<&str> = out.lines().collect();
    lines.chunks(4).filter(|c| c.len() == 4).map(|c| c[1].to_string()).collect()
}

/// Wait until `cond` holds (up to `secs`), failing with `what` and the fleet's logs.
#[track_caller]
fn expect(f: &Fleet, secs: u64, what: &str, cond: impl FnMut() -> bool) {
    if !wait_until(Duration::from_secs(secs), cond) {
        let logs: String = f.workers.iter().map(|w| format!("--- {}:\n{}\n", w.name, f.worker_log(&w.name))).collect();
        panic!("{what} within {secs}s; effects {:?}\n{logs}", effects(f));
    }
}

/// The run's audit records of `kind`.
fn records(f: &Fleet, kind: &str) -> Vec<serde_json::Value> {
    f.world.audit_records(&f.world.audit).into_iter().filter(|r| r["kind"] == kind).collect()
}

/// The index of the worker named `name`.
fn index(f: &Fleet, name: &str) -> usize {
    f.workers.iter().position(|w| w.name == name).unwrap()
}

/// Append settings to the config's `distributed:` block (its last block).
fn configure(f: &Fleet, lines: &str) {
    let mut cfg = std::fs::read_to_string(&f.world.config).unwrap();
    cfg.push_str(lines);
    std::fs::write(&f.world.config, cfg).unwrap();
}

/// One bare jail (`exec` of `true`, the mean of three) at the machine's
/// speed now: what a quick task costs, whatever the load of the shared cores.
fn one_jail() -> Duration {
    let e = crate::harness::env();
    let t0 = Instant::now();
    for _ in 0..3 {
        e.run("default", &["true"]).assert_ok();
    }
    t0.elapsed() / 3
}

#[test]
fn two_hundred_tasks_on_three_workers_each_run_once() {
    let before = one_jail();
    let mut f = Fleet::new("dag200");
    for w in ["w1", "w2", "w3"] {
        f.spawn_worker(w, &["--capacity", "2"]);
    }
    let ids: Vec<String> = (0..200).map(|i| format!("t{i:03}")).collect();
    let tasks: Vec<String> = (0..200)
        .map(|i| {
            // Every fifth task after the first twenty waits for two earlier ones.
            let needs = if i >= 20 && i % 5 == 0 {
                format!(", needs: [t{:03}, t{:03}]", i - 20, i - 13)
            } else {
                String::new()
            };
            quick(&ids[i], &needs)
        })
        .collect();
    let started = Instant::now();
    let o = f.run(&plan(&tasks), &["-j", "6"]);
    let wall = started.elapsed();
    // Measured: 43-50 s on 2 shared cores in a debug build (the same plan
    // run locally took 71 s there: the sandboxes, not the queue, are the cost).
    // 150 s, or the 200 jails one after another at the speed the load leaves
    // (measured before and after the run; the fleet runs six at once on the
    // two cores, ~0.6 of that when idle), whichever is longer: at load 18 the
    // run took 150.5 s.
    let one = before.max(one_jail());
    let budget = Duration::from_secs(150).max(one * 200);
    assert!(wall < budget, "200 tasks took {wall:?} (budget {budget:?}: one bare jail took {one:?})");
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    let mut got = effects(&f);
    got.sort();
    assert_eq!(got, ids, "every task's effect exactly once");
    let report = f.world.report(&f.world.only_run());
    let succeeded = report["tasks"].as_array().unwrap().iter().filter(|t| t["state"] == "succeeded").count();
    assert_eq!(succeeded, 200, "{report:#}");
    // Each attempt counted once, from one of the three workers.
    let all = f.world.audit_records(&f.world.audit);
    let remote: Vec<&serde_json::Value> = all.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(remote.len(), 200);
    let by: std::collections::BTreeSet<String> =
        remote.iter().map(|r| r["body"]["worker"].as_str().unwrap().to_string()).collect();
    assert!(by.len() >= 2, "the work was spread: {by:?}");
    assert!(!all.iter().any(|r| r["kind"] == "result_refused"));
}

#[test]
fn a_worker_killed_mid_task_loses_it_to_another_and_the_task_ends_once() {
    let mut f = Fleet::new("kill9");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let mut child = f.spawn_run(&plan(&[long("slow", 5, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    let first = holders(&f).remove(0);
    f.signal(index(&f, &first), libc::SIGKILL);
    let _ = child.try_wait();
    let (o, _) = wait_child(child, Duration::from_secs(40));
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    assert_eq!(count(&f, "slow start"), 2, "ran again after the kill: {:?}", effects(&f));
    assert_eq!(count(&f, "slow end"), 1, "the killed worker's task died with it: {:?}", effects(&f));
    let id = f.world.only_run();
    assert_eq!(state(&f.world.report(&id), "slow"), "succeeded");
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/slow.log")).unwrap();
    let other = if first == "w1" { "w2" } else { "w1" };
    assert!(log.contains(&format!("taken over from worker {first} by worker {other}")), "{log}");
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0]["body"]["worker"], other);
}

#[test]
fn a_paused_worker_past_its_lease_is_fenced_and_stops_its_task() {
    let mut f = Fleet::new("pause");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let child = f.spawn_run(&plan(&[long("slow", 6, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    let paused = holders(&f).remove(0);
    let other = if paused == "w1" { "w2" } else { "w1" };
    let p = index(&f, &paused);
    f.signal(p, libc::SIGSTOP);
    // Another worker takes the entry over once the paused one was silent for a lease.
    expect(&f, 15, "the other worker took over", || holders(&f) == [other.to_string()] && count(&f, "slow start") == 2);
    f.signal(p, libc::SIGCONT);
    let (o, _) = wait_child(child, Duration::from_secs(40));
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let id = f.world.only_run();
    assert_eq!(state(&f.world.report(&id), "slow"), "succeeded");
    // The paused worker noticed it lost the lease and stopped its task before it ended.
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let refused = records(&f, "result_refused");
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["body"]["reason"], "fenced");
    assert_eq!(refused[0]["body"]["worker"], paused.as_str());
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0]["body"]["worker"], other);
    assert!(remote[0]["body"]["token"].as_u64() > refused[0]["body"]["token"].as_u64(), "{remote:?} {refused:?}");
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/slow.log")).unwrap();
    assert!(log.contains(&format!("taken over from worker {paused} by worker {other}")), "{log}");
    // The paused worker's delivery ended (stopped), and it was not acknowledged by it.
    let ended: Vec<serde_json::Value> =
        f.worker_records(p).into_iter().filter(|r| r["kind"] == "delivery_ended").collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_ne!(ended[0]["body"]["exec_status"], 0, "{ended:#?}");
}

#[test]
fn a_task_longer_than_the_lease_on_a_live_worker_runs_once() {
    let mut f = Fleet::new("longlease");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    // Three leases (2 s each) on one live worker, another worker idle beside it.
    let o = f.run(&plan(&[long("slow", 6, "")]), &[]);
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    assert_eq!(effects(&f), ["slow start", "slow end"]);
    let id = f.world.only_run();
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/slow.log")).unwrap();
    assert!(!log.contains("taken over"), "{log}");
    assert_eq!(records(&f, "remote_result").len(), 1);
    assert!(records(&f, "result_refused").is_empty());
    // Only one worker ever ran it (the idle one has no audit log at all).
    let ran: Vec<usize> = (0..2).filter(|&i| f.workers[i].state.join("audit").exists()).collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    let delivered = f.worker_records(ran[0]).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 1);
}

#[test]
fn a_redis_writer_handing_a_live_attempt_to_another_worker_starts_no_second_copy_beside_it() {
    let mut f = Fleet::new("handover");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    // A copy that finds another copy running (holding the lock) says so.
    let script = "exec 9>>solo.lock; flock -n 9 || { echo concurrent >> effects; exit 1; }; \
                  echo solo start >> effects; sleep 6; echo solo end >> effects";
    let child = f.spawn_run(&plan(&[sh("solo", script, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "solo start") == 1 && holders(&f).len() == 1);
    let holder = holders(&f).remove(0);
    // The attacker (anyone who can write to Redis) makes the live entry look
    // idle for ten minutes: the other worker reclaims it at once.
    let pending = f.redis.raw(&["XPENDING", "orchestra:tasks", "workers", "-", "+", "1"]);
    let entry = pending.lines().next().unwrap().to_string();
    // Again and again until the other worker has it (the holder's keep-alive
    // resets the idle time every third of a lease), and only while the holder
    // still has it, atomically: never handed back to the holder.
    let idle_if_held = "local p = redis.call('XPENDING', KEYS[1], 'workers', ARGV[1], ARGV[1], 1, ARGV[2]) \
                        if #p == 1 then redis.call('XCLAIM', KEYS[1], 'workers', ARGV[2], 0, ARGV[1], 'IDLE', 600000, 'JUSTID') end \
                        return #p";
    let other = if holder == "w1" { "w2" } else { "w1" };
    expect(&f, 15, "the other worker reclaimed the entry", || {
        f.redis.raw(&["EVAL", idle_if_held, "1", "orchestra:tasks", &entry, &holder]);
        std::thread::sleep(Duration::from_millis(50));
        holders(&f) == [other.to_string()]
    });
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let got = effects(&f);
    assert!(!got.iter().any(|l| l == "concurrent"), "two copies ran side by side: {got:?}");
    assert_eq!(count(&f, "solo end"), 1, "{got:?}");
    let id = f.world.only_run();
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/solo.log")).unwrap();
    assert!(log.contains(&format!("while worker {holder} is alive: it waits")), "{log}");
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:?}");
    assert_ne!(remote[0]["body"]["worker"], holder.as_str(), "the copy that counted is the one that took over");
    // The stopped copy's result came back and was refused, on the record.
    let refused = records(&f, "result_refused");
    assert!(
        refused.iter().all(|r| r["body"]["worker"] == holder.as_str() && r["body"]["reason"] == "fenced"),
        "{refused:#?}"
    );
}

#[test]
fn a_worker_handed_back_its_own_live_entry_does_not_start_a_second_copy() {
    let mut f = Fleet::new("selfclaim");
    // Two slots: a worker with a free slot reclaims idle entries, its own too.
    f.spawn_worker("w1", &["--capacity", "2"]);
    let script = "exec 9>>solo.lock; flock -n 9 || { echo concurrent >> effects; exit 1; }; \
                  echo solo start >> effects; sleep 5; echo solo end >> effects";
    let child = f.spawn_run(&plan(&[sh("solo", script, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "solo start") == 1 && holders(&f).len() == 1);
    let pending = f.redis.raw(&["XPENDING", "orchestra:tasks", "workers", "-", "+", "1"]);
    let entry = pending.lines().next().unwrap().to_string();
    // Someone who can write to Redis keeps making the live entry look idle.
    for _ in 0..12 {
        f.redis.raw(&["XCLAIM", "orchestra:tasks", "workers", "w1", "0", &entry, "IDLE", "600000", "JUSTID"]);
        std::thread::sleep(Duration::from_millis(250));
    }
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert_eq!(effects(&f), ["solo start", "solo end"], "{}", f.worker_log("w1"));
    assert_eq!(records(&f, "remote_result").len(), 1);
    assert!(f.worker_log("w1").contains("not started twice"), "{}", f.worker_log("w1"));
}

#[test]
fn ctrl_c_while_redis_holds_writes_still_stops_the_running_task() {
    let mut f = Fleet::new("pausecancel");
    f.spawn_worker("w1", &[]);
    let child = f.spawn_run(&plan(&[long("slow", 30, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "slow start") == 1);
    // Writes held for 12 s (longer than a command's 10 s reply timeout): the
    // cancel must be sent again, not dropped after its first failure.
    f.redis.raw(&["CLIENT", "PAUSE", "12000", "WRITE"]);
    let pid = child.id() as i32;
    // SAFETY-free: kill(2) through libc on a child we own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (o, took) = wait_child(child, Duration::from_secs(60));
    assert!(took < Duration::from_secs(25), "the run waited for the task's end: {took:?}\n{}", o.all());
    o.assert_code(2);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        count(&f, "slow end"),
        0,
        "the cancelled task ran to its end: {:?}\n{}",
        effects(&f),
        f.worker_log("w1")
    );
    let report = f.world.report(&f.world.only_run());
    assert_eq!(report["status"], "interrupted", "{report:#}");
    // The stopped delivery's last events came after the session deleted its
    // results stream: they did not create it again (task output left in Redis).
    assert_eq!(f.redis.raw(&["KEYS", "orchestra:results:*"]).trim(), "", "{}", f.worker_log("w1"));
}

#[test]
fn redis_restarted_mid_run_the_run_completes_each_task_once() {
    let mut f = Fleet::new("restart");
    f.spawn_worker("w1", &["--capacity", "2"]);
    f.spawn_worker("w2", &["--capacity", "2"]);
    let mut tasks: Vec<String> = (0..6).map(|i| quick(&format!("a{i}"), "")).collect();
    tasks.push(long("mid", 3, ", needs: [a0, a1, a2, a3, a4, a5]"));
    tasks.extend((0..6).map(|i| quick(&format!("b{i}"), ", needs: [mid]")));
    let child = f.spawn_run(&plan(&tasks), &["-j", "4"]);
    expect(&f, 30, "the middle task started", || count(&f, "mid start") == 1);
    f.redis.restart();
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let mut got = effects(&f);
    got.sort();
    let mut want: Vec<String> = (0..6).flat_map(|i| [format!("a{i}"), format!("b{i}")]).collect();
    want.extend(["mid end".to_string(), "mid start".to_string()]);
    want.sort();
    assert_eq!(got, want, "each task once");
    let report = f.world.report(&f.world.only_run());
    assert!(report["tasks"].as_array().unwrap().iter().all(|t| t["state"] == "succeeded"), "{report:#}");
}

#[test]
fn redis_gone_ends_the_run_within_the_outage_and_resume_completes_it() {
    let mut f = Fleet::new("outage");
    f.spawn_worker("w1", &[]);
    let tasks = vec![quick("first", ""), long("mid", 3, ", needs: [first]"), quick("last", ", needs: [mid]")];
    let child = f.spawn_run(&plan(&tasks), &[]);
    expect(&f, 30, "the middle task started", || count(&f, "mid start") == 1);
    f.redis.kill();
    let killed = Instant::now();
    let (o, _) = wait_child(child, Duration::from_secs(40));
    let took = killed.elapsed();
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(took < Duration::from_secs(10 + 6), "the run ended {took:?} after Redis went (outage 10s)");
    assert!(
        o.stderr.contains("was unreachable for more than 10s (resume the run once it is back)"),
        "a clear message: {}",
        o.all()
    );
    let id = f.world.only_run();
    assert_ne!(state(&f.world.report(&id), "last"), "succeeded");
    assert_eq!(count(&f, "last"), 0);
    // Redis back (same data): resume on the queue finishes the run.
    f.redis.restart();
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    let report = f.world.report(&id);
    for t in ["first", "mid", "last"] {
        assert_eq!(state(&report, t), "succeeded", "{t}: {}", task(&report, t));
    }
    assert_eq!(count(&f, "first"), 1, "not run again: {:?}", effects(&f));
    assert_eq!(count(&f, "last"), 1, "{:?}", effects(&f));
    assert!(count(&f, "mid end") >= 1);
}

#[test]
fn a_redis_that_holds_every_write_does_not_hold_up_ctrl_c_and_the_task_never_runs() {
    let mut f = Fleet::new("paused");
    f.spawn_worker("w1", &[]);
    expect(&f, 10, "the worker registered", || f.redis.raw(&["HLEN", "orchestra:workers"]).trim() == "1");
    // Redis answers reads but holds every write (XADD, XGROUP, SET...) for 30 s.
    f.redis.raw(&["CLIENT", "PAUSE", "30000", "WRITE"]);
    let child = f.spawn_run(&plan(&[quick("held", "")]), &[]);
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id() as i32;
    // SAFETY-free: kill(2) through libc on a child we own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (o, took) = wait_child(child, Duration::from_secs(30));
    f.redis.raw(&["CLIENT", "UNPAUSE"]);
    assert!(took < Duration::from_secs(6), "Ctrl-C took {took:?} while Redis held the task message\n{}", o.all());
    o.assert_code(2);
    let id = f.world.only_run();
    let report = f.world.report(&id);
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(state(&report, "held"), "cancelled", "{}", task(&report, "held"));
    // Whatever Redis does with the held message now, the task never runs.
    std::thread::sleep(Duration::from_secs(4));
    assert!(effects(&f).is_empty(), "{:?}\n{}", effects(&f), f.worker_log("w1"));
}

#[test]
fn a_worker_told_to_stop_finishes_its_task_takes_no_other_and_exits_0() {
    let mut f = Fleet::new("drain");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let tasks = vec![long("slow", 3, ""), quick("after", ", needs: [slow]")];
    let child = f.spawn_run(&plan(&tasks), &[]);
    expect(&f, 20, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    let draining = holders(&f).remove(0);
    let other = if draining == "w1" { "w2" } else { "w1" };
    let d = index(&f, &draining);
    f.signal(d, libc::SIGTERM);
    let (o, _) = wait_child(child, Duration::from_secs(40));
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    assert_eq!(f.wait(d, Duration::from_secs(20)), Some(0), "{}", f.worker_log(&draining));
    assert_eq!(effects(&f), ["slow start", "slow end", "after"]);
    let remote = records(&f, "remote_result");
    let by = |t: &str| remote.iter().find(|r| r["body"]["task"] == t).map(|r| r["body"]["worker"].clone());
    assert_eq!(by("slow"), Some(draining.clone().into()), "its result was accepted");
    assert_eq!(by("after"), Some(other.into()), "the draining worker took no new task");
    assert_eq!(f.redis.raw(&["HEXISTS", "orchestra:workers", &draining]).trim(), "0", "it unregistered");
}

#[test]
fn a_task_delivered_more_than_max_deliveries_is_worker_lost_not_retried_forever() {
    let mut f = Fleet::new("maxdeliv");
    configure(&f, "  max_deliveries: 1\n");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let child = f.spawn_run(&plan(&[long("doomed", 5, "")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "doomed start") == 1 && holders(&f).len() == 1);
    let first = holders(&f).remove(0);
    f.signal(index(&f, &first), libc::SIGKILL);
    let (o, took) = wait_child(child, Duration::from_secs(40));
    assert_eq!(o.code, 2, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    assert!(took < Duration::from_secs(20), "{took:?}");
    let report = f.world.report(&f.world.only_run());
    assert_eq!(task(&report, "doomed")["cause"], "worker_lost", "{}", task(&report, "doomed"));
    // Its second delivery was refused before it ran: one start, never an end.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(effects(&f), ["doomed start"]);
    assert!(records(&f, "remote_result").is_empty());
    let pending = f.redis.raw(&["XPENDING", "orchestra:tasks", "workers"]);
    assert!(pending.starts_with('0'), "the entry was acknowledged: {pending}");
}

#[test]
fn s3_storage_on_seaweedfs_holds_the_outputs_and_the_run_fetches_them() {
    let mut f = Fleet::new("s3");
    let s3 = Seaweed::start(&f.world.root);
    s3.create_bucket("fleet-blobs", false);
    for (k, v) in s3.env() {
        f.world.env.push((k.into(), v.into()));
    }
    f.spawn_worker("w1", &[]);
    let storage = format!("s3://fleet-blobs/blobs?endpoint={}&region=us-east-1", s3.endpoint);
    let tasks = vec![
        quick("first", ""),
        sh(
            "product",
            "echo product >> effects; mkdir -p out && echo built on s3 > out/result.txt",
            ", needs: [first], outputs: [out]",
        ),
    ];
    let o = f.run(&plan(&tasks), &["--storage", &storage]);
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    let id = f.world.only_run();
    let dir = f.world.run_dir(&id);
    assert_eq!(std::fs::read_to_string(dir.join("artifacts/product/out/result.txt")).unwrap(), "built on s3\n");
    assert!(std::fs::read_to_string(dir.join("logs/product.log")).is_ok());
    // The output is in the bucket, under its sha256.
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(b"built on s3\n").iter().map(|b| format!("{b:02x}")).collect();
    let a = s3.anchor("fleet-blobs", "");
    let got = a.request("GET", &format!("blobs/sha256/{}/{hex}", &hex[..2]), &[], &[], b"").unwrap();
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(got.body, b"built on s3\n");
    assert_eq!(effects(&f), ["first", "product"]);
    // Nothing went to a local blob store.
    assert!(!f.world.runs.join(".blobs").exists());
}

#[test]
fn s3_down_while_a_task_runs_fails_it_worker_lost_with_the_storage_error_and_nothing_is_acknowledged_without_its_outputs()
 {
    let mut f = Fleet::new("s3-down");
    configure(&f, "  max_deliveries: 1\n");
    let mut s3 = Seaweed::start(&f.world.root);
    s3.create_bucket("fleet-blobs", false);
    for (k, v) in s3.env() {
        f.world.env.push((k.into(), v.into()));
    }
    f.spawn_worker("w1", &[]);
    let storage = format!("s3://fleet-blobs/blobs?endpoint={}&region=us-east-1", s3.endpoint);
    let product = sh(
        "product",
        "echo product start >> effects; sleep 2; mkdir -p out && echo built > out/result.txt; echo product end >> effects",
        ", outputs: [out]",
    );
    let run = f.spawn_run(&plan(&[product]), &["--storage", &storage]);
    expect(&f, 20, "the task to start", || count(&f, "product start") == 1);
    s3.kill();
    let (o, took) = wait_child(run, Duration::from_secs(60));
    assert_eq!(o.code, 2, "{}\n{}", o.all(), f.worker_log("w1"));
    assert!(took < Duration::from_secs(30), "{took:?}");
    let report = f.world.report(&f.world.only_run());
    let t = task(&report, "product");
    assert_eq!(t["cause"], "worker_lost", "{t}");
    let note = t["note"].as_str().unwrap_or("");
    assert!(note.contains("last error: worker w1") && note.contains("unreachable"), "{note}");
    // It ran once; its result was never acknowledged as if complete.
    assert_eq!(count(&f, "product end"), 1);
    assert!(records(&f, "remote_result").is_empty());
    assert!(!f.world.run_dir(&f.world.only_run()).join("artifacts/product/out/result.txt").exists());
    assert!(holders(&f).is_empty(), "the entry is settled (acknowledged by the worker that gave up)");
}

/// Replace `from` (which must be there) by `to` in the fleet's config.
fn reconfigure(f: &Fleet, from: &str, to: &str) {
    let cfg = std::fs::read_to_string(&f.world.config).unwrap();
    assert!(cfg.contains(from), "{from:?} not in the config:\n{cfg}");
    std::fs::write(&f.world.config, cfg.replace(from, to)).unwrap();
}

/// Review 60, F5: Redis holding every write (`CLIENT PAUSE … WRITE`) for four
/// leases and longer than `unserved`, but less than `outage`: no heartbeat or
/// event of the worker gets through meanwhile, and the registry still shows
/// its last heartbeat from before the pause when writes resume, yet it is not
/// taken for dead (the watchdog's own write was held too): the attempt is
/// neither failed `worker_lost` nor retried, the task runs once, exit 0.
#[test]
fn a_write_pause_shorter_than_the_outage_is_not_taken_for_a_dead_worker() {
    // A lease longer than the pause: a worker that cannot keep its entry for
    // 5/6 of a lease stops its task (see
    // `a_write_pause_longer_than_the_lease_restarts_the_task_once_never_beside_itself`).
    let mut f = Fleet::with_lease("writepause", "12s");
    reconfigure(&f, "unserved: 20s", "unserved: 3s");
    reconfigure(&f, "outage: 10s", "outage: 30s");
    f.spawn_worker("w1", &[]);
    // A retry allowed: an attempt failed `worker_lost` would run again.
    let child = f.spawn_run(&plan(&[long("slow", 12, ", retries: 1")]), &[]);
    expect(&f, 20, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    // 8 s: less than 5/6 of the lease, more than `unserved` (3 s), less than
    // `outage` (30 s) and than a command's 10 s reply timeout.
    assert_eq!(f.redis.raw(&["CLIENT", "PAUSE", "8000", "WRITE"]).trim(), "OK");
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert!(!o.stderr.contains("worker_lost"), "{}", o.all());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(effects(&f), ["slow start", "slow end"], "{}\n{}", o.all(), f.worker_log("w1"));
    let id = f.world.only_run();
    let report = f.world.report(&id);
    let t = task(&report, "slow");
    assert_eq!(state(&report, "slow"), "succeeded", "{t}");
    assert_eq!(t["cause"], "ok", "{t}");
    assert_eq!(t["attempts"], 1, "{t}");
    assert!(records(&f, "task_retry").is_empty(), "{:#?}", records(&f, "task_retry"));
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["body"]["worker"], "w1");
    assert_eq!(remote[0]["body"]["attempt"], 1);
    assert!(records(&f, "result_refused").is_empty(), "{:#?}", records(&f, "result_refused"));
    let delivered = f.worker_records(0).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 1);
}

/// Review 60, F5: Redis holding every write for longer than `outage` fails
/// the run as an outage (exit 2, the message naming the queue and the bound)
/// while the pause lasts, without running anything twice meanwhile; once
/// Redis takes writes again, `resume` completes the run and does not run
/// again what had succeeded. `outage` (12 s) is longer than a command's 10 s
/// reply timeout, as it is by default (60 s): the watchdog's held write fails
/// only then, and the stall is measured by the writes that follow.
#[test]
fn a_write_pause_longer_than_the_outage_fails_the_run_and_resume_completes_it() {
    let mut f = Fleet::new("writeoutage");
    reconfigure(&f, "unserved: 20s", "unserved: 2s");
    reconfigure(&f, "outage: 10s", "outage: 12s");
    f.spawn_worker("w1", &["--go-wait", "2s"]);
    f.spawn_worker("w2", &["--go-wait", "2s"]);
    let tasks = vec![quick("first", ""), long("mid", 3, ", needs: [first]"), quick("last", ", needs: [mid]")];
    let child = f.spawn_run(&plan(&tasks), &[]);
    expect(&f, 30, "the middle task started", || count(&f, "mid start") == 1);
    let pause = Duration::from_secs(45);
    assert_eq!(f.redis.raw(&["CLIENT", "PAUSE", &pause.as_millis().to_string(), "WRITE"]).trim(), "OK");
    let paused = Instant::now();
    let (o, _) = wait_child(child, Duration::from_secs(70));
    let took = paused.elapsed();
    f.redis.raw(&["CLIENT", "UNPAUSE"]);
    assert_eq!(o.code, 2, "{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    assert!(took + Duration::from_secs(2) < pause, "the run waited the pause out ({took:?} of {pause:?}): {}", o.all());
    let said = format!("the queue {} took no writes for more than 12s (resume the run once it does)", f.redis.url());
    assert!(o.stderr.contains(&said), "a clear message: {}", o.all());
    let id = f.world.only_run();
    let report = f.world.report(&id);
    let mid = task(&report, "mid");
    assert_eq!(state(&report, "mid"), "failed", "{mid}");
    assert_eq!(mid["cause"], "setup_failed", "{mid}");
    assert!(mid["note"].as_str().unwrap_or("").contains(&said), "{mid}");
    assert_eq!(state(&report, "first"), "succeeded");
    assert_ne!(state(&report, "last"), "succeeded");
    // Redis takes writes again: nothing of the failed run runs again by itself
    // (the entry reclaimed after the pause gets no go-ahead).
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(count(&f, "mid start"), 1, "{:?}\n{}\n{}", effects(&f), f.worker_log("w1"), f.worker_log("w2"));
    assert_eq!(count(&f, "last"), 0);
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.all(), f.worker_log("w1"), f.worker_log("w2"));
    let report = f.world.report(&id);
    for t in ["first", "mid", "last"] {
        assert_eq!(state(&report, t), "succeeded", "{t}: {}", task(&report, t));
    }
    // `first` not again; `mid` once more (its failed attempt's result never
    // counted), `last` once.
    assert_eq!(count(&f, "first"), 1, "{:?}", effects(&f));
    assert_eq!(count(&f, "mid start"), 2, "{:?}", effects(&f));
    assert_eq!(count(&f, "last"), 1, "{:?}", effects(&f));
}

/// A worker cut off from Redis while its task goes on (its ACL user
/// disabled, its connections killed: a partition of that process alone)
/// stops the task itself before its lease is over; another worker takes the
/// entry over after the lease and runs the task to its end, never beside the
/// first copy (their ticks do not interleave); the run ends exit 0 with the
/// task's end recorded once.
#[test]
fn a_worker_cut_off_from_redis_stops_its_task_before_another_worker_takes_it_over() {
    let mut f = Fleet::new("cutoff");
    let cut = f.acl_user("cut");
    f.spawn_worker_env("w1", &[], &cut);
    // w2 is trusted from the start but starts only once w1 holds the task.
    let w2 = f.worker_key("w2");
    let child = f.spawn_run(&plan(&[ticking("slow", 30, "")]), &["--trust-worker", &w2]);
    expect(&f, 30, "w1 started the task", || count(&f, "slow start") == 1 && holders(&f) == ["w1"]);
    f.spawn_worker("w2", &[]);
    f.cut_off("cut");
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "w1's copy, then w2's: {copies:?}");
    assert_eq!(count(&f, "slow start"), 2, "{:?}", effects(&f));
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["body"]["worker"], "w2");
    assert!(f.worker_log("w1").contains("could not be re-claimed"), "{}", f.worker_log("w1"));
    // w1's copy is gone for good: nothing of it ticks any more.
    let n = f.world.lines("ticks").len();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(f.world.lines("ticks").len(), n);
}

/// Redis holding every write for four leases (8 s, lease 2 s; review 60's
/// F5 pause): the worker cannot keep its entry, so it stops its task itself
/// before the lease is over (a Redis stall that long costs the task its run,
/// never two copies at once); once writes resume the same attempt runs again
/// (not failed `worker_lost`, no retry spent), once, not beside the stopped
/// copy, whose result is refused; the run ends exit 0.
#[test]
fn a_write_pause_longer_than_the_lease_restarts_the_task_once_never_beside_itself() {
    let mut f = Fleet::new("leasepause");
    reconfigure(&f, "unserved: 20s", "unserved: 3s");
    reconfigure(&f, "outage: 10s", "outage: 30s");
    f.spawn_worker("w1", &[]);
    let child = f.spawn_run(&plan(&[ticking("slow", 25, ", retries: 1")]), &[]);
    expect(&f, 30, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    assert_eq!(f.redis.raw(&["CLIENT", "PAUSE", "8000", "WRITE"]).trim(), "OK");
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert!(!o.stderr.contains("worker_lost"), "{}", o.all());
    assert!(records(&f, "task_retry").is_empty(), "{:#?}", records(&f, "task_retry"));
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}\n{}", f.worker_log("w1"));
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
    assert_eq!(records(&f, "remote_result").len(), 1);
    assert!(!records(&f, "result_refused").is_empty(), "the stopped copy's result was not refused");
}

/// The orchestrator cut off from Redis (its ACL user disabled) while the
/// worker, which still reaches Redis, runs its task: the run fails as an
/// outage and the task goes on. `resume` cancels that delivery and waits
/// for it to stop before it runs the task again: the copies never overlap,
/// the task's end is recorded once, the resume exits 0.
#[test]
fn resume_after_an_outage_stops_the_earlier_sessions_task_before_running_it_again() {
    let mut f = Fleet::new("resumefence");
    reconfigure(&f, "outage: 10s", "outage: 3s");
    f.spawn_worker("w1", &[]);
    let orch = f.acl_user("orch");
    f.world.env.extend(orch);
    let child = f.spawn_run(&plan(&[ticking("slow", 60, "")]), &[]);
    expect(&f, 30, "the task started", || count(&f, "slow start") == 1);
    f.cut_off("orch");
    let (o, _) = wait_child(child, Duration::from_secs(30));
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stderr.contains("was unreachable for more than 3s"), "{}", o.all());
    // The first copy goes on (its worker reaches Redis).
    let n = f.world.lines("ticks").len();
    std::thread::sleep(Duration::from_millis(800));
    assert!(f.world.lines("ticks").len() > n, "the first copy stopped by itself: {}", f.worker_log("w1"));
    f.reconnect("orch");
    let id = f.world.only_run();
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    assert!(r.stderr.contains("waiting for 1 task(s) of the run's earlier session to stop"), "{}", r.all());
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(&f, "slow start"), 2, "{:?}", effects(&f));
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let report = f.world.report(&id);
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
    // Nothing of the run is left in Redis for another resume to wait for.
    assert_eq!(f.redis.raw(&["EXISTS", &format!("orchestra:sent:{id}")]).trim(), "0");
}

/// Review 64, F1: the worker holding a task frozen (SIGSTOP) while its task,
/// a process of its own, goes on. The task's `exec` stops it when the worker
/// stops feeding its lease (two thirds of a lease after the last keep), so
/// the worker that takes the entry over after the lease never runs beside
/// it (the copies' ticks do not interleave); once the frozen worker wakes,
/// its result is refused; the run ends exit 0 with the task's end once.
#[test]
fn a_frozen_worker_s_task_stops_itself_before_another_worker_takes_it_over() {
    let mut f = Fleet::new("frozen");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let child = f.spawn_run(&plan(&[ticking("slow", 40, "")]), &[]);
    expect(&f, 30, "the task started", || count(&f, "slow start") == 1 && holders(&f).len() == 1);
    let held = holders(&f).remove(0);
    let p = index(&f, &held);
    f.signal(p, libc::SIGSTOP);
    expect(&f, 30, "another worker took the task over", || count(&f, "slow start") == 2);
    std::thread::sleep(Duration::from_secs(3));
    f.signal(p, libc::SIGCONT);
    let (o, _) = wait_child(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_ne!(remote[0]["body"]["worker"], held.as_str());
}

/// Review 64, F2: the orchestrator killed, then Redis restarted without its
/// data (no AOF): the note of what the earlier session sent is gone with the
/// entries. `resume` finds the run's in-flight marker, says so and waits a
/// lease (the worker, whose keep finds no entry any more, stops its copy at
/// once) before it runs the task again: the copies never overlap, the
/// task's end is recorded once, the resume exits 0.
#[test]
fn resume_after_redis_lost_its_data_waits_a_lease_before_running_the_task_again() {
    let mut f = Fleet::new("nodata");
    let dir = f.world.root.join("redis-nodata");
    f.redis = crate::harness::redis::Redis::start_with(
        &dir,
        &["--appendonly".into(), "no".into(), "--save".into(), "".into()],
        &[],
        false,
    );
    f.spawn_worker("w1", &[]);
    let mut child = f.spawn_run(&plan(&[ticking("slow", 50, "")]), &[]);
    expect(&f, 30, "the task started", || count(&f, "slow start") == 1);
    let _ = child.kill();
    let _ = child.wait();
    let id = f.world.only_run();
    f.redis.restart();
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    assert!(r.stderr.contains("holds no note of what the run's earlier session sent"), "{}", r.all());
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    let report = f.world.report(&id);
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
    // Settled: the marker is gone, a later resume would not wait.
    assert!(!f.world.runs.join(&id).join("remote.inflight").exists());
}

/// The run's checkpoint snapshot.
fn checkpoint(f: &Fleet, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(f.world.runs.join(id).join("checkpoint.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Start a long task through the fleet, wait until a worker runs it, then
/// kill the orchestrator (SIGKILL: the worker's copy goes on). Returns the run id.
fn orphan_a_remote_task(f: &Fleet) -> String {
    let mut child = f.spawn_run(&plan(&[ticking("slow", 60, "")]), &[]);
    expect(f, 30, "a worker started the task", || count(f, "slow start") == 1 && holders(f).len() == 1);
    let _ = child.kill();
    let _ = child.wait();
    // The copy goes on without its orchestrator.
    let n = f.world.lines("ticks").len();
    std::thread::sleep(Duration::from_millis(800));
    assert!(f.world.lines("ticks").len() > n, "the first copy stopped by itself");
    f.world.only_run()
}

/// The one stderr line that says `what`.
#[track_caller]
fn line_with<'a>(stderr: &'a str, what: &str) -> &'a str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(what)).collect();
    assert_eq!(lines.len(), 1, "one line saying {what:?}: {stderr}");
    lines[0]
}

/// What a resume that stopped the earlier session's copy of `slow` first
/// shows: its `said` line and the wait on stderr, the two copies one after
/// the other, one end, the task succeeded.
#[track_caller]
fn earlier_copy_stopped_first(f: &Fleet, id: &str, stderr: &str, said: &str) {
    line_with(stderr, said);
    line_with(stderr, "waiting for 1 task(s) of the run's earlier session to stop");
    let copies = copies_one_after_another(f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(f, "slow end"), 1, "{:?}", effects(f));
    let report = f.world.report(id);
    assert_eq!(state(&report, "slow"), "succeeded", "{}", task(&report, "slow"));
}

/// Residual of review 64: a resume without `--queue` of a run that was
/// distributed. The checkpoint names the run's queue; the resume stops the
/// earlier session's copy there (cancel, wait) before it runs the task
/// locally: the copies never overlap, the task's end is recorded once, exit
/// 0; then nothing of the run is left to stop, and a later local resume
/// needs no queue at all (Redis gone: still exit 0).
#[test]
fn a_local_resume_of_a_distributed_run_stops_the_earlier_sessions_task_on_its_queue_first() {
    let mut f = Fleet::new("localresume");
    f.spawn_worker("w1", &[]);
    let id = orphan_a_remote_task(&f);
    let note = &checkpoint(&f, &id)["distributed"];
    assert_eq!(note["queue"], f.redis.url(), "{note}");
    assert_eq!(note["lease_ms"], 2000, "{note}");
    assert_eq!(note["signer"], f.orch_public.as_str(), "{note}");
    let r = f.world.resume(&id, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    let said = format!(
        "orchestra: resume: the run's earlier session sent tasks to the queue {}: stopping them there before this session runs the rest locally",
        f.redis.url()
    );
    earlier_copy_stopped_first(&f, &id, &r.stderr, &said);
    assert_eq!(count(&f, "slow start"), 2, "{:?}", effects(&f));
    // It ran here: no worker's result counted.
    assert!(records(&f, "remote_result").is_empty(), "{:#?}", records(&f, "remote_result"));
    // Nothing of the run is left to stop.
    assert!(!f.world.runs.join(&id).join("remote.inflight").exists());
    assert!(checkpoint(&f, &id).get("distributed").is_none(), "{}", checkpoint(&f, &id));
    assert_eq!(f.redis.raw(&["EXISTS", &format!("orchestra:sent:{id}")]).trim(), "0");
    f.redis.kill();
    let again = f.world.resume(&id, &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(!again.stderr.contains("earlier session"), "{}", again.all());
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
}

/// Residual of review 64: a resume on another queue. The earlier session's
/// copy, on the recorded queue A, is stopped there first; the task then runs
/// on queue B's worker, never beside the first copy; the checkpoint now
/// names B, and A holds no note of the run.
#[test]
fn a_resume_on_another_queue_stops_the_earlier_sessions_task_on_the_recorded_queue_first() {
    let mut f = Fleet::new("otherqueue");
    f.spawn_worker("w1", &[]);
    let id = orphan_a_remote_task(&f);
    let b = crate::harness::redis::Redis::start(&f.world.root.join("queue-b"));
    let a = std::mem::replace(&mut f.redis, b);
    f.spawn_worker("w2", &[]);
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", r.all(), f.worker_log("w1"), f.worker_log("w2"));
    let said = format!(
        "orchestra: resume: the run's earlier session sent tasks to the queue {}: stopping them there before this session runs the rest on the queue {}",
        a.url(),
        f.redis.url()
    );
    earlier_copy_stopped_first(&f, &id, &r.stderr, &said);
    let remote = records(&f, "remote_result");
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["body"]["worker"], "w2");
    assert_eq!(checkpoint(&f, &id)["distributed"]["queue"], f.redis.url());
    assert_eq!(a.raw(&["EXISTS", &format!("orchestra:sent:{id}")]).trim(), "0");
}

/// A local resume whose recorded queue cannot be reached refuses: exit 1,
/// one line naming the queue, the marker and what to do; nothing ran (no
/// new start, the checkpoint untouched). With the queue back, the same
/// resume stops what is left there and completes the run.
#[test]
fn a_local_resume_whose_recorded_queue_is_unreachable_refuses_and_runs_nothing() {
    let mut f = Fleet::new("unreachable");
    f.spawn_worker("w1", &[]);
    let id = orphan_a_remote_task(&f);
    let before = checkpoint(&f, &id);
    f.redis.kill();
    let r = f.world.resume(&id, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let marker = f.world.runs.join(&id).join("remote.inflight");
    let line = line_with(
        &r.stderr,
        &format!("orchestra: error: resume: the run's earlier session sent tasks to the queue {}", f.redis.url()),
    );
    for want in ["which may still run them", "cannot stop them", "nothing ran", "make that queue reachable"] {
        assert!(line.contains(want), "{want:?} in {line}");
    }
    assert!(
        line.ends_with(&format!(
            "delete {} once its workers are known to have stopped the run's tasks",
            marker.display()
        )),
        "{line}"
    );
    // Nothing ran: no new start (the worker, cut off, stops its copy itself),
    // the checkpoint and the marker as they were.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&f, "slow start"), 1, "{:?}", effects(&f));
    assert_eq!(checkpoint(&f, &id), before);
    assert!(marker.exists());
    f.redis.restart();
    let r = f.world.resume(&id, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    assert!(!marker.exists());
}

/// Residual of review 64: the run's note in Redis expires 24 h after its
/// last message (here: deleted) while a worker still runs the earlier
/// session's copy. The resume, finding the marker and no note, looks for the
/// run's entries the workers hold, cancels that one and waits for it to stop
/// (and at least a lease) before it queues the task again, which a second,
/// idle worker would otherwise start at once: the copies never overlap, the
/// task's end is recorded once, exit 0.
#[test]
fn resume_after_the_runs_note_expired_finds_and_stops_the_earlier_sessions_task_before_running_it_again() {
    let mut f = Fleet::new("noteexpired");
    f.spawn_worker("w1", &[]);
    f.spawn_worker("w2", &[]);
    let id = orphan_a_remote_task(&f);
    assert_eq!(f.redis.raw(&["DEL", &format!("orchestra:sent:{id}")]).trim(), "1");
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", r.all(), f.worker_log("w1"), f.worker_log("w2"));
    earlier_copy_stopped_first(&f, &id, &r.stderr, "holds no note of what the run's earlier session sent");
    assert_eq!(count(&f, "slow start"), 2, "{:?}", effects(&f));
    assert!(!f.world.runs.join(&id).join("remote.inflight").exists());
}

/// A checkpoint written before it named the queue (an older orchestra):
/// still resumes with `--queue` (which it fences, as before); without one,
/// while the marker says deliveries may be outstanding, the resume refuses
/// (exit 1, one line saying to pass `--queue`) and runs nothing.
#[test]
fn an_old_checkpoint_without_its_queue_resumes_with_queue_and_a_local_resume_refuses() {
    let mut f = Fleet::new("oldcheckpoint");
    f.spawn_worker("w1", &[]);
    let id = orphan_a_remote_task(&f);
    let path = f.world.runs.join(&id).join("checkpoint.json");
    let mut cp = checkpoint(&f, &id);
    assert!(cp.as_object_mut().unwrap().remove("distributed").is_some());
    std::fs::write(&path, serde_json::to_vec_pretty(&cp).unwrap()).unwrap();
    let r = f.world.resume(&id, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let line = line_with(&r.stderr, "but its checkpoint does not name the queue");
    assert!(line.starts_with("orchestra: error: resume: the run's earlier session was distributed"), "{line}");
    assert!(line.contains("nothing ran: resume with --queue URL of that queue"), "{line}");
    assert_eq!(count(&f, "slow start"), 1, "{:?}", effects(&f));
    let mut args: Vec<String> = vec!["--queue".into(), f.redis.url()];
    args.extend(f.trust_all());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = f.world.resume(&id, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.all(), f.worker_log("w1"));
    line_with(&r.stderr, "waiting for 1 task(s) of the run's earlier session to stop");
    let copies = copies_one_after_another(&f);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(count(&f, "slow end"), 1, "{:?}", effects(&f));
    assert_eq!(checkpoint(&f, &id)["distributed"]["queue"], f.redis.url());
}
