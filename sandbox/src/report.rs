//! The per-task verdict and report (CONTRACTS.md §3): the types, the verdict
//! line, and the exit code of a cause. The one place that decides the cause
//! from what a backend observed is [`super::outcome`].
//!
//! The verdict follows only from the cause: a task that merely exits non-zero
//! is `failed` (exit 2), never a violation; a violation is exit 4 whatever the
//! task's own status was.

use crate::exit::Exit;
use serde::{Deserialize, Serialize};

/// Why the task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Exited 0, no violation.
    Ok,
    /// Exited non-zero.
    ChildExit,
    /// Killed by a signal (not by us).
    Signal,
    /// Hit the wall-clock or no-output timeout.
    Timeout,
    /// Attempted something the policy denies.
    PolicyDenied,
    /// Exceeded a declared limit (memory, pids, output, disk, cpu).
    LimitExceeded,
    /// The sandbox could not be set up; the task did not run.
    SetupFailed,
}

/// The one-word verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything fine.
    Ok,
    /// The task failed.
    Failed,
    /// The task timed out.
    Timeout,
    /// A violation or exceeded limit.
    Violation,
}

impl Cause {
    /// The verdict for this cause.
    pub fn verdict(self) -> Verdict {
        match self {
            Cause::Ok => Verdict::Ok,
            Cause::ChildExit | Cause::Signal | Cause::SetupFailed => Verdict::Failed,
            Cause::Timeout => Verdict::Timeout,
            Cause::PolicyDenied | Cause::LimitExceeded => Verdict::Violation,
        }
    }

    /// The exit code for this cause.
    pub fn exit(self) -> Exit {
        match self {
            Cause::Ok => Exit::Ok,
            Cause::ChildExit | Cause::Signal => Exit::Failed,
            Cause::Timeout => Exit::Timeout,
            Cause::PolicyDenied | Cause::LimitExceeded => Exit::Violation,
            Cause::SetupFailed => Exit::Config,
        }
    }
}

/// One observed violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule that fired, e.g. `network.none`, `fs.write`, `limits.memory`.
    pub rule: super::Rule,
    /// What the task tried.
    pub detail: String,
    /// When (RFC 3339, UTC, milliseconds).
    pub at: String,
}

impl Violation {
    /// A violation observed now.
    pub fn now(rule: super::Rule, detail: String) -> Violation {
        Violation { rule, detail, at: now_rfc3339() }
    }
}

/// One control that was actually put in place (attested by the process that applied it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// Control name.
    pub control: String,
    /// What exactly.
    pub detail: String,
}

/// Whether orchestra's AppArmor profile applied to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacState {
    /// The task ran under the profile.
    Applied,
    /// It did not (`mac.apparmor: if_available`): the report's `detail` says why.
    NotApplied,
    /// `mac.apparmor: off`.
    Off,
}

impl MacState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MacState::Applied => "applied",
            MacState::NotApplied => "not_applied",
            MacState::Off => "off",
        }
    }
}

/// Mandatory access control of one task: which applied, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mac {
    /// The policy's `mac.apparmor`.
    pub mode: crate::policy::AppArmorMode,
    /// Whether the profile applied.
    pub apparmor: MacState,
    /// The profile applied, or the one that was wanted (absent when `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// How it was applied, or why not.
    pub detail: String,
}

impl Mac {
    /// The audit log's one-string form (`task_attested.mac`):
    /// `apparmor <state> (mac.apparmor: <mode>) <profile>: <detail>`.
    pub fn audit_text(&self) -> String {
        let profile = self.profile.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
        format!("apparmor {} (mac.apparmor: {}){profile}: {}", self.apparmor.as_str(), self.mode.as_str(), self.detail)
    }
}

/// The JSON report of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Report format version.
    pub version: u32,
    /// Task name.
    pub task: String,
    /// argv.
    pub argv: Vec<String>,
    /// Backend.
    pub backend: String,
    /// Where the policy came from.
    pub policy: String,
    /// SHA-256 of the effective policy's canonical JSON.
    pub policy_sha256: String,
    /// When command-line flags changed the loaded policy: its hash before them
    /// and the flags (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_derivation: Option<orchestra_policy::derive::Derivation>,
    /// Controls actually enforced.
    pub enforced: Vec<Control>,
    /// Controls the policy explicitly opted out of.
    pub opt_outs: Vec<String>,
    /// Mandatory access control: whether orchestra's AppArmor profile applied,
    /// and how or why not (absent where the backend never got that far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// Why the task ended.
    pub cause: Cause,
    /// The verdict.
    pub verdict: Verdict,
    /// The task's exit status, if it exited.
    pub exit_status: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// Wall time in milliseconds.
    pub wall_ms: u64,
    /// Peak memory in bytes (cgroup peak, or the largest process's max RSS).
    pub peak_memory_bytes: Option<u64>,
    /// Bytes of stdout + stderr.
    pub output_bytes: u64,
    /// Violations, in the order observed.
    pub violations: Vec<Violation>,
    /// Setup error, when the cause is `setup_failed`.
    pub error: Option<String>,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// What the task changed in its working directory (`orchestra exec` adds
    /// it after the backend ran; `skipped` in it says why there is no diff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_changes: Option<crate::changes::WorkspaceChanges>,
    /// The backend cleared the set-ID bits of every file the task wrote
    /// (`crate::outcome::Outcome::setid_swept`); not part of the JSON.
    #[serde(skip)]
    pub setid_swept: bool,
}

impl Report {
    /// The exit code of `orchestra exec` for this report.
    pub fn exit(&self) -> Exit {
        self.cause.exit()
    }

    /// The one-line verdict for stderr: `orchestra: <task> <verdict> ...`.
    pub fn verdict_line(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Failed => "failed",
            Verdict::Timeout => "timeout",
            Verdict::Violation => "violation",
        };
        let mut s = format!("orchestra: {} {verdict} cause={}", self.task.escape_debug(), cause_name(self.cause));
        if let Some(c) = self.exit_status {
            s.push_str(&format!(" exit={c}"));
        }
        if let Some(sig) = self.signal {
            s.push_str(&format!(" signal={sig}"));
        }
        let rules = distinct_rules(&self.violations);
        if !rules.is_empty() {
            s.push_str(&format!(" rules={}", join_rules(&rules, ",")));
            if let Some(v) = self.violations.first() {
                // Quoted and escaped: a task-chosen path must not break the line.
                s.push_str(&format!(" first={:?}", v.detail));
            }
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(" error={:?}", e));
        }
        s.push_str(&format!(" wall={}ms", self.wall_ms));
        s
    }
}

/// The rules of `violations`, each once, in the order first seen.
pub fn distinct_rules(violations: &[Violation]) -> Vec<super::Rule> {
    let mut rules = Vec::new();
    for v in violations {
        if !rules.contains(&v.rule) {
            rules.push(v.rule);
        }
    }
    rules
}

/// Rule names joined by `sep`.
pub fn join_rules(rules: &[super::Rule], sep: &str) -> String {
    rules.iter().map(ToString::to_string).collect::<Vec<_>>().join(sep)
}

/// An optional value as report and audit text: the value, or `unset`
/// (never Rust's `Some(..)`/`None`).
pub fn or_unset<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "unset".to_string(), |x| x.to_string())
}

/// The snake_case name of a cause.
pub fn cause_name(c: Cause) -> &'static str {
    match c {
        Cause::Ok => "ok",
        Cause::ChildExit => "child_exit",
        Cause::Signal => "signal",
        Cause::Timeout => "timeout",
        Cause::PolicyDenied => "policy_denied",
        Cause::LimitExceeded => "limit_exceeded",
        Cause::SetupFailed => "setup_failed",
    }
}

/// Now, as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_failure_is_never_a_violation() {
        assert_eq!(Cause::ChildExit.exit(), Exit::Failed);
        assert_eq!(Cause::ChildExit.verdict(), Verdict::Failed);
        assert_eq!(Cause::PolicyDenied.exit(), Exit::Violation);
        assert_eq!(Cause::LimitExceeded.exit(), Exit::Violation);
        assert_eq!(Cause::Timeout.exit(), Exit::Timeout);
        assert_eq!(Cause::SetupFailed.exit(), Exit::Config);
    }
}
