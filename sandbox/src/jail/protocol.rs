//! Messages from the in-jail init (and the task's setup) to the host side, one
//! JSON object per line on the control socket. Typed, so the two sides cannot
//! drift apart.

use serde::{Deserialize, Serialize};

/// One message on the control socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A control was put in place (attestation, sent by whoever applied it).
    Enforced {
        /// Control name, e.g. `landlock`.
        control: String,
        /// What exactly, e.g. `abi 7, fully enforced`.
        detail: String,
    },
    /// Whether the task's exec enters orchestra's AppArmor profile (sent by
    /// the task once it asked the kernel, only when the plan has a profile).
    Mac {
        /// The kernel took the change: the exec enters the profile.
        applied: bool,
        /// How, or why not.
        detail: String,
    },
    /// The task was about to exec.
    Started {
        /// The task's pid as the host sees it is unknown inside; this is the jail's.
        pid: i32,
    },
    /// A denied action was observed.
    Violation {
        /// The rule that fired, e.g. `network.none`.
        rule: crate::rule::Rule,
        /// What the task tried.
        detail: String,
    },
    /// The init's whole walk of the writable roots for set-ID files stopped
    /// at its deadline (sent beside that walk's `fs.setuid` violation, which
    /// the report's cap may leave unlisted): the host walks them again.
    SetidSweepUnfinished,
    /// Setting up the jail failed; the task did not run.
    SetupFailed {
        /// Why.
        error: String,
    },
    /// CPU time (user + system) of the task and of its descendants reaped so
    /// far, sent just before `Exited`.
    Usage {
        /// Milliseconds.
        cpu_ms: u64,
    },
    /// The task's main process ended.
    Exited {
        /// Exit status if it exited.
        code: Option<i32>,
        /// Signal number if it was killed.
        signal: Option<i32>,
    },
}

impl Event {
    /// Encode as one line (with the trailing newline).
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_one_line_each() {
        let all = [
            Event::Enforced { control: "landlock".into(), detail: "abi 7".into() },
            Event::Mac { applied: false, detail: "no AppArmor".into() },
            Event::Started { pid: 2 },
            Event::Violation { rule: crate::rule::Rule::FsSetuid, detail: "a\nb".into() },
            Event::SetidSweepUnfinished,
            Event::SetupFailed { error: "x".into() },
            Event::Usage { cpu_ms: 3 },
            Event::Exited { code: Some(0), signal: None },
        ];
        for ev in all {
            let line = ev.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), ev);
        }
        assert_eq!(Event::SetidSweepUnfinished.to_line(), "{\"event\":\"setid_sweep_unfinished\"}\n");
    }
}
