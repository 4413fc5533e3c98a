//! Directories only this user controls, for what the engines mount or read
//! by path (the container pool, the built-in supervisor).
//!
//! Guarantees: [`ensure`] returns only for a plain absolute path (no `"`,
//! `\`, `:` or control characters: it goes into bind specifications and JSON)
//! naming a real directory (not a link) owned by the effective uid with no
//! access for group or others, every ancestor of which is a real directory
//! owned by root or us that nobody else may rename entries in (writable by
//! group or others only if sticky). Nobody else can then swap the directory,
//! or a file in it, between our check and the engine's use of the path.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

fn other(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// Create `dir` (mode 0700; missing ancestors with the default mode) if it
/// does not exist, then check it as the module says.
pub fn ensure(dir: &Path, what: &str) -> std::io::Result<()> {
    let text = dir.to_str().ok_or_else(|| other(format!("{}: not UTF-8", dir.display())))?;
    if !dir.is_absolute() || text.chars().any(|c| c == '"' || c == '\\' || c.is_control() || c == ':') {
        return Err(other(format!("{text}: {what} needs a plain absolute path")));
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let me = nix::unistd::geteuid().as_raw();
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
        return Err(other(format!("{text}: {what} must be a directory owned by uid {me} with mode 0700")));
    }
    for a in dir.ancestors().skip(1) {
        let m = std::fs::symlink_metadata(a)?;
        let shared_write = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
        if !m.is_dir() || (m.uid() != 0 && m.uid() != me) || shared_write {
            return Err(other(format!(
                "{text}: {} could be replaced by another user (owned by uid {}, mode {:o}); choose a private directory for {what}",
                a.display(),
                m.uid(),
                m.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_directory_with_safe_ancestors_passes() {
        let base = tempfile::tempdir().unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = base.path().join("a/b");
        ensure(&d, "x").unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(base.path().join("a")).unwrap().mode() & 0o077, 0o755 & 0o077 & !0o022);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ensure(&d, "x").is_err(), "readable by others");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(base.path().join("a"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(ensure(&d, "x").is_err(), "an ancestor anyone may rename entries in");
        std::fs::set_permissions(base.path().join("a"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure(&d, "x").unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        assert!(ensure(&link, "x").is_err(), "a link");
        assert!(ensure(Path::new("relative"), "x").is_err());
        assert!(ensure(&base.path().join("a:b"), "x").is_err());
    }
}
