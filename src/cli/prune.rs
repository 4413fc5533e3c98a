//! `orchestra runs prune`: the command line of [`crate::runstore::prune`],
//! which owns the guarantees (what is never removed, crash safety).
//!
//! Prints one line per run removed (or, with `--dry-run`, that would be) and
//! per run skipped, then a summary; `--json` prints the outcome instead.
//! Exit 0 when every selected run was removed or skipped as in progress; 1
//! when no bound was given (nothing is touched), or when a run could not be
//! removed (each named on stderr, left whole or as `.pruning-<id>` for the
//! next prune).

use crate::exit::Exit;
use crate::runstore::prune::{self, Options, Rule};
use std::path::PathBuf;
use std::time::SystemTime;

/// Run `orchestra runs prune` on `runs_dir`.
pub fn run(runs_dir: PathBuf, rule: Rule, dry_run: bool, json: bool) -> Exit {
    if rule.older_than.is_none() && rule.keep.is_none() {
        return super::config_error("runs prune needs --older-than DURATION, --keep N, or both (nothing was removed)");
    }
    // The audit log of this directory's default place, and the key: never removed
    // (the audit directories the runs recorded are added by the prune itself).
    let key = crate::audit::default_key_path();
    let mut pub_key = key.clone().into_os_string();
    pub_key.push(".pub");
    let opts = Options {
        rule,
        dry_run,
        protect: vec![
            super::exec::audit_dir(None),
            crate::audit::KeyRing::at(&key).dir().to_path_buf(),
            key,
            PathBuf::from(pub_key),
        ],
        now: SystemTime::now(),
    };
    let out = match prune::prune(&runs_dir, &opts) {
        Ok(o) => o,
        Err(e) => return super::config_error(e),
    };
    if json {
        outln!("{}", crate::ci::github::json_pretty(&out));
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        for name in &out.leftovers {
            outln!("removed {name} (left by an interrupted prune)");
        }
        for r in &out.removed {
            outln!("{verb} {}  {:<10} started {} ({} ago)", r.run_id, r.status, r.started_at, age(r.age_s));
        }
        for s in &out.skipped {
            outln!("skipped {}: {}", s.run_id, s.reason);
        }
        let dry = if dry_run { " (dry run: nothing removed)" } else { "" };
        outln!(
            "{verb} {} run{}, kept {}, skipped {}{dry}",
            out.removed.len(),
            if out.removed.len() == 1 { "" } else { "s" },
            out.kept,
            out.skipped.len()
        );
    }
    for f in &out.failed {
        crate::ci::github::eprint_quoted(&format!("orchestra: error: cannot remove run {}: {}", f.run_id, f.reason));
    }
    if out.failed.is_empty() { Exit::Ok } else { Exit::Config }
}

/// `3d`, `5h`, `12m`, `40s`: the largest whole unit.
fn age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
