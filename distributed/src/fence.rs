//! Before a resume starts anything: stop what the run's earlier sessions
//! sent to a queue (`orchestra resume`, on that session's queue whatever the
//! resume itself runs on).
//!
//! Guarantees, once [`fence`] returns `Ok`:
//! - every delivery the run's note (`orchestra:sent:<run>`, written with each
//!   message by the same script) names has its cancel key set and has been
//!   acknowledged, or idle for a lease (its worker, unable to keep it, has
//!   stopped it itself), and is withdrawn;
//! - with no note (it expired 24 h after the session's last message, or a
//!   restarted Redis lost it) while the run directory says deliveries were
//!   outstanding (`in_flight`): every entry a worker holds in a task stream
//!   whose message, signed by one of the run's keys, names the run is
//!   cancelled and waited for the same way, and the fence lasts at least a
//!   lease (a worker whose keep finds no entry stops its task at once, one
//!   cut off within the lease);
//! - deliveries still live after [`WAIT_LEASES`] leases make it fail
//!   ([`FenceError::EarlierSession`]): the resume starts nothing.

use crate::keys::PublicKey;
use crate::message::{Envelope, Kind, TaskMessage};
use crate::queue::{self, Queue, QueueError};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How many leases [`fence`] waits, at most, for the earlier session's
/// deliveries to stop.
pub const WAIT_LEASES: u32 = 3;

/// Why the earlier session's deliveries could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Deliveries of the run's earlier session still run after being cancelled.
    #[error(
        "{live} task(s) of this run's earlier session still run {} after they were cancelled (their workers keep their queue entries); nothing started: resume again once they have stopped",
        humantime::format_duration(*waited)
    )]
    EarlierSession {
        /// How many.
        live: usize,
        /// How long the resume waited.
        waited: Duration,
    },
}

/// What the fence is about to wait for (said once each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The queue holds no note of what the run sent, but the run directory
    /// says something was outstanding: at least a lease.
    NoNote,
    /// This many cancelled deliveries are still live.
    Live(usize),
}

/// The run whose earlier sessions are to be stopped.
#[derive(Debug, Clone, Copy)]
pub struct Earlier<'a> {
    /// The run id (its note is [`queue::sent_key`] of it).
    pub run_id: &'a str,
    /// The run directory holds `remote.inflight`: an earlier session's
    /// deliveries were not all settled.
    pub in_flight: bool,
    /// The lease the earlier session's deliveries were sent with.
    pub lease: Duration,
    /// The keys that may have signed the run's task messages (used only to
    /// recognise its entries when the note is gone).
    pub signers: &'a [PublicKey],
}

/// Stop, on queue `q`, every delivery run `e.run_id`'s earlier sessions sent
/// (see the module doc). `waiting` is told what is waited for. Returns how
/// many deliveries were found.
pub fn fence(q: &Queue, e: &Earlier<'_>, waiting: &dyn Fn(Wait)) -> Result<usize, FenceError> {
    let mut con = q.connect()?;
    let key = queue::sent_key(e.run_id);
    let mut sent: HashMap<String, String> = q.query(&mut con, redis::cmd("HGETALL").arg(&key))?;
    let floor = if sent.is_empty() && e.in_flight {
        waiting(Wait::NoNote);
        sent = held_of_run(q, &mut con, e.run_id, e.signers)?;
        Some(Instant::now() + e.lease)
    } else {
        None
    };
    if !sent.is_empty() {
        settle(q, &mut con, &sent, e.lease, waiting)?;
    }
    if let Some(floor) = floor {
        std::thread::sleep(floor.saturating_duration_since(Instant::now()));
    }
    let _ = q.query::<u64>(&mut con, redis::cmd("DEL").arg(&key));
    Ok(sent.len())
}

/// Cancel the deliveries `sent` (message id → `"<stream> <entry>"`), wait
/// until none is live, withdraw them.
fn settle(
    q: &Queue,
    con: &mut redis::Connection,
    sent: &HashMap<String, String>,
    lease: Duration,
    waiting: &dyn Fn(Wait),
) -> Result<(), FenceError> {
    let mut pipe = redis::pipe();
    for msg in sent.keys() {
        pipe.cmd("SET").arg(queue::cancel_key(msg)).arg(1).arg("EX").arg(86400).ignore();
    }
    q.query_pipe::<()>(con, &pipe)?;
    // Stream → its entries of this run.
    let mut places: HashMap<&str, HashSet<&str>> = HashMap::new();
    for place in sent.values() {
        if let Some((stream, entry)) = place.split_once(' ') {
            places.entry(stream).or_default().insert(entry);
        }
    }
    let lease_ms = lease.as_millis() as u64;
    let waited = lease * WAIT_LEASES;
    let deadline = Instant::now() + waited;
    let mut told = false;
    loop {
        let mut live = 0;
        for (stream, entries) in &places {
            live += q
                .held(con, stream)?
                .iter()
                .filter(|h| entries.contains(h.entry.as_str()) && h.idle_ms < lease_ms)
                .count();
        }
        if live == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(FenceError::EarlierSession { live, waited });
        }
        if !told {
            told = true;
            waiting(Wait::Live(live));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Tidying only (a stream a restarted Redis lost has no group to
    // acknowledge in): the cancel keys already keep these from running.
    for (stream, entries) in &places {
        let mut pipe = redis::pipe();
        for entry in entries {
            pipe.cmd("XACK").arg(stream).arg(queue::GROUP).arg(entry).ignore();
            pipe.cmd("XDEL").arg(stream).arg(entry).ignore();
        }
        let _ = q.query_pipe::<()>(con, &pipe);
    }
    Ok(())
}

/// The entries workers hold in the task streams whose message, signed by
/// one of `signers`, belongs to run `run_id`: message id → `"<stream> <entry>"`.
fn held_of_run(
    q: &Queue,
    con: &mut redis::Connection,
    run_id: &str,
    signers: &[PublicKey],
) -> Result<HashMap<String, String>, QueueError> {
    let mut found = HashMap::new();
    if signers.is_empty() {
        return Ok(found);
    }
    for stream in q.task_streams(con)? {
        for h in q.held(con, &stream)? {
            let range: redis::streams::StreamRangeReply =
                q.query(con, redis::cmd("XRANGE").arg(&stream).arg(&h.entry).arg(&h.entry))?;
            for entry in range.ids {
                let Some(raw) = queue::entry_message(&entry) else { continue };
                if let Ok((m, _)) = Envelope::open::<TaskMessage>(&raw, Kind::Task, signers)
                    && m.run_id == run_id
                {
                    found.insert(m.id, format!("{stream} {}", entry.id));
                }
            }
        }
    }
    Ok(found)
}
