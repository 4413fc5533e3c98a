//! SHA-256 of one regular file named relative to its directory's descriptor.
//!
//! Guarantees: the file is opened with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`
//! relative to the directory the walk holds open (no path is resolved again),
//! and read only when `fstat` of the opened descriptor shows a regular file
//! with the inode the walk saw; at most `max` bytes are read. A file that was
//! replaced, grew past `max` or cannot be read is not hashed, and says why.

use super::{EntryKind, Meta};
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};
use sha2::{Digest, Sha256};
use std::ffi::CStr;
use std::io::Read;
use std::os::fd::BorrowedFd;

/// Why a file was not hashed.
#[derive(Debug, thiserror::Error)]
pub enum Unhashed {
    /// It could not be opened or read.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// It is no longer the file the walk saw.
    #[error("replaced while the diff was made")]
    Replaced,
    /// It grew past the limit while being read.
    #[error("grew past {0} bytes while hashed")]
    Grew(u64),
}

/// The hex SHA-256 of `name` in `dir`, and the bytes read.
pub fn sha256_at(dir: BorrowedFd<'_>, name: &CStr, seen: &Meta, max: u64) -> Result<(String, u64), Unhashed> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty()).map_err(|e| match e {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ELOOP => Unhashed::Replaced,
        e => Unhashed::Unreadable(e.desc().to_string()),
    })?;
    let st = fstat(&fd).map_err(|e| Unhashed::Unreadable(e.desc().to_string()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_ino != seen.ino || seen.kind != EntryKind::File {
        return Err(Unhashed::Replaced);
    }
    let file = std::fs::File::from(fd);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut n: u64 = 0;
    let mut r = file.take(max.saturating_add(1));
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                n += k as u64;
                if n > max {
                    return Err(Unhashed::Grew(max));
                }
                h.update(buf.get(..k).unwrap_or_default());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Unhashed::Unreadable(e.to_string())),
        }
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), n))
}
