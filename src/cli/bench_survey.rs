//! `orchestra bench --git-survey`: what the protected-path check's survey of
//! a git workspace adds to `orchestra exec` (SECURITY.md §5.3: before and
//! after every task it reads the root's index, the tracked directories' `.git`
//! and each submodule's git directory).
//!
//! Three workspaces hold the same [`FILES`] files in [`DIRS`] directories: a
//! plain directory; a repository with all of them committed; the same with
//! [`SUBMODULES`] submodules (`git submodule add` from local repositories).
//! `/bin/true` runs in each with the workspace diff off (it walks every file
//! alike and would hide the survey), after one untimed warm-up of each, in
//! interleaved rounds whose order rotates. The survey's cost is a
//! repository's median less the plain directory's. With `--against EXE`,
//! another build's `orchestra` runs the same commands in the same rounds
//! (the code before a change, side by side with it). The rounds start once the
//! indexes are older than the survey's settling time (3 s), as they are when
//! no git command ran just before the task.
//!
//! Guarantees: the figures come from the release hook and the end of real
//! `orchestra exec` runs (nothing is simulated); a missing `git` or a failed
//! command ends the bench without figures (exit 1 or 2), nothing is skipped.

use super::bench::{BenchError, Stats, Subject, run_argv, shell_words};
use crate::exit::Exit;
use serde::Serialize;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Directories of each workspace (100 × 100, two levels).
const DIRS: u32 = 10_000;
/// Files in each directory.
const FILES_PER_DIR: u32 = 10;
/// Files of each workspace.
const FILES: u32 = DIRS * FILES_PER_DIR;
/// Submodules of the third workspace.
const SUBMODULES: u32 = 50;
/// Timed rounds when `--runs` is not given.
pub const DEFAULT_RUNS: u32 = 30;
/// Target for what the survey adds to a task, ms (medians).
const TARGET_MS: f64 = 5.0;
/// How long after the last git command the rounds start (the survey reuses
/// what it read before a task only for files changed 3 s before it).
const SETTLE: Duration = Duration::from_millis(3500);

/// One executable's figures.
#[derive(Debug, Clone, Serialize)]
struct Figures {
    /// The `orchestra` executable timed.
    executable: String,
    /// Not a repository.
    plain: Stats,
    /// A repository with every file committed.
    repository: Stats,
    /// The same with the submodules.
    with_submodules: Stats,
    /// Median of each repository less the plain directory's, ms.
    added_ms_repository: f64,
    added_ms_with_submodules: f64,
}

impl Figures {
    /// The figures of `executable` from its samples, in workspace order.
    fn of(executable: &Path, samples: &[Vec<Duration>]) -> Result<Figures, BenchError> {
        let stats = |k: usize| {
            samples.get(k).and_then(|s| Stats::of(s)).ok_or_else(|| BenchError::Setup("no samples were taken".into()))
        };
        let (plain, repository, with_submodules) = (stats(0)?, stats(1)?, stats(2)?);
        Ok(Figures {
            executable: executable.display().to_string(),
            added_ms_repository: repository.median_ms - plain.median_ms,
            added_ms_with_submodules: with_submodules.median_ms - plain.median_ms,
            plain,
            repository,
            with_submodules,
        })
    }
}

/// The figures (the `--json` document).
#[derive(Debug, Clone, Serialize)]
struct SurveyReport {
    /// Files and directories of each workspace, and the submodules of the third.
    files: u32,
    dirs: u32,
    submodules: u32,
    /// This executable's.
    #[serde(flatten)]
    this: Figures,
    /// Those of the executable given with `--against`, timed in the same rounds.
    against: Option<Figures>,
    /// The target for this executable's two added figures (at most), and
    /// whether both meet it.
    target_added_ms: f64,
    meets_target: bool,
    /// The commands, this executable's first.
    commands: Vec<String>,
}

/// Run `git args` in `dir` (no background gc, a fixed identity).
fn git(dir: &Path, args: &[&str]) -> Result<(), BenchError> {
    let out = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "user.email=bench@orchestra.invalid", "-c", "user.name=bench"])
        .args(["-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Setup(format!("git is needed for --git-survey: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BenchError::Setup(format!("git {} in {}: {}", args.join(" "), dir.display(), err.trim())));
    }
    Ok(())
}

/// [`FILES`] small files in [`DIRS`] directories below `ws`.
fn make_tree(ws: &Path) -> Result<(), BenchError> {
    let setup_err = |e: std::io::Error| BenchError::Setup(format!("{}: {e}", ws.display()));
    for d in 0..DIRS {
        let dir = ws.join(format!("src{:02}/m{:02}", d / 100, d % 100));
        std::fs::create_dir_all(&dir).map_err(setup_err)?;
        for f in 0..FILES_PER_DIR {
            std::fs::write(dir.join(format!("f{f}.rs")), format!("fn f{d}_{f}() {{}}\n")).map_err(setup_err)?;
        }
    }
    Ok(())
}

/// A repository at `ws` with the tree committed.
fn make_repository(ws: &Path) -> Result<(), BenchError> {
    make_tree(ws)?;
    git(ws, &["init", "-q", "."])?;
    git(ws, &["add", "-A"])?;
    git(ws, &["commit", "-qm", "tree"])
}

/// [`SUBMODULES`] submodules in `ws/vendor`, from repositories made in `upstream`.
fn add_submodules(ws: &Path, upstream: &Path) -> Result<(), BenchError> {
    for i in 0..SUBMODULES {
        let up = upstream.join(format!("lib{i:02}"));
        std::fs::create_dir_all(&up).map_err(|e| BenchError::Setup(format!("{}: {e}", up.display())))?;
        std::fs::write(up.join("lib.c"), format!("int lib{i};\n"))
            .map_err(|e| BenchError::Setup(format!("{}: {e}", up.display())))?;
        git(&up, &["init", "-q", "."])?;
        git(&up, &["add", "-A"])?;
        git(&up, &["commit", "-qm", "lib"])?;
        let from = up.to_string_lossy().into_owned();
        git(ws, &["submodule", "add", "-q", &from, &format!("vendor/lib{i:02}")])?;
    }
    git(ws, &["commit", "-qm", "submodules"])
}

/// The three workspaces below `root`, in report order.
fn make_workspaces(root: &Path, quiet: bool) -> Result<[PathBuf; 3], BenchError> {
    let ws = [root.join("plain"), root.join("repository"), root.join("submodules")];
    if !quiet {
        crate::sandbox::say!("  git survey: making three workspaces of {FILES} files");
    }
    make_tree(&ws[0])?;
    make_repository(&ws[1])?;
    make_repository(&ws[2])?;
    add_submodules(&ws[2], &root.join("upstream"))?;
    std::thread::sleep(SETTLE);
    Ok(ws)
}

/// Time `/bin/true` in each workspace of `ws`, `rounds` interleaved rounds,
/// with `exe` and (when given) `against`.
fn measure(
    exe: &Path,
    against: Option<&Path>,
    root: &Path,
    ws: &[PathBuf; 3],
    rounds: u32,
    quiet: bool,
) -> Result<SurveyReport, BenchError> {
    let policy = root.join("diff-off.yaml");
    let audit = root.join("audit");
    std::fs::write(&policy, "report:\n  workspace_diff: false\n")
        .map_err(|e| BenchError::Setup(format!("{}: {e}", policy.display())))?;
    let argv = |exe: &Path, w: &Path| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![exe.into(), "exec".into(), "--policy".into(), policy.clone().into()];
        v.extend(["--workdir".into(), w.into(), "--audit-dir".into(), audit.clone().into()]);
        v.extend(["--".into(), "/bin/true".into()]);
        v
    };
    let exes: Vec<&Path> = std::iter::once(exe).chain(against).collect();
    // Subject k: executable k / 3 in workspace k % 3.
    let subjects: Vec<(Vec<OsString>, &Path)> =
        exes.iter().flat_map(|e| ws.iter().map(|w| (argv(e, w), w.as_path()))).collect();
    let n = subjects.len();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); n];
    for round in 0..=rounds as usize {
        for k in 0..n {
            let i = (round + k) % n;
            let (argv, dir) = &subjects[i];
            let d = run_argv(argv, dir, Subject::Orchestra)?;
            // Round 0 is the untimed warm-up.
            if round > 0 {
                samples[i].push(d);
            }
        }
        if !quiet {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("\r  git survey: round {round}/{rounds}"),
            );
        }
    }
    if !quiet {
        crate::sandbox::say!();
    }
    let this = Figures::of(exe, &samples[..3])?;
    let against = match against {
        Some(a) => Some(Figures::of(a, &samples[3..])?),
        None => None,
    };
    Ok(SurveyReport {
        files: FILES,
        dirs: DIRS,
        submodules: SUBMODULES,
        target_added_ms: TARGET_MS,
        meets_target: this.added_ms_repository <= TARGET_MS && this.added_ms_with_submodules <= TARGET_MS,
        commands: subjects.iter().map(|(a, _)| shell_words(a)).collect(),
        this,
        against,
    })
}

/// One executable's rows.
fn print_figures(r: &SurveyReport, f: &Figures) {
    outln!("  {}", f.executable);
    outln!(
        "  {:<22} {:>5} {:>11} {:>11} {:>11} {:>11}",
        "workspace",
        "runs",
        "median ms",
        "p90 ms",
        "min ms",
        "max ms"
    );
    let subs = format!("+ {} submodules", r.submodules);
    for (label, s) in
        [("not a repository", &f.plain), ("repository", &f.repository), (subs.as_str(), &f.with_submodules)]
    {
        outln!("{}", s.row(label, 22));
    }
    outln!(
        "  added by the survey: {:+.1} ms, {:+.1} ms with {} submodules",
        f.added_ms_repository,
        f.added_ms_with_submodules,
        r.submodules
    );
}

/// The table.
fn print(r: &SurveyReport) {
    outln!(
        "Git survey: /bin/true in {} files, {} directories, workspace diff off (protected-path check on)",
        r.files,
        r.dirs
    );
    print_figures(r, &r.this);
    outln!("  target <= {:.0} ms for both: {}", r.target_added_ms, if r.meets_target { "met" } else { "MISSED" });
    if let Some(a) = &r.against {
        outln!();
        outln!("against, in the same rounds:");
        print_figures(r, a);
    }
    outln!();
    outln!("commands:");
    for c in &r.commands {
        outln!("  {c}");
    }
}

/// `orchestra bench --git-survey`; `against`: another orchestra executable
/// timed in the same rounds.
pub fn run(runs: u32, json: bool, against: Option<&Path>) -> Exit {
    let quiet = json || !std::io::stderr().is_terminal();
    let result = (|| {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Setup(format!("cannot locate the orchestra executable: {e}")))?;
        let scratch = tempfile::Builder::new()
            .prefix("orchestra-bench-survey-")
            .tempdir()
            .map_err(|e| BenchError::Setup(format!("cannot create a scratch directory: {e}")))?;
        let root = std::fs::canonicalize(scratch.path())
            .map_err(|e| BenchError::Setup(format!("{}: {e}", scratch.path().display())))?;
        let ws = make_workspaces(&root, quiet)?;
        measure(&exe, against, &root, &ws, runs, quiet)
    })();
    match result {
        Ok(r) if json => {
            outln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            Exit::Ok
        }
        Ok(r) => {
            print(&r);
            Exit::Ok
        }
        Err(e) => {
            crate::sandbox::say!("orchestra: error: bench: {e}");
            e.exit()
        }
    }
}
