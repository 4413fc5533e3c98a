//! The in-jail supervisor: answers the task's seccomp user notifications,
//! watches decoys for opens, reaps processes, counts them against the pids
//! limit, measures the workspace's growth, and reports violations.
//!
//! What it guarantees: every notified call is answered (continue or deny), as
//! [`super::decide`] decides it; "continue" never grants anything: the kernel
//! then applies landlock and the mount tree as usual. Reading the task's memory
//! is racy (another thread may change a path after we read it) — that can only
//! hide a violation from the report, never let the write through, because
//! enforcement is the kernel's.

use super::decide::{Decision, UNREADABLE_RULE, UNRESOLVABLE_RULE, decide};
use super::disk::DiskMeter;
use super::memory::TaskMem;
use super::plan::JailPlan;
use super::protocol::Event;
use crate::rule::Rule;
use crate::sys::{self, NotifAnswer};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// At most this many violations are reported individually.
const MAX_REPORTED: usize = 256;

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
    /// The rules listed so far (one of each is listed past the cap).
    listed: Vec<Rule>,
    /// Violations the final checks listed ([`Self::final_checks`]): each is
    /// listed whatever came before, up to another [`MAX_REPORTED`].
    final_listed: Option<usize>,
    /// What the task wrote, metered for `limits.disk`.
    disk: DiskMeter,
    disk_reported: bool,
    pids_reported: bool,
    last_periodic: std::time::Instant,
    /// The judge of what each send carries, and each socket's stream (a
    /// canary split over sends).
    payloads: super::payload::Payloads,
    /// Each protected git config the task had the supervisor change, as it
    /// was at the first change: what every later change is judged from.
    config_starts: std::collections::HashMap<PathBuf, Vec<u8>>,
    /// A judgement was cut short because an order of the host side waits
    /// (review 88 F1): it is read before anything else.
    order_cut_in: bool,
    /// The set-ID files that were so before the task, as they were: what
    /// the sweep leaves alone when the task only touched them (review 89 FP1).
    setid_before: crate::setid::Baseline,
    /// The final checks end a stop: the host side kills us after its grace.
    stopping: bool,
}

/// How long the whole walk of the writable roots may take at a normal end.
const TREE_SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// ... and at a stop, well inside the host side's [`super::init::STOP_GRACE`]
/// (the host walks again when we do not finish).
const TREE_SWEEP_BUDGET_AT_STOP: std::time::Duration = std::time::Duration::from_millis(500);

impl<'a> Supervisor<'a> {
    /// Set up the supervisor for the forked task `task`, which started (was
    /// forked) at `since`.
    pub fn new(
        plan: &'a JailPlan,
        listener: Option<OwnedFd>,
        decoys: &[PathBuf],
        task: i32,
        since: crate::setid::Since,
    ) -> std::io::Result<Self> {
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
            listed: Vec::new(),
            final_listed: None,
            disk: DiskMeter::default(),
            disk_reported: false,
            pids_reported: false,
            last_periodic: std::time::Instant::now(),
            payloads: super::payload::Payloads::new(&plan.canaries),
            config_starts: std::collections::HashMap::new(),
            order_cut_in: false,
            setid_before: crate::setid::Baseline::new(since),
            stopping: false,
        })
    }

    /// Supervise until the task's main process ends (or a violation kills it).
    /// Returns the `Exited` event to send.
    ///
    /// The host side's [`super::init::STOP`] (a timeout, an interrupt) ends
    /// it too: every process of the task is killed first, then the final
    /// checks run, so a decoy or canary read made before the kill is
    /// reported (review 86 F7). A payload judgement in progress is cut short
    /// by it (review 88 F1). Every end runs the final checks: a normal one,
    /// a stop, and a kill for a violation (review 88 F2).
    pub fn run(&mut self, rep: &mut super::init::Reporter) -> Event {
        loop {
            if let Some(ev) = self.reap() {
                self.drain_notifications(rep);
                self.final_checks(rep);
                return ev;
            }
            if rep.order_buffered() && self.obey(rep) {
                return self.stop(rep);
            }
            let mut fds: Vec<PollFd> = Vec::with_capacity(3);
            let mut slots = [usize::MAX; 3];
            if let Some(l) = &self.listener {
                slots[0] = fds.len();
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            slots[1] = fds.len();
            fds.push(PollFd::new(rep.orders(), PollFlags::POLLIN));
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
            let order_ready = ready(slots[1], &fds);
            let listener_hup =
                slots[0] != usize::MAX && fds[slots[0]].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP));
            drop(fds);
            if order_ready && self.obey(rep) {
                return self.stop(rep);
            }
            let mut kill = false;
            if notif_ready && !listener_hup {
                kill |= self.handle_notification(rep);
            }
            if std::mem::take(&mut self.order_cut_in) && self.obey(rep) {
                return self.stop(rep);
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
                // As at the host's stop: every process killed, then the final
                // checks (a decoy read just before the violation that ends the
                // task, the full disk measure, the set-ID sweep: a file raced
                // set-gid must not outlive a killed task, review 88 F2).
                return self.stop(rep);
            }
        }
    }

    /// Read one order of the host side; true when the task must be stopped
    /// ([`super::init::Order::Stop`], or the host side is gone: nobody would
    /// time the task out any more).
    fn obey(&mut self, rep: &mut super::init::Reporter) -> bool {
        !matches!(rep.read_order(), super::init::Order::Unknown(_))
    }

    /// The host side's stop, and the end of a task killed for a violation:
    /// kill every process of the task (with namespaces everything else in our
    /// pid namespace; without, our children, reaped until none is left: we
    /// are their subreaper), then the final checks. The task's main process
    /// ends by our SIGKILL.
    fn stop(&mut self, rep: &mut super::init::Reporter) -> Event {
        if self.plan.namespaces {
            // We are pid 1 of the jail's pid namespace: -1 is every other process in it.
            let _ = nix::sys::signal::kill(Pid::from_raw(-1), nix::sys::signal::Signal::SIGKILL);
        }
        crate::reap::kill_all_children();
        self.stopping = true;
        self.final_checks(rep);
        Event::Exited { code: None, signal: Some(libc::SIGKILL) }
    }

    /// The checks once the task has ended (or was stopped): the decoys first
    /// (cheap, and what a stop must not lose), then a full measure of the
    /// disk and the sweep of set-ID bits.
    fn final_checks(&mut self, rep: &mut super::init::Reporter) {
        self.final_listed = Some(0);
        self.check_decoys(rep);
        self.disk.force_full_scan();
        self.check_disk(rep);
        self.sweep_setid(rep);
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

    /// Send a violation: the first [`MAX_REPORTED`], and past them the first of
    /// each rule not yet listed (a task that repeats one denied call hundreds of
    /// times must not hide the rule that finally stopped it, such as
    /// `limits.disk`), and what the final checks find (a decoy read, a set-ID
    /// file cleared: effects, not refusals — the race's hundreds of refused
    /// `chmod`s must not hide the file it won, of the same rule), up to
    /// another [`MAX_REPORTED`]; then `report.truncated` once.
    fn report(&mut self, rep: &mut super::init::Reporter, rule: Rule, detail: String) {
        self.reported += 1;
        let first_of_its_rule = !self.listed.contains(&rule);
        if first_of_its_rule {
            self.listed.push(rule);
        }
        let final_check = match &mut self.final_listed {
            Some(n) if *n < MAX_REPORTED => {
                *n += 1;
                true
            }
            _ => false,
        };
        if self.reported <= MAX_REPORTED || first_of_its_rule || final_check {
            rep.send(&Event::Violation { rule, detail });
        }
        if self.reported == MAX_REPORTED + 1 {
            rep.send(&Event::Violation {
                rule: Rule::ReportTruncated,
                detail: format!(
                    "more than {MAX_REPORTED} violations; further ones are listed only when their rule is new"
                ),
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
    /// cannot see) loses those bits, and that is reported: `fs.setuid`. By
    /// the names written; when they were more than the meter keeps, by a
    /// walk of every writable root whole (review 89 F3), whose deadline is
    /// reported when it comes ([`crate::setid::unfinished_detail`]) and said
    /// ([`Event::SetidSweepUnfinished`]: the host side then walks again). A
    /// set-ID file that was so before the task and that it only touched
    /// keeps its bits (review 89 FP1).
    fn sweep_setid(&mut self, rep: &mut super::init::Reporter) {
        let (sweep, unfinished) = if self.disk.overflowed() {
            let budget = if self.stopping { TREE_SWEEP_BUDGET_AT_STOP } else { TREE_SWEEP_BUDGET };
            let rule =
                crate::setid::TreeRule { since: self.setid_before.since(), kept: &self.setid_before, owner: None };
            let t = crate::setid::sweep_trees(&self.plan.writable, &rule, std::time::Instant::now() + budget);
            (t.sweep, t.unfinished.map(|at| crate::setid::unfinished_detail(&at, budget)))
        } else {
            (crate::setid::clear_setid_keeping(self.disk.names(), &self.setid_before), None)
        };
        for (p, mode) in sweep.cleared {
            self.report(rep, Rule::FsSetuid, crate::setid::cleared_detail(&p, mode));
        }
        for (p, why) in sweep.failed {
            if crate::setid::leads_to_setid(&p) {
                self.report(rep, Rule::FsSetuid, crate::setid::left_detail(&p, &why));
            }
        }
        if let Some(detail) = unfinished {
            self.report(rep, Rule::FsSetuid, detail);
            rep.send(&Event::SetidSweepUnfinished);
        }
    }

    /// Report decoy files whose access time moved (they were read): `fs.hidden`,
    /// or `canary.read` for a canary file.
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
            let canary = self.plan.decoys.iter().any(|d| d.path == *path && d.canary.is_some());
            let (rule, detail) = if canary {
                (
                    Rule::CanaryRead,
                    format!("read {} (a canary: a fake credential planted for this task)", path.display()),
                )
            } else {
                (Rule::FsHidden, format!("read {} (a hidden path; the task saw an empty decoy)", path.display()))
            };
            self.report(rep, rule, detail);
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
        // A send to an allowed destination: what it carries, joined to what
        // its socket sent before, must hold no canary.
        let nr = n.nr as i64;
        if decision == Decision::Continue
            && !self.plan.canaries.is_empty()
            && matches!(nr, libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg)
        {
            // Cut short when the host's stop waits: no send may keep us from
            // the final checks past the stop's grace (review 88 F1).
            let mut cut_in = false;
            decision = self.payloads.judge_until(
                &n,
                &mem,
                || super::payload::socket_inode(n.pid, n.args[0]),
                || {
                    cut_in = rep.order_waiting();
                    cut_in
                },
            );
            self.order_cut_in = cut_in;
            if let Decision::Deny { rule, .. } = &decision
                && *rule == UNREADABLE_RULE
                && !mem.still_valid()
            {
                return false;
            }
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
                self.setid_before.note(&p);
                self.disk.note(p);
            }
        }

        // A rename git makes onto a protected config that is done here, not
        // by the kernel: the same bytes (the lock file's name goes, the
        // protected file stays as it is), or a change that only names
        // branches' upstreams and remotes (made here with the bytes judged).
        // Answered as done; refused when that fails.
        let done_here = match &decision {
            Decision::SameBytes { source, detail } => Some((
                super::rewrite::drop_source(source)
                    .map_err(|e| format!("the same bytes, but the source could not be removed: {e}")),
                detail.clone(),
            )),
            Decision::GitConfig { source, target, detail } => Some((
                super::rewrite::change_config(source, target, &mut self.config_starts)
                    .map_err(|e| format!("a change of a git config a task may not make: {e}")),
                detail.clone(),
            )),
            _ => None,
        };
        if let Some((result, detail)) = done_here {
            match result {
                Ok(()) => {
                    let _ = sys::notif_send(listener, n.id, NotifAnswer::Return(0));
                    return false;
                }
                Err(why) => {
                    decision = Decision::Deny {
                        errno: libc::EACCES,
                        rule: Rule::FsProtected,
                        detail: format!("{detail} ({why})"),
                    };
                }
            }
        }
        if let Decision::OwnTerminal { fd, request, arg, detail } = &decision {
            match own_terminal_request(listener, &n, *fd, *request, *arg) {
                TerminalRequest::Done(r) => {
                    let answer = r.map_or_else(NotifAnswer::Deny, NotifAnswer::Return);
                    let _ = sys::notif_send(listener, n.id, answer);
                    return false;
                }
                TerminalRequest::Gone => return false,
                TerminalRequest::Other => {
                    decision = Decision::Deny {
                        errno: libc::EPERM,
                        rule: Rule::Syscall(crate::policy::SyscallClass::TtyInjection),
                        detail: detail.clone(),
                    };
                }
            }
        }
        let answer = match (&decision, performed) {
            (Decision::Continue, None) => NotifAnswer::Continue,
            (Decision::Continue, Some(Ok(v))) => NotifAnswer::Return(v),
            (Decision::Continue, Some(Err(errno))) => NotifAnswer::Deny(errno),
            (Decision::Deny { errno, .. } | Decision::Fail { errno }, _) => NotifAnswer::Deny(*errno),
            (Decision::SameBytes { .. } | Decision::GitConfig { .. } | Decision::OwnTerminal { .. }, _) => {
                NotifAnswer::Deny(libc::EACCES)
            }
        };
        let _ = sys::notif_send(listener, n.id, answer);
        if let Decision::Deny { rule, detail, .. } = decision {
            self.report(rep, rule, detail);
            // With kill_on_violation the task is stopped (`stop`), final checks included.
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

/// What came of a terminal request on a task's descriptor
/// ([`Decision::OwnTerminal`]).
enum TerminalRequest {
    /// Performed on a terminal of the jail's own devpts instance: its
    /// result, or the errno the kernel gave (EBADF for no such descriptor,
    /// ENOTTY for a file that is no terminal).
    Done(Result<i64, i32>),
    /// The descriptor holds another file (the caller's terminal, say, put
    /// there after the judgement), or could not be taken: denied.
    Other,
    /// The task died meanwhile: nothing to answer or report.
    Gone,
}

/// The task's descriptor `fd` taken as it is now, from the notifying thread
/// (`pidfd_getfd`), and `request` performed on that very file when it is a
/// terminal of the jail's own devpts instance: no number is looked up again
/// after the judgement (attack review 90, H1).
fn own_terminal_request(listener: &OwnedFd, n: &sys::Notification, fd: i32, request: u64, arg: u64) -> TerminalRequest {
    let Ok(pidfd) = sys::pidfd_open_thread(n.pid as libc::pid_t) else {
        return if sys::notif_id_valid(listener, n.id) { TerminalRequest::Other } else { TerminalRequest::Gone };
    };
    // The thread id was the notifying thread's when the pidfd was made.
    if !sys::notif_id_valid(listener, n.id) {
        return TerminalRequest::Gone;
    }
    let file = match sys::pidfd_getfd(&pidfd, fd) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => return TerminalRequest::Done(Err(libc::EBADF)),
        Err(_) => return TerminalRequest::Other,
    };
    // No terminal at all (`/dev/null`, a pipe): the kernel's own answer,
    // nothing to report (attack review 91).
    if !nix::unistd::isatty(&file).unwrap_or(false) {
        return TerminalRequest::Done(Err(libc::ENOTTY));
    }
    if !super::decide::is_own_terminal(&file) {
        return TerminalRequest::Other;
    }
    TerminalRequest::Done(sys::tty_request(&file, request, arg).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_pid_and_thread_count_are_read_after_the_command_name() {
        let stat = "42 (a) b) c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 13 0 1 2";
        assert_eq!(stat_fields(stat), Some((7, 13)));
        assert_eq!(stat_fields("garbage"), None);
        assert!(descendants_of(1) > 0, "pid 1 has descendants (this test among them)");
    }
}
