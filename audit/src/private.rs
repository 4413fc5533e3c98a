//! The log directory is private to its owner (FORMAT.md §9): records carry
//! command lines and paths, so no other local user reads them.
//!
//! Guarantees: after [`prepare_dir`] the log directory exists, and, if this
//! process's user owns it, it is mode 0700 (a new directory is created so;
//! one with group or other bits is tightened, and then so is every file in
//! it that we own: segments 0600). Once the directory is 0700 nobody else can
//! reach its files whatever their modes, so an open costs one `stat` unless
//! there is something to tighten. A directory someone else owns is left as
//! it is (we cannot change it) and said so in the log of this process.

use super::AuditError;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of the log directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of segment files (and every other file the writer creates there).
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (mode 0700; missing parents with the default mode) or
/// tighten an existing one we own.
pub fn prepare_dir(dir: &Path) -> Result<(), AuditError> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => tighten(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
            }
            match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
                Ok(()) => Ok(()),
                // Another writer created it meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(dir),
                Err(e) => Err(AuditError::io(dir, e)),
            }
        }
        Err(e) => Err(AuditError::io(dir, e)),
    }
}

/// Tighten an existing log directory we own, and then its files.
fn tighten(dir: &Path) -> Result<(), AuditError> {
    // Follows a link to the directory, as opening the log does.
    let meta = std::fs::metadata(dir).map_err(|e| AuditError::io(dir, e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.mode() & 0o077 == 0 {
        return Ok(());
    }
    // Root may tighten a directory another user owns (a checkout's owner
    // keeps full access to it); anyone else cannot, and is told.
    if meta.uid() != me && me != 0 {
        tracing::warn!(
            "audit log directory {} is owned by uid {} and readable by others (mode {:o}); not ours to tighten",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        );
        return Ok(());
    }
    set_mode(dir, DIR_MODE)?;
    for e in std::fs::read_dir(dir).map_err(|e| AuditError::io(dir, e))? {
        let e = e.map_err(|e| AuditError::io(dir, e))?;
        let path = e.path();
        let m = std::fs::symlink_metadata(&path).map_err(|e| AuditError::io(&path, e))?;
        if m.is_file() && (m.uid() == me || me == 0) && m.mode() & 0o077 != 0 {
            set_mode(&path, FILE_MODE)?;
        }
    }
    tracing::info!("audit log directory {} was readable by others: now mode 0700, its files 0600", dir.display());
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), AuditError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| AuditError::io(path, e))
}

/// Open (creating it, mode 0600) the lock file `path` and `flock` it with
/// `arg`; `None` when a non-blocking lock is held by someone else.
pub(crate) fn lock_file(
    path: &Path,
    arg: nix::fcntl::FlockArg,
) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, AuditError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuditError::io(path, e))?;
    match nix::fcntl::Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(AuditError::io(path, std::io::Error::from(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0)
    }

    #[test]
    fn a_new_directory_is_private_and_its_parents_are_not_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/audit");
        prepare_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_ne!(mode(&tmp.path().join("a/b")) & 0o077, 0, "parents keep the default mode");
    }

    #[test]
    fn an_open_directory_of_ours_is_tightened_with_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let seg = dir.join("00000000000000000000.seg");
        std::fs::write(&seg, b"x").unwrap();
        std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&seg)), (0o700, 0o600));
        assert_eq!(std::fs::read(&seg).unwrap(), b"x", "content untouched");
    }
}
