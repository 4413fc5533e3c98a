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
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, path_beneath_rules,
};
use std::path::PathBuf;

/// The lowest landlock ABI the jail accepts (ABI 1 lacks REFER, which makes
/// cross-directory renames and links impossible to restrict).
pub const MIN_ABI: i32 = 2;

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
    if plan.namespaces {
        // Decoys exist only in the jail's own root; without namespaces the path is
        // the real hidden file and must stay unreadable.
        for d in &plan.decoys {
            readable.push(d.path.clone());
        }
    }
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    ruleset = ruleset.handle_access(AccessFs::from_all(abi))?;
    let deny_tcp = plan.network == NetworkMode::None && host_abi >= 4;
    if deny_tcp {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    // Signals never leave the task's domain; abstract unix sockets neither, unless
    // the policy grants the host's network (where they are part of it).
    let scoped = host_abi >= 6;
    let scope_abstract = scoped && plan.network != NetworkMode::Host;
    if scoped {
        let scopes = if scope_abstract { Scope::AbstractUnixSocket | Scope::Signal } else { Scope::Signal.into() };
        ruleset = ruleset.scope(scopes)?;
    }
    let read = AccessFs::from_read(abi);
    let ruleset = ruleset
        .create()?
        .add_rules(path_beneath_rules(&readable, read))?
        .add_rules(path_beneath_rules(&plan.writable, AccessFs::from_all(abi)))?
        .add_rules(path_beneath_rules(&plan.writable_files, AccessFs::from_file(abi)))?
        // Directory names are not secrets (hidden files are decoys): listing is allowed
        // everywhere, reading file contents only below the readable roots.
        .add_rules(path_beneath_rules(["/"], AccessFs::ReadDir))?;
    let detail = format!(
        "abi {host_abi}, fully enforced: read {} roots, write {} roots{}{}",
        readable.len(),
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
