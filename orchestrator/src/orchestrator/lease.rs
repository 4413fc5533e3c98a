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
//!
//! The first deadline is also the delivery's go-ahead when `exec` runs with
//! `--lease-go` ([`Watch::go`]): the worker starts `exec` while it still
//! waits for the orchestrator's signed go-ahead, so that the sandbox's
//! set-up overlaps that round trip, and writes the first deadline only once
//! the go-ahead is there. Guarantee: such a task runs nothing of its own
//! before the worker wrote a deadline; a worker that withdraws the delivery
//! (closes the FIFO) ends `exec` with exit 1 and nothing ran (its release
//! hook fails: no `task_started` record). Until the go-ahead no lease runs
//! (nothing of the task's runs, so nothing can run twice, however long the
//! orchestrator takes to answer); [`GO_BOUND`] bounds that wait.

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
    /// No first deadline came: the worker withdrew the delivery (no
    /// go-ahead), is gone, or the lease lapsed first.
    #[error("the worker gave no go-ahead for this delivery")]
    NoGo,
}

/// The watch's side of a first deadline: [`Watch::go`] returns once the
/// worker has written one, or fails once the watch ended without it.
#[derive(Debug)]
pub struct Watch {
    /// Readable with one byte at the first deadline; at end of file once
    /// the watch's thread has ended.
    first: std::fs::File,
}

impl Watch {
    /// Block until the worker's first deadline (its go-ahead) has arrived;
    /// [`LeaseError::NoGo`] when the watch ended before one did.
    pub fn go(self) -> Result<(), LeaseError> {
        let mut b = [0u8; 1];
        loop {
            match (&self.first).read(&mut b) {
                Ok(1) if b[0] == GO => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => return Err(LeaseError::NoGo),
            }
        }
    }
}

/// How long `exec` awaits a go-ahead at most (the worker's own wait for it
/// is a minute by default): a worker frozen for longer leaves nothing behind.
pub const GO_BOUND: Duration = Duration::from_secs(600);

/// The byte the watch's thread writes at the first deadline.
const GO: u8 = b'g';

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
/// `go` (`--lease-go`): the first deadline is the go-ahead that
/// [`Watch::go`] awaits; a watch that ends before it refuses the go-ahead
/// instead of stopping `exec` (nothing of the task's runs, nothing to stop).
pub fn watch(fifo: &Path, lease: Duration, go: bool) -> Result<Watch, LeaseError> {
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
    // Until the first deadline: a whole lease, or, awaiting a go-ahead (when
    // nothing of the task's runs yet, so nothing can run twice), the bound
    // of that wait: the worker ends it sooner, by writing or by closing.
    let first = if go { GO_BOUND.max(lease) } else { lease };
    timer
        .set(Expiration::OneShot(TimeSpec::from_duration(first)), TimerSetTimeFlags::empty())
        .map_err(|e| LeaseError::Start(std::io::Error::from(e)))?;
    // Close-on-exec both: nothing `exec` starts holds the write end open
    // (the jail's init closes what it inherited at once).
    let (first_r, first_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| LeaseError::Start(std::io::Error::from(e)))?;
    let first_w = std::fs::File::from(first_w);
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
            let mut said = false;
            run(&f, &timer, &first_w, &mut said);
            // A go-ahead still awaited is refused (end of file) before the stop.
            drop(first_w);
            if said || !go {
                let _ = kill(nix::unistd::getpid(), Signal::SIGTERM);
            }
        })
        .map_err(LeaseError::Start)?;
    Ok(Watch { first: std::fs::File::from(first_r) })
}

/// Wait until the lease lapses or the worker is gone; why. `said` is set
/// at the first deadline. Only system calls (see [`watch`]).
fn run(mut f: &std::fs::File, timer: &TimerFd, mut first: &std::fs::File, said: &mut bool) -> &'static str {
    use std::io::Write as _;
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
                    if latest > 0 && !*said {
                        // Once (one byte never blocks an empty pipe); no
                        // reader left is no matter (SIGPIPE is ignored).
                        *said = true;
                        let _ = first.write(&[GO]);
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
