//! The audit key ring seen from outside: rotation is crash-safe at every
//! step, rotating one log never orphans another, and replacing the default key
//! keeps the logs it signs extendable (issue 17, defects 1 and 2).
//!
//! The crash test kills `orchestra audit rotate` with SIGKILL at the entry of
//! its 1st, 2nd, ... file-changing system call (`strace --inject`), until a
//! run completes; after every kill the log must still extend, rotate and
//! verify under the key the reviewer pinned before, and no key or temporary
//! file may be lost or left behind.

use crate::harness::audit::*;
use assert_cmd::Command;
use std::path::Path;

pub(crate) fn cmd(cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd).env("ORCHESTRA_AUDIT_KEY", cwd.join("keys/audit.key"));
    c
}

/// `orchestra exec --audit-dir DIR -- true` in `cwd`.
pub(crate) fn exec_true(cwd: &Path, log: &str) -> std::process::Output {
    cmd(cwd).args(["exec", "--audit-dir", log, "--", "true"]).output().expect("run orchestra exec")
}

pub(crate) fn verify_pinned(cwd: &Path, log: &str, pin: &str) -> std::process::Output {
    cmd(cwd).args(["audit", "verify", log, "--trusted-key", pin]).output().expect("run orchestra audit verify")
}

pub(crate) fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Temporary files (`.<name>.tmp.<pid>`) under `dir`, recursively.
pub(crate) fn temporaries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(temporaries(&e.path()));
        } else if name.starts_with('.') && name.contains(".tmp.") {
            out.push(e.path().display().to_string());
        }
    }
    out
}

pub(crate) const STRACE: &str = "/usr/bin/strace";

/// The system calls through which `audit rotate` changes files. (Creating a
/// file is not among them: a kill there leaves the state a kill at the
/// previous call leaves, and a kill at the first write into it the state
/// of a created, empty file.)
pub(crate) const MUTATING: &str = "write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,ftruncate,mkdir,mkdirat,fchmod,fchmodat";

#[test]
fn rotation_killed_at_every_file_changing_syscall_leaves_the_log_usable() -> TestResult {
    assert!(Path::new(STRACE).exists(), "strace is required (Debian package strace)");
    let template = tempfile::tempdir()?;
    let t = template.path();
    cmd(t).args(["audit", "keygen"]).assert().success();
    std::fs::copy(t.join("keys/audit.key.pub"), t.join("pin.pub"))?;
    for _ in 0..2 {
        let o = exec_true(t, "log");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let mut kills = Vec::new();
    for syscall in MUTATING.split(',') {
        for n in 1..200 {
            if !rotate_killed_at(t, syscall, n)? {
                break;
            }
            kills.push(format!("{syscall}#{n}"));
        }
    }
    println!("audit rotate killed at {} points: {}", kills.len(), kills.join(" "));
    assert!(kills.len() >= 15, "only {} kill points: {kills:?}", kills.len());
    Ok(())
}

/// Copy the template `t`, run `audit rotate` in the copy killed at the entry of
/// its `n`-th `syscall`, and check what the kill left. Returns false when the
/// rotation completed (it makes fewer than `n` such calls).
fn rotate_killed_at(t: &Path, syscall: &str, n: u32) -> Result<bool, Box<dyn std::error::Error>> {
    use std::os::unix::process::ExitStatusExt as _;
    let case = tempfile::tempdir()?;
    let c = case.path();
    let cp = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", t.display())).arg(c).status()?;
    assert!(cp.success(), "cp -a");
    let out = cmd(c).strace_kill(syscall, n).args(["audit", "rotate", "log"]).output()?;
    let step = format!("{syscall}#{n}");
    if out.status.code() == Some(0) {
        assert!(text(&out).contains("rotated the audit key"), "{step}: {}", text(&out));
        return Ok(false);
    }
    // strace dies of the tracee's SIGKILL itself (or exits 137).
    let by_kill = out.status.signal() == Some(9) || out.status.code() == Some(137);
    assert!(by_kill, "{step}: neither killed nor done ({:?}): {}", out.status, text(&out));
    // Whatever the kill left: the log extends, verifies under the old pin,
    // rotates again, and the default key's .pub matches the key.
    let o = exec_true(c, "log");
    assert_eq!(o.status.code(), Some(0), "{step}: exec after the kill: {}", text(&o));
    let o = verify_pinned(c, "log", "pin.pub");
    assert_eq!(o.status.code(), Some(0), "{step}: verify after the kill: {}", text(&o));
    let o = cmd(c).args(["audit", "rotate", "log"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{step}: rotate again after the kill: {}", text(&o));
    let o = exec_true(c, "log");
    assert_eq!(o.status.code(), Some(0), "{step}: exec after the second rotation: {}", text(&o));
    let o = verify_pinned(c, "log", "pin.pub");
    assert_eq!(o.status.code(), Some(0), "{step}: verify after the second rotation: {}", text(&o));
    let key = orchestra::audit::load_key(&c.join("keys/audit.key"))?;
    let public = std::fs::read_to_string(c.join("keys/audit.key.pub"))?;
    assert_eq!(public.trim(), key.verifier().encode(), "{step}: stale .pub");
    let stray = temporaries(c);
    assert!(stray.is_empty(), "{step}: temporary files left: {stray:?}");
    Ok(true)
}

pub(crate) trait StraceKill {
    /// Run the command under `strace`, killing it with SIGKILL at the entry of
    /// its `n`-th call of `syscall` (strace counts each system call apart).
    fn strace_kill(&mut self, syscall: &str, n: u32) -> Command;
}

impl StraceKill for Command {
    fn strace_kill(&mut self, syscall: &str, n: u32) -> Command {
        let prog = self.get_program().to_os_string();
        let mut c = Command::new(STRACE);
        c.args(["-f", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
            .arg("-e")
            .arg(format!("inject={syscall}:signal=KILL:when={n}"))
            .arg(prog);
        if let Some(dir) = self.get_current_dir() {
            c.current_dir(dir);
        }
        for (k, v) in self.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    }
}

#[test]
fn rotating_one_log_leaves_another_log_of_the_same_key_extendable() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    cmd(t).args(["audit", "keygen"]).assert().success();
    std::fs::copy(t.join("keys/audit.key.pub"), t.join("pin.pub"))?;
    for log in ["a", "b"] {
        assert_eq!(exec_true(t, log).status.code(), Some(0));
    }
    cmd(t).args(["audit", "rotate", "a"]).assert().success();
    // b is still signed by the old key, which the ring keeps.
    for log in ["a", "b"] {
        let o = exec_true(t, log);
        assert_eq!(o.status.code(), Some(0), "{log}: {}", text(&o));
        let o = verify_pinned(t, log, "pin.pub");
        assert_eq!(o.status.code(), Some(0), "{log}: {}", text(&o));
    }
    cmd(t).args(["audit", "rotate", "b"]).assert().success();
    let o = verify_pinned(t, "b", "pin.pub");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Three keys: the first and the two it was rotated to.
    let ring: Vec<_> = std::fs::read_dir(t.join("keys/audit.key.ring"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".key"))
        .collect();
    assert_eq!(ring.len(), 3, "{ring:?}");
    Ok(())
}

#[test]
fn keygen_force_keeps_the_replaced_key_for_the_logs_it_signs() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    cmd(t).args(["audit", "keygen"]).assert().success();
    std::fs::copy(t.join("keys/audit.key.pub"), t.join("pin.pub"))?;
    assert_eq!(exec_true(t, "old").status.code(), Some(0));
    cmd(t).args(["audit", "keygen", "--force"]).assert().success();
    // The old log goes on with its own key; a new log starts with the new one.
    let o = exec_true(t, "old");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(verify_pinned(t, "old", "pin.pub").status.code(), Some(0));
    assert_eq!(exec_true(t, "new").status.code(), Some(0));
    assert_eq!(verify_pinned(t, "new", "keys/audit.key.pub").status.code(), Some(0));
    // The old pin does not vouch for the new log.
    assert_eq!(verify_pinned(t, "new", "pin.pub").status.code(), Some(4));
    Ok(())
}

#[test]
fn a_log_whose_key_left_the_ring_is_refused_with_where_to_restore_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    cmd(t).args(["audit", "keygen"]).assert().success();
    assert_eq!(exec_true(t, "log").status.code(), Some(0));
    cmd(t).args(["audit", "rotate", "log"]).assert().success();
    let id = orchestra::audit::load_key(&t.join("keys/audit.key"))?.verifier().id_hex();
    // Lose the key in force (and the default that holds it).
    std::fs::remove_file(t.join(format!("keys/audit.key.ring/{id}.key")))?;
    cmd(t).args(["audit", "keygen", "--force"]).assert().success();
    std::fs::remove_file(t.join(format!("keys/audit.key.ring/{id}.key")))?;
    let before =
        std::fs::read_dir(t.join("log"))?.flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum::<u64>();
    let o = exec_true(t, "log");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains(&format!("signed by key {id}")) && msg.contains(&format!("audit.key.ring/{id}.key")), "{msg}");
    let after =
        std::fs::read_dir(t.join("log"))?.flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum::<u64>();
    assert_eq!(before, after, "the refused exec wrote to the log");
    Ok(())
}

/// A hostile task whose key file lies in its workspace tries to read the new
/// key a rotation renames over the decoyed path while it runs (found by an
/// outside review: the rename showed the new key through). Rotation waits for
/// running tasks instead, so the task reads only the decoy.
#[test]
fn a_rotation_waits_for_running_tasks_and_the_task_never_reads_the_new_key() -> TestResult {
    let tmp = tempfile::Builder::new().prefix("rot").tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let t = tmp.path();
    let key = t.join(".orchestra/audit.key");
    let with_key = |c: &mut std::process::Command| {
        c.current_dir(t).env("ORCHESTRA_AUDIT_KEY", &key);
    };
    let mut c = std::process::Command::new(bin());
    with_key(&mut c);
    assert!(c.args(["audit", "keygen"]).status()?.success());
    std::fs::copy(t.join(".orchestra/audit.key.pub"), t.join("pin.pub"))?;
    let mut slow = std::process::Command::new(bin());
    with_key(&mut slow);
    slow.args(["exec", "--audit-dir", "log", "--", "sh", "-c", "sleep 1.5; cat .orchestra/audit.key"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = slow.spawn()?;
    // Rotate once the slow task's task_started is in the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut show = std::process::Command::new(bin());
        with_key(&mut show);
        let o = show.args(["audit", "show", "log", "--kind", "task_started", "--json"]).output()?;
        if String::from_utf8_lossy(&o.stdout).lines().count() >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slow task never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut rot = std::process::Command::new(bin());
    with_key(&mut rot);
    let r = rot.args(["audit", "rotate", "log"]).output()?;
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(text(&r).contains("waiting for the running tasks to end"), "{}", text(&r));
    let o = child.wait_with_output()?;
    let out = text(&o);
    assert!(!out.contains("PRIVATE+KEY"), "the task read a private key: {out}");
    assert_eq!(o.status.code(), Some(4), "reading the key is fs.hidden: {out}");
    assert!(out.contains("fs.hidden"), "{out}");
    // The rotation happened after the task: both verify under the old pin.
    let mut v = std::process::Command::new(bin());
    with_key(&mut v);
    let o = v.args(["audit", "verify", "log", "--trusted-key", "pin.pub"]).output()?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    Ok(())
}
