//! `orchestra worker` as Docker containers, so that "a node" of a
//! [`Fleet`] can be killed (`docker kill`), paused past its lease (`docker
//! pause`, which freezes the worker and its tasks at once) and restarted
//! (`docker restart`) as a whole.
//!
//! Each container runs the worker as its main process, from the test build
//! of the binary (bind-mounted read-only at its own path), in the offline
//! skeleton image of [`super::rootfs`] with the host's `/usr` and `/etc` and
//! the fleet's world root at its own path ([`super::rootfs::host_like`]:
//! `--network host`, so it reaches the fleet's Redis on 127.0.0.1, and what
//! the jail inside needs). Its key and state directory (audit log, replay
//! journal) live under the world root, so they survive the container and a
//! restart keeps them. Names are unique per test process and worker; a
//! container is removed when its [`WorkerContainer`] is dropped, also when
//! the test panics. A missing Docker fails the test.

use super::fleet::Fleet;
use super::out::orchestra;
use super::rootfs::{Skeleton, host_like, image};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A file only the workers' root filesystem has.
pub const MARKER: &str = "/orchestra-worker-container";

const SKELETON: Skeleton = Skeleton { tag: "orchestra-worker-rootfs:1", marker: MARKER, dirs: &[] };

/// One worker in its own container.
pub struct WorkerContainer {
    /// The worker's name (its consumer name in the queue).
    pub name: String,
    /// The container's name.
    pub container: String,
    /// Its public key (`ed25519:…`).
    pub public: String,
    /// Its state directory on the host (its audit log is `state/audit`).
    pub state: PathBuf,
}

/// `docker ARGS…`: (success, stdout and stderr).
fn docker(args: &[&str]) -> (bool, String) {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI is required (package docker.io) and its daemon must run");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

impl WorkerContainer {
    /// Start worker `name` of `f` (key created on first use, under the world
    /// root) in a container, with `--lease` the fleet's and `extra` flags;
    /// returns once it has registered.
    pub fn start(f: &Fleet, name: &str, extra: &[&str]) -> WorkerContainer {
        let root = &f.world.root;
        let key = root.join(format!("keys/{name}.key"));
        let o = f.world.orchestra(&["workers", "keygen", "--reuse", key.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.all());
        let public = o.stdout.trim().to_string();
        let state = root.join(format!("workers/{name}"));
        std::fs::create_dir_all(&state).unwrap();
        let root_name = root.file_name().unwrap().to_string_lossy();
        let container = format!("orchestra-worker-{}-{root_name}-{name}", std::process::id());
        let bin = orchestra().display().to_string();
        let mut c = Command::new("docker");
        c.args(["run", "-d", "--name", &container, "--label", "orchestra.test=worker"]);
        c.args(host_like(root));
        c.arg("-v").arg(format!("{bin}:{bin}:ro"));
        c.arg("-w").arg(&f.world.ws);
        let home = f.world.home.display().to_string();
        let audit_key = f.world.key.display().to_string();
        for (k, v) in [
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("HOME", home.as_str()),
            ("CI", "true"),
            ("ORCHESTRA_AUDIT_KEY", audit_key.as_str()),
            ("ORCHESTRA_LOG", "orchestra_distributed=debug,warn"),
        ] {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        for (k, v) in &f.world.env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.args([image(&SKELETON), &bin, "worker", "--queue", &f.redis.url(), "--name", name]);
        c.args(["--key", key.to_str().unwrap(), "--trust-orchestrator", &f.orch_public]);
        c.args(["--state-dir", state.to_str().unwrap(), "--lease", f.lease]);
        c.args(extra);
        let o = c.output().expect("docker run");
        assert!(o.status.success(), "docker run {container}: {}", String::from_utf8_lossy(&o.stderr));
        let w = WorkerContainer { name: name.into(), container, public, state };
        w.wait_registered(f, 0);
        w
    }

    /// Wait (up to 20 s) until the worker's registry entry was written after
    /// `since_ms` (Unix milliseconds): a live worker heart-beats every third of its lease.
    #[track_caller]
    pub fn wait_registered(&self, f: &Fleet, since_ms: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let entry = f.redis.raw(&["HGET", "orchestra:workers", &self.name]);
            let seen = serde_json::from_str::<serde_json::Value>(entry.trim()).ok().and_then(|v| v["seen_ms"].as_u64());
            if seen.is_some_and(|s| s > since_ms) {
                return;
            }
            assert!(Instant::now() < deadline, "worker {} did not register: {}", self.name, self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker VERB CONTAINER` (kill, pause, unpause, restart, stop, …); fails the test when docker does.
    #[track_caller]
    pub fn docker(&self, verb: &str) {
        let (ok, text) = docker(&[verb, &self.container]);
        assert!(ok, "docker {verb} {}: {text}", self.container);
    }

    /// The container's state (`running`, `paused`, `exited`, …).
    pub fn status(&self) -> String {
        docker(&["inspect", "-f", "{{.State.Status}}", &self.container]).1.trim().to_string()
    }

    /// When the container's main process last started (`docker inspect`).
    pub fn started_at(&self) -> String {
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &self.container]).1.trim().to_string()
    }

    /// The worker's own log (the container's stdout and stderr, across restarts).
    pub fn logs(&self) -> String {
        docker(&["logs", &self.container]).1
    }

    /// `sh -c SCRIPT` inside the container (docker exec): whether it exited 0, and its output.
    pub fn exec(&self, script: &str) -> (bool, String) {
        docker(&["exec", &self.container, "/bin/sh", "-c", script])
    }

    /// The records of the worker's own audit log.
    pub fn records(&self, f: &Fleet) -> Vec<serde_json::Value> {
        f.world.audit_records(&self.state.join("audit"))
    }
}

impl Drop for WorkerContainer {
    fn drop(&mut self) {
        // A paused container is thawed first: `rm -f` of a frozen one can hang on some engines.
        let _ = docker(&["unpause", &self.container]);
        let _ = docker(&["rm", "-f", &self.container]);
    }
}

/// `--trust-worker K` for each of `workers`.
pub fn trust(workers: &[WorkerContainer]) -> Vec<String> {
    workers.iter().flat_map(|w| ["--trust-worker".to_string(), w.public.clone()]).collect()
}

/// Every worker's log, labelled, for failure messages.
pub fn all_logs(workers: &[WorkerContainer]) -> String {
    workers.iter().map(|w| format!("--- {} ({}):\n{}\n", w.name, w.container, w.logs())).collect()
}
