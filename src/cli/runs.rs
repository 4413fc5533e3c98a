//! `orchestra runs list|show|compare|prune`: the run index for people and
//! programs. [`open_run`] is the one way a command names a run (`runs show`,
//! `runs compare`, `logs`).

use crate::exit::Exit;
use crate::policy::units::HumanDuration;
use crate::runstore::checkpoint::Checkpoint;
use crate::runstore::index::{Index, RunRow, TaskRow};
use crate::runstore::{RunDir, checkpoint};
use crate::sandbox::changes::WorkspaceChanges;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `orchestra runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Runs directory (default: the config's, else `runs`).
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one run's tasks.
    Show {
        /// Run id.
        run_id: String,
        /// Runs directory.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// Also print what each task changed in the workspace (from its report
        /// in `reports/`: added, modified, deleted entries with sizes and SHA-256).
        #[arg(long)]
        changes: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two runs task by task (state and time).
    Compare {
        /// The earlier run.
        a: String,
        /// The later run.
        b: String,
        /// Runs directory.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause, continue or cancel a run that another orchestra process drives.
    ///
    /// pause: no new task starts (running tasks finish); continue: tasks start
    /// again; cancel: the run stops as on Ctrl-C and stays resumable. Waits
    /// until the run has acted on the request (it is then in the run's audit
    /// log as `run_control`); exit 1 if no process drives the run.
    Control {
        /// Run id.
        run_id: String,
        /// What to do.
        #[arg(value_enum)]
        action: crate::runstore::control::Action,
        /// Runs directory.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove old run directories and their index rows.
    ///
    /// Needs --older-than, --keep or both; with both, a run goes when it is
    /// older than DURATION and not among the newest N. Never removes a run in
    /// progress (its lock is held), the audit log, or anything a symbolic link
    /// in the runs directory points at.
    Prune {
        /// Remove runs whose last session (start or latest resume) began longer ago (`30d`, `12h`).
        #[arg(long, value_name = "DURATION", value_parser = HumanDuration::parse)]
        older_than: Option<HumanDuration>,
        /// Keep the newest N runs (by creation).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Runs directory.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How long `runs control` waits for the run to act on a request.
const CONTROL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `runs control`: write the request, then wait for the run's journal to show it acted.
fn control(dir: &Path, id: &str, action: crate::runstore::control::Action, json: bool) -> Exit {
    use crate::runstore::journal::{self, JournalEvent};
    let run = match open_run(dir, id) {
        Ok((run, _)) => run,
        Err(e) => return super::config_error(e),
    };
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {}", nix::unistd::getuid()), |u| u.name);
    let c = match crate::runstore::control::request(&run, action, &format!("cli:{user}")) {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    let deadline = std::time::Instant::now() + CONTROL_WAIT;
    let mut offset = 0;
    let acted = loop {
        let seen = crate::runstore::at::open_read(run.fd(), Path::new(journal::FILE))
            .ok()
            .and_then(|mut f| journal::read_from(&mut f, offset, 1 << 24).ok());
        if let Some(b) = seen {
            offset = b.offset;
            let done = b.entries.iter().find_map(|e| match &e.event {
                JournalEvent::Control { request, .. } if *request >= c.seq => Some(true),
                JournalEvent::RunFinished { .. } => Some(false),
                _ => None,
            });
            if let Some(done) = done {
                break Some(done);
            }
        }
        if std::time::Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let verb = match action {
        crate::runstore::control::Action::Pause => "paused: no new task starts",
        crate::runstore::control::Action::Continue => "continued",
        crate::runstore::control::Action::Cancel => "cancelled: its running tasks are being stopped",
    };
    match acted {
        Some(true) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"run_id": id, "action": action.as_str(), "request": c.seq, "acted": true})
                );
            } else {
                outln!("orchestra: run {id} {verb} (request {})", c.seq);
            }
            Exit::Ok
        }
        // The run ended first, or already was in that state (nothing to act on).
        Some(false) | None => {
            let why = if acted.is_some() {
                "the run ended before acting on it".to_string()
            } else {
                format!("the run did not act on it within {} s (already {}?)", CONTROL_WAIT.as_secs(), action.as_str())
            };
            super::config_error(format!("run {id}: request {} ({}): {why}", c.seq, action.as_str()))
        }
    }
}

/// The runs directory: the flag, else the config's, else `runs`.
pub(crate) fn runs_dir(flag: Option<PathBuf>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let cfg = crate::config::load(None, &cwd).ok();
    super::run::runs_dir(flag.as_deref(), cfg.as_ref().map(|c| &c.config))
}

/// Why runs cannot be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunsError {
    #[error("no runs directory at {} (see --runs-dir)", .0.display())]
    NoRunsDir(PathBuf),
    #[error(transparent)]
    Store(#[from] crate::runstore::RunStoreError),
}

fn open(dir: &std::path::Path) -> Result<Index, RunsError> {
    // A read-only command must not create a runs directory where there is none.
    if !dir.is_dir() {
        return Err(RunsError::NoRunsDir(dir.to_path_buf()));
    }
    let mut ix = Index::open(dir)?;
    ix.refresh()?;
    Ok(ix)
}

/// Open the run `id` of the runs directory `dir` and read its checkpoint (a
/// corrupted one is reported rather than shown stale): the one resolution of
/// a run named on the command line.
pub(crate) fn open_run(dir: &Path, id: &str) -> Result<(RunDir, Checkpoint), RunsError> {
    // A read-only command must not create a runs directory where there is none.
    if !dir.is_dir() {
        return Err(RunsError::NoRunsDir(dir.to_path_buf()));
    }
    let run = RunDir::open(dir, id)?;
    let cp = checkpoint::load_in(&run)?;
    Ok((run, cp))
}

fn tasks_of(ix: &Index, dir: &Path, id: &str) -> Result<Vec<TaskRow>, RunsError> {
    open_run(dir, id)?;
    Ok(ix.tasks(id)?)
}

/// Run `orchestra runs ...`.
pub fn run(cmd: RunsCommand) -> Exit {
    let (RunsCommand::List { json, .. }
    | RunsCommand::Show { json, .. }
    | RunsCommand::Compare { json, .. }
    | RunsCommand::Prune { json, .. }
    | RunsCommand::Control { json, .. }) = &cmd;
    // The tables quote plan text (an intent is a run's `source`): fenced under GitHub Actions.
    let _fence = (!*json).then(crate::ci::github::fence_output);
    match cmd {
        RunsCommand::Control { run_id, action, runs_dir: d, json } => control(&runs_dir(d), &run_id, action, json),
        RunsCommand::Prune { older_than, keep, dry_run, runs_dir: d, json } => {
            let rule = crate::runstore::prune::Rule { older_than: older_than.map(|d| d.0), keep };
            super::prune::run(runs_dir(d), rule, dry_run, json)
        }
        RunsCommand::List { runs_dir: d, json } => {
            let dir = runs_dir(d);
            let rows = match open(&dir).and_then(|ix| Ok(ix.runs()?)) {
                Ok(r) => r,
                Err(e) => return super::config_error(e),
            };
            if json {
                outln!("{}", crate::ci::github::json_pretty(&rows));
            } else {
                print_runs(&rows);
            }
            Exit::Ok
        }
        RunsCommand::Show { run_id, runs_dir: d, changes, json } => {
            let dir = runs_dir(d);
            let result = open(&dir).and_then(|ix| {
                let tasks = tasks_of(&ix, &dir, &run_id)?;
                let row = ix.runs()?.into_iter().find(|r| r.run_id == run_id);
                Ok((row, tasks))
            });
            let (row, tasks) = match result {
                Ok(x) => x,
                Err(e) => return super::config_error(e),
            };
            let changes = if changes { Some(task_changes(&dir, &run_id, &tasks)) } else { None };
            if json {
                let mut v = serde_json::json!({"run": row, "tasks": tasks});
                if let (Some(c), Some(o)) = (&changes, v.as_object_mut()) {
                    let map: serde_json::Map<String, serde_json::Value> =
                        c.iter().map(|(t, w)| (t.clone(), serde_json::json!(w))).collect();
                    o.insert("changes".into(), map.into());
                }
                outln!("{}", crate::ci::github::json_pretty(&v));
            } else {
                if let Some(r) = &row {
                    print_runs(std::slice::from_ref(r));
                    outln!();
                }
                outln!("{:<24} {:<10} {:>8} {:>4}  details", "TASK", "STATE", "TIME", "TRY");
                for t in &tasks {
                    let mut details = Vec::new();
                    if let Some(c) = t.cause.as_deref().filter(|c| *c != "ok") {
                        details.push(format!("cause={c}"));
                    }
                    if let Some(s) = t.exit_status.filter(|s| *s != 0) {
                        details.push(format!("exit={s}"));
                    }
                    if !t.rules.is_empty() {
                        details.push(format!("rules={}", t.rules));
                    }
                    outln!(
                        "{:<24} {:<10} {:>8} {:>4}  {}",
                        t.task_id,
                        t.state,
                        crate::orchestrator::report::fmt_ms(t.wall_ms),
                        t.attempts,
                        details.join(" ")
                    );
                }
                for (task, c) in changes.iter().flatten() {
                    print_changes(task, c.as_ref());
                }
                outln!("\nreport: {}", dir.join(&run_id).join("report.md").display());
            }
            Exit::Ok
        }
        RunsCommand::Compare { a, b, runs_dir: d, json } => {
            let dir = runs_dir(d);
            let result = open(&dir).and_then(|ix| Ok((tasks_of(&ix, &dir, &a)?, tasks_of(&ix, &dir, &b)?)));
            let (ta, tb) = match result {
                Ok(x) => x,
                Err(e) => return super::config_error(e),
            };
            let mut ids: Vec<&str> = ta.iter().chain(&tb).map(|t| t.task_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let find = |v: &[TaskRow], id: &str| v.iter().find(|t| t.task_id == id).cloned();
            let rows: Vec<serde_json::Value> = ids
                .iter()
                .map(|id| {
                    let (x, y) = (find(&ta, id), find(&tb, id));
                    serde_json::json!({
                        "task": id,
                        "a": x.as_ref().map(|t| serde_json::json!({"state": t.state, "wall_ms": t.wall_ms})),
                        "b": y.as_ref().map(|t| serde_json::json!({"state": t.state, "wall_ms": t.wall_ms})),
                        "state_changed": x.as_ref().map(|t| &t.state) != y.as_ref().map(|t| &t.state),
                    })
                })
                .collect();
            if json {
                outln!("{}", crate::ci::github::json_pretty(&rows));
            } else {
                outln!("{:<24} {:<22} {:<22} change", "TASK", a, b);
                for id in &ids {
                    let (x, y) = (find(&ta, id), find(&tb, id));
                    let show = |t: &Option<TaskRow>| {
                        t.as_ref()
                            .map(|t| format!("{} {}", t.state, crate::orchestrator::report::fmt_ms(t.wall_ms)))
                            .unwrap_or_else(|| "-".into())
                    };
                    let change = crate::runstore::compare::change(
                        x.as_ref().map(|t| (t.state.as_str(), t.wall_ms)),
                        y.as_ref().map(|t| (t.state.as_str(), t.wall_ms)),
                    );
                    outln!("{:<24} {:<22} {:<22} {}", id, show(&x), show(&y), change);
                }
            }
            Exit::Ok
        }
    }
}

/// Each task's workspace changes, from its report in `reports/` (`None`
/// when the task has no report, or its report has no diff).
fn task_changes(dir: &Path, run_id: &str, tasks: &[TaskRow]) -> Vec<(String, Option<WorkspaceChanges>)> {
    let run = RunDir::open(dir, run_id).ok();
    tasks
        .iter()
        .map(|t| {
            let c = run
                .as_ref()
                .and_then(|r| r.read(&r.task_report_rel(&t.task_id)).ok())
                .and_then(|b| serde_json::from_slice::<crate::sandbox::Report>(&b).ok())
                .and_then(|r| r.workspace_changes);
            (t.task_id.clone(), c)
        })
        .collect()
}

/// One task's changes for people: the summary, then one line per listed change.
fn print_changes(task: &str, c: Option<&WorkspaceChanges>) {
    outln!();
    let Some(c) = c else {
        outln!("{}: no workspace diff in its report", task.escape_debug());
        return;
    };
    outln!("{}: {}", task.escape_debug(), c.summary());
    for e in &c.entries {
        let size = e.size.or(e.old_size).map(|n| format!("{n} B")).unwrap_or_default();
        let mut what = e.path.escape_debug().to_string();
        if let Some(t) = &e.target {
            what.push_str(&format!(" -> {}", t.escape_debug()));
        }
        if let Some(m) = &e.old_mode
            && e.change != crate::sandbox::changes::ChangeKind::Deleted
        {
            what.push_str(&format!(" (mode {m} -> {})", e.mode.as_deref().unwrap_or("?")));
        }
        if let Some(h) = &e.sha256 {
            what.push_str(&format!("  sha256:{h}"));
        } else if let Some(u) = &e.unhashed {
            what.push_str(&format!("  (not hashed: {u})"));
        }
        outln!("  {:<9} {:<8} {:>10}  {}", e.change.as_str(), kind_name(e.kind), size, what);
    }
    if c.truncated {
        outln!(
            "  … {} more, counted above (the report lists the first {})",
            c.total() - c.entries.len() as u64,
            c.max_listed
        );
    }
    if !c.unreadable.is_empty() {
        outln!("  not compared (unreadable): {}", c.unreadable.join(", ").escape_debug());
    }
}

fn kind_name(k: crate::sandbox::changes::EntryKind) -> &'static str {
    use crate::sandbox::changes::EntryKind as K;
    match k {
        K::File => "file",
        K::Dir => "dir",
        K::Symlink => "symlink",
        K::Fifo => "fifo",
        K::Socket => "socket",
        K::CharDevice => "chardev",
        K::BlockDevice => "blockdev",
        K::Other => "other",
    }
}

fn print_runs(rows: &[RunRow]) {
    outln!("{:<22} {:<12} {:>4} {:>6} {:>6} {:>7}  source", "RUN", "STATUS", "EXIT", "TASKS", "OK", "NOT OK");
    for r in rows {
        outln!(
            "{:<22} {:<12} {:>4} {:>6} {:>6} {:>7}  {}",
            r.run_id,
            r.status,
            r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            r.tasks,
            r.succeeded,
            r.failed + r.not_run,
            r.source
        );
    }
}
