//! Workers over SSH (issue 18, item 3): the config's `workers:` hosts,
//! `orchestra workers up|status|down` with the system OpenSSH client against
//! a real sshd in a Docker container (tests/it/harness/sshd.rs). The worker
//! runs inside the container; the tests assert what happened there (the
//! binary copied, the process, its own audit log) and in the run. `up` after
//! the binary changed drains the running worker and starts the new binary.

use crate::harness::fleet::{Fleet, HELD_T0, changed_binary, effect_tasks};
use crate::harness::sshd::{MARKER, Sshd};
use crate::harness::{plan, sh, wait_child, wait_until};
use std::time::Duration;

/// The fleet's config plus a `workers:` list of `(host, key, name)`.
fn with_workers(f: &Fleet, hosts: &[(String, &std::path::Path, &str)]) {
    let mut cfg = std::fs::read_to_string(&f.world.config).unwrap();
    cfg.push_str("workers:\n");
    for (host, key, name) in hosts {
        cfg.push_str(&format!("  - host: {host}\n    ssh_key: {}\n    name: {name}\n    capacity: 2\n", key.display()));
    }
    std::fs::write(&f.world.config, cfg).unwrap();
}

/// A timing, shown with `--nocapture`.
fn note(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[test]
fn workers_up_starts_a_worker_over_ssh_that_runs_a_plan_and_down_drains_it() {
    let mut f = Fleet::new("ssh-up");
    let sshd = Sshd::start(&f.world.root, &f.world.root);
    f.world.env.push(("ORCHESTRA_SSH_CONFIG".into(), sshd.ssh_config.display().to_string()));
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "ssh1")]);
    let url = f.redis.url();

    let t0 = std::time::Instant::now();
    let up = f.workers(&["up", "--queue", &url]);
    assert_eq!(up.code, 0, "{}\n{}", up.all(), sshd.exec("cat /root/.orchestra/worker.log").1);
    assert!(up.stdout.contains("ssh1: started") && up.stdout.contains("binary copied"), "{}", up.all());
    note(&format!("workers up (first, with the copy): {:?}", t0.elapsed()));
    // The binary is there, byte for byte; the worker runs inside the container.
    let local = std::fs::read(crate::harness::orchestra()).unwrap();
    let (_, remote_sha) = sshd.exec("sha256sum /root/.orchestra/bin/orchestra | cut -d' ' -f1");
    use sha2::Digest as _;
    assert_eq!(remote_sha.trim(), format!("{:x}", sha2::Sha256::digest(&local)));
    let (code, pid) = sshd.exec("p=$(cat /root/.orchestra/worker.pid) && kill -0 $p && echo $p");
    assert_eq!(code, 0, "no worker process in the container");
    let pid = pid.trim().to_string();
    assert_eq!(sshd.exec(&format!("test -e {MARKER} && tr '\\0' ' ' < /proc/{pid}/cmdline")).0, 0);
    assert_eq!(f.redis.raw(&["HEXISTS", "orchestra:workers", "ssh1"]).trim(), "1", "not registered");
    // Its public key, read back over SSH, is recorded beside the config.
    let keys = std::fs::read_to_string(f.world.root.join("workers.keys")).unwrap();
    let line = keys.lines().find(|l| l.starts_with("ssh1 ")).unwrap_or_else(|| panic!("{keys}"));
    let worker_key = line.split_whitespace().nth(1).unwrap().to_string();
    let (_, remote_pub) =
        sshd.exec("/root/.orchestra/bin/orchestra workers keygen --reuse /root/.orchestra/worker.key");
    assert_eq!(remote_pub.trim(), worker_key);

    // Again: nothing copied, nothing restarted.
    let t1 = std::time::Instant::now();
    let again = f.workers(&["up", "--queue", &url]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("already running") && again.stdout.contains("binary up to date"), "{}", again.all());
    assert!(!again.stdout.contains("restarted"), "{}", again.all());
    note(&format!("workers up (again, up to date): {:?}", t1.elapsed()));
    assert_eq!(sshd.exec("cat /root/.orchestra/worker.pid").1.trim(), pid);

    // A plan through the queue: trusted through workers.keys alone (no --trust-worker).
    let t2 = std::time::Instant::now();
    let o = f.run(&plan(&effect_tasks(6)), &["-j", "2"]);
    note(&format!("run of 6 tasks on the ssh worker: {:?}", t2.elapsed()));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), sshd.exec("tail -n 40 /root/.orchestra/worker.log").1);
    f.assert_ran_once_by(6, &worker_key);
    // The worker's own audit log is in the container, with one delivery per task.
    let (_, ended) = sshd.exec(
        "/root/.orchestra/bin/orchestra audit show /root/.orchestra/state/audit --json | grep -c '\"kind\":\"delivery_ended\"'",
    );
    assert_eq!(ended.trim(), "6", "{}", sshd.exec("ls -R /root/.orchestra/state/audit").1);

    let st = f.workers(&["status", "--queue", &url]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.contains(&format!("running (pid {pid})")), "{}", st.all());

    // Down: SIGTERM, drained, process gone.
    let t3 = std::time::Instant::now();
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(down.stdout.contains("ssh1: stopped"), "{}", down.all());
    note(&format!("workers down: {:?}", t3.elapsed()));
    assert_ne!(sshd.exec(&format!("kill -0 {pid}")).0, 0, "the worker still runs");
    assert!(sshd.exec("cat /root/.orchestra/worker.log").1.contains("worker ssh1 drained"));
    let st = f.workers(&["status"]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.contains("not running"), "{}", st.all());
    let down = f.workers(&["down"]);
    assert!(down.code == 0 && down.stdout.contains("ssh1: not running"), "{}", down.all());
}

#[test]
fn unknown_host_keys_wrong_keys_and_unreachable_hosts_start_nothing_anywhere() {
    let mut f = Fleet::new("ssh-refused");
    let sshd = Sshd::start(&f.world.root, &f.world.root);
    f.world.env.push(("ORCHESTRA_SSH_CONFIG".into(), sshd.ssh_config.display().to_string()));
    let url = f.redis.url();
    let base = std::fs::read_to_string(&f.world.config).unwrap();
    let nothing_started = |f: &Fleet| {
        assert_ne!(sshd.exec("test -e /root/.orchestra").0, 0, "something was copied or started");
        assert!(!f.world.root.join("workers.keys").exists());
        assert_eq!(f.redis.raw(&["HLEN", "orchestra:workers"]).trim(), "0");
    };
    let one_line = |o: &crate::harness::Out, want: &str| {
        assert_eq!(o.code, 1, "{}", o.all());
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}", o.all());
        assert!(lines[0].contains(want) && lines[0].contains("nothing started"), "{}", o.all());
    };

    // Two hosts, the second's host key unknown (`localhost` is not in known_hosts): neither starts.
    let second = format!("root@localhost:{}", sshd.port);
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "a"), (second.clone(), &sshd.client_key, "b")]);
    let o = f.workers(&["up", "--queue", &url]);
    one_line(&o, &format!("worker host {second}: host key unknown or changed"));
    nothing_started(&f);

    // An empty known_hosts: refused, never accepted (and known_hosts stays empty).
    std::fs::write(&sshd.known_hosts, "").unwrap();
    std::fs::write(&f.world.config, &base).unwrap();
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "a")]);
    let o = f.workers(&["up", "--queue", &url]);
    one_line(&o, "host key unknown or changed");
    assert_eq!(std::fs::read_to_string(&sshd.known_hosts).unwrap(), "", "a host key was added");
    nothing_started(&f);
    std::fs::write(&sshd.known_hosts, format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_public)).unwrap();

    // A key sshd does not accept.
    std::fs::write(&f.world.config, &base).unwrap();
    let stranger = sshd.stranger_key();
    with_workers(&f, &[(sshd.host(), &stranger, "a")]);
    let o = f.workers(&["up", "--queue", &url]);
    one_line(&o, &format!("ssh_key {} was refused", stranger.display()));
    nothing_started(&f);

    // A host nothing listens on, after a good one: the good one is not started either.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("root@127.0.0.1:{free}");
    std::fs::write(&f.world.config, &base).unwrap();
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "a"), (dead.clone(), &sshd.client_key, "b")]);
    let o = f.workers(&["up", "--queue", &url]);
    one_line(&o, &format!("worker host {dead}: unreachable"));
    nothing_started(&f);

    // A missing key file: said before any connection.
    std::fs::write(&f.world.config, &base).unwrap();
    let missing = f.world.root.join("no-such-key");
    with_workers(&f, &[(sshd.host(), &missing, "a")]);
    let o = f.workers(&["up", "--queue", &url]);
    one_line(&o, "no-such-key");
    nothing_started(&f);
}

/// Kills the tunnel's local ssh if the test ends before `workers down` did.
struct TunnelGuard(std::path::PathBuf);

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).output();
        }
    }
}

#[test]
fn workers_up_with_a_tunnel_reaches_redis_through_the_ssh_connection() {
    let mut f = Fleet::new("ssh-tunnel");
    let sshd = Sshd::start(&f.world.root, &f.world.root);
    f.world.env.push(("ORCHESTRA_SSH_CONFIG".into(), sshd.ssh_config.display().to_string()));
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "tun1")]);
    let url = f.redis.url();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let pid_file = f.world.root.join("workers.tunnels/tun1.pid");
    let _guard = TunnelGuard(pid_file.clone());
    let up = f.workers(&["up", "--queue", &url, "--tunnel", &port]);
    assert_eq!(up.code, 0, "{}\n{}", up.all(), sshd.exec("cat /root/.orchestra/worker.log").1);
    // The worker dials the tunnel's end on its host, not Redis' own port.
    let (_, cmdline) = sshd.exec("tr '\\0' ' ' < /proc/$(cat /root/.orchestra/worker.pid)/cmdline");
    assert!(cmdline.contains(&format!("redis://127.0.0.1:{port}")), "{cmdline}");
    let tunnel_pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let ssh_cmd = std::fs::read_to_string(format!("/proc/{tunnel_pid}/cmdline")).unwrap().replace('\0', " ");
    assert!(ssh_cmd.contains(&format!("127.0.0.1:{port}:127.0.0.1:{}", f.redis.port)), "{ssh_cmd}");
    let tasks: Vec<String> = (0..3).map(|i| sh(&format!("t{i}"), &format!("echo t{i} >> effects"), "")).collect();
    let o = f.run(&plan(&tasks), &[]);
    assert_eq!(o.code, 0, "{}\n{}", o.all(), sshd.exec("tail -n 40 /root/.orchestra/worker.log").1);
    assert_eq!(std::fs::read_to_string(f.world.ws.join("effects")).unwrap().lines().count(), 3);
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(down.stdout.contains("tun1: stopped") && down.stdout.contains("tunnel closed"), "{}", down.all());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{tunnel_pid}/cmdline")).exists()
        && !std::fs::read(format!("/proc/{tunnel_pid}/cmdline")).unwrap_or_default().is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "the tunnel's ssh still runs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!pid_file.exists());
}

#[test]
fn workers_up_restarts_an_ssh_worker_whose_binary_changed_after_its_running_task() {
    let mut f = Fleet::new("ssh-restart");
    let sshd = Sshd::start(&f.world.root, &f.world.root);
    f.world.env.push(("ORCHESTRA_SSH_CONFIG".into(), sshd.ssh_config.display().to_string()));
    with_workers(&f, &[(sshd.host(), &sshd.client_key, "rs1")]);
    let url = f.redis.url();
    let up = f.workers(&["up", "--queue", &url]);
    assert_eq!(up.code, 0, "{}\n{}", up.all(), sshd.exec("cat /root/.orchestra/worker.log").1);
    let old_pid = sshd.exec("cat /root/.orchestra/worker.pid").1.trim().to_string();
    let keys = std::fs::read_to_string(f.world.root.join("workers.keys")).unwrap();
    let key = keys.lines().find(|l| l.starts_with("rs1 ")).unwrap().split_whitespace().nth(1).unwrap().to_string();

    // An upgrade: the same program, another sha256.
    let (upgraded, new_sha) = changed_binary(&f.world.root.join("upgraded"));
    // A run whose first task runs while `up` restarts the worker; the second waits for it.
    let tasks = [sh("t0", HELD_T0, ""), sh("t1", "echo t1 >> started; echo t1 >> effects", ", needs: [t0]")];
    let run = f.spawn_run(&plan(&tasks), &[]);
    assert!(wait_until(Duration::from_secs(60), || f.world.ws.join("started").exists()), "t0 did not start");
    let t = std::time::Instant::now();
    let up = f.workers_command(&upgraded, &["up", "--queue", &url]).spawn().unwrap();
    // The old worker was told to drain while t0 runs: t0 holds it until released.
    let drained = || sshd.exec("cat /root/.orchestra/worker.log").1.contains("draining: its running tasks finish");
    assert!(wait_until(Duration::from_secs(120), drained), "the old worker was not told to drain");
    std::thread::sleep(Duration::from_millis(500));
    assert!(f.world.lines("effects").is_empty(), "t0 ended before its release");
    std::fs::write(f.world.ws.join("release"), "").unwrap();
    let (again, _) = wait_child(up, Duration::from_secs(300));
    note(&format!("workers up (restart, binary changed): {:?}\n{}", t.elapsed(), again.stdout));
    assert_eq!(again.code, 0, "{}\n{}", again.all(), sshd.exec("tail -n 20 /root/.orchestra/worker.log").1);
    assert!(again.stdout.contains("rs1: restarted: binary changed ("), "{}", again.all());
    assert!(again.stdout.contains(&new_sha[..12]) && again.stdout.contains("binary copied"), "{}", again.all());
    // The old worker drained (t0 finished on it) and is gone; the new one runs the new binary.
    let (o, _) = wait_child(run, Duration::from_secs(180));
    assert_eq!(o.code, 0, "{}\n{}", o.all(), sshd.exec("tail -n 40 /root/.orchestra/worker.log").1);
    assert_eq!(f.world.lines("started"), ["t0", "t1"], "a task started twice");
    assert_eq!(f.world.lines("effects"), ["t0", "t1"]);
    let records = f.world.audit_records(&f.world.audit);
    let remote: Vec<_> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(remote.len(), 2);
    assert!(remote.iter().all(|r| r["body"]["worker_key"] == key.as_str()), "{remote:#?}");
    assert!(sshd.exec("cat /root/.orchestra/worker.log").1.contains("worker rs1 drained"));
    assert_ne!(sshd.exec(&format!("kill -0 {old_pid}")).0, 0, "the old worker still runs");
    let pid = sshd.exec("cat /root/.orchestra/worker.pid").1.trim().to_string();
    assert_ne!(pid, old_pid);
    let (_, running) = sshd.exec(&format!("sha256sum < /proc/{pid}/exe | cut -d' ' -f1"));
    assert_eq!(running.trim(), new_sha, "the running worker is not the new binary");

    let st = f.workers_with(&upgraded, &["status", "--queue", &url]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.contains(&format!("running (pid {pid}), binary {}", &new_sha[..12])), "{}", st.all());
    // Up to date now: left as it is.
    let third = f.workers_with(&upgraded, &["up", "--queue", &url]);
    assert_eq!(third.code, 0, "{}", third.all());
    assert!(
        third.stdout.contains("rs1: already running") && third.stdout.contains("binary up to date"),
        "{}",
        third.all()
    );
    assert_eq!(sshd.exec("cat /root/.orchestra/worker.pid").1.trim(), pid);
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
}
