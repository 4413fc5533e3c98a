//! Container volumes as a policy states them (`HOST:CONTAINER[:ro|rw]`):
//! parsed once, for the loader's checks and the container backends alike.
//!
//! Guarantees: both paths are absolute and free of `..`; the container path
//! is never the workspace `/work` itself, nor `/`, `/proc`, `/sys`, `/dev`,
//! `/.orchestra` or anything below them (the backend mounts those).

use std::path::{Path, PathBuf};

/// A volume that cannot be mounted as written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VolumeError(String);

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Host path.
    pub host: PathBuf,
    /// Path in the container.
    pub container: PathBuf,
    /// Writable.
    pub rw: bool,
}

/// Where the container backends mount the workspace.
pub const CONTAINER_WORKDIR: &str = "/work";

/// Parse `HOST:CONTAINER[:ro|rw]` (read-only unless `:rw`).
pub fn parse_volume(spec: &str) -> Result<Volume, VolumeError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, rw) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, false),
        [h, c, "rw"] => (*h, *c, true),
        _ => return Err(VolumeError(format!("volume {spec:?}: expected HOST:CONTAINER[:ro|rw]"))),
    };
    for p in [host, container] {
        if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(VolumeError(format!("volume {spec:?}: {p:?} must be absolute, without ..")));
        }
    }
    let container = PathBuf::from(container);
    let reserved = ["/", "/proc", "/sys", "/dev", "/work", "/.orchestra"];
    if reserved.iter().any(|r| container == Path::new(r))
        || container.starts_with("/.orchestra")
        || container.starts_with("/proc")
        || container.starts_with("/sys")
        || container.starts_with("/dev")
    {
        return Err(VolumeError(format!("volume {spec:?}: {} is reserved", container.display())));
    }
    Ok(Volume { host: PathBuf::from(host), container, rw })
}
