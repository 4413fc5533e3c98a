//! The pool of pre-created containers (`ORCHESTRA_CONTAINER_POOL`), on Docker
//! and Podman: a pooled task runs supervised, observed and reported exactly
//! like a fresh one; every task gets a container never used before; a
//! different configuration never gets a pooled container; a claimed
//! container whose orchestra was killed is reaped; a drained pool leaves
//! nothing behind. Each test has its own pool directory.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct World {
    e: Env,
    engine: &'static str,
    pool_dir: PathBuf,
    size: usize,
}

fn world(engine: &'static str, size: usize) -> World {
    let e = env();
    container_setup();
    std::fs::copy(compile_c_static("attack"), e.ws.join("attack")).unwrap();
    chown_tree(&e.ws, 1000);
    let pool_dir = e.root.join("pool");
    World { e, engine, pool_dir, size }
}

impl World {
    fn with_pool(&self, c: &mut Command) {
        container_setup();
        c.env("ORCHESTRA_CONTAINER_POOL", self.size.to_string()).env("ORCHESTRA_CONTAINER_POOL_DIR", &self.pool_dir);
    }

    fn exec_in(&self, workdir: &Path, policy: &str, argv: &[&str]) -> Out {
        let wd = workdir.to_string_lossy().into_owned();
        let mut c = self.e.cmd(policy, &["--backend", self.engine, "--workdir", &wd], argv);
        self.with_pool(&mut c);
        self.e.run_cmd(c)
    }

    fn sh(&self, script: &str) -> Out {
        self.exec_in(&self.e.ws, "default", &["/bin/sh", "-c", script])
    }

    fn pool(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(orchestra());
        c.arg("pool").args(args);
        self.with_pool(&mut c);
        c.output().expect("orchestra pool")
    }

    /// The ready containers' ids, by `orchestra pool status --json`.
    fn ready(&self) -> Vec<String> {
        let o = self.pool(&["status", "--json"]);
        assert!(o.status.success(), "pool status: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("pool status --json");
        v["ready"].as_array().unwrap().iter().map(|r| r["container"].as_str().unwrap().to_string()).collect()
    }

    /// Wait until the pool holds `n` ready containers (the detached filler's work).
    fn wait_ready(&self, n: usize) -> Vec<String> {
        let t0 = Instant::now();
        loop {
            let ready = self.ready();
            if ready.len() >= n {
                return ready;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "{}: the pool never filled ({ready:?})", self.engine);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn label(&self) -> String {
        format!("orchestra.pool.root={}", self.pool_dir.display())
    }

    /// Drain, and check that nothing of the pool is left in the engine or on disk.
    fn drain_and_check(&self) {
        let o = self.pool(&["drain"]);
        assert!(o.status.success(), "pool drain: {}", String::from_utf8_lossy(&o.stderr));
        assert!(self.ready().is_empty(), "drain left ready tokens");
        let left = containers_left(self.engine, &self.label());
        assert!(left.is_empty(), "{}: pool containers left after drain: {left:?}", self.engine);
        let slots: Vec<_> = std::fs::read_dir(self.pool_dir.join("slots")).unwrap().flatten().collect();
        assert!(slots.is_empty(), "slot directories left after drain: {slots:?}");
    }
}

fn pool_control(o: &Out) -> Option<String> {
    o.report["enforced"]
        .as_array()?
        .iter()
        .find(|c| c["control"] == "pool")
        .map(|c| c["detail"].as_str().unwrap_or_default().to_string())
}

/// Pooled tasks: the task's own argv, output, exit status and workspace
/// writes; a fresh container each time (nothing a previous task left in /tmp
/// is there, and no container is handed out twice); denials observed and
/// reported with the rule named; the audit log verifies; drain cleans up.
fn pooled_tasks_are_fresh_supervised_and_observed(engine: &'static str) {
    let w = world(engine, 2);
    // The first task finds the pool empty: a container of its own, and an order.
    let o = w.sh("echo one; exit 3");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stdout, "one\n");
    assert_eq!(o.report["exit_status"], 3);
    assert!(pool_control(&o).is_none(), "nothing was ready yet");

    let mut used = Vec::new();
    for i in 0..3 {
        let ready = w.wait_ready(2);
        let script = format!(
            "test ! -e /tmp/left-behind || {{ echo reused; exit 9; }}; touch /tmp/left-behind; echo task{i} > out{i}; echo said{i}"
        );
        let o = w.sh(&script);
        o.assert_ok();
        assert_eq!(o.stdout, format!("said{i}\n"));
        assert_eq!(std::fs::read_to_string(w.e.ws.join(format!("out{i}"))).unwrap(), format!("task{i}\n"));
        let detail = pool_control(&o).unwrap_or_else(|| panic!("{engine}: task {i} did not get a pooled container"));
        let id = ready.iter().find(|id| detail.contains(&id[..12])).expect("the claimed container was a ready one");
        assert!(!used.contains(id), "{engine}: container {id} handed out twice");
        used.push(id.clone());
        let enforced = o.report["enforced"].as_array().unwrap();
        assert!(enforced.iter().any(|c| c["control"].as_str().unwrap_or_default().starts_with("supervisor.")));
    }

    // A hostile task in a pooled container is blocked and reported like any other.
    w.wait_ready(2);
    let marker = format!("/etc/orchestra-pool-{}", std::process::id());
    let o = w.sh(&format!("echo pwned > {marker}"));
    o.assert_violation("fs.write");
    assert!(pool_control(&o).is_some());
    assert!(!Path::new(&marker).exists());
    w.wait_ready(2);
    let o = w.exec_in(&w.e.ws, "default", &["./attack", "ptrace"]);
    o.assert_violation("syscall.ptrace");
    assert!(pool_control(&o).is_some());
    // Its canaries, handed to the claimed container's supervisor, are planted
    // and scrubbed as in a fresh one.
    w.wait_ready(2);
    let o = w.sh("test -s ~/.aws/credentials && echo \"t=$GITHUB_TOKEN\"");
    o.assert_violation("canary.leak");
    assert!(pool_control(&o).is_some());
    assert!(o.stdout.contains("t=[canary]"), "{}", o.all());

    let v = w.e.verify_audit();
    assert!(v.status.success(), "audit verify: {}", String::from_utf8_lossy(&v.stdout));
    w.wait_ready(2);
    w.drain_and_check();
}

/// A different policy or workspace is a different configuration: it never
/// gets a container made for another, and a workspace replaced at the same
/// path is another workspace.
fn another_configuration_never_gets_a_pooled_container(engine: &'static str) {
    let w = world(engine, 1);
    w.sh("true").assert_ok();
    w.wait_ready(1);
    let strict = w.e.policy("pids", "limits:\n  pids: 77\n");
    let o = w.exec_in(&w.e.ws, &strict, &["true"]);
    o.assert_ok();
    assert!(pool_control(&o).is_none(), "{engine}: another policy got a pooled container");
    let other = w.e.root.join("ws2");
    std::fs::create_dir(&other).unwrap();
    chown_tree(&other, 1000);
    let o = w.exec_in(&other, "default", &["true"]);
    o.assert_ok();
    assert!(pool_control(&o).is_none(), "{engine}: another workspace got a pooled container");
    // The same policy and workspace does.
    w.wait_ready(1);
    let o = w.sh("true");
    o.assert_ok();
    assert!(pool_control(&o).is_some(), "{engine}: the same configuration did not get one");
    // The pool was refilled for the workspace; replace it at the same path.
    w.wait_ready(1);
    let moved = w.e.root.join("ws-old");
    std::fs::rename(&w.e.ws, &moved).unwrap();
    std::fs::create_dir(&w.e.ws).unwrap();
    chown_tree(&w.e.ws, 1000);
    std::fs::create_dir_all(w.e.ws.join(".orchestra/audit")).unwrap();
    let o = w.sh("echo fresh > here");
    o.assert_ok();
    assert!(pool_control(&o).is_none(), "{engine}: a replaced workspace got a container bound to the old one");
    assert_eq!(std::fs::read_to_string(w.e.ws.join("here")).unwrap(), "fresh\n");
    std::thread::sleep(Duration::from_millis(200));
    // The stale containers expire or are drained; drain now.
    w.drain_and_check();
    std::fs::remove_dir_all(&moved).ok();
}

/// A claimed container whose orchestra was SIGKILLed mid-task is removed by
/// the next run's reaper, and so is a ready one whose token was lost.
fn a_killed_claimer_and_a_lost_token_are_reaped(engine: &'static str) {
    let w = world(engine, 1);
    w.sh("true").assert_ok();
    let ready = w.wait_ready(1);
    let wd = w.e.ws.to_string_lossy().into_owned();
    // Its own duration: the other engine's case runs in parallel.
    let sleep = if engine == "docker" { "61" } else { "62" };
    let mut c = w.e.cmd("default", &["--backend", engine, "--workdir", &wd], &["sleep", sleep]);
    w.with_pool(&mut c);
    let mut child = c.spawn().unwrap();
    // Wait until the claimed container runs.
    let t0 = Instant::now();
    loop {
        let o = Command::new(engine)
            .args(["ps", "-q", "--no-trunc", "--filter", &format!("label={}", w.label())])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).contains(&ready[0]) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{engine}: the pooled container {} never started", ready[0]);
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A lost ready token: the refill's container is no longer anyone's.
    let refill = w.wait_ready(1);
    for entry in std::fs::read_dir(w.pool_dir.join("ready")).unwrap().flatten() {
        std::fs::remove_dir_all(entry.path()).unwrap();
    }
    // The next run (pool off, so it orders nothing) reaps both.
    let mut c = w.e.cmd("default", &["--backend", engine, "--workdir", &wd], &["true"]);
    w.with_pool(&mut c);
    c.env("ORCHESTRA_CONTAINER_POOL", "0");
    w.e.run_cmd(c).assert_ok();
    for id in [&ready[0], &refill[0]] {
        let t0 = Instant::now();
        loop {
            let o = Command::new(engine)
                .args(["ps", "-aq", "--no-trunc", "--filter", &format!("label={}", w.label())])
                .output()
                .unwrap();
            if !String::from_utf8_lossy(&o.stdout).contains(id.as_str()) {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(15), "{engine}: container {id} was not reaped");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let task = format!("sleep {sleep}");
    assert!(processes_with(&task).iter().all(|p| !p.starts_with(&task)), "the killed task still runs");
    w.drain_and_check();
}

/// `orchestra run` hands the pool on to its tasks, here from the project
/// config's `container_pool`: the later tasks of a sequential plan start in
/// containers their predecessors ordered, and each one's work is its own. Too
/// large a `container_pool` is exit 1 before anything runs.
fn a_plan_uses_the_pool(engine: &'static str) {
    let w = world(engine, 1);
    let policy = w.e.policy("run-policy", &format!("version: 1\nsandbox_mode: {engine}\n"));
    let tools = "tools:\n  sh: {program: /bin/sh, shell: true, args: ['-c', '.*']}\n";
    let config = w.e.policy("run-config", &format!("container_pool: 1\n{tools}"));
    let mut plan = String::from("tasks:\n");
    for i in 0..4 {
        let needs = if i > 0 { format!(", needs: [t{}]", i - 1) } else { String::new() };
        // Long enough for the filler to make the next task's container.
        plan.push_str(&format!("- {{id: t{i}, tool: sh, args: ['-c', 'sleep 1; echo {i} > t{i}.txt']{needs}}}\n"));
    }
    let plan_file = w.e.root.join("plan.yaml");
    std::fs::write(&plan_file, plan).unwrap();
    let run = |config: &str| {
        let mut c = w.e.command();
        c.env("CI", "true")
            .arg("run")
            .arg(&plan_file)
            .arg("--config")
            .arg(config)
            .arg("--policy")
            .arg(&policy)
            .arg("--runs-dir")
            .arg(w.e.root.join("runs"));
        w.with_pool(&mut c);
        // The size comes from the config.
        c.env_remove("ORCHESTRA_CONTAINER_POOL");
        c.output().unwrap()
    };
    let too_many = w.e.policy("run-config-99", &format!("container_pool: 99\n{tools}"));
    let o = run(&too_many);
    assert_eq!(o.status.code(), Some(1), "{engine}: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("container_pool"));
    assert!(!w.e.ws.join("t0.txt").exists(), "nothing ran");
    let runs = w.e.root.join("runs");
    assert!(!runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none(), "no run directory was made");
    let o = run(&config);
    assert_eq!(o.status.code(), Some(0), "{engine}: {}", String::from_utf8_lossy(&o.stderr));
    for i in 0..4 {
        assert_eq!(std::fs::read_to_string(w.e.ws.join(format!("t{i}.txt"))).unwrap(), format!("{i}\n"));
    }
    let mut audit = Vec::new();
    for seg in std::fs::read_dir(w.e.ws.join(".orchestra/audit")).unwrap().flatten() {
        // The segments (beside them: the lock and the Merkle tile store).
        if seg.path().extension().is_some_and(|x| x == "seg") {
            audit.extend(std::fs::read(seg.path()).unwrap());
        }
    }
    let pooled = audit.windows(b"pre-created container".len()).filter(|w| w == b"pre-created container").count();
    assert!(pooled >= 2, "{engine}: only {pooled} of the 3 later tasks got a pooled container");
    w.wait_ready(1);
    w.drain_and_check();
}

/// A ready container removed behind the pool's back, or whose slot holds a
/// planted report, is skipped: the task runs in a fresh one. A drain right
/// after a task (its fill in flight) still leaves nothing behind.
fn unusable_ready_containers_are_skipped_and_drain_catches_fills_in_flight(engine: &'static str) {
    let w = world(engine, 1);
    w.sh("true").assert_ok();
    let ready = w.wait_ready(1);
    let o = Command::new(engine).args(["rm", "-f", &ready[0]]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = w.sh("echo still-runs > here");
    o.assert_ok();
    assert!(pool_control(&o).is_none(), "{engine}: a removed container was handed out");
    assert_eq!(std::fs::read_to_string(w.e.ws.join("here")).unwrap(), "still-runs\n");
    // A report planted in a ready slot (a host process of the task user could)
    // makes that container unusable, not the end of the next task.
    w.wait_ready(1);
    let v: serde_json::Value = serde_json::from_slice(&w.pool(&["status", "--json"]).stdout).unwrap();
    let slot = v["ready"][0]["slot"].as_str().unwrap().to_string();
    let planted = w.pool_dir.join("slots").join(&slot).join("report/report.json");
    std::fs::write(&planted, r#"{"forged": true}"#).unwrap();
    let o = w.sh("sleep 0.2; echo real > real");
    o.assert_ok();
    assert!(pool_control(&o).is_none(), "{engine}: a slot with a planted report was handed out");
    assert_eq!(std::fs::read_to_string(w.e.ws.join("real")).unwrap(), "real\n");
    // That task ordered a replacement; drain at once, while it is being made.
    w.drain_and_check();
}

/// Tasks started at the same moment never share a container: each claim is
/// its own, and a task that finds the pool empty creates one.
fn concurrent_tasks_never_share_a_container(engine: &'static str) {
    let w = world(engine, 3);
    w.sh("true").assert_ok();
    w.wait_ready(3);
    let children: Vec<_> = (0..5)
        .map(|i| {
            // Each its own report (the shared helper writes one path).
            let report = w.e.root.join(format!("report-{i}.json"));
            let mut c = w.e.command();
            c.args(["exec", "--policy", "default", "--backend", engine, "--report"]).arg(&report).args([
                "--",
                "/bin/sh",
                "-c",
                &format!("echo {i} > c{i}"),
            ]);
            w.with_pool(&mut c);
            c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
            (c.spawn().unwrap(), report)
        })
        .collect();
    let mut ids = Vec::new();
    for (i, (child, report)) in children.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{engine}: task {i} failed: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(w.e.ws.join(format!("c{i}"))).unwrap(), format!("{i}\n"));
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let out = Out { code: 0, stdout: String::new(), stderr: String::new(), report: r };
        if let Some(detail) = pool_control(&out) {
            ids.push(detail.split_whitespace().nth(2).unwrap_or_default().to_string());
        }
    }
    assert!(!ids.is_empty(), "{engine}: no task got a pooled container");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{engine}: a container was handed out twice: {ids:?}");
    w.drain_and_check();
}

macro_rules! per_engine {
    ($($case:ident),* $(,)?) => {
        mod docker { $( #[test] fn $case() { super::$case("docker") } )* }
        mod podman { $( #[test] fn $case() { super::$case("podman") } )* }
    };
}

per_engine!(
    pooled_tasks_are_fresh_supervised_and_observed,
    another_configuration_never_gets_a_pooled_container,
    a_killed_claimer_and_a_lost_token_are_reaped,
    a_plan_uses_the_pool,
    unusable_ready_containers_are_skipped_and_drain_catches_fills_in_flight,
    concurrent_tasks_never_share_a_container,
);

#[test]
fn a_bad_pool_size_is_exit_1_naming_the_variable() {
    let e = env();
    chown_tree(&e.ws, 1000);
    for bad in ["lots", "-1", "999"] {
        let mut c = e.cmd("default", &["--backend", "docker"], &["true"]);
        container_setup();
        c.env("ORCHESTRA_CONTAINER_POOL", bad);
        let o = e.run_cmd(c);
        assert_eq!(o.code, 1, "{bad}: {}", o.stderr);
        assert!(o.stderr.contains("ORCHESTRA_CONTAINER_POOL"), "{bad}: {}", o.stderr);
    }
}

#[test]
fn a_pool_directory_others_can_reach_is_refused() {
    let e = env();
    let dir = e.root.join("open-pool");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let o =
        Command::new(orchestra()).args(["pool", "status"]).env("ORCHESTRA_CONTAINER_POOL_DIR", &dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0700"));
}
