//! The workspace diff around one `orchestra exec` task (issue 20): a snapshot
//! before the backend runs, the comparison after it, and the audit body.
//!
//! It is taken here, on the host, so every backend gets it alike: the jail
//! and the containers all write the task's working directory in place. What
//! the diff guarantees (no link followed, bounds, what is hashed) is
//! `sandbox::changes`'s module doc. This module guarantees that a diff that
//! is turned off, or that cannot be made, never stops or fails the task: the
//! report then says why there is none (`workspace_changes.skipped`).

use crate::sandbox::TaskSpec;
use crate::sandbox::changes::{self, Settings, Snapshot, WorkspaceChanges};
use std::time::{Duration, Instant};

/// Changes the audit record lists, at most (the report lists up to
/// [`changes::MAX_LISTED`]).
pub const AUDIT_MAX_LISTED: usize = 100;

/// The workspace before the task.
pub enum Before {
    /// `report.workspace_diff: false`.
    Off,
    /// The snapshot.
    Taken(Snapshot),
    /// The walk stopped (a bound): why, and how long it took.
    Failed(String, Duration),
}

/// Snapshot `task`'s working directory, leaving out `.orchestra/`, `runs/`
/// and the protected paths inside it.
pub fn before(task: &TaskSpec) -> Before {
    if !task.policy.report.workspace_diff {
        return Before::Off;
    }
    let t = Instant::now();
    let exclude = changes::exclusions(&task.workdir, &task.protected);
    match Snapshot::take(&task.workdir, exclude, Settings::default()) {
        Ok(s) => Before::Taken(s),
        Err(e) => Before::Failed(e.to_string(), t.elapsed()),
    }
}

/// What changed since `before`, each added or modified entry shown to
/// `inspect` (`changes::Snapshot::compare_inspecting`: the canary judge) and
/// to `watch` with each `.git` entry (`changes::Snapshot::compare_watching`:
/// the repositories in the workspace); the directories of the supervisor's
/// that the walk opens up to list them are noted in `opened`, open to it
/// until that is dropped (`changes::Snapshot::compare_opened`).
pub fn after(
    before: Before,
    inspect: Option<&mut dyn FnMut(changes::Seen<'_>)>,
    watch: &mut dyn FnMut(&[u8], changes::Watched),
    opened: &changes::walk::Unlocked,
) -> WorkspaceChanges {
    match before {
        Before::Off => {
            WorkspaceChanges::skipped("turned off by the policy (report.workspace_diff: false)", Duration::ZERO)
        }
        Before::Taken(s) => s.compare_opened(inspect, watch, opened),
        Before::Failed(why, took) => WorkspaceChanges::skipped(why, took),
    }
}

/// The body of the `workspace_changed` audit record (FORMAT.md §5.3), before
/// redaction and bounding: the caller passes it through `audit::events::stamp`
/// and then `audit::bound::workspace_changed`, which cuts long paths and
/// targets and stops the list at the body's bound. The report's listing is
/// not affected.
pub fn audit_body(task: &str, c: &WorkspaceChanges) -> serde_json::Value {
    let mut v = serde_json::json!({"task": task});
    let Some(o) = v.as_object_mut() else { return v };
    if let Some(why) = &c.skipped {
        o.insert("skipped".into(), why.as_str().into());
        return v;
    }
    let listed: Vec<_> = c.entries.iter().take(AUDIT_MAX_LISTED).collect();
    o.insert("added".into(), serde_json::json!(c.added));
    o.insert("modified".into(), serde_json::json!(c.modified));
    o.insert("deleted".into(), serde_json::json!(c.deleted));
    o.insert("truncated".into(), ((listed.len() as u64) < c.total()).into());
    o.insert("listed_in_report".into(), c.entries.len().into());
    o.insert("entries".into(), serde_json::json!(listed));
    v
}
