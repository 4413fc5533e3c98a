//! `cargo bench -p orchestra-dashboard --bench browser`: the dashboard as a
//! person's browser sees it, in headless Chromium (Debian's chromium and
//! chromium-driver, driven over WebDriver). Three figures, printed side by
//! side in one run:
//!
//! 1. **Run page**: navigation start to DOMContentLoaded, to first
//!    contentful paint, and to the first frame painted with the whole DAG in
//!    the document (two animation frames after the load event, taken right
//!    after WebDriver's navigation returns: an upper bound), for a 5,000-task
//!    run against a 50-task run of the same shape (finished runs whose root
//!    task failed and the rest were skipped: made in seconds, and the page is
//!    the same size as a succeeded run's) (Performance API; median of
//!    [`LOADS`] loads each, alternated, after one untimed load of each).
//!    Target: the 5,000-task page within 1.5 s.
//! 2. **Log line to DOM**: a task writes [`LINES`] lines, each stamped with
//!    the wall clock (`date +%s%N`) when written; the page notes the wall
//!    clock (`performance.timeOrigin + performance.now()`) when each enters
//!    `pre#log` through the live tail. p50, p95, max. Target: p95 ≤ 100 ms.
//! 3. **Memory**: the dashboard's VmRSS (`/proc/PID/status`) idle, then with
//!    [`CLIENTS`] WebSocket clients following one live run (journal and a
//!    task's log) for 10 s, then with as many replaying the 5,000-task run's
//!    whole journal at once (`since=0`, as an API client or a page with an
//!    old `since` does); VmHWM for the peaks. Target: ≤ 200 MB.
//!
//! The dashboard under test is this bench binary itself re-executed as
//! `browser --serve RUNS` (the library's `serve`, optimized as benches are,
//! alone in its process so its RSS is its own). Runs are made by the
//! `orchestra` binary: `$ORCHESTRA_BIN`, else the newer of
//! `target/release/orchestra` and `target/debug/orchestra` (`cargo build`
//! first). The browser harness is the integration tests' own file.

// A bench is test code: a panic is its failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/it/harness/browser.rs"]
#[allow(dead_code)]
mod browser;

use browser::Browser;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Timed loads of each run page.
const LOADS: usize = 5;
/// Stamped log lines.
const LINES: usize = 100;
/// Concurrent WebSocket clients.
const CLIENTS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, runs, ..] = args.as_slice()
        && flag == "--serve"
    {
        serve(Path::new(runs));
        return;
    }
    bench();
}

/// The dashboard, read-only, on a free loopback port; prints its address.
fn serve(runs: &Path) {
    let opts = orchestra_dashboard::Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        runs_dir: runs.to_path_buf(),
        token: None,
        operator: false,
        queue: None,
    };
    orchestra_dashboard::serve(opts, |addr| {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{addr}");
        let _ = out.flush();
    })
    .unwrap();
}

/// The `orchestra` binary that makes the runs.
fn orchestra() -> PathBuf {
    if let Some(p) = std::env::var_os("ORCHESTRA_BIN") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [target.join("release/orchestra"), target.join("debug/orchestra")]
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| mtime(p))
        .unwrap_or_else(|| panic!("no orchestra binary in {}: run `cargo build` first", target.display()))
}

/// A directory for runs: workspace, runs, audit key, a config whitelisting sh.
struct World {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    runs: PathBuf,
    home: PathBuf,
    key: PathBuf,
    config: PathBuf,
    bin: PathBuf,
}

impl World {
    fn new() -> World {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-browser");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::Builder::new().prefix("w").tempdir_in(&base).unwrap();
        let root = dir.path().to_path_buf();
        let w = World {
            ws: root.join("ws"),
            runs: root.join("runs"),
            home: root.join("home"),
            key: root.join("keys/audit.key"),
            config: root.join("config.yaml"),
            bin: orchestra(),
            _dir: dir,
        };
        std::fs::create_dir_all(&w.ws).unwrap();
        std::fs::create_dir_all(&w.home).unwrap();
        std::fs::write(&w.config, "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n").unwrap();
        let o = w.command().args(["audit", "keygen"]).output().unwrap();
        assert!(o.status.success(), "keygen: {}", String::from_utf8_lossy(&o.stderr));
        w
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(&self.ws)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("CI", "true")
            .env("ORCHESTRA_AUDIT_KEY", &self.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// `orchestra run NAME.yaml -j 2 …` as a command.
    fn run_cmd(&self, name: &str, yaml: &str) -> Command {
        let plan = self.ws.join(format!("{name}.yaml"));
        std::fs::write(&plan, yaml).unwrap();
        let mut c = self.command();
        c.arg("run").arg(&plan).arg("--config").arg(&self.config).arg("--runs-dir").arg(&self.runs);
        c.arg("--audit-dir").arg(self.ws.parent().unwrap().join("audit")).args(["-j", "2"]);
        c
    }

    fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.runs)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Run `yaml` to its end; its id and how long it took.
    fn finished(&self, name: &str, yaml: &str) -> (String, Duration) {
        let before = self.ids();
        let t = Instant::now();
        let s = self.run_cmd(name, yaml).status().unwrap();
        assert_eq!(s.code(), Some(2), "orchestra run {name}: its root task fails");
        (self.new_id(&before), t.elapsed())
    }

    /// Start `yaml` in the background; the child and its id once its checkpoint exists.
    #[allow(clippy::zombie_processes, reason = "the caller waits for the run it is handed")]
    fn live(&self, name: &str, yaml: &str) -> (Child, String) {
        let before = self.ids();
        let mut child = self.run_cmd(name, yaml).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let new: Vec<String> = self.ids().into_iter().filter(|r| !before.contains(r)).collect();
            if let [id] = new.as_slice()
                && self.runs.join(id).join("checkpoint.json").is_file()
            {
                return (child, id.clone());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("run {name} did not start within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn new_id(&self, before: &[String]) -> String {
        let new: Vec<String> = self.ids().into_iter().filter(|r| !before.contains(r)).collect();
        assert_eq!(new.len(), 1, "one new run: {new:?}");
        new[0].clone()
    }
}

/// A plan of `n` tasks in hubs of 50 (t1…t50 need t0, t51…t100 need t50, …)
/// whose root fails, so the others are skipped: a finished run of `n` tasks
/// in seconds (5,000 sandboxes would take many minutes on a small machine;
/// the page is the same size either way).
fn hub_plan(n: usize) -> String {
    let mut y = String::from("tasks:\n");
    for i in 0..n {
        let needs = if i == 0 { String::new() } else { format!(", needs: [t{}]", (i - 1) / 50 * 50) };
        let script = if i == 0 { "false" } else { "true" };
        y.push_str(&format!("  - {{id: t{i}, tool: sh, args: ['-c', '{script}']{needs}}}\n"));
    }
    y
}

/// The dashboard under test, killed on drop.
struct Server {
    child: Child,
    base: String,
    addr: String,
}

impl Server {
    fn start(runs: &Path) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .arg(runs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().to_string();
        assert!(!addr.is_empty(), "the dashboard printed no address");
        Server { child, base: format!("http://{addr}"), addr }
    }

    /// (VmRSS, VmHWM) in MB (10^6 bytes).
    fn rss(&self) -> (f64, f64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|k| k.parse::<f64>().ok())
                .map_or(0.0, |kib| kib * 1024.0 / 1e6)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One load of a run page: milliseconds from navigation start.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    ttfb: f64,
    body: f64,
    dcl: f64,
    fcp: f64,
    frame: f64,
    bytes: f64,
    nodes: f64,
}

/// One figure of a [`Load`].
type Metric = fn(&Load) -> f64;

fn load(b: &Browser, url: &str) -> Load {
    b.goto(url);
    // Two animation frames after the load event: a frame with the whole
    // document (the DAG included) has been produced by then.
    // The paint entry is reported once the frame is presented, which can be
    // after that: it is awaited (buffered observer, at most 2 s).
    let v = b.js_async(
        "const done = arguments[arguments.length - 1]; \
         requestAnimationFrame(function () { requestAnimationFrame(function () { \
           const frame = performance.now(); \
           const nav = performance.getEntriesByType('navigation')[0]; \
           const out = { ttfb: nav.responseStart, body: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, fcp: -1, frame: frame, bytes: nav.decodedBodySize, \
                         nodes: document.querySelectorAll('svg#dag g.node[data-task]').length }; \
           let sent = false; \
           const finish = function () { if (!sent) { sent = true; done(out); } }; \
           new PerformanceObserver(function (list) { \
             for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') { out.fcp = e.startTime; finish(); } \
           }).observe({ type: 'paint', buffered: true }); \
           setTimeout(finish, 2000); }); });",
    );
    let f = |k: &str| v[k].as_f64().unwrap_or(-1.0);
    Load {
        ttfb: f("ttfb"),
        body: f("body"),
        dcl: f("dcl"),
        fcp: f("fcp"),
        frame: f("frame"),
        bytes: f("bytes"),
        nodes: f("nodes"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `clients` WebSocket clients on `path`, reading until stopped; each one's message count.
struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<usize>>,
}

impl Clients {
    fn open(addr: &str, path: &str, clients: usize) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let url = format!("ws://{addr}{path}");
                let stop = stop.clone();
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let (mut ws, _) = tungstenite::connect(url.as_str()).expect("websocket");
                        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
                            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                        }
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            match ws.read() {
                                Ok(tungstenite::Message::Text(_)) => n += 1,
                                Ok(_) => {}
                                Err(tungstenite::Error::Io(e))
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = ws.close(None);
                        n
                    })
                    .unwrap()
            })
            .collect();
        Clients { stop, threads }
    }

    fn close(self) -> Vec<usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap_or(0)).collect()
    }
}

fn bench() {
    println!("dashboard browser bench: headless Chromium ({}), orchestra {}", browser::CHROMIUM, orchestra().display());
    let w = World::new();
    let (small, t_small) = w.finished("small", &hub_plan(50));
    let (big, t_big) = w.finished("big", &hub_plan(5000));
    println!("runs made: 50 tasks in {t_small:.1?}, 5,000 tasks in {t_big:.1?} (-j 2)");
    let server = Server::start(&w.runs);
    let idle = server.rss();
    let b = Browser::start();

    // 1. Run page load.
    let urls = [format!("{}/runs/{small}", server.base), format!("{}/runs/{big}", server.base)];
    for u in &urls {
        load(&b, u);
    }
    let mut loads: [Vec<Load>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..LOADS {
        for (k, u) in urls.iter().enumerate() {
            loads[k].push(load(&b, u));
        }
    }
    assert!(loads[0].iter().all(|l| l.nodes == 50.0) && loads[1].iter().all(|l| l.nodes == 5000.0));
    let med = |k: usize, f: Metric| median(loads[k].iter().map(f).collect());
    println!();
    println!("run page (navigation start to …, median of {LOADS})    50 tasks   5,000 tasks   ratio");
    let rows: [(&str, Metric); 5] = [
        ("first byte of the page (server)", |l| l.ttfb),
        ("last byte of the page", |l| l.body),
        ("DOMContentLoaded", |l| l.dcl),
        ("first contentful paint", |l| l.fcp),
        ("frame with the whole DAG (upper bound)", |l| l.frame),
    ];
    for (name, f) in rows {
        let (a, c) = (med(0, f), med(1, f));
        println!("  {name:<46} {a:>8.1} ms {c:>10.1} ms {:>7.1}x", c / a);
    }
    let (a, c) = (med(0, |l| l.bytes) / 1024.0, med(1, |l| l.bytes) / 1024.0);
    println!("  {:<46} {a:>8.1} KiB {c:>9.1} KiB {:>7.1}x", "HTML size", c / a);
    let frame = med(1, |l| l.frame);
    println!("  5,000-task page: {frame:.0} ms (target ≤ 1500 ms: {})", if frame <= 1500.0 { "met" } else { "MISSED" });
    b.screenshot("bench-run-page-5000");

    // 2. Log line to DOM.
    // The task waits for the page (the file `go`), then writes the lines.
    let script = format!(
        "i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; \
         i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo \"L$i $(date +%s%N)\"; sleep 0.05; done; sleep 1"
    );
    let yaml = format!("tasks:\n  - {{id: talk, tool: sh, args: ['-c', '{script}']}}\n");
    let (mut run, live_id) = w.live("talk", &yaml);
    b.goto(&format!("{}/runs/{live_id}/tasks/talk", server.base));
    let ready = b.js("const pre = document.getElementById('log'); window.__seen = {}; let scanned = 0; \
         const scan = function () { \
           const now = performance.timeOrigin + performance.now(); const t = pre.textContent; \
           const re = /^L(\\d+) (\\d+)$/gm; re.lastIndex = Math.max(0, scanned - 64); let m; \
           while ((m = re.exec(t)) !== null) { if (!(m[1] in window.__seen)) window.__seen[m[1]] = [now, m[2]]; } \
           scanned = t.length; }; \
         new MutationObserver(scan).observe(pre, { childList: true, subtree: true, characterData: true }); \
         scan(); return Object.keys(window.__seen).length === 0;");
    assert_eq!(ready, true, "the page is open before the first line");
    std::fs::write(w.ws.join("go"), "").unwrap();
    b.wait_js(
        "bench-log-lines",
        Duration::from_secs(120),
        &format!("return Object.keys(window.__seen).length >= {LINES};"),
    );
    let seen = b.js("return window.__seen;");
    let mut lat: Vec<f64> = seen
        .as_object()
        .unwrap()
        .values()
        .map(|v| v[0].as_f64().unwrap() - v[1].as_str().unwrap().parse::<f64>().unwrap() / 1e6)
        .collect();
    lat.sort_by(f64::total_cmp);
    let p95 = percentile(&lat, 0.95);
    println!();
    println!(
        "log line to DOM over {} lines: p50 {:.1} ms, p95 {p95:.1} ms, max {:.1} ms (target p95 ≤ 100 ms: {})",
        lat.len(),
        percentile(&lat, 0.5),
        lat[lat.len() - 1],
        if p95 <= 100.0 { "met" } else { "MISSED" }
    );
    let _ = run.wait();
    drop(b);

    // 3. Memory with CLIENTS WebSocket clients.
    let yaml = "tasks:\n  - {id: tick, tool: sh, args: ['-c', 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); \
                echo tick $i; sleep 0.1; done']}\n";
    let (mut run, tick_id) = w.live("tick", yaml);
    let before = server.rss();
    let clients = Clients::open(&server.addr, &format!("/api/runs/{tick_id}/live?since=0&log=tick&offset=0"), CLIENTS);
    std::thread::sleep(Duration::from_secs(10));
    let live = server.rss();
    let counts = clients.close();
    // VmHWM so far: the peak of everything up to here, the live clients included.
    let live_peak = server.rss().1.max(live.0).max(live.1);
    let _ = run.kill();
    let _ = run.wait();
    let fed = counts.iter().filter(|&&n| n > 1).count();
    std::thread::sleep(Duration::from_secs(1));
    let replay = Clients::open(&server.addr, &format!("/api/runs/{big}/live?since=0"), CLIENTS);
    std::thread::sleep(Duration::from_secs(10));
    let replaying = server.rss();
    let replayed = replay.close();
    let after = server.rss();
    println!();
    println!("dashboard memory (VmRSS; VmHWM is the peak of the process so far):");
    println!("  idle, runs made                                      {:>7.1} MB", idle.0);
    println!("  after the browser measurements                       {:>7.1} MB", before.0);
    println!(
        "  {CLIENTS} clients following a live run for 10 s            {:>7.1} MB, peak {live_peak:.1} MB \
         (target ≤ 200 MB: {}; {fed} of {CLIENTS} fed, {:.0} messages each)",
        live.0,
        if live_peak <= 200.0 { "met" } else { "MISSED" },
        counts.iter().sum::<usize>() as f64 / counts.len() as f64
    );
    println!(
        "  {CLIENTS} clients replaying the 5,000-task journal at once {:>7.1} MB, peak {:.1} MB \
         (target ≤ 200 MB: {}; {} of {CLIENTS} got it)",
        replaying.0,
        after.1.max(replaying.0),
        if after.1.max(replaying.0) <= 200.0 { "met" } else { "MISSED" },
        replayed.iter().filter(|&&n| n > 0).count()
    );
    println!("  after they left                                      {:>7.1} MB", after.0);
}
