//! Finding and connecting to a container engine through its API socket.
//!
//! Guarantees: the engine is driven only through its HTTP API (bollard), never
//! a CLI; discovery follows a fixed, documented order; when no engine answers,
//! the caller gets one [`SandboxError::Unenforceable`] naming every address
//! tried and how to start the engine (exit 1, nothing ran).
//!
//! Order: Docker — `$DOCKER_HOST` alone when set, else `/var/run/docker.sock`,
//! `$XDG_RUNTIME_DIR/docker.sock`. Podman — `$CONTAINER_HOST` alone when set,
//! else `$XDG_RUNTIME_DIR/podman/podman.sock`, `/run/podman/podman.sock`. Podman's
//! API service is started with `podman system service --time=0` (see
//! images/README.md); orchestra does not start daemons itself.

use crate::policy::SandboxMode;
use crate::sandbox::SandboxError;
use bollard::{ClientVersion, Docker};

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
#[derive(Debug, Clone, Copy, Default)]
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

fn connect_one(address: &str) -> Result<Docker, String> {
    if let Some(path) = address.strip_prefix("unix://") {
        Docker::connect_with_unix(path, REQUEST_TIMEOUT, &API_VERSION).map_err(|e| e.to_string())
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, REQUEST_TIMEOUT, &API_VERSION).map_err(|e| e.to_string())
    } else {
        Err("unsupported address (use unix:// or tcp://)".into())
    }
}

/// Connect to the first engine of `kind` that answers.
pub async fn connect(kind: SandboxMode) -> Result<Engine, SandboxError> {
    let mut tried = Vec::new();
    for address in candidates(kind) {
        let api = match connect_one(&address) {
            Ok(a) => a,
            Err(e) => {
                tried.push(format!("{address} ({e})"));
                continue;
            }
        };
        match api.info().await {
            Ok(info) => {
                let version = format!(
                    "{} {}",
                    if kind == SandboxMode::Podman { "Podman" } else { "Docker Engine" },
                    info.server_version.clone().unwrap_or_default()
                );
                let sec = info.security_options.clone().unwrap_or_default();
                let caps = EngineCaps {
                    memory: info.memory_limit.unwrap_or(false),
                    swap: info.swap_limit.unwrap_or(false),
                    pids: info.pids_limit.unwrap_or(false),
                    cpu_quota: info.cpu_cfs_quota.unwrap_or(false),
                    seccomp: sec.iter().any(|s| s.contains("seccomp")),
                    rootless: sec.iter().any(|s| s.contains("rootless")),
                };
                let socket = address.strip_prefix("unix://").map(std::path::PathBuf::from);
                return Ok(Engine { api, kind, address, socket, version, caps });
            }
            Err(e) => tried.push(format!("{address} ({e})")),
        }
    }
    let how = match kind {
        SandboxMode::Podman => {
            "start Podman's API service (`podman system service --time=0 unix:///run/podman/podman.sock &`) or set CONTAINER_HOST"
        }
        _ => "start the Docker daemon or set DOCKER_HOST",
    };
    Err(SandboxError::Unenforceable {
        control: format!("{} engine", kind.as_str()),
        reason: format!("no engine answered at {}; {how}", tried.join(", ")),
    })
}
