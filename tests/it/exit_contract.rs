//! The exit-code contract (CONTRACTS.md §2) for `orchestra run` and
//! `orchestra exec`: 0 ok, 1 config/usage (nothing ran), 2 failed, 3 timeout,
//! 4 violation; precedence 1 > 4 > 3 > 2 > 0. Each case also checks an effect
//! (what ran, what the reports say), not only the code.

use crate::harness::*;

const OK: &str = "echo fine > ok.txt";
const FAIL: &str = "echo failing; exit 3";
const SLOW: &str = "sleep 30";
const VIOLATE: &str = "echo pwned >> /etc/passwd";

fn states(w: &World) -> std::collections::BTreeMap<String, String> {
    let r = w.json(&w.only_run_dir().join("report.json"));
    r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect()
}

fn run_case(tasks: &[String], code: i32, expect: &[(&str, &str)]) {
    let w = World::ci();
    let o = w.run_plan(&plan(tasks), &["--keep-going", "-j", "4"]);
    o.assert_code(code);
    let got = states(&w);
    for (id, state) in expect {
        assert_eq!(got.get(*id).map(String::as_str), Some(*state), "{got:?}\n{}", o.all());
    }
    // The run's reports carry the same code.
    let report = w.json(&w.only_run_dir().join("report.json"));
    assert_eq!(report["exit_code"], code, "{report:#}");
    let sarif = w.json(&w.only_run_dir().join("violations.sarif"));
    assert_eq!(sarif["runs"][0]["invocations"][0]["exitCode"], code);
}

#[test]
fn run_all_ok_is_0() {
    run_case(&[sh("a", OK, ""), sh("b", "true", ", needs: [a]")], 0, &[("a", "succeeded"), ("b", "succeeded")]);
}

#[test]
fn run_a_failure_is_2() {
    run_case(&[sh("a", OK, ""), sh("f", FAIL, "")], 2, &[("a", "succeeded"), ("f", "failed")]);
}

#[test]
fn run_a_timeout_is_3() {
    run_case(&[sh("t", SLOW, ", timeout: 1s")], 3, &[("t", "timed_out")]);
}

#[test]
fn run_the_runs_own_timeout_is_3() {
    let w = World::ci();
    let o = w.run_plan(&plan(&[sh("t", SLOW, "")]), &["--timeout", "1s"]);
    o.assert_code(3);
    assert_eq!(states(&w)["t"], "timed_out");
}

#[test]
fn run_a_violation_is_4() {
    run_case(&[sh("v", VIOLATE, "")], 4, &[("v", "violation")]);
}

#[test]
fn run_failure_and_violation_is_4() {
    run_case(&[sh("f", FAIL, ""), sh("v", VIOLATE, "")], 4, &[("f", "failed"), ("v", "violation")]);
}

#[test]
fn run_timeout_and_failure_is_3() {
    run_case(&[sh("t", SLOW, ", timeout: 1s"), sh("f", FAIL, "")], 3, &[("t", "timed_out"), ("f", "failed")]);
}

#[test]
fn run_timeout_failure_and_violation_is_4() {
    run_case(
        &[sh("t", SLOW, ", timeout: 1s"), sh("f", FAIL, ""), sh("v", VIOLATE, "")],
        4,
        &[("t", "timed_out"), ("f", "failed"), ("v", "violation")],
    );
}

/// Exit 1 and nothing ran: no run directory, no file written by a task.
#[track_caller]
fn refused(w: &World, o: &Out, needle: &str) {
    o.assert_code(1);
    assert!(o.stderr.contains(needle), "expected {needle:?} in\n{}", o.all());
    assert!(w.run_ids().is_empty(), "a run directory was created: {:?}", w.run_ids());
    assert!(!w.ws.join("ok.txt").exists(), "a task ran");
}

#[test]
fn run_a_bad_config_is_1_even_with_a_violating_plan() {
    let w = World::ci();
    std::fs::write(&w.config, format!("{SH_TOOL}concurency: 2\n")).unwrap();
    let o = w.run_plan(&plan(&[sh("a", OK, ""), sh("v", VIOLATE, "")]), &[]);
    refused(&w, &o, "config.yaml:3:1:");
}

#[test]
fn run_an_unlisted_tool_is_1() {
    let w = World::ci();
    let p = format!("{}  - {{id: curl, tool: curl, args: [example.org]}}\n", plan(&[sh("a", OK, "")]));
    let o = w.run_plan(&p, &[]);
    refused(&w, &o, "curl");
}

#[test]
fn run_an_unenforceable_policy_is_1() {
    let w = World::ci();
    let policy = w.root.join("docker.yaml");
    std::fs::write(&policy, "sandbox_mode: docker\n").unwrap();
    let mut c = w.run_cmd(&plan(&[sh("a", OK, ""), sh("v", VIOLATE, "")]), &["--policy", policy.to_str().unwrap()]);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let o = w.run_with(c);
    refused(&w, &o, "docker");
}

#[test]
fn run_a_usage_error_is_1() {
    let w = World::ci();
    let o = w.run_plan(&plan(&[sh("a", OK, "")]), &["--no-such-flag"]);
    refused(&w, &o, "--no-such-flag");
    let o = w.run_plan(&plan(&[sh("a", OK, "")]), &["--concurrency", "0"]);
    refused(&w, &o, "concurrency");
}

#[test]
fn run_an_invalid_environment_override_is_1_naming_the_variable() {
    let w = World::ci();
    for (var, value) in
        [("ORCHESTRA_CONCURRENCY", "many"), ("ORCHESTRA_TIMEOUT", "soon"), ("ORCHESTRA_CONCURRENCY", "0")]
    {
        let mut c = w.run_cmd(&plan(&[sh("a", OK, "")]), &[]);
        c.env(var, value);
        let o = w.run_with(c);
        refused(&w, &o, var);
    }
}

#[test]
fn run_a_contradicting_security_block_is_1() {
    let w = World::ci();
    std::fs::write(&w.config, format!("{SH_TOOL}security:\n  docker_network: host\n")).unwrap();
    let o = w.run_plan(&plan(&[sh("a", OK, "")]), &[]);
    refused(&w, &o, "docker_network");
}

// ---- exec -------------------------------------------------------------------

fn exec(w: &World, extra: &[&str], script: &str) -> Out {
    w.run_with(w.exec_cmd(extra, &["/bin/sh", "-c", script]))
}

#[test]
fn exec_matrix() {
    let w = World::ci();
    let verdict = |o: &Out| o.stderr.lines().rev().find(|l| l.starts_with("orchestra: sh ")).unwrap_or("").to_string();
    let o = exec(&w, &[], OK);
    o.assert_code(0);
    assert!(w.ws.join("ok.txt").exists());
    assert!(verdict(&o).contains(" ok "), "{}", o.all());

    let o = exec(&w, &[], FAIL);
    o.assert_code(2);
    assert!(verdict(&o).contains(" failed ") && verdict(&o).contains("exit=3"), "{}", o.all());

    let o = exec(&w, &["--timeout", "500ms"], SLOW);
    o.assert_code(3);
    assert!(verdict(&o).contains(" timeout "), "{}", o.all());

    let o = exec(&w, &[], VIOLATE);
    o.assert_code(4);
    assert!(verdict(&o).contains(" violation ") && verdict(&o).contains("fs.write"), "{}", o.all());

    // A violation and then a failing exit (deny mode lets the task go on): 4 > 2.
    let deny = w.root.join("deny.yaml");
    std::fs::write(&deny, "on_violation: deny\n").unwrap();
    let o = exec(&w, &["--policy", deny.to_str().unwrap()], &format!("{VIOLATE}; echo went-on; exit 1"));
    o.assert_code(4);
    assert!(o.stdout.contains("went-on"), "{}", o.all());

    // A timeout of a task that would fail anyway: 3 > 2.
    let o = exec(&w, &["--timeout", "500ms"], "trap 'exit 1' TERM; sleep 30 & wait; exit 1");
    o.assert_code(3);

    // A timeout after a violation in deny mode: 4 > 3.
    let o = exec(&w, &["--policy", deny.to_str().unwrap(), "--timeout", "500ms"], &format!("{VIOLATE}; {SLOW}"));
    o.assert_code(4);
}

#[test]
fn exec_refusals_are_1_and_nothing_runs() {
    let w = World::ci();
    // A bad policy file, though the task would violate.
    let bad = w.root.join("bad.yaml");
    std::fs::write(&bad, "network:\n  mode: none\n  alow: [x]\n").unwrap();
    let o = exec(&w, &["--policy", bad.to_str().unwrap()], &format!("{OK}; {VIOLATE}"));
    o.assert_code(1);
    assert!(o.stderr.contains("bad.yaml:3:"), "{}", o.all());
    // An unknown preset, an unknown flag, a missing program name.
    exec(&w, &["--policy", "no-such-preset"], OK).assert_code(1);
    exec(&w, &["--no-such-flag"], OK).assert_code(1);
    w.orchestra(&["exec", "--"]).assert_code(1);
    // An unenforceable policy (no engine behind the docker backend).
    let mut c = w.exec_cmd(&["--backend", "docker"], &["/bin/sh", "-c", OK]);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let o = w.run_with(c);
    o.assert_code(1);
    assert!(o.stderr.contains("docker"), "{}", o.all());
    assert!(!w.ws.join("ok.txt").exists(), "a refused task ran");
}

#[test]
fn run_a_container_policy_the_workspace_cannot_honour_is_1() {
    // The engine answers, but the root-owned workspace is not writable by the
    // container's (never root) task user: refused before anything runs, as exec does.
    let w = World::ci();
    let policy = w.root.join("docker.yaml");
    std::fs::write(&policy, "sandbox_mode: docker\n").unwrap();
    let o = w.run_plan(&plan(&[sh("a", OK, "")]), &["--policy", policy.to_str().unwrap()]);
    refused(&w, &o, "cannot enforce workspace");
}

#[test]
fn run_a_control_refused_only_at_sandbox_setup_is_1() {
    // Hiding a path inside the visible workspace needs namespaces; with them
    // off, the sandbox refuses at setup (exec exits 1). The run says so, exit 1.
    let w = World::ci();
    std::fs::create_dir_all(w.ws.join("secret")).unwrap();
    let policy = w.root.join("nons.yaml");
    std::fs::write(&policy, format!("jail:\n  namespaces: off\nfilesystem:\n  hidden: [{}/secret]\n", w.ws.display()))
        .unwrap();
    let o = w.run_plan(&plan(&[sh("a", OK, "")]), &["--policy", policy.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("the sandbox of a refused to start"), "{}", o.all());
    assert!(!w.ws.join("ok.txt").exists(), "the task ran");
    let report = w.json(&w.only_run_dir().join("report.json"));
    assert_eq!(report["exit_code"], 1);
    let junit = w.read(&w.only_run_dir().join("junit.xml"));
    assert!(junit.contains("<property name=\"exit_code\" value=\"1\"/>"), "{junit}");
}

// ---- orchestra's own stdout ---------------------------------------------------

/// Commands that print, run in a workspace with an audit log: (argv, exit code
/// when stdout is fine).
fn printing_commands(e: &Env) -> Vec<(Vec<String>, i32)> {
    let audit = e.ws.join(".orchestra/audit").display().to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        (s(&["sandbox", "probe"]), 0),
        (s(&["sandbox", "probe", "--json"]), 0),
        (s(&["policy", "show", "default"]), 0),
        (s(&["policy", "apparmor", "default"]), 0),
        (s(&["policy", "schema"]), 0),
        (s(&["policy", "list"]), 0),
        (s(&["config", "schema"]), 0),
        (s(&["completions", "bash"]), 0),
        (s(&["audit", "show", &audit]), 0),
        (s(&["audit", "show", "--json", &audit]), 0),
        (s(&["audit", "verify", &audit, "--json"]), 0),
    ]
}

#[test]
fn a_full_disk_under_stdout_is_one_line_and_exit_1_for_every_printing_command() {
    let e = env();
    e.run_cmd(e.cmd("default", &[], &["true"])).assert_ok();
    for (argv, _) in printing_commands(&e) {
        let mut c = e.command();
        c.args(&argv).stdout(std::fs::File::create("/dev/full").unwrap());
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{argv:?}: {err}");
        let said: Vec<&str> = err.lines().filter(|l| l.contains("writing to standard output")).collect();
        assert_eq!(said.len(), 1, "{argv:?}: {err}");
        assert!(!err.contains("panicked"), "{argv:?}: {err}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly_with_the_usual_exit_code() {
    let e = env();
    e.run_cmd(e.cmd("default", &[], &["true"])).assert_ok();
    for (argv, code) in printing_commands(&e) {
        let mut c = e.command();
        c.args(&argv).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        // The reader closes before (or while) the command prints.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{argv:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("writing to standard output"), "{argv:?}: {err}");
    }
}

#[test]
fn run_json_keeps_its_exit_code_when_the_reader_goes_away_or_the_disk_is_full() {
    // `orchestra run --json | head -1` must still exit 4 for a violation, and a
    // full disk under stdout must not turn it into anything lower.
    for full in [false, true] {
        let w = World::ci();
        let mut c = w.run_cmd(&plan(&[sh("a", OK, ""), sh("b", VIOLATE, ", needs: [a]")]), &["--json"]);
        if full {
            c.stdout(std::fs::File::create("/dev/full").unwrap());
        } else {
            c.stdout(std::process::Stdio::piped());
        }
        c.stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "full={full}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.contains("writing to standard output"), full, "{err}");
        assert_eq!(states(&w).get("b").map(String::as_str), Some("violation"));
        assert!(w.ws.join("ok.txt").exists(), "task a ran to its end");
    }
}

/// A full disk or a closed pipe under stderr (where the verdict, notices and
/// errors go) never changes an exit code: the line is lost, the code stays.
#[test]
fn stderr_that_cannot_be_written_keeps_every_exit_code() {
    let e = env();
    let cases: [(&[&str], i32); 5] = [
        (&["exec", "--", "true"], 0),
        (&["exec", "--", "sh", "-c", "exit 3"], 2),
        (&["exec", "--", "sh", "-c", "echo x > /etc/orchestra-stderr-test"], 4),
        (&["exec", "--timeout", "1s", "--", "sleep", "5"], 3),
        (&["policy", "show", "no-such-policy"], 1),
    ];
    for (argv, code) in cases {
        for full in [true, false] {
            let mut c = e.command();
            c.args(argv).stdout(std::process::Stdio::null());
            if full {
                c.stderr(std::fs::File::create("/dev/full").unwrap());
            } else {
                c.stderr(std::process::Stdio::piped());
            }
            let mut child = c.spawn().unwrap();
            drop(child.stderr.take());
            let st = child.wait().unwrap();
            assert_eq!(st.code(), Some(code), "{argv:?} full={full}");
        }
    }
    assert!(!std::path::Path::new("/etc/orchestra-stderr-test").exists());
}
