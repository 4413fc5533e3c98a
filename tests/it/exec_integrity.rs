//! Host integrity and verdict integrity of `orchestra exec` (issue 15, items
//! 3, 4, 10, 11, 13): the report is never written through a link the task
//! planted, a writable workdir cannot expose the host, the CPU time limit is a
//! violation with evidence (and only with evidence), a violation stays exit 4
//! whatever fails afterwards, and a task cannot forge the verdict line.
//! Each attack asserts the effect on the host, the exit code and the rule;
//! each benign case asserts exit 0 (or the honest failure) and no violation.
//!
//! Tests named `review_*`/`review2_*` come from two security reviews of the
//! jail: a comment that describes a bug describes it as found; the code has
//! been fixed since and the test stays as its regression test.

use crate::harness::{self, Env, Out, env};
use std::path::Path;
use std::process::Command;

/// Run `orchestra exec --policy POLICY EXTRA -- /bin/sh -c SCRIPT` in the
/// workspace, with `report` (if any) read back as JSON.
fn exec(e: &Env, policy: &str, extra: &[&str], script: &str, report: Option<&Path>) -> Out {
    let mut c = e.command();
    c.arg("exec").arg("--policy").arg(policy).args(extra).args(["--", "/bin/sh", "-c", script]);
    out(c, report)
}

fn out(mut c: Command, report: Option<&Path>) -> Out {
    Out::with_report(c.output().expect("run orchestra"), report)
}

/// The lines of `s` that start with `orchestra:` (only Orchestra's own may).
fn ours(s: &str) -> Vec<&str> {
    s.lines().filter(|l| l.starts_with("orchestra:")).collect()
}

fn verdict(o: &Out) -> String {
    o.stderr.lines().rev().find(|l| l.starts_with("orchestra: ")).unwrap_or_default().to_string()
}

fn dir_entries(p: &Path) -> Vec<String> {
    std::fs::read_dir(p).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

// ---- 3. the report is never written through a link the task planted ----------

#[test]
fn report_dir_swapped_for_a_symlink_is_not_followed() {
    let e = env();
    let outside = e.root.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir(e.ws.join("sub")).unwrap();
    let report = e.ws.join("sub/report.json");
    let script = format!("mv sub sub.old && ln -s {} sub && echo x > /etc/orchestra-integrity-3", outside.display());
    let o = exec(&e, "default", &["--report", "sub/report.json"], &script, None);
    // The effect: nothing lands outside; the report is in the directory opened
    // before the task ran (now `sub.old`), inside the workspace.
    assert_eq!(dir_entries(&outside), Vec::<String>::new(), "written through the link: {}", o.stderr);
    assert!(std::fs::symlink_metadata(e.ws.join("sub")).unwrap().file_type().is_symlink());
    let moved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.ws.join("sub.old/report.json")).unwrap()).unwrap();
    assert!(!Path::new("/etc/orchestra-integrity-3").exists());
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(verdict(&o).contains(" violation ") && verdict(&o).contains("fs.write"), "{}", o.stderr);
    assert!(moved["violations"].as_array().unwrap().iter().any(|v| v["rule"] == "fs.write"), "{moved}");
    assert!(!report.exists() || std::fs::symlink_metadata(&report).is_err());
}

#[test]
fn report_dir_swapped_by_a_benign_looking_task_still_exits_ok_inside_the_workspace() {
    let e = env();
    let outside = e.root.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(e.ws.join("a/b")).unwrap();
    let script = format!("mv a a.old && mkdir a && ln -s {} a/b", outside.display());
    let o = exec(&e, "default", &["--report", "a/b/r.json"], &script, Some(&e.ws.join("a.old/b/r.json")));
    assert_eq!(dir_entries(&outside), Vec::<String>::new());
    o.assert_ok();
    assert_eq!(o.report["cause"], "ok");
}

#[test]
fn report_name_replaced_by_a_symlink_is_replaced_not_followed() {
    let e = env();
    let victim = e.root.join("victim");
    std::fs::write(&victim, "keep me\n").unwrap();
    let report = e.ws.join("report.json");
    std::fs::write(&report, "old report\n").unwrap();
    let script = format!("rm -f report.json && ln -s {} report.json", victim.display());
    let o = exec(&e, "default", &["--report", report.to_str().unwrap()], &script, Some(&report));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    assert!(std::fs::symlink_metadata(&report).unwrap().file_type().is_file());
    o.assert_ok();
    assert_eq!(o.report["cause"], "ok");
}

#[test]
fn report_path_through_an_existing_symlink_is_refused_before_the_task_runs() {
    let e = env();
    let outside = e.root.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, e.ws.join("link")).unwrap();
    let o = exec(&e, "default", &["--report", "link/r.json"], "touch ran", None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!e.ws.join("ran").exists(), "the task ran");
    assert_eq!(dir_entries(&outside), Vec::<String>::new());
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("symbolic link"), "{}", o.stderr);
}

#[test]
fn report_to_dev_stdout_or_a_fifo_is_refused_and_never_replaced() {
    let e = env();
    let o = exec(&e, "default", &["--report", "/dev/stdout"], "touch ran", None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("/dev/stdout") && o.stderr.contains("symbolic link"), "{}", o.stderr);
    assert!(std::fs::symlink_metadata("/dev/stdout").unwrap().file_type().is_symlink());
    let fifo = e.ws.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let o = exec(&e, "default", &["--report", "fifo"], "touch ran", None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("FIFO"), "{}", o.stderr);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(!e.ws.join("ran").exists(), "the task ran");
}

#[test]
fn a_normal_report_path_still_works_relative_and_absolute() {
    let e = env();
    std::fs::create_dir(e.ws.join("out")).unwrap();
    let o = exec(&e, "default", &["--report", "out/r.json"], "echo hi", Some(&e.ws.join("out/r.json")));
    o.assert_ok();
    assert_eq!(o.report["cause"], "ok");
    assert_eq!(o.stdout, "hi\n");
    let abs = e.root.join("abs.json");
    let o = exec(&e, "default", &["--report", abs.to_str().unwrap()], "exit 3", Some(&abs));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.report["cause"], "child_exit");
    assert_eq!(dir_entries(&e.ws.join("out")), vec!["r.json".to_string()], "no temporary file left");
}

#[test]
fn an_unprivileged_user_writes_a_report_below_a_search_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let e = harness::env_as(1000);
    let mid = e.root.join("mid");
    std::fs::create_dir_all(mid.join("out")).unwrap();
    harness::chown_tree(&mid.join("out"), 1000);
    std::fs::set_permissions(&mid, std::fs::Permissions::from_mode(0o711)).unwrap();
    let report = mid.join("out/r.json");
    let o = exec(&e, "default", &["--report", report.to_str().unwrap()], "echo hi", Some(&report));
    o.assert_ok();
    assert_eq!(o.report["cause"], "ok");
}

#[test]
fn a_report_in_a_directory_the_user_cannot_write_is_refused_before_the_task_runs() {
    // Review 83 P6: uid 1000 asks for a report in root's directory (0755): the
    // task used to run, its verdict ok, and exec exit 2 for the missing report.
    let e = harness::env_as(1000);
    let theirs = e.root.join("roots");
    std::fs::create_dir(&theirs).unwrap();
    harness::chown_tree(&theirs, 0);
    let report = theirs.join("r.json");
    let o = exec(&e, "default", &["--report", report.to_str().unwrap()], "touch ran", None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("cannot be written in its directory"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists(), "the task ran");
    assert!(!report.exists());
    assert!(dir_entries(&theirs).is_empty(), "{:?}", dir_entries(&theirs));
}

// ---- 11. a violation stays exit 4 whatever fails afterwards --------------------

#[test]
fn report_path_made_a_directory_cannot_turn_a_violation_into_exit_1() {
    let e = env();
    let o = exec(&e, "default", &["--report", "r.json"], "mkdir r.json; echo x > /etc/orchestra-integrity-11", None);
    assert!(!Path::new("/etc/orchestra-integrity-11").exists());
    assert_eq!(o.code, 4, "{}", o.stderr);
    let v = verdict(&o);
    assert!(v.contains(" violation ") && v.contains("fs.write"), "{v}");
    assert!(o.stderr.contains("cannot write report"), "{}", o.stderr);
    assert!(e.ws.join("r.json").is_dir());
}

#[test]
fn a_failed_report_write_after_a_task_ran_is_never_exit_1() {
    let e = env();
    // Failed task: stays 2. Timed-out task: stays 3. An ok task whose report is
    // missing: 2 (not ok, but it ran).
    let o = exec(&e, "default", &["--report", "a.json"], "mkdir a.json; exit 5", None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let o = exec(&e, "default", &["--report", "b.json", "--timeout", "1s"], "mkdir b.json; sleep 30", None);
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = exec(&e, "default", &["--report", "c.json"], "mkdir c.json", None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(verdict(&o).contains(" ok "), "{}", o.stderr);
    assert!(o.stderr.contains("cannot write report"), "{}", o.stderr);
}

// ---- 4. the workdir is checked like the policy's roots -------------------------

#[test]
fn a_writable_workdir_at_home_is_refused_and_dotfiles_stay() {
    let e = env();
    std::fs::create_dir_all(e.home.join(".local/bin")).unwrap();
    let attack = "echo evil >> .bashrc; echo evil > .local/bin/ls; touch ran";
    let mut c = e.command();
    c.current_dir(&e.home).args(["exec", "--", "/bin/sh", "-c", attack]);
    let o = out(c, None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("home directory"), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(e.home.join(".bashrc")).unwrap(), "# original bashrc\n");
    assert!(!e.home.join(".local/bin/ls").exists() && !e.home.join("ran").exists());
    for dir in [e.home.join(".local/bin"), e.home.join(".config"), e.home.clone()] {
        std::fs::create_dir_all(&dir).unwrap();
        let o = exec(&e, "default", &["--workdir", dir.to_str().unwrap()], "touch ran", None);
        assert_eq!(o.code, 1, "{}: {}", dir.display(), o.stderr);
        assert!(!dir.join("ran").exists());
    }
}

#[test]
fn a_writable_workdir_at_a_system_root_or_its_ancestor_is_refused() {
    let e = env();
    for dir in ["/", "/etc", "/usr/local/bin", "/var", "/root", "/home"] {
        let o = exec(&e, "default", &["--workdir", dir], "touch orchestra-integrity-4", None);
        assert_eq!(o.code, 1, "{dir}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(o.stderr.starts_with("orchestra: error: workdir "), "{}", o.stderr);
        assert!(!Path::new(dir).join("orchestra-integrity-4").exists());
    }
}

#[test]
fn the_policy_loader_refuses_the_same_roots() {
    let e = env();
    for root in ["~", "~/.local/bin", "/etc", "/"] {
        let p = e.policy("rw", &format!("version: 1\nfilesystem:\n  read_write: ['{root}']\n"));
        let o = exec(&e, &p, &[], "touch ran", None);
        assert_eq!(o.code, 1, "{root}: {}", o.stderr);
        assert!(!e.ws.join("ran").exists());
    }
}

#[test]
fn a_read_only_workdir_at_home_and_a_project_workdir_are_fine() {
    let e = env();
    let p = e.policy("ro", "version: 1\nfilesystem:\n  workdir: read_only\n");
    let mut c = e.command();
    c.current_dir(&e.home).args(["exec", "--policy", &p, "--", "/bin/sh", "-c", "cat .bashrc"]);
    let o = out(c, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "# original bashrc\n");
    let proj = e.home.join("project");
    std::fs::create_dir(&proj).unwrap();
    let o = exec(&e, "default", &["--workdir", proj.to_str().unwrap()], "touch made", None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(proj.join("made").exists());
}

// ---- 10 and 13b. the CPU time limit; signals the task raised itself -------------

const SPIN: &str = "while :; do :; done";

#[test]
fn a_cpu_bound_task_over_its_cpu_limit_is_a_violation() {
    let e = env();
    let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 1s\n");
    let report = e.root.join("r.json");
    let script = format!("{SPIN} # integrity-cpu-over-{}", std::process::id());
    let o = exec(&e, &p, &["--report", report.to_str().unwrap(), "--timeout", "60s"], &script, Some(&report));
    o.assert_violation("limits.cpu_time");
    assert_eq!(o.report["cause"], "limit_exceeded");
    assert_eq!(o.report["signal"], libc::SIGXCPU);
    assert!(harness::processes_with(&format!("integrity-cpu-over-{}", std::process::id())).is_empty());
}

#[test]
fn a_task_ignoring_sigxcpu_is_killed_at_the_hard_limit_and_reported() {
    let e = env();
    let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 1s\n");
    let report = e.root.join("r.json");
    let marker = format!("integrity-cpu-hard-{}", std::process::id());
    let script = format!("trap '' XCPU; {SPIN} # {marker}");
    let o = exec(&e, &p, &["--report", report.to_str().unwrap(), "--timeout", "60s"], &script, Some(&report));
    o.assert_violation("limits.cpu_time");
    assert!(harness::processes_with(&marker).is_empty(), "the spinning task survived");
    assert_eq!(o.report["signal"], libc::SIGKILL);
    let enforced = o.report["enforced"].to_string();
    assert!(enforced.contains("cpu_secs=1 cpu_hard_secs=2"), "{enforced}");
}

/// Without CAP_SYS_RESOURCE the hard limit cannot rise above ours: it is
/// capped there (the soft one with it), and the kill at it is still reported.
#[test]
fn a_cpu_limit_above_our_own_hard_limit_is_capped_and_still_reported() {
    let e = env();
    let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 30s\n");
    let report = e.root.join("r.json");
    let marker = format!("integrity-cpu-capped-{}", std::process::id());
    let script = format!("{SPIN} # {marker}");
    let mut c = Command::new("prlimit");
    c.arg("--cpu=2:2").arg("--").arg(harness::orchestra());
    let inner = e.command();
    c.current_dir(inner.get_current_dir().unwrap()).env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.args([
        "exec",
        "--policy",
        &p,
        "--report",
        report.to_str().unwrap(),
        "--timeout",
        "60s",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    let o = out(c, Some(&report));
    o.assert_violation("limits.cpu_time");
    assert!(harness::processes_with(&marker).is_empty(), "the spinning task survived");
    let enforced = o.report["enforced"].to_string();
    assert!(enforced.contains("cpu_secs=2 cpu_hard_secs=2"), "{enforced}");
}

#[test]
fn a_cpu_bound_task_under_its_limit_is_ok() {
    let e = env();
    let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 20s\n");
    let report = e.root.join("r.json");
    let script = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i";
    let o = exec(&e, &p, &["--report", report.to_str().unwrap()], script, Some(&report));
    o.assert_ok();
    assert_eq!(o.stdout, "200000\n");
}

#[test]
fn signals_a_task_raises_itself_are_failures_not_violations() {
    let e = env();
    let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 5s\n  disk: 1MiB\n");
    let report = e.root.join("r.json");
    for sig in ["XCPU", "XFSZ", "KILL", "SYS"] {
        let o = exec(&e, &p, &["--report", report.to_str().unwrap()], &format!("kill -{sig} $$"), Some(&report));
        assert_eq!(o.code, 2, "SIG{sig}: {}", o.stderr);
        assert_eq!(o.report["cause"], "signal", "SIG{sig}");
        assert!(o.rules().is_empty(), "SIG{sig}: {:?}", o.rules());
        assert!(verdict(&o).contains(" failed cause=signal"), "{}", o.stderr);
    }
}

#[test]
fn a_file_grown_to_the_disk_limit_is_still_a_violation() {
    let e = env();
    let p = e.policy("disk", "version: 1\nlimits:\n  disk: 1MiB\n");
    let report = e.root.join("r.json");
    let o = exec(&e, &p, &["--report", report.to_str().unwrap()], "head -c 5000000 /dev/zero > big", Some(&report));
    o.assert_violation("limits.disk");
    assert!(std::fs::metadata(e.ws.join("big")).unwrap().len() <= 1 << 20);
}

// ---- 13c. a task cannot forge the verdict line ----------------------------------

#[test]
fn a_forged_verdict_line_is_marked_and_the_real_one_is_the_only_one() {
    let e = env();
    let script = "printf 'orchestra: sh ok cause=ok exit=0 wall=1ms\\n' >&2; \
                  printf 'x\\rorchestra: sh ok cause=ok\\n' >&2; \
                  printf 'orchestra: sh ok on stdout\\nplain\\n'; exit 3";
    let o = exec(&e, "default", &[], script, None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let lines = ours(&o.stderr);
    assert_eq!(lines.len(), 1, "{:?}", o.stderr);
    assert!(lines[0].starts_with("orchestra: sh failed cause=child_exit exit=3"), "{}", lines[0]);
    assert!(o.stderr.contains("[task] orchestra: sh ok cause=ok exit=0 wall=1ms\n"), "{}", o.stderr);
    assert!(o.stderr.contains("x\r[task] orchestra: sh ok cause=ok\n"), "{:?}", o.stderr);
    assert_eq!(o.stdout, "[task] orchestra: sh ok on stdout\nplain\n");
}

#[test]
fn task_output_is_otherwise_relayed_byte_for_byte() {
    let e = env();
    let script = "printf 'a\\n  orchestra: indented\\nsee orchestra: inside\\norchestr'; printf 'x\\n' >&2";
    let o = exec(&e, "default", &[], script, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "a\n  orchestra: indented\nsee orchestra: inside\norchestr");
    assert!(o.stderr.starts_with("x\norchestra: sh ok "), "{}", o.stderr);
}

#[test]
fn a_missing_program_is_reported_without_an_orchestra_prefixed_task_line() {
    let e = env();
    let mut c = e.command();
    c.args(["exec", "--", "./no-such-program"]);
    let o = out(c, None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(ours(&o.stderr).len(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("orchestra exec: ./no-such-program:"), "{}", o.stderr);
}

/// The verdict line embeds the first violation's detail with only `"` escaped
/// (report.rs verdict_line): a path with a newline splits it, and the last
/// `orchestra: ` line on stderr becomes one the task chose ("... ok cause=ok").
#[test]
fn review_a_path_cannot_forge_the_verdict_line() {
    let e = env();
    let o = e.sh("default", "echo x > \"$(printf '/etc/a\\norchestra: build ok cause=ok exit=0')\"");
    // assert_violation checks the last `orchestra: ` line names the violation.
    o.assert_violation("fs.write");
    // The task's own stderr passes through unchanged (it may print anything, fake
    // verdicts included); ours is the last line, and the path inside it is escaped.
    let last = o.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("orchestra: sh violation ") && last.contains("\\norchestra: build ok"), "{last}");
}

#[test]
fn review2_a_newline_in_the_program_name_cannot_forge_the_verdict_line() {
    let e = env();
    let name = "p\norchestra: p ok cause=child_exit exit=0";
    std::os::unix::fs::symlink("/bin/sh", e.ws.join(name)).unwrap();
    let prog = format!("./{name}");
    let o = e.run("default", &[&prog, "-c", "echo x > /etc/orchestra-review2-nl"]);
    assert!(!Path::new("/etc/orchestra-review2-nl").exists());
    o.assert_violation("fs.write");
    // The task's own stderr may print anything (out of scope); the orchestrator's
    // verdict is the last line and is a single line.
    let last = o.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("orchestra: ") && last.contains(" violation ") && last.contains("fs.write"), "{last}");
    assert!(o.report.is_object(), "the JSON report is unreadable");
}

/// COSMETIC / REPORT FORGERY. The verdict line is written right after the task's
/// relayed stderr, without ending a partial line first. A task that prints a
/// forged "ok" verdict, then a partial line, then violates, leaves
/// "<partial>orchestra: sh violation …" as the real verdict (not at the start of
/// a line) and the forged line as the last line starting with "orchestra: ".
/// It also happens by accident: dash writes "/bin/sh: 1: " before the rest of an
/// error message and is killed in between. Exit code stays 4.
#[test]
fn review2_a_partial_line_cannot_displace_the_verdict_line() {
    let e = env();
    let o = e.sh(
        "default",
        "printf 'orchestra: sh ok cause=ok exit=0 wall=1ms\\nnote: ' >&2; echo x > /etc/orchestra-review2-forge",
    );
    assert!(!Path::new("/etc/orchestra-review2-forge").exists());
    o.assert_violation("fs.write");
}

// ---- the container backends ------------------------------------------------------

/// A workspace the container backends accept (owned by a non-root user) and
/// the supervisor binary they mount.
fn container_env() -> Env {
    let e = env();
    harness::container_setup();
    harness::chown_tree(&e.ws, 1000);
    e
}

fn container_exec(e: &Env, engine: &str, name: &str, policy: &str, extra: &[&str], script: &str) -> Command {
    let mut c = e.command();
    harness::container_setup();
    c.args(["exec", "--backend", engine, "--name", name, "--policy", policy]).args(extra);
    c.args(["--", "/bin/sh", "-c", script]);
    c
}

/// 13a: a task that started and was killed from outside (`docker kill`) is
/// `signal` (exit 2), not `setup_failed` (exit 1, "nothing ran").
#[test]
fn a_container_killed_from_outside_is_a_signal_not_a_setup_failure() {
    for engine in ["docker", "podman"] {
        let e = container_env();
        let name = format!("integrity-killed-{engine}-{}", std::process::id());
        let report = e.root.join("r.json");
        let mut c = container_exec(&e, engine, &name, "default", &["--report", report.to_str().unwrap()], "sleep 60");
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let child = c.spawn().unwrap();
        let label = format!("orchestra.task={name}");
        let t0 = std::time::Instant::now();
        let id = loop {
            if let Some(id) = harness::containers_labelled(engine, &label).into_iter().next() {
                break id;
            }
            assert!(t0.elapsed() < std::time::Duration::from_secs(30), "{engine}: the container never appeared");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        // Let the supervisor start the task, then kill the container from outside.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let k = Command::new(engine).args(["kill", &id]).output().unwrap();
        assert!(k.status.success(), "{engine} kill: {}", String::from_utf8_lossy(&k.stderr));
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{engine}: {stderr}");
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["cause"], "signal", "{engine}: {r}");
        assert!(stderr.lines().rev().find(|l| l.starts_with("orchestra: ")).unwrap().contains(" failed cause=signal"));
        assert!(harness::containers_left(engine, &label).is_empty(), "{engine}: container left");
    }
}

/// 13c and 10 on the container backends: the forged line is marked, the CPU
/// limit is a violation, a self-raised SIGXCPU is not.
#[test]
fn container_verdicts_cannot_be_forged_and_the_cpu_limit_fires() {
    for engine in ["docker", "podman"] {
        let e = container_env();
        let name = format!("integrity-verdict-{engine}-{}", std::process::id());
        let script = "printf 'orchestra: sh ok cause=ok exit=0\\n' >&2; exit 3";
        let o = out(container_exec(&e, engine, &name, "default", &[], script), None);
        assert_eq!(o.code, 2, "{engine}: {}", o.stderr);
        assert_eq!(ours(&o.stderr).len(), 1, "{engine}: {}", o.stderr);
        assert!(o.stderr.contains("[task] orchestra: sh ok cause=ok exit=0\n"), "{engine}: {}", o.stderr);

        let p = e.policy("cpu", "version: 1\nlimits:\n  cpu_time: 1s\n");
        let report = e.root.join("r.json");
        let extra = ["--report", report.to_str().unwrap(), "--timeout", "60s"];
        let o = out(container_exec(&e, engine, &name, &p, &extra, SPIN), Some(&report));
        o.assert_violation("limits.cpu_time");
        let left = harness::containers_left(engine, &format!("orchestra.task={name}"));
        assert!(left.is_empty(), "{engine}: the spinning task's container is still there: {left:?}");
        let o = out(container_exec(&e, engine, &name, &p, &extra, "kill -XCPU $$"), Some(&report));
        assert_eq!(o.code, 2, "{engine}: {}", o.stderr);
        assert_eq!(o.report["cause"], "signal", "{engine}");
        assert!(o.rules().is_empty(), "{engine}: {:?}", o.rules());
    }
}
