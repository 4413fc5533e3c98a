//! The dead-man switch of a remote task: `orchestra worker` writes to a FIFO
//! in the delivery's scratch run directory, each time Redis confirms the
//! worker still holds the task's queue entry, the deadline that keep buys:
//! 5/6 of a lease after the keep was *sent* (Redis reset the entry's idle
//! time no earlier), as nanoseconds of `CLOCK_BOOTTIME` (8 bytes, little
//! endian; time asleep counts, as it does for Redis on another machine).
//! `orchestra exec`, started with `--lease-fifo` and `--lease-ms`, watches it
//! from its first moment.
//!
//! Guarantee: a task whose worker stops feeding it — the worker frozen
//! (SIGSTOP, a paused cgroup), cut off from Redis, or dead (the FIFO has no
//! writer left) — is stopped by its own `exec` (SIGTERM to itself: the
//! sandbox ends the task, reports and exits) at the last deadline it was
//! given, when the worker's own guard would stop it. Redis hands an entry to
//! another worker only after a whole lease idle, so the copy here is gone
//! before another can start (review 64, F1). Before the first deadline
//! arrives, a whole lease from `exec`'s start stands in.

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

/// The deadline to write for a keep sent at `sent` (`CLOCK_BOOTTIME`).
pub fn deadline(sent: Duration, lease: Duration) -> [u8; 8] {
    let at = sent + lease * 5 / 6;
    (at.as_nanos() as u64).to_le_bytes()
}

/// Now, on `CLOCK_BOOTTIME`.
pub fn boottime() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).map_or(Duration::ZERO, Duration::from)
}

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
    timer
        .set(Expiration::OneShot(TimeSpec::from_duration(lease)), TimerSetTimeFlags::empty())
        .map_err(|e| LeaseError::Start(std::io::Error::from(e)))?;
    std::thread::Builder::new()
        .name("lease".into())
        .spawn(move || {
            // The process's signals stay with the threads that handle them.
            let mut mask = SigSet::empty();
            for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
                mask.add(s);
            }
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
            // Nothing but system calls on this thread, ever (no allocation,
            // no lock, no log line): the jail clones this process while the
            // thread runs, and the clone must inherit no lock held (the
            // worker logs why its task stopped).
            run(&f, &timer);
            let _ = kill(nix::unistd::getpid(), Signal::SIGTERM);
        })
        .map_err(LeaseError::Start)?;
    Ok(())
}

/// Wait until the lease lapses or the worker is gone; why. Only system
/// calls (see [`watch`]).
fn run(mut f: &std::fs::File, timer: &TimerFd) -> &'static str {
    let mut buf = [0u8; 256];
    let mut latest = 0u64;
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
                Ok(n) => {
                    // Writes of 8 bytes are atomic: whole deadlines only.
                    for d in buf.get(..n - n % 8).unwrap_or_default().chunks_exact(8) {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(d);
                        latest = latest.max(u64::from_le_bytes(b));
                    }
                    let at = TimeSpec::from_duration(Duration::from_nanos(latest));
                    if latest > 0 && timer.set(Expiration::OneShot(at), TimerSetTimeFlags::TFD_TIMER_ABSTIME).is_err() {
                        return "the lease timer failed";
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return "the lease FIFO failed",
            }
        }
    }
}
