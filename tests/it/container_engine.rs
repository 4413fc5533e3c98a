//! Finding the container engine: when no engine answers, the command exits 1
//! (nothing ran) and its one line says why for each address and what helps —
//! a missing or dead socket needs the engine started, a socket this user may
//! not use needs a permission (or a rootless engine), never "start the daemon".
//! Sockets are made by the test; the permission cases run orchestra as
//! `nobody` (setpriv), since root may connect to any socket.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::Path;

const NOBODY: u32 = 65534;

/// A listening socket at `path` (kept open by the returned listener) with
/// owner root, group `gid` and `mode`.
fn socket(path: &Path, gid: u32, mode: u32) -> UnixListener {
    let l = UnixListener::bind(path).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(gid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    l
}

/// `orchestra exec --backend BACKEND -- true` with `var=address`.
fn exec(e: &Env, backend: &str, var: &str, address: &str) -> Out {
    let mut c = e.cmd("default", &["--backend", backend], &["true"]);
    c.env(var, address);
    e.run_cmd(c)
}

/// Exit 1, one `orchestra: error:` line containing every one of `says` and none of `not`.
#[track_caller]
fn refused(o: &Out, says: &[&str], not: &[&str]) {
    o.assert_code(1);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line\n{}", o.stderr);
    assert!(lines[0].starts_with("orchestra: error: cannot enforce "), "{}", lines[0]);
    for s in says {
        assert!(lines[0].contains(s), "missing {s:?} in\n{}", lines[0]);
    }
    for s in not {
        assert!(!lines[0].contains(s), "{s:?} should not be said in\n{}", lines[0]);
    }
}

#[test]
fn engine_socket_permission_denied_names_the_socket_and_its_group_not_the_daemon() {
    let e = env_as(NOBODY);
    let sock = e.root.join("docker.sock");
    let _l = socket(&sock, 4242, 0o660);
    let path = sock.display().to_string();
    let o = exec(&e, "docker", "DOCKER_HOST", &format!("unix://{path}"));
    refused(
        &o,
        &[
            &format!("unix://{path} (permission denied: owned by root:4242, mode 0660)"),
            &format!("this user (uid {NOBODY}) may not use the Docker socket {path}"),
            "add this user to group 4242 (`sudo usermod -aG 4242 \"$USER\"`",
            "rootless Docker engine",
        ],
        &["start the Docker daemon"],
    );
}

#[test]
fn engine_socket_mode_000_says_who_may_use_it_for_docker_and_podman() {
    let e = env_as(NOBODY);
    let sock = e.root.join("engine.sock");
    let _l = socket(&sock, 0, 0o000);
    let path = sock.display().to_string();
    let o = exec(&e, "docker", "DOCKER_HOST", &format!("unix://{path}"));
    refused(
        &o,
        &["(permission denied: owned by root:root, mode 0000)", &format!("run orchestra as a user who may use {path}")],
        &["start the Docker daemon", "usermod"],
    );
    let o = exec(&e, "podman", "CONTAINER_HOST", &format!("unix://{path}"));
    refused(
        &o,
        &[
            "cannot enforce podman engine",
            &format!("may not use the Podman socket {path}"),
            "run Podman's API service as this user (`podman system service --time=0 &`)",
        ],
        &["start Podman's API service"],
    );
}

#[test]
fn engine_socket_missing_or_dead_says_start_the_engine() {
    let e = env();
    let missing = e.root.join("no-such.sock").display().to_string();
    let o = exec(&e, "docker", "DOCKER_HOST", &format!("unix://{missing}"));
    refused(&o, &[&format!("(no socket at {missing})"), "start the Docker daemon or set DOCKER_HOST"], &["permission"]);
    // A socket file nothing listens on: the engine stopped.
    let dead = e.root.join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    let dead = dead.display().to_string();
    let o = exec(&e, "docker", "DOCKER_HOST", &format!("unix://{dead}"));
    refused(&o, &[&format!("unix://{dead} (nothing listens there)"), "start the Docker daemon"], &["permission"]);
    let o = exec(&e, "podman", "CONTAINER_HOST", &format!("unix://{dead}"));
    refused(&o, &["(nothing listens there)", "start Podman's API service"], &["permission"]);
}

#[test]
fn sandbox_probe_says_why_an_engine_does_not_answer() {
    let e = env();
    let mut c = e.command();
    c.args(["sandbox", "probe"]).env("DOCKER_HOST", "unix:///nonexistent/orchestra-probe.sock");
    let o = Out::from(c.output().unwrap());
    o.assert_code(0);
    assert!(o.stdout.contains("docker engine     NO (no socket at /nonexistent/orchestra-probe.sock)"), "{}", o.stdout);
    let mut c = e.command();
    c.args(["sandbox", "probe", "--json"]).env("DOCKER_HOST", "unix:///nonexistent/orchestra-probe.sock");
    let v: serde_json::Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(v["docker"], false);
    assert!(v["docker_detail"].as_str().unwrap().contains("no socket"), "{v}");
}

#[test]
fn a_tcp_engine_under_docker_tls_verify_is_refused_and_never_spoken_to_in_plain_http() {
    let e = env();
    // Anything listening there would receive a plain request if the client fell back.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let mut c = e.cmd("default", &["--backend", "docker"], &["true"]);
    c.env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}")).env("DOCKER_TLS_VERIFY", "1");
    let o = e.run_cmd(c);
    refused(&o, &["DOCKER_TLS_VERIFY is set", "will not fall back to plain HTTP"], &["start the Docker daemon"]);
    match l.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the engine address was connected to: {other:?}"),
    }
}
