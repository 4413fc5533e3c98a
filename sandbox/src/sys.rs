//! The syscall layer: the only module of the crate that contains `unsafe`.
//!
//! Each function wraps one kernel interface the jail needs and that neither
//! `std` nor `nix` exposes safely (clone3 into namespaces, seccomp listeners
//! and user notifications, capability sets, close_range). Every `unsafe`
//! block states why it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Arguments of `clone3(2)` (version 2 layout, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What the child of [`spawn_in_namespaces`] becomes.
pub enum ChildRun<'a> {
    /// Exec a program: absolute path, argv (argv\[0\] included), complete environment.
    Exec(CString, Vec<CString>, Vec<CString>),
    /// Run this function and `_exit` with its result. The caller being
    /// single-threaded, the child may run ordinary code: no lock can be held by
    /// a thread that did not follow it across the clone. What it borrows is the
    /// child's own copy, made by the clone.
    Call(&'a dyn Fn() -> i32),
}

/// Everything the child of [`spawn_in_namespaces`] needs, prepared before the
/// clone so that the child allocates nothing before it runs.
pub struct ChildExec<'a> {
    /// What the child runs.
    pub run: ChildRun<'a>,
    /// `(from, to)` pairs applied with dup2 before it runs.
    pub dup2: Vec<(RawFd, RawFd)>,
    /// A descriptor to read one byte from first (the parent writes it once the
    /// child's uid/gid maps are in place), or -1.
    pub wait_fd: RawFd,
    /// The write end of `wait_fd`'s pipe, or -1. The child closes its own copy
    /// first, so that the read sees end-of-file, and the child exits, when the
    /// parent dies before writing.
    pub wait_peer: RawFd,
    /// cgroup v1 `tasks` files, opened by the caller for writing: the child
    /// writes `0` (itself) to each, then closes it, before anything else it
    /// does (see [`cgroup_join_error`]). A thread moving itself takes no
    /// global lock in the kernel, where a `cgroup.procs` write of another
    /// process waits for an RCU grace period (5–25 ms).
    pub join_cgroups: Vec<RawFd>,
}

/// The first failure of the child's own cgroup join ([`ChildExec::join_cgroups`]),
/// as an errno; 0 when there was none. Set only in the child, by the child.
static CGROUP_JOIN_ERRNO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// In the child of [`spawn_in_namespaces`]: why it is not in every cgroup of
/// [`ChildExec::join_cgroups`], if it is not.
pub fn cgroup_join_error() -> Option<io::Error> {
    match CGROUP_JOIN_ERRNO.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        e => Some(io::Error::from_raw_os_error(e)),
    }
}

/// At most this many `dup2` pairs in a [`ChildExec`].
pub const MAX_DUP2: usize = 8;

/// The parent's handle on a child started by [`spawn_in_namespaces`].
pub struct Spawned {
    /// The child's pid in the caller's pid namespace.
    pub pid: libc::pid_t,
    /// A pidfd for the child (pollable; readable when it exits).
    pub pidfd: OwnedFd,
}

/// Start a child in new namespaces (`flags` are `CLONE_NEW*` bits) that waits on
/// `exec.wait_fd`, applies `exec.dup2` and runs `exec.run`. The child dies with
/// SIGKILL if the caller dies first, at any point: `PR_SET_PDEATHSIG` covers a
/// death after the child armed it, and a pidfd of the caller, polled right
/// after, covers a death before (`getppid()` cannot tell: in a new pid
/// namespace it reads 0 whoever the parent is). The child also closes its copy
/// of `exec.wait_peer`, so that its wait ends at end-of-file then too.
///
/// The caller must be single-threaded (the jail's host side never starts threads
/// before this point), or its other threads must never hold a lock: the one
/// exception is a remote task's lease watch
/// (`orchestra_orchestrator::orchestrator::lease`), which only makes system
/// calls (poll, read, timerfd_settime, kill).
pub fn spawn_in_namespaces(flags: u64, exec: &ChildExec<'_>) -> io::Result<Spawned> {
    if exec.dup2.len() > MAX_DUP2 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors to move"));
    }
    let pointers = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
    };
    let (argv, envp) = match &exec.run {
        ChildRun::Exec(_, argv, envp) => (pointers(argv), pointers(envp)),
        ChildRun::Call(_) => (Vec::new(), Vec::new()),
    };
    // A pidfd of this process (close-on-exec), which the child inherits: it
    // becomes readable once we have exited.
    let parent = pidfd_open(std::process::id() as libc::pid_t)?;
    let parent_fd = parent.as_raw_fd();
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 with no stack behaves like fork: the child gets a copy of
    // this (single-threaded) address space. `args` and `pidfd` outlive the call.
    let mut ret =
        unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    let mut have_pidfd = true;
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Container engines' default seccomp profiles answer clone3 with ENOSYS;
        // plain clone (fork semantics, no stack) does the same job.
        // SAFETY: as above; no pointers are passed.
        ret = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0) };
        have_pidfd = false;
    }
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // Child. Only async-signal-safe calls from here to execve.
        // SAFETY: plain syscalls on integers and on pointers prepared above.
        unsafe {
            // Armed first: from here on, the parent's death kills us.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                libc::_exit(125);
            }
            // A parent that died before that is seen here: its pidfd is readable.
            let mut gone = libc::pollfd { fd: parent_fd, events: libc::POLLIN, revents: 0 };
            if libc::poll(&mut gone, 1, 0) != 0 {
                libc::_exit(125);
            }
            libc::close(parent_fd);
            if exec.wait_peer >= 0 {
                libc::close(exec.wait_peer);
            }
            // Into the task's cgroups first: the task, forked later, inherits
            // them. The descriptors (opened by the caller, as root) go at once.
            for &fd in &exec.join_cgroups {
                if libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1) != 1 {
                    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                    let _ = CGROUP_JOIN_ERRNO.compare_exchange(
                        0,
                        if errno == 0 { libc::EIO } else { errno },
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                    );
                }
                libc::close(fd);
            }
            if exec.wait_fd >= 0 {
                let mut b = 0u8;
                if libc::read(exec.wait_fd, &mut b as *mut u8 as *mut libc::c_void, 1) != 1 {
                    libc::_exit(125);
                }
            }
            // Move every source above the targets first, so that a source that
            // already sits on some target (the caller ran with stdio closed) is
            // neither clobbered nor left with its close-on-exec flag.
            let mut moved = [-1 as libc::c_int; MAX_DUP2];
            for (i, &(from, _)) in exec.dup2.iter().enumerate().take(MAX_DUP2) {
                moved[i] = libc::fcntl(from, libc::F_DUPFD, 64);
                if moved[i] < 0 {
                    libc::_exit(125);
                }
            }
            for (i, &(_, to)) in exec.dup2.iter().enumerate().take(MAX_DUP2) {
                if libc::dup2(moved[i], to) < 0 {
                    libc::_exit(125);
                }
                libc::close(moved[i]);
            }
            match &exec.run {
                ChildRun::Call(f) => libc::_exit(f()),
                ChildRun::Exec(path, _, _) => {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                    libc::_exit(126);
                }
            }
        }
    }
    let pidfd = if have_pidfd {
        // SAFETY: the kernel stored a fresh pidfd owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    } else {
        // The child cannot have been reaped yet: only we wait for it.
        pidfd_open(ret as libc::pid_t)?
    };
    Ok(Spawned { pid: ret as libc::pid_t, pidfd })
}

/// Fork the calling process. Returns `None` in the child.
///
/// The caller must be single-threaded (the jail's init is), so the child
/// inherits no lock held by another thread.
pub fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: single-threaded caller, see above.
    let pid = cvt_int(unsafe { libc::fork() })?;
    Ok(if pid == 0 { None } else { Some(pid) })
}

/// An execve(2) built in full beforehand: the strings and the NULL-terminated
/// pointer arrays the kernel reads. [`PreparedExec::exec`] allocates nothing,
/// so a memory limit set just before it (RLIMIT_AS) binds only the new
/// program, whatever the calling process has mapped.
pub struct PreparedExec {
    path: CString,
    // The pointers below point into these strings' heap buffers, which do not
    // move when the struct does; the strings live as long as the pointers.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl PreparedExec {
    /// Exec `path` with exactly `argv` (argv\[0\] included) and `envp`.
    pub fn new(path: CString, argv: Vec<CString>, envp: Vec<CString>) -> Self {
        let ptrs = |v: &[CString]| v.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
        let argv_ptrs = ptrs(&argv);
        let envp_ptrs = ptrs(&envp);
        PreparedExec { path, _argv: argv, _envp: envp, argv_ptrs, envp_ptrs }
    }

    /// Replace this process. Returns only on failure, with the errno; nothing
    /// is allocated either way.
    pub fn exec(&self) -> libc::c_int {
        // SAFETY: the path and every pointer in both NULL-terminated arrays
        // point into CStrings owned by `self`, alive for the call.
        unsafe { libc::execve(self.path.as_ptr(), self.argv_ptrs.as_ptr(), self.envp_ptrs.as_ptr()) };
        io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
    }
}

/// Write `parts` to stderr (write(2) only, nothing allocated; best effort):
/// for a process that may have no memory left to format with.
pub fn write_stderr_raw(parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: writing from a live slice of `rest.len()` bytes.
            let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr() as *const libc::c_void, rest.len()) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                return;
            }
            rest = rest.get(n as usize..).unwrap_or_default();
        }
    }
}

/// The system's text for `errno` (strerror_r(3), XSI), written into `buf`:
/// nothing allocated.
pub fn errno_text(errno: libc::c_int, buf: &mut [u8; 128]) -> &[u8] {
    // SAFETY: the buffer is writable for its full length; the XSI variant
    // writes a NUL-terminated string into it (truncated if need be).
    let ret = unsafe { libc::strerror_r(errno, buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if ret != 0 {
        return b"unknown error";
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.get(..len).unwrap_or_default()
}

/// Send `sig` to the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: pidfd is a valid descriptor; null siginfo is allowed.
    cvt(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) })
        .map(|_| ())
}

/// Open a pidfd for `pid`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned descriptor is new and owned here.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A pidfd for the thread `tid` itself (`PIDFD_THREAD`, Linux 6.9), so that
/// [`pidfd_getfd`] reads that thread's descriptor table (a thread may have
/// unshared its own); where the flag is unknown (EINVAL), a pidfd of `tid`
/// as a process, which the kernel grants only to a thread-group leader.
pub fn pidfd_open_thread(tid: libc::pid_t) -> io::Result<OwnedFd> {
    const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
    // SAFETY: plain syscall; the returned descriptor is new and owned here.
    match cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) }) {
        // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => pidfd_open(tid),
        Err(e) => Err(e),
    }
}

/// A duplicate of descriptor `fd` of the process (or thread) behind `pidfd`
/// (pidfd_getfd(2): the very open file it holds now, close-on-exec here).
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall on a valid pidfd; flags must be 0; the returned
    // descriptor is new and owned here.
    let got = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: `got` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(got as RawFd) })
}

/// A terminal request without a pointer argument (TIOCEXCL, TCXONC) on the
/// terminal open on `fd`; the call's result.
pub fn tty_request(fd: &OwnedFd, request: u64, arg: u64) -> io::Result<i64> {
    // SAFETY: the requests this is used for take an integer argument or
    // none; no memory is passed, `fd` is open for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, arg as libc::c_ulong) };
    cvt_int(r).map(i64::from)
}

/// Close every descriptor `>= first` (close_range(2)).
pub fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: closing descriptors this process owns; callers hold no OwnedFd
    // above `first` that they will use again.
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) }).map(|_| ())
}

/// Mark every descriptor `>= first` close-on-exec (close_range(2) with
/// `CLOSE_RANGE_CLOEXEC`): they stay usable until a successful exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: only sets a flag on descriptors this process owns.
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) }).map(|_| ())
}

/// Close every descriptor `>= first` except `keep`.
pub fn close_from_except(first: u32, keep: RawFd) -> io::Result<()> {
    let keep = keep as u32;
    if keep < first {
        return close_from(first);
    }
    if keep > first {
        // SAFETY: as in close_from.
        cvt(unsafe { libc::syscall(libc::SYS_close_range, first, keep - 1, 0) })?;
    }
    close_from(keep + 1)
}

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt_int(unsafe { libc::prctl(op, a, b, 0, 0) }).map(|_| ())
}

/// Set `no_new_privs`: exec can never grant privileges (setuid bits, file caps).
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
}

/// Be killed with `sig` when the parent dies.
pub fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0)
}

/// Be killed (SIGKILL) when the thread that spawned us ends, which must be
/// `parent`'s: a run's sandboxes never outlive the orchestrator that drives
/// them, even when it is killed with SIGKILL. Fails if `parent` is already
/// gone (we were re-parented before we could arm the signal).
pub fn die_with_parent(parent: u32) -> io::Result<()> {
    set_parent_death_signal(libc::SIGKILL)?;
    // SAFETY: getppid(2) has no preconditions and cannot fail.
    let ppid = unsafe { libc::getppid() };
    if ppid as u32 != parent {
        return Err(io::Error::other(format!("parent {parent} is gone")));
    }
    Ok(())
}

/// Make this process non-dumpable: no ptrace, /proc/PID/{mem,environ} unreadable to others.
pub fn set_non_dumpable() -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, 0, 0)
}

/// Make this process dumpable again (exec would do it anyway): lets the
/// supervisor read a forked task's memory before the task execs.
pub fn set_dumpable() -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, 1, 0)
}

/// Become a child subreaper: orphaned descendants are reparented to us.
pub fn set_child_subreaper() -> io::Result<()> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0)
}

/// Drop every capability: bounding set, ambient set, effective/permitted/inheritable,
/// and lock the securebits so that uid 0 never regains them through exec.
pub fn drop_all_capabilities() -> io::Result<()> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(63);
    // An unprivileged process without namespaces has no CAP_SETPCAP: it cannot
    // shrink its bounding set or lock securebits, and it need not: it holds no
    // capability, and no_new_privs (set right after) stops exec from granting any.
    let unprivileged = !has_any_capability() && !has_permitted_capability();
    for cap in 0..=last {
        match prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && unprivileged => break,
            Err(e) => return Err(e),
        }
    }
    // SAFETY: integer-only prctl.
    cvt_int(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) })?;
    let bits = libc::SECBIT_NOROOT
        | libc::SECBIT_NOROOT_LOCKED
        | libc::SECBIT_NO_SETUID_FIXUP
        | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
        | libc::SECBIT_KEEP_CAPS_LOCKED
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    match prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0) {
        Err(e) if !(e.raw_os_error() == Some(libc::EPERM) && unprivileged) => return Err(e),
        _ => {}
    }
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header { version: 0x2008_0522, pid: 0 }; // _LINUX_CAPABILITY_VERSION_3
    let data = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: capset reads a header and two data structs of the v3 layout.
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) })?;
    Ok(())
}

fn capability_set_nonzero(field: &str) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.trim_start_matches(field).trim().trim_start_matches('0').is_empty())
        })
        .map(|all_zero| !all_zero)
        .unwrap_or(true)
}

/// Whether the calling process has any effective capability left (for attestation).
pub fn has_any_capability() -> bool {
    capability_set_nonzero("CapEff:")
}

/// Whether the calling process has any permitted capability.
pub fn has_permitted_capability() -> bool {
    capability_set_nonzero("CapPrm:")
}

/// Install a seccomp BPF filter on the calling thread. With `listener`, the
/// kernel returns a user-notification descriptor for `SECCOMP_RET_USER_NOTIF`.
pub fn install_seccomp(prog: &[libc::sock_filter], listener: bool) -> io::Result<Option<OwnedFd>> {
    let fprog = libc::sock_fprog { len: prog.len() as libc::c_ushort, filter: prog.as_ptr() as *mut libc::sock_filter };
    let install = |flags: libc::c_ulong| {
        // SAFETY: fprog points into `prog`, which outlives the call; the kernel copies it.
        cvt(unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
        })
    };
    let ret = if listener {
        // WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has taken a
        // notification, only a fatal signal interrupts the task's wait, so a
        // task whose signal handlers lack SA_RESTART (dash's SIGCHLD) does not
        // see a spurious EINTR from a call the supervisor was judging. Older
        // kernels refuse the flag: the filter is the same without it.
        let listen = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as libc::c_ulong;
        match install(listen | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => install(listen)?,
            other => other?,
        }
    } else {
        install(0)?
    };
    if listener {
        // SAFETY: with NEW_LISTENER the return value is a fresh descriptor we own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
    } else {
        Ok(None)
    }
}

/// One pending seccomp user notification.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// Cookie to answer with.
    pub id: u64,
    /// Pid (in the listener's pid namespace) of the calling thread.
    pub pid: u32,
    /// Syscall number.
    pub nr: i32,
    /// Audit architecture.
    pub arch: u32,
    /// Raw syscall arguments.
    pub args: [u64; 6],
}

/// Receive the next notification (blocks unless the fd was polled readable).
pub fn notif_recv(fd: &OwnedFd) -> io::Result<Notification> {
    // SAFETY: seccomp_notif is plain old data; the kernel requires it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into `n`.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) })?;
    Ok(Notification { id: n.id, pid: n.pid, nr: n.data.nr, arch: n.data.arch, args: n.data.args })
}

/// How to answer a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifAnswer {
    /// Let the syscall proceed (the kernel's other checks, landlock included, still apply).
    Continue,
    /// Fail the syscall with this errno.
    Deny(i32),
    /// The supervisor did the call itself: return this value to the task.
    Return(i64),
}

/// Answer a notification. ENOENT means the caller is gone (killed or interrupted).
pub fn notif_send(fd: &OwnedFd, id: u64, answer: NotifAnswer) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp { id, val: 0, error: 0, flags: 0 };
    match answer {
        NotifAnswer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        NotifAnswer::Deny(errno) => resp.error = -errno,
        NotifAnswer::Return(val) => resp.val = val,
    }
    // SAFETY: the ioctl reads one seccomp_notif_resp.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) }).map(|_| ())
}

/// Whether notification `id` is still pending (its caller alive and waiting).
pub fn notif_id_valid(fd: &OwnedFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the ioctl reads one u64.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

/// Ask for synchronous wake-ups on a notification descriptor
/// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6).
pub fn notif_set_sync_wakeup(fd: &OwnedFd) -> io::Result<()> {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: the ioctl takes the flags by value.
    cvt_int(unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
    })
    .map(|_| ())
}

/// Send a descriptor over a unix socket (SCM_RIGHTS).
pub fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [io::IoSlice::new(b"F")];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).map(|_| ()).map_err(io::Error::from)
}

/// Receive one message of [`send_fd`] (or a plain byte): `Some` with the
/// descriptor it carried, `None` for a message without one. The peer closing
/// the socket first is an `UnexpectedEof` error.
pub fn recv_fd(sock: RawFd) -> io::Result<Option<OwnedFd>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).map_err(io::Error::from)?;
    if msg.bytes == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the socket"));
    }
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(&fd) = fds.first()
        {
            // SAFETY: SCM_RIGHTS installed a fresh descriptor in this process.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(None)
}

/// Probe the landlock ABI version (0 when landlock is unavailable or disabled).
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr and size 0 and the VERSION flag the call only returns a number.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r < 0 { 0 } else { r as i32 }
}

/// Whether `seccomp(SECCOMP_GET_ACTION_AVAIL)` reports user notification support.
pub fn seccomp_user_notif_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: the call reads one u32.
    unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL, 0, &action as *const u32) == 0 }
}

/// Block SIGPIPE-style surprises: set SIGPIPE to ignored for this process.
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Restore the default disposition of every signal and an empty signal mask,
/// so the task starts with the state a fresh process would have.
pub fn reset_signals() {
    // SAFETY: resetting dispositions and the mask is sound in any single-threaded process.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// `_exit` without running destructors or atexit handlers (for forked children).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always sound.
    unsafe { libc::_exit(code) }
}

/// Mount attributes for [`mount_setattr`].
pub mod mount_attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// Ignore setuid/setgid bits and file capabilities.
    pub const NOSUID: u64 = 0x2;
    /// No device access.
    pub const NODEV: u64 = 0x4;
    /// No execution.
    pub const NOEXEC: u64 = 0x8;
}

/// `AT_RECURSIVE` (mount_setattr, open_tree).
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Set attributes on the mount at `path`, and with `recursive` on every mount below it.
pub fn mount_setattr(path: &std::path::Path, set: u64, recursive: bool) -> io::Result<()> {
    let c = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let flags = if recursive { AT_RECURSIVE } else { 0 } | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
    mount_setattr_at(libc::AT_FDCWD, &c, flags, set)
}

/// Set attributes on the mount `tree` (attached or, from [`open_tree_clone`],
/// detached) and on every mount below it.
pub fn mount_setattr_fd(tree: &OwnedFd, set: u64) -> io::Result<()> {
    mount_setattr_at(tree.as_raw_fd(), c"", AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint, set)
}

fn mount_setattr_at(dirfd: RawFd, path: &std::ffi::CStr, flags: libc::c_uint, set: u64) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { attr_set: set, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: `path` and `attr` outlive the call; the kernel reads size_of::<MountAttr>() bytes.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(|_| ())
}

/// A detached copy of the mount tree at `at` (an `O_PATH` descriptor of a
/// directory or file), every mount below it included: `open_tree(2)` with
/// `OPEN_TREE_CLONE | AT_RECURSIVE`. Binding by descriptor mounts exactly the
/// object the descriptor was opened on, whatever its path names meanwhile.
pub fn open_tree_clone(at: &OwnedFd) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: a valid descriptor and a static empty string; the result is a
    // new descriptor owned here.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_open_tree, at.as_raw_fd(), c"".as_ptr(), flags) })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attach the detached mount `tree` ([`open_tree_clone`]) on the directory or
/// file `onto` (an `O_PATH` descriptor): `move_mount(2)` by descriptors only.
pub fn move_mount_onto(tree: &OwnedFd, onto: &OwnedFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: valid descriptors and static empty strings.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            onto.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(|_| ())
}

/// Take ownership of an inherited descriptor, if it is open.
pub fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the descriptor is open and nothing else in this process owns it
    // (it was inherited across exec for exactly this purpose).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setting FD_CLOEXEC on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(owned)
}

/// Bring the loopback interface up in the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket used only for the two ioctls below.
    let s = cvt_int(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: we own `s`.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain old data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write one ifreq.
    unsafe {
        cvt_int(libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        cvt_int(libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req))?;
    }
    Ok(())
}

/// Read `buf.len()` bytes at `addr` of process `pid` (process_vm_readv).
/// Returns how many bytes were read (short at an unmapped page).
pub fn read_process_memory(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: `local` describes `buf`, which we own mutably for the call; the
    // kernel validates the remote range and only writes into `local`.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// Read the next directory entries of `dir` into `buf` (getdents64): `buf`
/// holds what the kernel wrote, up to its capacity (not zeroed first), empty
/// at the end. Unlike libc's `readdir`, which reports a removed directory's
/// ENOENT as the end, the kernel's own answer.
pub fn getdents(dir: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let cap = buf.capacity();
    // SAFETY: getdents64 writes at most `cap` bytes at `buf`'s pointer, which
    // has that much capacity and lives across the call; the descriptor is
    // borrowed, open.
    let got = cvt(unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), cap) })?;
    let got = usize::try_from(got).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    if got > cap {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: the kernel initialized the first `got` bytes (at most the
    // capacity, checked above); nothing past them is read.
    unsafe { buf.set_len(got) };
    Ok(())
}

/// Register an owned descriptor with the current tokio runtime, for
/// readability (a pidfd: its process has exited; a pipe: data). Must be called
/// within a runtime.
#[cfg(feature = "container")]
pub fn async_fd(fd: impl Into<OwnedFd>) -> io::Result<tokio::io::unix::AsyncFd<std::fs::File>> {
    let file = std::fs::File::from(fd.into());
    // SAFETY: the File owns its descriptor, which stays open and the same for as
    // long as the AsyncFd owns the File, and only the File closes it.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(file, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Make the open file `fd` this process's standard stream `target` (0, 1 or 2).
pub fn dup_onto_std(fd: &impl AsRawFd, target: RawFd) -> io::Result<()> {
    if !(0..=2).contains(&target) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: dup2 between descriptors of this process; `target` is a standard
    // stream, never an OwnedFd held elsewhere, and is replaced atomically.
    cvt_int(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(|_| ())
}

/// CLOCK_MONOTONIC now (the same clock in every process of this boot).
pub fn monotonic() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which lives on this stack frame.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ---- Attribute changes on a pinned inode (namespace-less emulation) --------

/// Open `path` as an `O_PATH` descriptor; a final symlink is followed only if
/// `follow` (otherwise the descriptor names the link itself).
pub fn open_path(path: &std::path::Path, follow: bool) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = libc::O_PATH | libc::O_CLOEXEC | if follow { 0 } else { libc::O_NOFOLLOW };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let fd = cvt_int(unsafe { libc::open(c.as_ptr(), flags) })?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One entry of a directory read by [`dir_entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name (never `.` or `..`).
    pub name: CString,
    /// Its `d_type` (`libc::DT_*`; `DT_UNKNOWN` when the filesystem does not say).
    pub kind: u8,
}

/// The entries of the directory open as `dir` (read from its current offset
/// on, as far as `getdents64` can read it): one system call per 32 KiB of
/// entries, none for `fstat`, `fcntl` or rewinding as `fdopendir` streams make.
/// The buffer is not zeroed first (only the bytes the kernel wrote are read):
/// zeroing 32 KiB per directory was a quarter of the instructions of a jail
/// start's host side (the /etc scan opens ~200 directories; BENCH.md).
pub fn dir_entries(dir: BorrowedFd<'_>) -> Vec<DirEntry> {
    const CAP: usize = 32 * 1024;
    let mut buf: Vec<u8> = Vec::with_capacity(CAP);
    let mut out = Vec::new();
    while getdents(dir, &mut buf).is_ok() && !buf.is_empty() {
        parse_dirents(&buf, &mut out);
    }
    out
}

/// The `linux_dirent64` records in `bytes` (inode u64, offset i64, record
/// length u16, type u8, NUL-terminated name), `.` and `..` left out.
fn parse_dirents(bytes: &[u8], out: &mut Vec<DirEntry>) {
    let mut at = 0;
    while let Some(rec) = bytes.get(at..) {
        let Some(len) = rec.get(16..18).map(|l| u16::from_ne_bytes([l[0], l[1]]) as usize) else { return };
        let (Some(&kind), Some(rest)) = (rec.get(18), rec.get(19..len.max(19))) else { return };
        if len < 19 {
            return;
        }
        let name = rest.split(|b| *b == 0).next().unwrap_or_default();
        if name != b"." && name != b".." && !name.is_empty() {
            // No NUL inside: it was split there.
            if let Ok(name) = CString::new(name) {
                out.push(DirEntry { name, kind });
            }
        }
        at += len;
    }
}

/// `/proc/self/fd/N` for `fd`: a path the kernel resolves to that very inode.
fn fd_link(fd: &OwnedFd) -> CString {
    // Digits only: no interior NUL is possible.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// Run `f` with this thread's effective capabilities cleared (permitted ones
/// kept), then restore them: `f`'s system calls meet the same permission checks
/// as a task that holds no capability. A process without capabilities runs `f`
/// as is.
pub fn without_effective_capabilities<T>(f: impl FnOnce() -> T) -> io::Result<T> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header { version: 0x2008_0522, pid: 0 }; // _LINUX_CAPABILITY_VERSION_3
    let mut saved = [Data::default(); 2];
    // SAFETY: capget writes two data structs of the v3 layout.
    cvt(unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut Header, saved.as_mut_ptr()) })?;
    if saved.iter().all(|d| d.effective == 0) {
        return Ok(f());
    }
    let lowered = saved.map(|d| Data { effective: 0, ..d });
    // SAFETY: capset reads a header and two data structs of the v3 layout.
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, lowered.as_ptr()) })?;
    let out = f();
    // SAFETY: as above; raising back to the saved effective set (within permitted).
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, saved.as_ptr()) })?;
    Ok(out)
}

/// chmod of the inode behind an `O_PATH` descriptor.
pub fn chmod_fd(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    let p = fd_link(fd);
    // SAFETY: `p` is a valid C string.
    cvt_int(unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// chown of the inode behind an `O_PATH` descriptor (a symlink itself if it
/// names one); `u32::MAX` leaves an id unchanged.
pub fn chown_fd(fd: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: the empty C string literal is valid; AT_EMPTY_PATH names the descriptor's file.
    cvt_int(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }).map(|_| ())
}

/// utimensat of the inode behind an `O_PATH` descriptor; `None`: now.
pub fn utimens_fd(fd: &OwnedFd, times: Option<[libc::timespec; 2]>) -> io::Result<()> {
    let ptr = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: `ptr` is null or points to two timespecs that outlive the call.
    cvt_int(unsafe { libc::utimensat(fd.as_raw_fd(), c"".as_ptr(), ptr, libc::AT_EMPTY_PATH) }).map(|_| ())
}

/// setxattr (`Some(value)`) or removexattr (`None`) of the (non-symlink) inode
/// behind an `O_PATH` descriptor.
pub fn xattr_fd(fd: &OwnedFd, name: &std::ffi::CStr, value: Option<(&[u8], i32)>) -> io::Result<()> {
    let p = fd_link(fd);
    match value {
        // SAFETY: valid C strings and a value slice that outlives the call.
        Some((v, flags)) => {
            cvt_int(unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), flags) })
        }
        // SAFETY: valid C strings.
        None => cvt_int(unsafe { libc::removexattr(p.as_ptr(), name.as_ptr()) }),
    }
    .map(|_| ())
}

/// The extended attribute names of the file open on `fd` (flistxattr),
/// NUL-separated, into `buf`; how many bytes (ERANGE: `buf` is too small).
pub fn list_xattrs(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `fd` is open for the call; the kernel writes at most buf.len() bytes into `buf`.
    let n = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// The value of the extended attribute `name` of the file open on `fd`
/// (fgetxattr), into `buf`; how many bytes.
pub fn get_xattr(fd: BorrowedFd<'_>, name: &std::ffi::CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `fd` is open for the call, `name` a valid C string; the kernel
    // writes at most buf.len() bytes into `buf`.
    let n = unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// file_setattr(2) (Linux 6.17) on the inode behind an `O_PATH` descriptor;
/// `attr` is the caller's `struct file_attr`, as many bytes as it passed.
/// Through the descriptor's `/proc/self/fd` link: the call refuses an `O_PATH`
/// descriptor itself (EBADF).
pub fn file_setattr_fd(fd: &OwnedFd, nr: i64, attr: &[u8]) -> io::Result<()> {
    let p = fd_link(fd);
    // SAFETY: `p` is a valid C string; `attr` outlives the call and the kernel
    // reads at most attr.len() bytes.
    cvt(unsafe { libc::syscall(nr, libc::AT_FDCWD, p.as_ptr(), attr.as_ptr(), attr.len(), 0) }).map(|_| ())
}

/// The window size of the terminal on `fd`, if it is one (`TIOCGWINSZ`).
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which
    // points to a live, properly aligned value of that type.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    (r == 0).then_some(ws)
}

/// Make the terminal on `fd` the calling process's controlling terminal
/// (`TIOCSCTTY`; the caller must be a session leader without one).
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal a terminal
    // that is another session's); no memory is passed.
    cvt_int(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0 as libc::c_int) }).map(drop)
}

/// The calling thread's AppArmor attribute `attr` (`exec`, `current`):
/// `/proc/thread-self/attr/apparmor/ATTR`, or, on kernels before 5.8 (no
/// directory per security module), `/proc/thread-self/attr/ATTR`. Per thread:
/// `exec` is kept by the thread that writes it, and only its own next
/// execve enters the profile.
fn apparmor_attr_path(attr: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new("/proc/thread-self/attr/apparmor");
    if dir.is_dir() { dir.join(attr) } else { std::path::Path::new("/proc/thread-self/attr").join(attr) }
}

/// Write `text` to the calling thread's AppArmor attribute `attr` in a single
/// write(2): the kernel parses each write as one command, so anything short
/// of the whole text is an error, never half a command. Returns the file
/// written.
pub fn apparmor_attr_write(attr: &str, text: &str) -> io::Result<std::path::PathBuf> {
    use std::io::Write as _;
    let path = apparmor_attr_path(attr);
    let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
    let n = f.write(text.as_bytes())?;
    if n != text.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("{}: the kernel took {n} of {} bytes", path.display(), text.len()),
        ));
    }
    Ok(path)
}

/// The calling thread's AppArmor attribute `attr`, as the kernel reads it
/// (`unconfined`, `NAME (MODE)`, a stack `A//&B (MODE)`).
pub fn apparmor_attr_read(attr: &str) -> io::Result<String> {
    std::fs::read_to_string(apparmor_attr_path(attr))
}
