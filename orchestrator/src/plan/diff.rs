//! Plan diffs: which tasks and edges two plans add, remove or change
//! (`orchestra plan diff`, and the `plans/replan-N.diff` of every replan).
//!
//! Guarantees: tasks are matched by id; a task is *changed* when any field
//! other than its id and `needs` differs (each differing field is named with
//! its old and new value); `needs` are compared as edges `dep -> task`. The
//! output is deterministic (sorted by id) so diffs can be compared and tested.

use super::{Plan, Task};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A changed field: name, old value, new value (as compact JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field (`args`, `tool`, ...).
    pub field: String,
    /// Before (JSON, `null` if absent).
    pub old: String,
    /// After.
    pub new: String,
}

/// The difference between two plans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    /// Tasks only in the new plan.
    pub added: Vec<String>,
    /// Tasks only in the old plan.
    pub removed: Vec<String>,
    /// Tasks in both whose definition differs.
    pub changed: BTreeMap<String, Vec<FieldChange>>,
    /// Edges `(dependency, task)` only in the new plan.
    pub edges_added: Vec<(String, String)>,
    /// Edges only in the old plan.
    pub edges_removed: Vec<(String, String)>,
    /// Plan-level fields that differ (`policy`, `timeout`, `name`).
    pub plan_changes: Vec<FieldChange>,
}

fn fields(t: &Task) -> BTreeMap<String, serde_json::Value> {
    let mut m = match serde_json::to_value(t) {
        Ok(serde_json::Value::Object(o)) => o.into_iter().collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    m.remove("id");
    m.remove("needs");
    m
}

fn edges(p: &Plan) -> BTreeSet<(String, String)> {
    p.tasks.iter().flat_map(|t| t.needs().map(move |n| (n.to_string(), t.id().to_string()))).collect()
}

fn compact(v: Option<&serde_json::Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "null".into())
}

/// Compare `old` with `new`.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let a: BTreeMap<&str, &Task> = old.tasks.iter().map(|t| (t.id(), t)).collect();
    let b: BTreeMap<&str, &Task> = new.tasks.iter().map(|t| (t.id(), t)).collect();
    let mut d = PlanDiff {
        added: b.keys().filter(|k| !a.contains_key(*k)).map(|k| k.to_string()).collect(),
        removed: a.keys().filter(|k| !b.contains_key(*k)).map(|k| k.to_string()).collect(),
        ..PlanDiff::default()
    };
    for (id, ta) in &a {
        let Some(tb) = b.get(id) else { continue };
        let (fa, fb) = (fields(ta), fields(tb));
        let keys: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
        let changes: Vec<FieldChange> = keys
            .into_iter()
            .filter(|k| fa.get(*k) != fb.get(*k))
            .map(|k| FieldChange { field: k.clone(), old: compact(fa.get(k)), new: compact(fb.get(k)) })
            .collect();
        if !changes.is_empty() {
            d.changed.insert(id.to_string(), changes);
        }
    }
    let (ea, eb) = (edges(old), edges(new));
    d.edges_added = eb.difference(&ea).cloned().collect();
    d.edges_removed = ea.difference(&eb).cloned().collect();
    let head = |p: &Plan| {
        let mut v = serde_json::to_value(Plan { tasks: Vec::new(), intent: None, ..p.clone() })
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        v.remove("tasks");
        v.into_iter().collect::<BTreeMap<_, _>>()
    };
    let (ha, hb) = (head(old), head(new));
    let keys: BTreeSet<&String> = ha.keys().chain(hb.keys()).collect();
    d.plan_changes = keys
        .into_iter()
        .filter(|k| ha.get(*k) != hb.get(*k))
        .map(|k| FieldChange { field: k.clone(), old: compact(ha.get(k)), new: compact(hb.get(k)) })
        .collect();
    d
}

impl PlanDiff {
    /// Whether the plans are the same (tasks, edges and plan-level fields).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.edges_added.is_empty()
            && self.edges_removed.is_empty()
            && self.plan_changes.is_empty()
    }

    /// `1 task added, 1 removed, 1 changed; 2 edges added, 1 removed`.
    pub fn summary(&self) -> String {
        format!(
            "{} task{} added, {} removed, {} changed; {} edge{} added, {} removed",
            self.added.len(),
            if self.added.len() == 1 { "" } else { "s" },
            self.removed.len(),
            self.changed.len(),
            self.edges_added.len(),
            if self.edges_added.len() == 1 { "" } else { "s" },
            self.edges_removed.len()
        )
    }

    /// The diff for people: one line per change, `+` added, `-` removed, `~` changed.
    pub fn render(&self, old_name: &str, new_name: &str, new: &Plan) -> String {
        let mut s = format!("--- {old_name}\n+++ {new_name}\n");
        for c in &self.plan_changes {
            s.push_str(&format!("~ plan {}: {} -> {}\n", c.field, c.old, c.new));
        }
        for id in &self.removed {
            s.push_str(&format!("- task {id}\n"));
        }
        for id in &self.added {
            let what = new
                .tasks
                .iter()
                .find(|t| t.id() == id)
                .map(|t| {
                    let args: Vec<String> = t.args.iter().map(|a| format!("{a:?}")).collect();
                    format!(": {} [{}]", t.tool.value, args.join(", "))
                })
                .unwrap_or_default();
            s.push_str(&format!("+ task {id}{what}\n"));
        }
        for (id, changes) in &self.changed {
            for c in changes {
                s.push_str(&format!("~ task {id}: {}: {} -> {}\n", c.field, c.old, c.new));
            }
        }
        for (a, b) in &self.edges_removed {
            s.push_str(&format!("- edge {a} -> {b}\n"));
        }
        for (a, b) in &self.edges_added {
            s.push_str(&format!("+ edge {a} -> {b}\n"));
        }
        s.push_str(&format!("# {}\n", self.summary()));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse;

    #[test]
    fn tasks_and_edges_added_removed_and_changed() {
        let a = parse(
            "tasks:\n- {id: build, tool: make, args: [all]}\n- {id: test, tool: make, args: [test], needs: [build]}\n- {id: doc, tool: make}\n",
            "a",
        )
        .unwrap();
        let b = parse(
            "policy: strict\ntasks:\n- {id: build, tool: make, args: [all, -j2]}\n- {id: test, tool: make, args: [test]}\n- {id: lint, tool: ruff, needs: [build, test]}\n",
            "b",
        )
        .unwrap();
        let d = diff(&a, &b);
        assert_eq!(d.added, ["lint"]);
        assert_eq!(d.removed, ["doc"]);
        assert_eq!(d.changed.keys().collect::<Vec<_>>(), ["build"]);
        assert_eq!(
            d.changed["build"][0],
            FieldChange { field: "args".into(), old: "[\"all\"]".into(), new: "[\"all\",\"-j2\"]".into() }
        );
        assert_eq!(d.edges_removed, [("build".to_string(), "test".to_string())]);
        assert_eq!(
            d.edges_added,
            [("build".to_string(), "lint".to_string()), ("test".to_string(), "lint".to_string())]
        );
        assert_eq!(d.plan_changes[0].field, "policy");
        assert_eq!(d.summary(), "1 task added, 1 removed, 1 changed; 2 edges added, 1 removed");
        let text = d.render("a", "b", &b);
        assert!(text.contains("+ task lint: ruff []\n"), "{text}");
        assert!(text.contains("- task doc\n") && text.contains("~ task build: args: [\"all\"] -> [\"all\",\"-j2\"]\n"));
        assert!(text.contains("- edge build -> test\n") && text.contains("+ edge test -> lint\n"), "{text}");
        assert!(diff(&a, &a).is_empty());
    }
}
