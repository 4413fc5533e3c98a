//! `orchestra bench`: start-up and observation overhead of the jail, measured
//! side by side with bubblewrap and with no sandbox at all.
//!
//! Every subject runs once per round and the order rotates from round to
//! round, so machine noise (other builds, page cache, frequency scaling) hits
//! all subjects alike. One untimed warm-up run of each subject precedes the
//! timed rounds. A figure is the wall-clock time of a whole child process as
//! seen from here (`Command::output` between two `Instant`s), fork and exec
//! included.
//!
//! Four subjects: `orchestra exec --policy default`, the same jail without
//! observation (`exec --bench-unobserved`: seccomp denies the same classes with
//! EPERM instead of notifying the supervisor), `bwrap` with comparable binds, and
//! the bare command.
//!
//! Three workloads:
//! * **start**: `/bin/true` — the cost of setting the sandbox up and down.
//! * **loop**: `sh` starting `/bin/true` 1000 times — the cost of observing a
//!   process-heavy task (every `execve` goes through the seccomp supervisor);
//!   the observation overhead is orchestra over its unobserved twin.
//! * **files**: `sh` creating 45,000 files in the workspace (a `node_modules`
//!   or a Rust `target/` holds that many) — the cost of observing a file-heavy
//!   task: every open for writing goes through the supervisor and every name
//!   written is metered for `limits.disk`. Each run writes a fresh directory,
//!   removed untimed after it.
//!
//! And one comparison of orchestra with itself:
//! * **diff**: the workspace diff (issue 20) on a workspace of
//!   [`DIFF_TREE_FILES`] files of which the task changes 10 — `orchestra exec
//!   --policy default` (diff on) against the same with a policy that sets
//!   `report.workspace_diff: false` (diff off), interleaved the same way. The
//!   diff's cost is the difference of the medians.
//!
//! The bench fails (exit 1) when `bwrap` is missing rather than skipping the
//! comparison, and exits 2 when a measured command fails.

use crate::exit::Exit;
use clap::Args;
use serde::Serialize;
use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Timed start-up runs per subject when `--runs` is not given.
const DEFAULT_START_RUNS: u32 = 30;
/// Timed process-loop runs per subject when `--runs` is not given.
const DEFAULT_LOOP_RUNS: u32 = 5;
/// Processes the loop workload starts.
const LOOP_ITERATIONS: u32 = 1000;
/// Target for the start-up ratio orchestra/bwrap (medians).
const START_TARGET_RATIO: f64 = 1.0;
/// Files the file-heavy workload creates.
const FILE_COUNT: u32 = 45_000;
/// Timed file-heavy runs per subject when `--runs` is not given.
const DEFAULT_FILES_RUNS: u32 = 3;
/// Target for the file-heavy ratio orchestra/plain (medians).
const FILES_TARGET_RATIO: f64 = 1.5;
/// Target for the observation overhead, in percent of the unobserved jail.
const OBSERVATION_TARGET_PCT: f64 = 5.0;
/// Files in the workspace of the diff workload.
const DIFF_TREE_FILES: u32 = 50_000;
/// Timed diff runs per subject when `--runs` is not given.
const DEFAULT_DIFF_RUNS: u32 = 10;
/// Target for what the workspace diff adds to a task, ms (medians).
const DIFF_TARGET_MS: f64 = 150.0;
/// What the unobserved baseline is (and is not).
const UNOBSERVED_BASELINE: &str = "baseline 'unobserved' = orchestra exec --bench-unobserved: the same jail and \
     policy; seccomp denies the same classes with EPERM instead of notifying the supervisor";

/// Arguments of `orchestra bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed runs per subject, for every workload [default: 30 for start-up, 5 for the process loop, 3 for the file-heavy one].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub runs: Option<u32>,
    /// Print the figures as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Measure `orchestra run` instead: scheduler overhead per task against
    /// sequential `orchestra exec`, and checkpoint scaling.
    #[arg(long)]
    pub orchestration: bool,
    /// Measure only the workspace diff: the same task with the diff on and off
    /// on a 50,000-file workspace.
    #[arg(long, conflicts_with = "orchestration")]
    pub workspace_diff: bool,
    /// Measure only the jail start-up (`/bin/true` under orchestra, its
    /// unobserved twin, bwrap and plain; 30 rounds unless --runs).
    #[arg(long, conflicts_with_all = ["orchestration", "workspace_diff"])]
    pub start: bool,
    /// Measure only what the protected-path check's git survey adds to a task:
    /// `/bin/true` in 100,000 files as a plain directory, a repository, and a
    /// repository with 50 submodules (needs git; 30 rounds unless --runs).
    #[arg(long, conflicts_with_all = ["orchestration", "workspace_diff", "start"])]
    pub git_survey: bool,
    /// With --git-survey: also time this other orchestra executable (an
    /// earlier build) in the same interleaved rounds, on the same workspaces.
    #[arg(long, value_name = "EXE", requires = "git_survey")]
    pub against: Option<PathBuf>,
    /// Tasks per plan for --orchestration.
    #[arg(long, default_value_t = 1000, requires = "orchestration", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tasks: u32,
}

/// What runs the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Subject {
    /// `orchestra exec --policy default` (this executable).
    Orchestra,
    /// The same, with `--bench-unobserved`: no seccomp user notification.
    Unobserved,
    /// `bwrap --unshare-all` with comparable binds.
    Bwrap,
    /// The workload itself, no sandbox.
    Plain,
}

impl Subject {
    const ALL: [Subject; SUBJECTS] = [Subject::Orchestra, Subject::Unobserved, Subject::Bwrap, Subject::Plain];

    fn label(self) -> &'static str {
        match self {
            Subject::Orchestra => "orchestra",
            Subject::Unobserved => "unobserved",
            Subject::Bwrap => "bwrap",
            Subject::Plain => "plain",
        }
    }
}

/// How many subjects there are.
const SUBJECTS: usize = 4;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `/bin/true`.
    Start,
    /// `sh -c` starting `/bin/true` [`LOOP_ITERATIONS`] times.
    Loop,
    /// `sh -c` creating [`FILE_COUNT`] files in a fresh directory of the workspace.
    Files,
}

impl Workload {
    fn argv(self) -> Vec<String> {
        match self {
            Workload::Start => vec!["/bin/true".into()],
            Workload::Loop => vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("i=0; while [ $i -lt {LOOP_ITERATIONS} ]; do /bin/true; i=$((i+1)); done"),
            ],
            Workload::Files => vec![
                "/bin/sh".into(),
                "-c".into(),
                format!(
                    "d=files.$$; mkdir $d && cd $d && i=0; while [ $i -lt {FILE_COUNT} ]; do : > f$i; i=$((i+1)); done"
                ),
            ],
        }
    }

    fn title(self) -> String {
        match self {
            Workload::Start => "Jail start: /bin/true".into(),
            Workload::Loop => format!("Observation: sh loop starting /bin/true x{LOOP_ITERATIONS}"),
            Workload::Files => format!("File-heavy: sh creating {FILE_COUNT} files in the workspace"),
        }
    }
}

/// Why the bench could not produce figures.
#[derive(Debug)]
pub(super) enum BenchError {
    /// The environment cannot run the bench (exit 1).
    Setup(String),
    /// A measured command failed (exit 2).
    Run {
        /// Which subject.
        subject: Subject,
        /// The command line.
        command: String,
        /// Status and the tail of its stderr.
        detail: String,
    },
}

impl BenchError {
    pub(super) fn exit(&self) -> Exit {
        match self {
            BenchError::Setup(_) => Exit::Config,
            BenchError::Run { .. } => Exit::Failed,
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Setup(msg) => f.write_str(msg),
            BenchError::Run { subject, command, detail } => {
                write!(f, "the {} run failed, no figures: {command}: {detail}", subject.label())
            }
        }
    }
}

/// Everything the measured commands need, alive for the whole bench.
struct Setup {
    /// This executable, run as `orchestra exec`.
    exe: PathBuf,
    /// The `bwrap` binary.
    bwrap: PathBuf,
    /// `bwrap --version`.
    bwrap_version: String,
    /// The tasks' working directory (empty, read-write).
    workdir: PathBuf,
    /// The audit directory handed to `orchestra exec`.
    audit_dir: PathBuf,
    /// Removed on drop.
    _scratch: tempfile::TempDir,
}

impl Setup {
    fn new() -> Result<Setup, BenchError> {
        let bwrap = find_in_path("bwrap").ok_or_else(|| {
            BenchError::Setup(
                "bwrap not found in PATH: the bench compares against bubblewrap and does not skip it; \
                 install it (Debian/Ubuntu: apt-get install -y bubblewrap)"
                    .into(),
            )
        })?;
        let bwrap_version = Command::new(&bwrap)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::Setup(format!("cannot run {}: {e}", bwrap.display())))
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Setup(format!("cannot locate the orchestra executable: {e}")))?;
        let scratch = tempfile::Builder::new()
            .prefix("orchestra-bench-")
            .tempdir()
            .map_err(|e| BenchError::Setup(format!("cannot create a scratch directory: {e}")))?;
        // Canonical, so the bwrap bind and orchestra's workdir name the same path.
        let root = std::fs::canonicalize(scratch.path())
            .map_err(|e| BenchError::Setup(format!("{}: {e}", scratch.path().display())))?;
        let workdir = root.join("work");
        let audit_dir = root.join("audit");
        for dir in [&workdir, &audit_dir] {
            std::fs::create_dir(dir).map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
        }
        Ok(Setup { exe, bwrap, bwrap_version, workdir, audit_dir, _scratch: scratch })
    }

    /// The program and arguments that run `workload` under `subject`.
    fn argv(&self, subject: Subject, workload: Workload) -> Vec<OsString> {
        let task = workload.argv().into_iter().map(OsString::from);
        match subject {
            Subject::Orchestra | Subject::Unobserved => {
                let mut v: Vec<OsString> = vec![
                    self.exe.clone().into(),
                    "exec".into(),
                    "--policy".into(),
                    "default".into(),
                    "--workdir".into(),
                    self.workdir.clone().into(),
                    "--audit-dir".into(),
                    self.audit_dir.clone().into(),
                ];
                if subject == Subject::Unobserved {
                    v.push("--bench-unobserved".into());
                }
                v.push("--".into());
                v.extend(task);
                v
            }
            Subject::Bwrap => {
                let mut v: Vec<OsString> = [
                    "--unshare-all",
                    "--die-with-parent",
                    "--ro-bind",
                    "/usr",
                    "/usr",
                    "--ro-bind",
                    "/etc",
                    "/etc",
                    "--symlink",
                    "usr/lib",
                    "/lib",
                    "--symlink",
                    "usr/lib64",
                    "/lib64",
                    "--symlink",
                    "usr/bin",
                    "/bin",
                    "--proc",
                    "/proc",
                    "--dev",
                    "/dev",
                    "--tmpfs",
                    "/tmp",
                    "--bind",
                ]
                .into_iter()
                .map(OsString::from)
                .collect();
                v.insert(0, self.bwrap.clone().into());
                v.push(self.workdir.clone().into());
                v.push(self.workdir.clone().into());
                v.extend(task);
                v
            }
            Subject::Plain => task.collect(),
        }
    }

    /// Run `workload` under `subject` once; its wall time, or why it failed.
    fn time_once(&self, subject: Subject, workload: Workload) -> Result<Duration, BenchError> {
        let argv = self.argv(subject, workload);
        let fail = |detail: String| BenchError::Run { subject, command: shell_words(&argv), detail };
        let (program, args) = argv.split_first().ok_or_else(|| fail("empty command".into()))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.workdir)
            // Debug logging of the measured child would distort its time.
            .env_remove("ORCHESTRA_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t = Instant::now();
        let out = cmd.output().map_err(|e| fail(format!("cannot start: {e}")))?;
        let elapsed = t.elapsed();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(fail(format!("{}; stderr: {}", out.status, tail.join(" | "))));
        }
        if workload == Workload::Files {
            // Untimed: the next run starts from an empty workspace again.
            for e in std::fs::read_dir(&self.workdir).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with("files.") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(elapsed)
    }
}

/// The first executable file called `name` in `PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A command line for messages (not for a shell to run).
pub(super) fn shell_words(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.contains([' ', '\'', '$', ';']) { format!("'{}'", s.replace('\'', r"'\''")) } else { s.into_owned() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Summary of one subject's timed runs, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Stats {
    /// Timed runs.
    pub(super) runs: usize,
    /// Median (mean of the middle two for an even count).
    pub(super) median_ms: f64,
    /// 90th percentile, nearest rank.
    pub(super) p90_ms: f64,
    /// Fastest run.
    pub(super) min_ms: f64,
    /// Slowest run.
    pub(super) max_ms: f64,
    /// Arithmetic mean.
    mean_ms: f64,
}

impl Stats {
    /// One table row: `label` (padded to `width`), the run count and the
    /// median, p90, fastest and slowest runs.
    pub(super) fn row(&self, label: &str, width: usize) -> String {
        format!(
            "  {label:<width$} {:>5} {:>11.2} {:>11.2} {:>11.2} {:>11.2}",
            self.runs, self.median_ms, self.p90_ms, self.min_ms, self.max_ms
        )
    }

    /// Summarise `samples`; `None` when there are none.
    pub(super) fn of(samples: &[Duration]) -> Option<Stats> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let (first, last) = (*ms.first()?, *ms.last()?);
        let median = if n % 2 == 1 { ms[n / 2] } else { (ms[n / 2 - 1] + ms[n / 2]) / 2.0 };
        // Nearest rank: the smallest value with at least 90% of the samples at or below it.
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Stats {
            runs: n,
            median_ms: median,
            p90_ms: ms[rank - 1],
            min_ms: first,
            max_ms: last,
            mean_ms: ms.iter().sum::<f64>() / n as f64,
        })
    }
}

/// One subject's figures for one workload.
#[derive(Debug, Clone, Serialize)]
struct SubjectFigures {
    /// Which subject.
    subject: Subject,
    /// The command measured.
    command: String,
    /// Its timings.
    #[serde(flatten)]
    stats: Stats,
}

/// Figures for the start-up workload.
#[derive(Debug, Clone, Serialize)]
struct StartReport {
    /// orchestra, unobserved, bwrap, plain.
    subjects: Vec<SubjectFigures>,
    /// Median orchestra / median bwrap.
    ratio_orchestra_bwrap: f64,
    /// Median orchestra / median unobserved orchestra.
    ratio_orchestra_unobserved: f64,
    /// Median orchestra / median plain.
    ratio_orchestra_plain: f64,
    /// Median bwrap / median plain.
    ratio_bwrap_plain: f64,
    /// The target for `ratio_orchestra_bwrap` (at most).
    target_ratio_orchestra_bwrap: f64,
    /// Whether the target is met.
    meets_target: bool,
}

/// Figures for the process-loop workload.
#[derive(Debug, Clone, Serialize)]
struct LoopReport {
    /// Processes started per run.
    iterations: u32,
    /// orchestra, unobserved, bwrap, plain.
    subjects: Vec<SubjectFigures>,
    /// Observation overhead: (median orchestra / median unobserved - 1) x 100.
    observation_overhead_pct: f64,
    /// The same from the fastest runs, which background load disturbs least.
    observation_overhead_pct_of_min: f64,
    /// The target for `observation_overhead_pct` (at most).
    target_observation_overhead_pct: f64,
    /// Whether the target is met.
    meets_target: bool,
    /// Median orchestra / median unobserved orchestra.
    ratio_orchestra_unobserved: f64,
    /// Median orchestra / median bwrap.
    ratio_orchestra_bwrap: f64,
    /// Median unobserved orchestra / median bwrap.
    ratio_unobserved_bwrap: f64,
    /// Median orchestra / median plain sh.
    ratio_orchestra_plain: f64,
    /// Median bwrap / median plain sh.
    ratio_bwrap_plain: f64,
    /// Extra time per started process, orchestra over unobserved, microseconds (medians).
    extra_us_per_process_vs_unobserved: f64,
    /// Extra time per started process, orchestra over bwrap, microseconds (medians).
    extra_us_per_process_vs_bwrap: f64,
    /// Extra time per started process, orchestra over plain sh, microseconds (medians).
    extra_us_per_process_vs_plain: f64,
    /// What the unobserved baseline is.
    note: &'static str,
}

/// Where and when the figures were taken.
#[derive(Debug, Clone, Serialize)]
struct HostInfo {
    /// RFC 3339 time at the end of the bench.
    date: String,
    /// CPUs available to this process.
    cpus: usize,
    /// `/proc/sys/kernel/osrelease`.
    kernel: String,
    /// `bwrap --version`.
    bwrap_version: String,
    /// Untimed warm-up runs per subject and workload.
    warmup_runs: u32,
    /// How the rounds are ordered.
    schedule: &'static str,
}

/// The whole bench result (the `--json` document).
#[derive(Debug, Clone, Serialize)]
struct BenchReport {
    /// Where and when.
    host: HostInfo,
    /// Jail start.
    start: StartReport,
    /// The workspace diff, on against off.
    workspace_diff: DiffReport,
    /// Observation overhead.
    process_loop: LoopReport,
    /// File-heavy work.
    files: FilesReport,
}

/// Figures for the file-heavy workload.
#[derive(Debug, Clone, Serialize)]
struct FilesReport {
    /// Files created per run.
    files: u32,
    /// orchestra, unobserved, bwrap, plain.
    subjects: Vec<SubjectFigures>,
    /// Median orchestra / median plain.
    ratio_orchestra_plain: f64,
    /// Median orchestra / median unobserved orchestra.
    ratio_orchestra_unobserved: f64,
    /// Median orchestra / median bwrap.
    ratio_orchestra_bwrap: f64,
    /// The target for `ratio_orchestra_plain` (at most).
    target_ratio_orchestra_plain: f64,
    /// Whether the target is met.
    meets_target: bool,
}

/// Figures for the workspace diff: the same task with the diff on and off.
#[derive(Debug, Clone, Serialize)]
struct DiffReport {
    /// Files in the workspace.
    files: u32,
    /// Files the task changes.
    changed: u32,
    /// Diff on: `orchestra exec --policy default`.
    on: Stats,
    /// Diff off: a policy with `report.workspace_diff: false`.
    off: Stats,
    /// Median on - median off, ms: what the diff adds to the task.
    added_ms: f64,
    /// The same from the fastest runs.
    added_ms_of_min: f64,
    /// What the diff reported it took (both walks and hashing), median, ms.
    reported_took_ms: f64,
    /// The target for `added_ms` (at most).
    target_added_ms: f64,
    /// Whether the target is met.
    meets_target: bool,
    /// The two commands.
    commands: [String; 2],
}

/// Time the diff workload: a tree of [`DIFF_TREE_FILES`] files, 10 of them
/// changed per run, with the diff on and off in interleaved rounds.
fn measure_diff(setup: &Setup, rounds: u32, quiet: bool) -> Result<DiffReport, BenchError> {
    let setup_err = |what: &str, e: std::io::Error| BenchError::Setup(format!("{what}: {e}"));
    let root = setup.workdir.with_file_name("diff");
    let ws = root.join("ws");
    for d in 0..DIFF_TREE_FILES / 1000 {
        let dir = ws.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).map_err(|e| setup_err("diff workspace", e))?;
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f}")), b"x").map_err(|e| setup_err("diff workspace", e))?;
        }
    }
    let off_policy = root.join("diff-off.yaml");
    std::fs::write(&off_policy, "report:\n  workspace_diff: false\n").map_err(|e| setup_err("diff policy", e))?;
    let script = "for i in 0 1 2 3 4 5 6 7 8 9; do echo x >> d$i/f$i; done";
    let report = root.join("report.json");
    let argv = |policy: &Path| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![setup.exe.clone().into(), "exec".into(), "--policy".into(), policy.into()];
        v.extend(["--workdir".into(), ws.clone().into(), "--audit-dir".into(), setup.audit_dir.clone().into()]);
        v.extend(["--report".into(), report.clone().into(), "--".into(), "/bin/sh".into(), "-c".into(), script.into()]);
        v
    };
    let subjects = [argv(Path::new("default")), argv(&off_policy)];
    let mut samples: [Vec<Duration>; 2] = Default::default();
    let mut took = Vec::new();
    // One untimed warm-up of each, then interleaved rounds in rotating order.
    for round in 0..=rounds as usize {
        for k in 0..2 {
            let i = (round + k) % 2;
            let d = run_argv(&subjects[i], &ws, if i == 0 { Subject::Orchestra } else { Subject::Unobserved })?;
            if round > 0 {
                samples[i].push(d);
                if i == 0 {
                    let r: serde_json::Value =
                        std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
                    took.push(Duration::from_millis(r["workspace_changes"]["took_ms"].as_u64().unwrap_or(0)));
                }
            }
        }
        if !quiet {
            let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("\r  diff: round {round}/{rounds}"));
        }
    }
    if !quiet {
        crate::sandbox::say!();
    }
    let none = || BenchError::Setup("no samples were taken".into());
    let (on, off) = (Stats::of(&samples[0]).ok_or_else(none)?, Stats::of(&samples[1]).ok_or_else(none)?);
    let added = on.median_ms - off.median_ms;
    Ok(DiffReport {
        files: DIFF_TREE_FILES,
        changed: 10,
        added_ms: added,
        added_ms_of_min: on.min_ms - off.min_ms,
        reported_took_ms: Stats::of(&took).map_or(f64::NAN, |s| s.median_ms),
        target_added_ms: DIFF_TARGET_MS,
        meets_target: added <= DIFF_TARGET_MS,
        commands: [shell_words(&subjects[0]), shell_words(&subjects[1])],
        on,
        off,
    })
}

/// Run `argv` once in `dir`; its wall time (a failure is `subject`'s).
pub(super) fn run_argv(argv: &[OsString], dir: &Path, subject: Subject) -> Result<Duration, BenchError> {
    let fail = |detail: String| BenchError::Run { subject, command: shell_words(argv), detail };
    let (program, args) = argv.split_first().ok_or_else(|| fail("empty command".into()))?;
    let t = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("ORCHESTRA_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        return Err(fail(format!("{}; stderr: {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(elapsed)
}

/// Timed samples per subject, in [`Subject::ALL`] order.
type Samples = [Vec<Duration>; SUBJECTS];

/// Warm up, then run `rounds` interleaved rounds of `workload` over all subjects.
fn measure(setup: &Setup, workload: Workload, rounds: u32, quiet: bool) -> Result<Samples, BenchError> {
    for s in Subject::ALL {
        setup.time_once(s, workload)?;
    }
    let mut samples: Samples = Default::default();
    for round in 0..rounds as usize {
        // Rotate the order so no subject always runs first (or right after another).
        for k in 0..Subject::ALL.len() {
            let i = (round + k) % Subject::ALL.len();
            samples[i].push(setup.time_once(Subject::ALL[i], workload)?);
        }
        if !quiet {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("\r  {}: round {}/{rounds}", workload_key(workload), round + 1),
            );
        }
    }
    if !quiet {
        crate::sandbox::say!();
    }
    Ok(samples)
}

fn workload_key(w: Workload) -> &'static str {
    match w {
        Workload::Start => "start",
        Workload::Loop => "loop",
        Workload::Files => "files",
    }
}

/// Per-subject figures from the samples.
fn figures(setup: &Setup, workload: Workload, samples: &Samples) -> Result<Vec<SubjectFigures>, BenchError> {
    Subject::ALL
        .iter()
        .zip(samples)
        .map(|(s, v)| {
            let stats = Stats::of(v).ok_or_else(|| BenchError::Setup("no samples were taken".into()))?;
            Ok(SubjectFigures { subject: *s, command: shell_words(&setup.argv(*s, workload)), stats })
        })
        .collect()
}

/// The statistics of `subject` in `figs`.
fn stats_of(figs: &[SubjectFigures], subject: Subject) -> Option<&Stats> {
    figs.iter().find(|f| f.subject == subject).map(|f| &f.stats)
}

/// The median of `subject` in `figs` (NaN if it is missing, which `figures` rules out).
fn median(figs: &[SubjectFigures], subject: Subject) -> f64 {
    stats_of(figs, subject).map_or(f64::NAN, |s| s.median_ms)
}

/// The fastest run of `subject` in `figs` (NaN if it is missing).
fn min(figs: &[SubjectFigures], subject: Subject) -> f64 {
    stats_of(figs, subject).map_or(f64::NAN, |s| s.min_ms)
}

/// The start-up workload, `runs` interleaved rounds.
fn measure_start(setup: &Setup, runs: u32, quiet: bool) -> Result<StartReport, BenchError> {
    let samples = measure(setup, Workload::Start, runs, quiet)?;
    let sf = figures(setup, Workload::Start, &samples)?;
    let m = |s: Subject| median(&sf, s);
    let (so, su, sb, sp) = (m(Subject::Orchestra), m(Subject::Unobserved), m(Subject::Bwrap), m(Subject::Plain));
    Ok(StartReport {
        ratio_orchestra_bwrap: so / sb,
        ratio_orchestra_unobserved: so / su,
        ratio_orchestra_plain: so / sp,
        ratio_bwrap_plain: sb / sp,
        target_ratio_orchestra_bwrap: START_TARGET_RATIO,
        meets_target: so / sb <= START_TARGET_RATIO,
        subjects: sf,
    })
}

/// The start-up table and its ratios.
fn print_start(s: &StartReport) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    print_subjects(&Workload::Start.title(), &s.subjects);
    outln!(
        "  orchestra/bwrap {:.2} (target <= {:.2}: {})",
        s.ratio_orchestra_bwrap,
        s.target_ratio_orchestra_bwrap,
        verdict(s.meets_target)
    );
    outln!(
        "  orchestra/unobserved {:.2}, orchestra/plain {:.1}, bwrap/plain {:.1}  (ratios of medians)",
        s.ratio_orchestra_unobserved,
        s.ratio_orchestra_plain,
        s.ratio_bwrap_plain
    );
}

/// One workload's table of subjects.
fn print_subjects(title: &str, figs: &[SubjectFigures]) {
    outln!();
    outln!("{title}");
    outln!("  {:<11} {:>5} {:>11} {:>11} {:>11} {:>11}", "subject", "runs", "median ms", "p90 ms", "min ms", "max ms");
    for f in figs {
        let s = &f.stats;
        outln!(
            "  {:<11} {:>5} {:>11.2} {:>11.2} {:>11.2} {:>11.2}",
            f.subject.label(),
            s.runs,
            s.median_ms,
            s.p90_ms,
            s.min_ms,
            s.max_ms
        );
    }
}

fn bench(args: &BenchArgs) -> Result<BenchReport, BenchError> {
    let setup = Setup::new()?;
    let start_runs = args.runs.unwrap_or(DEFAULT_START_RUNS);
    let loop_runs = args.runs.unwrap_or(DEFAULT_LOOP_RUNS);
    if !args.json {
        crate::sandbox::say!(
            "orchestra bench: {start_runs} start-up rounds, {loop_runs} loop rounds, {} file-heavy rounds (orchestra, unobserved, bwrap, plain each)",
            args.runs.unwrap_or(DEFAULT_FILES_RUNS)
        );
    }
    // A progress counter only where a human watches it.
    let quiet = args.json || !std::io::stderr().is_terminal();
    let start = measure_start(&setup, start_runs, quiet)?;
    let loop_samples = measure(&setup, Workload::Loop, loop_runs, quiet)?;
    let files_samples = measure(&setup, Workload::Files, args.runs.unwrap_or(DEFAULT_FILES_RUNS), quiet)?;
    let workspace_diff = measure_diff(&setup, args.runs.unwrap_or(DEFAULT_DIFF_RUNS), quiet)?;
    let m = |figs: &[SubjectFigures], s: Subject| median(figs, s);
    let lf = figures(&setup, Workload::Loop, &loop_samples)?;
    let (lo, lu, lb, lp) =
        (m(&lf, Subject::Orchestra), m(&lf, Subject::Unobserved), m(&lf, Subject::Bwrap), m(&lf, Subject::Plain));
    let per_process_us = |extra_ms: f64| extra_ms * 1e3 / f64::from(LOOP_ITERATIONS);
    let overhead_pct = (lo / lu - 1.0) * 100.0;
    let process_loop = LoopReport {
        iterations: LOOP_ITERATIONS,
        observation_overhead_pct: overhead_pct,
        observation_overhead_pct_of_min: (min(&lf, Subject::Orchestra) / min(&lf, Subject::Unobserved) - 1.0) * 100.0,
        target_observation_overhead_pct: OBSERVATION_TARGET_PCT,
        meets_target: overhead_pct <= OBSERVATION_TARGET_PCT,
        ratio_orchestra_unobserved: lo / lu,
        ratio_orchestra_bwrap: lo / lb,
        ratio_unobserved_bwrap: lu / lb,
        ratio_orchestra_plain: lo / lp,
        ratio_bwrap_plain: lb / lp,
        extra_us_per_process_vs_unobserved: per_process_us(lo - lu),
        extra_us_per_process_vs_bwrap: per_process_us(lo - lb),
        extra_us_per_process_vs_plain: per_process_us(lo - lp),
        note: UNOBSERVED_BASELINE,
        subjects: lf,
    };
    let ff = figures(&setup, Workload::Files, &files_samples)?;
    let (fo, fu, fb, fp) =
        (m(&ff, Subject::Orchestra), m(&ff, Subject::Unobserved), m(&ff, Subject::Bwrap), m(&ff, Subject::Plain));
    let files = FilesReport {
        files: FILE_COUNT,
        ratio_orchestra_plain: fo / fp,
        ratio_orchestra_unobserved: fo / fu,
        ratio_orchestra_bwrap: fo / fb,
        target_ratio_orchestra_plain: FILES_TARGET_RATIO,
        meets_target: fo / fp <= FILES_TARGET_RATIO,
        subjects: ff,
    };
    let host = HostInfo {
        date: crate::sandbox::report::now_rfc3339(),
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default(),
        bwrap_version: setup.bwrap_version.clone(),
        warmup_runs: 1,
        schedule: "interleaved rounds, subject order rotated each round",
    };
    Ok(BenchReport { host, start, workspace_diff, process_loop, files })
}

fn print_table(r: &BenchReport) {
    let h = &r.host;
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    outln!("orchestra bench  {}  ({} CPUs, kernel {}, {})", h.date, h.cpus, h.kernel, h.bwrap_version);
    outln!("{}; {} untimed warm-up run per subject", h.schedule, h.warmup_runs);
    let s = &r.start;
    print_start(s);
    let l = &r.process_loop;
    print_subjects(&Workload::Loop.title(), &l.subjects);
    outln!(
        "  observation overhead (orchestra/unobserved - 1): {:+.1}% (target <= {:.0}%: {}); of the fastest runs {:+.1}%",
        l.observation_overhead_pct,
        l.target_observation_overhead_pct,
        verdict(l.meets_target),
        l.observation_overhead_pct_of_min
    );
    outln!(
        "  orchestra/bwrap {:.3}, unobserved/bwrap {:.3}, orchestra/plain sh {:.3}, bwrap/plain sh {:.3}  (ratios of medians)",
        l.ratio_orchestra_bwrap,
        l.ratio_unobserved_bwrap,
        l.ratio_orchestra_plain,
        l.ratio_bwrap_plain
    );
    outln!(
        "  extra per started process: {:.0} us vs unobserved, {:.0} us vs bwrap, {:.0} us vs plain sh",
        l.extra_us_per_process_vs_unobserved,
        l.extra_us_per_process_vs_bwrap,
        l.extra_us_per_process_vs_plain
    );
    outln!("  {}", l.note);
    let fl = &r.files;
    print_subjects(&Workload::Files.title(), &fl.subjects);
    outln!(
        "  orchestra/plain {:.2} (target <= {:.2}: {}); orchestra/unobserved {:.2}, orchestra/bwrap {:.2}  (ratios of medians)",
        fl.ratio_orchestra_plain,
        fl.target_ratio_orchestra_plain,
        verdict(fl.meets_target),
        fl.ratio_orchestra_unobserved,
        fl.ratio_orchestra_bwrap
    );
    print_diff(&r.workspace_diff);
    outln!();
    outln!("commands:");
    for f in s.subjects.iter().chain(&l.subjects).chain(&fl.subjects) {
        outln!("  {}", f.command);
    }
    for c in &r.workspace_diff.commands {
        outln!("  {c}");
    }
}

/// The workspace diff's table.
fn print_diff(d: &DiffReport) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    outln!();
    outln!("Workspace diff: {} files, {} changed by the task (diff on vs off)", d.files, d.changed);
    outln!("  {:<11} {:>5} {:>11} {:>11} {:>11} {:>11}", "subject", "runs", "median ms", "p90 ms", "min ms", "max ms");
    for (label, s) in [("diff on", &d.on), ("diff off", &d.off)] {
        outln!("{}", s.row(label, 11));
    }
    outln!(
        "  added by the diff: {:+.1} ms (target <= {:.0} ms: {}); of the fastest runs {:+.1} ms; the diff reports {:.0} ms",
        d.added_ms,
        d.target_added_ms,
        verdict(d.meets_target),
        d.added_ms_of_min,
        d.reported_took_ms
    );
}

/// Run the benchmarks.
pub fn run(args: BenchArgs) -> Exit {
    if args.orchestration {
        return super::bench_run::run(args.tasks as usize, args.json);
    }
    if args.start {
        let quiet = args.json || !std::io::stderr().is_terminal();
        let runs = args.runs.unwrap_or(DEFAULT_START_RUNS);
        return match Setup::new().and_then(|s| Ok((measure_start(&s, runs, quiet)?, s))) {
            Ok((r, _)) if args.json => {
                outln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                Exit::Ok
            }
            Ok((r, setup)) => {
                outln!("orchestra bench --start  {}  ({})", crate::sandbox::report::now_rfc3339(), setup.bwrap_version);
                print_start(&r);
                outln!();
                outln!("commands:");
                for f in &r.subjects {
                    outln!("  {}", f.command);
                }
                Exit::Ok
            }
            Err(e) => {
                crate::sandbox::say!("orchestra: error: bench: {e}");
                e.exit()
            }
        };
    }
    if args.git_survey {
        let runs = args.runs.unwrap_or(super::bench_survey::DEFAULT_RUNS);
        return super::bench_survey::run(runs, args.json, args.against.as_deref());
    }
    if args.workspace_diff {
        let quiet = args.json || !std::io::stderr().is_terminal();
        return match Setup::new().and_then(|s| measure_diff(&s, args.runs.unwrap_or(DEFAULT_DIFF_RUNS), quiet)) {
            Ok(d) if args.json => {
                outln!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
                Exit::Ok
            }
            Ok(d) => {
                print_diff(&d);
                Exit::Ok
            }
            Err(e) => {
                crate::sandbox::say!("orchestra: error: bench: {e}");
                e.exit()
            }
        };
    }
    match bench(&args) {
        Ok(report) if args.json => match serde_json::to_string_pretty(&report) {
            Ok(s) => {
                outln!("{s}");
                Exit::Ok
            }
            Err(e) => super::config_error(format!("cannot encode the report: {e}")),
        },
        Ok(report) => {
            print_table(&report);
            Exit::Ok
        }
        Err(e) => {
            crate::sandbox::say!("orchestra: error: bench: {e}");
            e.exit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn median_and_p90_use_the_documented_ranks() {
        let s = Stats::of(&ms(&[5, 1, 4, 2, 3])).expect("samples");
        assert_eq!((s.median_ms, s.p90_ms, s.min_ms, s.max_ms), (3.0, 5.0, 1.0, 5.0));
        let s = Stats::of(&ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).expect("samples");
        assert_eq!((s.median_ms, s.p90_ms), (5.5, 9.0));
        let s = Stats::of(&ms(&[7])).expect("samples");
        assert_eq!((s.median_ms, s.p90_ms), (7.0, 7.0));
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn commands_are_comparable() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let setup = Setup {
            exe: "/x/orchestra".into(),
            bwrap: "/usr/bin/bwrap".into(),
            bwrap_version: String::new(),
            workdir: "/w".into(),
            audit_dir: "/a".into(),
            _scratch: scratch,
        };
        let o = shell_words(&setup.argv(Subject::Orchestra, Workload::Start));
        assert_eq!(o, "/x/orchestra exec --policy default --workdir /w --audit-dir /a -- /bin/true");
        let u = shell_words(&setup.argv(Subject::Unobserved, Workload::Start));
        assert_eq!(u, "/x/orchestra exec --policy default --workdir /w --audit-dir /a --bench-unobserved -- /bin/true");
        let b = shell_words(&setup.argv(Subject::Bwrap, Workload::Loop));
        assert!(b.starts_with("/usr/bin/bwrap --unshare-all --die-with-parent --ro-bind /usr /usr"), "{b}");
        assert!(b.contains("--tmpfs /tmp --bind /w /w /bin/sh -c 'i=0;"), "{b}");
        assert_eq!(setup.argv(Subject::Plain, Workload::Start), vec![OsString::from("/bin/true")]);
    }
}
