//! Failure analysis: is a failed task worth retrying as it is (transient), or
//! does the plan have to change (permanent)?
//!
//! Guarantees: a pure function of the attempt's cause, exit status, signal
//! and log tail; violations and limit overruns are never analysed here (they
//! end the task with exit-4 semantics and are never retried or replanned);
//! when nothing is recognised the answer is [`Class::Unknown`], and the task's
//! own `retries` decide, as before.

use regex::RegexSet;
use std::sync::OnceLock;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Likely to pass if run again (network, lock contention, out of memory): retry with backoff.
    Transient,
    /// Will fail the same way again (compile error, missing tool, crash, failing test): replan.
    Permanent,
    /// Nothing recognised: the task's own `retries` apply, then it counts as permanent.
    Unknown,
}

impl Class {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Transient => "transient",
            Class::Permanent => "permanent",
            Class::Unknown => "unknown",
        }
    }
}

/// What failed.
#[derive(Debug, Clone, Default)]
pub struct Failure<'a> {
    /// The sandbox's cause (`child_exit`, `signal`, `timeout`, `setup_failed`).
    pub cause: &'a str,
    /// Exit status, if it exited.
    pub exit_status: Option<i32>,
    /// Signal, if one ended it.
    pub signal: Option<i32>,
    /// The end of its log.
    pub log_tail: &'a str,
}

/// The verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Analysis {
    /// Transient, permanent or unknown.
    pub class: Class,
    /// In words (`network error: "Could not resolve host"`).
    pub reason: String,
}

/// (kind, pattern) — transient first: a network error often causes the compile error after it.
const TRANSIENT: &[(&str, &str)] = &[
    ("network error", r"(?i)could not resolve host|temporary failure in name resolution|name or service not known"),
    ("network error", r"(?i)connection (refused|reset|timed out)|network is unreachable|no route to host"),
    (
        "network error",
        r"(?i)tls handshake timeout|failed to download|spurious network error|ETIMEDOUT|ECONNRESET|EAI_AGAIN",
    ),
    ("network error", r"(?i)\b(429 too many requests|502 bad gateway|503 service unavailable|504 gateway time-?out)\b"),
    (
        "lock contention",
        r"(?i)blocking waiting for file lock|could not (get|acquire) lock|unable to (acquire|obtain) lock",
    ),
    ("lock contention", r"(?i)database is locked|resource temporarily unavailable|text file busy|index\.lock.*exists"),
    ("out of memory", r"(?i)out of memory|cannot allocate memory|std::bad_alloc|memory allocation of \d+ bytes failed"),
    ("out of memory", r"(?i)\boom[- ]kill|killed process \d+|javascript heap out of memory"),
];

const PERMANENT: &[(&str, &str)] = &[
    (
        "missing tool",
        r"(?i)command not found|: not found$|no such file or directory.*(exec|spawn)|executable file not found",
    ),
    ("compile error", r"error\[E\d{4}\]|(?i)error: could not compile|error: aborting due to"),
    ("compile error", r"(?m)^\S+\.(c|cc|cpp|h|hpp|rs|go|java|kt|ts|swift):\d+(:\d+)?: (fatal )?error"),
    ("compile error", r"(?i)undefined reference to|syntaxerror|cannot find symbol|no rule to make target"),
    ("missing dependency", r"(?i)modulenotfounderror|cannot find module|package .* is not in|unresolved import"),
    ("failing tests", r"(?i)test result: failed|\b[1-9]\d* failed|assertionerror|tests? failed"),
];

fn sets() -> &'static (RegexSet, RegexSet) {
    static SETS: OnceLock<(RegexSet, RegexSet)> = OnceLock::new();
    SETS.get_or_init(|| {
        let build =
            |pats: &[(&str, &str)]| RegexSet::new(pats.iter().map(|(_, p)| *p)).unwrap_or_else(|_| RegexSet::empty());
        (build(TRANSIENT), build(PERMANENT))
    })
}

/// Classify a failed attempt.
pub fn analyse(f: &Failure<'_>) -> Analysis {
    let (transient, permanent) = sets();
    let t = transient.matches(f.log_tail);
    if let Some(i) = t.iter().next() {
        return Analysis { class: Class::Transient, reason: format!("{} in the log", TRANSIENT[i].0) };
    }
    // SIGKILL outside a declared limit (those are violations): the OOM killer, most likely.
    if f.signal == Some(libc::SIGKILL) {
        return Analysis { class: Class::Transient, reason: "killed by SIGKILL (out of memory?)".into() };
    }
    if matches!(f.exit_status, Some(126 | 127)) {
        return Analysis {
            class: Class::Permanent,
            reason: format!("missing tool (exit {})", f.exit_status.unwrap_or_default()),
        };
    }
    let p = permanent.matches(f.log_tail);
    if let Some(i) = p.iter().next() {
        return Analysis { class: Class::Permanent, reason: format!("{} in the log", PERMANENT[i].0) };
    }
    if let Some(sig @ (libc::SIGSEGV | libc::SIGABRT | libc::SIGBUS | libc::SIGILL | libc::SIGFPE)) = f.signal {
        return Analysis { class: Class::Permanent, reason: format!("crashed (signal {sig})") };
    }
    Analysis { class: Class::Unknown, reason: format!("nothing recognised (cause {})", f.cause) }
}

/// The last `max_lines` lines (at most 16 KiB) of a log file; empty if unreadable.
pub fn log_tail(path: &std::path::Path, max_lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 16 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut buf = Vec::new();
    let _ = f.take(MAX).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(log: &str, exit: Option<i32>, signal: Option<i32>) -> Class {
        analyse(&Failure { cause: "child_exit", exit_status: exit, signal, log_tail: log }).class
    }

    #[test]
    fn known_patterns_are_classified() {
        assert_eq!(class("error: Could not resolve host: github.com", Some(1), None), Class::Transient);
        assert_eq!(class("Blocking waiting for file lock on package cache", Some(101), None), Class::Transient);
        assert_eq!(class("fatal: Unable to create '.git/index.lock': File exists.", Some(128), None), Class::Transient);
        assert_eq!(class("memory allocation of 1048576 bytes failed", None, Some(6)), Class::Transient);
        assert_eq!(class("", None, Some(9)), Class::Transient);
        assert_eq!(class("error[E0425]: cannot find value `x`", Some(101), None), Class::Permanent);
        assert_eq!(class("main.c:3:5: error: expected ';'", Some(2), None), Class::Permanent);
        assert_eq!(class("sh: 1: frobnicate: not found", Some(127), None), Class::Permanent);
        assert_eq!(class("", Some(127), None), Class::Permanent);
        assert_eq!(class("test result: FAILED. 1 passed; 2 failed", Some(101), None), Class::Permanent);
        assert_eq!(class("", None, Some(11)), Class::Permanent);
        assert_eq!(class("something odd", Some(1), None), Class::Unknown);
    }

    #[test]
    fn a_network_error_wins_over_the_compile_error_it_caused() {
        let log = "warning: spurious network error (2 tries remaining)\nerror: could not compile `x`";
        assert_eq!(class(log, Some(101), None), Class::Transient);
    }
}
