//! `orchestra plan --graph [dot|mermaid]`: the plan's DAG for intents and plan
//! files, checked by Graphviz's own `dot` (required: .ci/run installs the
//! graphviz package; a missing `dot` fails these tests) and, for Mermaid,
//! line by line against the flowchart grammar the renderer writes.

use crate::harness::*;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// A tool name no parser should trip on: quotes, brackets, a statement end,
/// backslash escapes, markup, entity and comment starts, a backtick.
const HOSTILE_TOOL: &str = r#"x"]; evil -> pwned [label="\N <b>&amp; #35; %% `y"#;

/// The hostile tool (single-quoted YAML keeps every byte) and sh.
fn config() -> String {
    format!(
        "tools:\n  '{}': {{program: /bin/true, args: ['.*']}}\n  sh: {{program: /bin/sh, shell: true, args: ['.*']}}\n",
        HOSTILE_TOOL.replace('\'', "''")
    )
}

/// Ids of every shape validation admits (dots, dashes, a leading digit).
const PLAN: &str = "tasks:\n\
  - {id: 1st.step-a, tool: sh, args: ['-c', 'true']}\n\
  - {id: odd_one, tool: 'TOOL'}\n\
  - {id: end, tool: sh, args: ['-c', 'true'], needs: [1st.step-a, odd_one]}\n";

fn world() -> World {
    let w = World::create("plan-graph", "g", &config());
    w.write("plan.yaml", &PLAN.replace("'TOOL'", &format!("'{}'", HOSTILE_TOOL.replace('\'', "''"))));
    w
}

fn plan(w: &World, args: &[&str]) -> Out {
    let mut all = vec!["plan", "--config", w.config.to_str().unwrap()];
    all.extend_from_slice(args);
    w.orchestra(&all)
}

/// `dot -Tjson` of `text`: the tool must be installed, and must accept it.
fn graphviz_json(text: &str) -> serde_json::Value {
    let mut child = Command::new("dot")
        .arg("-Tjson")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the Graphviz `dot` tool is required by this test ({e}): install the graphviz package (.ci/run does)"
            )
        });
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && stderr.trim().is_empty(), "dot refused the graph: {stderr}\n{text}");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Pairs of names: (node, label) or (tail, head).
type Pairs = Vec<(String, String)>;

/// Node names, labels (as written in the attribute) and edges by name, from `dot -Tjson`.
fn nodes_and_edges(json: &serde_json::Value) -> (Pairs, BTreeSet<(String, String)>) {
    let objects = json["objects"].as_array().cloned().unwrap_or_default();
    let name = |o: &serde_json::Value| o["name"].as_str().unwrap().to_string();
    let nodes = objects.iter().map(|o| (name(o), o["label"].as_str().unwrap_or_default().to_string())).collect();
    let edges = json["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let at = |k: &str| name(&objects[e[k].as_u64().unwrap() as usize]);
            (at("tail"), at("head"))
        })
        .collect();
    (nodes, edges)
}

fn edges(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn plan_graph_dot_of_a_plan_file_is_valid_graphviz_whatever_the_names() {
    let w = world();
    let o = plan(&w, &["plan.yaml", "--graph"]);
    o.assert_code(0);
    assert!(o.stderr.is_empty(), "{}", o.all());
    let (nodes, got) = nodes_and_edges(&graphviz_json(&o.stdout));
    // dot keeps a label's backslash escapes as written: `\n` is its line break.
    let label = |id: &str, tool: &str| format!("{id}\\n({})", tool.replace('\\', "\\\\"));
    assert_eq!(
        nodes,
        [
            ("1st.step-a".to_string(), label("1st.step-a", "sh")),
            ("odd_one".to_string(), label("odd_one", HOSTILE_TOOL)),
            ("end".to_string(), label("end", "sh")),
        ],
        "exactly the three tasks, the hostile tool name inside its label\n{}",
        o.stdout
    );
    assert_eq!(got, edges(&[("1st.step-a", "end"), ("odd_one", "end")]));
    // `--graph dot` is the same as the bare flag.
    assert_eq!(plan(&w, &["plan.yaml", "--graph", "dot"]).stdout, o.stdout);
}

/// Mermaid's `#name;` / `#NN;` entity codes, decoded.
fn mermaid_unescape(s: &str) -> String {
    s.replace("#quot;", "\"")
        .replace("#lt;", "<")
        .replace("#gt;", ">")
        .replace("#amp;", "&")
        .replace("#96;", "`")
        .replace("#35;", "#")
}

#[test]
fn plan_graph_mermaid_is_a_flowchart_with_every_name_inside_a_quoted_label() {
    let w = world();
    let o = plan(&w, &["plan.yaml", "--graph=mermaid"]);
    o.assert_code(0);
    let mut lines = o.stdout.lines();
    assert_eq!(lines.next(), Some("flowchart LR"), "{}", o.stdout);
    let node = regex::Regex::new(r#"^  (t\d+)\["([^"\n]*)"\]$"#).unwrap();
    let edge = regex::Regex::new(r"^  (t\d+) --> (t\d+)$").unwrap();
    let (mut labels, mut got) = (Vec::new(), BTreeSet::new());
    for l in lines {
        if let Some(c) = node.captures(l) {
            // The one line break is the only markup: nothing else opens a tag or a Markdown string.
            let label = c[2].replacen("<br>", "\n", 1);
            assert!(!label.contains(['<', '>', '`']), "{l}");
            labels.push((c[1].to_string(), mermaid_unescape(&label)));
        } else if let Some(c) = edge.captures(l) {
            got.insert((c[1].to_string(), c[2].to_string()));
        } else {
            panic!("not a node or an edge line: {l:?}\n{}", o.stdout);
        }
    }
    let want = |n: &str, id: &str, tool: &str| (n.to_string(), format!("{id}\n({tool})"));
    assert_eq!(labels, [want("t0", "1st.step-a", "sh"), want("t1", "odd_one", HOSTILE_TOOL), want("t2", "end", "sh")]);
    assert_eq!(got, edges(&[("t0", "t2"), ("t1", "t2")]));
}

#[test]
fn plan_graph_of_an_intent_draws_the_offline_plan() {
    let w = world();
    w.write("Cargo.toml", "[package]\nname = \"x\"\nversion = \"0.1.0\"\n");
    let o = plan(&w, &["build, test and lint", "--graph"]);
    o.assert_code(0);
    let (nodes, got) = nodes_and_edges(&graphviz_json(&o.stdout));
    let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["build", "test", "lint", "fmt"], "{}", o.stdout);
    assert_eq!(nodes[0].1, "build\\n(cargo)");
    assert_eq!(got, edges(&[("build", "test")]));
    let m = plan(&w, &["build, test and lint", "--graph", "mermaid"]);
    m.assert_code(0);
    assert!(m.stdout.starts_with("flowchart LR\n") && m.stdout.contains("  t0 --> t1\n"), "{}", m.stdout);
}

#[test]
fn plan_graph_refusals_are_one_line_and_exit_1() {
    let w = world();
    // A bare --graph before the intent takes the intent as its format.
    let o = plan(&w, &["--graph", "build and test"]);
    o.assert_code(1);
    assert!(o.stderr.contains("not a graph format (dot or mermaid)"), "{}", o.stderr);
    assert!(o.stderr.contains("put the intent first"), "{}", o.stderr);
    let o = plan(&w, &["plan.yaml", "--graph=svg"]);
    o.assert_code(1);
    assert!(o.stderr.contains("not a graph format"), "{}", o.stderr);
    let o = plan(&w, &["diff", "plan.yaml", "plan.yaml", "--graph"]);
    o.assert_code(1);
    assert_eq!(o.stderr.trim(), "orchestra: error: --graph draws one plan; `plan diff` compares two");
    let o = plan(&w, &["build", "--graph", "--compare"]);
    o.assert_code(1);
    assert!(o.stderr.contains("cannot be used with"), "{}", o.stderr);
    // The plan's own errors are unchanged.
    w.write("bad.yaml", "tasks:\n  - {id: a, tool: sh, needs: [b]}\n");
    let o = plan(&w, &["bad.yaml", "--graph"]);
    o.assert_code(1);
    assert!(o.stderr.contains("needs unknown task \"b\""), "{}", o.stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

#[test]
fn plan_graph_into_a_closed_pipe_is_quiet() {
    let w = world();
    // Larger than a pipe's buffer, so the write meets the closed reader.
    let mut big = String::from("tasks:\n");
    for i in 0..3000 {
        big.push_str(&format!("  - {{id: t{i}, tool: sh, args: ['-c', 'true']}}\n"));
    }
    w.write("big.yaml", &big);
    let mut c = w.command();
    c.args(["plan", "--config", w.config.to_str().unwrap(), "big.yaml", "--graph"]);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let o = Out::from(child.wait_with_output().unwrap());
    o.assert_code(0);
    assert!(o.stderr.is_empty(), "a closed pipe is not an error: {}", o.stderr);
}
