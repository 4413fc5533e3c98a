//! Bounds on the records a task's end writes (FORMAT.md §5.3, "Bounds"), so
//! that they always fit in the space reserved before the task ran
//! ([`crate::TASK_RESERVE_BYTES`]) whatever the task names its files or makes
//! its violations say.
//!
//! What this guarantees, for bodies that went through [`end_record`] or
//! [`workspace_changed`] *after* redaction ([`crate::events::stamp`], which
//! may lengthen a string):
//!
//! - every string member, every string in a list member, and every string
//!   member of a `workspace_changed` entry is at most [`MAX_TEXT`] bytes once
//!   canonically encoded (quotes and escapes included, FORMAT.md §6); a string
//!   that was cut is marked by `<member>_truncated: true` beside it;
//! - a list of strings keeps at most [`MAX_LIST`] of them (then also
//!   `<member>_truncated: true`);
//! - a `workspace_changed` body is at most [`MAX_WORKSPACE_BODY`] bytes: its
//!   `entries` stop early and `truncated` is `true`;
//! - [`violations`] yields at most [`MAX_VIOLATION_RECORDS`] violation bodies
//!   (the first ones, the first of each further rule, the last ones) and then
//!   one `report.truncated` body counting the rest by rule.
//!
//! With these, one exec's end records and their checkpoints take at most
//! [`END_RECORDS_WORST_CASE`] bytes of segment (a test appends the worst case
//! and measures it), well below the reservation.

use crate::record::canonical_json;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Most bytes of one string once canonically encoded, quotes included.
pub const MAX_TEXT: usize = 512;
/// Most strings kept in one list member (`enforced`, `opt_outs`).
pub const MAX_LIST: usize = 64;
/// Most `violation` records one task's end writes (then one more that counts the rest).
pub const MAX_VIOLATION_RECORDS: usize = 128;
/// Most bytes of a `workspace_changed` body, canonically encoded.
pub const MAX_WORKSPACE_BODY: usize = 64 << 10;
/// Most bytes one exec's end records take in a segment, frames and
/// checkpoints included (the measured worst case is below it; see the test).
pub const END_RECORDS_WORST_CASE: u64 = 512 << 10;
// The worst case stays at most half the reservation.
const _: () = assert!(END_RECORDS_WORST_CASE * 2 <= crate::TASK_RESERVE_BYTES);

/// The rule of the record that stands for the violations not recorded one by one.
pub const OMITTED_RULE: &str = "report.truncated";

/// Canonically encoded length of `s`, quotes included (FORMAT.md §6).
pub fn encoded_len(s: &str) -> usize {
    2 + s.bytes().map(escaped_len).sum::<usize>()
}

fn escaped_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0..=0x1f => 6,
        _ => 1,
    }
}

/// `s` cut at a character boundary so that its encoding is at most `max`
/// bytes, or `None` when it fits already.
pub fn cap(s: &str, max: usize) -> Option<String> {
    if encoded_len(s) <= max {
        return None;
    }
    let mut used = 2;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let mut buf = [0u8; 4];
        let n: usize = c.encode_utf8(&mut buf).bytes().map(escaped_len).sum();
        if used + n > max {
            break;
        }
        used += n;
        end = i + c.len_utf8();
    }
    Some(s[..end].to_string())
}

/// Cap the string and list-of-string members of `o` (see the module doc),
/// marking each changed member `m` with `m_truncated: true`.
fn cap_members(o: &mut Map<String, Value>) {
    let mut marks = Vec::new();
    for (k, v) in o.iter_mut() {
        let changed = match v {
            Value::String(s) => cap(s, MAX_TEXT).map(|c| *s = c).is_some(),
            Value::Array(a) if a.iter().all(Value::is_string) => {
                let mut changed = a.len() > MAX_LIST;
                a.truncate(MAX_LIST);
                for x in a.iter_mut() {
                    if let Value::String(s) = x
                        && let Some(c) = cap(s, MAX_TEXT)
                    {
                        *s = c;
                        changed = true;
                    }
                }
                changed
            }
            _ => false,
        };
        if changed {
            marks.push(format!("{k}_truncated"));
        }
    }
    for m in marks {
        o.insert(m, true.into());
    }
}

/// A `violation`, `task_attested` or `task_ended` body, bounded.
pub fn end_record(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        cap_members(o);
    }
    body
}

/// A `workspace_changed` body, bounded: its members and each entry's as
/// [`end_record`], then as many entries as fit in [`MAX_WORKSPACE_BODY`]
/// (`truncated: true` when any is left out).
pub fn workspace_changed(mut body: Value) -> Value {
    let Some(o) = body.as_object_mut() else { return body };
    cap_members(o);
    let Some(Value::Array(entries)) = o.remove("entries") else { return body };
    o.insert("entries".into(), Value::Array(Vec::new()));
    let mark_room = if o.contains_key("truncated") { 0 } else { r#","truncated":true"#.len() };
    let base = canonical_json(&body).map_or(usize::MAX, |b| b.len());
    let mut used = base.saturating_add(mark_room).saturating_add(5);
    let mut kept = Vec::new();
    let total = entries.len();
    for mut e in entries {
        if let Some(eo) = e.as_object_mut() {
            cap_members(eo);
        }
        let n = canonical_json(&e).map_or(usize::MAX, |b| b.len()).saturating_add(1);
        if used.saturating_add(n) > MAX_WORKSPACE_BODY {
            break;
        }
        used += n;
        kept.push(e);
    }
    if let Some(o) = body.as_object_mut() {
        if kept.len() < total {
            o.insert("truncated".into(), true.into());
        }
        o.insert("entries".into(), Value::Array(kept));
    }
    body
}

/// The `violation` bodies for `task`'s violations `(rule, detail)`, at most
/// [`MAX_VIOLATION_RECORDS`] of them and, when some are left out, one
/// [`OMITTED_RULE`] body after them whose detail counts the left-out ones by
/// rule (the task's report lists them all). Past the bound the records keep,
/// in the task's order:
///
/// - the first [`HEAD_VIOLATION_RECORDS`] violations as they came;
/// - then the first violation of each rule not yet met, while the budget
///   before the tail lasts (a call refused hundreds of times does not hide
///   the one other thing the task tried), and the earliest of the rest in
///   what budget is left;
/// - the last [`TAIL_VIOLATION_RECORDS`] violations: the end's own checks
///   (decoys, the set-ID sweeps, the limit that stopped the task) come last
///   in a report and are what a reviewer most needs on record.
///
/// Not yet redacted nor bounded: pass each through `stamp`, then [`end_record`].
pub fn violations<'a>(task: &str, all: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Value> {
    let all: Vec<(&str, &str)> = all.into_iter().collect();
    let keep = kept_violations(&all.iter().map(|(rule, _)| *rule).collect::<Vec<_>>());
    let mut out = Vec::new();
    let mut omitted: BTreeMap<&str, u64> = BTreeMap::new();
    for ((rule, detail), kept) in all.iter().zip(keep) {
        if kept {
            out.push(crate::events::violation(task, rule, detail));
        } else {
            *omitted.entry(rule).or_default() += 1;
        }
    }
    if !omitted.is_empty() {
        let n: u64 = omitted.values().sum();
        let by_rule: Vec<String> = omitted.iter().map(|(r, c)| format!("{r}: {c}")).collect();
        out.push(json!({
            "task": task,
            "rule": OMITTED_RULE,
            "detail": format!(
                "{n} more violations are not recorded one by one (the task's report lists them): {}",
                by_rule.join(", ")
            ),
        }));
    }
    out
}

/// Violations kept from the start of a list longer than the bound.
pub const HEAD_VIOLATION_RECORDS: usize = 64;
/// Violations kept from the end of a list longer than the bound.
pub const TAIL_VIOLATION_RECORDS: usize = 32;
const _: () = assert!(HEAD_VIOLATION_RECORDS + TAIL_VIOLATION_RECORDS <= MAX_VIOLATION_RECORDS);

/// Which of the violations with these `rules` get a record of their own
/// (see [`violations`]): all when they fit; never more than
/// [`MAX_VIOLATION_RECORDS`].
fn kept_violations(rules: &[&str]) -> Vec<bool> {
    if rules.len() <= MAX_VIOLATION_RECORDS {
        return vec![true; rules.len()];
    }
    let tail_from = rules.len() - TAIL_VIOLATION_RECORDS;
    let before_tail = MAX_VIOLATION_RECORDS - TAIL_VIOLATION_RECORDS;
    let mut kept = vec![false; rules.len()];
    let mut n = HEAD_VIOLATION_RECORDS;
    kept[..n].fill(true);
    let mut seen: std::collections::BTreeSet<&str> = rules[..n].iter().copied().collect();
    for (i, rule) in rules.iter().enumerate().take(tail_from).skip(HEAD_VIOLATION_RECORDS) {
        if n < before_tail && seen.insert(rule) {
            kept[i] = true;
            n += 1;
        }
    }
    // What budget is left before the tail goes to the earliest of the rest.
    for k in kept.iter_mut().take(tail_from).skip(HEAD_VIOLATION_RECORDS) {
        if n < before_tail && !*k {
            *k = true;
            n += 1;
        }
    }
    kept[tail_from..].fill(true);
    kept
}

#[cfg(test)]
mod tests;
