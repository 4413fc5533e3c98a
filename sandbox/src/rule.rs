//! The rules a violation names (CONTRACTS.md §3): one type, written and read
//! as the same strings reports, audit records, SARIF and users have always
//! seen (`fs.write`, `network.none`, `syscall.ptrace`, `limits.memory`, …).
//!
//! Guarantees: every rule orchestra reports is a variant here ([`Rule::all`]
//! lists them, each with a [`Rule::description`]); the text form round-trips
//! ([`Rule::parse`] of [`Rule`]'s `Display`), and serde uses that text.

use crate::policy::{NetworkMode, SyscallClass};
use std::fmt;

/// A rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `fs.write`: a write outside the writable roots.
    FsWrite,
    /// `fs.hidden`: opening a path the policy hides.
    FsHidden,
    /// `fs.hardlink`: a hard link to a file outside the writable roots.
    FsHardlink,
    /// `fs.setuid`: making a file set-user-ID or set-group-ID.
    FsSetuid,
    /// `fs.unresolvable_path`: a path the supervisor could not resolve.
    FsUnresolvablePath,
    /// `fs.protected`: a change to a protected path inside the writable
    /// workspace (git hooks and config, CI workflows).
    FsProtected,
    /// `canary.read`: reading a canary secret planted for the task.
    CanaryRead,
    /// `canary.leak`: a canary secret in the task's output or in a payload it sent.
    CanaryLeak,
    /// `canary.unverifiable`: something that could carry a canary out and
    /// that orchestra could not judge (a send past the bytes the supervisor
    /// reads, a file the task left unreadable to orchestra): refused or
    /// reported, never passed unjudged.
    CanaryUnverifiable,
    /// `network.<mode>`: network access beyond the policy's mode.
    Network(NetworkMode),
    /// `network.abstract_unix`: a connection to an abstract unix socket.
    NetworkAbstractUnix,
    /// `network.unix_socket`: a unix socket outside the writable roots (no namespaces).
    NetworkUnixSocket,
    /// `exec.setuid`: executing a set-user-ID or set-group-ID program.
    ExecSetuid,
    /// `syscall.<class>`: a system call of a denied class.
    Syscall(SyscallClass),
    /// `syscall.unreadable_argument`: an argument the supervisor could not read.
    SyscallUnreadableArgument,
    /// `seccomp.abi`: a system call through a foreign ABI (x32, 32-bit).
    SeccompAbi,
    /// `limits.memory`.
    LimitsMemory,
    /// `limits.pids`.
    LimitsPids,
    /// `limits.output`.
    LimitsOutput,
    /// `limits.disk`.
    LimitsDisk,
    /// `limits.cpu_time`.
    LimitsCpuTime,
    /// `report.truncated`: more violations than a report keeps.
    ReportTruncated,
}

const NETWORK_MODES: [NetworkMode; 3] = [NetworkMode::None, NetworkMode::Loopback, NetworkMode::Host];

impl Rule {
    /// Every rule, in a stable order.
    pub fn all() -> Vec<Rule> {
        let mut v = vec![
            Rule::FsWrite,
            Rule::FsHidden,
            Rule::FsHardlink,
            Rule::FsSetuid,
            Rule::FsUnresolvablePath,
            Rule::FsProtected,
            Rule::CanaryRead,
            Rule::CanaryLeak,
            Rule::CanaryUnverifiable,
        ];
        v.extend(NETWORK_MODES.map(Rule::Network));
        v.extend([Rule::NetworkAbstractUnix, Rule::NetworkUnixSocket, Rule::ExecSetuid]);
        v.extend(SyscallClass::ALL.map(Rule::Syscall));
        v.extend([
            Rule::SyscallUnreadableArgument,
            Rule::SeccompAbi,
            Rule::LimitsMemory,
            Rule::LimitsPids,
            Rule::LimitsOutput,
            Rule::LimitsDisk,
            Rule::LimitsCpuTime,
            Rule::ReportTruncated,
        ]);
        v
    }

    /// Whether this is an exceeded limit (`limits.*`: cause `limit_exceeded`)
    /// rather than a denied action (`policy_denied`).
    pub fn is_limit(self) -> bool {
        match self {
            Rule::LimitsMemory | Rule::LimitsPids | Rule::LimitsOutput | Rule::LimitsDisk | Rule::LimitsCpuTime => true,
            Rule::FsWrite
            | Rule::FsHidden
            | Rule::FsHardlink
            | Rule::FsSetuid
            | Rule::FsUnresolvablePath
            | Rule::FsProtected
            | Rule::CanaryRead
            | Rule::CanaryLeak
            | Rule::CanaryUnverifiable
            | Rule::Network(_)
            | Rule::NetworkAbstractUnix
            | Rule::NetworkUnixSocket
            | Rule::ExecSetuid
            | Rule::Syscall(_)
            | Rule::SyscallUnreadableArgument
            | Rule::SeccompAbi
            | Rule::ReportTruncated => false,
        }
    }

    /// What the rule means, one line (SARIF's rule descriptions).
    pub fn description(self) -> String {
        match self {
            Rule::FsWrite => "A write outside the policy's writable roots".into(),
            Rule::FsHidden => "An attempt to open a path the policy hides (credentials and the like)".into(),
            Rule::FsHardlink => "A hard link to a file outside the writable roots".into(),
            Rule::FsSetuid => "An attempt to make a file set-user-ID or set-group-ID".into(),
            Rule::FsUnresolvablePath => "A path argument the supervisor could not resolve (denied, fail closed)".into(),
            Rule::FsProtected => {
                "A change to a protected path in the writable workspace (git hooks and config, CI workflows)".into()
            }
            Rule::CanaryRead => "A read of a canary secret (a fake credential planted for the task)".into(),
            Rule::CanaryLeak => {
                "A canary secret in the task's output, in a network payload it sent (replaced, not sent), or in what it left in the workspace (content, names, link targets, extended attributes)".into()
            }
            Rule::CanaryUnverifiable => {
                "A send or a workspace file that could not be judged for canary secrets (past the bytes read, unreadable): refused or reported, never passed unjudged".into()
            }
            Rule::Network(NetworkMode::None) => "Network access under a policy that allows none".into(),
            Rule::Network(NetworkMode::Loopback) => {
                "Network access beyond loopback under a loopback-only policy".into()
            }
            Rule::Network(NetworkMode::Host) => "Network access the host-network policy still denies".into(),
            Rule::NetworkAbstractUnix => {
                "A connection to an abstract Unix socket (a way out of the network namespace)".into()
            }
            Rule::NetworkUnixSocket => "A connection to a Unix socket outside the writable roots".into(),
            Rule::ExecSetuid => "Execution of a set-user-ID or set-group-ID program".into(),
            Rule::Syscall(c) => format!("A denied system call of the class {}", c.as_str()),
            Rule::SyscallUnreadableArgument => {
                "A system call whose argument the supervisor could not read (denied)".into()
            }
            Rule::SeccompAbi => "A system call through a foreign ABI (x32 or 32-bit)".into(),
            Rule::LimitsMemory => "The task exceeded its memory limit".into(),
            Rule::LimitsPids => "The task exceeded its process limit".into(),
            Rule::LimitsOutput => "The task exceeded its output limit".into(),
            Rule::LimitsDisk => "The task exceeded its disk limit".into(),
            Rule::LimitsCpuTime => "The task exceeded its CPU time limit".into(),
            Rule::ReportTruncated => "More violations than a report keeps".into(),
        }
    }

    /// The rule named `text`, if orchestra has such a rule.
    pub fn parse(text: &str) -> Option<Rule> {
        let fixed = match text {
            "fs.write" => Rule::FsWrite,
            "fs.hidden" => Rule::FsHidden,
            "fs.hardlink" => Rule::FsHardlink,
            "fs.setuid" => Rule::FsSetuid,
            "fs.unresolvable_path" => Rule::FsUnresolvablePath,
            "fs.protected" => Rule::FsProtected,
            "canary.read" => Rule::CanaryRead,
            "canary.leak" => Rule::CanaryLeak,
            "canary.unverifiable" => Rule::CanaryUnverifiable,
            "network.abstract_unix" => Rule::NetworkAbstractUnix,
            "network.unix_socket" => Rule::NetworkUnixSocket,
            "exec.setuid" => Rule::ExecSetuid,
            "syscall.unreadable_argument" => Rule::SyscallUnreadableArgument,
            "seccomp.abi" => Rule::SeccompAbi,
            "limits.memory" => Rule::LimitsMemory,
            "limits.pids" => Rule::LimitsPids,
            "limits.output" => Rule::LimitsOutput,
            "limits.disk" => Rule::LimitsDisk,
            "limits.cpu_time" => Rule::LimitsCpuTime,
            "report.truncated" => Rule::ReportTruncated,
            _ => {
                if let Some(mode) = text.strip_prefix("network.") {
                    return NETWORK_MODES.into_iter().find(|m| m.as_str() == mode).map(Rule::Network);
                }
                let class = text.strip_prefix("syscall.")?;
                return SyscallClass::ALL.into_iter().find(|c| c.as_str() == class).map(Rule::Syscall);
            }
        };
        Some(fixed)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fixed = match self {
            Rule::FsWrite => "fs.write",
            Rule::FsHidden => "fs.hidden",
            Rule::FsHardlink => "fs.hardlink",
            Rule::FsSetuid => "fs.setuid",
            Rule::FsUnresolvablePath => "fs.unresolvable_path",
            Rule::FsProtected => "fs.protected",
            Rule::CanaryRead => "canary.read",
            Rule::CanaryLeak => "canary.leak",
            Rule::CanaryUnverifiable => "canary.unverifiable",
            Rule::Network(m) => return write!(f, "network.{}", m.as_str()),
            Rule::NetworkAbstractUnix => "network.abstract_unix",
            Rule::NetworkUnixSocket => "network.unix_socket",
            Rule::ExecSetuid => "exec.setuid",
            Rule::Syscall(c) => return write!(f, "syscall.{}", c.as_str()),
            Rule::SyscallUnreadableArgument => "syscall.unreadable_argument",
            Rule::SeccompAbi => "seccomp.abi",
            Rule::LimitsMemory => "limits.memory",
            Rule::LimitsPids => "limits.pids",
            Rule::LimitsOutput => "limits.output",
            Rule::LimitsDisk => "limits.disk",
            Rule::LimitsCpuTime => "limits.cpu_time",
            Rule::ReportTruncated => "report.truncated",
        };
        f.write_str(fixed)
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Rule::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown rule {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_round_trips_through_its_text() {
        let all = Rule::all();
        for r in &all {
            assert_eq!(Rule::parse(&r.to_string()), Some(*r), "{r}");
            let json = serde_json::to_string(r).unwrap_or_default();
            assert_eq!(json, format!("{:?}", r.to_string()));
            assert_eq!(serde_json::from_str::<Rule>(&json).ok(), Some(*r));
            assert!(!r.description().is_empty());
        }
        let mut texts: Vec<String> = all.iter().map(Rule::to_string).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), all.len(), "no two rules share a name");
    }

    #[test]
    fn the_strings_users_know_are_unchanged() {
        assert_eq!(Rule::FsWrite.to_string(), "fs.write");
        assert_eq!(Rule::Network(NetworkMode::None).to_string(), "network.none");
        assert_eq!(Rule::Syscall(SyscallClass::IoUring).to_string(), "syscall.io_uring");
        assert_eq!(Rule::Syscall(SyscallClass::DeviceNodes).to_string(), "syscall.device_nodes");
        assert_eq!(Rule::LimitsCpuTime.to_string(), "limits.cpu_time");
        assert_eq!(Rule::parse("syscall.unreadable_argument"), Some(Rule::SyscallUnreadableArgument));
        assert_eq!(Rule::parse("fs.nonsense"), None);
        assert_eq!(Rule::parse("syscall.nonsense"), None);
        assert!(serde_json::from_str::<Rule>("\"network.everything\"").is_err());
        assert!(Rule::LimitsOutput.is_limit() && !Rule::FsWrite.is_limit());
    }
}
