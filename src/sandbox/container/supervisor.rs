//! The in-container supervisor: orchestra itself, statically linked and
//! mounted read-only, runs as the container's command and puts the task in
//! its namespace-less jail (landlock + seccomp user notification + rlimits),
//! so denials are observed and reported exactly as in the jail backend.
//!
//! Guarantees: the binary is used only if it is a static ELF (no program
//! interpreter: it needs nothing from the image); the inner policy is derived
//! from the host policy by one pure function ([`inner_policy`]); the inner
//! orchestra writes no audit log (the host's records the task) and reports
//! through a file in a host directory the task cannot see (landlock).

use crate::policy::{Limit, NamespaceMode, Policy, TmpMode};
use crate::sandbox::report::Report;
use std::path::{Path, PathBuf};

/// Environment variable naming the static orchestra binary.
pub const BIN_ENV: &str = "ORCHESTRA_SUPERVISOR_BIN";

/// Whether `path` is an ELF executable without a program interpreter (static).
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(data) = std::fs::read(path) else { return false };
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at =
        |o: usize| data.get(o..o + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(|b| u64::from_le_bytes(b) as usize);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        match data.get(at..at + 4) {
            Some(t) if t == 3u32.to_le_bytes() => return false, // PT_INTERP
            Some(_) => {}
            None => return false,
        }
    }
    true
}

/// The static orchestra to mount: `$ORCHESTRA_SUPERVISOR_BIN`, else this
/// executable if it is static. Errors say how to get one.
pub fn locate() -> Result<PathBuf, String> {
    let candidate = match std::env::var_os(BIN_ENV) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?,
    };
    let path = std::fs::canonicalize(&candidate).map_err(|e| format!("{}: {e}", candidate.display()))?;
    if is_static_elf(&path) {
        Ok(path)
    } else {
        Err(format!(
            "{} is not a statically linked orchestra; build one with images/build.sh and set {BIN_ENV} to it, or opt out with container.supervisor: off",
            path.display()
        ))
    }
}

/// The policy the supervisor applies inside the container. Paths are the
/// container's; what the engine already bounds (memory, pids, output, time)
/// is left to the engine and the host, so the verdict comes from one place.
pub fn inner_policy(outer: &Policy, env: &[(String, String)]) -> Policy {
    let mut p = outer.clone();
    p.sandbox_mode = crate::policy::SandboxMode::Jail;
    p.security = None;
    p.container = Default::default();
    p.jail.namespaces = NamespaceMode::Off;
    p.jail.cgroups = crate::policy::CgroupMode::Auto;
    let mut read_only: Vec<String> =
        ["/bin", "/sbin", "/usr", "/lib", "/lib64", "/etc"].iter().map(|s| s.to_string()).collect();
    let mut read_write = Vec::new();
    for v in outer.container_volumes() {
        if let Ok(v) = super::spec::parse_volume(&v) {
            let dst = v.container.to_string_lossy().into_owned();
            if v.rw { read_write.push(dst) } else { read_only.push(dst) }
        }
    }
    if outer.filesystem.tmp == TmpMode::Private {
        read_write.push("/tmp".into());
    }
    p.filesystem.read_only = read_only;
    p.filesystem.read_write = read_write;
    p.filesystem.hidden = Vec::new();
    p.filesystem.tmp = TmpMode::None;
    p.environment.passthrough = Vec::new();
    p.environment.set = env.iter().cloned().collect();
    p.limits.memory = Limit::Unlimited;
    p.limits.pids = Limit::Unlimited;
    p.limits.output = Limit::Unlimited;
    p.timeouts.wall = Limit::Unlimited;
    p.timeouts.no_output = Limit::Unlimited;
    p
}

/// Read the supervisor's report, if it wrote one.
pub fn read_report(out_dir: &Path) -> Option<Report> {
    let text = std::fs::read_to_string(out_dir.join("report.json")).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic() {
        // Test binaries link glibc dynamically; the check must say so.
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(Path::new("/etc/passwd")));
    }

    #[test]
    fn the_inner_policy_keeps_the_rules_and_leaves_limits_to_the_engine() {
        let mut outer = Policy::default();
        outer.container.volumes = vec!["/opt/tool:/opt/tool".into(), "/srv/cache:/cache:rw".into()];
        let p = inner_policy(&outer, &[("PATH".into(), "/bin".into())]);
        assert_eq!(p.jail.namespaces, NamespaceMode::Off);
        assert!(p.filesystem.read_only.contains(&"/opt/tool".to_string()));
        assert_eq!(p.filesystem.read_write, vec!["/cache".to_string(), "/tmp".to_string()]);
        assert!(p.filesystem.hidden.is_empty());
        assert_eq!(p.denied_classes(), outer.denied_classes());
        assert_eq!(p.network.mode, outer.network.mode);
        assert_eq!(p.limits.memory, Limit::Unlimited);
        assert_eq!(p.limits.open_files, outer.limits.open_files);
        assert_eq!(p.environment.set.get("PATH").map(String::as_str), Some("/bin"));
    }
}
