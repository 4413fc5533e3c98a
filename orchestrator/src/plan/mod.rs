//! Plans: the DAG of tasks that `orchestra run` executes (L1's input, L2's output).
//!
//! Guarantees: a [`Plan`] that [`load`] or [`validate`] accepts has unique,
//! filename-safe task ids, only known dependencies, no cycles, and a tool that
//! the whitelist ([`tools`]) allows for every task, with arguments matching the
//! tool's patterns. Every refusal is one line naming the task and, when the plan
//! came from a file, its `file:line:col`. Nothing runs before this passes.

pub mod diff;
pub mod env;
pub mod graph;
pub mod program;
pub mod tools;

use crate::policy::HumanDuration;
use crate::yaml::{LocatedError, position};
use petgraph::graph::{DiGraph, NodeIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};

/// The plan format version this build reads.
pub const PLAN_VERSION: u32 = 1;

/// Longest task id accepted (ids name log and report files).
pub const MAX_ID_LEN: usize = 64;

fn default_version() -> u32 {
    PLAN_VERSION
}

/// A plan: tasks and their dependencies.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// A short name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The free-text intent this plan was made from, if a planner made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Policy (file or preset) for tasks that do not name one; `--policy` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Wall-clock limit for the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// The tasks, in any order (dependencies decide the order).
    pub tasks: Vec<Task>,
}

/// One L3 task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique id: letters, digits, `_`, `-`, `.`; starts with a letter or digit; at most 64 characters.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// What the task is for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// A tool name from the whitelist (`orchestra plan tools` lists them).
    #[schemars(with = "String")]
    pub tool: Spanned<String>,
    /// Arguments, one per element (never a shell string, unless the tool is a declared shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Ids of the tasks that must succeed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub needs: Vec<Spanned<String>>,
    /// Extra environment variables, set after the policy's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Wall-clock timeout of one attempt (overrides the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// How many times a failed attempt (non-zero exit or signal) is retried.
    /// Timeouts and violations are never retried.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Delay before the first retry, doubled for each further one (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<HumanDuration>,
    /// Policy (file or preset) for this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Workspace files or directories the task reads; their contents are part of its fingerprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Workspace files or directories the task produces; copied to the run's `artifacts/<id>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Labels a distributed worker must have to run this task (`orchestra worker --labels`);
    /// ignored by a local run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_on: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Task {
    /// The task id.
    pub fn id(&self) -> &str {
        &self.id.value
    }

    /// Ids of the tasks this one needs.
    pub fn needs(&self) -> impl Iterator<Item = &str> {
        self.needs.iter().map(|n| n.value.as_str())
    }

    /// A task built in code (planners), without source positions.
    pub fn new(id: &str, tool: &str, args: &[&str]) -> Task {
        Task {
            id: unspanned(id.to_string()),
            intent: None,
            tool: unspanned(tool.to_string()),
            args: args.iter().map(|s| s.to_string()).collect(),
            needs: Vec::new(),
            env: BTreeMap::new(),
            timeout: None,
            retries: 0,
            backoff: None,
            policy: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            runs_on: Vec::new(),
        }
    }

    /// Builder: add a dependency.
    pub fn needing(mut self, id: &str) -> Task {
        self.needs.push(unspanned(id.to_string()));
        self
    }

    /// Builder: set the intent.
    pub fn with_intent(mut self, intent: &str) -> Task {
        self.intent = Some(intent.to_string());
        self
    }
}

/// A value without a source position.
pub fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

/// A validated plan: tasks plus their dependency graph in index form.
#[derive(Debug, Clone)]
pub struct Dag {
    /// The plan.
    pub plan: Plan,
    /// For each task (by index in `plan.tasks`), the indices it needs.
    pub needs: Vec<Vec<usize>>,
    /// For each task, the indices that need it.
    pub dependants: Vec<Vec<usize>>,
    /// A topological order (dependencies first).
    pub order: Vec<usize>,
}

impl Dag {
    /// Index of the task with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.plan.tasks.iter().position(|t| t.id() == id)
    }

    /// All tasks reachable from `start` through `dependants` (not including `start`).
    pub fn downstream(&self, start: usize) -> Vec<usize> {
        let mut seen = vec![false; self.plan.tasks.len()];
        let mut stack = vec![start];
        let mut out = Vec::new();
        while let Some(i) = stack.pop() {
            for &d in &self.dependants[i] {
                if !seen[d] {
                    seen[d] = true;
                    out.push(d);
                    stack.push(d);
                }
            }
        }
        out
    }
}

/// Parse plan YAML. `origin` names the source in errors.
pub fn parse(text: &str, origin: &str) -> Result<Plan, LocatedError> {
    crate::yaml::from_str(text, origin)
}

/// Read and parse a plan file.
pub fn load(path: &std::path::Path) -> Result<Plan, LocatedError> {
    let origin = path.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LocatedError::new(&origin, None, format!("cannot read plan: {e}")))?;
    parse(&text, &origin)
}

/// Serialise a plan as YAML (what `orchestra plan` prints and runs store as `plan.yaml`).
pub fn to_yaml(plan: &Plan) -> String {
    serde_saphyr::to_string(plan).unwrap_or_else(|e| format!("# cannot serialise plan: {e}\n"))
}

/// Check ids, dependencies and cycles, and build the [`Dag`].
pub fn validate(plan: Plan, origin: &str) -> Result<Dag, LocatedError> {
    let at = |loc: &serde_saphyr::Location, msg: String| LocatedError::new(origin, position(loc), msg);
    if plan.version != PLAN_VERSION {
        return Err(LocatedError::new(
            origin,
            None,
            format!("unsupported plan version {} (this orchestra reads version {PLAN_VERSION})", plan.version),
        ));
    }
    if plan.tasks.is_empty() {
        return Err(LocatedError::new(origin, None, "the plan has no tasks"));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, t) in plan.tasks.iter().enumerate() {
        if let Err(why) = check_id(t.id()) {
            return Err(at(&t.id.referenced, format!("task id {:?}: {why}", t.id())));
        }
        if let Some(prev) = index.insert(t.id(), i) {
            let first = position(&plan.tasks[prev].id.referenced)
                .map(|(l, c)| format!(" (first defined at line {l}, column {c})"))
                .unwrap_or_default();
            return Err(at(&t.id.referenced, format!("duplicate task id {:?}{first}", t.id())));
        }
        for k in t.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') || k.starts_with("ORCHESTRA_") {
                return Err(at(
                    &t.id.referenced,
                    format!("task {:?}: invalid environment variable name {k:?}", t.id()),
                ));
            }
        }
        for p in t.inputs.iter().chain(&t.outputs) {
            if let Err(why) = check_workspace_path(p) {
                return Err(at(&t.id.referenced, format!("task {:?}: {p:?} {why}", t.id())));
            }
        }
    }
    let mut graph: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..plan.tasks.len()).map(|i| graph.add_node(i)).collect();
    let mut needs = vec![Vec::new(); plan.tasks.len()];
    let mut dependants = vec![Vec::new(); plan.tasks.len()];
    for (i, t) in plan.tasks.iter().enumerate() {
        for n in &t.needs {
            let Some(&j) = index.get(n.value.as_str()) else {
                return Err(at(&n.referenced, format!("task {:?} needs unknown task {:?}", t.id(), n.value)));
            };
            if j == i {
                return Err(at(&n.referenced, format!("task {:?} needs itself", t.id())));
            }
            if !needs[i].contains(&j) {
                needs[i].push(j);
                dependants[j].push(i);
                graph.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    let order = match petgraph::algo::toposort(&graph, None) {
        Ok(o) => o.into_iter().map(|n| graph[n]).collect(),
        Err(_) => {
            let cycle = petgraph::algo::tarjan_scc(&graph)
                .into_iter()
                .find(|scc| scc.len() > 1)
                .map(|scc| {
                    let mut ids: Vec<usize> = scc.iter().map(|n| graph[*n]).collect();
                    ids.sort_unstable();
                    ids
                })
                .unwrap_or_default();
            let names: Vec<&str> = cycle.iter().map(|&i| plan.tasks[i].id()).collect();
            let loc = cycle.first().map(|&i| plan.tasks[i].id.referenced).unwrap_or(serde_saphyr::Location::UNKNOWN);
            return Err(at(&loc, format!("dependency cycle between tasks {}", names.join(", "))));
        }
    };
    Ok(Dag { plan, needs, dependants, order })
}

/// Task ids become file names (`logs/<id>.log`): keep them boring.
fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("must not be empty");
    }
    if id.len() > MAX_ID_LEN {
        return Err("is longer than 64 characters");
    }
    let mut chars = id.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit");
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("may contain only letters, digits, '_', '-' and '.'");
    }
    Ok(())
}

/// Inputs and outputs are relative paths inside the workspace, never the workspace
/// itself and never `.orchestra/` (judged on normalized components: `./.orchestra` too).
fn check_workspace_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p.starts_with('/') {
        return Err("must be a relative path inside the workspace");
    }
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.contains(&"..") {
        return Err("must not contain ..");
    }
    match parts.first() {
        None => Err("must name something inside the workspace, not the workspace itself"),
        Some(&".orchestra") => Err("is inside .orchestra/, which tasks never see"),
        Some(_) => Ok(()),
    }
}

/// The JSON schema of the plan format (`plans/schema.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(Plan);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(text: &str) -> Result<Dag, LocatedError> {
        validate(parse(text, "p.yaml")?, "p.yaml")
    }

    #[test]
    fn diamond_orders_dependencies_first() {
        let d = dag("tasks:\n- {id: a, tool: t}\n- {id: b, tool: t, needs: [a]}\n- {id: c, tool: t, needs: [a]}\n- {id: d, tool: t, needs: [b, c]}\n")
            .unwrap();
        let pos = |id: &str| d.order.iter().position(|&i| d.plan.tasks[i].id() == id).unwrap();
        assert!(pos("a") < pos("b") && pos("a") < pos("c") && pos("b") < pos("d") && pos("c") < pos("d"));
        let mut down: Vec<&str> = d.downstream(0).into_iter().map(|i| d.plan.tasks[i].id()).collect();
        down.sort();
        assert_eq!(down, ["b", "c", "d"]);
    }

    #[test]
    fn duplicates_unknown_needs_and_cycles_are_located() {
        let e = dag("tasks:\n- id: a\n  tool: t\n- id: a\n  tool: t\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:7: duplicate task id \"a\" (first defined at line 2"), "{e}");
        let e = dag("tasks:\n- id: a\n  tool: t\n  needs: [zz]\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:11: task \"a\" needs unknown task \"zz\""), "{e}");
        let e = dag("tasks:\n- {id: a, tool: t, needs: [c]}\n- {id: b, tool: t, needs: [a]}\n- {id: c, tool: t, needs: [b]}\n- {id: x, tool: t}\n")
            .unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:2:") && e.contains("dependency cycle between tasks a, b, c"), "{e}");
        let e = dag("tasks:\n- {id: a, tool: t, needs: [a]}\n").unwrap_err().to_string();
        assert!(e.contains("needs itself"), "{e}");
    }

    #[test]
    fn ids_and_paths_cannot_escape() {
        for bad in ["../x", "a/b", ".hidden", "", "a b"] {
            let e = dag(&format!("tasks:\n- {{id: '{bad}', tool: t}}\n")).unwrap_err().to_string();
            assert!(e.contains("task id"), "{bad}: {e}");
        }
        assert!(
            dag("tasks:\n- {id: a, tool: t, outputs: [../etc]}\n")
                .unwrap_err()
                .to_string()
                .contains("must not contain ..")
        );
        assert!(
            dag("tasks:\n- {id: a, tool: t, inputs: [/etc/passwd]}\n").unwrap_err().to_string().contains("relative")
        );
        assert!(
            dag("tasks:\n- {id: a, tool: t, inputs: [.orchestra/audit]}\n")
                .unwrap_err()
                .to_string()
                .contains(".orchestra")
        );
        assert!(
            dag("tasks:\n- {id: a, tool: t, outputs: [./.orchestra/x]}\n")
                .unwrap_err()
                .to_string()
                .contains(".orchestra")
        );
        assert!(
            dag("tasks:\n- {id: a, tool: t, outputs: ['.']}\n").unwrap_err().to_string().contains("workspace itself")
        );
        assert!(
            dag("tasks:\n- {id: a, tool: t, env: {ORCHESTRA_AUDIT_KEY: x}}\n")
                .unwrap_err()
                .to_string()
                .contains("ORCHESTRA_")
        );
    }

    #[test]
    fn unknown_fields_and_versions_are_refused() {
        let e = dag("tasks:\n- id: a\n  tool: t\n  need: [b]\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:3:") && e.contains("need"), "{e}");
        assert!(dag("version: 2\ntasks:\n- {id: a, tool: t}\n").unwrap_err().to_string().contains("version 2"));
        assert!(dag("tasks: []\n").unwrap_err().to_string().contains("no tasks"));
    }

    #[test]
    fn committed_schema_and_examples_are_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let committed = std::fs::read_to_string(format!("{root}/plans/schema.json")).unwrap();
        assert_eq!(schema(), committed, "regenerate with: orchestra plan --schema > plans/schema.json");
        for entry in std::fs::read_dir(format!("{root}/plans/examples")).unwrap() {
            let path = entry.unwrap().path();
            let plan = load(&path).unwrap();
            validate(plan, &path.display().to_string()).unwrap();
        }
    }

    #[test]
    fn yaml_round_trip_keeps_the_plan() {
        let d = dag("name: x\ntasks:\n- {id: a, tool: t, args: [-c, 'echo hi'], env: {K: v}, retries: 2, timeout: 5s}\n- {id: b, tool: t, needs: [a]}\n")
            .unwrap();
        let text = to_yaml(&d.plan);
        let again = dag(&text).unwrap();
        assert_eq!(to_yaml(&again.plan), text);
        assert_eq!(again.plan.tasks[0].args, ["-c", "echo hi"]);
        assert_eq!(again.plan.tasks[1].needs().collect::<Vec<_>>(), ["a"]);
    }
}
