//! The orchestrator's side of a distributed run: a [`Dispatch`] that puts
//! each attempt on the queue as a signed task message and turns the workers'
//! signed events back into the attempt's log, report, outputs and outcome.
//!
//! Guarantees:
//! - a delivery runs only after the orchestrator's signed go-ahead for its
//!   fencing token (`INCR orchestra:fence:<id>` by the worker); a later
//!   delivery of the same message (a takeover) gets one only once the
//!   current delivery has fallen silent (no signed `started`, `log` or
//!   `alive` event for two thirds of a lease): someone who can write to
//!   Redis can hand an entry to a second worker, but not start a second copy
//!   of a live attempt;
//! - an attempt's outcome is delivered once: from the first `finished` event
//!   of the delivery that got the last go-ahead while no later delivery
//!   waits to take it over, signed by a pinned worker key; any other result (a stale token: a worker that was partitioned or
//!   paused past its lease; a second result; an unpinned or forged signer) is
//!   refused and recorded (`result_refused`);
//! - the run's `logs/<task>.log` gets the task's output live, and at the end
//!   exactly the stored log of the delivery whose result counted; the report
//!   and the declared outputs are fetched from storage and checked against
//!   their sha256 before the outcome is delivered;
//! - a task no worker takes within `unserved` fails (cause `worker_lost`)
//!   and its entry is deleted; a task delivered more often than
//!   `max_deliveries` fails `worker_lost`; never retried forever;
//! - Redis unreachable for longer than `outage` fails the attempts waiting
//!   on it with a clear error (the run stays resumable);
//! - every message is noted in the run's [`queue::sent_key`] as it is queued
//!   (one script), and [`IN_FLIGHT`] is in the run directory from before the
//!   session's first message until every delivery settled: what
//!   [`crate::fence`] needs to stop them before a resume starts anything;
//! - [`Dispatch::start`] and [`Running::stop`] never wait for Redis: a
//!   sender thread, on a connection of its own, queues the messages in the
//!   order the attempts started and sets the cancel keys, so a Redis outage
//!   does not hold up the scheduler (its pause, cancel, Ctrl-C); an attempt
//!   stopped before its message was sent is never sent, and one stopped
//!   before a worker took it ends at once.

use crate::keys::{PublicKey, SigningKey};
use crate::lock;
use crate::message::{Envelope, Kind, MessageError, Output, TaskMessage, WorkerEvent, nonce, now_ms};
use crate::queue::{self, Queue, QueueError};
use crate::storage::{Blobs, StorageError};
use orchestra_orchestrator::audit;
use orchestra_orchestrator::orchestrator::dispatch::{Dispatch, Done, Notice, Notify, Running};
use orchestra_orchestrator::orchestrator::exec_protocol::{self, Attempt, mono_us};
use orchestra_orchestrator::orchestrator::worker::Outcome;
use orchestra_orchestrator::runstore::RunDir;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a distributed run is set up.
pub struct Settings {
    /// The queue.
    pub queue: Queue,
    /// The orchestrator's signing key.
    pub key: SigningKey,
    /// The worker keys whose results are accepted.
    pub trusted_workers: Vec<PublicKey>,
    /// Where workers store blobs (URL).
    pub storage: String,
    /// The fleet's lease (sent along; workers reclaim after their own).
    pub lease: Duration,
    /// Deliveries before a task is `worker_lost`.
    pub max_deliveries: u32,
    /// How long a task may wait for a worker to take it.
    pub unserved: Duration,
    /// How long Redis may be unreachable before waiting attempts fail.
    pub outage: Duration,
    /// How long a task message stays valid.
    pub ttl: Duration,
}

/// Why a distributed run cannot start (exit 1, nothing ran).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No worker key is pinned.
    #[error(
        "distributed run: no trusted worker key (distributed.trusted_workers or --trust-worker): no result could be accepted"
    )]
    NoWorkerKeys,
}

struct Pending {
    task: String,
    attempt: u32,
    run: RunDir,
    log: PathBuf,
    report: PathBuf,
    done: Option<Done>,
    stream: String,
    entry: String,
    enqueued: Instant,
    token: u64,
    worker: Option<String>,
    /// The log's length when the current delivery started.
    log_base: u64,
    /// Bytes of the current delivery's log written so far.
    written: u64,
    /// When the current delivery last said something (started, output).
    heard: Instant,
    /// From the message's enqueueing to its first `started` event.
    queued: Option<Duration>,
    /// A later delivery that asked to run while the current one was alive.
    takeover: Option<Delivery>,
    /// The key the granted delivery's `started` event was signed with.
    worker_key: Option<String>,
    /// The run stopped the attempt: a result its worker stopped counts (it
    /// ends the attempt; nothing is to run again).
    cancelled: bool,
    runs_on: Vec<String>,
}

struct Inner {
    settings: Settings,
    blobs: Blobs,
    results: String,
    pending: Mutex<HashMap<String, Pending>>,
    notify: Mutex<Option<Notify>>,
    con: Mutex<Option<redis::Connection>>,
    shutdown: AtomicBool,
    /// Events refused because their signer is not pinned: count per claimed key.
    untrusted: Mutex<HashMap<String, u64>>,
    /// Refusals recorded so far (each a `result_refused` record, up to [`MAX_REFUSALS`]).
    refusals: std::sync::atomic::AtomicU64,
    /// Effective policies as YAML, by spec and hash.
    policies: Mutex<HashMap<String, String>>,
    /// Task streams whose consumer group exists (created once per
    /// connection, not once per task; forgotten when the connection breaks,
    /// since a restarted Redis may have lost them).
    groups: Mutex<std::collections::HashSet<String>>,
    /// Since when a write of the watchdog's has failed (none: the last one passed).
    write_stall: Mutex<Option<Instant>>,
    /// The runs' [`queue::sent_key`]s this session wrote to.
    sent: Mutex<std::collections::HashSet<String>>,
    /// Attempts were failed while their deliveries may still run (an outage):
    /// the sent keys stay for a resume to fence.
    unsettled: AtomicBool,
    /// The run directory, once a message went out ([`IN_FLIGHT`] made there).
    marked: Mutex<Option<RunDir>>,
}

/// A file in the run directory from a session's first message until every
/// delivery settled: a resume that finds it, and no note of what was sent in
/// Redis (restarted without its data), waits a lease before it starts
/// anything (review 64, F2).
pub const IN_FLIGHT: &str = "remote.inflight";

/// Refused events recorded one by one in the run's audit log; past this,
/// only counted (a Redis writer must not be able to flood the log).
const MAX_REFUSALS: u64 = 100;

/// Live output kept per delivery; past this the log waits for the stored one.
const MAX_LIVE_LOG: u64 = 256 << 20;

/// What the sender thread puts on the queue.
enum Outgoing {
    /// A started attempt's task message.
    Task { attempt: Box<Attempt>, task: Box<orchestra_orchestrator::plan::Task>, id: String },
    /// A stopped attempt: set its cancel key (its worker stops it, or drops
    /// it before the go-ahead) and withdraw its entry if no worker took it.
    Cancel { id: String, withdraw: Option<(String, String)> },
    /// The dispatcher is dropped: the session's results (and the task output
    /// in them) leave Redis with it.
    End,
}

/// The remote dispatcher of one run.
pub struct Remote {
    inner: Arc<Inner>,
    reader: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// To the sender thread.
    outbox: std::sync::mpsc::Sender<Outgoing>,
    sender: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Remote {
    /// Check the queue and the storage, and start reading run `run_id`'s results.
    pub fn connect(settings: Settings, run_id: &str) -> Result<Remote, SetupError> {
        if settings.trusted_workers.is_empty() {
            return Err(SetupError::NoWorkerKeys);
        }
        let con = settings.queue.connect()?;
        let results = queue::results_stream(run_id);
        let blobs = Blobs::open(&settings.storage)?;
        blobs.check()?;
        let inner = Arc::new(Inner {
            settings,
            blobs,
            results,
            pending: Mutex::new(HashMap::new()),
            notify: Mutex::new(None),
            con: Mutex::new(Some(con)),
            shutdown: AtomicBool::new(false),
            untrusted: Mutex::new(HashMap::new()),
            refusals: std::sync::atomic::AtomicU64::new(0),
            policies: Mutex::new(HashMap::new()),
            groups: Mutex::new(std::collections::HashSet::new()),
            write_stall: Mutex::new(None),
            sent: Mutex::new(std::collections::HashSet::new()),
            unsettled: AtomicBool::new(false),
            marked: Mutex::new(None),
        });
        let reader = {
            let inner = inner.clone();
            std::thread::spawn(move || read_results(&inner))
        };
        let (outbox, inbox) = std::sync::mpsc::channel();
        let sender = {
            let inner = inner.clone();
            std::thread::spawn(move || send_all(&inner, &inbox))
        };
        Ok(Remote { inner, reader: Mutex::new(Some(reader)), outbox, sender: Mutex::new(Some(sender)) })
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.outbox.send(Outgoing::End);
        self.inner.shutdown.store(true, Ordering::SeqCst);
        // Both threads end within moments unless Redis hangs; the run does
        // not wait for a hung Redis longer than the grace.
        let deadline = Instant::now() + SENDER_GRACE;
        join_by(lock(&self.sender).take(), deadline);
        join_by(lock(&self.reader).take(), deadline);
    }
}

/// Join `thread` if it ends by `deadline` (otherwise leave it).
fn join_by(thread: Option<std::thread::JoinHandle<()>>, deadline: Instant) {
    let Some(t) = thread else { return };
    while !t.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if t.is_finished() {
        let _ = t.join();
    }
}

/// How long a dropped dispatcher waits for its threads.
const SENDER_GRACE: Duration = Duration::from_secs(3);

struct RemoteAttempt {
    inner: Arc<Inner>,
    outbox: std::sync::mpsc::Sender<Outgoing>,
    msg: String,
}

impl Running for RemoteAttempt {
    fn stop(&self) {
        let inner = &self.inner;
        // Not taken yet: the attempt ends here (and its entry is withdrawn).
        let mut withdraw = None;
        let mut pending = lock(&inner.pending);
        if pending.get(&self.msg).is_some_and(|p| p.worker.is_none())
            && let Some(mut p) = pending.remove(&self.msg)
        {
            drop(pending);
            if !p.entry.is_empty() {
                withdraw = Some((p.stream.clone(), p.entry.clone()));
            }
            if let Some(done) = p.done.take() {
                done(failed("cancelled before a worker took it".into(), false));
            }
        } else {
            if let Some(p) = pending.get_mut(&self.msg) {
                p.cancelled = true;
            }
            drop(pending);
        }
        let _ = self.outbox.send(Outgoing::Cancel { id: self.msg.clone(), withdraw });
    }
}

fn failed(error: String, lost: bool) -> Outcome {
    Outcome { report: None, exec_status: -1, error: Some(error), process_time: Duration::ZERO, lost }
}

impl Dispatch for Remote {
    fn set_notify(&self, notify: Notify) {
        *lock(&self.inner.notify) = Some(notify);
    }

    fn collects_outputs(&self) -> bool {
        true
    }

    fn start(&self, attempt: Attempt, task: &orchestra_orchestrator::plan::Task, done: Done) -> Box<dyn Running> {
        let inner = &self.inner;
        let id = nonce();
        tracing::debug!(mono_us = mono_us(), task = %attempt.task, "dispatch: start");
        let handle = Box::new(RemoteAttempt { inner: inner.clone(), outbox: self.outbox.clone(), msg: id.clone() });
        let log_base = attempt.run.append(&attempt.log).ok().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        // Waiting before the message exists: a fast worker's `started` event
        // may be read before XADD even returns here.
        lock(&inner.pending).insert(
            id.clone(),
            Pending {
                task: attempt.task.clone(),
                attempt: attempt.number,
                run: attempt.run.clone(),
                log: attempt.log.clone(),
                report: attempt.report.clone(),
                done: Some(done),
                stream: queue::tasks_stream(&task.runs_on),
                entry: String::new(),
                enqueued: Instant::now(),
                token: 0,
                worker: None,
                log_base,
                written: 0,
                heard: Instant::now(),
                queued: None,
                takeover: None,
                worker_key: None,
                cancelled: false,
                runs_on: task.runs_on.clone(),
            },
        );
        let queued = Outgoing::Task { attempt: Box::new(attempt), task: Box::new(task.clone()), id: id.clone() };
        if self.outbox.send(queued).is_err() {
            let waiting = lock(&inner.pending).remove(&id);
            if let Some(done) = waiting.and_then(|mut p| p.done.take()) {
                done(failed("queueing the task: the dispatcher has stopped".into(), false));
            }
        }
        handle
    }
}

/// The sender thread: queue each started attempt's message and each stop,
/// in order, on a connection of its own, until the dispatcher is dropped
/// (then only the stops still waiting are sent).
fn send_all(inner: &Inner, inbox: &std::sync::mpsc::Receiver<Outgoing>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut con: Option<redis::Connection> = None;
    // Cancels not yet set (Redis down or holding writes): kept and tried
    // again, never dropped, so a cancelled task does not run to its end.
    let mut cancels: Vec<(String, Option<(String, String)>)> = Vec::new();
    let mut tried = Instant::now();
    loop {
        if !cancels.is_empty() && tried.elapsed() >= Duration::from_millis(500) {
            tried = Instant::now();
            send_cancels(inner, &mut con, &mut cancels);
        }
        let next = match inbox.recv_timeout(Duration::from_millis(100)) {
            Ok(o) => o,
            Err(RecvTimeoutError::Timeout) if !inner.shutdown.load(Ordering::SeqCst) => continue,
            Err(RecvTimeoutError::Timeout) => match inbox.try_recv() {
                Ok(o) => o,
                Err(_) => return,
            },
            Err(RecvTimeoutError::Disconnected) => return,
        };
        match next {
            Outgoing::Task { attempt, task, id } => send_task(inner, &mut con, &attempt, &task, &id),
            Outgoing::End => {
                send_cancels(inner, &mut con, &mut cancels);
                let q = &inner.settings.queue;
                if con.is_none() {
                    con = q.connect().ok();
                }
                if let Some(c) = con.as_mut() {
                    let _ = q.query::<u64>(c, redis::cmd("DEL").arg(&inner.results));
                    // Every delivery settled: nothing for a resume to wait for.
                    if lock(&inner.pending).is_empty() && !inner.unsettled.load(Ordering::SeqCst) {
                        let mut gone = true;
                        for k in lock(&inner.sent).iter() {
                            gone &= q.query::<u64>(c, redis::cmd("DEL").arg(k)).is_ok();
                        }
                        if gone && let Some(run) = lock(&inner.marked).take() {
                            let _ = run.remove(Path::new(IN_FLIGHT));
                        }
                    }
                }
                return;
            }
            Outgoing::Cancel { id, withdraw } => {
                cancels.push((id, withdraw));
                tried = Instant::now();
                send_cancels(inner, &mut con, &mut cancels);
            }
        }
    }
}

/// Set the cancel keys (and withdraw the entries) of `cancels`, in one round
/// trip; what could not be sent stays in `cancels`.
fn send_cancels(
    inner: &Inner,
    con: &mut Option<redis::Connection>,
    cancels: &mut Vec<(String, Option<(String, String)>)>,
) {
    if cancels.is_empty() {
        return;
    }
    let q = &inner.settings.queue;
    if con.is_none() {
        *con = q.connect().ok();
    }
    let Some(c) = con.as_mut() else { return };
    let mut pipe = redis::pipe();
    for (id, withdraw) in cancels.iter() {
        pipe.cmd("SET").arg(queue::cancel_key(id)).arg(1).arg("EX").arg(86400).ignore();
        if let Some((stream, entry)) = withdraw {
            pipe.cmd("XDEL").arg(stream).arg(entry).ignore();
        }
    }
    if q.query_pipe::<()>(c, &pipe).is_ok() {
        cancels.clear();
    } else {
        *con = None;
    }
}

/// Queue one attempt's message (unless it was stopped meanwhile).
fn send_task(
    inner: &Inner,
    con: &mut Option<redis::Connection>,
    attempt: &Attempt,
    task: &orchestra_orchestrator::plan::Task,
    id: &str,
) {
    // Stopped (or failed by the watchdog) before it was sent, or the run is
    // ending: never send it.
    if inner.shutdown.load(Ordering::SeqCst) || !lock(&inner.pending).contains_key(id) {
        return;
    }
    match enqueue(inner, con, attempt, task, id) {
        Ok((stream, entry)) => {
            tracing::debug!(mono_us = mono_us(), task = %attempt.task, "dispatch: queued");
            let mut pending = lock(&inner.pending);
            if let Some(p) = pending.get_mut(id) {
                p.entry = entry;
            } else if let Some(c) = con.as_mut() {
                // Stopped while it was being sent: take it back (the stop's
                // cancel key, set next, tells a worker that took it already).
                drop(pending);
                let _ = inner.settings.queue.query::<u64>(c, redis::cmd("XDEL").arg(&stream).arg(&entry));
            }
        }
        Err(e) => {
            let waiting = lock(&inner.pending).remove(id);
            if let Some(done) = waiting.and_then(|mut p| p.done.take()) {
                done(failed(e.to_string(), false));
            }
        }
    }
}

/// `KEYS[1]` the task stream, `KEYS[2]` the run's sent key; `ARGV` the
/// message, its id, the key's lifetime in seconds: queue the message and
/// note where, in one step (a message is never out without its note).
///
/// A retry whose first reply was lost finds the note and queues nothing
/// again: the entry that runs is always the one noted (review 64, F4).
const ENQUEUE: &str = "\
local noted = redis.call('HGET', KEYS[2], ARGV[2])
if noted then
  local sp = string.find(noted, ' ', 1, true)
  if sp and string.sub(noted, 1, sp - 1) == KEYS[1] then return string.sub(noted, sp + 1) end
end
local e = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], KEYS[1] .. ' ' .. e)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return e";

/// Why an attempt could not be queued.
#[derive(Debug, thiserror::Error)]
enum EnqueueError {
    #[error("policy {spec}: {source}")]
    Policy { spec: String, source: orchestra_orchestrator::policy::load::PolicyError },
    #[error("queueing the task: {0}")]
    Queue(#[from] QueueError),
    #[error("queueing the task: {0}")]
    Message(#[from] MessageError),
    #[error("queueing the task: the queue is unreachable")]
    NoConnection,
}

fn enqueue(
    inner: &Inner,
    con: &mut Option<redis::Connection>,
    a: &Attempt,
    task: &orchestra_orchestrator::plan::Task,
    id: &str,
) -> Result<(String, String), EnqueueError> {
    let s = &inner.settings;
    // Loaded once per policy and hash in a run (exec on the worker checks the
    // hash again, so a file changed since is refused there, never used).
    let cache_key = format!("{}\n{}", a.policy, a.policy_sha256);
    let cached = lock(&inner.policies).get(&cache_key).cloned();
    let policy_yaml = match cached {
        Some(y) => y,
        None => {
            let (policy, _) = orchestra_orchestrator::policy::load_policy(&a.policy)
                .map_err(|source| EnqueueError::Policy { spec: a.policy.clone(), source })?;
            let y = policy.to_yaml();
            lock(&inner.policies).insert(cache_key, y.clone());
            y
        }
    };
    let now = now_ms();
    let msg = TaskMessage {
        id: id.to_string(),
        run_id: a.run_id.clone(),
        task: a.task.clone(),
        attempt: a.number,
        issued_ms: now,
        take_by_ms: now + (s.unserved + s.lease).as_millis() as u64,
        expires_ms: now + s.ttl.as_millis() as u64,
        argv: a.argv.clone(),
        policy_yaml,
        policy_sha256: a.policy_sha256.clone(),
        env: a.env.iter().cloned().collect(),
        timeout: a.timeout.clone(),
        workdir: a.workdir.clone(),
        outputs: task.outputs.clone(),
        runs_on: task.runs_on.clone(),
        results: inner.results.clone(),
        storage: s.storage.clone(),
        protect: a.protect.iter().cloned().chain(crate::storage::local_dir(&s.storage)).collect(),
        lease_ms: s.lease.as_millis() as u64,
        max_deliveries: s.max_deliveries,
    };
    let env = Envelope::seal(Kind::Task, &msg, &s.key)?.to_json();
    let stream = queue::tasks_stream(&task.runs_on);
    let sent_key = queue::sent_key(&a.run_id);
    lock(&inner.sent).insert(sent_key.clone());
    {
        let mut marked = lock(&inner.marked);
        if marked.is_none() && a.run.append(Path::new(IN_FLIGHT)).is_ok_and(|f| f.sync_all().is_ok()) {
            *marked = Some(a.run.clone());
        }
    }
    let guard = con;
    // A connection broken by a Redis restart fails its next command: reconnect
    // and retry (for at most `outage`, as the result reader waits). A retry
    // whose first reply was lost gets the entry noted the first time (see
    // ENQUEUE), never a second one.
    let deadline = Instant::now() + s.outage;
    let mut delay = Duration::ZERO;
    loop {
        if guard.is_none() {
            *guard = s.queue.connect().ok();
        }
        let known = lock(&inner.groups).contains(&stream);
        let r = guard.as_mut().map(|con| {
            // The session's results stream too, before any message goes out
            // on this connection: workers only append to an existing one
            // (`XADD NOMKSTREAM`).
            let ensured = if known {
                Ok(())
            } else {
                s.queue.ensure_group(con, &stream).and_then(|()| s.queue.ensure_group(con, &inner.results))
            };
            ensured.and_then(|()| {
                let mut c = redis::cmd("EVAL");
                c.arg(ENQUEUE).arg(2).arg(&stream).arg(&sent_key).arg(&env).arg(id).arg(s.ttl.as_secs().max(1));
                s.queue.query::<String>(con, &c)
            })
        });
        match &r {
            Some(Ok(_)) if !known => {
                lock(&inner.groups).insert(stream.clone());
            }
            Some(Err(_)) | None => lock(&inner.groups).clear(),
            Some(Ok(_)) => {}
        }
        match r {
            Some(Ok(entry)) => return Ok((stream, entry)),
            Some(Err(e)) if Instant::now() >= deadline => {
                *guard = None;
                return Err(e.into());
            }
            None if Instant::now() >= deadline => return Err(EnqueueError::NoConnection),
            _ if inner.shutdown.load(Ordering::SeqCst) => return Err(EnqueueError::NoConnection),
            Some(Err(_)) | None => {
                *guard = None;
                std::thread::sleep(delay);
                delay = (delay * 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
            }
        }
    }
}

/// Read the run's result stream until the dispatcher is dropped.
fn read_results(inner: &Arc<Inner>) {
    let q = &inner.settings.queue;
    let mut con: Option<redis::Connection> = None;
    let mut last = "0-0".to_string();
    let mut trimmed = last.clone();
    let mut down_since: Option<Instant> = None;
    while !inner.shutdown.load(Ordering::SeqCst) {
        watchdog(inner);
        if con.is_none() {
            // A Redis that restarted without its data lost the stream too.
            con = q.connect().ok().and_then(|mut c| q.ensure_group(&mut c, &inner.results).ok().map(|()| c));
        }
        let reply = con.as_mut().map(|c| {
            // What was handled leaves the stream (task output included), in
            // the round trip of the next read.
            let mut pipe = redis::pipe();
            if last != trimmed {
                pipe.cmd("XTRIM").arg(&inner.results).arg("MINID").arg(&last).ignore();
            }
            pipe.cmd("XREAD").arg("COUNT").arg(200).arg("BLOCK").arg(200).arg("STREAMS").arg(&inner.results).arg(&last);
            q.query_pipe::<(Option<redis::streams::StreamReadReply>,)>(c, &pipe).map(|(r,)| r)
        });
        match reply {
            Some(Ok(r)) => {
                down_since = None;
                trimmed = last.clone();
                'read: for k in r.map(|r| r.keys).unwrap_or_default() {
                    for e in k.ids {
                        if let Some(raw) = queue::entry_message(&e)
                            && let Some(c) = con.as_mut()
                            && handle(inner, c, &raw).is_err()
                        {
                            // The fence could not be read (Redis went away):
                            // read this event again on a new connection.
                            con = None;
                            break 'read;
                        }
                        last = e.id.clone();
                    }
                }
            }
            Some(Err(_)) | None => {
                con = None;
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() > inner.settings.outage {
                    let why = format!(
                        "the queue {} was unreachable for more than {} (resume the run once it is back)",
                        q.url(),
                        humantime::format_duration(inner.settings.outage)
                    );
                    fail_all(inner, &why);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Fail every waiting attempt.
fn fail_all(inner: &Inner, why: &str) {
    let drained: Vec<Pending> = lock(&inner.pending).drain().map(|(_, p)| p).collect();
    if !drained.is_empty() {
        inner.unsettled.store(true, Ordering::SeqCst);
    }
    for mut p in drained {
        if let Some(done) = p.done.take() {
            done(failed(why.to_string(), false));
        }
    }
}

/// Tasks nobody took within `unserved`: withdraw them, fail them.
fn watchdog(inner: &Inner) {
    abandoned(inner);
    takeovers(inner);
    let limit = inner.settings.unserved;
    let stale: Vec<String> = lock(&inner.pending)
        .iter()
        .filter(|(_, p)| p.worker.is_none() && p.enqueued.elapsed() > limit)
        .map(|(id, _)| id.clone())
        .collect();
    for id in stale {
        let Some(mut p) = lock(&inner.pending).remove(&id) else { continue };
        if let Some(con) = lock(&inner.con).as_mut() {
            // Withdrawn; a worker that took it but got no go-ahead (an
            // untrusted key) lets it go at once instead of after `go_wait`.
            let mut pipe = redis::pipe();
            pipe.cmd("XDEL").arg(&p.stream).arg(&p.entry).ignore();
            pipe.cmd("SET").arg(queue::cancel_key(&id)).arg(1).arg("EX").arg(86400).ignore();
            let _ = inner.settings.queue.query_pipe::<()>(con, &pipe);
        }
        let labels = if p.runs_on.is_empty() { String::new() } else { format!(" with labels {}", p.runs_on.join(",")) };
        let mut why =
            format!("worker_lost: no worker{labels} took the task within {}", humantime::format_duration(limit));
        let untrusted: Vec<String> = lock(&inner.untrusted).keys().cloned().collect();
        if !untrusted.is_empty() {
            why.push_str(&format!(
                " (results signed by {} were refused: that key is not trusted)",
                untrusted.join(", ")
            ));
        }
        if let Some(done) = p.done.take() {
            done(failed(why, true));
        }
    }
}

/// Grant the takeovers that waited for a delivery now silent.
fn takeovers(inner: &Inner) {
    let mut pending = lock(&inner.pending);
    let due: Vec<String> = pending
        .iter()
        .filter(|(_, p)| p.takeover.is_some() && p.heard.elapsed() >= live_within(inner))
        .map(|(id, _)| id.clone())
        .collect();
    if due.is_empty() {
        return;
    }
    let mut guard = lock(&inner.con);
    if guard.is_none() {
        *guard = inner.settings.queue.connect().ok();
    }
    let Some(con) = guard.as_mut() else { return };
    for id in due {
        let Some(p) = pending.get_mut(&id) else { continue };
        // Kept until granted: a failed go-ahead is tried again next time.
        let Some(d) = p.takeover.clone() else { continue };
        if grant(inner, con, &id, p, d).is_err() {
            *guard = None;
            return;
        }
    }
}

/// Tasks whose worker stopped heart-beating (gone from the registry, or
/// silent for three leases) and that no other worker took over within
/// `unserved`: fail them `worker_lost` (every worker may be gone).
fn abandoned(inner: &Inner) {
    let s = &inner.settings;
    let quiet: Vec<(String, String)> = lock(&inner.pending)
        .iter()
        .filter(|(_, p)| p.heard.elapsed() > s.unserved)
        .filter_map(|(id, p)| Some((id.clone(), p.worker.clone()?)))
        .collect();
    if quiet.is_empty() {
        return;
    }
    let mut guard = lock(&inner.con);
    if guard.is_none() {
        // Dropped after a failed probe (or broken by a restart): without a
        // new one no stall would ever be measured again.
        *guard = s.queue.connect().ok();
    }
    let Some(con) = guard.as_mut() else { return };
    // Silent workers, or a Redis that answers reads but holds writes (their
    // heartbeats and events wait in it)? Only a write of our own tells.
    let probe = redis::cmd("SET").arg(format!("{}:probe", inner.results)).arg(1).arg("EX").arg(60).clone();
    let sent = Instant::now();
    if s.queue.query::<()>(con, &probe).is_err() {
        *guard = None;
        drop(guard);
        // Held since it was sent (a held write fails only at the reply timeout).
        let since = *lock(&inner.write_stall).get_or_insert(sent);
        if since.elapsed() > s.outage {
            let why = format!(
                "the queue {} took no writes for more than {} (resume the run once it does)",
                s.queue.url(),
                humantime::format_duration(s.outage)
            );
            fail_all(inner, &why);
        }
        return;
    }
    *lock(&inner.write_stall) = None;
    if sent.elapsed() > s.lease / 3 {
        // Our write was held, so were the workers' heartbeats: the registry
        // is as old as the stall (their writes land after ours). Silence is
        // counted again from now.
        drop(guard);
        let mut pending = lock(&inner.pending);
        for (id, _) in &quiet {
            if let Some(p) = pending.get_mut(id) {
                p.heard = Instant::now();
            }
        }
        return;
    }
    for (id, worker) in quiet {
        let status: Option<String> = match s.queue.query(con, redis::cmd("HGET").arg(queue::WORKERS).arg(&worker)) {
            Ok(v) => v,
            Err(_) => return,
        };
        let seen = status
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["seen_ms"].as_u64())
            .unwrap_or(0);
        if now_ms().saturating_sub(seen) < 3 * s.lease.as_millis() as u64 {
            // Alive: a long, quiet task.
            if let Some(p) = lock(&inner.pending).get_mut(&id) {
                p.heard = Instant::now() - s.unserved / 2;
            }
            continue;
        }
        let Some(mut p) = lock(&inner.pending).remove(&id) else { continue };
        let _ = s.queue.query::<u64>(con, redis::cmd("XDEL").arg(&p.stream).arg(&p.entry));
        let why = format!(
            "worker_lost: worker {worker} stopped and no worker took the task over within {}",
            humantime::format_duration(s.unserved)
        );
        if let Some(done) = p.done.take() {
            done(failed(why, true));
        }
    }
}

fn notify(inner: &Inner, kind: audit::Kind, body: serde_json::Value) {
    notify_saying(inner, kind, body, None);
}

fn notify_saying(inner: &Inner, kind: audit::Kind, body: serde_json::Value, say: Option<String>) {
    if kind == audit::Kind::ResultRefused {
        let n = inner.refusals.fetch_add(1, Ordering::SeqCst) + 1;
        if n > MAX_REFUSALS {
            return;
        }
        if n == MAX_REFUSALS {
            let line = format!(
                "orchestra: warning: {MAX_REFUSALS} results refused; further refusals in this session are not recorded one by one"
            );
            if let Some(f) = lock(&inner.notify).as_ref() {
                f(Notice { kind, body, say: Some(line) });
            }
            return;
        }
    }
    if let Some(f) = lock(&inner.notify).as_ref() {
        f(Notice { kind, body, say });
    }
}

/// One event from the results stream. An error: the fencing counter could not
/// be read, nothing was decided (the event must be handled again).
fn handle(inner: &Inner, con: &mut redis::Connection, raw: &[u8]) -> Result<(), QueueError> {
    let (ev, key) = match Envelope::open::<WorkerEvent>(raw, Kind::Event, &inner.settings.trusted_workers) {
        Ok(x) => x,
        Err(e) => {
            let claimed =
                serde_json::from_slice::<Envelope>(raw).map(|e| crate::message::shown_key(&e.key)).unwrap_or_default();
            let first = {
                let mut u = lock(&inner.untrusted);
                let n = u.entry(claimed.clone()).or_insert(0);
                *n += 1;
                *n == 1
            };
            let say = (first && matches!(e, MessageError::Untrusted(_))).then(|| {
                format!(
                    "orchestra: warning: refused results signed by {claimed}, a worker key this run does not trust (add it with --trust-worker or distributed.trusted_workers)"
                )
            });
            notify_saying(
                inner,
                audit::Kind::ResultRefused,
                serde_json::json!({"task": "", "attempt": 0, "msg": "", "token": 0, "worker": "",
                    "worker_key": claimed, "reason": e.reason()}),
                say,
            );
            return Ok(());
        }
    };
    match ev {
        WorkerEvent::Started { msg, token, worker, nonce, task, .. } => {
            tracing::debug!(mono_us = mono_us(), task = %task, "dispatch: started read");
            let mut pending = lock(&inner.pending);
            let Some(p) = pending.get_mut(&msg) else { return Ok(()) };
            if token <= p.token {
                return Ok(());
            }
            let delivery = Delivery { token, worker, nonce, key: key.to_string() };
            if p.worker.is_some() && p.heard.elapsed() < live_within(inner) {
                // The current delivery still says it lives: no second copy
                // starts now. Granted once it falls silent (see `watchdog`).
                if p.takeover.as_ref().is_none_or(|t| t.token < token) {
                    if let Ok(mut f) = p.run.append(&p.log) {
                        let _ = writeln!(
                            f,
                            "--- orchestra: worker {} asked to take over attempt {} while worker {} is alive: it waits ---",
                            delivery.worker,
                            p.attempt,
                            p.worker.as_deref().unwrap_or_default()
                        );
                    }
                    p.takeover = Some(delivery);
                }
                return Ok(());
            }
            grant(inner, con, &msg, p, delivery)?;
        }
        WorkerEvent::Alive { msg, token } => {
            if let Some(p) = lock(&inner.pending).get_mut(&msg)
                && token == p.token
                && p.worker_key.as_deref() == Some(key.to_string().as_str())
            {
                p.heard = Instant::now();
            }
        }
        WorkerEvent::Log { msg, token, offset, data } => {
            use base64::Engine as _;
            let mut pending = lock(&inner.pending);
            let Some(p) = pending.get_mut(&msg) else { return Ok(()) };
            let signer = key.to_string();
            if token != p.token
                || p.worker_key.as_deref() != Some(signer.as_str())
                || offset != p.written
                || p.written >= MAX_LIVE_LOG
            {
                return Ok(());
            }
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else { return Ok(()) };
            if let Ok(mut f) = p.run.append(&p.log)
                && f.write_all(&bytes).is_ok()
            {
                p.written += bytes.len() as u64;
                p.heard = Instant::now();
            }
        }
        WorkerEvent::Lost { msg, deliveries, worker, error, .. } => {
            // A delivery that gave up (too many deliveries, or no go-ahead)
            // ends the attempt only when no granted delivery is alive: a
            // replayed or stale `lost` must not end a live attempt (and start
            // its retry beside it).
            let mut pending = lock(&inner.pending);
            let Some(p) = pending.get_mut(&msg) else { return Ok(()) };
            if p.worker.is_some() && p.heard.elapsed() < live_within(inner) {
                // The delivery that gave up no longer waits to take it over:
                // its request must neither fence the live delivery's result
                // nor be granted once that one ends (its worker runs nothing).
                let signer = key.to_string();
                if p.takeover.as_ref().is_some_and(|t| t.worker == worker && t.key == signer) {
                    p.takeover = None;
                }
                return Ok(());
            }
            let Some(mut p) = pending.remove(&msg) else { return Ok(()) };
            drop(pending);
            // Whatever delivery still holds it stops.
            let cancel = redis::cmd("SET").arg(queue::cancel_key(&msg)).arg(1).arg("EX").arg(86400).clone();
            let _ = inner.settings.queue.query::<()>(con, &cancel);
            let mut why = format!(
                "worker_lost: delivered {deliveries} times (at most {} allowed), last to worker {worker}",
                inner.settings.max_deliveries
            );
            if let Some(e) = error {
                // Worker-chosen text: one bounded line.
                let e: String = e.chars().filter(|c| !c.is_control()).take(300).collect();
                why.push_str(&format!("; last error: {e}"));
            }
            if let Some(done) = p.done.take() {
                done(failed(why, true));
            }
        }
        WorkerEvent::Finished {
            msg,
            task,
            attempt,
            token,
            worker,
            exec_status,
            report,
            error,
            log,
            outputs,
            process_ms,
            audit,
            stopped,
        } => {
            tracing::debug!(mono_us = mono_us(), task = %task, "dispatch: finished read");
            let refused = |reason: &str| {
                serde_json::json!({"task": task, "attempt": attempt, "msg": msg, "token": token,
                    "worker": worker, "worker_key": key.to_string(), "reason": reason})
            };
            // Only the delivery this orchestrator last gave a go-ahead may
            // count (a worker runs nothing without its own go-ahead; an older
            // one that did was taken over since), and not a run its worker
            // stopped because another delivery took its entry over
            // (`stopped`), unless the run stopped the attempt itself (then
            // nothing is to run again). A later delivery merely waiting to take it over
            // does not fence a whole run: that one (a replay, or a reclaim
            // during a Redis stall) is cancelled below and never runs.
            let signer = key.to_string();
            let given =
                lock(&inner.pending).get(&msg).map(|p| (p.token, p.worker.clone(), p.worker_key.clone(), p.cancelled));
            let cancelled = given.as_ref().is_some_and(|g| g.3);
            if (stopped && !cancelled)
                || given.as_ref().is_some_and(|(t, w, k, _)| {
                    *t != token || w.as_deref() != Some(worker.as_str()) || k.as_deref() != Some(signer.as_str())
                })
            {
                notify(inner, audit::Kind::ResultRefused, refused("fenced"));
                return Ok(());
            }
            let Some(mut p) = lock(&inner.pending).remove(&msg) else {
                notify(inner, audit::Kind::ResultRefused, refused("duplicate"));
                return Ok(());
            };

            if p.task != task || p.attempt != attempt {
                notify(inner, audit::Kind::ResultRefused, refused("malformed"));
                lock(&inner.pending).insert(msg, p);
                return Ok(());
            }
            if let Some(t) = p.takeover.take() {
                // Its worker waits for a go-ahead that will not come: it
                // stops waiting at the cancel key (and runs nothing).
                tracing::debug!(msg = %msg, worker = %t.worker, "the attempt ended: the waiting takeover is cancelled");
                let cancel = redis::cmd("SET").arg(queue::cancel_key(&msg)).arg(1).arg("EX").arg(86400).clone();
                let _ = inner.settings.queue.query::<()>(con, &cancel);
            }
            let fetched = fetch(inner, &p, &log, report.as_ref(), &outputs);
            let outcome = match fetched {
                Ok(()) => {
                    let a = attempt_view(&p);
                    match exec_protocol::read_report(&a, exec_status) {
                        Ok(r) => Outcome {
                            report: Some(r),
                            exec_status,
                            error: None,
                            process_time: Duration::from_millis(process_ms),
                            lost: false,
                        },
                        Err(e) => Outcome {
                            report: None,
                            exec_status,
                            // Said against the run's own log (the worker's paths are elsewhere).
                            error: Some(match error {
                                Some(w) if !w.contains('/') => format!("{e} (worker {worker}: {w})"),
                                _ => e.to_string(),
                            }),
                            process_time: Duration::from_millis(process_ms),
                            lost: false,
                        },
                    }
                }
                Err(e) => failed(format!("fetching the results of worker {worker}: {e}"), false),
            };
            // The verdict as the worker's sandbox reported it, in the run's own log too.
            let (cause, rules) = match &outcome.report {
                Some(r) => (
                    orchestra_orchestrator::sandbox::report::cause_name(r.cause).to_string(),
                    orchestra_orchestrator::sandbox::report::distinct_rules(&r.violations)
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>(),
                ),
                None => ("setup_failed".to_string(), Vec::new()),
            };
            notify(
                inner,
                audit::Kind::RemoteResult,
                serde_json::json!({"task": task, "attempt": attempt, "msg": msg, "token": token,
                    "worker": worker, "worker_key": key.to_string(), "worker_log": audit,
                    "queued_us": p.queued.map(|q| q.as_micros() as u64),
                    "cause": cause, "rules": rules}),
            );
            tracing::debug!(mono_us = mono_us(), task = %task, "dispatch: outcome delivered");
            if let Some(done) = p.done.take() {
                done(outcome);
            }
        }
    }
    Ok(())
}

/// A delivery that asked to run: its fencing token, worker and nonce.
#[derive(Clone)]
struct Delivery {
    token: u64,
    worker: String,
    nonce: String,
    /// The key its `started` event was signed with: the delivery's later
    /// events and its result must carry the same signature.
    key: String,
}

/// A delivery heard from within this is alive: heartbeats come every third
/// of a lease, and a worker takes an entry over after a whole lease of silence.
fn live_within(inner: &Inner) -> Duration {
    inner.settings.lease * 2 / 3
}

/// Let `d` run: a signed go-ahead bound to it, and the attempt follows it.
fn grant(
    inner: &Inner,
    con: &mut redis::Connection,
    msg: &str,
    p: &mut Pending,
    d: Delivery,
) -> Result<(), QueueError> {
    let Delivery { token, worker, nonce, key: signer } = d;
    let go = crate::message::GoAhead { msg: msg.to_string(), token, worker: worker.clone(), nonce: nonce.clone() };
    if let Ok(env) = Envelope::seal(Kind::Go, &go, &inner.settings.key) {
        let key = queue::go_key(msg, &nonce);
        let mut c = redis::pipe();
        c.cmd("RPUSH").arg(&key).arg(env.to_json()).ignore().cmd("EXPIRE").arg(&key).arg(300).ignore();
        inner.settings.queue.query_pipe::<()>(con, &c)?;
        tracing::debug!(mono_us = mono_us(), task = %p.task, "dispatch: go-ahead sent");
    }
    if let Ok(mut f) = p.run.append(&p.log) {
        if let Some(before) = &p.worker {
            let _ = writeln!(
                f,
                "--- orchestra: attempt {} taken over from worker {before} by worker {worker} ---",
                p.attempt
            );
        }
        p.log_base = f.metadata().map(|m| m.len()).unwrap_or(0);
    }
    p.token = token;
    p.worker = Some(worker);
    p.worker_key = Some(signer);
    p.takeover = None;
    p.written = 0;
    p.heard = Instant::now();
    p.queued.get_or_insert_with(|| p.enqueued.elapsed());
    Ok(())
}

/// A minimal attempt view for reading the report back through the run directory.
fn attempt_view(p: &Pending) -> Attempt {
    Attempt {
        task: p.task.clone(),
        number: p.attempt,
        argv: Vec::new(),
        policy: String::new(),
        policy_sha256: String::new(),
        env: Vec::new(),
        timeout: None,
        workdir: PathBuf::new(),
        audit_dir: PathBuf::new(),
        run_id: p.run.id.clone(),
        protect: Vec::new(),
        run: p.run.clone(),
        report: p.report.clone(),
        log: p.log.clone(),
        container_pool: None,
        lease: None,
    }
}

/// Why stored results could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("run directory: {0}")]
    Run(#[from] orchestra_orchestrator::runstore::RunStoreError),
    #[error("run directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("output path {0:?} is not a plain relative path")]
    BadPath(String),
}

/// The biggest report or output fetched into the run directory.
const MAX_BLOB: u64 = 1 << 30;

/// Put the stored log (replacing what was streamed of this delivery), the
/// report and the outputs into the run directory.
fn fetch(
    inner: &Inner,
    p: &Pending,
    log: &crate::storage::Blob,
    report: Option<&crate::storage::Blob>,
    outputs: &[Output],
) -> Result<(), FetchError> {
    let blobs = &inner.blobs;
    let bytes = blobs.get_bytes(log, MAX_BLOB)?;
    let f = p.run.append(&p.log)?;
    f.set_len(p.log_base)?;
    let mut f = p.run.append(&p.log)?;
    f.write_all(&bytes)?;
    if let Some(r) = report {
        p.run.write(&p.report, &blobs.get_bytes(r, MAX_BLOB)?, false)?;
    }
    for o in outputs {
        let rel = Path::new(&o.path);
        if o.path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(FetchError::BadPath(o.path.clone()));
        }
        let dest = Path::new("artifacts").join(&p.task).join(rel);
        if let Some(parent) = dest.parent() {
            p.run.create_dir(parent)?;
        }
        p.run.write(&dest, &blobs.get_bytes(&o.blob, MAX_BLOB)?, false)?;
    }
    Ok(())
}
