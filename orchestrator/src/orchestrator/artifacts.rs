//! Collecting a task's declared outputs into `runs/<id>/artifacts/<task>/`.
//!
//! The orchestrator runs outside the sandbox, so the copy must not become a
//! way out of it. Guarantees: every open is an `openat2` beneath the
//! workspace with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`, relative to an already-open directory, so no
//! symlink anywhere on the path — not the output itself, not a parent a task
//! swapped in, not one swapped in while we copy — is ever followed, and the
//! copy cannot leave the workspace. Symlinks are neither followed nor copied
//! (CI uploaders follow links and would publish whatever a task's link points
//! at); FIFOs, sockets and devices are skipped (opened non-blocking, never
//! read). An output that is missing, or whose path goes through a symlink,
//! fails the task; so does one that overlaps the orchestrator's own
//! directories (the runs directory, the audit log, `.orchestra/`).

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{SFlag, fstat};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Why declared outputs were not (all) copied.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The workspace cannot be opened.
    #[error("workspace {}: {source}", path.display())]
    Workspace {
        /// The workspace.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An output path that leaves the workspace.
    #[error("declared output {0:?} is not a path inside the workspace")]
    NotInside(String),
    /// An output overlapping the orchestrator's own directories.
    #[error("declared output {output:?} overlaps the orchestrator's own {}", own.display())]
    Overlaps {
        /// The output as declared.
        output: String,
        /// The orchestrator's path.
        own: PathBuf,
    },
    /// The task did not produce it.
    #[error("declared output {0:?} was not produced")]
    Missing(String),
    /// It goes through a symbolic link.
    #[error("declared output {0:?} goes through a symbolic link; not copied")]
    Link(String),
    /// It cannot be opened.
    #[error("declared output {output:?}: {source}")]
    Open {
        /// The output as declared.
        output: String,
        /// Why.
        source: io::Error,
    },
    /// The destination in the run directory.
    #[error("artifacts: {0}")]
    Destination(crate::runstore::RunStoreError),
    /// Copying failed.
    #[error("copying output {output:?}: {source}")]
    Copy {
        /// The output as declared.
        output: String,
        /// Why.
        source: io::Error,
    },
}

/// Copy each declared output (relative to `workdir`) into `dest` (a directory
/// relative to `run`, written through its descriptor: no link there is ever
/// followed either), refusing outputs that overlap any of `forbidden` (absolute paths).
pub fn collect(
    workdir: &Path,
    outputs: &[String],
    run: &crate::runstore::RunDir,
    dest: &Path,
    forbidden: &[PathBuf],
) -> Result<(), ArtifactError> {
    let root =
        open_dir_path(workdir).map_err(|source| ArtifactError::Workspace { path: workdir.to_path_buf(), source })?;
    for out in outputs {
        let rel = normalize(out).ok_or_else(|| ArtifactError::NotInside(out.clone()))?;
        let abs = workdir.join(&rel);
        if let Some(f) = forbidden.iter().find(|f| abs.starts_with(f) || f.starts_with(&abs)) {
            return Err(ArtifactError::Overlaps { output: out.clone(), own: f.clone() });
        }
        let fd = match beneath(&root, &rel) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(ArtifactError::Missing(out.clone())),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) => {
                return Err(ArtifactError::Link(out.clone()));
            }
            Err(source) => return Err(ArtifactError::Open { output: out.clone(), source }),
        };
        let target = dest.join(&rel);
        let parent = target.parent().unwrap_or(dest);
        let into = run.create_dir(parent).map_err(ArtifactError::Destination)?;
        let name = target.file_name().unwrap_or_default();
        copy_fd(fd, &into, name).map_err(|source| ArtifactError::Copy { output: out.clone(), source })?;
    }
    Ok(())
}

/// `a/./b/` → `a/b`; `None` for empty, absolute or `..` paths.
fn normalize(p: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn how() -> OpenHow {
    OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn open_dir_path(p: &Path) -> io::Result<OwnedFd> {
    Ok(File::open(p)?.into())
}

fn beneath<Fd: AsFd>(dir: Fd, rel: &Path) -> io::Result<OwnedFd> {
    openat2(dir, rel, how()).map_err(io::Error::from)
}

/// Copy the open `fd` to `name` in the open directory `into` (see `runstore::at`).
fn copy_fd(fd: OwnedFd, into: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<()> {
    let st = fstat(&fd).map_err(io::Error::from)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFREG {
        let mut from = File::from(fd);
        let mut to = crate::runstore::at::create(into, Path::new(name))?;
        io::copy(&mut from, &mut to)?;
        Ok(())
    } else if kind == SFlag::S_IFDIR {
        let sub = crate::runstore::at::create_dir_all(into, Path::new(name))?;
        let dup = fd.try_clone()?;
        let mut dir = nix::dir::Dir::from_fd(dup).map_err(io::Error::from)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                use std::os::unix::ffi::OsStrExt;
                names.push(std::ffi::OsStr::from_bytes(name).to_owned());
            }
        }
        for name in names {
            match openat2(&fd, Path::new(&name), how()) {
                Ok(child) => copy_fd(child, &sub, &name)?,
                // A symlink (ELOOP) is not copied; anything that vanished meanwhile is skipped.
                Err(nix::errno::Errno::ELOOP) | Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::EXDEV) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
        }
        Ok(())
    } else {
        // FIFOs, sockets, devices: opened non-blocking only to look, never copied.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run directory in a fresh runs directory, and its path.
    fn run_dir() -> (tempfile::TempDir, crate::runstore::RunDir) {
        let d = tempfile::tempdir().unwrap();
        let run = crate::runstore::RunDir::create(d.path()).unwrap();
        (d, run)
    }

    fn collect_to(
        ws: &Path,
        outputs: &[String],
        run: &crate::runstore::RunDir,
        forbidden: &[PathBuf],
    ) -> Result<(), ArtifactError> {
        collect(ws, outputs, run, Path::new("artifacts/t"), forbidden)
    }

    fn canary() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("secret");
        std::fs::write(&p, "CANARY-SECRET").unwrap();
        (d, p)
    }

    fn grep(dir: &Path, needle: &str) -> bool {
        walk(dir).iter().any(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains(needle)))
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn links_are_not_followed_and_missing_outputs_fail() {
        let ws = tempfile::tempdir().unwrap();
        let (_runs, run) = run_dir();
        let dest = run.path.join("artifacts/t");
        let (_keep, secret) = canary();
        std::fs::create_dir(ws.path().join("out")).unwrap();
        std::fs::write(ws.path().join("out/bin"), "binary").unwrap();
        std::os::unix::fs::symlink(&secret, ws.path().join("out/leak")).unwrap();
        collect_to(ws.path(), &["out".into()], &run, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(dest.as_path().join("out/bin")).unwrap(), "binary");
        assert!(std::fs::symlink_metadata(dest.as_path().join("out/leak")).is_err(), "links are not copied");
        let e = collect_to(ws.path(), &["nope".into()], &run, &[]).unwrap_err().to_string();
        assert!(e.contains("was not produced"), "{e}");
        assert!(!grep(dest.as_path(), "CANARY"));
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let ws = tempfile::tempdir().unwrap();
        let (_runs, run) = run_dir();
        let dest = run.path.join("artifacts/t");
        let (keep, _secret) = canary();
        std::os::unix::fs::symlink(keep.path(), ws.path().join("sub")).unwrap();
        let e = collect_to(ws.path(), &["sub/secret".into()], &run, &[]).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = collect_to(ws.path(), &["sub".into()], &run, &[]).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!grep(dest.as_path(), "CANARY"));
    }

    #[test]
    fn fifos_are_skipped_and_own_dirs_refused() {
        let ws = tempfile::tempdir().unwrap();
        let (_runs, run) = run_dir();
        let dest = run.path.join("artifacts/t");
        std::fs::create_dir(ws.path().join("out")).unwrap();
        nix::unistd::mkfifo(&ws.path().join("out/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        collect_to(ws.path(), &["./out/".into()], &run, &[]).unwrap();
        assert!(!dest.as_path().join("out/fifo").exists());
        let runs = ws.path().join("runs");
        std::fs::create_dir(&runs).unwrap();
        for bad in [".", "runs", "runs/x"] {
            let e = collect_to(ws.path(), &[bad.into()], &run, std::slice::from_ref(&runs)).unwrap_err().to_string();
            assert!(e.contains("overlaps") || e.contains("not a path"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_link_planted_in_the_artifacts_dir_is_not_followed() {
        let ws = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        let (_runs, run) = run_dir();
        std::fs::create_dir(ws.path().join("out")).unwrap();
        std::fs::write(ws.path().join("out/a"), "artifact").unwrap();
        // `artifacts/t` replaced by a link to a host directory.
        std::os::unix::fs::symlink(host.path(), run.path.join("artifacts/t")).unwrap();
        let e = collect_to(ws.path(), &["out".into()], &run, &[]).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(std::fs::read_dir(host.path()).unwrap().next().is_none(), "nothing written in the host dir");
    }
}
