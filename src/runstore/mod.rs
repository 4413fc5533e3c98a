//! Run directories (`runs/<run_id>/`): where a run's plan, checkpoint, logs,
//! artifacts and reports live (CONTRACTS.md §4).
//!
//! Guarantees: run ids are sortable UTC time plus a random suffix and are
//! checked before they become paths (no traversal); a new run directory is
//! created exclusively (never shared with another run); every state file is
//! written atomically ([`write_atomic`]).

pub mod checkpoint;
pub mod fingerprint;
pub mod index;
pub mod lock;

use std::io;
use std::path::{Path, PathBuf};

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

/// The files of one run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run id.
    pub id: String,
    /// `runs/<id>` (absolute).
    pub path: PathBuf,
}

impl RunDir {
    /// Create a fresh run directory under `runs_dir` (exclusively).
    pub fn create(runs_dir: &Path) -> Result<RunDir, RunStoreError> {
        std::fs::create_dir_all(runs_dir).map_err(io_at(runs_dir))?;
        for _ in 0..16 {
            let id = new_run_id();
            let path = runs_dir.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let dir = RunDir { id, path };
                    for sub in [dir.logs(), dir.artifacts(), dir.reports()] {
                        std::fs::create_dir(&sub).map_err(io_at(&sub))?;
                    }
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(RunStoreError::Io { path, source: e }),
            }
        }
        Err(RunStoreError::Io { path: runs_dir.to_path_buf(), source: io::Error::other("no free run id") })
    }

    /// Open an existing run directory.
    pub fn open(runs_dir: &Path, id: &str) -> Result<RunDir, RunStoreError> {
        if !is_run_id(id) {
            return Err(RunStoreError::BadId(id.to_string()));
        }
        let path = runs_dir.join(id);
        if !path.join(checkpoint::SNAPSHOT).is_file() {
            return Err(RunStoreError::NoSuchRun { id: id.to_string(), dir: runs_dir.to_path_buf() });
        }
        Ok(RunDir { id: id.to_string(), path })
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

/// Replace a file atomically (temp file + rename) without forcing it to disk:
/// readers never see a half-written file, but a power loss may lose it. For
/// files that a durable record (the checkpoint) supersedes.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_in_parent(path, data, false)
}

/// Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_in_parent(path, data, true)
}

/// The parent directory is opened by path (links in it are followed: callers
/// whose path a task could have changed use [`crate::sandbox::outfile::OutFile`],
/// opened before the task ran); the file itself goes through
/// [`crate::sandbox::outfile::write_at`].
fn write_in_parent(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{}: not a file name", path.display())))?;
    let dir: std::os::fd::OwnedFd = match std::fs::File::open(dir) {
        Ok(d) => d.into(),
        // Search permission only: an O_PATH descriptor still names it (no fsync).
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?,
        Err(e) => return Err(e),
    };
    crate::sandbox::outfile::write_at(std::os::fd::AsFd::as_fd(&dir), name, data, durable)
}

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
