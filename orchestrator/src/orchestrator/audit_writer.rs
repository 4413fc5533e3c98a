//! The audit writer: the observer that turns a run's events into run-level
//! audit records (FORMAT.md §5.3). Each attempt's own records (`task_started`,
//! violations, `task_ended`) are written by its sandbox (`orchestra exec`).
//!
//! Guarantees: every record carries the run's id and this process's
//! invocation id, with its strings redacted ([`crate::audit::events::stamp`]); a record that cannot be
//! appended is logged and the failure surfaces at [`AuditWriter::sync`],
//! which the [`super::events::Bus`] calls before anyone sees the run's end.

use super::events::{Event, Observer, Problem, ReplanOutcome};
use crate::audit::{AuditError, AuditLog, Kind};
use crate::runstore::checkpoint::TaskState;
use serde_json::{Value, json};

/// The audit record kind of a replan's outcome.
pub fn replan_kind(outcome: ReplanOutcome) -> Kind {
    match outcome {
        ReplanOutcome::Adopted => Kind::PlanReplaced,
        ReplanOutcome::Declined => Kind::ReplanDeclined,
        ReplanOutcome::AwaitingApproval => Kind::ReplanAwaitingApproval,
        ReplanOutcome::Failed => Kind::ReplanFailed,
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
    fn record_of(event: &Event<'_>) -> Option<(Kind, Value)> {
        Some(match event {
            Event::TaskReused { task } => (Kind::TaskReused, json!({"task": task})),
            Event::TaskRetry { task, attempt, delay, detail } => (
                Kind::TaskRetry,
                json!({"task": task, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "detail": detail}),
            ),
            Event::TaskNotRun { task, state, reason } => {
                let kind = if *state == TaskState::Skipped { Kind::TaskSkipped } else { Kind::TaskCancelled };
                (kind, json!({"task": task, "reason": reason}))
            }
            Event::Replan { outcome, evidence, .. } => (replan_kind(*outcome), (*evidence).clone()),
            Event::RunFinished { status, exit_code, summary, wall_ms, .. } => (
                Kind::RunEnded,
                json!({"status": status, "exit_code": exit_code, "summary": summary, "wall_ms": wall_ms}),
            ),
            Event::Remote { notice } => (notice.kind, notice.body.clone()),
            Event::Control { action, by, request } => {
                (Kind::RunControl, json!({"action": action.as_str(), "by": by, "request": request}))
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
        if let Err(e) = self.log.append(kind, crate::audit::events::stamp(body, Some(&self.run_id))) {
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
