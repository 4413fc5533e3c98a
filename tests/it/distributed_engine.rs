//! Workers on a Docker engine (issue 18, item 3): a `workers:` entry with
//! `engine:` runs `orchestra worker` in a container that `orchestra workers
//! up|status|down` manage through the engine's API, here the local engine
//! (`unix:///var/run/docker.sock`). The image is built offline
//! (tests/it/harness/rootfs.rs: a skeleton rootfs; the host's `/usr` and
//! `/etc` are mounted read-only, as in tests/it/harness/sshd.rs). The tests assert what the
//! container holds, what the run recorded, and that `down` removes it.
//! A missing Docker fails the tests.

use crate::harness::fleet::{Fleet, effect_tasks};
use crate::harness::plan;
use crate::harness::rootfs::{self, Skeleton};
use std::process::Command;

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

fn exec(id: &str, script: &str) -> (i32, String) {
    let o = Command::new("docker").args(["exec", id, "/bin/sh", "-c", script]).output().expect("docker exec");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// An `engine:` entry.
fn entry(engine: &str, image: &str, name: &str, f: &Fleet) -> String {
    let root = f.world.root.display();
    format!(
        "  - engine: {engine}\n    image: {image}\n    name: {name}\n    capacity: 2\n    workspace: {}\n    mounts: [/usr:/usr:ro, /etc:/etc:ro, {root}:{root}]\n",
        f.world.ws.display()
    )
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

    // Again: left as it is.
    let again = f.workers(&["up", "--queue", &url]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains(&format!("{name}: already running")), "{}", again.all());
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
