//! A Docker engine behind TLS on a loopback port: `socat` (installed by
//! `.ci/run`) terminates TLS with a server certificate of [`super::pki`],
//! asks for and verifies a client certificate signed by the same CA
//! (`verify=1`), and forwards each connection to this machine's engine
//! socket. What `workers up` does through it happens on the real engine.
//! Killed when dropped. A missing `socat` or Docker fails the test.

use super::pki::Pki;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The local engine's socket.
pub const SOCKET: &str = "/var/run/docker.sock";

/// socat in front of the engine.
pub struct TlsEngine {
    child: Child,
    pub port: u16,
    /// Its log (`socat -d -d`): one line per accepted connection and TLS error.
    pub log: PathBuf,
}

impl TlsEngine {
    /// Listen on a free loopback port with `pki`'s server certificate.
    pub fn start(dir: &Path, pki: &Pki) -> TlsEngine {
        assert!(Path::new(SOCKET).exists(), "{SOCKET} is missing: the engine TLS tests need Docker");
        std::fs::create_dir_all(dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("socat.log");
        let out = std::fs::File::create(&log).unwrap();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            pki.server_crt.display(),
            pki.server_key.display(),
            pki.ca.display()
        );
        let child = Command::new("socat")
            .args(["-d", "-d", &listen, &format!("UNIX-CONNECT:{SOCKET}")])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `socat` ({e}): the engine TLS tests need it; `apt-get install socat` (.ci/run does)"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(port) {
            assert!(
                Instant::now() < deadline,
                "socat did not listen on {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsEngine { child, port, log }
    }

    /// `tcp://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

/// Whether something listens on 127.0.0.1:`port` (read from /proc/net/tcp:
/// no connection is made, so socat logs none).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").unwrap_or_default().lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want && f[3] == "0A"
    })
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
