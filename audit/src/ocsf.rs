//! OCSF events from audit records, for a SIEM (`orchestra audit show --ocsf`).
//!
//! Target: OCSF schema [`OCSF_VERSION`]. Each record becomes one event:
//! - `violation` → Detection Finding (class 2004), activity Create, severity High;
//! - `task_started` → Process Activity (class 1007), activity Launch;
//! - `task_ended` → Process Activity, activity Terminate, with the exit code;
//! - every other kind → Base Event (class 0), activity Other.
//!
//! Every event carries the record's identity (`metadata.uid` = the record
//! hash, `metadata.log_name` = the log id, `metadata.sequence` = its sequence
//! number), whether it is authenticated (`metadata.labels`), and the whole
//! record body under `unmapped`, so nothing the log says is lost in mapping.
//! Guarantee: the events hold every attribute the schema requires for their
//! class, only attributes it defines, and valid enum values
//! (`tests/it/audit_ocsf.rs` checks them against the vendored OCSF schema in
//! `tests/vendor/ocsf-schema`).

use serde_json::{Value, json};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";

/// What the mapping needs to know about one record.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    /// The log id (32 hex digits).
    pub log_id: &'a str,
    /// The record's sequence number.
    pub seq: u64,
    /// The record's hash (64 hex digits).
    pub hash: &'a str,
    /// The writer's clock, microseconds since the epoch.
    pub time_us: u64,
    /// The record kind.
    pub kind: &'a str,
    /// The record body.
    pub body: &'a Value,
    /// The record's status in the verifier's words (`signed`, `unsigned`, …).
    pub status: &'a str,
    /// Whether a checkpoint of a trusted key signs it.
    pub authenticated: bool,
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The OCSF event of one record.
pub fn event(r: &RecordView<'_>, product_version: &str) -> Value {
    let time_ms = r.time_us / 1000;
    let mut labels = vec![format!("status:{}", r.status)];
    if r.authenticated {
        labels.push("authenticated".into());
    }
    let mut metadata = json!({
        "product": {"name": "Orchestra", "vendor_name": "Orchestra", "version": product_version},
        "version": OCSF_VERSION,
        "uid": r.hash,
        "log_name": r.log_id,
        "log_provider": "orchestra audit",
        "sequence": r.seq,
        "event_code": r.kind,
        "labels": labels,
    });
    let correlation = r.body.get("run_id").or_else(|| r.body.get("invocation")).and_then(Value::as_str);
    if let Some(c) = correlation {
        metadata["correlation_uid"] = json!(c);
    }
    let task = text(r.body, "task");
    let (class_uid, category_uid, activity_id, severity_id, mut e) = match r.kind {
        "violation" => {
            let rule = text(r.body, "rule");
            (
                2004,
                2,
                1,
                4,
                json!({
                    "finding_info": {
                        "uid": format!("{}:{}", r.log_id, r.seq),
                        "title": format!("{rule}: {task}"),
                        "desc": text(r.body, "detail"),
                        "types": [rule],
                    },
                    "is_alert": true,
                    "message": format!("task {task} violated {rule}: {}", text(r.body, "detail")),
                }),
            )
        }
        "task_started" | "task_ended" => {
            let argv: Vec<&str> = r
                .body
                .get("argv")
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
            let mut process = json!({
                "uid": format!("{}:{}", text(r.body, "invocation"), task),
                "name": task,
            });
            if !argv.is_empty() {
                process["cmd_line"] = json!(argv.join(" "));
            }
            let host = r.body.get("host").and_then(Value::as_str).unwrap_or("unknown");
            let user = r.body.get("user");
            let mut actor_user = json!({});
            if let Some(name) = user.and_then(|u| u.get("name")).and_then(Value::as_str) {
                actor_user["name"] = json!(name);
            }
            if let Some(uid) = user.and_then(|u| u.get("uid")).and_then(Value::as_u64) {
                actor_user["uid"] = json!(uid.to_string());
            }
            if actor_user.as_object().is_none_or(|o| o.is_empty()) {
                actor_user["name"] = json!("orchestra");
            }
            let (activity, message) = if r.kind == "task_started" {
                (1, format!("task {task} started"))
            } else {
                (2, format!("task {task} ended: {}", text(r.body, "cause")))
            };
            let mut e = json!({
                "process": process,
                "actor": {"user": actor_user, "app_name": "orchestra"},
                "device": {"type_id": 0, "hostname": host},
                "message": message,
            });
            if let Some(code) = r.body.get("exit_status").and_then(Value::as_i64) {
                e["exit_code"] = json!(code);
            }
            (1007, 1, activity, 1, e)
        }
        other => (0, 0, 99, 1, json!({"message": format!("{other}")})),
    };
    let obj = e.as_object_mut();
    if let Some(o) = obj {
        o.insert("class_uid".into(), json!(class_uid));
        o.insert("category_uid".into(), json!(category_uid));
        o.insert("activity_id".into(), json!(activity_id));
        o.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
        o.insert("severity_id".into(), json!(severity_id));
        o.insert("time".into(), json!(time_ms));
        o.insert("metadata".into(), metadata);
        o.insert("unmapped".into(), json!({"kind": r.kind, "body": r.body}));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_is_a_detection_finding_with_the_record_in_unmapped() {
        let body = json!({"task": "build", "rule": "fs.write", "detail": "openat /etc/x", "run_id": "r1"});
        let e = event(
            &RecordView {
                log_id: "00",
                seq: 7,
                hash: "ab",
                time_us: 1_700_000_000_123_456,
                kind: "violation",
                body: &body,
                status: "signed",
                authenticated: true,
            },
            "0.1.0",
        );
        assert_eq!((e["class_uid"].as_u64(), e["type_uid"].as_u64()), (Some(2004), Some(200401)));
        assert_eq!(e["time"], 1_700_000_000_123u64);
        assert_eq!(e["finding_info"]["types"][0], "fs.write");
        assert_eq!(e["metadata"]["correlation_uid"], "r1");
        assert_eq!(e["unmapped"]["body"], body);
    }
}
