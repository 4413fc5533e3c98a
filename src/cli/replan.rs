//! The CLI side of L2: the planner chain wired into `run`/`resume` as the
//! orchestrator's [`Replanner`], the `--approve` gate, `orchestra plan diff`
//! and `orchestra plan --compare`.
//!
//! Replanning is off in CI jobs unless `--replan` is given ([`in_ci`]); when
//! on, an adopted replan never erases the failure it works around unless a
//! person approved it (see `orchestrator::replan`).
//!
//! The approval gate never hangs: without a terminal on stdin it answers
//! [`Approval::NoTerminal`], and the run ends with status `awaiting_approval`
//! (exit 2), resumable with the proposed plan.

use crate::config;
use crate::orchestrator::replan::{Approval, ProposeError, Proposed, Replanner, Request};
use crate::orchestrator::{self};
use crate::plan::{self, Plan};
use crate::planner::Chain;
use crate::planner::chain::{Replan, origin};
use crate::planner::prompt::{FailureContext, ReplanContext};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The planner chain as the orchestrator's replanner.
pub struct CliReplanner {
    /// The backends.
    pub chain: Chain,
    /// The project config (whitelist, policies).
    pub cfg: config::Loaded,
    /// `--policy`.
    pub cli_policy: Option<String>,
    /// Where relative policy paths are resolved.
    pub base_dir: PathBuf,
    /// The workspace (its top-level names go in the prompt).
    pub workspace: PathBuf,
    /// The run's intent (or the plan's name for plan files).
    pub intent: String,
    /// `--approve`: ask before adopting.
    pub approve: bool,
}

impl std::fmt::Debug for CliReplanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliReplanner").field("chain", &self.chain).field("approve", &self.approve).finish()
    }
}

impl CliReplanner {
    /// The replanner for a run, if this run may replan: `planner.max_replans > 0`, the
    /// run came from an intent (or `planner.replan_plan_files` is set), and it is not
    /// a CI job ([`in_ci`]) unless `--replan` asked for it.
    #[allow(clippy::too_many_arguments)]
    pub fn for_run(
        cfg: &config::Loaded,
        intent: Option<&str>,
        plan: &Plan,
        cli_policy: Option<&str>,
        workspace: &Path,
        approve: bool,
        replan_flag: bool,
    ) -> Option<CliReplanner> {
        let pc = &cfg.config.planner;
        if pc.max_replans == 0 || (intent.is_none() && !pc.replan_plan_files) || (in_ci() && !replan_flag) {
            return None;
        }
        let intent = intent
            .map(str::to_string)
            .or_else(|| plan.intent.clone())
            .or_else(|| plan.name.clone())
            .unwrap_or_else(|| "complete the tasks of the plan".into());
        Some(CliReplanner {
            chain: Chain::from_config(pc, &cfg.whitelist),
            cfg: cfg.clone(),
            cli_policy: cli_policy.map(str::to_string),
            base_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            workspace: workspace.to_path_buf(),
            intent,
            approve,
        })
    }
}

impl Replanner for CliReplanner {
    fn max_replans(&self) -> u32 {
        self.cfg.config.planner.max_replans
    }

    fn propose(&mut self, req: &Request<'_>) -> Result<Proposed, ProposeError> {
        let plan = &req.prepared.dag.plan;
        let failed = &plan.tasks[req.failed];
        let kept: Vec<plan::Task> = req.succeeded.iter().map(|&i| plan.tasks[i].clone()).collect();
        let context = ReplanContext {
            current_plan: plan::to_yaml(plan),
            kept: kept.iter().map(|t| t.id().to_string()).collect(),
            failure: FailureContext {
                task: failed.id().to_string(),
                cause: req.record.cause.clone().unwrap_or_else(|| "unknown".into()),
                exit_status: req.record.exit_status,
                signal: req.record.signal,
                analysis: format!("{}: {}", req.analysis.class.as_str(), req.analysis.reason),
                log_tail: req.log_tail.clone(),
            },
        };
        let replan = Replan { context, kept, base: plan.clone() };
        let proposal = self.chain.propose(&self.intent, &self.workspace, Some(&replan))?;
        let attempts = serde_json::to_value(&proposal.attempts).unwrap_or_default();
        let prepared = orchestrator::prepare(
            proposal.dag,
            &proposal.origin,
            &self.cfg,
            self.cli_policy.as_deref(),
            &self.base_dir,
            &self.workspace,
        )
        .map_err(|error| ProposeError::Refused { backend: proposal.backend.clone(), error: Box::new(error) })?;
        Ok(Proposed { prepared, backend: proposal.backend, attempts })
    }

    fn approve(&mut self, number: u32, diff: &str) -> Approval {
        if !self.approve {
            return Approval::NotAsked;
        }
        ask(number, diff, &mut std::io::stdin().lock(), std::io::stdin().is_terminal())
    }
}

/// Whether this process runs as a CI job (`CI`, `GITHUB_ACTIONS` or
/// `GITLAB_CI` set to anything but `false`/`0`/empty): replanning is then off
/// unless `--replan` asks for it, as nobody is there to review a new plan.
pub fn in_ci() -> bool {
    ["CI", "GITHUB_ACTIONS", "GITLAB_CI"].iter().any(|k| {
        std::env::var(k).is_ok_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !v.is_empty() && v != "false" && v != "0"
        })
    })
}

/// The approval gate: `y`/`yes` adopts; anything else, or end of input, declines; no terminal: [`Approval::NoTerminal`].
pub fn ask(number: u32, diff: &str, input: &mut dyn BufRead, terminal: bool) -> Approval {
    if !terminal {
        return Approval::NoTerminal;
    }
    let mut err = std::io::stderr().lock();
    let _ = crate::ci::github::print_quoted(&mut err, &format!("orchestra: replan {number}:\n{diff}"));
    let _ = write!(err, "orchestra: adopt this plan and continue the run? [y/N] ");
    let _ = err.flush();
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(n) if n > 0 && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") => Approval::Yes,
        _ => Approval::No,
    }
}

/// Why `orchestra plan diff` cannot compare.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A plan that does not load.
    #[error(transparent)]
    Plan(#[from] crate::yaml::LocatedError),
    /// A run without its plan.
    #[error("no run {id} in {} (or it has no plan.yaml)", runs.display())]
    NoRun {
        /// The run id.
        id: String,
        /// The runs directory.
        runs: PathBuf,
    },
    /// Neither a file nor a run id.
    #[error("{0}: neither a plan file nor a run id")]
    Neither(String),
    /// The diff as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A plan from a run id (its `plan.yaml`) or a plan file.
fn load_side(spec: &str, runs: &Path) -> Result<(Plan, String), DiffError> {
    let p = Path::new(spec);
    if p.is_file() {
        return Ok((plan::load(p)?, spec.to_string()));
    }
    if crate::runstore::is_run_id(spec) {
        let path = runs.join(spec).join("plan.yaml");
        if path.is_file() {
            return Ok((plan::load(&path)?, format!("{spec}/plan.yaml")));
        }
        return Err(DiffError::NoRun { id: spec.to_string(), runs: runs.to_path_buf() });
    }
    Err(DiffError::Neither(spec.to_string()))
}

/// `orchestra plan diff A B`: exit 0 whether or not they differ, 1 if either cannot be read.
pub fn diff_cmd(a: &str, b: &str, runs: &Path, json: bool) -> Result<String, DiffError> {
    let (pa, na) = load_side(a, runs)?;
    let (pb, nb) = load_side(b, runs)?;
    let d = plan::diff::diff(&pa, &pb);
    if json {
        return Ok(serde_json::to_string_pretty(&d)? + "\n");
    }
    Ok(d.render(&na, &nb, &pb))
}

/// `orchestra plan --compare "intent"`: every backend's plan, side by side (one row per task id).
pub fn compare_cmd(cfg: &config::Loaded, intent: &str, ws: &Path) -> (String, bool) {
    let chain = Chain::from_config(&cfg.config.planner, &cfg.whitelist);
    let answers = chain.compare(intent, ws);
    let mut ids: Vec<String> = Vec::new();
    for (_, r) in &answers {
        if let Ok(d) = r {
            for t in &d.plan.tasks {
                if !ids.contains(&t.id().to_string()) {
                    ids.push(t.id().to_string());
                }
            }
        }
    }
    let cell = |r: &Result<plan::Dag, crate::planner::chain::Refusal>, id: &str| -> String {
        match r {
            Err(_) => "(no plan)".into(),
            Ok(d) => d
                .plan
                .tasks
                .iter()
                .find(|t| t.id() == id)
                .map(|t| {
                    let mut c = std::iter::once(t.tool.value.clone()).chain(t.args.iter().cloned()).collect::<Vec<_>>();
                    let needs: Vec<&str> = t.needs().collect();
                    if !needs.is_empty() {
                        c.push(format!("(needs {})", needs.join(",")));
                    }
                    c.join(" ")
                })
                .unwrap_or_else(|| "-".into()),
        }
    };
    let mut header = vec!["task".to_string()];
    header.extend(answers.iter().map(|(n, _)| n.clone()));
    let mut rows = vec![header];
    for id in &ids {
        let mut row = vec![id.clone()];
        row.extend(answers.iter().map(|(_, r)| cell(r, id)));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0).min(48)).collect();
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join(" | ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
            out.push('\n');
        }
    }
    let mut any = false;
    for (name, r) in &answers {
        match r {
            Ok(d) => {
                any = true;
                out.push_str(&format!("\n# {}\n{}", origin(name), plan::to_yaml(&d.plan)));
            }
            Err(e) => out.push_str(&format!("\n# {}: no plan: {e}\n", origin(name))),
        }
    }
    (out, any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_never_waits_without_a_terminal() {
        let mut input = std::io::Cursor::new(b"y\n".to_vec());
        assert_eq!(ask(1, "diff", &mut input, false), Approval::NoTerminal);
        let mut yes = std::io::Cursor::new(b"yes\n".to_vec());
        assert_eq!(ask(1, "diff", &mut yes, true), Approval::Yes);
        let mut eof = std::io::Cursor::new(Vec::new());
        assert_eq!(ask(1, "diff", &mut eof, true), Approval::No);
    }
}
