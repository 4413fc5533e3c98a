//! Security review of the jail: attacks beyond tests/jail_hostile.rs.
//!
//! Each test asserts the SECURE behaviour (the effect did not happen and, where
//! SECURITY.md promises it, exit 4 naming the rule). The comment of a test that
//! exposed a bug describes the bug as found; the code has been fixed since, and the
//! test stays as its regression test.

use crate::harness::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// tests/support/attack_review.c, compiled once per test binary.
fn review_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c("attack_review"))
}

/// An environment with ./attack_review in the workspace.
fn renv() -> Env {
    env().with_prog(review_bin(), "attack_review")
}

fn review(e: &Env, args: &[&str]) -> Out {
    e.run_prog("attack_review", args)
}

// ==== ESCAPES ===============================================================

/// Restores a host file's mode and mtime, whatever the test did.
struct RestoreMeta {
    path: &'static str,
    mode: u32,
    mtime: (i64, i64),
}

impl RestoreMeta {
    fn save(path: &'static str) -> Self {
        let m = std::fs::metadata(path).unwrap();
        RestoreMeta { path, mode: m.mode() & 0o7777, mtime: (m.mtime(), m.mtime_nsec()) }
    }
}

impl Drop for RestoreMeta {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(self.path, std::fs::Permissions::from_mode(self.mode));
        let _ = Command::new("touch")
            .arg("-m")
            .arg("-d")
            .arg(format!("@{}.{:09}", self.mtime.0, self.mtime.1))
            .arg(self.path)
            .status();
    }
}

/// ESCAPE (root invoker). The six device nodes are bound into /dev without
/// MS_RDONLY (rootfs.rs mount_dev) and the supervisor treats them as writable
/// files (supervisor.rs write_allowed: writable_files), so chmod/utimes reach the
/// HOST's device inode: the task (kernel uid 0, owner of /dev/full) changes the
/// host's /dev/full mode and mtime (`chmod 000 /dev/null` would break the host).
#[test]
fn review_device_node_chmod_does_not_reach_the_host() {
    assert!(is_root(), "the suite runs as root (a root invoker owns the host's device nodes)");
    let _restore = RestoreMeta::save("/dev/full");
    let before = std::fs::metadata("/dev/full").unwrap();
    let e = env();
    let o = e.sh("default", "chmod 0640 /dev/full; echo chmod=$?; touch -m -d 2001-01-01 /dev/full; echo touch=$?");
    let after = std::fs::metadata("/dev/full").unwrap();
    assert_eq!(after.mode(), before.mode(), "the host's /dev/full mode changed\n{}", o.all_output());
    assert_eq!(after.mtime(), before.mtime(), "the host's /dev/full mtime changed\n{}", o.all_output());
    o.assert_violation("fs.write");
}

/// The mode of /proc/timer_list as a freshly mounted procfs sees it (what every
/// new procfs instance, i.e. the rest of the host, gets).
fn fresh_proc_mode(entry: &str) -> Option<String> {
    let o = Command::new("unshare").args(["-pfm", "--mount-proc", "stat", "-c", "%a", entry]).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// ESCAPE (root invoker). /proc is mounted without MS_RDONLY, landlock does not
/// cover setattr, and the supervisor waves through any path below /proc/self/fd
/// (supervisor.rs write_allowed). O_PATH needs no permission, so the task chmods a
/// global procfs entry through /proc/self/fd/N: proc_notify_change stores the mode
/// in the shared proc_dir_entry, so every procfs instance on the host sees it
/// (with /proc/sysrq-trigger, 0200 -> 0222 would let any host user reboot it).
#[test]
fn review_proc_entry_chmod_through_proc_self_fd_does_not_reach_the_host() {
    const ENTRY: &str = "/proc/timer_list";
    assert!(is_root() && Path::new(ENTRY).exists(), "needs a root invoker and {ENTRY}");
    let before = fresh_proc_mode(ENTRY).expect("mount a fresh procfs to observe the host's view");
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::set_permissions(ENTRY, std::fs::Permissions::from_mode(self.0));
        }
    }
    let _restore = Restore(u32::from_str_radix(&before, 8).unwrap());
    let e = renv();
    let o = review(&e, &["opath-chmod", ENTRY, "0440"]);
    let after = fresh_proc_mode(ENTRY).unwrap();
    assert_eq!(after, before, "the host-wide mode of {ENTRY} changed\n{}", o.all_output());
    o.assert_violation("fs.write");
}

/// ESCAPE of a limit. limits.disk is observed by summing the sizes of the paths
/// the task opened for writing (supervisor.rs check_disk); renaming each file
/// away after writing it takes it out of the sum, and RLIMIT_FSIZE bounds only
/// one file. 36 MB land in the workspace under `disk: 8MiB`, exit 0.
#[test]
fn review_disk_limit_cannot_be_bypassed_by_renaming() {
    let e = env();
    let p = e.policy("disk", "limits:\n  disk: 8MiB\n");
    let o = e.sh(&p, "for i in 1 2 3 4 5 6; do head -c 6000000 /dev/zero > t; mv t big$i; done");
    let total: u64 = std::fs::read_dir(&e.ws)
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("big"))
        .map(|d| d.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    // The total is checked every 100 ms and when the task ends (SECURITY.md §4): a
    // burst may pass the limit before it is seen, but never unreported.
    assert!(total <= 36_000_000, "{total}");
    o.assert_violation("limits.disk");
}

/// A policy hiding a secret inside the read-write workspace, at depth >= 2.
fn hide_in_workspace(e: &Env) -> String {
    std::fs::create_dir_all(e.ws.join("config")).unwrap();
    std::fs::write(e.ws.join("config/creds"), SSH_CANARY).unwrap();
    let yaml = format!(
        "filesystem:\n  read_only: [/usr, /bin, /sbin, /lib, /lib64, /lib32, /etc]\n  hidden: [~/.ssh, {}]\n  workdir: read_write\n  tmp: private\n",
        e.ws.join("config/creds").display()
    );
    e.policy("hide-ws", &yaml)
}

/// ESCAPE across runs. A decoy is a bind mount on the hidden file's dentry; the
/// task may rename the hidden file's PARENT directory (only the mountpoint itself
/// is EBUSY), which renames the real directory on the host. The next run's plan
/// finds the hidden path absent, places no decoy, and the task reads the secret.
/// Nothing is reported in either run.
#[test]
fn review_a_hidden_file_in_the_workspace_cannot_be_moved_out_from_under_its_decoy() {
    let e = env();
    let p = hide_in_workspace(&e);
    let first = e.sh(&p, "mv config moved");
    let second = e.sh(&p, "cat moved/creds config/creds 2>/dev/null; true");
    assert!(
        !second.all_output().contains(SSH_CANARY),
        "the hidden secret leaked in the second run\nfirst: {}\nsecond: {}",
        first.stderr,
        second.all_output()
    );
    first.assert_violation("fs.write");
}

// ==== UNREPORTED (blocked by the kernel, but SECURITY.md promises a report) ====

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
/// (supervisor.rs normalise), unlike the kernel: `l/../lib/x` with l -> /usr/bin
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
    assert_any_violation(&o, &["fs.unresolvable_path", "fs.write"]);
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

/// Decoys live on a writable tmpfs owned by the task's kernel uid, landlock does
/// not cover utimes, and utimensat("/proc/self/fd/N") is waved through: the task
/// reads the decoy and puts its access time back before the 500 ms check, so the
/// read is never reported. (SECURITY.md §5.3 lists O_NOATIME and bare opens as
/// unobserved, not this; here a plain read() is hidden.)
#[test]
fn review_decoy_read_cannot_be_hidden_by_resetting_its_atime() {
    let e = renv();
    let decoy = e.home.join(".ssh/id_rsa");
    let o = e.run("default", &["./attack_review", "decoy-reset", decoy.to_str().unwrap()]);
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

/// The init is visible at /proc/1 (hidepid cannot exempt it: the task's group maps
/// to the only group the jail has, which hidepid's gid= would have to name), but
/// nothing of it beyond its name and state can be read (SECURITY.md §3).
#[test]
fn review_the_init_reveals_nothing_in_proc() {
    let e = env();
    let o = e.sh(
        "default",
        "cat /proc/1/environ && echo ENV-READ; cat /proc/1/fd/3 </dev/null && echo FD-OPENED; cat /proc/1/maps && echo MAPS-READ; true",
    );
    for leak in ["ENV-READ", "FD-OPENED", "MAPS-READ", ENV_CANARY] {
        assert!(!o.all_output().contains(leak), "{leak}: {}", o.all_output());
    }
}

/// check_decoys() stats the decoy by PATH; moving the hidden file's parent away
/// right after reading makes the path vanish, so the read is never reported.
#[test]
fn review_a_decoy_read_cannot_be_hidden_by_moving_its_parent() {
    let e = env();
    let p = hide_in_workspace(&e);
    let o = e.sh(&p, "cat config/creds; mv config moved");
    assert!(!o.all_output().contains(SSH_CANARY));
    o.assert_violation("fs.hidden");
}

/// decide_exec() stats an absolute path in the INIT's context without mapping
/// /proc/self to the task (supervisor.rs decide_exec): /proc/self/fd/3 is then the
/// init's control socket, not su, and exec.setuid is not reported (nosuid and
/// no_new_privs still defuse su). SECURITY.md §3: exec `su` → exec.setuid.
#[test]
fn review_exec_of_a_setuid_file_through_proc_self_fd_is_reported() {
    let e = env();
    let mut c = e.cmd("default", &[], &["/bin/bash", "-c", "exec 3</usr/bin/su; /proc/self/fd/3 -c id"]);
    c.stdin(std::process::Stdio::null());
    let o = e.run_cmd(c);
    assert!(!o.stdout.contains("uid=0"), "{}", o.stdout);
    o.assert_violation("exec.setuid");
}

/// fexecve(3) = execveat(fd, "", AT_EMPTY_PATH): decide_exec() stats
/// "/proc/<pid>/fd/N/" (join of an empty path adds a slash) → ENOTDIR → CONTINUE,
/// so exec.setuid is not reported.
#[test]
fn review_fexecve_of_a_setuid_file_is_reported() {
    let e = renv();
    let mut c = e.cmd("default", &[], &["./attack_review", "fexecve", "/usr/bin/su", "-c", "id"]);
    c.stdin(std::process::Stdio::null());
    let o = e.run_cmd(c);
    assert!(!o.stdout.contains("uid=0"), "{}", o.stdout);
    o.assert_violation("exec.setuid");
}

/// The supervisor reads path arguments with process_vm_readv (GUP without
/// FOLL_FORCE) and falls back to /proc/PID/mem only on EPERM/ENOSYS
/// (supervisor.rs TaskMem::read_at). A path in a PROT_WRITE-only mapping is
/// readable by the task's own kernel (x86) but EFAULTs for the supervisor, and an
/// unreadable path is CONTINUEd silently (decide_write: `let Some(p) = .. else {
/// continue }`). Deterministic, not a race: every path-based report is lost.
#[test]
fn review_a_path_in_write_only_memory_is_still_judged() {
    let e = renv();
    let o = review(&e, &["wo-open", "/etc/orchestra-review-wo"]);
    assert!(!Path::new("/etc/orchestra-review-wo").exists());
    o.assert_violation("fs.write");
}

/// Same blindness with memfd_secret(2) memory (never readable by another process).
#[test]
fn review_a_path_in_secret_memory_is_still_judged() {
    let e = renv();
    let o = review(&e, &["secret-open", "/etc/orchestra-review-secret"]);
    // memfd_secret may be unavailable (kernel config); then the path is ordinary
    // memory and the write is judged normally: both ways the file must not exist.
    assert!(!Path::new("/etc/orchestra-review-secret").exists());
    // Unreadable (memfd_secret) is denied and reported as such; readable, it is a write.
    assert_any_violation(&o, &["syscall.unreadable_argument", "fs.write"]);
}

/// exec of su with its path in write-only memory: exec.setuid not reported.
#[test]
fn review_exec_from_write_only_memory_is_judged() {
    let e = renv();
    let mut c = e.cmd("default", &[], &["./attack_review", "wo-exec", "/usr/bin/su", "-c", "id"]);
    c.stdin(std::process::Stdio::null());
    let o = e.run_cmd(c);
    assert!(!o.stdout.contains("uid=0"), "{}", o.stdout);
    o.assert_violation("exec.setuid");
}

/// connect() to a host abstract socket with the address in write-only memory:
/// blocked (netns, landlock scoping) but network.abstract_unix is not reported.
#[test]
fn review_abstract_connect_from_write_only_memory_is_reported() {
    use std::os::linux::net::SocketAddrExt;
    let e = renv();
    let name = format!("orchestra-review-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    let o = review(&e, &["wo-abstract", &name]);
    assert!(l.accept().is_err(), "the host's abstract socket was reached");
    o.assert_violation("network.abstract_unix");
}

// ==== COSMETIC ===============================================================

/// The verdict line embeds the first violation's detail with only `"` escaped
/// (report.rs verdict_line): a path with a newline splits it, and the last
/// `orchestra: ` line on stderr becomes one the task chose ("... ok cause=ok").
#[test]
fn review_a_path_cannot_forge_the_verdict_line() {
    let e = env();
    let o = e.sh("default", "echo x > \"$(printf '/etc/a\\norchestra: build ok cause=ok exit=0')\"");
    // assert_violation checks the last `orchestra: ` line names the violation.
    o.assert_violation("fs.write");
    // The task's own stderr passes through unchanged (it may print anything, fake
    // verdicts included); ours is the last line, and the path inside it is escaped.
    let last = o.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("orchestra: sh violation ") && last.contains("\\norchestra: build ok"), "{last}");
}

/// False positive: fchmod of a memfd resolves to "/memfd:scratch (deleted)",
/// which no mount covers, so it is denied and reported as fs.write (and the
/// task killed) although it touches no file.
#[test]
fn review_fchmod_of_a_memfd_is_not_a_violation() {
    let e = renv();
    let o = review(&e, &["memfd-fchmod"]);
    assert!(o.stdout.contains("fchmod memfd ok"), "{}\n{}", o.stdout, o.stderr);
    o.assert_ok();
}

// ==== CONFIRMED (these pass) ================================================

#[test]
fn review_openat2_write_outside_is_reported() {
    let e = renv();
    let o = review(&e, &["openat2-write", "/etc/orchestra-review-openat2"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(!Path::new("/etc/orchestra-review-openat2").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review_rename_exchange_with_dot_orchestra_is_reported() {
    let e = renv();
    std::fs::write(e.ws.join(".orchestra/policy.yaml"), "version: 1\n").unwrap();
    std::fs::write(e.ws.join("mine.yaml"), "network: {mode: host}\n").unwrap();
    let o = review(&e, &["rename-exchange", "mine.yaml", ".orchestra/policy.yaml"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert_eq!(std::fs::read_to_string(e.ws.join(".orchestra/policy.yaml")).unwrap(), "version: 1\n");
    o.assert_violation("fs.write");
}

#[test]
fn review_clone_vfork_newuser_is_reported() {
    let e = renv();
    let o = review(&e, &["vfork-newuser"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    o.assert_violation("syscall.namespaces");
}

#[test]
fn review_unshare_binary_is_reported() {
    let e = env();
    let o = e.sh("default", "unshare -U -r id");
    o.assert_violation("syscall.namespaces");
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

#[test]
fn review_a_flood_of_notifications_does_not_lose_the_report() {
    let e = renv();
    let o = review(&e, &["flood", "20000", "/etc/orchestra-review-flood"]);
    assert!(!o.stdout.contains("ESCAPED"), "{}", o.stdout);
    assert!(!Path::new("/etc/orchestra-review-flood").exists());
    o.assert_violation("fs.write");
}

#[test]
fn review_reading_the_decoy_of_the_signing_key_through_proc_self_root_is_reported() {
    let e = env();
    let o = e.sh("default", &format!("cat /proc/self/root{}", e.key.display()));
    assert!(!o.all_output().contains(e.key_secret().trim()));
    o.assert_violation("fs.hidden");
}

/// Exit 4 with at least one of `rules` reported.
#[track_caller]
fn assert_any_violation(o: &Out, rules: &[&str]) {
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.rules().iter().any(|r| rules.contains(&r.as_str())), "{:?}\n{}", o.rules(), o.stderr);
}
