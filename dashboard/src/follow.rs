//! The metrics' view of every run: a background task that reads each run's
//! event journal as it grows and hands every entry to [`crate::metrics`]
//! exactly once.
//!
//! Guarantees: each journal is read from where the last pass stopped (whole
//! lines only), so an entry is counted once per dashboard process; at
//! start-up the existing entries are counted (the counters then describe
//! everything in the runs directory); a run that disappears is forgotten, a
//! damaged journal is skipped from its damaged line on (with one warning).

use crate::App;
use orchestra_orchestrator::runstore::journal;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the runs directory is looked at.
pub const PASS: Duration = Duration::from_millis(250);

/// Where each run's journal was read up to.
#[derive(Debug, Default)]
struct Offsets {
    runs: HashMap<String, (u64, bool)>,
}

impl Offsets {
    fn pass(&mut self, app: &App) {
        let dir: PathBuf = app.store.dir.clone();
        let Ok(ids) = orchestra_orchestrator::runstore::list_ids(&dir) else { return };
        self.runs.retain(|id, _| ids.contains(id));
        for id in ids {
            let (offset, broken) = self.runs.entry(id.clone()).or_insert((0, false));
            if *broken {
                continue;
            }
            let path = dir.join(&id).join(journal::FILE);
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.is_file() || meta.len() <= *offset {
                continue;
            }
            let Ok(mut f) = std::fs::File::open(&path) else { continue };
            match journal::read_from(&mut f, *offset, 16 << 20) {
                Ok(b) => {
                    *offset = b.offset;
                    for e in &b.entries {
                        app.metrics.observe(&id, e);
                    }
                }
                Err(e) => {
                    *broken = true;
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
