//! A real Prometheus for the metrics tests: Debian's `prometheus` (installed
//! by `.ci/run`) on a free loopback port, its configuration and TSDB in the
//! test's directory, scraping one target as job `orchestra-dashboard` every
//! 200 ms and evaluating the given rule files as often; killed when dropped.
//! [`promtool`] runs Debian's `promtool`. A missing binary fails the test.
//! Its HTTP API is queried through reqwest (blocking).

use super::out::Out;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The scrape job's name (deploy/prometheus/rules.yml's alerts use it).
pub const JOB: &str = "orchestra-dashboard";

/// A running prometheus.
pub struct Prometheus {
    child: Option<Child>,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A free port on 127.0.0.1 (free when asked; the caller binds it soon after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Prometheus {
    /// Start a server in `dir/prometheus` that scrapes `target` (`host:port`,
    /// path `/metrics`) and evaluates `rule_files`; waits until it is ready.
    pub fn start(dir: &Path, target: &str, rule_files: &[PathBuf]) -> Prometheus {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let rules: Vec<String> = rule_files.iter().map(|p| format!("  - {:?}\n", p.display().to_string())).collect();
        let config = format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n  evaluation_interval: 200ms\n\
             rule_files:\n{}\
             scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /metrics\n    static_configs:\n      - targets: [{target:?}]\n",
            if rules.is_empty() { "  []\n".to_string() } else { rules.concat() },
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `prometheus` ({e}): the metrics tests need it; `apt-get install prometheus` (.ci/run does)")
            });
        let mut p = Prometheus { child: Some(child), dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if p.get("/-/ready").is_ok_and(|(code, _)| code == 200) {
                break;
            }
            if let Some(status) = p.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("prometheus exited ({status}) before it was ready:\n{}", p.log());
            }
            assert!(Instant::now() < deadline, "prometheus was not ready in 30 s:\n{}", p.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` with `query` parameters: the status and the body.
    fn get_with(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Result<(u16, String)> {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let resp = client.get(format!("http://{}{path}", self.addr())).query(query).send()?;
        let code = resp.status().as_u16();
        Ok((code, resp.text()?))
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> reqwest::Result<(u16, String)> {
        self.get_with(path, &[])
    }

    /// `GET /api/v1/query?query=Q`: the HTTP status and the JSON answer.
    pub fn try_query(&self, q: &str) -> (u16, serde_json::Value) {
        let (code, body) = self
            .get_with("/api/v1/query", &[("query", q)])
            .unwrap_or_else(|e| panic!("query {q}: {e}\n{}", self.log()));
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("query {q}: not JSON ({e}): {body}"));
        (code, json)
    }

    /// The result vector of an instant query (which must succeed).
    #[track_caller]
    pub fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let (code, json) = self.try_query(q);
        assert!(code == 200 && json["status"] == "success", "query {q}: HTTP {code}: {json}");
        json["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The one sample's value of an instant query, if it has one.
    #[track_caller]
    pub fn value(&self, q: &str) -> Option<f64> {
        let result = self.query(q);
        assert!(result.len() <= 1, "query {q}: more than one series: {result:?}");
        result.first().map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
    }

    /// Each series' `label` value and its sample.
    #[track_caller]
    pub fn by(&self, q: &str, label: &str) -> std::collections::BTreeMap<String, f64> {
        self.query(q)
            .iter()
            .map(|s| {
                let key = s["metric"][label].as_str().unwrap_or_default().to_string();
                (key, s["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }

    /// Query `q` until its value is `want`, for at most `timeout`; the last value otherwise.
    pub fn wait_for(&self, q: &str, want: f64, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.value(q);
            if v == Some(want) || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `promtool ARGS` with `stdin` (if any) on its standard input.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `promtool` ({e}): the metrics tests need it; `apt-get install prometheus` (.ci/run does)"
            )
        });
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    Out::from(child.wait_with_output().unwrap())
}
