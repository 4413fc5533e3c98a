//! Compiling a policy into the engine's container configuration: a pure
//! function from the policy, the task and a few facts to the exact
//! `POST /containers/create` body. Unit-tested without an engine.
//!
//! Guarantees — every container gets, whatever the policy says:
//! no privileged mode, no host pid/ipc/uts/user namespace, no devices, every
//! capability dropped, `no-new-privileges`, a non-root user, a read-only root
//! filesystem, the generated seccomp profile (inline), ulimits, and only the
//! declared mounts (workspace at `/work`, `<workspace>/.orchestra` read-only
//! over it, extra volumes read-only unless `:rw`, never the engine's socket).
//! The network is `none` (a private namespace with only `lo`); the policy may
//! open nothing more: `network.mode: host` would share the host's namespace
//! and fails closed. Anything the policy asks that a container cannot do is a
//! [`SpecError`] (exit 1, nothing ran).

use super::seccomp;
use crate::policy::{NetworkMode, Policy, TmpMode, WorkdirAccess};
use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the workspace is mounted in the container.
pub const WORKDIR: &str = crate::policy::volume::CONTAINER_WORKDIR;
/// Where the supervisor binary is mounted (read-only).
pub const SUPERVISOR_BIN: &str = "/.orchestra/bin/orchestra-sandbox";
/// Where the supervisor's report directory is mounted (host temp dir); it also
/// holds the FIFOs `stdout` and `stderr` that carry the task's output to the host.
pub const OUT_DIR: &str = "/.orchestra/out";

/// A policy that cannot be honoured by a container.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

pub use crate::policy::volume::{Volume, VolumeError, parse_volume};

impl From<VolumeError> for SpecError {
    fn from(e: VolumeError) -> Self {
        SpecError(e.to_string())
    }
}

/// Whether mounting `host` would hand the task an engine's API socket: the
/// socket itself, a directory holding one, or a well-known socket directory.
pub fn exposes_engine_socket(host: &Path, engine_socket: Option<&Path>) -> bool {
    let known = ["/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock", "/var/run/podman/podman.sock"];
    let socket_dirs = ["/", "/run", "/var/run", "/var", "/run/podman", "/var/run/podman", "/run/user"];
    if socket_dirs.iter().any(|d| host == Path::new(d)) || host.starts_with("/run/user") {
        return true;
    }
    let resolved = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf());
    let sockets = known.iter().map(PathBuf::from).chain(engine_socket.map(Path::to_path_buf));
    for s in sockets {
        let s = std::fs::canonicalize(&s).unwrap_or(s);
        if s.starts_with(&resolved) || s.starts_with(host) {
            return true;
        }
    }
    false
}

/// Facts the configuration depends on.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The workspace on the host (absolute, canonical).
    pub workdir: PathBuf,
    /// Whether `<workdir>/.orchestra` exists (it is then mounted read-only).
    pub dot_orchestra: bool,
    /// Mandatory access control options for the engine (`apparmor=…`,
    /// `label=…`; empty where the host has neither: `crate::mac`).
    pub mac: Vec<String>,
    /// Orchestra's own paths (the audit directory, the signing key, a run's
    /// directory): a volume that would expose one is refused.
    pub own: Vec<PathBuf>,
    /// Protected paths of the workspace that exist (relative; real files and
    /// directories, never links), each mounted read-only over the workspace.
    pub protected: Vec<PathBuf>,
    /// Directories inside the workspace (relative) that the task must not see:
    /// the orchestrator's own (a run's `runs/`), each covered by an empty
    /// read-only tmpfs.
    pub hidden: Vec<PathBuf>,
    /// The engine is Podman, whose tmpfs mounts copy up what they cover unless
    /// told not to (`notmpcopyup`, an option Docker does not know).
    pub podman: bool,
    /// uid:gid the task runs as (never 0).
    pub user: (u32, u32),
    /// The program run as the container's command.
    pub cmd: Vec<String>,
    /// The container's environment.
    pub env: Vec<(String, String)>,
    /// The supervisor binary and its report directory on the host, when it runs.
    pub supervisor: Option<(PathBuf, PathBuf)>,
    /// The engine's socket (refused as a volume).
    pub engine_socket: Option<PathBuf>,
    /// Labels (ownership, for reaping).
    pub labels: HashMap<String, String>,
    /// Where the caller writes the seccomp profile for an engine that reads
    /// `seccomp=` as a path on its host (Podman's compatibility API); `None`
    /// passes it inline (Docker).
    pub seccomp_file: Option<PathBuf>,
    /// RLIMIT_NPROC for the container: explicit, because an engine without
    /// CAP_SYS_RESOURCE cannot apply its default (Podman on this kind of host).
    /// Counted per uid on the host, so it stays above `limits.pids` (the real bound).
    pub nproc: u64,
    /// The engine removes the container when it stops (`AutoRemove`): used when
    /// the supervisor reports the task's status, so that nothing waits for the
    /// removal. Without the supervisor the exit status must be read from the
    /// engine first, and the backend removes the container itself.
    pub auto_remove: bool,
}

/// The create body for `policy` and `facts`.
pub fn create_body(policy: &Policy, facts: &Facts) -> Result<ContainerCreateBody, SpecError> {
    if facts.user.0 == 0 || facts.user.1 == 0 {
        return Err(SpecError("the container task must not run as root (uid/gid 0)".into()));
    }
    if policy.network_mode() == NetworkMode::Host {
        return Err(SpecError(
            "network.mode: host would share the host's network namespace; the container backends offer none and loopback only (use the jail for host)".into(),
        ));
    }
    if !policy.filesystem.read_write.is_empty() {
        return Err(SpecError(
            "filesystem.read_write is a jail setting; a container writes only its workspace and volumes declared with :rw in container.volumes".into(),
        ));
    }
    if let Some(c) = policy.container.cpus.get()
        && !(c.is_finite() && c > 0.0)
    {
        return Err(SpecError(format!("container.cpus must be positive, got {c}")));
    }
    let rw_flag = |rw: bool| if rw { "rw" } else { "ro" };
    let workdir_rw = policy.filesystem.workdir == WorkdirAccess::ReadWrite;
    let mut binds = vec![format!("{}:{WORKDIR}:{}", facts.workdir.display(), rw_flag(workdir_rw))];
    if facts.dot_orchestra {
        binds.push(format!("{}:{WORKDIR}/.orchestra:ro", facts.workdir.join(".orchestra").display()));
    }
    if workdir_rw {
        for rel in &facts.protected {
            binds.push(format!("{}:{}:ro", facts.workdir.join(rel).display(), Path::new(WORKDIR).join(rel).display()));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    for spec in policy.container_volumes() {
        let v = parse_volume(&spec)?;
        // Compared as written and as resolved: a link must not lead around a refusal.
        let real = std::fs::canonicalize(&v.host).unwrap_or_else(|_| v.host.clone());
        let overlaps = |p: &Path| [&v.host, &real].iter().any(|h| p.starts_with(h) || h.starts_with(p));
        if let Some(own) = facts.own.iter().find(|p| overlaps(p)) {
            return Err(SpecError(format!(
                "volume {spec:?} would expose orchestra's own {} (the audit log, its key or a run's state)",
                own.display()
            )));
        }
        if exposes_engine_socket(&v.host, facts.engine_socket.as_deref()) {
            return Err(SpecError(format!("volume {spec:?} would expose the container engine's socket")));
        }
        for h in &policy.filesystem.hidden {
            let hidden = crate::policy::load::expand_home(h, &home);
            if overlaps(&hidden) {
                return Err(SpecError(format!(
                    "volume {spec:?} would expose the hidden path {} (filesystem.hidden)",
                    hidden.display()
                )));
            }
        }
        // The built-in supervisor's directory: a task that could write there
        // would choose the supervisor of a later container.
        if let Some(state) = super::supervisor::state_dir()
            && overlaps(&state)
        {
            return Err(SpecError(format!(
                "volume {spec:?} would expose orchestra's supervisor directory {}",
                state.display()
            )));
        }
        binds.push(format!("{}:{}:{}", v.host.display(), v.container.display(), rw_flag(v.rw)));
    }
    if let Some((bin, out)) = &facts.supervisor {
        binds.push(format!("{}:{SUPERVISOR_BIN}:ro", bin.display()));
        binds.push(format!("{}:{OUT_DIR}:rw", out.display()));
    }
    let limits = &policy.limits;
    let mut tmpfs = HashMap::new();
    for rel in &facts.hidden {
        let copyup = if facts.podman { ",notmpcopyup" } else { "" };
        tmpfs.insert(
            format!("{WORKDIR}/{}", rel.display()),
            format!("ro,nosuid,nodev,noexec,size=4k,mode=0555{copyup}"),
        );
    }
    if policy.filesystem.tmp == TmpMode::Private {
        let size = limits.disk.get().map(|b| format!(",size={}", b.0)).unwrap_or_default();
        tmpfs.insert("/tmp".to_string(), format!("rw,exec,nosuid,nodev,mode=1777{size}"));
    }
    let mut ulimits = vec![ResourcesUlimits { name: Some("core".into()), soft: Some(0), hard: Some(0) }];
    let mut ulimit = |name: &str, v: Option<u64>| {
        if let Some(v) = v {
            let v = i64::try_from(v).unwrap_or(i64::MAX);
            ulimits.push(ResourcesUlimits { name: Some(name.into()), soft: Some(v), hard: Some(v) });
        }
    };
    ulimit("nofile", limits.open_files.get());
    ulimit("nproc", Some(facts.nproc));
    ulimit("fsize", limits.disk.get().map(|b| b.0));
    if let Some(soft) = limits.cpu_time.get().map(|d| d.0.as_secs().max(1)) {
        // Soft below hard, as in the jail: SIGXCPU first (see jail::plan::cpu_limits).
        let hard = crate::jail::plan::cpu_hard_wanted(soft);
        let (soft, hard) = (i64::try_from(soft).unwrap_or(i64::MAX), i64::try_from(hard).unwrap_or(i64::MAX));
        ulimits.push(ResourcesUlimits { name: Some("cpu".into()), soft: Some(soft), hard: Some(hard) });
    }
    let memory = limits.memory.get().map(|b| i64::try_from(b.0).unwrap_or(i64::MAX));
    let profile = seccomp::profile(policy, facts.supervisor.is_some());
    let host_config = HostConfig {
        binds: Some(binds),
        tmpfs: Some(tmpfs),
        readonly_rootfs: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: Some(Vec::new()),
        security_opt: Some(
            [
                "no-new-privileges".to_string(),
                match &facts.seccomp_file {
                    Some(path) => format!("seccomp={}", path.display()),
                    None => format!("seccomp={profile}"),
                },
            ]
            .into_iter()
            .chain(facts.mac.iter().cloned())
            .collect(),
        ),
        privileged: Some(false),
        network_mode: Some("none".into()),
        ipc_mode: Some("private".into()),
        devices: Some(Vec::new()),
        pids_limit: limits.pids.get().map(|p| i64::try_from(p).unwrap_or(i64::MAX)),
        memory,
        // Memory + swap = memory: no swap at all.
        memory_swap: memory,
        nano_cpus: policy.container.cpus.get().map(|c| (c * 1e9) as i64),
        oom_kill_disable: Some(false),
        ulimits: Some(ulimits),
        init: Some(false),
        auto_remove: Some(facts.auto_remove),
        publish_all_ports: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(policy.container_image().to_string()),
        cmd: Some(facts.cmd.clone()),
        entrypoint: Some(Vec::new()),
        env: Some(facts.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: Some(format!("{}:{}", facts.user.0, facts.user.1)),
        working_dir: Some(WORKDIR.into()),
        hostname: Some("orchestra".into()),
        network_disabled: Some(policy.network_mode() == NetworkMode::None),
        attach_stdin: Some(false),
        // A supervised task's output comes through FIFOs in the report directory.
        attach_stdout: Some(facts.supervisor.is_none()),
        attach_stderr: Some(facts.supervisor.is_none()),
        open_stdin: Some(false),
        tty: Some(false),
        labels: Some(facts.labels.clone()),
        host_config: Some(host_config),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            workdir: "/w".into(),
            dot_orchestra: true,
            mac: Vec::new(),
            own: Vec::new(),
            protected: Vec::new(),
            hidden: vec![PathBuf::from("runs")],
            podman: false,
            user: (1000, 1000),
            cmd: vec!["true".into()],
            env: vec![("PATH".into(), "/bin".into())],
            supervisor: None,
            engine_socket: Some("/var/run/docker.sock".into()),
            labels: HashMap::new(),
            seccomp_file: None,
            nproc: 4096,
            auto_remove: false,
        }
    }

    #[test]
    fn every_container_is_hardened() {
        let b = create_body(&Policy::default(), &facts()).unwrap();
        let h = b.host_config.unwrap();
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(h.privileged, Some(false));
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(h.devices, Some(vec![]));
        assert_eq!(h.memory, h.memory_swap);
        assert!(h.memory.is_some() && h.pids_limit.is_some() && h.nano_cpus.is_some());
        let sec = h.security_opt.unwrap();
        assert!(sec.contains(&"no-new-privileges".to_string()));
        assert!(sec.iter().any(|s| s.starts_with("seccomp={")));
        let tmpfs = h.tmpfs.unwrap();
        assert!(tmpfs.contains_key("/tmp"));
        assert!(tmpfs.get("/work/runs").is_some_and(|o| o.starts_with("ro,")), "runs/ is hidden read-only");
        let binds = h.binds.unwrap();
        assert_eq!(binds, vec!["/w:/work:rw".to_string(), "/w/.orchestra:/work/.orchestra:ro".to_string()]);
        assert_eq!(b.user.as_deref(), Some("1000:1000"));
        assert!(h.pid_mode.is_none() && h.userns_mode.is_none() && h.uts_mode.is_none());
    }

    #[test]
    fn root_and_host_network_fail_closed() {
        let mut f = facts();
        f.user = (0, 0);
        assert!(create_body(&Policy::default(), &f).is_err());
        let mut p = Policy::default();
        p.network.mode = NetworkMode::Host;
        assert!(create_body(&p, &facts()).is_err());
    }

    #[test]
    fn volumes_are_read_only_unless_rw_and_never_the_engine_socket() {
        assert!(!parse_volume("/a:/b").unwrap().rw);
        assert!(parse_volume("/a:/b:rw").unwrap().rw);
        assert!(parse_volume("a:/b").is_err());
        assert!(parse_volume("/a:/work").is_err());
        assert!(parse_volume("/a:/proc/x").is_err());
        let mut p = Policy::default();
        p.container.volumes = vec!["/var/run:/x".into()];
        assert!(create_body(&p, &facts()).is_err());
        p.container.volumes = vec!["/var/run/docker.sock:/x".into()];
        assert!(create_body(&p, &facts()).is_err());
        p.container.volumes = vec!["/usr:/usr".into()];
        let b = create_body(&p, &facts()).unwrap();
        assert!(b.host_config.unwrap().binds.unwrap().contains(&"/usr:/usr:ro".to_string()));
    }

    #[test]
    fn a_volume_over_a_hidden_path_fails_closed() {
        let mut p = Policy::default();
        p.container.volumes = vec!["/etc:/etc".into()];
        let e = create_body(&p, &facts()).unwrap_err();
        assert!(e.0.contains("hidden"), "{e}");
    }
}
