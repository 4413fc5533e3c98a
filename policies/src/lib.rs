//! Security policies: what a task may touch, and what happens when it tries more.
//!
//! A policy is declarative YAML (see `policies/` and `policies/schema.json`).
//! Every field has a restrictive default: an omitted `network` is `none`, an
//! omitted environment passes nothing through, every syscall class in
//! [`SyscallClass`] is denied unless listed in `syscalls.allow`. Unknown fields
//! are errors ([`load`]). Callers ask the policy questions through methods
//! instead of matching its fields everywhere.
//!
//! This crate also holds what every other crate shares with the policy: the
//! located YAML errors ([`yaml`]), container volumes ([`volume`]) and the
//! exit-code contract ([`exit`]).
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod derive;
pub mod exit;
pub mod load;
pub mod presets;
pub mod units;
pub mod volume;
pub mod yaml;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use load::{PolicyError, load_policy, parse_policy};
pub use units::{ByteSize, HumanDuration, Limit};

/// The current policy schema version.
pub const POLICY_VERSION: u32 = 1;

/// A complete security policy for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Schema version of this file; must be 1.
    #[serde(default = "default_version")]
    pub version: u32,
    /// A short name shown in reports.
    #[serde(default)]
    pub name: Option<String>,
    /// What this policy is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The isolation backend: `jail` (namespaces + landlock + seccomp), `docker` or `podman`.
    #[serde(default)]
    pub sandbox_mode: SandboxMode,
    /// Which host paths the task sees and how.
    #[serde(default)]
    pub filesystem: Filesystem,
    /// Network access.
    #[serde(default)]
    pub network: Network,
    /// The task's environment variables.
    #[serde(default)]
    pub environment: Environment,
    /// Dangerous syscall classes; all denied unless allowed here.
    #[serde(default)]
    pub syscalls: Syscalls,
    /// Resource limits; exceeding one is a violation (exit 4).
    #[serde(default)]
    pub limits: Limits,
    /// Wall-clock limits; hitting one is a timeout (exit 3).
    #[serde(default)]
    pub timeouts: Timeouts,
    /// What happens at the first violation: `kill` (default) stops the whole task
    /// tree at once; `deny` fails the offending call and lets the task go on. Either
    /// way the verdict is `violation` (exit 4).
    #[serde(default)]
    pub on_violation: OnViolation,
    /// Options of the jail backend.
    #[serde(default)]
    pub jail: JailOptions,
    /// Options of the container backends (`sandbox_mode: docker | podman`).
    #[serde(default)]
    pub container: ContainerOptions,
    /// The seed configuration's `security:` block, accepted as written there.
    #[serde(default)]
    pub security: Option<SeedSecurity>,
    /// What the task's report carries beyond the verdict.
    #[serde(default, skip_serializing_if = "ReportOptions::is_default")]
    pub report: ReportOptions,
    /// `true` (default): the sandbox (the jail, or its supervisor inside a
    /// Docker or Podman container) plants canary secrets for each task — fake
    /// cloud credentials in `~/.aws/credentials`, a fake SSH key
    /// `~/.ssh/id_ed25519`, fake tokens in well-known variables the policy
    /// neither passes nor sets (`AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`,
    /// `NPM_TOKEN`) — unique per task; reading one is `canary.read`, and one
    /// in the task's output, in a payload it sends or in what it leaves in the
    /// workspace (contents, names, link targets, extended attributes) is
    /// `canary.leak`; what cannot be judged (a send past 256 MiB, an entry
    /// orchestra cannot read) is `canary.unverifiable`.
    /// `false`: none are planted (a task that needs those paths or prints its
    /// whole environment). Left out of the canonical JSON while `true`, so
    /// that policies written before it keep their hash (docs/policies.md).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub canaries: bool,
    /// Mandatory access control orchestra applies on top of its own layers
    /// (AppArmor). Left out of the canonical JSON while it is the default, so
    /// that policies written before it keep their hash.
    #[serde(default, skip_serializing_if = "Mac::is_default")]
    pub mac: Mac,
}

/// Mandatory access control on top of the backend's own layers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mac {
    /// orchestra's AppArmor profile for the task, generated from this policy
    /// (`orchestra policy apparmor [--jail]`) and loaded by an administrator.
    /// `if_available` (default): the task runs under it where the host's
    /// kernel has AppArmor and the profile is loaded, and the report says
    /// why not otherwise. `required`: the same, and a task that cannot run
    /// under it does not run (exit 1). `off`: no profile of orchestra's (a
    /// container gets its engine's default profile).
    #[serde(default)]
    pub apparmor: AppArmorMode,
}

impl Mac {
    /// Whether these are the defaults.
    pub fn is_default(&self) -> bool {
        *self == Mac::default()
    }
}

/// Whether a task runs under orchestra's AppArmor profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppArmorMode {
    /// Never.
    Off,
    /// Where the host can: its kernel has AppArmor and the profile is loaded.
    #[default]
    IfAvailable,
    /// Always: a task that cannot run under it does not run (exit 1).
    Required,
}

impl AppArmorMode {
    /// The name used in policies and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AppArmorMode::Off => "off",
            AppArmorMode::IfAvailable => "if_available",
            AppArmorMode::Required => "required",
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What the task's report carries beyond the verdict. Left out of the
/// canonical JSON while it is the default, so that policies written before it
/// keep their hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportOptions {
    /// `true` (default): list what the task added, modified and deleted in its
    /// working directory (sizes, SHA-256), bounded (docs/exec.md). `false`: no
    /// walk of the workspace; the report says the diff was turned off.
    #[serde(default = "default_true")]
    pub workspace_diff: bool,
}

fn default_true() -> bool {
    true
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { workspace_diff: true }
    }
}

impl ReportOptions {
    /// Whether these are the defaults.
    pub fn is_default(&self) -> bool {
        *self == ReportOptions::default()
    }
}

fn default_version() -> u32 {
    POLICY_VERSION
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            version: POLICY_VERSION,
            name: None,
            description: None,
            sandbox_mode: SandboxMode::default(),
            filesystem: Filesystem::default(),
            network: Network::default(),
            environment: Environment::default(),
            syscalls: Syscalls::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            on_violation: OnViolation::default(),
            jail: JailOptions::default(),
            container: ContainerOptions::default(),
            security: None,
            report: ReportOptions::default(),
            canaries: true,
            mac: Mac::default(),
        }
    }
}

/// Isolation backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// Namespaces, pivot_root, landlock, seccomp and rlimits/cgroups, no helper binary.
    #[default]
    Jail,
    /// A network-isolated Docker container.
    Docker,
    /// A network-isolated Podman container.
    Podman,
}

impl SandboxMode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Jail => "jail",
            SandboxMode::Docker => "docker",
            SandboxMode::Podman => "podman",
        }
    }
}

/// Filesystem view of the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Host paths visible read-only at the same place. `~` is the invoking user's home.
    /// A listed path that does not exist on the host is left out (and said so in the report).
    #[serde(default = "default_read_only")]
    pub read_only: Vec<String>,
    /// Host paths visible read-write at the same place, besides the working directory.
    #[serde(default)]
    pub read_write: Vec<String>,
    /// Host directories (toolchain caches such as `~/.cargo` or `~/go/pkg/mod`) the
    /// task sees with their content and may write *privately*: its changes land in a
    /// throw-away layer (an overlay whose upper layer is a tmpfs of `limits.disk`)
    /// and never reach the host, so lock files and cache indexes can be written
    /// while the host's cache stays as it was. Needs namespaces (jail only; the
    /// container backends see what their image and volumes give, as for
    /// `read_only`). A listed path that does not exist is left out.
    #[serde(default)]
    pub copy_on_write: Vec<String>,
    /// Paths whose content the task must never see. Where they exist, the task finds
    /// empty decoys instead; opening one is a violation (`fs.hidden`).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<String>,
    /// Access to the working directory (`--workdir`, default the current directory).
    #[serde(default)]
    pub workdir: WorkdirAccess,
    /// `/tmp` in the task: a private tmpfs (`private`, default) or absent (`none`).
    #[serde(default)]
    pub tmp: TmpMode,
    /// More paths, relative to the working directory, that stay read-only
    /// although the working directory is writable (besides the built-in list
    /// `DEFAULT_PROTECTED`: git's hooks and config, CI workflows). Changing,
    /// creating, removing or replacing one, or renaming a directory that holds
    /// one, is a violation (`fs.protected`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
    /// Entries of the built-in protected list this policy gives up (an
    /// opt-out, reported): e.g. `[.git/config]` for a build that runs
    /// `git config`. Only entries of the built-in list may be named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unprotected: Vec<String>,
}

/// The paths of a working directory that stay read-only although it is
/// writable, unless a policy lists them under `filesystem.unprotected`: where
/// a build step could plant what a later, less isolated step runs (git hooks
/// and config, CI workflows).
///
/// Of `.git/info` only what changes how git treats files: `git gc` and
/// `git sparse-checkout` write the rest. `.git/remotes` (git's legacy remote
/// files, which it still reads: a bare `git push` goes where they say when
/// the config names no `origin`, review 74 F2) is written by no git of
/// today; `.git/branches`, the other legacy place, is made empty by `git
/// init`, so a file in it is judged after the task instead
/// (`orchestra_sandbox::changes::protected::made`). Besides these, the jail protects what
/// git reads code from in the repository as found (submodules, linked
/// worktrees, `commondir`, hooks behind links, `core.hooksPath` and included
/// configs): `orchestra_sandbox::jail::protect`.
pub const DEFAULT_PROTECTED: [&str; 9] = [
    ".git/hooks",
    ".git/config",
    ".git/commondir",
    ".git/config.worktree",
    ".git/info/attributes",
    ".git/info/exclude",
    ".git/remotes",
    ".github/workflows",
    ".gitlab-ci.yml",
];

impl Filesystem {
    /// The protected paths below `workdir`: the built-in list minus
    /// `unprotected`, then `protected`, in that order, without duplicates.
    pub fn protected_in(&self, workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out: Vec<std::path::PathBuf> = Vec::new();
        let listed = DEFAULT_PROTECTED
            .iter()
            .filter(|p| !self.unprotected.iter().any(|u| u.trim_end_matches('/') == **p))
            .map(|p| p.to_string())
            .chain(self.protected.iter().map(|p| p.trim_end_matches('/').to_string()));
        for rel in listed {
            let p = workdir.join(rel);
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

fn default_read_only() -> Vec<String> {
    ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc"].map(String::from).to_vec()
}

fn default_hidden() -> Vec<String> {
    [
        "~/.ssh",
        "~/.gnupg",
        "~/.aws",
        "~/.azure",
        "~/.kube",
        "~/.docker",
        "~/.netrc",
        "~/.git-credentials",
        "~/.config",
        "~/.cargo/credentials.toml",
        "~/.cargo/credentials",
        "~/.npmrc",
        "~/.pypirc",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/ssh",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for Filesystem {
    fn default() -> Self {
        Filesystem {
            read_only: default_read_only(),
            read_write: Vec::new(),
            copy_on_write: Vec::new(),
            hidden: default_hidden(),
            workdir: WorkdirAccess::default(),
            tmp: TmpMode::default(),
            protected: Vec::new(),
            unprotected: Vec::new(),
        }
    }
}

/// Access to the working directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkdirAccess {
    /// The task may create, change and delete files in it (default).
    #[default]
    ReadWrite,
    /// The task may only read it.
    ReadOnly,
}

/// What `/tmp` is inside the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TmpMode {
    /// A private tmpfs, bounded by `limits.disk`, discarded when the task ends.
    #[default]
    Private,
    /// No writable /tmp: writing there is a violation.
    None,
}

/// Network access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `none` (the type's default; `strict`): a private network namespace with no
    /// interface up; creating an IP, packet or raw socket, or a netlink socket other
    /// than `NETLINK_ROUTE` (which only reads the private namespace's interfaces), is
    /// a violation. `loopback` (the `default` and `build-offline` presets): a private
    /// namespace with only its own `lo` up, never the host's. `host`: the host's
    /// network (an explicit opt-out, reported).
    #[serde(default)]
    pub mode: NetworkMode,
}

impl Default for Network {
    fn default() -> Self {
        Network { mode: NetworkMode::None }
    }
}

/// Network modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// No network at all.
    #[default]
    None,
    /// Only a private loopback interface.
    Loopback,
    /// The host's network stack (opt-out of network isolation).
    Host,
}

impl NetworkMode {
    /// The name used in policies and rule names.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Loopback => "loopback",
            NetworkMode::Host => "host",
        }
    }

    /// Whether a `security.docker_network` value (Docker's words) admits this mode:
    /// Docker's `none` is a private namespace with only loopback, so it admits
    /// `none` and `loopback`; `host` admits only `host`. `None` for a value
    /// Orchestra does not support.
    pub fn admitted_by_docker_network(self, net: &str) -> Option<bool> {
        match net {
            "none" => Some(matches!(self, NetworkMode::None | NetworkMode::Loopback)),
            "host" => Some(self == NetworkMode::Host),
            _ => None,
        }
    }
}

/// Environment of the task. The orchestrator's own environment never leaks:
/// only names listed in `passthrough` are copied, and `ORCHESTRA_*` names never are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Names copied from the caller's environment when set there. A trailing `*` matches a prefix.
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// Variables set to fixed values (applied after passthrough).
    #[serde(default = "default_env_set")]
    pub set: BTreeMap<String, String>,
}

fn default_env_set() -> BTreeMap<String, String> {
    [("PATH", "/usr/local/bin:/usr/bin:/bin"), ("LANG", "C.UTF-8")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for Environment {
    fn default() -> Self {
        Environment { passthrough: Vec::new(), set: default_env_set() }
    }
}

/// Classes of dangerous syscalls. Each is denied, observed and reported
/// (`syscall.<class>`) unless the policy lists it under `syscalls.allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyscallClass {
    /// ptrace, process_vm_readv/writev, kcmp.
    Ptrace,
    /// mount, umount2, pivot_root, chroot, the new mount API (open_tree, open_tree_attr, …).
    Mount,
    /// unshare, setns, and clone with namespace flags.
    Namespaces,
    /// add_key, request_key, keyctl.
    Keyring,
    /// bpf.
    Bpf,
    /// io_uring_enter/register (a ring bypasses seccomp for the operations it
    /// performs); io_uring_setup answers ENOSYS unreported, so that libuv and
    /// others fall back to epoll.
    IoUring,
    /// userfaultfd.
    Userfaultfd,
    /// perf_event_open.
    Perf,
    /// init_module, finit_module, delete_module, kexec_load, kexec_file_load.
    KernelModules,
    /// reboot, swapon, swapoff, acct, quotactl(_fd), syslog, vhangup, fanotify_init/mark.
    SystemAdmin,
    /// settimeofday, clock_settime, clock_adjtime, adjtimex.
    SystemTime,
    /// iopl, ioperm.
    RawIo,
    /// open_by_handle_at (opening by handle bypasses path checks).
    /// name_to_handle_at is allowed: making a handle needs no privilege and
    /// opens nothing (golang.org/x/sys/unix's tests call it; sweep 89).
    FileHandles,
    /// mknod/mknodat of character or block devices.
    DeviceNodes,
    /// ioctl TIOCSTI/TIOCLINUX (typing into the terminal of the caller), TCXONC
    /// and TIOCEXCL (stopping its output, taking it exclusively).
    TtyInjection,
    /// SysV shared memory, semaphores and message queues, POSIX message queues
    /// (shmget/shmat/shmctl, semget/semop/semtimedop/semctl, msgget/msgsnd/msgrcv/msgctl,
    /// mq_open/mq_unlink). Only without namespaces (`jail.namespaces: off`), where
    /// they reach the objects of every other process; the jail's own IPC namespace
    /// isolates them otherwise.
    Ipc,
    /// modify_ldt, uselib, and personality() beyond PER_LINUX/PER_LINUX32 with
    /// ADDR_NO_RANDOMIZE/UNAME26 (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, other domains).
    LegacyAbi,
}

impl SyscallClass {
    /// Every class, in a stable order.
    pub const ALL: [SyscallClass; 17] = [
        SyscallClass::Ptrace,
        SyscallClass::Mount,
        SyscallClass::Namespaces,
        SyscallClass::Keyring,
        SyscallClass::Bpf,
        SyscallClass::IoUring,
        SyscallClass::Userfaultfd,
        SyscallClass::Perf,
        SyscallClass::KernelModules,
        SyscallClass::SystemAdmin,
        SyscallClass::SystemTime,
        SyscallClass::RawIo,
        SyscallClass::FileHandles,
        SyscallClass::DeviceNodes,
        SyscallClass::TtyInjection,
        SyscallClass::Ipc,
        SyscallClass::LegacyAbi,
    ];

    /// The snake_case name used in policies and rule names.
    pub fn as_str(self) -> &'static str {
        match self {
            SyscallClass::Ptrace => "ptrace",
            SyscallClass::Mount => "mount",
            SyscallClass::Namespaces => "namespaces",
            SyscallClass::Keyring => "keyring",
            SyscallClass::Bpf => "bpf",
            SyscallClass::IoUring => "io_uring",
            SyscallClass::Userfaultfd => "userfaultfd",
            SyscallClass::Perf => "perf",
            SyscallClass::KernelModules => "kernel_modules",
            SyscallClass::SystemAdmin => "system_admin",
            SyscallClass::SystemTime => "system_time",
            SyscallClass::RawIo => "raw_io",
            SyscallClass::FileHandles => "file_handles",
            SyscallClass::DeviceNodes => "device_nodes",
            SyscallClass::TtyInjection => "tty_injection",
            SyscallClass::Ipc => "ipc",
            SyscallClass::LegacyAbi => "legacy_abi",
        }
    }
}

/// Syscall policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Syscalls {
    /// Classes the task may use after all (explicit opt-outs, recorded in the report).
    /// Everything not listed here is denied.
    #[serde(default)]
    pub allow: Vec<SyscallClass>,
}

/// Resource limits. Omitted fields keep the default; `unlimited` removes a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory of the whole task tree (cgroup; RLIMIT_AS per process otherwise).
    #[serde(default = "d_memory")]
    pub memory: Limit<ByteSize>,
    /// Number of processes and threads of the task tree.
    #[serde(default = "d_pids")]
    pub pids: Limit<u64>,
    /// CPU time per process (RLIMIT_CPU).
    #[serde(default = "d_cpu")]
    pub cpu_time: Limit<HumanDuration>,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    #[serde(default = "d_nofile")]
    pub open_files: Limit<u64>,
    /// Bytes the task may write to stdout + stderr together.
    #[serde(default = "d_output")]
    pub output: Limit<ByteSize>,
    /// Bytes the task may write: the size of the private /tmp, the largest file it may
    /// write (RLIMIT_FSIZE), and the growth of the working directory.
    #[serde(default = "d_disk")]
    pub disk: Limit<ByteSize>,
}

fn d_memory() -> Limit<ByteSize> {
    Limit::Max(ByteSize(2 << 30))
}
fn d_pids() -> Limit<u64> {
    Limit::Max(512)
}
fn d_cpu() -> Limit<HumanDuration> {
    Limit::Max(HumanDuration(std::time::Duration::from_secs(600)))
}
fn d_nofile() -> Limit<u64> {
    Limit::Max(1024)
}
fn d_output() -> Limit<ByteSize> {
    Limit::Max(ByteSize(64 << 20))
}
fn d_disk() -> Limit<ByteSize> {
    Limit::Max(ByteSize(1 << 30))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: d_memory(),
            pids: d_pids(),
            cpu_time: d_cpu(),
            open_files: d_nofile(),
            output: d_output(),
            disk: d_disk(),
        }
    }
}

/// Wall-clock limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Total wall-clock time of the task (`--timeout` overrides it).
    #[serde(default = "d_wall")]
    pub wall: Limit<HumanDuration>,
    /// Longest time without any output before the task is killed as hung.
    #[serde(default = "d_no_output")]
    pub no_output: Limit<HumanDuration>,
}

fn d_wall() -> Limit<HumanDuration> {
    Limit::Max(HumanDuration(std::time::Duration::from_secs(600)))
}
fn d_no_output() -> Limit<HumanDuration> {
    Limit::Unlimited
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { wall: d_wall(), no_output: d_no_output() }
    }
}

/// Reaction to a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnViolation {
    /// Kill the task tree at the first violation.
    #[default]
    Kill,
    /// Fail the offending call (EPERM/EACCES) and let the task continue.
    Deny,
}

/// Options of the jail backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JailOptions {
    /// `required` (default): user, mount, pid, net, ipc, uts and cgroup namespaces or the
    /// task does not run. `off`: landlock + seccomp + rlimits only, for hosts where
    /// namespaces are unavailable (inside a container); reported as such.
    #[serde(default)]
    pub namespaces: NamespaceMode,
    /// `auto` (default): cgroup limits where this user may create cgroups, rlimits
    /// otherwise (reported). `required`: refuse to run without cgroup limits.
    #[serde(default)]
    pub cgroups: CgroupMode,
}

/// Whether the jail uses namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceMode {
    /// Namespaces are mandatory.
    #[default]
    Required,
    /// No namespaces: landlock, seccomp and rlimits only.
    Off,
}

/// Whether the jail requires cgroup limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// Use cgroups when available, rlimits otherwise.
    #[default]
    Auto,
    /// Refuse to run without cgroups.
    Required,
}

/// Options of the container backends. Every container is hardened the same way
/// (SECURITY.md §10); these only choose the image, extra volumes and the CPU share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerOptions {
    /// Image to run the task in (built offline by `images/build.sh`).
    /// `security.docker_image` is the same setting.
    #[serde(default = "default_image")]
    pub image: String,
    /// Pin: the image id (`sha256:...`) the image must have, else nothing runs.
    #[serde(default)]
    pub image_id: Option<String>,
    /// Extra volumes `HOST:CONTAINER[:ro|rw]`, read-only unless `:rw` is given
    /// (`security.docker_volumes` adds to them). The workspace is always mounted at
    /// `/work`; the engine's socket is never accepted.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// CPUs the container may use (a fraction is allowed; `unlimited` for none).
    #[serde(default = "default_cpus")]
    pub cpus: Limit<f64>,
    /// `required` (default): the container's command is orchestra's supervisor
    /// (the static `orchestra-sandbox`, mounted read-only), so denials are observed
    /// and reported like in the jail. `off`: the engine's controls only; denials
    /// are enforced but not observed (an explicit opt-out, reported).
    #[serde(default)]
    pub supervisor: SupervisorMode,
}

fn default_image() -> String {
    "orchestra-task:1".to_string()
}

fn default_cpus() -> Limit<f64> {
    Limit::Max(1.0)
}

impl Default for ContainerOptions {
    fn default() -> Self {
        ContainerOptions {
            image: default_image(),
            image_id: None,
            volumes: Vec::new(),
            cpus: default_cpus(),
            supervisor: SupervisorMode::default(),
        }
    }
}

/// Whether the in-container supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorMode {
    /// Run the task under orchestra's namespace-less jail inside the container.
    #[default]
    Required,
    /// Engine controls only: denials are enforced, not observed.
    Off,
}

/// The seed configuration's `security:` block, accepted verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedSecurity {
    /// Same as the top-level `sandbox_mode`; both may be given only if they agree.
    #[serde(default)]
    pub sandbox_mode: Option<SandboxMode>,
    /// Image for the container backends.
    #[serde(default)]
    pub docker_image: Option<String>,
    /// Container network; only `none` is accepted until network allowlists exist.
    #[serde(default)]
    pub docker_network: Option<String>,
    /// Extra volumes `host:container[:ro|rw]` for the container backends.
    #[serde(default)]
    pub docker_volumes: Vec<String>,
}

impl Policy {
    /// The backend this policy selects (the `security:` block has been reconciled at load time).
    pub fn backend(&self) -> SandboxMode {
        self.security.as_ref().and_then(|s| s.sandbox_mode).unwrap_or(self.sandbox_mode)
    }

    /// The container image: `security.docker_image` if given, else `container.image`.
    pub fn container_image(&self) -> &str {
        self.security.as_ref().and_then(|s| s.docker_image.as_deref()).unwrap_or(&self.container.image)
    }

    /// Extra container volumes: `container.volumes` then `security.docker_volumes`.
    pub fn container_volumes(&self) -> Vec<String> {
        let seed = self.security.iter().flat_map(|s| s.docker_volumes.iter());
        self.container.volumes.iter().chain(seed).cloned().collect()
    }

    /// Whether the syscall class is denied.
    pub fn denies(&self, class: SyscallClass) -> bool {
        !self.syscalls.allow.contains(&class)
    }

    /// The network isolation this policy gives up, as an opt-out: `host` always;
    /// `loopback` only in a namespace-less jail, where it is the host's own
    /// loopback. A private loopback (jail with namespaces, containers) keeps the
    /// task apart from every host service and is no opt-out.
    pub fn network_opt_out(&self) -> Option<String> {
        let shared = match self.network.mode {
            NetworkMode::None => false,
            NetworkMode::Host => true,
            NetworkMode::Loopback => self.backend() == SandboxMode::Jail && self.jail.namespaces == NamespaceMode::Off,
        };
        shared.then(|| format!("network.mode: {}", self.network.mode.as_str()))
    }

    /// The limits the policy explicitly leaves unlimited, as opt-outs (`limits.memory: unlimited`).
    pub fn unlimited_opt_outs(&self) -> Vec<String> {
        let l = &self.limits;
        [
            ("memory", l.memory.get().is_none()),
            ("pids", l.pids.get().is_none()),
            ("cpu_time", l.cpu_time.get().is_none()),
            ("open_files", l.open_files.get().is_none()),
            ("output", l.output.get().is_none()),
            ("disk", l.disk.get().is_none()),
        ]
        .into_iter()
        .filter(|(_, unlimited)| *unlimited)
        .map(|(name, _)| format!("limits.{name}: unlimited"))
        .collect()
    }

    /// The syscall classes this policy denies.
    pub fn denied_classes(&self) -> Vec<SyscallClass> {
        SyscallClass::ALL.into_iter().filter(|c| self.denies(*c)).collect()
    }

    /// Whether the task gets any network beyond nothing.
    pub fn network_mode(&self) -> NetworkMode {
        self.network.mode
    }

    /// The effective wall-clock timeout.
    pub fn wall_timeout(&self) -> Option<std::time::Duration> {
        self.timeouts.wall.get().map(|d| d.0)
    }

    /// Canonical JSON of the effective policy (keys sorted by struct order; stable).
    pub fn canonical_json(&self) -> String {
        // Serialising our own types cannot fail: no maps with non-string keys.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 of the canonical JSON, hex: the policy hash in reports and audit records.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The effective policy as YAML (for `policy show`).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The policy's JSON Schema.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Policy)).unwrap_or_default()
    }
}
