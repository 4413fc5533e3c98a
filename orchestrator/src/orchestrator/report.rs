//! The run reports: `report.json` for programs, `report.md` for people (and CI
//! step summaries). Both are written atomically at the end of every session.
//!
//! Guarantees: both come from the checkpoint (the source of truth) plus each
//! task's sandbox report; every non-succeeded task says why; every violation
//! names its rule; the policy and the controls actually enforced (attested by
//! the sandbox) are listed per task.

use super::Prepared;
use crate::runstore::checkpoint::{Checkpoint, TaskState};
use crate::runstore::{RunDir, RunStoreError};
use crate::sandbox::report::{Report, Violation};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Report format version.
pub const VERSION: u32 = 1;

/// `report.json`.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// Format version.
    pub version: u32,
    /// Run id.
    pub run_id: String,
    /// `succeeded`, `failed`, `interrupted`.
    pub status: String,
    /// The run's exit code.
    pub exit_code: Option<u8>,
    /// When the run was created.
    pub created_at: String,
    /// When the last session started.
    pub session_started_at: String,
    /// Sessions (1 + resumes).
    pub sessions: u32,
    /// Wall time of the last session, ms.
    pub wall_ms: u64,
    /// Intent, if a planner made the plan.
    pub intent: Option<String>,
    /// Plan file, if run from one.
    pub plan_file: Option<String>,
    /// Workspace.
    pub workdir: String,
    /// Concurrency.
    pub concurrency: usize,
    /// Counts by state.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// Tasks in plan order.
    pub tasks: Vec<TaskReport>,
    /// Plans the planner proposed after failures (`plans/replan-N.yaml`), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replans: Vec<ReplanEntry>,
}

/// One proposed replan in `report.json`.
#[derive(Debug, Serialize)]
pub struct ReplanEntry {
    /// `plans/replan-N.yaml`.
    pub plan: String,
    /// `plans/replan-N.diff`.
    pub diff: String,
    /// The diff's summary line.
    pub summary: String,
}

/// The replans stored in a run directory, in order.
fn replans(run: &RunDir) -> Vec<ReplanEntry> {
    (1..)
        .map(|n| (n, PathBuf::from(format!("plans/replan-{n}.yaml")), PathBuf::from(format!("plans/replan-{n}.diff"))))
        .take_while(|(_, y, _)| run.read(y).is_ok())
        .map(|(n, _, d)| ReplanEntry {
            plan: format!("plans/replan-{n}.yaml"),
            diff: format!("plans/replan-{n}.diff"),
            summary: run
                .read(&d)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .and_then(|t| t.lines().last().and_then(|l| l.strip_prefix("# ")).map(str::to_string))
                .unwrap_or_default(),
        })
        .collect()
}

/// One task in `report.json`.
#[derive(Debug, Serialize)]
pub struct TaskReport {
    /// Task id.
    pub id: String,
    /// What it is for.
    pub intent: Option<String>,
    /// Whitelisted tool.
    pub tool: String,
    /// The argv that ran.
    pub argv: Vec<String>,
    /// Ids it needs.
    pub needs: Vec<String>,
    /// Policy (preset or file).
    pub policy: String,
    /// Effective policy hash.
    pub policy_sha256: String,
    /// Backend.
    pub backend: String,
    /// Final state.
    pub state: String,
    /// Attempts over all sessions.
    pub attempts: u32,
    /// Whether an earlier session's success was reused.
    pub reused: bool,
    /// Sandbox cause.
    pub cause: Option<String>,
    /// Exit status.
    pub exit_status: Option<i32>,
    /// Signal.
    pub signal: Option<i32>,
    /// Wall time of the last attempt, ms.
    pub wall_ms: u64,
    /// Peak memory, bytes.
    pub peak_memory_bytes: Option<u64>,
    /// Violations of the last attempt.
    pub violations: Vec<Violation>,
    /// Controls the sandbox attested it enforced.
    pub enforced: Vec<String>,
    /// Why skipped/cancelled, or what went wrong.
    pub note: Option<String>,
    /// Fingerprint.
    pub fingerprint: Option<String>,
    /// Log file, relative to the run directory.
    pub log: String,
    /// Declared outputs, copied under `artifacts/<id>/`.
    pub outputs: Vec<String>,
    /// What the last attempt changed in the workspace, counted (the list is
    /// in `reports/<id>.json`; `orchestra runs show RUN --changes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_changes: Option<crate::sandbox::changes::ChangeCounts>,
}

/// Build the report from the checkpoint and the sandbox reports.
pub fn build(run: &RunDir, cp: &Checkpoint, prepared: &Prepared, wall_ms: u64) -> RunReport {
    let mut counts = std::collections::BTreeMap::new();
    let mut tasks = Vec::new();
    for (i, t) in prepared.dag.plan.tasks.iter().enumerate() {
        let p = &prepared.tasks[i];
        let rec = cp.tasks.get(t.id()).cloned().unwrap_or_else(crate::runstore::checkpoint::TaskRecord::pending);
        *counts.entry(rec.state.as_str().to_string()).or_insert(0) += 1;
        let sandbox: Option<Report> =
            run.read(&run.task_report_rel(t.id())).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let enforced = sandbox
            .as_ref()
            .map(|r| r.enforced.iter().map(|c| format!("{}: {}", c.control, c.detail)).collect())
            .unwrap_or_default();
        tasks.push(TaskReport {
            id: t.id().to_string(),
            intent: t.intent.clone(),
            tool: t.tool.value.clone(),
            argv: p.argv.clone(),
            needs: t.needs().map(str::to_string).collect(),
            policy: p.policy_origin.clone(),
            policy_sha256: p.policy_sha256.clone(),
            backend: p.backend.clone(),
            state: rec.state.as_str().to_string(),
            attempts: rec.attempts,
            reused: rec.reused,
            cause: rec.cause.clone(),
            exit_status: rec.exit_status,
            signal: rec.signal,
            wall_ms: rec.wall_ms,
            peak_memory_bytes: rec.peak_memory_bytes,
            violations: rec.violations.clone(),
            enforced,
            note: rec.note.clone(),
            fingerprint: rec.fingerprint.clone(),
            log: format!("logs/{}.log", t.id()),
            outputs: t.outputs.clone(),
            workspace_changes: sandbox.as_ref().and_then(|r| r.workspace_changes.as_ref()).map(|c| c.counts()),
        });
    }
    // Failures a plan change took out of the plan (`<id>@replan-N`): still
    // listed, so the reports and junit.xml show what happened.
    for (key, rec) in cp.tasks.iter().filter(|(k, _)| super::replan::is_replaced_key(k)) {
        *counts.entry(rec.state.as_str().to_string()).or_insert(0) += 1;
        let id = key.split('@').next().unwrap_or(key);
        tasks.push(TaskReport {
            id: key.clone(),
            intent: None,
            tool: rec.argv.first().cloned().unwrap_or_default(),
            argv: rec.argv.clone(),
            needs: Vec::new(),
            policy: "-".into(),
            policy_sha256: String::new(),
            backend: "-".into(),
            state: rec.state.as_str().to_string(),
            attempts: rec.attempts,
            reused: false,
            cause: rec.cause.clone(),
            exit_status: rec.exit_status,
            signal: rec.signal,
            wall_ms: rec.wall_ms,
            peak_memory_bytes: rec.peak_memory_bytes,
            violations: rec.violations.clone(),
            enforced: Vec::new(),
            note: rec.note.clone(),
            fingerprint: rec.fingerprint.clone(),
            log: format!("logs/{id}.log"),
            outputs: Vec::new(),
            workspace_changes: None,
        });
    }
    RunReport {
        version: VERSION,
        run_id: cp.run_id.clone(),
        status: cp.status.as_str().to_string(),
        exit_code: cp.exit_code,
        created_at: cp.created_at.clone(),
        session_started_at: cp.session_started_at.clone(),
        sessions: cp.sessions,
        wall_ms,
        intent: cp.source.intent.clone(),
        plan_file: cp.source.plan_file.as_ref().map(|p| p.display().to_string()),
        workdir: cp.settings.workdir.display().to_string(),
        concurrency: cp.settings.concurrency,
        counts,
        tasks,
        replans: replans(run),
    }
}

/// Write `report.json` and `report.md` atomically (temp file + rename). They are
/// derived from the checkpoint, which is the durable record, so they are not
/// forced to disk; returns the report (for the CI outputs).
pub fn write(run: &RunDir, cp: &Checkpoint, prepared: &Prepared, wall_ms: u64) -> Result<RunReport, RunStoreError> {
    let report = build(run, cp, prepared, wall_ms);
    let mut json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    json.push(b'\n');
    run.write(Path::new("report.json"), &json, false)?;
    run.write(Path::new("report.md"), markdown(&report).as_bytes(), false)?;
    Ok(report)
}

/// `3 succeeded, 1 failed, 2 skipped`.
pub fn summary(cp: &Checkpoint) -> String {
    let order = [
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::TimedOut,
        TaskState::Violation,
        TaskState::Skipped,
        TaskState::Cancelled,
        TaskState::Replaced,
        TaskState::Pending,
        TaskState::Running,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|s| {
            let n = cp.tasks.values().filter(|r| r.state == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect();
    if parts.is_empty() { "no tasks".into() } else { parts.join(", ") }
}

/// Milliseconds for people: `850ms`, `12.3s`, `4m05s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Escape text for a Markdown table cell: no table break, no code span, no
/// HTML, no link (task-chosen text lands here, and in CI step summaries).
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

/// The human report.
pub fn markdown(r: &RunReport) -> String {
    use std::fmt::Write;
    let mut md = String::new();
    let icon = match r.status.as_str() {
        "succeeded" => "✅",
        "interrupted" => "⏹️",
        _ => "❌",
    };
    let _ = writeln!(md, "# {icon} Orchestra run `{}`: {}\n", r.run_id, r.status);
    if let Some(i) = &r.intent {
        let _ = writeln!(md, "- **Intent:** {}", cell(i));
    }
    if let Some(p) = &r.plan_file {
        let _ = writeln!(md, "- **Plan:** `{}`", cell(p));
    }
    let _ = writeln!(md, "- **Workspace:** `{}`", cell(&r.workdir));
    let _ = writeln!(
        md,
        "- **Exit code:** {} · **wall time:** {} · **sessions:** {} · **concurrency:** {}",
        r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
        fmt_ms(r.wall_ms),
        r.sessions,
        r.concurrency
    );
    let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(md, "- **Tasks:** {}", counts.join(", "));
    for rp in &r.replans {
        let _ = writeln!(md, "- **Replanned:** `{}` ({}; diff `{}`)", rp.plan, cell(&rp.summary), rp.diff);
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Tasks\n");
    let _ = writeln!(md, "| task | state | time | attempts | policy | details |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for t in &r.tasks {
        let state = match t.state.as_str() {
            "succeeded" if t.reused => "✅ succeeded (reused)".to_string(),
            "succeeded" => "✅ succeeded".to_string(),
            "violation" => "🛑 violation".to_string(),
            "timed_out" => "⏱️ timed out".to_string(),
            "failed" => "❌ failed".to_string(),
            "replaced" => "↪️ replaced (approved)".to_string(),
            other => format!("⏭️ {other}"),
        };
        let mut details = Vec::new();
        if let Some(c) = &t.cause
            && c != "ok"
        {
            details.push(format!("cause {c}"));
        }
        if let Some(s) = t.exit_status
            && s != 0
        {
            details.push(format!("exit {s}"));
        }
        if let Some(s) = t.signal {
            details.push(format!("signal {s}"));
        }
        if let Some(n) = &t.note {
            details.push(n.clone());
        }
        if let Some(c) = &t.workspace_changes {
            details.push(format!("workspace: {}", c.brief()));
        }
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            cell(&t.id),
            state,
            if t.wall_ms > 0 { fmt_ms(t.wall_ms) } else { "-".into() },
            t.attempts,
            cell(&t.policy),
            cell(&details.join("; "))
        );
    }
    let violations: Vec<(&str, &Violation)> =
        r.tasks.iter().flat_map(|t| t.violations.iter().map(move |v| (t.id.as_str(), v))).collect();
    if !violations.is_empty() {
        let _ = writeln!(md, "\n## Violations\n");
        let _ = writeln!(md, "| task | rule | what | when |");
        let _ = writeln!(md, "|---|---|---|---|");
        for (task, v) in violations {
            let _ = writeln!(
                md,
                "| `{}` | `{}` | {} | {} |",
                cell(task),
                cell(&v.rule.to_string()),
                cell(&v.detail),
                cell(&v.at)
            );
        }
    }
    let _ = writeln!(md, "\n## Commands and enforced controls\n");
    for t in &r.tasks {
        let _ = writeln!(md, "- `{}`: `{}`", cell(&t.id), cell(&t.argv.join(" ")));
        let _ = writeln!(md, "  - policy {} (`{}`), backend {}", cell(&t.policy), t.policy_sha256, t.backend);
        if !t.enforced.is_empty() {
            // Names only here; report.json has each control's details.
            let names: Vec<&str> = t.enforced.iter().map(|c| c.split(':').next().unwrap_or(c).trim()).collect();
            let _ = writeln!(md, "  - enforced: {}", cell(&names.join(", ")));
        }
    }
    let _ = writeln!(md, "\nLogs: `logs/<task>.log`; machine-readable report: `report.json`.");
    md
}
