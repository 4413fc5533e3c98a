//! File operations relative to an open directory that never follow a link.
//!
//! The run directory may lie inside the workspace that tasks write, and a task
//! can rename a parent of it and put a symlink in its place. Every file
//! Orchestra writes or reads in a run directory after the run started goes
//! through these functions, relative to the directory's descriptor opened
//! when the run began: paths are resolved with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, so no symlink on any
//! component — planted before the run or swapped in during it — is followed,
//! nothing resolves outside the directory, and a renamed or replaced parent
//! does not matter (the descriptor still names the directory). Files are
//! replaced by a temporary file and `renameat` in the same directory, so a
//! hard link planted in place of a file is replaced, never written through.
//! FIFOs and devices are never opened for writing (`O_NOFOLLOW` + a regular
//! file check), and no operation blocks on one.

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, renameat};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

fn resolve() -> ResolveFlag {
    ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

fn how(flags: OFlag, mode: u32) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .mode(Mode::from_bits_truncate(mode))
        .resolve(resolve())
}

/// `rel` as plain components: no root, no `..`, not empty.
fn plain(rel: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a relative path: {rel:?}"))),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    }
    Ok(out)
}

/// A clearer error for the refusals of `openat2`.
fn explain(e: Errno, rel: &Path) -> io::Error {
    match e {
        Errno::ELOOP | Errno::EXDEV => io::Error::other(format!(
            "{}: a symbolic link (or a path leaving the directory) is in the way; not followed",
            rel.display()
        )),
        Errno::ENOTDIR => io::Error::other(format!(
            "{}: not a directory (a symbolic link or a file is in the way); not followed",
            rel.display()
        )),
        other => io::Error::from(other),
    }
}

/// Open the directory `rel` below `dir` (`.` for `dir` itself).
pub fn open_dir<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<OwnedFd> {
    let target = if rel.as_os_str().is_empty() || rel == Path::new(".") { PathBuf::from(".") } else { plain(rel)? };
    openat2(dir, &target, how(OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)).map_err(|e| explain(e, rel))
}

/// Create the directory `rel` below `dir` and its missing parents (never through a link).
pub fn create_dir_all<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = plain(rel)?;
    let mut cur = open_dir(dir, Path::new("."))?;
    for c in rel.components() {
        match mkdirat(&cur, c.as_os_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(explain(e, &rel)),
        }
        cur = open_dir(&cur, Path::new(c.as_os_str()))?;
    }
    Ok(cur)
}

/// Split `rel` into its parent directory (opened) and its file name.
fn parent_of<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<(OwnedFd, std::ffi::OsString)> {
    let rel = plain(rel)?;
    let name = rel.file_name().map(|n| n.to_os_string()).ok_or_else(|| io::Error::other("no file name"))?;
    let parent = rel.parent().unwrap_or(Path::new(""));
    Ok((open_dir(dir, parent)?, name))
}

fn regular(file: &File, rel: &Path) -> io::Result<()> {
    let st = fstat(file.as_fd()).map_err(io::Error::from)?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(io::Error::other(format!("{}: not a regular file", rel.display())));
    }
    Ok(())
}

/// Open `rel` below `dir` for appending, creating it (mode 0644) if needed.
pub fn open_append<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<File> {
    let rel = plain(rel)?;
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_NONBLOCK;
    let file = File::from(openat2(dir, &rel, how(flags, 0o644)).map_err(|e| explain(e, &rel))?);
    regular(&file, &rel)?;
    Ok(file)
}

/// Open `rel` below `dir` for reading and writing, creating it (mode 0644) if needed.
pub fn open_rw<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<File> {
    let rel = plain(rel)?;
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NONBLOCK;
    let file = File::from(openat2(dir, &rel, how(flags, 0o644)).map_err(|e| explain(e, &rel))?);
    regular(&file, &rel)?;
    Ok(file)
}

/// Create (or truncate) `rel` below `dir` for writing.
pub fn create<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<File> {
    let rel = plain(rel)?;
    let (parent, name) = parent_of(dir, &rel)?;
    // Never truncate through whatever is there: replace it by a new file.
    match nix::unistd::unlinkat(&parent, name.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(explain(e, &rel)),
    }
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
    let file = File::from(openat2(&parent, Path::new(&name), how(flags, 0o644)).map_err(|e| explain(e, &rel))?);
    Ok(file)
}

/// Open `rel` below `dir` for reading (a regular file only).
pub fn open_read<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<File> {
    let rel = plain(rel)?;
    let file =
        File::from(openat2(dir, &rel, how(OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0)).map_err(|e| explain(e, &rel))?);
    regular(&file, &rel)?;
    Ok(file)
}

/// Read `rel` below `dir` (a regular file only).
pub fn read<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_read(dir, rel)?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Remove the file `rel` below `dir` (absent is fine).
pub fn remove<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<()> {
    let (parent, name) = parent_of(dir, rel)?;
    match nix::unistd::unlinkat(&parent, name.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(explain(e, rel)),
    }
}

/// What `rel` below `dir` is, without following it: `None` if absent.
pub fn kind<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<Option<SFlag>> {
    let (parent, name) = parent_of(dir, rel)?;
    match nix::sys::stat::fstatat(&parent, name.as_os_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(explain(e, rel)),
    }
}

/// Replace `rel` below `dir` with `data`: a temporary file in the same
/// directory, then `renameat` over the name. With `durable`, the file and
/// the directory are fsynced (the checkpoint); without, readers still never
/// see a half-written file.
pub fn write_replace<Fd: AsFd>(dir: Fd, rel: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let rel = plain(rel)?;
    let (parent, name) = parent_of(dir, &rel)?;
    let mut rnd = [0u8; 6];
    let _ = getrandom::getrandom(&mut rnd);
    let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = std::ffi::OsString::from(format!(".{}.{suffix}.tmp", name.to_string_lossy()));
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
    let mut file = File::from(openat2(&parent, Path::new(&tmp), how(flags, 0o644)).map_err(|e| explain(e, &rel))?);
    let written = file.write_all(data).and_then(|_| if durable { file.sync_all() } else { Ok(()) });
    let renamed = written
        .and_then(|_| renameat(&parent, Path::new(&tmp), &parent, Path::new(&name)).map_err(|e| explain(e, &rel)));
    if let Err(e) = renamed {
        let _ = nix::unistd::unlinkat(&parent, tmp.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    if durable {
        let _ = nix::unistd::fsync(&parent);
    }
    Ok(())
}

/// `(st_dev, st_ino)` of an open file.
pub fn identity<Fd: AsFd>(fd: Fd) -> io::Result<(u64, u64)> {
    let st = fstat(fd.as_fd()).map_err(io::Error::from)?;
    Ok((st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_never_followed_and_replaced_parents_do_not_matter() {
        let root = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let fd = open_dir(File::open(&run).unwrap(), Path::new(".")).unwrap();
        create_dir_all(&fd, Path::new("logs")).unwrap();
        // A link planted in the directory is not followed, for any operation.
        std::os::unix::fs::symlink(host.path(), run.join("artifacts")).unwrap();
        std::os::unix::fs::symlink(host.path().join("f"), run.join("report.json")).unwrap();
        assert!(create_dir_all(&fd, Path::new("artifacts/t")).is_err());
        assert!(open_append(&fd, Path::new("artifacts/x.log")).is_err());
        assert!(read(&fd, Path::new("report.json")).is_err());
        // Replacing a link by a file is fine: the link itself is replaced, its target untouched.
        write_replace(&fd, Path::new("report.json"), b"{}", false).unwrap();
        assert_eq!(std::fs::read(run.join("report.json")).unwrap(), b"{}");
        assert!(std::fs::read_dir(host.path()).unwrap().next().is_none(), "nothing in the host dir");
        // The run directory is moved away and a link put in its place: writes follow the descriptor.
        std::fs::rename(&run, root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(host.path(), &run).unwrap();
        let mut f = open_append(&fd, Path::new("logs/t.log")).unwrap();
        f.write_all(b"line\n").unwrap();
        write_replace(&fd, Path::new("checkpoint.json"), b"x", true).unwrap();
        assert_eq!(std::fs::read(root.path().join("moved/logs/t.log")).unwrap(), b"line\n");
        assert!(root.path().join("moved/checkpoint.json").is_file());
        assert!(std::fs::read_dir(host.path()).unwrap().next().is_none(), "nothing in the host dir");
        assert!(plain(Path::new("../x")).is_err() && plain(Path::new("/etc")).is_err());
    }
}
