//! Ownership labels, removal, and reaping what a killed orchestra left behind.
//!
//! Guarantees: every container orchestra creates carries
//! `orchestra.managed=1` and
//! `orchestra.owner=<boot id>/<pid>/<start time>/<pid namespace>`;
//! the backend removes its container on every path out of `run` (forced,
//! with its anonymous volumes), or leaves that to the engine for a container
//! created with AutoRemove whose init has exited (labelled
//! `orchestra.autoremove=1`); and before creating a container it removes
//! every managed container whose owner process no longer exists on this
//! boot — the ones left when orchestra itself was SIGKILLed — except a
//! stopped AutoRemove one under a minute old, which the engine is removing.
//! Containers of another live orchestra, of another host sharing the engine,
//! or of an orchestra in another PID namespace (two CI jobs in containers
//! sharing the host's engine socket: a PID means nothing across namespaces)
//! are left alone; the latter end at their deadline anyway, which lives with
//! the container (the in-container supervisor). Pool containers (`orchestra.pool`, made by a
//! filler that has exited) follow the pool's rules instead ([`super::pool`]):
//! kept while ready and young, being filled, or claimed by a live orchestra;
//! removed otherwise, and only by an orchestra using the same pool directory
//! (or by any, once that directory no longer exists).

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
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

/// A managed container as listed: what reaping needs, in the engine's words.
#[derive(Debug, Default)]
struct Listed {
    id: String,
    labels: HashMap<String, String>,
    /// `running`, `created`, `exited`, and Podman's own (`stopped`, …).
    state: String,
    /// Unix seconds.
    created: i64,
}

/// The managed containers, every state. Docker's answer goes through the
/// client; Podman's is read leniently from the socket, because it reports
/// states the Docker API does not define (`stopped`, on the way to `exited`)
/// and the client rejects a whole answer that holds one.
/// Why the managed containers could not be listed.
#[derive(Debug, thiserror::Error)]
enum ListError {
    #[error(transparent)]
    Engine(#[from] super::engine::EngineError),
    #[error("listing containers: HTTP {0}")]
    Status(u16),
    #[error("listing containers: {0}")]
    Parse(serde_json::Error),
    #[error(transparent)]
    Client(#[from] bollard::errors::Error),
}

async fn list_managed(engine: &super::engine::Engine) -> Result<Vec<Listed>, ListError> {
    if engine.kind == crate::policy::SandboxMode::Podman
        && let Some(socket) = &engine.socket
    {
        // filters={"label":["orchestra.managed=1"]}
        let path = "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22orchestra.managed%3D1%22%5D%7D";
        let (status, body) = super::engine::raw_request(socket, "GET", path, 64 << 20, None).await?;
        if status != 200 {
            return Err(ListError::Status(status));
        }
        return parse_list(&body).map_err(ListError::Parse);
    }
    let filters = HashMap::from([("label".to_string(), vec![format!("{MANAGED}=1")])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let found = engine.api.list_containers(Some(opts)).await?;
    Ok(found
        .into_iter()
        .map(|c| Listed {
            id: c.id.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            created: c.created.unwrap_or(0),
        })
        .filter(|c| !c.id.is_empty())
        .collect())
}

/// A `GET /containers/json` answer, read field by field: a state or field the
/// Docker API does not define is kept as it is, never a reason to drop the list.
fn parse_list(body: &[u8]) -> Result<Vec<Listed>, serde_json::Error> {
    let all: Vec<serde_json::Value> = serde_json::from_slice(body)?;
    Ok(all
        .iter()
        .map(|c| Listed {
            id: c["Id"].as_str().unwrap_or_default().to_string(),
            labels: serde_json::from_value(c["Labels"].clone()).unwrap_or_default(),
            state: c["State"].as_str().unwrap_or_default().to_ascii_lowercase(),
            created: c["Created"].as_i64().unwrap_or(0),
        })
        .filter(|c| !c.id.is_empty())
        .collect())
}

/// Remove managed containers whose owner is gone. Returns how many.
pub async fn reap_orphans(engine: &super::engine::Engine, pool_root: &std::path::Path) -> usize {
    let api = &engine.api;
    let list = match list_managed(engine).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("listing containers to reap orphans: {e}");
            return 0;
        }
    };
    // Pool containers (pre-created, owned by no process) answer to the pool's
    // own rules, and only to the pool they belong to.
    let mut pool = None;
    let mut n = 0;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    for c in list {
        let labels = &c.labels;
        let recent = now - c.created < 60;
        let live = matches!(c.state.as_str(), "running" | "created" | "paused" | "restarting" | "initialized");
        // One the engine is already removing (it stopped, AutoRemove) is left to it
        // for a minute: removing it again would only race the engine's own clean-up.
        let engine_removes = recent && labels.get(AUTO_REMOVE).is_some_and(|v| v == "1") && !live;
        if engine_removes {
            continue;
        }
        let orphan = if labels.contains_key(super::pool::LABEL) {
            let root = labels.get(super::pool::LABEL_ROOT).map(std::path::Path::new);
            let never_started = matches!(c.state.as_str(), "created" | "initialized");
            if root != Some(pool_root) {
                // Another pool's; but an unclaimed container of this boot whose
                // pool directory no longer exists has no token and no claimer:
                // nobody else would ever remove it.
                let this_boot = labels.get(super::pool::LABEL_BOOT).is_some_and(|b| *b == boot_id());
                let gone = root.is_some_and(|r| {
                    r.is_absolute()
                        && std::fs::symlink_metadata(r).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                });
                if gone && this_boot && never_started && remove(api, &c.id).await.is_ok() {
                    n += 1;
                }
                continue;
            }
            let Some(p) = pool.get_or_insert_with(|| super::pool::Pool::open(pool_root).ok()) else { continue };
            p.reap(labels, never_started)
        } else {
            owner_is_gone(labels.get(OWNER).map(String::as_str).unwrap_or_default())
        };
        if orphan && remove(api, &c.id).await.is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_with_states_the_docker_api_lacks_is_still_read() {
        let body = br#"[{"Id":"aa","Labels":{"orchestra.managed":"1"},"State":"stopped","Created":5},
            {"Id":"bb","Labels":null,"State":"exited","Created":6,"Extra":{"x":1}},{"Names":["no id"]}]"#;
        let list = parse_list(body).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].id.as_str(), list[0].state.as_str(), list[0].created), ("aa", "stopped", 5));
        assert_eq!(list[0].labels.get(MANAGED).map(String::as_str), Some("1"));
        assert_eq!((list[1].id.as_str(), list[1].state.as_str()), ("bb", "exited"));
        assert!(list[1].labels.is_empty());
        // Docker's answer, through the client, is named the same way.
        use bollard::models::ContainerSummaryStateEnum as S;
        assert_eq!([S::CREATED.to_string(), S::RUNNING.to_string()], ["created", "running"]);
    }

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
