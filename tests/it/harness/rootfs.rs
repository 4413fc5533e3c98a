//! Offline Docker images for the tests that run host programs in a
//! container (sshd, `orchestra worker`): `docker import` of a skeleton root
//! filesystem — the merged-/usr links (`bin`, `sbin`, `lib`, `lib64` pointing
//! into `usr`), the usual empty mount points, a marker file only the
//! container has, and the caller's extra directories. Nothing is pulled:
//! the containers mount the host's `/usr` and `/etc` read-only, so programs
//! and libraries come from the host. Each tag is built once per engine (an
//! existing image is reused) and once per test process. A missing Docker
//! fails the test.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;

/// What goes into a skeleton image.
pub struct Skeleton {
    /// The image tag (`name:version`): bump the version when the skeleton changes.
    pub tag: &'static str,
    /// An absolute path of a file only the container's root filesystem has.
    pub marker: &'static str,
    /// More directories to create (relative to `/`).
    pub dirs: &'static [&'static str],
}

/// The image tag of `skeleton`, imported first if the engine does not hold it.
pub fn image(skeleton: &Skeleton) -> &'static str {
    static BUILT: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(skeleton.tag) {
        return skeleton.tag;
    }
    let have = Command::new("docker")
        .args(["image", "inspect", skeleton.tag])
        .output()
        .expect("the docker CLI is required (package docker.io) and its daemon must run");
    if !have.status.success() {
        import(skeleton);
    }
    built.insert(skeleton.tag);
    skeleton.tag
}

fn import(skeleton: &Skeleton) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    for d in ["usr", "etc", "tmp", "proc", "dev", "sys", "root", "run"].iter().chain(skeleton.dirs) {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(root.join("root"), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(skeleton.marker.starts_with('/'), "marker {} is not absolute", skeleton.marker);
    let marker = root.join(skeleton.marker.trim_start_matches('/'));
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(marker, "inside\n").unwrap();
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    let tar = dir.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the skeleton rootfs failed");
    let o = Command::new("docker").arg("import").arg(&tar).arg(skeleton.tag).output().expect("docker import");
    assert!(o.status.success(), "docker import {} failed: {}", skeleton.tag, String::from_utf8_lossy(&o.stderr));
}

/// The `docker run` options of a container that behaves like this host for
/// orchestra: the host's network (`--network host`: loopback services are
/// reachable as they are), the host's `/usr` and `/etc` read-only, `share`
/// bind-mounted at its own path, and what an orchestra jail inside needs to
/// create its namespaces and mount its own /proc as on a host
/// (`seccomp=unconfined`, `systempaths=unconfined` — without it /proc and
/// /sys are partly masked and the tasks fail — and `CAP_SYS_ADMIN`).
pub fn host_like(share: &std::path::Path) -> Vec<String> {
    let share = share.display();
    [
        "--network",
        "host",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "systempaths=unconfined",
        "--cap-add",
        "SYS_ADMIN",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/etc:/etc:ro",
        "-v",
    ]
    .into_iter()
    .map(String::from)
    .chain([format!("{share}:{share}")])
    .collect()
}
