//! `orchestra dashboard` in a real browser (headless Chromium over
//! WebDriver, [`crate::harness::browser`]) on real runs of `orchestra run`:
//! the runs list, the run page while the run executes (every task of the
//! plan is a node of the DAG, pending ones included), a task's log line
//! reaching the page within a bound, Pause holding the next task until
//! Continue, hostile log text shown as text and never run, and a
//! 5,000-task plan drawn whole and turned node by node by the live feed.
//! Tasks that must wait for the page wait for a file the test writes (no
//! sleeps racing a loaded machine). Screenshots go to
//! `target/test-artifacts/dashboard/`.

use crate::harness::browser::Browser;
use crate::harness::dashboard::Dashboard;
use crate::harness::*;
use serde_json::json;
use std::process::Child;
use std::time::{Duration, Instant};

/// A run of `orchestra run` in the background, killed if the test ends first.
struct LiveRun {
    child: Child,
    id: String,
}

impl LiveRun {
    /// Start `yaml` (`orchestra run … EXTRA`; output to files in the world)
    /// and return once its checkpoint exists, so the run can be named.
    fn start(w: &World, yaml: &str, extra: &[&str]) -> LiveRun {
        let before = w.run_ids();
        let mut c = w.run_cmd(yaml, extra);
        c.stdout(std::fs::File::create(w.root.join("run.out")).unwrap())
            .stderr(std::fs::File::create(w.root.join("run.err")).unwrap());
        let mut run = LiveRun { child: c.spawn().expect("orchestra run"), id: String::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let new: Vec<String> = w.run_ids().into_iter().filter(|r| !before.contains(r)).collect();
            if let [id] = new.as_slice()
                && w.run_dir(id).join("checkpoint.json").is_file()
            {
                run.id = id.clone();
                return run;
            }
            if let Some(s) = run.child.try_wait().unwrap() {
                panic!("the run ended ({s}) before it could be named:\n{}", w.read(&w.root.join("run.err")));
            }
            assert!(Instant::now() < deadline, "the run did not start within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the run to end; its exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the run did not end within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The class list of the DAG node of `task`, as the page has it now.
fn node_class(b: &Browser, task: &str) -> String {
    let v = b.js_with(
        "const g = document.querySelector('svg#dag g.node[data-task=\"' + arguments[0] + '\"]'); \
         return g ? g.getAttribute('class') : null;",
        vec![json!(task)],
    );
    v.as_str().unwrap_or_else(|| panic!("no node for {task}")).to_string()
}

/// Wait until the DAG node of `task` has the class `s-<state>`.
fn wait_node(b: &Browser, task: &str, state: &str, limit: Duration) {
    let script = format!(
        "const g = document.querySelector('svg#dag g.node[data-task=\"{task}\"]'); \
         return !!g && g.classList.contains('s-{state}');"
    );
    b.wait_js(&format!("node-{task}-{state}"), limit, &script);
}

/// The visible badges of `#counts` (tasks by state), in page order.
fn shown_counts(b: &Browser) -> Vec<String> {
    let v = b.js(
        "return Array.from(document.querySelectorAll('#counts .badge')).filter(function (x) { return !x.hidden; }) \
           .map(function (x) { return x.textContent; });",
    );
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

/// Wait until `#id`'s text is `text`.
fn wait_text(b: &Browser, id: &str, text: &str, limit: Duration) {
    let script = format!("const e = document.getElementById('{id}'); return !!e && e.textContent.trim() === '{text}';");
    b.wait_js(&format!("{id}-{text}"), limit, &script);
}

/// `orchestra runs show ID --json`: the state of `task` (`None`: no row yet).
fn cli_state(w: &World, id: &str, task: &str) -> Option<String> {
    let runs = w.runs.display().to_string();
    let o = w.orchestra(&["runs", "show", id, "--json", "--runs-dir", &runs]);
    o.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    v["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {v}"))
        .iter()
        .find(|t| t["task_id"] == task)
        .map(|t| t["state"].as_str().unwrap_or_default().to_string())
}

/// Shell that waits (at most a minute) for the file `name` in the workspace,
/// which the test writes when the page is ready: no race with a loaded machine.
fn gate(name: &str) -> String {
    format!("i=0; while [ ! -e {name} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done")
}

#[test]
fn the_runs_list_shows_a_finished_run_with_its_status() {
    let w = World::new();
    w.run_plan(&plan(&[sh("build", "echo built", ""), sh("test", "echo tested", ", needs: [build]")]), &[])
        .assert_code(0);
    let id = w.only_run();
    let d = Dashboard::start(&w.runs, &[]);
    let b = Browser::start();
    b.goto(&format!("{}/", d.base));
    let row = format!("table.runs a[href=\"/runs/{id}\"]");
    b.wait_js("runs-list", Duration::from_secs(10), &format!("return !!document.querySelector('{row}');"));
    assert_eq!(b.text(&row), id);
    let status = b.js_with(
        "return document.querySelector(arguments[0]).closest('tr').querySelector('.badge').textContent;",
        vec![json!(row)],
    );
    assert_eq!(status, "succeeded");
    b.screenshot("runs-list");
}

#[test]
fn the_run_page_of_a_live_run_draws_every_task_of_the_plan_and_follows_it_to_the_end() {
    let w = World::new();
    // a (held) → b, c, d → e → f: six tasks, five of them pending while a runs.
    let tasks = [
        sh("a", &gate("go"), ""),
        sh("b", "true", ", needs: [a]"),
        sh("c", "true", ", needs: [a]"),
        sh("d", "true", ", needs: [a]"),
        sh("e", "true", ", needs: [b, c]"),
        sh("f", "true", ", needs: [e]"),
    ];
    let mut run = LiveRun::start(&w, &plan(&tasks), &[]);
    let d = Dashboard::start(&w.runs, &[]);
    let b = Browser::start();
    b.goto(&format!("{}/runs/{}", d.base, run.id));
    let nodes = b.js("const svg = document.querySelector('svg#dag'); \
         return { attr: svg.getAttribute('data-nodes'), drawn: svg.querySelectorAll('g.node[data-task]').length, \
                  pending: svg.querySelectorAll('g.node.s-pending').length, \
                  status: document.getElementById('run-status').textContent };");
    assert_eq!(nodes["status"], "running", "the page was loaded while the run executes: {nodes}");
    assert_eq!(nodes["attr"], "6", "{nodes}");
    assert_eq!(nodes["drawn"], 6, "{nodes}");
    assert!(nodes["pending"].as_u64().unwrap() >= 5, "the tasks after a are pending and drawn: {nodes}");
    wait_node(&b, "a", "running", Duration::from_secs(30));
    b.screenshot("run-page-live");
    w.write("go", "");
    // The live feed carries the run to its end without a reload.
    wait_text(&b, "run-status", "succeeded", Duration::from_secs(60));
    for t in ["a", "b", "c", "d", "e", "f"] {
        wait_node(&b, t, "succeeded", Duration::from_secs(5));
    }
    let events = b.text("ol#events");
    assert!(events.contains("f succeeded") && events.contains("run succeeded"), "{events}");
    assert_eq!(shown_counts(&b), ["succeeded 6"]);
    b.screenshot("run-page-finished");
    assert_eq!(run.wait(Duration::from_secs(30)), 0);
}

#[test]
fn a_log_line_reaches_the_task_page_within_a_second_of_being_written() {
    let w = World::new();
    let marker = format!("MARK-{}", std::process::id());
    // The task stamps the line with the wall clock when it writes it.
    let script = format!("echo started; {}; echo \"{marker} $(date +%s%N)\"; sleep 1", gate("go"));
    let mut run = LiveRun::start(&w, &plan(&[sh("talk", &script, "")]), &[]);
    let d = Dashboard::start(&w.runs, &[]);
    let b = Browser::start();
    b.goto(&format!("{}/runs/{}/tasks/talk", d.base, run.id));
    // Note the wall clock when the marker enters pre#log (the page's own clock).
    let early = b.js_with(
        "const pre = document.getElementById('log'); const m = arguments[0]; window.__seenAt = null; \
         const check = function () { \
           if (window.__seenAt === null && pre.textContent.includes(m)) window.__seenAt = Date.now(); }; \
         new MutationObserver(check).observe(pre, { childList: true, subtree: true, characterData: true }); \
         check(); return window.__seenAt === null;",
        vec![json!(marker)],
    );
    assert_eq!(early, true, "the page is open before the task writes the marker");
    w.write("go", "");
    let seen = b.wait_js("log-marker", Duration::from_secs(30), "return window.__seenAt;").as_f64().unwrap();
    let text = b.text("pre#log");
    let written_ns: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{marker} ")))
        .unwrap_or_else(|| panic!("no marker line in {text:?}"))
        .trim()
        .parse()
        .unwrap();
    let latency_ms = seen - written_ns / 1e6;
    println!("log line to DOM: {latency_ms:.1} ms");
    b.screenshot("task-log-live");
    assert!(latency_ms >= 0.0, "seen before written? {latency_ms} ms (clocks)");
    assert!(latency_ms < 1000.0, "the line took {latency_ms:.0} ms to reach the page");
    // The live tail also follows the task's state.
    wait_text(&b, "task-status", "succeeded", Duration::from_secs(30));
    assert_eq!(run.wait(Duration::from_secs(30)), 0);
}

#[test]
fn pause_in_the_page_holds_the_next_task_until_continue() {
    let w = World::new();
    let tasks = [sh("t1", &gate("go"), ""), sh("t2", "sleep 1", ", needs: [t1]"), sh("t3", "true", ", needs: [t2]")];
    let mut run = LiveRun::start(&w, &plan(&tasks), &[]);
    let d = Dashboard::start(&w.runs, &["--operator"]);
    let b = Browser::start();
    // An operator dashboard made a token and showed its sign-in link once.
    let token = d.token.clone().expect("the operator dashboard shows a sign-in link");
    b.goto(&format!("{}/login?token={token}", d.base));
    b.goto(&format!("{}/runs/{}", d.base, run.id));
    assert!(b.js("return !!document.getElementById('pause');") == true, "the operator controls are shown");
    wait_node(&b, "t1", "running", Duration::from_secs(30));
    b.click("#pause");
    // The run acknowledges (its journal's control entry reaches the page).
    wait_text(&b, "run-status", "paused", Duration::from_secs(10));
    assert_eq!(b.text("#control-msg"), "pause requested");
    assert!(node_class(&b, "t2").contains("s-pending"), "t2 started before the pause took effect");
    // t1 finishes; t2 does not start, in the page and for the CLI alike.
    w.write("go", "");
    wait_node(&b, "t1", "succeeded", Duration::from_secs(30));
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(4) {
        let class = node_class(&b, "t2");
        assert!(class.contains("s-pending"), "t2 left pending while paused: {class}");
        let cli = cli_state(&w, &run.id, "t2");
        assert!(matches!(cli.as_deref(), None | Some("pending")), "runs show: t2 is {cli:?} while paused");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(!b.text("ol#events").contains("t2 started"));
    b.screenshot("run-paused");
    b.click("#continue");
    wait_text(&b, "run-status", "succeeded", Duration::from_secs(60));
    for t in ["t2", "t3"] {
        wait_node(&b, t, "succeeded", Duration::from_secs(5));
        assert_eq!(cli_state(&w, &run.id, t).as_deref(), Some("succeeded"));
    }
    b.screenshot("run-continued");
    assert_eq!(run.wait(Duration::from_secs(30)), 0);
}

const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = "<img src=x onerror=\"window.__pwned=1\">";

/// Nothing the log said ran or became an element, and the page shows it literally.
fn assert_inert(b: &Browser, when: &str) {
    let v = b.js("return { pwned: typeof window.__pwned, \
                  elements: document.querySelectorAll('pre#log script, pre#log img, img[src=\"x\"]').length, \
                  scripts: document.scripts.length };");
    assert_eq!(v["pwned"], "undefined", "{when}: {v}");
    assert_eq!(v["elements"], 0, "{when}: {v}");
    assert_eq!(v["scripts"], 1, "{when}: only app.js: {v}");
    let text = b.text("pre#log");
    assert!(text.contains(SCRIPT) && text.contains(IMG), "{when}: not shown literally: {text:?}");
}

#[test]
fn hostile_log_text_is_shown_literally_and_never_runs() {
    let w = World::new();
    let script = format!("echo waiting; {}; printf \"%s\\n\" '{SCRIPT}' '{IMG}'; sleep 1", gate("go"));
    let mut run = LiveRun::start(&w, &plan(&[sh("xss", &script, "")]), &[]);
    let d = Dashboard::start(&w.runs, &[]);
    let b = Browser::start();
    b.goto(&format!("{}/runs/{}/tasks/xss", d.base, run.id));
    let first = b.text("pre#log");
    assert!(!first.contains("window.__pwned"), "the page is open before the task prints: {first:?}");
    w.write("go", "");
    // Delivered by the live tail.
    b.wait_js(
        "xss-live",
        Duration::from_secs(30),
        &format!("return document.getElementById('log').textContent.includes({});", json!(IMG)),
    );
    assert_inert(&b, "live tail");
    // Searching splits the log into line spans: still text.
    b.js("const s = document.getElementById('search'); s.value = 'pwned'; \
          s.dispatchEvent(new Event('input')); return null;");
    let hits = b.js("return document.querySelectorAll('pre#log span.hit').length;");
    assert_eq!(hits, 2, "both hostile lines are search hits");
    assert_inert(&b, "search");
    b.screenshot("xss-live");
    assert_eq!(run.wait(Duration::from_secs(30)), 0);
    // Rendered by the server.
    b.refresh();
    assert_inert(&b, "server-rendered");
    b.screenshot("xss-reloaded");
}

#[test]
fn a_five_thousand_task_plan_is_drawn_whole_and_followed_live() {
    let w = World::new();
    let n = 5000;
    // Hubs of 50: t1…t50 need t0, t51…t100 need t50, … The root waits for
    // the page, then fails: the 4,999 others are skipped, each a live event
    // (5,000 sandboxes would take minutes; the page is the same size).
    let tasks: Vec<String> = (0..n)
        .map(|i| match i {
            0 => sh("t0", &format!("{}; false", gate("go")), ""),
            _ => sh(&format!("t{i}"), "true", &format!(", needs: [t{}]", (i - 1) / 50 * 50)),
        })
        .collect();
    let mut run = LiveRun::start(&w, &plan(&tasks), &[]);
    let d = Dashboard::start(&w.runs, &[]);
    let b = Browser::start();
    let t = Instant::now();
    b.goto(&format!("{}/runs/{}", d.base, run.id));
    // Two animation frames after the load event: the DAG has been painted.
    let painted = b.js_async(
        "const done = arguments[arguments.length - 1]; \
         requestAnimationFrame(function () { requestAnimationFrame(function () { done(performance.now()); }); });",
    );
    println!("5,000-task page painted {painted} ms after navigation start ({:?} here)", t.elapsed());
    let count = "const svg = document.querySelector('svg#dag'); const ids = new Set(); \
                 for (const g of svg.querySelectorAll('g.node[data-task]')) ids.add(g.dataset.task); \
                 return { attr: svg.getAttribute('data-nodes'), distinct: ids.size, \
                          pending: svg.querySelectorAll('g.node.s-pending').length, \
                          skipped: svg.querySelectorAll('g.node.s-skipped').length, \
                          t0: ids.has('t0'), last: ids.has('t4999') };";
    let v = b.js(count);
    assert_eq!(v["attr"], n.to_string(), "{v}");
    assert_eq!(v["distinct"], n, "{v}");
    assert!(v["pending"].as_u64().unwrap() >= n as u64 - 1, "{v}");
    assert_eq!((v["t0"].clone(), v["last"].clone()), (json!(true), json!(true)), "{v}");
    b.screenshot("run-page-5000-live");
    w.write("go", "");
    // The live feed turns every node.
    wait_text(&b, "run-status", "failed", Duration::from_secs(120));
    b.wait_js(
        "run-page-5000-skipped",
        Duration::from_secs(30),
        &format!("return document.querySelectorAll('svg#dag g.node.s-skipped').length === {};", n - 1),
    );
    let v = b.js(count);
    assert_eq!(v["pending"], 0, "{v}");
    wait_node(&b, "t0", "failed", Duration::from_secs(5));
    // The counts by state follow too.
    assert_eq!(shown_counts(&b), ["failed 1", "skipped 4999"]);
    b.screenshot("run-page-5000-finished");
    assert_eq!(run.wait(Duration::from_secs(60)), 2, "a failed task: exit 2");
}
