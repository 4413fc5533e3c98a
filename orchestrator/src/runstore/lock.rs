//! The run lock: one orchestra process drives a run at a time.
//!
//! Guarantees: the lock is an exclusive `flock` on `runs/<id>/lock`, which the
//! kernel releases when the holder dies, even by SIGKILL; so a lock that can
//! be taken belongs to no living process, whatever the file says. The file
//! holds the holder's pid and start time for people and for the message that
//! names a live holder.

use super::{RunStoreError, io_at};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The lock file name.
pub const LOCK: &str = "lock";

/// A held run lock (released on drop).
#[derive(Debug)]
pub struct RunLock {
    _lock: Flock<File>,
    /// What the previous holder wrote, if the lock was stale (it died without finishing).
    pub stale_holder: Option<String>,
}

/// Take the lock of the run in `run_dir`, or say who holds it.
pub fn acquire(run_dir: &Path, run_id: &str) -> Result<RunLock, RunStoreError> {
    let dir = File::open(run_dir).map_err(io_at(run_dir))?;
    lock_at(&dir, run_dir, run_id)
}

/// Take the lock of an opened run directory (never through a link), or say who holds it.
pub fn acquire_in(run: &super::RunDir) -> Result<RunLock, RunStoreError> {
    lock_at(run.fd(), &run.path, &run.id)
}

fn lock_at<Fd: std::os::fd::AsFd>(dir: Fd, run_dir: &Path, run_id: &str) -> Result<RunLock, RunStoreError> {
    let path = run_dir.join(LOCK);
    let mut file = super::at::open_rw(dir, Path::new(LOCK)).map_err(io_at(&path))?;
    let mut previous = String::new();
    let _ = file.read_to_string(&mut previous);
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
            let pid = previous.split_whitespace().nth(1).unwrap_or("?").to_string();
            return Err(RunStoreError::Busy { id: run_id.to_string(), pid, lock: path });
        }
        Err((_, errno)) => return Err(RunStoreError::Io { path, source: std::io::Error::from(errno) }),
    };
    let stale_holder = (!previous.trim().is_empty()).then(|| previous.trim().to_string());
    let me = format!("pid {} started {}\n", std::process::id(), crate::sandbox::report::now_rfc3339());
    lock.set_len(0).map_err(io_at(&path))?;
    lock.rewind().map_err(io_at(&path))?;
    lock.write_all(me.as_bytes()).map_err(io_at(&path))?;
    lock.sync_data().map_err(io_at(&path))?;
    Ok(RunLock { _lock: lock, stale_holder })
}

/// Whether a living orchestra process holds the run's lock (without taking it).
pub fn is_held(run_dir: &Path) -> bool {
    let Ok(file) = File::open(run_dir.join(LOCK)) else { return false };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => false,
        Err((_, errno)) => errno == nix::errno::Errno::EWOULDBLOCK,
    }
}

/// [`is_held`] for an opened run directory: the lock file is opened relative
/// to its descriptor, never through a link. Taking the shared lock to look is
/// instantaneous, but a `resume` that tries the run in that instant is told
/// it is busy: callers look seldom (a follower, every few hundred ms).
pub fn is_held_in(run: &super::RunDir) -> bool {
    let Ok(file) = super::at::open_read(run.fd(), Path::new(LOCK)) else { return false };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => false,
        Err((_, errno)) => errno == nix::errno::Errno::EWOULDBLOCK,
    }
}

impl Drop for RunLock {
    /// A clean release empties the file, so only a holder that died leaves its pid behind.
    fn drop(&mut self) {
        let _ = self._lock.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_a_dead_one_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), "r").unwrap();
        assert!(held.stale_holder.is_none());
        let e = acquire(dir.path(), "r").unwrap_err().to_string();
        assert!(e.contains(&format!("orchestra pid {}", std::process::id())), "{e}");
        assert!(is_held(dir.path()));
        drop(held);
        assert!(!is_held(dir.path()));
        let again = acquire(dir.path(), "r").unwrap();
        assert!(again.stale_holder.is_none(), "a clean release leaves no holder behind");
        drop(again);
        // A holder killed with SIGKILL leaves its line; the kernel dropped its flock.
        std::fs::write(dir.path().join(LOCK), "pid 4242 started 2026-11-25T00:00:00Z\n").unwrap();
        let after_crash = acquire(dir.path(), "r").unwrap();
        assert_eq!(after_crash.stale_holder.as_deref(), Some("pid 4242 started 2026-11-25T00:00:00Z"));
    }
}
