//! What a backend observed of one task, and the one place that turns it into
//! the [`Report`] and so into the exit code (CONTRACTS.md §2–3).
//!
//! Every backend (the jail with namespaces, the namespace-less jail that is
//! also the in-container supervisor, and the Docker/Podman backends) records
//! facts only in an [`Outcome`] — statuses, the timer that fired, counters,
//! messages — and calls [`build`]. The judgement is made here, once:
//!
//! - **Violations from evidence.** An OOM kill is `limits.memory`, refused
//!   forks are `limits.pids`, and a death by signal is judged by
//!   [`signal_violation`] (unless the signal was our own kill, explained by a
//!   timeout, an interrupt or a violation, or an inner supervisor judged it).
//! - **The cause, in this precedence:**
//!   1. a violation that happened: `policy_denied` (any rule outside
//!      `limits.*`), else `limit_exceeded` — exit 4, whatever else happened
//!      (it proves the task ran);
//!   2. a setup error (the sandbox reported that its setup failed before the
//!      task started): `setup_failed`, exit 1 — nothing ran, so a timeout
//!      that fired meanwhile timed the setup, not the task;
//!   3. a timeout we acted on: `timeout`, exit 3;
//!   4. the task's own end: `ok` (status 0, no signal) or `child_exit` or
//!      `signal` — exit 0 or 2 (an interrupt of orchestra, which kills the
//!      task, is reported as death by that signal);
//!   5. no status, and nothing above to explain it: `setup_failed` (exit 1)
//!      with the backend's reason ([`Outcome::no_status`]).
//! - **Opt-outs** ([`opt_outs`]): what the policy gives up, and what the
//!   backend could not observe.

use super::TaskSpec;
use super::report::{Cause, Control, Report, Violation, now_rfc3339};
use super::rule::Rule;
use crate::policy::{NamespaceMode, Policy, SandboxMode, SupervisorMode};

/// Which timeout fired (the backend killed the task for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// `timeouts.wall`: the wall-clock limit.
    Wall,
    /// `timeouts.no_output`: no output for too long.
    NoOutput,
}

impl TimeoutKind {
    /// The policy key, as the report's `error` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Wall => "timeouts.wall",
            TimeoutKind::NoOutput => "timeouts.no_output",
        }
    }
}

/// Who judges a death by signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// This process saw the task die: a signal is judged here, with the CPU
    /// time the task used when it was measured ([`signal_violation`]).
    Judge(Option<CpuEvidence>),
    /// An inner supervisor saw the task die and judged the signal already
    /// (its violations are among [`Outcome::violations`]).
    Judged,
}

/// What is known about the CPU time limit when a task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuEvidence {
    /// CPU time used by the task (and the descendants reaped before it ended), ms.
    pub used_ms: u64,
    /// RLIMIT_CPU soft limit (SIGXCPU), seconds.
    pub soft_secs: u64,
    /// RLIMIT_CPU hard limit (SIGKILL), seconds.
    pub hard_secs: u64,
}

/// Evidence of the memory limit being hit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Oom {
    /// Processes the OOM killer killed in the task's cgroup.
    pub kills: u64,
    /// The container engine reports the container `OOMKilled`.
    pub engine_reported: bool,
}

/// What the backend could observe (each `false` is reported as an opt-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Denials were observed and reported (false only for the benchmark baseline).
    pub denials: bool,
    /// The container's cgroup (pids events, peak memory) was readable from here.
    pub cgroup: bool,
}

impl Default for Observed {
    fn default() -> Self {
        Observed { denials: true, cgroup: true }
    }
}

/// Everything a backend observed of one task: facts, no judgement.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the task's sandbox was started (RFC 3339).
    pub started_at: String,
    /// Wall time from the start of the sandbox to the end of the task, ms.
    pub wall_ms: u64,
    /// Controls attested by whoever applied them, in order.
    pub enforced: Vec<Control>,
    /// Violations observed while the task ran, in order (the output limit,
    /// the supervisor's denials, an inner supervisor's report).
    pub violations: Vec<Violation>,
    /// The task's exit status, if it exited.
    pub exit_status: Option<i32>,
    /// The signal that killed the task, if one did.
    pub signal: Option<i32>,
    /// Who judges [`Outcome::signal`].
    pub signals: Signals,
    /// The sandbox's setup reported failing before the task started (nothing ran).
    pub setup_error: Option<String>,
    /// Why the status is unknown, said as the setup error when nothing else
    /// explains the end (empty: a generic sentence).
    pub no_status: String,
    /// Another explanation of the end for the report's `error`, after a
    /// setup error and an interrupt (e.g. killed from outside).
    pub note: Option<String>,
    /// The timeout that fired.
    pub timed_out: Option<TimeoutKind>,
    /// orchestra was interrupted by this signal and killed the task.
    pub interrupted: Option<i32>,
    /// Memory limit evidence.
    pub oom: Oom,
    /// Forks refused at the pids limit.
    pub pids_refused: u64,
    /// Bytes of stdout + stderr.
    pub output_bytes: u64,
    /// Peak memory in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// What could be observed.
    pub observed: Observed,
    /// Mandatory access control: applied, or why not.
    pub mac: Option<crate::report::Mac>,
    /// The backend cleared the set-ID bits of every file the task wrote (the
    /// jail's sweeps, `crate::setid`): the workspace diff's backstop is not
    /// needed, and would not know a touched set-ID file from a changed one.
    pub setid_swept: bool,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            started_at: now_rfc3339(),
            wall_ms: 0,
            enforced: Vec::new(),
            violations: Vec::new(),
            exit_status: None,
            signal: None,
            signals: Signals::Judge(None),
            setup_error: None,
            no_status: String::new(),
            note: None,
            timed_out: None,
            interrupted: None,
            oom: Oom::default(),
            pids_refused: 0,
            output_bytes: 0,
            peak_memory_bytes: None,
            observed: Observed::default(),
            mac: None,
            setid_swept: false,
        }
    }
}

/// The report of `task`, run by `backend`, from what was observed (see the
/// module doc for the judgement).
pub fn build(task: &TaskSpec, backend: SandboxMode, o: Outcome) -> Report {
    let policy = &task.policy;
    let limits = &policy.limits;
    let mut violations = o.violations;
    let limit_text = limits.memory.get().map(|b| b.to_string()).unwrap_or_else(|| "unlimited".into());
    if o.oom.engine_reported {
        violations.push(Violation::now(
            Rule::LimitsMemory,
            format!("out of memory: the engine reports OOMKilled at the {limit_text} limit"),
        ));
    } else if o.oom.kills > 0 {
        violations.push(Violation::now(
            Rule::LimitsMemory,
            format!("out of memory: {} process(es) killed at the {limit_text} limit", o.oom.kills),
        ));
    }
    if o.pids_refused > 0 {
        violations.push(Violation::now(
            Rule::LimitsPids,
            format!("{} fork(s) refused at the limit of {} processes", o.pids_refused, limits.pids.get().unwrap_or(0)),
        ));
    }
    if let (Some(sig), Signals::Judge(cpu)) = (o.signal, o.signals)
        // A SIGKILL of ours (timeout, interrupt, a violation) is explained already.
        && !(sig == libc::SIGKILL && (o.timed_out.is_some() || o.interrupted.is_some() || !violations.is_empty()))
        && let Some((rule, detail)) = signal_violation(sig, cpu)
    {
        violations.push(Violation::now(rule, detail));
    }
    let (mut exit_status, mut signal) = (o.exit_status, o.signal);
    let mut interrupted_note = None;
    if let Some(sig) = o.interrupted {
        // We killed the task because we were interrupted: the interrupt is the
        // signal that ended it (a task failure, exit 2).
        exit_status = None;
        signal = Some(sig);
        interrupted_note = Some(format!("orchestra was interrupted by signal {sig} and killed the task"));
    }
    let mut setup_error = o.setup_error;
    let cause = if violations.iter().any(|v| !v.rule.is_limit()) {
        Cause::PolicyDenied
    } else if !violations.is_empty() {
        Cause::LimitExceeded
    } else if setup_error.is_some() {
        Cause::SetupFailed
    } else if o.timed_out.is_some() {
        Cause::Timeout
    } else {
        match (exit_status, signal) {
            (Some(0), None) => Cause::Ok,
            (Some(_), _) => Cause::ChildExit,
            (None, Some(_)) => Cause::Signal,
            (None, None) => {
                setup_error = Some(match o.no_status.is_empty() {
                    true => "the sandbox ended without the task's status".into(),
                    false => o.no_status,
                });
                Cause::SetupFailed
            }
        }
    };
    let error = match cause {
        Cause::Ok => None,
        _ => setup_error
            .or(interrupted_note)
            .or(o.note)
            .or_else(|| o.timed_out.map(|t| format!("{} exceeded", t.as_str()))),
    };
    Report {
        version: 1,
        task: task.name.clone(),
        argv: task.argv.clone(),
        backend: backend.as_str().into(),
        policy: task.policy_origin.clone(),
        policy_sha256: policy.hash(),
        policy_derivation: task.derivation.clone(),
        enforced: o.enforced,
        opt_outs: opt_outs(policy, backend, o.observed),
        mac: o.mac,
        cause,
        verdict: cause.verdict(),
        exit_status,
        signal,
        wall_ms: o.wall_ms,
        peak_memory_bytes: o.peak_memory_bytes,
        output_bytes: o.output_bytes,
        violations,
        error,
        started_at: o.started_at,
        workspace_changes: None,
        setid_swept: o.setid_swept,
    }
}

/// A violation found after the task ended (a canary in a file it wrote),
/// recorded like the others: the cause becomes `policy_denied` (a denial
/// outranks a failure, a timeout and a limit) — unless the task never ran.
pub fn add_violation(report: &mut Report, v: Violation) {
    if report.cause == Cause::SetupFailed {
        return;
    }
    report.violations.push(v);
    report.cause = Cause::PolicyDenied;
    report.verdict = report.cause.verdict();
}

/// The report of a task whose sandbox could not be set up: it never ran.
pub fn setup_failed(task: &TaskSpec, backend: SandboxMode, error: &str) -> Report {
    build(task, backend, Outcome { setup_error: Some(error.to_string()), ..Outcome::default() })
}

/// What the policy explicitly gives up on `backend`, then what the backend
/// could not observe.
pub fn opt_outs(p: &Policy, backend: SandboxMode, observed: Observed) -> Vec<String> {
    let mut v = Vec::new();
    for c in &p.syscalls.allow {
        v.push(format!("syscalls.allow: {}", c.as_str()));
    }
    v.extend(p.network_opt_out());
    for u in &p.filesystem.unprotected {
        v.push(format!("filesystem.unprotected: {u}"));
    }
    match backend {
        SandboxMode::Jail => {
            if p.jail.namespaces == NamespaceMode::Off {
                v.push("jail.namespaces: off".into());
            }
        }
        SandboxMode::Docker | SandboxMode::Podman => {
            if p.container.supervisor == SupervisorMode::Off {
                v.push("container.supervisor: off (denials enforced by the engine, not observed)".into());
            }
        }
    }
    if !p.canaries {
        v.push("canaries: off".into());
    } else if !crate::canary::plants(p) {
        v.push("canaries: off (container.supervisor: off: nothing in the container plants or watches them)".into());
    }
    v.extend(p.unlimited_opt_outs());
    if !observed.denials {
        v.push("observation: off (benchmark baseline; denials are not reported)".into());
    }
    if !observed.cgroup {
        v.push("observation: pids events and peak memory not observed (engine cgroup not readable from here)".into());
    }
    v
}

/// Whether `used_ms` reached a limit of `secs`, with the accounting slack the
/// kernel's check needs: RLIMIT_CPU fires on tick-sampled user+system time,
/// which under contention runs well ahead of the precise time rusage reports
/// (1603 to 1892 ms measured at a 2 s kill on this 2-core VM, 950 ms at a 1 s
/// SIGXCPU). Slack: a quarter of the limit, at least 250 ms.
fn cpu_reached(used_ms: u64, secs: u64) -> bool {
    let limit_ms = secs.saturating_mul(1000);
    used_ms.saturating_add((limit_ms / 4).max(250)) >= limit_ms
}

/// The limit violation a task's death by `signal` proves, if any. The exit
/// status alone cannot tell a signal the kernel sent for a limit from one the
/// task raised itself, so a violation is reported only when the evidence
/// supports it (otherwise the task merely died of a signal: exit 2):
///
/// - SIGXCPU: only if the CPU time used reached the soft limit;
/// - SIGKILL (not ours: no timeout, no other violation): only if the CPU time
///   used reached the hard limit (the kernel's kill at RLIMIT_CPU's maximum);
/// - SIGXFSZ: never from the signal alone; the supervisor reports
///   `limits.disk` when a file the task wrote actually reached the limit;
/// - SIGSYS: never. No filter kills a supervised task (foreign-ABI calls are
///   notified and reported as `seccomp.abi` by the supervisor), so a SIGSYS is
///   one the task raised itself.
pub fn signal_violation(signal: i32, cpu: Option<CpuEvidence>) -> Option<(Rule, String)> {
    let reached = |secs: u64| cpu.map(|c| (cpu_reached(c.used_ms, secs), c));
    match signal {
        libc::SIGXCPU => match cpu.and_then(|c| reached(c.soft_secs)) {
            Some((true, c)) => Some((
                Rule::LimitsCpuTime,
                format!("killed by SIGXCPU at the CPU time limit ({} ms used, limit {} s)", c.used_ms, c.soft_secs),
            )),
            _ => None,
        },
        libc::SIGKILL => match cpu.and_then(|c| reached(c.hard_secs)) {
            Some((true, c)) => Some((
                Rule::LimitsCpuTime,
                format!(
                    "killed at the hard CPU time limit after ignoring SIGXCPU ({} ms used, limit {} s, hard {} s)",
                    c.used_ms, c.soft_secs, c.hard_secs
                ),
            )),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::policy::{ByteSize, Limit};

    fn task(policy: Policy) -> TaskSpec {
        TaskSpec {
            name: "t".into(),
            argv: vec!["prog".into()],
            workdir: "/w".into(),
            policy,
            policy_origin: "preset:test".into(),
            derivation: None,
            protected: Vec::new(),
            in_use: Vec::new(),
            observe: true,
            tty: false,
            canaries: None,
            canary_home: None,
        }
    }

    fn default_task() -> TaskSpec {
        task(crate::policy::load_policy("default").map(|(p, _)| p).unwrap_or_else(|e| panic!("{e}")))
    }

    fn exited(code: i32) -> Outcome {
        Outcome { exit_status: Some(code), ..Outcome::default() }
    }

    fn killed(sig: i32) -> Outcome {
        Outcome { signal: Some(sig), ..Outcome::default() }
    }

    fn denial() -> Violation {
        Violation::now(Rule::FsWrite, "/etc/passwd".into())
    }

    #[test]
    fn the_task_s_own_end() {
        let t = default_task();
        let ok = build(&t, SandboxMode::Jail, exited(0));
        assert_eq!((ok.cause, ok.exit(), ok.error.as_deref()), (Cause::Ok, Exit::Ok, None));
        let failed = build(&t, SandboxMode::Jail, exited(1));
        assert_eq!(
            (failed.cause, failed.exit()),
            (Cause::ChildExit, Exit::Failed),
            "a plain failure is never a violation"
        );
        let sig = build(&t, SandboxMode::Jail, killed(libc::SIGTERM));
        assert_eq!((sig.cause, sig.exit(), sig.signal), (Cause::Signal, Exit::Failed, Some(libc::SIGTERM)));
        assert!(sig.violations.is_empty());
    }

    /// The case the jail and the container backends used to disagree on
    /// (exit 1 vs exit 3): the setup failed, and a timeout fired too.
    #[test]
    fn a_setup_error_with_a_timeout_is_nothing_ran() {
        for backend in [SandboxMode::Jail, SandboxMode::Docker, SandboxMode::Podman] {
            let r = build(
                &default_task(),
                backend,
                Outcome {
                    setup_error: Some("building the jail root: EACCES".into()),
                    timed_out: Some(TimeoutKind::Wall),
                    signal: Some(libc::SIGKILL),
                    ..Outcome::default()
                },
            );
            assert_eq!((r.cause, r.exit()), (Cause::SetupFailed, Exit::Config), "{backend:?}");
            assert_eq!(r.error.as_deref(), Some("building the jail root: EACCES"));
        }
    }

    #[test]
    fn a_violation_is_4_whatever_else_happened() {
        let r = build(
            &default_task(),
            SandboxMode::Docker,
            Outcome {
                violations: vec![denial(), Violation::now(Rule::LimitsOutput, "output exceeded 1KiB".into())],
                setup_error: Some("x".into()),
                timed_out: Some(TimeoutKind::Wall),
                interrupted: Some(libc::SIGINT),
                exit_status: Some(0),
                ..Outcome::default()
            },
        );
        assert_eq!((r.cause, r.exit()), (Cause::PolicyDenied, Exit::Violation));
        let r = build(
            &default_task(),
            SandboxMode::Jail,
            Outcome { timed_out: Some(TimeoutKind::Wall), pids_refused: 3, ..exited(1) },
        );
        assert_eq!((r.cause, r.exit()), (Cause::LimitExceeded, Exit::Violation));
        assert_eq!(r.violations.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::LimitsPids]);
    }

    #[test]
    fn a_timeout_explains_our_kill_and_an_unknown_status() {
        let t = default_task();
        let r = build(&t, SandboxMode::Jail, Outcome { timed_out: Some(TimeoutKind::NoOutput), ..Outcome::default() });
        assert_eq!((r.cause, r.exit()), (Cause::Timeout, Exit::Timeout));
        assert_eq!(r.error.as_deref(), Some("timeouts.no_output exceeded"));
        // Our SIGKILL is not read as the hard CPU limit, whatever the CPU time.
        let cpu = Some(CpuEvidence { used_ms: 9000, soft_secs: 2, hard_secs: 3 });
        let r = build(
            &t,
            SandboxMode::Jail,
            Outcome { timed_out: Some(TimeoutKind::Wall), signals: Signals::Judge(cpu), ..killed(libc::SIGKILL) },
        );
        assert_eq!((r.cause, r.violations.len()), (Cause::Timeout, 0));
    }

    #[test]
    fn no_status_and_nothing_to_explain_it_is_a_setup_failure() {
        let r = build(
            &default_task(),
            SandboxMode::Jail,
            Outcome { no_status: "the jail ended without reporting the task's status".into(), ..Outcome::default() },
        );
        assert_eq!((r.cause, r.exit()), (Cause::SetupFailed, Exit::Config));
        assert_eq!(r.error.as_deref(), Some("the jail ended without reporting the task's status"));
        let r = build(&default_task(), SandboxMode::Podman, Outcome::default());
        assert_eq!(r.error.as_deref(), Some("the sandbox ended without the task's status"));
    }

    #[test]
    fn an_interrupt_is_the_signal_that_ended_the_task() {
        let r = build(
            &default_task(),
            SandboxMode::Docker,
            Outcome {
                interrupted: Some(libc::SIGTERM),
                note: Some("killed from outside".into()),
                no_status: "unknown".into(),
                ..exited(0)
            },
        );
        assert_eq!((r.cause, r.exit(), r.exit_status, r.signal), (Cause::Signal, Exit::Failed, None, Some(15)));
        assert_eq!(r.error.as_deref(), Some("orchestra was interrupted by signal 15 and killed the task"));
    }

    #[test]
    fn the_signal_to_rule_mapping_needs_evidence_and_a_judge() {
        let t = default_task();
        let cpu = |used_ms| Signals::Judge(Some(CpuEvidence { used_ms, soft_secs: 2, hard_secs: 3 }));
        let rules = |o: Outcome| -> Vec<Rule> {
            build(&t, SandboxMode::Jail, o).violations.into_iter().map(|v| v.rule).collect()
        };
        assert_eq!(rules(Outcome { signals: cpu(3000), ..killed(libc::SIGKILL) }), [Rule::LimitsCpuTime]);
        assert!(rules(Outcome { signals: cpu(100), ..killed(libc::SIGKILL) }).is_empty());
        assert!(rules(killed(libc::SIGSYS)).is_empty(), "raised by the task: no filter kills");
        assert_eq!(rules(Outcome { signals: cpu(2500), ..killed(libc::SIGXCPU) }), [Rule::LimitsCpuTime]);
        assert!(rules(Outcome { signals: Signals::Judged, ..killed(libc::SIGXCPU) }).is_empty(), "judged inside");
        // An OOM kill is limits.memory, and its SIGKILL is not also the CPU limit.
        let oom =
            Outcome { oom: Oom { kills: 2, engine_reported: false }, signals: cpu(3000), ..killed(libc::SIGKILL) };
        assert_eq!(rules(oom), [Rule::LimitsMemory]);
        let r = build(&t, SandboxMode::Docker, Outcome { oom: Oom { kills: 0, engine_reported: true }, ..exited(137) });
        assert_eq!((r.cause, r.violations[0].rule), (Cause::LimitExceeded, Rule::LimitsMemory));
        assert!(r.violations[0].detail.contains("engine reports OOMKilled"));
    }

    #[test]
    fn opt_outs_follow_the_policy_and_the_backend() {
        let mut p = default_task().policy;
        p.jail.namespaces = NamespaceMode::Off;
        p.container.supervisor = SupervisorMode::Off;
        p.limits.memory = Limit::Max(ByteSize(1 << 30));
        let jail = opt_outs(&p, SandboxMode::Jail, Observed { denials: false, cgroup: true });
        assert!(jail.contains(&"jail.namespaces: off".to_string()), "{jail:?}");
        assert!(jail.iter().any(|o| o.starts_with("observation: off")));
        assert!(!jail.iter().any(|o| o.starts_with("container.supervisor")));
        assert!(!jail.contains(&"limits.memory: unlimited".to_string()));
        let docker = opt_outs(&p, SandboxMode::Docker, Observed { denials: true, cgroup: false });
        assert!(docker.iter().any(|o| o.starts_with("container.supervisor: off")), "{docker:?}");
        assert!(docker.iter().any(|o| o.starts_with("observation: pids events")));
        assert!(!docker.contains(&"jail.namespaces: off".to_string()));
        // Canaries: off by the policy on every backend; without the container's
        // supervisor nothing plants them, and that is said too.
        p.sandbox_mode = SandboxMode::Docker;
        assert!(
            opt_outs(&p, SandboxMode::Docker, Observed::default()).iter().any(|o| o.starts_with("canaries: off ("))
        );
        p.container.supervisor = SupervisorMode::Required;
        assert!(!opt_outs(&p, SandboxMode::Docker, Observed::default()).iter().any(|o| o.starts_with("canaries")));
        p.canaries = false;
        for backend in [SandboxMode::Jail, SandboxMode::Docker, SandboxMode::Podman] {
            assert!(opt_outs(&p, backend, Observed::default()).contains(&"canaries: off".to_string()), "{backend:?}");
        }
    }

    #[test]
    fn a_setup_failed_report_says_why() {
        let r = setup_failed(&default_task(), SandboxMode::Jail, "no landlock");
        assert_eq!(
            (r.cause, r.exit(), r.error.as_deref(), r.backend.as_str()),
            (Cause::SetupFailed, Exit::Config, Some("no landlock"), "jail")
        );
    }

    #[test]
    fn a_limit_signal_is_a_violation_only_with_evidence() {
        let cpu = |used_ms| Some(CpuEvidence { used_ms, soft_secs: 2, hard_secs: 3 });
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(2010)).map(|v| v.0), Some(Rule::LimitsCpuTime));
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(1500)).map(|v| v.0), Some(Rule::LimitsCpuTime), "tick slack");
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(1400)), None);
        assert_eq!(signal_violation(libc::SIGXCPU, cpu(3)), None, "raised by the task itself");
        assert_eq!(signal_violation(libc::SIGXCPU, None), None, "no CPU limit, no usage");
        assert_eq!(signal_violation(libc::SIGKILL, cpu(3000)).map(|v| v.0), Some(Rule::LimitsCpuTime));
        assert_eq!(signal_violation(libc::SIGKILL, cpu(2250)).map(|v| v.0), Some(Rule::LimitsCpuTime));
        assert_eq!(signal_violation(libc::SIGKILL, cpu(2000)), None, "below the hard limit's slack");
        assert_eq!(signal_violation(libc::SIGXFSZ, cpu(9000)), None, "the supervisor judges files");
        assert_eq!(signal_violation(libc::SIGTERM, cpu(9000)), None);
        assert_eq!(signal_violation(libc::SIGSYS, cpu(9000)), None, "raised by the task: no filter kills");
    }
}
