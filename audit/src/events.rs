//! Bodies of the records `orchestra exec` writes (FORMAT.md §5.3); their
//! kinds are [`super::Kind`]s.
//!
//! The writer takes any kind and JSON object; these helpers only keep the
//! field names in one place. Times are integers (`wall_ms`): audit bodies
//! carry no floats.

use serde_json::{Value, json};

/// Body of [`super::Kind::TaskStarted`]: task name, argv, effective policy hash, backend,
/// and the controls actually enforced.
pub fn task_started(task: &str, argv: &[String], policy_hash: &str, backend: &str, controls: &[String]) -> Value {
    json!({"task": task, "argv": argv, "policy_hash": policy_hash, "backend": backend, "controls": controls})
}

/// Add the canary secrets planted for a task to its `task_started` body:
/// `canaries: [{source, sha256}]`, the SHA-256 of each value (never the
/// value). Nothing is added when none were planted.
pub fn with_canaries(mut body: Value, digests: &[(String, String)]) -> Value {
    if digests.is_empty() {
        return body;
    }
    let list: Vec<Value> = digests.iter().map(|(source, sha)| json!({"source": source, "sha256": sha})).collect();
    if let Some(o) = body.as_object_mut() {
        o.insert("canaries".into(), list.into());
    }
    body
}

/// Body of [`super::Kind::Violation`]: the rule that fired and what happened.
pub fn violation(task: &str, rule: &str, detail: &str) -> Value {
    json!({"task": task, "rule": rule, "detail": detail})
}

/// Body of [`super::Kind::TaskEnded`]: the cause (`ok`, `child_exit`, `signal`, `timeout`,
/// `policy_denied`, `limit_exceeded`, `setup_failed`), the exit status or
/// signal if any, and the wall time in milliseconds.
pub fn task_ended(task: &str, cause: &str, exit_status: Option<i32>, signal: Option<i32>, wall_ms: u64) -> Value {
    let mut v = json!({"task": task, "cause": cause, "wall_ms": wall_ms});
    if let Some(o) = v.as_object_mut() {
        if let Some(s) = exit_status {
            o.insert("exit_status".into(), s.into());
        }
        if let Some(s) = signal {
            o.insert("signal".into(), s.into());
        }
    }
    v
}

/// Add `run_id` to a body (for `orchestra audit show --run ID`).
pub fn with_run_id(mut body: Value, run_id: &str) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.insert("run_id".into(), run_id.into());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_canonicalisable_objects() {
        let argv = vec!["make".to_string(), "test".to_string()];
        let ctl = vec!["landlock".to_string()];
        for b in [
            task_started("t", &argv, "sha256:00", "jail", &ctl),
            violation("t", "network.deny", "connect 1.1.1.1:443"),
            with_run_id(task_ended("t", "signal", None, Some(9), 12), "r1"),
        ] {
            assert!(crate::record::canonical_json(&b).is_ok());
            assert!(b.is_object());
        }
    }
}
