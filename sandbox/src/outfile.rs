//! Files Orchestra writes after a task ran, without following links the task
//! could have planted.
//!
//! A task can write its workspace; if Orchestra (often root) later wrote
//! `WS/sub/report.json` by path, the task could have replaced `sub` by a
//! symbolic link and made Orchestra write into any directory. So:
//!
//! - [`OutFile::prepare`] runs BEFORE the task starts. It opens the parent
//!   directory one component at a time with `O_DIRECTORY|O_NOFOLLOW` (from the
//!   current directory for a relative path, from `/` for an absolute one):
//!   a symbolic link anywhere in the path is refused. The target itself must be
//!   absent or a regular file: a FIFO, a device, a directory or a link
//!   (`--report /dev/stdout`) is refused, never replaced and never written
//!   through. A directory this process may not write (its permissions, a
//!   read-only filesystem) is refused too, so the caller can refuse to run.
//! - [`OutFile::write`] (after the task) writes relative to that directory
//!   descriptor only: a fresh temporary name (`O_CREAT|O_EXCL|O_NOFOLLOW`),
//!   optional fsync, `renameat` over the name, fsync of the directory. Whatever
//!   the task did to the path meanwhile, the file lands in the directory that
//!   was opened before it ran (or the write fails); a link the task put at the
//!   target's name is replaced as a directory entry, never followed.
//! - [`write_at`] is the one temp + rename implementation; the run directory's
//!   writers (`runstore::write_atomic`, `runstore::write_replace`) use it too.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{AT_FDCWD, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Why an output file cannot be prepared or written. One line each.
#[derive(Debug, thiserror::Error)]
pub enum OutFileError {
    /// A component of the path is a symbolic link.
    #[error(
        "{path}: {component} is a symbolic link; give the real path (links are never followed for files written after a task ran)"
    )]
    Symlink {
        /// The path as given.
        path: PathBuf,
        /// The offending component (the path up to it).
        component: String,
    },
    /// The target exists and is not a regular file.
    #[error("{path}: exists and is {kind}, not a regular file; refusing to replace or write through it")]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The path names no file (empty, `/`, ends in `..`).
    #[error("{0}: not a file name")]
    NoName(PathBuf),
    /// The directory exists, but this process may not create the file there.
    #[error("{path}: cannot be written in its directory ({source}); give a path this user may write")]
    NotWritable {
        /// The path as given.
        path: PathBuf,
        /// Why (permission denied, a read-only filesystem).
        source: io::Error,
    },
    /// Any other error.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A file to be written after the task ran, whose directory was opened before.
#[derive(Debug)]
pub struct OutFile {
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
}

impl OutFile {
    /// Open `path`'s directory now (no symbolic links on the way) and check the
    /// target is absent or a regular file.
    pub fn prepare(path: &Path) -> Result<OutFile, OutFileError> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => return Err(OutFileError::NoName(path.to_path_buf())),
        };
        let parent = path.parent().unwrap_or(Path::new(""));
        let dir = open_dir_nofollow(parent).map_err(|e| match e {
            OutFileError::Symlink { component, .. } => OutFileError::Symlink { path: path.to_path_buf(), component },
            OutFileError::Io { source, .. } => OutFileError::Io { path: path.to_path_buf(), source },
            other => other,
        })?;
        match fstatat(&dir, name.as_os_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => match kind(&st) {
                Some(SFlag::S_IFREG) => {}
                Some(SFlag::S_IFLNK) => {
                    return Err(OutFileError::Symlink {
                        path: path.to_path_buf(),
                        component: path.display().to_string(),
                    });
                }
                _ => return Err(OutFileError::NotRegular { path: path.to_path_buf(), kind: kind_name(st.st_mode) }),
            },
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(OutFileError::Io { path: path.to_path_buf(), source: e.into() }),
        }
        // The file is written by a new name in the directory, then renamed:
        // a directory this process may not write fails now, before the task
        // ran, not after it (a report lost for a path known to be unwritable).
        use nix::unistd::{AccessFlags, faccessat};
        faccessat(&dir, ".", AccessFlags::W_OK | AccessFlags::X_OK, nix::fcntl::AtFlags::AT_EACCESS)
            .map_err(|e| OutFileError::NotWritable { path: path.to_path_buf(), source: e.into() })?;
        Ok(OutFile { dir, name, path: path.to_path_buf() })
    }

    /// The path as given (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Create the new file `name` beside the target, in the prepared
    /// directory (never through a link, never over a file), mode 0600, for
    /// appending; closed at exec.
    pub fn create_beside(&self, name: &str) -> Result<std::fs::File, OutFileError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_APPEND | OFlag::O_CLOEXEC;
        openat(self.dir.as_fd(), name, flags, Mode::from_bits_truncate(0o600))
            .map(std::fs::File::from)
            .map_err(|e| OutFileError::Io { path: self.path.with_file_name(name), source: e.into() })
    }

    /// Replace the file with `data` (temp + rename in the prepared directory;
    /// `durable`: fsync the file and the directory).
    pub fn write(&self, data: &[u8], durable: bool) -> Result<(), OutFileError> {
        write_at(self.dir.as_fd(), &self.name, data, durable)
            .map_err(|source| OutFileError::Io { path: self.path.clone(), source })
    }
}

fn kind(st: &FileStat) -> Option<SFlag> {
    kind_of_mode(st.st_mode)
}

fn kind_of_mode(mode: u32) -> Option<SFlag> {
    Some(SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())).filter(|k| !k.is_empty())
}

/// What a file that is not a regular file is, from its `st_mode`, for messages.
pub fn kind_name(mode: u32) -> &'static str {
    match kind_of_mode(mode) {
        Some(SFlag::S_IFDIR) => "a directory",
        Some(SFlag::S_IFIFO) => "a FIFO",
        Some(SFlag::S_IFCHR) => "a character device",
        Some(SFlag::S_IFBLK) => "a block device",
        Some(SFlag::S_IFSOCK) => "a socket",
        Some(SFlag::S_IFLNK) => "a symbolic link",
        _ => "not a regular file",
    }
}

/// Open a directory one component at a time, refusing symbolic links: from the
/// current directory for a relative path (empty = the current directory), from
/// `/` for an absolute one. `..` is resolved by the kernel at this moment.
pub fn open_dir_nofollow(path: &Path) -> Result<OwnedFd, OutFileError> {
    // Intermediate directories need only search permission (O_PATH), like a
    // path lookup; the last one is reopened for reading (fsync needs it).
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let io_err = |source: io::Error| OutFileError::Io { path: path.to_path_buf(), source };
    let start: &OsStr = if path.is_absolute() { OsStr::new("/") } else { OsStr::new(".") };
    let mut dir = openat(AT_FDCWD, start, flags, Mode::empty()).map_err(|e| io_err(e.into()))?;
    let mut walked = PathBuf::from(if path.is_absolute() { "/" } else { "" });
    for c in path.components() {
        let step: &OsStr = match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => OsStr::new(".."),
            Component::Normal(n) => n,
        };
        walked.push(step);
        dir = match openat(&dir, step, flags, Mode::empty()) {
            Ok(d) => d,
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR)
                if fstatat(&dir, step, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| kind(&st) == Some(SFlag::S_IFLNK)) =>
            {
                return Err(OutFileError::Symlink {
                    path: path.to_path_buf(),
                    component: walked.display().to_string(),
                });
            }
            Err(e) => return Err(io_err(e.into())),
        };
    }
    // "." of an O_PATH directory is that directory (never a link); without read
    // permission on it, the O_PATH descriptor serves (no directory fsync).
    let readable = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(&dir, ".", readable, Mode::empty()) {
        Ok(d) => Ok(d),
        Err(nix::errno::Errno::EACCES) => Ok(dir),
        Err(e) => Err(io_err(e.into())),
    }
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Replace `name` in `dir` with `data`: a fresh temporary file in `dir`
/// (created exclusively, never through a link), fsync when `durable`, then
/// `renameat` over `name` and fsync the directory when `durable`. Mode 0600.
pub fn write_at(dir: BorrowedFd<'_>, name: &OsStr, data: &[u8], durable: bool) -> io::Result<()> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut attempt = 0u32;
    let (tmp, file) = loop {
        let mut tmp = OsString::from(".");
        tmp.push(name);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tmp.push(format!(".{}-{seq}-{nanos:08x}.tmp", std::process::id()));
        match openat(dir, tmp.as_os_str(), flags, Mode::from_bits_truncate(0o600)) {
            Ok(fd) => break (tmp, std::fs::File::from(fd)),
            Err(nix::errno::Errno::EEXIST) if attempt < 16 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let written = (&file).write_all(data).and_then(|_| if durable { file.sync_all() } else { Ok(()) });
    drop(file);
    let renamed = written.and_then(|_| renameat(dir, tmp.as_os_str(), dir, name).map_err(io::Error::from));
    if let Err(e) = renamed {
        let _ = unlinkat(dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    if durable {
        match nix::unistd::fsync(dir) {
            // An O_PATH descriptor (a directory we may not read): nothing to sync through it.
            Ok(()) | Err(nix::errno::Errno::EBADF) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Replace a file atomically (temp file + rename) without forcing it to disk:
/// readers never see a half-written file, but a power loss may lose it. For
/// files that a durable record (the checkpoint) supersedes.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_in_parent(path, data, false)
}

/// Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_in_parent(path, data, true)
}

/// The parent directory is opened by path (links in it are followed: callers
/// whose path a task could have changed use [`OutFile`],
/// opened before the task ran); the file itself goes through
/// [`write_at`].
fn write_in_parent(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{}: not a file name", path.display())))?;
    let dir: std::os::fd::OwnedFd = match std::fs::File::open(dir) {
        Ok(d) => d.into(),
        // Search permission only: an O_PATH descriptor still names it (no fsync).
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?,
        Err(e) => return Err(e),
    };
    write_at(dir.as_fd(), name, data, durable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn writes_a_new_file_and_replaces_an_existing_one() {
        let d = tmp();
        let p = d.path().join("r.json");
        OutFile::prepare(&p).unwrap().write(b"one", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        OutFile::prepare(&p).unwrap().write(b"two", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn a_link_swapped_in_after_prepare_is_not_followed() {
        let d = tmp();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let sub = d.path().join("ws/sub");
        std::fs::create_dir_all(&sub).unwrap();
        let out = OutFile::prepare(&sub.join("r.json")).unwrap();
        // The "task": moves sub away and puts a link to `outside` in its place.
        std::fs::rename(&sub, d.path().join("ws/moved")).unwrap();
        std::os::unix::fs::symlink(&outside, &sub).unwrap();
        out.write(b"x", true).unwrap();
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing written through the link");
        assert_eq!(std::fs::read(d.path().join("ws/moved/r.json")).unwrap(), b"x");
    }

    #[test]
    fn a_link_at_the_target_name_is_replaced_not_followed() {
        let d = tmp();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let p = d.path().join("r.json");
        let out = OutFile::prepare(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        out.write(b"report", true).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
    }

    #[test]
    fn links_and_special_files_are_refused_before() {
        let d = tmp();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        let e = OutFile::prepare(&d.path().join("link/r.json")).unwrap_err();
        assert!(matches!(e, OutFileError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("link"), "{e}");
        assert!(matches!(OutFile::prepare(Path::new("/dev/stdout")), Err(OutFileError::Symlink { .. })));
        assert!(matches!(OutFile::prepare(Path::new("/dev/null")), Err(OutFileError::NotRegular { .. })));
        assert!(matches!(OutFile::prepare(&real), Err(OutFileError::NotRegular { kind: "a directory", .. })));
        assert!(matches!(OutFile::prepare(Path::new("/")), Err(OutFileError::NoName(_))));
        assert!(matches!(OutFile::prepare(&d.path().join("none/r.json")), Err(OutFileError::Io { .. })));
        assert!(!e.to_string().contains('\n'));
    }
}
