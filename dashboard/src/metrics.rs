//! `/metrics`: the Prometheus exposition of what the dashboard sees in the
//! runs directory (prometheus-client, the Prometheus text format 0.0.4).
//!
//! Interface (the server calls only this):
//! - [`Metrics::new`] builds the registry with every metric at zero;
//! - [`Metrics::observe`] counts one journal entry of run `run_id`
//!   (`runs/<id>/events.jsonl`, see `orchestra_orchestrator::runstore::journal`),
//!   each entry once, in the journal's order;
//! - [`Metrics::set_fleet`] sets the distributed queue's depth and worker count;
//! - [`Metrics::audit_verified`] counts one audit-log verification;
//! - [`Metrics::run_gone`] (optional) says a run's process died without a `run_finished`;
//! - [`Metrics::encode`] renders the text, served with [`CONTENT_TYPE`].
//!
//! The metrics:
//!
//! | metric | labels | from |
//! |---|---|---|
//! | `orchestra_tasks_total` | `outcome`, `backend`, `policy` | `task_finished` (its `state`) and `task_not_run` (its `state`); backend and policy from the task's last `task_started` in that run, `none` when it never started |
//! | `orchestra_task_duration_seconds` (histogram) | `backend` | `task_finished.wall_ms` |
//! | `orchestra_sandbox_start_seconds` (histogram) | `backend` | `task_finished.setup_ms`, when present (the sandbox's own set-up time) |
//! | `orchestra_violations_total` | `rule` | each rule of a `task_finished` |
//! | `orchestra_tasks_running` (gauge) | | `task_started` minus the attempt's end (`task_retry`, `task_finished`, `task_not_run`) across runs; a `run_finished`, a new `run_started` of the same run (its previous session died) and [`Metrics::run_gone`] clear what the run still had running |
//! | `orchestra_runs_total` | `status` | `run_finished` (the final statuses are exported from zero) |
//! | `orchestra_queue_depth`, `orchestra_workers` (gauges) | | [`Metrics::set_fleet`] |
//! | `orchestra_audit_verify_failures_total` | | [`Metrics::audit_verified`] with `ok == false` |
//! | `orchestra_audit_append_failures_total` | | journal `message` lines starting with [`AUDIT_APPEND_FAILURE`]: the orchestrator says this when it cannot make the run's audit log durable at the run's end (it then never announces `run_finished`) |
//!
//! Guarantees:
//! - Bounded: every label value is one the orchestrator is known to write
//!   (outcomes, statuses, backends) or one of the first few hundred distinct
//!   values of its dimension (policies, rules, other backends); anything else,
//!   an over-long value or one with control characters, is counted as
//!   [`OTHER`]. The tasks counter also caps its label sets ([`MAX_TASK_SETS`]),
//!   folding the policy of any further set into `other`. A hostile plan
//!   (a thousand policy files, a million rule names) therefore grows neither
//!   the registry nor the per-run memory, which holds the tasks that started
//!   and have not ended (and, per run id, the last `seq` seen).
//! - Once: an entry whose `seq` is not above the last one seen for its run
//!   is ignored, so a re-read journal counts nothing twice.
//! - `Send + Sync`: all methods take `&self`; one lock orders the updates.

use orchestra_orchestrator::runstore::journal::{Entry, JournalEvent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The media type of [`Metrics::encode`]'s text: the Prometheus text format
/// 0.0.4, which every scraper and `promtool check metrics` read.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The label value that stands for everything past a dimension's budget.
pub const OTHER: &str = "other";

/// Backend and policy of a task that never started.
pub const NONE: &str = "none";

/// The start of the journal message that reports a failed audit-log append.
pub const AUDIT_APPEND_FAILURE: &str = "orchestra: error: audit log:";

/// Distinct label sets of `orchestra_tasks_total` before policies fold into [`OTHER`].
pub const MAX_TASK_SETS: usize = 512;

/// Distinct policies (beyond [`NONE`]) before the rest are [`OTHER`].
pub const MAX_POLICIES: usize = 256;

/// Distinct violated rules before the rest are [`OTHER`].
pub const MAX_RULES: usize = 256;

/// Backends besides the known ones before the rest are [`OTHER`].
pub const MAX_OTHER_BACKENDS: usize = 8;

/// The longest label value kept (bytes); a longer one is [`OTHER`].
pub const MAX_VALUE_LEN: usize = 128;

/// Task outcomes the orchestrator writes (`TaskState` of a finished task).
const OUTCOMES: &[&str] = &["succeeded", "failed", "timed_out", "violation", "skipped", "cancelled", "replaced"];

/// Run statuses the orchestrator writes (`RunStatus`).
const STATUSES: &[&str] = &["succeeded", "failed", "interrupted", "awaiting_approval", "running"];

/// The statuses a session ends with, exported from zero.
const FINAL_STATUSES: &[&str] = &["succeeded", "failed", "interrupted", "awaiting_approval"];

/// Sandbox backends (and [`NONE`]).
const BACKENDS: &[&str] = &["jail", "docker", "podman", NONE];

/// Task wall time buckets, seconds: 50 ms to an hour.
const DURATION_BUCKETS: &[f64] =
    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

/// Sandbox start buckets, seconds: a jail starts in milliseconds, a container in a second or so.
const START_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    outcome: String,
    backend: String,
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

type Histograms = Family<BackendLabel, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

fn start_histogram() -> Histogram {
    Histogram::new(START_BUCKETS.iter().copied())
}

/// The values one label dimension may take: the known ones, then the first
/// `budget` others, then [`OTHER`].
#[derive(Debug)]
struct Values {
    known: &'static [&'static str],
    seen: HashSet<String>,
    budget: usize,
}

impl Values {
    fn new(known: &'static [&'static str], budget: usize) -> Values {
        Values { known, seen: HashSet::new(), budget }
    }

    /// The label value `v` is counted under.
    fn admit(&mut self, v: &str) -> String {
        if self.known.contains(&v) || self.seen.contains(v) {
            return v.to_string();
        }
        let printable = !v.is_empty() && v.len() <= MAX_VALUE_LEN && !v.chars().any(char::is_control);
        if !printable || self.seen.len() >= self.budget {
            return OTHER.to_string();
        }
        self.seen.insert(v.to_string());
        v.to_string()
    }
}

/// A task of a run that started and has not ended.
#[derive(Debug)]
struct Started {
    /// Admitted label values.
    backend: String,
    policy: String,
    /// An attempt is under way (false between a retry and the next start).
    running: bool,
}

/// What the metrics remember of one run.
#[derive(Debug, Default)]
struct Run {
    last_seq: u64,
    tasks: HashMap<String, Started>,
}

/// Everything behind the lock.
#[derive(Debug)]
struct State {
    runs: HashMap<String, Run>,
    outcomes: Values,
    statuses: Values,
    backends: Values,
    policies: Values,
    rules: Values,
    /// Label sets of `orchestra_tasks_total`.
    task_sets: usize,
}

/// The dashboard's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tasks: Family<TaskLabels, Counter>,
    task_duration: Histograms,
    sandbox_start: Histograms,
    violations: Family<RuleLabel, Counter>,
    running: Gauge,
    runs: Family<StatusLabel, Counter>,
    queue_depth: Gauge,
    workers: Gauge,
    audit_verify_failures: Counter,
    audit_append_failures: Counter,
    state: Mutex<State>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            tasks: Family::default(),
            task_duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            sandbox_start: Family::new_with_constructor(start_histogram as fn() -> Histogram),
            violations: Family::default(),
            running: Gauge::default(),
            runs: Family::default(),
            queue_depth: Gauge::default(),
            workers: Gauge::default(),
            audit_verify_failures: Counter::default(),
            audit_append_failures: Counter::default(),
            state: Mutex::new(State {
                runs: HashMap::new(),
                outcomes: Values::new(OUTCOMES, 0),
                statuses: Values::new(STATUSES, 0),
                backends: Values::new(BACKENDS, MAX_OTHER_BACKENDS),
                policies: Values::new(&[NONE], MAX_POLICIES),
                rules: Values::new(&[], MAX_RULES),
                task_sets: 0,
            }),
        };
        // Runs' final statuses from zero, so that a rate sees the first one.
        for status in FINAL_STATUSES {
            let _zero = m.runs.get_or_create(&StatusLabel { status: status.to_string() });
        }
        m.register()
    }

    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "orchestra_tasks",
            "Tasks that ended, by final state, sandbox backend and policy",
            self.tasks.clone(),
        );
        r.register_with_unit(
            "orchestra_task_duration",
            "Wall time of a task's last attempt",
            Unit::Seconds,
            self.task_duration.clone(),
        );
        r.register_with_unit(
            "orchestra_sandbox_start",
            "Time the sandbox took to set up before the task's program ran",
            Unit::Seconds,
            self.sandbox_start.clone(),
        );
        r.register("orchestra_violations", "Policy violations, by rule", self.violations.clone());
        r.register("orchestra_tasks_running", "Task attempts under way, across runs", self.running.clone());
        r.register("orchestra_runs", "Run sessions that ended, by status", self.runs.clone());
        r.register("orchestra_queue_depth", "Tasks waiting in the distributed queue", self.queue_depth.clone());
        r.register("orchestra_workers", "Distributed workers alive", self.workers.clone());
        r.register(
            "orchestra_audit_verify_failures",
            "Audit log verifications that failed",
            self.audit_verify_failures.clone(),
        );
        r.register(
            "orchestra_audit_append_failures",
            "Runs whose audit log could not be made durable at their end",
            self.audit_append_failures.clone(),
        );
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements: a panic elsewhere
        // leaves nothing half-updated that matters for counting.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count one journal entry of run `run_id`.
    pub fn observe(&self, run_id: &str, entry: &Entry) {
        let mut st = self.lock();
        let st = &mut *st;
        let run = st.runs.entry(run_id.to_string()).or_default();
        if entry.seq <= run.last_seq {
            return;
        }
        run.last_seq = entry.seq;
        match &entry.event {
            JournalEvent::RunStarted { .. } => {
                // A new session: whatever the last one had running died with it.
                self.clear(run);
            }
            JournalEvent::TaskStarted { task, backend, policy, .. } => {
                let backend = st.backends.admit(backend);
                let policy = st.policies.admit(policy);
                let was = run.tasks.insert(task.clone(), Started { backend, policy, running: true });
                if !was.is_some_and(|t| t.running) {
                    self.running.inc();
                }
            }
            JournalEvent::TaskRetry { task, .. } => {
                if let Some(t) = run.tasks.get_mut(task)
                    && std::mem::replace(&mut t.running, false)
                {
                    self.running.dec();
                }
            }
            JournalEvent::TaskFinished { task, state, wall_ms, rules, setup_ms, .. } => {
                let (backend, policy) = self.end(run, task);
                let outcome = st.outcomes.admit(state);
                self.count_task(&mut st.task_sets, outcome, backend.clone(), policy);
                let label = BackendLabel { backend };
                self.task_duration.get_or_create(&label).observe(*wall_ms as f64 / 1000.0);
                if let Some(ms) = setup_ms {
                    self.sandbox_start.get_or_create(&label).observe(*ms as f64 / 1000.0);
                }
                for rule in rules {
                    self.violations.get_or_create(&RuleLabel { rule: st.rules.admit(rule) }).inc();
                }
            }
            JournalEvent::TaskNotRun { task, state, .. } => {
                let (backend, policy) = self.end(run, task);
                let outcome = st.outcomes.admit(state);
                self.count_task(&mut st.task_sets, outcome, backend, policy);
            }
            JournalEvent::Message { line } => {
                if line.starts_with(AUDIT_APPEND_FAILURE) {
                    self.audit_append_failures.inc();
                }
            }
            JournalEvent::RunFinished { status, .. } => {
                self.clear(run);
                self.runs.get_or_create(&StatusLabel { status: st.statuses.admit(status) }).inc();
            }
            JournalEvent::TaskReused { .. }
            | JournalEvent::Replan { .. }
            | JournalEvent::Remote { .. }
            | JournalEvent::Control { .. } => {}
        }
    }

    /// The run's task ended: forget it, and give its labels.
    fn end(&self, run: &mut Run, task: &str) -> (String, String) {
        match run.tasks.remove(task) {
            Some(t) => {
                if t.running {
                    self.running.dec();
                }
                (t.backend, t.policy)
            }
            None => (NONE.to_string(), NONE.to_string()),
        }
    }

    /// Forget what `run` had started and not ended.
    fn clear(&self, run: &mut Run) {
        let running = run.tasks.values().filter(|t| t.running).count();
        self.running.dec_by(running as i64);
        run.tasks = HashMap::new();
    }

    /// Count one ended task; `sets` is how many label sets the family holds.
    fn count_task(&self, sets: &mut usize, outcome: String, backend: String, policy: String) {
        let mut labels = TaskLabels { outcome, backend, policy };
        if self.tasks.get(&labels).is_none() {
            if *sets >= MAX_TASK_SETS {
                labels.policy = OTHER.to_string();
            }
            if self.tasks.get(&labels).is_none() {
                *sets += 1;
            }
        }
        self.tasks.get_or_create(&labels).inc();
    }

    /// Run `run_id`'s process is gone without a `run_finished` (the server
    /// knows from its lock): what it still had running is not running.
    pub fn run_gone(&self, run_id: &str) {
        let mut st = self.lock();
        if let Some(run) = st.runs.get_mut(run_id) {
            self.clear(run);
        }
    }

    /// The distributed queue's depth and the workers alive.
    pub fn set_fleet(&self, depth: i64, workers: i64) {
        self.queue_depth.set(depth);
        self.workers.set(workers);
    }

    /// One verification of the audit log ended; `ok == false` counts a failure.
    pub fn audit_verified(&self, ok: bool) {
        if !ok {
            self.audit_verify_failures.inc();
        }
    }

    /// The Prometheus text ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        // Hold the lock so that a scrape sees no entry half-counted.
        let _st = self.lock();
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry) {
            // Writing to a String does not fail; a metric's own encoder could.
            tracing::error!("encoding /metrics: {e}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Builds journal entries of one run with increasing `seq`.
    struct Journal<'a> {
        m: &'a Metrics,
        run: &'a str,
        seq: u64,
    }

    impl<'a> Journal<'a> {
        fn new(m: &'a Metrics, run: &'a str) -> Journal<'a> {
            Journal { m, run, seq: 0 }
        }

        fn push(&mut self, event: JournalEvent) {
            self.seq += 1;
            self.m.observe(self.run, &Entry { seq: self.seq, at_ms: 1_700_000_000_000 + self.seq, event });
        }

        fn run_started(&mut self) {
            self.push(JournalEvent::RunStarted { tasks: 3, to_run: 3, concurrency: 2 });
        }

        fn started(&mut self, task: &str, backend: &str, policy: &str) {
            self.push(JournalEvent::TaskStarted {
                task: task.into(),
                attempt: 1,
                policy: policy.into(),
                backend: backend.into(),
            });
        }

        fn retry(&mut self, task: &str) {
            self.push(JournalEvent::TaskRetry {
                task: task.into(),
                attempt: 1,
                delay_ms: 100,
                detail: "exit 1".into(),
            });
        }

        fn finished(&mut self, task: &str, state: &str, wall_ms: u64, rules: &[&str], setup_ms: Option<u64>) {
            self.push(JournalEvent::TaskFinished {
                task: task.into(),
                state: state.into(),
                wall_ms,
                detail: String::new(),
                rules: rules.iter().map(|r| r.to_string()).collect(),
                setup_ms,
            });
        }

        fn not_run(&mut self, task: &str, state: &str) {
            self.push(JournalEvent::TaskNotRun { task: task.into(), state: state.into(), reason: "dep".into() });
        }

        fn message(&mut self, line: &str) {
            self.push(JournalEvent::Message { line: line.into() });
        }

        fn run_finished(&mut self, status: &str) {
            self.push(JournalEvent::RunFinished {
                status: status.into(),
                exit_code: 0,
                wall_ms: 10,
                summary: String::new(),
            });
        }
    }

    /// One sample's labels and value.
    type Sample = (BTreeMap<String, String>, f64);

    /// The samples of the text format: name → samples.
    fn samples(text: &str) -> BTreeMap<String, Vec<Sample>> {
        let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            out.entry(name.to_string()).or_default().push((labels, value.parse().unwrap()));
        }
        out
    }

    /// The value of `name{labels}` (exactly those labels), if present.
    fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        samples(&m.encode()).get(name)?.iter().find(|(l, _)| *l == want).map(|(_, v)| *v)
    }

    fn tasks(m: &Metrics, outcome: &str, backend: &str, policy: &str) -> Option<f64> {
        value(m, "orchestra_tasks_total", &[("outcome", outcome), ("backend", backend), ("policy", policy)])
    }

    fn running(m: &Metrics) -> f64 {
        value(m, "orchestra_tasks_running", &[]).unwrap()
    }

    /// Distinct values of `label` across the samples of `name`.
    fn distinct(m: &Metrics, name: &str, label: &str) -> HashSet<String> {
        samples(&m.encode()).get(name).into_iter().flatten().filter_map(|(l, _)| l.get(label).cloned()).collect()
    }

    #[test]
    fn metrics_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Metrics>();
    }

    #[test]
    fn a_new_registry_has_its_unlabelled_metrics_and_run_statuses_at_zero() {
        let m = Metrics::new();
        let text = m.encode();
        for name in [
            "orchestra_tasks_running",
            "orchestra_queue_depth",
            "orchestra_workers",
            "orchestra_audit_verify_failures_total",
            "orchestra_audit_append_failures_total",
        ] {
            assert_eq!(value(&m, name, &[]), Some(0.0), "{name} in\n{text}");
        }
        for status in ["succeeded", "failed", "interrupted", "awaiting_approval"] {
            assert_eq!(value(&m, "orchestra_runs_total", &[("status", status)]), Some(0.0), "{status} in\n{text}");
        }
        // A labelled family appears with its first label set.
        assert!(!text.contains("orchestra_tasks_total"), "{text}");
        let mut j = Journal::new(&m, "r");
        j.started("a", "jail", "default");
        j.finished("a", "violation", 1, &["fs.write"], Some(1));
        let text = m.encode();
        for family in ["orchestra_tasks_total", "orchestra_violations_total", "orchestra_runs_total"] {
            assert!(text.contains(&format!("# TYPE {family} counter\n")), "{family} in\n{text}");
        }
        for family in ["orchestra_task_duration_seconds", "orchestra_sandbox_start_seconds"] {
            assert!(text.contains(&format!("# TYPE {family} histogram\n")), "{family} in\n{text}");
        }
    }

    #[test]
    fn a_run_is_counted_by_outcome_backend_and_policy() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "20261201T000000Z-aaaa");
        j.run_started();
        j.started("build", "jail", "default");
        j.started("net", "docker", "strict");
        j.finished("build", "succeeded", 1500, &[], Some(4));
        j.retry("net");
        j.started("net", "docker", "strict");
        j.finished("net", "violation", 200, &["net.connect", "fs.write"], Some(800));
        j.not_run("deploy", "skipped");
        j.run_finished("failed");

        assert_eq!(tasks(&m, "succeeded", "jail", "default"), Some(1.0));
        assert_eq!(tasks(&m, "violation", "docker", "strict"), Some(1.0), "a retried task counts once");
        assert_eq!(tasks(&m, "skipped", NONE, NONE), Some(1.0), "a task that never started");
        assert_eq!(samples(&m.encode())["orchestra_tasks_total"].len(), 3);
        assert_eq!(value(&m, "orchestra_violations_total", &[("rule", "net.connect")]), Some(1.0));
        assert_eq!(value(&m, "orchestra_violations_total", &[("rule", "fs.write")]), Some(1.0));
        assert_eq!(value(&m, "orchestra_runs_total", &[("status", "failed")]), Some(1.0));
        assert_eq!(running(&m), 0.0);
    }

    #[test]
    fn durations_and_sandbox_starts_land_in_their_buckets_in_seconds() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "r");
        j.started("a", "jail", "default");
        j.finished("a", "succeeded", 1500, &[], Some(4));
        j.started("b", "jail", "default");
        j.finished("b", "failed", 40, &[], None);

        let d = "orchestra_task_duration_seconds_bucket";
        assert_eq!(value(&m, d, &[("backend", "jail"), ("le", "0.05")]), Some(1.0));
        assert_eq!(value(&m, d, &[("backend", "jail"), ("le", "1")]), Some(1.0));
        assert_eq!(value(&m, d, &[("backend", "jail"), ("le", "2.5")]), Some(2.0));
        assert_eq!(value(&m, d, &[("backend", "jail"), ("le", "+Inf")]), Some(2.0));
        assert_eq!(value(&m, "orchestra_task_duration_seconds_sum", &[("backend", "jail")]), Some(1.54));
        assert_eq!(value(&m, "orchestra_task_duration_seconds_count", &[("backend", "jail")]), Some(2.0));
        let s = "orchestra_sandbox_start_seconds_bucket";
        assert_eq!(value(&m, s, &[("backend", "jail"), ("le", "0.0025")]), Some(0.0));
        assert_eq!(value(&m, s, &[("backend", "jail"), ("le", "0.005")]), Some(1.0));
        assert_eq!(
            value(&m, "orchestra_sandbox_start_seconds_count", &[("backend", "jail")]),
            Some(1.0),
            "a task without setup_ms adds no sandbox start"
        );
    }

    #[test]
    fn the_running_gauge_follows_attempts_across_runs() {
        let m = Metrics::new();
        let mut a = Journal::new(&m, "a");
        let mut b = Journal::new(&m, "b");
        a.run_started();
        b.run_started();
        a.started("x", "jail", "default");
        a.started("y", "jail", "default");
        b.started("x", "jail", "default");
        assert_eq!(running(&m), 3.0, "the same task id in two runs is two tasks");
        a.retry("x");
        assert_eq!(running(&m), 2.0, "between a failed attempt and the next");
        a.retry("x");
        assert_eq!(running(&m), 2.0, "a second retry line takes nothing more");
        a.started("x", "jail", "default");
        a.started("x", "jail", "default");
        assert_eq!(running(&m), 3.0, "a repeated start adds nothing");
        a.finished("y", "succeeded", 1, &[], None);
        assert_eq!(running(&m), 2.0);
        a.run_finished("interrupted");
        assert_eq!(running(&m), 1.0, "run_finished clears what run a had running");
        // Run b's session died; its resumed session starts afresh.
        b.run_started();
        assert_eq!(running(&m), 0.0, "a new session clears the dead one's tasks");
        b.started("z", "podman", "default");
        assert_eq!(running(&m), 1.0);
        m.run_gone("b");
        assert_eq!(running(&m), 0.0);
        m.run_gone("never-seen");
        assert_eq!(running(&m), 0.0);
    }

    #[test]
    fn a_cancelled_task_keeps_the_backend_and_policy_of_its_start() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "r");
        j.started("t", "podman", "ci");
        j.retry("t");
        j.not_run("t", "cancelled");
        assert_eq!(tasks(&m, "cancelled", "podman", "ci"), Some(1.0));
        assert_eq!(running(&m), 0.0);
    }

    #[test]
    fn an_entry_is_counted_once() {
        let m = Metrics::new();
        let e = Entry {
            seq: 7,
            at_ms: 0,
            event: JournalEvent::TaskNotRun { task: "t".into(), state: "skipped".into(), reason: String::new() },
        };
        m.observe("r", &e);
        m.observe("r", &e);
        m.observe("r", &Entry { seq: 3, ..e.clone() });
        assert_eq!(tasks(&m, "skipped", NONE, NONE), Some(1.0));
        m.observe("other-run", &e);
        assert_eq!(tasks(&m, "skipped", NONE, NONE), Some(2.0), "seq is per run");
    }

    #[test]
    fn audit_failures_are_counted_from_verifications_and_journal_messages() {
        let m = Metrics::new();
        m.audit_verified(true);
        m.audit_verified(false);
        m.audit_verified(false);
        assert_eq!(value(&m, "orchestra_audit_verify_failures_total", &[]), Some(2.0));
        let mut j = Journal::new(&m, "r");
        j.message("orchestra: error: audit log: No space left on device (os error 28)");
        j.message("orchestra: build ok");
        j.message("task said: orchestra: error: audit log: forged");
        assert_eq!(value(&m, "orchestra_audit_append_failures_total", &[]), Some(1.0));
    }

    #[test]
    fn the_fleet_gauges_are_set() {
        let m = Metrics::new();
        m.set_fleet(12, 3);
        m.set_fleet(5, 4);
        assert_eq!(value(&m, "orchestra_queue_depth", &[]), Some(5.0));
        assert_eq!(value(&m, "orchestra_workers", &[]), Some(4.0));
    }

    #[test]
    fn label_values_are_bounded_against_a_hostile_plan() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "r");
        for i in 0..2000 {
            let task = format!("t{i}");
            j.started(&task, &format!("backend-{}", i % 50), &format!("/plans/policy-{i}.yaml"));
            j.finished(&task, &format!("state-{i}"), 1, &[&format!("rule-{i}"), "fs.write"], Some(1));
        }
        let outcomes = distinct(&m, "orchestra_tasks_total", "outcome");
        assert_eq!(outcomes, HashSet::from([OTHER.to_string()]), "only known outcomes are labels");
        let backends = distinct(&m, "orchestra_tasks_total", "backend");
        assert_eq!(backends.len(), MAX_OTHER_BACKENDS + 1, "{backends:?}");
        assert!(backends.contains(OTHER));
        assert!(distinct(&m, "orchestra_task_duration_seconds_count", "backend").len() <= MAX_OTHER_BACKENDS + 1);
        let policies = distinct(&m, "orchestra_tasks_total", "policy");
        assert!(policies.len() <= MAX_POLICIES + 1 && policies.contains(OTHER), "{}", policies.len());
        let rules = distinct(&m, "orchestra_violations_total", "rule");
        assert_eq!(rules.len(), MAX_RULES + 1, "the first rules, then other");
        assert_eq!(value(&m, "orchestra_violations_total", &[("rule", "fs.write")]), Some(2000.0));
        assert_eq!(
            value(&m, "orchestra_violations_total", &[("rule", OTHER)]),
            Some((2000 - (MAX_RULES - 1)) as f64),
            "nothing is lost, only folded"
        );
        let sets = samples(&m.encode())["orchestra_tasks_total"].len();
        assert!(sets <= MAX_TASK_SETS + OUTCOMES.len() * BACKENDS.len(), "{sets} task label sets");
        let total: f64 = samples(&m.encode())["orchestra_tasks_total"].iter().map(|(_, v)| v).sum();
        assert_eq!(total, 2000.0);
    }

    #[test]
    fn the_task_label_sets_are_capped_even_within_the_value_budgets() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "r");
        // 7 outcomes x 4 backends x 256 policies would be 7,168 sets.
        let mut n = 0;
        for policy in 0..MAX_POLICIES {
            for backend in BACKENDS {
                for outcome in OUTCOMES {
                    n += 1;
                    let task = format!("t{n}");
                    j.started(&task, backend, &format!("p{policy}"));
                    j.finished(&task, outcome, 1, &[], None);
                }
            }
        }
        let s = samples(&m.encode());
        let sets = &s["orchestra_tasks_total"];
        assert!(sets.len() <= MAX_TASK_SETS + OUTCOMES.len() * BACKENDS.len(), "{}", sets.len());
        assert_eq!(sets.iter().map(|(_, v)| v).sum::<f64>(), n as f64);
        assert!(sets.iter().any(|(l, _)| l["policy"] == OTHER));
    }

    #[test]
    fn odd_values_fold_into_other() {
        let m = Metrics::new();
        let mut j = Journal::new(&m, "r");
        let long = "p".repeat(MAX_VALUE_LEN + 1);
        j.started("a", "jail", &long);
        j.finished("a", "succeeded", 1, &["bad\nrule", "", "ok\"rule"], None);
        j.run_finished("exploded");
        assert_eq!(tasks(&m, "succeeded", "jail", OTHER), Some(1.0));
        assert_eq!(value(&m, "orchestra_violations_total", &[("rule", OTHER)]), Some(2.0));
        assert!(m.encode().contains(r#"orchestra_violations_total{rule="ok\"rule"} 1"#), "quotes are escaped");
        assert_eq!(value(&m, "orchestra_runs_total", &[("status", OTHER)]), Some(1.0));
    }

    #[test]
    fn concurrent_observers_lose_nothing() {
        let m = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    let run = format!("run-{t}");
                    let mut j = Journal::new(&m, &run);
                    j.run_started();
                    for i in 0..500 {
                        let task = format!("t{i}");
                        j.started(&task, "jail", "default");
                        j.finished(&task, "succeeded", 10, &[], Some(2));
                    }
                    j.run_finished("succeeded");
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(tasks(&m, "succeeded", "jail", "default"), Some(2000.0));
        assert_eq!(value(&m, "orchestra_runs_total", &[("status", "succeeded")]), Some(4.0));
        assert_eq!(running(&m), 0.0);
    }
}
