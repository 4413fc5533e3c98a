//! `exec --tty` and the caller's terminal: the task gets a pseudo-terminal of
//! its own (its stdin, stdout and stderr are a terminal; input is relayed),
//! terminal injection stays a violation, the verdict line cannot be forged
//! through the terminal, and whatever a task does to the caller's terminal
//! settings is undone when it ends — with `--tty` and without.

use crate::harness::*;
use std::process::{Command, Stdio};

/// `orchestra exec ARGS` in `e`'s workspace with `input` on a pipe as stdin.
fn with_input(e: &Env, args: &[&str], argv: &[&str], input: &str) -> Out {
    let mut c = e.cmd("default", args, argv);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run orchestra");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    Out::with_report(o, Some(&e.root.join("report.json")))
}

#[test]
fn a_tty_task_has_a_terminal_and_reads_what_the_caller_types() {
    let e = env();
    let script = "for fd in 0 1 2; do test -t $fd && echo fd$fd-is-a-terminal; done; read line; echo got:$line";
    let o = with_input(&e, &["--tty"], &["/bin/sh", "-c", script], "typed words\n");
    o.assert_ok();
    for fd in 0..3 {
        assert!(o.stdout.contains(&format!("fd{fd}-is-a-terminal")), "{}", o.all());
    }
    assert!(o.stdout.contains("got:typed words"), "{}", o.all());
    // The terminal's end of input ends a reader, as a typed ^D would.
    let o = with_input(&e, &["-it"], &["/bin/cat"], "one line\n");
    o.assert_ok();
    assert!(o.stdout.contains("one line"), "{}", o.all());
}

#[test]
fn without_tty_the_task_sees_no_terminal() {
    let e = env();
    let o = with_input(&e, &[], &["/bin/sh", "-c", "test -t 1 || echo stdout-is-not-a-terminal"], "");
    o.assert_ok();
    assert!(o.stdout.contains("stdout-is-not-a-terminal"), "{}", o.all());
}

#[test]
fn terminal_injection_on_the_tasks_own_terminal_is_still_a_violation() {
    let e = env();
    let o = with_input(&e, &["--tty"], &["./attack", "tiocsti"], "");
    o.assert_violation("syscall.tty_injection");
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.all());
}

#[test]
fn a_verdict_line_forged_through_the_terminal_is_marked() {
    let e = env();
    let o = with_input(&e, &["--tty"], &["/bin/sh", "-c", "echo 'orchestra: sh ok cause=ok exit=0'; exit 3"], "");
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("[task] orchestra: sh ok"), "{}", o.all());
    assert!(!o.stdout.lines().any(|l| l.starts_with("orchestra:")), "{}", o.all());
}

#[test]
fn tty_on_a_container_backend_is_refused_before_anything_runs() {
    let e = env();
    let o = e.run_cmd(e.cmd("default", &["--tty", "--backend", "docker"], &["touch", "ran"]));
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("--tty"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

/// The settings of the caller's terminal (`script` gives orchestra a real
/// one), printed by `stty` after orchestra returned: `echo` and `icanon`
/// are on whatever the task did.
fn settings_after(e: &Env, exec_args: &str, task: &str) -> String {
    let cmd = format!(
        "{} exec {exec_args} -- sh -c '{task}' </dev/tty; stty -a </dev/tty | tr ' ;' '\\n\\n' | grep -xE -- '-?(echo|icanon)'",
        orchestra().display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).current_dir(&e.ws).stdin(Stdio::null());
    for (k, v) in e.command().get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let o = c.output().expect("script (util-linux) is required");
    String::from_utf8_lossy(&o.stdout).replace('\r', "")
}

#[test]
fn the_callers_terminal_settings_come_back_whatever_the_task_did() {
    let e = env();
    for args in ["", "--tty"] {
        let s = settings_after(&e, args, "stty -echo -icanon; exit 0");
        let lines: Vec<&str> =
            s.lines().map(str::trim).filter(|l| l.ends_with("echo") || l.ends_with("icanon")).collect();
        assert!(lines.contains(&"echo") && lines.contains(&"icanon"), "{args:?}: {s}");
    }
}

/// Review F3: a task that stops the caller's terminal output (`tcflow
/// TCOOFF`) or takes the terminal exclusively would leave orchestra blocked
/// writing its verdict; both are `syscall.tty_injection`, and orchestra ends.
#[test]
fn stopping_or_seizing_the_callers_terminal_is_a_violation_and_orchestra_ends() {
    let e = env();
    for (what, code) in [
        ("tcflow", "import termios,time; termios.tcflow(0, termios.TCOOFF); time.sleep(30)"),
        ("excl", "import fcntl,termios,time; fcntl.ioctl(0, termios.TIOCEXCL); time.sleep(30)"),
    ] {
        let cmd = format!(
            "{} exec --timeout 10s -- /usr/bin/python3 -c '{code}' </dev/tty; echo AFTER-$?",
            orchestra().display()
        );
        let t0 = std::time::Instant::now();
        let o = on_the_callers_terminal(&e, &cmd, 20);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("AFTER-4"), "{what}: {out}");
        assert!(out.contains("rules=syscall.tty_injection"), "{what}: {out}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(15), "{what}: took {:?}", t0.elapsed());
    }
}

/// Attack review 90, H1: TCXONC and TIOCEXCL are allowed on a terminal of the
/// jail's own devpts instance, so a task asks them on a descriptor holding
/// one while another thread puts the caller's terminal on that number,
/// nearer the judgement each round. The supervisor performs the request on
/// the file it took itself, never letting the kernel look the number up
/// again: the caller's terminal is never seized or stopped (orchestra's
/// verdict and the shell's line after it reach it, and it is not
/// exclusive), and a swap that came in time is `syscall.tty_injection`.
#[test]
fn a_descriptor_swapped_after_the_judgement_never_reaches_the_callers_terminal() {
    let e = env();
    std::fs::copy(compile_c("tty_swap_race"), e.ws.join("race")).unwrap();
    // TIOCGEXCL from the host's side after the task: 1 when exclusive.
    let excl = "python3 -c 'import fcntl,struct; print(\"EXCL=%d\" % struct.unpack(\"i\", fcntl.ioctl(0, 0x80045440, bytes(4)))[0])'";
    for op in ["x", "x", "o", "o"] {
        let cmd = format!(
            "{} exec --timeout 30s -- ./race 0 {op} </dev/tty; echo AFTER-$?; {excl} </dev/tty",
            orchestra().display()
        );
        let o = on_the_callers_terminal(&e, &cmd, 60);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{op}: the caller's terminal stopped (timeout): {out}");
        assert!(!out.contains("WON"), "{op}: {out}");
        assert!(out.contains("EXCL=0"), "{op}: the caller's terminal was left exclusive: {out}");
        // Either a swap came between judgement and action (denied), or no
        // round's swap did (the task ends with its own "no win").
        let denied = out.contains("AFTER-4") && out.contains("rules=syscall.tty_injection");
        assert!(denied || (out.contains("no win") && out.contains("AFTER-1")), "{op}: {out}");
    }
}

/// The shell line `cmd` run on a terminal that `script` gives it (the
/// caller's terminal these tests attack), in `e`'s workspace with its
/// environment, ended by `timeout` after `secs` seconds.
fn on_the_callers_terminal(e: &Env, cmd: &str, secs: u32) -> std::process::Output {
    let mut c = Command::new("timeout");
    c.arg(secs.to_string()).args(["script", "-qec", cmd, "/dev/null"]).current_dir(&e.ws).stdin(Stdio::null());
    c.env_clear().envs(e.command().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
    c.output().expect("timeout and script are required")
}

/// `c` (program, arguments, environment, directory) run on a terminal that
/// `script` gives it; what the terminal received.
fn on_a_terminal(c: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(quote(c.get_program())).chain(c.get_args().map(quote)).collect::<Vec<_>>().join(" ");
    let mut s = Command::new("script");
    s.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    if let Some(d) = c.get_current_dir() {
        s.current_dir(d);
    }
    s.env_clear().envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
    String::from_utf8_lossy(&s.output().expect("script is required").stdout).into_owned()
}

/// Review F4: a task that leaves the terminal's text concealed (or coloured)
/// cannot hide the verdict, and a task's unfinished stdout line into the same
/// file does not swallow the verdict's start.
#[test]
fn the_verdict_is_shown_plainly_on_its_own_line() {
    let e = env();
    let shown = on_a_terminal(&e.cmd("default", &[], &["/bin/sh", "-c", "printf '\\033[8m'; cat /etc/shadow"]));
    assert!(shown.contains("\x1b[0morchestra: sh violation"), "{shown:?}");
    let log = e.root.join("both.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut c = e.cmd("default", &[], &["/bin/sh", "-c", "printf unfinished"]);
    c.stdout(f.try_clone().unwrap()).stderr(f);
    assert!(c.status().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("unfinished\norchestra: sh ok"), "{text:?}");
}

/// Review F4: the end of a failed task's log that `orchestra run` shows is the
/// task's writing: on a terminal its escape sequences are shown, not obeyed.
#[test]
fn a_failed_tasks_log_tail_cannot_draw_on_the_terminal() {
    let w = World::new();
    let plan = plan(&[sh("evil", "printf \"\\033[2J\\033[8mhidden\\n\"; exit 3", "")]);
    let shown = on_a_terminal(&w.run_cmd(&plan, &["--progress", "plain"]));
    assert!(shown.contains("--- last"), "{shown:?}");
    assert!(!shown.contains("\x1b[2J") && !shown.contains("\x1b[8m"), "{shown:?}");
    assert!(shown.contains("\\u{1b}[2J") || shown.contains("\\x1b[2J") || shown.contains("\\e[2J"), "{shown:?}");
}
