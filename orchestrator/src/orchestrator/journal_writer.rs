//! The journal writer: the observer that copies a run's events into its
//! event journal ([`crate::runstore::journal`]) for watchers in other
//! processes (the dashboard).
//!
//! Guarantees: every event but [`Event::ReportWritten`] becomes one line, in
//! the order the bus delivers them, with the task's policy and backend on its
//! start. The journal is a view, not evidence: a line that cannot be written
//! is a warning once (the run goes on and its exit code does not change;
//! the dashboard then shows the checkpoint's states without the live tail).

use super::events::{Event, Observer, Problem};
use crate::runstore::RunDir;
use crate::runstore::journal::{JournalEvent, Writer};

/// Copies events to `events.jsonl`.
#[derive(Debug)]
pub struct JournalWriter {
    writer: Option<Writer>,
    warned: bool,
}

impl JournalWriter {
    /// A writer for `run`'s journal; one that cannot be opened is a warning
    /// and the run goes on without it.
    pub fn open(run: &RunDir) -> JournalWriter {
        match Writer::open(run) {
            Ok(w) => JournalWriter { writer: Some(w), warned: false },
            Err(e) => {
                tracing::warn!("{e} (the dashboard will not follow this run live)");
                JournalWriter { writer: None, warned: true }
            }
        }
    }

    fn line_of(event: &Event<'_>) -> Option<JournalEvent> {
        Some(match event {
            Event::RunStarted { tasks, to_run, concurrency, .. } => {
                JournalEvent::RunStarted { tasks: *tasks, to_run: *to_run, concurrency: *concurrency }
            }
            Event::TaskReused { task } => JournalEvent::TaskReused { task: task.to_string() },
            Event::TaskStarted { task, attempt, policy, backend } => JournalEvent::TaskStarted {
                task: task.to_string(),
                attempt: *attempt,
                policy: policy.strip_prefix("preset:").unwrap_or(policy).to_string(),
                backend: backend.to_string(),
            },
            Event::TaskRetry { task, attempt, delay, detail } => JournalEvent::TaskRetry {
                task: task.to_string(),
                attempt: *attempt,
                delay_ms: delay.as_millis() as u64,
                detail: detail.to_string(),
            },
            Event::TaskFinished { task, state, wall_ms, detail, record, sandbox_ms } => JournalEvent::TaskFinished {
                task: task.to_string(),
                state: state.as_str().to_string(),
                wall_ms: *wall_ms,
                detail: detail.to_string(),
                rules: record.violations.iter().map(|v| v.rule.to_string()).collect(),
                setup_ms: *sandbox_ms,
            },
            Event::TaskNotRun { task, state, reason } => JournalEvent::TaskNotRun {
                task: task.to_string(),
                state: state.as_str().to_string(),
                reason: reason.to_string(),
            },
            Event::Message { line } => JournalEvent::Message { line: line.to_string() },
            Event::Replan { replan, task, outcome, detail, .. } => JournalEvent::Replan {
                replan: *replan,
                task: task.to_string(),
                outcome: outcome.as_str().to_string(),
                detail: detail.to_string(),
            },
            Event::Remote { notice } => JournalEvent::Remote { kind: notice.kind.as_str().to_string() },
            Event::Control { action, by, request } => {
                JournalEvent::Control { action: action.as_str().to_string(), by: by.to_string(), request: *request }
            }
            Event::RunFinished { status, exit_code, wall_ms, summary, .. } => JournalEvent::RunFinished {
                status: status.to_string(),
                exit_code: *exit_code,
                wall_ms: *wall_ms,
                summary: summary.to_string(),
            },
            Event::ReportWritten { .. } => return None,
        })
    }
}

impl Observer for JournalWriter {
    fn event(&mut self, event: &Event<'_>) -> Result<(), Problem> {
        let Some(line) = Self::line_of(event) else { return Ok(()) };
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        if let Err(e) = w.append(line) {
            self.writer = None;
            if !self.warned {
                self.warned = true;
                tracing::warn!("events.jsonl: {e} (the dashboard will not follow this run live)");
            }
        }
        Ok(())
    }
}
