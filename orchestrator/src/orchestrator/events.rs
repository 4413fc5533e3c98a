//! The run's event stream: what the scheduler emits and who consumes it.
//!
//! The scheduler never prints, writes a CI report or knows who is watching: it
//! emits typed [`Event`]s (run start and end, task state changes and
//! verdicts, replans, lines for people) to [`Observer`]s through a [`Bus`].
//! The orchestrator installs one observer itself, the audit writer
//! ([`super::audit_writer`]); the caller installs the rest (the CLI: its
//! progress view and the CI writers; later a dashboard or remote workers).
//!
//! Guarantees:
//! - every observer sees every event, in the order emitted, the audit writer
//!   first;
//! - [`Bus::finish`] makes the audit log durable before any other observer
//!   sees the run's end, and if that fails no other observer sees it at all
//!   (nothing announces an exit code the audit log does not back);
//! - an observer that fails (a CI report that could not be written) has its
//!   lines shown to people as [`Event::Message`]s, and [`Bus::failed`] says
//!   so, which makes a run that was otherwise ok exit 1.

use super::report::RunReport;
use crate::audit::{AuditError, AuditLog};
use crate::runstore::RunDir;
use crate::runstore::checkpoint::{TaskRecord, TaskState};
use std::time::Duration;

/// What became of a proposed replan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplanOutcome {
    /// The new plan replaces the old one (a person approved it, or nobody was asked).
    Adopted,
    /// A person said no.
    Declined,
    /// Nobody could be asked: the run ends awaiting approval.
    AwaitingApproval,
    /// No plan could be had (the planner failed or its plan was refused).
    Failed,
}

impl ReplanOutcome {
    /// The name used in `--json` events.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplanOutcome::Adopted => "adopted",
            ReplanOutcome::Declined => "declined",
            ReplanOutcome::AwaitingApproval => "awaiting_approval",
            ReplanOutcome::Failed => "failed",
        }
    }
}

/// A run event.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The run starts (or resumes, or a replanned plan starts).
    RunStarted {
        /// Run id.
        run_id: &'a str,
        /// Tasks in the plan.
        tasks: usize,
        /// Tasks that will run in this session.
        to_run: usize,
        /// Concurrency.
        concurrency: usize,
    },
    /// A task was kept from an earlier session (same fingerprint, succeeded).
    TaskReused {
        /// Task id.
        task: &'a str,
    },
    /// An attempt starts.
    TaskStarted {
        /// Task id.
        task: &'a str,
        /// Attempt number (1-based).
        attempt: u32,
        /// The policy it runs under (preset name or file).
        policy: &'a str,
        /// The sandbox backend.
        backend: &'a str,
    },
    /// An attempt failed and will be retried.
    TaskRetry {
        /// Task id.
        task: &'a str,
        /// The attempt that failed.
        attempt: u32,
        /// Delay before the next attempt.
        delay: Duration,
        /// What happened.
        detail: &'a str,
    },
    /// A task's last attempt ended and its verdict is recorded in the
    /// checkpoint: its final state for this session.
    TaskFinished {
        /// Task id.
        task: &'a str,
        /// Final state.
        state: TaskState,
        /// Wall time, ms.
        wall_ms: u64,
        /// Cause, exit status, rules, note (see [`super::describe`]).
        detail: &'a str,
        /// The verdict as recorded: cause, exit status or signal, violations, note.
        record: &'a TaskRecord,
        /// The sandbox's own time, ms: its process time less the task's wall
        /// time (set-up and tear-down), when both are known.
        sandbox_ms: Option<u64>,
    },
    /// A task reached a final state without (another) attempt: skipped
    /// because something it needs did not succeed, or cancelled.
    TaskNotRun {
        /// Task id.
        task: &'a str,
        /// `Skipped` or `Cancelled`.
        state: TaskState,
        /// Why.
        reason: &'a str,
    },
    /// A line for people (a warning, an error, what a replan does).
    Message {
        /// The line, without its newline.
        line: &'a str,
    },
    /// A replan was decided, and its outcome is recorded in the checkpoint.
    Replan {
        /// 1 for the run's first replan.
        replan: u32,
        /// The task whose failure caused it.
        task: &'a str,
        /// What became of it.
        outcome: ReplanOutcome,
        /// The backend that proposed it (empty if none could).
        backend: &'a str,
        /// The diff summary, or the error.
        detail: &'a str,
        /// Everything the audit record keeps: the analysis, the backends
        /// asked, the plan stored and its hash, the diff.
        evidence: &'a serde_json::Value,
    },
    /// An operator paused, continued or cancelled the run
    /// ([`crate::runstore::control`]).
    Control {
        /// What was asked.
        action: crate::runstore::control::Action,
        /// Who asked, as the request says.
        by: &'a str,
        /// The request's number (`control.json`'s `seq`).
        request: u64,
    },
    /// A remote worker's result was accepted or refused (distributed runs).
    Remote {
        /// What it was.
        notice: &'a super::dispatch::Notice,
    },
    /// `report.json` and `report.md` are written (the CI writers derive
    /// their reports from the same [`RunReport`]).
    ReportWritten {
        /// The run directory.
        run: &'a RunDir,
        /// The report.
        report: &'a RunReport,
    },
    /// The run ended (see [`Bus::finish`]).
    RunFinished {
        /// The run directory.
        run: &'a RunDir,
        /// The report written at the end.
        report: &'a RunReport,
        /// Run status.
        status: &'a str,
        /// Exit code.
        exit_code: u8,
        /// Wall time, ms.
        wall_ms: u64,
        /// The tasks' `orchestra exec` processes, spawn to exit, summed (ms):
        /// at `-j 1` the rest of `wall_ms` is the orchestrator's own time.
        sandboxes_ms: u64,
        /// Human summary, e.g. `3 succeeded, 1 failed, 2 skipped`.
        summary: &'a str,
    },
}

/// Why an observer could not do its job: lines for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub Vec<String>);

/// Something that watches a run.
pub trait Observer {
    /// See one event. An error means this observer could not do its job
    /// (its lines are shown to people and the run is not ok); it still sees
    /// the events that follow.
    fn event(&mut self, event: &Event<'_>) -> Result<(), Problem>;
}

/// Delivers the scheduler's events: the audit writer first, then the
/// caller's observers in the order given.
pub struct Bus<'a> {
    audit: super::audit_writer::AuditWriter<'a>,
    observers: Vec<&'a mut dyn Observer>,
    failed: bool,
}

impl std::fmt::Debug for Bus<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("observers", &self.observers.len()).field("failed", &self.failed).finish()
    }
}

impl<'a> Bus<'a> {
    /// A bus that records run `run_id` in `log` and shows every event to `observers`.
    pub fn new(log: &'a mut AuditLog, run_id: &str, observers: Vec<&'a mut dyn Observer>) -> Bus<'a> {
        Bus { audit: super::audit_writer::AuditWriter::new(log, run_id), observers, failed: false }
    }

    /// Deliver `event` to every observer.
    pub fn emit(&mut self, event: &Event<'_>) {
        self.audit.record(event);
        self.deliver(event);
    }

    fn deliver(&mut self, event: &Event<'_>) {
        let mut problems = Vec::new();
        for o in self.observers.iter_mut() {
            if let Err(Problem(lines)) = o.event(event) {
                problems.extend(lines);
            }
        }
        if !problems.is_empty() {
            self.failed = true;
            for line in &problems {
                self.say(line);
            }
        }
    }

    /// A line for people ([`Event::Message`]).
    pub fn say(&mut self, line: &str) {
        let event = Event::Message { line };
        for o in self.observers.iter_mut() {
            // A view that cannot show a line has nothing to say about it.
            let _ = o.event(&event);
        }
    }

    /// Deliver the run's end ([`Event::RunFinished`]): the audit writer
    /// records it and the log is made durable first; only then do the other
    /// observers see it. If the log cannot be made durable, they never do.
    pub fn finish(&mut self, event: &Event<'_>) -> Result<(), AuditError> {
        self.audit.record(event);
        self.audit.sync()?;
        self.deliver(event);
        Ok(())
    }

    /// Whether an observer failed at its job so far.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers what it saw; fails on the events `fail_on` picks.
    struct Seen {
        lines: Vec<String>,
        fail_on: fn(&Event<'_>) -> bool,
    }

    impl Observer for Seen {
        fn event(&mut self, e: &Event<'_>) -> Result<(), Problem> {
            self.lines.push(match e {
                Event::Message { line } => format!("say {line}"),
                Event::TaskReused { task } => format!("reused {task}"),
                other => format!("{other:?}").split([' ', '{']).next().unwrap_or_default().to_string(),
            });
            if (self.fail_on)(e) { Err(Problem(vec!["orchestra: error: cannot".into()])) } else { Ok(()) }
        }
    }

    fn log() -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = crate::audit::load_or_create_key(&dir.path().join("key")).unwrap();
        let log = AuditLog::open(&dir.path().join("audit"), &key).unwrap();
        (dir, log)
    }

    #[test]
    fn every_observer_sees_every_event_in_order_and_failures_are_said_to_all() {
        let (_dir, mut log) = log();
        let mut a = Seen { lines: Vec::new(), fail_on: |e| matches!(e, Event::TaskReused { task: "b" }) };
        let mut b = Seen { lines: Vec::new(), fail_on: |_| false };
        {
            let mut bus = Bus::new(&mut log, "r1", vec![&mut a, &mut b]);
            bus.emit(&Event::TaskReused { task: "a" });
            assert!(!bus.failed());
            bus.emit(&Event::TaskReused { task: "b" });
            assert!(bus.failed(), "an observer's failure is remembered");
            bus.say("hello");
        }
        let want = ["reused a", "reused b", "say orchestra: error: cannot", "say hello"];
        assert_eq!(a.lines, want);
        assert_eq!(b.lines, want);
    }

    #[test]
    fn the_audit_writer_records_what_the_log_needs() {
        let (dir, mut log) = log();
        let rec = TaskRecord::pending();
        {
            let mut bus = Bus::new(&mut log, "r1", Vec::new());
            bus.emit(&Event::TaskReused { task: "a" });
            bus.emit(&Event::TaskStarted { task: "b", attempt: 1, policy: "default", backend: "jail" });
            bus.emit(&Event::TaskFinished {
                task: "b",
                state: TaskState::Failed,
                wall_ms: 3,
                detail: "",
                record: &rec,
                sandbox_ms: None,
            });
            bus.emit(&Event::TaskRetry { task: "b", attempt: 1, delay: Duration::from_millis(5), detail: "x" });
            bus.emit(&Event::TaskNotRun { task: "c", state: TaskState::Skipped, reason: "needs b" });
            bus.emit(&Event::TaskNotRun { task: "d", state: TaskState::Cancelled, reason: "stop" });
            bus.say("not a record");
            bus.audit.sync().unwrap();
        }
        let (mut kinds, mut bodies) = (Vec::new(), Vec::new());
        let opts = crate::audit::VerifyOptions::default();
        crate::audit::verify::verify_dir_with(&dir.path().join("audit"), &opts, &mut |s| {
            if s.record.kind.starts_with("task_") {
                kinds.push(s.record.kind.to_string());
                bodies.push(s.record.body_json());
            }
        })
        .unwrap();
        assert_eq!(kinds, ["task_reused", "task_retry", "task_skipped", "task_cancelled"]);
        assert!(bodies.iter().all(|b| b["run_id"] == "r1"), "{bodies:?}");
        assert_eq!(bodies[1]["delay_ms"], 5);
        assert_eq!(bodies[2]["reason"], "needs b");
    }
}
