//! `orchestra exec`: run one task under a policy.

use crate::audit;
use crate::exit::Exit;
use crate::orchestrator::exec_protocol::{self, RunFlags, mono_us};
use crate::policy::derive::{Derivation, Override, Place, derive};
use crate::policy::{ByteSize, HumanDuration, Limit, NetworkMode, Policy, SandboxMode, load_policy};
use crate::sandbox::outfile::OutFile;
use crate::sandbox::{Report, Sandbox, SandboxError, TaskSpec};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Backends selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// namespaces + landlock + seccomp jail
    Jail,
    /// a hardened Docker container, through the engine API
    Docker,
    /// a hardened Podman container, through its Docker-compatible API
    Podman,
}

/// Arguments of `orchestra exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Policy file or preset name (`default`, `strict`, `build-offline`, `container`; see `orchestra policy list`).
    #[arg(long, short = 'p', default_value = "default")]
    pub policy: String,
    /// Override the policy's sandbox_mode.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Working directory of the task, read-write unless the policy says otherwise
    /// (default: the current directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Wall-clock timeout (humantime: 20s, 5m, 1h30m), overriding the policy's.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<HumanDuration>,
    /// Audit log directory (default `.orchestra/audit`).
    #[arg(long)]
    pub audit_dir: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Task name used in the verdict and report (default: the program name).
    #[arg(long)]
    pub name: Option<String>,
    /// Set a variable in the task's environment, after the policy's (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Override the policy's network mode: `none`, `loopback` (a private
    /// loopback only) or `host` (an opt-out, reported).
    #[arg(long, value_enum, value_name = "MODE")]
    pub network: Option<Network>,
    /// Make a host path visible read-only at the same place (repeatable; must
    /// exist; a volume `PATH:PATH:ro` on the container backends).
    #[arg(long = "ro", value_name = "PATH")]
    pub read_only: Vec<PathBuf>,
    /// Make a host path writable at the same place (repeatable; must exist; the
    /// same refusals as `filesystem.read_write`, e.g. never `/etc` or `~`; a
    /// volume `PATH:PATH:rw` on the container backends).
    #[arg(long = "rw", value_name = "PATH")]
    pub read_write: Vec<PathBuf>,
    /// Override the memory limit of the task tree (`512MiB`, `2G`, `unlimited`).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory: Option<Limit<ByteSize>>,
    /// Give the task a pseudo-terminal of its own (an interactive shell, a
    /// program that wants a terminal). The caller's terminal is relayed to it in
    /// raw mode and restored afterwards; the task cannot reach the caller's
    /// terminal itself (TIOCSTI stays denied). Jail only.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Pass stdin to the task. The jail always does; accepted so that `-it`
    /// works as it does with docker.
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Record the task under this run id in the audit log (set by `orchestra run`).
    #[arg(long, value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// The hidden flags `orchestra run` starts exec with (see `orchestrator::exec_protocol`).
    #[command(flatten)]
    pub run: RunFlags,
    /// Benchmark baseline only: deny without observing (nothing is reported).
    #[arg(long, hide = true)]
    pub bench_unobserved: bool,
    /// The program and its arguments.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub command: Vec<String>,
}

/// Network modes selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// no network at all
    None,
    /// a private loopback interface only
    Loopback,
    /// the host's network (an opt-out of network isolation)
    Host,
}

/// Why an argument of `orchestra exec` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExecArgError {
    /// `--env` without `=`.
    #[error("{0:?}: expected NAME=VALUE")]
    EnvForm(String),
    /// `--env` naming a variable a task may not receive.
    #[error("{0:?}: not a variable a task may receive")]
    EnvName(String),
}

/// Why the audit log cannot be opened (nothing runs without it).
#[derive(Debug, thiserror::Error)]
pub enum OpenLogError {
    /// The signing key.
    #[error("audit key {}: {error}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        error: audit::AuditError,
    },
    /// The log.
    #[error("audit log {}: {error}", dir.display())]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        error: audit::AuditError,
    },
}

fn parse_env(s: &str) -> Result<(String, String), ExecArgError> {
    let (k, v) = s.split_once('=').ok_or_else(|| ExecArgError::EnvForm(s.to_string()))?;
    if k.is_empty() || k.contains('\0') || v.contains('\0') || k.starts_with("ORCHESTRA_") {
        return Err(ExecArgError::EnvName(k.to_string()));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_memory(s: &str) -> Result<Limit<ByteSize>, crate::policy::units::UnitError> {
    if s == "unlimited" { Ok(Limit::Unlimited) } else { ByteSize::parse(s).map(Limit::Max) }
}

fn parse_duration(s: &str) -> Result<HumanDuration, crate::policy::units::UnitError> {
    HumanDuration::parse(s)
}

/// The audit directory: the flag, else `.orchestra/audit` below the current
/// directory; absolute, with the part that exists resolved as the kernel
/// resolves it (links and `..`), so that the paths compared with the policy's
/// roots are the real ones.
pub fn audit_dir(flag: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir = match flag {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => cwd.join(p),
        None => cwd.join(".orchestra").join("audit"),
    };
    crate::sandbox::jail::resolve::existing_prefix(&dir)
}

/// Bytes beside a `task_started` body in the segment: its frame, its record
/// header and the checkpoint signing it, with room to spare.
const STARTED_FRAMING: u64 = 4096;

/// Run `orchestra exec`.
pub fn run(args: ExecArgs) -> Exit {
    tracing::debug!(mono_us = mono_us(), "exec: start");
    if let Some(parent) = args.run.run_parent
        && let Err(e) = crate::sandbox::sys::die_with_parent(parent)
    {
        return super::config_error(format!("--run-parent {parent}: {e}"));
    }
    // A remote task's dead-man switch, from the first moment.
    if let (Some(fifo), Some(ms)) = (&args.run.lease_fifo, args.run.lease_ms)
        && let Err(e) = crate::orchestrator::lease::watch(fifo, std::time::Duration::from_millis(ms))
    {
        return super::config_error(e);
    }
    let workdir = match args.workdir.clone().map(Ok).unwrap_or_else(std::env::current_dir) {
        Ok(w) => w,
        Err(e) => return super::config_error(format!("current directory: {e}")),
    };
    let workdir = match std::fs::canonicalize(&workdir) {
        Ok(w) if w.is_dir() => w,
        Ok(w) => return super::config_error(format!("--workdir {}: not a directory", w.display())),
        Err(e) => return super::config_error(format!("--workdir {}: {e}", workdir.display())),
    };
    let audit_dir = audit_dir(args.audit_dir.as_deref());
    let key_path = audit::default_key_path();
    // What a task must never see: the audit log and its key, and the built-in
    // container supervisor's directory (a jail task that could replace it would
    // choose a later container task's supervisor).
    let ring = audit::KeyRing::at(&key_path);
    let own: Vec<PathBuf> = [audit_dir.clone(), key_path.clone(), ring.dir().to_path_buf()]
        .into_iter()
        .chain(crate::sandbox::container::supervisor::state_dir())
        .chain(args.run.protect.iter().cloned())
        .collect();
    let (policy, origin, derivation) = match effective_policy(&args, &workdir, &own) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    let mut policy = policy;
    if args.run.under_run() {
        policy.environment.set.extend(exec_protocol::task_env(std::env::vars_os()));
    }
    if let Some(expected) = &args.run.expect_policy {
        let found = format!("sha256:{}", policy.hash());
        if &found != expected {
            return super::config_error(format!(
                "policy {origin} changed after the run checked it (expected {expected}, found {found}); not running"
            ));
        }
    }
    if let Err(e) = crate::sandbox::check_workdir(&workdir, &policy) {
        return super::config_error(e);
    }
    // The report's directory is opened now, before the task can touch the path.
    let report_out = match args.report.as_deref().map(OutFile::prepare).transpose() {
        Ok(o) => o,
        Err(e) => return super::config_error(format!("--report {e}")),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        Path::new(&args.command[0]).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    if let Err(e) = crate::sandbox::check_own_paths(&workdir, &[&audit_dir]) {
        return super::config_error(e);
    }
    let mut task = TaskSpec {
        name,
        argv: args.command.clone(),
        workdir,
        policy,
        policy_origin: origin,
        derivation,
        protected: own,
        in_use: policy_file(&args.policy).into_iter().collect(),
        observe: !args.bench_unobserved,
        tty: args.tty,
        canaries: None,
        canary_home: None,
    };
    if task.tty && task.policy.backend() != SandboxMode::Jail {
        return super::config_error(format!(
            "--tty: the {} backend gives no terminal (its task's stdin is empty); use the jail",
            task.policy.backend().as_str()
        ));
    }
    let backend: Box<dyn Sandbox> = match crate::sandbox::backend_for(task.policy.backend()) {
        Ok(b) => b,
        Err(e) => return super::config_error(e),
    };
    // Anchors named in the environment must be usable before anything runs.
    let anchors = match super::anchor::from_env() {
        Ok(a) => a,
        Err(e) => return super::config_error(format!("{e}; nothing ran")),
    };
    let tsa = match super::timestamp::from_env() {
        Ok(t) => t,
        Err(e) => return super::config_error(format!("{}: {e}; nothing ran", super::timestamp::ENV)),
    };
    // Every task lands in the signed log; without a log nothing runs (fail closed).
    // The signing key is loaded (created on first use, with a notice) before
    // the sandbox looks at its path: the jail hides what is there when it plans.
    if let Err(e) = default_key(&ring) {
        return super::config_error(format!("{e}; nothing ran"));
    }
    // Likewise the log directory: one that does not exist yet is created by
    // opening the log, which then happens now. One that exists is opened in
    // the sandbox's release hook (below), while the jail compiles its plan and
    // builds its root; it must still be the same directory then.
    let audit_dir_id = dir_identity(&audit_dir);
    let mut log: Option<audit::AuditLog> = None;
    if audit_dir_id.is_none() {
        match open_log(&audit_dir, &ring) {
            Ok(l) => log = Some(l),
            Err(e) => return super::config_error(format!("{e}; nothing ran")),
        }
        tracing::debug!(mono_us = mono_us(), "exec: audit log open");
    }
    // The signing keys stay as they are while the task runs: a rotation that
    // renamed a new key file over the path the jail's decoy covers would show
    // the new key to the task. `audit rotate` and `keygen` wait for this lock,
    // taken before the sandbox starts.
    let _keys_in_use = match ring.in_use() {
        Ok(l) => l,
        Err(e) => return super::config_error(format!("audit key ring {}: {e}; nothing ran", ring.dir().display())),
    };
    // Canary secrets, fresh for this task, on every backend that can plant
    // them (the jail, a supervised container; docs/policies.md).
    if crate::sandbox::canary::plants(&task.policy) {
        match crate::sandbox::canary::Canaries::generate(&task.policy) {
            Ok(c) => task.canaries = Some(c),
            Err(e) => return super::config_error(e),
        }
    }
    // The task is complete, and what the jail hides of our own paths (the key,
    // the log directory) exists: the jail compiles its plan on a thread from
    // here, beside the rest of our set-up and its own.
    backend.plan_ahead(&task);
    tracing::debug!(mono_us = mono_us(), "exec: plan ahead started");
    let started = audit::events::task_started(
        &task.name,
        &task.argv,
        &format!("sha256:{}", task.policy.hash()),
        backend.name(),
        &requested_controls(&task),
    );
    // Only the values' SHA-256 digests are recorded, never the values.
    let digests = task.canaries.as_ref().map(|c| c.digests()).unwrap_or_default();
    let run_id = args.run_id.as_deref();
    let started = tag(audit::events::with_canaries(started, &digests), run_id);
    // Space for `task_started` (its size is the invoker's command line) and
    // the records the task's end writes (bounded: audit::bound), before the
    // task can run: a full disk refuses the task (nothing ran) instead of
    // losing its verdict.
    let started_len = audit::record::canonical_json(&started).map_or(0, |b| b.len() as u64);
    let reserve = audit::TASK_RESERVE_BYTES + started_len + STARTED_FRAMING;
    let mut started = Some(started);
    // Under GitHub Actions the task's output is fenced as `run` fences its logs (until the verdict line).
    let _fence = (!args.run.under_run()).then(crate::ci::github::fence_output);
    let mut snapshots: Option<Snapshots> = None;
    // The backend's release hook runs after the sandbox's set-up has begun
    // and before the task can run anything; a failure in it ends the set-up
    // (the jail kills its init: nothing ran). The workspace and the protected
    // paths are snapshotted, then the log is opened (if not yet), moved to
    // the next forward-secure epoch and given its reservation, and
    // `task_started` appended and made durable (the log's first append
    // checkpoints and fsyncs). The jail overlaps all of it with compiling its
    // plan and building its root (SECURITY.md §8). (On a thread of their own
    // the snapshots made starts slower: one more hand-over under load.)
    let outcome = backend.run_released(&task, &mut || {
        snapshots = Some(Snapshots {
            // The workspace's metadata now, compared after the task (issue 20).
            workspace: super::workspace_diff::before(&task),
            // The protected paths as they are now, judged again once the task
            // is gone (SECURITY.md §5.3).
            protected: crate::sandbox::changes::protected::Watch::before(&task),
        });
        tracing::debug!(mono_us = mono_us(), "exec: workspace snapshot taken");
        start_log(&mut log, &audit_dir, &ring, audit_dir_id, reserve, &mut started)?;
        Ok(())
    });
    let mut report = match outcome {
        Ok(r) => r,
        Err(SandboxError::Release(e)) => {
            let said = match e.downcast_ref::<LogStartError>() {
                Some(e) => e.to_string(),
                None => format!("audit log {}: {e}", audit_dir.display()),
            };
            return super::config_error(format!("{said}; nothing ran"));
        }
        Err(e) => {
            // The set-up failed before the release: the task is recorded as
            // started and refused, as when nothing was overlapped (the log
            // opened for that if it was not yet).
            let body = serde_json::json!({"task": task.name, "error": e.to_string()});
            if log.is_none() {
                log = open_log(&audit_dir, &ring).ok();
            }
            if let Some(l) = log.as_mut() {
                let recorded = match started.take() {
                    Some(s) => l.append(audit::Kind::TaskStarted, s).map(|_| ()),
                    None => Ok(()),
                };
                let _ = recorded
                    .and_then(|()| l.append(audit::Kind::TaskRefused, tag(body, run_id)))
                    .and_then(|_| l.sync());
            }
            return super::config_error(e);
        }
    };
    // A backend returns a report only after its release succeeded.
    let (Some(mut log), Some(Snapshots { workspace: before, protected })) = (log, snapshots) else {
        crate::sandbox::say!("orchestra: error: the {} backend ran the task without its release", backend.name());
        return finish(&report, report_out.as_ref(), !args.run.under_run()).worst(Exit::Failed);
    };
    tracing::debug!(mono_us = mono_us(), "exec: sandbox done");
    // Whatever raced the supervisor into a protected path (absent: removed;
    // there: put back) is undone before the diff, and is a violation like the
    // supervisor's.
    let tokens = task.canaries.as_ref().map(|c| c.tokens.as_slice()).unwrap_or_default();
    // Repositories the task made where no index points, shown by the diff.
    let mut made = protected.made_repos();
    // The directories of the user's the task left unlistable (the root,
    // those of the protected paths, `.git` whole, `runs/`; the rest as the
    // diff meets them) stay open to the supervisor (`u+rx`) until `opened`
    // is dropped, after every check below: each sees the tree opened up
    // (reviews 76 F1, 77 A1, A2, D).
    let opened = protected.open_up(&task.workdir);
    for planted in protected.after() {
        if !planted.undone {
            let (detail, _) = crate::sandbox::canary::scrub_text(&planted.violation.detail, tokens);
            crate::sandbox::say!("orchestra: warning: {detail}");
        }
        crate::sandbox::outcome::add_violation(&mut report, planted.violation);
    }
    // A canary in what the task left in the workspace (a file's content, a
    // name, a link target, an extended attribute) is a leak too: an artifact
    // carrying it out. Judged on every entry the diff finds, listed or not.
    let mut judge = crate::sandbox::canary::workspace::Judge::new(tokens);
    // And a set-ID bit on a file it added or changed is cleared here too: the
    // backstop for an init that ended without its own sweep (SIGKILLed past
    // its stop grace, or crashed; review 88 F2).
    // A backend that swept every file the task wrote itself (the jail)
    // knew a set-ID file the task only touched from one it changed (review
    // 89 FP1): such a file is left to its judgement.
    let mut setid = crate::sandbox::setid::Backstop::new(&task.workdir, report.setid_swept);
    let mut see = |s: crate::sandbox::changes::Seen<'_>| {
        setid.see(&s);
        judge.see(s);
    };
    let inspect: Option<&mut dyn FnMut(crate::sandbox::changes::Seen<'_>)> = Some(&mut see);
    let diffed = matches!(before, super::workspace_diff::Before::Taken(_));
    let failed = matches!(before, super::workspace_diff::Before::Failed(..));
    let mut changes = super::workspace_diff::after(before, inspect, &mut |p, w| made.watched(p, w), &opened);
    match &changes.skipped {
        Some(why) if diffed => made.unwalked(why),
        // No diff: the repositories are found by name and judged by their
        // ctimes (review 78, F3).
        Some(why) if failed => {
            crate::sandbox::say!(
                "orchestra: warning: the workspace diff did not run ({why}); what the task changed is not listed, and the workspace's repositories were judged by name and ctime instead"
            );
            made.unwalked_before(why);
        }
        _ => {}
    }
    for v in judge.into_violations() {
        crate::sandbox::outcome::add_violation(&mut report, v);
    }
    for v in setid.into_violations(&report.violations) {
        crate::sandbox::outcome::add_violation(&mut report, v);
    }
    let judged = made.judge(&opened);
    // Their modes put back as the task left them.
    drop(opened);
    for planted in judged {
        if !planted.undone {
            let (detail, _) = crate::sandbox::canary::scrub_text(&planted.violation.detail, tokens);
            crate::sandbox::say!("orchestra: warning: {detail}");
        }
        crate::sandbox::outcome::add_violation(&mut report, planted.violation);
    }
    // Whatever the report and the audit log quote of the task (paths, link
    // targets, violation details) holds no value: one scrubbing rule for all.
    crate::sandbox::canary::scrub_changes(&mut changes, tokens);
    let mut violations = std::mem::take(&mut report.violations);
    let scrubbed = violations.len();
    crate::sandbox::canary::scrub_details(&mut violations, tokens);
    let named = violations.split_off(scrubbed);
    report.violations = violations;
    for v in named {
        crate::sandbox::outcome::add_violation(&mut report, v);
    }
    report.workspace_changes = Some(changes);
    tracing::debug!(mono_us = mono_us(), "exec: workspace compared");
    if let Err(e) = record_outcome(&mut log, &report, run_id) {
        // The verdict stands, but a run whose record is not durable is not ok:
        // at least "failed" (never 1: the task ran).
        crate::sandbox::say!("orchestra: error: audit log {}: {e}", audit_dir.display());
        return finish(&report, report_out.as_ref(), !args.run.under_run()).worst(Exit::Failed);
    }
    // The closing checkpoint goes to the anchors (a failure is said; the log is intact).
    for w in super::anchor::push_latest(&log, &anchors) {
        crate::sandbox::say!("orchestra: warning: {w}");
    }
    // And to the TSA (a failure is said; the verdict stands).
    if let Some(w) = super::timestamp::stamp_latest(&log, tsa.as_deref()) {
        crate::sandbox::say!("orchestra: warning: {w}");
    }
    // And to the witnesses, for their cosignatures (likewise only warned about).
    for w in super::witness::push_latest(&log, &super::witness::from_env()) {
        crate::sandbox::say!("orchestra: warning: {w}");
    }
    finish(&report, report_out.as_ref(), !args.run.under_run())
}

/// The policy `args` names, changed by its one-off flags (recorded as a
/// derivation; none may name one of `own`), and where it came from.
fn effective_policy(
    args: &ExecArgs,
    workdir: &Path,
    own: &[PathBuf],
) -> Result<(Policy, String, Option<Derivation>), crate::policy::PolicyError> {
    let (base, origin) = load_policy(&args.policy)?;
    let mut flags = Vec::new();
    flags.extend(args.backend.map(|b| {
        Override::Backend(match b {
            Backend::Jail => SandboxMode::Jail,
            Backend::Docker => SandboxMode::Docker,
            Backend::Podman => SandboxMode::Podman,
        })
    }));
    flags.extend(args.network.map(|n| {
        Override::Network(match n {
            Network::None => NetworkMode::None,
            Network::Loopback => NetworkMode::Loopback,
            Network::Host => NetworkMode::Host,
        })
    }));
    flags.extend(args.read_only.iter().cloned().map(Override::ReadOnly));
    flags.extend(args.read_write.iter().cloned().map(Override::ReadWrite));
    flags.extend(args.memory.map(Override::Memory));
    flags.extend(args.timeout.map(Override::Timeout));
    flags.extend(args.env.iter().map(|(k, v)| Override::Env(k.clone(), v.clone())));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let (policy, derivation) = derive(base, &origin, &flags, Place { cwd: &cwd, workdir, own })?;
    Ok((policy, origin, derivation))
}

/// The policy file `spec` names (resolved), when it names a file rather than
/// a preset: a task must not rewrite the policy it runs under.
fn policy_file(spec: &str) -> Option<PathBuf> {
    let p = Path::new(spec);
    p.is_file().then(|| std::fs::canonicalize(p).ok()).flatten()
}

/// Open the audit log in `dir`, signing with the key in force in it from the
/// key ring of `key_path` (the default key, created on first use with a notice,
/// starts a new log).
pub fn open_audit_log(dir: &Path, key_path: &Path) -> Result<audit::AuditLog, OpenLogError> {
    let ring = audit::KeyRing::at(key_path);
    default_key(&ring)?;
    open_log(dir, &ring)
}

/// Open the audit log in `dir`, signing with the key in force in it from
/// `ring` (its default key, see [`default_key`], starts a new log).
fn open_log(dir: &Path, ring: &audit::KeyRing) -> Result<audit::AuditLog, OpenLogError> {
    audit::AuditLog::open_ring(dir, ring).map_err(|error| OpenLogError::Log { dir: dir.to_path_buf(), error })
}

/// Make sure `ring` has its default key: loaded, or created now with a notice.
pub fn default_key(ring: &audit::KeyRing) -> Result<(), OpenLogError> {
    let path = ring.default_path();
    let (key, created) = ring.default_key().map_err(|error| OpenLogError::Key { path: path.to_path_buf(), error })?;
    if created {
        crate::sandbox::say!("{}", audit::created_notice(path, &key));
    }
    Ok(())
}

/// The device and inode of directory `dir`; `None` when it is not one (yet).
fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

/// The release's part of the log: opened (if it is not yet, and only if its
/// directory is still `dir_id`), moved to the next forward-secure epoch,
/// `reserve` bytes reserved, `started` appended and made durable.
fn start_log(
    log: &mut Option<audit::AuditLog>,
    dir: &Path,
    ring: &audit::KeyRing,
    dir_id: Option<(u64, u64)>,
    reserve: u64,
    started: &mut Option<serde_json::Value>,
) -> Result<(), LogStartError> {
    let l = match log {
        Some(l) => l,
        None => {
            let opened = open_log(dir, ring).map_err(LogStartError::Open)?;
            tracing::debug!(mono_us = mono_us(), "exec: audit log open");
            if dir_identity(dir) != dir_id {
                return Err(LogStartError::Replaced(dir.to_path_buf()));
            }
            log.insert(opened)
        }
    };
    // Forward-secure logs move to the next epoch's key before the task.
    l.evolve().map_err(|error| LogStartError::Evolve { dir: dir.to_path_buf(), error })?;
    l.reserve(reserve).map_err(|error| LogStartError::Reserve {
        dir: dir.to_path_buf(),
        kib: reserve.div_ceil(1024),
        error,
    })?;
    let body = started.take().ok_or(LogStartError::AppendedTwice)?;
    l.append(audit::Kind::TaskStarted, body)
        .map_err(|error| LogStartError::Append { dir: dir.to_path_buf(), error })?;
    tracing::debug!(mono_us = mono_us(), "exec: task_started appended");
    Ok(())
}

/// What is taken of the workspace before the task, to judge it after.
struct Snapshots {
    workspace: super::workspace_diff::Before,
    protected: crate::sandbox::changes::protected::Watch,
}

/// Why the audit log could not be made ready for a task in the sandbox's
/// release hook (the task never ran).
#[derive(Debug, thiserror::Error)]
enum LogStartError {
    /// Opening it.
    #[error(transparent)]
    Open(OpenLogError),
    /// The directory is not the one that was there when the sandbox's set-up
    /// began (removed or replaced since): what the jail hid is not the log.
    #[error("audit log {}: the directory was replaced while the task was being set up", .0.display())]
    Replaced(PathBuf),
    /// The forward-secure key's next epoch.
    #[error("audit log {}: cannot move to the next forward-secure epoch key: {error}", dir.display())]
    Evolve {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        error: audit::AuditError,
    },
    /// Space for the task's records.
    #[error("audit log {}: cannot reserve {kib} KiB for the task's records: {error}", dir.display())]
    Reserve {
        /// The log directory.
        dir: PathBuf,
        /// How much was asked for.
        kib: u64,
        /// Why.
        error: audit::AuditError,
    },
    /// `task_started`.
    #[error("audit log {}: {error}", dir.display())]
    Append {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        error: audit::AuditError,
    },
    /// The hook was called a second time.
    #[error("task_started was already appended")]
    AppendedTwice,
}

/// The controls the policy asks for (the report lists those actually enforced).
fn requested_controls(task: &TaskSpec) -> Vec<String> {
    let p = &task.policy;
    let mut v = vec!["landlock".to_string(), "seccomp".to_string(), "rlimits".to_string()];
    if p.jail.namespaces == crate::policy::NamespaceMode::Required {
        v.push("namespaces".into());
    }
    v.push(format!("network:{}", p.network_mode().as_str()));
    v
}

/// Append the violations, the attested controls and the end of the task, then
/// make them durable before the exit code is returned. Each body is bounded
/// after redaction (`audit::bound`, FORMAT.md §5.3 "Bounds"): whatever the
/// task names its files or makes its violations say, these records fit in the
/// space reserved before it ran.
fn record_outcome(log: &mut audit::AuditLog, report: &Report, run_id: Option<&str>) -> Result<(), audit::AuditError> {
    let rules: Vec<String> = report.violations.iter().map(|v| v.rule.to_string()).collect();
    let all = rules.iter().zip(&report.violations).map(|(r, v)| (r.as_str(), v.detail.as_str()));
    for body in audit::bound::violations(&report.task, all) {
        log.append(audit::Kind::Violation, audit::bound::end_record(tag(body, run_id)))?;
    }
    let enforced: Vec<String> = report.enforced.iter().map(|c| format!("{}: {}", c.control, c.detail)).collect();
    let mut attested = serde_json::json!({"task": report.task, "enforced": enforced, "opt_outs": report.opt_outs});
    if let Some(mac) = &report.mac {
        attested["mac"] = mac.audit_text().into();
    }
    log.append(audit::Kind::TaskAttested, audit::bound::end_record(tag(attested, run_id)))?;
    if let Some(changes) = &report.workspace_changes {
        log.append(
            audit::Kind::WorkspaceChanged,
            audit::bound::workspace_changed(tag(super::workspace_diff::audit_body(&report.task, changes), run_id)),
        )?;
    }
    let ended = audit::events::task_ended(
        &report.task,
        crate::sandbox::report::cause_name(report.cause),
        report.exit_status,
        report.signal,
        report.wall_ms,
    );
    log.append(audit::Kind::TaskEnded, audit::bound::end_record(tag(ended, run_id)))?;
    log.sync()
}

/// Make an audit body ready to append: redacted, tagged with this
/// invocation and the run it belongs to, if any.
fn tag(body: serde_json::Value, run_id: Option<&str>) -> serde_json::Value {
    audit::events::stamp(body, run_id)
}

/// Write the report, then print the verdict: the verdict is the last line,
/// after any error about the report.
fn finish(report: &Report, out: Option<&OutFile>, durable: bool) -> Exit {
    tracing::debug!(mono_us = mono_us(), "exec: finishing");
    let exit = write_report(report, out, durable);
    // On a terminal, whatever attributes the task left (concealed, colours)
    // are reset first: the verdict is shown as written.
    let reset = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { "\x1b[0m" } else { "" };
    crate::sandbox::say!("{reset}{}", report.verdict_line());
    exit
}

/// Write the report (if asked) and return the exit code. The task ran, so a
/// write failure never makes it 1 ("nothing was run"): the verdict's code
/// stands (4 over anything, then 3, then 2), and a task that was ok becomes
/// "failed" (2) because its report is missing. The error is printed.
fn write_report(report: &Report, out: Option<&OutFile>, durable: bool) -> Exit {
    let Some(out) = out else { return report.exit() };
    let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    match out.write(json.as_bytes(), durable) {
        Ok(()) => report.exit(),
        Err(e) => {
            crate::sandbox::say!("orchestra: error: cannot write report {e}");
            report.exit().worst(Exit::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::orchestrator::exec_protocol::{RunFlags, command, sample_attempt};

    #[test]
    fn the_audit_directory_is_compared_as_the_kernel_resolves_it() {
        let d = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(real.join("ws/sub")).unwrap();
        std::os::unix::fs::symlink(real.join("ws/sub"), real.join("link")).unwrap();
        let p = crate::sandbox::jail::resolve::existing_prefix(&real.join("ws/sub/../../audit/x"));
        assert_eq!(p, real.join("audit/x"));
        assert_eq!(
            crate::sandbox::jail::resolve::existing_prefix(&real.join("link/../a")),
            real.join("ws/a"),
            "a link, then .."
        );
        assert_eq!(
            crate::sandbox::jail::resolve::existing_prefix(&real.join("ws/new/deeper")),
            real.join("ws/new/deeper")
        );
    }
    use clap::Parser;
    use std::ffi::OsString;

    #[test]
    fn exec_parses_the_command_run_builds() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample_attempt(dir.path()).unwrap();
        let cmd = command(std::path::Path::new("/usr/bin/orchestra"), &a, 7);
        let argv = std::iter::once(OsString::from("orchestra")).chain(cmd.get_args().map(OsString::from));
        let crate::cli::Command::Exec(e) = crate::cli::Cli::try_parse_from(argv).unwrap().command else {
            panic!("not exec")
        };
        let want = RunFlags {
            protect: a.protect.clone(),
            run_parent: Some(7),
            expect_policy: Some(a.policy_sha256.clone()),
            lease_fifo: None,
            lease_ms: None,
        };
        assert_eq!(e.run, want);
        assert_eq!(e.policy, a.policy);
        assert_eq!((e.name.as_deref(), e.run_id.as_deref()), (Some("build"), Some(a.run_id.as_str())));
        assert_eq!(
            (e.workdir.as_deref(), e.audit_dir.as_deref()),
            (Some(a.workdir.as_path()), Some(a.audit_dir.as_path()))
        );
        assert_eq!(e.report.as_deref(), Some(a.report.as_path()));
        assert_eq!(e.timeout.map(|t| t.to_string()), a.timeout);
        assert_eq!(e.command, a.argv);
    }
}
