//! The metrics' view of every run: a background task that reads each run's
//! event journal as it grows and hands every entry to [`crate::metrics`]
//! exactly once.
//!
//! Guarantees: each journal is read from where the last pass stopped (whole
//! lines only), so an entry is counted once per dashboard process; at
//! start-up the existing entries are counted (the counters then describe
//! everything in the runs directory); a run that disappears, or whose
//! process died without a `run_finished` (its lock is free: looked at every
//! [`DEAD_CHECK`] passes), stops counting as running; a damaged journal is
//! skipped from its damaged line on (with one warning).

use crate::App;
use orchestra_orchestrator::runstore::journal;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the runs directory is looked at.
pub const PASS: Duration = Duration::from_millis(250);

/// Every this many passes, runs with a session open are checked for a living process.
pub const DEAD_CHECK: u64 = 40;

/// One run as followed.
#[derive(Debug, Default)]
struct Followed {
    /// Bytes of the journal read.
    offset: u64,
    /// The journal is damaged from `offset` on.
    broken: bool,
    /// A session started and has not finished (as the journal says).
    open: bool,
}

/// Where each run's journal was read up to.
#[derive(Debug, Default)]
struct Offsets {
    runs: HashMap<String, Followed>,
    passes: u64,
}

impl Offsets {
    fn pass(&mut self, app: &App) {
        let dir: PathBuf = app.store.dir.clone();
        let Ok(ids) = orchestra_orchestrator::runstore::list_ids(&dir) else { return };
        self.passes += 1;
        let check_dead = self.passes.is_multiple_of(DEAD_CHECK);
        self.runs.retain(|id, f| {
            let keep = ids.contains(id);
            if !keep && f.open {
                app.metrics.run_gone(id);
            }
            keep
        });
        for id in ids {
            let f = self.runs.entry(id.clone()).or_default();
            if check_dead && f.open && !orchestra_orchestrator::runstore::lock::is_held(&dir.join(&id)) {
                // Its process died without finishing (a resume starts a new session).
                app.metrics.run_gone(&id);
                f.open = false;
            }
            if f.broken {
                continue;
            }
            let path = dir.join(&id).join(journal::FILE);
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.is_file() || meta.len() <= f.offset {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(&path) else { continue };
            match journal::read_from(&mut file, f.offset, 16 << 20) {
                Ok(b) => {
                    f.offset = b.offset;
                    for e in &b.entries {
                        app.metrics.observe(&id, e);
                        match e.event {
                            journal::JournalEvent::RunStarted { .. } => f.open = true,
                            journal::JournalEvent::RunFinished { .. } => f.open = false,
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    f.broken = true;
                    tracing::warn!("run {id}: {e}: its metrics stop here");
                }
            }
        }
    }
}

/// Follow every run's journal until the process ends.
pub async fn follow(app: Arc<App>) {
    let mut offsets = Some(Offsets::default());
    loop {
        let Some(mut o) = offsets.take() else { return };
        let a = app.clone();
        match tokio::task::spawn_blocking(move || {
            o.pass(&a);
            o
        })
        .await
        {
            Ok(o) => offsets = Some(o),
            Err(_) => return,
        }
        tokio::time::sleep(PASS).await;
    }
}
