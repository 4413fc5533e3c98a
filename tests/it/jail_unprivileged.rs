//! The jail as the usual CI runner account: an unprivileged user, namespaces
//! only through user namespaces, no cgroup delegation (limits via rlimits).
//! The suite runs as root and drops to `nobody` with setpriv for each task.

use crate::harness::*;

const NOBODY: u32 = 65534;

#[test]
fn the_test_runs_as_root_so_it_can_drop_privileges() {
    assert!(nix::unistd::geteuid().is_root(), "this suite needs root to switch to an unprivileged user");
}

#[test]
fn unprivileged_benign_task_runs() {
    let e = env_as(NOBODY);
    let o = e.sh("default", "echo built > out && cat out && id -u");
    o.assert_ok();
    assert_eq!(o.stdout, "built\n1000\n");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(e.ws.join("out")).unwrap());
    assert_eq!(owner, NOBODY, "files belong to the invoking user on the host");
    let controls: Vec<String> = o.report["enforced"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["control"].as_str().map(String::from))
        .collect();
    assert!(controls.contains(&"namespaces".to_string()) && controls.contains(&"landlock".to_string()));
    assert!(!controls.contains(&"cgroup".to_string()), "nobody cannot create cgroups here: {controls:?}");
}

#[test]
fn unprivileged_network_egress_is_reported() {
    let e = env_as(NOBODY);
    let (l, ip, port) = host_listener();
    // `default` gives a private loopback: the host is reached only by its address.
    e.run("default", &["./attack", "connect-ip", &ip, &port]).assert_blocked("network.loopback");
    let offline = e.policy("offline", "network:\n  mode: none\n");
    e.run(&offline, &["./attack", "connect-ip", "127.0.0.1", &port]).assert_blocked("network.none");
    assert!(l.accept().is_err(), "the host listener was reached");
}

#[test]
fn unprivileged_write_outside_is_reported() {
    let e = env_as(NOBODY);
    let before = std::fs::read(e.home.join(".bashrc")).unwrap();
    e.sh("default", "echo evil >> ~/.bashrc").assert_violation("fs.write");
    assert_eq!(std::fs::read(e.home.join(".bashrc")).unwrap(), before);
}

#[test]
fn unprivileged_canary_read_is_reported() {
    let e = env_as(NOBODY);
    let o = e.sh("default", "cat ~/.ssh/id_rsa");
    o.assert_violation("fs.hidden");
    assert!(!o.all_output().contains(SSH_CANARY));
}

#[test]
fn unprivileged_ptrace_is_reported() {
    env_as(NOBODY).run("default", &["./attack", "ptrace"]).assert_blocked("syscall.ptrace");
}

#[test]
fn unprivileged_fork_bomb_is_stopped_by_rlimit_and_reported() {
    let e = env_as(NOBODY);
    let p = e.policy("pids", "limits:\n  pids: 64\ntimeouts:\n  wall: 20s\n");
    std::os::unix::fs::lchown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = e.run(&p, &["./attack", "forkbomb"]);
    o.assert_violation("limits.pids");
    assert!(!o.stdout.contains("ESCAPED"));
}

#[test]
fn unprivileged_memory_limit_is_enforced_by_rlimit() {
    // Enforced (RLIMIT_AS) but, without a memory cgroup, not observable: SECURITY.md.
    let e = env_as(NOBODY);
    let p = e.policy("mem", "limits:\n  memory: 128MiB\n");
    std::os::unix::fs::lchown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = e.run(&p, &["./attack", "memhog", "1024"]);
    assert!(o.stdout.contains("malloc failed"), "{}", o.stdout);
    assert!(!o.stdout.contains("ESCAPED"));
}

#[test]
fn unprivileged_small_memory_limit_binds_the_task_not_orchestra() {
    // RLIMIT_AS is set right before the task's execve, in a fork of `exec`
    // whose own mappings (the debug build: over 128 MiB) do not fit in it:
    // a benign task under 64 MiB starts and succeeds all the same.
    let e = env_as(NOBODY);
    let p = e.policy("mem64", "limits:\n  memory: 64MiB\n");
    std::os::unix::fs::lchown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = e.sh(&p, "echo ok");
    o.assert_ok();
    assert_eq!(o.stdout, "ok\n");
    let rlimits = o.report["enforced"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["control"] == "rlimits")
        .map(|c| c["detail"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert!(rlimits.contains(" as=67108864 "), "RLIMIT_AS is not in the report: {rlimits}");
}

#[test]
fn unprivileged_daemon_dies_with_the_task() {
    let e = env_as(NOBODY);
    let o = e.sh("default", "(setsid sh -c 'while :; do echo t >> d.log; sleep 0.05; done' &); sleep 0.3");
    o.assert_ok();
    let len = || std::fs::metadata(e.ws.join("d.log")).map(|m| m.len()).unwrap_or(0);
    let before = len();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(len(), before);
}
