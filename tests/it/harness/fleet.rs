//! A fleet on this machine for the distributed tests: a real Redis
//! ([`super::redis`]), an orchestrator key, and `orchestra worker` processes
//! with their own keys, state directories and audit logs, all under one
//! [`World`]. Workers are separate processes, so "a node dies" is `kill -9`
//! and "a node is partitioned" is SIGSTOP. Killed when dropped.

use super::out::Out;
use super::redis::Redis;
use super::world::World;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A worker process.
pub struct Worker {
    pub child: Child,
    pub name: String,
    pub state: PathBuf,
    pub public: String,
}

/// Redis, keys, workers.
pub struct Fleet {
    pub world: World,
    pub redis: Redis,
    pub orch_key: PathBuf,
    pub orch_public: String,
    pub workers: Vec<Worker>,
    /// The fleet's lease (short, so that the tests see reclaims).
    pub lease: &'static str,
}

impl Fleet {
    /// A world whose config whitelists sh, and a Redis; no worker yet.
    pub fn new(prefix: &str) -> Fleet {
        Fleet::with_lease(prefix, "2s")
    }

    /// As [`Fleet::new`] with another lease.
    pub fn with_lease(prefix: &str, lease: &'static str) -> Fleet {
        let world = World::create("fleet", prefix, super::run::SH_CONFIG);
        let redis = Redis::start(&world.root);
        let orch_key = world.root.join("keys/fleet.key");
        let o = world.orchestra(&["workers", "keygen", orch_key.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.all());
        let orch_public = o.stdout.trim().to_string();
        let cfg = format!(
            "{}\ndistributed:\n  key: {}\n  lease: {lease}\n  unserved: 20s\n  outage: 10s\n",
            super::run::SH_CONFIG,
            orch_key.display()
        );
        std::fs::write(&world.config, cfg).unwrap();
        Fleet { world, redis, orch_key, orch_public, workers: Vec::new(), lease }
    }

    /// Start a worker `name` (key created on first use) with `extra` flags; returns its index.
    pub fn spawn_worker(&mut self, name: &str, extra: &[&str]) -> usize {
        self.spawn_worker_env(name, extra, &[])
    }

    /// Worker `name`'s public key (its key file made now, or the one made before).
    pub fn worker_key(&self, name: &str) -> String {
        let key = self.world.root.join(format!("keys/{name}.key"));
        let o = self.world.orchestra(&["workers", "keygen", "--reuse", key.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.all());
        o.stdout.trim().to_string()
    }

    /// An ACL user `name` (password `name`, every right) in the fleet's
    /// Redis; returns the environment that makes orchestra log in as it.
    /// [`Fleet::cut_off`] then takes Redis away from just its clients.
    pub fn acl_user(&self, name: &str) -> Vec<(String, String)> {
        let set = self.redis.raw(&["ACL", "SETUSER", name, "on", &format!(">{name}"), "~*", "&*", "+@all"]);
        assert_eq!(set.trim(), "OK", "ACL SETUSER {name}: {set}");
        vec![("ORCHESTRA_REDIS_USERNAME".into(), name.into()), ("ORCHESTRA_REDIS_PASSWORD".into(), name.into())]
    }

    /// Redis unreachable for the clients of ACL user `name` alone (a
    /// partition of that process): the user disabled, its connections killed.
    pub fn cut_off(&self, name: &str) {
        assert_eq!(self.redis.raw(&["ACL", "SETUSER", name, "off"]).trim(), "OK");
        self.redis.raw(&["CLIENT", "KILL", "USER", name]);
    }

    /// Undo [`Fleet::cut_off`].
    pub fn reconnect(&self, name: &str) {
        assert_eq!(self.redis.raw(&["ACL", "SETUSER", name, "on"]).trim(), "OK");
    }

    /// [`Fleet::spawn_worker`] with `env` set for the worker alone.
    pub fn spawn_worker_env(&mut self, name: &str, extra: &[&str], env: &[(String, String)]) -> usize {
        let key = self.world.root.join(format!("keys/{name}.key"));
        let public = self.worker_key(name);
        let state = self.world.root.join(format!("workers/{name}"));
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(state.with_extension("log")).unwrap();
        let mut c = self.world.command();
        c.args(["worker", "--queue", &self.redis.url(), "--name", name, "--key", key.to_str().unwrap()]);
        c.args(["--trust-orchestrator", &self.orch_public, "--state-dir", state.to_str().unwrap()]);
        c.args(["--lease", self.lease]);
        c.args(extra);
        c.env("ORCHESTRA_LOG", "orchestra_distributed=debug,warn");
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c.stdout(log.try_clone().unwrap()).stderr(log);
        let child = c.spawn().expect("orchestra worker");
        self.workers.push(Worker { child, name: name.into(), state, public });
        // Registered (its first heartbeat) before the test goes on.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.redis.raw(&["HEXISTS", "orchestra:workers", name]).trim().eq("1") {
            assert!(Instant::now() < deadline, "worker {name} did not register: {}", self.worker_log(name));
            std::thread::sleep(Duration::from_millis(50));
        }
        self.workers.len() - 1
    }

    /// A worker's own log (stderr).
    pub fn worker_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.world.root.join(format!("workers/{name}.log"))).unwrap_or_default()
    }

    /// `--trust-worker K` for every worker started so far.
    pub fn trust_all(&self) -> Vec<String> {
        self.workers.iter().flat_map(|w| ["--trust-worker".to_string(), w.public.clone()]).collect()
    }

    /// `orchestra run PLAN --queue URL --trust-worker … EXTRA` in the world.
    pub fn run_args(&self, plan_yaml: &str, extra: &[&str]) -> Vec<String> {
        std::fs::write(self.world.ws.join("plan.yaml"), plan_yaml).unwrap();
        let mut x: Vec<String> = vec!["--queue".into(), self.redis.url()];
        x.extend(self.trust_all());
        x.extend(extra.iter().map(|s| s.to_string()));
        let x: Vec<&str> = x.iter().map(String::as_str).collect();
        self.world.run_args("plan.yaml", &x)
    }

    /// Run a plan through the fleet, to its end.
    pub fn run(&self, plan_yaml: &str, extra: &[&str]) -> Out {
        let args = self.run_args(plan_yaml, extra);
        Out::from(self.world.command().args(&args).output().expect("orchestra run"))
    }

    /// Start a run through the fleet (stdout/stderr piped).
    pub fn spawn_run(&self, plan_yaml: &str, extra: &[&str]) -> Child {
        let args = self.run_args(plan_yaml, extra);
        self.world.command().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("orchestra run")
    }

    /// Send `sig` to worker `i`.
    pub fn signal(&self, i: usize, sig: i32) {
        // SAFETY-free: kill(2) through libc on a child we own.
        let pid = self.workers[i].child.id() as i32;
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
    }

    /// Wait for worker `i` to exit; its status code.
    pub fn wait(&mut self, i: usize, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.workers[i].child.try_wait().unwrap() {
                return s.code();
            }
            assert!(Instant::now() < deadline, "worker {} did not exit", self.workers[i].name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The audit records of worker `i`'s own log.
    pub fn worker_records(&self, i: usize) -> Vec<serde_json::Value> {
        self.world.audit_records(&self.workers[i].state.join("audit"))
    }
}

/// A copy of the orchestra under test with a few bytes appended (an ELF
/// ignores what follows its sections): another sha256, the same program, as
/// after an upgrade. Returns its path and its sha256; asserts it runs.
pub fn changed_binary(dir: &std::path::Path) -> (PathBuf, String) {
    use sha2::Digest as _;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("orchestra");
    let mut bytes = std::fs::read(super::orchestra()).unwrap();
    bytes.extend_from_slice(b"\norchestra test: an upgraded binary\n");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = std::process::Command::new(&path).arg("--version").output().unwrap();
    assert!(o.status.success(), "the changed binary does not run: {o:?}");
    (path, format!("{:x}", sha2::Sha256::digest(&bytes)))
}

/// The script of a task `t0` that appends `t0` to `started`, waits until the
/// workspace has a file `release` (at most 150 s), then appends `t0` to
/// `effects`: a task the test knows to be running.
pub const HELD_T0: &str = "echo t0 >> started; i=0; while [ ! -e release ] && [ $i -lt 1500 ]; do sleep 0.1; i=$((i+1)); done; echo t0 >> effects";

/// `n` plan tasks `t0…` that each append their id to `effects`.
pub fn effect_tasks(n: usize) -> Vec<String> {
    (0..n).map(|i| super::run::sh(&format!("t{i}"), &format!("echo t{i} >> effects"), "")).collect()
}

impl Fleet {
    /// `orchestra workers ARGS --config CONFIG` in the world.
    pub fn workers(&self, args: &[&str]) -> Out {
        let config = self.world.config.display().to_string();
        let mut a: Vec<&str> = vec!["workers"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--config", &config]);
        self.world.orchestra(&a)
    }

    /// `EXE workers ARGS --config CONFIG` in the world: another orchestra
    /// binary (see [`changed_binary`]) with the world's environment.
    pub fn workers_with(&self, exe: &std::path::Path, args: &[&str]) -> Out {
        Out::from(self.workers_command(exe, args).output().expect("orchestra (changed binary)"))
    }

    /// The command of [`Fleet::workers_with`], not started (stdout and stderr piped).
    pub fn workers_command(&self, exe: &std::path::Path, args: &[&str]) -> std::process::Command {
        let base = self.world.command();
        let mut c = std::process::Command::new(exe);
        c.env_clear();
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        if let Some(d) = base.get_current_dir() {
            c.current_dir(d);
        }
        let config = self.world.config.display().to_string();
        c.arg("workers").args(args).args(["--config", &config]);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// After a run of [`effect_tasks`]`(n)`: each effect happened once, each
    /// task succeeded, and every `remote_result` names the worker key `key`.
    #[track_caller]
    pub fn assert_ran_once_by(&self, n: usize, key: &str) {
        let mut effects = self.world.lines("effects");
        effects.sort();
        let mut want: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        want.sort();
        assert_eq!(effects, want);
        let report = self.world.report(&self.world.only_run());
        for i in 0..n {
            assert_eq!(super::run::state(&report, &format!("t{i}")), "succeeded");
        }
        let records = self.world.audit_records(&self.world.audit);
        let remote: Vec<_> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
        assert_eq!(remote.len(), n);
        assert!(remote.iter().all(|r| r["body"]["worker_key"] == key), "{remote:#?}");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}
