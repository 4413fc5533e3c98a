//! One end-to-end test's world: a fresh directory outside /tmp (which the jail
//! replaces with a private tmpfs) holding `ws`, `runs`, `audit`, `home`, `keys`
//! and `config.yaml`; its own audit key; and `orchestra` commands with a clean
//! environment. `run.rs` (runs and CI outputs) and `llm.rs` (planners) add
//! their constructors and helpers.

use super::out::{Out, orchestra};
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
    /// Extra variables for every command.
    pub env: Vec<(String, String)>,
}

impl World {
    /// A world in `target/tmp/<base>/<prefix>…` whose config file holds `config_yaml`.
    pub fn create(base: &str, prefix: &str, config_yaml: &str) -> World {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(base);
        std::fs::create_dir_all(&base).expect("create the test base dir");
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(&base).expect("tempdir");
        let root = dir.path().to_path_buf();
        let ws = root.join("ws");
        let home = root.join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let config = root.join("config.yaml");
        std::fs::write(&config, config_yaml).unwrap();
        let w = World {
            runs: root.join("runs"),
            audit: root.join("audit"),
            key: root.join("keys/audit.key"),
            _dir: dir,
            root,
            ws,
            home,
            config,
            env: Vec::new(),
        };
        let o = w.orchestra(&["audit", "keygen"]);
        assert_eq!(o.code, 0, "keygen: {}", o.all());
        w
    }

    /// The same world with `k=v` in every command's environment.
    pub fn with_env(mut self, k: &str, v: &str) -> World {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `orchestra` with a clean environment: CI=true, a private HOME and audit
    /// key, the world's extra variables; cwd = the workspace.
    pub fn command(&self) -> Command {
        let mut c = Command::new(orchestra());
        c.current_dir(&self.ws)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("CI", "true")
            .env("ORCHESTRA_AUDIT_KEY", &self.key)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn orchestra(&self, args: &[&str]) -> Out {
        Out::from(self.command().args(args).output().expect("run orchestra"))
    }

    pub fn run_with(&self, mut c: Command) -> Out {
        Out::from(c.output().expect("run orchestra"))
    }

    /// Write `name` in the workspace (parents created).
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.ws.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}
