//! `orchestra workers up|down|status` for the config's `engine:` workers: an
//! `orchestra worker` in a container on a Docker engine, driven through the
//! engine's HTTP API (bollard), never a CLI.
//!
//! Guarantees:
//! - `up` checks every engine entry (a `unix://` or `tcp://` address, the
//!   engine answers, the image exists there) before any container is
//!   created; the SSH hosts are checked before that too (`fleet_ssh`), so one
//!   failing entry is one line and exit 1 with nothing started anywhere;
//! - a `tcp://` engine is reached over TLS when its entry has `tls:`
//!   (`fleet_tls`: the entry's CA only, HTTPS only, the files checked before
//!   any connection); without `tls:` it is refused unless the entry says
//!   `insecure: true` (plain HTTP to an engine is root on its machine for
//!   whoever can reach the port);
//! - each container is labelled with the sha256 of the binary uploaded into
//!   it (`orchestra.binary-sha256`, fixed at creation); `up` restarts a
//!   running worker whose label differs from this binary's sha256: SIGTERM
//!   (it drains), a bounded wait (`--wait`), then a new container with the
//!   same worker key (read from the old one over the API; kept here only
//!   in a private temporary directory while it is checked);
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
    CreateContainerOptions, DownloadFromContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::StreamExt as _;
use orchestra_distributed::keys::{PublicKey, SigningKey};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The label every worker container carries (its value: the worker's name).
pub const LABEL: &str = "orchestra.worker";
/// The label holding the sha256 of the binary uploaded into the container.
pub const BINARY_LABEL: &str = "orchestra.binary-sha256";
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
    /// The archive of the binary (or a key) could not be made.
    #[error("worker engine: {0}")]
    Archive(#[from] ArchiveError),
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

/// Why no client could be made for an entry's engine.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    /// Neither `unix://` nor `tcp://`.
    #[error("not an engine address (unix:///PATH or tcp://HOST:PORT)")]
    Scheme,
    /// `tls:` or `insecure:` on a local socket.
    #[error("`tls` and `insecure` are for tcp:// engines (unix:// is a local socket)")]
    NotTcp,
    /// `tls:` on an `http://` address.
    #[error("http:// is plain HTTP: write tcp://HOST:PORT with `tls:`")]
    TlsOnHttp,
    /// A `tcp://` engine without `tls:` nor `insecure: true`.
    #[error(
        "plain HTTP to a tcp:// engine is refused (whoever reaches its port controls the engine): add `tls:` \
         (ca, cert, key; or dir) or, on a network you trust, `insecure: true`{0}"
    )]
    Plain(String),
    /// The TLS files.
    #[error(transparent)]
    Tls(#[from] super::fleet_tls::TlsError),
    /// bollard refused the address.
    #[error("the engine does not answer ({0})")]
    Connect(String),
}

/// A client for the engine of `w` (no request made yet; the TLS files are read now).
fn client(address: &str, w: &WorkerHost) -> Result<Docker, ClientError> {
    let v = &orchestra_sandbox::container::engine::API_VERSION;
    let r = if let Some(path) = address.strip_prefix("unix://") {
        if w.tls.is_some() || w.insecure {
            return Err(ClientError::NotTcp);
        }
        Docker::connect_with_unix(path, TIMEOUT, v)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        match &w.tls {
            Some(_) if address.starts_with("http://") => return Err(ClientError::TlsOnHttp),
            Some(tls) => {
                let files = super::fleet_tls::Files::of(tls);
                return Ok(super::fleet_tls::client(address, &files, TIMEOUT, v)?);
            }
            None if !w.insecure => {
                let hint = match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
                    Some(p) => {
                        format!(" (DOCKER_CERT_PATH is set: `tls: {{dir: {}}}` uses its files)", p.to_string_lossy())
                    }
                    None => String::new(),
                };
                return Err(ClientError::Plain(hint));
            }
            None => Docker::connect_with_http(address, TIMEOUT, v),
        }
    } else {
        return Err(ClientError::Scheme);
    };
    r.map_err(|e| ClientError::Connect(cause(&e)))
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

/// A worker name that is not one.
#[derive(Debug, thiserror::Error)]
#[error("name {0:?}: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'")]
struct BadName(String);

fn check_name(name: &str) -> Result<(), BadName> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(BadName(name.to_string()));
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
        check_name(&name).map_err(|e| bad(e.to_string()))?;
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
        let api = client(engine, w).map_err(|e| bad(e.to_string()))?;
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
            t.api.ping().await.map_err(|e| t.err(unanswered(t, &e)))?;
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

/// Why the first request to an engine failed, on one line, with a hint at
/// the setting to look at when TLS is why.
fn unanswered(t: &EngineTarget, e: &bollard::errors::Error) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let text = inner.to_string();
    let with_tls = t.entry.tls.as_ref();
    let tls_failed = ["certificate", "alert", "TLS", "tls"].iter().any(|w| text.contains(w));
    match with_tls {
        Some(files) if tls_failed => {
            let hint = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
                " (its certificate is not signed by a CA of tls.ca)"
            } else if text.contains("not valid for name") {
                " (its certificate does not name the address's host)"
            } else if text.contains("CertificateRequired") && files.cert.is_none() && files.dir.is_none() {
                " (the engine wants a client certificate: set tls.cert and tls.key)"
            } else if text.contains("alert") {
                " (the engine refused this client: check tls.cert and tls.key against its CA)"
            } else {
                ""
            };
            format!("TLS with the engine failed: {text}{hint}")
        }
        _ => {
            let hint = if with_tls.is_none()
                && ["reset by peer", "connection closed", "message completed", "invalid HTTP"]
                    .iter()
                    .any(|w| text.contains(w))
            {
                " (a TLS port? then give the entry `tls:`)"
            } else {
                ""
            };
            format!("the engine does not answer ({}){hint}", cause(e))
        }
    }
}

/// A worker container.
struct Found {
    id: String,
    state: String,
    /// Its [`BINARY_LABEL`].
    sha: Option<String>,
}

impl Found {
    fn short(&self) -> String {
        self.id.chars().take(12).collect()
    }
}

/// The worker containers of `t` (any state), running ones first.
async fn find(t: &EngineTarget) -> Result<Vec<Found>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL}={}", t.name)])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let list = t.api.list_containers(Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
    let mut out: Vec<Found> = list
        .into_iter()
        .map(|c| Found {
            id: c.id.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            sha: c.labels.and_then(|mut l| l.remove(BINARY_LABEL)),
        })
        .collect();
    out.sort_by_key(|c| c.state != "running");
    Ok(out)
}

/// The worker key file inside container `id` (read through the engine's
/// archive API; held in memory, and in a private temporary file while it is
/// checked) and its public key, if it has a valid one.
async fn old_key(t: &EngineTarget, id: &str) -> Option<(Vec<u8>, PublicKey)> {
    let opts = DownloadFromContainerOptions { path: format!("{DIR}/worker.key") };
    let mut s = t.api.download_from_container(id, Some(opts));
    let mut archive = Vec::new();
    while let Some(chunk) = s.next().await {
        archive.extend_from_slice(&chunk.ok()?);
        if archive.len() > 64 * 1024 {
            return None;
        }
    }
    let bytes = untar_first(&archive)?;
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("worker.key");
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).ok()?;
        f.write_all(&bytes).ok()?;
    }
    // The key file's own loader decides whether it is one.
    let public = SigningKey::load(&path).ok()?.public();
    Some((bytes, public))
}

/// A new worker key: its file's bytes (made in a temporary directory, then
/// held in memory only) and its public key.
fn new_key(t: &EngineTarget) -> Result<(Vec<u8>, PublicKey), EngineError> {
    let dir = tempfile::tempdir().map_err(|e| t.err(format!("temporary directory: {e}")))?;
    let key_path = dir.path().join("worker.key");
    let key = SigningKey::generate(&key_path).map_err(|e| t.err(e))?;
    let bytes = std::fs::read(&key_path).map_err(|e| t.err(format!("{}: {e}", key_path.display())))?;
    Ok((bytes, key.public()))
}

/// The contents of the first regular file of a ustar archive.
fn untar_first(archive: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 512 <= archive.len() {
        let h = &archive[at..at + 512];
        if h.iter().all(|b| *b == 0) {
            return None;
        }
        let size_field = std::str::from_utf8(&h[124..136]).ok()?;
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()?;
        let size = usize::try_from(size).ok()?;
        let start = at + 512;
        if matches!(h[156], b'0' | 0) {
            return archive.get(start..start.checked_add(size)?).map(<[u8]>::to_vec);
        }
        at = start + size.div_ceil(512) * 512;
    }
    None
}

/// SIGTERM container `id` (its worker drains), then wait up to `wait` for it
/// to stop; the seconds it took. Still running then: an error (left alone).
async fn stop(t: &EngineTarget, id: &str, wait: Duration) -> Result<f64, EngineError> {
    let began = Instant::now();
    let short: String = id.chars().take(12).collect();
    let kill = KillContainerOptions { signal: "SIGTERM".into() };
    t.api.kill_container(id, Some(kill)).await.map_err(|e| t.err(cause(&e)))?;
    let deadline = began + wait;
    loop {
        let running = t
            .api
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| t.err(cause(&e)))?
            .state
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return Ok(began.elapsed().as_secs_f64());
        }
        if Instant::now() > deadline {
            return Err(
                t.err(format!("container {short} still running after {}s (draining; left alone)", wait.as_secs()))
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first 12 hex digits of a sha256 (what the messages show).
pub fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Why an archive for a worker container could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A name past ustar's 99 bytes.
    #[error("{0}: name too long for the archive")]
    NameTooLong(String),
    /// The binary could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The binary.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The binary changed size while it was read.
    #[error("{}: changed while it was read", .0.display())]
    Changed(std::path::PathBuf),
    /// The binary does not fit in memory here.
    #[error("{}: too large to archive", .0.display())]
    TooLarge(std::path::PathBuf),
}

/// A ustar header (owner root, mtime 0).
fn header(path: &str, mode: u32, size: u64, kind: u8) -> Result<[u8; 512], ArchiveError> {
    let mut h = [0u8; 512];
    if path.len() >= 100 {
        return Err(ArchiveError::NameTooLong(path.to_string()));
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
fn tar(dirs: &[&str], files: &[(&str, u32, &[u8])]) -> Result<Vec<u8>, ArchiveError> {
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
fn binary_archive(exe: &Path) -> Result<Vec<u8>, ArchiveError> {
    use std::io::Read as _;
    let why = |source| ArchiveError::Read { path: exe.to_path_buf(), source };
    let f = std::fs::File::open(exe).map_err(why)?;
    let size = f.metadata().map_err(why)?.len();
    let mut out = tar(&["opt/", "opt/orchestra/", "opt/orchestra/state/"], &[])?;
    out.truncate(out.len() - 1024);
    out.reserve(usize::try_from(size).map_err(|_| ArchiveError::TooLarge(exe.to_path_buf()))? + 2048);
    out.extend_from_slice(&header("opt/orchestra/orchestra", 0o755, size, b'0')?);
    let got = f.take(size).read_to_end(&mut out).map_err(why)?;
    if got as u64 != size {
        return Err(ArchiveError::Changed(exe.to_path_buf()));
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
    /// Its sha256 (hex).
    pub sha: &'a str,
    /// How long a worker started from another binary may drain before its restart.
    pub wait: Duration,
}

/// Create, fill and start one container per target (one already running
/// from this binary is left as it is, one from another binary drained and
/// replaced); returns (name, the worker's public key when it was (re)started,
/// what happened).
pub fn start(
    targets: &[EngineTarget],
    args: &StartArgs<'_>,
) -> Result<Vec<(String, Option<PublicKey>, String)>, EngineError> {
    let rt = runtime()?;
    let mut out = Vec::new();
    let binary: bytes::Bytes = binary_archive(args.exe)?.into();
    for t in targets {
        let began = Instant::now();
        let found = rt.block_on(find(t))?;
        let mut restart = String::new();
        if let Some(c) = found.first().filter(|c| c.state == "running") {
            if c.sha.as_deref() == Some(args.sha) {
                out.push((
                    t.name.clone(),
                    None,
                    format!("already running (container {}), binary up to date ({})", c.short(), short_sha(args.sha)),
                ));
                continue;
            }
            let old = c.sha.as_deref().map_or("unknown", short_sha);
            restart = format!("restarted: binary changed ({old} -> {}; container {}", short_sha(args.sha), c.short());
        }
        // The worker keeps its key across a restart (a run under way trusts it).
        let kept = match found.first() {
            Some(c) => rt.block_on(old_key(t, &c.id)),
            None => None,
        };
        let same_key = kept.is_some();
        let (key_bytes, public) = match kept {
            Some(k) => k,
            None => new_key(t)?,
        };
        let key_archive = tar(&[], &[("opt/orchestra/worker.key", 0o600, &key_bytes)]).map_err(|e| t.err(e))?;
        if let Some(c) = found.first().filter(|c| c.state == "running") {
            let secs = rt.block_on(stop(t, &c.id, args.wait))?;
            restart.push_str(&format!(" drained in {secs:.1}s), "));
        }
        let id = rt.block_on(async {
            for old in find(t).await? {
                let opts = RemoveContainerOptions { force: true, v: true, link: false };
                t.api.remove_container(&old.id, Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
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
        let key_note = match (same_key, restart.is_empty()) {
            (true, _) => ", same key",
            (false, false) => ", new key (the old one was unreadable)",
            (false, true) => "",
        };
        out.push((
            t.name.clone(),
            Some(public),
            format!(
                "{restart}started in container {short} on {} ({:.1}s, binary {}){key_note}",
                t.engine,
                began.elapsed().as_secs_f64(),
                short_sha(args.sha)
            ),
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
        labels: Some(HashMap::from([
            (LABEL.to_string(), t.name.clone()),
            (BINARY_LABEL.to_string(), args.sha.to_string()),
        ])),
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
            for c in found {
                let secs = if c.state == "running" { stop(t, &c.id, wait).await? } else { 0.0 };
                let opts = RemoveContainerOptions { force: false, v: true, link: false };
                t.api.remove_container(&c.id, Some(opts)).await.map_err(|e| t.err(cause(&e)))?;
                outln!("{}: stopped and removed container {} (drained in {secs:.1}s)", t.name, c.short());
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
        let (state, id, sha) = match rt.block_on(find(t)) {
            Ok(found) => match found.into_iter().next() {
                Some(c) => (c.state.clone(), Some(c.short()), c.sha),
                None => ("no container".to_string(), None, None),
            },
            Err(EngineError::Entry { reason, .. }) => (reason, None, None),
            Err(e) => (e.to_string(), None, None),
        };
        if json {
            outln!(
                "{}",
                serde_json::json!({"type": "host", "name": t.name, "engine": t.engine, "state": state, "container": id, "binary_sha256": sha})
            );
        } else {
            let id = id.map(|i| format!(" (container {i})")).unwrap_or_default();
            let sha = sha.map(|s| format!(", binary {}", short_sha(&s))).unwrap_or_default();
            outln!("  {:<24} {:<28} {state}{id}{sha}", t.name, t.engine);
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

    fn entry(engine: &str) -> WorkerHost {
        WorkerHost {
            host: None,
            ssh_key: None,
            engine: Some(engine.into()),
            image: Some("i".into()),
            mounts: Vec::new(),
            capacity: 1,
            labels: Vec::new(),
            name: None,
            workspace: None,
            remote_dir: None,
            tls: None,
            insecure: false,
        }
    }

    #[test]
    fn bad_addresses_and_plain_tcp_are_refused_before_any_request() {
        let e = |a: &str, w: &WorkerHost| client(a, w).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e("ftp://x", &entry("ftp://x")).contains("not an engine address"));
        assert!(client("unix:///var/run/docker.sock", &entry("unix:///var/run/docker.sock")).is_ok());
        // tcp:// without tls: is refused, unless insecure: true says so.
        let mut w = entry("tcp://127.0.0.1:2375");
        assert!(e("tcp://127.0.0.1:2375", &w).contains("plain HTTP to a tcp:// engine is refused"));
        w.insecure = true;
        assert!(client("tcp://127.0.0.1:2375", &w).is_ok());
        // tls: on a local socket means a mistake.
        let mut u = entry("unix:///x");
        u.tls = Some(crate::config::EngineTls { dir: Some("/d".into()), ca: None, cert: None, key: None });
        assert!(e("unix:///x", &u).contains("for tcp:// engines"));
    }

    #[test]
    fn the_first_file_of_an_archive_is_read_back() {
        let a = tar(&[], &[("worker.key", 0o600, b"k3y")]).unwrap();
        assert_eq!(untar_first(&a).unwrap(), b"k3y");
        let a = tar(&["d/"], &[("d/f", 0o644, &[9u8; 700])]).unwrap();
        assert_eq!(untar_first(&a).unwrap(), vec![9u8; 700]);
        assert!(untar_first(&[0u8; 1024]).is_none());
        assert!(untar_first(b"short").is_none());
    }
}
