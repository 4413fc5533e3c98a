//! `orchestra bench --orchestration`: what the scheduler adds per task, and
//! whether checkpointing and the end of a run scale linearly.
//!
//! Side by side in one process, in rounds whose order rotates: sequential
//! `orchestra exec -- true` (the sandbox start on its own), then `orchestra
//! run` of a chain and of a fan-out of the same task at concurrency 1, N tasks
//! each in all. The difference divided by N is the orchestration overhead per
//! task (it includes `run`'s own start-up and report, spread over the tasks);
//! on a busy 2-CPU machine it swings by ±0.5 ms from run to run, so the bench
//! also measures the two parts directly: `run`'s own time (its wall time minus
//! its tasks' `exec` processes, which `run_finished` reports), and what an
//! `exec` started the way `run` starts it costs over a plain one (alternating
//! pairs). Checkpointing is measured in-process for 100, 1,000 and 10,000
//! tasks (time and bytes per task), and the end of a run (its reports, the CI
//! reports and the runs index, in `run`'s order) for 1,000 and 5,000 tasks.

use crate::exit::Exit;
use crate::orchestrator::exec_protocol::RunFlags;
use crate::runstore::checkpoint::{Checkpoint, RunStatus, Settings, Source, Store, TaskRecord, TaskState, VERSION};
use serde::Serialize;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Debug, Serialize)]
struct Figures {
    tasks: usize,
    exec_sequential_ms: f64,
    run_chain_ms: f64,
    run_fanout_ms: f64,
    overhead_chain_ms_per_task: f64,
    overhead_fanout_ms_per_task: f64,
    /// The median over the rounds of each round's overhead (less sensitive to
    /// a load burst in one round than the totals).
    median_round_overhead_chain_ms_per_task: f64,
    median_round_overhead_fanout_ms_per_task: f64,
    rounds: usize,
    /// `run`'s own share, measured inside it: its wall time minus its tasks'
    /// `orchestra exec` processes (spawn to exit), per task, chain and fan-out.
    orchestrator_chain_ms_per_task: f64,
    orchestrator_fanout_ms_per_task: f64,
    /// What an `exec` started the way `run` starts it (report file, parent
    /// watch, policy hash check, log file) costs more than a plain one,
    /// measured in alternating pairs.
    exec_as_run_starts_it_ms_per_task: f64,
    checkpoint: Vec<CheckpointFigure>,
    /// The end of a run at [`REPORT_TASKS`] (median of [`REPORT_ROUNDS`] each).
    report: Vec<ReportFigure>,
}

/// Plan sizes the end of a run is measured at (the issue's: 5,000 took 16×
/// as long as 1,000 when the tasks' plan lines were searched one by one).
const REPORT_TASKS: [usize; 2] = [1000, 5000];
/// Rounds per size, alternating.
const REPORT_ROUNDS: usize = 3;

/// The end of a run (reports, CI reports, index) for this many tasks.
#[derive(Debug, Serialize)]
struct ReportFigure {
    tasks: usize,
    ms: f64,
}

#[derive(Debug, Serialize)]
struct CheckpointFigure {
    tasks: usize,
    us_per_task: f64,
    bytes_per_task: f64,
}

fn plan(n: usize, chain: bool) -> String {
    let mut s = String::from("name: bench\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!("- id: t{i}\n  tool: \"true\"\n"));
        if i > 0 {
            let need = if chain { i - 1 } else { 0 };
            s.push_str(&format!("  needs: [t{need}]\n"));
        }
    }
    s
}

fn orchestra(exe: &Path, dir: &Path) -> Command {
    let mut c = Command::new(exe);
    c.current_dir(dir.join("ws"))
        .env("CI", "true")
        .env("ORCHESTRA_AUDIT_KEY", dir.join("audit.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Why the run benchmark could not measure.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::runstore::RunStoreError),
    #[error(transparent)]
    Policy(#[from] crate::yaml::LocatedError),
    #[error("{what}: {source}")]
    Command { what: String, source: std::io::Error },
    #[error("{what} failed: {status}")]
    Failed { what: String, status: std::process::ExitStatus },
    #[error("{0}: no run_finished event with sandboxes_ms")]
    NoEvent(String),
    #[error("the report measurement: {0}")]
    Report(Box<dyn std::error::Error + Send + Sync>),
}

impl BenchError {
    /// A step of the in-process report measurement failed.
    fn report(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        BenchError::Report(e.into())
    }
}

/// Run `orchestra run --json`: its wall time (ms, measured here) and the
/// `sandboxes_ms` its `run_finished` event reports.
fn timed_run(mut cmd: Command, what: &str) -> Result<(f64, f64), BenchError> {
    cmd.stdout(Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().map_err(|source| BenchError::Command { what: what.to_string(), source })?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        return Err(BenchError::Failed { what: what.to_string(), status: out.status });
    }
    let sandboxes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "run_finished")
        .and_then(|v| v["sandboxes_ms"].as_f64())
        .ok_or_else(|| BenchError::NoEvent(what.to_string()))?;
    Ok((ms, sandboxes))
}

fn checkpoint_figure(n: usize) -> Result<CheckpointFigure, BenchError> {
    let dir = tempfile::tempdir()?;
    let cp = Checkpoint {
        version: VERSION,
        run_id: "20261125T000000Z-0000".into(),
        plan_sha256: String::new(),
        source: Source { plan_file: None, intent: None },
        settings: Settings {
            workdir: dir.path().to_path_buf(),
            config: None,
            policy: None,
            concurrency: 1,
            keep_going: false,
            audit_dir: dir.path().to_path_buf(),
        },
        status: RunStatus::Running,
        exit_code: None,
        created_at: String::new(),
        session_started_at: String::new(),
        sessions: 1,
        tasks: (0..n).map(|i| (format!("task-{i:05}"), TaskRecord::pending())).collect(),
        distributed: None,
    };
    let t = Instant::now();
    let mut store = Store::create(dir.path(), cp)?;
    for i in 0..n {
        let id = format!("task-{i:05}");
        let running = TaskRecord { state: TaskState::Running, attempts: 1, ..TaskRecord::pending() };
        store.update(&id, running)?;
        let done = TaskRecord { state: TaskState::Succeeded, attempts: 1, wall_ms: 5, ..TaskRecord::pending() };
        store.update(&id, done)?;
    }
    store.set_status(RunStatus::Succeeded, Some(0))?;
    Ok(CheckpointFigure {
        tasks: n,
        us_per_task: t.elapsed().as_secs_f64() * 1e6 / n as f64,
        bytes_per_task: store.bytes_written() as f64 / n as f64,
    })
}

/// What the end of a run costs for `n` tasks that succeeded, in-process and
/// in `run`'s order: the checkpoint's final state, `report.json` and
/// `report.md` (from every task's sandbox report, `sandbox_report`), then
/// `junit.xml` and `violations.sarif` (whose locations are the tasks' lines
/// in the plan file), then the runs index.
fn report_figure(n: usize, sandbox_report: &[u8]) -> Result<ReportFigure, BenchError> {
    use crate::orchestrator::{Prepared, TaskPlan};
    let dir = tempfile::tempdir().map_err(BenchError::report)?;
    let plan_file = dir.path().join("plan.yaml");
    std::fs::write(&plan_file, plan(n, true)).map_err(BenchError::report)?;
    let origin = plan_file.display().to_string();
    let dag =
        crate::plan::load(&plan_file).and_then(|p| crate::plan::validate(p, &origin)).map_err(BenchError::report)?;
    let task = TaskPlan {
        argv: vec!["/usr/bin/true".into()],
        policy_spec: "default".into(),
        policy_origin: "preset:default".into(),
        policy_sha256: "sha256:00".into(),
        backend: "jail".into(),
        env: Default::default(),
        timeout: None,
        retries: 0,
        backoff: std::time::Duration::ZERO,
        effective_policy: None,
        visible: None,
    };
    let prepared = Prepared { tasks: vec![task; n], dag, run_timeout: None };
    let runs = dir.path().join("runs");
    let run = crate::runstore::RunsDir::open(&runs, None)
        .and_then(|r| crate::runstore::RunDir::create_in(&r))
        .map_err(BenchError::report)?;
    let ids: Vec<String> = prepared.dag.plan.tasks.iter().map(|t| t.id().to_string()).collect();
    let done = TaskRecord {
        state: TaskState::Succeeded,
        attempts: 1,
        cause: Some("ok".into()),
        exit_status: Some(0),
        wall_ms: 5,
        fingerprint: Some(format!("sha256:{}", "0".repeat(64))),
        ..TaskRecord::pending()
    };
    let cp = Checkpoint {
        version: VERSION,
        run_id: run.id.clone(),
        plan_sha256: String::new(),
        source: Source { plan_file: Some(plan_file.clone()), intent: None },
        settings: Settings {
            workdir: dir.path().to_path_buf(),
            config: None,
            policy: None,
            concurrency: 1,
            keep_going: false,
            audit_dir: dir.path().join("audit"),
        },
        status: RunStatus::Running,
        exit_code: None,
        created_at: String::new(),
        session_started_at: String::new(),
        sessions: 1,
        tasks: ids.iter().map(|id| (id.clone(), done.clone())).collect(),
        distributed: None,
    };
    run.create_dir(Path::new("reports")).map_err(BenchError::report)?;
    for id in &ids {
        run.write(&run.task_report_rel(id), sandbox_report, false).map_err(BenchError::report)?;
    }
    let mut store = Store::create(&run.path, cp).map_err(BenchError::report)?;
    let t = Instant::now();
    store.set_status(RunStatus::Succeeded, Some(0)).map_err(BenchError::report)?;
    let report = crate::orchestrator::report::write(&run, store.state(), &prepared, 1).map_err(BenchError::report)?;
    // As ci::finish, without a GitHub step summary (not the bench's to append to).
    let md = crate::orchestrator::report::markdown(&report);
    crate::ci::write_reports(&run, &report, &md, &crate::ci::Outputs::default()).map_err(BenchError::report)?;
    let mut index = crate::runstore::index::Index::open(&runs).map_err(BenchError::report)?;
    index.upsert(store.state()).map_err(BenchError::report)?;
    Ok(ReportFigure { tasks: n, ms: t.elapsed().as_secs_f64() * 1000.0 })
}

/// The sandbox report of one `orchestra exec -- true` (what every task of
/// [`report_figure`]'s run gets).
fn sample_report(exe: &Path, dir: &Path) -> Result<Vec<u8>, BenchError> {
    let path = dir.join("sample-report.json");
    let mut c = orchestra(exe, dir);
    c.arg("exec").arg("--audit-dir").arg(dir.join("audit-sample")).arg("--report").arg(&path).args(["--", "true"]);
    let what = "orchestra exec --report -- true";
    let status = c.status().map_err(|source| BenchError::Command { what: what.into(), source })?;
    if !status.success() {
        return Err(BenchError::Failed { what: what.into(), status });
    }
    std::fs::read(&path).map_err(|source| BenchError::Command { what: path.display().to_string(), source })
}

/// The median time of `REPORT_ROUNDS` rounds for each of `REPORT_TASKS`, sizes alternating.
fn report_figures(sample: &[u8]) -> Result<Vec<ReportFigure>, BenchError> {
    let mut ms: Vec<Vec<f64>> = vec![Vec::new(); REPORT_TASKS.len()];
    for _ in 0..REPORT_ROUNDS {
        for (k, &n) in REPORT_TASKS.iter().enumerate() {
            ms[k].push(report_figure(n, sample)?.ms);
        }
    }
    Ok(REPORT_TASKS
        .iter()
        .zip(ms)
        .map(|(&tasks, mut v)| {
            v.sort_by(f64::total_cmp);
            ReportFigure { tasks, ms: v[v.len() / 2] }
        })
        .collect())
}

/// How much longer an `orchestra exec -- true` takes when started as `run`
/// starts it (its flags, its log file) than a plain one, in ms per task:
/// `n` pairs, alternating one by one, the order swapped every pair.
fn exec_as_run_extra(exe: &Path, dir: &Path, n: usize) -> Result<f64, BenchError> {
    let (policy, _) = crate::policy::load_policy("default")?;
    let hash = format!("sha256:{}", policy.hash());
    let log = dir.join("as-run.log");
    let report = dir.join("as-run-report.json");
    let me = std::process::id();
    let (mut plain, mut as_run) = (0.0, 0.0);
    for k in 0..n {
        for variant in [k % 2, 1 - k % 2] {
            let mut c = orchestra(exe, dir);
            c.arg("exec").arg("--audit-dir").arg(dir.join(format!("audit-pairs-{variant}")));
            if variant == 1 {
                // As run's worker does before every attempt (untimed here: it is
                // part of run's own time): a report renamed over an old one costs
                // ext4 a data flush (auto_da_alloc).
                let _ = std::fs::remove_file(&report);
                let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
                let err = out.try_clone()?;
                let flags = RunFlags {
                    protect: Vec::new(),
                    run_parent: Some(me),
                    expect_policy: Some(hash.clone()),
                    ..RunFlags::default()
                };
                c.args(["--policy", "default", "--name", "t", "--run-id", "20261125T000000Z-0000"])
                    .arg("--report")
                    .arg(&report)
                    .args(flags.to_args())
                    .stdout(out)
                    .stderr(err);
            }
            c.args(["--", "true"]);
            let t = Instant::now();
            let status = c.status()?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if !status.success() {
                return Err(BenchError::Failed { what: "orchestra exec -- true".into(), status });
            }
            if variant == 1 { as_run += ms } else { plain += ms }
        }
    }
    Ok((as_run - plain) / n as f64)
}

/// Rounds the subjects alternate in (order rotated each round), so that a
/// load change on the machine hits all of them alike.
const ROUNDS: usize = 10;

fn measure(n: usize, quiet: bool) -> Result<Figures, BenchError> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("ws"))?;
    // Each subject gets its own audit log, so none pays for a log the others grew.
    let audit = |name: &str| dir.path().join(format!("audit-{name}"));
    let runs = dir.path().join("runs");
    let rounds = ROUNDS.min(n);
    let per_round = n / rounds;
    let n = per_round * rounds;
    for (name, chain) in [("chain.yaml", true), ("fanout.yaml", false)] {
        std::fs::write(dir.path().join(name), plan(per_round, chain))?;
    }
    let say = |s: &str| {
        if !quiet {
            crate::sandbox::say!("orchestra bench: {s}");
        }
    };
    // Per round: [exec, chain, fan-out] in ms. The order rotates every round,
    // so that none of them always follows the same neighbour.
    let mut per = Vec::with_capacity(rounds);
    let mut inside = [0.0f64; 2];
    for round in 1..=rounds {
        say(&format!(
            "round {round}/{rounds}: {per_round} sequential `orchestra exec -- true`, `orchestra run` of a {per_round}-task chain and of a fan-out at -j 1"
        ));
        let mut ms = [0.0f64; 3];
        for k in 0..3 {
            let subject = (k + round) % 3;
            ms[subject] = match subject {
                0 => {
                    let t = Instant::now();
                    for _ in 0..per_round {
                        let mut c = orchestra(&exe, dir.path());
                        c.arg("exec").arg("--audit-dir").arg(audit("exec")).args(["--", "true"]);
                        let status = c.status()?;
                        if !status.success() {
                            return Err(BenchError::Failed { what: "orchestra exec -- true".into(), status });
                        }
                    }
                    t.elapsed().as_secs_f64() * 1000.0
                }
                _ => {
                    let name = if subject == 1 { "chain.yaml" } else { "fanout.yaml" };
                    let mut c = orchestra(&exe, dir.path());
                    c.arg("run").arg(dir.path().join(name)).args(["-j", "1", "--json", "--runs-dir"]).arg(&runs);
                    c.arg("--audit-dir").arg(audit(name));
                    let (wall, sandboxes) = timed_run(c, name)?;
                    inside[subject - 1] += wall - sandboxes;
                    wall
                }
            };
        }
        per.push(ms);
    }
    say(&format!("{n} alternating pairs: a plain `orchestra exec -- true`, and one started the way `run` starts it"));
    let as_run = exec_as_run_extra(&exe, dir.path(), n)?;
    let total = |k: usize| per.iter().map(|r| r[k]).sum::<f64>();
    let (exec_ms, run_ms) = (total(0), [total(1), total(2)]);
    let median_overhead = |k: usize| {
        let mut v: Vec<f64> = per.iter().map(|r| (r[k] - r[0]) / per_round as f64).collect();
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
    };
    say("checkpoint: 100, 1000, 10000 tasks...");
    let checkpoint = [100, 1000, 10_000].into_iter().map(checkpoint_figure).collect::<Result<Vec<_>, _>>()?;
    say(&format!("the end of a run (reports, CI reports, index): {REPORT_TASKS:?} tasks, {REPORT_ROUNDS} rounds..."));
    let report = report_figures(&sample_report(&exe, dir.path())?)?;
    Ok(Figures {
        tasks: n,
        exec_sequential_ms: exec_ms,
        run_chain_ms: run_ms[0],
        run_fanout_ms: run_ms[1],
        overhead_chain_ms_per_task: (run_ms[0] - exec_ms) / n as f64,
        overhead_fanout_ms_per_task: (run_ms[1] - exec_ms) / n as f64,
        median_round_overhead_chain_ms_per_task: median_overhead(1),
        median_round_overhead_fanout_ms_per_task: median_overhead(2),
        rounds,
        orchestrator_chain_ms_per_task: inside[0] / n as f64,
        orchestrator_fanout_ms_per_task: inside[1] / n as f64,
        exec_as_run_starts_it_ms_per_task: as_run,
        checkpoint,
        report,
    })
}

/// Run the orchestration benchmark with `n` tasks.
pub fn run(n: usize, json: bool) -> Exit {
    let f = match measure(n, json) {
        Ok(f) => f,
        Err(e) => {
            crate::sandbox::say!("orchestra: error: bench: {e}");
            return Exit::Config;
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
        return Exit::Ok;
    }
    outln!("orchestration overhead, {} no-op tasks in the jail (target: <= 1 ms per task)", f.tasks);
    outln!(
        "  {:<44} {:>10.0} ms  ({:.2} ms/task)",
        "sequential `orchestra exec -- true`",
        f.exec_sequential_ms,
        f.exec_sequential_ms / f.tasks as f64
    );
    for (label, ms, over, median) in [
        (
            "`orchestra run`, chain, -j 1",
            f.run_chain_ms,
            f.overhead_chain_ms_per_task,
            f.median_round_overhead_chain_ms_per_task,
        ),
        (
            "`orchestra run`, fan-out, -j 1",
            f.run_fanout_ms,
            f.overhead_fanout_ms_per_task,
            f.median_round_overhead_fanout_ms_per_task,
        ),
    ] {
        outln!(
            "  {label:<44} {ms:>10.0} ms  (overhead {over:+.2} ms/task; median of {} rounds {median:+.2})",
            f.rounds
        );
    }
    outln!("where the overhead is, measured directly:");
    outln!(
        "  {:<44} {:>+10.2} ms/task chain, {:+.2} fan-out",
        "`run`'s own time (wall - its exec processes)",
        f.orchestrator_chain_ms_per_task,
        f.orchestrator_fanout_ms_per_task
    );
    outln!(
        "  {:<44} {:>+10.2} ms/task ({} alternating pairs)",
        "an exec started as `run` starts it, vs plain",
        f.exec_as_run_starts_it_ms_per_task,
        f.tasks
    );
    outln!(
        "  {:<44} {:>+10.2} ms/task chain, {:+.2} fan-out",
        "sum (what `run` adds per task)",
        f.orchestrator_chain_ms_per_task + f.exec_as_run_starts_it_ms_per_task,
        f.orchestrator_fanout_ms_per_task + f.exec_as_run_starts_it_ms_per_task
    );
    outln!("checkpoint writes (snapshot + journal; fdatasync on the syncer thread), two state changes per task:");
    for c in &f.checkpoint {
        outln!("  {:>6} tasks: {:>8.1} us/task {:>8.0} bytes/task", c.tasks, c.us_per_task, c.bytes_per_task);
    }
    if let (Some(a), Some(b)) = (f.checkpoint.first(), f.checkpoint.last()) {
        outln!(
            "  bytes per task at {} vs {} tasks: ratio {:.2} (1.0 = linear)",
            b.tasks,
            a.tasks,
            b.bytes_per_task / a.bytes_per_task
        );
    }
    outln!("the end of a run: report.json/.md, junit.xml, violations.sarif (located in the plan), runs index:");
    for r in &f.report {
        outln!("  {:>6} tasks: {:>8.1} ms {:>8.1} us/task", r.tasks, r.ms, r.ms * 1000.0 / r.tasks as f64);
    }
    if let (Some(a), Some(b)) = (f.report.first(), f.report.last()) {
        outln!(
            "  time at {} vs {} tasks: ratio {:.2} for {:.0}x the tasks; per task {:.2} (1.0 = linear)",
            b.tasks,
            a.tasks,
            b.ms / a.ms,
            b.tasks as f64 / a.tasks as f64,
            (b.ms / b.tasks as f64) / (a.ms / a.tasks as f64)
        );
    }
    Exit::Ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_plans_are_valid() {
        for chain in [true, false] {
            let p = crate::plan::parse(&super::plan(5, chain), "b").unwrap();
            let d = crate::plan::validate(p, "b").unwrap();
            assert_eq!(d.plan.tasks.len(), 5);
        }
    }
}
