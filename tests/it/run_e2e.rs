//! `orchestra run` / `resume` / `plan` / `runs` end to end: real processes in
//! the real jail, asserting effects (files the tasks wrote, processes left,
//! the checkpoint, the reports, the audit log), not only exit codes.

use crate::harness::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// One plan line: a `sh -c SCRIPT` task.
fn sh(id: &str, needs: &[&str], script: &str, extra: &str) -> String {
    format!(
        "- {{id: {id}, tool: sh, args: ['-c', '{}'], needs: [{}]{extra}}}\n",
        script.replace('\'', "''"),
        needs.join(", ")
    )
}

fn plan(tasks: &[String]) -> String {
    format!("tasks:\n{}", tasks.concat())
}

/// How many times each line occurs.
fn tally(lines: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}

fn tally_of(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The most intervals open at once (an end and a start at the same instant do not overlap).
fn max_overlap(intervals: &[(u128, u128)]) -> usize {
    let mut events: Vec<(u128, i32)> = intervals.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    events.sort();
    let (mut cur, mut best) = (0i32, 0i32);
    for (_, d) in events {
        cur += d;
        best = best.max(cur);
    }
    best as usize
}

// ---- 1. a diamond ----------------------------------------------------------

#[test]
fn diamond_runs_each_task_once_in_dependency_order() {
    let w = World::new();
    let step = |id: &str| {
        format!(
            "echo \"{id} start $(date +%s%N)\" >> events; echo {id} >> order; sleep 0.1; echo \"{id} end $(date +%s%N)\" >> events"
        )
    };
    let p = plan(&[
        sh("a", &[], &step("a"), ""),
        sh("b", &["a"], &step("b"), ""),
        sh("c", &["a"], &step("c"), ""),
        sh("d", &["b", "c"], &step("d"), ""),
    ]);
    let o = w.run_plan(&p, &["-j", "2"]);
    o.assert_code(0);
    assert!(o.stdout.is_empty(), "progress and task output stay off stdout: {}", o.stdout);
    assert!(o.stderr.contains("orchestra: d started"), "{}", o.stderr);
    let order = w.lines("order");
    assert_eq!(tally(&order), tally_of(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]), "{order:?}");
    assert_eq!(order.first().map(String::as_str), Some("a"), "{order:?}");
    assert_eq!(order.last().map(String::as_str), Some("d"), "{order:?}");
    let mut at: BTreeMap<String, u128> = BTreeMap::new();
    for l in w.lines("events") {
        let f: Vec<&str> = l.split_whitespace().collect();
        at.insert(format!("{} {}", f[0], f[1]), f[2].parse().unwrap());
    }
    let t = |k: &str| at[k];
    assert!(t("b start") > t("a end") && t("c start") > t("a end"), "{at:?}");
    assert!(t("d start") > t("b end") && t("d start") > t("c end"), "{at:?}");
    let r = w.report(&w.only_run());
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["counts"]["succeeded"], 4, "{r:#}");
    for id in ["a", "b", "c", "d"] {
        assert_eq!(state(&r, id), "succeeded");
        assert_eq!(task(&r, id)["attempts"], 1);
    }
}

// ---- 2. concurrency --------------------------------------------------------

fn overlap_with(jobs: &str) -> usize {
    let w = World::new();
    std::fs::create_dir(w.ws.join("times")).unwrap();
    let tasks: Vec<String> = (1..=4)
        .map(|i| {
            sh(
                &format!("t{i}"),
                &[],
                &format!("s=$(date +%s%N); sleep 0.3; echo \"$s $(date +%s%N)\" > times/t{i}"),
                "",
            )
        })
        .collect();
    w.run_plan(&plan(&tasks), &["-j", jobs]).assert_code(0);
    let intervals: Vec<(u128, u128)> = (1..=4)
        .map(|i| {
            let l = std::fs::read_to_string(w.ws.join(format!("times/t{i}"))).expect("each task recorded its interval");
            let f: Vec<u128> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (f[0], f[1])
        })
        .collect();
    max_overlap(&intervals)
}

#[test]
fn concurrency_limit_is_respected() {
    assert_eq!(overlap_with("2"), 2, "-j 2: at most two tasks at once, and two do run together");
    let four = overlap_with("4");
    assert!(four > 2, "-j 4: more than two tasks ran at once only {four} times");
}

// ---- 3. failure, skip, cancel, keep-going -----------------------------------

fn failing_plan() -> String {
    plan(&[
        sh("bad", &[], "echo bad >> ran; exit 1", ""),
        sh("indep", &[], "echo indep >> ran", ""),
        sh("dep", &["bad"], "echo dep >> ran", ""),
        sh("dep2", &["dep"], "echo dep2 >> ran", ""),
    ])
}

#[test]
fn a_failure_skips_its_dependants_and_fail_fast_cancels_the_rest() {
    let w = World::new();
    let o = w.run_plan(&failing_plan(), &["-j", "1"]);
    o.assert_code(2);
    assert_eq!(w.lines("ran"), ["bad"], "only the failing task ran");
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "bad"), "failed");
    assert_eq!(task(&r, "bad")["cause"], "child_exit");
    assert_eq!(task(&r, "bad")["exit_status"], 1);
    assert_eq!(state(&r, "dep"), "skipped");
    assert_eq!(state(&r, "dep2"), "skipped");
    assert!(task(&r, "dep")["note"].as_str().unwrap_or_default().contains("bad"), "{r:#}");
    assert_eq!(state(&r, "indep"), "cancelled", "fail-fast: the independent task never starts");
    assert_eq!(r["exit_code"], 2);
    assert_eq!(r["status"], "failed");
}

#[test]
fn keep_going_runs_the_independent_task() {
    let w = World::new();
    let o = w.run_plan(&failing_plan(), &["-j", "1", "--keep-going"]);
    o.assert_code(2);
    let mut ran = w.lines("ran");
    ran.sort();
    assert_eq!(ran, ["bad", "indep"]);
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "indep"), "succeeded");
    assert_eq!(state(&r, "dep"), "skipped");
    assert_eq!(state(&r, "dep2"), "skipped");
    assert_eq!(state(&r, "bad"), "failed");
}

// ---- 4. timeout ------------------------------------------------------------

#[test]
fn a_task_timeout_stops_it_promptly_and_leaves_no_process() {
    let w = World::new();
    let child = w.spawn_plan(&plan(&[sh("slow", &[], "sleep 30.0404", ", timeout: 1s")]), &[]);
    assert!(
        wait_until(Duration::from_secs(5), || !processes_with("sleep 30.0404").is_empty()),
        "the task's sleep never showed up in /proc"
    );
    let (o, took) = wait_child(child, Duration::from_secs(15));
    o.assert_code(3);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "slow"), "timed_out", "{r:#}");
    assert_eq!(task(&r, "slow")["cause"], "timeout");
    let left = survivors("sleep 30.0404", Duration::from_secs(2));
    assert!(left.is_empty(), "left behind: {left:?}");
}

// ---- 5. violation ----------------------------------------------------------

#[test]
fn a_violation_is_exit_4_names_the_rule_and_outranks_a_failure() {
    let w = World::new();
    // The task's loopback is its own: reaching the host takes a host address.
    let (l, ip, port) = host_listener();
    let net = format!(
        "- {{id: net, tool: bash, args: ['-c', 'exec 3<>/dev/tcp/{ip}/{port} && echo CONNECTED > net.txt']}}\n"
    );
    let p = format!(
        "tasks:\n{net}{}{}",
        sh("fails", &[], "echo fails >> ran; exit 1", ""),
        sh("fine", &[], "echo fine >> ran", "")
    );
    let o = w.run_plan(&p, &["-j", "1", "--keep-going"]);
    o.assert_code(4);
    assert!(l.accept().is_err(), "the host listener was reached");
    assert!(!w.ws.join("net.txt").exists());
    let mut ran = w.lines("ran");
    ran.sort();
    assert_eq!(ran, ["fails", "fine"], "--keep-going: the other tasks still ran");
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "net"), "violation", "{r:#}");
    let rules: Vec<&str> =
        task(&r, "net")["violations"].as_array().unwrap().iter().filter_map(|v| v["rule"].as_str()).collect();
    assert!(rules.contains(&"network.loopback"), "{rules:?}");
    assert_eq!(state(&r, "fails"), "failed");
    assert_eq!(state(&r, "fine"), "succeeded");
    assert_eq!(r["exit_code"], 4);
    assert!(o.stderr.contains("network.loopback"), "{}", o.stderr);
}

// ---- 6. whitelist ----------------------------------------------------------

#[test]
fn an_unlisted_tool_is_refused_before_anything_exists() {
    let w = World::new();
    let p = format!("tasks:\n{}- {{id: fetch, tool: curl, args: [example.com]}}\n", sh("ok", &[], "touch ran", ""));
    let o = w.run_plan(&p, &[]);
    o.assert_code(1);
    assert!(o.stderr.contains("\"fetch\"") && o.stderr.contains("\"curl\""), "{}", o.stderr);
    assert!(!w.runs.exists(), "a run directory was created: {:?}", w.run_ids());
    assert!(!w.ws.join("ran").exists());
}

// ---- 7. bad plans ----------------------------------------------------------

#[test]
fn bad_plans_are_refused_with_a_position_and_create_nothing() {
    let w = World::new();
    let located = regex::Regex::new(r"plan\.yaml:\d+:\d+: ").unwrap();
    // (what, plan text, expected line:col if pinned down, expected words)
    let cases = [
        ("duplicate id", "tasks:\n- id: a\n  tool: sh\n- id: a\n  tool: sh\n", "4:7", "duplicate task id"),
        ("unknown need", "tasks:\n- id: a\n  tool: sh\n  needs: [zz]\n", "4:11", "unknown task \"zz\""),
        (
            "cycle",
            "tasks:\n- {id: a, tool: sh, needs: [b]}\n- {id: b, tool: sh, needs: [a]}\n- {id: x, tool: sh}\n",
            "2:8",
            "dependency cycle between tasks a, b",
        ),
        ("unknown field", "tasks:\n- id: a\n  tool: sh\n  need: [b]\n", "4:3", "need"),
        ("malformed YAML", "tasks:\n- {id: a, tool: sh\n- id: b\n", "", ""),
    ];
    for (what, text, at, says) in cases {
        let o = w.run_plan(text, &[]);
        assert_eq!(o.code, 1, "{what}: {}", o.all());
        assert!(located.is_match(&o.stderr), "{what}: no file:line:col in {}", o.stderr);
        assert!(o.stderr.contains(&format!("plan.yaml:{at}")), "{what}: expected plan.yaml:{at}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{what}: {}", o.stderr);
        assert_eq!(o.stderr.trim_end().lines().count(), 1, "{what}: not one line: {}", o.stderr);
        assert!(!w.runs.exists(), "{what}: the runs directory was created");
    }
    w.write("plan.yaml", &plan(&[sh("t", &[], "touch ran", "")]));
    for bad in [&["-j", "0"][..], &["--no-such-flag"][..], &["--timeout", "soon"][..]] {
        let args = w.run_args("plan.yaml", bad);
        let o = w.orchestra(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.code, 1, "{bad:?}: {}", o.all());
        assert!(!w.ws.join("ran").exists() && !w.runs.exists(), "{bad:?}: something ran or was created");
    }
    let args = w.run_args("missing.yaml", &[]);
    let o = w.orchestra(&args.iter().map(String::as_str).collect::<Vec<_>>());
    o.assert_code(1);
    assert!(o.stderr.contains("missing.yaml"), "{}", o.stderr);
    assert!(!w.runs.exists(), "the runs directory was created");
}

// ---- 8. SIGKILL, then resume -----------------------------------------------

#[test]
fn kill_9_mid_run_leaves_no_process_and_resume_finishes_exactly_once() {
    let w = World::new();
    let p = plan(&[
        sh("t1", &[], "echo t1 >> count", ""),
        sh("t2", &["t1"], "touch marker; [ -f fast ] || sleep 5.0808; echo t2 >> count", ""),
        sh("t3", &["t2"], "echo t3 >> count", ""),
        sh("t4", &["t3"], "echo t4 >> count", ""),
    ]);
    let mut child = w.spawn_plan(&p, &[]);
    assert!(wait_until(Duration::from_secs(8), || w.ws.join("marker").exists()), "t2 never started");
    let id = w.only_run();
    // The scan below would pass vacuously if it could not see the run's processes.
    assert!(wait_until(Duration::from_secs(5), || !processes_with("sleep 5.0808").is_empty()));
    assert!(!processes_with(&id).is_empty(), "no orchestra exec process names the run");
    child.kill().unwrap();
    child.wait().unwrap();

    let left = survivors(&id, Duration::from_secs(2));
    assert!(left.is_empty(), "orchestra exec / jail processes of the run survived: {left:?}");
    let left = survivors("sleep 5.0808", Duration::from_secs(2));
    assert!(left.is_empty(), "the task's sleep survived: {left:?}");
    assert_eq!(w.lines("count"), ["t1"]);

    let cp = checkpoint_tasks(&w.run_dir(&id));
    assert_eq!(cp["t1"]["state"], "succeeded", "{cp:?}");
    assert_eq!(cp["t3"]["state"], "pending", "{cp:?}");

    let runs = w.runs.display().to_string();
    let o = w.orchestra(&["runs", "list", "--runs-dir", &runs, "--json"]);
    o.assert_code(0);
    let rows: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["run_id"] == id.as_str()).expect("the run is listed");
    assert_eq!(row["status"], "abandoned", "{row}");

    std::fs::write(w.ws.join("fast"), "").unwrap();
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert!(o.stderr.contains("gone"), "resume should say the previous holder is gone: {}", o.stderr);
    assert_eq!(tally(&w.lines("count")), tally_of(&[("t1", 1), ("t2", 1), ("t3", 1), ("t4", 1)]));
    let r = w.report(&id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["sessions"], 2);
    assert_eq!(task(&r, "t1")["reused"], true, "{r:#}");
    assert_eq!(task(&r, "t1")["attempts"], 1);
    assert_eq!(task(&r, "t2")["reused"], false);
    assert_eq!(task(&r, "t2")["attempts"], 2, "the killed attempt counts");
    assert!(processes_with(&id).is_empty());
}

// ---- 9. resume after an edit -------------------------------------------------

#[test]
fn resume_reruns_exactly_the_edited_task_and_its_dependants() {
    let w = World::new();
    let tasks = |b_script: &str| {
        plan(&[
            sh("a", &[], "echo a >> count", ""),
            sh("b", &["a"], b_script, ""),
            sh("c", &["b"], "echo c >> count", ""),
            sh("d", &[], "echo d >> count", ""),
        ])
    };
    w.run_plan(&tasks("echo b >> count"), &[]).assert_code(0);
    let id = w.only_run();
    w.write("plan.yaml", &tasks("echo b >> count; true"));
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert_eq!(tally(&w.lines("count")), tally_of(&[("a", 1), ("b", 2), ("c", 2), ("d", 1)]), "{}", o.stderr);
    let r = w.report(&id);
    for (t, reused) in [("a", true), ("b", false), ("c", false), ("d", true)] {
        assert_eq!(state(&r, t), "succeeded");
        assert_eq!(task(&r, t)["reused"], reused, "{t}: {r:#}");
    }
    assert_eq!(task(&r, "a")["attempts"], 1);
    assert_eq!(task(&r, "b")["attempts"], 2);
    assert!(task(&r, "b")["argv"].to_string().contains("true"), "the edited command ran");
}

#[test]
fn resume_reruns_nothing_unchanged_and_reruns_what_an_input_change_affects() {
    let w = World::new();
    w.write("src.txt", "one\n");
    let p = plan(&[
        sh("a", &[], "echo a >> count", ""),
        sh("b", &["a"], "cat src.txt > copy.txt; echo b >> count", ", inputs: [src.txt]"),
        sh("c", &["b"], "echo c >> count", ""),
    ]);
    w.run_plan(&p, &[]).assert_code(0);
    let id = w.only_run();
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert_eq!(w.lines("count"), ["a", "b", "c"], "a resume of an unchanged run re-ran something: {}", o.stderr);
    w.write("src.txt", "two\n");
    w.resume(&id, &[]).assert_code(0);
    assert_eq!(tally(&w.lines("count")), tally_of(&[("a", 1), ("b", 2), ("c", 2)]));
    assert_eq!(std::fs::read_to_string(w.ws.join("copy.txt")).unwrap(), "two\n");
    let r = w.report(&id);
    assert_eq!(r["sessions"], 3);
    assert_eq!(task(&r, "a")["reused"], true);
    assert_eq!(task(&r, "b")["reused"], false);
}

#[test]
fn resume_reruns_a_task_whose_input_changed_in_place_with_the_same_size_and_mtime() {
    let w = World::new();
    w.write("src.txt", "one\n");
    let p = plan(&[
        sh("a", &[], "echo a >> count", ""),
        sh("b", &["a"], "cat src.txt > copy.txt; echo b >> count", ", inputs: [src.txt]"),
    ]);
    w.run_plan(&p, &[]).assert_code(0);
    let id = w.only_run();
    let src = w.ws.join("src.txt");
    let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();
    w.write("src.txt", "two\n");
    std::fs::File::options().write(true).open(&src).unwrap().set_modified(mtime).unwrap();
    let meta = std::fs::metadata(&src).unwrap();
    assert_eq!((meta.len(), meta.modified().unwrap()), (4, mtime), "size and mtime are as before");
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert_eq!(tally(&w.lines("count")), tally_of(&[("a", 1), ("b", 2)]), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(w.ws.join("copy.txt")).unwrap(), "two\n");
}

#[test]
fn an_input_rewritten_in_place_by_an_earlier_task_is_fingerprinted_as_the_next_task_finds_it() {
    // src.txt settles (older than the fingerprint cache's racy window), `z`
    // fingerprints it, then `a` rewrites it with the same size and mtime
    // while `z` still runs; `b` must record the rewritten contents, so a
    // resume re-runs `z` (its input changed) and nothing else.
    let w = World::new();
    w.write("src.txt", "one\n");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rewrite =
        "sleep 0.5; cp -p src.txt keep; printf 'two\\n' > src.txt; touch -r keep src.txt; rm keep; echo a >> count";
    let p = plan(&[
        sh("z", &[], "sleep 1; echo z >> count", ", inputs: [src.txt]"),
        sh("a", &[], rewrite, ""),
        sh("b", &["a"], "cat src.txt > copy.txt; echo b >> count", ", inputs: [src.txt]"),
    ]);
    w.run_plan(&p, &["-j", "2"]).assert_code(0);
    assert_eq!(std::fs::read_to_string(w.ws.join("copy.txt")).unwrap(), "two\n", "the rewrite did not happen");
    let id = w.only_run();
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert_eq!(tally(&w.lines("count")), tally_of(&[("z", 2), ("a", 1), ("b", 1)]), "{}", o.stderr);
    let r = w.report(&id);
    assert_eq!(task(&r, "b")["reused"], true, "{r:#}");
}

// ---- 10. corrupted checkpoint ----------------------------------------------

#[test]
fn a_corrupted_checkpoint_is_refused_with_a_position_and_left_alone() {
    let w = World::new();
    let p =
        plan(&[sh("a", &[], "echo a >> count", ""), sh("b", &["a"], "echo b >> count", ""), sh("c", &[], "true", "")]);
    w.run_plan(&p, &[]).assert_code(0);
    let id = w.only_run();
    let dir = w.run_dir(&id);
    let snap = dir.join("checkpoint.json");
    let journal = dir.join("checkpoint.journal");
    let good = std::fs::read(&snap).unwrap();
    let runs = w.runs.display().to_string();
    let located = regex::Regex::new(r"checkpoint\.json:\d+:\d+").unwrap();

    // The snapshot.
    let garbage = b"{\"version\": 1,\n  \"run_id\": \x01garbage".to_vec();
    std::fs::write(&snap, &garbage).unwrap();
    let o = w.resume(&id, &[]);
    o.assert_code(1);
    assert!(located.is_match(&o.stderr), "{}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "not one line: {}", o.stderr);
    assert_eq!(std::fs::read(&snap).unwrap(), garbage, "the corrupted checkpoint was rewritten");
    let o = w.orchestra(&["runs", "show", &id, "--runs-dir", &runs]);
    o.assert_code(1);
    assert!(o.stderr.contains("checkpoint.json"), "{}", o.stderr);
    assert_eq!(std::fs::read(&snap).unwrap(), garbage);
    assert_eq!(w.lines("count"), ["a", "b"], "nothing ran again");

    // A middle line of the journal.
    std::fs::write(&snap, &good).unwrap();
    let cp = read_json(&snap);
    let line = |t: &str| serde_json::json!({"task": t, "record": cp["tasks"][t]}).to_string();
    let bad_journal = format!("{}\n{}\n{}\n", line("a"), line("b").replace("succeeded", "succeded"), line("c"));
    std::fs::write(&journal, &bad_journal).unwrap();
    let o = w.resume(&id, &[]);
    o.assert_code(1);
    assert!(regex::Regex::new(r"checkpoint\.journal:2:\d+").unwrap().is_match(&o.stderr), "{}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "not one line: {}", o.stderr);
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), bad_journal, "the journal was rewritten");
    assert_eq!(std::fs::read(&snap).unwrap(), good, "the snapshot was rewritten");
    let o = w.orchestra(&["runs", "show", &id, "--runs-dir", &runs]);
    o.assert_code(1);
    assert!(o.stderr.contains("checkpoint.journal"), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), bad_journal);
    assert_eq!(w.lines("count"), ["a", "b"], "nothing ran again");
}

// ---- 11. a run in progress --------------------------------------------------

#[test]
fn a_run_in_progress_cannot_be_resumed_concurrently() {
    let w = World::new();
    let p = plan(&[sh("w", &[], "touch started; while [ ! -f go ]; do sleep 0.02; done; echo w >> count", "")]);
    let child = w.spawn_plan(&p, &[]);
    let pid = child.id();
    assert!(wait_until(Duration::from_secs(8), || w.ws.join("started").exists()), "the task never started");
    let id = w.only_run();
    let o = w.resume(&id, &[]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("pid {pid}")), "should name pid {pid}: {}", o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
    std::fs::write(w.ws.join("go"), "").unwrap();
    let (o, _) = wait_child(child, Duration::from_secs(8));
    o.assert_code(0);
    assert_eq!(w.lines("count"), ["w"]);
    let r = w.report(&id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["sessions"], 1);
}

// ---- 12. SIGTERM ------------------------------------------------------------

#[test]
fn sigterm_interrupts_promptly_and_resume_completes_the_run() {
    let w = World::new();
    let p = plan(&[
        sh("s", &[], "touch started; [ -f second ] || sleep 30.1212; echo s >> count", ""),
        sh("n", &["s"], "echo n >> count", ""),
    ]);
    let child = w.spawn_plan(&p, &[]);
    assert!(wait_until(Duration::from_secs(8), || w.ws.join("started").exists()), "the task never started");
    let id = w.only_run();
    assert!(wait_until(Duration::from_secs(5), || !processes_with("sleep 30.1212").is_empty()));
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    let (o, took) = wait_child(child, Duration::from_secs(8));
    o.assert_code(2);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let left = survivors("sleep 30.1212", Duration::from_secs(2));
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(w.lines("count").is_empty());
    let r = w.report(&id);
    assert_eq!(r["status"], "interrupted", "{r:#}");
    assert_eq!(state(&r, "s"), "cancelled", "{r:#}");
    let n = state(&r, "n");
    assert!(n == "cancelled" || n == "skipped", "n: {n}");

    std::fs::write(w.ws.join("second"), "").unwrap();
    let o = w.resume(&id, &[]);
    o.assert_code(0);
    assert_eq!(w.lines("count"), ["s", "n"]);
    let r = w.report(&id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(state(&r, "s"), "succeeded");
    assert_eq!(state(&r, "n"), "succeeded");
}

// ---- 13. a task attacking the run state ---------------------------------------

#[test]
fn a_task_cannot_tamper_with_the_run_state_or_the_audit_log() {
    let w = World::new();
    // Config in the default place; runs and audit log in their default places inside the workspace.
    w.write(".orchestra/config.yaml", SH_CONFIG);
    let wait = "while [ ! -f rid ]; do sleep 0.02; done; r=$(cat rid); ";
    let attacks: &[(&str, &str)] = &[
        ("ckpt", "echo x > runs/$r/checkpoint.json"),
        ("journal", "echo x >> runs/$r/checkpoint.journal"),
        ("log", "echo forged > runs/$r/logs/a.log"),
        ("index", "echo x > runs/index.sqlite"),
        ("rmrun", "rm -rf runs/$r; test ! -e runs/$r/checkpoint.json && echo rm-ok"),
        ("rmall", "rm -rf runs"),
        ("mv", "mv runs runs-gone"),
        ("auditnew", "echo x > .orchestra/audit/new"),
        ("auditseg", "for f in .orchestra/audit/*; do echo forged >> \"$f\"; done"),
        ("config", "echo \"tools: {}\" > .orchestra/config.yaml"),
    ];
    let mut tasks = vec![sh("a", &[], "echo hello-a", "")];
    for (id, script) in attacks {
        tasks.push(sh(id, &["a"], &format!("{wait}{script}"), ""));
    }
    w.write("plan.yaml", &plan(&tasks));
    let child = w
        .command()
        .args(["run", "plan.yaml", "--keep-going", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs = w.ws.join("runs");
    let mut ids = Vec::new();
    assert!(wait_until(Duration::from_secs(8), || {
        ids = World::run_ids_in(&runs);
        !ids.is_empty()
    }));
    let id = ids[0].clone();
    std::fs::write(w.ws.join("rid"), &id).unwrap();
    let (o, _) = wait_child(child, Duration::from_secs(10));
    assert!(o.code != 0 && o.code != 1, "{}", o.all());

    let dir = runs.join(&id);
    assert!(!w.ws.join("runs-gone").exists(), "the runs directory was moved");
    assert!(dir.join("checkpoint.json").is_file(), "the checkpoint is gone");
    let cp = read_json(&dir.join("checkpoint.json"));
    assert_eq!(cp["run_id"], id.as_str());
    let tasks = checkpoint_tasks(&dir);
    assert_eq!(tasks["a"]["state"], "succeeded");
    let a_log = std::fs::read_to_string(dir.join("logs/a.log")).unwrap();
    assert!(a_log.starts_with("hello-a\n") && !a_log.contains("forged"), "a.log: {a_log}");
    let r = read_json(&dir.join("report.json"));
    assert_eq!(r["run_id"], id.as_str());
    let o2 = w.orchestra(&["runs", "list", "--json"]);
    o2.assert_code(0);
    assert!(o2.stdout.contains(&id), "the index lost the run: {}", o2.stdout);
    assert!(!w.ws.join(".orchestra/audit/new").exists());
    assert_eq!(std::fs::read_to_string(w.ws.join(".orchestra/config.yaml")).unwrap(), SH_CONFIG);
    let v = w.verify_audit(&w.ws.join(".orchestra/audit"));
    assert_eq!(v.code, 0, "the audit log no longer verifies: {}", v.all());

    // Every attempt is blocked (above) and reported, naming a filesystem rule.
    for (t, _) in attacks {
        let rules: Vec<String> = task(&r, t)["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["rule"].as_str().map(String::from))
            .collect();
        assert_eq!(state(&r, t), "violation", "{t}: {:#}", task(&r, t));
        assert!(!rules.is_empty() && rules.iter().all(|r| r == "fs.write" || r == "fs.hidden"), "{t}: {rules:?}");
    }
}

// ---- 14. artifacts and symlinks ----------------------------------------------

fn canary(w: &World) -> (String, std::path::PathBuf) {
    let text = format!("CANARY-ARTIFACT-{}", std::process::id());
    let dir = w.root.join("secret");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary.txt"), &text).unwrap();
    (text, dir)
}

#[track_caller]
fn assert_no_canary_in_artifacts(w: &World, id: &str, text: &str) {
    let arts = w.run_dir(id).join("artifacts");
    for (p, ft) in walk(&arts) {
        assert!(ft.is_file() || ft.is_dir(), "{} is neither a regular file nor a directory", p.display());
        if ft.is_file() {
            let body = std::fs::read(&p).unwrap();
            assert!(!String::from_utf8_lossy(&body).contains(text), "{} holds the host secret", p.display());
        }
    }
}

#[test]
fn outputs_that_are_symlinks_to_host_files_are_not_copied() {
    let w = World::new();
    let (text, dir) = canary(&w);
    let c = dir.join("canary.txt").display().to_string();
    let d = dir.display().to_string();
    // Links inside a declared directory are left out; the rest is collected.
    let script = format!("mkdir out; echo real > out/real.txt; ln -s {c} out/link; ln -s {d} out/dirlink");
    let o = w.run_plan(&plan(&[sh("t", &[], &script, ", outputs: [out]")]), &[]);
    o.assert_code(0);
    let id = w.only_run();
    assert_no_canary_in_artifacts(&w, &id, &text);
    let real = w.run_dir(&id).join("artifacts/t/out/real.txt");
    assert_eq!(std::fs::read_to_string(real).unwrap(), "real\n", "ordinary outputs are still collected");
    // A declared output that is itself a link fails the task, naming why.
    for link in ["leak", "leakdir"] {
        let w = World::new();
        let target = if link == "leak" { &c } else { &d };
        let script = format!("ln -s {target} {link}");
        let o = w.run_plan(&plan(&[sh("t", &[], &script, &format!(", outputs: [{link}]"))]), &[]);
        o.assert_code(2);
        let id = w.only_run();
        assert_no_canary_in_artifacts(&w, &id, &text);
        let r = w.report(&id);
        let note = task(&r, "t")["note"].as_str().unwrap_or_default().to_string();
        assert!(note.contains("symbolic link"), "{link}: {r:#}");
    }
}

#[test]
fn an_output_below_a_symlinked_directory_is_not_copied_from_the_host() {
    // `sub` -> a host directory; the declared output `sub/canary.txt` resolves through it.
    let w = World::new();
    let (text, dir) = canary(&w);
    let script = format!("ln -s {} sub", dir.display());
    let o = w.run_plan(&plan(&[sh("t", &[], &script, ", outputs: [sub/canary.txt]")]), &[]);
    assert_ne!(o.code, 1, "{}", o.all());
    let id = w.only_run();
    assert_no_canary_in_artifacts(&w, &id, &text);
}

// ---- 15. intents, plan, dry run ----------------------------------------------

#[test]
fn an_intent_is_planned_and_runs_with_the_builtin_config() {
    let w = World::new();
    w.write("Makefile", "all:\n\techo built > built.txt\ntest:\n\techo tested > tested.txt\n");
    let o = w.orchestra(&["plan", "build and test"]);
    o.assert_code(0);
    let p: serde_json::Value = serde_saphyr::from_str(&o.stdout).expect("orchestra plan prints YAML");
    let tasks = p["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["build", "test"], "{}", o.stdout);
    assert_eq!(tasks[1]["needs"], serde_json::json!(["build"]), "{}", o.stdout);
    assert!(tasks.iter().all(|t| t["tool"] == "make"), "{}", o.stdout);

    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    let o = w.orchestra(&["run", "build and test", "--runs-dir", &runs, "--audit-dir", &audit]);
    o.assert_code(0);
    assert_eq!(std::fs::read_to_string(w.ws.join("built.txt")).unwrap(), "built\n");
    assert_eq!(std::fs::read_to_string(w.ws.join("tested.txt")).unwrap(), "tested\n");
    let r = w.report(&w.only_run());
    assert_eq!(r["intent"], "build and test");
    assert!(task(&r, "build")["policy"].as_str().unwrap_or_default().contains("build-offline"), "{r:#}");
}

#[test]
fn an_intent_tests_a_src_layout_python_project_from_its_sources() {
    let w = World::new();
    w.write("pyproject.toml", "[project]\nname = \"pkg\"\nversion = \"1\"\n");
    w.write("src/pkg/__init__.py", "def f():\n    return 1\n");
    w.write(
        "tests/test_pkg.py",
        "import pkg\n\ndef test_f():\n    assert pkg.f() == 1\n\ndef test_from_src():\n    assert '/src/pkg/' in pkg.__file__\n",
    );
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    let o = w.orchestra(&["run", "run the tests", "--runs-dir", &runs, "--audit-dir", &audit]);
    o.assert_code(0);
    let id = w.only_run();
    let r = w.report(&id);
    assert_eq!(task(&r, "test")["state"], "succeeded", "{r:#}");
    assert!(task(&r, "test")["violations"].as_array().is_none_or(|v| v.is_empty()), "{r:#}");
    let log = std::fs::read_to_string(w.run_dir(&id).join("logs/test.log")).unwrap();
    assert!(log.contains("2 passed"), "the tests ran against src/: {log}");
}

#[test]
fn a_second_intent_run_plans_the_same_after_the_first_built() {
    let w = World::new();
    w.write("Makefile", "all: hello\nhello: hello.c\n\tcc -o hello hello.c\ntest: hello\n\t./hello\n");
    w.write("hello.c", "int main(void) { return 0; }\n");
    let before = w.orchestra(&["plan", "build and test"]);
    before.assert_code(0);
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    w.orchestra(&["run", "build and test", "--runs-dir", &runs, "--audit-dir", &audit]).assert_code(0);
    assert!(w.ws.join("hello").is_file(), "the build wrote its binary into the workspace");
    let after = w.orchestra(&["plan", "build and test"]);
    after.assert_code(0);
    assert_eq!(after.stdout, before.stdout, "the binary is an output, not an input");
}

#[test]
fn dry_run_prints_the_commands_and_creates_nothing() {
    let w = World::new();
    w.write("plan.yaml", &plan(&[sh("t", &[], "touch dry-ran", "")]));
    let args = w.run_args("plan.yaml", &["--dry-run"]);
    let o = w.orchestra(&args.iter().map(String::as_str).collect::<Vec<_>>());
    o.assert_code(0);
    assert!(o.stdout.contains("/bin/sh -c touch dry-ran"), "{}", o.stdout);
    assert!(o.stdout.contains("policy"), "{}", o.stdout);
    assert!(!w.runs.exists(), "a dry run created the runs directory");
    assert!(!w.ws.join("dry-ran").exists(), "a dry run ran the task");
}

// ---- 16. JSON events -----------------------------------------------------------

#[test]
fn json_events_are_one_object_per_line_and_match_the_exit_code() {
    let w = World::new();
    let p = plan(&[sh("a", &[], "echo a", ""), sh("b", &["a"], "exit 3", "")]);
    let o = w.run_plan(&p, &["--json"]);
    o.assert_code(2);
    let events: Vec<serde_json::Value> =
        o.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))).collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run_finished"), "{kinds:?}");
    let last = events.last().unwrap();
    assert_eq!(last["exit_code"], o.code, "{last}");
    assert_eq!(last["run_id"], w.only_run().as_str());
    assert_eq!(last["status"], "failed");
    for t in ["a", "b"] {
        assert!(events.iter().any(|e| e["event"] == "task_started" && e["task"] == t), "{kinds:?}");
    }
    let fin = |t: &str| events.iter().find(|e| e["event"] == "task_finished" && e["task"] == t).cloned();
    assert_eq!(fin("a").expect("a finished")["state"], "succeeded");
    assert_eq!(fin("b").expect("b finished")["state"], "failed");
    for l in o.stderr.lines() {
        assert!(
            !(l.starts_with("orchestra: ")
                && (l.contains(" started") || l.contains(" succeeded") || l.contains(" failed") || l.contains("run "))),
            "progress line on stderr under --json: {l}"
        );
    }
}

// ---- 17. the audit log ---------------------------------------------------------

#[test]
fn the_audit_log_records_the_run_and_every_task_and_verifies() {
    let w = World::new();
    let p = plan(&[sh("a", &[], "true", ""), sh("b", &["a"], "exit 1", ""), sh("c", &["b"], "true", "")]);
    let o = w.run_plan(&p, &[]);
    o.assert_code(2);
    let id = w.only_run();
    let recs = w.audit_records(&w.audit);
    let of_run = |kind: &str| -> Vec<&serde_json::Value> {
        recs.iter().filter(|r| r["kind"] == kind && r["body"]["run_id"] == id.as_str()).collect()
    };
    assert_eq!(of_run("run_started").len(), 1, "{recs:#?}");
    let ended = of_run("run_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["body"]["exit_code"], 2);
    for t in ["a", "b"] {
        for kind in ["task_started", "task_ended"] {
            assert_eq!(of_run(kind).iter().filter(|r| r["body"]["task"] == t).count(), 1, "{kind} of {t}");
        }
    }
    assert!(of_run("task_skipped").iter().any(|r| r["body"]["task"] == "c"), "c's skip is recorded");
    let seq = |r: &serde_json::Value| r["seq"].as_u64().unwrap();
    assert!(seq(of_run("run_started")[0]) < seq(ended[0]));
    let v = w.verify_audit(&w.audit);
    assert_eq!(v.code, 0, "{}", v.all());
}

// ---- beyond the list: policy pinning, retries, the run's timeout ----------------

#[test]
fn a_task_cannot_weaken_the_policy_of_a_later_task() {
    // 1. A policy file in the (writable) workspace is refused before anything runs.
    let w = World::new();
    w.write("pol.yaml", "version: 1\nname: mine\n");
    let o = w.run_plan(&plan(&[sh("a", &[], "true", ", policy: pol.yaml")]), &[]);
    o.assert_code(1);
    assert!(o.stderr.contains("lies in the workspace"), "{}", o.all());
    assert!(w.run_ids().is_empty(), "nothing may run");

    // 2. A policy file outside the workspace that an earlier task can still write
    //    (its own policy grants that directory) is pinned by hash: the later task
    //    refuses the rewritten file instead of running under it.
    let w = World::new();
    let shared = w.root.join("shared");
    let outside = w.root.join("outside");
    std::fs::create_dir(&shared).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let base = "filesystem:\n  read_only: [/usr, /bin, /lib, /lib64, /etc]\n  workdir: read_write\n";
    let strict = format!("version: 1\nname: mine\n{base}");
    std::fs::write(shared.join("pol.yaml"), &strict).unwrap();
    let opener = format!(
        "version: 1\nname: opener\nfilesystem:\n  read_only: [/usr, /bin, /lib, /lib64, /etc]\n  read_write: [{}]\n  workdir: read_write\n",
        shared.display()
    );
    std::fs::write(w.root.join("opener.yaml"), opener).unwrap();
    let weakened = format!(
        "version: 1\\nname: mine\\nfilesystem:\\n  read_only: [/usr, /bin, /lib, /lib64, /etc]\\n  read_write: [{}]\\n  workdir: read_write\\n",
        outside.display()
    );
    let (pol, opener) =
        (shared.join("pol.yaml").display().to_string(), w.root.join("opener.yaml").display().to_string());
    let p = plan(&[
        sh("a", &[], &format!("printf \"{weakened}\" > {pol}"), &format!(", policy: {opener}")),
        sh("b", &["a"], &format!("echo escaped > {}/pwned", outside.display()), &format!(", policy: {pol}")),
    ]);
    let o = w.run_plan(&p, &[]);
    assert_ne!(std::fs::read_to_string(shared.join("pol.yaml")).unwrap(), strict, "task a did rewrite the policy file");
    assert!(!outside.join("pwned").exists(), "task b ran under the policy task a wrote (exit {}): {}", o.code, o.all());
    // b's sandbox refused to start: the run exits 1 and names it (as exec would).
    o.assert_code(1);
    assert!(o.stderr.contains("the sandbox of b refused to start"), "{}", o.all());
    let id = w.only_run();
    let r = w.report(&id);
    assert_eq!(task(&r, "b")["state"], "failed", "{r:#}");
    let log = std::fs::read_to_string(w.run_dir(&id).join("logs/b.log")).unwrap_or_default();
    assert!(log.contains("changed after the run checked it"), "{log}");
}

#[test]
fn a_failed_attempt_is_retried_and_a_timeout_is_not() {
    let w = World::new();
    let p = plan(&[
        sh("flaky", &[], "echo try >> tries; [ $(wc -l < tries) -ge 2 ]", ", retries: 2, backoff: 100ms"),
        sh("slow", &[], "echo try >> slow-tries; sleep 30.0707", ", retries: 2, backoff: 100ms, timeout: 1s"),
    ]);
    let o = w.run_plan(&p, &["--keep-going", "--json"]);
    o.assert_code(3);
    assert_eq!(w.lines("tries").len(), 2, "one failed attempt, one that succeeded");
    assert_eq!(w.lines("slow-tries").len(), 1, "a timeout is never retried");
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "flaky"), "succeeded");
    assert_eq!(task(&r, "flaky")["attempts"], 2);
    assert_eq!(state(&r, "slow"), "timed_out");
    assert_eq!(task(&r, "slow")["attempts"], 1);
    let retries: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "task_retry")
        .collect();
    assert_eq!(retries.len(), 1, "{}", o.stdout);
    assert_eq!(retries[0]["task"], "flaky");
    assert!(survivors("sleep 30.0707", Duration::from_secs(2)).is_empty());
}

#[test]
fn the_runs_timeout_stops_everything_with_exit_3() {
    let w = World::new();
    let p = plan(&[sh("long", &[], "sleep 30.0909", ""), sh("after", &["long"], "touch after-ran", "")]);
    let child = w.spawn_plan(&p, &["--timeout", "1s"]);
    let (o, took) = wait_child(child, Duration::from_secs(8));
    o.assert_code(3);
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(!w.ws.join("after-ran").exists());
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "long"), "timed_out", "{r:#}");
    assert_ne!(state(&r, "after"), "succeeded");
    assert!(survivors("sleep 30.0909", Duration::from_secs(2)).is_empty());
}

#[test]
fn ctrl_c_to_the_process_group_interrupts_without_retrying() {
    // A terminal's Ctrl-C reaches orchestra run and every orchestra exec below it at once.
    use std::os::unix::process::CommandExt;
    let w = World::new();
    let p = plan(&[
        sh("a", &[], "echo a >> tries; sleep 30.0606", ", retries: 2, backoff: 100ms"),
        sh("b", &[], "echo b >> tries; sleep 30.0606", ", retries: 2, backoff: 100ms"),
    ]);
    w.write("plan.yaml", &p);
    let args = w.run_args("plan.yaml", &["-j", "2"]);
    let child = w
        .command()
        .args(&args)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(8), || w.lines("tries").len() >= 2), "the tasks never started");
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let (o, took) = wait_child(child, Duration::from_secs(8));
    o.assert_code(2);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(w.lines("tries").len(), 2, "an interrupted task was retried");
    let r = w.report(&w.only_run());
    assert_eq!(r["status"], "interrupted");
    assert_eq!(state(&r, "a"), "cancelled");
    assert_eq!(state(&r, "b"), "cancelled");
    assert!(survivors("sleep 30.0606", Duration::from_secs(2)).is_empty());
}

#[test]
fn progress_none_shows_only_the_last_line_and_plain_a_line_per_event() {
    let w = World::ci();
    let plan = plan(&[sh("a", &[], "echo fine", ""), sh("b", &["a"], "true", "")]);
    let o = w.run_plan(&plan, &["--progress", "none"]);
    o.assert_code(0);
    // By word: a run id may end in `a` too ("…-f14a succeeded in").
    let says = |text: &str, who: &str, what: &str| {
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>().windows(2).any(|w| w == [who, what]))
    };
    assert!(!says(&o.stderr, "a", "started") && !says(&o.stderr, "a", "succeeded"), "{}", o.stderr);
    let last = o.stderr.lines().filter(|l| l.contains("succeeded in")).collect::<Vec<_>>();
    assert_eq!(last.len(), 1, "the run's last line only\n{}", o.stderr);
    assert!(last[0].contains("exit 0"), "{}", o.stderr);
    let o = w.run_plan(&plan, &["--progress", "plain"]);
    o.assert_code(0);
    assert!(says(&o.stderr, "a", "started") && says(&o.stderr, "b", "succeeded"), "{}", o.stderr);
    let o = w.run_plan(&plan, &["--progress", "live", "--json"]);
    o.assert_code(1);
}

#[test]
fn a_runs_directory_given_as_dotdot_from_the_workspace_lies_beside_it() {
    let w = World::new();
    w.write("plan.yaml", &plan(&[sh("a", &[], "echo hi", "")]));
    let beside = w.root.join("runs-beside");
    let o = Out::from(
        w.command()
            .args(["run", "plan.yaml", "--config"])
            .arg(&w.config)
            .args(["--runs-dir", "../runs-beside", "--audit-dir"])
            .arg(&w.audit)
            .output()
            .unwrap(),
    );
    o.assert_code(0);
    assert_eq!(World::run_ids_in(&beside).len(), 1, "{}", o.all());
    let runs = Out::from(w.command().args(["runs", "list", "--runs-dir", "../runs-beside"]).output().unwrap());
    runs.assert_code(0);
}
