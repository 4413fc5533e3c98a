//! The run checkpoint: every task's state, durable after every change.
//!
//! Layout: `checkpoint.json` is a snapshot (written atomically: temp file +
//! fsync + rename), `checkpoint.journal` holds the task records changed since,
//! one JSON line each, appended with a single write before the change is
//! acted on. When the journal holds as many lines as the plan has tasks, it is
//! folded into a new snapshot and emptied, so the bytes written grow linearly
//! with the number of state changes (a growing file is never rewritten per
//! change).
//!
//! Durability: a line is in the kernel before [`Store::update`] returns, so a
//! killed orchestrator (SIGKILL, a crash) loses nothing. Its fdatasync runs on
//! a syncer thread (group commit: the changes made while one sync runs are
//! covered by the next), so the scheduler does not wait for the disk between
//! tasks; [`Store::flush`], every snapshot and the end of a run wait for it. A
//! power loss can lose the last changes not yet synced: those tasks are run
//! again on resume, exactly as if they had not finished. A sync error is
//! returned by the next update or flush.
//!
//! Guarantees: loading replays the journal over the snapshot (each line is a
//! whole task record, so replay is idempotent and a crash between the
//! snapshot's rename and the journal's truncation loses nothing). A torn last
//! line (the process died mid-append) is ignored: that change was never
//! acknowledged. Anything else that does not parse is refused with
//! `file:line:col`; nothing is guessed.

use super::{RunStoreError, io_at};
use crate::sandbox::report::Violation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The snapshot file name.
pub const SNAPSHOT: &str = "checkpoint.json";
/// The journal file name.
pub const JOURNAL: &str = "checkpoint.journal";
/// The checkpoint format version.
pub const VERSION: u32 = 1;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not started yet.
    Pending,
    /// Started (its sandbox may be running).
    Running,
    /// Exited 0 with no violation.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or its sandbox could not start.
    Failed,
    /// Hit its wall-clock or no-output timeout.
    TimedOut,
    /// Attempted something its policy denies, or exceeded a limit.
    Violation,
    /// Not run because a task it needs did not succeed.
    Skipped,
    /// Not run, or stopped, because the run ended first (fail-fast, Ctrl-C, run timeout).
    Cancelled,
    /// A failure that a person agreed to replace (a replan approved at the
    /// `--approve` prompt, or `resume --plan`): kept in the record under
    /// `<id>@replan-N` / `<id>@resume-N`, no longer counted in the exit code.
    Replaced,
}

impl TaskState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::TimedOut => "timed_out",
            TaskState::Violation => "violation",
            TaskState::Skipped => "skipped",
            TaskState::Cancelled => "cancelled",
            TaskState::Replaced => "replaced",
        }
    }

    /// Whether the task is finished for this run (not pending or running).
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// The state of one task, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecord {
    /// Where it stands.
    pub state: TaskState,
    /// Attempts started so far (over all sessions of the run).
    #[serde(default)]
    pub attempts: u32,
    /// Fingerprint of what ran (command, env, policy, inputs), once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The sandbox's cause (`ok`, `child_exit`, `timeout`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The task's exit status, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// The signal that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Wall time of the last attempt, milliseconds.
    #[serde(default)]
    pub wall_ms: u64,
    /// Peak memory of the last attempt, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// When the last attempt started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it reached this state (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Violations of the last attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Why it was skipped or cancelled, or what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The run (session) in which it last succeeded, when reused by a resume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The command that ran, for the record of a failure a plan change took
    /// out of the plan (`<id>@replan-N`): the plan no longer says it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
}

impl TaskRecord {
    /// A pending task.
    pub fn pending() -> TaskRecord {
        TaskRecord {
            state: TaskState::Pending,
            attempts: 0,
            fingerprint: None,
            cause: None,
            exit_status: None,
            signal: None,
            wall_ms: 0,
            peak_memory_bytes: None,
            started_at: None,
            ended_at: None,
            violations: Vec::new(),
            note: None,
            reused: false,
            argv: Vec::new(),
        }
    }
}

/// Where the plan came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The plan file, if the run was started from one (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_file: Option<PathBuf>,
    /// The intent, if a planner made the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// How the run was started, so that `resume` continues it the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The workspace (absolute).
    pub workdir: PathBuf,
    /// The config file, if any (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// `--policy`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Concurrency.
    pub concurrency: usize,
    /// `--keep-going`.
    #[serde(default)]
    pub keep_going: bool,
    /// The audit log directory (absolute).
    pub audit_dir: PathBuf,
}

/// Run-level status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// An orchestra process is (or was, if it died) driving the run.
    Running,
    /// Every task succeeded.
    Succeeded,
    /// It ended with failed, timed-out, violating, skipped or cancelled tasks.
    Failed,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// A replan awaits approval (`--approve` without a terminal): failed for now, resumable.
    AwaitingApproval,
}

impl RunStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// The checkpoint of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// The run id.
    pub run_id: String,
    /// SHA-256 of the plan as executed (`plan.yaml`).
    pub plan_sha256: String,
    /// Where the plan came from.
    pub source: Source,
    /// How the run was started.
    pub settings: Settings,
    /// Run status.
    pub status: RunStatus,
    /// The run's exit code, once ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// When the run was created.
    pub created_at: String,
    /// When a session of the run (first or resumed) last started.
    pub session_started_at: String,
    /// How many sessions (1 + resumes).
    pub sessions: u32,
    /// Per-task records, by task id.
    pub tasks: BTreeMap<String, TaskRecord>,
    /// The queue the run's latest distributed session sent its tasks to,
    /// while what it sent may still run (absent: a local run, or a
    /// checkpoint written before this field existed). A resume stops those
    /// deliveries there first, wherever it runs the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<Distributed>,
}

/// Where a distributed session's tasks went: enough for a later session to
/// find and stop them (the run's note in that Redis is
/// `orchestra:sent:<run_id>`; each task message names the run id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distributed {
    /// The queue URL (`redis://HOST:PORT[/DB]`, `rediss://…`). Never with
    /// credentials: a URL carrying them is refused before a run starts; they
    /// come from the environment of whichever process uses the queue.
    pub queue: String,
    /// The session's lease, in milliseconds.
    pub lease_ms: u64,
    /// The orchestrator's public key (`ed25519:…`) that signed the session's
    /// task messages.
    pub signer: String,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalLine {
    task: String,
    record: TaskRecord,
}

/// Read a run's checkpoint: the snapshot with the journal replayed over it.
pub fn load(run_dir: &Path) -> Result<Checkpoint, RunStoreError> {
    let snap_path = run_dir.join(SNAPSHOT);
    let text = std::fs::read(&snap_path).map_err(io_at(&snap_path))?;
    let journal_path = run_dir.join(JOURNAL);
    let journal = match std::fs::read(&journal_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(RunStoreError::Io { path: journal_path, source: e }),
    };
    parse(&snap_path, &text, &journal_path, &journal)
}

/// [`load`] from an opened run directory: both files are read relative to its
/// descriptor, never through a link.
pub fn load_in(run: &super::RunDir) -> Result<Checkpoint, RunStoreError> {
    let text = run.read(Path::new(SNAPSHOT))?;
    let journal = match super::at::kind(run.fd(), Path::new(JOURNAL)) {
        Ok(None) => Vec::new(),
        _ => run.read(Path::new(JOURNAL))?,
    };
    parse(&run.path.join(SNAPSHOT), &text, &run.path.join(JOURNAL), &journal)
}

/// The snapshot `text` with the `journal` replayed over it (paths for messages).
fn parse(snap_path: &Path, text: &[u8], journal_path: &Path, journal: &[u8]) -> Result<Checkpoint, RunStoreError> {
    let mut cp: Checkpoint = serde_json::from_slice(text).map_err(|e| {
        RunStoreError::Corrupt(format!(
            "{}:{}:{}: corrupted checkpoint: {}",
            snap_path.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
    })?;
    if cp.version != VERSION {
        return Err(RunStoreError::Corrupt(format!(
            "{}: checkpoint version {} is not supported (this orchestra reads {VERSION})",
            snap_path.display(),
            cp.version
        )));
    }
    let complete = journal.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for (n, line) in journal[..complete].split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let parsed: JournalLine = serde_json::from_slice(line).map_err(|e| {
            RunStoreError::Corrupt(format!(
                "{}:{}:{}: corrupted checkpoint journal: {}",
                journal_path.display(),
                n + 1,
                e.column(),
                strip_position(&e.to_string())
            ))
        })?;
        if !cp.tasks.contains_key(&parsed.task) {
            return Err(RunStoreError::Corrupt(format!(
                "{}:{}:1: corrupted checkpoint journal: unknown task {:?}",
                journal_path.display(),
                n + 1,
                parsed.task
            )));
        }
        cp.tasks.insert(parsed.task, parsed.record);
    }
    // Bytes after the last newline are a torn append: never acknowledged, ignored.
    Ok(cp)
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The durable checkpoint of a run being executed.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// The run directory, opened when the store was (see `runstore::at`).
    dir_fd: std::os::fd::OwnedFd,
    state: Checkpoint,
    journal: File,
    journal_lines: usize,
    /// Compact after this many journal lines.
    threshold: usize,
    /// Bytes written so far (for the linear-growth benchmark).
    bytes_written: u64,
    syncer: Syncer,
}

/// What the scheduler and the syncer thread share.
#[derive(Debug, Default)]
struct SyncState {
    /// Durable appends made so far.
    written: u64,
    /// Appends covered by a completed fdatasync.
    synced: u64,
    /// A failed fdatasync, reported by the next update or flush.
    failed: Option<std::io::Error>,
    /// The store is being dropped: sync what is left, then end.
    stop: bool,
}

/// The journal's fdatasync, on a thread of its own (group commit).
#[derive(Debug)]
struct Syncer {
    shared: Arc<(Mutex<SyncState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn lock(m: &Mutex<SyncState>) -> MutexGuard<'_, SyncState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Syncer {
    fn start(journal: File) -> Syncer {
        let shared = Arc::new((Mutex::new(SyncState::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("checkpoint-sync".into())
            .spawn(move || {
                let (m, cv) = &*theirs;
                let mut st = lock(m);
                loop {
                    while st.written == st.synced && !st.stop {
                        st = cv.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    if st.written == st.synced {
                        break;
                    }
                    let target = st.written;
                    drop(st);
                    let result = journal.sync_data();
                    st = lock(m);
                    st.synced = target;
                    if let Err(e) = result {
                        st.failed.get_or_insert(e);
                    }
                    cv.notify_all();
                }
            })
            .ok();
        Syncer { shared, thread }
    }

    /// One more append to make durable.
    fn request(&self) -> Result<(), std::io::Error> {
        let (m, cv) = &*self.shared;
        let mut st = lock(m);
        if let Some(e) = st.failed.take() {
            return Err(e);
        }
        st.written += 1;
        cv.notify_all();
        Ok(())
    }

    /// Wait until every requested append is on disk.
    fn flush(&self) -> Result<(), std::io::Error> {
        let (m, cv) = &*self.shared;
        let mut st = lock(m);
        if self.thread.is_none() {
            // No thread could be started: nothing was synced in the background.
            st.synced = st.written;
            return Ok(());
        }
        while st.synced < st.written {
            st = cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        match st.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let (m, cv) = &*self.shared;
        lock(m).stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // A run that ends through flush() has seen any error; one dropped on an
        // error path still says so.
        if let Some(e) = lock(m).failed.take() {
            tracing::error!("checkpoint journal: the last fdatasync failed: {e}");
        }
    }
}

impl Store {
    /// Start a checkpoint: write the snapshot and an empty journal.
    pub fn create(dir: &Path, state: Checkpoint) -> Result<Store, RunStoreError> {
        let mut store = Store::attach(dir, state)?;
        store.compact()?;
        Ok(store)
    }

    /// Continue an existing checkpoint (`resume`): fold what was loaded into a new snapshot.
    pub fn resume(dir: &Path, state: Checkpoint) -> Result<Store, RunStoreError> {
        Store::create(dir, state)
    }

    /// Continue a checkpoint in an opened run directory: every write goes
    /// through its descriptor, never through a link (`runstore::at`).
    pub fn resume_in(run: &super::RunDir, state: Checkpoint) -> Result<Store, RunStoreError> {
        let fd = run.fd().try_clone().map_err(io_at(&run.path))?;
        let mut store = Store::attach_fd(&run.path, fd, state)?;
        store.compact()?;
        Ok(store)
    }

    fn attach(dir: &Path, state: Checkpoint) -> Result<Store, RunStoreError> {
        let f = File::open(dir).map_err(io_at(dir))?;
        let fd = super::at::open_dir(&f, Path::new(".")).map_err(io_at(dir))?;
        Store::attach_fd(dir, fd, state)
    }

    fn attach_fd(dir: &Path, dir_fd: std::os::fd::OwnedFd, state: Checkpoint) -> Result<Store, RunStoreError> {
        let jpath = dir.join(JOURNAL);
        let journal = super::at::open_append(&dir_fd, Path::new(JOURNAL)).map_err(io_at(&jpath))?;
        let syncer = Syncer::start(journal.try_clone().map_err(io_at(&jpath))?);
        let threshold = state.tasks.len().max(64);
        Ok(Store {
            dir: dir.to_path_buf(),
            dir_fd,
            state,
            journal,
            journal_lines: 0,
            threshold,
            bytes_written: 0,
            syncer,
        })
    }

    /// The current state.
    pub fn state(&self) -> &Checkpoint {
        &self.state
    }

    /// Bytes written to the snapshot and journal so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Record a task's new state durably: appended (in the kernel) now, on disk
    /// with the syncer's next fdatasync (see the module doc).
    pub fn update(&mut self, task: &str, record: TaskRecord) -> Result<(), RunStoreError> {
        self.append(task, record, true)
    }

    /// Record a state whose loss in a crash changes nothing (a task starting:
    /// running and pending tasks are both run again). It reaches the disk with
    /// the next durable update.
    pub fn note(&mut self, task: &str, record: TaskRecord) -> Result<(), RunStoreError> {
        self.append(task, record, false)
    }

    fn append(&mut self, task: &str, record: TaskRecord, durable: bool) -> Result<(), RunStoreError> {
        let mut line = serde_json::to_vec(&JournalLine { task: task.to_string(), record: record.clone() })
            .map_err(|e| RunStoreError::Corrupt(format!("cannot encode checkpoint: {e}")))?;
        line.push(b'\n');
        let jpath = self.dir.join(JOURNAL);
        self.journal.write_all(&line).map_err(io_at(&jpath))?;
        if durable {
            // Without a syncer thread, sync here.
            if self.syncer.thread.is_none() {
                self.journal.sync_data().map_err(io_at(&jpath))?;
            } else {
                self.syncer.request().map_err(io_at(&jpath))?;
            }
        }
        self.bytes_written += line.len() as u64;
        self.state.tasks.insert(task.to_string(), record);
        self.journal_lines += 1;
        if self.journal_lines >= self.threshold {
            self.compact()?;
        }
        Ok(())
    }

    /// Change run-level fields and write a snapshot.
    pub fn set_status(&mut self, status: RunStatus, exit_code: Option<u8>) -> Result<(), RunStoreError> {
        self.state.status = status;
        self.state.exit_code = exit_code;
        self.compact()
    }

    /// Replace the plan of a running run (a replan): new task set, new plan hash,
    /// the run's plan is now its `plan.yaml` (not the original file), and a new snapshot.
    pub fn replace_plan(
        &mut self,
        plan_sha256: String,
        tasks: BTreeMap<String, TaskRecord>,
    ) -> Result<(), RunStoreError> {
        self.state.plan_sha256 = plan_sha256;
        self.state.source.plan_file = None;
        self.threshold = tasks.len().max(64);
        self.state.tasks = tasks;
        self.compact()
    }

    /// Wait until every durable update is on disk.
    pub fn flush(&mut self) -> Result<(), RunStoreError> {
        self.syncer.flush().map_err(io_at(&self.dir.join(JOURNAL)))
    }

    /// Fold the journal into a new snapshot, then empty the journal.
    pub fn compact(&mut self) -> Result<(), RunStoreError> {
        // A sync still running covers lines the snapshot is about to hold: let it end.
        self.flush()?;
        let spath = self.dir.join(SNAPSHOT);
        let mut json = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| RunStoreError::Corrupt(format!("cannot encode checkpoint: {e}")))?;
        json.push(b'\n');
        super::at::write_replace(&self.dir_fd, Path::new(SNAPSHOT), &json, true).map_err(io_at(&spath))?;
        self.bytes_written += json.len() as u64;
        let jpath = self.dir.join(JOURNAL);
        self.journal.set_len(0).map_err(io_at(&jpath))?;
        self.journal.sync_data().map_err(io_at(&jpath))?;
        self.journal_lines = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            run_id: "20261124T143025Z-7f3a".into(),
            plan_sha256: "00".into(),
            source: Source { plan_file: None, intent: Some("build".into()) },
            settings: Settings {
                workdir: "/w".into(),
                config: None,
                policy: None,
                concurrency: 2,
                keep_going: false,
                audit_dir: "/w/.orchestra/audit".into(),
            },
            status: RunStatus::Running,
            exit_code: None,
            created_at: "2026-11-24T14:30:25Z".into(),
            session_started_at: "2026-11-24T14:30:25Z".into(),
            sessions: 1,
            tasks: (0..n).map(|i| (format!("t{i}"), TaskRecord::pending())).collect(),
            distributed: None,
        }
    }

    fn done() -> TaskRecord {
        TaskRecord { state: TaskState::Succeeded, attempts: 1, ..TaskRecord::pending() }
    }

    #[test]
    fn journal_replays_over_the_snapshot_and_torn_tails_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(dir.path(), sample(3)).unwrap();
        s.update("t0", done()).unwrap();
        s.update("t1", TaskRecord { state: TaskState::Running, ..TaskRecord::pending() }).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(&loaded, s.state());
        // A torn append (no newline) is dropped; what was acknowledged stays.
        let mut j = std::fs::OpenOptions::new().append(true).open(dir.path().join(JOURNAL)).unwrap();
        j.write_all(b"{\"task\":\"t2\",\"rec").unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.tasks["t0"].state, TaskState::Succeeded);
        assert_eq!(loaded.tasks["t2"].state, TaskState::Pending);
    }

    #[test]
    fn the_distributed_note_is_additive_an_old_checkpoint_without_it_loads() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::create(dir.path(), sample(1)).unwrap();
        drop(s);
        // A local run writes no such key: what older orchestras wrote and read.
        let text = std::fs::read_to_string(dir.path().join(SNAPSHOT)).unwrap();
        assert!(!text.contains("distributed"), "{text}");
        assert_eq!(load(dir.path()).unwrap().distributed, None);
        let note =
            Distributed { queue: "redis://127.0.0.1:6379/2".into(), lease_ms: 30_000, signer: "ed25519:AAAA".into() };
        let s = Store::create(dir.path(), Checkpoint { distributed: Some(note.clone()), ..sample(1) }).unwrap();
        drop(s);
        assert_eq!(load(dir.path()).unwrap().distributed, Some(note));
    }

    #[test]
    fn corruption_is_refused_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(dir.path(), sample(2)).unwrap();
        s.update("t0", done()).unwrap();
        s.update("t1", done()).unwrap();
        let jpath = dir.path().join(JOURNAL);
        let text = std::fs::read_to_string(&jpath).unwrap().replacen("succeeded", "succeded", 1);
        std::fs::write(&jpath, text).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint.journal:1:") && e.contains("corrupted checkpoint journal"), "{e}");
        std::fs::write(dir.path().join(SNAPSHOT), "{\"version\": 1,\n \"run_id\": 5}").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint.json:2:") && e.contains("corrupted checkpoint"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bytes_written_grow_linearly() {
        let per_task = |n: usize| {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Store::create(dir.path(), sample(n)).unwrap();
            for i in 0..n {
                s.update(&format!("t{i}"), TaskRecord { state: TaskState::Running, ..TaskRecord::pending() }).unwrap();
                s.update(&format!("t{i}"), done()).unwrap();
            }
            s.bytes_written() as f64 / n as f64
        };
        let small = per_task(100);
        let large = per_task(2000);
        assert!(large < small * 2.0, "bytes per task: {small} at 100 tasks, {large} at 2000");
    }

    #[test]
    fn group_commit_syncs_every_update_by_flush_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(dir.path(), sample(50)).unwrap();
        for i in 0..50 {
            s.update(&format!("t{i}"), done()).unwrap();
            // In the kernel at once: a killed orchestrator loses nothing.
            assert_eq!(load(dir.path()).unwrap().tasks[&format!("t{i}")].state, TaskState::Succeeded);
        }
        s.flush().unwrap();
        {
            let (m, _) = &*s.syncer.shared;
            let st = lock(m);
            assert_eq!((st.written, st.synced), (50, 50));
        }
        s.update("t0", TaskRecord { state: TaskState::Failed, ..done() }).unwrap();
        let expected = s.state().clone();
        drop(s); // syncs what is left, then ends its thread
        assert_eq!(load(dir.path()).unwrap(), expected);
    }
}
