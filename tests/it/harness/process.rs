//! Processes the tests start or look for: what is still running, waiting for
//! a condition or a child with a deadline, signals.

use super::out::Out;
use std::process::Child;
use std::time::{Duration, Instant};

/// Command lines (NUL bytes as spaces) of the processes whose command line
/// contains `marker`, this test process excepted; zombies have none and are
/// not listed.
pub fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(cmd);
            }
        }
    }
    found
}

/// Poll `cond` every 20 ms until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes matching `marker` that are still there after waiting up to `limit` for them to go.
pub fn survivors(marker: &str, limit: Duration) -> Vec<String> {
    let mut left = Vec::new();
    wait_until(limit, || {
        left = processes_with(marker);
        left.is_empty()
    });
    left
}

/// Wait for a child up to `limit`; kill it (and fail) if it does not exit.
#[track_caller]
pub fn wait_child(mut child: Child, limit: Duration) -> (Out, Duration) {
    let started = Instant::now();
    let exited = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("orchestra did not exit within {limit:?}\n{}", Out::from(o).all());
    }
    let o = child.wait_with_output().expect("collect output");
    (Out::from(o), started.elapsed())
}

pub fn send_signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).expect("signal orchestra");
}

/// The jail's init under the `orchestra exec` process `exec` (in our pid
/// namespace): its child that is pid 1 of a pid namespace of its own.
pub fn jail_init_of(exec: u32) -> Option<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{exec}/task")).ok()?;
    let children: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<i32>>())
        .collect();
    children.into_iter().find(|pid| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("NSpid:")).is_some_and(|ids| {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            ids.len() > 1 && ids.last() == Some(&"1")
        })
    })
}
