//! The dead-man switch of a remote task: `orchestra worker` feeds a FIFO in
//! the delivery's scratch run directory one byte each time Redis confirms
//! the worker still holds the task's queue entry; `orchestra exec`, started
//! with `--lease-fifo` and `--lease-ms`, watches it from its first moment.
//!
//! Guarantee: a task whose worker stops feeding it — the worker frozen
//! (SIGSTOP, a paused cgroup), cut off from Redis, or dead (the FIFO has no
//! writer left) — is stopped by its own `exec` (SIGTERM to itself: the
//! sandbox ends the task, reports and exits) two thirds of a lease after the
//! last byte, measured on `CLOCK_BOOTTIME` (time asleep counts: Redis, on
//! another machine, counted it too). Redis hands an entry to another worker
//! only after a whole lease idle, so the copy here is gone before another
//! can start (review 64, F1).

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::io::Read as _;
use std::os::fd::AsFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::Duration;

/// Why the watch could not start (`exec` then refuses to run: exit 1).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The FIFO cannot be opened.
    #[error("--lease-fifo {path}: {source}")]
    Open {
        /// As given.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not a FIFO.
    #[error("--lease-fifo {0}: not a FIFO")]
    NotFifo(String),
    /// The timer or the thread.
    #[error("lease watch: {0}")]
    Start(std::io::Error),
}

/// The share of the lease after the last byte at which the task is stopped.
pub const STOP_AFTER: (u32, u32) = (2, 3);

/// Start watching `fifo` (see the module doc) on a thread of its own.
pub fn watch(fifo: &Path, lease: Duration) -> Result<(), LeaseError> {
    let shown = fifo.display().to_string();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(fifo)
        .map_err(|source| LeaseError::Open { path: shown.clone(), source })?;
    let is_fifo =
        f.metadata().map_err(|source| LeaseError::Open { path: shown.clone(), source })?.file_type().is_fifo();
    if !is_fifo {
        return Err(LeaseError::NotFifo(shown));
    }
    let timer = TimerFd::new(ClockId::CLOCK_BOOTTIME, TimerFlags::TFD_CLOEXEC)
        .map_err(|e| LeaseError::Start(std::io::Error::from(e)))?;
    let (num, den) = STOP_AFTER;
    let limit = lease * num / den;
    let arm = move |t: &TimerFd| {
        t.set(Expiration::OneShot(TimeSpec::from_duration(limit)), TimerSetTimeFlags::empty())
            .map_err(std::io::Error::from)
    };
    arm(&timer).map_err(LeaseError::Start)?;
    std::thread::Builder::new()
        .name("lease".into())
        .spawn(move || {
            // The process's signals stay with the threads that handle them.
            let mut mask = SigSet::empty();
            for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
                mask.add(s);
            }
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
            let why = run(&f, &timer, arm);
            tracing::warn!("{why}: stopping the task before another worker can take it over");
            let _ = kill(nix::unistd::getpid(), Signal::SIGTERM);
        })
        .map_err(LeaseError::Start)?;
    Ok(())
}

/// Wait until the lease lapses or the worker is gone; why.
fn run(mut f: &std::fs::File, timer: &TimerFd, arm: impl Fn(&TimerFd) -> std::io::Result<()>) -> &'static str {
    let mut buf = [0u8; 256];
    loop {
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN), PollFd::new(timer.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        if ready(1) {
            return "the worker's lease was not renewed in time";
        }
        if ready(0) {
            match f.read(&mut buf) {
                Ok(0) => return "the worker is gone (its lease FIFO has no writer)",
                Ok(_) => {
                    if arm(timer).is_err() {
                        return "the lease timer failed";
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return "the lease FIFO failed",
            }
        }
    }
}
