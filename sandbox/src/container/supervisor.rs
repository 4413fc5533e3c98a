//! The in-container supervisor: `orchestra-sandbox` (this crate without the
//! container backends, statically linked, built by `sandbox/build.rs` and
//! embedded here), mounted read-only, runs as the container's command and puts
//! the task in its namespace-less jail (landlock + seccomp user notification +
//! rlimits), so denials are observed and reported exactly as in the jail
//! backend.
//!
//! Guarantees: the embedded binary is mounted from a file whose content was
//! compared with it just before (written again when it differs: never a
//! binary a task or an older orchestra left); an `ORCHESTRA_SUPERVISOR_BIN`
//! is used only if it is a static ELF (no program interpreter: it needs
//! nothing from the image); the inner policy is derived
//! from the host policy by one pure function ([`inner_policy`]); the
//! supervisor writes no audit log (the host's records the task) and reports
//! through a file in a host directory the task cannot see (landlock).

use crate::policy::{Limit, NamespaceMode, Policy, TmpMode};
use crate::report::{Report, Violation};
use std::path::{Path, PathBuf};

/// Environment variable naming a static supervisor binary to use instead of
/// the embedded one.
pub const BIN_ENV: &str = "ORCHESTRA_SUPERVISOR_BIN";

/// The static `orchestra-sandbox` built with this crate.
const EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/orchestra-sandbox"));
/// A digest of [`EMBEDDED`] computed when it was built (names its file).
const EMBEDDED_ID: &str = include_str!(concat!(env!("OUT_DIR"), "/orchestra-sandbox.id"));

/// Whether `path` is an ELF executable without a program interpreter (static).
/// Reads the ELF header and the program headers only (a debug build of
/// orchestra is ~180 MB; reading it whole cost ~100 ms per container).
pub fn is_static_elf(path: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut header = [0u8; 64];
    if file.read_exact_at(&mut header, 0).is_err() || &header[..4] != b"\x7fELF" || header[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]) as u64;
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&header[0x20..0x28]);
    let (phoff, phentsize, phnum) = (u64::from_le_bytes(phoff), u16_at(0x36), u16_at(0x38));
    if phentsize < 4 || phnum == 0 || phnum > 4096 {
        return false;
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    if file.read_exact_at(&mut table, phoff).is_err() {
        return false;
    }
    // PT_INTERP (3) names the dynamic loader.
    !table.chunks(phentsize as usize).any(|ph| ph[..4] == 3u32.to_le_bytes())
}

/// Why no supervisor binary can be mounted.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// `ORCHESTRA_SUPERVISOR_BIN` does not resolve.
    #[error("{BIN_ENV}={}: {source}", path.display())]
    Path {
        /// The candidate.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ORCHESTRA_SUPERVISOR_BIN` is not static.
    #[error(
        "{BIN_ENV}={} is not a statically linked binary; unset it to use the built-in supervisor, or opt out with container.supervisor: off",
        .0.display()
    )]
    NotStatic(PathBuf),
    /// Neither `XDG_STATE_HOME` nor `HOME` names a directory.
    #[error("no directory for the built-in supervisor: set HOME (or XDG_STATE_HOME) to an absolute path")]
    NoStateDir,
    /// The built-in supervisor cannot be written.
    #[error("writing the built-in supervisor to {}: {source}", path.display())]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// What was written is not what is embedded (something replaced it).
    #[error("{} does not hold the built-in supervisor after writing it; not mounting it", .0.display())]
    Changed(PathBuf),
}

/// The supervisor to mount: `$ORCHESTRA_SUPERVISOR_BIN` if set (a static
/// binary), else the embedded one, written to [`state_dir`]. Errors say how
/// to get one.
pub fn locate() -> Result<PathBuf, LocateError> {
    let Some(candidate) = std::env::var_os(BIN_ENV).map(PathBuf::from) else { return built_in() };
    let path = std::fs::canonicalize(&candidate).map_err(|source| LocateError::Path { path: candidate, source })?;
    if is_static_elf(&path) { Ok(path) } else { Err(LocateError::NotStatic(path)) }
}

/// Where the embedded supervisor is written for the engines to mount:
/// `$XDG_STATE_HOME/orchestra/supervisor`, else
/// `~/.local/state/orchestra/supervisor`. Tasks never see it (exec protects it).
pub fn state_dir() -> Option<PathBuf> {
    let absolute = |v: &str| std::env::var_os(v).map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute("XDG_STATE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".local").join("state")))?;
    Some(base.join("orchestra").join("supervisor"))
}

/// The embedded supervisor as a file: the existing one if it holds exactly
/// the embedded bytes, else written anew (a fresh temp file, fsync, rename)
/// and checked again. The directory must be one only we control
/// ([`super::private_dir`]): nobody else can swap the file after the check.
fn built_in() -> Result<PathBuf, LocateError> {
    use std::io::Write;
    let dir = state_dir().ok_or(LocateError::NoStateDir)?;
    let path = dir.join(format!("orchestra-sandbox-{}", EMBEDDED_ID.trim()));
    let write_err = |source| LocateError::Write { path: path.clone(), source };
    super::private_dir::ensure(&dir, "the built-in supervisor").map_err(write_err)?;
    if holds_embedded(&path) {
        return Ok(path);
    }
    let mut tmp = tempfile::Builder::new().prefix(".orchestra-sandbox.").tempfile_in(&dir).map_err(write_err)?;
    // The exact mode whatever the umask: the container's task user runs it.
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o555))
        .and_then(|()| tmp.write_all(EMBEDDED))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(write_err)?;
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(write_err)?;
    if holds_embedded(&path) { Ok(path) } else { Err(LocateError::Changed(path)) }
}

/// Whether `path` (not followed if a link, not waited on if a FIFO) is a
/// regular file of ours with mode 0555 and one name, holding exactly the
/// embedded supervisor.
fn holds_embedded(path: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let Ok(mut f) = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path) else {
        return false;
    };
    let Ok(meta) = f.metadata() else { return false };
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    if !meta.is_file() || !ours || meta.mode() & 0o7777 != 0o555 || meta.nlink() != 1 {
        return false;
    }
    if meta.len() != EMBEDDED.len() as u64 {
        return false;
    }
    let mut bytes = Vec::with_capacity(EMBEDDED.len());
    f.read_to_end(&mut bytes).is_ok() && bytes == EMBEDDED
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
    // The container runs under its own profile (or the engine's): the task in
    // it changes to none.
    p.mac = Default::default();
    p.mac.apparmor = crate::policy::AppArmorMode::Off;
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
    // The container's caches are whatever its image and volumes hold.
    p.filesystem.copy_on_write = Vec::new();
    p.filesystem.tmp = TmpMode::None;
    p.environment.passthrough = Vec::new();
    p.environment.set = env.iter().cloned().collect();
    p.limits.memory = Limit::Unlimited;
    p.limits.pids = Limit::Unlimited;
    p.limits.output = Limit::Unlimited;
    // The host enforces the wall-clock limit; the in-container supervisor holds
    // the same deadline a little later, so the task still ends on time when the
    // host orchestra was killed (the jail's task dies with its parent; a
    // container would otherwise run on until some later orchestra reaps it).
    p.timeouts.wall = match outer.timeouts.wall {
        Limit::Max(d) => Limit::Max(crate::policy::HumanDuration(d.0 + INNER_DEADLINE_GRACE)),
        Limit::Unlimited => Limit::Unlimited,
    };
    p.timeouts.no_output = Limit::Unlimited;
    p
}

/// How long after the host's deadline the in-container supervisor ends the task.
pub const INNER_DEADLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the supervisor left for the host: its report, or, without one, the
/// violations it streamed as it judged them ([`crate::inner::STREAM`]).
#[derive(Debug, Default)]
pub struct Left {
    /// The report, if it wrote one (it lists every violation).
    pub report: Option<Report>,
    /// Only without a report: the violations streamed before the end, so
    /// none is counted twice.
    pub streamed: Vec<Violation>,
}

/// Read what the supervisor left: its report (the file `path`), else what it
/// streamed beside it.
pub fn read_left(path: &Path) -> Left {
    match read_report(path) {
        Some(r) => Left { report: Some(r), streamed: Vec::new() },
        None => Left { report: None, streamed: crate::inner::read_stream(path) },
    }
}

/// Read the supervisor's report (the file `path`), if it wrote one.
fn read_report(path: &Path) -> Option<Report> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_supervisor_is_static_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sup");
        std::fs::write(&f, EMBEDDED).unwrap();
        assert!(is_static_elf(&f));
        assert!(EMBEDDED.len() <= 3 << 20, "orchestra-sandbox is {} bytes (at most 3 MiB)", EMBEDDED.len());
    }

    #[test]
    fn a_changed_supervisor_file_is_never_taken_for_the_embedded_one() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sup");
        std::fs::write(&f, EMBEDDED).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        assert!(holds_embedded(&f));
        let mut changed = EMBEDDED.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        std::fs::write(&f, &changed).unwrap();
        assert!(!holds_embedded(&f), "one byte differs");
        std::fs::write(&f, EMBEDDED).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        assert!(!holds_embedded(&f), "writable by others");
        let link = dir.path().join("link");
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(!holds_embedded(&link), "a link is not followed");
        assert!(holds_embedded(&f));
        let other_name = dir.path().join("hard");
        std::fs::hard_link(&f, &other_name).unwrap();
        assert!(!holds_embedded(&f), "a second name could change it later");
        std::fs::remove_file(&other_name).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        assert!(!holds_embedded(&f), "not runnable by the container's task user");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o555)).unwrap();
        assert!(!holds_embedded(&fifo), "a FIFO is refused, not waited on");
    }

    #[test]
    fn this_test_binary_is_dynamic() {
        // Test binaries link glibc dynamically; the check must say so.
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(Path::new("/etc/passwd")));
        // Debian's ldconfig is static-pie: no PT_INTERP.
        assert!(is_static_elf(Path::new("/sbin/ldconfig")));
        assert!(!is_static_elf(Path::new("/bin/sh")));
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
        let wall = |p: &Policy| p.timeouts.wall.get().map(|d| d.0);
        assert_eq!(wall(&p), wall(&outer).map(|d| d + INNER_DEADLINE_GRACE), "the deadline lives with the container");
        assert_eq!(p.limits.open_files, outer.limits.open_files);
        assert_eq!(p.environment.set.get("PATH").map(String::as_str), Some("/bin"));
    }
}
