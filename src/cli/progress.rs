//! What a run shows while it runs: a live view on a terminal, plain lines in
//! CI or when piped, or a JSON event stream for programs (`--json`). It is an
//! [`Observer`] of the run's events, installed by `orchestra run` and
//! `orchestra resume`.
//!
//! Guarantees: the JSON stream is one object per line on stdout and nothing
//! else goes to stdout; human output goes to stderr; colours and the live view
//! appear only on a terminal, never under `CI=true` or with `NO_COLOR` set.
//! Under GitHub Actions the run's lines are fenced against workflow commands
//! from its start, and the run ends with every task's log in a group and the
//! annotations; elsewhere (and not `--json`) it ends with the end of each
//! failed task's log.

use crate::orchestrator::events::{Event, Observer, Problem};
use crate::orchestrator::report::{RunReport, fmt_ms};
use crate::runstore::RunDir;
use crate::runstore::checkpoint::TaskState;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live view (indicatif) on stderr.
    Live,
    /// One line per event on stderr.
    Plain,
    /// JSON lines on stdout.
    Json,
    /// Only the run's last line (and messages for people) on stderr.
    Quiet,
}

/// `--progress`: how a run shows itself on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Choice {
    /// A live view on a terminal; plain lines in CI (`CI` set), when stderr is
    /// not a terminal, or with `NO_COLOR` set.
    #[default]
    Auto,
    /// The live view.
    Live,
    /// One line per event.
    Plain,
    /// Only the run's last line, errors and the end of failed tasks' logs.
    None,
}

impl Mode {
    /// Pick the mode: `--json`, else what `--progress` says; `auto` is live on
    /// a terminal outside CI and without `NO_COLOR`, else plain.
    pub fn choose(json: bool, choice: Choice) -> Mode {
        let set = |v: &str| std::env::var_os(v).is_some_and(|v| !v.is_empty());
        match choice {
            _ if json => Mode::Json,
            Choice::Live => Mode::Live,
            Choice::Plain => Mode::Plain,
            Choice::None => Mode::Quiet,
            Choice::Auto => {
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
                if std::io::stderr().is_terminal() && !ci && !set("NO_COLOR") { Mode::Live } else { Mode::Plain }
            }
        }
    }
}

/// Shows events.
pub struct Progress {
    mode: Mode,
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    bars: HashMap<String, ProgressBar>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("mode", &self.mode).finish()
    }
}

impl Observer for Progress {
    fn event(&mut self, e: &Event<'_>) -> Result<(), Problem> {
        match e {
            Event::Message { line } => self.say(line),
            Event::RunStarted { .. } => {
                crate::ci::github::fence_progress();
                self.show(e);
            }
            Event::RunFinished { run, report, .. } => {
                // The GitHub log groups read the logs by path: only while the path leads to the run directory.
                if crate::ci::github::Github::detect().is_some() && run.intact().is_ok() {
                    // Every task's log in a group, fenced against workflow commands, then the annotations.
                    crate::ci::github::print(report, run);
                } else if self.mode != Mode::Json {
                    self.print_failures(run, report);
                }
                self.show(e);
            }
            _ => self.show(e),
        }
        Ok(())
    }
}

impl Progress {
    /// A progress display in `mode`.
    pub fn new(mode: Mode) -> Progress {
        Progress { mode, multi: None, overall: None, bars: HashMap::new() }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Print a line for people (above the live view, or on stderr).
    pub fn say(&self, line: &str) {
        match (&self.multi, self.mode) {
            (Some(m), _) => {
                let _ = m.println(line);
            }
            (None, Mode::Json) => {}
            (None, _) => crate::sandbox::say!("{line}"),
        }
    }

    /// Show one event.
    fn show(&mut self, e: &Event<'_>) {
        match self.mode {
            Mode::Json => json_line(e),
            Mode::Plain => {
                if let Some(line) = plain_line(e) {
                    crate::sandbox::say!("{line}");
                }
            }
            Mode::Live => self.live(e),
            Mode::Quiet => {
                if let Event::RunFinished { .. } = e
                    && let Some(line) = plain_line(e)
                {
                    crate::sandbox::say!("{line}");
                }
            }
        }
    }

    /// In CI and plain output, show the end of each failed task's log: that is what people look for.
    fn print_failures(&self, run: &RunDir, report: &RunReport) {
        const TAIL: usize = 20;
        // The tasks of the plan (not the failures a plan change took out of it), in plan order.
        let tasks = report.tasks.iter().filter(|t| !crate::orchestrator::replan::is_replaced_key(&t.id));
        for t in tasks.filter(|t| matches!(t.state.as_str(), "failed" | "timed_out" | "violation")) {
            let path = run.log(&t.id);
            let bytes = run.read(&run.log_rel(&t.id)).unwrap_or_default();
            let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            let lines = if lines.last().is_some_and(|l| l.is_empty()) { &lines[..lines.len() - 1] } else { &lines[..] };
            let from = lines.len().saturating_sub(TAIL);
            self.say(&format!("orchestra: --- last {} lines of {} ---", lines.len() - from, path.display()));
            // The task wrote these: on a terminal, nothing in them may act as a
            // control (hide our summary, draw a forged one).
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            for l in &lines[from..] {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let shown = if tty { super::terminal::neutralised(l) } else { String::from_utf8_lossy(l).into_owned() };
                self.say(&format!("  | {shown}"));
            }
        }
    }

    fn live(&mut self, e: &Event<'_>) {
        let color = super::use_color();
        match e {
            Event::RunStarted { to_run, .. } => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let bar = multi.add(ProgressBar::new(*to_run as u64));
                let tmpl = if color {
                    "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} tasks {elapsed}"
                } else {
                    "{prefix} [{bar:30}] {pos}/{len} tasks {elapsed}"
                };
                if let Ok(style) = ProgressStyle::with_template(tmpl) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix("run");
                if let Some(line) = plain_line(e) {
                    let _ = multi.println(line);
                }
                self.multi = Some(multi);
                self.overall = Some(bar);
            }
            Event::TaskStarted { task, attempt, .. } => {
                let Some(multi) = &self.multi else { return };
                let bar = multi.add(ProgressBar::new_spinner());
                let tmpl = if color { "  {spinner:.green} {msg} {elapsed}" } else { "  {spinner} {msg} {elapsed}" };
                if let Ok(style) = ProgressStyle::with_template(tmpl) {
                    bar.set_style(style);
                }
                let suffix = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                bar.set_message(format!("{task}{suffix}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Some(old) = self.bars.insert(task.to_string(), bar) {
                    old.finish_and_clear();
                }
            }
            Event::TaskRetry { task, .. } | Event::TaskFinished { task, .. } | Event::TaskNotRun { task, .. } => {
                if let Some(bar) = self.bars.remove(*task) {
                    bar.finish_and_clear();
                    if let Some(m) = &self.multi {
                        m.remove(&bar);
                    }
                }
                let counted = match e {
                    Event::TaskFinished { state, .. } | Event::TaskNotRun { state, .. } => {
                        *state != TaskState::Skipped && *state != TaskState::Cancelled
                    }
                    _ => false,
                };
                if counted && let Some(o) = &self.overall {
                    o.inc(1);
                }
                if let Some(line) = plain_line(e)
                    && let Some(m) = &self.multi
                {
                    let _ = m.println(line);
                }
            }
            Event::TaskReused { .. }
            | Event::Replan { .. }
            | Event::Message { .. }
            | Event::ReportWritten { .. }
            | Event::Remote { .. }
            | Event::Control { .. } => {}
            Event::RunFinished { .. } => {
                for (_, bar) in self.bars.drain() {
                    bar.finish_and_clear();
                }
                if let Some(o) = self.overall.take() {
                    o.finish_and_clear();
                }
                if let Some(m) = self.multi.take() {
                    let _ = m.clear();
                }
                if let Some(line) = plain_line(e) {
                    crate::sandbox::say!("{line}");
                }
            }
        }
    }
}

/// A task's final state as shown: `(task, state, wall_ms, detail)`.
fn finished<'a>(e: &Event<'a>) -> Option<(&'a str, TaskState, u64, &'a str)> {
    match *e {
        Event::TaskFinished { task, state, wall_ms, detail, .. } => Some((task, state, wall_ms, detail)),
        // Shown as a task that finished without taking time.
        Event::TaskNotRun { task, state, reason } => Some((task, state, 0, reason)),
        _ => None,
    }
}

fn plain_line(e: &Event<'_>) -> Option<String> {
    if let Some((task, state, wall_ms, detail)) = finished(e) {
        let time = if wall_ms > 0 { format!(" in {}", fmt_ms(wall_ms)) } else { String::new() };
        let detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
        return Some(format!("orchestra: {task} {}{time}{detail}", state.as_str()));
    }
    Some(match e {
        Event::Replan { .. }
        | Event::Message { .. }
        | Event::ReportWritten { .. }
        | Event::Remote { .. }
        | Event::Control { .. } => {
            return None;
        }
        Event::TaskFinished { .. } | Event::TaskNotRun { .. } => return None,
        Event::RunStarted { run_id, tasks, to_run, concurrency } => {
            let reused = tasks - to_run;
            let extra = if reused > 0 { format!(", {reused} reused") } else { String::new() };
            format!("orchestra: run {run_id}: {to_run} of {tasks} tasks to run{extra}, concurrency {concurrency}")
        }
        Event::TaskReused { task } => format!("orchestra: {task} reused (succeeded earlier, same fingerprint)"),
        Event::TaskStarted { task, attempt, .. } if *attempt > 1 => {
            format!("orchestra: {task} started (attempt {attempt})")
        }
        Event::TaskStarted { task, .. } => format!("orchestra: {task} started"),
        Event::TaskRetry { task, attempt, delay, detail } => {
            format!(
                "orchestra: {task} attempt {attempt} failed ({detail}); retrying in {}",
                humantime::format_duration(*delay)
            )
        }
        Event::RunFinished { report, status, exit_code, wall_ms, summary, .. } => {
            format!("orchestra: run {} {status} in {}: {summary}; exit {exit_code}", report.run_id, fmt_ms(*wall_ms))
        }
    })
}

fn json_line(e: &Event<'_>) {
    let v = if let Some((task, state, wall_ms, detail)) = finished(e) {
        json!({"event": "task_finished", "task": task, "state": state.as_str(), "wall_ms": wall_ms, "detail": detail})
    } else {
        match e {
            Event::Message { .. } | Event::ReportWritten { .. } | Event::Remote { .. } => return,
            Event::TaskFinished { .. } | Event::TaskNotRun { .. } => return,
            Event::RunStarted { run_id, tasks, to_run, concurrency } => {
                json!({"event": "run_started", "run_id": run_id, "tasks": tasks, "to_run": to_run, "concurrency": concurrency})
            }
            Event::TaskReused { task } => json!({"event": "task_reused", "task": task}),
            Event::TaskStarted { task, attempt, .. } => {
                json!({"event": "task_started", "task": task, "attempt": attempt})
            }
            Event::Control { action, by, request } => {
                json!({"event": "control", "action": action.as_str(), "by": by, "request": request})
            }
            Event::TaskRetry { task, attempt, delay, detail } => json!({
                "event": "task_retry", "task": task, "attempt": attempt,
                "delay_ms": delay.as_millis() as u64, "detail": detail
            }),
            Event::Replan { replan, task, outcome, backend, detail, .. } => json!({
                "event": "replan", "replan": replan, "task": task, "outcome": outcome.as_str(),
                "backend": backend, "detail": detail
            }),
            Event::RunFinished { report, status, exit_code, wall_ms, sandboxes_ms, summary, .. } => json!({
                "event": "run_finished", "run_id": report.run_id, "status": status, "exit_code": exit_code,
                "wall_ms": wall_ms, "sandboxes_ms": sandboxes_ms, "summary": summary
            }),
        }
    };
    outln!("{v}");
}
