//! The jail backend, host side: compile the plan, check the host can enforce
//! it (fail closed), start the in-jail init in new namespaces, relay output,
//! enforce timeouts and output limits, collect the init's events, and hand
//! what it observed to [`super::outcome::build`] for the report.
//!
//! Where things are denied: the mount tree and decoys in [`rootfs`]; the network
//! by the empty network namespace (here) plus socket-family rules in
//! [`seccomp`] and TCP rules in [`landlock_rules`]; syscalls in [`seccomp`];
//! what is judged in [`decide`] (each notification) and observed by
//! [`supervisor`]; limits in `sandbox::cgroup` and rlimits in [`init`];
//! canary secrets planted by [`plant`], found in sent payloads by
//! [`payload`] and in the task's output here (`sandbox::canary::Scrubber`).

pub mod attrs;
pub mod decide;
pub mod disk;
pub mod gitconfig;
pub mod init;
pub mod landlock_rules;
pub mod memory;
pub mod nowhere;
pub mod offline;
pub mod payload;
pub mod plan;
pub mod plant;
pub mod protect;
pub mod protocol;
pub mod resolve;
pub mod rewrite;
pub mod rootfs;
pub mod seccomp;
pub mod supervisor;

use super::canary::Scrubber;
use super::cgroup::TaskCgroup;
use super::outcome::{self, CpuEvidence, Observed, Oom, Outcome, Signals, TimeoutKind};
use super::relay::LineGuard;
use super::report::{Control, Report, Violation, now_rfc3339};
use super::rule::Rule;
use super::{Sandbox, SandboxError, TaskSpec, sys};
use crate::policy::{NamespaceMode, NetworkMode, Policy, SandboxMode, load::expand_home};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use plan::{HostFacts, JailPlan};
use protocol::Event;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The jail backend.
#[derive(Debug, Default)]
pub struct Jail {
    /// The plan being compiled for a task ([`Sandbox::plan_ahead`]), which
    /// the run of that very task picks up.
    ahead: std::sync::Mutex<Option<Ahead>>,
    /// Where each violation is also appended as it is judged (the
    /// in-container supervisor's [`crate::inner::STREAM`]), if anywhere;
    /// taken by the first run.
    stream: std::sync::Mutex<Option<File>>,
    /// The jail runs as the supervisor inside one of orchestra's containers,
    /// whose /dev/pts is the container's own devpts instance (see
    /// [`plan::JailPlan::ptys`]).
    in_container: bool,
}

impl Jail {
    /// The jail as the in-container supervisor ([`crate::inner`]). It also
    /// appends each violation, as it is judged, to `stream`
    /// ([`crate::inner::ViolationStream`]), so that the host keeps every
    /// violation judged before a kill that came ahead of the report; and the
    /// container engine gave the container a devpts instance of its own,
    /// whose terminals the task (never root there) may open.
    pub fn in_container(stream: File) -> Jail {
        Jail { stream: std::sync::Mutex::new(Some(stream)), in_container: true, ..Jail::default() }
    }
}

/// A plan compiled on a thread of its own from the task alone, while the
/// caller finishes its own set-up. Dropped, it waits for the thread: the
/// init's clone needs this process single-threaded, so no compiling thread
/// outlives the run it was for.
#[derive(Debug)]
struct Ahead {
    /// The task it was compiled for: a run of any other compiles its own.
    task: TaskSpec,
    compiling: Option<std::thread::JoinHandle<Result<Compiled, SandboxError>>>,
}

impl Ahead {
    /// The compiled plan, once the thread is done.
    fn wait(mut self) -> Result<Compiled, SandboxError> {
        let panicked = || SandboxError::Setup("compiling the plan: the thread panicked".into());
        self.compiling.take().ok_or_else(panicked)?.join().unwrap_or_else(|_| Err(panicked()))
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(t) = self.compiling.take() {
            let _ = t.join();
        }
    }
}

/// What is compiled before the init is cloned (the init gets its own copy
/// with the clone): the plan with its canaries planted, the names of what was
/// planted, and the task's seccomp filters.
#[derive(Debug)]
struct Compiled {
    plan: JailPlan,
    planted: Vec<String>,
    filters: Vec<seccompiler::BpfProgram>,
}

/// Whether a plan compiled for `a` is the plan for `b`: everything
/// [`compile`] reads of a task is equal.
fn same_task(a: &TaskSpec, b: &TaskSpec) -> bool {
    a.name == b.name
        && a.argv == b.argv
        && a.workdir == b.workdir
        && a.policy == b.policy
        && a.protected == b.protected
        && a.in_use == b.in_use
        && a.observe == b.observe
        && a.tty == b.tty
        && a.canaries.as_ref().map(|c| &c.tokens) == b.canaries.as_ref().map(|c| &c.tokens)
        && a.canary_home == b.canary_home
}

impl Sandbox for Jail {
    fn name(&self) -> &'static str {
        "jail"
    }

    fn plan_ahead(&self, task: &TaskSpec) {
        let owned = task.clone();
        let compiling = std::thread::Builder::new().name("jail-plan".into()).spawn(move || compile(&owned)).ok();
        let ahead = Ahead { task: task.clone(), compiling };
        if let Ok(mut slot) = self.ahead.lock() {
            // One compiled for an earlier task that never ran is waited for here.
            *slot = Some(ahead);
        }
    }

    fn preflight(&self, policy: &Policy, workdir: &std::path::Path) -> Result<(), SandboxError> {
        check(policy, workdir)?;
        super::check_workdir(workdir, policy)
    }

    fn run(&self, task: &TaskSpec) -> Result<Report, SandboxError> {
        self.run_released(task, &mut || Ok(()))
    }

    fn run_released(&self, task: &TaskSpec, release: &mut super::Release<'_>) -> Result<Report, SandboxError> {
        // Taken out first, so that every return below has waited for its
        // thread (Ahead's drop); one compiled for another task is not used.
        let ahead = self.ahead.lock().ok().and_then(|mut slot| slot.take()).filter(|a| same_task(&a.task, task));
        let mac = check(&task.policy, &task.workdir)?;
        let stream = self.stream.lock().ok().and_then(|mut s| s.take());
        run_jail(task, release, mac, ahead, stream, self.in_container)
    }
}

/// Whether the task enters orchestra's AppArmor profile at its exec, as
/// decided before it is started ([`crate::mac::jail::decision`]).
struct JailMac {
    decision: crate::mac::decide::Decision,
    profile: Option<String>,
}

impl JailMac {
    /// The plan's profile, when the task is to enter one.
    fn plan(&self, policy: &Policy) -> Option<plan::AppArmorExec> {
        match (&self.decision, &self.profile) {
            (crate::mac::decide::Decision::Apply, Some(p)) => Some(plan::AppArmorExec {
                profile: p.clone(),
                required: policy.mac.apparmor == crate::policy::AppArmorMode::Required,
            }),
            _ => None,
        }
    }

    /// The report's `mac` before the task has said anything: for a profile
    /// it is to enter, that it did not get that far.
    fn report(&self, policy: &Policy) -> crate::report::Mac {
        use crate::mac::decide::Decision;
        use crate::report::MacState;
        let (apparmor, detail) = match &self.decision {
            Decision::Off => (MacState::Off, "mac.apparmor: off".to_string()),
            Decision::NotApplied(why) | Decision::Refuse(why) => (MacState::NotApplied, why.clone()),
            Decision::Apply => (MacState::NotApplied, "the task's set-up ended before its exec".to_string()),
        };
        crate::report::Mac { mode: policy.mac.apparmor, apparmor, profile: self.profile.clone(), detail }
    }
}

/// What this host must offer for `policy` in `workdir` (fail closed), and
/// whether the task enters orchestra's AppArmor profile.
fn check(policy: &Policy, workdir: &std::path::Path) -> Result<JailMac, SandboxError> {
    // Cheap syscalls only: creating the namespaces is tried for real by `run`,
    // whose failure is reported the same way (fail closed, exit 1).
    let need = |ok: bool, control: &str, reason: String| {
        if ok { Ok(()) } else { Err(SandboxError::Unenforceable { control: control.into(), reason }) }
    };
    let abi = sys::landlock_abi();
    need(
        abi >= landlock_rules::MIN_ABI,
        "landlock",
        format!(
            "this kernel reports landlock ABI {abi} (need >= {}); enable landlock (lsm=...,landlock) or use the docker backend",
            landlock_rules::MIN_ABI
        ),
    )?;
    need(
        sys::seccomp_user_notif_available(),
        "seccomp",
        "seccomp user notification is unavailable (kernel >= 5.5 needed)".into(),
    )?;
    if policy.jail.cgroups == crate::policy::CgroupMode::Required {
        let p = super::probe::probe_jail();
        need(p.cgroups_usable, "cgroups", "no writable cgroup with the memory and pids controllers".into())?;
    }
    let home = crate::mac::jail::invoking_home();
    let view = crate::mac::jail::JailView { workdir, home: &home };
    let (decision, profile) = crate::mac::jail::decision(policy, &view, &crate::mac::decide::RealHost);
    if let crate::mac::decide::Decision::Refuse(why) = &decision {
        return Err(SandboxError::Unenforceable { control: "AppArmor".into(), reason: why.clone() });
    }
    Ok(JailMac { decision, profile })
}

/// The facts of the host the plan depends on. The cgroups are not among them:
/// the rlimits they replace are set once the task's cgroup exists.
fn host_facts(task: &TaskSpec) -> HostFacts {
    let home = crate::mac::jail::invoking_home();
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    // `.orchestra/`, protected paths and the policy's read-only paths that some
    // outer layer already mounted read-only, as the container backends do (a
    // `:ro` volume inside the workspace's tree): the kernel keeps them
    // read-only, and a write below them is a violation, not a plain EROFS.
    // A writable root inside one of them (the workspace in a read-only home,
    // `/data/out:rw` in `/data:ro`) stays writable: the most specific root
    // decides (decide::write_allowed).
    let policy_read_only = task.policy.filesystem.read_only.iter().map(|p| expand_home(p, &home));
    let read_only_mounts = std::iter::once(task.workdir.join(".orchestra"))
        .chain(task.protected.iter().cloned())
        .chain(policy_read_only)
        .filter(|p| is_read_only_mount(p) && !is_read_only_mount(&task.workdir))
        .collect();
    HostFacts {
        home,
        env,
        protected: task.protected.clone(),
        cgroup_memory: false,
        cgroup_pids: false,
        read_only_mounts,
        in_use: task.in_use.clone(),
    }
}

fn is_read_only_mount(p: &std::path::Path) -> bool {
    nix::sys::statvfs::statvfs(p).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Everything the event loop accumulates.
struct Run {
    enforced: Vec<Control>,
    violations: Vec<Violation>,
    exited: Option<(Option<i32>, Option<i32>)>,
    setup_error: Option<String>,
    timed_out: Option<TimeoutKind>,
    interrupted: Option<i32>,
    output_bytes: u64,
    /// CPU time the init measured for the task (evidence for limits.cpu_time).
    cpu_ms: Option<u64>,
    /// The task's stderr ended without a newline: the verdict must start a line.
    mid_line: [bool; 2],
    /// Mandatory access control, as decided and then as the task said.
    mac: crate::report::Mac,
    /// The task said it was about to exec (`Started`): from then on the init
    /// is asked to stop it ([`stop_jail`]) rather than killed.
    task_started: bool,
    /// Each violation is also streamed here as it is judged.
    stream: Option<crate::inner::ViolationStream>,
    /// The init's whole walk of the writable roots for set-ID files did not
    /// finish (the init said [`Event::SetidSweepUnfinished`]).
    setid_unfinished: bool,
}

impl Run {
    fn violation(&mut self, rule: Rule, detail: String) {
        let v = Violation::now(rule, detail);
        if let Some(s) = self.stream.as_mut() {
            s.send(&v);
        }
        self.violations.push(v);
    }
}

/// How long the host's walk of the writable roots for set-ID files may take.
const HOST_SETID_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The host's set-ID sweep (review 89 F3): when the init ended without its
/// final checks (killed past its stop grace, crashed) or its whole walk did
/// not finish, every writable root that outlives the jail (the bound host
/// directories; without namespaces, every writable root) is walked whole for
/// regular files of the task's owner made or changed set-ID since the task
/// started, which lose those bits (`fs.setuid`, not repeated for a file the
/// init reported). Returns whether every file the task wrote was swept, by
/// the init or here: the workspace diff's backstop then leaves a set-ID
/// file it shows only touched to that judgement.
fn host_setid_sweep(plan: &JailPlan, run: &mut Run, since: crate::setid::Since) -> bool {
    let init_swept = run.exited.is_some() && !run.setid_unfinished;
    if init_swept || !plan.observe {
        return init_swept;
    }
    let roots: Vec<std::path::PathBuf> = if plan.namespaces {
        plan.mounts
            .iter()
            .filter_map(|m| match m {
                plan::Mount::Bind { src, rw: true, .. } => Some(src.clone()),
                _ => None,
            })
            .collect()
    } else {
        plan.writable.clone()
    };
    let owner = plan.task_host_ids.map_or_else(|| nix::unistd::geteuid().as_raw(), |(uid, _)| uid);
    let kept = crate::setid::Baseline::new(since);
    let rule = crate::setid::TreeRule { since, kept: &kept, owner: Some(owner) };
    let walk = crate::setid::sweep_trees(&roots, &rule, Instant::now() + HOST_SETID_BUDGET);
    let reported = |p: &std::path::Path, vs: &[Violation]| {
        vs.iter().any(|v| v.rule == Rule::FsSetuid && crate::setid::detail_names(&v.detail, p))
    };
    // A directory the walk could not read (the task left it unlistable to
    // us) is left to the workspace diff's backstop, which opens such
    // directories up: not "swept".
    let whole = walk.sweep.failed.is_empty();
    for (p, mode) in walk.sweep.cleared {
        if !reported(&p, &run.violations) {
            run.violation(Rule::FsSetuid, crate::setid::cleared_detail(&p, mode));
        }
    }
    for (p, why) in walk.sweep.failed {
        if crate::setid::leads_to_setid(&p) && !reported(&p, &run.violations) {
            run.violation(Rule::FsSetuid, crate::setid::left_detail(&p, &why));
        }
    }
    match walk.unfinished {
        Some(at) => {
            run.violation(Rule::FsSetuid, crate::setid::unfinished_detail(&at, HOST_SETID_BUDGET));
            false
        }
        None => whole,
    }
}

fn run_jail(
    task: &TaskSpec,
    release: &mut super::Release<'_>,
    mac: JailMac,
    ahead: Option<Ahead>,
    stream: Option<File>,
    in_container: bool,
) -> Result<Report, SandboxError> {
    let policy = &task.policy;
    let started_at = now_rfc3339();
    let start = Instant::now();
    // Before anything of the task runs: what the host's set-ID walk judges from.
    let setid_since = crate::setid::Since::now();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let cg_name = format!("orchestra-{}-{stamp}", std::process::id());
    let cg = TaskCgroup::create(&cg_name, policy.limits.memory.get().map(|b| b.0), policy.limits.pids.get());
    let support = cg.support();
    if policy.jail.cgroups == crate::policy::CgroupMode::Required && !(support.memory && support.pids) {
        return Err(SandboxError::Unenforceable {
            control: "cgroups".into(),
            reason: "jail.cgroups: required, but no memory and pids cgroup could be created for this task".into(),
        });
    }
    // `.orchestra/` inside the workspace is re-bound read-only where it exists;
    // absent, it is not made (an empty one is what `git clean -fdx` or `git
    // stash -u` in the task would remove) but protected against creation like
    // any absent protected path (protect.rs).
    phase("cgroup created");
    // The plan (the scan of /etc, the decoys, the grants), the canaries planted
    // in it and the task's seccomp filters are compiled before the init is
    // cloned, on a thread started as soon as the task was known
    // (`Sandbox::plan_ahead`) or here; the init gets them with the clone. The
    // init is cloned next: joining the cgroup (an RCU grace period on v2),
    // building the root in the init and the caller's release overlap; the
    // task is forked only after `go`, once all of them are done.
    let namespaces = policy.jail.namespaces == NamespaceMode::Required;
    let task_host_ids = if namespaces { checkout_owner(&task.workdir) } else { None };
    let Compiled { mut plan, planted, filters } = match ahead {
        Some(a) => a.wait()?,
        None => compile(task)?,
    };
    plan.rlimits = plan::Rlimits::of(policy, support.memory, support.pids);
    plan.ptys = plan.namespaces || in_container;
    plan.task_host_ids = task_host_ids;
    plan.apparmor = mac.plan(policy);
    phase("plan compiled");

    // Plumbing: control socket (fd 3 in the init), output pipes, a sync pipe.
    let setup = |what: &str, e: std::io::Error| SandboxError::Setup(format!("{what}: {e}"));
    let (mut ctrl, ctrl_child) = UnixStream::pair().map_err(|e| setup("socketpair", e))?;
    let (out_r, out_w) = std::io::pipe().map_err(|e| setup("pipe", e))?;
    let (err_r, err_w) = std::io::pipe().map_err(|e| setup("pipe", e))?;
    let (sync_r, mut sync_w) = std::io::pipe().map_err(|e| setup("pipe", e))?;
    // The caller's terminal settings come back whatever the task does to them;
    // with --tty the task gets a pseudo-terminal of its own instead.
    let terminal = crate::tty::TerminalGuard::save();
    let pty = if task.tty { Some(crate::tty::Pty::open().map_err(|e| setup("pseudo-terminal", e))?) } else { None };
    // A socket as our stdin belongs to the host's network namespace, where
    // 127.0.0.1 is the host's own loopback: a task holding it could send to
    // the host's loopback services, a stub resolver among them (attack review
    // 91, H1). With a network namespace of the jail's own, the task reads a
    // pipe that a thread fills from our stdin instead.
    let stdin_relay = match pty.is_none() && namespaces && policy.network.mode != NetworkMode::Host && stdin_is_socket()
    {
        true => Some(std::io::pipe().map_err(|e| setup("pipe", e))?),
        false => None,
    };
    let dup2 = match &pty {
        Some(p) => {
            let s = p.slave.as_raw_fd();
            vec![(ctrl_child.as_raw_fd(), init::CTRL_FD), (s, 0), (s, 1), (s, 2)]
        }
        None => {
            let mut d = vec![(ctrl_child.as_raw_fd(), init::CTRL_FD), (out_w.as_raw_fd(), 1), (err_w.as_raw_fd(), 2)];
            if let Some((r, _)) = &stdin_relay {
                d.push((r.as_raw_fd(), 0));
            }
            d
        }
    };
    // The init is this process, cloned into the new namespaces (no re-exec: the
    // host side is single-threaded here), running `init::main`.
    // The init moves itself into the v1 cgroups right after the clone (no
    // grace period for a thread moving itself); v2's are joined below.
    let join = match support.memory || support.pids {
        true => Some(cg.prepare_join().map_err(|e| setup("opening the task's cgroups", e))?),
        false => None,
    };
    // The init forks the task as soon as it is ready, unless it must wait for
    // us to move it into its v2 cgroups (then at `go`): the task is born in
    // them either way. The task execs only after `go`.
    let fork = match join.as_ref().is_some_and(|j| j.by_caller_needed()) {
        true => init::Fork::AtGo,
        false => init::Fork::Ready,
    };
    let init = || init::main(&plan, &filters, fork);
    let exec = sys::ChildExec {
        run: sys::ChildRun::Call(&init),
        dup2,
        wait_fd: sync_r.as_raw_fd(),
        wait_peer: sync_w.as_raw_fd(),
        join_cgroups: join.iter().flat_map(|j| j.own.iter().map(|f| f.as_raw_fd())).collect(),
    };
    let mut flags: u64 = 0;
    if namespaces {
        flags = (libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWCGROUP) as u64;
        if policy.network.mode != NetworkMode::Host {
            flags |= libc::CLONE_NEWNET as u64;
        }
    }
    // Orphans of the task reparent to us, so we can always kill what is left.
    let _ = sys::set_child_subreaper();
    // Ctrl-C, SIGTERM and SIGHUP end the task through the event loop (kill the
    // jail, report, record) instead of killing us mid-way. The task itself
    // starts with an empty signal mask (init.rs resets it). Threads started
    // from here on (the cgroup join) inherit the mask.
    let mut interrupts = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        interrupts.add(sig);
    }
    let _ = interrupts.thread_block();
    let sigfd = SignalFd::with_flags(&interrupts, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| SandboxError::Setup(format!("signalfd: {e}")))?;
    let child = sys::spawn_in_namespaces(flags, &exec).map_err(|e| SandboxError::Unenforceable {
        control: "namespaces".into(),
        reason: super::probe::explain_userns_failure(&format!("creating namespaces: {e}")),
    })?;
    drop((ctrl_child, out_w, err_w, sync_r));
    if let Some((r, w)) = stdin_relay {
        drop(r);
        // Ends at the end of our stdin (the task then reads its end) or when
        // the task has closed its end; our copy is this thread's only. Read
        // and written, never spliced: a splice waiting on the socket holds
        // the pipe's lock, and the jail's last close of its end (at its exit)
        // would wait for it.
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut w, mut buf) = (w, vec![0u8; 64 * 1024]);
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) if w.write_all(&buf[..n]).is_ok() => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    _ => break,
                }
            }
        });
    }
    phase("init cloned");
    // Killed and reaped on every early return: the init waits for its id
    // maps, and its task (in its pid namespace, which dies with it) never
    // execs before `go`. Reaped, so that a
    // long-lived caller collects no zombie per refused set-up (SIGKILL cannot
    // be caught: the wait ends).
    struct KillOnDrop<'a>(Option<&'a sys::Spawned>);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            if let Some(c) = self.0 {
                let _ = sys::pidfd_send_signal(&c.pidfd, libc::SIGKILL);
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
            }
        }
    }
    let mut guard = KillOnDrop(Some(&child));
    let kill = |child: &sys::Spawned| {
        let _ = sys::pidfd_send_signal(&child.pidfd, libc::SIGKILL);
    };
    let joining = join.map(|mut j| {
        j.own.clear(); // the init has its own copies
        j.by_caller(child.pid)
    });
    if namespaces && let Err(e) = write_id_maps(child.pid, task_host_ids) {
        return Err(SandboxError::Unenforceable {
            control: "namespaces".into(),
            reason: super::probe::explain_userns_failure(&format!("writing the user namespace id maps: {e}")),
        });
    }
    // Our own /proc entries (environ, mem) become root-only: a task that shares our
    // pid namespace (namespace-less mode) cannot read the orchestrator's environment.
    // Only now: the child inherits the flag, and its id maps had to be writable.
    let _ = sys::set_non_dumpable();

    // The init has its plan: it builds the root once its id maps are there,
    // while the caller's release (the durable `task_started` record: an
    // fsync) runs here.
    if sync_w.write_all(b"G").is_err() {
        kill(&child);
        // Fall through: the exit status and any event tell what happened.
    }
    drop(sync_w);
    release().map_err(SandboxError::Release)?;
    phase("released");

    let mut run = Run {
        enforced: Vec::new(),
        violations: Vec::new(),
        exited: None,
        setup_error: None,
        timed_out: None,
        interrupted: None,
        output_bytes: 0,
        cpu_ms: None,
        mid_line: [false; 2],
        mac: mac.report(&task.policy),
        task_started: false,
        stream: stream.map(|f| crate::inner::ViolationStream::new(f, plan.canaries.clone())),
        setid_unfinished: false,
    };
    if support.memory || support.pids {
        run.enforced.push(Control { control: "cgroup".into(), detail: cg.describe() });
    }
    if !planted.is_empty() {
        run.enforced.push(Control {
            control: "canaries".into(),
            detail: format!(
                "planted {} (values unique to this task, SHA-256 in the audit log); a read is canary.read, a value in the output (replaced by [canary]) or in a sendto/sendmsg payload (not sent) is canary.leak",
                planted.join(", ")
            ),
        });
    }
    let r = &plan.rlimits;
    run.enforced.push(Control {
        control: "rlimits".into(),
        // Audit text: a number, or `unset` (FORMAT.md §5.3, task_attested).
        detail: format!(
            "nofile={} cpu_secs={} cpu_hard_secs={} fsize={} as={} nproc={} core=0",
            crate::report::or_unset(r.nofile),
            crate::report::or_unset(r.cpu_secs.map(|s| plan::cpu_limits(s).0)),
            crate::report::or_unset(r.cpu_secs.map(|s| plan::cpu_limits(s).1)),
            crate::report::or_unset(r.fsize),
            crate::report::or_unset(r.address_space),
            crate::report::or_unset(r.nproc)
        ),
    });
    if let Some(n) = r.nproc {
        // RLIMIT_NPROC is per user and does not bind uid 0: what holds the
        // limit is the supervisor's count (see supervisor::check_pids).
        run.enforced.push(Control {
            control: "pids".into(),
            detail: format!(
                "no pids cgroup: the supervisor counts the task's processes and threads every 50 ms and kills the task at {n} (limits.pids)"
            ),
        });
    }

    // The task execs only after `go` (and on v2 is forked only after it: it
    // starts in the cgroups).
    if let Some(j) = joining
        && let Err(e) = j.wait()
    {
        return Err(SandboxError::Setup(format!("joining cgroup: {e}")));
    }
    phase("init in the cgroup");
    guard.0 = None;
    if ctrl.write_all(b"go\n").is_err() {
        kill(&child);
    }

    let (outputs, input) = match pty {
        Some(p) => {
            drop(p.slave);
            terminal.make_raw();
            let input = p.master.try_clone().map_err(|e| setup("pseudo-terminal", e));
            let input = match input {
                Ok(i) => i,
                Err(e) => {
                    kill(&child);
                    return Err(e);
                }
            };
            ([Some(p.master), None], Some(input))
        }
        None => ([Some(File::from(OwnedFd::from(out_r))), Some(File::from(OwnedFd::from(err_r)))], None),
    };
    event_loop(task, &plan.canaries, &child, &sigfd, &mut ctrl, outputs, input, &mut run, start);
    drop(terminal);
    crate::canary::scrub_details(&mut run.violations, &plan.canaries);
    // Our verdict line follows; it must not be glued to the task's last words.
    crate::relay::end_task_lines(run.mid_line);

    // The init is gone; so is everything in its pid namespace. Reap it, then
    // anything that escaped to us as subreaper (namespace-less mode).
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    super::reap::kill_all_children();
    phase("jail ended");
    let setid_swept = host_setid_sweep(&plan, &mut run, setid_since);
    let (exit_status, signal) = run.exited.unwrap_or((None, None));
    let mut events = cg.events();
    // The kernel's OOM killer sends SIGKILL before it counts the kill
    // (`__oom_kill_process`): a SIGKILL we did not send, with no OOM kill
    // counted yet, is read again for up to 100 ms before it is judged
    // (seen under load: a memory hog reported as a plain signal).
    let ours = run.timed_out.is_some() || run.interrupted.is_some() || !run.violations.is_empty();
    if signal == Some(libc::SIGKILL) && events.oom_kills == 0 && !ours {
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            events = cg.events();
            if events.oom_kills > 0 {
                break;
            }
        }
    }
    drop(cg);
    phase("cgroup removed");

    let cpu = plan.rlimits.cpu_secs.zip(run.cpu_ms).map(|(soft, used_ms)| {
        let (soft_secs, hard_secs) = plan::cpu_limits(soft);
        CpuEvidence { used_ms, soft_secs, hard_secs }
    });
    let outcome = Outcome {
        started_at,
        wall_ms: start.elapsed().as_millis() as u64,
        enforced: run.enforced,
        violations: run.violations,
        exit_status,
        signal,
        signals: Signals::Judge(cpu),
        // A setup failure (in the init or in the task before exec): the task never ran.
        setup_error: run.setup_error,
        no_status: "the jail ended without reporting the task's status".into(),
        note: None,
        timed_out: run.timed_out,
        interrupted: run.interrupted,
        oom: Oom { kills: events.oom_kills, engine_reported: false },
        pids_refused: events.pids_max,
        output_bytes: run.output_bytes,
        peak_memory_bytes: events.peak_memory.or_else(children_max_rss),
        observed: Observed { denials: task.observe, cgroup: true },
        setid_swept,
        mac: Some(run.mac),
    };
    Ok(outcome::build(task, SandboxMode::Jail, outcome))
}

/// The plan for `task` (the scan of /etc included), with the canaries planted
/// in it, the names of what was planted and the task's seccomp filters. The
/// rlimits that depend on the task's cgroup, the ids of a checkout's owner and
/// the AppArmor profile are the caller's to set (none of them changes the
/// filters).
fn compile(task: &TaskSpec) -> Result<Compiled, SandboxError> {
    let facts = host_facts(task);
    let mut plan = plan::compile(&task.policy, &task.name, &task.argv, &task.workdir, &facts, &plan::RealHost)?;
    plan.observe = task.observe;
    plan.tty = task.tty;
    plan.host_root_names = nowhere::host_root_names();
    let home = match &task.canary_home {
        Some(h) => plant::Home::Private(h),
        None => plant::Home::Jail(&facts.home),
    };
    let planted = match &task.canaries {
        Some(c) => plant::plant(&mut plan, c, home),
        None => Vec::new(),
    };
    let filters = seccomp::build(&plan).map_err(|e| SandboxError::Setup(e.to_string()))?;
    Ok(Compiled { plan, planted, filters })
}

fn fmt_limit_bytes(b: Option<u64>) -> String {
    b.map(|b| crate::policy::ByteSize(b).to_string()).unwrap_or_else(|| "unlimited".into())
}

/// Whether our stdin is a socket.
fn stdin_is_socket() -> bool {
    use std::os::fd::AsFd;
    nix::sys::stat::fstat(std::io::stdin().as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// The owner of `workdir` when orchestra runs as root and the directory
/// belongs to another user: the task runs as that user (its files stay the
/// checkout owner's, and a checkout given to a user works on every backend).
fn checkout_owner(workdir: &std::path::Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let m = std::fs::metadata(workdir).ok()?;
    (m.uid() != 0).then(|| (m.uid(), if m.gid() == 0 { m.uid() } else { m.gid() }))
}

/// The init's user namespace: its root is us; with `task` (we are host root),
/// the task's host ids are mapped too, at the same numbers, for the task's own
/// namespace to map its uid 1000 onto (init.rs `enter_task_userns`).
fn write_id_maps(pid: i32, task: Option<(u32, u32)>) -> std::io::Result<()> {
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let extra = |id: Option<u32>| id.map(|i| format!("\n{i} {i} 1")).unwrap_or_default();
    std::fs::write(format!("/proc/{pid}/uid_map"), format!("0 {uid} 1{}", extra(task.map(|t| t.0))))?;
    std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
    let gid_extra = extra(task.map(|t| t.1).filter(|g| *g != gid.as_raw()));
    std::fs::write(format!("/proc/{pid}/gid_map"), format!("0 {gid} 1{gid_extra}"))?;
    Ok(())
}

fn children_max_rss() -> Option<u64> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .ok()
        .map(|u| u.max_rss() as u64 * 1024)
        .filter(|b| *b > 0)
}

#[allow(clippy::too_many_arguments)]
fn event_loop(
    task: &TaskSpec,
    // The canary values planted: replaced in the output, each a violation.
    canaries: &[crate::canary::Token],
    child: &sys::Spawned,
    sigfd: &SignalFd,
    ctrl: &mut UnixStream,
    // The task's stdout and stderr (with --tty: the pseudo-terminal's master,
    // and no stderr); an entry becomes None at EOF, or when our own stream is
    // gone (closing our end gives the task the SIGPIPE it would get).
    mut outputs: [Option<File>; 2],
    // With --tty: the master again, where our stdin is relayed to the task.
    mut input: Option<File>,
    run: &mut Run,
    start: Instant,
) {
    let policy = &task.policy;
    let wall = policy.wall_timeout();
    let no_output = policy.timeouts.no_output.get().map(|d| d.0);
    let output_limit = policy.limits.output.get().map(|b| b.0);
    let mut last_output = Instant::now();
    let mut ctrl_buf: Vec<u8> = Vec::new();
    let (mut ctrl_open, mut child_alive) = (true, true);
    let mut killed = false;
    // Once the init was asked to stop the task: when we kill it ourselves.
    let mut hard_kill: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    // Task lines that start like ours are marked (sandbox::relay).
    let mut guards = [LineGuard::default(), LineGuard::default()];
    let mut scrubbers = [Scrubber::new(canaries), Scrubber::new(canaries)];
    let mut scrubbed: Vec<u8> = Vec::with_capacity(buf.len() + 64);
    // Each canary is reported once per stream.
    let mut leaked: Vec<(usize, String)> = Vec::new();
    let mut relayed: Vec<u8> = Vec::with_capacity(buf.len() + 64);
    loop {
        if !child_alive && outputs.iter().all(Option::is_none) && !ctrl_open {
            break;
        }
        if drain_deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let now = Instant::now();
        let mut timeout = Duration::from_millis(1000);
        if let Some(at) = hard_kill.filter(|_| child_alive) {
            let left = at.saturating_duration_since(now);
            if left.is_zero() {
                tracing::debug!("jail: the init did not end within its stop grace; killed");
                let _ = sys::pidfd_send_signal(&child.pidfd, libc::SIGKILL);
                hard_kill = None;
                continue;
            }
            timeout = timeout.min(left);
        }
        if !killed {
            if let Some(w) = wall {
                let left = w.saturating_sub(now - start);
                if left.is_zero() {
                    run.timed_out = Some(TimeoutKind::Wall);
                    killed = true;
                    hard_kill = stop_jail(child, ctrl, run.task_started);
                    continue;
                }
                timeout = timeout.min(left);
            }
            if let Some(n) = no_output {
                let left = n.saturating_sub(now - last_output);
                if left.is_zero() {
                    run.timed_out = Some(TimeoutKind::NoOutput);
                    killed = true;
                    hard_kill = stop_jail(child, ctrl, run.task_started);
                    continue;
                }
                timeout = timeout.min(left);
            }
        }
        let mut fds = Vec::with_capacity(6);
        let mut slot = [usize::MAX; 6];
        for (k, out) in outputs.iter().enumerate() {
            if let Some(r) = out {
                slot[k] = fds.len();
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
        }
        if ctrl_open {
            slot[2] = fds.len();
            fds.push(PollFd::new(ctrl.as_fd(), PollFlags::POLLIN));
        }
        if child_alive {
            slot[3] = fds.len();
            fds.push(PollFd::new(child.pidfd.as_fd(), PollFlags::POLLIN));
        }
        if !killed {
            slot[4] = fds.len();
            fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
        }
        let stdin = std::io::stdin();
        if input.is_some() && child_alive {
            slot[5] = fds.len();
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let ms = timeout.as_millis().clamp(1, 60_000) as u16;
        let _ = poll(&mut fds, PollTimeout::from(ms));
        let ready: Vec<bool> =
            (0..6).map(|i| slot[i] != usize::MAX && fds[slot[i]].revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        for i in 0..2 {
            if !ready[i] {
                continue;
            }
            let Some(reader) = outputs[i].as_mut() else { continue };
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => {
                    outputs[i] = None;
                    relayed.clear();
                    scrubbed.clear();
                    scrubbers[i].finish(&mut scrubbed);
                    guards[i].feed(&scrubbed, &mut relayed);
                    guards[i].finish(&mut relayed);
                    let _ = if i == 0 { stdout.write_all(&relayed) } else { stderr.write_all(&relayed) };
                }
                Ok(n) => {
                    last_output = Instant::now();
                    let allowed = match output_limit {
                        Some(lim) => (lim.saturating_sub(run.output_bytes) as usize).min(n),
                        None => n,
                    };
                    run.output_bytes += n as u64;
                    relayed.clear();
                    scrubbed.clear();
                    let found = scrubbers[i].feed(&buf[..allowed], &mut scrubbed);
                    guards[i].feed(&scrubbed, &mut relayed);
                    for source in found {
                        if leaked.contains(&(i, source.clone())) {
                            continue;
                        }
                        let stream = if i == 0 { "stdout" } else { "stderr" };
                        run.violation(
                            Rule::CanaryLeak,
                            format!(
                                "the task wrote the canary planted as {source} to its {stream} (replaced by [canary])"
                            ),
                        );
                        leaked.push((i, source));
                        if policy.on_violation == crate::policy::OnViolation::Kill && !killed {
                            killed = true;
                            hard_kill = stop_jail(child, ctrl, run.task_started);
                        }
                    }
                    if let Some(&last) = buf[..allowed].last() {
                        run.mid_line[i] = last != b'\n';
                    }
                    let written = if i == 0 {
                        stdout.write_all(&relayed).and_then(|_| stdout.flush())
                    } else {
                        stderr.write_all(&relayed)
                    };
                    if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                        outputs[i] = None;
                    }
                    if allowed < n && !killed {
                        killed = true;
                        hard_kill = stop_jail(child, ctrl, run.task_started);
                        run.violation(Rule::LimitsOutput, format!("output exceeded {}", fmt_limit_bytes(output_limit)));
                    }
                }
            }
        }
        if ready[2] {
            match ctrl.read(&mut buf) {
                Ok(0) | Err(_) => ctrl_open = false,
                Ok(n) => {
                    ctrl_buf.extend_from_slice(&buf[..n]);
                    while let Some(pos) = ctrl_buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = ctrl_buf.drain(..=pos).collect();
                        handle_event(&line, run);
                    }
                }
            }
        }
        if ready[4]
            && let Ok(Some(info)) = sigfd.read_signal()
        {
            run.interrupted = Some(info.ssi_signo as i32);
            killed = true;
            hard_kill = stop_jail(child, ctrl, run.task_started);
        }
        if ready[5]
            && let Some(master) = input.as_mut()
        {
            // Keys for the task's terminal. At the end of our stdin the task's
            // terminal gets its end-of-file character, as a typed ^D would.
            let n = std::io::stdin().lock().read(&mut buf).unwrap_or(0);
            let data: &[u8] = if n == 0 { &[0x04] } else { &buf[..n] };
            if master.write_all(data).is_err() || n == 0 {
                input = None;
            }
        }
        if ready[3] {
            child_alive = false;
            // Everything in the jail is dead now; give the pipes a moment to drain.
            drain_deadline = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    // Whatever a scrubber or guard still holds (a stream cut off by the drain deadline).
    for (i, (scrubber, guard)) in scrubbers.iter_mut().zip(guards.iter_mut()).enumerate() {
        relayed.clear();
        scrubbed.clear();
        scrubber.finish(&mut scrubbed);
        guard.feed(&scrubbed, &mut relayed);
        guard.finish(&mut relayed);
        let _ =
            if i == 0 { stdout.write_all(&relayed).and_then(|_| stdout.flush()) } else { stderr.write_all(&relayed) };
    }
}

/// End the jail's task (a timeout, an interrupt, a violation seen in its
/// output). Once the task runs, the init is asked to stop it
/// ([`init::STOP`]): it kills every process of the task, then makes its final
/// checks, so a decoy or canary read made just before is still reported
/// (review 86 F7). Returns when to kill the init ourselves should it not end
/// ([`init::STOP_GRACE`]). Before the task runs, or when the order cannot be
/// written, the init is killed at once (nothing of the task ran to check).
fn stop_jail(child: &sys::Spawned, ctrl: &UnixStream, task_started: bool) -> Option<Instant> {
    if task_started {
        let order = format!("{}\n", init::STOP);
        if (&*ctrl).write_all(order.as_bytes()).is_ok() {
            return Some(Instant::now() + init::STOP_GRACE);
        }
    }
    let _ = sys::pidfd_send_signal(&child.pidfd, libc::SIGKILL);
    None
}

/// A debug line with the monotonic time of a step of the jail's start and
/// end (`ORCHESTRA_LOG=debug`; `exec` logs its own phases the same way).
fn phase(what: &str) {
    tracing::debug!(mono_us = sys::monotonic().as_micros() as u64, "jail: {what}");
}

fn handle_event(line: &[u8], run: &mut Run) {
    let Ok(ev) = serde_json::from_slice::<Event>(line) else { return };
    if tracing::enabled!(tracing::Level::DEBUG) {
        let what = match &ev {
            Event::Enforced { control, .. } => control.as_str(),
            Event::Violation { .. } => "violation",
            Event::SetupFailed { .. } => "setup failed",
            Event::Exited { .. } => "exited",
            Event::Usage { .. } => "usage",
            Event::Started { .. } => "task started",
            Event::Mac { .. } => "mac",
            Event::SetidSweepUnfinished => "set-ID sweep unfinished",
        };
        phase(&format!("event {what}"));
    }
    match ev {
        Event::Enforced { control, detail } => run.enforced.push(Control { control, detail }),
        Event::Violation { rule, detail } => run.violation(rule, detail),
        Event::SetidSweepUnfinished => run.setid_unfinished = true,
        // Once we killed the jail (a timeout that fired during a slow set-up,
        // or an interrupt), a set-up failure it reports is that kill's echo
        // (the task's "the init did not release the task"): the cause is the
        // timeout or the interrupt, not a set-up failure (exit 1).
        Event::SetupFailed { error } if run.timed_out.is_some() || run.interrupted.is_some() => {
            tracing::debug!(%error, "jail: a set-up failure after we killed the jail, not recorded");
        }
        Event::SetupFailed { error } => run.setup_error = Some(error),
        Event::Exited { code, signal } => run.exited = Some((code, signal)),
        Event::Usage { cpu_ms } => {
            tracing::debug!(cpu_ms, "jail: the task's CPU time");
            run.cpu_ms = Some(cpu_ms);
        }
        Event::Mac { applied, detail } => {
            if applied {
                run.enforced.push(Control { control: "mac".into(), detail: detail.clone() });
            }
            run.mac.apparmor =
                if applied { crate::report::MacState::Applied } else { crate::report::MacState::NotApplied };
            run.mac.detail = detail;
        }
        Event::Started { .. } => run.task_started = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskSpec {
        let (policy, _) = crate::policy::load_policy("default").unwrap();
        TaskSpec {
            name: "t".into(),
            argv: vec!["prog".into()],
            workdir: "/w".into(),
            policy,
            policy_origin: "preset:default".into(),
            derivation: None,
            protected: vec!["/w/.orchestra/audit".into()],
            in_use: Vec::new(),
            observe: true,
            tty: false,
            canaries: None,
            canary_home: None,
        }
    }

    #[test]
    fn a_plan_compiled_ahead_is_used_only_by_the_same_task() {
        let a = task();
        assert!(same_task(&a, &a.clone()));
        // Where the policy came from does not change the plan.
        let mut same = a.clone();
        same.policy_origin = "elsewhere".into();
        assert!(same_task(&a, &same));
        let changes: [&dyn Fn(&mut TaskSpec); 10] = [
            &|t| t.name = "u".into(),
            &|t| t.argv.push("arg".into()),
            &|t| t.workdir = "/v".into(),
            &|t| t.policy.network.mode = NetworkMode::Host,
            &|t| t.protected.push("/home/u/.config/orchestra/keys".into()),
            &|t| t.in_use.push("/w/policy.yaml".into()),
            &|t| t.observe = false,
            &|t| t.tty = true,
            &|t| t.canaries = Some(crate::canary::Canaries::generate(&t.policy).unwrap()),
            &|t| t.canary_home = Some("/tmp/home".into()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut b = a.clone();
            change(&mut b);
            assert!(!same_task(&a, &b), "change {i} went unnoticed");
            assert!(!same_task(&b, &a), "change {i} went unnoticed");
        }
    }

    #[test]
    fn a_plan_compiled_ahead_for_another_task_is_waited_for_and_dropped() {
        let jail = Jail::default();
        let a = task();
        jail.plan_ahead(&a);
        let mut b = a.clone();
        b.argv = vec!["other".into()];
        // The run of `b` takes the slot out, finds it is not its own and
        // waits for its thread (Ahead's drop) before anything else.
        let taken = jail.ahead.lock().unwrap().take();
        let ahead = taken.filter(|x| same_task(&x.task, &b));
        assert!(ahead.is_none());
        assert!(jail.ahead.lock().unwrap().is_none());
        // One for the same task gives its compiled plan.
        jail.plan_ahead(&a);
        let ahead = jail.ahead.lock().unwrap().take().unwrap();
        let compiled = ahead.wait().unwrap();
        assert_eq!(compiled.plan.argv, a.argv);
        assert!(!compiled.filters.is_empty());
    }
}
