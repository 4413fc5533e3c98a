//! An SSH server for `orchestra workers up|down`: Debian's `sshd`
//! (openssh-server, installed by `.ci/run`) in a Docker container on a
//! loopback port, with a host key, a client key and an ssh client config
//! (known_hosts) all generated in the test's directory.
//!
//! The image is built offline ([`super::rootfs`]: a skeleton rootfs with
//! `/run/sshd` and a marker file); the host's `/usr` and
//! `/etc` are mounted read-only, so sshd, the shell and orchestra's own
//! libraries come from the host. `--network host` (sshd listens on
//! 127.0.0.1 only; Redis on loopback is reachable as is; sshd, PID 1, reaps
//! the detached worker), and `--security-opt seccomp=unconfined
//! --security-opt systempaths=unconfined --cap-add SYS_ADMIN` so that the
//! jail of the worker inside can create its namespaces and mount its /proc as
//! on a host (without systempaths=unconfined the tasks fail). The
//! directory `share` is bind-mounted at the same path (the tests' workspace
//! and blob store). Removed when dropped. A missing sshd or Docker fails the test.

use super::rootfs::{Skeleton, host_like, image};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A file only the container's root filesystem has.
pub const MARKER: &str = "/orchestra-sshd-container";

/// The skeleton image sshd runs in ([`super::rootfs`]).
const SKELETON: Skeleton =
    Skeleton { tag: "orchestra-sshd-rootfs:1", marker: MARKER, dirs: &["run/sshd", "var/empty", "sshd"] };

fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "orchestra-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (package openssh-client)");
    assert!(o.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&o.stderr));
}

/// An sshd in a container.
pub struct Sshd {
    pub name: String,
    pub port: u16,
    pub dir: PathBuf,
    /// The client key `authorized_keys` holds.
    pub client_key: PathBuf,
    /// The host key's public line (`ssh-ed25519 AAAA…`).
    pub host_public: String,
    /// The ssh client config to pass as `ORCHESTRA_SSH_CONFIG` (its known_hosts: [`Sshd::known_hosts`]).
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
}

impl Sshd {
    /// Start sshd in `dir/sshd` with `share` bind-mounted at its own path.
    pub fn start(dir: &Path, share: &Path) -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "/usr/sbin/sshd is missing: the SSH worker tests need it; `apt-get install openssh-server` (.ci/run does)"
        );
        let dir = dir.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(client_key.with_extension("pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey /sshd/host_ed25519\nAuthorizedKeysFile /sshd/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPidFile none\nSubsystem sftp internal-sftp\n"
            ),
        )
        .unwrap();
        let host_public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let host_public = host_public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_public}\n")).unwrap();
        let ssh_config = dir.join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!("UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\n", known_hosts.display()),
        )
        .unwrap();
        let name = format!("orchestra-sshd-{}-{port}", std::process::id());
        let o = Command::new("docker")
            .args(["run", "-d", "--rm", "--name", &name, "--label", "orchestra.test=sshd"])
            .args(host_like(share))
            .arg("-v")
            .arg(format!("{}:/sshd:ro", dir.display()))
            .args([image(&SKELETON), "/usr/sbin/sshd", "-D", "-e", "-f", "/sshd/sshd_config"])
            .output()
            .expect("docker run");
        assert!(o.status.success(), "docker run sshd: {}", String::from_utf8_lossy(&o.stderr));
        let s = Sshd { name, port, dir, client_key, host_public, ssh_config, known_hosts };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}: {}", s.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// `root@127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("root@127.0.0.1:{}", self.port)
    }

    /// A key pair `authorized_keys` does not hold.
    pub fn stranger_key(&self) -> PathBuf {
        let k = self.dir.join("stranger_ed25519");
        if !k.exists() {
            keygen(&k);
        }
        k
    }

    /// `sh -c SCRIPT` in the container (docker exec): (exit code, stdout).
    pub fn exec(&self, script: &str) -> (i32, String) {
        let o =
            Command::new("docker").args(["exec", &self.name, "/bin/sh", "-c", script]).output().expect("docker exec");
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// sshd's own log.
    pub fn logs(&self) -> String {
        let o = Command::new("docker").args(["logs", &self.name]).output().expect("docker logs");
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}
