//! Learning a policy from what a task was denied (`orchestra policy learn`).
//!
//! Guarantees:
//! - a violation becomes at most one [`Widening`], read from its rule and,
//!   for `fs.write`, from the path its detail names (the
//!   details are written in `jail::decide` and `jail::supervisor`; the tests
//!   here pin their shapes);
//! - a widening never grants what a policy file could not: a writable root
//!   goes through the loader's host-exposing check, and what cannot be
//!   learned (a protected path, set-ID bits, a device node, an unresolvable
//!   path…) is returned as such, never silently dropped;
//! - each applied widening comes with the line that explains it (which
//!   observation needed it), for the learned file's comments.

use crate::policy::{Limit, NetworkMode, Policy, TmpMode, WorkdirAccess};
use crate::{Rule, Violation};
use std::path::{Path, PathBuf};

/// One change a learned policy makes to its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Widening {
    /// Make this directory writable (`filesystem.read_write`).
    Write(PathBuf),
    /// Allow this network mode (only `loopback` is ever learned).
    Network(NetworkMode),
    /// Lift this limit (`limits.<name>: unlimited`).
    Limit(&'static str),
}

/// Why a denial is not learned; the text goes into the learned file's
/// `# not learned:` comments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotLearned {
    /// An `fs.write` detail without the path it is expected to name.
    #[error("{rule}: no path in {detail:?}")]
    NoPath {
        /// The violation's rule.
        rule: Rule,
        /// Its detail.
        detail: String,
    },
    /// A hidden path: it holds secrets.
    #[error(
        "{rule} is never learned: hidden paths hold secrets; list the path under read_only yourself if the task must read it ({detail})"
    )]
    Hidden {
        /// The violation's rule.
        rule: Rule,
        /// Its detail.
        detail: String,
    },
    /// The host's network: an opt-out of isolation.
    #[error("{rule} is never learned: network.mode host is an opt-out to write yourself")]
    HostNetwork {
        /// The violation's rule.
        rule: Rule,
    },
    /// A denied syscall class: an opt-out of isolation.
    #[error("{rule} is never learned: syscalls.allow [{class}] is an opt-out to write yourself")]
    Syscall {
        /// The violation's rule.
        rule: Rule,
        /// The class's policy name.
        class: &'static str,
    },
    /// Any other rule (protected paths, set-ID bits, devices…).
    #[error("{rule} is never learned ({detail})")]
    Never {
        /// The violation's rule.
        rule: Rule,
        /// Its detail.
        detail: String,
    },
    /// A write root that a policy file could not name either.
    #[error("a write below {} cannot be allowed: it {why}", dir.display())]
    HostExposing {
        /// The directory the write asked for.
        dir: PathBuf,
        /// What it would expose.
        why: String,
    },
}

/// What a violation asks for: a widening, or why it cannot be learned.
pub fn widening(v: &Violation) -> Result<Widening, NotLearned> {
    let rule = v.rule;
    match rule {
        Rule::FsWrite => {
            let path = between(&v.detail, &["write to ", "change of "], " outside the writable roots")
                .ok_or_else(|| NotLearned::NoPath { rule, detail: v.detail.clone() })?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or(path);
            Ok(Widening::Write(dir))
        }
        // Hidden paths hold secrets; the host's network and the denied syscall
        // classes are opt-outs of isolation. None is ever learned: a person
        // who wants one writes it into the policy (the run says which).
        Rule::FsHidden => Err(NotLearned::Hidden { rule, detail: v.detail.clone() }),
        Rule::Network(NetworkMode::None) => Ok(Widening::Network(NetworkMode::Loopback)),
        Rule::Network(_) => Err(NotLearned::HostNetwork { rule }),
        Rule::Syscall(c) => Err(NotLearned::Syscall { rule, class: c.as_str() }),
        Rule::LimitsMemory => Ok(Widening::Limit("memory")),
        Rule::LimitsPids => Ok(Widening::Limit("pids")),
        Rule::LimitsOutput => Ok(Widening::Limit("output")),
        Rule::LimitsDisk => Ok(Widening::Limit("disk")),
        Rule::LimitsCpuTime => Ok(Widening::Limit("cpu_time")),
        _ => Err(NotLearned::Never { rule, detail: v.detail.clone() }),
    }
}

/// The path in `detail` after the first of `starts` and before the last
/// `end` (a file name may itself contain either text; the detail's own words
/// come first and last).
fn between(detail: &str, starts: &[&str], end: &str) -> Option<PathBuf> {
    starts.iter().find_map(|s| {
        let from = detail.find(s)? + s.len();
        let rest = &detail[from..];
        let to = rest.rfind(end)?;
        let p = PathBuf::from(&rest[..to]);
        p.is_absolute().then_some(p)
    })
}

/// Apply `w` to `policy` for a task in `workdir` (the user's `~` is
/// `homes[0]`): the explanation for the learned file, or why it cannot be
/// applied. A write below a read-only workdir makes the workdir writable, and
/// one below `/tmp` without a `/tmp` gives the task a private one — never the
/// host's.
pub fn apply(policy: &mut Policy, w: &Widening, homes: &[PathBuf], workdir: &Path) -> Result<String, NotLearned> {
    let fs = &mut policy.filesystem;
    match w {
        Widening::Write(dir) if dir.starts_with(workdir) && fs.workdir == WorkdirAccess::ReadOnly => {
            fs.workdir = WorkdirAccess::ReadWrite;
            Ok("filesystem.workdir: read_write".to_string())
        }
        Widening::Write(dir) if dir.starts_with("/tmp") && fs.tmp == TmpMode::None => {
            fs.tmp = TmpMode::Private;
            Ok("filesystem.tmp: private (a private /tmp, never the host's)".to_string())
        }
        Widening::Write(dir) => {
            if let Some(why) = crate::policy::load::host_exposing_write_root(dir, homes) {
                return Err(NotLearned::HostExposing { dir: dir.clone(), why });
            }
            let text = dir.to_string_lossy().into_owned();
            if !fs.read_write.contains(&text) {
                fs.read_write.push(text);
            }
            Ok(format!("filesystem.read_write += {}", dir.display()))
        }
        Widening::Network(mode) => {
            policy.network.mode = *mode;
            Ok(format!("network.mode: {}", mode.as_str()))
        }
        Widening::Limit(name) => {
            let l = &mut policy.limits;
            match *name {
                "memory" => l.memory = Limit::Unlimited,
                "pids" => l.pids = Limit::Unlimited,
                "output" => l.output = Limit::Unlimited,
                "disk" => l.disk = Limit::Unlimited,
                _ => l.cpu_time = Limit::Unlimited,
            }
            Ok(format!("limits.{name}: unlimited"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(rule: &str, detail: &str) -> Violation {
        Violation::now(Rule::parse(rule).unwrap(), detail.to_string())
    }

    #[test]
    fn the_details_the_supervisor_writes_name_their_paths() {
        // The shapes of jail::decide's and jail::supervisor's details.
        let w = v("fs.write", "openat: write to /srv/out/app outside the writable roots");
        assert_eq!(widening(&w), Ok(Widening::Write("/srv/out".into())));
        let w = v("fs.write", "fchmod: change of /srv/out/app outside the writable roots");
        assert_eq!(widening(&w), Ok(Widening::Write("/srv/out".into())));
        let h = v("fs.hidden", "read /home/u/.ssh/id_rsa (a hidden path; the task saw an empty decoy)");
        assert!(widening(&h).is_err(), "a secret is never learned");
        assert!(widening(&v("syscall.bpf", "bpf")).is_err());
        assert!(widening(&v("network.loopback", "connect 10.0.0.1")).is_err());
        assert_eq!(widening(&v("network.none", "connect")), Ok(Widening::Network(NetworkMode::Loopback)));
        assert!(
            widening(&v("fs.protected", "openat: write to /w/.git/hooks/x, a protected path (/w/.git/hooks)")).is_err()
        );
        assert!(widening(&v("fs.setuid", "chmod 4755")).is_err());
        // A name that holds the detail's own words is read whole.
        let w = v("fs.write", "openat: write to /srv/a outside the writable roots/b outside the writable roots");
        assert_eq!(widening(&w), Ok(Widening::Write("/srv/a outside the writable roots".into())));
    }

    #[test]
    fn a_widening_never_grants_what_a_file_could_not() {
        let (mut p, _) = crate::policy::load_policy("default").unwrap();
        let homes = vec![PathBuf::from("/home/u")];
        let w = Path::new("/w");
        assert!(apply(&mut p, &Widening::Write("/etc".into()), &homes, w).is_err());
        assert!(apply(&mut p, &Widening::Write("/home/u/.ssh".into()), &homes, w).is_err());
        assert!(apply(&mut p, &Widening::Write("/home/u".into()), &homes, w).is_err());
        assert!(apply(&mut p, &Widening::Write("/srv/out".into()), &homes, w).is_ok());
        assert!(p.filesystem.read_write.contains(&"/srv/out".to_string()));
        // strict: no /tmp and a read-only workdir.
        let (mut s, _) = crate::policy::load_policy("strict").unwrap();
        apply(&mut s, &Widening::Write("/tmp".into()), &homes, w).unwrap();
        assert_eq!(s.filesystem.tmp, TmpMode::Private);
        assert!(!s.filesystem.read_write.iter().any(|r| r == "/tmp"), "never the host's /tmp");
    }
}
