//! Removing old runs (`orchestra runs prune`): which runs go ([`select`]),
//! and removing them safely ([`prune`]).
//!
//! Guarantees:
//! - Only run directories are candidates: entries of the runs directory
//!   named like a run id that are real directories (not links) holding a
//!   `checkpoint.json`. Nothing else there is touched: not the index's
//!   files, not a link (even one named like a run), not an audit log kept
//!   beside the runs.
//! - A run in progress is never removed: its lock ([`super::lock`]) is taken,
//!   exclusively and without waiting, before anything else, and held until
//!   the run is gone, so no `resume` starts on it meanwhile. A run whose lock
//!   is held is skipped and said so.
//! - Nothing outside the run directory is removed: the directory is removed
//!   through descriptors, never through a link ([`super::tree`]), and never
//!   across a mount point.
//! - The audit log is never removed: a run directory that is, or holds, an
//!   audit log directory (the one given, or the one any run recorded) or the
//!   signing key is left whole and reported (exit 1).
//! - Crash-safe: the run's index rows go first (one transaction), then the
//!   directory is renamed to `.pruning-<id>` in the runs directory (atomic, and
//!   made durable with an fsync of the runs directory: from then on nothing
//!   finds the run), then the renamed tree is removed. A crash leaves either
//!   the whole run, which the index lists again at its next refresh, or a
//!   `.pruning-*` directory that the next prune removes first. The index never
//!   names a removed run: besides the order above, a refresh forgets the rows
//!   of runs whose directory is gone ([`super::index::Index::refresh`]).

use super::checkpoint::{self, RunStatus};
use super::index::Index;
use super::tree::{self, Guard, TreeError};
use super::{RunDir, RunStoreError, at, is_run_id, lock};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of a run directory being removed.
pub const TOMBSTONE: &str = ".pruning-";

/// Which runs go. Both set: a run goes when it is outside the newest `keep`
/// *and* older than `older_than`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rule {
    /// Remove runs whose last session started longer ago than this.
    pub older_than: Option<Duration>,
    /// Keep the newest this many runs (by creation time).
    pub keep: Option<usize>,
}

/// How to prune.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which runs go.
    pub rule: Rule,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
    /// Paths never removed, nor any run directory holding them (the audit
    /// log directory, the signing key); those that exist count.
    pub protect: Vec<PathBuf>,
    /// The present (ages are counted to it).
    pub now: SystemTime,
}

/// A run, as the selection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The run id.
    pub run_id: String,
    /// When its last session started (its creation, or its latest resume).
    pub started: SystemTime,
}

/// The indices into `newest_first` (candidates sorted newest first) of the
/// runs that `rule` removes. A rule with neither bound removes nothing.
pub fn select(newest_first: &[Candidate], rule: Rule, now: SystemTime) -> Vec<usize> {
    if rule.older_than.is_none() && rule.keep.is_none() {
        return Vec::new();
    }
    newest_first
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            let beyond_keep = rule.keep.is_none_or(|k| *i >= k);
            let old = rule.older_than.is_none_or(|d| now.duration_since(c.started).is_ok_and(|age| age > d));
            beyond_keep && old
        })
        .map(|(i, _)| i)
        .collect()
}

/// A run removed (or, with `dry_run`, that would be).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Removed {
    /// The run id.
    pub run_id: String,
    /// Its status (`abandoned` for a run marked running that no process holds).
    pub status: String,
    /// When its last session started (RFC 3339).
    pub started_at: String,
    /// Its age, seconds.
    pub age_s: u64,
}

/// A selected run left in place, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The run id (or the entry's name).
    pub run_id: String,
    /// Why it stays.
    pub reason: String,
}

/// What a prune did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// Nothing was removed.
    pub dry_run: bool,
    /// Runs removed (or that would be).
    pub removed: Vec<Removed>,
    /// Runs in progress, and entries that look like runs but are not.
    pub skipped: Vec<Skipped>,
    /// Runs that could not be removed (each left whole or as `.pruning-<id>`).
    pub failed: Vec<Skipped>,
    /// Runs the rule keeps.
    pub kept: usize,
    /// Leftovers of an interrupted prune (`.pruning-*`) removed first.
    pub leftovers: Vec<String>,
}

/// Why a prune could not start.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// No runs directory.
    #[error("no runs directory at {} (see --runs-dir)", .0.display())]
    NoRunsDir(PathBuf),
    /// The runs directory or the index.
    #[error(transparent)]
    Store(#[from] RunStoreError),
}

/// A run directory found, with what the selection and the report need.
/// (No descriptor is kept: a runs directory may hold more runs than a process may open files.)
struct Found {
    id: String,
    status: String,
    /// Creation (the checkpoint's, to the millisecond; else the run id's, to the second).
    created: SystemTime,
    started: SystemTime,
    audit_dir: Option<PathBuf>,
}

/// Prune the runs directory `runs_dir` by `opts` (see the module's guarantees).
pub fn prune(runs_dir: &Path, opts: &Options) -> Result<Outcome, PruneError> {
    let runs = match std::fs::File::open(runs_dir) {
        Ok(f) => at::open_dir(&f, Path::new(".")).map_err(super::io_at(runs_dir))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PruneError::NoRunsDir(runs_dir.into())),
        Err(e) => return Err(RunStoreError::Io { path: runs_dir.into(), source: e }.into()),
    };
    let dev = at::identity(&runs).map_err(super::io_at(runs_dir))?.0;
    let mut out = Outcome {
        dry_run: opts.dry_run,
        removed: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        kept: 0,
        leftovers: Vec::new(),
    };
    let (mut found, names) = scan(&runs, runs_dir, &mut out.skipped)?;
    let mut guard = Guard { dev, protected: Vec::new() };
    let protect = opts.protect.iter().cloned().chain(found.iter().filter_map(|f| f.audit_dir.clone()));
    for p in protect {
        if let Ok(m) = std::fs::metadata(&p) {
            use std::os::unix::fs::MetadataExt;
            guard.protected.push((m.dev(), m.ino()));
        }
    }
    if !opts.dry_run {
        for name in names.iter().filter(|n| n.starts_with(TOMBSTONE)) {
            let path = runs_dir.join(name);
            match tree::remove(&runs, OsStr::new(name), &path, &guard) {
                Ok(()) => out.leftovers.push(name.clone()),
                Err(e) => out.failed.push(Skipped { run_id: name.clone(), reason: e.to_string() }),
            }
        }
    }
    found.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    let candidates: Vec<Candidate> =
        found.iter().map(|f| Candidate { run_id: f.id.clone(), started: f.started }).collect();
    let chosen = select(&candidates, opts.rule, opts.now);
    out.kept = found.len() - chosen.len();
    // Opened before anything is removed: a run whose row cannot be dropped is not removed.
    let mut index = if opts.dry_run || chosen.is_empty() { None } else { Some(Index::open(runs_dir)?) };
    for i in chosen {
        let f = &found[i];
        let removed = Removed {
            run_id: f.id.clone(),
            status: f.status.clone(),
            started_at: humantime::format_rfc3339_seconds(f.started).to_string(),
            age_s: opts.now.duration_since(f.started).map(|d| d.as_secs()).unwrap_or(0),
        };
        let result = match (RunDir::open_at(&runs, runs_dir, &f.id), index.as_mut()) {
            (Err(e), _) => Err(Refusal::Failed(e.to_string())),
            (Ok(run), None) if lock::is_held_in(&run) => Err(Refusal::Busy(busy(&run))),
            (Ok(_), None) => Ok(()),
            (Ok(run), Some(ix)) => remove_run(&runs, &run, ix, &guard),
        };
        match result {
            Ok(()) => out.removed.push(removed),
            Err(Refusal::Busy(reason)) => out.skipped.push(Skipped { run_id: f.id.clone(), reason }),
            Err(Refusal::Failed(reason)) => out.failed.push(Skipped { run_id: f.id.clone(), reason }),
        }
    }
    Ok(out)
}

fn busy(run: &RunDir) -> String {
    format!("in progress (its lock {} is held)", run.path.join(lock::LOCK).display())
}

/// Why one selected run stays.
enum Refusal {
    /// In progress: skipped.
    Busy(String),
    /// Could not be removed: a failure.
    Failed(String),
}

/// The run directories of the runs directory (and every name in it). Entries
/// named like a run that are not one are reported in `skipped`.
fn scan(runs: &OwnedFd, runs_dir: &Path, skipped: &mut Vec<Skipped>) -> Result<(Vec<Found>, Vec<String>), PruneError> {
    let mut names = Vec::new();
    let mut d = nix::dir::Dir::from_fd(runs.try_clone().map_err(super::io_at(runs_dir))?)
        .map_err(|e| super::io_at(runs_dir)(e.into()))?;
    for entry in d.iter() {
        let entry = entry.map_err(|e| super::io_at(runs_dir)(e.into()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    let mut found = Vec::new();
    for name in names.iter().filter(|n| is_run_id(n)) {
        let kind = fstatat(runs, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map(|st| SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()));
        match kind {
            Ok(SFlag::S_IFDIR) => {}
            Ok(SFlag::S_IFLNK) => {
                skipped.push(Skipped {
                    run_id: name.clone(),
                    reason: "a symbolic link, not a run directory: neither followed nor removed".into(),
                });
                continue;
            }
            Err(Errno::ENOENT) => continue,
            _ => {
                skipped.push(Skipped { run_id: name.clone(), reason: "not a directory: left alone".into() });
                continue;
            }
        }
        let Ok(run) = RunDir::open_at(runs, runs_dir, name) else {
            skipped.push(Skipped { run_id: name.clone(), reason: "no checkpoint.json (not a run): left alone".into() });
            continue;
        };
        let id_time = id_time(name);
        let (status, created, started, audit_dir) = match checkpoint::load_in(&run) {
            Ok(cp) => {
                let status = if cp.status == RunStatus::Running && !lock::is_held_in(&run) {
                    "abandoned".to_string()
                } else {
                    cp.status.as_str().to_string()
                };
                let created = humantime::parse_rfc3339_weak(&cp.created_at).unwrap_or(id_time);
                let started = humantime::parse_rfc3339_weak(&cp.session_started_at).unwrap_or(created);
                (status, created, started, Some(cp.settings.audit_dir))
            }
            Err(_) => ("unreadable".to_string(), id_time, id_time, None),
        };
        found.push(Found { id: name.clone(), status, created, started, audit_dir });
    }
    Ok((found, names))
}

/// The creation time a run id spells (`20261124T143025Z-7f3a`); the epoch if
/// it spells none.
fn id_time(id: &str) -> SystemTime {
    let b = id.as_bytes();
    let text = |r: std::ops::Range<usize>| id.get(r).unwrap_or("00");
    if b.len() < 15 {
        return SystemTime::UNIX_EPOCH;
    }
    let iso =
        format!("{}-{}-{}T{}:{}:{}Z", text(0..4), text(4..6), text(6..8), text(9..11), text(11..13), text(13..15));
    humantime::parse_rfc3339(&iso).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Remove one run: lock, check, index row, rename, fsync, remove.
fn remove_run(runs: &OwnedFd, run: &RunDir, index: &mut Index, guard: &Guard) -> Result<(), Refusal> {
    let held = match lock::acquire_in(run) {
        Ok(l) => l,
        Err(RunStoreError::Busy { .. }) => return Err(Refusal::Busy(busy(run))),
        Err(e) => return Err(Refusal::Failed(e.to_string())),
    };
    let failed = |e: &dyn std::fmt::Display| Refusal::Failed(e.to_string());
    tree::check(run.fd(), &run.path, guard).map_err(|e| failed(&e))?;
    index.remove(&run.id).map_err(|e| failed(&e))?;
    let tomb = format!("{TOMBSTONE}{}", run.id);
    let tomb_path = run.path.with_file_name(&tomb);
    rename_away(runs, &run.id, &tomb, &tomb_path, guard).map_err(|e| failed(&e))?;
    // The rename is what makes the run gone: durable before the tree goes.
    nix::unistd::fsync(runs).map_err(|e| failed(&std::io::Error::from(e)))?;
    let result = tree::remove(runs, OsStr::new(&tomb), &tomb_path, guard).map_err(|e| failed(&e));
    drop(held);
    result
}

/// Rename `id` to `tomb` (replacing nothing; a leftover of the same name is removed first).
fn rename_away(runs: &OwnedFd, id: &str, tomb: &str, tomb_path: &Path, guard: &Guard) -> Result<(), TreeError> {
    let rename = || nix::fcntl::renameat2(runs, id, runs, tomb, nix::fcntl::RenameFlags::RENAME_NOREPLACE);
    match rename() {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => {
            tree::remove(runs, OsStr::new(tomb), tomb_path, guard)?;
            rename().map_err(|e| TreeError::Io { path: tomb_path.into(), source: e.into() })
        }
        Err(e) => Err(TreeError::Io { path: tomb_path.into(), source: e.into() }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run directory with a minimal checkpoint (one task), in `runs`.
    pub(crate) fn fake_run(runs: &Path, id: &str) -> PathBuf {
        let dir = runs.join(id);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let t = id_time(id);
        let at = humantime::format_rfc3339_seconds(t).to_string();
        let cp = serde_json::json!({
            "version": checkpoint::VERSION, "run_id": id, "plan_sha256": "0",
            "source": {"plan_file": "/p.yaml"},
            "settings": {"workdir": "/w", "concurrency": 1, "audit_dir": runs.join("audit")},
            "status": "succeeded", "exit_code": 0, "created_at": at, "session_started_at": at, "sessions": 1,
            "tasks": {"t": {"state": "succeeded", "attempts": 1, "wall_ms": 1}},
        });
        std::fs::write(dir.join(checkpoint::SNAPSHOT), cp.to_string()).unwrap();
        std::fs::write(dir.join("logs/t.log"), "out\n").unwrap();
        dir
    }

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    fn cands(times: &[&str]) -> Vec<Candidate> {
        times.iter().enumerate().map(|(i, t)| Candidate { run_id: format!("r{i}"), started: at(t) }).collect()
    }

    #[test]
    fn keep_and_older_than_each_bound_and_together_both_must_agree() {
        let now = at("2026-12-10T00:00:00Z");
        // Newest first: 1 day, 5 days, 10 days, 20 days old.
        let c =
            cands(&["2026-12-09T00:00:00Z", "2026-12-05T00:00:00Z", "2026-11-30T00:00:00Z", "2026-11-20T00:00:00Z"]);
        let day = Duration::from_secs(86_400);
        assert_eq!(select(&c, Rule::default(), now), Vec::<usize>::new(), "no bound removes nothing");
        assert_eq!(select(&c, Rule { keep: Some(1), older_than: None }, now), [1, 2, 3]);
        assert_eq!(select(&c, Rule { keep: Some(0), older_than: None }, now), [0, 1, 2, 3]);
        assert_eq!(select(&c, Rule { keep: Some(9), older_than: None }, now), Vec::<usize>::new());
        assert_eq!(select(&c, Rule { keep: None, older_than: Some(7 * day) }, now), [2, 3]);
        assert_eq!(select(&c, Rule { keep: Some(3), older_than: Some(7 * day) }, now), [3]);
        // A run from the future (clock change) is never older than anything.
        let future = cands(&["2027-01-01T00:00:00Z"]);
        assert_eq!(select(&future, Rule { keep: None, older_than: Some(day) }, now), Vec::<usize>::new());
    }

    #[test]
    fn run_ids_spell_their_creation_time() {
        assert_eq!(id_time("20261124T143025Z-7f3a"), at("2026-11-24T14:30:25Z"));
        assert_eq!(id_time("x"), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn prune_removes_the_directory_and_the_index_rows_and_finishes_a_crashed_prune() {
        let runs = tempfile::tempdir().unwrap();
        let old = fake_run(runs.path(), "20200101T000000Z-aaaa");
        let new = fake_run(runs.path(), "20260101T000000Z-bbbb");
        let mut ix = Index::open(runs.path()).unwrap();
        ix.refresh().unwrap();
        // What a prune killed after its rename leaves behind.
        std::fs::create_dir_all(runs.path().join(".pruning-20190101T000000Z-cccc/logs")).unwrap();
        let opts = |dry_run| Options {
            rule: Rule { keep: Some(1), older_than: None },
            dry_run,
            protect: Vec::new(),
            now: SystemTime::now(),
        };
        let dry = prune(runs.path(), &opts(true)).unwrap();
        assert_eq!(dry.removed.len(), 1);
        assert!(old.is_dir() && runs.path().join(".pruning-20190101T000000Z-cccc").is_dir(), "dry run");
        let done = prune(runs.path(), &opts(false)).unwrap();
        assert_eq!(done.removed[0].run_id, "20200101T000000Z-aaaa");
        assert_eq!(done.leftovers, [".pruning-20190101T000000Z-cccc"]);
        assert!(done.failed.is_empty(), "{:?}", done.failed);
        assert!(!old.exists() && new.is_dir());
        // The index forgot it without a refresh.
        let rows: Vec<String> = ix.runs().unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(rows, ["20260101T000000Z-bbbb"]);
        let left: Vec<String> =
            std::fs::read_dir(runs.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!left.iter().any(|n| n.starts_with(TOMBSTONE)), "{left:?}");
    }

    #[test]
    fn a_run_holding_the_audit_log_is_left_whole() {
        let runs = tempfile::tempdir().unwrap();
        let old = fake_run(runs.path(), "20200101T000000Z-aaaa");
        std::fs::create_dir_all(old.join("audit")).unwrap();
        std::fs::write(old.join("audit/segment"), "records").unwrap();
        let opts = Options {
            rule: Rule { keep: Some(0), older_than: None },
            dry_run: false,
            protect: vec![old.join("audit")],
            now: SystemTime::now(),
        };
        let out = prune(runs.path(), &opts).unwrap();
        assert!(out.removed.is_empty());
        assert_eq!(out.failed.len(), 1, "{out:?}");
        assert!(old.join("audit/segment").is_file() && old.join(checkpoint::SNAPSHOT).is_file());
    }
}
