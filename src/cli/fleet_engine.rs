//! `orchestra workers up|down|status` for the config's `engine:` workers: an
//! `orchestra worker` in a container on a Docker engine, driven through the
//! engine's HTTP API (bollard), never a CLI.
//!
//! Guarantees:
//! - `up` checks every engine entry (a `unix://` or `tcp://` address, the
//!   engine answers, the image exists there) before any container is
//!   created; the SSH hosts are checked before that too (`fleet_ssh`), so one
//!   failing entry is one line and exit 1 with nothing started anywhere;
//! - each container is labelled `orchestra.worker=<name>`, runs with
//!   `--network host`, `seccomp=unconfined`, `systempaths=unconfined` and
//!   `CAP_SYS_ADMIN` (the worker's jail makes its own namespaces inside),
//!   the entry's `mounts` and its `workspace` bind-mounted at the same path;
//!   the worker is the container's PID 1 (no init: the engine's would be
//!   mounted at `/sbin`, which an image whose `/usr` is mounted may not have);
//! - the running orchestra binary and a worker key generated here are
//!   uploaded into the container (`/opt/orchestra/`, the key mode 0600)
//!   before it starts; the key's public half is recorded in `workers.keys`;
//!   the private half is never written outside a temporary directory;
//! - `down` sends SIGTERM (a drain: running tasks finish), waits (bounded)
//!   until the container has stopped, then removes it; one still running is
//!   left alone and reported.

use crate::config::{Loaded, WorkerHost};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt as _;
use orchestra_distributed::keys::{PublicKey, SigningKey};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The label every worker container carries (its value: the worker's name).
pub const LABEL: &str = "orchestra.worker";
/// Where the binary, the key and the state are inside the container.
const DIR: &str = "/opt/orchestra";
/// Seconds before an engine request is abandoned.
const TIMEOUT: u64 = 120;

/// Why an engine worker could not be managed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An entry.
    #[error("worker engine {engine} ({name}): {reason}")]
    Entry {
        /// The entry's `engine`.
        engine: String,
        /// The worker's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Two entries with one name.
    #[error("worker name {0:?} used twice (set `name:`)")]
    Duplicate(String),
    /// The async runtime.
    #[error("tokio runtime: {0}")]
    Runtime(std::io::Error),
}

/// One `engine:` entry, checked.
pub struct EngineTarget {
    entry: WorkerHost,
    /// The engine's address.
    pub engine: String,
    /// The worker's name.
    pub name: String,
    image: String,
    api: Docker,
}

impl EngineTarget {
    fn err(&self, reason: impl std::fmt::Display) -> EngineError {
        EngineError::Entry { engine: self.engine.clone(), name: self.name.clone(), reason: reason.to_string() }
    }

    fn container(&self) -> String {
        format!("orchestra-worker-{}", self.name)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, EngineError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(EngineError::Runtime)
}

/// A client for `address` (no request made yet).
fn client(address: &str) -> Result<Docker, String> {
    let v = &orchestra_sandbox::container::engine::API_VERSION;
    let r = if let Some(path) = address.strip_prefix("unix://") {
        Docker::connect_with_unix(path, TIMEOUT, v)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, TIMEOUT, v)
    } else {
        return Err("not an engine address (unix:///PATH or tcp://HOST:PORT)".into());
    };
    r.map_err(|e| format!("the engine does not answer ({})", cause(&e)))
}

/// The innermost cause of `e`, on one line.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    let outer = e.to_string();
    let inner = last.to_string();
    let text = if std::ptr::eq(last, e) || outer.contains(&inner) { outer } else { format!("{outer}: {inner}") };
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(format!("name {name:?}: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'"));
    }
    Ok(())
}

/// The config's engine entries, resolved (no request made). `taken`: the
/// SSH workers' names.
fn entries(cfg: &Loaded, taken: &[String]) -> Result<Vec<EngineTarget>, EngineError> {
    let mut out: Vec<EngineTarget> = Vec::new();
    for (i, w) in cfg.config.workers.iter().enumerate() {
        let Some(engine) = &w.engine else { continue };
        let name = w.name.clone().unwrap_or_else(|| format!("engine-{}", i + 1));
        let bad = |reason: String| EngineError::Entry { engine: engine.clone(), name: name.clone(), reason };
        check_name(&name).map_err(bad)?;
        if taken.contains(&name) || out.iter().any(|o| o.name == name) {
            return Err(EngineError::Duplicate(name));
        }
        for l in &w.labels {
            orchestra_distributed::queue::check_label(l).map_err(|e| bad(e.to_string()))?;
        }
        for m in &w.mounts {
            let parts: Vec<&str> = m.split(':').collect();
            let ok =
                matches!(parts.as_slice(), [h, c] | [h, c, "ro" | "rw"] if h.starts_with('/') && c.starts_with('/'));
            if !ok {
                return Err(bad(format!("mount {m:?}: not HOST:CONTAINER[:ro] with absolute paths")));
            }
        }
        if let Some(ws) = &w.workspace
            && !ws.starts_with('/')
        {
            return Err(bad(format!("workspace {ws:?}: not an absolute path")));
        }
        let api = client(engine).map_err(bad)?;
        let image = w.image.clone().unwrap_or_default();
        out.push(EngineTarget { entry: w.clone(), engine: engine.clone(), name, image, api });
    }
    Ok(out)
}

/// Check every engine entry: the engine answers and has the image. Nothing
/// is changed.
pub fn check(cfg: &Loaded, taken: &[String]) -> Result<Vec<EngineTarget>, EngineError> {
    let targets = entries(cfg, taken)?;
    let rt = runtime()?;
    for t in &targets {
        rt.block_on(async {
            t.api.ping().await.map_err(|e| t.err(format!("the engine does not answer ({})", cause(&e))))?;
            match t.api.inspect_image(&t.image).await {
                Ok(_) => Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    Err(t.err(format!("image {:?} is not on the engine (pull or import it there)", t.image)))
                }
                Err(e) => Err(t.err(format!("image {:?}: {}", t.image, cause(&e)))),
            }
        })?;
    }
    Ok(targets)
}

/// The worker containers of `t` (any state): (id, state).
async fn find(t: &EngineTarget) -> Result<Vec<(String, String)>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL}={}", t.name)])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let list = t.api.list_containers(Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
    Ok(list
        .into_iter()
        .map(|c| {
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            (c.id.unwrap_or_default(), state)
        })
        .collect())
}

/// A ustar header (owner root, mtime 0).
fn header(path: &str, mode: u32, size: u64, kind: u8) -> Result<[u8; 512], String> {
    let mut h = [0u8; 512];
    if path.len() >= 100 {
        return Err(format!("{path}: name too long for the archive"));
    }
    h[..path.len()].copy_from_slice(path.as_bytes());
    let mut put = |at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    put(100, 8, u64::from(mode));
    put(108, 8, 0);
    put(116, 8, 0);
    put(124, 12, size);
    put(136, 12, 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

/// A ustar archive: `dirs` (mode 0755) then `files` (path, mode, contents).
fn tar(dirs: &[&str], files: &[(&str, u32, &[u8])]) -> Result<Vec<u8>, String> {
    let total: usize = files.iter().map(|f| f.2.len() + 1024).sum::<usize>() + dirs.len() * 512 + 1024;
    let mut out = Vec::with_capacity(total);
    for d in dirs {
        out.extend_from_slice(&header(d, 0o755, 0, b'5')?);
    }
    for (path, mode, data) in files {
        out.extend_from_slice(&header(path, *mode, data.len() as u64, b'0')?);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

/// The archive of `/opt/orchestra/` with `exe` as its `orchestra` (read
/// straight into the archive: the binary is not held twice).
fn binary_archive(exe: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let why = |e: std::io::Error| format!("{}: {e}", exe.display());
    let f = std::fs::File::open(exe).map_err(why)?;
    let size = f.metadata().map_err(why)?.len();
    let mut out = tar(&["opt/", "opt/orchestra/", "opt/orchestra/state/"], &[])?;
    out.truncate(out.len() - 1024);
    out.reserve(usize::try_from(size).map_err(|e| e.to_string())? + 2048);
    out.extend_from_slice(&header("opt/orchestra/orchestra", 0o755, size, b'0')?);
    let got = f.take(size).read_to_end(&mut out).map_err(why)?;
    if got as u64 != size {
        return Err(format!("{}: changed while it was read", exe.display()));
    }
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    Ok(out)
}

/// What `start` needs besides the targets.
pub struct StartArgs<'a> {
    /// The queue URL the workers dial.
    pub queue: &'a str,
    /// The orchestrator's public key.
    pub fleet: PublicKey,
    /// `distributed.lease`.
    pub lease: Option<Duration>,
    /// This orchestra.
    pub exe: &'a Path,
}

/// Create, fill and start one container per target (one already running
/// is left as it is); returns (name, the new worker's public key, what happened).
pub fn start(
    targets: &[EngineTarget],
    args: &StartArgs<'_>,
) -> Result<Vec<(String, Option<PublicKey>, String)>, EngineError> {
    let rt = runtime()?;
    let mut out = Vec::new();
    let binary: bytes::Bytes = binary_archive(args.exe)
        .map_err(|reason| EngineError::Entry { engine: String::new(), name: String::new(), reason })?
        .into();
    for t in targets {
        let began = Instant::now();
        if let Some((id, _)) = rt.block_on(find(t))?.into_iter().find(|(_, s)| s == "running") {
            let short: String = id.chars().take(12).collect();
            out.push((
                t.name.clone(),
                None,
                format!("already running (container {short}; `workers down` then `up` to restart it)"),
            ));
            continue;
        }
        let dir = tempfile::tempdir().map_err(|e| t.err(format!("temporary directory: {e}")))?;
        let key_path = dir.path().join("worker.key");
        let key = SigningKey::generate(&key_path).map_err(|e| t.err(e))?;
        let key_bytes = std::fs::read(&key_path).map_err(|e| t.err(format!("{}: {e}", key_path.display())))?;
        drop(dir);
        let key_archive = tar(&[], &[("opt/orchestra/worker.key", 0o600, &key_bytes)]).map_err(|e| t.err(e))?;
        let public = key.public();
        let id = rt.block_on(async {
            for (old, _) in find(t).await? {
                let opts = RemoveContainerOptions { force: true, v: true, link: false };
                t.api.remove_container(&old, Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
            }
            let id = create(t, args).await?;
            let upload = async {
                let opts = UploadToContainerOptions { path: "/".into(), ..Default::default() };
                t.api.upload_to_container(&id, Some(opts.clone()), bollard::body_full(binary.clone())).await?;
                t.api.upload_to_container(&id, Some(opts), bollard::body_full(key_archive.into())).await?;
                t.api.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>).await
            };
            if let Err(e) = upload.await {
                let opts = RemoveContainerOptions { force: true, v: true, link: false };
                let _ = t.api.remove_container(&id, Some(opts)).await;
                return Err(t.err(cause(&e)));
            }
            ready(t, &id).await?;
            Ok(id)
        })?;
        let short: String = id.chars().take(12).collect();
        out.push((
            t.name.clone(),
            Some(public),
            format!("started in container {short} on {} ({:.1}s)", t.engine, began.elapsed().as_secs_f64()),
        ));
    }
    Ok(out)
}

async fn create(t: &EngineTarget, args: &StartArgs<'_>) -> Result<String, EngineError> {
    let mut cmd: Vec<String> = vec![
        format!("{DIR}/orchestra"),
        "worker".into(),
        "--queue".into(),
        args.queue.to_string(),
        "--key".into(),
        format!("{DIR}/worker.key"),
        "--trust-orchestrator".into(),
        args.fleet.to_string(),
        "--state-dir".into(),
        format!("{DIR}/state"),
        "--name".into(),
        t.name.clone(),
        "--capacity".into(),
        t.entry.capacity.to_string(),
    ];
    if !t.entry.labels.is_empty() {
        cmd.push("--labels".into());
        cmd.push(t.entry.labels.join(","));
    }
    if let Some(lease) = args.lease {
        cmd.push("--lease".into());
        cmd.push(format!("{}ms", lease.as_millis()));
    }
    let mut binds = t.entry.mounts.clone();
    if let Some(ws) = &t.entry.workspace {
        binds.push(format!("{ws}:{ws}"));
        cmd.push("--workspace".into());
        cmd.push(ws.clone());
    }
    let body = ContainerCreateBody {
        image: Some(t.image.clone()),
        cmd: Some(cmd),
        labels: Some(HashMap::from([(LABEL.to_string(), t.name.clone())])),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            security_opt: Some(vec!["seccomp=unconfined".into()]),
            // The CLI's `systempaths=unconfined`: nothing of /proc, /sys masked or read-only.
            masked_paths: Some(Vec::new()),
            readonly_paths: Some(Vec::new()),
            cap_add: Some(vec!["SYS_ADMIN".into()]),
            binds: Some(binds),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptions { name: Some(t.container()), ..Default::default() };
    let made = t.api.create_container(Some(opts), body).await.map_err(|e| t.err(cause(&e)))?;
    Ok(made.id)
}

/// The container's output so far (stdout and stderr).
async fn logs(t: &EngineTarget, id: &str) -> String {
    let opts = LogsOptions { stdout: true, stderr: true, tail: "50".into(), ..Default::default() };
    let mut s = t.api.logs(id, Some(opts));
    let mut text = String::new();
    while let Some(Ok(chunk)) = s.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}

/// Wait (15 s) until the worker says it is serving; an exited one is an error.
async fn ready(t: &EngineTarget, id: &str) -> Result<(), EngineError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = logs(t, id).await;
        if text.lines().any(|l| l.starts_with("orchestra: worker ") && l.contains(" on ")) {
            return Ok(());
        }
        let state = t
            .api
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| t.err(cause(&e)))?
            .state
            .and_then(|s| s.running);
        if state == Some(false) {
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(t.err(format!("the worker exited: {}", tail.join(" "))));
        }
        if Instant::now() > deadline {
            return Err(t.err("the worker did not report ready within 15s (see `docker logs`)"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `workers down` for the engine entries: SIGTERM, wait up to `wait`, remove.
/// Returns false when one could not be stopped (each said on stderr).
pub fn down(cfg: &Loaded, taken: &[String], wait: Duration) -> Result<bool, EngineError> {
    let targets = entries(cfg, taken)?;
    let rt = runtime()?;
    let mut ok = true;
    for t in &targets {
        let r = rt.block_on(async {
            let found = find(t).await?;
            if found.is_empty() {
                outln!("{}: no container", t.name);
                return Ok(());
            }
            for (id, state) in found {
                let short: String = id.chars().take(12).collect();
                let began = Instant::now();
                if state == "running" {
                    let kill = KillContainerOptions { signal: "SIGTERM".into() };
                    t.api.kill_container(&id, Some(kill)).await.map_err(|e| t.err(cause(&e)))?;
                    let deadline = began + wait;
                    loop {
                        let running = t
                            .api
                            .inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>)
                            .await
                            .map_err(|e| t.err(cause(&e)))?
                            .state
                            .and_then(|s| s.running)
                            .unwrap_or(false);
                        if !running {
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err(t.err(format!(
                                "container {short} still running after {}s (draining; left alone)",
                                wait.as_secs()
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                let opts = RemoveContainerOptions { force: false, v: true, link: false };
                t.api.remove_container(&id, Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
                outln!(
                    "{}: stopped and removed container {short} (drained in {:.1}s)",
                    t.name,
                    began.elapsed().as_secs_f64()
                );
            }
            Ok::<(), EngineError>(())
        });
        if let Err(e) = r {
            crate::sandbox::say!("orchestra: error: {e}");
            ok = false;
        }
    }
    Ok(ok)
}

/// `workers status` for the engine entries: each container's state.
pub fn states(cfg: &Loaded, taken: &[String], json: bool) -> Result<(), EngineError> {
    let targets = entries(cfg, taken)?;
    let rt = runtime()?;
    for t in &targets {
        let (state, id) = match rt.block_on(find(t)) {
            Ok(found) => match found.into_iter().next() {
                Some((id, state)) => (state, Some(id.chars().take(12).collect::<String>())),
                None => ("no container".to_string(), None),
            },
            Err(EngineError::Entry { reason, .. }) => (reason, None),
            Err(e) => (e.to_string(), None),
        };
        if json {
            outln!(
                "{}",
                serde_json::json!({"type": "host", "name": t.name, "engine": t.engine, "state": state, "container": id})
            );
        } else {
            let id = id.map(|i| format!(" (container {i})")).unwrap_or_default();
            outln!("  {:<24} {:<28} {state}{id}", t.name, t.engine);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_ustar_with_modes() {
        let a = tar(&["opt/"], &[("opt/k", 0o600, b"secret")]).unwrap();
        assert_eq!(a.len() % 512, 0);
        assert_eq!(&a[257..263], b"ustar\0");
        assert_eq!(a[156], b'5');
        let f = &a[512..1024];
        assert_eq!(&f[..5], b"opt/k");
        assert_eq!(&f[100..107], b"0000600");
        assert_eq!(&f[124..135], b"00000000006");
        assert_eq!(&a[1024..1030], b"secret");
        // The checksum: the header's bytes with the field as spaces.
        let mut h = f.to_vec();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(std::str::from_utf8(&f[148..154]).unwrap(), format!("{sum:06o}"));
    }

    #[test]
    fn the_binary_archive_holds_the_file_after_its_directories() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bin");
        std::fs::write(&p, vec![7u8; 1000]).unwrap();
        let a = binary_archive(&p).unwrap();
        assert_eq!(a.len(), 3 * 512 + 512 + 1024 + 1024);
        assert_eq!(&a[3 * 512..3 * 512 + 23], b"opt/orchestra/orchestra");
        assert_eq!(&a[3 * 512 + 100..3 * 512 + 107], b"0000755");
        assert!(a[4 * 512..4 * 512 + 1000].iter().all(|b| *b == 7));
        assert!(a[4 * 512 + 1000..].iter().all(|b| *b == 0));
    }

    #[test]
    fn bad_addresses_are_refused_before_any_request() {
        assert!(client("ftp://x").is_err());
        assert!(client("unix:///var/run/docker.sock").is_ok());
    }
}
