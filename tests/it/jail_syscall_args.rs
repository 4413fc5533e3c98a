//! The supervisor judges a system call by arguments it reads from the task's
//! memory: a path or address the task hides where another process cannot read
//! (a write-only mapping, `memfd_secret`) is still judged or denied as
//! unreadable, and a flood of notifications does not make it lose one.
//!
//! Each test asserts the effect (no file outside, no setuid exec, the host's
//! socket never reached), exit 4 and the rule. A comment that describes a bug
//! describes it as a security review found it; the code has been fixed since
//! and the test stays as its regression test.

use crate::harness::*;
use std::path::Path;

/// The supervisor reads path arguments with process_vm_readv (GUP without
/// FOLL_FORCE) and falls back to /proc/PID/mem only on EPERM/ENOSYS
/// (jail/memory.rs TaskMem::read_at). A path in a PROT_WRITE-only mapping is
/// readable by the task's own kernel (x86) but EFAULTs for the supervisor, and an
/// unreadable path is CONTINUEd silently (decide_write: `let Some(p) = .. else {
/// continue }`). Deterministic, not a race: every path-based report is lost.
#[test]
fn review_a_path_in_write_only_memory_is_still_judged() {
    let e = env();
    let o = e.attack(&["wo-open", "/etc/orchestra-review-wo"]);
    assert!(!Path::new("/etc/orchestra-review-wo").exists());
    o.assert_violation("fs.write");
}

/// Same blindness with memfd_secret(2) memory (never readable by another process).
#[test]
fn review_a_path_in_secret_memory_is_still_judged() {
    let e = env();
    let o = e.attack(&["secret-open", "/etc/orchestra-review-secret"]);
    // memfd_secret may be unavailable (kernel config); then the path is ordinary
    // memory and the write is judged normally: both ways the file must not exist.
    assert!(!Path::new("/etc/orchestra-review-secret").exists());
    // Unreadable (memfd_secret) is denied and reported as such; readable, it is a write.
    o.assert_any_violation(&["syscall.unreadable_argument", "fs.write"]);
}

/// exec of su with its path in write-only memory: exec.setuid not reported.
#[test]
fn review_exec_from_write_only_memory_is_judged() {
    let e = env();
    let mut c = e.cmd("default", &[], &["./attack", "wo-exec", "/usr/bin/su", "-c", "id"]);
    c.stdin(std::process::Stdio::null());
    let o = e.run_cmd(c);
    assert!(!o.stdout.contains("uid=0"), "{}", o.stdout);
    o.assert_violation("exec.setuid");
}

/// connect() to a host abstract socket with the address in write-only memory:
/// blocked (netns, landlock scoping) but network.abstract_unix is not reported.
/// Run namespace-less, where abstract connects are judged (in the jail's own
/// netns the name reaches only the jail's sockets and is not judged).
#[test]
fn review_abstract_connect_from_write_only_memory_is_reported() {
    use std::os::linux::net::SocketAddrExt;
    let e = env();
    let name = format!("orchestra-review-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    // An audit log in the workspace cannot be kept read-only without namespaces.
    let _ = std::fs::remove_dir_all(e.ws.join(".orchestra"));
    let audit = e.root.join("audit-nsless");
    let o =
        e.run_cmd(e.cmd("container", &["--audit-dir", &audit.to_string_lossy()], &["./attack", "wo-abstract", &name]));
    assert!(l.accept().is_err(), "the host's abstract socket was reached");
    o.assert_violation("network.abstract_unix");
}

#[test]
fn review_a_flood_of_notifications_does_not_lose_the_report() {
    let e = env();
    let o = e.attack(&["flood", "20000", "/etc/orchestra-review-flood"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(!Path::new("/etc/orchestra-review-flood").exists());
    o.assert_violation("fs.write");
}
