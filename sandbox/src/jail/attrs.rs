//! Namespace-less mode: the supervisor itself performs the path-based attribute
//! changes it allowed (chmod, chown, utimes, xattrs, `file_setattr`), on the
//! very inode it judged.
//!
//! With namespaces, read-only mounts back every judgement of the supervisor.
//! Without them nothing does for these calls (landlock has no right for mode,
//! owner, times or attributes), and letting the kernel look the path up again
//! after the judgement is a race a task can win: another thread swaps a symlink
//! in the workspace for one to `/etc/passwd` in between. So, for these calls,
//! the supervisor:
//!
//! 1. opens the path it resolved as an `O_PATH` descriptor (a final symlink
//!    followed only where the call follows it), which pins the inode;
//! 2. judges the path the kernel gives for that descriptor against the
//!    writable roots again (a difference is the race, reported `fs.write`),
//!    and a set-ID mode against the pinned inode's type (`fs.setuid`);
//! 3. performs the change on the descriptor with its effective capabilities
//!    cleared: the task runs with the same uid and no capability, so the
//!    kernel's permission checks are the ones the task would meet;
//! 4. answers the task with the call's result (a permission error is the
//!    kernel's ordinary answer, not a violation).
//!
//! Guarantee: after a `Continue` judgement, no path lookup by the kernel on the
//! task's behalf happens for these calls; what changes is the inode judged.

use super::decide::{Decision, write_allowed};
use super::memory::Memory;
use super::{plan::JailPlan, seccomp};
use crate::sys::{self, Notification};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// What the supervisor answers after performing a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call's own result: 0, or the errno it failed with.
    Done(Result<i64, i32>),
    /// The pinned inode is not what was judged, or the mode is set-ID: deny and report.
    Violation(Decision),
}

/// Whether `nr` is a path-based attribute change this module performs.
pub fn performs(nr: i64) -> bool {
    matches!(
        nr,
        libc::SYS_chmod
            | libc::SYS_fchmodat
            | libc::SYS_chown
            | libc::SYS_lchown
            | libc::SYS_fchownat
            | libc::SYS_utime
            | libc::SYS_utimes
            | libc::SYS_futimesat
            | libc::SYS_utimensat
            | libc::SYS_setxattr
            | libc::SYS_lsetxattr
            | libc::SYS_removexattr
            | libc::SYS_lremovexattr
    ) || matches!(
        nr,
        seccomp::nr::FCHMODAT2 | seccomp::nr::SETXATTRAT | seccomp::nr::REMOVEXATTRAT | seccomp::nr::FILE_SETATTR
    )
}

/// Perform the call `n` (judged `Continue`, its target resolved to `target`).
pub fn perform(plan: &JailPlan, n: &Notification, mem: &dyn Memory, target: &Path) -> Outcome {
    let nr = n.nr as i64;
    let name = seccomp::syscall_name(nr);
    let follow = match seccomp::watch_of(nr).map(|w| seccomp::refine(nr, &n.args, w)) {
        Some(seccomp::Watch::Write(p)) => p.follows,
        _ => true,
    };
    let fd = match sys::open_path(target, follow) {
        Ok(fd) => fd,
        Err(e) => return Outcome::Done(Err(e.raw_os_error().unwrap_or(libc::EIO))),
    };
    let link = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)));
    let pinned = match std::fs::read_link(&link) {
        Ok(p) => p,
        Err(e) => return Outcome::Done(Err(e.raw_os_error().unwrap_or(libc::EIO))),
    };
    // The pinned inode's own type (fstat works on O_PATH descriptors).
    let fmt = match nix::sys::stat::fstat(&fd) {
        Ok(st) => st.st_mode & libc::S_IFMT,
        Err(e) => return Outcome::Done(Err(e as i32)),
    };
    let (is_symlink, is_dir) = (fmt == libc::S_IFLNK, fmt == libc::S_IFDIR);
    if !write_allowed(plan, &pinned, false) {
        return Outcome::Violation(Decision::Deny {
            errno: libc::EACCES,
            rule: crate::rule::Rule::FsWrite,
            detail: format!(
                "{name}: {} outside the writable roots (the path changed after it was judged: {})",
                pinned.display(),
                target.display()
            ),
        });
    }
    let args = &n.args;
    let result = match nr {
        libc::SYS_chmod | libc::SYS_fchmodat | seccomp::nr::FCHMODAT2 => {
            let mode = (if nr == libc::SYS_chmod { args[1] } else { args[2] }) as u32 & 0o7777;
            if mode & (libc::S_ISUID | libc::S_ISGID) != 0 && (mode & libc::S_ISUID != 0 || !is_dir) {
                return Outcome::Violation(Decision::Deny {
                    errno: libc::EPERM,
                    rule: crate::rule::Rule::FsSetuid,
                    detail: format!("{name}: mode {mode:04o} would make {} set-user/group-ID", pinned.display()),
                });
            }
            if is_symlink {
                return Outcome::Done(Err(libc::EOPNOTSUPP));
            }
            sys::without_effective_capabilities(|| sys::chmod_fd(&fd, mode))
        }
        libc::SYS_chown | libc::SYS_lchown | libc::SYS_fchownat => {
            let (u, g) = if nr == libc::SYS_fchownat { (args[2], args[3]) } else { (args[1], args[2]) };
            sys::without_effective_capabilities(|| sys::chown_fd(&fd, u as u32, g as u32))
        }
        libc::SYS_utime | libc::SYS_utimes | libc::SYS_futimesat | libc::SYS_utimensat => {
            let times = match read_times(nr, args, mem) {
                Ok(t) => t,
                Err(errno) => return Outcome::Done(Err(errno)),
            };
            sys::without_effective_capabilities(|| sys::utimens_fd(&fd, times))
        }
        libc::SYS_setxattr
        | libc::SYS_lsetxattr
        | libc::SYS_removexattr
        | libc::SYS_lremovexattr
        | seccomp::nr::SETXATTRAT
        | seccomp::nr::REMOVEXATTRAT => {
            let at = matches!(nr, seccomp::nr::SETXATTRAT | seccomp::nr::REMOVEXATTRAT);
            let Some(xname) = mem.cstr(args[if at { 3 } else { 1 }]).and_then(|b| CString::new(b).ok()) else {
                return Outcome::Done(Err(libc::EFAULT));
            };
            let value = match read_xattr_value(nr, args, mem) {
                Ok(v) => v,
                Err(errno) => return Outcome::Done(Err(errno)),
            };
            if is_symlink {
                // user.* attributes are refused on symlinks, the others need
                // capabilities the task does not hold.
                return Outcome::Done(Err(libc::EPERM));
            }
            sys::without_effective_capabilities(|| {
                sys::xattr_fd(&fd, &xname, value.as_ref().map(|(v, f)| (v.as_slice(), *f)))
            })
        }
        seccomp::nr::FILE_SETATTR => {
            const MAX_ATTR: u64 = 256;
            let size = args[3];
            if size > MAX_ATTR {
                return Outcome::Done(Err(libc::E2BIG));
            }
            let Some(attr) = mem.bytes(args[2], size as usize) else { return Outcome::Done(Err(libc::EFAULT)) };
            if is_symlink {
                return Outcome::Done(Err(libc::EOPNOTSUPP)); // a symlink has no inode flags to set
            }
            sys::without_effective_capabilities(|| sys::file_setattr_fd(&fd, nr, &attr))
        }
        _ => return Outcome::Done(Err(libc::ENOSYS)),
    };
    Outcome::Done(match result {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) | Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// The times a utime-family call asks for, as utimensat's pair (`None`: now).
fn read_times(nr: i64, args: &[u64; 6], mem: &dyn Memory) -> Result<Option<[libc::timespec; 2]>, i32> {
    let ptr = match nr {
        libc::SYS_utime | libc::SYS_utimes => args[1],
        _ => args[2],
    };
    if ptr == 0 {
        return Ok(None);
    }
    let word = |b: &[u8], i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let ts = |sec: i64, nsec: i64| libc::timespec { tv_sec: sec, tv_nsec: nsec };
    match nr {
        // struct utimbuf { time_t actime, modtime; }
        libc::SYS_utime => {
            let b = mem.bytes(ptr, 16).ok_or(libc::EFAULT)?;
            Ok(Some([ts(word(&b, 0), 0), ts(word(&b, 1), 0)]))
        }
        // struct timeval[2]
        libc::SYS_utimes | libc::SYS_futimesat => {
            let b = mem.bytes(ptr, 32).ok_or(libc::EFAULT)?;
            let usec = |u: i64| if (0..1_000_000).contains(&u) { Ok(u * 1000) } else { Err(libc::EINVAL) };
            Ok(Some([ts(word(&b, 0), usec(word(&b, 1))?), ts(word(&b, 2), usec(word(&b, 3))?)]))
        }
        // struct timespec[2] (UTIME_NOW / UTIME_OMIT pass through)
        _ => {
            let b = mem.bytes(ptr, 32).ok_or(libc::EFAULT)?;
            Ok(Some([ts(word(&b, 0), word(&b, 1)), ts(word(&b, 2), word(&b, 3))]))
        }
    }
}

/// The value and flags of a set call (`None` for a remove call).
fn read_xattr_value(nr: i64, args: &[u64; 6], mem: &dyn Memory) -> Result<Option<(Vec<u8>, i32)>, i32> {
    const XATTR_SIZE_MAX: u64 = 65536;
    let (ptr, size, flags) = match nr {
        libc::SYS_setxattr | libc::SYS_lsetxattr => (args[2], args[3], args[4]),
        seccomp::nr::SETXATTRAT => {
            // struct xattr_args { __aligned_u64 value; __u32 size; __u32 flags; }
            if args[5] < 16 {
                return Err(libc::EINVAL);
            }
            let b = mem.bytes(args[4], 16).ok_or(libc::EFAULT)?;
            let value = u64::from_ne_bytes(b[0..8].try_into().unwrap_or_default());
            let size = u32::from_ne_bytes(b[8..12].try_into().unwrap_or_default());
            let flags = u32::from_ne_bytes(b[12..16].try_into().unwrap_or_default());
            (value, size as u64, flags as u64)
        }
        _ => return Ok(None),
    };
    if size > XATTR_SIZE_MAX {
        return Err(libc::E2BIG);
    }
    let value = if size == 0 { Vec::new() } else { mem.bytes(ptr, size as usize).ok_or(libc::EFAULT)? };
    Ok(Some((value, flags as i32)))
}
