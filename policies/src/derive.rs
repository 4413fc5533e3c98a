//! Derived policies: a loaded policy changed by command-line flags
//! (`orchestra exec --network loopback --ro /opt/sdk --rw ./out --memory 1GiB`).
//!
//! Guarantees:
//! - every change goes through [`derive`], which applies the flags in the order
//!   given and then checks the result with the loader's own checks (the same
//!   refusals as a policy file: no writable root over `/etc`, `~`, `~/.ssh`…,
//!   no `..`, volumes parsed), so a flag can never grant what a file could not;
//! - a flag's path is resolved first (links and `..`), so the checks see the
//!   directory the task would get;
//! - a flag naming a path that does not exist is an error, not a silently
//!   dropped mount (a file's list may name optional paths; a flag is a request);
//! - the result records what it came from ([`Derivation`]): the base policy's
//!   hash and one entry per flag, written to the report beside the derived
//!   policy's own hash. Variable values given with `--env` are never recorded
//!   (they may be secrets): only their names.
//!
//! On the container backends a filesystem flag becomes a volume at the same
//! path (`--ro P` is `P:P:ro`, `--rw P` is `P:P:rw`): a container sees the
//! host only through volumes.

use super::{ByteSize, HumanDuration, Limit, NetworkMode, Policy, PolicyError, SandboxMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One command-line change to a policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    /// `--backend`: the sandbox mode.
    Backend(SandboxMode),
    /// `--network`: the network mode.
    Network(NetworkMode),
    /// `--ro PATH`: a host path visible read-only.
    ReadOnly(PathBuf),
    /// `--rw PATH`: a host path visible read-write.
    ReadWrite(PathBuf),
    /// `--memory SIZE|unlimited`: the memory limit.
    Memory(Limit<ByteSize>),
    /// `--timeout DURATION`: the wall-clock timeout.
    Timeout(HumanDuration),
    /// `--env NAME=VALUE`: a variable set in the task.
    Env(String, String),
}

impl Override {
    /// How the change is recorded: the flag and its value, except an
    /// environment variable's value.
    pub fn describe(&self) -> String {
        match self {
            Override::Backend(m) => format!("--backend {}", m.as_str()),
            Override::Network(m) => format!("--network {}", m.as_str()),
            Override::ReadOnly(p) => format!("--ro {}", p.display()),
            Override::ReadWrite(p) => format!("--rw {}", p.display()),
            Override::Memory(Limit::Unlimited) => "--memory unlimited".to_string(),
            Override::Memory(Limit::Max(b)) => format!("--memory {b}"),
            Override::Timeout(t) => format!("--timeout {t}"),
            Override::Env(k, _) => format!("--env {k}=…"),
        }
    }
}

/// Where a derived policy came from: recorded in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// SHA-256 of the policy as loaded, before the flags.
    pub base_sha256: String,
    /// The flags, in the order applied ([`Override::describe`]): the backend
    /// first, then the others as given, paths absolute.
    pub overrides: Vec<String>,
}

/// Where a derived policy applies: relative flag paths are taken from `cwd`,
/// the task runs in `workdir`, and no flag may name one of `own` (orchestra's
/// audit log, key, supervisor: the grant would not apply, they stay hidden,
/// and the report would claim it did).
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The current directory.
    pub cwd: &'a Path,
    /// The task's working directory.
    pub workdir: &'a Path,
    /// Orchestra's own paths.
    pub own: &'a [PathBuf],
}

/// Apply `overrides` to `base` (loaded from `origin`) for a task at `at`, and
/// check the result as the loader checks a file. No overrides: the policy
/// unchanged and no derivation.
pub fn derive(
    base: Policy,
    origin: &str,
    overrides: &[Override],
    at: Place<'_>,
) -> Result<(Policy, Option<Derivation>), PolicyError> {
    let (cwd, workdir) = (at.cwd, at.workdir);
    if overrides.is_empty() {
        return Ok((base, None));
    }
    let base_sha256 = format!("sha256:{}", base.hash());
    let mut p = base;
    // The backend first: the filesystem flags depend on it.
    let mut applied = Vec::with_capacity(overrides.len());
    for o in overrides.iter().filter(|o| matches!(o, Override::Backend(_))) {
        apply(&mut p, o, origin, workdir)?;
        applied.push(o.describe());
    }
    for o in overrides.iter().filter(|o| !matches!(o, Override::Backend(_))) {
        // Paths are recorded as resolved against `cwd`: a relative path in a
        // report would mean nothing later.
        let o = match o {
            Override::ReadOnly(path) => Override::ReadOnly(existing(cwd, path, "--ro", origin, at.own)?),
            Override::ReadWrite(path) => Override::ReadWrite(existing(cwd, path, "--rw", origin, at.own)?),
            other => other.clone(),
        };
        apply(&mut p, &o, origin, workdir)?;
        applied.push(o.describe());
    }
    super::load::check_derived(&p, &derived_origin(origin))?;
    Ok((p, Some(Derivation { base_sha256, overrides: applied })))
}

/// How a derived policy is named in errors.
fn derived_origin(origin: &str) -> String {
    format!("{origin} with command-line flags")
}

fn flag_error(origin: &str, message: String) -> PolicyError {
    PolicyError { origin: derived_origin(origin), position: None, message }
}

/// `path` resolved against `cwd` as the kernel resolves it (links and `..`
/// followed): it must exist (a flag is a request) and lie outside `own`, and
/// the checks and the report see the real directory, never a link's name for it.
fn existing(cwd: &Path, path: &Path, flag: &str, origin: &str, own: &[PathBuf]) -> Result<PathBuf, PolicyError> {
    let real = std::fs::canonicalize(cwd.join(path))
        .map_err(|e| flag_error(origin, format!("{flag} {}: {e}", path.display())))?;
    match own.iter().find(|o| real.starts_with(o)) {
        Some(o) => Err(flag_error(
            origin,
            format!(
                "{flag} {}: would expose orchestra's own {} (the audit log, its key or the supervisor)",
                path.display(),
                o.display()
            ),
        )),
        None => Ok(real),
    }
}

fn apply(p: &mut Policy, o: &Override, origin: &str, workdir: &Path) -> Result<(), PolicyError> {
    let text = |path: &Path| -> Result<String, PolicyError> {
        path.to_str()
            .map(str::to_string)
            .ok_or_else(|| flag_error(origin, format!("{}: not valid UTF-8", path.display())))
    };
    match o {
        Override::Backend(mode) => {
            p.sandbox_mode = *mode;
            if let Some(sec) = p.security.as_mut() {
                sec.sandbox_mode = None;
            }
        }
        Override::Network(mode) => {
            if let Some(net) = p.security.as_ref().and_then(|s| s.docker_network.as_deref())
                && mode.admitted_by_docker_network(net) == Some(false)
            {
                return Err(flag_error(
                    origin,
                    format!("--network {}: the policy's security.docker_network is {net:?}", mode.as_str()),
                ));
            }
            p.network.mode = *mode;
        }
        Override::ReadOnly(path) | Override::ReadWrite(path) => {
            let rw = matches!(o, Override::ReadWrite(_));
            let path = text(path)?;
            // The loader's rule for writable roots, named by the flag.
            if rw {
                let homes = super::load::invoking_homes();
                if let Some(why) = super::load::host_exposing_write_root(Path::new(&path), &homes) {
                    return Err(flag_error(origin, format!("--rw {path:?} {why}")));
                }
            }
            if p.backend() == SandboxMode::Jail {
                let list = if rw { &mut p.filesystem.read_write } else { &mut p.filesystem.read_only };
                if !list.contains(&path) {
                    list.push(path);
                }
            } else {
                // The container sees the workspace at /work: a path inside it is
                // mounted at its place there; one outside at its own path,
                // which must not fall under /work (the engine would make
                // mount points inside the workspace).
                let work = Path::new(crate::volume::CONTAINER_WORKDIR);
                let inside = match Path::new(&path).strip_prefix(workdir) {
                    Ok(rel) => work.join(rel),
                    Err(_) if Path::new(&path).starts_with(work) => {
                        return Err(flag_error(
                            origin,
                            format!(
                                "{} {path}: on the container backends a path outside the workspace is mounted at its own place, and {path} lies under {}, where the workspace is",
                                if rw { "--rw" } else { "--ro" },
                                work.display()
                            ),
                        ));
                    }
                    Err(_) => PathBuf::from(&path),
                };
                p.container.volumes.push(format!("{path}:{}:{}", inside.display(), if rw { "rw" } else { "ro" }));
            }
        }
        Override::Memory(limit) => p.limits.memory = *limit,
        Override::Timeout(t) => p.timeouts.wall = Limit::Max(*t),
        Override::Env(k, v) => {
            p.environment.set.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cwd: &Path) -> Place<'_> {
        Place { cwd, workdir: Path::new("/w"), own: &[] }
    }

    fn preset(name: &str) -> Policy {
        crate::load_policy(name).unwrap().0
    }

    #[test]
    fn no_flags_no_derivation() {
        let (p, d) = derive(preset("default"), "preset:default", &[], at(Path::new("/"))).unwrap();
        assert_eq!(p, preset("default"));
        assert!(d.is_none());
    }

    #[test]
    fn flags_change_the_policy_and_are_recorded_with_the_base_hash() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("out")).unwrap();
        let base = preset("default");
        let flags = [
            Override::Network(NetworkMode::None),
            Override::ReadOnly("/usr/share".into()),
            Override::ReadWrite("out".into()),
            Override::Memory(Limit::Max(ByteSize(1 << 30))),
            Override::Env("TOKEN".into(), "s3cret".into()),
        ];
        let (p, der) = derive(base.clone(), "preset:default", &flags, at(d.path())).unwrap();
        let der = der.unwrap();
        assert_eq!(der.base_sha256, format!("sha256:{}", base.hash()));
        assert_ne!(p.hash(), base.hash());
        assert_eq!(p.network.mode, NetworkMode::None);
        assert!(p.filesystem.read_only.contains(&"/usr/share".to_string()));
        let out = d.path().join("out").to_string_lossy().into_owned();
        assert!(p.filesystem.read_write.contains(&out));
        assert_eq!(p.limits.memory, Limit::Max(ByteSize(1 << 30)));
        assert_eq!(der.overrides[2], format!("--rw {out}"));
        assert!(!der.overrides.concat().contains("s3cret"), "{:?}", der.overrides);
    }

    #[test]
    fn a_flag_cannot_grant_what_a_file_could_not() {
        let home = crate::load::invoking_homes()[0].clone();
        for path in ["/etc", "/", "/usr/lib"] {
            let e =
                derive(preset("default"), "preset:default", &[Override::ReadWrite(path.into())], at(Path::new("/")));
            assert!(e.is_err(), "--rw {path} was accepted");
        }
        if home.join(".ssh").exists() {
            let e = derive(preset("default"), "x", &[Override::ReadWrite(home.join(".ssh"))], at(Path::new("/")));
            assert!(e.is_err());
        }
        // `..` and links are resolved first: the check sees the real directory.
        let e = derive(preset("default"), "x", &[Override::ReadWrite("/usr/../etc".into())], at(Path::new("/")))
            .unwrap_err();
        assert!(e.to_string().contains("\"/etc\""), "{e}");
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("conf")).unwrap();
        assert!(derive(preset("default"), "x", &[Override::ReadWrite("conf".into())], at(d.path())).is_err());
        let e = derive(preset("default"), "x", &[Override::ReadOnly("/no/such/dir".into())], at(Path::new("/")))
            .unwrap_err();
        assert!(e.to_string().contains("--ro /no/such/dir"), "{e}");
    }

    #[test]
    fn a_flag_naming_orchestras_own_files_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let own = [d.path().join("audit")];
        std::fs::create_dir_all(&own[0]).unwrap();
        let place = Place { cwd: d.path(), workdir: Path::new("/w"), own: &own };
        let e = derive(preset("default"), "x", &[Override::ReadWrite("audit".into())], place).unwrap_err();
        assert!(e.to_string().contains("orchestra's own"), "{e}");
    }

    #[test]
    fn on_a_container_backend_paths_become_volumes() {
        let flags = [Override::Backend(SandboxMode::Docker), Override::ReadOnly("/usr/share".into())];
        let (p, _) = derive(preset("default"), "preset:default", &flags, at(Path::new("/"))).unwrap();
        assert!(p.filesystem.read_write.is_empty());
        assert_eq!(p.container.volumes, vec!["/usr/share:/usr/share:ro".to_string()]);
        let e = derive(
            preset("default"),
            "preset:default",
            &[Override::Backend(SandboxMode::Docker), Override::ReadWrite("/etc".into())],
            at(Path::new("/")),
        );
        assert!(e.is_err());
    }
}
