//! What this host can enforce: namespaces, landlock ABI, seccomp, cgroups,
//! container engines. Every fact is measured (a syscall or a trial), never
//! inferred from version strings or `/sys/kernel/security/lsm`.

use serde::Serialize;
use std::path::Path;

/// The jail-relevant facts.
#[derive(Debug, Clone, Serialize)]
pub struct JailProbe {
    /// landlock ABI version (0: unavailable).
    pub landlock_abi: i32,
    /// seccomp filters with user notification.
    pub seccomp_notify: bool,
    /// Whether a child could create user + mount + pid + net + ipc + uts + cgroup namespaces.
    pub user_namespaces: bool,
    /// Why not, with the fix.
    pub userns_error: Option<String>,
    /// Whether we can create cgroups with memory and pids limits.
    pub cgroups_usable: bool,
    /// Which cgroup setup was found.
    pub cgroups: String,
    /// Controllers of the cgroup v2 hierarchy (empty where none is mounted).
    pub cgroup_v2_controllers: Vec<String>,
    /// Controllers with a cgroup v1 hierarchy (hybrid or legacy hosts).
    pub cgroup_v1_controllers: Vec<String>,
}

/// Full probe output.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Kernel release.
    pub kernel: String,
    /// Effective uid.
    pub uid: u32,
    /// Jail facts.
    pub jail: JailProbe,
    /// Docker engine socket answering.
    pub docker: bool,
    /// Why the Docker socket does not answer (empty when it does).
    pub docker_detail: String,
    /// Podman socket answering.
    pub podman: bool,
    /// Why the Podman socket does not answer (empty when it does).
    pub podman_detail: String,
    /// Whether we seem to run inside a container.
    pub in_container: bool,
    /// Mandatory access control (AppArmor/SELinux) presence.
    pub mac: String,
    /// Whether a jail task can enter orchestra's AppArmor profile at its exec.
    pub apparmor_exec: AppArmorExecProbe,
}

/// Whether a jail task can enter an AppArmor profile at its exec here
/// (`mac.apparmor`, AppArmor's `change_onexec`).
#[derive(Debug, Clone, Serialize)]
pub struct AppArmorExecProbe {
    /// The kernel has AppArmor, enabled.
    pub enabled: bool,
    /// A jail task can enter a loaded profile at its exec.
    pub change_onexec: bool,
    /// Why not; or, when it can, what it still needs (the profile loaded).
    pub detail: String,
}

/// Probe AppArmor's `change_onexec` for jail tasks on `host`.
pub fn probe_apparmor_exec(host: &dyn crate::mac::decide::AppArmorHost) -> AppArmorExecProbe {
    match crate::mac::decide::change_onexec_usable(host) {
        Ok(()) => AppArmorExecProbe {
            enabled: true,
            change_onexec: true,
            detail: "a jail task enters its policy's profile at its exec once an administrator has loaded it (`orchestra policy apparmor --jail POLICY | sudo apparmor_parser -r`)".into(),
        },
        Err(why) => AppArmorExecProbe { enabled: host.enabled(), change_onexec: false, detail: why.to_string() },
    }
}

/// Probe the jail's controls (cheap: one short-lived child for namespaces).
pub fn probe_jail() -> JailProbe {
    let landlock_abi = super::sys::landlock_abi();
    let seccomp_notify = super::sys::seccomp_user_notif_available();
    let (user_namespaces, userns_error) = match try_namespaces() {
        Ok(()) => (true, None),
        Err(e) => (false, Some(explain_userns_failure(&e.to_string()))),
    };
    let (v2, m1, p1) = super::cgroup::probe();
    let cgroups = match (&v2, &m1, &p1) {
        (Some(d), _, _) => format!("v2 delegated at {}", d.display()),
        (None, Some(m), Some(p)) => format!("v1 memory at {}, pids at {}", m.display(), p.display()),
        _ => "none usable (limits fall back to rlimits)".to_string(),
    };
    let writable = |d: &Option<std::path::PathBuf>| d.as_ref().is_some_and(|d| is_writable_dir(d));
    let cgroups_usable = writable(&v2) || (writable(&m1) && writable(&p1));
    let (cgroup_v2_controllers, cgroup_v1_controllers) = cgroup_controllers();
    JailProbe {
        landlock_abi,
        seccomp_notify,
        user_namespaces,
        userns_error,
        cgroups_usable,
        cgroups,
        cgroup_v2_controllers,
        cgroup_v1_controllers,
    }
}

/// (v2 controllers, v1 controllers) as this process sees them.
fn cgroup_controllers() -> (Vec<String>, Vec<String>) {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut v1: Vec<String> = own
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .flat_map(|c| c.split(','))
        .filter(|c| !c.is_empty() && !c.starts_with("name="))
        .map(String::from)
        .collect();
    v1.sort();
    let v2 = ["/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    (v2, v1)
}

fn is_writable_dir(d: &Path) -> bool {
    nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Creating the jail's namespaces failed.
#[derive(Debug, thiserror::Error)]
#[error("clone3: {0}")]
struct NamespaceError(std::io::Error);

/// Try creating the jail's namespaces in a throwaway child.
fn try_namespaces() -> Result<(), NamespaceError> {
    let exe = c"/bin/true".to_owned();
    let exec = super::sys::ChildExec {
        run: super::sys::ChildRun::Exec(exe.clone(), vec![exe], vec![]),
        dup2: vec![],
        wait_fd: -1,
        wait_peer: -1,
        join_cgroups: vec![],
    };
    let flags = (libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP) as u64;
    let child = super::sys::spawn_in_namespaces(flags, &exec).map_err(NamespaceError)?;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    Ok(())
}

/// Explain why namespaces could not be created, naming the fix for this host.
pub fn explain_userns_failure(e: &str) -> String {
    let apparmor = std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").map(|s| s.trim().to_string());
    if apparmor {
        format!(
            "{e}: AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+); run `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or install an AppArmor profile for orchestra, or use a policy with `jail: {{namespaces: off}}`"
        )
    } else if max.as_deref().ok() == Some("0") {
        format!("{e}: user.max_user_namespaces is 0; raise it with sysctl")
    } else if in_container() {
        format!(
            "{e}: inside a container the engine's seccomp profile blocks namespace creation; use a policy with `jail: {{namespaces: off}}` (landlock + seccomp + rlimits) or the docker backend"
        )
    } else {
        format!("{e}: user namespaces are unavailable")
    }
}

/// Whether this process seems to run inside a container.
pub fn in_container() -> bool {
    Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|s| s.contains("docker") || s.contains("libpod"))
}

/// Why an engine socket did not answer, as far as the socket tells (the one
/// reading for `sandbox probe` and the container backends' errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// No socket at the path (the engine is not running, or the path is wrong).
    Missing,
    /// A socket file that nothing listens on (the engine stopped).
    Refused,
    /// The socket is there, and this user may not connect to it.
    Denied,
    /// Anything else: the error says what.
    Other,
}

impl Unreachable {
    /// From the kind of the socket's error.
    pub fn of_kind(kind: std::io::ErrorKind) -> Unreachable {
        match kind {
            std::io::ErrorKind::NotFound => Unreachable::Missing,
            std::io::ErrorKind::ConnectionRefused => Unreachable::Refused,
            std::io::ErrorKind::PermissionDenied => Unreachable::Denied,
            _ => Unreachable::Other,
        }
    }

    /// In words a user can act on, for the socket at `path` (if the address
    /// is one); `None` when only the error itself can say.
    pub fn words(self, path: Option<&Path>) -> Option<String> {
        match (self, path) {
            (Unreachable::Missing, Some(p)) => Some(format!("no socket at {}", p.display())),
            (Unreachable::Refused, _) => Some("nothing listens there".to_string()),
            (Unreachable::Denied, Some(p)) => Some(format!("permission denied: {}", socket_access(p))),
            _ => None,
        }
    }
}

/// Who owns a socket, in words: `owned by root:docker, mode 0660`.
pub fn socket_access(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else { return "its owner and mode cannot be read".to_string() };
    let user = nix::unistd::User::from_uid(m.uid().into()).ok().flatten().map(|u| u.name);
    let group = nix::unistd::Group::from_gid(m.gid().into()).ok().flatten().map(|g| g.name);
    format!(
        "owned by {}:{}, mode {:04o}",
        user.unwrap_or_else(|| m.uid().to_string()),
        group.unwrap_or_else(|| m.gid().to_string()),
        m.mode() & 0o7777
    )
}

/// Why an engine socket does not answer.
#[derive(Debug, thiserror::Error)]
pub enum SocketState {
    /// It cannot be reached, in words a user can act on ([`Unreachable::words`]).
    #[error("{0}")]
    Unreachable(String),
    /// The exchange failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Something answers, not an engine.
    #[error("{0} does not answer like an engine")]
    NotAnEngine(String),
}

/// Whether the engine socket at `path` answers a ping, or why not.
pub fn socket_state(path: &str) -> Result<(), SocketState> {
    use std::io::{Read, Write};
    let io = |source| SocketState::Io { path: path.to_string(), source };
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        match Unreachable::of_kind(e.kind()).words(Some(Path::new(path))) {
            Some(w) => SocketState::Unreachable(w),
            None => io(e),
        }
    })?;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(io)?;
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) if buf[..n].starts_with(b"HTTP/1.") => Ok(()),
        Ok(_) => Err(SocketState::NotAnEngine(path.to_string())),
        Err(e) => Err(io(e)),
    }
}

/// Probe everything.
pub fn probe() -> Probe {
    let docker_sock = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let podman_sock = std::env::var("XDG_RUNTIME_DIR")
        .map(|d| format!("{d}/podman/podman.sock"))
        .ok()
        .filter(|p| Path::new(p).exists())
        .unwrap_or_else(|| "/run/podman/podman.sock".into());
    let mac = if Path::new("/sys/kernel/security/apparmor").exists() {
        "apparmor".to_string()
    } else if Path::new("/sys/fs/selinux/enforce").exists() {
        "selinux".to_string()
    } else {
        "none (no AppArmor or SELinux on this host)".to_string()
    };
    let (docker, podman) = (socket_state(&docker_sock), socket_state(&podman_sock));
    Probe {
        kernel: nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
        uid: nix::unistd::geteuid().as_raw(),
        jail: probe_jail(),
        docker: docker.is_ok(),
        docker_detail: docker.err().map(|e| e.to_string()).unwrap_or_default(),
        podman: podman.is_ok(),
        podman_detail: podman.err().map(|e| e.to_string()).unwrap_or_default(),
        in_container: in_container(),
        mac,
        apparmor_exec: probe_apparmor_exec(&crate::mac::decide::RealHost),
    }
}
