//! Building the jail's root inside its new mount namespace: a tmpfs root with
//! only the planned paths bound in, a fresh `/proc`, a minimal `/dev`, decoys
//! over hidden paths, then `pivot_root` and the old root detached.
//!
//! Runs in the in-jail init (pid 1 of the new pid namespace, uid 0 of the new
//! user namespace). Every step either succeeds or fails the whole setup.

use super::plan::{DEVICES, Decoy, JailPlan, Mount};
use crate::sandbox::sys::{self, mount_attr};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::fs;
use std::io;
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

/// Build the root described by `plan` and pivot into it. Returns the decoy
/// files (paths in the new root) to watch.
pub fn build(plan: &JailPlan) -> io::Result<Vec<PathBuf>> {
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

    for m in &plan.mounts {
        apply_mount(m, newroot, old)?;
    }
    mount_proc(newroot)?;
    mount_dev(newroot, old)?;
    let decoy_files = make_decoys(&plan.decoys, newroot)?;

    // The root tmpfs itself becomes read-only: nothing outside the planned
    // writable mounts can be created.
    ctx(sys::mount_setattr(newroot, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV, false), || {
        "make root read-only".into()
    })?;
    nix_ctx(nix::unistd::chdir(newroot), || "chdir newroot".into())?;
    nix_ctx(nix::unistd::pivot_root(".", "."), || "pivot_root into new root".into())?;
    nix_ctx(umount2(".", MntFlags::MNT_DETACH), || "detach old root".into())?;
    nix_ctx(nix::unistd::chdir("/"), || "chdir /".into())?;
    Ok(decoy_files)
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

fn bind(src: &Path, dst: &Path, rw: bool) -> io::Result<()> {
    let none: Option<&str> = None;
    nix_ctx(mount(Some(src), dst, none, MsFlags::MS_BIND | MsFlags::MS_REC, none), || {
        format!("bind {} on {}", src.display(), dst.display())
    })?;
    let mut attrs = mount_attr::NOSUID | mount_attr::NODEV;
    if !rw {
        attrs |= mount_attr::RDONLY;
    }
    ctx(sys::mount_setattr(dst, attrs, true), || format!("restrict mount {}", dst.display()))
}

fn apply_mount(m: &Mount, newroot: &Path, old: &Path) -> io::Result<()> {
    let dst = newroot.join(rel(m.dst()));
    match m {
        Mount::Bind { src, rw, .. } => {
            let src = old.join(rel(src));
            let is_dir = ctx(fs::metadata(&src), || format!("stat {}", src.display()))?.is_dir();
            if is_dir {
                ensure_dir(&dst)?
            } else {
                ensure_file(&dst)?
            }
            bind(&src, &dst, *rw)
        }
        Mount::Symlink { target, .. } => {
            if let Some(parent) = dst.parent() {
                ensure_dir(parent)?;
            }
            ctx(symlink(target, &dst), || format!("symlink {}", dst.display()))
        }
        Mount::Tmpfs { size, .. } => {
            ensure_dir(&dst)?;
            let opts = match size {
                Some(s) => format!("mode=1777,size={s}"),
                None => "mode=1777".to_string(),
            };
            nix_ctx(
                mount(Some("tmpfs"), &dst, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(opts.as_str())),
                || format!("tmpfs on {}", dst.display()),
            )
        }
        Mount::Dir { .. } => ensure_dir(&dst),
    }
}

fn mount_proc(newroot: &Path) -> io::Result<()> {
    let dst = newroot.join("proc");
    ensure_dir(&dst)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix_ctx(mount(Some("proc"), &dst, Some("proc"), flags, Some("hidepid=invisible")), || "mount /proc".into())
        .or_else(|_| nix_ctx(mount(Some("proc"), &dst, Some("proc"), flags, None::<&str>), || "mount /proc".into()))
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
        ctx(sys::mount_setattr(&dst, mount_attr::NOSUID | mount_attr::NOEXEC, false), || format!("restrict {d}"))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ctx(symlink(target, dev.join(name)), || format!("symlink /dev/{name}"))?;
    }
    ensure_dir(&dev.join("shm"))?;
    ctx(sys::mount_setattr(&dev, mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NOEXEC, false), || {
        "make /dev read-only".into()
    })
}

/// Place empty decoys over hidden paths. Returns the decoy files to watch.
fn make_decoys(decoys: &[Decoy], newroot: &Path) -> io::Result<Vec<PathBuf>> {
    if decoys.is_empty() {
        return Ok(Vec::new());
    }
    // Decoys live on their own small tmpfs, bound read-only over each hidden path.
    let store = Path::new("/decoys");
    ensure_dir(store)?;
    nix_ctx(
        mount(Some("tmpfs"), store, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("size=1m,mode=0755")),
        || "tmpfs for decoys".into(),
    )?;
    let mut watched = Vec::new();
    for (i, d) in decoys.iter().enumerate() {
        let src = store.join(i.to_string());
        let dst = newroot.join(rel(&d.path));
        if d.is_dir {
            ensure_dir(&src)?;
            for e in &d.entries {
                ensure_file(&src.join(e))?;
                watched.push(d.path.join(e));
            }
            if fs::symlink_metadata(&dst).map(|m| !m.is_dir()).unwrap_or(false) {
                continue; // something else occupies the place; nothing to hide there
            }
            ensure_dir(&dst)?;
        } else {
            ensure_file(&src)?;
            if fs::symlink_metadata(&dst).map(|m| m.is_dir()).unwrap_or(false) {
                continue;
            }
            ensure_file_in_possibly_readonly(&dst)?;
            watched.push(d.path.clone());
        }
        bind(&src, &dst, false)?;
    }
    Ok(watched)
}

/// Create a mount point for a file decoy unless one exists already (inside a
/// read-only bind the hidden file itself exists and serves as the mount point).
fn ensure_file_in_possibly_readonly(dst: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dst).is_ok() { Ok(()) } else { ensure_file(dst) }
}
