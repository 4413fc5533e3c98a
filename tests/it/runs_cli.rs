//! `orchestra logs` and `orchestra runs prune` on real runs (sh tasks in the
//! jail): what the logs show and when a follower ends; what a prune removes,
//! and what it never touches (a run in progress, the audit log, whatever a
//! link planted in the runs directory points at).

use crate::harness::*;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The run ids in the runs directory (not the index, not an audit directory kept there).
fn runs_of(w: &World) -> Vec<String> {
    World::run_ids_in(&w.runs).into_iter().filter(|n| n.len() == 21 && n.as_bytes()[8] == b'T').collect()
}

/// Run `yaml` to its end (exit 0) and return the new run's id.
#[track_caller]
fn finished_run(w: &World, yaml: &str) -> String {
    let before = runs_of(w);
    w.run_plan(yaml, &[]).assert_code(0);
    new_run(w, &before)
}

#[track_caller]
fn new_run(w: &World, before: &[String]) -> String {
    let new: Vec<String> = runs_of(w).into_iter().filter(|r| !before.contains(r)).collect();
    assert_eq!(new.len(), 1, "one new run: {new:?}");
    new[0].clone()
}

/// `orchestra ARGS... --runs-dir RUNS`
fn cli(w: &World, args: &[&str]) -> Out {
    let runs = w.runs.display().to_string();
    let mut v = args.to_vec();
    v.extend(["--runs-dir", &runs]);
    w.orchestra(&v)
}

/// A task that prints `first`, waits for `go` in the workspace (at most a
/// minute), then prints `second`.
fn waiting_task(id: &str) -> String {
    sh(id, "echo first; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo second", "")
}

/// Start a run of `yaml` in the background and return it with its id once
/// its checkpoint exists (the run can be named).
#[allow(clippy::zombie_processes, reason = "the caller waits for the run it is handed")]
fn live_run(w: &World, yaml: &str) -> (std::process::Child, String) {
    let before = runs_of(w);
    let mut child = w.spawn_plan(yaml, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let new: Vec<String> = runs_of(w).into_iter().filter(|r| !before.contains(r)).collect();
        if let [id] = new.as_slice()
            && w.run_dir(id).join("checkpoint.json").is_file()
        {
            return (child, id.clone());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn wait_with_timeout(child: &mut std::process::Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- logs -------------------------------------------------------------------

#[test]
fn logs_print_every_task_under_its_header_in_plan_order_and_one_task_byte_for_byte() {
    let w = World::new();
    // Plan order differs from the alphabet: zeta first.
    let id = finished_run(&w, &plan(&[sh("zeta", "echo zeta says hi", ""), sh("alpha", "echo alpha says hi", "")]));
    let all = cli(&w, &["logs", &id]);
    all.assert_code(0);
    assert!(all.stdout.starts_with("==> zeta <==\n"), "{}", all.stdout);
    let pos = |s: &str| all.stdout.find(s).unwrap_or_else(|| panic!("{s:?} missing:\n{}", all.stdout));
    assert!(pos("zeta says hi") < pos("\n==> alpha <==\n"));
    assert!(pos("\n==> alpha <==\n") < pos("alpha says hi"));
    // One task: exactly its log file, no header.
    let one = w.command().args(["logs", &id, "alpha", "--runs-dir"]).arg(&w.runs).output().unwrap();
    assert_eq!(one.status.code(), Some(0));
    assert_eq!(one.stdout, std::fs::read(w.run_dir(&id).join("logs/alpha.log")).unwrap());
    // Following a finished run prints the same and ends at once.
    let t = Instant::now();
    let followed = cli(&w, &["logs", &id, "--follow"]);
    followed.assert_code(0);
    assert_eq!(followed.stdout, all.stdout);
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
}

#[test]
fn logs_of_an_unknown_run_or_task_are_one_line_and_exit_1() {
    let w = World::new();
    let id = finished_run(&w, &plan(&[sh("build", "echo built", "")]));
    for args in [
        vec!["logs", "20990101T000000Z-abcd"],
        vec!["logs", "../../etc"],
        vec!["logs", &id, "nosuch"],
        vec!["logs", &id, "../../../etc/passwd"],
        vec!["logs", &id, "build@replan-1"],
    ] {
        let o = cli(&w, &args);
        o.assert_code(1);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.all());
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("orchestra: error: "), "{args:?}: {}", o.stderr);
    }
    assert!(cli(&w, &["logs", &id, "nosuch"]).stderr.contains("has no task \"nosuch\" (its tasks: build)"));
}

#[test]
fn logs_follow_prints_lines_while_the_run_is_live_and_ends_when_it_ends() {
    let w = World::new();
    let (mut run, id) = live_run(&w, &plan(&[waiting_task("step")]));
    let mut follow = w
        .command()
        .args(["logs", &id, "step", "--follow", "--runs-dir"])
        .arg(&w.runs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // `first` arrives while the task still waits: the run cannot have ended.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("first line in time");
        if line == "first" {
            break;
        }
    }
    assert!(run.try_wait().unwrap().is_none(), "the run is still in progress");
    assert!(follow.try_wait().unwrap().is_none(), "the follower is still following");
    w.write("go", "");
    let run_status = wait_with_timeout(&mut run, Duration::from_secs(60), "the run");
    assert!(run_status.success(), "{run_status:?}");
    let follow_status = wait_with_timeout(&mut follow, Duration::from_secs(10), "the follower after the run ended");
    assert!(follow_status.success(), "{follow_status:?}");
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l == "second"), "what the task printed last is drained: {rest:?}");
}

#[test]
fn logs_show_escape_sequences_raw_into_a_pipe_and_neutralised_on_a_terminal() {
    let w = World::new();
    // OSC 52 (set the clipboard), a colour, clear screen, a bare CR, an invalid byte.
    let script = r"printf '\033]52;c;aGk=\007\033[31mred\033[2J\rhidden\377\n'";
    let id = finished_run(&w, &plan(&[sh("evil", script, "")]));
    let log = std::fs::read(w.run_dir(&id).join("logs/evil.log")).unwrap();
    assert!(log.contains(&0x1b), "the task wrote escapes");
    let piped = w.command().args(["logs", &id, "evil", "--runs-dir"]).arg(&w.runs).output().unwrap();
    assert_eq!(piped.stdout, log, "into a pipe: the bytes as written");

    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = {
        let mut c = w.command();
        c.args(["logs", &id, "evil", "--runs-dir"]).arg(&w.runs).stdout(Stdio::from(pty.slave)).stderr(Stdio::piped());
        c.spawn().unwrap()
        // `c` and its copy of the terminal's other end are dropped here.
    };
    let mut master = std::fs::File::from(pty.master);
    let mut shown = Vec::new();
    let mut buf = [0u8; 4096];
    // EIO once the child closed its end.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&buf[..n]);
    }
    assert!(wait_with_timeout(&mut child, Duration::from_secs(10), "logs on a terminal").success());
    let text = String::from_utf8(shown.clone()).expect("neutralised output is UTF-8");
    assert!(!shown.iter().any(|&b| b == 0x1b || b == 0x07 || b == 0xff), "{text:?}");
    for visible in ["\\u{1b}]52;c;aGk=\\u{7}", "\\u{1b}[31mred", "\\u{d}hidden", "\\xff"] {
        assert!(text.contains(visible), "{visible:?} not in {text:?}");
    }
    // --raw on a terminal: as written (the terminal's own line discipline aside).
    let raw = {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut c = w.command();
        c.args(["logs", &id, "evil", "--raw", "--runs-dir"]).arg(&w.runs).stdout(Stdio::from(pty.slave));
        let mut child = c.spawn().unwrap();
        drop(c);
        let mut master = std::fs::File::from(pty.master);
        let mut shown = Vec::new();
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
        }
        assert!(child.wait().unwrap().success());
        shown
    };
    assert!(raw.contains(&0x1b), "--raw keeps the escapes");
}

#[test]
fn logs_into_a_pipe_closed_early_end_quietly_with_exit_0() {
    let w = World::new();
    // Far more than a pipe holds, so orchestra is still writing when head leaves.
    let id = finished_run(&w, &plan(&[sh("loud", "yes orchestra-log-line | head -n 40000", "")]));
    for follow in [false, true] {
        let script = format!(
            "\"$0\" logs {id} --runs-dir \"$1\" {} 2>\"$2\" | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            if follow { "--follow" } else { "" }
        );
        let err = w.root.join("logs.err");
        let o = std::process::Command::new("/bin/bash")
            .arg("-c")
            .arg(&script)
            .arg(orchestra())
            .arg(&w.runs)
            .arg(&err)
            .env("ORCHESTRA_AUDIT_KEY", &w.key)
            .current_dir(&w.ws)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0", "follow={follow}: orchestra's exit code");
        assert_eq!(std::fs::read_to_string(&err).unwrap(), "", "follow={follow}: nothing said");
    }
}

// ---- runs prune -------------------------------------------------------------

fn quick(w: &World) -> String {
    finished_run(w, &plan(&[sh("t", "echo hi", "")]))
}

/// Set a run's creation and last session start to `at` (RFC 3339), as if it were that old.
fn age_run(run_dir: &Path, at: &str) {
    let p = run_dir.join("checkpoint.json");
    let mut cp = read_json(&p);
    cp["created_at"] = at.into();
    cp["session_started_at"] = at.into();
    std::fs::write(&p, cp.to_string()).unwrap();
}

fn listed(w: &World) -> Vec<String> {
    let o = cli(w, &["runs", "list", "--json"]);
    o.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    v.as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn prune_keep_n_removes_all_but_the_newest_runs_and_their_index_rows() {
    let w = World::new();
    let ids: Vec<String> = (0..3).map(|_| quick(&w)).collect();
    assert_eq!(listed(&w).len(), 3);
    let o = cli(&w, &["runs", "prune", "--keep", "1"]);
    o.assert_code(0);
    assert_eq!(runs_of(&w), [ids[2].clone()], "{}", o.all());
    for gone in &ids[..2] {
        assert!(o.stdout.contains(&format!("removed {gone}")), "{}", o.stdout);
    }
    assert!(o.stdout.contains("removed 2 runs, kept 1, skipped 0"), "{}", o.stdout);
    assert_eq!(listed(&w), [ids[2].clone()]);
    // Nothing of the prune is left in the runs directory.
    let names: Vec<String> =
        std::fs::read_dir(&w.runs).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.starts_with(".pruning-")), "{names:?}");
}

#[test]
fn prune_older_than_removes_only_the_runs_that_old_and_dry_run_removes_nothing() {
    let w = World::new();
    let old = quick(&w);
    let new = quick(&w);
    age_run(&w.run_dir(&old), "2020-01-01T00:00:00.000Z");
    let dry = cli(&w, &["runs", "prune", "--older-than", "30d", "--dry-run", "--json"]);
    dry.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["removed"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["removed"][0]["run_id"], old.as_str());
    assert_eq!(v["removed"][0]["started_at"], "2020-01-01T00:00:00Z");
    assert_eq!(v["kept"], 1);
    // Two runs of the same second order by their random suffix: compare as sets.
    let mut both = [old.clone(), new.clone()];
    both.sort();
    assert_eq!(runs_of(&w), both, "a dry run removes nothing");

    let o = cli(&w, &["runs", "prune", "--older-than", "30d"]);
    o.assert_code(0);
    assert_eq!(runs_of(&w), std::slice::from_ref(&new), "{}", o.all());
    // Both bounds: the newest is kept whatever its age.
    age_run(&w.run_dir(&new), "2020-01-01T00:00:00.000Z");
    cli(&w, &["runs", "prune", "--older-than", "30d", "--keep", "1"]).assert_code(0);
    assert_eq!(runs_of(&w), [new]);
}

#[test]
fn prune_without_a_bound_is_one_line_exit_1_and_removes_nothing() {
    let w = World::new();
    let id = quick(&w);
    for args in [vec!["runs", "prune"], vec!["runs", "prune", "--dry-run"], vec!["runs", "prune", "--keep", "x"]] {
        let o = cli(&w, &args);
        o.assert_code(1);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.all());
        assert_eq!(runs_of(&w), std::slice::from_ref(&id));
    }
    let o = cli(&w, &["runs", "prune"]);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("--older-than") && o.stderr.contains("--keep"), "{}", o.stderr);
}

#[test]
fn prune_skips_a_run_in_progress_and_removes_it_once_it_ended() {
    let w = World::new();
    let (mut run, id) = live_run(&w, &plan(&[waiting_task("step")]));
    let o = cli(&w, &["runs", "prune", "--keep", "0"]);
    o.assert_code(0);
    assert!(o.stdout.contains(&format!("skipped {id}: in progress")), "{}", o.stdout);
    assert!(w.run_dir(&id).join("checkpoint.json").is_file());
    // The run goes on undisturbed and ends well.
    w.write("go", "");
    assert!(wait_with_timeout(&mut run, Duration::from_secs(60), "the run").success());
    assert_eq!(state(&w.report(&id), "step"), "succeeded");
    cli(&w, &["runs", "prune", "--keep", "0"]).assert_code(0);
    assert!(runs_of(&w).is_empty());
}

#[test]
fn prune_never_follows_a_link_planted_in_the_runs_directory() {
    let w = World::new();
    let id = quick(&w);
    // Outside: a directory that looks like a run, with a canary.
    let outside = w.root.join("outside");
    std::fs::create_dir_all(outside.join("logs")).unwrap();
    std::fs::copy(w.run_dir(&id).join("checkpoint.json"), outside.join("checkpoint.json")).unwrap();
    std::fs::write(outside.join("canary"), "keep me").unwrap();
    // A link named like a run, and links inside the real run.
    let fake = "20200101T000000Z-0bad";
    std::os::unix::fs::symlink(&outside, w.runs.join(fake)).unwrap();
    std::os::unix::fs::symlink(&outside, w.run_dir(&id).join("artifacts/escape")).unwrap();
    std::fs::remove_file(w.run_dir(&id).join("logs/t.log")).unwrap();
    std::os::unix::fs::symlink(outside.join("canary"), w.run_dir(&id).join("logs/t.log")).unwrap();
    let o = cli(&w, &["runs", "prune", "--keep", "0"]);
    o.assert_code(0);
    assert!(!w.run_dir(&id).exists(), "the real run is removed: {}", o.all());
    assert!(o.stdout.contains(&format!("skipped {fake}: a symbolic link")), "{}", o.stdout);
    assert!(std::fs::symlink_metadata(w.runs.join(fake)).unwrap().file_type().is_symlink(), "the link is left");
    assert_eq!(std::fs::read_to_string(outside.join("canary")).unwrap(), "keep me");
    assert!(outside.join("checkpoint.json").is_file() && outside.join("logs").is_dir());
}

#[test]
fn prune_never_removes_the_audit_log() {
    let w = World::new();
    // The audit log kept inside the runs directory, beside the runs.
    let audit_in_runs = w.runs.join("audit");
    let run_with_audit = |audit: &Path| {
        let before = runs_of(&w);
        w.write("plan.yaml", &plan(&[sh("t", "echo hi", "")]));
        let mut args = w.run_args("plan.yaml", &[]);
        let at = args.iter().position(|a| a == "--audit-dir").unwrap();
        args[at + 1] = audit.display().to_string();
        w.run_with({
            let mut c = w.command();
            c.args(&args);
            c
        })
        .assert_code(0);
        new_run(&w, &before)
    };
    let a = run_with_audit(&audit_in_runs);
    // A second log inside a run directory (a user's --audit-dir choice).
    let audit_in_a: PathBuf = w.run_dir(&a).join("audit");
    let b = run_with_audit(&audit_in_a);
    let files = |d: &Path| walk(d).iter().filter(|(_, t)| t.is_file()).map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let before_in_runs = files(&audit_in_runs);
    assert!(!before_in_runs.is_empty() && !files(&audit_in_a).is_empty());

    let o = cli(&w, &["runs", "prune", "--keep", "0"]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("cannot remove run {a}")), "{}", o.all());
    assert!(o.stderr.contains("audit log"), "{}", o.stderr);
    assert_eq!(runs_of(&w), std::slice::from_ref(&a), "b is removed, a (holding a log) is left whole: {}", o.all());
    assert!(w.run_dir(&a).join("checkpoint.json").is_file());
    assert_eq!(files(&audit_in_runs), before_in_runs);
    w.verify_audit(&audit_in_runs).assert_code(0);
    w.verify_audit(&audit_in_a).assert_code(0);
    assert!(!o.stdout.contains(&format!("removed {a}")), "{}", o.stdout);
    // With b gone nothing records that log any more: its segments still protect it.
    assert!(!runs_of(&w).contains(&b));
    cli(&w, &["runs", "prune", "--keep", "0"]).assert_code(1);
    assert!(w.run_dir(&a).join("checkpoint.json").is_file());
    w.verify_audit(&audit_in_a).assert_code(0);
}
