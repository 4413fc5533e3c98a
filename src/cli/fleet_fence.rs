//! What `orchestra resume` does about the run's earlier distributed sessions
//! before it starts anything, wherever it runs the rest (locally, on the same
//! queue, on another one).
//!
//! Guarantees: when the run directory holds `remote.inflight` (an earlier
//! session's deliveries were not all settled), no task starts until those
//! deliveries were stopped on the queue the checkpoint records
//! ([`crate::runstore::checkpoint::Distributed`], credentials from this
//! process's environment as always): if that queue cannot be used, or the
//! checkpoint names none (written by an older orchestra) and the resume
//! names none either, the resume refuses with one line naming the queue, the
//! marker and what to do (exit 1, nothing ran). A resume on the recorded
//! queue also clears what the run's note there still lists. Once stopped,
//! the marker is removed (this session's remote dispatcher makes it anew
//! with its first message).

use super::fleet::{self, QueueArgs};
use crate::runstore::RunDir;
use crate::runstore::checkpoint::Distributed;
use orchestra_distributed::dispatch::IN_FLIGHT;
use orchestra_distributed::fence::{self, Earlier, FenceError, Wait};
use orchestra_distributed::keys::{PublicKey, SigningKey};
use orchestra_distributed::queue::{Queue, QueueError};
use std::path::{Path, PathBuf};

/// Why a resume refuses to start (exit 1, nothing ran).
#[derive(Debug, thiserror::Error)]
pub enum ResumeFenceError {
    /// The recorded queue cannot be used from here.
    #[error(
        "resume: the run's earlier session sent tasks to the queue {queue}, which may still run them ({IN_FLIGHT}): cannot stop them: {source}; nothing ran: make that queue reachable from here (credentials from ORCHESTRA_REDIS_USERNAME / ORCHESTRA_REDIS_PASSWORD) and resume again, or delete {} once its workers are known to have stopped the run's tasks",
        marker.display()
    )]
    Unreachable {
        /// The recorded queue.
        queue: String,
        /// Why it cannot be used.
        source: QueueError,
        /// The run's `remote.inflight`.
        marker: PathBuf,
    },
    /// The earlier session's deliveries did not stop.
    #[error("resume: on the queue {queue}: {source}")]
    Live {
        /// The queue.
        queue: String,
        /// How many, for how long.
        source: FenceError,
    },
    /// The run was distributed, its checkpoint names no queue, and neither does the resume.
    #[error(
        "resume: the run's earlier session was distributed and may still run tasks ({IN_FLIGHT}), but its checkpoint does not name the queue (written by an older orchestra); nothing ran: resume with --queue URL of that queue, or delete {} once its workers are known to have stopped the run's tasks",
        marker.display()
    )]
    NoQueue {
        /// The run's `remote.inflight`.
        marker: PathBuf,
    },
    /// The run directory.
    #[error(transparent)]
    RunDir(#[from] crate::runstore::RunStoreError),
}

/// Whether the run directory holds `remote.inflight`.
pub fn in_flight(run: &RunDir) -> Result<bool, ResumeFenceError> {
    crate::runstore::at::kind(run.fd(), Path::new(IN_FLIGHT))
        .map(|k| k.is_some())
        .map_err(|e| ResumeFenceError::RunDir(crate::runstore::RunStoreError::Io { path: marker(run), source: e }))
}

fn marker(run: &RunDir) -> PathBuf {
    run.path.join(IN_FLIGHT)
}

/// Before resuming `run` (whose checkpoint records `note`, if it was
/// distributed): stop what its earlier sessions sent (see the module doc).
pub fn before_resume(
    args: &QueueArgs,
    loaded: &crate::config::Loaded,
    run: &RunDir,
    note: Option<&Distributed>,
) -> Result<(), ResumeFenceError> {
    let current = fleet::queue_url(args, loaded);
    let in_flight = in_flight(run)?;
    let same = |n: &Distributed| current.as_deref() == Some(n.queue.as_str());
    // Which queue to stop them on, with which lease and keys.
    let (url, lease, signers) = match (note, &current) {
        // Nothing outstanding, and this session does not use the recorded queue.
        (Some(n), _) if !in_flight && !same(n) => return Ok(()),
        (Some(n), _) => {
            let lease = fleet::lease(loaded).max(std::time::Duration::from_millis(n.lease_ms));
            (n.queue.clone(), lease, n.signer.parse::<PublicKey>().into_iter().collect::<Vec<_>>())
        }
        // A checkpoint that names no queue (an older orchestra): the resume's queue, as before.
        (None, Some(c)) => (c.clone(), fleet::lease(loaded), own_key(loaded)),
        (None, None) if in_flight => return Err(ResumeFenceError::NoQueue { marker: marker(run) }),
        (None, None) => return Ok(()),
    };
    if note.is_some_and(|n| !same(n)) {
        let here = current.as_ref().map_or("locally".to_string(), |c| format!("on the queue {c}"));
        crate::sandbox::say!(
            "orchestra: resume: the run's earlier session sent tasks to the queue {url}: stopping them there before this session runs the rest {here}"
        );
    }
    let unreachable =
        |source: QueueError| ResumeFenceError::Unreachable { queue: url.clone(), source, marker: marker(run) };
    let q = Queue::open(&url).map_err(unreachable)?;
    let earlier = Earlier { run_id: &run.id, in_flight, lease, signers: &signers };
    match fence::fence(&q, &earlier, &say_waiting) {
        Ok(_) => {}
        Err(FenceError::Queue(e)) => return Err(unreachable(e)),
        Err(e) => return Err(ResumeFenceError::Live { queue: url, source: e }),
    }
    // Settled: nothing of the earlier sessions runs any more.
    run.remove(Path::new(IN_FLIGHT))?;
    Ok(())
}

/// The orchestrator's own public key, if its key file can be read.
fn own_key(loaded: &crate::config::Loaded) -> Vec<PublicKey> {
    SigningKey::load(&fleet::fleet_key_path(loaded)).map(|k| vec![k.public()]).unwrap_or_default()
}

fn say_waiting(w: Wait) {
    match w {
        Wait::NoNote => crate::sandbox::say!(
            "orchestra: resume: the queue holds no note of what the run's earlier session sent (it expired, or Redis lost it): stopping any of its tasks a worker still holds, and waiting at least one lease"
        ),
        Wait::Live(n) => crate::sandbox::say!(
            "orchestra: resume: waiting for {n} task(s) of the run's earlier session to stop (cancelled; at most {} leases)",
            fence::WAIT_LEASES
        ),
    }
}
