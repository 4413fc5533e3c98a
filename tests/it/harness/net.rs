//! Host listeners for the network tests: a TCP listener on every host address
//! and a non-loopback IPv4 address of this host to reach it by, so a test can
//! tell the task's own private loopback from the host's network.

/// A non-blocking TCP listener on `0.0.0.0`, a non-loopback IPv4 address of this
/// host, and the listener's port.
pub fn host_listener() -> (std::net::TcpListener, String, String) {
    let l = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a host listener");
    l.set_nonblocking(true).expect("non-blocking listener");
    let port = l.local_addr().expect("listener address").port().to_string();
    (l, host_ip(), port)
}

/// A non-loopback IPv4 address of this host.
pub fn host_ip() -> String {
    let out = std::process::Command::new("hostname").arg("-I").output().expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
        .expect("this host has a non-loopback IPv4 address")
        .to_string()
}
