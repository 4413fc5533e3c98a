//! Killing what a task left behind, from a subreaper's point of view.
//!
//! Used by the host side (after the init is gone) and by the namespace-less
//! init (which has no pid namespace to do it). Both are child subreapers, so
//! every orphan of the task is one of their children.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::time::Duration;

/// Kill and reap every child of the calling process, until none is left.
/// Returns at once, without scanning /proc, when there is no child at all.
pub fn kill_all_children() {
    let me = std::process::id() as i32;
    for _ in 0..200 {
        // Reap what has ended; ECHILD means nothing is left.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Err(Errno::ECHILD) => return,
                Err(_) | Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
            }
        }
        for child in children_of(me) {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The pids whose parent is `ppid` (read from /proc/PID/stat).
pub fn children_of(ppid: i32) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<i32>().ok()))
                == Some(ppid)
        })
        .collect()
}
