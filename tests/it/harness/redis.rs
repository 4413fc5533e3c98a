//! A real Redis for the distributed tests: `redis-server` (Debian's, installed
//! by `.ci/run`) on a free loopback port with its data in the test's
//! directory, AOF on (so a restart keeps the streams), killed when dropped.
//! A missing `redis-server` fails the test. [`Redis::start_with`] adds server
//! arguments (a TLS-only port, an ACL file) and the matching `redis-cli`
//! arguments, so that [`Redis::url`] and [`Redis::cli`] keep working.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct Redis {
    child: Option<Child>,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// More `redis-server` arguments (after the defaults, so they win).
    server_args: Vec<String>,
    /// More `redis-cli` arguments (`--tls --cacert …`, `--user … --pass …`).
    cli_args: Vec<String>,
    /// The port speaks TLS only (`rediss://`).
    tls: bool,
}

impl Redis {
    /// Start a server whose data lives in `dir/redis`; waits until it answers.
    pub fn start(dir: &Path) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = Redis {
            child: None,
            dir: dir.join("redis"),
            port,
            server_args: Vec::new(),
            cli_args: Vec::new(),
            tls: false,
        };
        std::fs::create_dir_all(&r.dir).unwrap();
        r.spawn();
        r
    }

    /// As [`Redis::start`] with `server_args` after the defaults (`{port}` in
    /// one is replaced by the server's port), `cli_args` for every `redis-cli`,
    /// and, when `tls`, a TLS-only port (the caller passes `--port 0 --tls-port
    /// {port}` and the certificates): [`Redis::url`] is then `rediss://`.
    pub fn start_with(dir: &Path, server_args: &[String], cli_args: &[String], tls: bool) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server_args = server_args.iter().map(|a| a.replace("{port}", &port.to_string())).collect();
        let mut r = Redis { child: None, dir: dir.join("redis"), port, server_args, cli_args: cli_args.to_vec(), tls };
        std::fs::create_dir_all(&r.dir).unwrap();
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--dir"])
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"])
            .args(&self.server_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `redis-server` ({e}): the distributed tests need it; `apt-get install redis-server` (.ci/run does)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not answer on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "rediss" } else { "redis" }, self.port)
    }

    /// `redis-cli` against this server; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let o = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--no-raw"])
            .args(&self.cli_args)
            .args(args)
            .output()
            .expect("redis-cli (package redis-tools)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `redis-cli --raw`, for values.
    pub fn raw(&self, args: &[&str]) -> String {
        let o = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"])
            .args(&self.cli_args)
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Stop the server (SIGKILL: as a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
