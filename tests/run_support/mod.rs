//! Harness for the `orchestra run` end-to-end tests: a fresh workspace per
//! test (outside /tmp, which the jail replaces with a private tmpfs), its own
//! audit key, a config that whitelists a shell, and helpers to run the binary,
//! read a run's checkpoint and reports, and look for leftover processes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

#[path = "../harness/net.rs"]
mod net;
#[path = "../harness/out.rs"]
mod out;
#[path = "../harness/world.rs"]
mod world;
// Re-exported for the tests, which may not all use each.
#[allow(unused_imports)]
pub use net::host_listener;
#[allow(unused_imports)]
pub use out::{Out, orchestra};
pub use world::World;

/// The config that whitelists `/bin/sh -c SCRIPT` (the built-in whitelist has no shell).
pub const SH_CONFIG: &str = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n  bash: {program: /bin/bash, shell: true, args: ['.*']}\n";

impl World {
    pub fn new() -> World {
        World::create("run-e2e", "r", SH_CONFIG)
    }

    /// `run PLAN --config CFG --runs-dir RUNS --audit-dir AUDIT EXTRA...`
    pub fn run_args(&self, plan: &str, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into(), plan.into()];
        v.push("--config".into());
        v.push(self.config.display().to_string());
        v.push("--runs-dir".into());
        v.push(self.runs.display().to_string());
        v.push("--audit-dir".into());
        v.push(self.audit.display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// Write `plan.yaml` and run it.
    pub fn run_plan(&self, yaml: &str, extra: &[&str]) -> Out {
        self.write("plan.yaml", yaml);
        let args = self.run_args("plan.yaml", extra);
        Out::from(self.command().args(&args).output().expect("orchestra run"))
    }

    /// Write `plan.yaml` and start `orchestra run` in the background (output piped).
    pub fn spawn_plan(&self, yaml: &str, extra: &[&str]) -> Child {
        self.write("plan.yaml", yaml);
        let args = self.run_args("plan.yaml", extra);
        self.command().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn orchestra run")
    }

    pub fn resume(&self, id: &str, extra: &[&str]) -> Out {
        let runs = self.runs.display().to_string();
        let mut args = vec!["resume", id, "--runs-dir", &runs];
        args.extend_from_slice(extra);
        self.orchestra(&args)
    }

    /// Run ids under `dir`.
    pub fn run_ids_in(dir: &Path) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    pub fn run_ids(&self) -> Vec<String> {
        World::run_ids_in(&self.runs)
    }

    /// The one run in the runs directory.
    #[track_caller]
    pub fn only_run(&self) -> String {
        let ids = self.run_ids();
        assert_eq!(ids.len(), 1, "expected exactly one run in {}: {ids:?}", self.runs.display());
        ids[0].clone()
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs.join(id)
    }

    pub fn report(&self, id: &str) -> serde_json::Value {
        read_json(&self.run_dir(id).join("report.json"))
    }

    /// The lines of a workspace file (empty if absent).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.ws.join(name)).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Audit records of `dir` (`orchestra audit show DIR --json`).
    pub fn audit_records(&self, dir: &Path) -> Vec<serde_json::Value> {
        let o = self.orchestra(&["audit", "show", &dir.display().to_string(), "--json"]);
        assert_eq!(o.code, 0, "audit show: {}", o.all());
        o.stdout.lines().map(|l| serde_json::from_str(l).expect("audit show prints JSON lines")).collect()
    }

    /// `orchestra audit verify DIR --trusted-key KEY.pub --json`.
    pub fn verify_audit(&self, dir: &Path) -> Out {
        let pub_key = format!("{}.pub", self.key.display());
        self.orchestra(&["audit", "verify", &dir.display().to_string(), "--trusted-key", &pub_key, "--json"])
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

#[track_caller]
pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", p.display()))
}

/// The task `id` in a run report.
#[track_caller]
pub fn task<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("task {id} not in the report: {report:#}"))
}

/// A task's state in a run report.
#[track_caller]
pub fn state(report: &serde_json::Value, id: &str) -> String {
    task(report, id)["state"].as_str().unwrap_or_default().to_string()
}

/// The task records of a run's checkpoint: the snapshot with the journal's complete lines replayed.
pub fn checkpoint_tasks(run_dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let snap = read_json(&run_dir.join("checkpoint.json"));
    let mut tasks: BTreeMap<String, serde_json::Value> =
        snap["tasks"].as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let journal = std::fs::read_to_string(run_dir.join("checkpoint.journal")).unwrap_or_default();
    let complete = journal.rfind('\n').map_or("", |i| &journal[..i]);
    for line in complete.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("journal line");
        tasks.insert(v["task"].as_str().unwrap().to_string(), v["record"].clone());
    }
    tasks
}

/// Processes whose command line contains `marker` (zombies have none and are not listed).
pub fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{name}: {cmd}"));
            }
        }
    }
    found
}

/// Poll `cond` every 20 ms until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes matching `marker` that are still there after waiting up to `limit` for them to go.
pub fn survivors(marker: &str, limit: Duration) -> Vec<String> {
    let mut left = Vec::new();
    wait_until(limit, || {
        left = processes_with(marker);
        left.is_empty()
    });
    left
}

/// Wait for a child up to `limit`; kill it (and fail) if it does not exit.
#[track_caller]
pub fn wait_child(mut child: Child, limit: Duration) -> (Out, Duration) {
    let started = Instant::now();
    let exited = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("orchestra did not exit within {limit:?}\n{}", Out::from(o).all());
    }
    let o = child.wait_with_output().expect("collect output");
    (Out::from(o), started.elapsed())
}

/// Every file below `dir` (not following links), with its file type.
pub fn walk(dir: &Path) -> Vec<(PathBuf, std::fs::FileType)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
        out.push((p.clone(), ft));
        if ft.is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}

pub fn send_signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).expect("signal orchestra");
}
