//! When a file the survey read before the task may be taken as unchanged
//! after it without being read again (the root's index of a large checkout
//! is megabytes, parsed entry by entry).
//!
//! Guarantee: [`Stamp::still`] holds only when the path now names the same
//! inode, of the same kind, mode and size, whose change time (ctime) is the
//! one [`Stamp::settled`] recorded; then its content is what was read after
//! the stamp was taken. This holds against a task that can write anything in
//! the workspace:
//!
//! - every change of a file's content (`write`, `truncate`, `fallocate`, a
//!   write through a shared mapping, a clone or copy into it) and of its
//!   status (`chmod`, `link`, `rename`) sets its ctime to the current time;
//!   nothing a task can run sets a ctime back: `utimensat` sets the access
//!   and modification times only, and the realtime clock needs
//!   `CAP_SYS_TIME` in the initial user namespace (a time namespace moves the
//!   monotonic clocks only). A file made anew in its place (renamed over;
//!   unlinked and made again, which may reuse the inode number) gets the
//!   current time as its ctime too;
//! - so a change after the stamp gives a ctime no earlier than the stamp's
//!   time less the file system's granularity (a clock tick; a second on an
//!   ext4 with small inodes). A stamp is taken only of a file whose ctime is
//!   at least [`SETTLED`] older than the clock then (what the host changed
//!   just before is read again, as git treats a "racily clean" entry): any
//!   later ctime differs from it;
//! - the host's clock stepped back during the task could undo that margin:
//!   [`Clock::kept`] compares the realtime clock with the monotonic one and
//!   trusts no stamp after a step back of more than [`STEP`];
//! - only where the kernel keeps ctime itself (ext2/3/4, xfs, btrfs, tmpfs,
//!   f2fs, overlayfs): a FUSE or network file system reports what its server
//!   says (sshfs gives the modification time as ctime), so there every file
//!   is read again, as before.
//!
//! [`Digests`] uses stamps for the small files the submodule fingerprints
//! read (hooks, included configs): each is read once per survey, and after
//! the task one with the settled stamp it had before is not read again.

use sha2::Digest as _;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How much older than the stamp's time a ctime must be for the stamp to be
/// trusted.
const SETTLED: Duration = Duration::from_secs(3);
/// The largest step back of the realtime clock stamps survive.
const STEP: Duration = Duration::from_secs(1);

/// When stamps were taken: the realtime and the monotonic clock; and which
/// devices are on a file system that keeps ctime ([`keeps_ctime`], asked
/// once per device).
#[derive(Debug, Clone)]
pub(super) struct Clock {
    wall: SystemTime,
    mono: Instant,
    devices: RefCell<Vec<(u64, bool)>>,
}

impl Clock {
    /// The clocks now.
    pub(super) fn now() -> Clock {
        Clock { wall: SystemTime::now(), mono: Instant::now(), devices: RefCell::default() }
    }

    /// Whether the file at `path`, on device `dev`, is on a file system that
    /// keeps ctime.
    fn keeps_ctime(&self, dev: u64, path: &Path) -> bool {
        if let Some((_, keeps)) = self.devices.borrow().iter().find(|(d, _)| *d == dev) {
            return *keeps;
        }
        let keeps = keeps_ctime(path);
        self.devices.borrow_mut().push((dev, keeps));
        keeps
    }

    /// Whether the realtime clock has not been stepped back by more than
    /// [`STEP`] since (it may run ahead: ctimes are then only later).
    fn kept(&self) -> bool {
        let wall = SystemTime::now().duration_since(self.wall).unwrap_or(Duration::ZERO);
        wall + STEP >= self.mono.elapsed()
    }
}

/// What a stamp compares: mode (with the kind), device, inode, size,
/// modification and change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Stamp {
    mode: u32,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The status of the file at `path` (a link at the name not followed).
    fn of(path: &Path) -> Option<Stamp> {
        std::fs::symlink_metadata(path).ok().map(|m| Stamp::from_meta(&m))
    }

    fn from_meta(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            mode: m.mode(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The stamp of the regular file at `path`, taken at `clock`'s time or
    /// after it, when it may be trusted later ([`Stamp::trusted`]).
    pub(super) fn settled(path: &Path, clock: &Clock) -> Option<Stamp> {
        Stamp::of(path).filter(|s| s.trusted(path, clock))
    }

    /// Whether this stamp of the file at `path`, taken at `clock`'s time or
    /// after it, may be trusted later (see the module doc): a regular file,
    /// on a file system that keeps ctime, changed last [`SETTLED`] before
    /// `clock`.
    fn trusted(&self, path: &Path, clock: &Clock) -> bool {
        if self.mode & libc::S_IFMT != libc::S_IFREG || !clock.keeps_ctime(self.dev, path) {
            return false;
        }
        let (Ok(secs), Ok(nanos)) = (u64::try_from(self.ctime.0), u32::try_from(self.ctime.1)) else { return false };
        std::time::UNIX_EPOCH.checked_add(Duration::new(secs, nanos)).is_some_and(|ctime| ctime + SETTLED <= clock.wall)
    }

    /// Whether the file at `path` is still as stamped, judged with the
    /// `clock` the stamp was taken at.
    pub(super) fn still(&self, path: &Path, clock: &Clock) -> bool {
        clock.kept() && Stamp::of(path) == Some(*self)
    }
}

/// The SHA-256 digests of files' first bytes (up to a bound; nothing for
/// what is not a regular file, as [`super::read_small`] reads them), with
/// their modes, by the file's stamp: the same file reached by two paths (a
/// submodule's hooks from its work tree and from `.git/modules`), or twice,
/// is read once (nothing else writes the workspace during a survey: before
/// the task it has not started, after it its processes are gone); and after
/// the task a file whose stamp was settled before it ([`Stamp::settled`]) is
/// not read again while it has that stamp.
#[derive(Debug)]
pub(super) struct Digests {
    clock: Clock,
    max: u64,
    /// The digests read before the task whose stamps may be trusted now.
    settled: HashMap<Stamp, [u8; 32]>,
    /// Those of this survey, and whether each stamp may be trusted later.
    seen: RefCell<HashMap<Stamp, ([u8; 32], bool)>>,
}

impl Digests {
    /// For a survey before the task, stamps taken at `clock`.
    pub(super) fn new(clock: Clock, max: u64) -> Digests {
        Digests { clock, max, settled: HashMap::new(), seen: RefCell::default() }
    }

    /// For the survey after the task: the settled digests of `before`.
    pub(super) fn after(before: &Digests) -> Digests {
        let settled = match before.clock.kept() {
            true => before.seen.borrow().iter().filter(|(_, (_, t))| *t).map(|(s, (d, _))| (*s, *d)).collect(),
            false => HashMap::new(),
        };
        Digests { clock: before.clock.clone(), max: before.max, settled, seen: RefCell::default() }
    }

    /// The mode of the file at `path` (0 when there is none; a link at the
    /// name not followed) and the digest of its first bytes.
    pub(super) fn file(&self, path: &Path) -> (u32, [u8; 32]) {
        let Some(stamp) = Stamp::of(path) else { return (0, sha2::Sha256::digest(b"").into()) };
        if stamp.mode & libc::S_IFMT != libc::S_IFREG {
            return (stamp.mode, sha2::Sha256::digest(b"").into());
        }
        let known = self.seen.borrow().get(&stamp).map(|(d, _)| *d).or_else(|| self.settled.get(&stamp).copied());
        if let Some(d) = known {
            return (stamp.mode, d);
        }
        let (bytes, same) = read_stamped(path, self.max, &stamp);
        let digest = sha2::Sha256::digest(&bytes).into();
        // Kept only when what was read is the stamped file.
        if same {
            let trusted = stamp.trusted(path, &self.clock);
            self.seen.borrow_mut().insert(stamp, (digest, trusted));
        }
        (stamp.mode, digest)
    }
}

/// The first `max` bytes of the regular file at `path` (none when it cannot
/// be read), and whether the file read has the stamp `stamp` (it was not
/// replaced or changed since).
fn read_stamped(path: &Path, max: u64, stamp: &Stamp) -> (Vec<u8>, bool) {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let open = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let Ok(f) = open else { return (Vec::new(), false) };
    let Ok(m) = f.metadata() else { return (Vec::new(), false) };
    if !m.is_file() {
        return (Vec::new(), false);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(m.len().min(max)).unwrap_or(0).saturating_add(1));
    if f.take(max).read_to_end(&mut bytes).is_err() {
        return (Vec::new(), false);
    }
    (bytes, Stamp::from_meta(&m) == *stamp && Stamp::of(path) == Some(*stamp))
}

/// Whether the file system of `path` keeps ctime in the kernel.
fn keeps_ctime(path: &Path) -> bool {
    use nix::sys::statfs as s;
    let Ok(fs) = s::statfs(path) else { return false };
    [
        s::EXT4_SUPER_MAGIC, // ext2 and ext3 share the number
        s::XFS_SUPER_MAGIC,
        s::BTRFS_SUPER_MAGIC,
        s::TMPFS_MAGIC,
        s::F2FS_SUPER_MAGIC,
        s::OVERLAYFS_SUPER_MAGIC,
    ]
    .contains(&fs.filesystem_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_taken_of_a_settled_file_and_any_change_since_is_seen() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("index");
        std::fs::write(&f, b"0123456789").unwrap();
        let now = Clock::now();
        // Changed just now: not settled (read again after the task).
        assert_eq!(Stamp::settled(&f, &now), None);
        let later = Clock { wall: now.wall + SETTLED + Duration::from_secs(1), ..now.clone() };
        let s = Stamp::settled(&f, &later);
        if !keeps_ctime(d.path()) {
            assert_eq!(s, None, "a file system that does not keep ctime is never stamped");
            return;
        }
        let s = s.unwrap();
        let clock = Clock::now();
        assert!(s.still(&f, &clock));
        // The same bytes written again, the times put back: the ctime moved.
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::fs::write(&f, b"0123456789").unwrap();
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(mtime).unwrap();
        assert!(!s.still(&f, &clock));
        // A directory or a link is never stamped.
        assert_eq!(Stamp::settled(d.path(), &later), None);
        // A clock stepped back: no stamp is trusted.
        let s = Stamp::settled(&f, &Clock { wall: later.wall + SETTLED, ..Clock::now() }).unwrap();
        let stepped = Clock { mono: Instant::now() - Duration::from_secs(5), ..Clock::now() };
        assert!(s.still(&f, &Clock::now()) && !s.still(&f, &stepped));
    }
}
