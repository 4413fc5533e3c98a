//! What a run shows while it runs: a live view on a terminal, plain lines in
//! CI or when piped, or a JSON event stream for programs (`--json`).
//!
//! Guarantees: the JSON stream is one object per line on stdout and nothing
//! else goes to stdout; human output goes to stderr; colours and the live view
//! appear only on a terminal, never under `CI=true` or with `NO_COLOR` set.

use crate::runstore::checkpoint::TaskState;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
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
}

impl Mode {
    /// Pick the mode: `--json`, else live on a terminal outside CI, else plain.
    pub fn detect(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none_or(|v| v.is_empty() || v == "false")
        {
            Mode::Live
        } else {
            Mode::Plain
        }
    }
}

/// A run event.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The run starts (or resumes).
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
    /// A task reached a final state.
    TaskFinished {
        /// Task id.
        task: &'a str,
        /// Final state.
        state: TaskState,
        /// Wall time, ms.
        wall_ms: u64,
        /// Cause, exit status, rules, or why skipped.
        detail: &'a str,
    },
    /// A replan was proposed (`outcome`: `adopted`, `declined`, `awaiting_approval`, `failed`).
    /// People see it through [`Progress::say`]; only `--json` gets the event.
    Replan {
        /// 1 for the run's first replan.
        replan: u32,
        /// The task whose failure caused it.
        task: &'a str,
        /// What became of it.
        outcome: &'a str,
        /// The backend that proposed it (empty if none could).
        backend: &'a str,
        /// The diff summary, or the error.
        detail: &'a str,
    },
    /// The run ended.
    RunFinished {
        /// Run id.
        run_id: &'a str,
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
            (None, _) => eprintln!("{line}"),
        }
    }

    /// Show one event.
    pub fn event(&mut self, e: &Event<'_>) {
        match self.mode {
            Mode::Json => json_line(e),
            Mode::Plain => {
                if let Some(line) = plain_line(e) {
                    eprintln!("{line}");
                }
            }
            Mode::Live => self.live(e),
        }
    }

    fn live(&mut self, e: &Event<'_>) {
        let color = crate::cli::use_color();
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
            Event::TaskStarted { task, attempt } => {
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
            Event::TaskRetry { task, .. } | Event::TaskFinished { task, .. } => {
                if let Some(bar) = self.bars.remove(*task) {
                    bar.finish_and_clear();
                    if let Some(m) = &self.multi {
                        m.remove(&bar);
                    }
                }
                if matches!(e, Event::TaskFinished { state, .. } if *state != TaskState::Skipped && *state != TaskState::Cancelled)
                    && let Some(o) = &self.overall
                {
                    o.inc(1);
                }
                if let Some(line) = plain_line(e)
                    && let Some(m) = &self.multi
                {
                    let _ = m.println(line);
                }
            }
            Event::TaskReused { .. } | Event::Replan { .. } => {}
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
                    eprintln!("{line}");
                }
            }
        }
    }
}

fn plain_line(e: &Event<'_>) -> Option<String> {
    Some(match e {
        Event::Replan { .. } => return None,
        Event::RunStarted { run_id, tasks, to_run, concurrency } => {
            let reused = tasks - to_run;
            let extra = if reused > 0 { format!(", {reused} reused") } else { String::new() };
            format!("orchestra: run {run_id}: {to_run} of {tasks} tasks to run{extra}, concurrency {concurrency}")
        }
        Event::TaskReused { task } => format!("orchestra: {task} reused (succeeded earlier, same fingerprint)"),
        Event::TaskStarted { task, attempt } if *attempt > 1 => {
            format!("orchestra: {task} started (attempt {attempt})")
        }
        Event::TaskStarted { task, .. } => format!("orchestra: {task} started"),
        Event::TaskRetry { task, attempt, delay, detail } => {
            format!(
                "orchestra: {task} attempt {attempt} failed ({detail}); retrying in {}",
                humantime::format_duration(*delay)
            )
        }
        Event::TaskFinished { task, state, wall_ms, detail } => {
            let time = if *wall_ms > 0 { format!(" in {}", fmt_ms(*wall_ms)) } else { String::new() };
            let detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
            format!("orchestra: {task} {}{time}{detail}", state.as_str())
        }
        Event::RunFinished { run_id, status, exit_code, wall_ms, summary, .. } => {
            format!("orchestra: run {run_id} {status} in {}: {summary}; exit {exit_code}", fmt_ms(*wall_ms))
        }
    })
}

/// Milliseconds for people: `850ms`, `12.3s`, `4m05s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

fn json_line(e: &Event<'_>) {
    let v = match e {
        Event::RunStarted { run_id, tasks, to_run, concurrency } => {
            json!({"event": "run_started", "run_id": run_id, "tasks": tasks, "to_run": to_run, "concurrency": concurrency})
        }
        Event::TaskReused { task } => json!({"event": "task_reused", "task": task}),
        Event::TaskStarted { task, attempt } => json!({"event": "task_started", "task": task, "attempt": attempt}),
        Event::TaskRetry { task, attempt, delay, detail } => json!({
            "event": "task_retry", "task": task, "attempt": attempt,
            "delay_ms": delay.as_millis() as u64, "detail": detail
        }),
        Event::TaskFinished { task, state, wall_ms, detail } => json!({
            "event": "task_finished", "task": task, "state": state.as_str(), "wall_ms": wall_ms, "detail": detail
        }),
        Event::Replan { replan, task, outcome, backend, detail } => json!({
            "event": "replan", "replan": replan, "task": task, "outcome": outcome, "backend": backend, "detail": detail
        }),
        Event::RunFinished { run_id, status, exit_code, wall_ms, sandboxes_ms, summary } => json!({
            "event": "run_finished", "run_id": run_id, "status": status, "exit_code": exit_code,
            "wall_ms": wall_ms, "sandboxes_ms": sandboxes_ms, "summary": summary
        }),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}
