//! The jail inside a Docker container (GitLab docker executor, dev containers):
//! the engine's default seccomp profile forbids new namespaces, so the default
//! policy must fail closed naming the control, and the `container` preset
//! (landlock + seccomp + rlimits, no namespaces) must still block and report.
//!
//! The image is built offline: `docker import` of a rootfs holding only the
//! merged-/usr symlinks; the host's /usr is mounted read-only and orchestra
//! itself is bind-mounted. Docker is required: these tests fail when it is missing.

use crate::harness::*;
use std::process::Command;
use std::sync::OnceLock;

const IMAGE: &str = "orchestra-test-rootfs:1";

fn image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let have = Command::new("docker").args(["image", "inspect", IMAGE]).output().expect("docker CLI is required");
        if have.status.success() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in ["usr", "etc", "tmp", "proc", "dev", "sys", "ws", "root", "audit"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
            std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        }
        let tar = dir.path().join("rootfs.tar");
        let st = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().unwrap();
        assert!(st.success());
        let st = Command::new("docker").arg("import").arg(&tar).arg(IMAGE).output().unwrap();
        assert!(st.status.success(), "docker import failed: {}", String::from_utf8_lossy(&st.stderr));
    });
    IMAGE
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `orchestra exec ARGS` inside a fresh container with `ws` mounted at /ws.
fn in_container(ws: &std::path::Path, args: &[&str]) -> Run {
    in_container_with(ws, &[], args)
}

/// The same, with extra `docker run` arguments (volumes, environment).
fn in_container_with(ws: &std::path::Path, docker_args: &[String], args: &[&str]) -> Run {
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "--network", "none", "-e", &format!("SECRET_TOKEN={ENV_CANARY}")])
        .args(["-v", "/usr:/usr:ro"])
        .args(["-v", "/etc:/etc:ro"])
        .args(docker_args)
        .arg("-v")
        .arg(format!("{}:/orchestra:ro", orchestra().display()))
        .arg("-v")
        .arg(format!("{}:/ws", ws.display()))
        .args(["-w", "/ws", image(), "/orchestra", "exec", "--audit-dir", "/audit"])
        .args(args);
    let o = c.output().expect("docker run");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A workspace without `.orchestra/` (which the namespace-less jail refuses to expose).
fn ws_env() -> Env {
    let e = env();
    std::fs::remove_dir_all(e.ws.join(".orchestra")).unwrap();
    e
}

fn verdict(r: &Run) -> String {
    r.stderr.lines().rev().find(|l| l.starts_with("orchestra: ")).unwrap_or_default().to_string()
}

#[test]
fn the_default_policy_fails_closed_inside_a_container() {
    let e = env();
    let r = in_container(&e.ws, &["--", "/bin/sh", "-c", "touch ran"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot enforce namespaces"), "{}", r.stderr);
    assert!(r.stderr.contains("namespaces: off"), "the message names the fix: {}", r.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn the_container_preset_refuses_a_writable_dot_orchestra() {
    let e = env();
    let r = in_container(&e.ws, &["--policy", "container", "--", "/bin/sh", "-c", "touch ran"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(".orchestra lies inside a writable path"), "{}", r.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn the_container_preset_runs_benign_work() {
    let e = ws_env();
    let r = in_container(&e.ws, &["--policy", "container", "--", "/bin/sh", "-c", "echo hi > out && cat out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "hi\n");
    assert!(verdict(&r).contains(" ok "), "{}", r.stderr);
}

#[test]
fn the_container_preset_reports_network_attempts() {
    let e = ws_env();
    let r = in_container(&e.ws, &["--policy", "container", "--", "./attack", "connect-ip", "10.255.255.1", "80"]);
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(verdict(&r).contains("network.none"), "{}", r.stderr);
}

#[test]
fn the_container_preset_reports_writes_outside_the_workspace() {
    let e = ws_env();
    let script = "echo x > /root/evil && echo ESCAPED wrote /root/evil";
    let r = in_container(&e.ws, &["--policy", "container", "--", "/bin/sh", "-c", script]);
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(verdict(&r).contains("fs.write"), "{}", r.stderr);
}

#[test]
fn the_container_preset_reports_denied_syscalls() {
    let e = ws_env();
    let r = in_container(&e.ws, &["--policy", "container", "--", "./attack", "ptrace"]);
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(verdict(&r).contains("syscall.ptrace"), "{}", r.stderr);
}

#[test]
fn the_container_preset_keeps_the_orchestrators_environment_out() {
    let e = ws_env();
    let r = in_container(
        &e.ws,
        &["--policy", "container", "--", "/bin/sh", "-c", "env; cat /proc/1/environ; cat /proc/$PPID/environ; true"],
    );
    assert!(!r.stdout.contains(ENV_CANARY) && !r.stderr.contains(ENV_CANARY), "{}{}", r.stdout, r.stderr);
}

#[test]
fn the_container_preset_keeps_hidden_files_unreadable() {
    // Without namespaces there are no decoys: landlock simply denies the read
    // (not reported, SECURITY.md); the canary must not leak.
    let e = ws_env();
    let key = e.root.join("id_rsa");
    std::fs::write(&key, SSH_CANARY).unwrap();
    let r = in_container_with(
        &e.ws,
        &["-v".to_string(), format!("{}:/root/.ssh/id_rsa:ro", key.display())],
        &["--policy", "container", "--", "/bin/sh", "-c", "cat /root/.ssh/id_rsa; cat /etc/shadow; true"],
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{all}");
    assert!(!all.contains(SSH_CANARY), "{all}");
    assert!(all.contains("Permission denied"), "{all}");
}

#[test]
fn the_container_preset_kills_daemons_with_the_task() {
    let e = ws_env();
    let r = in_container(
        &e.ws,
        &[
            "--policy",
            "container",
            "--",
            "/bin/sh",
            "-c",
            "(setsid sh -c 'while :; do echo t >> d.log; sleep 0.05; done' &); sleep 0.3",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let len = || std::fs::metadata(e.ws.join("d.log")).map(|m| m.len()).unwrap_or(0);
    let before = len();
    assert!(before > 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(len(), before, "the daemon survived");
}

/// As root inside a container (no usable pids cgroup, and RLIMIT_NPROC does
/// not bind uid 0) the supervisor's count holds `limits.pids`: a fork bomb is
/// killed and reported, and the report says how the limit is held.
#[test]
fn the_container_preset_holds_its_pids_limit_as_root() {
    let e = ws_env();
    let preset =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml"))
            .expect("policies/container.yaml");
    let yaml = preset.replace("pids: 512", "pids: 40");
    assert_ne!(yaml, preset, "container.yaml changed shape");
    std::fs::write(e.ws.join("pids.yaml"), yaml).unwrap();
    let r = in_container(&e.ws, &["--policy", "/ws/pids.yaml", "--report", "/ws/r.json", "--", "./attack", "forkbomb"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(verdict(&r).contains("limits.pids"), "{}", r.stderr);
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
    let report = std::fs::read_to_string(e.ws.join("r.json")).unwrap();
    assert!(report.contains("the supervisor counts the task's processes and threads"), "{report}");
}

/// `limits.memory` without a memory cgroup, as root: RLIMIT_AS, set right
/// before the task's exec, binds the task (a 1 GiB allocation fails) and not
/// the fork of `exec` that sets it (whose own mappings pass 64 MiB): a benign
/// task runs.
#[test]
fn the_container_preset_holds_a_small_memory_limit_as_root() {
    let e = ws_env();
    let preset =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml"))
            .expect("policies/container.yaml");
    let yaml = preset.replace("memory: 2GiB", "memory: 64MiB");
    assert_ne!(yaml, preset, "container.yaml changed shape");
    std::fs::write(e.ws.join("mem.yaml"), yaml).unwrap();
    let r =
        in_container(&e.ws, &["--policy", "/ws/mem.yaml", "--report", "/ws/r.json", "--", "/bin/sh", "-c", "echo ok"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "ok\n");
    let report = std::fs::read_to_string(e.ws.join("r.json")).unwrap();
    assert!(report.contains(" as=67108864 "), "RLIMIT_AS is not in the report: {report}");
    let r = in_container(&e.ws, &["--policy", "/ws/mem.yaml", "--", "./attack", "memhog", "1024"]);
    assert!(r.stdout.contains("malloc failed"), "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
}

/// The same limit against threads: one process creating 600 threads (one a
/// millisecond, so the bomb outlasts many 50 ms counts) under `pids: 40` is
/// killed and reported, as a pids cgroup counts threads. The supervisor's
/// count was of processes only: this bomb ran to its end, exit 0.
#[test]
fn the_container_preset_counts_threads_against_its_pids_limit_as_root() {
    let e = ws_env();
    let preset =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml"))
            .expect("policies/container.yaml");
    let yaml = preset.replace("pids: 512", "pids: 40");
    assert_ne!(yaml, preset, "container.yaml changed shape");
    std::fs::write(e.ws.join("pids.yaml"), yaml).unwrap();
    let r = in_container(
        &e.ws,
        &["--policy", "/ws/pids.yaml", "--report", "/ws/r.json", "--", "./attack", "threadbomb", "600"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(verdict(&r).contains("limits.pids"), "{}", r.stderr);
    // The helper prints `threads N` every 10 threads and `ESCAPED …` after 600.
    assert!(!r.stdout.contains("ESCAPED"), "{}", r.stdout);
    assert!(!r.stdout.contains("failed"), "something else stopped the bomb: {}", r.stdout);
    let created = r.stdout.lines().filter_map(|l| l.strip_prefix("threads ")?.parse::<u32>().ok()).max();
    assert!(matches!(created, Some(30..600)), "threads created before the kill: {created:?}\n{}", r.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.ws.join("r.json")).unwrap()).unwrap();
    let pids = report["violations"].as_array().unwrap().iter().find(|v| v["rule"] == "limits.pids").cloned();
    let detail = pids.as_ref().and_then(|v| v["detail"].as_str()).unwrap_or_default();
    assert!(detail.contains("processes and threads, its limit is 40"), "{report}");
}
