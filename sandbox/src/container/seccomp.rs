//! The container's seccomp profile, generated from the policy and handed to
//! the engine inline (`SecurityOpt: seccomp=<json>`), in the OCI/Docker
//! profile format. Pure functions, unit-tested.
//!
//! Guarantees:
//! - only the native x86_64 ABI is allowed (x32 and i386 calls fail);
//! - without the in-container supervisor, every denied syscall class, the
//!   namespace flags of `clone`, `clone3`, socket families beyond the network
//!   mode, terminal injection and device `mknod` fail with an errno: the calls
//!   of the jail's table [`ENOSYS_WHEN_DENIED`] (`clone3`, `io_uring_setup`)
//!   with ENOSYS, as in the jail, every other call of a denied class with EPERM;
//! - with the supervisor, the profile carries only the architecture rule: the
//!   supervisor's own filter enforces the classes *and reports them*, and an
//!   errno from the engine's filter would win over its notification (seccomp
//!   takes the most restrictive answer), hiding the attempt.

#[cfg(doc)]
use crate::jail::seccomp::ENOSYS_WHEN_DENIED;
use crate::jail::seccomp::enosys_calls;
use crate::policy::{NetworkMode, Policy, SyscallClass};
use serde_json::{Value, json};

const EPERM: u32 = 1;
const EACCES: u32 = 13;
const ENOSYS: u32 = 38;

/// Namespace flags of `clone` (CLONE_NEW*), each checked on its own.
const CLONE_NEW_FLAGS: [u64; 7] =
    [0x0000_0080, 0x0002_0000, 0x0200_0000, 0x0400_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000];

/// The system calls of a class, as far as a profile can name them.
pub fn class_syscalls(class: SyscallClass) -> &'static [&'static str] {
    match class {
        SyscallClass::Ptrace => &["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"],
        SyscallClass::Mount => &[
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
        ],
        SyscallClass::Namespaces => &["unshare", "setns"],
        SyscallClass::Keyring => &["add_key", "request_key", "keyctl"],
        SyscallClass::Bpf => &["bpf"],
        SyscallClass::IoUring => &["io_uring_setup", "io_uring_enter", "io_uring_register"],
        SyscallClass::Userfaultfd => &["userfaultfd"],
        SyscallClass::Perf => &["perf_event_open"],
        SyscallClass::KernelModules => {
            &["init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load"]
        }
        SyscallClass::SystemAdmin => &["reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup"],
        SyscallClass::SystemTime => &["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
        SyscallClass::RawIo => &["iopl", "ioperm"],
        SyscallClass::FileHandles => &["open_by_handle_at"],
        SyscallClass::LegacyAbi => &["modify_ldt", "uselib"],
        // Argument rules below (device modes, ioctl numbers); SysV IPC stays in
        // the container's own IPC namespace.
        SyscallClass::DeviceNodes | SyscallClass::TtyInjection | SyscallClass::Ipc => &[],
    }
}

fn errno(names: &[&str], ret: u32) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": ret})
}

fn errno_if(names: &[&str], ret: u32, args: Value) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": ret, "args": args})
}

fn masked_eq(index: u32, mask: u64, value: u64) -> Value {
    json!({"index": index, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"})
}

/// The profile for `policy`; `supervised` when orchestra's supervisor runs in
/// the container and enforces (and observes) the syscall rules itself.
pub fn profile(policy: &Policy, supervised: bool) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    if !supervised {
        let denied = policy.denied_classes();
        let enosys: Vec<&str> = enosys_calls(&denied).into_iter().map(|(_, name)| name).collect();
        for class in &denied {
            // One action per name: the ENOSYS ones are left to their own rule.
            let names: Vec<&str> = class_syscalls(*class).iter().copied().filter(|n| !enosys.contains(n)).collect();
            if !names.is_empty() {
                rules.push(errno(&names, EPERM));
            }
        }
        if !enosys.is_empty() {
            rules.push(errno(&enosys, ENOSYS));
        }
        if policy.denies(SyscallClass::Namespaces) {
            for flag in CLONE_NEW_FLAGS {
                rules.push(errno_if(&["clone"], EPERM, json!([masked_eq(0, flag, flag)])));
            }
        }
        if policy.denies(SyscallClass::DeviceNodes) {
            const S_IFMT: u64 = 0o170000;
            for kind in [0o020000u64, 0o060000] {
                rules.push(errno_if(&["mknod"], EPERM, json!([masked_eq(1, S_IFMT, kind)])));
                rules.push(errno_if(&["mknodat"], EPERM, json!([masked_eq(2, S_IFMT, kind)])));
            }
        }
        if policy.denies(SyscallClass::TtyInjection) {
            for req in [0x5412u64, 0x541C] {
                rules.push(errno_if(&["ioctl"], EPERM, json!([masked_eq(1, 0xffff_ffff, req)])));
            }
        }
        match policy.network_mode() {
            NetworkMode::None => {
                // Only AF_UNIX (1) sockets.
                rules.push(errno_if(&["socket"], EACCES, json!([{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}])));
            }
            NetworkMode::Loopback | NetworkMode::Host => {
                // No packet sockets (AF_PACKET = 17); raw sockets need CAP_NET_RAW, dropped.
                rules.push(errno_if(&["socket"], EACCES, json!([{"index": 0, "value": 17, "op": "SCMP_CMP_EQ"}])));
            }
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::seccomp::ENOSYS_WHEN_DENIED;

    /// The names of the profile's rules that `keep` selects.
    fn names_of(p: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        p["syscalls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| keep(r))
                    .flat_map(|r| r["names"].as_array().cloned().unwrap_or_default())
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn names_with_errno(p: &Value) -> Vec<String> {
        names_of(p, |r| r["action"] == "SCMP_ACT_ERRNO")
    }

    #[test]
    fn unsupervised_profile_denies_every_class_by_default() {
        let p = profile(&Policy::default(), false);
        let names = names_with_errno(&p);
        for must in ["ptrace", "mount", "unshare", "setns", "bpf", "io_uring_setup", "keyctl", "clone3", "socket"] {
            assert!(names.iter().any(|n| n == must), "{must} not denied");
        }
        assert_eq!(p["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(p["architectures"], json!(["SCMP_ARCH_X86_64"]));
    }

    /// The names a rule answers with `ret`.
    fn names_with(p: &Value, ret: u32) -> Vec<String> {
        names_of(p, |r| r["errnoRet"] == ret && r.get("args").is_none())
    }

    #[test]
    fn io_uring_setup_and_clone3_are_enosys_like_the_jail_and_named_once() {
        let p = profile(&Policy::default(), false);
        let enosys = names_with(&p, ENOSYS);
        let eperm = names_with(&p, EPERM);
        for (_, _, name) in ENOSYS_WHEN_DENIED {
            assert!(enosys.iter().any(|n| n == name), "{name} not ENOSYS");
            assert!(!eperm.iter().any(|n| n == name), "{name} also EPERM");
        }
        for name in ["io_uring_enter", "io_uring_register"] {
            assert!(eperm.iter().any(|n| n == name), "{name} not EPERM");
        }
        // An unconditional rule per name: two (EPERM and ENOSYS) would be ambiguous.
        let mut plain = [enosys, eperm].concat();
        let n = plain.len();
        plain.sort();
        plain.dedup();
        assert_eq!(plain.len(), n, "a name with two unconditional rules");
    }

    #[test]
    fn an_allowed_class_is_left_out() {
        let mut pol = Policy::default();
        pol.syscalls.allow.push(SyscallClass::IoUring);
        let names = names_with_errno(&profile(&pol, false));
        assert!(!names.iter().any(|n| n.starts_with("io_uring")));
    }

    #[test]
    fn the_supervised_profile_keeps_only_the_architecture_rule() {
        // An errno here would win over the supervisor's notification and hide the attempt.
        let p = profile(&Policy::default(), true);
        assert!(names_with_errno(&p).is_empty());
        assert_eq!(p["architectures"], json!(["SCMP_ARCH_X86_64"]));
    }

    #[test]
    fn network_none_allows_only_unix_sockets() {
        let p = profile(&Policy::default(), false);
        let rule = p["syscalls"].as_array().unwrap().iter().find(|r| r["names"] == json!(["socket"])).unwrap();
        assert_eq!(rule["args"][0]["op"], "SCMP_CMP_NE");
        assert_eq!(rule["args"][0]["value"], 1);
    }
}
