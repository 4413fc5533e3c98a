//! Bodies of the records `orchestra exec` and `orchestra run` write
//! (FORMAT.md §5.3); their kinds are [`super::Kind`]s.
//!
//! The writer takes any kind and JSON object; these helpers keep the field
//! names in one place. Times are integers (`wall_ms`): audit bodies carry no
//! floats.
//!
//! Guarantees: a body that went through [`stamp`] carries this process's
//! `invocation` id and has every string value redacted by the shared rules
//! ([`crate::redact`]); [`task_started`] redacts the command line
//! argument-wise first and records how many arguments it changed
//! (`argv_redacted`). No secret a rule recognises reaches a segment.

use crate::invocation;
use crate::redact::Redactor;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The redactor for records: the shared rules and the values of this
/// process's secret-named environment variables.
fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(Redactor::from_named_env)
}

/// Body of [`super::Kind::TaskStarted`]: task name, argv (redacted, with
/// `argv_redacted: n` when n > 0 arguments changed), effective policy hash,
/// backend, the controls requested, and who started it ([`with_context`]).
pub fn task_started(task: &str, argv: &[String], policy_hash: &str, backend: &str, controls: &[String]) -> Value {
    let (argv, changed) = redactor().redact_argv(argv);
    let mut v =
        json!({"task": task, "argv": argv, "policy_hash": policy_hash, "backend": backend, "controls": controls});
    if changed > 0
        && let Some(o) = v.as_object_mut()
    {
        o.insert("argv_redacted".into(), changed.into());
    }
    with_context(v)
}

/// Add who writes (`host`, `user`, `ci`: [`invocation::Invocation::context`])
/// to the body that opens an invocation's records (`task_started`,
/// `run_started`, `run_resumed`).
pub fn with_context(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.extend(invocation::current().context());
    }
    body
}

/// Make a body ready to append: every string value redacted, `invocation`
/// (this process's id) and, if given, `run_id` added.
pub fn stamp(body: Value, run_id: Option<&str>) -> Value {
    let mut body = redact_strings(body);
    if let Some(o) = body.as_object_mut() {
        o.insert("invocation".into(), invocation::current().id.clone().into());
        if let Some(r) = run_id {
            o.insert("run_id".into(), r.into());
        }
    }
    body
}

/// Every string value in `v` (not object keys) through the record redactor.
fn redact_strings(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(redactor().redact(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(redact_strings).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, x)| (k, redact_strings(x))).collect()),
        other => other,
    }
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

/// Add `run_id` to a body (for `orchestra audit show --run ID`); [`stamp`]
/// does this and more.
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
            stamp(task_started("t", &argv, "sha256:00", "jail", &ctl), Some("r1")),
        ] {
            assert!(crate::record::canonical_json(&b).is_ok());
            assert!(b.is_object());
        }
    }

    #[test]
    fn stamped_bodies_carry_the_invocation_and_no_recognised_secret() {
        let argv: Vec<String> =
            ["deploy", "--password", "hunter2", "https://u:s3cret@host"].iter().map(|s| s.to_string()).collect();
        let b = stamp(task_started("t", &argv, "sha256:00", "jail", &[]), Some("r1"));
        let text = String::from_utf8(crate::record::canonical_json(&b).unwrap_or_default()).unwrap_or_default();
        assert!(!text.contains("hunter2") && !text.contains("s3cret"), "{text}");
        assert_eq!(b["argv_redacted"], 2);
        assert_eq!(b["invocation"], invocation::current().id.as_str());
        assert_eq!(b["run_id"], "r1");
        assert_eq!(b["user"]["uid"], invocation::current().uid);
        assert!(b.get("host").is_some());
        let v = stamp(violation("t", "fs.write", "open /x?token=abc123"), None);
        assert_eq!(v["detail"], "open /x?token=[REDACTED]");
        assert!(v.get("run_id").is_none() && v.get("host").is_none());
    }
}
