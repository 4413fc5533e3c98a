//! The HTML pages, rendered on the server.
//!
//! Guarantees: every value that comes from a run (task ids, log text,
//! paths, rules, details, intents) goes through [`esc`] before it enters
//! the page, in text and in attributes alike; pages carry no inline script
//! or style (the CSP forbids them): behaviour lives in `/assets/app.js`,
//! which only ever sets `textContent` and class names.

use crate::dag::{self, Layout};
use crate::store::{Artifact, RunPage, RunView};
use orchestra_orchestrator::runstore::checkpoint::TaskState;
use orchestra_orchestrator::runstore::index::RunRow;
use std::fmt::Write;

/// HTML-escape `s` for text and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encode one path segment (task ids, artifact paths in links).
pub fn seg(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

fn page(title: &str, csrf: &str, body_attrs: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf\" content=\"{csrf}\"><title>{title} — orchestra</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"><script src=\"/assets/app.js\" defer></script></head>\
         <body {body_attrs}><header><a href=\"/\" class=\"brand\">orchestra</a> <a href=\"/compare\">compare</a></header>\
         <main>{body}</main></body></html>",
        title = esc(title),
        csrf = esc(csrf),
    )
}

/// The page a browser gets without a token.
pub fn login_page() -> String {
    page(
        "token required",
        "",
        "",
        "<h1>Token required</h1><p>This dashboard needs its access token. Open <code>/login?token=…</code> \
         once; the browser then keeps it in a cookie.</p>",
    )
}

fn state_class(s: &str) -> String {
    format!("s-{}", esc(s))
}

fn fmt_ms(ms: u64) -> String {
    orchestra_orchestrator::orchestrator::report::fmt_ms(ms)
}

/// The runs list.
pub fn runs(list: &RunPage, status: &str, q: &str, csrf: &str) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>Runs</h1><form method=\"get\" action=\"/\" class=\"filters\">\
         <input name=\"q\" placeholder=\"run id or source\" value=\"{}\">\
         <select name=\"status\">",
        esc(q)
    );
    for s in ["", "running", "succeeded", "failed", "interrupted", "abandoned", "awaiting_approval"] {
        let sel = if s == status { " selected" } else { "" };
        let label = if s.is_empty() { "any status" } else { s };
        let _ = write!(b, "<option value=\"{s}\"{sel}>{label}</option>");
    }
    b.push_str("</select><button>Filter</button></form>");
    let _ = write!(b, "<p class=\"muted\" id=\"total\">{} runs</p>", list.total);
    b.push_str(
        "<table class=\"runs\"><thead><tr><th>run</th><th>status</th><th>exit</th><th>tasks</th>\
         <th>ok</th><th>failed</th><th>not run</th><th>task time</th><th>source</th></tr></thead><tbody>",
    );
    for r in &list.runs {
        row(&mut b, r);
    }
    b.push_str("</tbody></table>");
    let next = list.offset + list.runs.len();
    if next < list.total {
        let _ =
            write!(b, "<p><a href=\"/?offset={next}&amp;status={}&amp;q={}\">older runs</a></p>", seg(status), seg(q));
    }
    page("runs", csrf, "data-page=\"runs\"", &b)
}

fn row(b: &mut String, r: &RunRow) {
    let _ = write!(
        b,
        "<tr><td><a href=\"/runs/{id}\">{id}</a></td><td><span class=\"badge {cls}\">{st}</span></td>\
         <td>{exit}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"src\">{}</td></tr>",
        r.tasks,
        r.succeeded,
        r.failed,
        r.not_run,
        fmt_ms(r.task_ms),
        esc(&r.source),
        id = esc(&r.run_id),
        cls = state_class(&r.status),
        st = esc(&r.status),
        exit = r.exit_code.map_or(String::new(), |c| c.to_string()),
    );
}

/// What the run page shows besides the run itself.
#[derive(Debug, Default)]
pub struct RunExtras {
    /// The journal's last sequence number when the page was rendered.
    pub since: u64,
    /// The audit status line, as HTML-safe parts.
    pub audit: Option<crate::api::AuditStatus>,
    /// May control runs.
    pub operator: bool,
}

/// The run detail page: header, controls, the whole DAG, tasks, violations, audit.
pub fn run(view: &RunView, layout: Option<&Layout>, extras: &RunExtras, csrf: &str) -> String {
    let cp = &view.checkpoint;
    let id = &view.run.id;
    let mut b = String::new();
    let status = if view.paused { "paused" } else { cp.status.as_str() };
    let _ = write!(
        b,
        "<h1>Run {} <span class=\"badge {}\" id=\"run-status\">{}</span></h1>",
        esc(id),
        state_class(status),
        esc(status)
    );
    if let Some(src) = cp.source.intent.as_deref().or(cp.source.plan_file.as_deref().and_then(|p| p.to_str())) {
        let _ = write!(b, "<p class=\"src\">{}</p>", esc(src));
    }
    if extras.operator && view.live {
        b.push_str(
            "<div class=\"controls\"><button id=\"pause\" data-action=\"pause\">Pause</button>\
             <button id=\"continue\" data-action=\"continue\">Continue</button>\
             <button id=\"cancel\" data-action=\"cancel\" class=\"danger\">Cancel</button>\
             <span id=\"control-msg\" class=\"muted\"></span></div>",
        );
    }
    let _ = write!(
        b,
        "<p class=\"links\"><a href=\"/api/runs/{id}/report\" download>report.json</a> · \
         <a href=\"/runs/{id}/artifacts\">artifacts</a> · <a href=\"/api/runs/{id}/plan\">plan (JSON)</a></p>",
        id = esc(id)
    );
    // Counts by state.
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in cp.tasks.values() {
        *counts.entry(t.state.as_str()).or_default() += 1;
    }
    b.push_str("<p id=\"counts\">");
    for (s, n) in &counts {
        let _ = write!(b, "<span class=\"badge {}\" data-count=\"{}\">{s} {n}</span> ", state_class(s), esc(s));
    }
    b.push_str("</p>");
    if let Some(l) = layout {
        svg(&mut b, view, l);
    } else {
        b.push_str("<p class=\"muted\">plan.yaml is missing: the DAG cannot be drawn.</p>");
    }
    // Tasks.
    b.push_str(
        "<h2>Tasks</h2><table class=\"tasks\"><thead><tr><th>task</th><th>state</th><th>time</th><th>try</th>\
         <th>detail</th><th></th></tr></thead><tbody>",
    );
    let mut order: Vec<&str> = match &view.dag {
        Some(d) => d.plan.tasks.iter().map(|t| t.id()).collect(),
        None => cp.tasks.keys().map(String::as_str).collect(),
    };
    // A long run lists what needs a look first: failures, then running tasks, then the rest.
    let rank = |t: &str| match cp.tasks.get(t).map(|r| r.state) {
        Some(TaskState::Failed | TaskState::Violation | TaskState::TimedOut) => 0,
        Some(TaskState::Running) => 1,
        _ => 2,
    };
    if order.len() > TABLE_ROWS {
        order.sort_by_key(|t| rank(t));
    }
    for t in order.iter().take(TABLE_ROWS) {
        let Some(rec) = cp.tasks.get(*t) else { continue };
        let detail = orchestra_orchestrator::orchestrator::describe(rec);
        let _ = write!(
            b,
            "<tr data-task=\"{tid}\"><td><a href=\"/runs/{rid}/tasks/{link}\">{tid}</a></td>\
             <td><span class=\"badge {cls}\">{st}</span></td><td>{time}</td><td>{att}</td><td class=\"detail\">{det}</td>\
             <td><a href=\"/runs/{rid}/tasks/{link}\">log</a></td></tr>",
            tid = esc(t),
            rid = esc(id),
            link = seg(t),
            cls = state_class(rec.state.as_str()),
            st = rec.state.as_str(),
            time = fmt_ms(rec.wall_ms),
            att = rec.attempts,
            det = esc(&detail),
        );
    }
    b.push_str("</tbody></table>");
    if order.len() > TABLE_ROWS {
        let _ = write!(
            b,
            "<p class=\"muted\">{} more tasks (failures and running tasks are listed first): see the DAG or the API.</p>",
            order.len() - TABLE_ROWS
        );
    }
    // Violations.
    let mut v = String::new();
    for (t, rec) in &cp.tasks {
        for x in &rec.violations {
            let _ = write!(
                v,
                "<tr><td><a href=\"/runs/{}/tasks/{}\">{}</a></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(id),
                seg(t),
                esc(t),
                esc(&x.rule.to_string()),
                esc(&x.detail)
            );
        }
    }
    if !v.is_empty() {
        let _ = write!(
            b,
            "<h2>Violations</h2><table class=\"violations\"><thead><tr><th>task</th><th>rule</th><th>detail</th>\
             </tr></thead><tbody>{v}</tbody></table>"
        );
    }
    match &extras.audit {
        Some(a) => {
            let _ = write!(
                b,
                "<h2>Audit log</h2><p id=\"audit\" class=\"badge {}\">{}</p>",
                if a.ok { "s-succeeded" } else { "s-violation" },
                esc(&a.line)
            );
        }
        None => b.push_str("<h2>Audit log</h2><p id=\"audit\" class=\"badge\">checking the audit log…</p>"),
    }
    b.push_str("<h2>Events</h2><ol id=\"events\" class=\"events\"></ol>");
    let attrs = format!("data-page=\"run\" data-run=\"{}\" data-since=\"{}\"", esc(id), extras.since);
    page(&format!("run {id}"), csrf, &attrs, &b)
}

/// Graphs up to this many tasks show their ids in the nodes.
pub const LABELLED: usize = 500;

/// Rows of the task table, at most (the DAG shows every task).
pub const TABLE_ROWS: usize = 500;

fn svg(b: &mut String, view: &RunView, l: &Layout) {
    let _ = write!(
        b,
        "<h2>Plan <span class=\"muted\">{} tasks, {} layers{}</span></h2><div class=\"dag\">\
         <svg id=\"dag\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" data-nodes=\"{}\" data-run=\"{rid}\">",
        l.nodes.len(),
        l.layers,
        if l.edges.is_empty() && l.edge_count > 0 {
            format!(", {} edges not drawn (needs are listed per task)", l.edge_count)
        } else {
            String::new()
        },
        l.nodes.len(),
        w = l.width,
        h = l.height,
        rid = esc(&view.run.id),
    );
    if !l.edges.is_empty() {
        b.push_str("<g class=\"edges\">");
        for &(from, to) in &l.edges {
            let (a, c) = (&l.nodes_by_index(from), &l.nodes_by_index(to));
            if let (Some(a), Some(c)) = (a, c) {
                let _ = write!(
                    b,
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
                    a.x + dag::NODE_W,
                    a.y + dag::NODE_H / 2,
                    c.x,
                    c.y + dag::NODE_H / 2
                );
            }
        }
        b.push_str("</g>");
    }
    // Small graphs get labels; a large one keeps one light element group per
    // task (its tooltip names it), so the browser lays out thousands quickly.
    let labels = l.nodes.len() <= LABELLED;
    for n in &l.nodes {
        let state = view.checkpoint.tasks.get(&n.id).map_or(TaskState::Pending, |r| r.state);
        let wall = view.checkpoint.tasks.get(&n.id).map_or(0, |r| r.wall_ms);
        let needs: Vec<&str> = n.needs.iter().filter_map(|&j| l.nodes_by_index(j)).map(|m| m.id.as_str()).collect();
        let _ = write!(
            b,
            "<g class=\"node {cls}\" data-task=\"{tid}\" transform=\"translate({x},{y})\">\
             <title>{tid} — {st} {time}{needs}</title><rect width=\"{w}\" height=\"{h}\" rx=\"3\"/>",
            cls = state_class(state.as_str()),
            tid = esc(&n.id),
            st = state.as_str(),
            time = if wall > 0 { fmt_ms(wall) } else { String::new() },
            needs = if needs.is_empty() { String::new() } else { esc(&format!(" — needs {}", needs.join(", "))) },
            x = n.x,
            y = n.y,
            w = dag::NODE_W,
            h = dag::NODE_H,
        );
        if labels {
            let label: String = n.id.chars().take(16).collect();
            let _ = write!(b, "<text x=\"4\" y=\"13\">{}</text>", esc(&label));
        }
        b.push_str("</g>");
    }
    b.push_str("</svg></div>");
}

impl Layout {
    /// The node of plan index `i`.
    pub fn nodes_by_index(&self, i: usize) -> Option<&dag::Node> {
        self.nodes.get(i).filter(|n| n.index == i).or_else(|| self.nodes.iter().find(|n| n.index == i))
    }
}

/// A task's page: its state, its log (with live tail and search) and its report.
pub fn task(view: &RunView, task: &str, log: &crate::store::LogRange, since: u64, csrf: &str) -> String {
    let rec = view.checkpoint.tasks.get(task);
    let state = rec.map_or("pending", |r| r.state.as_str());
    let mut b = String::new();
    let _ = write!(
        b,
        "<p><a href=\"/runs/{rid}\">run {rid}</a></p><h1>{tid} <span class=\"badge {cls}\" id=\"task-status\">{st}</span></h1>",
        rid = esc(&view.run.id),
        tid = esc(task),
        cls = state_class(state),
        st = state,
    );
    if let Some(r) = rec {
        let _ = write!(
            b,
            "<p>{} · attempt {} · {}</p>",
            fmt_ms(r.wall_ms),
            r.attempts,
            esc(&orchestra_orchestrator::orchestrator::describe(r))
        );
    }
    let _ = write!(
        b,
        "<p class=\"links\"><a href=\"/api/runs/{rid}/tasks/{link}/report\">report (JSON)</a> · \
         <a href=\"/api/runs/{rid}/tasks/{link}/log?offset=0&amp;limit=1048576\">raw log</a></p>\
         <div class=\"logbar\"><input id=\"search\" placeholder=\"search the log\"> <label><input type=\"checkbox\" \
         id=\"follow\" checked> follow</label> <span id=\"log-size\" class=\"muted\">{size} bytes</span></div>",
        rid = esc(&view.run.id),
        link = seg(task),
        size = log.size,
    );
    if log.offset > 0 {
        let _ = write!(b, "<p class=\"muted\">the first {} bytes are not shown (see raw log)</p>", log.offset);
    }
    let _ = write!(b, "<pre id=\"log\" class=\"log\">{}</pre>", esc(&log.text));
    let attrs = format!(
        "data-page=\"task\" data-run=\"{}\" data-task=\"{}\" data-since=\"{since}\" data-offset=\"{}\"",
        esc(&view.run.id),
        esc(task),
        log.next
    );
    page(&format!("{task} in {}", view.run.id), csrf, &attrs, &b)
}

/// The artifact browser of a run.
pub fn artifacts(run_id: &str, list: &[Artifact], omitted: u64, csrf: &str) -> String {
    let mut b = format!("<p><a href=\"/runs/{id}\">run {id}</a></p><h1>Artifacts</h1>", id = esc(run_id));
    if omitted > 0 {
        let _ = write!(
            b,
            "<p class=\"error\" id=\"omitted\">{omitted} entries not shown: names that are not UTF-8 or hold a \
             backslash, directories deeper than {}, or files past the first {} (see the run directory itself)</p>",
            crate::store::MAX_DEPTH,
            crate::store::MAX_ARTIFACTS
        );
    }
    if list.is_empty() {
        b.push_str("<p class=\"muted\">no artifacts</p>");
    }
    b.push_str("<table class=\"artifacts\"><tbody>");
    for a in list {
        let link: Vec<String> = a.path.split('/').map(seg).collect();
        let _ = write!(
            b,
            "<tr><td><a href=\"/api/runs/{}/artifacts/{}\" download>{}</a></td><td>{}</td></tr>",
            esc(run_id),
            link.join("/"),
            esc(&a.path),
            a.size
        );
    }
    b.push_str("</tbody></table>");
    page(&format!("artifacts of {run_id}"), csrf, "data-page=\"artifacts\"", &b)
}

/// The comparison of two runs.
pub fn compare(a: &str, b_id: &str, cmp: Option<&crate::api::Comparison>, error: Option<&str>, csrf: &str) -> String {
    let mut b = format!(
        "<h1>Compare runs</h1><form method=\"get\" action=\"/compare\" class=\"filters\">\
         <input name=\"a\" placeholder=\"earlier run\" value=\"{}\"> <input name=\"b\" placeholder=\"later run\" value=\"{}\">\
         <button>Compare</button></form>",
        esc(a),
        esc(b_id)
    );
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\">{}</p>", esc(e));
    }
    if let Some(c) = cmp {
        b.push_str("<h2>Plan</h2><ul class=\"diff\">");
        for t in &c.plan.added {
            let _ = write!(b, "<li class=\"add\">+ task {}</li>", esc(t));
        }
        for t in &c.plan.removed {
            let _ = write!(b, "<li class=\"del\">− task {}</li>", esc(t));
        }
        for (t, fields) in &c.plan.changed {
            for f in fields {
                let _ = write!(b, "<li class=\"chg\">~ {} {}</li>", esc(t), esc(&format!("{f:?}")));
            }
        }
        for (x, y) in &c.plan.edges_added {
            let _ = write!(b, "<li class=\"add\">+ {} → {}</li>", esc(x), esc(y));
        }
        for (x, y) in &c.plan.edges_removed {
            let _ = write!(b, "<li class=\"del\">− {} → {}</li>", esc(x), esc(y));
        }
        if c.plan.added.is_empty() && c.plan.removed.is_empty() && c.plan.changed.is_empty() {
            b.push_str("<li class=\"muted\">same tasks</li>");
        }
        b.push_str(
            "</ul><h2>Tasks</h2><table class=\"compare\"><thead><tr><th>task</th><th>earlier</th><th>later</th>\
             <th>change</th></tr></thead><tbody>",
        );
        for t in &c.tasks {
            let show = |s: &Option<crate::api::Side>| {
                s.as_ref().map_or("—".to_string(), |s| format!("{} {}", s.state, fmt_ms(s.wall_ms)))
            };
            let _ = write!(
                b,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if t.state_changed { "changed" } else { "" },
                esc(&t.task),
                esc(&show(&t.a)),
                esc(&show(&t.b)),
                esc(&t.change)
            );
        }
        b.push_str("</tbody></table>");
    }
    page("compare", csrf, "data-page=\"compare\"", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(esc("<script>alert('x')</script>&\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
        assert_eq!(esc("a\u{1b}[31mb"), "a\u{fffd}[31mb");
        assert_eq!(seg("a b/../c"), "a%20b%2F..%2Fc");
    }
}
