//! `junit.xml`: one test case per task, for CI test-report views (GitLab
//! `artifacts:reports:junit`, Jenkins, GitHub test-report actions).
//!
//! Guarantees: one `<testsuite>` for the run (named after the intent or plan
//! file, not the run id, so CI test history lines runs up; the run id is a
//! property), one `<testcase>` per task of the
//! plan (name = task id), counts that match the task states; the three kinds
//! of non-success are told apart both by element and by `type`:
//! - failed (non-zero exit, crash, setup failure): `<failure type="failed">`;
//! - timed out (the task's or the run's timeout): `<failure type="timeout">`;
//! - violation (policy denial or exceeded limit): `<error type="violation">`
//!   with every violation (`rule: detail`) in its text;
//! - skipped or cancelled (never ran): `<skipped type="skipped|cancelled">`.
//!
//! Task output (the tail of its log) goes to `<system-out>` of tasks that did
//! not succeed; every string is made XML-safe (control characters replaced),
//! and the serialiser escapes markup, so no task output can break the document.

use super::CiError;
use super::text::{clip, suffix, xml_safe};
use crate::orchestrator::report::{RunReport, TaskReport};
use crate::runstore::RunDir;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Bytes of a task's log kept in `<system-out>` (its end: where errors are).
pub const LOG_TAIL_BYTES: usize = 32 * 1024;
/// Bytes of one violation detail kept.
const DETAIL_BYTES: usize = 1024;
/// Violations listed per task; the rest are counted.
const MAX_VIOLATIONS: usize = 200;

/// Render the JUnit XML document for a run.
pub fn render(report: &RunReport, run: &RunDir) -> Result<String, CiError> {
    // A stable name (no run id), so CI test history lines runs up.
    let what = match (&report.intent, &report.plan_file) {
        (Some(i), _) => i.clone(),
        (None, Some(p)) => {
            std::path::Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
        }
        (None, None) => "run".to_string(),
    };
    let mut suite = TestSuite::new(xml_safe(&format!("orchestra: {what}")));
    suite.set_time(Duration::from_millis(report.wall_ms));
    suite.add_property(Property::new("run_id", report.run_id.as_str()));
    suite.add_property(Property::new("status", report.status.as_str()));
    if let Some(code) = report.exit_code {
        suite.add_property(Property::new("exit_code", code.to_string()));
    }
    if let Some(i) = &report.intent {
        suite.add_property(Property::new("intent", xml_safe(i)));
    }
    if let Some(p) = &report.plan_file {
        suite.add_property(Property::new("plan", xml_safe(p)));
    }
    for t in &report.tasks {
        suite.add_test_case(test_case(t, log_of(t, run).as_deref()));
    }
    let mut r = Report::new("orchestra");
    r.set_time(Duration::from_millis(report.wall_ms));
    r.add_test_suite(suite);
    r.to_string().map_err(|e| CiError::Render { what: "junit.xml", message: e.to_string() })
}

/// The log of a task that did not succeed, for its `<system-out>` (a
/// succeeded task's log is not shown, so not read).
fn log_of(t: &TaskReport, run: &RunDir) -> Option<String> {
    if t.state == "succeeded" {
        return None;
    }
    std::fs::read(run.path.join(&t.log)).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The `type` attribute for a task state (`None` for success).
pub fn kind_of(state: &str) -> Option<&'static str> {
    match state {
        "succeeded" => None,
        "failed" => Some("failed"),
        "timed_out" => Some("timeout"),
        "violation" => Some("violation"),
        "skipped" => Some("skipped"),
        "cancelled" => Some("cancelled"),
        _ => Some("cancelled"),
    }
}

fn test_case(t: &TaskReport, log: Option<&str>) -> TestCase {
    let status = match kind_of(&t.state) {
        None => TestCaseStatus::success(),
        Some(ty @ ("failed" | "timeout")) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(ty).set_message(xml_safe(&message(t)));
            s
        }
        Some(ty @ "violation") => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type(ty).set_message(xml_safe(&message(t))).set_description(xml_safe(&violations(t)));
            s
        }
        Some(ty) => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(ty).set_message(xml_safe(&message(t)));
            s
        }
    };
    let mut tc = TestCase::new(t.id.as_str(), status);
    tc.set_classname("orchestra");
    tc.set_time(Duration::from_millis(t.wall_ms));
    tc.add_property(Property::new("state", t.state.as_str()));
    if let Some(c) = &t.cause {
        tc.add_property(Property::new("cause", c.as_str()));
    }
    tc.add_property(Property::new("policy", xml_safe(&t.policy)));
    tc.add_property(Property::new("policy_sha256", t.policy_sha256.as_str()));
    tc.add_property(Property::new("backend", t.backend.as_str()));
    tc.add_property(Property::new("attempts", t.attempts.to_string()));
    if let Some(c) = &t.workspace_changes {
        tc.add_property(Property::new("workspace_changes", c.brief()));
    }
    if t.state != "succeeded"
        && let Some(log) = log
        && !log.is_empty()
    {
        let tail = suffix(log, LOG_TAIL_BYTES);
        let cut = if tail.len() < log.len() { "[… earlier output cut; full log in the run directory]\n" } else { "" };
        tc.set_system_out(xml_safe(&format!("{cut}{tail}")));
    }
    tc
}

/// One line: what happened (cause, exit status or signal, rules, note).
pub fn message(t: &TaskReport) -> String {
    let mut parts = Vec::new();
    match t.state.as_str() {
        "violation" => {
            let rules = crate::sandbox::report::distinct_rules(&t.violations);
            parts.push(format!("policy violation: {}", crate::sandbox::report::join_rules(&rules, ", ")));
        }
        "timed_out" => parts.push("timed out".to_string()),
        "failed" => parts.push("failed".to_string()),
        other => parts.push(other.to_string()),
    }
    if let Some(s) = t.exit_status
        && s != 0
    {
        parts.push(format!("exit status {s}"));
    }
    if let Some(s) = t.signal {
        parts.push(format!("signal {s}"));
    }
    if let Some(c) = &t.cause
        && c != "ok"
    {
        parts.push(format!("cause {c}"));
    }
    if let Some(n) = &t.note {
        parts.push(clip(n, DETAIL_BYTES));
    }
    parts.join("; ")
}

fn violations(t: &TaskReport) -> String {
    let mut s = String::new();
    for v in t.violations.iter().take(MAX_VIOLATIONS) {
        s.push_str(&format!("{} at {}: {}\n", v.rule, v.at, clip(&v.detail, DETAIL_BYTES)));
    }
    if t.violations.len() > MAX_VIOLATIONS {
        s.push_str(&format!("… and {} more (report.json has them all)\n", t.violations.len() - MAX_VIOLATIONS));
    }
    s
}
