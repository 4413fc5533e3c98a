//! `violations.sarif`: SARIF 2.1.0 (through `serde-sarif`) for GitHub code
//! scanning and other SARIF consumers.
//!
//! Guarantees:
//! - one SARIF run with tool `orchestra`, whose rules are every policy rule
//!   orchestra can report (the catalogue below, plus any other rule a report
//!   names), each with an id equal to the rule name in reports (`fs.write`);
//! - one result per violation, `level: error`, naming the task and the
//!   detail, located in a file that is the same every run (the plan file at
//!   the task's definition; for an intent run the workspace's manifest, see
//!   [`super::Source`]), relative to the repository root (`GITHUB_WORKSPACE`),
//!   and carrying a stable `partialFingerprints` entry so that code scanning
//!   tracks it across runs;
//! - at most [`MAX_RESULTS`] results and about [`MAX_BYTES`] bytes (GitHub
//!   takes 25,000 results and 10 MB per run): what is left out is counted in a
//!   tool notification, never dropped silently;
//! - a run without violations is a valid SARIF file with no results, so an
//!   upload always succeeds and closes earlier alerts.

use super::text::clip;
use super::{CiError, Source};
use crate::orchestrator::report::RunReport;
use crate::sandbox::Rule;
use serde_sarif::sarif;
use sha2::Digest;
use std::collections::BTreeMap;

/// The SARIF schema URI written into the file.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// Most results written (GitHub accepts 25,000 per run).
pub const MAX_RESULTS: usize = 20_000;
/// Approximate size budget for results, bytes (GitHub accepts 10 MB per file).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of one violation detail kept in a result message.
const DETAIL_BYTES: usize = 1024;

/// Rules orchestra reports, with what each means: every [`Rule`], whether or
/// not this run saw it (one list per tool, stable indexes).
fn catalogue() -> Vec<(String, String)> {
    Rule::all().into_iter().map(|r| (r.to_string(), r.description())).collect()
}

/// A stable fingerprint of one violation: task, rule and detail (not the time).
fn fingerprint(task: &str, rule: &str, detail: &str) -> String {
    let mut h = sha2::Sha256::new();
    for part in [task, rule, detail] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Render the SARIF log for a run.
pub fn render(report: &RunReport, source: &Source) -> Result<String, CiError> {
    let rules = catalogue();
    let index: BTreeMap<String, i64> = rules.iter().enumerate().map(|(i, (id, _))| (id.clone(), i as i64)).collect();
    let descriptors: Vec<sarif::ReportingDescriptor> = rules
        .iter()
        .map(|(id, text)| {
            let mut props = BTreeMap::new();
            props.insert("tags".to_string(), serde_json::json!(["security", "sandbox"]));
            props.insert("security-severity".to_string(), serde_json::json!("8.0"));
            sarif::ReportingDescriptor::builder()
                .id(id.as_str())
                .name(id.replace(['.', '_'], " "))
                .short_description(sarif::MultiformatMessageString::builder().text(text.as_str()).build())
                .full_description(
                    sarif::MultiformatMessageString::builder()
                        .text(format!("{text}. The task was stopped or its call denied by its sandbox policy."))
                        .build(),
                )
                .help(
                    sarif::MultiformatMessageString::builder()
                        .text("See SECURITY.md for what each rule enforces; report.json in the run directory has every detail.")
                        .build(),
                )
                .default_configuration(
                    sarif::ReportingConfiguration::builder().level(serde_json::json!("error")).build(),
                )
                .properties(sarif::PropertyBag::builder().additional_properties(props).build())
                .build()
        })
        .collect();

    let mut results = Vec::new();
    let mut bytes = 0usize;
    let mut omitted = 0usize;
    for t in &report.tasks {
        for v in &t.violations {
            if results.len() >= MAX_RESULTS || bytes >= MAX_BYTES {
                omitted += 1;
                continue;
            }
            let detail = clip(&v.detail, DETAIL_BYTES);
            let text = format!("Task `{}` violated {}: {}", t.id, v.rule, detail);
            let mut region = sarif::Region::builder().start_line(1).build();
            if let Some(line) = source.lines.get(&t.id) {
                region.start_line = Some(*line as i64);
            }
            let mut location = sarif::Location::builder().build();
            if let Some(file) = &source.file {
                location.physical_location = Some(
                    sarif::PhysicalLocation::builder()
                        .artifact_location(sarif::ArtifactLocation::builder().uri(file_uri(file)).build())
                        .region(region)
                        .build(),
                );
            }
            let mut props = BTreeMap::new();
            props.insert("task".to_string(), serde_json::json!(t.id));
            props.insert("at".to_string(), serde_json::json!(v.at));
            props.insert("policy".to_string(), serde_json::json!(t.policy));
            props.insert("policy_sha256".to_string(), serde_json::json!(t.policy_sha256));
            props.insert("run_id".to_string(), serde_json::json!(report.run_id));
            let mut fp = BTreeMap::new();
            fp.insert("orchestraViolation/v1".to_string(), fingerprint(&t.id, &v.rule.to_string(), &v.detail));
            let mut result = sarif::Result::builder()
                .message(sarif::Message::builder().text(text.as_str()).build())
                .rule_id(v.rule.to_string())
                .level(sarif::ResultLevel::Error)
                .kind(sarif::ResultKind::Fail)
                .locations(vec![location])
                .partial_fingerprints(fp)
                .properties(sarif::PropertyBag::builder().additional_properties(props).build())
                .build();
            if let Some(i) = index.get(&v.rule.to_string()) {
                result.rule_index = Some(*i);
            }
            bytes += text.len() + 512;
            results.push(result);
        }
    }

    let mut notifications = Vec::new();
    if omitted > 0 {
        notifications.push(
            sarif::Notification::builder()
                .message(
                    sarif::Message::builder()
                        .text(format!(
                            "{omitted} further violations were left out of this file (size limits); report.json in run {} lists them all",
                            report.run_id
                        ))
                        .build(),
                )
                .level(serde_json::json!("warning"))
                .build(),
        );
    }
    // Orchestra itself ran (violations and failed tasks are results, not tool failures).
    let mut invocation = sarif::Invocation::builder().execution_successful(report.status != "interrupted").build();
    if let Some(c) = report.exit_code {
        invocation.exit_code = Some(i64::from(c));
    }
    if !notifications.is_empty() {
        invocation.tool_execution_notifications = Some(notifications);
    }
    let driver = sarif::ToolComponent::builder()
        .name("orchestra")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(descriptors)
        .build();
    let mut run_props = BTreeMap::new();
    run_props.insert("run_id".to_string(), serde_json::json!(report.run_id));
    run_props.insert("status".to_string(), serde_json::json!(report.status));
    run_props.insert("omitted_results".to_string(), serde_json::json!(omitted));
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .automation_details(sarif::RunAutomationDetails::builder().id(format!("orchestra/{}", report.run_id)).build())
        .properties(sarif::PropertyBag::builder().additional_properties(run_props).build())
        .build();
    let log = sarif::Sarif::builder().schema(SCHEMA_URI).version(serde_json::json!("2.1.0")).runs(vec![run]).build();
    let mut s =
        serde_json::to_string_pretty(&log).map_err(|e| CiError::Render { what: "SARIF", message: e.to_string() })?;
    s.push('\n');
    Ok(s)
}

/// A relative path as a URI reference (percent-encoding what a URI cannot
/// hold), or an absolute path as a `file://` URI.
fn file_uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_encoded() {
        assert_eq!(file_uri("plans/a b.yaml"), "plans/a%20b.yaml");
        assert_eq!(file_uri("/w/p.yaml"), "file:///w/p.yaml");
    }

    #[test]
    fn fingerprints_ignore_time_and_separate_fields() {
        assert_eq!(fingerprint("a", "fs.write", "x"), fingerprint("a", "fs.write", "x"));
        assert_ne!(fingerprint("ab", "c", ""), fingerprint("a", "bc", ""));
    }
}
