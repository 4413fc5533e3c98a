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
        if let Err(e) = crate::sandbox::container::spec::parse_volume(&v) {
            let key = if p.container.volumes.contains(&v) { "volumes" } else { "docker_volumes" };
            return Err(err(key, e.0));
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
    for rw in &p.filesystem.read_write {
        if rw == "/" || rw == "~" {
            return Err(err("read_write", format!("filesystem.read_write: {rw:?} would expose the whole host")));
        }
    }
    Ok(())
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
        assert_eq!(p.network.mode, crate::policy::NetworkMode::None);
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
    fn unlimited_is_explicit() {
        let p = parse_policy("limits:\n  memory: unlimited\n  pids: 64\n", "p").unwrap();
        assert_eq!(p.limits.memory.get(), None);
        assert_eq!(p.limits.pids.get(), Some(64));
    }
}
