//! The task's landlock domain: read+execute below the readable roots, full
//! access below the writable roots, write to a few device files, nothing else;
//! TCP bind/connect denied when the network mode is `none`; abstract unix
//! sockets and signals scoped to the task's own domain where the ABI has them.
//!
//! Enforcement is all-or-nothing: the ruleset is built at the host's ABI with
//! `CompatLevel::HardRequirement`, and anything but `FullyEnforced` is an error.

use super::plan::JailPlan;
use crate::policy::NetworkMode;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::path::PathBuf;

/// The lowest landlock ABI the jail accepts (ABI 1 lacks REFER, which makes
/// cross-directory renames and links impossible to restrict).
pub const MIN_ABI: i32 = 2;

/// The first landlock ABI that scopes abstract unix sockets and signals to
/// the task's domain (Linux 6.12).
pub const SCOPE_ABI: i32 = 6;

/// Why the landlock domain could not be put in place (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The host's ABI is too old.
    #[error("landlock ABI {0} is below the required {MIN_ABI}")]
    Abi(i32),
    /// Building or applying the ruleset failed.
    #[error("landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// The kernel applied less than asked.
    #[error("landlock ruleset not fully enforced ({})", status_text(.0))]
    Partial(RulesetStatus),
    /// A rule's path goes through a symlink (never followed: the rule would
    /// name another object than the mount and the supervisor's check).
    #[error("landlock rule for {}: a symlink in the path (never followed)", .0.display())]
    ThroughLink(PathBuf),
}

/// The rules granting `access` below each of `paths`, each on the inode at
/// that very path: opened without following a symlink anywhere in it (openat2
/// `RESOLVE_NO_SYMLINKS`), so the rule, the mount and the supervisor's check
/// name the same object; with `follow`, symlinks are followed (decoys, placed
/// by the init itself). A path that does not exist or cannot be reached gets
/// no rule (nothing granted); one through a symlink is an error. A file gets
/// only the access rights that apply to files.
fn rules(
    paths: &[PathBuf],
    access: BitFlags<AccessFs>,
    follow: bool,
    abi: ABI,
) -> Result<Vec<PathBeneath<std::os::fd::OwnedFd>>, LandlockError> {
    use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat2};
    let mut out = Vec::new();
    for path in paths {
        let mut how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC);
        if !follow {
            how = how.resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        }
        let fd = match openat2(AT_FDCWD, path.as_path(), how) {
            Ok(fd) => fd,
            // A symlink: fail closed rather than grant less than the plan says
            // without a word.
            Err(nix::errno::Errno::ELOOP) => return Err(LandlockError::ThroughLink(path.clone())),
            // Absent or unreachable: no rule, as ever (nothing granted).
            Err(_) => continue,
        };
        let is_file = nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT != libc::S_IFDIR);
        let access = if is_file { access & AccessFs::from_file(abi) } else { access };
        out.push(PathBeneath::new(fd, access));
    }
    Ok(out)
}

/// The task's own devpts directory ([`JailPlan::ptys`]).
fn pty_dir(plan: &JailPlan) -> Vec<PathBuf> {
    if plan.ptys { vec![PathBuf::from(super::plan::PTY_DIR)] } else { Vec::new() }
}

/// Stable words for a ruleset status (this text reaches audit records).
fn status_text(s: &RulesetStatus) -> &'static str {
    match s {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => "not enforced",
    }
}

/// The task's landlock domain, built (every rule added) but not yet in force:
/// the init builds it before the task is forked, while the jail's other
/// set-up (the cgroup join) is still under way; the task puts it in force
/// with [`Prepared::restrict_self`] after dropping its privileges. A rule
/// names an inode, opened here in the jail's final root, which the task
/// shares: the inodes are those the task would open itself.
pub struct Prepared {
    ruleset: landlock::RulesetCreated,
    detail: String,
}

impl Prepared {
    /// Put the domain in force on the calling process (all or nothing).
    /// Returns the attestation detail.
    pub fn restrict_self(self) -> Result<String, LandlockError> {
        let status = self.ruleset.restrict_self()?;
        if status.ruleset != RulesetStatus::FullyEnforced {
            return Err(LandlockError::Partial(status.ruleset));
        }
        Ok(self.detail)
    }
}

/// Build the task's domain (see [`Prepared`]).
pub fn prepare(plan: &JailPlan) -> Result<Prepared, LandlockError> {
    let host_abi = crate::sys::landlock_abi();
    if host_abi < MIN_ABI {
        return Err(LandlockError::Abi(host_abi));
    }
    let abi = ABI::from(host_abi);
    let mut readable: Vec<PathBuf> = plan.readable.clone();
    readable.push(PathBuf::from("/proc"));
    if plan.namespaces {
        // The jail's /dev holds only the planned device nodes. Without namespaces it
        // is the host's, so only those nodes are granted (as writable_files).
        readable.push(PathBuf::from("/dev"));
    }
    // Decoys exist only in the jail's own root; without namespaces the path is
    // the real hidden file and must stay unreadable.
    let decoys: Vec<PathBuf> =
        if plan.namespaces { plan.decoys.iter().map(|d| d.path.clone()).collect() } else { Vec::new() };
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    ruleset = ruleset.handle_access(AccessFs::from_all(abi))?;
    let deny_tcp = plan.network == NetworkMode::None && host_abi >= 4;
    if deny_tcp {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    // Signals never leave the task's domain; abstract unix sockets neither, unless
    // the policy grants the host's network (where they are part of it).
    let scoped = host_abi >= SCOPE_ABI;
    let scope_abstract = scoped && plan.network != NetworkMode::Host;
    if scoped {
        let scopes = if scope_abstract { Scope::AbstractUnixSocket | Scope::Signal } else { Scope::Signal.into() };
        ruleset = ruleset.scope(scopes)?;
    }
    let read = AccessFs::from_read(abi);
    let granted = [
        rules(&readable, read, false, abi)?,
        rules(&decoys, read, true, abi)?,
        rules(&plan.writable, AccessFs::from_all(abi), false, abi)?,
        rules(&plan.writable_files, AccessFs::from_file(abi), false, abi)?,
        // The jail's own devpts instance (plan::PTY_DIR): its ptmx and the
        // terminals the task opens there.
        rules(&pty_dir(plan), AccessFs::from_file(abi), false, abi)?,
        // Directory names are not secrets (hidden files are decoys): listing is allowed
        // everywhere, reading file contents only below the readable roots.
        rules(&[PathBuf::from("/")], AccessFs::ReadDir.into(), false, abi)?,
    ];
    let mut ruleset = ruleset.create()?;
    for r in granted {
        ruleset = ruleset.add_rules(r.into_iter().map(Ok::<_, landlock::RulesetError>))?;
    }
    let detail = format!(
        "abi {host_abi}, fully enforced: read {} roots, write {} roots{}{}",
        readable.len() + decoys.len(),
        plan.writable.len(),
        if deny_tcp { ", tcp bind/connect denied" } else { "" },
        match (scoped, scope_abstract) {
            (true, true) => ", abstract unix sockets and signals scoped",
            (true, false) => ", signals scoped",
            _ => "",
        },
    );
    Ok(Prepared { ruleset, detail })
}
