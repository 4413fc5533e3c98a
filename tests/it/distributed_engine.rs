//! Workers on a Docker engine (issue 18, item 3): a `workers:` entry with
//! `engine:` runs `orchestra worker` in a container that `orchestra workers
//! up|status|down` manage through the engine's API, here the local engine
//! (`unix:///var/run/docker.sock`). The image is built offline
//! (tests/it/harness/rootfs.rs: a skeleton rootfs; the host's `/usr` and
//! `/etc` are mounted read-only, as in tests/it/harness/sshd.rs). The tests assert what the
//! container holds, what the run recorded, and that `down` removes it.
//! A `tcp://` engine is the same engine behind TLS with client certificates
//! (tests/it/harness/docker_tls.rs: socat on loopback, certificates from
//! tests/it/harness/pki.rs). `up` after the binary changed restarts the
//! worker, its running task finishing first.
//! A missing Docker or socat fails the tests.

use crate::harness::docker_tls::TlsEngine;
use crate::harness::fleet::{Fleet, HELD_T0, changed_binary, effect_tasks};
use crate::harness::pki::{Pki, pki};
use crate::harness::rootfs::{self, Skeleton};
use crate::harness::{plan, sh, wait_child, wait_until};
use std::process::Command;
use std::time::Duration;

const ENGINE: &str = "unix:///var/run/docker.sock";
/// A file only the image's root filesystem has.
const MARKER: &str = "/orchestra-engine-container";

/// The test image: a skeleton root filesystem ([`crate::harness::rootfs`], imported once).
fn image() -> &'static str {
    rootfs::image(&Skeleton { tag: "orchestra-engine-rootfs:1", marker: MARKER, dirs: &[] })
}

/// The ids of the containers labelled `orchestra.worker=NAME` (any state).
fn containers(name: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=orchestra.worker={name}")])
        .output()
        .expect("docker ps");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()
}

/// Removes the test's containers, whatever happened.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            for id in containers(name) {
                let _ = Command::new("docker").args(["rm", "-f", &id]).output();
            }
        }
    }
}

/// A container's output (stdout and stderr).
fn docker_logs(id: &str) -> String {
    let o = Command::new("docker").args(["logs", id]).output().expect("docker logs");
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn exec(id: &str, script: &str) -> (i32, String) {
    let o = Command::new("docker").args(["exec", id, "/bin/sh", "-c", script]).output().expect("docker exec");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// An `engine:` entry.
fn entry(engine: &str, image: &str, name: &str, f: &Fleet) -> String {
    entry_with(engine, image, name, f, "")
}

/// An `engine:` entry with `extra` lines (indented by four spaces).
fn entry_with(engine: &str, image: &str, name: &str, f: &Fleet, extra: &str) -> String {
    let root = f.world.root.display();
    format!(
        "  - engine: {engine}\n    image: {image}\n    name: {name}\n    capacity: 2\n    workspace: {}\n    mounts: [/usr:/usr:ro, /etc:/etc:ro, {root}:{root}]\n{extra}",
        f.world.ws.display()
    )
}

/// A `tls:` block (`cert` and `key` left out when `None`).
fn tls(ca: &std::path::Path, client: Option<(&std::path::Path, &std::path::Path)>) -> String {
    match client {
        Some((c, k)) => format!("    tls: {{ca: {}, cert: {}, key: {}}}\n", ca.display(), c.display(), k.display()),
        None => format!("    tls: {{ca: {}}}\n", ca.display()),
    }
}

/// The right `tls:` block for [`TlsEngine`].
fn good_tls(p: &Pki) -> String {
    tls(&p.ca, Some((&p.client_crt, &p.client_key)))
}

/// A timing or an output, shown with `--nocapture`.
fn note(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The recorded public key of worker `name`.
fn recorded_key(f: &Fleet, name: &str) -> String {
    let keys = std::fs::read_to_string(f.world.root.join("workers.keys")).unwrap();
    let line = keys.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{keys}"));
    line.split_whitespace().nth(1).unwrap().to_string()
}

fn label(id: &str, key: &str) -> String {
    let o = Command::new("docker")
        .args(["inspect", "-f", &format!("{{{{index .Config.Labels \"{key}\"}}}}"), id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn with_entries(f: &Fleet, entries: &[String]) {
    let mut cfg = std::fs::read_to_string(&f.world.config).unwrap();
    cfg.push_str("workers:\n");
    for e in entries {
        cfg.push_str(e);
    }
    std::fs::write(&f.world.config, cfg).unwrap();
}

#[test]
fn workers_up_runs_a_worker_in_a_container_on_the_engine_and_down_removes_it() {
    let f = Fleet::new("engine-up");
    let name = format!("eng-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    with_entries(&f, &[entry(ENGINE, image(), &name, &f)]);
    let url = f.redis.url();

    let up = f.workers(&["up", "--queue", &url]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(up.stdout.contains(&format!("{name}: started in container")), "{}", up.all());
    let ids = containers(&name);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = &ids[0];
    // The worker runs in the image's root filesystem, from the uploaded binary.
    let (code, _) = exec(id, &format!("test -e {MARKER}"));
    assert_eq!(code, 0, "not the image's root filesystem");
    let local = std::fs::read(crate::harness::orchestra()).unwrap();
    let (_, inside) = exec(id, "sha256sum /opt/orchestra/orchestra | cut -d' ' -f1");
    use sha2::Digest as _;
    assert_eq!(inside.trim(), format!("{:x}", sha2::Sha256::digest(&local)));
    assert_eq!(exec(id, "stat -c %a /opt/orchestra/worker.key").1.trim(), "600");
    assert_eq!(f.redis.raw(&["HEXISTS", "orchestra:workers", &name]).trim(), "1", "not registered");
    // Its public key is recorded beside the config, and is the container's key.
    let keys = std::fs::read_to_string(f.world.root.join("workers.keys")).unwrap();
    let line = keys.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{keys}"));
    let worker_key = line.split_whitespace().nth(1).unwrap().to_string();
    let (_, inside_pub) = exec(id, "/opt/orchestra/orchestra workers keygen --reuse /opt/orchestra/worker.key");
    assert_eq!(inside_pub.trim(), worker_key);

    // Again, the same binary: left as it is.
    let again = f.workers(&["up", "--queue", &url]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains(&format!("{name}: already running")), "{}", again.all());
    assert!(again.stdout.contains("binary up to date"), "{}", again.all());
    assert_eq!(containers(&name), ids);
    assert_eq!(std::fs::read_to_string(f.world.root.join("workers.keys")).unwrap(), keys);

    // A plan through the queue: the effects land in the bind-mounted workspace.
    let o = f.run(&plan(&effect_tasks(4)), &["-j", "2"]);
    let logs = || {
        let o = Command::new("docker").args(["logs", id]).output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert_eq!(o.code, 0, "{}\n{}", o.all(), logs());
    f.assert_ran_once_by(4, &worker_key);

    let st = f.workers(&["status"]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.lines().any(|l| l.contains(&name) && l.contains("running")), "{}", st.all());

    // Down: SIGTERM (the worker drains), then the container is removed.
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(down.stdout.contains(&format!("{name}: stopped and removed")), "{}", down.all());
    assert!(containers(&name).is_empty(), "the container is still there");
    let st = f.workers(&["status"]);
    assert!(st.code == 0 && st.stdout.contains("no container"), "{}", st.all());
}

#[test]
fn bad_engine_addresses_unreachable_engines_and_missing_images_start_nothing() {
    let f = Fleet::new("engine-refused");
    let good = format!("engok-{}", std::process::id());
    let _cleanup = Cleanup(vec![good.clone()]);
    let url = f.redis.url();
    let base = std::fs::read_to_string(&f.world.config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let absent = format!("unix://{}/no.sock", dir.path().display());
    for (engine, img, want) in [
        ("ftp://nowhere", image(), "not an engine address"),
        (absent.as_str(), image(), "the engine does not answer"),
        (ENGINE, "orchestra-no-such-image:0", "is not on the engine"),
    ] {
        std::fs::write(&f.world.config, &base).unwrap();
        // A good entry first: it is not started either.
        with_entries(&f, &[entry(ENGINE, image(), &good, &f), entry(engine, img, "bad", &f)]);
        let o = f.workers(&["up", "--queue", &url]);
        assert_eq!(o.code, 1, "{}", o.all());
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}", o.all());
        assert!(lines[0].contains(want) && lines[0].contains("nothing started"), "{}", o.all());
        assert!(containers(&good).is_empty(), "a container was made");
        assert!(!f.world.root.join("workers.keys").exists());
    }
    // Both `host` and `engine`: the config is refused where the entry is.
    std::fs::write(&f.world.config, &base).unwrap();
    with_entries(&f, &["  - {host: b, ssh_key: /k, engine: unix:///x, image: i}\n".to_string()]);
    let o = f.workers(&["up", "--queue", &url]);
    assert_eq!(o.code, 1, "{}", o.all());
    let file = f.world.config.file_name().unwrap().to_string_lossy().into_owned();
    assert!(o.stderr.contains("not both") && o.stderr.contains(&format!("{file}:")), "{}", o.all());
}

#[test]
fn workers_up_through_a_tls_engine_with_a_client_certificate_runs_a_worker_and_down_removes_it() {
    let f = Fleet::new("engine-tls");
    let p = pki(&f.world.root.join("pki"));
    let engine = TlsEngine::start(&f.world.root.join("socat"), &p);
    let name = format!("engtls-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    with_entries(&f, &[entry_with(&engine.address(), image(), &name, &f, &good_tls(&p))]);
    let url = f.redis.url();

    let up = f.workers(&["up", "--queue", &url]);
    assert_eq!(up.code, 0, "{}\n{}", up.all(), std::fs::read_to_string(&engine.log).unwrap_or_default());
    assert!(up.stdout.contains(&format!("{name}: started in container")), "{}", up.all());
    assert!(up.stdout.contains(&engine.address()), "{}", up.all());
    // It went through the TLS endpoint, which verified the client certificate.
    let log = std::fs::read_to_string(&engine.log).unwrap();
    assert!(log.contains("accepting connection"), "{log}");
    assert!(!log.contains("SSL_accept"), "a TLS handshake failed: {log}");
    // The container is on the engine, running the worker.
    let ids = containers(&name);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(exec(&ids[0], &format!("test -e {MARKER}")).0, 0);
    let key = recorded_key(&f, &name);
    let o = f.run(&plan(&effect_tasks(3)), &["-j", "2"]);
    assert_eq!(o.code, 0, "{}", o.all());
    f.assert_ran_once_by(3, &key);

    let st = f.workers(&["status"]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.lines().any(|l| l.contains(&name) && l.contains("running")), "{}", st.all());
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(down.stdout.contains(&format!("{name}: stopped and removed")), "{}", down.all());
    assert!(containers(&name).is_empty(), "the container is still there");
}

#[test]
fn tls_engines_that_do_not_verify_plain_tcp_and_bad_tls_files_start_nothing() {
    let f = Fleet::new("engine-tls-refused");
    let p = pki(&f.world.root.join("pki"));
    let engine = TlsEngine::start(&f.world.root.join("socat"), &p);
    let good = format!("engok-tls-{}", std::process::id());
    let bad = format!("engbad-tls-{}", std::process::id());
    let _cleanup = Cleanup(vec![good.clone(), bad.clone()]);
    let url = f.redis.url();
    let base = std::fs::read_to_string(&f.world.config).unwrap();
    let addr = engine.address();
    let by_name = addr.replace("127.0.0.1", "localhost");
    let missing = f.world.root.join("pki/missing.pem");
    // (address, the entry's extra lines, what the one line says, whether a connection is made)
    let cases: Vec<(&str, String, &str, bool)> = vec![
        // The engine's certificate is not signed by the CA given.
        (
            &addr,
            tls(&p.other_ca, Some((&p.client_crt, &p.client_key))),
            "TLS with the engine failed: invalid peer certificate: UnknownIssuer (its certificate is not signed by a CA of tls.ca)",
            true,
        ),
        // Not by the name dialled either (it names 127.0.0.1 only).
        (&by_name, good_tls(&p), "certificate not valid for name \"localhost\"", true),
        // No client certificate: the engine's end refuses the handshake.
        (
            &addr,
            tls(&p.ca, None),
            "CertificateRequired (the engine wants a client certificate: set tls.cert and tls.key)",
            true,
        ),
        // Plain HTTP to a tcp:// engine: refused before any connection.
        (&addr, String::new(), "plain HTTP to a tcp:// engine is refused", false),
        // Plain HTTP asked for, to a TLS port: no answer.
        (&addr, "    insecure: true\n".into(), "(a TLS port? then give the entry `tls:`)", true),
        // A key that is not the certificate's; a file that is not there: said before any connection.
        (
            &addr,
            tls(&p.ca, Some((&p.client_crt, &p.server_key))),
            "client.crt (its public key is not the certificate's)",
            false,
        ),
        (&addr, tls(&missing, Some((&p.client_crt, &p.client_key))), "missing.pem: cannot read it", false),
    ];
    let connections = || std::fs::read_to_string(&engine.log).unwrap().matches("accepting connection").count();
    for (engine_addr, extra, want, connects) in &cases {
        let before = connections();
        std::fs::write(&f.world.config, &base).unwrap();
        // A good entry first: it is not started either.
        with_entries(&f, &[entry(ENGINE, image(), &good, &f), entry_with(engine_addr, image(), &bad, &f, extra)]);
        let o = f.workers(&["up", "--queue", &url]);
        assert_eq!(o.code, 1, "{want}: {}", o.all());
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{want}: {}", o.all());
        let line = lines[0];
        assert!(line.contains(want), "want {want:?}: {line}");
        assert!(line.contains(&format!("worker engine {engine_addr} ({bad})")), "{line}");
        assert!(line.contains("nothing started"), "{line}");
        assert!(containers(&good).is_empty() && containers(&bad).is_empty(), "{want}: a container was made");
        assert!(!f.world.root.join("workers.keys").exists());
        assert_eq!(connections() > before, *connects, "{want}: {}", std::fs::read_to_string(&engine.log).unwrap());
    }
    // The TLS files' shape is the config's: refused where the entry is.
    let file = f.world.config.file_name().unwrap().to_string_lossy().into_owned();
    for (extra, want) in [
        (format!("    tls: {{ca: {}, password: x}}\n", p.ca.display()), "unknown field `password`"),
        (format!("    tls: {{ca: {}}}\n    insecure: true\n", p.ca.display()), "contradict"),
        (
            format!("    tls: {{ca: {}, cert: {}}}\n", p.ca.display(), p.client_crt.display()),
            "`cert` and `key` go together",
        ),
    ] {
        std::fs::write(&f.world.config, &base).unwrap();
        with_entries(&f, &[entry_with(&addr, image(), &bad, &f, &extra)]);
        let o = f.workers(&["up", "--queue", &url]);
        assert_eq!(o.code, 1, "{}", o.all());
        assert!(o.stderr.contains(want) && o.stderr.contains(&format!("{file}:")), "{want}: {}", o.all());
        assert!(containers(&bad).is_empty());
    }
}

#[test]
fn workers_up_restarts_an_engine_worker_whose_binary_changed_after_its_running_task() {
    let f = Fleet::new("engine-restart");
    let name = format!("engrs-{}", std::process::id());
    let _cleanup = Cleanup(vec![name.clone()]);
    with_entries(&f, &[entry(ENGINE, image(), &name, &f)]);
    let url = f.redis.url();
    let up = f.workers(&["up", "--queue", &url]);
    assert_eq!(up.code, 0, "{}", up.all());
    let old = containers(&name);
    assert_eq!(old.len(), 1);
    let key = recorded_key(&f, &name);

    // An upgrade: the same program, another sha256.
    let (upgraded, new_sha) = changed_binary(&f.world.root.join("upgraded"));
    // A run whose first task runs while `up` restarts the worker; the second waits for it.
    let tasks = [sh("t0", HELD_T0, ""), sh("t1", "echo t1 >> started; echo t1 >> effects", ", needs: [t0]")];
    let run = f.spawn_run(&plan(&tasks), &[]);
    assert!(wait_until(Duration::from_secs(60), || f.world.ws.join("started").exists()), "t0 did not start");
    let t = std::time::Instant::now();
    let up = f.workers_command(&upgraded, &["up", "--queue", &url]).spawn().unwrap();
    // The old worker was told to drain while t0 runs: t0 holds it until released.
    let drained = || docker_logs(&old[0]).contains("draining: its running tasks finish");
    assert!(wait_until(Duration::from_secs(120), drained), "the old worker was not told to drain");
    std::thread::sleep(Duration::from_millis(500));
    assert!(f.world.lines("effects").is_empty(), "t0 ended before its release");
    std::fs::write(f.world.ws.join("release"), "").unwrap();
    let (again, _) = wait_child(up, Duration::from_secs(300));
    note(&format!("workers up (restart, binary changed): {:?}\n{}", t.elapsed(), again.stdout));
    assert_eq!(again.code, 0, "{}", again.all());
    let said = format!("{name}: restarted: binary changed (");
    assert!(again.stdout.contains(&said) && again.stdout.contains(&new_sha[..12]), "{}", again.all());
    assert!(again.stdout.contains("same key"), "{}", again.all());
    // The drain let t0 finish before the old container stopped; t1 ran on the new one.
    let (o, _) = wait_child(run, Duration::from_secs(180));
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(f.world.lines("started"), ["t0", "t1"], "a task started twice");
    assert_eq!(f.world.lines("effects"), ["t0", "t1"]);
    let records = f.world.audit_records(&f.world.audit);
    let remote: Vec<_> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(remote.len(), 2);
    assert!(remote.iter().all(|r| r["body"]["worker_key"] == key.as_str()), "{remote:#?}");
    assert_eq!(recorded_key(&f, &name), key, "the worker's key changed");
    // A new container, labelled with and holding the new binary.
    let now = containers(&name);
    assert_eq!(now.len(), 1);
    assert_ne!(now, old, "the old container is still the worker");
    assert_eq!(label(&now[0], "orchestra.binary-sha256"), new_sha);
    assert_eq!(exec(&now[0], "sha256sum /opt/orchestra/orchestra | cut -d' ' -f1").1.trim(), new_sha);

    let st = f.workers_with(&upgraded, &["status"]);
    assert_eq!(st.code, 0, "{}", st.all());
    let short = &new_sha[..12];
    assert!(st.stdout.lines().any(|l| l.contains(&name) && l.contains("running") && l.contains(short)), "{}", st.all());
    // Up to date now: left as it is.
    let third = f.workers_with(&upgraded, &["up", "--queue", &url]);
    assert_eq!(third.code, 0, "{}", third.all());
    assert!(
        third.stdout.contains(&format!("{name}: already running")) && third.stdout.contains("binary up to date"),
        "{}",
        third.all()
    );
    assert_eq!(containers(&name), now);
    let down = f.workers(&["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
}
