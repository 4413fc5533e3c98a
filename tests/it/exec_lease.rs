//! A distributed worker's attempt at the `exec` level: `--lease-fifo` is its
//! dead-man switch, and with `--lease-go` its first deadline is the
//! go-ahead. The worker starts `exec` while it still waits for the
//! orchestrator's signed go-ahead; the task must run nothing of its own
//! before the worker writes that deadline, however long that takes, and a
//! delivery withdrawn (the FIFO loses its writer) ends `exec` with exit 1,
//! nothing run and nothing recorded.

use crate::harness::*;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A FIFO in the test's root, held open for reading and writing (a writer
/// for as long as the returned file lives, as the worker holds it).
fn fifo(e: &Env) -> (std::path::PathBuf, std::fs::File) {
    let path = e.root.join("lease");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let feed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .unwrap();
    (path, feed)
}

/// `exec` under `--lease-go`, writing a marker into the workspace.
fn start(e: &Env, fifo: &std::path::Path, lease_ms: u64, marker: &str) -> Child {
    let lease = lease_ms.to_string();
    let script = format!("echo ran > {marker}");
    let mut c = e.cmd(
        "default",
        &["--lease-fifo", fifo.to_str().unwrap(), "--lease-ms", &lease, "--lease-go"],
        &["/bin/sh", "-c", &script],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.spawn().expect("start orchestra exec")
}

/// A deadline `ahead` from now, as the worker writes it (`CLOCK_BOOTTIME`, ns, little endian).
fn deadline(ahead: Duration) -> [u8; 8] {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).unwrap();
    let now = Duration::from(now);
    ((now + ahead).as_nanos() as u64).to_le_bytes()
}

/// `task_started` records in the workspace's log (none when no log was made).
fn started_records(e: &Env) -> usize {
    let dir = e.ws.join(".orchestra/audit");
    let empty = std::fs::read_dir(&dir).map(|mut d| d.next().is_none()).unwrap_or(true);
    if empty {
        return 0;
    }
    e.audit_records().iter().filter(|r| r["kind"] == "task_started").count()
}

#[test]
fn a_task_under_lease_go_runs_nothing_before_its_first_deadline() {
    let e = env();
    let (path, mut feed) = fifo(&e);
    let child = start(&e, &path, 30_000, "marker");
    // Long enough for the sandbox's whole set-up (tens of ms here).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!e.ws.join("marker").exists(), "the task ran before its go-ahead");
    assert_eq!(started_records(&e), 0, "task_started was recorded before the go-ahead");
    feed.write_all(&deadline(Duration::from_secs(20))).unwrap();
    let (o, _) = wait_child(child, Duration::from_secs(30));
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(std::fs::read_to_string(e.ws.join("marker")).unwrap(), "ran\n");
    assert_eq!(started_records(&e), 1);
}

#[test]
fn a_withdrawn_delivery_ends_exec_with_nothing_run_or_recorded() {
    let e = env();
    let (path, feed) = fifo(&e);
    let child = start(&e, &path, 30_000, "marker-withdrawn");
    std::thread::sleep(Duration::from_millis(500));
    // The worker got no go-ahead: it lets go of the FIFO.
    drop(feed);
    let (o, took) = wait_child(child, Duration::from_secs(20));
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("gave no go-ahead") && o.stderr.contains("nothing ran"), "{}", o.all());
    assert!(took < Duration::from_secs(10), "exec lingered {took:?} after the withdrawal");
    assert!(!e.ws.join("marker-withdrawn").exists(), "the task ran without its go-ahead");
    assert_eq!(started_records(&e), 0, "a task that never ran was recorded as started");
    assert!(survivors("echo ran > marker-withdrawn", Duration::from_secs(5)).is_empty(), "a process was left behind");
}

#[test]
fn a_go_ahead_slower_than_the_lease_still_starts_the_task_once_it_comes() {
    let e = env();
    let (path, mut feed) = fifo(&e);
    // A lease of 0.8 s, and a go-ahead that takes 2 s: nothing of the task
    // runs meanwhile, so no lease runs either.
    let child = start(&e, &path, 800, "marker-slow");
    std::thread::sleep(Duration::from_millis(2000));
    assert!(!e.ws.join("marker-slow").exists(), "the task ran before its go-ahead");
    assert_eq!(started_records(&e), 0);
    feed.write_all(&deadline(Duration::from_secs(20))).unwrap();
    let (o, _) = wait_child(child, Duration::from_secs(30));
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(std::fs::read_to_string(e.ws.join("marker-slow")).unwrap(), "ran\n");
    assert_eq!(started_records(&e), 1);
}
