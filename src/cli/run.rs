//! `orchestra run`, `orchestra resume` and `orchestra plan`: the L1 entry points.
//!
//! Everything that can be checked is checked before a run directory exists:
//! the plan (schema, ids, dependencies, cycles), the tool whitelist, every
//! task's policy and whether this host can enforce it. A refusal is one line
//! and exit 1, and nothing was run or written.

use super::progress;
use crate::config;
use crate::exit::Exit;
use crate::orchestrator::{self, Prepared};
use crate::plan::{self, Dag};
use crate::policy::HumanDuration;
use crate::runstore::checkpoint::{self, Checkpoint, RunStatus, Settings, Source, Store, TaskRecord};
use crate::runstore::{self, RunDir, index::Index, lock};
use crate::sandbox::report::now_rfc3339;
use clap::Args;
use sha2::Digest;
use std::path::{Path, PathBuf};

/// Arguments of `orchestra run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A plan file (YAML), or a free-text intent such as "build and test".
    #[arg(value_name = "PLAN.yaml | INTENT")]
    pub target: String,
    /// Project config (default: `.orchestra/config.yaml` in the workspace if present, else built-in defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How many tasks may run at once (default: the config's, else the number of CPUs).
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,
    /// Policy (file or preset) for every task, overriding the plan's and the tools'.
    #[arg(long, short = 'p')]
    pub policy: Option<String>,
    /// Where run directories go (default: the config's, else `runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Check and print the plan with each task's command and policy; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After a task fails, keep running the tasks that do not depend on it.
    #[arg(long)]
    pub keep_going: bool,
    /// The workspace the tasks run in (default: the current directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Audit log directory (default `.orchestra/audit`).
    #[arg(long)]
    pub audit_dir: Option<PathBuf>,
    /// Wall-clock limit for the whole run (humantime), overriding the plan's.
    #[arg(long, value_parser = HumanDuration::parse)]
    pub timeout: Option<HumanDuration>,
    /// Print JSON events on stdout (one per line) instead of progress.
    #[arg(long)]
    pub json: bool,
    /// How the run shows its progress on stderr: `auto` (a live view on a
    /// terminal; plain lines in CI, when piped or with NO_COLOR), `live`,
    /// `plain` (a line per event) or `none` (the last line and errors only).
    #[arg(long, value_enum, default_value_t = super::progress::Choice::Auto, conflicts_with = "json")]
    pub progress: super::progress::Choice,
    /// Ask before adopting a replanned plan (y/N on a terminal; without one the run
    /// ends `awaiting_approval`, exit 2, resumable with the proposed plan).
    #[arg(long)]
    pub approve: bool,
    /// Replan after a permanent failure even in a CI job (`CI`, `GITHUB_ACTIONS`,
    /// `GITLAB_CI`), where replanning is off by default. A replan never turns the
    /// failure it works around into a success unless a person approves it (`--approve`).
    #[arg(long)]
    pub replan: bool,
    /// Also write the JUnit report here (the run directory always has `junit.xml`).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the SARIF log of violations here (the run directory always has `violations.sarif`).
    #[arg(long, value_name = "PATH")]
    pub sarif: Option<PathBuf>,
    /// Also write the Markdown report here (under GitHub Actions, `$GITHUB_STEP_SUMMARY` gets it anyway).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Distributed execution.
    #[command(flatten)]
    pub fleet: super::fleet::QueueArgs,
}

/// Arguments of `orchestra resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue (see `orchestra runs list`).
    pub run_id: String,
    /// Where run directories are (default: the config's, else `runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Use this plan instead of the run's (default: the original plan file if it
    /// still exists, else the run's `plan.yaml`).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Change the concurrency for this session.
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,
    /// Wall-clock limit for this session (humantime).
    #[arg(long, value_parser = HumanDuration::parse)]
    pub timeout: Option<HumanDuration>,
    /// Print JSON events on stdout (one per line) instead of progress.
    #[arg(long)]
    pub json: bool,
    /// How the run shows its progress on stderr: `auto` (a live view on a
    /// terminal; plain lines in CI, when piped or with NO_COLOR), `live`,
    /// `plain` (a line per event) or `none` (the last line and errors only).
    #[arg(long, value_enum, default_value_t = super::progress::Choice::Auto, conflicts_with = "json")]
    pub progress: super::progress::Choice,
    /// Ask before adopting a replanned plan (see `run --approve`).
    #[arg(long)]
    pub approve: bool,
    /// Replan even in a CI job (see `run --replan`).
    #[arg(long)]
    pub replan: bool,
    /// Distributed execution (see `run --queue`).
    #[command(flatten)]
    pub fleet: super::fleet::QueueArgs,
}

/// Arguments of `orchestra plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The intent, e.g. "build and test" (or a plan file, to check it), or `diff A B`
    /// to compare two plans (run ids or plan files).
    #[arg(required_unless_present = "schema", value_name = "INTENT | PLAN.yaml | diff")]
    pub target: Option<String>,
    /// With `diff`: the two plans (run ids or plan files).
    #[arg(value_name = "A B")]
    pub more: Vec<String>,
    /// Ask every configured planner backend and show the plans side by side.
    #[arg(long)]
    pub compare: bool,
    /// With `diff`: JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// With `diff`: where run directories are (default: the config's, else `runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Project config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The workspace to plan for (default: the current directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print the plan format's JSON schema instead.
    #[arg(long)]
    pub schema: bool,
    /// Print the plan's DAG instead of YAML: Graphviz `dot` (the default) or a
    /// Mermaid `flowchart`. Nodes are tasks (id and tool), an edge `A -> B` says
    /// B needs A. Give the intent first (`plan "build and test" --graph`) or the
    /// format with `=` (`plan --graph=mermaid "build and test"`).
    #[arg(
        long,
        value_name = "dot|mermaid",
        value_parser = graph_format,
        num_args = 0..=1,
        default_missing_value = "dot",
        conflicts_with_all = ["compare", "schema", "json"]
    )]
    pub graph: Option<plan::graph::GraphFormat>,
}

/// A `--graph` value that is not a format: most likely the intent, after a bare `--graph`.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a graph format (dot or mermaid); to draw an intent's plan, put the intent first: orchestra plan \"INTENT\" --graph"
)]
struct NotAGraphFormat;

fn graph_format(value: &str) -> Result<plan::graph::GraphFormat, NotAGraphFormat> {
    clap::ValueEnum::from_str(value, false).map_err(|_| NotAGraphFormat)
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { cwd().join(p) }
}

/// Why `orchestra run` or `plan` cannot start.
#[derive(Debug, thiserror::Error)]
enum RunArgError {
    #[error("--workdir {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("--workdir {}: {source}", path.display())]
    Workdir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Plan(#[from] crate::yaml::LocatedError),
    #[error("planner {backend}: {outcome}")]
    Planner { backend: String, outcome: String },
    #[error(transparent)]
    Chain(crate::planner::chain::ChainError),
    #[error("{flag} {}: is a directory (give a file path)", path.display())]
    OutputIsDirectory { flag: &'static str, path: PathBuf },
    /// The copy would replace a link, FIFO or device with a plain file.
    #[error("{flag} {}: is {kind}; give a new path or a regular file", path.display())]
    OutputNotRegular { flag: &'static str, path: PathBuf, kind: &'static str },
}

fn workspace(flag: Option<&Path>) -> Result<PathBuf, RunArgError> {
    let w = flag.map(absolute).unwrap_or_else(cwd);
    match std::fs::canonicalize(&w) {
        Ok(c) if c.is_dir() => Ok(c),
        Ok(c) => Err(RunArgError::NotADirectory(c)),
        Err(source) => Err(RunArgError::Workdir { path: w, source }),
    }
}

/// Whether the argument names a plan file rather than an intent.
fn is_plan_file(target: &str) -> bool {
    Path::new(target).is_file() || target.ends_with(".yaml") || target.ends_with(".yml")
}

/// The plan for a target: a file, or the planner chain's answer for an intent. Returns the DAG and its origin.
fn make_plan(target: &str, ws: &Path, cfg: &config::Loaded) -> Result<(Dag, String, Source), RunArgError> {
    if is_plan_file(target) {
        let path = absolute(Path::new(target));
        let plan = plan::load(&path)?;
        let dag = plan::validate(plan, target)?;
        return Ok((dag, target.to_string(), Source { plan_file: Some(path), intent: None }));
    }
    // The configured backends in order, the offline planner last. Their plans go
    // through exactly the checks a file would, plus the planner policy rule.
    let chain = crate::planner::Chain::from_config(&cfg.config.planner, &cfg.whitelist);
    let proposal = chain.propose(target, ws, None).map_err(|e| match e.attempts.as_slice() {
        [only] => RunArgError::Planner { backend: only.backend.clone(), outcome: only.outcome.clone() },
        _ => RunArgError::Chain(e),
    })?;
    for a in &proposal.attempts[..proposal.attempts.len().saturating_sub(1)] {
        crate::ci::github::eprint_quoted(&format!("orchestra: planner {}: {}", a.backend, a.outcome));
    }
    Ok((proposal.dag, proposal.origin, Source { plan_file: None, intent: Some(target.to_string()) }))
}

/// The runs directory: the flag, else the config's, else `runs` (relative paths to the working directory).
/// `..` is applied to the text (`../runs` from inside the workspace is the
/// directory beside it); links are not resolved here: one inside the workspace
/// is refused when the directory is opened (a task may have left it).
pub(crate) fn runs_dir(flag: Option<&Path>, cfg: Option<&config::Config>) -> PathBuf {
    let given = flag
        .map(absolute)
        .or_else(|| cfg.and_then(|c| c.runs_dir.as_deref()).map(absolute))
        .unwrap_or_else(|| cwd().join(runstore::DEFAULT_RUNS_DIR));
    crate::policy::load::normalize(&given)
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// `orchestra plan`.
pub fn plan_cmd(args: PlanArgs) -> Exit {
    if args.schema {
        out!("{}", plan::schema());
        return Exit::Ok;
    }
    let Some(target) = args.target.as_deref() else { return super::config_error("an intent or plan file is required") };
    let ws = match workspace(args.workdir.as_deref()) {
        Ok(w) => w,
        Err(e) => return super::config_error(e),
    };
    let cfg = match config::load(args.config.as_deref(), &ws) {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    if target == "diff" && !args.more.is_empty() {
        if args.graph.is_some() {
            return super::config_error("--graph draws one plan; `plan diff` compares two");
        }
        let [a, b] = args.more.as_slice() else {
            return super::config_error("usage: orchestra plan diff RUN_A|PLAN_A RUN_B|PLAN_B");
        };
        let runs = runs_dir(args.runs_dir.as_deref(), Some(&cfg.config));
        return match super::replan::diff_cmd(a, b, &runs, args.json) {
            // JSON stays JSON (not fenced), with no command in it.
            Ok(text) if args.json => {
                out!("{}", crate::ci::github::json_safe(&text));
                Exit::Ok
            }
            Ok(text) => {
                super::print_quoted_out(&text);
                Exit::Ok
            }
            Err(e) => super::config_error(e),
        };
    }
    if !args.more.is_empty() {
        return super::config_error(format!("unexpected arguments: {}", args.more.join(" ")));
    }
    if args.compare {
        let (text, any) = super::replan::compare_cmd(&cfg, target, &ws);
        super::print_quoted_out(&text);
        return if any { Exit::Ok } else { Exit::Config };
    }
    let (dag, origin, _) = match make_plan(target, &ws, &cfg) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    if let Err(e) = cfg.whitelist.check(&dag, &origin) {
        return super::config_error(e);
    }
    let text = Path::new(&origin).is_file().then(|| std::fs::read_to_string(&origin).ok()).flatten();
    if let Err(e) = plan::env::check(&dag, &origin, &cfg.config.allow_task_env, text.as_deref()) {
        return super::config_error(e);
    }
    match args.graph {
        Some(format) => super::print_quoted_out(&plan::graph::render(&dag, format)),
        None => super::print_quoted_out(&plan::to_yaml(&dag.plan)),
    }
    Exit::Ok
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `orchestra run`.
pub fn run(args: RunArgs) -> Exit {
    tracing::debug!(mono_us = crate::orchestrator::exec_protocol::mono_us(), "run: start");
    let ws = match workspace(args.workdir.as_deref()) {
        Ok(w) => w,
        Err(e) => return super::config_error(e),
    };
    let cfg = match config::load(args.config.as_deref(), &ws) {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    if args.concurrency == Some(0) {
        return super::config_error("--concurrency must be at least 1");
    }
    let (env_policy, env_timeout) = match config::env_flags() {
        Ok(f) => f,
        Err(e) => return super::config_error(e),
    };
    let policy = args.policy.clone().or(env_policy);
    let timeout = args.timeout.or(env_timeout);
    let outputs = match ci_outputs(&args, &cfg.config) {
        Ok(o) => o,
        Err(e) => return super::config_error(e),
    };
    let (dag, origin, source) = match make_plan(&args.target, &ws, &cfg) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    let mut prepared = match orchestrator::prepare(dag, &origin, &cfg, policy.as_deref(), &cwd(), &ws) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    tracing::debug!(mono_us = crate::orchestrator::exec_protocol::mono_us(), "run: prepared");
    if args.dry_run {
        print_dry_run(&prepared);
        return Exit::Ok;
    }
    let concurrency = args.concurrency.or(cfg.config.concurrency).unwrap_or_else(default_concurrency);
    let runs = runs_dir(args.runs_dir.as_deref(), Some(&cfg.config));
    let dispatch = match super::fleet::dispatcher(&args.fleet, &cfg, &runs) {
        Ok(d) => d,
        Err(e) => return super::config_error(format!("{e}; nothing ran")),
    };
    let settings = Settings {
        workdir: ws,
        config: args.config.as_deref().map(absolute).or_else(|| {
            let found = cfg.origin != "built-in defaults";
            found.then(|| PathBuf::from(&cfg.origin))
        }),
        policy: policy.clone(),
        concurrency,
        keep_going: args.keep_going,
        audit_dir: super::exec::audit_dir(args.audit_dir.as_deref()),
    };
    // Opened once, before any task runs, without following a link below the
    // workspace; everything in the run directory is then written through it.
    let run = match runstore::RunsDir::open(&runs, Some(&settings.workdir)).and_then(|r| RunDir::create_in(&r)) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    let _lock = match lock::acquire_in(&run) {
        Ok(l) => l,
        Err(e) => return super::config_error(e),
    };
    let plan_yaml = plan::to_yaml(&prepared.dag.plan);
    if let Err(e) = run.write(Path::new("plan.yaml"), plan_yaml.as_bytes(), true) {
        return super::config_error(e);
    }
    if let Err(e) = orchestrator::materialize_policies(&mut prepared, &run) {
        return super::config_error(e);
    }
    let now = now_rfc3339();
    let cp = Checkpoint {
        version: checkpoint::VERSION,
        run_id: run.id.clone(),
        plan_sha256: sha256_hex(plan_yaml.as_bytes()),
        source,
        settings,
        status: RunStatus::Running,
        exit_code: None,
        created_at: now.clone(),
        session_started_at: now,
        sessions: 1,
        tasks: prepared.dag.plan.tasks.iter().map(|t| (t.id().to_string(), TaskRecord::pending())).collect(),
        // In the checkpoint written before any task message goes out.
        distributed: dispatch.as_ref().map(|d| d.note.clone()),
    };
    let body = serde_json::json!({
        "plan_sha256": cp.plan_sha256, "source": origin, "intent": cp.source.intent,
        "tasks": prepared.dag.plan.tasks.len(), "concurrency": concurrency, "workdir": cp.settings.workdir,
    });
    let mut replanner = super::replan::CliReplanner::for_run(
        &cfg,
        cp.source.intent.as_deref(),
        &prepared.dag.plan,
        policy.as_deref(),
        &cp.settings.workdir,
        args.approve,
        args.replan,
    );
    let transient = cfg.config.planner.transient_retries;
    let replanner = replanner.as_mut().map(|r| r as &mut dyn crate::orchestrator::replan::Replanner);
    let pool = container_pool(&cfg.config);
    session(
        run,
        cp,
        &prepared,
        crate::audit::Kind::RunStarted,
        body,
        progress::Mode::choose(args.json, args.progress),
        timeout,
        &runs,
        &outputs,
        transient,
        pool,
        replanner,
        dispatch.map(|d| d.dispatch),
    )
}

/// The CI report copies: flags, else the config (with its `ORCHESTRA_*` overrides).
/// A path that names anything but a regular file (a directory, a link, a
/// FIFO, a device) is refused before anything runs: the copy replaces the
/// file, which would swap the link or device for a plain one.
fn ci_outputs(args: &RunArgs, cfg: &config::Config) -> Result<crate::ci::Outputs, RunArgError> {
    outputs_from(cfg, args.junit.as_deref(), args.sarif.as_deref(), args.summary.as_deref())
}

fn outputs_from(
    cfg: &config::Config,
    junit: Option<&Path>,
    sarif: Option<&Path>,
    summary: Option<&Path>,
) -> Result<crate::ci::Outputs, RunArgError> {
    let pick = |flag: Option<&Path>, conf: &Option<PathBuf>, name: &'static str| {
        let p = flag.map(Path::to_path_buf).or_else(|| conf.clone()).map(|p| absolute(&p));
        match p {
            Some(path) if path.is_dir() => Err(RunArgError::OutputIsDirectory { flag: name, path }),
            Some(path) => match std::fs::symlink_metadata(&path) {
                Ok(m) if !m.is_file() => {
                    let kind = crate::sandbox::outfile::kind_name(std::os::unix::fs::MetadataExt::mode(&m));
                    Err(RunArgError::OutputNotRegular { flag: name, path, kind })
                }
                _ => Ok(Some(path)),
            },
            None => Ok(None),
        }
    };
    Ok(crate::ci::Outputs {
        junit: pick(junit, &cfg.outputs.junit, "--junit")?,
        sarif: pick(sarif, &cfg.outputs.sarif, "--sarif")?,
        summary: pick(summary, &cfg.outputs.summary, "--summary")?,
    })
}

/// The config's `container_pool` for the tasks, unless the environment sets
/// `ORCHESTRA_CONTAINER_POOL` (which exec then reads itself: the variable
/// wins, as every override does).
/// (The config's value was checked when it was loaded.)
fn container_pool(config: &config::Config) -> Option<usize> {
    match std::env::var_os(crate::sandbox::container::pool::ENV) {
        Some(_) => None,
        None => config.container_pool,
    }
}

/// Open the log and the checkpoint, execute, record the outcome.
#[allow(clippy::too_many_arguments)]
fn session(
    run: RunDir,
    cp: Checkpoint,
    prepared: &Prepared,
    kind: crate::audit::Kind,
    body: serde_json::Value,
    mode: progress::Mode,
    timeout: Option<HumanDuration>,
    runs: &Path,
    outputs: &crate::ci::Outputs,
    transient_retries: u32,
    container_pool: Option<usize>,
    replanner: Option<&mut dyn crate::orchestrator::replan::Replanner>,
    dispatch: Option<std::sync::Arc<dyn crate::orchestrator::dispatch::Dispatch>>,
) -> Exit {
    let key_path = crate::audit::default_key_path();
    let anchors = match super::anchor::from_env() {
        Ok(a) => a,
        Err(e) => return super::config_error(format!("{e}; nothing ran")),
    };
    let tsa = match super::timestamp::from_env() {
        Ok(t) => t,
        Err(e) => return super::config_error(format!("{}: {e}; nothing ran", super::timestamp::ENV)),
    };
    let mut log = match super::exec::open_audit_log(&cp.settings.audit_dir, &key_path) {
        Ok(l) => l,
        Err(e) => return super::config_error(format!("{e}; nothing ran")),
    };
    if let Err(e) = log.evolve() {
        return super::config_error(format!(
            "audit log {}: cannot move to the next forward-secure epoch key: {e}; nothing ran",
            cp.settings.audit_dir.display()
        ));
    }
    // Space for the run's own records (its end above all) before any task runs.
    if let Err(e) = log.reserve(crate::audit::TASK_RESERVE_BYTES) {
        return super::config_error(format!(
            "audit log {}: cannot reserve space for the run's records: {e}; nothing ran",
            cp.settings.audit_dir.display()
        ));
    }
    let mut store = match Store::resume_in(&run, cp) {
        Ok(s) => s,
        Err(e) => return super::config_error(e),
    };
    let body = crate::audit::events::stamp(crate::audit::events::with_context(body), Some(&run.id));
    if let Err(e) = log.append(kind, body).and_then(|_| log.sync()) {
        return super::config_error(format!("audit log {}: {e}", store.state().settings.audit_dir.display()));
    }
    let mut index = Index::open(runs).map_err(|e| tracing::warn!("{e}")).ok();
    if let Some(ix) = index.as_mut()
        && let Err(e) = ix.upsert(store.state())
    {
        tracing::warn!("{e}");
    }
    let output_dirs = match crate::ci::guard_outputs(outputs) {
        Ok(d) => d,
        Err(e) => return super::config_error(format!("CI outputs: {e}")),
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return super::config_error(format!("cannot find the orchestra binary: {e}")),
    };
    let opts = orchestrator::Options {
        exe,
        runs_dir: runs.to_path_buf(),
        run_timeout: timeout.map(|t| t.0),
        transient_retries,
        container_pool,
        dispatch,
    };
    // The CI writers first: a report they cannot write is said before the run's last lines.
    let mut ci = crate::ci::Writer::new(outputs.clone(), output_dirs);
    let json = mode == progress::Mode::Json;
    let mut progress = progress::Progress::new(mode);
    tracing::debug!(mono_us = crate::orchestrator::exec_protocol::mono_us(), "run: executing");
    let observers: Vec<&mut dyn orchestrator::events::Observer> = vec![&mut ci, &mut progress];
    let result = orchestrator::execute(prepared, &run, &mut store, &mut log, observers, &opts, replanner);
    crate::ci::github::end_fence();
    let exit = match result {
        Ok(x) => x,
        Err(e) => {
            crate::ci::github::eprint_quoted(&format!("orchestra: error: run {}: {e}", run.id));
            return Exit::Config.worst(Exit::Failed);
        }
    };
    if let Some(ix) = index.as_mut()
        && let Err(e) = ix.upsert(store.state())
    {
        tracing::warn!("{e}");
    }
    // The run's closing checkpoint goes to the anchors (a failure is said; the log is intact).
    let witnesses = super::witness::from_env();
    if !anchors.is_empty() || tsa.is_some() || !witnesses.is_empty() {
        let _ = log.sync();
        for w in super::anchor::push_latest(&log, &anchors) {
            crate::sandbox::say!("orchestra: warning: {w}");
        }
        // And to the TSA (a failure is said; the verdict stands).
        if let Some(w) = super::timestamp::stamp_latest(&log, tsa.as_deref()) {
            crate::sandbox::say!("orchestra: warning: {w}");
        }
        for w in super::witness::push_latest(&log, &witnesses) {
            crate::sandbox::say!("orchestra: warning: {w}");
        }
    }
    if !json {
        crate::sandbox::say!("orchestra: report: {}", run.report_md().display());
    }
    tracing::debug!(mono_us = crate::orchestrator::exec_protocol::mono_us(), "run: done");
    exit
}

fn print_dry_run(p: &Prepared) {
    let mut text = plan::to_yaml(&p.dag.plan);
    text.push_str("# resolved (nothing was run):\n");
    for &i in &p.dag.order {
        let t = &p.dag.plan.tasks[i];
        let tp = &p.tasks[i];
        text.push_str(&format!(
            "#   {}: {} [policy {}, backend {}]\n",
            t.id(),
            tp.argv.join(" "),
            tp.policy_origin,
            tp.backend
        ));
    }
    super::print_quoted_out(&text);
}

/// `orchestra resume`.
pub fn resume(args: ResumeArgs) -> Exit {
    let local_cfg = config::load(None, &cwd()).ok();
    let runs = runs_dir(args.runs_dir.as_deref(), local_cfg.as_ref().map(|c| &c.config));
    let run = match RunDir::open(&runs, &args.run_id) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    let held = match lock::acquire_in(&run) {
        Ok(l) => l,
        Err(e) => return super::config_error(e),
    };
    let mut cp = match checkpoint::load(&run.path) {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    // The same directory, opened again without following a link below the workspace.
    let run =
        match runstore::RunsDir::open(&runs, Some(&cp.settings.workdir)).and_then(|r| RunDir::open_in(&r, &run.id)) {
            Ok(again) if runstore::at::identity(again.fd()).ok() == runstore::at::identity(run.fd()).ok() => again,
            Ok(_) => {
                return super::config_error(format!(
                    "{}: the run directory changed while it was opened",
                    run.path.display()
                ));
            }
            Err(e) => return super::config_error(e),
        };
    if cp.status == RunStatus::Running {
        let who = held.stale_holder.clone().unwrap_or_else(|| "an orchestra process".into());
        crate::sandbox::say!("orchestra: run {} was left running by {who}, which is gone; resuming it", run.id);
    }
    if args.concurrency == Some(0) {
        return super::config_error("--concurrency must be at least 1");
    }
    let cfg = match config::load(cp.settings.config.as_deref(), &cp.settings.workdir) {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    // The plan: --plan, else the original file if it still exists, else the run's copy.
    let (plan_path, origin) = match (&args.plan, &cp.source.plan_file) {
        (Some(p), _) => (absolute(p), p.display().to_string()),
        (None, Some(orig)) if orig.is_file() => (orig.clone(), orig.display().to_string()),
        (None, _) => (run.plan(), run.plan().display().to_string()),
    };
    let dag = match plan::load(&plan_path).and_then(|p| plan::validate(p, &origin)) {
        Ok(d) => d,
        Err(e) => return super::config_error(e),
    };
    let mut prepared =
        match orchestrator::prepare(dag, &origin, &cfg, cp.settings.policy.as_deref(), &cwd(), &cp.settings.workdir) {
            Ok(p) => p,
            Err(e) => return super::config_error(e),
        };
    if let Err(e) = orchestrator::materialize_policies(&mut prepared, &run) {
        return super::config_error(e);
    }
    let outputs = match outputs_from(&cfg.config, None, None, None) {
        Ok(o) => o,
        Err(e) => return super::config_error(e),
    };
    let timeout = match config::env_flags() {
        Ok((_, env_timeout)) => args.timeout.or(env_timeout),
        Err(e) => return super::config_error(e),
    };
    crate::sandbox::say!("orchestra: resuming run {} with the plan {origin}", run.id);
    // Tasks added to the plan start pending; tasks removed from it leave the
    // checkpoint, except failures, which are never erased by a plan change.
    let ids: std::collections::BTreeSet<String> = prepared.dag.plan.tasks.iter().map(|t| t.id().to_string()).collect();
    keep_dropped_failures(&mut cp, &ids, args.plan.as_deref());
    for id in &ids {
        cp.tasks.entry(id.clone()).or_insert_with(TaskRecord::pending);
    }
    let plan_yaml = plan::to_yaml(&prepared.dag.plan);
    if let Err(e) = run.write(Path::new("plan.yaml"), plan_yaml.as_bytes(), true) {
        return super::config_error(e);
    }
    cp.plan_sha256 = sha256_hex(plan_yaml.as_bytes());
    cp.status = RunStatus::Running;
    cp.exit_code = None;
    cp.sessions += 1;
    cp.session_started_at = now_rfc3339();
    if let Some(c) = args.concurrency {
        cp.settings.concurrency = c;
    }
    let body = serde_json::json!({
        "plan_sha256": cp.plan_sha256, "plan": origin, "session": cp.sessions,
        "previous_holder": held.stale_holder,
    });
    let mut replanner = super::replan::CliReplanner::for_run(
        &cfg,
        cp.source.intent.as_deref(),
        &prepared.dag.plan,
        cp.settings.policy.as_deref(),
        &cp.settings.workdir,
        args.approve,
        args.replan,
    );
    let transient = cfg.config.planner.transient_retries;
    let pool = container_pool(&cfg.config);
    let replanner = replanner.as_mut().map(|r| r as &mut dyn crate::orchestrator::replan::Replanner);
    // What the run's earlier sessions sent to a queue stops first, wherever this one runs.
    if let Err(e) = super::fleet_fence::before_resume(&args.fleet, &cfg, &run, cp.distributed.as_ref()) {
        return super::config_error(e);
    }
    let dispatch = match super::fleet::dispatcher(&args.fleet, &cfg, &runs) {
        Ok(d) => d,
        Err(e) => return super::config_error(format!("{e}; nothing ran")),
    };
    // The checkpoint names this session's queue; a local session keeps the
    // earlier one's only while its deliveries may still be outstanding.
    cp.distributed = match &dispatch {
        Some(d) => Some(d.note.clone()),
        None => match super::fleet_fence::in_flight(&run) {
            Ok(true) => cp.distributed.take(),
            Ok(false) => None,
            Err(e) => return super::config_error(e),
        },
    };
    let exit = session(
        run,
        cp,
        &prepared,
        crate::audit::Kind::RunResumed,
        body,
        progress::Mode::choose(args.json, args.progress),
        timeout,
        &runs,
        &outputs,
        transient,
        pool,
        replanner,
        dispatch.map(|d| d.dispatch),
    );
    drop(held);
    exit
}

/// Tasks that a resume's plan no longer has: a failure stays in the record as
/// `<id>@resume-N`. A failed task that a person chose to drop (`--plan P` on the
/// command line) becomes `replaced`; one dropped because the original plan
/// file changed (a task may have rewritten it) stays `failed`, and violations
/// and timeouts always stand. Other records (skipped, cancelled, pending) go.
fn keep_dropped_failures(cp: &mut Checkpoint, ids: &std::collections::BTreeSet<String>, chosen: Option<&Path>) {
    use crate::orchestrator::replan::{is_replaced_key, replaced_key};
    use checkpoint::TaskState;
    let session = cp.sessions + 1;
    let dropped: Vec<String> =
        cp.tasks.keys().filter(|k| !ids.contains(k.as_str()) && !is_replaced_key(k)).cloned().collect();
    for id in dropped {
        let Some(mut rec) = cp.tasks.remove(&id) else { continue };
        if !matches!(rec.state, TaskState::Failed | TaskState::TimedOut | TaskState::Violation) {
            continue;
        }
        rec.note = Some(match (rec.state, chosen) {
            (TaskState::Failed, Some(p)) => {
                rec.state = TaskState::Replaced;
                format!("taken out of the plan by `orchestra resume --plan {}` (a person's choice)", p.display())
            }
            _ => format!(
                "no longer in the plan of session {session}: this {} stands",
                if rec.state == TaskState::Failed { "failure" } else { rec.state.as_str() }
            ),
        });
        cp.tasks.insert(replaced_key(&id, "resume", session), rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_files_and_intents_are_told_apart() {
        assert!(is_plan_file("plan.yaml"));
        assert!(is_plan_file("ci/plan.yml"));
        assert!(!is_plan_file("build and test"));
    }
}
