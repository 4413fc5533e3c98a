//! Review 81, F4: a file system the host mounted inside the workspace (a
//! tmpfs, a bind mount) is walked by the workspace diff and by the walks by
//! name like the rest of the workspace, under the same bounds: what a task
//! plants there (a repository with a hook-bearing config, a `.git` pointer,
//! a hook in a repository the host had) is `fs.protected` (exit 4) and
//! disarmed, and the host's git run there afterwards runs nothing; a build
//! writing ordinary files there is no violation. Needs root (to mount).

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const GIT: &str = "git -c user.email=t@example.org -c user.name=t -c safe.directory=*";

/// The host's `git ARGS` in `dir`.
fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is required")
}

/// A file system the host mounted at a directory of the workspace, taken
/// off (lazily) when dropped — before the workspace's temporary directory
/// is removed, so declare it after the [`Env`].
struct HostMount(PathBuf);

impl HostMount {
    /// A tmpfs (another `st_dev` than the workspace's) at `dir`, or a bind
    /// of `from` (a directory outside the workspace, on its filesystem: the
    /// same `st_dev`, another mount).
    fn at(dir: &Path, kind: &str, from: &Path) -> HostMount {
        std::fs::create_dir_all(dir).expect("mount point");
        let mut c = Command::new("mount");
        if kind == "tmpfs" {
            c.args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"]);
        } else {
            std::fs::create_dir_all(from).expect("bind source");
            c.arg("--bind").arg(from);
        }
        let st = c.arg(dir).status().expect("mount(8) is required");
        assert!(st.success(), "mounting a {kind} at {} needs root (the test suite runs as root)", dir.display());
        HostMount(dir.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A repository with one commit in the workspace and a host mount of
/// `kind` at `<ws>/vendor`.
fn mounted_env(kind: &str) -> (Env, HostMount) {
    let e = env();
    assert!(git(&e.ws, &["init", "-q", "."]).status.success());
    std::fs::write(e.ws.join("README"), "hello\n").unwrap();
    std::fs::write(e.ws.join(".gitignore"), ".orchestra/\nattack\nvendor/\n").unwrap();
    assert!(git(&e.ws, &["add", "README", ".gitignore"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "init"]).status.success());
    let m = HostMount::at(&e.ws.join("vendor"), kind, &e.root.join("volume"));
    (e, m)
}

/// The script of a repository at `dir` (made) whose `core.fsmonitor`
/// touches `marker`: what runs at the host's next `git status` there.
fn fsmonitor_repo(dir: &str, marker: &Path) -> String {
    format!(
        "mkdir -p {dir} && {GIT} -C {dir} init -q . && {GIT} -C {dir} commit -q --allow-empty -m x && \
         {GIT} -C {dir} config core.fsmonitor 'touch {}; false #'",
        marker.display()
    )
}

/// A task planting, inside a tmpfs and inside a bind mount the host put at
/// `<ws>/vendor`: a repository whose config runs a command at `git status`;
/// a `.git` pointer to a git directory beside it with the same config; a
/// hook in a repository the host had there. Each is exit 4,
/// `fs.protected`, the planted `.git` gone (made by the task: removed; the
/// host's: put aside), and the host's git there runs nothing.
#[test]
fn what_a_task_plants_in_a_host_mount_inside_the_workspace_runs_nothing_at_the_host_git() {
    for kind in ["tmpfs", "bind"] {
        let (e, _m) = mounted_env(kind);
        // A repository of the host's in the mount, before the task.
        let lib = e.ws.join("vendor/lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert!(git(&lib, &["init", "-q", "."]).status.success());
        assert!(git(&lib, &["commit", "-q", "--allow-empty", "-m", "x"]).status.success());

        let marker = e.root.join(format!("{kind}-gitdir-ran"));
        let o = e.sh("default", &format!("set -e; {}", fsmonitor_repo("vendor/evil", &marker)));
        o.assert_violation("fs.protected");
        assert!(o.all().contains("vendor/evil/.git"), "{kind}: the plant is not named\n{}", o.all());
        assert!(!e.ws.join("vendor/evil/.git").exists(), "{kind}: the planted .git is left\n{}", o.all());
        let _ = git(&e.ws.join("vendor/evil"), &["status", "--short"]);
        assert!(!marker.exists(), "{kind}: the planted fsmonitor ran at the host's git status\n{}", o.all());

        let marker = e.root.join(format!("{kind}-pointer-ran"));
        let o = e.sh(
            "default",
            &format!(
                "set -e; mkdir -p vendor/p && {GIT} -C vendor/p init -q --separate-git-dir ../gd . && \
                 {GIT} -C vendor/p commit -q --allow-empty -m x && {GIT} -C vendor/p config core.fsmonitor 'touch {}; false #' && \
                 grep -q gitdir: vendor/p/.git",
                marker.display()
            ),
        );
        o.assert_violation("fs.protected");
        assert!(!e.ws.join("vendor/p/.git").exists(), "{kind}: the planted .git pointer is left\n{}", o.all());
        let _ = git(&e.ws.join("vendor/p"), &["status", "--short"]);
        let _ = git(&e.ws.join("vendor/gd"), &["status", "--short"]);
        assert!(!marker.exists(), "{kind}: the pointer's fsmonitor ran at the host's git status\n{}", o.all());

        let marker = e.root.join(format!("{kind}-hook-ran"));
        let o = e.sh(
            "default",
            &format!(
                "set -e; printf '#!/bin/sh\\ntouch {}\\n' > vendor/lib/.git/hooks/pre-commit && chmod +x vendor/lib/.git/hooks/pre-commit",
                marker.display()
            ),
        );
        o.assert_violation("fs.protected");
        assert!(!lib.join(".git").exists(), "{kind}: the repository given a hook is left armed\n{}", o.all());
        let _ = git(&lib, &["commit", "-q", "--allow-empty", "-m", "host"]);
        assert!(!marker.exists(), "{kind}: the planted hook ran at the host's commit\n{}", o.all());
    }
}

/// The benign neighbour: a build writing ordinary files in the host's
/// mount, running git in the host's repository there and making a plain
/// repository there: exit 0, no violation, the files stay, and the diff
/// lists what was written inside the mount (it walked into it).
#[test]
fn a_build_writing_in_a_host_mount_inside_the_workspace_is_no_violation() {
    for kind in ["tmpfs", "bind"] {
        let (e, _m) = mounted_env(kind);
        let lib = e.ws.join("vendor/lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert!(git(&lib, &["init", "-q", "."]).status.success());
        assert!(git(&lib, &["commit", "-q", "--allow-empty", "-m", "x"]).status.success());
        let o = e.sh(
            "default",
            &format!(
                "set -e; mkdir -p vendor/build/obj && echo o > vendor/build/obj/a.o && echo '{{}}' > vendor/build/meta.json && \
                 {GIT} -C vendor/lib status --short >/dev/null && {GIT} -C vendor/lib log -1 >/dev/null && \
                 mkdir vendor/fresh && {GIT} -C vendor/fresh init -q . && {GIT} -C vendor/fresh commit -q --allow-empty -m x"
            ),
        );
        o.assert_ok();
        for f in ["vendor/build/obj/a.o", "vendor/build/meta.json", "vendor/fresh/.git/HEAD", "vendor/lib/.git/HEAD"] {
            assert!(e.ws.join(f).exists(), "{kind}: {f} is gone\n{}", o.all());
        }
        let listed = o.report["workspace_changes"]["entries"].to_string();
        assert!(
            listed.contains("vendor/build/obj/a.o"),
            "{kind}: the diff did not walk into the mount: {}",
            o.report["workspace_changes"]
        );
    }
}

/// A host mount too large for the diff's bounds keeps the bounds' verdict
/// (fail closed) and its plant is still disarmed: a task that plants a
/// repository in the mount and makes the mount deeper than the diff's 256
/// levels is `fs.protected` (the diff after the task stopped) and the walk
/// by name, which enters the mount too, removes the planted `.git`; a
/// mount already that deep before the task (no diff at all) has a plant
/// there found by name, `fs.protected` and removed. The host's git runs
/// nothing either way.
#[test]
fn a_host_mount_past_the_diff_s_bounds_fails_closed_and_its_plant_is_still_disarmed() {
    let deep =
        "mkdir -p vendor/deep && cd vendor/deep && i=0; while [ $i -lt 300 ]; do mkdir a && cd a; i=$((i+1)); done";
    // Made deep by the task.
    let (e, _m) = mounted_env("tmpfs");
    let marker = e.root.join("deep-during-ran");
    let o = e.sh("default", &format!("set -e; {} && ({deep})", fsmonitor_repo("vendor/evil", &marker)));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("vendor/evil/.git").exists(), "the planted .git is left\n{}", o.all());
    let _ = git(&e.ws.join("vendor/evil"), &["status", "--short"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status\n{}", o.all());
    drop(_m);
    drop(e);
    // Deep before the task: the diff does not run at all.
    let (e, _m) = mounted_env("tmpfs");
    let st = Command::new("/bin/sh").arg("-c").arg(deep).current_dir(&e.ws).status().unwrap();
    assert!(st.success());
    // Past the judge's ctime margin (a coarse clock's tick).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let marker = e.root.join("deep-before-ran");
    let o = e.sh("default", &format!("set -e; {}", fsmonitor_repo("vendor/evil", &marker)));
    o.assert_violation("fs.protected");
    assert!(o.all().contains("the workspace diff did not run"), "the skipped diff is said\n{}", o.all());
    assert!(!e.ws.join("vendor/evil/.git").exists(), "the planted .git is left\n{}", o.all());
    let _ = git(&e.ws.join("vendor/evil"), &["status", "--short"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status\n{}", o.all());
}

/// Run as a user (not root, which meets no mode): a task that plants a
/// repository in the host's tmpfs at `<ws>/vendor` and leaves the directory
/// above it unlistable (`0300`) has it opened up by the walks inside the
/// mount as anywhere else (review 76, F1): the plant is judged and removed,
/// exit 4, `fs.protected`, the directory stays where it was with the mode
/// the task left, and the host's git there runs nothing.
#[test]
fn a_plant_below_an_unlistable_directory_in_a_host_mount_is_judged_as_a_user() {
    const NOBODY: u32 = 65534;
    let (mut e, _m) = mounted_env("tmpfs");
    chown_tree(&e.root, NOBODY);
    e.run_as = Some(NOBODY);
    let marker = e.root.join("nobody-ran");
    let o = e.sh("default", &format!("set -e; {} && chmod 0300 vendor/d", fsmonitor_repo("vendor/d/evil", &marker)));
    o.assert_violation("fs.protected");
    let d = e.ws.join("vendor/d");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::symlink_metadata(&d).expect("vendor/d put aside").permissions(),
    );
    assert_eq!(mode & 0o7777, 0o300, "the mode the task left is put back\n{}", o.all());
    assert!(!d.join("evil/.git").exists(), "the planted .git is left\n{}", o.all());
    assert!(d.join("evil").is_dir(), "the planted repository's work tree was put aside whole\n{}", o.all());
    let _ = git(&d.join("evil"), &["status", "--short"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status\n{}", o.all());
}
