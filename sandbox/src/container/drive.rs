//! Driving a created container to its end: attest it, attach to it
//! (unsupervised), start it, then relay its output, enforce the wall and
//! no-output timeouts, the output limit and the pids rule, pass our own
//! interruption on, and learn how it ended.
//!
//! Two halves. [`Machine`] makes every decision after the start and does no
//! I/O: it takes [`Event`]s (a chunk of output, the output's end, a deadline,
//! the init's exit, an engine's answer, a cgroup sample, a signal, a kill
//! done) with the time they happened, returns [`Action`]s (relay so much of
//! the chunk, kill, sample the cgroup, ask the engine, await the end, log),
//! and says what to wait for next ([`Waits`]); once it is over, it concludes
//! the end state ([`Machine::conclude`], [`Machine::conclude_inspected`]).
//! [`drive`] is the thin async half: it waits on the engine, the kernel and
//! tokio as told, turns what happens into events and performs the actions.
//!
//! The phases ([`Phase`]): `Running`, until our kill (`Stopping`), our
//! order to the in-container supervisor to stop the task (`Asked`, at a
//! timeout, supervised: `Stopping` once its grace runs out), or until the
//! container is known to have ended (`Exited`, from any of them); `Exited`
//! until the rest of the output is relayed (`Over`). When the wait for the
//! end or the rest runs out (its bound, below) before the end is known:
//! `Reaping` (killed, its end awaited once more), then `Over`.
//!
//! Guarantees:
//! - The output is relayed completely and in order up to the output limit,
//!   never beyond it; the supervisor's FIFOs are read to their last byte once
//!   every writer is gone (the init has exited, or the container ended).
//! - One kill of ours is explained, by its first cause (the wall or
//!   no-output timeout, the output limit, forks refused at the pids limit
//!   under `on_violation: kill`, our interruption), recorded once; the
//!   timeouts and signals hold until then, even after the container ended.
//! - Supervised, the wall and no-output timeouts first give the in-container
//!   supervisor the jail's own `stop` (SIGTERM to the container's init, which
//!   the jail takes as its host side's interrupt: the init kills the task,
//!   makes its final checks and reports), and kill the container only when it
//!   has not ended [`ASKED_GRACE`] (3 s) later: the supervisor's own grace to
//!   its init ([`STOP_GRACE`], 1 s), then as long again to kill it and write
//!   the report, and a margin. A hidden-path or canary read just before the
//!   deadline is reported; a violation judged before our kill is never lost
//!   (the supervisor streams each as it judges it, beside its report).
//! - Once the end is known, the wait for the rest of the output is bounded
//!   (2 s); so is the wait for the end once the init has exited, or once we
//!   killed with only libpod's wait to tell (10 s). Past the bound the
//!   container is killed and its end awaited once more (libpod's wait for
//!   at most 10 s).
//! - The status comes from the best evidence at hand: libpod's wait or the
//!   supervisor's report when the cgroup was watched (its counters tell the
//!   OOM kills), else the engine's state; an engine error after our own kill
//!   is the kill's doing (a note), before it a setup error.

use super::observe::{CgroupWatch, InitExit};
use super::{EndState, Run, attest, engine, output};
use crate::jail::init::STOP_GRACE;
use crate::outcome::TimeoutKind;
use crate::policy::{ByteSize, OnViolation, SandboxMode};
use crate::rule::Rule;
use crate::{SandboxError, TaskSpec};
use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{AttachContainerOptions, InspectContainerOptions, KillContainerOptions};
use futures_util::{Stream, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// How long the rest of the output may take once the end is known.
const REST_AFTER_EXIT: Duration = Duration::from_secs(2);
/// How long the end may take to be known once the init has exited, or once
/// we killed with only libpod's wait to tell; and libpod's last wait.
const END_AFTER_INIT: Duration = Duration::from_secs(10);
/// How long the in-container supervisor has, once ordered to stop the task
/// (a timeout), before the container is killed: its own grace to its init
/// ([`STOP_GRACE`]), as long again to kill the init and write its report,
/// and a margin. Strictly longer than the inner grace, so a task whose final
/// checks outlast it still has its report written.
pub(super) const ASKED_GRACE: Duration = STOP_GRACE.saturating_mul(2).saturating_add(Duration::from_secs(1));
/// How often the cgroup is sampled: often enough to read the counters before
/// the engine removes the cgroup.
const TICK: Duration = Duration::from_millis(20);

/// Why we killed the container: its first cause (there is never a second
/// kill of ours to explain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// `timeouts.wall`.
    Wall,
    /// `timeouts.no_output`.
    NoOutput,
    /// `limits.output` (`limit` bytes) was exceeded.
    Output {
        /// The limit.
        limit: u64,
    },
    /// Forks were refused at the pids limit, with `on_violation: kill`.
    Pids,
    /// We received this signal (SIGINT, SIGTERM or SIGHUP).
    Signal(i32),
}

/// Where the drive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Started; not known to have ended; not killed by us.
    Running,
    /// Killed by us (`why`); not yet known to have ended.
    Stopping {
        /// The kill's cause.
        why: Stop,
    },
    /// The supervisor was ordered to stop the task (`why`, a timeout); not yet
    /// known to have ended; killed at `until` if it has not.
    Asked {
        /// The order's cause.
        why: Stop,
        /// When its grace ends ([`ASKED_GRACE`] after the order).
        until: Instant,
    },
    /// Known to have ended (after our kill, if `killed`); the rest of its
    /// output is still relayed.
    Exited {
        /// Our kill's cause, if we killed it (before or after its end).
        killed: Option<Stop>,
    },
    /// The wait ran out before the end was known: killed (the cause is not
    /// recorded), its end awaited once more.
    Reaping {
        /// Our kill's cause, if we had killed it before.
        killed: Option<Stop>,
    },
    /// The drive is over; what remains is to conclude.
    Over {
        /// Our kill's cause, if we killed it (not the last kill of `Reaping`).
        killed: Option<Stop>,
    },
}

/// The container's init as the kernel shows it (a pidfd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Init {
    /// Not visible from here: the engine says when the container ended.
    Unknown,
    /// Watched, and not seen to exit yet.
    Alive,
    /// It has exited (and the supervisor, if any, reported first).
    Exited,
}

/// Libpod's wait (unsupervised on a local Podman), which gives the status
/// without waiting for Podman's late `exited` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Libpod {
    /// Not used.
    Off,
    /// Asked, not answered.
    Waiting,
    /// Answered with this status.
    Answered(i64),
    /// Failed, or gave no answer in time.
    Failed,
}

/// The output source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// More may come.
    Open,
    /// Over: closed by the engine, or the FIFOs drained.
    Closed,
}

/// What holds for the whole drive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts {
    /// The output comes from the supervisor's FIFOs, which never end by
    /// themselves (else from the engine's attach stream, which does).
    pub fifos: bool,
    /// The kernel shows the container's init: its exit is an event.
    pub init_known: bool,
    /// The container's cgroup counters are read.
    pub watched: bool,
    /// Libpod's wait gives the status (unsupervised on a local Podman).
    pub libpod: bool,
    /// The container's init is the supervisor, which takes SIGTERM as the
    /// jail's `stop`: a timeout orders it first ([`Action::Ask`]).
    pub stop_order: bool,
    /// The engine removes the container once it stops (AutoRemove).
    pub auto_remove: bool,
    /// The wall-clock deadline, if any.
    pub wall: Option<Instant>,
    /// The no-output timeout, if any.
    pub no_output: Option<Duration>,
    /// The output limit in bytes, if any.
    pub output_limit: Option<u64>,
    /// `on_violation: kill`: forks refused at the pids limit kill the task.
    pub kill_on_pids: bool,
    /// When the drive began (the first second is polled more often).
    pub t0: Instant,
}

/// What happened, as the driver tells the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// A chunk of output of `len` bytes arrived (the chunk in hand).
    Output {
        /// Its length.
        len: usize,
    },
    /// A chunk of `len` bytes was left in the FIFOs after the end (the chunk
    /// in hand): relayed like any other, but no sign of life.
    Leftover {
        /// Its length.
        len: usize,
    },
    /// The FIFOs were read to their end ([`Machine::drain_due`]).
    Drained,
    /// The output source ended (the attach stream closed, a FIFO read
    /// failed); `reported`: the supervisor's report is there.
    OutputClosed {
        /// The supervisor's report is there.
        reported: bool,
    },
    /// The kernel says the init has exited; `reported`: the supervisor's
    /// report is there.
    InitExited {
        /// The supervisor's report is there.
        reported: bool,
    },
    /// Libpod's wait answered with the status.
    LibpodExited(i64),
    /// Libpod's wait failed (the engine is asked the usual way).
    LibpodFailed,
    /// The engine's wait answered, however (a non-zero exit arrives as an
    /// error; the engine's state tells the status at the end).
    WaitAnswered,
    /// The wall deadline passed.
    WallDeadline,
    /// The no-output deadline passed.
    QuietDeadline,
    /// The bounded wait for the end or the rest of the output ran out.
    RestDeadline,
    /// The supervisor's grace after our order to stop ran out.
    GraceDeadline,
    /// Time to look again whether it ended; `reported`: the supervisor's
    /// report is there.
    Poll {
        /// The supervisor's report is there.
        reported: bool,
    },
    /// The engine's answer to [`Action::Inspect`].
    Inspected(Inspection),
    /// The cgroup was sampled; `pids_refused`: forks have been refused at the
    /// pids limit.
    Tick {
        /// Forks have been refused at the pids limit.
        pids_refused: bool,
    },
    /// We received this signal.
    Signal(i32),
    /// A kill ([`Action::Stop`], [`Action::Kill`]) was sent, whatever the
    /// engine answered.
    KillDone,
    /// The end awaited by [`Action::AwaitEnd`] came; `libpod`: the status,
    /// when that was libpod's wait and it answered in time.
    Reaped {
        /// Libpod's status.
        libpod: Option<i64>,
    },
}

/// The engine's account of the container's state, asked on a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inspection {
    /// Not running, and not merely created: it has ended.
    Ended,
    /// No such container (the engine removed it, AutoRemove): it has ended,
    /// and what is known of how stands.
    Gone,
    /// Still running, caught mid-transition (Podman's `stopped`, which
    /// bollard does not know), or a transient error: ask again.
    Unsettled,
}

/// What the driver is to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Relay the first `take` bytes of the chunk in hand (the rest is over the
    /// output limit).
    Relay {
        /// How many bytes.
        take: usize,
    },
    /// Kill the container, record why (→ [`Event::KillDone`]).
    Stop(Stop),
    /// Order the supervisor to stop the task (SIGTERM to the container's
    /// init), record why; the container is left running for its grace.
    Ask(Stop),
    /// Kill the container, recording nothing (→ [`Event::KillDone`]).
    Kill,
    /// Read the cgroup's counters now.
    Sample,
    /// Ask the engine the container's state (→ [`Event::Inspected`]).
    Inspect,
    /// Await the end after the last kill (→ [`Event::Reaped`]).
    AwaitEnd(Via),
    /// Log `container: {0}` (debug).
    Trace(&'static str),
}

/// Whose word ends the last wait ([`Action::AwaitEnd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// The kernel's: the init's exit.
    Init,
    /// Libpod's wait, for at most 10 s.
    Libpod,
    /// The engine's wait.
    Engine,
}

/// What the driver waits for next; everything else is not listened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Waits {
    /// The next chunk of output, or its end.
    pub output: bool,
    /// The init's exit.
    pub init: bool,
    /// Libpod's wait.
    pub libpod: bool,
    /// The engine's wait.
    pub engine_wait: bool,
    /// The wall deadline.
    pub wall: Option<Instant>,
    /// The no-output deadline.
    pub quiet: Option<Instant>,
    /// The end of the bounded wait for the end or the rest of the output.
    pub rest: Option<Instant>,
    /// The end of the supervisor's grace after our order to stop.
    pub grace: Option<Instant>,
    /// Look again whether it ended at this instant (one poll every 5 ms in
    /// the first second, every 50 ms after, counted from the last poll: a
    /// deadline, not a sleep that every other wake-up would start again).
    pub poll: Option<Instant>,
    /// Sample the cgroup ([`TICK`]).
    pub tick: bool,
    /// Our SIGINT, SIGTERM and SIGHUP.
    pub signals: bool,
}

/// The engine's error for a run it could not complete (`State.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EngineFault {
    /// After our own kill (a timeout, an interrupt, a limit): the kill's
    /// doing, a note.
    AfterKill(String),
    /// The engine could not run the task: a setup error.
    Setup(String),
}

/// Why driving the container failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum DriveError {
    /// Attaching to its output failed.
    #[error("attaching to the container: {0}")]
    Attach(bollard::errors::Error),
    /// Starting it failed.
    #[error("starting the container: {0}")]
    Start(bollard::errors::Error),
    /// Our signal handlers could not be installed.
    #[error("signal handler: {0}")]
    Signals(std::io::Error),
    /// The engine's state at the end was needed and could not be had.
    #[error("inspecting the ended container: {0}")]
    InspectEnded(bollard::errors::Error),
}

impl From<DriveError> for SandboxError {
    fn from(e: DriveError) -> Self {
        SandboxError::Setup(e.to_string())
    }
}

/// The decisions of the drive, after the start (see the module doc).
#[derive(Debug, Clone)]
pub(super) struct Machine {
    facts: Facts,
    phase: Phase,
    init: Init,
    libpod: Libpod,
    output: Flow,
    /// The end of the bounded wait for the end or the rest of the output.
    rest_by: Option<Instant>,
    /// When the last chunk arrived (or the start).
    last_output: Instant,
    /// When the engine was last polled (or the start).
    last_poll: Instant,
    /// Bytes of output seen, relayed or not.
    output_bytes: u64,
}

impl Machine {
    /// A container started at `now`.
    pub fn new(facts: Facts, now: Instant) -> Machine {
        Machine {
            facts,
            phase: Phase::Running,
            init: if facts.init_known { Init::Alive } else { Init::Unknown },
            libpod: if facts.libpod { Libpod::Waiting } else { Libpod::Off },
            output: Flow::Open,
            rest_by: None,
            last_output: now,
            last_poll: now,
            output_bytes: 0,
        }
    }

    /// Bytes of output the task wrote, relayed or not.
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    /// Whether events are still awaited (not yet over, nor reaping).
    pub fn live(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Stopping { .. } | Phase::Asked { .. } | Phase::Exited { .. })
    }

    fn exited(&self) -> bool {
        matches!(self.phase, Phase::Exited { .. })
    }

    /// Our kill's cause, if we killed the container.
    pub fn killed(&self) -> Option<Stop> {
        match self.phase {
            Phase::Running => None,
            Phase::Stopping { why } | Phase::Asked { why, .. } => Some(why),
            Phase::Exited { killed } | Phase::Reaping { killed } | Phase::Over { killed } => killed,
        }
    }

    /// Whether the FIFOs are to be read to their end now: every writer is
    /// gone (the init has exited, or the container ended). The driver then
    /// reports each chunk ([`Event::Leftover`]), then [`Event::Drained`].
    pub fn drain_due(&self) -> bool {
        self.live() && self.output == Flow::Open && self.facts.fifos && (self.init == Init::Exited || self.exited())
    }

    /// What to wait for next, at `now`.
    pub fn waits(&self, now: Instant) -> Waits {
        if !self.live() {
            return Waits::default();
        }
        let exited = self.exited();
        let killed = self.killed().is_some();
        let open = self.output == Flow::Open;
        let libpod = self.libpod == Libpod::Waiting;
        // Every 5 ms for the first second, every 50 ms after (a long task).
        let every = if now.saturating_duration_since(self.facts.t0) < Duration::from_secs(1) { 5 } else { 50 };
        Waits {
            output: open,
            init: self.init == Init::Alive,
            libpod: libpod && !exited,
            // With the init watched, the kernel says when it ended: no need to
            // hold a wait request open in the engine.
            engine_wait: !exited && self.init == Init::Unknown && !libpod,
            // The task's time ends when it does: reading the rest of its output
            // afterwards is ours, and no deadline may turn its end into a timeout.
            wall: self.facts.wall.filter(|_| !killed && !exited),
            quiet: self.facts.no_output.filter(|_| !killed && !exited).map(|n| self.last_output + n),
            rest: self.rest_by,
            grace: match self.phase {
                Phase::Asked { until, .. } => Some(until),
                _ => None,
            },
            // The output closed: the task has almost surely exited. Podman's
            // wait endpoint polls slowly (hundreds of ms), so ask the state
            // directly. Supervised with the init unknown (it exited before it
            // could be watched: a task of a few ms), the output never closes
            // by itself: the supervisor's report, written just before it
            // exits, says so.
            poll: (!exited && self.init != Init::Alive && (!open || self.facts.fifos))
                .then(|| self.last_poll + Duration::from_millis(every)),
            tick: self.facts.watched && !exited,
            signals: !killed,
        }
    }

    /// Take `event`, which happened at `now`; the actions, in order.
    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        match self.phase {
            Phase::Running | Phase::Stopping { .. } | Phase::Asked { .. } | Phase::Exited { .. } => {
                self.live_step(event, now, &mut acts)
            }
            Phase::Reaping { .. } => self.reaping_step(event, &mut acts),
            Phase::Over { .. } => {}
        }
        acts
    }

    fn live_step(&mut self, event: Event, now: Instant, acts: &mut Vec<Action>) {
        match event {
            Event::Output { len } => {
                self.last_output = now;
                self.relay(len, acts);
            }
            Event::Leftover { len } => self.relay(len, acts),
            Event::Drained => self.output = Flow::Closed,
            Event::OutputClosed { reported } => {
                self.output = Flow::Closed;
                acts.push(Action::Trace("output closed"));
                // The supervisor reports just before it exits: usually done by now.
                if self.init == Init::Unknown && reported {
                    self.exit();
                }
            }
            // The init (the supervisor) has exited; it reported first.
            // Without a report the engine's state has the exit status.
            Event::InitExited { reported } => {
                self.init = Init::Exited;
                // Read the cgroup's counters before the engine removes it (an
                // OOM kill of a supervisor that could not report shows only there).
                acts.extend([Action::Trace("init exited"), Action::Sample]);
                // The attach stream and the engine's state (unsupervised)
                // follow soon after; bound the wait should the engine never
                // close it.
                self.rest_by.get_or_insert(now + END_AFTER_INIT);
                // Reported, or killed by us (the cause is ours: a limit, a
                // timeout, an interrupt): nothing more to learn from the engine.
                if !self.exited() && (self.killed().is_some() || reported) {
                    self.exit();
                    self.rest_by = Some(now + REST_AFTER_EXIT);
                }
            }
            Event::LibpodExited(code) => {
                self.libpod = Libpod::Answered(code);
                self.exit();
                acts.push(Action::Trace("libpod wait answered"));
                self.rest_by = Some(now + REST_AFTER_EXIT);
            }
            Event::LibpodFailed => self.libpod = Libpod::Failed,
            Event::WaitAnswered => {
                self.exit();
                self.rest_by = Some(now + REST_AFTER_EXIT);
            }
            Event::WallDeadline => self.stop_timed_out(Stop::Wall, now, acts),
            Event::QuietDeadline => self.stop_timed_out(Stop::NoOutput, now, acts),
            Event::RestDeadline => self.give_up(acts),
            // The supervisor did not end within its grace: killed, as before the order.
            Event::GraceDeadline => {
                if let Phase::Asked { why, .. } = self.phase {
                    self.phase = Phase::Stopping { why };
                    acts.extend([Action::Trace("the supervisor did not end within its stop grace"), Action::Kill]);
                }
            }
            Event::Poll { reported } => {
                self.last_poll = now;
                if self.init == Init::Unknown && reported {
                    self.exit();
                    acts.push(Action::Trace("supervisor report seen"));
                } else if self.output == Flow::Closed && self.libpod != Libpod::Waiting {
                    acts.push(Action::Inspect);
                }
            }
            Event::Inspected(Inspection::Ended | Inspection::Gone) => self.exit(),
            Event::Inspected(Inspection::Unsettled) => {}
            Event::Tick { pids_refused } => {
                if pids_refused && self.facts.kill_on_pids {
                    self.stop(Stop::Pids, acts);
                }
            }
            Event::Signal(sig) => self.stop(Stop::Signal(sig), acts),
            // Killed, with only libpod's wait to say when it ended: bound the wait.
            Event::KillDone => {
                if self.killed().is_some() && self.libpod == Libpod::Waiting && self.rest_by.is_none() {
                    self.rest_by = Some(now + END_AFTER_INIT);
                }
            }
            Event::Reaped { .. } => {}
        }
        // Ended, and its output over: nothing more to wait for.
        if self.exited() && self.output == Flow::Closed {
            self.phase = Phase::Over { killed: self.killed() };
            acts.push(Action::Sample);
        }
    }

    fn reaping_step(&mut self, event: Event, acts: &mut Vec<Action>) {
        match event {
            Event::KillDone => acts.push(Action::AwaitEnd(self.via())),
            Event::Reaped { libpod } => {
                match self.via() {
                    Via::Init => self.init = Init::Exited,
                    Via::Libpod => self.libpod = libpod.map_or(Libpod::Failed, Libpod::Answered),
                    Via::Engine => {}
                }
                self.phase = Phase::Over { killed: self.killed() };
            }
            _ => {}
        }
    }

    /// Whose word the last wait takes.
    fn via(&self) -> Via {
        match (self.init, self.libpod) {
            (Init::Alive | Init::Exited, _) => Via::Init,
            (Init::Unknown, Libpod::Waiting) => Via::Libpod,
            (Init::Unknown, _) => Via::Engine,
        }
    }

    /// A chunk of `len` bytes: relayed up to the output limit; past it, the
    /// container is killed (unless we already did).
    fn relay(&mut self, len: usize, acts: &mut Vec<Action>) {
        let take = match self.facts.output_limit {
            Some(lim) => (lim.saturating_sub(self.output_bytes) as usize).min(len),
            None => len,
        };
        self.output_bytes += len as u64;
        acts.push(Action::Relay { take });
        if take < len {
            self.stop(Stop::Output { limit: self.facts.output_limit.unwrap_or(0) }, acts);
        }
    }

    /// Kill for `why`, unless we already killed.
    fn stop(&mut self, why: Stop, acts: &mut Vec<Action>) {
        let next = match self.phase {
            Phase::Running => Phase::Stopping { why },
            Phase::Exited { killed: None } => Phase::Exited { killed: Some(why) },
            _ => return,
        };
        self.phase = next;
        acts.push(Action::Stop(why));
    }

    /// A timeout (`why`): supervised, the supervisor is ordered to stop the
    /// task first (it makes its final checks), and killed after its grace;
    /// otherwise killed at once.
    fn stop_timed_out(&mut self, why: Stop, now: Instant, acts: &mut Vec<Action>) {
        if !(self.facts.stop_order && self.phase == Phase::Running) {
            return self.stop(why, acts);
        }
        self.phase = Phase::Asked { why, until: now + ASKED_GRACE };
        acts.push(Action::Ask(why));
    }

    /// The container is known to have ended.
    fn exit(&mut self) {
        match self.phase {
            Phase::Running => self.phase = Phase::Exited { killed: None },
            Phase::Stopping { why } | Phase::Asked { why, .. } => self.phase = Phase::Exited { killed: Some(why) },
            _ => {}
        }
    }

    /// The bounded wait ran out: over if the end is known (the rest of the
    /// output is dropped), else kill and await the end once more.
    fn give_up(&mut self, acts: &mut Vec<Action>) {
        acts.push(Action::Sample);
        let killed = self.killed();
        if self.exited() {
            self.phase = Phase::Over { killed };
        } else {
            self.phase = Phase::Reaping { killed };
            acts.push(Action::Kill);
        }
    }

    /// Whether the engine removes the container itself: AutoRemove, and its
    /// init has exited (nothing of the task is left in it).
    pub fn engine_removes(&self) -> bool {
        self.facts.auto_remove && self.init == Init::Exited
    }

    /// Once over: the end state from what is known (`reported`: the
    /// supervisor's report is there), or `None` when the engine's state is
    /// needed ([`Machine::conclude_inspected`]).
    pub fn conclude(&self, reported: bool) -> Option<EndState> {
        let engine_removes = self.engine_removes();
        // Podman's libpod wait gave the status; its inspect would wait on the
        // clean-up, and it never sets OOMKilled: the cgroup counters say it,
        // when they were watched (otherwise inspect, for its state and error).
        if let Libpod::Answered(code) = self.libpod
            && self.facts.watched
        {
            return Some(EndState { exit_code: Some(code), oom_killed: false, engine_removes });
        }
        // The supervisor's report has the status, the cgroup the OOM kills:
        // the engine has nothing to add.
        if reported && self.facts.watched {
            return Some(EndState { exit_code: None, oom_killed: false, engine_removes });
        }
        None
    }

    /// Once over, when [`Machine::conclude`] had no answer: the end state
    /// from the engine's state (`inspected`), and its error, if it had one.
    pub fn conclude_inspected(
        &self,
        reported: bool,
        inspected: Result<ContainerInspectResponse, bollard::errors::Error>,
    ) -> Result<(EndState, Option<EngineFault>), DriveError> {
        let engine_removes = self.engine_removes();
        let libpod_code = match self.libpod {
            Libpod::Answered(code) => Some(code),
            _ => None,
        };
        let info = match inspected {
            Ok(i) => i,
            // Caught mid-transition (Podman reports a `stopped` state bollard
            // does not know), or already removed (AutoRemove): the
            // supervisor's report, our own kill, or libpod's wait says how the
            // task ended.
            Err(_) if reported || self.facts.auto_remove || libpod_code.is_some() => {
                return Ok((EndState { exit_code: libpod_code, oom_killed: false, engine_removes }, None));
            }
            Err(e) => return Err(DriveError::InspectEnded(e)),
        };
        let state = info.state.unwrap_or_default();
        let fault = state.error.filter(|e| !e.is_empty()).map(|err| {
            let err = format!("the engine could not run the task: {err}");
            // After our own kill (a timeout, an interrupt, a limit) an engine
            // error is the kill's doing, not a setup that failed before the
            // task ran.
            if self.killed().is_some() { EngineFault::AfterKill(err) } else { EngineFault::Setup(err) }
        });
        let end = EndState {
            exit_code: libpod_code.or(state.exit_code),
            oom_killed: state.oom_killed.unwrap_or(false),
            engine_removes,
        };
        Ok((end, fault))
    }
}

/// The engine's answer to a poll, as the machine reads it.
fn inspection(answer: Result<ContainerInspectResponse, bollard::errors::Error>) -> Inspection {
    match answer {
        Ok(i) => match i.state {
            Some(st)
                if st.running == Some(false)
                    && st.status != Some(bollard::models::ContainerStateStatusEnum::CREATED) =>
            {
                Inspection::Ended
            }
            _ => Inspection::Unsettled,
        },
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Inspection::Gone,
        Err(_) => Inspection::Unsettled,
    }
}

/// Log `container: {what}` with the milliseconds since `t0` (debug, under
/// the backend's target).
fn trace(t0: Instant, what: &str) {
    tracing::debug!(target: super::TRACE_TARGET, ms = t0.elapsed().as_secs_f64() * 1e3, "container: {what}");
}

/// SIGKILL the container, whatever the engine answers.
async fn kill(api: &Docker, id: &str) {
    let _ = api.kill_container(id, Some(KillContainerOptions { signal: "SIGKILL".into() })).await;
}

/// The jail's `stop` for the in-container supervisor: SIGTERM to the
/// container's init, whatever the engine answers (a container that already
/// ended says so by the usual events).
async fn order_stop(api: &Docker, id: &str) {
    let _ = api.kill_container(id, Some(KillContainerOptions { signal: "SIGTERM".into() })).await;
}

/// Whether the supervisor's report is there.
fn reported(inner_report: Option<&Path>) -> bool {
    inner_report.is_some_and(Path::exists)
}

/// The started container, as watched from here.
struct Started {
    output: output::Output,
    watch: Option<CgroupWatch>,
    init: InitExit,
    auto_remove: bool,
}

/// Attest, attach (without the FIFOs), start, and find the init and the
/// cgroup to watch.
async fn start(
    engine: &engine::Engine,
    id: &str,
    task: &TaskSpec,
    run: &mut Run,
    fifos: Option<[tokio::io::unix::AsyncFd<std::fs::File>; 2]>,
    inspected: Option<ContainerInspectResponse>,
    t0: Instant,
) -> Result<Started, SandboxError> {
    let api = &engine.api;
    // A pre-initialised container (the pool, on Podman) already has its init
    // process, waiting for `start`: watched from before it runs, so that even a
    // task of a few milliseconds cannot end before it is watched.
    let early_pid = inspected.as_ref().and_then(|i| i.state.as_ref()?.pid).filter(|p| *p > 0);
    let early = early_pid.map(|p| (CgroupWatch::open(p), InitExit::open(p, id))).filter(|(_, init)| init.known());
    let (enforced, auto_remove, mac) = attest(api, id, task, inspected).await?;
    run.enforced = enforced;
    run.mac = Some(mac);
    trace(t0, "attested");
    let output = match fifos {
        Some(f) => output::Output::Fifos(f),
        None => {
            let attach = AttachContainerOptions { stream: true, stdout: true, stderr: true, ..Default::default() };
            let stream = api.attach_container(id, Some(attach)).await.map_err(DriveError::Attach)?.output;
            trace(t0, "attached");
            output::Output::Attach(stream)
        }
    };
    api.start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(DriveError::Start)?;
    trace(t0, "started");
    let (watch, init) = match early {
        Some(early) => early,
        None => {
            let init_pid = api
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .ok()
                .and_then(|i| i.state?.pid)
                .filter(|p| *p > 0);
            let watch = init_pid.and_then(CgroupWatch::open);
            (watch, init_pid.map_or(InitExit::Unknown, |p| InitExit::open(p, id)))
        }
    };
    run.observed_cgroup = watch.is_some();
    trace(t0, "cgroup found");
    Ok(Started { output, watch, init, auto_remove })
}

/// Our SIGINT, SIGTERM and SIGHUP, passed on to the container as a kill.
fn signals() -> Result<[tokio::signal::unix::Signal; 3], DriveError> {
    use tokio::signal::unix::{SignalKind, signal};
    let [a, b, c] = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()].map(signal);
    Ok([a.map_err(DriveError::Signals)?, b.map_err(DriveError::Signals)?, c.map_err(DriveError::Signals)?])
}

/// Drive container `id`, created and not started, to its end (see the
/// module doc) and say how it ended.
///
/// `inner_report`: where the supervisor writes its report (supervised mode).
/// It writes it just before it exits, so once the output has closed and the
/// report is there, the task is over: the container is removed (forcibly)
/// without waiting for the engine to notice, which Podman's API service takes
/// hundreds of milliseconds to do. The task's status comes from that report.
/// `fifos`: the supervisor's output FIFOs (else the engine's attach stream).
/// `inspected`: what the engine already said of the container, if asked just
/// before (the pool).
pub(super) async fn drive(
    engine: &engine::Engine,
    id: &str,
    task: &TaskSpec,
    run: &mut Run,
    inner_report: Option<&Path>,
    fifos: Option<[tokio::io::unix::AsyncFd<std::fs::File>; 2]>,
    inspected: Option<ContainerInspectResponse>,
) -> Result<EndState, SandboxError> {
    let policy = &task.policy;
    let api = &engine.api;
    let t0 = Instant::now();
    // Unsupervised on a local Podman, the exit status comes from libpod's wait
    // (`stopped`), not from its late `exited` state.
    let libpod = match (engine.kind, &engine.socket, inner_report) {
        (SandboxMode::Podman, Some(socket), None) => Some(socket.clone()),
        _ => None,
    };
    let started = start(engine, id, task, run, fifos, inspected, t0).await?;
    let wait = api.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    let libpod_wait = std::pin::pin!(async {
        match &libpod {
            Some(socket) => engine::libpod_wait_stopped(socket, id).await,
            None => std::future::pending().await,
        }
    });
    let facts = Facts {
        fifos: started.output.is_fifos(),
        init_known: started.init.known(),
        watched: started.watch.is_some(),
        libpod: libpod.is_some(),
        stop_order: inner_report.is_some(),
        auto_remove: started.auto_remove,
        wall: policy.wall_timeout().map(|d| Instant::now() + d),
        no_output: policy.timeouts.no_output.get().map(|d| d.0),
        output_limit: policy.limits.output.get().map(|b| b.0),
        kill_on_pids: policy.on_violation == OnViolation::Kill,
        t0,
    };
    let mut machine = Machine::new(facts, Instant::now());
    let mut driver = Driver {
        api,
        id,
        run,
        t0,
        output: started.output,
        watch: started.watch,
        init: started.init,
        wait,
        libpod_wait,
        tick: tokio::time::interval(TICK),
        relay: [true, true],
    };
    let mut sigs = signals()?;
    driver.until_over(&mut machine, &mut sigs, inner_report).await;
    driver.run.output_bytes = machine.output_bytes();
    let reported = reported(inner_report);
    if let Some(end) = machine.conclude(reported) {
        return Ok(end);
    }
    let inspected = api.inspect_container(id, None::<InspectContainerOptions>).await;
    let (end, fault) = machine.conclude_inspected(reported, inspected)?;
    match fault {
        Some(EngineFault::AfterKill(e)) => driver.run.note = Some(e),
        Some(EngineFault::Setup(e)) => driver.run.setup_error = Some(e),
        None => {}
    }
    Ok(end)
}

/// The async half: what is waited on, and where the actions land.
struct Driver<'a, W, L> {
    api: &'a Docker,
    id: &'a str,
    run: &'a mut Run,
    t0: Instant,
    output: output::Output,
    watch: Option<CgroupWatch>,
    init: InitExit,
    /// The engine's wait.
    wait: W,
    /// Libpod's wait (pending forever when not used).
    libpod_wait: L,
    /// When the cgroup is sampled.
    tick: tokio::time::Interval,
    /// Per stream (stdout, stderr): false once our own stream failed.
    relay: [bool; 2],
}

impl<W, L> Driver<'_, W, L>
where
    W: Stream + Unpin,
    L: Future<Output = Result<i64, engine::EngineError>> + Unpin,
{
    /// Wait, tell the machine, act, until it is over.
    async fn until_over(
        &mut self,
        machine: &mut Machine,
        sigs: &mut [tokio::signal::unix::Signal; 3],
        inner_report: Option<&Path>,
    ) {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        while machine.live() {
            // FIFO output is complete once the init is gone or the container
            // ended: every writer is dead, what the FIFOs hold is the rest.
            if machine.drain_due() {
                for (i, bytes) in self.output.drain() {
                    self.feed(machine, Event::Leftover { len: bytes.len() }, Some((i, &bytes))).await;
                }
                self.feed(machine, Event::Drained, None).await;
                continue;
            }
            let w = machine.waits(Instant::now());
            let [s0, s1, s2] = &mut *sigs;
            let (event, chunk) = tokio::select! {
                item = self.output.next(), if w.output => match item {
                    Some((i, bytes)) => (Event::Output { len: bytes.len() }, Some((i, bytes))),
                    None => (Event::OutputClosed { reported: reported(inner_report) }, None),
                },
                _ = self.init.exited(), if w.init => (Event::InitExited { reported: reported(inner_report) }, None),
                code = &mut self.libpod_wait, if w.libpod => match code {
                    Ok(c) => (Event::LibpodExited(c), None),
                    Err(e) => {
                        tracing::debug!(target: super::TRACE_TARGET, "container: libpod wait: {e}");
                        (Event::LibpodFailed, None)
                    }
                },
                _ = self.wait.next(), if w.engine_wait => (Event::WaitAnswered, None),
                _ = tokio::time::sleep_until(w.wall.unwrap_or(far)), if w.wall.is_some() => (Event::WallDeadline, None),
                _ = tokio::time::sleep_until(w.quiet.unwrap_or(far)), if w.quiet.is_some() => (Event::QuietDeadline, None),
                _ = tokio::time::sleep_until(w.rest.unwrap_or(far)), if w.rest.is_some() => (Event::RestDeadline, None),
                _ = tokio::time::sleep_until(w.grace.unwrap_or(far)), if w.grace.is_some() => (Event::GraceDeadline, None),
                _ = tokio::time::sleep_until(w.poll.unwrap_or(far)), if w.poll.is_some() => {
                    (Event::Poll { reported: reported(inner_report) }, None)
                },
                _ = self.tick.tick(), if w.tick => (Event::Tick { pids_refused: self.sample() }, None),
                _ = s0.recv(), if w.signals => (Event::Signal(libc::SIGINT), None),
                _ = s1.recv(), if w.signals => (Event::Signal(libc::SIGTERM), None),
                _ = s2.recv(), if w.signals => (Event::Signal(libc::SIGHUP), None),
            };
            let chunk = chunk.as_ref().map(|(i, bytes)| (*i, bytes.as_slice()));
            self.feed(machine, event, chunk).await;
        }
    }

    /// Tell the machine `event` (with the chunk in hand, if any), perform its
    /// actions, and tell it what they bring, until nothing more comes.
    async fn feed(&mut self, machine: &mut Machine, event: Event, chunk: Option<(usize, &[u8])>) {
        let mut events = VecDeque::from([event]);
        while let Some(event) = events.pop_front() {
            for action in machine.step(event, Instant::now()) {
                events.extend(self.act(action, chunk).await);
            }
        }
    }

    /// Perform `action`; the event it brings, if any.
    async fn act(&mut self, action: Action, chunk: Option<(usize, &[u8])>) -> Option<Event> {
        match action {
            Action::Relay { take } => {
                if let Some((i, bytes)) = chunk {
                    self.relay(i, &bytes[..take.min(bytes.len())]);
                }
                None
            }
            Action::Stop(why) => {
                kill(self.api, self.id).await;
                self.record(why);
                Some(Event::KillDone)
            }
            Action::Ask(why) => {
                order_stop(self.api, self.id).await;
                self.record(why);
                None
            }
            Action::Kill => {
                kill(self.api, self.id).await;
                Some(Event::KillDone)
            }
            Action::Sample => {
                self.sample();
                None
            }
            Action::Inspect => {
                let answer = self.api.inspect_container(self.id, None::<InspectContainerOptions>).await;
                Some(Event::Inspected(inspection(answer)))
            }
            Action::AwaitEnd(via) => {
                let libpod = match via {
                    Via::Init => {
                        self.init.exited().await;
                        None
                    }
                    Via::Libpod => {
                        tokio::time::timeout(END_AFTER_INIT, &mut self.libpod_wait).await.ok().and_then(Result::ok)
                    }
                    Via::Engine => {
                        let _ = self.wait.next().await;
                        None
                    }
                };
                Some(Event::Reaped { libpod })
            }
            Action::Trace(what) => {
                trace(self.t0, what);
                None
            }
        }
    }

    /// Read the cgroup's counters into the run's sample (the larger of each);
    /// whether forks have been refused at the pids limit.
    fn sample(&mut self) -> bool {
        if let Some(w) = &self.watch {
            self.run.sample = self.run.sample.max(w.sample());
        }
        self.run.sample.pids_max > 0
    }

    /// Record our kill's cause.
    fn record(&mut self, why: Stop) {
        match why {
            Stop::Wall => self.run.timed_out = Some(TimeoutKind::Wall),
            Stop::NoOutput => self.run.timed_out = Some(TimeoutKind::NoOutput),
            Stop::Output { limit } => {
                self.run.violation(Rule::LimitsOutput, format!("output exceeded {}", ByteSize(limit)))
            }
            Stop::Pids => {}
            Stop::Signal(sig) => self.run.interrupted = Some(sig),
        }
    }

    /// Relay `bytes` of stream `i` (0 stdout, 1 stderr) to ours, through its
    /// canary scrubber and line guard; a stream of ours that failed is
    /// written to no more.
    fn relay(&mut self, i: usize, bytes: &[u8]) {
        let mut scrubbed = Vec::with_capacity(bytes.len() + 16);
        self.run.scrub(i, bytes, &mut scrubbed);
        let mut chunk = Vec::with_capacity(scrubbed.len() + 16);
        self.run.guards[i].feed(&scrubbed, &mut chunk);
        if self.relay[i] {
            if let Some(&last) = bytes.last() {
                self.run.mid_line[i] = last != b'\n';
            }
            let res = if i == 0 {
                let mut out = std::io::stdout();
                out.write_all(&chunk).and_then(|_| out.flush())
            } else {
                std::io::stderr().write_all(&chunk)
            };
            if res.is_err() {
                self.relay[i] = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerState, ContainerStateStatusEnum};

    /// Unsupervised, on Docker: the attach stream, the init unknown, nothing watched.
    fn attach(t0: Instant) -> Facts {
        Facts {
            fifos: false,
            init_known: false,
            watched: false,
            libpod: false,
            stop_order: false,
            auto_remove: false,
            wall: None,
            no_output: None,
            output_limit: None,
            kill_on_pids: false,
            t0,
        }
    }

    /// Supervised: the FIFOs, the init watched, the cgroup watched, AutoRemove,
    /// a timeout ordered to the supervisor first.
    fn supervised(t0: Instant) -> Facts {
        Facts { fifos: true, init_known: true, watched: true, auto_remove: true, stop_order: true, ..attach(t0) }
    }

    /// Unsupervised on a local Podman: the attach stream, libpod's wait.
    fn podman(t0: Instant) -> Facts {
        Facts { libpod: true, ..attach(t0) }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn inspected(state: ContainerState) -> Result<ContainerInspectResponse, bollard::errors::Error> {
        Ok(ContainerInspectResponse { state: Some(state), ..Default::default() })
    }

    fn engine_error(status_code: u16) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError { status_code, message: "no".into() }
    }

    fn exited(code: i64) -> ContainerState {
        ContainerState {
            status: Some(ContainerStateStatusEnum::EXITED),
            running: Some(false),
            exit_code: Some(code),
            ..Default::default()
        }
    }

    #[test]
    fn unsupervised_output_is_relayed_whole_then_the_engine_says_how_it_ended() {
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        let w = m.waits(t);
        assert!(w.output && w.engine_wait && w.signals);
        assert!(!w.init && !w.libpod && !w.tick && w.poll.is_none() && w.wall.is_none() && w.quiet.is_none());
        assert_eq!(m.step(Event::Output { len: 5 }, t + ms(1)), [Action::Relay { take: 5 }]);
        assert_eq!(m.step(Event::Output { len: 7 }, t + ms(2)), [Action::Relay { take: 7 }]);
        assert_eq!(m.output_bytes(), 12);
        // The stream closed: the engine is polled for the state.
        assert_eq!(m.step(Event::OutputClosed { reported: false }, t + ms(3)), [Action::Trace("output closed")]);
        assert_eq!(m.phase, Phase::Running);
        let w = m.waits(t + ms(3));
        assert_eq!(w.poll, Some(t + ms(5)));
        assert!(!w.output && w.engine_wait);
        assert_eq!(m.step(Event::Poll { reported: false }, t + ms(8)), [Action::Inspect]);
        assert_eq!(m.waits(t + ms(9)).poll, Some(t + ms(13)), "counted from the last poll");
        assert!(m.step(Event::Inspected(Inspection::Unsettled), t + ms(9)).is_empty());
        assert!(m.live());
        assert_eq!(m.step(Event::Poll { reported: false }, t + ms(14)), [Action::Inspect]);
        assert_eq!(m.step(Event::Inspected(Inspection::Ended), t + ms(15)), [Action::Sample]);
        assert_eq!(m.phase, Phase::Over { killed: None });
        assert!(!m.live());
        assert_eq!(m.waits(t + ms(15)), Waits::default());
        // Nothing known without the engine's state: inspect says the status.
        assert_eq!(m.conclude(false), None);
        let (end, fault) = m.conclude_inspected(false, inspected(exited(3))).unwrap();
        assert_eq!(end, EndState { exit_code: Some(3), oom_killed: false, engine_removes: false });
        assert_eq!(fault, None);
    }

    #[test]
    fn the_engines_wait_ends_it_and_the_rest_of_the_stream_is_awaited_two_seconds() {
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        assert!(m.step(Event::WaitAnswered, t + ms(10)).is_empty());
        assert_eq!(m.phase, Phase::Exited { killed: None });
        let w = m.waits(t + ms(10));
        assert!(w.output && !w.engine_wait && w.poll.is_none());
        assert_eq!(w.rest, Some(t + ms(10) + secs(2)));
        // Output after the end is relayed still.
        assert_eq!(m.step(Event::Output { len: 3 }, t + ms(11)), [Action::Relay { take: 3 }]);
        assert_eq!(
            m.step(Event::OutputClosed { reported: false }, t + ms(12)),
            [Action::Trace("output closed"), Action::Sample]
        );
        assert_eq!(m.phase, Phase::Over { killed: None });
    }

    #[test]
    fn a_stream_that_never_closes_is_given_up_after_its_bound() {
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        m.step(Event::WaitAnswered, t);
        assert_eq!(m.step(Event::RestDeadline, t + secs(2)), [Action::Sample]);
        assert_eq!(m.phase, Phase::Over { killed: None });
    }

    #[test]
    fn the_output_limit_cuts_the_chunk_and_kills_once() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { output_limit: Some(10), ..attach(t) }, t);
        assert_eq!(m.step(Event::Output { len: 6 }, t), [Action::Relay { take: 6 }]);
        assert_eq!(
            m.step(Event::Output { len: 6 }, t),
            [Action::Relay { take: 4 }, Action::Stop(Stop::Output { limit: 10 })]
        );
        assert_eq!(m.phase, Phase::Stopping { why: Stop::Output { limit: 10 } });
        // Over the limit: nothing more relayed, no second kill; all counted.
        assert_eq!(m.step(Event::Output { len: 6 }, t), [Action::Relay { take: 0 }]);
        assert_eq!(m.output_bytes(), 18);
        // Killed: no timeouts, no signals listened to.
        let w = m.waits(t);
        assert!(!w.signals && w.wall.is_none() && w.quiet.is_none());
        assert!(m.step(Event::KillDone, t).is_empty());
        // Without libpod, our kill does not bound the wait.
        assert_eq!(m.waits(t).rest, None);
    }

    #[test]
    fn the_wall_deadline_kills_and_is_recorded_as_the_cause() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { wall: Some(t + secs(30)), ..attach(t) }, t);
        assert_eq!(m.waits(t).wall, Some(t + secs(30)));
        assert_eq!(m.step(Event::WallDeadline, t + secs(30)), [Action::Stop(Stop::Wall)]);
        assert_eq!(m.killed(), Some(Stop::Wall));
        // No second cause.
        assert!(m.step(Event::Signal(libc::SIGINT), t + secs(30)).is_empty());
        assert!(m.step(Event::QuietDeadline, t + secs(30)).is_empty());
        m.step(Event::WaitAnswered, t + secs(31));
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::Wall) });
    }

    #[test]
    fn the_no_output_deadline_moves_with_live_output_only() {
        let t = Instant::now();
        let facts = Facts { no_output: Some(secs(5)), fifos: true, init_known: true, ..attach(t) };
        let mut m = Machine::new(facts, t);
        assert_eq!(m.waits(t).quiet, Some(t + secs(5)));
        m.step(Event::Output { len: 1 }, t + secs(3));
        assert_eq!(m.waits(t + secs(3)).quiet, Some(t + secs(8)));
        // The init exited without a report: not over, its leftovers are no sign of life.
        assert_eq!(
            m.step(Event::InitExited { reported: false }, t + secs(4)),
            [Action::Trace("init exited"), Action::Sample]
        );
        assert!(m.drain_due());
        assert_eq!(m.step(Event::Leftover { len: 2 }, t + secs(4)), [Action::Relay { take: 2 }]);
        assert!(m.step(Event::Drained, t + secs(4)).is_empty());
        assert!(!m.drain_due());
        let w = m.waits(t + secs(4));
        assert_eq!(w.quiet, Some(t + secs(8)));
        assert_eq!(w.rest, Some(t + secs(14)));
        assert_eq!(m.step(Event::QuietDeadline, t + secs(8)), [Action::Stop(Stop::NoOutput)]);
    }

    #[test]
    fn after_the_end_signals_still_hold_but_no_deadline_turns_it_into_a_timeout() {
        let t = Instant::now();
        let facts = Facts { wall: Some(t + secs(1)), no_output: Some(secs(1)), ..attach(t) };
        let mut m = Machine::new(facts, t);
        assert!(m.waits(t).wall.is_some() && m.waits(t).quiet.is_some());
        m.step(Event::WaitAnswered, t);
        let w = m.waits(t);
        assert!(w.signals && w.wall.is_none() && w.quiet.is_none() && !w.tick && w.poll.is_none());
        assert!(w.rest.is_some(), "the rest of the output is still read, for at most a while");
        assert_eq!(m.step(Event::Signal(libc::SIGTERM), t), [Action::Stop(Stop::Signal(libc::SIGTERM))]);
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::Signal(libc::SIGTERM)) });
        m.step(Event::OutputClosed { reported: false }, t);
        assert_eq!(m.phase, Phase::Over { killed: Some(Stop::Signal(libc::SIGTERM)) });
        // An engine error after our kill is the kill's doing.
        let state = ContainerState { error: Some("killed".into()), ..exited(137) };
        let (end, fault) = m.conclude_inspected(false, inspected(state)).unwrap();
        assert_eq!(end.exit_code, Some(137));
        assert_eq!(fault, Some(EngineFault::AfterKill("the engine could not run the task: killed".into())));
    }

    #[test]
    fn an_engine_error_without_our_kill_is_a_setup_error() {
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        m.step(Event::OutputClosed { reported: false }, t);
        m.step(Event::Poll { reported: false }, t);
        m.step(Event::Inspected(Inspection::Gone), t);
        assert_eq!(m.phase, Phase::Over { killed: None });
        let state = ContainerState { error: Some("no such file".into()), oom_killed: Some(true), ..exited(127) };
        let (end, fault) = m.conclude_inspected(false, inspected(state)).unwrap();
        assert_eq!(end, EndState { exit_code: Some(127), oom_killed: true, engine_removes: false });
        assert_eq!(fault, Some(EngineFault::Setup("the engine could not run the task: no such file".into())));
        // An empty error is none.
        let state = ContainerState { error: Some(String::new()), ..exited(0) };
        assert_eq!(m.conclude_inspected(false, inspected(state)).unwrap().1, None);
    }

    #[test]
    fn supervised_the_init_exit_with_a_report_ends_it_and_the_fifos_are_drained() {
        let t = Instant::now();
        let mut m = Machine::new(supervised(t), t);
        let w = m.waits(t);
        assert!(w.output && w.init && w.tick && !w.engine_wait && !w.libpod && w.poll.is_none());
        assert_eq!(m.step(Event::Tick { pids_refused: false }, t), []);
        m.step(Event::Output { len: 4 }, t + ms(1));
        assert!(!m.drain_due());
        m.step(Event::InitExited { reported: true }, t + ms(2));
        assert_eq!(m.phase, Phase::Exited { killed: None });
        assert_eq!(m.waits(t + ms(2)).rest, Some(t + ms(2) + secs(2)));
        assert!(m.drain_due());
        assert_eq!(m.step(Event::Leftover { len: 9 }, t + ms(2)), [Action::Relay { take: 9 }]);
        assert_eq!(m.step(Event::Drained, t + ms(2)), [Action::Sample]);
        assert_eq!(m.phase, Phase::Over { killed: None });
        assert_eq!(m.output_bytes(), 13);
        // The report and the cgroup say it all; the engine removes it.
        assert_eq!(m.conclude(true), Some(EndState { exit_code: None, oom_killed: false, engine_removes: true }));
    }

    #[test]
    fn supervised_without_a_report_the_engine_is_asked_after_the_drain() {
        let t = Instant::now();
        let mut m = Machine::new(supervised(t), t);
        m.step(Event::InitExited { reported: false }, t);
        assert_eq!(m.phase, Phase::Running);
        assert!(m.drain_due());
        m.step(Event::Drained, t);
        let w = m.waits(t);
        assert!(!w.output && !w.init && w.tick && w.poll.is_some());
        assert_eq!(w.rest, Some(t + secs(10)));
        assert_eq!(m.step(Event::Poll { reported: false }, t), [Action::Inspect]);
        assert_eq!(m.step(Event::Inspected(Inspection::Ended), t), [Action::Sample]);
        assert_eq!(m.conclude(false), None);
        let (end, _) = m.conclude_inspected(false, inspected(exited(2))).unwrap();
        assert_eq!(end, EndState { exit_code: Some(2), oom_killed: false, engine_removes: true });
        // Gone (AutoRemove) before it could be asked: what is known stands.
        let (end, _) = m.conclude_inspected(false, Err(engine_error(404))).unwrap();
        assert_eq!(end, EndState { exit_code: None, oom_killed: false, engine_removes: true });
    }

    #[test]
    fn a_long_tasks_poll_is_a_deadline_that_other_wake_ups_do_not_postpone() {
        // Unsupervised on Docker, after the first second: the 20 ms cgroup tick
        // and the output wake the driver often; each used to start a fresh
        // 50 ms sleep, so the poll never came and only the 10 s bound ended it.
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        m.step(Event::OutputClosed { reported: false }, t + ms(1500));
        let at = t + ms(1500);
        assert_eq!(m.step(Event::Poll { reported: false }, at), [Action::Inspect]);
        assert!(m.step(Event::Inspected(Inspection::Unsettled), at + ms(1)).is_empty());
        for woke in [20, 40, 49] {
            assert_eq!(m.waits(at + ms(woke)).poll, Some(at + ms(50)), "woken at +{woke} ms");
        }
        assert_eq!(m.step(Event::Poll { reported: false }, at + ms(50)), [Action::Inspect]);
        assert_eq!(m.step(Event::Inspected(Inspection::Ended), at + ms(51)), [Action::Sample]);
        assert!(!m.live());
    }

    #[test]
    fn supervised_with_the_init_unknown_the_report_says_it_ended() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { init_known: false, ..supervised(t) }, t);
        let w = m.waits(t);
        // The FIFOs never close by themselves: polled from the start.
        assert!(w.output && w.engine_wait && !w.init);
        assert_eq!(w.poll, Some(t + ms(5)));
        assert_eq!(m.waits(t + secs(2)).poll, Some(t + ms(50)));
        // No report yet, output still open: the engine is not asked.
        assert!(m.step(Event::Poll { reported: false }, t).is_empty());
        assert_eq!(m.step(Event::Poll { reported: true }, t), [Action::Trace("supervisor report seen")]);
        assert_eq!(m.phase, Phase::Exited { killed: None });
        assert!(m.drain_due());
        m.step(Event::Drained, t);
        assert_eq!(m.phase, Phase::Over { killed: None });
        // Not removed by the engine: the init was never seen to exit.
        assert_eq!(m.conclude(true), Some(EndState { exit_code: None, oom_killed: false, engine_removes: false }));
    }

    #[test]
    fn with_the_init_unknown_a_closed_stream_and_a_report_end_it() {
        let t = Instant::now();
        let facts = Facts { fifos: false, ..supervised(t) };
        let mut m = Machine::new(Facts { init_known: false, ..facts }, t);
        assert_eq!(m.step(Event::OutputClosed { reported: true }, t), [Action::Trace("output closed"), Action::Sample]);
        assert_eq!(m.phase, Phase::Over { killed: None });
        // With the init watched, a closed stream is not the end.
        let mut m = Machine::new(facts, t);
        m.step(Event::OutputClosed { reported: true }, t);
        assert_eq!(m.phase, Phase::Running);
    }

    #[test]
    fn killed_then_the_init_exits_it_is_over_without_a_report() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { wall: Some(t + secs(1)), ..supervised(t) }, t);
        m.step(Event::WallDeadline, t + secs(1));
        m.step(Event::InitExited { reported: false }, t + secs(1));
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::Wall) });
        assert_eq!(m.waits(t + secs(1)).rest, Some(t + secs(3)));
    }

    #[test]
    fn supervised_a_timeout_orders_the_supervisor_to_stop_and_its_report_ends_it() {
        let t = Instant::now();
        let facts = Facts { wall: Some(t + secs(3)), no_output: Some(secs(60)), ..supervised(t) };
        let mut m = Machine::new(facts, t);
        assert_eq!(m.waits(t).grace, None);
        assert_eq!(m.step(Event::WallDeadline, t + secs(3)), [Action::Ask(Stop::Wall)]);
        assert_eq!(m.phase, Phase::Asked { why: Stop::Wall, until: t + secs(3) + ASKED_GRACE });
        assert_eq!(m.killed(), Some(Stop::Wall));
        assert!(m.live());
        // Its grace is awaited; no deadline, signal or second cause moves it.
        let w = m.waits(t + secs(3));
        assert_eq!(w.grace, Some(t + secs(6)));
        assert!(ASKED_GRACE > STOP_GRACE * 2, "the supervisor's own grace, its report, and a margin");
        assert!(w.wall.is_none() && w.quiet.is_none() && !w.signals && w.output && w.init && w.rest.is_none());
        assert!(m.step(Event::QuietDeadline, t + secs(3)).is_empty());
        assert!(m.step(Event::Signal(libc::SIGINT), t + secs(3)).is_empty());
        assert!(m.step(Event::Tick { pids_refused: true }, t + secs(3)).is_empty());
        // What the task wrote meanwhile is relayed still.
        assert_eq!(m.step(Event::Output { len: 4 }, t + ms(3100)), [Action::Relay { take: 4 }]);
        // The supervisor killed the task, made its final checks, reported, exited.
        m.step(Event::InitExited { reported: true }, t + ms(3200));
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::Wall) });
        let w = m.waits(t + ms(3200));
        assert_eq!((w.grace, w.rest), (None, Some(t + ms(5200))));
        // No kill after the end.
        assert!(m.step(Event::GraceDeadline, t + secs(4)).is_empty());
        m.step(Event::Drained, t + ms(3200));
        assert_eq!(m.phase, Phase::Over { killed: Some(Stop::Wall) });
        assert_eq!(m.conclude(true), Some(EndState { exit_code: None, oom_killed: false, engine_removes: true }));
    }

    #[test]
    fn supervised_a_supervisor_that_does_not_end_within_its_grace_is_killed() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { no_output: Some(secs(2)), ..supervised(t) }, t);
        assert_eq!(m.step(Event::QuietDeadline, t + secs(2)), [Action::Ask(Stop::NoOutput)]);
        assert_eq!(
            m.step(Event::GraceDeadline, t + secs(3)),
            [Action::Trace("the supervisor did not end within its stop grace"), Action::Kill]
        );
        assert_eq!(m.phase, Phase::Stopping { why: Stop::NoOutput });
        assert_eq!(m.waits(t + secs(3)).grace, None);
        // Killed once: the cause stays the timeout.
        assert!(m.step(Event::KillDone, t + secs(3)).is_empty());
        assert!(m.step(Event::GraceDeadline, t + secs(3)).is_empty());
        m.step(Event::InitExited { reported: false }, t + secs(3));
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::NoOutput) });
    }

    #[test]
    fn supervised_with_the_init_unknown_the_report_ends_the_order_to_stop() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { init_known: false, wall: Some(t + secs(1)), ..supervised(t) }, t);
        assert_eq!(m.step(Event::WallDeadline, t + secs(1)), [Action::Ask(Stop::Wall)]);
        assert!(m.waits(t + secs(1)).poll.is_some());
        assert!(m.step(Event::Poll { reported: false }, t + ms(1005)).is_empty());
        m.step(Event::Poll { reported: true }, t + ms(1100));
        assert_eq!(m.phase, Phase::Exited { killed: Some(Stop::Wall) });
    }

    #[test]
    fn only_a_supervised_timeout_is_ordered_every_other_kill_is_at_once() {
        let t = Instant::now();
        // Unsupervised: nobody in the container takes the order.
        let mut m = Machine::new(Facts { wall: Some(t + secs(1)), ..attach(t) }, t);
        assert_eq!(m.step(Event::WallDeadline, t + secs(1)), [Action::Stop(Stop::Wall)]);
        assert_eq!(m.waits(t + secs(1)).grace, None);
        // Supervised: the output limit, refused forks and our signals kill at once.
        let mut m = Machine::new(Facts { output_limit: Some(1), ..supervised(t) }, t);
        assert_eq!(
            m.step(Event::Output { len: 2 }, t),
            [Action::Relay { take: 1 }, Action::Stop(Stop::Output { limit: 1 })]
        );
        let mut m = Machine::new(Facts { kill_on_pids: true, ..supervised(t) }, t);
        assert_eq!(m.step(Event::Tick { pids_refused: true }, t), [Action::Stop(Stop::Pids)]);
        let mut m = Machine::new(supervised(t), t);
        assert_eq!(m.step(Event::Signal(libc::SIGTERM), t), [Action::Stop(Stop::Signal(libc::SIGTERM))]);
        // A timeout after the end (no deadline is awaited then) kills nothing.
        let mut m = Machine::new(Facts { wall: Some(t + secs(1)), ..supervised(t) }, t);
        m.step(Event::InitExited { reported: true }, t);
        assert!(m.waits(t).wall.is_none());
    }

    #[test]
    fn refused_forks_kill_only_under_on_violation_kill() {
        let t = Instant::now();
        let mut m = Machine::new(supervised(t), t);
        assert!(m.step(Event::Tick { pids_refused: true }, t).is_empty());
        let mut m = Machine::new(Facts { kill_on_pids: true, ..supervised(t) }, t);
        assert!(m.step(Event::Tick { pids_refused: false }, t).is_empty());
        assert_eq!(m.step(Event::Tick { pids_refused: true }, t), [Action::Stop(Stop::Pids)]);
        assert!(m.step(Event::Tick { pids_refused: true }, t).is_empty());
        // Once ended, the cgroup is no longer sampled on a tick.
        m.step(Event::InitExited { reported: true }, t);
        assert!(!m.waits(t).tick);
    }

    #[test]
    fn libpods_wait_gives_the_status_and_the_counters_the_oom_kills() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { watched: true, ..podman(t) }, t);
        let w = m.waits(t);
        assert!(w.libpod && !w.engine_wait && w.output);
        assert_eq!(m.step(Event::LibpodExited(7), t + ms(4)), [Action::Trace("libpod wait answered")]);
        let w = m.waits(t + ms(4));
        assert!(!w.libpod && w.output);
        assert_eq!(w.rest, Some(t + ms(4) + secs(2)));
        m.step(Event::OutputClosed { reported: false }, t + ms(5));
        assert_eq!(m.conclude(false), Some(EndState { exit_code: Some(7), oom_killed: false, engine_removes: false }));
    }

    #[test]
    fn libpods_status_unwatched_needs_the_engines_state_but_wins_over_it() {
        let t = Instant::now();
        let mut m = Machine::new(podman(t), t);
        m.step(Event::LibpodExited(7), t);
        m.step(Event::OutputClosed { reported: false }, t);
        assert_eq!(m.conclude(false), None);
        let state = ContainerState { oom_killed: Some(true), ..exited(0) };
        let (end, _) = m.conclude_inspected(false, inspected(state)).unwrap();
        assert_eq!(end, EndState { exit_code: Some(7), oom_killed: true, engine_removes: false });
        // Mid-transition: libpod's status stands.
        let (end, _) = m.conclude_inspected(false, Err(engine_error(500))).unwrap();
        assert_eq!(end.exit_code, Some(7));
    }

    #[test]
    fn a_failed_libpod_wait_falls_back_to_the_engines_wait() {
        let t = Instant::now();
        let mut m = Machine::new(podman(t), t);
        m.step(Event::OutputClosed { reported: false }, t);
        // Waiting on libpod: no poll of the state.
        assert!(m.step(Event::Poll { reported: false }, t).is_empty());
        assert!(m.step(Event::LibpodFailed, t).is_empty());
        let w = m.waits(t);
        assert!(!w.libpod && w.engine_wait);
        assert_eq!(m.step(Event::Poll { reported: false }, t), [Action::Inspect]);
    }

    #[test]
    fn killed_with_only_libpods_wait_the_wait_is_bounded_then_reaped() {
        let t = Instant::now();
        let mut m = Machine::new(Facts { wall: Some(t + secs(1)), ..podman(t) }, t);
        assert_eq!(m.step(Event::WallDeadline, t + secs(1)), [Action::Stop(Stop::Wall)]);
        assert_eq!(m.waits(t + secs(1)).rest, None);
        // Bounded from when the kill was sent.
        assert!(m.step(Event::KillDone, t + secs(2)).is_empty());
        assert_eq!(m.waits(t + secs(2)).rest, Some(t + secs(12)));
        assert!(m.step(Event::KillDone, t + secs(3)).is_empty());
        assert_eq!(m.waits(t + secs(3)).rest, Some(t + secs(12)));
        // It never answered: killed again, libpod asked once more.
        assert_eq!(m.step(Event::RestDeadline, t + secs(12)), [Action::Sample, Action::Kill]);
        assert_eq!(m.phase, Phase::Reaping { killed: Some(Stop::Wall) });
        assert!(!m.live());
        assert_eq!(m.waits(t + secs(12)), Waits::default());
        assert_eq!(m.step(Event::KillDone, t + secs(12)), [Action::AwaitEnd(Via::Libpod)]);
        assert!(m.step(Event::Reaped { libpod: Some(137) }, t + secs(13)).is_empty());
        assert_eq!(m.phase, Phase::Over { killed: Some(Stop::Wall) });
        assert_eq!(m.conclude(false), None);
        let (end, fault) = m.conclude_inspected(false, Err(engine_error(500))).unwrap();
        assert_eq!((end.exit_code, fault), (Some(137), None));
    }

    #[test]
    fn reaping_waits_on_the_init_when_watched_else_the_engine() {
        let t = Instant::now();
        // The init exited without a report and the engine never says: 10 s.
        let mut m = Machine::new(supervised(t), t);
        m.step(Event::InitExited { reported: false }, t);
        m.step(Event::Drained, t);
        assert_eq!(m.step(Event::RestDeadline, t + secs(10)), [Action::Sample, Action::Kill]);
        assert_eq!(m.step(Event::KillDone, t + secs(10)), [Action::AwaitEnd(Via::Init)]);
        m.step(Event::Reaped { libpod: None }, t + secs(10));
        assert_eq!(m.phase, Phase::Over { killed: None });
        assert!(m.engine_removes());
        // Removed by the engine (AutoRemove) before its state could be had.
        let (end, _) = m.conclude_inspected(false, Err(engine_error(404))).unwrap();
        assert_eq!(end, EndState { exit_code: None, oom_killed: false, engine_removes: true });
        // The engine's wait, when nothing else can tell.
        let mut m = Machine::new(attach(t), t);
        m.rest_by = Some(t);
        m.step(Event::RestDeadline, t);
        assert_eq!(m.step(Event::KillDone, t), [Action::AwaitEnd(Via::Engine)]);
        m.step(Event::Reaped { libpod: None }, t);
        assert_eq!(m.phase, Phase::Over { killed: None });
        assert!(!m.engine_removes());
    }

    #[test]
    fn a_report_or_autoremove_excuses_a_failed_final_inspect() {
        let t = Instant::now();
        let m = Machine { phase: Phase::Over { killed: None }, ..Machine::new(attach(t), t) };
        assert!(m.conclude_inspected(true, Err(engine_error(500))).is_ok());
        // Neither a report, nor AutoRemove, nor libpod's status: an error.
        assert!(matches!(m.conclude_inspected(false, Err(engine_error(404))), Err(DriveError::InspectEnded(_))));
        let m = Machine { phase: Phase::Over { killed: None }, ..Machine::new(supervised(t), t) };
        let (end, fault) = m.conclude_inspected(false, Err(engine_error(404))).unwrap();
        assert_eq!((end, fault), (EndState::default(), None));
    }

    #[test]
    fn the_engines_state_reads_as_an_inspection() {
        assert_eq!(inspection(inspected(exited(0))), Inspection::Ended);
        let running = ContainerState { running: Some(true), ..Default::default() };
        assert_eq!(inspection(inspected(running)), Inspection::Unsettled);
        let created = ContainerState {
            status: Some(ContainerStateStatusEnum::CREATED),
            running: Some(false),
            ..Default::default()
        };
        assert_eq!(inspection(inspected(created)), Inspection::Unsettled);
        assert_eq!(inspection(Ok(ContainerInspectResponse::default())), Inspection::Unsettled);
        assert_eq!(inspection(Err(engine_error(404))), Inspection::Gone);
        assert_eq!(inspection(Err(engine_error(500))), Inspection::Unsettled);
    }

    #[test]
    fn nothing_moves_once_over() {
        let t = Instant::now();
        let mut m = Machine::new(attach(t), t);
        m.step(Event::WaitAnswered, t);
        m.step(Event::OutputClosed { reported: false }, t);
        for event in [
            Event::Output { len: 1 },
            Event::Signal(libc::SIGINT),
            Event::WallDeadline,
            Event::RestDeadline,
            Event::KillDone,
            Event::Reaped { libpod: Some(1) },
        ] {
            assert!(m.step(event, t).is_empty(), "{event:?}");
        }
        assert_eq!(m.phase, Phase::Over { killed: None });
        assert_eq!(m.output_bytes(), 0);
    }

    #[test]
    fn signal_handler_failures_say_it_once() {
        let e = SandboxError::from(DriveError::Signals(std::io::Error::other("x")));
        assert_eq!(e.to_string(), "sandbox setup failed: signal handler: x");
        let e = SandboxError::from(DriveError::InspectEnded(engine_error(500)));
        assert!(e.to_string().starts_with("sandbox setup failed: inspecting the ended container: "), "{e}");
    }
}
