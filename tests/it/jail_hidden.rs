//! Hidden paths and their decoys: a hidden file's content never reaches the
//! task, whatever path leads to it (a symlink, a hard link, `/proc/self/root`),
//! a read of a decoy is reported however the task tries to cover it (resetting
//! its access time, moving its parent away), a hidden file inside the
//! workspace cannot be moved out from under its decoy for a later run, and the
//! jail's init shows nothing of itself in /proc.
//!
//! Each test asserts that the secret is not in the task's output (nor linked
//! where the task could read it later) and, for an attempt, exit 4 and the
//! rule (`fs.hidden` for a read). A comment
//! that describes a bug describes it as a security review found it; the code
//! has been fixed since and the test stays as its regression test.

use crate::harness::*;

/// A policy hiding a secret inside the read-write workspace, at depth >= 2.
fn hide_in_workspace(e: &Env) -> String {
    std::fs::create_dir_all(e.ws.join("config")).unwrap();
    std::fs::write(e.ws.join("config/creds"), SSH_CANARY).unwrap();
    let yaml = format!(
        "filesystem:\n  read_only: [/usr, /bin, /sbin, /lib, /lib64, /lib32, /etc]\n  hidden: [~/.ssh, {}]\n  workdir: read_write\n  tmp: private\n",
        e.ws.join("config/creds").display()
    );
    e.policy("hide-ws", &yaml)
}

/// ESCAPE across runs. A decoy is a bind mount on the hidden file's dentry; the
/// task may rename the hidden file's PARENT directory (only the mountpoint itself
/// is EBUSY), which renames the real directory on the host. The next run's plan
/// finds the hidden path absent, places no decoy, and the task reads the secret.
/// Nothing is reported in either run.
#[test]
fn review_a_hidden_file_in_the_workspace_cannot_be_moved_out_from_under_its_decoy() {
    let e = env();
    let p = hide_in_workspace(&e);
    let first = e.sh(&p, "mv config moved");
    let second = e.sh(&p, "cat moved/creds config/creds 2>/dev/null; true");
    assert!(
        !second.all_output().contains(SSH_CANARY),
        "the hidden secret leaked in the second run\nfirst: {}\nsecond: {}",
        first.stderr,
        second.all_output()
    );
    first.assert_violation("fs.write");
}

/// Decoys live on a writable tmpfs owned by the task's kernel uid, landlock does
/// not cover utimes, and utimensat("/proc/self/fd/N") is waved through: the task
/// reads the decoy and puts its access time back before the 500 ms check, so the
/// read is never reported. (SECURITY.md §5.3 lists O_NOATIME and bare opens as
/// unobserved, not this; here a plain read() is hidden.)
#[test]
fn review_decoy_read_cannot_be_hidden_by_resetting_its_atime() {
    let e = env();
    let decoy = e.home.join(".ssh/id_rsa");
    let o = e.run("default", &["./attack", "decoy-reset", decoy.to_str().unwrap()]);
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

/// check_decoys() stats the decoy by PATH; moving the hidden file's parent away
/// right after reading makes the path vanish, so the read is never reported.
#[test]
fn review_a_decoy_read_cannot_be_hidden_by_moving_its_parent() {
    let e = env();
    let p = hide_in_workspace(&e);
    let o = e.sh(&p, "cat config/creds; mv config moved");
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

#[test]
fn review_reading_the_decoy_of_the_signing_key_through_proc_self_root_is_reported() {
    let e = env();
    let o = e.sh("default", &format!("cat /proc/self/root{}", e.key.display()));
    assert!(!o.all_output().contains(e.key_secret().trim()));
    o.assert_violation("fs.hidden");
}

#[test]
fn review2_hard_link_of_a_decoy_into_the_workspace_is_reported() {
    let e = env();
    let o = e.quiet(&format!("ln {} ./kl", e.home.join(".ssh/id_rsa").display()));
    assert!(!e.ws.join("kl").exists());
    o.assert_violation("fs.hardlink");
}

#[test]
fn review2_reading_a_decoy_through_a_workspace_symlink_is_reported() {
    let e = env();
    let o = e.quiet(&format!("ln -s {} ./sl && cat ./sl", e.home.join(".ssh/id_rsa").display()));
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

/// The init is visible at /proc/1 (hidepid cannot exempt it: the task's group maps
/// to the only group the jail has, which hidepid's gid= would have to name), but
/// nothing of it beyond its name and state can be read (SECURITY.md §3).
#[test]
fn review_the_init_reveals_nothing_in_proc() {
    let e = env();
    let o = e.sh(
        "default",
        "cat /proc/1/environ && echo ENV-READ; cat /proc/1/fd/3 </dev/null && echo FD-OPENED; cat /proc/1/maps && echo MAPS-READ; true",
    );
    for leak in ["ENV-READ", "FD-OPENED", "MAPS-READ", ENV_CANARY] {
        assert!(!o.all_output().contains(leak), "{leak}: {}", o.all_output());
    }
}

/// Review 86 F7: a read of a hidden path (its decoy) or of a canary made just
/// before `timeouts.wall` was lost (exit 3, nothing in the report or the
/// audit log): the decoys are checked by the init, and the timeout's SIGKILL
/// of the init skipped its final check. The host now asks the init to stop
/// the task; the init kills every process of it, then checks. The reads come
/// late in the task's two seconds (a task knows its deadline); should the
/// machine be so slow that they come after the kill (no `read-done`), the
/// run is repeated with a wider margin.
#[test]
fn a_decoy_or_canary_read_just_before_the_wall_timeout_is_reported_and_recorded() {
    let mut checked = false;
    for delay in ["1.85", "1.7", "1.3"] {
        let e = env();
        let script = format!(
            "(setsid sh -c 'while :; do echo tick >> daemon.log; sleep 0.05; done' &); sleep {delay}; \
             cat ~/.ssh/id_rsa ~/.ssh/id_ed25519 > /dev/null; : > read-done; sleep 60"
        );
        let o = e.run_cmd(e.cmd("default", &["--timeout", "2s"], &["/bin/sh", "-c", &script]));
        let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = len(&e.ws.join("daemon.log"));
        assert!(before > 0, "the daemon never ran: {}", o.all());
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert_eq!(len(&e.ws.join("daemon.log")), before, "a process of the task outlived the timeout");
        if !e.ws.join("read-done").exists() {
            continue;
        }
        assert_eq!(o.code, 4, "a violation beats the timeout: {}", o.all());
        o.assert_violation("fs.hidden");
        o.assert_violation("canary.read");
        assert!(!o.all_output().contains(SSH_CANARY), "{}", o.all());
        e.assert_violations_recorded(&["fs.hidden", "canary.read"]);
        checked = true;
        break;
    }
    assert!(checked, "the task never read before its timeout, even 0.7 s ahead");
}

/// Review 88 F1: a canary read just before the wall deadline, then one
/// `sendmsg` of 4 GiB (1,024 iovecs naming one 4 MiB buffer, the most the
/// supervisor judges in one call: seconds of judging). The supervisor judged
/// it without reading the host's `stop`; the init was SIGKILLed after the
/// stop's 1 s grace, before its final check: exit 3 and no `canary.read`.
/// The judgement is now cut short by the stop (the send fails, unsent), so
/// the final check runs: exit 4 `canary.read`, in the report and the audit
/// log, and the run ends well before the judgement would have.
#[test]
fn a_canary_read_before_the_wall_timeout_is_reported_though_a_4_gib_send_keeps_the_supervisor_busy() {
    let bin = compile_c("busy_send");
    let mut checked = false;
    for delay in ["1850", "1700", "1300"] {
        let e = env().with_prog(&bin, "busy_send");
        let script = format!("./busy_send ~/.ssh/id_ed25519 {delay} 3");
        let started = std::time::Instant::now();
        let o = e.run_cmd(e.cmd("default", &["--timeout", "2s"], &["/bin/sh", "-c", &script]));
        let took = started.elapsed();
        if !o.stderr.contains("id_ed25519 -> fd=") {
            continue; // killed before its read: a slow machine, try earlier
        }
        assert_eq!(o.code, 4, "a canary read beats the timeout: {}", o.all());
        o.assert_violation("canary.read");
        assert!(!o.all_output().contains(SSH_CANARY), "{}", o.all());
        assert!(!o.stderr.contains("after 3."), "a 4 GiB judgement ran to its end past the stop: {}", o.all());
        assert!(took < std::time::Duration::from_secs(8), "took {took:?}: {}", o.all());
        e.assert_violations_recorded(&["canary.read"]);
        checked = true;
        break;
    }
    assert!(checked, "the task never read before its timeout, even 0.7 s ahead");
}

/// The benign neighbour of the above: the same 4 GiB `sendmsg` without a
/// stop is judged whole and sent (exit 0, no violation).
#[test]
fn a_4_gib_sendmsg_of_plain_bytes_is_judged_whole_and_sent() {
    let e = env().with_prog(&compile_c("busy_send"), "busy_send");
    let o = e.run("default", &["./busy_send", "./busy_send", "0", "1", "exit"]);
    o.assert_ok();
    assert!(o.stderr.contains("sendmsg -> ") && !o.stderr.contains("sendmsg -> -1"), "{}", o.all());
}
