//! Harness for the CI tests: a fresh workspace per test (outside /tmp, which
//! the jail replaces), its own audit key and a config that whitelists a
//! shell; helpers to run `orchestra run` and `orchestra exec` and to read what
//! a run left behind.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../harness/out.rs"]
mod out;
#[path = "../harness/world.rs"]
mod world;
// Re-exported for the tests, which may not all use each.
#[allow(unused_imports)]
pub use out::{Out, orchestra};
pub use world::World;

/// Whitelists `/bin/sh -c SCRIPT` (the built-in whitelist has no shell).
pub const SH_CONFIG: &str = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl World {
    pub fn new() -> World {
        World::create("ci-tests", "c", SH_CONFIG)
    }

    /// `run plan.yaml --config CFG --runs-dir RUNS --audit-dir AUDIT EXTRA...` as a command.
    pub fn run_cmd(&self, plan_yaml: &str, extra: &[&str]) -> Command {
        self.write("plan.yaml", plan_yaml);
        let mut c = self.command();
        c.arg("run")
            .arg("plan.yaml")
            .arg("--config")
            .arg(&self.config)
            .arg("--runs-dir")
            .arg(&self.runs)
            .arg("--audit-dir")
            .arg(&self.audit)
            .args(extra);
        c
    }

    pub fn run_plan(&self, plan_yaml: &str, extra: &[&str]) -> Out {
        self.run_with(self.run_cmd(plan_yaml, extra))
    }

    /// `exec --audit-dir AUDIT EXTRA... -- ARGV` as a command.
    pub fn exec_cmd(&self, extra: &[&str], argv: &[&str]) -> Command {
        let mut c = self.command();
        c.arg("exec").arg("--audit-dir").arg(&self.audit).args(extra).arg("--").args(argv);
        c
    }

    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.runs)
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

    #[track_caller]
    pub fn only_run(&self) -> PathBuf {
        let ids = self.run_ids();
        assert_eq!(ids.len(), 1, "expected one run: {ids:?}");
        self.runs.join(&ids[0])
    }

    pub fn read(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn json(&self, p: &Path) -> serde_json::Value {
        serde_json::from_str(&self.read(p)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// One plan task: `sh -c SCRIPT` with extra flow-mapping fields.
pub fn sh(id: &str, script: &str, extra: &str) -> String {
    format!("  - {{id: {id}, tool: sh, args: ['-c', '{}']{extra}}}\n", script.replace('\'', "''"))
}

pub fn plan(tasks: &[String]) -> String {
    format!("tasks:\n{}", tasks.concat())
}
