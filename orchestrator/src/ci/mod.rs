//! Outputs for CI systems: `junit.xml`, `violations.sarif`, the step summary
//! and GitHub Actions workflow commands (annotations, log groups).
//!
//! Guarantees:
//! - every run directory gets `junit.xml` and `violations.sarif` at the end of
//!   every session, written atomically from the same [`RunReport`] as
//!   `report.json` (so the three never disagree), and copies go to the paths
//!   the user asked for (`--junit`, `--sarif`, config `outputs:`);
//! - everything a task controls (its output, violation details, which carry
//!   task-chosen paths) is escaped for the format it lands in: XML (and the
//!   characters XML 1.0 cannot carry), JSON, Markdown, and GitHub workflow
//!   command data and properties; task output printed to a GitHub log is
//!   fenced by `::stop-commands::` with a random token, so it cannot issue
//!   workflow commands through orchestra's output;
//! - size limits of the consumers are respected: the step summary stays under
//!   GitHub's 1 MiB, annotations within 10 errors + 10 warnings per step,
//!   SARIF under 25,000 results and 10 MB per run (what is left out is said so);
//! - the copies are written only where their paths still lead to the
//!   directories noted before any task ran ([`guard_outputs`]), and nothing
//!   is written once the run directory's path no longer leads to it.
//!
//! The CI writers observe the run ([`Writer`] is an
//! [`crate::orchestrator::events::Observer`]): the orchestrator does not know them.

pub mod github;
pub mod junit;
pub mod sarif;
pub mod text;

use crate::orchestrator::events::{Event, Observer, Problem};
use crate::orchestrator::report::RunReport;
use crate::runstore::{RunDir, write_replace};
use std::path::{Path, PathBuf};

/// File name of the JUnit report in a run directory.
pub const JUNIT_FILE: &str = "junit.xml";
/// File name of the SARIF log in a run directory.
pub const SARIF_FILE: &str = "violations.sarif";

/// Extra places to write the CI reports (besides the run directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// A copy of `junit.xml`.
    pub junit: Option<PathBuf>,
    /// A copy of `violations.sarif`.
    pub sarif: Option<PathBuf>,
    /// A copy of `report.md` (for a CI's summary page; `$GITHUB_STEP_SUMMARY`
    /// is appended to automatically under GitHub Actions).
    pub summary: Option<PathBuf>,
}

/// A CI output that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serialising a report failed.
    #[error("cannot render {what}: {message}")]
    Render {
        /// Which report.
        what: &'static str,
        /// Why.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CiError + '_ {
    move |source| CiError::Io { path: path.to_path_buf(), source }
}

/// Where the plan's tasks are defined, for SARIF locations and annotations:
/// a file relative to the repository root (`GITHUB_WORKSPACE` under GitHub
/// Actions, else the current directory) and, per task, the line of its `id:`.
///
/// The file is stable across runs, so code scanning keeps tracking an alert
/// instead of closing and reopening it: the plan file of a plan-file run; for
/// an intent run, the workspace's project manifest (`Cargo.toml`,
/// `package.json`, …, as the offline planner looks for them), else the
/// workspace's `.orchestra/config.yaml`; only when there is neither, the run's
/// own `plan.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The file, relative to the repository root when it lies inside it.
    pub file: Option<String>,
    /// Line of each task's definition in that file (plan files only).
    pub lines: std::collections::BTreeMap<String, u64>,
}

impl Source {
    /// The file and lines for a run's report.
    pub fn locate(report: &RunReport, run: &RunDir) -> Source {
        let workdir = Path::new(&report.workdir);
        let (path, is_plan) = match &report.plan_file {
            Some(p) => (PathBuf::from(p), true),
            None => match stable_file(workdir) {
                Some(p) => (p, false),
                None => (run.plan(), true),
            },
        };
        let mut lines = std::collections::BTreeMap::new();
        if is_plan {
            // One pass over the plan for all tasks (not one search per task).
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            lines = text::lines_of_tasks(&text, report.tasks.iter().map(|t| t.id.as_str()));
        }
        let file = Some(relative_to_root(&path, workdir));
        Source { file, lines }
    }
}

/// The file an intent run's results point at (see [`Source`]).
fn stable_file(workdir: &Path) -> Option<PathBuf> {
    crate::planner::offline::PROJECT_FILES
        .iter()
        .map(|f| workdir.join(f))
        .chain(std::iter::once(workdir.join(".orchestra/config.yaml")))
        .find(|p| p.is_file())
}

/// The repository root: `GITHUB_WORKSPACE` when set, else the current directory.
fn repository_root() -> Option<PathBuf> {
    std::env::var_os("GITHUB_WORKSPACE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
}

/// `path` relative to the repository root, else to the workspace, else as it is
/// (both sides canonicalised, so a symlinked checkout still matches).
fn relative_to_root(path: &Path, workdir: &Path) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let full = canon(path);
    let rel = repository_root()
        .map(|r| canon(&r))
        .and_then(|r| full.strip_prefix(r).ok().map(Path::to_path_buf))
        .or_else(|| full.strip_prefix(canon(workdir)).ok().map(Path::to_path_buf));
    rel.unwrap_or(full).to_string_lossy().into_owned()
}

/// Write `junit.xml` and `violations.sarif` into the run directory, then the
/// copies `outputs` asks for. Returns the files written.
pub fn write_reports(run: &RunDir, report: &RunReport, md: &str, outputs: &Outputs) -> Result<Vec<PathBuf>, CiError> {
    let source = Source::locate(report, run);
    let xml = junit::render(report, run)?;
    let sarif = sarif::render(report, &source)?;
    let mut written = Vec::new();
    let mut put = |path: &Path, bytes: &[u8]| -> Result<(), CiError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err(path))?;
        }
        // Atomic (temp + rename), not forced to disk: derived from the checkpoint.
        write_replace(path, bytes).map_err(io_err(path))?;
        written.push(path.to_path_buf());
        Ok(())
    };
    put(&run.path.join(JUNIT_FILE), xml.as_bytes())?;
    put(&run.path.join(SARIF_FILE), sarif.as_bytes())?;
    if let Some(p) = &outputs.junit {
        put(p, xml.as_bytes())?;
    }
    if let Some(p) = &outputs.sarif {
        put(p, sarif.as_bytes())?;
    }
    if let Some(p) = &outputs.summary {
        put(p, md.as_bytes())?;
    }
    Ok(written)
}

/// Everything CI-facing at the end of a session: the reports in the run
/// directory and the requested copies, then (under GitHub Actions) the step
/// summary. Log groups and annotations are printed by [`github::print`].
pub fn finish(run: &RunDir, report: &RunReport, outputs: &Outputs) -> Result<(), CiError> {
    let md = crate::orchestrator::report::markdown(report);
    write_reports(run, report, &md, outputs)?;
    if let Some(gh) = github::Github::detect()
        && let Some(path) = gh.step_summary
    {
        github::append_summary(&path, &md, &run.report_md())?;
    }
    Ok(())
}

/// A CI copy's directory and its `(st_dev, st_ino)` before any task ran.
pub type OutputDir = (PathBuf, (u64, u64));

/// Why a CI report copy's directory cannot be prepared (before any task runs).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", dir.display())]
pub struct GuardError {
    /// The directory.
    dir: PathBuf,
    /// Why.
    source: std::io::Error,
}

/// Create the directories of the CI report copies and note what they are,
/// before any task runs (see [`Writer`]).
pub fn guard_outputs(outputs: &Outputs) -> Result<Vec<OutputDir>, GuardError> {
    let mut dirs = Vec::new();
    for p in [&outputs.junit, &outputs.sarif, &outputs.summary].into_iter().flatten() {
        let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) else { continue };
        let dir_err = |source| GuardError { dir: parent.to_path_buf(), source };
        std::fs::create_dir_all(parent).map_err(dir_err)?;
        let id = std::fs::File::open(parent).and_then(|f| crate::runstore::at::identity(&f)).map_err(dir_err)?;
        dirs.push((parent.to_path_buf(), id));
    }
    Ok(dirs)
}

/// The CI outputs that may still be written: `None` when the run directory's
/// path no longer leads to it; copies whose directory changed are dropped.
/// Each refusal is a line in `problems`.
fn checked_outputs(run: &RunDir, outputs: &Outputs, dirs: &[OutputDir], problems: &mut Vec<String>) -> Option<Outputs> {
    if let Err(e) = run.intact() {
        problems.push(format!("orchestra: error: not writing junit.xml, violations.sarif or their copies: {e}"));
        return None;
    }
    let mut keep = |p: &Option<PathBuf>| -> Option<PathBuf> {
        let p = p.as_ref()?;
        let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) else { return Some(p.clone()) };
        let before = dirs.iter().find(|(d, _)| d == parent).map(|(_, id)| *id);
        let now = std::fs::File::open(parent).and_then(|f| crate::runstore::at::identity(&f)).ok();
        if before.is_some() && before == now {
            return Some(p.clone());
        }
        problems.push(format!(
            "orchestra: error: not writing {}: its directory was moved or replaced while tasks ran",
            p.display()
        ));
        None
    };
    Some(Outputs { junit: keep(&outputs.junit), sarif: keep(&outputs.sarif), summary: keep(&outputs.summary) })
}

/// The CI writers as an observer of a run: when the run's report is written
/// ([`Event::ReportWritten`]), `junit.xml`, `violations.sarif`, their copies
/// and the GitHub step summary follow from it ([`finish`]). A report that
/// could not be written is a [`Problem`] (the run is then not ok).
#[derive(Debug, Clone)]
pub struct Writer {
    outputs: Outputs,
    dirs: Vec<OutputDir>,
}

impl Writer {
    /// Writers for `outputs`, whose directories were noted by [`guard_outputs`]
    /// before any task ran.
    pub fn new(outputs: Outputs, dirs: Vec<OutputDir>) -> Writer {
        Writer { outputs, dirs }
    }
}

impl Observer for Writer {
    fn event(&mut self, event: &Event<'_>) -> Result<(), Problem> {
        let Event::ReportWritten { run, report } = event else { return Ok(()) };
        // The writers take paths: write only where the paths still lead to the
        // directories opened before the tasks ran (every task has ended by now).
        let mut problems = Vec::new();
        if let Some(o) = checked_outputs(run, &self.outputs, &self.dirs, &mut problems)
            && let Err(e) = finish(run, report, &o)
        {
            problems.push(format!("orchestra: error: CI outputs: {e}"));
        }
        if problems.is_empty() { Ok(()) } else { Err(Problem(problems)) }
    }
}
