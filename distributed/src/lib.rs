//! Distributed runs: `orchestra run --queue redis://…` hands ready tasks to
//! `orchestra worker` processes on other machines, which run them in the same
//! sandboxes under the same policies, and the run's verdicts, logs, reports
//! and artifacts come back as if the tasks had run locally.
//!
//! - [`keys`]: the ed25519 keys of the orchestrator and of each worker.
//! - [`message`]: signed task messages and signed worker events (what may
//!   travel through Redis; anything unsigned, forged or replayed is refused).
//! - [`queue`]: the Redis Streams layout: the task streams and their consumer
//!   group, leases (heartbeats and reclaim), fencing tokens, result streams.
//! - [`storage`]: content-addressed blobs (sha256) in a local directory or an
//!   S3-compatible bucket.
//! - [`dispatch`]: the orchestrator's side (a [`Dispatch`] for the scheduler).
//! - [`fence`]: what a resume stops, on the earlier session's queue, before it starts anything.
//! - [`worker`]: `orchestra worker`.
//!
//! Delivery is at least once (Redis' consumer groups); the *effect* the run
//! records is exactly once: a result counts only for the attempt's current
//! fencing token, and only once.
//!
//! [`Dispatch`]: orchestra_orchestrator::orchestrator::dispatch::Dispatch
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub use orchestra_orchestrator as orchestrator;
/// The Redis client the queue uses (for callers that query it).
pub use redis;

pub mod dispatch;
pub mod fence;
pub mod keys;
pub mod message;
pub(crate) mod pool;
pub mod queue;
pub mod storage;
pub mod worker;

/// A mutex's guard, even when a thread panicked while holding it (the data
/// these locks guard stays consistent at every step).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
