//! The run index (`runs/index.sqlite`): runs and tasks for listing and comparison.
//!
//! Guarantees: none of the index's files is opened when it is a symbolic link
//! or anything but a regular file; the index is a cache of the run directories' checkpoints, never
//! the source of truth: a missing or outdated row is rebuilt from the
//! checkpoint on read ([`Index::refresh`]), so deleting the database loses
//! nothing. Writes are single transactions (a crash of orchestra leaves the
//! old rows). Being a cache it is never forced to disk (`synchronous=OFF`,
//! which costs a run a dozen fsyncs less); an index that a power loss left
//! unreadable is deleted and rebuilt at the next open.

use super::checkpoint::{Checkpoint, TaskState};
use super::{RunStoreError, checkpoint, list_ids, lock};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

/// The database file name, in the runs directory.
pub const FILE: &str = "index.sqlite";

/// One run, as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// Creation time.
    pub created_at: String,
    /// Run status (`running`, `succeeded`, `failed`, `interrupted`; `abandoned`
    /// for a run marked running whose orchestra process is gone).
    pub status: String,
    /// The run's exit code, once ended.
    pub exit_code: Option<u8>,
    /// Intent or plan file.
    pub source: String,
    /// Number of tasks.
    pub tasks: u32,
    /// Tasks that succeeded.
    pub succeeded: u32,
    /// Tasks that failed, timed out or violated their policy.
    pub failed: u32,
    /// Tasks skipped or cancelled.
    pub not_run: u32,
    /// Sum of the tasks' wall times, milliseconds.
    pub task_ms: u64,
}

/// One task of a run, as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskRow {
    /// Task id.
    pub task_id: String,
    /// State.
    pub state: String,
    /// Attempts.
    pub attempts: u32,
    /// Cause.
    pub cause: Option<String>,
    /// Exit status.
    pub exit_status: Option<i32>,
    /// Wall time, ms.
    pub wall_ms: u64,
    /// Violated rules, comma-separated.
    pub rules: String,
}

/// The open index.
#[derive(Debug)]
pub struct Index {
    conn: Connection,
    path: PathBuf,
    runs_dir: PathBuf,
}

impl Index {
    /// Open (creating if needed) the index of `runs_dir`; a corrupted one is
    /// deleted and created anew (it is a cache).
    pub fn open(runs_dir: &Path) -> Result<Index, RunStoreError> {
        std::fs::create_dir_all(runs_dir).map_err(super::io_at(runs_dir))?;
        let path = runs_dir.join(FILE);
        // SQLite opens by path: none of its files may be a link (a task that
        // once saw the runs directory could have left one to a host file).
        let dir = std::fs::File::open(runs_dir).map_err(super::io_at(runs_dir))?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let name = format!("{FILE}{suffix}");
            let kind = super::at::kind(&dir, Path::new(&name)).map_err(super::io_at(&runs_dir.join(&name)))?;
            if kind.is_some_and(|k| k != nix::sys::stat::SFlag::S_IFREG) {
                return Err(RunStoreError::Index {
                    path: runs_dir.join(&name),
                    message: "not a regular file (a link?); not opened".into(),
                });
            }
        }
        let err = |e: rusqlite::Error| RunStoreError::Index { path: path.clone(), message: e.to_string() };
        match Index::open_once(runs_dir, &path) {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
            {
                tracing::warn!("runs index {}: {e}; rebuilding it from the checkpoints", path.display());
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(runs_dir.join(format!("{FILE}{suffix}")));
                }
                Index::open_once(runs_dir, &path).map_err(err)
            }
            other => other.map_err(err),
        }
    }

    fn open_once(runs_dir: &Path, path: &Path) -> Result<Index, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=OFF;
             CREATE TABLE IF NOT EXISTS runs (
               run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
               exit_code INTEGER, source TEXT NOT NULL, tasks INTEGER NOT NULL,
               succeeded INTEGER NOT NULL, failed INTEGER NOT NULL, not_run INTEGER NOT NULL,
               task_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tasks (
               run_id TEXT NOT NULL, task_id TEXT NOT NULL, state TEXT NOT NULL,
               attempts INTEGER NOT NULL, cause TEXT, exit_status INTEGER, wall_ms INTEGER NOT NULL,
               fingerprint TEXT, rules TEXT NOT NULL, PRIMARY KEY (run_id, task_id));",
        )?;
        Ok(Index { conn, path: path.to_path_buf(), runs_dir: runs_dir.to_path_buf() })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RunStoreError + '_ {
        move |e| RunStoreError::Index { path: self.path.clone(), message: e.to_string() }
    }

    /// Record a run's current checkpoint (one transaction).
    pub fn upsert(&mut self, cp: &Checkpoint) -> Result<(), RunStoreError> {
        let path = self.path.clone();
        let err = move |e: rusqlite::Error| RunStoreError::Index { path: path.clone(), message: e.to_string() };
        let count = |f: &dyn Fn(TaskState) -> bool| cp.tasks.values().filter(|t| f(t.state)).count() as u32;
        let source = match (&cp.source.intent, &cp.source.plan_file) {
            (Some(i), _) => format!("intent: {i}"),
            (None, Some(p)) => p.display().to_string(),
            (None, None) => "plan".to_string(),
        };
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT OR REPLACE INTO runs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                cp.run_id,
                cp.created_at,
                cp.status.as_str(),
                cp.exit_code,
                source,
                cp.tasks.len() as u32,
                count(&|s| s == TaskState::Succeeded),
                count(&|s| matches!(s, TaskState::Failed | TaskState::TimedOut | TaskState::Violation)),
                count(&|s| matches!(s, TaskState::Skipped | TaskState::Cancelled | TaskState::Pending)),
                cp.tasks.values().map(|t| t.wall_ms).sum::<u64>() as i64,
            ],
        )
        .map_err(&err)?;
        tx.execute("DELETE FROM tasks WHERE run_id = ?1", params![cp.run_id]).map_err(&err)?;
        {
            let mut stmt = tx.prepare("INSERT INTO tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").map_err(&err)?;
            for (id, t) in &cp.tasks {
                let rules = crate::sandbox::report::distinct_rules(&t.violations);
                stmt.execute(params![
                    cp.run_id,
                    id,
                    t.state.as_str(),
                    t.attempts,
                    t.cause,
                    t.exit_status,
                    t.wall_ms as i64,
                    t.fingerprint,
                    crate::sandbox::report::join_rules(&rules, ","),
                ])
                .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// Forget a run (its row and its tasks' rows, one transaction): called
    /// before its directory is removed, so the index never names a removed run.
    pub fn remove(&mut self, run_id: &str) -> Result<(), RunStoreError> {
        let path = self.path.clone();
        let err = move |e: rusqlite::Error| RunStoreError::Index { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute("DELETE FROM tasks WHERE run_id = ?1", params![run_id]).map_err(&err)?;
        tx.execute("DELETE FROM runs WHERE run_id = ?1", params![run_id]).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Bring the index up to date with the run directories: add missing runs,
    /// re-read runs that were still running, and forget runs whose directory
    /// is gone (removed by hand, or by a prune that raced a refresh or lost
    /// its last transaction to a power loss).
    pub fn refresh(&mut self) -> Result<(), RunStoreError> {
        let known: std::collections::HashMap<String, String> = {
            let mut stmt = self.conn.prepare("SELECT run_id, status FROM runs").map_err(self.err())?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(self.err())?;
            rows.collect::<Result<_, _>>().map_err(self.err())?
        };
        let present = list_ids(&self.runs_dir)?;
        for gone in known.keys().filter(|id| present.binary_search(id).is_err()) {
            self.remove(gone)?;
        }
        for id in present {
            if known.get(&id).is_some_and(|s| s != "running") {
                continue;
            }
            match checkpoint::load(&self.runs_dir.join(&id)) {
                Ok(cp) => self.upsert(&cp)?,
                Err(e) => tracing::warn!("run {id}: {e}"),
            }
        }
        Ok(())
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<RunRow>, RunStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, created_at, status, exit_code, source, tasks, succeeded, failed, not_run, task_ms
                 FROM runs ORDER BY run_id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    created_at: r.get(1)?,
                    status: r.get(2)?,
                    exit_code: r.get(3)?,
                    source: r.get(4)?,
                    tasks: r.get(5)?,
                    succeeded: r.get(6)?,
                    failed: r.get(7)?,
                    not_run: r.get(8)?,
                    task_ms: r.get::<_, i64>(9)? as u64,
                })
            })
            .map_err(self.err())?;
        let mut out: Vec<RunRow> = rows.collect::<Result<_, _>>().map_err(self.err())?;
        for row in &mut out {
            if row.status == "running" && !lock::is_held(&self.runs_dir.join(&row.run_id)) {
                row.status = "abandoned".into();
            }
        }
        Ok(out)
    }

    /// The tasks of one run, by id.
    pub fn tasks(&self, run_id: &str) -> Result<Vec<TaskRow>, RunStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT task_id, state, attempts, cause, exit_status, wall_ms, rules FROM tasks
                 WHERE run_id = ?1 ORDER BY task_id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok(TaskRow {
                    task_id: r.get(0)?,
                    state: r.get(1)?,
                    attempts: r.get(2)?,
                    cause: r.get(3)?,
                    exit_status: r.get(4)?,
                    wall_ms: r.get::<_, i64>(5)? as u64,
                    rules: r.get(6)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupted_index_is_rebuilt_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), vec![0x5au8; 8192]).unwrap();
        let ix = Index::open(dir.path()).unwrap();
        drop(ix);
        // Opened again as a valid, empty database.
        Index::open(dir.path()).unwrap();
    }

    #[test]
    fn a_removed_run_leaves_the_index_and_a_vanished_one_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let a = crate::runstore::prune::tests::fake_run(dir.path(), "20200101T000000Z-aaaa");
        let b = crate::runstore::prune::tests::fake_run(dir.path(), "20200102T000000Z-bbbb");
        let mut ix = Index::open(dir.path()).unwrap();
        ix.refresh().unwrap();
        assert_eq!(ix.runs().unwrap().len(), 2);
        ix.remove("20200101T000000Z-aaaa").unwrap();
        assert_eq!(ix.runs().unwrap().len(), 1);
        assert!(ix.tasks("20200101T000000Z-aaaa").unwrap().is_empty());
        // Its directory still there: a refresh brings it back (the index is a cache).
        ix.refresh().unwrap();
        assert_eq!(ix.runs().unwrap().len(), 2);
        // A directory gone without the index being told: the next refresh forgets it.
        std::fs::remove_dir_all(&a).unwrap();
        ix.refresh().unwrap();
        let ids: Vec<String> = ix.runs().unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["20200102T000000Z-bbbb"]);
        drop(b);
    }
}
