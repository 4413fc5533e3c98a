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
use crate::rule::Rule;
use crate::sys::{self, NotifAnswer, Notification};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Paths of this many bytes or more (NUL included) are refused by the kernel.
pub const PATH_MAX: usize = 4096;

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
        rule: Rule,
        /// What was attempted.
        detail: String,
    },
}

/// The supervisor state.
pub struct Supervisor<'a> {
    plan: &'a JailPlan,
    listener: Option<OwnedFd>,
    /// Decoy files not yet seen read, with the identity (device, inode) of the
    /// decoy itself: a path that no longer leads to it lost its decoy.
    decoys: Vec<(PathBuf, (u64, u64))>,
    task: i32,
    task_pidfd: Option<OwnedFd>,
    reported: usize,
    /// What the task wrote, metered for `limits.disk`.
    disk: DiskMeter,
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
            decoys: decoys
                .iter()
                .filter_map(|p| std::fs::symlink_metadata(p).ok().map(|m| (p.clone(), (m.dev(), m.ino()))))
                .collect(),
            task,
            task_pidfd,
            reported: 0,
            disk: DiskMeter::default(),
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
                self.drain_notifications(rep);
                self.check_decoys(rep);
                self.disk.force_full_scan();
                self.check_disk(rep);
                self.sweep_setid(rep);
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
                // Report what is already visible (e.g. a decoy read just before the
                // violation that ends the task), then stop.
                self.check_decoys(rep);
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

    fn report(&mut self, rep: &mut super::init::Reporter, rule: Rule, detail: String) {
        self.reported += 1;
        if self.reported <= MAX_REPORTED {
            rep.send(&Event::Violation { rule, detail });
        } else if self.reported == MAX_REPORTED + 1 {
            rep.send(&Event::Violation {
                rule: Rule::ReportTruncated,
                detail: format!("more than {MAX_REPORTED} violations; further ones are not listed"),
            });
        }
    }

    fn sample_pids(&self) -> bool {
        self.plan.rlimits.nproc.is_some() && !self.pids_reported
    }

    /// Without a pids cgroup, `limits.pids` rests on RLIMIT_NPROC, which the
    /// kernel does not apply to uid 0 (nor, as a per-user count, to the task
    /// alone): the task's threads (what a pids cgroup counts) are counted
    /// every 50 ms, and a task that
    /// holds as many as its limit is reported and killed. With namespaces they
    /// are the processes of our pid namespace; without, our descendants (we are
    /// their subreaper).
    fn check_pids(&mut self, rep: &mut super::init::Reporter) -> bool {
        if !self.sample_pids() {
            return false;
        }
        let Some(limit) = self.plan.rlimits.nproc else { return false };
        let count = if self.plan.namespaces { processes_in_namespace() } else { descendants_of(std::process::id()) };
        if count < limit {
            return false;
        }
        self.pids_reported = true;
        self.report(
            rep,
            Rule::LimitsPids,
            format!("the task holds {count} processes and threads, its limit is {limit}"),
        );
        true
    }

    /// Compare the bytes held by files the task wrote with `limits.disk`.
    /// Returns true when the task must be killed.
    fn check_disk(&mut self, rep: &mut super::init::Reporter) -> bool {
        let Some(limit) = self.plan.rlimits.fsize else { return false };
        if self.disk_reported {
            return false;
        }
        let Some(total) = self.disk.total_at_least(limit) else { return false };
        self.disk_reported = true;
        self.report(
            rep,
            Rule::LimitsDisk,
            format!("files written by the task hold {total} bytes on disk, the limit is {limit}"),
        );
        true
    }

    /// A file the task left set-user/group-ID anyway (a race the per-call check
    /// cannot see) loses those bits, and that is reported: `fs.setuid`.
    fn sweep_setid(&mut self, rep: &mut super::init::Reporter) {
        let sweep = crate::setid::clear_setid(self.disk.names());
        for (p, mode) in sweep.cleared {
            self.report(
                rep,
                Rule::FsSetuid,
                format!("{} was left with mode {mode:04o}; its set-ID bits were cleared", p.display()),
            );
        }
        // A name the sweep could not open without following a link (the tree
        // changed after the write) is a violation only if it does lead to a set-ID
        // file: a benign build that turned a directory into a symlink is not one.
        for (p, why) in sweep.failed {
            if std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.mode() & (libc::S_ISUID | libc::S_ISGID) != 0) {
                self.report(rep, Rule::FsSetuid, format!("{}: set-ID bits left in place ({why})", p.display()));
            }
        }
    }

    /// Report decoy files whose access time moved (they were read).
    /// Returns true when the task must be killed.
    ///
    /// Each decoy is judged by its own inode. When the host replaces a hidden file
    /// by rename, the decoy mounted over the old one is dropped and the path leads
    /// to the new file: that is no read of a decoy (and the task cannot read the
    /// new file either: landlock grants no rule to its inode, see `plan.rs`). Such
    /// a decoy leaves the watch list without a report.
    fn check_decoys(&mut self, rep: &mut super::init::Reporter) -> bool {
        let untouched = super::rootfs::DECOY_ATIME_SECS as i64;
        let mut read = Vec::new();
        self.decoys.retain(|(p, id)| match std::fs::symlink_metadata(p) {
            Ok(m) if (m.dev(), m.ino()) == *id => {
                if m.atime() != untouched {
                    read.push(p.clone());
                    return false;
                }
                true
            }
            _ => false,
        });
        for path in &read {
            self.report(
                rep,
                Rule::FsHidden,
                format!("read {} (a hidden path; the task saw an empty decoy)", path.display()),
            );
        }
        !read.is_empty() && self.plan.kill_on_violation
    }

    /// Judge every notification already queued (the task has ended; what other
    /// processes of the task asked before that is still part of the verdict).
    /// Bounded: processes that outlive the task cannot keep the verdict waiting.
    fn drain_notifications(&mut self, rep: &mut super::init::Reporter) {
        const MAX_DRAINED: usize = 4096;
        for _ in 0..MAX_DRAINED {
            let pending = self.listener.as_ref().is_some_and(|l| {
                let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
                    && fds[0]
                        .revents()
                        .is_some_and(|r| r.contains(PollFlags::POLLIN) && !r.contains(PollFlags::POLLHUP))
            });
            if !pending {
                return;
            }
            self.handle_notification(rep);
        }
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
        let mut touched = Vec::new();
        let mut decision = decide(self.plan, &n, &mem, &mut touched);
        // A caller that died while we judged it (a SIGPIPE, a fault, its process
        // ending) leaves memory and descriptors we cannot read: that is no
        // evidence of anything, and its call never runs. Only the judgements
        // that rest on what we could not read are dropped; a path judged
        // outside the roots is still the attempt it was.
        if let Decision::Deny { rule, .. } = &decision
            && (*rule == UNREADABLE_RULE || *rule == UNRESOLVABLE_RULE)
            && !mem.still_valid()
        {
            return false;
        }
        // Namespace-less: an allowed path-based attribute change is done here, on
        // the inode judged (nothing read-only would stop a swapped path).
        let mut performed = None;
        if decision == Decision::Continue
            && !self.plan.namespaces
            && super::attrs::performs(n.nr as i64)
            && let Some(target) = touched.first()
        {
            match super::attrs::perform(self.plan, &n, &mem, target) {
                super::attrs::Outcome::Done(r) => performed = Some(r),
                super::attrs::Outcome::Violation(d) => decision = d,
            }
        }
        if decision == Decision::Continue {
            let nr = n.nr as i64;
            if matches!(nr, libc::SYS_rename | libc::SYS_renameat | libc::SYS_renameat2)
                && let [from, to] = touched.as_slice()
            {
                self.disk.renamed(from, to);
            }
            for p in touched {
                self.disk.note(p);
            }
        }

        let answer = match (&decision, performed) {
            (Decision::Continue, None) => NotifAnswer::Continue,
            (Decision::Continue, Some(Ok(v))) => NotifAnswer::Return(v),
            (Decision::Continue, Some(Err(errno))) => NotifAnswer::Deny(errno),
            (Decision::Deny { errno, .. }, _) => NotifAnswer::Deny(*errno),
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

/// Every process of /proc (but ourselves) with its parent and thread count.
fn process_table() -> Vec<(u32, u32, u64)> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    rd.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok().filter(|p| *p != me)?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (ppid, threads) = stat_fields(&stat)?;
            Some((pid, ppid, threads))
        })
        .collect()
}

/// The threads of our pid namespace, less ours (what a pids cgroup counts:
/// every thread is a task).
fn processes_in_namespace() -> u64 {
    process_table().iter().map(|(_, _, t)| t).sum()
}

/// The threads of every process that descends from `root`.
fn descendants_of(root: u32) -> u64 {
    let mut children: std::collections::HashMap<u32, Vec<(u32, u64)>> = std::collections::HashMap::new();
    for (pid, ppid, threads) in process_table() {
        children.entry(ppid).or_default().push((pid, threads));
    }
    let (mut count, mut todo) = (0u64, vec![root]);
    while let Some(p) = todo.pop() {
        for (c, threads) in children.get(&p).into_iter().flatten() {
            count += threads;
            todo.push(*c);
        }
    }
    count
}

/// The parent pid and the thread count in a `/proc/PID/stat` line (fields 4
/// and 20, counted after the command name's last `)`).
fn stat_fields(stat: &str) -> Option<(u32, u64)> {
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((rest.get(1)?.parse().ok()?, rest.get(17)?.parse::<u64>().ok()?.max(1)))
}

/// Meters the disk space held by the files a task wrote (`limits.disk`).
///
/// Every name a write touched is kept (up to [`DiskMeter::MAX_NAMES`]), and each
/// inode counts once for the space it holds *beyond what it held when the task
/// first touched it*, at its *allocated* size (`st_blocks`): a sparse file counts
/// what it holds on disk, and a large file that existed before the task (opened
/// for writing, or touched) counts only what the task added. A directory the task
/// renames carries its names along (its files are found under the new name too). Names new since the last check are measured at each
/// check; all names are measured again only every [`DiskMeter::FULL_SCAN_RATIO`]
/// times as long as the last full scan took (at least once a second), so a task
/// writing tens of thousands of files does not pay a quadratic cost. A total at or
/// over the limit is confirmed by a full scan before it is reported (files deleted
/// since their last measure no longer count), and the task's end always gets one.
#[derive(Default)]
pub struct DiskMeter {
    names: std::collections::HashSet<PathBuf>,
    fresh: Vec<PathBuf>,
    bytes: std::collections::HashMap<(u64, u64), u64>,
    /// Allocated bytes of each inode when the task first touched it (0 for a new file).
    baseline: std::collections::HashMap<(u64, u64), u64>,
    total: u64,
    last_full: Option<std::time::Instant>,
    last_full_cost: std::time::Duration,
    force_full: bool,
}

impl DiskMeter {
    /// At most this many names are kept.
    pub const MAX_NAMES: usize = 100_000;
    /// A full scan runs at most once per this many times its own duration.
    pub const FULL_SCAN_RATIO: u32 = 20;

    /// Record a name a write is about to touch (before the kernel acts on it).
    pub fn note(&mut self, path: PathBuf) {
        if self.names.len() < Self::MAX_NAMES && self.names.insert(path.clone()) {
            if let Ok(m) = std::fs::symlink_metadata(&path)
                && m.is_file()
            {
                self.baseline.entry((m.dev(), m.ino())).or_insert(m.blocks() * 512);
            }
            self.fresh.push(path);
        }
    }

    /// A rename of `from` to `to` is about to happen: when `from` is a directory,
    /// every name kept below it is kept below `to` as well.
    pub fn renamed(&mut self, from: &Path, to: &Path) {
        if !std::fs::symlink_metadata(from).is_ok_and(|m| m.is_dir()) {
            return;
        }
        let moved: Vec<PathBuf> = self
            .names
            .iter()
            .filter_map(|p| p.strip_prefix(from).ok().filter(|r| !r.as_os_str().is_empty()).map(|r| to.join(r)))
            .collect();
        for p in moved {
            self.note(p);
        }
    }

    /// Every name a write touched.
    pub fn names(&self) -> impl Iterator<Item = &Path> {
        self.names.iter().map(PathBuf::as_path)
    }

    /// Make the next check a full scan (the task ended).
    pub fn force_full_scan(&mut self) {
        self.force_full = true;
    }

    /// The metered total when it is at least `limit` (confirmed by a full scan), else `None`.
    pub fn total_at_least(&mut self, limit: u64) -> Option<u64> {
        if self.names.is_empty() {
            return None;
        }
        let interval = (self.last_full_cost * Self::FULL_SCAN_RATIO).max(std::time::Duration::from_secs(1));
        let due = self.force_full || self.last_full.is_none_or(|t| t.elapsed() >= interval);
        if due {
            self.full_scan();
        } else {
            for p in std::mem::take(&mut self.fresh) {
                self.measure(&p);
            }
            if self.total >= limit {
                self.full_scan();
            }
        }
        (self.total >= limit).then_some(self.total)
    }

    fn full_scan(&mut self) {
        let started = std::time::Instant::now();
        self.bytes.clear();
        self.total = 0;
        self.fresh.clear();
        let names: Vec<PathBuf> = self.names.iter().cloned().collect();
        for p in &names {
            self.measure(p);
        }
        self.force_full = false;
        self.last_full = Some(std::time::Instant::now());
        self.last_full_cost = started.elapsed();
    }

    fn measure(&mut self, path: &Path) {
        let Ok(m) = std::fs::symlink_metadata(path) else { return };
        if !m.is_file() {
            return;
        }
        let id = (m.dev(), m.ino());
        let now = (m.blocks() * 512).saturating_sub(self.baseline.get(&id).copied().unwrap_or(0));
        let before = self.bytes.insert(id, now).unwrap_or(0);
        self.total = self.total - before + now;
    }
}

/// Access to the notifying task's memory and descriptors.
pub trait Memory {
    /// Read a NUL-terminated string at `addr`. A string of [`PATH_MAX`] bytes or
    /// more comes back cut at `PATH_MAX`, without its NUL.
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
            // EPERM/ENOSYS: filtered (container profiles); EFAULT: a page the task
            // cannot read itself (write-only mappings), which /proc/PID/mem can.
            Err(e) => {
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
        // No NUL within PATH_MAX: the kernel refuses the path (ENAMETOOLONG).
        out.truncate(PATH_MAX);
        self.still_valid().then_some(out)
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
            Decision::Deny {
                errno: libc::EPERM,
                rule: Rule::Syscall(class),
                detail: format!("{name}() is denied by the policy"),
            }
        }
        Watch::Socket => Decision::Deny {
            errno: libc::EACCES,
            rule: Rule::Network(plan.network),
            detail: format!("{name}({}, {})", family_name(n.args[0]), type_name(n.args[1])),
        },
        Watch::Connect => decide_connect(plan, n, mem),
        Watch::SendMsg => decide_sendmsg(plan, n, mem),
        Watch::Barrier => Decision::Continue,
        Watch::Exec => decide_exec(n, mem, nr),
        Watch::Write(args) => decide_write(plan, n, mem, &name, args, written),
        Watch::WriteFd(arg) => decide_write_fd(plan, n, mem, &name, arg),
    }
}

/// A pointer argument the supervisor cannot read (a write-only mapping,
/// `memfd_secret`, …): the call is denied rather than let through unjudged.
/// The rule for a pointer argument the supervisor cannot read.
const UNREADABLE_RULE: Rule = Rule::SyscallUnreadableArgument;
/// The rule for a path the supervisor cannot resolve.
const UNRESOLVABLE_RULE: Rule = Rule::FsUnresolvablePath;

fn unreadable(name: &str, what: &str) -> Decision {
    Decision::Deny {
        errno: libc::EACCES,
        rule: UNREADABLE_RULE,
        detail: format!("{name}: its {what} lies in memory the supervisor cannot read"),
    }
}

/// A path that cannot be resolved as the kernel would (too long, a symlink loop
/// the kernel would refuse anyway, a vanished descriptor): denied, not guessed.
fn unresolvable(name: &str, why: &str) -> Decision {
    Decision::Deny {
        errno: libc::EACCES,
        rule: UNRESOLVABLE_RULE,
        detail: format!("{name}: the path cannot be resolved ({why})"),
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
        if name == 0 || len == 0 {
            continue;
        }
        let d = decide_address(plan, mem, &call, name, len);
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
    let p = match resolve(mem.pid(), None, raw, true) {
        Target::Path(p) => p,
        Target::Object(_) => return Decision::Continue,
        Target::Unresolvable(why) => return unresolvable(call, &why),
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
        match resolve(pid, dirfd, &raw, true) {
            Target::Path(p) | Target::Object(p) => p,
            Target::Unresolvable(why) => return unresolvable(&name, &why),
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
    // Calls that move or remove what a path names (and so everything below it).
    let moves = matches!(
        nr,
        libc::SYS_rename
            | libc::SYS_renameat
            | libc::SYS_renameat2
            | libc::SYS_rmdir
            | libc::SYS_unlink
            | libc::SYS_unlinkat
    );
    let pid = mem.pid();
    // `itself`: an empty path names the descriptor's own file (AT_EMPTY_PATH of
    // fchownat, fchmodat2, utimensat, setxattrat, file_setattr…), judged like fchown.
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
        Ok(resolve_in(pid, dirfd.map(|d| n.args[d]), &raw, follow, in_root))
    };
    if let Some(src) = args.link_source {
        // linkat follows a final symlink only with AT_SYMLINK_FOLLOW (arg 4).
        let follow = nr == libc::SYS_linkat && n.args[4] & libc::AT_SYMLINK_FOLLOW as u64 != 0;
        match target_of(src, follow, false) {
            Err(d) => return d,
            Ok(Target::Unresolvable(why)) => return unresolvable(name, &why),
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
    for t in args.targets {
        let target = match target_of(*t, args.follows, !open_like) {
            Err(d) => return d,
            Ok(t) => t,
        };
        if let Target::Unresolvable(why) = &target {
            return unresolvable(name, why);
        }
        if let Target::Path(p) = &target {
            if no_op_if_present && std::fs::symlink_metadata(p).is_ok() {
                return Decision::Continue;
            }
            if !write_allowed(plan, p, open_like) {
                return Decision::Deny {
                    errno: libc::EACCES,
                    rule: Rule::FsWrite,
                    detail: format!("{name}: write to {} outside the writable roots", p.display()),
                };
            }
            if moves && let Some(island) = island_below(plan, p) {
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
            written.push(p);
        }
    }
    Decision::Continue
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
        Some(p) if !write_allowed(plan, &p, false) => Decision::Deny {
            errno: libc::EACCES,
            rule: Rule::FsWrite,
            detail: format!("{name}: change of {} outside the writable roots", p.display()),
        },
        _ => Decision::Continue, // a pipe, socket, memfd or removed file
    }
}

/// Where a path argument leads, resolved as the kernel would for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path in the jail's tree.
    Path(PathBuf),
    /// Something without a path (a pipe, socket, memfd or deleted file), reached
    /// through the given magic link; or nothing at all (a NULL pointer).
    Object(PathBuf),
    /// Could not be resolved; the reason.
    Unresolvable(String),
}

/// Whether `path` (absolute, resolved) may be written. `open_like` is true for
/// opens, the only writes allowed on the device nodes of `writable_files`.
///
/// In the namespaced jail the most specific mount covering the path decides
/// (a read-only `.orchestra/` inside the read-write workspace, a read-write
/// workspace inside a read-only home, decoys); without namespaces only the
/// writable roots exist.
pub fn write_allowed(plan: &JailPlan, path: &Path, open_like: bool) -> bool {
    if open_like && plan.writable_files.iter().any(|f| path == f) {
        return true;
    }
    if !plan.namespaces {
        return plan.writable.iter().any(|w| path.starts_with(w))
            && !plan.read_only_islands.iter().any(|r| path.starts_with(r));
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
            Mount::Tmpfs { dst, .. } | Mount::Overlay { dst, .. } => consider(dst, true),
            Mount::Dir { dst } | Mount::Symlink { dst, .. } => consider(dst, false),
        }
    }
    consider(Path::new("/dev/shm"), plan.writable.iter().any(|w| w == Path::new("/dev/shm")));
    for d in &plan.decoys {
        consider(&d.path, false);
    }
    best.is_some_and(|(_, rw)| rw)
}

/// Resolve a path argument of task `pid` the way the kernel will: relative to
/// its cwd or `dirfd`, one component at a time, following symlinks (the final
/// one only with `follow`), `..` after a symlink going up from its target, and
/// `/proc/self` meaning the task. Magic links (`/proc/PID/fd/N`, `cwd`, `root`)
/// are followed to the file they stand for, or end in [`Target::Object`].
pub fn resolve(pid: u32, dirfd: Option<u64>, raw: &[u8], follow: bool) -> Target {
    resolve_in(pid, dirfd, raw, follow, false)
}

/// [`resolve`], optionally with `dirfd` as the root (`openat2` `RESOLVE_IN_ROOT`).
pub fn resolve_in(pid: u32, dirfd: Option<u64>, raw: &[u8], follow: bool, in_root: bool) -> Target {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(raw));
    let base = || -> Result<PathBuf, Target> {
        let link = PathBuf::from(match dirfd.map(|d| d as i32) {
            None | Some(libc::AT_FDCWD) => format!("/proc/{pid}/cwd"),
            Some(fd) => format!("/proc/{pid}/fd/{fd}"),
        });
        match std::fs::read_link(&link) {
            Ok(text) => match link_path(&link, &text) {
                Some(dir) => Ok(dir),
                // A removed directory: `..` from it still reaches its live parent
                // in the kernel, which a text cannot show.
                None if text.is_absolute() => {
                    Err(Target::Unresolvable(format!("{}: the directory was removed", link.display())))
                }
                None => Err(Target::Object(link)),
            },
            Err(e) => Err(Target::Unresolvable(format!("{}: {e}", link.display()))),
        }
    };
    if in_root {
        return match base() {
            Ok(root) => walk(pid, &root, root.clone(), p, follow),
            Err(t) => t,
        };
    }
    let start = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        match base() {
            Ok(d) => d,
            Err(t) => return t,
        }
    };
    walk(pid, Path::new("/"), start, p, follow)
}

/// The path a magic link's text names, when it names one: not a pipe, socket
/// or anonymous inode, not a memfd, and — for a text ending in " (deleted)" —
/// only if a file by that very name is the one behind the link (a directory may
/// be called "x (deleted)"; a removed one has no name left).
fn link_path(link: &Path, text: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if !text.is_absolute() || text.as_os_str().as_bytes().starts_with(b"/memfd:") {
        return None;
    }
    if !text.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Some(text.to_path_buf());
    }
    let same = match (std::fs::metadata(text), std::fs::metadata(link)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    same.then(|| text.to_path_buf())
}

fn walk(pid: u32, root: &Path, start: PathBuf, path: &Path, follow: bool) -> Target {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    /// The kernel's own limit (MAXSYMLINKS): past it the call fails with ELOOP.
    const MAX_LINKS: usize = 40;
    // Names and `..`, in order (the root and `.` carry no step).
    let steps = |p: &Path| -> Vec<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    };
    let mut cur = if path.is_absolute() { root.to_path_buf() } else { start };
    let mut queue: VecDeque<OsString> = steps(path).into();
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            if cur != root {
                cur.pop();
            }
            continue;
        }
        let mut cand = cur.join(&c);
        // /proc/self names the reader: for us, the task.
        if cand == Path::new("/proc/self") || cand == Path::new("/proc/thread-self") {
            cand = PathBuf::from(format!("/proc/{pid}"));
        }
        let last = queue.is_empty();
        if last && !follow {
            return Target::Path(cand);
        }
        let is_link = std::fs::symlink_metadata(&cand).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            cur = cand;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Target::Object(PathBuf::new()); // ELOOP from the kernel
        }
        let target = match std::fs::read_link(&cand) {
            Ok(t) => t,
            Err(e) => return Target::Unresolvable(format!("{}: {e}", cand.display())),
        };
        if cand.starts_with("/proc") && link_path(&cand, &target).is_none() && !is_plain_symlink(&cand) {
            // A magic link to a pipe, socket, anonymous inode, memfd or deleted file.
            return if last || target.is_absolute() {
                Target::Object(cand)
            } else {
                Target::Unresolvable(format!("{} is not a directory", cand.display()))
            };
        }
        if target.is_absolute() {
            cur = root.to_path_buf();
        }
        for step in steps(&target).into_iter().rev() {
            queue.push_front(step);
        }
    }
    Target::Path(cur)
}

/// Whether a /proc symlink is an ordinary one (`/proc/self`, `/proc/mounts`)
/// rather than a magic link (`fd/N`, `cwd`, `root`, `exe`, `ns/*`).
fn is_plain_symlink(p: &Path) -> bool {
    let magic = ["fd", "cwd", "root", "exe", "ns", "map_files"];
    !p.ancestors().any(|a| a.file_name().is_some_and(|n| magic.iter().any(|m| n == *m)))
        && !matches!(p.file_name().and_then(|n| n.to_str()), Some("cwd" | "root" | "exe"))
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
            read_only_islands: vec![],
        }
    }

    fn notif(nr: i64, args: [u64; 6]) -> Notification {
        Notification { id: 1, pid: std::process::id(), nr: nr as i32, arch: seccomp::AUDIT_ARCH_X86_64, args }
    }

    #[test]
    fn a_parent_pid_and_thread_count_are_read_after_the_command_name() {
        let stat = "42 (a) b) c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 13 0 1 2";
        assert_eq!(stat_fields(stat), Some((7, 13)));
        assert_eq!(stat_fields("garbage"), None);
        assert!(descendants_of(1) > 0, "pid 1 has descendants (this test among them)");
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
    fn abstract_unix_connect_is_denied() {
        let mut addr = vec![libc::AF_UNIX as u8, 0, 0];
        addr.extend_from_slice(b"secret-listener");
        let mut m = HashMap::new();
        m.insert(0x3000, addr.clone());
        let d = decide(
            &plan(),
            &notif(libc::SYS_connect, [3, 0x3000, addr.len() as u64, 0, 0, 0]),
            &FakeMem(m),
            &mut Vec::new(),
        );
        assert!(
            matches!(d, Decision::Deny { ref rule, ref detail, .. } if Some(*rule) == Rule::parse("network.abstract_unix") && detail.contains("@secret-listener"))
        );
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
    }

    fn deny_rule(d: &Decision) -> String {
        match d {
            Decision::Deny { rule, .. } => rule.to_string(),
            Decision::Continue => "continue".into(),
        }
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

    #[test]
    fn device_nodes_may_be_opened_but_not_changed() {
        let p = plan();
        assert!(write_allowed(&p, Path::new("/dev/null"), true));
        assert!(!write_allowed(&p, Path::new("/dev/null"), false));
    }

    #[test]
    fn disk_meter_counts_allocated_bytes_once_per_inode() {
        let dir = tempfile::tempdir().unwrap();
        let (sparse, dense, link) = (dir.path().join("sparse"), dir.path().join("dense"), dir.path().join("link"));
        let mut m = DiskMeter::default();
        // Names are noted before the kernel acts, as the supervisor does.
        for p in [&sparse, &dense, &link] {
            m.note(p.clone());
        }
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(900 << 20).unwrap(); // 900 MiB apparent, nothing allocated
        std::fs::write(&dense, vec![7u8; 1 << 20]).unwrap();
        std::fs::hard_link(&dense, &link).unwrap();
        assert_eq!(m.total_at_least(2 << 20), None, "a sparse file counts what it holds, a link once");
        let total = m.total_at_least(1 << 20).expect("1 MiB written");
        assert!((1 << 20..(1 << 20) + (64 << 10)).contains(&total), "{total}");
    }

    #[test]
    fn disk_meter_counts_only_what_the_task_added_to_a_file_that_existed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("prebuilt.bin");
        std::fs::write(&old, vec![1u8; 4 << 20]).unwrap();
        let mut m = DiskMeter::default();
        m.note(old.clone()); // touched, opened for writing
        assert_eq!(m.total_at_least(1 << 20), None, "4 MiB that were there before do not count");
        let mut f = std::fs::OpenOptions::new().append(true).open(&old).unwrap();
        std::io::Write::write_all(&mut f, &vec![2u8; 2 << 20]).unwrap();
        m.force_full_scan();
        assert!(m.total_at_least(2 << 20).is_some(), "the 2 MiB appended count");
    }

    #[test]
    fn disk_meter_follows_a_renamed_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (w, store) = (dir.path().join("w"), dir.path().join("store"));
        std::fs::create_dir(&w).unwrap();
        std::fs::create_dir(&store).unwrap();
        let mut m = DiskMeter::default();
        let f = w.join("f");
        m.note(f.clone());
        std::fs::write(&f, vec![3u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(4 << 20), None);
        m.renamed(&w, &store.join("w"));
        std::fs::rename(&w, store.join("w")).unwrap();
        m.force_full_scan();
        assert!(m.total_at_least(1 << 20).is_some(), "the file moved with its directory still counts");
    }

    #[test]
    fn disk_meter_confirms_an_overrun_with_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = DiskMeter::default();
        let a = dir.path().join("a");
        m.note(a.clone());
        std::fs::write(&a, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(4 << 20), None);
        // A temporary file written and deleted, then the next one: never both at once.
        std::fs::remove_file(&a).unwrap();
        let b = dir.path().join("b");
        m.note(b.clone());
        std::fs::write(&b, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(2 << 20), None, "the deleted file no longer counts");
        m.force_full_scan();
        assert!(m.total_at_least(1 << 20).is_some());
    }
}
