//! Ownership labels, removal, and reaping what a killed orchestra left behind.
//!
//! Guarantees: every container orchestra creates carries
//! `orchestra.managed=1` and `orchestra.owner=<boot id>/<pid>/<start time>`;
//! the backend removes its container on every path out of `run` (forced,
//! with its anonymous volumes), or leaves that to the engine for a container
//! created with AutoRemove whose init has exited (labelled
//! `orchestra.autoremove=1`); and before creating a container it removes
//! every managed container whose owner process no longer exists on this
//! boot — the ones left when orchestra itself was SIGKILLed — except a
//! stopped AutoRemove one under a minute old, which the engine is removing.
//! Containers of another live orchestra, or of another host sharing the
//! engine, are left alone. Pool containers (`orchestra.pool`, made by a
//! filler that has exited) follow the pool's rules instead ([`super::pool`]):
//! kept while ready and young, being filled, or claimed by a live orchestra;
//! removed otherwise, and only by an orchestra using the same pool directory
//! (or by any, once that directory no longer exists).

use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use std::collections::HashMap;

/// The label marking containers orchestra created.
pub const MANAGED: &str = "orchestra.managed";
/// The label naming the owning process.
pub const OWNER: &str = "orchestra.owner";
/// The label of containers the engine removes itself once they stop (AutoRemove).
pub const AUTO_REMOVE: &str = "orchestra.autoremove";

fn boot_id() -> String {
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

/// `<boot id>/<pid>/<start time>` of this process.
pub fn owner_id() -> String {
    let pid = std::process::id();
    format!("{}/{pid}/{}", boot_id(), start_time(pid).unwrap_or(0))
}

/// Whether the owner named by `label` is gone (on this boot). Owners of
/// another boot id are someone else's (another host) and are never judged dead.
pub fn owner_is_gone(label: &str) -> bool {
    let mut parts = label.split('/');
    let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if boot != boot_id() {
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

/// Remove managed containers whose owner is gone. Returns how many.
///
/// Listed by state, one request per group: Podman reports transient states
/// the Docker API does not define (`stopped`, on the way to `exited`, even
/// under an `exited` filter), which make bollard reject the whole answer. The
/// live states — what an orphan can still do harm in — are asked for apart,
/// so they are always read; an answer that cannot be read is skipped (a
/// stopped container is reaped at a later run, once `exited`).
pub async fn reap_orphans(api: &Docker, podman: bool, pool_root: &std::path::Path) -> usize {
    // Each engine refuses a state filter it does not know (Podman: restarting, dead).
    let groups: &[&[&str]] = if podman {
        &[&["created", "initialized", "running", "paused", "removing"], &["exited"]]
    } else {
        &[&["created", "restarting", "running", "paused", "removing", "exited", "dead"]]
    };
    let mut list = Vec::new();
    for states in groups {
        let filters = HashMap::from([
            ("label".to_string(), vec![format!("{MANAGED}=1")]),
            ("status".to_string(), states.iter().map(|s| s.to_string()).collect()),
        ]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        match api.list_containers(Some(opts)).await {
            Ok(found) => list.extend(found),
            Err(e) => tracing::debug!("listing {states:?} containers to reap orphans: {e}"),
        }
    }
    // Pool containers (pre-created, owned by no process) answer to the pool's
    // own rules, and only to the pool they belong to.
    let mut pool = None;
    let mut n = 0;
    for c in list {
        let labels = c.labels.clone().unwrap_or_default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let recent = c.created.is_some_and(|t| now - t < 60);
        let live = matches!(
            c.state,
            Some(ContainerSummaryStateEnum::RUNNING)
                | Some(ContainerSummaryStateEnum::CREATED)
                | Some(ContainerSummaryStateEnum::PAUSED)
                | Some(ContainerSummaryStateEnum::RESTARTING)
        );
        // One the engine is already removing (it stopped, AutoRemove) is left to it
        // for a minute: removing it again would only race the engine's own clean-up.
        let engine_removes = recent && labels.get(AUTO_REMOVE).is_some_and(|v| v == "1") && !live;
        if engine_removes {
            continue;
        }
        let orphan = if labels.contains_key(super::pool::LABEL) {
            let root = labels.get(super::pool::LABEL_ROOT).map(std::path::Path::new);
            if root != Some(pool_root) {
                // Another pool's; but a pool directory that no longer exists has
                // no tokens and no claimer: nobody else will ever remove it.
                let gone = root.is_some_and(|r| {
                    r.is_absolute()
                        && std::fs::symlink_metadata(r).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                });
                if gone
                    && let Some(id) = c.id
                    && remove(api, &id).await.is_ok()
                {
                    n += 1;
                }
                continue;
            }
            let Some(p) = pool.get_or_insert_with(|| super::pool::Pool::open(pool_root).ok()) else { continue };
            let created = c.state == Some(ContainerSummaryStateEnum::CREATED);
            if p.keep(&labels, created, c.created.unwrap_or(0)) {
                continue;
            }
            p.forget(&labels);
            true
        } else {
            owner_is_gone(labels.get(OWNER).map(String::as_str).unwrap_or_default())
        };
        if orphan
            && let Some(id) = c.id
            && remove(api, &id).await.is_ok()
        {
            n += 1;
        }
    }
    n
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
        assert!(!owner_is_gone("garbage"));
    }
}
