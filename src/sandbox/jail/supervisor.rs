//! The in-jail supervisor: answers the task's seccomp user notifications,
//! watches decoys for opens, reaps processes, and reports violations.
//!
//! What it guarantees: every notified call is answered (continue or deny);
//! a call is *denied and reported* when it belongs to a denied class, uses a
//! forbidden socket family, connects to an abstract unix socket (or off
//! loopback), execs a setuid/setgid file, or writes outside the writable roots.
//! "Continue" never grants anything: the kernel then applies landlock and the
//! mount tree as usual. Reading the task's memory is racy (another thread may
//! change a path after we read it) — that can only hide a violation from the
//! report, never let the write through, because enforcement is the kernel's.

use super::plan::{JailPlan, Mount};
use super::protocol::Event;
use super::seccomp::{self, PathArgs, Watch};
use crate::policy::NetworkMode;
use crate::sandbox::sys::{self, NotifAnswer, Notification};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// At most this many violations are reported individually.
const MAX_REPORTED: usize = 256;

/// A decision on one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the kernel handle it.
    Continue,
    /// Deny with errno and report `rule`.
    Deny {
        /// errno returned to the task.
        errno: i32,
        /// Rule name.
        rule: String,
        /// What was attempted.
        detail: String,
    },
}

/// The supervisor state.
pub struct Supervisor<'a> {
    plan: &'a JailPlan,
    listener: Option<OwnedFd>,
    /// Decoy files not yet seen read.
    decoys: Vec<PathBuf>,
    task: i32,
    task_pidfd: Option<OwnedFd>,
    reported: usize,
    /// Files the task opened for writing (bounded), to observe `limits.disk`.
    written: std::collections::HashSet<PathBuf>,
    disk_reported: bool,
    pids_reported: bool,
    last_periodic: std::time::Instant,
}

impl<'a> Supervisor<'a> {
    /// Set up the supervisor for the forked task `task`.
    pub fn new(plan: &'a JailPlan, listener: Option<OwnedFd>, decoys: &[PathBuf], task: i32) -> std::io::Result<Self> {
        let task_pidfd = sys::pidfd_open(task).ok();
        if let Some(l) = &listener {
            // Wake us on the notifying task's CPU (Linux >= 6.6); older kernels
            // refuse the flag and simply keep the normal wake-up.
            let _ = sys::notif_set_sync_wakeup(l);
        }
        Ok(Supervisor {
            plan,
            listener,
            decoys: decoys.to_vec(),
            task,
            task_pidfd,
            reported: 0,
            written: Default::default(),
            disk_reported: false,
            pids_reported: false,
            last_periodic: std::time::Instant::now(),
        })
    }

    /// Supervise until the task's main process ends (or a violation kills it).
    /// Returns the `Exited` event to send.
    pub fn run(&mut self, rep: &mut super::init::Reporter) -> Event {
        loop {
            if let Some(ev) = self.reap() {
                self.check_decoys(rep);
                self.check_disk(rep);
                return ev;
            }
            let mut fds: Vec<PollFd> = Vec::with_capacity(3);
            let mut slots = [usize::MAX; 3];
            if let Some(l) = &self.listener {
                slots[0] = fds.len();
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            if let Some(p) = &self.task_pidfd {
                slots[2] = fds.len();
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            // Without a pids cgroup, the process count is sampled to observe limits.pids.
            let tick: u16 = if self.sample_pids() { 50 } else { 500 };
            let _ = poll(&mut fds, PollTimeout::from(tick));
            let ready =
                |slot: usize, fds: &[PollFd]| slot != usize::MAX && fds[slot].revents().is_some_and(|r| !r.is_empty());
            let notif_ready = ready(slots[0], &fds);
            let listener_hup =
                slots[0] != usize::MAX && fds[slots[0]].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP));
            drop(fds);
            let mut kill = false;
            if notif_ready && !listener_hup {
                kill |= self.handle_notification(rep);
            }
            if listener_hup {
                self.listener = None;
            }
            // Periodic checks: when idle, and at least every 100 ms under a stream of
            // notifications (not after each one: they would dominate an exec's cost).
            if !notif_ready || self.last_periodic.elapsed() >= std::time::Duration::from_millis(100) {
                self.last_periodic = std::time::Instant::now();
                kill |= self.check_decoys(rep);
                kill |= self.check_disk(rep);
                kill |= self.check_pids(rep);
            }
            if kill {
                return Event::Exited { code: None, signal: Some(libc::SIGKILL) };
            }
        }
    }

    /// Reap every exited child; return the `Exited` event when the task itself ended.
    fn reap(&mut self) -> Option<Event> {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == self.task => {
                    return Some(Event::Exited { code: Some(code), signal: None });
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == self.task => {
                    return Some(Event::Exited { code: None, signal: Some(sig as i32) });
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    fn report(&mut self, rep: &mut super::init::Reporter, rule: String, detail: String) {
        self.reported += 1;
        if self.reported <= MAX_REPORTED {
            rep.send(&Event::Violation { rule, detail });
        } else if self.reported == MAX_REPORTED + 1 {
            rep.send(&Event::Violation {
                rule: "report.truncated".into(),
                detail: format!("more than {MAX_REPORTED} violations; further ones are not listed"),
            });
        }
    }

    fn sample_pids(&self) -> bool {
        self.plan.namespaces && self.plan.rlimits.nproc.is_some() && !self.pids_reported
    }

    /// With RLIMIT_NPROC (no pids cgroup), a task tree that holds as many processes
    /// as its limit has had forks refused: count them in our pid namespace.
    fn check_pids(&mut self, rep: &mut super::init::Reporter) -> bool {
        if !self.sample_pids() {
            return false;
        }
        let Some(limit) = self.plan.rlimits.nproc else { return false };
        let Ok(rd) = std::fs::read_dir("/proc") else { return false };
        let me = std::process::id().to_string();
        let count = rd
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n != me && n.bytes().all(|b| b.is_ascii_digit())))
            .count() as u64;
        if count < limit {
            return false;
        }
        self.pids_reported = true;
        self.report(rep, "limits.pids".into(), format!("the task holds {count} processes, its limit (RLIMIT_NPROC)"));
        true
    }

    /// Compare the bytes held by files the task wrote with `limits.disk`.
    /// Returns true when the task must be killed.
    fn check_disk(&mut self, rep: &mut super::init::Reporter) -> bool {
        let Some(limit) = self.plan.rlimits.fsize else { return false };
        if self.disk_reported || self.written.is_empty() {
            return false;
        }
        let total: u64 = self.written.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        if total < limit {
            return false;
        }
        self.disk_reported = true;
        self.report(
            rep,
            "limits.disk".into(),
            format!("files written by the task hold {total} bytes, the limit is {limit}"),
        );
        true
    }

    /// Report decoy files whose access time moved (they were read).
    /// Returns true when the task must be killed.
    fn check_decoys(&mut self, rep: &mut super::init::Reporter) -> bool {
        use std::os::unix::fs::MetadataExt;
        let untouched = super::rootfs::DECOY_ATIME_SECS as i64;
        let (read, rest): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut self.decoys)
            .into_iter()
            .partition(|p| std::fs::metadata(p).is_ok_and(|m| m.atime() != untouched));
        self.decoys = rest;
        for path in &read {
            self.report(
                rep,
                "fs.hidden".into(),
                format!("read {} (a hidden path; the task saw an empty decoy)", path.display()),
            );
        }
        !read.is_empty() && self.plan.kill_on_violation
    }

    /// Returns true when the task must be killed.
    fn handle_notification(&mut self, rep: &mut super::init::Reporter) -> bool {
        let Some(listener) = self.listener.take() else { return false };
        let kill = self.answer_one(&listener, rep);
        self.listener = Some(listener);
        kill
    }

    fn answer_one(&mut self, listener: &OwnedFd, rep: &mut super::init::Reporter) -> bool {
        let n = match sys::notif_recv(listener) {
            Ok(n) => n,
            Err(_) => return false,
        };
        let mem = TaskMem::new(n.pid, listener, n.id);
        let decision = decide(self.plan, &n, &mem);
        if decision == Decision::Continue
            && self.written.len() < 100_000
            && let Some(p) = opened_for_write(&n, &mem)
        {
            self.written.insert(p);
        }
        let answer = match &decision {
            Decision::Continue => NotifAnswer::Continue,
            Decision::Deny { errno, .. } => NotifAnswer::Deny(*errno),
        };
        let _ = sys::notif_send(listener, n.id, answer);
        if let Decision::Deny { rule, detail, .. } = decision {
            self.report(rep, rule, detail);
            // With kill_on_violation the init returns and the kernel kills the namespace.
            return self.plan.kill_on_violation;
        }
        false
    }
}

/// Access to the notifying task's memory and descriptors.
pub trait Memory {
    /// Read a NUL-terminated string at `addr` (at most 4096 bytes).
    fn cstr(&self, addr: u64) -> Option<Vec<u8>>;
    /// Read `len` bytes at `addr`.
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
    /// The task's pid.
    fn pid(&self) -> u32;
}

/// The notifying task's memory, read with process_vm_readv (one syscall, no
/// descriptor). Reads are only trusted while the notification is still
/// pending: [`TaskMem::still_valid`] guards against a reused pid.
struct TaskMem<'a> {
    pid: u32,
    listener: &'a OwnedFd,
    id: u64,
    /// Fallback where process_vm_readv is filtered (container engines allow it
    /// only with CAP_SYS_PTRACE): /proc/PID/mem, opened on first use.
    mem_file: std::cell::OnceCell<Option<std::fs::File>>,
}

impl<'a> TaskMem<'a> {
    fn new(pid: u32, listener: &'a OwnedFd, id: u64) -> Self {
        TaskMem { pid, listener, id, mem_file: std::cell::OnceCell::new() }
    }

    fn still_valid(&self) -> bool {
        sys::notif_id_valid(self.listener, self.id)
    }

    fn read_at(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match sys::read_process_memory(self.pid, addr, buf) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::ENOSYS)) => {
                use std::os::unix::fs::FileExt;
                let f = self.mem_file.get_or_init(|| std::fs::File::open(format!("/proc/{}/mem", self.pid)).ok());
                match f {
                    Some(f) => f.read_at(buf, addr),
                    None => Err(e),
                }
            }
            other => other,
        }
    }
}

impl Memory for TaskMem<'_> {
    fn cstr(&self, addr: u64) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        let mut off = addr;
        while out.len() < 4096 {
            // Never read across a page boundary in one go: the next page may be unmapped.
            let to_page_end = 4096 - (off as usize % 4096);
            let want = buf.len().min(to_page_end);
            let n = self.read_at(off, &mut buf[..want]).ok()?;
            if n == 0 {
                return None;
            }
            if let Some(i) = buf[..n].iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..i]);
                return self.still_valid().then_some(out);
            }
            out.extend_from_slice(&buf[..n]);
            off += n as u64;
        }
        None
    }
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = self.read_at(addr, &mut buf).ok()?;
        (n == len && self.still_valid()).then_some(buf)
    }
    fn pid(&self) -> u32 {
        self.pid
    }
}

/// A value at a known address: the forked task has the same one at the same place.
static MEMORY_PROBE: [u8; 8] = *b"orch-mem";

/// Whether we can read the memory of `task`, a fork of this process that has not
/// exec'd yet (it waits for us to answer its execve notification).
pub fn can_read_memory_of(task: i32) -> bool {
    let addr = std::hint::black_box(&MEMORY_PROBE).as_ptr() as u64;
    let mut buf = [0u8; 8];
    let read = match sys::read_process_memory(task as u32, addr, &mut buf) {
        Ok(n) => n,
        Err(_) => {
            use std::os::unix::fs::FileExt;
            match std::fs::File::open(format!("/proc/{task}/mem")) {
                Ok(f) => f.read_at(&mut buf, addr).unwrap_or(0),
                Err(_) => 0,
            }
        }
    };
    read == buf.len() && buf == MEMORY_PROBE
}

/// Decide on one notification (the policy logic, apart from the I/O loop).
pub fn decide(plan: &JailPlan, n: &Notification, mem: &dyn Memory) -> Decision {
    let nr = n.nr as i64;
    let name = seccomp::syscall_name(nr);
    let Some(watch) = seccomp::watch_of(nr) else { return Decision::Continue };
    let watch = seccomp::refine(nr, &n.args, watch);
    match watch {
        Watch::Class(class) => {
            if !plan.denied.contains(&class) {
                return Decision::Continue;
            }
            Decision::Deny {
                errno: libc::EPERM,
                rule: format!("syscall.{}", class.as_str()),
                detail: format!("{name}() is denied by the policy"),
            }
        }
        Watch::Socket => Decision::Deny {
            errno: libc::EACCES,
            rule: format!("network.{}", network_name(plan.network)),
            detail: format!("{name}({}, {})", family_name(n.args[0]), type_name(n.args[1])),
        },
        Watch::Connect => decide_connect(plan, n, mem),
        Watch::Exec => decide_exec(n, mem, nr),
        Watch::Write(args) => decide_write(plan, n, mem, &name, args),
        Watch::WriteFd(arg) => {
            let fd = n.args[arg] as i32;
            match std::fs::read_link(format!("/proc/{}/fd/{fd}", mem.pid())) {
                Ok(p) if p.is_absolute() && !write_allowed(plan, &p, mem.pid()) => Decision::Deny {
                    errno: libc::EACCES,
                    rule: "fs.write".into(),
                    detail: format!("{name}: change of {} outside the writable roots", p.display()),
                },
                _ => Decision::Continue,
            }
        }
    }
}

fn network_name(m: NetworkMode) -> &'static str {
    match m {
        NetworkMode::None => "none",
        NetworkMode::Loopback => "loopback",
        NetworkMode::Host => "host",
    }
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
    let len = (n.args[2] as usize).min(128);
    let Some(addr) = (len >= 2).then(|| mem.bytes(n.args[1], len)).flatten() else {
        return Decision::Continue;
    };
    let family = u16::from_ne_bytes([addr[0], addr[1]]) as i32;
    match family {
        libc::AF_UNIX if addr.len() > 2 && addr[2] == 0 => {
            let name = String::from_utf8_lossy(&addr[3..]).trim_end_matches('\0').to_string();
            Decision::Deny {
                errno: libc::EACCES,
                rule: "network.abstract_unix".into(),
                detail: format!("connect(@{name}): abstract unix sockets reach outside the jail's files"),
            }
        }
        libc::AF_INET if addr.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(addr[4], addr[5], addr[6], addr[7]);
            let port = u16::from_be_bytes([addr[2], addr[3]]);
            if ip.is_loopback() && plan.network == NetworkMode::Loopback {
                Decision::Continue
            } else {
                Decision::Deny {
                    errno: libc::ENETUNREACH,
                    rule: format!("network.{}", network_name(plan.network)),
                    detail: format!("connect({ip}:{port})"),
                }
            }
        }
        libc::AF_INET6 if addr.len() >= 24 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&addr[8..24]);
            let ip = std::net::Ipv6Addr::from(o);
            let port = u16::from_be_bytes([addr[2], addr[3]]);
            let loop_ = ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v| v.is_loopback());
            if loop_ && plan.network == NetworkMode::Loopback {
                Decision::Continue
            } else {
                Decision::Deny {
                    errno: libc::ENETUNREACH,
                    rule: format!("network.{}", network_name(plan.network)),
                    detail: format!("connect([{ip}]:{port})"),
                }
            }
        }
        _ => Decision::Continue,
    }
}

fn decide_exec(n: &Notification, mem: &dyn Memory, nr: i64) -> Decision {
    use std::os::unix::ffi::OsStrExt;
    let (dirfd, path_arg) = if nr == libc::SYS_execveat { (Some(n.args[0] as i32), 1) } else { (None, 0) };
    let Some(raw) = mem.cstr(n.args[path_arg]) else { return Decision::Continue };
    let shown = Path::new(std::ffi::OsStr::from_bytes(&raw));
    // One stat, resolved by the kernel exactly as the exec will be: absolute paths
    // in our shared root, relative ones through the task's cwd or dirfd magic link.
    let lookup = if shown.is_absolute() {
        shown.to_path_buf()
    } else {
        match dirfd {
            None | Some(libc::AT_FDCWD) => PathBuf::from(format!("/proc/{}/cwd", mem.pid())).join(shown),
            Some(fd) => PathBuf::from(format!("/proc/{}/fd/{fd}", mem.pid())).join(shown),
        }
    };
    match std::fs::metadata(&lookup) {
        Ok(m) if m.mode() & (libc::S_ISUID | libc::S_ISGID) != 0 => Decision::Deny {
            errno: libc::EPERM,
            rule: "exec.setuid".into(),
            detail: format!("exec of set-user/group-ID file {}", shown.display()),
        },
        _ => Decision::Continue,
    }
}

fn decide_write(plan: &JailPlan, n: &Notification, mem: &dyn Memory, name: &str, args: PathArgs) -> Decision {
    let nr = n.nr as i64;
    if nr == libc::SYS_openat2 {
        // struct open_how { u64 flags; u64 mode; u64 resolve; } at args[2].
        let flags = mem
            .bytes(n.args[2], 8)
            .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .unwrap_or(u64::MAX);
        let w = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u64;
        if flags & w == 0 {
            return Decision::Continue;
        }
    }
    let pid = mem.pid();
    let path_of = |(dirfd, arg): (Option<usize>, usize), follow: bool| -> Option<PathBuf> {
        let raw = mem.cstr(n.args[arg])?;
        resolve(pid, dirfd.map(|d| n.args[d]), &raw, follow)
    };
    if let Some(src) = args.link_source
        && let Some(p) = path_of(src, false)
        && !write_allowed(plan, &p, pid)
    {
        return Decision::Deny {
            errno: libc::EACCES,
            rule: "fs.hardlink".into(),
            detail: format!("{name}: hard link to {} outside the writable roots", p.display()),
        };
    }
    for t in args.targets {
        let Some(p) = path_of(*t, args.follows) else { continue };
        if !write_allowed(plan, &p, pid) {
            return Decision::Deny {
                errno: libc::EACCES,
                rule: "fs.write".into(),
                detail: format!("{name}: write to {} outside the writable roots", p.display()),
            };
        }
    }
    Decision::Continue
}

/// The file an open-for-write notification is about (open, creat, openat).
fn opened_for_write(n: &Notification, mem: &dyn Memory) -> Option<PathBuf> {
    let (dirfd, arg) = match n.nr as i64 {
        libc::SYS_open | libc::SYS_creat => (None, 0),
        libc::SYS_openat | libc::SYS_openat2 => (Some(n.args[0]), 1),
        _ => return None,
    };
    let raw = mem.cstr(n.args[arg])?;
    resolve(mem.pid(), dirfd, &raw, true)
}

/// Whether `path` (absolute, resolved) may be written.
///
/// In the namespaced jail the most specific mount covering the path decides
/// (a read-only `.orchestra/` inside the read-write workspace, a read-write
/// workspace inside a read-only home, decoys); without namespaces only the
/// writable roots exist.
pub fn write_allowed(plan: &JailPlan, path: &Path, pid: u32) -> bool {
    if plan.writable_files.iter().any(|f| path == f) {
        return true;
    }
    // Re-opening an already open descriptor: the kernel checks the file itself.
    let own_fds = PathBuf::from(format!("/proc/{pid}/fd"));
    if path.starts_with(&own_fds) || path.starts_with("/dev/fd") || path.starts_with("/proc/self/fd") {
        return true;
    }
    if !plan.namespaces {
        return plan.writable.iter().any(|w| path.starts_with(w));
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
            Mount::Tmpfs { dst, .. } => consider(dst, true),
            Mount::Dir { dst } | Mount::Symlink { dst, .. } => consider(dst, false),
        }
    }
    consider(Path::new("/dev/shm"), plan.writable.iter().any(|w| w == Path::new("/dev/shm")));
    for d in &plan.decoys {
        consider(&d.path, false);
    }
    best.is_some_and(|(_, rw)| rw)
}

/// Turn a path argument into an absolute, normalised path as the task sees it,
/// following symlinks in the directories (and in the final component if `follow`).
pub fn resolve(pid: u32, dirfd: Option<u64>, raw: &[u8], follow: bool) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(raw));
    let base = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        match dirfd.map(|d| d as i32) {
            None | Some(libc::AT_FDCWD) => std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?,
            Some(fd) => std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?,
        }
    };
    let joined = normalise(&base.join(p), pid);
    if joined.starts_with(format!("/proc/{pid}/fd")) || joined.starts_with("/dev/fd") {
        return Some(joined);
    }
    Some(canonical(&joined, follow, pid, 0))
}

/// Lexical normalisation (`.`/`..`), with `/proc/self` as the task's own.
fn normalise(p: &Path, pid: u32) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
        }
    }
    for alias in ["/proc/self", "/proc/thread-self"] {
        if let Ok(rest) = out.strip_prefix(alias) {
            return PathBuf::from(format!("/proc/{pid}")).join(rest);
        }
    }
    out
}

fn canonical(p: &Path, follow: bool, pid: u32, depth: usize) -> PathBuf {
    let (parent, name) = match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => return p.to_path_buf(),
    };
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    let full = parent.join(name);
    if follow
        && depth < 40
        && let Ok(target) = std::fs::read_link(&full)
    {
        let next = if target.is_absolute() { target } else { parent.join(target) };
        return canonical(&normalise(&next, pid), follow, pid, depth + 1);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;
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
            task: "t".into(),
            argv: vec!["true".into()],
            env: vec![],
            workdir: "/work".into(),
            namespaces: true,
            network: NetworkMode::None,
            mounts: vec![
                Mount::Bind { src: "/work".into(), dst: "/work".into(), rw: true },
                Mount::Bind { src: "/work/.orchestra".into(), dst: "/work/.orchestra".into(), rw: false },
                Mount::Tmpfs { dst: "/tmp".into(), size: None },
            ],
            decoys: vec![],
            readable: vec![],
            writable: vec!["/work".into(), "/tmp".into()],
            writable_files: vec!["/dev/null".into()],
            denied: SyscallClass::ALL.to_vec(),
            rlimits: Default::default(),
            kill_on_violation: true,
            hostname: "x".into(),
            observe: true,
        }
    }

    fn notif(nr: i64, args: [u64; 6]) -> Notification {
        Notification { id: 1, pid: std::process::id(), nr: nr as i32, arch: 0, args }
    }

    #[test]
    fn denied_class_is_reported_with_its_rule() {
        let d = decide(&plan(), &notif(libc::SYS_ptrace, [0; 6]), &FakeMem(HashMap::new()));
        assert!(matches!(d, Decision::Deny { ref rule, .. } if rule == "syscall.ptrace"), "{d:?}");
    }

    #[test]
    fn inet_socket_is_a_network_violation() {
        let d =
            decide(&plan(), &notif(libc::SYS_socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]), &FakeMem(HashMap::new()));
        assert!(
            matches!(d, Decision::Deny { ref rule, ref detail, .. } if rule == "network.none" && detail.contains("AF_INET"))
        );
    }

    #[test]
    fn writes_are_judged_by_path() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/etc/passwd".to_vec());
        m.insert(0x2000, b"/tmp/x/../ok".to_vec());
        let mem = FakeMem(m);
        let bad = decide(&plan(), &notif(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x1000, 1, 0, 0, 0]), &mem);
        assert!(matches!(bad, Decision::Deny { ref rule, .. } if rule == "fs.write"), "{bad:?}");
        let ok = decide(&plan(), &notif(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x2000, 1, 0, 0, 0]), &mem);
        assert_eq!(ok, Decision::Continue);
    }

    #[test]
    fn the_most_specific_mount_decides() {
        let mut p = plan();
        assert!(write_allowed(&p, Path::new("/work/src/main.rs"), 1));
        assert!(!write_allowed(&p, Path::new("/work/.orchestra/audit/x"), 1));
        assert!(!write_allowed(&p, Path::new("/etc/passwd"), 1));
        // a read-write workspace inside a read-only home
        p.mounts.push(Mount::Bind { src: "/home/u".into(), dst: "/home/u".into(), rw: false });
        p.mounts.push(Mount::Bind { src: "/home/u/ws".into(), dst: "/home/u/ws".into(), rw: true });
        assert!(write_allowed(&p, Path::new("/home/u/ws/out"), 1));
        assert!(!write_allowed(&p, Path::new("/home/u/.bashrc"), 1));
    }

    #[test]
    fn hard_link_source_outside_is_denied() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/etc/shadow".to_vec());
        m.insert(0x2000, b"/work/x".to_vec());
        let d = decide(&plan(), &notif(libc::SYS_link, [0x1000, 0x2000, 0, 0, 0, 0]), &FakeMem(m));
        assert!(matches!(d, Decision::Deny { ref rule, .. } if rule == "fs.hardlink"), "{d:?}");
    }

    #[test]
    fn abstract_unix_connect_is_denied() {
        let mut addr = vec![libc::AF_UNIX as u8, 0, 0];
        addr.extend_from_slice(b"secret-listener");
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let d = decide(&plan(), &notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]), &FakeMem(m));
        assert!(
            matches!(d, Decision::Deny { ref rule, ref detail, .. } if rule == "network.abstract_unix" && detail.contains("@secret-listener"))
        );
    }

    #[test]
    fn fifo_mknod_is_a_write_not_a_device() {
        let mut m = HashMap::new();
        m.insert(0x1000, b"/work/fifo".to_vec());
        let d =
            decide(&plan(), &notif(libc::SYS_mknod, [0x1000, libc::S_IFIFO as u64 | 0o644, 0, 0, 0, 0]), &FakeMem(m));
        assert_eq!(d, Decision::Continue);
        let d = decide(
            &plan(),
            &notif(libc::SYS_mknod, [0x1000, libc::S_IFBLK as u64 | 0o644, 0, 0, 0, 0]),
            &FakeMem(HashMap::new()),
        );
        assert!(matches!(d, Decision::Deny { ref rule, .. } if rule == "syscall.device_nodes"));
    }

    #[test]
    fn proc_self_means_the_task() {
        assert_eq!(normalise(Path::new("/proc/self/fd/1"), 42), PathBuf::from("/proc/42/fd/1"));
        assert_eq!(normalise(Path::new("/a/../../b/./c"), 1), PathBuf::from("/b/c"));
    }
}
