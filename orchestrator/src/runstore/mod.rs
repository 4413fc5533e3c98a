//! Run directories (`runs/<run_id>/`): where a run's plan, checkpoint, logs,
//! artifacts and reports live (CONTRACTS.md §4).
//!
//! Guarantees: run ids are sortable UTC time plus a random suffix and are
//! checked before they become paths (no traversal); a new run directory is
//! created exclusively (never shared with another run); every state file is
//! written atomically.
//!
//! Links: a [`RunDir`] holds a descriptor of its directory, opened before any
//! task runs, and everything in it is written and read through [`at`]
//! relative to that descriptor, never by path: a symlink planted in the run
//! directory or swapped in for one of its parents is never followed. When
//! the runs directory lies inside the workspace, the part of its path below
//! the workspace is opened without following any link ([`RunsDir::open`]), so a
//! link a task left there in an earlier run is refused (exit 1) rather than
//! followed. Writers that only know a path (the CI reports) run after every
//! task ended and first check [`RunDir::intact`].

pub mod at;
pub mod checkpoint;
pub mod compare;
pub mod control;
pub mod fingerprint;
pub mod index;
pub mod journal;
pub mod lock;
pub mod prune;
pub mod tree;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default runs directory, relative to the working directory.
pub const DEFAULT_RUNS_DIR: &str = "runs";

/// Errors of the run store.
#[derive(Debug, thiserror::Error)]
pub enum RunStoreError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A run id that is not of the form `20261124T143025Z-7f3a`.
    #[error("invalid run id {0:?} (expected e.g. 20261124T143025Z-7f3a)")]
    BadId(String),
    /// No such run.
    #[error("no run {id} in {dir}")]
    NoSuchRun {
        /// The id.
        id: String,
        /// The runs directory.
        dir: PathBuf,
    },
    /// A corrupted or unreadable checkpoint.
    #[error("{0}")]
    Corrupt(String),
    /// Another orchestra process holds the run.
    #[error("run {id} is in progress (orchestra pid {pid} holds {lock})")]
    Busy {
        /// The run id.
        id: String,
        /// The holder's pid, as it wrote it.
        pid: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The run directory's path no longer leads to the directory the run opened.
    #[error(
        "the run directory {} was moved or replaced while tasks ran (a parent of it lies where tasks can write); its files stay in the directory the run opened",
        .0.display()
    )]
    Moved(PathBuf),
    /// The run index.
    #[error("run index {path}: {message}")]
    Index {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Attach a path to an I/O error.
pub fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RunStoreError + '_ {
    move |source| RunStoreError::Io { path: path.to_path_buf(), source }
}

/// A new run id: `YYYYMMDDTHHMMSSZ-xxxx`.
pub fn new_run_id() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    let mut b = [0u8; 2];
    let _ = getrandom::getrandom(&mut b);
    format!("{stamp}-{:02x}{:02x}", b[0], b[1])
}

/// Whether `id` has the run-id shape (so it is safe as a path component).
pub fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 21
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The runs directory, opened.
#[derive(Debug, Clone)]
pub struct RunsDir {
    /// Its path (absolute).
    pub path: PathBuf,
    fd: Arc<OwnedFd>,
}

impl RunsDir {
    /// Open (creating if needed) the runs directory `path`. When it lies inside
    /// `workspace`, every component below the workspace is created and opened
    /// without following a link: a link there (which a task may have left) is
    /// refused. Outside the workspace the path is the user's own and is
    /// followed as given.
    pub fn open(path: &Path, workspace: Option<&Path>) -> Result<RunsDir, RunStoreError> {
        let below = workspace.and_then(|ws| path.strip_prefix(ws).ok().map(|rel| (ws, rel)));
        let fd = match below {
            Some((ws, rel)) if !rel.as_os_str().is_empty() => {
                let root = std::fs::File::open(ws).map_err(io_at(ws))?;
                at::create_dir_all(&root, rel).map_err(|e| RunStoreError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::other(format!(
                        "{e} (the runs directory lies in the workspace, which tasks can write)"
                    )),
                })?
            }
            _ => {
                std::fs::create_dir_all(path).map_err(io_at(path))?;
                let f = std::fs::File::open(path).map_err(io_at(path))?;
                at::open_dir(&f, Path::new(".")).map_err(io_at(path))?
            }
        };
        Ok(RunsDir { path: path.to_path_buf(), fd: Arc::new(fd) })
    }

    /// The open directory.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// The files of one run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run id.
    pub id: String,
    /// `runs/<id>` (absolute; for messages and for writers that need a path).
    pub path: PathBuf,
    /// The directory, opened before any task ran: everything goes through it.
    dir: Arc<OwnedFd>,
}

impl RunDir {
    /// Create a fresh run directory under `runs_dir` (exclusively).
    pub fn create(runs_dir: &Path) -> Result<RunDir, RunStoreError> {
        RunDir::create_in(&RunsDir::open(runs_dir, None)?)
    }

    /// Create a fresh run directory in the opened runs directory (exclusively).
    pub fn create_in(runs: &RunsDir) -> Result<RunDir, RunStoreError> {
        for _ in 0..16 {
            let id = new_run_id();
            let path = runs.path.join(&id);
            match nix::sys::stat::mkdirat(runs.fd(), id.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o755)) {
                Ok(()) => {
                    let fd = at::open_dir(runs.fd(), Path::new(&id)).map_err(io_at(&path))?;
                    let dir = RunDir { id, path, dir: Arc::new(fd) };
                    for sub in ["logs", "artifacts", "reports"] {
                        dir.create_dir(Path::new(sub))?;
                    }
                    return Ok(dir);
                }
                Err(nix::errno::Errno::EEXIST) => continue,
                Err(e) => return Err(RunStoreError::Io { path, source: e.into() }),
            }
        }
        Err(RunStoreError::Io { path: runs.path.clone(), source: io::Error::other("no free run id") })
    }

    /// Open an existing run directory.
    pub fn open(runs_dir: &Path, id: &str) -> Result<RunDir, RunStoreError> {
        if !is_run_id(id) {
            return Err(RunStoreError::BadId(id.to_string()));
        }
        let runs = match std::fs::File::open(runs_dir) {
            Ok(f) => f,
            Err(_) => return Err(RunStoreError::NoSuchRun { id: id.to_string(), dir: runs_dir.to_path_buf() }),
        };
        RunDir::open_at(&runs, runs_dir, id)
    }

    /// Open an existing run directory in the opened runs directory.
    pub fn open_in(runs: &RunsDir, id: &str) -> Result<RunDir, RunStoreError> {
        if !is_run_id(id) {
            return Err(RunStoreError::BadId(id.to_string()));
        }
        RunDir::open_at(runs.fd(), &runs.path, id)
    }

    fn open_at<Fd: std::os::fd::AsFd>(runs: Fd, runs_dir: &Path, id: &str) -> Result<RunDir, RunStoreError> {
        let missing = || RunStoreError::NoSuchRun { id: id.to_string(), dir: runs_dir.to_path_buf() };
        let fd = at::open_dir(runs, Path::new(id)).map_err(|_| missing())?;
        let dir = RunDir { id: id.to_string(), path: runs_dir.join(id), dir: Arc::new(fd) };
        if at::kind(dir.fd(), Path::new(checkpoint::SNAPSHOT)).ok().flatten() != Some(nix::sys::stat::SFlag::S_IFREG) {
            return Err(missing());
        }
        Ok(dir)
    }

    /// The open directory.
    pub fn fd(&self) -> &OwnedFd {
        &self.dir
    }

    /// Replace `rel` (relative to the run directory) with `data`; `durable` fsyncs.
    pub fn write(&self, rel: &Path, data: &[u8], durable: bool) -> Result<(), RunStoreError> {
        at::write_replace(self.fd(), rel, data, durable).map_err(io_at(&self.path.join(rel)))
    }

    /// Open `rel` for appending (created if missing).
    pub fn append(&self, rel: &Path) -> Result<std::fs::File, RunStoreError> {
        at::open_append(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Create `rel` anew for writing.
    pub fn create_file(&self, rel: &Path) -> Result<std::fs::File, RunStoreError> {
        at::create(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Open `rel` for reading (a regular file, never through a link).
    pub fn open_read(&self, rel: &Path) -> Result<std::fs::File, RunStoreError> {
        at::open_read(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Read `rel`.
    pub fn read(&self, rel: &Path) -> Result<Vec<u8>, RunStoreError> {
        at::read(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Create the directory `rel` and its parents.
    pub fn create_dir(&self, rel: &Path) -> Result<OwnedFd, RunStoreError> {
        at::create_dir_all(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Remove the file `rel` (absent is fine).
    pub fn remove(&self, rel: &Path) -> Result<(), RunStoreError> {
        at::remove(self.fd(), rel).map_err(io_at(&self.path.join(rel)))
    }

    /// Whether [`RunDir::path`] still leads to this directory (no parent of it
    /// was renamed or replaced by a link): checked before anything writes by path.
    pub fn intact(&self) -> Result<(), RunStoreError> {
        let now = std::fs::File::open(&self.path).and_then(|f| at::identity(&f));
        match (now, at::identity(self.fd())) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            _ => Err(RunStoreError::Moved(self.path.clone())),
        }
    }

    /// A path to `rel` through this process's descriptor of the run directory
    /// (`/proc/self/fd/N/rel`), for readers that take a path: a renamed or
    /// replaced parent of the run directory does not change where it leads.
    pub fn via_fd(&self, rel: &Path) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.fd().as_raw_fd())).join(rel)
    }

    /// `logs/<task>.log`, relative to the run directory.
    pub fn log_rel(&self, task: &str) -> PathBuf {
        PathBuf::from("logs").join(format!("{task}.log"))
    }

    /// `reports/<task>.json`, relative to the run directory.
    pub fn task_report_rel(&self, task: &str) -> PathBuf {
        PathBuf::from("reports").join(format!("{task}.json"))
    }

    /// `plan.yaml`: the plan as executed.
    pub fn plan(&self) -> PathBuf {
        self.path.join("plan.yaml")
    }
    /// `logs/`.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }
    /// `logs/<task>.log`.
    pub fn log(&self, task: &str) -> PathBuf {
        self.logs().join(format!("{task}.log"))
    }
    /// `artifacts/`.
    pub fn artifacts(&self) -> PathBuf {
        self.path.join("artifacts")
    }
    /// `reports/` (one sandbox report per task).
    pub fn reports(&self) -> PathBuf {
        self.path.join("reports")
    }
    /// `reports/<task>.json`.
    pub fn task_report(&self, task: &str) -> PathBuf {
        self.reports().join(format!("{task}.json"))
    }
    /// `report.json`.
    pub fn report_json(&self) -> PathBuf {
        self.path.join("report.json")
    }
    /// `report.md`.
    pub fn report_md(&self) -> PathBuf {
        self.path.join("report.md")
    }
}

/// All run ids under `runs_dir`, oldest first.
pub fn list_ids(runs_dir: &Path) -> Result<Vec<String>, RunStoreError> {
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(runs_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(RunStoreError::Io { path: runs_dir.to_path_buf(), source: e }),
    };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_run_id(&name) && entry.path().join(checkpoint::SNAPSHOT).is_file() {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

pub use crate::sandbox::outfile::{write_atomic, write_replace};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_sortable_and_checked() {
        let id = new_run_id();
        assert!(is_run_id(&id), "{id}");
        assert!(is_run_id("20261124T143025Z-7f3a"));
        for bad in ["../x", "20261124T143025Z-7f3", "20261124T143025Z-7F3A", "20261124T143025Z/7f3a", ""] {
            assert!(!is_run_id(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(RunDir::open(dir.path(), "../../etc"), Err(RunStoreError::BadId(_))));
    }
}
