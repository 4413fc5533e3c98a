//! The per-task verdict and report (CONTRACTS.md §3).
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
    pub rule: String,
    /// What the task tried.
    pub detail: String,
    /// When (RFC 3339, UTC, milliseconds).
    pub at: String,
}

/// One control that was actually put in place (attested by the process that applied it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// Control name.
    pub control: String,
    /// What exactly.
    pub detail: String,
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
    /// Controls actually enforced.
    pub enforced: Vec<Control>,
    /// Controls the policy explicitly opted out of.
    pub opt_outs: Vec<String>,
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
        let mut rules: Vec<&str> = self.violations.iter().map(|v| v.rule.as_str()).collect();
        rules.dedup();
        if !rules.is_empty() {
            let mut uniq: Vec<&str> = Vec::new();
            for r in rules {
                if !uniq.contains(&r) {
                    uniq.push(r);
                }
            }
            s.push_str(&format!(" rules={}", uniq.join(",")));
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

/// A report for a task that never ran because its sandbox could not be set up.
pub fn setup_failed_report(task: &super::TaskSpec, backend: &str, error: &str) -> Report {
    Report {
        version: 1,
        task: task.name.clone(),
        argv: task.argv.clone(),
        backend: backend.into(),
        policy: task.policy_origin.clone(),
        policy_sha256: task.policy.hash(),
        enforced: Vec::new(),
        opt_outs: Vec::new(),
        cause: Cause::SetupFailed,
        verdict: Cause::SetupFailed.verdict(),
        exit_status: None,
        signal: None,
        wall_ms: 0,
        peak_memory_bytes: None,
        output_bytes: 0,
        violations: Vec::new(),
        error: Some(error.to_string()),
        started_at: now_rfc3339(),
    }
}

/// The cause from what a backend observed, in order of precedence: a setup
/// failure (when `setup_failed`: nothing ran), a policy violation, an exceeded
/// limit, a timeout, then the task's own exit. `None` when the task's status
/// is unknown (the caller records why: that is a setup failure too).
pub fn cause_of(
    setup_failed: bool,
    violations: &[Violation],
    timed_out: bool,
    exit_status: Option<i32>,
    signal: Option<i32>,
) -> Option<Cause> {
    Some(if setup_failed {
        Cause::SetupFailed
    } else if violations.iter().any(|v| !v.rule.starts_with("limits.")) {
        Cause::PolicyDenied
    } else if !violations.is_empty() {
        Cause::LimitExceeded
    } else if timed_out {
        Cause::Timeout
    } else {
        match (exit_status, signal) {
            (Some(0), None) => Cause::Ok,
            (Some(_), _) => Cause::ChildExit,
            (None, Some(_)) => Cause::Signal,
            (None, None) => return None,
        }
    })
}

/// What is known about the CPU time limit when a task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuEvidence {
    /// CPU time used by the task (and the descendants reaped before it ended), ms.
    pub used_ms: u64,
    /// RLIMIT_CPU soft limit (SIGXCPU), seconds.
    pub soft_secs: u64,
    /// RLIMIT_CPU hard limit (SIGKILL), seconds.
    pub hard_secs: u64,
}

/// Whether `used_ms` reached a limit of `secs`, with the accounting slack the
/// kernel's check needs: RLIMIT_CPU fires on tick-sampled user+system time,
/// which under contention runs well ahead of the precise time rusage reports
/// (1603 to 1892 ms measured at a 2 s kill on this 2-core VM, 950 ms at a 1 s
/// SIGXCPU). Slack: a quarter of the limit, at least 250 ms.
fn cpu_reached(used_ms: u64, secs: u64) -> bool {
    let limit_ms = secs.saturating_mul(1000);
    used_ms.saturating_add((limit_ms / 4).max(250)) >= limit_ms
}

/// The limit violation a task's death by `signal` proves, if any. The exit
/// status alone cannot tell a signal the kernel sent for a limit from one the
/// task raised itself, so a violation is reported only when the evidence
/// supports it (otherwise the task merely died of a signal: exit 2):
///
/// - SIGXCPU: only if the CPU time used reached the soft limit;
/// - SIGKILL (not ours: no timeout, no other violation): only if the CPU time
///   used reached the hard limit (the kernel's kill at RLIMIT_CPU's maximum);
/// - SIGXFSZ: never from the signal alone; the supervisor reports
///   `limits.disk` when a file the task wrote actually reached the limit;
/// - SIGSYS: never. No filter kills a supervised task (foreign-ABI calls are
///   notified and reported as `seccomp.abi` by the supervisor), so a SIGSYS is
///   one the task raised itself.
pub fn signal_violation(signal: i32, cpu: Option<CpuEvidence>) -> Option<(&'static str, String)> {
    let reached = |secs: u64| cpu.map(|c| (cpu_reached(c.used_ms, secs), c));
    match signal {
        libc::SIGXCPU => match cpu.and_then(|c| reached(c.soft_secs)) {
            Some((true, c)) => Some((
                "limits.cpu_time",
                format!("killed by SIGXCPU at the CPU time limit ({} ms used, limit {} s)", c.used_ms, c.soft_secs),
            )),
            _ => None,
        },
        libc::SIGKILL => match cpu.and_then(|c| reached(c.hard_secs)) {
            Some((true, c)) => Some((
                "limits.cpu_time",
                format!(
                    "killed at the hard CPU time limit after ignoring SIGXCPU ({} ms used, limit {} s, hard {} s)",
                    c.used_ms, c.soft_secs, c.hard_secs
                ),
            )),
            _ => None,
        },
        _ => None,
    }
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

    #[test]
    fn a_limit_signal_is_a_violation_only_with_evidence() {
        let cpu = |used_ms| Some(CpuEvidence { used_ms, soft_secs: 2, hard_secs: 3 });
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(2010)).map(|v| v.0), Some("limits.cpu_time"));
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(1500)).map(|v| v.0), Some("limits.cpu_time"), "tick slack");
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(1400)), None);
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(3)), None, "raised by the task itself");
        assert_eq!(signal_violation(libc::SIGXCPU, None), None, "no CPU limit, no usage");
        assert_eq!(signal_violation(libc::SIGKILL, cpu(3000)).map(|v| v.0), Some("limits.cpu_time"));
        assert_eq!(signal_violation(libc::SIGKILL, cpu(2250)).map(|v| v.0), Some("limits.cpu_time"));
        assert_eq!(signal_violation(libc::SIGKILL, cpu(2000)), None, "below the hard limit's slack");
        assert_eq!(signal_violation(libc::SIGXFSZ, cpu(9000)), None, "the supervisor judges files");
        assert_eq!(signal_violation(libc::SIGTERM, cpu(9000)), None);
        assert_eq!(signal_violation(libc::SIGSYS, cpu(9000)), None, "raised by the task: no filter kills");
    }
}
