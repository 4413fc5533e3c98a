//! `orchestra workers up|down` and the hosts' half of `workers status`: the
//! config's `workers:` hosts (its `engine:` entries: `fleet_engine`), reached with the system OpenSSH client (it
//! honours `~/.ssh/config` and `known_hosts`; `ORCHESTRA_SSH_CONFIG` names
//! another config file, `ssh -F`).
//!
//! Guarantees:
//! - every `ssh` runs with `BatchMode=yes`, `StrictHostKeyChecking=yes`,
//!   `IdentitiesOnly=yes` and the entry's `ssh_key`: an unknown or changed
//!   host key is refused, never accepted, and no password is ever asked;
//! - `up` checks every host (reachable, host key known, key accepted,
//!   architecture) before it changes anything on any host: one failing host
//!   is one line and exit 1 with nothing started anywhere;
//! - the binary is copied only when its sha256 differs, to a temporary name,
//!   checked on the host, then renamed over the old one;
//! - a running worker whose executable (the kernel's view, `/proc/PID/exe`:
//!   the installed file when device and inode match, else hashed itself) is
//!   not this binary is restarted by `up`: SIGTERM (it drains: running tasks
//!   finish), a bounded wait (`--wait`), then the new one; its key stays;
//! - each worker's public key is read back over the authenticated SSH session
//!   and recorded in `workers.keys` beside the config file (temp + fsync +
//!   rename); `run --queue` trusts the keys listed there;
//! - `up --tunnel PORT` keeps a local `ssh -N -R 127.0.0.1:PORT:<queue>`
//!   per host (pid files in `workers.tunnels/` beside the config) and gives
//!   the worker `redis://127.0.0.1:PORT`;
//! - `down` sends SIGTERM (a drain: running tasks finish), waits until the
//!   process is gone, then closes the tunnels.

use crate::config::{Loaded, WorkerHost};
use crate::exit::Exit;
use orchestra_distributed::keys::{PublicKey, SigningKey};
use sha2::Digest as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The file beside the config that lists the workers `workers up` started.
pub const KEYS_FILE: &str = "workers.keys";

/// Why a `workers` command over SSH failed.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// A setting.
    #[error("{0}")]
    Setting(String),
    /// A host.
    #[error("worker host {host}: {reason}")]
    Host {
        /// The config's `host`.
        host: String,
        /// Why.
        reason: String,
    },
    /// An `engine:` worker.
    #[error(transparent)]
    Engine(#[from] super::fleet_engine::EngineError),
    /// The fleet key.
    #[error(transparent)]
    Key(#[from] orchestra_distributed::keys::KeyError),
    /// A local file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One `workers:` entry, resolved.
struct Target {
    entry: WorkerHost,
    /// The entry's `host`.
    host: String,
    /// The entry's `ssh_key`, `~` resolved.
    ssh_key: PathBuf,
    dest: String,
    port: Option<u16>,
    name: String,
    /// A shell expression for the remote directory (`"$HOME"/…` or a quoted path).
    dir: String,
}

/// What the first look at a host found.
#[derive(Debug, Default)]
struct Probe {
    /// The installed binary's sha256.
    sha: Option<String>,
    /// The running worker's pid.
    pid: Option<u32>,
    /// The sha256 of the running worker's executable (`None`: unreadable).
    running_sha: Option<String>,
    arch: String,
}

/// Single-quote `s` for a POSIX shell.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn parse_host(host: &str) -> (String, Option<u16>) {
    if let Some((h, p)) = host.rsplit_once(':')
        && !h.contains(':')
        && let Ok(port) = p.parse::<u16>()
    {
        return (h.to_string(), Some(port));
    }
    (host.to_string(), None)
}

fn default_name(dest: &str) -> String {
    let h = dest.rsplit_once('@').map_or(dest, |(_, h)| h);
    h.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).take(64).collect()
}

impl Target {
    fn new(entry: &WorkerHost, host: &str) -> Result<Target, SshError> {
        let (dest, port) = parse_host(host.trim());
        let bad = |reason: String| SshError::Host { host: host.to_string(), reason };
        if dest.is_empty() || dest.starts_with('-') {
            return Err(bad("not `user@host[:port]` or `host`".into()));
        }
        let name = entry.name.clone().unwrap_or_else(|| default_name(&dest));
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(bad(format!("name {name:?}: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'")));
        }
        let raw = entry.remote_dir.clone().unwrap_or_else(|| "~/.orchestra".into());
        let dir = if raw == "~" {
            "\"$HOME\"".to_string()
        } else if let Some(rest) = raw.strip_prefix("~/") {
            format!("\"$HOME\"/{}", q(rest))
        } else if raw.starts_with('/') {
            q(&raw)
        } else {
            return Err(bad(format!("remote_dir {raw:?}: an absolute path or ~/…")));
        };
        for l in &entry.labels {
            orchestra_distributed::queue::check_label(l).map_err(|e| bad(e.to_string()))?;
        }
        let mut ssh_key = entry.ssh_key.clone().unwrap_or_default();
        if let Ok(rest) = ssh_key.strip_prefix("~")
            && let Some(home) = std::env::var_os("HOME")
        {
            ssh_key = PathBuf::from(home).join(rest);
        }
        Ok(Target { entry: entry.clone(), host: host.to_string(), ssh_key, dest, port, name, dir })
    }

    fn err(&self, reason: impl Into<String>) -> SshError {
        SshError::Host { host: self.host.clone(), reason: reason.into() }
    }

    /// `ssh` with the fixed options, ready for a remote command.
    fn ssh(&self) -> Command {
        self.ssh_with(&[])
    }

    /// `ssh` with the fixed options and `extra` ones, then the destination.
    fn ssh_with(&self, extra: &[String]) -> Command {
        let mut c = Command::new("ssh");
        if let Some(f) = std::env::var_os("ORCHESTRA_SSH_CONFIG").filter(|f| !f.is_empty()) {
            c.arg("-F").arg(f);
        }
        c.args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]);
        c.args(["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-i"]).arg(&self.ssh_key);
        if let Some(p) = self.port {
            c.arg("-p").arg(p.to_string());
        }
        c.args(extra);
        c.arg("--").arg(&self.dest);
        c
    }

    /// Run `script` on the host (after the helper functions); its stdout.
    /// `input`: a file for its stdin.
    fn run(&self, script: &str, input: Option<&Path>) -> Result<String, SshError> {
        let full = format!(
            "set -u\nd={dir}\nalive() {{ p=$(cat \"$d/worker.pid\" 2>/dev/null) && [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && tr '\\0' ' ' < \"/proc/$p/cmdline\" 2>/dev/null | grep -q ' worker '; }}\n{script}",
            dir = self.dir
        );
        let mut c = self.ssh();
        c.arg(full);
        match input {
            Some(p) => {
                let f = std::fs::File::open(p).map_err(|source| SshError::Io { path: p.to_path_buf(), source })?;
                c.stdin(f);
            }
            None => {
                c.stdin(Stdio::null());
            }
        }
        let o = c.output().map_err(|e| self.err(format!("cannot run ssh: {e}")))?;
        let stderr = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            return Err(self.err(self.explain(o.status.code(), &stderr)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// One line saying why an ssh command failed.
    fn explain(&self, code: Option<i32>, stderr: &str) -> String {
        let last = stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("").to_string();
        if code != Some(255) {
            return format!("the remote command failed (exit {}): {last}", code.unwrap_or(-1));
        }
        if stderr.contains("Host key verification failed") || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            return "host key unknown or changed (refused; check its fingerprint, then add it to known_hosts)".into();
        }
        if stderr.contains("Permission denied") {
            return format!("ssh_key {} was refused ({last})", self.ssh_key.display());
        }
        format!("unreachable ({last})")
    }

    fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
        out.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('='))).map(str::trim)
    }

    /// Look at the host without changing anything. The running worker's
    /// executable is the installed file when `/proc/PID/exe` has its device
    /// and inode (an upload renames a new file over it, so a replaced binary
    /// has another inode); otherwise it is hashed through `/proc/PID/exe`.
    fn probe(&self) -> Result<Probe, SshError> {
        let out = self.run(
            "if [ -f \"$d/bin/orchestra\" ]; then echo \"sha=$(sha256sum \"$d/bin/orchestra\" | cut -d' ' -f1)\"; fi\n\
             if alive; then echo \"pid=$p\"\n\
               e=$(stat -Lc %d:%i \"/proc/$p/exe\" 2>/dev/null); f=$(stat -Lc %d:%i \"$d/bin/orchestra\" 2>/dev/null)\n\
               if [ -n \"$e\" ] && [ \"$e\" = \"$f\" ]; then echo run=installed\n\
               else echo \"run=$(sha256sum < \"/proc/$p/exe\" 2>/dev/null | cut -d' ' -f1)\"; fi\n\
             fi\n\
             echo \"arch=$(uname -m)\"\n",
            None,
        )?;
        let sha = Target::field(&out, "sha").map(str::to_string);
        let running_sha = match Target::field(&out, "run") {
            Some("installed") => sha.clone(),
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Some(h.to_string()),
            _ => None,
        };
        Ok(Probe {
            sha,
            pid: Target::field(&out, "pid").and_then(|p| p.parse().ok()),
            running_sha,
            arch: Target::field(&out, "arch").unwrap_or_default().to_string(),
        })
    }

    /// SIGTERM the running worker (it drains); its pid, `None` when none runs.
    fn signal(&self) -> Result<Option<String>, SshError> {
        let out =
            self.run("if alive; then kill -TERM \"$p\" && echo \"pid=$p\"; else rm -f \"$d/worker.pid\"; fi\n", None)?;
        Ok(Target::field(&out, "pid").map(str::to_string))
    }

    /// Wait up to `wait` for the signalled worker to exit; whether it did.
    fn wait_gone(&self, wait: Duration) -> Result<bool, SshError> {
        let ticks = (wait.as_millis() / 200).max(1);
        let script = format!(
            "i=0\nwhile alive; do if [ $i -ge {ticks} ]; then echo still; exit 0; fi; sleep 0.2; i=$((i+1)); done\n\
             rm -f \"$d/worker.pid\"; echo gone\n"
        );
        Ok(self.run(&script, None)?.trim() == "gone")
    }
}

/// The targets of a config, in order; names unique.
fn targets(cfg: &Loaded) -> Result<Vec<Target>, SshError> {
    if cfg.config.workers.is_empty() {
        return Err(SshError::Setting(format!("{}: no `workers:` hosts", cfg.origin)));
    }
    let mut out: Vec<Target> = Vec::new();
    for w in &cfg.config.workers {
        // Engine entries are `fleet_engine`'s.
        let Some(host) = &w.host else { continue };
        let t = Target::new(w, host)?;
        if out.iter().any(|o| o.name == t.name) {
            return Err(t.err(format!("worker name {:?} used twice (set `name:`)", t.name)));
        }
        out.push(t);
    }
    Ok(out)
}

/// `workers.keys` beside the config file (none without a config file).
pub fn keys_file(cfg: &Loaded) -> Option<PathBuf> {
    let p = cfg.path.as_ref()?;
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(dir.join(KEYS_FILE))
}

/// The `name ed25519:…` lines of a keys file (absent: none).
pub fn read_keys(path: &Path) -> Result<Vec<(String, PublicKey)>, SshError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SshError::Io { path: path.to_path_buf(), source }),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| SshError::Setting(format!("{}:{}: {why}", path.display(), i + 1));
        let (name, key) = line.split_once(' ').ok_or_else(|| bad("expected `NAME ed25519:…`".into()))?;
        let key: PublicKey =
            key.trim().parse().map_err(|e: orchestra_distributed::keys::KeyError| bad(e.to_string()))?;
        out.push((name.to_string(), key));
    }
    Ok(out)
}

fn write_keys(path: &Path, keys: &[(String, PublicKey)]) -> Result<(), SshError> {
    let io = |source| SshError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    writeln!(tmp, "# worker public keys read over SSH by `orchestra workers up`; `run --queue` trusts them")
        .map_err(io)?;
    for (n, k) in keys {
        writeln!(tmp, "{n} {k}").map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, SshError> {
    let io = |source| SshError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io)?;
    Ok(format!("{:x}", h.finalize()))
}

/// The queue URL: the flag, else `ORCHESTRA_QUEUE`, else `distributed.queue`.
fn queue_url(flag: Option<String>, cfg: &Loaded) -> Option<String> {
    let env = std::env::var("ORCHESTRA_QUEUE").ok().filter(|q| !q.trim().is_empty());
    flag.or(env).or(cfg.config.distributed.as_ref().and_then(|d| d.queue.clone()))
}

fn load(config: Option<&Path>) -> Result<Loaded, SshError> {
    let cwd = std::env::current_dir().map_err(|source| SshError::Io { path: ".".into(), source })?;
    crate::config::load(config, &cwd).map_err(|e| SshError::Setting(e.to_string()))
}

/// `orchestra workers up`; `wait`: how long a worker started from another
/// binary may drain before it is restarted.
pub fn up(config: Option<&Path>, queue: Option<String>, tunnel: Option<u16>, wait: Duration) -> Exit {
    let mut started = Vec::new();
    match run_up(config, queue, tunnel, wait, &mut started) {
        Ok(()) => Exit::Ok,
        Err(e) if started.is_empty() => super::config_error(format!("{e}; nothing started")),
        Err(e) => super::config_error(format!("{e}; started before it: {}", started.join(", "))),
    }
}

/// Where `up --tunnel` keeps its local ssh processes' pid files and logs.
fn tunnel_dir(keys_path: &Path) -> PathBuf {
    keys_path.with_file_name("workers.tunnels")
}

/// The pid in `file` when it is a live `ssh … -R …` process.
fn live_tunnel(file: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
    let is_ssh = args.first().is_some_and(|a| a.ends_with(b"ssh")) && args.contains(&b"-R".as_slice());
    is_ssh.then_some(pid)
}

/// Start (or keep) the local `ssh -N -R 127.0.0.1:PORT:HOST:PORT` for `t`.
fn tunnel(t: &Target, dir: &Path, remote_port: u16, redis: &(String, u16)) -> Result<(), SshError> {
    let io = |path: &Path, source| SshError::Io { path: path.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let pid_file = dir.join(format!("{}.pid", t.name));
    if let Some(pid) = live_tunnel(&pid_file) {
        // The old tunnel frees the remote port before the new one asks for it.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_tunnel(&pid_file).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let log_path = dir.join(format!("{}.log", t.name));
    let log = std::fs::File::create(&log_path).map_err(|e| io(&log_path, e))?;
    let err = log.try_clone().map_err(|e| io(&log_path, e))?;
    let forward = format!("127.0.0.1:{remote_port}:{}:{}", redis.0, redis.1);
    let extra: Vec<String> = ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15", "-R", &forward]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut c = t.ssh_with(&extra);
    c.stdin(Stdio::null()).stdout(log).stderr(err);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.spawn().map_err(|e| t.err(format!("cannot run ssh: {e}")))?;
    // ExitOnForwardFailure: a forward the host refuses ends ssh at once.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(t.err(format!("the tunnel's ssh exited ({status}): {}", t.explain(status.code(), &text))));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&pid_file, format!("{}\n", child.id())).map_err(|e| io(&pid_file, e))?;
    Ok(())
}

fn stop_tunnels(cfg: &Loaded, targets: &[Target]) {
    let Some(keys) = keys_file(cfg) else { return };
    let dir = tunnel_dir(&keys);
    for t in targets {
        let file = dir.join(format!("{}.pid", t.name));
        if let Some(pid) = live_tunnel(&file) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            outln!("{}: tunnel closed (ssh pid {pid})", t.name);
        }
        let _ = std::fs::remove_file(&file);
    }
}

fn run_up(
    config: Option<&Path>,
    queue: Option<String>,
    tunnel_port: Option<u16>,
    wait: Duration,
    started_names: &mut Vec<String>,
) -> Result<(), SshError> {
    let cfg = load(config)?;
    let targets = targets(&cfg)?;
    let url = queue_url(queue, &cfg)
        .ok_or_else(|| SshError::Setting("no queue: pass --queue, set ORCHESTRA_QUEUE or distributed.queue".into()))?;
    orchestra_distributed::queue::Queue::open(&url).map_err(|e| SshError::Setting(e.to_string()))?;
    // With --tunnel: the workers dial 127.0.0.1:PORT on their host, which the
    // local ssh forwards to the queue's host and port.
    let redis_addr = match tunnel_port {
        None => None,
        Some(_) => {
            let parsed = orchestra_distributed::redis::parse_redis_url(&url)
                .ok_or_else(|| SshError::Setting(format!("--queue {url:?}: not a Redis URL")))?;
            if parsed.scheme() != "redis" {
                return Err(SshError::Setting(
                    "--tunnel needs a redis:// queue (rediss:// checks the host name)".into(),
                ));
            }
            let host = parsed.host_str().unwrap_or("127.0.0.1").trim_matches(['[', ']']).to_string();
            Some((host, parsed.port().unwrap_or(6379)))
        }
    };
    let worker_url = match tunnel_port {
        Some(p) => {
            let mut u = orchestra_distributed::redis::parse_redis_url(&url)
                .ok_or_else(|| SshError::Setting(format!("--queue {url:?}: not a Redis URL")))?;
            u.set_host(Some("127.0.0.1")).map_err(|e| SshError::Setting(format!("--queue: {e}")))?;
            u.set_port(Some(p)).map_err(|_| SshError::Setting("--queue: cannot set its port".into()))?;
            u.to_string()
        }
        None => url.clone(),
    };
    let keys_path = keys_file(&cfg).ok_or_else(|| SshError::Setting("workers up needs a config file".into()))?;
    let mut recorded = read_keys(&keys_path)?;
    for t in &targets {
        if let Err(source) = std::fs::File::open(&t.ssh_key) {
            return Err(t.err(format!("ssh_key {}: {source}", t.ssh_key.display())));
        }
    }
    // Every host first: nothing changes anywhere (nor here) unless all of them answer.
    let mut probes = Vec::new();
    for t in &targets {
        let p = t.probe()?;
        if p.arch != std::env::consts::ARCH {
            return Err(t.err(format!(
                "its machine is {:?}, this orchestra is built for {}",
                p.arch,
                std::env::consts::ARCH
            )));
        }
        probes.push(p);
    }
    let ssh_names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let engines = super::fleet_engine::check(&cfg, &ssh_names)?;
    let exe = std::env::current_exe().map_err(|source| SshError::Io { path: "orchestra".into(), source })?;
    let sha = sha256_file(&exe)?;
    let d = cfg.config.distributed.clone().unwrap_or_default();
    let key_path = d.key.clone().unwrap_or_else(super::fleet::default_fleet_key);
    let created = key_path.symlink_metadata().is_err();
    let fleet_key = SigningKey::load_or_generate(&key_path)?;
    if created {
        crate::sandbox::say!(
            "orchestra: created the fleet key {} (public key {})",
            key_path.display(),
            fleet_key.public()
        );
    }
    // Nothing that can fail for a reason seen above is left: now act.
    for (t, p) in targets.iter().zip(&probes) {
        let started = Instant::now();
        let copied = if p.sha.as_deref() == Some(sha.as_str()) {
            false
        } else {
            t.run(
                &format!(
                    "mkdir -p \"$d/bin\" && t=\"$d/bin/.orchestra.upload.$$\" && cat > \"$t\" && chmod 755 \"$t\" \
                     && s=$(sha256sum \"$t\" | cut -d' ' -f1) && if [ \"$s\" = {sha} ]; then mv -f \"$t\" \"$d/bin/orchestra\"; \
                     else rm -f \"$t\"; echo \"the copy's sha256 is $s\" >&2; exit 1; fi\n",
                    sha = q(&sha)
                ),
                Some(&exe),
            )?;
            true
        };
        // A worker running from another binary drains, then the new one starts.
        let mut restarted = None;
        if let Some(pid) = p.pid.filter(|_| p.running_sha.as_deref() != Some(sha.as_str())) {
            let old = p.running_sha.as_deref().map_or("unknown", super::fleet_engine::short_sha);
            let since = Instant::now();
            if t.signal()?.is_some() && !t.wait_gone(wait)? {
                return Err(t.err(format!(
                    "pid {pid} (binary {old}) still running after {}s (draining; the new binary starts once it is gone: `workers up` again)",
                    wait.as_secs()
                )));
            }
            restarted = Some(format!(
                "restarted: binary changed ({old} -> {}; pid {pid} drained in {:.1}s), ",
                super::fleet_engine::short_sha(&sha),
                since.elapsed().as_secs_f64()
            ));
        }
        if let (Some(port), Some(addr)) = (tunnel_port, &redis_addr) {
            tunnel(t, &tunnel_dir(&keys_path), port, addr)?;
        }
        let mut args: Vec<String> = vec![
            "worker".into(),
            "--queue".into(),
            worker_url.clone(),
            "--name".into(),
            t.name.clone(),
            "--capacity".into(),
            t.entry.capacity.to_string(),
            "--trust-orchestrator".into(),
            fleet_key.public().to_string(),
        ];
        if !t.entry.labels.is_empty() {
            args.push("--labels".into());
            args.push(t.entry.labels.join(","));
        }
        if let Some(lease) = d.lease {
            args.push("--lease".into());
            args.push(format!("{}ms", lease.0.as_millis()));
        }
        if let Some(w) = &t.entry.workspace {
            args.push("--workspace".into());
            args.push(w.clone());
        }
        let quoted: Vec<String> = args.iter().map(|a| q(a)).collect();
        let out = t.run(
            &format!(
                "mkdir -p \"$d/state\" || exit 1\n\
                 pub=$(\"$d/bin/orchestra\" workers keygen --reuse \"$d/worker.key\") || exit 1\n\
                 echo \"pub=$pub\"\n\
                 if alive; then echo \"running=$p\"; exit 0; fi\n\
                 if [ -f \"$d/env\" ]; then set -a; . \"$d/env\"; set +a; fi\n\
                 cd \"$d\" || exit 1\n\
                 echo \"--- $(date -u +%FT%TZ) workers up\" >> \"$d/worker.log\"\n\
                 setsid nohup \"$d/bin/orchestra\" {args} --key \"$d/worker.key\" --state-dir \"$d/state\" >> \"$d/worker.log\" 2>&1 < /dev/null &\n\
                 echo $! > \"$d/worker.pid\"\n\
                 i=0\n\
                 while [ $i -lt 150 ]; do\n\
                   if tail -n 20 \"$d/worker.log\" | grep -q '^orchestra: worker .* on '; then echo \"started=$(cat \"$d/worker.pid\")\"; exit 0; fi\n\
                   if ! alive; then echo 'the worker exited:' >&2; tail -n 3 \"$d/worker.log\" | tr '\\n' ' ' >&2; exit 3; fi\n\
                   sleep 0.1; i=$((i+1))\n\
                 done\n\
                 echo 'the worker did not report ready within 15s (see worker.log)' >&2; exit 3\n",
                args = quoted.join(" ")
            ),
            None,
        )?;
        let public: PublicKey = Target::field(&out, "pub")
            .unwrap_or_default()
            .parse()
            .map_err(|e: orchestra_distributed::keys::KeyError| t.err(format!("its worker key: {e}")))?;
        recorded.retain(|(n, _)| n != &t.name);
        recorded.push((t.name.clone(), public));
        write_keys(&keys_path, &recorded)?;
        let copy = if copied { "binary copied" } else { "binary up to date" };
        let short = super::fleet_engine::short_sha(&sha);
        match (Target::field(&out, "running"), Target::field(&out, "started")) {
            (Some(pid), _) => outln!("{}: already running (pid {pid}), {copy} ({short}), key {public}", t.name),
            (_, Some(pid)) => {
                started_names.push(t.name.clone());
                outln!(
                    "{}: {}started on {} (pid {pid}, {copy} ({short}), {:.1}s), key {public}",
                    t.name,
                    restarted.as_deref().unwrap_or(""),
                    t.host,
                    started.elapsed().as_secs_f64()
                )
            }
            _ => return Err(t.err("the worker's state is unknown (see worker.log)")),
        }
    }
    if !engines.is_empty() {
        let args = super::fleet_engine::StartArgs {
            queue: &url,
            fleet: fleet_key.public(),
            lease: d.lease.map(|l| l.0),
            exe: &exe,
            sha: &sha,
            wait,
        };
        for (name, public, what) in super::fleet_engine::start(&engines, &args)? {
            match public {
                Some(public) => {
                    recorded.retain(|(n, _)| n != &name);
                    recorded.push((name.clone(), public));
                    write_keys(&keys_path, &recorded)?;
                    started_names.push(name.clone());
                    outln!("{name}: {what}, key {public}");
                }
                None => outln!("{name}: {what}"),
            }
        }
    }
    outln!("worker keys recorded in {}", keys_path.display());
    Ok(())
}

/// `orchestra workers down`.
pub fn down(config: Option<&Path>, wait: Duration) -> Exit {
    let run = || -> Result<bool, SshError> {
        let cfg = load(config)?;
        let targets = targets(&cfg)?;
        let mut ok = true;
        let mut signalled = Vec::new();
        for t in &targets {
            match t.signal() {
                Ok(Some(pid)) => signalled.push((t, pid, Instant::now())),
                Ok(None) => outln!("{}: not running", t.name),
                Err(e) => {
                    crate::sandbox::say!("orchestra: error: {e}");
                    ok = false;
                }
            }
        }
        for (t, pid, since) in signalled {
            match t.wait_gone(wait) {
                Ok(true) => {
                    outln!("{}: stopped (pid {pid} drained in {:.1}s)", t.name, since.elapsed().as_secs_f64())
                }
                Ok(false) => {
                    crate::sandbox::say!(
                        "orchestra: error: worker host {}: pid {pid} still running after {}s (draining)",
                        t.host,
                        wait.as_secs()
                    );
                    ok = false;
                }
                Err(e) => {
                    crate::sandbox::say!("orchestra: error: {e}");
                    ok = false;
                }
            }
        }
        stop_tunnels(&cfg, &targets);
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        let engines_ok = super::fleet_engine::down(&cfg, &names, wait)?;
        Ok(ok && engines_ok)
    };
    match run() {
        Ok(true) => Exit::Ok,
        Ok(false) => Exit::Config,
        Err(e) => super::config_error(e),
    }
}

/// The hosts' process state, for `workers status` (`None`: no config hosts).
pub fn host_states(cfg: &Loaded, json: bool) -> Result<(), SshError> {
    if cfg.config.workers.is_empty() {
        return Ok(());
    }
    let targets = targets(cfg)?;
    if !json {
        outln!("hosts ({}):", cfg.origin);
    }
    for t in &targets {
        let (state, pid, sha) = match t.probe() {
            Ok(Probe { pid: Some(p), running_sha, .. }) => ("running".to_string(), Some(p), running_sha),
            Ok(_) => ("not running".to_string(), None, None),
            Err(SshError::Host { reason, .. }) => (reason, None, None),
            Err(e) => (e.to_string(), None, None),
        };
        if json {
            outln!(
                "{}",
                serde_json::json!({"type": "host", "name": t.name, "host": t.host, "state": state, "pid": pid, "binary_sha256": sha})
            );
        } else {
            let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            let sha = match (&sha, pid.is_empty()) {
                (Some(s), _) => format!(", binary {}", super::fleet_engine::short_sha(s)),
                (None, false) => ", binary unknown".to_string(),
                (None, true) => String::new(),
            };
            outln!("  {:<24} {:<28} {state}{pid}{sha}", t.name, t.host);
        }
    }
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    super::fleet_engine::states(cfg, &names, json)?;
    Ok(())
}

/// `workers status`: the queue (when one is known) and the config's hosts.
pub fn status(config: Option<&Path>, queue: Option<String>, json: bool) -> Exit {
    let run = || -> Result<(), SshError> {
        let cfg = load(config)?;
        let url = queue_url(queue, &cfg);
        if url.is_none() && cfg.config.workers.is_empty() {
            return Err(SshError::Setting(
                "no queue and no `workers:` hosts: pass --queue or --config (or set ORCHESTRA_QUEUE)".into(),
            ));
        }
        if let Some(url) = url {
            super::fleet::queue_status(&url, json).map_err(|e| SshError::Setting(e.to_string()))?;
        }
        host_states(&cfg, json)
    };
    match run() {
        Ok(()) => Exit::Ok,
        Err(e) => super::config_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_and_quote() {
        assert_eq!(parse_host("ci@b1:2222"), ("ci@b1".to_string(), Some(2222)));
        assert_eq!(parse_host("b1"), ("b1".to_string(), None));
        assert_eq!(parse_host("::1"), ("::1".to_string(), None));
        assert_eq!(default_name("ci@b1.example.net"), "b1.example.net");
        assert_eq!(q("it's"), r"'it'\''s'");
    }

    #[test]
    fn keys_files_round_trip_and_bad_lines_are_located() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(KEYS_FILE);
        assert!(read_keys(&p).unwrap().is_empty());
        let k = SigningKey::generate(&d.path().join("k")).unwrap().public();
        write_keys(&p, &[("w1".into(), k)]).unwrap();
        assert_eq!(read_keys(&p).unwrap(), vec![("w1".to_string(), k)]);
        std::fs::write(&p, "w1 ed25519:nope\n").unwrap();
        let e = read_keys(&p).unwrap_err().to_string();
        assert!(e.contains("workers.keys:1:"), "{e}");
    }
}
