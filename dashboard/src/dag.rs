//! The plan's DAG laid out on the server, so a browser only draws it.
//!
//! Layout: a task's layer is the length of the longest chain of tasks it
//! needs (roots in layer 0); layers are columns, left to right. A layer with
//! more than [`ROWS`] tasks wraps into several sub-columns, so a 5,000-task
//! plan stays a page of a few thousand pixels, not a column 100,000 pixels
//! tall. Edges are drawn only while there are at most [`MAX_EDGES`] of them;
//! past that a task's needs are listed in its tooltip and detail view
//! instead (thousands of crossing lines show nothing and cost the browser).
//!
//! Guarantees: every task of the plan has exactly one node (pending ones
//! included); the layout depends only on the plan, so it is the same on
//! every load and independent of the task states.

use orchestra_orchestrator::plan::Dag;

/// Rows per sub-column.
pub const ROWS: usize = 40;
/// Above this many edges, none are drawn.
pub const MAX_EDGES: usize = 1500;
/// Node width, px.
pub const NODE_W: u32 = 120;
/// Node height, px.
pub const NODE_H: u32 = 18;
/// Gap between sub-columns, px.
pub const COL_GAP: u32 = 12;
/// Gap between layers, px.
pub const LAYER_GAP: u32 = 48;
/// Gap between rows, px.
pub const ROW_GAP: u32 = 4;

/// One node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Node {
    /// Index in the plan.
    pub index: usize,
    /// Task id.
    pub id: String,
    /// Layer (column).
    pub layer: usize,
    /// Left edge, px.
    pub x: u32,
    /// Top edge, px.
    pub y: u32,
    /// Indices of the tasks it needs.
    pub needs: Vec<usize>,
}

/// The laid-out graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Layout {
    /// One node per task, in plan order.
    pub nodes: Vec<Node>,
    /// Number of layers.
    pub layers: usize,
    /// Edges `(from, to)` by index, or empty when there are too many to draw.
    pub edges: Vec<(usize, usize)>,
    /// Total edges in the plan.
    pub edge_count: usize,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
}

/// Lay out `dag`.
pub fn layout(dag: &Dag) -> Layout {
    let n = dag.plan.tasks.len();
    let mut layer = vec![0usize; n];
    for &i in &dag.order {
        layer[i] = dag.needs[i].iter().map(|&j| layer[j] + 1).max().unwrap_or(0);
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, &l) in layer.iter().enumerate() {
        members[l].push(i);
    }
    let mut nodes: Vec<Option<Node>> = vec![None; n];
    let mut x = 0u32;
    let mut height = 0u32;
    for m in &members {
        let cols = m.len().div_ceil(ROWS).max(1);
        for (k, &i) in m.iter().enumerate() {
            let (col, row) = (k / ROWS, k % ROWS);
            let node = Node {
                index: i,
                id: dag.plan.tasks[i].id().to_string(),
                layer: layer[i],
                x: x + col as u32 * (NODE_W + COL_GAP),
                y: row as u32 * (NODE_H + ROW_GAP),
                needs: dag.needs[i].clone(),
            };
            height = height.max(node.y + NODE_H);
            nodes[i] = Some(node);
        }
        x += cols as u32 * (NODE_W + COL_GAP) - COL_GAP + LAYER_GAP;
    }
    let edge_count: usize = dag.needs.iter().map(Vec::len).sum();
    let edges = if edge_count <= MAX_EDGES {
        dag.needs.iter().enumerate().flat_map(|(i, ns)| ns.iter().map(move |&j| (j, i))).collect()
    } else {
        Vec::new()
    };
    Layout {
        nodes: nodes.into_iter().flatten().collect(),
        layers,
        edges,
        edge_count,
        width: x.saturating_sub(LAYER_GAP).max(NODE_W),
        height: height.max(NODE_H),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(yaml: &str) -> Dag {
        let p = orchestra_orchestrator::plan::parse(yaml, "t").unwrap();
        orchestra_orchestrator::plan::validate(p, "t").unwrap()
    }

    #[test]
    fn layers_follow_the_longest_chain_and_every_task_has_one_node() {
        let d = dag("version: 1\ntasks:\n- {id: a, tool: make}\n- {id: b, tool: make, needs: [a]}\n\
                     - {id: c, tool: make, needs: [a, b]}\n- {id: e, tool: make}\n");
        let l = layout(&d);
        assert_eq!(l.nodes.len(), 4);
        let layer: Vec<usize> = l.nodes.iter().map(|n| n.layer).collect();
        assert_eq!(layer, [0, 1, 2, 0]);
        assert_eq!(l.layers, 3);
        assert_eq!(l.edges.len(), 3);
    }

    #[test]
    fn a_wide_layer_wraps_and_many_edges_are_not_drawn() {
        let mut y = String::from("version: 1\ntasks:\n- {id: root, tool: make}\n");
        for i in 0..5000 {
            y.push_str(&format!("- {{id: t{i}, tool: make, needs: [root]}}\n"));
        }
        let l = layout(&dag(&y));
        assert_eq!(l.nodes.len(), 5001);
        assert!(l.height <= ROWS as u32 * (NODE_H + ROW_GAP), "{}", l.height);
        assert!(l.edges.is_empty());
        assert_eq!(l.edge_count, 5000);
    }
}
