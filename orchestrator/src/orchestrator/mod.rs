//! The orchestrator (L1): executes a validated plan as a DAG of sandboxed tasks.
//!
//! Guarantees:
//! - nothing runs until every task has passed the whitelist and the plan-env
//!   rule (`plan::env`: no variable that changes which code a tool runs), its
//!   program is resolved on the policy's PATH outside the workspace
//!   (`plan::program`; that absolute path is what runs), its policy has
//!   loaded and its sandbox backend can enforce that policy on this host
//!   ([`prepare`]; exit 1 otherwise);
//! - every task state change is durable in the checkpoint before the
//!   orchestrator acts on it, and lands in the audit log (the sandbox itself
//!   records each attempt's start, violations and end);
//! - Ctrl-C, SIGTERM and SIGHUP stop the running sandboxes (each reports and
//!   cleans up), mark unfinished tasks cancelled and leave a resumable run;
//! - the run's exit code is the worst of its tasks' (violation 4 > timeout 3 >
//!   failure 2 > ok 0), per CONTRACTS.md §2; 1 when a task's sandbox refused
//!   to start (as `exec` exits 1 then) or an observer (a CI report) failed.
//!
//! Layers: [`prepare`] checks, the session loop below schedules
//! ([`scheduler`] decides what may start, [`worker`] runs one attempt as an
//! `orchestra exec` child), and everything the run shows or records besides
//! its checkpoint and run directory goes out as [`events`] to observers: the
//! [`audit_writer`], which the orchestrator installs itself, and whatever the
//! caller installs (the CLI's progress view and the CI writers).

pub mod artifacts;
pub mod audit_writer;
pub mod dispatch;
pub mod events;
pub mod exec_protocol;
pub mod journal_writer;
pub mod lease;
pub mod replan;
pub mod report;
pub mod scheduler;
pub mod worker;

use crate::audit;
use crate::config;
use crate::exit::Exit;
use crate::plan::Dag;
use crate::policy::{HumanDuration, Limit, load_policy};
use crate::runstore::checkpoint::{RunStatus, Store, TaskRecord, TaskState};
use crate::runstore::{RunDir, RunStoreError, fingerprint};
use crate::sandbox::report::{Cause, now_rfc3339};
use events::{Bus, Event, Observer};
use scheduler::Scheduler;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Default delay before the first retry.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// A task resolved for execution.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Policy file (absolute) or preset name, as passed to the sandbox.
    pub policy_spec: String,
    /// Where the policy came from (`preset:NAME` or the file).
    pub policy_origin: String,
    /// SHA-256 of the effective policy (with the task's env and timeout applied).
    pub policy_sha256: String,
    /// Backend name.
    pub backend: String,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Attempt timeout override.
    pub timeout: Option<HumanDuration>,
    /// Retries after a failed attempt.
    pub retries: u32,
    /// Delay before the first retry.
    pub backoff: Duration,
    /// The policy as YAML when the config's `security:` block changed it; the
    /// sandbox then loads it from a file in the run directory ([`materialize_policies`]).
    pub effective_policy: Option<String>,
    /// Host paths the task can see through its sandbox (its binds and the
    /// workspace), or `None` when it sees the host's whole tree (no mount
    /// namespace): a directory of the orchestrator's outside all of them needs
    /// no hiding, and its decoy would only cost start-up time.
    pub visible: Option<Vec<PathBuf>>,
}

/// A plan ready to run: validated, whitelisted, policies loaded and checked.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The DAG.
    pub dag: Dag,
    /// Per task (same index as `dag.plan.tasks`).
    pub tasks: Vec<TaskPlan>,
    /// Run-level timeout.
    pub run_timeout: Option<Duration>,
}

/// Why a plan cannot run (exit 1, nothing ran). One line.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The plan breaks the whitelist or the environment rules.
    #[error(transparent)]
    Plan(#[from] crate::yaml::LocatedError),
    /// The config file lies where tasks can write.
    #[error("config {}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// Why it is refused.
        reason: InTaskReach,
    },
    /// One task cannot run.
    #[error("task {task:?}: {problem}")]
    Task {
        /// The task id.
        task: String,
        /// Why.
        problem: TaskProblem,
    },
}

/// Why one task of a plan cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TaskProblem {
    /// Its tool is not whitelisted.
    #[error("unknown tool")]
    UnknownTool,
    /// Its policy file lies where tasks can write.
    #[error("policy {spec}: {reason}")]
    PolicyReach {
        /// The policy as given.
        spec: String,
        /// Why it is refused.
        reason: InTaskReach,
    },
    /// Its policy does not load.
    #[error("policy {0}")]
    Policy(crate::policy::load::PolicyError),
    /// The config's `security:` block cannot apply to its policy.
    #[error("policy {origin}: {error} (config {config})")]
    Security {
        /// The policy's origin.
        origin: String,
        /// Why.
        error: config::SecurityError,
        /// The config's origin.
        config: String,
    },
    /// Its program cannot be resolved.
    #[error("tool {tool:?}: {error}")]
    Program {
        /// The tool.
        tool: String,
        /// Why.
        error: crate::plan::program::ProgramError,
    },
    /// Its sandbox cannot run it here (preflight).
    #[error(transparent)]
    Sandbox(crate::sandbox::SandboxError),
}

/// A policy or config file in the workspace, outside its `.orchestra/`.
#[derive(Debug, thiserror::Error)]
#[error(
    "lies in the workspace {}, which tasks can write; keep policies and configs in .orchestra/ or outside the workspace",
    .0.display()
)]
pub struct InTaskReach(pub PathBuf);

/// Resolve and check everything before anything runs. Errors are one line, exit 1.
///
/// Policy precedence: `cli_policy`, then the task's, the tool's, the plan's,
/// the config's, then the preset `default`. Relative policy paths are resolved
/// against `base_dir`; `workdir` is the workspace the tasks will run in.
pub fn prepare(
    dag: Dag,
    origin: &str,
    cfg: &config::Loaded,
    cli_policy: Option<&str>,
    base_dir: &Path,
    workspace: &Path,
) -> Result<Prepared, PrepareError> {
    cfg.whitelist.check(&dag, origin)?;
    let text = Path::new(origin).is_file().then(|| std::fs::read_to_string(origin).ok()).flatten();
    crate::plan::env::check(&dag, origin, &cfg.config.allow_task_env, text.as_deref())?;
    if let Some(path) = &cfg.path {
        outside_task_reach(path, workspace).map_err(|reason| PrepareError::Config { path: path.clone(), reason })?;
    }
    let mut tasks = Vec::with_capacity(dag.plan.tasks.len());
    let mut checked: HashMap<String, ()> = HashMap::new();
    for t in &dag.plan.tasks {
        let task_err = |problem| PrepareError::Task { task: t.id().to_string(), problem };
        let tool = cfg.whitelist.get(&t.tool.value).ok_or_else(|| task_err(TaskProblem::UnknownTool))?;
        let mut argv = cfg.whitelist.argv(t).ok_or_else(|| task_err(TaskProblem::UnknownTool))?;
        let spec = cli_policy
            .map(str::to_string)
            .or_else(|| t.policy.clone())
            .or_else(|| tool.policy.clone())
            .or_else(|| dag.plan.policy.clone())
            .or_else(|| cfg.config.policy.clone())
            .unwrap_or_else(|| "default".to_string());
        let spec = absolutize_policy(&spec, base_dir);
        if Path::new(&spec).is_absolute() {
            outside_task_reach(Path::new(&spec), workspace)
                .map_err(|reason| task_err(TaskProblem::PolicyReach { spec: spec.clone(), reason }))?;
        }
        let (mut policy, policy_origin) = load_policy(&spec).map_err(|e| task_err(TaskProblem::Policy(e)))?;
        let mut effective_policy = None;
        if let Some(sec) = &cfg.config.security {
            config::apply_security(sec, &mut policy).map_err(|error| {
                task_err(TaskProblem::Security { origin: policy_origin.clone(), error, config: cfg.origin.clone() })
            })?;
            effective_policy = Some(policy.to_yaml());
        }
        // The program, resolved on the policy's PATH before the plan's env applies.
        if policy.backend() == crate::policy::SandboxMode::Jail {
            let resolved = crate::plan::program::resolve(&argv[0], policy_path(&policy).as_deref(), workspace)
                .map_err(|error| task_err(TaskProblem::Program { tool: t.tool.value.clone(), error }))?;
            argv[0] = resolved.argv0();
        }
        if let Some(d) = t.timeout {
            policy.timeouts.wall = Limit::Max(d);
        }
        for (k, v) in &t.env {
            policy.environment.set.insert(k.clone(), v.clone());
        }
        let backend = crate::sandbox::backend_for(policy.backend()).map_err(|e| task_err(TaskProblem::Sandbox(e)))?;
        let hash = policy.hash();
        if !checked.contains_key(&hash) {
            // A container backend's preflight also asks its engine.
            backend.preflight(&policy, workspace).map_err(|e| task_err(TaskProblem::Sandbox(e)))?;
            checked.insert(hash.clone(), ());
        }
        tasks.push(TaskPlan {
            argv,
            policy_spec: spec,
            policy_origin,
            policy_sha256: format!("sha256:{hash}"),
            backend: backend.name().to_string(),
            env: t.env.clone(),
            timeout: t.timeout,
            retries: t.retries,
            backoff: t.backoff.map(|b| b.0).unwrap_or(DEFAULT_BACKOFF),
            effective_policy,
            visible: visible_roots(&policy, workspace),
        });
    }
    let run_timeout = dag.plan.timeout.or(cfg.config.timeout).map(|d| d.0);
    Ok(Prepared { dag, tasks, run_timeout })
}

/// The `PATH` a task under `policy` starts with (before any plan variable):
/// the policy's `environment`, else glibc's default search path.
fn policy_path(policy: &crate::policy::Policy) -> Option<String> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    let host = crate::sandbox::jail::plan::HostFacts {
        home,
        env: std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
        protected: Vec::new(),
        cgroup_memory: true,
        cgroup_pids: true,
        read_only_mounts: Vec::new(),
        in_use: Vec::new(),
    };
    let env = crate::sandbox::jail::plan::task_env(policy, &host);
    Some(env.into_iter().find(|(k, _)| k == "PATH").map(|(_, v)| v).unwrap_or_else(|| "/bin:/usr/bin".into()))
}

/// What a task under `policy` can see of the host: `None` for everything.
fn visible_roots(policy: &crate::policy::Policy, workspace: &Path) -> Option<Vec<PathBuf>> {
    let jail = policy.backend() == crate::policy::SandboxMode::Jail;
    if jail && policy.jail.namespaces != crate::policy::NamespaceMode::Required {
        return None;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    let fs = &policy.filesystem;
    let mut roots: Vec<PathBuf> =
        fs.read_only.iter().chain(&fs.read_write).map(|p| crate::policy::load::expand_home(p, &home)).collect();
    roots.extend(policy.container_volumes().iter().filter_map(|v| v.split(':').next().map(PathBuf::from)));
    roots.push(workspace.to_path_buf());
    Some(roots)
}

/// Whether `dir` is reachable from a task that sees `visible`.
fn reachable(dir: &Path, visible: &Option<Vec<PathBuf>>) -> bool {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match visible {
        None => true,
        Some(roots) => roots.iter().any(|r| {
            let r = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            real.starts_with(&r) || r.starts_with(&real)
        }),
    }
}

/// Policy and config files must not lie where tasks can write: in the
/// workspace, outside its `.orchestra/` (which tasks never see writable). A
/// task could otherwise loosen the policy of a later task or of a resume.
fn outside_task_reach(file: &Path, workspace: &Path) -> Result<(), InTaskReach> {
    let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if real.starts_with(workspace) && !real.starts_with(workspace.join(".orchestra")) {
        return Err(InTaskReach(workspace.to_path_buf()));
    }
    Ok(())
}

/// Write the policies that the config changed into `<run>/policies/` and point
/// their tasks there (the run directory is hidden from tasks).
pub fn materialize_policies(prepared: &mut Prepared, run: &RunDir) -> Result<(), RunStoreError> {
    for t in &mut prepared.tasks {
        let Some(yaml) = &t.effective_policy else { continue };
        run.create_dir(Path::new("policies"))?;
        let rel = PathBuf::from("policies").join(format!("{}.yaml", t.policy_sha256.trim_start_matches("sha256:")));
        run.write(&rel, yaml.as_bytes(), true)?;
        // exec reads it by path and refuses it unless its hash is the one checked here.
        t.policy_spec = run.path.join(rel).to_string_lossy().into_owned();
    }
    Ok(())
}

/// A policy spec that names a file becomes absolute (so `resume` works from anywhere).
fn absolutize_policy(spec: &str, base: &Path) -> String {
    let p = Path::new(spec);
    let is_path = p.is_file() || spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
    if is_path && !p.is_absolute() { base.join(p).to_string_lossy().into_owned() } else { spec.to_string() }
}

/// How to execute.
pub struct Options {
    /// The orchestra binary to run `exec` with.
    pub exe: PathBuf,
    /// The runs directory (hidden from tasks).
    pub runs_dir: PathBuf,
    /// Run-level timeout override (`--timeout`).
    pub run_timeout: Option<Duration>,
    /// Extra attempts for a failure the analysis calls transient (`planner.transient_retries`).
    pub transient_retries: u32,
    /// The container pool size for the tasks' exec (config `container_pool`).
    pub container_pool: Option<usize>,
    /// Where attempts run; `None`: here, as `orchestra exec` children of `exe`.
    pub dispatch: Option<std::sync::Arc<dyn dispatch::Dispatch>>,
}

/// Messages to the scheduling loop.
enum Msg {
    Finished(usize, Box<worker::Outcome>),
    Notice(dispatch::Notice),
    Signal(i32),
    Control(crate::runstore::control::Control),
}

/// Why the run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupted(i32),
    RunTimeout,
    /// An operator cancelled the run (`runs control`, the dashboard).
    Cancelled,
}

/// Execute a prepared plan in `run`, continuing from the store's state.
/// Tasks in state `Succeeded` whose fingerprint is unchanged are reused.
///
/// With a `replanner`, a session that ends with a permanent failure may be
/// followed by a replan ([`replan`]) and a session of the new plan, up to the
/// replanner's bound; the run's exit code is that of the last plan's tasks.
///
/// The run's events go to the audit writer (records in `log`), then to
/// `observers` in order.
pub fn execute<'a>(
    prepared: &Prepared,
    run: &RunDir,
    store: &mut Store,
    log: &'a mut audit::AuditLog,
    observers: Vec<&'a mut dyn Observer>,
    opts: &Options,
    mut replanner: Option<&mut dyn replan::Replanner>,
) -> Result<Exit, RunStoreError> {
    // The journal for watchers in other processes comes first: it sees what
    // the caller's observers see, whatever they do with it.
    let mut journal = journal_writer::JournalWriter::open(run);
    let mut all: Vec<&mut dyn Observer> = Vec::with_capacity(observers.len() + 1);
    all.push(&mut journal);
    for o in observers {
        all.push(o);
    }
    let mut bus = Bus::new(&mut *log, &run.id, all);
    let bus = &mut bus;
    let started = Instant::now();
    let mut current: Option<Prepared> = None;
    // Proposals already made in this run (an earlier session's) count against the bound.
    let mut replans = std::fs::read_dir(replan::plans_dir(run))
        .map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".yaml")).count() as u32)
        .unwrap_or(0);
    let mut awaiting = false;
    let mut refused = Vec::new();
    let mut sandboxes = Duration::ZERO;
    // Operator control: this process starts unpaused; what a request asked
    // holds across the sessions of a replan.
    if let Err(e) = crate::runstore::control::reset(run) {
        bus.say(&format!("orchestra: warning: {e}"));
    }
    let mut watcher = crate::runstore::control::Watcher::default();
    // Input digests, shared by every fingerprint of this process (all sessions).
    let mut digests = fingerprint::Cache::new();
    let end = loop {
        let now = current.as_ref().unwrap_or(prepared);
        let mut end = session(now, run, store, bus, opts, started, &mut watcher, &mut digests)?;
        refused.append(&mut end.refused);
        sandboxes += end.sandboxes;
        let Some(r) = replanner.as_deref_mut() else { break end };
        if end.stop.is_some() {
            break end;
        }
        match replan::attempt(now, r, replans, &end.analyses, run, store, bus)? {
            replan::Outcome::Adopted(next) => {
                replans += 1;
                let mut next = *next;
                // Like a first plan: policies the config changed go to <run>/policies/.
                materialize_policies(&mut next, run)?;
                current = Some(next);
            }
            replan::Outcome::Ended => break end,
            replan::Outcome::AwaitingApproval => {
                awaiting = true;
                break end;
            }
        }
    };
    let prepared = current.as_ref().unwrap_or(prepared);
    tracing::debug!(mono_us = exec_protocol::mono_us(), "run: tasks over");
    finish(prepared, run, store, bus, end.stop, awaiting, started, refused, sandboxes)
}

/// How a session ended.
struct SessionEnd {
    /// The attempts' `orchestra exec` processes, spawn to exit, summed.
    sandboxes: Duration,
    stop: Option<Stop>,
    /// The failure analysis of each task that ended failed, by index.
    analyses: BTreeMap<usize, crate::planner::analysis::Analysis>,
    /// Tasks whose sandbox refused to start (exec exit 1, no report).
    refused: Vec<String>,
}

/// Run the plan's tasks until nothing more can start and nothing runs.
#[allow(clippy::too_many_arguments)]
fn session(
    prepared: &Prepared,
    run: &RunDir,
    store: &mut Store,
    bus: &mut Bus<'_>,
    opts: &Options,
    started: Instant,
    watcher: &mut crate::runstore::control::Watcher,
    digests: &mut fingerprint::Cache,
) -> Result<SessionEnd, RunStoreError> {
    let dag = &prepared.dag;
    let n = dag.plan.tasks.len();
    let settings = store.state().settings.clone();
    let ids: Vec<String> = dag.plan.tasks.iter().map(|t| t.id().to_string()).collect();

    // Which earlier successes still hold: same fingerprint, and everything upstream reused too.
    let mut initial = vec![TaskState::Pending; n];
    for &i in &dag.order {
        let rec = store.state().tasks.get(&ids[i]).cloned().unwrap_or_else(TaskRecord::pending);
        let upstream_ok = dag.needs[i].iter().all(|&j| initial[j] == TaskState::Succeeded);
        if rec.state == TaskState::Succeeded
            && upstream_ok
            && still_holds(prepared, i, &settings.workdir, digests, rec.fingerprint.as_deref())
        {
            initial[i] = TaskState::Succeeded;
            continue;
        }
        // Everything else starts over in this session (attempt count carries on).
        let fresh = TaskRecord { attempts: rec.attempts, ..TaskRecord::pending() };
        if rec != fresh {
            store.update(&ids[i], fresh)?;
        }
    }
    for i in 0..n {
        if initial[i] == TaskState::Succeeded {
            let mut rec = store.state().tasks[&ids[i]].clone();
            if !rec.reused && store.state().sessions > 1 {
                rec.reused = true;
                store.update(&ids[i], rec)?;
            }
        }
    }
    let to_run = initial.iter().filter(|s| **s == TaskState::Pending).count();
    bus.emit(&Event::RunStarted { run_id: &run.id, tasks: n, to_run, concurrency: settings.concurrency });
    for i in (0..n).filter(|&i| initial[i] == TaskState::Succeeded) {
        bus.emit(&Event::TaskReused { task: &ids[i] });
    }

    let mut sched =
        Scheduler::new(dag.needs.clone(), dag.dependants.clone(), initial, settings.concurrency, settings.keep_going);
    let (tx, rx) = mpsc::channel::<Msg>();
    let signals = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        .map_err(|e| RunStoreError::Io { path: PathBuf::from("signals"), source: e })?;
    let sig_handle = signals.handle();
    {
        let tx = tx.clone();
        let mut signals = signals;
        std::thread::spawn(move || {
            for s in signals.forever() {
                if tx.send(Msg::Signal(s)).is_err() {
                    break;
                }
            }
        });
    }
    // Operator control: a thread polls the control file; a pause asked in an
    // earlier session of this run (before a replan) still holds.
    sched.set_paused(watcher.paused());
    let control_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let tx = tx.clone();
        let run = run.clone();
        let done = control_stop.clone();
        std::thread::spawn(move || {
            let mut last = None;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(crate::runstore::control::POLL);
                let now = crate::runstore::control::read(&run);
                if now.is_some() && now != last {
                    last = now.clone();
                    if let Some(c) = now
                        && tx.send(Msg::Control(c)).is_err()
                    {
                        break;
                    }
                }
            }
        });
    }
    if let Some(d) = &opts.dispatch {
        let tx = std::sync::Mutex::new(tx.clone());
        d.set_notify(std::sync::Arc::new(move |n| {
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(Msg::Notice(n));
            }
        }));
    }
    let deadline = opts.run_timeout.or(prepared.run_timeout).map(|d| started + d);
    let mut running: HashMap<usize, Box<dyn dispatch::Running>> = HashMap::new();
    let mut retry_at: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut stop: Option<Stop> = None;
    let mut last_failure: Option<String> = None;
    let mut analyses = BTreeMap::new();
    // Tasks whose sandbox refused to start (exec exit 1: a control this host
    // cannot enforce, found only at setup): the run exits 1, as exec does.
    let mut refused: Vec<String> = Vec::new();
    let mut sandboxes = Duration::ZERO;

    loop {
        // Start what may start.
        while let Some(i) = sched.next_task() {
            start(prepared, run, store, bus, opts, &settings, i, &ids, &tx, &mut running, digests)?;
        }
        if sched.is_done() {
            break;
        }
        let now = Instant::now();
        // Once stopping, the expired deadline must not wake the loop again
        // (it would spin without ever reading the tasks' outcomes).
        let wake = retry_at.values().copied().chain(deadline.filter(|_| stop.is_none())).min();
        let msg = match wake {
            Some(t) if t <= now => None,
            Some(t) => match rx.recv_timeout(t - now) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        match msg {
            None => {
                let now = Instant::now();
                if deadline.is_some_and(|d| d <= now) && stop.is_none() {
                    stop = Some(Stop::RunTimeout);
                    bus.say("orchestra: the run's timeout expired: stopping its tasks");
                    halt(&mut sched, &running, &mut retry_at, store, bus, &ids, "run timeout")?;
                    continue;
                }
                let due: Vec<usize> = retry_at.iter().filter(|(_, t)| **t <= now).map(|(i, _)| *i).collect();
                for i in due {
                    retry_at.remove(&i);
                    sched.resume_retry(i);
                    start(prepared, run, store, bus, opts, &settings, i, &ids, &tx, &mut running, digests)?;
                }
            }
            Some(Msg::Notice(n)) => {
                if let Some(line) = &n.say {
                    bus.say(line);
                }
                bus.emit(&Event::Remote { notice: &n });
            }
            Some(Msg::Control(c)) => {
                use crate::runstore::control::Action;
                if let Some((action, by)) = watcher.changes(&c) {
                    // Every request is acknowledged (and recorded); only a change is acted on.
                    bus.emit(&Event::Control { action, by: &by, request: c.seq });
                    match action {
                        Action::Pause if !sched.is_paused() && stop.is_none() => {
                            sched.set_paused(true);
                            bus.say(&format!("orchestra: paused by {by}: no new task starts"));
                        }
                        Action::Continue if sched.is_paused() => {
                            sched.set_paused(false);
                            bus.say(&format!("orchestra: continued by {by}"));
                        }
                        Action::Cancel if stop.is_none() => {
                            stop = Some(Stop::Cancelled);
                            bus.say(&format!("orchestra: cancelled by {by}: stopping the running tasks"));
                            let why = format!("cancelled by {by}");
                            halt(&mut sched, &running, &mut retry_at, store, bus, &ids, &why)?;
                        }
                        _ => {}
                    }
                }
            }
            Some(Msg::Signal(sig)) => {
                if stop.is_none() {
                    stop = Some(Stop::Interrupted(sig));
                    bus.say(&format!("orchestra: interrupted by signal {sig}: stopping the running tasks"));
                    let why = format!("interrupted by signal {sig}");
                    halt(&mut sched, &running, &mut retry_at, store, bus, &ids, &why)?;
                }
            }
            Some(Msg::Finished(i, outcome)) => {
                running.remove(&i);
                sandboxes += outcome.process_time;
                if outcome.refused() {
                    refused.push(ids[i].clone());
                }
                let task = &dag.plan.tasks[i];
                let plan = &prepared.tasks[i];
                let mut rec = store.state().tasks[&ids[i]].clone();
                let (state, note) = classify(&outcome, stop);
                fill_record(&mut rec, &outcome, state, note);
                // Failures only (never violations or timeouts): transient ones get extra attempts.
                let mut allowed = plan.retries;
                if state == TaskState::Failed && stop.is_none() {
                    let tail = crate::planner::analysis::log_tail(&run.via_fd(&run.log_rel(&ids[i])), 40);
                    let a = crate::planner::analysis::analyse(&crate::planner::analysis::Failure {
                        cause: rec.cause.as_deref().unwrap_or("setup_failed"),
                        exit_status: rec.exit_status,
                        signal: rec.signal,
                        log_tail: &tail,
                    });
                    if a.class == crate::planner::analysis::Class::Transient {
                        allowed = allowed.saturating_add(opts.transient_retries);
                    }
                    rec.note = Some(match rec.note.take() {
                        Some(n) => format!("{n}; {}: {}", a.class.as_str(), a.reason),
                        None => format!("{}: {}", a.class.as_str(), a.reason),
                    });
                    analyses.insert(i, a);
                }
                if state == TaskState::Failed && stop.is_none() && rec.attempts <= allowed && !sched.is_stopping() {
                    let delay = plan.backoff.saturating_mul(1u32 << (rec.attempts - 1).min(16));
                    let detail = describe(&rec);
                    bus.emit(&Event::TaskRetry { task: &ids[i], attempt: rec.attempts, delay, detail: &detail });
                    rec.state = TaskState::Running;
                    store.update(&ids[i], rec)?;
                    sched.wait_for_retry(i);
                    retry_at.insert(i, Instant::now() + delay);
                    continue;
                }
                let collected = opts.dispatch.as_ref().is_some_and(|d| d.collects_outputs());
                if state == TaskState::Succeeded
                    && !collected
                    && let Err(e) = artifacts::collect(
                        &settings.workdir,
                        &task.outputs,
                        run,
                        &Path::new("artifacts").join(&ids[i]),
                        &[opts.runs_dir.clone(), settings.audit_dir.clone(), settings.workdir.join(".orchestra")],
                    )
                {
                    rec.state = TaskState::Failed;
                    rec.note = Some(e.to_string());
                }
                let final_state = rec.state;
                let detail = describe(&rec);
                if final_state != TaskState::Succeeded {
                    last_failure = Some(ids[i].clone());
                }
                store.update(&ids[i], rec.clone())?;
                tracing::debug!(mono_us = exec_protocol::mono_us(), task = %ids[i], "scheduler: outcome recorded");
                let sandbox_ms = (outcome.process_time > Duration::ZERO && outcome.report.is_some())
                    .then(|| (outcome.process_time.as_millis() as u64).saturating_sub(rec.wall_ms));
                bus.emit(&Event::TaskFinished {
                    task: &ids[i],
                    state: final_state,
                    wall_ms: rec.wall_ms,
                    detail: &detail,
                    record: &rec,
                    sandbox_ms,
                });
                let skipped = sched.finish(i, final_state);
                for s in skipped {
                    let note = format!("needs {} which did not succeed", ids[i]);
                    mark(store, bus, &ids[s], TaskState::Skipped, &note)?;
                }
            }
        }
    }
    sig_handle.close();
    control_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let why = match stop {
        Some(Stop::Interrupted(sig)) => format!("interrupted by signal {sig}"),
        Some(Stop::RunTimeout) => "run timeout".to_string(),
        Some(Stop::Cancelled) => "cancelled by an operator".to_string(),
        None => match &last_failure {
            Some(f) => format!("stopped after {f} did not succeed (use --keep-going to run independent tasks)"),
            None => "not started".to_string(),
        },
    };
    for i in sched.unstarted() {
        mark(store, bus, &ids[i], TaskState::Cancelled, &why)?;
    }
    Ok(SessionEnd { stop, analyses, refused, sandboxes })
}

/// Record the run's end: status, reports, audit record, summary.
#[allow(clippy::too_many_arguments)]
fn finish(
    prepared: &Prepared,
    run: &RunDir,
    store: &mut Store,
    bus: &mut Bus<'_>,
    stop: Option<Stop>,
    awaiting_approval: bool,
    started: Instant,
    mut refused: Vec<String>,
    sandboxes: Duration,
) -> Result<Exit, RunStoreError> {
    let mut exit = run_exit(store.state().tasks.values().map(|r| r.state));
    if !refused.is_empty() {
        refused.dedup();
        bus.say(&format!(
            "orchestra: error: the sandbox of {} refused to start (a control this host cannot enforce; see the log): exit 1",
            refused.join(", ")
        ));
        exit = exit.worst(Exit::Config);
    }
    let status = match (stop, exit) {
        (Some(Stop::Interrupted(_) | Stop::Cancelled), _) => RunStatus::Interrupted,
        (_, Exit::Ok) => RunStatus::Succeeded,
        _ if awaiting_approval => RunStatus::AwaitingApproval,
        _ => RunStatus::Failed,
    };
    store.set_status(status, Some(exit.code()))?;
    let wall_ms = started.elapsed().as_millis() as u64;
    let run_report = report::write(run, store.state(), prepared, wall_ms)?;
    // The CI writers derive their reports from it.
    bus.emit(&Event::ReportWritten { run, report: &run_report });
    let summary = report::summary(store.state());
    let end = Event::RunFinished {
        run,
        report: &run_report,
        status: status.as_str(),
        exit_code: exit.code(),
        wall_ms,
        sandboxes_ms: sandboxes.as_millis() as u64,
        summary: &summary,
    };
    if let Err(e) = bus.finish(&end) {
        bus.say(&format!("orchestra: error: audit log: {e}"));
        return Ok(after_tasks(exit));
    }
    // A run whose CI reports are missing is not ok (as with the audit log above).
    Ok(if bus.failed() { after_tasks(exit) } else { exit })
}

/// The exit code when something the orchestrator writes after the tasks ran
/// fails: a run that was otherwise ok exits 1, but a task's failure, timeout
/// or violation keeps its code (a task must not turn exit 4 into 1 by
/// sabotaging a report).
fn after_tasks(exit: Exit) -> Exit {
    if exit == Exit::Ok { Exit::Config } else { exit }
}

/// Start one attempt of task `i`.
#[allow(clippy::too_many_arguments)]
fn start(
    prepared: &Prepared,
    run: &RunDir,
    store: &mut Store,
    bus: &mut Bus<'_>,
    opts: &Options,
    settings: &crate::runstore::checkpoint::Settings,
    i: usize,
    ids: &[String],
    tx: &mpsc::Sender<Msg>,
    running: &mut HashMap<usize, Box<dyn dispatch::Running>>,
    digests: &mut fingerprint::Cache,
) -> Result<(), RunStoreError> {
    let plan = &prepared.tasks[i];
    let mut rec = store.state().tasks.get(&ids[i]).cloned().unwrap_or_else(TaskRecord::pending);
    rec.attempts += 1;
    rec.state = TaskState::Running;
    rec.reused = false;
    rec.started_at = Some(now_rfc3339());
    rec.ended_at = None;
    rec.note = None;
    rec.violations.clear();
    match task_fingerprint(prepared, i, &settings.workdir, digests) {
        Ok(fp) => rec.fingerprint = Some(fp),
        Err(e) => {
            rec.fingerprint = None;
            rec.note = Some(format!("cannot hash inputs: {e}"));
        }
    }
    let attempt_no = rec.attempts;
    // Not forced to disk: after a crash, a task recorded running or pending is run again alike.
    store.note(&ids[i], rec)?;
    if attempt_no > 1
        && let Ok(mut f) = run.append(&run.log_rel(&ids[i]))
    {
        use std::io::Write;
        let _ = writeln!(f, "--- orchestra: attempt {attempt_no} ---");
    }
    bus.emit(&Event::TaskStarted {
        task: &ids[i],
        attempt: attempt_no,
        policy: &plan.policy_origin,
        backend: &plan.backend,
    });
    let attempt = exec_protocol::Attempt {
        task: ids[i].clone(),
        number: attempt_no,
        argv: plan.argv.clone(),
        policy: plan.policy_spec.clone(),
        policy_sha256: plan.policy_sha256.clone(),
        env: plan.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        timeout: plan.timeout.map(|t| t.to_string()),
        workdir: settings.workdir.clone(),
        audit_dir: settings.audit_dir.clone(),
        run_id: run.id.clone(),
        // Hidden wherever the task could reach it; elsewhere it is invisible anyway.
        protect: if reachable(&opts.runs_dir, &plan.visible) { vec![opts.runs_dir.clone()] } else { Vec::new() },
        run: run.clone(),
        report: run.task_report_rel(&ids[i]),
        log: run.log_rel(&ids[i]),
        container_pool: opts.container_pool,
        lease: None,
    };
    let tx = tx.clone();
    let done: dispatch::Done = Box::new(move |outcome| {
        let _ = tx.send(Msg::Finished(i, Box::new(outcome)));
    });
    let handle = match &opts.dispatch {
        Some(d) => d.start(attempt, &prepared.dag.plan.tasks[i], done),
        None => dispatch::Dispatch::start(
            &dispatch::Local { exe: opts.exe.clone() },
            attempt,
            &prepared.dag.plan.tasks[i],
            done,
        ),
    };
    running.insert(i, handle);
    Ok(())
}

/// Stop everything: no more starts, running sandboxes asked to end, retries given up.
fn halt(
    sched: &mut Scheduler,
    running: &HashMap<usize, Box<dyn dispatch::Running>>,
    retry_at: &mut BTreeMap<usize, Instant>,
    store: &mut Store,
    bus: &mut Bus<'_>,
    ids: &[String],
    why: &str,
) -> Result<(), RunStoreError> {
    sched.stop();
    for h in running.values() {
        h.stop();
    }
    let waiting: Vec<usize> = std::mem::take(retry_at).into_keys().collect();
    for i in waiting {
        let mut rec = store.state().tasks[&ids[i]].clone();
        let state = if rec.state == TaskState::Running { TaskState::Cancelled } else { rec.state };
        rec.state = state;
        rec.note = Some(format!("retry not attempted: {why}"));
        rec.ended_at = Some(now_rfc3339());
        store.update(&ids[i], rec)?;
        bus.emit(&Event::TaskNotRun { task: &ids[i], state, reason: why });
        for s in sched.abandon_retry(i, state) {
            let note = format!("needs {} which did not succeed", ids[i]);
            mark(store, bus, &ids[s], TaskState::Skipped, &note)?;
        }
    }
    Ok(())
}

/// Record a task that will not run (skipped or cancelled).
fn mark(store: &mut Store, bus: &mut Bus<'_>, id: &str, state: TaskState, note: &str) -> Result<(), RunStoreError> {
    let mut rec = store.state().tasks.get(id).cloned().unwrap_or_else(TaskRecord::pending);
    rec.state = state;
    rec.note = Some(note.to_string());
    rec.ended_at = Some(now_rfc3339());
    store.update(id, rec)?;
    bus.emit(&Event::TaskNotRun { task: id, state, reason: note });
    Ok(())
}

/// The task's state from its attempt's outcome, given why the run is stopping (if it is).
fn classify(outcome: &worker::Outcome, stop: Option<Stop>) -> (TaskState, Option<String>) {
    let cause = outcome.cause();
    match cause {
        Cause::PolicyDenied | Cause::LimitExceeded => (TaskState::Violation, None),
        Cause::Ok => (TaskState::Succeeded, None),
        _ => match stop {
            Some(Stop::RunTimeout) => (TaskState::TimedOut, Some("stopped by the run's timeout".into())),
            Some(Stop::Interrupted(sig)) => (TaskState::Cancelled, Some(format!("interrupted by signal {sig}"))),
            Some(Stop::Cancelled) => (TaskState::Cancelled, Some("cancelled by an operator".into())),
            None => match cause {
                Cause::Timeout => (TaskState::TimedOut, None),
                _ => (TaskState::Failed, outcome.error.clone()),
            },
        },
    }
}

fn fill_record(rec: &mut TaskRecord, outcome: &worker::Outcome, state: TaskState, note: Option<String>) {
    rec.state = state;
    rec.ended_at = Some(now_rfc3339());
    rec.note = note.or_else(|| outcome.report.as_ref().and_then(|r| r.error.clone()));
    match &outcome.report {
        Some(r) => {
            rec.cause = Some(crate::sandbox::report::cause_name(r.cause).to_string());
            rec.exit_status = r.exit_status;
            rec.signal = r.signal;
            rec.wall_ms = r.wall_ms;
            rec.peak_memory_bytes = r.peak_memory_bytes;
            rec.violations = r.violations.clone();
        }
        None => {
            rec.cause = Some(if outcome.lost { "worker_lost" } else { "setup_failed" }.into());
            rec.exit_status = None;
            rec.signal = None;
        }
    }
}

/// A short description of a record: cause, exit status, rules, note.
pub fn describe(rec: &TaskRecord) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &rec.cause
        && c != "ok"
    {
        parts.push(format!("cause={c}"));
    }
    if let Some(s) = rec.exit_status
        && s != 0
    {
        parts.push(format!("exit={s}"));
    }
    if let Some(s) = rec.signal {
        parts.push(format!("signal={s}"));
    }
    let rules = crate::sandbox::report::distinct_rules(&rec.violations);
    if !rules.is_empty() {
        parts.push(format!("rules={}", crate::sandbox::report::join_rules(&rules, ",")));
    }
    if let Some(n) = &rec.note {
        parts.push(n.clone());
    }
    parts.join(" ")
}

/// The run's exit code from its tasks' final states (CONTRACTS.md §2 precedence).
pub fn run_exit(states: impl Iterator<Item = TaskState>) -> Exit {
    states.fold(Exit::Ok, |acc, s| {
        acc.worst(match s {
            // A failure a person agreed to replace (see replan.rs).
            TaskState::Succeeded | TaskState::Replaced => Exit::Ok,
            TaskState::Violation => Exit::Violation,
            TaskState::TimedOut => Exit::Timeout,
            TaskState::Failed | TaskState::Skipped | TaskState::Cancelled | TaskState::Pending | TaskState::Running => {
                Exit::Failed
            }
        })
    })
}

/// Fingerprint of task `i` as it would run now; `digests` saves re-reading
/// input files unchanged since this process last read them.
pub fn task_fingerprint(
    prepared: &Prepared,
    i: usize,
    workdir: &Path,
    digests: &mut fingerprint::Cache,
) -> std::io::Result<String> {
    fingerprint::compute_cached(&fingerprint_inputs(prepared, i, workdir), digests)
}

fn fingerprint_inputs<'a>(prepared: &'a Prepared, i: usize, workdir: &'a Path) -> fingerprint::Inputs<'a> {
    let p = &prepared.tasks[i];
    fingerprint::Inputs {
        argv: &p.argv,
        env: &p.env,
        policy_sha256: &p.policy_sha256,
        workdir,
        paths: &prepared.dag.plan.tasks[i].inputs,
    }
}

/// Whether task `i`'s earlier success still holds: its recorded fingerprint
/// is that of the task as it would run now (a fingerprint recorded by a
/// version before fingerprint v2 is checked as that version computed it).
fn still_holds(
    prepared: &Prepared,
    i: usize,
    workdir: &Path,
    digests: &mut fingerprint::Cache,
    recorded: Option<&str>,
) -> bool {
    let Some(recorded) = recorded else { return false };
    let inputs = fingerprint_inputs(prepared, i, workdir);
    match fingerprint::compute_cached(&inputs, digests) {
        Ok(fp) if fp == recorded => true,
        Ok(_) => fingerprint::compute_v1(&inputs).is_ok_and(|fp| fp == recorded),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runs_dir_is_hidden_wherever_a_task_could_reach_it() {
        let ws = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let p = crate::policy::Policy::default();
        let visible = visible_roots(&p, ws.path());
        assert!(reachable(&ws.path().join("runs"), &visible), "inside the workspace");
        assert!(reachable(Path::new("/usr/share/runs"), &visible), "inside a read-only bind");
        assert!(!reachable(elsewhere.path(), &visible), "{:?}", visible);
        let mut flat = p.clone();
        flat.jail.namespaces = crate::policy::NamespaceMode::Off;
        assert!(reachable(elsewhere.path(), &visible_roots(&flat, ws.path())), "no mount namespace: everything");
    }

    #[test]
    fn run_exit_follows_the_contract_precedence() {
        use TaskState::*;
        assert_eq!(run_exit([Succeeded, Succeeded].into_iter()), Exit::Ok);
        assert_eq!(run_exit([Succeeded, Failed, Skipped].into_iter()), Exit::Failed);
        assert_eq!(run_exit([Failed, TimedOut].into_iter()), Exit::Timeout);
        assert_eq!(run_exit([TimedOut, Violation, Failed].into_iter()), Exit::Violation);
        assert_eq!(run_exit([Succeeded, Cancelled].into_iter()), Exit::Failed);
        // A failure a person agreed to replace no longer counts; an unapproved one does.
        assert_eq!(run_exit([Succeeded, Replaced].into_iter()), Exit::Ok);
        assert_eq!(after_tasks(Exit::Violation), Exit::Violation, "a sabotaged report never masks exit 4");
        assert_eq!(after_tasks(Exit::Ok), Exit::Config);
    }
}
