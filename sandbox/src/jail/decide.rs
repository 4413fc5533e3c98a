//! What the supervisor answers to one notification: pure functions of the
//! jail plan, the notification and the task's memory (behind [`Memory`], so
//! every rule is unit-tested with a fake one), plus path resolution through
//! `/proc` ([`super::resolve`]).
//!
//! A call is *denied and reported* when it belongs to a denied class, uses a
//! forbidden socket family (but for families that reach nothing outside the
//! jail's own network namespace: `EAFNOSUPPORT`, [`NO_WAY_OUT_FAMILIES`]),
//! connects or sends to an abstract unix socket the host's names may answer
//! (namespace-less; `abstract_names_private`) or off loopback, execs a
//! setuid/setgid file, sets setuid/setgid bits, or writes outside the
//! writable roots; an argument the supervisor cannot read
//! or resolve is denied with its own rule. Everything else continues. What a
//! send carries (a canary value) is judged after this, by the supervisor's
//! [`super::payload::Payloads`], which remembers each socket's stream.

use super::memory::Memory;
use super::plan::{JailPlan, Mount};
use super::resolve::{PATH_MAX, Target, link_path, resolve, resolve_in};
use super::seccomp::{self, PathArgs, Watch};
use crate::policy::NetworkMode;
use crate::rule::Rule;
use crate::sys::Notification;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A decision on one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the kernel handle it.
    Continue,
    /// Answer errno, as the kernel itself would, and report nothing: the call
    /// can reach no file (a name in a removed directory, [`Target::Absent`]).
    /// Answered here rather than continued, so that no change of the task's
    /// working directory after the judgement can give the path another meaning.
    /// Also a send whose payload judgement the host's stop cut short
    /// ([`super::payload::Payloads::judge_until`]): not sent, and the task ends.
    Fail {
        /// errno returned to the task.
        errno: i32,
    },
    /// Deny with errno and report `rule`.
    Deny {
        /// errno returned to the task.
        errno: i32,
        /// Rule name.
        rule: Rule,
        /// What was attempted.
        detail: String,
    },
    /// A rename onto a protected file of a file with the same bytes and
    /// mode ([`super::rewrite`]): nothing to change. The supervisor removes
    /// the source's name and answers success; if it cannot, it denies the
    /// call as `fs.protected` with `detail`.
    SameBytes {
        /// The rename's source.
        source: PathBuf,
        /// The denial's detail, should the source not be removable.
        detail: String,
    },
    /// A terminal request that harms no one on a pseudo-terminal of the
    /// task's own devpts instance (TCXONC, TIOCEXCL: [`decide_tty_ioctl`]).
    /// Never continued: the kernel would look the descriptor's number up
    /// again, after another thread of the task could have put the caller's
    /// terminal there (attack review 90, H1). The supervisor takes the
    /// descriptor itself (`pidfd_getfd`), performs the request on the file
    /// it holds when that is a terminal of the instance and answers with the
    /// result; otherwise it denies it as `syscall.tty_injection` with `detail`.
    OwnTerminal {
        /// The task's descriptor.
        fd: i32,
        /// The ioctl request.
        request: u64,
        /// Its integer argument.
        arg: u64,
        /// The denial's detail, should the file not be a terminal of the instance.
        detail: String,
    },
    /// A rename of a git config's `config.lock` onto the protected config
    /// of the workspace's repository or of one of its submodules, with
    /// other bytes. The supervisor judges the change
    /// ([`super::gitconfig::judge`]) and, when it is one a task may make,
    /// writes the judged bytes itself, removes the source and answers
    /// success ([`super::rewrite::change_config`]); otherwise it denies the
    /// call as `fs.protected` with `detail` and the reason.
    GitConfig {
        /// The rename's source (the lock file).
        source: PathBuf,
        /// The protected config.
        target: PathBuf,
        /// The denial's detail, should the change be refused.
        detail: String,
    },
}

/// Decide on one notification (the policy logic, apart from the I/O loop).
/// `written` receives the paths a continued write touches (for `limits.disk`).
pub fn decide(plan: &JailPlan, n: &Notification, mem: &dyn Memory, written: &mut Vec<PathBuf>) -> Decision {
    if n.arch != seccomp::AUDIT_ARCH_X86_64 || n.nr as u32 & seccomp::X32_BIT != 0 {
        // Only the watch filter's foreign-ABI prefix sends these.
        let abi = if n.arch == seccomp::AUDIT_ARCH_X86_64 { "x32" } else { "a 32-bit (or foreign)" };
        return Decision::Deny {
            errno: libc::ENOSYS,
            rule: Rule::SeccompAbi,
            detail: format!("system call {} through {abi} ABI (arch {:#x})", n.nr as u32 & !seccomp::X32_BIT, n.arch),
        };
    }
    let nr = n.nr as i64;
    let name = seccomp::syscall_name(nr);
    let Some(watch) = seccomp::watch_of(nr) else { return Decision::Continue };
    let watch = seccomp::refine(nr, &n.args, watch);
    match watch {
        Watch::Class(class) => {
            if !plan.denied.contains(&class) {
                return Decision::Continue;
            }
            if class == crate::policy::SyscallClass::TtyInjection && nr == libc::SYS_ioctl {
                return decide_tty_ioctl(plan, n);
            }
            if nr == libc::SYS_chroot {
                return decide_chroot(plan, n, mem, &name);
            }
            Decision::Deny {
                errno: libc::EPERM,
                rule: Rule::Syscall(class),
                detail: format!("{name}() is denied by the policy"),
            }
        }
        Watch::Socket => decide_socket(plan, n, &name),
        Watch::Connect => decide_connect(plan, n, mem),
        Watch::SendMsg => decide_sendmsg(plan, n, mem),
        Watch::Barrier => Decision::Continue,
        Watch::Exec => decide_exec(n, mem, nr),
        Watch::Write(args) => decide_write(plan, n, mem, &name, args, written),
        Watch::WriteFd(arg) => decide_write_fd(plan, n, mem, &name, arg),
    }
}

/// chroot(2), with the `mount` class denied. The task holds no capability,
/// so the kernel refuses it anyway; for a path that names nothing it
/// answers ENOENT (ENOTDIR) before any privilege check, and CPython's
/// test_os asks `os.chroot("/nonexistent")` expecting just that (sweep 90,
/// F5): answered so, with no violation, where the jail's tree mirrors the
/// host's ([`super::nowhere::nothing_to_write`]: a missing name there says
/// nothing about the host). Never continued; any other chroot is the
/// attempt it was.
fn decide_chroot(plan: &JailPlan, n: &Notification, mem: &dyn Memory, name: &str) -> Decision {
    let deny = || Decision::Deny {
        errno: libc::EPERM,
        rule: Rule::Syscall(crate::policy::SyscallClass::Mount),
        detail: format!("{name}() is denied by the policy"),
    };
    if n.args[0] == 0 {
        return deny();
    }
    let Some(raw) = mem.cstr(n.args[0]) else { return deny() };
    if raw.is_empty() {
        return Decision::Fail { errno: libc::ENOENT };
    }
    if raw.len() >= PATH_MAX {
        return deny();
    }
    match resolve(mem.pid(), None, &raw, true) {
        Target::Absent => Decision::Fail { errno: libc::ENOENT },
        Target::Path(p) => {
            let lookup = |q: &Path| std::fs::symlink_metadata(q).ok().map(|m| m.is_dir());
            match super::nowhere::nothing_to_write(plan, &p, false, &lookup) {
                Some(errno) => Decision::Fail { errno },
                None => deny(),
            }
        }
        _ => deny(),
    }
}

/// The terminal requests of the `tty_injection` class (seccomp.rs: TIOCSTI,
/// TIOCLINUX, TCXONC, TIOCEXCL), denied with the request named. Stopping a
/// terminal's output (`tcflow`, TCXONC) or taking it exclusively (TIOCEXCL)
/// harms no one else on a pseudo-terminal of the task's own devpts instance
/// ([`JailPlan::ptys`]: pexpect's tests do both, sweep 89): with one, those
/// two are [`Decision::OwnTerminal`], which the supervisor performs on the
/// file it judges ([`is_own_terminal`]). On any other terminal — the
/// caller's, inherited or given by `exec --tty` — they would leave orchestra
/// unable to write its verdict (review F3).
fn decide_tty_ioctl(plan: &JailPlan, n: &Notification) -> Decision {
    let req = n.args[1] as u32 as u64;
    let what = match req {
        libc::TIOCSTI => "TIOCSTI",
        libc::TIOCLINUX => "TIOCLINUX",
        libc::TCXONC => "TCXONC",
        libc::TIOCEXCL => "TIOCEXCL",
        _ => "a terminal request",
    };
    let fd = n.args[0] as i32;
    let detail = format!("ioctl({what}) on descriptor {fd} is denied by the policy");
    if plan.ptys && matches!(req, libc::TCXONC | libc::TIOCEXCL) {
        return Decision::OwnTerminal { fd, request: req, arg: n.args[2], detail };
    }
    Decision::Deny { errno: libc::EPERM, rule: Rule::Syscall(crate::policy::SyscallClass::TtyInjection), detail }
}

/// Whether the file open on `fd` is a terminal of the devpts instance at
/// [`super::plan::PTY_DIR`] (a character device of that filesystem).
pub(super) fn is_own_terminal(fd: &std::os::fd::OwnedFd) -> bool {
    let Ok(pts) = std::fs::metadata(super::plan::PTY_DIR) else { return false };
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_dev == pts.dev())
}

/// A pointer argument the supervisor cannot read (a write-only mapping,
/// `memfd_secret`, …): the call is denied rather than let through unjudged.
/// The rule for a pointer argument the supervisor cannot read.
pub(super) const UNREADABLE_RULE: Rule = Rule::SyscallUnreadableArgument;

/// The rule for a path the supervisor cannot resolve.
pub(super) const UNRESOLVABLE_RULE: Rule = Rule::FsUnresolvablePath;

fn unreadable(name: &str, what: &str) -> Decision {
    Decision::Deny {
        errno: libc::EACCES,
        rule: UNREADABLE_RULE,
        detail: format!("{name}: its {what} lies in memory the supervisor cannot read"),
    }
}

/// The one reading of a resolved path argument `raw` of call `name`: a
/// path or an object to judge further (`Ok`), or the answer when it reaches
/// nothing that can be judged. A name in a removed directory is ENOENT, as
/// from the kernel, and no violation (sweep 86, F1); a path that cannot be
/// resolved as the kernel would (a cwd beyond PATH_MAX, `..` from a removed
/// directory, a vanished descriptor) is denied and reported, not guessed,
/// with the argument as written in the detail.
fn judged(name: &str, raw: &[u8], target: Target) -> Result<Target, Decision> {
    match target {
        Target::Absent => Err(Decision::Fail { errno: libc::ENOENT }),
        Target::Unresolvable(why) => Err(Decision::Deny {
            errno: libc::EACCES,
            rule: UNRESOLVABLE_RULE,
            detail: format!("{name}: the path {} cannot be resolved ({why})", String::from_utf8_lossy(raw)),
        }),
        t => Ok(t),
    }
}

/// Whether the task has a network namespace of its own: the jail made one
/// (`CLONE_NEWNET`, jail/mod.rs) for every mode but `host`.
fn own_netns(plan: &JailPlan) -> bool {
    plan.namespaces && plan.network != NetworkMode::Host
}

/// Socket families that reach nothing outside a network namespace of the
/// jail's own, answered `EAFNOSUPPORT` without a violation there (a feature
/// probe, as CPython's test_socket makes at import: sweep 90, F4):
///
/// - `AF_CAN` (29): network-namespace aware since Linux 4.12; a socket binds
///   to and sends on a CAN interface of its own namespace, and a fresh one
///   has none (making a `vcan` needs `CAP_NET_ADMIN`, which the task never
///   holds).
/// - `AF_BLUETOOTH` (31): the kernel itself refuses it outside the initial
///   namespace (`bt_sock_create`: `net != &init_net` → `EAFNOSUPPORT`); the
///   answer is the kernel's own.
/// - `AF_ALG` (38): the kernel's crypto API, no network at all. Refused for
///   its attack surface (its `algif_*` code has had use-after-frees), which
///   no build needs: user-space crypto does the same work.
///
/// Not listed, so still a violation: `AF_RDS` (21: RDS over InfiniBand
/// checks and binds a local address in the initial namespace,
/// `rds_ib_laddr_check` with `&init_net`, until the 2026 change "net/rds:
/// Restrict use of RDS/IB to the initial network namespace" — older kernels
/// reach an InfiniBand fabric from any namespace), `AF_QIPCRTR` (42: not namespace aware at all, `qrtr_create`
/// accepts any namespace and reaches the modem and remote processors),
/// `AF_VSOCK` (the hypervisor's host), `AF_PACKET`, `AF_INET`/`AF_INET6`
/// beyond the policy, netlink other than `NETLINK_ROUTE`, and every other
/// family. Without a namespace of the jail's own (namespace-less, `host`)
/// nothing changes either.
pub(super) const NO_WAY_OUT_FAMILIES: [i32; 3] = [libc::AF_CAN, libc::AF_BLUETOOTH, libc::AF_ALG];

/// `socket`/`socketpair` of a family or type the network mode forbids (the
/// seccomp filter notifies only those, [`seccomp::watch_rules`]): denied
/// and reported, but for [`NO_WAY_OUT_FAMILIES`] in a namespace of the
/// jail's own.
fn decide_socket(plan: &JailPlan, n: &Notification, name: &str) -> Decision {
    if own_netns(plan) && NO_WAY_OUT_FAMILIES.contains(&(n.args[0] as i32)) {
        return Decision::Fail { errno: libc::EAFNOSUPPORT };
    }
    Decision::Deny {
        errno: libc::EACCES,
        rule: Rule::Network(plan.network),
        detail: format!("{name}({}, {})", family_name(n.args[0]), type_name(n.args[1])),
    }
}

/// Whether an abstract unix address can name only a socket of the jail: in a
/// network namespace of its own (abstract names belong to one; the host's
/// X11, D-Bus and systemd sockets are not in it, sweep 90 F3) with landlock
/// scoping abstract sockets to the task's domain (ABI >= 6). The scoping
/// covers a socket of the host's namespace the task may hold from its caller
/// (a unix socket as stdin), which connects by the host's names.
fn abstract_names_private(plan: &JailPlan) -> bool {
    static SCOPED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    own_netns(plan) && *SCOPED.get_or_init(|| crate::sys::landlock_abi() >= super::landlock_rules::SCOPE_ABI)
}

fn family_name(f: u64) -> String {
    match f as i32 {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_BLUETOOTH => "AF_BLUETOOTH".into(),
        libc::AF_ALG => "AF_ALG".into(),
        libc::AF_CAN => "AF_CAN".into(),
        libc::AF_RDS => "AF_RDS".into(),
        42 => "AF_QIPCRTR".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        libc::AF_KEY => "AF_KEY".into(),
        other => format!("family {other}"),
    }
}

fn type_name(t: u64) -> String {
    match (t & 0xf) as i32 {
        libc::SOCK_STREAM => "SOCK_STREAM".into(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".into(),
        libc::SOCK_RAW => "SOCK_RAW".into(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".into(),
        other => format!("type {other}"),
    }
}

fn decide_connect(plan: &JailPlan, n: &Notification, mem: &dyn Memory) -> Decision {
    // connect(fd, addr, len) or sendto(fd, buf, n, flags, addr, len).
    let (ptr, len) = if n.nr as i64 == libc::SYS_sendto { (n.args[4], n.args[5]) } else { (n.args[1], n.args[2]) };
    decide_address(plan, mem, &seccomp::syscall_name(n.nr as i64), ptr, len)
}

/// `sendmsg(fd, msg, flags)` / `sendmmsg(fd, msgvec, vlen, flags)`: each
/// message's `msg_name` is judged as a `connect` to it would be. A message
/// without a name goes where the socket is connected (judged at `connect`).
fn decide_sendmsg(plan: &JailPlan, n: &Notification, mem: &dyn Memory) -> Decision {
    /// `struct msghdr` is 56 bytes; `struct mmsghdr` adds a u32 and padding.
    const MSGHDR: u64 = 56;
    const MMSGHDR: u64 = 64;
    /// The kernel's own cap on sendmmsg's vlen (UIO_MAXIOV).
    const MAX_VLEN: u64 = 1024;
    let call = seccomp::syscall_name(n.nr as i64);
    let (base, count, stride) = if n.nr as i64 == libc::SYS_sendmmsg {
        (n.args[1], (n.args[2] & 0xffff_ffff).min(MAX_VLEN), MMSGHDR)
    } else {
        (n.args[1], 1, MSGHDR)
    };
    if base == 0 {
        return Decision::Continue; // EFAULT from the kernel
    }
    for i in 0..count {
        let Some(hdr) = mem.bytes(base.wrapping_add(i * stride), 12) else {
            return unreadable(&call, "message header");
        };
        let name = u64::from_ne_bytes(hdr[0..8].try_into().unwrap_or_default());
        let len = u32::from_ne_bytes(hdr[8..12].try_into().unwrap_or_default()) as u64;
        let d = if name == 0 || len == 0 { Decision::Continue } else { decide_address(plan, mem, &call, name, len) };
        if d != Decision::Continue {
            return d;
        }
    }
    Decision::Continue
}

/// Judge a destination socket address at `ptr` (`len` bytes) in the task's memory.
fn decide_address(plan: &JailPlan, mem: &dyn Memory, call: &str, ptr: u64, len: u64) -> Decision {
    let len = (len as usize).min(128);
    if len < 2 || ptr == 0 {
        return Decision::Continue; // the kernel refuses it (EINVAL/EFAULT)
    }
    let Some(addr) = mem.bytes(ptr, len) else { return unreadable(call, "address") };
    let family = u16::from_ne_bytes([addr[0], addr[1]]) as i32;
    let pathname_unix = family == libc::AF_UNIX && addr.len() > 2 && addr[2] != 0;
    if plan.network == NetworkMode::Host && (plan.namespaces || !pathname_unix) {
        // Host networking: only watched without namespaces, for pathname sockets.
        return Decision::Continue;
    }
    match family {
        // The jail's own abstract sockets only: the kernel's business.
        libc::AF_UNIX if addr.len() > 2 && addr[2] == 0 && abstract_names_private(plan) => Decision::Continue,
        libc::AF_UNIX if addr.len() > 2 && addr[2] == 0 => {
            let name = String::from_utf8_lossy(&addr[3..]).trim_end_matches('\0').to_string();
            Decision::Deny {
                errno: libc::EACCES,
                rule: Rule::NetworkAbstractUnix,
                detail: format!("{call}(@{name}): abstract unix sockets reach outside the jail's files"),
            }
        }
        libc::AF_UNIX if !plan.namespaces && addr.len() > 2 => decide_unix_path(plan, mem, &addr[2..], call),
        libc::AF_INET if addr.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(addr[4], addr[5], addr[6], addr[7]);
            let port = u16::from_be_bytes([addr[2], addr[3]]);
            // 0.0.0.0 reaches the local host, as 127.0.0.1 does.
            if (ip.is_loopback() || ip.is_unspecified()) && plan.network == NetworkMode::Loopback {
                Decision::Continue
            } else {
                Decision::Deny {
                    errno: libc::ENETUNREACH,
                    rule: Rule::Network(plan.network),
                    detail: format!("{call}({ip}:{port})"),
                }
            }
        }
        libc::AF_INET6 if addr.len() >= 24 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&addr[8..24]);
            let ip = std::net::Ipv6Addr::from(o);
            let port = u16::from_be_bytes([addr[2], addr[3]]);
            let loop_ = ip.is_loopback()
                || ip.is_unspecified()
                || ip.to_ipv4_mapped().is_some_and(|v| v.is_loopback() || v.is_unspecified());
            if loop_ && plan.network == NetworkMode::Loopback {
                Decision::Continue
            } else {
                Decision::Deny {
                    errno: libc::ENETUNREACH,
                    rule: Rule::Network(plan.network),
                    detail: format!("{call}([{ip}]:{port})"),
                }
            }
        }
        _ => Decision::Continue,
    }
}

/// Without namespaces every pathname unix socket of the host (or container) is
/// reachable: a mounted docker.sock, the D-Bus system bus, /dev/log. A connect
/// is allowed to a socket inside the writable roots, or to one the policy lists
/// itself as a readable path (or through a symlink it lists); any other existing
/// socket is `network.unix_socket`. A name that is not a socket is left to the
/// kernel (ENOENT, ECONNREFUSED).
fn decide_unix_path(plan: &JailPlan, mem: &dyn Memory, sun_path: &[u8], call: &str) -> Decision {
    let raw = sun_path.split(|b| *b == 0).next().unwrap_or_default();
    if raw.is_empty() {
        return Decision::Continue; // an unnamed address: EINVAL from the kernel
    }
    let p = match judged(call, raw, resolve(mem.pid(), None, raw, true)) {
        Ok(Target::Path(p)) => p,
        Ok(_) => return Decision::Continue,
        Err(d) => return d,
    };
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::metadata(&p).is_ok_and(|m| m.file_type().is_socket());
    // A listed path may be a symlink to the socket (/dev/log → /run/systemd/journal/dev-log).
    let listed = plan.readable.iter().any(|r| *r == p || std::fs::canonicalize(r).is_ok_and(|c| c == p));
    if !is_socket || write_allowed(plan, &p, false) || listed {
        return Decision::Continue;
    }
    Decision::Deny {
        errno: libc::EACCES,
        rule: Rule::NetworkUnixSocket,
        detail: format!("{call}({}): a unix socket outside the writable roots (no namespaces)", p.display()),
    }
}

/// The set-user-ID and set-group-ID bits.
const SETID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;

/// How a call sets a file's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeChange {
    /// chmod, fchmod, fchmodat, fchmodat2: the mode of an existing file.
    Chmod,
    /// open/openat/openat2/creat that may create (O_CREAT, O_TMPFILE), mknod of
    /// a regular file: the mode of a new file.
    Create,
}

/// The mode a call asks for, and how; `None` for calls that set no mode.
/// `how` is openat2's `(flags, mode)`.
fn requested_mode(nr: i64, args: &[u64; 6], how: Option<(u64, u64)>) -> Option<(u32, ModeChange)> {
    /// `__O_TMPFILE`: O_TMPFILE without its O_DIRECTORY part.
    const O_TMPFILE_BIT: u64 = 0o20_000_000;
    let creates = |flags: u64| flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0;
    let regular = |mode: u64| {
        let fmt = mode as u32 & libc::S_IFMT;
        fmt == 0 || fmt == libc::S_IFREG
    };
    let (mode, change) = match nr {
        libc::SYS_chmod | libc::SYS_fchmod => (args[1], ModeChange::Chmod),
        libc::SYS_fchmodat | seccomp::nr::FCHMODAT2 => (args[2], ModeChange::Chmod),
        libc::SYS_creat => (args[1], ModeChange::Create),
        libc::SYS_open if creates(args[1]) => (args[2], ModeChange::Create),
        libc::SYS_openat if creates(args[2]) => (args[3], ModeChange::Create),
        libc::SYS_openat2 => match how {
            Some((flags, mode)) if creates(flags) => (mode, ModeChange::Create),
            _ => return None,
        },
        libc::SYS_mknod if regular(args[1]) => (args[1], ModeChange::Create),
        libc::SYS_mknodat if regular(args[2]) => (args[2], ModeChange::Create),
        _ => return None,
    };
    Some((mode as u32 & 0o7777, change))
}

/// `fs.setuid`: a set-user-ID or set-group-ID bit on a file (a binary any host
/// user may later run with the task's identity — root's, when orchestra ran as
/// root). Set-group-ID on a directory is allowed: it only makes new entries
/// inherit the directory's group. `file` is what the call changes (a path, or
/// the magic link of a descriptor); for [`ModeChange::Create`] nothing exists yet.
fn decide_setid(name: &str, mode: u32, change: ModeChange, file: &Path, follow: bool) -> Decision {
    if mode & SETID_BITS == 0 {
        return Decision::Continue;
    }
    if change == ModeChange::Chmod && mode & libc::S_ISUID == 0 {
        let meta = if follow { std::fs::metadata(file) } else { std::fs::symlink_metadata(file) };
        if meta.is_ok_and(|m| m.is_dir()) {
            return Decision::Continue;
        }
    }
    Decision::Deny {
        errno: libc::EPERM,
        rule: Rule::FsSetuid,
        detail: format!("{name}: mode {mode:04o} would make {} set-user/group-ID", file.display()),
    }
}

fn decide_exec(n: &Notification, mem: &dyn Memory, nr: i64) -> Decision {
    use std::os::unix::ffi::OsStrExt;
    let (dirfd, path_arg) = if nr == libc::SYS_execveat { (Some(n.args[0]), 1) } else { (None, 0) };
    let name = seccomp::syscall_name(nr);
    if n.args[path_arg] == 0 {
        return Decision::Continue; // EFAULT from the kernel
    }
    let Some(raw) = mem.cstr(n.args[path_arg]) else { return unreadable(&name, "path") };
    if raw.len() >= PATH_MAX {
        return Decision::Continue; // ENAMETOOLONG from the kernel
    }
    let pid = mem.pid();
    // What the kernel will execute: fexecve's empty path is the descriptor itself;
    // otherwise the resolved path, or the magic link a descriptor path stops at.
    let file = if raw.is_empty() {
        match dirfd {
            Some(fd) => PathBuf::from(format!("/proc/{pid}/fd/{}", fd as i32)),
            None => return Decision::Continue, // ENOENT from the kernel
        }
    } else {
        match judged(&name, &raw, resolve(pid, dirfd, &raw, true)) {
            Ok(Target::Path(p) | Target::Object(p)) => p,
            Ok(_) => return Decision::Continue,
            Err(d) => return d,
        }
    };
    match std::fs::metadata(&file) {
        Ok(m) if m.mode() & (libc::S_ISUID | libc::S_ISGID) != 0 => Decision::Deny {
            errno: libc::EPERM,
            rule: Rule::ExecSetuid,
            detail: format!(
                "exec of set-user/group-ID file {}",
                Path::new(std::ffi::OsStr::from_bytes(&raw)).display()
            ),
        },
        _ => Decision::Continue,
    }
}

fn decide_write(
    plan: &JailPlan,
    n: &Notification,
    mem: &dyn Memory,
    name: &str,
    args: PathArgs,
    written: &mut Vec<PathBuf>,
) -> Decision {
    let nr = n.nr as i64;
    let mut in_root = false;
    let mut how = None;
    if nr == libc::SYS_openat2 {
        // struct open_how { u64 flags; u64 mode; u64 resolve; } at args[2].
        let Some(b) = mem.bytes(n.args[2], 24) else { return unreadable(name, "open_how") };
        let word =
            |i: usize| u64::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
        let w = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u64;
        if word(0) & w == 0 {
            return Decision::Continue;
        }
        how = Some((word(0), word(8)));
        const RESOLVE_IN_ROOT: u64 = 0x10;
        in_root = word(16) & RESOLVE_IN_ROOT != 0;
    }
    let open_flags = match nr {
        libc::SYS_open => Some(n.args[1]),
        libc::SYS_openat => Some(n.args[2]),
        _ => how.map(|(flags, _)| flags),
    };
    // Calls that change nothing when their target already exists: `mkdir` (EEXIST,
    // as `mkdir -p` and cmake do for every parent) and an open with O_CREAT but
    // no write access (a read, as lock-file helpers do). If the target vanishes
    // before the kernel acts, landlock and the mounts still refuse the write.
    let access = (libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC) as u64;
    let no_op_if_present =
        matches!(nr, libc::SYS_mkdir | libc::SYS_mkdirat) || open_flags.is_some_and(|f| f & access == 0);
    // Making or removing a directory: allowed at a protected path only a
    // command's word names (review 81, F5: `JailPlan::dirs_allowed`).
    let dir_op = matches!(nr, libc::SYS_mkdir | libc::SYS_mkdirat | libc::SYS_rmdir)
        || (nr == libc::SYS_unlinkat && n.args[2] & libc::AT_REMOVEDIR as u64 != 0);
    const RENAME_WHITEOUT: u64 = 1 << 2;
    if nr == libc::SYS_renameat2
        && n.args[4] & RENAME_WHITEOUT != 0
        && plan.denied.contains(&crate::policy::SyscallClass::DeviceNodes)
    {
        // A whiteout is a 0/0 character device left in place of the source.
        return Decision::Deny {
            errno: libc::EPERM,
            rule: Rule::Syscall(crate::policy::SyscallClass::DeviceNodes),
            detail: format!("{name} with RENAME_WHITEOUT creates a character device"),
        };
    }
    // Device nodes may be opened for writing, never chmod'ed, renamed or linked.
    let open_like = matches!(nr, libc::SYS_open | libc::SYS_openat | libc::SYS_openat2 | libc::SYS_creat);
    // An open that may make its final name (O_TMPFILE makes none).
    let creates = nr == libc::SYS_creat || open_flags.is_some_and(|f| f & libc::O_CREAT as u64 != 0);
    // Calls that move what a path names, and so everything below it.
    let renames = matches!(nr, libc::SYS_rename | libc::SYS_renameat | libc::SYS_renameat2);
    let pid = mem.pid();
    // The target of one path argument (never Absent or Unresolvable: those
    // are answered, see `judged`). `itself`: an empty path names the
    // descriptor's own file (AT_EMPTY_PATH of fchownat, fchmodat2, utimensat,
    // setxattrat, file_setattr…), judged like fchown.
    let target_of = |(dirfd, arg): (Option<usize>, usize), follow: bool, itself: bool| -> Result<Target, Decision> {
        if n.args[arg] == 0 {
            return Ok(Target::Object(PathBuf::new())); // NULL: EFAULT from the kernel
        }
        let raw = mem.cstr(n.args[arg]).ok_or_else(|| unreadable(name, "path"))?;
        if raw.is_empty() {
            // AT_EMPTY_PATH: the descriptor itself (an O_TMPFILE file, say), already
            // open; without the flag the kernel answers ENOENT.
            return Ok(match dirfd.map(|d| n.args[d] as i32) {
                Some(fd) if itself && fd != libc::AT_FDCWD => {
                    let link = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
                    match std::fs::read_link(&link).ok().and_then(|text| link_path(&link, &text)) {
                        Some(p) => Target::Path(p),
                        None => Target::Object(link),
                    }
                }
                _ => Target::Object(PathBuf::new()),
            });
        }
        if raw.len() >= PATH_MAX {
            return Ok(Target::Object(PathBuf::new())); // ENAMETOOLONG from the kernel
        }
        judged(name, &raw, resolve_in(pid, dirfd.map(|d| n.args[d]), &raw, follow, in_root))
    };
    // A path naming an entry of a removed directory (ENOENT from the kernel): the
    // call fails, but the other path is still judged, and an attempt there is
    // reported as it would be with any missing source.
    let mut absent = None;
    if let Some(src) = args.link_source {
        // linkat follows a final symlink only with AT_SYMLINK_FOLLOW (arg 4).
        let follow = nr == libc::SYS_linkat && n.args[4] & libc::AT_SYMLINK_FOLLOW as u64 != 0;
        match target_of(src, follow, false) {
            Err(d @ Decision::Fail { .. }) => absent = Some(d),
            Err(d) => return d,
            Ok(Target::Path(p)) if !write_allowed(plan, &p, false) => {
                return Decision::Deny {
                    errno: libc::EACCES,
                    rule: Rule::FsHardlink,
                    detail: format!("{name}: hard link to {} outside the writable roots", p.display()),
                };
            }
            Ok(_) => {}
        }
    }
    let mode = requested_mode(nr, &n.args, how);
    // A plain rename's source (renameat2's flags are its fifth argument).
    let plain_rename = renames && (nr != libc::SYS_renameat2 || n.args[4] == 0);
    let mut source: Option<PathBuf> = None;
    // A rename (no exchange) whose source is a real directory moves that
    // directory: onto or away from a path where only a directory may be
    // (review 82: `mv staging build.debug`) it counts as making or removing
    // one. A source swapped for a file before the kernel acts lands there
    // past this check, and the host's check after the task removes it.
    const RENAME_EXCHANGE: u64 = 1 << 1;
    let exchange = nr == libc::SYS_renameat2 && n.args[4] & RENAME_EXCHANGE != 0;
    let mut moves_dir = false;
    for (i, t) in args.targets.iter().enumerate() {
        let from = renames && i == 0;
        let target = match target_of(*t, args.follows, !open_like) {
            Err(d @ Decision::Fail { .. }) => {
                absent = Some(d);
                continue;
            }
            Err(d) => return d,
            Ok(t) => t,
        };
        if let Target::Path(p) = &target {
            if no_op_if_present && std::fs::symlink_metadata(p).is_ok() {
                return Decision::Continue;
            }
            if from && !exchange {
                moves_dir = std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
            }
            if let Some(guarded) = guard_of(plan, p, dir_op || moves_dir) {
                let detail = format!(
                    "{name}: write to {}, a protected path ({}){}",
                    p.display(),
                    guarded.display(),
                    absent_hint(plan, guarded)
                );
                if plain_rename && let Some(src) = source.take() {
                    // Git rewriting a config with what it already holds.
                    if super::rewrite::same_bytes(&src, p) {
                        return Decision::SameBytes { source: src, detail };
                    }
                    // Git changing a repository's config: judged by the supervisor.
                    if guarded == p.as_path() && repository_config(plan, p) {
                        return Decision::GitConfig { source: src, target: p.clone(), detail };
                    }
                }
                return Decision::Deny { errno: libc::EACCES, rule: Rule::FsProtected, detail };
            }
            if !write_allowed_as(plan, p, open_like, dir_op || moves_dir) {
                // An open of a name that is missing, where nothing can be made
                // or where the host lacks it too: the kernel's answer, no
                // violation (sweep 88, F1: tempfile's `/does-not-exist/`).
                if open_like
                    && let Some(errno) = super::nowhere::nothing_to_write(plan, p, creates, &|q: &Path| {
                        std::fs::symlink_metadata(q).ok().map(|m| m.is_dir())
                    })
                {
                    return Decision::Fail { errno };
                }
                return Decision::Deny {
                    errno: libc::EACCES,
                    rule: Rule::FsWrite,
                    detail: format!("{name}: write to {} outside the writable roots", p.display()),
                };
            }
            // Moving a directory that holds a protected path moves it away; an
            // rmdir of one cannot succeed (it is not empty) and is left to the kernel.
            // A directory moved away from where only a directory may be (or
            // one moved there) leaves that path absent (or a directory).
            let moved_freely =
                |g: &PathBuf| moves_dir && plan.dirs_allowed.contains(g) && (from || g.as_path() == p.as_path());
            if renames && let Some(guarded) = plan.protected.iter().find(|g| g.starts_with(p) && !moved_freely(g)) {
                return Decision::Deny {
                    errno: libc::EACCES,
                    rule: Rule::FsProtected,
                    detail: format!("{name}: {} holds the protected path {}", p.display(), guarded.display()),
                };
            }
            if renames && let Some(island) = island_below(plan, p) {
                // The kernel refuses it too (the island and its parents are mount
                // points); reported because it tries to move protected files away.
                return Decision::Deny {
                    errno: libc::EBUSY,
                    rule: Rule::FsWrite,
                    detail: format!("{name}: {} holds the protected path {}", p.display(), island.display()),
                };
            }
        }
        // A mode with set-ID bits, on a file in the writable roots or behind a
        // descriptor (an O_TMPFILE file, say, named later by linkat).
        if let (Some((mode, change)), Target::Path(file) | Target::Object(file)) = (mode, &target)
            && (change == ModeChange::Create || !file.as_os_str().is_empty())
        {
            let d = decide_setid(name, mode, change, file, args.follows);
            if d != Decision::Continue {
                return d;
            }
        }
        if let Target::Path(p) = target {
            if plain_rename && source.is_none() && written.is_empty() {
                source = Some(p.clone());
            }
            written.push(p);
        }
    }
    absent.unwrap_or(Decision::Continue)
}

/// Whether `path` is the config or `config.worktree` of the workspace's
/// repository (`.git/config`) or of a submodule's git directory below
/// `.git/modules`: files git changes by renaming `<name>.lock` onto them.
fn repository_config(plan: &JailPlan, path: &Path) -> bool {
    let git = plan.workdir.join(".git");
    let name = path.file_name().and_then(std::ffi::OsStr::to_str);
    (path.parent() == Some(git.as_path()) || path.starts_with(git.join("modules")))
        && matches!(name, Some("config" | "config.worktree"))
}

/// The protected path `path` is, or lies below, if any (see [`guard_of`]).
fn protected_at<'p>(plan: &'p JailPlan, path: &Path) -> Option<&'p Path> {
    guard_of(plan, path, false)
}

/// The protected path that `path` is, or lies below, and that guards it
/// from the call, if any; `dir_op`: the call makes or removes a directory.
/// A path of `dirs_allowed` (review 81, F5; review 82: absent or a
/// directory at the start) guards neither a directory made, removed or
/// moved (renamed, no exchange) at it nor, while it is a real directory
/// (not a link), what lies below it. Nothing but a directory can be made
/// or moved there, and a directory holding one can only be moved away, so
/// what is there stays a directory or absent.
fn guard_of<'p>(plan: &'p JailPlan, path: &Path, dir_op: bool) -> Option<&'p Path> {
    let allowed = |g: &Path| {
        plan.dirs_allowed.iter().any(|d| d == g)
            && if path == g { dir_op } else { std::fs::symlink_metadata(g).is_ok_and(|m| m.is_dir()) }
    };
    plan.protected.iter().map(PathBuf::as_path).find(|g| path.starts_with(g) && !allowed(g))
}

/// For a protected path that does not exist (yet): creating it is an attempt
/// too (SECURITY.md §5.3, `git init` in a fresh workspace); the detail says so
/// and names what allows it. Empty for one that exists.
fn absent_hint(plan: &JailPlan, guarded: &Path) -> String {
    if std::fs::symlink_metadata(guarded).is_ok() {
        return String::new();
    }
    let rel = guarded.strip_prefix(&plan.workdir).ok().and_then(Path::to_str).unwrap_or_default();
    let before = if rel.starts_with(".git/") {
        "make the repository before the task (`git init` outside the jail)"
    } else {
        "create it before the task"
    };
    let knob = if crate::policy::DEFAULT_PROTECTED.contains(&rel) {
        format!(", or list it in `filesystem.unprotected: [{rel}]`, which lets any task plant it")
    } else {
        String::new()
    };
    format!("; it is absent, and creating it counts too: {before}{knob}")
}

/// A read-only island (decoy, read-only bind) at or below `dir`, if any.
fn island_below<'p>(plan: &'p JailPlan, dir: &Path) -> Option<&'p Path> {
    if !plan.namespaces {
        return None;
    }
    plan.decoys
        .iter()
        .map(|d| d.path.as_path())
        .chain(plan.mounts.iter().filter_map(|m| match m {
            Mount::Bind { rw: false, dst, .. } => Some(dst.as_path()),
            _ => None,
        }))
        .find(|island| island.starts_with(dir))
}

/// fchmod, fchown, f*xattr, futimens: judge the file the descriptor refers to.
fn decide_write_fd(plan: &JailPlan, n: &Notification, mem: &dyn Memory, name: &str, arg: usize) -> Decision {
    let link = PathBuf::from(format!("/proc/{}/fd/{}", mem.pid(), n.args[arg] as i32));
    let Ok(text) = std::fs::read_link(&link) else { return Decision::Continue }; // EBADF from the kernel
    // fchmod: the set-ID bits are judged on whatever file the descriptor holds,
    // a named one or not (an O_TMPFILE file may be linked into the workspace later).
    if let Some((mode, change)) = requested_mode(n.nr as i64, &n.args, None) {
        let d = decide_setid(name, mode, change, &link, true);
        if d != Decision::Continue {
            return d;
        }
    }
    match link_path(&link, &text) {
        Some(p) if let Some(guarded) = protected_at(plan, &p) => Decision::Deny {
            errno: libc::EACCES,
            rule: Rule::FsProtected,
            detail: format!("{name}: change of {}, a protected path ({})", p.display(), guarded.display()),
        },
        Some(p) if !write_allowed(plan, &p, false) => Decision::Deny {
            errno: libc::EACCES,
            rule: Rule::FsWrite,
            detail: format!("{name}: change of {} outside the writable roots", p.display()),
        },
        _ => Decision::Continue, // a pipe, socket, memfd or removed file
    }
}

/// Whether `path` names what the jail's devpts instance holds: its `ptmx`
/// or a numbered terminal.
fn is_pty(path: &Path) -> bool {
    path.parent() == Some(Path::new(super::plan::PTY_DIR))
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == "ptmx" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
}

/// Whether `path` (absolute, resolved) may be written. `open_like` is true for
/// opens, the only writes allowed on the device nodes of `writable_files`.
///
/// In the namespaced jail the most specific mount covering the path decides
/// (a read-only `.orchestra/` inside the read-write workspace, a read-write
/// workspace inside a read-only home, decoys); without namespaces only the
/// writable roots exist.
pub fn write_allowed(plan: &JailPlan, path: &Path, open_like: bool) -> bool {
    write_allowed_as(plan, path, open_like, false)
}

/// [`write_allowed`]; `dir_op`: the call makes or removes a directory (see
/// [`guard_of`]).
fn write_allowed_as(plan: &JailPlan, path: &Path, open_like: bool, dir_op: bool) -> bool {
    if open_like && plan.writable_files.iter().any(|f| path == f) {
        return true;
    }
    // The jail's own pseudo-terminals (plan::PTY_DIR): its devpts instance
    // holds only ptmx and the numbered terminals opened through it.
    if open_like && plan.ptys && is_pty(path) {
        return true;
    }
    if guard_of(plan, path, dir_op).is_some() {
        return false;
    }
    if !plan.namespaces {
        // The most specific root decides: a read-only island inside a writable
        // root, a writable volume inside that island again.
        let depth = |p: &PathBuf| p.components().count();
        let w = plan.writable.iter().filter(|w| path.starts_with(w)).map(depth).max();
        let r = plan.read_only_islands.iter().filter(|r| path.starts_with(r)).map(depth).max();
        return match (w, r) {
            (Some(w), Some(r)) => w > r,
            (w, _) => w.is_some(),
        };
    }
    let mut best: Option<(usize, bool)> = None;
    let mut consider = |dst: &Path, rw: bool| {
        if path.starts_with(dst) {
            let depth = dst.components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, rw));
            }
        }
    };
    for m in &plan.mounts {
        match m {
            Mount::Bind { dst, rw, .. } => consider(dst, *rw),
            Mount::Tmpfs { dst, .. } | Mount::Overlay { dst, .. } | Mount::Empty { dst, .. } => consider(dst, true),
            Mount::Dir { dst } | Mount::Symlink { dst, .. } => consider(dst, false),
        }
    }
    consider(Path::new("/dev/shm"), plan.writable.iter().any(|w| w == Path::new("/dev/shm")));
    for d in &plan.decoys {
        consider(&d.path, false);
    }
    best.is_some_and(|(_, rw)| rw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::resolve::walk;
    use crate::policy::SyscallClass;
    use std::collections::HashMap;

    struct FakeMem(HashMap<u64, Vec<u8>>);

    impl Memory for FakeMem {
        fn cstr(&self, addr: u64) -> Option<Vec<u8>> {
            self.0.get(&addr).cloned()
        }
        fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
            self.0.get(&addr).map(|v| v[..len.min(v.len())].to_vec())
        }
        fn pid(&self) -> u32 {
            std::process::id()
        }
    }

    fn plan() -> JailPlan {
        JailPlan {
            mounts: vec![
                Mount::Bind { src: "/work".into(), dst: "/work".into(), rw: true },
                Mount::Bind { src: "/work/.orchestra".into(), dst: "/work/.orchestra".into(), rw: false },
                Mount::Tmpfs { dst: "/tmp".into(), size: None },
            ],
            writable: vec!["/work".into(), "/tmp".into()],
            writable_files: vec!["/dev/null".into()],
            denied: SyscallClass::ALL.to_vec(),
            ..JailPlan::for_tests()
        }
    }

    fn notif(nr: i64, args: [u64; 6]) -> Notification {
        Notification { id: 1, pid: std::process::id(), nr: nr as i32, arch: seccomp::AUDIT_ARCH_X86_64, args }
    }

    #[test]
    fn foreign_abi_calls_are_denied_and_barriers_continue() {
        let p = plan();
        let mut w = Vec::new();
        let x32 = Notification { nr: (seccomp::X32_BIT | 39) as i32, ..notif(0, [0; 6]) };
        let i386 = Notification { arch: 0x4000_0003, ..notif(20, [0; 6]) };
        for n in [x32, i386] {
            let d = decide(&p, &n, &FakeMem(HashMap::new()), &mut w);
            assert!(
                matches!(d, Decision::Deny { errno: libc::ENOSYS, ref rule, .. } if Some(*rule) == Rule::parse("seccomp.abi")),
                "{d:?}"
            );
        }
        for nr in [libc::SYS_exit_group, libc::SYS_kill, libc::SYS_tgkill] {
            assert_eq!(
                decide(&p, &notif(nr, [0, 9, 9, 0, 0, 0]), &FakeMem(HashMap::new()), &mut w),
                Decision::Continue
            );
        }
    }

    #[test]
    fn only_the_jail_s_own_terminals_are_opened_for_writing_below_dev_pts() {
        let mut p = plan();
        p.ptys = true;
        for ok in ["/dev/pts/ptmx", "/dev/pts/0", "/dev/pts/17"] {
            assert!(write_allowed(&p, Path::new(ok), true), "{ok}");
            assert!(!write_allowed(&p, Path::new(ok), false), "{ok}: opens only");
        }
        for no in ["/dev/pts/x", "/dev/pts/", "/dev/pts/0/x", "/dev/pts/-1", "/dev/ptsx/0", "/dev/ptmx2"] {
            assert!(!write_allowed(&p, Path::new(no), true), "{no}");
        }
        // Without namespaces on the host /dev is the host's: its terminals are not the task's.
        p.ptys = false;
        assert!(!write_allowed(&p, Path::new("/dev/pts/0"), true));
    }

    #[test]
    fn denied_class_is_reported_with_its_rule() {
        let d = decide(&plan(), &notif(libc::SYS_ptrace, [0; 6]), &FakeMem(HashMap::new()), &mut Vec::new());
        assert!(matches!(d, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("syscall.ptrace")), "{d:?}");
    }

    #[test]
    fn inet_socket_is_a_network_violation() {
        let d = decide(
            &plan(),
            &notif(libc::SYS_socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
            &FakeMem(HashMap::new()),
            &mut Vec::new(),
        );
        assert!(
            matches!(d, Decision::Deny { ref rule, ref detail, .. } if Some(*rule) == Rule::parse("network.none") && detail.contains("AF_INET"))
        );
    }

    #[test]
    fn writes_are_judged_by_path() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/etc/passwd".to_vec());
        m.insert(0x2000, b"/tmp/x/../ok".to_vec());
        let mem = FakeMem(m);
        let bad = decide(
            &plan(),
            &notif(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x1000, 1, 0, 0, 0]),
            &mem,
            &mut Vec::new(),
        );
        assert!(matches!(bad, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("fs.write")), "{bad:?}");
        let ok = decide(
            &plan(),
            &notif(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x2000, 1, 0, 0, 0]),
            &mem,
            &mut Vec::new(),
        );
        assert_eq!(ok, Decision::Continue);
    }

    #[test]
    fn mkdir_of_an_existing_directory_and_a_read_with_o_creat_change_nothing() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/etc".to_vec());
        m.insert(0x2000, b"/etc/orchestra-no-such-dir".to_vec());
        m.insert(0x3000, b"/etc/passwd".to_vec());
        let mem = FakeMem(m);
        let d = |nr: i64, args: [u64; 6]| decide(&plan(), &notif(nr, args), &mem, &mut Vec::new());
        let at = libc::AT_FDCWD as u64;
        assert_eq!(d(libc::SYS_mkdir, [0x1000, 0o755, 0, 0, 0, 0]), Decision::Continue, "mkdir -p of /etc");
        assert_eq!(d(libc::SYS_mkdirat, [at, 0x1000, 0o755, 0, 0, 0]), Decision::Continue);
        assert!(
            matches!(d(libc::SYS_mkdir, [0x2000, 0o755, 0, 0, 0, 0]), Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("fs.write"))
        );
        let creat_read = libc::O_CREAT as u64;
        assert_eq!(d(libc::SYS_openat, [at, 0x3000, creat_read, 0o644, 0, 0]), Decision::Continue);
        let creat_write = (libc::O_CREAT | libc::O_RDWR) as u64;
        assert!(matches!(d(libc::SYS_openat, [at, 0x3000, creat_write, 0o644, 0, 0]), Decision::Deny { .. }));
        assert!(matches!(d(libc::SYS_openat, [at, 0x2000, creat_read, 0o644, 0, 0]), Decision::Deny { .. }));
    }

    #[test]
    fn a_directory_may_be_made_where_only_a_command_word_is_protected_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().canonicalize().unwrap();
        let (build, tool) = (w.join("build.debug"), w.join("tool.py"));
        let p = JailPlan {
            mounts: vec![Mount::Bind { src: w.clone(), dst: w.clone(), rw: true }],
            writable: vec![w.clone()],
            protected: vec![build.clone(), tool.clone()],
            dirs_allowed: vec![build.clone()],
            ..plan()
        };
        let bytes = |p: &Path| p.as_os_str().as_encoded_bytes().to_vec();
        let mem = FakeMem(HashMap::from([
            (0x1000, bytes(&build)),
            (0x2000, bytes(&build.join("build.ninja"))),
            (0x3000, bytes(&tool)),
        ]));
        let at = libc::AT_FDCWD as u64;
        let creat = (libc::O_CREAT | libc::O_WRONLY) as u64;
        let dd = |nr: i64, args: [u64; 6]| decide(&p, &notif(nr, args), &mem, &mut Vec::new());
        let protected =
            |x: Decision| matches!(x, Decision::Deny { rule, .. } if Some(rule) == Rule::parse("fs.protected"));
        assert_eq!(dd(libc::SYS_mkdir, [0x1000, 0o755, 0, 0, 0, 0]), Decision::Continue, "mkdir build.debug");
        assert!(protected(dd(libc::SYS_openat, [at, 0x1000, creat, 0o755, 0, 0])), "a file at build.debug");
        assert!(protected(dd(libc::SYS_mkdir, [0x3000, 0o755, 0, 0, 0, 0])), "tool.py is no word's only");
        assert!(protected(dd(libc::SYS_openat, [at, 0x2000, creat, 0o644, 0, 0])), "below, while absent");
        std::fs::create_dir(&build).unwrap();
        assert_eq!(dd(libc::SYS_openat, [at, 0x2000, creat, 0o644, 0, 0]), Decision::Continue, "below the directory");
        assert_eq!(dd(libc::SYS_rmdir, [0x1000, 0, 0, 0, 0, 0]), Decision::Continue);
        assert!(protected(dd(libc::SYS_unlinkat, [at, 0x1000, 0, 0, 0, 0])), "an unlink is no rmdir");
        assert!(protected(dd(libc::SYS_rename, [0x3000, 0x1000, 0, 0, 0, 0])), "a rename onto it");
        std::fs::remove_dir(&build).unwrap();
        assert!(protected(dd(libc::SYS_symlink, [0x3000, 0x1000, 0, 0, 0, 0])), "a link at build.debug");
    }

    #[test]
    fn a_directory_may_be_moved_onto_or_away_from_where_only_a_directory_may_be() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().canonicalize().unwrap();
        let (build, staging, file, old) = (w.join("build.debug"), w.join("staging"), w.join("f"), w.join("old"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(&file, "x").unwrap();
        let p = JailPlan {
            mounts: vec![Mount::Bind { src: w.clone(), dst: w.clone(), rw: true }],
            writable: vec![w.clone()],
            protected: vec![build.clone()],
            dirs_allowed: vec![build.clone()],
            ..plan()
        };
        let bytes = |p: &Path| p.as_os_str().as_encoded_bytes().to_vec();
        let mem = FakeMem(HashMap::from([
            (0x1000, bytes(&build)),
            (0x2000, bytes(&staging)),
            (0x3000, bytes(&file)),
            (0x4000, bytes(&old)),
        ]));
        let cwd = libc::AT_FDCWD as u64;
        let dd = |nr: i64, args: [u64; 6]| decide(&p, &notif(nr, args), &mem, &mut Vec::new());
        let protected =
            |x: Decision| matches!(x, Decision::Deny { rule, .. } if Some(rule) == Rule::parse("fs.protected"));
        // Review 82: `mv staging build.debug` makes the directory there.
        assert_eq!(dd(libc::SYS_rename, [0x2000, 0x1000, 0, 0, 0, 0]), Decision::Continue, "a directory moved there");
        assert_eq!(dd(libc::SYS_renameat2, [cwd, 0x2000, cwd, 0x1000, 1, 0]), Decision::Continue, "NOREPLACE");
        assert!(protected(dd(libc::SYS_rename, [0x3000, 0x1000, 0, 0, 0, 0])), "a file moved there");
        assert!(protected(dd(libc::SYS_renameat2, [cwd, 0x2000, cwd, 0x1000, 2, 0])), "an exchange");
        std::fs::create_dir(&build).unwrap();
        assert_eq!(dd(libc::SYS_rename, [0x1000, 0x4000, 0, 0, 0, 0]), Decision::Continue, "moved away");
        assert!(protected(dd(libc::SYS_renameat2, [cwd, 0x1000, cwd, 0x3000, 2, 0])), "exchanged with a file");
    }

    #[test]
    fn the_most_specific_mount_decides() {
        let mut p = plan();
        assert!(write_allowed(&p, Path::new("/work/src/main.rs"), true));
        assert!(!write_allowed(&p, Path::new("/work/.orchestra/audit/x"), true));
        assert!(!write_allowed(&p, Path::new("/etc/passwd"), true));
        // a read-write workspace inside a read-only home
        p.mounts.push(Mount::Bind { src: "/home/u".into(), dst: "/home/u".into(), rw: false });
        p.mounts.push(Mount::Bind { src: "/home/u/ws".into(), dst: "/home/u/ws".into(), rw: true });
        assert!(write_allowed(&p, Path::new("/home/u/ws/out"), true));
        assert!(!write_allowed(&p, Path::new("/home/u/.bashrc"), true));
    }

    #[test]
    fn hard_link_source_outside_is_denied() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/etc/shadow".to_vec());
        m.insert(0x2000, b"/work/x".to_vec());
        let d = decide(&plan(), &notif(libc::SYS_link, [0x1000, 0x2000, 0, 0, 0, 0]), &FakeMem(m), &mut Vec::new());
        assert!(matches!(d, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("fs.hardlink")), "{d:?}");
    }

    #[test]
    fn sendmsg_is_judged_by_each_messages_destination() {
        let mut addr = vec![libc::AF_UNIX as u8, 0, 0];
        addr.extend_from_slice(b"bus");
        let hdr = |name: u64, len: u32| [name.to_ne_bytes().to_vec(), len.to_ne_bytes().to_vec()].concat();
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        m.insert(0x5000, hdr(0x3000, addr.len() as u32));
        m.insert(0x6000, hdr(0, 0)); // no name: the connected destination
        m.insert(0x6040, hdr(0x3000, addr.len() as u32));
        let mem = FakeMem(m);
        let mut w = Vec::new();
        // Namespace-less: the host's abstract names are the task's too.
        let plan = || JailPlan { namespaces: false, ..plan() };
        let d = decide(&plan(), &notif(libc::SYS_sendmsg, [3, 0x5000, 0, 0, 0, 0]), &mem, &mut w);
        assert!(
            matches!(d, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("network.abstract_unix")),
            "{d:?}"
        );
        let d = decide(&plan(), &notif(libc::SYS_sendmsg, [3, 0x6000, 0, 0, 0, 0]), &mem, &mut w);
        assert_eq!(d, Decision::Continue);
        // The second of two messages names the abstract socket.
        let d = decide(&plan(), &notif(libc::SYS_sendmmsg, [3, 0x6000, 2, 0, 0, 0]), &mem, &mut w);
        assert!(
            matches!(d, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("network.abstract_unix")),
            "{d:?}"
        );
        let d = decide(&plan(), &notif(libc::SYS_sendmmsg, [3, 0x6000, 1, 0, 0, 0]), &mem, &mut w);
        assert_eq!(d, Decision::Continue);
    }

    #[test]
    fn abstract_unix_connect_is_denied_without_a_netns_of_the_jails_own() {
        let mut addr = vec![libc::AF_UNIX as u8, 0, 0];
        addr.extend_from_slice(b"secret-listener");
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let mem = FakeMem(m);
        let connect = notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]);
        let sendto = notif(libc::SYS_sendto, [3, 0, 0, 0, 0x3000, addr.len() as u64]);
        // (`host` grants the host's network, abstract names included: not judged.)
        for network in [NetworkMode::None, NetworkMode::Loopback] {
            let bare = JailPlan { namespaces: false, network, ..plan() };
            for n in [&connect, &sendto] {
                let d = decide(&bare, n, &mem, &mut Vec::new());
                assert!(
                    matches!(d, Decision::Deny { ref rule, ref detail, .. } if Some(*rule) == Rule::parse("network.abstract_unix") && detail.contains("@secret-listener")),
                    "{network:?}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn abstract_unix_names_in_the_jails_own_netns_are_the_kernels_business() {
        // Sweep 90, F3: the name can only be the jail's own socket (landlock
        // scoping, ABI >= 6 as on every kernel the suite runs on, covers a
        // socket of the host's namespace).
        assert!(crate::sys::landlock_abi() >= super::super::landlock_rules::SCOPE_ABI, "this kernel cannot scope");
        let mut addr = vec![libc::AF_UNIX as u8, 0, 0];
        addr.extend_from_slice(b"own-listener");
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let mem = FakeMem(m);
        for network in [NetworkMode::None, NetworkMode::Loopback, NetworkMode::Host] {
            let p = JailPlan { network, ..plan() };
            let d =
                decide(&p, &notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]), &mem, &mut Vec::new());
            assert_eq!(d, Decision::Continue, "{network:?}");
            let d =
                decide(&p, &notif(libc::SYS_sendto, [3, 0, 0, 0, 0x3000, addr.len() as u64]), &mem, &mut Vec::new());
            assert_eq!(d, Decision::Continue, "{network:?}");
        }
    }

    #[test]
    fn families_with_no_way_out_of_the_jails_netns_fail_without_a_violation() {
        let mem = FakeMem(HashMap::new());
        let sock = |family: i32, ty: i32| notif(libc::SYS_socket, [family as u64, ty as u64, 0, 0, 0, 0]);
        let pair = |family: i32| notif(libc::SYS_socketpair, [family as u64, libc::SOCK_DGRAM as u64, 0, 0, 0, 0]);
        for network in [NetworkMode::None, NetworkMode::Loopback] {
            let p = JailPlan { network, ..plan() };
            for (family, ty) in [
                (libc::AF_CAN, libc::SOCK_RAW),
                (libc::AF_CAN, libc::SOCK_DGRAM),
                (libc::AF_BLUETOOTH, libc::SOCK_STREAM),
                (libc::AF_ALG, libc::SOCK_SEQPACKET),
            ] {
                let d = decide(&p, &sock(family, ty), &mem, &mut Vec::new());
                assert_eq!(d, Decision::Fail { errno: libc::EAFNOSUPPORT }, "{network:?} {family}");
                let d = decide(&p, &pair(family), &mem, &mut Vec::new());
                assert_eq!(d, Decision::Fail { errno: libc::EAFNOSUPPORT }, "{network:?} {family}");
            }
            // Families that can reach outside stay violations with today's rule.
            let rule = format!("network.{}", if network == NetworkMode::None { "none" } else { "loopback" });
            for (family, ty) in [
                (libc::AF_VSOCK, libc::SOCK_STREAM),
                (libc::AF_PACKET, libc::SOCK_RAW),
                (libc::AF_RDS, libc::SOCK_SEQPACKET),
                (42, libc::SOCK_DGRAM), // AF_QIPCRTR
                (libc::AF_INET, libc::SOCK_RAW),
                (libc::AF_KEY, libc::SOCK_RAW),
            ] {
                let d = decide(&p, &sock(family, ty), &mem, &mut Vec::new());
                assert_eq!(deny_rule(&d), rule, "{network:?} {family}: {d:?}");
            }
        }
        // Without a netns of the jail's own, every notified family is a violation.
        for network in [NetworkMode::None, NetworkMode::Loopback] {
            let bare = JailPlan { namespaces: false, network, ..plan() };
            let d = decide(&bare, &sock(libc::AF_CAN, libc::SOCK_RAW), &mem, &mut Vec::new());
            assert!(matches!(d, Decision::Deny { .. }), "{network:?}: {d:?}");
        }
        let host = JailPlan { network: NetworkMode::Host, ..plan() };
        let d = decide(&host, &sock(libc::AF_CAN, libc::SOCK_RAW), &mem, &mut Vec::new());
        assert_eq!(deny_rule(&d), "network.host", "{d:?}");
    }

    #[test]
    fn fifo_mknod_is_a_write_not_a_device() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/work/fifo".to_vec());
        let d = decide(
            &plan(),
            &notif(libc::SYS_mknod, [0x1000, libc::S_IFIFO as u64 | 0o644, 0, 0, 0, 0]),
            &FakeMem(m),
            &mut Vec::new(),
        );
        assert_eq!(d, Decision::Continue);
        let d = decide(
            &plan(),
            &notif(libc::SYS_mknod, [0x1000, libc::S_IFBLK as u64 | 0o644, 0, 0, 0, 0]),
            &FakeMem(HashMap::new()),
            &mut Vec::new(),
        );
        assert!(matches!(d, Decision::Deny { ref rule, .. } if Some(*rule) == Rule::parse("syscall.device_nodes")));
    }

    #[test]
    fn paths_resolve_like_the_kernel() {
        let me = std::process::id();
        // /proc/self is the task (here: us), and .. applies after following a symlink.
        assert_eq!(
            walk(me, Path::new("/"), "/".into(), Path::new("/proc/self"), false),
            Target::Path(format!("/proc/{me}").into())
        );
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/usr/bin", d.path().join("l")).unwrap();
        assert_eq!(
            walk(me, Path::new("/"), d.path().into(), Path::new("l/../lib/x"), true),
            Target::Path(PathBuf::from("/usr/lib/x"))
        );
        assert_eq!(
            walk(me, Path::new("/"), "/".into(), Path::new("/a/../../b/./c"), true),
            Target::Path("/b/c".into())
        );
        // A pipe behind a descriptor is an object, not a path.
        let (r, _w) = std::io::pipe().unwrap();
        use std::os::fd::AsRawFd;
        let fd = format!("/proc/self/fd/{}", r.as_raw_fd());
        assert!(matches!(walk(me, Path::new("/"), "/".into(), Path::new(&fd), true), Target::Object(_)));
        // Forty links are followed (the kernel's MAXSYMLINKS); the forty-first is
        // the kernel's ELOOP, an object with no path, never a judged file.
        std::fs::write(d.path().join("target"), "").unwrap();
        let mut prev = String::from("target");
        for i in 1..=41 {
            std::os::unix::fs::symlink(&prev, d.path().join(format!("c{i}"))).unwrap();
            prev = format!("c{i}");
        }
        assert_eq!(
            walk(me, Path::new("/"), d.path().into(), Path::new("c40"), true),
            Target::Path(d.path().join("target"))
        );
        assert_eq!(walk(me, Path::new("/"), d.path().into(), Path::new("c41"), true), Target::Object(PathBuf::new()));
        // Links that each climb and descend a deep tree: past MAX_WALK_STEPS
        // steps the walk fails closed instead of keeping the supervisor on one
        // call (review 87 F1); the same tree through one link resolves.
        let deep: PathBuf = (0..150).map(|i| format!("d{i}")).collect();
        std::fs::create_dir_all(d.path().join(&deep)).unwrap();
        let back = "../".repeat(150);
        std::os::unix::fs::symlink(format!("{back}{}", deep.display()), d.path().join(deep.join("up0"))).unwrap();
        for i in 1..40 {
            std::os::unix::fs::symlink(
                format!("{back}{}/up{}", deep.display(), i - 1),
                d.path().join(deep.join(format!("up{i}"))),
            )
            .unwrap();
        }
        assert_eq!(
            walk(me, Path::new("/"), d.path().into(), &deep.join("up0/x"), true),
            Target::Path(d.path().join(&deep).join("x"))
        );
        let got = walk(me, Path::new("/"), d.path().into(), &deep.join("up39/x"), true);
        assert!(matches!(&got, Target::Unresolvable(why) if why.contains("steps")), "{got:?}");
    }

    /// Sweep 86, F1: from a removed directory (a cwd or a descriptor, and
    /// through its magic link) every call naming an entry gets ENOENT without a
    /// violation, as from the kernel; a `..` leaving it (taken first) stays unresolvable,
    /// reported with the argument as written; the directory itself is an object.
    #[test]
    fn names_in_a_removed_directory_are_enoent_and_dotdot_from_it_is_unresolvable() {
        use std::os::fd::AsRawFd;
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let dir = std::fs::File::open(&gone).unwrap();
        std::fs::remove_dir(&gone).unwrap();
        let fd = dir.as_raw_fd() as u64;
        let live = std::fs::File::open(tmp.path()).unwrap();
        let mut m = HashMap::new();
        m.insert(0x1000, b"f".to_vec());
        m.insert(0x2000, b"./sub//f/".to_vec());
        m.insert(0x3000, b"../../../etc/orchestra-u86".to_vec());
        m.insert(0x4000, b"a/../f".to_vec());
        m.insert(0x5000, format!("/proc/self/fd/{fd}/f").into_bytes());
        m.insert(0x6000, format!("/proc/self/fd/{fd}/../x").into_bytes());
        m.insert(0x7000, b".".to_vec());
        m.insert(0x8000, b"/etc/passwd".to_vec());
        m.insert(0x9000, b"..".to_vec());
        let mem = FakeMem(m);
        let d = |nr: i64, args: [u64; 6]| decide(&plan(), &notif(nr, args), &mem, &mut Vec::new());
        let enoent = Decision::Fail { errno: libc::ENOENT };
        let creat = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
        let at = libc::AT_FDCWD as u64;
        for (what, nr, args) in [
            ("openat f", libc::SYS_openat, [fd, 0x1000, creat, 0o644, 0, 0]),
            ("openat ./sub//f/", libc::SYS_openat, [fd, 0x2000, creat, 0o644, 0, 0]),
            // The kernel fails at `a` and never takes the `..` (review 87 FP1).
            ("openat a/../f", libc::SYS_openat, [fd, 0x4000, creat, 0o644, 0, 0]),
            ("openat /proc/self/fd/N/f", libc::SYS_openat, [at, 0x5000, creat, 0o644, 0, 0]),
            ("mkdirat", libc::SYS_mkdirat, [fd, 0x1000, 0o755, 0, 0, 0]),
            ("unlinkat", libc::SYS_unlinkat, [fd, 0x1000, 0, 0, 0, 0]),
            ("symlinkat", libc::SYS_symlinkat, [0x8000, fd, 0x1000, 0, 0, 0]),
            ("renameat into it", libc::SYS_renameat, [fd, 0x1000, fd, 0x2000, 0, 0]),
            ("linkat", libc::SYS_linkat, [fd, 0x1000, fd, 0x2000, 0, 0]),
            ("fchmodat", libc::SYS_fchmodat, [fd, 0x1000, 0o755, 0, 0, 0]),
            ("execveat", libc::SYS_execveat, [fd, 0x1000, 0, 0, 0, 0]),
        ] {
            assert_eq!(d(nr, args), enoent, "{what}");
        }
        // A rename or link of an outside file into it, or of a name in it onto
        // an outside path, is still the attempt it was.
        assert_eq!(deny_rule(&d(libc::SYS_renameat, [at, 0x8000, fd, 0x1000, 0, 0])), "fs.write");
        assert_eq!(deny_rule(&d(libc::SYS_renameat, [fd, 0x1000, at, 0x8000, 0, 0])), "fs.write");
        assert_eq!(deny_rule(&d(libc::SYS_linkat, [at, 0x8000, fd, 0x1000, 0, 0])), "fs.hardlink");
        assert_eq!(deny_rule(&d(libc::SYS_linkat, [fd, 0x1000, at, 0x8000, 0, 0])), "fs.write");
        // `..` from it reaches its live parent, which no text names: fail closed,
        // with the argument as written in the detail (sweep 86, O3).
        for (what, nr, args, raw) in [
            ("openat ../..", libc::SYS_openat, [fd, 0x3000, creat, 0o644, 0, 0], "../../../etc/orchestra-u86"),
            ("/proc/self/fd/N/../x", libc::SYS_openat, [at, 0x6000, creat, 0o644, 0, 0], "/../x"),
            ("mkdirat ..", libc::SYS_mkdirat, [fd, 0x9000, 0o755, 0, 0, 0], ".."),
            ("renameat ..", libc::SYS_renameat, [fd, 0x1000, fd, 0x3000, 0, 0], "../../../etc"),
            ("execveat ..", libc::SYS_execveat, [fd, 0x3000, 0, 0, 0, 0], "../../../etc"),
        ] {
            let got = d(nr, args);
            assert_eq!(deny_rule(&got), "fs.unresolvable_path", "{what}: {got:?}");
            let Decision::Deny { detail, errno, .. } = got else { unreachable!() };
            assert_eq!(errno, libc::EACCES, "{what}");
            assert!(detail.contains(raw) && detail.contains("removed"), "{what}: {detail}");
        }
        // The directory itself, as `.` or through its descriptor, is an object
        // (no entry can be made in it); the same names in a live directory are paths.
        assert_eq!(
            resolve(std::process::id(), Some(fd), b".", true),
            Target::Object(format!("/proc/{}/fd/{fd}", std::process::id()).into())
        );
        assert_eq!(d(libc::SYS_fchmodat, [fd, 0x7000, 0o755, 0, 0, 0]), Decision::Continue);
        let lfd = live.as_raw_fd() as u64;
        assert_eq!(resolve(std::process::id(), Some(lfd), b"f", true), Target::Path(tmp.path().join("f")));
        assert_eq!(d(libc::SYS_openat, [lfd, 0x1000, creat, 0o644, 0, 0]), Decision::Continue);
    }

    fn deny_rule(d: &Decision) -> String {
        match d {
            Decision::Deny { rule, .. } => rule.to_string(),
            Decision::Continue => "continue".into(),
            Decision::Fail { errno } => format!("errno {errno}"),
            Decision::SameBytes { .. } => "same bytes".into(),
            Decision::GitConfig { .. } => "git config".into(),
            Decision::OwnTerminal { .. } => "own terminal".into(),
        }
    }

    #[test]
    fn a_rename_of_the_same_bytes_onto_a_protected_file_changes_nothing_and_others_are_denied() {
        use std::os::unix::ffi::OsStringExt as _;
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        let mut p = plan();
        p.mounts.push(Mount::Bind { src: w.into(), dst: w.into(), rw: true });
        p.writable.push(w.into());
        p.protected.push(w.join("config"));
        std::fs::write(w.join("config"), "[core]\n\tworktree = ../lib\n").unwrap();
        std::fs::write(w.join("same.lock"), "[core]\n\tworktree = ../lib\n").unwrap();
        std::fs::write(w.join("other.lock"), "[core]\n\tfsmonitor = x\n").unwrap();
        let mut m = HashMap::new();
        for (at, name) in [(0x1000, "same.lock"), (0x2000, "other.lock"), (0x3000, "config")] {
            m.insert(at, w.join(name).into_os_string().into_vec());
        }
        let mem = FakeMem(m);
        let rename = |from: u64, flags: u64| {
            let cwd = libc::AT_FDCWD as u64;
            decide(&p, &notif(libc::SYS_renameat2, [cwd, from, cwd, 0x3000, flags, 0]), &mem, &mut Vec::new())
        };
        assert!(matches!(rename(0x1000, 0), Decision::SameBytes { ref source, .. } if *source == w.join("same.lock")));
        assert_eq!(deny_rule(&rename(0x2000, 0)), "fs.protected", "other bytes");
        // RENAME_EXCHANGE would move the protected file away.
        assert_eq!(deny_rule(&rename(0x1000, 2)), "fs.protected", "an exchange");
        let plain = decide(&p, &notif(libc::SYS_rename, [0x1000, 0x3000, 0, 0, 0, 0]), &mem, &mut Vec::new());
        assert!(matches!(plain, Decision::SameBytes { .. }), "{plain:?}");
    }

    #[test]
    fn a_rename_of_its_lock_onto_a_repository_config_is_left_to_the_supervisor_and_no_other() {
        use std::os::unix::ffi::OsStringExt as _;
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        let mut p = plan();
        p.workdir = w.into();
        p.mounts.push(Mount::Bind { src: w.into(), dst: w.into(), rw: true });
        p.writable.push(w.into());
        let sub = w.join(".git/modules/lib");
        std::fs::create_dir_all(&sub).unwrap();
        for (file, text) in [(".git/config", "[core]\n"), (".git/config.lock", "[core]\n\tbare = false\n")] {
            std::fs::write(w.join(file), text).unwrap();
        }
        std::fs::write(sub.join("config"), "[core]\n").unwrap();
        std::fs::write(sub.join("config.lock"), "[core]\n\tbare = false\n").unwrap();
        std::fs::write(w.join(".git/other"), "[core]\n").unwrap();
        std::fs::write(w.join(".git/config.worktree.lock"), "[core]\n").unwrap();
        p.protected =
            vec![w.join(".git/config"), sub.join("config"), w.join(".git/other"), w.join(".git/config.worktree")];
        let mut m = HashMap::new();
        for (at, path) in [
            (0x1000, w.join(".git/config.lock")),
            (0x2000, w.join(".git/config")),
            (0x3000, sub.join("config.lock")),
            (0x4000, sub.join("config")),
            (0x5000, w.join(".git/other")),
            (0x6000, w.join(".git/config.worktree.lock")),
            (0x7000, w.join(".git/config.worktree")),
        ] {
            m.insert(at, path.into_os_string().into_vec());
        }
        let mem = FakeMem(m);
        let cwd = libc::AT_FDCWD as u64;
        let rename = |from: u64, to: u64, flags: u64| {
            decide(&p, &notif(libc::SYS_renameat2, [cwd, from, cwd, to, flags, 0]), &mem, &mut Vec::new())
        };
        assert!(matches!(rename(0x1000, 0x2000, 0), Decision::GitConfig { ref source, ref target, .. }
                if *source == w.join(".git/config.lock") && *target == w.join(".git/config")));
        assert!(matches!(rename(0x3000, 0x4000, 0), Decision::GitConfig { .. }), "a submodule's config");
        assert!(
            matches!(rename(0x6000, 0x7000, 0), Decision::GitConfig { ref target, .. } if *target == w.join(".git/config.worktree")),
            "a config.worktree, absent: judged by the supervisor"
        );
        assert_eq!(deny_rule(&rename(0x1000, 0x2000, 2)), "fs.protected", "an exchange");
        assert_eq!(deny_rule(&rename(0x1000, 0x5000, 0)), "fs.protected", "another protected file");
    }

    #[test]
    fn setid_modes_are_denied_on_files_and_allowed_setgid_on_directories() {
        let d = tempfile::tempdir().unwrap();
        let mut p = plan();
        p.mounts.push(Mount::Bind { src: d.path().into(), dst: d.path().into(), rw: true });
        p.writable.push(d.path().into());
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let mut m = HashMap::new();
        m.insert(0x1000, file.as_os_str().as_encoded_bytes().to_vec());
        m.insert(0x2000, d.path().as_os_str().as_encoded_bytes().to_vec());
        let mem = FakeMem(m);
        let chmod =
            |path: u64, mode: u64| decide(&p, &notif(libc::SYS_chmod, [path, mode, 0, 0, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(deny_rule(&chmod(0x1000, 0o4755)), "fs.setuid");
        assert_eq!(deny_rule(&chmod(0x1000, 0o2755)), "fs.setuid");
        assert_eq!(deny_rule(&chmod(0x1000, 0o2644)), "fs.setuid", "setgid without group-exec (mandatory locking)");
        assert_eq!(chmod(0x1000, 0o755), Decision::Continue);
        assert_eq!(chmod(0x1000, 0o1777), Decision::Continue, "the sticky bit is not set-ID");
        assert_eq!(chmod(0x2000, 0o2775), Decision::Continue, "setgid directories are benign");
        assert_eq!(deny_rule(&chmod(0x2000, 0o4775)), "fs.setuid");
        let at = libc::AT_FDCWD as u64;
        let d2 = decide(&p, &notif(seccomp::nr::FCHMODAT2, [at, 0x1000, 0o6755, 0, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(deny_rule(&d2), "fs.setuid");
        // Creation with set-ID bits: open(O_CREAT), openat, creat, mknod S_IFREG.
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        for (nr, args) in [
            (libc::SYS_open, [0x1000, creat, 0o4755, 0, 0, 0]),
            (libc::SYS_openat, [at, 0x1000, creat, 0o2755, 0, 0]),
            (libc::SYS_creat, [0x1000, 0o4700, 0, 0, 0, 0]),
            (libc::SYS_mknod, [0x1000, libc::S_IFREG as u64 | 0o4755, 0, 0, 0, 0]),
            (libc::SYS_mknodat, [at, 0x1000, 0o4755, 0, 0, 0]),
        ] {
            let d = decide(&p, &notif(nr, args), &mem, &mut Vec::new());
            assert_eq!(deny_rule(&d), "fs.setuid", "{}", seccomp::syscall_name(nr));
        }
        let d = decide(&p, &notif(libc::SYS_openat, [at, 0x1000, creat, 0o755, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(d, Decision::Continue);
        // Without O_CREAT the mode argument means nothing.
        let d = decide(&p, &notif(libc::SYS_openat, [at, 0x1000, 1, 0o4755, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(d, Decision::Continue);
        // Outside the writable roots the write itself is the violation.
        let mut m = HashMap::new();
        m.insert(0x3000, b"/etc/passwd".to_vec());
        let d = decide(&p, &notif(libc::SYS_chmod, [0x3000, 0o4755, 0, 0, 0, 0]), &FakeMem(m), &mut Vec::new());
        assert_eq!(deny_rule(&d), "fs.write");
    }

    #[test]
    fn fchmod_with_setid_bits_is_denied_on_any_file_behind_the_descriptor() {
        use std::os::fd::AsRawFd;
        let f = tempfile::NamedTempFile::new().unwrap();
        let fd = f.as_file().as_raw_fd() as u64;
        let mem = FakeMem(HashMap::new());
        let d = decide(&plan(), &notif(libc::SYS_fchmod, [fd, 0o104755, 0, 0, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(deny_rule(&d), "fs.setuid");
        let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
        let dfd = dir.as_raw_fd() as u64;
        let d = decide(&plan(), &notif(libc::SYS_fchmod, [dfd, 0o2775, 0, 0, 0, 0]), &mem, &mut Vec::new());
        assert_ne!(deny_rule(&d), "fs.setuid", "setgid on a directory");
    }

    #[test]
    fn terminal_requests_are_denied_or_left_to_the_supervisor_on_the_file_it_takes() {
        let mem = FakeMem(HashMap::new());
        let ioctl = |p: &JailPlan, req: u64, arg: u64| {
            decide(p, &notif(libc::SYS_ioctl, [7, req, arg, 0, 0, 0]), &mem, &mut Vec::new())
        };
        let mut with_ptys = plan();
        with_ptys.ptys = true;
        // Stopping output and taking the terminal exclusively: never continued
        // (a thread may swap the descriptor), handed to the supervisor with
        // what it needs to perform them on the file it takes.
        for req in [libc::TCXONC, libc::TIOCEXCL] {
            match ioctl(&with_ptys, req, 0) {
                Decision::OwnTerminal { fd, request, arg, detail } => {
                    assert_eq!((fd, request, arg), (7, req, 0));
                    assert!(
                        detail.starts_with("ioctl(T") && detail.ends_with("on descriptor 7 is denied by the policy")
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(deny_rule(&ioctl(&plan(), req, 0)), "syscall.tty_injection", "no devpts of its own");
        }
        // Injecting input is denied on every terminal, the task's own too.
        for req in [libc::TIOCSTI, libc::TIOCLINUX] {
            assert_eq!(deny_rule(&ioctl(&with_ptys, req, 0)), "syscall.tty_injection");
        }
        // A file that is no terminal of the instance is not one.
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_own_terminal(&f.into()));
    }

    #[test]
    fn an_empty_path_with_a_descriptor_is_judged_by_the_descriptors_file() {
        use std::os::fd::AsRawFd;
        // setxattrat(fd_of_/etc/passwd, "", AT_EMPTY_PATH, …): a change of /etc/passwd.
        let f = std::fs::File::open("/etc/passwd").unwrap();
        let mut m = HashMap::new();
        m.insert(0x1000, Vec::new());
        let args = [f.as_raw_fd() as u64, 0x1000, libc::AT_EMPTY_PATH as u64, 0, 0, 0];
        let d = decide(&plan(), &notif(seccomp::nr::SETXATTRAT, args), &FakeMem(m), &mut Vec::new());
        assert_eq!(deny_rule(&d), "fs.write", "{d:?}");
    }

    #[test]
    fn namespace_less_unix_sockets_are_judged_by_path() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("docker.sock");
        let _l = std::os::unix::net::UnixListener::bind(&outside).unwrap();
        let mut p = plan();
        p.namespaces = false;
        p.writable.retain(|w| !d.path().starts_with(w)); // the tempdir is under /tmp
        let sockaddr = |path: &Path| {
            let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
            a.extend_from_slice(path.as_os_str().as_encoded_bytes());
            a.push(0);
            a
        };
        let addr = sockaddr(&outside);
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let mem = FakeMem(m);
        let n = notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]);
        assert_eq!(deny_rule(&decide(&p, &n, &mem, &mut Vec::new())), "network.unix_socket");
        // Listed explicitly, or inside the writable roots: allowed.
        p.readable.push(outside.clone());
        assert_eq!(decide(&p, &n, &mem, &mut Vec::new()), Decision::Continue);
        let alias = d.path().join("log");
        std::os::unix::fs::symlink(&outside, &alias).unwrap();
        p.readable = vec![alias];
        assert_eq!(decide(&p, &n, &mem, &mut Vec::new()), Decision::Continue, "listed through a symlink");
        p.readable.clear();
        p.writable.push(d.path().into());
        assert_eq!(decide(&p, &n, &mem, &mut Vec::new()), Decision::Continue);
        // Host networking without namespaces: IP destinations stay allowed.
        let mut h = plan();
        h.namespaces = false;
        h.network = NetworkMode::Host;
        h.writable.retain(|w| !d.path().starts_with(w));
        let ip = [(libc::AF_INET as u16).to_ne_bytes().to_vec(), vec![0, 80, 93, 184, 216, 34, 0, 0, 0, 0, 0, 0, 0, 0]]
            .concat();
        let mut hm = HashMap::new();
        hm.insert(0x4000, ip.clone());
        let hn = notif(libc::SYS_connect, [3, 0x4000, ip.len() as u64, 0, 0, 0]);
        assert_eq!(decide(&h, &hn, &FakeMem(hm), &mut Vec::new()), Decision::Continue);
        assert_eq!(deny_rule(&decide(&h, &n, &mem, &mut Vec::new())), "network.unix_socket");
        // With namespaces only what the jail mounts is reachable: not judged here.
        let mut p = plan();
        p.namespaces = true;
        assert_eq!(decide(&p, &n, &mem, &mut Vec::new()), Decision::Continue);
        // A name that is no socket is the kernel's business (ENOENT).
        let mut p = plan();
        p.namespaces = false;
        let addr = sockaddr(&d.path().join("absent"));
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let n = notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]);
        assert_eq!(decide(&p, &n, &FakeMem(m), &mut Vec::new()), Decision::Continue);
    }

    /// Sweep 88, F1: opens that reach no file get the kernel's ENOENT from
    /// the supervisor, and no violation (the rule itself: `super::nowhere`).
    #[test]
    fn opens_that_reach_no_file_fail_without_a_violation_and_others_stay_writes() {
        let mut p = plan();
        p.mounts.push(Mount::Bind { src: "/usr".into(), dst: "/usr".into(), rw: false });
        p.host_root_names = super::super::nowhere::host_root_names();
        let mut m = HashMap::new();
        for (at, path) in [
            (0x1000, "/does-not-exist-s88a/"),
            (0x2000, "/does-not-exist-s88a/.tmpAbc"),
            (0x3000, "/usr/no-such-dir-s88a/x"),
            (0x4000, "/usr/no-such-file-s88a"),
            (0x5000, "/etc/no-such-file-s88a"),
            (0x6000, "/proc/no-such-dir-s88a/x"),
        ] {
            m.insert(at, path.as_bytes().to_vec());
        }
        let mem = FakeMem(m);
        let at = libc::AT_FDCWD as u64;
        let open = |path: u64, flags: i32| {
            decide(&p, &notif(libc::SYS_openat, [at, path, flags as u64, 0o600, 0, 0]), &mem, &mut Vec::new())
        };
        let enoent = Decision::Fail { errno: libc::ENOENT };
        assert_eq!(open(0x1000, libc::O_RDWR | libc::O_TMPFILE), enoent, "O_TMPFILE in a missing directory");
        assert_eq!(open(0x2000, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL), enoent, "below a name / lacks");
        assert_eq!(open(0x3000, libc::O_WRONLY | libc::O_CREAT), enoent, "below a missing directory of a mirror");
        assert_eq!(open(0x4000, libc::O_WRONLY), enoent, "no O_CREAT, missing");
        let creat = decide(&p, &notif(libc::SYS_creat, [0x3000, 0o644, 0, 0, 0, 0]), &mem, &mut Vec::new());
        assert_eq!(creat, enoent, "creat");
        assert_eq!(deny_rule(&open(0x4000, libc::O_WRONLY | libc::O_CREAT)), "fs.write", "made in /usr");
        assert_eq!(deny_rule(&open(0x5000, libc::O_WRONLY | libc::O_CREAT)), "fs.write", "made in /etc");
        assert_eq!(deny_rule(&open(0x6000, libc::O_WRONLY | libc::O_CREAT)), "fs.write", "/proc mirrors nothing");
    }

    #[test]
    fn device_nodes_may_be_opened_but_not_changed() {
        let p = plan();
        assert!(write_allowed(&p, Path::new("/dev/null"), true));
        assert!(!write_allowed(&p, Path::new("/dev/null"), false));
    }
}
