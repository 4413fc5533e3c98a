//! The in-jail init: the host-side `orchestra` process cloned (without exec)
//! into new namespaces, as pid 1 of the jail's pid namespace. The clone happens
//! while the host side is single-threaded (never inside a multithreaded runtime),
//! and the init closes every descriptor it inherited except its own four. Its
//! plan and the task's seccomp filters, compiled by the host side before the
//! clone, are in its copy of the host's memory.
//!
//! One function, [`run`], owns the order of the steps, each failing the whole:
//! (once the host side has written its id maps) build the root (mounts, decoys, pivot_root) → hostname and
//! loopback (without namespaces: canary files in a private home instead) →
//! fork the task → supervise (seccomp notifications, decoy opens,
//! reaping) → report the task's end. When this process exits, the kernel kills
//! every process left in the namespace, so nothing the task started survives it.
//!
//! The task side ([`task_main`]) runs in the forked child: session, nested
//! user namespace (uid 1000, no capabilities), rlimits, capabilities dropped,
//! `no_new_privs`, the AppArmor profile for its exec (`mac.apparmor`),
//! landlock, seccomp; then RLIMIT_AS (without a memory cgroup) with the exec
//! prepared, and exec.

use super::landlock_rules;
use super::plan::JailPlan;
use super::protocol::Event;
use super::seccomp;
use super::supervisor::Supervisor;
use crate::sys;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The control socket's descriptor number in the init.
pub const CTRL_FD: i32 = 3;

/// Exit code of the init when setup failed (the host side also gets a `SetupFailed` event).
pub const SETUP_FAILED: u8 = 125;

/// Why the jail could not be set up or the task not started: sent to the host
/// side as [`Event::SetupFailed`] (the task never ran).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The host side closed the control socket early.
    #[error("the host side closed the control socket before sending the {0}")]
    HostClosed(&'static str),
    /// Reading a message of the host side failed.
    #[error("read {what}: {source}")]
    Read {
        /// The message.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A message other than the one expected.
    #[error("unexpected control message {0:?}")]
    Unexpected(String),
    /// One step of the setup failed.
    #[error("{step}: {source}")]
    Step {
        /// The step, e.g. `sethostname`.
        step: String,
        /// The system's reason.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The supervisor could not observe the task.
    #[error(
        "the supervisor cannot read the task's memory (process_vm_readv and /proc/PID/mem both refused); violations could not be observed"
    )]
    MemoryUnreadable,
    /// Dropping capabilities left some.
    #[error("capabilities still present after dropping them")]
    CapabilitiesRemain,
    /// The thread handing the seccomp listener over panicked.
    #[error("hand over seccomp listener: the courier thread panicked")]
    CourierPanicked,
    /// The init never released the task.
    #[error("the init did not release the task")]
    NotReleased,
    /// An argument, variable or path with a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    /// `mac.apparmor: required`, and the kernel refused the task's change to
    /// the profile at its exec.
    #[error("mac.apparmor: required, but the kernel refused `exec {profile}` for the task: {source}")]
    AppArmor {
        /// The profile.
        profile: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// The landlock domain.
    #[error(transparent)]
    Landlock(#[from] landlock_rules::LandlockError),
}

/// `map_err` for one setup step: `step: reason`.
fn step<E: Into<Box<dyn std::error::Error + Send + Sync>>>(step: impl Into<String>) -> impl FnOnce(E) -> SetupError {
    move |e| SetupError::Step { step: step.into(), source: e.into() }
}

/// When the init forks the task. Either way the task execs only after the
/// host side's `go` (its durable `task_started`, the cgroup join).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// Once the root and the landlock domain are built: the init is in the
    /// task's cgroups already (v1, joined by itself at the clone, or none).
    Ready,
    /// At `go`: the host side moves the init into its v2 cgroups meanwhile.
    AtGo,
}

/// The init's entry point, in the cloned child (no re-exec): `plan` and the
/// task's seccomp `filters` are its own copies, compiled by the host side
/// before the clone. Returns its exit code.
pub fn main(plan: &JailPlan, filters: &[seccompiler::BpfProgram], fork: Fork) -> i32 {
    let _ = sys::close_from(CTRL_FD as u32 + 1);
    let Some(ctrl) = sys::take_fd(CTRL_FD) else { return SETUP_FAILED as i32 };
    let ctrl = UnixStream::from(ctrl);
    let Ok(c) = ctrl.try_clone() else { return SETUP_FAILED as i32 };
    let mut reporter = Reporter { sock: ctrl, reader: BufReader::new(c) };
    match run(&mut reporter, plan, filters, fork) {
        Ok(code) => code as i32,
        Err(e) => {
            reporter.send(&Event::SetupFailed { error: e.to_string() });
            SETUP_FAILED as i32
        }
    }
}

/// The host side's order to end the task (a timeout, an interrupt, a
/// violation it saw in the output): the init kills every process of the
/// task, makes its final checks and reports the task's end. The host side
/// kills the init itself if that takes longer than [`STOP_GRACE`].
pub const STOP: &str = "stop";

/// How long the host side waits for the init to end after [`STOP`] before
/// it kills the init (and so the jail) without the final checks.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// What the host side asks of the init once the task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// [`STOP`].
    Stop,
    /// The host side closed the control socket (it died).
    HostGone,
    /// A line this init does not know (ignored).
    Unknown(String),
}

/// Sends events to the host side.
pub struct Reporter {
    sock: UnixStream,
    /// The host side's message: `go`.
    reader: BufReader<UnixStream>,
}

impl Reporter {
    /// Send one event (best effort: the host side may already be gone).
    pub fn send(&mut self, ev: &Event) {
        // write(2), not std's send(2): the task reports its setup after its
        // seccomp filters are in place, where every sendto is watched when
        // canaries are planted, and nobody holds the listener yet.
        let line = ev.to_line();
        let mut rest = line.as_bytes();
        while !rest.is_empty() {
            match nix::unistd::write(&self.sock, rest) {
                Ok(0) => break,
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
    }
    fn read_line(&mut self, what: &'static str) -> Result<String, SetupError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(SetupError::HostClosed(what)),
            Ok(_) => Ok(line),
            Err(source) => Err(SetupError::Read { what, source }),
        }
    }

    /// The control socket, to poll for the host side's orders.
    pub fn orders(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.reader.get_ref().as_fd()
    }

    /// Whether an order already sits in our buffer (it arrived with `go`):
    /// polling the socket would not show it.
    pub fn order_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Whether an order waits (buffered, or readable on the socket; its
    /// end counts: the host side is gone), without reading it or waiting.
    pub fn order_waiting(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        if self.order_buffered() {
            return true;
        }
        let mut fds = [PollFd::new(self.orders(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
    }

    /// Read the host side's next order. [`Order::HostGone`] at the end of
    /// the socket or on a read error: nobody is left to time the task out.
    pub fn read_order(&mut self) -> Order {
        match self.read_line("an order") {
            Ok(line) if line.trim() == STOP => Order::Stop,
            Ok(line) => Order::Unknown(line.trim().to_string()),
            Err(_) => Order::HostGone,
        }
    }

    /// Wait for the host side's `go`: the task's start is durable in the
    /// audit log and we are in the task's cgroups. Only then may the task
    /// exec, and be forked where the host side moves us ([`Fork::AtGo`]).
    fn wait_go(&mut self) -> Result<(), SetupError> {
        match self.read_line("go")?.trim() {
            "go" => Ok(()),
            other => Err(SetupError::Unexpected(other.to_string())),
        }
    }
}

fn run(rep: &mut Reporter, plan: &JailPlan, filters: &[seccompiler::BpfProgram], fork: Fork) -> Result<u8, SetupError> {
    let _ = sys::set_non_dumpable();
    sys::ignore_sigpipe();
    // The clone moved us into the task's v1 cgroups (sys::ChildExec::join_cgroups);
    // a task outside them would run without its memory and pids limits.
    if let Some(e) = sys::cgroup_join_error() {
        return Err(step("joining the task's cgroups")(e));
    }
    // Our copy, changed below (the decoys landlock grants).
    let mut plan = plan.clone();
    let decoys;
    if plan.namespaces {
        let built = super::rootfs::build(&plan).map_err(step("building the jail root"))?;
        decoys = built.decoys;
        // Landlock grants a decoy's path: only where a decoy really covers it.
        plan.decoys.retain(|d| built.covered.contains(&d.path));
        nix::unistd::sethostname(&plan.hostname).map_err(step("sethostname"))?;
        rep.send(&Event::Enforced {
            control: "namespaces".into(),
            detail: format!(
                "user, mount, pid, net, ipc, uts, cgroup; pivot_root into a minimal root; /proc {}",
                if built.hidepid { "with hidepid=invisible" } else { "without hidepid (kernel refused it)" }
            ),
        });
        if plan.network == crate::policy::NetworkMode::Loopback {
            sys::loopback_up().map_err(step("bring up lo"))?;
        }
        rep.send(&Event::Enforced { control: "network".into(), detail: network_detail(&plan) });
    } else {
        sys::set_child_subreaper().map_err(step("subreaper"))?;
        // Canary files in a home private to the sandbox (a container's /tmp),
        // written before the task exists; one not placed is not watched.
        decoys = super::rootfs::plant_in_place(&plan.decoys);
        plan.decoys.retain(|d| d.canary.is_none() || decoys.contains(&d.path));
    }
    let (task_sock, init_sock) = UnixStream::pair().map_err(step("socketpair"))?;
    // The task's landlock domain is built now, while the host side may still
    // wait for the cgroup join or the caller's release (its seccomp filters
    // came built with the plan); the task puts them in force itself, in the
    // same order as ever (after dropping privileges).
    let controls = TaskControls { landlock: landlock_rules::prepare(&plan)?, filters };
    if fork == Fork::AtGo {
        rep.wait_go()?;
    }
    // Before the task can change anything: what the set-ID sweep judges from.
    let since = crate::setid::Since::now();
    match sys::fork().map_err(step("fork"))? {
        None => {
            drop(init_sock);
            let err = task_main(&plan, rep, task_sock, controls);
            rep.send(&Event::SetupFailed { error: err.to_string() });
            sys::exit_now(SETUP_FAILED as i32);
        }
        Some(task_pid) => {
            drop((task_sock, controls));
            // The task's hand-over: its seccomp listener (None when observation is
            // off); an error when it failed before (it reported why).
            let listener = sys::recv_fd(init_sock.as_raw_fd()).unwrap_or(None);
            if listener.is_some() && !super::memory::can_read_memory_of(task_pid) {
                // Without the task's memory no path could be judged: fail closed
                // rather than let every write through unreported.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(task_pid), nix::sys::signal::Signal::SIGKILL);
                return Err(SetupError::MemoryUnreadable);
            }
            if plan.namespaces {
                // The task has written its own id maps: /proc can be read-only now,
                // before the task runs anything of its own (it waits for our byte).
                let attrs = sys::mount_attr::RDONLY
                    | sys::mount_attr::NOSUID
                    | sys::mount_attr::NODEV
                    | sys::mount_attr::NOEXEC;
                sys::mount_setattr(Path::new("/proc"), attrs, false).map_err(step("make /proc read-only"))?;
            }
            // The task has put its controls in force and waits for our byte to
            // exec: not before the host side's `go`. Should it never come, we
            // exit and the task dies with our pid namespace.
            if fork == Fork::Ready {
                rep.wait_go()?;
            }
            let _ = (&init_sock).write_all(b"R");
            let mut sup = Supervisor::new(&plan, listener, &decoys, task_pid, since).map_err(step("supervisor"))?;
            let status = sup.run(rep);
            // The CPU time of the task and of the descendants reaped so far: the
            // host's evidence that a SIGXCPU/SIGKILL came from RLIMIT_CPU.
            if let Ok(u) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
                let ms = |t: nix::sys::time::TimeVal| (t.tv_sec() as u64) * 1000 + (t.tv_usec() as u64) / 1000;
                rep.send(&Event::Usage { cpu_ms: ms(u.user_time()) + ms(u.system_time()) });
            }
            if !plan.namespaces {
                crate::reap::kill_all_children();
            }
            rep.send(&status);
            Ok(0)
        }
    }
}

fn network_detail(plan: &JailPlan) -> String {
    match plan.network {
        crate::policy::NetworkMode::None => "private network namespace, no interface up".into(),
        crate::policy::NetworkMode::Loopback => "private network namespace, loopback only".into(),
        crate::policy::NetworkMode::Host => "host network (policy opt-out)".into(),
    }
}

/// The controls the init has for the task before forking it.
struct TaskControls<'a> {
    /// The landlock domain, every rule added.
    landlock: landlock_rules::Prepared,
    /// The seccomp filters, in installation order.
    filters: &'a [seccompiler::BpfProgram],
}

/// The task's side of the fork: apply every control, then exec. Returns only
/// with an error message (the caller reports it and exits).
///
/// `limits.memory` without a memory cgroup (RLIMIT_AS) is set last, right
/// before the execve: this process is a fork of `orchestra exec`, whose own
/// mappings count against RLIMIT_AS until the exec replaces them. Everything
/// the exec and its failure message need is prepared before the limit, and
/// nothing is allocated after it, so the limit binds the task's program only.
fn task_main(plan: &JailPlan, rep: &mut Reporter, sock: UnixStream, controls: TaskControls<'_>) -> SetupError {
    let exec = match task_setup(plan, rep, &sock, controls) {
        Ok(exec) => exec,
        Err(e) => return e,
    };
    let failure = ExecFailure::new(plan);
    drop(sock);
    // Everything but stdio goes at the exec, the control socket included; until
    // then it can still carry a failure of the last step.
    if let Err(e) = sys::cloexec_from(3) {
        return step("close descriptors on exec")(e);
    }
    if let Err(e) = limit_address_space(plan) {
        return e;
    }
    let errno = exec.exec();
    // The exec failed, maybe for want of memory under the limit: tell the user
    // on stderr like a shell would (not as `orchestra:`: the relay marks such
    // task lines), with the message prepared before the limit.
    failure.say(errno);
    sys::exit_now(if errno == libc::ENOENT { 127 } else { 126 });
}

/// The task's message for a failed execve, built before RLIMIT_AS is set
/// (saying it allocates nothing).
struct ExecFailure {
    /// `orchestra exec: ARGV0: `.
    prefix: Vec<u8>,
    /// Said after the system's text when the exec ran out of memory (ENOMEM,
    /// or E2BIG: the arguments did not fit) under RLIMIT_AS.
    no_memory: Option<Vec<u8>>,
}

impl ExecFailure {
    fn new(plan: &JailPlan) -> Self {
        let argv0 = plan.argv.first().map(String::as_str).unwrap_or_default();
        ExecFailure {
            prefix: format!("orchestra exec: {argv0}: ").into_bytes(),
            no_memory: plan.rlimits.address_space.map(|v| {
                format!("; the program and its arguments must fit in limits.memory (RLIMIT_AS of {v} bytes, no memory cgroup)")
                    .into_bytes()
            }),
        }
    }

    /// `orchestra exec: ARGV0: TEXT (os error N)[; the program does not fit …]`.
    fn say(&self, errno: libc::c_int) {
        let mut text = [0u8; 128];
        let mut number = [0u8; 12];
        let hint = match &self.no_memory {
            Some(h) if errno == libc::ENOMEM || errno == libc::E2BIG => h.as_slice(),
            _ => b"",
        };
        sys::write_stderr_raw(&[
            &self.prefix,
            sys::errno_text(errno, &mut text),
            b" (os error ",
            decimal(errno.unsigned_abs(), &mut number),
            b")",
            hint,
            b"\n",
        ]);
    }
}

/// `n` in decimal, written into `buf` (nothing allocated).
fn decimal(mut n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

fn task_setup(
    plan: &JailPlan,
    rep: &mut Reporter,
    sock: &UnixStream,
    controls: TaskControls<'_>,
) -> Result<sys::PreparedExec, SetupError> {
    nix::unistd::setsid().map_err(step("setsid"))?;
    if plan.tty {
        // Our stdin is the pseudo-terminal orchestra opened for this task.
        sys::set_controlling_tty(0).map_err(step("controlling terminal"))?;
    }
    // Forked from the non-dumpable init, whose memory was created outside the
    // jail's user namespace: our /proc/self files would belong to the host's root,
    // and neither our own id maps nor the supervisor's reads of our memory (see
    // supervisor::can_read_memory_of) would be allowed. Exec would make us
    // dumpable anyway; we only do it earlier.
    sys::set_dumpable().map_err(step("dumpable"))?;
    sys::set_parent_death_signal(libc::SIGKILL).map_err(step("pdeathsig"))?;
    if plan.namespaces {
        enter_task_userns(plan.task_host_ids).map_err(step("task user namespace"))?;
    }
    nix::unistd::chdir(&plan.workdir).map_err(step(format!("chdir {}", plan.workdir.display())))?;
    apply_rlimits(plan)?;
    sys::drop_all_capabilities().map_err(step("drop capabilities"))?;
    sys::set_no_new_privs().map_err(step("no_new_privs"))?;
    if sys::has_any_capability() {
        return Err(SetupError::CapabilitiesRemain);
    }
    rep.send(&Event::Enforced {
        control: "privileges".into(),
        detail: format!(
            "uid {} gid {}, no capabilities (bounding set empty, securebits locked), no_new_privs",
            nix::unistd::getuid(),
            nix::unistd::getgid()
        ),
    });
    let exec = resolve_program(plan)?;
    enter_profile_on_exec(plan, rep)?;
    let ll = controls.landlock.restrict_self()?;
    rep.send(&Event::Enforced { control: "landlock".into(), detail: ll });
    let filters = controls.filters;
    let count = filters.len();
    // The courier: a thread started before the seccomp filters (which bind only
    // the thread that installs them), so its sendmsg(SCM_RIGHTS) of the listener
    // is not a watched call. It runs only this closure and is joined before exec;
    // it has every other control (landlock, no capabilities, no_new_privs).
    let (handover, parcel) = std::sync::mpsc::channel::<Option<std::os::fd::RawFd>>();
    let courier_sock = sock.try_clone().map_err(step("courier socket"))?;
    let courier = std::thread::spawn(move || -> std::io::Result<()> {
        match parcel.recv() {
            Ok(Some(fd)) => sys::send_fd(courier_sock.as_raw_fd(), fd),
            Ok(None) => (&courier_sock).write_all(b"N"),
            Err(_) => Ok(()), // setup failed before the hand-over
        }
    });
    let mut listener: Option<OwnedFd> = None;
    for (i, f) in filters.iter().enumerate() {
        let wants_listener = plan.observe && i + 1 == count;
        let prog: Vec<libc::sock_filter> =
            f.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        let l = sys::install_seccomp(&prog, wants_listener).map_err(step(format!("install seccomp filter {i}")))?;
        if wants_listener {
            listener = l;
        }
    }
    let classes = plan.denied.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let enosys = seccomp::enosys_calls(&plan.denied).iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
    let enosys = if enosys.is_empty() { String::new() } else { format!("; {enosys} -> ENOSYS (not reported)") };
    rep.send(&Event::Enforced {
        control: "seccomp".into(),
        detail: if plan.observe {
            format!(
                "{count} filters; denied classes [{classes}] reported through user notification{enosys}; x32 and foreign-ABI calls reported (seccomp.abi)"
            )
        } else {
            format!("{count} filters; denied classes [{classes}] -> EPERM, NOT observed (benchmark baseline)")
        },
    });
    rep.send(&Event::Started { pid: std::process::id() as i32 });
    // The hand-over goes through the courier thread: our own sendmsg would now
    // be notified to a listener nobody holds yet.
    let _ = handover.send(listener.as_ref().map(|l| l.as_raw_fd()));
    match courier.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(step("hand over seccomp listener")(e)),
        Err(_) => return Err(SetupError::CourierPanicked),
    }
    // Wait until the init has finished the jail (read-only /proc) before exec.
    let mut go = [0u8; 1];
    match (&*sock).read(&mut go) {
        Ok(1) if go[0] == b'R' => {}
        _ => return Err(SetupError::NotReleased),
    }
    sys::reset_signals();
    Ok(exec)
}

/// With a profile in the plan (`mac.apparmor`), make the task's exec enter
/// it: AppArmor's `change_onexec`, the thread's `exec` attribute written and
/// read back ([`crate::mac::jail::change_onexec`]). The last step that can
/// still write to procfs: landlock, next, refuses it, and the init makes
/// `/proc` read-only before the exec. Nothing between here and the exec runs
/// a program, so the exec this changes is the task's own.
///
/// Refused by the kernel: with `required` the task never runs (a setup
/// failure, exit 1); otherwise it runs without, and the report says why.
fn enter_profile_on_exec(plan: &JailPlan, rep: &mut Reporter) -> Result<(), SetupError> {
    let Some(aa) = &plan.apparmor else { return Ok(()) };
    match crate::mac::jail::change_onexec(&aa.profile) {
        Ok(path) => rep.send(&Event::Mac {
            applied: true,
            detail: format!(
                "the task's exec enters the AppArmor profile {} (change_onexec: `exec {}` written to {} and read back)",
                aa.profile,
                aa.profile,
                path.display()
            ),
        }),
        Err(source) if aa.required => return Err(SetupError::AppArmor { profile: aa.profile.clone(), source }),
        Err(e) => rep.send(&Event::Mac {
            applied: false,
            detail: format!("the kernel refused `exec {}` for the task ({e}); it ran without it", aa.profile),
        }),
    }
    Ok(())
}

/// Enter a nested user namespace where the task is uid/gid 1000 with no
/// capability over the init's namespace (so it can neither signal nor trace it).
/// The task's own user namespace: it is uid and gid 1000, which stand for
/// the init's root (the invoking user) or, with `ids`, for the checkout
/// owner's ids that the host side mapped into the init's namespace.
fn enter_task_userns(ids: Option<(u32, u32)>) -> std::io::Result<()> {
    let (uid, gid) = ids.unwrap_or((0, 0));
    if ids.is_some() {
        // Become those ids here first: a process may map only its own ids
        // into a namespace it creates. Changing ids clears the dumpable flag,
        // which the supervisor's reads of our memory need (see task_setup).
        use nix::unistd::{Gid, Uid, setresgid, setresuid};
        setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))?;
        setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))?;
        sys::set_dumpable()?;
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("1000 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("1000 {gid} 1"))?;
    Ok(())
}

fn apply_rlimits(plan: &JailPlan) -> Result<(), SetupError> {
    use nix::sys::resource::{Resource, setrlimit};
    let r = &plan.rlimits;
    let set = |res: Resource, name: &str, v: Option<u64>| -> Result<(), SetupError> {
        if let Some(v) = v {
            setrlimit(res, v, v).map_err(step(format!("setrlimit {name}={v}")))?;
        }
        Ok(())
    };
    set(Resource::RLIMIT_NOFILE, "NOFILE", r.nofile)?;
    if let Some((soft, hard)) = r.cpu_secs.map(super::plan::cpu_limits) {
        setrlimit(Resource::RLIMIT_CPU, soft, hard).map_err(step(format!("setrlimit CPU={soft}:{hard}")))?;
    }
    set(Resource::RLIMIT_FSIZE, "FSIZE", r.fsize)?;
    set(Resource::RLIMIT_NPROC, "NPROC", r.nproc)?;
    set(Resource::RLIMIT_CORE, "CORE", Some(0))?;
    Ok(())
}

/// RLIMIT_AS (`limits.memory` without a memory cgroup): the last step
/// before the exec, see [`task_main`]. A refusal is a setup failure (the
/// limit is then not in force, so reporting it may allocate).
fn limit_address_space(plan: &JailPlan) -> Result<(), SetupError> {
    use nix::sys::resource::{Resource, setrlimit};
    match plan.rlimits.address_space {
        Some(v) => setrlimit(Resource::RLIMIT_AS, v, v).map_err(step(format!("setrlimit AS={v}"))),
        None => Ok(()),
    }
}

fn cstring(s: &str) -> Result<CString, SetupError> {
    CString::new(s).map_err(|_| SetupError::Nul(s.to_string()))
}

/// Resolve argv\[0\] against the task's PATH (as a shell would) and build exec arguments.
fn resolve_program(plan: &JailPlan) -> Result<sys::PreparedExec, SetupError> {
    let prog = &plan.argv[0];
    let path = if prog.contains('/') {
        PathBuf::from(prog)
    } else {
        let search = plan.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/usr/bin:/bin");
        search
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(prog))
            .find(|p| is_executable(p))
            .unwrap_or_else(|| PathBuf::from(prog))
    };
    let path = cstring(&path.to_string_lossy())?;
    let argv = plan.argv.iter().map(|a| cstring(a)).collect::<Result<Vec<_>, _>>()?;
    let envp = plan.env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<Result<Vec<_>, _>>()?;
    Ok(sys::PreparedExec::new(path, argv, envp))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::plan::AppArmorExec;

    /// A reporter whose events are read back from the other end.
    fn reporter() -> (Reporter, BufReader<UnixStream>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let rep = Reporter { sock: ours.try_clone().unwrap(), reader: BufReader::new(ours) };
        (rep, BufReader::new(theirs))
    }

    #[test]
    fn decimal_writes_an_errno_without_allocating() {
        let mut buf = [0u8; 12];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(12, &mut buf), b"12");
        assert_eq!(decimal(u32::MAX, &mut buf), b"4294967295");
    }

    #[test]
    fn a_profile_the_kernel_refuses_stops_a_required_task_and_is_said_otherwise() {
        // The kernel here has no AppArmor; where one has, this profile is not
        // loaded: either way the real write to the thread's attribute fails.
        let profile = "orchestra-jail-test-never-loaded";
        let mut plan = JailPlan::for_tests();
        plan.apparmor = Some(AppArmorExec { profile: profile.into(), required: true });
        let (mut rep, mut events) = reporter();
        let err = enter_profile_on_exec(&plan, &mut rep).unwrap_err();
        assert!(matches!(err, SetupError::AppArmor { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&format!("mac.apparmor: required, but the kernel refused `exec {profile}`")),
            "{err}"
        );
        plan.apparmor = Some(AppArmorExec { profile: profile.into(), required: false });
        enter_profile_on_exec(&plan, &mut rep).unwrap();
        let mut line = String::new();
        events.read_line(&mut line).unwrap();
        match serde_json::from_str::<Event>(&line).unwrap() {
            Event::Mac { applied, detail } => {
                assert!(!applied);
                assert!(detail.contains(profile) && detail.ends_with("it ran without it"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Without a profile in the plan nothing is asked or said.
        plan.apparmor = None;
        enter_profile_on_exec(&plan, &mut rep).unwrap();
        drop(rep);
        line.clear();
        assert_eq!(events.read_line(&mut line).unwrap(), 0, "{line}");
    }
}
