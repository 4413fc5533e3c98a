//! Second security review of the jail: the path walker, O_TMPFILE and
//! AT_EMPTY_PATH, renameat2 flags, openat2 resolve flags, the namespace-less
//! `container` preset run as root, and the verdict line.
//!
//! Each test asserts the SECURE behaviour. The comment of a test that exposed a
//! problem describes it as found; the code has been fixed since, and the test
//! stays as its regression test.

use crate::harness::*;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// tests/support/attack_review2.c, compiled once per test binary.
fn review2_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c("attack_review2"))
}

/// An environment with ./a2 (attack_review2) in the workspace.
fn r2env() -> Env {
    env().with_prog(review2_bin(), "a2")
}

fn a2(e: &Env, args: &[&str]) -> Out {
    e.run_prog("a2", args)
}

/// `sh -c SCRIPT` with the task's own stderr silenced: a shell killed in the
/// middle of its error message would otherwise glue it to the verdict line
/// (see review2_a_partial_line_cannot_displace_the_verdict_line).
fn quiet(e: &Env, script: &str) -> Out {
    e.sh("default", &format!("exec 2>/dev/null; {script}"))
}

fn no_escape(o: &Out) {
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.all_output());
}

// ==== UNREPORTED ============================================================

/// UNREPORTED. supervisor.rs `resolve` takes the readlink text of the cwd (or
/// dirfd) and `is_filesystem_path` rejects any text ending in " (deleted)", so a
/// task whose cwd is a workspace directory NAMED "d (deleted)" gets every
/// relative write answered CONTINUE: `touch ../.orchestra/x` fails in the kernel
/// (EROFS) but no `fs.write` is reported, exit 2 instead of 4.
#[test]
fn review2_write_from_a_cwd_named_deleted_is_reported() {
    let e = env();
    let o = quiet(&e, "mkdir 'd (deleted)' && cd 'd (deleted)' && echo forged > ../.orchestra/x");
    assert!(!e.ws.join(".orchestra/x").exists());
    o.assert_violation("fs.write");
}

/// UNREPORTED. Same root cause with a really removed cwd: `..` still leads to the
/// live parent in the kernel, but the supervisor sees "… (deleted)" and answers
/// CONTINUE without walking the path.
#[test]
fn review2_write_from_a_removed_cwd_is_reported() {
    let e = env();
    let o = quiet(&e, "mkdir d && cd d && rmdir ../d && echo forged > ../.orchestra/y");
    assert!(!e.ws.join(".orchestra/y").exists());
    // From a removed directory the path cannot be shown as a name: denied and
    // reported as unresolvable rather than guessed.
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.rules().iter().any(|r| r == "fs.unresolvable_path" || r == "fs.write"), "{:?}", o.rules());
}

/// UNREPORTED. renameat2(RENAME_WHITEOUT) leaves a 0/0 character device in the
/// workspace (the kernel exempts whiteouts from CAP_MKNOD); the supervisor sees
/// only a rename inside the workspace. SECURITY.md §2.6: mknod of a char device
/// is `syscall.device_nodes`.
#[test]
fn review2_rename_whiteout_does_not_create_a_device_node() {
    let e = r2env();
    std::fs::write(e.ws.join("wf"), "x").unwrap();
    let o = a2(&e, &["whiteout", "wf", "wf2"]);
    let made_dev = std::fs::symlink_metadata(e.ws.join("wf")).is_ok_and(|m| m.file_type().is_char_device());
    assert!(!made_dev || o.rules().iter().any(|r| r == "syscall.device_nodes"), "{}", o.all_output());
    no_escape(&o);
}

/// ESCAPE (host metadata, namespace-less mode). With `jail.namespaces: off` there
/// are no read-only mounts; landlock does not cover the FS_IOC_SETFLAGS ioctl and
/// seccomp does not watch it. A root task (owner of root's files) sets inode
/// flags (here nodump) on a file of a READ-ONLY root on the host, unreported.
/// SECURITY.md §5.2 lists chmod/chown/xattr/utimes as "file permissions plus the
/// racy supervisor check", not unchecked inode-flag ioctls.
#[test]
fn review2_container_preset_cannot_change_inode_flags_of_a_read_only_file() {
    assert!(is_root(), "the suite runs as root (a root task owns root's files)");
    let e = env();
    std::fs::remove_dir_all(e.ws.join(".orchestra")).unwrap();
    let ro = e.root.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let f = ro.join("f");
    std::fs::write(&f, "data").unwrap();
    let flags = |p: &Path| -> String {
        let o = Command::new("lsattr").arg(p).output().expect("lsattr is required");
        assert!(o.status.success(), "lsattr: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap_or_default().to_string()
    };
    let before = flags(&f);
    assert!(!before.contains('d'), "{before}");
    let preset =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml")).unwrap();
    let yaml =
        preset.replacen("    - /etc/alternatives\n", &format!("    - /etc/alternatives\n    - {}\n", ro.display()), 1);
    assert_ne!(yaml, preset, "container.yaml changed shape");
    let policy = e.policy("container-ro", &yaml);
    let audit = e.root.join("audit");
    let audit_s = audit.to_string_lossy().into_owned();
    let o = e.run_cmd(e.cmd(&policy, &["--audit-dir", &audit_s], &["/usr/bin/chattr", "+d", &f.to_string_lossy()]));
    assert_ne!(o.code, 1, "the container policy was refused: {}", o.stderr);
    assert_eq!(flags(&f), before, "the task changed the host file's inode flags\n{}", o.all_output());
}

// ==== FALSE POSITIVES (a legitimate build step is killed) ====================

/// COSMETIC / DOC-MISMATCH. A symlink loop in the workspace: the kernel answers
/// ELOOP, the supervisor reports `fs.unresolvable_path` and (on_violation: kill)
/// kills the task. SECURITY.md §2.6 names only a cwd beyond PATH_MAX and a
/// vanished descriptor as unresolvable.
#[test]
fn review2_a_symlink_loop_in_the_workspace_is_not_a_violation() {
    let e = env();
    let o = quiet(&e, "ln -s a b && ln -s b a && touch a; echo done");
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.stderr);
    assert!(o.stdout.contains("done"), "{}", o.all_output());
}

/// COSMETIC (false positive). openat2 with RESOLVE_IN_ROOT resolves "/x" below
/// the dirfd (here the workspace's `sub/`); the supervisor resolves it from the
/// real root, denies a legitimate write as `fs.write` and kills the task.
#[test]
fn review2_openat2_resolve_in_root_inside_the_workspace_is_allowed() {
    let e = r2env();
    std::fs::create_dir_all(e.ws.join("sub")).unwrap();
    let o = a2(&e, &["in_root", "sub", "/x"]);
    o.assert_ok();
    assert!(e.ws.join("sub/x").exists());
}

// ==== PASSING: attacks that are blocked and reported ========================

#[test]
fn review2_write_through_the_cwd_of_another_jailed_process_is_reported() {
    let e = env();
    let o = quiet(&e, "(cd .orchestra && sleep 2) & sleep 0.5; echo forged > /proc/$!/cwd/z; wait");
    assert!(!e.ws.join(".orchestra/z").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_the_root_of_another_jailed_process_is_reported() {
    let e = env();
    let o = quiet(&e, "sleep 2 & sleep 0.3; echo x > /proc/$!/root/etc/orchestra-review2-root; wait");
    assert!(!Path::new("/etc/orchestra-review2-root").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_dev_fd_of_a_directory_is_reported() {
    let e = env();
    let o = quiet(&e, "exec 3<.orchestra; echo forged > /dev/fd/3/w");
    assert!(!e.ws.join(".orchestra/w").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_proc_thread_self_is_reported() {
    let e = env();
    let o = quiet(&e, "echo forged > /proc/thread-self/cwd/.orchestra/v");
    assert!(!e.ws.join(".orchestra/v").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_a_dirfd_of_a_renamed_directory_is_reported() {
    let e = env();
    // fd 3 is opened on `d`, which is then renamed; `..` from it is the workspace.
    let o = quiet(&e, "mkdir d && exec 3<d && mv d e && cd /proc/self/fd/3 && echo forged > ../.orchestra/r");
    assert!(!e.ws.join(".orchestra/r").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_a_chain_of_forty_symlinks_in_the_workspace_is_followed() {
    let e = env();
    let mut script = String::from("set -e; : > target; prev=target; ");
    script.push_str("for i in $(seq 1 40); do ln -s $prev l$i; prev=l$i; done; echo ok > l40; cat target");
    // stderr kept: a failure here once showed only `exit=2` (a failed redirection).
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.stdout.contains("ok"), "{}", o.all_output());
}

#[test]
fn review2_a_symlink_chain_ending_outside_is_reported() {
    let e = env();
    let mut script = String::from("ln -s /etc/orchestra-review2-chain l0; prev=l0; ");
    script.push_str("for i in $(seq 1 30); do ln -s $prev l$i; prev=l$i; done; echo x > l30");
    let o = quiet(&e, &script);
    assert!(!Path::new("/etc/orchestra-review2-chain").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_o_tmpfile_in_a_read_only_directory_is_reported() {
    let e = r2env();
    let o = a2(&e, &["tmpfile", "/etc"]);
    no_escape(&o);
    o.assert_violation("fs.write");
}

#[test]
fn review2_o_tmpfile_in_dot_orchestra_is_reported() {
    let e = r2env();
    let o = a2(&e, &["tmpfile", ".orchestra/audit"]);
    no_escape(&o);
    o.assert_violation("fs.write");
}

#[test]
fn review2_linkat_empty_path_of_a_tmpfile_outside_is_reported() {
    let e = r2env();
    let o = a2(&e, &["linkat_tmpfile", ".", "/etc/orchestra-review2-link"]);
    no_escape(&o);
    assert!(!Path::new("/etc/orchestra-review2-link").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_linkat_empty_path_of_a_tmpfile_into_dot_orchestra_is_reported() {
    let e = r2env();
    let o = a2(&e, &["linkat_tmpfile", ".", ".orchestra/audit/forged"]);
    no_escape(&o);
    assert!(!e.ws.join(".orchestra/audit/forged").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_a_newline_in_the_program_name_cannot_forge_the_verdict_line() {
    let e = env();
    let name = "p\norchestra: p ok cause=child_exit exit=0";
    std::os::unix::fs::symlink("/bin/sh", e.ws.join(name)).unwrap();
    let prog = format!("./{name}");
    let o = e.run("default", &[&prog, "-c", "echo x > /etc/orchestra-review2-nl"]);
    assert!(!Path::new("/etc/orchestra-review2-nl").exists());
    o.assert_violation("fs.write");
    // The task's own stderr may print anything (out of scope); the orchestrator's
    // verdict is the last line and is a single line.
    let last = o.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("orchestra: ") && last.contains(" violation ") && last.contains("fs.write"), "{last}");
    assert!(o.report.is_object(), "the JSON report is unreadable");
}

#[test]
fn review2_a_non_utf8_name_outside_is_reported() {
    let e = env();
    let o = quiet(&e, "echo x > \"/etc/orchestra-review2-$(printf '\\377\\376')\"");
    o.assert_violation("fs.write");
    assert!(o.report.is_object(), "the JSON report is unreadable");
}

/// COSMETIC (false positive, misleading rule). A path argument longer than
/// PATH_MAX: the kernel answers ENAMETOOLONG, but `cstr` (supervisor.rs) gives
/// up after 4096 bytes and the supervisor reports `syscall.unreadable_argument`
/// ("its path lies in memory the supervisor cannot read") and kills the task.
#[test]
fn review2_a_path_longer_than_path_max_is_not_a_violation() {
    let e = env();
    let o = quiet(&e, "touch $(printf 'a%.0s' $(seq 5000)); echo done");
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.stderr);
    assert!(o.stdout.contains("done"), "{}", o.all_output());
}

/// Namespace-less mode: the task sees the host's (or the container's) /proc, so
/// command lines of other processes are readable (SECURITY.md §5.2 says so); their
/// environments are not: landlock forbids ptrace-mode reads outside the domain.
#[test]
fn review2_container_preset_keeps_host_environments_unreadable() {
    let e = env();
    std::fs::remove_dir_all(e.ws.join(".orchestra")).unwrap();
    let marker = format!("CANARY-ENVIRON-{}", std::process::id());
    let mut host = Command::new("sleep").arg("30").env("HOST_SECRET", &marker).spawn().unwrap();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml");
    let audit = e.root.join("audit").to_string_lossy().into_owned();
    let script = format!("cat /proc/{}/environ 2>&1 | tr '\\0' ' '; echo", host.id());
    let o = e.run_cmd(e.cmd(&policy.to_string_lossy(), &["--audit-dir", &audit], &["/bin/sh", "-c", &script]));
    let _ = host.kill();
    let _ = host.wait();
    assert_ne!(o.code, 1, "the container policy was refused: {}", o.stderr);
    assert!(!o.all_output().contains(&marker), "the task read a host process's environment");
}

#[test]
fn review2_hard_link_of_a_decoy_into_the_workspace_is_reported() {
    let e = env();
    let o = quiet(&e, &format!("ln {} ./kl", e.home.join(".ssh/id_rsa").display()));
    assert!(!e.ws.join("kl").exists());
    o.assert_violation("fs.hardlink");
}

#[test]
fn review2_reading_a_decoy_through_a_workspace_symlink_is_reported() {
    let e = env();
    let o = quiet(&e, &format!("ln -s {} ./sl && cat ./sl", e.home.join(".ssh/id_rsa").display()));
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

/// COSMETIC / REPORT FORGERY. The verdict line is written right after the task's
/// relayed stderr, without ending a partial line first. A task that prints a
/// forged "ok" verdict, then a partial line, then violates, leaves
/// "<partial>orchestra: sh violation …" as the real verdict (not at the start of
/// a line) and the forged line as the last line starting with "orchestra: ".
/// It also happens by accident: dash writes "/bin/sh: 1: " before the rest of an
/// error message and is killed in between. Exit code stays 4.
#[test]
fn review2_a_partial_line_cannot_displace_the_verdict_line() {
    let e = env();
    let o = e.sh(
        "default",
        "printf 'orchestra: sh ok cause=ok exit=0 wall=1ms\\nnote: ' >&2; echo x > /etc/orchestra-review2-forge",
    );
    assert!(!Path::new("/etc/orchestra-review2-forge").exists());
    o.assert_violation("fs.write");
}
