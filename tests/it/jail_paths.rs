//! The supervisor judges the path the kernel uses: magic links
//! (`/proc/self/fd`, `/proc/<pid>/cwd` and `root`, `/dev/fd`), `..` after a
//! symlink, symlink chains, unusual working directories, and the open, link
//! and rename variants that name a file without an ordinary path (`O_TMPFILE`,
//! `AT_EMPTY_PATH`, `RESOLVE_IN_ROOT`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`).
//! Legitimate build steps that look alike are not violations.
//!
//! Each attack asserts the effect (the file outside or in `.orchestra/` is
//! unchanged or absent), exit 4 and the rule. A comment that describes a bug
//! describes it as a security review found it; the code has been fixed since
//! and the test stays as its regression test.

use crate::harness::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

// ---- magic links and working directories -------------------------------------

/// write_allowed() returns true for any path below /proc/<pid>/fd or /dev/fd, so
/// re-opening a read-only descriptor for writing is never reported (EROFS, exit 0).
/// SECURITY.md §3: "write /etc/* → fs.write, from the supervisor".
#[test]
fn review_write_through_a_reopened_descriptor_is_reported() {
    let e = env();
    let before = std::fs::read("/etc/passwd").unwrap();
    let o = e.sh("default", "exec 3</etc/passwd; echo 'evil::0:0::/:/bin/sh' >> /proc/self/fd/3");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
    o.assert_violation("fs.write");
}

/// Same hole for chmod/chown/utimes/xattr: `chmod /proc/self/fd/N`.
/// SECURITY.md §3: fchmod/... on a read-only path → fs.write.
#[test]
fn review_chmod_through_proc_self_fd_is_reported() {
    let e = env();
    let before = std::fs::metadata("/etc/passwd").unwrap().mode();
    let o = e.sh("default", "exec 3</etc/passwd; chmod 0777 /proc/self/fd/3");
    assert_eq!(std::fs::metadata("/etc/passwd").unwrap().mode(), before);
    o.assert_violation("fs.write");
}

/// resolve() normalises `..` lexically BEFORE following symlinks
/// (jail/resolve.rs), unlike the kernel: `l/../lib/x` with l -> /usr/bin
/// is judged as <ws>/lib/x (allowed) while the kernel writes /usr/lib/x.
/// SECURITY.md §2.6: "symlinks are resolved as the kernel would".
#[test]
fn review_dotdot_after_a_symlink_is_resolved_like_the_kernel() {
    let e = env();
    let target = Path::new("/usr/lib/orchestra-review-dotdot");
    let o = e.sh("default", "ln -s /usr/bin l && mkdir lib && echo x > l/../lib/orchestra-review-dotdot");
    assert!(!target.exists());
    o.assert_violation("fs.write");
}

/// A cwd deeper than PATH_MAX makes the supervisor's canonicalize()/readlink fail;
/// it then judges the lexical path (inside the workspace) and lets the write
/// through unreported, though `l` points at /etc (EROFS from the kernel).
#[test]
fn review_write_through_a_symlink_from_a_deep_cwd_is_reported() {
    let e = env();
    let script = "n=$(printf 'd%.0s' $(seq 200)); for i in $(seq 22); do mkdir $n && cd $n || exit 9; done; \
                  ln -s /etc l; echo x > l/orchestra-review-deep";
    let o = e.run("default", &["/bin/bash", "-c", script]);
    assert!(!Path::new("/etc/orchestra-review-deep").exists());
    // Beyond PATH_MAX the cwd cannot be read back: the first write there is denied
    // and reported as unresolvable, before the symlink trick is even reached.
    o.assert_any_violation(&["fs.unresolvable_path", "fs.write"]);
}

/// linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N (a file outside): the link source
/// is below /proc/<pid>/fd, so write_allowed() says yes; EXDEV, not reported.
/// SECURITY.md §3: hard link to a file outside → fs.hardlink.
#[test]
fn review_hardlink_through_proc_self_fd_is_reported() {
    let e = env();
    let o = e.sh("default", "exec 3</etc/passwd; ln -L /proc/self/fd/3 hl");
    assert!(!e.ws.join("hl").exists());
    o.assert_violation("fs.hardlink");
}

#[test]
fn review_openat2_write_outside_is_reported() {
    let e = env();
    let o = e.attack(&["openat2-write", "/etc/orchestra-review-openat2"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(!Path::new("/etc/orchestra-review-openat2").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review_rename_exchange_with_dot_orchestra_is_reported() {
    let e = env();
    std::fs::write(e.ws.join(".orchestra/policy.yaml"), "version: 1\n").unwrap();
    std::fs::write(e.ws.join("mine.yaml"), "network: {mode: host}\n").unwrap();
    let o = e.attack(&["rename-exchange", "mine.yaml", ".orchestra/policy.yaml"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert_eq!(std::fs::read_to_string(e.ws.join(".orchestra/policy.yaml")).unwrap(), "version: 1\n");
    o.assert_violation("fs.write");
}

#[test]
fn review_write_via_proc_self_root_is_reported() {
    let e = env();
    let o = e.sh("default", "echo x > /proc/self/root/etc/orchestra-review-root");
    assert!(!Path::new("/etc/orchestra-review-root").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review_write_via_proc_self_cwd_into_dot_orchestra_is_reported() {
    let e = env();
    let o = e.sh("default", "echo forged > /proc/self/cwd/.orchestra/audit/x");
    assert!(!e.ws.join(".orchestra/audit/x").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review_truncate_of_a_read_only_file_is_reported() {
    let e = env();
    let before = std::fs::read("/etc/passwd").unwrap();
    let o = e.sh("default", "truncate -s 0 /etc/passwd");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
    o.assert_violation("fs.write");
}

#[test]
fn review_chmod_of_dot_orchestra_is_reported() {
    let e = env();
    let before = std::fs::metadata(e.ws.join(".orchestra")).unwrap().mode();
    let o = e.sh("default", "chmod 0777 .orchestra");
    assert_eq!(std::fs::metadata(e.ws.join(".orchestra")).unwrap().mode(), before);
    o.assert_violation("fs.write");
}

/// UNREPORTED. jail/resolve.rs `resolve` takes the readlink text of the cwd (or
/// dirfd) and `is_filesystem_path` rejects any text ending in " (deleted)", so a
/// task whose cwd is a workspace directory NAMED "d (deleted)" gets every
/// relative write answered CONTINUE: `touch ../.orchestra/x` fails in the kernel
/// (EROFS) but no `fs.write` is reported, exit 2 instead of 4.
#[test]
fn review2_write_from_a_cwd_named_deleted_is_reported() {
    let e = env();
    let o = e.quiet("mkdir 'd (deleted)' && cd 'd (deleted)' && echo forged > ../.orchestra/x");
    assert!(!e.ws.join(".orchestra/x").exists());
    o.assert_violation("fs.write");
}

/// UNREPORTED. Same root cause with a really removed cwd: `..` still leads to the
/// live parent in the kernel, but the supervisor sees "… (deleted)" and answers
/// CONTINUE without walking the path.
#[test]
fn review2_write_from_a_removed_cwd_is_reported() {
    let e = env();
    let o = e.quiet("mkdir d && cd d && rmdir ../d && echo forged > ../.orchestra/y");
    assert!(!e.ws.join(".orchestra/y").exists());
    // `..` from a removed directory cannot be shown as a name: denied and
    // reported as unresolvable rather than guessed.
    o.assert_violation("fs.unresolvable_path");
}

/// `SCRIPT` run from `a/d`, a working directory removed (`rmdir`) before it.
fn from_a_removed_cwd(script: &str) -> String {
    format!("mkdir -p a/d && cd a/d && rmdir ../d && {script}")
}

/// Sweep 86, F1 (a false exit 4: cmake's try_compile directory removed by a
/// concurrent cmake). A removed directory is empty and takes no new entry, so
/// the kernel answers ENOENT to any name in it, and the task goes on: the
/// supervisor answers the same, with no violation, for opens, `mkdir`,
/// `symlink`, `rename`, `link` and `exec` of a name in it; `touch .` changes
/// the removed directory itself. No file appears anywhere.
#[test]
fn names_in_a_removed_cwd_are_enoent_and_no_violation() {
    for policy in ["default", "build-offline"] {
        let e = env();
        let script = from_a_removed_cwd(
            "echo x > f; echo \"write=$?\"; mkdir e; ln -s f l; mv f g; ln f h; ./f; touch .; \
             echo x > ./sub/f; echo \"sub=$?\"; touch sub/../f; echo \"back=$?\"; cd / && echo done",
        );
        let o = e.sh(policy, &script);
        o.assert_ok();
        // `sub/../f` fails at `sub`, as from the kernel (review 87 FP1).
        assert!(o.stdout.contains("write=2") && o.stdout.contains("sub=2"), "{policy}: {}", o.all());
        assert!(o.stdout.contains("back=1"), "{policy}: {}", o.all());
        assert!(o.stdout.contains("done"), "{policy}: {}", o.all());
        assert!(o.stderr.contains("Directory nonexistent"), "{policy}: the kernel's answer\n{}", o.all());
        let made: Vec<_> = walkdir(&e.root).into_iter().filter(|p| p.ends_with("f") || p.ends_with("e")).collect();
        assert!(made.is_empty(), "{policy}: {made:?}");
        assert!(!e.ws.join("a/d").exists(), "{policy}");
    }
}

/// Every path below `dir`, links not followed.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}

/// Sweep 86, F1, the other side: `..` from a removed directory reaches its
/// live parent, which no text names. A write there, to a protected path or
/// outside the workspace, is still refused as `fs.unresolvable_path` (exit 4), named as
/// written in the detail (O3) — also through `/proc/self/cwd` and a
/// descriptor's `/dev/fd/N`, which the supervisor took for a deleted file
/// and let through unjudged (exit 0; the write happened without namespaces).
/// In the jail and without namespaces (the `container` preset).
#[test]
fn dotdot_from_a_removed_cwd_is_still_refused_and_reported() {
    let e = env();
    std::fs::create_dir_all(e.ws.join(".git")).unwrap();
    let outside = e.root.join("outside");
    std::fs::write(&outside, "original\n").unwrap();
    let container = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/container.yaml");
    let audit = e.root.join("audit").to_string_lossy().into_owned();
    let writes = [
        "../../.git/hooks/pre-commit".to_string(),
        format!("{}{}", "../".repeat(40), outside.display()),
        "/proc/self/cwd/../../.git/hooks/pre-commit".to_string(),
        "/dev/fd/3/../../.git/hooks/pre-commit".to_string(),
    ];
    for namespaces in [true, false] {
        if !namespaces {
            // The namespace-less jail refuses a writable .orchestra in the workspace.
            let _ = std::fs::remove_dir_all(e.ws.join(".orchestra"));
        }
        for target in &writes {
            let script = from_a_removed_cwd(&format!("exec 3<.; echo forged >> {target}"));
            // The task's stderr silenced: see `Env::quiet`.
            let script = format!("exec 2>/dev/null; {script}");
            let o = if namespaces {
                e.sh("default", &script)
            } else {
                let argv = ["/bin/sh", "-c", &script];
                e.run_cmd(e.cmd(container.to_str().unwrap(), &["--audit-dir", &audit], &argv))
            };
            o.assert_violation("fs.unresolvable_path");
            let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
            assert!(detail.contains(target.as_str()) && detail.contains("removed"), "{target}: {detail}");
            assert!(!e.ws.join(".git/hooks").exists(), "{target} (namespaces: {namespaces})");
            assert_eq!(std::fs::read_to_string(&outside).unwrap(), "original\n", "{target}");
            let _ = std::fs::remove_dir_all(e.ws.join("a"));
        }
    }
}

#[test]
fn review2_write_through_the_cwd_of_another_jailed_process_is_reported() {
    let e = env();
    let o = e.quiet("(cd .orchestra && sleep 2) & sleep 0.5; echo forged > /proc/$!/cwd/z; wait");
    assert!(!e.ws.join(".orchestra/z").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_the_root_of_another_jailed_process_is_reported() {
    let e = env();
    let o = e.quiet("sleep 2 & sleep 0.3; echo x > /proc/$!/root/etc/orchestra-review2-root; wait");
    assert!(!Path::new("/etc/orchestra-review2-root").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_dev_fd_of_a_directory_is_reported() {
    let e = env();
    let o = e.quiet("exec 3<.orchestra; echo forged > /dev/fd/3/w");
    assert!(!e.ws.join(".orchestra/w").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_proc_thread_self_is_reported() {
    let e = env();
    let o = e.quiet("echo forged > /proc/thread-self/cwd/.orchestra/v");
    assert!(!e.ws.join(".orchestra/v").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_write_through_a_dirfd_of_a_renamed_directory_is_reported() {
    let e = env();
    // fd 3 is opened on `d`, which is then renamed; `..` from it is the workspace.
    let o = e.quiet("mkdir d && exec 3<d && mv d e && cd /proc/self/fd/3 && echo forged > ../.orchestra/r");
    assert!(!e.ws.join(".orchestra/r").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_a_symlink_chain_ending_outside_is_reported() {
    let e = env();
    let mut script = String::from("ln -s /etc/orchestra-review2-chain l0; prev=l0; ");
    script.push_str("for i in $(seq 1 30); do ln -s $prev l$i; prev=l$i; done; echo x > l30");
    let o = e.quiet(&script);
    assert!(!Path::new("/etc/orchestra-review2-chain").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review2_a_non_utf8_name_outside_is_reported() {
    let e = env();
    let o = e.quiet("echo x > \"/etc/orchestra-review2-$(printf '\\377\\376')\"");
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"/etc/orchestra-review2-\xff\xfe");
    assert!(!Path::new(name).exists(), "the file was created");
    o.assert_violation("fs.write");
    assert!(o.report.is_object(), "the JSON report is unreadable");
}

// ---- O_TMPFILE, AT_EMPTY_PATH and rename flags ---------------------------------

#[test]
fn review2_o_tmpfile_in_a_read_only_directory_is_reported() {
    let e = env();
    let o = e.attack(&["tmpfile", "/etc"]);
    o.assert_blocked("fs.write");
}

#[test]
fn review2_o_tmpfile_in_dot_orchestra_is_reported() {
    let e = env();
    let o = e.attack(&["tmpfile", ".orchestra/audit"]);
    o.assert_blocked("fs.write");
}

#[test]
fn review2_linkat_empty_path_of_a_tmpfile_outside_is_reported() {
    let e = env();
    let o = e.attack(&["linkat_tmpfile", ".", "/etc/orchestra-review2-link"]);
    assert!(!Path::new("/etc/orchestra-review2-link").exists());
    o.assert_blocked("fs.write");
}

#[test]
fn review2_linkat_empty_path_of_a_tmpfile_into_dot_orchestra_is_reported() {
    let e = env();
    let o = e.attack(&["linkat_tmpfile", ".", ".orchestra/audit/forged"]);
    assert!(!e.ws.join(".orchestra/audit/forged").exists());
    o.assert_blocked("fs.write");
}

/// UNREPORTED. renameat2(RENAME_WHITEOUT) leaves a 0/0 character device in the
/// workspace (the kernel exempts whiteouts from CAP_MKNOD); the supervisor sees
/// only a rename inside the workspace. SECURITY.md §2.6: mknod of a char device
/// is `syscall.device_nodes`.
#[test]
fn review2_rename_whiteout_does_not_create_a_device_node() {
    let e = env();
    std::fs::write(e.ws.join("wf"), "x").unwrap();
    let o = e.attack(&["whiteout", "wf", "wf2"]);
    let made_dev = std::fs::symlink_metadata(e.ws.join("wf")).is_ok_and(|m| m.file_type().is_char_device());
    assert!(!made_dev || o.rules().iter().any(|r| r == "syscall.device_nodes"), "{}", o.all_output());
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.all_output());
}

// ---- what builds do is not a violation -----------------------------------------

/// A long chain of relative symlinks in the workspace is followed like the
/// kernel follows it, with no violation. Twenty, not forty: forty is the
/// kernel's exact MAXSYMLINKS edge, and when an RCU path walk falls back to a
/// ref-walk (a concurrent mount anywhere, as parallel jails make) the retry
/// keeps the links already counted, so the kernel itself answers ELOOP for a
/// 40-link chain about once in 100-200 parallel runs (measured 2026-12-04,
/// inside and never outside the jail's mount activity). Twenty survive one
/// retry. The supervisor's own 40-link limit is covered by
/// `jail::decide::tests::paths_resolve_like_the_kernel`.
#[test]
fn review2_a_long_chain_of_symlinks_in_the_workspace_is_followed() {
    let e = env();
    let mut script = String::from("set -e; : > target; prev=target; ");
    script.push_str("for i in $(seq 1 20); do ln -s $prev l$i; prev=l$i; done; echo ok > l20; cat target");
    // stderr kept: a failure shows the shell's reason, not only `exit=2`.
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.stdout.contains("ok"), "{}", o.all_output());
}

/// COSMETIC / DOC-MISMATCH. A symlink loop in the workspace: the kernel answers
/// ELOOP, the supervisor reports `fs.unresolvable_path` and (on_violation: kill)
/// kills the task. SECURITY.md §2.6 names only a cwd beyond PATH_MAX and a
/// vanished descriptor as unresolvable.
#[test]
fn review2_a_symlink_loop_in_the_workspace_is_not_a_violation() {
    let e = env();
    let o = e.quiet("ln -s a b && ln -s b a && touch a; echo done");
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.stderr);
    assert!(o.stdout.contains("done"), "{}", o.all_output());
}

/// COSMETIC (false positive). openat2 with RESOLVE_IN_ROOT resolves "/x" below
/// the dirfd (here the workspace's `sub/`); the supervisor resolves it from the
/// real root, denies a legitimate write as `fs.write` and kills the task.
#[test]
fn review2_openat2_resolve_in_root_inside_the_workspace_is_allowed() {
    let e = env();
    std::fs::create_dir_all(e.ws.join("sub")).unwrap();
    let o = e.attack(&["in_root", "sub", "/x"]);
    o.assert_ok();
    assert!(e.ws.join("sub/x").exists());
}

/// COSMETIC (false positive, misleading rule). A path argument longer than
/// PATH_MAX: the kernel answers ENAMETOOLONG, but `cstr` (jail/memory.rs) gives
/// up after 4096 bytes and the supervisor reports `syscall.unreadable_argument`
/// ("its path lies in memory the supervisor cannot read") and kills the task.
#[test]
fn review2_a_path_longer_than_path_max_is_not_a_violation() {
    let e = env();
    let o = e.quiet("touch $(printf 'a%.0s' $(seq 5000)); echo done");
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.stderr);
    assert!(o.stdout.contains("done"), "{}", o.all_output());
}

/// False positive: fchmod of a memfd resolves to "/memfd:scratch (deleted)",
/// which no mount covers, so it is denied and reported as fs.write (and the
/// task killed) although it touches no file.
#[test]
fn review_fchmod_of_a_memfd_is_not_a_violation() {
    let e = env();
    let o = e.attack(&["memfd-fchmod"]);
    assert!(o.stdout.contains("fchmod memfd ok"), "{}\n{}", o.stdout, o.stderr);
    o.assert_ok();
}

// ---- policy paths through symlinks (review 31, finding 1) ---------------------

/// `ln -s / sub` by an earlier, ordinary task (default policy, writable workspace).
fn plant_root_link(e: &Env) {
    e.sh("default", "ln -s / sub").assert_ok();
    assert_eq!(std::fs::read_link(e.ws.join("sub")).unwrap(), Path::new("/"));
}

/// A policy as the review's: system trees read-only, the workspace read-only,
/// a private /tmp, no network, and `extra` YAML lines under `filesystem:`.
fn ro_workspace_policy(e: &Env, name: &str, extra: &str) -> String {
    e.policy(
        name,
        &format!(
            "version: 1\nname: {name}\nsandbox_mode: jail\nfilesystem:\n  workdir: read_only\n  tmp: private\n{extra}network:\n  mode: none\n"
        ),
    )
}

/// The refusal is one line naming the policy path and the link, exit 1.
#[track_caller]
fn assert_refused_through_link(o: &Out, path: &Path, link: &Path) {
    assert_eq!(o.code, 1, "{}", o.all());
    let line = o.stderr.lines().find(|l| l.contains("goes through the symlink")).unwrap_or_default();
    assert!(
        line.contains(&path.display().to_string()) && line.contains(&format!("symlink {} (-> /)", link.display())),
        "{}",
        o.all()
    );
}

/// Review 31, 1a: `read_write: [<ws>/sub/tmp]` with `sub -> /` planted by an
/// earlier task bound the HOST's /tmp over the jail's private /tmp, writable
/// by mounts, landlock and the supervisor alike: exit 0, no violation.
#[test]
fn review31_a_read_write_path_through_a_planted_symlink_is_refused() {
    let e = env();
    plant_root_link(&e);
    let named = e.ws.join("sub/tmp");
    let extra = format!("  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc]\n  read_write: [{}]\n", named.display());
    let policy = ro_workspace_policy(&e, "rw-through-link", &extra);
    let escaped = Path::new("/tmp").join(format!("orchestra-review31-escaped-{}", std::process::id()));
    let o = e.sh(&policy, &format!("echo from-task > {}; ls /tmp", escaped.display()));
    assert!(!escaped.exists(), "the task wrote the host's /tmp\n{}", o.all());
    assert_refused_through_link(&o, &named, &e.ws.join("sub"));
    assert!(!o.stdout.contains("bash_jobs") && o.stdout.is_empty(), "the host's /tmp was listed: {}", o.stdout);
}

/// Review 31, 1c: `read_only: [<ws>/sub/var/lib]` exposed the host's /var/lib
/// (the supervisor does not judge reads).
#[test]
fn review31_a_read_only_path_through_a_planted_symlink_is_refused() {
    let e = env();
    plant_root_link(&e);
    let named = e.ws.join("sub/var/lib");
    let extra = format!("  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc, {}]\n", named.display());
    let policy = ro_workspace_policy(&e, "ro-through-link", &extra);
    let o = e.sh(&policy, "ls /var/lib; head -c 40 /var/lib/dpkg/status");
    assert_refused_through_link(&o, &named, &e.ws.join("sub"));
    assert!(o.stdout.is_empty(), "the task read the host's /var/lib: {}", o.stdout);
}

/// Review 31, 1b: a host directory the policy names through the planted link,
/// with a writable workspace: only the supervisor stood, and a two-thread path
/// race beat it 5/5. Now the policy is refused before anything runs.
#[test]
fn review31_a_host_directory_named_through_a_planted_symlink_is_refused() {
    let e = env();
    plant_root_link(&e);
    let victim = e.root.join("victim");
    std::fs::create_dir(&victim).unwrap();
    let named = e.ws.join("sub").join(victim.strip_prefix("/").unwrap());
    let extra = format!("  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc]\n  read_write: [{}]\n", named.display());
    let policy = e.policy(
        "rw-victim",
        &format!("version: 1\nname: rw-victim\nsandbox_mode: jail\nfilesystem:\n  workdir: read_write\n  tmp: private\n{extra}network:\n  mode: none\n"),
    );
    let o = e.sh(&policy, &format!("echo x > {0}/plain; echo x > {1}/via-link", victim.display(), named.display()));
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0, "the host directory was written\n{}", o.all());
    assert_refused_through_link(&o, &named, &e.ws.join("sub"));
}

/// The same path swapped between a real directory and the link while jails
/// start (what a concurrent task in the same workspace could do between the
/// plan and the init's mounts): whichever the plan and the init meet, the
/// victim directory is never granted. Each run is refused (exit 1: at the
/// plan, or in the init that meets a link put there since), runs in the real
/// directory (exit 0), or has its write outside denied (exit 4) or failed
/// (exit 2: the jail holds no such directory). Measured over 150 runs
/// (2026-12-05): 132 refused (some by the init: "a symlink in the path (put
/// there after the plan was made …)" at the bind source and at the mount
/// point), 7 ran, 9 exit 4, 2 exit 2; the victim never written.
#[test]
fn review31_a_policy_path_swapped_for_a_symlink_while_the_jail_starts_is_never_followed() {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let e = env();
    let victim = e.root.join("victim");
    std::fs::create_dir(&victim).unwrap();
    let vrel = victim.strip_prefix("/").unwrap();
    // `sub` a real tree holding the same path; `alt` the link to /.
    std::fs::create_dir_all(e.ws.join("sub").join(vrel)).unwrap();
    std::os::unix::fs::symlink("/", e.ws.join("alt")).unwrap();
    let named = e.ws.join("sub").join(vrel);
    let extra = format!("  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc]\n  read_write: [{}]\n", named.display());
    let policy = ro_workspace_policy(&e, "swapped", &extra);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut codes = std::collections::BTreeMap::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ =
                    renameat2(AT_FDCWD, &e.ws.join("sub"), AT_FDCWD, &e.ws.join("alt"), RenameFlags::RENAME_EXCHANGE);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        for _ in 0..40 {
            let o = e.sh(&policy, &format!("exec 2>/dev/null; echo x > {}/pwned", named.display()));
            *codes.entry(o.code).or_insert(0) += 1;
            assert!(!victim.join("pwned").exists(), "the victim directory was written\n{}", o.all());
            assert!([0, 1, 2, 4].contains(&o.code), "{}", o.all());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0, "outcomes {codes:?}");
}

/// `--rw` is resolved to the real directory before anything else sees it:
/// through a link in the workspace, the grant, its check and the report name
/// the directory the link leads to.
#[test]
fn review31_the_rw_flag_through_a_link_grants_the_real_directory() {
    let e = env();
    let real = e.root.join("out");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, e.ws.join("out-link")).unwrap();
    let o = e.run_cmd(e.cmd(
        "default",
        &["--rw", "out-link"],
        &["/bin/sh", "-c", &format!("echo built > {}/made", real.display())],
    ));
    o.assert_ok();
    assert_eq!(std::fs::read_to_string(real.join("made")).unwrap(), "built\n");
    let flags: Vec<String> = o.report["policy_derivation"]["overrides"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    assert!(flags.iter().any(|f| f == &format!("--rw {}", real.display())), "{flags:?}\n{}", o.report);
}

// ---- opens that reach no file (sweep 88, F1) -----------------------------------

/// Sweep 88, F1 (a false exit 4: tempfile's own test opens `/does-not-exist/`
/// O_TMPFILE, then a name in it O_CREAT|O_EXCL, expecting an error). The
/// kernel would answer ENOENT and make nothing; the supervisor answers the
/// same, with no violation: below a name the host's `/` lacks, below a missing
/// directory of a bind of the host's own tree (/usr), and for a write-open
/// without O_CREAT of a missing name there. No file appears on the host.
#[test]
fn opens_that_reach_no_file_are_enoent_and_no_violation() {
    let script = r#"
import errno, os
def t(path, flags):
    try:
        os.close(os.open(path, flags, 0o600))
        return "opened"
    except OSError as e:
        return errno.errorcode[e.errno]
print("tmpfile", t("/does-not-exist-s88a/", os.O_RDWR | os.O_TMPFILE))
print("excl", t("/does-not-exist-s88a/.tmpAbc", os.O_RDWR | os.O_CREAT | os.O_EXCL))
print("usr", t("/usr/no-such-dir-s88a/x", os.O_WRONLY | os.O_CREAT))
print("nocreat", t("/usr/no-such-file-s88a", os.O_WRONLY))
"#;
    for policy in ["default", "build-offline"] {
        let e = env();
        let o = e.run(policy, &["/usr/bin/python3", "-c", script]);
        o.assert_ok();
        for what in ["tmpfile", "excl", "usr", "nocreat"] {
            assert!(o.stdout.contains(&format!("{what} ENOENT")), "{policy}, {what}: {}", o.all());
        }
        for p in ["/does-not-exist-s88a", "/usr/no-such-dir-s88a", "/usr/no-such-file-s88a"] {
            assert!(!Path::new(p).exists(), "{policy}: {p}");
        }
    }
}

/// Sweep 90, F2: tools that keep per-user caches, data and state where the
/// XDG base directories say (virtualenv's app data, pip, tox, pre-commit,
/// hatch, through platformdirs) write them in the presets' private /tmp:
/// exit 0, no violation, and nothing under the host's home. Writing the
/// home's own ~/.cache stays `fs.write` (the test below).
#[test]
fn xdg_caches_data_and_state_go_to_the_private_tmp() {
    let script = r#"
import os
for var, default in (("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state")):
    base = os.environ.get(var) or os.path.join(os.environ["HOME"], default)
    d = os.path.join(base, "orchestra-s90-tool")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "entry"), "w") as f:
        f.write("kept")
    print(var, base)
"#;
    for policy in ["default", "build-offline"] {
        let e = env();
        let o = e.run(policy, &["/usr/bin/python3", "-c", script]);
        o.assert_ok();
        for (var, dir) in
            [("XDG_CACHE_HOME", "xdg-cache"), ("XDG_DATA_HOME", "xdg-data"), ("XDG_STATE_HOME", "xdg-state")]
        {
            assert!(o.stdout.contains(&format!("{var} /tmp/{dir}\n")), "{policy}: {}", o.all());
        }
        for sub in [".cache", ".local/share", ".local/state"] {
            assert!(!e.home.join(sub).join("orchestra-s90-tool").exists(), "{policy}: {sub}");
        }
    }
}

/// Sweep 88, F1, the other side: where the jail hides or makes the tree, a
/// missing name says nothing about the host, and a creation there is still
/// the attempt it was: below the host's /home and /var (absent from the jail's
/// root), in the private home, in /root, and a new file in the bound /etc;
/// so is an append without O_CREAT to a missing name where the jail hides the
/// tree. Exit 4 `fs.write`, and nothing made on the host.
#[test]
fn creations_where_the_jail_hides_the_host_tree_stay_write_violations() {
    let e = env();
    let targets = [
        "/home/orchestra-s88a/x".to_string(),
        "/var/orchestra-s88a/x".to_string(),
        "/root/.cache/orchestra-s88a/x".to_string(),
        "/etc/orchestra-s88a-newfile".to_string(),
        format!("{}/.config/orchestra-s88a/x", e.home.display()),
    ];
    // With O_CREAT, and without it (an append to a file the jail hides: the
    // attempt is seen though nothing could be written).
    for flags in ["os.O_WRONLY | os.O_CREAT", "os.O_WRONLY | os.O_APPEND"] {
        // Without O_CREAT a missing name in the bound /etc is the host's answer too.
        for target in targets.iter().filter(|t| flags.contains("O_CREAT") || !t.starts_with("/etc/")) {
            let script = format!("import os; os.open({target:?}, {flags}, 0o600)");
            let o = e.run("default", &["/usr/bin/python3", "-c", &script]);
            o.assert_violation("fs.write");
            let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
            assert!(detail.contains(target.as_str()), "{flags} {target}: {detail}");
            assert!(!Path::new(target).exists(), "{target}");
        }
    }
    assert!(!Path::new("/home/orchestra-s88a").exists() && !Path::new("/var/orchestra-s88a").exists());
    assert!(!e.home.join(".config/orchestra-s88a").exists());
}
