//! Ownership labels and removal: who a container belongs to, and whether
//! its owner is gone. Reaping what a killed orchestra left behind is
//! [`super::reap`]'s, which applies these rules and the pool's.
//!
//! Guarantees: every container orchestra creates carries
//! `orchestra.managed=1` and
//! `orchestra.owner=<boot id>/<pid>/<start time>/<pid namespace>`;
//! the backend removes its container on every path out of `run` (forced,
//! with its anonymous volumes), or leaves that to the engine for a container
//! created with AutoRemove whose init has exited (labelled
//! `orchestra.autoremove=1`). An owner of another boot (another host sharing
//! the engine) or of another PID namespace (two CI jobs in containers sharing
//! the host's engine socket: a PID means nothing across namespaces) is never
//! judged gone.

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;
use std::collections::HashMap;

/// The label marking containers orchestra created.
pub const MANAGED: &str = "orchestra.managed";
/// The label naming the owning process.
pub const OWNER: &str = "orchestra.owner";
/// The label of containers the engine removes itself once they stop (AutoRemove).
pub const AUTO_REMOVE: &str = "orchestra.autoremove";

/// This boot's id (an owner or a pool container of another boot is not ours to judge).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A process's start time (clock ticks since boot), which tells a live owner
/// from a later process that reused its pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ") ".
    let rest = stat.rsplit_once(") ")?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's PID namespace (`pid:[4026531836]`), which gives a PID its meaning.
pub fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `<boot id>/<pid>/<start time>/<pid namespace>` of this process.
pub fn owner_id() -> String {
    let pid = std::process::id();
    format!("{}/{pid}/{}/{}", boot_id(), start_time(pid).unwrap_or(0), pid_namespace())
}

/// Whether the owner named by `label` is gone (on this boot). Owners of
/// another boot id are someone else's (another host), and owners in another
/// PID namespace cannot be looked up by PID from here: neither is ever judged
/// dead. (A label without the namespace, from an older orchestra, is judged
/// by PID as before.)
pub fn owner_is_gone(label: &str) -> bool {
    let mut parts = label.split('/');
    let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if boot != boot_id() {
        return false;
    }
    if let Some(ns) = parts.next()
        && ns != pid_namespace()
    {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    start_time(pid) != Some(start)
}

/// The labels for a new container (`auto_remove`: created with AutoRemove).
pub fn labels(task: &str, auto_remove: bool) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (MANAGED.to_string(), "1".to_string()),
        (OWNER.to_string(), owner_id()),
        ("orchestra.task".to_string(), task.chars().take(128).collect()),
    ]);
    if auto_remove {
        labels.insert(AUTO_REMOVE.to_string(), "1".to_string());
    }
    labels
}

/// Remove one container, forced, with its anonymous volumes. Errors other than
/// "already gone" are returned.
pub async fn remove(api: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    let opts = RemoveContainerOptions { force: true, v: true, link: false };
    match api.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        // Removal already in progress (the engine is removing it).
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_gone() {
        assert!(!owner_is_gone(&owner_id()));
        let dead = format!("{}/{}/{}", boot_id(), u32::MAX - 1, 1);
        assert!(owner_is_gone(&dead));
        // Another host's (another boot's) containers are never ours to reap.
        assert!(!owner_is_gone(&format!("other-boot/{}/1", u32::MAX - 1)));
        // Nor those of another PID namespace, where that PID means another process.
        assert!(!owner_is_gone(&format!("{}/{}/1/pid:[1]", boot_id(), u32::MAX - 1)));
        assert!(owner_is_gone(&format!("{}/{}/1/{}", boot_id(), u32::MAX - 1, pid_namespace())));
        assert!(!owner_is_gone(&owner_id()), "this process, with its namespace, is alive");
        assert!(!owner_is_gone("garbage"));
    }
}
