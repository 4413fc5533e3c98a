//! Finding and connecting to a container engine through its API socket.
//!
//! Guarantees: the engine is driven only through its HTTP API (bollard), never
//! a CLI; discovery follows a fixed, documented order; when no engine answers,
//! the caller gets one [`SandboxError::Unenforceable`] naming every address
//! tried, why each failed (no socket, nothing listening, permission denied,
//! or the client's error) and the remedy that fits: start the engine, or —
//! for a socket this user may not use — a permission or a rootless engine,
//! never "start the daemon" (exit 1, nothing ran).
//!
//! Order: Docker — `$DOCKER_HOST` alone when set, else `/var/run/docker.sock`,
//! `$XDG_RUNTIME_DIR/docker.sock`. Podman — `$CONTAINER_HOST` alone when set,
//! else `$XDG_RUNTIME_DIR/podman/podman.sock`, `/run/podman/podman.sock`. Podman's
//! API service is started with `podman system service --time=0` (see
//! images/README.md); orchestra does not start daemons itself.

use crate::SandboxError;
use crate::policy::SandboxMode;
use crate::probe::Unreachable;
use bollard::{ClientVersion, Docker};
use std::path::Path;

/// The API version requested: the newest that Docker Engine 20.10 and
/// Podman 4's compatibility API both serve, and that has every field we set.
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };

/// Seconds before an API request is abandoned.
const REQUEST_TIMEOUT: u64 = 120;

/// A connected engine.
pub struct Engine {
    /// The client.
    pub api: Docker,
    /// Which engine was asked for.
    pub kind: SandboxMode,
    /// The address it answered on.
    pub address: String,
    /// The socket path, when local (never mounted into a container).
    pub socket: Option<std::path::PathBuf>,
    /// "Docker Engine 20.10.24" and the like.
    pub version: String,
    /// What the engine says it can enforce.
    pub caps: EngineCaps,
}

/// Controls the engine reports it can apply (from `GET /info`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineCaps {
    /// Memory limits.
    pub memory: bool,
    /// Limits on swap (memory + swap).
    pub swap: bool,
    /// Pids limits.
    pub pids: bool,
    /// CPU quota.
    pub cpu_quota: bool,
    /// Seccomp profiles.
    pub seccomp: bool,
    /// The engine runs rootless (a remapped root).
    pub rootless: bool,
}

/// The addresses to try, in order.
pub fn candidates(kind: SandboxMode) -> Vec<String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let runtime = env("XDG_RUNTIME_DIR");
    let mut v = Vec::new();
    match kind {
        // An explicit address is the only one tried, as the engines' own CLIs do.
        SandboxMode::Docker => match env("DOCKER_HOST") {
            Some(h) => v.push(h),
            None => {
                v.push("unix:///var/run/docker.sock".into());
                v.extend(runtime.map(|r| format!("unix://{r}/docker.sock")));
            }
        },
        SandboxMode::Podman => match env("CONTAINER_HOST") {
            Some(h) => v.push(h),
            None => {
                v.extend(runtime.map(|r| format!("unix://{r}/podman/podman.sock")));
                v.push("unix:///run/podman/podman.sock".into());
            }
        },
        SandboxMode::Jail => {}
    }
    v.dedup();
    v
}

/// Why a request to an engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The API client's error.
    #[error(transparent)]
    Client(#[from] bollard::errors::Error),
    /// An engine address of another scheme.
    #[error("unsupported address (use unix:// or tcp://)")]
    Address,
    /// `DOCKER_TLS_VERIFY` asks for TLS, which this client does not speak:
    /// plain HTTP instead would hand the engine to whoever sits on the path.
    #[error(
        "DOCKER_TLS_VERIFY is set, but the container backend speaks no TLS to a tcp:// engine and will not fall back to plain HTTP: reach the engine through a unix:// socket (for a remote one, `ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`)"
    )]
    TlsUnsupported,
    /// A raw request (`METHOD /path`) failed.
    #[error("{request}: {problem}")]
    Request {
        /// `METHOD /path`.
        request: String,
        /// What went wrong.
        problem: RequestProblem,
    },
    /// Not a container id.
    #[error("{0:?}: not a container id")]
    NotAnId(String),
    /// Initialising a container failed.
    #[error("initialising {id}: {error}")]
    Init {
        /// The container.
        id: String,
        /// Why.
        error: Box<EngineError>,
    },
    /// The engine refused to initialise a container.
    #[error("initialising {id}: HTTP {status} {body}")]
    InitStatus {
        /// The container.
        id: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// Waiting for a container failed.
    #[error("waiting for {id}: HTTP {status} {body}")]
    Wait {
        /// The container.
        id: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
}

/// What went wrong with a raw request.
#[derive(Debug, thiserror::Error)]
pub enum RequestProblem {
    /// No answer in time (seconds).
    #[error("no answer in {0} s")]
    Timeout(u64),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No end of the HTTP header.
    #[error("no HTTP header")]
    NoHeader,
    /// No status code.
    #[error("no HTTP status")]
    NoStatus,
    /// A chunked (or other) transfer encoding.
    #[error("a transfer encoding was used in answer to HTTP/1.0")]
    TransferEncoding,
    /// Fewer bytes than the Content-Length.
    #[error("answer cut at {got} of {want} bytes")]
    Cut {
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        want: usize,
    },
    /// A Content-Length that is not a number.
    #[error("bad Content-Length")]
    ContentLength,
    /// More than the limit, without a length.
    #[error("answer larger than {0} bytes")]
    TooLarge(u64),
}

fn connect_one(address: &str) -> Result<Docker, EngineError> {
    if let Some(path) = address.strip_prefix("unix://") {
        Ok(Docker::connect_with_unix(path, REQUEST_TIMEOUT, &API_VERSION)?)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        // Docker's CLI reads any non-empty value as "verify the engine over TLS".
        if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
            return Err(EngineError::TlsUnsupported);
        }
        Ok(Docker::connect_with_http(address, REQUEST_TIMEOUT, &API_VERSION)?)
    } else {
        Err(EngineError::Address)
    }
}

/// Connect to the first engine of `kind` that answers.
///
/// `GET /info` is where engines report what they can enforce, and Podman's
/// takes ~0.5 s (it gathers storage statistics), more than a whole container
/// run (`GET /version` too). For a local socket, the answer is cached
/// ([`caps_cache`]) and reused while the same socket file (inode and change
/// time: a restarted service makes a new one) answers `GET /_ping`, within
/// the same boot and for at most an hour; the hardening of every container is
/// verified after creation anyway (`mod.rs`), so a stale cache cannot weaken
/// one.
pub async fn connect(kind: SandboxMode) -> Result<Engine, SandboxError> {
    connect_among(kind, candidates(kind)).await
}

/// Connect to the engine at `address` only (a pool filler, which must make
/// its containers in the engine its orderer used).
pub async fn connect_to(kind: SandboxMode, address: &str) -> Result<Engine, SandboxError> {
    connect_among(kind, vec![address.to_string()]).await
}

async fn connect_among(kind: SandboxMode, addresses: Vec<String>) -> Result<Engine, SandboxError> {
    let mut tried: Vec<Unanswered> = Vec::new();
    for address in addresses {
        let api = match connect_one(&address) {
            Ok(a) => a,
            // No engine to start: what is missing is a transport this client lacks.
            Err(e @ EngineError::TlsUnsupported) => {
                return Err(SandboxError::Unenforceable {
                    control: format!("{} engine", kind.as_str()),
                    reason: format!("{address}: {e}"),
                });
            }
            Err(e) => {
                // The client's own error, not the wrapper (whose source skips it).
                let e: &(dyn std::error::Error + 'static) = match &e {
                    EngineError::Client(c) => c,
                    other => other,
                };
                tried.push(Unanswered::new(address, e));
                continue;
            }
        };
        let name = if kind == SandboxMode::Podman { "Podman" } else { "Docker Engine" };
        let socket = address.strip_prefix("unix://").map(std::path::PathBuf::from);
        let identity = socket.as_deref().and_then(caps_cache::socket_identity);
        if let Some(id) = &identity
            && let Some((version, caps)) = caps_cache::load(&address, id)
        {
            match api.ping().await {
                Ok(_) => {
                    let version = format!("{name} {version}");
                    return Ok(Engine { api, kind, address, socket, version, caps });
                }
                Err(e) => {
                    tried.push(Unanswered::new(address, &e));
                    continue;
                }
            }
        }
        match api.info().await {
            Ok(info) => {
                let version = info.server_version.clone().unwrap_or_default();
                let sec = info.security_options.clone().unwrap_or_default();
                let caps = EngineCaps {
                    memory: info.memory_limit.unwrap_or(false),
                    swap: info.swap_limit.unwrap_or(false),
                    pids: info.pids_limit.unwrap_or(false),
                    cpu_quota: info.cpu_cfs_quota.unwrap_or(false),
                    seccomp: sec.iter().any(|s| s.contains("seccomp")),
                    rootless: sec.iter().any(|s| s.contains("rootless")),
                };
                if let Some(id) = &identity {
                    caps_cache::store(&address, id, &version, caps);
                }
                let version = format!("{name} {version}");
                return Ok(Engine { api, kind, address, socket, version, caps });
            }
            Err(e) => tried.push(Unanswered::new(address, &e)),
        }
    }
    Err(SandboxError::Unenforceable { control: format!("{} engine", kind.as_str()), reason: unanswered(kind, &tried) })
}

/// Why an address did not answer: the kind of the first I/O error in `e`'s
/// source chain (the client wraps the socket's error in its own), or
/// bollard's own missing-socket error.
fn unreachable_of(e: &(dyn std::error::Error + 'static)) -> Unreachable {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(bollard::errors::Error::SocketNotFoundError(_)) = err.downcast_ref::<bollard::errors::Error>() {
            return Unreachable::Missing;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Unreachable::of_kind(io.kind());
        }
        next = err.source();
    }
    Unreachable::Other
}

/// One address that did not answer.
struct Unanswered {
    address: String,
    why: Unreachable,
    /// The client's error, for [`Unreachable::Other`].
    error: String,
}

impl Unanswered {
    fn new(address: String, e: &(dyn std::error::Error + 'static)) -> Unanswered {
        Unanswered { address, why: unreachable_of(e), error: e.to_string() }
    }

    /// The local socket path, if the address is one.
    fn socket(&self) -> Option<&str> {
        self.address.strip_prefix("unix://")
    }
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.why.words(self.socket().map(Path::new)) {
            Some(words) => write!(f, "{} ({words})", self.address),
            None => write!(f, "{} ({})", self.address, self.error),
        }
    }
}

/// The group through which users are given an engine socket: its group, when
/// the group may write to it and is not root's.
fn socket_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    if m.gid() == 0 || m.mode() & 0o020 == 0 {
        return None;
    }
    let name = nix::unistd::Group::from_gid(m.gid().into()).ok().flatten().map(|g| g.name);
    Some(name.unwrap_or_else(|| m.gid().to_string()))
}

/// The one-line reason no engine answered: every address and why, then the
/// remedy that fits. A socket this user may not use is a permission to ask
/// for (or a rootless engine to run), not a daemon to start.
fn unanswered(kind: SandboxMode, tried: &[Unanswered]) -> String {
    let list = tried.iter().map(Unanswered::to_string).collect::<Vec<_>>().join(", ");
    // (engine, its variable, how to start it, the rootless remedy, where that one's socket is found)
    let (engine, var, start, rootless, own_socket) = match kind {
        SandboxMode::Podman => (
            "Podman",
            "CONTAINER_HOST",
            "start Podman's API service (`podman system service --time=0 unix:///run/podman/podman.sock &`)",
            "run Podman's API service as this user (`podman system service --time=0 &`)",
            "podman/podman.sock",
        ),
        SandboxMode::Docker | SandboxMode::Jail => (
            "Docker",
            "DOCKER_HOST",
            "start the Docker daemon",
            "run a rootless Docker engine as this user",
            "docker.sock",
        ),
    };
    let denied = tried.iter().find(|t| t.why == Unreachable::Denied).and_then(Unanswered::socket);
    let how = match denied {
        Some(path) => {
            let grant = match socket_group(Path::new(path)) {
                Some(g) => format!("add this user to group {g} (`sudo usermod -aG {g} \"$USER\"`, then log in again)"),
                None => format!("run orchestra as a user who may use {path}"),
            };
            format!(
                "this user (uid {}) may not use the {engine} socket {path}: {grant}, or {rootless}, \
                 whose socket $XDG_RUNTIME_DIR/{own_socket} is found when {var} is unset",
                nix::unistd::geteuid()
            )
        }
        None => format!("{start} or set {var}"),
    };
    format!("no engine answered at {list}; {how}")
}

/// One plain HTTP/1.0 request (no chunked answer, the server closes) on a
/// local engine socket, for what the Docker-compatible client lacks or cannot
/// parse. Returns the status code and at most `limit` bytes of body; gives up
/// after `timeout` (`None`: the API's usual request timeout).
pub async fn raw_request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    limit: u64,
    timeout: Option<std::time::Duration>,
) -> Result<(u16, Vec<u8>), EngineError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |problem| EngineError::Request { request: format!("{method} {path}"), problem };
    let request = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        let head = format!("{method} {path} HTTP/1.0\r\nHost: d\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.take(limit + 64 * 1024).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let timeout = timeout.unwrap_or(std::time::Duration::from_secs(REQUEST_TIMEOUT));
    let answer = tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| fail(RequestProblem::Timeout(timeout.as_secs())))?
        .map_err(|e| fail(RequestProblem::Io(e)))?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| fail(RequestProblem::NoHeader))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| fail(RequestProblem::NoStatus))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if header("Transfer-Encoding").is_some_and(|v| !v.eq_ignore_ascii_case("identity")) {
        return Err(fail(RequestProblem::TransferEncoding));
    }
    let mut body = answer[split + 4..].to_vec();
    match header("Content-Length").map(|v| v.parse::<usize>()) {
        Some(Ok(n)) if n <= body.len() => body.truncate(n),
        Some(Ok(n)) => return Err(fail(RequestProblem::Cut { got: body.len(), want: n })),
        Some(Err(_)) => return Err(fail(RequestProblem::ContentLength)),
        None if body.len() as u64 > limit => return Err(fail(RequestProblem::TooLarge(limit))),
        None => {}
    }
    Ok((status, body))
}

/// Initialise a created Podman container (`POST /libpod/containers/{id}/init`:
/// the runtime sets up its namespaces, mounts and cgroup, and its process
/// waits for `start`), a libpod endpoint the Docker-compatible client lacks.
pub async fn libpod_init(socket: &std::path::Path, id: &str) -> Result<(), EngineError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EngineError::NotAnId(id.to_string()));
    }
    let (status, body) = raw_request(socket, "POST", &format!("/v4.0.0/libpod/containers/{id}/init"), 64 * 1024, None)
        .await
        .map_err(|e| EngineError::Init { id: id.to_string(), error: Box::new(e) })?;
    // 204: initialised; 304: it already was.
    if status == 204 || status == 304 {
        Ok(())
    } else {
        let body = String::from_utf8_lossy(&body);
        Err(EngineError::InitStatus {
            id: id.to_string(),
            status,
            body: body.trim().chars().take(300).collect::<String>(),
        })
    }
}

/// Wait until a Podman container's process has exited and return its exit
/// status (libpod's wait, condition `stopped`, polled every 5 ms by the
/// service): Podman records `exited` only after its clean-up, 100–400 ms
/// later, which is when the Docker-compatible wait and inspect answer.
pub async fn libpod_wait_stopped(socket: &std::path::Path, id: &str) -> Result<i64, EngineError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EngineError::NotAnId(id.to_string()));
    }
    let path = format!("/v4.0.0/libpod/containers/{id}/wait?condition=stopped&condition=exited&interval=5ms");
    // As long as the task runs: its own timeouts are enforced by the caller.
    let forever = Some(std::time::Duration::from_secs(365 * 24 * 3600));
    let (status, body) = raw_request(socket, "POST", &path, 4096, forever).await?;
    let text = String::from_utf8_lossy(&body);
    match (status, text.trim().parse::<i64>()) {
        (200, Ok(code)) => Ok(code),
        _ => Err(EngineError::Wait {
            id: id.to_string(),
            status,
            body: text.trim().chars().take(300).collect::<String>(),
        }),
    }
}

/// The cache of engines' `GET /info` capabilities.
///
/// Guarantees: one file per engine address under the user's cache directory
/// (`$XDG_CACHE_HOME/orchestra/engines/`, else `~/.cache/orchestra/engines/`),
/// never visible to tasks (neither the jail nor the containers mount it),
/// written atomically; an entry is used only for the same socket file (inode
/// and change time), the same boot, and for at most an hour. Any doubt means
/// asking the engine.
pub mod caps_cache {
    use super::EngineCaps;
    use crate::container::lifecycle::boot_id;
    use sha2::Digest;
    use std::path::PathBuf;

    const MAX_AGE_SECS: u64 = 3600;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Entry {
        address: String,
        socket: String,
        version: String,
        boot_id: String,
        written: u64,
        caps: EngineCaps,
    }

    fn dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("orchestra").join("engines"))
    }

    fn file(address: &str) -> Option<PathBuf> {
        let h = sha2::Sha256::digest(address.as_bytes());
        let name: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
        dir().map(|d| d.join(format!("{name}.json")))
    }

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    /// The identity of the socket file the engine listens on: device, inode, change time.
    pub fn socket_identity(path: &std::path::Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(format!("{}:{}:{}.{}", m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
    }

    /// The cached version and capabilities of the engine at `address`, if fresh for this socket.
    pub fn load(address: &str, socket: &str) -> Option<(String, EngineCaps)> {
        let bytes = std::fs::read(file(address)?).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        let fresh = now().saturating_sub(e.written) < MAX_AGE_SECS;
        (e.address == address && e.socket == socket && e.boot_id == boot_id() && fresh).then_some((e.version, e.caps))
    }

    /// Remember an engine's capabilities (best effort: a failure only costs time).
    pub fn store(address: &str, socket: &str, version: &str, caps: EngineCaps) {
        let (Some(dir), Some(path)) = (dir(), file(address)) else { return };
        let entry = Entry {
            address: address.into(),
            socket: socket.into(),
            version: version.into(),
            boot_id: boot_id(),
            written: now(),
            caps,
        };
        let Ok(json) = serde_json::to_vec(&entry) else { return };
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = crate::outfile::write_replace(&path, &json);
        }
    }
}
