//! Where an attempt runs: here, as an `orchestra exec` child ([`Local`], the
//! default), or on another machine through a task queue (the distributed
//! crate's dispatcher implements [`Dispatch`] too).
//!
//! Guarantees every dispatcher keeps: `done` is called exactly once per
//! started attempt, with the attempt's outcome (a lost or refused attempt is
//! an outcome without a report, never a success); [`Running::stop`] asks the
//! attempt to end, and its outcome still arrives through `done`.

use super::exec_protocol::Attempt;
use super::worker::{self, Outcome};
use std::path::PathBuf;

/// What a dispatcher calls with an attempt's outcome.
pub type Done = Box<dyn FnOnce(Outcome) + Send + 'static>;

/// A running attempt.
pub trait Running: Send {
    /// Ask the attempt to end (its sandbox kills the task and reports).
    fn stop(&self);
}

/// Something a dispatcher wants recorded in the run's audit log (a remote
/// result accepted, a late or forged one refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The record's kind.
    pub kind: crate::audit::Kind,
    /// The record's body (the run's id and invocation are added).
    pub body: serde_json::Value,
    /// A line for people, if this notice needs one (shown once, as a warning).
    pub say: Option<String>,
}

/// Where a dispatcher sends its notices.
pub type Notify = std::sync::Arc<dyn Fn(Notice) + Send + Sync>;

/// Starts attempts.
pub trait Dispatch: Send + Sync {
    /// Where notices go from now on (called when a session starts).
    fn set_notify(&self, _notify: Notify) {}

    /// Start `attempt` of `task`; `done` receives its outcome.
    fn start(&self, attempt: Attempt, task: &crate::plan::Task, done: Done) -> Box<dyn Running>;

    /// Whether the outcome's declared outputs are already in the run's
    /// `artifacts/<task>/` (a remote worker uploaded them and the dispatcher
    /// fetched them); otherwise the orchestrator copies them from its workspace.
    fn collects_outputs(&self) -> bool {
        false
    }
}

/// Attempts as `orchestra exec` children of this process.
#[derive(Debug, Clone)]
pub struct Local {
    /// The orchestra binary.
    pub exe: PathBuf,
}

impl Running for worker::Handle {
    fn stop(&self) {
        worker::Handle::stop(self);
    }
}

impl Dispatch for Local {
    fn start(&self, attempt: Attempt, _task: &crate::plan::Task, done: Done) -> Box<dyn Running> {
        Box::new(worker::start(self.exe.clone(), attempt, done))
    }
}
