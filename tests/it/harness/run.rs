//! `orchestra run` and its CI outputs, driven end to end in a [`World`]:
//! run a plan, resume it, find the run directory and read what the run left
//! (report, checkpoint, logs, audit records).

use super::out::Out;
use super::world::World;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whitelists `/bin/sh -c SCRIPT` (the built-in whitelist has no shell).
pub const SH_TOOL: &str = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n";

/// [`SH_TOOL`] and the same for bash.
pub const SH_CONFIG: &str = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n  bash: {program: /bin/bash, shell: true, args: ['.*']}\n";

/// The repository (`CARGO_MANIFEST_DIR`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl World {
    /// A world for `orchestra run` whose config whitelists sh and bash.
    pub fn new() -> World {
        World::create("run-e2e", "r", SH_CONFIG)
    }

    /// A world for the CI-output tests whose config whitelists sh.
    pub fn ci() -> World {
        World::create("ci-tests", "c", SH_TOOL)
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

    /// `run plan.yaml --config CFG --runs-dir RUNS --audit-dir AUDIT EXTRA...` as a command.
    pub fn run_cmd(&self, plan_yaml: &str, extra: &[&str]) -> Command {
        self.write("plan.yaml", plan_yaml);
        let mut c = self.command();
        c.args(self.run_args("plan.yaml", extra));
        c
    }

    /// `exec --audit-dir AUDIT EXTRA... -- ARGV` as a command.
    pub fn exec_cmd(&self, extra: &[&str], argv: &[&str]) -> Command {
        let mut c = self.command();
        c.arg("exec").arg("--audit-dir").arg(&self.audit).args(extra).arg("--").args(argv);
        c
    }

    /// The directory of the one run in the runs directory.
    #[track_caller]
    pub fn only_run_dir(&self) -> PathBuf {
        self.run_dir(&self.only_run())
    }

    pub fn read(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn json(&self, p: &Path) -> serde_json::Value {
        serde_json::from_str(&self.read(p)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
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
                    // A distributed run's blob store (`.blobs`) is not a run.
                    .filter(|n| !n.starts_with('.'))
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

/// One plan task: `sh -c SCRIPT` with extra flow-mapping fields.
pub fn sh(id: &str, script: &str, extra: &str) -> String {
    format!("  - {{id: {id}, tool: sh, args: ['-c', '{}']{extra}}}\n", script.replace('\'', "''"))
}

pub fn plan(tasks: &[String]) -> String {
    format!("tasks:\n{}", tasks.concat())
}

/// Copy a directory tree (regular files and directories only).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else if ft.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
