//! Harness for the CI tests: a fresh workspace per test (outside /tmp, which
//! the jail replaces), its own audit key and a config that whitelists a
//! shell; helpers to run `orchestra run` and `orchestra exec` and to read what
//! a run left behind.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../harness/out.rs"]
mod out;
pub use out::{Out, orchestra};

/// Whitelists `/bin/sh -c SCRIPT` (the built-in whitelist has no shell).
pub const SH_CONFIG: &str = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `root/{ws, runs, audit, home, keys, config.yaml}`.
pub struct World {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub runs: PathBuf,
    pub audit: PathBuf,
    pub home: PathBuf,
    pub key: PathBuf,
    pub config: PathBuf,
}

impl World {
    pub fn new() -> World {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ci-tests");
        std::fs::create_dir_all(&base).expect("create the test base dir");
        let dir = tempfile::Builder::new().prefix("c").tempdir_in(&base).expect("tempdir");
        let root = dir.path().to_path_buf();
        let ws = root.join("ws");
        let home = root.join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let config = root.join("config.yaml");
        std::fs::write(&config, SH_CONFIG).unwrap();
        let w = World {
            runs: root.join("runs"),
            audit: root.join("audit"),
            key: root.join("keys/audit.key"),
            _dir: dir,
            root,
            ws,
            home,
            config,
        };
        w.orchestra(&["audit", "keygen"]).assert_code(0);
        w
    }

    /// `orchestra` with a clean environment (CI=true, private HOME and key), cwd = the workspace.
    pub fn command(&self) -> Command {
        let mut c = Command::new(orchestra());
        c.current_dir(&self.ws)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("CI", "true")
            .env("ORCHESTRA_AUDIT_KEY", &self.key)
            .stdin(Stdio::null());
        c
    }

    pub fn orchestra(&self, args: &[&str]) -> Out {
        Out::from(self.command().args(args).output().expect("run orchestra"))
    }

    pub fn run_with(&self, mut c: Command) -> Out {
        Out::from(c.output().expect("run orchestra"))
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.ws.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
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
