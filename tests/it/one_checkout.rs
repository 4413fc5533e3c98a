//! One checkout, every backend: run as root (the usual CI container), a
//! checkout given to a non-root user runs on the jail, Docker and Podman as
//! that user — its files stay the user's — and a checkout owned by root keeps
//! the jail's mapping of root to the task's uid 1000 (the container backends
//! refuse it, never running a task as root). Running as the owner gives the
//! task nothing of the owner's outside what the policy shows.

use crate::harness::*;
use std::os::unix::fs::MetadataExt;

const OWNER: u32 = 1000;

#[test]
fn a_checkout_owned_by_a_user_runs_on_every_backend_as_that_user() {
    let e = env();
    container_setup();
    chown_tree(&e.ws, OWNER);
    for b in ["jail", "docker", "podman"] {
        let script = format!("set -e; id -u > uid-{b}; mkdir -p out-{b}/deep; echo built > out-{b}/deep/artifact");
        let o = e.run_cmd(e.cmd("default", &["--backend", b], &["/bin/sh", "-c", &script]));
        o.assert_ok();
        assert_eq!(std::fs::read_to_string(e.ws.join(format!("uid-{b}"))).unwrap().trim(), "1000", "{b}");
        for p in [format!("uid-{b}"), format!("out-{b}"), format!("out-{b}/deep/artifact")] {
            let m = std::fs::metadata(e.ws.join(&p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (OWNER, OWNER), "{b}: {p} belongs to the checkout's owner");
        }
    }
}

#[test]
fn a_root_owned_checkout_keeps_root_files_in_the_jail_and_is_refused_by_containers() {
    let e = env();
    let o = e.sh("default", "echo x > made");
    o.assert_ok();
    assert_eq!(std::fs::metadata(e.ws.join("made")).unwrap().uid(), 0);
    container_setup();
    let c = e.run_cmd(e.cmd("default", &["--backend", "docker"], &["touch", "ran"]));
    assert_eq!(c.code, 1, "{}", c.all());
    assert!(c.stderr.contains("owned by uid 0") && c.stderr.contains("chown"), "{}", c.stderr);
    assert!(!e.ws.join("ran").exists());
}

#[test]
fn the_checkout_owners_other_files_stay_out_of_reach() {
    let e = env();
    chown_tree(&e.ws, OWNER);
    // The owner's file beside the checkout, shown read-only, and one not shown.
    let shown = e.root.join("owners-data");
    std::fs::create_dir_all(&shown).unwrap();
    std::fs::write(shown.join("notes"), "mine\n").unwrap();
    std::fs::write(e.root.join("unshown"), "also mine\n").unwrap();
    chown_tree(&shown, OWNER);
    std::os::unix::fs::lchown(e.root.join("unshown"), Some(OWNER), Some(OWNER)).unwrap();
    let d = shown.to_str().unwrap();
    let w = e.run_cmd(e.cmd("default", &["--ro", d], &["/bin/sh", "-c", &format!("echo evil >> {d}/notes")]));
    w.assert_violation("fs.write");
    assert_eq!(std::fs::read_to_string(shown.join("notes")).unwrap(), "mine\n");
    let r = e.sh("default", &format!("cat {}", e.root.join("unshown").display()));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!r.stdout.contains("also mine"));
    // Nor does the task keep any capability for being the owner.
    let caps = e.sh("default", "grep -E '^Cap(Eff|Prm)' /proc/self/status");
    caps.assert_ok();
    assert!(caps.stdout.lines().all(|l| l.ends_with("0000000000000000")), "{}", caps.stdout);
}

/// A user with a home directory of their own (created once: `useradd`), for
/// the checks that a task running as a checkout's owner cannot write that
/// owner's home.
fn user_with_home() -> (u32, std::path::PathBuf) {
    const NAME: &str = "orchestra-it-home";
    let lookup = || {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        passwd.lines().find(|l| l.starts_with(&format!("{NAME}:"))).map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[2].parse::<u32>().unwrap(), std::path::PathBuf::from(f[5]))
        })
    };
    if lookup().is_none() {
        let home = format!("/home/{NAME}");
        let st = std::process::Command::new("useradd")
            .args(["--create-home", "--home-dir", &home, "--shell", "/bin/sh", NAME])
            .status()
            .expect("useradd is required");
        assert!(st.success() || lookup().is_some(), "useradd {NAME} failed");
    }
    let (uid, home) = lookup().expect("the test user exists");
    std::fs::create_dir_all(&home).unwrap();
    chown_tree(&home, uid);
    (uid, home)
}

#[test]
fn a_checkout_owners_home_and_dotfiles_stay_out_of_reach() {
    let e = env();
    let (uid, home) = user_with_home();
    let bashrc = home.join(".bashrc");
    std::fs::write(&bashrc, "# theirs\n").unwrap();
    std::os::unix::fs::lchown(&bashrc, Some(uid), Some(uid)).unwrap();
    let project = home.join("project");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    chown_tree(&home, uid);
    let audit = e.root.join("audit");
    let run = |dir: &std::path::Path, extra: &[&str], script: &str| {
        let mut c = e.command();
        c.current_dir(dir).arg("exec").arg("--audit-dir").arg(&audit).args(extra).args(["--", "/bin/sh", "-c", script]);
        Out::from(c.output().unwrap())
    };
    // Their home as the workdir: refused before anything runs.
    let o = run(&home, &[], "echo evil >> .bashrc; mkdir -p .ssh; echo key > .ssh/authorized_keys");
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("home directory"), "{}", o.stderr);
    // A project in it: runs, but --rw of their ~/.ssh is refused.
    let ssh = home.join(".ssh");
    let o = run(&project, &["--rw", ssh.to_str().unwrap()], "echo key > ../.ssh/authorized_keys");
    assert_eq!(o.code, 1, "{}", o.all());
    let o = run(&project, &[], "echo built > out; echo evil >> ../.bashrc");
    assert_eq!(o.code, 4, "{}", o.all());
    assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), "# theirs\n");
    assert!(!ssh.join("authorized_keys").exists());
    assert_eq!(std::fs::read_to_string(project.join("out")).unwrap(), "built\n");
    let _ = std::fs::remove_dir_all(&project);
}
