//! Compiling a policy into the jail's plan: a pure function from the policy,
//! the task and a few facts about the host to the exact list of mounts, decoys,
//! landlock roots, rlimits and environment the jail will apply.
//!
//! The plan is what the host side hands to the in-jail init (its copy of the
//! host's memory, made by the clone); nothing in the
//! init re-reads the policy. Being pure, it is unit-tested without a kernel.

use crate::policy::{NetworkMode, Policy, SyscallClass, TmpMode, WorkdirAccess, load::expand_home};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One mount (or symlink) of the jail's root, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mount {
    /// Bind a host path at the same place, read-only unless `rw`.
    Bind {
        /// Host path.
        src: PathBuf,
        /// Path in the jail.
        dst: PathBuf,
        /// Writable.
        rw: bool,
    },
    /// Recreate a host symlink (e.g. `/lib -> usr/lib` on merged-/usr systems).
    Symlink {
        /// Link target, as on the host.
        target: PathBuf,
        /// Path in the jail.
        dst: PathBuf,
    },
    /// A host directory seen through a private overlay: its content, writable, with
    /// every change kept in a tmpfs upper layer discarded with the jail.
    Overlay {
        /// Host directory (the lower layer).
        src: PathBuf,
        /// Path in the jail.
        dst: PathBuf,
        /// Size bound of the upper layer in bytes.
        size: Option<u64>,
    },
    /// A `copy_on_write` directory the host does not have: an empty private
    /// tmpfs, mode 0755 and owned by the task (as a directory the task made
    /// itself), discarded with the jail like an overlay's upper layer.
    Empty {
        /// Path in the jail.
        dst: PathBuf,
        /// Size bound in bytes.
        size: Option<u64>,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Path in the jail.
        dst: PathBuf,
        /// Size bound in bytes.
        size: Option<u64>,
    },
    /// An empty read-only directory (a home, a parent of something else).
    Dir {
        /// Path in the jail.
        dst: PathBuf,
    },
}

impl Mount {
    /// The path in the jail.
    pub fn dst(&self) -> &Path {
        match self {
            Mount::Bind { dst, .. }
            | Mount::Symlink { dst, .. }
            | Mount::Overlay { dst, .. }
            | Mount::Empty { dst, .. }
            | Mount::Tmpfs { dst, .. }
            | Mount::Dir { dst } => dst,
        }
    }
}

/// A decoy standing in for a hidden path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoy {
    /// The hidden path, in the jail.
    pub path: PathBuf,
    /// For a hidden directory: the names (relative paths) of its files, each an empty decoy.
    /// Empty for a hidden file.
    pub entries: Vec<PathBuf>,
    /// Whether the hidden path is a directory.
    pub is_dir: bool,
    /// Whether reading it is reported (`fs.hidden`). False for the orchestrator's
    /// own directories (audit log, runs): an empty placeholder the jail put there
    /// holds nothing to steal, and a recursive read of the workspace is no attack.
    #[serde(default = "watched_default")]
    pub watched: bool,
    /// A canary file's content (a file decoy only): the decoy holds it instead
    /// of nothing, and reading it is `canary.read` rather than `fs.hidden`
    /// ([`super::plant`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
}

/// A file the jail generates and mounts read-only over a host entry it shows
/// (a bound `/etc`'s `resolv.conf`): its content comes with the plan
/// ([`super::offline`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The path in the jail it covers.
    pub path: PathBuf,
    /// The file's content.
    pub content: String,
    /// The path lies in the jail's own root, where no host tree is bound:
    /// the file is made there (otherwise it covers the host's entry, and
    /// an entry gone since the plan is left as it is).
    #[serde(default)]
    pub make: bool,
}

fn watched_default() -> bool {
    true
}

/// Read-only roots scanned for entries that other users cannot read: below them,
/// such an entry is hidden like a listed path (`/etc/shadow-`, `/etc/gshadow-`,
/// `/etc/ssl/private`, …), unless the policy lists that very path. System
/// software trees (`/usr`, `/lib`) hold no such secrets and are too large to scan
/// per task.
pub const SCANNED_ROOTS: &[&str] = &["/etc"];

/// Resource limits applied with setrlimit in the task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimits {
    /// RLIMIT_NOFILE.
    pub nofile: Option<u64>,
    /// RLIMIT_CPU soft limit, seconds (the hard one: [`cpu_limits`]).
    pub cpu_secs: Option<u64>,
    /// RLIMIT_FSIZE, bytes.
    pub fsize: Option<u64>,
    /// RLIMIT_AS, bytes (only when no memory cgroup bounds the task).
    pub address_space: Option<u64>,
    /// RLIMIT_NPROC (only when no pids cgroup bounds the task).
    pub nproc: Option<u64>,
}

impl Rlimits {
    /// The rlimits for `policy`; the memory and pids limits only where no
    /// cgroup bounds the task (`cgroup_memory`, `cgroup_pids`).
    pub fn of(policy: &Policy, cgroup_memory: bool, cgroup_pids: bool) -> Rlimits {
        let limits = &policy.limits;
        Rlimits {
            nofile: limits.open_files.get(),
            cpu_secs: limits.cpu_time.get().map(|d| d.0.as_secs().max(1)),
            fsize: limits.disk.get().map(|b| b.0),
            address_space: if cgroup_memory { None } else { limits.memory.get().map(|b| b.0) },
            nproc: if cgroup_pids { None } else { limits.pids.get() },
        }
    }
}

/// RLIMIT_CPU as applied for a policy limit of `soft` seconds: `(soft, hard)`.
/// The hard limit is 5% (at least 1 s) above, so the task first gets SIGXCPU
/// at the limit (a violation it may observe) and SIGKILL only if it goes on.
/// Without CAP_SYS_RESOURCE a hard limit cannot rise above ours: it is capped
/// there (the soft limit too, if it is above it). The init applies these values
/// and the host judges the task's end with the same ones.
pub fn cpu_limits(soft: u64) -> (u64, u64) {
    let wanted = cpu_hard_wanted(soft);
    let ours = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CPU).map_or(u64::MAX, |(_, h)| h);
    let hard = wanted.min(ours);
    (soft.min(hard), hard)
}

/// The hard RLIMIT_CPU wanted for a soft one (also the container's ulimit).
pub fn cpu_hard_wanted(soft: u64) -> u64 {
    soft.saturating_add((soft / 20).max(1))
}

/// Everything the in-jail init needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JailPlan {
    /// Task name for messages.
    pub task: String,
    /// argv; argv\[0\] is the program as given (resolved against `PATH` in the jail).
    pub argv: Vec<String>,
    /// The complete environment of the task.
    pub env: Vec<(String, String)>,
    /// Working directory (same path in and out of the jail).
    pub workdir: PathBuf,
    /// Whether to create namespaces and a new root.
    pub namespaces: bool,
    /// Network mode.
    pub network: NetworkMode,
    /// Root layout, in order.
    pub mounts: Vec<Mount>,
    /// Decoys for hidden paths.
    pub decoys: Vec<Decoy>,
    /// Generated read-only files mounted over entries the jail shows from the
    /// host, after the mounts and before the decoys ([`super::offline`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<Generated>,
    /// Paths the task may read (and execute) below: landlock read roots. A root
    /// with a hidden path below it is listed entry by entry around that path.
    pub readable: Vec<PathBuf>,
    /// Paths the task may write below: landlock write roots and the supervisor's
    /// notion of "allowed write".
    pub writable: Vec<PathBuf>,
    /// Single files the task may write (device nodes such as /dev/null).
    pub writable_files: Vec<PathBuf>,
    /// Denied syscall classes.
    pub denied: Vec<SyscallClass>,
    /// rlimits.
    pub rlimits: Rlimits,
    /// Kill the task at the first violation (otherwise deny the call and go on).
    pub kill_on_violation: bool,
    /// Hostname inside the UTS namespace.
    pub hostname: String,
    /// Observe (notify and report) rather than only deny. False only for the
    /// benchmark baseline (`exec --bench-unobserved`), recorded as an opt-out.
    pub observe: bool,
    /// Read-only mounts inside writable roots, made outside the jail (see
    /// [`HostFacts::read_only_mounts`]): writes below them are violations.
    #[serde(default)]
    pub read_only_islands: Vec<PathBuf>,
    /// The task's stdin, stdout and stderr are a pseudo-terminal (`exec
    /// --tty`), which the task makes its controlling terminal.
    #[serde(default)]
    pub tty: bool,
    /// The task may open pseudo-terminals: `ptmx` and numbered terminals in
    /// [`PTY_DIR`], a devpts instance that is the task's alone — the jail's
    /// own with namespaces, or an orchestra container's (the engine makes one
    /// per container and the task, never root there, cannot open a terminal
    /// another user made). False without namespaces on the host, where
    /// /dev/pts holds the host's terminals.
    #[serde(default)]
    pub ptys: bool,
    /// The host uid and gid the task runs as when orchestra runs as root and
    /// the working directory belongs to another user (the task then writes
    /// as the checkout's owner, as the container backends do); `None`: the
    /// task is the invoking user.
    #[serde(default)]
    pub task_host_ids: Option<(u32, u32)>,
    /// Protected paths inside the writable working directory (the policy's
    /// `filesystem.protected_in`, and the real location of one that is a
    /// link inside it): the supervisor refuses creating, changing, removing or
    /// moving them, or a directory that holds one (`fs.protected`); those that
    /// exist are also bound read-only when the jail has a mount namespace.
    #[serde(default)]
    pub protected: Vec<PathBuf>,
    /// The protected paths, absent or a directory before the task, that a
    /// command word names (`!ninja -C build.debug`, `!tools/gen`): a
    /// directory is no code there (review 81, F5), so making, removing or
    /// moving a directory at one, and writing below one while it is a real
    /// directory, is allowed; any other file there stays `fs.protected`,
    /// whether a directory or nothing was there (review 82, F2). Never
    /// bound read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs_allowed: Vec<PathBuf>,
    /// The canary values planted for this task ([`super::plant`]): a payload
    /// the task sends with one of them is `canary.leak`, and not sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<crate::canary::Token>,
    /// orchestra's AppArmor profile, which the task enters at its exec
    /// (`mac.apparmor`, decided on the host side before the plan is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<AppArmorExec>,
    /// The names in the host's `/`, read on the host side
    /// ([`super::nowhere::host_root_names`]): a creation below a name of the
    /// jail's root that the host's root lacks too reaches nothing
    /// ([`super::nowhere`]). `None`: unknown, and every such creation is
    /// judged as a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_root_names: Option<Vec<String>>,
}

/// The AppArmor profile a jail task enters at its exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppArmorExec {
    /// The profile's name (loaded by an administrator).
    pub profile: String,
    /// `mac.apparmor: required`: the task does not run if the kernel refuses
    /// the change; otherwise it runs without, and the report says why.
    pub required: bool,
}

/// Facts about the host and the invocation that the plan depends on.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The invoking user's home.
    pub home: PathBuf,
    /// The orchestrator's own environment (only passthrough names are copied).
    pub env: Vec<(String, String)>,
    /// Paths that must never be visible or writable to the task (the audit log
    /// directory, the signing key), besides the policy's hidden list.
    pub protected: Vec<PathBuf>,
    /// Whether cgroups bound memory and pids (then the matching rlimits are left off).
    pub cgroup_memory: bool,
    /// Whether a pids cgroup bounds the task.
    pub cgroup_pids: bool,
    /// Paths inside the workspace already kept read-only by a mount the jail
    /// did not make (a container engine's read-only bind of `.orchestra/`):
    /// a namespace-less jail accepts them and reports writes there.
    pub read_only_mounts: Vec<PathBuf>,
    /// Files in use inside the workspace (the policy file): protected paths
    /// besides the policy's.
    pub in_use: Vec<PathBuf>,
}

/// Device nodes bound into the jail's /dev.
pub const DEVICES: [&str; 6] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// Where the namespaced jail mounts its own devpts instance (`newinstance`:
/// the host's terminals are not in it), with `/dev/ptmx` a link to its
/// `ptmx`: the task may open pseudo-terminals (`openpty`, `pty.fork`,
/// `script`) and nothing else there. Opens below it are the only writes
/// allowed there.
pub const PTY_DIR: &str = "/dev/pts";

/// Most pseudo-terminals the jail's devpts instance holds at once.
pub const PTY_MAX: u32 = 256;

/// An error in compiling a plan (always a configuration problem: exit 1).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The working directory is unusable.
    #[error("working directory {0}: {1}")]
    Workdir(PathBuf, String),
    /// The program name is empty.
    #[error("no program to run")]
    NoProgram,
    /// A control cannot be enforced in this mode.
    #[error("{0}")]
    Unenforceable(String),
    /// A tree too large to examine for what other users cannot read.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// A policy path that goes through a symlink: the mount, its landlock rule
    /// and the supervisor would all reach the link's target, which the policy
    /// never named (a link an earlier task could have planted).
    #[error(
        "filesystem.{list}: {} goes through the symlink {} (-> {}); a policy path must name a real directory: list the path it leads to, if that is what the task needs",
        .path.display(), .link.display(), .target.display()
    )]
    ThroughLink {
        /// The policy list (`read_only`, `read_write`, `copy_on_write`).
        list: &'static str,
        /// The path as the policy names it (`~` expanded).
        path: PathBuf,
        /// The symlink in it.
        link: PathBuf,
        /// The symlink's target, as written.
        target: PathBuf,
    },
    /// A policy path that is relative or holds `..`.
    #[error("filesystem.{list}: {} must be an absolute path without `..`", .path.display())]
    NotPlain {
        /// The policy list.
        list: &'static str,
        /// The path.
        path: PathBuf,
    },
}

/// Check that policy path `path` of `list` names the object at that very name:
/// absolute, no `..`, and no symlink in any component but the last (and, unless
/// `final_link`, not in the last either). The init opens the same path again
/// without following any symlink (rootfs.rs), so a link put there after this
/// check fails the set-up instead of redirecting the mount.
fn plain_path(list: &'static str, path: &Path, final_link: bool, view: &dyn HostView) -> Result<(), PlanError> {
    use std::path::Component;
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return Err(PlanError::NotPlain { list, path: path.to_path_buf() });
    }
    let through =
        |link: PathBuf, target: PathBuf| PlanError::ThroughLink { list, path: path.to_path_buf(), link, target };
    if let Some((link, target)) = view.first_link(path) {
        return Err(through(link, target));
    }
    match view.kind(path) {
        Some(HostEntry::Symlink(target)) if !final_link => Err(through(path.to_path_buf(), target)),
        _ => Ok(()),
    }
}

/// Compile `policy` for running `argv` in `workdir`.
pub fn compile(
    policy: &Policy,
    task: &str,
    argv: &[String],
    workdir: &Path,
    host: &HostFacts,
    host_view: &dyn HostView,
) -> Result<JailPlan, PlanError> {
    if argv.first().is_none_or(|a| a.is_empty()) {
        return Err(PlanError::NoProgram);
    }
    if !workdir.is_absolute() {
        return Err(PlanError::Workdir(workdir.to_path_buf(), "must be absolute".into()));
    }
    let fs = &policy.filesystem;
    let home = &host.home;
    let mut mounts: Vec<Mount> = Vec::new();
    let mut readable: Vec<PathBuf> = Vec::new();
    let mut writable: Vec<PathBuf> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    for p in &fs.read_only {
        let path = expand_home(p, home);
        // A final symlink is recreated as a link in the jail (`/lib -> usr/lib`):
        // it leads only to what the jail itself holds.
        plain_path("read_only", &path, true, host_view)?;
        match host_view.kind(&path) {
            Some(HostEntry::Symlink(target)) => mounts.push(Mount::Symlink { target, dst: path.clone() }),
            Some(_) => {
                mounts.push(Mount::Bind { src: path.clone(), dst: path.clone(), rw: false });
                readable.push(path);
            }
            None => notes.push(format!("{} absent on host", path.display())),
        }
    }
    for p in &fs.read_write {
        let path = expand_home(p, home);
        plain_path("read_write", &path, false, host_view)?;
        if host_view.kind(&path).is_some() {
            mounts.push(Mount::Bind { src: path.clone(), dst: path.clone(), rw: true });
            writable.push(path);
        }
    }
    let mut absent_cow: Vec<PathBuf> = Vec::new();
    for p in &fs.copy_on_write {
        let path = expand_home(p, home);
        plain_path("copy_on_write", &path, false, host_view)?;
        match host_view.kind(&path) {
            Some(HostEntry::Dir) => {
                if path.to_string_lossy().contains([',', ':', '\\']) {
                    return Err(PlanError::Unenforceable(format!(
                        "filesystem.copy_on_write: {} holds a ',', ':' or '\\', which an overlay mount cannot name",
                        path.display()
                    )));
                }
                let size = policy.limits.disk.get().map(|b| b.0);
                mounts.push(Mount::Overlay { src: path.clone(), dst: path.clone(), size });
                writable.push(path);
            }
            Some(_) => {
                return Err(PlanError::Unenforceable(format!(
                    "filesystem.copy_on_write: {} is not a directory",
                    path.display()
                )));
            }
            None => absent_cow.push(path),
        }
    }
    let workdir_rw = fs.workdir == WorkdirAccess::ReadWrite;
    mounts.push(Mount::Bind { src: workdir.to_path_buf(), dst: workdir.to_path_buf(), rw: workdir_rw });
    if workdir_rw {
        writable.push(workdir.to_path_buf());
    } else {
        readable.push(workdir.to_path_buf());
    }
    // The orchestrator's own state inside the workspace stays read-only.
    let dot = workdir.join(".orchestra");
    if workdir_rw && host_view.kind(&dot).is_some() {
        mounts.push(Mount::Bind { src: dot.clone(), dst: dot, rw: false });
    }
    let with_ns = policy.jail.namespaces == crate::policy::NamespaceMode::Required;
    let protected = if workdir_rw {
        super::protect::protect(fs, workdir, &host.in_use, with_ns, &mut mounts)?
    } else {
        super::protect::Protected::default()
    };
    // A cache the host does not have (a user who never ran go has no ~/go) is
    // an empty private directory: the task creates in it what it would create
    // on the host, and nothing reaches the host. Not inside a bound host
    // directory, where making the mount point would write the host (or fail).
    for path in absent_cow {
        let parent = mounts.iter().filter(|m| path.starts_with(m.dst())).max_by_key(|m| m.dst().components().count());
        match parent {
            Some(Mount::Bind { src, .. }) => notes.push(format!(
                "{} absent on host, inside the bound {}: not provided",
                path.display(),
                src.display()
            )),
            _ => {
                mounts.push(Mount::Empty { dst: path.clone(), size: policy.limits.disk.get().map(|b| b.0) });
                writable.push(path);
            }
        }
    }
    if !mounts.iter().any(|m| home.starts_with(m.dst()) && m.dst() != Path::new("/")) {
        mounts.push(Mount::Dir { dst: home.clone() });
    }
    if policy.filesystem.tmp == TmpMode::Private {
        mounts.push(Mount::Tmpfs { dst: PathBuf::from("/tmp"), size: policy.limits.disk.get().map(|b| b.0) });
        writable.push(PathBuf::from("/tmp"));
    }
    // /dev/shm is a tmpfs made together with the jail's /dev (rootfs::mount_dev).
    writable.push(PathBuf::from("/dev/shm"));
    // Parents before children: a stable sort by depth keeps policy order otherwise.
    mounts.sort_by_key(|m| m.dst().components().count());

    let mut decoys = Vec::new();
    // Below the scanned roots, what other users cannot read is hidden too: a name
    // list cannot keep up with /etc. A policy exposes such an entry (and what lies
    // below it) only by listing that very path.
    let listed: Vec<PathBuf> = fs.read_only.iter().chain(&fs.read_write).map(|p| expand_home(p, home)).collect();
    let mut found: Vec<PathBuf> = Vec::new();
    for r in readable.iter().filter(|r| SCANNED_ROOTS.iter().any(|s| r.starts_with(s))) {
        found.extend(host_view.unreadable_below(r)?);
    }
    let exposed = |f: &PathBuf| listed.iter().any(|l| f.starts_with(l) && found.contains(l));
    let unreadable: Vec<PathBuf> = found.iter().filter(|f| !exposed(f)).cloned().collect();
    // The orchestrator's own directories (audit log, runs) become empty, unwatched
    // placeholders; its files (the signing key) and the secrets get watched decoys.
    let hidden = fs
        .hidden
        .iter()
        .map(|h| (expand_home(h, home), true))
        .chain(unreadable.into_iter().map(|p| (p, true)))
        .chain(host.protected.iter().map(|p| (p.clone(), false)));
    for (path, secret) in hidden {
        match host_view.kind(&path) {
            Some(HostEntry::Dir) if secret => {
                let entries = host_view.files_below(&path);
                decoys.push(Decoy { path, entries, is_dir: true, watched: true, canary: None })
            }
            Some(HostEntry::Dir) => {
                decoys.push(Decoy { path, entries: Vec::new(), is_dir: true, watched: false, canary: None })
            }
            Some(HostEntry::File) | Some(HostEntry::Symlink(_)) => {
                decoys.push(Decoy { path, entries: Vec::new(), is_dir: false, watched: true, canary: None })
            }
            // Absent now, but inside a copy-on-write cache the host's file could
            // appear during the task (`cargo login` writing credentials.toml) and
            // show through the overlay: a decoy holds the name from the start.
            None if secret
                && mounts.iter().any(
                    |m| matches!(m, Mount::Overlay { dst, .. } | Mount::Empty { dst, .. } if path.starts_with(dst)),
                ) =>
            {
                decoys.push(Decoy { path, entries: Vec::new(), is_dir: false, watched: true, canary: None })
            }
            None => {}
        }
    }
    decoys.sort_by(|a, b| a.path.cmp(&b.path));
    decoys.dedup_by(|a, b| a.path == b.path);

    let namespaces = policy.jail.namespaces == crate::policy::NamespaceMode::Required;
    let generated = super::offline::files(policy.network.mode, namespaces, &mounts, &decoys, host_view);
    if namespaces {
        let secrets: Vec<PathBuf> = decoys.iter().filter(|d| d.watched).map(|d| d.path.clone()).collect();
        readable = grant_around_hidden(readable, &secrets, host_view)?;
        // A generated file is read like any visible entry; one the split
        // around a hidden path left out (a host link) gets its own grant.
        for g in &generated {
            if !readable.iter().any(|r| g.path.starts_with(r)) {
                readable.push(g.path.clone());
            }
        }
    }
    if !namespaces {
        let dot = workdir.join(".orchestra");
        let own_dot = host_view.kind(&dot).map(|_| dot);
        namespaceless_checks(policy, &decoys, &readable, &writable, own_dot, host)?;
        // No mount namespace: /tmp and /dev/shm cannot be private, so they are not
        // writable unless listed in filesystem.read_write.
        let listed = |w: &Path| fs.read_write.iter().any(|r| Path::new(r) == w);
        writable.retain(|w| (w != Path::new("/tmp") && w != Path::new("/dev/shm")) || listed(w));
    }

    let rlimits = Rlimits::of(policy, host.cgroup_memory, host.cgroup_pids);

    Ok(JailPlan {
        task: task.to_string(),
        argv: argv.to_vec(),
        env: if namespaces { with_minimal_stat(task_env(policy, host)) } else { task_env(policy, host) },
        workdir: workdir.to_path_buf(),
        namespaces,
        network: policy.network.mode,
        mounts,
        decoys,
        generated,
        readable,
        writable,
        writable_files: DEVICES.iter().map(PathBuf::from).collect(),
        // With namespaces, SysV/POSIX IPC stays in the jail's own IPC namespace.
        denied: policy.denied_classes().into_iter().filter(|c| !namespaces || *c != SyscallClass::Ipc).collect(),
        rlimits,
        kill_on_violation: policy.on_violation == crate::policy::OnViolation::Kill,
        // A name every /etc/hosts resolves: tools that look their own host
        // up (git's ident, Java, Erlang) get an answer without a DNS query,
        // which the jail's network rules would deny (a false exit 4).
        hostname: "localhost".to_string(),
        observe: true,
        read_only_islands: if namespaces { Vec::new() } else { host.read_only_mounts.clone() },
        tty: false,
        ptys: namespaces,
        task_host_ids: None,
        protected: protected.paths,
        dirs_allowed: protected.dirs_allowed,
        canaries: Vec::new(),
        apparmor: None,
        host_root_names: None,
    })
}

/// What a namespace-less jail (landlock + seccomp + rlimits only) cannot
/// enforce; each is a configuration error (fail closed).
fn namespaceless_checks(
    policy: &Policy,
    decoys: &[Decoy],
    readable: &[PathBuf],
    writable: &[PathBuf],
    own_dot: Option<PathBuf>,
    host: &HostFacts,
) -> Result<(), PlanError> {
    let visible = |p: &Path| readable.iter().chain(writable.iter()).any(|r| p.starts_with(r));
    // Without a mount namespace nothing can be hidden inside a visible tree.
    for d in decoys {
        if visible(&d.path) {
            return Err(PlanError::Unenforceable(format!(
                "filesystem.hidden: {} lies inside a visible path and cannot be hidden without namespaces (jail.namespaces: off)",
                d.path.display()
            )));
        }
    }
    if !policy.filesystem.copy_on_write.is_empty() {
        return Err(PlanError::Unenforceable(
            "filesystem.copy_on_write needs a mount namespace; with jail.namespaces: off list the cache under read_only (the task then cannot write it)".into(),
        ));
    }
    if policy.filesystem.tmp == TmpMode::Private {
        return Err(PlanError::Unenforceable(
            "filesystem.tmp: private needs a mount namespace; with jail.namespaces: off use `tmp: none` (and list /tmp in read_write if the task may share the host's /tmp)".into(),
        ));
    }
    // The orchestrator's own files must not sit below a writable root: landlock
    // cannot carve a read-only hole into a writable tree.
    let own = own_dot.into_iter().chain(host.protected.iter().cloned());
    for p in own.filter(|p| !host.read_only_mounts.iter().any(|m| p.starts_with(m))) {
        if writable.iter().any(|w| p.starts_with(w)) {
            return Err(PlanError::Unenforceable(format!(
                "{} lies inside a writable path; without namespaces it cannot be kept read-only (move it, e.g. --audit-dir outside the workspace)",
                p.display()
            )));
        }
    }
    Ok(())
}

/// What a host path is, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEntry {
    /// A regular file (or anything that is not a directory or symlink).
    File,
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink(PathBuf),
}

/// Why a tree could not be examined for what other users cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// More entries than [`MAX_SCANNED`] (the directory reached).
    #[error(
        "more than {MAX_SCANNED} entries below a scanned root (at {}): what other users cannot read there cannot be told apart; list the paths the task needs instead",
        .0.display()
    )]
    TooMany(PathBuf),
}

/// The plan's only window on the host filesystem (a fake one in tests).
pub trait HostView {
    /// What `path` is, without following a final symlink; `None` if absent.
    fn kind(&self, path: &Path) -> Option<HostEntry>;
    /// The first component of `path` above its last that is a symlink, and
    /// the link's target; `None` when every existing one is a real directory.
    fn first_link(&self, path: &Path) -> Option<(PathBuf, PathBuf)>;
    /// The files below a hidden directory (bounded), for its decoy.
    fn files_below(&self, dir: &Path) -> Vec<PathBuf>;
    /// The entries below `root` that users other than the owner and group cannot
    /// read (a file without `o+r`, a directory without `o+r` or `o+x`), outermost
    /// only, when this process runs as root (another user's task meets the same
    /// permission bits itself): a hidden directory hides its
    /// contents; `[root]` when `root` itself is such an entry. Symlinks are not
    /// followed. A tree too large or too deep to examine is an error (fail
    /// closed: what was not examined could be a secret).
    fn unreadable_below(&self, root: &Path) -> Result<Vec<PathBuf>, ScanError>;
    /// The entries of directory `dir` that are files or directories (symlinks are
    /// left out: landlock judges the file a link leads to by that file's own rule).
    fn entries(&self, dir: &Path) -> Vec<PathBuf>;
    /// The content of the file at `path` (a final link followed), if it is
    /// text of at most `max` bytes; `None` otherwise.
    fn small_file(&self, path: &Path, max: usize) -> Option<String> {
        let _ = (path, max);
        None
    }
}

/// The real host filesystem.
pub struct RealHost;

impl HostView for RealHost {
    fn small_file(&self, path: &Path, max: usize) -> Option<String> {
        use std::io::Read;
        let mut buf = Vec::new();
        let limit = u64::try_from(max).ok()?.saturating_add(1);
        std::fs::File::open(path).ok()?.take(limit).read_to_end(&mut buf).ok()?;
        if buf.len() > max {
            return None;
        }
        String::from_utf8(buf).ok()
    }

    fn kind(&self, path: &Path) -> Option<HostEntry> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            return std::fs::read_link(path).ok().map(HostEntry::Symlink);
        }
        Some(if meta.is_dir() { HostEntry::Dir } else { HostEntry::File })
    }

    fn first_link(&self, path: &Path) -> Option<(PathBuf, PathBuf)> {
        // Outermost first: each prefix's own parents are already known to be
        // real directories, so read_link judges only its last component.
        let mut prefix = PathBuf::new();
        let mut parts = path.components().peekable();
        while let Some(c) = parts.next() {
            prefix.push(c);
            if parts.peek().is_none() {
                break;
            }
            if let Ok(target) = std::fs::read_link(&prefix) {
                return Some((prefix, target));
            }
        }
        None
    }

    fn files_below(&self, dir: &Path) -> Vec<PathBuf> {
        let mut entries = Vec::new();
        collect_files(dir, Path::new(""), 0, &mut entries);
        entries
    }

    fn unreadable_below(&self, root: &Path) -> Result<Vec<PathBuf>, ScanError> {
        // Only a task of root's orchestrator holds root's file access (its uid maps
        // to root's); any other task meets the same permission bits as its user.
        if !nix::unistd::geteuid().is_root() {
            return Ok(Vec::new());
        }
        if std::fs::symlink_metadata(root).is_ok_and(|m| closed_to_others(&m)) {
            return Ok(vec![root.to_path_buf()]);
        }
        scan_unreadable(root)
    }

    fn entries(&self, dir: &Path) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut out: Vec<PathBuf> =
            rd.flatten().filter(|e| e.file_type().is_ok_and(|t| !t.is_symlink())).map(|e| e.path()).collect();
        // Entries of one directory: the order of their bytes is the order of
        // their components.
        out.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        out
    }
}

/// At most this many entries are granted one by one around hidden paths; a task
/// needing more is refused (exit 1) rather than granted a directory whole.
const MAX_SPLIT_GRANTS: usize = 20_000;

/// Landlock attaches a rule to an inode, not to a name. A read root with a hidden
/// path below it is therefore granted entry by entry: read on each entry except
/// the hidden one (which gets its decoy's rule), recursing into the entry that
/// leads to it. When the host replaces a hidden file by rename while the task
/// runs (`useradd` and `passwd` rewrite `/etc/shadow` so), the decoy mounted over
/// the old file is dropped, and the new file's inode has no rule: the task gets
/// EACCES, never the secret. (Files the host adds to such a directory meanwhile
/// are unreadable too.)
fn grant_around_hidden(
    roots: Vec<PathBuf>,
    hidden: &[PathBuf],
    view: &dyn HostView,
) -> Result<Vec<PathBuf>, PlanError> {
    /// The paths hidden, and every directory above one (compared by
    /// components, as `Path`'s equality and hashing are).
    struct Around<'a> {
        hidden: std::collections::HashSet<&'a Path>,
        above: std::collections::HashSet<&'a Path>,
    }
    fn split(
        dir: PathBuf,
        around: &Around<'_>,
        view: &dyn HostView,
        out: &mut Vec<PathBuf>,
        budget: &mut usize,
    ) -> Result<(), PlanError> {
        if !around.above.contains(dir.as_path()) {
            out.push(dir);
            return Ok(());
        }
        let entries = view.entries(&dir);
        // Granting the directory whole would grant what the host renames over a
        // hidden file in it: refuse rather than weaken.
        *budget = budget.checked_sub(entries.len()).ok_or_else(|| {
            PlanError::Unenforceable(format!(
                "more than {MAX_SPLIT_GRANTS} entries around the hidden paths below {}: they cannot be granted one by one; list the paths the task needs instead",
                dir.display()
            ))
        })?;
        for e in entries {
            if !around.hidden.contains(e.as_path()) {
                split(e, around, view, out, budget)?;
            }
        }
        Ok(())
    }
    let around = Around {
        hidden: hidden.iter().map(PathBuf::as_path).collect(),
        // A directory is above a hidden path when the path starts with it and
        // is not it: one of the path's proper ancestors.
        above: hidden.iter().flat_map(|h| h.ancestors().skip(1)).collect(),
    };
    let mut out = Vec::new();
    let mut budget = MAX_SPLIT_GRANTS;
    for r in roots {
        split(r, &around, view, &mut out, &mut budget)?;
    }
    Ok(out)
}

/// At most this many entries are examined below each scanned root, or the task
/// is refused (/etc holds about 1,200 on a Debian host).
const MAX_SCANNED: usize = 50_000;

/// Whether users other than the owner and group cannot read it: a file without
/// `o+r`, a directory without `o+r` or `o+x` (one they cannot search hides its
/// entries from them as surely as one they cannot list).
fn closed_to_others(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    mode_closed_to_others(m.permissions().mode(), m.is_dir())
}

/// [`closed_to_others`] on a raw `st_mode`.
fn mode_closed_to_others(mode: u32, is_dir: bool) -> bool {
    mode & 0o004 == 0 || (is_dir && mode & 0o001 == 0)
}

/// Threads examining a scanned root (the caller's and one more): the scan is
/// most of a start's CPU work before the jail's root can be built.
const SCAN_THREADS: usize = 2;

/// Open directory `name` below the open directory `dir` (never through a
/// symlink put there since it was examined).
fn open_below(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Option<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    nix::fcntl::openat(dir, name, flags, nix::sys::stat::Mode::empty()).ok()
}

/// The path of entry `name` of directory `dir`.
fn scan_path(dir: &Path, name: &std::ffi::CStr) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(name.to_bytes()))
}

/// The entries below `root` closed to others (see
/// [`HostView::unreadable_below`]), examined on [`SCAN_THREADS`] threads that
/// take `root`'s entries in turn, sharing one budget of [`MAX_SCANNED`]; the
/// result is in the order one thread would find it.
///
/// Each directory is opened once and read with `getdents64` alone
/// ([`crate::sys::dir_entries`]), and each entry judged relative to its open
/// directory (no path walked from `/` again); an entry `getdents` already
/// calls a symlink is passed over without a `stat`, as a `stat` would have
/// it passed over (symlinks are not followed). On this host /etc holds 865
/// symlinks among 1,579 entries: the scan's `stat` calls fall by half.
fn scan_unreadable(root: &Path) -> Result<Vec<PathBuf>, ScanError> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(root_fd) = nix::fcntl::open(root, flags, nix::sys::stat::Mode::empty()) else { return Ok(Vec::new()) };
    let root_fd = root_fd.as_fd();
    let top = crate::sys::dir_entries(root_fd);
    let budget = AtomicUsize::new(MAX_SCANNED);
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, Vec<PathBuf>)>, ScanError> {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(e) = top.get(i) else { return Ok(mine) };
            let mut out = Vec::new();
            examine(root_fd, root, e, 0, &budget, &mut out)?;
            if !out.is_empty() {
                mine.push((i, out));
            }
        }
    };
    let found = std::thread::scope(|s| {
        let others: Vec<_> = (1..SCAN_THREADS).map(|_| s.spawn(work)).collect();
        let mut found = vec![work()];
        found.extend(others.into_iter().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        found
    });
    let mut parts = Vec::new();
    for f in found {
        parts.extend(f?);
    }
    parts.sort_by_key(|(i, _)| *i);
    Ok(parts.into_iter().flat_map(|(_, out)| out).collect())
}

/// Examine entry `e` of the open directory `dir_fd` at `dir` (and below it,
/// when it is a directory open to others).
fn examine(
    dir_fd: BorrowedFd<'_>,
    dir: &Path,
    e: &crate::sys::DirEntry,
    depth: usize,
    budget: &AtomicUsize,
    out: &mut Vec<PathBuf>,
) -> Result<(), ScanError> {
    const MAX_DEPTH: usize = 32;
    if budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_err() {
        return Err(ScanError::TooMany(dir.to_path_buf()));
    }
    if e.kind == libc::DT_LNK {
        return Ok(());
    }
    let Ok(st) = nix::sys::stat::fstatat(dir_fd, e.name.as_c_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else {
        return Ok(());
    };
    let format = st.st_mode & libc::S_IFMT;
    if format == libc::S_IFLNK {
        return Ok(());
    }
    let is_dir = format == libc::S_IFDIR;
    if mode_closed_to_others(st.st_mode, is_dir) || (is_dir && depth >= MAX_DEPTH) {
        // Too deep to examine: hidden whole, like a secret.
        out.push(scan_path(dir, &e.name));
    } else if is_dir {
        let Some(fd) = open_below(dir_fd, &e.name) else { return Ok(()) };
        let children = crate::sys::dir_entries(fd.as_fd());
        let path = scan_path(dir, &e.name);
        for child in &children {
            examine(fd.as_fd(), &path, child, depth + 1, budget, out)?;
        }
    }
    Ok(())
}

fn collect_files(root: &Path, rel: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    const MAX_DEPTH: usize = 3;
    const MAX_ENTRIES: usize = 512;
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else { return };
    for e in rd.flatten() {
        if out.len() >= MAX_ENTRIES {
            return;
        }
        let rel_path = rel.join(e.file_name());
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < MAX_DEPTH => collect_files(root, &rel_path, depth + 1, out),
            Ok(t) if !t.is_dir() => out.push(rel_path),
            _ => {}
        }
    }
}

/// The task's environment: passthrough names from the caller, then `set`, with
/// `~/` expanded at the start of each `:`-separated element. `ORCHESTRA_*` never passes.
pub fn task_env(policy: &Policy, host: &HostFacts) -> Vec<(String, String)> {
    let env = &policy.environment;
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in &host.env {
        if k.starts_with("ORCHESTRA_") {
            continue;
        }
        let listed = env.passthrough.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => k.starts_with(prefix),
            None => p == k,
        });
        if listed {
            out.push((k.clone(), v.clone()));
        }
    }
    let home = host.home.to_string_lossy();
    for (k, v) in &env.set {
        let expanded: Vec<String> = v
            .split(':')
            .map(|part| match part.strip_prefix("~/") {
                Some(rest) => format!("{home}/{rest}"),
                None if part == "~" => home.to_string(),
                None => part.to_string(),
            })
            .collect();
        out.retain(|(ek, _)| ek != k);
        out.push((k.clone(), expanded.join(":")));
    }
    if !out.iter().any(|(k, _)| k == "HOME") {
        out.push(("HOME".into(), home.to_string()));
    }
    out.sort();
    out
}

/// The task's environment with git told to compare only the stat data a
/// jail keeps (`core.checkStat=minimal`: mtime seconds, size, mode).
///
/// With namespaces the task is uid 1000 and sees the files it owns as 1000,
/// while a checkout's index holds the host's ids (0, 65534, the checkout's
/// owner): every tracked file's cached stat data mismatch, and plumbing that
/// does not refresh the index (`git diff-index HEAD`, version scripts that
/// stamp "-dirty") calls a clean checkout modified. The index and
/// `.git/config` are protected, so the setting goes through git's
/// environment, as its last `GIT_CONFIG_KEY_<n>`: settings the environment
/// already gives keep working, and one that already sets `core.checkStat`
/// (or a `GIT_CONFIG_COUNT` that is not a number) is left as it is.
pub fn with_minimal_stat(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    let get = |env: &[(String, String)], k: &str| env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone());
    let count = match get(&env, "GIT_CONFIG_COUNT") {
        None => 0,
        Some(c) => match c.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) => return env,
        },
    };
    let sets_it = (0..count)
        .any(|i| get(&env, &format!("GIT_CONFIG_KEY_{i}")).is_some_and(|k| k.eq_ignore_ascii_case("core.checkstat")));
    let params = get(&env, "GIT_CONFIG_PARAMETERS").is_some_and(|p| p.to_ascii_lowercase().contains("core.checkstat"));
    if sets_it || params {
        return env;
    }
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    };
    set(&mut env, format!("GIT_CONFIG_KEY_{count}"), "core.checkStat".into());
    set(&mut env, format!("GIT_CONFIG_VALUE_{count}"), "minimal".into());
    set(&mut env, "GIT_CONFIG_COUNT".into(), (count + 1).to_string());
    env.sort();
    env
}

/// A plan for unit tests elsewhere in the jail: task `t` running `true` in
/// `/work`, with namespaces, no network, nothing mounted, allowed or denied;
/// tests set what they exercise with struct update syntax.
#[cfg(test)]
impl JailPlan {
    pub(crate) fn for_tests() -> JailPlan {
        JailPlan {
            task: "t".into(),
            argv: vec!["true".into()],
            env: vec![],
            workdir: "/work".into(),
            namespaces: true,
            network: NetworkMode::None,
            mounts: vec![],
            decoys: vec![],
            generated: vec![],
            readable: vec![],
            writable: vec![],
            writable_files: vec![],
            denied: vec![],
            rlimits: Default::default(),
            kill_on_violation: true,
            hostname: "x".into(),
            observe: true,
            read_only_islands: vec![],
            tty: false,
            ptys: false,
            task_host_ids: None,
            protected: vec![],
            dirs_allowed: vec![],
            canaries: vec![],
            apparmor: None,
            host_root_names: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            home: PathBuf::from("/home/u"),
            env: vec![
                ("SECRET_TOKEN".into(), "s3cr3t".into()),
                ("ORCHESTRA_AUDIT_KEY".into(), "/k".into()),
                ("CARGO_TERM_COLOR".into(), "never".into()),
            ],
            protected: vec![PathBuf::from("/home/u/.config/orchestra/audit.key")],
            cgroup_memory: false,
            cgroup_pids: false,
            read_only_mounts: vec![],
            in_use: vec![],
        }
    }

    struct FakeHost;
    impl HostView for FakeHost {
        fn kind(&self, p: &Path) -> Option<HostEntry> {
            match p.to_str()? {
                "/lib" => Some(HostEntry::Symlink("usr/lib".into())),
                "/usr" | "/etc" | "/bin" | "/work" | "/home/u/.ssh" | "/etc/ssl/private" => Some(HostEntry::Dir),
                "/work/.orchestra/audit" => Some(HostEntry::Dir),
                "/etc/shadow" | "/etc/shadow-" => Some(HostEntry::File),
                "/work/sub" => Some(HostEntry::Symlink("../..".into())),
                "/work/out" => Some(HostEntry::Symlink("/var/lib".into())),
                _ => None,
            }
        }
        fn first_link(&self, p: &Path) -> Option<(PathBuf, PathBuf)> {
            p.starts_with("/work/sub/").then(|| ("/work/sub".into(), "../..".into()))
        }
        fn unreadable_below(&self, root: &Path) -> Result<Vec<PathBuf>, ScanError> {
            Ok(match root.to_str() {
                Some("/etc") => vec!["/etc/shadow-".into(), "/etc/ssl/private".into()],
                Some("/etc/ssl/private") => vec![root.to_path_buf()],
                _ => panic!("only roots below /etc are scanned, not {}", root.display()),
            })
        }
        fn entries(&self, dir: &Path) -> Vec<PathBuf> {
            let names: &[&str] = match dir.to_str() {
                Some("/etc") => &["/etc/passwd", "/etc/shadow", "/etc/shadow-", "/etc/ssl"],
                Some("/etc/ssl") => &["/etc/ssl/certs", "/etc/ssl/private"],
                _ => panic!("only directories above a hidden path are listed, not {}", dir.display()),
            };
            names.iter().map(PathBuf::from).collect()
        }
        fn files_below(&self, dir: &Path) -> Vec<PathBuf> {
            match dir.to_str() {
                Some("/home/u/.ssh") => vec!["id_rsa".into()],
                Some("/etc/ssl/private") => vec!["host.key".into()],
                _ => panic!("only secret directories are listed, not {}", dir.display()),
            }
        }
    }

    fn decoy<'p>(plan: &'p JailPlan, path: &str) -> Option<&'p Decoy> {
        plan.decoys.iter().find(|d| d.path == Path::new(path))
    }

    #[test]
    fn what_other_users_cannot_read_in_etc_is_hidden_unless_listed() {
        let mut p = Policy::default();
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        assert!(decoy(&plan, "/etc/shadow-").is_some_and(|d| d.watched && !d.is_dir));
        let private = decoy(&plan, "/etc/ssl/private").expect("the unreadable directory is hidden");
        assert!(private.watched && private.entries == vec![PathBuf::from("host.key")]);
        p.filesystem.read_only.push("/etc/ssl/private".into());
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        assert!(decoy(&plan, "/etc/ssl/private").is_none(), "a path the policy lists stays visible");
        assert!(decoy(&plan, "/etc/shadow-").is_some());
    }

    #[test]
    fn a_read_root_above_a_hidden_path_is_granted_entry_by_entry() {
        // Landlock rules follow inodes: a file the host puts in place of a hidden
        // one (rename over it) has no rule, so its content stays out of reach.
        let plan = compile(&Policy::default(), "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        assert!(!plan.readable.contains(&PathBuf::from("/etc")), "{:?}", plan.readable);
        for granted in ["/etc/passwd", "/etc/ssl/certs", "/usr", "/bin"] {
            assert!(plan.readable.contains(&PathBuf::from(granted)), "{granted} in {:?}", plan.readable);
        }
        for hidden in ["/etc/shadow", "/etc/shadow-", "/etc/ssl/private", "/etc/ssl"] {
            assert!(!plan.readable.contains(&PathBuf::from(hidden)), "{hidden} in {:?}", plan.readable);
        }
    }

    /// The grants as they were first computed: every hidden path compared
    /// with each directory and entry.
    fn grants_by_comparison(dir: PathBuf, hidden: &[PathBuf], out: &mut Vec<PathBuf>) {
        if !hidden.iter().any(|h| h.starts_with(&dir) && *h != dir) {
            out.push(dir);
            return;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| !e.file_type().unwrap().is_symlink())
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            if !hidden.contains(&e) {
                grants_by_comparison(e, hidden, out);
            }
        }
    }

    #[test]
    fn the_grants_around_hidden_paths_are_those_a_comparison_with_each_finds() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        for dir in ["etc/ssh", "etc/ssl/private", "etc/ssl/certs", "etc/a/b/c", "usr/lib", "home/u/.config/x"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for f in ["etc/passwd", "etc/shadow", "etc/shadow-", "etc/ssh/key", "etc/ssh/key.pub", "etc/a/b/c/secret"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink("passwd", root.join("etc/link")).unwrap();
        let roots: Vec<PathBuf> = ["etc", "usr", "home/u"].iter().map(|r| root.join(r)).collect();
        // Written as a policy or a scan may give them: `.` and doubled slashes.
        let hidden: Vec<PathBuf> = vec![
            root.join("etc/shadow"),
            root.join("etc/./shadow-"),
            root.join("etc/ssh"),
            PathBuf::from(format!("{}//etc/ssl/private/", root.display())),
            root.join("etc/a/b/c/secret"),
            root.join("home/u/.config"),
            root.join("absent/elsewhere"),
        ];
        let mut want = Vec::new();
        for r in &roots {
            grants_by_comparison(r.clone(), &hidden, &mut want);
        }
        let got = grant_around_hidden(roots, &hidden, &RealHost).unwrap();
        assert_eq!(got, want);
        assert!(got.contains(&root.join("etc/passwd")) && !got.contains(&root.join("etc/ssl")), "{got:?}");
        assert!(got.contains(&root.join("etc/ssl/certs")) && got.contains(&root.join("usr")), "{got:?}");
    }

    #[test]
    fn the_orchestrators_own_directories_are_unwatched_empty_placeholders() {
        let mut f = facts();
        f.protected =
            vec![PathBuf::from("/work/.orchestra/audit"), PathBuf::from("/home/u/.config/orchestra/audit.key")];
        let plan = compile(&Policy::default(), "t", &["true".into()], Path::new("/work"), &f, &FakeHost).unwrap();
        let audit = decoy(&plan, "/work/.orchestra/audit").expect("the audit directory is covered");
        assert!(!audit.watched && audit.entries.is_empty() && audit.is_dir);
        assert!(decoy(&plan, "/etc/shadow").is_some_and(|d| d.watched));
    }

    #[test]
    fn default_policy_plan() {
        let p = Policy::default();
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        assert!(plan.mounts.contains(&Mount::Symlink { target: "usr/lib".into(), dst: "/lib".into() }));
        assert!(plan.mounts.contains(&Mount::Bind { src: "/work".into(), dst: "/work".into(), rw: true }));
        assert!(plan.writable.contains(&PathBuf::from("/work")));
        assert!(!plan.writable.contains(&PathBuf::from("/etc")));
        assert_eq!(plan.network, NetworkMode::None);
        let decoys: Vec<_> = plan.decoys.iter().map(|d| d.path.clone()).collect();
        assert!(decoys.contains(&PathBuf::from("/home/u/.ssh")));
        assert!(decoys.contains(&PathBuf::from("/etc/shadow")));
        assert_eq!(plan.denied.len(), SyscallClass::ALL.len() - 1);
        assert!(!plan.denied.contains(&SyscallClass::Ipc), "the IPC namespace isolates SysV IPC");
        // parents before children
        let depths: Vec<_> = plan.mounts.iter().map(|m| m.dst().components().count()).collect();
        assert!(depths.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn environment_is_scrubbed() {
        let mut p = Policy::default();
        p.environment.passthrough = vec!["CARGO_*".into()];
        let env = task_env(&p, &facts());
        assert!(env.iter().any(|(k, _)| k == "CARGO_TERM_COLOR"));
        assert!(!env.iter().any(|(k, v)| k == "SECRET_TOKEN" || v.contains("s3cr3t")));
        assert!(!env.iter().any(|(k, _)| k.starts_with("ORCHESTRA_")));
        assert!(env.iter().any(|(k, v)| k == "HOME" && v == "/home/u"));
    }

    #[test]
    fn namespaceless_jail_refuses_hidden_paths_it_cannot_hide() {
        let mut p = Policy::default();
        p.jail.namespaces = crate::policy::NamespaceMode::Off;
        let e = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap_err();
        assert!(e.to_string().contains("/etc/shadow"), "{e}");
    }

    #[test]
    fn namespaceless_jail_refuses_a_private_tmp_and_writable_own_files() {
        let mut p = Policy::default();
        p.jail.namespaces = crate::policy::NamespaceMode::Off;
        p.filesystem.read_only = vec!["/usr".into()];
        p.filesystem.hidden = vec![];
        let e = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap_err();
        assert!(e.to_string().contains("filesystem.tmp"), "{e}");
        p.filesystem.tmp = TmpMode::None;
        let mut f = facts();
        f.protected = vec![PathBuf::from("/work/.orchestra/audit")];
        let e = compile(&p, "t", &["true".into()], Path::new("/work"), &f, &FakeHost).unwrap_err();
        assert!(e.to_string().contains(".orchestra"), "{e}");
        f.protected = vec![PathBuf::from("/elsewhere/audit")];
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &f, &FakeHost).unwrap();
        assert!(!plan.namespaces);
        assert!(!plan.writable.contains(&PathBuf::from("/tmp")));
    }

    /// Review 31, finding 1: `<ws>/sub/tmp` with `sub -> ../..` planted by an
    /// earlier task made the jail bind the host's /tmp read-write.
    #[test]
    fn a_policy_path_through_a_symlink_is_refused() {
        for list in ["read_only", "read_write", "copy_on_write"] {
            let mut p = Policy::default();
            let named = vec!["/work/sub/tmp".to_string()];
            match list {
                "read_only" => p.filesystem.read_only.extend(named),
                "read_write" => p.filesystem.read_write = named,
                _ => p.filesystem.copy_on_write = named,
            }
            let e = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap_err();
            assert!(matches!(e, PlanError::ThroughLink { .. }), "{list}: {e:?}");
            let text = e.to_string();
            assert!(
                text.contains(list) && text.contains("/work/sub/tmp") && text.contains("/work/sub (-> ../..)"),
                "{text}"
            );
        }
        // A final symlink: recreated as a link under read_only, refused under read_write.
        let mut p = Policy::default();
        p.filesystem.read_write = vec!["/work/out".into()];
        let e = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap_err();
        assert!(e.to_string().contains("symlink /work/out (-> /var/lib)"), "{e}");
        for bad in ["/usr/../etc", "usr"] {
            let mut p = Policy::default();
            p.filesystem.read_write = vec![bad.into()];
            let e = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap_err();
            assert!(matches!(e, PlanError::NotPlain { .. }), "{bad}: {e:?}");
        }
    }

    #[test]
    fn real_host_finds_the_first_symlink_in_a_path() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("a", root.join("l")).unwrap();
        std::os::unix::fs::symlink("b", root.join("a/m")).unwrap();
        assert_eq!(RealHost.first_link(&root.join("a/b/c")), None);
        assert_eq!(RealHost.first_link(&root.join("l")), None, "the last component is judged by kind()");
        assert_eq!(RealHost.first_link(&root.join("l/m/x")), Some((root.join("l"), "a".into())));
        assert_eq!(RealHost.first_link(&root.join("a/m/x")), Some((root.join("a/m"), "b".into())));
    }

    #[test]
    fn empty_program_is_refused() {
        let p = Policy::default();
        assert!(compile(&p, "t", &[], Path::new("/work"), &facts(), &FakeHost).is_err());
    }

    /// What one thread walking the tree in directory order finds (the scan
    /// before it had a second thread).
    fn sequential(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            if meta.file_type().is_symlink() {
                continue;
            }
            if closed_to_others(&meta) || (meta.is_dir() && depth >= 32) {
                out.push(e.path());
            } else if meta.is_dir() {
                sequential(&e.path(), depth + 1, out);
            }
        }
    }

    #[test]
    fn the_scan_on_two_threads_finds_what_one_thread_finds_in_the_same_order() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        for i in 0..40 {
            let top = root.join(format!("d{i}"));
            std::fs::create_dir_all(top.join("a/b")).unwrap();
            std::fs::write(top.join("open.conf"), "x").unwrap();
            std::fs::write(top.join("a/b/deep.conf"), "x").unwrap();
            if i % 3 == 0 {
                std::fs::write(top.join("secret"), "x").unwrap();
                mode(&top.join("secret"), 0o600);
            }
            if i % 7 == 0 {
                mode(&top.join("a/b/deep.conf"), 0o640);
            }
            if i % 11 == 0 {
                std::fs::create_dir(top.join("private")).unwrap();
                std::fs::write(top.join("private/key"), "x").unwrap();
                mode(&top.join("private"), 0o750);
            }
            std::os::unix::fs::symlink("/etc/shadow", top.join("link")).unwrap();
            // Links to directories (one closed, one holding a secret) are not followed.
            std::os::unix::fs::symlink(top.join("private"), top.join("to-private")).unwrap();
            std::os::unix::fs::symlink("a", top.join("to-a")).unwrap();
        }
        std::fs::write(root.join("top-secret"), "x").unwrap();
        mode(&root.join("top-secret"), 0o400);
        let mut want = Vec::new();
        sequential(root, 0, &mut want);
        assert_eq!(want.len(), 14 + 6 + 4 + 1, "{want:?}");
        for _ in 0..5 {
            assert_eq!(scan_unreadable(root).unwrap(), want);
        }
        // A directory closed to others hides its contents: only it is listed.
        assert!(want.contains(&root.join("d0/private")) && !want.contains(&root.join("d0/private/key")));
        assert!(!want.iter().any(|p| p.ends_with("to-private") || p.starts_with(root.join("d0/to-a"))), "{want:?}");
    }

    #[test]
    fn a_directory_read_by_getdents_alone_lists_what_read_dir_lists() {
        use std::os::fd::AsFd;
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().unwrap();
        // Long names: more than one 32 KiB getdents64 call.
        for i in 0..600 {
            std::fs::write(d.path().join(format!("{i:04}-{}", "n".repeat(60))), "").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("sub", d.path().join("link")).unwrap();
        let fd = std::fs::File::open(d.path()).unwrap();
        let got = crate::sys::dir_entries(fd.as_fd());
        let mut names: Vec<Vec<u8>> = got.iter().map(|e| e.name.as_bytes().to_vec()).collect();
        names.sort();
        let mut want: Vec<Vec<u8>> =
            std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
        want.sort();
        assert_eq!(names.len(), 602);
        assert_eq!(names, want);
        let kind = |n: &str| got.iter().find(|e| e.name.as_bytes() == n.as_bytes()).map(|e| e.kind);
        assert_eq!((kind("sub"), kind("link")), (Some(libc::DT_DIR), Some(libc::DT_LNK)));
        assert!(got.iter().filter(|e| e.name.as_bytes().len() > 4).all(|e| e.kind == libc::DT_REG));
    }

    #[test]
    fn the_scan_of_this_hosts_etc_finds_what_a_plain_walk_finds() {
        let mut want = Vec::new();
        sequential(Path::new("/etc"), 0, &mut want);
        assert_eq!(scan_unreadable(Path::new("/etc")).unwrap(), want);
    }

    #[test]
    fn the_scan_judges_modes_as_other_users_meet_them() {
        // Files: readable by others or not.
        assert!(!mode_closed_to_others(0o100644, false));
        assert!(mode_closed_to_others(0o100640, false));
        assert!(mode_closed_to_others(0o100600, false));
        // Directories: others need both r and x.
        assert!(!mode_closed_to_others(0o040755, true));
        assert!(mode_closed_to_others(0o040750, true));
        assert!(mode_closed_to_others(0o040754, true), "listable but not searchable");
        assert!(mode_closed_to_others(0o040751, true), "searchable but not listable");
        assert!(mode_closed_to_others(0o100751, false), "o+x alone does not open a file");
        assert!(!mode_closed_to_others(0o100604, false), "o+r is enough for a file");
    }

    #[test]
    fn a_copy_on_write_path_the_host_lacks_is_an_empty_private_writable_directory() {
        // Review 83 P2: no ~/go on the host (go never ran) must not make go's
        // mkdir of ~/go/pkg/mod an fs.write.
        let mut p = Policy::default();
        p.filesystem.copy_on_write = vec!["~/go".into(), "/work/cache".into()];
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        let go = Path::new("/home/u/go");
        assert!(plan.mounts.iter().any(|m| matches!(m, Mount::Empty { dst, .. } if dst == go)), "{:?}", plan.mounts);
        assert!(plan.writable.iter().any(|w| w == go));
        let at = |d: &Path| plan.mounts.iter().position(|m| m.dst() == d).unwrap();
        assert!(at(Path::new("/home/u")) < at(go), "the home's mount point before the directory in it");
        // One inside a bound host directory is not provided: its mount point
        // would be made in the host's directory.
        assert!(!plan.mounts.iter().any(|m| m.dst() == Path::new("/work/cache")), "{:?}", plan.mounts);
        assert!(!plan.writable.iter().any(|w| w == Path::new("/work/cache")));
    }

    #[test]
    fn the_task_s_git_compares_only_the_stat_data_the_jail_keeps() {
        // Review 83 P5: with namespaces the task's uid is 1000, not the index's.
        let plan = compile(&Policy::default(), "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost).unwrap();
        let get = |k: &str| plan.env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (get("GIT_CONFIG_COUNT"), get("GIT_CONFIG_KEY_0"), get("GIT_CONFIG_VALUE_0")),
            (Some("1"), Some("core.checkStat"), Some("minimal"))
        );
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        // Settings the environment gives stay; ours comes last.
        let got = with_minimal_stat(env(&[
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "a.b"),
            ("GIT_CONFIG_VALUE_0", "c"),
        ]));
        assert_eq!(
            got,
            env(&[
                ("GIT_CONFIG_COUNT", "2"),
                ("GIT_CONFIG_KEY_0", "a.b"),
                ("GIT_CONFIG_KEY_1", "core.checkStat"),
                ("GIT_CONFIG_VALUE_0", "c"),
                ("GIT_CONFIG_VALUE_1", "minimal"),
            ])
        );
        // A setting of its own, or a count git would refuse, is left alone.
        for given in [
            env(&[
                ("GIT_CONFIG_COUNT", "1"),
                ("GIT_CONFIG_KEY_0", "Core.CheckStat"),
                ("GIT_CONFIG_VALUE_0", "default"),
            ]),
            env(&[("GIT_CONFIG_PARAMETERS", "'core.checkstat'='default'")]),
            env(&[("GIT_CONFIG_COUNT", "x")]),
        ] {
            assert_eq!(with_minimal_stat(given.clone()), given);
        }
        // Without namespaces the task is the invoking user: nothing to add.
        let mut p = Policy::default();
        p.jail.namespaces = crate::policy::NamespaceMode::Off;
        p.filesystem.tmp = TmpMode::None;
        p.filesystem.read_only = Vec::new();
        p.filesystem.hidden = Vec::new();
        let plan = compile(&p, "t", &["true".into()], Path::new("/work"), &facts(), &FakeHost)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!plan.env.iter().any(|(k, _)| k.starts_with("GIT_CONFIG")), "{:?}", plan.env);
    }
}
