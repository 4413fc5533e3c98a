//! Replanning (L2 inside L1): after a session of the run ends with a
//! permanent failure, ask the planner for the remaining work and carry on.
//!
//! Guarantees:
//! - never after a violation or a timeout anywhere in the run (those keep
//!   their exit-4 / exit-3 semantics and are reported, not worked around),
//!   never after Ctrl-C or the run's timeout, never for a failure the analysis
//!   calls transient (its retries were spent: the environment, not the plan,
//!   is the problem), and at most `max_replans` times per run;
//! - tasks that succeeded are kept verbatim (same fingerprint, not re-run);
//! - a replan adds work around a failure but never erases it: every failed
//!   task of the replaced plan stays in the checkpoint as `<id>@replan-N`,
//!   still `failed` (exit 2, a failure in `junit.xml` and the reports) unless a
//!   person approved the replacement at the `--approve` prompt (then
//!   `replaced`, not counted in the exit code). The planner sees the failed
//!   task's log, which the task controls: its answer is never trusted to
//!   decide the verdict;
//! - the new plan passes exactly the checks of a first plan (schema, ids,
//!   whitelist, the planner policy rule, every policy loaded and enforceable)
//!   before it is adopted;
//! - every proposal is stored in the run directory as `plans/replan-N.yaml`
//!   and `plans/replan-N.diff`, and its fate lands in the audit log
//!   (`plan_replaced`, `replan_declined`, `replan_awaiting_approval`,
//!   `replan_failed`), with the diff summary and the backends asked.

use super::Prepared;
use super::events::{Bus, Event, ReplanOutcome};
use crate::plan;
use crate::planner::analysis::Analysis;
use crate::runstore::checkpoint::{Store, TaskRecord, TaskState};
use crate::runstore::{RunDir, RunStoreError};
use std::collections::BTreeMap;

/// What the orchestrator tells the replanner.
#[derive(Debug)]
pub struct Request<'a> {
    /// The plan that was running.
    pub prepared: &'a Prepared,
    /// Index of the failed task the replan is about.
    pub failed: usize,
    /// Its record.
    pub record: &'a TaskRecord,
    /// What the failure analysis said.
    pub analysis: &'a Analysis,
    /// The end of its log (the replanner redacts it before it leaves).
    pub log_tail: String,
    /// Indices of the tasks that succeeded (kept).
    pub succeeded: Vec<usize>,
    /// 1 for the first replan of the run.
    pub number: u32,
}

/// A proposal that passed every check.
#[derive(Debug)]
pub struct Proposed {
    /// The new plan, prepared (kept tasks + new ones).
    pub prepared: Prepared,
    /// The backend that made it.
    pub backend: String,
    /// Every backend asked (JSON for the audit record).
    pub attempts: serde_json::Value,
}

/// The answer of an approval gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// No person was asked (no `--approve`): adopt it, but the failure it
    /// works around stands (exit code, reports).
    NotAsked,
    /// A person said yes: adopt it; the failure it replaces is recorded as `replaced`.
    Yes,
    /// Do not.
    No,
    /// Nobody can be asked (no terminal): the run stops, awaiting approval.
    NoTerminal,
}

/// Why no plan was proposed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// No planner produced an acceptable plan.
    #[error(transparent)]
    Planner(#[from] crate::planner::chain::ChainError),
    /// The plan proposed fails the checks every plan must pass.
    #[error("{backend} planner's plan refused: {error}")]
    Refused {
        /// The planner backend.
        backend: String,
        /// Why.
        error: Box<super::PrepareError>,
    },
}

/// The L2 side of replanning, provided by the caller (the CLI wires the planner chain in).
pub trait Replanner {
    /// At most this many replans per run.
    fn max_replans(&self) -> u32;
    /// Propose and check a plan for the remaining work.
    fn propose(&mut self, req: &Request<'_>) -> Result<Proposed, ProposeError>;
    /// Ask whether to adopt a proposal (its diff shown); `NotAsked` when nobody is to be asked.
    fn approve(&mut self, number: u32, diff: &str) -> Approval;
}

/// What became of a replan attempt.
#[derive(Debug)]
pub enum Outcome {
    /// Carry on with this plan.
    Adopted(Box<Prepared>),
    /// Nothing to do, refused or failed: the run ends as it stands.
    Ended,
    /// The run ends awaiting approval of `plans/replan-N.yaml`.
    AwaitingApproval,
}

/// `plans/` in the run directory.
pub fn plans_dir(run: &RunDir) -> std::path::PathBuf {
    run.path.join("plans")
}

/// Try one replan after a session ended. `analyses` holds the analysis of each failed task.
///
/// What happens is told on `bus`: lines for people, and one
/// [`Event::Replan`] once the outcome is recorded in the checkpoint (the
/// audit writer records it with its evidence).
pub fn attempt(
    current: &Prepared,
    replanner: &mut dyn Replanner,
    done: u32,
    analyses: &BTreeMap<usize, Analysis>,
    run: &RunDir,
    store: &mut Store,
    bus: &mut Bus<'_>,
) -> Result<Outcome, RunStoreError> {
    let ids: Vec<String> = current.dag.plan.tasks.iter().map(|t| t.id().to_string()).collect();
    let state_of = |store: &Store, i: usize| store.state().tasks.get(&ids[i]).map(|r| r.state);
    let states: Vec<Option<TaskState>> = (0..ids.len()).map(|i| state_of(store, i)).collect();
    if states.iter().all(|s| *s == Some(TaskState::Succeeded)) {
        return Ok(Outcome::Ended);
    }
    if states.iter().any(|s| matches!(s, Some(TaskState::Violation | TaskState::TimedOut))) {
        return Ok(Outcome::Ended);
    }
    // The first failed task (plan order) whose failure is not transient.
    let Some((failed, analysis)) = (0..ids.len()).filter(|&i| states[i] == Some(TaskState::Failed)).find_map(|i| {
        analyses.get(&i).filter(|a| a.class != crate::planner::analysis::Class::Transient).map(|a| (i, a))
    }) else {
        return Ok(Outcome::Ended);
    };
    let number = done + 1;
    if number > replanner.max_replans() {
        if replanner.max_replans() > 0 {
            bus.say(&format!(
                "orchestra: task {} failed ({}); not replanning: the run already used its {} replan(s) (planner.max_replans)",
                ids[failed],
                analysis.reason,
                replanner.max_replans()
            ));
        }
        return Ok(Outcome::Ended);
    }
    let record = store.state().tasks[&ids[failed]].clone();
    let succeeded: Vec<usize> = (0..ids.len()).filter(|&i| states[i] == Some(TaskState::Succeeded)).collect();
    let req = Request {
        prepared: current,
        failed,
        record: &record,
        analysis,
        log_tail: crate::planner::analysis::log_tail(&run.via_fd(&run.log_rel(&ids[failed])), 40),
        succeeded: succeeded.clone(),
        number,
    };
    bus.say(&format!(
        "orchestra: task {} failed permanently ({}); asking the planner for the remaining work (replan {number})",
        ids[failed], analysis.reason
    ));
    let proposed = match replanner.propose(&req) {
        Ok(p) => p,
        Err(e) => {
            let e = e.to_string();
            bus.say(&format!("orchestra: replan {number} failed: {e}"));
            let evidence =
                serde_json::json!({"replan": number, "failed_task": ids[failed], "analysis": analysis, "error": e});
            bus.emit(&Event::Replan {
                replan: number,
                task: &ids[failed],
                outcome: ReplanOutcome::Failed,
                backend: "",
                detail: &e,
                evidence: &evidence,
            });
            return Ok(Outcome::Ended);
        }
    };
    let new_plan = &proposed.prepared.dag.plan;
    let diff = plan::diff::diff(&current.dag.plan, new_plan);
    let diff_text = diff.render("plan.yaml", &format!("plans/replan-{number}.yaml"), new_plan);
    let yaml = plan::to_yaml(new_plan);
    run.create_dir(std::path::Path::new("plans"))?;
    let yaml_rel = std::path::PathBuf::from(format!("plans/replan-{number}.yaml"));
    let yaml_path = run.path.join(&yaml_rel);
    run.write(&yaml_rel, yaml.as_bytes(), true)?;
    run.write(std::path::Path::new(&format!("plans/replan-{number}.diff")), diff_text.as_bytes(), true)?;
    let plan_sha256 = sha256_hex(yaml.as_bytes());
    let body = |extra: serde_json::Value| {
        let mut b = serde_json::json!({
            "replan": number, "failed_task": ids[failed], "analysis": analysis,
            "backend": proposed.backend, "attempts": proposed.attempts,
            "plan": format!("plans/replan-{number}.yaml"), "plan_sha256": plan_sha256,
            "diff_summary": diff.summary(),
            "diff": {"added": diff.added, "removed": diff.removed,
                     "changed": diff.changed.keys().collect::<Vec<_>>(),
                     "edges_added": diff.edges_added, "edges_removed": diff.edges_removed},
        });
        if let (Some(o), serde_json::Value::Object(e)) = (b.as_object_mut(), extra) {
            o.extend(e);
        }
        b
    };
    bus.say(&format!("orchestra: replan {number} by {}: {}", proposed.backend, diff.summary()));
    for line in diff_text.lines() {
        bus.say(&format!("  {line}"));
    }
    let approval = replanner.approve(number, &diff_text);
    let summary = diff.summary();
    let decided = |bus: &mut Bus<'_>, outcome: ReplanOutcome, evidence: serde_json::Value| {
        bus.emit(&Event::Replan {
            replan: number,
            task: &ids[failed],
            outcome,
            backend: &proposed.backend,
            detail: &summary,
            evidence: &evidence,
        })
    };
    match approval {
        Approval::Yes | Approval::NotAsked => {}
        Approval::No => {
            let mut rec = record.clone();
            rec.note = Some(format!("replan {number} (plans/replan-{number}.yaml) was declined"));
            store.update(&ids[failed], rec)?;
            decided(bus, ReplanOutcome::Declined, body(serde_json::json!({})));
            return Ok(Outcome::Ended);
        }
        Approval::NoTerminal => {
            let note = format!(
                "replan {number} awaits approval (--approve, no terminal): review plans/replan-{number}.diff, then \
                 `orchestra resume {} --plan {}` adopts it",
                run.id,
                yaml_path.display()
            );
            let mut rec = record.clone();
            rec.note = Some(note.clone());
            store.update(&ids[failed], rec)?;
            decided(bus, ReplanOutcome::AwaitingApproval, body(serde_json::json!({})));
            bus.say(&format!("orchestra: {note}"));
            return Ok(Outcome::AwaitingApproval);
        }
    }
    // Adopt: kept tasks keep their records; every other task of the new plan starts pending.
    // The failures the new plan works around are never erased: each moves to
    // `<id>@replan-N`, still failed unless a person approved the replacement.
    let mut tasks = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        if states[i] != Some(TaskState::Failed) {
            continue;
        }
        let mut rec = store.state().tasks[id].clone();
        rec.argv = current.tasks[i].argv.clone();
        let what = format!("worked around by replan {number} (plans/replan-{number}.yaml)");
        if approval == Approval::Yes {
            rec.state = TaskState::Replaced;
            rec.note = Some(format!("{what}, approved by a person at the --approve prompt"));
        } else {
            rec.note = Some(format!(
                "{what} without a person's approval: this failure stands (run with --approve to review replans)"
            ));
        }
        tasks.insert(replaced_key(id, "replan", number), rec);
    }
    for t in &new_plan.tasks {
        let old = store.state().tasks.get(t.id()).cloned();
        let rec = match old {
            Some(r) if r.state == TaskState::Succeeded && succeeded.iter().any(|&i| ids[i] == t.id()) => r,
            Some(r) => TaskRecord { attempts: r.attempts, ..TaskRecord::pending() },
            None => TaskRecord::pending(),
        };
        tasks.insert(t.id().to_string(), rec);
    }
    run.write(std::path::Path::new("plan.yaml"), yaml.as_bytes(), true)?;
    store.replace_plan(plan_sha256.clone(), tasks)?;
    decided(bus, ReplanOutcome::Adopted, body(serde_json::json!({"approved_by_person": approval == Approval::Yes})));
    Ok(Outcome::Adopted(Box::new(proposed.prepared)))
}

/// The record key of a failure that a plan change took out of the plan:
/// `<id>@replan-N` or `<id>@resume-N` (`@` never occurs in a task id).
pub fn replaced_key(id: &str, by: &str, number: u32) -> String {
    format!("{id}@{by}-{number}")
}

/// Whether a record key names such a failure rather than a task of the plan.
pub fn is_replaced_key(key: &str) -> bool {
    key.contains('@')
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
