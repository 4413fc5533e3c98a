//! One attempt of one task: an `orchestra exec` child process (L3).
//!
//! Guarantees: each attempt runs in its own `orchestra exec` process (the
//! jail must be created by a single-threaded process, and a crash of one
//! sandbox cannot take the scheduler down); its stdout and stderr go to the
//! task's log file; it is killed by the kernel if the orchestrator dies
//! (`PR_SET_PDEATHSIG`, armed by `exec --run-parent` before anything else,
//! tied to the scheduler's thread that spawned it), and [`Handle::stop`]
//! signals it through a pidfd, so a recycled pid is never signalled. The
//! outcome comes from the sandbox's own JSON report; a missing or unreadable
//! report is a failed attempt, never a success. How the child is started and
//! answers is [`exec_protocol`]'s.

use super::exec_protocol::{self, Attempt, mono_us};
use crate::sandbox::report::{Cause, Report};
use crate::sandbox::sys;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The sandbox report, if it wrote one.
    pub report: Option<Report>,
    /// `orchestra exec`'s own exit code (or -signal).
    pub exec_status: i32,
    /// Why there is no report, if there is none.
    pub error: Option<String>,
    /// From the spawn of `orchestra exec` to its exit (zero if it never ran).
    pub process_time: std::time::Duration,
    /// The attempt's worker was lost (a distributed task reclaimed more often
    /// than allowed, or no worker could serve it): cause `worker_lost`.
    pub lost: bool,
}

impl Outcome {
    /// The cause, `setup_failed` when there is no report.
    pub fn cause(&self) -> Cause {
        self.report.as_ref().map_or(Cause::SetupFailed, |r| r.cause)
    }

    /// Whether the sandbox refused to start (see [`exec_protocol::refused`]).
    pub fn refused(&self) -> bool {
        exec_protocol::refused(self.report.as_ref(), self.exec_status)
    }
}

/// A running attempt that can be stopped.
#[derive(Debug, Clone)]
pub struct Handle {
    pidfd: Arc<Mutex<Option<OwnedFd>>>,
}

impl Handle {
    /// Ask the sandbox to end the task (SIGTERM: it kills the task, reports,
    /// exits). True when that reached a sandbox still running (its pidfd not
    /// yet readable): the attempt was interrupted, not complete.
    pub fn stop(&self) -> bool {
        let Ok(guard) = self.pidfd.lock() else { return false };
        let Some(fd) = guard.as_ref() else { return false };
        // Readable once the process has exited (reaped or not).
        let mut ended = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut ended, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0) {
            return false;
        }
        sys::pidfd_send_signal(fd, libc::SIGTERM).is_ok()
    }
}

/// Start an attempt: the child is spawned here, on the caller's (the
/// scheduler's) thread, and waited for on a new thread, which calls `done`
/// with the outcome.
///
/// Spawning on the scheduler's thread keeps the hand-off off the critical
/// path (nothing waits for a new thread to be scheduled), and ties the
/// child's parent-death signal to the thread that outlives every attempt.
pub fn start<F>(exe: PathBuf, attempt: Attempt, done: F) -> Handle
where
    F: FnOnce(Outcome) + Send + 'static,
{
    match Spawned::new(&exe, attempt) {
        Ok(s) => {
            let handle = s.handle();
            std::thread::spawn(move || done(s.wait()));
            handle
        }
        Err(outcome) => {
            done(*outcome);
            Handle { pidfd: Arc::new(Mutex::new(None)) }
        }
    }
}

/// An attempt spawned on the caller's thread and waited for there too (no
/// waiter thread): for a caller that has a thread per attempt already (a
/// distributed worker's delivery). Its parent-death signal is tied to that
/// thread, which must outlive the attempt (it does: it waits for it).
#[derive(Debug)]
pub struct Spawned {
    child: std::process::Child,
    attempt: Attempt,
    spawned_at: std::time::Instant,
    handle: Handle,
    /// A copy of the handle's pidfd, polled for the end without its lock.
    pidfd: Option<OwnedFd>,
}

impl Spawned {
    /// Spawn `attempt`'s `orchestra exec`; the failed outcome when it could
    /// not be started.
    pub fn new(exe: &Path, attempt: Attempt) -> Result<Spawned, Box<Outcome>> {
        let (child, spawned_at) = spawn(exe, &attempt).map_err(|e| Box::new(fail(e.to_string())))?;
        // The child is not reaped before wait(), so its pid cannot be recycled yet.
        let pidfd = sys::pidfd_open(child.id() as libc::pid_t).ok();
        let own = pidfd.as_ref().and_then(|f| f.try_clone().ok());
        let handle = Handle { pidfd: Arc::new(Mutex::new(pidfd)) };
        tracing::debug!(mono_us = mono_us(), task = %attempt.task, "worker: spawned");
        Ok(Spawned { child, attempt, spawned_at, handle, pidfd: own })
    }

    /// What stops it.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Whether it ended within `timeout` (then [`Spawned::wait`] returns at
    /// once). Without a pidfd, asked of the child without reaping it.
    pub fn ended_within(&self, timeout: std::time::Duration) -> bool {
        match &self.pidfd {
            Some(fd) => {
                let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
                let mut ended = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
                nix::poll::poll(&mut ended, nix::poll::PollTimeout::from(ms)).is_ok_and(|n| n > 0)
            }
            None => {
                use nix::sys::wait::{Id, WaitPidFlag, WaitStatus};
                let pid = nix::unistd::Pid::from_raw(self.child.id() as libc::pid_t);
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    // Not reaped (WNOWAIT): `wait` still gets its status.
                    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                    if !matches!(nix::sys::wait::waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive)) {
                        return true;
                    }
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
                }
            }
        }
    }

    /// Wait for it to end: its outcome.
    pub fn wait(self) -> Outcome {
        wait(self.child, &self.attempt, self.spawned_at)
    }
}

fn fail(error: String) -> Outcome {
    Outcome { report: None, exec_status: -1, error: Some(error), process_time: std::time::Duration::ZERO, lost: false }
}

/// Why an attempt could not be started.
#[derive(Debug, thiserror::Error)]
enum SpawnError {
    #[error("cannot open log: {0}")]
    Log(crate::runstore::RunStoreError),
    #[error("cannot open log {}: {source}", path.display())]
    LogClone { path: PathBuf, source: std::io::Error },
    #[error("cannot clear the report: {0}")]
    Report(crate::runstore::RunStoreError),
    #[error("cannot start {}: {source}", exe.display())]
    Start { exe: PathBuf, source: std::io::Error },
}

/// Open the log, build the command, spawn it. Returns the child and the
/// instant just before the spawn (its process time starts there: everything
/// before is the orchestrator's).
fn spawn(exe: &Path, a: &Attempt) -> Result<(std::process::Child, std::time::Instant), SpawnError> {
    let log = a.run.append(&a.log).map_err(SpawnError::Log)?;
    let log2 = log.try_clone().map_err(|source| SpawnError::LogClone { path: a.log.clone(), source })?;
    a.run.remove(&a.report).map_err(SpawnError::Report)?;
    let mut cmd = exec_protocol::command(exe, a, std::process::id());
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    tracing::debug!(mono_us = mono_us(), task = %a.task, "worker: spawning");
    let at = std::time::Instant::now();
    cmd.spawn().map(|child| (child, at)).map_err(|source| SpawnError::Start { exe: exe.to_path_buf(), source })
}

fn wait(mut child: std::process::Child, a: &Attempt, spawned_at: std::time::Instant) -> Outcome {
    let status = child.wait();
    let process_time = spawned_at.elapsed();
    tracing::debug!(mono_us = mono_us(), task = %a.task, "worker: exited");
    let exec_status = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| -s.signal().unwrap_or(0))
        }
        Err(e) => return Outcome { process_time, ..fail(format!("waiting for the sandbox: {e}")) },
    };
    match exec_protocol::read_report(a, exec_status) {
        Ok(report) => Outcome { report: Some(report), exec_status, error: None, process_time, lost: false },
        Err(error) => Outcome { report: None, exec_status, error: Some(error.to_string()), process_time, lost: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    /// An executable script standing in for `orchestra exec` (it ignores exec's arguments).
    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("fake-exec");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_spawned_attempt_is_waited_for_on_the_callers_thread_and_stopped_by_its_handle() {
        let dir = tempfile::tempdir().unwrap();
        let a = exec_protocol::sample_attempt(dir.path()).unwrap();
        let exe = script(dir.path(), "exec sleep 30");
        let task = Spawned::new(&exe, a).unwrap();
        assert!(!task.ended_within(Duration::from_millis(50)), "a running attempt has not ended");
        assert!(task.handle().stop(), "the stop reached a running sandbox");
        assert!(task.ended_within(Duration::from_secs(10)), "the stopped attempt ended");
        let outcome = task.wait();
        assert_eq!(outcome.exec_status, -libc::SIGTERM);
        assert!(outcome.report.is_none(), "no report: a failed attempt, never a success");
        assert!(outcome.error.is_some());
    }

    #[test]
    fn a_spawned_attempt_that_ended_is_seen_ended_and_its_handle_no_longer_reaches_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = exec_protocol::sample_attempt(dir.path()).unwrap();
        let exe = script(dir.path(), "exit 3");
        let task = Spawned::new(&exe, a).unwrap();
        assert!(task.ended_within(Duration::from_secs(10)));
        assert!(!task.handle().stop(), "an ended sandbox is not signalled");
        let outcome = task.wait();
        assert_eq!(outcome.exec_status, 3);
        assert!(outcome.report.is_none());
    }

    #[test]
    fn an_attempt_that_cannot_be_spawned_is_a_failed_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let a = exec_protocol::sample_attempt(dir.path()).unwrap();
        let outcome = Spawned::new(&dir.path().join("absent"), a).unwrap_err();
        assert_eq!(outcome.exec_status, -1);
        assert!(outcome.error.as_deref().is_some_and(|e| e.contains("cannot start")));
    }
}
