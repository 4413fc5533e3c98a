//! The AppArmor profile of a jail task: the task's own view (paths as it sees
//! them after the jail's mounts, which keep every host path at its place)
//! written as AppArmor rules, which the task enters at its exec
//! (`change_onexec`, [`crate::jail::init`]).
//!
//! Guarantees:
//! - the profile is a function of the policy, the workspace and the home
//!   alone (never of what happens to exist on the host), and is named by the
//!   SHA-256 of its own rules (`orchestra-jail-<16 hex>`): a change in any of
//!   them, or in this generator, is a new name, so a stale loaded profile is
//!   never taken for the current one, and no policy text can choose the name;
//! - it grants no more than the jail: reads and execution below the policy's
//!   readable roots, the workspace, `/proc` and the jail's devices; writes
//!   only below the writable roots (the workspace unless read-only,
//!   `read_write`, `copy_on_write`, the private `/tmp` and `/dev/shm`); no
//!   write to `.orchestra/`, the protected paths, a `read_only` path inside a
//!   writable root, or a hidden path; IP sockets only when the policy's
//!   network is not `none`, never raw or packet ones; no mount, capability or
//!   change of profile;
//! - hidden paths stay readable with a mount namespace, where what is there is
//!   the jail's decoy, whose reads are how `fs.hidden` and `canary.read` are
//!   observed (a denial would turn a reported violation into a silent
//!   EACCES); without one they are denied outright;
//! - where a writable root lies inside a path the policy keeps read-only (or
//!   hidden), the most specific root decides, as in the jail: that path gets
//!   no deny rule (AppArmor's deny would win over the writable root inside);
//! - every path is quoted with AppArmor's pattern characters escaped
//!   ([`super::quoted`]); one that cannot be written literally (a control
//!   character, `@`, a quote, not UTF-8, relative, `..`) is an error.
//!
//! AppArmor only takes away: what it allows, the jail's other layers still
//! refuse as before.

use super::{MacError, quoted};
use crate::jail::plan::DEVICES;
use crate::policy::{NamespaceMode, NetworkMode, Policy, SyscallClass, TmpMode, WorkdirAccess, load::expand_home};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// Where a jail task runs, as far as its profile is concerned.
#[derive(Debug, Clone, Copy)]
pub struct JailView<'a> {
    /// The workspace (absolute, resolved, as `orchestra exec` resolves it).
    pub workdir: &'a Path,
    /// The home `~` stands for in the policy (the invoking user's `$HOME`).
    pub home: &'a Path,
}

/// A jail profile: its name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailProfile {
    /// `orchestra-jail-<16 hex>`.
    pub name: String,
    /// The profile, ready for `apparmor_parser`.
    pub text: String,
}

/// `path` as AppArmor names it: absolute, UTF-8, no `.`/`..`, no repeated or
/// trailing `/`.
fn plain(path: &Path) -> Result<String, MacError> {
    let bad = |why| MacError { path: path.to_string_lossy().into_owned(), why };
    if !path.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    let mut out = String::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => {
                out.push('/');
                out.push_str(n.to_str().ok_or_else(|| bad("not UTF-8"))?);
            }
            _ => return Err(bad("`.` or `..` in it")),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// `"DIR/**"` for a plain path.
fn below(dir: &str) -> Result<String, MacError> {
    let q = quoted(dir.trim_end_matches('/'))?;
    Ok(format!("{}/**\"", &q[..q.len() - 1]))
}

/// The paths of a policy list, `~` expanded, plain.
fn expanded(list: &[String], home: &Path) -> Result<Vec<String>, MacError> {
    list.iter().map(|p| plain(&expand_home(p, home))).collect()
}

/// Whether `inner` is `outer` or lies below it.
fn within(inner: &str, outer: &str) -> bool {
    Path::new(inner).starts_with(outer)
}

/// The rules of the jail profile for `policy` at `view` (the body between the
/// braces; the name is the hash of this text).
fn rules(policy: &Policy, view: &JailView<'_>) -> Result<String, MacError> {
    let fs = &policy.filesystem;
    let ns = policy.jail.namespaces == NamespaceMode::Required;
    let work = plain(view.workdir)?;
    let home = plain(view.home)?;
    let rw_work = fs.workdir == WorkdirAccess::ReadWrite;

    let mut writable: Vec<String> = Vec::new();
    if rw_work {
        writable.push(work.clone());
    }
    writable.extend(expanded(&fs.read_write, view.home)?);
    if ns {
        writable.extend(expanded(&fs.copy_on_write, view.home)?);
        if fs.tmp == TmpMode::Private {
            writable.push("/tmp".into());
        }
        writable.push("/dev/shm".into());
    }
    let mut readable = expanded(&fs.read_only, view.home)?;
    if !rw_work {
        readable.push(work.clone());
    }
    // A path kept from writes gets its deny rule only when no writable root
    // lies at or below it (the most specific root decides).
    let deniable = |p: &str| !writable.iter().any(|w| within(w, p));

    let mut r = String::new();
    r.push_str("  #include <abstractions/base>\n\n");
    r.push_str("  # Directory listings everywhere (names are no secret; the jail allows them too).\n");
    r.push_str("  / r,\n  /**/ r,\n");
    r.push_str("\n  # Readable, and programs run from there.\n");
    for p in &readable {
        let _ = writeln!(r, "  {} mrix,\n  {} mrix,", quoted(p)?, below(p)?);
    }
    r.push_str("  @{PROC}/ r,\n  @{PROC}/** r,\n");
    if ns {
        r.push_str("  /dev/ r,\n  /dev/** r,\n");
    }
    for d in DEVICES {
        let _ = writeln!(r, "  {} rw,", quoted(d)?);
    }
    r.push_str("  # The task's own terminal (`exec --tty`).\n  /dev/pts/[0-9]* rw,\n");
    if ns {
        // AppArmor judges the resolved path: /dev/ptmx is a link to pts/ptmx.
        r.push_str("  # The jail's own devpts instance: pseudo-terminals the task opens.\n  /dev/pts/ptmx rw,\n");
    }

    r.push_str("\n  # Writable roots.\n");
    for w in &writable {
        let _ = writeln!(r, "  {} rwlkmix,\n  {} rwlkmix,", quoted(w)?, below(w)?);
    }

    r.push_str("\n  # Never written: orchestra's state, the protected paths, read-only paths inside writable roots.\n");
    let mut kept: Vec<String> = Vec::new();
    if rw_work {
        kept.push(format!("{work}/.orchestra"));
        for p in fs.protected_in(view.workdir) {
            kept.push(plain(&p)?);
        }
    }
    kept.extend(
        expanded(&fs.read_only, view.home)?.into_iter().filter(|p| writable.iter().any(|w| within(p, w) && p != w)),
    );
    for p in kept.iter().filter(|p| deniable(p)) {
        let _ = writeln!(r, "  deny {} wl,\n  deny {} wl,", quoted(p)?, below(p)?);
    }

    r.push_str("\n  # Hidden paths: never written; ");
    if ns {
        r.push_str("read, they are the jail's decoys (reported as fs.hidden, canary.read).\n");
    } else {
        r.push_str("never read (no decoys without a mount namespace).\n");
    }
    let mut hidden = expanded(&fs.hidden, view.home)?;
    if ns && policy.canaries {
        // Canary files are planted in the jail's home even where the policy
        // does not hide the path; their reads are what `canary.read` sees.
        for rel in [crate::canary::AWS_CREDENTIALS, crate::canary::SSH_KEY] {
            hidden.push(format!("{home}/{rel}"));
        }
    }
    let deny = if ns { "wlkmx" } else { "rwlkmx" };
    for h in hidden.iter().filter(|h| deniable(h)) {
        if ns {
            let _ = writeln!(r, "  {} r,\n  {} r,", quoted(h)?, below(h)?);
        }
        let _ = writeln!(r, "  deny {} {deny},\n  deny {} {deny},", quoted(h)?, below(h)?);
    }
    r.push_str(
        "  deny @{PROC}/sys/** w,\n  deny @{PROC}/sysrq-trigger rw,\n  deny @{PROC}/kcore r,\n  deny /sys/** w,\n",
    );

    r.push_str("\n  # Sockets: unix and netlink always (the seccomp filter narrows netlink to routing);\n");
    r.push_str("  # IP only when the policy's network is not none; never raw or packet.\n");
    r.push_str("  network unix,\n  network netlink raw,\n  network netlink dgram,\n");
    if policy.network.mode != NetworkMode::None {
        r.push_str("  network inet stream,\n  network inet dgram,\n  network inet6 stream,\n  network inet6 dgram,\n");
    }
    r.push_str("  deny network inet raw,\n  deny network inet6 raw,\n  deny network packet,\n");

    r.push_str("\n  # What the jail forbids, forbidden here too.\n");
    r.push_str("  deny mount,\n  deny umount,\n  deny pivot_root,\n  deny capability,\n  deny change_profile,\n");
    if !policy.denies(SyscallClass::Ptrace) {
        r.push_str("  # syscalls.allow: [ptrace]: the task may trace its own processes.\n");
        r.push_str("  ptrace (read, trace) peer=@{profile_name},\n");
    }
    Ok(r)
}

/// The name of a profile whose rules are `rules`.
fn name_of(rules: &str) -> String {
    let digest = Sha256::digest(rules.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("orchestra-jail-{hex}")
}

/// The AppArmor profile of a jail task under `policy` at `view`.
pub fn jail_profile(policy: &Policy, view: &JailView<'_>) -> Result<JailProfile, MacError> {
    let body = rules(policy, view)?;
    let name = name_of(&body);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Generated by orchestra for jail tasks under the policy sha256:{}, with the workspace\n# {} and the home {}; do not edit.",
        policy.hash(),
        quoted(&plain(view.workdir)?)?,
        quoted(&plain(view.home)?)?
    );
    text.push_str("abi <abi/3.0>,\n#include <tunables/global>\n\n");
    let _ = writeln!(text, "profile {name} flags=(attach_disconnected,mediate_deleted) {{");
    text.push_str(&body);
    text.push_str("}\n");
    Ok(JailProfile { name, text })
}

/// The command line that prints the profile of `view` (for messages telling
/// an administrator how to load it): `POLICY` stands for the policy file.
pub fn load_command(view: &JailView<'_>) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    format!(
        "orchestra policy apparmor --jail --workdir {} --home {} POLICY | sudo apparmor_parser -r",
        q(view.workdir),
        q(view.home)
    )
}

/// `s` single-quoted for a POSIX shell where it holds anything but the
/// characters of ordinary paths.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,=".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a jail task under `policy` at `view` enters its profile, decided
/// from what `host` says ([`super::decide`]), and the profile's name (none
/// for `off`). A policy whose profile cannot be written (a path AppArmor
/// cannot name) cannot have it applied: refused when required.
pub fn decision(
    policy: &Policy,
    view: &JailView<'_>,
    host: &dyn super::decide::AppArmorHost,
) -> (super::decide::Decision, Option<String>) {
    use super::decide::{Decision, Wanted, decide, probe};
    let mode = policy.mac.apparmor;
    if mode == crate::policy::AppArmorMode::Off {
        return (Decision::Off, None);
    }
    let profile = match jail_profile(policy, view) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("the policy's AppArmor profile cannot be written: {e}");
            return match mode {
                crate::policy::AppArmorMode::Required => {
                    (Decision::Refuse(format!("mac.apparmor: required, but {why}")), None)
                }
                _ => (Decision::NotApplied(why), None),
            };
        }
    };
    let load = load_command(view);
    let wanted = Wanted { mode, profile: &profile.name, load: &load, by_task: true };
    (decide(&wanted, &probe(host, &wanted)), Some(profile.name))
}

/// Make the calling thread's next execve enter `profile` (AppArmor's
/// `change_onexec`): write `exec PROFILE` to its `exec` attribute and read
/// it back. Returns the attribute file written. An error leaves the exec as
/// it was (the kernel takes the whole command or none of it).
///
/// A thread that is itself confined (a label the kernel gave it since the
/// host side decided, such as Ubuntu's for unprivileged user namespaces) is
/// refused here: under `no_new_privs` its exec into another profile would fail.
pub fn change_onexec(profile: &str) -> std::io::Result<PathBuf> {
    if let Ok(label) = crate::sys::apparmor_attr_read("current")
        && !super::decide::unconfined(&label)
    {
        return Err(std::io::Error::other(format!(
            "the task runs confined by the AppArmor label {:?}; under no_new_privs its exec could not enter {profile}",
            label.trim_end_matches(['\n', '\0'])
        )));
    }
    let path = crate::sys::apparmor_attr_write("exec", &format!("exec {profile}"))?;
    match crate::sys::apparmor_attr_read("exec") {
        Ok(label) if !super::decide::label_names(&label).contains(&profile) => Err(std::io::Error::other(format!(
            "{} holds {:?} after the write, not {profile}",
            path.display(),
            label.trim_end()
        ))),
        // Loaded in a mode that confines nothing (complain): not applied.
        Ok(label) if super::decide::label_mode(&label).is_some_and(|m| !super::decide::enforcing(m)) => {
            Err(std::io::Error::other(format!(
                "{} holds {:?}: the profile is loaded in a mode that enforces nothing",
                path.display(),
                label.trim_end_matches(['\n', '\0'])
            )))
        }
        // Read back as written, or not readable at all: the write's own
        // success is the kernel's answer.
        _ => Ok(path),
    }
}

/// The home a jail task's `~` stands for: the invoking user's `$HOME`
/// (`/root` without one), as the jail's plan takes it.
pub fn invoking_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(w: &'a str, h: &'a str) -> JailView<'a> {
        JailView { workdir: Path::new(w), home: Path::new(h) }
    }

    fn preset(name: &str) -> Policy {
        crate::policy::load_policy(name).unwrap().0
    }

    #[test]
    fn the_name_is_the_hash_of_the_rules_and_nothing_of_the_policy_text() {
        let mut p = preset("default");
        let a = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap();
        assert!(a.name.starts_with("orchestra-jail-") && a.name.len() == "orchestra-jail-".len() + 16);
        p.name = Some("x } profile evil {".into());
        let b = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap();
        assert_eq!(a.name, b.name, "the same rules, the same name");
        assert!(!b.text.contains("evil"));
        let c = jail_profile(&p, &view("/w/other", "/home/u")).unwrap();
        assert_ne!(a.name, c.name, "another workspace, another profile");
        p.network.mode = NetworkMode::None;
        assert_ne!(jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().name, a.name);
    }

    #[test]
    fn writes_only_below_writable_roots_and_never_to_kept_paths() {
        let p = preset("default");
        let t = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().text;
        assert!(t.contains("  \"/w/ws/**\" rwlkmix,"), "{t}");
        assert!(t.contains("  \"/tmp/**\" rwlkmix,"), "{t}");
        assert!(t.contains("  deny \"/w/ws/.orchestra/**\" wl,"), "{t}");
        assert!(t.contains("  deny \"/w/ws/.git/hooks/**\" wl,"), "{t}");
        assert!(t.contains("  \"/usr/**\" mrix,"), "{t}");
        // Decoys stay readable (their reads are the report), never writable.
        assert!(t.contains("  \"/home/u/.ssh/**\" r,\n"), "{t}");
        assert!(t.contains("  deny \"/home/u/.ssh/**\" wlkmx,"), "{t}");
        // The default preset's network is loopback: IP, never raw.
        assert!(t.contains("network inet stream,") && t.contains("deny network inet raw,"), "{t}");
        // Nothing outside the roots is writable: no file rule grants w elsewhere.
        let file_rules = t.lines().map(str::trim_start).filter(|l| l.starts_with('"') || l.starts_with('/'));
        for rule in file_rules {
            let perms = rule.trim_end_matches(',').rsplit(' ').next().unwrap_or("");
            if perms.contains('w') {
                let allowed = ["\"/w/ws", "\"/tmp", "\"/dev/shm", "\"/dev/", "/dev/pts/"];
                assert!(allowed.iter().any(|r| rule.starts_with(r)), "a write outside the writable roots: {rule}");
            }
        }
    }

    #[test]
    fn strict_has_no_ip_and_a_namespace_less_jail_denies_hidden_reads() {
        let strict = jail_profile(&preset("strict"), &view("/w/ws", "/home/u")).unwrap().text;
        assert!(!strict.contains("network inet stream"), "{strict}");
        let mut p = preset("default");
        p.jail.namespaces = NamespaceMode::Off;
        let t = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().text;
        assert!(t.contains("  deny \"/home/u/.ssh/**\" rwlkmx,"), "{t}");
        assert!(!t.contains("  \"/home/u/.ssh/**\" r,\n"), "{t}");
        assert!(!t.contains("\"/dev/shm/**\""), "no private /dev/shm without namespaces: {t}");
    }

    #[test]
    fn the_most_specific_root_decides() {
        let mut p = preset("default");
        p.filesystem.read_only.push("/w/ws/vendor".into());
        p.filesystem.read_write.push("/w/ws/vendor/out".into());
        p.filesystem.read_only.push("/w/ws/docs".into());
        let t = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().text;
        assert!(t.contains("  deny \"/w/ws/docs/**\" wl,"), "{t}");
        assert!(!t.contains("deny \"/w/ws/vendor/**\""), "would deny the writable root inside: {t}");
        assert!(t.contains("  \"/w/ws/vendor/out/**\" rwlkmix,"), "{t}");
    }

    #[test]
    fn hostile_paths_are_escaped_or_refused() {
        let mut p = preset("default");
        p.filesystem.hidden.push("/srv/a*b/{x,y}/[z]".into());
        p.filesystem.read_only.push("/srv/it's \"quoted\"".into());
        assert!(jail_profile(&p, &view("/w/ws", "/home/u")).is_err(), "a quote");
        p.filesystem.read_only.pop();
        let t = jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().text;
        assert!(t.contains("deny \"/srv/a\\*b/\\{x\\,y\\}/\\[z\\]/**\" wlkmx,"), "{t}");
        for bad in ["/w/new\nline", "/w/@{HOME}", "/w/../etc", "relative"] {
            assert!(jail_profile(&p, &view(bad, "/home/u")).is_err(), "{bad:?}");
        }
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = std::ffi::OsStr::from_bytes(b"/w/\xff");
        let v = JailView { workdir: Path::new(not_utf8), home: Path::new("/home/u") };
        assert!(jail_profile(&p, &v).is_err());
        assert_eq!(plain(Path::new("/w//ws/")).unwrap(), "/w/ws");
    }

    /// A host with AppArmor, the profile loaded, orchestra unconfined.
    struct Ready;
    impl super::super::decide::AppArmorHost for Ready {
        fn enabled(&self) -> bool {
            true
        }
        fn own_label(&self) -> Option<String> {
            Some("unconfined".into())
        }
        fn loaded(&self, _: &str) -> Result<Option<String>, crate::mac::decide::LoadedUnknown> {
            Ok(Some("enforce".into()))
        }
    }

    #[test]
    fn a_profile_that_cannot_be_written_is_refused_when_required_and_said_otherwise() {
        use super::super::decide::Decision;
        let mut p = preset("default");
        p.mac.apparmor = crate::policy::AppArmorMode::Required;
        let (d, name) = decision(&p, &view("/w/ws", "/home/u"), &Ready);
        assert_eq!(d, Decision::Apply);
        assert_eq!(name.unwrap(), jail_profile(&p, &view("/w/ws", "/home/u")).unwrap().name);
        p.filesystem.hidden.push("/srv/x\"\ny".into());
        let (d, name) = decision(&p, &view("/w/ws", "/home/u"), &Ready);
        assert!(matches!(&d, Decision::Refuse(w) if w.contains("cannot be written") && !w.contains('\n')), "{d:?}");
        assert!(name.is_none());
        p.mac.apparmor = crate::policy::AppArmorMode::IfAvailable;
        assert!(matches!(decision(&p, &view("/w/ws", "/home/u"), &Ready).0, Decision::NotApplied(_)));
        p.mac.apparmor = crate::policy::AppArmorMode::Off;
        assert_eq!(decision(&p, &view("/w/ws", "/home/u"), &Ready), (Decision::Off, None));
    }

    #[test]
    fn the_load_command_quotes_what_a_shell_would_split() {
        let c = load_command(&view("/w/my ws", "/home/o'brien"));
        assert!(c.contains("--workdir '/w/my ws' --home '/home/o'\\''brien' POLICY"), "{c}");
    }
}
