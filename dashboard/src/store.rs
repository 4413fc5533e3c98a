//! Read-only access to the runs directory for the server: runs, a run's plan
//! and tasks, logs by byte range, reports, artifacts, plan diffs.
//!
//! Guarantees: a run is named only by a run id (checked before it becomes a
//! path); every file inside a run directory is opened relative to the run's
//! descriptor with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! (`runstore::at`), so neither `..`, an absolute path, an encoded
//! separator nor a symbolic link planted by a task leads outside the run's
//! directory; task ids are checked against the run's plan before they name
//! a log or a report. A run directory that is corrupted or deleted while it
//! is watched gives a [`StoreError`], never a panic.

use orchestra_orchestrator::plan::{self, Dag};
use orchestra_orchestrator::runstore::checkpoint::{self, Checkpoint};
use orchestra_orchestrator::runstore::index::{Index, RunRow, TaskRow};
use orchestra_orchestrator::runstore::{RunDir, RunStoreError, at, is_run_id};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Why something cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such run, task or file.
    #[error("{0}")]
    NotFound(String),
    /// A name that cannot be a run id, task id or artifact path.
    #[error("{0}")]
    BadName(String),
    /// The run store (a corrupted checkpoint, an unreadable file).
    #[error("{0}")]
    Store(#[from] RunStoreError),
    /// A plan that no longer parses.
    #[error("plan.yaml: {0}")]
    Plan(String),
    /// Another I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The runs directory.
#[derive(Debug, Clone)]
pub struct Store {
    /// Its path.
    pub dir: PathBuf,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<String>,
    /// Only runs whose id or source contains this text.
    pub q: Option<String>,
    /// Skip this many (after filtering).
    pub offset: Option<usize>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A page of runs.
#[derive(Debug, serde::Serialize)]
pub struct RunPage {
    /// Runs matching the filter.
    pub total: usize,
    /// The page's offset.
    pub offset: usize,
    /// The page.
    pub runs: Vec<RunRow>,
}

/// A run: its row, tasks, plan and whether a process drives it now.
#[derive(Debug)]
pub struct RunView {
    /// The run directory.
    pub run: RunDir,
    /// The checkpoint (task states).
    pub checkpoint: Checkpoint,
    /// The plan as executed (`None`: `plan.yaml` is missing).
    pub dag: Option<Dag>,
    /// A living orchestra process holds the run.
    pub live: bool,
    /// The run is paused (its control file says so and it is live).
    pub paused: bool,
}

/// A byte range of a log.
#[derive(Debug, serde::Serialize)]
pub struct LogRange {
    /// Where the range starts.
    pub offset: u64,
    /// Where the next read starts.
    pub next: u64,
    /// The file's size when read.
    pub size: u64,
    /// The bytes, as text (invalid UTF-8 replaced).
    pub text: String,
}

/// One artifact file.
#[derive(Debug, serde::Serialize)]
pub struct Artifact {
    /// Path below `artifacts/`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

impl Store {
    /// The runs directory `dir`.
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn index(&self) -> Result<Index, StoreError> {
        if !self.dir.is_dir() {
            return Err(StoreError::NotFound(format!("no runs directory at {}", self.dir.display())));
        }
        let mut ix = Index::open(&self.dir)?;
        ix.refresh()?;
        Ok(ix)
    }

    /// Runs, newest first, filtered and paged.
    pub fn runs(&self, f: &RunFilter) -> Result<RunPage, StoreError> {
        let all = self.index()?.runs()?;
        let matching: Vec<RunRow> = all
            .into_iter()
            .filter(|r| f.status.as_deref().is_none_or(|s| s.is_empty() || r.status == s))
            .filter(|r| f.q.as_deref().is_none_or(|q| r.run_id.contains(q) || r.source.contains(q)))
            .collect();
        let offset = f.offset.unwrap_or(0);
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let total = matching.len();
        Ok(RunPage { total, offset, runs: matching.into_iter().skip(offset).take(limit).collect() })
    }

    /// Open run `id`.
    pub fn open(&self, id: &str) -> Result<RunDir, StoreError> {
        if !is_run_id(id) {
            return Err(StoreError::BadName(format!("not a run id: {id:?}")));
        }
        RunDir::open(&self.dir, id).map_err(|e| match e {
            RunStoreError::NoSuchRun { .. } => StoreError::NotFound(format!("no run {id}")),
            other => other.into(),
        })
    }

    /// Run `id` with its checkpoint and plan.
    pub fn run(&self, id: &str) -> Result<RunView, StoreError> {
        self.view(self.open(id)?)
    }

    /// An opened run with its checkpoint and plan.
    pub fn view(&self, run: RunDir) -> Result<RunView, StoreError> {
        let checkpoint = checkpoint::load_in(&run)?;
        let dag = match run.read(Path::new("plan.yaml")) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let p = plan::parse(&text, "plan.yaml").map_err(|e| StoreError::Plan(e.to_string()))?;
                Some(plan::validate(p, "plan.yaml").map_err(|e| StoreError::Plan(e.to_string()))?)
            }
            Err(_) => None,
        };
        let live = orchestra_orchestrator::runstore::lock::is_held_in(&run);
        let paused = live && orchestra_orchestrator::runstore::control::read(&run).is_some_and(|c| c.paused);
        Ok(RunView { run, checkpoint, dag, live, paused })
    }

    /// The row of run `id` and its tasks as the index lists them (one
    /// opening and refresh of the index).
    pub fn row_and_tasks(&self, id: &str) -> Result<(Option<RunRow>, Vec<TaskRow>), StoreError> {
        let ix = self.index()?;
        let row = ix.runs()?.into_iter().find(|r| r.run_id == id);
        Ok((row, ix.tasks(id)?))
    }

    /// Check that `task` is a task of `view`'s run (its plan or checkpoint).
    pub fn task_of<'v>(&self, view: &'v RunView, task: &str) -> Result<&'v str, StoreError> {
        if let Some((k, _)) = view.checkpoint.tasks.get_key_value(task) {
            return Ok(k.as_str());
        }
        Err(StoreError::NotFound(format!("no task {task:?} in run {}", view.run.id)))
    }

    /// A task's report (`reports/<task>.json`), as JSON.
    pub fn task_report(&self, run: &RunDir, task: &str) -> Result<serde_json::Value, StoreError> {
        let bytes =
            run.read(&run.task_report_rel(task)).map_err(|_| StoreError::NotFound(format!("no report for {task}")))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadName(format!("report of {task}: {e}")))
    }

    /// The run's `report.json`, as JSON.
    pub fn run_report(&self, run: &RunDir) -> Result<serde_json::Value, StoreError> {
        let bytes = run.read(Path::new("report.json")).map_err(|_| StoreError::NotFound("no report yet".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadName(format!("report.json: {e}")))
    }

    /// The regular files below `artifacts/` (links and special files are not
    /// listed), with the number of entries left out: names that are not
    /// UTF-8 (they cannot be named in a URL), deeper than [`MAX_DEPTH`], or
    /// past [`MAX_ARTIFACTS`]. The page says how many, so nothing is hidden
    /// silently.
    pub fn artifacts(&self, run: &RunDir) -> Result<(Vec<Artifact>, u64), StoreError> {
        let mut out = Vec::new();
        let mut omitted = 0;
        let Ok(root) = at::open_dir(run.fd(), Path::new("artifacts")) else { return Ok((out, 0)) };
        walk(&root, PathBuf::new(), &mut out, &mut omitted, 0)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((out, omitted))
    }

    /// Open artifact `rel` (a path below `artifacts/`) for download.
    pub fn artifact(&self, run: &RunDir, rel: &str) -> Result<(std::fs::File, u64), StoreError> {
        let rel = artifact_path(rel)?;
        let f = at::open_read(run.fd(), &Path::new("artifacts").join(&rel))
            .map_err(|e| StoreError::NotFound(format!("artifact {}: {e}", rel.display())))?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            return Err(StoreError::NotFound(format!("artifact {}: not a file", rel.display())));
        }
        Ok((f, meta.len()))
    }
}

/// Open a task's log (`None`: it has none yet).
pub fn open_log(run: &RunDir, task: &str) -> Result<Option<std::fs::File>, StoreError> {
    match at::open_read(run.fd(), &run.log_rel(task)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Bytes `offset..offset+limit` of a task's log (`limit` at most 1 MiB).
pub fn read_log(run: &RunDir, task: &str, offset: u64, limit: u64) -> Result<LogRange, StoreError> {
    match open_log(run, task)? {
        Some(mut f) => read_log_from(&mut f, offset, limit),
        None => Ok(LogRange { offset, next: offset, size: 0, text: String::new() }),
    }
}

/// [`read_log`] from an open log. A trailing incomplete UTF-8 sequence is
/// held back until the rest of it is written.
pub fn read_log_from(f: &mut std::fs::File, offset: u64, limit: u64) -> Result<LogRange, StoreError> {
    let size = f.metadata()?.len();
    let start = offset.min(size);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(limit.min(1 << 20)).read_to_end(&mut buf)?;
    // Never split a UTF-8 sequence: stop before an incomplete one at the end.
    let cut = utf8_boundary(&buf);
    buf.truncate(cut);
    Ok(LogRange { offset: start, next: start + buf.len() as u64, size, text: String::from_utf8_lossy(&buf).into() })
}

/// A requested artifact path as plain components: no root, `..`, `.`, empty
/// or NUL component, at most 4096 bytes.
pub fn artifact_path(rel: &str) -> Result<PathBuf, StoreError> {
    let bad = || StoreError::BadName(format!("not an artifact path: {rel:?}"));
    if rel.is_empty() || rel.len() > 4096 || rel.contains('\0') || rel.contains('\\') {
        return Err(bad());
    }
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            _ => return Err(bad()),
        }
    }
    if out.as_os_str().is_empty() || rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad());
    }
    Ok(out)
}

/// Directories below `artifacts/` that are listed, at most.
pub const MAX_DEPTH: usize = 32;
/// Files listed, at most.
pub const MAX_ARTIFACTS: usize = 10_000;

fn walk(
    dir: &std::os::fd::OwnedFd,
    rel: PathBuf,
    out: &mut Vec<Artifact>,
    omitted: &mut u64,
    depth: usize,
) -> Result<(), StoreError> {
    use nix::dir::{Dir, Type};
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let d = Dir::openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(std::io::Error::from)?;
    let mut entries = Vec::new();
    for e in d.into_iter().flatten() {
        let raw = e.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        match std::str::from_utf8(raw) {
            Ok(name) if !name.contains('\\') => entries.push((name.to_string(), e.file_type())),
            _ => *omitted += 1,
        }
    }
    for (name, ty) in entries {
        let child = rel.join(&name);
        match ty {
            Some(Type::Directory) if depth >= MAX_DEPTH => *omitted += 1,
            Some(Type::Directory) => {
                if let Ok(sub) = at::open_dir(dir, Path::new(&name)) {
                    walk(&sub, child, out, omitted, depth + 1)?;
                }
            }
            Some(Type::File) if out.len() >= MAX_ARTIFACTS => *omitted += 1,
            Some(Type::File) => {
                if let Ok(m) = nix::sys::stat::fstatat(dir, name.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
                    out.push(Artifact { path: child.to_string_lossy().into_owned(), size: m.st_size as u64 });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The length of `buf` without an incomplete UTF-8 sequence at its end.
fn utf8_boundary(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=3.min(n) {
        let b = buf[n - back];
        if b & 0xC0 == 0xC0 {
            // A lead byte: complete if enough continuation bytes follow.
            let need = if b >= 0xF0 {
                4
            } else if b >= 0xE0 {
                3
            } else {
                2
            };
            return if back >= need { n } else { n - back };
        }
        if b & 0x80 == 0 {
            return n;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_cannot_leave_the_artifacts() {
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "a//b", "./a", "a/.", "a\0b", "a\\..\\b"] {
            assert!(artifact_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(artifact_path("t/out.txt").unwrap(), PathBuf::from("t/out.txt"));
    }

    #[test]
    fn a_log_range_never_splits_a_character() {
        assert_eq!(utf8_boundary("aé".as_bytes()), 3);
        assert_eq!(utf8_boundary(&"aé".as_bytes()[..2]), 1);
        assert_eq!(utf8_boundary(&"a€".as_bytes()[..3]), 1);
        assert_eq!(utf8_boundary("a€".as_bytes()), 4);
    }
}
