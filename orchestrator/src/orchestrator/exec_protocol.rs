//! The protocol between `orchestra run` and its workers, the `orchestra exec`
//! processes that run one attempt each. Both sides live here: the command
//! line and environment an attempt is started with ([`command`]), the hidden
//! flags as `exec` parses them ([`RunFlags`]), the task variables `exec`
//! reads back from its environment ([`task_env`]), and where the verdict
//! comes back ([`read_report`]).
//!
//! The protocol:
//! - `exec` runs in the run directory, entered through the descriptor `run`
//!   holds, and writes its JSON report to `--report`, relative to it (a task
//!   that renames a parent of the run directory cannot redirect the report);
//!   its stdout and stderr are the task's log;
//! - `--run-parent PID` makes `exec` die with `run` (armed by `exec` itself,
//!   before anything else) and skip the report's fsync and the verdict's CI
//!   fencing (the run's checkpoint is the durable record, and `run` fences);
//! - `--expect-policy sha256:…`: `exec` refuses a policy whose hash is not
//!   the one `run` checked before the run started;
//! - `--protect PATH`: hidden from the task like the audit log (the runs
//!   directory, where the task could reach it);
//! - the plan's task variables travel in `exec`'s environment as
//!   `ORCHESTRA_TASK_ENV_<NAME>`, never on a command line (other local users
//!   can read a process's command line, not its environment), and `exec`
//!   honours them only with `--run-parent`;
//! - exit 1 without a report: the sandbox refused to start ([`refused`]).

use crate::runstore::RunDir;
use crate::sandbox::report::Report;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables named `ORCHESTRA_TASK_ENV_<NAME>` in exec's own environment set
/// `<NAME>` in the task's (with `--run-parent` only).
pub const TASK_ENV_PREFIX: &str = "ORCHESTRA_TASK_ENV_";

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
    pub run: RunDir,
    /// Where the sandbox writes its report, relative to the run directory.
    pub report: PathBuf,
    /// The task's log file (appended), relative to the run directory.
    pub log: PathBuf,
    /// The container pool size from the project config, handed to exec
    /// through its environment (`None`: exec's own environment decides).
    pub container_pool: Option<usize>,
    /// A remote task's dead-man switch ([`super::lease`]): the FIFO its
    /// worker feeds (relative to the run directory) and the lease.
    pub lease: Option<(PathBuf, std::time::Duration)>,
}

/// The hidden flags of `orchestra exec` that only `orchestra run` sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct RunFlags {
    /// Hide this path from the task like the audit log (set by `orchestra run` for its runs directory).
    #[arg(long, hide = true)]
    pub protect: Vec<PathBuf>,
    /// Set by `orchestra run`: die with that process (its pid), and write the
    /// report without fsync (the run's checkpoint is the durable record).
    #[arg(long, hide = true, value_name = "PID")]
    pub run_parent: Option<u32>,
    /// Refuse to run unless the effective policy has this hash (`sha256:…`),
    /// set by `orchestra run` so that a policy file changed after the run
    /// checked it is never used.
    #[arg(long, hide = true, value_name = "SHA256")]
    pub expect_policy: Option<String>,
    /// Set by `orchestra worker`: the FIFO it feeds while it holds the
    /// task's queue entry; the task is stopped when it falls silent
    /// ([`super::lease`]).
    #[arg(long, hide = true, value_name = "PATH", requires = "lease_ms")]
    pub lease_fifo: Option<PathBuf>,
    /// The lease of `--lease-fifo`, in milliseconds.
    #[arg(long, hide = true, value_name = "MS", requires = "lease_fifo")]
    pub lease_ms: Option<u64>,
}

impl RunFlags {
    /// The flags as `exec` parses them back.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut v = Vec::new();
        for p in &self.protect {
            v.push("--protect".into());
            v.push(p.into());
        }
        if let Some(pid) = self.run_parent {
            v.push("--run-parent".into());
            v.push(pid.to_string().into());
        }
        if let Some(h) = &self.expect_policy {
            v.push("--expect-policy".into());
            v.push(h.into());
        }
        if let (Some(f), Some(ms)) = (&self.lease_fifo, self.lease_ms) {
            v.push("--lease-fifo".into());
            v.push(f.into());
            v.push("--lease-ms".into());
            v.push(ms.to_string().into());
        }
        v
    }

    /// Whether `exec` was started by `orchestra run`.
    pub fn under_run(&self) -> bool {
        self.run_parent.is_some()
    }
}

/// The command that runs attempt `a` of a run whose process is `parent`:
/// `exe exec …`, in the run directory, with the task's variables in its
/// environment. The caller sets its stdio (the task's log).
pub fn command(exe: &Path, a: &Attempt, parent: u32) -> Command {
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
    for (k, v) in &a.env {
        cmd.env(format!("{TASK_ENV_PREFIX}{k}"), v);
    }
    if let Some(n) = a.container_pool {
        cmd.env(crate::sandbox::container::pool::ENV, n.to_string());
    }
    // --run-parent is armed by the child itself, so that std can spawn with
    // vfork semantics (a pre_exec hook would force a full fork of this
    // multi-threaded process); the policy file is read again by exec, and
    // must still be the one checked.
    let flags = RunFlags {
        protect: a.protect.clone(),
        run_parent: Some(parent),
        expect_policy: Some(a.policy_sha256.clone()),
        lease_fifo: a.lease.as_ref().map(|(f, _)| f.clone()),
        lease_ms: a.lease.as_ref().map(|(_, d)| d.as_millis() as u64),
    };
    cmd.args(flags.to_args());
    cmd.arg("--").args(&a.argv);
    // The run directory itself, through the descriptor the orchestrator holds
    // (the child inherits it until it executes).
    {
        use std::os::fd::AsRawFd;
        cmd.current_dir(format!("/proc/self/fd/{}", a.run.fd().as_raw_fd()));
    }
    // exec runs elsewhere: a relative key path must still lead to the same key.
    if let Some(key) = std::env::var_os("ORCHESTRA_AUDIT_KEY").map(PathBuf::from).filter(|k| k.is_relative())
        && let Ok(cwd) = std::env::current_dir()
    {
        cmd.env("ORCHESTRA_AUDIT_KEY", cwd.join(key));
    }
    cmd
}

/// The task's variables that `orchestra run` passed in `vars` (exec's
/// environment): never one named `ORCHESTRA_*`, never an empty name.
pub fn task_env(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<(String, String)> {
    vars.filter_map(|(k, v)| {
        let (k, v) = (k.to_str()?, v.to_str()?);
        let name = k.strip_prefix(TASK_ENV_PREFIX)?;
        (!name.is_empty() && !name.starts_with("ORCHESTRA_")).then(|| (name.to_string(), v.to_string()))
    })
    .collect()
}

/// Why an attempt has no usable sandbox report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report exists but is not a sandbox report.
    #[error("unreadable sandbox report {}: {source}", path.display())]
    Unreadable {
        /// The report's path.
        path: PathBuf,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// exec wrote no report.
    #[error("the sandbox wrote no report (orchestra exec exited {exec_status}; see {})", log.display())]
    Missing {
        /// exec's exit status (negative: the signal that ended it).
        exec_status: i32,
        /// The attempt's log.
        log: PathBuf,
    },
}

/// The report attempt `a`'s exec wrote, read through the run directory.
/// The error says why there is none, or why it cannot be read.
pub fn read_report(a: &Attempt, exec_status: i32) -> Result<Report, ReportError> {
    match a.run.read(&a.report) {
        Ok(bytes) => serde_json::from_slice::<Report>(&bytes)
            .map_err(|source| ReportError::Unreadable { path: a.run.path.join(&a.report), source }),
        Err(_) => Err(ReportError::Missing { exec_status, log: a.run.path.join(&a.log) }),
    }
}

/// Whether an attempt's sandbox refused to start: exec exited 1 (a control
/// this host cannot enforce, found only at setup) and wrote no report.
pub fn refused(report: Option<&Report>, exec_status: i32) -> bool {
    report.is_none() && exec_status == i32::from(crate::exit::Exit::Config.code())
}

/// CLOCK_MONOTONIC in microseconds: comparable across processes (for tracing
/// where a task's time goes between the orchestrator and its sandbox).
pub fn mono_us() -> u64 {
    crate::sandbox::sys::monotonic().as_micros() as u64
}

/// An attempt of task `build` in a new run below `dir`, every field set: for
/// the tests of both sides of the protocol (run builds, exec parses).
#[doc(hidden)]
pub fn sample_attempt(dir: &Path) -> Result<Attempt, crate::runstore::RunStoreError> {
    let runs = crate::runstore::RunsDir::open(dir, None)?;
    let run = RunDir::create_in(&runs)?;
    Ok(Attempt {
        task: "build".into(),
        number: 1,
        argv: vec!["/usr/bin/make".into(), "-j2".into()],
        policy: "default".into(),
        policy_sha256: "sha256:ab".into(),
        env: vec![("SECRET_TOKEN".into(), "hunter2".into())],
        timeout: Some("5s".into()),
        workdir: "/ws".into(),
        audit_dir: "/ws/.orchestra/audit".into(),
        run_id: run.id.clone(),
        protect: vec![dir.to_path_buf()],
        report: run.task_report_rel("build"),
        log: run.log_rel("build"),
        run,
        container_pool: Some(2),
        lease: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Exec {
        #[command(flatten)]
        run: RunFlags,
    }

    #[test]
    fn the_hidden_flags_parse_back_as_built() {
        for flags in [
            RunFlags::default(),
            RunFlags {
                protect: vec!["/work/runs".into(), "/a b".into()],
                run_parent: Some(42),
                expect_policy: Some("sha256:00ff".into()),
                lease_fifo: Some("lease".into()),
                lease_ms: Some(30_000),
            },
        ] {
            let parsed = Exec::try_parse_from(std::iter::once(OsString::from("exec")).chain(flags.to_args())).unwrap();
            assert_eq!(parsed.run, flags);
        }
    }

    #[test]
    fn an_attempt_is_started_in_the_run_directory_with_its_variables_off_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample_attempt(dir.path()).unwrap();
        let cmd = command(Path::new("/usr/bin/orchestra"), &a, 7);
        let args: Vec<String> = cmd.get_args().map(|s| s.to_string_lossy().into_owned()).collect();
        assert!(!args.iter().any(|s| s.contains("hunter2")), "{args:?}");
        let tail = args.iter().position(|s| s == "--").unwrap();
        assert_eq!(args[tail + 1..], ["/usr/bin/make", "-j2"]);
        let envs: Vec<(String, String)> =
            cmd.get_envs().filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string()))).collect();
        let back = task_env(envs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        assert_eq!(back, a.env);
        assert!(envs.contains(&(crate::sandbox::container::pool::ENV.to_string(), "2".to_string())));
        assert!(cmd.get_current_dir().unwrap().starts_with("/proc/self/fd/"));
    }

    #[test]
    fn task_variables_never_name_orchestra_ones() {
        let vars = [
            ("ORCHESTRA_TASK_ENV_CC", "clang"),
            ("ORCHESTRA_TASK_ENV_", "empty name"),
            ("ORCHESTRA_TASK_ENV_ORCHESTRA_AUDIT_KEY", "/tmp/k"),
            ("PATH", "/bin"),
        ];
        let got = task_env(vars.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        assert_eq!(got, [("CC".to_string(), "clang".to_string())]);
    }
}
