//! `orchestra worker`: takes task messages from the queue and runs each in
//! the sandbox its policy names, exactly as `orchestra run` does locally (an
//! `orchestra exec` child per attempt, through the orchestrator's own
//! [`worker`](orchestra_orchestrator::orchestrator::worker) module).
//!
//! Guarantees:
//! - a message runs only when it is signed by a pinned orchestrator key, not
//!   expired, on the stream its labels name, and not a replay (its id first
//!   seen in this very stream entry); anything else is acknowledged without
//!   running, recorded in the worker's audit log (`message_refused`) and in
//!   `orchestra:refused`, and counted in the worker's status;
//! - the policy the task runs under is the message's, and `exec` refuses it
//!   unless its hash is the one the orchestrator signed;
//! - while a task lives its entry is re-claimed every third of the lease, so
//!   no other worker takes it over; a worker that finds its entry taken by
//!   another stops its task (its result would be fenced anyway);
//! - a worker that could not re-claim an entry for [`SELF_FENCE`] of the
//!   lease (Redis unreachable from it, or holding its writes) stops that task
//!   itself, before any other worker can take the entry over (Redis hands it
//!   on only after a whole lease idle): two copies of a delivery never run
//!   side by side, even when a worker is cut off from Redis while its tasks
//!   go on; the price is that a Redis stall that long restarts the tasks;
//! - an entry is acknowledged only after the log, the report and the
//!   declared outputs are stored and the `finished` event is in the results
//!   stream: an acknowledged task's outputs always exist;
//! - on [`Control::drain`] (SIGTERM) it takes nothing new and returns once
//!   its running tasks have ended and been acknowledged.

use crate::keys::{PublicKey, SigningKey};
use crate::lock;
use crate::message::{AuditRef, Envelope, Kind, MessageError, Output, TaskMessage, WorkerEvent, now_ms};
use crate::queue::{self, GROUP, Queue, QueueError};
use crate::storage::{Blob, Blobs, StorageError};
use orchestra_orchestrator::audit;
use orchestra_orchestrator::orchestrator::exec_protocol::{Attempt, mono_us};
use orchestra_orchestrator::orchestrator::lease;
use orchestra_orchestrator::orchestrator::worker as local;
use orchestra_orchestrator::runstore::{RunDir, RunsDir};
use std::collections::HashMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a worker is set up.
pub struct Config {
    /// The queue.
    pub queue: Queue,
    /// This worker's name (its consumer name in the group).
    pub name: String,
    /// Tasks run at once.
    pub capacity: usize,
    /// Its labels.
    pub labels: Vec<String>,
    /// Its signing key.
    pub key: SigningKey,
    /// The orchestrator keys it accepts task messages from.
    pub trusted: Vec<PublicKey>,
    /// Where it keeps its scratch run directories and its replay journal.
    pub state_dir: PathBuf,
    /// Its own audit log.
    pub audit_dir: PathBuf,
    /// The orchestra binary (`exec` runs from it).
    pub exe: PathBuf,
    /// Run every task in this workspace instead of the one its message names.
    pub workspace: Option<PathBuf>,
    /// Reclaim entries idle this long (the fleet's lease).
    pub lease: Duration,
    /// Storage override: store blobs here instead of where the message says.
    pub storage: Option<String>,
    /// How long to wait for the orchestrator's go-ahead (default [`GO_WAIT`]).
    pub go_wait: Duration,
}

/// Why a worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The queue failed for longer than the worker waits.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Its state directory is unusable.
    #[error("worker state {}: {source}", path.display())]
    State {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Stops a worker from another thread (its signal handler).
#[derive(Debug, Clone, Default)]
pub struct Control {
    drain: Arc<AtomicBool>,
}

impl Control {
    /// Take no new tasks; return once the running ones are done.
    pub fn drain(&self) {
        self.drain.store(true, Ordering::SeqCst);
    }

    fn draining(&self) -> bool {
        self.drain.load(Ordering::SeqCst)
    }
}

/// A delivery this worker runs.
struct Running {
    stream: String,
    entry: String,
    msg: String,
    /// This delivery's fencing token, and the run's results stream (its
    /// heartbeats go there as `alive` events).
    token: u64,
    results: String,
    handle: Option<local::Handle>,
    /// Another delivery took the entry over.
    lost: bool,
    /// ... and this worker's stop reached the task while it still ran: its
    /// result is an interrupted run (`stopped`), never to count.
    interrupted: bool,
    /// When the last claim of the entry that Redis confirmed was sent (the
    /// read that delivered it, or a keep): Redis hands the entry to another
    /// worker a lease after it ran that command at the earliest. The same
    /// moment on `CLOCK_BOOTTIME`, for the task's dead-man switch.
    kept: Instant,
    kept_boot: Duration,
    /// The delivery is to stop (cancelled, taken over, or its lease lapsed):
    /// a task started after this is stopped at once.
    stopping: bool,
    /// Its lease: the worker's, or the message's when shorter.
    lease: Duration,
    /// The FIFO its `exec` watches ([`orchestra_orchestrator::orchestrator::lease`]):
    /// a byte after each keep Redis confirmed.
    feed: Option<std::fs::File>,
}

impl Running {
    /// Stop this delivery's task now, or as soon as it starts; `lost`: the
    /// entry is no longer this worker's (the result must not count).
    fn stop(&mut self, lost: bool) {
        self.stopping = true;
        self.lost |= lost;
        if let Some(h) = &self.handle {
            let reached = h.stop();
            self.interrupted |= self.lost && reached;
        }
    }

    /// The task started: kept to be stopped (at once, if that was asked already).
    fn started(&mut self, handle: local::Handle) {
        self.handle = Some(handle);
        if self.stopping {
            self.stop(false);
        }
    }
}

/// A delivery's lease: the worker's own, or the message's (the run's) when
/// that is shorter (review 64, F3: the run takes a silent delivery over
/// after its own lease).
fn delivery_lease(cfg: &Config, msg: &TaskMessage) -> Duration {
    let run = Duration::from_millis(msg.lease_ms);
    if run.is_zero() { cfg.lease } else { cfg.lease.min(run) }
}

/// The share of the lease after which a worker whose keeps all failed stops
/// its task: before the lease ends, so that the task is gone by the time
/// Redis can hand the entry to another worker.
pub const SELF_FENCE: (u32, u32) = (5, 6);

/// What the worker shares between its threads.
struct Shared {
    cfg: Config,
    running: Mutex<HashMap<String, Running>>,
    refused: AtomicU64,
    done: AtomicU64,
    stores: Mutex<HashMap<String, Arc<Blobs>>>,
    /// Message id → the stream entry it was taken from (this worker's replay
    /// journal), and the journal's file, opened at its first new line and kept open.
    journal: Mutex<(HashMap<String, String>, Option<std::fs::File>)>,
    /// Signalled when a delivery ends (a slot is free: take the next task now).
    freed: std::sync::Condvar,
    /// Signalled when a delivery is added (its lease is watched from now)
    /// and when the worker stops: wakes the lease guard, which otherwise
    /// sleeps until the next self-fence is due.
    guard: std::sync::Condvar,
    /// Signalled when the worker stops (wakes the heartbeat).
    halt: std::sync::Condvar,
    /// The worker's own audit log, opened at its first record and kept open
    /// (every append locks the log and catches up with what the task `exec`s
    /// appended meanwhile); dropped after a failed append, to be opened anew.
    audit: Mutex<Option<audit::AuditLog>>,
    /// Redis connections of finished deliveries, for the next ones (at most
    /// `capacity` kept).
    idle: Mutex<Vec<redis::Connection>>,
    /// Scratch run directories emptied after their delivery, for the next
    /// ones (at most `capacity` kept): creating and removing four
    /// directories per delivery was a good part of a worker's own CPU time.
    scratch: Mutex<Vec<RunDir>>,
    /// The sha256 of the binary that runs the tasks (`cfg.exe`), hex, shown by
    /// `orchestra workers status`; empty when it could not be read.
    binary_sha256: String,
}

/// The sha256 of the file at `path` in hex (as a blob's), or an empty string
/// when it cannot be read.
fn file_sha256(path: &Path) -> String {
    std::fs::File::open(path)
        .and_then(|mut f| crate::storage::hash_reader(&mut f))
        .map_or_else(|_| String::new(), |b| b.sha256)
}

/// Run the worker until `control` drains it (or the queue fails).
pub fn run(cfg: Config, control: Control) -> Result<(), WorkerError> {
    let state = cfg.state_dir.clone();
    let st = |source| WorkerError::State { path: state.clone(), source };
    std::fs::create_dir_all(state.join("runs")).map_err(st)?;
    let journal = std::fs::read_to_string(state.join("seen")).unwrap_or_default();
    let binary_sha256 = file_sha256(&cfg.exe);
    let shared = Arc::new(Shared {
        journal: Mutex::new((
            journal
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(id, place)| (id.to_string(), place.to_string()))
                .collect(),
            None,
        )),
        freed: std::sync::Condvar::new(),
        guard: std::sync::Condvar::new(),
        halt: std::sync::Condvar::new(),
        cfg,
        running: Mutex::new(HashMap::new()),
        refused: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stores: Mutex::new(HashMap::new()),
        audit: Mutex::new(None),
        idle: Mutex::new(Vec::new()),
        scratch: Mutex::new(Vec::new()),
        binary_sha256,
    });
    let q = &shared.cfg.queue;
    let mut con = q.connect()?;
    let streams = queue::worker_streams(&shared.cfg.labels);
    for s in &streams {
        q.ensure_group(&mut con, s)?;
    }
    let stop_beat = Arc::new(AtomicBool::new(false));
    let beat = {
        let shared = shared.clone();
        let stop = stop_beat.clone();
        std::thread::spawn(move || heartbeat(&shared, &stop))
    };
    // Apart from the heartbeat, which a held Redis command blocks for its
    // reply timeout: the lease is watched by the clock alone.
    let guard = {
        let shared = shared.clone();
        let stop = stop_beat.clone();
        std::thread::spawn(move || lease_guard(&shared, &stop))
    };
    // Delivery threads, kept between deliveries.
    let mut pool = crate::pool::Pool::new();
    let mut last_reclaim = Instant::now() - shared.cfg.lease;
    let mut outage: Option<Instant> = None;
    let result = loop {
        let busy = lock(&shared.running).len();
        if control.draining() {
            if busy == 0 {
                break Ok(());
            }
            wait_freed(&shared, Duration::from_millis(100), |n| n > 0);
            continue;
        }
        if busy >= shared.cfg.capacity {
            // Woken when a delivery ends; the timeout only bounds how late a drain is seen.
            wait_freed(&shared, Duration::from_millis(200), |n| n >= shared.cfg.capacity);
            continue;
        }
        let got = take(&shared, &mut con, &streams, &mut last_reclaim);
        match got {
            Ok(deliveries) => {
                outage = None;
                for d in deliveries {
                    accept(&shared, &mut con, d, &mut pool);
                }
            }
            Err(e) => {
                // Redis restarting: keep trying for a minute, then give up (the
                // entries we hold are reclaimed by others after the lease).
                let since = *outage.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(60) {
                    break Err(WorkerError::Queue(e));
                }
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(c) = q.connect() {
                    con = c;
                    for s in &streams {
                        let _ = q.ensure_group(&mut con, s);
                    }
                }
            }
        }
    };
    pool.join();
    {
        // Under the lock the sleepers check the flag with: none misses it.
        let _running = lock(&shared.running);
        stop_beat.store(true, Ordering::SeqCst);
        shared.guard.notify_all();
        shared.halt.notify_all();
    }
    let _ = beat.join();
    let _ = guard.join();
    let _ = unregister(&shared);
    result
}

/// A delivered entry.
struct Delivery {
    stream: String,
    entry: String,
    raw: Option<Vec<u8>>,
    /// Taken over from another worker (its lease expired).
    reclaimed: bool,
    /// When the command that delivered it was sent (and on `CLOCK_BOOTTIME`).
    asked: Instant,
    asked_boot: Duration,
}

/// Take at most one entry: first one whose lease expired, then a new one.
fn take(
    shared: &Shared,
    con: &mut redis::Connection,
    streams: &[String],
    last_reclaim: &mut Instant,
) -> Result<Vec<Delivery>, QueueError> {
    let q = &shared.cfg.queue;
    let lease_ms = shared.cfg.lease.as_millis() as u64;
    if last_reclaim.elapsed() >= shared.cfg.lease / 4 {
        *last_reclaim = Instant::now();
        for s in streams {
            let (asked, asked_boot) = (Instant::now(), lease::boottime());
            let mut c = redis::cmd("XAUTOCLAIM");
            c.arg(s).arg(GROUP).arg(&shared.cfg.name).arg(lease_ms).arg("0-0").arg("COUNT").arg(1);
            let reply: redis::streams::StreamAutoClaimReply = q.query(con, &c)?;
            if let Some(e) = reply.claimed.into_iter().next() {
                return Ok(vec![Delivery {
                    stream: s.clone(),
                    raw: queue::entry_message(&e),
                    entry: e.id,
                    reclaimed: true,
                    asked,
                    asked_boot,
                }]);
            }
        }
    }
    let mut c = redis::cmd("XREADGROUP");
    c.arg("GROUP").arg(GROUP).arg(&shared.cfg.name).arg("COUNT").arg(1).arg("BLOCK").arg(500).arg("STREAMS");
    for s in streams {
        c.arg(s);
    }
    for _ in streams {
        c.arg(">");
    }
    let (asked, asked_boot) = (Instant::now(), lease::boottime());
    let reply: Option<redis::streams::StreamReadReply> = q.query(con, &c)?;
    let mut out = Vec::new();
    for k in reply.map(|r| r.keys).unwrap_or_default() {
        for e in k.ids {
            out.push(Delivery {
                stream: k.key.clone(),
                raw: queue::entry_message(&e),
                entry: e.id,
                reclaimed: false,
                asked,
                asked_boot,
            });
        }
    }
    Ok(out)
}

/// Why a delivery is not run.
#[derive(Debug)]
struct Refusal {
    reason: &'static str,
    detail: String,
    msg: String,
}

impl From<MessageError> for Refusal {
    fn from(e: MessageError) -> Refusal {
        Refusal { reason: e.reason(), detail: e.to_string(), msg: String::new() }
    }
}

/// Check a delivery; start its task (on a delivery thread of `pool`) or refuse it.
fn accept(shared: &Arc<Shared>, con: &mut redis::Connection, d: Delivery, pool: &mut crate::pool::Pool) {
    let q = &shared.cfg.queue;
    tracing::debug!(mono_us = mono_us(), entry = %d.entry, "worker: delivered");
    let Checked { msg, place } = match check(shared, &d) {
        Ok(m) => m,
        Err(r) => {
            refuse(shared, con, &d, &r);
            return;
        }
    };
    // This worker ran that message from another entry: a replay Redis may
    // have forgotten. Said as Redis remembers it, if it does.
    if lock(&shared.journal).0.get(&msg.id).is_some_and(|first| *first != place) {
        let detail = match first_seen(shared, con, &msg.id, &place) {
            Ok(Some(first)) => format!("message first seen as {first}"),
            _ => "this worker ran that message from another entry".to_string(),
        };
        refuse(shared, con, &d, &Refusal { reason: "replayed", detail, msg: msg.id.clone() });
        return;
    }
    // This worker runs that message already: XAUTOCLAIM handed it its own
    // entry (idle after a Redis write stall, or made to look idle by someone
    // who can write to Redis). The running delivery keeps it: no second copy.
    if lock(&shared.running).contains_key(&msg.id) {
        tracing::warn!(task = %msg.task, entry = %d.entry, "reclaimed an entry this worker is running: not started twice");
        return;
    }
    if d.reclaimed {
        // A replay is refused before anything else is said about it.
        match first_seen(shared, con, &msg.id, &place) {
            Ok(None) => {}
            Ok(Some(first)) => {
                let r = Refusal {
                    reason: "replayed",
                    detail: format!("message first seen as {first}"),
                    msg: msg.id.clone(),
                };
                refuse(shared, con, &d, &r);
                return;
            }
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        }
        // Too many deliveries: the task keeps killing its workers, or they keep dying.
        let mut c = redis::cmd("XPENDING");
        c.arg(&d.stream).arg(GROUP).arg(&d.entry).arg(&d.entry).arg(1);
        let times = q
            .query::<redis::streams::StreamPendingCountReply>(con, &c)
            .ok()
            .and_then(|r| r.ids.first().map(|p| p.times_delivered as u64))
            .unwrap_or(0);
        if times > u64::from(msg.max_deliveries) {
            let error: Option<String> = q.query(con, redis::cmd("GET").arg(queue::error_key(&msg.id))).ok().flatten();
            let ev = WorkerEvent::Lost {
                msg: msg.id.clone(),
                task: msg.task.clone(),
                attempt: msg.attempt,
                deliveries: times,
                worker: shared.cfg.name.clone(),
                error,
            };
            if post(shared, con, &msg.results, &ev).is_ok() {
                ack(shared, con, &d.stream, &d.entry);
            }
            return;
        }
    }
    // Redis's replay note and the fence, in one round trip.
    let token = match claim(shared, con, &msg.id, &place) {
        Ok(Claim::Token(t)) => t,
        Ok(Claim::Replayed(first)) => {
            let r =
                Refusal { reason: "replayed", detail: format!("message first seen as {first}"), msg: msg.id.clone() };
            refuse(shared, con, &d, &r);
            return;
        }
        Err(e) => {
            // Not run, not acknowledged: reclaimed after the lease.
            tracing::warn!("{e}");
            return;
        }
    };
    tracing::debug!(mono_us = mono_us(), task = %msg.task, entry = %d.entry, "worker: claimed");
    journal(shared, &msg.id, &place);
    let nonce = crate::message::nonce();
    lock(&shared.running).insert(
        msg.id.clone(),
        Running {
            stream: d.stream.clone(),
            entry: d.entry.clone(),
            msg: msg.id.clone(),
            token,
            results: msg.results.clone(),
            handle: None,
            lost: false,
            interrupted: false,
            kept: d.asked,
            kept_boot: d.asked_boot,
            stopping: false,
            lease: delivery_lease(&shared.cfg, &msg),
            feed: None,
        },
    );
    shared.guard.notify_all();
    // Its `started` event goes out here, on this thread (running already),
    // so that the orchestrator reads it while a delivery thread wakes to
    // wait for the go-ahead; said again there if this failed (see `go_ahead`).
    let said = send(shared, con, &msg.results, &started_event(shared, &msg, token, &nonce)).is_ok();
    let shared = shared.clone();
    pool.submit(move || execute(&shared, &d, &msg, token, &nonce, said));
}

/// Authenticate a delivery and check it is meant for this worker, now, once.
fn check(shared: &Shared, d: &Delivery) -> Result<Checked, Refusal> {
    let raw = d.raw.as_deref().ok_or_else(|| Refusal {
        reason: "malformed",
        detail: "no `m` field".into(),
        msg: String::new(),
    })?;
    let (msg, _key) = Envelope::open::<TaskMessage>(raw, Kind::Task, &shared.cfg.trusted)?;
    let refuse = |reason, detail: String| Refusal { reason, detail, msg: msg.id.clone() };
    let now = now_ms();
    if msg.expires_ms < now {
        return Err(refuse("expired", format!("expired {} ms ago", now - msg.expires_ms)));
    }
    // A first delivery must be timely; a takeover (the same entry, its worker
    // silent for a lease) may come later, while the task could still be running.
    if !d.reclaimed && msg.take_by_ms < now {
        return Err(refuse("expired", format!("first taken {} ms after its take-by time", now - msg.take_by_ms)));
    }
    if queue::tasks_stream(&msg.runs_on) != d.stream {
        return Err(refuse("misrouted", format!("labels {:?} in stream {}", msg.runs_on, d.stream)));
    }
    if msg.id.len() != 32 || !msg.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse("malformed", "bad message id".into()));
    }
    // A replay (the same message in another entry) is found by `accept`:
    // Redis's note is checked (and set) in the script that draws the fencing
    // token (see `claim`), this worker's own journal before it.
    let place = format!("{} {}", d.stream, d.entry);
    Ok(Checked { msg, place })
}

/// A delivery that passed [`check`]: its message, and its place (`"<stream> <entry>"`).
struct Checked {
    msg: TaskMessage,
    place: String,
}

/// `KEYS[1]` the message's seen key, `KEYS[2]` its fence; `ARGV` the
/// delivery's place (`"<stream> <entry>"`), the keys' lifetime in seconds.
/// A replay (the message first seen in another entry) returns `{0, first
/// place}` and draws nothing; otherwise the seen key is set if absent and the
/// fence is incremented (its expiry renewed): `{1, token}`. One step, so a
/// replay never moves the fence.
const CLAIM: &str = "\
local fresh = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if not fresh then
  local first = redis.call('GET', KEYS[1])
  if first ~= ARGV[1] then return {0, first or ''} end
end
local t = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {1, t}";

/// What [`claim`] found.
enum Claim {
    /// This delivery's fencing token.
    Token(u64),
    /// The message was first seen in another entry (that place).
    Replayed(String),
}

/// Check Redis's note of where the message was first seen (set it when
/// absent) and, unless this is a replay, draw the delivery's fencing token:
/// one round trip.
fn claim(shared: &Shared, con: &mut redis::Connection, msg: &str, place: &str) -> Result<Claim, QueueError> {
    let mut c = redis::cmd("EVAL");
    c.arg(CLAIM).arg(2).arg(queue::seen_key(msg)).arg(queue::fence_key(msg)).arg(place).arg(queue::SEEN_TTL_S);
    let q = &shared.cfg.queue;
    match q.query::<(i64, redis::Value)>(con, &c)? {
        (1, redis::Value::Int(t)) if t > 0 => Ok(Claim::Token(t as u64)),
        (0, first) => {
            Ok(Claim::Replayed(<String as redis::FromRedisValue>::from_redis_value(first).unwrap_or_default()))
        }
        _ => Err(QueueError::Redis {
            url: q.url().to_string(),
            source: (redis::ErrorKind::UnexpectedReturnType, "unexpected reply to the claim script").into(),
        }),
    }
}

/// Where Redis first saw message `msg` when that is not `place` (a replay);
/// notes `place` when it saw it nowhere yet.
fn first_seen(
    shared: &Shared,
    con: &mut redis::Connection,
    msg: &str,
    place: &str,
) -> Result<Option<String>, QueueError> {
    let q = &shared.cfg.queue;
    let mut set = redis::cmd("SET");
    set.arg(queue::seen_key(msg)).arg(place).arg("NX").arg("EX").arg(queue::SEEN_TTL_S);
    if q.query::<Option<String>>(con, &set)?.is_some() {
        return Ok(None);
    }
    let first: Option<String> = q.query(con, redis::cmd("GET").arg(queue::seen_key(msg)))?;
    Ok(if first.as_deref() == Some(place) { None } else { Some(first.unwrap_or_default()) })
}

/// Note in this worker's replay journal that `msg` was run from `place`.
fn journal(shared: &Shared, msg: &str, place: &str) {
    let mut journal = lock(&shared.journal);
    let (seen, file) = &mut *journal;
    if seen.contains_key(msg) {
        return;
    }
    // Not fsynced: the go-ahead is what stops a replay; this journal is a
    // second line for this worker, kept across its restarts.
    if file.is_none() {
        *file = std::fs::OpenOptions::new().create(true).append(true).open(shared.cfg.state_dir.join("seen")).ok();
    }
    if let Some(f) = file.as_mut()
        && writeln!(f, "{msg} {place}").is_err()
    {
        *file = None;
    }
    seen.insert(msg.to_string(), place.to_string());
}

/// Acknowledge a refused delivery, say why (stream, audit log, status).
fn refuse(shared: &Shared, con: &mut redis::Connection, d: &Delivery, r: &Refusal) {
    let n = shared.refused.fetch_add(1, Ordering::SeqCst) + 1;
    let body = serde_json::json!({
        "stream": d.stream, "entry": d.entry, "reason": r.reason, "detail": r.detail, "msg": r.msg,
    });
    // Anyone who can write to Redis can make refusals: the first 100 are
    // recorded one by one, then one in a thousand (the count is in the status).
    if n <= 100 || n.is_multiple_of(1000) {
        tracing::warn!(stream = %d.stream, entry = %d.entry, reason = r.reason, refused = n, "refused a task message: {}", r.detail);
        record(shared, audit::Kind::MessageRefused, body.clone());
    }
    let q = &shared.cfg.queue;
    let mut c = redis::cmd("XADD");
    c.arg(queue::REFUSED).arg("MAXLEN").arg("~").arg(1000).arg("*").arg("worker").arg(&shared.cfg.name);
    c.arg("record").arg(body.to_string());
    let _ = q.query::<String>(con, &c);
    ack(shared, con, &d.stream, &d.entry);
}

/// `KEYS[1]` stream, `ARGV` group, entry, consumer: acknowledge and delete
/// the entry only if it is still pending for that consumer; 1 if it was.
const ACK_IF_MINE: &str = "\
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #p == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1";

/// Acknowledge and delete an entry this worker holds. Checked and done in
/// one script: a worker that was frozen past its lease, whose task ended
/// meanwhile, must not acknowledge the entry another worker took over (that
/// worker would see it gone and stop its task).
fn ack(shared: &Shared, con: &mut redis::Connection, stream: &str, entry: &str) {
    let mut c = redis::cmd("EVAL");
    c.arg(ACK_IF_MINE).arg(1).arg(stream).arg(GROUP).arg(entry).arg(&shared.cfg.name);
    if let Ok(0) = shared.cfg.queue.query::<i64>(con, &c) {
        tracing::warn!(entry = %entry, "not acknowledged: another worker holds this entry now");
    }
}

/// Append a record to the worker's own audit log; its state after, if it could.
fn record(shared: &Shared, kind: audit::Kind, body: serde_json::Value) -> Option<AuditRef> {
    let dir = &shared.cfg.audit_dir;
    let mut slot = lock(&shared.audit);
    if slot.is_none() {
        let ring = audit::KeyRing::at(&audit::default_key_path());
        match audit::AuditLog::open_ring(dir, &ring) {
            Ok(l) => *slot = Some(l),
            Err(e) => {
                tracing::warn!("worker audit log {}: {e}", dir.display());
                return None;
            }
        }
    }
    let log = slot.as_mut()?;
    let body = audit::events::stamp(audit::events::with_context(body), None);
    if let Err(e) = log.append(kind, body).and_then(|_| log.sync()) {
        tracing::warn!("worker audit log {}: {e}", dir.display());
        *slot = None;
        return None;
    }
    Some(AuditRef {
        log_id: log.log_id().iter().map(|b| format!("{b:02x}")).collect(),
        size: log.next_seq(),
        checkpoint: log.latest_checkpoint().map(str::to_string),
    })
}

/// The command that appends `ev`, signed, to the results stream `stream`.
/// NOMKSTREAM: a session that ended deleted its results stream; an event
/// for it (a delivery that outlived its run) must not create it again and
/// leave task output in Redis. Nobody listens: the event is dropped.
fn event_command(shared: &Shared, stream: &str, ev: &WorkerEvent) -> redis::Cmd {
    let env = Envelope::seal(Kind::Event, ev, &shared.cfg.key).map(|e| e.to_json()).unwrap_or_default();
    let mut c = redis::cmd("XADD");
    c.arg(stream).arg("NOMKSTREAM").arg("*").arg("m").arg(env);
    c
}

/// Sign and append an event to a results stream, once.
fn send(shared: &Shared, con: &mut redis::Connection, stream: &str, ev: &WorkerEvent) -> Result<(), QueueError> {
    let c = event_command(shared, stream, ev);
    if shared.cfg.queue.query::<Option<String>>(con, &c)?.is_none() {
        tracing::debug!(stream, "the run's results stream is gone: event dropped");
    }
    Ok(())
}

/// [`send`], retried for a while: the event that lets an entry be
/// acknowledged must not be lost to a blip.
fn post(shared: &Shared, con: &mut redis::Connection, stream: &str, ev: &WorkerEvent) -> Result<(), QueueError> {
    let q = &shared.cfg.queue;
    let mut delay = Duration::from_millis(100);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match send(shared, con, stream, ev) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
                if let Ok(c) = q.connect() {
                    *con = c;
                }
            }
        }
    }
}

/// `KEYS[1]` the results stream, `KEYS[2]` the task stream; `ARGV` the
/// signed event, the group, the entry, the consumer, `1` to acknowledge:
/// append the event (not creating the stream), then, if asked, acknowledge
/// and delete the entry only if it is still pending for that consumer.
/// Returns `{appended, acknowledged}` (1 or 0 each; -1: the entry's stream
/// or group is gone, as after a Redis restart without its data). One step:
/// the acknowledgement never comes without the event before it (an error in
/// the append ends the script), and a retry never appends the event twice
/// because the acknowledgement failed.
const FINISH: &str = "\
local id = redis.call('XADD', KEYS[1], 'NOMKSTREAM', '*', 'm', ARGV[1])
local appended = 0
if id then appended = 1 end
if ARGV[5] ~= '1' then return {appended, 0} end
local p = redis.pcall('XPENDING', KEYS[2], ARGV[2], ARGV[3], ARGV[3], 1, ARGV[4])
if p.err then return {appended, -1} end
if #p == 0 then return {appended, 0} end
redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])
redis.call('XDEL', KEYS[2], ARGV[3])
return {appended, 1}";

/// [`post`] the delivery's final event and, with `entry` (its stream and
/// entry, still this worker's), acknowledge the entry after it, in one round
/// trip ([`FINISH`]); retried as [`post`] is.
fn finish(
    shared: &Shared,
    con: &mut redis::Connection,
    stream: &str,
    ev: &WorkerEvent,
    entry: Option<(&String, &String)>,
) -> Result<(), QueueError> {
    let q = &shared.cfg.queue;
    let env = Envelope::seal(Kind::Event, ev, &shared.cfg.key).map(|e| e.to_json()).unwrap_or_default();
    let mut c = redis::cmd("EVAL");
    c.arg(FINISH).arg(2).arg(stream).arg(entry.map_or("", |e| e.0.as_str())).arg(env).arg(GROUP);
    c.arg(entry.map_or("", |e| e.1.as_str())).arg(&shared.cfg.name).arg(if entry.is_some() { "1" } else { "0" });
    let mut delay = Duration::from_millis(100);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match q.query::<(i64, i64)>(con, &c) {
            Ok((appended, acked)) => {
                if appended == 0 {
                    tracing::debug!(stream, "the run's results stream is gone: event dropped");
                }
                match (entry, acked) {
                    (Some((_, entry)), 0) => {
                        tracing::warn!(entry = %entry, "not acknowledged: another worker holds this entry now");
                    }
                    (Some((stream, entry)), -1) => {
                        tracing::warn!(entry = %entry, stream = %stream, "not acknowledged: the stream or its group is gone");
                    }
                    _ => {}
                }
                return Ok(());
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
                if let Ok(c) = q.connect() {
                    *con = c;
                }
            }
        }
    }
}

/// The blob store a message names (or the worker's override), opened once.
fn store(shared: &Shared, url: &str) -> Result<Arc<Blobs>, StorageError> {
    let url = shared.cfg.storage.as_deref().unwrap_or(url);
    let mut stores = lock(&shared.stores);
    if let Some(s) = stores.get(url) {
        return Ok(s.clone());
    }
    let s = Arc::new(Blobs::open(url)?);
    stores.insert(url.to_string(), s.clone());
    Ok(s)
}

/// Run one delivery to its end, upload, post, acknowledge.
fn execute(shared: &Arc<Shared>, d: &Delivery, msg: &TaskMessage, token: u64, nonce: &str, said: bool) {
    let q = &shared.cfg.queue;
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: delivery thread");
    let idle = lock(&shared.idle).pop();
    let mut con = match idle.map_or_else(|| q.connect(), Ok) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{e}");
            lock(&shared.running).remove(&msg.id);
            shared.freed.notify_all();
            return;
        }
    };
    let scratch = deliver(shared, d, msg, token, nonce, said, &mut con);
    {
        let mut idle = lock(&shared.idle);
        if idle.len() < shared.cfg.capacity {
            idle.push(con);
        }
    }
    // Once the slot and the connection are free for the next delivery.
    if let Some(run) = scratch {
        recycle(&shared.scratch, scratch_kept(&shared.cfg), run);
    }
}

/// [`execute`] on a connection (kept for the next delivery: every command on
/// it either completed or replaced it with a fresh one); returns the scratch
/// run directory the task ran in, to be emptied once the slot is free.
fn deliver(
    shared: &Arc<Shared>,
    d: &Delivery,
    msg: &TaskMessage,
    token: u64,
    nonce: &str,
    said: bool,
    con: &mut redis::Connection,
) -> Option<RunDir> {
    let q = &shared.cfg.queue;
    let go = go_ahead(shared, con, msg, token, nonce, said);
    if go == Go::Unsaid {
        // Not run, not acknowledged: reclaimed after the lease.
        lock(&shared.running).remove(&msg.id);
        shared.freed.notify_all();
        return None;
    }
    if go == Go::Cancelled {
        // The run stopped the attempt before it began: done with, nothing to refuse.
        ack(shared, con, &d.stream, &d.entry);
        lock(&shared.running).remove(&msg.id);
        shared.freed.notify_all();
        return None;
    }
    if go == Go::Silent {
        // The run is not waiting for this delivery (it ended, or the message
        // is a replay): never run it; tell a run that might still listen.
        let r = Refusal {
            reason: "no_go_ahead",
            detail: format!(
                "no go-ahead from the orchestrator within {}",
                humantime::format_duration(shared.cfg.go_wait)
            ),
            msg: msg.id.clone(),
        };
        let lost = WorkerEvent::Lost {
            msg: msg.id.clone(),
            task: msg.task.clone(),
            attempt: msg.attempt,
            deliveries: token,
            worker: shared.cfg.name.clone(),
            error: Some("no go-ahead from the orchestrator".into()),
        };
        let _ = post(shared, con, &msg.results, &lost);
        refuse(shared, con, d, &r);
        lock(&shared.running).remove(&msg.id);
        shared.freed.notify_all();
        return None;
    }
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: go-ahead");
    let (outcome, scratch) = run_task(shared, con, msg, token);
    let (still_ours, interrupted) =
        lock(&shared.running).get(&msg.id).map_or((false, false), |r| (!r.lost, r.interrupted));
    match outcome {
        Ok(mut ev) => {
            // Stopped (interrupted while it ran) because another delivery
            // took the entry over: said, so that the orchestrator refuses it
            // (fenced) even while that delivery still waits for its go-ahead.
            // A run that had ended before the stop is whole and says so. Not
            // acknowledged either way: the entry is no longer ours.
            // A run that did not end well while the entry was no longer
            // ours was cut short, by this worker or by the task's own
            // dead-man switch (which a worker stop no longer reaches).
            if let WorkerEvent::Finished { stopped, exec_status, .. } = &mut ev {
                *stopped = interrupted || (!still_ours && *exec_status != 0);
            }
            let _ = finish(shared, con, &msg.results, &ev, still_ours.then_some((&d.stream, &d.entry)));
            tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: finished and acknowledged");
            shared.done.fetch_add(1, Ordering::SeqCst);
        }
        // Not acknowledged: after the lease another worker (or this one) runs it again.
        Err(e) => {
            tracing::warn!(task = %msg.task, "{e}");
            // Said for whichever worker gives up on the task after the retries.
            let line = format!("worker {}: {e}", shared.cfg.name);
            let _ = q.query::<()>(
                con,
                redis::cmd("SET").arg(queue::error_key(&msg.id)).arg(line).arg("EX").arg(queue::SEEN_TTL_S),
            );
        }
    }
    lock(&shared.running).remove(&msg.id);
    shared.freed.notify_all();
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: slot freed");
    scratch
}

/// While `busy(running deliveries)` holds, until a delivery ends, or `at_most`
/// (checked under the lock the ending delivery takes: no wake-up is missed).
fn wait_freed(shared: &Shared, at_most: Duration, busy: impl Fn(usize) -> bool) {
    let running = lock(&shared.running);
    if busy(running.len())
        && let Ok((guard, _)) = shared.freed.wait_timeout(running, at_most)
    {
        drop(guard);
    }
}

/// How long a worker waits for the orchestrator's go-ahead, by default.
pub const GO_WAIT: Duration = Duration::from_secs(60);

/// What became of the wait for a go-ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Go {
    /// The orchestrator's signed go-ahead for this very delivery.
    Ahead,
    /// The run cancelled the attempt (its cancel key is set).
    Cancelled,
    /// Nothing within `go_wait`: the run is not waiting for this delivery.
    Silent,
    /// The delivery's `started` event could not be sent (Redis unreachable
    /// for a minute): nothing asked for a go-ahead.
    Unsaid,
}

/// The `started` event of a delivery: its token and a fresh nonce, which the
/// orchestrator's go-ahead for this very delivery names.
fn started_event(shared: &Shared, msg: &TaskMessage, token: u64, nonce: &str) -> WorkerEvent {
    WorkerEvent::Started {
        msg: msg.id.clone(),
        task: msg.task.clone(),
        attempt: msg.attempt,
        token,
        worker: shared.cfg.name.clone(),
        nonce: nonce.to_string(),
    }
}

/// Wait for the orchestrator's signed go-ahead for this very delivery, once
/// its signed `started` event is out: `said` (sent by the thread that took
/// the delivery), or sent here in the round trip of the first wait (Redis
/// runs them in order: the event is in the results stream before the wait
/// begins).
fn go_ahead(
    shared: &Shared,
    con: &mut redis::Connection,
    msg: &TaskMessage,
    token: u64,
    nonce: &str,
    said: bool,
) -> Go {
    let q = &shared.cfg.queue;
    let key = queue::go_key(&msg.id, nonce);
    let first_wait = shared.cfg.go_wait.as_secs_f64().clamp(0.01, 1.0);
    let mut first: Option<Option<(String, Vec<u8>)>> = None;
    if !said {
        let started = started_event(shared, msg, token, nonce);
        let mut pipe = redis::pipe();
        pipe.add_command(event_command(shared, &msg.results, &started)).ignore();
        pipe.cmd("BLPOP").arg(&key).arg(first_wait);
        first = match q.query_pipe::<(Option<(String, Vec<u8>)>,)>(con, &pipe) {
            Ok((g,)) => Some(g),
            Err(_) => {
                // Sent or not: said again (a second `started` of the same token
                // is ignored), with `post`'s retries.
                if let Err(e) = post(shared, con, &msg.results, &started) {
                    tracing::warn!("{e}");
                    return Go::Unsaid;
                }
                None
            }
        };
    }
    let deadline = Instant::now() + shared.cfg.go_wait;
    while Instant::now() < deadline {
        let got = match first.take() {
            Some(g) => g,
            None => {
                // Waits of at most a second: a run that stopped the attempt meanwhile
                // sets its cancel key, and the slot must not stay taken until `go_wait`.
                let wait = deadline.saturating_duration_since(Instant::now()).as_secs_f64().clamp(0.01, 1.0);
                match q.query(con, redis::cmd("BLPOP").arg(&key).arg(wait)) {
                    Ok(g) => g,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(200));
                        match q.connect() {
                            Ok(c) => *con = c,
                            Err(_) => continue,
                        }
                        continue;
                    }
                }
            }
        };
        let Some((_, raw)) = got else {
            if let Ok(true) = q.query::<bool>(con, redis::cmd("EXISTS").arg(queue::cancel_key(&msg.id))) {
                tracing::debug!(task = %msg.task, "the run cancelled this task before its go-ahead");
                return Go::Cancelled;
            }
            continue;
        };
        match Envelope::open::<crate::message::GoAhead>(&raw, Kind::Go, &shared.cfg.trusted) {
            Ok((g, _)) if g.msg == msg.id && g.token == token && g.worker == shared.cfg.name && g.nonce == nonce => {
                return Go::Ahead;
            }
            Ok(_) | Err(_) => tracing::warn!(task = %msg.task, "a go-ahead that is not for this delivery was ignored"),
        }
    }
    Go::Silent
}

/// Why a delivery could not be completed (it stays pending, to be reclaimed).
#[derive(Debug, thiserror::Error)]
enum TaskError {
    #[error("scratch run directory: {0}")]
    Scratch(#[from] orchestra_orchestrator::runstore::RunStoreError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("outputs: {0}")]
    Outputs(String),
    #[error("policy file {}: {source}", path.display())]
    Policy { path: PathBuf, source: std::io::Error },
    #[error("lease FIFO {}: {source}", path.display())]
    Lease { path: PathBuf, source: std::io::Error },
}

/// Run the delivery's task in a scratch run directory (an emptied one
/// kept from an earlier delivery, or a new one), store its results; the
/// directory comes back with the result, for [`recycle`] once the delivery
/// is done with (its emptying is off the critical path).
fn run_task(
    shared: &Shared,
    con: &mut redis::Connection,
    msg: &TaskMessage,
    token: u64,
) -> (Result<WorkerEvent, TaskError>, Option<RunDir>) {
    let cfg = &shared.cfg;
    let blobs = match store(shared, &msg.storage) {
        Ok(b) => b,
        Err(e) => return (Err(e.into()), None),
    };
    let reused = lock(&shared.scratch).pop();
    let run = match reused
        .map_or_else(|| RunsDir::open(&cfg.state_dir.join("runs"), None).and_then(|d| RunDir::create_in(&d)), Ok)
    {
        Ok(r) => r,
        Err(e) => return (Err(e.into()), None),
    };
    let result = run_in(shared, con, msg, token, &run, &blobs);
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: run ended");
    (result, Some(run))
}

/// Scratch run directories kept emptied, at most: each of `capacity`
/// deliveries may hold one while as many wait to be emptied.
fn scratch_kept(cfg: &Config) -> usize {
    cfg.capacity.saturating_mul(2)
}

/// Empty a delivery's scratch run directory for the next delivery (nothing
/// of this one may be read as its) and keep it in `kept`; removed instead
/// when that fails or `limit` are kept. Called after the delivery freed its
/// slot: the file removals (each a synchronous discard on some disks) are
/// off the critical path. A directory is in `kept` only once emptied.
fn recycle(kept: &Mutex<Vec<RunDir>>, limit: usize, run: RunDir) {
    if lock(kept).len() < limit && empty_scratch(&run.path) {
        let mut kept = lock(kept);
        if kept.len() < limit {
            kept.push(run);
            return;
        }
    }
    let _ = std::fs::remove_dir_all(&run.path);
}

/// The dead-man switch's FIFO in a scratch run directory.
const LEASE_FIFO: &str = "lease";

/// What a scratch run directory holds between deliveries: these, empty.
const SCRATCH_DIRS: [&str; 3] = ["logs", "reports", "artifacts"];

/// Empty the scratch run directory `dir` back to its three empty
/// subdirectories; false if anything could not be removed. The directory
/// lies in the worker's state directory, which no task sees.
fn empty_scratch(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut ok = true;
    for e in entries {
        let Ok(e) = e else { return false };
        let path = e.path();
        let keep = e.file_type().is_ok_and(|t| t.is_dir()) && SCRATCH_DIRS.iter().any(|d| e.file_name() == *d);
        if !keep {
            ok &= remove_any(&path);
            continue;
        }
        let Ok(inner) = std::fs::read_dir(&path) else { return false };
        for x in inner {
            ok &= x.is_ok_and(|x| remove_any(&x.path()));
        }
    }
    ok && SCRATCH_DIRS.iter().all(|d| dir.join(d).is_dir())
}

/// Remove `path` (a file, a link, or a directory tree; links not followed).
fn remove_any(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).is_ok(),
        Ok(_) => std::fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}

/// The effective policy `yaml` as a file in the state directory, named by its
/// own sha256 (written once; `exec` checks it against the message's hash).
fn policy_file(shared: &Shared, yaml: &str) -> Result<PathBuf, TaskError> {
    let hex = Blob::of(yaml.as_bytes()).sha256;
    let dir = shared.cfg.state_dir.join("policies");
    let path = dir.join(format!("{hex}.yaml"));
    if std::fs::read(&path).is_ok_and(|b| b == yaml.as_bytes()) {
        return Ok(path);
    }
    let io = |source| TaskError::Policy { path: path.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    tmp.write_all(yaml.as_bytes()).map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(path)
}

fn run_in(
    shared: &Shared,
    con: &mut redis::Connection,
    msg: &TaskMessage,
    token: u64,
    run: &RunDir,
    blobs: &Blobs,
) -> Result<WorkerEvent, TaskError> {
    let cfg = &shared.cfg;
    let policy = policy_file(shared, &msg.policy_yaml)?;
    let workdir = cfg.workspace.clone().unwrap_or_else(|| msg.workdir.clone());
    let attempt = Attempt {
        task: msg.task.clone(),
        number: msg.attempt,
        argv: msg.argv.clone(),
        policy: policy.to_string_lossy().into_owned(),
        policy_sha256: msg.policy_sha256.clone(),
        env: msg.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        timeout: msg.timeout.clone(),
        workdir: workdir.clone(),
        audit_dir: cfg.audit_dir.clone(),
        run_id: msg.run_id.clone(),
        protect: protected(cfg, msg),
        run: run.clone(),
        report: run.task_report_rel(&msg.task),
        log: run.log_rel(&msg.task),
        container_pool: None,
        lease: Some((PathBuf::from(LEASE_FIFO), delivery_lease(cfg, msg))),
    };
    // The dead-man switch exec watches: made in the scratch run directory
    // (exec's working directory), held open here for reading and writing,
    // so that it has a writer for as long as this worker lives.
    let fifo = run.path.join(LEASE_FIFO);
    let io = |source| TaskError::Lease { path: fifo.clone(), source };
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| io(e.into()))?;
    let feed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(io)?;
    if let Some(r) = lock(&shared.running).get_mut(&msg.id) {
        // The deadline the delivering read bought, there before exec starts.
        let _ = (&feed).write(&lease::deadline(r.kept_boot, r.lease));
        r.feed = Some(feed);
    }
    let log_path = run.path.join(&attempt.log);
    let report_path = run.path.join(&attempt.report);
    // Spawned and waited for on this delivery thread (no waiter thread):
    // the pool keeps it alive past the task, as its parent-death signal needs.
    let mut sent = 0u64;
    let outcome = match local::Spawned::new(&cfg.exe, attempt) {
        Ok(task) => {
            if let Some(r) = lock(&shared.running).get_mut(&msg.id) {
                r.started(task.handle());
            }
            // Stream the log while the task runs.
            while !task.ended_within(Duration::from_millis(100)) {
                sent = stream_log(shared, con, msg, token, &log_path, sent);
            }
            task.wait()
        }
        Err(failed) => *failed,
    };
    stream_log(shared, con, msg, token, &log_path, sent);
    let ok = outcome.report.as_ref().is_some_and(|r| r.cause == orchestra_orchestrator::sandbox::report::Cause::Ok);
    let mut outputs = Vec::new();
    if ok && !msg.outputs.is_empty() {
        let dest = Path::new("artifacts");
        orchestra_orchestrator::orchestrator::artifacts::collect(
            &workdir,
            &msg.outputs,
            run,
            dest,
            &[cfg.state_dir.clone(), cfg.audit_dir.clone(), workdir.join(".orchestra")],
        )
        .map_err(|e| TaskError::Outputs(e.to_string()))?;
        for (rel, abs) in files_below(&run.path.join(dest)) {
            outputs.push(Output { path: rel, blob: blobs.put_file(&abs)? });
        }
    }
    let log = if log_path.exists() { blobs.put_file(&log_path)? } else { blobs.put_bytes(b"")? };
    let report: Option<Blob> = if report_path.exists() { Some(blobs.put_file(&report_path)?) } else { None };
    // Durable before the `finished` event names them (and so before the acknowledgement).
    blobs.sync()?;
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: blobs stored");
    let body = serde_json::json!({
        "msg": msg.id, "task": msg.task, "attempt": msg.attempt, "token": token,
        "exec_status": outcome.exec_status, "log_sha256": log.sha256,
        "report_sha256": report.as_ref().map(|b| b.sha256.clone()), "outputs": outputs.len(),
    });
    let audit = record(shared, audit::Kind::DeliveryEnded, body);
    tracing::debug!(mono_us = mono_us(), task = %msg.task, "worker: delivery recorded");
    Ok(WorkerEvent::Finished {
        msg: msg.id.clone(),
        task: msg.task.clone(),
        attempt: msg.attempt,
        token,
        worker: cfg.name.clone(),
        exec_status: outcome.exec_status,
        report,
        error: outcome.error,
        log,
        outputs,
        process_ms: outcome.process_time.as_millis() as u64,
        audit,
        stopped: false,
    })
}

/// What a task must not see: the worker's state directory, the local blob
/// store it writes unsandboxed, and what the message names (the
/// orchestrator's runs directory, for a worker on the orchestrator's host).
fn protected(cfg: &Config, msg: &TaskMessage) -> Vec<PathBuf> {
    let mut v = vec![cfg.state_dir.clone()];
    let storage = cfg.storage.as_deref().unwrap_or(&msg.storage);
    if let Some(dir) = crate::storage::local_dir(storage) {
        v.push(dir);
    }
    for p in &msg.protect {
        if p.is_absolute() && !v.contains(p) {
            v.push(p.clone());
        }
    }
    v
}

/// Send what the log gained since `sent` (in chunks of at most 32 KiB);
/// returns the new offset. Live output is best effort: the whole log is
/// stored at the end and is what the run keeps.
fn stream_log(
    shared: &Shared,
    con: &mut redis::Connection,
    msg: &TaskMessage,
    token: u64,
    path: &Path,
    mut sent: u64,
) -> u64 {
    use base64::Engine as _;
    let Ok(mut f) = std::fs::File::open(path) else { return sent };
    // Nothing new (most ticks): no buffer, no read.
    if !f.metadata().is_ok_and(|m| m.len() > sent) || f.seek(std::io::SeekFrom::Start(sent)).is_err() {
        return sent;
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => return sent,
            Ok(n) => n,
        };
        let ev = WorkerEvent::Log {
            msg: msg.id.clone(),
            token,
            offset: sent,
            data: base64::engine::general_purpose::STANDARD.encode(&buf[..n]),
        };
        if send(shared, con, &msg.results, &ev).is_err() {
            return sent;
        }
        sent += n as u64;
    }
}

/// Regular files below `root`, as (relative path, absolute path), sorted.
fn files_below(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = p.strip_prefix(root) {
                        out.push((rel.to_string_lossy().into_owned(), p.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Every third of the lease: keep our entries, obey cancels, notice lost
/// leases, publish our status.
fn heartbeat(shared: &Shared, stop: &AtomicBool) {
    let q = &shared.cfg.queue;
    let mut con: Option<redis::Connection> = None;
    while !stop.load(Ordering::SeqCst) {
        // Every third of the shortest lease held (a message's may be shorter).
        let shortest = lock(&shared.running).values().map(|r| r.lease).fold(shared.cfg.lease, Duration::min);
        let every = (shortest / 3).max(Duration::from_millis(100));
        // The period runs from the start of a beat, not from its end: a beat
        // slowed by a loaded Redis must not push the next keep later by its
        // own length (the entries' idle time in Redis counts on).
        let began = Instant::now();
        if con.is_none() {
            con = q.connect().ok();
        }
        if let Some(c) = con.as_mut()
            && beat(shared, c).is_err()
        {
            con = None;
        }
        let until = began + every;
        let mut running = lock(&shared.running);
        while !stop.load(Ordering::SeqCst) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            running = shared.halt.wait_timeout(running, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }
}

/// Stop each task whose entry could not be re-claimed for [`SELF_FENCE`] of
/// the lease (see the module's guarantees): checked when the next one is
/// due (and whenever a delivery is added), at most [`GUARD_EVERY`] apart.
fn lease_guard(shared: &Shared, stop: &AtomicBool) {
    let (num, den) = SELF_FENCE;
    let mut running = lock(&shared.running);
    while !stop.load(Ordering::SeqCst) {
        for r in running.values_mut().filter(|r| !r.lost && r.kept.elapsed() >= r.lease * num / den) {
            let limit = r.lease * num / den;
            tracing::warn!(
                entry = %r.entry,
                msg = %r.msg,
                "the entry could not be re-claimed for {} ms (Redis unreachable or holding writes): stopping its task before another worker can take it over",
                limit.as_millis()
            );
            r.stop(true);
        }
        // Keeps only move a deadline later: waking at the earliest one known
        // now is never late.
        let next = running
            .values()
            .filter(|r| !r.lost)
            .map(|r| (r.kept + r.lease * num / den).saturating_duration_since(Instant::now()))
            .min()
            .unwrap_or(GUARD_EVERY);
        let wait = next.clamp(Duration::from_millis(1), GUARD_EVERY);
        running = shared.guard.wait_timeout(running, wait).map_or_else(|p| p.into_inner().0, |(g, _)| g);
    }
}

/// The longest the lease guard sleeps.
const GUARD_EVERY: Duration = Duration::from_secs(1);

/// `KEYS[1]` stream, `ARGV` group, entry, consumer: re-claim the entry (its
/// idle time reset) only if it is still pending for that consumer; 1 if it was.
const KEEP_IF_MINE: &str = "\
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1";

fn beat(shared: &Shared, con: &mut redis::Connection) -> Result<(), QueueError> {
    let q = &shared.cfg.queue;
    let held: Vec<(String, String, String, u64, String, bool)> = lock(&shared.running)
        .values()
        .filter(|r| !r.lost)
        .map(|r| (r.stream.clone(), r.entry.clone(), r.msg.clone(), r.token, r.results.clone(), r.handle.is_some()))
        .collect();
    // Every entry is kept first, and only then is the rest asked and said
    // (cancels, `alive` events, the status): the time between two keeps of an
    // entry is the heartbeat's period plus one round trip per entry held, not
    // plus the whole of the slower rest, which a loaded Redis stretches.
    let mut kept_each = Vec::with_capacity(held.len());
    for (stream, entry, msg, ..) in &held {
        // Still ours? Then keep it (idle time reset). Checked and claimed in
        // one script, atomically: a worker frozen or delayed between a check
        // and a claim must not take back an entry another worker took over
        // meanwhile (the rightful holder would see it gone and stop its task).
        let mut keep = redis::cmd("EVAL");
        keep.arg(KEEP_IF_MINE).arg(1).arg(stream).arg(GROUP).arg(entry).arg(&shared.cfg.name);
        let (sent, sent_boot) = (Instant::now(), lease::boottime());
        // No such stream or group: Redis lost them (restarted without its
        // data), and with them the entry: no longer ours (review 64, F2).
        let kept: i64 = match q.query(con, &keep) {
            Err(QueueError::Redis { source, .. }) if source.code() == Some("NOGROUP") => 0,
            other => other?,
        };
        if kept == 1
            && let Some(r) = lock(&shared.running).get_mut(msg)
        {
            let gap = sent.saturating_duration_since(r.kept);
            if gap > r.lease / 2 {
                tracing::warn!(
                    entry = %entry,
                    "kept {} ms after the last keep (lease {} ms): the heartbeat is late",
                    gap.as_millis(),
                    r.lease.as_millis()
                );
            }
            r.kept = sent;
            r.kept_boot = sent_boot;
            if let Some(mut f) = r.feed.as_ref() {
                // Non-blocking: a full FIFO has deadlines enough.
                let _ = f.write(&lease::deadline(sent_boot, r.lease));
            }
        }
        kept_each.push(kept);
    }
    for ((_, entry, msg, token, results, started), kept) in held.into_iter().zip(kept_each) {
        let cancelled: bool = q.query(con, redis::cmd("EXISTS").arg(queue::cancel_key(&msg)))?;
        if kept == 0 || cancelled {
            if kept == 0 {
                tracing::warn!(entry = %entry, msg = %msg, "another worker took this entry over: stopping its task");
            } else {
                tracing::debug!(entry = %entry, msg = %msg, "the run cancelled this task: stopping it");
            }
            if let Some(r) = lock(&shared.running).get_mut(&msg) {
                r.stop(kept == 0);
            }
        } else if started {
            // Signed, so that the orchestrator knows this delivery lives.
            send(shared, con, &results, &WorkerEvent::Alive { msg, token })?;
        }
    }
    let status = serde_json::json!({
        "labels": shared.cfg.labels,
        "capacity": shared.cfg.capacity,
        "running": lock(&shared.running).len(),
        "done": shared.done.load(Ordering::SeqCst),
        "refused": shared.refused.load(Ordering::SeqCst),
        "key": shared.cfg.key.public().to_string(),
        "seen_ms": now_ms(),
        "lease_ms": shared.cfg.lease.as_millis() as u64,
        "binary_sha256": shared.binary_sha256,
    });
    q.query::<()>(con, redis::cmd("HSET").arg(queue::WORKERS).arg(&shared.cfg.name).arg(status.to_string()))
}

fn unregister(shared: &Shared) -> Result<(), QueueError> {
    let q = &shared.cfg.queue;
    let mut con = q.connect()?;
    q.query::<()>(&mut con, redis::cmd("HDEL").arg(queue::WORKERS).arg(&shared.cfg.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch run directory as a delivery leaves it: a log, a report, the
    /// lease FIFO, an artifact below a directory.
    fn used_scratch(runs: &RunsDir) -> RunDir {
        let run = RunDir::create_in(runs).unwrap();
        for d in SCRATCH_DIRS {
            std::fs::create_dir_all(run.path.join(d)).unwrap();
        }
        std::fs::write(run.path.join("logs/t1.log"), "output").unwrap();
        std::fs::write(run.path.join("reports/t1.json"), "{}").unwrap();
        std::fs::create_dir_all(run.path.join("artifacts/t1/sub")).unwrap();
        std::fs::write(run.path.join("artifacts/t1/sub/out.bin"), "x").unwrap();
        nix::unistd::mkfifo(&run.path.join(LEASE_FIFO), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        run
    }

    #[test]
    fn a_recycled_scratch_directory_is_kept_only_emptied_and_only_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let runs = RunsDir::open(dir.path(), None).unwrap();
        let kept = Mutex::new(Vec::new());
        let first = used_scratch(&runs);
        let first_path = first.path.clone();
        recycle(&kept, 1, first);
        assert_eq!(lock(&kept).len(), 1);
        let mut left: Vec<String> = std::fs::read_dir(&first_path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["artifacts", "logs", "reports"], "only the three directories are left");
        for d in SCRATCH_DIRS {
            assert_eq!(std::fs::read_dir(first_path.join(d)).unwrap().count(), 0, "{d} is empty");
        }
        // The pool is full: the next one is removed, not kept.
        let second = used_scratch(&runs);
        let second_path = second.path.clone();
        recycle(&kept, 1, second);
        assert_eq!(lock(&kept).len(), 1);
        assert!(!second_path.exists(), "a directory beyond the limit is removed");
        assert!(first_path.is_dir());
    }
}
