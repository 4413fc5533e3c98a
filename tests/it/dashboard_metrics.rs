//! `orchestra dashboard`'s Prometheus side (dashboard/src/metrics.rs and
//! deploy/): the rules pass `promtool check rules` and their own unit tests;
//! the `/metrics` text passes `promtool check metrics` after a journal with
//! every kind of line and after a real run's journal; the Grafana dashboard
//! asks only for series that exist; and a real Prometheus scraping a real
//! dashboard counts the tasks of real runs, evaluates every rule without
//! error and answers every query of the Grafana dashboard.

use crate::harness::dashboard::Dashboard;
use crate::harness::prometheus::{JOB, Prometheus, promtool};
use crate::harness::{World, plan, repo, sh};
use orchestra_dashboard::metrics::{CONTENT_TYPE, Metrics};
use orchestra_orchestrator::runstore::journal::{self, Entry};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn rules() -> PathBuf {
    repo().join("deploy/prometheus/rules.yml")
}

fn grafana() -> serde_json::Value {
    let p = repo().join("deploy/grafana/orchestra-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every query of the Grafana dashboard (panels and variables), as written.
fn grafana_queries() -> Vec<String> {
    let d = grafana();
    let mut out: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(out.len() >= 10, "the dashboard has its panels: {out:?}");
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            out.push(q.to_string());
        }
    }
    out
}

/// A Grafana query as Prometheus gets it (Grafana's variables filled in).
fn as_sent(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$backend", ".*")
}

/// A journal as `orchestra run` writes it, with every kind of line: a retry,
/// a violation, a skip, operator control, a remote result, a replan, and an
/// audit log that could not be made durable at the end (so no run_finished);
/// then a second run that times out.
const JOURNAL_A: &str = r#"{"seq":1,"at_ms":1765000000000,"type":"run_started","tasks":4,"to_run":4,"concurrency":2}
{"seq":2,"at_ms":1765000000010,"type":"task_started","task":"build","attempt":1,"policy":"default","backend":"jail"}
{"seq":3,"at_ms":1765000000011,"type":"task_started","task":"fetch","attempt":1,"policy":"strict","backend":"podman"}
{"seq":4,"at_ms":1765000001840,"type":"task_finished","task":"build","state":"succeeded","wall_ms":1830,"detail":"exit 0","setup_ms":4}
{"seq":5,"at_ms":1765000001900,"type":"task_retry","task":"fetch","attempt":1,"delay_ms":500,"detail":"exit 1"}
{"seq":6,"at_ms":1765000002400,"type":"task_started","task":"fetch","attempt":2,"policy":"strict","backend":"podman"}
{"seq":7,"at_ms":1765000002640,"type":"task_finished","task":"fetch","state":"violation","wall_ms":240,"detail":"policy_denied: net.connect","rules":["net.connect"],"setup_ms":152}
{"seq":8,"at_ms":1765000002641,"type":"task_not_run","task":"deploy","state":"skipped","reason":"needs fetch, which ended violation"}
{"seq":9,"at_ms":1765000002700,"type":"task_started","task":"lint","attempt":1,"policy":"default","backend":"jail"}
{"seq":10,"at_ms":1765000002800,"type":"control","action":"pause","by":"alice","request":1}
{"seq":11,"at_ms":1765000002900,"type":"control","action":"continue","by":"alice","request":2}
{"seq":12,"at_ms":1765000003620,"type":"task_finished","task":"lint","state":"failed","wall_ms":920,"detail":"exit 2","setup_ms":3}
{"seq":13,"at_ms":1765000003630,"type":"remote","kind":"remote_result"}
{"seq":14,"at_ms":1765000003700,"type":"replan","replan":1,"task":"lint","outcome":"declined","detail":"no change"}
{"seq":15,"at_ms":1765000003800,"type":"message","line":"orchestra: error: audit log: No space left on device (os error 28)"}
"#;

const JOURNAL_B: &str = r#"{"seq":1,"at_ms":1765000010000,"type":"run_started","tasks":2,"to_run":1,"concurrency":1}
{"seq":2,"at_ms":1765000010001,"type":"task_reused","task":"build"}
{"seq":3,"at_ms":1765000010002,"type":"task_started","task":"slow","attempt":1,"policy":"default","backend":"jail"}
{"seq":4,"at_ms":1765000070002,"type":"task_finished","task":"slow","state":"timed_out","wall_ms":60000,"detail":"timeout","setup_ms":5}
{"seq":5,"at_ms":1765000070010,"type":"run_finished","status":"failed","exit_code":3,"wall_ms":60010,"summary":"1 timed out"}
"#;

fn observe_text(m: &Metrics, run: &str, text: &str) {
    for line in text.lines() {
        let e: Entry = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a journal line ({e}): {line}"));
        m.observe(run, &e);
    }
}

/// The metrics after both journals, the fleet gauges and two audit verifications.
fn realistic() -> Metrics {
    let m = Metrics::new();
    observe_text(&m, "20261206T031500Z-7f3a", JOURNAL_A);
    observe_text(&m, "20261206T031700Z-0b1c", JOURNAL_B);
    m.set_fleet(4, 2);
    m.audit_verified(true);
    m.audit_verified(false);
    m
}

#[track_caller]
fn check_metrics(text: &str) {
    let o = promtool(&["check", "metrics"], Some(text));
    assert_eq!(o.code, 0, "promtool check metrics:\n{}\n--- the text:\n{text}", o.all());
    assert_eq!(o.all_output().trim(), "", "promtool has remarks:\n{}", o.all());
}

#[test]
fn the_rules_pass_promtool_check_rules_and_their_unit_tests() {
    let o = promtool(&["check", "rules", rules().to_str().unwrap()], None);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.all_output().contains("SUCCESS"), "{}", o.all());
    let tests = repo().join("deploy/prometheus/rules.test.yml");
    let o = promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.all_output().contains("SUCCESS"), "{}", o.all());
}

#[test]
fn the_metrics_of_a_journal_with_every_kind_of_line_pass_promtool_check_metrics() {
    let text = realistic().encode();
    check_metrics(&text);
    for line in [
        r#"orchestra_tasks_total{outcome="succeeded",backend="jail",policy="default"} 1"#,
        r#"orchestra_tasks_total{outcome="violation",backend="podman",policy="strict"} 1"#,
        r#"orchestra_tasks_total{outcome="skipped",backend="none",policy="none"} 1"#,
        r#"orchestra_tasks_total{outcome="failed",backend="jail",policy="default"} 1"#,
        r#"orchestra_tasks_total{outcome="timed_out",backend="jail",policy="default"} 1"#,
        r#"orchestra_violations_total{rule="net.connect"} 1"#,
        r#"orchestra_task_duration_seconds_count{backend="jail"} 3"#,
        r#"orchestra_task_duration_seconds_sum{backend="jail"} 62.75"#,
        r#"orchestra_sandbox_start_seconds_count{backend="podman"} 1"#,
        r#"orchestra_runs_total{status="failed"} 1"#,
        r#"orchestra_runs_total{status="succeeded"} 0"#,
        "orchestra_tasks_running 0",
        "orchestra_queue_depth 4",
        "orchestra_workers 2",
        "orchestra_audit_verify_failures_total 1",
        "orchestra_audit_append_failures_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

/// The metric names of a text format (HELP lines, histogram series expanded).
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_string());
        }
    }
    names
}

/// The rules of rules.yml.
fn rule_list() -> Vec<serde_json::Value> {
    let y: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(rules()).unwrap()).unwrap();
    y["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap().clone()).collect()
}

/// The `record:` names of rules.yml.
fn recorded_names() -> BTreeSet<String> {
    rule_list().iter().filter_map(|r| r["record"].as_str().map(String::from)).collect()
}

/// The series names a PromQL expression mentions outside its strings (those
/// that start with `orchestra`, and recorded names).
fn mentioned_names(expr: &str, recorded: &BTreeSet<String>) -> BTreeSet<String> {
    let strings = regex::Regex::new(r#""[^"]*""#).unwrap();
    let expr = strings.replace_all(expr, "\"\"");
    let re = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    re.find_iter(&expr)
        .map(|m| m.as_str().to_string())
        .filter(|n| n.starts_with("orchestra") || recorded.contains(n))
        .collect()
}

#[test]
fn the_rules_and_the_grafana_dashboard_ask_only_for_exported_or_recorded_series() {
    let exported = exported_names(&realistic().encode());
    assert!(exported.contains("orchestra_tasks_total") && exported.contains("orchestra_sandbox_start_seconds_bucket"));
    let recorded = recorded_names();
    assert!(recorded.len() >= 6, "{recorded:?}");
    let known: BTreeSet<String> = exported.union(&recorded).cloned().collect();
    let rule_exprs = rule_list().iter().map(|r| r["expr"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let exprs: Vec<String> = grafana_queries().into_iter().chain(rule_exprs).collect();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in mentioned_names(expr, &recorded) {
            assert!(known.contains(&name), "{name} is neither exported nor recorded (in {expr})");
            used.insert(name);
        }
    }
    for name in ["orchestra_tasks_total", "orchestra_violations_total", "orchestra_audit_append_failures_total"] {
        assert!(used.contains(name), "nothing shows {name}");
    }
}

fn three_tasks() -> String {
    plan(&[sh("build", "echo built", ""), sh("test", "exit 3", ""), sh("deploy", "echo never", ", needs: [test]")])
}

/// The entries of run `id`'s journal.
fn journal_of(run_dir: &Path) -> Vec<Entry> {
    let mut f = std::fs::File::open(run_dir.join(journal::FILE)).unwrap();
    journal::read_from(&mut f, 0, 16 << 20).unwrap().entries
}

#[test]
fn a_real_runs_journal_gives_the_metrics_and_passes_promtool() {
    let w = World::new();
    let o = w.run_plan(&three_tasks(), &[]);
    assert_eq!(o.code, 2, "{}", o.all());
    let id = w.only_run();
    let m = Metrics::new();
    for e in journal_of(&w.run_dir(&id)) {
        m.observe(&id, &e);
    }
    let text = m.encode();
    check_metrics(&text);
    for line in [
        r#"orchestra_tasks_total{outcome="succeeded",backend="jail",policy="default"} 1"#,
        r#"orchestra_tasks_total{outcome="failed",backend="jail",policy="default"} 1"#,
        r#"orchestra_tasks_total{outcome="skipped",backend="none",policy="none"} 1"#,
        r#"orchestra_task_duration_seconds_count{backend="jail"} 2"#,
        r#"orchestra_sandbox_start_seconds_count{backend="jail"} 2"#,
        r#"orchestra_runs_total{status="failed"} 1"#,
        "orchestra_tasks_running 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

/// Poll `f` until it gives `Some`, for at most `limit`.
fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Why Prometheus' scrape of the dashboard fails, if it does.
fn scrape_error(p: &Prometheus) -> String {
    let (_, body) = p.get("/api/v1/targets").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["activeTargets"].as_array().into_iter().flatten().map(|t| format!("{} ", t["lastError"])).collect()
}

#[test]
fn prometheus_scrapes_the_tasks_of_real_runs_from_the_dashboard() {
    let w = World::new();
    std::fs::create_dir_all(&w.runs).unwrap();
    let dash = Dashboard::start(&w.runs, &[]);
    let m = dash.get("/metrics");
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(
        m.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some(CONTENT_TYPE),
        "/metrics must say what Metrics::encode renders (metrics::CONTENT_TYPE), or Prometheus parses it wrong"
    );
    let prom = Prometheus::start(&w.root, &dash.addr, &[rules()]);
    let up = prom.wait_for(&format!("up{{job=\"{JOB}\"}}"), 1.0, Duration::from_secs(30));
    assert_eq!(up, Some(1.0), "Prometheus cannot scrape the dashboard: {}\n{}", scrape_error(&prom), prom.log());

    // One run: build succeeds, test fails, deploy is skipped.
    let o = w.run_plan(&three_tasks(), &[]);
    assert_eq!(o.code, 2, "{}", o.all());
    // The run's last journal line is its end: once Prometheus has that, it has the rest.
    let ended = prom.wait_for(r#"orchestra_runs_total{status="failed"}"#, 1.0, Duration::from_secs(60));
    assert_eq!(ended, Some(1.0), "runs Prometheus saw: {}", scrape_error(&prom));
    assert_eq!(prom.value("sum(orchestra_tasks_total)"), Some(3.0));
    let outcomes = prom.by("sum by (outcome) (orchestra_tasks_total)", "outcome");
    let want: BTreeMap<String, f64> =
        [("failed", 1.0), ("skipped", 1.0), ("succeeded", 1.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    assert_eq!(outcomes, want);
    assert_eq!(prom.value(r#"sum(orchestra_tasks_total{backend="jail",policy="default"})"#), Some(2.0));
    assert_eq!(prom.value("orchestra_tasks_running"), Some(0.0));
    assert_eq!(prom.value("sum(orchestra_task_duration_seconds_count)"), Some(2.0));
    assert_eq!(prom.value("sum(orchestra_sandbox_start_seconds_count)"), Some(2.0));

    // A second run: the counters grow, so the recorded success ratio has a
    // rate to work on (1 of the 2 tasks that ran succeeded, per run).
    let o = w.run_plan(&three_tasks(), &[]);
    assert_eq!(o.code, 2, "{}", o.all());
    let ended = prom.wait_for(r#"orchestra_runs_total{status="failed"}"#, 2.0, Duration::from_secs(60));
    assert_eq!(ended, Some(2.0), "runs Prometheus saw: {}", scrape_error(&prom));
    assert_eq!(prom.value("sum(orchestra_tasks_total)"), Some(6.0));
    let ratio = within(Duration::from_secs(30), || {
        prom.value("orchestra:task_success:ratio_rate5m").filter(|v| (0.3..=0.7).contains(v))
    });
    assert!(ratio.is_some(), "recorded ratio: {:?}", prom.value("orchestra:task_success:ratio_rate5m"));

    // Every rule evaluates without error against the real series.
    let rules_ok = within(Duration::from_secs(30), || {
        let (_, body) = prom.get("/api/v1/rules").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rules: Vec<serde_json::Value> =
            v["data"]["groups"].as_array()?.iter().flat_map(|g| g["rules"].as_array().cloned().unwrap()).collect();
        (rules.len() >= 18 && rules.iter().all(|r| r["health"] == "ok")).then_some(rules.len())
    });
    assert!(rules_ok.is_some(), "rules not all healthy: {}", prom.get("/api/v1/rules").unwrap().1);

    // Every query of the Grafana dashboard is valid PromQL here; the
    // variable's values come from the real series.
    for q in grafana_queries().iter().filter(|q| !q.starts_with("label_values(")) {
        let (code, v) = prom.try_query(&as_sent(q));
        assert!(code == 200 && v["status"] == "success", "Grafana query {q}: HTTP {code}: {v}");
    }
    let (code, body) = prom.get("/api/v1/label/backend/values?match[]=orchestra_tasks_total").unwrap();
    assert_eq!(code, 200, "{body}");
    let backends: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(backends["data"], serde_json::json!(["jail", "none"]), "the Backend variable's choices");
}
