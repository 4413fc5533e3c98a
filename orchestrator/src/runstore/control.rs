//! Operator control of a running run (`runs/<id>/control.json`): pause,
//! continue, cancel — from `orchestra runs control` or the dashboard.
//!
//! The file holds the state an operator wants ([`Control`]), replaced
//! atomically (temp + fsync + rename) by [`request`]; the process driving the
//! run polls it ([`Watcher`]) and acts on each change: while paused no task
//! starts (running ones finish, retries already decided go on); cancel stops
//! the run as Ctrl-C does (running sandboxes are stopped, unstarted tasks
//! cancelled, the run stays resumable). Each change the run acts on is an
//! audit record (`run_control`) and a journal line.
//!
//! Guarantees: a request for a run that no living process drives is refused
//! ([`ControlError::NotRunning`]); the runs directory is hidden from tasks,
//! so no task can pause or cancel a run; a file that does not parse is
//! ignored by the run (a warning), never guessed at. A resumed run starts
//! unpaused: the file is removed when a session starts.

use super::{RunDir, RunStoreError, io_at};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The control file's name in the run directory.
pub const FILE: &str = "control.json";

/// How often the driving process looks at the file.
pub const POLL: Duration = Duration::from_millis(100);

/// What an operator wants of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Grows by one per request.
    pub seq: u64,
    /// No new task starts while set.
    pub paused: bool,
    /// Stop the run.
    pub cancel: bool,
    /// Who asked: `cli:<user>` or `dashboard:<peer>`.
    pub by: String,
}

/// An operator action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Start no new task until continued.
    Pause,
    /// Start tasks again.
    Continue,
    /// Stop the run (resumable).
    Cancel,
}

impl Action {
    /// The name used in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Continue => "continue",
            Action::Cancel => "cancel",
        }
    }

    /// Parse the API's name.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pause" => Some(Action::Pause),
            "continue" | "resume" => Some(Action::Continue),
            "cancel" => Some(Action::Cancel),
            _ => None,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No living process drives the run.
    #[error("run {0} is not running (no orchestra process holds it)")]
    NotRunning(String),
    /// The run store.
    #[error(transparent)]
    Store(#[from] RunStoreError),
}

/// Read the control file, if there is one that parses.
pub fn read(run: &RunDir) -> Option<Control> {
    let bytes = super::at::read(run.fd(), Path::new(FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The lock file that serializes requests (`control.json` is read, changed and replaced under it).
pub const LOCK: &str = "control.lock";

/// Ask the process driving `run` to act. Returns the new state. Requests
/// are serialized by an exclusive lock, so concurrent ones (two dashboards,
/// the CLI) each get their own number and none is lost (a cancel stays set).
pub fn request(run: &RunDir, action: Action, by: &str) -> Result<Control, ControlError> {
    if !super::lock::is_held_in(run) {
        return Err(ControlError::NotRunning(run.id.clone()));
    }
    let file = super::at::open_rw(run.fd(), Path::new(LOCK)).map_err(io_at(&run.path.join(LOCK)))?;
    let _serialized = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io_at(&run.path.join(LOCK))(e.into()))?;
    let mut c = read(run).unwrap_or_default();
    c.seq += 1;
    c.by = by.chars().filter(|ch| !ch.is_control()).take(128).collect();
    match action {
        Action::Pause => c.paused = true,
        Action::Continue => c.paused = false,
        Action::Cancel => c.cancel = true,
    }
    let bytes = serde_json::to_vec(&c).map_err(|e| RunStoreError::Corrupt(e.to_string()))?;
    run.write(Path::new(FILE), &bytes, true)?;
    Ok(c)
}

/// Clear any control state (a session starts unpaused).
pub fn reset(run: &RunDir) -> Result<(), RunStoreError> {
    match super::at::remove(run.fd(), Path::new(FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(&run.path.join(FILE))(e)),
    }
}

/// Turns successive control states into the actions they mean.
#[derive(Debug, Default)]
pub struct Watcher {
    seen: Control,
}

impl Watcher {
    /// Whether the last request seen asked for a pause.
    pub fn paused(&self) -> bool {
        self.seen.paused && !self.seen.cancel
    }

    /// The action a new request asks for (`None`: no new request): cancel
    /// when it newly sets cancel, else pause or continue as it says, even
    /// when that is the state already (the run acknowledges every request).
    pub fn changes(&mut self, now: &Control) -> Option<(Action, String)> {
        if now.seq <= self.seen.seq {
            return None;
        }
        let action = if now.cancel && !self.seen.cancel {
            Action::Cancel
        } else if now.paused {
            Action::Pause
        } else {
            Action::Continue
        };
        self.seen = now.clone();
        Some((action, now.by.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_nobody_drives_cannot_be_controlled() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        assert!(matches!(request(&run, Action::Pause, "cli:me"), Err(ControlError::NotRunning(_))));
        let _held = super::super::lock::acquire_in(&run).unwrap();
        // The lock is this process's: is_held_in sees it through a second open file.
        let c = request(&run, Action::Pause, "cli:me\u{1b}[31m").unwrap();
        assert_eq!(c, Control { seq: 1, paused: true, cancel: false, by: "cli:me[31m".into() });
        assert_eq!(read(&run), Some(c));
        reset(&run).unwrap();
        assert_eq!(read(&run), None);
    }

    #[test]
    fn concurrent_requests_get_their_own_numbers_and_a_cancel_is_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        let _held = super::super::lock::acquire_in(&run).unwrap();
        let seqs: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let run = &run;
                    s.spawn(move || {
                        let a = if i == 5 { Action::Cancel } else { Action::Continue };
                        request(run, a, "t").unwrap().seq
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=16).collect::<Vec<_>>(), "one number per request");
        assert!(read(&run).unwrap().cancel, "the cancel survived the continues");
    }

    #[test]
    fn the_watcher_reports_each_request_once() {
        let mut w = Watcher::default();
        let mut c = Control { seq: 1, paused: true, cancel: false, by: "a".into() };
        assert_eq!(w.changes(&c), Some((Action::Pause, "a".to_string())));
        assert_eq!(w.changes(&c), None, "same request: nothing new");
        c.seq = 2;
        assert_eq!(w.changes(&c), Some((Action::Pause, "a".to_string())), "a repeated pause is acknowledged");
        c.seq = 3;
        c.paused = false;
        assert_eq!(w.changes(&c), Some((Action::Continue, "a".to_string())));
        c.seq = 4;
        c.cancel = true;
        c.paused = true;
        assert_eq!(w.changes(&c), Some((Action::Cancel, "a".to_string())));
        c.seq = 5;
        assert_eq!(w.changes(&c), Some((Action::Pause, "a".to_string())), "cancel is reported once");
    }
}
