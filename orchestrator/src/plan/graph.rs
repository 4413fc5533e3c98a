//! A plan's DAG drawn for people: Graphviz `dot` or a Mermaid `flowchart`
//! (`orchestra plan --graph`).
//!
//! Guarantees: a pure function of a validated [`Dag`]. One node per task, in
//! plan order, labelled with its id and its tool; one edge per dependency,
//! from the task needed to the task that needs it (the order they run in).
//! Every text taken from the plan or the config (task ids, tool names) is
//! written only inside a quoted string, with the format's escapes, so no text
//! — whatever the validation upstream admits — can end the string, start a
//! statement, or inject markup. Mermaid nodes are named `t0`, `t1`, … by
//! index, never by id (Mermaid reserves words such as `end`).

use super::Dag;

/// The graph languages `orchestra plan --graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz `dot` (`digraph`).
    Dot,
    /// A Mermaid `flowchart` (renders in GitHub and GitLab Markdown).
    Mermaid,
}

/// The DAG in `format`, ending with a newline.
pub fn render(dag: &Dag, format: GraphFormat) -> String {
    match format {
        GraphFormat::Dot => dot(dag),
        GraphFormat::Mermaid => mermaid(dag),
    }
}

fn dot(dag: &Dag) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
    for t in &dag.plan.tasks {
        let id = dot_quoted(t.id());
        let label = dot_quoted(&format!("{}\n({})", t.id(), t.tool.value));
        out.push_str(&format!("  {id} [label={label}];\n"));
    }
    for (i, t) in dag.plan.tasks.iter().enumerate() {
        for &j in &dag.needs[i] {
            out.push_str(&format!("  {} -> {};\n", dot_quoted(dag.plan.tasks[j].id()), dot_quoted(t.id())));
        }
    }
    out.push_str("}\n");
    out
}

/// A dot double-quoted string. Inside one, only `"` needs escaping, but dot
/// gives backslash sequences (`\N`, `\G`, `\l`) meaning in labels: a backslash
/// is doubled, a newline is written `\n` (dot's line break), other control
/// characters become a space.
fn dot_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mermaid(dag: &Dag) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, t) in dag.plan.tasks.iter().enumerate() {
        out.push_str(&format!("  t{i}[\"{}<br>({})\"]\n", mermaid_escaped(t.id()), mermaid_escaped(&t.tool.value)));
    }
    for (i, needs) in dag.needs.iter().enumerate() {
        for &j in needs {
            out.push_str(&format!("  t{j} --> t{i}\n"));
        }
    }
    out
}

/// Text for inside a Mermaid `["…"]` label: Mermaid's entity codes for the
/// characters that end the string or start markup or an entity (`"`, `#`,
/// `<`, `>`, `&`, and the backtick that starts a Markdown string); control
/// characters (a newline ends the statement) become a space.
fn mermaid_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Task, validate};

    fn dag(tasks: Vec<Task>) -> Dag {
        let plan = Plan { version: 1, name: None, intent: None, policy: None, timeout: None, tasks };
        validate(plan, "p.yaml").unwrap()
    }

    fn build_test_lint() -> Dag {
        dag(vec![
            Task::new("build", "cargo", &[]),
            Task::new("test", "cargo", &[]).needing("build"),
            Task::new("lint", "ruff", &[]),
            Task::new("report", "sh", &[]).needing("test").needing("lint"),
        ])
    }

    #[test]
    fn dot_has_a_node_per_task_and_an_edge_per_need() {
        let text = render(&build_test_lint(), GraphFormat::Dot);
        assert_eq!(
            text,
            "digraph plan {\n  rankdir=LR;\n  node [shape=box];\n\
             \x20 \"build\" [label=\"build\\n(cargo)\"];\n\
             \x20 \"test\" [label=\"test\\n(cargo)\"];\n\
             \x20 \"lint\" [label=\"lint\\n(ruff)\"];\n\
             \x20 \"report\" [label=\"report\\n(sh)\"];\n\
             \x20 \"build\" -> \"test\";\n\
             \x20 \"test\" -> \"report\";\n\
             \x20 \"lint\" -> \"report\";\n}\n"
        );
    }

    #[test]
    fn mermaid_names_nodes_by_index_and_labels_them() {
        let text = render(&build_test_lint(), GraphFormat::Mermaid);
        assert_eq!(
            text,
            "flowchart LR\n  t0[\"build<br>(cargo)\"]\n  t1[\"test<br>(cargo)\"]\n  t2[\"lint<br>(ruff)\"]\n  \
             t3[\"report<br>(sh)\"]\n  t0 --> t1\n  t1 --> t3\n  t2 --> t3\n"
        );
    }

    #[test]
    fn hostile_text_stays_inside_its_string() {
        let hostile = "a\"];\n evil -> x [label=\"\\N<b>#x;&`";
        assert_eq!(dot_quoted(hostile), "\"a\\\"];\\n evil -> x [label=\\\"\\\\N<b>#x;&`\"");
        let m = mermaid_escaped(hostile);
        assert_eq!(m, "a#quot;];  evil -#gt; x [label=#quot;\\N#lt;b#gt;#35;x;#amp;#96;");
        assert!(!m.contains(['"', '\n', '<', '>', '`']), "{m}");
        assert_eq!(dot_quoted("tab\there"), "\"tab here\"");
    }
}
