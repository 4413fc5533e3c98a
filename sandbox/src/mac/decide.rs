//! Whether a task runs under orchestra's AppArmor profile: one pure decision
//! ([`decide`]) from the policy's `mac.apparmor` and facts about the host,
//! which are probed apart ([`AppArmorHost`], [`probe`]) so that every
//! combination is tested without a kernel that has AppArmor.
//!
//! Guarantees:
//! - `off` never probes anything and applies nothing;
//! - `required` gives [`Decision::Apply`] or [`Decision::Refuse`], never
//!   anything in between: a host without AppArmor, a profile that is not
//!   loaded (or cannot be told to be), or — for the jail, whose task enters
//!   the profile itself under `no_new_privs` — an orchestra that runs
//!   confined by another profile, each refuses the task before it runs;
//! - `if_available` gives [`Decision::Apply`] or [`Decision::NotApplied`]
//!   with the same reason the refusal would give, for the report;
//! - nothing here loads a profile: an administrator does
//!   (`orchestra policy apparmor … | sudo apparmor_parser -r`).

use crate::policy::AppArmorMode;

/// Whether a profile is loaded could not be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{PROFILES} is not readable and the kernel's test of the profile failed: {0}")]
pub struct LoadedUnknown(pub String);

/// Why a jail task on this host cannot enter a profile at its exec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// No AppArmor in the kernel, or it is disabled.
    #[error("this host's kernel has no AppArmor (or it is disabled)")]
    NoAppArmor,
    /// The thread's attributes cannot be read.
    #[error("the thread's AppArmor attributes (/proc/thread-self/attr) cannot be read")]
    Unreadable,
    /// orchestra runs confined itself (the label).
    #[error(
        "orchestra itself runs confined by the AppArmor label {0:?}; under no_new_privs the kernel refuses its task's change to another profile"
    )]
    Confined(String),
}

/// What the host says about AppArmor.
pub trait AppArmorHost {
    /// Whether the kernel has AppArmor, enabled.
    fn enabled(&self) -> bool;
    /// This process's own confinement as the kernel reads it (`unconfined`,
    /// `NAME (MODE)`); `None` where it cannot be read.
    fn own_label(&self) -> Option<String>;
    /// Whether `profile` is loaded, and in which mode as the kernel prints it
    /// (`enforce`, `kill`, `complain`, …; empty where it cannot be read); an
    /// error where that cannot be told.
    fn loaded(&self, profile: &str) -> Result<Option<String>, LoadedUnknown>;
}

/// The host itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

/// The kernel's list of loaded profiles (readable by root only).
const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";

impl AppArmorHost for RealHost {
    fn enabled(&self) -> bool {
        super::apparmor_enabled()
    }

    fn own_label(&self) -> Option<String> {
        crate::sys::apparmor_attr_read("current").ok().map(|s| s.trim_end_matches(['\n', '\0']).to_string())
    }

    fn loaded(&self, profile: &str) -> Result<Option<String>, LoadedUnknown> {
        if let Ok(list) = std::fs::read_to_string(PROFILES) {
            return Ok(list
                .lines()
                .find(|l| label_names(l).contains(&profile))
                .map(|l| label_mode(l).unwrap_or_default().to_string()));
        }
        // Not root: ask the kernel whether this process could change to the
        // profile, without changing anything (`permprofile`, AppArmor's test
        // mode of change_profile). A profile that is not loaded is ENOENT.
        // The mode is not told: the task's read-back checks it.
        match crate::sys::apparmor_attr_write("current", &format!("permprofile {profile}")) {
            Ok(_) => Ok(Some(String::new())),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(LoadedUnknown(e.to_string())),
        }
    }
}

/// The profile names of a label as the kernel prints it: `unconfined`,
/// `NAME (MODE)`, or a stack `A//&B (MODE)`.
pub fn label_names(label: &str) -> Vec<&str> {
    let label = label.trim_end_matches(['\n', '\0']);
    let names = match label.rsplit_once(" (") {
        Some((names, mode)) if mode.ends_with(')') => names,
        _ => label,
    };
    names.split("//&").map(|n| n.trim_start_matches(':')).collect()
}

/// The mode of a label as the kernel prints it (`NAME (MODE)`), if it has one.
pub fn label_mode(label: &str) -> Option<&str> {
    let label = label.trim_end_matches(['\n', '\0']);
    let (_, mode) = label.rsplit_once(" (")?;
    mode.strip_suffix(')')
}

/// Whether a profile in `mode` confines: `enforce` and `kill` do; `complain`,
/// `unconfined` and the rest only log or allow.
pub fn enforcing(mode: &str) -> bool {
    mode == "enforce" || mode == "kill"
}

/// Whether a label lets its process change to another profile under
/// `no_new_privs`: only the unconfined one does (or a profile in the
/// `unconfined` mode).
pub fn unconfined(label: &str) -> bool {
    let label = label.trim_end_matches(['\n', '\0']);
    label == "unconfined" || label.ends_with(" (unconfined)")
}

/// The profile wanted for a task, and how.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The policy's `mac.apparmor`.
    pub mode: AppArmorMode,
    /// The profile's name.
    pub profile: &'a str,
    /// How an administrator loads it (a command line), for the messages.
    pub load: &'a str,
    /// The task enters the profile itself at its exec, under `no_new_privs`
    /// (the jail), rather than a container engine putting it there.
    pub by_task: bool,
}

/// What was found on the host for [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The kernel has AppArmor, enabled.
    pub enabled: bool,
    /// The profile is loaded, in this mode (empty: not told); an error: cannot be told.
    pub loaded: Result<Option<String>, LoadedUnknown>,
    /// orchestra's own confinement, when it is not unconfined.
    pub confined_by: Option<String>,
}

/// Probe the host for `wanted` (nothing at all for `off`; no more than needed
/// otherwise).
pub fn probe(host: &dyn AppArmorHost, wanted: &Wanted<'_>) -> Facts {
    let nothing = Facts { enabled: false, loaded: Ok(None), confined_by: None };
    if wanted.mode == AppArmorMode::Off || !host.enabled() {
        return nothing;
    }
    let confined_by = if wanted.by_task { host.own_label().filter(|l| !unconfined(l)) } else { None };
    Facts { enabled: true, loaded: host.loaded(wanted.profile), confined_by }
}

/// Whether a jail task on this host could enter a loaded profile at its exec
/// (`change_onexec` under `no_new_privs`), whatever the profile: `Ok`, or why
/// not (for `orchestra sandbox probe`).
pub fn change_onexec_usable(host: &dyn AppArmorHost) -> Result<(), Unusable> {
    if !host.enabled() {
        return Err(Unusable::NoAppArmor);
    }
    match host.own_label() {
        None => Err(Unusable::Unreadable),
        Some(l) if !unconfined(&l) => Err(Unusable::Confined(l.trim_end().to_string())),
        Some(_) => Ok(()),
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `mac.apparmor: off`.
    Off,
    /// Apply the profile.
    Apply,
    /// `if_available` and the profile cannot be applied: why.
    NotApplied(String),
    /// `required` and the profile cannot be applied: why (nothing runs).
    Refuse(String),
}

/// Decide for `wanted` on a host with `facts`.
pub fn decide(wanted: &Wanted<'_>, facts: &Facts) -> Decision {
    if wanted.mode == AppArmorMode::Off {
        return Decision::Off;
    }
    let profile = wanted.profile;
    let why = if !facts.enabled {
        Some("this host's kernel has no AppArmor (or it is disabled)".to_string())
    } else {
        match &facts.loaded {
            Err(e) => Some(format!("cannot tell whether the AppArmor profile {profile} is loaded: {e}")),
            Ok(None) => Some(format!("the AppArmor profile {profile} is not loaded (load it: {})", wanted.load)),
            // A profile that only logs (complain) or allows confines nothing.
            Ok(Some(mode)) if !mode.is_empty() && !enforcing(mode) => Some(format!(
                "the AppArmor profile {profile} is loaded in {mode} mode, which enforces nothing (load it in enforce mode: {})",
                wanted.load
            )),
            Ok(Some(_)) => facts.confined_by.as_ref().map(|l| {
                format!(
                    "orchestra itself runs confined by the AppArmor label {l:?}; under no_new_privs the kernel refuses its task's change to {profile}"
                )
            }),
        }
    };
    match (why, wanted.mode) {
        (None, _) => Decision::Apply,
        (Some(w), AppArmorMode::Required) => Decision::Refuse(format!("mac.apparmor: required, but {w}")),
        (Some(w), _) => Decision::NotApplied(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A host whose answers are given, counting what was asked.
    struct Fake {
        enabled: bool,
        label: Option<&'static str>,
        loaded: Result<Option<String>, LoadedUnknown>,
        asked: Cell<u32>,
    }

    impl AppArmorHost for Fake {
        fn enabled(&self) -> bool {
            self.asked.set(self.asked.get() + 1);
            self.enabled
        }
        fn own_label(&self) -> Option<String> {
            self.label.map(String::from)
        }
        fn loaded(&self, profile: &str) -> Result<Option<String>, LoadedUnknown> {
            assert_eq!(profile, "orchestra-jail-0123456789abcdef");
            self.loaded.clone()
        }
    }

    /// `loaded`: `Ok(true)` is loaded in enforce mode, `Ok(false)` not loaded.
    fn fake(enabled: bool, label: Option<&'static str>, loaded: Result<bool, LoadedUnknown>) -> Fake {
        let loaded = loaded.map(|l| l.then(|| "enforce".to_string()));
        Fake { enabled, label, loaded, asked: Cell::new(0) }
    }

    fn wanted(mode: AppArmorMode, by_task: bool) -> Wanted<'static> {
        Wanted { mode, profile: "orchestra-jail-0123456789abcdef", load: "LOAD", by_task }
    }

    fn run(mode: AppArmorMode, by_task: bool, host: &Fake) -> Decision {
        let w = wanted(mode, by_task);
        decide(&w, &probe(host, &w))
    }

    #[test]
    fn off_probes_nothing_and_applies_nothing() {
        let host = fake(true, Some("unconfined"), Ok(true));
        assert_eq!(run(AppArmorMode::Off, true, &host), Decision::Off);
        assert_eq!(host.asked.get(), 0);
    }

    #[test]
    fn every_combination_applies_refuses_or_records() {
        use AppArmorMode::{IfAvailable, Required};
        let cases: Vec<(Fake, Option<&str>)> = vec![
            // (host, the reason it cannot apply; None: it applies)
            (fake(false, None, Ok(false)), Some("kernel has no AppArmor")),
            (fake(true, Some("unconfined"), Ok(false)), Some("is not loaded (load it: LOAD)")),
            (fake(true, Some("unconfined"), Err(LoadedUnknown("EIO".into()))), Some("cannot tell whether")),
            (fake(true, Some("docker-default (enforce)"), Ok(true)), Some("runs confined")),
            (fake(true, Some("orchestra (complain)"), Ok(true)), Some("runs confined")),
            (fake(true, Some("unconfined"), Ok(true)), None),
            (fake(true, Some("orchestra (unconfined)\n"), Ok(true)), None),
            // Cannot read its own label: the task's write decides (and is checked).
            (fake(true, None, Ok(true)), None),
        ];
        for (host, why) in &cases {
            let required = run(Required, true, host);
            let optional = run(IfAvailable, true, host);
            match why {
                None => {
                    assert_eq!(required, Decision::Apply, "{:?}", host.label);
                    assert_eq!(optional, Decision::Apply, "{:?}", host.label);
                }
                Some(why) => {
                    let Decision::Refuse(r) = &required else { panic!("required on {:?}: {required:?}", host.label) };
                    assert!(r.starts_with("mac.apparmor: required, but ") && r.contains(why), "{r}");
                    let Decision::NotApplied(n) = &optional else { panic!("if_available: {optional:?}") };
                    assert!(n.contains(why) && !n.contains("required"), "{n}");
                    assert!(!r.contains('\n') && !n.contains('\n'), "one line: {r}");
                }
            }
        }
    }

    #[test]
    fn a_profile_loaded_in_complain_mode_is_not_applied_and_required_refuses() {
        // Review 56, F5: a profile that only logs was counted as loaded.
        for mode in ["complain", "unconfined", "audit"] {
            let mut host = fake(true, Some("unconfined"), Ok(true));
            host.loaded = Ok(Some(mode.to_string()));
            let Decision::Refuse(r) = run(AppArmorMode::Required, true, &host) else { panic!("{mode}") };
            assert!(r.contains(&format!("loaded in {mode} mode, which enforces nothing")), "{r}");
            assert!(matches!(run(AppArmorMode::IfAvailable, true, &host), Decision::NotApplied(_)), "{mode}");
        }
        for mode in ["enforce", "kill", ""] {
            let mut host = fake(true, Some("unconfined"), Ok(true));
            host.loaded = Ok(Some(mode.to_string()));
            assert_eq!(run(AppArmorMode::Required, true, &host), Decision::Apply, "{mode:?}");
        }
        assert_eq!(label_mode("a//&b (complain)\n"), Some("complain"));
        assert_eq!(label_mode("unconfined"), None);
    }

    #[test]
    fn a_container_engine_applies_the_profile_whatever_orchestras_own_label() {
        let host = fake(true, Some("orchestra (enforce)"), Ok(true));
        assert_eq!(run(AppArmorMode::Required, false, &host), Decision::Apply);
        assert!(matches!(run(AppArmorMode::Required, true, &host), Decision::Refuse(_)));
    }

    #[test]
    fn the_probe_says_whether_change_onexec_could_be_used() {
        assert!(change_onexec_usable(&fake(false, None, Ok(false))).unwrap_err().to_string().contains("no AppArmor"));
        assert!(change_onexec_usable(&fake(true, None, Ok(false))).unwrap_err().to_string().contains("cannot be read"));
        assert!(
            change_onexec_usable(&fake(true, Some("x (enforce)"), Ok(true)))
                .unwrap_err()
                .to_string()
                .contains("confined")
        );
        assert!(change_onexec_usable(&fake(true, Some("unconfined\n"), Ok(false))).is_ok());
    }

    #[test]
    fn labels_are_read_as_the_kernel_prints_them() {
        assert_eq!(label_names("unconfined\n"), ["unconfined"]);
        assert_eq!(label_names("orchestra-jail-ab (enforce)"), ["orchestra-jail-ab"]);
        assert_eq!(label_names("unconfined//&orchestra-jail-ab (enforce)"), ["unconfined", "orchestra-jail-ab"]);
        assert!(unconfined("unconfined\n") && unconfined("x (unconfined)"));
        assert!(!unconfined("x (enforce)") && !unconfined("unconfined//&x (enforce)"));
    }
}
