//! One attempt of one task: an `orchestra exec` child process (L3).
//!
//! Guarantees: each attempt runs in its own `orchestra exec` process (the
//! jail must be created by a single-threaded process, and a crash of one
//! sandbox cannot take the scheduler down); its stdout and stderr go to the
//! task's log file; it is killed by the kernel if the orchestrator dies
//! (`PR_SET_PDEATHSIG`, armed by `exec --run-parent` before anything else,
//! tied to the scheduler's thread that spawned it), and [`Handle::stop`]
//! signals it through a pidfd, so a recycled pid is never signalled. The
//! outcome comes from the sandbox's own JSON report; a missing or unreadable
//! report is a failed attempt, never a success.

use crate::sandbox::report::{Cause, Report};
use crate::sandbox::sys;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Everything `orchestra exec` needs for one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Task id (the sandbox's task name).
    pub task: String,
    /// 1-based attempt number.
    pub number: u32,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Policy file or preset.
    pub policy: String,
    /// The effective policy's hash as checked before the run (exec refuses another).
    pub policy_sha256: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Wall-clock timeout override.
    pub timeout: Option<String>,
    /// Workspace.
    pub workdir: PathBuf,
    /// Audit log directory.
    pub audit_dir: PathBuf,
    /// Run id (tags the audit records).
    pub run_id: String,
    /// Paths hidden from the task besides the audit log (the runs directory).
    pub protect: Vec<PathBuf>,
    /// The run directory (opened before any task ran): the log, the report
    /// and exec's working directory are reached through it, never by path.
    pub run: crate::runstore::RunDir,
    /// Where the sandbox writes its report, relative to the run directory.
    pub report: PathBuf,
    /// The task's log file (appended), relative to the run directory.
    pub log: PathBuf,
    /// The container pool size from the project config, handed to exec
    /// through its environment (`None`: exec's own environment decides).
    pub container_pool: Option<usize>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The sandbox report, if it wrote one.
    pub report: Option<Report>,
    /// `orchestra exec`'s own exit code (or -signal).
    pub exec_status: i32,
    /// Why there is no report, if there is none.
    pub error: Option<String>,
    /// From the spawn of `orchestra exec` to its exit (zero if it never ran).
    pub process_time: std::time::Duration,
}

impl Outcome {
    /// The cause, `setup_failed` when there is no report.
    pub fn cause(&self) -> Cause {
        self.report.as_ref().map_or(Cause::SetupFailed, |r| r.cause)
    }
}

/// A running attempt that can be stopped.
#[derive(Debug, Clone)]
pub struct Handle {
    pidfd: Arc<Mutex<Option<OwnedFd>>>,
}

impl Handle {
    /// Ask the sandbox to end the task (SIGTERM: it kills the task, reports, exits).
    pub fn stop(&self) {
        if let Ok(guard) = self.pidfd.lock()
            && let Some(fd) = guard.as_ref()
        {
            let _ = sys::pidfd_send_signal(fd, libc::SIGTERM);
        }
    }
}

/// Start an attempt: the child is spawned here, on the caller's (the
/// scheduler's) thread, and waited for on a new thread, which calls `done`
/// with the outcome.
///
/// Spawning on the scheduler's thread keeps the hand-off off the critical
/// path (nothing waits for a new thread to be scheduled), and ties the
/// child's parent-death signal to the thread that outlives every attempt.
pub fn start<F>(exe: PathBuf, attempt: Attempt, done: F) -> Handle
where
    F: FnOnce(Outcome) + Send + 'static,
{
    let handle = Handle { pidfd: Arc::new(Mutex::new(None)) };
    match spawn(&exe, &attempt) {
        Ok((child, spawned_at)) => {
            // The child is not reaped before wait(), so its pid cannot be recycled yet.
            if let Ok(fd) = sys::pidfd_open(child.id() as libc::pid_t)
                && let Ok(mut slot) = handle.pidfd.lock()
            {
                *slot = Some(fd);
            }
            tracing::debug!(mono_us = mono_us(), task = %attempt.task, "worker: spawned");
            std::thread::spawn(move || done(wait(child, &attempt, spawned_at)));
        }
        Err(error) => done(fail(error.to_string())),
    }
    handle
}

fn fail(error: String) -> Outcome {
    Outcome { report: None, exec_status: -1, error: Some(error), process_time: std::time::Duration::ZERO }
}

/// Why an attempt could not be started.
#[derive(Debug, thiserror::Error)]
enum SpawnError {
    #[error("cannot open log: {0}")]
    Log(crate::runstore::RunStoreError),
    #[error("cannot open log {}: {source}", path.display())]
    LogClone { path: PathBuf, source: std::io::Error },
    #[error("cannot clear the report: {0}")]
    Report(crate::runstore::RunStoreError),
    #[error("cannot start {}: {source}", exe.display())]
    Start { exe: PathBuf, source: std::io::Error },
}

/// Open the log, build the command, spawn it. Returns the child and the
/// instant just before the spawn (its process time starts there: everything
/// before is the orchestrator's).
fn spawn(exe: &PathBuf, a: &Attempt) -> Result<(std::process::Child, std::time::Instant), SpawnError> {
    let log = a.run.append(&a.log).map_err(SpawnError::Log)?;
    let log2 = log.try_clone().map_err(|source| SpawnError::LogClone { path: a.log.clone(), source })?;
    a.run.remove(&a.report).map_err(SpawnError::Report)?;
    let mut cmd = Command::new(exe);
    cmd.arg("exec")
        .arg("--policy")
        .arg(&a.policy)
        .arg("--workdir")
        .arg(&a.workdir)
        .arg("--audit-dir")
        .arg(&a.audit_dir)
        .arg("--report")
        .arg(&a.report)
        .arg("--name")
        .arg(&a.task)
        .arg("--run-id")
        .arg(&a.run_id);
    if let Some(t) = &a.timeout {
        cmd.arg("--timeout").arg(t);
    }
    // Through the environment, not argv: other local users can read a
    // process's command line, not its environment.
    for (k, v) in &a.env {
        cmd.env(format!("{}{k}", crate::cli::exec::TASK_ENV_PREFIX), v);
    }
    for p in &a.protect {
        cmd.arg("--protect").arg(p);
    }
    if let Some(n) = a.container_pool {
        cmd.env(crate::sandbox::container::pool::ENV, n.to_string());
    }
    // Armed by the child itself, so that std can spawn with vfork semantics
    // (a pre_exec hook would force a full fork of this multi-threaded process).
    cmd.arg("--run-parent").arg(std::process::id().to_string());
    // The policy file is read again by exec: it must still be the one checked.
    cmd.arg("--expect-policy").arg(&a.policy_sha256);
    cmd.arg("--").args(&a.argv);
    // exec runs in the run directory itself, entered through the descriptor
    // the orchestrator holds (the child inherits it until it executes), and
    // writes its report relative to it: a task that renames a parent of the
    // run directory or swaps in a link cannot redirect the report.
    {
        use std::os::fd::AsRawFd;
        cmd.current_dir(format!("/proc/self/fd/{}", a.run.fd().as_raw_fd()));
    }
    if let Some(key) = std::env::var_os("ORCHESTRA_AUDIT_KEY").map(PathBuf::from).filter(|k| k.is_relative())
        && let Ok(cwd) = std::env::current_dir()
    {
        cmd.env("ORCHESTRA_AUDIT_KEY", cwd.join(key));
    }
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    tracing::debug!(mono_us = mono_us(), task = %a.task, "worker: spawning");
    let at = std::time::Instant::now();
    cmd.spawn().map(|child| (child, at)).map_err(|source| SpawnError::Start { exe: exe.clone(), source })
}

fn wait(mut child: std::process::Child, a: &Attempt, spawned_at: std::time::Instant) -> Outcome {
    let status = child.wait();
    let process_time = spawned_at.elapsed();
    tracing::debug!(mono_us = mono_us(), task = %a.task, "worker: exited");
    let exec_status = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| -s.signal().unwrap_or(0))
        }
        Err(e) => return Outcome { process_time, ..fail(format!("waiting for the sandbox: {e}")) },
    };
    match a.run.read(&a.report) {
        Ok(bytes) => match serde_json::from_slice::<Report>(&bytes) {
            Ok(report) => Outcome { report: Some(report), exec_status, error: None, process_time },
            Err(e) => Outcome {
                report: None,
                exec_status,
                error: Some(format!("unreadable sandbox report {}: {e}", a.run.path.join(&a.report).display())),
                process_time,
            },
        },
        Err(_) => Outcome {
            report: None,
            exec_status,
            error: Some(format!(
                "the sandbox wrote no report (orchestra exec exited {exec_status}; see {})",
                a.run.path.join(&a.log).display()
            )),
            process_time,
        },
    }
}

/// CLOCK_MONOTONIC in microseconds: comparable across processes (for tracing
/// where a task's time goes between the orchestrator and its sandbox).
pub fn mono_us() -> u64 {
    sys::monotonic().as_micros() as u64
}
