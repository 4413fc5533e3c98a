//! The audit writer: the observer that turns a run's events into run-level
//! audit records (FORMAT.md §5.3). Each attempt's own records (`task_started`,
//! violations, `task_ended`) are written by its sandbox (`orchestra exec`).
//!
//! Guarantees: every record carries the run's id; a record that cannot be
//! appended is logged and the failure surfaces at [`AuditWriter::sync`],
//! which the [`super::events::Bus`] calls before anyone sees the run's end.

use super::events::{Event, Observer, Problem, ReplanOutcome};
use crate::audit::{AuditError, AuditLog};
use crate::runstore::checkpoint::TaskState;
use serde_json::{Value, json};

/// A task kept from an earlier session.
pub const TASK_REUSED: &str = "task_reused";
/// An attempt failed and the task will be retried.
pub const TASK_RETRY: &str = "task_retry";
/// A task was skipped (something it needs did not succeed).
pub const TASK_SKIPPED: &str = "task_skipped";
/// A task was cancelled before it (or its retry) could run.
pub const TASK_CANCELLED: &str = "task_cancelled";
/// The run ended.
pub const RUN_ENDED: &str = "run_ended";

/// The audit record kind of a replan's outcome.
pub fn replan_kind(outcome: ReplanOutcome) -> &'static str {
    match outcome {
        ReplanOutcome::Adopted => "plan_replaced",
        ReplanOutcome::Declined => "replan_declined",
        ReplanOutcome::AwaitingApproval => "replan_awaiting_approval",
        ReplanOutcome::Failed => "replan_failed",
    }
}

/// Records a run's events in its audit log.
#[derive(Debug)]
pub struct AuditWriter<'a> {
    log: &'a mut AuditLog,
    run_id: String,
}

impl<'a> AuditWriter<'a> {
    /// A writer for run `run_id`.
    pub fn new(log: &'a mut AuditLog, run_id: &str) -> AuditWriter<'a> {
        AuditWriter { log, run_id: run_id.to_string() }
    }

    /// The record an event makes, if any.
    fn record_of(event: &Event<'_>) -> Option<(&'static str, Value)> {
        Some(match event {
            Event::TaskReused { task } => (TASK_REUSED, json!({"task": task})),
            Event::TaskRetry { task, attempt, delay, detail } => (
                TASK_RETRY,
                json!({"task": task, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "detail": detail}),
            ),
            Event::TaskNotRun { task, state, reason } => {
                let kind = if *state == TaskState::Skipped { TASK_SKIPPED } else { TASK_CANCELLED };
                (kind, json!({"task": task, "reason": reason}))
            }
            Event::Replan { outcome, evidence, .. } => (replan_kind(*outcome), (*evidence).clone()),
            Event::RunFinished { status, exit_code, summary, wall_ms, .. } => {
                (RUN_ENDED, json!({"status": status, "exit_code": exit_code, "summary": summary, "wall_ms": wall_ms}))
            }
            // Recorded by the sandbox (task_started, violation, task_ended) or not evidence.
            Event::RunStarted { .. }
            | Event::TaskStarted { .. }
            | Event::TaskFinished { .. }
            | Event::Message { .. }
            | Event::ReportWritten { .. } => return None,
        })
    }

    /// Append the record `event` makes; a failure is logged here and
    /// reported by [`AuditWriter::sync`].
    pub fn record(&mut self, event: &Event<'_>) {
        let Some((kind, body)) = Self::record_of(event) else { return };
        if let Err(e) = self.log.append(kind, crate::audit::events::with_run_id(body, &self.run_id)) {
            tracing::error!("audit log: {e}");
        }
    }

    /// Make everything recorded so far durable.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        self.log.sync()
    }
}

impl Observer for AuditWriter<'_> {
    fn event(&mut self, event: &Event<'_>) -> Result<(), Problem> {
        self.record(event);
        Ok(())
    }
}
