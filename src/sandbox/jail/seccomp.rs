//! The jail's seccomp filters, built with seccompiler from the plan (pure).
//!
//! Three filters are installed, the kernel applying the strictest answer:
//! 1. `clone3` fails with ENOSYS (its flags live in memory where BPF cannot
//!    look; libc falls back to `clone`, whose flags are checked below);
//! 2. x32-ABI syscall numbers kill the process (they would bypass per-number rules);
//! 3. the *watch* filter: every syscall of interest goes to the supervisor as a
//!    user notification ([`Watch`] says why). Denied classes and forbidden socket
//!    families are reported and denied; writes and execs are inspected and either
//!    reported+denied or continued (landlock and the mount tree still enforce).
//!
//! seccompiler has no user-notification action, so the watch filter is compiled
//! with `Trace(0)` as its match action and that return value is rewritten to
//! `SECCOMP_RET_USER_NOTIF` ([`rewrite_trace_to_notify`]); nothing else in the
//! program can return `SECCOMP_RET_TRACE`.

use crate::policy::{NetworkMode, SyscallClass};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Why a syscall is sent to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A denied class: always a violation.
    Class(SyscallClass),
    /// A socket of a family or type the network mode forbids: always a violation.
    Socket,
    /// `connect`, or `sendto` with a destination: inspect the address (abstract
    /// unix sockets, non-loopback IPs).
    Connect,
    /// `execve`/`execveat`: inspect the file (setuid/setgid bits).
    Exec,
    /// A syscall that writes the filesystem: inspect the path(s).
    Write(PathArgs),
    /// A syscall that changes the file behind a descriptor (fchmod, fchown, …):
    /// inspect the path that descriptor refers to. The value is the fd argument.
    WriteFd(usize),
}

/// Where a writing syscall keeps its path arguments: `(dirfd_arg, path_arg)` pairs,
/// `dirfd_arg` being `None` for the non-`at` variants (relative to the cwd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArgs {
    /// Paths that the call creates or modifies.
    pub targets: &'static [(Option<usize>, usize)],
    /// A path that must already be writable-visible for a hard link source.
    pub link_source: Option<(Option<usize>, usize)>,
    /// Whether the final component is followed if it is a symlink (open-like calls).
    pub follows: bool,
}

/// `FS_IOC_SETFLAGS` (`_IOW('f', 2, long)`): set inode flags (chattr).
pub const FS_IOC_SETFLAGS: u64 = 0x4008_6602;
/// `FS_IOC_FSSETXATTR` (`_IOW('X', 32, struct fsxattr)`): set extended inode flags.
pub const FS_IOC_FSSETXATTR: u64 = 0x401c_5820;

/// fchmodat2(2), Linux 6.6 (not yet in every libc crate).
const SYS_FCHMODAT2: i64 = 452;

const CWD0: &[(Option<usize>, usize)] = &[(None, 0)];
const CWD1: &[(Option<usize>, usize)] = &[(None, 1)];
const CWD01: &[(Option<usize>, usize)] = &[(None, 0), (None, 1)];
const AT01: &[(Option<usize>, usize)] = &[(Some(0), 1)];
const AT12: &[(Option<usize>, usize)] = &[(Some(1), 2)];
const AT23: &[(Option<usize>, usize)] = &[(Some(2), 3)];
const AT01_23: &[(Option<usize>, usize)] = &[(Some(0), 1), (Some(2), 3)];

const fn wr(targets: &'static [(Option<usize>, usize)], follows: bool) -> Watch {
    Watch::Write(PathArgs { targets, link_source: None, follows })
}

/// Syscalls and their [`Watch`]; the argument conditions are in [`watch_rules`].
fn syscall_table() -> Vec<(i64, Watch)> {
    use SyscallClass as C;
    use libc::*;
    let mut t: Vec<(i64, Watch)> = vec![
        (SYS_ptrace, Watch::Class(C::Ptrace)),
        (SYS_process_vm_readv, Watch::Class(C::Ptrace)),
        (SYS_process_vm_writev, Watch::Class(C::Ptrace)),
        (SYS_kcmp, Watch::Class(C::Ptrace)),
        (SYS_pidfd_getfd, Watch::Class(C::Ptrace)),
        (SYS_mount, Watch::Class(C::Mount)),
        (SYS_umount2, Watch::Class(C::Mount)),
        (SYS_pivot_root, Watch::Class(C::Mount)),
        (SYS_chroot, Watch::Class(C::Mount)),
        (SYS_fsopen, Watch::Class(C::Mount)),
        (SYS_fsconfig, Watch::Class(C::Mount)),
        (SYS_fsmount, Watch::Class(C::Mount)),
        (SYS_fspick, Watch::Class(C::Mount)),
        (SYS_move_mount, Watch::Class(C::Mount)),
        (SYS_open_tree, Watch::Class(C::Mount)),
        (SYS_mount_setattr, Watch::Class(C::Mount)),
        (SYS_unshare, Watch::Class(C::Namespaces)),
        (SYS_setns, Watch::Class(C::Namespaces)),
        (SYS_clone, Watch::Class(C::Namespaces)),
        (SYS_add_key, Watch::Class(C::Keyring)),
        (SYS_request_key, Watch::Class(C::Keyring)),
        (SYS_keyctl, Watch::Class(C::Keyring)),
        (SYS_bpf, Watch::Class(C::Bpf)),
        (SYS_io_uring_setup, Watch::Class(C::IoUring)),
        (SYS_io_uring_enter, Watch::Class(C::IoUring)),
        (SYS_io_uring_register, Watch::Class(C::IoUring)),
        (SYS_userfaultfd, Watch::Class(C::Userfaultfd)),
        (SYS_perf_event_open, Watch::Class(C::Perf)),
        (SYS_init_module, Watch::Class(C::KernelModules)),
        (SYS_finit_module, Watch::Class(C::KernelModules)),
        (SYS_delete_module, Watch::Class(C::KernelModules)),
        (SYS_kexec_load, Watch::Class(C::KernelModules)),
        (SYS_kexec_file_load, Watch::Class(C::KernelModules)),
        (SYS_reboot, Watch::Class(C::SystemAdmin)),
        (SYS_swapon, Watch::Class(C::SystemAdmin)),
        (SYS_swapoff, Watch::Class(C::SystemAdmin)),
        (SYS_acct, Watch::Class(C::SystemAdmin)),
        (SYS_quotactl, Watch::Class(C::SystemAdmin)),
        (SYS_syslog, Watch::Class(C::SystemAdmin)),
        (SYS_vhangup, Watch::Class(C::SystemAdmin)),
        (SYS_settimeofday, Watch::Class(C::SystemTime)),
        (SYS_clock_settime, Watch::Class(C::SystemTime)),
        (SYS_clock_adjtime, Watch::Class(C::SystemTime)),
        (SYS_adjtimex, Watch::Class(C::SystemTime)),
        (SYS_iopl, Watch::Class(C::RawIo)),
        (SYS_ioperm, Watch::Class(C::RawIo)),
        (SYS_open_by_handle_at, Watch::Class(C::FileHandles)),
        (SYS_name_to_handle_at, Watch::Class(C::FileHandles)),
        (SYS_ioctl, Watch::Class(C::TtyInjection)),
        (SYS_socket, Watch::Socket),
        (SYS_socketpair, Watch::Socket),
        (SYS_connect, Watch::Connect),
        (SYS_sendto, Watch::Connect),
        (SYS_execve, Watch::Exec),
        (SYS_execveat, Watch::Exec),
        (SYS_open, wr(CWD0, true)),
        (SYS_creat, wr(CWD0, true)),
        (SYS_openat, wr(AT01, true)),
        (SYS_openat2, wr(AT01, true)),
        (SYS_mkdir, wr(CWD0, false)),
        (SYS_mkdirat, wr(AT01, false)),
        (SYS_rmdir, wr(CWD0, false)),
        (SYS_unlink, wr(CWD0, false)),
        (SYS_unlinkat, wr(AT01, false)),
        (SYS_rename, wr(CWD01, false)),
        (SYS_renameat, wr(AT01_23, false)),
        (SYS_renameat2, wr(AT01_23, false)),
        (SYS_symlink, wr(CWD1, false)),
        (SYS_symlinkat, wr(AT12, false)),
        (SYS_chmod, wr(CWD0, true)),
        (SYS_fchmodat, wr(AT01, true)),
        (SYS_chown, wr(CWD0, true)),
        (SYS_lchown, wr(CWD0, false)),
        (SYS_fchownat, wr(AT01, true)),
        (SYS_truncate, wr(CWD0, true)),
        (SYS_setxattr, wr(CWD0, true)),
        (SYS_lsetxattr, wr(CWD0, false)),
        (SYS_removexattr, wr(CWD0, true)),
        (SYS_fchmod, Watch::WriteFd(0)),
        (SYS_fchown, Watch::WriteFd(0)),
        (SYS_fsetxattr, Watch::WriteFd(0)),
        (SYS_fremovexattr, Watch::WriteFd(0)),
        (SYS_FCHMODAT2, wr(AT01, true)),
        (SYS_utimensat, wr(AT01, true)),
        (SYS_futimesat, wr(AT01, true)),
        (SYS_utime, wr(CWD0, true)),
        (SYS_utimes, wr(CWD0, true)),
        (SYS_lremovexattr, wr(CWD0, false)),
    ];
    t.push((SYS_link, Watch::Write(PathArgs { targets: CWD1, link_source: Some((None, 0)), follows: false })));
    t.push((SYS_linkat, Watch::Write(PathArgs { targets: AT23, link_source: Some((Some(0), 1)), follows: false })));
    // mknod of devices is a class; of FIFOs and regular files a write.
    t.push((SYS_mknod, Watch::Class(C::DeviceNodes)));
    t.push((SYS_mknodat, Watch::Class(C::DeviceNodes)));
    t
}

/// The syscall's [`Watch`], for the supervisor. Calls whose meaning depends on
/// arguments (mknod) are refined with [`refine`].
pub fn watch_of(nr: i64) -> Option<Watch> {
    syscall_table().into_iter().find(|(n, _)| *n == nr).map(|(_, w)| w)
}

/// Refine a notification whose meaning depends on its arguments.
pub fn refine(nr: i64, args: &[u64; 6], watch: Watch) -> Watch {
    if nr == libc::SYS_ioctl && matches!(args[1] as u32 as u64, FS_IOC_SETFLAGS | FS_IOC_FSSETXATTR) {
        // chattr-style inode flags (immutable, append-only, nodump, …) of the
        // descriptor's file: a change like fchmod.
        return Watch::WriteFd(0);
    }
    if nr == libc::SYS_utimensat && args[1] == 0 {
        // utimensat(fd, NULL, ...) changes the times of the descriptor's file.
        return Watch::WriteFd(0);
    }
    let mode = match nr {
        libc::SYS_mknod => args[1],
        libc::SYS_mknodat => args[2],
        _ => return watch,
    } as u32;
    let fmt = mode & libc::S_IFMT;
    if fmt == libc::S_IFCHR || fmt == libc::S_IFBLK {
        watch
    } else if nr == libc::SYS_mknod {
        wr(CWD0, false)
    } else {
        wr(AT01, false)
    }
}

/// The syscall's name, for reports.
pub fn syscall_name(nr: i64) -> String {
    SYSCALL_NAMES.iter().find(|(n, _)| *n == nr).map(|(_, s)| s.to_string()).unwrap_or_else(|| format!("syscall#{nr}"))
}

const SYSCALL_NAMES: &[(i64, &str)] = &[
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_kcmp, "kcmp"),
    (libc::SYS_pidfd_getfd, "pidfd_getfd"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_fsopen, "fsopen"),
    (libc::SYS_fsconfig, "fsconfig"),
    (libc::SYS_fsmount, "fsmount"),
    (libc::SYS_fspick, "fspick"),
    (libc::SYS_move_mount, "move_mount"),
    (libc::SYS_open_tree, "open_tree"),
    (libc::SYS_mount_setattr, "mount_setattr"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_clone, "clone"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_io_uring_setup, "io_uring_setup"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_io_uring_register, "io_uring_register"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_kexec_load, "kexec_load"),
    (libc::SYS_kexec_file_load, "kexec_file_load"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_swapon, "swapon"),
    (libc::SYS_swapoff, "swapoff"),
    (libc::SYS_acct, "acct"),
    (libc::SYS_quotactl, "quotactl"),
    (libc::SYS_syslog, "syslog"),
    (libc::SYS_vhangup, "vhangup"),
    (libc::SYS_settimeofday, "settimeofday"),
    (libc::SYS_clock_settime, "clock_settime"),
    (libc::SYS_clock_adjtime, "clock_adjtime"),
    (libc::SYS_adjtimex, "adjtimex"),
    (libc::SYS_iopl, "iopl"),
    (libc::SYS_ioperm, "ioperm"),
    (libc::SYS_open_by_handle_at, "open_by_handle_at"),
    (libc::SYS_name_to_handle_at, "name_to_handle_at"),
    (libc::SYS_ioctl, "ioctl"),
    (libc::SYS_socket, "socket"),
    (libc::SYS_socketpair, "socketpair"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_execve, "execve"),
    (libc::SYS_execveat, "execveat"),
    (libc::SYS_open, "open"),
    (libc::SYS_creat, "creat"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_openat2, "openat2"),
    (libc::SYS_mkdir, "mkdir"),
    (libc::SYS_mkdirat, "mkdirat"),
    (libc::SYS_rmdir, "rmdir"),
    (libc::SYS_unlink, "unlink"),
    (libc::SYS_unlinkat, "unlinkat"),
    (libc::SYS_rename, "rename"),
    (libc::SYS_renameat, "renameat"),
    (libc::SYS_renameat2, "renameat2"),
    (libc::SYS_symlink, "symlink"),
    (libc::SYS_symlinkat, "symlinkat"),
    (libc::SYS_link, "link"),
    (libc::SYS_linkat, "linkat"),
    (libc::SYS_chmod, "chmod"),
    (libc::SYS_fchmodat, "fchmodat"),
    (libc::SYS_chown, "chown"),
    (libc::SYS_lchown, "lchown"),
    (libc::SYS_fchownat, "fchownat"),
    (libc::SYS_truncate, "truncate"),
    (libc::SYS_setxattr, "setxattr"),
    (libc::SYS_lsetxattr, "lsetxattr"),
    (libc::SYS_removexattr, "removexattr"),
    (libc::SYS_lremovexattr, "lremovexattr"),
    (libc::SYS_mknod, "mknod"),
    (libc::SYS_mknodat, "mknodat"),
    (libc::SYS_fchmod, "fchmod"),
    (libc::SYS_fchown, "fchown"),
    (libc::SYS_fsetxattr, "fsetxattr"),
    (libc::SYS_fremovexattr, "fremovexattr"),
    (SYS_FCHMODAT2, "fchmodat2"),
    (libc::SYS_utimensat, "utimensat"),
    (libc::SYS_futimesat, "futimesat"),
    (libc::SYS_utime, "utime"),
    (libc::SYS_utimes, "utimes"),
    (libc::SYS_clone3, "clone3"),
];

/// Namespace flags of clone(2) that the `namespaces` class forbids.
const CLONE_NS_FLAGS: [u64; 8] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

fn c(arg: u8, len: Len, op: Op, value: u64) -> Result<Cond, seccompiler::BackendError> {
    Cond::new(arg, len, op, value)
}

fn rule(conds: Vec<Cond>) -> Result<SeccompRule, seccompiler::BackendError> {
    SeccompRule::new(conds)
}

/// The argument conditions under which each watched syscall is notified
/// (empty rule list: always).
pub fn watch_rules(
    denied: &[SyscallClass],
    network: NetworkMode,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let o_write = [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND];
    for (nr, watch) in syscall_table() {
        let r: Vec<SeccompRule> = match watch {
            // ioctl: terminal injection (a class) and inode-flag changes (a write,
            // judged by the descriptor's file like fchmod) are watched separately.
            Watch::Class(SyscallClass::TtyInjection) => {
                let mut r = vec![
                    rule(vec![c(1, Len::Dword, Op::Eq, FS_IOC_SETFLAGS)?])?,
                    rule(vec![c(1, Len::Dword, Op::Eq, FS_IOC_FSSETXATTR)?])?,
                ];
                if denied.contains(&SyscallClass::TtyInjection) {
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TIOCSTI)?])?);
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TIOCLINUX)?])?);
                }
                r
            }
            Watch::Class(class) if !denied.contains(&class) => continue,
            Watch::Class(SyscallClass::Namespaces) if nr == libc::SYS_clone => CLONE_NS_FLAGS
                .iter()
                .map(|f| rule(vec![c(0, Len::Qword, Op::MaskedEq(*f), *f)?]))
                .collect::<Result<_, _>>()?,
            // Every mknod is notified; the supervisor tells devices (a violation)
            // from FIFOs and files (a write to inspect), see `refine`.
            Watch::Class(_) => vec![],
            Watch::Socket => socket_rules(network)?,
            Watch::Connect if network == NetworkMode::Host => continue,
            // sendto only with an explicit destination (arg 4): the connected case
            // was judged at connect().
            Watch::Connect if nr == libc::SYS_sendto => vec![rule(vec![c(4, Len::Qword, Op::Ne, 0)?])?],
            Watch::Connect | Watch::Exec | Watch::WriteFd(_) => vec![],
            Watch::Write(_) => {
                let flags_arg = match nr {
                    libc::SYS_open => Some(1),
                    libc::SYS_openat => Some(2),
                    _ => None,
                };
                match flags_arg {
                    Some(a) => o_write
                        .iter()
                        .map(|f| rule(vec![c(a, Len::Dword, Op::MaskedEq(*f as u64), *f as u64)?]))
                        .collect::<Result<_, _>>()?,
                    None => vec![],
                }
            }
        };
        rules.insert(nr, r);
    }
    Ok(rules)
}

/// Socket calls the supervisor is notified of (and denies), by network mode.
///
/// `AF_NETLINK` with protocol `NETLINK_ROUTE` (0) is allowed in every mode and
/// of any type (`SOCK_RAW` as npm and glibc's `if_nameindex` open it, or
/// `SOCK_DGRAM`): it reads the interfaces and routes of the task's network
/// namespace, and a change needs `CAP_NET_ADMIN`, which the task never holds.
/// Every other netlink protocol stays denied outside `host` mode.
fn socket_rules(network: NetworkMode) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let unix = libc::AF_UNIX as u64;
    let netlink = libc::AF_NETLINK as u64;
    let raw = libc::SOCK_RAW as u64;
    let packet = libc::AF_PACKET as u64;
    let raw_not_local = || -> Result<SeccompRule, seccompiler::BackendError> {
        rule(vec![
            c(0, Len::Dword, Op::Ne, unix)?,
            c(0, Len::Dword, Op::Ne, netlink)?,
            c(1, Len::Dword, Op::MaskedEq(0xf), raw)?,
        ])
    };
    let netlink_not_route = || -> Result<SeccompRule, seccompiler::BackendError> {
        rule(vec![c(0, Len::Dword, Op::Eq, netlink)?, c(2, Len::Dword, Op::Ne, 0)?])
    };
    Ok(match network {
        NetworkMode::None => {
            vec![rule(vec![c(0, Len::Dword, Op::Ne, unix)?, c(0, Len::Dword, Op::Ne, netlink)?])?, netlink_not_route()?]
        }
        NetworkMode::Loopback => vec![
            rule(vec![
                c(0, Len::Dword, Op::Ne, unix)?,
                c(0, Len::Dword, Op::Ne, libc::AF_INET as u64)?,
                c(0, Len::Dword, Op::Ne, libc::AF_INET6 as u64)?,
                c(0, Len::Dword, Op::Ne, netlink)?,
            ])?,
            netlink_not_route()?,
            raw_not_local()?,
        ],
        NetworkMode::Host => vec![rule(vec![c(0, Len::Dword, Op::Eq, packet)?])?, raw_not_local()?],
    })
}

/// Replace every `SECCOMP_RET_TRACE` return of `prog` with `SECCOMP_RET_USER_NOTIF`.
pub fn rewrite_trace_to_notify(prog: &mut BpfProgram) -> usize {
    const BPF_RET_K: u16 = 0x06;
    let mut n = 0;
    for ins in prog.iter_mut() {
        if ins.code == BPF_RET_K && ins.k & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_TRACE {
            ins.k = libc::SECCOMP_RET_USER_NOTIF;
            n += 1;
        }
    }
    n
}

/// The three filters, in installation order. The last one is the watch filter
/// (installed with a listener).
///
/// With `observe` false (only for `orchestra bench`'s baseline), the watch filter
/// denies the same classes and sockets with EPERM and inspects nothing: the same
/// enforcement, nothing reported.
pub fn build(denied: &[SyscallClass], network: NetworkMode, observe: bool) -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::x86_64;
    let err = |e: seccompiler::BackendError| format!("seccomp filter: {e}");
    let mut out = Vec::new();
    if denied.contains(&SyscallClass::Namespaces) {
        let mut r = BTreeMap::new();
        r.insert(libc::SYS_clone3, vec![]);
        let f = SeccompFilter::new(r, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)
            .map_err(err)?;
        out.push(BpfProgram::try_from(f).map_err(err)?);
    }
    out.push(x32_guard());
    let mut rules = watch_rules(denied, network).map_err(err)?;
    if !observe {
        rules.retain(|nr, _| matches!(watch_of(*nr), Some(Watch::Class(_)) | Some(Watch::Socket)));
        let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
            .map_err(err)?;
        out.push(BpfProgram::try_from(f).map_err(err)?);
        return Ok(out);
    }
    let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trace(0), arch).map_err(err)?;
    let mut prog = BpfProgram::try_from(f).map_err(err)?;
    if rewrite_trace_to_notify(&mut prog) == 0 {
        return Err("seccomp filter: watch filter has no notification return".into());
    }
    out.push(prog);
    Ok(out)
}

/// A hand-written filter: kill on any syscall number with the x32 bit set.
fn x32_guard() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
    vec![
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        ins(JGE_K, 0, 1, 0x4000_0000),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_syscalls_and_names() {
        for class in SyscallClass::ALL {
            assert!(syscall_table().iter().any(|(_, w)| *w == Watch::Class(class)), "{class:?}");
        }
        for (nr, _) in syscall_table() {
            assert!(!syscall_name(nr).starts_with("syscall#"), "{nr} unnamed");
        }
    }

    #[test]
    fn io_uring_and_ptrace_are_watched_when_denied() {
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::None).unwrap();
        assert!(rules.contains_key(&libc::SYS_io_uring_setup));
        assert!(rules.contains_key(&libc::SYS_ptrace));
        let allowed = watch_rules(&[], NetworkMode::None).unwrap();
        assert!(!allowed.contains_key(&libc::SYS_ptrace));
        assert!(allowed.contains_key(&libc::SYS_socket), "network rules do not depend on classes");
    }

    #[test]
    fn filters_compile_and_notify() {
        let progs = build(&SyscallClass::ALL, NetworkMode::None, true).unwrap();
        assert_eq!(progs.len(), 3);
        let watch = progs.last().unwrap();
        assert!(watch.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
        assert!(!watch.iter().any(|i| i.code == 0x06 && i.k & 0xffff0000 == libc::SECCOMP_RET_TRACE));
    }

    #[test]
    fn host_network_does_not_watch_connect() {
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::Host).unwrap();
        assert!(!rules.contains_key(&libc::SYS_connect));
        assert!(rules.contains_key(&libc::SYS_socket));
    }
}
