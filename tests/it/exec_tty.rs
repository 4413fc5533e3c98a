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
