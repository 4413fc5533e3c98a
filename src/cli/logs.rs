//! `orchestra logs RUN [TASK] [--follow]`: a run's task logs
//! (`runs/<run>/logs/<task>.log`).
//!
//! Guarantees:
//! - The run is named as `runs show` names it ([`super::runs::open_run`]); a
//!   task must be one of the run's (its plan's or its checkpoint's), so a
//!   TASK never becomes a path of its own, and a log is opened relative to
//!   the run directory's descriptor, never through a link, and only if it is
//!   a regular file. An unknown run or task is one line on stderr, exit 1.
//! - Without TASK, every task's log, in the order of the run's `plan.yaml`,
//!   each under a `==> TASK <==` line (as `tail` heads files); a task that
//!   has no log yet (not started) is left out.
//! - The bytes are the task's, unchanged — except on a terminal, where they
//!   are neutralised ([`super::terminal`]) unless `--raw`: a task writes its
//!   own log, and a hostile one must not drive the reader's terminal.
//! - `--follow` prints what is appended while the run's lock is held (the
//!   run is in progress, [`crate::runstore::lock::is_held_in`]), and ends once
//!   it is no longer held and every log has been read to its end, so no byte
//!   written before the run ended is lost. On a finished run it prints and
//!   exits. Logs of tasks that start meanwhile (a replan's too) are picked up.
//! - A reader that goes away ends the output quietly, exit 0 ([`super::output`]);
//!   under GitHub Actions the output is fenced, so no line of a log is read as
//!   a workflow command.

use super::terminal::Neutraliser;
use crate::exit::Exit;
use crate::runstore::RunDir;
use crate::runstore::checkpoint::Checkpoint;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a follower looks for new output and for the run's end.
const POLL: Duration = Duration::from_millis(200);
/// Read at most this much at a time.
const CHUNK: usize = 64 * 1024;

/// `orchestra logs`
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Run id (see `orchestra runs list`).
    pub run_id: String,
    /// One task of the run; without it, every task's log in plan order, each under `==> TASK <==`.
    pub task: Option<String>,
    /// Keep printing as the logs grow while the run is in progress; end when it ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Print the bytes unchanged even to a terminal (by default a terminal gets controls escaped).
    #[arg(long)]
    pub raw: bool,
    /// Runs directory.
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
}

/// Why logs cannot be shown.
#[derive(Debug, thiserror::Error)]
enum LogsError {
    #[error(transparent)]
    Runs(#[from] super::runs::RunsError),
    #[error("run {run} has no task {task:?} (its tasks: {})", known.join(", "))]
    NoSuchTask { run: String, task: String, known: Vec<String> },
}

/// Run `orchestra logs`.
pub fn run(args: LogsArgs) -> Exit {
    let dir = super::runs::runs_dir(args.runs_dir);
    let (run, cp) = match super::runs::open_run(&dir, &args.run_id) {
        Ok(x) => x,
        Err(e) => return super::config_error(LogsError::from(e)),
    };
    let chosen = match &args.task {
        Some(t) => {
            let known = task_ids(&run, &cp);
            if !known.contains(t) {
                let e = LogsError::NoSuchTask { run: run.id.clone(), task: t.clone(), known };
                return super::config_error(e);
            }
            Some(t.clone())
        }
        None => None,
    };
    let _fence = crate::ci::github::fence_output();
    let neutralise = !args.raw && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut printer =
        Printer { headers: chosen.is_none(), neutraliser: neutralise.then(Neutraliser::default), ..Printer::default() };
    let mut logs: Vec<Log> = Vec::new();
    let mut first = true;
    loop {
        // Looked at before reading: once the run has ended, one more pass reads everything it wrote.
        let live = args.follow && crate::runstore::lock::is_held_in(&run);
        let ids = match &chosen {
            Some(t) => vec![t.clone()],
            None if first => task_ids(&run, &cp),
            // The plan may change while the run goes on (a replan): read it again.
            None => crate::runstore::checkpoint::load_in(&run).map(|c| task_ids(&run, &c)).unwrap_or_default(),
        };
        for id in ids {
            if !logs.iter().any(|l| l.task == id) {
                logs.push(Log { task: id, file: None, offset: 0 });
            }
        }
        for log in &mut logs {
            log.drain(&run, &mut printer, first);
            if super::output::stopped() {
                break;
            }
        }
        printer.flush();
        first = false;
        if !live || super::output::stopped() {
            break;
        }
        std::thread::sleep(POLL);
    }
    printer.finish();
    if chosen.is_some() && logs.iter().all(|l| l.file.is_none()) && !super::output::stopped() {
        crate::sandbox::say!("orchestra: task {} of run {} has no log (it has not started)", logs_task(&logs), run.id);
    }
    Exit::Ok
}

fn logs_task(logs: &[Log]) -> &str {
    logs.first().map(|l| l.task.as_str()).unwrap_or_default()
}

/// The run's tasks: those of its `plan.yaml` in the plan's order, then any
/// other task of its checkpoint (not the `<id>@replan-N` records of replaced
/// failures, whose log is their task's).
fn task_ids(run: &RunDir, cp: &Checkpoint) -> Vec<String> {
    let plan = run
        .read(Path::new("plan.yaml"))
        .ok()
        .and_then(|b| crate::plan::parse(&String::from_utf8_lossy(&b), "plan.yaml").ok());
    let mut ids: Vec<String> = plan.map(|p| p.tasks.iter().map(|t| t.id().to_string()).collect()).unwrap_or_default();
    for id in cp.tasks.keys() {
        if !crate::orchestrator::replan::is_replaced_key(id) && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// One task's log as far as it was printed.
struct Log {
    task: String,
    /// Open once it exists.
    file: Option<File>,
    /// Bytes printed so far.
    offset: u64,
}

impl Log {
    /// Print what was appended since the last call. `announce`: head an
    /// existing log even when it is empty (the first pass).
    fn drain(&mut self, run: &RunDir, printer: &mut Printer, announce: bool) {
        if self.file.is_none() {
            match run.open_read(&run.log_rel(&self.task)) {
                Ok(f) => self.file = Some(f),
                // Not started yet (or not a regular file, which no run writes): nothing to show.
                Err(_) => return,
            }
            if announce {
                printer.switch_to(&self.task);
            }
        }
        let Some(file) = self.file.as_mut() else { return };
        if file.metadata().is_ok_and(|m| m.len() < self.offset) {
            crate::sandbox::say!(
                "orchestra: the log of task {} was truncated; reading it again from its start",
                self.task
            );
            self.offset = 0;
            let _ = file.rewind();
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    self.offset += n as u64;
                    printer.switch_to(&self.task);
                    printer.bytes(&buf[..n]);
                    if super::output::stopped() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::sandbox::say!("orchestra: reading the log of task {}: {e}", self.task);
                    return;
                }
            }
        }
    }
}

/// Writes logs to stdout: headers when the output moves to another task,
/// neutralised on a terminal.
#[derive(Default)]
struct Printer {
    headers: bool,
    neutraliser: Option<Neutraliser>,
    /// The task last printed.
    current: Option<String>,
    /// Whether the last byte printed ended a line (or nothing was printed).
    at_line_start: bool,
    printed: bool,
}

impl Printer {
    fn switch_to(&mut self, task: &str) {
        if !self.headers || self.current.as_deref() == Some(task) {
            return;
        }
        self.end_piece();
        let gap = if self.printed { "\n" } else { "" };
        self.raw(format!("{gap}==> {task} <==\n").as_bytes());
        self.current = Some(task.to_string());
    }

    fn bytes(&mut self, b: &[u8]) {
        match self.neutraliser.as_mut() {
            Some(n) => {
                let mut out = Vec::with_capacity(b.len());
                n.push(b, &mut out);
                self.raw(&out);
            }
            None => self.raw(b),
        }
    }

    /// The neutraliser holds back what a piece boundary cut (before another task's bytes).
    fn end_piece(&mut self) {
        if let Some(n) = self.neutraliser.as_mut() {
            let mut out = Vec::new();
            n.finish(&mut out);
            self.raw(&out);
        }
        // A header starts a line of its own.
        if self.printed && !self.at_line_start {
            self.raw(b"\n");
        }
    }

    fn raw(&mut self, b: &[u8]) {
        if let Some(last) = b.last() {
            super::output::write_bytes(b);
            self.at_line_start = *last == b'\n';
            self.printed = true;
        }
    }

    fn flush(&mut self) {
        super::output::flush();
    }

    /// The end of the output: what the neutraliser held back; under GitHub
    /// Actions a last line of its own, so the fence's closing line is one.
    fn finish(&mut self) {
        if let Some(n) = self.neutraliser.as_mut() {
            let mut out = Vec::new();
            n.finish(&mut out);
            self.raw(&out);
        }
        if self.printed && !self.at_line_start && crate::ci::github::Github::detect().is_some() {
            self.raw(b"\n");
        }
        super::output::flush();
    }
}
