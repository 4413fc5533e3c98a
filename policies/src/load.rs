//! Loading policies: strict YAML parsing, semantic checks, located errors.
//!
//! Guarantees: unknown fields, wrong types and contradictory settings are
//! errors carrying `file:line:col` whenever the position is known; nothing is
//! silently ignored or defaulted past what the types document.

use super::{Policy, SandboxMode, presets};
use std::path::{Path, PathBuf};

/// A policy that could not be loaded. Rendered as one line: `file:line:col: message`.
pub type PolicyError = crate::yaml::LocatedError;

/// Load `spec`: a path to a YAML file, or the name of a built-in preset.
///
/// A spec that names an existing file, contains a `/`, or ends in `.yaml`/`.yml` is a
/// path; anything else must be a preset name.
pub fn load_policy(spec: &str) -> Result<(Policy, String), PolicyError> {
    let as_path = Path::new(spec);
    let looks_like_path = spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
    if as_path.is_file() || looks_like_path {
        let text = std::fs::read_to_string(as_path).map_err(|e| PolicyError {
            origin: spec.to_string(),
            position: None,
            message: format!("cannot read policy: {e}"),
        })?;
        let origin = display_path(as_path);
        return parse_policy(&text, &origin).map(|p| (p, origin));
    }
    match presets::get(spec) {
        Some(text) => {
            let origin = format!("preset:{spec}");
            parse_policy(text, &origin).map(|p| (p, origin))
        }
        None => Err(PolicyError {
            origin: spec.to_string(),
            position: None,
            message: format!(
                "no such policy file or preset (presets: {})",
                presets::names().collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

fn display_path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Parse and check a policy's YAML text. `origin` names it in errors.
pub fn parse_policy(text: &str, origin: &str) -> Result<Policy, PolicyError> {
    let policy: Policy = crate::yaml::from_str(text, origin)?;
    check(&policy, text, origin)?;
    Ok(policy)
}

/// The loader's checks for a policy that has no text of its own (one derived
/// from a loaded policy by command-line flags): the same refusals, without
/// positions.
pub(crate) fn check_derived(p: &Policy, origin: &str) -> Result<(), PolicyError> {
    check(p, "", origin)
}

/// Semantic checks the types cannot express. Each error points at the offending key.
fn check(p: &Policy, text: &str, origin: &str) -> Result<(), PolicyError> {
    let err = |key: &str, message: String| PolicyError {
        origin: origin.to_string(),
        position: locate_key(text, key),
        message,
    };
    if p.version != super::POLICY_VERSION {
        return Err(err(
            "version",
            format!("unsupported policy version {} (this orchestra reads version 1)", p.version),
        ));
    }
    if let Some(sec) = &p.security {
        if let Some(mode) = sec.sandbox_mode
            && text_has_key(text, "sandbox_mode", 0)
            && mode != p.sandbox_mode
        {
            return Err(err(
                "sandbox_mode",
                format!(
                    "security.sandbox_mode ({}) contradicts sandbox_mode ({})",
                    mode.as_str(),
                    p.sandbox_mode.as_str()
                ),
            ));
        }
        if let Some(net) = &sec.docker_network {
            let Some(admitted) = p.network.mode.admitted_by_docker_network(net) else {
                return Err(err(
                    "docker_network",
                    format!("docker_network {net:?} is not supported (use none or host)"),
                ));
            };
            if !admitted && text_has_key(text, "network", 0) {
                return Err(err("docker_network", "security.docker_network contradicts network.mode".to_string()));
            }
        }
        if p.backend() == SandboxMode::Jail && (sec.docker_image.is_some() || !sec.docker_volumes.is_empty()) {
            return Err(err(
                "docker_image",
                "docker_image/docker_volumes apply to sandbox_mode docker or podman, not jail".to_string(),
            ));
        }
    }
    for v in p.container_volumes() {
        if let Err(e) = crate::volume::parse_volume(&v) {
            let key = if p.container.volumes.contains(&v) { "volumes" } else { "docker_volumes" };
            return Err(err(key, e.to_string()));
        }
    }
    if let Some(id) = &p.container.image_id
        && !(id.starts_with("sha256:") && id.len() == 71 && id[7..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(err("image_id", format!("container.image_id {id:?} must be sha256:<64 hex digits>")));
    }
    for name in &p.environment.passthrough {
        if name.is_empty() || name.contains('=') {
            return Err(err("passthrough", format!("invalid variable name {name:?} in environment.passthrough")));
        }
        if name.starts_with("ORCHESTRA_") || "ORCHESTRA_".starts_with(name.trim_end_matches('*')) {
            return Err(err(
                "passthrough",
                format!("{name:?}: the orchestrator's own ORCHESTRA_* variables are never passed to tasks"),
            ));
        }
    }
    for name in p.environment.set.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(err("set", format!("invalid variable name {name:?} in environment.set")));
        }
    }
    let lists = [
        ("read_only", &p.filesystem.read_only),
        ("read_write", &p.filesystem.read_write),
        ("hidden", &p.filesystem.hidden),
    ];
    for (key, list) in lists {
        for path in list {
            if !(path.starts_with('/') || path == "~" || path.starts_with("~/")) {
                return Err(err(key, format!("filesystem.{key}: {path:?} must be absolute or start with ~/")));
            }
            if path.split('/').any(|c| c == "..") {
                return Err(err(key, format!("filesystem.{key}: {path:?} must not contain ..")));
            }
        }
    }
    for (key, list) in [("protected", &p.filesystem.protected), ("unprotected", &p.filesystem.unprotected)] {
        for rel in list {
            let bad = rel.is_empty() || rel.starts_with('/') || rel.starts_with('~') || rel.contains('\0');
            if bad || rel.split('/').any(|c| c == ".." || c == ".") {
                return Err(err(
                    key,
                    format!(
                        "filesystem.{key}: {rel:?} must be a path relative to the working directory, without . or .."
                    ),
                ));
            }
        }
    }
    for rel in &p.filesystem.unprotected {
        if !super::DEFAULT_PROTECTED.contains(&rel.trim_end_matches('/')) {
            return Err(err(
                "unprotected",
                format!(
                    "filesystem.unprotected: {rel:?} is not a built-in protected path ({})",
                    super::DEFAULT_PROTECTED.join(", ")
                ),
            ));
        }
    }
    let homes = invoking_homes();
    for rw in &p.filesystem.read_write {
        if let Some(why) = host_exposing_write_root(&expand_home(rw, &homes[0]), &homes) {
            return Err(err("read_write", format!("filesystem.read_write: {rw:?} {why}")));
        }
    }
    Ok(())
}

/// Trees in which no task may get a writable root: the system's code and
/// configuration, everything below them included.
const SYSTEM_TREES: &[&str] = &[
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/var/spool",
];

/// Directories that may not be writable roots themselves (their children may:
/// `/home/me/project`, `/var/lib/ci/ws`, `/opt/build`).
const SYSTEM_ROOTS: &[&str] = &["/", "/root", "/home", "/var", "/var/lib", "/opt", "/run", "/srv", "/mnt", "/media"];

/// Below the home directory: where the user's shell, PATH and keys pick files
/// up (everything below them included).
const HOME_TREES: &[&str] = &[".ssh", ".gnupg", ".config", ".local", ".aws", ".kube", ".docker"];

/// The home directories of the invoking user, resolved: `$HOME` first (what
/// `~` means in a policy), then the account's home from the password database
/// when it differs. Never empty.
pub fn invoking_homes() -> Vec<PathBuf> {
    let resolve = |h: PathBuf| std::fs::canonicalize(&h).unwrap_or(h);
    let env = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let account = nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.dir);
    let mut homes: Vec<PathBuf> = env.into_iter().chain(account).map(resolve).collect();
    homes.dedup();
    if homes.is_empty() {
        homes.push(PathBuf::from("/root"));
    }
    homes
}

/// Why making `path` (absolute; resolved by the caller when it exists) writable
/// for a task would let the task change the host outside its work: `/`, the
/// home directory, a system root, anything inside a system tree or a sensitive
/// home directory (`~/.ssh`, `~/.config`, `~/.local`, …), or an ancestor of any
/// of them. `None` when it is an ordinary directory. The one rule for the
/// policy's `read_write` roots and for the task's writable workdir.
pub fn host_exposing_write_root(path: &Path, homes: &[PathBuf]) -> Option<String> {
    let path = normalize(path);
    if path == Path::new("/") {
        return Some("would expose the whole host".into());
    }
    for tree in SYSTEM_TREES {
        if path.starts_with(tree) {
            return Some(format!("is inside {tree}, part of the host system"));
        }
    }
    for home in homes.iter().map(|h| normalize(h)) {
        if home.starts_with(&path) {
            return Some(format!("would expose the home directory {} (its dotfiles run on the host)", home.display()));
        }
        for name in HOME_TREES {
            let tree = home.join(name);
            if path.starts_with(&tree) || tree.starts_with(&path) {
                return Some(format!("would expose {} (read by the user's shell, tools or login)", tree.display()));
            }
        }
    }
    for root in SYSTEM_ROOTS.iter().chain(SYSTEM_TREES) {
        if Path::new(root).starts_with(&path) {
            return Some(format!("would expose the system directory {root}"));
        }
    }
    None
}

/// `path` (absolute) without `.` components, `..` applied to the text, no
/// link followed.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Whether `key:` appears at the given indentation (0 = top level).
fn text_has_key(text: &str, key: &str, indent: usize) -> bool {
    text.lines().any(|l| {
        let trimmed = l.trim_start();
        l.len() - trimmed.len() == indent && trimmed.starts_with(&format!("{key}:"))
    })
}

/// Best-effort position of the first `key:` in the text (1-based line, column).
fn locate_key(text: &str, key: &str) -> Option<(u64, u64)> {
    let needle = format!("{key}:");
    text.lines().enumerate().find_map(|(i, l)| {
        let trimmed = l.trim_start().trim_start_matches("- ");
        if trimmed.starts_with(&needle) {
            let col = l.len() - trimmed.len() + 1;
            Some((i as u64 + 1, col as u64))
        } else {
            None
        }
    })
}

/// Expand `~` to `home` in a policy path.
pub fn expand_home(path: &str, home: &Path) -> PathBuf {
    if path == "~" {
        home.to_path_buf()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_an_error_with_position() {
        let e = parse_policy("version: 1\nnetwork:\n  mode: none\n  alow: [x]\n", "p.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("p.yaml:4:"), "{s}");
        assert!(s.contains("alow"), "{s}");
        assert!(!s.contains('\n'), "{s}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = parse_policy("limits:\n  memory: lots\n", "p.yaml").unwrap_err();
        assert!(e.to_string().starts_with("p.yaml:2:"), "{e}");
    }

    #[test]
    fn empty_document_is_the_default_policy() {
        let p = parse_policy("{}\n", "p.yaml").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.network.mode, crate::NetworkMode::None);
        assert!(p.denied_classes().len() == super::super::SyscallClass::ALL.len());
    }

    #[test]
    fn seed_security_block_is_accepted() {
        let p = parse_policy(
            "security:\n  sandbox_mode: docker\n  docker_image: orchestra/task:1\n  docker_network: none\n  docker_volumes: []\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(p.backend(), SandboxMode::Docker);
    }

    #[test]
    fn contradictions_fail_closed() {
        let e = parse_policy("sandbox_mode: jail\nsecurity:\n  sandbox_mode: docker\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("contradicts"), "{e}");
        let e = parse_policy("security:\n  docker_network: bridge\n", "p.yaml").unwrap_err();
        assert!(e.to_string().starts_with("p.yaml:2:3:"), "{e}");
    }

    #[test]
    fn container_options_are_checked() {
        let p = parse_policy("container:\n  image: x:1\n  volumes: [/usr:/usr]\n", "p").unwrap();
        assert_eq!(p.container_image(), "x:1");
        assert!(parse_policy("container:\n  volumes: [usr:/usr]\n", "p").is_err());
        assert!(parse_policy("container:\n  image_id: abc\n", "p").is_err());
        assert!(parse_policy("container:\n  imag: x\n", "p").is_err());
        let p = parse_policy("security:\n  sandbox_mode: docker\n  docker_image: y:2\n", "p").unwrap();
        assert_eq!(p.container_image(), "y:2");
    }

    #[test]
    fn orchestrator_env_never_passes() {
        assert!(parse_policy("environment:\n  passthrough: [ORCHESTRA_AUDIT_KEY]\n", "p").is_err());
        assert!(parse_policy("environment:\n  passthrough: ['ORCH*']\n", "p").is_err());
        assert!(parse_policy("environment:\n  passthrough: ['*']\n", "p").is_err());
        assert!(parse_policy("environment:\n  passthrough: [HOME, 'CARGO_*']\n", "p").is_ok());
    }

    #[test]
    fn relative_paths_are_refused() {
        assert!(parse_policy("filesystem:\n  read_only: [usr]\n", "p").is_err());
        assert!(parse_policy("filesystem:\n  read_write: [/]\n", "p").is_err());
        assert!(parse_policy("filesystem:\n  hidden: [/a/../etc]\n", "p").is_err());
    }

    #[test]
    fn host_exposing_roots_are_refused_by_one_rule() {
        let home = &[PathBuf::from("/home/me")][..];
        for bad in [
            "/",
            "/home",
            "/home/me",
            "/home/me/.local/bin",
            "/home/me/.config",
            "/home/me/.ssh/x",
            "/etc",
            "/etc/systemd/system",
            "/usr/local/bin",
            "/var",
            "/root",
            "/opt",
            "/home/me/../me",
            "/bin",
        ] {
            assert!(host_exposing_write_root(Path::new(bad), home).is_some(), "{bad} accepted");
        }
        for ok in [
            "/home/me/project",
            "/home/me/.cache/x",
            "/var/lib/ci/ws",
            "/opt/build",
            "/tmp",
            "/tmp/x",
            "/work/ws",
            "/root/project",
        ] {
            assert_eq!(host_exposing_write_root(Path::new(ok), home), None, "{ok} refused");
        }
        assert!(parse_policy("filesystem:\n  read_write: [~/.local/bin]\n", "p").is_err());
        assert!(parse_policy("filesystem:\n  read_write: [/usr/local]\n", "p").is_err());
        assert!(parse_policy("filesystem:\n  read_write: [/tmp]\n", "p").is_ok());
    }

    #[test]
    fn unlimited_is_explicit() {
        let p = parse_policy("limits:\n  memory: unlimited\n  pids: 64\n", "p").unwrap();
        assert_eq!(p.limits.memory.get(), None);
        assert_eq!(p.limits.pids.get(), Some(64));
    }
}
