//! The kinds of records orchestra writes (FORMAT.md §5.3), as one type.
//!
//! The log format admits any kind matching `[a-z0-9_]{1,64}` (a verifier does
//! not interpret kinds, and [`crate::audit::AuditLog::append`] takes any valid
//! one); this is the list orchestra itself writes, each with the same string
//! FORMAT.md documents. The reserved ones are written only by the log itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A record kind orchestra writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Record 0 of every log (reserved).
    LogOpened,
    /// A signing key was replaced (reserved).
    KeyRotation,
    /// The writer cut a torn tail off, or adopted an unsigned one (reserved).
    Recovery,
    /// Record 1 of a log that continues a damaged one (reserved).
    LogContinued,
    /// Records before a checkpoint are being removed for retention (reserved).
    LogPruned,
    /// `exec`: a task was started under a policy.
    TaskStarted,
    /// `exec`: a task was not run (its sandbox could not be set up).
    TaskRefused,
    /// `exec`: a task attempted something its policy denies, or exceeded a limit.
    Violation,
    /// `exec`: the controls attested and the opt-outs of a task.
    TaskAttested,
    /// `exec`: what a task changed in its workspace.
    WorkspaceChanged,
    /// `exec`: a task ended.
    TaskEnded,
    /// `run`: a run started.
    RunStarted,
    /// `resume`: a run was resumed.
    RunResumed,
    /// `run`/`resume`: a run ended.
    RunEnded,
    /// `resume`: a task that already succeeded with the same fingerprint was kept.
    TaskReused,
    /// `run`: a failed task will be retried.
    TaskRetry,
    /// `run`: a task was skipped (what it needs did not succeed).
    TaskSkipped,
    /// `run`: a task was cancelled.
    TaskCancelled,
    /// `run`: asking the planner for a new plan failed.
    ReplanFailed,
    /// `run`: a person declined a new plan.
    ReplanDeclined,
    /// `run`: the run stops until a person approves a new plan.
    ReplanAwaitingApproval,
    /// `run`: the plan was replaced by a new one.
    PlanReplaced,
    /// `audit anchor`: a signed statement that the log is alive, so an idle
    /// log's anchors still receive fresh checkpoints.
    Heartbeat,
    /// `audit bench`: a synthetic output line (benchmark logs only).
    TaskOutput,
    /// `worker`: a task message was refused (unsigned, forged, replayed, expired, misrouted).
    MessageRefused,
    /// `worker`: a delivery of a task message ended (its fencing token, what it uploaded).
    DeliveryEnded,
    /// `run`: a remote worker's result was accepted (the worker, its key, its token, its log's checkpoint).
    RemoteResult,
    /// `run`: a remote worker's result was refused (fenced: a stale token; a duplicate; an untrusted key).
    ResultRefused,
    /// `run`: an operator paused, continued or cancelled the run (`runs control`, the dashboard).
    RunControl,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 29] = [
        Kind::LogOpened,
        Kind::KeyRotation,
        Kind::Recovery,
        Kind::LogContinued,
        Kind::LogPruned,
        Kind::TaskStarted,
        Kind::TaskRefused,
        Kind::Violation,
        Kind::TaskAttested,
        Kind::WorkspaceChanged,
        Kind::TaskEnded,
        Kind::RunStarted,
        Kind::RunResumed,
        Kind::RunEnded,
        Kind::TaskReused,
        Kind::TaskRetry,
        Kind::TaskSkipped,
        Kind::TaskCancelled,
        Kind::ReplanFailed,
        Kind::ReplanDeclined,
        Kind::ReplanAwaitingApproval,
        Kind::PlanReplaced,
        Kind::Heartbeat,
        Kind::TaskOutput,
        Kind::MessageRefused,
        Kind::DeliveryEnded,
        Kind::RemoteResult,
        Kind::ResultRefused,
        Kind::RunControl,
    ];

    /// The kind as written in a record.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LogOpened => "log_opened",
            Kind::KeyRotation => "key_rotation",
            Kind::Recovery => "recovery",
            Kind::LogContinued => "log_continued",
            Kind::LogPruned => "log_pruned",
            Kind::TaskStarted => "task_started",
            Kind::TaskRefused => "task_refused",
            Kind::Violation => "violation",
            Kind::TaskAttested => "task_attested",
            Kind::WorkspaceChanged => "workspace_changed",
            Kind::TaskEnded => "task_ended",
            Kind::RunStarted => "run_started",
            Kind::RunResumed => "run_resumed",
            Kind::RunEnded => "run_ended",
            Kind::TaskReused => "task_reused",
            Kind::TaskRetry => "task_retry",
            Kind::TaskSkipped => "task_skipped",
            Kind::TaskCancelled => "task_cancelled",
            Kind::ReplanFailed => "replan_failed",
            Kind::ReplanDeclined => "replan_declined",
            Kind::ReplanAwaitingApproval => "replan_awaiting_approval",
            Kind::PlanReplaced => "plan_replaced",
            Kind::Heartbeat => "heartbeat",
            Kind::TaskOutput => "task_output",
            Kind::MessageRefused => "message_refused",
            Kind::DeliveryEnded => "delivery_ended",
            Kind::RemoteResult => "remote_result",
            Kind::ResultRefused => "result_refused",
            Kind::RunControl => "run_control",
        }
    }

    /// The kind written as `text`, if orchestra writes it.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether only the log itself writes this kind (callers cannot append it).
    pub fn is_reserved(self) -> bool {
        match self {
            Kind::LogOpened | Kind::KeyRotation | Kind::Recovery | Kind::LogContinued | Kind::LogPruned => true,
            Kind::TaskStarted
            | Kind::TaskRefused
            | Kind::Violation
            | Kind::TaskAttested
            | Kind::WorkspaceChanged
            | Kind::TaskEnded
            | Kind::RunStarted
            | Kind::RunResumed
            | Kind::RunEnded
            | Kind::TaskReused
            | Kind::TaskRetry
            | Kind::TaskSkipped
            | Kind::TaskCancelled
            | Kind::ReplanFailed
            | Kind::ReplanDeclined
            | Kind::ReplanAwaitingApproval
            | Kind::PlanReplaced
            | Kind::Heartbeat
            | Kind::TaskOutput
            | Kind::MessageRefused
            | Kind::DeliveryEnded
            | Kind::RemoteResult
            | Kind::ResultRefused
            | Kind::RunControl => false,
        }
    }
}

impl AsRef<str> for Kind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_valid_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            assert!(crate::record::valid_kind(k.as_str()), "{k}");
            assert!(seen.insert(k.as_str()), "{k} twice");
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_string(&k).ok(), Some(format!("{:?}", k.as_str())));
        }
        assert_eq!(Kind::parse("Bad Kind"), None);
        let reserved: Vec<&str> = Kind::ALL.into_iter().filter(|k| k.is_reserved()).map(Kind::as_str).collect();
        assert_eq!(reserved, ["log_opened", "key_rotation", "recovery", "log_continued", "log_pruned"]);
    }

    /// FORMAT.md §5.3 lists every kind orchestra writes, and no other.
    #[test]
    fn format_md_lists_every_kind() {
        let spec = include_str!("../FORMAT.md");
        let start = spec.find("### 5.3 Kinds").unwrap_or(0);
        let end = spec[start..].find("\n## ").map_or(spec.len(), |e| start + e);
        let section = &spec[start..end];
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .filter(|k| crate::record::valid_kind(k))
            .collect();
        for k in Kind::ALL {
            assert!(listed.contains(&k.as_str()), "FORMAT.md §5.3 does not list {k}");
        }
        for l in &listed {
            assert!(Kind::parse(l).is_some(), "FORMAT.md §5.3 lists {l}, which orchestra does not write");
        }
    }

    /// Every member of the bodies this crate builds (at any depth) is named
    /// in FORMAT.md §5.3, with the invocation's context and CI fields.
    #[test]
    fn format_md_names_every_body_member() {
        use crate::events;
        use serde_json::{Value, json};
        let spec = include_str!("../FORMAT.md");
        let start = spec.find("### 5.3 Kinds").unwrap_or(0);
        let end = spec[start..].find("\n## ").map_or(spec.len(), |e| start + e);
        let section = &spec[start..end];
        let argv: Vec<String> = ["x", "--token", "t0k3n-value"].iter().map(|s| s.to_string()).collect();
        let started = events::with_canaries(
            events::task_started("t", &argv, "sha256:00", "jail", &["landlock".into()]),
            &[("$GITHUB_TOKEN".into(), "sha256:00".into())],
        );
        let ci = crate::invocation::ci_from(|k| {
            [
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_RUN_ID", "1"),
                ("GITHUB_RUN_ATTEMPT", "1"),
                ("GITHUB_JOB", "j"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_WORKFLOW", "w"),
            ]
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
        });
        let gitlab = crate::invocation::ci_from(|k| {
            [("GITLAB_CI", "true"), ("CI_JOB_ID", "1"), ("CI_PIPELINE_ID", "1"), ("CI_PROJECT_PATH", "p")]
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        let long = "x".repeat(crate::bound::MAX_TEXT);
        let bodies = [
            events::stamp(started, Some("r")),
            events::stamp(events::violation("t", "fs.write", "d"), None),
            events::stamp(events::task_ended("t", "signal", Some(1), Some(9), 1), None),
            json!({"ci": ci, "gitlab": gitlab}),
            crate::bound::end_record(events::stamp(events::violation(&long, "fs.write", &long), Some(&long))),
            crate::bound::end_record(json!({"enforced": [long.clone()], "opt_outs": [long.clone()]})),
            crate::bound::workspace_changed(json!({"truncated": false, "entries": [
                {"path": long.clone(), "target": long.clone(), "unhashed": long.clone()}]})),
        ];
        fn keys(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        out.push(k.clone());
                        keys(x, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        bodies.iter().for_each(|b| keys(b, &mut all));
        for k in all.iter().filter(|k| *k != "gitlab") {
            assert!(section.contains(&format!("`{k}`")), "FORMAT.md §5.3 does not name the body member {k}");
        }
    }
}
