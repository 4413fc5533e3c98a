//! Building the jail's root inside its new mount namespace: a tmpfs root with
//! only the planned paths bound in, a fresh `/proc`, a minimal `/dev`, the
//! generated files over the entries they replace, decoys over hidden paths, then `pivot_root` and the old root detached.
//!
//! Runs in the in-jail init (pid 1 of the new pid namespace, uid 0 of the new
//! user namespace). Every step either succeeds or fails the whole setup.
//! Without a mount namespace only [`plant_in_place`] is used: canary files
//! written into a home private to the sandbox.

use super::plan::{DEVICES, Decoy, Generated, JailPlan, Mount};
use crate::sys::{self, mount_attr};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Where the new root is assembled before pivoting (inside the base tmpfs).
const BASE: &str = "/tmp";

fn ctx<T>(r: Result<T, impl Into<io::Error>>, what: impl FnOnce() -> String) -> io::Result<T> {
    r.map_err(|e| {
        let e: io::Error = e.into();
        io::Error::new(e.kind(), format!("{}: {e}", what()))
    })
}

fn nix_ctx<T>(r: nix::Result<T>, what: impl FnOnce() -> String) -> io::Result<T> {
    ctx(r.map_err(io::Error::from), what)
}

/// Make `p` relative (strip the leading `/`) so it can be joined below a root.
fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// What [`build`] produced.
pub struct Built {
    /// Decoy files (paths in the new root) to watch.
    pub decoys: Vec<PathBuf>,
    /// The hidden paths a decoy now covers. A planned decoy whose path vanished
    /// or changed kind since the plan is left out, and must then get no landlock
    /// grant either (the grant would be the real path's).
    pub covered: Vec<PathBuf>,
    /// Whether /proc hides other users' processes (`hidepid=invisible`).
    pub hidepid: bool,
}

/// Build the root described by `plan` and pivot into it.
pub fn build(plan: &JailPlan) -> io::Result<Built> {
    let none: Option<&str> = None;
    nix_ctx(mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none), || "make / private".into())?;
    // A scratch tmpfs holding the new root and the old root's mount point.
    nix_ctx(
        mount(Some("tmpfs"), BASE, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755")),
        || format!("mount tmpfs on {BASE}"),
    )?;
    let base = Path::new(BASE);
    let newroot = base.join("newroot");
    let oldroot = base.join("oldroot");
    ctx(fs::create_dir(&newroot), || "mkdir newroot".into())?;
    ctx(fs::create_dir(&oldroot), || "mkdir oldroot".into())?;
    nix_ctx(
        mount(Some("tmpfs"), &newroot, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755")),
        || "mount root tmpfs".into(),
    )?;
    // Pivot into the scratch tmpfs so the host tree is reachable under /oldroot.
    nix_ctx(nix::unistd::pivot_root(base, &oldroot), || "pivot_root to scratch".into())?;
    nix_ctx(nix::unistd::chdir("/"), || "chdir /".into())?;
    let newroot = Path::new("/newroot");
    let old = Path::new("/oldroot");

    // Both trees are reached by descriptor from here on: a planned path is
    // opened below them one component at a time, no symlink followed.
    let roots = Roots {
        new: ctx(sys::open_path(newroot, false), || "open newroot".into())?,
        old: ctx(sys::open_path(old, false), || "open oldroot".into())?,
    };
    // The task's ids as the init's namespace numbers them (init.rs
    // `enter_task_userns`): the owner of a directory the task made.
    let task_ids = plan.task_host_ids.unwrap_or((0, 0));
    for m in &plan.mounts {
        apply_mount(m, &roots, task_ids)?;
    }
    let hidepid = mount_proc(newroot)?;
    pin_islands(plan, newroot)?;
    mount_dev(newroot, old)?;
    mount_generated(&plan.generated, &roots)?;
    let (decoy_files, covered) = make_decoys(&plan.decoys, newroot)?;

    // The root tmpfs itself becomes read-only: nothing outside the planned
    // writable mounts can be created.
    ctx(sys::mount_setattr(newroot, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV, false), || {
        "make root read-only".into()
    })?;
    nix_ctx(nix::unistd::chdir(newroot), || "chdir newroot".into())?;
    nix_ctx(nix::unistd::pivot_root(".", "."), || "pivot_root into new root".into())?;
    nix_ctx(umount2(".", MntFlags::MNT_DETACH), || "detach old root".into())?;
    nix_ctx(nix::unistd::chdir("/"), || "chdir /".into())?;
    Ok(Built { decoys: decoy_files, covered, hidepid })
}

fn ensure_dir(path: &Path) -> io::Result<()> {
    ctx(fs::create_dir_all(path), || format!("mkdir {}", path.display()))
}

fn ensure_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    if fs::symlink_metadata(path).is_err() {
        ctx(fs::File::create(path), || format!("create {}", path.display()))?;
    }
    Ok(())
}

/// The new root and the host's tree (below the scratch root), open.
struct Roots {
    new: OwnedFd,
    old: OwnedFd,
}

/// Open `rel` below `root` as an `O_PATH` descriptor (a directory only, with
/// `dir`), without following any symlink, the last component's included, and
/// without leaving `root` (openat2 `RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`).
fn open_beneath(root: &OwnedFd, rel: &Path, dir: bool) -> nix::Result<OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if dir {
        flags |= OFlag::O_DIRECTORY;
    }
    let how = OpenHow::new().flags(flags).resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
    openat2(root, rel, how)
}

/// An error naming planned path `path`; a symlink met on the way (ELOOP, or
/// EXDEV for a way out of the root) is said as such: the plan refused paths
/// through symlinks, so one here was put in place since, and is never followed.
fn path_error(path: &Path, what: &str, e: nix::errno::Errno) -> io::Error {
    use nix::errno::Errno;
    match e {
        Errno::ELOOP | Errno::EXDEV => io::Error::other(format!(
            "{what} {}: a symlink in the path (put there after the plan was made; never followed)",
            path.display()
        )),
        e => {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        }
    }
}

/// The directory (or, with `file`, the file) `path` below the new root,
/// made where missing, every component reached without following a symlink:
/// the mount point of a planned mount is exactly its planned path, even
/// where it lies inside a bound workspace a task may have filled with links.
fn make_beneath(root: &OwnedFd, path: &Path, file: bool) -> io::Result<OwnedFd> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, mkdirat};
    use std::path::Component;
    let mut cur = ctx(root.try_clone(), || "dup newroot".into())?;
    let names: Vec<&std::ffi::OsStr> = rel(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Ok(n)),
            Component::RootDir | Component::CurDir => None,
            _ => Some(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: `..` in a mount point", path.display()),
            ))),
        })
        .collect::<io::Result<_>>()?;
    let count = names.len();
    for (i, name) in names.into_iter().enumerate() {
        let want_file = file && i + 1 == count;
        let next = match open_beneath(&cur, Path::new(name), !want_file) {
            Err(nix::errno::Errno::ENOENT) => {
                let made = if want_file {
                    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
                    openat(&cur, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
                } else {
                    mkdirat(&cur, name, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => open_beneath(&cur, Path::new(name), !want_file),
                    Err(e) => Err(e),
                }
            }
            r => r,
        };
        cur = next.map_err(|e| path_error(path, "mount point", e))?;
    }
    Ok(cur)
}

/// Bind the detached mount `tree` on `onto`, with `attrs` on it and every mount below it.
fn attach(tree: &OwnedFd, onto: &OwnedFd, attrs: u64, dst: &Path) -> io::Result<()> {
    ctx(sys::mount_setattr_fd(tree, attrs), || format!("restrict mount {}", dst.display()))?;
    ctx(sys::move_mount_onto(tree, onto), || format!("bind on {}", dst.display()))
}

/// Attach what is mounted at `scratch` (a mount point of the scratch root)
/// on `onto` too.
fn attach_from_scratch(scratch: &Path, onto: &OwnedFd, attrs: u64, dst: &Path) -> io::Result<()> {
    let at = ctx(sys::open_path(scratch, false), || format!("open {}", scratch.display()))?;
    let tree = ctx(sys::open_tree_clone(&at), || format!("clone {}", scratch.display()))?;
    attach(&tree, onto, attrs, dst)
}

fn apply_mount(m: &Mount, roots: &Roots, task_ids: (u32, u32)) -> io::Result<()> {
    let dst = m.dst();
    match m {
        Mount::Bind { src, rw, .. } => {
            // The source is opened once, without following a symlink, and bound
            // by that descriptor: the mount is the object the plan named.
            let from = open_beneath(&roots.old, rel(src), false).map_err(|e| path_error(src, "bind source", e))?;
            let is_dir = ctx(fs::File::from(ctx(from.try_clone(), || "dup".into())?).metadata(), || {
                format!("stat {}", src.display())
            })?
            .is_dir();
            let onto = make_beneath(&roots.new, dst, !is_dir)?;
            let tree = ctx(sys::open_tree_clone(&from), || format!("bind {}", src.display()))?;
            let mut attrs = mount_attr::NOSUID | mount_attr::NODEV;
            if !rw {
                attrs |= mount_attr::RDONLY;
            }
            attach(&tree, &onto, attrs, dst)
        }
        Mount::Symlink { target, .. } => {
            let (Some(parent), Some(name)) = (dst.parent(), dst.file_name()) else {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("symlink at {}", dst.display())));
            };
            let at = make_beneath(&roots.new, parent, false)?;
            nix::unistd::symlinkat(target, &at, name).map_err(|e| path_error(dst, "symlink", e))
        }
        Mount::Overlay { src, size, .. } => {
            let lower = open_beneath(&roots.old, rel(src), true).map_err(|e| path_error(src, "overlay lower", e))?;
            let onto = make_beneath(&roots.new, dst, false)?;
            overlay(&lower, &onto, dst, *size)
        }
        Mount::Tmpfs { size, .. } => tmpfs(roots, dst, "mode=1777", *size),
        Mount::Empty { size, .. } => {
            let (uid, gid) = task_ids;
            tmpfs(roots, dst, &format!("mode=0755,uid={uid},gid={gid}"), *size)
        }
        Mount::Dir { .. } => make_beneath(&roots.new, dst, false).map(drop),
    }
}

/// A fresh tmpfs with `opts` (and `size`) on `dst` in the new root.
fn tmpfs(roots: &Roots, dst: &Path, opts: &str, size: Option<u64>) -> io::Result<()> {
    let onto = make_beneath(&roots.new, dst, false)?;
    let at = scratch_dir()?;
    let opts = match size {
        Some(s) => format!("{opts},size={s}"),
        None => opts.to_string(),
    };
    nix_ctx(
        mount(Some("tmpfs"), &at, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(opts.as_str())),
        || format!("tmpfs on {}", dst.display()),
    )?;
    attach_from_scratch(&at, &onto, mount_attr::NOSUID | mount_attr::NODEV, dst)
}

/// A fresh directory on the scratch root (detached with it after the pivot).
fn scratch_dir() -> io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = Path::new("/mounts").join(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string());
    ensure_dir(&dir)?;
    Ok(dir)
}

/// Mount `lower` (a host directory, opened) on `onto` through an overlay whose
/// upper layer is a private tmpfs of `size` bytes: writable in the jail,
/// nothing reaches the host. The layers live on the scratch root, detached
/// with the old root; the lower layer is bound there by descriptor first, so
/// the overlay's options name a path nobody else can change.
fn overlay(lower: &OwnedFd, onto: &OwnedFd, dst: &Path, size: Option<u64>) -> io::Result<()> {
    let store = scratch_dir()?;
    let opts = match size {
        Some(s) => format!("mode=0755,size={s}"),
        None => "mode=0755".to_string(),
    };
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    nix_ctx(mount(Some("tmpfs"), &store, Some("tmpfs"), flags, Some(opts.as_str())), || {
        format!("tmpfs for the overlay on {}", dst.display())
    })?;
    let (upper, work, low, merged) =
        (store.join("upper"), store.join("work"), store.join("lower"), store.join("merged"));
    for d in [&upper, &work, &low, &merged] {
        ensure_dir(d)?;
    }
    let low_at = ctx(sys::open_path(&low, false), || "open overlay lower".into())?;
    let tree = ctx(sys::open_tree_clone(lower), || format!("bind the lower layer of {}", dst.display()))?;
    attach(&tree, &low_at, mount_attr::NOSUID | mount_attr::NODEV, dst)?;
    // The upper directory takes the lower one's owner and mode, so the task finds
    // the directory it would find on the host.
    let meta = ctx(fs::metadata(&low), || format!("stat the lower layer of {}", dst.display()))?;
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        ctx(std::os::unix::fs::chown(&upper, Some(meta.uid()), Some(meta.gid())), || "chown overlay upper".into())?;
        ctx(fs::set_permissions(&upper, fs::Permissions::from_mode(meta.mode() & 0o7777)), || {
            "chmod overlay upper".into()
        })?;
    }
    // userxattr: the overlay's own bookkeeping uses user.* xattrs, as a mount in
    // a user namespace must.
    let data = format!("lowerdir={},upperdir={},workdir={},userxattr", low.display(), upper.display(), work.display());
    nix_ctx(mount(Some("overlay"), &merged, Some("overlay"), flags, Some(data.as_str())), || {
        format!("overlay on {}", dst.display())
    })?;
    attach_from_scratch(&merged, onto, mount_attr::NOSUID | mount_attr::NODEV, dst)
}

/// Mount each generated file ([`Generated`]) read-only over its path in the
/// new root: written to the scratch root (detached with it after the pivot)
/// and bound by descriptor onto the entry itself, a host link included (the
/// link is covered, never followed), or onto an empty file made in the
/// jail's own root ([`Generated::make`]). A host entry gone since the plan
/// has nothing to cover and is skipped; a directory there now is left alone.
fn mount_generated(files: &[Generated], roots: &Roots) -> io::Result<()> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    use std::os::unix::fs::OpenOptionsExt;
    if files.is_empty() {
        return Ok(());
    }
    let store = scratch_dir()?;
    for (i, g) in files.iter().enumerate() {
        let (Some(parent), Some(name)) = (g.path.parent(), g.path.file_name()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("generated file {}", g.path.display())));
        };
        let dir = if g.make {
            make_beneath(&roots.new, parent, false)?
        } else {
            open_beneath(&roots.new, rel(parent), true).map_err(|e| path_error(parent, "generated file in", e))?
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        let onto = match openat2(&dir, name, how) {
            Err(nix::errno::Errno::ENOENT) if g.make => {
                // The jail's own root (a tmpfs of the init's): the mount point is made.
                let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
                drop(
                    nix::fcntl::openat(&dir, name, flags, nix::sys::stat::Mode::from_bits_truncate(0o644))
                        .map_err(|e| path_error(&g.path, "make the generated file", e))?,
                );
                openat2(&dir, name, how).map_err(|e| path_error(&g.path, "generated file over", e))?
            }
            // Gone from the host's tree since the plan: nothing to cover.
            Err(nix::errno::Errno::ENOENT) => continue,
            r => r.map_err(|e| path_error(&g.path, "generated file over", e))?,
        };
        let is_dir = nix::sys::stat::fstat(&onto)
            .map_err(|e| path_error(&g.path, "stat", e))
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)?;
        if is_dir {
            continue;
        }
        let src = store.join(i.to_string());
        {
            use std::io::Write;
            let mut f = ctx(fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&src), || {
                format!("create the generated {}", g.path.display())
            })?;
            ctx(f.write_all(g.content.as_bytes()), || format!("write the generated {}", g.path.display()))?;
        }
        let from = ctx(sys::open_path(&src, false), || format!("open the generated {}", g.path.display()))?;
        let tree = ctx(sys::open_tree_clone(&from), || format!("bind the generated {}", g.path.display()))?;
        attach(
            &tree,
            &onto,
            mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV | mount_attr::NOEXEC,
            &g.path,
        )?;
    }
    Ok(())
}

/// Mount a fresh /proc; returns whether `hidepid=invisible` could be applied
/// (older kernels refuse it; the caller reports which one it got).
fn mount_proc(newroot: &Path) -> io::Result<bool> {
    let dst = newroot.join("proc");
    ensure_dir(&dst)?;
    // Made read-only by the init once the task has written its id maps (init.rs):
    // procfs entries share their inode attributes across every procfs instance, so
    // a chmod here (even through /proc/self/fd of an O_PATH descriptor) would
    // change the host's /proc.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if mount(Some("proc"), &dst, Some("proc"), flags, Some("hidepid=invisible")).is_ok() {
        return Ok(true);
    }
    nix_ctx(mount(Some("proc"), &dst, Some("proc"), flags, None::<&str>), || "mount /proc".into()).map(|_| false)
}

fn mount_dev(newroot: &Path, old: &Path) -> io::Result<()> {
    let dev = newroot.join("dev");
    ensure_dir(&dev)?;
    nix_ctx(
        mount(Some("tmpfs"), &dev, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("mode=0755")),
        || "tmpfs on /dev".into(),
    )?;
    for d in DEVICES {
        let src = old.join(rel(Path::new(d)));
        if fs::metadata(&src).is_err() {
            continue;
        }
        let dst = newroot.join(rel(Path::new(d)));
        ensure_file(&dst)?;
        let none: Option<&str> = None;
        nix_ctx(mount(Some(&src), &dst, none, MsFlags::MS_BIND, none), || format!("bind {d}"))?;
        // Read-only: the node is the host's; reads and writes of the device still work,
        // but its mode, owner and times cannot be changed.
        ctx(sys::mount_setattr(&dst, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NOEXEC, false), || {
            format!("restrict {d}")
        })?;
    }
    mount_ptys(&dev)?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ctx(symlink(target, dev.join(name)), || format!("symlink /dev/{name}"))?;
    }
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    nix_ctx(
        mount(
            Some("tmpfs"),
            &shm,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=1777,size=64m"),
        ),
        || "tmpfs on /dev/shm".into(),
    )?;
    ctx(sys::mount_setattr(&dev, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NOEXEC, false), || {
        "make /dev read-only".into()
    })
}

/// The jail's own devpts instance at /dev/pts and /dev/ptmx a link to its
/// `ptmx` (see [`super::plan::PTY_DIR`]). A kernel that refuses the mount
/// leaves the task without pseudo-terminals, as before: no error.
fn mount_ptys(dev: &Path) -> io::Result<()> {
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let options = format!("newinstance,ptmxmode=0666,mode=0620,max={}", super::plan::PTY_MAX);
    if mount(Some("devpts"), &pts, Some("devpts"), flags, Some(options.as_str())).is_err() {
        return Ok(());
    }
    ctx(symlink("pts/ptmx", dev.join("ptmx")), || "symlink /dev/ptmx".into())
}

/// Bind every directory between a writable mount and a read-only island inside
/// it (a decoy, `.orchestra/`) onto itself. Mount points cannot be renamed or
/// removed (EBUSY), so the task cannot move an island's parent away and take
/// the hidden file, or the orchestrator's files, out from under it.
fn pin_islands(plan: &JailPlan, newroot: &Path) -> io::Result<()> {
    let islands = plan.decoys.iter().map(|d| d.path.as_path()).chain(plan.mounts.iter().filter_map(|m| match m {
        Mount::Bind { rw: false, dst, .. } => Some(dst.as_path()),
        _ => None,
    }));
    let mut pinned: Vec<PathBuf> = Vec::new();
    for island in islands {
        let Some(root) = plan.writable.iter().filter(|w| island.starts_with(w)).max_by_key(|w| w.components().count())
        else {
            continue;
        };
        let mut dir = island.parent();
        while let Some(d) = dir {
            if d == root.as_path() || !d.starts_with(root) {
                break;
            }
            if !pinned.iter().any(|p| p == d) {
                let at = newroot.join(rel(d));
                if fs::metadata(&at).is_ok_and(|m| m.is_dir()) {
                    let none: Option<&str> = None;
                    // Recursive, so read-only mounts already below it stay in place.
                    nix_ctx(mount(Some(&at), &at, none, MsFlags::MS_BIND | MsFlags::MS_REC, none), || {
                        format!("pin {} in place", d.display())
                    })?;
                    ctx(sys::mount_setattr(&at, mount_attr::NOSUID | mount_attr::NODEV, false), || {
                        format!("restrict {}", d.display())
                    })?;
                }
                pinned.push(d.to_path_buf());
            }
            dir = d.parent();
        }
    }
    Ok(())
}

/// The access time every decoy file starts with. Any read moves it to "now"
/// (relatime updates an atime that is not newer than the mtime), which is how
/// the supervisor observes that a hidden file was read.
pub const DECOY_ATIME_SECS: u64 = 1;

/// Place empty decoys over hidden paths. Returns the decoy files to watch.
///
/// Decoys live on their own tmpfs and are bound over each hidden path. That
/// mount is not read-only (so reads update access times); writes are refused
/// by landlock, which grants decoys read access only, and reported by the
/// supervisor as `fs.write`.
fn make_decoys(decoys: &[Decoy], newroot: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if decoys.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let store = Path::new("/decoys");
    ensure_dir(store)?;
    nix_ctx(
        mount(Some("tmpfs"), store, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("size=1m,mode=0755")),
        || "tmpfs for decoys".into(),
    )?;
    let mut watched = Vec::new();
    let mut covered = Vec::new();
    for (i, d) in decoys.iter().enumerate() {
        match make_decoy(i, d, store, newroot, &mut watched) {
            Ok(true) => covered.push(d.path.clone()),
            Ok(false) => {}
            // A canary is bait, not a control: one that cannot be placed (its
            // parent on the host is a file) is left out, and gets no grant.
            Err(_) if d.canary.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    Ok((watched, covered))
}

/// Place decoy number `i`; false when there is nothing to hide there.
fn make_decoy(i: usize, d: &Decoy, store: &Path, newroot: &Path, watched: &mut Vec<PathBuf>) -> io::Result<bool> {
    let src = store.join(i.to_string());
    let dst = newroot.join(rel(&d.path));
    let occupied = fs::symlink_metadata(&dst).ok();
    if occupied.as_ref().is_some_and(|m| m.is_dir() != d.is_dir) {
        return Ok(false); // nothing of that kind to hide there
    }
    // A path gone since the plan, below a read-only mount, has nothing left
    // to hide: it is skipped (and gets no grant).
    // (`ctx` keeps the error's kind, not its raw number.)
    let vanished = |e: &io::Error| {
        occupied.is_none() && (e.kind() == io::ErrorKind::ReadOnlyFilesystem || e.raw_os_error() == Some(libc::EROFS))
    };
    if d.is_dir {
        ensure_dir(&src)?;
        for e in &d.entries {
            decoy_file(&src.join(e), None)?;
        }
        match ensure_dir(&dst) {
            Err(e) if vanished(&e) => return Ok(false),
            r => r?,
        }
    } else {
        decoy_file(&src, d.canary.as_deref())?;
        if occupied.is_none() {
            match ensure_file(&dst) {
                Err(e) if vanished(&e) => return Ok(false),
                r => r?,
            }
        }
    }
    let none: Option<&str> = None;
    match mount(Some(&src), &dst, none, MsFlags::MS_BIND | MsFlags::MS_REC, none) {
        // The host removed the path between the check above and the bind
        // (seen in the suite: a test's file in /etc): nothing left to hide,
        // and the path gets no grant, like one gone since the plan.
        Err(nix::errno::Errno::ENOENT) if fs::symlink_metadata(&dst).is_err() => return Ok(false),
        r => nix_ctx(r, || format!("bind decoy over {}", d.path.display()))?,
    }
    ctx(sys::mount_setattr(&dst, mount_attr::NOSUID | mount_attr::NODEV | mount_attr::NOEXEC, true), || {
        format!("restrict decoy {}", d.path.display())
    })?;
    if d.watched && d.is_dir {
        watched.extend(d.entries.iter().map(|e| d.path.join(e)));
    } else if d.watched {
        watched.push(d.path.clone());
    }
    Ok(true)
}

/// An empty decoy file, or a canary holding `content`, with the access time
/// that tells a read ([`DECOY_ATIME_SECS`]).
fn decoy_file(path: &Path, content: Option<&str>) -> io::Result<()> {
    ensure_file(path)?;
    let f = ctx(fs::File::options().write(true).open(path), || format!("open decoy {}", path.display()))?;
    fill_decoy(&f, path, content)
}

/// Write `content` (if any) into the decoy `f` at `path`, then give it the
/// times that tell a read.
fn fill_decoy(f: &fs::File, path: &Path, content: Option<&str>) -> io::Result<()> {
    if let Some(c) = content {
        use std::io::Write;
        ctx((&*f).write_all(c.as_bytes()), || format!("write canary {}", path.display()))?;
    }
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(DECOY_ATIME_SECS);
    ctx(f.set_times(fs::FileTimes::new().set_accessed(old).set_modified(old)), || {
        format!("set decoy times {}", path.display())
    })
}

/// Without a mount namespace, in a home private to the sandbox
/// (`plant::Home::Private`, a container's own `/tmp`): write each canary of
/// `decoys` (those with content) as a real file at its path, mode 0600 in
/// directories made 0700, with the access time that tells a read. Never over
/// anything already there, never through a final link. A canary that cannot
/// be placed is left out: it is bait, not a control. Returns the files
/// placed, to watch like any decoy.
pub fn plant_in_place(decoys: &[Decoy]) -> Vec<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let place = |path: &Path, content: &str| -> io::Result<()> {
        if let Some(parent) = path.parent() {
            ctx(fs::DirBuilder::new().recursive(true).mode(0o700).create(parent), || {
                format!("mkdir {}", parent.display())
            })?;
        }
        let f = ctx(
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path),
            || format!("create canary {}", path.display()),
        )?;
        fill_decoy(&f, path, Some(content))
    };
    decoys
        .iter()
        .filter_map(|d| {
            let content = d.canary.as_deref().filter(|_| !d.is_dir)?;
            place(&d.path, content).ok().map(|()| d.path.clone())
        })
        .collect()
}
