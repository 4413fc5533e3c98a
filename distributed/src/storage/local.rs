//! A local directory as a blob store.
//!
//! An object is written to a temporary file in its final directory and
//! renamed into place: a reader (or a killed writer) sees the whole object or
//! none, never a prefix. [`Dir::sync`] makes the puts before it
//! durable against a power loss (one `syncfs`), which the worker calls once
//! per delivery before it reports and acknowledges. Objects are created with mode
//! 0644 (less the umask). Leftover temporary files (`.tmp-*`, after a crash)
//! never collide with object names (64 hex digits).

use super::StorageError;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// An open local store.
#[derive(Debug)]
pub(crate) struct Dir {
    /// Canonical.
    pub root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io { path: path.to_path_buf(), source }
}

impl Dir {
    /// Opens `dir`, creating it if absent.
    pub fn open(dir: &Path) -> Result<Dir, StorageError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let root = dir.canonicalize().map_err(io(dir))?;
        Ok(Dir { root })
    }

    /// The object's path, refused when anything between the root and it is
    /// a symbolic link (the store is written outside any sandbox: a link
    /// planted in it must not redirect a write or a read).
    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let path = self.root.join(key);
        let mut at = self.root.clone();
        for c in Path::new(key).components() {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(StorageError::Io {
                        path: at,
                        source: std::io::Error::new(ErrorKind::InvalidData, "a symbolic link in the blob store"),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(io(&at)(e)),
            }
        }
        Ok(path)
    }

    /// A file can be created in the directory (and is removed again).
    pub fn check(&self) -> Result<(), StorageError> {
        let probe = tempfile::Builder::new().prefix(".tmp-check-").tempfile_in(&self.root).map_err(io(&self.root))?;
        probe.close().map_err(io(&self.root))
    }

    /// The size of the object at `key`, `None` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(key)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Err(StorageError::Io {
                path,
                source: std::io::Error::new(ErrorKind::InvalidData, "not a regular file"),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Creates (or replaces) the object at `key` with what `write` writes;
    /// nothing is visible unless `write` succeeds.
    pub fn put(
        &self,
        key: &str,
        write: impl FnOnce(&mut File) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // Created just now: still no link on the way (a racing task cannot reach the store).
        self.path(key)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::fs::Permissions::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(io(dir))?;
        write(tmp.as_file_mut())?;
        tmp.persist(&path).map_err(|e| StorageError::Io { path: path.clone(), source: e.error })?;
        Ok(())
    }

    /// Makes every put before it durable: one `syncfs(2)` of the store's
    /// file system (one journal commit, where an fsync of each object and
    /// of each directory cost four per delivery).
    pub fn sync(&self) -> Result<(), StorageError> {
        let root = File::open(&self.root).map_err(io(&self.root))?;
        nix::unistd::syncfs(&root).map_err(|e| io(&self.root)(e.into()))
    }

    /// `len` bytes of the object at `key` from `start`; `None` when there is
    /// no object, fewer bytes when it is shorter.
    pub fn read_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(key)?;
        let mut file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        file.seek(SeekFrom::Start(start)).map_err(io(&path))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(len).read_to_end(&mut out).map_err(io(&path))?;
        Ok(Some(out))
    }
}

/// fsyncs a directory (a rename in it is durable after this).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
